"""What ``from verigator_nb import Api`` costs a fresh interpreter, beside what it cannot avoid.

Run: ``.venv/bin/python benchmarks/import_cost.py [--runs 15]``

Each statement runs in a new interpreter, ``--runs`` times, interleaved so that machine noise
hits both alike; the median is reported. The baseline is ``import requests`` (the client is
built on it, so it is the floor); the line to read is the client's absolute time and its
ratio to that floor. ``import verigator_nb`` + ``OutcomeLog`` shows what the lazy loading
saves a client that never touches pandas.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

STATEMENTS = {
    "baseline: import requests": "import requests",
    "from verigator_nb import Api": "from verigator_nb import Api",
    "from verigator_nb import OutcomeLog": "from verigator_nb import OutcomeLog",
    "from verigator_nb import Sandbox": "from verigator_nb import Sandbox",
}


def _once(statement: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    _once("pass")  # warm the file cache
    samples: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for _ in range(args.runs):
        for name, statement in STATEMENTS.items():
            samples[name].append(_once(statement))
    empty = statistics.median(_once("pass") for _ in range(args.runs))
    floor = statistics.median(samples["baseline: import requests"]) - empty
    print(f"interpreter start-up alone: {empty * 1000:.0f} ms (subtracted below)")
    for name, times in samples.items():
        cost = statistics.median(times) - empty
        print(f"{name:<40}{cost * 1000:7.0f} ms  {cost / floor:5.2f}x requests")


if __name__ == "__main__":
    main()
