"""Outcome logs too big for memory: a day-partitioned Parquet dataset, queried with DuckDB.

``write_dataset(df, root)`` appends a log to ``root/date=YYYY-MM-DD/part-<id>.parquet``
(each file written to a temporary name and renamed, so a crash never leaves a half file that
readers pick up). The metric functions here take the dataset's root (or one Parquet file) and
answer with the same frames as their namesakes in ``verigator_nb.analysis`` — same columns,
dtypes and row order — computed by DuckDB SQL that reads only the columns it needs and
spills to disk past ``memory_limit``. ``summary_tables(root)`` gives the report everything
it shows, sharing one pass of session matching across the session metrics.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from verigator_nb import _sql
from verigator_nb._frames import as_columns, require
from verigator_nb._periods import compare_tables
from verigator_nb._rows import micros
from verigator_nb._summary import COMPARISON_PERIOD, HEADLINE_LABELS, SummaryTables, label_rows
from verigator_nb._summary import trend_period as _trend_period
from verigator_nb.analysis import METRICS, By
from verigator_nb.schema import COLUMN_NAMES

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "attempts_to_success",
    "compare_periods",
    "connect",
    "failure_reasons",
    "fallback_rate",
    "funnel",
    "success_rate",
    "summary_tables",
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
    days = micros(frame["ts"]) // 86_400_000_000
    order = np.argsort(days, kind="stable")
    bounds = np.flatnonzero(np.diff(days[order])) + 1
    written = []
    for chunk in np.split(order, bounds) if len(order) else []:
        day = np.datetime64(int(days[chunk[0]]), "D")
        folder = Path(root) / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(frame.iloc[chunk], preserve_index=False)
        written.append(_write_file(table, folder / f"{prefix}-{uuid.uuid4().hex}.parquet"))
    return written


def _write_file(table: pa.Table, target: Path) -> Path:
    temp = target.with_name(f".{target.name}.tmp")
    try:
        pq.write_table(table, temp)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


def connect(
    *, memory_limit: str = DEFAULT_MEMORY_LIMIT, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection set up for these queries: UTC, bounded memory (spilling to a temp
    directory beyond it), insertion order not preserved (it is not needed and costs memory)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{_sql.literal_text(memory_limit)}'")
    con.execute("SET preserve_insertion_order = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


@contextmanager
def _opened(source: PathLike, con: duckdb.DuckDBPyConnection | None) -> Iterator[_sql.Dataset]:
    own = con is None
    connection = connect() if con is None else con
    try:
        yield _sql.Dataset.open(connection, Path(source))
    finally:
        if own:
            connection.close()


def success_rate(
    source: PathLike,
    *,
    by: By = None,
    period: str | None = None,
    per: str = "session",
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """``analysis.success_rate`` over a Parquet dataset."""
    with _opened(source, con) as data:
        return data.success_rate(as_columns(by), period, per)


def fallback_rate(
    source: PathLike,
    *,
    by: By = None,
    period: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """``analysis.fallback_rate`` over a Parquet dataset."""
    with _opened(source, con) as data:
        return data.fallback_rate(as_columns(by), period)


def failure_reasons(
    source: PathLike,
    *,
    by: By = None,
    period: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """``analysis.failure_reasons`` over a Parquet dataset."""
    with _opened(source, con) as data:
        return data.failure_reasons(as_columns(by), period)


def attempts_to_success(
    source: PathLike,
    *,
    by: By = None,
    period: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """``analysis.attempts_to_success`` over a Parquet dataset."""
    with _opened(source, con) as data:
        return data.distribution("attempts", as_columns(by), period)


def time_to_verify(
    source: PathLike,
    *,
    by: By = None,
    period: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """``analysis.time_to_verify`` over a Parquet dataset."""
    with _opened(source, con) as data:
        return data.distribution("seconds", as_columns(by), period)


def funnel(
    source: PathLike,
    *,
    by: By = None,
    period: str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """``analysis.funnel`` over a Parquet dataset."""
    with _opened(source, con) as data:
        return data.funnel(as_columns(by), period)


def compare_periods(
    source: PathLike,
    *,
    metric: str = "session_success",
    period: str = "W",
    by: By = None,
    current: str | datetime | pd.Timestamp | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """``analysis.compare_periods`` over a Parquet dataset."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    if period is None:
        raise ValueError("compare_periods needs a period: 'D', 'W' or 'M'")
    columns = as_columns(by)
    with _opened(source, con) as data:
        table = data.metric(metric, columns, period)
    return compare_tables(table, by=columns, period=period, current=current)


def summary_tables(
    source: PathLike, *, con: duckdb.DuckDBPyConnection | None = None, sample: int = 200_000
) -> SummaryTables:
    """Every table of the report for a Parquet dataset, like ``report.tables`` for a frame.

    Sessions are matched once (into a temporary table) and reused by every session metric.
    ``verified`` holds a reservoir sample of at most ``sample`` sessions, for the charts.
    """
    with _opened(source, con) as data:
        rows, first, last = data.extent()
        period = _trend_period(first, last)
        data.cache_sessions(["method", "country"])
        rates = {name: data.metric(name, [], None) for name in HEADLINE_LABELS}
        compared = {
            name: compare_tables(
                data.metric(name, [], COMPARISON_PERIOD), by=[], period=COMPARISON_PERIOD
            )
            for name in HEADLINE_LABELS
        }
        return SummaryTables(
            rows=rows,
            sessions=int(rates["session_success"]["n"].iloc[0]),
            first_ts=first,
            last_ts=last,
            trend_period=period,
            headline=label_rows(rates),
            session_by_method=data.success_rate(["method"], None, "session"),
            attempt_by_method=data.success_rate(["method"], None, "attempt"),
            fallback_by_country=data.fallback_rate(["country"], None),
            failure_reasons=data.failure_reasons([], None),
            attempts=data.distribution("attempts", ["method"], None),
            time_to_verify=data.distribution("seconds", ["method"], None),
            funnel=data.funnel([], None),
            session_trend=data.success_rate([], period, "session"),
            fallback_trend=data.fallback_rate([], period),
            comparison=label_rows(compared),
            verified=data.verified_sample(sample),
        )
