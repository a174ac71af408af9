"""The real client against the real sandbox over HTTP, with faults injected into the sandbox.

Each fault kind must surface as its typed error within the client's timeout, be written to the
outcome log with its error and status, never make the client send an unsafe call twice, and
leave ``VerifyForm`` showing a message with its buttons working. Timeouts are small so the
whole file runs in seconds; time bounds are generous multiples (a behaviour check, not a
benchmark).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest

from tests._figures import record
from verigator_nb.client import Api
from verigator_nb.errors import (
    ConnectionFailedError,
    InternalError,
    InvalidResponseError,
    RequestTimeoutError,
    VerigatorError,
)
from verigator_nb.log import OutcomeLog
from verigator_nb.models import Initiation, Service, User
from verigator_nb.sandbox import Fault, Sandbox, SandboxControl
from verigator_nb.widgets import VerifyForm

READ_TIMEOUT = 0.3
TIMEOUT = (1.0, READ_TIMEOUT)
BOUND = 10 * READ_TIMEOUT  # any single call, however it fails, is over well within this
STALL = 2.0  # longer than the read timeout: the client gives up first

ERROR_OF = {
    "error": InternalError,
    "malformed": InvalidResponseError,
    "reset": ConnectionFailedError,
    "stall": RequestTimeoutError,
}
STATUS_OF: dict[str, int | None] = {"error": 500, "malformed": 200, "reset": None, "stall": None}


class World:
    """A client with a log, the user's side, and one service with one user."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.log = OutcomeLog()
        self.api: Api = sandbox.api(timeout=TIMEOUT, log=self.log)
        self.you: SandboxControl = sandbox.control(self.api)
        self.service: Service = self.api.services.create("www.example.com", "CoffeeShop")
        self.user: User = self.api.users.create(self.service.id, "+4401234567", "john")

    def start_sms(self) -> tuple[Initiation, str]:
        started = self.api.auth.initiate(self.service.id, self.user.id, "sms")
        return started, self.you.pin_for(started.auth_id)

    def last_row(self) -> pd.Series:
        return self.log.df.iloc[-1]


@pytest.fixture
def world(sandbox: Sandbox) -> World:
    return World(sandbox)


# What the file as a whole did, recorded as figures for docs/reliability.md.
TALLY: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _count_faults(sandbox: Sandbox) -> Iterator[None]:
    yield
    TALLY["faults injected over HTTP"] += sandbox.faults.injected


@pytest.fixture(scope="module", autouse=True)
def _figures() -> Iterator[None]:
    yield
    record("faults_client_over_http", dict(sorted(TALLY.items())))


def _expect(error: type[VerigatorError], call: Callable[[], Any]) -> float:
    """Run ``call``, which must raise exactly ``error`` within ``BOUND``; the seconds it took."""
    began = time.perf_counter()
    with pytest.raises(error) as raised:
        call()
    elapsed = time.perf_counter() - began
    assert type(raised.value) is error, f"{type(raised.value).__name__}, not {error.__name__}"
    assert elapsed < BOUND, f"{error.__name__} took {elapsed:.2f} s"
    TALLY[f"typed errors: {error.__name__}"] += 1
    return elapsed


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _status_matches(row: pd.Series, status: int | None) -> bool:
    return pd.isna(row["http_status"]) if status is None else row["http_status"] == status


# -- each kind, on a verify --------------------------------------------------------------------

KIND_CASES = [
    pytest.param(kind, when, id=f"{kind}-{when}")
    for kind in ERROR_OF
    for when in ("before", "after")
]


@pytest.mark.parametrize(("kind", "when"), KIND_CASES)
def test_a_broken_verify_raises_its_typed_error_in_time_is_sent_once_and_is_logged(
    world: World, kind: str, when: str
) -> None:
    started, pin = world.start_sms()
    world.sandbox.inject(Fault("verify", kind, seconds=STALL, when=when))
    error = ERROR_OF[kind]
    elapsed = _expect(error, lambda: world.api.auth.verify(started, pin))
    if kind == "stall":
        assert elapsed >= READ_TIMEOUT * 0.9, "a stall is only noticed when the timeout runs out"
    assert world.sandbox.requests_seen("verify") == 1, "a verify must never be re-sent"
    row = world.last_row()
    assert (row["action"], row["error"]) == ("verify", error.__name__)
    assert _status_matches(row, STATUS_OF[kind])
    assert pd.isna(row["verified"]) and pd.isna(row["result"])
    world.sandbox.clear_faults()
    again = world.api.auth.verify(started, pin)
    # "after": the server applied the first verify (its auth_id is spent); "before": it did not.
    assert again.result == ("EXPIRED" if when == "after" else "VERIFIED")


def test_a_lost_reply_verify_spends_the_attempt_and_the_log_says_timeout(world: World) -> None:
    started, pin = world.start_sms()
    world.sandbox.inject(Fault("verify", "stall", seconds=STALL, when="after", count=1))
    _expect(RequestTimeoutError, lambda: world.api.auth.verify(started, pin))
    row = world.last_row()
    assert row["error"] == "RequestTimeoutError"
    assert pd.isna(row["verified"]) and pd.isna(row["http_status"]) and pd.isna(row["result"])
    assert world.sandbox.requests_seen("verify") == 1
    # The server did the work: the right PIN was accepted and its auth_id is now spent.
    assert world.api.auth.verify(started, pin).result == "EXPIRED"
    assert world.log.df["verified"].tolist()[-2:] == [pd.NA, False]


def test_latency_within_the_timeout_is_slow_but_fine(sandbox: Sandbox) -> None:
    world = World(sandbox)
    world.api = sandbox.api(timeout=(1.0, 3.0), log=world.log)
    started, pin = world.start_sms()
    sandbox.inject(Fault("verify", "latency", seconds=0.25))
    elapsed = _timed(lambda: world.api.auth.verify(started, pin))
    assert 0.25 <= elapsed < 3.0
    assert world.last_row()["verified"] == True  # noqa: E712 (pandas' nullable boolean)
    assert world.last_row()["error"] == ""


def test_latency_past_the_timeout_after_applying_is_a_lost_reply_too(world: World) -> None:
    started, pin = world.start_sms()
    world.sandbox.inject(Fault("verify", "latency", seconds=STALL, when="after", count=1))
    _expect(RequestTimeoutError, lambda: world.api.auth.verify(started, pin))
    assert world.api.auth.verify(started, pin).result == "EXPIRED"


# -- unsafe calls are sent once, whatever breaks -----------------------------------------------


def _unsafe_call(world: World, operation: str) -> None:
    api, service, user = world.api, world.service, world.user
    if operation == "verify":
        api.auth.verify(service.id, user.id, "123456")
    elif operation == "initiate":
        api.auth.initiate(service.id, user.id, "sms")
    elif operation == "create_service":
        api.services.create("d", "Another")
    elif operation == "create_user":
        api.users.create(service.id, "+4401234568", "ann")
    else:
        api.users.delete(service.id, user.id)


@pytest.mark.parametrize("kind", list(ERROR_OF))
@pytest.mark.parametrize(
    "operation", ["verify", "initiate", "create_service", "create_user", "delete_user"]
)
def test_an_unsafe_call_reaches_the_server_exactly_once_under_every_fault(
    world: World, operation: str, kind: str
) -> None:
    # "after": the server applied the call and its answer was lost: the case a retry would ruin.
    world.sandbox.inject(Fault(operation, kind, seconds=STALL, when="after"))
    before = world.sandbox.requests_seen(operation)
    _expect(ERROR_OF[kind], lambda: _unsafe_call(world, operation))
    assert world.sandbox.requests_seen(operation) - before == 1
    TALLY["unsafe calls re-sent"] += world.sandbox.requests_seen(operation) - before - 1
    if operation in ("verify", "initiate"):
        row = world.last_row()
        assert (row["action"], row["error"]) == (operation, ERROR_OF[kind].__name__)
        assert _status_matches(row, STATUS_OF[kind])


# -- GET is retried past transient faults ------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "count", "status"),
    [
        pytest.param("reset", 1, 500, id="reset-once"),
        pytest.param("reset", 2, 500, id="reset-twice"),
        pytest.param("stall", 1, 500, id="stall-once"),
        pytest.param("stall", 2, 500, id="stall-twice"),
        pytest.param("error", 1, 503, id="503-once"),
        pytest.param("error", 2, 502, id="502-twice"),
    ],
)
def test_a_get_is_retried_past_a_transient_fault_and_succeeds(
    world: World, kind: str, count: int, status: int
) -> None:
    world.sandbox.inject(Fault("get_service", kind, seconds=STALL, count=count, status=status))
    assert _timed(lambda: world.api.services.get(world.service.id)) < BOUND
    assert world.sandbox.requests_seen("get_service") == count + 1
    assert world.sandbox.faults.snapshot()[0][1] == count
    TALLY["faults absorbed by GET retries"] += count


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        pytest.param("error", InternalError, id="500-is-not-retried"),
        pytest.param("malformed", InvalidResponseError, id="malformed-is-not-retried"),
    ],
)
def test_a_get_is_not_retried_when_the_server_answered(
    world: World, kind: str, error: type[VerigatorError]
) -> None:
    world.sandbox.inject(Fault("get_service", kind, count=1))
    _expect(error, lambda: world.api.services.get(world.service.id))
    assert world.sandbox.requests_seen("get_service") == 1


def test_a_get_that_keeps_failing_gives_up_after_its_retries(world: World) -> None:
    world.sandbox.inject(Fault("get_service", "reset"))
    _expect(ConnectionFailedError, lambda: world.api.services.get(world.service.id))
    assert world.sandbox.requests_seen("get_service") == 4  # the call and its 3 retries


# -- the form shows a message and keeps working ------------------------------------------------


def _form(sandbox: Sandbox) -> tuple[VerifyForm, OutcomeLog]:
    log = OutcomeLog()
    api = sandbox.api(timeout=TIMEOUT)
    form = VerifyForm(api, log, control=sandbox.control(api))
    fields = form.setup.fields
    fields["domain"].value, fields["name"].value = "www.example.com", "CoffeeShop"
    form.setup.create_service_button.click()
    fields["phone"].value, fields["username"].value = "+4401234567", "john"
    form.setup.add_user_button.click()
    form.method = "sms"
    return form, log


def _buttons(form: VerifyForm) -> list[Any]:
    return [form.initiate_button, form.verify_button, form.show_sms_button, form.enrol_button]


def _sms_pin(form: VerifyForm) -> str:
    form.show_sms_button.click()
    return form.user_side.rsplit(": ", 1)[-1][:6]


@pytest.mark.parametrize("kind", list(ERROR_OF))
def test_the_form_shows_a_broken_verify_as_a_message_and_recovers(
    sandbox: Sandbox, kind: str
) -> None:
    form, log = _form(sandbox)
    form.initiate_button.click()
    form.pin = _sms_pin(form)
    sandbox.inject(Fault("verify", kind, seconds=STALL))
    form.verify_button.click()
    error = ERROR_OF[kind].__name__
    assert form.message and form.message_detail.startswith(error)
    assert "Traceback" not in form.message + form.message_detail
    assert "/auth" in form.message_detail, "the detail names the call that failed"
    assert form.pin == "" and form.verification is None
    assert not form.busy and not any(button.disabled for button in _buttons(form))
    assert log.df.iloc[-1]["error"] == error
    TALLY["typed errors shown by VerifyForm"] += 1
    sandbox.clear_faults()
    form.initiate_button.click()
    form.pin = _sms_pin(form)
    form.verify_button.click()
    assert form.message == "" and form.outcome_text == "Verified"


@pytest.mark.parametrize("kind", ["reset", "stall"])
def test_the_form_shows_a_broken_initiate_and_the_next_click_works(
    sandbox: Sandbox, kind: str
) -> None:
    form, _ = _form(sandbox)
    sandbox.inject(Fault("initiate", kind, seconds=STALL, count=1))
    form.initiate_button.click()
    assert form.message_detail.startswith(ERROR_OF[kind].__name__) and form.initiation is None
    assert not any(button.disabled for button in _buttons(form))
    TALLY["typed errors shown by VerifyForm"] += 1
    form.initiate_button.click()
    assert form.message == "" and form.initiation is not None


# -- a seeded storm of every kind at once ------------------------------------------------------


def test_a_seeded_storm_of_mixed_faults_gives_typed_errors_only(world: World) -> None:
    storm = [
        Fault(route, kind, rate=0.04, seconds=1.0, when=when)
        for route in ("initiate", "verify")
        for kind in ERROR_OF
        for when in ("before", "after")
    ]
    world.sandbox.inject(*storm, Fault("*", "latency", rate=0.1, seconds=0.02))
    raised: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    verified = 0

    def call(action: str, send: Callable[[], Any]) -> Any:
        calls[action] += 1
        began = time.perf_counter()
        try:
            return send()
        except VerigatorError as exc:  # anything else escapes and fails the test
            raised[type(exc).__name__] += 1
            return None
        finally:
            assert time.perf_counter() - began < BOUND

    api, service, user = world.api, world.service, world.user
    for _ in range(80):
        started = call("initiate", lambda: api.auth.initiate(service.id, user.id, "sms"))
        if started is None:
            continue
        pin = world.you.pin_for(started.auth_id)
        outcome = call("verify", lambda s=started, p=pin: api.auth.verify(s, p))
        verified += outcome is not None and outcome.verified

    injected: Counter[str] = Counter()
    for fault, count in world.sandbox.faults.snapshot():
        if fault.kind in ERROR_OF:
            injected[ERROR_OF[fault.kind].__name__] += count
    assert raised == injected, "every injected fault, and nothing else, became its typed error"
    assert sum(injected.values()) >= 20, "the storm was too calm to prove anything"
    assert world.sandbox.requests_seen("initiate") == calls["initiate"]
    assert world.sandbox.requests_seen("verify") == calls["verify"]
    df = world.log.df
    assert len(df) == sum(calls.values())
    assert Counter(df.loc[df["error"] != "", "error"]) == raised
    broken_verifies = sum(
        count
        for fault, count in world.sandbox.faults.snapshot()
        if fault.route == "verify" and fault.kind in ERROR_OF
    )
    assert verified == calls["verify"] - broken_verifies, "every unbroken verify succeeded"
    assert int(df["verified"].fillna(False).sum()) == verified
    for name, count in raised.items():
        TALLY[f"typed errors: {name}"] += count
    record(
        "faults_storm",
        {
            "calls": sum(calls.values()),
            "faults_injected": sum(injected.values()),
            "typed_errors": dict(sorted(raised.items())),
            "latencies_injected": world.sandbox.faults.injected - sum(injected.values()),
            "verified": verified,
        },
    )
