"""How a drawn fault breaks one call: the one rule both transports follow.

``Router.admit`` draws the fault; ``broken_reply`` says what the caller gets instead of the
usual answer, and each transport delivers it its own way: ``_server`` writes the reply or ends
the connection (a TCP reset, or a plain close after a stall), ``_in_process`` turns it into the
``requests`` answer or error a socket would have given. See ``_faults`` for the kinds and what
``when`` means.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from verigator_nb.sandbox._faults import Fault
from verigator_nb.sandbox._routes import Reply, encode_body

__all__ = ["INJECTED_MESSAGE", "NOT_JSON", "broken_reply"]

INJECTED_MESSAGE: Final = "injected fault"
NOT_JSON: Final = b"<html><body>injected fault: this answer is not JSON</body></html>"


def broken_reply(
    fault: Fault, answer: Callable[[], Reply], pause: Callable[[float], object]
) -> Reply | None:
    """The reply a call broken by ``fault`` gets, or None when it gets none at all.

    ``answer`` applies the call (the backend sees it) and returns its real reply; it is called
    at most once, first thing for ``when="after"``. ``pause`` waits an injected delay. None
    means the connection ends unanswered: ``fault.kind`` says how (``reset``: a TCP reset;
    ``stall``: a plain close, after ``pause(fault.duration)``).
    """
    reply = answer() if fault.when == "after" else None
    if fault.kind == "latency":
        pause(fault.duration)
        return reply if reply is not None else answer()
    if fault.kind == "error":
        return Reply(fault.status, {"message": INJECTED_MESSAGE})
    if fault.kind == "malformed":  # the real answer cut short, or not JSON at all
        real = b"" if reply is None else encode_body(reply.body)
        return Reply(200, real[: len(real) // 2] or NOT_JSON)
    if fault.kind == "stall":
        pause(fault.duration)
    return None
