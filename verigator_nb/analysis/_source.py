"""Any outcome log as one Ibis table: a DataFrame, a file, a Parquet dataset, a Spark table.

``log_table(source)`` is where the metrics meet their input. Whatever the source, the table
it returns has every column of ``verigator_nb.schema`` at one type (text, bool, integer, float,
a UTC timestamp; categories read as text, an empty text as empty) and ``_row``, the row's
place in reading order, which "the first occurrence" of a duplicate refers to. A frame, a
file or a dataset is read by DuckDB (in process, no server); an Ibis table or a PySpark
DataFrame stays on its own backend, so the same expressions run there.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Final

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from verigator_nb.analysis._duck import connect, glob_literal
from verigator_nb.schema import (
    ACTION,
    ATTEMPT,
    COLUMN_NAMES,
    COLUMNS,
    HTTP_STATUS,
    LATENCY_MS,
    SESSION_ID,
    TS,
    empty_frame,
)

__all__ = ["ROW", "LogTable", "Source", "log_table"]

Source = Any  # a DataFrame, a path, an Ibis table or a PySpark DataFrame (checked at run time)

ROW: Final = "_row"  # not a column: the reading order the cleaning rules refer to
_REQUIRED: Final = (TS, ACTION, SESSION_ID)
_BOOLEAN: Final = frozenset(c.name for c in COLUMNS if c.kind == "boolean")
_INTEGER: Final = frozenset({HTTP_STATUS, ATTEMPT})
_FLOAT: Final = frozenset({LATENCY_MS})
_EXPORTS: Final = (".parquet", ".pq")
_ONE_THREAD_ROWS: Final = 100_000


@dataclass(frozen=True)
class LogTable:
    """A log as read (``read``), on ``backend``; ``table`` is it normalised: the schema's
    columns at their types, and ``_row``."""

    read: ir.Table
    backend: Any
    where: str  # what the log is, for messages: "a DataFrame", a path, "a Spark table"
    name: str | None = None  # the table or view ``read`` is, when we named it
    registered: str | None = None  # the name a frame was registered under with DuckDB
    view: str | None = None  # the view made to read Parquet files in place

    @cached_property
    def table(self) -> ir.Table:
        """The log normalised (built on demand: the engine compiles it once per process)."""
        return normalise(self.read)

    @property
    def is_spark(self) -> bool:
        return getattr(self.backend, "name", "") == "pyspark"

    def release(self) -> None:
        """Unregister the frame this log was read from, or drop the view that read its
        Parquet files (nothing to do for other sources)."""
        if self.registered is not None:
            self.backend.con.unregister(self.registered)
        if self.view is not None:
            self.backend.con.execute(f"DROP VIEW IF EXISTS {self.view}")


def log_table(source: Source, *, con: Any = None) -> LogTable:
    """``source`` as a ``LogTable``.

    ``source`` may be an outcome-log DataFrame, a ``.jsonl``/``.csv``/``.parquet`` log file, a
    day-partitioned Parquet dataset folder, an Ibis table, or a PySpark DataFrame. ``con`` is
    the DuckDB Ibis connection to use for frames and files (default: a new one). Raises
    ``ValueError`` naming the missing columns when ``ts``, ``action`` or ``session_id`` is
    absent; other schema columns may be absent and read as empty.
    """
    if isinstance(source, pd.DataFrame):
        backend = con if con is not None else _frame_connection(len(source))
        return _frame_log(source, backend, "a DataFrame")
    if isinstance(source, ir.Table):
        return LogTable(source, source.get_backend(), "an Ibis table")
    if type(source).__module__.startswith("pyspark."):
        return _spark_table(source)
    if isinstance(source, str | os.PathLike):
        return _path_table(Path(source), con)
    raise TypeError(
        "a log is a DataFrame, a log file or dataset folder, an Ibis table or a Spark "
        f"DataFrame, not {type(source).__name__}"
    )


def _frame_connection(rows: int) -> Any:
    """A connection for a frame of ``rows``: one thread below ``_ONE_THREAD_ROWS``, where
    handing work between threads costs more than it saves (measured: the report on the 30k
    sample 0.275 s on one thread, 0.309 s on two; even at 91k rows; 17 % slower at 243k)."""
    return connect(threads=1) if rows < _ONE_THREAD_ROWS else connect()


def _frame_log(df: pd.DataFrame, backend: Any, where: str) -> LogTable:
    """A frame's log: the frame registered with DuckDB under a name of our own."""
    table = _frame_table(df, backend)
    name = table.get_name()
    return LogTable(table, backend, where, name=name, registered=name)


def _frame_table(df: pd.DataFrame, backend: Any) -> ir.Table:
    """The frame registered with DuckDB (as Arrow, not copied again); categories as text,
    reading order as ``_row``.

    Registered by name rather than as an ``ibis.memtable``, so the tables derived from it
    can be materialised with plain SQL (``_engine``).
    """
    _require(df.columns, "the frame")
    # Categories go over as Arrow dictionaries, which DuckDB reads as text.
    arrow = pa.Table.from_pandas(df.drop(columns=ROW, errors="ignore"), preserve_index=False)
    arrow = arrow.append_column(ROW, pa.array(np.arange(len(df), dtype=np.int64)))
    name = f"verigator_log_{uuid.uuid4().hex}"
    backend.con.register(name, arrow)
    # Named by its Arrow schema: asking DuckDB for it would cost a query.
    return ibis.table(ibis.Schema.from_pyarrow(arrow.schema), name=name)


def _path_table(path: Path, con: Any) -> LogTable:
    """A log file or a dataset folder: Parquet read in place by DuckDB, other files loaded
    through ``OutcomeLog`` (which checks them row by row and says what it set aside)."""
    backend = con if con is not None else connect()
    if path.is_dir() and next(path.glob("**/*.parquet"), None) is None:
        return _frame_log(empty_frame(), backend, str(path))
    if path.is_dir():
        files = sorted(path.glob("**/*.parquet"))
    elif path.suffix.lower() in _EXPORTS:
        files = [path]
    else:
        return _text_log(path, backend)
    table = _parquet_table(files, backend)
    return LogTable(table, backend, str(path), name=table.get_name(), view=table.get_name())


def _text_log(path: Path, backend: Any) -> LogTable:
    """A JSONL or CSV log, read by ``OutcomeLog`` (which checks it row by row and says what
    it set aside) and registered as a frame."""
    from verigator_nb.log import OutcomeLog  # a JSONL or CSV log: its own reader

    with OutcomeLog.load(path) as log:
        return _frame_log(log.df, backend, str(path))


def _parquet_table(files: list[Path], backend: Any) -> ir.Table:
    """Parquet files read in place, numbered in reading order: file by file (in the order
    given), row by row within a file, as ``_row`` = the file's index in the high 32 bits and
    the row's number in the file below (an order, not a count: no sort of every row).

    ``union_by_name``: a dataset may mix files written before a column was added (without
    it) and after; by position DuckDB would take the first file's columns for all.
    """
    listed = ", ".join(_sql_text(glob_literal(file)) for file in files)
    name = f"verigator_parquet_{uuid.uuid4().hex}"
    # A name of our own, and file names quoted by _sql_text: nothing here is the user's SQL.
    view = (
        f"CREATE TEMP VIEW {name} AS SELECT * EXCLUDE (file_row_number), "  # noqa: S608
        f"(file_index::BIGINT << 32) + file_row_number AS {ROW} "
        f"FROM read_parquet([{listed}], hive_partitioning = false, file_row_number = true, "
        "union_by_name = true)"
    )
    backend.con.execute(view)
    table = backend.table(name)
    try:
        _require(table.columns, "the Parquet data")
    except ValueError:
        backend.con.execute(f"DROP VIEW {name}")
        raise
    return table


def _sql_text(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _spark_table(frame: Any) -> LogTable:
    """A PySpark DataFrame, numbered in reading order and registered as a temporary view of
    its own session."""
    _require(frame.columns, "the Spark DataFrame")
    name = f"verigator_log_{uuid.uuid4().hex}"
    (frame if ROW in frame.columns else _spark_numbered(frame)).createOrReplaceTempView(name)
    backend = ibis.pyspark.connect(frame.sparkSession)
    return LogTable(backend.table(name), backend, "a Spark table", name=name)


def _spark_numbered(frame: Any) -> Any:
    """``frame`` with ``_row``: for rows read from files, file by file (by name) and row by
    row within a file, as DuckDB numbers a dataset; otherwise the order of the partitions
    (a frame made from pandas or Arrow keeps the rows' order there). Spark packs files into
    partitions by size, so a file-backed frame's partition order is not its reading order.
    """
    from pyspark.errors import AnalysisException
    from pyspark.sql import Window, functions

    try:
        located = frame.select("*", "_metadata.file_path", "_metadata.row_index")
        located.schema  # noqa: B018  # resolves the plan: fails when rows come from no file
    except AnalysisException:
        return frame.withColumn(ROW, functions.monotonically_increasing_id())
    order = Window.orderBy("file_path", "row_index")
    numbered = located.withColumn(ROW, functions.row_number().over(order) - 1)
    return numbered.drop("file_path", "row_index")


def _require(columns: Any, where: str) -> None:
    missing = [name for name in _REQUIRED if name not in set(columns)]
    if missing:
        raise ValueError(f"{where} lacks the outcome log's column(s): {', '.join(missing)}")


def normalise(table: ir.Table) -> ir.Table:
    """Every schema column at its one type, absent ones empty; an empty text is empty."""
    columns = {}
    for name in COLUMN_NAMES:
        target = _type_of(name)
        if name not in table.columns:
            columns[name] = ibis.null(target)
            continue
        column = table[name]
        if target.is_string():
            column = column.cast("string")
            column = ibis.ifelse(column == "", ibis.null("string"), column)
        elif target.is_timestamp():
            column = column.cast(target) if not column.type().is_timestamp() else column
        elif column.type() != target:
            column = column.cast(target)
        columns[name] = column
    columns[ROW] = table[ROW].cast("int64")
    return table.select(**columns)


def _type_of(name: str) -> dt.DataType:
    if name == TS:
        return dt.Timestamp(timezone="UTC")
    if name in _BOOLEAN:
        return dt.boolean
    if name in _INTEGER:
        return dt.int32
    if name in _FLOAT:
        return dt.float64
    return dt.string
