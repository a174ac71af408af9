"""What the report costs on big logs: the Ibis path beside hand-written DuckDB SQL.

Run: ``.venv/bin/python benchmarks/report_scale.py [--rows 10000000] [--repeat 2]``
(``--rows 1000000`` for a smoke run of a few minutes; ``--only report latency ...`` to measure
some; ``--profile`` for where the time goes instead)

1. Builds synthetic outcome logs (``_synthetic_logs``: failures, fallbacks, resends, duplicate
   events, rows without ``ts``, verifies before their initiate) as day-partitioned Parquet
   datasets written by ``scale.write_dataset``, in chunks of 1M rows, cached under ``--cache``
   (default ``$TMPDIR/verigator_nb_bench``): the full ``--rows`` and the 1M and 3M steps below
   it, which share the first chunks' files through hard links.
2. Times, each in its own subprocess (so peak memory is that process's own high-water mark,
   ``VmHWM``, imports included; working in a temporary folder, where DuckDB spills), the best
   of ``--repeat`` runs after one warm-up, both on a DuckDB connection set up alike (UTC,
   ``--threads``, insertion order not kept); the Ibis path with the package's default
   ``memory_limit`` (``--memory-limit``), the hand SQL with ``--sql-memory-limit`` (default
   1GB: more memory only makes the baseline faster, so the ratio is not flattered):
   - the whole report: ``report.summary_tables(Analysis(root))`` against ``_report_sql``'s
     hand-written SQL (cleaning, calls, sessions and logins kept as temporary tables, then the
     counts of every table, the headline, the weekly comparison and the chart sample; both
     finish in pandas), at every size;
   - every metric alone at full size (``Analysis(root).table(name, by=...)``: cleaning, its
     grain, its one table) against one hand-written statement for that metric.
3. Prints both comparisons with their targets (whole report at most 1.2x the SQL, each metric
   at most 1.5x, peak memory of the Ibis path at most 1.5 GB, time linear in rows), and every
   count where the two paths disagree (``_report_counts.mismatches``). The machine's load and
   the package's version are printed before and after: figures taken while other work ran, or
   while ``verigator_nb`` changed, say so.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHUNK = 1_000_000
REPORT = "report"  # not a metric: the whole report
REPORT_TARGET = 1.2
METRIC_TARGET = 1.5
MEMORY_TARGET_MB = 1536
LINEAR_TARGET = 1.25  # time per row at full size over time per row at 1M
GENERATOR = "contract2"  # names the cached datasets: a new generator, a new name
HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent / "verigator_nb"

sys.path.insert(0, str(HERE))  # the benchmarks' helpers

from verigator_nb.analysis.scale import DEFAULT_MEMORY_LIMIT  # noqa: E402


def _chunk_dir(cache: Path, index: int) -> Path:
    return cache / f"chunks-{GENERATOR}" / f"chunk-{index:03d}"


def _make_chunk(cache: Path, index: int) -> Path:
    """Chunk ``index``: ~1M rows over the same 90 days, its own users, sessions and seed."""
    folder = _chunk_dir(cache, index)
    if (folder / "_DONE").exists():
        return folder
    from _synthetic_logs import outcome_log

    from verigator_nb.analysis.scale import write_dataset

    frame = outcome_log(CHUNK, seed=1000 + index, prefix=f"c{index:03d}")
    write_dataset(frame, folder, prefix=f"part-c{index:03d}")
    (folder / "_DONE").write_text(str(len(frame)))
    return folder


def dataset(cache: Path, rows: int) -> tuple[Path, int]:
    """A dataset of ``rows`` (rounded up to whole chunks), hard-linking the chunks' files, and
    how many rows it holds."""
    chunks = max(1, -(-rows // CHUNK))
    root = cache / f"rows-{GENERATOR}-{chunks * CHUNK}"
    total = 0
    for index in range(chunks):
        source = _make_chunk(cache, index)
        total += int((source / "_DONE").read_text())
        if (root / "_DONE").exists():
            continue
        for file in source.rglob("*.parquet"):
            target = root / file.parent.name / file.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                os.link(file, target)
    (root / "_DONE").touch()
    return root, total


def metric_keys(name: str) -> list[str]:
    """The grouping a metric is timed with: its first table in the report (over the whole log),
    else the grouping it only makes sense with."""
    from verigator_nb.analysis import METRICS
    from verigator_nb.report import TABLES

    for spec in TABLES:
        if spec.metric == name and not spec.over_time:
            return list(spec.by)
    return list(METRICS[name].by)


# -- one measurement, in a child process ------------------------------------------------------


def _ibis_run(what: str, root: str, settings: dict) -> Callable[[], object]:
    from _report_counts import summary_counts, table_counts

    from verigator_nb.analysis import Analysis, connect
    from verigator_nb.report import summary_tables

    keys = [] if what == REPORT else metric_keys(what)

    def run() -> object:
        backend = connect(**settings)
        try:
            with Analysis(root, con=backend) as analysis:
                if what == REPORT:
                    return summary_counts(summary_tables(analysis))
                return {what: table_counts(what, analysis.table(what, by=keys), keys)}
        finally:
            backend.disconnect()

    return run


def _sql_run(what: str, root: str, settings: dict) -> Callable[[], object]:
    from _report_counts import finish
    from _report_sql import connect, dataset_source, metric_counts, report_counts

    keys = [] if what == REPORT else metric_keys(what)

    def run() -> object:
        con = connect(**settings)
        try:
            dataset_source(con, root)
            if what == REPORT:
                counts = report_counts(con)
            else:
                counts = {what: metric_counts(con, what, keys)}
            finish(counts)
            return counts
        finally:
            con.close()

    return run


def measure(kind: str, what: str, root: str, repeat: int, settings: dict, out: str) -> dict:
    """Run one measurement in this process (the child): best time and peak memory; the counts
    of the last run are pickled to ``out``."""
    run = (_ibis_run if kind == "ibis" else _sql_run)(what, root, settings)
    counts = run()  # warm-up: file cache, imports, compiling, DuckDB's first-query setup
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        counts = run()
        best = min(best, time.perf_counter() - start)
    Path(out).write_bytes(pickle.dumps(counts))
    return {"seconds": best, "peak_mb": _peak_kib() / 1024}


def _peak_kib() -> int:
    """This process's peak resident memory in KiB. Linux's VmHWM belongs to this program's own
    address space; ``ru_maxrss`` would also carry the parent's size at fork across ``exec``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child(kind: str, what: str, root: Path, args: argparse.Namespace, repeat: int) -> dict:
    out = Path(args.work) / f"{kind}-{what}-{root.name}.pickle"
    command = [sys.executable, __file__, "--child", kind, what, str(root), "--out", str(out)]
    limit = args.memory_limit if kind == "ibis" else args.sql_memory_limit
    command += ["--repeat", str(repeat), "--memory-limit", limit]
    if args.threads:
        command += ["--threads", str(args.threads)]
    # In the temporary folder: DuckDB spills to ``.tmp`` under the working directory.
    done = subprocess.run(command, capture_output=True, text=True, cwd=args.work)
    if done.returncode != 0:
        print(f"  {kind} {what} at {root.name} FAILED:\n{done.stderr[-3000:]}", flush=True)
        return {"seconds": float("nan"), "peak_mb": float("nan"), "counts": None}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["counts"] = pickle.loads(out.read_bytes())
    out.unlink()
    print(
        f"  {kind:<5}{what:<26}{root.name:>24}{result['seconds']:9.2f} s"
        f"{result['peak_mb']:8.0f} MB   (load {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    return result


# -- the run ------------------------------------------------------------------------------------


def main() -> None:
    args = _parser().parse_args()
    if args.child:
        kind, what, root = args.child
        settings = {"memory_limit": args.memory_limit, "threads": args.threads}
        print(json.dumps(measure(kind, what, root, args.repeat, settings, args.out)))
        return
    if args.profile:
        _profile(args)
        return
    # Everything the parent prints with is read now: the package may change during the run.
    from _report_counts import mismatches

    from verigator_nb.analysis import METRICS

    names = [n for n in METRICS if not args.only or n in args.only]
    keys = {name: metric_keys(name) for name in names}
    before = _versions()
    cache = Path(args.cache)
    sizes = sorted({min(size, args.rows) for size in (1_000_000, 3_000_000, args.rows)})
    started = time.perf_counter()
    built = {size: dataset(cache, size) for size in sizes}
    print(
        f"datasets ready in {time.perf_counter() - started:.1f} s under {cache}: "
        + ", ".join(f"{rows:,} rows" for _, rows in built.values())
    )
    print(f"before: {before}\n")
    full = sizes[-1]
    with tempfile.TemporaryDirectory() as work:
        args.work = work
        report = {}
        if not args.only or REPORT in args.only:
            for size in reversed(sizes):
                for kind in ("ibis", "sql"):
                    report[kind, size] = _child(kind, REPORT, built[size][0], args, args.repeat)
        metrics = {}
        if not args.skip_metrics:
            for name in names:
                for kind in ("ibis", "sql"):
                    metrics[kind, name] = _child(
                        kind, name, built[full][0], args, args.metric_repeat
                    )
    after = _versions()
    print(f"\nafter: {after}")
    if after.split("; load")[0] != before.split("; load")[0]:
        print("!!! verigator_nb changed during the run: the figures mix its versions !!!")
    print()
    if report:
        _print_report(report, sizes, built)
    if metrics:
        _print_metrics(metrics, keys, built[full][1])
    _print_mismatches(report.get(("ibis", full)), report.get(("sql", full)), metrics, mismatches)


def _versions() -> str:
    """The package's commit, a digest of its sources as they are now, and the machine's load."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.read_bytes())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"verigator_nb at {head or '?'}, sources {digest.hexdigest()[:10]}; "
        f"load {load} on {os.cpu_count()} cores"
    )


def _ratio(ours: dict, hand: dict) -> float:
    return ours["seconds"] / hand["seconds"]


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _print_report(report: dict, sizes: list[int], built: dict) -> None:
    full, first = sizes[-1], sizes[0]
    ours, hand = report["ibis", full], report["sql", full]
    ratio = _ratio(ours, hand)
    print(
        f"Whole report (summary_tables(Analysis(root))) at {built[full][1]:,} rows, best of runs:"
    )
    print(f"  Ibis path      {ours['seconds']:8.2f} s   peak {ours['peak_mb']:6.0f} MB")
    print(f"  hand SQL       {hand['seconds']:8.2f} s   peak {hand['peak_mb']:6.0f} MB")
    print(
        f"  ratio          {ratio:8.2f}x  "
        f"(target <= {REPORT_TARGET}x: {_verdict(ratio <= REPORT_TARGET)})"
    )
    print(
        f"  Ibis peak memory {ours['peak_mb']:.0f} MB (target <= {MEMORY_TARGET_MB} MB: "
        f"{_verdict(ours['peak_mb'] <= MEMORY_TARGET_MB)})\n"
    )
    print("Whole report by rows: seconds, and time per row relative to the smallest")
    print(
        f"{'rows':>14}{'Ibis s':>9}{'SQL s':>9}{'ratio':>7}{'Ibis/row':>10}{'SQL/row':>9}"
        f"{'Ibis MB':>9}"
    )
    for size in sizes:
        a, b = report["ibis", size], report["sql", size]
        n, n0 = built[size][1], built[first][1]
        per_a = (a["seconds"] / n) / (report["ibis", first]["seconds"] / n0)
        per_b = (b["seconds"] / n) / (report["sql", first]["seconds"] / n0)
        print(
            f"{n:>14,}{a['seconds']:>9.2f}{b['seconds']:>9.2f}{_ratio(a, b):>7.2f}"
            f"{per_a:>10.2f}{per_b:>9.2f}{a['peak_mb']:>9.0f}"
        )
    if len(sizes) > 1:
        ours_first = report["ibis", first]["seconds"] / built[first][1]
        growth = (ours["seconds"] / built[full][1]) / ours_first
        print(
            f"  Ibis time per row, {built[full][1]:,} against {built[first][1]:,} rows: "
            f"{growth:.2f}x (target <= {LINEAR_TARGET}x: {_verdict(growth <= LINEAR_TARGET)})"
        )
    print()


def _print_metrics(metrics: dict, keys: dict[str, list[str]], rows: int) -> None:
    print(f"Each metric alone at {rows:,} rows (fresh process; cleaning + its grain + one table)")
    print(
        f"{'metric':<26}{'by':<18}{'Ibis s':>8}{'SQL s':>8}{'ratio':>7}{'Ibis MB':>9}"
        f"{'SQL MB':>8}  target <= {METRIC_TARGET}x"
    )
    for name, by in keys.items():
        a, b = metrics["ibis", name], metrics["sql", name]
        ratio = _ratio(a, b)
        print(
            f"{name:<26}{','.join(by) or '-':<18}{a['seconds']:>8.2f}{b['seconds']:>8.2f}"
            f"{ratio:>7.2f}{a['peak_mb']:>9.0f}{b['peak_mb']:>8.0f}  "
            f"{_verdict(ratio <= METRIC_TARGET)}"
        )
    print()


def _print_mismatches(
    ours: dict | None, hand: dict | None, metrics: dict, mismatches: Callable[..., list[str]]
) -> None:
    lines = []
    if ours and hand and ours["counts"] is not None and hand["counts"] is not None:
        lines += mismatches(ours["counts"], hand["counts"])
    for (kind, name), result in metrics.items():
        theirs = metrics["sql", name]["counts"]
        if kind == "ibis" and result["counts"] is not None and theirs is not None:
            lines += [f"(alone) {line}" for line in mismatches(result["counts"], theirs)]
    if not lines:
        print("Counts: the Ibis path and the hand-written SQL agree on every count compared.")
        return
    print(f"!!! COUNT MISMATCHES: {len(lines)} (Ibis path against hand-written SQL) !!!")
    for line in lines[:200]:
        print("  " + line)


# -- where the time goes ------------------------------------------------------------------------


def _profile(args: argparse.Namespace) -> None:
    """Each SQL statement of both paths, timed, on the ``--rows`` dataset (in this process,
    after a warm-up run of each)."""
    from _report_counts import finish
    from _report_sql import connect, dataset_source, report_counts

    from verigator_nb.analysis import Analysis, _queries
    from verigator_nb.analysis import connect as ibis_connect
    from verigator_nb.report import summary_tables

    root, rows = dataset(Path(args.cache), args.rows)
    settings = {"memory_limit": args.memory_limit, "threads": args.threads}
    spent: list[tuple[float, str]] = []

    def timed(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, sql: str, *rest: Any, **options: Any) -> Any:
            began = time.perf_counter()
            try:
                return method(self, sql, *rest, **options)
            finally:
                spent.append((time.perf_counter() - began, " ".join(sql.split())[:110]))

        return wrapper

    class Timed:
        """A DuckDB connection whose ``execute`` is timed."""

        def __init__(self, con: Any) -> None:
            self.execute = lambda sql: timed(lambda _, text: con.execute(text))(None, sql)

    def ibis_path() -> None:
        backend = ibis_connect(**settings)
        summary_tables(Analysis(root, con=backend))
        backend.disconnect()

    def hand_path() -> None:
        con = connect(**(settings | {"memory_limit": args.sql_memory_limit}))
        dataset_source(con, str(root))
        finish(report_counts(Timed(con)))
        con.close()

    _queries.DuckRunner.keep = timed(_queries.DuckRunner.keep)  # type: ignore[method-assign]
    _queries.DuckRunner.fetch = timed(_queries.DuckRunner.fetch)  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as work:
        os.chdir(work)  # where DuckDB spills
        for label, path in (("Ibis path", ibis_path), ("hand SQL", hand_path)):
            for _ in range(2):  # a warm-up (compiling, file cache), then the run shown
                spent.clear()
                began = time.perf_counter()
                path()
                took = time.perf_counter() - began
            _print_spent(f"{label}, {rows:,} rows", took, spent)
        os.chdir(HERE)


def _print_spent(title: str, total: float, spent: list[tuple[float, str]]) -> None:
    print(
        f"{title}: {total:.2f} s in all, {sum(s for s, _ in spent):.2f} s in "
        f"{len(spent)} statements; the slowest:"
    )
    for seconds, text in sorted(spent, reverse=True)[:12]:
        print(f"  {seconds:7.2f} s  {text}")
    print()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="largest log size")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs after a warm-up")
    parser.add_argument(
        "--metric-repeat", type=int, default=2, help="the same, for each metric alone"
    )
    parser.add_argument("--skip-metrics", action="store_true", help="the whole report only")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="measure only these: 'report' and/or metrics"
    )
    parser.add_argument(
        "--profile", action="store_true", help="time each SQL statement of both paths instead"
    )
    parser.add_argument(
        "--memory-limit", default=DEFAULT_MEMORY_LIMIT, help="DuckDB memory_limit, Ibis path"
    )
    parser.add_argument(
        "--sql-memory-limit", default="1GB", help="DuckDB memory_limit, hand-written SQL"
    )
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads for both")
    parser.add_argument(
        "--cache",
        default=str(Path(tempfile.gettempdir()) / "verigator_nb_bench"),
        help="where the generated datasets are kept between runs",
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("KIND", "WHAT", "ROOT"), help=argparse.SUPPRESS
    )
    parser.add_argument("--out", help=argparse.SUPPRESS)
    return parser


if __name__ == "__main__":
    main()
