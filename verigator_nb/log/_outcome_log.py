"""The outcome log: one row per initiate or verify call, in memory or in a durable file.

::

    log = OutcomeLog("outcomes.jsonl")          # created, or resumed when it exists
    api = Api(..., log=log)                     # each call is a row on disk before it returns
    log.df                                      # a DataFrame at the schema's dtypes
    log.to_parquet("outcomes.parquet")          # an atomic snapshot (also ``to_csv``)
    OutcomeLog.load("outcomes.jsonl")           # read back (.jsonl, .csv or .parquet)

The file is JSON Lines: each row is one line, written with one ``os.write`` on a descriptor
opened with ``O_APPEND``, so a killed process loses at most the row in flight; ``fsync=True``
adds an ``os.fsync`` per row for power loss. One writer per file: ``OutcomeLog(path)`` holds an
exclusive ``flock`` on it while open (``LogLockedError`` for a second writer), released on
``close`` or when the process dies. ``load`` reads without the lock and without write access.
Reading keeps every complete row and sets aside, with a ``DamagedLogWarning``, any line that is
not one (``_jsonl``). Columns come from ``verigator_nb.schema``; a key that is not a column is
refused, so a PIN, secret or password has nowhere to go. CSV exports neutralise cells that a
spreadsheet would run as a formula (``_spreadsheet``).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from verigator_nb.log._atomic import fsync_directory, write_atomically
from verigator_nb.log._jsonl import LogFormatError, mend_tail, parse_lines
from verigator_nb.log._row_checks import FROM_TEXT, KNOWN_COLUMNS, clean_row
from verigator_nb.log._spreadsheet import neutralise_frame, restore
from verigator_nb.schema import COLUMN_NAMES, empty_frame, to_frame

__all__ = ["DamagedLogWarning", "LogFormatError", "LogLockedError", "OutcomeLog"]

_CSV_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_EXPORT_SUFFIXES = (".csv", ".parquet", ".pq")


# The columns holding text, neutralised in CSV exports (numbers, flags and times never are).
_TEXT_COLUMNS = tuple(
    name
    for name, dtype in empty_frame().dtypes.items()
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype)
)


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


class DamagedLogWarning(UserWarning):
    """A log was read with lines that hold no row; ``OutcomeLog.set_aside`` lists them."""


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):  # _clean_row made it UTC: +00:00 becomes Z
        return value.isoformat(timespec="microseconds")[:-6] + "Z"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
)


def _encode(row: dict[str, Any]) -> bytes:
    # JSON escapes newlines inside strings, so the only b"\n" is the terminator.
    return (_ENCODER.encode(row) + "\n").encode("utf-8")


# --- the file ---------------------------------------------------------------------------------


def _lock(fd: int, path: Path) -> None:
    """Take the writer's lock on the open file ``fd`` (released when its last copy closes)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # flock: per open file, not per process
    except BlockingIOError:
        raise LogLockedError(path) from None


def _warn(path: Path, set_aside: list[tuple[int, str]]) -> None:
    """Say which lines were set aside, pointing at the first caller outside this module."""
    count = len(set_aside)
    numbers = ", ".join(str(line) for line, _ in set_aside[:12]) + (", …" if count > 12 else "")
    which = (
        f"line {numbers}, which holds" if count == 1 else f"{count} lines ({numbers}), which hold"
    )
    frame, level = sys._getframe(), 1
    while frame.f_back is not None and frame.f_globals.get("__name__") == __name__:
        frame, level = frame.f_back, level + 1
    warnings.warn(
        f"{path}: set aside {which} no row; every other row was read "
        "(OutcomeLog.set_aside says why)",
        DamagedLogWarning,
        stacklevel=level,
    )


def _records(path: str, records: Iterable[Mapping[str, Any]], first: int) -> list[dict[str, Any]]:
    rows = []
    for number, record in enumerate(records, first):
        try:
            rows.append(clean_row(record))
        except ValueError as exc:
            raise LogFormatError(path, number, str(exc)) from None
    return rows


def _from_text(path: str | os.PathLike[str], line: int, cells: Iterable[str]) -> dict[str, Any]:
    """One CSV record's cells as values (an empty cell is a missing value)."""
    record = {}
    for name, text in zip(COLUMN_NAMES, cells, strict=True):
        if text:
            try:
                record[name] = FROM_TEXT[name](restore(text) if name in _TEXT_COLUMNS else text)
            except (KeyError, ValueError):
                raise LogFormatError(path, line, f"column {name!r} does not parse") from None
    return record


def _require_columns(path: str, columns: Iterable[object]) -> None:
    found = list(columns)
    if found != list(COLUMN_NAMES):
        missing = [name for name in COLUMN_NAMES if name not in found]
        extra = [str(name) for name in found if name not in KNOWN_COLUMNS]
        detail = f"missing {missing}, unknown {extra}" if missing or extra else "wrong order"
        raise LogFormatError(path, 1, f"columns are not the outcome log's: {detail}")


class OutcomeLog:
    """Rows of outcomes: in memory (``path=None``) or appended durably to a JSON Lines file.

    An existing file is resumed: its rows are read and new ones go after them; lines that hold
    no row are set aside (``set_aside``, and a ``DamagedLogWarning``). ``LogLockedError`` when
    another writer has the file open; ``LogFormatError`` for a file in which no line is a row;
    ``ValueError`` for a row with an unknown key or a value of the wrong kind. Thread-safe.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, fsync: bool = False) -> None:
        self._path = None if path is None else Path(path)
        self._fsync = fsync
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []
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

    def _open(self, path: Path) -> None:
        """Become the file's one writer: open it for appending, lock it, read its rows."""
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
            with open(fd, "rb", closefd=False) as stream:
                data = stream.read()
            rows, set_aside = parse_lines(str(path), data)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._close_fd = fd, weakref.finalize(self, os.close, fd)
        self._pid = os.getpid()  # a forked child shares the lock, so it must not write
        self._mend = bool(data)  # checked at the first append, when the file is really ours
        self._adopt(rows, set_aside)

    def _adopt(self, rows: list[dict[str, Any]], set_aside: list[tuple[int, str]]) -> None:
        """Take the rows read from the file as this log's rows (warning of lines set aside)."""
        if set_aside and set_aside != self._set_aside and self._path is not None:
            _warn(self._path, set_aside)
        self._rows, self._set_aside = rows, set_aside
        self._frame, self._frame_rows = None, 0

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, fsync: bool = False) -> OutcomeLog:
        """Read a log back: ``.csv`` and ``.parquet`` exports give an in-memory log; a JSONL log
        is read without write access or the writer's lock (another process may be writing it),
        and its first ``append`` makes it the writer, as ``OutcomeLog(path)`` would (reading
        the file again then). ``FileNotFoundError`` if it is missing."""
        suffix = Path(path).suffix.lower()
        if suffix == ".csv":
            return cls.from_csv(path)
        if suffix in (".parquet", ".pq"):
            return cls.from_parquet(path)
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
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
        _require_columns(os.fspath(path), frame.columns)
        records = [
            _from_text(path, number, cells)
            for number, cells in enumerate(frame.itertuples(index=False, name=None), 2)
        ]
        return cls._in_memory(_records(os.fspath(path), records, 2))

    @classmethod
    def from_parquet(cls, path: str | os.PathLike[str]) -> OutcomeLog:
        """An in-memory log from a ``to_parquet`` export."""
        frame = pd.read_parquet(path)
        _require_columns(os.fspath(path), frame.columns)
        return cls._in_memory(_records(os.fspath(path), frame.to_dict("records"), 1))

    @classmethod
    def _in_memory(cls, rows: list[dict[str, Any]]) -> OutcomeLog:
        log = cls()
        log._rows = rows
        return log

    def append(self, row: Mapping[str, Any]) -> None:
        """Check ``row``, store it, and (for a file) write it before returning."""
        clean = clean_row(row)
        line = _encode(clean) if self._path is not None else b""
        with self._lock:  # write and in-memory append together: file order == memory order
            if self._path is not None:
                self._write(line)
            self._rows.append(clean)

    def _write(self, line: bytes) -> None:
        if self._closed:
            raise ValueError("I/O operation on a closed outcome log")
        if self._fd is None and self._path is not None:  # loaded: become the writer now
            self._open(self._path)
        fd = self._fd
        if fd is None or self._pid != os.getpid():
            raise LogLockedError(self._path or "")
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

    def _take_back(self, fd: int, start: int) -> None:
        """Remove a row written in part (a full disk, a file-size limit) so the file stays equal
        to the rows in memory; if even that fails, mend the file before the next row."""
        try:
            os.ftruncate(fd, start)
        except OSError:
            self._mend = True

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Copies of the rows, oldest first, each with every column (``None`` when empty)."""
        with self._lock:
            return [dict(row) for row in self._rows]

    @property
    def df(self) -> pd.DataFrame:
        """The rows as a DataFrame at the schema's dtypes (built once, extended on append)."""
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
        lines (and the half row of a glued line, whose whole row was kept) and a torn last line.
        Empty for a whole file and for an in-memory log."""
        with self._lock:
            return list(self._set_aside)

    @property
    def path(self) -> Path | None:
        """The JSONL file, or ``None`` for an in-memory log."""
        return self._path

    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        """Write a Parquet snapshot atomically: ``path`` is the old file or the new, never half."""
        frame = self.df
        write_atomically(path, lambda temp: frame.to_parquet(temp, index=False))

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write a CSV snapshot atomically (times as ISO 8601 UTC); read it with ``load``.

        Text that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, ...) gets a
        leading ``'``; ``load`` takes it off again, so the round trip is lossless."""
        frame = neutralise_frame(self.df, _TEXT_COLUMNS)
        write_atomically(
            path,
            # CRLF rows (RFC 4180): the csv writer then quotes a lone CR inside a cell, which a
            # reader would otherwise take for the end of the row.
            lambda temp: frame.to_csv(
                temp, index=False, date_format=_CSV_TIME_FORMAT, lineterminator="\r\n"
            ),
        )

    def close(self) -> None:
        """Close the file and let go of its lock (idempotent); later appends raise
        ``ValueError``."""
        with self._lock:
            self._closed = self._path is not None
            if self._fd is not None:
                self._fd = None
                self._close_fd()

    def __enter__(self) -> OutcomeLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        where = "in memory" if self._path is None else repr(str(self._path))
        return f"OutcomeLog({where}, rows={len(self._rows)})"
