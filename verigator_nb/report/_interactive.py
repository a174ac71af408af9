"""What makes the report's page interactive, offline: tables that sort by a click on a header
and rate charts whose points and bars show their values on hover.

``sortable(table_html, frame)`` gives each ``<th>`` of ``DataFrame.to_html`` output a
``data-type`` (number or text) and each ``<td>`` a ``data-sort`` key computed from the
unformatted frame, so "94.2%", "1,234" and "–" sort as 0.942, 1234 and last. ``SCRIPT`` (plain
JavaScript, inline, no library, no URL) makes the headers focusable buttons that sort on a
click, Enter or Space; without it the tables read as before. ``chart(figure, alt, image)``
renders a figure that carries hover texts (``_hover``) as inline SVG with a ``<title>`` on
each point or bar, and keeps ``image`` (the PNG) for print; other figures stay PNG only.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
import xml.etree.ElementTree as ET  # only ever parses the SVG matplotlib has just written

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from verigator_nb.report import _hover

__all__ = ["CSS", "SCRIPT", "chart", "sort_keys", "sortable"]

NUMBER, TEXT = "number", "text"
# A displayed number at the start of a cell, as the comparison table writes them ("94.2% (…)",
# "+1.2 (…)", "1.2e-05"); a date ("2026-01-05") is not one.
_LEADING_NUMBER = re.compile(r"^([+\-−]?\d[\d,]*(?:\.\d+)?(?:[eE][+\-]?\d+)?)(?=%|\s|,\s|$)")
_EMPTY = frozenset({"", "–", "(none)"})
_SVG = "{http://www.w3.org/2000/svg}"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_REFERENCE = re.compile(r"url\(#([^)]+)\)")

CSS = """
table.sortable th[tabindex] { cursor: pointer; user-select: none; white-space: nowrap; }
table.sortable th[tabindex]::after { content: " \\2195"; color: #999; font-size: 0.8em; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; color: #222; }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; color: #222; }
table.sortable th:focus-visible { outline: 2px solid #0969da; outline-offset: -2px; }
.chart svg { max-width: 100%; height: auto; display: block; }
.chart svg use:hover, .chart svg path:hover { opacity: 0.7; }
.chart .print { display: none; }
@media print {
  .chart svg { display: none; } .chart .print { display: block; }
  table.sortable th::after { content: none; }
}
"""

# No comment in it may use a double slash: the page is checked to link to nothing.
SCRIPT = """
(() => {
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  const key = (row, column, numeric) => {
    const cell = row.cells[column];
    const raw = cell ? (cell.dataset.sort ?? cell.textContent.trim()) : "";
    if (raw === "") return null;
    if (!numeric) return raw;
    const value = Number(raw);
    return Number.isNaN(value) ? null : value;
  };
  const sortBy = (th) => {
    const body = th.closest("table").tBodies[0];
    if (!body) return;
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    for (const other of th.parentNode.cells) other.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const numeric = th.dataset.type === "number";
    const sign = ascending ? 1 : -1;
    const rows = Array.from(body.rows, (row) => [key(row, th.cellIndex, numeric), row]);
    rows.sort(([a], [b]) => {
      if (a === null || b === null) return (a === null) - (b === null);
      return sign * (numeric ? a - b : collator.compare(a, b));
    });
    body.append(...rows.map(([, row]) => row));
  };
  for (const th of document.querySelectorAll("table.sortable thead th")) {
    th.tabIndex = 0;
    th.title = "Sort by this column";
    th.addEventListener("click", () => sortBy(th));
    th.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault();
      sortBy(th);
    });
  }
})();
"""


def sort_keys(frame: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """Per column of ``frame``: its sort type (``NUMBER`` or ``TEXT``) and each row's key,
    "" for a missing value (sorted last either way). Numbers are their raw value, an ordered
    stage its position, a time its ISO form; text that starts with a number in every row (the
    comparison's "94.2% (…), n=1,234") sorts by that number."""
    return [_column_keys(frame[column]) for column in frame.columns]


def _column_keys(values: pd.Series) -> tuple[str, list[str]]:
    kind, keys = TEXT, values.astype(object)
    if isinstance(values.dtype, pd.CategoricalDtype):  # a funnel's stages sort in their order
        kind, keys = NUMBER, pd.Series(values.cat.codes, index=values.index).astype(object)
    elif pd.api.types.is_bool_dtype(values):
        keys = values.astype(object).map(str)
    elif pd.api.types.is_integer_dtype(values):
        kind = NUMBER
        keys = values.astype(object).map(lambda v: str(int(v)), na_action="ignore")
    elif pd.api.types.is_numeric_dtype(values):
        kind = NUMBER
        keys = values.astype(object).map(lambda v: repr(float(v)), na_action="ignore")
    elif pd.api.types.is_datetime64_any_dtype(values):
        keys = values.dt.strftime("%Y-%m-%dT%H:%M:%S").astype(object)
    texts = [
        "" if gone or str(key).strip() in _EMPTY else str(key)
        for key, gone in zip(keys, values.isna().to_numpy(), strict=True)
    ]
    if kind == TEXT and not pd.api.types.is_bool_dtype(values):
        numbers = [_LEADING_NUMBER.match(text) for text in texts if text]
        if numbers and all(numbers):
            return NUMBER, [_leading_number(text) for text in texts]
    return kind, texts


def _leading_number(text: str) -> str:
    match = _LEADING_NUMBER.match(text)
    if match is None:
        return ""
    return repr(float(match.group(1).replace(",", "").replace("−", "-")))


def sortable(table_html: str, frame: pd.DataFrame) -> str:
    """``table_html`` (``frame.to_html(index=False, classes="sortable")`` or the same of a
    display copy of ``frame``) with a ``data-type`` on each header and a ``data-sort`` key on
    each cell. The cells are found in order: ``to_html`` escapes every value, so a ``<td>`` in
    the markup is always a cell."""
    columns = sort_keys(frame)
    headers = iter(kind for kind, _ in columns)
    cells = iter(keys[row] for row in range(len(frame)) for _, keys in columns)
    marked = re.sub(r"<th>", lambda _: f'<th data-type="{next(headers, TEXT)}">', table_html)
    return re.sub(r"<td>", lambda _: f'<td data-sort="{html.escape(next(cells, ""))}">', marked)


def chart(figure: Figure, alt: str, image: str) -> str:
    """``figure`` as inline SVG with its hover texts as ``<title>`` tooltips, ``image`` kept
    for print; just ``image`` when the figure carries no hover texts."""
    texts = _hover.attached(figure)
    if not texts:
        return image
    return f'<div class="chart">{_svg(figure, texts, alt)}<div class="print">{image}</div></div>'


def _svg(figure: Figure, texts: dict[str, list[str]], alt: str) -> str:
    buffer = io.StringIO()
    # Text as <text> (not glyph paths) keeps the SVG smaller than the PNG; a salt from the
    # figure's content keeps the ids of its markers and clip paths stable between builds.
    salt = hashlib.sha256(f"{alt}{sorted(texts.values())}".encode()).hexdigest()[:12]
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    root = ET.fromstring(buffer.getvalue())  # noqa: S314 - matplotlib's own output
    for metadata in root.findall(f"{_SVG}metadata"):
        root.remove(metadata)
    _add_titles(root, texts)
    _tidy(root)
    root.set("role", "img")
    root.set("aria-label", alt)
    return ET.tostring(root, encoding="unicode")


def _add_titles(root: ET.Element, texts: dict[str, list[str]]) -> None:
    """A ``<title>`` first in each marker (``<use>``) or, for a bar, its ``<path>``; an
    artist whose drawn pieces do not match its texts one for one gets none."""
    for element in root.iter(f"{_SVG}g"):
        tips = texts.get(element.get("id", ""))
        if tips is None:
            continue
        targets = list(element.iter(f"{_SVG}use")) or [
            path for path in element.iter(f"{_SVG}path") if path.get("id") is None
        ]
        if len(targets) != len(tips):
            continue
        for target, tip in zip(targets, tips, strict=True):
            title = ET.Element(f"{_SVG}title")
            title.text = tip
            target.insert(0, title)


def _tidy(root: ET.Element) -> None:
    """Drop what a page of many SVGs does not need: layout whitespace, ids nothing refers to
    (matplotlib's "figure_1", "line2d_3" repeat in every chart) and the namespaces (an
    ``<svg>`` inline in HTML needs none, and the page names no URL)."""
    referenced: set[str] = set()
    for element in root.iter():
        link = element.attrib.pop(_XLINK_HREF, None)
        if link is not None:
            element.set("href", link)
            referenced.add(link.removeprefix("#"))
        for value in element.attrib.values():
            referenced.update(_REFERENCE.findall(value))
    for element in root.iter():
        if element.get("id") is not None and element.get("id") not in referenced:
            del element.attrib["id"]
        if "d" in element.attrib:
            element.set("d", " ".join(element.attrib["d"].split()))
        element.tag = element.tag.removeprefix(_SVG)
        if element.tag not in ("text", "title", "style"):
            element.text = (element.text or "").strip() or None
        element.tail = (element.tail or "").strip() or None
