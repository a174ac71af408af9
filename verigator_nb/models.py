"""Frozen result types the client returns, shaped like the official client's models.

``Service(id, creation_time, name)`` and ``User(id, creation_time, username)`` keep the
official names (``username`` is the API's ``id_in_service``). ``Initiation`` is what starting
an authentication gave; ``Verification`` is what checking a PIN gave, and unpacks to
``(verified, error)`` as in ``verified, error = api.auth.verify(service.id, user.id, token)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "METHODS",
    "METHOD_SMS",
    "METHOD_TOTP",
    "PIN_DIGITS",
    "RESULTS",
    "RESULT_EXPIRED",
    "RESULT_INVALID",
    "RESULT_MAX_CHARS",
    "RESULT_THROTTLED",
    "RESULT_VERIFIED",
    "TOTP_STEP_SECONDS",
    "Initiation",
    "Service",
    "User",
    "Verification",
]

# The protocol's words, defined once: the client, the sandbox, the log and the analysis use these.
METHOD_TOTP = "totp"
METHOD_SMS = "sms"
METHODS = (METHOD_TOTP, METHOD_SMS)

RESULT_VERIFIED = "VERIFIED"
RESULT_INVALID = "INVALID"
RESULT_EXPIRED = "EXPIRED"
RESULT_THROTTLED = "THROTTLED"
RESULTS = (RESULT_VERIFIED, RESULT_INVALID, RESULT_EXPIRED, RESULT_THROTTLED)
# The contract's list of results is open: any other result the server sends is kept as its
# text (a non-text one as its JSON), cut to this many characters.
RESULT_MAX_CHARS = 100

# A PIN, by SMS or from an app, is this many digits; an app's code changes every TOTP step
# (RFC 6238, as the API reference says).
PIN_DIGITS = 6
TOTP_STEP_SECONDS = 30


@dataclass(frozen=True)
class Service:
    """A registered service; ``name`` is the issuer shown in the authenticator app."""

    id: str
    creation_time: datetime
    name: str


@dataclass(frozen=True)
class User:
    """A user of a service; ``username`` is the API's ``id_in_service``."""

    id: str
    creation_time: datetime
    username: str


@dataclass(frozen=True)
class Initiation:
    """A started authentication: what was asked, what the server used, and the SMS ``auth_id``.

    Pass it straight to ``api.auth.verify(initiation, token)`` so nobody carries ``auth_id``
    by hand. ``fallback`` is True when TOTP was asked and the server sent an SMS instead.
    """

    service_id: str
    user_id: str
    requested_method: str
    method: str
    auth_id: str | None = None
    session_id: str = field(default="", compare=False)

    @property
    def fallback(self) -> bool:
        """True when TOTP was requested and the server fell back to SMS."""
        return self.requested_method == METHOD_TOTP and self.method == METHOD_SMS


@dataclass(frozen=True)
class Verification:
    """The answer to a PIN check. A wrong PIN is ``verified=False``, not an exception.

    Unpacks to ``(verified, error)``: ``error`` is None on success, otherwise the server's
    failure status as a dict, so ``error["result"]`` reads INVALID, EXPIRED or THROTTLED (or
    whatever other result the server sent: the list is open).
    """

    verified: bool
    method: str
    result: str | None
    http_status: int
    status: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def error(self) -> dict[str, Any] | None:
        """None when verified, else the failure status (always with a ``result`` key)."""
        if self.verified:
            return None
        return {**self.status, "result": self.result}

    def __iter__(self) -> Iterator[Any]:
        """Unpack as ``verified, error``, the official client's return shape."""
        return iter((self.verified, self.error))
