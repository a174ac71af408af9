"""The HTTP layer's limits, defined once: ``_server`` enforces them, ``_openapi`` states them."""

from __future__ import annotations

from typing import Final

__all__ = ["IDLE_TIMEOUT", "MAX_BODY"]

MAX_BODY: Final = 1 << 20  # 1 MiB: the largest real request is well under 1 KiB
IDLE_TIMEOUT: Final = 300.0  # seconds a connection may sit silent before the server drops it
