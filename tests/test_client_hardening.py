"""What an outside attack run broke in the client, each case over real sockets (issue 10).

Redirects, malformed credentials, answers the contract allows but the client did not expect,
trickled, truncated, huge and deeply nested answers, passwords in the endpoint URL, and
per-session memory in long campaigns. Every case checks that nothing secret is echoed and that
a verify's outcome row is written, whatever the answer.
"""

from __future__ import annotations

import gc
import json
import sys
import time
import traceback
import tracemalloc
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests._scripted_server import Reply, ScriptedServer
from verigator_nb import errors
from verigator_nb.client import Api, Timeout
from verigator_nb.client._auth import Auth
from verigator_nb.client._recorder import Recorder, utc_now
from verigator_nb.client._transport import Transport
from verigator_nb.log import OutcomeLog
from verigator_nb.models import METHOD_SMS, RESULT_VERIFIED, RESULTS
from verigator_nb.schema import (
    ACTION,
    ENDPOINT,
    ERROR,
    EVENT_ID,
    HTTP_STATUS,
    LATENCY_MS,
    METHOD,
    REQUESTED_METHOD,
    RESULT,
    SERVICE_ID,
    SESSION_ID,
    TS,
    USER_ID,
    VERIFIED,
    VERIFY,
)

PASSWORD = "pw-Z9q-secret"
PIN = "493817"
VERIFIED_TOTP = b'{"method": "totp", "verified": true, "status": {"result": "VERIFIED"}}'
SMS_STARTED = b'{"method": "sms", "auth_id": "a-1"}'


def _api(url: str, **kwargs: Any) -> Api:
    return Api("acct", PASSWORD, url, **kwargs)


def _shown(error: BaseException) -> str:
    """Everything Jupyter would print for ``error``: message, repr and the whole chain."""
    return "".join(traceback.format_exception(error)) + repr(error)


# -- 1. redirects ------------------------------------------------------------------------------

CALLS = [
    pytest.param(lambda api: api.auth.verify("s", "u", PIN), "PUT", id="verify"),
    pytest.param(lambda api: api.auth.initiate("s", "u", "sms"), "POST", id="initiate"),
    pytest.param(lambda api: api.services.get("s"), "GET", id="get-service"),
]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(("call", "method"), CALLS)
def test_a_redirect_is_a_typed_error_naming_the_host_and_nothing_reaches_the_target(
    status: int, call: Any, method: str
) -> None:
    log = OutcomeLog()
    with ScriptedServer([Reply(200, VERIFIED_TOTP)]) as target:
        location = f"http://mallory:hunter2@localhost:{target.port}/grab?token={PIN}#frag"
        with ScriptedServer([Reply(status, b"", {"Location": location})]) as origin:
            with pytest.raises(errors.RedirectError) as caught:
                call(_api(origin.url, log=log))
    assert target.connections == 0 and target.seen == [], "something reached the other host"
    assert [seen.method for seen in origin.seen] == [method], "a call was sent twice"
    assert caught.value.host == f"localhost:{target.port}"
    assert (caught.value.status, caught.value.method) == (status, method)
    shown = _shown(caught.value)
    assert f"localhost:{target.port}" in str(caught.value)
    for secret in ("mallory", "hunter2", "grab", "token", PIN, PASSWORD, "frag"):
        assert secret not in shown, f"the error shows {secret!r}"
    if method != "GET":
        row = log.rows[-1]
        assert (row[ERROR], row[HTTP_STATUS], row[VERIFIED]) == ("RedirectError", status, None)


@pytest.mark.parametrize(
    ("headers", "host"),
    [
        pytest.param({"Location": "/v2/elsewhere"}, "origin", id="relative"),
        pytest.param({}, "", id="no-location"),
        pytest.param({"Location": "http://[::1"}, "", id="unreadable"),
    ],
)
def test_a_redirect_without_a_readable_target_is_still_a_typed_error(
    headers: dict[str, str], host: str
) -> None:
    with ScriptedServer([Reply(302, b"", headers)]) as origin:
        with pytest.raises(errors.RedirectError) as caught:
            _api(origin.url).auth.verify("s", "u", PIN)
    assert len(origin.seen) == 1
    assert caught.value.host == (f"127.0.0.1:{origin.port}" if host == "origin" else host)


# -- 4. malformed credentials ------------------------------------------------------------------

BAD_CREDENTIALS = [
    pytest.param("username", "acct-Q7\n", PASSWORD, id="username-trailing-newline"),
    pytest.param("username", " acct-Q7", PASSWORD, id="username-leading-space"),
    pytest.param("username", "acct-Q7:admin", PASSWORD, id="username-with-colon"),
    pytest.param("username", "acct-Q7\u0107\u20ac", PASSWORD, id="username-not-latin-1"),
    pytest.param("username", "ac\x00ct-Q7", PASSWORD, id="username-nul"),
    pytest.param("password", "acct", "pw-Z9\n", id="password-trailing-newline"),
    pytest.param("password", "acct", "pw-Z9\r\n", id="password-trailing-crlf"),
    pytest.param("password", "acct", "pw\r\nX-Evil: Z9", id="password-header-injection"),
    pytest.param("password", "acct", "pw\nZ9", id="password-inner-lf"),
    pytest.param("password", "acct", "pw\rZ9", id="password-inner-cr"),
    pytest.param("password", "acct", " pw-Z9", id="password-leading-space"),
    pytest.param("password", "acct", "pw-Z9 ", id="password-trailing-space"),
    pytest.param("password", "acct", "\tpw-Z9", id="password-leading-tab"),
    pytest.param("password", "acct", "pw\tZ9", id="password-inner-tab"),
    pytest.param("password", "acct", "pw\x7fZ9", id="password-del"),
    pytest.param("password", "acct", "pw\x85Z9", id="password-c1-next-line"),
    pytest.param("password", "acct", "pw-Z9\u20ac", id="password-euro-sign"),
    pytest.param("password", "acct", "\u5bc6\u7801-Z9", id="password-chinese"),
    pytest.param("password", "acct", "pw-Z9\u2028", id="password-line-separator"),
    pytest.param("password", "acct", "pw-Z9\ud800", id="password-lone-surrogate"),
    pytest.param("password", "acct", "pw-Z9\u00a0", id="password-trailing-nbsp"),
]


@pytest.mark.parametrize(("argument", "username", "password"), BAD_CREDENTIALS)
def test_a_malformed_credential_is_refused_by_name_without_echoing_it(
    argument: str, username: str, password: str
) -> None:
    with ScriptedServer([Reply(200, VERIFIED_TOTP)]) as server:
        with pytest.raises(ValueError) as caught:
            Api(username, password, server.url).auth.verify("s", "u", PIN)
    assert server.seen == [] and server.connections == 0
    message = str(caught.value)
    assert message.startswith(argument), message
    shown = _shown(caught.value)
    assert "Q7" not in shown and "Z9" not in shown, "the credential is echoed"


def test_a_latin_1_password_with_inner_spaces_is_accepted_and_sent() -> None:
    with ScriptedServer([Reply(200, VERIFIED_TOTP)]) as server:
        verified, _ = Api("acct", "correct horse caf\u00e9", server.url).auth.verify("s", "u", PIN)
    assert verified
    assert server.seen[0].headers["X-Service-Auth"] == "acct:correct horse caf\u00e9"


def test_a_refused_header_never_chains_the_error_that_quotes_it() -> None:
    # Api() refuses such a password; the transport must not leak it even when handed one.
    with ScriptedServer([Reply(200, VERIFIED_TOTP)]) as server:
        transport = Transport(
            server.url, f"acct:{PASSWORD}\n", timeout=Timeout(1, 1), session=None, retries=0
        )
        for _ in range(2):  # the second time as well: refused headers are never kept
            with pytest.raises(errors.TransportError) as caught:
                transport.request("PUT", "/v1/x", {"token": PIN})
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert PASSWORD not in _shown(caught.value) and PIN not in _shown(caught.value)
    assert server.seen == []


# -- endpoint userinfo, from_env ---------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param("https://acct-Q7:pw-Z9@api.example.com", id="user-and-password"),
        pytest.param("https://acct-Q7@api.example.com", id="user-only"),
        pytest.param("https://:pw-Z9@api.example.com/", id="password-only"),
    ],
)
def test_an_endpoint_with_credentials_in_it_is_refused_without_echoing_them(endpoint: str) -> None:
    for build in (
        lambda: Api("acct", "pw", endpoint),
        lambda: Api.from_env(
            {"VERIGATOR_USERNAME": "a", "VERIGATOR_PASSWORD": "p", "VERIGATOR_ENDPOINT": endpoint}
        ),
    ):
        with pytest.raises(ValueError) as caught:
            build()
        assert str(caught.value).startswith("endpoint")
        assert "Q7" not in _shown(caught.value) and "Z9" not in _shown(caught.value)


def test_from_env_without_an_endpoint_names_the_variable_instead_of_a_default_host() -> None:
    with pytest.raises(ValueError, match="VERIGATOR_ENDPOINT"):
        Api.from_env({"VERIGATOR_USERNAME": "u", "VERIGATOR_PASSWORD": "p"})
    api = Api.from_env(
        {"VERIGATOR_USERNAME": "u", "VERIGATOR_PASSWORD": "p"}, endpoint="http://127.0.0.1:9"
    )
    assert api.endpoint == "http://127.0.0.1:9"


# -- 5. answers the contract allows ------------------------------------------------------------


def _verify_answer(result: Any, verified: bool) -> bytes:
    return json.dumps(
        {"method": "totp", "verified": verified, "status": {"result": result}}
    ).encode()


@pytest.mark.parametrize(
    ("answer", "verified", "result"),
    [
        pytest.param(_verify_answer("PENDING", False), False, "PENDING", id="pending"),
        pytest.param(_verify_answer("SUCCESS", True), True, "SUCCESS", id="success"),
        pytest.param(_verify_answer("invalid", False), False, "invalid", id="lower-case"),
        pytest.param(_verify_answer(7, False), False, "7", id="number"),
        pytest.param(_verify_answer(None, True), True, "VERIFIED", id="null-verified"),
        pytest.param(_verify_answer(None, False), False, None, id="null-not-verified"),
        pytest.param(_verify_answer(["A", 1], False), False, '["A",1]', id="list"),
        pytest.param(_verify_answer({"a": True}, False), False, '{"a":true}', id="object"),
        pytest.param(_verify_answer("X" * 5000, False), False, "X" * 100, id="very-long"),
        pytest.param(
            b'{"verified": false, "status": {"result": "BAD\\ud800"}}',
            False,
            "BAD\\ud800",
            id="lone-surrogate",
        ),
        pytest.param(
            b'{"verified": false, "status": "throttled"}', False, None, id="status-not-an-object"
        ),
    ],
)
def test_any_result_the_server_sends_is_returned_and_logged_as_its_text(
    tmp_path: Path, answer: bytes, verified: bool, result: str | None
) -> None:
    log = OutcomeLog(tmp_path / "log.jsonl")
    with ScriptedServer([Reply(200, answer)]) as server:
        outcome = _api(server.url, log=log).auth.verify("s", "u", PIN)
    assert (outcome.verified, outcome.result) == (verified, result)
    row = log.rows[-1]
    assert (row[VERIFIED], row[RESULT], row[ERROR]) == (verified, result, None)
    log.close()
    again = OutcomeLog.load(tmp_path / "log.jsonl").rows
    assert len(again) == 1 and again[0][RESULT] == result


def _old_rows() -> list[dict[str, Any]]:
    base = {
        TS: "2026-01-01T00:00:00.000000Z",
        SERVICE_ID: "s",
        USER_ID: "u",
        ACTION: VERIFY,
        REQUESTED_METHOD: METHOD_SMS,
        METHOD: METHOD_SMS,
        SESSION_ID: "x-1",
        ENDPOINT: "sandbox",
        LATENCY_MS: 1.5,
    }
    answered = [
        {**base, EVENT_ID: f"e{index}", VERIFIED: result == RESULT_VERIFIED, RESULT: result}
        for index, result in enumerate(RESULTS)
    ]
    return [*answered, {**base, EVENT_ID: "e9", ERROR: "RequestTimeoutError"}]


def test_logs_written_when_result_was_a_category_still_load(tmp_path: Path) -> None:
    with OutcomeLog(tmp_path / "old.jsonl") as log:  # JSON Lines: the same text then as now
        for row in _old_rows():
            log.append(row)
        earlier = log.df.astype({RESULT: pd.CategoricalDtype(RESULTS)})  # the earlier dtype
    earlier.to_parquet(tmp_path / "old.parquet", index=False)
    earlier.to_csv(tmp_path / "old.csv", index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    for name in ("old.parquet", "old.csv", "old.jsonl"):
        loaded = OutcomeLog.load(tmp_path / name)
        assert loaded.df[RESULT].tolist()[:4] == list(RESULTS), name
        assert pd.isna(loaded.df[RESULT].iloc[4]), name
        assert pd.api.types.is_string_dtype(loaded.df[RESULT]), name


@pytest.mark.parametrize(
    "tags",
    [
        pytest.param("campaign-\ud800", id="str"),
        pytest.param(["ok", "bad-\udc80"], id="list"),
        pytest.param(["ok", 7], id="not-text"),
    ],
)
def test_tags_that_cannot_be_stored_are_refused_before_anything_is_sent(tags: Any) -> None:
    with ScriptedServer([Reply(200, SMS_STARTED)]) as server:
        with pytest.raises(ValueError, match=r"^tags"):
            _api(server.url, tags=tags)
        with pytest.raises(ValueError, match=r"^tags"):
            _api(server.url).with_log(OutcomeLog(), tags=tags)
    assert server.seen == []


def test_an_auth_id_that_cannot_be_stored_is_an_invalid_response_and_a_row(tmp_path: Path) -> None:
    log = OutcomeLog(tmp_path / "log.jsonl")
    with ScriptedServer([Reply(200, b'{"method": "sms", "auth_id": "a-\\udc00"}')]) as server:
        with pytest.raises(errors.InvalidResponseError):
            _api(server.url, log=log).auth.initiate("s", "u", "sms")
    row = log.rows[-1]
    assert (row[ERROR], row[HTTP_STATUS]) == ("InvalidResponseError", 200)
    log.close()
    assert len(OutcomeLog.load(tmp_path / "log.jsonl")) == 1


# -- 6. deadlines, truncated heads, huge and deep answers --------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(200, VERIFIED_TOTP, trickle=0.08), id="whole-answer-trickled"),
        pytest.param(
            Reply(raw=b"HTTP/1.1 200 OK\r\n\r\n" + VERIFIED_TOTP, trickle=0.08),
            id="raw-trickled",
        ),
    ],
)
def test_a_trickled_answer_fails_at_the_calls_deadline_and_is_logged(reply: Reply) -> None:
    log = OutcomeLog()
    with ScriptedServer([reply]) as server:
        api = _api(server.url, log=log, timeout=(1, 1))
        began = time.monotonic()
        with pytest.raises(errors.RequestTimeoutError) as caught:
            api.auth.verify("s", "u", PIN)
        elapsed = time.monotonic() - began
    assert elapsed < 4.0, f"a call with a 2 s deadline took {elapsed:.1f} s"
    assert "deadline" in str(caught.value)
    assert len(server.seen) == 1
    row = log.rows[-1]
    assert (row[ERROR], row[VERIFIED]) == ("RequestTimeoutError", None)


def test_get_retries_stop_at_the_calls_deadline() -> None:
    storm = Reply(503, b'{"message": "busy"}', {"Retry-After": "10"})
    with ScriptedServer([storm]) as server:
        api = _api(server.url, timeout=Timeout(1, 1, total=1.5), retries=3)
        began = time.monotonic()
        with pytest.raises(errors.InternalError):
            api.services.get("s")
        elapsed = time.monotonic() - began
    assert elapsed < 4.0, f"a GET with a 1.5 s deadline took {elapsed:.1f} s"
    assert len(server.seen) == 1, "a retry after a 10 s pause cannot beat a 1.5 s deadline"


def test_timeout_has_a_total_deadline_defaulting_to_connect_plus_read() -> None:
    assert _api("http://127.0.0.1:9", timeout=(1, 2)).timeout == Timeout(1.0, 2.0, 3.0)
    assert _api("http://127.0.0.1:9", timeout=Timeout(1, 2, total=1.5)).timeout.total == 1.5
    with pytest.raises(ValueError, match="timeout"):
        Timeout(1, 2, total=0)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Type: applic", id="mid-header"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", id="at-a-line-end"),
        pytest.param(b"HTTP/1.1 200 OK\r\n", id="after-the-status-line"),
        pytest.param(b"HTTP/1.1 20", id="mid-status-line"),
    ],
)
def test_an_answer_cut_off_inside_its_head_is_a_connection_error_not_a_success(raw: bytes) -> None:
    with ScriptedServer([Reply(raw=raw)]) as server:
        with pytest.raises(errors.ConnectionFailedError) as caught:
            _api(server.url).users.delete("s", "u")
    assert [seen.method for seen in server.seen] == ["DELETE"]
    assert "broke" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "length", "error"),
    [
        pytest.param(200, True, errors.InvalidResponseError, id="with-length"),
        pytest.param(200, False, errors.InvalidResponseError, id="until-close"),
        pytest.param(500, False, errors.InternalError, id="error-status"),
        pytest.param(307, False, errors.RedirectError, id="redirect"),
    ],
)
def test_a_huge_answer_is_refused_without_reading_it_into_memory(
    status: int, length: bool, error: type[errors.VerigatorError]
) -> None:
    log = OutcomeLog()
    body = b'{"verified": true, "message": "'
    reply = Reply(status, body, {"Location": "/v2"}, filler=48 * 2**20, length=length)
    with ScriptedServer([reply]) as server:
        api = _api(server.url, log=log)
        tracemalloc.start()
        try:
            with pytest.raises(errors.VerigatorError) as caught:
                api.auth.verify("s", "u", PIN)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert type(caught.value) is error
    assert peak < 16 * 2**20, f"reading a 48 MiB answer took {peak / 2**20:.0f} MiB"
    assert log.rows[-1][ERROR] == error.__name__


@pytest.mark.parametrize("status", [200, 500])
def test_a_deeply_nested_answer_is_an_invalid_response_and_a_row(status: int) -> None:
    depth = 200_000
    log = OutcomeLog()
    with ScriptedServer([Reply(status, b"[" * depth + b"]" * depth)]) as server:
        with pytest.raises(errors.VerigatorError) as caught:
            _api(server.url, log=log).auth.verify("s", "u", PIN)
    expected = errors.InvalidResponseError if status == 200 else errors.InternalError
    assert type(caught.value) is expected
    assert log.rows[-1][ERROR] == expected.__name__


def test_keep_alive_survives_the_streamed_reads() -> None:
    with ScriptedServer([Reply(200, VERIFIED_TOTP)]) as server:
        api = _api(server.url)
        for _ in range(5):
            assert api.auth.verify("s", "u", PIN).verified
    assert len(server.seen) == 5 and server.connections == 1


# -- per-session memory ------------------------------------------------------------------------


class _Instant:
    """A stand-in transport answering every initiate with SMS and every verify as wrong."""

    def request(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        if method == "POST":
            return 200, {"method": "sms", "auth_id": "a"}
        return 200, {"verified": False, "status": {"result": "INVALID"}}


class _Attempts:
    """A sink that keeps only the attempt numbers of the rows it is handed."""

    def __init__(self) -> None:
        self.attempts: list[int] = []

    def append(self, row: Mapping[str, Any]) -> None:
        if row.get("attempt") is not None:
            self.attempts.append(row["attempt"])
            del self.attempts[:-4]


def _campaign(auth: Auth, start: int, stop: int) -> None:
    for index in range(start, stop):
        auth.initiate("s", f"user-{index}", "sms")
        auth.verify("s", f"user-{index}", "000000")  # by plain ids: the latest initiate


def _blocks() -> int:
    gc.collect()
    return sys.getallocatedblocks()


def test_a_100k_session_campaign_keeps_per_session_memory_bounded() -> None:
    sink = _Attempts()
    auth = Auth(_Instant(), Recorder(sink, clock=utc_now, endpoint="x", tags=""))
    _campaign(auth, 0, 20_000)
    before = _blocks()
    _campaign(auth, 20_000, 100_000)
    grown = _blocks() - before
    assert grown < 10_000, f"80,000 more sessions kept {grown} more memory blocks"
    auth.verify("s", "user-99000", "1")  # a session 1,000 back: its second verify
    recent = auth.initiate("s", "user-99999", "sms")
    assert [auth.verify(recent, "1").http_status for _ in range(3)] == [200, 200, 200]
    assert sink.attempts[-4:] == [2, 1, 2, 3]
