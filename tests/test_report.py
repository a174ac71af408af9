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
from verigator_nb.analysis import DEFINITIONS
from verigator_nb.analysis._definitions import definitions_markdown
from verigator_nb.log import DamagedLogWarning, OutcomeLog
from verigator_nb.schema import empty_frame

SECTIONS = [
    "headline",
    "success-by-method",
    "fallback-by-country",
    "failure-reasons",
    "attempts-and-time",
    "funnel",
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
    assert len(images) >= 7
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "<table" in document and "session success rate" in document


def test_report_is_self_contained(document) -> None:
    assert "http://" not in document and "https://" not in document
    assert not re.search(r'(src|href)="(?!data:)', document)
    assert "<script" not in document and "<link" not in document


def test_hostile_strings_are_escaped_everywhere(log) -> None:
    hostile = log.assign(
        country=log["country"].replace({"EE": HOSTILE}),
        error=log["error"].replace({"InternalError": HOSTILE, "RequestTimeoutError": HOSTILE}),
        tags=HOSTILE,
    )
    document = report.build(hostile, title=f"Report {HOSTILE}")
    assert "<script" not in document
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in document  # title
    assert document.count("&lt;script&gt;") >= 3  # title, country, failure reason


def test_empty_log_still_builds() -> None:
    document = report.build(empty_frame())
    for anchor in SECTIONS:
        assert f'id="{anchor}"' in document
    assert "0 calls, 0 sessions" in document


def test_definitions_come_from_the_registry_and_survive_optimised_python(document) -> None:
    items = report.definitions()
    assert len(items) == len(DEFINITIONS) >= 7
    for definition in DEFINITIONS:
        assert f"<strong>{definition.term}</strong>" in document
    # python -OO strips docstrings; the definitions are data, so they survive it.
    code = "from verigator_nb.analysis import DEFINITIONS; print(len(DEFINITIONS))"
    out = subprocess.run([sys.executable, "-OO", "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == str(len(DEFINITIONS)), out.stderr


def test_docs_metrics_page_holds_exactly_the_generated_definitions() -> None:
    page = Path(__file__).parents[1].joinpath("docs", "metrics.md").read_text()
    start = page.index("do not edit by hand -->\n") + len("do not edit by hand -->\n")
    block = page[start : page.index("<!-- end of generated definitions -->")]
    assert block == definitions_markdown(), (
        "docs/metrics.md is stale: paste verigator_nb.analysis._definitions."
        "definitions_markdown() between its markers"
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


def test_summary_names_methods_fallback_and_top_failures(log) -> None:
    text = report.summary(log)
    assert "Session success rate:" in text and "Fallback rate" in text
    assert "Session success by method: totp" in text
    assert re.search(r"Top failure reasons: INVALID \d+\.\d%", text)
    assert "<" not in text


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
