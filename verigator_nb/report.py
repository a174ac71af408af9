"""The verification report: one self-contained HTML page, a plain-text summary, a CLI entry.

``build(source)`` returns an HTML document with inline CSS, tables from ``DataFrame.to_html``
(escaping on) and charts embedded as base64 PNG: it opens offline and links nothing.
``source`` is an outcome-log DataFrame, a log file (``.jsonl``, ``.parquet``, ``.csv``), a
partitioned Parquet dataset directory (queried in place by ``verigator_nb.scale``) or the
``SummaryTables`` from ``tables(...)``, to render one computation twice.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import TypeAlias

import pandas as pd
from matplotlib.figure import Figure

from verigator_nb import analysis, plots
from verigator_nb._summary import HEADLINE_LABELS, SummaryTables, from_frame
from verigator_nb.log import OutcomeLog

__all__ = ["Source", "build", "definitions", "report_command", "summary", "tables", "write"]

Source: TypeAlias = pd.DataFrame | SummaryTables | str | os.PathLike[str]

_PERCENT = re.compile(r"(^|_)(rate|ci_low|ci_high|share|dropout|change)$")
_PERIOD_NAMES = {"D": "day", "W": "week", "M": "month"}
_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; }
.meta { color: #666; } .cards { display: flex; gap: 1rem; flex-wrap: wrap; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 0.8rem 1rem; min-width: 14rem; }
.card .value { font-size: 1.8rem; font-weight: 600; } .card .ci { color: #666; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.scroll { overflow-x: auto; } img { max-width: 100%; } code { background: #f3f3f3; }
"""


def tables(source: Source) -> SummaryTables:
    """Every report table for ``source``: a frame, a log file, a Parquet dataset directory, or
    tables already computed (returned as they are)."""
    if isinstance(source, SummaryTables):
        return source
    if isinstance(source, pd.DataFrame):
        return from_frame(source)
    path = Path(source)
    if path.is_dir():
        from verigator_nb import scale  # the DuckDB path, only needed for datasets

        return scale.summary_tables(path)
    with OutcomeLog.load(path) as log:  # .jsonl, .csv or .parquet; closes the file again
        return from_frame(log.df)


def definitions() -> list[str]:
    """The metric definitions, read from ``verigator_nb.analysis``'s docstring (their one home)."""
    text = (analysis.__doc__ or "").split("Definitions, written once", 1)[-1]
    block = text.split("\n\n")[1] if "\n\n" in text else ""
    items = re.split(r"\n- ", "\n" + block.strip())
    return [" ".join(item.split()) for item in items if item.strip()]


def _inline(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"``(.+?)``", r"<code>\1</code>", escaped)


def _percent(value: object) -> str:
    return "–" if pd.isna(value) else f"{float(value):.1%}"  # type: ignore[arg-type]


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy for people: rates as percentages, periods as dates, counts with separators."""
    shown = frame.copy()
    for column in shown.columns:
        values = shown[column]
        if _PERCENT.search(column) and pd.api.types.is_numeric_dtype(values):
            shown[column] = values.map(_percent).astype(object)
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            shown[column] = values.dt.strftime("%Y-%m-%d").astype(object)
        elif pd.api.types.is_float_dtype(values):
            shown[column] = values.map(lambda v: "–" if pd.isna(v) else f"{v:,.2f}")
        elif pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
            shown[column] = values.map(lambda v: "–" if pd.isna(v) else f"{int(v):,}")
    return shown


def _table(frame: pd.DataFrame) -> str:
    shown = _display(frame).to_html(index=False, escape=True, na_rep="(none)", border=0)
    return f'<div class="scroll">{shown}</div>'


def _image(figure: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, metadata={"Software": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _comparison(table: pd.DataFrame) -> pd.DataFrame:
    """The period comparison, one readable cell per side: rate (interval), n."""
    shown = pd.DataFrame({"metric": table["metric"].map(lambda m: HEADLINE_LABELS.get(m, m))})
    for side in ("previous", "current"):
        shown[f"{side} week"] = table[f"{side}_period"].dt.strftime("%Y-%m-%d")
        shown[side] = [
            f"{_percent(r)} ({_percent(lo)} – {_percent(hi)}), n={n:,}"
            for r, lo, hi, n in zip(
                table[f"{side}_rate"], table[f"{side}_ci_low"], table[f"{side}_ci_high"],
                table[f"{side}_n"], strict=True,
            )
        ]  # fmt: skip
    shown["change"] = table["change"].map(lambda v: "–" if pd.isna(v) else f"{v:+.1%}")
    return shown.assign(significant=table["significant"].map({True: "yes", False: "no"}))


def _section(anchor: str, heading: str, *parts: str) -> str:
    return (
        f'<section id="{anchor}">\n<h2>{html.escape(heading)}</h2>\n'
        + "\n".join(parts)
        + ("\n</section>")
    )


def _headline(t: SummaryTables) -> str:
    cards = []
    for row in t.headline.itertuples(index=False):
        label = HEADLINE_LABELS.get(str(row.metric), str(row.metric))
        cards.append(
            f'<div class="card"><div>{html.escape(label)}</div>'
            f'<div class="value">{_percent(row.rate)}</div>'
            f'<div class="ci">95% CI {_percent(row.ci_low)} – {_percent(row.ci_high)}, '
            f"{int(row.successes):,} of {int(row.n):,}</div></div>"
        )
    return _section("headline", "Headline", f'<div class="cards">{"".join(cards)}</div>')


def _sections(t: SummaryTables) -> list[str]:
    period = _PERIOD_NAMES[t.trend_period]
    return [
        _headline(t),
        _section(
            "success-by-method",
            "Success by method",
            _image(
                plots.plot_rate_over_time(t.session_trend, title=f"Session success by {period}"),
                "session success over time",
            ),
            "<h3>Sessions (by the method the server used)</h3>",
            _table(t.session_by_method),
            "<h3>Verify calls</h3>",
            _table(t.attempt_by_method),
        ),
        _section(
            "fallback-by-country",
            "Fallback by country",
            _image(plots.plot_rate_by_group(t.fallback_by_country), "fallback rate by country"),
            _table(t.fallback_by_country),
            _image(
                plots.plot_rate_over_time(t.fallback_trend, title=f"Fallback rate by {period}"),
                "fallback rate over time",
            ),
        ),
        _section(
            "failure-reasons",
            "Failure reasons",
            _image(plots.plot_failure_reasons(t.failure_reasons), "failure reasons"),
            _table(t.failure_reasons),
        ),
        _section(
            "attempts-and-time",
            "Attempts and time to verify",
            "<h3>Attempts to success (verified sessions, by method)</h3>",
            _table(t.attempts),
            _image(plots.plot_attempts(t.verified["attempts"]), "attempts to success"),
            "<h3>Time to verify in seconds (verified sessions, by method)</h3>",
            _table(t.time_to_verify),
            _image(plots.plot_time_to_verify(t.verified["seconds"]), "time to verify"),
        ),
        _section(
            "funnel", "Funnel", _image(plots.plot_funnel(t.funnel), "funnel"), _table(t.funnel)
        ),
        _section(
            "comparison",
            "This week against last week",
            "<p>Significant: the two 95 % intervals do not overlap. The latest week may not "
            "be over yet.</p>",
            _table(_comparison(t.comparison)),
        ),
        _section(
            "definitions",
            "Definitions",
            "<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in definitions()) + "</ul>",
        ),
    ]


def build(source: Source, *, title: str = "Verigator verification report") -> str:
    """The report for ``source`` as one self-contained HTML document (a string).

    Raises ``FileNotFoundError``/``ValueError`` for a path that is not a readable log, and
    ``ValueError`` for a frame without the outcome log's columns.
    """
    t = tables(source)
    span = (
        f"{t.first_ts:%Y-%m-%d %H:%M} – {t.last_ts:%Y-%m-%d %H:%M} UTC"
        if t.first_ts is not None and t.last_ts is not None
        else "no rows"
    )
    meta = f"{t.rows:,} calls, {t.sessions:,} sessions, {span}"
    body = "\n".join(_sections(t))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f'<h1>{html.escape(title)}</h1>\n<p class="meta">{html.escape(meta)}</p>\n'
        f"{body}\n</body>\n</html>\n"
    )


def write(
    source: Source, path: str | os.PathLike[str], *, title: str = "Verigator verification report"
) -> Path:
    """Write ``build(source)`` to ``path`` atomically (a temporary file in the same directory,
    then ``os.replace``): readers see the old report or the new one, never half of one."""
    target = Path(path)
    document = build(source, title=title)
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(document)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def _top(table: pd.DataFrame, label: str, value: str, limit: int = 3) -> str:
    parts = [
        f"{'(none)' if pd.isna(row[label]) else row[label]} {_percent(row[value])}"
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
            f"{HEADLINE_LABELS[str(row.metric)]}: {_percent(row.rate)} "
            f"(95% CI {_percent(row.ci_low)}–{_percent(row.ci_high)}, n={int(row.n):,})"
        )
    lines.append(f"Session success by method: {_top(t.session_by_method, 'method', 'rate', 9)}")
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
