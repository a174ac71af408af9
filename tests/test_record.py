"""record(): an application on the official client, recorded without changing what it sees.

Driven by the stand-in of ``tests._official_client`` (the official package is never imported):
the application gets the very objects the client returned and raised, each call is a row, and
no failure of the log ever reaches the application.
"""

from __future__ import annotations

import errno
import inspect
import logging
import multiprocessing
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import _official_client as official
from verigator_nb import OutcomeLog, record

SERVICE, USER = "svc-1", "user-1"
WRONG = "917364"


def _recorded(release: str, log: Any = None) -> tuple[official.Api, Any, Any]:
    api = official.Api("username", "password", release=release)
    log = OutcomeLog() if log is None else log
    return api, log, record(api, log, tags="prod")


def _verify(api: official.Api, release: str, token: str, started: Any) -> Any:
    """The verify line an application on ``release`` writes."""
    if release == "0.0.1":  # the seed page's form: method, token, and the SMS auth_id
        method = "sms" if started else "totp"
        return api.auth.verify(SERVICE, USER, method, token, *([started] if started else []))
    return api.auth.verify(SERVICE, USER, token)


# Per release: what initiate returns for a user without an app asked for TOTP, and what the
# rows can know from it.
LOGIN = [
    pytest.param(
        "1.0.3",
        {"returned": "sms", "method": "sms", "fallback": True, "auth_id": None, "wrong": None},
        id="1.0.3-method-and-bool",
    ),
    pytest.param(
        "1.0.0",
        {"returned": None, "method": None, "fallback": None, "auth_id": None, "wrong": "INVALID"},
        id="1.0.0-nothing-and-tuple",
    ),
    pytest.param(
        "0.0.1",
        {"returned": "auth-1", "method": "sms", "fallback": True, "auth_id": "auth-1"}
        | {"wrong": "INVALID"},
        id="before-1.0-auth-id-and-tuple",
    ),
]


@pytest.mark.parametrize(("release", "expected"), LOGIN)
def test_a_login_returns_exactly_what_the_official_client_returned_and_is_three_rows(
    release: str, expected: Mapping[str, Any]
) -> None:
    api, log, _ = _recorded(release)
    started = api.auth.initiate(SERVICE, USER, api.auth.METHOD_TOTP)
    wrong = _verify(api, release, WRONG, started)
    right = _verify(api, release, official.PIN, started)

    assert [started, wrong, right] == api.server.returned
    for got, given in zip([started, wrong, right], api.server.returned, strict=True):
        assert got is given and type(got) is type(given)
    assert started == expected["returned"]

    initiate, first, second = log.rows
    assert initiate["action"] == "initiate" and initiate["requested_method"] == "totp"
    assert (initiate["method"], initiate["fallback"]) == (expected["method"], expected["fallback"])
    assert initiate["auth_id"] == expected["auth_id"] and initiate["http_status"] == 200
    assert [first["action"], second["action"]] == ["verify", "verify"]
    assert {row["session_id"] for row in log.rows} == {initiate["session_id"]}
    assert [first["attempt"], second["attempt"]] == [1, 2]
    assert [first["verified"], second["verified"]] == [False, True]
    assert [first["result"], second["result"]] == [expected["wrong"], "VERIFIED"]
    assert first["requested_method"] == expected["method"]
    assert all(row["latency_ms"] >= 0 and row["tags"] == "prod" for row in log.rows)
    assert {row["endpoint"] for row in log.rows} == {"api.verigator.com"}


OFFICIAL_ERRORS = [
    pytest.param(official.InvalidDataError(422, "bad method"), 422, id="422"),
    pytest.param(official.WrongCredentialsError(401, "who?"), 401, id="401"),
    pytest.param(official.ResourceForbiddenError(403, "not yours"), 403, id="403"),
    pytest.param(official.NoSuchResourceError(404, "no such user"), 404, id="404"),
    pytest.param(official.ResourceAlreadyExistsError(409, "locked"), 409, id="409"),
    pytest.param(official.InternalError(500, {"message": "boom"}), 500, id="500"),
    pytest.param(official.InvalidResponseError(0, "<html>"), None, id="not-json-no-status"),
    pytest.param(requests.ConnectionError("reset"), None, id="transport-error"),
]


@pytest.mark.parametrize("release", official.RELEASES)
@pytest.mark.parametrize(("fault", "status"), OFFICIAL_ERRORS)
def test_an_official_error_reaches_the_application_as_that_very_exception_and_is_a_row(
    release: str, fault: Exception, status: int | None
) -> None:
    api, log, _ = _recorded(release)
    api.server.fault = fault
    with pytest.raises(type(fault)) as initiating:
        api.auth.initiate(SERVICE, USER, "sms")
    api.server.fault = fault
    with pytest.raises(type(fault)) as verifying:
        _verify(api, release, WRONG, "auth-9")

    assert initiating.value is fault and verifying.value is fault
    assert fault.__cause__ is None  # raised as it was, not wrapped in anything
    rows = log.rows
    assert [row["action"] for row in rows] == ["initiate", "verify"]
    assert [row["error"] for row in rows] == [type(fault).__name__] * 2
    assert [row["http_status"] for row in rows] == [status, status]
    assert [row["verified"] for row in rows] == [None, None]  # no verdict came


def test_arguments_the_official_client_refuses_raise_its_error_and_make_no_row() -> None:
    api, log, _ = _recorded("1.0.3")
    with pytest.raises(ValueError, match="should be string"):
        api.auth.verify(SERVICE, USER, 482915)
    with pytest.raises(TypeError):
        api.auth.initiate(SERVICE, USER)
    assert len(log) == 0


@pytest.mark.parametrize("release", official.RELEASES)
def test_no_token_reaches_the_log(release: str, tmp_path: Path) -> None:
    path = tmp_path / "outcomes.jsonl"
    api, log, _ = _recorded(release, OutcomeLog(path))
    started = api.auth.initiate(SERVICE, USER, "sms")
    _verify(api, release, WRONG, started)
    _verify(api, release, official.PIN, started)
    log.close()
    text = path.read_text()
    assert len(OutcomeLog.load(path)) == 3
    assert WRONG not in text and official.PIN not in text and "token" not in text


def test_the_auth_keeps_its_class_attributes_and_signatures_and_stop_gives_them_back() -> None:
    api = official.Api("username", "password")
    auth, before = api.auth, inspect.signature(api.auth.verify)
    log = OutcomeLog()
    recording = record(api, log)
    assert type(api.auth) is official.Auth103 and api.auth is auth
    assert api.auth.METHOD_TOTP == "totp" and api.auth.rest_client.endpoint.endswith(".com")
    assert inspect.signature(api.auth.verify) == before
    with pytest.raises(ValueError, match="already recorded"):
        record(api, log)
    recording.stop()
    api.auth.initiate(SERVICE, USER, "sms")
    assert len(log) == 0  # calls are rows no more
    assert "initiate" not in vars(api.auth)
    record(api, log)  # and it can be recorded again
    api.auth.initiate(SERVICE, USER, "sms")
    assert len(log) == 1


def test_something_that_is_not_the_official_api_is_refused() -> None:
    with pytest.raises(TypeError, match="official client"):
        record(object(), OutcomeLog())


class _FullDisk:
    """A log whose every append fails as a full disk does."""

    def __init__(self) -> None:
        self.tries = 0

    def append(self, row: Mapping[str, Any]) -> None:
        self.tries += 1
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_counted_and_logged_once_and_every_call_still_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = _FullDisk()
    api, _, recording = _recorded("1.0.3", log)
    with caplog.at_level(logging.ERROR, logger="verigator_nb"):
        assert api.auth.initiate(SERVICE, USER, "sms") == "sms"
        assert api.auth.verify(SERVICE, USER, official.PIN) is True
        api.server.fault = official.NoSuchResourceError(404, "gone")
        with pytest.raises(official.NoSuchResourceError):
            api.auth.verify(SERVICE, USER, WRONG)  # the app's error, not the disk's
    assert log.tries == 3 and recording.failed_appends == 3
    reports = [r for r in caplog.records if r.name == "verigator_nb"]
    assert len(reports) == 1
    assert "No space left on device" in reports[0].getMessage()
    assert WRONG not in caplog.text and official.PIN not in caplog.text


def test_concurrent_logins_from_8_threads_each_stay_in_their_own_session() -> None:
    api, log, recording = _recorded("1.0.3")
    start = threading.Barrier(8)

    def login(thread: int) -> None:
        start.wait()
        for n in range(25):
            user = f"user-{thread}-{n}"
            api.auth.initiate(SERVICE, user, "sms")
            api.auth.verify(SERVICE, user, WRONG)
            api.auth.verify(SERVICE, user, official.PIN)

    threads = [threading.Thread(target=login, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = log.rows
    assert len(rows) == 8 * 25 * 3 and recording.failed_appends == 0
    sessions: dict[str, set[str]] = {}
    for row in rows:
        sessions.setdefault(row["user_id"], set()).add(row["session_id"])
    assert all(len(ids) == 1 for ids in sessions.values())  # each login is one session
    assert len({ids.pop() for ids in sessions.values()}) == 8 * 25  # and no two share one


def _initiate_in_child(api: official.Api, log: OutcomeLog, out: Any) -> None:
    api.auth.initiate(SERVICE, "child-user", "sms")
    out.put(log.rows[-1]["session_id"])


def test_a_forked_worker_draws_session_ids_of_its_own() -> None:
    api, log, _ = _recorded("1.0.3")
    api.auth.initiate(SERVICE, USER, "sms")  # the parent has used "<prefix>-1"
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_initiate_in_child, args=(api, log, out))
    child.start()
    child_session = out.get(timeout=30)
    child.join(timeout=30)
    parent_session = log.rows[0]["session_id"]
    assert child_session.split("-")[0] != parent_session.split("-")[0]


def test_a_clock_that_fails_costs_the_application_nothing_and_the_row_takes_the_wall_clock() -> (
    None
):
    def broken() -> Any:
        raise RuntimeError("clock gone")

    api = official.Api("username", "password")
    log = OutcomeLog()
    recording = record(api, log, clock=broken)
    assert api.auth.initiate(SERVICE, USER, "sms") == "sms"
    assert recording.failed_appends == 1 and len(log) == 1
    assert log.rows[0]["ts"].tzinfo is not None
