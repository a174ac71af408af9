"""The analysis functions' surface: a small log worked by hand, bad input, no mutation, hand-written
DuckDB SQL as a second opinion on a large log, and docstring-free (``python -OO``) running.

The contract's cases one by one are in ``test_metrics.py``; this file checks the functions the
way a notebook calls them.
"""

from __future__ import annotations

import doctest
import math
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests._synthetic import synthetic_log
from verigator_nb import analysis
from verigator_nb.analysis import _stats
from verigator_nb.schema import empty_frame, to_frame

# Five sessions over two ISO weeks, and one verify whose initiate is not in the log:
#   s1 EE totp->totp     INVALID, VERIFIED                     verified at attempt 2, 50 s
#   s2 EE totp->sms      VERIFIED                              verified at attempt 1, 30 s
#   s3 LV sms->sms       EXPIRED, RequestTimeoutError           not verified
#   s4 LV totp, RequestTimeoutError on initiate                 initiate failed
#   s5 EE sms->sms       INVALID, THROTTLED, VERIFIED           verified at attempt 3, 120 s
#   s0 (no initiate)     VERIFIED                               counts per call only
ROWS: list[Mapping[str, Any]] = [
    {"ts": "2024-05-06T08:00:00Z", "action": "verify", "session_id": "s0", "country": "EE",
     "method": "sms", "verified": True, "result": "VERIFIED", "attempt": 1, "http_status": 200},
    {"ts": "2024-05-06T10:00:00Z", "action": "initiate", "session_id": "s1", "country": "EE",
     "requested_method": "totp", "method": "totp", "fallback": False, "http_status": 200},
    {"ts": "2024-05-06T10:00:20Z", "action": "verify", "session_id": "s1", "country": "EE",
     "method": "totp", "verified": False, "result": "INVALID", "attempt": 1, "http_status": 200},
    {"ts": "2024-05-06T10:00:50Z", "action": "verify", "session_id": "s1", "country": "EE",
     "method": "totp", "verified": True, "result": "VERIFIED", "attempt": 2, "http_status": 200},
    {"ts": "2024-05-07T09:00:00Z", "action": "initiate", "session_id": "s2", "country": "EE",
     "requested_method": "totp", "method": "sms", "fallback": True, "http_status": 200},
    {"ts": "2024-05-07T09:00:30Z", "action": "verify", "session_id": "s2", "country": "EE",
     "method": "sms", "verified": True, "result": "VERIFIED", "attempt": 1, "http_status": 200},
    {"ts": "2024-05-07T12:00:00Z", "action": "initiate", "session_id": "s3", "country": "LV",
     "requested_method": "sms", "method": "sms", "fallback": False, "http_status": 200},
    {"ts": "2024-05-07T12:05:00Z", "action": "verify", "session_id": "s3", "country": "LV",
     "method": "sms", "verified": False, "result": "EXPIRED", "attempt": 1, "http_status": 200},
    {"ts": "2024-05-07T12:05:30Z", "action": "verify", "session_id": "s3", "country": "LV",
     "error": "RequestTimeoutError", "attempt": 2},
    {"ts": "2024-05-13T08:00:00Z", "action": "initiate", "session_id": "s4", "country": "LV",
     "requested_method": "totp", "error": "RequestTimeoutError"},
    {"ts": "2024-05-14T11:00:00Z", "action": "initiate", "session_id": "s5", "country": "EE",
     "requested_method": "sms", "method": "sms", "fallback": False, "http_status": 200},
    {"ts": "2024-05-14T11:00:10Z", "action": "verify", "session_id": "s5", "country": "EE",
     "method": "sms", "verified": False, "result": "INVALID", "attempt": 1, "http_status": 200},
    {"ts": "2024-05-14T11:00:40Z", "action": "verify", "session_id": "s5", "country": "EE",
     "method": "sms", "verified": False, "result": "THROTTLED", "attempt": 2, "http_status": 429},
    {"ts": "2024-05-14T11:02:00Z", "action": "verify", "session_id": "s5", "country": "EE",
     "method": "sms", "verified": True, "result": "VERIFIED", "attempt": 3, "http_status": 200},
]  # fmt: skip

WEEK1 = pd.Timestamp("2024-05-06", tz="UTC")
WEEK2 = pd.Timestamp("2024-05-13", tz="UTC")
RATE_COLUMNS = ["n", "successes", "rate", "ci_low", "ci_high"]


@pytest.fixture
def log() -> pd.DataFrame:
    return to_frame(ROWS)


@pytest.fixture(scope="module")
def prepared() -> analysis.Analysis:
    return analysis.Analysis(to_frame(ROWS))


def records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    picked = frame[columns].astype(object)
    return picked.where(picked.notna(), None).to_dict("records")


# --- hand-computed answers --------------------------------------------------------------------


def test_session_success_counts_initiates_and_ignores_orphan_verifies(prepared) -> None:
    table = analysis.success_rate(prepared)
    assert list(table.columns) == RATE_COLUMNS
    assert records(table, ["n", "successes", "rate"]) == [{"n": 5, "successes": 3, "rate": 0.6}]
    low, high = _stats.wilson_interval([3], [5])
    assert table.loc[0, "ci_low"] == pytest.approx(low[0])
    assert table.loc[0, "ci_high"] == pytest.approx(high[0])


def test_session_success_groups_sessions_by_their_initiate_row(prepared) -> None:
    by_method = analysis.success_rate(prepared, by="method")
    assert records(by_method, ["method", "n", "successes"]) == [
        {"method": "sms", "n": 3, "successes": 2},
        {"method": "totp", "n": 1, "successes": 1},
        {"method": None, "n": 1, "successes": 0},  # the initiate that timed out
    ]
    by_country_week = analysis.success_rate(prepared, by=["country"], period="W")
    assert records(by_country_week, ["country", "period", "n", "successes"]) == [
        {"country": "EE", "period": WEEK1, "n": 2, "successes": 2},
        {"country": "EE", "period": WEEK2, "n": 1, "successes": 1},
        {"country": "LV", "period": WEEK1, "n": 1, "successes": 0},
        {"country": "LV", "period": WEEK2, "n": 1, "successes": 0},
    ]
    assert str(by_country_week["period"].dtype) == "datetime64[us, UTC]"


def test_conversion_leaves_out_the_initiate_that_failed(prepared) -> None:
    assert records(analysis.conversion(prepared), ["n", "successes"]) == [{"n": 4, "successes": 3}]


def test_attempt_success_counts_verify_calls_with_a_verdict(prepared) -> None:
    assert records(analysis.success_rate(prepared, per="attempt"), ["n", "successes"]) == [
        {"n": 8, "successes": 4}
    ]
    daily = analysis.attempt_success(prepared, period="D")
    assert records(daily, ["period", "n", "successes"]) == [
        {"period": pd.Timestamp("2024-05-06", tz="UTC"), "n": 3, "successes": 2},
        {"period": pd.Timestamp("2024-05-07", tz="UTC"), "n": 2, "successes": 1},
        {"period": pd.Timestamp("2024-05-14", tz="UTC"), "n": 3, "successes": 1},
    ]
    by_result = analysis.attempt_success(prepared, by="result")
    assert by_result.set_index("result")["n"].to_dict() == {
        "EXPIRED": 1, "INVALID": 2, "THROTTLED": 1, "VERIFIED": 4,
    }  # fmt: skip


def test_monthly_periods_start_on_the_first_of_the_month(prepared) -> None:
    monthly = analysis.success_rate(prepared, period="M")
    assert records(monthly, ["period", "n"]) == [
        {"period": pd.Timestamp("2024-05-01", tz="UTC"), "n": 5}
    ]


def test_fallback_counts_answered_totp_initiates(prepared) -> None:
    assert records(analysis.fallback_rate(prepared), ["n", "successes", "rate"]) == [
        {"n": 2, "successes": 1, "rate": 0.5}
    ]
    by_country = analysis.fallback(prepared, by="country")
    assert records(by_country, ["country", "n", "successes"]) == [
        {"country": "EE", "n": 2, "successes": 1}  # LV's only TOTP initiate got no answer
    ]


def test_verify_outcomes_and_errors(prepared) -> None:
    outcomes = analysis.verify_outcomes(prepared)
    assert records(outcomes, ["result", "n", "total"]) == [
        {"result": "INVALID", "n": 2, "total": 4},
        {"result": "EXPIRED", "n": 1, "total": 4},
        {"result": "THROTTLED", "n": 1, "total": 4},
    ]
    errors = analysis.verify_errors(prepared, by="country")
    assert records(errors, ["country", "error", "n", "total"]) == [
        {"country": "LV", "error": "RequestTimeoutError", "n": 1, "total": 2}
    ]


def test_verified_sessions_give_attempts_and_seconds_per_session(prepared) -> None:
    sessions = analysis.verified_sessions(prepared).sort_values("seconds")
    assert records(sessions, ["attempts", "seconds"]) == [
        {"attempts": 1, "seconds": 30.0},
        {"attempts": 2, "seconds": 50.0},
        {"attempts": 3, "seconds": 120.0},
    ]


def test_verified_sessions_past_size_are_a_sample_the_same_each_time(prepared) -> None:
    every = records(analysis.verified_sessions(prepared), ["attempts", "seconds"])
    drawn = records(analysis.verified_sessions(prepared, size=2), ["attempts", "seconds"])
    assert len(drawn) == 2
    assert all(row in every for row in drawn)
    assert records(analysis.verified_sessions(prepared, size=2), ["attempts", "seconds"]) == drawn


def test_attempts_to_success_distribution(prepared) -> None:
    table = analysis.attempts_to_success(prepared)
    assert list(table.columns) == ["n", "mean", "p50", "p90", "p99"]
    row = table.iloc[0]
    assert row["n"] == 3 and row["mean"] == 2.0 and row["p50"] == 2.0
    assert row["p90"] == pytest.approx(2.8) and row["p99"] == pytest.approx(2.98)


def test_time_to_verify_distribution_in_seconds(prepared) -> None:
    table = analysis.time_to_verify(prepared, by="method")
    assert records(table, ["method", "n", "p50"]) == [
        {"method": "sms", "n": 2, "p50": 75.0},
        {"method": "totp", "n": 1, "p50": 50.0},
    ]
    overall = analysis.time_to_verify(prepared).iloc[0]
    assert overall["mean"] == pytest.approx(200 / 3)
    assert overall["p90"] == pytest.approx(106.0) and overall["p99"] == pytest.approx(118.6)


def test_funnel_stages_shares_and_dropout(prepared) -> None:
    table = analysis.funnel(prepared)
    assert list(table.columns) == ["stage", "n", "share", "ci_low", "ci_high", "dropout"]
    assert records(table, ["n", "share", "dropout"]) == [
        {"n": 5, "share": 1.0, "dropout": None},
        {"n": 4, "share": 0.8, "dropout": pytest.approx(0.2)},  # s4's initiate failed
        {"n": 4, "share": 0.8, "dropout": 0.0},
        {"n": 3, "share": 0.6, "dropout": pytest.approx(0.25)},
    ]
    by_country = analysis.funnel(prepared, by="country")
    lv = by_country[by_country["country"] == "LV"]
    assert lv["n"].tolist() == [2, 1, 1, 0] and lv["dropout"].tolist()[1:] == [0.5, 0.0, 1.0]


def test_compare_periods_running_week_against_the_one_before(prepared) -> None:
    table = analysis.compare_periods(
        prepared, metrics="session_success", period="W", include_partial=True
    )
    row = table.iloc[0]
    assert (row["previous_period"], row["current_period"]) == (WEEK1, WEEK2)
    assert (row["previous_n"], row["previous_successes"]) == (3, 2)
    assert (row["current_n"], row["current_successes"]) == (2, 1)
    assert row["change_pp"] == pytest.approx(100 * (0.5 - 2 / 3))
    assert not row["current_complete"] and not row["significant"]


def test_compare_periods_by_group_on_a_given_day(prepared) -> None:
    table = analysis.compare_periods(
        prepared, metrics="attempt_success", period="D", by="country", now="2024-05-08"
    )
    assert records(table, ["country", "previous_n", "current_n", "current_successes"]) == [
        {"country": "EE", "previous_n": 3, "current_n": 1, "current_successes": 1},
        {"country": "LV", "previous_n": 0, "current_n": 1, "current_successes": 0},
    ]
    assert table["previous_rate"].isna().tolist() == [False, True]


def test_compare_periods_flags_a_large_change() -> None:
    rows: list[Mapping[str, Any]] = []
    for week, verified_share in (("2024-05-06", 0.1), ("2024-05-13", 0.9)):
        for i in range(100):
            sid = f"{week}-{i}"
            answered = {"session_id": sid, "http_status": 200}
            rows.append({"ts": f"{week}T10:00:00Z", "action": "initiate", **answered})
            verified = i < verified_share * 100
            rows.append({"ts": f"{week}T10:00:09Z", "action": "verify", "verified": verified,
                         **answered})  # fmt: skip
    table = analysis.compare_periods(to_frame(rows), metrics="session_success", now="2024-05-20")
    row = table.iloc[0]
    assert row["significant"] and row["change_pp"] == pytest.approx(80.0)


# --- edges: empty input, missing columns, bad options, no mutation ----------------------------


def test_empty_log_gives_one_empty_row_without_groups_and_no_rows_with_groups() -> None:
    empty = empty_frame()
    for per in ("session", "attempt"):
        row = analysis.success_rate(empty, per=per).iloc[0]
        assert row["n"] == 0 and math.isnan(row["rate"]) and math.isnan(row["ci_low"])
    assert analysis.fallback_rate(empty)["n"].tolist() == [0]
    assert analysis.success_rate(empty, by="country", period="W").empty
    assert analysis.verify_errors(empty).empty
    assert analysis.attempts_to_success(empty)["n"].tolist() == [0]
    assert analysis.time_to_verify(empty, by="country").empty
    assert analysis.funnel(empty)["n"].tolist() == [0, 0, 0, 0]
    assert analysis.compare_periods(empty).empty
    assert analysis.verified_sessions(empty).empty


ALL_FUNCTIONS = [
    pytest.param(getattr(analysis, name), id=name)
    for name in (
        "session_success", "conversion", "availability", "attempt_success", "fallback",
        "login_conversion", "resend_rate", "resends", "verify_outcomes", "verify_errors",
        "call_failures", "session_endings", "attempts_to_success", "time_to_verify", "latency",
        "sms_per_verified_session", "funnel", "compare_periods", "success_rate", "fallback_rate",
    )
]  # fmt: skip


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_functions_never_change_their_input(function, log) -> None:
    before = log.copy(deep=True)
    function(log, by="country")
    pd.testing.assert_frame_equal(log, before)


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_missing_columns_are_named(function, log, prepared) -> None:
    with pytest.raises(ValueError, match="column\\(s\\): action"):
        function(log.drop(columns=["action"]))
    with pytest.raises(ValueError, match="no_such_column"):
        function(prepared, by=["country", "no_such_column"])


def test_optional_columns_may_be_absent(log) -> None:
    table = analysis.session_success(log.drop(columns=["country", "tags"]), by="country")
    assert records(table, ["country", "n", "successes"]) == [
        {"country": None, "n": 5, "successes": 3}
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda df: analysis.success_rate(df, per="user"), "per must", id="per"),
        pytest.param(lambda df: analysis.funnel(df, period="Q"), "period must", id="period"),
        pytest.param(lambda df: analysis.compare_periods(df, metrics="x"), "metric", id="metric"),
        pytest.param(lambda df: analysis.compare_periods(df, metrics="funnel"), "not a rate",
                     id="not-a-rate"),
        pytest.param(lambda df: analysis.compare_periods(df, period=None),  # type: ignore[arg-type]
                     "needs a period", id="no-period"),
        pytest.param(lambda df: analysis.metric_table(df, "nope"), "metric must", id="name"),
        pytest.param(lambda df: analysis.session_success(df, by="period"), "period=",
                     id="period-in-by"),
    ],
)  # fmt: skip
def test_bad_options_raise_value_error(call, message, log) -> None:
    with pytest.raises(ValueError, match=message):
        call(log)


def test_a_source_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(TypeError, match="a log is"):
        analysis.session_success(42)


# --- a second opinion: the same metrics in hand-written DuckDB SQL ----------------------------
# The synthetic log has one initiate per session (or none), complete rows, no duplicates and
# no verify before its initiate, so plain SQL needs no cleaning.


@pytest.fixture(scope="module")
def big_log() -> pd.DataFrame:
    return synthetic_log(60_000, seed=11)


@pytest.fixture(scope="module")
def big(big_log) -> analysis.Analysis:
    return analysis.Analysis(big_log)


@pytest.fixture(scope="module")
def sql(big_log):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("log", big_log)
    yield lambda query: con.execute(query).to_arrow_table().to_pandas()
    con.close()


def same(ours: pd.DataFrame, theirs: pd.DataFrame, keys: list[str]) -> None:
    """Equal after putting both in key order with plain Python keys (None for missing)."""

    def normal(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for key in keys:
            if key == "period":
                frame[key] = pd.to_datetime(frame[key], utc=True).dt.tz_convert("UTC")
            else:
                frame[key] = frame[key].astype(object).where(frame[key].notna(), None)
        frame = frame.sort_values(keys, na_position="last", key=_sortable) if keys else frame
        return frame[list(theirs.columns)].reset_index(drop=True)

    pd.testing.assert_frame_equal(normal(ours), normal(theirs), check_dtype=False, atol=1e-9)


def _sortable(column: pd.Series) -> pd.Series:
    if column.dtype != object:
        return column
    return column.map(lambda value: "\uffff" if value is None else str(value))


WILSON_SQL = """
    (p + z*z/(2*n) - z*sqrt(p*(1-p)/n + z*z/(4*n*n))) / (1 + z*z/n) AS ci_low,
    (p + z*z/(2*n) + z*sqrt(p*(1-p)/n + z*z/(4*n*n))) / (1 + z*z/n) AS ci_high
"""


def test_session_success_and_conversion_match_sql(big, sql) -> None:
    for name, started in (("session_success", "true"), ("conversion", "i.http_status < 300")):
        theirs = sql(f"""
            WITH ok AS (SELECT DISTINCT session_id FROM log WHERE action = 'verify' AND verified),
            s AS (
                SELECT i.country, date_trunc('week', i.ts) AS period,
                       ok.session_id IS NOT NULL AS hit
                FROM log i LEFT JOIN ok ON i.session_id = ok.session_id
                WHERE i.action = 'initiate' AND {started}
            ),
            c AS (SELECT country, period, count(*) AS n, sum(hit::INT) AS successes,
                         successes / n AS p, 1.959963984540054 AS z
                  FROM s GROUP BY country, period)
            SELECT country, period, n, successes, p AS rate, {WILSON_SQL} FROM c
        """)  # fmt: skip
        ours = analysis.metric_table(big, name, by="country", period="W")
        same(ours, theirs, ["country", "period"])


def test_attempt_success_fallback_and_availability_match_sql(big, sql) -> None:
    attempts = sql("""
        SELECT method, date_trunc('day', ts) AS period, count(*) AS n,
               sum(verified::INT) AS successes, successes / n AS rate
        FROM log WHERE action = 'verify' AND verified IS NOT NULL GROUP BY ALL
    """)
    same(analysis.attempt_success(big, by="method", period="D"), attempts, ["method", "period"])
    fallback = sql("""
        SELECT country, count(*) AS n, sum((method = 'sms')::INT) AS successes,
               successes / n AS rate
        FROM log WHERE action = 'initiate' AND requested_method = 'totp'
                   AND method IS NOT NULL
        GROUP BY ALL
    """)
    same(analysis.fallback(big, by="country"), fallback, ["country"])
    availability = sql("""
        SELECT action::VARCHAR AS action, count(*) AS n,
               sum(coalesce(http_status < 500, false)::INT) AS successes
        FROM log GROUP BY ALL
    """)
    same(analysis.availability(big), availability, ["action"])


def test_verify_outcomes_and_errors_match_sql(big, sql) -> None:
    errors = sql("""
        WITH v AS (SELECT method, verified, coalesce(nullif(error, ''), 'UNKNOWN') AS error
                   FROM log WHERE action = 'verify'),
        t AS (SELECT method, count(*) AS total FROM v GROUP BY method)
        SELECT v.method, error, count(*) AS n, any_value(total) AS total
        FROM v JOIN t ON v.method IS NOT DISTINCT FROM t.method
        WHERE verified IS NULL GROUP BY ALL
    """)
    same(analysis.verify_errors(big, by="method"), errors, ["method", "error"])
    outcomes = sql("""
        WITH v AS (SELECT method, result FROM log
                   WHERE action = 'verify' AND http_status < 500 AND NOT verified),
        t AS (SELECT method, count(*) AS total FROM v GROUP BY method)
        SELECT v.method, result, count(*) AS n, any_value(total) AS total
        FROM v JOIN t ON v.method IS NOT DISTINCT FROM t.method GROUP BY ALL
    """)
    same(analysis.verify_outcomes(big, by="method"), outcomes, ["method", "result"])


def test_attempts_and_time_to_verify_match_sql(big, sql) -> None:
    per_session = """
        WITH first AS (
            SELECT session_id, min(ts) AS first_ts
            FROM log WHERE action = 'verify' AND verified GROUP BY session_id
        ),
        counted AS (
            SELECT f.session_id, f.first_ts, count(*) AS attempts
            FROM first f JOIN log v ON v.session_id = f.session_id
            WHERE v.action = 'verify' AND v.verified IS NOT NULL AND v.ts <= f.first_ts
            GROUP BY ALL
        )
        SELECT i.country, c.attempts,
               (epoch_us(c.first_ts) - epoch_us(i.ts)) / 1e6 AS seconds
        FROM log i JOIN counted c ON i.session_id = c.session_id WHERE i.action = 'initiate'
    """
    for value, function in (
        ("attempts", analysis.attempts_to_success),
        ("seconds", analysis.time_to_verify),
    ):
        theirs = sql(f"""
            SELECT country, count({value}) AS n, avg({value}) AS mean,
                   quantile_cont({value}, 0.5) AS p50, quantile_cont({value}, 0.9) AS p90,
                   quantile_cont({value}, 0.99) AS p99
            FROM ({per_session}) GROUP BY country
        """)
        same(function(big, by="country"), theirs, ["country"])


def test_funnel_matches_sql(big, sql) -> None:
    theirs = sql("""
        WITH v AS (SELECT session_id, bool_or(verified) AS hit
                   FROM log WHERE action = 'verify' GROUP BY session_id),
        s AS (SELECT date_trunc('week', i.ts) AS period,
                     coalesce(i.http_status BETWEEN 200 AND 299, false) AS started,
                     v.session_id IS NOT NULL AS tried, coalesce(v.hit, false) AS hit
              FROM log i LEFT JOIN v ON i.session_id = v.session_id
              WHERE i.action = 'initiate'),
        w AS (SELECT period, count(*) AS initiated, sum(started::INT) AS started,
                     sum((started AND tried)::INT) AS tried,
                     sum((started AND tried AND hit)::INT) AS verified FROM s GROUP BY period)
        SELECT period, 'initiated' AS stage, initiated AS n, 1.0 AS share FROM w
        UNION ALL SELECT period, 'started', started, started / initiated FROM w
        UNION ALL SELECT period, 'tried', tried, tried / initiated FROM w
        UNION ALL SELECT period, 'verified', verified, verified / initiated FROM w
    """)
    ours = analysis.funnel(big, period="W")
    ours["stage"] = ours["stage"].astype(str)
    same(ours, theirs, ["period", "stage"])


def test_period_start_matches_duckdb_date_trunc(big, sql) -> None:
    for period, unit in (("D", "day"), ("W", "week"), ("M", "month")):
        theirs = sql(
            f"SELECT date_trunc('{unit}', ts) AS period, count(*) AS n FROM log GROUP BY 1"
        )
        same(analysis.availability(big, by=None, period=period), theirs, ["period"])
        assert np.all(theirs["n"] > 0)


@pytest.mark.parametrize("period", ["D", "W", "M"])
def test_period_starts_at_the_edges_match_duckdb_date_trunc(period) -> None:
    # Days and weeks are counted from the epoch in microseconds (not by the calendar): the
    # moments either side of midnight, of Monday, of a month and of 1970 land where the
    # calendar puts them.
    moments = [
        "1969-12-28T23:59:59.999999Z", "1969-12-29T00:00:00Z", "1969-12-31T12:00:00Z",
        "1970-01-01T00:00:00Z", "1970-01-04T23:59:59.999999Z", "1970-01-05T00:00:00Z",
        "2024-02-29T23:59:59.999999Z", "2024-03-01T00:00:00Z", "2024-12-29T23:59:59.999999Z",
        "2024-12-30T00:00:00.000001Z", "2026-11-27T16:00:00Z",
    ]  # fmt: skip
    rows = [
        {"ts": ts, "action": "initiate", "session_id": f"s{i}", "event_id": f"e{i}"}
        for i, ts in enumerate(moments)
    ]
    ours = analysis.availability(to_frame(rows), by=None, period=period)
    unit = {"D": "day", "W": "week", "M": "month"}[period]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    theirs = (
        con.execute(
            f"SELECT date_trunc('{unit}', ts::TIMESTAMPTZ) AS period, count(*) AS n "
            "FROM unnest(?) AS t(ts) GROUP BY 1 ORDER BY 1",
            [moments],
        )
        .to_arrow_table()
        .to_pandas()
    )
    assert ours["period"].tolist() == pd.to_datetime(theirs["period"], utc=True).tolist()
    assert ours["n"].tolist() == theirs["n"].tolist()


def test_the_collector_is_held_in_the_block_and_restored_after_it() -> None:
    import gc

    assert gc.isenabled()
    with pytest.raises(RuntimeError), analysis.collector_held():
        assert not gc.isenabled()
        raise RuntimeError("a failed report")
    assert gc.isenabled()  # restored even when the block fails
    gc.disable()
    try:
        with analysis.collector_held():
            pass
        assert not gc.isenabled()  # a caller's own choice is left as it was
    finally:
        gc.enable()


def test_a_report_leaves_the_collector_running(big) -> None:
    import gc

    from verigator_nb import report

    report.tables(big)
    assert gc.isenabled()


# --- docstrings -------------------------------------------------------------------------------


def test_docstring_examples_run() -> None:
    failures, tried = doctest.testmod(_stats, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0


def test_metric_help_comes_from_the_registry_and_survives_python_oo() -> None:
    # python -OO strips docstrings; the definitions are data, so they survive it.
    code = (
        "from verigator_nb import analysis; from verigator_nb.schema import to_frame\n"
        "row = {'ts': '2024-05-06T10:00:00Z', 'action': 'initiate', 'session_id': 's'}\n"
        "print(analysis.conversion.__doc__.splitlines()[0])\n"
        "print(int(analysis.session_success(to_frame([row]))['n'].iloc[0]))\n"
    )
    out = subprocess.run([sys.executable, "-OO", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    label = analysis.METRICS["conversion"].label
    assert out.stdout.splitlines() == [f"{label}: {analysis.METRICS['conversion'].definition}", "1"]


# --- control limits ---------------------------------------------------------------------------


def test_p_chart_limits_are_montgomerys_worked_example() -> None:
    # Montgomery, Introduction to Statistical Quality Control (6th ed.), Example 7.1: 30
    # samples of n = 50 cans, 347 nonconforming in all: p-bar 0.2313, UCL 0.4102, LCL 0.0524.
    counts = [12] * 28 + [5, 6]
    periods = pd.date_range("2026-01-01", periods=30, freq="D", tz="UTC")
    table = pd.DataFrame({"period": periods, "n": 50, "successes": counts})
    chart = analysis.p_chart(table)
    assert chart["center"].round(4).unique().tolist() == [0.2313]
    assert chart["ucl"].round(4).unique().tolist() == [0.4102]
    assert chart["lcl"].round(4).unique().tolist() == [0.0524]
    assert chart["signal"].tolist() == [""] * 30


def test_p_chart_limits_widen_on_quiet_days_and_flag_each_group_on_its_own() -> None:
    periods = pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"] * 2, utc=True)
    table = pd.DataFrame(
        {
            "method": ["sms"] * 3 + ["totp"] * 3,
            "period": periods,
            "n": [1000, 10, 1000, 500, 500, 500],
            "successes": [940, 7, 850, 480, 470, 250],
        }
    )
    chart = analysis.p_chart(table)
    sms, totp = chart[chart["method"] == "sms"], chart[chart["method"] == "totp"]
    width = (sms["ucl"] - sms["lcl"]).tolist()
    assert width[1] > 5 * width[0], "ten sessions get far wider limits than a thousand"
    assert sms["signal"].tolist() == ["high", "", "low"] and totp["signal"].tolist()[2] == "low"
    assert sms["center"].iloc[0] == pytest.approx(1797 / 2010)
    empty = analysis.p_chart(table.assign(n=0, successes=0))
    assert empty["lcl"].isna().all() and (empty["signal"] == "").all()
    with pytest.raises(ValueError, match="by period"):
        analysis.p_chart(table.drop(columns="period"))
