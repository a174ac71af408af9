"""The seam between the report and where its numbers are computed.

A ``MetricEngine`` answers the analysis functions for one log, wherever the log lives:
``FrameEngine`` over an in-memory DataFrame (pandas), ``scale``'s ``Dataset`` over Parquet
(DuckDB). The report asks an engine for its tables and never needs to know which one it has.
"""

from __future__ import annotations

from typing import Protocol

import pandas as pd

from verigator_nb.analysis import _metrics
from verigator_nb.analysis._definitions import SESSION_SUCCESS
from verigator_nb.analysis._metrics import PER_SESSION, By
from verigator_nb.schema import TS

__all__ = ["FrameEngine", "MetricEngine"]


class MetricEngine(Protocol):
    """The analysis functions bound to one log; each returns the frame its namesake in
    ``verigator_nb.analysis`` returns."""

    def extent(self) -> tuple[int, pd.Timestamp | None, pd.Timestamp | None]:
        """Rows, and the first and last ``ts`` (None for an empty log)."""

    def prepare(self, by: list[str]) -> None:
        """A hint: the session metrics that follow group by at most ``by``; an engine may
        match sessions once for all of them."""

    def success_rate(
        self, *, by: By = None, period: str | None = None, per: str = PER_SESSION
    ) -> pd.DataFrame: ...

    def fallback_rate(self, *, by: By = None, period: str | None = None) -> pd.DataFrame: ...

    def failure_reasons(self, *, by: By = None, period: str | None = None) -> pd.DataFrame: ...

    def attempts_to_success(self, *, by: By = None, period: str | None = None) -> pd.DataFrame: ...

    def time_to_verify(self, *, by: By = None, period: str | None = None) -> pd.DataFrame: ...

    def funnel(self, *, by: By = None, period: str | None = None) -> pd.DataFrame: ...

    def compare_periods(
        self, *, metric: str = SESSION_SUCCESS, period: str = "W", by: By = None
    ) -> pd.DataFrame: ...

    def metric_table(
        self, metric: str, *, by: By = None, period: str | None = None
    ) -> pd.DataFrame: ...

    def verified_sample(self, size: int) -> pd.DataFrame:
        """Per verified session ``attempts`` and ``seconds``, at most ``size`` of them."""


class FrameEngine:
    """A ``MetricEngine`` over an in-memory outcome-log DataFrame (the pandas functions)."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df

    def prepare(self, by: list[str]) -> None:
        pass  # pandas matches sessions on integer codes per call: nothing to gain

    def extent(self) -> tuple[int, pd.Timestamp | None, pd.Timestamp | None]:
        if not len(self.df):
            return 0, None, None
        return len(self.df), self.df[TS].min(), self.df[TS].max()

    def success_rate(
        self, *, by: By = None, period: str | None = None, per: str = PER_SESSION
    ) -> pd.DataFrame:
        return _metrics.success_rate(self.df, by=by, period=period, per=per)

    def fallback_rate(self, *, by: By = None, period: str | None = None) -> pd.DataFrame:
        return _metrics.fallback_rate(self.df, by=by, period=period)

    def failure_reasons(self, *, by: By = None, period: str | None = None) -> pd.DataFrame:
        return _metrics.failure_reasons(self.df, by=by, period=period)

    def attempts_to_success(self, *, by: By = None, period: str | None = None) -> pd.DataFrame:
        return _metrics.attempts_to_success(self.df, by=by, period=period)

    def time_to_verify(self, *, by: By = None, period: str | None = None) -> pd.DataFrame:
        return _metrics.time_to_verify(self.df, by=by, period=period)

    def funnel(self, *, by: By = None, period: str | None = None) -> pd.DataFrame:
        return _metrics.funnel(self.df, by=by, period=period)

    def compare_periods(
        self, *, metric: str = SESSION_SUCCESS, period: str = "W", by: By = None
    ) -> pd.DataFrame:
        return _metrics.compare_periods(self.df, metric=metric, period=period, by=by)

    def metric_table(
        self, metric: str, *, by: By = None, period: str | None = None
    ) -> pd.DataFrame:
        return _metrics.metric_table(self.df, metric, by=by, period=period)

    def verified_sample(self, size: int) -> pd.DataFrame:
        sessions = _metrics.verified_sessions(self.df)[["attempts", "seconds"]]
        if len(sessions) > size:
            sessions = sessions.sample(size, random_state=7).reset_index(drop=True)
        return sessions
