"""``simulate(..., workers=N)`` in process: N processes, each on a sandbox shard of its own.

The population's users are split into N near-equal shards. Shard ``i`` runs in its own process
(``spawn``: the same on every platform, safe from a notebook's threads) on a fresh in-process
``Sandbox`` made from the target's settings — accounts, switches, clock, and each account's
faults — with a sandbox seed and a simulator seed derived from the target's and ``i`` (and N),
so each shard has its own users, ids and random stream. Every row goes to a spool file of
pickled batches (a worker keeps one batch in memory, not its log); when all are done the
parent merges the spools by timestamp, shard order breaking ties, into the caller's log. The
same seeds and N give the same rows; another N gives another, equally valid, campaign.

Progress comes back through a shared counter. A worker that fails ends the run with a
``RuntimeError`` naming it and what it raised; the others are stopped.
"""

from __future__ import annotations

import heapq
import multiprocessing
import os
import pickle
import queue
import random
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from verigator_nb.client import RowSink
from verigator_nb.sandbox import Fault, Sandbox
from verigator_nb.schema import TS
from verigator_nb.simulate import Population, Progress, play_campaign

__all__ = ["ShardResult", "ShardSpec", "run_shard", "simulate_in_processes"]

_BATCH = 4096  # rows a worker holds before writing them to its spool
_POLL_SECONDS = 0.2  # how often the parent moves the progress bar


@dataclass(frozen=True)
class ShardSpec:
    """Everything one worker needs to rebuild its sandbox shard and play its users."""

    index: int
    population: Population
    seed: int
    sandbox_seed: int | None
    first_user: int
    accounts: Mapping[str, str] = field(repr=False)  # with their passwords
    faults: Mapping[str, list[dict[str, Any]]]
    shared_clock_control: bool
    user_endpoints: bool
    start: float
    tags: str
    spool: str


@dataclass(frozen=True)
class ShardResult:
    """What a worker reports at the end: its process id and how many rows it wrote."""

    index: int
    pid: int
    rows: int


def _derived(seed: int, label: str, index: int, workers: int) -> int:
    """A seed for one shard, from a string (hashed the same in every process)."""
    return random.Random(f"verigator-shard:{label}:{seed}:{index}/{workers}").getrandbits(48)


def shard_specs(
    target: Sandbox, population: Population, seed: int, workers: int, tags: str, folder: str
) -> list[ShardSpec]:
    """The shards of a campaign on ``target``: users split as evenly as they go."""
    count = min(workers, population.users)
    sizes = [population.users // count + (i < population.users % count) for i in range(count)]
    router, backend = target.router, target.backend
    accounts = {name: backend.password_of(name) for name in backend.usernames}
    faults = {
        name: [fault.to_json() for fault, _ in router.plan(name).snapshot()]
        for name in backend.usernames
    }
    specs = []
    for index, size in enumerate(sizes):
        sandbox_seed = target.seed
        if sandbox_seed is not None:
            sandbox_seed = _derived(sandbox_seed, "sandbox", index, count)
        specs.append(
            ShardSpec(
                index=index,
                # An attack or a drop happens once: in the first shard's campaign only.
                population=replace(population, users=size)
                if index == 0
                else replace(population, users=size, attack=None),
                seed=_derived(seed, "simulator", index, count),
                sandbox_seed=sandbox_seed,
                first_user=sum(sizes[:index]),
                accounts=accounts,
                faults=faults,
                shared_clock_control=router.shared_clock_control,
                user_endpoints=router.user_endpoints,
                start=backend.now(),
                tags=tags,
                spool=os.path.join(folder, f"shard-{index}.pickle"),
            )
        )
    return specs


class _Spool:
    """A row sink writing pickled batches of rows to a file (the worker's whole log)."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._batch: list[dict[str, Any]] = []
        self.rows = 0

    def append(self, row: Mapping[str, Any]) -> None:
        self._batch.append(dict(row))
        self.rows += 1
        if len(self._batch) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if self._batch:
            pickle.dump(self._batch, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._batch = []

    def close(self) -> None:
        self.flush()
        self._file.close()


def _spooled(path: str) -> Iterator[dict[str, Any]]:
    """The rows of a spool, in the order they were written."""
    with open(path, "rb") as spool:
        while True:
            try:
                # Our own worker's file, in a folder only this user can write (mkdtemp: 0700).
                batch = pickle.load(spool)  # noqa: S301
            except EOFError:
                return
            yield from batch


class _Counter:
    """A worker's progress: logins played, added to the counter the parent reads."""

    def __init__(self, shared: Any) -> None:
        self._shared = shared

    def update(self, n: float | None = 1) -> None:
        with self._shared.get_lock():
            self._shared.value += int(n or 0)


def _shard_sandbox(spec: ShardSpec) -> Sandbox:
    """A fresh in-process sandbox like the target: accounts, switches, faults, clock."""
    sandbox = Sandbox(
        seed=spec.sandbox_seed,
        accounts=spec.accounts,
        shared_clock_control=spec.shared_clock_control,
        user_endpoints=spec.user_endpoints,
        http=False,
    )
    for name, faults in spec.faults.items():
        if faults:
            sandbox.inject(*(Fault.from_json(fault) for fault in faults), username=name)
    behind = spec.start - sandbox.backend.now()
    if behind > 0:
        sandbox.backend.advance(behind)
    return sandbox


def run_shard(spec: ShardSpec, counter: Any) -> ShardResult:
    """Play one shard into its spool (a worker's whole job)."""
    sandbox = _shard_sandbox(spec)
    spool = _Spool(spec.spool)
    try:
        base = sandbox.api()
        api = base.with_log(spool, tags=spec.tags)
        play_campaign(
            api,
            sandbox.control(base),
            spec.population,
            seed=spec.seed,
            bar=_Counter(counter),
            first_user=spec.first_user,
        )
    finally:
        spool.close()
    return ShardResult(spec.index, os.getpid(), spool.rows)


def _worker(spec: ShardSpec, counter: Any, results: Any) -> None:
    """A worker process's entry point: its result, or what went wrong, on ``results``."""
    try:
        results.put(("done", run_shard(spec, counter)))
    except BaseException as exc:  # reported to the parent, which raises it
        results.put(("failed", (spec.index, type(exc).__name__, str(exc)[:500])))
        raise SystemExit(1) from None


def simulate_in_processes(
    target: Sandbox,
    population: Population,
    seed: int,
    log: RowSink,
    workers: int,
    tags: str,
    bar: Progress,
) -> list[ShardResult]:
    """Play the campaign on ``workers`` processes and append every row to ``log``, merged."""
    with tempfile.TemporaryDirectory(prefix="verigator-shards-") as folder:
        specs = shard_specs(target, population, seed, workers, tags, folder)
        results = _run_workers(specs, bar)
        rows = (_spooled(spec.spool) for spec in specs)
        for row in heapq.merge(*rows, key=lambda row: row[TS]):
            log.append(row)
    return results


def _run_workers(specs: list[ShardSpec], bar: Progress) -> list[ShardResult]:
    """Start one process per shard, follow their progress, and collect what each reports."""
    context = multiprocessing.get_context("spawn")
    counter = context.Value("q", 0)
    results = context.Queue()
    processes = [
        context.Process(target=_worker, args=(spec, counter, results), daemon=True)
        for spec in specs
    ]
    try:
        for process in processes:
            process.start()
        return _collect(processes, counter, results, bar)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
        results.close()


def _collect(processes: list[Any], counter: Any, results: Any, bar: Progress) -> list[ShardResult]:
    """Wait for every worker's report, moving the bar; RuntimeError for a failed worker."""
    done: dict[int, ShardResult] = {}
    shown = 0
    while len(done) < len(processes):
        try:
            outcome, detail = results.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            shown = _advance(bar, counter.value, shown)
            _check_alive(processes, results)
            continue
        if outcome == "failed":
            index, kind, message = detail
            raise RuntimeError(f"simulation worker {index} failed: {kind}: {message}")
        done[detail.index] = detail
    _advance(bar, counter.value, shown)
    return [done[index] for index in sorted(done)]


def _check_alive(processes: list[Any], results: Any) -> None:
    """RuntimeError when a worker has ended without a word (killed, or out of memory)."""
    for process in processes:
        if process.exitcode not in (None, 0) and results.empty():
            raise RuntimeError(
                f"a simulation worker ended with exit code {process.exitcode} without a "
                "report; from a script, call simulate(..., workers=N) under "
                "if __name__ == '__main__': (each worker starts by importing it)"
            )


def _advance(bar: Progress, value: int, shown: int) -> int:
    """Move ``bar`` up to ``value`` logins from the ``shown`` ones; the new shown."""
    if value > shown:
        bar.update(value - shown)
    return max(value, shown)
