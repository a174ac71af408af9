"""Rows per second a server's outcome log takes: 8 threads, 4 processes, and a SIGKILL.

Run: ``.venv/bin/python benchmarks/production_log.py [--rows N] [--rounds R] [--fsync]``

All on ``OutcomeLog.in_folder`` (one file per process and UTC day, no rows kept in memory,
failures counted), with the very row a verify call produces:

- ``1 thread``      one thread appends ``8 * N`` rows: the baseline;
- ``8 threads``     8 threads of one process append ``N`` rows each to one log;
- ``4 processes``   4 forked processes append ``2 * N`` rows each, every one to its own file
                    in the one folder (the log is made before the fork, as a preloading
                    server makes it);
- ``SIGKILL``       4 processes append without end; one is killed mid-run, the other three
                    stop after ``2 * N`` rows. ``OutcomeLog.load(folder)`` must give every row
                    each process was told was stored, once, in order, and at most the killed
                    one's row in flight besides.

Rows per second are total rows over wall-clock time, the median of the rounds. The machine's
cores bound the processes: on 2 cores, 4 processes take turns.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import statistics
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from verigator_nb.log import OutcomeLog, log_files
from verigator_nb.sandbox import Sandbox

FORK = multiprocessing.get_context("fork")


class _Capture:
    """A sink that keeps the rows a client hands it."""

    def __init__(self) -> None:
        self.rows: list[Mapping[str, Any]] = []

    def append(self, row: Mapping[str, Any]) -> None:
        self.rows.append(dict(row))


def verify_row() -> dict[str, Any]:
    """The row one verify call through the client produces."""
    capture = _Capture()
    with Sandbox(seed=1, http=False) as sb, sb.api(log=capture) as api:
        service = api.services.create("bench.example.com", "Bench")
        user = api.users.create(service.id, "+4401234567", "bench-user")
        api.auth.verify(service.id, user.id, "123456")
    return dict(capture.rows[-1])


def _tagged(row: Mapping[str, Any], tag: str) -> dict[str, Any]:
    return {**row, "event_id": tag}


def in_threads(folder: Path, row: Mapping[str, Any], threads: int, rows: int) -> float:
    """Rows per second for ``threads`` threads appending ``rows`` each to one folder log."""
    log = OutcomeLog.in_folder(folder)
    start = threading.Barrier(threads + 1)

    def write(thread: int) -> None:
        start.wait()
        for i in range(rows):
            log.append(_tagged(row, f"t{thread}-{i}"))

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - began
    assert log.failed_appends == 0 and len(log) == threads * rows
    log.close()
    return threads * rows / seconds


def _process(log: OutcomeLog, worker: int, rows: int, start: Any, done: Any) -> None:
    row = _ROW
    start.wait()
    for i in range(rows):
        log.append(_tagged(row, f"p{worker}-{i}"))
        done[worker] = i + 1  # this row's append returned: it is on disk
    os._exit(0 if log.failed_appends == 0 else 1)


_ROW: dict[str, Any] = {}  # set before forking; the children inherit it


def _start(log: OutcomeLog, rows: list[int]) -> tuple[list[Any], Any, Any]:
    start, done = FORK.Barrier(len(rows) + 1), FORK.RawArray("q", len(rows))
    processes = [
        FORK.Process(target=_process, args=(log, n, count, start, done))
        for n, count in enumerate(rows)
    ]
    for process in processes:
        process.start()
    return processes, start, done


def in_processes(folder: Path, processes: int, rows: int) -> float:
    """Rows per second for ``processes`` forked processes appending ``rows`` each."""
    log = OutcomeLog.in_folder(folder)
    workers, start, _ = _start(log, [rows] * processes)
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - began
    assert [w.exitcode for w in workers] == [0] * processes
    return processes * rows / seconds


def killed(folder: Path, rows: int, victim: int = 2) -> dict[str, Any]:
    """Kill one of 4 writers mid-run; what the folder holds afterwards."""
    log = OutcomeLog.in_folder(folder)
    counts = [rows] * 4
    counts[victim] = 10**12
    workers, start, done = _start(log, counts)
    start.wait()
    while done[victim] < rows // 2:
        time.sleep(0.001)
    os.kill(workers[victim].pid or 0, signal.SIGKILL)
    workers[victim].join()
    told = done[victim]
    for worker in workers:
        worker.join()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = OutcomeLog.load(folder)
    ids = [row["event_id"] for row in loaded.rows]
    per_worker = {n: _numbers(ids, f"p{n}-") for n in range(4)}
    whole = all(per_worker[n] == list(range(len(per_worker[n]))) for n in range(4))
    return {
        "files": len(log_files(folder)),
        "told stored": told,
        "on disk": len(per_worker[victim]),
        "others complete": all(len(per_worker[n]) == rows for n in range(4) if n != victim),
        "in order, no gap, no duplicate": whole and len(ids) == len(set(ids)),
        "lines set aside": len(loaded.set_aside),
        "warnings": len(caught),
        "exit codes": [w.exitcode for w in workers],
    }


def _numbers(ids: list[str], prefix: str) -> list[int]:
    """The row numbers of one writer's ids, in reading order."""
    return [int(e.removeprefix(prefix)) for e in ids if e.startswith(prefix)]


def _median(run: Callable[[Path], float], rounds: int) -> float:
    figures = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as folder:
            figures.append(run(Path(folder)))
    return statistics.median(figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows per thread (N)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    _ROW.update(verify_row())
    n, rounds = args.rows, args.rounds
    print(f"row: {len(str(_ROW))} characters; {os.cpu_count()} cores; {rounds} rounds, median")
    one = _median(lambda f: in_threads(f, _ROW, 1, 8 * n), rounds)
    eight = _median(lambda f: in_threads(f, _ROW, 8, n), rounds)
    four = _median(lambda f: in_processes(f, 4, 2 * n), rounds)
    print(f"1 thread      {8 * n:>8,} rows  {one:>9,.0f} rows/s")
    print(f"8 threads     {8 * n:>8,} rows  {eight:>9,.0f} rows/s  ({eight / one:.2f}x one thread)")
    print(f"4 processes   {8 * n:>8,} rows  {four:>9,.0f} rows/s  ({four / one:.2f}x one thread)")
    with tempfile.TemporaryDirectory() as folder:
        outcome = killed(Path(folder), 2 * n)
    lost_nothing = (
        outcome["others complete"]
        and outcome["in order, no gap, no duplicate"]
        and outcome["on disk"] - outcome["told stored"] in (0, 1)
    )
    print("SIGKILL of 1 of 4 processes mid-run:")
    for name, value in outcome.items():
        print(f"  {name}: {value}")
    print(f"  nothing lost: {'yes' if lost_nothing else 'NO'}")


if __name__ == "__main__":
    main()
