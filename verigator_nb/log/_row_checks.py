"""Checks one outcome-log row against the schema before it is stored: one checker per column.

The checkers are derived from ``verigator_nb.schema``'s dtypes, so a new column is checked
without code here (a new dtype fails loudly at import). Messages name the column and the type,
never the value: a misplaced value could be a secret. ``export_columns`` checks the header of
an export, which may predate the columns the schema has added since.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from verigator_nb.schema import ADDED_COLUMNS, COLUMN_NAMES, COLUMNS, Column

__all__ = ["FROM_TEXT", "KNOWN_COLUMNS", "clean_row", "export_columns"]

_Check = Callable[[str, Any], Any]
_INT16 = (-(2**15), 2**15 - 1)
KNOWN_COLUMNS = frozenset(COLUMN_NAMES)


def _text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"column {name!r} must be a str, not {type(value).__name__}")


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ValueError(f"column {name!r} must be a bool, not {type(value).__name__}")


def _small_int(name: str, value: Any) -> int:
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        if _INT16[0] <= value <= _INT16[1]:
            return int(value)
        raise ValueError(f"column {name!r} must fit in 16 bits")
    raise ValueError(f"column {name!r} must be an int, not {type(value).__name__}")


def _real(name: str, value: Any) -> float:
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    ):
        if math.isfinite(value):
            return float(value)
        raise ValueError(f"column {name!r} must be a finite number")
    raise ValueError(f"column {name!r} must be a number, not {type(value).__name__}")


def _instant(name: str, value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"column {name!r} is not an ISO 8601 time") from None
    if not isinstance(value, datetime):
        raise ValueError(f"column {name!r} must be a datetime, not {type(value).__name__}")
    if value.utcoffset() is None:
        raise ValueError(f"column {name!r} must be timezone-aware (UTC)")
    value = value.astimezone(UTC)
    if isinstance(value, pd.Timestamp):
        value = value.as_unit("us").to_pydatetime()
    return value


def _category(choices: tuple[str, ...]) -> _Check:
    def check(name: str, value: Any) -> str:
        if isinstance(value, str) and value in choices:
            return value
        raise ValueError(f"column {name!r} must be one of {', '.join(map(repr, choices))}")

    return check


def _checker(column: Column) -> _Check:
    if isinstance(column.dtype, pd.CategoricalDtype):
        return _category(tuple(column.dtype.categories))
    by_dtype: dict[str, _Check] = {
        "str": _text,
        "boolean": _flag,
        "Int16": _small_int,
        "float64": _real,
        "datetime64[us, UTC]": _instant,
    }
    if column.dtype not in by_dtype:  # a new dtype in the schema must be taught here
        raise TypeError(f"the outcome log cannot store column {column.name!r} ({column.dtype})")
    return by_dtype[column.dtype]


_CHECKS: dict[str, _Check] = {column.name: _checker(column) for column in COLUMNS}
_TEXT_PARSERS: dict[str, Callable[[str], Any]] = {
    "boolean": {"True": True, "False": False}.__getitem__,
    "Int16": int,
    "float64": float,
}
# How a CSV cell becomes a value; every other column is read as the text itself.
FROM_TEXT: dict[str, Callable[[str], Any]] = {
    column.name: _TEXT_PARSERS.get(column.dtype if isinstance(column.dtype, str) else "", str)
    for column in COLUMNS
}


def _missing(value: Any) -> bool:
    return value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def clean_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row with every column, checked and normalised; ``ValueError`` names what is wrong."""
    unknown = row.keys() - KNOWN_COLUMNS
    if unknown:
        names = ", ".join(sorted(map(repr, unknown)))
        raise ValueError(f"not outcome-log columns: {names} (see verigator_nb.schema)")
    clean = dict.fromkeys(COLUMN_NAMES)
    for key, value in row.items():
        if value is not None and not _missing(value):
            clean[key] = _CHECKS[key](key, value)
    return clean


def export_columns(columns: Iterable[object]) -> tuple[str, ...]:
    """An export's columns, when they are the log's: every schema column in order, or, for an
    export written before some of ``ADDED_COLUMNS`` existed, the schema's columns up to those
    (a missing column reads as empty). ``ValueError`` says what is missing, unknown or out of
    order."""
    found = [str(name) for name in columns]
    oldest = len(COLUMN_NAMES) - len(ADDED_COLUMNS)
    if oldest <= len(found) <= len(COLUMN_NAMES) and found == list(COLUMN_NAMES[: len(found)]):
        return tuple(found)
    missing = [name for name in COLUMN_NAMES[:oldest] if name not in found]
    extra = [name for name in found if name not in KNOWN_COLUMNS]
    detail = f"missing {missing}, unknown {extra}" if missing or extra else "wrong order"
    raise ValueError(f"columns are not the outcome log's: {detail}")
