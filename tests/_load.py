"""The load driver: concurrent clients running whole verification flows against one sandbox.

Shared by ``tests/test_load.py`` (a few seconds, every check must be zero) and
``benchmarks/load.py`` (longer, prints the throughput figures).

``run_load`` starts ``processes`` child processes (``python -m tests._load --child ...``) and
runs ``threads`` client threads in this process and in each child, all let go at once. Every
thread has its own ``Api`` (a requests Session is not thread-safe) and runs whole flows until
time is up: add a user, start (TOTP or SMS; both send an SMS, as no app is enrolled), read the
PIN with ``SandboxControl.pin_for``, verify a wrong PIN (``INVALID``), verify the right one.
Each process records its initiate and verify calls to its own JSONL ``OutcomeLog`` (the log
allows one writing process per file; its threads share it).

``check_state`` then asks the sandbox and the logs: every user created is present, every
verified ``auth_id`` is spent, the outbox holds exactly one SMS per start, and the logs hold
exactly one row per initiate and verify call. ``summary`` gives flows/s, calls/s and p50/p99
latency per call type.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from verigator_nb.client import Api
from verigator_nb.log import OutcomeLog
from verigator_nb.models import METHOD_SMS, METHOD_TOTP, RESULT_EXPIRED, RESULT_INVALID
from verigator_nb.sandbox import Sandbox, SandboxControl

CALLS = ("create_user", "initiate", "pin_for", "verify_wrong", "verify_right")
LOGGED = ("initiate", "verify_wrong", "verify_right")  # the calls that write outcome rows
USERNAME, PASSWORD = "sandbox", "sandbox"
ROOT = Path(__file__).resolve().parents[1]  # where ``python -m tests._load`` finds ``tests``


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
            method = METHOD_SMS if n % 2 else METHOD_TOTP
            started = timed("initiate", api.auth.initiate, service.id, user.id, method)
            out["sms"] += started.method == METHOD_SMS
            pin = timed("pin_for", control.pin_for, started.auth_id)
            wrong = f"{(int(pin) + 1) % 1_000_000:06d}"
            first = timed("verify_wrong", api.auth.verify, started, wrong)
            second = timed("verify_right", api.auth.verify, started, pin)
        except Exception as exc:  # counted and reported: a run must show none
            out["errors"].append(f"{tag} flow {n}: {type(exc).__name__}: {exc}")
            continue
        if started.method != METHOD_SMS or first.result != RESULT_INVALID or not second.verified:
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


def _start_child(
    url: str, seconds: float, threads: int, log_path: Path, tag: str
) -> subprocess.Popen[str]:
    """A child process running ``threads`` clients; it says ``ready`` and waits for ``go``."""
    command = [sys.executable, "-m", "tests._load", "--child", url, str(seconds), str(threads)]
    return subprocess.Popen(
        [*command, str(log_path), tag],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def run_load(
    sandbox: Sandbox, *, seconds: float, threads: int, processes: int, log_dir: Path
) -> dict[str, Any]:
    """Run the load against a started ``sandbox``; totals, latencies and the log paths."""
    children = [
        _start_child(sandbox.url, seconds, threads, log_dir / f"p{i}.jsonl", f"p{i}")
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

    log_path = str(log_dir / "p0.jsonl")
    result = run_clients(
        sandbox.url, seconds=seconds, threads=threads, log_path=log_path, tag="p0", ready=ready
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
        backend.verify(USERNAME, sid, uid, pin, method=METHOD_SMS, auth_id=auth_id).result
        != RESULT_EXPIRED
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


if __name__ == "__main__":  # a child process of ``run_load``
    if sys.argv[1:2] != ["--child"]:
        sys.exit("usage: python -m tests._load --child URL SECONDS THREADS LOG_PATH TAG")
    url, seconds, threads, log_path, tag = sys.argv[2:7]
    _child(url, float(seconds), int(threads), log_path, tag)
