"""The HTTP-facing handlers (moto's ``responses.py``): parse JSON, call the backend, shape JSON.

Each handler takes what is ``Served`` (the backend, and the HTTP layer's own state) and a
``Request`` (the caller's account, the path parameters by their OpenAPI names, the raw body,
the query) and returns the JSON-able body of its success answer; the status is its
operation's (``_operations``). JSON *shapes* are checked here (an object, strings where strings
belong); *values* are checked by the backend. Only the play-the-user handlers ever put a PIN, a
TOTP secret or a TOTP code in an answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from verigator_nb.models import RESULT_EXPIRED, RESULT_INVALID, RESULT_THROTTLED
from verigator_nb.sandbox._backend import SandboxBackend
from verigator_nb.sandbox._errors import Forbidden, InvalidData
from verigator_nb.sandbox._faults import FaultPlan
from verigator_nb.sandbox._state import Message, ServiceRecord, UserRecord, format_time
from verigator_nb.sandbox._traffic import Traffic

__all__ = [
    "Handler",
    "Request",
    "Served",
    "advance_clock",
    "create_service",
    "create_user",
    "delete_service",
    "delete_user",
    "enrol_totp",
    "get_clock",
    "get_service",
    "get_totp_code",
    "get_user",
    "json_object",
    "json_value",
    "list_users",
    "outbox",
    "start_auth",
    "verify_auth",
]


class Served(Protocol):
    """What a handler reaches: the backend's rules and state, and the HTTP layer's own."""

    @property
    def backend(self) -> SandboxBackend:
        """The rules and state."""
        ...

    def plan(self, account: str) -> FaultPlan:
        """What the HTTP layer breaks on purpose in ``account``'s calls."""
        ...

    @property
    def traffic(self) -> Traffic:
        """What reached the HTTP layer."""
        ...

    @property
    def shared_clock_control(self) -> bool:
        """Whether callers may move the clock every account shares."""
        ...

    @property
    def document(self) -> bytes:
        """The OpenAPI document, encoded as served."""
        ...


@dataclass(frozen=True, slots=True)
class Request:
    """One call: the account (``""`` for a public call), path parameters, raw body, query."""

    account: str
    params: dict[str, str]
    body: bytes
    query: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Served, Request], Any]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Python's json accepts NaN and Infinity by default; JSON does not.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def json_value(body: bytes, refusal: str) -> Any:
    """The body as strict UTF-8 JSON; 422 with ``refusal`` when it is not."""
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise InvalidData(refusal) from exc


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; 422 when it is not UTF-8 JSON or not an object."""
    value = json_value(body, "request body must be a JSON object")
    if not isinstance(value, dict):
        raise InvalidData("request body must be a JSON object")
    return value


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


def create_service(served: Served, request: Request) -> Any:
    """The new service, from ``{"fqdn", "name"}``."""
    body = json_object(request.body)
    fqdn, name = _text(body, "fqdn"), _text(body, "name")
    return _service(served.backend.create_service(request.account, fqdn, name))


def get_service(served: Served, request: Request) -> Any:
    """The service."""
    return _service(served.backend.get_service(request.account, request.params["serviceId"]))


def delete_service(served: Served, request: Request) -> Any:
    """``{}`` once the service is gone."""
    served.backend.delete_service(request.account, request.params["serviceId"])
    return {}


def create_user(served: Served, request: Request) -> Any:
    """The new user, from ``{"id_in_service", "phone_number"}``."""
    body = json_object(request.body)
    id_in_service, phone = _text(body, "id_in_service"), _text(body, "phone_number")
    sid = request.params["serviceId"]
    return _user(served.backend.create_user(request.account, sid, id_in_service, phone))


def list_users(served: Served, request: Request) -> Any:
    """``{"users": [...], "count": N}`` in creation order."""
    found = served.backend.list_users(request.account, request.params["serviceId"])
    return {"users": [_user(u) for u in found], "count": len(found)}


def get_user(served: Served, request: Request) -> Any:
    """The user."""
    params = request.params
    user = served.backend.get_user(request.account, params["serviceId"], params["userId"])
    return _user(user)


def delete_user(served: Served, request: Request) -> Any:
    """``{}`` once the user is gone."""
    params = request.params
    served.backend.delete_user(request.account, params["serviceId"], params["userId"])
    return {}


def start_auth(served: Served, request: Request) -> Any:
    """``{"method"[, "auth_id"]}``: the method used, and for SMS the new ``auth_id``."""
    method = _text(json_object(request.body), "method")
    params = request.params
    started = served.backend.start_auth(
        request.account, params["serviceId"], params["userId"], method
    )
    if started.auth_id is None:
        return {"method": started.method}
    return {"method": started.method, "auth_id": started.auth_id}


def verify_auth(served: Served, request: Request) -> Any:
    """``{"method", "verified", "status"}`` for ``{"token"[, "method"][, "auth_id"]}``."""
    body = json_object(request.body)
    token = _text(body, "token")
    method, auth_id = _optional_text(body, "method"), _optional_text(body, "auth_id")
    params = request.params
    check = served.backend.verify(
        request.account,
        params["serviceId"],
        params["userId"],
        token,
        method=method,
        auth_id=auth_id,
    )
    result = check.result
    status = {
        "throttled": result == RESULT_THROTTLED,
        "expired": result == RESULT_EXPIRED,
        "invalid": result == RESULT_INVALID,
        "result": result,
    }
    return {"method": check.method, "verified": check.verified, "status": status}


def enrol_totp(served: Served, request: Request) -> Any:
    """``{"secret", "otpauth_uri"}`` of the user's new authenticator app."""
    params = request.params
    enrolment = served.backend.enrol_totp(request.account, params["serviceId"], params["userId"])
    return {"secret": enrolment.secret, "otpauth_uri": enrolment.otpauth_uri}


def get_totp_code(served: Served, request: Request) -> Any:
    """``{"code", "seconds_left"}``: what the user's app shows now."""
    params = request.params
    code, left = served.backend.totp_code(request.account, params["serviceId"], params["userId"])
    return {"code": code, "seconds_left": left}


def outbox(served: Served, request: Request) -> Any:
    """``{"messages": [...]}``, oldest first; only ``?auth_id=``'s if given."""
    sent = served.backend.outbox(request.account, request.query.get("auth_id"))
    return {"messages": [_message(m) for m in sent]}


def get_clock(served: Served, request: Request) -> Any:
    """``{"now": <unix seconds>}``."""
    return {"now": served.backend.now()}


def advance_clock(served: Served, request: Request) -> Any:
    """``{"now": ...}`` after moving the clock ``{"advance_seconds": N}`` forward.

    403 unless the server allows it: the clock is shared, so one account moving it would
    expire every other account's PINs.
    """
    if not served.shared_clock_control:
        raise Forbidden(
            "moving the shared clock is off: start the sandbox with --shared-clock-control"
        )
    body = json_object(request.body)
    if "advance_seconds" not in body:
        raise InvalidData("advance_seconds is required")
    return {"now": served.backend.advance(body["advance_seconds"])}
