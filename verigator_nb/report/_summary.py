"""The bundle of tables a report shows, declared once and computed by any metric engine.

``SummaryTables`` is what the HTML report and the text summary render. ``summary_tables``
fills it from a ``MetricEngine``: ``FrameEngine`` for an in-memory log, ``scale``'s DuckDB
``Dataset`` for a Parquet dataset; both give tables of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import pandas as pd

from verigator_nb.analysis import METRIC_LABELS, PER_ATTEMPT, SESSION_SUCCESS, MetricEngine
from verigator_nb.schema import COUNTRY, METHOD

__all__ = [
    "COMPARISON_PERIOD",
    "TABLES",
    "SummaryTables",
    "label_rows",
    "summary_tables",
    "trend_period",
]

# The period the "this period against the last" table compares.
COMPARISON_PERIOD: Final = "W"
# How many verified sessions the attempt and time charts draw (the tables are exact).
CHART_SAMPLE: Final = 200_000

_Table = Callable[[MetricEngine, str], pd.DataFrame]

# The report's breakdown tables, each declared once: its field of ``SummaryTables`` and how
# an engine computes it (given the trend period, for the tables over time).
TABLES: Final[Mapping[str, _Table]] = {
    "session_by_method": lambda e, _: e.success_rate(by=METHOD),
    "attempt_by_method": lambda e, _: e.success_rate(by=METHOD, per=PER_ATTEMPT),
    "fallback_by_country": lambda e, _: e.fallback_rate(by=COUNTRY),
    "failure_reasons": lambda e, _: e.failure_reasons(),
    "attempts": lambda e, _: e.attempts_to_success(by=METHOD),
    "time_to_verify": lambda e, _: e.time_to_verify(by=METHOD),
    "funnel": lambda e, _: e.funnel(),
    "session_trend": lambda e, period: e.success_rate(period=period),
    "fallback_trend": lambda e, period: e.fallback_rate(period=period),
}


@dataclass(frozen=True)
class SummaryTables:
    """Every table of a report. Rate tables have ``n``, ``successes``, ``rate``, ``ci_low``,
    ``ci_high``; ``verified`` holds per-session ``attempts`` and ``seconds`` (possibly a sample,
    for charts only: the distribution tables are exact)."""

    rows: int
    sessions: int
    first_ts: pd.Timestamp | None
    last_ts: pd.Timestamp | None
    trend_period: str
    headline: pd.DataFrame
    comparison: pd.DataFrame
    verified: pd.DataFrame
    session_by_method: pd.DataFrame
    attempt_by_method: pd.DataFrame
    fallback_by_country: pd.DataFrame
    failure_reasons: pd.DataFrame
    attempts: pd.DataFrame
    time_to_verify: pd.DataFrame
    funnel: pd.DataFrame
    session_trend: pd.DataFrame
    fallback_trend: pd.DataFrame


def trend_period(first: pd.Timestamp | None, last: pd.Timestamp | None) -> str:
    """Days for up to two months of log, weeks up to two years, months beyond."""
    if first is None or last is None or pd.isna(first) or pd.isna(last):
        return "D"
    days = (last - first).days
    return "D" if days <= 62 else "W" if days <= 730 else "M"


def label_rows(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Stack tables keyed by metric name into one, with a leading ``metric`` column."""
    parts = [table.assign(metric=name) for name, table in tables.items()]
    stacked = pd.concat(parts, ignore_index=True)
    return stacked[["metric", *[c for c in stacked.columns if c != "metric"]]]


def summary_tables(engine: MetricEngine) -> SummaryTables:
    """Every report table, computed by ``engine``."""
    engine.prepare([METHOD])  # the widest grouping of sessions below
    rows, first, last = engine.extent()
    period = trend_period(first, last)
    rates = {name: engine.metric_table(name) for name in METRIC_LABELS}
    compared = {
        name: engine.compare_periods(metric=name, period=COMPARISON_PERIOD)
        for name in METRIC_LABELS
    }
    return SummaryTables(
        rows=rows,
        sessions=int(rates[SESSION_SUCCESS]["n"].iloc[0]),
        first_ts=first,
        last_ts=last,
        trend_period=period,
        headline=label_rows(rates),
        comparison=label_rows(compared),
        verified=engine.verified_sample(CHART_SAMPLE),
        **{name: table(engine, period) for name, table in TABLES.items()},
    )
