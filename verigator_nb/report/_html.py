"""The verification report: one self-contained HTML page, a plain-text summary, a CLI entry.

``build(source)`` returns an HTML document with inline CSS, tables from ``DataFrame.to_html``
(escaping on) and charts embedded as base64 PNG: it opens offline and links nothing. One inline
script sorts a table by a click on its header, and the rate charts are also inline SVG whose
points show their values on hover (the PNG is what prints); see ``_interactive``.
``source`` is an outcome-log DataFrame, a log file (``.jsonl``, ``.parquet``, ``.csv``), a
partitioned Parquet dataset directory (queried in place by DuckDB), an ``analysis.Analysis``,
or the ``SummaryTables`` from ``tables(...)``, to render one computation twice. Every label,
caption and definition comes from the metric registry (``analysis.METRICS``).
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd
from matplotlib.figure import Figure

from verigator_nb.analysis import (
    BASELINE_DAYS,
    BREAKDOWN,
    CONVERSION,
    DISTRIBUTION,
    FALSE_ALARMS_PER_DAY,
    METRIC_LABELS,
    METRICS,
    PERIOD_NAMES,
    RATE,
    STAGES,
    Analysis,
    Filters,
    PumpingRules,
)
from verigator_nb.log import OutcomeLog, log_files, write_atomically
from verigator_nb.report import _interactive, plots
from verigator_nb.report._format import percent
from verigator_nb.report._provenance import describe_source, origin_notes, version
from verigator_nb.report._summary import (
    ALARMS,
    COMPARISON_PERIOD,
    CUSUM_BY,
    SECTIONS,
    TABLES,
    SummaryTables,
    TableSpec,
    cusum_summary,
    summary_tables,
)

__all__ = ["Source", "build", "definitions", "tables", "write"]

Source: TypeAlias = Any  # a frame, path, Ibis table, Spark DataFrame, Analysis or SummaryTables
_COMPARED = PERIOD_NAMES[COMPARISON_PERIOD]
_FOLDED_ROWS = 20  # longer tables open on a click (and print folded)
_INTERVALS = (
    "Rates carry 95 % Wilson score intervals (ci_low – ci_high); changes between periods are "
    "in percentage points. Each table's definition is one click away."
)
_PERCENT = re.compile(r"(^|_)(rate|ci_low|ci_high|share|dropout|center|lcl|ucl|p0|p1)$")
_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; }
.meta { color: #666; margin: 0.2rem 0; } .note { color: #9a6700; margin: 0.2rem 0; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 0.8rem 1rem; min-width: 14rem; }
.card .value { font-size: 1.8rem; font-weight: 600; } .card .ci { color: #666; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
h3 a.definition { font-size: 0.75rem; font-weight: normal; margin-left: 0.5rem; }
summary { cursor: pointer; color: #0b5cad; margin: 0.3rem 0 1rem; }
.scroll { overflow-x: auto; } img { max-width: 100%; } code { background: #f3f3f3; }
"""


def tables(source: Source, *, filters: Filters | None = None) -> SummaryTables:
    """Every report table for ``source``: a frame, a log file, a folder of JSONL logs (a
    server's, ``OutcomeLog.in_folder``), a Parquet dataset directory, an Ibis table, a Spark
    DataFrame, an ``Analysis``, or tables already computed (returned as they are).

    ``filters`` (``analysis.Filters``) narrows the log to a date range, services, countries,
    channels or tags; an ``Analysis`` carries its own, and tables already computed cannot be
    narrowed (``ValueError``)."""
    if isinstance(source, SummaryTables | Analysis) and filters:
        raise ValueError("filters apply to a log; pass them to Analysis(..., filters=...)")
    if isinstance(source, SummaryTables):
        return source
    if isinstance(source, Analysis):
        return summary_tables(source)
    if not isinstance(source, str | os.PathLike):  # a frame, an Ibis table, a Spark DataFrame
        return summary_tables(Analysis(source, filters=filters))
    path = Path(source)
    if path.is_dir() and not log_files(path):
        return summary_tables(Analysis(path, filters=filters))  # a dataset, read in place
    with OutcomeLog.load(path) as log:  # .jsonl, .csv, .parquet or a folder of .jsonl logs
        return summary_tables(Analysis(log.df, filters=filters))


def definitions() -> list[str]:
    """Each metric's definition as a light-Markdown sentence, from ``analysis.METRICS``."""
    return [
        f"**{m.label}** (``{m.name}``, per {m.grain}) = {m.numerator} / {m.denominator}. "
        f"{m.definition}"
        for m in METRICS.values()
    ]


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
            # Whole numbers (a median of attempts) print as such, not as "2.00".
            whole = bool(values.dropna().map(float.is_integer).all())
            digits = 0 if whole else 2
            shown[column] = values.map(lambda v, d=digits: "–" if pd.isna(v) else f"{v:,.{d}f}")
        elif pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
            shown[column] = values.map(lambda v: "–" if pd.isna(v) else f"{int(v):,}")
    return shown


def _table(frame: pd.DataFrame) -> str:
    """The frame as a sortable table; past ``_FOLDED_ROWS`` rows (a day-by-day table),
    folded under a line saying how many, so the page reads as charts and short tables."""
    shown = _display(frame).to_html(
        index=False, escape=True, na_rep="(none)", border=0, classes="sortable"
    )
    table = f'<div class="scroll">{_interactive.sortable(shown, frame)}</div>'
    if len(frame) <= _FOLDED_ROWS:
        return table
    return f"<details><summary>The table: {len(frame):,} rows</summary>{table}</details>"


def _image(figure: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, metadata={"Software": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    image = f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
    return _interactive.chart(figure, alt, image)  # a rate chart also as SVG with tooltips


def _comparison(table: pd.DataFrame) -> pd.DataFrame:
    """The period comparison, one readable cell per side: rate (interval), n."""
    shown = pd.DataFrame({"metric": table["metric"].map(lambda m: METRIC_LABELS.get(m, m))})
    for column in table.columns[1 : table.columns.get_loc("previous_period")]:
        shown[column] = table[column]  # the groups, when the comparison has any
    for side in ("previous", "current"):
        shown[f"{side} {_COMPARED}"] = table[f"{side}_period"].dt.strftime("%Y-%m-%d")
        shown[side] = [
            f"{percent(r)} ({percent(lo)} – {percent(hi)}), n={n:,}"
            for r, lo, hi, n in zip(
                table[f"{side}_rate"], table[f"{side}_ci_low"], table[f"{side}_ci_high"],
                table[f"{side}_n"], strict=True,
            )
        ]  # fmt: skip
    shown["change (pp)"] = [
        "–" if pd.isna(v) else f"{v:+.1f} ({lo:+.1f} to {hi:+.1f})"
        for v, lo, hi in zip(
            table["change_pp"], table["change_ci_low_pp"], table["change_ci_high_pp"], strict=True
        )
    ]
    shown["p (Holm)"] = table["p_adjusted"].map(lambda p: "–" if pd.isna(p) else f"{p:.3g}")
    return shown.assign(significant=table["significant"].map({True: "yes", False: "no"}))


def _section(anchor: str, heading: str, *parts: str) -> str:
    return (
        f'<section id="{anchor}">\n<h2>{html.escape(heading)}</h2>\n'
        + "\n".join(parts)
        + ("\n</section>")
    )


def _card(label: str, value: str, detail: str) -> str:
    return (
        f'<div class="card"><div>{html.escape(label)}</div>'
        f'<div class="value">{value}</div><div class="ci">{html.escape(detail)}</div></div>'
    )


def _headline(t: SummaryTables) -> str:
    cards = [
        _card(
            METRIC_LABELS[str(row.metric)],
            percent(row.rate),
            f"95% Wilson CI {percent(row.ci_low)} – {percent(row.ci_high)}, "
            f"{int(row.successes):,} of {int(row.n):,}",
        )
        for row in t.headline.itertuples(index=False)
    ]
    cost = next((t.table(s) for s in TABLES if s.metric == "sms_per_verified_session"), None)
    if cost is not None and len(cost):
        row = cost.iloc[0]
        value = "–" if pd.isna(row["value"]) else f"{row['value']:.2f}"
        detail = f"{int(row['numerator']):,} SMS for {int(row['denominator']):,} verified"
        cards.append(_card(METRIC_LABELS["sms_per_verified_session"], value, detail))
    return _section("headline", "Headline", f'<div class="cards">{"".join(cards)}</div>')


def _set_aside(t: SummaryTables) -> str:
    total = int(t.set_aside["rows"].sum())
    note = (
        "<p>Every row was used.</p>"
        if total == 0
        else f"<p>{total:,} rows were set aside and are in no metric:</p>" + _table(t.set_aside)
    )
    return _section("rows", "Rows used", note)


def _chart(spec: TableSpec, table: pd.DataFrame, t: SummaryTables, caption: str) -> str:
    """The chart for one table, chosen by its metric's kind; "" where a table says it all."""
    kind = METRICS[spec.metric].kind
    if spec.control:
        return _image(plots.plot_p_chart(table, title=caption), caption)
    if kind == RATE and spec.over_time:
        return _image(plots.plot_rate_over_time(table, title=caption), caption)
    if kind == RATE and spec.by:
        return _image(plots.plot_rate_by_group(table, title=caption), caption)
    if kind == BREAKDOWN:
        category = METRICS[spec.metric].category
        return _image(plots.plot_breakdown(table, category, title=caption), caption)
    if kind == STAGES:
        return _image(plots.plot_funnel(table, title=caption), caption)
    if kind == DISTRIBUTION and spec.metric == "attempts_to_success":
        return _image(plots.plot_attempts(t.verified["attempts"], title=caption), caption)
    if kind == DISTRIBUTION and spec.metric == "time_to_verify":
        return _image(plots.plot_time_to_verify(t.verified["seconds"], title=caption), caption)
    return ""


def _spec_parts(spec: TableSpec, t: SummaryTables) -> list[str]:
    caption = spec.caption(PERIOD_NAMES[t.trend_period])
    table = t.table(spec)
    heading = (
        f"<h3>{html.escape(caption)} "
        f'<a class="definition" href="#{_definition_anchor(spec.metric)}">definition</a></h3>'
    )
    parts = [heading, _chart(spec, table, t, caption), _table(table)]
    return [part for part in parts if part]


def _definition_anchor(metric: str) -> str:
    """The id of a metric's definition in the Definitions section."""
    return f"definition-{metric}"


def _anchor(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def _cusum_parts(t: SummaryTables) -> list[str]:
    """The Alarms section's CUSUM: what it watches, each group's chart, the days it rang."""
    if t.cusum is None:
        return []
    caption = f"Conversion by {CUSUM_BY}: Bernoulli CUSUM"
    intro = (
        f"<p>A Bernoulli CUSUM per {CUSUM_BY} adds up the evidence, session by session, that "
        f"conversion fell from its baseline p0 (the first {BASELINE_DAYS} days) to the worse "
        "rate p1 (failures doubled), and rings when the sum S reaches h. Each h is chosen for "
        f"at most one false alarm in {1 / FALSE_ALARMS_PER_DAY:,.0f} days at that "
        f"{CUSUM_BY}'s baseline volume, even were its true baseline one standard error below "
        f"the estimate. A {CUSUM_BY} with too little baseline has no chart "
        "(see its note).</p>"
    )
    chart = _image(plots.plot_cusum(t.cusum, by=CUSUM_BY, title=caption), caption)
    heading = (
        f"<h3>{html.escape(caption)} "
        f'<a class="definition" href="#{_definition_anchor(CONVERSION)}">definition</a></h3>'
    )
    return [heading, intro, chart, _table(cusum_summary(t.cusum))]


def _pumping_section(t: SummaryTables) -> str:
    """The SMS pumping review: its rules, then every flag with its sentence."""
    rules = f"<p>{html.escape(PumpingRules().describe())}</p>"
    flags = t.pumping
    if flags is None or flags.empty:
        found = "<p>No flags: no SMS traffic looked like pumping under these rules.</p>"
    else:
        items = "".join(f"<li>{html.escape(text)}</li>" for text in flags["explanation"])
        found = (
            f"<p>{len(flags):,} flag{'s' if len(flags) != 1 else ''}, oldest first. The review "
            "records; it blocks nothing.</p>"
            f"<ol>{items}</ol>" + _table(flags.drop(columns="explanation"))
        )
    return _section("sms-pumping-review", "SMS pumping review", rules, found)


def _sections(t: SummaryTables) -> list[str]:
    sections = [_headline(t), _set_aside(t)]
    for heading in SECTIONS:
        parts = [
            part for spec in TABLES if spec.section == heading for part in _spec_parts(spec, t)
        ]
        if heading == ALARMS:
            parts += _cusum_parts(t)
        sections.append(_section(_anchor(heading), heading, *parts))
    sections.append(_pumping_section(t))
    state = (
        "complete" if t.comparison.empty or t.comparison["current_complete"].all() else "running"
    )
    sections.append(
        _section(
            "comparison",
            f"This {_COMPARED} against the last",
            f"<p>The latest {state} {_COMPARED} against the one before, every metric on the "
            "same two weeks. Rates carry 95 % Wilson score intervals; the change is in "
            "percentage points with Newcombe's 95 % interval; p is the two-proportion z-test, "
            "Holm-adjusted across the groups of each metric; significant: adjusted p below "
            "0.05.</p>",
            _table(_comparison(t.comparison)),
        )
    )
    sections.append(
        _section(
            "definitions",
            "Definitions",
            "<ul>"
            + "".join(
                f'<li id="{_definition_anchor(name)}">{_inline(item)}</li>'
                for name, item in zip(METRICS, definitions(), strict=True)
            )
            + "</ul>",
        )
    )
    return sections


def build(
    source: Source,
    *,
    title: str = "Verigator verification report",
    source_name: str | None = None,
    filters: Filters | None = None,
) -> str:
    """The report for ``source`` as one self-contained HTML document (a string).

    Its header says what was read (``source_name``, else the path, else the kind of
    source), when and by which version of verigator_nb, and how many of the calls the local
    sandbox answered or the simulator made, and the ``filters`` that narrowed it. Raises
    ``FileNotFoundError``/``ValueError`` for a path that is not a readable log, and
    ``ValueError`` for a frame without the outcome log's columns.
    """
    t = tables(source, filters=filters)
    span = (
        f"{t.first_ts:%Y-%m-%d %H:%M} – {t.last_ts:%Y-%m-%d %H:%M} UTC"
        if t.first_ts is not None and t.last_ts is not None
        else "no rows"
    )
    meta = f"{t.rows:,} calls, {t.sessions:,} sessions, {span}"
    made = (
        f"Generated {pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M} UTC by verigator_nb "
        f"{version()} from {source_name or describe_source(source)}."
    )
    notes = "".join(f'<p class="note">{html.escape(note)}</p>' for note in origin_notes(t))
    if t.filters:
        notes += f'<p class="meta filters">Only: {html.escape(t.filters)}.</p>\n'
    body = "\n".join(_sections(t))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}{_interactive.CSS}</style>\n</head>\n"
        "<body>\n"
        f'<h1>{html.escape(title)}</h1>\n<p class="meta">{html.escape(meta)}</p>\n'
        f'<p class="meta">{html.escape(made)}</p>\n{notes}\n'
        f'<p class="meta">{_INTERVALS}</p>\n'
        f"{body}\n<script>{_interactive.SCRIPT}</script>\n</body>\n</html>\n"
    )


def write(
    source: Source,
    path: str | os.PathLike[str],
    *,
    title: str = "Verigator verification report",
    source_name: str | None = None,
    filters: Filters | None = None,
) -> Path:
    """Write ``build(source)`` to ``path`` atomically: readers see the old report or the new
    one, never half of one (``verigator_nb.log.write_atomically``). The file is readable by
    others as the log is (mode 0666 less the umask), so it can be shared from a folder; its
    folder is made if it is missing."""
    target = Path(path)
    document = build(source, title=title, source_name=source_name, filters=filters)
    target.parent.mkdir(parents=True, exist_ok=True)  # e.g. a reports/ folder, made on first use
    write_atomically(target, lambda temp: Path(temp).write_text(document, encoding="utf-8"))
    return target
