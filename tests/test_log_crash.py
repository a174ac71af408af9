"""SIGKILL a process that is writing the outcome log, many times, and check what is on disk.

A child process (``tests._log_writer_child``, run by this venv's python) forks workers that make
real calls through ``Api(..., log=OutcomeLog(path))`` against an in-process sandbox, or export
a log again and again; the test kills each worker at a random moment and then reads the files.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests._forking import ForkingChild
from tests._log_writer_child import EXPORT_START_ROWS, sample_rows
from verigator_nb.log import OutcomeLog

CHILD = "tests._log_writer_child"


@pytest.fixture(scope="module")
def worker() -> Iterator[ForkingChild]:
    child = ForkingChild(CHILD)
    yield child
    child.close()


def _event_ids(path: Path) -> list[str]:
    return [row["event_id"] for row in OutcomeLog.load(path).rows]


def test_killed_writer_loses_no_reported_call_and_adds_at_most_the_one_in_flight(
    worker: ForkingChild, tmp_path: Path
) -> None:
    path = tmp_path / "outcomes.jsonl"
    rng = random.Random(20260101)
    on_disk: list[str] = []
    for round_number in range(40):
        steps = worker.run_and_kill(
            f"calls {path} {round_number}", after=rng.randint(0, 12), delay=rng.uniform(0, 0.003)
        )
        reported = [step.removeprefix("call ") for step in steps]
        if not path.exists():  # killed before it opened the log
            assert not on_disk and not reported
            continue
        ids = _event_ids(path)  # loads: no round may leave an unreadable file
        assert ids[: len(on_disk)] == on_disk, "rows of earlier rounds changed"
        new = ids[len(on_disk) :]
        assert new[: len(reported)] == reported, "a reported call is missing or out of order"
        assert len(new) - len(reported) in (0, 1), "more than the one row in flight"
        assert len(set(ids)) == len(ids), "a row was written twice"
        on_disk = ids
    assert len(on_disk) > 40, "the workers were killed before doing anything"


def _check_export(target: Path, previous: int, reported: list[int]) -> int:
    """The export is a complete file of a possible size (or absent); returns its row count."""
    leftovers = {p.name for p in target.parent.iterdir()} - {target.name}
    assert all(re.fullmatch(rf"\.{target.name}\.[0-9a-f]+\.tmp", n) for n in leftovers)
    if not target.exists():
        assert previous == 0 and not reported
        return 0
    log = OutcomeLog.load(target)  # a half-written Parquet or CSV file would fail here
    rows = len(log)
    if reported:
        assert rows in (reported[-1], reported[-1] + 1)
    else:
        assert rows in (previous, EXPORT_START_ROWS + 1)
    expected = OutcomeLog()
    for row in sample_rows(rows):
        expected.append(row)
    pd.testing.assert_frame_equal(log.df, expected.df)
    return rows


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_killed_export_leaves_the_previous_complete_file_or_none(
    worker: ForkingChild, tmp_path: Path, kind: str
) -> None:
    target = tmp_path / f"outcomes.{kind}"
    rng = random.Random(kind)
    rows = 0
    for _ in range(12):
        steps = worker.run_and_kill(
            f"export {kind} {target}", after=rng.randint(0, 3), delay=rng.uniform(0, 0.03)
        )
        rows = _check_export(target, rows, [int(s.removeprefix("export ")) for s in steps])
    assert rows > 0, "no export ever completed"
