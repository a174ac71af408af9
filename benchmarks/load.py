"""Load: concurrent clients running whole verification flows against one sandbox.

Run: ``.venv/bin/python benchmarks/load.py [--seconds 20] [--threads 4] [--processes 2]``

One in-process ``Sandbox`` on loopback; ``--threads`` client threads in this process and
``--threads`` more in each of ``--processes`` child processes, all let go at once. Every thread
has its own ``Api`` (a requests Session is not thread-safe) and runs whole flows until time is
up: add a user, start (TOTP or SMS; both send an SMS, as no app is enrolled), read the PIN with
``SandboxControl.pin_for``, verify a wrong PIN (``INVALID``), verify the right one. Each
process records its initiate and verify calls to its own JSONL ``OutcomeLog`` (the log allows
one writing process per file; its threads share it).

Afterwards it checks the sandbox: every user created is present, every verified ``auth_id`` is
spent, the outbox holds exactly one SMS per start, and the logs hold exactly one row per
initiate and verify call (rows lost = 0). It prints flows/s, calls/s and p50/p99 latency per
call type. ``run_load`` is what ``tests/test_load.py`` runs, for a few seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from verigator_nb.client import Api
from verigator_nb.log import OutcomeLog
from verigator_nb.sandbox import Sandbox, SandboxControl

CALLS = ("create_user", "initiate", "pin_for", "verify_wrong", "verify_right")
LOGGED = ("initiate", "verify_wrong", "verify_right")  # the calls that write outcome rows
USERNAME, PASSWORD = "sandbox", "sandbox"


def _empty() -> dict[str, Any]:
    return {
        "flows": 0,
        "sms": 0,
        "users": [],
        "verified": [],
        "errors": [],
        "latency": {name: [] for name in CALLS},
    }


def _merge(into: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    for key in ("flows", "sms"):
        into[key] += part[key]
    for key in ("users", "verified", "errors"):
        into[key] += part[key]
    for name in CALLS:
        into["latency"][name] += part["latency"][name]
    return into


def _flows(api: Api, tag: str, seconds: float, go: threading.Event, out: dict[str, Any]) -> None:
    """One client thread: whole flows for ``seconds`` after ``go``; results into ``out``."""
    control = SandboxControl(api)

    def timed(name: str, call: Callable[..., Any], *args: Any) -> Any:
        started = time.perf_counter()
        result = call(*args)
        out["latency"][name].append(time.perf_counter() - started)
        return result

    service = api.services.create("load.example", f"Load {tag}")
    go.wait()
    deadline, n = time.perf_counter() + seconds, 0
    while time.perf_counter() < deadline:
        n += 1
        try:
            user = timed("create_user", api.users.create, service.id, "+4401234567", f"{n}")
            out["users"].append((service.id, user.id))
            method = "sms" if n % 2 else "totp"
            started = timed("initiate", api.auth.initiate, service.id, user.id, method)
            out["sms"] += started.method == "sms"
            pin = timed("pin_for", control.pin_for, started.auth_id)
            wrong = f"{(int(pin) + 1) % 1_000_000:06d}"
            first = timed("verify_wrong", api.auth.verify, started, wrong)
            second = timed("verify_right", api.auth.verify, started, pin)
        except Exception as exc:  # counted and reported: a run must show none
            out["errors"].append(f"{tag} flow {n}: {type(exc).__name__}: {exc}")
            continue
        if started.method != "sms" or first.result != "INVALID" or not second.verified:
            out["errors"].append(f"{tag} flow {n}: {started.method} {first} {second}")
            continue
        out["verified"].append((service.id, user.id, started.auth_id, pin))
        out["flows"] += 1


def run_clients(
    url: str,
    *,
    seconds: float,
    threads: int,
    log_path: str,
    tag: str,
    ready: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """``threads`` client threads in this process, let go together after ``ready()``."""
    log = OutcomeLog(log_path)
    go = threading.Event()
    clients = [Api(USERNAME, PASSWORD, url, log=log) for _ in range(threads)]
    parts = [_empty() for _ in clients]
    workers = [
        threading.Thread(target=_flows, args=(api, f"{tag}.{i}", seconds, go, part), daemon=True)
        for i, (api, part) in enumerate(zip(clients, parts, strict=True))
    ]
    for worker in workers:
        worker.start()
    ready()
    go.set()
    for worker in workers:
        worker.join()
    for api in clients:
        api.close()
    log.close()
    result = _empty()
    for part in parts:
        _merge(result, part)
    return result


def _child(url: str, seconds: float, threads: int, log_path: str, tag: str) -> None:
    """A worker process: say ready, wait for ``go`` on stdin, run, print the result as JSON."""

    def ready() -> None:
        print("ready", flush=True)
        sys.stdin.readline()

    result = run_clients(
        url, seconds=seconds, threads=threads, log_path=log_path, tag=tag, ready=ready
    )
    print(json.dumps(result), flush=True)


def run_load(
    sandbox: Sandbox, *, seconds: float, threads: int, processes: int, log_dir: Path
) -> dict[str, Any]:
    """Run the load against a started ``sandbox``; totals, latencies and the log paths."""
    children = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                sandbox.url,
                str(seconds),
                str(threads),
                str(log_dir / f"p{i}.jsonl"),
                f"p{i}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(1, processes + 1)
    ]

    went: list[float] = []

    def ready() -> None:  # every child is set up: let everyone go at once
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        went.append(time.perf_counter())

    result = run_clients(
        sandbox.url,
        seconds=seconds,
        threads=threads,
        log_path=str(log_dir / "p0.jsonl"),
        tag="p0",
        ready=ready,
    )
    for child in children:
        out, _ = child.communicate(timeout=seconds + 60)
        if child.returncode != 0:
            result["errors"].append(f"child process exited with {child.returncode}")
        else:
            _merge(result, json.loads(out.strip().splitlines()[-1]))
    result["elapsed"] = time.perf_counter() - went[0]
    result["logs"] = sorted(str(p) for p in log_dir.glob("p*.jsonl"))
    return result


def check_state(sandbox: Sandbox, result: dict[str, Any]) -> dict[str, int]:
    """What the sandbox and the logs say after a run; every count here should be 0."""
    backend = sandbox.backend
    missing = 0
    for sid, uid in result["users"]:
        try:
            backend.get_user(USERNAME, sid, uid)
        except Exception:
            missing += 1
    unspent = sum(  # a spent auth_id answers EXPIRED, and that check changes nothing
        backend.verify(USERNAME, sid, uid, pin, method="sms", auth_id=auth_id).result != "EXPIRED"
        for sid, uid, auth_id, pin in result["verified"]
    )
    logged_calls = sum(len(result["latency"][name]) for name in LOGGED)
    rows = sum(len(OutcomeLog.load(path).rows) for path in result["logs"])
    return {
        "errors": len(result["errors"]),
        "users_missing": missing,
        "verified_not_spent": unspent,
        "outbox_minus_sms_starts": len(backend.outbox(USERNAME)) - result["sms"],
        "rows_lost": logged_calls - rows,
    }


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """Throughput and p50/p99 latency (ms) per call type."""
    calls = sum(len(v) for v in result["latency"].values())
    per_call = {}
    for name, values in result["latency"].items():
        if len(values) >= 2:
            cuts = statistics.quantiles(values, n=100, method="inclusive")
            per_call[name] = {"n": len(values), "p50_ms": cuts[49] * 1e3, "p99_ms": cuts[98] * 1e3}
    return {
        "flows": result["flows"],
        "calls": calls,
        "seconds": result["elapsed"],
        "flows_per_s": result["flows"] / result["elapsed"],
        "calls_per_s": calls / result["elapsed"],
        "latency": per_call,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        url, seconds, threads, log_path, tag = sys.argv[2:7]
        _child(url, float(seconds), int(threads), log_path, tag)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=4, help="client threads per process")
    parser.add_argument("--processes", type=int, default=2, help="child processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Sandbox() as sandbox:
        result = run_load(
            sandbox,
            seconds=args.seconds,
            threads=args.threads,
            processes=args.processes,
            log_dir=Path(tmp),
        )
        state = check_state(sandbox, result)
    figures = summary(result)
    clients = args.threads * (args.processes + 1)
    print(
        f"{clients} clients ({args.processes + 1} processes x {args.threads} threads), "
        f"{figures['seconds']:.1f} s on loopback"
    )
    print(
        f"flows {figures['flows']}  ({figures['flows_per_s']:.1f}/s)   "
        f"calls {figures['calls']}  ({figures['calls_per_s']:.1f}/s)"
    )
    print(f"{'call':<14}{'n':>8}{'p50 ms':>10}{'p99 ms':>10}")
    for name, row in figures["latency"].items():
        print(f"{name:<14}{row['n']:>8}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}")
    print("checks (all should be 0):", json.dumps(state))
    for error in result["errors"][:10]:
        print("error:", error)
    sys.exit(1 if any(state.values()) else 0)


if __name__ == "__main__":
    main()
