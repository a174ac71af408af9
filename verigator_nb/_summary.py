"""The bundle of tables a report shows, computed once from a frame (or, in ``scale``, by SQL).

``SummaryTables`` is what ``report.build`` and ``report.summary`` render; ``from_frame`` fills
it with the ``analysis`` functions, ``scale.summary_tables`` fills it from a Parquet dataset
with DuckDB, and both give tables of the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from verigator_nb import analysis

__all__ = [
    "COMPARISON_PERIOD",
    "HEADLINE_LABELS",
    "SummaryTables",
    "from_frame",
    "label_rows",
    "trend_period",
]

HEADLINE_LABELS = {
    "session_success": "Session success rate",
    "attempt_success": "Attempt success rate",
    "fallback": "Fallback rate (TOTP asked, SMS used)",
}
COMPARISON_PERIOD = "W"


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
    session_by_method: pd.DataFrame
    attempt_by_method: pd.DataFrame
    fallback_by_country: pd.DataFrame
    failure_reasons: pd.DataFrame
    attempts: pd.DataFrame
    time_to_verify: pd.DataFrame
    funnel: pd.DataFrame
    session_trend: pd.DataFrame
    fallback_trend: pd.DataFrame
    comparison: pd.DataFrame
    verified: pd.DataFrame


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


def from_frame(df: pd.DataFrame) -> SummaryTables:
    """Every report table, computed with the ``analysis`` functions over an in-memory log."""
    first = df["ts"].min() if len(df) else None
    last = df["ts"].max() if len(df) else None
    period = trend_period(first, last)
    rates = {
        "session_success": analysis.success_rate(df),
        "attempt_success": analysis.success_rate(df, per="attempt"),
        "fallback": analysis.fallback_rate(df),
    }
    compared = {
        name: analysis.compare_periods(df, metric=name, period=COMPARISON_PERIOD)
        for name in HEADLINE_LABELS
    }
    return SummaryTables(
        rows=len(df),
        sessions=int(rates["session_success"]["n"].iloc[0]),
        first_ts=first,
        last_ts=last,
        trend_period=period,
        headline=label_rows(rates),
        session_by_method=analysis.success_rate(df, by="method"),
        attempt_by_method=analysis.success_rate(df, by="method", per="attempt"),
        fallback_by_country=analysis.fallback_rate(df, by="country"),
        failure_reasons=analysis.failure_reasons(df),
        attempts=analysis.attempts_to_success(df, by="method"),
        time_to_verify=analysis.time_to_verify(df, by="method"),
        funnel=analysis.funnel(df),
        session_trend=analysis.success_rate(df, period=period),
        fallback_trend=analysis.fallback_rate(df, period=period),
        comparison=label_rows(compared),
        verified=analysis.verified_sessions(df)[["attempts", "seconds"]],
    )
