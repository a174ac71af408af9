"""The analysis stage: how well verification works, every metric defined once.

``METRICS`` (``_registry``) holds each metric's name, label, grain, definition and the one
Ibis expression that computes it; ``docs/metrics.md`` is generated from it. The expressions
count the rows of ``_grains`` (calls kept after cleaning, sessions, logins) and run on DuckDB
for a DataFrame, a log file or a Parquet dataset, and on Spark for a Spark DataFrame
(``_source``). ``Analysis`` (``_engine``) prepares one log once for many tables;
``_filters`` says which part of the log the tables cover; ``_finish`` shapes every engine's
counts alike; ``_compare`` tests one period against the one before (statsmodels);
``_stats`` has the Wilson interval; ``_epoch`` the engines' fast arithmetic on moments;
``_gc`` holds the garbage collector back during a batch of queries.
``scale`` writes and opens day-partitioned Parquet datasets.

Every function takes the log first — a DataFrame, a path, an Ibis table, a Spark DataFrame
or an ``Analysis`` — with ``by`` (None, a column or a list; a missing value is a group of its
own) and ``period`` ("D", "W" or "M", UTC), and returns a new DataFrame.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

import pandas as pd

from verigator_nb.analysis._aggregate import PERIOD, PERIOD_NAMES, PERIODS
from verigator_nb.analysis._compare import ALPHA
from verigator_nb.analysis._control import P_CHART_SIGMAS, p_chart
from verigator_nb.analysis._cusum import (
    BASELINE_DAYS,
    FALSE_ALARMS_PER_DAY,
    CusumDesign,
    average_run_length,
    cusum_by_day,
    design,
    run_cusum,
)
from verigator_nb.analysis._duck import connect
from verigator_nb.analysis._engine import Analysis, By
from verigator_nb.analysis._filters import Filters
from verigator_nb.analysis._gc import collector_held
from verigator_nb.analysis._grains import DEFAULT_GAP, ENDING, ENDINGS, SET_ASIDE_REASONS
from verigator_nb.analysis._pumping import PumpingRules, pumping_review
from verigator_nb.analysis._registry import (
    ATTEMPT_SUCCESS,
    AVAILABILITY,
    BREAKDOWN,
    CALL,
    COMPARED_METRICS,
    CONVERSION,
    DISTRIBUTION,
    FALLBACK,
    FUNNEL_STAGES,
    KINDS,
    LOGIN,
    LOGIN_CONVERSION,
    METRIC_LABELS,
    METRICS,
    RATE,
    RATE_METRICS,
    RATIO,
    SESSION,
    SESSION_SUCCESS,
    STAGES,
    Metric,
    definitions_markdown,
)
from verigator_nb.analysis._source import Source
from verigator_nb.schema import ACTION

__all__ = [
    "ALPHA",
    "ATTEMPT_SUCCESS",
    "AVAILABILITY",
    "BASELINE_DAYS",
    "BREAKDOWN",
    "CALL",
    "COMPARED_METRICS",
    "CONVERSION",
    "DEFAULT_GAP",
    "DISTRIBUTION",
    "ENDING",
    "ENDINGS",
    "FALLBACK",
    "FALSE_ALARMS_PER_DAY",
    "FUNNEL_STAGES",
    "KINDS",
    "LOGIN",
    "LOGIN_CONVERSION",
    "METRICS",
    "METRIC_LABELS",
    "PERIOD",
    "PERIODS",
    "PERIOD_NAMES",
    "PER_ATTEMPT",
    "PER_SESSION",
    "P_CHART_SIGMAS",
    "RATE",
    "RATE_METRICS",
    "RATIO",
    "SESSION",
    "SESSION_SUCCESS",
    "SET_ASIDE_REASONS",
    "STAGES",
    "Analysis",
    "By",
    "CusumDesign",
    "Filters",
    "Metric",
    "PumpingRules",
    "attempt_success",
    "attempts_to_success",
    "availability",
    "average_run_length",
    "call_failures",
    "collector_held",
    "compare_periods",
    "connect",
    "conversion",
    "cusum",
    "cusum_by_day",
    "definitions_markdown",
    "design",
    "fallback",  # not a column: the metric function
    "fallback_rate",
    "funnel",
    "latency",
    "login_conversion",
    "metric_table",
    "p_chart",
    "pumping_review",
    "resend_rate",
    "resends",
    "run_cusum",
    "session_endings",
    "session_success",
    "set_aside",
    "sms_per_verified_session",
    "success_rate",
    "time_to_verify",
    "verified_sessions",
    "verify_errors",
    "verify_outcomes",
]

# What ``success_rate(per=...)`` counts: sessions (session success) or verify calls.
PER_SESSION: Final = "session"
PER_ATTEMPT: Final = "attempt"  # not a column: the per= mode


def _prepared(source: Source | Analysis, gap: timedelta = DEFAULT_GAP) -> Analysis:
    return source if isinstance(source, Analysis) else Analysis(source, gap=gap)


def metric_table(
    source: Source | Analysis, metric: str, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    """The table of the metric named ``metric`` (a key of ``METRICS``), per group."""
    return _prepared(source).table(metric, by=by, period=period)


def session_success(
    source: Source | Analysis, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    return metric_table(source, SESSION_SUCCESS, by=by, period=period)


def conversion(
    source: Source | Analysis, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    return metric_table(source, CONVERSION, by=by, period=period)


def availability(
    source: Source | Analysis, *, by: By = ACTION, period: str | None = None
) -> pd.DataFrame:
    return metric_table(source, AVAILABILITY, by=by, period=period)


def attempt_success(
    source: Source | Analysis, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    return metric_table(source, ATTEMPT_SUCCESS, by=by, period=period)


def fallback(
    source: Source | Analysis, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    return metric_table(source, FALLBACK, by=by, period=period)


def login_conversion(
    source: Source | Analysis,
    *,
    by: By = None,
    period: str | None = None,
    gap: timedelta = DEFAULT_GAP,
) -> pd.DataFrame:
    return _prepared(source, gap).table(LOGIN_CONVERSION, by=by, period=period)


def resend_rate(
    source: Source | Analysis,
    *,
    by: By = None,
    period: str | None = None,
    gap: timedelta = DEFAULT_GAP,
) -> pd.DataFrame:
    return _prepared(source, gap).table("resend_rate", by=by, period=period)


def resends(
    source: Source | Analysis,
    *,
    by: By = None,
    period: str | None = None,
    gap: timedelta = DEFAULT_GAP,
) -> pd.DataFrame:
    return _prepared(source, gap).table("resends", by=by, period=period)


def verify_outcomes(
    source: Source | Analysis, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    return metric_table(source, "verify_outcomes", by=by, period=period)


def verify_errors(
    source: Source | Analysis, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    return metric_table(source, "verify_errors", by=by, period=period)


def call_failures(
    source: Source | Analysis, *, by: By = ACTION, period: str | None = None
) -> pd.DataFrame:
    return metric_table(source, "call_failures", by=by, period=period)


def session_endings(
    source: Source | Analysis, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    return metric_table(source, "session_endings", by=by, period=period)


def attempts_to_success(
    source: Source | Analysis, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    return metric_table(source, "attempts_to_success", by=by, period=period)


def time_to_verify(
    source: Source | Analysis, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    return metric_table(source, "time_to_verify", by=by, period=period)


def latency(
    source: Source | Analysis, *, by: By = ACTION, period: str | None = None
) -> pd.DataFrame:
    return metric_table(source, "latency", by=by, period=period)


def sms_per_verified_session(
    source: Source | Analysis, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    return metric_table(source, "sms_per_verified_session", by=by, period=period)


def funnel(source: Source | Analysis, *, by: By = None, period: str | None = None) -> pd.DataFrame:
    return metric_table(source, "funnel", by=by, period=period)


# Each metric function's help is its registry definition: written once, there.
for _function in (
    session_success, conversion, availability, attempt_success, fallback, login_conversion,
    resend_rate, resends, verify_outcomes, verify_errors, call_failures, session_endings,
    attempts_to_success, time_to_verify, latency, sms_per_verified_session, funnel,
):  # fmt: skip
    _metric = METRICS[_function.__name__]
    _function.__doc__ = (
        f"{_metric.label}: {_metric.definition}\n\n"
        f"{_metric.numerator} / {_metric.denominator}. One row per group "
        f"(a {_metric.kind} table; see ``verigator_nb.analysis.METRICS``)."
    )


def success_rate(
    source: Source | Analysis,
    *,
    by: By = None,
    period: str | None = None,
    per: str = PER_SESSION,
) -> pd.DataFrame:
    """Session success (``per="session"``) or attempt success (``per="attempt"``)."""
    if per not in (PER_SESSION, PER_ATTEMPT):
        raise ValueError(f"per must be 'session' or 'attempt', not {per!r}")
    name = SESSION_SUCCESS if per == PER_SESSION else ATTEMPT_SUCCESS
    return metric_table(source, name, by=by, period=period)


def fallback_rate(
    source: Source | Analysis, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    """The fallback metric (its earlier name)."""
    return fallback(source, by=by, period=period)


def cusum(
    source: Source | Analysis,
    metric: str = CONVERSION,
    *,
    by: By = None,
    p0: float | None = None,
    worse: float | None = None,
    false_alarms_per_day: float = FALSE_ALARMS_PER_DAY,
    baseline_days: int = BASELINE_DAYS,
) -> pd.DataFrame:
    """A Bernoulli CUSUM of a rate metric (conversion by default) per group of ``by``, one
    row per group and UTC day: the statistic, whether it signalled a fall from the baseline
    ``p0`` (default: the group's first ``baseline_days`` days) to ``worse`` (default: the
    failures doubled), and the chart's ``p0``, ``p1`` and ``h``, chosen so that a group
    with its baseline's daily volume raises at most ``false_alarms_per_day`` false alarms.
    See ``cusum_by_day`` for the columns and ``CusumDesign`` for the chart.
    """
    trials = _prepared(source).trials(metric, by=by)
    return cusum_by_day(
        trials,
        by=by,
        p0=p0,
        worse=worse,
        false_alarms_per_day=false_alarms_per_day,
        baseline_days=baseline_days,
    )


def verified_sessions(source: Source | Analysis, *, size: int = 200_000) -> pd.DataFrame:
    """``attempts`` and ``seconds`` of each verified session (a sample past ``size``), the
    values behind the attempts and time-to-verify distributions, for plotting."""
    return _prepared(source).verified_sample(size)


def set_aside(source: Source | Analysis) -> pd.DataFrame:
    """How many rows the metrics leave out, per reason (``SET_ASIDE_REASONS``)."""
    return _prepared(source).set_aside()


def compare_periods(
    source: Source | Analysis,
    *,
    metrics: str | Sequence[str] = COMPARED_METRICS,
    period: str = "W",
    by: By = None,
    now: datetime | pd.Timestamp | str | None = None,
    include_partial: bool = False,
) -> pd.DataFrame:
    """Rate metrics in the latest complete period (``include_partial``: the running one)
    against the period before, per group: the change in percentage points, its Newcombe
    interval, the two-proportion z-test, Holm-adjusted across the groups of each metric.

    ``now`` stands for the log's last ``ts`` in deciding which periods are complete.
    """
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    return _prepared(source).compare(
        names, period=period, by=by, now=now, include_partial=include_partial
    )
