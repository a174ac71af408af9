"""Snapshots of a log for other tools: Parquet and CSV written atomically, and read back.

Writing goes through ``write_atomically`` (the old file or the new, never half of one).
Reading checks every record like an appended row, naming the file and the line or row at
fault (``LogFormatError``). CSV conventions: times as ISO 8601 UTC, an empty cell is an empty
value, CRLF rows (RFC 4180), and text that a spreadsheet would run as a formula marked with a
leading ``'`` that reading takes off again (``_spreadsheet``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from verigator_nb.log._atomic import write_atomically
from verigator_nb.log._jsonl import LogFormatError
from verigator_nb.log._row_checks import FROM_TEXT, clean_row, export_columns
from verigator_nb.log._spreadsheet import neutralise_frame, restore
from verigator_nb.schema import empty_frame

__all__ = ["rows_from_csv", "rows_from_parquet", "write_csv", "write_parquet"]

_CSV_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# The columns holding text, neutralised in CSV exports (numbers, flags and times never are).
_TEXT_COLUMNS = tuple(
    name
    for name, dtype in empty_frame().dtypes.items()
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype)
)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` to ``path`` as Parquet, atomically."""
    write_atomically(path, lambda temp: frame.to_parquet(temp, index=False))


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` to ``path`` as CSV, atomically, formula-like text cells marked."""
    shown = neutralise_frame(frame, _TEXT_COLUMNS)
    write_atomically(
        path,
        # CRLF rows (RFC 4180): the csv writer then quotes a lone CR inside a cell, which a
        # reader would otherwise take for the end of the row.
        lambda temp: shown.to_csv(
            temp, index=False, date_format=_CSV_TIME_FORMAT, lineterminator="\r\n"
        ),
    )


def rows_from_csv(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The checked rows of a ``write_csv`` export (an empty cell is a missing value)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    names = _require_columns(os.fspath(path), frame.columns)
    records = [
        _from_text(path, number, names, cells)
        for number, cells in enumerate(frame.itertuples(index=False, name=None), 2)
    ]
    return _records(os.fspath(path), records, 2)


def rows_from_parquet(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The checked rows of a ``write_parquet`` export."""
    frame = pd.read_parquet(path)
    _require_columns(os.fspath(path), frame.columns)
    return _records(os.fspath(path), frame.to_dict("records"), 1)


def _records(path: str, records: Iterable[Mapping[str, Any]], first: int) -> list[dict[str, Any]]:
    rows = []
    for number, record in enumerate(records, first):
        try:
            rows.append(clean_row(record))
        except ValueError as exc:
            raise LogFormatError(path, number, str(exc)) from None
    return rows


def _from_text(
    path: str | os.PathLike[str], line: int, names: tuple[str, ...], cells: Iterable[str]
) -> dict[str, Any]:
    """One CSV record's cells as values (an empty cell is a missing value)."""
    record = {}
    for name, text in zip(names, cells, strict=True):
        if text:
            try:
                record[name] = FROM_TEXT[name](restore(text) if name in _TEXT_COLUMNS else text)
            except (KeyError, ValueError):
                raise LogFormatError(path, line, f"column {name!r} does not parse") from None
    return record


def _require_columns(path: str, columns: Iterable[object]) -> tuple[str, ...]:
    """The export's columns: the schema's, or an older export's (without the columns added
    since, which read as empty); ``LogFormatError`` otherwise."""
    try:
        return export_columns(columns)
    except ValueError as exc:
        raise LogFormatError(path, 1, str(exc)) from None
