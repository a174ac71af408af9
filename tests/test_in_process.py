"""The in-process sandbox: the real client through ``requests`` to the router, with no socket.

Every behaviour is checked against the same calls over real HTTP on 127.0.0.1: the answers,
typed errors, retries and what reached the sandbox must be the same, faults included.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from verigator_nb.client import Api
from verigator_nb.errors import VerigatorError
from verigator_nb.sandbox import (
    IN_PROCESS_URL,
    MAX_BODY,
    Fault,
    InProcessAdapter,
    Sandbox,
    SandboxControl,
)
from verigator_nb.sandbox._in_process import in_process_session

READ_TIMEOUT = 0.2
TIMEOUT = (1.0, READ_TIMEOUT)
BOUND = 3.0  # any single call, however it fails, is over well within this
STALL = 2.0  # longer than the read timeout: the client gives up first
RETRIES = 1  # one GET retry: running out of them waits no backoff (it starts at the second)
AUTH = {"X-Service-Auth": "sandbox:sandbox"}


def _sockets() -> int:
    """How many sockets this process has open (Linux: /proc/self/fd)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


@pytest.fixture
def in_process() -> Iterator[Sandbox]:
    with Sandbox(seed=7, http=False) as sandbox:
        yield sandbox


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts sockets through /proc")
def test_an_in_process_sandbox_opens_no_socket_and_its_name_resolves_nowhere() -> None:
    before = _sockets()
    with Sandbox(seed=7, http=False) as sandbox, sandbox.api() as api:
        service = api.services.create("www.example.com", "CoffeeShop")
        user = api.users.create(service.id, "+4401234567", "john")
        started = api.auth.initiate(service.id, user.id, "sms")
        assert api.auth.verify(started, sandbox.control(api).pin_for(started.auth_id)).verified
        assert sandbox.running and _sockets() <= before, "no socket opened"
    assert sandbox.url == IN_PROCESS_URL and IN_PROCESS_URL.endswith(".invalid")  # RFC 6761
    assert "in process" in repr(sandbox)


def test_the_adapter_answers_a_prepared_request_with_a_real_response(in_process: Sandbox) -> None:
    session = requests.Session()
    session.mount(IN_PROCESS_URL + "/", InProcessAdapter(in_process.router))
    clock = session.get(IN_PROCESS_URL + "/sandbox/clock", headers=AUTH)
    assert isinstance(clock, requests.Response) and clock.status_code == 200
    assert clock.reason == "OK" and clock.headers["content-type"] == "application/json"
    assert clock.json()["now"] == in_process.now().timestamp()
    streamed = session.get(IN_PROCESS_URL + "/openapi.json", stream=True)
    first = streamed.raw.read(100)
    rest = b"".join(streamed.iter_content(4096))
    assert len(first) == 100 and int(streamed.headers["Content-Length"]) == 100 + len(rest)
    assert (first + rest).startswith(b'{"openapi"')
    refused = session.get(IN_PROCESS_URL + "/v1/service/service/nope")
    assert refused.status_code == 401 and refused.json() == {"message": refused.json()["message"]}
    head = session.head(IN_PROCESS_URL + "/sandbox/clock", headers=AUTH)
    assert head.status_code == 405 and head.content == b"" and "GET" in head.headers["Allow"]
    assert in_process.requests_seen() == 2, "the account's two calls; the others were anonymous"


@pytest.mark.parametrize("stream", [True, False])
def test_the_in_process_session_sends_as_requests_does(in_process: Sandbox, stream: bool) -> None:
    # Its own send (no redirects followed, no cookies) against requests' Session.send.
    session = in_process_session(in_process.router)
    seen: list[int] = []
    session.hooks["response"].append(lambda response, **_: seen.append(response.status_code))
    url = IN_PROCESS_URL + "/sandbox/clock"
    answers = [
        send(session, session.prepare_request(requests.Request("GET", url, headers=AUTH)),
             stream=stream, allow_redirects=False, timeout=(1, 5))
        for send in (type(session).send, requests.Session.send)
    ]  # fmt: skip
    lean, full = answers
    assert type(session).send is not requests.Session.send
    assert (lean.status_code, lean.reason, dict(lean.headers)) == (
        full.status_code, full.reason, dict(full.headers)
    )  # fmt: skip
    assert lean.content == full.content and lean.json()["now"] == in_process.now().timestamp()
    assert lean.elapsed.total_seconds() > 0 and lean.request.url == url
    assert seen == [200, 200], "the session's response hook ran for each"
    assert lean.raw.closed and full.raw.closed, "the whole answer read, the body closed"


def test_api_refuses_http_on_an_in_process_sandbox_and_a_session_in_process(
    in_process: Sandbox,
) -> None:
    with pytest.raises(RuntimeError, match="serves no HTTP"):
        in_process.api(http=True)
    with pytest.raises(ValueError, match="session"):
        in_process.api(session=requests.Session())


def test_forks_of_an_in_process_client_answer_in_process_from_threads(
    in_process: Sandbox,
) -> None:
    before = _sockets()
    with in_process.api() as api:
        service = api.services.create("www.example.com", "CoffeeShop")
        verified: list[bool] = []

        def login(name: str) -> None:
            with api.fork() as twin:
                user = twin.users.create(service.id, "+4401234567", name)
                started = twin.auth.initiate(service.id, user.id, "sms")
                pin = in_process.control(twin).pin_for(started.auth_id)
                verified.append(twin.auth.verify(started, pin).verified)

        threads = [threading.Thread(target=login, args=(f"user{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert verified == [True] * 4
        assert len(api.users.get_all(service.id)) == 4
    assert _sockets() <= before, "no socket opened (one left by an earlier test may close)"


# -- the same calls, in process and over HTTP --------------------------------------------------


class _Script:
    """One client's calls, each turned into a line: what it returned or raised."""

    def __init__(self, sandbox: Sandbox, http: bool) -> None:
        self.sandbox = sandbox
        self.api = sandbox.api(timeout=TIMEOUT, http=http, retries=RETRIES)
        self.you = sandbox.control(self.api)
        self.service = self.api.services.create("www.example.com", "CoffeeShop")
        self.user = self.api.users.create(self.service.id, "+4401234567", "john")
        self.lines: list[tuple[str, ...]] = []

    def call(self, name: str, call: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        try:
            answer = call()
        except VerigatorError as exc:
            self.lines.append((name, type(exc).__name__, str(exc.status)))
            answer = None
        else:
            self.lines.append((name, "ok"))
        assert time.perf_counter() - began < BOUND, f"{name} took too long"
        return answer

    def verify_twice(self, fault: Fault) -> None:
        """A verify broken by ``fault``, then the same PIN again: was the attempt spent?"""
        started = self.api.auth.initiate(self.service.id, self.user.id, "sms")
        pin = self.you.pin_for(started.auth_id)
        self.sandbox.inject(fault)
        outcome = self.call("verify", lambda: self.api.auth.verify(started, pin))
        self.sandbox.clear_faults()
        again = self.api.auth.verify(started, pin)
        self.lines.append(("again", str(outcome and outcome.result), str(again.result)))

    def get_service(self, fault: Fault) -> None:
        self.sandbox.inject(fault)
        self.call("get_service", lambda: self.api.services.get(self.service.id))

    def controls(self, fault: Fault) -> None:
        self.sandbox.inject(fault)
        self.call("clock", self.you.now)
        self.call("advance", lambda: self.you.advance(5))
        self.call("outbox", self.you.outbox)

    def transcript(self) -> list[tuple[str, ...]]:
        seen = [(op, str(self.sandbox.requests_seen(op))) for op in ("*", "get_service")]
        faults = [("broken", str(n)) for _, n in self.sandbox.faults.snapshot()]
        return [*self.lines, *seen, *faults, ("clock", self.sandbox.now().isoformat())]


def _both(play: Callable[[_Script], None]) -> tuple[list[tuple[str, ...]], ...]:
    transcripts = []
    for http in (True, False):
        with Sandbox(seed=7, http=http) as sandbox:
            script = _Script(sandbox, http)
            play(script)
            transcripts.append(script.transcript())
    return tuple(transcripts)


VERIFY_FAULTS = [
    pytest.param(Fault("verify", kind, seconds=STALL, when=when), id=f"{kind}-{when}")
    for kind in ("error", "malformed", "reset", "stall")
    for when in ("before", "after")
] + [
    pytest.param(Fault("verify", "latency", seconds=0.05), id="latency-within-timeout"),
    pytest.param(Fault("verify", "latency", seconds=STALL, when="after"), id="latency-past"),
    pytest.param(Fault("verify", "stall", seconds=0.05), id="stall-shorter-than-timeout"),
    pytest.param(Fault("verify", "error", status=503), id="503"),
]


@pytest.mark.parametrize("fault", VERIFY_FAULTS)
def test_a_broken_verify_ends_alike_in_process_and_over_http(fault: Fault) -> None:
    over_http, in_process = _both(lambda script: script.verify_twice(fault))
    assert in_process == over_http
    assert over_http[0][0] == "verify"


GET_FAULTS = [
    pytest.param(Fault("get_service", "reset", count=1), id="reset-then-retried"),
    pytest.param(Fault("get_service", "stall", seconds=STALL, count=1), id="stall-retried"),
    pytest.param(Fault("get_service", "error", status=503, count=1), id="503-retried"),
    pytest.param(Fault("get_service", "error", status=502), id="502-until-retries-run-out"),
    pytest.param(Fault("get_service", "reset"), id="reset-until-retries-run-out"),
    pytest.param(Fault("get_service", "error", count=1), id="500-not-retried"),
]


@pytest.mark.parametrize("fault", GET_FAULTS)
def test_a_get_is_retried_alike_in_process_and_over_http(fault: Fault) -> None:
    over_http, in_process = _both(lambda script: script.get_service(fault))
    assert in_process == over_http


CONTROL_FAULTS = [
    pytest.param(Fault("GET /sandbox/clock", "reset", count=1), id="clock-reset-retried"),
    pytest.param(Fault("POST /sandbox/clock", "error"), id="advance-500"),
    pytest.param(Fault("GET /sandbox/outbox", "malformed"), id="outbox-malformed"),
    pytest.param(Fault("*", "error", rate=0.5), id="half-of-everything-500"),
]


@pytest.mark.parametrize("fault", CONTROL_FAULTS)
def test_the_controls_break_alike_in_process_and_over_http(fault: Fault) -> None:
    over_http, in_process = _both(lambda script: script.controls(fault))
    assert in_process == over_http


def test_refusals_of_the_request_framing_match_the_server(sandbox: Sandbox) -> None:
    statuses = []
    for base, adapter in ((sandbox.url, None), (IN_PROCESS_URL, InProcessAdapter(sandbox.router))):
        session = requests.Session()
        if adapter is not None:
            session.mount(IN_PROCESS_URL + "/", adapter)
        url = base + "/sandbox/clock"
        chunked = session.post(url, data=iter([b'{"advance_seconds": 1}']), headers=AUTH)
        too_big = session.post(url, data=b" " * (MAX_BODY + 1), headers=AUTH)
        statuses.append((chunked.status_code, too_big.status_code, too_big.json()))
        session.close()
    assert statuses[0] == statuses[1]
    assert statuses[0][:2] == (411, 413)


# -- the controls -------------------------------------------------------------------------------


def test_the_controls_of_an_in_process_client_skip_requests(
    in_process: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    send = InProcessAdapter.send  # where a call through requests reaches the sandbox

    def counting(self: InProcessAdapter, request: Any, **kwargs: Any) -> Any:
        sent.append(request.url)
        return send(self, request, **kwargs)

    monkeypatch.setattr(InProcessAdapter, "send", counting)
    api = in_process.api()
    you = in_process.control(api)
    service = api.services.create("www.example.com", "CoffeeShop")
    user = api.users.create(service.id, "+4401234567", "john")
    you.enrol_totp(service.id, user.id)
    assert you.totp_code(service.id, user.id).isdigit()
    you.advance(60)
    assert you.now() == in_process.now()
    assert len(sent) == 2, "only the two API calls went through requests"
    assert in_process.requests_seen() == 6, "the controls reached the sandbox all the same"


def test_controls_through_api_request_or_the_door_raise_the_same_errors(
    in_process: Sandbox,
) -> None:
    api = in_process.api()
    door, plain = in_process.control(api), SandboxControl(api)  # plain: through api.request
    service = api.services.create("www.example.com", "CoffeeShop")
    calls: list[Callable[[SandboxControl], Any]] = [
        lambda you: you.totp_code(service.id, "no-such-user"),
        lambda you: you.advance(-1),
        lambda you: you.inject_faults(Fault("verify", "error")),
    ]
    errors = []
    for you in (door, plain):
        for call in calls:
            with pytest.raises(VerigatorError) as raised:
                call(you)
            errors.append((type(raised.value).__name__, raised.value.status, str(raised.value)))
    assert errors[:3] == errors[3:]
    assert [status for _, status, _ in errors[:3]] == [404, 422, 403]


def test_a_client_aimed_at_the_in_process_name_over_the_network_reaches_nothing() -> None:
    from verigator_nb.simulate import NotASandboxError, Population, simulate

    stray = Api("sandbox", "sandbox", IN_PROCESS_URL, timeout=1.0, retries=0)
    with pytest.raises(NotASandboxError, match="only drives a sandbox"):
        simulate(stray, Population(users=1))
