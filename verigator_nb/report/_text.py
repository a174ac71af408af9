"""The report as a few lines of plain text, and ``verigator-nb report``: for a terminal."""

from __future__ import annotations

import os
import sys

import pandas as pd

from verigator_nb.analysis import METRIC_LABELS
from verigator_nb.report._format import percent
from verigator_nb.report._html import Source, tables, write
from verigator_nb.schema import METHOD

__all__ = ["report_command", "summary"]


def _top(table: pd.DataFrame, label: str, value: str, limit: int = 3) -> str:
    parts = [
        f"{'(none)' if pd.isna(row[label]) else row[label]} {percent(row[value])}"
        + (f" (n={int(row['n']):,})" if value == "rate" else "")
        for _, row in table.head(limit).iterrows()
    ]
    return "; ".join(parts) or "none"


def summary(source: Source) -> str:
    """A few lines of plain text for a terminal: success by method, fallback, top failures."""
    t = tables(source)
    lines = [f"{t.rows:,} calls, {t.sessions:,} sessions"]
    for row in t.headline.itertuples(index=False):
        lines.append(
            f"{METRIC_LABELS[str(row.metric)]}: {percent(row.rate)} "
            f"(95% CI {percent(row.ci_low)}–{percent(row.ci_high)}, n={int(row.n):,})"
        )
    lines.append(f"Session success by method: {_top(t.session_by_method, METHOD, 'rate', 9)}")
    lines.append(f"Top failure reasons: {_top(t.failure_reasons, 'reason', 'share')}")
    return "\n".join(lines)


def report_command(log_path: str | os.PathLike[str], out_path: str | os.PathLike[str]) -> int:
    """``verigator-nb report LOG --out FILE``: write the report, print the summary; 0 on
    success, 1 (with a one-line message on stderr) when the log cannot be read."""
    try:
        t = tables(log_path)
    except (OSError, ValueError) as exc:
        print(f"verigator-nb report: {exc}", file=sys.stderr)
        return 1
    written = write(t, out_path)
    print(summary(t))
    print(f"report written to {written}")
    return 0
