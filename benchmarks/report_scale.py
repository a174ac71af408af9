"""What the report's metrics cost on big logs: ``analysis.scale`` beside hand-written SQL.

Run: ``.venv/bin/python benchmarks/report_scale.py [--rows 10000000] [--repeat 2]``

1. Builds synthetic outcome logs as day-partitioned Parquet datasets (vectorised numpy, in
   chunks of 1M rows; cached under ``--cache``, default ``$TMPDIR/verigator_nb_bench``): the
   full ``--rows`` and the 1M and 3M steps below it, which share the first chunks' files
   through hard links.
2. For every report metric, times ``analysis.scale`` and a hand-written DuckDB query that
   computes the same numbers, each in its own subprocess (so peak memory is that process's
   own high-water mark, ``VmHWM``, imports included; ``ru_maxrss`` where there is no
   ``/proc``), both on a connection with the same
   settings (UTC, ``--memory-limit``, ``--threads``); the figure is the best of ``--repeat``
   runs after one warm-up.
3. Prints the comparison at full size (targets: scale within 2x of the hand-written SQL, peak
   memory under 1.5 GB) and the time at each size (target: growing linearly with rows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 1_000_000
DAYS = 90.0

# The same numbers the report shows, as an analyst would write them by hand.
LOG = "read_parquet('{root}/**/*.parquet', hive_partitioning = false)"
SESSIONS = """
    SELECT i.method, i.ts, v.session_id IS NOT NULL AS tried, coalesce(v.hit, false) AS hit
    FROM {log} i LEFT JOIN (SELECT session_id, bool_or(verified) AS hit FROM {log}
                            WHERE action = 'verify' GROUP BY session_id) v
      ON i.session_id = v.session_id
    WHERE i.action = 'initiate'
"""
VERIFIED = """
    SELECT i.method, f.attempts, (epoch_us(f.first_ts) - epoch_us(i.ts)) / 1e6 AS seconds
    FROM {log} i JOIN (SELECT session_id, min(ts) AS first_ts, min(attempt) AS attempts
                       FROM {log} WHERE action = 'verify' AND verified GROUP BY session_id) f
      ON i.session_id = f.session_id
    WHERE i.action = 'initiate'
"""
HAND_SQL = {
    "session_success": "SELECT method, count(*), count(*) FILTER (WHERE hit) "
    "FROM (" + SESSIONS + ") GROUP BY method",
    "attempt_success": "SELECT method, count(*), count(*) FILTER (WHERE verified) FROM {log} "
    "WHERE action = 'verify' AND verified IS NOT NULL GROUP BY method",
    "fallback": "SELECT country, count(*), count(*) FILTER (WHERE method = 'sms') FROM {log} "
    "WHERE action = 'initiate' AND requested_method = 'totp' AND method IS NOT NULL "
    "GROUP BY country",
    "failure_reasons": "SELECT coalesce(result::VARCHAR, nullif(error, ''), 'UNKNOWN') AS reason,"
    " count(*) FROM {log} WHERE action = 'verify' AND verified IS DISTINCT FROM true GROUP BY 1",
    "attempts_to_success": "SELECT method, count(attempts), avg(attempts), "
    "quantile_cont(attempts, 0.5), quantile_cont(attempts, 0.9), quantile_cont(attempts, 0.99) "
    "FROM (" + VERIFIED + ") GROUP BY method",
    "time_to_verify": "SELECT method, count(seconds), avg(seconds), "
    "quantile_cont(seconds, 0.5), quantile_cont(seconds, 0.9), quantile_cont(seconds, 0.99) "
    "FROM (" + VERIFIED + ") GROUP BY method",
    "funnel": "SELECT count(*), count(*) FILTER (WHERE tried), count(*) FILTER (WHERE hit) "
    "FROM (" + SESSIONS + ")",
    "compare_periods": "SELECT date_trunc('week', ts) AS week, count(*), "
    "count(*) FILTER (WHERE hit) FROM (" + SESSIONS + ") GROUP BY week ORDER BY week DESC "
    "LIMIT 2",
}
SCALE_CALLS = {
    "session_success": ("success_rate", {"by": "method"}),
    "attempt_success": ("success_rate", {"by": "method", "per": "attempt"}),
    "fallback": ("fallback_rate", {"by": "country"}),
    "failure_reasons": ("failure_reasons", {}),
    "attempts_to_success": ("attempts_to_success", {"by": "method"}),
    "time_to_verify": ("time_to_verify", {"by": "method"}),
    "funnel": ("funnel", {}),
    "compare_periods": ("compare_periods", {"period": "W"}),
}
METRICS = [*HAND_SQL, "all_report_tables"]


def _chunk_dir(cache: Path, index: int) -> Path:
    return cache / "chunks" / f"chunk-{index:03d}"


def _make_chunk(cache: Path, index: int) -> Path:
    """Chunk ``index``: 1M rows over the same 90 days, its own sessions, its own seed."""
    folder = _chunk_dir(cache, index)
    if (folder / "_DONE").exists():
        return folder
    sys.path.insert(0, str(ROOT / "tests"))
    from _synthetic import synthetic_log

    from verigator_nb.analysis.scale import write_dataset

    frame = synthetic_log(CHUNK, seed=1000 + index, days=DAYS, first_session=index * CHUNK)
    write_dataset(frame, folder, prefix=f"part-c{index:03d}")
    (folder / "_DONE").touch()
    return folder


def dataset(cache: Path, rows: int) -> Path:
    """A dataset of ``rows`` (rounded up to whole chunks), hard-linking the chunks' files."""
    chunks = max(1, -(-rows // CHUNK))
    root = cache / f"rows-{chunks * CHUNK}"
    if (root / "_DONE").exists():
        return root
    for index in range(chunks):
        source = _make_chunk(cache, index)
        for file in source.rglob("*.parquet"):
            target = root / file.parent.name / file.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                os.link(file, target)
    (root / "_DONE").touch()
    return root


def _settings(args: argparse.Namespace) -> dict[str, object]:
    return {"memory_limit": args.memory_limit, "threads": args.threads}


def measure(kind: str, metric: str, root: str, repeat: int, settings: dict) -> dict:
    """Run one measurement in this process (the child): best time and peak RSS."""
    from verigator_nb import report, scale

    con = scale.connect(memory_limit=settings["memory_limit"], threads=settings["threads"])
    if kind == "sql":
        names = list(HAND_SQL) if metric == "all_report_tables" else [metric]
        queries = [HAND_SQL[name].format(log=LOG.format(root=root)) for name in names]

        def run() -> object:
            return [con.execute(query).fetchall() for query in queries]
    elif metric == "all_report_tables":

        def run() -> object:
            with scale.open_dataset(root, con=con) as data:
                return report.summary_tables(data)
    else:
        name, options = SCALE_CALLS[metric]

        def run() -> object:
            return getattr(scale, name)(root, con=con, **options)

    run()  # warm-up: file cache, imports, DuckDB's first-query setup
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
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


def _child(kind: str, metric: str, root: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", kind, metric, str(root),
               "--repeat", str(args.repeat), "--memory-limit", args.memory_limit]  # fmt: skip
    if args.threads:
        command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    args = _parser().parse_args()
    if args.child:
        kind, metric, root = args.child
        print(json.dumps(measure(kind, metric, root, args.repeat, _settings(args))))
        return
    cache = Path(args.cache)
    sizes = sorted({min(size, args.rows) for size in (1_000_000, 3_000_000, args.rows)})
    started = time.perf_counter()
    roots = {size: dataset(cache, size) for size in sizes}
    print(f"datasets ready in {time.perf_counter() - started:.1f} s under {cache}\n")
    results: dict[tuple[str, str, int], dict] = {}
    for size in sizes:
        for metric in METRICS:
            for kind in ("scale", "sql"):
                results[kind, metric, size] = _child(kind, metric, roots[size], args)
    _report(results, sizes)


def _report(results: dict, sizes: list[int]) -> None:
    full = sizes[-1]
    print(f"At {full:,} rows (best of runs; peak = child process max RSS)")
    print("(all_report_tables: report.summary_tables(scale.open_dataset(...)), every table)")
    print(f"{'metric':<22}{'scale s':>9}{'SQL s':>9}{'ratio':>7}{'scale MB':>10}{'SQL MB':>9}")
    for metric in METRICS:
        ours, hand = results["scale", metric, full], results["sql", metric, full]
        print(
            f"{metric:<22}{ours['seconds']:>9.2f}{hand['seconds']:>9.2f}"
            f"{ours['seconds'] / hand['seconds']:>7.2f}{ours['peak_mb']:>10.0f}"
            f"{hand['peak_mb']:>9.0f}"
        )
    print("\nscale.py time by rows (s), and time per million rows relative to the smallest")
    print(f"{'metric':<22}" + "".join(f"{size:>12,}" for size in sizes) + f"{'per-row x':>11}")
    for metric in METRICS:
        times = [results["scale", metric, size]["seconds"] for size in sizes]
        growth = (times[-1] / sizes[-1]) / (times[0] / sizes[0])
        print(f"{metric:<22}" + "".join(f"{t:>12.2f}" for t in times) + f"{growth:>11.2f}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="largest log size")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs after a warm-up")
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB memory_limit for both")
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads for both")
    parser.add_argument(
        "--cache",
        default=str(Path(tempfile.gettempdir()) / "verigator_nb_bench"),
        help="where the generated datasets are kept between runs",
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("KIND", "METRIC", "ROOT"), help=argparse.SUPPRESS
    )
    return parser


if __name__ == "__main__":
    main()
