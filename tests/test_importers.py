"""Other providers' exports and the application's events as outcome-log rows (``importers``).

Fixtures in ``tests/fixtures/import/`` follow the providers' documented shapes (Twilio's
Verification Attempts and Summary resources, the example in Twilio's own helper-library tests,
Vonage's Reports API fields); nothing here touches the network. Each importer is checked on
its fixture row by row and by the metrics the rows give, and on the shapes it must refuse.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from verigator_nb import OutcomeLog, Sandbox, analysis, report
from verigator_nb.analysis import CONVERSION
from verigator_nb.cli import main
from verigator_nb.client._resources import region_of
from verigator_nb.importers import (
    PHONE,
    ImportFormatError,
    MappingError,
    MissingFieldsError,
    _json_stream,
    check_twilio_summary,
    import_events,
    import_twilio_attempts,
    import_vonage_reports,
    parse_mapping,
    read_twilio_summary,
)
from verigator_nb.importers._country import country_of_mcc, country_of_number
from verigator_nb.log._row_checks import export_columns
from verigator_nb.report import TABLES
from verigator_nb.schema import (
    ACTION,
    ADDED_COLUMNS,
    COLUMN_NAMES,
    EVENT_ID,
    INITIATE,
    NUMBER_RANGE,
    NUMBER_TYPE,
    PROVIDER,
    VERIFY,
    VERIGATOR,
    to_frame,
)

FIXTURES = Path(__file__).parent / "fixtures" / "import"
PAGE = FIXTURES / "twilio_attempts_page.json"
SERVICE = "VA8c1e4a3a9bd1b2d1e0ae4c3b2d7f5a19"
# Every phone number and e-mail address in the fixtures: none may reach a row or a file.
PERSONAL = re.compile(r"\+?(44770090|1415555|372555|55119555|91987654|57300300|4915112|3725123)")
EVENTS_MAP = (
    "ts=created_at,action=kind,user_id=login,session_id=flow_id,requested_method=asked,"
    "method=used,fallback=fell_back,verified=ok,result=outcome,http_status=http,"
    "latency_ms=took_ms,phone=phone,tags=campaign"
)


def vl(n: int) -> str:
    return f"VL{0x2F9A10000 + n:032x}"


def ve(n: int) -> str:
    return f"VE{0x2F9A10000 + n:032x}"


def _twilio_row(attempt: int, login: int, ts: str, action: str, country: str | None) -> dict:
    row = {
        EVENT_ID: vl(attempt) if action == INITIATE else f"{vl(attempt)}-converted",
        "ts": ts,
        "service_id": SERVICE,
        "user_id": ve(login),
        ACTION: action,
        "requested_method": "sms",
        "method": "sms",
        "auth_id": ve(login),
        "session_id": vl(attempt),
        "endpoint": "verify.twilio.com",
        "country": country,
        "tags": "",
        PROVIDER: "twilio",
    }
    if action == INITIATE:
        return {**row, "fallback": False, "http_status": 201}
    return {**row, "verified": True, "result": "VERIFIED", "http_status": 200}


# The page's SMS attempts: 1 and 2 are one verification sent twice (converted on the resend),
# 5 has no number (its country comes from the MCC); 6 (WhatsApp), 7 (call) and 9 (e-mail)
# are set aside.
TWILIO_ROWS = [
    _twilio_row(1, 1, "2026-03-02T09:00:00Z", INITIATE, "GB"),
    _twilio_row(2, 1, "2026-03-02T09:01:30Z", INITIATE, "GB"),
    _twilio_row(2, 1, "2026-03-02T09:01:30Z", VERIFY, "GB"),
    _twilio_row(3, 2, "2026-03-02T09:05:00Z", INITIATE, "US"),
    _twilio_row(3, 2, "2026-03-02T09:05:00Z", VERIFY, "US"),
    _twilio_row(4, 3, "2026-03-02T10:00:00Z", INITIATE, "EE"),
    _twilio_row(5, 4, "2026-03-02T10:30:00Z", INITIATE, "DE"),
    _twilio_row(5, 4, "2026-03-02T10:30:00Z", VERIFY, "DE"),
    _twilio_row(8, 7, "2026-03-02T12:00:00Z", INITIATE, "GB"),
    _twilio_row(8, 7, "2026-03-02T12:00:00Z", VERIFY, "GB"),
]


def _assert_rows(frame: pd.DataFrame, rows: list[dict]) -> None:
    pd.testing.assert_frame_equal(frame, to_frame(rows))


def _rate(table: pd.DataFrame) -> float:
    assert len(table) == 1
    return float(table["rate"].iloc[0])


# --- Twilio ------------------------------------------------------------------------------


def test_twilio_page_gives_a_session_per_sms_attempt_and_a_verify_per_conversion() -> None:
    imported = import_twilio_attempts(PAGE)
    _assert_rows(imported.df, TWILIO_ROWS)
    assert imported.records == 9
    assert imported.set_aside == {"channel call": 1, "channel email": 1, "channel whatsapp": 1}
    assert (imported.sessions, imported.verified) == (6, 4)


def test_twilio_conversion_is_the_summarys_converted_over_attempts() -> None:
    imported = import_twilio_attempts(PAGE)
    summary = read_twilio_summary(FIXTURES / "twilio_summary_sms.json")
    conversion = analysis.conversion(imported.df)
    assert int(conversion["n"].iloc[0]) == summary.total_attempts == 6
    assert _rate(conversion) == summary.total_converted / summary.total_attempts
    assert round(_rate(conversion) * 100, 2) == summary.conversion_rate_percentage
    check = check_twilio_summary(imported, summary)
    assert check.matches and check.explain().endswith("they agree")


def test_a_summary_of_every_channel_disagrees_and_says_attempts_were_set_aside() -> None:
    imported = import_twilio_attempts(PAGE)
    check = check_twilio_summary(imported, read_twilio_summary(FIXTURES / "twilio_summary.json"))
    assert not check.matches
    assert (check.attempts_summary, check.attempts_imported) == (9, 6)
    assert (check.converted_summary, check.converted_imported) == (5, 4)
    assert "3 attempts on other channels were set aside" in check.explain()


def test_a_twilio_verification_is_one_login_and_its_second_attempt_a_resend() -> None:
    frame = import_twilio_attempts(PAGE).df
    assert _rate(analysis.login_conversion(frame)) == 4 / 5
    assert _rate(analysis.resend_rate(frame)) == 1 / 5
    assert analysis.session_success(frame)["successes"].iloc[0] == 4


def test_a_bare_list_and_several_pages_give_the_rows_of_one_page(tmp_path) -> None:
    attempts = json.loads(PAGE.read_text())["attempts"]
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(attempts))
    _assert_rows(import_twilio_attempts(bare).df, TWILIO_ROWS)
    pages = []
    for number, part in enumerate((attempts[:4], attempts[4:])):
        path = tmp_path / f"page{number}.json"
        # meta first: a page's keys come in any order
        path.write_text(json.dumps({"meta": {"page": number}, "attempts": part}))
        pages.append(path)
    _assert_rows(import_twilio_attempts(pages).df, TWILIO_ROWS)


def test_the_earlier_shape_with_verification_sid_in_channel_data_imports() -> None:
    imported = import_twilio_attempts(FIXTURES / "twilio_attempts_list.json")
    _assert_rows(imported.df, [_twilio_row(21, 21, "2026-03-04T18:36:59Z", INITIATE, "CO")])


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_the_json_reader_gives_what_json_load_gives_at_any_chunk_size(chunk, monkeypatch) -> None:
    monkeypatch.setattr(_json_stream, "_CHUNK", chunk)
    expected = json.loads(PAGE.read_text())["attempts"]
    assert list(_json_stream.records(PAGE, "attempts")) == expected


def test_a_number_cut_by_a_chunk_boundary_is_read_whole(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(_json_stream, "_CHUNK", 3)
    path = tmp_path / "numbers.json"
    path.write_text('{"meta": {"page_size": 12345678}, "attempts": [123456789, -1.5e10, 7]}')
    assert list(_json_stream.records(path, "attempts")) == [123456789, -1.5e10, 7]


def _attempt(**changes: object) -> dict:
    attempt = json.loads(PAGE.read_text())["attempts"][0]
    for name, value in changes.items():
        if value is None:
            attempt.pop(name, None)
        else:
            attempt[name] = value
    return attempt


@pytest.mark.parametrize(
    ("content", "error", "says"),
    [
        pytest.param(
            (FIXTURES / "twilio_messages_page.json").read_text(),
            MissingFieldsError,
            "missing field(s) 'attempts'",
            id="a-messages-page",
        ),
        pytest.param(
            json.dumps([{"sid": "SM1", "to": "+447700900123", "status": "sent"}]),
            MissingFieldsError,
            "attempt 1: missing field(s) 'verification_sid', 'date_created', "
            "'conversion_status', 'channel'",
            id="messages-as-a-list",
        ),
        pytest.param(
            json.dumps([_attempt(conversion_status=None)]),
            MissingFieldsError,
            "attempt 1: missing field(s) 'conversion_status'",
            id="no-conversion-status",
        ),
        pytest.param(
            json.dumps([_attempt(conversion_status="approved")]),
            ImportFormatError,
            "'conversion_status' is neither converted nor unconverted",
            id="unknown-conversion-status",
        ),
        pytest.param(
            json.dumps([_attempt(date_created="2026-03-02T09:00:00")]),
            ImportFormatError,
            "'date_created' has no UTC offset",
            id="time-without-offset",
        ),
        pytest.param(
            json.dumps([_attempt(sid=12)]),
            ImportFormatError,
            "field(s) 'sid' not text",
            id="sid-not-text",
        ),
        pytest.param('{"attempts": [', ImportFormatError, "not JSON", id="torn-json"),
        pytest.param('"attempts"', ImportFormatError, "neither a JSON list", id="a-string"),
    ],
)
def test_twilio_refuses_what_is_not_attempts_naming_what_is_missing(
    tmp_path, content, error, says
) -> None:
    path = tmp_path / "export.json"
    path.write_text(content)
    with pytest.raises(error) as raised:
        import_twilio_attempts(path)
    assert says in str(raised.value)
    assert "+44" not in str(raised.value), "an error never quotes a value"
    if error is MissingFieldsError:
        assert raised.value.missing and all(name in says for name in raised.value.missing)


def test_a_summary_without_its_counts_is_refused(tmp_path) -> None:
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"conversion_rate_percentage": "50.00"}))
    with pytest.raises(MissingFieldsError) as raised:
        read_twilio_summary(path)
    assert raised.value.missing == ("total_attempts", "total_converted")


# --- Vonage ------------------------------------------------------------------------------


def _vonage_row(request: str, ts: str, action: str, country: str) -> dict:
    row = {
        EVENT_ID: request if action == INITIATE else f"{request}-completed",
        "ts": ts,
        "service_id": "abcd1234",
        "user_id": request,
        ACTION: action,
        "requested_method": "sms",
        "method": "sms",
        "auth_id": request,
        "session_id": request,
        "endpoint": "api.nexmo.com",
        "country": country,
        "tags": "",
        PROVIDER: "vonage",
    }
    if action == INITIATE:
        return {**row, "fallback": False, "http_status": 202}
    return {**row, "verified": True, "result": "VERIFIED", "http_status": 200}


REQUESTS = {
    "completed": "c11236f4-00bf-4b89-84ba-88b25df97315",
    "failed": "5f6b0c2a-2f1e-4d3a-9d2c-1a7e3b9f0a11",
    "expired": "8e2d4c6b-7a19-4f0e-b6c1-3d5a2e9f8b22",
    "upper-case": "1b3c5d7e-9f10-4a2b-8c4d-6e8f0a1b2c33",
}
VONAGE_ROWS = [
    _vonage_row(REQUESTS["completed"], "2026-03-03T08:00:00Z", INITIATE, "GB"),
    _vonage_row(REQUESTS["completed"], "2026-03-03T08:00:00Z", VERIFY, "GB"),
    _vonage_row(REQUESTS["failed"], "2026-03-03T08:10:00Z", INITIATE, "GB"),
    _vonage_row(REQUESTS["expired"], "2026-03-03T09:00:00Z", INITIATE, "US"),
    _vonage_row(REQUESTS["upper-case"], "2026-03-03T09:30:00Z", INITIATE, "DE"),
    _vonage_row(REQUESTS["upper-case"], "2026-03-03T09:30:00Z", VERIFY, "DE"),
]


def test_vonage_report_gives_a_session_per_sms_request_and_a_verify_when_completed() -> None:
    imported = import_vonage_reports(FIXTURES / "vonage_verify_v2_report.csv")
    _assert_rows(imported.df, VONAGE_ROWS)
    assert imported.records == 7
    assert imported.set_aside == {"channel voice": 1, "channel whatsapp": 1, "still running": 1}
    assert _rate(analysis.conversion(imported.df)) == 2 / 4


def test_vonage_headers_named_otherwise_are_mapped_with_columns(tmp_path) -> None:
    text = (FIXTURES / "vonage_verify_v2_report.csv").read_text()
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(text.replace("request_id", "Request ID", 1).replace("status", "State", 1))
    with pytest.raises(MissingFieldsError) as raised:
        import_vonage_reports(renamed)
    assert raised.value.missing == ("request_id", "status")
    imported = import_vonage_reports(
        renamed, columns={"request_id": "Request ID", "status": "State"}
    )
    _assert_rows(imported.df, VONAGE_ROWS)
    with pytest.raises(MappingError, match="not Vonage report fields: state"):
        import_vonage_reports(renamed, columns={"state": "State"})


def test_a_vonage_verify_v1_report_is_refused_naming_the_v2_fields_it_lacks() -> None:
    with pytest.raises(MissingFieldsError) as raised:
        import_vonage_reports(FIXTURES / "vonage_verify_v1_report.csv")
    assert raised.value.missing == ("status", "channel")
    assert "header" in str(raised.value)


def test_an_undocumented_vonage_status_is_refused(tmp_path) -> None:
    text = (FIXTURES / "vonage_verify_v2_report.csv").read_text()
    path = tmp_path / "report.csv"
    path.write_text(text.replace(",failed,", ",approved,"))
    with pytest.raises(ImportFormatError, match="line 3: field 'status' is none of completed"):
        import_vonage_reports(path)


# --- the application's events ------------------------------------------------------------


def _event(ts: str, action: str, login: str, flow: str, **more: object) -> dict:
    return {
        "ts": ts,
        ACTION: action,
        "user_id": login,
        "session_id": flow,
        "tags": "spring",
        PROVIDER: "myapp",
        **more,
    }


EVENT_ROWS = [
    _event("2026-03-05T10:00:00Z", INITIATE, "alice", "flow-1", requested_method="sms",
           method="sms", fallback=False, http_status=200, latency_ms=120.5, country="GB"),
    _event("2026-03-05T10:00:40Z", VERIFY, "alice", "flow-1", requested_method="sms",
           method="sms", verified=False, result="INVALID", http_status=200, latency_ms=80.0,
           country="GB"),
    _event("2026-03-05T10:01:10Z", VERIFY, "alice", "flow-1", requested_method="sms",
           method="sms", verified=True, result="VERIFIED", http_status=200, latency_ms=75.25,
           country="GB"),
    _event("2026-03-05T11:00:00Z", INITIATE, "bob", "flow-2", requested_method="totp",
           method="sms", fallback=True, http_status=200, latency_ms=130.0, country="US"),
    _event("2026-03-05T11:20:00Z", INITIATE, "carol", "flow-3", requested_method="sms",
           latency_ms=30000.0, country="EE"),
]  # fmt: skip


def test_events_csv_gives_one_row_per_event_by_the_mapping() -> None:
    imported = import_events(
        FIXTURES / "app_events.csv", mapping=parse_mapping(EVENTS_MAP), provider="myapp"
    )
    frame = imported.df
    assert frame[EVENT_ID].str.fullmatch(r"[0-9a-f]{32}").all()
    pd.testing.assert_frame_equal(
        frame.drop(columns=EVENT_ID), to_frame(EVENT_ROWS).drop(columns=EVENT_ID)
    )
    assert (imported.records, imported.set_aside) == (5, {})
    assert _rate(analysis.conversion(frame)) == 1 / 2  # carol's initiate got no answer


def test_events_jsonl_gives_the_rows_of_the_csv_and_ids_are_stable() -> None:
    mapping = parse_mapping(EVENTS_MAP)
    from_csv = import_events(FIXTURES / "app_events.csv", mapping=mapping, provider="myapp").df
    from_jsonl = import_events(FIXTURES / "app_events.jsonl", mapping=mapping, provider="myapp")
    pd.testing.assert_frame_equal(
        from_csv.drop(columns=EVENT_ID), from_jsonl.df.drop(columns=EVENT_ID)
    )
    again = import_events(FIXTURES / "app_events.csv", mapping=mapping, provider="myapp").df
    assert again[EVENT_ID].tolist() == from_csv[EVENT_ID].tolist()


@pytest.mark.parametrize(
    ("mapping", "says"),
    [
        pytest.param("ts=created_at,action=kind", "needs column(s) session_id mapped", id="few"),
        pytest.param(EVENTS_MAP + ",colour=login", "not outcome-log columns: colour", id="unknown"),
        pytest.param(EVENTS_MAP + ",provider=login", "'provider' is given", id="provider"),
        pytest.param(EVENTS_MAP + ",country=login", "'phone' or 'country'", id="phone-and-country"),
        pytest.param("ts=created_at,ts=kind", "mapped twice", id="twice"),
        pytest.param("ts:created_at", "COLUMN=FIELD", id="no-equals"),
    ],
)
def test_a_mapping_that_cannot_be_used_is_refused(mapping, says) -> None:
    with pytest.raises(MappingError, match=re.escape(says)):
        import_events(FIXTURES / "app_events.csv", mapping=parse_mapping(mapping), provider="x")


def test_mapped_fields_the_file_lacks_are_named() -> None:
    mapping = parse_mapping(EVENTS_MAP.replace("user_id=login", "user_id=username"))
    for name in ("app_events.csv", "app_events.jsonl"):
        with pytest.raises(MissingFieldsError) as raised:
            import_events(FIXTURES / name, mapping=mapping, provider="myapp")
        assert raised.value.missing == ("username",)


def test_a_phone_number_mapped_to_a_text_column_is_refused() -> None:
    mapping = parse_mapping(EVENTS_MAP.replace(",phone=phone", "").replace("login", "phone"))
    with pytest.raises(ImportFormatError, match="looks like a phone number") as raised:
        import_events(FIXTURES / "app_events.csv", mapping=mapping, provider="myapp")
    assert not PERSONAL.search(str(raised.value))
    assert f"map it to {PHONE!r}" in str(raised.value)


def test_times_without_an_offset_are_refused_unless_utc_is_assumed(tmp_path) -> None:
    path = tmp_path / "naive.csv"
    text = (FIXTURES / "app_events.csv").read_text().replace("+00:00", "")
    path.write_text(text)
    mapping = parse_mapping(EVENTS_MAP)
    with pytest.raises(ImportFormatError, match="'created_at' has no UTC offset"):
        import_events(path, mapping=mapping, provider="myapp")
    naive = import_events(path, mapping=mapping, provider="myapp", assume_utc=True).df
    expected = import_events(FIXTURES / "app_events.csv", mapping=mapping, provider="myapp").df
    pd.testing.assert_series_equal(naive["ts"], expected["ts"])


def test_a_value_outside_the_logs_vocabulary_is_refused_not_translated(tmp_path) -> None:
    path = tmp_path / "events.csv"
    path.write_text((FIXTURES / "app_events.csv").read_text().replace(",initiate,", ",sent,", 1))
    with pytest.raises(ImportFormatError, match="line 2: column 'action' must be one of"):
        import_events(path, mapping=parse_mapping(EVENTS_MAP), provider="myapp")


@pytest.mark.parametrize("name", ["", "+447700900123", "1app", "x" * 41])
def test_a_provider_name_is_a_short_label(name) -> None:
    with pytest.raises(ValueError, match="provider name"):
        import_events(FIXTURES / "app_events.csv", mapping=parse_mapping(EVENTS_MAP), provider=name)


# --- no phone number anywhere ------------------------------------------------------------


def _all_imports() -> dict[str, pd.DataFrame]:
    return {
        "twilio": import_twilio_attempts([PAGE, FIXTURES / "twilio_attempts_list.json"]).df,
        "vonage": import_vonage_reports(FIXTURES / "vonage_verify_v2_report.csv").df,
        "events": import_events(
            FIXTURES / "app_events.csv", mapping=parse_mapping(EVENTS_MAP), provider="myapp"
        ).df,
    }


def test_no_phone_number_or_address_reaches_a_row_or_a_file(tmp_path) -> None:
    for name, frame in _all_imports().items():
        texts = {"frame": frame.to_csv(index=False)}
        for suffix in ("jsonl", "csv"):
            out = tmp_path / f"{name}.{suffix}"
            done = _cli(tmp_path, *_cli_args(name), "--out", str(out))
            assert done[0] == 0, done
            texts[suffix] = out.read_text()
            texts[f"{suffix} output"] = done[1] + done[2]
        for where, text in texts.items():
            assert not PERSONAL.search(text), f"a phone number in {name}'s {where}"
            assert "@" not in text, f"an address in {name}'s {where}"


def test_the_country_of_a_number_is_the_clients_rule() -> None:
    numbers = ["+447700900123", "+14155550100", "+3725550123", "+5511955550123", "+80012345678"]
    for number in [*numbers, "+999123456789", "447700900123", "+44 7700 900123", "x"]:
        assert country_of_number(number) == region_of(number), number
    assert (country_of_mcc("262"), country_of_mcc(310), country_of_mcc("999")) == ("DE", "US", None)


# --- the provider column -----------------------------------------------------------------


def _recorded(log: OutcomeLog) -> None:
    with Sandbox(seed=11, http=False) as sb, sb.api(log=log) as api:
        you = sb.control(api)
        service = api.services.create("www.example.com", "Shop")
        user = api.users.create(service.id, "+4401234567", "someone@example.com")
        started = api.auth.initiate(service.id, user.id, api.auth.METHOD_SMS)
        api.auth.verify(started, "000000")
        api.auth.verify(started, you.pin_for(started.auth_id))


def test_rows_the_client_records_say_verigator() -> None:
    log = OutcomeLog()
    _recorded(log)
    assert len(log) == 3
    assert {row[PROVIDER] for row in log.rows} == {VERIGATOR}
    assert set(log.df[PROVIDER]) == {VERIGATOR}


def test_imported_rows_say_their_provider() -> None:
    frames = _all_imports()
    assert {name: set(frame[PROVIDER]) for name, frame in frames.items()} == {
        "twilio": {"twilio"},
        "vonage": {"vonage"},
        "events": {"myapp"},
    }
    renamed = import_twilio_attempts(PAGE, provider="twilio-eu").df
    assert set(renamed[PROVIDER]) == {"twilio-eu"}


def test_a_log_written_before_provider_loads_and_reports(tmp_path) -> None:
    log = OutcomeLog()
    _recorded(log)
    old = tmp_path / "old.jsonl"
    with old.open("w") as stream:
        for row in log.rows:
            row.pop(PROVIDER)
            row["ts"] = row["ts"].isoformat()
            stream.write(json.dumps(row) + "\n")
    loaded = OutcomeLog.load(old)
    assert len(loaded) == 3 and loaded.set_aside == []
    assert list(loaded.df.columns) == list(COLUMN_NAMES)
    assert set(loaded.df[PROVIDER]) == {""}
    table = analysis.conversion(old, by=PROVIDER)
    assert table[PROVIDER].isna().all() and _rate(table) == 1.0
    page = report.write(loaded.df, tmp_path / "old.html").read_text()
    assert "Conversion by provider" in page


def test_an_export_header_may_lack_only_the_columns_added_since() -> None:
    assert ADDED_COLUMNS == (PROVIDER, NUMBER_RANGE, NUMBER_TYPE)
    assert COLUMN_NAMES[-3:] == ADDED_COLUMNS
    for shape in (COLUMN_NAMES, COLUMN_NAMES[:-1], COLUMN_NAMES[:-2], COLUMN_NAMES[:-3]):
        assert export_columns(shape) == shape  # this version's, and each earlier one's
    with pytest.raises(ValueError, match="wrong order"):
        export_columns([*COLUMN_NAMES[:-3], NUMBER_RANGE])  # a gap: no version wrote this
    with pytest.raises(ValueError, match=r"missing \['ts'\]"):
        export_columns([name for name in COLUMN_NAMES if name != "ts"])
    with pytest.raises(ValueError, match="wrong order"):
        export_columns([*COLUMN_NAMES[1:], COLUMN_NAMES[0]])
    with pytest.raises(ValueError, match=r"unknown \['phone'\]"):
        export_columns([*COLUMN_NAMES, "phone"])


def test_the_report_compares_conversion_by_provider(tmp_path) -> None:
    log = OutcomeLog()
    _recorded(log)
    both = pd.concat([log.df, import_twilio_attempts(PAGE).df], ignore_index=True)
    spec = next(s for s in TABLES if s.by == (PROVIDER,))
    assert (spec.metric, spec.caption("day")) == (CONVERSION, "Conversion by provider")
    table = report.summary_tables(analysis.Analysis(both)).table(spec)
    by_provider = table.set_index(PROVIDER)[["n", "successes"]].to_dict("index")
    assert by_provider == {"twilio": {"n": 6, "successes": 4}, VERIGATOR: {"n": 1, "successes": 1}}
    page = report.write(both, tmp_path / "both.html").read_text()
    assert "Conversion by provider" in page and "twilio" in page


# --- the command line --------------------------------------------------------------------


def _cli_args(name: str) -> list[str]:
    if name == "twilio":
        return [str(PAGE), str(FIXTURES / "twilio_attempts_list.json"), "--format", "twilio"]
    if name == "vonage":
        return [str(FIXTURES / "vonage_verify_v2_report.csv"), "--format", "vonage"]
    return [str(FIXTURES / "app_events.csv"), "--map", EVENTS_MAP, "--provider", "myapp"]


def _cli(cwd: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.chdir(cwd):
        try:
            status = main(["import", *args])
        except SystemExit as exit_:
            status = int(exit_.code or 0)
    return status, out.getvalue(), err.getvalue()


def test_import_command_appends_rows_to_a_jsonl_log(tmp_path) -> None:
    out = tmp_path / "log.jsonl"
    status, said, errors = _cli(tmp_path, str(PAGE), "--format", "twilio", "--out", str(out))
    assert (status, errors) == (0, "")
    assert said.startswith("imported 10 rows (6 sessions) from 9 records into ")
    assert said.rstrip().endswith(
        "provider twilio; set aside: 1 channel call, 1 channel email, 1 channel whatsapp"
    )
    _assert_rows(OutcomeLog.load(out).df, TWILIO_ROWS)
    _cli(tmp_path, *_cli_args("events"), "--out", str(out))
    assert len(OutcomeLog.load(out)) == 15, "a second import adds to the log"


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_import_command_writes_an_export_the_log_reads_back(tmp_path, suffix) -> None:
    out = tmp_path / f"vonage.{suffix}"
    status, _, _ = _cli(tmp_path, *_cli_args("vonage"), "--out", str(out))
    assert status == 0
    _assert_rows(OutcomeLog.load(out).df, VONAGE_ROWS)


def test_import_command_checks_a_twilio_summary_before_writing(tmp_path) -> None:
    out = tmp_path / "log.jsonl"
    summary = FIXTURES / "twilio_summary.json"
    status, said, errors = _cli(
        tmp_path, str(PAGE), "--format", "twilio", "--summary", str(summary), "--out", str(out)
    )
    assert (status, said) == (1, "")
    assert errors.startswith("verigator-nb import: not written: 6 attempts and 4 converted")
    assert len(errors.splitlines()) == 1 and not out.exists()
    agreeing = FIXTURES / "twilio_summary_sms.json"
    args = [str(PAGE), "--format", "twilio", "--summary", str(agreeing), "--out", str(out)]
    assert _cli(tmp_path, *args)[0] == 0 and out.exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(
            [str(FIXTURES / "app_events.csv"), "--map", "ts=created_at", "--provider", "a"],
            "the log needs column(s) action, session_id mapped",
            id="events-mapping",
        ),
        pytest.param(
            [str(FIXTURES / "app_events.csv"), "--map", EVENTS_MAP],
            "events need --map (ts, action and session_id at least) and --provider",
            id="events-without-provider",
        ),
        pytest.param(
            [str(FIXTURES / "vonage_verify_v1_report.csv"), "--format", "vonage"],
            "vonage_verify_v1_report.csv, header: missing field(s) 'status', 'channel'",
            id="vonage-v1",
        ),
        pytest.param(
            [str(FIXTURES / "twilio_messages_page.json"), "--format", "twilio"],
            "twilio_messages_page.json: missing field(s) 'attempts'",
            id="twilio-messages",
        ),
        pytest.param(
            [str(PAGE), "--format", "twilio", "--map", "ts=date_created"],
            "--map is for events and vonage",
            id="twilio-map",
        ),
        pytest.param(
            [str(FIXTURES / "no-such.json"), "--format", "twilio"],
            "no-such.json",
            id="missing-file",
        ),
    ],
)
def test_import_command_refuses_in_one_line_and_writes_nothing(tmp_path, args, says) -> None:
    out = tmp_path / "log.jsonl"
    status, said, errors = _cli(tmp_path, *args, "--out", str(out))
    assert (status, said) == (1, "")
    lines = errors.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("verigator-nb import: "), errors
    assert says in lines[0]
    assert "Traceback" not in errors and not out.exists()


def test_import_command_checks_where_it_writes_before_reading(tmp_path) -> None:
    status, _, errors = _cli(tmp_path, str(PAGE), "--format", "twilio", "--out", "no/such/x.jsonl")
    assert status == 1 and errors.startswith("verigator-nb import: no folder no/such")


def test_each_mapping_table_in_the_docs_lists_every_column_in_schema_order() -> None:
    text = (Path(__file__).parents[1] / "docs" / "import.md").read_text(encoding="utf-8")
    tables = re.findall(r"\| Column \|[^\n]*\n\|[-| ]+\|\n((?:\|[^\n]*\n)+)", text)
    assert len(tables) == 3, "Twilio, Vonage and the events"
    for table in tables:
        listed = re.findall(r"^\| `(\w+)` \|", table, flags=re.M)
        assert listed == list(COLUMN_NAMES)
