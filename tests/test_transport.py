"""Transport faults over real sockets: retries, timeouts, bad answers, and no secret in errors."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
import requests

from tests._scripted_server import Reply, ScriptedServer
from verigator_nb import errors
from verigator_nb.client import Api, Prepared

PASSWORD = "s3cret-pass"


def _api(url: str, **kwargs: object) -> Api:
    return Api("user", PASSWORD, url, **kwargs)  # type: ignore[arg-type]


def test_get_is_retried_on_503_until_it_succeeds() -> None:
    replies = [
        Reply(503, b"{}"),
        Reply(503, b"{}"),
        Reply(200, b'{"id": "s1", "ctime": "2026-01-01T00:00:00Z", "name": "n"}'),
    ]
    with ScriptedServer(replies) as server:
        service = _api(server.url).services.get("s1")
    assert service.id == "s1"
    assert [seen.method for seen in server.seen] == ["GET", "GET", "GET"]


def test_get_gives_up_after_retries_with_internal_error() -> None:
    with ScriptedServer([Reply(503, b'{"message": "down"}')]) as server:
        with pytest.raises(errors.InternalError) as caught:
            _api(server.url, retries=2).services.get("s1")
    assert caught.value.status == 503
    assert len(server.seen) == 3  # the first try and two retries


def test_get_honours_retry_after() -> None:
    import time

    replies = [
        Reply(503, b"{}", {"Retry-After": "1"}),
        Reply(200, b'{"id": "s", "ctime": "2026-01-01T00:00:00Z"}'),
    ]
    with ScriptedServer(replies) as server:
        started = time.monotonic()
        _api(server.url).services.get("s")
        waited = time.monotonic() - started
    assert waited >= 0.9, "the client did not wait as Retry-After asked"


@pytest.mark.parametrize(
    ("call", "method"),
    [
        pytest.param(lambda api: api.auth.verify("s", "u", "123456"), "PUT", id="verify"),
        pytest.param(lambda api: api.auth.initiate("s", "u", "sms"), "POST", id="initiate"),
        pytest.param(lambda api: api.services.create("d", "n"), "POST", id="create-service"),
        pytest.param(lambda api: api.users.delete("s", "u"), "DELETE", id="delete-user"),
    ],
)
def test_unsafe_methods_are_sent_exactly_once_on_503(call, method) -> None:
    with ScriptedServer([Reply(503, b'{"message": "busy"}')]) as server:
        with pytest.raises(errors.InternalError):
            call(_api(server.url))
    assert [seen.method for seen in server.seen] == [method]


def test_verify_that_times_out_raises_timeout_and_is_not_resent() -> None:
    with ScriptedServer([Reply(200, b'{"verified": true}', delay=1.0)]) as server:
        with pytest.raises(errors.RequestTimeoutError) as caught:
            _api(server.url, timeout=(1.0, 0.2)).auth.verify("s", "u", "123456")
    assert len(server.seen) == 1
    assert caught.value.method == "PUT"
    assert "123456" not in str(caught.value)


def test_unreachable_server_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(errors.ConnectionFailedError) as caught:
        _api(f"http://127.0.0.1:{port}", retries=0).services.get("s")
    assert isinstance(caught.value, errors.TransportError)
    assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value)


def test_answer_that_is_not_json_is_an_invalid_response() -> None:
    with ScriptedServer([Reply(200, b"<html>maintenance</html>")]) as server:
        with pytest.raises(errors.InvalidResponseError) as caught:
            _api(server.url).auth.verify("s", "u", "123456")
    assert caught.value.status == 200 and caught.value.path.endswith("/auth")


def test_verify_answer_without_boolean_verified_is_an_invalid_response() -> None:
    with ScriptedServer([Reply(200, b'{"method": "sms", "verified": "yes"}')]) as server:
        with pytest.raises(errors.InvalidResponseError):
            _api(server.url).auth.verify("s", "u", "123456")


def test_error_message_is_the_servers_message_and_never_the_body_echo() -> None:
    body = b'{"message": "invalid data", "echo": "123456 s3cret-pass"}'
    with ScriptedServer([Reply(422, body)]) as server:
        with pytest.raises(errors.InvalidDataError) as caught:
            _api(server.url).auth.verify("s", "u", "123456")
    assert caught.value.message == "invalid data"
    assert "123456" not in str(caught.value) and PASSWORD not in str(caught.value)


PATHS = [
    "/v1/service/service/3f1c0e2a-aa-Z_~x.y/users",
    "/v1/x/../y",
    "/v1/./y",
    "/v1/.hidden/y",
    "/v1/caf%C3%A9/%2e%2e",
    "/v1/caf\u00e9",
    "/v1/a b",
    "/v1/x?q=1&r=%2F",
    "/v1//x",
    "/v1/x/",
    "",
]


@pytest.mark.parametrize("base", ["", "/api", "/a/../b", "/x%2Fy", "/caf\u00e9"])
def test_each_call_on_the_wire_is_the_one_requests_session_request_would_send(base: str) -> None:
    # The client prepares calls on its own session without Session.request's per-call merging:
    # method, path, headers (their order too), cookies the server set, and body must not change.
    replies = [Reply(200, b"{}", {"Set-Cookie": "lb=abc; Path=/"})]
    headers = {"X-Service-Auth": f"user:{PASSWORD}", "Accept": "application/json"}
    with ScriptedServer(replies) as by_requests, ScriptedServer(replies) as by_client:
        session = requests.Session()
        session.trust_env = False
        api = _api(by_client.url + base)
        for method, body in (("PUT", {"token": "123456"}), ("GET", None), ("DELETE", None)):
            for path in PATHS:
                data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
                extra = {} if body is None else {"Content-Type": "application/json"}
                session.request(
                    method, by_requests.url + base + path, data=data, headers={**headers, **extra}
                )
                api.request(method, path, body)
    assert len(by_client.seen) == len(by_requests.seen) == 3 * len(PATHS)
    for sent, expected in zip(by_client.seen, by_requests.seen, strict=True):
        assert (sent.method, sent.path, sent.body) == (
            expected.method,
            expected.path,
            expected.body,
        )
        expected.headers["Host"] = sent.headers["Host"]  # the two servers' ports differ
        assert list(sent.headers.items()) == list(expected.headers.items()), sent.path


DOT_IDS = [
    pytest.param(lambda api, dots: api.users.delete("s", dots), "id", id="delete-user"),
    pytest.param(lambda api, dots: api.users.get("s", dots), "id", id="get-user"),
    pytest.param(lambda api, dots: api.services.delete(dots), "id", id="delete-service"),
    pytest.param(lambda api, dots: api.users.delete(dots, "u"), "service_id", id="service-id"),
    pytest.param(lambda api, dots: api.auth.verify("s", dots, "123456"), "user_id", id="verify"),
    pytest.param(lambda api, dots: api.auth.initiate("s", dots, "sms"), "user_id", id="initiate"),
]


@pytest.mark.parametrize("dots", [".", ".."])
@pytest.mark.parametrize(("call", "argument"), DOT_IDS)
def test_an_id_of_dots_is_refused_before_it_can_name_another_path(
    call: Any, argument: str, dots: str
) -> None:
    # "/v1/service/service/s/users/.." is "/v1/service/service/s" once requests normalises it:
    # deleting user ".." would delete the service.
    with ScriptedServer([Reply(200, b"{}")]) as server:
        with pytest.raises(ValueError, match=rf"^{argument} "):
            call(_api(server.url), dots)
    assert server.seen == [] and server.connections == 0


def test_prepared_headers_are_requests_own_on_every_call_and_never_shared() -> None:
    # Checked once per set of headers, then copied: a hook changing one call's headers
    # must not reach the next call.
    prepared = Prepared(requests.Session(), "http://127.0.0.1:9")
    headers = {"X-Service-Auth": "acct:pw", "Accept": "application/json"}
    first = prepared.request("GET", "/v1/x", headers, None, {})
    first.headers["X-Added"] = "by a hook"
    second = prepared.request("PUT", "/v1/x", headers, b"{}", {})
    expected = requests.PreparedRequest()
    expected.prepare(method="PUT", url="http://127.0.0.1:9/v1/x", headers=headers, data=b"{}")
    assert dict(second.headers) == dict(expected.headers)
    assert "X-Added" not in second.headers
    with pytest.raises(requests.exceptions.InvalidHeader):
        prepared.request("GET", "/v1/x", {"Accept": ["not", "text"]}, None, {})  # type: ignore[dict-item]
