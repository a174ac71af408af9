"""What an outside attack run broke in the sandbox (issue 10), each fixed and kept fixed.

- A route with many ``*`` against a long path already seen must not freeze the server:
  routes match segment by segment, ``*`` within a segment without backtracking, and a route
  is at most ``MAX_ROUTE`` characters.
- Requests with ever new paths must not grow the sandbox's memory: calls are counted per
  (caller, operation), with one ``unrouted`` bucket.
- Accounts must not see or disturb each other through ``/sandbox/``: stats and faults are the
  caller's own, and moving the shared clock is an opt-in of the server.
- A sandbox bound beyond loopback with the well-known default account says so on stderr, and
  can run without the play-the-user calls.
"""

from __future__ import annotations

import gc
import re
import socket
import subprocess
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from tests._figures import record
from tests._sandbox_process import URL_LINE, first_line, launch, sandbox_command, start
from verigator_nb import errors
from verigator_nb.sandbox import Fault, FaultPlan, Sandbox, openapi_document
from verigator_nb.sandbox._routes import operation_of

__all__ = ["launch"]  # the fixture, imported so pytest finds it

AUTH = {"X-Service-Auth": "sandbox:sandbox"}
ALICE = {"X-Service-Auth": "alice:alice-pw"}
BOB = {"X-Service-Auth": "bob:bob-pw"}
PHONE = "+4401234567"
SERVICE = "/v1/service/service/svc-1"
STARS = "/" + "*a" * 15 + "*b"  # 16 stars: as a regex of [^/]* it backtracks for ages
LONG_PATH = "/" + "a" * 60_000
BOUND = 2.0  # seconds: a correctness bound (the regex took minutes), not a benchmark
DOC = openapi_document()
# The play-the-user calls: the document's sandbox-tagged calls that need an account.
USER_CALLS = [
    (method.upper(), template)
    for template, item in DOC["paths"].items()
    for method, operation in item.items()
    if method != "parameters" and "sandbox" in operation["tags"] and operation.get("security") != []
]


def _url(process: subprocess.Popen[str]) -> str:
    line = first_line(process)
    match = URL_LINE.fullmatch(line)
    assert match, line
    return f"http://127.0.0.1:{match.group(2)}"


def _session(headers: dict[str, str]) -> requests.Session:
    web = requests.Session()
    web.headers.update(headers)
    return web


# -- 2: no route freezes the server ------------------------------------------------------------


@pytest.mark.parametrize("where", ["stats", "fault"])
def test_a_16_star_route_against_a_60_kb_path_answers_in_time_and_others_are_served(
    launch: list[subprocess.Popen[str]], where: str
) -> None:
    # In a child process: before the fix the match held the GIL for ever and ignored SIGTERM.
    url = _url(start(launch, sandbox_command("--port", "0", "--remote-faults")))
    web = _session(AUTH)
    assert web.get(url + LONG_PATH, timeout=5).status_code == 404  # a long path, now seen
    if where == "fault":
        fault = {"route": f"GET {STARS}", "kind": "error"}
        assert web.post(url + "/sandbox/faults", json=[fault], timeout=5).status_code == 200
        probe = url + LONG_PATH
    else:
        probe = url + "/sandbox/stats?route=" + quote(f"GET {STARS}", safe="")
    answers: dict[str, Any] = {}

    def call(name: str, target: str) -> None:
        began = time.perf_counter()
        try:
            answers[name] = requests.get(target, headers=AUTH, timeout=BOUND).status_code
        except requests.RequestException as exc:
            answers[name] = type(exc).__name__
        answers[name + " took"] = time.perf_counter() - began

    slow = threading.Thread(target=call, args=("probe", probe))
    slow.start()
    slow.join(timeout=0.2)  # a head start: the other client comes while the probe may still run
    call("other client", url + "/openapi.json")
    slow.join(timeout=2 * BOUND)
    assert answers["other client"] == 200, answers
    assert answers["probe"] == (200 if where == "stats" else 404), answers
    assert answers["probe took"] < BOUND
    record(f"sandbox_16_star_route_{where}_60kb_path_seconds", round(answers["probe took"], 3))


@pytest.mark.parametrize(
    ("route", "path", "matches"),
    [
        pytest.param("GET /v1/service/service/svc-*", SERVICE, True, id="prefix"),
        pytest.param("GET /v1/service/service/*-1", SERVICE, True, id="suffix"),
        pytest.param("GET /v1/service/service/s*c*1", SERVICE, True, id="inner"),
        pytest.param("GET /v1/service/service/**", SERVICE, True, id="double-star"),
        pytest.param("GET /v1/*/service/svc-1", SERVICE, True, id="star-segment"),
        pytest.param("GET /v1/service/service/*x*", SERVICE, False, id="missing-letter"),
        pytest.param("GET /v1/service/service/svc-1*2", SERVICE, False, id="too-long"),
        pytest.param("GET /v1/*", SERVICE, False, id="star-not-across-slash"),
        pytest.param("GET /v1/service/service/", SERVICE, False, id="empty-segment"),
        pytest.param("GET /v1/service/service/svc", SERVICE, False, id="literal-prefix-only"),
        pytest.param(f"GET {STARS}", "/" + "a" * 14 + "b", False, id="stars-one-a-short"),
        pytest.param(f"GET {STARS}", "/" + "a" * 15 + "b", True, id="stars-match"),
        pytest.param(f"GET {STARS}", "/" + "a" * 15 + "ba", False, id="stars-b-not-last"),
    ],
)
def test_a_star_matches_within_one_segment(route: str, path: str, matches: bool) -> None:
    plan = FaultPlan(seed=1)
    plan.add([Fault(route, "error")])
    assert (plan.draw("GET", path, operation_of) is not None) is matches


def test_an_overlong_route_is_refused_naming_the_route(sandbox: Sandbox) -> None:
    route = "GET /" + "a*" * 200
    with pytest.raises(ValueError, match="route"):
        Fault(route, "error")
    answer = requests.get(
        sandbox.url + "/sandbox/stats", params={"route": route}, headers=AUTH, timeout=5
    )
    assert answer.status_code == 422 and "route" in answer.json()["message"]


def test_a_plan_holds_at_most_100_faults(pair: Sandbox) -> None:
    # Every call is checked against every fault of its caller's plan: a plan of thousands
    # against a long path would hold the server (and every other client) for seconds.
    many = [{"route": "GET /" + "a*" * 100, "kind": "error"}] * 101
    answer = _session(ALICE).post(pair.url + "/sandbox/faults", json=many, timeout=5)
    assert answer.status_code == 422 and "100" in answer.json()["message"]
    with pytest.raises(ValueError, match="100"):
        pair.inject(*[Fault("*", "error")] * 101)
    assert pair.faults.snapshot() == []


# -- 3: the traffic table stays bounded --------------------------------------------------------


def _requests_on_one_connection(url: str, lines: list[str], auth: str | None) -> list[bytes]:
    """GET each path on one keep-alive connection; the status line of each answer."""
    parts = urlsplit(url)
    extra = f"X-Service-Auth: {auth}\r\n" if auth else ""
    statuses = []
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        reader = sock.makefile("rb")
        for path in lines:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
            statuses.append(reader.readline().strip())
            length = 0
            while (header := reader.readline()) not in (b"\r\n", b""):
                if header.lower().startswith(b"content-length:"):
                    length = int(header.split(b":")[1])
            reader.read(length)
    return statuses


def test_unique_long_paths_leave_the_traffic_table_and_memory_bounded(sandbox: Sandbox) -> None:
    calls, size = 1_500, 2_000
    paths = [f"/{i:05d}" + "x" * size for i in range(calls)]
    anonymous, signed = paths[:500], paths[500:1000]
    routed = ["/v1/service/service" + path for path in paths[1000:]]  # a parameter ever new
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        answered = _requests_on_one_connection(sandbox.url, anonymous, None)
        answered += _requests_on_one_connection(sandbox.url, signed, "sandbox:sandbox")
        answered += _requests_on_one_connection(sandbox.url, routed, "sandbox:sandbox")
        gc.collect()  # what is left is kept, not garbage waiting for a collection
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert answered == [b"HTTP/1.1 404 Not Found"] * calls
    # Before the fix every path was kept: 1,500 x 2 KB = 3 MB, never freed.
    assert grown < 500_000, f"{grown:,} bytes kept after {calls} requests"
    assert len(sandbox.router.traffic) <= 3  # (anonymous, unrouted), (sandbox, unrouted / get)
    assert sandbox.requests_seen("get_service") == 500
    assert sandbox.requests_seen() == 1_000
    record("sandbox_unique_paths_memory_kept_bytes", {"requests": calls, "kept": grown})


# -- 11: accounts neither see nor disturb each other -------------------------------------------


@pytest.fixture
def pair() -> Iterator[Sandbox]:
    """A sandbox shared by ``alice`` and ``bob``, taking faults over HTTP."""
    accounts = {"alice": "alice-pw", "bob": "bob-pw"}
    with Sandbox(seed=7, accounts=accounts, remote_faults=True) as running:
        yield running


def _alice_verifies(sandbox: Sandbox) -> tuple[str, str]:
    """Alice's service and user, after one SMS verified; their ids."""
    api = sandbox.api(username="alice")
    service = api.services.create("alice.example", "AliceShop")
    user = api.users.create(service.id, PHONE, "alice")
    started = api.auth.initiate(service.id, user.id, "sms")
    verified, _ = api.auth.verify(started, sandbox.control(api).pin_for(started.auth_id))
    assert verified
    return service.id, user.id


def test_stats_show_each_account_only_its_own_calls(pair: Sandbox) -> None:
    sid, uid = _alice_verifies(pair)
    bob = _session(BOB)
    stats = bob.get(pair.url + "/sandbox/stats", params={"route": "verify"}, timeout=5).json()
    assert stats == {"requests": 0, "by_operation": {}, "faults_injected": 0, "matched": 0}
    leaked = 0
    for secret in (sid, uid):  # the attack: guess an id a character at a time
        route = f"GET /v1/service/service/{secret[0]}*"
        answer = bob.get(pair.url + "/sandbox/stats", params={"route": route}, timeout=5)
        assert answer.status_code in (200, 422), answer.text
        leaked += answer.json().get("matched", 0)
    assert leaked == 0
    mine = _session(ALICE).get(pair.url + "/sandbox/stats", timeout=5).json()
    assert mine["by_operation"]["verify_auth"] == 1


def test_an_account_reads_clears_and_sets_only_its_own_faults(pair: Sandbox) -> None:
    alice, bob = _session(ALICE), _session(BOB)
    faults = pair.url + "/sandbox/faults"
    own = [{"route": "get_service", "kind": "error", "status": 503}]
    assert alice.post(faults, json=own, timeout=5).status_code == 200
    assert bob.get(faults, timeout=5).json() == {"faults": []}
    assert bob.delete(faults, timeout=5).status_code == 200
    assert len(alice.get(faults, timeout=5).json()["faults"]) == 1  # bob cleared only his own
    storm = [{"route": "*", "kind": "error", "status": 503}]
    assert bob.post(faults, json=storm, timeout=5).status_code == 200
    create = pair.url + "/v1/service/service"
    assert alice.post(create, json={"fqdn": "a", "name": "A"}, timeout=5).status_code == 201
    assert bob.post(create, json={"fqdn": "b", "name": "B"}, timeout=5).status_code == 503
    assert alice.get(pair.url + "/sandbox/stats", timeout=5).json()["faults_injected"] == 0


def test_one_accounts_clock_advance_cannot_expire_anothers_pin() -> None:
    accounts = {"alice": "alice-pw", "bob": "bob-pw"}
    with Sandbox(seed=7, accounts=accounts, shared_clock_control=False) as shared:
        api = shared.api(username="alice")
        service = api.services.create("alice.example", "AliceShop")
        user = api.users.create(service.id, PHONE, "alice")
        started = api.auth.initiate(service.id, user.id, "sms")
        before = shared.now()
        with pytest.raises(errors.ResourceForbiddenError, match="--shared-clock-control"):
            shared.control(shared.api(username="bob")).advance(3600)
        assert shared.now() == before
        pin = shared.control(api).pin_for(started.auth_id)
        verified, _ = api.auth.verify(started, pin)
        assert verified


def test_an_in_process_sandbox_moves_its_clock_over_http_by_default(sandbox: Sandbox) -> None:
    you = sandbox.control()
    assert you.advance(90) == you.now()


def test_the_in_process_api_acts_as_the_first_account_unless_told(pair: Sandbox) -> None:
    pair.inject(Fault("create_service", "error", status=503))
    create = pair.url + "/v1/service/service"
    assert (
        _session(ALICE).post(create, json={"fqdn": "a", "name": "A"}, timeout=5).status_code == 503
    )
    assert _session(BOB).post(create, json={"fqdn": "b", "name": "B"}, timeout=5).status_code == 201
    pair.inject(Fault("create_service", "error", status=502), username="bob")
    assert _session(BOB).post(create, json={"fqdn": "c", "name": "C"}, timeout=5).status_code == 502
    assert pair.faults.injected == 1 and pair.faults_of("bob").injected == 1
    assert pair.requests_seen("create_service") == 1
    assert pair.requests_seen("create_service", username="bob") == 2
    pair.clear_faults(username="bob")
    assert pair.faults_of("bob").snapshot() == [] and len(pair.faults.snapshot()) == 1


# -- 12: a sandbox open to the network -----------------------------------------------------------


def test_binding_beyond_loopback_with_the_default_account_warns_and_can_drop_user_calls(
    launch: list[subprocess.Popen[str]],
) -> None:
    process = start(
        launch, sandbox_command("--host", "0.0.0.0", "--port", "0", "--no-user-endpoints")
    )
    url = _url(process)
    web = _session(AUTH)
    for method, template in USER_CALLS:
        path = re.sub(r"\{[^}]+\}", "some-id", template)
        answer = web.request(method, url + path, json={}, timeout=5)
        assert answer.status_code == 404, (method, template, answer.status_code)
    document = web.get(url + "/openapi.json", timeout=5).json()
    assert not any(
        template.startswith("/sandbox/") and "outbox" in template for template in document["paths"]
    )
    assert web.post(url + "/v1/service/service", json={"fqdn": "d", "name": "n"}, timeout=5).ok
    process.terminate()
    _, stderr = process.communicate(timeout=10)
    assert "warning" in stderr.lower() and "0.0.0.0" in stderr and "--account" in stderr


@pytest.mark.parametrize(
    ("args", "warns"),
    [
        pytest.param(("--host", "0.0.0.0", "--account", "alice:pw-x"), False, id="own-account"),
        pytest.param(("--host", "127.0.0.1"), False, id="loopback-default-account"),
        pytest.param(("--host", "0.0.0.0"), True, id="open-default-account"),
    ],
)
def test_the_warning_is_only_for_the_default_account_beyond_loopback(
    launch: list[subprocess.Popen[str]], args: tuple[str, ...], warns: bool
) -> None:
    process = start(launch, sandbox_command("--port", "0", *args))
    url = _url(process)
    answer = requests.post(url + "/sandbox/clock", json={"advance_seconds": 1}, timeout=5)
    assert answer.status_code == 401  # served, and refused without an account as usual
    process.terminate()
    _, stderr = process.communicate(timeout=10)
    assert ("warning" in stderr.lower()) is warns, stderr
    assert "pw-x" not in stderr


@pytest.mark.parametrize("flag", [False, True], ids=["default-off", "flag-on"])
def test_the_command_moves_the_shared_clock_only_with_its_flag(
    launch: list[subprocess.Popen[str]], flag: bool
) -> None:
    extra = ("--shared-clock-control",) if flag else ()
    url = _url(start(launch, sandbox_command("--port", "0", *extra)))
    answer = _session(AUTH).post(url + "/sandbox/clock", json={"advance_seconds": 5}, timeout=5)
    assert answer.status_code == (200 if flag else 403)
    if not flag:
        assert "--shared-clock-control" in answer.json()["message"]


def test_without_user_endpoints_the_play_the_user_calls_are_404_and_undocumented() -> None:
    with Sandbox(seed=7, user_endpoints=False) as closed:
        web = _session(AUTH)
        assert USER_CALLS
        for method, template in USER_CALLS:
            path = re.sub(r"\{[^}]+\}", "some-id", template)
            for verb in (method, "PATCH"):  # 404, never a 405 that says the path exists
                answer = web.request(verb, closed.url + path, json={}, timeout=5)
                assert answer.status_code == 404, (verb, template, answer.status_code)
        served = web.get(closed.url + "/openapi.json", timeout=5).json()
        assert served == openapi_document(user_endpoints=False)
        assert {template for _, template in USER_CALLS}.isdisjoint(served["paths"])
        assert "/openapi.json" in served["paths"] and "/sandbox/stats" in served["paths"]
        with pytest.raises(errors.NoSuchResourceError):
            closed.control().outbox()


# -- smaller: the SMS repr --------------------------------------------------------------------


def test_an_sms_repr_hides_the_phone_number(sandbox: Sandbox) -> None:
    api = sandbox.api()
    service = api.services.create("d", "S")
    user = api.users.create(service.id, PHONE, "john")
    api.auth.initiate(service.id, user.id, "sms")
    message = sandbox.control(api).outbox()[-1]
    shown = repr(message) + str(message)
    assert message.to == PHONE  # the field itself is what the play-the-user helper is for
    assert PHONE[1:-2] not in shown and message.pin not in shown
