"""A folder of outcome logs: one JSONL file per process and UTC day, read back as one log.

Writers and readers agree here on what the folder holds::

    outcomes-2026-11-27-4242.jsonl      # <prefix>-<UTC day>-<process id>.jsonl
    outcomes-2026-11-27-4243.jsonl
    outcomes-2026-11-28-4242.jsonl

``DailyFiles`` names the file a process appends to now (``OutcomeLog.in_folder`` asks it at
each append, so a row goes to the file of the day it was written, and a forked worker gets a
file of its own); ``log_files`` lists every log of a folder in reading order (by file name,
then line), which ``OutcomeLog.load(folder)`` and the report follow.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from verigator_nb.log._jsonl import parse_lines, warn_set_aside

__all__ = ["LOG_SUFFIX", "DailyFiles", "log_files", "read_folder"]

LOG_SUFFIX = ".jsonl"
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def log_files(folder: str | os.PathLike[str]) -> list[Path]:
    """The folder's JSONL logs in reading order: by file name (``outcomes-<day>-...`` sorts by
    day). Hidden files (an export's ``.name.tmp``) and subfolders are not logs."""
    entries = Path(folder).iterdir()
    return sorted(
        (entry for entry in entries if _is_log(entry)),
        key=lambda entry: entry.name,
    )


def read_folder(
    folder: str | os.PathLike[str],
) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Every row of the folder's logs in reading order, and the lines set aside (each reason
    starting with its file's name, and a ``DamagedLogWarning`` per damaged file).
    ``FileNotFoundError`` when the folder holds no log."""
    files = log_files(folder)
    if not files:
        raise FileNotFoundError(f"no outcome log (*{LOG_SUFFIX}) in the folder {os.fspath(folder)}")
    rows: list[dict[str, Any]] = []
    set_aside: list[tuple[int, str]] = []
    for file in files:
        found, aside = parse_lines(str(file), file.read_bytes())
        if aside:
            warn_set_aside(file, aside)
        rows.extend(found)
        set_aside.extend((line, f"{file.name}: {reason}") for line, reason in aside)
    return rows, set_aside


def _is_log(entry: Path) -> bool:
    return entry.suffix.lower() == LOG_SUFFIX and not entry.name.startswith(".") and entry.is_file()


class DailyFiles:
    """Names each process's file for each UTC day in ``folder``: ``<prefix>-<day>-<pid>.jsonl``.

    ``clock`` gives the time that picks the day (timezone-aware; the wall clock by default, a
    fake one in tests). ``ValueError`` for a prefix that is not a plain file-name word;
    the folder is created if missing (``OSError`` if it cannot be, or is not writable).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        prefix: str = "outcomes",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not _PREFIX.fullmatch(prefix):
            raise ValueError("prefix must be letters, digits, '.', '_' or '-', not starting a dot")
        self.folder = Path(folder)
        self.prefix = prefix
        self.now = clock or _utc_now
        self.folder.mkdir(parents=True, exist_ok=True)
        if not os.access(self.folder, os.W_OK | os.X_OK):  # fail at start-up, not at a login
            raise PermissionError(f"{self.folder} is not writable: no outcome log can go there")

    def path(self, now: datetime, pid: int) -> Path:
        """The file process ``pid`` appends to at ``now``."""
        return self.folder / f"{self.prefix}-{now.astimezone(UTC):%Y-%m-%d}-{pid}{LOG_SUFFIX}"

    @staticmethod
    def next_midnight(now: datetime) -> datetime:
        """The UTC midnight after ``now``: from then on rows go to the next day's file."""
        day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return day + timedelta(days=1)
