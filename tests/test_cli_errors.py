"""``verigator-nb`` given a bad place to write or a file that is no log: one line, no traceback.

Each test runs the command's ``main`` and reads its stderr and exit status; one runs the
installed command in its own process, to show the entry point adds no traceback.
A wrong output location is found before any work starts: no sandbox, no simulation.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._synthetic import synthetic_log
from verigator_nb.cli import main

SCRIPT = Path(sys.executable).with_name("verigator-nb")


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``verigator-nb args`` in ``cwd``, in this process (fast): its exit status and output.

    An exception escaping ``main`` fails the test, as a traceback would fail the command;
    ``test_the_installed_command_prints_one_line_and_no_traceback`` runs the real one.
    """
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(args))
            except SystemExit as exit_:  # argparse's usage errors
                status = int(exit_.code or 0)
    finally:
        os.chdir(previous)
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


def _run_installed(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "verigator_nb"]
    return subprocess.run(
        [*command, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _one_line_error(done: subprocess.CompletedProcess[str], command: str) -> str:
    """The single stderr line of a failed ``command``, after checking it is the only output."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"verigator-nb {command}: "), lines[0]
    assert done.stdout == "", "nothing may have run before the error"
    return lines[0]


@pytest.fixture(scope="module")
def good_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("log") / "outcomes.parquet"
    synthetic_log(300).to_parquet(path, index=False)
    return path


def test_report_into_a_missing_folder_says_so(good_log, tmp_path) -> None:
    line = _one_line_error(
        _run(tmp_path, "report", str(good_log), "--out", "no/such/report.html"), "report"
    )
    assert "no folder" in line and "no/such" in line
    assert not (tmp_path / "no").exists()


def test_report_onto_an_existing_folder_says_so(good_log, tmp_path) -> None:
    (tmp_path / "taken").mkdir()
    line = _one_line_error(_run(tmp_path, "report", str(good_log), "--out", "taken"), "report")
    assert "taken is a folder" in line


def test_report_into_the_current_folder_still_works(good_log, tmp_path) -> None:
    done = _run(tmp_path, "report", str(good_log), "--out", "r.html")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        pytest.param("README.md", "# Notes\n\nSome *text*.\n", 1, id="markdown"),
        pytest.param("data.jsonl", "\n\n[1, 2, 3]\n", 3, id="json-not-an-object"),
        pytest.param("other.jsonl", '{"name": "x", "size": 3}\n', 1, id="json-other-keys"),
        pytest.param("binary.jsonl", "\x00\x01\x02\xff\n", 1, id="binary"),
    ],
)
def test_report_on_a_file_that_is_not_a_log_says_so_plainly(
    tmp_path, name: str, text: str, line: int
) -> None:
    (tmp_path / name).write_text(text, encoding="latin-1")
    message = _one_line_error(_run(tmp_path, "report", name), "report")
    assert f"{name} is not an outcome log" in message
    assert f"line {line}" in message
    assert "torn" not in message and "Expecting value" not in message
    assert "Notes" not in message and "size" not in message, "the file's content is not echoed"
    assert not (tmp_path / "report.html").exists()
    assert (tmp_path / name).read_text(encoding="latin-1") == text, "the file is left as it was"


@pytest.mark.parametrize("users", ["0", "-5"])
def test_demo_refuses_a_user_count_below_one_before_starting(tmp_path, users: str) -> None:
    done = _run(tmp_path, "demo", "--users", users, "--out", "out")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("verigator-nb demo: error: argument --users: ")
    )
    assert done.stdout == "" and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "out",
    [
        pytest.param("/proc/x", id="cannot-create"),
        pytest.param("a-file", id="a-file-in-the-way"),
        pytest.param("a-file/below", id="below-a-file"),
    ],
)
def test_demo_into_a_place_it_cannot_write_says_so_before_simulating(tmp_path, out: str) -> None:
    (tmp_path / "a-file").write_text("keep me")
    line = _one_line_error(_run(tmp_path, "demo", "--users", "1", "--out", out), "demo")
    assert out in line
    assert (tmp_path / "a-file").read_text() == "keep me"


def test_demo_with_a_folder_where_the_report_goes_says_so_before_simulating(tmp_path) -> None:
    (tmp_path / "out" / "verification_report.html").mkdir(parents=True)
    line = _one_line_error(_run(tmp_path, "demo", "--users", "1", "--out", "out"), "demo")
    assert "verification_report.html is a folder" in line


@pytest.mark.parametrize(
    ("out", "says"),
    [
        pytest.param("no/such/sample.parquet", "no folder", id="missing-folder"),
        pytest.param(".", "is a folder", id="onto-a-folder"),
    ],
)
def test_sample_data_into_a_bad_place_fails_before_simulating(tmp_path, out: str, says) -> None:
    line = _one_line_error(_run(tmp_path, "sample-data", "--out", out), "sample-data")
    assert says in line


def test_the_installed_command_prints_one_line_and_no_traceback(tmp_path) -> None:
    (tmp_path / "notes.md").write_text("# not a log\n")
    line = _one_line_error(_run_installed(tmp_path, "report", "notes.md"), "report")
    assert "not an outcome log" in line
