"""The fault plan (routes, rates, counts, seeds), the traffic count, and their HTTP controls.

The names a fault may use come from the one operation table: every operation the OpenAPI
document lists (``operationId``) is a name a fault breaks on the real call, or a control no
fault breaks.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import requests

from verigator_nb import errors
from verigator_nb.sandbox import (
    Fault,
    FaultPlan,
    Router,
    Sandbox,
    SandboxBackend,
    SandboxControl,
    openapi_document,
)
from verigator_nb.sandbox._operations import ALIASES, CONTROL_PATHS, ROUTABLE, TAG_FAULTS
from verigator_nb.sandbox._routes import ROUTES, _find, operation_of

AUTH = {"X-Service-Auth": "sandbox:sandbox"}
SERVICE = "/v1/service/service/svc-1"
AUTH_PATH = SERVICE + "/users/usr-1/auth"
DOC = openapi_document()


def _fires(plan: FaultPlan, method: str, path: str) -> Fault | None:
    return plan.draw(method, path, operation_of)


# -- routes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "method", "path", "matches"),
    [
        pytest.param("*", "PUT", AUTH_PATH, True, id="star-verify"),
        pytest.param("*", "GET", "/openapi.json", True, id="star-openapi"),
        pytest.param("*", "GET", "/no/such/path", True, id="star-unrouted"),
        pytest.param("verify", "PUT", AUTH_PATH, True, id="verify-alias"),
        pytest.param("verify_auth", "PUT", AUTH_PATH, True, id="verify-handler-name"),
        pytest.param("verify", "POST", AUTH_PATH, False, id="verify-is-not-initiate"),
        pytest.param("initiate", "POST", AUTH_PATH, True, id="initiate"),
        pytest.param("get_service", "GET", SERVICE, True, id="get-service"),
        pytest.param("get_service", "DELETE", SERVICE, False, id="get-service-not-delete"),
        pytest.param("get_service", "GET", SERVICE + "/users", False, id="get-service-not-users"),
        pytest.param("get_service", "GET", SERVICE + "?x=1", True, id="query-ignored"),
        pytest.param("PUT /v1/service/service/*/users/*/auth", "PUT", AUTH_PATH, True, id="glob"),
        pytest.param("put /v1/service/service/*/users/*/auth", "PUT", AUTH_PATH, True, id="lower"),
        pytest.param("GET /v1/service/service/*", "GET", SERVICE + "/users", False, id="1-segment"),
        pytest.param("GET /v1/service/service/*", "PUT", SERVICE, False, id="method-differs"),
        pytest.param("* /v1/service/service/*", "DELETE", SERVICE, True, id="any-method"),
        pytest.param("GET /sandbox/clock", "GET", "/sandbox/clock?x", True, id="exact-path"),
    ],
)
def test_a_route_matches_exactly_the_calls_it_names(
    route: str, method: str, path: str, matches: bool
) -> None:
    plan = FaultPlan(seed=1)
    plan.add([Fault(route, "error")])
    assert (_fires(plan, method, path) is not None) is matches


@pytest.mark.parametrize("path", sorted(CONTROL_PATHS))
def test_the_controls_are_never_broken_nor_counted_even_by_a_star(path: str) -> None:
    router = Router(SandboxBackend(seed=1))
    router.faults.add([Fault("*", "stall"), Fault(f"* {path}", "reset")])
    for method in ("GET", "POST", "DELETE"):
        assert router.admit(method, path, AUTH).fault is None
        assert router.admit(method, path + "?route=verify", AUTH).fault is None
    assert router.faults.injected == 0
    assert len(router.traffic) == 0


def test_aliases_name_operations_and_unknown_calls_have_no_name() -> None:
    assert ALIASES == {"verify": "verify_auth", "initiate": "start_auth"}
    assert operation_of("PUT", AUTH_PATH) == "verify_auth"
    assert operation_of("POST", AUTH_PATH + "?x=1") == "start_auth"
    assert operation_of("PATCH", AUTH_PATH) is None
    assert operation_of("GET", "/nowhere") is None


@pytest.mark.parametrize(
    "path",
    [
        "/v1/service/service", "/v1/service/service/", "/v1/service/service/s1",
        "/v1/service/service/s1/users", "/v1/service/service/s1/users/u1/auth",
        "/v1/service/service/s%2F1/users/u1", "/sandbox/outbox", "/sandbox/clock",
        "/sandbox/clock/x", "/sandbox/faults", "/sandbox/stats", "/openapi.json",
        "/sandbox/services/s1/users/u1/totp", "/sandbox/services//users/u1/totp", "/", "",
    ],
)  # fmt: skip
def test_a_path_finds_the_route_a_scan_in_declaration_order_finds(path: str) -> None:
    # Paths without parameters are looked up first: the answer must not change.
    scanned = next(
        ((route, m.groupdict()) for route in ROUTES if (m := route.pattern.fullmatch(path))), None
    )
    found = _find(path)
    assert (found[0], found[1].groupdict()) == scanned if found else scanned is None


def _documented(*, controls: bool) -> list[Any]:
    """The document's calls as (operation, METHOD, template) params, ids their operationIds.

    ``controls`` picks the fault and stats calls (tagged ``faults``), or every other call.
    """
    return [
        pytest.param(operation, method.upper(), template, id=operation["operationId"])
        for template, item in DOC["paths"].items()
        for method, operation in item.items()
        if method != "parameters" and (TAG_FAULTS in operation["tags"]) is controls
    ]


def _path(sandbox: Sandbox, template: str) -> str:
    """``template`` with a real service and user of ``sandbox`` filled in."""
    api = sandbox.api()
    service = api.services.create("www.example.com", "CoffeeShop")
    user = api.users.create(service.id, "+4401234567", "john")
    return template.format(serviceId=service.id, userId=user.id)


def _call(sandbox: Sandbox, method: str, path: str, operation: dict[str, Any]) -> Any:
    body = {} if "requestBody" in operation else None
    return requests.request(method, sandbox.url + path, json=body, headers=AUTH, timeout=5)


def _is_documented_and_routed(response: requests.Response, operation: dict[str, Any]) -> bool:
    routed = response.status_code != 405 and response.json().get("message") != "no such path"
    return routed and str(response.status_code) in operation["responses"]


@pytest.mark.parametrize(("operation", "method", "template"), _documented(controls=False))
def test_every_documented_operation_id_is_a_name_a_fault_breaks_on_the_real_call(
    sandbox: Sandbox, operation: dict[str, Any], method: str, template: str
) -> None:
    name, path = operation["operationId"], _path(sandbox, template)
    seen = sandbox.requests_seen(name)
    sandbox.inject(Fault(name, "error", status=503, count=1))
    assert _call(sandbox, method, path, operation).status_code == 503
    answered = _call(sandbox, method, path, operation)  # the fault is spent: the real answer
    assert _is_documented_and_routed(answered, operation), answered.text[:200]
    assert name in ROUTABLE and sandbox.requests_seen(name) == seen + 2


@pytest.mark.parametrize(("operation", "method", "template"), _documented(controls=True))
def test_every_documented_control_is_answered_but_never_named_broken_or_counted(
    sandbox: Sandbox, operation: dict[str, Any], method: str, template: str
) -> None:
    with pytest.raises(ValueError, match="unknown operation"):
        Fault(operation["operationId"], "error")
    sandbox.inject(Fault("*", "error", status=503))
    answered = _call(sandbox, method, template, operation)
    assert _is_documented_and_routed(answered, operation), answered.text[:200]
    assert sandbox.requests_seen() == 0


# -- checking a fault --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        pytest.param({"kind": "explode"}, "kind", id="kind"),
        pytest.param({"rate": 1.5}, "rate", id="rate-high"),
        pytest.param({"rate": -0.1}, "rate", id="rate-low"),
        pytest.param({"rate": math.nan}, "rate", id="rate-nan"),
        pytest.param({"rate": True}, "rate", id="rate-bool"),
        pytest.param({"rate": "0.5"}, "rate", id="rate-text"),
        pytest.param({"seconds": -1}, "seconds", id="seconds-negative"),
        pytest.param({"seconds": 301}, "seconds", id="seconds-over-cap"),
        pytest.param({"seconds": math.inf}, "seconds", id="seconds-inf"),
        pytest.param({"count": 0}, "count", id="count-zero"),
        pytest.param({"count": 1.0}, "count", id="count-float"),
        pytest.param({"count": True}, "count", id="count-bool"),
        pytest.param({"when": "during"}, "when", id="when"),
        pytest.param({"status": 404}, "status", id="status-not-5xx"),
        pytest.param({"route": ""}, "route", id="route-empty"),
        pytest.param({"route": "verfy"}, "verfy", id="route-typo"),
        pytest.param({"route": "GET v1/x"}, "METHOD /path", id="route-no-slash"),
        pytest.param({"route": "G-T /x"}, "METHOD /path", id="route-bad-method"),
    ],
)
def test_a_bad_fault_is_refused_naming_what_is_wrong(kwargs: dict[str, Any], names: str) -> None:
    with pytest.raises(ValueError, match=names):
        Fault(**{"route": "*", "kind": "error", **kwargs})


def test_defaults_fill_in_the_seconds_each_kind_needs() -> None:
    assert Fault("*", "latency").seconds == 1.0
    assert Fault("*", "stall").seconds == 30.0
    assert Fault("*", "error").seconds == 0.0
    assert Fault("*", "stall", seconds=2).duration == 2.0
    assert Fault("*", "reset").when == "before" and Fault("*", "error").status == 500


def test_json_round_trip_and_refusals() -> None:
    fault = Fault("verify", "stall", rate=0.5, seconds=2, count=3, when="after")
    assert Fault.from_json(fault.to_json()) == fault
    assert "count" not in Fault("*", "reset").to_json()
    assert Fault.from_json({"kind": "reset"}) == Fault("*", "reset")
    for bad, message in [
        ([], "JSON object"),
        ({"route": "*"}, "needs a kind"),
        ({"kind": "reset", "oops": 1}, "unknown fault keys: oops"),
        ({"kind": "reset", "route": 5}, "route must be a string"),
        ({"kind": 5}, "kind must be a string"),
    ]:
        with pytest.raises(ValueError, match=message):
            Fault.from_json(bad)


# -- drawing -----------------------------------------------------------------------------------


def _hits(plan: FaultPlan, calls: int, path: str = AUTH_PATH) -> list[int]:
    return [i for i in range(calls) if _fires(plan, "PUT", path) is not None]


@pytest.mark.parametrize(
    ("rate", "low", "high"),
    [
        pytest.param(0.0, 0, 0, id="never"),
        pytest.param(1.0, 4000, 4000, id="always"),
        pytest.param(0.25, 880, 1120, id="quarter"),  # 1000 expected, sd 27
        pytest.param(0.01, 20, 65, id="one-in-a-hundred"),  # 40 expected, sd 6
    ],
)
def test_a_rate_is_the_share_of_matching_calls_broken(rate: float, low: int, high: int) -> None:
    plan = FaultPlan(seed=3)
    plan.add([Fault("verify", "error", rate=rate)])
    broken = len(_hits(plan, 4000))
    assert low <= broken <= high
    assert plan.injected == broken == plan.snapshot()[0][1]


def test_the_same_seed_breaks_the_same_calls_and_another_seed_others() -> None:
    def run(seed: int | None) -> list[int]:
        plan = FaultPlan(seed=seed)
        plan.add([Fault("verify", "reset", rate=0.2)])
        return _hits(plan, 300)

    assert run(7) == run(7)
    assert run(7) != run(8)
    assert run(None) != run(None)  # unseeded: fresh randomness (a 1 in ~2^180 false alarm)


def test_unmatched_calls_do_not_draw_so_they_cannot_shift_a_seeded_run() -> None:
    quiet, busy = FaultPlan(seed=5), FaultPlan(seed=5)
    for plan in (quiet, busy):
        plan.add([Fault("verify", "reset", rate=0.3)])
    hits_quiet, hits_busy = [], []
    for _ in range(200):
        _fires(busy, "GET", SERVICE)  # another route: must not consume the random source
        hits_quiet.append(_fires(quiet, "PUT", AUTH_PATH) is not None)
        hits_busy.append(_fires(busy, "PUT", AUTH_PATH) is not None)
    assert hits_quiet == hits_busy


def test_a_count_caps_the_calls_broken_then_the_next_fault_gets_its_turn() -> None:
    plan = FaultPlan(seed=1)
    first, second = Fault("verify", "error", count=2), Fault("*", "reset", count=1)
    plan.add([first, second])
    drawn = [_fires(plan, "PUT", AUTH_PATH) for _ in range(5)]
    assert drawn == [first, first, second, None, None]
    assert plan.snapshot() == [(first, 2), (second, 1)]
    assert plan.injected == 3


def test_replace_restarts_counts_and_clear_keeps_the_running_total() -> None:
    plan = FaultPlan(seed=1)
    fault = Fault("verify", "error", count=1)
    plan.add([fault])
    assert _fires(plan, "PUT", AUTH_PATH) == fault and not _fires(plan, "PUT", AUTH_PATH)
    plan.replace([fault])
    assert plan.snapshot() == [(fault, 0)]
    assert _fires(plan, "PUT", AUTH_PATH) == fault
    plan.clear()
    assert not plan and plan.snapshot() == [] and plan.injected == 2
    with pytest.raises(TypeError):
        plan.add([{"kind": "error"}])  # type: ignore[list-item]


def test_draws_from_many_threads_never_exceed_the_count() -> None:
    plan = FaultPlan(seed=1)
    plan.add([Fault("verify", "error", rate=0.5, count=100)])
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait()
        for _ in range(500):
            _fires(plan, "PUT", AUTH_PATH)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert plan.injected == 100


# -- traffic -----------------------------------------------------------------------------------


def test_traffic_counts_calls_per_caller_and_operation_and_leaves_out_the_controls() -> None:
    router = Router(SandboxBackend(seed=1, accounts={"sandbox": "sandbox", "alice": "pw"}))
    traffic = router.traffic
    for method, path in [
        ("PUT", AUTH_PATH),
        ("PUT", AUTH_PATH + "?x=1"),
        ("POST", AUTH_PATH),
        ("GET", SERVICE),
        ("GET", "/nowhere"),
        ("PATCH", SERVICE),
        ("GET", "/sandbox/stats?route=verify"),
        ("POST", "/sandbox/faults"),
    ]:
        router.admit(method, path, AUTH)
    router.admit("PUT", AUTH_PATH, {"X-Service-Auth": "alice:pw"})
    router.admit("PUT", AUTH_PATH, {"X-Service-Auth": "sandbox:wrong"})
    router.admit("GET", "/openapi.json")
    assert traffic.total("sandbox") == 6 and traffic.total("alice") == 1
    assert traffic.total("") == 2  # without valid credentials: counted apart, by nobody's name
    assert traffic.count("verify", "sandbox") == 2
    assert traffic.count("POST /v1/service/service/*/users/*/auth", "sandbox") == 1
    assert traffic.count("* /v1/service/service/*", "sandbox") == 1  # get, not the PATCH
    assert traffic.count("*", "sandbox") == 6
    assert traffic.by_operation("sandbox") == {
        "get_service": 1,
        "start_auth": 1,
        "unrouted": 2,
        "verify_auth": 2,
    }
    assert traffic.by_operation("") == {"openapi": 1, "verify_auth": 1}
    with pytest.raises(ValueError, match="unknown operation"):
        traffic.count("verfy", "sandbox")
    with pytest.raises(ValueError, match=r"parameter as \*"):
        traffic.count("GET /v1/service/service/svc-*", "sandbox")


# -- over HTTP ---------------------------------------------------------------------------------


@pytest.fixture
def remote() -> Iterator[Sandbox]:
    with Sandbox(seed=7, remote_faults=True) as running:
        yield running


def _conforms(template: str, method: str, response: requests.Response) -> Any:
    responses = DOC["paths"][template][method.lower()]["responses"]
    assert str(response.status_code) in responses, (method, template, response.status_code)
    schema = responses[str(response.status_code)]["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), {**schema, "components": DOC["components"]})
    return response.json()


def test_faults_set_read_and_cleared_over_http_conform_to_the_openapi_document(
    remote: Sandbox,
) -> None:
    web = requests.Session()
    web.headers.update(AUTH)
    url = remote.url + "/sandbox/faults"
    faults = [{"route": "get_service", "kind": "error", "status": 503, "count": 1}]
    plan = _conforms("/sandbox/faults", "POST", web.post(url, json=faults, timeout=5))
    assert plan["faults"][0]["injected"] == 0 and plan["faults"][0]["status"] == 503
    assert web.get(remote.url + SERVICE, timeout=5).status_code == 503
    assert web.get(remote.url + SERVICE, timeout=5).status_code == 404  # the count is spent
    plan = _conforms("/sandbox/faults", "GET", web.get(url, timeout=5))
    assert plan["faults"][0]["injected"] == 1
    stats = _conforms(
        "/sandbox/stats", "GET", web.get(remote.url + "/sandbox/stats?route=get_service", timeout=5)
    )
    assert stats == {
        "requests": 2,
        "by_operation": {"get_service": 2},
        "faults_injected": 1,
        "matched": 2,
    }
    assert _conforms("/sandbox/faults", "DELETE", web.delete(url, timeout=5)) == {"faults": []}
    for response in (
        web.post(url, data=b"{}", timeout=5),
        web.post(url, json=[{"kind": "explode"}], timeout=5),
        web.get(remote.url + "/sandbox/stats?route=verfy", timeout=5),
    ):
        assert response.status_code == 422
        template = urlsplit(response.url).path
        _conforms(template, response.request.method or "", response)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/sandbox/faults"),
        ("POST", "/sandbox/faults"),
        ("DELETE", "/sandbox/faults"),
        ("GET", "/sandbox/stats"),
    ],
)
def test_the_fault_controls_need_auth(remote: Sandbox, method: str, path: str) -> None:
    response = requests.request(method, remote.url + path, json=[], timeout=5)
    assert response.status_code == 401


def test_setting_faults_over_http_is_refused_unless_the_sandbox_allows_it(
    sandbox: Sandbox,
) -> None:
    control = sandbox.control()
    with pytest.raises(errors.ResourceForbiddenError, match="--remote-faults"):
        control.inject_faults(Fault("*", "reset"))
    assert sandbox.faults.snapshot() == []
    sandbox.inject(Fault("get_service", "error", count=1))  # in-process works regardless
    assert control.faults() == [(Fault("get_service", "error", count=1), 0)]
    control.clear_faults()  # clearing is always allowed
    assert sandbox.faults.snapshot() == []


def test_sandbox_control_round_trips_a_plan_and_counts_what_arrived(remote: Sandbox) -> None:
    api = remote.api(timeout=(1, 0.5))
    control = SandboxControl(api)
    service = api.services.create("d", "S")
    faults = (Fault("get_service", "error", count=1), Fault("verify", "stall", seconds=5))
    assert control.inject_faults(*faults) == [(faults[0], 0), (faults[1], 0)]
    with pytest.raises(errors.InternalError):
        api.services.get(service.id)
    assert control.faults() == [(faults[0], 1), (faults[1], 0)]
    assert control.requests_seen("get_service") == 1 == remote.requests_seen("get_service")
    assert control.requests_seen("create_service") == 1
    assert control.requests_seen() == 2  # the control calls themselves are not counted
    control.clear_faults()
    assert control.faults() == [] and remote.faults.injected == 1


# -- what each kind does on the wire -----------------------------------------------------------


def _raw_call(sandbox: Sandbox, method: str, path: str, timeout: float = 5.0) -> socket.socket:
    parts = urlsplit(sandbox.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nX-Service-Auth: sandbox:sandbox\r\n\r\n"
    sock.sendall(head.encode())
    return sock


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        if b"\r\n\r\n" in data:
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            if len(body) >= length:
                return data
    return data


def test_reset_is_a_tcp_reset_not_an_answer(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("get_clock", "reset"))
    with _raw_call(sandbox, "GET", "/sandbox/clock") as sock, pytest.raises(ConnectionResetError):
        sock.recv(1024)


def test_stall_holds_the_connection_then_closes_it_without_an_answer(sandbox: Sandbox) -> None:
    sandbox.inject(Fault("get_clock", "stall", seconds=0.3))
    started = time.perf_counter()
    with _raw_call(sandbox, "GET", "/sandbox/clock") as sock:
        assert sock.recv(1024) == b""
    assert 0.3 <= time.perf_counter() - started < 3.0


def test_stopping_the_sandbox_cuts_a_stall_short() -> None:
    sandbox = Sandbox(seed=7).start()
    sandbox.inject(Fault("*", "stall", seconds=300))
    sock = _raw_call(sandbox, "GET", "/sandbox/clock")
    deadline = time.monotonic() + 5
    while sandbox.faults.injected == 0 and time.monotonic() < deadline:
        time.sleep(0.005)  # polling the server's own count, not waiting for luck
    started = time.perf_counter()
    sandbox.stop()
    assert time.perf_counter() - started < 2.0
    assert sock.recv(1024) == b""
    sock.close()


def test_malformed_after_sends_half_of_the_real_answer_and_before_sends_none(
    sandbox: Sandbox,
) -> None:
    sandbox.inject(Fault("get_clock", "malformed", when="after", count=1))
    with _raw_call(sandbox, "GET", "/sandbox/clock") as sock:
        cut = _read_all(sock)
    sandbox.inject(Fault("get_clock", "malformed", count=1))
    with _raw_call(sandbox, "GET", "/sandbox/clock") as sock:
        other = _read_all(sock)
    for raw in (cut, other):
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        with pytest.raises(ValueError):
            json.loads(body)
    assert cut.partition(b"\r\n\r\n")[2].startswith(b'{"now":')


def test_latency_delays_the_answer_and_changes_nothing_else(sandbox: Sandbox) -> None:
    api = sandbox.api()
    sandbox.inject(Fault("create_service", "latency", seconds=0.2, count=1))
    started = time.perf_counter()
    service = api.services.create("d", "S")
    assert 0.2 <= time.perf_counter() - started < 3.0
    assert api.services.get(service.id) == service
