"""The outcome log: one row per initiate or verify call, in memory or in a durable file.

::

    log = OutcomeLog("outcomes.jsonl")          # created, or resumed when it exists
    api = Api(..., log=log)                     # each call is a row on disk before it returns
    log.df                                      # a DataFrame at the schema's dtypes
    log.to_parquet("outcomes.parquet")          # an atomic snapshot (also ``to_csv``)
    OutcomeLog.load("outcomes.jsonl")           # read back (.jsonl, .csv or .parquet)

    log = OutcomeLog.in_folder("/var/log/verigator")   # a server's: a file per process and day
    OutcomeLog.load("/var/log/verigator")              # every file of the folder as one log

The file is JSON Lines: each row is one line, written with one ``os.write`` on a descriptor
opened with ``O_APPEND``, so a killed process loses at most the row in flight; ``fsync=True``
adds an ``os.fsync`` per row for power loss. One writer per file: ``OutcomeLog(path)`` holds an
exclusive ``flock`` on it while open (``LogLockedError`` for a second writer), released on
``close`` or when the process dies. ``load`` reads without the lock and without write access.
Reading keeps every complete row and sets aside, with a ``DamagedLogWarning``, any line that is
not one (``_jsonl``). Columns come from ``verigator_nb.schema``; a key that is not a column is
refused, so a PIN, secret or password has nowhere to go. CSV exports neutralise cells that a
spreadsheet would run as a formula (``_exports``, ``_spreadsheet``).

In a server, ``keep_rows=False`` keeps memory flat and ``errors="count"`` keeps a full disk from
failing the call being recorded; ``in_folder`` turns both on and names the files (``_folder``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import weakref
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from verigator_nb._failures import Failures
from verigator_nb.log._atomic import fsync_directory
from verigator_nb.log._exports import rows_from_csv, rows_from_parquet, write_csv, write_parquet
from verigator_nb.log._folder import DailyFiles, read_folder
from verigator_nb.log._jsonl import (
    DamagedLogWarning,
    LogFormatError,
    check_head,
    encode,
    mend_tail,
    parse_lines,
    warn_set_aside,
)
from verigator_nb.log._row_checks import clean_row
from verigator_nb.schema import to_frame

__all__ = ["DamagedLogWarning", "LogFormatError", "LogLockedError", "OutcomeLog"]

_EXPORT_SUFFIXES = (".csv", ".parquet", ".pq")
_ERRORS = ("raise", "count")


class LogLockedError(OSError):
    """The log is open for appending elsewhere: in another process or another ``OutcomeLog``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(
            errno.EAGAIN,
            f"{os.fspath(path)} is open for appending by another writer (a process, or another "
            "OutcomeLog in this one): close it there, or read it with OutcomeLog.load()",
        )
        self.filename = os.fspath(path)

    def __str__(self) -> str:
        return str(self.strerror)


# --- the file ---------------------------------------------------------------------------------


def _lock(fd: int, path: Path) -> None:
    """Take the writer's lock on the open file ``fd`` (released when its last copy closes)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # flock: per open file, not per process
    except BlockingIOError:
        raise LogLockedError(path) from None


def _failures_for(errors: str, where: str) -> Failures | None:
    """What ``append`` does with a row it could not store: raise it, or count it."""
    if errors not in _ERRORS:
        raise ValueError(f"errors must be one of {', '.join(map(repr, _ERRORS))}")
    return Failures(where) if errors == "count" else None


class OutcomeLog:
    """Rows of outcomes: in memory (``path=None``) or appended durably to a JSON Lines file.

    An existing file is resumed: its rows are read and new ones go after them; lines that hold
    no row are set aside (``set_aside``, and a ``DamagedLogWarning``). ``LogLockedError`` when
    another writer has the file open; ``LogFormatError`` for a file in which no line is a row;
    ``ValueError`` for a row with an unknown key or a value of the wrong kind. Thread-safe.

    For a server, two options (``in_folder`` turns both on): ``keep_rows=False`` keeps no row in
    memory and reads none from the file, so memory stays flat however long the process runs
    (``rows``, ``df`` and the exports then raise: read the file back with ``load``);
    ``errors="count"`` makes ``append`` count a row it could not store (``failed_appends``; the
    first is logged) instead of raising it, so a full disk never fails the call being recorded.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        fsync: bool = False,
        keep_rows: bool = True,
        errors: Literal["raise", "count"] = "raise",
    ) -> None:
        if path is None and not keep_rows:
            raise ValueError("keep_rows=False needs a path: an in-memory log is its rows")
        self._path = None if path is None else Path(path)
        self._fsync = fsync
        self._keep_rows = keep_rows
        self._failures = _failures_for(errors, f"OutcomeLog({os.fspath(path or '')!r})")
        self._daily: DailyFiles | None = None  # set by in_folder: the file follows the day
        self._until = datetime.min.replace(tzinfo=UTC)  # when the daily file must change
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []
        self._written = 0
        self._set_aside: list[tuple[int, str]] = []
        self._frame: pd.DataFrame | None = None
        self._frame_rows = 0
        self._fd: int | None = None
        self._pid = 0
        self._closed = False
        self._mend = False  # the file's end must be mended before the next row
        self._close_fd: Callable[[], object] = lambda: None
        if self._path is not None:
            self._open(self._path)

    @classmethod
    def in_folder(
        cls,
        folder: str | os.PathLike[str],
        *,
        prefix: str = "outcomes",
        fsync: bool = False,
        errors: Literal["raise", "count"] = "count",
        clock: Callable[[], datetime] | None = None,
    ) -> OutcomeLog:
        """A log for a server: each process appends to a file of its own in ``folder``, a new
        one each UTC day, ``<prefix>-<YYYY-MM-DD>-<pid>.jsonl``; no rows kept in memory, and a
        row that cannot be stored is counted, not raised (``errors="count"``).

        Files open at the first row, so a log made before a server forks its workers gives
        each worker its own file. The day is the UTC date of ``clock()`` when the row is
        written (the wall clock by default). Read the folder back with
        ``OutcomeLog.load(folder)``. The folder is created if missing; ``OSError`` if it cannot
        be or is not writable, ``ValueError`` for a ``prefix`` that is not a plain name.
        """
        daily = DailyFiles(folder, prefix=prefix, clock=clock)
        log = cls(fsync=fsync)
        log._daily, log._keep_rows = daily, False
        log._failures = _failures_for(errors, f"OutcomeLog.in_folder({str(daily.folder)!r})")
        return log

    def _open(self, path: Path) -> None:
        """Become the file's one writer: open it for appending, lock it, read its rows (with
        ``keep_rows=False``, only its first line, to be sure it is a log)."""
        if path.suffix.lower() in _EXPORT_SUFFIXES:
            raise ValueError(f"{path} is an export; use OutcomeLog.load() to read it")
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
        try:
            fd: int | None = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            fd = None  # opened below, outside this handler: its error must not chain to this
        created = fd is not None
        if fd is None:
            fd = os.open(path, flags)
        try:
            _lock(fd, path)
            if created and self._fsync:
                fsync_directory(os.path.dirname(os.path.abspath(path)))
            if self._keep_rows:
                with open(fd, "rb", closefd=False) as stream:
                    data = stream.read()
                rows, set_aside = parse_lines(str(path), data)
            else:
                check_head(fd, path)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._close_fd = fd, weakref.finalize(self, os.close, fd)
        self._pid = os.getpid()  # a forked child shares the lock, so it must not write
        # checked at the first append, when the file is really ours
        self._mend = os.fstat(fd).st_size > 0
        if self._keep_rows:
            self._adopt(rows, set_aside)

    def _adopt(self, rows: list[dict[str, Any]], set_aside: list[tuple[int, str]]) -> None:
        """Take the rows read from the file as this log's rows (warning of lines set aside)."""
        if set_aside and set_aside != self._set_aside and self._path is not None:
            warn_set_aside(self._path, set_aside)
        self._rows, self._set_aside = rows, set_aside
        self._frame, self._frame_rows = None, 0

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, fsync: bool = False) -> OutcomeLog:
        """Read a log back: ``.csv`` and ``.parquet`` exports give an in-memory log; a JSONL log
        is read without write access or the writer's lock (another process may be writing it),
        and its first ``append`` makes it the writer, as ``OutcomeLog(path)`` would (reading
        the file again then). A folder gives every JSONL log in it as one in-memory log, read
        by file name, then line (``in_folder``'s files: by day). ``FileNotFoundError`` if it is
        missing, or a folder holds no ``.jsonl`` file."""
        suffix = Path(path).suffix.lower()
        if suffix == ".csv":
            return cls.from_csv(path)
        if suffix in (".parquet", ".pq"):
            return cls.from_parquet(path)
        if os.path.isdir(path):
            log = cls._in_memory([])
            log._rows, log._set_aside = read_folder(path)
            return log
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no outcome log at {os.fspath(path)}")
        with open(path, "rb") as stream:
            data = stream.read()
        log = cls(fsync=fsync)
        log._path = Path(path)
        log._adopt(*parse_lines(os.fspath(path), data))
        return log

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> OutcomeLog:
        """An in-memory log from a ``to_csv`` export (an empty cell is a missing value)."""
        return cls._in_memory(rows_from_csv(path))

    @classmethod
    def from_parquet(cls, path: str | os.PathLike[str]) -> OutcomeLog:
        """An in-memory log from a ``to_parquet`` export."""
        return cls._in_memory(rows_from_parquet(path))

    @classmethod
    def _in_memory(cls, rows: list[dict[str, Any]]) -> OutcomeLog:
        log = cls()
        log._rows = rows
        return log

    def append(self, row: Mapping[str, Any]) -> None:
        """Check ``row``, store it, and (for a file) write it before returning. With
        ``errors="count"`` a row that cannot be stored is counted and logged, never raised."""
        if self._failures is None:
            self._append(row)
            return
        try:
            self._append(row)
        except Exception as exc:  # whatever it is, the call being recorded must go on
            self._failures.add(exc)

    def _append(self, row: Mapping[str, Any]) -> None:
        clean = clean_row(row)
        durable = self._path is not None or self._daily is not None
        line = encode(clean) if durable else b""
        with self._lock:  # write and in-memory append together: file order == memory order
            if durable:
                self._write(line)
            if self._keep_rows:
                self._rows.append(clean)
            self._written += 1

    def _write(self, line: bytes) -> None:
        fd = self._writer()
        if self._mend:  # a torn last line is cut, a missing newline goes before the row
            line = mend_tail(fd) + line
        start = os.fstat(fd).st_size
        try:
            written = os.write(fd, line)
            while written < len(line):  # a short write, e.g. a nearly full disk
                written += os.write(fd, line[written:])
        except BaseException:
            self._take_back(fd, start)
            raise
        self._mend = False
        if self._fsync:
            os.fsync(fd)

    def _writer(self) -> int:
        """The descriptor the next row goes to (opened now for a loaded log, and for the first
        row of each day, or of a forked process, of a folder log)."""
        if self._closed:
            raise ValueError("I/O operation on a closed outcome log")
        if self._daily is not None:
            self._follow_the_day(self._daily)
        elif self._fd is None and self._path is not None:  # loaded: become the writer now
            self._open(self._path)
        fd = self._fd
        if fd is None or self._pid != os.getpid():
            raise LogLockedError(self._path or "")
        return fd

    def _follow_the_day(self, daily: DailyFiles) -> None:
        """Make this process's file for today the one written: the next day's file from the
        first row at or after UTC midnight, and a file of its own in a forked process. Runs
        under the append lock, so every row goes to exactly one file."""
        now, pid = daily.now(), os.getpid()
        if self._fd is not None and self._pid == pid and now < self._until:
            return
        self._let_go()
        path = daily.path(now, pid)
        self._open(path)
        self._path, self._until = path, daily.next_midnight(now)

    def _take_back(self, fd: int, start: int) -> None:
        """Remove a row written in part (a full disk, a file-size limit) so the file stays equal
        to the rows in memory; if even that fails, mend the file before the next row."""
        try:
            os.ftruncate(fd, start)
        except OSError:
            self._mend = True

    def _let_go(self) -> None:
        """Close the file being written, if any (a forked copy closes only its descriptor: the
        lock stays with the process that opened it)."""
        if self._fd is not None:
            self._fd = None
            self._close_fd()

    def _require_rows(self) -> None:
        if not self._keep_rows:
            where = self._daily.folder if self._daily is not None else self._path
            raise ValueError(
                f"this log keeps no rows in memory (keep_rows=False): read them back with "
                f"OutcomeLog.load({os.fspath(where or '')!r})"
            )

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Copies of the rows, oldest first, each with every column (``None`` when empty).
        ``ValueError`` for a log that keeps no rows."""
        self._require_rows()
        with self._lock:
            return [dict(row) for row in self._rows]

    @property
    def df(self) -> pd.DataFrame:
        """The rows as a DataFrame at the schema's dtypes (built once, extended on append).
        ``ValueError`` for a log that keeps no rows."""
        self._require_rows()
        with self._lock:
            frame, done = self._frame, self._frame_rows
            rows: list[Mapping[str, Any]] = [*self._rows[done:]]
        if frame is None or rows:
            part = to_frame(rows)
            frame = part if frame is None else pd.concat([frame, part], ignore_index=True)
            with self._lock:
                if self._frame_rows == done:
                    self._frame, self._frame_rows = frame, done + len(rows)
        return frame.copy(deep=False)  # callers may add columns without touching the cache

    @property
    def set_aside(self) -> list[tuple[int, str]]:
        """The file's lines that hold no row, as ``(line number, reason)``, oldest first: damaged
        lines (and the half row of a glued line, whose whole row was kept) and a torn last line;
        for a folder, each reason starts with its file's name. Empty for a whole file, an
        in-memory log and a log that keeps no rows (it reads none)."""
        with self._lock:
            return list(self._set_aside)

    @property
    def path(self) -> Path | None:
        """The JSONL file (for ``in_folder``, the one written last; ``None`` before the first
        row), or ``None`` for an in-memory log."""
        return self._path

    @property
    def failed_appends(self) -> int:
        """Rows that could not be stored and were counted, not raised (``errors="count"``)."""
        return 0 if self._failures is None else self._failures.count

    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        """Write a Parquet snapshot atomically: ``path`` is the old file or the new, never half."""
        write_parquet(self.df, path)

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write a CSV snapshot atomically (times as ISO 8601 UTC); read it with ``load``.

        Text that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, ...) gets a
        leading ``'``; ``load`` takes it off again, so the round trip is lossless."""
        write_csv(self.df, path)

    def close(self) -> None:
        """Close the file and let go of its lock (idempotent); later appends raise
        ``ValueError`` (counted, with ``errors="count"``)."""
        with self._lock:
            self._closed = self._path is not None or self._daily is not None
            self._let_go()

    def __enter__(self) -> OutcomeLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        """The rows held; for a log that keeps none, the rows it has written."""
        return len(self._rows) if self._keep_rows else self._written

    def __repr__(self) -> str:
        if self._daily is not None:
            where = f"in folder {str(self._daily.folder)!r}"
        else:
            where = "in memory" if self._path is None else repr(str(self._path))
        return f"OutcomeLog({where}, rows={len(self)})"
