"""The socket end of the transport: a pooled session with safe retries and a deadline per call.

requests' timeouts bound each socket read, not a call: a server trickling one byte a second
keeps a call alive forever. Here each answer's head and body are read through a reader that
gives every ``recv`` only the time left before the call's deadline (``start_deadline``).
The head must also end with its blank line: http.client takes end-of-file there as the end of
the headers, so an answer cut off inside its head would read as a complete, empty answer.

Only GET is ever retried (on connection errors and 502/503/504, with backoff, honouring
Retry-After up to a cap, and never past the call's deadline). POST, PUT and DELETE are never
re-sent: urllib3's default ``Retry`` would re-send a PUT after a read error, and a re-sent
verify silently burns one of the user's attempts.

The environment is read once: ``environment_settings`` takes the proxies and CA bundle
requests would take for the endpoint, and ``new_session`` sessions never read the environment
again (requests otherwise scans it, and ``~/.netrc``, on every call).
"""

from __future__ import annotations

import http.client
import io
import socket
import time
from contextvars import ContextVar, Token
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import InvalidHeader
from urllib3.poolmanager import PoolManager
from urllib3.util.retry import Retry

__all__ = [
    "CutOffHead",
    "DeadlinePassed",
    "end_deadline",
    "environment_settings",
    "new_session",
    "retry_policy",
    "start_deadline",
    "time_left",
]

_RETRY_AFTER_CAP_SECONDS = 10.0
_RETRIED_METHODS = frozenset({"GET"})

# The monotonic instant the call in progress on this thread (or task) must be over by.
_DEADLINE: ContextVar[float | None] = ContextVar("verigator_nb_deadline", default=None)


def start_deadline(at: float) -> Token[float | None]:
    """From now on this thread's calls on ``new_session`` sessions stop reading at ``at``
    (a monotonic instant); hand the token to ``end_deadline`` when the call is over."""
    return _DEADLINE.set(at)


def end_deadline(token: Token[float | None]) -> None:
    """Undo the matching ``start_deadline``."""
    _DEADLINE.reset(token)


def time_left() -> float | None:
    """Seconds until the current call's deadline (negative once past); None outside a call."""
    at = _DEADLINE.get()
    return None if at is None else at - time.monotonic()


class DeadlinePassed(TimeoutError):  # socket.timeout: urllib3 reports it as a read timeout
    """The call's deadline passed while its answer was still being read."""


class CutOffHead(http.client.HTTPException):
    """The connection closed before the answer's head ended with its blank line."""


class _DeadlineReader(io.RawIOBase):
    """A socket's byte stream in which every read waits at most until the deadline."""

    def __init__(self, sock: socket.socket, stream: Any, at: float) -> None:
        self._sock = sock
        self._stream = stream  # the socket's unbuffered reader, ``sock.makefile("rb").raw``
        self._at = at
        self._per_read = sock.gettimeout()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = self._at - time.monotonic()
        if left <= 0:
            raise DeadlinePassed("the call's deadline passed")
        if self._per_read is None or left < self._per_read:  # else the read timeout binds
            self._sock.settimeout(left)
        return self._stream.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


class _HeadWatch:
    """Stands in for the response's file while its head is read, keeping the last line."""

    def __init__(self, fp: Any) -> None:
        self.fp = fp
        self.last = b""

    def readline(self, limit: int = -1) -> bytes:
        self.last = self.fp.readline(limit)
        return self.last


class _Response(http.client.HTTPResponse):
    """An answer read under the call's deadline whose head must be complete."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        at = _DEADLINE.get()
        if at is not None:  # nothing was read yet: the buffer can change hands
            self.fp = io.BufferedReader(_DeadlineReader(sock, self.fp.detach(), at))

    def begin(self) -> None:
        if self.headers is not None:
            return
        watch = _HeadWatch(self.fp)
        self.fp = watch
        try:
            super().begin()
        finally:
            self.fp = watch.fp
        if watch.last not in (b"\r\n", b"\n"):  # b"": end of file came first
            raise CutOffHead("the answer was cut off inside its head")


class _Connection(HTTPConnection):
    response_class = _Response


class _TLSConnection(HTTPSConnection):
    response_class = _Response


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _Pool, "https": _TLSPool}


class _Adapter(HTTPAdapter):
    """requests' adapter whose pools read answers with ``_Response``, proxies included."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


class _IdempotentOnlyRetry(Retry):
    """Retries GET only, and never past the deadline; any other method fails on its first error."""

    def increment(  # type: ignore[override]
        self, method: str | None = None, *args: Any, **kwargs: Any
    ) -> Retry:
        if method is None or method.upper() not in _RETRIED_METHODS or self._too_late(kwargs):
            # Spend the whole budget at once: the base class then raises MaxRetryError (or,
            # for an error status, hands back the answer).
            return Retry.increment(self.new(total=0), method, *args, **kwargs)
        return super().increment(method, *args, **kwargs)

    def _too_late(self, kwargs: dict[str, Any]) -> bool:
        """True when the deadline will have passed before a retry could even be sent."""
        left = time_left()
        if left is None:
            return False
        response = kwargs.get("response")
        try:
            pause = super().get_retry_after(response) if response is not None else None
        except InvalidHeader:
            pause = None
        return left <= min(pause or 0.0, _RETRY_AFTER_CAP_SECONDS)

    def get_retry_after(self, response: Any) -> float | None:
        # A server asking for an hour's pause must not freeze a notebook cell for an hour.
        seconds = super().get_retry_after(response)
        if seconds is None:
            return None
        return _within_deadline(min(seconds, _RETRY_AFTER_CAP_SECONDS))

    def get_backoff_time(self) -> float:
        return _within_deadline(super().get_backoff_time())


def _within_deadline(seconds: float) -> float:
    left = time_left()
    return seconds if left is None else max(0.0, min(seconds, left))


def retry_policy(retries: int) -> Retry:
    """The client's retry policy: GET-only, within the call's deadline, on 502/503/504."""
    return _IdempotentOnlyRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        allowed_methods=_RETRIED_METHODS,
        status_forcelist=(502, 503, 504),
        backoff_factor=0.2,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def new_session(retries: int) -> requests.Session:
    """A pooled session: GET-only retries, deadline-bound reads, complete heads required.

    It never reads the environment (``trust_env`` is off): pass it ``environment_settings``
    with each call. Nor ``.netrc``: API calls carry their own ``X-Service-Auth`` header.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = _Adapter(max_retries=retry_policy(retries), pool_maxsize=32)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def environment_settings(url: str) -> dict[str, Any]:
    """The ``proxies``, ``verify`` and ``cert`` requests would use for calls to ``url``, now.

    Computed by requests itself (``Session.merge_environment_settings`` of a default session),
    so the rules are requests': ``HTTPS_PROXY``, ``HTTP_PROXY`` and ``ALL_PROXY`` in either
    case unless ``NO_PROXY`` covers the host (which is why the URL is needed), and the CA
    bundle from ``REQUESTS_CA_BUNDLE``, else ``CURL_CA_BUNDLE``, else requests' own.
    """
    with requests.Session() as reader:
        found = reader.merge_environment_settings(url, {}, None, None, None)
    return {"proxies": dict(found["proxies"]), "verify": found["verify"], "cert": found["cert"]}
