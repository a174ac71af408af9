"""The sandbox's OpenAPI 3.0 document, served at ``GET /openapi.json`` (no auth needed).

It describes every route the sandbox answers: the Verigator calls, the ``/sandbox/`` play-the-
user calls, every status each can answer with its ``{"message": ...}`` body, the
``X-Service-Auth`` scheme, and in ``info.description`` the rules this project decided where
Verigator's own documentation is silent. Schemas are exactly as strict as the sandbox, so a
schema-driven fuzzer (schemathesis) finds every answer conforming.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

from verigator_nb.sandbox._faults import ALIASES, KINDS, MAX_SECONDS, OPERATIONS, WHENS

__all__ = ["RULES", "openapi_bytes", "openapi_document"]

RULES = """\
A faithful local emulator of Messente's Verigator two-factor API (deprecated by its vendor),
for notebooks and tests. Rules decided by this project where the public sources are silent:

- Every call but `GET /openapi.json` needs `X-Service-Auth: <username>:<password>`
  (401 when missing, malformed or wrong). Services and users belong to the account that
  created them: another account's answer 403 (revealing nothing), unknown ones 404.
- Create service and create user answer 201; start authentication answers 200; deletes
  answer 202 with `{}`. A service name is unique per account and an `id_in_service` per
  service (409). Deleting a service that still has users is 409. Deleting a user drops its
  authentications; its sent SMS stay in the outbox.
- `fqdn`, `name` and `id_in_service` are non-empty strings (no lone surrogates, 422);
  `phone_number` is E.164: `+` then 7 to 15 digits. Timestamps are ISO 8601 UTC:
  `2026-01-01T00:00:00.000000Z`.
- Order of checks: unknown path 404, wrong method 405 (with `Allow`), auth 401, body 422,
  path resources 403/404, then the call's own rules (404 for an unknown `auth_id`, 409 for
  conflicts). Bodies over 1 MiB are refused with 413 and the connection is closed.
- Start with `totp` uses the authenticator app when the user has one (`{"method": "totp"}`),
  otherwise falls back to SMS (`{"method": "sms", "auth_id": ...}`): read `method` from the
  answer. Start while the user is locked out (below) is **409** `{"message": "user is
  temporarily locked after too many failed attempts"}`.
- An SMS PIN has 6 digits (leading zeros kept), expires 300 s after it was sent and allows
  5 wrong tries per `auth_id`; after that even the right PIN is `THROTTLED`. An `auth_id`
  that verified once is spent: later checks answer `EXPIRED`.
- TOTP is RFC 6238 (30 s steps, 6 digits, SHA-1, 160-bit secrets), one step of drift either
  way; a step at or before the last one accepted for the user is a replay (`INVALID`, counted).
  5 wrong TOTP codes in a row throttle the user's TOTP checks for 300 s. Verify with `totp`
  for a user without an app is `INVALID` and not counted.
- 10 wrong tries in a row (any method, across `auth_id`s; a new start does not reset the
  count; a success does) lock the user for 900 s: verify answers `THROTTLED`, start 409.
  Throttled and expired answers are not wrong tries.
- Check order for SMS: user locked → `THROTTLED`; spent → `EXPIRED`; 5 wrong → `THROTTLED`;
  expired → `EXPIRED`; PIN → `VERIFIED` or `INVALID`. Verify always answers `status`, also on
  success (`result: VERIFIED`, flags false).
- Lenient verify (the official Python client 1.0.x sent only `{"token"}`): without `method`
  the sandbox checks the given `auth_id`, else the user's most recent pending SMS
  authentication, else TOTP; `sms` without `auth_id` uses the user's most recent SMS
  authentication. An `auth_id` the user does not have, or `sms` for a user with no SMS
  authentication at all, is 404. `method: totp` ignores `auth_id`.
- Sandbox-only calls play the user: enrol an authenticator app (re-enrolling replaces the
  secret and forgets the last accepted step, but keeps throttles and counts), read the code
  the app shows now (404 when no app is enrolled), read the SMS outbox of the caller's
  account, and read or advance the sandbox clock (shared by all accounts of one sandbox;
  never backwards, at most 10 years per call). A seeded sandbox starts its clock at
  2026-01-01T00:00:00Z and moves it only when advanced.
- Injected faults (for testing clients): `POST /sandbox/faults` replaces the sandbox's fault
  plan (403 unless the sandbox was started with `--remote-faults`), `GET` reads it with how
  many calls each fault broke, `DELETE` clears it. A fault names a `route` (`*`, an operation
  such as `verify`, `initiate` or `get_service`, or `METHOD /path` with `*` matching within
  one segment), a `kind` (`latency`, `error` answering `status`, `malformed` answering a 200
  that is not JSON, `reset` closing the connection with a TCP reset, `stall` holding it
  `seconds` then closing it), a `rate` (0 to 1), an optional `count` cap, and `when`:
  `before` breaks the call before the sandbox applies it (nothing changes), `after` applies
  it and breaks only the answer (a lost reply). The first matching fault that fires wins;
  faults apply to every account; the fault and stats calls themselves are never broken.
  A seeded sandbox breaks the same calls on every run. `GET /sandbox/stats` counts the calls
  that reached the server (any account; `?route=` counts one route, as a fault names it).
"""

_NONEMPTY = {"type": "string", "minLength": 1}
_TIME = {"type": "string", "format": "date-time", "example": "2026-01-01T00:00:00.000000Z"}
_ID = {"type": "string", "example": "3f0b6b8e-1c52-4b8b-9d57-2f0c5d8d1a4e"}
_METHOD = {"type": "string", "enum": ["totp", "sms"]}
_RESULT = {"type": "string", "enum": ["VERIFIED", "INVALID", "EXPIRED", "THROTTLED"]}
_TOO_LARGE = "Request body over 1 MiB (413), or another malformed HTTP request."


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], extra: bool = True, **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if not extra:
        schema["additionalProperties"] = False
    return schema


_FAULT_FIELDS: dict[str, Any] = {
    "route": {
        "type": "string",
        "anyOf": [
            {"enum": ["*", *ALIASES, *OPERATIONS]},
            {"pattern": "^(\\*|[A-Za-z]+) /"},
        ],
        "default": "*",
        "description": "`*`, an operation (" + ", ".join([*ALIASES, *OPERATIONS]) + ") "
        "or `METHOD /path` (`*` matches within one path segment; METHOD may be `*`)",
        "example": "verify",
    },
    "kind": {"type": "string", "enum": list(KINDS)},
    "rate": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
    "seconds": {
        "type": "number",
        "minimum": 0,
        "maximum": MAX_SECONDS,
        "nullable": True,
        "description": "latency or stall length (null: 1 and 30); ignored by other kinds",
    },
    "count": {
        "type": "integer",
        "minimum": 1,
        "maximum": 2**31 - 1,
        "nullable": True,
        "description": "break at most this many calls (null: no cap)",
    },
    "when": {"type": "string", "enum": list(WHENS), "default": "before"},
    "status": {"type": "integer", "minimum": 500, "maximum": 599, "default": 500},
}

_SCHEMAS: dict[str, Any] = {
    "Error": _obj(["message"], message={"type": "string"}),
    "Empty": _obj([], extra=False),
    "ServiceCreate": _obj(["fqdn", "name"], fqdn=_NONEMPTY, name=_NONEMPTY),
    "Service": _obj(["id", "ctime", "name"], id=_ID, ctime=_TIME, name={"type": "string"}),
    "UserCreate": _obj(
        ["id_in_service", "phone_number"],
        id_in_service=_NONEMPTY,
        phone_number={"type": "string", "pattern": "^\\+[0-9]{7,15}$", "example": "+4401234567"},
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
        secret={"type": "string", "pattern": "^[A-Z2-7]{32}$"},
        otpauth_uri={"type": "string", "pattern": "^otpauth://totp/"},
    ),
    "TotpCode": _obj(
        ["code", "seconds_left"],
        code={"type": "string", "pattern": "^[0-9]{6}$"},
        seconds_left={"type": "integer", "minimum": 1, "maximum": 30},
    ),
    "SmsMessage": _obj(
        ["to", "auth_id", "pin", "text", "sent_at"],
        to={"type": "string"},
        auth_id=_ID,
        pin={"type": "string", "pattern": "^[0-9]{6}$"},
        text={"type": "string"},
        sent_at=_TIME,
    ),
    "Outbox": _obj(["messages"], messages={"type": "array", "items": _ref("SmsMessage")}),
    "Clock": _obj(["now"], now={"type": "number", "description": "Unix seconds, UTC"}),
    "Fault": _obj(["kind"], extra=False, **_FAULT_FIELDS),
    "FaultList": {"type": "array", "items": _ref("Fault")},
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
        requests={"type": "integer", "minimum": 0},
        by_operation={"type": "object", "additionalProperties": {"type": "integer"}},
        faults_injected={"type": "integer", "minimum": 0},
        matched={"type": "integer", "minimum": 0, "description": "calls matching `route`"},
    ),
    "ClockAdvance": _obj(
        ["advance_seconds"],
        advance_seconds={"type": "number", "minimum": 0, "maximum": 315576000},
    ),
}

_ERRORS = {
    "401": "Missing, malformed or wrong X-Service-Auth.",
    "403": "The resource belongs to another account.",
    "404": "No such service, user, authentication or app.",
    "409": "Conflict: already exists, or not allowed in the current state.",
    "422": "Invalid body: not a JSON object, wrong types, missing keys, unknown method.",
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(_ref("Error"))}


def _op(
    op_id: str,
    summary: str,
    ok: tuple[str, str],
    errors: str,
    body: str | None = None,
    tag: str = "verigator",
    links: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One operation: ``ok`` is (status, schema name); ``errors`` the error codes it answers."""
    success: dict[str, Any] = {"description": summary, "content": _json(_ref(ok[1]))}
    if links:
        success["links"] = links
    responses: dict[str, Any] = {ok[0]: success}
    responses.update({code: _error(_ERRORS[code]) for code in errors.split()})
    responses["default"] = _error(_TOO_LARGE)
    operation: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "tags": [tag],
        "responses": responses,
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(_ref(body))}
    return operation


def _with_errors(operation: dict[str, Any], descriptions: dict[str, str]) -> dict[str, Any]:
    """``operation`` with some error statuses described for what they mean there."""
    operation["responses"].update({code: _error(text) for code, text in descriptions.items()})
    return operation


def _param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
    }


_SID = _param("serviceId", "The service's id.")
_UID = _param("userId", "The user's id (from create user, not id_in_service).")
_SERVICE_LINKS = {
    "GetService": {"operationId": "getService", "parameters": {"serviceId": "$response.body#/id"}},
    "CreateUser": {"operationId": "createUser", "parameters": {"serviceId": "$response.body#/id"}},
}
_NEW_USER = {"serviceId": "$request.path.serviceId", "userId": "$response.body#/id"}
_USER_LINKS = {
    "GetUser": {"operationId": "getUser", "parameters": _NEW_USER},
    # Spelled out so link-following tools check a new user with TOTP (200, INVALID) rather
    # than with a made-up auth_id (a correct 404 that reads as "created resource missing").
    "VerifyNewUser": {
        "operationId": "verifyAuth",
        "parameters": _NEW_USER,
        "requestBody": {"method": "totp", "token": "000000"},
    },
}


def _paths() -> dict[str, Any]:
    service = "/v1/service/service/{serviceId}"
    user = service + "/users/{userId}"
    app = "/sandbox/services/{serviceId}/users/{userId}/totp"
    return {
        "/v1/service/service": {
            "post": _op(
                "createService",
                "Create a service",
                ("201", "Service"),
                "401 409 422",
                "ServiceCreate",
                links=_SERVICE_LINKS,
            ),
        },
        service: {
            "parameters": [_SID],
            "get": _op("getService", "Get a service", ("200", "Service"), "401 403 404"),
            "delete": _op(
                "deleteService",
                "Delete a service (409 while it has users)",
                ("202", "Empty"),
                "401 403 404 409",
            ),
        },
        service + "/users": {
            "parameters": [_SID],
            "get": _op("listUsers", "List users", ("200", "UserList"), "401 403 404"),
            "post": _op(
                "createUser",
                "Add a user",
                ("201", "User"),
                "401 403 404 409 422",
                "UserCreate",
                links=_USER_LINKS,
            ),
        },
        user: {
            "parameters": [_SID, _UID],
            "get": _op("getUser", "Get a user", ("200", "User"), "401 403 404"),
            "delete": _op("deleteUser", "Delete a user", ("202", "Empty"), "401 403 404"),
        },
        user + "/auth": {
            "parameters": [_SID, _UID],
            "post": _op(
                "startAuth",
                "Start authentication (409 while the user is locked out)",
                ("200", "AuthStarted"),
                "401 403 404 409 422",
                "AuthStart",
            ),
            "put": _op(
                "verifyAuth",
                "Verify the PIN or TOTP code the user typed",
                ("200", "Verification"),
                "401 403 404 422",
                "AuthVerify",
            ),
        },
        app: {
            "parameters": [_SID, _UID],
            "post": _op(
                "enrolTotp",
                "Enrol (or replace) the user's authenticator app",
                ("200", "TotpEnrolment"),
                "401 403 404",
                tag="sandbox",
            ),
            "get": _op(
                "getTotpCode",
                "The code the user's app shows now (404 without an app)",
                ("200", "TotpCode"),
                "401 403 404",
                tag="sandbox",
            ),
        },
        "/sandbox/outbox": {
            "get": {
                **_op(
                    "getOutbox",
                    "SMS sent to the caller's users, oldest first",
                    ("200", "Outbox"),
                    "401",
                    tag="sandbox",
                ),
                "parameters": [
                    {
                        "name": "auth_id",
                        "in": "query",
                        "required": False,
                        "description": "only the SMS sent for this auth_id",
                        "schema": {"type": "string"},
                    }
                ],
            },
        },
        "/sandbox/clock": {
            "get": _op("getClock", "The sandbox clock", ("200", "Clock"), "401", tag="sandbox"),
            "post": _op(
                "advanceClock",
                "Advance the sandbox clock",
                ("200", "Clock"),
                "401 422",
                "ClockAdvance",
                tag="sandbox",
            ),
        },
        "/sandbox/faults": {
            "get": _op("getFaults", "The fault plan", ("200", "FaultPlan"), "401", tag="faults"),
            "post": _with_errors(
                _op(
                    "setFaults",
                    "Replace the fault plan (403 unless started with --remote-faults)",
                    ("200", "FaultPlan"),
                    "401 403 422",
                    "FaultList",
                    tag="faults",
                ),
                {"403": "Fault injection over HTTP is off (start with --remote-faults)."},
            ),
            "delete": _op(
                "clearFaults", "Remove every fault", ("200", "FaultPlan"), "401", tag="faults"
            ),
        },
        "/sandbox/stats": {
            "get": {
                **_with_errors(
                    _op(
                        "getStats",
                        "Calls that reached the server, and faults injected",
                        ("200", "Stats"),
                        "401 422",
                        tag="faults",
                    ),
                    {"422": "`route` is not a route a fault could name."},
                ),
                "parameters": [
                    {
                        "name": "route",
                        "in": "query",
                        "required": False,
                        "description": "count only calls on this route, written as a fault's",
                        "schema": {
                            k: v for k, v in _FAULT_FIELDS["route"].items() if k != "default"
                        },
                    }
                ],
            },
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "tags": ["sandbox"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI document",
                        "content": _json({"type": "object"}),
                    },
                    "default": _error(_TOO_LARGE),
                },
            },
        },
    }


def _build() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Verigator sandbox", "version": "1.0.0", "description": RULES},
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "verigator", "description": "The Verigator API calls"},
            {"name": "sandbox", "description": "Sandbox-only calls that play the user"},
            {"name": "faults", "description": "Sandbox-only calls that break it on purpose"},
        ],
        "security": [{"ServiceAuth": []}],
        "paths": _paths(),
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


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the OpenAPI document as a dict (safe to modify)."""
    return copy.deepcopy(_build())


@functools.cache
def openapi_bytes() -> bytes:
    """The document encoded once as JSON bytes, as ``GET /openapi.json`` serves it."""
    return json.dumps(_build(), separators=(",", ":")).encode("utf-8")
