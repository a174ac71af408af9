"""The sandbox over real HTTP: status codes, JSON errors, keep-alive, limits, OpenAPI."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import requests

from verigator_nb import errors
from verigator_nb.sandbox import MAX_BODY, Sandbox, openapi_document
from verigator_nb.sandbox._rules import PIN_TTL, USER_LOCKOUT

AUTH = {"X-Service-Auth": "sandbox:sandbox"}
PHONE = "+4401234567"
DOC = openapi_document()


@pytest.fixture
def web(sandbox: Sandbox) -> Iterator[requests.Session]:
    """A keep-alive session that checks every answer is JSON with a Content-Length."""
    session = requests.Session()
    session.headers.update(AUTH)

    def check(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        assert response.headers["Content-Type"] == "application/json"
        assert int(response.headers["Content-Length"]) == len(response.content)
        if response.request.method != "HEAD":
            response.json()

    session.hooks["response"].append(check)
    yield session
    session.close()


@pytest.fixture
def ids(sandbox: Sandbox, web: requests.Session) -> tuple[str, str]:
    url = sandbox.url + "/v1/service/service"
    sid = web.post(url, json={"fqdn": "www.example.com", "name": "CoffeeShop"}).json()["id"]
    body = {"id_in_service": "john.doe@example.com", "phone_number": PHONE}
    uid = web.post(f"{url}/{sid}/users", json=body).json()["id"]
    return sid, uid


def _auth_url(sandbox: Sandbox, ids: tuple[str, str]) -> str:
    return f"{sandbox.url}/v1/service/service/{ids[0]}/users/{ids[1]}/auth"


def _connection(sandbox: Sandbox) -> http.client.HTTPConnection:
    parts = urlsplit(sandbox.url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)


def _raw(sandbox: Sandbox, request: bytes) -> bytes:
    """Send raw bytes on a fresh connection; everything the server answers before closing."""
    parts = urlsplit(sandbox.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# -- auth, paths and methods -------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"X-Service-Auth": "sandbox:not-the-password-xyz"}, id="wrong-password"),
        pytest.param({"X-Service-Auth": "sandbox"}, id="no-colon"),
        pytest.param({"X-Service-Auth": "nobody:not-the-password-xyz"}, id="unknown-user"),
    ],
)
def test_missing_or_wrong_auth_is_401_and_never_echoes_the_password(
    sandbox: Sandbox, headers: dict[str, str]
) -> None:
    response = requests.get(sandbox.url + "/sandbox/outbox", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["message"]
    assert "not-the-password-xyz" not in response.text


def test_auth_header_name_is_case_insensitive(sandbox: Sandbox) -> None:
    response = requests.get(
        sandbox.url + "/sandbox/outbox", headers={"x-service-auth": "sandbox:sandbox"}, timeout=5
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/", id="root"),
        pytest.param("/v1/service/service/", id="trailing-slash"),
        pytest.param("/v1/service/service/x/users/y/auth/extra", id="too-deep"),
        pytest.param("/V1/service/service", id="wrong-case"),
        pytest.param("/sandbox", id="sandbox-root"),
    ],
)
def test_unknown_path_is_404_json(web: requests.Session, sandbox: Sandbox, path: str) -> None:
    response = web.get(sandbox.url + path)
    assert response.status_code == 404 and response.json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("GET", "/v1/service/service", "POST", id="list-services"),
        pytest.param("PATCH", "/v1/service/service/x", "GET, DELETE", id="patch-service"),
        pytest.param("DELETE", "/sandbox/outbox", "GET", id="delete-outbox"),
        pytest.param("GET", "/v1/service/service/x/users/y/auth", "PUT, POST", id="get-auth"),
        pytest.param("BREW", "/sandbox/clock", "GET, POST", id="made-up-method"),
        pytest.param("OPTIONS", "/openapi.json", "GET", id="options"),
    ],
)
def test_known_path_with_another_method_is_405_with_allow(
    web: requests.Session, sandbox: Sandbox, method: str, path: str, allow: str
) -> None:
    response = web.request(method, sandbox.url + path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    assert response.json()["message"]


def test_head_is_405_with_no_body_and_the_connection_stays_usable(sandbox: Sandbox) -> None:
    connection = _connection(sandbox)
    connection.request("HEAD", "/sandbox/clock", headers=AUTH)
    response = connection.getresponse()
    assert response.status == 405 and response.read() == b""
    connection.request("GET", "/sandbox/clock", headers=AUTH)
    assert connection.getresponse().status == 200


def test_query_string_is_ignored(web: requests.Session, sandbox: Sandbox) -> None:
    assert web.get(sandbox.url + "/sandbox/clock?verbose=1").status_code == 200


@pytest.mark.parametrize(
    "segment",
    [
        pytest.param("..%2F..", id="encoded-slash"),
        pytest.param("%zz", id="bad-escape"),
        pytest.param("%00", id="nul"),
        pytest.param("%F0%9F%90%8D", id="emoji"),
    ],
)
def test_odd_service_ids_are_404_not_5xx(
    web: requests.Session, sandbox: Sandbox, segment: str
) -> None:
    assert web.get(f"{sandbox.url}/v1/service/service/{segment}").status_code == 404


# -- bodies ------------------------------------------------------------------------------------


def test_several_megabyte_body_is_refused_with_413(web: requests.Session, sandbox: Sandbox) -> None:
    response = web.post(sandbox.url + "/v1/service/service", data=b"x" * (5 * MAX_BODY))
    assert response.status_code == 413 and response.json()["message"]
    assert web.get(sandbox.url + "/sandbox/clock").status_code == 200


def test_body_at_the_cap_is_read_not_refused(web: requests.Session, sandbox: Sandbox) -> None:
    body = b'{"fqdn": "d", "name": "n"}'.ljust(MAX_BODY)
    assert web.post(sandbox.url + "/v1/service/service", data=body).status_code == 201


@pytest.mark.parametrize(
    ("head", "status"),
    [
        pytest.param(b"Content-Length: ten\r\n", b"400", id="non-numeric-length"),
        pytest.param(b"Content-Length: -1\r\n", b"400", id="negative-length"),
        pytest.param(b"Transfer-Encoding: chunked\r\n", b"411", id="chunked"),
    ],
)
def test_unusable_framing_is_refused_as_json_and_closes(
    sandbox: Sandbox, head: bytes, status: bytes
) -> None:
    answer = _raw(
        sandbox,
        b"POST /v1/service/service HTTP/1.1\r\nHost: x\r\nX-Service-Auth: sandbox:sandbox\r\n"
        + head
        + b"\r\n",
    )
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == status
    assert b"Connection: close" in rest
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["message"]


def test_malformed_request_line_is_json_400(sandbox: Sandbox) -> None:
    answer = _raw(sandbox, b"NONSENSE\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert json.loads(answer.partition(b"\r\n\r\n")[2]) == {"message": "bad request"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'"text"', id="string"),
        pytest.param(b'{"fqdn": NaN, "name": "n"}', id="nan"),
        pytest.param(b'{"fqdn": "d", "name": "n"', id="truncated"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b"[" * 100_000, id="deeply-nested"),
        pytest.param(b"9" * 5000, id="huge-integer"),
        pytest.param(b'{"fqdn": 1, "name": "n"}', id="number-fqdn"),
        pytest.param(b'{"fqdn": "d", "name": null}', id="null-name"),
        pytest.param(b'{"fqdn": "d"}', id="missing-name"),
        pytest.param(b'{"fqdn": "", "name": "n"}', id="empty-fqdn"),
    ],
)
def test_bad_service_bodies_are_422(web: requests.Session, sandbox: Sandbox, body: bytes) -> None:
    response = web.post(sandbox.url + "/v1/service/service", data=body)
    assert response.status_code == 422 and response.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"method": "sms"}, id="missing-token"),
        pytest.param({"method": "sms", "token": 123456}, id="number-token"),
        pytest.param({"method": "email", "token": "1"}, id="unknown-method"),
        pytest.param({"method": None, "token": "1"}, id="null-method"),
        pytest.param({"method": "sms", "token": "1", "auth_id": 5}, id="number-auth-id"),
        pytest.param(["token"], id="not-an-object"),
    ],
)
def test_malformed_verify_bodies_are_422(
    web: requests.Session, sandbox: Sandbox, ids: tuple[str, str], body: Any
) -> None:
    assert web.put(_auth_url(sandbox, ids), json=body).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="missing"),
        pytest.param({"method": "email"}, id="unknown"),
        pytest.param({"method": ["sms"]}, id="list"),
    ],
)
def test_bad_start_bodies_are_422(
    web: requests.Session, sandbox: Sandbox, ids: tuple[str, str], body: Any
) -> None:
    assert web.post(_auth_url(sandbox, ids), json=body).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"advance_seconds": -1}', id="negative"),
        pytest.param(b'{"advance_seconds": "5"}', id="string"),
        pytest.param(b'{"advance_seconds": true}', id="bool"),
        pytest.param(b'{"advance_seconds": 1e400}', id="overflows-to-infinity"),
        pytest.param(b"{}", id="missing"),
    ],
)
def test_bad_clock_advances_are_422_and_leave_the_clock(
    web: requests.Session, sandbox: Sandbox, body: bytes
) -> None:
    before = web.get(sandbox.url + "/sandbox/clock").json()["now"]
    assert web.post(sandbox.url + "/sandbox/clock", data=body).status_code == 422
    assert web.get(sandbox.url + "/sandbox/clock").json()["now"] == before


# -- the calls ---------------------------------------------------------------------------------


def test_happy_path_status_codes_and_shapes(
    web: requests.Session, sandbox: Sandbox, ids: tuple[str, str]
) -> None:
    sid, uid = ids
    service_url = f"{sandbox.url}/v1/service/service/{sid}"
    service = web.get(service_url)
    assert service.status_code == 200 and service.json()["name"] == "CoffeeShop"
    assert datetime.fromisoformat(service.json()["ctime"]) == datetime(2026, 1, 1, tzinfo=UTC)
    users = web.get(service_url + "/users").json()
    assert users["count"] == 1 and users["users"][0]["id"] == uid
    started = web.post(_auth_url(sandbox, ids), json={"method": "sms"})
    assert started.status_code == 200 and started.json()["method"] == "sms"
    pin = web.get(sandbox.url + "/sandbox/outbox").json()["messages"][0]["pin"]
    verified = web.put(
        _auth_url(sandbox, ids),
        json={"method": "sms", "token": pin, "auth_id": started.json()["auth_id"]},
    )
    assert verified.json() == {
        "method": "sms",
        "verified": True,
        "status": {"throttled": False, "expired": False, "invalid": False, "result": "VERIFIED"},
    }
    deleted = web.delete(f"{service_url}/users/{uid}")
    assert (deleted.status_code, deleted.json()) == (202, {})
    assert web.delete(service_url).status_code == 202
    assert web.get(service_url).status_code == 404


def test_official_clients_token_only_verify_checks_the_pending_sms(
    web: requests.Session, sandbox: Sandbox, ids: tuple[str, str]
) -> None:
    web.post(_auth_url(sandbox, ids), json={"method": "totp"})
    pin = web.get(sandbox.url + "/sandbox/outbox").json()["messages"][-1]["pin"]
    answer = web.put(_auth_url(sandbox, ids), json={"token": pin}).json()
    assert (answer["method"], answer["verified"]) == ("sms", True)


def test_another_accounts_resources_are_403_and_reveal_nothing() -> None:
    with Sandbox(seed=2, accounts={"alice": "a-pw", "mallory": "m-pw"}) as sb:
        alice = {"X-Service-Auth": "alice:a-pw"}
        mallory = {"X-Service-Auth": "mallory:m-pw"}
        url = sb.url + "/v1/service/service"
        body = {"fqdn": "alice.example.com", "name": "AliceShop"}
        sid = requests.post(url, json=body, headers=alice, timeout=5).json()["id"]
        refused = requests.get(f"{url}/{sid}", headers=mallory, timeout=5)
        assert refused.status_code == 403
        assert "AliceShop" not in refused.text and "alice" not in refused.text
        assert requests.get(f"{url}/{sid}", headers=alice, timeout=5).status_code == 200


def test_start_while_locked_out_is_409_with_the_documented_message(
    web: requests.Session, sandbox: Sandbox, ids: tuple[str, str]
) -> None:
    url = _auth_url(sandbox, ids)
    for _ in range(2):
        auth_id = web.post(url, json={"method": "sms"}).json()["auth_id"]
        for _ in range(5):
            web.put(url, json={"method": "sms", "token": "not-a-pin", "auth_id": auth_id})
    refused = web.post(url, json={"method": "sms"})
    assert refused.status_code == 409
    assert refused.json() == {
        "message": "user is temporarily locked after too many failed attempts"
    }


def test_totp_code_without_an_app_is_404(
    web: requests.Session, sandbox: Sandbox, ids: tuple[str, str]
) -> None:
    url = f"{sandbox.url}/sandbox/services/{ids[0]}/users/{ids[1]}/totp"
    assert web.get(url).status_code == 404
    assert web.post(url).status_code == 200
    assert re.fullmatch(r"[0-9]{6}", web.get(url).json()["code"])


def test_unexpected_error_is_500_without_details(
    web: requests.Session, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(account: str) -> list[Any]:
        raise RuntimeError("detail-that-must-not-leak")

    monkeypatch.setattr(sandbox.backend, "outbox", broken)
    response = web.get(sandbox.url + "/sandbox/outbox")
    assert (response.status_code, response.json()) == (500, {"message": "internal error"})
    assert web.get(sandbox.url + "/sandbox/clock").status_code == 200


# -- connections and lifecycle -----------------------------------------------------------------


def test_keep_alive_serves_many_requests_on_one_connection(sandbox: Sandbox) -> None:
    connection = _connection(sandbox)
    connection.request("GET", "/sandbox/clock", headers=AUTH)
    connection.getresponse().read()
    first_socket = connection.sock
    for _ in range(5):
        connection.request("PUT", "/v1/service/service/x/users/y/auth", b'{"token": "1"}', AUTH)
        response = connection.getresponse()
        assert response.status == 404 and response.getheader("Connection") is None
        response.read()
    assert connection.sock is first_socket


def test_concurrent_clients_are_all_served(sandbox: Sandbox) -> None:
    statuses: list[int] = []

    def client(n: int) -> None:
        with requests.Session() as session:
            for i in range(10):
                body = {"fqdn": "d", "name": f"shop-{n}-{i}"}
                url = sandbox.url + "/v1/service/service"
                statuses.append(session.post(url, json=body, headers=AUTH, timeout=5).status_code)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * 80


def test_stop_closes_the_socket_and_open_connections_and_is_idempotent() -> None:
    sandbox = Sandbox(seed=1).start()
    connection = _connection(sandbox)
    connection.request("GET", "/sandbox/clock", headers=AUTH)
    connection.getresponse().read()
    sandbox.stop()
    sandbox.stop()
    assert not sandbox.running
    with pytest.raises(OSError):
        connection.request("GET", "/sandbox/clock", headers=AUTH)
        connection.getresponse()
    parts = urlsplit(sandbox.url)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((parts.hostname, parts.port), timeout=2)


def test_repr_shows_url_and_usernames_but_never_passwords() -> None:
    sandbox = Sandbox(accounts={"alice": "pw-alice-secret"})
    assert "not running" in repr(sandbox)
    with sandbox:
        text = repr(sandbox)
        assert sandbox.url in text and "alice" in text and "pw-alice-secret" not in text
        assert "pw-alice-secret" not in repr(sandbox.api())


def test_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        _ = Sandbox().url


def test_same_seed_gives_same_answers_over_http() -> None:
    answers = []
    for _ in range(2):
        with Sandbox(seed=7) as sb, sb.api() as api:
            service = api.services.create("d", "Shop")
            answers.append((service.id, service.creation_time))
    assert answers[0] == answers[1]


def test_sandbox_url_fixture_is_the_sandboxes_url(sandbox: Sandbox, sandbox_url: str) -> None:
    assert sandbox_url == sandbox.url and sandbox_url.startswith("http://127.0.0.1:")


# -- the client-side controls ------------------------------------------------------------------


def test_controls_play_the_user_through_the_client(sandbox: Sandbox) -> None:
    with sandbox.api() as api:
        you = sandbox.control(api)
        service = api.services.create("www.example.com", "CoffeeShop")
        user = api.users.create(service.id, PHONE, "john")
        started = api.auth.initiate(service.id, user.id, "sms")
        [message] = you.outbox()
        assert message.sent_at == sandbox.now() == you.now()
        assert message.pin not in repr(message)
        assert you.pin_for(started.auth_id) == message.pin
        enrolment = you.enrol_totp(service.id, user.id)
        assert enrolment.secret not in repr(enrolment)
        app = api.auth.initiate(service.id, user.id, "totp")
        assert api.auth.verify(app, you.totp_code(service.id, user.id)).verified
        assert you.advance(90) == datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "auth_id", [pytest.param("no-such-auth", id="unknown"), pytest.param(None, id="none")]
)
def test_pin_for_an_auth_id_without_sms_is_a_lookup_error(
    sandbox: Sandbox, auth_id: str | None
) -> None:
    with pytest.raises(LookupError):
        sandbox.control().pin_for(auth_id)


def test_controls_raise_the_clients_typed_errors(sandbox: Sandbox) -> None:
    you = sandbox.control()
    with pytest.raises(errors.NoSuchResourceError):
        you.totp_code("no-such-service", "no-such-user")
    with pytest.raises(errors.InvalidDataError):
        you.advance(-5)


def test_api_for_an_unknown_account_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError):
        sandbox.api(username="nobody")


# -- OpenAPI -----------------------------------------------------------------------------------


def test_openapi_is_served_without_auth_as_the_document(sandbox: Sandbox) -> None:
    response = requests.get(sandbox.url + "/openapi.json", timeout=5)
    assert response.status_code == 200
    assert response.json() == DOC
    assert DOC["openapi"].startswith("3.")


@pytest.mark.parametrize("template", sorted(DOC["paths"]))
def test_every_documented_path_allows_exactly_its_documented_methods(
    web: requests.Session, sandbox: Sandbox, template: str
) -> None:
    response = web.request("PATCH", sandbox.url + re.sub(r"\{[^}]+\}", "some-id", template))
    documented = {method.upper() for method in DOC["paths"][template] if method != "parameters"}
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == documented


def test_the_rules_prose_names_only_calls_the_document_describes() -> None:
    named = re.findall(r"`(GET|POST|PUT|DELETE) (/[^`]*)`", DOC["info"]["description"])
    assert len(named) >= 3
    for method, path in named:
        assert method.lower() in DOC["paths"][path], (method, path)


def test_openapi_documents_auth_errors_and_decided_rules() -> None:
    scheme = DOC["components"]["securitySchemes"]["ServiceAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-Service-Auth")
    for template, item in DOC["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            responses = operation["responses"]
            assert "default" in responses
            if template != "/openapi.json":
                assert "401" in responses, (method, template)
            if "requestBody" in operation:
                assert "422" in responses, (method, template)
    description = DOC["info"]["description"]
    pin_ttl, lockout = f"{PIN_TTL:g} s", f"{USER_LOCKOUT:g} s"
    for rule in ("409", "temporarily locked", pin_ttl, lockout, "EXPIRED", "replay", "202"):
        assert rule in description


# -- every answer of a full session conforms to the OpenAPI document ---------------------------


def _conforms(template: str, method: str, response: requests.Response) -> None:
    responses = DOC["paths"][template][method.lower()]["responses"]
    spec = responses.get(str(response.status_code)) or responses["default"]
    assert str(response.status_code) in responses, (method, template, response.status_code)
    schema = spec["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), {**schema, "components": DOC["components"]})


def test_every_answer_of_a_session_conforms_to_the_openapi_document(
    web: requests.Session, sandbox: Sandbox
) -> None:
    base = sandbox.url
    svc, usr = "/v1/service/service/{serviceId}", "/v1/service/service/{serviceId}/users/{userId}"
    app = "/sandbox/services/{serviceId}/users/{userId}/totp"

    def call(method: str, template: str, body: Any = None, **params: str) -> Any:
        response = web.request(method, base + template.format(**params), json=body)
        _conforms(template, method, response)
        return response.json()

    sid = call("POST", "/v1/service/service", {"fqdn": "d", "name": "S"})["id"]
    call("POST", "/v1/service/service", {"fqdn": "d", "name": "S"})  # 409
    call("POST", "/v1/service/service", {"fqdn": "d"})  # 422
    call("GET", svc, serviceId=sid)
    call("GET", svc, serviceId="missing")  # 404
    uid = call(
        "POST", svc + "/users", {"id_in_service": "u", "phone_number": PHONE}, serviceId=sid
    )["id"]
    call("POST", svc + "/users", {"id_in_service": "u", "phone_number": "1"}, serviceId=sid)
    call("GET", svc + "/users", serviceId=sid)
    call("GET", usr, serviceId=sid, userId=uid)
    auth_id = call("POST", usr + "/auth", {"method": "totp"}, serviceId=sid, userId=uid)["auth_id"]
    for token in ("000000", "111111"):
        body = {"method": "sms", "token": token, "auth_id": auth_id}
        call("PUT", usr + "/auth", body, serviceId=sid, userId=uid)
    call(
        "PUT",
        usr + "/auth",
        {"method": "sms", "token": "1", "auth_id": "x"},
        serviceId=sid,
        userId=uid,
    )  # 404
    call("GET", app, serviceId=sid, userId=uid)  # 404
    call("POST", app, serviceId=sid, userId=uid)
    call("GET", app, serviceId=sid, userId=uid)
    call("POST", usr + "/auth", {"method": "totp"}, serviceId=sid, userId=uid)
    call("PUT", usr + "/auth", {"method": "totp", "token": "123456"}, serviceId=sid, userId=uid)
    call("GET", "/sandbox/outbox")
    call("GET", "/sandbox/clock")
    call("POST", "/sandbox/clock", {"advance_seconds": 30})
    call("DELETE", svc, serviceId=sid)  # 409: still has a user
    call("DELETE", usr, serviceId=sid, userId=uid)
    call("DELETE", svc, serviceId=sid)
    call("GET", "/openapi.json")
