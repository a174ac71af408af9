"""The report's interactive parts, read from the HTML: sortable tables with a sort key per
cell, one inline script that names no URL, rate charts as SVG whose points carry their values
as ``<title>`` tooltips (hostile group names escaped), and the PNG kept for print."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from tests._synthetic import synthetic_log
from verigator_nb import report
from verigator_nb.analysis import METRICS, RATE
from verigator_nb.report import plots
from verigator_nb.report._format import percent
from verigator_nb.report._interactive import CSS, SCRIPT, chart, sort_keys
from verigator_nb.report._summary import TABLES
from verigator_nb.schema import COUNTRY

HOSTILE = "<script>alert('x')</script> & \"q\""


@dataclass
class Table:
    classes: list[str]
    headers: list[dict[str, str | None]] = field(default_factory=list)
    rows: list[list[tuple[dict[str, str | None], str]]] = field(default_factory=list)


@dataclass
class Chart:
    titles: list[str] = field(default_factory=list)
    svgs: int = 0


class _Page(HTMLParser):
    """The tables (headers, cells with their attributes and text), the charts (their SVG
    titles and print images) and the scripts of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[Table] = []
        self.charts: list[Chart] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.svg_titles: list[str] = []
        self._stack: list[str] = []
        self._cell: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag not in {"use", "path", "img", "meta"}:  # void or self-closed in the page
            self._stack.append(tag)
        classes = (attributes.get("class") or "").split()
        if tag == "table":
            self.tables.append(Table(classes))
        elif tag == "tr" and self.tables:
            self.tables[-1].rows.append([])
        elif tag in {"th", "td", "title", "script"}:
            self._cell, self._text = attributes, []
        elif tag == "div" and "chart" in classes:
            self.charts.append(Chart())
        elif tag == "svg" and self.charts:
            self.charts[-1].svgs += 1

    def handle_endtag(self, tag: str) -> None:
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()
        text = "".join(self._text)
        if tag == "th" and self._cell is not None and "thead" in self._stack:
            self.tables[-1].headers.append(self._cell)
        elif tag == "td" and self._cell is not None:
            self.tables[-1].rows[-1].append((self._cell, text))
        elif tag == "title" and "svg" in self._stack:
            self.svg_titles.append(text)
            self.charts[-1].titles.append(text)
        elif tag == "script" and self._cell is not None:
            self.scripts.append((self._cell, text))
        if tag in {"th", "td", "title", "script"}:
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text.append(data)


def _read(document: str) -> _Page:
    page = _Page()
    page.feed(document)
    return page


class _Prints(HTMLParser):
    """Each chart's print image (the <img> inside its ``div.print``)."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "div" and attributes.get("class") == "print":
            self._inside = True
        elif tag == "img" and self._inside:
            self.images.append(attributes.get("src") or "")
            self._inside = False


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return synthetic_log(3_000, seed=5, days=14)


@pytest.fixture(scope="module")
def summary(log) -> report.SummaryTables:
    return report.tables(log)


@pytest.fixture(scope="module")
def page(summary) -> _Page:
    return _read(report.build(summary))


def test_every_table_sorts_and_each_cell_has_the_raw_value_as_its_key(page) -> None:
    assert len(page.tables) >= 20
    for table in page.tables:
        assert "sortable" in table.classes
        kinds = [header.get("data-type") for header in table.headers]
        assert kinds and set(kinds) <= {"number", "text"}
        for row in (row for row in table.rows if row):
            assert len(row) == len(kinds)
            for kind, (cell, text) in zip(kinds, row, strict=True):
                key = cell.get("data-sort")
                assert key is not None, f"no data-sort on {text!r}"
                if kind != "number" or key == "":
                    continue
                value = float(key)  # a number column's key is a number
                if text.endswith("%") and "(" not in text:  # a rate cell: its key is the rate
                    assert percent(value) == text
                elif text.replace(",", "").isdigit():  # a count: its key is the count
                    assert value == int(text.replace(",", ""))
            assert all(cell.get("data-sort") == "" for cell, text in row if text in {"–"})


def test_sort_keys_make_displayed_numbers_sort_as_numbers_and_missing_ones_empty() -> None:
    frame = pd.DataFrame(
        {
            "rate": [0.942, np.nan, 0.1],
            "n": [1234, 99, 5],
            "period": pd.to_datetime(["2026-01-05", "2025-12-29", "2026-01-12"], utc=True),
            "stage": pd.Categorical(
                ["verified", "initiated", "verified"], ["initiated", "verified"]
            ),
            "change (pp)": ["+1.2 (+0.3 to +2.1)", "–", "-10.5 (-12.0 to -9.0)"],
            "current": ["94.2% (93.1% – 95.0%), n=1,234", "100.0% (99% – 100%), n=9", "–"],
            "previous week": ["2026-01-05", "2025-12-29", "2026-01-12"],
            "country": ["EE", HOSTILE, None],
        }
    )
    keys = dict(zip(frame.columns, sort_keys(frame), strict=True))
    assert keys["rate"] == ("number", ["0.942", "", "0.1"])
    assert keys["n"] == ("number", ["1234", "99", "5"])
    assert keys["period"][0] == "text" and sorted(keys["period"][1]) == [
        "2025-12-29T00:00:00",
        "2026-01-05T00:00:00",
        "2026-01-12T00:00:00",
    ]
    assert keys["stage"] == ("number", ["1", "0", "1"]), "stages sort in funnel order"
    assert keys["change (pp)"] == ("number", ["1.2", "", "-10.5"])
    assert keys["current"] == ("number", ["94.2", "100.0", ""]), "100% sorts above 94.2%"
    assert keys["previous week"][0] == "text", "a date is not the number 2026"
    assert keys["country"] == ("text", ["EE", HOSTILE, ""])


def test_the_one_script_is_inline_and_names_no_url(page) -> None:
    assert len(page.scripts) == 1
    attributes, text = page.scripts[0]
    assert attributes == {} and text == SCRIPT
    for needle in ("http", "//", "fetch", "XMLHttpRequest", "import(", "src", "<"):
        assert needle not in text, needle
    assert "sortable" in text and "aria-sort" in text and "keydown" in text


def test_rate_charts_are_svg_with_a_tooltip_per_point_holding_the_tables_values(
    summary, page
) -> None:
    over_time = next(s for s in TABLES if s.over_time and s.metric == "session_success")
    table = summary.table(over_time)
    expected = [
        f"{period:%Y-%m-%d}: {percent(rate)} ({percent(low)} – {percent(high)}), n = {n:,}"
        for period, rate, low, high, n in zip(
            table["period"], table["rate"], table["ci_low"], table["ci_high"], table["n"],
            strict=True,
        )
    ]  # fmt: skip
    assert [chart.titles for chart in page.charts].count(expected) == 1
    by_country = summary.table(
        next(s for s in TABLES if s.metric == "fallback" and not s.over_time)
    )
    row = by_country.iloc[0]
    tip = f"{row[COUNTRY]}: {percent(row['rate'])} ({percent(row['ci_low'])} – "
    assert any(title.startswith(tip) for title in page.svg_titles)
    # Every rate chart (by group, over time, the p-chart), and nothing else, is interactive.
    rate_charts = [s for s in TABLES if METRICS[s.metric].kind == RATE and (s.by or s.over_time)]
    assert len(page.charts) == len(rate_charts)
    assert all(chart.svgs == 1 and chart.titles for chart in page.charts)


def test_each_interactive_chart_keeps_its_png_for_print(summary) -> None:
    document = report.build(summary)
    prints = _Prints()
    prints.feed(document)
    assert len(prints.images) == document.count('<div class="chart">') >= 10
    assert all(src.startswith("data:image/png;base64,") for src in prints.images)
    print_rules = CSS[CSS.index("@media print") :]
    assert ".chart svg { display: none; }" in print_rules
    assert ".chart .print { display: block; }" in print_rules
    assert ".chart .print { display: none; }" in CSS[: CSS.index("@media print")]


def test_hostile_group_names_are_escaped_in_svg_titles_and_sort_keys(log) -> None:
    hostile = log.assign(**{COUNTRY: log[COUNTRY].replace({"EE": HOSTILE})})
    document = report.build(hostile)
    assert document.count("<script") == 1, "only the page's own script"
    assert "<script>alert" not in document and "&lt;script&gt;alert(" in document
    page = _read(document)
    assert any(title.startswith(f"{HOSTILE}: ") for title in page.svg_titles)
    keys = [cell.get("data-sort") for table in page.tables for row in table.rows for cell, _ in row]
    assert HOSTILE in keys
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp; \"q\": " in document  # a <title>


def test_a_lines_tooltips_skip_its_missing_points_and_stay_in_order() -> None:
    table = pd.DataFrame(
        {
            "period": pd.to_datetime(["2026-01-05", "2026-01-12", "2026-01-19"], utc=True),
            "rate": [0.5, np.nan, 0.75],
            "ci_low": [0.4, np.nan, 0.6],
            "ci_high": [0.6, np.nan, 0.8],
            "n": [10, 0, 1_234],
        }
    )
    svg = chart(plots.plot_rate_over_time(table), "rate", "<img>")
    page = _read(svg)
    assert page.svg_titles == [
        "2026-01-05: 50.0% (40.0% – 60.0%), n = 10",
        "2026-01-19: 75.0% (60.0% – 80.0%), n = 1,234",
    ]
    assert "http" not in svg and "xmlns" not in svg, "inline in the page, naming no URL"
    ids = re.findall(r' id="([^"]*)"', svg)
    assert ids and all(f"#{i}" in svg for i in ids), "only ids something refers to are kept"


def test_a_figure_without_tooltips_stays_a_png() -> None:
    figure = plots.plot_attempts(pd.Series([1, 1, 2, 3]))
    assert chart(figure, "attempts", "<img>") == "<img>"
