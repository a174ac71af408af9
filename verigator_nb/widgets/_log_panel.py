"""A live view of an outcome log: its latest rows and the success and fallback rates so far."""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets
import pandas as pd

from verigator_nb.log import OutcomeLog
from verigator_nb.schema import (
    ACTION,
    ATTEMPT,
    ERROR,
    FALLBACK,
    METHOD,
    REQUESTED_METHOD,
    RESULT,
    TS,
    VERIFIED,
)
from verigator_nb.widgets._format import plain

__all__ = ["LogPanel"]

_SHOWN = [
    TS,
    ACTION,
    REQUESTED_METHOD,
    METHOD,
    FALLBACK,
    ATTEMPT,
    VERIFIED,
    RESULT,
    ERROR,
]


class LogPanel(widgets.VBox):
    """Shows the last ``rows`` calls of ``log`` and its rates; call ``refresh()`` after a call."""

    def __init__(self, log: OutcomeLog, *, rows: int = 8) -> None:
        self._log = log
        self._rows = rows
        self._con: Any = None  # one DuckDB connection for every refresh, made on the first
        self._rates = widgets.HTML()
        self._table = widgets.HTML()
        self._latest: pd.DataFrame  # set by refresh()
        super().__init__([widgets.HTML("<b>Outcome log</b>"), self._rates, self._table])
        self.refresh()

    @property
    def rates_text(self) -> str:
        """The rates line as shown, e.g. ``2 calls · ... · attempt success 50.0% (1/2) · ...``."""
        return plain(self._rates.value)

    @property
    def latest(self) -> pd.DataFrame:
        """The rows the table shows: the last ``rows`` calls at the latest refresh, a copy."""
        return self._latest.copy()

    def refresh(self) -> None:
        """Re-read the log and redraw."""
        frame = self._log.df
        if self._con is None:
            from verigator_nb.analysis import connect

            self._con = connect(threads=1)  # a 10k-row log is faster on one thread
        self._rates.value = escape(_rates_text(frame, self._con))
        self._latest = frame[_SHOWN].tail(self._rows).reset_index(drop=True)
        self._table.value = table_html(self._latest)


_CELL = "text-align:left;vertical-align:top;padding:2px 8px 2px 0;overflow-wrap:anywhere"


def table_html(frame: pd.DataFrame) -> str:
    """``frame`` as a plain table: headers aligned with their columns, an empty cell where
    a value is missing (pandas would write ``<NA>``), times as UTC ``HH:MM:SS``."""
    head = "".join(f'<th style="{_CELL}">{escape(str(name))}</th>' for name in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = "".join(f'<td style="{_CELL}">{escape(_cell(v))}</td>' for v in values)
        rows.append(f"<tr>{cells}</tr>")
    body = "".join(rows)
    return (
        '<table style="border-collapse:collapse;font-size:90%;max-width:100%">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _cell(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and value != value:  # NaN
        return ""
    if isinstance(value, pd.Timestamp):
        return value.tz_convert("UTC").strftime("%H:%M:%S") if value.tzinfo else str(value)
    return str(value)


def _rates_text(frame: pd.DataFrame, con: Any) -> str:
    """The panel's rates, named and labelled as in the metric registry."""
    from verigator_nb import analysis  # Ibis and DuckDB load on the first refresh

    shown = (analysis.SESSION_SUCCESS, analysis.ATTEMPT_SUCCESS, analysis.FALLBACK)
    with analysis.collector_held(), analysis.Analysis(frame, con=con) as computed:
        tables = computed.tables(shown)
    parts = [_rate(analysis.METRIC_LABELS[name], table) for name, table in tables.items()]
    calls = f"{len(frame)} call" if len(frame) == 1 else f"{len(frame)} calls"
    return f"{calls} · " + " · ".join(parts)


def _rate(label: str, table: pd.DataFrame) -> str:
    if table.empty or int(table["n"].iloc[0]) == 0:
        return f"{label} –"
    row = table.iloc[0]
    return f"{label} {row['rate']:.1%} ({int(row['successes'])}/{int(row['n'])})"
