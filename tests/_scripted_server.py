"""A real HTTP server on 127.0.0.1 that answers from a script and records every request.

For the transport tests: faults the sandbox has no reason to produce (a 503 storm, a stall,
a body that is not JSON, a redirect, an answer trickled a byte at a time, an answer cut off
inside its headers, an endless body) are scripted here, over real sockets, instead of mocking
requests.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_CHUNK = 65536


@dataclass
class Reply:
    """One scripted answer.

    ``delay`` stalls before answering (to provoke a read timeout); ``trickle`` sends the whole
    answer, head included, one byte per ``trickle`` seconds; ``raw`` is written as it is (no
    status line or headers added) and the connection then closes; ``filler`` appends that many
    spaces to ``body``, streamed in chunks, with a Content-Length unless ``length`` is False
    (then the end of the body is the connection's close).
    """

    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    trickle: float = 0.0
    raw: bytes | None = None
    filler: int = 0
    length: bool = True


@dataclass
class Seen:
    """One request as it arrived on the wire."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """Serve ``replies`` in order (the last one repeats); ``seen`` lists what arrived.

    ``connections`` counts every connection accepted, even one that never sent a request;
    ``sent`` counts the bytes of answers written.
    """

    def __init__(self, replies: list[Reply], *, host: str = "127.0.0.1") -> None:
        self.replies = list(replies)
        self.seen: list[Seen] = []
        self.connections = 0
        self.sent = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                server.connections += 1
                super().setup()

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                reply = server.replies.pop(0) if len(server.replies) > 1 else server.replies[0]
                time.sleep(reply.delay)
                if reply.raw is not None:
                    self._send(reply.raw, reply.trickle)
                    self.close_connection = True
                    return
                self._send(self._head(reply) + reply.body, reply.trickle)
                self._send_filler(reply.filler)
                if not reply.length:
                    self.close_connection = True

            def _head(self, reply: Reply) -> bytes:
                lines = [f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('',))[0]}"]
                lines += [f"{name}: {value}" for name, value in reply.headers.items()]
                if reply.length:
                    lines.append(f"Content-Length: {len(reply.body) + reply.filler}")
                else:
                    lines.append("Connection: close")
                return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

            def _send(self, data: bytes, trickle: float) -> None:
                try:
                    if not trickle:
                        self.wfile.write(data)
                        server.sent += len(data)
                        return
                    for index in range(len(data)):
                        self.wfile.write(data[index : index + 1])
                        self.wfile.flush()
                        server.sent += 1
                        time.sleep(trickle)
                except OSError:  # the client gave up: that is what the test is about
                    self.close_connection = True

            def _send_filler(self, size: int) -> None:
                chunk = b" " * _CHUNK
                try:
                    while size > 0:
                        part = chunk[: min(size, _CHUNK)]
                        self.wfile.write(part)
                        server.sent += len(part)
                        size -= len(part)
                except OSError:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer((host, 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
