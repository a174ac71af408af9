"""The HTTP-facing handlers (moto's ``responses.py``): parse JSON, call the backend, shape JSON.

Each handler takes the backend and a ``Request`` (the caller's account, the path parameters and
the raw body) and returns ``(status, json-able body)``. JSON *shapes* are checked here (an
object, strings where strings belong); *values* are checked by the backend. Only the
play-the-user handlers ever put a PIN, a TOTP secret or a TOTP code in an answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from verigator_nb.models import RESULT_EXPIRED, RESULT_INVALID, RESULT_THROTTLED
from verigator_nb.sandbox._backend import SandboxBackend
from verigator_nb.sandbox._errors import Forbidden, InvalidData
from verigator_nb.sandbox._faults import Fault
from verigator_nb.sandbox._state import Message, ServiceRecord, UserRecord, format_time

__all__ = [
    "Handler",
    "Request",
    "advance_clock",
    "clear_faults",
    "create_service",
    "create_user",
    "delete_service",
    "delete_user",
    "enrol_totp",
    "get_clock",
    "get_faults",
    "get_service",
    "get_totp_code",
    "get_user",
    "list_users",
    "outbox",
    "set_faults",
    "start_auth",
    "verify_auth",
]


@dataclass(frozen=True, slots=True)
class Request:
    """One authenticated call: the account, the decoded path parameters, the raw body."""

    account: str
    params: dict[str, str]
    body: bytes
    query: dict[str, str] = field(default_factory=dict)


Handler = Callable[[SandboxBackend, Request], tuple[int, Any]]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Python's json accepts NaN and Infinity by default; JSON does not.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; 422 when it is not UTF-8 JSON or not an object."""
    value = _json(body, "request body must be a JSON object")
    if not isinstance(value, dict):
        raise InvalidData("request body must be a JSON object")
    return value


def _json(body: bytes, refusal: str) -> Any:
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise InvalidData(refusal) from exc


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise InvalidData(f"{key} is required and must be a string")
    return value


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    if key not in body:
        return None
    value = body[key]
    if not isinstance(value, str):
        raise InvalidData(f"{key} must be a string when present")
    return value


def _service(service: ServiceRecord) -> dict[str, str]:
    return {"id": service.id, "ctime": format_time(service.ctime), "name": service.name}


def _user(user: UserRecord) -> dict[str, str]:
    return {"id": user.id, "ctime": format_time(user.ctime), "id_in_service": user.id_in_service}


def _message(message: Message) -> dict[str, str]:
    return {
        "to": message.to,
        "auth_id": message.auth_id,
        "pin": message.pin,
        "text": message.text,
        "sent_at": format_time(message.sent_at),
    }


def create_service(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``POST /v1/service/service`` → 201 with the new service."""
    body = json_object(request.body)
    fqdn, name = _text(body, "fqdn"), _text(body, "name")
    return 201, _service(backend.create_service(request.account, fqdn, name))


def get_service(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``GET /v1/service/service/{sid}`` → 200 with the service."""
    return 200, _service(backend.get_service(request.account, request.params["sid"]))


def delete_service(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``DELETE /v1/service/service/{sid}`` → 202 ``{}``."""
    backend.delete_service(request.account, request.params["sid"])
    return 202, {}


def create_user(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``POST .../users`` → 201 with the new user."""
    body = json_object(request.body)
    id_in_service, phone = _text(body, "id_in_service"), _text(body, "phone_number")
    user = backend.create_user(request.account, request.params["sid"], id_in_service, phone)
    return 201, _user(user)


def list_users(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``GET .../users`` → 200 ``{"users": [...], "count": N}`` in creation order."""
    users = [_user(u) for u in backend.list_users(request.account, request.params["sid"])]
    return 200, {"users": users, "count": len(users)}


def get_user(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``GET .../users/{uid}`` → 200 with the user."""
    params = request.params
    return 200, _user(backend.get_user(request.account, params["sid"], params["uid"]))


def delete_user(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``DELETE .../users/{uid}`` → 202 ``{}``."""
    backend.delete_user(request.account, request.params["sid"], request.params["uid"])
    return 202, {}


def start_auth(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``POST .../users/{uid}/auth`` → 200 ``{"method"[, "auth_id"]}``."""
    method = _text(json_object(request.body), "method")
    params = request.params
    started = backend.start_auth(request.account, params["sid"], params["uid"], method)
    if started.auth_id is None:
        return 200, {"method": started.method}
    return 200, {"method": started.method, "auth_id": started.auth_id}


def verify_auth(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``PUT .../users/{uid}/auth`` → 200 ``{"method", "verified", "status"}``."""
    body = json_object(request.body)
    token = _text(body, "token")
    method, auth_id = _optional_text(body, "method"), _optional_text(body, "auth_id")
    params = request.params
    check = backend.verify(
        request.account, params["sid"], params["uid"], token, method=method, auth_id=auth_id
    )
    result = check.result
    status = {
        "throttled": result == RESULT_THROTTLED,
        "expired": result == RESULT_EXPIRED,
        "invalid": result == RESULT_INVALID,
        "result": result,
    }
    return 200, {"method": check.method, "verified": check.verified, "status": status}


def enrol_totp(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``POST /sandbox/services/{sid}/users/{uid}/totp`` → 200 ``{"secret", "otpauth_uri"}``."""
    enrolment = backend.enrol_totp(request.account, request.params["sid"], request.params["uid"])
    return 200, {"secret": enrolment.secret, "otpauth_uri": enrolment.otpauth_uri}


def get_totp_code(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``GET /sandbox/services/{sid}/users/{uid}/totp`` → 200 ``{"code", "seconds_left"}``."""
    params = request.params
    code, left = backend.totp_code(request.account, params["sid"], params["uid"])
    return 200, {"code": code, "seconds_left": left}


def outbox(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``GET /sandbox/outbox[?auth_id=X]`` → 200 ``{"messages": [...]}``, oldest first."""
    sent = backend.outbox(request.account, request.query.get("auth_id"))
    return 200, {"messages": [_message(m) for m in sent]}


def get_clock(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``GET /sandbox/clock`` → 200 ``{"now": <unix seconds>}``."""
    return 200, {"now": backend.now()}


def advance_clock(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``POST /sandbox/clock`` ``{"advance_seconds": N}`` → 200 ``{"now": ...}``."""
    body = json_object(request.body)
    if "advance_seconds" not in body:
        raise InvalidData("advance_seconds is required")
    return 200, {"now": backend.advance(body["advance_seconds"])}


def _plan(backend: SandboxBackend) -> dict[str, Any]:
    faults = backend.faults.snapshot()
    return {"faults": [{**fault.to_json(), "injected": n} for fault, n in faults]}


def get_faults(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``GET /sandbox/faults`` → 200 ``{"faults": [...]}``, each with its ``injected`` count."""
    return 200, _plan(backend)


def set_faults(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``POST /sandbox/faults`` ``[fault, ...]`` → 200, the new plan (it replaces the old).

    403 unless the sandbox was started with remote faults allowed: one careless client must
    not be able to break a sandbox others share.
    """
    items = _json(request.body, "request body must be a JSON array of faults")
    if not isinstance(items, list):
        raise InvalidData("request body must be a JSON array of faults")
    try:
        faults = [Fault.from_json(item) for item in items]
    except (TypeError, ValueError) as exc:
        raise InvalidData(f"invalid fault: {exc}") from None
    if not backend.faults.remote:
        raise Forbidden("fault injection over HTTP is off: start the sandbox with --remote-faults")
    backend.faults.replace(faults)
    return 200, _plan(backend)


def clear_faults(backend: SandboxBackend, request: Request) -> tuple[int, Any]:
    """``DELETE /sandbox/faults`` → 200 ``{"faults": []}`` (allowed even when setting is off)."""
    backend.faults.clear()
    return 200, _plan(backend)
