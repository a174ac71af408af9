"""How fast the report and the live panel answer on small logs, and the report on Spark.

Run: ``.venv/bin/python benchmarks/report_speed.py [--calls 7] [--refreshes 20] [--no-spark]``

Every part runs in a fresh interpreter, with its imports and the log's loading untimed:

- ``report``: every table of the report (``report.tables(df)``, the ``Analysis`` made inside)
  on the shipped sample (``data/sample_outcome_log.parquet``, 30,406 rows), cold (the first
  call: compiling, lazy imports) and warm (the median of ``--calls`` later calls), beside the
  same numbers from the hand-written SQL (``_report_sql``) on DuckDB over the same frame, which
  registers the frame and makes its connection on every call as the Ibis path does, and
  finishes in pandas. Target: warm at most 0.3 s.
- ``panel``: ``widgets.LogPanel(log).refresh()`` on an ``OutcomeLog`` of the sample's first
  10,000 rows, the median of ``--refreshes``; beside it, the panel's three rates by hand SQL
  on one connection. Target: at most 50 ms.
- ``spark``: the whole report (``summary_tables(Analysis(spark_df))``) on the sample with Spark
  ``local[2]`` (``tests/_spark.py``'s session), from a fresh interpreter with the session's
  start counted, for the frame handed over by ``spark.createDataFrame(df)`` and for the
  sample's Parquet file read by Spark; then a second report in the same session. Target: at
  most 60 s, start included.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_outcome_log.parquet"
PANEL_ROWS = 10_000
REPORT_TARGET_S = 0.3
PANEL_TARGET_MS = 50.0
SPARK_TARGET_S = 60.0

sys.path.insert(0, str(ROOT))  # the repo root, for ``tests._spark``
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmarks' helpers


def _sample() -> Any:
    from verigator_nb import OutcomeLog

    return OutcomeLog.load(SAMPLE).df


def _cold_and_warm(call: Callable[[], object], calls: int) -> dict[str, float]:
    from _timing import time_calls

    began = time.perf_counter()
    call()
    cold = time.perf_counter() - began
    return {"cold": cold, "warm": statistics.median(time_calls(call, calls))}


# -- the children ------------------------------------------------------------------------------


def report_ibis(args: argparse.Namespace) -> dict[str, Any]:
    from verigator_nb import report

    df = _sample()
    return _cold_and_warm(lambda: report.tables(df), args.calls) | {"rows": len(df)}


def report_sql(args: argparse.Namespace) -> dict[str, Any]:
    from _report_counts import finish
    from _report_sql import connect, frame_source, report_counts

    df = _sample()

    def run() -> object:
        con = connect()
        try:
            frame_source(con, df)
            return finish(report_counts(con))
        finally:
            con.close()

    return _cold_and_warm(run, args.calls)


def panel(args: argparse.Namespace) -> dict[str, Any]:
    from _report_sql import connect, frame_source, tables
    from _timing import time_calls

    from verigator_nb import OutcomeLog
    from verigator_nb.analysis import ATTEMPT_SUCCESS, FALLBACK, SESSION_SUCCESS
    from verigator_nb.widgets import LogPanel

    full = OutcomeLog.load(SAMPLE)
    log = OutcomeLog()
    for row in full.rows[:PANEL_ROWS]:
        log.append(row)
    log.df  # noqa: B018 - the frame is built once, as in a notebook before the panel shows
    began = time.perf_counter()
    shown = LogPanel(log)  # its first refresh: imports, compiling, the connection
    first = time.perf_counter() - began
    ours = statistics.median(time_calls(shown.refresh, args.refreshes))
    con = connect(threads=1)  # as the panel's own connection
    rates = [SESSION_SUCCESS, ATTEMPT_SUCCESS, FALLBACK]

    def hand() -> object:  # as a refresh does: the log read again, its grains rebuilt
        frame_source(con, log.df)
        return tables(con, rates, [], None, set())

    hand()
    baseline = statistics.median(time_calls(hand, args.refreshes))
    return {"first": first, "refresh": ours, "hand": baseline, "text": shown.rates_text}


def spark(args: argparse.Namespace) -> dict[str, Any]:
    from _report_counts import mismatches, summary_counts

    from verigator_nb import report
    from verigator_nb.analysis import Analysis

    df = _sample()
    began = time.perf_counter()
    from tests._spark import spark_session

    session = spark_session()
    out: dict[str, Any] = {"start": time.perf_counter() - began}
    found: list[Any] = []

    def once() -> float:
        at = time.perf_counter()
        if args.child == "spark-frame":
            source = session.createDataFrame(df)
        else:
            source = session.read.parquet(str(SAMPLE))
        found.append(report.summary_tables(Analysis(source)))
        return time.perf_counter() - at

    out["first"] = once()
    out["second"] = once()
    out["sessions"] = found[-1].sessions
    # The same counts as DuckDB's, on the same log?
    duck = summary_counts(report.tables(df))
    out["mismatches"] = mismatches(summary_counts(found[-1]), duck, ("Spark", "DuckDB"))
    return out


CHILDREN: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "report-ibis": report_ibis,
    "report-sql": report_sql,
    "panel": panel,
    "spark-frame": spark,
    "spark-parquet": spark,
}


def _run_child(name: str, args: argparse.Namespace) -> dict[str, Any] | None:
    command = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--calls",
        str(args.calls),
        "--refreshes",
        str(args.refreshes),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        print(f"{name} FAILED (exit {done.returncode}):\n{done.stderr[-4000:]}\n")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    args = _parser().parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return
    ours, hand = _run_child("report-ibis", args), _run_child("report-sql", args)
    if ours and hand:
        print(f"Report tables on the sample ({ours['rows']:,} rows), seconds:")
        print(f"{'':<28}{'cold':>8}{'warm':>8}")
        print(f"{'report.tables(df) (Ibis)':<28}{ours['cold']:>8.3f}{ours['warm']:>8.3f}")
        print(f"{'hand-written SQL (DuckDB)':<28}{hand['cold']:>8.3f}{hand['warm']:>8.3f}")
        print(
            f"{'ratio':<28}{ours['cold'] / hand['cold']:>7.2f}x{ours['warm'] / hand['warm']:>7.2f}x"
        )
        print(
            f"  warm {ours['warm']:.3f} s (target <= {REPORT_TARGET_S} s: "
            f"{_verdict(ours['warm'] <= REPORT_TARGET_S)})\n"
        )
    shown = _run_child("panel", args)
    if shown:
        refresh, hand_ms = shown["refresh"] * 1000, shown["hand"] * 1000
        print(
            f"LogPanel on {PANEL_ROWS:,} rows: first refresh (in LogPanel()) "
            f"{shown['first'] * 1000:.0f} ms; refresh() median of {args.refreshes}: "
            f"{refresh:.1f} ms (target <= {PANEL_TARGET_MS:g} ms: "
            f"{_verdict(refresh <= PANEL_TARGET_MS)})"
        )
        print(
            f"  its three rates by hand SQL on one connection: {hand_ms:.1f} ms "
            f"(ratio {refresh / hand_ms:.2f}x)"
        )
        print(f"  shows: {shown['text']}\n")
    if args.no_spark:
        return
    print("Whole report on Spark local[2], the sample, a fresh interpreter, seconds:")
    print(f"{'source':<36}{'start':>8}{'report':>8}{'total':>8}{'again':>8}")
    for name, label in (
        ("spark-frame", "spark.createDataFrame(df)"),
        ("spark-parquet", "spark.read.parquet(sample)"),
    ):
        found = _run_child(name, args)
        if found:
            total = found["start"] + found["first"]
            print(
                f"{label:<36}{found['start']:>8.1f}{found['first']:>8.1f}{total:>8.1f}"
                f"{found['second']:>8.1f}   (target <= {SPARK_TARGET_S:g} s: "
                f"{_verdict(total <= SPARK_TARGET_S)}; {found['sessions']:,} sessions)"
            )
            lines = found["mismatches"]
            print(f"    counts against DuckDB's: {len(lines) or 'no'} difference(s)")
            for line in lines[:40]:
                print(f"      {line}")
    if ours:
        print(f"  (DuckDB, the same report: cold {ours['cold']:.2f} s, warm {ours['warm']:.2f} s)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=7, help="warm report calls (median)")
    parser.add_argument("--refreshes", type=int, default=20, help="panel refreshes (median)")
    parser.add_argument("--no-spark", action="store_true", help="leave out the Spark part")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    return parser


if __name__ == "__main__":
    main()
