"""The tables a report holds, declared once, computed on one ``Analysis`` of the log.

``TABLES`` names every breakdown the report shows: which metric of the registry, grouped by
which columns, and whether over time. ``summary_tables(analysis)`` computes them all, with
the headline (every rate metric over the whole log), the rows set aside and the period
comparison, into ``SummaryTables``, which the HTML page and the text summary render.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import pandas as pd

from verigator_nb.analysis import (
    ATTEMPT_SUCCESS,
    AVAILABILITY,
    CONVERSION,
    FALLBACK,
    LOGIN_CONVERSION,
    METRICS,
    RATE_METRICS,
    SESSION_SUCCESS,
    Analysis,
    collector_held,
    cusum,
    p_chart,
    pumping_review,
)
from verigator_nb.schema import (
    ACTION,
    COUNTRY,
    ENDPOINT,
    METHOD,
    PROVIDER,
    REQUESTED_METHOD,
    TAGS,
)

__all__ = [
    "COMPARISON_PERIOD",
    "GROUP_NAMES",
    "SECTIONS",
    "TABLES",
    "SummaryTables",
    "TableSpec",
    "label_rows",
    "summary_tables",
    "trend_period",
]

# The period the "this period against the last" table compares.
COMPARISON_PERIOD: Final = "W"
# How many verified sessions the attempt and time charts draw (the tables are exact).
CHART_SAMPLE: Final = 200_000

# What each grouping column is called in captions: "requested" and "delivered" channel
# are different groupings and every caption says which one it uses.
GROUP_NAMES: Final[Mapping[str, str]] = {
    REQUESTED_METHOD: "requested channel (requested_method)",
    METHOD: "delivered channel (method)",
    COUNTRY: "country",  # not a column: its caption
    PROVIDER: "provider",  # not a column: its caption
    ACTION: "call",
}


@dataclass(frozen=True)
class TableSpec:
    """One table of the report: ``metric`` grouped by ``by``, over the trend period when
    ``over_time``, with p-chart limits when ``control``; its caption says exactly that."""

    section: str
    metric: str
    by: tuple[str, ...] = ()
    over_time: bool = False
    control: bool = False

    @property
    def key(self) -> str:
        trend = ["trend"] if self.over_time else []
        parts = [self.metric, *self.by, *trend, *(["p_chart"] if self.control else [])]
        return "__".join(parts)

    def caption(self, period_name: str) -> str:
        label = METRICS[self.metric].label
        groups = [GROUP_NAMES.get(column, column) for column in self.by]
        if self.over_time:
            groups.append(period_name)
        caption = f"{label} by {' and '.join(groups)}" if groups else label
        return f"{caption}: p-chart" if self.control else caption


# The report's sections, in order, by the heading each table is shown under.
CHANNELS: Final = "Conversion and success by channel"
FALLBACKS: Final = "Fallback"
AVAILABILITY_SECTION: Final = "Availability and errors"
ENDINGS: Final = "How verifications end"
EFFORT: Final = "Attempts, time to verify and latency"
LOGINS: Final = "Logins, resends and SMS cost"
TRENDS: Final = "Over time"
ALARMS: Final = "Alarms"

TABLES: Final[tuple[TableSpec, ...]] = (
    TableSpec(CHANNELS, CONVERSION, (REQUESTED_METHOD,)),
    TableSpec(CHANNELS, CONVERSION, (METHOD,)),
    TableSpec(CHANNELS, CONVERSION, (PROVIDER,)),
    TableSpec(CHANNELS, SESSION_SUCCESS, (REQUESTED_METHOD,)),
    TableSpec(CHANNELS, SESSION_SUCCESS, (METHOD,)),
    TableSpec(CHANNELS, ATTEMPT_SUCCESS, (METHOD,)),
    TableSpec(CHANNELS, CONVERSION, (COUNTRY,)),
    TableSpec(FALLBACKS, FALLBACK, (COUNTRY,)),
    TableSpec(AVAILABILITY_SECTION, AVAILABILITY, (ACTION,)),
    TableSpec(AVAILABILITY_SECTION, "call_failures", (ACTION,)),
    TableSpec(AVAILABILITY_SECTION, "verify_errors"),
    TableSpec(ENDINGS, "funnel"),
    TableSpec(ENDINGS, "session_endings"),
    TableSpec(ENDINGS, "verify_outcomes"),
    TableSpec(EFFORT, "attempts_to_success", (METHOD,)),
    TableSpec(EFFORT, "time_to_verify", (METHOD,)),
    TableSpec(EFFORT, "latency", (ACTION,)),
    TableSpec(LOGINS, LOGIN_CONVERSION),
    TableSpec(LOGINS, "resends"),
    TableSpec(LOGINS, "sms_per_verified_session"),
    TableSpec(TRENDS, CONVERSION, over_time=True),
    TableSpec(TRENDS, SESSION_SUCCESS, over_time=True),
    TableSpec(TRENDS, FALLBACK, over_time=True),
    TableSpec(ALARMS, CONVERSION, (METHOD,), over_time=True, control=True),
)
SECTIONS: Final = tuple(dict.fromkeys(spec.section for spec in TABLES))
# The report's CUSUM: conversion per country, at the analysis's false-alarm rate.
CUSUM_BY: Final = COUNTRY


@dataclass(frozen=True)
class SummaryTables:
    """Every table of a report.

    ``tables`` holds one frame per ``TableSpec`` of ``TABLES`` by its ``key``; ``headline``
    every rate metric over the whole log; ``set_aside`` the rows the metrics left out, per
    reason; ``verified`` per-session ``attempts`` and ``seconds`` (possibly a sample, for
    charts only: the distribution tables are exact); ``origins`` the calls per ``endpoint``
    and ``tags`` (``sandbox`` traffic, ``simulated`` campaigns); ``filters`` the part of the
    log they cover, in words.
    """

    rows: int
    sessions: int
    first_ts: pd.Timestamp | None
    last_ts: pd.Timestamp | None
    trend_period: str
    headline: pd.DataFrame
    comparison: pd.DataFrame
    set_aside: pd.DataFrame
    verified: pd.DataFrame
    tables: Mapping[str, pd.DataFrame]
    origins: pd.DataFrame | None = None  # calls per endpoint and tags: where the rows came from
    filters: str = ""  # the part of the log the tables cover, in words ("" for all of it)
    cusum: pd.DataFrame | None = None  # conversion's Bernoulli CUSUM by CUSUM_BY, per day
    pumping: pd.DataFrame | None = None  # the SMS pumping review's flags

    def table(self, spec: TableSpec) -> pd.DataFrame:
        """The frame computed for ``spec``."""
        return self.tables[spec.key]


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


def cusum_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per group of a ``cusum`` table (by ``CUSUM_BY``): its chart's p0, p1 and h,
    the days it signalled, and the statistic's share of h at the end of the last day."""
    rows = []
    for key, days in table.groupby(CUSUM_BY, dropna=False, sort=True):
        last = days.iloc[-1]
        alarms = days.loc[days["signal"].astype(bool), "period"]
        rows.append(
            {
                CUSUM_BY: key,
                "p0": last["p0"],
                "p1": last["p1"],
                "h": last["h"],
                "days": len(days),
                "alarms": ", ".join(f"{day:%Y-%m-%d}" for day in alarms) or "none",
                "last S ÷ h": last["statistic"] / last["h"],
                "note": last["note"],
            }
        )
    columns = [CUSUM_BY, "p0", "p1", "h", "days", "alarms", "last S ÷ h", "note"]
    return pd.DataFrame(rows, columns=columns)


def summary_tables(analysis: Analysis) -> SummaryTables:
    """Every report table, computed on ``analysis`` (the garbage collector held back
    meanwhile: ``analysis.collector_held``)."""
    with collector_held():
        return _summary_tables(analysis)


def _summary_tables(analysis: Analysis) -> SummaryTables:
    rows, first, last = analysis.extent()
    period = trend_period(first, last)
    headline = label_rows(analysis.tables(RATE_METRICS))
    tables: dict[str, pd.DataFrame] = {}
    for by, over_time in dict.fromkeys((spec.by, spec.over_time) for spec in TABLES):
        specs = [s for s in TABLES if (s.by, s.over_time) == (by, over_time)]
        found = analysis.tables(
            [s.metric for s in specs], by=list(by), period=period if over_time else None
        )
        tables |= {
            spec.key: p_chart(found[spec.metric]) if spec.control else found[spec.metric]
            for spec in specs
        }
    sessions = headline.loc[headline["metric"] == SESSION_SUCCESS, "n"]
    return SummaryTables(
        rows=rows,
        sessions=int(sessions.iloc[0]),
        first_ts=first,
        last_ts=last,
        trend_period=period,
        headline=headline,
        comparison=analysis.compare(period=COMPARISON_PERIOD),
        set_aside=analysis.set_aside(),
        verified=analysis.verified_sample(CHART_SAMPLE),
        tables=tables,
        origins=analysis.rows_by([ENDPOINT, TAGS]),
        filters=analysis.filters.describe() if analysis.filters else "",
        cusum=cusum(analysis, by=CUSUM_BY),
        pumping=pumping_review(analysis),
    )
