"""One pooled HTTP session per client: JSON in and out, timeouts and a deadline always on.

Every call has a ``Timeout``: seconds to connect, to wait for each read, and in total. Answers
are streamed and read no further than ``MAX_ANSWER_BYTES``; redirects are never followed (a
3xx is a ``RedirectError``: following one would hand the credentials, and a verify's PIN, to
another host and re-send the verify). Retries (GET only) live in ``_wire``. Every failure is
turned into a typed ``VerigatorError`` here, in one place, never chained to an exception whose
text could quote a header.

Proxies and the CA bundle come from the environment as requests reads it, but once, when the
transport is made (requests would read them again on every call, a quarter of a call's cost);
later changes to the environment reach new clients only.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.structures import CaseInsensitiveDict

from verigator_nb.client._prepare import Prepared
from verigator_nb.client._wire import (
    end_deadline,
    environment_settings,
    new_session,
    start_deadline,
)
from verigator_nb.errors import (
    ConnectionFailedError,
    InvalidResponseError,
    RedirectError,
    RequestTimeoutError,
    TransportError,
    VerigatorError,
    error_for_status,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_ANSWER_BYTES",
    "JsonTransport",
    "Timeout",
    "Transport",
    "decode_answer",
    "normalize_timeout",
]

# The largest true answers are a service's user list and a sandbox's outbox (~150 bytes an
# item): 8 MiB holds some 50,000. A bigger answer is refused unread, so memory stays bounded.
MAX_ANSWER_BYTES = 8 * 2**20
_CHUNK_BYTES = 65536
_JSON = json.JSONEncoder(separators=(",", ":"))  # json.dumps with options makes one per call
_HOST_CHARS = 255


@dataclass(frozen=True, init=False)
class Timeout:
    """Seconds a call may take: ``connect``, each ``read`` of the answer, and ``total``.

    ``total`` (default ``connect + read``) bounds the whole call, however slowly the server
    trickles its answer; GET retries stop when it runs out. ``ValueError`` unless all three
    are positive, finite numbers.
    """

    connect: float
    read: float
    total: float

    def __init__(self, connect: float, read: float, total: float | None = None) -> None:
        values = (connect, read, connect + read if total is None else total)
        if not all(_positive(value) for value in values):
            raise ValueError("timeout seconds (connect, read and total) must be positive numbers")
        for name, value in zip(("connect", "read", "total"), values, strict=True):
            object.__setattr__(self, name, float(value))


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf


DEFAULT_TIMEOUT = Timeout(3.05, 10.0)


def normalize_timeout(timeout: float | tuple[float, float] | Timeout) -> Timeout:
    """A ``Timeout``: given as one, as a ``(connect, read)`` pair, or one number for both."""
    if isinstance(timeout, Timeout):
        return timeout
    if isinstance(timeout, int | float) and _positive(timeout):
        return Timeout(timeout, timeout)
    if isinstance(timeout, tuple) and len(timeout) == 2 and all(map(_positive, timeout)):
        return Timeout(timeout[0], timeout[1])
    raise ValueError("timeout must be a positive number, a (connect, read) pair or a Timeout")


class JsonTransport(Protocol):
    """What the namespaces need to talk to the API: one JSON call in, status and answer out.

    ``Transport`` is the real one; a test may hand ``Auth``, ``Users`` or ``Services`` any
    object with this method (a scripted stand-in, say) and no server at all.
    """

    def request(
        self, method: str, path: str, body: Mapping[str, Any] | list[Any] | None = None
    ) -> tuple[int, Any]:
        """Send one call; return its status and decoded JSON body; raise typed errors."""


class Transport:
    """Sends JSON requests to one base URL with fixed auth headers; raises typed errors.

    With a session of its own, ``timeout.total`` bounds the whole call, an answer cut off
    inside its head is a ``ConnectionFailedError``, and proxies and CA bundle are those of the
    environment when the transport was made (forks keep them). A session passed in is used as
    it is: the deadline is then checked between reads of the body only, a cut-off head goes
    unseen, and its own ``trust_env`` decides whether requests reads the environment per call.
    """

    def __init__(
        self,
        base_url: str,
        auth_header: str,
        *,
        timeout: Timeout,
        session: requests.Session | None,
        retries: int,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._pair = (timeout.connect, timeout.read)
        self._auth_header = auth_header
        self._retries = retries
        # Passed with every call on our own session: the environment as it is now.
        self._settings = environment_settings(self.base_url)
        self._use(session)

    def _use(self, session: requests.Session | None) -> None:
        """Send over ``session`` as it is, or (None) over a new session of our own."""
        self._own_session = session is None
        self.session = new_session(self._retries) if session is None else session
        self._prepared = Prepared(self.session, self.base_url)
        # Our own session's default headers are merged in once, here; a session passed in
        # has requests merge its headers (which the user may change) on every call.
        headers = CaseInsensitiveDict(self.session.headers if self._own_session else {})
        headers.update({"X-Service-Auth": self._auth_header, "Accept": "application/json"})
        self._headers = dict(headers.items())
        self._body_headers = {**self._headers, "Content-Type": "application/json"}

    def request(
        self, method: str, path: str, body: Mapping[str, Any] | list[Any] | None = None
    ) -> tuple[int, Any]:
        """Send one call; return its status and decoded JSON body (``{}`` for an empty body)."""
        data = None if body is None else _JSON.encode(body).encode()
        at = time.monotonic() + self.timeout.total
        token = start_deadline(at)
        try:
            status, reason, content = self._exchange(method, path, data, at)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            error = self._failure(exc, method, path, at)
            if isinstance(error, RequestTimeoutError | ConnectionFailedError):
                raise error from exc  # their text names the host and path, never a header
            raise error from None  # e.g. requests' InvalidHeader quotes the header's value
        finally:
            end_deadline(token)
        return status, decode_answer(status, reason, content, method, path)

    def _exchange(
        self, method: str, path: str, data: bytes | None, at: float
    ) -> tuple[int, str, bytes]:
        """Send, and read the answer's status, reason and body (at most MAX_ANSWER_BYTES)."""
        try:
            response = self._send(method, path, data)
        except _Redirected as redirect:
            raise redirect.error(self.base_url + path, method, path) from None
        try:
            status = response.status_code
            content = self._read_body(response, at, method, path)
        finally:
            response.close()  # unread bytes (an answer too large) close the connection
        if content is None:  # too large: an error status keeps its class, with its reason
            if 200 <= status < 300:
                raise _too_large(status, method, path)
            content = b""
        # What Response.content would have set, for a session hook that kept the response.
        response._content = content
        return status, response.reason or "", content

    def _send(self, method: str, path: str, data: bytes | None) -> requests.Response:
        """Send the call; the answer's body is left unread."""
        headers = self._headers if data is None else self._body_headers
        if not self._own_session:
            return self.session.request(
                method,
                self.base_url + path,
                data=data,
                headers=headers,
                timeout=self._pair,
                allow_redirects=False,
                stream=True,
                hooks=self._hooks(),
            )
        # What Session.request sends, without redoing what is fixed for our own session.
        prepared = self._prepared.request(method, path, headers, data, self._hooks())
        return self.session.send(
            prepared, timeout=self._pair, allow_redirects=False, stream=True, **self._settings
        )

    def _read_body(
        self, response: requests.Response, at: float, method: str, path: str
    ) -> bytes | None:
        """The answer's body; None past MAX_ANSWER_BYTES, without reading the rest."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
            return None
        chunks: list[bytes] = []
        size = 0
        while chunk := response.raw.read(_CHUNK_BYTES, decode_content=True):
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:  # no Content-Length, or a compressed body
                return None
            chunks.append(chunk)
            if time.monotonic() > at:  # a session passed in has no deadline on its reads
                raise RequestTimeoutError(self._timeout_message(at), method=method, path=path)
            if len(chunk) < _CHUNK_BYTES and response.raw.closed:  # the end: skip a read
                break
        return b"".join(chunks)

    def _hooks(self) -> dict[str, list[Any]]:
        # A request's hooks replace the session's (requests' merge_hooks): keep the session's.
        session_hooks = self.session.hooks.get("response")
        if not session_hooks:
            return _REFUSE_REDIRECTS
        return {"response": [_refuse_redirect, *session_hooks]}

    def _failure(self, exc: Exception, method: str, path: str, at: float) -> VerigatorError:
        """The typed error for what requests or urllib3 raised during a call."""
        cause = exc.args[0] if exc.args else None
        reason = getattr(cause, "reason", cause)  # what a MaxRetryError gave up on
        if isinstance(exc, requests.ConnectTimeout):
            message = f"could not connect to {self.base_url} within {self.timeout.connect:g} s"
            return RequestTimeoutError(message, method=method, path=path)
        timeouts = (requests.Timeout, urllib3.exceptions.ReadTimeoutError)
        if isinstance(exc, timeouts) or isinstance(reason, urllib3.exceptions.ReadTimeoutError):
            return RequestTimeoutError(self._timeout_message(at), method=method, path=path)
        broken = (requests.ConnectionError, urllib3.exceptions.ProtocolError)
        if isinstance(exc, broken) or isinstance(reason, urllib3.exceptions.NewConnectionError):
            message = self._connection_message(exc, reason)
            return ConnectionFailedError(message, method=method, path=path)
        if isinstance(exc, urllib3.exceptions.DecodeError):
            return InvalidResponseError(
                "the answer's encoding is corrupt", method=method, path=path
            )
        return TransportError(type(exc).__name__, method=method, path=path)

    def _connection_message(self, exc: Exception, reason: object) -> str:
        """What went wrong with the connection, naming the endpoint (never a proxy's URL)."""
        if isinstance(exc, requests.exceptions.ProxyError):
            return f"could not reach {self.base_url} through the proxy"
        if isinstance(exc, requests.exceptions.SSLError):
            return f"the TLS handshake with {self.base_url} failed (is its CA in the bundle?)"
        if isinstance(reason, urllib3.exceptions.NewConnectionError):
            return f"could not reach {self.base_url}"
        return "the connection broke before the answer was complete"

    def _timeout_message(self, at: float) -> str:
        if time.monotonic() >= at - 0.05:  # a read cut short by the deadline ends just before it
            return f"no complete answer within the call's {self.timeout.total:g} s deadline"
        return f"no answer within {self.timeout.read:g} s"

    def fork(self) -> Transport:
        """The same endpoint, credentials, policy and environment over a session of its own.

        Our own session is made anew; a session passed in is copied (``session_twin``), so
        its settings and mounted adapters (an in-process sandbox's, say) still apply.
        """
        twin = copy.copy(self)
        twin._use(None if self._own_session else session_twin(self.session))
        return twin

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()


def session_twin(session: requests.Session) -> requests.Session:
    """A copy of ``session`` for another thread: the same settings and mounted adapters,
    its own headers, cookies, hooks and proxies.

    The adapters are shared: an ``HTTPAdapter``'s urllib3 pools are thread-safe, and so is
    the in-process sandbox's adapter. Session subclasses rebuild their own parts in
    ``__setstate__`` (requests copies a session through its pickling state).
    """
    twin = copy.copy(session)
    twin.headers = CaseInsensitiveDict(session.headers)
    twin.cookies = session.cookies.copy()
    twin.hooks = {event: list(hooks) for event, hooks in session.hooks.items()}
    twin.proxies = dict(session.proxies)
    twin.adapters = OrderedDict(session.adapters)
    return twin


def _too_large(status: int, method: str, path: str) -> InvalidResponseError:
    return InvalidResponseError(
        f"the answer is larger than {MAX_ANSWER_BYTES / 2**20:g} MiB",
        status=status,
        method=method,
        path=path,
    )


class _Redirected(Exception):
    """A 3xx answer, stopped in requests' response hook: its status and Location only."""

    def __init__(self, status: int, location: str) -> None:
        super().__init__(status)
        self.status = status
        self.location = location

    def error(self, url: str, method: str, path: str) -> RedirectError:
        """The typed error, naming only the host the answer points to."""
        host = _host_of(url, self.location)
        to = f" to {host}" if host else ""
        return RedirectError(
            f"the server redirected the call{to}; API calls never follow redirects",
            host=host,
            status=self.status,
            method=method,
            path=path,
        )


def _refuse_redirect(response: requests.Response, **kwargs: Any) -> None:
    # Even with allow_redirects=False, requests reads a 3xx answer's whole body and parses its
    # Location (to offer ``Response.next``); stopping here leaves both unread.
    if 300 <= response.status_code < 400:
        response.close()
        raise _Redirected(response.status_code, response.headers.get("Location", ""))


_REFUSE_REDIRECTS: dict[str, list[Any]] = {"response": [_refuse_redirect]}


def _host_of(url: str, location: str) -> str:
    """``host[:port]`` that ``location`` points to from ``url`` (never its userinfo, path or
    query); "" when there is no location or it cannot be read."""
    try:
        parts = urlsplit(urljoin(url, location)) if location else None
        host, port = (parts.hostname, parts.port) if parts else (None, None)
    except ValueError:
        return ""
    if not host or len(host) > _HOST_CHARS:
        return ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def decode_answer(status: int, reason: str, content: bytes, method: str, path: str) -> Any:
    """An answer's body as the client returns it: decoded JSON (``{}`` when empty), or the
    typed error of its status; ``reason`` stands in when the server gave no ``message``."""
    if not 200 <= status < 300:
        raise error_for_status(status)(
            _server_message(content, reason), status=status, method=method, path=path
        )
    if not content:
        return {}
    try:
        return json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python recurses
        raise InvalidResponseError(
            "the answer is not JSON", status=status, method=method, path=path
        ) from None


def _server_message(content: bytes, reason: str) -> str:
    """The server's ``message``, else the reason phrase (never the raw body: it may echo input)."""
    try:
        payload = json.loads(content) if content else None
    except (ValueError, RecursionError):
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return payload["message"][:500]
    return reason or "error"
