"""Turns each initiate and verify call into one outcome-log row, errors included.

The client asks the recorder for a ``PendingRow`` before it sends, and tells it how the call
ended; the row is appended (and on disk, for a durable log) before the client method returns.
Rows carry ids, methods and outcomes only: never a PIN, a secret, a password or a phone number.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from verigator_nb.client._phone import PhoneFacts
from verigator_nb.errors import VerigatorError
from verigator_nb.models import Initiation, Verification
from verigator_nb.schema import (
    ACTION,
    ATTEMPT,
    AUTH_ID,
    COUNTRY,
    ENDPOINT,
    ERROR,
    EVENT_ID,
    FALLBACK,
    HTTP_STATUS,
    INITIATE,
    LATENCY_MS,
    METHOD,
    NUMBER_RANGE,
    NUMBER_TYPE,
    PROVIDER,
    REQUESTED_METHOD,
    RESULT,
    SERVICE_ID,
    SESSION_ID,
    TAGS,
    TS,
    USER_ID,
    VERIFIED,
    VERIFY,
    VERIGATOR,
)

__all__ = ["SESSIONS_KEPT", "PendingRow", "Recorder", "RowSink", "remember", "utc_now"]

# How many recently used sessions (and users' latest initiations) one client keeps in memory:
# enough for any live login (an SMS PIN expires in minutes), bounded for long campaigns.
SESSIONS_KEPT = 10_000

_Key = TypeVar("_Key", bound=Hashable)
_Value = TypeVar("_Value")


def remember(table: OrderedDict[_Key, _Value], key: _Key, value: _Value) -> None:
    """Set ``table[key]`` as its most recent entry, forgetting the oldest past SESSIONS_KEPT."""
    table[key] = value
    table.move_to_end(key)
    if len(table) > SESSIONS_KEPT:
        table.popitem(last=False)


class RowSink(Protocol):
    """Anything that stores outcome rows, such as ``OutcomeLog``."""

    def append(self, row: Mapping[str, Any]) -> None:
        """Store one row durably before returning."""


def utc_now() -> datetime:
    """The wall clock, UTC-aware: the default clock for timestamps."""
    return datetime.now(UTC)


class PendingRow:
    """One call in flight: its identity, its start time and how long it took."""

    def __init__(self, recorder: Recorder, fields: dict[str, Any]) -> None:
        self._recorder = recorder
        self._fields = fields
        self._started = time.perf_counter()

    def initiated(self, http_status: int, initiation: Initiation) -> None:
        """Record an answered initiate: the method the server used, fallback, ``auth_id``."""
        self._finish(
            http_status,
            {
                METHOD: initiation.method,
                FALLBACK: initiation.fallback,
                AUTH_ID: initiation.auth_id,
            },
        )

    def checked(self, http_status: int, verification: Verification) -> None:
        """Record an answered verify: the method checked, ``verified`` and the result."""
        self._finish(
            http_status,
            {
                METHOD: verification.method,
                VERIFIED: verification.verified,
                RESULT: verification.result,
            },
        )

    def _finish(self, http_status: int, outcome: dict[str, Any]) -> None:
        self._recorder.emit({**self._fields, **outcome, HTTP_STATUS: http_status}, self._started)

    def failed(self, error: VerigatorError) -> None:
        """Record a call that raised: its error class and the status, if any answer came."""
        self._recorder.emit(
            {**self._fields, ERROR: type(error).__name__, HTTP_STATUS: error.status},
            self._started,
        )


class _NotRecorded(PendingRow):
    """The pending row of a client without a log: finishing it does nothing."""

    def __init__(self) -> None:
        pass

    def _finish(self, http_status: int, outcome: dict[str, Any]) -> None:
        pass

    def failed(self, error: VerigatorError) -> None:
        pass


_NOT_RECORDED = _NotRecorded()
_NO_PHONE = PhoneFacts(None, None, None)  # a user created elsewhere: nothing known of its phone


class _SessionIds:
    """Session ids ``<prefix>-<n>``: the prefix keeps runs apart in one durable log, and is
    drawn again (at random) in a forked process, whose counter would repeat the parent's."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._pid = os.getpid()
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            if self._pid != os.getpid():  # a forked worker (gunicorn's pre-fork model)
                self._pid, self._prefix = os.getpid(), uuid.uuid4().hex[:12]
                self._numbers = itertools.count(1)
            return f"{self._prefix}-{next(self._numbers)}"


class Recorder:
    """Builds rows for one ``Api``: sessions, attempt numbers, countries, endpoint and tags;
    ``provider`` is always ``verigator``.

    Attempt numbers are kept for the ``SESSIONS_KEPT`` most recently used sessions; a verify
    of a session forgotten since counts from 1 again.
    """

    def __init__(
        self,
        sink: RowSink | None,
        *,
        clock: Callable[[], datetime],
        endpoint: str,
        tags: str,
        id_seed: int | None = None,
    ) -> None:
        self.sink = sink
        self.clock = clock
        self.endpoint = endpoint
        self.tags = tags
        self._phones: dict[str, PhoneFacts] = {}
        self._attempts: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        # Seeded ids make a seeded sandbox's logs repeat exactly; otherwise ids are random.
        self._ids = random.Random(id_seed) if id_seed is not None else None
        self._sessions = _SessionIds(self._new_id()[:12])

    def with_sink(self, sink: RowSink | None, *, tags: str | None = None) -> Recorder:
        """A recorder writing to ``sink`` that shares this one's phones and attempt counts."""
        tags = self.tags if tags is None else tags
        twin = Recorder(sink, clock=self.clock, endpoint=self.endpoint, tags=tags)
        twin._phones, twin._attempts, twin._lock = self._phones, self._attempts, self._lock
        twin._ids, twin._sessions = self._ids, self._sessions
        return twin

    def new_session_id(self) -> str:
        """A readable, ordered session id, unique across this recorder, its twins and the
        processes forked from it."""
        return self._sessions.next()

    def _new_id(self) -> str:
        if self._ids is None:
            return uuid.uuid4().hex
        with self._lock:
            return uuid.UUID(int=self._ids.getrandbits(128), version=4).hex

    def remember_phone(self, user_id: str, facts: PhoneFacts) -> None:
        """Keep what the log may say of a user's phone: its country, range and type (the
        number itself is never kept)."""
        if facts.country or facts.number_range:
            self._phones[user_id] = facts

    def _phone_columns(self, user_id: str) -> dict[str, str | None]:
        facts = self._phones.get(user_id, _NO_PHONE)
        return {
            COUNTRY: facts.country,
            NUMBER_RANGE: facts.number_range,
            NUMBER_TYPE: facts.number_type,
        }

    def start_initiate(
        self, service_id: str, user_id: str, requested_method: str, session_id: str
    ) -> PendingRow:
        """Begin the row of an initiate call that opens session ``session_id``."""
        fields = {REQUESTED_METHOD: requested_method, SESSION_ID: session_id}
        return self._start(INITIATE, service_id, user_id, fields)

    def start_verify(self, initiation: Initiation) -> PendingRow:
        """Begin the row of a verify call answering ``initiation``, numbering its attempt."""
        if self.sink is None:
            return _NOT_RECORDED
        fields = {
            REQUESTED_METHOD: initiation.method,
            AUTH_ID: initiation.auth_id,
            SESSION_ID: initiation.session_id,
            ATTEMPT: self._next_attempt(initiation.session_id),
        }
        return self._start(VERIFY, initiation.service_id, initiation.user_id, fields)

    def _start(
        self, action: str, service_id: str, user_id: str, fields: dict[str, Any]
    ) -> PendingRow:
        if self.sink is None:
            return _NOT_RECORDED  # no log: keep the call path as thin as a bare request
        base = {
            EVENT_ID: self._new_id(),
            TS: self.clock(),
            SERVICE_ID: service_id,
            USER_ID: user_id,
            ACTION: action,
            ENDPOINT: self.endpoint,
            **self._phone_columns(user_id),
            TAGS: self.tags,
            PROVIDER: VERIGATOR,
        }
        return PendingRow(self, {**base, **fields})

    def emit(self, row: dict[str, Any], started: float) -> None:
        """Finish a row with its latency and hand it to the sink."""
        if self.sink is not None:
            row[LATENCY_MS] = (time.perf_counter() - started) * 1000.0
            self.sink.append(row)

    def _next_attempt(self, session_id: str) -> int:
        with self._lock:
            attempt = self._attempts.get(session_id, 0) + 1
            remember(self._attempts, session_id, attempt)
            return attempt
