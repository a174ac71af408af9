"""What the whole HTML report costs to build: tables, alarms, pumping review, charts and page.

Run: ``.venv/bin/python benchmarks/report_build.py [--source PATH] [--calls 3]``

``--source`` is the shipped 30k sample by default, or any log file or Parquet dataset folder
(e.g. one ``benchmarks/report_scale.py`` wrote, 10M rows). Each part runs in a fresh
interpreter, so its peak memory (``VmHWM``, imports included) is its own; the log's loading is
untimed. Cold is the first call (compiling, lazy imports), warm the median of ``--calls``:

- ``build``: ``report.build``, the whole page;
- ``tables``: ``report.tables``, every number and no chart (the baseline ``build`` is set
  beside);
- ``alarms``: the report's CUSUM and pumping review alone, on a log already prepared (its
  sessions formed): what they add to ``tables``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_outcome_log.parquet"
PARTS = ("build", "tables", "alarms")


def _timed(work: Callable[[], object], calls: int) -> tuple[float, float]:
    began = time.perf_counter()
    work()
    cold = time.perf_counter() - began
    warm = []
    for _ in range(calls):
        began = time.perf_counter()
        work()
        warm.append(time.perf_counter() - began)
    return cold, statistics.median(warm) if warm else cold


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _child(part: str, source_path: str, calls: int) -> None:
    """One part, in this (fresh) interpreter; prints its figures as JSON."""
    import pandas as pd

    from verigator_nb import analysis, report
    from verigator_nb.report._summary import CUSUM_BY

    path = Path(source_path)
    source = pd.read_parquet(path) if path.is_file() else path
    if part == "build":
        cold, warm = _timed(lambda: report.build(source), calls)
    elif part == "tables":
        cold, warm = _timed(lambda: report.tables(source), calls)
    else:
        prepared = analysis.Analysis(source)
        prepared.trials(analysis.CONVERSION)  # forms the sessions: not the alarms' own cost
        cold, warm = _timed(
            lambda: (analysis.cusum(prepared, by=CUSUM_BY), analysis.pumping_review(prepared)),
            calls,
        )
    print(json.dumps({"cold": cold, "warm": warm, "peak": _peak_mib()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(SAMPLE))
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--child", choices=PARTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.source, args.calls)
        return
    print(f"source: {args.source}")
    found = {}
    for part in PARTS:
        command = [sys.executable, __file__, "--child", part, "--source", args.source]
        out = subprocess.run(
            [*command, "--calls", str(args.calls)], check=True, capture_output=True, text=True
        )
        found[part] = json.loads(out.stdout.strip().splitlines()[-1])
        f = found[part]
        print(
            f"{part:7} cold {f['cold']:7.2f} s   warm {f['warm']:7.2f} s   "
            f"peak {f['peak']:,.0f} MiB"
        )
    print(f"build / tables, warm: {found['build']['warm'] / found['tables']['warm']:.2f}x")
    print(f"alarms / tables, warm: {found['alarms']['warm'] / found['tables']['warm']:.2f}x")


if __name__ == "__main__":
    main()
