"""The outcome log: rows checked against the schema, durable JSONL, dtypes, exports, threads."""

from __future__ import annotations

import json
import os
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from tests._log_writer_child import sample_rows
from verigator_nb.errors import NoSuchResourceError
from verigator_nb.log import DamagedLogWarning, LogFormatError, OutcomeLog
from verigator_nb.log import _outcome_log as log_module
from verigator_nb.sandbox import Sandbox
from verigator_nb.schema import COLUMN_NAMES, COLUMNS

START = datetime(2026, 1, 1, tzinfo=UTC)


def _filled(rows: list[dict]) -> OutcomeLog:
    log = OutcomeLog()
    for row in rows:
        log.append(row)
    return log


def _line(event_id: str) -> bytes:
    return json.dumps({"event_id": event_id}).encode()


def _schema_dtypes() -> dict[str, object]:
    return {column.name: pd.Series([], dtype=column.dtype).dtype for column in COLUMNS}


# --- rows in, rows and dtypes out -------------------------------------------------------------


def test_every_column_round_trips_through_the_file_and_load(tmp_path: Path) -> None:
    rows = sample_rows(12)
    with OutcomeLog(tmp_path / "log.jsonl") as log:
        for row in rows:
            log.append(row)
    loaded = OutcomeLog.load(tmp_path / "log.jsonl")
    assert loaded.rows == log.rows
    assert [r["ts"] for r in loaded.rows] == [r["ts"] for r in rows]
    assert loaded.rows[0]["tags"] == 'campaign "spring", wave 2'
    pd.testing.assert_frame_equal(loaded.df, log.df)


def test_df_has_every_schema_column_at_its_dtype() -> None:
    frame = _filled(sample_rows(8)).df
    assert list(frame.columns) == list(COLUMN_NAMES)
    assert frame.dtypes.to_dict() == _schema_dtypes()
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"
    assert OutcomeLog().df.dtypes.to_dict() == _schema_dtypes()


def test_unknown_outcome_stays_na_and_never_becomes_false(tmp_path: Path) -> None:
    log = OutcomeLog(tmp_path / "log.jsonl")
    log.append({"event_id": "a", "ts": START, "action": "verify", "verified": None})
    log.append({"event_id": "b", "ts": START, "action": "verify", "verified": False})
    for frame in (log.df, OutcomeLog.load(tmp_path / "log.jsonl").df):
        assert frame["verified"].isna().tolist() == [True, False]
        assert frame["verified"].sum() == 0 and frame["verified"].count() == 1


def test_ts_is_stored_as_iso_8601_utc_whatever_zone_it_came_in(tmp_path: Path) -> None:
    tallinn = datetime(2026, 1, 1, 2, 30, 0, 250, tzinfo=UTC).astimezone(ZoneInfo("Europe/Tallinn"))
    log = OutcomeLog(tmp_path / "log.jsonl")
    log.append({"event_id": "a", "ts": tallinn})
    log.append({"event_id": "b", "ts": "2026-01-01T03:00:00+02:00"})
    stored = [json.loads(line)["ts"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert stored == ["2026-01-01T02:30:00.000250Z", "2026-01-01T01:00:00.000000Z"]
    assert log.rows[0]["ts"] == datetime(2026, 1, 1, 2, 30, 0, 250, tzinfo=UTC)


def test_unknown_keys_are_refused_by_name_and_nothing_is_written(tmp_path: Path) -> None:
    log = OutcomeLog(tmp_path / "log.jsonl")
    with pytest.raises(ValueError, match=r"'password', 'pin'") as caught:
        log.append({"event_id": "a", "pin": "482913", "password": "hunter2"})
    assert "482913" not in str(caught.value) and "hunter2" not in str(caught.value)
    assert len(log) == 0 and (tmp_path / "log.jsonl").read_bytes() == b""


@pytest.mark.parametrize(
    ("column", "value"),
    [
        pytest.param("verified", "yes", id="bool-column-given-text"),
        pytest.param("verified", 1, id="bool-column-given-int"),
        pytest.param("attempt", True, id="int-column-given-bool"),
        pytest.param("attempt", 70_000, id="int-column-beyond-int16"),
        pytest.param("http_status", "200", id="int-column-given-text"),
        pytest.param("action", "login", id="category-outside-its-values"),
        pytest.param("latency_ms", float("inf"), id="float-column-given-infinity"),
        pytest.param("latency_ms", "fast", id="float-column-given-text"),
        pytest.param("ts", datetime(2026, 1, 1), id="naive-datetime"),
        pytest.param("ts", "yesterday", id="ts-text-not-iso"),
        pytest.param("event_id", 5, id="str-column-given-int"),
    ],
)
def test_value_of_the_wrong_kind_is_refused_naming_the_column(column: str, value: object) -> None:
    log = OutcomeLog()
    with pytest.raises(ValueError, match=repr(column)) as caught:
        log.append({"event_id": "a", column: value})
    assert str(value) not in str(caught.value), "the message must not echo the value"
    assert len(log) == 0


def test_missing_values_from_pandas_count_as_missing() -> None:
    log = OutcomeLog()
    log.append({"event_id": "a", "verified": pd.NA, "ts": pd.NaT, "latency_ms": float("nan")})
    assert log.rows[0]["verified"] is None and log.rows[0]["ts"] is None
    assert log.rows[0]["latency_ms"] is None


def test_rows_are_copies_and_df_is_cached_until_the_next_append(monkeypatch) -> None:
    log = _filled(sample_rows(5))
    log.rows[0]["event_id"] = "changed"
    assert log.rows[0]["event_id"] == "row-0"
    built: list[int] = []
    real_to_frame = log_module.to_frame

    def counting_to_frame(rows: list) -> pd.DataFrame:
        built.append(len(rows))
        return real_to_frame(rows)

    monkeypatch.setattr(log_module, "to_frame", counting_to_frame)
    first = log.df
    first["extra"] = 1  # a caller's column must not leak into the cache
    assert "extra" not in log.df.columns and built == [5]
    log.append(sample_rows(6)[5])
    assert log.df["event_id"].tolist()[-1] == "row-5" and built == [5, 1]
    assert log.df.dtypes.to_dict() == _schema_dtypes()


def test_repr_shows_path_and_row_count_only(tmp_path: Path) -> None:
    log = OutcomeLog(tmp_path / "log.jsonl")
    log.append(sample_rows(1)[0])
    assert repr(log) == f"OutcomeLog({str(tmp_path / 'log.jsonl')!r}, rows=1)"
    assert repr(OutcomeLog()) == "OutcomeLog(in memory, rows=0)"


# --- the durable file -------------------------------------------------------------------------


def test_existing_file_is_resumed_and_new_rows_go_after_it(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    rows = sample_rows(4)
    with OutcomeLog(path) as first:
        first.append(rows[0])
        first.append(rows[1])
    with OutcomeLog(path) as again:
        assert len(again) == 2
        again.append(rows[2])
    assert [r["event_id"] for r in OutcomeLog.load(path).rows] == ["row-0", "row-1", "row-2"]


@pytest.mark.parametrize(
    "torn",
    [
        pytest.param(b'{"event_id":"row-2","ts":"2026-01-01T00:00:0', id="half-a-row"),
        pytest.param('{"event_id":"ünï'.encode()[:-1], id="cut-inside-a-character"),
    ],
)
def test_torn_last_line_is_set_aside_and_the_next_append_starts_a_fresh_line(
    tmp_path: Path, torn: bytes
) -> None:
    path = tmp_path / "log.jsonl"
    with OutcomeLog(path) as log:
        log.append(sample_rows(1)[0])
        log.append(sample_rows(2)[1])
    with path.open("ab") as raw:
        raw.write(torn)
    on_disk = path.read_bytes()
    with pytest.warns(DamagedLogWarning, match="set aside line 3"):
        resumed = OutcomeLog.load(path)
    assert [r["event_id"] for r in resumed.rows] == ["row-0", "row-1"]
    assert [line for line, _ in resumed.set_aside] == [3] and "torn" in resumed.set_aside[0][1]
    assert path.read_bytes() == on_disk, "reading must not change the file"
    resumed.append({"event_id": "row-3", "ts": START})
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 4
    assert [json.loads(line)["event_id"] for line in lines[:-1]] == ["row-0", "row-1", "row-3"]
    assert [r["event_id"] for r in OutcomeLog.load(path).rows] == ["row-0", "row-1", "row-3"]


def test_a_file_holding_only_a_torn_line_loads_empty_and_is_cut_on_append(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"event_id":"x"')
    with pytest.warns(DamagedLogWarning):
        log = OutcomeLog.load(path)
    assert len(log) == 0
    log.append({"event_id": "y"})
    assert path.read_bytes().count(b"\n") == 1 and b'"x"' not in path.read_bytes()


@pytest.mark.parametrize(
    ("middle", "reason"),
    [
        pytest.param(b"{not json", "not JSON (Expecting", id="not-json"),
        pytest.param(b"[1, 2]", "not a JSON object", id="not-an-object"),
        pytest.param(b'{"event_id":"x","pin":"123456"}', "'pin'", id="unknown-column"),
        pytest.param(b'{"event_id":"x","verified":"no"}', "'verified'", id="wrong-kind"),
    ],
)
def test_malformed_middle_line_is_set_aside_by_number_and_the_rows_around_it_kept(
    tmp_path: Path, middle: bytes, reason: str
) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"\n".join([_line("a"), middle, _line("b"), b""]))
    with pytest.warns(DamagedLogWarning, match=f"{re.escape(str(path))}: set aside line 2"):
        log = OutcomeLog.load(path)
    assert [r["event_id"] for r in log.rows] == ["a", "b"]
    assert len(log.set_aside) == 1 and log.set_aside[0][0] == 2
    assert reason in log.set_aside[0][1] and "123456" not in log.set_aside[0][1]


def test_closed_log_refuses_appends_and_missing_file_cannot_be_loaded(tmp_path: Path) -> None:
    log = OutcomeLog(tmp_path / "log.jsonl")
    log.close()
    log.close()
    with pytest.raises(ValueError, match="closed"):
        log.append({"event_id": "a"})
    with pytest.raises(FileNotFoundError):
        OutcomeLog.load(tmp_path / "nothing.jsonl")
    with pytest.raises(ValueError, match="export"):
        OutcomeLog(tmp_path / "log.csv")


def test_appends_from_8_threads_are_neither_lost_nor_interleaved(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    log = OutcomeLog(path)
    start = threading.Barrier(8)

    def write(thread: int) -> None:
        start.wait()
        for i in range(400):
            log.append({"event_id": f"{thread}-{i}", "ts": START, "tags": "x" * (i % 300)})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    on_disk = [json.loads(line)["event_id"] for line in path.read_text().splitlines()]
    assert on_disk == [row["event_id"] for row in log.rows], "file order must be memory order"
    assert sorted(on_disk) == sorted(f"{t}-{i}" for t in range(8) for i in range(400))
    for thread in range(8):
        mine = [int(e.split("-")[1]) for e in on_disk if e.startswith(f"{thread}-")]
        assert mine == sorted(mine)


# --- exports ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_export_round_trips_with_the_same_dtypes_and_leaves_no_temp_file(
    tmp_path: Path, suffix: str
) -> None:
    log = _filled(sample_rows(40))
    target = tmp_path / f"outcomes{suffix}"
    (log.to_parquet if suffix == ".parquet" else log.to_csv)(target)
    back = OutcomeLog.load(target)
    pd.testing.assert_frame_equal(back.df, log.df)
    assert back.df.dtypes.to_dict() == _schema_dtypes()
    assert back.path is None, "an export loads as an in-memory log"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


@pytest.mark.parametrize("kind", ["to_parquet", "to_csv"])
def test_export_into_a_missing_directory_fails_and_creates_nothing(
    tmp_path: Path, kind: str
) -> None:
    with pytest.raises(FileNotFoundError):
        getattr(_filled(sample_rows(3)), kind)(tmp_path / "missing" / "outcomes.out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["to_parquet", "to_csv"])
def test_export_that_fails_midway_keeps_the_previous_file(
    tmp_path: Path, monkeypatch, kind: str
) -> None:
    target = tmp_path / "outcomes.out"
    getattr(_filled(sample_rows(3)), kind)(target)
    before = target.read_bytes()

    def half_then_fail(frame: pd.DataFrame, path: str, **_: object) -> None:
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, kind, half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        getattr(_filled(sample_rows(9)), kind)(target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_csv_with_an_unknown_column_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "outcomes.csv"
    _filled(sample_rows(2)).df.assign(pin="123456").to_csv(target, index=False)
    with pytest.raises(LogFormatError, match="unknown \\['pin'\\]"):
        OutcomeLog.load(target)


def test_csv_cell_that_does_not_parse_names_its_line_and_column(tmp_path: Path) -> None:
    target = tmp_path / "outcomes.csv"
    _filled(sample_rows(3)).to_csv(target)
    frame = pd.read_csv(target, dtype=str, keep_default_na=False)
    frame.loc[1, "verified"] = "maybe"
    frame.to_csv(target, index=False)
    with pytest.raises(LogFormatError, match="line 3: column 'verified'") as caught:
        OutcomeLog.load(target)
    assert caught.value.line == 3


# --- driven by the real client ----------------------------------------------------------------


def _session(sandbox: Sandbox, log: OutcomeLog) -> dict[str, str]:
    """TOTP asked (falls back to SMS), a wrong PIN, the right PIN; returns ids and the PIN."""
    api = sandbox.api(log=log)
    you = sandbox.control(api)
    service = api.services.create("www.example.com", "CoffeeShop")
    user = api.users.create(service.id, "+4401234567", "john.doe@example.com")
    started = api.auth.initiate(service.id, user.id, api.auth.METHOD_TOTP)
    pin = you.pin_for(started.auth_id or "")
    wrong = "000000" if pin != "000000" else "111111"
    assert not api.auth.verify(started, wrong).verified
    assert api.auth.verify(service.id, user.id, pin).verified
    return {"service": service.id, "user": user.id, "auth": started.auth_id or "", "pin": pin}


def test_sandbox_session_gives_one_row_per_call_with_its_outcome(sandbox: Sandbox) -> None:
    log = OutcomeLog()
    ids = _session(sandbox, log)
    frame = log.df
    assert frame["action"].tolist() == ["initiate", "verify", "verify"]
    assert frame["requested_method"].tolist() == ["totp", "sms", "sms"]
    assert frame["method"].tolist() == ["sms", "sms", "sms"]
    assert frame["fallback"].tolist() == [True, pd.NA, pd.NA]
    assert frame["verified"].tolist() == [pd.NA, False, True]
    assert frame["result"].tolist()[1:] == ["INVALID", "VERIFIED"] and pd.isna(frame["result"][0])
    assert frame["attempt"].tolist() == [pd.NA, 1, 2]
    assert frame["session_id"].nunique() == 1
    assert (frame["auth_id"] == ids["auth"]).all() and (frame["user_id"] == ids["user"]).all()
    assert (frame["ts"] == pd.Timestamp("2026-01-01T00:00:00Z")).all()
    assert (frame["endpoint"] == "sandbox").all() and (frame["country"] == "GB").all()
    assert frame["http_status"].tolist() == [200, 200, 200] and (frame["error"] == "").all()
    assert (frame["latency_ms"] > 0).all()


def test_totp_rows_carry_the_sandbox_clock_as_it_moves(sandbox: Sandbox) -> None:
    log = OutcomeLog()
    api = sandbox.api(log=log)
    you = sandbox.control(api)
    service = api.services.create("www.example.com", "CoffeeShop")
    user = api.users.create(service.id, "+4401234567", "john.doe@example.com")
    you.enrol_totp(service.id, user.id)
    started = api.auth.initiate(service.id, user.id, api.auth.METHOD_TOTP)
    you.advance(90)
    assert api.auth.verify(started, you.totp_code(service.id, user.id)).verified
    rows = log.rows
    assert [r["method"] for r in rows] == ["totp", "totp"] and rows[0]["fallback"] is False
    assert rows[0]["auth_id"] is None
    assert [r["ts"] for r in rows] == [START, START + timedelta(seconds=90)]


def test_call_that_raised_is_a_row_with_its_error_and_unknown_outcome(sandbox: Sandbox) -> None:
    log = OutcomeLog()
    api = sandbox.api(log=log)
    service = api.services.create("www.example.com", "CoffeeShop")
    with pytest.raises(NoSuchResourceError):
        api.auth.verify(service.id, "no-such-user", "123456")
    frame = log.df
    assert len(frame) == 1 and frame["error"][0] == "NoSuchResourceError"
    assert frame["http_status"][0] == 404 and frame["verified"].isna().all()
    assert frame["action"][0] == "verify" and frame["attempt"][0] == 1


def test_no_pin_secret_password_or_phone_reaches_the_file_frame_or_repr(tmp_path: Path) -> None:
    password = "Pa55-word-for-the-log-test"
    path = tmp_path / "log.jsonl"
    log = OutcomeLog(path)
    with Sandbox(seed=7, accounts={"alice": password}) as sandbox:
        ids = _session(sandbox, log)
        api = sandbox.api(log=log)
        you = sandbox.control(api)
        secret = you.enrol_totp(ids["service"], ids["user"]).secret
        code = you.totp_code(ids["service"], ids["user"])
        api.auth.verify(ids["service"], ids["user"], code)
    texts = {
        "file": path.read_text(),
        "frame": log.df.to_csv(index=False),
        "repr": repr(log),
        "export": (log.to_csv(tmp_path / "o.csv"), (tmp_path / "o.csv").read_text())[1],
    }
    for where, text in texts.items():
        for value in (password, secret, "+4401234567", "4401234567"):
            assert value not in text, f"{value!r} leaked into the {where}"
        for digits in (ids["pin"], code):  # as a whole token: digits may occur inside hex ids
            assert not re.search(rf"(?<![\w.]){digits}(?![\w.])", text), f"a PIN in the {where}"
    assert len(log) == 4 and os.path.getsize(path) > 0


def test_docs_column_table_matches_the_schema() -> None:
    text = (Path(__file__).parents[1] / "docs" / "outcome-log.md").read_text()
    section = text.split("## Columns", 1)[1].split("\n## ", 1)[0]
    table = [
        [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| `")
    ]
    expected = []
    for column in COLUMNS:
        dtype = column.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            dtype = "category: " + ", ".join(dtype.categories)
        expected.append([column.name, dtype, column.meaning])
    assert table == expected


def test_a_form_twin_and_its_client_never_share_a_session_id(sandbox) -> None:
    from verigator_nb.log import OutcomeLog as _Log

    log = _Log()
    api = sandbox.api(log=log)
    twin = api.with_log(log)
    service = api.services.create("www.example.com", "CoffeeShop")
    user = api.users.create(service.id, "+4401234567", "john")
    first = api.auth.initiate(service.id, user.id, "sms")
    second = twin.auth.initiate(service.id, user.id, "sms")
    assert first.session_id != second.session_id
    assert log.df["session_id"].is_unique


def test_seeded_ids_repeat_and_unseeded_ids_do_not() -> None:
    from verigator_nb.client._recorder import Recorder, utc_now

    def ids(seed):
        recorder = Recorder(None, clock=utc_now, endpoint="x", tags="", id_seed=seed)
        return recorder.new_session_id(), recorder._new_id()

    assert ids(5) == ids(5)
    assert ids(5) != ids(6)
    assert ids(None) != ids(None)
