"""Load: threads and processes running whole flows against one sandbox for a few seconds.

The driver is ``tests/_load.py`` (``benchmarks/load.py`` runs it longer for the throughput
figures); here it runs for about three seconds and every consistency check must come out zero:
no unexpected error, every user created present, every verified ``auth_id`` spent, one SMS per
start in the outbox, and one outcome-log row per initiate and verify call.
"""

from __future__ import annotations

from pathlib import Path

from tests._figures import record
from tests._load import check_state, run_load, summary
from verigator_nb.log import OutcomeLog
from verigator_nb.sandbox import Sandbox


def test_concurrent_flows_from_threads_and_processes_leave_a_consistent_sandbox(
    tmp_path: Path,
) -> None:
    with Sandbox() as sandbox:
        result = run_load(sandbox, seconds=3.0, threads=3, processes=2, log_dir=tmp_path)
        state = check_state(sandbox, result)
    assert result["errors"] == []
    assert state == {
        "errors": 0,
        "users_missing": 0,
        "verified_not_spent": 0,
        "outbox_minus_sms_starts": 0,
        "rows_lost": 0,
    }
    # Every process took part (each wrote its own log), and the flows were whole.
    assert [len(OutcomeLog.load(path).rows) > 0 for path in result["logs"]] == [True] * 3
    assert result["flows"] == len(result["verified"]) == len(result["users"]) > 30
    figures = summary(result)
    record(
        "load_test",
        {
            k: round(v, 2) if isinstance(v, float) else v
            for k, v in figures.items()
            if k != "latency"
        },
    )
