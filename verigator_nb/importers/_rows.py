"""What every importer shares: the rows it makes, checked by the log's own row checks, and
``Imported``, what an import hands back.

Rows are kept as tuples (not a dict per row), so a million imported calls fit in memory
beside their DataFrame.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from verigator_nb.importers._errors import ImportFormatError
from verigator_nb.log._row_checks import clean_row
from verigator_nb.schema import (
    ACTION,
    COLUMN_NAMES,
    ERROR,
    INITIATE,
    VERIFIED,
    VERIFY,
    from_columns,
)

if TYPE_CHECKING:
    import pandas as pd

    from verigator_nb.log import OutcomeLog

__all__ = [
    "Imported",
    "PathOrPaths",
    "RowCollector",
    "check_provider",
    "parse_time",
    "paths_of",
]

PathOrPaths = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]

# A provider name groups rows in every report: short, printable, and never a phone number.
_PROVIDER = re.compile(r"[A-Za-z][A-Za-z0-9 ._-]{0,39}")
_WRITE_BATCH = 50_000  # rows handed to the log at a time: bounded memory for big imports


def check_provider(name: str) -> str:
    """``name`` when it can be a ``provider`` value; ``ValueError`` saying what one is."""
    if not isinstance(name, str) or not _PROVIDER.fullmatch(name):
        raise ValueError(
            "a provider name starts with a letter and has at most 40 letters, digits, spaces, "
            "'.', '_' or '-'"
        )
    return name


def paths_of(source: PathOrPaths) -> list[str]:
    """One path or several, as a list of path strings (a string is one path, not many)."""
    if isinstance(source, str | os.PathLike):
        return [os.fspath(source)]
    paths = [os.fspath(path) for path in source]
    if not paths:
        raise ValueError("no source file to import")
    return paths


def parse_time(text: str, name: str, source: str, position: str, *, utc: bool = False) -> datetime:
    """An ISO 8601 time; one without a UTC offset is refused (``ImportFormatError``), never
    guessed, unless ``utc`` says the source writes UTC without saying so."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ImportFormatError(source, position, f"field {name!r} is not ISO 8601") from None
    if moment.utcoffset() is None:
        if not utc:
            raise ImportFormatError(source, position, f"field {name!r} has no UTC offset")
        moment = moment.replace(tzinfo=UTC)
    return moment


class RowCollector:
    """Outcome-log rows, each checked by the log's row checks, kept as tuples of its values."""

    def __init__(self) -> None:
        # Each row's values in COLUMN_NAMES order: clean_row gives every column, in that order.
        self._rows: list[tuple[Any, ...]] = []
        self.set_aside: Counter[str] = Counter()
        self.records = 0

    def add(self, row: Mapping[str, Any], source: str, position: str) -> None:
        """Check ``row`` and keep it; ``ImportFormatError`` naming ``position`` if it is refused."""
        try:
            clean = clean_row(row)
        except ValueError as exc:  # names the column and the type, never the value
            raise ImportFormatError(source, position, str(exc)) from None
        self._rows.append(tuple(clean.values()))

    def _columns(self) -> dict[str, list[Any]]:
        rows = self._rows
        return {name: [row[index] for row in rows] for index, name in enumerate(COLUMN_NAMES)}

    def result(self, provider: str, sources: list[str]) -> Imported:
        """Everything collected, as an ``Imported``."""
        return Imported(
            provider=provider,
            sources=tuple(sources),
            records=self.records,
            df=from_columns(self._columns()),
            set_aside=dict(sorted(self.set_aside.items())),
        )


@dataclass(frozen=True, eq=False)
class Imported:
    """An import's outcome: the outcome-log rows it made and what it read to make them.

    ``df`` holds the rows at the schema's dtypes; ``records`` counts the source records read
    (attempts, report lines, events), ``set_aside`` the records that made no row, by reason
    (a channel the log has no method for, a request still in progress).
    """

    provider: str
    sources: tuple[str, ...]
    records: int
    df: pd.DataFrame = field(repr=False)
    set_aside: Mapping[str, int]

    @property
    def sessions(self) -> int:
        """The initiate rows imported: one per session."""
        return int((self.df[ACTION] == INITIATE).sum())

    @property
    def verified(self) -> int:
        """The verify rows imported with ``verified`` true."""
        return int(((self.df[ACTION] == VERIFY) & self.df[VERIFIED].fillna(False)).sum())

    def to_log(
        self, path: str | os.PathLike[str] | None = None, *, fsync: bool = False
    ) -> OutcomeLog:
        """The rows appended to ``OutcomeLog(path)``: the JSON Lines log at ``path`` (created, or
        resumed and added to) or, without ``path``, a new log in memory to export with
        ``to_parquet``/``to_csv``. Raises what ``OutcomeLog`` raises (``LogLockedError`` when
        another writer has the file)."""
        from verigator_nb.log import OutcomeLog

        log = OutcomeLog(path, fsync=fsync)
        try:
            for start in range(0, len(self.df), _WRITE_BATCH):
                for row in self.df.iloc[start : start + _WRITE_BATCH].to_dict("records"):
                    # The frame's "" is "no error"; the log stores that as empty, as recorded.
                    log.append({**row, ERROR: row[ERROR] or None})
        except BaseException:
            log.close()
            raise
        return log
