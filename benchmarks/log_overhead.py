"""What one outcome-log append costs, beside one sandbox verify round trip.

Run: ``.venv/bin/python benchmarks/log_overhead.py [--calls N] [--rounds R]``

All in one run, against one in-process ``Sandbox``:

- ``api.auth.verify (no log)``     the round trip being logged: a TOTP verify for a user without
                                   an app, a full route through the sandbox that changes no state;
- ``api.auth.verify (durable log)`` the same call recording to a durable ``OutcomeLog``;
- ``append, in memory``            ``OutcomeLog().append(row)``;
- ``append, durable, fsync off``   ``OutcomeLog(path).append(row)``: one ``os.write`` per row;
- ``append, durable, fsync on``    ``OutcomeLog(path, fsync=True)``: plus one ``os.fsync``.

``row`` is the very row a verify call produces. Variants run interleaved in rounds so drift on
the machine hits all alike; figures are medians of per-call times. Target: a durable append
with fsync off costs at most 10 % of the verify round trip.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from _timing import time_calls

from verigator_nb.log import OutcomeLog
from verigator_nb.sandbox import Sandbox

TARGET = 0.10


class _Capture:
    """A sink that keeps the rows a client hands it, to replay them."""

    def __init__(self) -> None:
        self.rows: list[Mapping[str, Any]] = []

    def append(self, row: Mapping[str, Any]) -> None:
        self.rows.append(dict(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per variant per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, Sandbox(seed=1) as sb, sb.api() as api:
        service = api.services.create("bench.example.com", "Bench")
        user = api.users.create(service.id, "+4401234567", "bench-user")
        capture = _Capture()
        api.with_log(capture).auth.verify(service.id, user.id, "123456")
        row = capture.rows[0]
        logged = api.with_log(OutcomeLog(Path(folder) / "calls.jsonl"))
        memory, plain = OutcomeLog(), OutcomeLog(Path(folder) / "plain.jsonl")
        synced = OutcomeLog(Path(folder) / "synced.jsonl", fsync=True)
        variants: dict[str, tuple[Callable[[], object], int]] = {
            "api.auth.verify (no log)": (
                lambda: api.auth.verify(service.id, user.id, "123456"),
                args.calls,
            ),
            "api.auth.verify (durable log)": (
                lambda: logged.auth.verify(service.id, user.id, "123456"),
                args.calls,
            ),
            "append, in memory": (lambda: memory.append(row), args.calls),
            "append, durable, fsync off": (lambda: plain.append(row), args.calls),
            # fsync is milliseconds on some disks: fewer calls keep the run short
            "append, durable, fsync on": (lambda: synced.append(row), max(20, args.calls // 10)),
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for call, _ in variants.values():
            time_calls(call, 20)  # warm up connections, caches and the files
        for _ in range(args.rounds):
            for name, (call, calls) in variants.items():
                samples[name] += time_calls(call, calls)

    medians = {name: statistics.median(values) * 1e6 for name, values in samples.items()}
    baseline = medians["api.auth.verify (no log)"]
    print(f"\nOutcome-log cost ({args.rounds} rounds; medians of per-call times)")
    print(f"{'variant':<34}{'calls':>8}{'median us':>12}{'of a verify':>14}")
    for name, value in medians.items():
        print(f"{name:<34}{len(samples[name]):>8}{value:>12.1f}{value / baseline:>13.1%}")
    ratio = medians["append, durable, fsync off"] / baseline
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"\ndurable append (fsync off) / verify round trip: {ratio:.1%}", end=" ")
    print(f"(target <= {TARGET:.0%}: {verdict})")


if __name__ == "__main__":
    main()
