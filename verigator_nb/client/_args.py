"""Checks the client runs on arguments before anything is sent, and on answers after.

Bad arguments raise ``ValueError`` naming the argument; an answer missing what the API promises
raises ``InvalidResponseError``. Kept apart so every namespace checks the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from verigator_nb.errors import InvalidResponseError
from verigator_nb.models import METHOD_SMS, METHOD_TOTP

__all__ = [
    "E164",
    "METHODS",
    "field",
    "parse_time",
    "require_credential",
    "require_endpoint",
    "require_method",
    "require_tags",
    "require_text",
    "segment",
    "storable",
]

E164 = re.compile(r"\+[0-9]{7,15}")
METHODS = (METHOD_TOTP, METHOD_SMS)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1: the control characters of Latin-1


def storable(value: object) -> bool:
    """True for a string UTF-8 can carry (no lone surrogates): a request or a log can hold it."""
    if not isinstance(value, str):
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def require_text(name: str, value: object) -> str:
    """``value`` if it is a non-blank string that UTF-8 can carry; else ValueError naming it."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    if not storable(value):  # a lone surrogate: no request could carry it
        raise ValueError(f"{name} must be valid Unicode text")
    return value


def require_credential(name: str, value: object) -> str:
    """A username or password the ``X-Service-Auth`` header carries exactly, else ValueError.

    Refused: surrounding whitespace (what ``open(f).read()`` leaves), control characters such
    as line breaks, characters outside Latin-1 (a header cannot carry them), and a ``:`` in the
    username (it separates the two: ``a:b`` + ``c`` would log in as ``a`` with ``b:c``). The
    message names the argument, never the value.
    """
    text = require_text(name, value)
    if text != text.strip():
        raise ValueError(f"{name} has leading or trailing whitespace (a file's newline?)")
    if _CONTROL.search(text):
        raise ValueError(f"{name} contains a control character such as a line break or tab")
    if not text.isascii():
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"{name} has characters an HTTP header cannot carry") from None
    if name == "username" and ":" in text:
        raise ValueError("username must not contain ':', which ends the username in the header")
    return text


def require_endpoint(endpoint: object) -> str:
    """An http(s) base URL without a trailing ``/``; ValueError naming ``endpoint`` otherwise.

    A URL with a username or password in it is refused (and never echoed): the API reads
    credentials from its header only, and the URL shows up in reprs, messages and the log.
    """
    text = require_text("endpoint", endpoint)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("endpoint is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("endpoint must be an http:// or https:// URL")
    if "@" in parts.netloc:
        raise ValueError("endpoint must not contain a username or password; pass them apart")
    return text.rstrip("/")


def require_tags(tags: object) -> str:
    """Tags as the log stores them: a string, or strings joined with commas; else ValueError."""
    message = "tags must be a string or an iterable of strings"
    if not isinstance(tags, Iterable):
        raise ValueError(message)
    items: list[object] = [tags] if isinstance(tags, str) else list(tags)
    texts = [item for item in items if isinstance(item, str)]
    if len(texts) != len(items):
        raise ValueError(message)
    joined = ",".join(texts)
    if not storable(joined):  # a lone surrogate: no log file could store it
        raise ValueError("tags must be valid Unicode text")
    return joined


def require_method(method: object) -> str:
    """``"totp"`` or ``"sms"``; anything else is a ValueError."""
    if method not in METHODS:
        raise ValueError(f"method must be {METHOD_TOTP!r} or {METHOD_SMS!r}")
    return str(method)


def segment(name: str, value: object) -> str:
    """An id made safe for a URL path segment (``/``, ``..`` and ``%`` cannot escape it).

    ``.`` and ``..`` are refused: quoting leaves them as they are, and requests (like any URL
    library) would then drop the segment or the one before it, naming another resource.
    """
    text = require_text(name, value)
    if text in (".", ".."):
        raise ValueError(f"{name} must not be '.' or '..'")
    return quote(text, safe="")


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
