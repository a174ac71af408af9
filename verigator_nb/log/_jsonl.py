"""The JSON Lines file's lines: every complete row read back, and the file mended for appends.

``parse_lines`` keeps every line that is a row and sets the others aside with a reason, so one
damaged line never costs the rows around it:

- a **blank** line (or one of spaces) holds nothing and is skipped;
- a **torn last line** (not JSON: a write that never finished) is set aside; ``mend_tail`` cuts
  it off before the next append;
- a **complete last row without its newline** (an editor that drops it) is a row; ``mend_tail``
  asks for the missing newline to be written before the next row;
- a **half row glued to a whole one** (a writer cut off mid-row, then another writer's row, as
  two writers on one file could leave it before the file was locked) gives back the whole row;
- any other line that is not a row (not JSON, not an object, an unknown column, a value of the
  wrong kind) is set aside, named by its line number.

A file in which no line at all is a row is not taken for a log: ``LogFormatError``.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

from verigator_nb.log._row_checks import clean_row

__all__ = [
    "TORN",
    "DamagedLogWarning",
    "LogFormatError",
    "check_head",
    "encode",
    "mend_tail",
    "parse_lines",
    "warn_set_aside",
]

TORN = "torn last line (a write that never finished): dropped, and cut before the next append"
GLUED = "the whole row at its end was kept"
_STAGE = "verigator_nb.log."  # warnings point past these modules, at the caller
_GLUE_TRIES = 64  # object starts to try in one damaged line: rows are flat, a few per line


class LogFormatError(ValueError):
    """A log or export that cannot be read: names the file and the line (or row) at fault."""

    def __init__(self, path: str | os.PathLike[str], line: int, reason: str) -> None:
        super().__init__(f"{os.fspath(path)}, line {line}: {reason}")
        self.path = os.fspath(path)
        self.line = line


class DamagedLogWarning(UserWarning):
    """A log was read with lines that hold no row; ``OutcomeLog.set_aside`` lists them."""


class _LineError(ValueError):
    """Why a line is not a row; ``syntax`` when it is not even complete JSON (so maybe torn)."""

    def __init__(self, reason: str, *, syntax: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.syntax = syntax


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):  # _clean_row made it UTC: +00:00 becomes Z
        return value.isoformat(timespec="microseconds")[:-6] + "Z"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
)


def encode(row: dict[str, Any]) -> bytes:
    """One row as one line of the file: UTF-8 JSON and its newline."""
    # JSON escapes newlines inside strings, so the only b"\n" is the terminator.
    return (_ENCODER.encode(row) + "\n").encode("utf-8")


def _row(line: bytes) -> dict[str, Any]:
    """The checked row a line holds; ``_LineError`` says why not (never quoting a value)."""
    try:
        value = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise _LineError("not UTF-8", syntax=True) from None
    except json.JSONDecodeError as exc:  # its message holds a position, not the text
        raise _LineError(f"not JSON ({exc})", syntax=True) from None
    except RecursionError:
        raise _LineError("JSON nested too deeply", syntax=False) from None
    if not isinstance(value, dict):
        raise _LineError("not a JSON object", syntax=False)
    try:
        return clean_row(value)
    except ValueError as exc:  # names columns and types, never values
        raise _LineError(str(exc), syntax=False) from None


def _glued_row(line: bytes) -> dict[str, Any] | None:
    """The whole row that ends ``line`` after a torn one, or ``None``.

    Inside a JSON string a quote is escaped, so ``{"`` in the raw text starts an object or
    ends a string with ``{``; the longest tail that parses as a row is the glued-on row.
    """
    start = line.find(b'{"', 1)
    for _ in range(_GLUE_TRIES):
        if start < 0:
            return None
        try:
            return _row(line[start:])
        except _LineError:
            start = line.find(b'{"', start + 1)
    return None


def _read(line: bytes, last: bool) -> tuple[dict[str, Any] | None, str | None]:
    """A non-blank line as (row, None), (row, reason: glued) or (None, reason set aside)."""
    try:
        return _row(line), None
    except _LineError as exc:
        error = exc
    glued = _glued_row(line) if error.syntax else None
    if glued is not None:
        return glued, f"{error.reason}; {GLUED}"
    return None, TORN if error.syntax and last else error.reason


def parse_lines(path: str, data: bytes) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """The rows of a JSONL log, and the lines set aside as ``(line number, reason)``."""
    lines = data.split(b"\n")  # the last item is what follows the last newline (b"" if none)
    rows: list[dict[str, Any]] = []
    set_aside: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row, reason = _read(line, number == len(lines))
        if row is not None:
            rows.append(row)
        if reason is not None:
            set_aside.append((number, reason))
    if not rows and set_aside and set_aside != [(len(lines), TORN)]:
        first, reason = set_aside[0]
        raise LogFormatError(path, first, f"not an outcome log (no line is a row): {reason}")
    return rows, set_aside


def warn_set_aside(path: Path, set_aside: list[tuple[int, str]]) -> None:
    """Say which lines were set aside, pointing at the first caller outside the log stage."""
    count = len(set_aside)
    numbers = ", ".join(str(line) for line, _ in set_aside[:12]) + (", …" if count > 12 else "")
    which = (
        f"line {numbers}, which holds" if count == 1 else f"{count} lines ({numbers}), which hold"
    )
    frame, level = sys._getframe(), 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(_STAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(
        f"{path}: set aside {which} no row; every other row was read "
        "(OutcomeLog.set_aside says why)",
        DamagedLogWarning,
        stacklevel=level,
    )


def check_head(fd: int, path: Path) -> None:
    """Refuse a file whose first line is not a row, for a writer that reads no further."""
    line, newline, _ = os.pread(fd, 65536, 0).partition(b"\n")
    parse_lines(str(path), line + newline)  # LogFormatError when it holds no row


def _tail(fd: int) -> tuple[int, bytes]:
    """Where the bytes after the file's last newline start, and those bytes."""
    end = size = os.fstat(fd).st_size
    while end > 0:
        start = max(0, end - 65536)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    return end, os.pread(fd, size - end, end)


def mend_tail(fd: int) -> bytes:
    """Make the file ready for a row: cut off a torn last line, or return ``b"\\n"`` to write
    before the row when the last line is whole but has no newline (``b""`` when none is due).

    Decides as ``parse_lines`` does, so the rows in memory stay the rows in the file.
    """
    start, tail = _tail(fd)
    if not tail:
        return b""
    if tail.strip():
        row, reason = _read(tail, last=True)
        if row is None and reason == TORN:
            os.ftruncate(fd, start)
            return b""
    return b"\n"
