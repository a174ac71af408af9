"""Every metric of the contract (``docs/metrics.md``), checked by hand on small logs.

Each log below is a handful of rows whose expected numbers are worked out in the comments
beside them, from the contract's words, never by running the code a second way. One
``Analysis`` is made per log and shared by the tests that read it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd
import pytest

from verigator_nb import analysis
from verigator_nb.analysis import METRICS, Analysis
from verigator_nb.analysis._stats import Z95, wilson_interval
from verigator_nb.analysis.scale import write_dataset
from verigator_nb.log import DamagedLogWarning, OutcomeLog
from verigator_nb.schema import empty_frame, to_frame

T0 = pd.Timestamp("2024-05-01T10:00:00Z")  # a Wednesday
_ids = itertools.count()
_AUTO: Any = object()


def at(t: float | str) -> str:
    """``t`` seconds after ``T0`` (or ``t`` itself, a time written out) as ISO 8601."""
    return t if isinstance(t, str) else (T0 + pd.Timedelta(seconds=t)).isoformat()


def initiate(
    session: str | None,
    t: float | str = 0,
    *,
    status: int | None = 200,
    method: str | None = "sms",
    requested: str | None = None,
    **more: Any,
) -> dict[str, Any]:
    """An initiate row; ``method`` is what the server used (None when no answer came)."""
    return {
        "ts": at(t),
        "action": "initiate",
        "session_id": session,
        "http_status": status,
        "requested_method": requested or method or "sms",
        "method": method,
        **more,
    }


def verify(
    session: str | None,
    t: float | str,
    *,
    verified: bool | None = True,
    attempt: int | None = None,
    status: int | None = _AUTO,
    result: str | None = _AUTO,
    **more: Any,
) -> dict[str, Any]:
    """A verify row: answered (200) with a verdict unless ``verified`` is None."""
    if status is _AUTO:
        status = None if verified is None else 200
    if result is _AUTO:
        result = {True: "VERIFIED", False: "INVALID", None: None}[verified]
    row = {"ts": at(t), "action": "verify", "session_id": session, "verified": verified}
    return {**row, "attempt": attempt, "http_status": status, "result": result, **more}


def rows(*given: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """``given`` with a fresh ``event_id`` on each row that does not name its own."""
    return [{"event_id": f"r{next(_ids)}", **row} for row in given]


def records(table: pd.DataFrame, columns: Iterable[str]) -> list[dict[str, Any]]:
    """The rows of ``table`` as plain dicts, a missing value as None."""
    picked = table[list(columns)].astype(object)
    return picked.where(picked.notna(), None).to_dict("records")


def counts(table: pd.DataFrame, *keys: str) -> list[tuple[Any, ...]]:
    """A rate table as (keys..., n, successes) tuples, a missing key as None."""
    return [tuple(r.values()) for r in records(table, [*keys, "n", "successes"])]


def shares(table: pd.DataFrame, category: str) -> dict[Any, tuple[int, int]]:
    """A breakdown without groups as {category: (n, total)}."""
    return {r[category]: (r["n"], r["total"]) for r in records(table, [category, "n", "total"])}


def hand_wilson(x: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval, written out from its formula."""
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def pooled_z_p(x1: int, n1: int, x0: int, n0: int) -> float:
    """The two-sided p of the pooled two-proportion z-test, written out."""
    pooled = (x1 + x0) / (n1 + n0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    z = (x1 / n1 - x0 / n0) / se
    return math.erfc(abs(z) / math.sqrt(2))


def distribution(table: pd.DataFrame, values: Sequence[float]) -> None:
    """``table``'s one row holds n, mean and numpy's linear p50/p90/p99 of ``values``."""
    row = table.iloc[0]
    assert row["n"] == len(values)
    assert row["mean"] == pytest.approx(np.mean(values))
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        assert row[name] == pytest.approx(np.quantile(values, q)), name


# --- the Wilson interval ----------------------------------------------------------------------


def test_z_is_the_0975_normal_quantile() -> None:
    assert Z95 == 1.959963984540054
    assert NormalDist().inv_cdf(0.975) == pytest.approx(Z95, abs=1e-15)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857-872, table I, method 3.
        pytest.param(81, 263, 0.2553, 0.3662, id="81-of-263"),
        pytest.param(15, 148, 0.0624, 0.1605, id="15-of-148"),
        pytest.param(0, 20, 0.0, 0.1611, id="0-of-20"),
        pytest.param(1, 29, 0.0061, 0.1718, id="1-of-29"),
        # statsmodels.stats.proportion.proportion_confint(5, 10, method="wilson")
        pytest.param(5, 10, 0.2366, 0.7634, id="5-of-10"),
        pytest.param(10, 10, 0.7225, 1.0, id="10-of-10"),
    ],
)
def test_wilson_interval_matches_published_values(successes, n, low, high) -> None:
    got_low, got_high = wilson_interval([successes], [n])
    assert (round(float(got_low[0]), 4), round(float(got_high[0]), 4)) == (low, high)


def test_wilson_interval_is_empty_for_no_trials_and_refuses_impossible_counts() -> None:
    low, high = wilson_interval([0], [0])
    assert math.isnan(low[0]) and math.isnan(high[0])
    with pytest.raises(ValueError, match="between 0 and n"):
        wilson_interval([3], [2])


# --- session success and conversion -----------------------------------------------------------

CONVERSION_ROWS = rows(
    initiate("c1", 0), verify("c1", 10),  # started, verified
    initiate("c2", 0), verify("c2", 10, verified=False),  # started, not verified
    initiate("c3", 0, status=503, method=None, error="InternalServerError"),
    verify("c3", 10),  # a verified verify although its initiate failed
    initiate("c4", 0, status=None, method=None, error="RequestTimeoutError"),  # timed out
    initiate("c5", 0),  # started, never tried
)  # fmt: skip


@pytest.fixture(scope="module")
def conversion_log() -> Analysis:
    return Analysis(to_frame(CONVERSION_ROWS))


def test_session_success_counts_every_session_and_conversion_only_started_ones(
    conversion_log,
) -> None:
    # Session success: 5 sessions, c1 and c3 verified. Conversion: initiates that succeeded
    # are c1, c2, c5 (c3's 503 and c4's timeout are not), of which c1 verified.
    assert counts(analysis.session_success(conversion_log)) == [(5, 2)]
    table = analysis.conversion(conversion_log)
    assert counts(table) == [(3, 1)]
    low, high = hand_wilson(1, 3)
    assert table.loc[0, "rate"] == pytest.approx(1 / 3)
    assert (table.loc[0, "ci_low"], table.loc[0, "ci_high"]) == pytest.approx((low, high))


def test_success_rate_per_session_and_per_attempt(conversion_log) -> None:
    assert counts(analysis.success_rate(conversion_log)) == [(5, 2)]
    # Verify calls with a verdict: c1 (true), c2 (false), c3 (true).
    assert counts(analysis.success_rate(conversion_log, per="attempt")) == [(3, 2)]
    with pytest.raises(ValueError, match="per must"):
        analysis.success_rate(conversion_log, per="login")


# --- calls: answered, succeeded, availability -------------------------------------------------

CALL_ROWS = rows(
    initiate("a1", 0, latency_ms=100.0), verify("a1", 5, verified=False, latency_ms=10.0),
    initiate("a2", 0, status=404, method=None, error="ResourceNotFoundError", latency_ms=20.0),
    initiate("a3", 0, status=503, method=None, latency_ms=300.0),
    initiate("a4", 0, status=None, method=None, error="RequestTimeoutError", latency_ms=5000.0),
    initiate("a5", 0, status=102, method=None, latency_ms=1.0),
    initiate("a6", 0, status=302, method=None, latency_ms=2.0),
    initiate("a7", 0, status=429, method=None, error="TooManyRequestsError", latency_ms=3.0),
    verify("a1", 6, verified=False, status=429, result="THROTTLED", latency_ms=12.0),
    verify("a1", 7, verified=None, status=500, error="", latency_ms=400.0),
    verify("a1", 8, verified=None, error="RequestTimeoutError"),  # no latency measured
)  # fmt: skip


@pytest.fixture(scope="module")
def call_log() -> Analysis:
    return Analysis(to_frame(CALL_ROWS))


def test_availability_per_action_counts_a_4xx_and_1xx_3xx_as_answered(call_log) -> None:
    # Initiates: 200, 404, 102, 302, 429 answered; 503 and the timeout not -> 5 of 7.
    # Verifies: 200 and 429 answered; 500 and the timeout not -> 2 of 4.
    table = analysis.availability(call_log)
    assert counts(table, "action") == [("initiate", 7, 5), ("verify", 4, 2)]
    assert counts(analysis.availability(call_log, by=None)) == [(11, 7)]


def test_only_a_2xx_initiate_starts_a_session(call_log) -> None:
    # Decision 7: 102 and 302 are answered but not succeeded; only a1 started.
    assert counts(analysis.conversion(call_log)) == [(1, 0)]
    endings = shares(analysis.session_endings(call_log), "ending")
    # a1's last verify with a verdict is the 429 THROTTLED one.
    assert endings == {"initiate failed": (6, 7), "THROTTLED": (1, 7)}


def test_call_failures_name_the_error_else_the_status(call_log) -> None:
    table = analysis.call_failures(call_log)
    assert records(table, ["action", "error", "n", "total"]) == [
        {"action": "initiate", "error": "HTTP 503", "n": 1, "total": 7},
        {"action": "initiate", "error": "RequestTimeoutError", "n": 1, "total": 7},
        {"action": "verify", "error": "HTTP 500", "n": 1, "total": 4},  # error "" is no error
        {"action": "verify", "error": "RequestTimeoutError", "n": 1, "total": 4},
    ]


def test_latency_by_action_and_status_class(call_log) -> None:
    by_action = analysis.latency(call_log)
    distribution(by_action.iloc[[0]], [100.0, 20.0, 300.0, 5000.0, 1.0, 2.0, 3.0])
    distribution(by_action.iloc[[1]].reset_index(drop=True), [10.0, 12.0, 400.0])
    by_class = analysis.latency(call_log, by=["action", "status_class"])
    assert records(by_class, ["action", "status_class", "n"]) == [
        {"action": "initiate", "status_class": "1xx", "n": 1},
        {"action": "initiate", "status_class": "2xx", "n": 1},
        {"action": "initiate", "status_class": "3xx", "n": 1},
        {"action": "initiate", "status_class": "4xx", "n": 2},
        {"action": "initiate", "status_class": "5xx", "n": 1},
        {"action": "initiate", "status_class": "none", "n": 1},
        {"action": "verify", "status_class": "2xx", "n": 1},
        {"action": "verify", "status_class": "4xx", "n": 1},
        {"action": "verify", "status_class": "5xx", "n": 1},
    ]  # the verify that timed out has no latency, so no "none" group for verify


# --- requested and delivered channel ----------------------------------------------------------

CHANNEL_ROWS = rows(
    initiate("h1", 0, requested="totp", method="totp"), verify("h1", 9, method="totp"),
    initiate("h2", 0, requested="totp", method="sms", fallback=True), verify("h2", 9, method="sms"),
    initiate("h3", 0, requested="sms", method="sms"),
    verify("h3", 9, verified=False, method="sms"),
    initiate("h4", 0, requested="totp", method=None, status=None, error="RequestTimeoutError"),
)  # fmt: skip


@pytest.fixture(scope="module")
def channel_log() -> Analysis:
    return Analysis(to_frame(CHANNEL_ROWS))


def test_sessions_group_by_requested_or_by_delivered_channel(channel_log) -> None:
    # Asked for: totp h1, h2, h4 (2 verified); sms h3. Delivered: totp h1; sms h2 (the
    # fallback), h3; none for h4, whose initiate got no answer: a group of its own, last.
    requested = analysis.session_success(channel_log, by="requested_method")
    assert counts(requested, "requested_method") == [("sms", 1, 0), ("totp", 3, 2)]
    delivered = analysis.session_success(channel_log, by="method")
    assert counts(delivered, "method") == [("sms", 2, 1), ("totp", 1, 1), (None, 1, 0)]


def test_fallback_counts_answered_totp_initiates(channel_log) -> None:
    # TOTP asked and a method came back: h1 (totp) and h2 (sms); h4 got no answer.
    assert counts(analysis.fallback(channel_log)) == [(2, 1)]
    assert counts(analysis.fallback_rate(channel_log)) == [(2, 1)]


def test_attempt_success_groups_verify_calls_by_their_own_row(channel_log) -> None:
    table = analysis.attempt_success(channel_log, by="method")
    assert counts(table, "method") == [("sms", 2, 1), ("totp", 1, 1)]


def test_session_metrics_refuse_columns_only_verify_rows_have(channel_log) -> None:
    with pytest.raises(ValueError, match="result"):
        analysis.session_success(channel_log, by="result")
    with pytest.raises(ValueError, match="no_such_column"):
        analysis.session_success(channel_log, by=["country", "no_such_column"])


# --- verify outcomes and verify errors --------------------------------------------------------

VERIFY_ROWS = rows(
    verify("v", 1),
    verify("v", 2, verified=False, result="INVALID"),
    verify("v", 3, verified=False, result="INVALID"),
    verify("v", 4, verified=False, result="EXPIRED"),
    verify("v", 5, verified=False, status=429, result="THROTTLED"),
    verify("v", 6, verified=False, status=None, result="INVALID", error="ConnectionError"),
    verify("v", 7, verified=None, error="RequestTimeoutError"),
    verify("v", 8, verified=None, status=503, error=""),  # "" is no error: UNKNOWN
    verify("v", 9, verified=None, error="RequestTimeoutError"),
)


@pytest.fixture(scope="module")
def verify_log() -> Analysis:
    return Analysis(to_frame(VERIFY_ROWS))


def test_verify_outcomes_count_answered_refusals_by_result(verify_log) -> None:
    # Answered with verified false: 2 INVALID, EXPIRED, THROTTLED (the INVALID without a
    # status was not answered). Most frequent first.
    table = analysis.verify_outcomes(verify_log)
    assert records(table, ["result", "n", "total"]) == [
        {"result": "INVALID", "n": 2, "total": 4},
        {"result": "EXPIRED", "n": 1, "total": 4},
        {"result": "THROTTLED", "n": 1, "total": 4},
    ]
    assert table.loc[0, "share"] == 0.5
    assert (table.loc[0, "ci_low"], table.loc[0, "ci_high"]) == pytest.approx(hand_wilson(2, 4))


def test_verify_errors_count_calls_without_a_verdict_among_all_verify_calls(verify_log) -> None:
    table = analysis.verify_errors(verify_log)
    assert shares(table, "error") == {"RequestTimeoutError": (2, 9), "UNKNOWN": (1, 9)}
    # The verdicts: one true among six (the unanswered false counts: it has a verdict).
    assert counts(analysis.attempt_success(verify_log)) == [(6, 1)]


# --- attempts to success and time to verify ---------------------------------------------------

ATTEMPT_ROWS = rows(
    # t1: the first verified verify by ts is attempt 4 at 20 s, not attempt 3 at 30 s; the
    # timed-out verify is no attempt. Attempts 2, 20 s.
    initiate("t1", 0),
    verify("t1", 5, verified=None, attempt=1, error="RequestTimeoutError"),
    verify("t1", 10, verified=False, attempt=2),
    verify("t1", 30, verified=True, attempt=3),
    verify("t1", 20, verified=True, attempt=4),
    # t2: a tie on (ts, attempt): both are "up to and including" the first verified one,
    # whatever the reading order. Attempts 2, 5 s.
    initiate("t2", 0),
    verify("t2", 5, verified=True, attempt=1),
    verify("t2", 5, verified=False, attempt=1),
    # t3: one ts; attempt 1 comes before attempt 2, an empty attempt after both. 2, 8 s.
    initiate("t3", 100),
    verify("t3", 108, verified=True, attempt=2),
    verify("t3", 108, verified=False, attempt=1),
    verify("t3", 108, verified=False),
    # t4: three wrong PINs first. 4, 45.5 s.
    initiate("t4", 0),
    verify("t4", 10, verified=False, attempt=1),
    verify("t4", 20, verified=False, attempt=2),
    verify("t4", 30, verified=False, attempt=3),
    verify("t4", 45.5, verified=True, attempt=4),
    # t5: at once, in a fraction of a second. 1, 1.25 s.
    initiate("t5", 0), verify("t5", 1.25, attempt=1),
    # t6: never verified: in neither distribution.
    initiate("t6", 0), verify("t6", 3, verified=False), verify("t6", 4, verified=None),
    # t7: no attempt numbers at all; by ts. 2, 7 s.
    initiate("t7", 0), verify("t7", 7, verified=True), verify("t7", 6, verified=False),
)  # fmt: skip
ATTEMPTS = [2, 2, 2, 4, 1, 2]
SECONDS = [20.0, 5.0, 8.0, 45.5, 1.25, 7.0]


@pytest.fixture(scope="module")
def attempt_log() -> Analysis:
    return Analysis(to_frame(ATTEMPT_ROWS))


def test_attempts_to_success_count_answered_verifies_up_to_the_first_verified(
    attempt_log,
) -> None:
    distribution(analysis.attempts_to_success(attempt_log), ATTEMPTS)


def test_time_to_verify_runs_to_the_first_verified_verify_by_ts(attempt_log) -> None:
    distribution(analysis.time_to_verify(attempt_log), SECONDS)


def test_verified_sessions_give_the_values_behind_both_distributions(attempt_log) -> None:
    table = analysis.verified_sessions(attempt_log)
    pairs = sorted(zip(table["attempts"], table["seconds"], strict=True), key=lambda p: p[1])
    assert pairs == sorted(zip(ATTEMPTS, SECONDS, strict=True), key=lambda p: p[1])


def test_session_endings_of_the_attempts_log(attempt_log) -> None:
    # t6's last verify with a verdict (by ts) is its wrong PIN at 3 s.
    endings = shares(analysis.session_endings(attempt_log), "ending")
    assert endings == {"verified": (6, 7), "INVALID": (1, 7)}


# --- cleaning ---------------------------------------------------------------------------------

DIRTY_ROWS: list[Mapping[str, Any]] = [
    # campaign A
    {"event_id": "e1", **initiate("k1", 0)},  # 0 kept
    {"event_id": "e2", **verify("k1", 10, verified=False)},  # 1 kept
    {"event_id": "e3", **verify("k1", 11), "ts": None},  # 2 incomplete: no ts
    {"event_id": "e4", **verify("k1", 12), "action": None},  # 3 incomplete: no action
    {"event_id": "e5", **initiate(None, 0)},  # 4 incomplete: no session_id
    {"event_id": "e6", **initiate("", 0)},  # 5 incomplete: "" is no session_id
    # campaign B, logged with the same event ids
    {"event_id": "e1", **initiate("k1", 0)},  # 6 duplicate
    {"event_id": "e2", **verify("k1", 10)},  # 7 duplicate (verified: it must not count)
    {"event_id": None, **initiate("k2", 0)},  # 8 kept
    {"event_id": None, **verify("k2", 5)},  # 9 kept: no event id is no duplicate
    {"event_id": "", **verify("k2", 7, verified=False)},  # 10 kept: "" is no event id
    {"event_id": "e11", **verify("k3", -5)},  # 11 verify before its initiate
    {"event_id": "e12", **initiate("k3", 0)},  # 12 kept
    {"event_id": "e13", **verify("k3", 0)},  # 13 kept: at exactly its initiate's ts
    {"event_id": "e2", **verify("k3", -10)},  # 14 duplicate first (also early)
    {"event_id": "e1", **initiate("k9", 0), "ts": None},  # 15 incomplete first (also dup id)
    {"event_id": "e9", **verify("k3", 20), "action": None},  # 16 incomplete
    {"event_id": "e9", **verify("k3", 20, verified=False)},  # 17 kept: e9's first complete row
    {"event_id": "e18", **initiate("k4", 30)},  # 18 kept, a call only (decision 4)
    {"event_id": "e19", **initiate("k4", 10)},  # 19 kept: k4's initiate, the earliest
    {"event_id": "e20", **verify("k4", 20)},  # 20 kept: after k4's earliest initiate
    {"event_id": "e21", **verify("k5", 3)},  # 21 kept: no initiate, a call only
]


@pytest.fixture(scope="module")
def dirty_log() -> Analysis:
    return Analysis(to_frame(DIRTY_ROWS))


def test_set_aside_counts_each_row_once_under_its_first_reason(dirty_log) -> None:
    assert analysis.set_aside(dirty_log).to_dict("list") == {
        "reason": ["incomplete", "duplicate", "verify before its initiate"],
        "rows": [6, 3, 1],  # rows 2-5, 15, 16; rows 6, 7, 14; row 11
    }
    assert dirty_log.extent()[0] == 22 - 10


def test_cleaning_keeps_the_first_occurrence_and_drops_early_verifies_from_calls(
    dirty_log,
) -> None:
    # Kept initiates: rows 0, 8, 12, 18, 19. Kept verifies: 1, 9, 10, 13, 17, 20, 21.
    assert counts(analysis.availability(dirty_log), "action") == [
        ("initiate", 5, 5),
        ("verify", 7, 7),
    ]
    # Verified verifies kept: 9 (k2), 13 (k3), 20 (k4), 21 (k5); not 7 (B's e2), nor 11.
    assert counts(analysis.attempt_success(dirty_log)) == [(7, 4)]
    # Sessions k1..k4 (k5 has no initiate); k1's kept verify is campaign A's wrong PIN.
    assert counts(analysis.session_success(dirty_log)) == [(4, 3)]
    # k2 5 s; k3 0 s (a verify at its initiate's ts); k4 from its earliest initiate, 10 s.
    distribution(analysis.time_to_verify(dirty_log), [5.0, 0.0, 10.0])
    distribution(analysis.attempts_to_success(dirty_log), [1, 1, 1])


# --- empty text is empty ----------------------------------------------------------------------

BLANK_ROWS = rows(
    initiate("b1", 0, country=""), verify("b1", 3),
    initiate("b2", 0), verify("b2", 3, verified=False),
    initiate("b3", 0, country="EE"), verify("b3", 3, verified=None, error="", status=502),
)  # fmt: skip


def test_an_empty_string_is_an_empty_value() -> None:
    data = Analysis(to_frame(BLANK_ROWS))
    # country "" and no country are one group, the missing one, listed last.
    by_country = analysis.session_success(data, by="country")
    assert counts(by_country, "country") == [("EE", 1, 0), (None, 2, 1)]
    assert shares(analysis.verify_errors(data), "error") == {"UNKNOWN": (1, 3)}


# --- the funnel -------------------------------------------------------------------------------

FUNNEL_ROWS = rows(
    initiate("f1", 0), verify("f1", 5),  # every stage
    initiate("f2", 0), verify("f2", 5, verified=False),  # tried
    initiate("f3", 0),  # started
    initiate("f4", 0, status=503, method=None), verify("f4", 5),  # verified, not started
    initiate("f5", 0, status=None, method=None, error="RequestTimeoutError"),
    initiate("f6", 0), verify("f6", 5, verified=None, error="RequestTimeoutError"),  # tried
)  # fmt: skip


@pytest.fixture(scope="module")
def funnel_log() -> Analysis:
    return Analysis(to_frame(FUNNEL_ROWS))


def test_funnel_stages_nest_with_dropout_from_the_stage_before(funnel_log) -> None:
    # initiated 6; started f1 f2 f3 f6 = 4; tried f1 f2 f6 = 3; verified f1 = 1 (f4 verified
    # without starting, so it stays out of the nested stages).
    table = analysis.funnel(funnel_log)
    assert list(table.columns) == ["stage", "n", "share", "ci_low", "ci_high", "dropout"]
    assert table["stage"].astype(str).tolist() == ["initiated", "started", "tried", "verified"]
    assert table["n"].tolist() == [6, 4, 3, 1]
    assert table["share"].tolist() == pytest.approx([1, 4 / 6, 3 / 6, 1 / 6])
    assert math.isnan(table.loc[0, "dropout"])
    assert table["dropout"].tolist()[1:] == pytest.approx([1 - 4 / 6, 1 - 3 / 4, 1 - 1 / 3])
    assert counts(analysis.session_success(funnel_log)) == [(6, 2)]


def test_each_session_ends_one_way_first_that_applies(funnel_log) -> None:
    endings = shares(analysis.session_endings(funnel_log), "ending")
    assert endings == {
        "verified": (2, 6),  # f1, and f4: verified comes before initiate failed
        "INVALID": (1, 6),
        "never tried": (1, 6),
        "initiate failed": (1, 6),
        "unknown": (1, 6),  # f6: a verify row, none with a verdict
    }


ENDING_ROWS = rows(
    initiate("n1", 0), verify("n1", 5, verified=False), verify("n1", 9),
    initiate("n2", 0, status=503, method=None), verify("n2", 5, verified=False),
    initiate("n3", 0),
    initiate("n4", 0), verify("n4", 5, verified=None, error="RequestTimeoutError"),
    # The last verify with a verdict by ts is the THROTTLED one; by attempt it would be the
    # INVALID one, and the last row of all has no verdict.
    initiate("n5", 0),
    verify("n5", 10, verified=False, attempt=2, result="INVALID"),
    verify("n5", 20, verified=False, attempt=1, status=429, result="THROTTLED"),
    verify("n5", 30, verified=None, attempt=3, error="RequestTimeoutError"),
    initiate("n6", 0),
    verify("n6", 10, verified=False, result="EXPIRED"), verify("n6", 20, verified=False),
    # One ts: attempt 2 is after attempt 1, whatever the reading order.
    initiate("n7", 0),
    verify("n7", 10, verified=False, attempt=2, result="EXPIRED"),
    verify("n7", 10, verified=False, attempt=1, result="INVALID"),
    initiate("n8", 0), verify("n8", 5, verified=False),
)  # fmt: skip


def test_session_endings_take_the_last_verdict_by_ts_then_attempt() -> None:
    table = analysis.session_endings(to_frame(ENDING_ROWS))
    assert shares(table, "ending") == {
        "INVALID": (2, 8),  # n6, n8
        "EXPIRED": (1, 8),  # n7
        "THROTTLED": (1, 8),  # n5
        "initiate failed": (1, 8),
        "never tried": (1, 8),
        "unknown": (1, 8),
        "verified": (1, 8),
    }
    assert table["n"].tolist()[0] == 2  # the most frequent ending first


# --- logins -----------------------------------------------------------------------------------

LOGIN_ROWS = rows(
    # u1: s2 exactly 10 minutes after s1 (one login, s2's failed initiate included); s3
    # 10 min 1 s after s2 (a new login). The first login's country is s1's.
    initiate("s1", 0, service_id="svc", user_id="u1", country="EE"),
    verify("s1", 30, verified=False),
    initiate("s2", 600, status=503, method=None, service_id="svc", user_id="u1", country="LV"),
    initiate("s3", 1201, service_id="svc", user_id="u1"), verify("s3", 1230),
    # u2: a resend five minutes later; the first session verified.
    initiate("s4", 0, service_id="svc", user_id="u2"), verify("s4", 20),
    initiate("s5", 300, service_id="svc", user_id="u2"),
    # The same user id at another service is another user.
    initiate("s6", 100, service_id="svc2", user_id="u1"),
    # No user id: the missing user is a user of its own, like any missing group value.
    initiate("s7", 0, service_id="svc"), initiate("s8", 30, service_id="svc"),
    # u3: across midnight, 9 min 59 s apart: one login, on its first session's day.
    initiate("s9", "2024-05-01T23:55:00Z", service_id="svc", user_id="u3"),
    initiate("s10", "2024-05-02T00:04:59Z", service_id="svc", user_id="u3"),
    verify("s10", "2024-05-02T00:05:30Z"),
)  # fmt: skip


@pytest.fixture(scope="module")
def login_log() -> Analysis:
    return Analysis(to_frame(LOGIN_ROWS))


def test_logins_split_on_a_gap_longer_than_ten_minutes(login_log) -> None:
    # Logins: {s1,s2} {s3}* {s4,s5}* {s6} {s7,s8} {s9,s10}*   (* verified)
    assert counts(analysis.login_conversion(login_log)) == [(6, 3)]
    assert counts(analysis.resend_rate(login_log)) == [(6, 4)]
    distribution(analysis.resends(login_log), [1, 0, 1, 0, 1, 1])


def test_a_login_takes_its_group_and_period_from_its_first_session(login_log) -> None:
    by_country = analysis.login_conversion(login_log, by="country")
    assert counts(by_country, "country") == [("EE", 1, 0), (None, 5, 3)]
    daily = analysis.login_conversion(login_log, period="D")
    assert counts(daily, "period") == [(pd.Timestamp("2024-05-01", tz="UTC"), 6, 3)]


def test_a_shorter_gap_splits_more_logins() -> None:
    # gap 5 min: {s1} {s2} {s3}* {s4,s5}* (exactly 5 min) {s6} {s7,s8} {s9} {s10}*
    log = to_frame(LOGIN_ROWS)
    gap = timedelta(minutes=5)
    assert counts(analysis.login_conversion(log, gap=gap)) == [(8, 3)]
    assert counts(analysis.resend_rate(log, gap=gap)) == [(8, 2)]


# --- SMS per verified session -----------------------------------------------------------------

SMS_ROWS = rows(
    initiate("m1", 0), verify("m1", 40),
    initiate("m1", 30),  # a second SMS in the same session: an initiate that succeeded
    initiate("m2", 0),
    initiate("m3", 0, status=503),  # not succeeded, so not counted
    initiate("m4", 0, requested="totp", method="totp"), verify("m4", 10),
)  # fmt: skip


def test_sms_per_verified_session_counts_every_sms_initiate_that_succeeded() -> None:
    # Decision 13: initiates m1, m1 again, m2 = 3 SMS; verified sessions m1, m4 = 2.
    table = analysis.sms_per_verified_session(to_frame(SMS_ROWS))
    assert records(table, ["numerator", "denominator", "value"]) == [
        {"numerator": 3, "denominator": 2, "value": 1.5}
    ]


def test_sms_per_verified_session_is_empty_without_a_verified_session() -> None:
    log = to_frame(rows(initiate("m1", 0), initiate("m2", 0), verify("m2", 5, verified=False)))
    table = analysis.sms_per_verified_session(log)
    assert records(table, ["numerator", "denominator", "value"]) == [
        {"numerator": 2, "denominator": 0, "value": None}
    ]


# --- groups and empty tables ------------------------------------------------------------------


def test_categorical_columns_group_with_the_categories_present() -> None:
    log = to_frame(rows(initiate("g1", 0, method="sms"), initiate("g2", 0, method="sms")))
    assert isinstance(log["method"].dtype, pd.CategoricalDtype)
    assert counts(analysis.session_success(log, by="method"), "method") == [("sms", 2, 0)]


def test_a_grouped_table_lists_only_groups_with_rows_in_its_denominator() -> None:
    log = to_frame(
        rows(
            initiate("g1", 0, country="EE"),
            initiate("g2", 0, country="LV", status=503, method=None),
        )
    )
    assert counts(analysis.conversion(log, by="country"), "country") == [("EE", 1, 0)]
    assert counts(analysis.conversion(log.iloc[[1]], by="country"), "country") == []


ONE_ROW_KINDS = ("rate", "distribution", "ratio")


@pytest.mark.parametrize("name", [n for n, m in METRICS.items() if m.kind in ONE_ROW_KINDS])
def test_without_groups_a_table_has_one_row_even_on_an_empty_log(name) -> None:
    table = analysis.metric_table(empty_frame(), name)
    assert len(table) == 1
    count = "denominator" if METRICS[name].kind == "ratio" else "n"
    assert table.loc[0, count] == 0
    value = {"rate": "rate", "distribution": "mean", "ratio": "value"}[METRICS[name].kind]
    assert math.isnan(table.loc[0, value])
    if METRICS[name].kind == "rate":
        assert math.isnan(table.loc[0, "ci_low"]) and math.isnan(table.loc[0, "ci_high"])
    assert analysis.metric_table(empty_frame(), name, by="country", period="W").empty


def test_the_funnel_of_an_empty_log_has_its_stages_at_zero() -> None:
    table = analysis.funnel(empty_frame())
    assert table["n"].tolist() == [0, 0, 0, 0]
    assert analysis.set_aside(empty_frame())["rows"].tolist() == [0, 0, 0]
    assert analysis.compare_periods(empty_frame()).empty


# --- periods ----------------------------------------------------------------------------------

PERIOD_ROWS = rows(
    initiate("p1", "2024-05-05T23:59:59Z"),  # Sunday: ISO week of Monday 29 April
    verify("p1", "2024-05-06T00:00:10Z"),  # a call of the next week
    initiate("p2", "2024-05-06T00:00:00Z"),  # Monday: a new week
    initiate("p3", "2024-05-06T01:30:00+02:00"),  # 23:30 on Sunday in UTC
    initiate("p4", "2024-05-31T23:59:59Z"),
    initiate("p5", "2024-06-01T00:00:00Z"),
    initiate("p6", "2024-12-30T12:00:00Z"),  # Monday of ISO week 1 of 2025
    initiate("p7", "2025-01-01T00:00:00Z"),  # same week, another month and year
)


def utc(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


@pytest.fixture(scope="module")
def period_log() -> Analysis:
    return Analysis(to_frame(PERIOD_ROWS))


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        pytest.param(
            "D",
            [("2024-05-05", 2, 1), ("2024-05-06", 1, 0), ("2024-05-31", 1, 0),
             ("2024-06-01", 1, 0), ("2024-12-30", 1, 0), ("2025-01-01", 1, 0)],
            id="day",
        ),
        pytest.param(
            "W",
            [("2024-04-29", 2, 1), ("2024-05-06", 1, 0), ("2024-05-27", 2, 0),
             ("2024-12-30", 2, 0)],
            id="iso-week-from-monday",
        ),
        pytest.param(
            "M",
            [("2024-05-01", 4, 1), ("2024-06-01", 1, 0), ("2024-12-01", 1, 0),
             ("2025-01-01", 1, 0)],
            id="month",
        ),
    ],
)  # fmt: skip
def test_sessions_fall_in_utc_calendar_periods(period_log, period, expected) -> None:
    table = analysis.session_success(period_log, period=period)
    assert str(table["period"].dtype) == "datetime64[us, UTC]"
    assert counts(table, "period") == [(utc(day), n, s) for day, n, s in expected]


def test_a_call_falls_in_the_period_of_its_own_row(period_log) -> None:
    weekly = analysis.attempt_success(period_log, period="W")
    assert counts(weekly, "period") == [(utc("2024-05-06"), 1, 1)]


def test_bad_periods_are_refused(period_log) -> None:
    with pytest.raises(ValueError, match="period must"):
        analysis.session_success(period_log, period="Q")


# --- period comparison ------------------------------------------------------------------------

W1, W2, W3 = utc("2024-05-06"), utc("2024-05-13"), utc("2024-05-20")
COMPARED = (
    "session_success",
    "conversion",
    "availability",
    "attempt_success",
    "fallback",
    "login_conversion",
)

COMPARE_ROWS = rows(
    # W1: x1 (EE, TOTP asked, SMS used, verified), x2 (LV, not verified)
    initiate("x1", "2024-05-07T10:00:00Z", requested="totp", method="sms", country="EE",
             service_id="svc", user_id="u1"),
    verify("x1", "2024-05-07T10:00:30Z", country="EE"),
    initiate("x2", "2024-05-08T10:00:00Z", country="LV", service_id="svc", user_id="u2"),
    verify("x2", "2024-05-08T10:00:30Z", verified=False, country="LV"),
    # W2: x3 (EE, verified)
    initiate("x3", "2024-05-14T10:00:00Z", country="EE", service_id="svc", user_id="u1"),
    verify("x3", "2024-05-14T10:00:30Z", country="EE"),
    # W3, the running week: one verify (FI) whose initiate is not in the log
    verify("x4", "2024-05-20T00:00:05Z", country="FI"),
    # Set aside (no action), so its later ts does not move the current period (decision 11)
    {**initiate("x5", "2024-06-30T00:00:00Z", country="FI"), "action": None},
)  # fmt: skip


@pytest.fixture(scope="module")
def compare_log() -> Analysis:
    return Analysis(to_frame(COMPARE_ROWS))


def sides(table: pd.DataFrame, metric: str, **group: Any) -> list[tuple[int, int, int, int]]:
    """(previous n, successes, current n, successes) of ``metric``'s rows in ``group``."""
    picked = table[table["metric"] == metric]
    for column, value in group.items():
        picked = picked[picked[column].isna() if value is None else picked[column] == value]
    columns = ["previous_n", "previous_successes", "current_n", "current_successes"]
    return [tuple(r.values()) for r in records(picked, columns)]


def test_compare_takes_one_latest_complete_period_for_every_metric(compare_log) -> None:
    # The log's last ts is in W3, so W2 is the latest complete week for every metric, also
    # for fallback, whose only row is in W1.
    table = analysis.compare_periods(compare_log)
    assert list(dict.fromkeys(table["metric"])) == list(COMPARED)
    assert set(table["current_period"]) == {W2} and set(table["previous_period"]) == {W1}
    assert table["current_complete"].all()
    assert sides(table, "session_success") == [(2, 1, 1, 1)]
    assert sides(table, "fallback") == [(1, 1, 0, 0)]
    assert sides(table, "login_conversion") == [(2, 1, 1, 1)]
    # availability per action: initiates x1 x2 | x3; verifies x1 x2 | x3 (x4 is in W3)
    assert sides(table, "availability", action="initiate") == [(2, 2, 1, 1)]
    assert sides(table, "availability", action="verify") == [(2, 2, 1, 1)]
    row = table[table["metric"] == "session_success"].iloc[0]
    assert row["change_pp"] == pytest.approx(50.0)  # 100 % now, 50 % before
    fallback = table[table["metric"] == "fallback"].iloc[0]
    assert math.isnan(fallback["current_rate"]) and math.isnan(fallback["p_value"])
    assert not fallback["significant"]


def test_compare_gives_every_group_present_a_row_with_n_zero_where_it_has_none(
    compare_log,
) -> None:
    table = analysis.compare_periods(compare_log, by="country")
    # FI appears only in W3, LV only in W1: both still get a row for every metric.
    assert sides(table, "session_success", country="EE") == [(1, 1, 1, 1)]
    assert sides(table, "session_success", country="FI") == [(0, 0, 0, 0)]
    assert sides(table, "session_success", country="LV") == [(1, 0, 0, 0)]
    assert sides(table, "attempt_success", country="FI") == [(0, 0, 0, 0)]
    assert sides(table, "fallback", country="LV") == [(0, 0, 0, 0)]
    assert sides(table, "availability", action="verify", country="FI") == [(0, 0, 0, 0)]
    assert sides(table, "availability", action="initiate", country="FI") == []  # never present
    for metric in set(COMPARED) - {"availability"}:
        assert table[table["metric"] == metric]["country"].tolist() == ["EE", "FI", "LV"]


@pytest.mark.parametrize(
    ("options", "previous", "current", "complete"),
    [
        pytest.param({"now": "2024-05-19T23:00:00Z"}, utc("2024-04-29"), W1, True, id="now"),
        pytest.param({"now": "2024-05-20T00:00:00Z"}, W1, W2, True, id="now-at-the-end"),
        pytest.param({"include_partial": True}, W2, W3, False, id="include-partial"),
        pytest.param({"now": "2024-06-12"}, utc("2024-05-27"), utc("2024-06-03"), True,
                     id="a-complete-week-with-no-rows"),
    ],
)  # fmt: skip
def test_compare_chooses_the_current_period_from_now_or_the_running_one(
    compare_log, options, previous, current, complete
) -> None:
    table = analysis.compare_periods(compare_log, metrics="session_success", **options)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["previous_period"], row["current_period"]) == (previous, current)
    assert row["current_complete"] == complete


def test_compare_with_now_on_an_empty_log_gives_each_metric_n_zero() -> None:
    table = analysis.compare_periods(empty_frame(), metrics="session_success", now="2024-05-20")
    assert sides(table, "session_success") == [(0, 0, 0, 0)]


# Attempt success by country, W1 -> W2. EE is Newcombe's (1998) example (a) of Table II
# backwards (48/80 before, 56/70 now), LV example (b) (3/10, 9/10); FI a pooled z of exactly
# 2; GB and US stay at 100 % and 0 %, where the z-test is undefined.
STATS_GROUPS = {
    "EE": ((48, 80), (56, 70)),
    "LV": ((3, 10), (9, 10)),
    "FI": ((20, 50), (30, 50)),
    "GB": ((5, 5), (7, 7)),
    "US": ((0, 3), (0, 4)),
}


def _stats_rows() -> list[Mapping[str, Any]]:
    made = []
    for country, sides_ in STATS_GROUPS.items():
        for day, (hits, n) in zip(("2024-05-07", "2024-05-14"), sides_, strict=True):
            made += [
                verify("z", f"{day}T10:00:{i % 60:02d}Z", verified=i < hits, country=country)
                for i in range(n)
            ]
    return rows(*made)


@pytest.fixture(scope="module")
def stats_table() -> pd.DataFrame:
    log = to_frame(_stats_rows())
    table = analysis.compare_periods(log, metrics="attempt_success", by="country", now=W3)
    return table.set_index("country")


@pytest.mark.parametrize(
    ("country", "low", "high"),
    [pytest.param("EE", 5.24, 33.39, id="56-70-vs-48-80"),
     pytest.param("LV", 17.05, 80.90, id="9-10-vs-3-10")],
)  # fmt: skip
def test_the_change_interval_is_newcombes_published_hybrid_score_interval(
    stats_table, country, low, high
) -> None:
    row = stats_table.loc[country]
    (x0, n0), (x1, n1) = STATS_GROUPS[country]
    assert row["change_pp"] == pytest.approx(100 * (x1 / n1 - x0 / n0))
    assert round(row["change_ci_low_pp"], 2) == low
    assert round(row["change_ci_high_pp"], 2) == high


def test_the_p_value_is_the_pooled_two_proportion_z_test(stats_table) -> None:
    from statsmodels.stats.proportion import proportions_ztest

    for country in ("EE", "LV", "FI"):
        (x0, n0), (x1, n1) = STATS_GROUPS[country]
        expected = proportions_ztest([x1, x0], [n1, n0])[1]
        assert stats_table.loc[country, "p_value"] == pytest.approx(expected, rel=1e-9)
        assert stats_table.loc[country, "p_value"] == pytest.approx(pooled_z_p(x1, n1, x0, n0))
    # FI: pooled 0.5, se = sqrt(0.25 * 2 / 50) = 0.1, z = 0.2 / 0.1 = 2.
    assert stats_table.loc["FI", "p_value"] == pytest.approx(2 * (1 - NormalDist().cdf(2.0)))


def test_p_values_are_holm_adjusted_across_the_groups_with_a_test(stats_table) -> None:
    raw = {c: pooled_z_p(*STATS_GROUPS[c][1], *STATS_GROUPS[c][0]) for c in ("EE", "LV", "FI")}
    ordered = sorted(
        raw, key=lambda country: raw[country]
    )  # Holm by hand: m = 3; GB and US are left out
    adjusted, running = {}, 0.0
    for rank, country in enumerate(ordered):
        running = max(running, min(1.0, (3 - rank) * raw[country]))
        adjusted[country] = running
    for country, value in adjusted.items():
        assert stats_table.loc[country, "p_adjusted"] == pytest.approx(value)
        assert stats_table.loc[country, "significant"] == (value < 0.05)


def test_both_periods_at_0_or_100_percent_have_no_p_value(stats_table) -> None:
    for country in ("GB", "US"):
        row = stats_table.loc[country]
        assert math.isnan(row["p_value"]) and math.isnan(row["p_adjusted"])
        assert not row["significant"]
        assert row["change_pp"] == 0.0


# --- the same log from a file and from a dataset ----------------------------------------------

MIXED_ROWS: list[Mapping[str, Any]] = [
    *CONVERSION_ROWS, *CALL_ROWS, *CHANNEL_ROWS, *VERIFY_ROWS, *ATTEMPT_ROWS, *DIRTY_ROWS,
    *FUNNEL_ROWS, *LOGIN_ROWS, *SMS_ROWS, *PERIOD_ROWS, *COMPARE_ROWS,
]  # fmt: skip


def _jsonl(path: Any) -> Any:
    with OutcomeLog(path) as log:
        for row in MIXED_ROWS:
            log.append({k: v for k, v in row.items() if v is not None})
    return path


def _parquet(path: Any) -> Any:
    to_frame(MIXED_ROWS).to_parquet(path)
    return path


def _dataset(path: Any) -> Any:
    write_dataset(to_frame(MIXED_ROWS), path)
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Analysis]:
    folder = tmp_path_factory.mktemp("sources")
    return {
        "frame": Analysis(to_frame(MIXED_ROWS)),
        "jsonl": Analysis(_jsonl(folder / "log.jsonl")),
        "parquet": Analysis(_parquet(folder / "log.parquet")),
        "dataset": Analysis(_dataset(folder / "dataset")),
    }


def test_the_dataset_holds_rows_without_ts_as_undated(sources, tmp_path) -> None:
    files = write_dataset(to_frame(DIRTY_ROWS), tmp_path)
    assert "date=undated" in {file.parent.name for file in files}
    assert sources["dataset"].set_aside().equals(sources["frame"].set_aside())
    assert sources["dataset"].extent() == sources["frame"].extent()


@pytest.mark.parametrize("source", ["jsonl", "parquet", "dataset"])
@pytest.mark.parametrize(
    "options", [{}, {"by": "country", "period": "W"}], ids=["whole", "country-week"]
)
@pytest.mark.parametrize("name", list(METRICS))
def test_every_source_gives_the_frames_tables(sources, source, options, name) -> None:
    expected = sources["frame"].table(name, **options)
    pd.testing.assert_frame_equal(sources[source].table(name, **options), expected)


@pytest.mark.parametrize("source", ["jsonl", "parquet", "dataset"])
def test_every_source_gives_the_frames_comparison(sources, source) -> None:
    expected = sources["frame"].compare(by="country", period="D")
    pd.testing.assert_frame_equal(sources[source].compare(by="country", period="D"), expected)


def test_a_torn_last_jsonl_line_is_dropped_and_a_complete_one_is_a_row(tmp_path) -> None:
    path = _jsonl(tmp_path / "log.jsonl")
    whole = path.read_bytes()
    expected = analysis.attempt_success(to_frame(MIXED_ROWS))
    path.write_bytes(whole + b'{"event_id":"torn","ts":"2024-05-0')
    with pytest.warns(DamagedLogWarning):
        pd.testing.assert_frame_equal(analysis.attempt_success(path), expected)
    path.write_bytes(whole.rstrip(b"\n"))
    pd.testing.assert_frame_equal(analysis.attempt_success(path), expected)
