"""The outcome log: one row per initiate or verify call, in memory or in a durable file.

::

    log = OutcomeLog("outcomes.jsonl")          # created, or resumed when it exists
    api = Api(..., log=log)                     # each call is a row on disk before it returns
    log.df                                      # a DataFrame at the schema's dtypes
    log.to_parquet("outcomes.parquet")          # an atomic snapshot (also ``to_csv``)
    OutcomeLog.load("outcomes.jsonl")           # read back (.jsonl, .csv or .parquet)

The file is JSON Lines: each row is one line, written with one ``os.write`` on a descriptor
opened with ``O_APPEND``, so a killed process loses at most the row in flight; ``fsync=True``
adds an ``os.fsync`` per row for power loss. A torn last line (a crash mid-write) is skipped
when reading and cut off before the next append. Columns come from ``verigator_nb.schema``; a
key that is not a column is refused, so a PIN, secret or password has nowhere to go.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from verigator_nb.log._atomic import fsync_directory, write_atomically
from verigator_nb.log._row_checks import FROM_TEXT, KNOWN_COLUMNS, clean_row
from verigator_nb.schema import COLUMN_NAMES, to_frame

__all__ = ["LogFormatError", "OutcomeLog"]

_CSV_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_EXPORT_SUFFIXES = (".csv", ".parquet", ".pq")


class LogFormatError(ValueError):
    """A log or export that cannot be read: names the file and the line (or row) at fault."""

    def __init__(self, path: str | os.PathLike[str], line: int, reason: str) -> None:
        super().__init__(f"{os.fspath(path)}, line {line}: {reason}")
        self.path = os.fspath(path)
        self.line = line


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


def _parse_lines(path: str, data: bytes) -> tuple[list[dict[str, Any]], bool]:
    """The rows of a JSONL log, and whether its last line was torn (and so skipped)."""
    lines = data.split(b"\n")
    torn = lines.pop() != b""  # after a final b"\n", split leaves one empty item
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            rows.append(clean_row(row))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            reason = "empty line" if not line.strip() else str(exc)
            raise LogFormatError(
                path, number, f"{reason} (only a torn last line is tolerated)"
            ) from None
    return rows, torn


def _cut_torn_tail(fd: int) -> None:
    """Truncate the file just after its last b"\\n" (to empty when it has none)."""
    end = os.fstat(fd).st_size
    if end == 0 or os.pread(fd, 1, end - 1) == b"\n":
        return
    while end > 0:
        start = max(0, end - 65536)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        end = start
    os.ftruncate(fd, 0)


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
                record[name] = FROM_TEXT[name](text)
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

    An existing file is resumed: its rows are read and new ones go after them. ``ValueError``
    for a row with an unknown key or a value of the wrong kind; ``LogFormatError`` for a file
    with a malformed line other than a torn last one. Thread-safe; one writing process per file.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, fsync: bool = False) -> None:
        self._path = None if path is None else Path(path)
        self._fsync = fsync
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []
        self._frame: pd.DataFrame | None = None
        self._frame_rows = 0
        self._fd: int | None = None
        self._torn = False
        self._close_fd: Callable[[], object] = lambda: None
        if self._path is not None:
            self._open(self._path)

    def _open(self, path: Path) -> None:
        if path.suffix.lower() in _EXPORT_SUFFIXES:
            raise ValueError(f"{path} is an export; use OutcomeLog.load() to read it")
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666)
            created = True
        except FileExistsError:
            fd, created = os.open(path, flags), False
        self._fd = fd
        self._close_fd = weakref.finalize(self, os.close, fd)
        if created:
            if self._fsync:
                fsync_directory(os.path.dirname(os.path.abspath(path)))
            return
        try:
            with open(fd, "rb", closefd=False) as stream:
                # Reading never repairs: the torn tail is cut at the first append, so loading
                # a log another process is still writing cannot destroy its row in flight.
                self._rows, self._torn = _parse_lines(str(path), stream.read())
        except BaseException:
            self.close()
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, fsync: bool = False) -> OutcomeLog:
        """Read a log back: a ``.jsonl`` log resumes (appends go to it); ``.csv`` and
        ``.parquet`` exports give an in-memory log. ``FileNotFoundError`` if it is missing."""
        suffix = Path(path).suffix.lower()
        if suffix == ".csv":
            return cls.from_csv(path)
        if suffix in (".parquet", ".pq"):
            return cls.from_parquet(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no outcome log at {os.fspath(path)}")
        return cls(path, fsync=fsync)

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
        if self._fd is None:
            raise ValueError("I/O operation on a closed outcome log")
        if self._torn:
            _cut_torn_tail(self._fd)
            self._torn = False
        try:
            written = os.write(self._fd, line)
            while written < len(line):  # a short write, e.g. a nearly full disk
                written += os.write(self._fd, line[written:])
        except BaseException:
            self._torn = True  # part of the line may be on disk: cut it before the next one
            raise
        if self._fsync:
            os.fsync(self._fd)

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
    def path(self) -> Path | None:
        """The JSONL file, or ``None`` for an in-memory log."""
        return self._path

    def to_parquet(self, path: str | os.PathLike[str]) -> None:
        """Write a Parquet snapshot atomically: ``path`` is the old file or the new, never half."""
        frame = self.df
        write_atomically(path, lambda temp: frame.to_parquet(temp, index=False))

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write a CSV snapshot atomically (times as ISO 8601 UTC); read it with ``load``."""
        frame = self.df
        write_atomically(
            path, lambda temp: frame.to_csv(temp, index=False, date_format=_CSV_TIME_FORMAT)
        )

    def close(self) -> None:
        """Close the file (idempotent); later appends raise ``ValueError``."""
        with self._lock:
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
