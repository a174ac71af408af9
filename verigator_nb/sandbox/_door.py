"""``InProcessDoor``: ``Api.request`` for a sandbox in this process, without ``requests``.

``SandboxControl`` sends every play-the-user call (outbox, TOTP code, clock, enrol) through a
door. ``Sandbox.control`` gives an in-process client this one: the call goes straight to the
``InProcessAdapter``'s ``answer`` — the router, the client's retry policy and the faults,
exactly as for the client's own calls — and its answer is decoded as ``Api.request`` decodes
one: the JSON (a small success answer is handed over as the handler built it, which is what
decoding its JSON would give), or the same typed errors (one class per error status,
``ConnectionFailedError``, ``RequestTimeoutError``, ``InvalidResponseError`` for an answer
that is not JSON or larger than the client reads). Only the ``requests`` round trip is gone:
most of a call's cost here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from urllib3.exceptions import MaxRetryError, ProtocolError, ReadTimeoutError

from verigator_nb.client import MAX_ANSWER_BYTES, decode_answer
from verigator_nb.errors import (
    ConnectionFailedError,
    InvalidResponseError,
    RequestTimeoutError,
    TransportError,
)
from verigator_nb.sandbox._in_process import InProcessAdapter, reason_phrase
from verigator_nb.sandbox._routes import encode_body

__all__ = ["InProcessDoor"]

_encode = json.JSONEncoder(separators=(",", ":")).encode  # as the client encodes bodies


class InProcessDoor:
    """``Api.request`` for one account of an in-process sandbox, without ``requests``.

    ``door(method, path, body)`` returns the decoded JSON answer or raises the typed errors
    ``Api.request`` would (``ConnectionFailedError``, ``RequestTimeoutError``, one class per
    error status, ``InvalidResponseError``), through the same router, retries and faults.
    """

    def __init__(
        self, adapter: InProcessAdapter, credentials: str, *, read_timeout: float | None
    ) -> None:
        self._adapter = adapter
        self._read_timeout = read_timeout
        self._headers = {"X-Service-Auth": credentials, "Accept": "application/json"}

    def __call__(
        self, method: str, path: str, body: Mapping[str, Any] | list[Any] | None = None
    ) -> Any:
        data = None if body is None else _encode(body).encode()
        headers = self._headers
        if data is not None:
            headers = {
                **headers,
                "Content-Type": "application/json",
                "Content-Length": str(len(data)),
            }
        try:
            status, payload, _ = self._adapter.answer(
                method, path, headers, data, self._read_timeout
            )
        except (ProtocolError, ReadTimeoutError, MaxRetryError) as exc:
            raise self._failure(exc, method, path) from None
        if 200 <= status < 300 and isinstance(payload, dict) and not _holds_list(payload):
            # A handler's answer is built afresh of JSON's own types: decoding its encoding
            # would give it back as it is. One holding a list (an outbox) may be long, so it
            # is encoded, to be measured against the client's cap as over HTTP.
            return payload
        return _decoded(status, encode_body(payload), method, path)

    def _failure(self, exc: Exception, method: str, path: str) -> TransportError:
        reason = exc.reason if isinstance(exc, MaxRetryError) else exc
        if isinstance(reason, ReadTimeoutError):
            message = f"no answer within {self._read_timeout or 0:g} s"
            return RequestTimeoutError(message, method=method, path=path)
        message = "the connection broke before the answer was complete"
        return ConnectionFailedError(message, method=method, path=path)

    def __repr__(self) -> str:
        return f"InProcessDoor(router={self._adapter.router!r})"


def _holds_list(payload: dict[str, Any]) -> bool:
    return any(isinstance(value, list) for value in payload.values())


def _decoded(status: int, content: bytes, method: str, path: str) -> Any:
    """The answer as ``Api.request`` decodes it: JSON, or the typed error of its status."""
    if len(content) > MAX_ANSWER_BYTES and 200 <= status < 300:
        raise InvalidResponseError(
            f"the answer is larger than {MAX_ANSWER_BYTES / 2**20:g} MiB",
            status=status,
            method=method,
            path=path,
        )
    return decode_answer(status, reason_phrase(status), content, method, path)
