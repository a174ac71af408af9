"""The HTTP layer's limits, defined once: both transports (``_server`` over sockets and
``_in_process``) enforce them, ``_openapi`` states them; and the framing check they share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from verigator_nb.sandbox._errors import BadRequest, LengthRequired, PayloadTooLarge

__all__ = ["IDLE_TIMEOUT", "MAX_BODY", "declared_length", "too_large", "too_short"]

MAX_BODY: Final = 1 << 20  # 1 MiB: the largest real request is well under 1 KiB
IDLE_TIMEOUT: Final = 300.0  # seconds a connection may sit silent before the server drops it


def declared_length(transfer_encoding: str | None, lengths: Sequence[str]) -> int:
    """The body's length as its headers declare it (0 without ``Content-Length``).

    ``LengthRequired`` (411) for a chunked body; ``BadRequest`` (400) for conflicting lengths
    (RFC 9112 6.3: the framing is then unknowable) or one that is not a whole number. The
    caller compares the answer with ``MAX_BODY``.
    """
    if transfer_encoding:
        raise LengthRequired()
    if len(set(lengths)) > 1:
        raise BadRequest("conflicting Content-Length headers")
    if not lengths:
        return 0
    declared = lengths[0]
    if not (declared.isascii() and declared.isdigit()):
        raise BadRequest("Content-Length must be a whole number of bytes")
    return int(declared)


def too_large() -> PayloadTooLarge:
    """413 for a body declared over ``MAX_BODY``."""
    return PayloadTooLarge(f"request body over {MAX_BODY} bytes")


def too_short() -> BadRequest:
    """400 for a body shorter than its declared length."""
    return BadRequest("request body shorter than its Content-Length")
