"""The route table derived from ``_operations``, and the HTTP-agnostic ``Router``.

``Router(backend).dispatch(method, path, headers, body)`` answers one request as a ``Reply``
``(status, body, headers)``: unknown path 404, known path with another method 405 (with
``Allow``), then ``X-Service-Auth`` (401) for every operation but a public one, then the
handler, answered with its operation's status. Every ``SandboxError`` becomes JSON through
``_errors.error_reply``; anything else is a 500 ``{"message": "internal error"}`` with no
traceback sent (it goes to the module logger).

The router also owns the HTTP layer's state, which the backend knows nothing of: the
``FaultPlan`` (what to break on purpose) and the ``Traffic`` (what arrived). ``admit`` counts a
call and draws its fault, leaving out the controls. ``operation_of(method, path)`` names the
operation a call reaches, for fault routes and counts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any, NamedTuple, TypeAlias
from urllib.parse import parse_qsl, unquote

from verigator_nb.sandbox._backend import SandboxBackend
from verigator_nb.sandbox._errors import MethodNotAllowed, NotFound, SandboxError, error_reply
from verigator_nb.sandbox._faults import Fault, FaultPlan, Traffic
from verigator_nb.sandbox._openapi import openapi_bytes
from verigator_nb.sandbox._operations import CONTROL_PATHS, OPERATIONS, PATH_PARAM, Operation
from verigator_nb.sandbox._responses import Request

__all__ = ["ROUTES", "Reply", "Route", "Router", "operation_of"]

_log = logging.getLogger("verigator_nb.sandbox")
_NO_HEADERS: dict[str, str] = {}

# A dict (tests, WSGI adapters) or http.server's case-insensitive header Message.
Headers: TypeAlias = "Mapping[str, str] | Message[str, str]"


class Reply(NamedTuple):
    """One answer: status, a JSON-able body (or pre-encoded JSON bytes), extra headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = _NO_HEADERS


@dataclass(frozen=True)
class Route:
    """One path template, the pattern matching it, and the operation for each method."""

    path: str
    pattern: re.Pattern[str]
    operations: Mapping[str, Operation]

    @property
    def allow(self) -> tuple[str, ...]:
        """The methods this path answers, in declaration order."""
        return tuple(self.operations)


def _pattern(template: str) -> re.Pattern[str]:
    """``/a/{x}/b`` as a regex with a named group per parameter, matching one segment each."""
    pieces = PATH_PARAM.split(template)  # literal, name, literal, name, ..., literal
    regex = "".join(
        f"(?P<{piece}>[^/]+)" if i % 2 else re.escape(piece) for i, piece in enumerate(pieces)
    )
    return re.compile(regex)


def _routes(operations: tuple[Operation, ...]) -> tuple[Route, ...]:
    """The operations grouped by path, paths in order of first declaration."""
    by_path: dict[str, dict[str, Operation]] = {}
    for operation in operations:
        by_path.setdefault(operation.path, {})[operation.method] = operation
    return tuple(Route(path, _pattern(path), ops) for path, ops in by_path.items())


ROUTES: tuple[Route, ...] = _routes(OPERATIONS)


def _find(path: str) -> tuple[Route, re.Match[str]] | None:
    for route in ROUTES:
        match = route.pattern.fullmatch(path)
        if match is not None:
            return route, match
    return None


def operation_of(method: str, path: str) -> str | None:
    """The name of the operation answering ``method path`` (``verify_auth``...), else None."""
    found = _find(path.partition("?")[0])
    operation = None if found is None else found[0].operations.get(method)
    return None if operation is None else operation.name


def _header(headers: Headers, name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict is case-sensitive; HTTP header names are not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


class Router:
    """Answers requests for one backend; safe to call from many threads at once.

    Owns the fault plan (seeded from the backend's seed; ``remote_faults`` lets clients replace
    it over HTTP) and the traffic count.
    """

    def __init__(self, backend: SandboxBackend, *, remote_faults: bool = False) -> None:
        self.backend = backend
        self.faults = FaultPlan(backend.seed, remote=remote_faults)
        self.traffic = Traffic(operation_of)

    @property
    def document(self) -> bytes:
        """The OpenAPI document, encoded as ``GET /openapi.json`` serves it."""
        return openapi_bytes()

    def admit(self, method: str, path: str) -> Fault | None:
        """Count a call as it arrives and draw the fault to break it with, if any.

        The controls (``CONTROL_PATHS``) are neither counted nor broken.
        """
        path = path.partition("?")[0]
        if path in CONTROL_PATHS:
            return None
        self.traffic.record(method, path)
        faults = self.faults
        return faults.draw(method, path, operation_of) if faults else None

    def dispatch(self, method: str, path: str, headers: Headers, body: bytes = b"") -> Reply:
        """Answer one request; never raises."""
        try:
            return self._dispatch(method, path, headers, body)
        except SandboxError as exc:
            return Reply(*error_reply(exc))
        except Exception:
            _log.exception("sandbox handler failed for %s %s", method[:16], path[:200])
            return Reply(500, {"message": "internal error"})

    def _dispatch(self, method: str, path: str, headers: Headers, body: bytes) -> Reply:
        path, _, query = path.partition("?")
        found = _find(path)
        if found is None:
            raise NotFound("no such path")
        route, match = found
        operation = route.operations.get(method)
        if operation is None:
            raise MethodNotAllowed(method, route.allow)
        account = ""
        if not operation.public:
            account = self.backend.authenticate(_header(headers, "X-Service-Auth"))
        params = {k: unquote(v) if "%" in v else v for k, v in match.groupdict().items()}
        arguments = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
        request = Request(account, params, body, arguments)
        return Reply(operation.ok, operation.handler(self, request))

    def __repr__(self) -> str:
        return f"Router({self.backend!r}, faults={self.faults!r})"
