"""The HTTP glue: a stdlib ``ThreadingHTTPServer`` in front of the ``Router``.

Lean on purpose (a verify round trip should cost little more than the least a Python HTTP
server can do): HTTP/1.1 keep-alive, Nagle off, the body read by ``Content-Length``, one
``json`` encoding and one socket write per answer, ``Content-Length`` always set. Bodies over
``MAX_BODY`` are drained and refused with 413, chunked bodies with 411, and a bad
``Content-Length`` with 400 — all as JSON, all closing the connection. Nothing is logged:
``log_message`` is silenced so paths, headers and bodies never reach a log.

Every call is counted as it arrives and, when its caller's ``FaultPlan`` has faults, may be
broken on purpose (``Router.admit`` decides): ``_Handler._inject`` is the one place that
happens, following ``_breaking`` as the in-process transport does (see ``_faults`` for the
kinds and what ``when`` means).

``serve(backend)`` binds and returns a ``SandboxServer``; ``run()`` serves until ``stop()``
(from any thread), which also closes the listening socket and every open connection.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import selectors
import socket
import struct
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any

from verigator_nb.sandbox._backend import SandboxBackend
from verigator_nb.sandbox._breaking import broken_reply
from verigator_nb.sandbox._errors import SandboxError, error_reply
from verigator_nb.sandbox._faults import Fault
from verigator_nb.sandbox._limits import (
    IDLE_TIMEOUT,
    MAX_BODY,
    declared_length,
    too_large,
    too_short,
)
from verigator_nb.sandbox._routes import Admitted, Reply, Router, encode_body

__all__ = ["SandboxServer", "serve"]

_DRAIN_LIMIT = 64 << 20  # drained so the client reads the 413 instead of a reset
_DRAIN_TIMEOUT = 5.0
_log = logging.getLogger("verigator_nb.sandbox")
_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n" for s in HTTPStatus}
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN


class _Handler(BaseHTTPRequestHandler):
    """One connection: parse each request, dispatch it, answer in one write."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT
    server: SandboxServer

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except SandboxError as exc:
            self.close_connection = True
            self._send(Reply(*error_reply(exc)))
            return
        admitted = self.server.router.admit(self.command, self.path, self.headers)
        if admitted.fault is None:
            self._send(self._dispatch(admitted, body))
        else:
            self._inject(admitted.fault, admitted, body)

    def _dispatch(self, admitted: Admitted, body: bytes) -> Reply:
        return self.server.router.dispatch(self.command, self.path, admitted, body)

    def _inject(self, fault: Fault, admitted: Admitted, body: bytes) -> None:
        """Break this call as ``fault`` says (``_breaking``): a reply, a reset or a close."""
        reply = broken_reply(fault, lambda: self._dispatch(admitted, body), self.server.pause)
        if reply is None:
            self._drop(reset=fault.kind == "reset")
        else:
            self._send(reply)

    def _drop(self, *, reset: bool) -> None:
        """End the connection without an answer: a TCP reset, or a plain close."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
            self.rfile.close()  # it holds a reference to the socket: close() would wait for it
            self.connection.close()

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def __getattr__(self, name: str) -> Any:
        # Any other method (PATCH, OPTIONS, HEAD, BREW...) is routed too, so it gets a JSON
        # 404 or 405 rather than http.server's HTML 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        headers = self.headers
        length = declared_length(
            headers.get("Transfer-Encoding"), headers.get_all("Content-Length") or []
        )
        if length > MAX_BODY:
            self._drain(length)
            raise too_large()
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise too_short()
        return body

    def _drain(self, length: int) -> None:
        """Read and drop a refused body, so closing does not reset the client's send."""
        if length > _DRAIN_LIMIT:
            return
        self.connection.settimeout(_DRAIN_TIMEOUT)
        try:
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 16))
                if not chunk:
                    break
                length -= len(chunk)
        except OSError:
            pass

    def _send(self, reply: Reply) -> None:
        status, payload, extra = reply
        data = encode_body(payload)
        head = (
            _STATUS_LINES.get(status) or f"HTTP/1.1 {status} Error\r\n"
        ) + f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        for name, value in extra.items():
            head += f"{name}: {value}\r\n"
        if self.close_connection:
            head += "Connection: close\r\n"
        if getattr(self, "command", None) == "HEAD":
            data = b""
        self.wfile.write((head + "\r\n").encode("latin-1") + data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, headers too long) as JSON too."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self._send(Reply(code, {"message": phrase.lower()}))

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: request lines and headers must never reach a log."""


class SandboxServer(ThreadingHTTPServer):
    """The sandbox's HTTP server: daemon threads, prompt ``stop()``, no logging."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, router: Router, host: str = "127.0.0.1", port: int = 0) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.router = router
        self._stopping = False
        self._state_lock = threading.Lock()
        self._runner: int | None = None
        self._stopped = threading.Event()
        self._stopped.set()
        self._halted = threading.Event()  # set by stop(): wakes injected latencies and stalls
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._wake_read, self._wake_write = socket.socketpair()
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s reverse DNS lookup of the host (slow, unneeded)."""
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    @property
    def loopback_only(self) -> bool:
        """True when the listening address is a loopback one (only this machine can connect)."""
        host = str(self.server_address[0]).partition("%")[0]
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def url(self) -> str:
        """``http://host:port`` of the listening socket."""
        address, port = self.server_address[:2]
        host = address.decode() if isinstance(address, bytes) else str(address)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def run(self) -> None:
        """Serve until ``stop()`` is called (or the calling thread is interrupted)."""
        with self._state_lock:
            if self._stopping:
                return
            self._runner = threading.get_ident()
            self._stopped.clear()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                selector.register(self._wake_read, selectors.EVENT_READ)
                while not self._stopping:
                    for key, _ in selector.select():
                        if key.fileobj is self.socket and not self._stopping:
                            self._accept()
        finally:
            self._stopped.set()

    def _accept(self) -> None:
        # socketserver's private _handle_request_noblock, minus the private name.
        try:
            request, client_address = self.get_request()
        except OSError:
            return
        try:
            self.process_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            self.shutdown_request(request)

    def stop(self) -> None:
        """Stop serving, close the listening socket and every open connection (idempotent)."""
        with self._state_lock:
            if self._stopping:
                return
            self._stopping = True
        self._halted.set()
        with contextlib.suppress(OSError):
            self._wake_write.send(b"\0")
        if self._runner != threading.get_ident():
            self._stopped.wait(timeout=5.0)
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._wake_read.close()
        self._wake_write.close()

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` (an injected delay), or less if the server stops meanwhile."""
        self._halted.wait(seconds)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection so ``stop()`` can close it, then serve it in a thread."""
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget and close a finished connection."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection broke mid-answer (client gone, server stopping): nothing to tell."""
        _log.debug("sandbox connection error", exc_info=True)


def serve(
    backend: SandboxBackend,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    remote_faults: bool = False,
    shared_clock_control: bool = False,
    user_endpoints: bool = True,
) -> SandboxServer:
    """A ``SandboxServer`` for ``backend``, bound and listening; call ``run()`` to serve.

    ``port=0`` picks a free port (read it from ``.url``); ``remote_faults`` lets clients set
    faults (each its own) over HTTP; ``shared_clock_control`` lets them advance the clock
    every account shares (off: a server others use should not let one account expire the
    others' PINs); ``user_endpoints=False`` leaves out the play-the-user calls (outbox, TOTP
    app, clock). Raises ``OSError`` when the address is taken or invalid.
    """
    router = Router(
        backend,
        remote_faults=remote_faults,
        shared_clock_control=shared_clock_control,
        user_endpoints=user_endpoints,
    )
    return SandboxServer(router, host, port)
