"""The handlers the HTTP layer answers from its own state: fault plan, stats, OpenAPI document.

Same shape as ``_responses`` (``(served, request)`` in, the success body out), but none of
them touches the backend: the ``FaultPlan`` and ``Traffic`` belong to the router, and the
document is derived from the operation table.
"""

from __future__ import annotations

from typing import Any

from verigator_nb.sandbox._errors import Forbidden, InvalidData
from verigator_nb.sandbox._faults import Fault
from verigator_nb.sandbox._responses import Request, Served, json_value

__all__ = ["clear_faults", "get_faults", "get_openapi", "get_stats", "set_faults"]

_NOT_A_LIST = "request body must be a JSON array of faults"


def _plan(served: Served) -> dict[str, Any]:
    faults = served.faults.snapshot()
    return {"faults": [{**fault.to_json(), "injected": n} for fault, n in faults]}


def get_faults(served: Served, request: Request) -> Any:
    """``{"faults": [...]}``, each with its ``injected`` count."""
    return _plan(served)


def set_faults(served: Served, request: Request) -> Any:
    """The new plan, from ``[fault, ...]`` (it replaces the old one).

    403 unless the sandbox was started with remote faults allowed: one careless client must
    not be able to break a sandbox others share.
    """
    items = json_value(request.body, _NOT_A_LIST)
    if not isinstance(items, list):
        raise InvalidData(_NOT_A_LIST)
    try:
        faults = [Fault.from_json(item) for item in items]
    except (TypeError, ValueError) as exc:
        raise InvalidData(f"invalid fault: {exc}") from None
    if not served.faults.remote:
        raise Forbidden("fault injection over HTTP is off: start the sandbox with --remote-faults")
    served.faults.replace(faults)
    return _plan(served)


def clear_faults(served: Served, request: Request) -> Any:
    """``{"faults": []}`` (allowed even when setting faults over HTTP is not)."""
    served.faults.clear()
    return _plan(served)


def get_stats(served: Served, request: Request) -> Any:
    """Calls that reached the server, per operation, and faults injected.

    ``?route=R`` adds ``matched``: the calls on ``R``, written as a fault's route (422 for
    one no fault could name).
    """
    traffic = served.traffic
    answer: dict[str, Any] = {
        "requests": traffic.total,
        "by_operation": traffic.by_operation(),
        "faults_injected": served.faults.injected,
    }
    if "route" in request.query:
        try:
            answer["matched"] = traffic.count(request.query["route"])
        except ValueError as exc:
            raise InvalidData(str(exc)) from None
    return answer


def get_openapi(served: Served, request: Request) -> Any:
    """The OpenAPI document, already encoded."""
    return served.document
