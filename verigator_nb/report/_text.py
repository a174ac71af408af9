"""The report as a few lines of plain text, and ``verigator-nb report``: for a terminal."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import pandas as pd

from verigator_nb.analysis import CONVERSION, ENDING, ENDINGS, METRIC_LABELS, Filters
from verigator_nb.log import DamagedLogWarning
from verigator_nb.report._format import percent
from verigator_nb.report._html import Source, tables, write
from verigator_nb.report._summary import CUSUM_BY, TABLES, SummaryTables
from verigator_nb.schema import COLUMN_NAMES, METHOD, REQUESTED_METHOD

__all__ = ["report_command", "summary"]


def _top(table: pd.DataFrame, label: str, value: str, limit: int = 3) -> str:
    parts = [
        f"{'(none)' if pd.isna(row[label]) else row[label]} {percent(row[value])}"
        + (f" (n={int(row['n']):,})" if value == "rate" else "")
        for _, row in table.head(limit).iterrows()
    ]
    return "; ".join(parts) or "none"


def _by(t: SummaryTables, metric: str, column: str) -> str:
    spec = next(s for s in TABLES if s.metric == metric and s.by == (column,))
    return f"{spec.caption('')}: {_top(t.table(spec), column, 'rate', 9)}"


def summary(source: Source) -> str:
    """A few lines of plain text for a terminal: every rate metric, conversion by requested
    and by delivered channel, how sessions that did not verify ended, rows set aside."""
    t = tables(source)
    lines = [f"{t.rows:,} calls, {t.sessions:,} sessions"]
    if t.filters:
        lines.append(f"Only: {t.filters}")
    for row in t.headline.itertuples(index=False):
        lines.append(
            f"{METRIC_LABELS[str(row.metric)]}: {percent(row.rate)} "
            f"(95% CI {percent(row.ci_low)}–{percent(row.ci_high)}, n={int(row.n):,})"
        )
    lines.append(_by(t, CONVERSION, REQUESTED_METHOD))
    lines.append(_by(t, CONVERSION, METHOD))
    endings = next(t.table(s) for s in TABLES if s.metric == "session_endings")
    unverified = endings[endings[ENDING] != ENDINGS[0]]
    lines.append(f"Sessions not verified ended: {_top(unverified, ENDING, 'share')}")
    lines += _alarms(t)
    aside = int(t.set_aside["rows"].sum())
    if aside:
        reasons = "; ".join(
            f"{row.reason} {int(row.rows):,}" for row in t.set_aside.itertuples() if row.rows
        )
        lines.append(f"Rows set aside: {aside:,} ({reasons})")
    return "\n".join(lines)


def _alarms(t: SummaryTables) -> list[str]:
    """What the CUSUM and the pumping review found, a line each (the first flag in full)."""
    lines = []
    if t.cusum is not None and len(t.cusum):
        rang = t.cusum[t.cusum["signal"].astype(bool)]
        found = ", ".join(
            f"{key} (from {days['period'].min():%Y-%m-%d}, {len(days)} day(s))"
            for key, days in rang.groupby(CUSUM_BY, dropna=False, sort=True)
        )
        lines.append(f"CUSUM alarms on conversion by {CUSUM_BY}: {found or 'none'}")
    if t.pumping is not None:
        flags = t.pumping
        first = f"; first: {flags['explanation'].iloc[0]}" if len(flags) else ""
        lines.append(
            f"SMS pumping review: {len(flags):,} flag{'s' if len(flags) != 1 else ''}{first}"
        )
    return lines


_SNIFF_BYTES = 1 << 20  # a log row is far shorter; a longer first line is no row of ours
_EXPORTS = (".csv", ".parquet", ".pq")


def _first_line(path: Path) -> tuple[int, bytes] | None:
    """The first non-blank line of ``path`` and its number; ``None`` for a blank file."""
    with open(path, "rb") as stream:
        number = 0
        while line := stream.readline(_SNIFF_BYTES):
            number += 1
            if line.strip():
                return number, line
    return None


def _not_a_log(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` is plainly not a JSON Lines outcome log, or ``None`` (it may still be
    damaged further on; loading says where). Says so instead of a JSON parser's complaint.
    Only the line number is named, never the content, which may be anything."""
    file = Path(path)
    if file.suffix.lower() in _EXPORTS or not file.is_file():
        return None  # exports are checked column by column when loaded; folders when read
    first = _first_line(file)
    if first is None:
        return None  # an empty log
    number, line = first
    if not line.endswith(b"\n") and line.startswith(b"{"):
        return None  # a torn last line (a crash mid-write), which loading tolerates
    try:
        row = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        row = None
    if isinstance(row, dict) and row.keys() & set(COLUMN_NAMES):
        return None
    return f"{os.fspath(path)} is not an outcome log (line {number} is not a log row)"


def _tables_or_problem(
    log_path: str | os.PathLike[str], filters: Filters | None
) -> SummaryTables | str:
    """The report's tables for ``log_path``, or why it cannot be read, as one line."""
    try:
        problem = _not_a_log(log_path)
        return tables(log_path, filters=filters) if problem is None else problem
    except (OSError, ValueError) as exc:
        return str(exc)


def report_command(
    log_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    xlsx_path: str | os.PathLike[str] | None = None,
    filters: Filters | None = None,
) -> int:
    """``verigator-nb report LOG --out FILE [--xlsx FILE] [--since ... --country ...]``:
    write the report (and the spreadsheet) of the part of the log ``filters`` keeps, print
    the summary; 0 on success, 1 (with a one-line message on stderr) when the log cannot be
    read or a file cannot be written."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DamagedLogWarning)
        t = _tables_or_problem(log_path, filters)
    for warning in caught:  # lines set aside in a damaged log: one line each, not a traceback
        if issubclass(warning.category, DamagedLogWarning):
            print(f"verigator-nb report: warning: {warning.message}", file=sys.stderr)
        else:  # anything else goes on as it came
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if isinstance(t, str):
        print(f"verigator-nb report: {t}", file=sys.stderr)
        return 1
    from verigator_nb.report._spreadsheets import write_xlsx

    outputs = [(write, out_path, "report"), (write_xlsx, xlsx_path, "spreadsheet")]
    written = []
    for writer, path, what in outputs:
        if path is None:
            continue
        try:
            written.append((what, writer(t, path, source_name=os.fspath(log_path))))
        except OSError as exc:
            print(f"verigator-nb report: cannot write {path}: {exc.strerror}", file=sys.stderr)
            return 1
    print(summary(t))
    for what, path in written:
        print(f"{what} written to {path}")
    return 0
