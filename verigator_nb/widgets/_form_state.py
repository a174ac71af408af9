"""What the verify form knows, as one value: the selection, the current login and the notes.

``FormState`` is immutable; every action of the form makes the next state with one of the
functions here, and the form draws all of itself from the state it holds (``_verify_form``).
So nothing an earlier action showed can outlive the state it belonged to: choosing another
service or user drops the login, and a new start replaces it whole.

The functions are pure (no widgets, no calls), so every sequence of actions can be checked
without a kernel. ``pin_problem`` says what is wrong with a typed PIN before anything is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from verigator_nb.models import (
    METHOD_SMS,
    PIN_DIGITS,
    RESULT_EXPIRED,
    RESULT_INVALID,
    RESULT_THROTTLED,
    Initiation,
    Verification,
)

__all__ = [
    "PIN_DIGITS",
    "FormState",
    "Login",
    "Note",
    "checked",
    "clean_pin",
    "clocked",
    "failed",
    "noted",
    "pin_problem",
    "selected_service",
    "selected_user",
    "started",
    "users_listed",
]

_SPACES = re.compile(r"[\s\u00a0\u2009\u202f-]+")  # what people type between digit groups


@dataclass(frozen=True)
class Note:
    """A line the form shows: ``text`` for people, its ``tone`` (ok, bad, info, warn), and
    the technical ``detail`` kept one click away (empty when there is none)."""

    text: str
    tone: str = "info"
    detail: str = ""


@dataclass(frozen=True)
class Login:
    """The selected user's current login check.

    ``expires_at`` and ``tries`` are known against the sandbox only (its rules: an SMS PIN
    lives ``PIN_TTL`` and allows ``PIN_WRONG_LIMIT`` wrong tries); a TOTP code has neither.
    ``tries`` counts the wrong PINs this form sent (calls made elsewhere are not seen) and
    drops to 0 when the server answers THROTTLED; an EXPIRED answer ends the countdown.
    ``outcome`` is the latest verify's result.
    """

    initiation: Initiation
    method_asked: str
    expires_at: datetime | None = None
    tries: int | None = None
    outcome: Verification | None = None

    @property
    def method_used(self) -> str:
        return self.initiation.method

    @property
    def fallback(self) -> bool:
        return self.initiation.fallback

    @property
    def auth_id(self) -> str | None:
        return self.initiation.auth_id

    @property
    def done(self) -> bool:
        """True once verified: the login is over, its PIN spent."""
        return self.outcome is not None and self.outcome.verified


@dataclass(frozen=True)
class FormState:
    """Everything the form shows, at one moment.

    ``users`` are the selected service's (name, id) pairs; ``login`` is the current login
    of the selected user (None before a start, and after choosing another user or service);
    ``message`` is the latest action's error or hint; ``user_side`` what the latest
    play-the-user button showed (sandbox only); ``now`` the sandbox clock at the latest look.
    """

    service_id: str | None = None
    user_id: str | None = None
    users: tuple[tuple[str, str], ...] = ()
    login: Login | None = None
    message: Note | None = None
    user_side: Note | None = None
    now: datetime | None = None

    @property
    def expires_in(self) -> timedelta | None:
        """Time left before the current SMS PIN expires (never below zero), when known."""
        login = self.login
        if login is None or login.expires_at is None or self.now is None or login.done:
            return None
        return max(login.expires_at - self.now, timedelta(0))


def selected_service(state: FormState, service_id: str | None) -> FormState:
    """Another service: no user chosen yet, no login, nothing shown for the old one."""
    return FormState(service_id=service_id, now=state.now)


def users_listed(state: FormState, users: tuple[tuple[str, str], ...]) -> FormState:
    """The selected service's users, the first one chosen (a fresh start for it)."""
    first = users[0][1] if users else None
    return replace(selected_user(state, first), users=users)


def selected_user(state: FormState, user_id: str | None) -> FormState:
    """Another user (or the same one chosen again): the login and the notes go."""
    return FormState(service_id=state.service_id, user_id=user_id, users=state.users, now=state.now)


def started(
    state: FormState,
    initiation: Initiation,
    method_asked: str,
    *,
    now: datetime | None = None,
    pin_ttl: float | None = None,
    tries: int | None = None,
) -> FormState:
    """A new login replaces the old one whole; the old SMS or code shown goes with it.

    ``pin_ttl`` and ``tries`` (the sandbox's rules) apply to an SMS PIN only."""
    sms = initiation.method == METHOD_SMS
    expires = now + timedelta(seconds=pin_ttl) if sms and now and pin_ttl else None
    login = Login(initiation, method_asked, expires, tries if sms else None)
    return replace(state, login=login, message=None, user_side=None, now=now or state.now)


def checked(state: FormState, verification: Verification) -> FormState:
    """A verify's outcome on the current login; a wrong PIN spends one of its tries."""
    login = state.login
    if login is None:
        return replace(state, message=None, user_side=None)
    tries, expires_at = login.tries, login.expires_at
    if tries is not None and verification.result == RESULT_INVALID:
        tries = max(tries - 1, 0)
    if verification.result == RESULT_THROTTLED:  # the server says so, whatever was counted
        tries = 0 if tries is not None else None
    if verification.result == RESULT_EXPIRED and expires_at is not None and state.now:
        expires_at = min(expires_at, state.now)
    login = replace(login, outcome=verification, tries=tries, expires_at=expires_at)
    return replace(state, login=login, message=None, user_side=None)


def failed(state: FormState, note: Note) -> FormState:
    """An action went wrong: its note, and nothing the action would have replaced."""
    return replace(state, message=note)


def noted(state: FormState, user_side: Note) -> FormState:
    """What a play-the-user button showed."""
    return replace(state, user_side=user_side, message=None)


def clocked(state: FormState, now: datetime | None) -> FormState:
    """The sandbox clock as last read."""
    return replace(state, now=now)


def clean_pin(text: str) -> str:
    """``text`` without the spaces and dashes people type between groups of digits."""
    return _SPACES.sub("", text)


def pin_problem(text: str) -> str | None:
    """What is wrong with a typed PIN, in words; None when it can be sent.

    A PIN is ``PIN_DIGITS`` ASCII digits, spaces and dashes between them allowed: anything
    else would spend one of the user's tries on a PIN that cannot be right.
    """
    pin = clean_pin(text)
    if not pin:
        return "Type the PIN the user received first."
    if len(text) > 64 or not pin.isascii() or not pin.isdigit():
        return f"A PIN is {PIN_DIGITS} digits, nothing else: check what was typed."
    if len(pin) != PIN_DIGITS:
        return f"A PIN is {PIN_DIGITS} digits; this has {len(pin)}."
    return None
