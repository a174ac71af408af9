"""Bad input to the sandbox: a schemathesis run over its own OpenAPI document, and by hand.

Part one lets schemathesis 4 generate requests from the document the sandbox serves: one
pytest test per operation (examples, coverage and fuzzing, positive and negative data), then
one engine run of every phase including the stateful one, which follows the document's links
(create a service, add a user, start and verify). Every answer must be non-5xx and conform to
the document: status code, content type, body schema, headers. One worker throughout.

Part two is hand-written abuse over raw sockets and ``requests``: bodies of megabytes, wrong
content types, bytes that are not UTF-8, unicode and control characters, path tricks, duplicate
keys, NaN, deep nesting, silly clock advances, empty bodies and missing headers. Each is
refused cleanly (4xx JSON, never 5xx) or stored and returned faithfully, and the sandbox still
serves afterwards.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import engine
from schemathesis.engine import events

from tests._figures import record
from verigator_nb.sandbox import MAX_BODY, Sandbox, openapi_document

AUTH = {"X-Service-Auth": "sandbox:sandbox"}
PHONE = "+4401234567"
# The fault-injection calls run apart (FAULT_SCHEMA): a fault a case installs would make the
# next case's answer a 5xx on purpose, so each of their cases clears the plan after it.
SCHEMA = schemathesis.openapi.from_dict(openapi_document()).exclude(tag="faults")
SCHEMA.config.update(headers=AUTH, workers=1)
FAULT_SCHEMA = schemathesis.openapi.from_dict(openapi_document()).include(tag="faults")
FAULT_SCHEMA.config.update(headers=AUTH, workers=1)
TRIED: Counter[str] = Counter()  # per-operation cases tried by the parametrized run


# -- part one: schemathesis -------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[Sandbox]:
    """One sandbox for the whole generated run (hypothesis forbids per-test fixtures)."""
    with Sandbox(seed=11) as running:
        yield running
    record("schemathesis_parametrized_cases", sum(TRIED.values()))
    record("schemathesis_parametrized_operations", len(TRIED))


@SCHEMA.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_generated_request_gets_a_documented_non_5xx_answer(case: Any, fuzzed) -> None:
    TRIED[case.operation.label] += 1
    case.call_and_validate(base_url=fuzzed.url, timeout=10)


@pytest.fixture(scope="module")
def faultable() -> Iterator[Sandbox]:
    """A sandbox that takes faults over HTTP, for the fault calls' own generated run."""
    with Sandbox(seed=12, remote_faults=True) as running:
        yield running


@FAULT_SCHEMA.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_fault_calls_accept_every_documented_request_and_answer_as_documented(
    case: Any, faultable
) -> None:
    TRIED[case.operation.label] += 1
    try:
        case.call_and_validate(base_url=faultable.url, timeout=10)
    finally:
        faultable.clear_faults()


SEED = 20261127


def _missing_authentication_of_a_real_user(check: str, interaction: Any) -> bool:
    """A verify that names an SMS authentication the (existing) user does not have answers 404
    "... authentication ..."; ensure_resource_availability reads every 404 after a create as
    the created user gone, so that one answer is not a finding. Any other 404 still is."""
    response = None if interaction is None else interaction.response
    return (
        check == "ensure_resource_availability"
        and response is not None
        and response.status_code == 404
        and b"authentication" in (response.content or b"")
    )


def _engine_run(url: str) -> tuple[int, Counter[int], list[str]]:
    """Every phase of schemathesis over the served document: (cases, statuses, failures)."""
    # Seeded, with a seeded sandbox, so runs draw alike cases and a finding can be replayed.
    config = schemathesis.config.SchemathesisConfig(seed=SEED)
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)
    schema = schema.exclude(tag="faults")
    schema.config.update(base_url=url, headers=AUTH, workers=1)
    schema.config.generation.update(max_examples=10)
    cases, statuses, failures = 0, Counter[int](), []
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for interaction in event.recorder.interactions.values():
                cases += 1
                if interaction.response is not None:
                    statuses[interaction.response.status_code] += 1
            for case_id, checks in event.recorder.checks.items():
                interaction = event.recorder.interactions.get(case_id)
                failures += [
                    f"{event.recorder.label}: {check.name}: {check.failure_info.failure}"
                    for check in checks
                    if check.failure_info is not None
                    and not _missing_authentication_of_a_real_user(check.name, interaction)
                ]
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"schemathesis error: {event!r}"[:500])
    return cases, statuses, failures


def test_stateful_run_of_every_phase_finds_no_failure() -> None:
    with Sandbox(seed=SEED) as running:
        cases, statuses, failures = _engine_run(running.url)
    assert failures == []
    assert not any(status >= 500 for status in statuses)
    # The links were followed: resources were created and real ones were read back.
    assert statuses[201] > 0 and statuses[200] > 0 and cases > 200, statuses
    record("schemathesis_engine_cases", cases)


# -- part two: by hand ------------------------------------------------------------------------


def _raw(sandbox: Sandbox, request: bytes, *, timeout: float = 5.0) -> tuple[int, bytes, Any]:
    """Send raw bytes on a fresh connection: (status, head, JSON body) of the first answer."""
    parts = urlsplit(sandbox.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while (end := _answer_end(data)) is None or len(data) < end:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.partition(b"\r\n\r\n")[0]
    return int(head.split()[1]), head, json.loads(data[len(head) + 4 : _answer_end(data)])


def _answer_end(data: bytes) -> int | None:
    """Where the first answer in ``data`` ends, once its head has arrived."""
    head, found, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:] if found else []:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return None


def _post(path: str, body: bytes, *, head: bytes = b"") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nX-Service-Auth: sandbox:sandbox\r\n".encode()
        + head
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )


def _still_serves(sandbox: Sandbox) -> None:
    """A fresh connection still gets a JSON answer and a write still works."""
    with requests.Session() as web:
        web.headers.update(AUTH)
        assert web.get(sandbox.url + "/sandbox/clock", timeout=5).status_code == 200
        body = {"fqdn": "d", "name": f"probe-{uuid.uuid4()}"}
        created = web.post(sandbox.url + "/v1/service/service", json=body, timeout=5)
        assert created.status_code == 201, created.text


def _service_names(sandbox: Sandbox) -> set[str]:
    return {s.name for s in sandbox.backend._services.values()}


@pytest.fixture
def web() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers.update(AUTH)
        yield session


@pytest.fixture
def ids(sandbox: Sandbox, web: requests.Session) -> tuple[str, str]:
    url = sandbox.url + "/v1/service/service"
    sid = web.post(url, json={"fqdn": "d", "name": "Mine"}, timeout=5).json()["id"]
    body = {"id_in_service": "me", "phone_number": PHONE}
    return sid, web.post(f"{url}/{sid}/users", json=body, timeout=5).json()["id"]


# Bodies of megabytes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "size"),
    [
        pytest.param("/v1/service/service", 3 << 20, id="3MiB-create-service"),
        pytest.param("/v1/service/service/x/users/y/auth", 8 << 20, id="8MiB-start"),
        pytest.param("/sandbox/clock", 3 << 20, id="3MiB-clock"),
        pytest.param("/v1/service/service", MAX_BODY + 1, id="one-byte-over-the-cap"),
    ],
)
def test_megabyte_bodies_are_refused_with_413_and_the_sandbox_still_serves(
    sandbox: Sandbox, path: str, size: int
) -> None:
    status, head, body = _raw(sandbox, _post(path, b"x" * size), timeout=15)
    assert (status, body.keys()) == (413, {"message"})
    assert b"Connection: close" in head
    _still_serves(sandbox)


def test_a_valid_json_body_over_the_cap_is_refused_not_stored(sandbox: Sandbox) -> None:
    name = "n" * (2 * MAX_BODY)
    status, _, _ = _raw(
        sandbox, _post("/v1/service/service", json.dumps({"fqdn": "d", "name": name}).encode())
    )
    assert status == 413
    assert name not in _service_names(sandbox)
    _still_serves(sandbox)


def test_a_declared_100mib_body_is_refused_at_once_without_waiting_for_it(sandbox: Sandbox) -> None:
    # Past the drain limit the sandbox answers without reading: no hang on a body never sent.
    head = b"POST /v1/service/service HTTP/1.1\r\nX-Service-Auth: sandbox:sandbox\r\n"
    status, _, _ = _raw(sandbox, head + b"Content-Length: 104857600\r\n\r\n", timeout=3)
    assert status == 413
    _still_serves(sandbox)


# Content types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        # The sandbox reads the body as JSON whatever its label (the official server did too);
        # what decides is whether the bytes are a JSON object.
        pytest.param(None, b'{"fqdn": "d", "name": "unlabelled"}', 201, id="no-content-type"),
        pytest.param("text/plain", b'{"fqdn": "d", "name": "plain"}', 201, id="json-as-text"),
        pytest.param("application/x-www-form-urlencoded", b"fqdn=d&name=n", 422, id="form"),
        pytest.param(
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="fqdn"\r\n\r\nd\r\n--b--\r\n',
            422,
            id="multipart",
        ),
        pytest.param("application/xml", b"<service><fqdn>d</fqdn></service>", 422, id="xml"),
        pytest.param(
            "application/json; charset=utf-16",
            '{"fqdn": "d", "name": "u16"}'.encode("utf-16"),
            422,
            id="utf16-json",
        ),
        pytest.param("application/octet-stream", bytes(range(256)), 422, id="binary"),
    ],
)
def test_content_type_never_matters_only_whether_the_body_is_a_json_object(
    sandbox: Sandbox, web: requests.Session, content_type: str | None, body: bytes, status: int
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = web.post(sandbox.url + "/v1/service/service", data=body, headers=headers, timeout=5)
    assert response.status_code == status and response.headers["Content-Type"] == "application/json"
    assert ("id" if status == 201 else "message") in response.json()


# Bytes that are not UTF-8 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"fqdn": "d", "name": "caf\xe9"}', id="latin1-e-acute"),
        pytest.param(b'{"fqdn": "d", "name": "\xc0\xaf"}', id="overlong-slash"),
        pytest.param(b'{"fqdn": "d", "name": "\xed\xa0\x80"}', id="encoded-surrogate"),
        pytest.param(b'{"fqdn": "d", "name": "cut \xe2\x82"}', id="truncated-sequence"),
        pytest.param(b"\xef\xbb\xbf" + b'{"fqdn": "d", "name": "bom"}', id="utf8-bom"),
    ],
)
def test_bodies_that_are_not_clean_utf8_are_422(
    sandbox: Sandbox, web: requests.Session, body: bytes
) -> None:
    response = web.post(sandbox.url + "/v1/service/service", data=body, timeout=5)
    assert response.status_code == 422 and response.json()["message"]
    assert _service_names(sandbox) == set()


def test_non_utf8_bytes_in_the_path_and_auth_header_are_404_and_401(sandbox: Sandbox) -> None:
    get = b"GET /v1/service/service/\xff\xfe HTTP/1.1\r\nX-Service-Auth: sandbox:sandbox\r\n\r\n"
    assert _raw(sandbox, get)[0] == 404
    bad_auth = b"GET /sandbox/clock HTTP/1.1\r\nX-Service-Auth: sandbox:\xff\xfe\r\n\r\n"
    assert _raw(sandbox, bad_auth)[0] == 401
    _still_serves(sandbox)


# Unicode and control characters ----------------------------------------------------------------

ODD_TEXTS = [
    pytest.param("Café ☕ Ünïcødé", id="accents-and-emoji"),
    pytest.param("𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓂀", id="astral-plane"),
    pytest.param("nul\x00inside", id="nul"),
    pytest.param("tab\tnew\nline\rcr", id="whitespace-controls"),
    pytest.param("\x1b[31mred\x1b[0m\x7f", id="ansi-escape-and-del"),
    pytest.param("\u202eevil\u202c zero\u200bwidth", id="bidi-override-and-zero-width"),
    pytest.param("<script>alert(1)</script>", id="markup"),
    pytest.param("' OR 1=1; --", id="sql"),
    pytest.param("%2F..%2F", id="percent-escapes"),
    pytest.param("x" * 20_000, id="20k-characters"),
]


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_odd_service_names_and_user_ids_are_stored_and_returned_faithfully(
    sandbox: Sandbox, web: requests.Session, text: str
) -> None:
    base = sandbox.url + "/v1/service/service"
    service = web.post(base, json={"fqdn": text, "name": text}, timeout=5)
    assert service.status_code == 201 and service.json()["name"] == text
    sid = service.json()["id"]
    assert web.get(f"{base}/{sid}", timeout=5).json()["name"] == text
    user = web.post(f"{base}/{sid}/users", json={"id_in_service": text, "phone_number": PHONE})
    assert user.status_code == 201 and user.json()["id_in_service"] == text
    uid = user.json()["id"]
    assert web.get(f"{base}/{sid}/users/{uid}", timeout=5).json()["id_in_service"] == text
    assert web.get(f"{base}/{sid}/users", timeout=5).json()["users"][0]["id_in_service"] == text
    # The name flows on into the SMS text and the otpauth URI (the issuer and account name).
    assert web.post(f"{base}/{sid}/users/{uid}/auth", json={"method": "sms"}).status_code == 200
    [sms] = web.get(sandbox.url + "/sandbox/outbox", timeout=5).json()["messages"]
    assert sms["text"].startswith(text)
    enrolled = web.post(f"{sandbox.url}/sandbox/services/{sid}/users/{uid}/totp", timeout=5)
    assert enrolled.status_code == 200 and enrolled.json()["otpauth_uri"].startswith("otpauth://")


@pytest.mark.parametrize(
    "field", [pytest.param("name", id="service-name"), pytest.param("id_in_service", id="user-id")]
)
@pytest.mark.parametrize(
    "escaped", [pytest.param(r"\ud800", id="high"), pytest.param(r"x \udfff y", id="low")]
)
def test_lone_surrogates_are_refused_with_422_not_stored(
    sandbox: Sandbox, web: requests.Session, ids: tuple[str, str], field: str, escaped: str
) -> None:
    # Valid JSON, but no UTF-8 answer (nor otpauth URI) can carry them: this once was a 500.
    if field == "name":
        url, body = sandbox.url + "/v1/service/service", f'{{"fqdn": "d", "name": "{escaped}"}}'
    else:
        url = f"{sandbox.url}/v1/service/service/{ids[0]}/users"
        body = f'{{"id_in_service": "{escaped}", "phone_number": "{PHONE}"}}'
    response = web.post(url, data=body.encode(), timeout=5)
    assert response.status_code == 422 and "surrogate" in response.json()["message"]
    listed = web.get(f"{sandbox.url}/v1/service/service/{ids[0]}/users", timeout=5).json()
    assert listed["count"] == 1 and len(_service_names(sandbox)) == 1


# Paths that try to escape ------------------------------------------------------------------------


@pytest.fixture
def two_accounts() -> Iterator[tuple[Sandbox, dict[str, str]]]:
    """A sandbox where ``alice`` owns a service, a user, an SMS and an app; names for scanning."""
    with Sandbox(seed=3, accounts={"sandbox": "sandbox", "alice": "alice-pw"}) as running:
        alice = running.api(username="alice")
        service = alice.services.create("alice.example", "AliceShop")
        user = alice.users.create(service.id, "+3725550123", "alice@example.com")
        started = alice.auth.initiate(service.id, user.id, "sms")
        running.control(alice).enrol_totp(service.id, user.id)
        mine = running.api().services.create("www.example.com", "Mine")
        names = {
            "sid": service.id,
            "uid": user.id,
            "auth_id": str(started.auth_id),
            "mine": mine.id,
        }
        yield running, names


@pytest.mark.parametrize(
    ("template", "status"),
    [
        pytest.param("/v1/service/service/..%2F..%2Fsandbox%2Foutbox", 404, id="encoded-dotdot"),
        pytest.param("/v1/service/service/{mine}/../{sid}", 404, id="raw-dotdot-to-other"),
        pytest.param("/sandbox/../v1/service/service/{sid}", 404, id="raw-dotdot-from-sandbox"),
        pytest.param("/v1/service/service/{sid}%2Fusers", 404, id="encoded-slash-joins-segments"),
        pytest.param("/v1/service/service/%2e%2e", 404, id="encoded-dots"),
        pytest.param("/v1/service/service/{sid}%252F", 404, id="double-encoded-slash"),
        pytest.param("/v1/service/service/{mine}/users/{uid}", 404, id="other-user-in-my-service"),
        pytest.param("/v1/service/service/{mine}/users/..%2F..%2F{sid}", 404, id="dotdot-user"),
        pytest.param("/v1/service/service/{sid}", 403, id="other-service"),
        pytest.param("/v1/service/service/{sid}/users/{uid}", 403, id="other-user"),
        pytest.param("/sandbox/services/{sid}/users/{uid}/totp", 403, id="other-app"),
        pytest.param("//v1/service/service/{sid}", 403, id="double-leading-slash"),
    ],
)
def test_path_tricks_never_reach_another_accounts_resources(
    two_accounts: tuple[Sandbox, dict[str, str]], template: str, status: int
) -> None:
    sandbox, names = two_accounts
    path = template.format(**names).encode()
    answer, _, body = _raw(
        sandbox, b"GET " + path + b" HTTP/1.1\r\nX-Service-Auth: sandbox:sandbox\r\n\r\n"
    )
    assert answer == status and set(body) == {"message"}
    for secret in ("AliceShop", "alice.example", "alice@example.com", "+3725550123"):
        assert secret not in body["message"]


# Duplicate keys, NaN, deep nesting ----------------------------------------------------------------


def test_duplicate_keys_store_what_the_answer_says(sandbox: Sandbox, web: requests.Session) -> None:
    body = b'{"fqdn": "d", "name": "first", "name": "second"}'
    created = web.post(sandbox.url + "/v1/service/service", data=body, timeout=5)
    assert created.status_code == 201
    stored = web.get(f"{sandbox.url}/v1/service/service/{created.json()['id']}", timeout=5)
    assert stored.json()["name"] == created.json()["name"] == "second"  # last one wins


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"fqdn": "d", "name": "n", "extra": NaN}', id="nan-in-an-unused-key"),
        pytest.param(b'{"fqdn": "d", "name": "n", "extra": Infinity}', id="infinity"),
        pytest.param(b'{"fqdn": "d", "name": "n", "extra": [-Infinity]}', id="minus-infinity"),
        pytest.param(
            b'{"fqdn": "d", "name": "n", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
            id="50k-deep-array-in-an-unused-key",
        ),
        pytest.param(b'{"a": ' * 50_000 + b"1" + b"}" * 50_000, id="50k-deep-object"),
    ],
)
def test_non_json_numbers_and_deep_nesting_are_422_even_in_unused_keys(
    sandbox: Sandbox, web: requests.Session, body: bytes
) -> None:
    response = web.post(sandbox.url + "/v1/service/service", data=body, timeout=5)
    assert response.status_code == 422 and response.json()["message"]
    assert _service_names(sandbox) == set()
    _still_serves(sandbox)


# Clock advances ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"-1", id="negative"),
        pytest.param(b"-1e-9", id="tiny-negative"),
        pytest.param(b"315576000.5", id="just-over-ten-years"),
        pytest.param(b"1e308", id="enormous-float"),
        pytest.param(b"1e999", id="overflows-to-infinity"),
        pytest.param(b"1" + b"0" * 400, id="400-digit-integer"),  # once an OverflowError 500
        pytest.param(b"NaN", id="nan"),
        pytest.param(b"Infinity", id="infinity"),
        pytest.param(b"true", id="true"),
        pytest.param(b"false", id="false"),
        pytest.param(b"null", id="null"),
        pytest.param(b'"60"', id="numeric-string"),
        pytest.param(b"[60]", id="list"),
        pytest.param(b'{"seconds": 60}', id="object"),
    ],
)
def test_silly_clock_advances_are_422_and_leave_the_clock(
    sandbox: Sandbox, web: requests.Session, raw: bytes
) -> None:
    before = sandbox.backend.now()
    body = b'{"advance_seconds": ' + raw + b"}"
    response = web.post(sandbox.url + "/sandbox/clock", data=body, timeout=5)
    assert response.status_code == 422 and response.json()["message"]
    assert sandbox.backend.now() == before


# Empty bodies and missing headers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "template", "status"),
    [
        pytest.param("POST", "/v1/service/service", 422, id="create-service"),
        pytest.param("POST", "/v1/service/service/{sid}/users", 422, id="create-user"),
        pytest.param("POST", "/v1/service/service/{sid}/users/{uid}/auth", 422, id="start"),
        pytest.param("PUT", "/v1/service/service/{sid}/users/{uid}/auth", 422, id="verify"),
        pytest.param("POST", "/sandbox/clock", 422, id="advance-clock"),
        pytest.param(
            "POST", "/sandbox/services/{sid}/users/{uid}/totp", 200, id="enrol-needs-none"
        ),
    ],
)
def test_empty_bodies_are_422_where_a_body_is_needed(
    sandbox: Sandbox, ids: tuple[str, str], method: str, template: str, status: int
) -> None:
    path = template.format(sid=ids[0], uid=ids[1]).encode()
    request = method.encode() + b" " + path + b" HTTP/1.1\r\nX-Service-Auth: sandbox:sandbox\r\n"
    answer, _, body = _raw(sandbox, request + b"Content-Length: 0\r\n\r\n")
    assert answer == status and isinstance(body, dict)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("sandbox", id="no-colon"),
        pytest.param("sandbox:", id="empty-password"),
        pytest.param(":sandbox", id="empty-username"),
        pytest.param("sandbox:sandbox ", id="trailing-space-in-password"),
        pytest.param("SANDBOX:sandbox", id="username-case"),
        pytest.param("sandbox:sandbox:sandbox", id="extra-colon"),
    ],
)
def test_missing_or_malformed_credentials_are_401_on_every_route(
    sandbox: Sandbox, ids: tuple[str, str], header: str | None
) -> None:
    headers = {} if header is None else {"X-Service-Auth": header}
    base, (sid, uid) = sandbox.url, ids
    calls = [
        ("POST", "/v1/service/service"),
        ("GET", f"/v1/service/service/{sid}"),
        ("DELETE", f"/v1/service/service/{sid}"),
        ("GET", f"/v1/service/service/{sid}/users"),
        ("POST", f"/v1/service/service/{sid}/users"),
        ("GET", f"/v1/service/service/{sid}/users/{uid}"),
        ("DELETE", f"/v1/service/service/{sid}/users/{uid}"),
        ("POST", f"/v1/service/service/{sid}/users/{uid}/auth"),
        ("PUT", f"/v1/service/service/{sid}/users/{uid}/auth"),
        ("POST", f"/sandbox/services/{sid}/users/{uid}/totp"),
        ("GET", f"/sandbox/services/{sid}/users/{uid}/totp"),
        ("GET", "/sandbox/outbox"),
        ("GET", "/sandbox/clock"),
        ("POST", "/sandbox/clock"),
    ]
    for method, path in calls:
        response = requests.request(method, base + path, headers=headers, json={}, timeout=5)
        assert response.status_code == 401, (method, path)
        assert response.json() == {"message": "missing or wrong X-Service-Auth header"}
    assert sandbox.backend.list_users("sandbox", sid)  # the DELETEs did nothing


def test_a_body_without_content_length_is_ignored_not_stored(sandbox: Sandbox) -> None:
    # Without Content-Length there is no body: the call is 422, and the bytes left on the wire
    # are a malformed next request (400, connection closed), never a service.
    head = b"POST /v1/service/service HTTP/1.1\r\nX-Service-Auth: sandbox:sandbox\r\n\r\n"
    status, _, _ = _raw(sandbox, head + b'{"fqdn": "d", "name": "stray"}\r\n\r\n')
    assert status == 422
    assert _service_names(sandbox) == set()
    _still_serves(sandbox)


def test_no_content_type_no_accept_and_no_host_still_work(sandbox: Sandbox) -> None:
    body = b'{"fqdn": "d", "name": "bare"}'
    status, _, answer = _raw(
        sandbox, _post("/v1/service/service", body).replace(b"Host: x\r\n", b"")
    )
    assert status == 201 and answer["name"] == "bare"


def test_conflicting_content_lengths_are_refused_with_400(sandbox: Sandbox) -> None:
    body = b'{"fqdn": "d.example.com", "name": "Smuggled"}'
    request = _post("/v1/service/service", body, head=b"Content-Length: 3\r\n")
    status, _, answer = _raw(sandbox, request)
    assert status == 400 and isinstance(answer, dict)
    _still_serves(sandbox)
