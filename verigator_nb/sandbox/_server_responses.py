"""The handlers the HTTP layer answers from its own state: fault plan, stats, OpenAPI document.

Same shape as ``_responses`` (``(served, request)`` in, the success body out), but none of
them touches the backend: the ``FaultPlan`` and ``Traffic`` belong to the router, and the
document is derived from the operation table. Faults and stats are the caller's own: each
account reads, replaces and clears only its own plan and sees only its own calls.
"""

from __future__ import annotations

from typing import Any

from verigator_nb.sandbox._errors import Forbidden, InvalidData
from verigator_nb.sandbox._faults import MAX_FAULTS, Fault
from verigator_nb.sandbox._responses import Request, Served, json_value

__all__ = ["clear_faults", "get_faults", "get_openapi", "get_stats", "set_faults"]

_NOT_A_LIST = "request body must be a JSON array of faults"


def _plan(served: Served, request: Request) -> dict[str, Any]:
    faults = served.plan(request.account).snapshot()
    return {"faults": [{**fault.to_json(), "injected": n} for fault, n in faults]}


def get_faults(served: Served, request: Request) -> Any:
    """``{"faults": [...]}``: the caller's plan, each fault with its ``injected`` count."""
    return _plan(served, request)


def set_faults(served: Served, request: Request) -> Any:
    """The caller's new plan, from ``[fault, ...]`` (it replaces the caller's old one).

    403 unless the sandbox was started with remote faults allowed: one careless client must
    not be able to break a sandbox others share.
    """
    items = json_value(request.body, _NOT_A_LIST)
    if not isinstance(items, list):
        raise InvalidData(_NOT_A_LIST)
    if len(items) > MAX_FAULTS:
        raise InvalidData(f"a fault plan holds at most {MAX_FAULTS} faults")
    try:
        faults = [Fault.from_json(item) for item in items]
    except (TypeError, ValueError) as exc:
        raise InvalidData(f"invalid fault: {exc}") from None
    plan = served.plan(request.account)
    if not plan.remote:
        raise Forbidden("fault injection over HTTP is off: start the sandbox with --remote-faults")
    plan.replace(faults)
    return _plan(served, request)


def clear_faults(served: Served, request: Request) -> Any:
    """``{"faults": []}`` once the caller's plan is empty (allowed even when setting is not)."""
    served.plan(request.account).clear()
    return _plan(served, request)


def get_stats(served: Served, request: Request) -> Any:
    """The caller's calls that reached the server, per operation, and faults injected.

    ``?route=R`` adds ``matched``: the caller's calls on ``R``, written as a fault's route
    (422 for one no fault could name, or a path route naming part of an operation).
    """
    traffic, account = served.traffic, request.account
    answer: dict[str, Any] = {
        "requests": traffic.total(account),
        "by_operation": traffic.by_operation(account),
        "faults_injected": served.plan(account).injected,
    }
    if "route" in request.query:
        try:
            answer["matched"] = traffic.count(request.query["route"], account)
        except ValueError as exc:
            raise InvalidData(str(exc)) from None
    return answer


def get_openapi(served: Served, request: Request) -> Any:
    """The OpenAPI document, already encoded."""
    return served.document
