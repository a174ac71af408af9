"""The sandbox's rules and state, with no HTTP in sight (moto's ``models.py``).

``SandboxBackend`` holds accounts, services, users, SMS authentications, authenticator apps and
the outbox behind one lock, and applies the rules of ``shared/reference/verigator-api.md``:
services and users scoped per account (403 for another account's, 404 for unknown ones), SMS
PINs of ``PIN_DIGITS`` digits that expire ``PIN_TTL`` seconds after sending and allow
``PIN_WRONG_LIMIT`` wrong tries per ``auth_id``, TOTP per RFC 6238 with drift and replay
refusal, ``TOTP_WRONG_LIMIT`` wrong TOTP codes throttling TOTP for ``TOTP_THROTTLE`` seconds,
and ``USER_WRONG_LIMIT`` wrong tries in a row (any method) locking the user for
``USER_LOCKOUT`` seconds. The numbers live in ``_rules``.

Arguments arrive already typed (the HTTP layer checks JSON shapes); values are checked here and
refused with the errors of ``_errors``. Time comes from an injectable clock and ids, PINs and
secrets from an injectable random source, so a seeded backend is reproducible. What the HTTP
layer breaks on purpose and counts (``FaultPlan``, ``Traffic``) is the router's, not this.
"""

from __future__ import annotations

import hmac
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from verigator_nb.models import METHOD_SMS, METHOD_TOTP, METHODS
from verigator_nb.sandbox import _totp
from verigator_nb.sandbox._errors import Conflict, Forbidden, InvalidData, NotFound, Unauthorized
from verigator_nb.sandbox._rules import (
    ADVANCE_YEARS,
    LOCKED_MESSAGE,
    MAX_ADVANCE,
    PHONE_DIGITS,
    PHONE_PATTERN,
    PIN_DIGITS,
    Check,
    check_sms,
    check_totp,
    secret_bytes,
    sms_target,
)
from verigator_nb.sandbox._state import (
    MAX_CLOCK,
    MAX_YEAR,
    Clock,
    ManualClock,
    Message,
    RandomSource,
    SeededSource,
    ServiceRecord,
    SmsAuth,
    SystemClock,
    SystemSource,
    TotpApp,
    UserRecord,
    new_id,
)

__all__ = ["DEFAULT_ACCOUNTS", "Check", "Enrolment", "SandboxBackend", "Started"]

DEFAULT_ACCOUNTS: Final[Mapping[str, str]] = {"sandbox": "sandbox"}

_E164 = re.compile(PHONE_PATTERN)


@dataclass(frozen=True)
class Started:
    """What a start call answers: the method used and, for SMS, the new ``auth_id``."""

    method: str
    auth_id: str | None = None


@dataclass(frozen=True)
class Enrolment:
    """A freshly enrolled authenticator app: its base32 secret and ``otpauth://`` URI."""

    secret: str = field(repr=False)
    otpauth_uri: str = field(repr=False)


def _require_nonempty(name: str, value: str) -> str:
    if not value:
        raise InvalidData(f"{name} must be a non-empty string")
    try:  # JSON's \ud800 escapes decode to lone surrogates, which no UTF-8 answer can carry
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidData(f"{name} must be valid Unicode text (no lone surrogates)") from None
    return value


class SandboxBackend:
    """Verigator's rules over in-memory state; every public method is atomic under one lock.

    ``seed`` makes it reproducible (a ``ManualClock`` at 2026-01-01T00:00:00Z and a seeded
    random source); without one it runs on real time and ``secrets``. ``clock`` and
    ``source`` override either; ``seed`` stays readable so other seeded parts (the router's
    fault plan) can follow it. ``accounts`` maps usernames to passwords (default
    ``{"sandbox": "sandbox"}``).
    """

    def __init__(
        self,
        *,
        accounts: Mapping[str, str] | None = None,
        seed: int | None = None,
        clock: Clock | None = None,
        source: RandomSource | None = None,
    ) -> None:
        self._accounts = _checked_accounts(DEFAULT_ACCOUNTS if accounts is None else accounts)
        self.seed = seed
        self.clock: Clock = clock or (SystemClock() if seed is None else ManualClock())
        self._source: RandomSource = source or (
            SystemSource() if seed is None else SeededSource(seed)
        )
        self._decoy = SystemSource().token_bytes(16)
        self._lock = threading.Lock()
        self._services: dict[str, ServiceRecord] = {}
        self._outbox: list[Message] = []
        self._sent_for: dict[str, list[Message]] = {}  # auth_id -> its SMS, for quick lookups

    @property
    def usernames(self) -> tuple[str, ...]:
        """The account usernames this backend accepts (never the passwords)."""
        return tuple(self._accounts)

    def password_of(self, username: str) -> str:
        """The password of ``username`` (for building a client); KeyError if unknown."""
        return self._accounts[username].decode("utf-8", "surrogatepass")

    @property
    def has_default_account(self) -> bool:
        """True when an account has the well-known default credentials (``DEFAULT_ACCOUNTS``)."""
        return any(
            hmac.compare_digest(self._accounts.get(name, b""), secret_bytes(password))
            for name, password in DEFAULT_ACCOUNTS.items()
        )

    def __repr__(self) -> str:
        return f"SandboxBackend(accounts={list(self._accounts)!r}, clock={self.clock!r})"

    # -- auth and clock ----------------------------------------------------------------------

    def authenticate(self, header: str | None) -> str:
        """The account named by an ``X-Service-Auth`` value ``user:pass``; 401 otherwise.

        Compares in constant time, and compares against a decoy for unknown users so the
        answer takes as long either way.
        """
        if not header or ":" not in header:
            raise Unauthorized()
        username, _, password = header.partition(":")
        expected = self._accounts.get(username)
        matches = hmac.compare_digest(secret_bytes(password), expected or self._decoy)
        if expected is None or not matches:
            raise Unauthorized()
        return username

    def now(self) -> float:
        """The sandbox clock, Unix seconds."""
        with self._lock:
            return self.clock.now()

    def advance(self, seconds: float) -> float:
        """Move the clock forward ``seconds`` (finite, 0 to ``MAX_ADVANCE``); the new now."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise InvalidData("advance_seconds must be a number")
        # Range first: math.isfinite() raises OverflowError on an int too big for a float.
        if not (0 <= seconds <= MAX_ADVANCE and math.isfinite(seconds)):
            raise InvalidData(
                f"advance_seconds must be a finite number from 0 to {ADVANCE_YEARS} years"
            )
        with self._lock:
            if self.clock.now() + seconds > MAX_CLOCK:
                raise InvalidData(f"the sandbox clock cannot go past the year {MAX_YEAR}")
            return self.clock.advance(float(seconds))

    # -- services ----------------------------------------------------------------------------

    def create_service(self, account: str, fqdn: str, name: str) -> ServiceRecord:
        """A new service; 422 for empty fields, 409 when the account already has ``name``."""
        _require_nonempty("fqdn", fqdn)
        _require_nonempty("name", name)
        with self._lock:
            if any(s.account == account and s.name == name for s in self._services.values()):
                raise Conflict("a service with this name already exists")
            service = ServiceRecord(new_id(self._source), account, fqdn, name, self.clock.now())
            self._services[service.id] = service
            return service

    def get_service(self, account: str, service_id: str) -> ServiceRecord:
        """One of the account's services; 404 unknown, 403 another account's."""
        with self._lock:
            return self._service(account, service_id)

    def delete_service(self, account: str, service_id: str) -> None:
        """Delete a service; 409 while it still has users."""
        with self._lock:
            service = self._service(account, service_id)
            if service.users:
                raise Conflict("the service still has users: delete them first")
            del self._services[service.id]

    # -- users -------------------------------------------------------------------------------

    def create_user(
        self, account: str, service_id: str, id_in_service: str, phone_number: str
    ) -> UserRecord:
        """A new user; 422 for an empty id or a non-E.164 phone, 409 for a taken id."""
        _require_nonempty("id_in_service", id_in_service)
        if not _E164.fullmatch(phone_number):
            low, high = PHONE_DIGITS
            raise InvalidData(f"phone_number must be + followed by {low} to {high} digits")
        with self._lock:
            service = self._service(account, service_id)
            if id_in_service in service.ids_in_service:
                raise Conflict("a user with this id_in_service already exists")
            user = UserRecord(new_id(self._source), id_in_service, phone_number, self.clock.now())
            service.users[user.id] = user
            service.ids_in_service.add(id_in_service)
            return user

    def list_users(self, account: str, service_id: str) -> list[UserRecord]:
        """The service's users in creation order."""
        with self._lock:
            return list(self._service(account, service_id).users.values())

    def get_user(self, account: str, service_id: str, user_id: str) -> UserRecord:
        """One user of one of the account's services."""
        with self._lock:
            return self._user(account, service_id, user_id)

    def delete_user(self, account: str, service_id: str, user_id: str) -> None:
        """Delete a user with its authentications (its sent SMS stay in the outbox)."""
        with self._lock:
            user = self._user(account, service_id, user_id)
            service = self._services[service_id]
            del service.users[user_id]
            service.ids_in_service.discard(user.id_in_service)

    # -- authentication ----------------------------------------------------------------------

    def start_auth(self, account: str, service_id: str, user_id: str, method: str) -> Started:
        """Start a check: TOTP when asked and an app is enrolled, else a new SMS PIN.

        409 while the user is locked out after too many wrong tries.
        """
        _require_method(method)
        with self._lock:
            service = self._service(account, service_id)
            user = self._user(account, service_id, user_id)
            now = self.clock.now()
            if now < user.guard.locked_until:
                raise Conflict(LOCKED_MESSAGE)
            if method == METHOD_TOTP and user.app is not None:
                return Started(METHOD_TOTP)
            return Started(METHOD_SMS, self._send_pin(service, user, now))

    def verify(
        self,
        account: str,
        service_id: str,
        user_id: str,
        token: str,
        *,
        method: str | None = None,
        auth_id: str | None = None,
    ) -> Check:
        """Check a token; a wrong one is ``INVALID``, never an exception.

        Without ``method``: the ``auth_id`` given, else the user's most recent pending SMS
        authentication, else TOTP. With ``sms`` and no ``auth_id``: the most recent SMS
        authentication. 404 for an ``auth_id`` this user does not have, or for SMS when the
        user has no SMS authentication at all.
        """
        if method is not None:
            _require_method(method)
        with self._lock:
            user = self._user(account, service_id, user_id)
            now = self.clock.now()
            auth = sms_target(user, method, auth_id, now)
            if auth is None:
                return Check(METHOD_TOTP, check_totp(user, token, now))
            return Check(METHOD_SMS, check_sms(user, auth, token, now))

    # -- play the user -------------------------------------------------------------------------

    def enrol_totp(self, account: str, service_id: str, user_id: str) -> Enrolment:
        """Enrol (or replace) the user's app: a new secret, no step accepted yet.

        Throttles and the wrong-try streak stay: a new secret must not reset them.
        """
        with self._lock:
            service = self._service(account, service_id)
            user = self._user(account, service_id, user_id)
            secret = _totp.new_secret(self._source)
            if user.app is None:
                user.app = TotpApp(secret)
            else:
                user.app.secret, user.app.last_step = secret, None
            uri = _totp.provisioning_uri(
                secret, account_name=user.id_in_service, issuer=service.name
            )
            return Enrolment(secret, uri)

    def totp_code(self, account: str, service_id: str, user_id: str) -> tuple[str, int]:
        """The code the user's app shows now and its seconds left; 404 without an app."""
        with self._lock:
            user = self._user(account, service_id, user_id)
            if user.app is None:
                raise NotFound("no authenticator app is enrolled for this user")
            return _totp.code_at(user.app.secret, self.clock.now())

    def outbox(self, account: str, auth_id: str | None = None) -> list[Message]:
        """Every SMS sent to the account's users, oldest first; only ``auth_id``'s if given."""
        with self._lock:
            messages = self._outbox if auth_id is None else self._sent_for.get(auth_id, [])
            return [m for m in messages if m.account == account]

    # -- internals (call with the lock held) -------------------------------------------------

    def _service(self, account: str, service_id: str) -> ServiceRecord:
        service = self._services.get(service_id)
        if service is None:
            raise NotFound("no such service")
        if service.account != account:
            raise Forbidden()
        return service

    def _user(self, account: str, service_id: str, user_id: str) -> UserRecord:
        user = self._service(account, service_id).users.get(user_id)
        if user is None:
            raise NotFound("no such user in this service")
        return user

    def _send_pin(self, service: ServiceRecord, user: UserRecord, now: float) -> str:
        pin = f"{self._source.below(10**PIN_DIGITS):0{PIN_DIGITS}d}"
        auth = SmsAuth(new_id(self._source), pin, now)
        user.auths[auth.id] = auth
        text = f"{service.name} verification code: {pin}"
        message = Message(service.account, user.phone_number, auth.id, pin, text, now)
        self._outbox.append(message)
        self._sent_for.setdefault(auth.id, []).append(message)
        return auth.id


def _checked_accounts(accounts: Mapping[str, str]) -> dict[str, bytes]:
    if not accounts:
        raise ValueError("accounts must name at least one username")
    checked = {}
    for username, password in accounts.items():
        if not isinstance(username, str) or not username or ":" in username:
            raise ValueError("account usernames must be non-empty strings without ':'")
        if not isinstance(password, str) or not password:
            raise ValueError(f"account {username!r} needs a non-empty password")
        checked[username] = secret_bytes(password)
    return checked


def _require_method(method: str) -> None:
    if method not in METHODS:
        raise InvalidData(f"method must be {' or '.join(map(repr, METHODS))}")
