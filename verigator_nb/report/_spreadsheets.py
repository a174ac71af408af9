"""The report's tables for spreadsheets an analyst can hand on: a workbook, or CSV files.

``write_xlsx(source, path)`` writes an ``.xlsx`` (openpyxl) with an "About" sheet (what was
read, when, by which version, where the calls came from), the headline, the rows set aside,
one sheet per table of the report (``TABLES``, in report order, each named by its caption),
the period comparison and the definitions of every metric from the registry. Numbers stay
numbers; times are UTC. Text that a spreadsheet would run as a formula (starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return: a provider or a tag in a log can be any
text) is written with a leading apostrophe, so it shows as the text it is
(``spreadsheet_safe``). ``write_csv(source, folder)`` writes the same sheets as one CSV
file each (UTF-8 with a byte-order mark, which spreadsheets read as UTF-8). Every file is
written atomically, like the HTML report.
"""

from __future__ import annotations

import os
import re
from functools import partial
from pathlib import Path
from typing import Final

import pandas as pd

from verigator_nb.analysis import METRICS, PERIOD_NAMES, Filters
from verigator_nb.log import write_atomically
from verigator_nb.report._html import Source, tables
from verigator_nb.report._provenance import describe_source, origin_notes, version
from verigator_nb.report._summary import TABLES, SummaryTables, cusum_summary

__all__ = ["spreadsheet_safe", "write_csv", "write_xlsx"]

_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_SHEET_NAME: Final = 31  # Excel's longest sheet name
_NOT_IN_NAMES: Final = re.compile(r"[\[\]:*?/\\]")


def write_xlsx(
    source: Source,
    path: str | os.PathLike[str],
    *,
    source_name: str | None = None,
    filters: Filters | None = None,
) -> Path:
    """Write the report's tables for ``source`` (narrowed by ``filters``) to the ``.xlsx``
    file ``path`` (its folder made if missing) and return its path."""
    t = tables(source, filters=filters)
    sheets = _sheets(t, source_name or describe_source(source))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, lambda temp: _save(sheets, temp))
    return target


def write_csv(
    source: Source,
    folder: str | os.PathLike[str],
    *,
    source_name: str | None = None,
    filters: Filters | None = None,
) -> list[Path]:
    """Write the workbook's sheets for ``source`` (narrowed by ``filters``) as CSV files in
    ``folder`` (made if missing), named ``NN-sheet-name.csv`` in sheet order; return their
    paths."""
    t = tables(source, filters=filters)
    sheets = _sheets(t, source_name or describe_source(source))
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for number, (name, frame) in enumerate(sheets.items(), start=1):
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        path = target / f"{number:02d}-{slug}.csv"
        write_atomically(path, partial(_save_csv, spreadsheet_safe(frame)))
        written.append(path)
    return written


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy where no text cell starts like a formula, UTC times without their zone (which
    a spreadsheet cannot hold), and ordered categories as their text."""
    safe = frame.copy()
    for column in safe.columns:
        values = safe[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            safe[column] = values.dt.tz_convert("UTC").dt.tz_localize(None)
        elif isinstance(values.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(values):
            safe[column] = values.astype(object).map(_safe_text)
    return safe


def _safe_text(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _sheets(t: SummaryTables, source: str) -> dict[str, pd.DataFrame]:
    """Every sheet, by name, in order."""
    about = [
        ("source", source),
        ("generated (UTC)", f"{pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M}"),
        ("verigator_nb", version()),
        ("calls", t.rows),
        ("sessions", t.sessions),
        ("first call (UTC)", "" if t.first_ts is None else f"{t.first_ts:%Y-%m-%d %H:%M}"),
        ("last call (UTC)", "" if t.last_ts is None else f"{t.last_ts:%Y-%m-%d %H:%M}"),
        *(("note", note) for note in origin_notes(t)),
        *((("only", t.filters),) if t.filters else ()),
        ("intervals", "95 % Wilson score intervals; changes in percentage points"),
    ]
    sheets = {
        "About": pd.DataFrame(about, columns=["", "value"]),
        "Headline": t.headline,
        "Rows used": t.set_aside,
    }
    period = PERIOD_NAMES[t.trend_period]
    for spec in TABLES:
        sheets[_unique(_sheet_name(spec.caption(period)), sheets)] = t.table(spec)
    if t.cusum is not None:
        sheets["CUSUM"] = cusum_summary(t.cusum)
        sheets["CUSUM by day"] = t.cusum
    if t.pumping is not None:
        sheets["SMS pumping review"] = t.pumping
    sheets["Comparison"] = t.comparison
    sheets["Definitions"] = pd.DataFrame(
        [
            (m.name, m.label, m.grain, m.numerator, m.denominator, m.definition)
            for m in METRICS.values()
        ],
        columns=["metric", "label", "counts", "numerator", "denominator", "definition"],
    )
    return sheets


def _sheet_name(caption: str) -> str:
    return _NOT_IN_NAMES.sub(" ", caption).strip()[:_SHEET_NAME].strip()


def _unique(name: str, taken: dict[str, pd.DataFrame]) -> str:
    """``name``, or it shortened with a number, so no two sheets share a name."""
    candidate, number = name, 2
    while candidate.lower() in {existing.lower() for existing in taken}:
        suffix = f" ({number})"
        candidate = name[: _SHEET_NAME - len(suffix)].rstrip() + suffix
        number += 1
    return candidate


def _save_csv(frame: pd.DataFrame, path: str) -> None:
    frame.to_csv(path, index=False, encoding="utf-8-sig")


def _save(sheets: dict[str, pd.DataFrame], path: str) -> None:
    # Through a handle: the temporary file's name does not end in .xlsx.
    with open(path, "wb") as handle, pd.ExcelWriter(handle, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            spreadsheet_safe(frame).to_excel(writer, sheet_name=name, index=False)
