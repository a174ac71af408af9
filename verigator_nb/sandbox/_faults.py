"""Injected faults: what the sandbox breaks on purpose, where and how often; and its traffic.

A ``Fault`` names a route, a kind, a rate and optionally a count::

    Fault("verify", "stall", seconds=2, when="after")    # every verify applied, its reply lost
    Fault("GET /v1/service/service/*", "reset", count=1)  # the next such GET is reset
    Fault("*", "error", rate=0.1)                         # one call in ten answers 500

Kinds: ``latency`` waits ``seconds`` then answers as usual; ``error`` answers ``status`` (500
unless told); ``malformed`` answers 200 with a body that is not JSON; ``reset`` closes the
connection with a TCP reset and no answer; ``stall`` holds the connection ``seconds`` without
answering, then closes it. ``when`` says whether the backend sees the call: ``"before"`` (the
default) breaks it before the backend does anything, so nothing changes; ``"after"`` lets the
backend apply it and breaks only the answer — the lost reply, where the server did the work
(a verify spent its attempt) and the client never heard.

Routes: ``"*"`` (every call but the fault and stats controls, which are never broken), an
operation's name from ``_operations`` (``verify_auth`` or its alias ``verify``, ``initiate``,
``get_service``...), or ``"METHOD /path"`` where METHOD may be ``*``. A path route is matched
segment by segment (split on ``/``, the same number of segments), and ``*`` matches any run of
characters within one segment (``svc-*``, ``*-1``, ``*``), never a ``/``. Matching is linear in
the path's length (each piece between stars is found left to right, no backtracking), so no
route can make the server spin, and a route is at most ``MAX_ROUTE`` characters.

``FaultPlan`` holds the faults and draws from a random source of its own, seeded from the
sandbox's seed, so a seeded run breaks the same calls every time without shifting the ids and
PINs the backend draws. ``Traffic`` counts the calls that reached the server per caller and
operation — never per raw path, so ever new paths cannot grow it — so a test can prove a
verify arrived exactly once. Both belong to the HTTP layer (the router keeps one plan per
account and leaves the controls out) but neither speaks HTTP: each transport applies a drawn
fault as ``_breaking`` says — ``_server`` on its socket, ``_in_process`` as the ``requests``
answer or error the socket would have given. In process a ``stall`` (or a ``latency``) that
outlasts the client's read timeout ends at that timeout with a read timeout, as over HTTP, but
a ``Timeout``'s ``total`` does not cut the wait short (the client checks it after), and a
``latency`` cut short that way is applied by the backend at once rather than when it ends.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from verigator_nb.sandbox._limits import IDLE_TIMEOUT
from verigator_nb.sandbox._selectors import MAX_ROUTE, Selector

__all__ = [
    "DEFAULT_SECONDS",
    "KINDS",
    "MAX_COUNT",
    "MAX_FAULTS",
    "MAX_ROUTE",
    "MAX_SECONDS",
    "STATUSES",
    "WHENS",
    "Fault",
    "FaultPlan",
    "Resolver",
]

KINDS: Final = ("latency", "error", "malformed", "reset", "stall")
WHENS: Final = ("before", "after")
MAX_SECONDS: Final = IDLE_TIMEOUT  # nothing waits longer than the server's idle timeout anyway
DEFAULT_SECONDS: Final[Mapping[str, float]] = {"latency": 1.0, "stall": 30.0}
MAX_COUNT: Final = 2**31 - 1
MAX_FAULTS: Final = 100  # per plan: every call is checked against each fault of its plan
STATUSES: Final = (500, 599)  # the lowest and highest status an error fault may answer
_KEYS: Final = frozenset({"route", "kind", "rate", "seconds", "count", "when", "status"})

# The operation name of ``(method, path)``, or None for a path no route answers.
Resolver = Callable[[str, str], "str | None"]


def _number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be from {low:g} to {high:g}")
    return float(value)


def _whole(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}")
    return value


@dataclass(frozen=True)
class Fault:
    """One way to break calls on ``route``: ``kind``, with probability ``rate`` per call.

    ``route`` is ``"*"``, an operation name, or ``"METHOD /path"`` matched segment by segment
    with ``*`` matching within one segment, never across ``/``, without backtracking (see the
    module docstring); at most ``MAX_ROUTE`` characters.

    ``seconds`` is the delay of a ``latency`` or the hold of a ``stall`` (defaults in
    ``DEFAULT_SECONDS``), at most ``MAX_SECONDS``; ``count`` caps how many calls it breaks
    (None: no cap); ``when`` is ``"before"`` (the backend never sees the call) or ``"after"``
    (it applies the call, the answer is lost); ``status`` is the answer of an ``error`` (within
    ``STATUSES``). ``ValueError`` names the first bad argument.

    Every kind works the same on an in-process sandbox (``Sandbox(http=False)``): a ``reset``
    or a ``stall`` raises the ``requests`` error a socket would, so the client raises the same
    ``ConnectionFailedError`` or ``RequestTimeoutError`` (waits are bounded by the read
    timeout only: see the module docstring).
    """

    route: str
    kind: str
    rate: float = 1.0
    seconds: float | None = None
    count: int | None = None
    when: str = "before"
    status: int = 500
    _selector: Selector = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if self.when not in WHENS:
            raise ValueError(f"when must be {' or '.join(map(repr, WHENS))}")
        seconds = DEFAULT_SECONDS.get(self.kind, 0.0) if self.seconds is None else self.seconds
        set_field = object.__setattr__  # frozen: normalise once, here
        set_field(self, "rate", _number("rate", self.rate, 0.0, 1.0))
        set_field(self, "seconds", _number("seconds", seconds, 0.0, MAX_SECONDS))
        if self.count is not None:
            _whole("count", self.count, 1, MAX_COUNT)
        _whole("status", self.status, *STATUSES)
        set_field(self, "_selector", Selector.parse(self.route))

    @property
    def duration(self) -> float:
        """``seconds`` as filled in: the latency or stall in seconds (0 for other kinds)."""
        return self.seconds or 0.0

    def matches(self, method: str, path: str, operation: Callable[[], str | None]) -> bool:
        """True when this fault's route covers ``method path`` (query string excluded)."""
        return self._selector.matches(method, path, operation)

    def to_json(self) -> dict[str, Any]:
        """The fault as ``POST /sandbox/faults`` takes it (``count`` left out when uncapped)."""
        data: dict[str, Any] = {
            "route": self.route,
            "kind": self.kind,
            "rate": self.rate,
            "seconds": self.seconds,
            "when": self.when,
            "status": self.status,
        }
        if self.count is not None:
            data["count"] = self.count
        return data

    @classmethod
    def from_json(cls, data: object) -> Fault:
        """A fault from its JSON object (``kind`` required); ``ValueError`` for a bad one."""
        if not isinstance(data, dict):
            raise ValueError("each fault must be a JSON object")
        unknown = data.keys() - _KEYS
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))[:200]}")
        if "kind" not in data:
            raise ValueError("each fault needs a kind")
        for key in ("route", "kind", "when"):
            if key in data and not isinstance(data[key], str):
                raise ValueError(f"{key} must be a string")
        return cls(**{"route": "*", **data})


@dataclass
class _Armed:
    fault: Fault
    injected: int = 0

    @property
    def spent(self) -> bool:
        return self.fault.count is not None and self.injected >= self.fault.count


class FaultPlan:
    """The faults a sandbox applies, in order: the first that matches a call and fires wins.

    Thread-safe. ``seed`` makes the draws repeat; ``stream`` (an account's name) gives plans
    sharing a seed draws of their own (the first account's plan has none, so its draws are
    those of a one-plan sandbox); ``remote`` lets clients replace the plan over HTTP
    (``POST /sandbox/faults``), off unless the sandbox was started to allow it.
    """

    def __init__(self, seed: int | None = None, *, remote: bool = False, stream: str = "") -> None:
        self.remote = remote
        name = f"faults:{seed}" + (f":{stream}" if stream else "")
        self._random = random.Random(None if seed is None else name)
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self._injected = 0

    def __bool__(self) -> bool:
        return bool(self._armed)  # the server's fast path: no faults, no lock, no draw

    def add(self, faults: Iterable[Fault]) -> None:
        """Append faults to the plan; ``ValueError`` past ``MAX_FAULTS`` (nothing added)."""
        armed = [_Armed(_checked(fault)) for fault in faults]
        with self._lock:
            _fits(len(self._armed) + len(armed))
            self._armed.extend(armed)

    def replace(self, faults: Iterable[Fault]) -> None:
        """Make ``faults`` the whole plan, counts afresh; ``ValueError`` past ``MAX_FAULTS``."""
        armed = [_Armed(_checked(fault)) for fault in faults]
        _fits(len(armed))
        with self._lock:
            self._armed = armed

    def clear(self) -> None:
        """Drop every fault (what was injected so far stays counted in ``injected``)."""
        with self._lock:
            self._armed = []

    def draw(self, method: str, path: str, resolve: Resolver) -> Fault | None:
        """The fault to apply to this call, or None; counts it as injected."""
        path = path.partition("?")[0]
        resolved: list[str | None] = []

        def operation() -> str | None:  # resolved at most once, and only if a fault asks
            if not resolved:
                resolved.append(resolve(method, path))
            return resolved[0]

        with self._lock:
            for armed in self._armed:
                if armed.spent or not armed.fault.matches(method, path, operation):
                    continue
                if self._random.random() < armed.fault.rate:
                    armed.injected += 1
                    self._injected += 1
                    return armed.fault
        return None

    def snapshot(self) -> list[tuple[Fault, int]]:
        """Each fault with how many calls it has broken so far."""
        with self._lock:
            return [(armed.fault, armed.injected) for armed in self._armed]

    @property
    def injected(self) -> int:
        """How many calls this plan has broken since it was made (cleared faults included)."""
        return self._injected

    def __repr__(self) -> str:
        return f"FaultPlan(faults={len(self._armed)}, injected={self._injected})"


def _fits(size: int) -> None:
    if size > MAX_FAULTS:
        raise ValueError(f"a fault plan holds at most {MAX_FAULTS} faults")


def _checked(fault: object) -> Fault:
    if not isinstance(fault, Fault):
        raise TypeError(f"expected a Fault, not {type(fault).__name__}")
    return fault
