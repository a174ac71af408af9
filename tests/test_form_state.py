"""The verify form's state machine on its own: every sequence of actions, no widgets, no calls.

The transitions in ``widgets._form_state`` are pure, so hypothesis drives them through any
order of choosing services and users, starting, checking, failing, noting and moving the
clock, and checks after each step what the form's truth rests on: a login shown is the
selected user's, its tries only count down from the limit, its countdown never goes below
zero, and choosing anyone drops the login and every note shown for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import hypothesis.strategies as st
from hypothesis import given, settings

from verigator_nb.models import (
    METHOD_SMS,
    METHOD_TOTP,
    RESULT_EXPIRED,
    RESULT_INVALID,
    RESULT_THROTTLED,
    Initiation,
    Verification,
)
from verigator_nb.widgets import _form_state as fs
from verigator_nb.widgets._form_state import FormState, Note

SERVICES = ("s1", "s2")
USERS = (("ann", "u1"), ("bob", "u2"), ("cy", "u3"))
TTL, TRIES = 300.0, 5
START = datetime(2026, 1, 1, tzinfo=UTC)
RESULTS = (RESULT_INVALID, RESULT_EXPIRED, RESULT_THROTTLED)  # None: verified

ACTIONS = st.one_of(
    st.tuples(st.just("service"), st.sampled_from((*SERVICES, None))),
    st.tuples(st.just("users"), st.integers(0, len(USERS))),
    st.tuples(st.just("user"), st.sampled_from((*(uid for _, uid in USERS), None))),
    st.tuples(st.just("start"), st.sampled_from((METHOD_SMS, METHOD_TOTP))),
    st.tuples(st.just("check"), st.sampled_from((None, *RESULTS))),
    st.tuples(st.just("fail"), st.just("bad")),
    st.tuples(st.just("note"), st.just("info")),
    st.tuples(st.just("clock"), st.integers(0, 400)),
)  # fmt: skip


def _step(state: FormState, action: tuple[str, object]) -> FormState:
    kind, what = action
    now = state.now or START
    if kind == "service":
        return fs.selected_service(state, what)  # type: ignore[arg-type]
    if kind == "users":
        return fs.users_listed(state, USERS[: int(what)])  # type: ignore[call-overload]
    if kind == "user":
        return fs.selected_user(state, what)  # type: ignore[arg-type]
    if kind == "start":
        if not (state.service_id and state.user_id):
            return state  # the form asks for a selection first
        sms = what == METHOD_SMS
        initiation = Initiation(
            state.service_id, state.user_id, str(what), str(what), "a1" if sms else None
        )
        return fs.started(state, initiation, str(what), now=now, pin_ttl=TTL, tries=TRIES)
    if kind == "check":
        method = state.login.method_used if state.login else METHOD_SMS
        verification = Verification(what is None, method, what, 200)  # type: ignore[arg-type]
        return fs.checked(state, verification)
    if kind == "fail":
        return fs.failed(state, Note("went wrong", "bad", "detail"))
    if kind == "note":
        return fs.noted(state, Note("the SMS said ..."))
    return fs.clocked(state, now + timedelta(seconds=int(what)))  # type: ignore[call-overload]


@given(actions=st.lists(ACTIONS, max_size=30))
@settings(max_examples=300, deadline=None)
def test_any_sequence_of_actions_keeps_the_form_truthful(actions) -> None:
    state = FormState(now=START)
    for action in actions:
        before = state
        state = _step(state, action)
        login = state.login
        if login is not None:
            started = (login.initiation.service_id, login.initiation.user_id)
            assert started == (state.service_id, state.user_id), "another user's login shown"
            if login.tries is not None:
                assert 0 <= login.tries <= TRIES
            same = before.login is not None and before.login.initiation is login.initiation
            if same and login.tries is not None and before.login.tries is not None:
                assert login.tries <= before.login.tries, "tries only count down"
        if state.expires_in is not None:
            assert timedelta(0) <= state.expires_in <= timedelta(seconds=TTL)
        if action[0] in ("service", "user", "users"):
            assert state.login is None and state.message is None and state.user_side is None
        if action[0] == "start" and login is not None and login is not before.login:
            assert state.user_side is None and state.message is None and login.outcome is None


def test_a_verified_login_is_over_and_its_countdown_gone() -> None:
    state = fs.users_listed(fs.selected_service(FormState(now=START), "s1"), USERS)
    initiation = Initiation("s1", "u1", METHOD_TOTP, METHOD_SMS, "a1")
    state = fs.started(state, initiation, METHOD_TOTP, now=START, pin_ttl=TTL, tries=TRIES)
    assert state.login.fallback and state.expires_in == timedelta(seconds=TTL)
    state = fs.checked(state, Verification(False, METHOD_SMS, RESULT_INVALID, 200))
    assert state.login.tries == TRIES - 1 and not state.login.done
    state = fs.checked(state, Verification(True, METHOD_SMS, None, 200))
    assert state.login.done and state.expires_in is None and state.login.tries == TRIES - 1


def test_a_pin_is_six_ascii_digits_with_spaces_or_dashes_between() -> None:
    assert fs.pin_problem(" 095 119 ") is None and fs.clean_pin(" 095-119 ") == "095119"
    assert fs.pin_problem("０９５１１９") is not None, "full-width digits are not a PIN"
    assert fs.pin_problem("09511") == "A PIN is 6 digits; this has 5."
    assert fs.pin_problem("0" * 65) is not None and fs.pin_problem("") is not None
