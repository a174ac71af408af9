"""Spreadsheet formula injection: keep text cells from running as formulas, and undo it.

Excel, LibreOffice Calc and Google Sheets take a cell that starts with ``=``, ``+``, ``-``,
``@``, a tab, a carriage return or NUL for a formula (OWASP "CSV Injection", ASVS 1.2.10):
``=HYPERLINK(...)`` in a user id becomes a live link, or worse, for whoever opens the export.
``neutralise`` puts a single quote, the spreadsheets' "this is text" mark, before such a cell;
``restore`` takes it off again. A genuine leading quote that could pass for the mark (one
followed by one of those characters or by another quote) gets a quote too, so
``restore(neutralise(text)) == text`` for every text: an export reads back losslessly. Any
spreadsheet export (CSV today) sends its text columns through ``neutralise_frame``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

__all__ = ["FORMULA_STARTS", "neutralise", "neutralise_frame", "restore"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
_MARK = "'"


def _marked(text: str) -> bool:
    return len(text) >= 2 and text[0] == _MARK and text[1] in (*FORMULA_STARTS, _MARK)


def neutralise(text: str) -> str:
    """``text`` as a cell no spreadsheet runs: quoted when it could start a formula."""
    return _MARK + text if text.startswith(FORMULA_STARTS) or _marked(text) else text


def restore(cell: str) -> str:
    """The text a ``neutralise``-d cell stood for."""
    return cell[1:] if _marked(cell) else cell


def neutralise_frame(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """A copy of ``frame`` with the text in ``columns`` neutralised; missing values stay so."""
    safe = frame.copy(deep=False)
    for name in columns:
        safe[name] = frame[name].astype(object).map(neutralise, na_action="ignore")
    return safe
