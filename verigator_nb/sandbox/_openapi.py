"""The sandbox's OpenAPI 3.0 document, served at ``GET /openapi.json`` (no auth needed).

Derived, not written: one path item per path of ``_operations`` (``operationId`` is the
operation's name, the one faults and stats use), the method and result enums from
``verigator_nb.models``, and every limit in the schemas and in the rules prose of
``info.description`` formatted from the constants the sandbox enforces (``_rules``, ``_totp``,
``_faults``, ``_limits``, ``_state``). It describes every status each call can answer with its
``{"message": ...}`` body, the ``X-Service-Auth`` scheme, and the rules this project decided
where Verigator's own documentation is silent. Schemas are exactly as strict as the sandbox,
so a schema-driven fuzzer (schemathesis) finds every answer conforming.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

from verigator_nb.models import METHOD_TOTP, METHODS, RESULTS
from verigator_nb.sandbox._faults import (
    DEFAULT_SECONDS,
    KINDS,
    MAX_COUNT,
    MAX_FAULTS,
    MAX_ROUTE,
    MAX_SECONDS,
    STATUSES,
    WHENS,
)
from verigator_nb.sandbox._limits import MAX_BODY
from verigator_nb.sandbox._operations import (
    ALIASES,
    OPERATIONS,
    ROUTABLE,
    TAG_FAULTS,
    TAG_SANDBOX,
    TAG_VERIGATOR,
    Operation,
)
from verigator_nb.sandbox._rules import MAX_ADVANCE, PHONE_PATTERN, PIN_DIGITS
from verigator_nb.sandbox._rules_text import RULES, mib
from verigator_nb.sandbox._state import SEEDED_START, format_time
from verigator_nb.sandbox._totp import DIGITS, SECRET_LENGTH, STEP_SECONDS

__all__ = ["openapi_bytes", "openapi_document"]

_NONEMPTY = {"type": "string", "minLength": 1}
_TIME = {"type": "string", "format": "date-time", "example": format_time(SEEDED_START)}
_ID = {"type": "string", "example": "3f0b6b8e-1c52-4b8b-9d57-2f0c5d8d1a4e"}
_METHOD = {"type": "string", "enum": list(METHODS)}
_RESULT = {"type": "string", "enum": list(RESULTS)}
_TOO_LARGE = f"Request body over {mib(MAX_BODY)} (413), or another malformed HTTP request."
_TAGS = {
    TAG_VERIGATOR: "The Verigator API calls",
    TAG_SANDBOX: "Sandbox-only calls that play the user",
    TAG_FAULTS: "Sandbox-only calls that break it on purpose",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], extra: bool = True, **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if not extra:
        schema["additionalProperties"] = False
    return schema


def _digits(n: int) -> dict[str, str]:
    return {"type": "string", "pattern": f"^[0-9]{{{n}}}$"}


_ROUTE_NAMES = ["*", *ALIASES, *ROUTABLE]
_FAULT_FIELDS: dict[str, Any] = {
    "route": {
        "type": "string",
        "maxLength": MAX_ROUTE,
        "anyOf": [{"enum": _ROUTE_NAMES}, {"pattern": "^(\\*|[A-Za-z]+) /"}],
        "default": "*",
        "description": f"`*`, an operation ({', '.join(_ROUTE_NAMES[1:])}) "
        "or `METHOD /path` (METHOD may be `*`): the path is compared segment by segment, "
        "`*` matching any characters within one segment, never a `/`",
        "example": next(iter(ALIASES)),
    },
    "kind": {"type": "string", "enum": list(KINDS)},
    "rate": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
    "seconds": {
        "type": "number",
        "minimum": 0,
        "maximum": MAX_SECONDS,
        "nullable": True,
        "description": "latency or stall length (null: "
        + " and ".join(f"{DEFAULT_SECONDS[kind]:g} for {kind}" for kind in DEFAULT_SECONDS)
        + "); ignored by other kinds",
    },
    "count": {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_COUNT,
        "nullable": True,
        "description": "break at most this many calls (null: no cap)",
    },
    "when": {"type": "string", "enum": list(WHENS), "default": WHENS[0]},
    "status": {
        "type": "integer",
        "minimum": STATUSES[0],
        "maximum": STATUSES[1],
        "default": STATUSES[0],
    },
}

_SCHEMAS: dict[str, Any] = {
    "Error": _obj(["message"], message={"type": "string"}),
    "Empty": _obj([], extra=False),
    "ServiceCreate": _obj(["fqdn", "name"], fqdn=_NONEMPTY, name=_NONEMPTY),
    "Service": _obj(["id", "ctime", "name"], id=_ID, ctime=_TIME, name={"type": "string"}),
    "UserCreate": _obj(
        ["id_in_service", "phone_number"],
        id_in_service=_NONEMPTY,
        phone_number={"type": "string", "pattern": f"^{PHONE_PATTERN}$", "example": "+4401234567"},
    ),
    "User": _obj(
        ["id", "ctime", "id_in_service"], id=_ID, ctime=_TIME, id_in_service={"type": "string"}
    ),
    "UserList": _obj(
        ["users", "count"],
        users={"type": "array", "items": _ref("User")},
        count={"type": "integer", "minimum": 0},
    ),
    "AuthStart": _obj(["method"], method=_METHOD),
    "AuthStarted": _obj(["method"], method=_METHOD, auth_id=_ID),
    "AuthVerify": _obj(
        ["token"], method=_METHOD, token={"type": "string", "example": "123456"}, auth_id=_ID
    ),
    "VerificationStatus": _obj(
        ["throttled", "expired", "invalid", "result"],
        throttled={"type": "boolean"},
        expired={"type": "boolean"},
        invalid={"type": "boolean"},
        result=_RESULT,
    ),
    "Verification": _obj(
        ["method", "verified", "status"],
        method=_METHOD,
        verified={"type": "boolean"},
        status=_ref("VerificationStatus"),
    ),
    "TotpEnrolment": _obj(
        ["secret", "otpauth_uri"],
        secret={"type": "string", "pattern": f"^[A-Z2-7]{{{SECRET_LENGTH}}}$"},
        otpauth_uri={"type": "string", "pattern": "^otpauth://totp/"},
    ),
    "TotpCode": _obj(
        ["code", "seconds_left"],
        code=_digits(DIGITS),
        seconds_left={"type": "integer", "minimum": 1, "maximum": STEP_SECONDS},
    ),
    "SmsMessage": _obj(
        ["to", "auth_id", "pin", "text", "sent_at"],
        to={"type": "string"},
        auth_id=_ID,
        pin=_digits(PIN_DIGITS),
        text={"type": "string"},
        sent_at=_TIME,
    ),
    "Outbox": _obj(["messages"], messages={"type": "array", "items": _ref("SmsMessage")}),
    "Clock": _obj(["now"], now={"type": "number", "description": "Unix seconds, UTC"}),
    "Fault": _obj(["kind"], extra=False, **_FAULT_FIELDS),
    "FaultList": {"type": "array", "items": _ref("Fault"), "maxItems": MAX_FAULTS},
    "FaultPlan": _obj(
        ["faults"],
        faults={
            "type": "array",
            "items": _obj(
                ["route", "kind", "rate", "seconds", "when", "status", "injected"],
                extra=False,
                **_FAULT_FIELDS,
                injected={"type": "integer", "minimum": 0, "description": "calls broken so far"},
            ),
        },
    ),
    "Stats": _obj(
        ["requests", "by_operation", "faults_injected"],
        requests={"type": "integer", "minimum": 0, "description": "the caller's calls"},
        by_operation={
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "description": "the caller's calls per operation (`unrouted`: no such call)",
        },
        faults_injected={"type": "integer", "minimum": 0},
        matched={
            "type": "integer",
            "minimum": 0,
            "description": "the caller's calls on `route` (a path route counts the operations "
            "it covers, `*` standing for each path parameter)",
        },
    ),
    "ClockAdvance": _obj(
        ["advance_seconds"],
        advance_seconds={"type": "number", "minimum": 0, "maximum": MAX_ADVANCE},
    ),
    "OpenApi": {"type": "object", "description": "This document"},
}

_ERRORS = {
    401: "Missing, malformed or wrong X-Service-Auth.",
    403: "The resource belongs to another account.",
    404: "No such service, user, authentication or app.",
    409: "Conflict: already exists, or not allowed in the current state.",
    422: "Invalid body: not a JSON object, wrong types, missing keys, unknown method.",
}
_PATH_PARAMS = {
    "serviceId": "The service's id.",
    "userId": "The user's id (from create user, not id_in_service).",
}
_QUERY_SCHEMAS = {"route": {k: v for k, v in _FAULT_FIELDS["route"].items() if k != "default"}}
_NAMED = {operation.name: operation for operation in OPERATIONS}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref("Error"))}


def _param(name: str, where: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A path parameter (always required) or a query parameter (always optional)."""
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema,
    }


def _link(target: str, parameters: dict[str, str], **extra: Any) -> dict[str, Any]:
    """A response link to operation ``target``; KeyError (at import) if no operation has it."""
    return {"operationId": _NAMED[target].name, "parameters": parameters, **extra}


def _links() -> dict[str, dict[str, Any]]:
    """Response links by operation name: how a fuzzer chains a created resource into calls."""
    new_service = {"serviceId": "$response.body#/id"}
    new_user = {"serviceId": "$request.path.serviceId", "userId": "$response.body#/id"}
    # The user is verified with TOTP (200, INVALID) rather than with a made-up auth_id (a
    # correct 404 that link-following tools read as "created resource missing").
    first_check = {"method": METHOD_TOTP, "token": "0" * DIGITS}
    return {
        _NAMED["create_service"].name: {
            "GetService": _link("get_service", new_service),
            "CreateUser": _link("create_user", new_service),
        },
        _NAMED["create_user"].name: {
            "GetUser": _link("get_user", new_user),
            "VerifyNewUser": _link("verify_auth", new_user, requestBody=first_check),
        },
    }


def _responses(operation: Operation, links: dict[str, Any] | None) -> dict[str, Any]:
    """Its success answer (with ``links``), each error it answers, and the catch-all."""
    success: dict[str, Any] = {
        "description": operation.summary,
        "content": _json(_ref(operation.response)),
    }
    if links:
        success["links"] = links
    errors = operation.errors if operation.public else (401, *operation.errors)
    responses: dict[str, Any] = {str(operation.ok): success}
    for code in sorted(errors):
        responses[str(code)] = _error(operation.notes.get(code, _ERRORS[code]))
    responses["default"] = _error(_TOO_LARGE)
    return responses


def _operation(operation: Operation, links: dict[str, Any] | None) -> dict[str, Any]:
    """One OpenAPI operation object, ``operationId`` being the operation's name."""
    described: dict[str, Any] = {
        "operationId": operation.name,
        "summary": operation.summary,
        "tags": [operation.tag],
        "responses": _responses(operation, links),
    }
    if operation.body is not None:
        described["requestBody"] = {"required": True, "content": _json(_ref(operation.body))}
    if operation.query:
        described["parameters"] = [
            _param(name, "query", text, _QUERY_SCHEMAS.get(name, {"type": "string"}))
            for name, text in operation.query.items()
        ]
    if operation.public:
        described["security"] = []
    return described


def _paths(user_endpoints: bool) -> dict[str, Any]:
    """One path item per path template, holding an operation object per method.

    Without ``user_endpoints`` the play-the-user calls are left out, as the server leaves them.
    """
    links = _links()
    paths: dict[str, Any] = {}
    for operation in OPERATIONS:
        if operation.plays_user and not user_endpoints:
            continue
        item = paths.setdefault(operation.path, {})
        if operation.params:
            item["parameters"] = [
                _param(name, "path", _PATH_PARAMS[name], dict(_NONEMPTY))
                for name in operation.params
            ]
        item[operation.method.lower()] = _operation(operation, links.get(operation.name))
    return paths


def _build(user_endpoints: bool) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Verigator sandbox", "version": "1.0.0", "description": RULES},
        "servers": [{"url": "/"}],
        "tags": [{"name": name, "description": text} for name, text in _TAGS.items()],
        "security": [{"ServiceAuth": []}],
        "paths": _paths(user_endpoints),
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "ServiceAuth": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Service-Auth",
                    "description": "`<username>:<password>` of a sandbox account.",
                }
            },
        },
    }


def openapi_document(*, user_endpoints: bool = True) -> dict[str, Any]:
    """A fresh copy of the OpenAPI document as a dict (safe to modify).

    ``user_endpoints=False``: the document of a sandbox serving no play-the-user calls.
    """
    return copy.deepcopy(_build(user_endpoints))


@functools.cache
def openapi_bytes(*, user_endpoints: bool = True) -> bytes:
    """The document encoded once as JSON bytes, as ``GET /openapi.json`` serves it."""
    return json.dumps(_build(user_endpoints), separators=(",", ":")).encode("utf-8")
