"""Pure helpers that turn call results into the short texts and HTML the forms show.

They hold no widgets, so they test without a kernel. Everything interpolated into HTML is
escaped: ids and names come from the server and may contain markup.
"""

from __future__ import annotations

import errno
import re
from html import escape, unescape

from verigator_nb.errors import (
    ConnectionFailedError,
    InvalidDataError,
    NoSuchResourceError,
    RequestTimeoutError,
    ResourceAlreadyExistsError,
    ResourceForbiddenError,
    VerigatorError,
    WrongCredentialsError,
)
from verigator_nb.models import (
    RESULT_EXPIRED,
    RESULT_INVALID,
    RESULT_THROTTLED,
    Initiation,
    Verification,
)

__all__ = [
    "REASONS",
    "error_text",
    "explain",
    "initiation_text",
    "note_html",
    "outcome_text",
    "phone_hint",
    "plain",
    "styled",
    "tone_of",
    "unlogged_text",
]

REASONS = {
    RESULT_INVALID: "wrong PIN",
    RESULT_EXPIRED: "PIN expired or already used",
    RESULT_THROTTLED: "too many wrong PINs: press Initiate for a new one; a locked user waits",
}

_COLOURS = {"ok": "#1a7f37", "bad": "#cf222e", "info": "#57606a", "warn": "#9a6700"}


def styled(text: str, tone: str) -> str:
    """``text`` escaped and coloured by tone: ok, bad, info or warn."""
    return f'<span style="color:{_COLOURS[tone]};font-weight:600">{escape(text)}</span>'


def tone_of(html: str) -> str | None:
    """The tone a snippet made by ``styled`` is coloured with; ``None`` for anything else."""
    found = re.search(r"color:(#[0-9a-f]{6})", html)
    colour = found.group(1) if found else None
    return next((name for name, value in _COLOURS.items() if value == colour), None)


def plain(html: str) -> str:
    """The text of a snippet made by ``styled``: ``<br>`` a newline, other tags dropped,
    entities decoded."""
    return unescape(re.sub(r"<[^>]+>", "", html.replace("<br>", "\n")))


def initiation_text(initiation: Initiation) -> str:
    """What the server did with a start request, with the fallback spelled out."""
    used = initiation.method.upper()
    if initiation.fallback:
        return f"Server used {used} — fell back to SMS (the user has no authenticator app)"
    return f"Server used {used}"


def outcome_text(verification: Verification) -> str:
    """``Verified`` or ``Not verified: <RESULT> (<reason>)``."""
    if verification.verified:
        return "Verified"
    result = verification.result or "UNKNOWN"
    reason = REASONS.get(result, "no reason given")
    return f"Not verified: {result} ({reason})"


def error_text(error: VerigatorError | ValueError) -> str:
    """A one-line, secret-free description of an API or input error."""
    if isinstance(error, VerigatorError):
        status = f"HTTP {error.status}, " if error.status is not None else ""
        return f"{type(error).__name__} ({status}{error.method} {error.path}): {error.message}"
    return f"Invalid input: {error}"


# Said to people for each action: what happened, and what to do next.
_GONE = "This user or service no longer exists (it was deleted): choose another user."
_NOT_FOUND = {
    "start": _GONE,
    "check": "This user or login no longer exists: choose another user, then Initiate.",
    "app_code": "This user has no authenticator app: press Enrol app first, or use SMS.",
}
_LOCKED = "temporarily locked"


def explain(error: VerigatorError | ValueError, action: str, *, lockout: float | None) -> str:
    """What went wrong with the form's ``action`` (start, check, app_code...), for a person:
    what happened and what to do, with how long to wait when the rules say so (``lockout``:
    the sandbox's seconds a locked user waits; None against another server)."""
    if isinstance(error, ValueError):
        return str(error)
    if isinstance(error, ResourceAlreadyExistsError) and _LOCKED in error.message:
        wait = f"up to {lockout / 60:g} minutes" if lockout else "a while"
        return (
            "This user is locked after too many wrong PINs in a row. Wait "
            f"{wait} before starting again (against the sandbox, move its clock on)."
        )
    if isinstance(error, ResourceAlreadyExistsError):
        return "That exists already: choose it from the list, or give another name."
    if isinstance(error, NoSuchResourceError):
        return _NOT_FOUND.get(action, _GONE)
    if isinstance(error, WrongCredentialsError):
        return "The API refused this account's username or password: check them."
    if isinstance(error, ResourceForbiddenError):
        return "This account may not do that here."
    if isinstance(error, InvalidDataError):
        return "The API refused what was sent as invalid: check the fields."
    if isinstance(error, RequestTimeoutError):
        return "The API did not answer in time: try again in a moment."
    if isinstance(error, ConnectionFailedError):
        return "Could not reach the API: check the endpoint and the network, then try again."
    return "The API could not do that: see the details, then try again."


def note_html(text: str, tone: str, detail: str = "") -> str:
    """A note in its tone, with its technical ``detail`` folded under "Details"."""
    line = styled(text, tone)
    if detail:
        line += f"<details><summary>Details</summary><code>{escape(detail)}</code></details>"
    return line


# Why a write failed, in the words a person at a full disk would use.
_WRITE_FAILURES = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EIO: "input/output error",
}


def unlogged_text(error: OSError | ValueError) -> str:
    """Says the call was made but its outcome-log row was not written, and why."""
    if isinstance(error, OSError):
        reason = _WRITE_FAILURES.get(error.errno or 0, "")
        detail = error.strerror or type(error).__name__
        why = f"{reason} ({detail})" if reason else detail
    else:  # a closed log, or a row the log refused: its message names no value
        why = str(error)
    return (
        f"The call was made, but its row was not written to the outcome log: {why}. "
        "The outcome shown here is missing from the log; later calls are logged again "
        "once the log can be written."
    )


def phone_hint(number: str) -> str:
    """Which phone, without the number: ``phone ending 67``."""
    digits = re.sub(r"\D", "", number)
    return f"phone ending {digits[-2:]}" if len(digits) >= 2 else "the user's phone"
