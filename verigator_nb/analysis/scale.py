"""Outcome logs too big for memory: a day-partitioned Parquet dataset, queried with DuckDB.

``write_dataset(df, root)`` appends a log to ``root/date=YYYY-MM-DD/part-<id>.parquet``
(each file written to a temporary name and renamed, so a crash never leaves a half file that
readers pick up). The metric functions here take the dataset's root (or one Parquet file) and
answer with the same frames as their namesakes in ``verigator_nb.analysis`` — same columns,
dtypes and row order — computed by DuckDB SQL that reads only the columns it needs and
spills to disk past ``memory_limit``. ``open_dataset(root)`` gives the ``Dataset`` engine the
report computes all its tables on, sharing one pass of session matching between them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from verigator_nb.analysis._definitions import SESSION_SUCCESS
from verigator_nb.analysis._duckdb import Dataset, literal
from verigator_nb.analysis._metrics import PER_SESSION, By
from verigator_nb.analysis._periods import compare_tables
from verigator_nb.analysis._rows import micros
from verigator_nb.analysis._tables import as_columns, require
from verigator_nb.log import write_atomically
from verigator_nb.schema import COLUMN_NAMES, TS

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "Dataset",
    "attempts_to_success",
    "compare_periods",
    "connect",
    "failure_reasons",
    "fallback_rate",
    "funnel",
    "open_dataset",
    "success_rate",
    "time_to_verify",
    "write_dataset",
]

DEFAULT_MEMORY_LIMIT = "1GB"
PathLike = str | os.PathLike[str]


def write_dataset(df: pd.DataFrame, root: PathLike, *, prefix: str = "part") -> list[Path]:
    """Append ``df`` to the dataset at ``root``, one new file per UTC day; return the files.

    Files are named ``<prefix>-<random id>.parquet``, so appends never overwrite. Raises
    ``ValueError`` when a schema column is missing.
    """
    require(df, COLUMN_NAMES, where="write_dataset")
    frame = df[list(COLUMN_NAMES)]
    days = micros(frame[TS]) // 86_400_000_000
    order = np.argsort(days, kind="stable")
    bounds = np.flatnonzero(np.diff(days[order])) + 1
    written = []
    for chunk in np.split(order, bounds) if len(order) else []:
        day = np.datetime64(int(days[chunk[0]]), "D")
        folder = Path(root) / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(frame.iloc[chunk], preserve_index=False)
        target = folder / f"{prefix}-{uuid.uuid4().hex}.parquet"
        write_atomically(target, partial(_write_parquet, table))
        written.append(target)
    return written


def _write_parquet(table: pa.Table, path: str) -> None:
    pq.write_table(table, path)


def connect(
    *, memory_limit: str = DEFAULT_MEMORY_LIMIT, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection set up for these queries: UTC, bounded memory (spilling to a temp
    directory beyond it), insertion order not preserved (it is not needed and costs memory)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = {literal(memory_limit)}")
    con.execute("SET preserve_insertion_order = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


@contextmanager
def open_dataset(
    source: PathLike, *, con: duckdb.DuckDBPyConnection | None = None
) -> Iterator[Dataset]:
    """The dataset at ``source`` as a ``MetricEngine`` (``report`` computes its tables on it).

    A connection is made (``connect()``) and closed again unless ``con`` is given.
    """
    own = con is None
    connection = connect() if con is None else con
    try:
        yield Dataset.open(connection, Path(source))
    finally:
        if own:
            connection.close()


def success_rate(
    source: PathLike,
    *,
    by: By = None,
    period: str | None = None,
    per: str = PER_SESSION,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """``analysis.success_rate`` over a Parquet dataset."""
    with open_dataset(source, con=con) as data:
        return data.success_rate(by=by, period=period, per=per)


def fallback_rate(
    source: PathLike,
    *,
    by: By = None,
    period: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """``analysis.fallback_rate`` over a Parquet dataset."""
    with open_dataset(source, con=con) as data:
        return data.fallback_rate(by=by, period=period)


def failure_reasons(
    source: PathLike,
    *,
    by: By = None,
    period: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """``analysis.failure_reasons`` over a Parquet dataset."""
    with open_dataset(source, con=con) as data:
        return data.failure_reasons(by=by, period=period)


def attempts_to_success(
    source: PathLike,
    *,
    by: By = None,
    period: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """``analysis.attempts_to_success`` over a Parquet dataset."""
    with open_dataset(source, con=con) as data:
        return data.attempts_to_success(by=by, period=period)


def time_to_verify(
    source: PathLike,
    *,
    by: By = None,
    period: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """``analysis.time_to_verify`` over a Parquet dataset."""
    with open_dataset(source, con=con) as data:
        return data.time_to_verify(by=by, period=period)


def funnel(
    source: PathLike,
    *,
    by: By = None,
    period: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """``analysis.funnel`` over a Parquet dataset."""
    with open_dataset(source, con=con) as data:
        return data.funnel(by=by, period=period)


def compare_periods(
    source: PathLike,
    *,
    metric: str = SESSION_SUCCESS,
    period: str = "W",
    by: By = None,
    current: str | datetime | pd.Timestamp | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """``analysis.compare_periods`` over a Parquet dataset."""
    if period is None:
        raise ValueError("compare_periods needs a period: 'D', 'W' or 'M'")
    with open_dataset(source, con=con) as data:
        table = data.metric_table(metric, by=by, period=period)
    return compare_tables(table, by=as_columns(by), period=period, current=current)
