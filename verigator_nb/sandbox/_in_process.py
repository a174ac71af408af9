"""The in-process transport: a sandbox reached through ``requests`` with no socket (moto's mock).

``in_process_session(router)`` is a session with the client's GET-only retry policy and an
``InProcessAdapter`` mounted for ``IN_PROCESS_URL``: each prepared request goes to the router
— counted, authenticated, maybe broken by a fault, dispatched — exactly as the HTTP server
would take it, and the answer comes back as a real ``requests.Response`` over a
``urllib3.HTTPResponse``, so ``response.raw``, streamed reads and ``.content`` all work. The
client above it is unchanged: its typed errors, recorder and log see the same answers.

Faults keep their meaning (``_breaking``): ``latency`` sleeps, ``error`` and ``malformed`` are
answers; ``reset`` raises the ``ProtocolError`` a reset connection gives (``requests``:
``ConnectionError``); ``stall`` waits ``min(seconds, read timeout)`` and then raises a read
timeout, or, when it is the shorter, the error of a connection closed unanswered. Only the
read timeout bounds the waits here (a ``Timeout``'s ``total`` is checked by the client after
them), and a ``latency`` outlasting the read timeout is applied as soon as the client gives up,
not later as the server would.

``_door.InProcessDoor`` is the play-the-user controls' way in (``SandboxControl``): the same
adapter's ``exchange`` — router, retries and faults — without the ``requests`` machinery.

``IN_PROCESS_URL`` uses the reserved ``.invalid`` domain (RFC 6761): no network name ever
resolves to it, so a call to it is either answered here or fails.
"""

from __future__ import annotations

import errno
import io
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import lru_cache
from http import HTTPStatus
from http.client import RemoteDisconnected
from typing import Any, Final

import requests
from requests.adapters import BaseAdapter
from requests.hooks import dispatch_hook
from requests.sessions import merge_hooks
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3 import HTTPResponse
from urllib3.exceptions import MaxRetryError, ProtocolError, ReadTimeoutError, ResponseError
from urllib3.util.retry import Retry
from urllib3.util.timeout import Timeout as Urllib3Timeout

from verigator_nb.client import Prepared, retry_policy
from verigator_nb.sandbox._breaking import broken_reply
from verigator_nb.sandbox._errors import SandboxError, error_reply
from verigator_nb.sandbox._faults import Fault
from verigator_nb.sandbox._limits import MAX_BODY, declared_length, too_large, too_short
from verigator_nb.sandbox._routes import Headers, Reply, Router, encode_body

__all__ = [
    "IN_PROCESS_HOST",
    "IN_PROCESS_URL",
    "InProcessAdapter",
    "InProcessSession",
    "in_process_adapter",
    "in_process_session",
    "reason_phrase",
]

IN_PROCESS_HOST: Final = "sandbox.in-process.invalid"
IN_PROCESS_URL: Final = f"http://{IN_PROCESS_HOST}"
_NO_RETRIES: Final = Retry(0, read=False)  # requests' own default for an adapter
_Answer = tuple[int, dict[str, str], bytes]


class _Waits:
    """An injected wait as the client lives it: cut at its read timeout, noting that it was."""

    def __init__(self, read_timeout: float | None, pause: Callable[[float], object]) -> None:
        self.read_timeout = read_timeout
        self.timed_out = False
        self._pause = pause

    def __call__(self, seconds: float) -> None:
        if self.read_timeout is not None and seconds >= self.read_timeout:
            self.timed_out = True
            seconds = self.read_timeout
        self._pause(seconds)


class InProcessAdapter(BaseAdapter):
    """A ``requests`` transport adapter that answers from ``router`` instead of a socket.

    ``max_retries`` is a urllib3 ``Retry`` applied as urllib3 would (default: none);
    ``pause`` waits injected delays (``time.sleep``). Thread-safe, as the router is.
    """

    def __init__(
        self,
        router: Router,
        *,
        max_retries: Retry | None = None,
        pause: Callable[[float], object] = time.sleep,
    ) -> None:
        super().__init__()
        self.router = router
        self.max_retries = max_retries if max_retries is not None else _NO_RETRIES
        self._pause = pause

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | Urllib3Timeout | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Answer ``request`` from the router; raise what ``HTTPAdapter`` would raise."""
        method, url = request.method or "GET", request.url or ""
        try:
            answer = self.exchange(
                method, _path_url(request), request.headers, request.body, _read_timeout(timeout)
            )
        except ProtocolError as exc:
            raise requests.ConnectionError(exc, request=request) from exc
        except ReadTimeoutError as exc:
            raise requests.ReadTimeout(exc, request=request) from exc
        except MaxRetryError as exc:
            if isinstance(exc.reason, ResponseError):
                raise requests.exceptions.RetryError(exc, request=request) from exc
            raise requests.ConnectionError(exc, request=request) from exc
        return self._response(request, answer[1], _raw(*answer, method, url))

    def _response(
        self, request: requests.PreparedRequest, headers: dict[str, str], raw: HTTPResponse
    ) -> requests.Response:
        """What ``HTTPAdapter.build_response`` makes of an answer (no cookies: none are set)."""
        response = requests.Response()
        response.status_code = raw.status
        response.headers = CaseInsensitiveDict(headers)
        response.encoding = _encoding_of(response.headers.get("Content-Type"))
        response.raw = raw
        response.reason = raw.reason or ""
        response.url = request.url or ""
        response.request = request
        response.connection = self  # type: ignore[assignment]  # stubs say HTTPAdapter
        return response

    def exchange(
        self, method: str, path: str, headers: Headers, body: object, read_timeout: float | None
    ) -> _Answer:
        """One call with the retry policy: ``(status, headers, body bytes)``.

        Raises urllib3's ``ProtocolError`` (reset, or closed unanswered), ``ReadTimeoutError``
        or, once retries are spent, ``MaxRetryError``, as ``urlopen`` would.
        """
        status, payload, extra = self.answer(method, path, headers, body, read_timeout)
        data = encode_body(payload)
        return status, _headers(data, extra), b"" if method == "HEAD" else data

    def answer(
        self, method: str, path: str, headers: Headers, body: object, read_timeout: float | None
    ) -> Reply:
        """``exchange``, but the final reply as the router gave it (its body not yet encoded)."""
        url = IN_PROCESS_URL + path
        retries = self.max_retries
        while True:
            try:
                reply = self._once(method, path, headers, body, read_timeout)
            except (ProtocolError, ReadTimeoutError) as error:
                retries = retries.increment(method, url, error=error)  # raises when spent
                retries.sleep()
                continue
            status, payload, extra = reply
            if not retries.is_retry(method, status, "Retry-After" in extra):
                return reply
            data = encode_body(payload)
            raw = _raw(status, _headers(data, extra), data, method, url)
            try:
                retries = retries.increment(method, url, response=raw)
            except MaxRetryError:
                if retries.raise_on_status:
                    raise
                return reply
            retries.sleep(raw)

    def _once(
        self, method: str, path: str, headers: Headers, body: object, read_timeout: float | None
    ) -> Reply:
        """One attempt, as ``_server`` serves it: framing, admission, dispatch, faults."""
        try:
            data = _framed(headers, body)
        except SandboxError as exc:  # the server also closes the connection after these
            status, message, extra = error_reply(exc)
            return Reply(status, message, {**extra, "Connection": "close"})
        router = self.router
        admitted = router.admit(method, path, headers)
        if admitted.fault is None:
            return router.dispatch(method, path, admitted, data)
        waits = _Waits(read_timeout, self._pause)
        reply = broken_reply(
            admitted.fault, lambda: router.dispatch(method, path, admitted, data), waits
        )
        if waits.timed_out:
            raise ReadTimeoutError(None, IN_PROCESS_URL + path, "Read timed out.")  # type: ignore[arg-type]
        if reply is None:
            raise _unanswered(admitted.fault)
        return reply

    def close(self) -> None:
        """Nothing to close: no connection was opened."""


def _path_url(request: requests.PreparedRequest) -> str:
    """``request.path_url`` (the path and query the server reads), without parsing the URL
    again when it is one the in-process base starts and no fragment follows."""
    url = request.url or ""
    if url.startswith(_BASE) and "#" not in url:
        return url[len(IN_PROCESS_URL) :]
    return request.path_url


@lru_cache(maxsize=16)
def _encoding_of(content_type: str | None) -> str | None:
    """What requests' ``get_encoding_from_headers`` reads from a ``Content-Type`` (the
    sandbox sends one or two, so each is read once)."""
    return get_encoding_from_headers({} if content_type is None else {"content-type": content_type})


def _read_timeout(timeout: object) -> float | None:
    """The read timeout out of whatever ``requests`` was given (None: wait as long as it takes)."""
    if isinstance(timeout, tuple):
        timeout = timeout[1]
    elif isinstance(timeout, Urllib3Timeout):
        timeout = timeout.read_timeout
    if isinstance(timeout, int | float) and not isinstance(timeout, bool):
        return float(timeout)
    return None


def _framed(headers: Headers, body: object) -> bytes:
    """The body the server would read: the declared length, refused as the server refuses."""
    data = _as_bytes(body)
    # requests' headers (and the door's) are one value per name: no conflicting lengths here.
    declared = headers.get("Content-Length")
    encoding = headers.get("Transfer-Encoding")
    if declared is None and encoding is None:
        return b""
    length = declared_length(encoding, [] if declared is None else [declared])
    if length > MAX_BODY:
        raise too_large()
    if len(data) < length:
        raise too_short()
    return data[:length]


def _as_bytes(body: object) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    read = getattr(body, "read", None)
    if callable(read):
        return _as_bytes(read())
    return b"".join(_as_bytes(part) for part in body)  # type: ignore[attr-defined]


def _headers(data: bytes, extra: Mapping[str, str]) -> dict[str, str]:
    """An answer's headers, as the server writes them."""
    return {"Content-Type": "application/json", "Content-Length": str(len(data)), **extra}


def _unanswered(fault: Fault) -> ProtocolError:
    """What urllib3 raises when the connection ends with no answer: reset, or a plain close."""
    if fault.kind == "reset":
        cause: Exception = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    else:
        cause = RemoteDisconnected("Remote end closed connection without response")
    return ProtocolError("Connection aborted.", cause)


def reason_phrase(status: int) -> str:
    """The status line's phrase, as the server writes it."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"  # what the server's status line says for a status it has no phrase for


class _Body(io.BytesIO):
    """An answer's bytes, read as from a connection: closed once all are read, as
    ``http.client.HTTPResponse`` is when its ``Content-Length`` is reached (urllib3 asks
    ``isclosed``; a reader seeing it closed makes no last, empty read)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self._length = len(data)

    def isclosed(self) -> bool:
        return self.closed or self.tell() >= self._length


def _raw(status: int, headers: dict[str, str], data: bytes, method: str, url: str) -> HTTPResponse:
    return HTTPResponse(
        body=_Body(data),
        headers=headers,
        status=status,
        version=11,
        version_string="HTTP/1.1",
        reason=reason_phrase(status),
        preload_content=False,
        decode_content=False,
        request_method=method,
        request_url=url,
    )


class InProcessSession(requests.Session):
    """A ``requests.Session`` whose calls skip what a call that never leaves the process uses
    none of: the environment, ``.netrc``, proxies, cookies and query parameters.

    ``request`` prepares a call to ``IN_PROCESS_URL`` as the client prepares calls on a session
    of its own (``client._prepare``: method, URL, headers — the session's, then the call's —
    body, hooks) and hands it to ``send``, with the same adapters and hooks; a call using
    anything else (``params``, ``json``, ``auth``, ``cookies``...), or a session given cookies,
    auth or params, takes requests' full path.
    """

    def __init__(self) -> None:
        super().__init__()
        self._prepared = Prepared(self, IN_PROCESS_URL)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """requests copies and unpickles a session through its state: rebuild ``_prepared``."""
        super().__setstate__(state)  # type: ignore[misc]  # the stubs lack it
        self._prepared = Prepared(self, IN_PROCESS_URL)

    def request(  # type: ignore[override]
        self, method: str | bytes, url: str | bytes, **kwargs: Any
    ) -> requests.Response:
        """``Session.request``, prepared without merging what an in-process call never uses."""
        lean = _LEAN.issuperset(kwargs) and not (self.cookies or self.auth or self.params)
        if not (lean and isinstance(url, str) and url.startswith(_BASE)):
            return super().request(method, url, **kwargs)
        prepared = self._prepared.request(
            method if isinstance(method, str) else method.decode(),
            url[len(IN_PROCESS_URL) :],
            self._headers_with(kwargs.get("headers")),
            kwargs.get("data"),
            merge_hooks(kwargs.get("hooks") or {}, self.hooks),
        )
        stream = kwargs.get("stream")
        return self.send(
            prepared,
            timeout=kwargs.get("timeout"),
            allow_redirects=kwargs.get("allow_redirects", True),
            stream=self.stream if stream is None else stream,
            proxies={},
        )

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """``Session.send`` for a call that does not follow redirects and has no cookies to
        keep: the adapter, the elapsed time and the response hooks, as requests runs them.

        What else ``Session.send`` does is idle for an answer made here: it resolves
        proxies (none apply), keeps the answer's cookies (read from the connection's own
        response, which an in-process answer does not have: requests keeps none either),
        and offers ``Response.next`` for a redirect (the sandbox answers none). A call
        that follows redirects, on a session holding cookies, takes requests' own path.
        """
        if kwargs.get("allow_redirects", True) or self.cookies:
            return super().send(request, **kwargs)
        kwargs.pop("allow_redirects")
        kwargs.setdefault("stream", self.stream)
        kwargs.setdefault("verify", self.verify)
        kwargs.setdefault("cert", self.cert)
        kwargs.setdefault("proxies", {})
        adapter = self.get_adapter(url=request.url or "")
        start = time.perf_counter()
        response = adapter.send(request, **kwargs)
        response.elapsed = timedelta(seconds=time.perf_counter() - start)
        response = dispatch_hook("response", request.hooks, response, **kwargs)
        if not kwargs["stream"]:
            response.content  # noqa: B018  # read now, as requests does
        return response

    def _headers_with(self, headers: Mapping[str, Any] | None) -> dict[str, Any]:
        """The session's headers then the call's, as requests merges them: a name the call
        repeats in another case is set again, and ``prepare_headers`` keeps the last value;
        a name the call sets to None is dropped."""
        merged = {**self.headers, **(headers or {})}
        dropped = {name.lower() for name, value in merged.items() if value is None}
        if dropped:
            merged = {k: v for k, v in merged.items() if k.lower() not in dropped}
        return merged


_LEAN: Final = frozenset({"data", "headers", "timeout", "allow_redirects", "stream", "hooks"})
_BASE: Final = IN_PROCESS_URL + "/"


def in_process_session(router: Router, *, retries: int = 3) -> requests.Session:
    """A session like the client's own (its retry policy) with ``router`` mounted for
    ``IN_PROCESS_URL``; nothing of the environment applies to it (``trust_env`` off)."""
    session = InProcessSession()
    session.trust_env = False
    session.mount(IN_PROCESS_URL + "/", in_process_adapter(router, retries=retries))
    return session


def in_process_adapter(router: Router, *, retries: int = 3) -> InProcessAdapter:
    """An adapter for ``router`` retrying as a client made with ``retries`` does."""
    return InProcessAdapter(router, max_retries=retry_policy(retries))
