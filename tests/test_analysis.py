"""The analysis functions: hand-computed answers, edge cases, and DuckDB SQL as a second opinion."""

from __future__ import annotations

import doctest
import math

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests._synthetic import synthetic_log
from verigator_nb import analysis, plots
from verigator_nb.analysis import _metrics, _periods, _stats
from verigator_nb.analysis._stats import wilson_interval
from verigator_nb.schema import empty_frame, to_frame

# Five sessions over two ISO weeks, and one verify whose initiate is not in the log:
#   s1 EE totp->totp     INVALID, VERIFIED                     verified at attempt 2, 50 s
#   s2 EE totp->sms      VERIFIED                              verified at attempt 1, 30 s
#   s3 LV sms->sms       EXPIRED, RequestTimeoutError           not verified
#   s4 LV totp, RequestTimeoutError on initiate                 never tried
#   s5 EE sms->sms       INVALID, THROTTLED, VERIFIED           verified at attempt 3, 120 s
#   s0 (no initiate)     VERIFIED                               counts per call only
ROWS = [
    {"ts": "2024-05-06T08:00:00Z", "action": "verify", "session_id": "s0", "country": "EE",
     "method": "sms", "verified": True, "result": "VERIFIED", "attempt": 1},
    {"ts": "2024-05-06T10:00:00Z", "action": "initiate", "session_id": "s1", "country": "EE",
     "requested_method": "totp", "method": "totp", "fallback": False},
    {"ts": "2024-05-06T10:00:20Z", "action": "verify", "session_id": "s1", "country": "EE",
     "method": "totp", "verified": False, "result": "INVALID", "attempt": 1},
    {"ts": "2024-05-06T10:00:50Z", "action": "verify", "session_id": "s1", "country": "EE",
     "method": "totp", "verified": True, "result": "VERIFIED", "attempt": 2},
    {"ts": "2024-05-07T09:00:00Z", "action": "initiate", "session_id": "s2", "country": "EE",
     "requested_method": "totp", "method": "sms", "fallback": True},
    {"ts": "2024-05-07T09:00:30Z", "action": "verify", "session_id": "s2", "country": "EE",
     "method": "sms", "verified": True, "result": "VERIFIED", "attempt": 1},
    {"ts": "2024-05-07T12:00:00Z", "action": "initiate", "session_id": "s3", "country": "LV",
     "requested_method": "sms", "method": "sms", "fallback": False},
    {"ts": "2024-05-07T12:05:00Z", "action": "verify", "session_id": "s3", "country": "LV",
     "method": "sms", "verified": False, "result": "EXPIRED", "attempt": 1},
    {"ts": "2024-05-07T12:05:30Z", "action": "verify", "session_id": "s3", "country": "LV",
     "error": "RequestTimeoutError", "attempt": 2},
    {"ts": "2024-05-13T08:00:00Z", "action": "initiate", "session_id": "s4", "country": "LV",
     "requested_method": "totp", "error": "RequestTimeoutError"},
    {"ts": "2024-05-14T11:00:00Z", "action": "initiate", "session_id": "s5", "country": "EE",
     "requested_method": "sms", "method": "sms", "fallback": False},
    {"ts": "2024-05-14T11:00:10Z", "action": "verify", "session_id": "s5", "country": "EE",
     "method": "sms", "verified": False, "result": "INVALID", "attempt": 1},
    {"ts": "2024-05-14T11:00:40Z", "action": "verify", "session_id": "s5", "country": "EE",
     "method": "sms", "verified": False, "result": "THROTTLED", "attempt": 2},
    {"ts": "2024-05-14T11:02:00Z", "action": "verify", "session_id": "s5", "country": "EE",
     "method": "sms", "verified": True, "result": "VERIFIED", "attempt": 3},
]  # fmt: skip

WEEK1 = pd.Timestamp("2024-05-06", tz="UTC")
WEEK2 = pd.Timestamp("2024-05-13", tz="UTC")
RATE_COLUMNS = ["n", "successes", "rate", "ci_low", "ci_high"]


@pytest.fixture
def log() -> pd.DataFrame:
    return to_frame(ROWS)


def records(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    return frame[columns].astype(object).where(frame[columns].notna(), None).to_dict("records")


# --- the Wilson interval ---------------------------------------------------------------------


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
    assert round(float(got_low[0]), 4) == low
    assert round(float(got_high[0]), 4) == high


def test_wilson_interval_is_nan_for_no_trials_and_refuses_impossible_counts() -> None:
    low, high = wilson_interval([0], [0])
    assert math.isnan(low[0]) and math.isnan(high[0])
    with pytest.raises(ValueError, match="between 0 and n"):
        wilson_interval([3], [2])


# --- hand-computed answers -------------------------------------------------------------------


def test_session_success_counts_initiates_and_ignores_orphan_verifies(log) -> None:
    table = analysis.success_rate(log)
    assert list(table.columns) == RATE_COLUMNS
    assert records(table, ["n", "successes", "rate"]) == [{"n": 5, "successes": 3, "rate": 0.6}]
    low, high = wilson_interval([3], [5])
    assert table.loc[0, "ci_low"] == pytest.approx(low[0])
    assert table.loc[0, "ci_high"] == pytest.approx(high[0])


def test_session_success_groups_sessions_by_their_initiate_row(log) -> None:
    by_method = analysis.success_rate(log, by="method")
    assert records(by_method, ["method", "n", "successes"]) == [
        {"method": "totp", "n": 1, "successes": 1},
        {"method": "sms", "n": 3, "successes": 2},
        {"method": None, "n": 1, "successes": 0},  # the initiate that timed out
    ]
    by_country_week = analysis.success_rate(log, by=["country"], period="W")
    assert records(by_country_week, ["country", "period", "n", "successes"]) == [
        {"country": "EE", "period": WEEK1, "n": 2, "successes": 2},
        {"country": "EE", "period": WEEK2, "n": 1, "successes": 1},
        {"country": "LV", "period": WEEK1, "n": 1, "successes": 0},
        {"country": "LV", "period": WEEK2, "n": 1, "successes": 0},
    ]
    assert str(by_country_week["period"].dtype) == "datetime64[us, UTC]"


def test_session_success_refuses_verify_only_group_columns(log) -> None:
    with pytest.raises(ValueError, match="result"):
        analysis.success_rate(log, by="result")


def test_attempt_success_counts_answered_verify_calls(log) -> None:
    assert records(analysis.success_rate(log, per="attempt"), ["n", "successes", "rate"]) == [
        {"n": 8, "successes": 4, "rate": 0.5}
    ]
    daily = analysis.success_rate(log, per="attempt", period="D")
    assert records(daily, ["period", "n", "successes"]) == [
        {"period": pd.Timestamp("2024-05-06", tz="UTC"), "n": 3, "successes": 2},
        {"period": pd.Timestamp("2024-05-07", tz="UTC"), "n": 2, "successes": 1},
        {"period": pd.Timestamp("2024-05-14", tz="UTC"), "n": 3, "successes": 1},
    ]
    by_result = analysis.success_rate(log, per="attempt", by="result")
    assert by_result.set_index("result")["n"].to_dict() == {
        "VERIFIED": 4, "INVALID": 2, "EXPIRED": 1, "THROTTLED": 1,
    }  # fmt: skip


def test_monthly_periods_start_on_the_first_of_the_month(log) -> None:
    monthly = analysis.success_rate(log, period="M")
    assert records(monthly, ["period", "n"]) == [
        {"period": pd.Timestamp("2024-05-01", tz="UTC"), "n": 5}
    ]


def test_fallback_rate_counts_answered_totp_initiates(log) -> None:
    assert records(analysis.fallback_rate(log), ["n", "successes", "rate"]) == [
        {"n": 2, "successes": 1, "rate": 0.5}
    ]
    by_country = analysis.fallback_rate(log, by="country")
    assert records(by_country, ["country", "n", "successes"]) == [
        {"country": "EE", "n": 2, "successes": 1}  # LV's only TOTP initiate got no answer
    ]


def test_failure_reasons_use_result_then_error(log) -> None:
    table = analysis.failure_reasons(log)
    assert list(table.columns) == ["reason", "n", "failed", "share", "ci_low", "ci_high"]
    assert records(table, ["reason", "n", "failed", "share"]) == [
        {"reason": "INVALID", "n": 2, "failed": 5, "share": 0.4},
        {"reason": "EXPIRED", "n": 1, "failed": 5, "share": 0.2},
        {"reason": "RequestTimeoutError", "n": 1, "failed": 5, "share": 0.2},
        {"reason": "THROTTLED", "n": 1, "failed": 5, "share": 0.2},
    ]
    by_country = analysis.failure_reasons(log, by="country")
    assert records(by_country, ["country", "reason", "n", "failed"]) == [
        {"country": "EE", "reason": "INVALID", "n": 2, "failed": 3},
        {"country": "EE", "reason": "THROTTLED", "n": 1, "failed": 3},
        {"country": "LV", "reason": "EXPIRED", "n": 1, "failed": 2},
        {"country": "LV", "reason": "RequestTimeoutError", "n": 1, "failed": 2},
    ]


def test_verified_sessions_give_attempts_and_seconds_per_session(log) -> None:
    sessions = analysis.verified_sessions(log, by="country")
    assert records(sessions, ["session_id", "country", "attempts", "seconds"]) == [
        {"session_id": "s1", "country": "EE", "attempts": 2, "seconds": 50.0},
        {"session_id": "s2", "country": "EE", "attempts": 1, "seconds": 30.0},
        {"session_id": "s5", "country": "EE", "attempts": 3, "seconds": 120.0},
    ]


def test_attempts_to_success_distribution(log) -> None:
    table = analysis.attempts_to_success(log)
    assert list(table.columns) == ["n", "mean", "p50", "p90", "p99"]
    row = table.iloc[0]
    assert row["n"] == 3 and row["mean"] == 2.0 and row["p50"] == 2.0
    assert row["p90"] == pytest.approx(2.8) and row["p99"] == pytest.approx(2.98)


def test_time_to_verify_distribution_in_seconds(log) -> None:
    table = analysis.time_to_verify(log, by="method")
    assert records(table, ["method", "n", "p50"]) == [
        {"method": "totp", "n": 1, "p50": 50.0},
        {"method": "sms", "n": 2, "p50": 75.0},
    ]
    overall = analysis.time_to_verify(log).iloc[0]
    assert overall["mean"] == pytest.approx(200 / 3)
    assert overall["p90"] == pytest.approx(106.0) and overall["p99"] == pytest.approx(118.6)


def test_funnel_stages_shares_and_dropout(log) -> None:
    table = analysis.funnel(log)
    assert list(table.columns) == ["stage", "n", "share", "ci_low", "ci_high", "dropout"]
    assert records(table, ["stage", "n", "share", "dropout"]) == [
        {"stage": "initiated", "n": 5, "share": 1.0, "dropout": None},
        {"stage": "tried", "n": 4, "share": 0.8, "dropout": pytest.approx(0.2)},
        {"stage": "verified", "n": 3, "share": 0.6, "dropout": pytest.approx(0.25)},
    ]
    by_country = analysis.funnel(log, by="country")
    lv = by_country[by_country["country"] == "LV"]
    assert lv["n"].tolist() == [2, 1, 0] and lv["dropout"].tolist()[1:] == [0.5, 1.0]


def test_compare_periods_latest_week_against_the_one_before(log) -> None:
    table = analysis.compare_periods(log, metric="session_success", period="W")
    row = table.iloc[0]
    assert (row["previous_period"], row["current_period"]) == (WEEK1, WEEK2)
    assert (row["previous_n"], row["previous_successes"]) == (3, 2)
    assert (row["current_n"], row["current_successes"]) == (2, 1)
    assert row["change"] == pytest.approx(0.5 - 2 / 3)
    assert not row["significant"]


def test_compare_periods_by_group_and_given_current(log) -> None:
    table = analysis.compare_periods(
        log, metric="attempt_success", period="D", by="country", current="2024-05-07T15:00"
    )
    assert records(table, ["country", "previous_n", "current_n", "current_successes"]) == [
        {"country": "EE", "previous_n": 3, "current_n": 1, "current_successes": 1},
        {"country": "LV", "previous_n": 0, "current_n": 1, "current_successes": 0},
    ]
    assert table["previous_rate"].isna().tolist() == [False, True]


def test_compare_periods_flags_intervals_that_do_not_overlap() -> None:
    rows = []
    for week, verified_share in (("2024-05-06", 0.1), ("2024-05-13", 0.9)):
        for i in range(100):
            sid = f"{week}-{i}"
            rows.append({"ts": f"{week}T10:00:00Z", "action": "initiate", "session_id": sid})
            rows.append(
                {"ts": f"{week}T10:00:09Z", "action": "verify", "session_id": sid,
                 "verified": i < verified_share * 100}
            )  # fmt: skip
    row = analysis.compare_periods(to_frame(rows), period="W").iloc[0]
    assert row["significant"] and row["change"] == pytest.approx(0.8)


# --- edges: empty input, missing columns, bad options, no mutation ---------------------------


def test_empty_log_gives_one_nan_row_without_groups_and_no_rows_with_groups() -> None:
    empty = empty_frame()
    for per in ("session", "attempt"):
        row = analysis.success_rate(empty, per=per).iloc[0]
        assert row["n"] == 0 and math.isnan(row["rate"]) and math.isnan(row["ci_low"])
    assert analysis.fallback_rate(empty)["n"].tolist() == [0]
    assert analysis.success_rate(empty, by="country", period="W").empty
    assert analysis.failure_reasons(empty).empty
    assert analysis.attempts_to_success(empty)["n"].tolist() == [0]
    assert analysis.time_to_verify(empty, by="country").empty
    assert analysis.funnel(empty)["n"].tolist() == [0, 0, 0]
    assert analysis.compare_periods(empty).empty


ALL_FUNCTIONS = [
    pytest.param(analysis.success_rate, id="success_rate"),
    pytest.param(lambda df, **kw: analysis.success_rate(df, per="attempt", **kw), id="attempt"),
    pytest.param(analysis.fallback_rate, id="fallback_rate"),
    pytest.param(analysis.failure_reasons, id="failure_reasons"),
    pytest.param(analysis.verified_sessions, id="verified_sessions"),
    pytest.param(analysis.attempts_to_success, id="attempts_to_success"),
    pytest.param(analysis.time_to_verify, id="time_to_verify"),
    pytest.param(analysis.funnel, id="funnel"),
    pytest.param(analysis.compare_periods, id="compare_periods"),
]


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_functions_never_change_their_input(function, log) -> None:
    before = log.copy(deep=True)
    function(log, by="country")
    pd.testing.assert_frame_equal(log, before)


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_missing_columns_are_named(function, log) -> None:
    with pytest.raises(ValueError, match="missing from the frame: action"):
        function(log.drop(columns=["action"]))
    with pytest.raises(ValueError, match="no_such_column"):
        function(log, by=["country", "no_such_column"])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda df: analysis.success_rate(df, per="user"), "per must", id="per"),
        pytest.param(lambda df: analysis.funnel(df, period="Q"), "period must", id="period"),
        pytest.param(lambda df: analysis.compare_periods(df, metric="x"), "metric", id="metric"),
    ],
)
def test_bad_options_raise_value_error(call, message, log) -> None:
    with pytest.raises(ValueError, match=message):
        call(log)


# --- a second opinion: the same metrics in hand-written DuckDB SQL ---------------------------


@pytest.fixture(scope="module")
def big_log() -> pd.DataFrame:
    return synthetic_log(200_000, seed=11)


@pytest.fixture(scope="module")
def sql(big_log):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("log", big_log)
    yield lambda query: con.execute(query).df()
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


def test_session_success_matches_sql(big_log, sql) -> None:
    theirs = sql(f"""
        WITH ok AS (SELECT DISTINCT session_id FROM log WHERE action = 'verify' AND verified),
        s AS (
            SELECT i.country, date_trunc('week', i.ts) AS period, ok.session_id IS NOT NULL AS hit
            FROM log i LEFT JOIN ok ON i.session_id = ok.session_id
            WHERE i.action = 'initiate'
        ),
        c AS (SELECT country, period, count(*) AS n, sum(hit::INT) AS successes,
                     successes / n AS p, 1.959963984540054 AS z
              FROM s GROUP BY country, period)
        SELECT country, period, n, successes, p AS rate, {WILSON_SQL} FROM c
    """)  # fmt: skip
    ours = analysis.success_rate(big_log, by="country", period="W")
    same(ours, theirs, ["country", "period"])


def test_attempt_success_and_fallback_match_sql(big_log, sql) -> None:
    attempts = sql("""
        SELECT method, date_trunc('day', ts) AS period, count(*) AS n,
               sum(verified::INT) AS successes, successes / n AS rate
        FROM log WHERE action = 'verify' AND verified IS NOT NULL GROUP BY ALL
    """)
    ours = analysis.success_rate(big_log, per="attempt", by="method", period="D")
    same(ours, attempts, ["method", "period"])
    fallback = sql("""
        SELECT country, count(*) AS n, sum((method = 'sms')::INT) AS successes,
               successes / n AS rate
        FROM log WHERE action = 'initiate' AND requested_method = 'totp'
                   AND method IS NOT NULL
        GROUP BY ALL
    """)
    same(analysis.fallback_rate(big_log, by="country"), fallback, ["country"])


def test_failure_reasons_match_sql(big_log, sql) -> None:
    theirs = sql("""
        WITH f AS (
            SELECT method, coalesce(result::VARCHAR, nullif(error, ''), 'UNKNOWN') AS reason
            FROM log WHERE action = 'verify' AND verified IS DISTINCT FROM true
        )
        , c AS (SELECT method, reason, count(*) AS n FROM f GROUP BY method, reason)
        SELECT method, reason, n, sum(n) OVER (PARTITION BY method) AS failed,
               n / failed AS share
        FROM c
    """)
    same(analysis.failure_reasons(big_log, by="method"), theirs, ["method", "reason"])


def test_attempts_and_time_to_verify_match_sql(big_log, sql) -> None:
    per_session = """
        WITH first AS (
            SELECT session_id, min(ts) AS first_ts, min(attempt) AS attempts
            FROM log WHERE action = 'verify' AND verified GROUP BY session_id
        )
        SELECT i.country, f.attempts,
               epoch_us(f.first_ts) / 1e6 - epoch_us(i.ts) / 1e6 AS seconds
        FROM log i JOIN first f ON i.session_id = f.session_id WHERE i.action = 'initiate'
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
        same(function(big_log, by="country"), theirs, ["country"])


def test_funnel_matches_sql(big_log, sql) -> None:
    theirs = sql("""
        WITH v AS (SELECT session_id, bool_or(verified) AS hit
                   FROM log WHERE action = 'verify' GROUP BY session_id),
        s AS (SELECT date_trunc('week', i.ts) AS period, v.session_id IS NOT NULL AS tried,
                     coalesce(v.hit, false) AS hit
              FROM log i LEFT JOIN v ON i.session_id = v.session_id
              WHERE i.action = 'initiate'),
        w AS (SELECT period, count(*) AS initiated, sum(tried::INT) AS tried,
                     sum(hit::INT) AS verified FROM s GROUP BY period)
        SELECT period, 'initiated' AS stage, initiated AS n, 1.0 AS share FROM w
        UNION ALL SELECT period, 'tried', tried, tried / initiated FROM w
        UNION ALL SELECT period, 'verified', verified, verified / initiated FROM w
    """)
    ours = analysis.funnel(big_log, period="W")
    ours["stage"] = ours["stage"].astype(str)
    same(ours, theirs, ["period", "stage"])


def test_period_start_matches_duckdb_date_trunc(big_log, sql) -> None:
    for period, unit in (("D", "day"), ("W", "week"), ("M", "month")):
        theirs = sql(
            f"SELECT date_trunc('{unit}', ts) AS period, count(*) AS n FROM log GROUP BY 1"
        )
        ours = analysis.success_rate(big_log.assign(action="verify", verified=True),
                                     per="attempt", period=period)  # fmt: skip
        same(ours, theirs, ["period"])
    assert np.all(theirs["n"] > 0)


@pytest.mark.parametrize(
    "module", [_metrics, _stats, _periods, plots], ids=lambda m: m.__name__.rsplit(".", 1)[-1]
)
def test_docstring_examples_run(module) -> None:
    failures, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0
