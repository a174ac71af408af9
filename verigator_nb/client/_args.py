"""Checks the client runs on arguments before anything is sent, and on answers after.

Bad arguments raise ``ValueError`` naming the argument; an answer missing what the API promises
raises ``InvalidResponseError``. Kept apart so every namespace checks the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from verigator_nb.errors import InvalidResponseError
from verigator_nb.models import METHOD_SMS, METHOD_TOTP

__all__ = ["E164", "METHODS", "field", "parse_time", "require_method", "require_text", "segment"]

E164 = re.compile(r"\+[0-9]{7,15}")
METHODS = (METHOD_TOTP, METHOD_SMS)


def require_text(name: str, value: object) -> str:
    """``value`` if it is a non-blank string that UTF-8 can carry; else ValueError naming it."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no request could carry it
            raise ValueError(f"{name} must be valid Unicode text") from None
    return value


def require_method(method: object) -> str:
    """``"totp"`` or ``"sms"``; anything else is a ValueError."""
    if method not in METHODS:
        raise ValueError(f"method must be {METHOD_TOTP!r} or {METHOD_SMS!r}")
    return str(method)


def segment(name: str, value: object) -> str:
    """An id made safe for a URL path segment (``/``, ``..`` and ``%`` cannot escape it)."""
    return quote(require_text(name, value), safe="")


def parse_time(payload: Mapping[str, Any], path: str) -> datetime:
    """The answer's ISO 8601 ``ctime``; InvalidResponseError when missing or malformed."""
    try:
        return datetime.fromisoformat(payload["ctime"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidResponseError("answer has no valid ctime", path=path) from exc


def field(payload: Any, key: str, path: str) -> Any:
    """``payload[key]`` of a JSON object answer; InvalidResponseError when it is not there."""
    if not isinstance(payload, dict) or key not in payload:
        raise InvalidResponseError(f"answer has no {key!r}", path=path)
    return payload[key]
