"""Load: concurrent clients running whole verification flows against one sandbox.

Run: ``.venv/bin/python benchmarks/load.py [--seconds 20] [--threads 4] [--processes 2]``

One in-process ``Sandbox`` on loopback; ``--threads`` client threads in this process and
``--threads`` more in each of ``--processes`` child processes, all let go at once, each running
whole flows (add a user, start, read the PIN, a wrong PIN, the right PIN) until time is up.
The driver is ``tests/_load.py``, shared with ``tests/test_load.py``, which runs it for a few
seconds. This prints flows/s, calls/s and p50/p99 latency per call type, and the consistency
checks (every user created present, every verified ``auth_id`` spent, one SMS per start, one
log row per initiate and verify call), which must all be 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for ``tests``

from tests._load import check_state, run_load, summary
from verigator_nb.sandbox import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=4, help="client threads per process")
    parser.add_argument("--processes", type=int, default=2, help="child processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Sandbox() as sandbox:
        result = run_load(
            sandbox,
            seconds=args.seconds,
            threads=args.threads,
            processes=args.processes,
            log_dir=Path(tmp),
        )
        state = check_state(sandbox, result)
    figures = summary(result)
    clients = args.threads * (args.processes + 1)
    print(
        f"{clients} clients ({args.processes + 1} processes x {args.threads} threads), "
        f"{figures['seconds']:.1f} s on loopback"
    )
    print(
        f"flows {figures['flows']}  ({figures['flows_per_s']:.1f}/s)   "
        f"calls {figures['calls']}  ({figures['calls_per_s']:.1f}/s)"
    )
    print(f"{'call':<14}{'n':>8}{'p50 ms':>10}{'p99 ms':>10}")
    for name, row in figures["latency"].items():
        print(f"{name:<14}{row['n']:>8}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}")
    print("checks (all should be 0):", json.dumps(state))
    for error in result["errors"][:10]:
        print("error:", error)
    sys.exit(1 if any(state.values()) else 0)


if __name__ == "__main__":
    main()
