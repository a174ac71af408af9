"""Simulated rows per second: the sandbox in process vs over HTTP; sample data; a million rows.

Run: ``.venv/bin/python benchmarks/simulate_speed.py [--users N] [--seed S] [--million]``

- ``in process vs over HTTP``: one campaign (``Population(users=N)``, seed S) simulated once
  each way, side by side in one run, and their logs compared column by column (all but the
  measured ``latency_ms``). Target: in process at least 8x the rows per second.
- ``sample-data``: ``verigator-nb sample-data`` (30,406 rows) timed as a user runs it, in a
  fresh interpreter: imports, simulation and the Parquet file. Target: at most 8 s.
- ``--million`` (minutes): a campaign of about a million rows with ``workers=2`` in process,
  its wall time and peak memory (the parent's and the largest worker's maximum resident set,
  the parent holding the whole merged log in memory). Target: at most 3 minutes. It runs
  first, so no other child of this script counts in the workers' figure.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from verigator_nb.sandbox import Sandbox
from verigator_nb.schema import LATENCY_MS
from verigator_nb.simulate import Population, simulate

RATIO_TARGET = 8.0
SAMPLE_TARGET_SECONDS = 8.0
MILLION_TARGET_SECONDS = 180.0
ROWS_PER_LOGIN = 2.03  # the sample log's: 30,406 rows for 15,000 logins
MILLION = Population(users=round(1_000_000 / ROWS_PER_LOGIN / 3), logins_per_user=3, days=56)
SCRIPT = Path(sys.executable).with_name("verigator-nb")


def _campaign(population: Population, seed: int, *, http: bool) -> tuple[pd.DataFrame, float]:
    """The campaign's log and the seconds ``simulate`` took (the sandbox already started)."""
    with Sandbox(seed=seed, http=http) as sandbox:
        began = time.perf_counter()
        log = simulate(sandbox, population, seed=seed, http=http, progress=False)
        took = time.perf_counter() - began
    return log.df, took


def side_by_side(users: int, seed: int) -> None:
    population = Population(users=users)
    for http in (False, True):  # imports and first calls, untimed
        _campaign(Population(users=100), seed, http=http)
    over_http, slow = _campaign(population, seed, http=True)
    in_process, fast = _campaign(population, seed, http=False)
    same = in_process.drop(columns=[LATENCY_MS]).equals(over_http.drop(columns=[LATENCY_MS]))
    ratio = (len(in_process) / fast) / (len(over_http) / slow)
    print(f"campaign: {users:,} users, seed {seed}, {len(in_process):,} rows")
    print(f"  over HTTP    {slow:7.2f} s  {len(over_http) / slow:9,.0f} rows/s")
    print(f"  in process   {fast:7.2f} s  {len(in_process) / fast:9,.0f} rows/s")
    print(f"  ratio        {ratio:7.2f}x   (target >= {RATIO_TARGET:g}x)")
    print(f"  same rows but latency_ms: {'yes' if same else 'NO'}")


def sample_data() -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "sample.parquet"
        began = time.perf_counter()
        subprocess.run(
            [str(SCRIPT), "sample-data", "--out", str(out)], check=True, capture_output=True
        )
        took = time.perf_counter() - began
        rows = len(pd.read_parquet(out))
    print(
        f"sample-data in process: {rows:,} rows in {took:.2f} s, a fresh interpreter "
        f"(target <= {SAMPLE_TARGET_SECONDS:g} s)"
    )


def million(seed: int) -> None:
    print(
        f"a million rows: {MILLION.users:,} users x {MILLION.logins_per_user} logins, "
        "workers=2, in process ...",
        flush=True,
    )
    with Sandbox(seed=seed, http=False) as sandbox:
        began = time.perf_counter()
        log = simulate(sandbox, MILLION, seed=seed, workers=2, progress=False)
        took = time.perf_counter() - began
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"  {len(log):,} rows in {took:.1f} s ({len(log) / took:,.0f} rows/s; target <= "
        f"{MILLION_TARGET_SECONDS:g} s)"
    )
    print(
        f"  peak memory: parent {parent:,.0f} MiB (the merged log), largest worker "
        f"{worker:,.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000, help="users in the side-by-side run")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--million", action="store_true", help="also the 1M-row run (minutes)")
    args = parser.parse_args()
    if args.million:
        million(args.seed)
    side_by_side(args.users, args.seed)
    sample_data()


if __name__ == "__main__":
    main()
