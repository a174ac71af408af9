"""``SandboxControl``: the client side of the sandbox's ``/sandbox/`` play-the-user calls.

Built on an ``Api``, so it works the same against a ``Sandbox`` in this process and one started
from the shell (``verigator-nb sandbox``). Every call goes through a *door*: ``api.request``
by default; ``Sandbox.control`` gives a client of an in-process sandbox a door straight to its
router (``InProcessDoor``: the same answers and typed errors, without ``requests``).

It reads the SMS outbox (the PIN the user would receive), enrols an authenticator app and reads
its current code, and reads or advances the sandbox clock. It can also break this account's
calls on purpose (``inject_faults``, for a sandbox started with ``--remote-faults``) and count
this account's calls that reached it (``requests_seen``). Failures raise the client's typed
``VerigatorError`` subclasses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias
from urllib.parse import quote

from verigator_nb.client import Api
from verigator_nb.errors import InvalidResponseError
from verigator_nb.sandbox._faults import Fault

__all__ = ["Door", "SandboxControl", "SmsMessage", "TotpEnrolment"]

# ``door(method, path, body=None)``: the decoded JSON answer, or a typed ``VerigatorError``.
Door: TypeAlias = Callable[..., Any]


@dataclass(frozen=True, repr=False)
class SmsMessage:
    """One SMS the sandbox sent; the repr masks ``to`` and leaves out ``pin`` and ``text``."""

    to: str
    auth_id: str
    pin: str
    text: str
    sent_at: datetime

    def __repr__(self) -> str:
        # A phone number is personal data: a repr lands in notebooks, logs and tracebacks.
        to = "***" + self.to[-2:] if len(self.to) > 4 else "***"
        return f"SmsMessage(to={to!r}, auth_id={self.auth_id!r}, sent_at={self.sent_at!r})"


@dataclass(frozen=True)
class TotpEnrolment:
    """An enrolled authenticator app: its base32 secret and the ``otpauth://`` URI to scan."""

    secret: str = field(repr=False)
    otpauth_uri: str = field(repr=False)


def _get(payload: Any, key: str, path: str) -> Any:
    if not isinstance(payload, dict) or key not in payload:
        raise InvalidResponseError(f"sandbox answer has no {key!r}", path=path)
    return payload[key]


def _app_path(service_id: str, user_id: str) -> str:
    sid, uid = quote(service_id, safe=""), quote(user_id, safe="")
    return f"/sandbox/services/{sid}/users/{uid}/totp"


def _instant(payload: Any, path: str) -> datetime:
    now = _get(payload, "now", path)
    if isinstance(now, bool) or not isinstance(now, int | float):
        raise InvalidResponseError("sandbox clock is not a number", path=path)
    return datetime.fromtimestamp(now, UTC)


class SandboxControl:
    """Play the user against a sandbox through ``api`` (scoped to ``api``'s account).

    ``door`` replaces ``api.request`` as the way calls are sent (same arguments, answers and
    errors); ``Sandbox.control`` passes one for an in-process client.
    """

    def __init__(self, api: Api, *, door: Door | None = None) -> None:
        self.api = api
        self._door: Door = door if door is not None else api.request

    def outbox(self, auth_id: str | None = None) -> list[SmsMessage]:
        """Every SMS sent to this account's users, oldest first; only ``auth_id``'s if given."""
        path = "/sandbox/outbox" + (f"?auth_id={quote(auth_id, safe='')}" if auth_id else "")
        messages = _get(self._door("GET", path), "messages", path)
        try:
            return [
                SmsMessage(
                    m["to"], m["auth_id"], m["pin"], m["text"], datetime.fromisoformat(m["sent_at"])
                )
                for m in messages
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidResponseError("sandbox outbox is malformed", path=path) from exc

    def pin_for(self, auth_id: str | None) -> str:
        """The PIN of the latest SMS sent for ``auth_id``; ``LookupError`` if none was sent.

        ``None`` (a TOTP initiation's ``auth_id``) is accepted and is always a LookupError.
        """
        sent = self.outbox(auth_id) if auth_id else []
        if sent:
            return sent[-1].pin
        raise LookupError("no SMS was sent for this auth_id")

    def enrol_totp(self, service_id: str, user_id: str) -> TotpEnrolment:
        """Set up (or replace) the user's authenticator app; the server then prefers TOTP."""
        path = _app_path(service_id, user_id)
        payload = self._door("POST", path)
        return TotpEnrolment(_get(payload, "secret", path), _get(payload, "otpauth_uri", path))

    def totp_code(self, service_id: str, user_id: str) -> str:
        """The code the user's app shows at the sandbox's current time."""
        path = _app_path(service_id, user_id)
        return str(_get(self._door("GET", path), "code", path))

    def now(self) -> datetime:
        """The sandbox clock (UTC-aware)."""
        return _instant(self._door("GET", "/sandbox/clock"), "/sandbox/clock")

    def advance(self, seconds: float) -> datetime:
        """Move the sandbox clock forward ``seconds`` (0 up to the sandbox's cap); the new time.

        ``ResourceForbiddenError`` (403) unless the sandbox lets clients move its clock, which
        every account shares (``Sandbox`` does by default, ``verigator-nb sandbox`` only with
        ``--shared-clock-control``).
        """
        payload = self._door("POST", "/sandbox/clock", {"advance_seconds": seconds})
        return _instant(payload, "/sandbox/clock")

    def inject_faults(self, *faults: Fault) -> list[tuple[Fault, int]]:
        """Replace this account's faults with ``faults``; the plan as the sandbox now holds it.

        They break only this account's calls.

        ``ResourceForbiddenError`` (403) unless the sandbox allows remote faults.
        """
        payload = self._door("POST", "/sandbox/faults", [f.to_json() for f in faults])
        return _plan(payload)

    def faults(self) -> list[tuple[Fault, int]]:
        """Each of this account's faults with how many calls it has broken so far."""
        return _plan(self._door("GET", "/sandbox/faults"))

    def clear_faults(self) -> None:
        """Remove this account's faults (allowed even when setting them remotely is not)."""
        self._door("DELETE", "/sandbox/faults")

    def requests_seen(self, route: str = "*") -> int:
        """How many of this account's calls on ``route`` arrived (``"*"``, ``"verify"``...)."""
        path = f"/sandbox/stats?route={quote(route, safe='')}"
        seen = _get(self._door("GET", path), "matched", path)
        if isinstance(seen, bool) or not isinstance(seen, int):
            raise InvalidResponseError("sandbox stats are malformed", path=path)
        return seen

    def __repr__(self) -> str:
        return f"SandboxControl({self.api!r})"


def _plan(payload: Any) -> list[tuple[Fault, int]]:
    path = "/sandbox/faults"
    try:
        return [
            (Fault.from_json({k: v for k, v in item.items() if k != "injected"}), item["injected"])
            for item in _get(payload, "faults", path)
        ]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidResponseError("sandbox fault plan is malformed", path=path) from exc
