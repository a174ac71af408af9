"""Every call the sandbox answers, each declared once (moto's ``urls.py``, and a little more).

An ``Operation`` names one call and gives its method, path template, handler, summary, success
status and schemas. Everything else is derived from ``OPERATIONS``: the route table, 405
``Allow`` lists and ``operation_of`` (``_routes``); the names a fault or a stats query may use
(``ROUTABLE``, with the friendlier ``ALIASES``); the fault controls no fault breaks
(``CONTROL_PATHS``); and the OpenAPI paths, whose ``operationId`` is the same name
(``_openapi``). The name is the one faults, stats and the document all use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from verigator_nb.sandbox import _responses as r
from verigator_nb.sandbox import _server_responses as s
from verigator_nb.sandbox._responses import Handler

__all__ = [
    "ALIASES",
    "CONTROL_PATHS",
    "OPERATIONS",
    "PATH_PARAM",
    "ROUTABLE",
    "TAG_FAULTS",
    "TAG_SANDBOX",
    "TAG_VERIGATOR",
    "Operation",
    "routable_name",
]

TAG_VERIGATOR: Final = "verigator"  # the Verigator API's own calls
TAG_SANDBOX: Final = "sandbox"  # sandbox-only calls that play the user
TAG_FAULTS: Final = "faults"  # sandbox-only calls that break it on purpose, and count calls
PATH_PARAM: Final = re.compile(r"\{(\w+)\}")  # a parameter in a path template, and its name


@dataclass(frozen=True)
class Operation:
    """One call: ``method path`` answered by ``handler`` with ``ok`` and a ``response`` body.

    ``path`` is an OpenAPI template; its ``{parameters}`` reach the handler by those names.
    ``response`` and ``body`` name schemas of the OpenAPI document (``body``: the request's,
    if it takes one). ``errors`` are the error statuses it answers besides 401, which every
    call but a ``public`` one answers; ``notes`` say what some of them mean for this call.
    ``query`` maps optional query parameters to what they do. ``alias`` is a friendlier name
    a fault may use. Calls tagged ``TAG_FAULTS`` are controls: never broken, never counted.
    """

    name: str
    method: str
    path: str
    handler: Handler
    summary: str
    response: str
    ok: int = 200
    body: str | None = None
    errors: tuple[int, ...] = ()
    notes: Mapping[int, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    tag: str = TAG_VERIGATOR
    alias: str | None = None
    public: bool = False

    def __post_init__(self) -> None:
        if not (self.method.isupper() and self.path.startswith("/")):
            raise ValueError(f"{self.name}: method must be upper case, path start with /")
        if self.control and self.params:  # the server spots a control by its literal path
            raise ValueError(f"{self.name}: a control's path cannot have parameters")
        if not self.notes.keys() <= set(self.errors):
            raise ValueError(f"{self.name}: notes may only describe statuses in errors")

    @property
    def params(self) -> tuple[str, ...]:
        """The path parameters' names, in order (``serviceId``, ``userId``)."""
        return tuple(PATH_PARAM.findall(self.path))

    @property
    def control(self) -> bool:
        """True for the fault and stats calls, which no fault breaks and no count counts."""
        return self.tag == TAG_FAULTS

    @property
    def plays_user(self) -> bool:
        """True for the play-the-user calls (outbox, TOTP app, clock), which can be turned off."""
        return self.tag == TAG_SANDBOX and not self.public


_SERVICE = "/v1/service/service/{serviceId}"
_USER = _SERVICE + "/users/{userId}"
_APP = "/sandbox/services/{serviceId}/users/{userId}/totp"
_SCOPED = (403, 404)  # a service or user in the path: another account's, or none

# The verify and start calls come first: the router tries paths in this order.
OPERATIONS: Final[tuple[Operation, ...]] = (
    Operation(
        "verify_auth", "PUT", _USER + "/auth", r.verify_auth,
        "Verify the PIN or TOTP code the user typed", "Verification",
        body="AuthVerify", errors=(*_SCOPED, 422), alias="verify",
    ),
    Operation(
        "start_auth", "POST", _USER + "/auth", r.start_auth,
        "Start authentication (409 while the user is locked out)", "AuthStarted",
        body="AuthStart", errors=(*_SCOPED, 409, 422), alias="initiate",
    ),
    Operation(
        "create_service", "POST", "/v1/service/service", r.create_service,
        "Create a service", "Service", ok=201, body="ServiceCreate", errors=(409, 422),
    ),
    Operation(
        "get_service", "GET", _SERVICE, r.get_service, "Get a service", "Service",
        errors=_SCOPED,
    ),
    Operation(
        "delete_service", "DELETE", _SERVICE, r.delete_service,
        "Delete a service (409 while it has users)", "Empty", ok=202, errors=(*_SCOPED, 409),
    ),
    Operation(
        "list_users", "GET", _SERVICE + "/users", r.list_users, "List users", "UserList",
        errors=_SCOPED,
    ),
    Operation(
        "create_user", "POST", _SERVICE + "/users", r.create_user, "Add a user", "User",
        ok=201, body="UserCreate", errors=(*_SCOPED, 409, 422),
    ),
    Operation("get_user", "GET", _USER, r.get_user, "Get a user", "User", errors=_SCOPED),
    Operation(
        "delete_user", "DELETE", _USER, r.delete_user, "Delete a user", "Empty", ok=202,
        errors=_SCOPED,
    ),
    Operation(
        "enrol_totp", "POST", _APP, r.enrol_totp,
        "Enrol (or replace) the user's authenticator app", "TotpEnrolment",
        errors=_SCOPED, tag=TAG_SANDBOX,
    ),
    Operation(
        "get_totp_code", "GET", _APP, r.get_totp_code,
        "The code the user's app shows now (404 without an app)", "TotpCode",
        errors=_SCOPED, tag=TAG_SANDBOX,
    ),
    Operation(
        "outbox", "GET", "/sandbox/outbox", r.outbox,
        "SMS sent to the caller's users, oldest first", "Outbox",
        query={"auth_id": "only the SMS sent for this auth_id"}, tag=TAG_SANDBOX,
    ),
    Operation(
        "get_clock", "GET", "/sandbox/clock", r.get_clock, "The sandbox clock", "Clock",
        tag=TAG_SANDBOX,
    ),
    Operation(
        "advance_clock", "POST", "/sandbox/clock", r.advance_clock,
        "Advance the sandbox clock (403 unless started with --shared-clock-control)", "Clock",
        body="ClockAdvance", errors=(403, 422), tag=TAG_SANDBOX,
        notes={403: "Moving the shared clock is off (start with --shared-clock-control)."},
    ),
    Operation(
        "get_faults", "GET", "/sandbox/faults", s.get_faults, "The caller's fault plan",
        "FaultPlan", tag=TAG_FAULTS,
    ),
    Operation(
        "set_faults", "POST", "/sandbox/faults", s.set_faults,
        "Replace the caller's fault plan (403 unless started with --remote-faults)", "FaultPlan",
        body="FaultList", errors=(403, 422), tag=TAG_FAULTS,
        notes={403: "Fault injection over HTTP is off (start with --remote-faults)."},
    ),
    Operation(
        "clear_faults", "DELETE", "/sandbox/faults", s.clear_faults,
        "Remove every fault of the caller's plan", "FaultPlan", tag=TAG_FAULTS,
    ),
    Operation(
        "get_stats", "GET", "/sandbox/stats", s.get_stats,
        "The caller's calls that reached the server, and faults injected into them", "Stats",
        errors=(422,),
        notes={422: "`route` is not a route a fault could name, or names part of an operation."},
        query={"route": "count only calls on this route, written as a fault's"},
        tag=TAG_FAULTS,
    ),
    Operation(
        "openapi", "GET", "/openapi.json", s.get_openapi, "This document", "OpenApi",
        tag=TAG_SANDBOX, public=True,
    ),
)  # fmt: skip


def _unique(operations: tuple[Operation, ...]) -> None:
    """Refuse a table where two operations share a name, an alias or a method and path."""
    names = [n for op in operations for n in (op.name, op.alias) if n is not None]
    calls = [(op.method, op.path) for op in operations]
    if len(set(names)) < len(names) or len(set(calls)) < len(calls):
        raise ValueError("each operation needs its own name, alias, and method and path")


_unique(OPERATIONS)

# The names a fault route or a stats query may use: every call but the controls.
ROUTABLE: Final = tuple(op.name for op in OPERATIONS if not op.control)
ALIASES: Final[Mapping[str, str]] = {
    op.alias: op.name for op in OPERATIONS if op.alias is not None and not op.control
}
# Never broken (a "*" stall must not lock out its own DELETE), never counted (reading the
# stats must not change them).
CONTROL_PATHS: Final = frozenset(op.path for op in OPERATIONS if op.control)


def routable_name(route: str) -> str:
    """The operation a fault route names (``verify`` → ``verify_auth``); ValueError if none."""
    name = ALIASES.get(route, route)
    if name not in ROUTABLE:
        known = ", ".join([*ALIASES, *ROUTABLE])
        raise ValueError(f"unknown operation {route[:40]!r}; known: {known}")
    return name
