"""What the whole HTML report costs to build: tables, alarms, pumping review, charts and page.

Run: ``.venv/bin/python benchmarks/report_build.py [--source PATH] [--calls 3]``

``--source`` is the shipped 30k sample by default, or any log file or Parquet dataset folder
(e.g. one ``benchmarks/report_scale.py`` wrote, 10M rows). In a fresh interpreter, with the
log's loading untimed: ``report.build`` cold (the first call: compiling, lazy imports) and
warm (the median of ``--calls``), beside its baseline run alongside, ``report.tables`` alone
(every number, no chart and no HTML), and the share the CUSUM's trials and the pumping review
take of the tables. Peak memory is the process's high-water mark (``VmHWM``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_outcome_log.parquet"


def _timed(work, calls: int) -> tuple[float, float]:
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


def _alarms(analysis, prepared) -> None:
    """The report's CUSUM and pumping review on a prepared log."""
    from verigator_nb.report._summary import CUSUM_BY, CUSUM_FALSE_ALARMS_PER_DAY

    analysis.cusum(prepared, by=CUSUM_BY, false_alarms_per_day=CUSUM_FALSE_ALARMS_PER_DAY)
    analysis.pumping_review(prepared)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(SAMPLE))
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args()
    from verigator_nb import analysis, report

    path = Path(args.source)
    source = pd.read_parquet(path) if path.is_file() else path
    size = len(source) if isinstance(source, pd.DataFrame) else "a dataset of"
    print(f"source: {path} ({size} rows)")
    build_cold, build_warm = _timed(lambda: report.build(source), args.calls)
    tables_cold, tables_warm = _timed(lambda: report.tables(source), args.calls)
    with analysis.Analysis(source) as prepared:
        prepared.extent()
        _, alarms_warm = _timed(lambda: _alarms(analysis, prepared), args.calls)
    print(f"report.build  cold {build_cold:7.2f} s   warm {build_warm:7.2f} s")
    print(f"report.tables cold {tables_cold:7.2f} s   warm {tables_warm:7.2f} s  (baseline)")
    print(f"  of which CUSUM + pumping review (log prepared): warm {alarms_warm:.2f} s")
    print(f"build / tables, warm: {build_warm / tables_warm:.2f}x")
    print(f"peak memory: {_peak_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
