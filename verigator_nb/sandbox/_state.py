"""The sandbox's state: its clock, its random source and the records the rules keep.

Two clocks: ``ManualClock`` (seeded sandboxes and tests: starts at a fixed instant and moves
only when advanced) and ``SystemClock`` (real time plus whatever was advanced). Two random
sources: ``SeededSource`` (``random.Random(seed)``, for reproducible ids, PINs and secrets) and
``SystemSource`` (``secrets``). Records are plain mutable dataclasses guarded by the backend's
lock; fields holding a PIN or a secret are left out of their ``repr``.
"""

from __future__ import annotations

import random
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Protocol

__all__ = [
    "MAX_CLOCK",
    "MAX_YEAR",
    "SEEDED_START",
    "Clock",
    "Guard",
    "ManualClock",
    "Message",
    "RandomSource",
    "SeededSource",
    "ServiceRecord",
    "SmsAuth",
    "SystemClock",
    "SystemSource",
    "TotpApp",
    "UserRecord",
    "format_time",
    "new_id",
]

SEEDED_START: Final = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
# Past this the timestamps stop being printable (year 10000) and pyotp refuses: stop well short.
MAX_YEAR: Final = 9000
MAX_CLOCK: Final = datetime(MAX_YEAR, 1, 1, tzinfo=UTC).timestamp()


def format_time(seconds: float) -> str:
    """Unix seconds as the API's timestamp: ISO 8601 UTC, microseconds, ``Z`` (one format)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Clock(Protocol):
    """What the rules need of a clock: Unix seconds now, and a way to move forward."""

    def now(self) -> float:
        """Unix seconds, UTC."""
        ...

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (>= 0) and return the new now."""
        ...


class ManualClock:
    """A clock that stands still until advanced; seeded sandboxes start it at 2026-01-01Z."""

    def __init__(self, start: float = SEEDED_START) -> None:
        self._now = float(start)

    def now(self) -> float:
        """The current simulated instant, Unix seconds."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds``; return the new instant."""
        self._now += seconds
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock(now={format_time(self._now)!r})"


class SystemClock:
    """Real time plus everything advanced so far: simulated minutes pass without sleeping."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        """Real Unix seconds plus the advanced offset."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Add ``seconds`` to the offset; return the new instant."""
        self._offset += seconds
        return self.now()

    def __repr__(self) -> str:
        return f"SystemClock(offset={self._offset:g})"


class RandomSource(Protocol):
    """Where ids, PINs and TOTP secrets come from."""

    def token_bytes(self, n: int) -> bytes:
        """``n`` random bytes."""
        ...

    def below(self, n: int) -> int:
        """A random int in ``[0, n)``."""
        ...


class SeededSource:
    """Reproducible randomness: the same seed and calls give the same ids, PINs and secrets."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def token_bytes(self, n: int) -> bytes:
        """``n`` bytes from the seeded generator."""
        return self._random.randbytes(n)

    def below(self, n: int) -> int:
        """An int in ``[0, n)`` from the seeded generator."""
        return self._random.randrange(n)

    def __repr__(self) -> str:
        return "SeededSource()"


class SystemSource:
    """Unpredictable randomness from ``secrets`` (unseeded sandboxes)."""

    def token_bytes(self, n: int) -> bytes:
        """``n`` bytes from the OS's CSPRNG."""
        return secrets.token_bytes(n)

    def below(self, n: int) -> int:
        """An int in ``[0, n)`` from the OS's CSPRNG."""
        return secrets.randbelow(n)

    def __repr__(self) -> str:
        return "SystemSource()"


def new_id(source: RandomSource) -> str:
    """A uuid4-shaped id drawn from ``source``."""
    return str(uuid.UUID(bytes=source.token_bytes(16), version=4))


@dataclass
class Guard:
    """A user's wrong-try streak across methods and ``auth_id``s, and its lockout."""

    streak: int = 0
    locked_until: float = 0.0


@dataclass
class TotpApp:
    """An enrolled authenticator app: its secret, last accepted step and wrong-code streak."""

    secret: str = field(repr=False)
    last_step: int | None = None
    streak: int = 0
    throttled_until: float = 0.0


@dataclass
class SmsAuth:
    """One SMS authentication: its PIN, when it was sent, its wrong tries, whether spent."""

    id: str
    pin: str = field(repr=False)
    sent_at: float
    wrong: int = 0
    spent: bool = False


@dataclass
class UserRecord:
    """A service's user, with its guard, optional app and SMS authentications (oldest first)."""

    id: str
    id_in_service: str
    phone_number: str = field(repr=False)
    ctime: float
    guard: Guard = field(default_factory=Guard)
    app: TotpApp | None = None
    auths: dict[str, SmsAuth] = field(default_factory=dict)


@dataclass
class ServiceRecord:
    """A service of one account, with its users in creation order.

    ``ids_in_service`` indexes the users' ``id_in_service``, which must be unique: checking a
    new one is then a lookup, not a scan (enrolling n users would otherwise take n² steps).
    """

    id: str
    account: str
    fqdn: str
    name: str
    ctime: float
    users: dict[str, UserRecord] = field(default_factory=dict)
    ids_in_service: set[str] = field(default_factory=set, repr=False)


@dataclass(frozen=True)
class Message:
    """One SMS in the outbox, kept for the account that sent it even after its user is gone."""

    account: str
    to: str
    auth_id: str
    pin: str = field(repr=False)
    text: str = field(repr=False)
    sent_at: float
