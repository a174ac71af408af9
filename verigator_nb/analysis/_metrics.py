"""How well verification works, from the outcome log: pure functions, a frame in, a new frame out.

Every function takes the outcome log's DataFrame first (columns as in ``verigator_nb.schema``),
options keyword-only, checks the columns it needs up front (``ValueError`` naming what is
missing), never changes its input and returns a new frame. They are vectorised: a log of
millions of rows costs a few group-bys, never a Python loop over rows.

What each metric means is data in ``verigator_nb.analysis._definitions`` (the report and
``docs/metrics.md`` render it from there); the functions below compute exactly that.

Grouping: ``by`` is None, a column name or a list of columns; ``period`` ("D", "W" or "M")
adds a ``period`` column, the UTC start of the row's day, ISO week (Monday) or month. A
missing value is a group of its own; categorical columns group with ``observed=True``.

Rate tables have the group columns, then ``n``, ``successes``, ``rate`` and the 95 % Wilson
score interval ``ci_low``/``ci_high``; the rate and interval are NaN when ``n`` is 0. Without
``by`` and ``period`` a rate table has exactly one row, even for an empty log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

import pandas as pd

from verigator_nb.analysis._definitions import (
    ATTEMPT_SUCCESS,
    FALLBACK_RATE,
    METRIC_LABELS,
    SESSION_SUCCESS,
)
from verigator_nb.analysis._periods import compare_tables
from verigator_nb.analysis._rows import (
    check_session_by,
    floats,
    is_action,
    is_true,
    micros,
    pick_rows,
    session_codes,
    sessions_frame,
    ts_columns,
)
from verigator_nb.analysis._tables import (
    FUNNEL_STAGES,
    as_columns,
    distribution_table,
    funnel_long,
    group_keys,
    rate_table,
    reason_table,
    require,
)
from verigator_nb.models import METHOD_SMS, METHOD_TOTP
from verigator_nb.schema import (
    ACTION,
    ATTEMPT,
    ERROR,
    INITIATE,
    METHOD,
    REQUESTED_METHOD,
    RESULT,
    SESSION_ID,
    TS,
    VERIFIED,
    VERIFY,
)

__all__ = [
    "FUNNEL_STAGES",
    "METRICS",
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

By = str | Sequence[str] | None

METRICS = tuple(METRIC_LABELS)

# What ``success_rate(per=...)`` counts: sessions, or verify calls.
PER_SESSION = "session"
PER_ATTEMPT = "attempt"  # not a column: the per= mode
PERS = (PER_SESSION, PER_ATTEMPT)


def success_rate(
    df: pd.DataFrame, *, by: By = None, period: str | None = None, per: str = PER_SESSION
) -> pd.DataFrame:
    """Session (``per="session"``) or attempt (``per="attempt"``) success rate, per group.

    Sessions group by their initiate row's columns; attempts by the verify row's own.
    Raises ``ValueError`` for a missing column, an unknown ``per`` or ``period``, or a
    verify-only column (``verified``, ``result``, ``attempt``) grouping sessions.

    Examples:
        >>> from verigator_nb.schema import to_frame
        >>> log = to_frame([
        ...     {"action": "initiate", "session_id": "a", "method": "sms"},
        ...     {"action": "verify", "session_id": "a", "verified": False, "attempt": 1},
        ...     {"action": "verify", "session_id": "a", "verified": True, "attempt": 2},
        ...     {"action": "initiate", "session_id": "b", "method": "sms"},
        ... ])
        >>> success_rate(log)[["n", "successes", "rate"]].to_dict("records")
        [{'n': 2, 'successes': 1, 'rate': 0.5}]
        >>> float(success_rate(log, per="attempt")["rate"].iloc[0])
        0.5
    """
    columns = as_columns(by)
    keys = group_keys(columns, period)
    if per == PER_SESSION:
        return rate_table(sessions_frame(df, columns, period, "success_rate"), keys, "_verified")
    if per != PER_ATTEMPT:
        raise ValueError(f"per must be 'session' or 'attempt', not {per!r}")
    require(df, [ACTION, VERIFIED, *columns, *ts_columns(period)], where="success_rate")
    answered = is_action(df, VERIFY) & df[VERIFIED].notna().to_numpy(dtype=bool)
    calls = pick_rows(df, answered, [*columns, VERIFIED], period)
    return rate_table(calls.assign(_ok=is_true(calls[VERIFIED])), keys, "_ok")


def fallback_rate(df: pd.DataFrame, *, by: By = None, period: str | None = None) -> pd.DataFrame:
    """Share of answered TOTP initiates the server answered with SMS, per group.

    Examples:
        >>> from verigator_nb.schema import to_frame
        >>> log = to_frame([
        ...     {"action": "initiate", "requested_method": "totp", "method": "sms"},
        ...     {"action": "initiate", "requested_method": "totp", "method": "totp"},
        ...     {"action": "initiate", "requested_method": "totp", "error": "InternalError"},
        ...     {"action": "initiate", "requested_method": "sms", "method": "sms"},
        ... ])
        >>> fallback_rate(log)[["n", "successes", "rate"]].to_dict("records")
        [{'n': 2, 'successes': 1, 'rate': 0.5}]
    """
    columns = as_columns(by)
    keys = group_keys(columns, period)
    needed = [ACTION, REQUESTED_METHOD, METHOD, *columns, *ts_columns(period)]
    require(df, needed, where="fallback_rate")
    check_session_by(columns, "fallback_rate")
    asked_totp = (df[REQUESTED_METHOD] == METHOD_TOTP).to_numpy(dtype=bool, na_value=False)
    mask = is_action(df, INITIATE) & asked_totp & df[METHOD].notna().to_numpy(dtype=bool)
    calls = pick_rows(df, mask, [*columns, METHOD], period)
    fell_back = (calls[METHOD] == METHOD_SMS).to_numpy(dtype=bool, na_value=False)
    return rate_table(calls.assign(_sms=fell_back), keys, "_sms")


def _reason(result: pd.Series, error: pd.Series) -> pd.Series:
    named_error = error.mask(error.eq(""), "UNKNOWN").fillna("UNKNOWN")
    return result.astype("str").fillna(named_error).astype("str")


def failure_reasons(df: pd.DataFrame, *, by: By = None, period: str | None = None) -> pd.DataFrame:
    """Failed verify calls per group and ``reason``: ``n``, ``failed`` (all failed calls of the
    group), ``share`` = n / failed and its Wilson interval; most frequent reason first.

    Examples:
        >>> from verigator_nb.schema import to_frame
        >>> log = to_frame([
        ...     {"action": "verify", "verified": False, "result": "INVALID"},
        ...     {"action": "verify", "verified": False, "result": "INVALID"},
        ...     {"action": "verify", "error": "RequestTimeoutError"},
        ...     {"action": "verify", "verified": True, "result": "VERIFIED"},
        ... ])
        >>> failure_reasons(log)[["reason", "n", "failed"]].to_dict("records")
        [{'reason': 'INVALID', 'n': 2, 'failed': 3}, {'reason': 'RequestTimeoutError', 'n': 1, 'failed': 3}]
    """  # noqa: E501
    columns = as_columns(by)
    keys = group_keys(columns, period)
    needed = [ACTION, VERIFIED, RESULT, ERROR, *columns, *ts_columns(period)]
    require(df, needed, where="failure_reasons")
    mask = is_action(df, VERIFY) & ~is_true(df[VERIFIED])
    failed = pick_rows(df, mask, [*columns, RESULT, ERROR], period)
    failed = failed[keys].assign(reason=_reason(failed[RESULT], failed[ERROR]))
    grouped = failed.groupby([*keys, "reason"], observed=True, dropna=False, sort=True)
    return reason_table(grouped.size().rename("n").reset_index(), keys)


def verified_sessions(
    df: pd.DataFrame, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    """One row per verified session: ``session_id``, the group columns, ``attempts`` and
    ``seconds`` (time to verify): the values behind the distributions, for plotting.

    Examples:
        >>> from verigator_nb.schema import to_frame
        >>> log = to_frame([
        ...     {"action": "initiate", "session_id": "a", "ts": "2024-05-01T10:00:00Z"},
        ...     {"action": "verify", "session_id": "a", "verified": False, "attempt": 1,
        ...      "ts": "2024-05-01T10:00:20Z"},
        ...     {"action": "verify", "session_id": "a", "verified": True, "attempt": 2,
        ...      "ts": "2024-05-01T10:00:45Z"},
        ... ])
        >>> verified_sessions(log)[["attempts", "seconds"]].to_dict("records")
        [{'attempts': 2, 'seconds': 45.0}]
    """
    columns = as_columns(by)
    keys = group_keys(columns, period)
    require(
        df,
        [ACTION, SESSION_ID, VERIFIED, ATTEMPT, TS, *columns],
        where="verified_sessions",
    )
    check_session_by(columns, "verified_sessions")
    codes, _ = session_codes(df)
    stamps = micros(df[TS])
    ok = is_action(df, VERIFY) & is_true(df[VERIFIED]) & (codes >= 0)
    first = (
        pd.DataFrame({"code": codes[ok], "first": stamps[ok], "attempts": floats(df[ATTEMPT])[ok]})
        .groupby("code", sort=False)
        .min()
    )
    initiate = is_action(df, INITIATE)
    found = first.reindex(codes[initiate])
    keep = found["first"].notna().to_numpy()
    picked = pick_rows(df, initiate, [SESSION_ID, *columns], period).loc[keep]
    seconds = (found["first"].to_numpy()[keep] - stamps[initiate][keep]) / 1e6
    out = picked[list(dict.fromkeys([SESSION_ID, *keys]))].assign(
        attempts=found["attempts"].to_numpy()[keep], seconds=seconds
    )
    out["attempts"] = out["attempts"].astype("Int64")
    return out.reset_index(drop=True)


def attempts_to_success(
    df: pd.DataFrame, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    """Attempts verified sessions needed, per group: ``n``, ``mean``, ``p50``, ``p90``, ``p99``.

    Examples:
        >>> from verigator_nb.schema import to_frame
        >>> log = to_frame([
        ...     {"action": "initiate", "session_id": "a", "ts": "2024-05-01T10:00:00Z"},
        ...     {"action": "verify", "session_id": "a", "verified": True, "attempt": 3,
        ...      "ts": "2024-05-01T10:01:00Z"},
        ... ])
        >>> attempts_to_success(log)[["n", "mean", "p50"]].to_dict("records")
        [{'n': 1, 'mean': 3.0, 'p50': 3.0}]
    """
    sessions = verified_sessions(df, by=by, period=period)
    return distribution_table(sessions, group_keys(as_columns(by), period), "attempts")


def time_to_verify(df: pd.DataFrame, *, by: By = None, period: str | None = None) -> pd.DataFrame:
    """Seconds from initiate to the first verified verify, per group: ``n``, ``mean``, ``p50``,
    ``p90``, ``p99``.

    Examples:
        >>> from verigator_nb.schema import to_frame
        >>> log = to_frame([
        ...     {"action": "initiate", "session_id": "a", "ts": "2024-05-01T10:00:00Z"},
        ...     {"action": "verify", "session_id": "a", "verified": True, "attempt": 1,
        ...      "ts": "2024-05-01T10:00:30Z"},
        ... ])
        >>> float(time_to_verify(log)["p90"].iloc[0])
        30.0
    """
    sessions = verified_sessions(df, by=by, period=period)
    return distribution_table(sessions, group_keys(as_columns(by), period), "seconds")


def funnel(df: pd.DataFrame, *, by: By = None, period: str | None = None) -> pd.DataFrame:
    """Sessions at each ``stage``: initiated, tried (any verify call), verified.

    Columns: the group columns, ``stage`` (ordered categorical), ``n``, ``share`` (of initiated)
    with its Wilson interval, and ``dropout``: the share of the previous stage's sessions that
    did not reach this one (NaN for the first stage, or when the previous stage is empty).

    Examples:
        >>> from verigator_nb.schema import to_frame
        >>> log = to_frame([
        ...     {"action": "initiate", "session_id": "a"},
        ...     {"action": "verify", "session_id": "a", "verified": True},
        ...     {"action": "initiate", "session_id": "b"},
        ... ])
        >>> funnel(log)[["stage", "n", "share"]].to_dict("records")
        [{'stage': 'initiated', 'n': 2, 'share': 1.0}, {'stage': 'tried', 'n': 1, 'share': 0.5}, {'stage': 'verified', 'n': 1, 'share': 0.5}]
    """  # noqa: E501
    columns = as_columns(by)
    keys = group_keys(columns, period)
    sessions = sessions_frame(df, columns, period, "funnel")
    # Each stage counts sessions: all of them, those with a verify, those verified.
    counts = dict(
        zip(
            FUNNEL_STAGES,
            [("_tried", "size"), ("_tried", "sum"), ("_verified", "sum")],
            strict=True,
        )
    )
    if keys:
        grouped = sessions.groupby(keys, observed=True, dropna=False, sort=True)
        wide = grouped.agg(**counts).reset_index()
    else:
        wide = pd.DataFrame(
            {stage: [int(sessions[flag].agg(how))] for stage, (flag, how) in counts.items()}
        )
    return funnel_long(wide, keys)


_METRIC_TABLES: dict[str, Callable[..., pd.DataFrame]] = {
    SESSION_SUCCESS: partial(success_rate, per=PER_SESSION),
    ATTEMPT_SUCCESS: partial(success_rate, per=PER_ATTEMPT),
    FALLBACK_RATE: fallback_rate,
}


def compare_periods(
    df: pd.DataFrame,
    *,
    metric: str = SESSION_SUCCESS,
    period: str = "W",
    by: By = None,
    current: str | datetime | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """A metric in the ``current`` period (default: the latest in the log) against the one
    before, per group.

    ``metric`` is "session_success", "attempt_success" or "fallback". Columns: the group
    columns, ``previous_period``, ``previous_n``, ``previous_successes``, ``previous_rate``,
    ``previous_ci_low``, ``previous_ci_high``, the same six for ``current_``, ``change``
    (current rate minus previous) and ``significant``: True where the two 95 % Wilson
    intervals do not overlap (a conservative test: overlapping intervals can still differ).

    Examples:
        >>> from verigator_nb.schema import to_frame
        >>> log = to_frame([
        ...     {"action": "initiate", "session_id": "a", "ts": "2024-05-01T10:00:00Z"},
        ...     {"action": "initiate", "session_id": "b", "ts": "2024-05-08T10:00:00Z"},
        ...     {"action": "verify", "session_id": "b", "verified": True,
        ...      "ts": "2024-05-08T10:00:09Z"},
        ... ])
        >>> row = compare_periods(log, period="W").iloc[0]
        >>> float(row["previous_rate"]), float(row["current_rate"]), bool(row["significant"])
        (0.0, 1.0, False)
    """
    if period is None:
        raise ValueError("compare_periods needs a period: 'D', 'W' or 'M'")
    table = metric_table(df, metric, by=by, period=period)
    return compare_tables(table, by=as_columns(by), period=period, current=current)


def metric_table(
    df: pd.DataFrame, metric: str, *, by: By = None, period: str | None = None
) -> pd.DataFrame:
    """The rate table of the rate metric named ``metric`` (one of ``METRICS``), per group."""
    if metric not in _METRIC_TABLES:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    return _METRIC_TABLES[metric](df, by=by, period=period)
