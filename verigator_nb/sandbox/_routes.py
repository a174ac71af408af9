"""The route table and the HTTP-agnostic dispatcher (moto's ``urls.py`` plus its glue).

``Router(backend).dispatch(method, path, headers, body)`` answers one request as a ``Reply``
``(status, body, headers)``: unknown path 404, known path with another method 405 (with
``Allow``), then ``X-Service-Auth`` (401) for every route but ``/openapi.json``, then the
handler. Every ``SandboxError`` becomes JSON through ``_errors.error_reply``; anything else is
a 500 ``{"message": "internal error"}`` with no traceback sent (it goes to the module logger).
``operation_of(method, path)`` names the handler a call reaches, for fault routes and counts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any, NamedTuple, TypeAlias
from urllib.parse import parse_qsl, unquote

from verigator_nb.sandbox import _responses as r
from verigator_nb.sandbox._backend import SandboxBackend
from verigator_nb.sandbox._errors import (
    InvalidData,
    MethodNotAllowed,
    NotFound,
    SandboxError,
    error_reply,
)
from verigator_nb.sandbox._openapi import openapi_bytes

__all__ = ["ROUTES", "Reply", "Route", "Router", "operation_of"]

_log = logging.getLogger("verigator_nb.sandbox")
_NO_HEADERS: dict[str, str] = {}
_SERVICE = "/v1/service/service/(?P<sid>[^/]+)"
_USER = _SERVICE + "/users/(?P<uid>[^/]+)"
_APP = "/sandbox/services/(?P<sid>[^/]+)/users/(?P<uid>[^/]+)/totp"


# A dict (tests, WSGI adapters) or http.server's case-insensitive header Message.
Headers: TypeAlias = "Mapping[str, str] | Message[str, str]"


class Reply(NamedTuple):
    """One answer: status, a JSON-able body (or pre-encoded JSON bytes), extra headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = _NO_HEADERS


@dataclass(frozen=True)
class Route:
    """A path pattern and its handler per method; ``public`` routes need no auth."""

    pattern: re.Pattern[str]
    handlers: Mapping[str, r.Handler]
    public: bool = False

    @property
    def allow(self) -> tuple[str, ...]:
        """The methods this path answers."""
        return tuple(self.handlers)


def _route(pattern: str, public: bool = False, **handlers: r.Handler) -> Route:
    return Route(re.compile(pattern), handlers, public)


def _openapi(backend: SandboxBackend, request: r.Request) -> tuple[int, Any]:
    return 200, openapi_bytes()


def _stats(backend: SandboxBackend, request: r.Request) -> tuple[int, Any]:
    """``GET /sandbox/stats[?route=R]``: calls that reached the server, faults injected."""
    traffic = backend.traffic
    answer: dict[str, Any] = {
        "requests": traffic.total,
        "by_operation": traffic.by_operation(operation_of),
        "faults_injected": backend.faults.injected,
    }
    if "route" in request.query:
        try:
            answer["matched"] = traffic.count(request.query["route"], operation_of)
        except ValueError as exc:
            raise InvalidData(str(exc)) from None
    return 200, answer


# The verify and start routes come first: they are the hot path.
ROUTES: tuple[Route, ...] = (
    _route(_USER + "/auth", PUT=r.verify_auth, POST=r.start_auth),
    _route("/v1/service/service", POST=r.create_service),
    _route(_SERVICE, GET=r.get_service, DELETE=r.delete_service),
    _route(_SERVICE + "/users", GET=r.list_users, POST=r.create_user),
    _route(_USER, GET=r.get_user, DELETE=r.delete_user),
    _route(_APP, POST=r.enrol_totp, GET=r.get_totp_code),
    _route("/sandbox/outbox", GET=r.outbox),
    _route("/sandbox/clock", GET=r.get_clock, POST=r.advance_clock),
    _route("/sandbox/faults", GET=r.get_faults, POST=r.set_faults, DELETE=r.clear_faults),
    _route("/sandbox/stats", GET=_stats),
    _route("/openapi.json", public=True, GET=_openapi),
)


def operation_of(method: str, path: str) -> str | None:
    """The name of the handler answering ``method path`` (``verify_auth``...), else None."""
    path = path.partition("?")[0]
    for route in ROUTES:
        if route.pattern.fullmatch(path):
            handler = route.handlers.get(method)
            return None if handler is None else handler.__name__.lstrip("_")
    return None


def _header(headers: Headers, name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict is case-sensitive; HTTP header names are not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


class Router:
    """Answers requests for one backend; safe to call from many threads at once."""

    def __init__(self, backend: SandboxBackend, routes: tuple[Route, ...] = ROUTES) -> None:
        self.backend = backend
        self._routes = routes

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
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match is not None:
                break
        else:
            raise NotFound("no such path")
        handler = route.handlers.get(method)
        if handler is None:
            raise MethodNotAllowed(method, route.allow)
        account = (
            "" if route.public else self.backend.authenticate(_header(headers, "X-Service-Auth"))
        )
        params = {k: unquote(v) if "%" in v else v for k, v in match.groupdict().items()}
        arguments = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
        status, payload = handler(self.backend, r.Request(account, params, body, arguments))
        return Reply(status, payload)
