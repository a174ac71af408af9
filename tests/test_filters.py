"""Filters: a report on part of a log reads each grain by its own row, as a group does.

The contract's promise, checked here: a table filtered to one value equals that value's row
of the table grouped by the same column; a session belongs to the range its initiate is in
(its late verify with it); tags match whole labels; and the report, the spreadsheet and the
command line say which part of the log they cover.
"""

from __future__ import annotations

from datetime import datetime

import openpyxl
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from tests._synthetic import synthetic_log
from verigator_nb import analysis, report
from verigator_nb.analysis import Analysis, Filters
from verigator_nb.cli import main
from verigator_nb.schema import COUNTRY, METHOD, SERVICE_ID, to_frame

RATES = ["session_success", "conversion", "login_conversion", "fallback", "attempt_success"]


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    frame = synthetic_log(6_000, seed=5, days=20)
    services = frame["session_id"].str[-1].isin(list("01234")).map({True: "svc-a", False: "svc-b"})
    return frame.assign(**{SERVICE_ID: services})


@pytest.mark.parametrize(
    ("column", "value", "filters"),
    [
        pytest.param(COUNTRY, "EE", Filters(country="ee"), id="country"),
        pytest.param(METHOD, "sms", Filters(channel="SMS"), id="channel"),
        pytest.param(SERVICE_ID, "svc-b", Filters(service="svc-b"), id="service"),
    ],
)
def test_a_filtered_table_equals_that_group_of_the_grouped_table(
    log, column, value, filters
) -> None:
    whole, only = Analysis(log), Analysis(log, filters=filters)
    for metric in RATES:
        grouped = whole.table(metric, by=column)
        expected = grouped[grouped[column] == value].drop(columns=column).reset_index(drop=True)
        assert_frame_equal(only.table(metric), expected, check_dtype=False, obj=metric)


def test_a_date_range_keeps_the_sessions_started_in_it_with_their_late_verifies() -> None:
    rows = [
        _row("i1", "s1", "initiate", "2026-01-31T23:59:00Z"),
        _row("v1", "s1", "verify", "2026-02-01T00:01:00Z", verified=True, attempt=1),
        _row("i2", "s2", "initiate", "2026-02-01T00:02:00Z"),
    ]
    january = Analysis(to_frame(rows), filters=Filters(until="2026-01-31"))
    success = analysis.session_success(january)
    assert (success["n"].iloc[0], success["successes"].iloc[0]) == (1, 1)
    # The verify call itself was made in February: no call metric of January counts it.
    assert analysis.attempt_success(january)["n"].iloc[0] == 0
    assert january.extent()[0] == 1


def test_the_range_takes_whole_days_and_moments_as_given() -> None:
    days = Filters(since="2026-01-10", until="2026-01-20")
    assert (days.since, days.until) == (datetime(2026, 1, 10), datetime(2026, 1, 21))
    moment = Filters(until="2026-01-20T12:00:00+02:00")
    assert moment.until == datetime(2026, 1, 20, 10, 0)
    assert days.describe() == "from 2026-01-10; through 2026-01-20"
    assert moment.describe() == "until 2026-01-20 10:00:00 UTC (not included)"


def test_a_tag_matches_a_whole_label_of_the_tags() -> None:
    tagged = ["eu", "a, eu", "eu-test", "", "beta,eu "]
    rows = [
        _row(f"i{i}", f"s{i}", "initiate", "2026-01-01T00:00:00Z", tags=tags)
        for i, tags in enumerate(tagged)
    ]
    kept = analysis.session_success(Analysis(to_frame(rows), filters=Filters(tag="eu")))
    assert kept["n"].iloc[0] == 3  # "eu", "a, eu", "beta,eu " — not "eu-test" nor ""


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        pytest.param({"since": "2026-02-01", "until": "2026-01-01"}, "later", id="backwards"),
        pytest.param({"since": "2026-13-01"}, "not a date", id="bad-date"),
    ],
)
def test_bad_filters_are_refused_in_one_sentence(options, problem) -> None:
    with pytest.raises(ValueError, match=problem):
        Filters(**options)


def test_filter_values_must_be_text() -> None:
    with pytest.raises(TypeError, match="texts"):
        Filters(country=[1, 2])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="Filters"):
        Analysis(to_frame([]), filters={"country": "EE"})  # type: ignore[arg-type]


def test_no_filter_is_the_whole_log_and_says_nothing(log) -> None:
    assert not Filters()
    assert Filters().describe() == ""
    whole, unfiltered = Analysis(log), Analysis(log, filters=Filters())
    assert_frame_equal(whole.table("conversion"), unfiltered.table("conversion"))
    assert "Only:" not in report.build(unfiltered)


def test_the_report_and_the_spreadsheet_state_the_filters(log, tmp_path) -> None:
    filters = Filters(since="2024-03-05", country=["EE", "LV"], tag="campaign-a")
    document = report.build(log, filters=filters)
    assert "Only: from 2024-03-05; countries EE, LV; tag campaign-a." in document
    book = openpyxl.load_workbook(report.write_xlsx(log, tmp_path / "r.xlsx", filters=filters))
    about = {row[0]: row[1] for row in book["About"].iter_rows(values_only=True)}
    assert about["only"] == "from 2024-03-05; countries EE, LV; tag campaign-a"
    with pytest.raises(ValueError, match="Analysis"):
        report.build(Analysis(log), filters=filters)


def test_the_report_command_filters_and_says_so(log, tmp_path, capsys) -> None:
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    out = tmp_path / "report.html"
    code = main(["report", str(path), "--out", str(out), "--country", "ee,LV", "--country", "FI"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Only: countries EE, FI, LV" in printed
    expected = analysis.session_success(Analysis(log, filters=Filters(country=["EE", "FI", "LV"])))
    assert f"{int(expected['n'].iloc[0]):,} sessions" in printed
    assert "countries EE, FI, LV" in out.read_text()


def test_the_report_command_refuses_a_bad_date_before_reading(tmp_path, capsys) -> None:
    code = main(["report", str(tmp_path / "absent.jsonl"), "--since", "yesterday-ish"])
    assert code == 1
    assert "not a date" in capsys.readouterr().err


def _row(event: str, session: str, action: str, ts: str, **values: object) -> dict:
    return {
        "event_id": event,
        "session_id": session,
        "action": action,
        "ts": ts,
        "service_id": "svc",
        "user_id": "u",
        "requested_method": "sms",
        "method": "sms",
        "http_status": 200,
        **values,
    }
