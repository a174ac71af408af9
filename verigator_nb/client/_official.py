"""``record(official_api, log)``: an application on the official ``verigator-python`` client,
recorded to the outcome log without changing client.

::

    from messente.verigator.api import Api              # the application's client, as it is
    from verigator_nb import OutcomeLog, record

    api = Api(username, password)
    recording = record(api, OutcomeLog.in_folder("/var/log/verigator"))
    method = api.auth.initiate(service_id, user_id, api.auth.METHOD_TOTP)  # a row
    verified = api.auth.verify(service_id, user_id, token)  # a row; never the token

``record`` sets ``initiate`` and ``verify`` on that one ``auth`` object (its class and every
other attribute stay the official client's): each calls the original, returns exactly what it
returned or raises exactly what it raised, then appends one row. This module never imports the
official package; it reads each call and each answer by its shape, since releases differ:

- 1.0.3: ``initiate(service_id, user_id, method)`` returns the method the server used;
  ``verify(service_id, user_id, token)`` returns a bool;
- 1.0.0 to 1.0.2: ``initiate`` returns ``None``; ``verify(service_id, user_id, token)`` returns
  ``(verified, error)`` (1.0.0) or a bool (1.0.2);
- before 1.0 (the seed page's form): ``initiate`` returns the SMS ``auth_id`` (``None`` for
  TOTP); ``verify(service_id, user_id, method, token, auth_id=None)`` returns
  ``(verified, error)``.

A row says what the official client tells. A call that returned was answered 2xx (the client
raises for every other status) without saying which, so ``http_status`` is 200, what the API
answers both calls with. A verify answered by a bool has no ``result`` but VERIFIED. A call
that raised has its exception's class name as ``error`` and its ``code`` as ``http_status``
when that is an HTTP status (the official errors carry one; requests' transport errors do
not). Arguments refused before anything is sent (``ValueError``, ``TypeError``) are no call
and no row. A verify joins the session of the latest initiate for its user made in this
process, and the token is never read from the call's arguments.

Recording never breaks the application: a row that cannot be built or stored is counted in
``Recording.failed_appends`` and the first failure is logged (``verigator_nb._failures``); a
log made with ``errors="count"`` (``OutcomeLog.in_folder``) counts its own failures instead.
The wrapped methods are as thread-safe as the originals.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from verigator_nb._failures import Failures
from verigator_nb.client._api import DEFAULT_ENDPOINT
from verigator_nb.client._args import require_tags, storable
from verigator_nb.client._auth import _result_text
from verigator_nb.client._recorder import RowSink, remember, utc_now
from verigator_nb.models import METHOD_SMS, METHOD_TOTP, METHODS, RESULT_VERIFIED
from verigator_nb.schema import (
    ACTION,
    ATTEMPT,
    AUTH_ID,
    ENDPOINT,
    ERROR,
    EVENT_ID,
    FALLBACK,
    HTTP_STATUS,
    INITIATE,
    LATENCY_MS,
    METHOD,
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

__all__ = ["Recording", "record"]

# A call that returned was answered 2xx; the official client does not say which status, and
# the API answers both calls with 200.
_ANSWERED = 200
_NOT_A_CALL = (TypeError, ValueError)  # the official client checks its arguments first
# The official client's parameter names, which happen to match some of our column names.
_SID = "service_id"  # not a column
_UID = "user_id"  # not a column
_METHOD = "method"  # not a column
_TOKEN = "token"
_AUTH_ID = "auth_id"  # not a column
_USED = (_SID, _UID, _METHOD, _AUTH_ID)  # the arguments a row reads: never the token
# Parameter names by position, for a call whose signature cannot be read.
_INITIATE_ARGS = {3: (_SID, _UID, _METHOD)}
_VERIFY_ARGS = {
    3: (_SID, _UID, _TOKEN),
    4: (_SID, _UID, _METHOD, _TOKEN),
    5: (_SID, _UID, _METHOD, _TOKEN, _AUTH_ID),
}
_WRAPPED = ("initiate", "verify")  # not a column: the official auth's methods record() wraps
_RECORDING = "__verigator_nb_recording__"  # marks a method record() put in place

_User = tuple[str | None, str | None]  # (service_id, user_id)


def record(
    official_api: Any,
    log: RowSink,
    *,
    label: str | None = None,
    tags: str | Iterable[str] = "",
    clock: Callable[[], datetime] | None = None,
) -> Recording:
    """Record every ``official_api.auth.initiate`` and ``.verify`` call as a row of ``log``.

    ``official_api`` is the official client's ``Api`` (``messente.verigator.api``); from now
    on its ``auth`` returns and raises exactly what it did, and each call is also a row.
    ``label`` names the endpoint in rows (default: the host the client calls); ``tags`` label
    every row; ``clock`` timestamps them (UTC, the wall clock by default). ``TypeError`` if
    ``official_api`` has no ``auth.initiate`` and ``auth.verify``; ``ValueError`` if that
    ``auth`` is already recorded (``stop()`` that recording first) or for bad ``tags``.
    """
    auth = getattr(official_api, "auth", None)
    return Recording(auth, log, label=label, tags=tags, clock=clock)


class Recording:
    """One official ``auth`` being recorded (made by ``record``): ``failed_appends`` counts the
    rows that could not be recorded, and ``stop()`` puts the original methods back."""

    def __init__(
        self,
        auth: Any,
        log: RowSink,
        *,
        label: str | None,
        tags: str | Iterable[str],
        clock: Callable[[], datetime] | None,
    ) -> None:
        if not all(callable(getattr(auth, name, None)) for name in _WRAPPED):
            raise TypeError("record() takes the official client's Api, with auth.initiate/verify")
        if hasattr(auth.initiate, _RECORDING) or hasattr(auth.verify, _RECORDING):
            raise ValueError("this Api's auth is already recorded: stop() that recording first")
        self.auth = auth
        self.log = log
        self._rows = _Rows(auth, label=label, tags=require_tags(tags), clock=clock or utc_now)
        self._failures = Failures(f"record({type(auth).__module__}.{type(auth).__name__})")
        self._saved = {name: vars(auth).get(name) for name in _WRAPPED}
        auth.initiate = self._recorded(auth.initiate, self._rows.initiate)
        auth.verify = self._recorded(auth.verify, self._rows.verify)

    @property
    def failed_appends(self) -> int:
        """Rows that could not be built or stored (the first was logged; the calls went on)."""
        return self._failures.count

    def stop(self) -> None:
        """Give ``auth`` its own ``initiate`` and ``verify`` back; calls are rows no more."""
        for name, saved in self._saved.items():
            if saved is None:
                vars(self.auth).pop(name, None)
            else:
                setattr(self.auth, name, saved)

    def _recorded(
        self, original: Callable[..., Any], row: Callable[[_Call], dict[str, Any] | None]
    ) -> Callable[..., Any]:
        """``original`` as the application knows it, with a row for each call."""

        @functools.wraps(original)  # same name, docstring and signature
        def recorded(*args: Any, **kwargs: Any) -> Any:
            call = self._begin(args, kwargs)
            try:
                call.returned = original(*args, **kwargs)
            except Exception as exc:
                call.ended(exc)
                self._append(row, call)
                raise  # the very exception, with its own traceback
            call.ended(None)
            self._append(row, call)
            return call.returned

        setattr(recorded, _RECORDING, self)
        return recorded

    def _begin(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call:
        """A call starting now (by the wall clock if the given clock fails: never raises)."""
        try:
            ts = self._rows.clock()
        except Exception as exc:
            self._failures.add(exc)
            ts = utc_now()
        return _Call(args, kwargs, ts)

    def _append(self, row: Callable[[_Call], dict[str, Any] | None], call: _Call) -> None:
        """Build the call's row and append it; never raises (see the module docstring)."""
        try:
            built = row(call)
            if built is not None:
                self.log.append(built)
        except Exception as exc:
            self._failures.add(exc)


@dataclass
class _Call:
    """One call of ``initiate`` or ``verify``: its arguments, its start, how it ended."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    ts: datetime
    started: float = field(default_factory=time.perf_counter)
    latency_ms: float = 0.0
    returned: Any = None
    failure: Exception | None = None

    def ended(self, failure: Exception | None) -> None:
        self.latency_ms = (time.perf_counter() - self.started) * 1000.0
        self.failure = failure


@dataclass(frozen=True)
class _Session:
    """A session as a verify needs it: its id, and what its initiate told (if it was seen)."""

    session_id: str
    method: str | None = None
    auth_id: str | None = None


class _Rows:
    """Turns the official client's calls into rows, linking each verify to its session."""

    def __init__(
        self, auth: Any, *, label: str | None, tags: str, clock: Callable[[], datetime]
    ) -> None:
        self.clock = clock
        self._endpoint = label or _host(auth)
        self._tags = tags
        self._initiate_signature = _signature(auth.initiate)
        self._verify_signature = _signature(auth.verify)
        # Releases before 1.0 took auth_id in verify, and returned nothing for TOTP from initiate.
        parameters = self._verify_signature.parameters if self._verify_signature else {}
        self._before_1_0 = _AUTH_ID in parameters
        self._sessions = _Sessions()

    def initiate(self, call: _Call) -> dict[str, Any] | None:
        """The row of an initiate call, or ``None`` when no call was made."""
        if isinstance(call.failure, _NOT_A_CALL):
            return None
        asked = _arguments(self._initiate_signature, call, _INITIATE_ARGS)
        user = (_text(asked.get(_SID)), _text(asked.get(_UID)))
        requested = _method(asked.get(_METHOD))
        session = _Session(self._sessions.new_id())
        row = self._base(call, INITIATE, user) | {REQUESTED_METHOD: requested}
        if call.failure is not None:
            return row | {SESSION_ID: session.session_id} | _failure(call.failure)
        session = _initiated(session.session_id, call.returned, before_1_0=self._before_1_0)
        self._sessions.opened(user, session)
        known = requested is not None and session.method is not None
        return row | {
            SESSION_ID: session.session_id,
            METHOD: session.method,
            # As Initiation.fallback: TOTP was asked and the server used SMS.
            FALLBACK: requested == METHOD_TOTP and session.method == METHOD_SMS if known else None,
            AUTH_ID: session.auth_id,
            HTTP_STATUS: _ANSWERED,
        }

    def verify(self, call: _Call) -> dict[str, Any] | None:
        """The row of a verify call, or ``None`` when no call was made."""
        if isinstance(call.failure, _NOT_A_CALL):
            return None
        asked = _arguments(self._verify_signature, call, _VERIFY_ARGS)
        user = (_text(asked.get(_SID)), _text(asked.get(_UID)))
        session, attempt = self._sessions.joined(user)
        method = _method(asked.get(_METHOD)) or session.method
        row = self._base(call, VERIFY, user) | {
            REQUESTED_METHOD: method,
            AUTH_ID: _text(asked.get(_AUTH_ID)) or session.auth_id,
            SESSION_ID: session.session_id,
            ATTEMPT: attempt,
        }
        if call.failure is not None:
            return row | _failure(call.failure)
        return row | {METHOD: method, HTTP_STATUS: _ANSWERED} | _checked(call.returned)

    def _base(self, call: _Call, action: str, user: _User) -> dict[str, Any]:
        return {
            EVENT_ID: uuid.uuid4().hex,
            TS: call.ts,
            SERVICE_ID: user[0],
            USER_ID: user[1],
            ACTION: action,
            LATENCY_MS: call.latency_ms,
            ENDPOINT: self._endpoint,
            TAGS: self._tags,
            PROVIDER: VERIGATOR,
        }


class _Sessions:
    """Each user's latest initiate in this process, so a verify joins its session and numbers
    its attempt (the ``SESSIONS_KEPT`` most recent). Session ids are ``<random>-<n>``; the
    random part is drawn again in a forked process, so two workers never share an id."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._latest: OrderedDict[_User, _Session] = OrderedDict()
        self._attempts: OrderedDict[str, int] = OrderedDict()
        self._pid = 0
        self._prefix = ""
        self._numbers = itertools.count(1)

    def new_id(self) -> str:
        with self._lock:
            if self._pid != os.getpid():
                self._pid, self._prefix = os.getpid(), uuid.uuid4().hex[:12]
                self._numbers = itertools.count(1)
            return f"{self._prefix}-{next(self._numbers)}"

    def opened(self, user: _User, session: _Session) -> None:
        with self._lock:
            remember(self._latest, user, session)

    def joined(self, user: _User) -> tuple[_Session, int]:
        """The user's latest session (a new one, of unknown method, if none was seen) and the
        number of this verify in it."""
        with self._lock:
            session = self._latest.get(user) or _Session(self.new_id())
            remember(self._latest, user, session)
            attempt = self._attempts.get(session.session_id, 0) + 1
            remember(self._attempts, session.session_id, attempt)
            return session, attempt


def _initiated(session_id: str, returned: object, *, before_1_0: bool) -> _Session:
    """What initiate's return says: the method the server used, and the SMS ``auth_id``."""
    if isinstance(returned, str) and returned in METHODS:  # 1.0.3: the method
        return _Session(session_id, returned)
    if isinstance(returned, str) and returned and storable(returned):  # before 1.0: auth_id
        return _Session(session_id, METHOD_SMS, returned)
    if returned is None and before_1_0:  # before 1.0, no auth_id meant TOTP
        return _Session(session_id, METHOD_TOTP)
    return _Session(session_id)  # 1.0.0 to 1.0.2 return nothing: the method is unknown


def _checked(returned: object) -> dict[str, Any]:
    """A verify's verdict and result, from a bool (1.0.2 on) or ``(verified, error)``."""
    detail: object = None
    if isinstance(returned, tuple) and len(returned) == 2:
        returned, detail = returned
    if not isinstance(returned, bool):
        return {}  # a shape no release returns: answered, verdict unknown
    found = detail.get("result") if isinstance(detail, Mapping) else None  # not a column: the API's
    result = _result_text(found)
    return {VERIFIED: returned, RESULT: result or (RESULT_VERIFIED if returned else None)}


def _failure(error: Exception) -> dict[str, Any]:
    """A call that raised: its exception's class name, and its ``code`` if an HTTP status."""
    code = getattr(error, "code", None)
    status = code if type(code) is int and 100 <= code <= 599 else None
    return {ERROR: type(error).__name__, HTTP_STATUS: status}


def _arguments(
    signature: inspect.Signature | None, call: _Call, positions: Mapping[int, tuple[str, ...]]
) -> dict[str, object]:
    """The arguments a row reads, by the official parameter names; never the token."""
    named: Mapping[str, object] = {}
    if signature is not None:
        try:
            named = signature.bind(*call.args, **call.kwargs).arguments
        except TypeError:
            named = {}
    if not named:
        named = dict(zip(positions.get(len(call.args), ()), call.args, strict=False))
        named = {**named, **call.kwargs}
    return {name: named[name] for name in _USED if name in named}


def _signature(method: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(method)
    except (TypeError, ValueError):  # a builtin or a C callable: read calls by position
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value and storable(value) else None


def _method(value: object) -> str | None:
    return value if isinstance(value, str) and value in METHODS else None


def _host(auth: Any) -> str:
    """The host the official client calls (its ``rest_client.endpoint``), else the API's."""
    endpoint = getattr(getattr(auth, "rest_client", None), "endpoint", None)  # not a column
    url = endpoint if isinstance(endpoint, str) else DEFAULT_ENDPOINT
    return urlsplit(url).netloc or url
