"""The route table derived from ``_operations``, and the HTTP-agnostic ``Router``.

``Router(backend).dispatch(method, path, headers, body)`` answers one request as a ``Reply``
``(status, body, headers)``: unknown path 404, known path with another method 405 (with
``Allow``), then ``X-Service-Auth`` (401) for every operation but a public one, then the
handler, answered with its operation's status. Every ``SandboxError`` becomes JSON through
``_errors.error_reply``; anything else is a 500 ``{"message": "internal error"}`` with no
traceback sent (it goes to the module logger).

The router also owns the HTTP layer's state, which the backend knows nothing of: one
``FaultPlan`` per account (what to break on purpose in that account's calls) and the
``Traffic`` (what arrived, per caller and operation). ``admit`` counts a call and draws its
fault, leaving out the controls. ``operation_of(method, path)`` names the operation a call
reaches, for fault routes and counts.

Two switches are the server's, not the callers': ``shared_clock_control`` (may callers move
the clock every account shares?) and ``user_endpoints`` (are the play-the-user calls served
at all? When off they answer 404, whatever the method, and are left out of the document).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any, NamedTuple, TypeAlias, cast
from urllib.parse import parse_qsl, unquote

from verigator_nb.sandbox._backend import SandboxBackend
from verigator_nb.sandbox._errors import (
    MethodNotAllowed,
    NotFound,
    SandboxError,
    Unauthorized,
    error_reply,
)
from verigator_nb.sandbox._faults import Fault, FaultPlan
from verigator_nb.sandbox._openapi import openapi_bytes
from verigator_nb.sandbox._operations import CONTROL_PATHS, OPERATIONS, PATH_PARAM, Operation
from verigator_nb.sandbox._responses import Request
from verigator_nb.sandbox._traffic import ANONYMOUS, Traffic

__all__ = ["ROUTES", "Admitted", "Reply", "Route", "Router", "encode_body", "operation_of"]

_log = logging.getLogger("verigator_nb.sandbox")
_NO_HEADERS: dict[str, str] = {}
_encode = json.JSONEncoder(separators=(",", ":")).encode

# A dict (tests, WSGI adapters) or http.server's case-insensitive header Message.
Headers: TypeAlias = "Mapping[str, str] | Message[str, str]"


class Reply(NamedTuple):
    """One answer: status, a JSON-able body (or pre-encoded JSON bytes), extra headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = _NO_HEADERS


def encode_body(body: Any) -> bytes:
    """A ``Reply`` body as the bytes sent: compact JSON, or the bytes as they are."""
    return body if isinstance(body, bytes) else _encode(body).encode()


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

    @property
    def plays_user(self) -> bool:
        """True when every call on this path plays the user (all off without user endpoints)."""
        return all(operation.plays_user for operation in self.operations.values())


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


def _literal_routes(routes: tuple[Route, ...]) -> dict[str, Route]:
    """The routes without parameters, by path, that a scan in declaration order would find
    first for their own path (a template declared before one may match it too)."""
    found: dict[str, Route] = {}
    for index, route in enumerate(routes):
        shadowed = any(earlier.pattern.fullmatch(route.path) for earlier in routes[:index])
        if not PATH_PARAM.search(route.path) and not shadowed:
            found[route.path] = route
    return found


# A path is looked up, then matched against the other routes in order: a route without
# parameters matches only its own path. The play-the-user paths are declared last, so the
# lookup saves most patterns on the calls a simulation makes most.
_LITERAL_ROUTES: dict[str, Route] = _literal_routes(ROUTES)
_SCANNED_ROUTES: tuple[Route, ...] = tuple(
    route for route in ROUTES if _LITERAL_ROUTES.get(route.path) is not route
)


def _find(path: str) -> tuple[Route, re.Match[str]] | None:
    """The route answering ``path`` (the first declared, for a path two could match) and the
    match holding its parameters; None when no route does."""
    literal = _LITERAL_ROUTES.get(path)
    if literal is not None:
        return literal, cast(re.Match[str], literal.pattern.fullmatch(path))
    for route in _SCANNED_ROUTES:
        match = route.pattern.fullmatch(path)
        if match is not None:
            return route, match
    return None


def operation_of(method: str, path: str) -> str | None:
    """The name of the operation answering ``method path`` (``verify_auth``...), else None."""
    found = _find(path.partition("?")[0])
    operation = None if found is None else found[0].operations.get(method)
    return None if operation is None else operation.name


@dataclass(frozen=True)
class Admitted:
    """A call as ``Router.admit`` found it: its headers, its caller and the fault drawn.

    ``account`` is the checked caller (``ANONYMOUS``: no valid credentials; None: not
    checked, as for the controls); ``fault`` breaks the call (None: answer it as usual).
    """

    headers: Headers
    account: str | None = None
    fault: Fault | None = None


def _header(headers: Headers, name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict is case-sensitive; HTTP header names are not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


class Router:
    """Answers requests for one backend; safe to call from many threads at once.

    Owns a fault plan per account (seeded from the backend's seed; ``remote_faults`` lets
    clients replace their own over HTTP) and the traffic count. ``shared_clock_control``
    lets callers advance the clock (off by default: it is shared by every account);
    ``user_endpoints=False`` answers the play-the-user calls 404.
    """

    def __init__(
        self,
        backend: SandboxBackend,
        *,
        remote_faults: bool = False,
        shared_clock_control: bool = False,
        user_endpoints: bool = True,
    ) -> None:
        self.backend = backend
        self.shared_clock_control = shared_clock_control
        self.user_endpoints = user_endpoints
        first = backend.usernames[0]
        self.plans: Mapping[str, FaultPlan] = {
            name: FaultPlan(
                backend.seed, remote=remote_faults, stream="" if name == first else name
            )
            for name in backend.usernames
        }
        self.traffic = Traffic()

    @property
    def faults(self) -> FaultPlan:
        """The first account's fault plan (the one ``Sandbox.inject`` fills by default)."""
        return self.plans[self.backend.usernames[0]]

    def plan(self, account: str) -> FaultPlan:
        """``account``'s fault plan; KeyError for a name that is not an account."""
        return self.plans[account]

    @property
    def document(self) -> bytes:
        """The OpenAPI document, encoded as ``GET /openapi.json`` serves it."""
        return openapi_bytes(user_endpoints=self.user_endpoints)

    def operation_of(self, method: str, path: str) -> str | None:
        """The operation answering ``method path`` on this server (None: 404 or 405)."""
        found = _find(path.partition("?")[0])
        if found is None or self._hidden(found[0]):
            return None
        operation = found[0].operations.get(method)
        return None if operation is None else operation.name

    def admit(self, method: str, path: str, headers: Headers = _NO_HEADERS) -> Admitted:
        """Count a call as it arrives and draw the fault to break it with, if any.

        The call is counted for the account its ``X-Service-Auth`` names (``ANONYMOUS`` when
        missing or wrong) and may be broken only by that account's plan. The controls
        (``CONTROL_PATHS``) are neither counted nor broken. Pass the answer to ``dispatch``
        in place of the headers: the password is then compared once per call.
        """
        path = path.partition("?")[0]
        if path in CONTROL_PATHS:
            return Admitted(headers)
        operation = self.operation_of(method, path)
        account = self._caller(headers)
        self.traffic.record(account, operation)
        plan = self.plans.get(account)
        if not plan:  # anonymous, or no faults: the fast path
            return Admitted(headers, account)
        return Admitted(headers, account, plan.draw(method, path, lambda _m, _p: operation))

    def _caller(self, headers: Headers) -> str:
        credentials = _header(headers, "X-Service-Auth")
        if credentials is None:
            return ANONYMOUS
        try:
            return self.backend.authenticate(credentials)
        except SandboxError:
            return ANONYMOUS

    def _account(self, headers: Headers | Admitted) -> str:
        """The caller's account for a call that needs one; 401 without valid credentials."""
        if isinstance(headers, Admitted) and headers.account is not None:
            if headers.account == ANONYMOUS:
                raise Unauthorized()
            return headers.account
        raw = headers.headers if isinstance(headers, Admitted) else headers
        return self.backend.authenticate(_header(raw, "X-Service-Auth"))

    def _hidden(self, route: Route) -> bool:
        return not self.user_endpoints and route.plays_user

    def dispatch(
        self, method: str, path: str, headers: Headers | Admitted, body: bytes = b""
    ) -> Reply:
        """Answer one request (``headers``: as sent, or as ``admit`` answered); never raises."""
        try:
            return self._dispatch(method, path, headers, body)
        except SandboxError as exc:
            return Reply(*error_reply(exc))
        except Exception:
            _log.exception("sandbox handler failed for %s %s", method[:16], path[:200])
            return Reply(500, {"message": "internal error"})

    def _dispatch(self, method: str, path: str, headers: Headers | Admitted, body: bytes) -> Reply:
        path, _, query = path.partition("?")
        found = _find(path)
        if found is None or self._hidden(found[0]):
            raise NotFound("no such path")
        route, match = found
        operation = route.operations.get(method)
        if operation is None:
            raise MethodNotAllowed(method, route.allow)
        account = "" if operation.public else self._account(headers)
        params = {k: unquote(v) if "%" in v else v for k, v in match.groupdict().items()}
        arguments = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
        request = Request(account, params, body, arguments)
        return Reply(operation.ok, operation.handler(self, request))

    def __repr__(self) -> str:
        return f"Router({self.backend!r}, traffic={self.traffic!r})"
