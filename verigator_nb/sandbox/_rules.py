"""The rules' numbers, defined once, and how one verify call is judged.

The constants are the only place a limit is written: the backend applies them and the OpenAPI
document's prose is formatted from them. The functions are pure, over the records of ``_state``
(the backend calls them with its lock held): which SMS authentication a verify targets, and
the checks.
The order of the checks is the contract: a locked-out user is ``THROTTLED`` before anything
else; for SMS a spent ``auth_id`` is ``EXPIRED``, a throttled one ``THROTTLED`` even for the
right PIN, then expiry, then the PIN. Throttled and expired answers are not wrong tries; wrong
and replayed codes are, counted per ``auth_id`` (SMS), per app (TOTP) and per user (both).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Final

from verigator_nb.models import (  # the protocol's names, defined once
    METHOD_SMS,
    METHOD_TOTP,
    PIN_DIGITS,
    RESULT_EXPIRED,
    RESULT_INVALID,
    RESULT_THROTTLED,
    RESULT_VERIFIED,
)
from verigator_nb.sandbox import _totp
from verigator_nb.sandbox._errors import NotFound
from verigator_nb.sandbox._state import Guard, SmsAuth, UserRecord

__all__ = [
    "ADVANCE_YEARS",
    "LOCKED_MESSAGE",
    "MAX_ADVANCE",
    "METHOD_SMS",
    "METHOD_TOTP",
    "PHONE_DIGITS",
    "PHONE_PATTERN",
    "PIN_DIGITS",
    "PIN_TTL",
    "PIN_WRONG_LIMIT",
    "TOTP_THROTTLE",
    "TOTP_WRONG_LIMIT",
    "USER_LOCKOUT",
    "USER_WRONG_LIMIT",
    "Check",
    "check_sms",
    "check_totp",
    "secret_bytes",
    "sms_target",
]

PIN_TTL: Final = 300.0  # seconds from sending
PIN_WRONG_LIMIT: Final = 5  # per auth_id
TOTP_WRONG_LIMIT: Final = 5  # in a row, per app
TOTP_THROTTLE: Final = 300.0
USER_WRONG_LIMIT: Final = 10  # in a row, any method
USER_LOCKOUT: Final = 900.0
LOCKED_MESSAGE: Final = "user is temporarily locked after too many failed attempts"

PHONE_DIGITS: Final = (7, 15)  # E.164: "+" then this many digits
PHONE_PATTERN: Final = rf"\+[0-9]{{{PHONE_DIGITS[0]},{PHONE_DIGITS[1]}}}"
ADVANCE_YEARS: Final = 10  # the most one clock advance may move
MAX_ADVANCE: Final = ADVANCE_YEARS * 365.25 * 86400.0


@dataclass(frozen=True)
class Check:
    """What a verify call answers: the method checked and the result (``VERIFIED``, ...)."""

    method: str
    result: str

    @property
    def verified(self) -> bool:
        """True only for ``VERIFIED``."""
        return self.result == RESULT_VERIFIED


def secret_bytes(text: str) -> bytes:
    """``text`` as bytes for ``hmac.compare_digest``; lone surrogates must not crash it."""
    return text.encode("utf-8", "surrogatepass")


def _pending(auth: SmsAuth, now: float) -> bool:
    return not auth.spent and auth.wrong < PIN_WRONG_LIMIT and now < auth.sent_at + PIN_TTL


def sms_target(
    user: UserRecord, method: str | None, auth_id: str | None, now: float
) -> SmsAuth | None:
    """The SMS authentication a verify call checks, or None for TOTP."""
    if method == METHOD_TOTP:
        return None
    if auth_id is not None:
        if auth_id not in user.auths:
            raise NotFound("no authentication with this auth_id for this user")
        return user.auths[auth_id]
    if method == METHOD_SMS:
        if not user.auths:
            raise NotFound("this user has no SMS authentication")
        return next(reversed(user.auths.values()))
    return next((a for a in reversed(user.auths.values()) if _pending(a, now)), None)


def _count_wrong(guard: Guard, now: float) -> None:
    guard.streak += 1
    if guard.streak >= USER_WRONG_LIMIT:
        # The streak starts again from 0 once the lockout is over.
        guard.streak, guard.locked_until = 0, now + USER_LOCKOUT


def check_sms(user: UserRecord, auth: SmsAuth, token: str, now: float) -> str:
    if now < user.guard.locked_until:
        return RESULT_THROTTLED
    if auth.spent:
        return RESULT_EXPIRED
    if auth.wrong >= PIN_WRONG_LIMIT:
        return RESULT_THROTTLED
    if now >= auth.sent_at + PIN_TTL:
        return RESULT_EXPIRED
    if hmac.compare_digest(secret_bytes(token), auth.pin.encode("ascii")):
        auth.spent, user.guard.streak = True, 0
        return RESULT_VERIFIED
    auth.wrong += 1
    _count_wrong(user.guard, now)
    return RESULT_INVALID


def check_totp(user: UserRecord, token: str, now: float) -> str:
    app = user.app
    if now < user.guard.locked_until:
        return RESULT_THROTTLED
    if app is None:
        return RESULT_INVALID  # nothing to guess against: not counted as a wrong try
    if now < app.throttled_until:
        return RESULT_THROTTLED
    step = _totp.matching_step(app.secret, token, now)
    if step is not None and (app.last_step is None or step > app.last_step):
        app.last_step, app.streak, user.guard.streak = step, 0, 0
        return RESULT_VERIFIED
    app.streak += 1  # a wrong code and a replayed one count alike
    if app.streak >= TOTP_WRONG_LIMIT:
        app.streak, app.throttled_until = 0, now + TOTP_THROTTLE
    _count_wrong(user.guard, now)
    return RESULT_INVALID
