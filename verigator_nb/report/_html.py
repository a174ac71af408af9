"""The verification report: one self-contained HTML page, a plain-text summary, a CLI entry.

``build(source)`` returns an HTML document with inline CSS, tables from ``DataFrame.to_html``
(escaping on) and charts embedded as base64 PNG: it opens offline and links nothing.
``source`` is an outcome-log DataFrame, a log file (``.jsonl``, ``.parquet``, ``.csv``), a
partitioned Parquet dataset directory (queried in place by ``verigator_nb.analysis.scale``) or the
``SummaryTables`` from ``tables(...)``, to render one computation twice.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from pathlib import Path
from typing import TypeAlias

import pandas as pd
from matplotlib.figure import Figure

from verigator_nb.analysis import DEFINITIONS, METRIC_LABELS, PERIOD_NAMES, FrameEngine
from verigator_nb.log import OutcomeLog, write_atomically
from verigator_nb.report import plots
from verigator_nb.report._format import percent
from verigator_nb.report._summary import COMPARISON_PERIOD, SummaryTables, summary_tables

__all__ = ["Source", "build", "definitions", "tables", "write"]

Source: TypeAlias = pd.DataFrame | SummaryTables | str | os.PathLike[str]
_COMPARED = PERIOD_NAMES[COMPARISON_PERIOD]
_PERCENT = re.compile(r"(^|_)(rate|ci_low|ci_high|share|dropout|change)$")
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
        return summary_tables(FrameEngine(source))
    path = Path(source)
    if path.is_dir():
        from verigator_nb.analysis import scale  # DuckDB, only needed for datasets

        with scale.open_dataset(path) as data:
            return summary_tables(data)
    with OutcomeLog.load(path) as log:  # .jsonl, .csv or .parquet; closes the file again
        return summary_tables(FrameEngine(log.df))


def definitions() -> list[str]:
    """The metric definitions as light-Markdown sentences, from ``analysis.DEFINITIONS``."""
    return [definition.sentence() for definition in DEFINITIONS]


def _inline(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"``(.+?)``", r"<code>\1</code>", escaped)


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy for people: rates as percentages, periods as dates, counts with separators."""
    shown = frame.copy()
    for column in shown.columns:
        values = shown[column]
        if _PERCENT.search(column) and pd.api.types.is_numeric_dtype(values):
            shown[column] = values.map(percent).astype(object)
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
    shown = pd.DataFrame({"metric": table["metric"].map(lambda m: METRIC_LABELS.get(m, m))})
    for side in ("previous", "current"):
        shown[f"{side} {_COMPARED}"] = table[f"{side}_period"].dt.strftime("%Y-%m-%d")
        shown[side] = [
            f"{percent(r)} ({percent(lo)} – {percent(hi)}), n={n:,}"
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
        label = METRIC_LABELS.get(str(row.metric), str(row.metric))
        cards.append(
            f'<div class="card"><div>{html.escape(label)}</div>'
            f'<div class="value">{percent(row.rate)}</div>'
            f'<div class="ci">95% CI {percent(row.ci_low)} – {percent(row.ci_high)}, '
            f"{int(row.successes):,} of {int(row.n):,}</div></div>"
        )
    return _section("headline", "Headline", f'<div class="cards">{"".join(cards)}</div>')


def _sections(t: SummaryTables) -> list[str]:
    period = PERIOD_NAMES[t.trend_period]
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
            f"This {_COMPARED} against the last",
            "<p>Significant: the two 95 % intervals do not overlap. The latest "
            f"{_COMPARED} may not be over yet.</p>",
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
    """Write ``build(source)`` to ``path`` atomically: readers see the old report or the new
    one, never half of one (``verigator_nb.log.write_atomically``)."""
    target = Path(path)
    document = build(source, title=title)
    write_atomically(target, lambda temp: Path(temp).write_text(document, encoding="utf-8"))
    return target
