"""The HTML report: self-contained, every section present, hostile data escaped, atomic write."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from tests._synthetic import synthetic_log
from verigator_nb import report
from verigator_nb.analysis import METRICS, definitions_markdown
from verigator_nb.log import DamagedLogWarning, OutcomeLog
from verigator_nb.report._summary import SECTIONS as TABLE_SECTIONS
from verigator_nb.schema import empty_frame

SECTIONS = [
    "headline",
    "rows",
    "conversion-and-success-by-channel",
    "fallback",
    "availability-and-errors",
    "how-verifications-end",
    "attempts-time-to-verify-and-latency",
    "logins-resends-and-sms-cost",
    "over-time",
    "comparison",
    "definitions",
]
HOSTILE = "<script>alert('x')</script>"


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return synthetic_log(3_000, seed=5, days=14)


@pytest.fixture(scope="module")
def document(log) -> str:
    return report.build(log)


def test_report_has_every_section_and_embedded_charts(document) -> None:
    assert document.startswith("<!DOCTYPE html>") and document.rstrip().endswith("</html>")
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in document
    images = re.findall(r'<img [^>]*src="([^"]*)"', document)
    assert len(images) >= 15
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "<table" in document and "Session success (end to end)" in document
    # Every channel table says which channel it groups by.
    assert "Conversion by requested channel (requested_method)" in document
    assert "Conversion by delivered channel (method)" in document


def test_every_declared_section_is_rendered_once(document) -> None:
    headings = re.findall(r"<h2>([^<]*)</h2>", document)
    assert [h for h in headings if h in TABLE_SECTIONS] == list(TABLE_SECTIONS)


def test_report_is_self_contained(document) -> None:
    assert "http://" not in document and "https://" not in document
    # Images are data: URIs; an SVG's <use href="#m..."> points within the page.
    assert not re.search(r'(src|href)="(?!data:|#)', document)
    assert "<link" not in document
    assert document.count("<script") == 1 and "<script>" in document, "one inline script"


def test_hostile_strings_are_escaped_everywhere(log) -> None:
    hostile = log.assign(
        country=log["country"].replace({"EE": HOSTILE}),
        error=log["error"].replace({"InternalError": HOSTILE, "RequestTimeoutError": HOSTILE}),
        tags=HOSTILE,
    )
    document = report.build(hostile, title=f"Report {HOSTILE}")
    assert document.count("<script") == 1 and "<script>alert" not in document, "ours alone"
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in document  # title
    assert document.count("&lt;script&gt;") >= 3  # title, country, failure reason


def test_empty_log_still_builds() -> None:
    document = report.build(empty_frame())
    for anchor in SECTIONS:
        assert f'id="{anchor}"' in document
    assert "0 calls, 0 sessions" in document


def test_definitions_come_from_the_registry_and_survive_optimised_python(document) -> None:
    items = report.definitions()
    assert len(items) == len(METRICS) >= 15
    for metric in METRICS.values():
        assert f"<strong>{metric.label}</strong>" in document
    # python -OO strips docstrings; the definitions are data, so they survive it.
    code = "from verigator_nb import report; print(len(report.definitions()))"
    out = subprocess.run([sys.executable, "-OO", "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == str(len(METRICS)), out.stderr


def test_docs_metrics_page_holds_exactly_the_generated_definitions() -> None:
    page = Path(__file__).parents[1].joinpath("docs", "metrics.md").read_text()
    start = page.index("do not edit by hand -->\n") + len("do not edit by hand -->\n")
    block = page[start : page.index("<!-- end of generated definitions -->")]
    assert block == definitions_markdown(), (
        "docs/metrics.md is stale: paste verigator_nb.analysis.definitions_markdown() "
        "between its markers"
    )


def test_write_is_atomic_and_leaves_no_temp_files(log, tmp_path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    written = report.write(log, target)
    assert written == target and target.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_failed_write_keeps_the_old_report_and_cleans_up(log, tmp_path, monkeypatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")

    def refuse(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        report.write(log, target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_summary_names_every_rate_both_channel_groupings_and_endings(log) -> None:
    text = report.summary(log)
    for metric in METRICS.values():
        if metric.kind == "rate":
            assert f"{metric.label}: " in text
    assert "Conversion by requested channel (requested_method): sms" in text
    assert "Conversion by delivered channel (method): sms" in text
    assert re.search(r"Sessions not verified ended: [^;]*\d+\.\d%", text)
    assert "<" not in text


def test_summary_and_report_say_how_many_rows_were_set_aside(log) -> None:
    broken = pd.concat([log, log.head(5)], ignore_index=True)  # five duplicated event_ids
    broken.loc[len(broken) - 1, "ts"] = pd.NaT  # and one of them incomplete
    text = report.summary(broken)
    assert "Rows set aside: 5 (incomplete 1; duplicate 4)" in text
    assert "5 rows were set aside" in report.build(broken)


def _save(log: pd.DataFrame, path: Path) -> None:
    """Save through the project's own log, in the format ``path``'s suffix names."""
    rows = log.astype(object).where(log.notna(), None).to_dict("records")
    with OutcomeLog(path if path.suffix == ".jsonl" else None) as outcome_log:
        for row in rows:
            outcome_log.append({k: v for k, v in row.items() if v is not None})
        if path.suffix == ".csv":
            outcome_log.to_csv(path)
        elif path.suffix == ".parquet":
            outcome_log.to_parquet(path)
    if path.suffix == ".jsonl":
        with path.open("a") as file:
            file.write('{"event_id": "torn')  # a crash mid-write: the reader skips it


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".csv"])
def test_report_command_reads_each_log_format(log, tmp_path, suffix, capsys) -> None:
    source = tmp_path / f"log{suffix}"
    _save(log, source)
    assert report.report_command(source, tmp_path / "out.html") == 0
    out, err = capsys.readouterr()
    assert f"{len(log):,} calls" in out and "report written to" in out
    # The JSONL log ends in a torn line: the command says so in one line, and reads the rest.
    torn = "warning: " in err and "set aside line" in err
    assert torn == (suffix == ".jsonl") and len(err.splitlines()) == torn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DamagedLogWarning)
        assert report.summary(source) == report.summary(log)


def test_report_command_explains_a_missing_log(tmp_path, capsys) -> None:
    assert report.report_command(tmp_path / "nope.jsonl", tmp_path / "out.html") == 1
    assert "no outcome log" in capsys.readouterr().err
    assert not (tmp_path / "out.html").exists()


def test_the_header_says_what_was_read_when_by_which_version_and_from_where(log, tmp_path) -> None:
    from importlib import metadata

    source = tmp_path / "campaign.parquet"
    _save(log, source)
    assert report.report_command(source, tmp_path / "out.html") == 0
    document = (tmp_path / "out.html").read_text(encoding="utf-8")
    made = re.search(r'<p class="meta">(Generated .*?)</p>', document)
    assert made is not None
    version = metadata.version("verigator-nb")
    assert re.fullmatch(
        rf"Generated \d{{4}}-\d\d-\d\d \d\d:\d\d UTC by verigator_nb {re.escape(version)} "
        rf"from {re.escape(str(source))}\.",
        made.group(1),
    )
    assert oct((tmp_path / "out.html").stat().st_mode & 0o044) == oct(0o044 & ~_umask()), (
        "shareable from a shared folder, as the log is"
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_sandbox_and_simulated_calls_are_said_to_be_so(log) -> None:
    answered = log.assign(endpoint="api.example.com", tags="")
    assert '<p class="note">' not in report.build(answered), "production calls: no note"
    mixed = answered.copy()
    mixed.loc[mixed.index[:100], "endpoint"] = "sandbox"
    mixed.loc[mixed.index[:40], "tags"] = "simulated,eu"
    notes = re.findall(r'<p class="note">(.*?)</p>', report.build(mixed))
    assert notes == [
        f"100 of {len(log):,} calls were answered by the local sandbox, not a production API: "
        "its rules and clock, not real users&#x27; phones.",
        f"40 of {len(log):,} calls were made by the simulator.",
    ]


def test_whole_number_statistics_print_without_decimals() -> None:
    from verigator_nb.report._html import _display

    shown = _display(pd.DataFrame({"p50": [1.0, 2.0], "mean": [1.03, 2.5], "p90": [2.0, None]}))
    assert shown["p50"].tolist() == ["1", "2"], "a median of attempts is a count"
    assert shown["mean"].tolist() == ["1.03", "2.50"] and shown["p90"].tolist() == ["2", "–"]


def test_the_spreadsheet_holds_every_table_and_the_definitions_and_runs_no_formula(
    log, tmp_path
) -> None:
    from openpyxl import load_workbook

    hostile = log.copy()
    hostile.loc[hostile.index[:300], "provider"] = '=HYPERLINK("http://x","y")'
    path = report.write_xlsx(hostile, tmp_path / "out" / "report.xlsx", source_name="a.jsonl")
    book = load_workbook(path)
    assert book.sheetnames[:3] == ["About", "Headline", "Rows used"]
    alarms = ["CUSUM", "CUSUM by day", "SMS pumping review"]
    assert book.sheetnames[-5:] == [*alarms, "Comparison", "Definitions"]
    assert len(book.sheetnames) == 8 + len(report.TABLES) and all(
        len(name) <= 31 for name in book.sheetnames
    )
    about = {row[0]: row[1] for row in book["About"].iter_rows(min_row=2, values_only=True)}
    assert about["source"] == "a.jsonl" and about["calls"] == report.tables(hostile).rows
    headline = pd.read_excel(path, sheet_name="Headline")
    expected = report.tables(hostile).headline
    assert headline["metric"].tolist() == expected["metric"].tolist()
    assert headline["rate"].tolist() == pytest.approx(expected["rate"].tolist())
    definitions = pd.read_excel(path, sheet_name="Definitions")
    assert definitions["metric"].tolist() == list(METRICS)
    cells = [cell for sheet in book for row in sheet.iter_rows() for cell in row]
    assert not any(cell.data_type == "f" for cell in cells), "no cell may be a formula"
    shown = [
        cell.value for cell in cells if isinstance(cell.value, str) and "HYPERLINK" in cell.value
    ]
    assert shown and all(value.startswith("'=") for value in shown)


def test_report_command_also_writes_the_spreadsheet(log, tmp_path, capsys) -> None:
    source = tmp_path / "log.parquet"
    _save(log, source)
    code = report.report_command(source, tmp_path / "r.html", xlsx_path=tmp_path / "r.xlsx")
    out, _ = capsys.readouterr()
    assert code == 0 and (tmp_path / "r.xlsx").stat().st_size > 0
    assert f"spreadsheet written to {tmp_path / 'r.xlsx'}" in out


def test_csv_files_hold_the_same_sheets_and_no_formula(log, tmp_path) -> None:
    hostile = log.copy()
    hostile.loc[hostile.index[:300], "provider"] = "@SUM(1+1)*cmd|' /C calc'!A0"
    written = report.write_csv(hostile, tmp_path / "tables")
    names = [path.name for path in written]
    assert names[:3] == ["01-about.csv", "02-headline.csv", "03-rows-used.csv"]
    assert names[-1].endswith("-definitions.csv") and len(names) == 8 + len(report.TABLES)
    text = "\n".join(path.read_text(encoding="utf-8-sig") for path in written)
    assert "@SUM" in text and all(
        not cell.startswith(("=", "+", "-", "@"))
        for line in text.splitlines()
        for cell in line.split(",")
        if "SUM" in cell
    )
    headline = pd.read_csv(written[1], encoding="utf-8-sig")
    assert headline["rate"].tolist() == pytest.approx(
        report.tables(hostile).headline["rate"].tolist()
    )


def test_every_table_links_to_its_metrics_definition_and_says_what_intervals_it_has(
    document,
) -> None:
    links = re.findall(r'<h3>([^<]*) <a class="definition" href="#([^"]+)">', document)
    ids = set(re.findall(r'<li id="([^"]+)">', document))
    assert len(links) == len(report.TABLES) + 1  # and the CUSUM
    for caption, target in links:
        assert target in ids, f"{caption} links to no definition"
        metric = target.removeprefix("definition-")
        assert METRICS[metric].label in caption
    assert "Rates carry 95 % Wilson score intervals" in document
