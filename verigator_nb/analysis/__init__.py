"""The analysis stage: how well verification works, from the outcome log.

Pure functions, a frame in and a new frame out (``_metrics``), over the row helpers of
``_rows`` and the table builders of ``_tables``, with calendar periods (``_periods``) and
Wilson intervals (``_stats``); what each metric means is data in ``_definitions``.
``verigator_nb.analysis.scale`` computes the same tables with DuckDB over Parquet
(``_duckdb``), for logs bigger than memory.
"""

from __future__ import annotations

from verigator_nb.analysis._definitions import (
    ATTEMPT_SUCCESS,
    DEFINITIONS,
    FALLBACK_RATE,
    METRIC_LABELS,
    SESSION_SUCCESS,
    Definition,
)
from verigator_nb.analysis._engine import FrameEngine, MetricEngine
from verigator_nb.analysis._metrics import (
    METRICS,
    PER_ATTEMPT,
    PER_SESSION,
    PERS,
    By,
    attempts_to_success,
    compare_periods,
    failure_reasons,
    fallback_rate,
    funnel,
    metric_table,
    success_rate,
    time_to_verify,
    verified_sessions,
)
from verigator_nb.analysis._periods import PERIOD_NAMES, PERIODS
from verigator_nb.analysis._tables import FUNNEL_STAGES

__all__ = [
    "ATTEMPT_SUCCESS",
    "DEFINITIONS",
    "FALLBACK_RATE",
    "FUNNEL_STAGES",
    "METRICS",
    "METRIC_LABELS",
    "PERIODS",
    "PERIOD_NAMES",
    "PERS",
    "PER_ATTEMPT",
    "PER_SESSION",
    "SESSION_SUCCESS",
    "By",
    "Definition",
    "FrameEngine",
    "MetricEngine",
    "attempts_to_success",
    "compare_periods",
    "failure_reasons",
    "fallback_rate",
    "funnel",
    "metric_table",
    "success_rate",
    "time_to_verify",
    "verified_sessions",
]
