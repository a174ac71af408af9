"""The child process of the crash tests, and the sample rows the log tests share.

Run as ``python -m tests._log_writer_child`` from the repo root: it imports pandas, the client
and the sandbox once, then forks one worker per command read from stdin, so forty kills cost
forty forks rather than forty interpreter starts. Commands:

    calls <log path> <seed>         real calls through Api(..., log=OutcomeLog(path)) against an
                                    in-process Sandbox(seed=seed); "call <event_id>" after each
                                    call returns (or raises)
    export <csv|parquet> <target>   a growing log exported to <target> over and over;
                                    "export <rows>" after each export returns
    hold <log path> <rows> <tag>    opens OutcomeLog(path), appends <rows> rows with event ids
                                    "<tag>-<i>", says "held" and keeps the log open until killed
    capped <log path> <bytes> <tag> opens OutcomeLog(path), lets the file grow by at most
                                    <bytes> (RLIMIT_FSIZE) and appends rows "<tag>-<i>", saying
                                    "row <event_id>" after each, until the write that crosses
                                    the limit kills it with SIGXFSZ, half a row on disk

    forked <log path>               opens OutcomeLog(path), appends a row "parent", forks;
                                    the forked copy appends "child" through the same log and
                                    says "child <exception name or 'wrote'>"

Each says "locked <message>" and ends if another writer holds the log.

A worker prints "pid <pid>" first and runs until killed; when it ends the parent of the workers
prints "exit <wait status>". Every line is one ``os.write``, so a line the test reads is a step
the worker finished.
"""

from __future__ import annotations

import os
import resource
import signal
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tests._forking import say, serve
from verigator_nb.errors import VerigatorError
from verigator_nb.log import LogLockedError, OutcomeLog
from verigator_nb.sandbox import Sandbox

EXPORT_START_ROWS = 800


def sample_rows(count: int) -> list[dict[str, Any]]:
    """``count`` deterministic rows touching every column, value kind and missing value."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(count):
        verify = i % 3 != 0
        answered = i % 7 != 6
        rows.append(
            {
                "event_id": f"row-{i}",
                "ts": start + timedelta(seconds=i, microseconds=i % 1000),
                "service_id": "svc-1",
                "user_id": f"user-{i % 5}",
                "action": "verify" if verify else "initiate",
                "requested_method": ("totp", "sms")[i % 2],
                "method": ("totp", "sms")[(i // 2) % 2] if answered else None,
                "fallback": None if verify or not answered else i % 4 == 0,
                "auth_id": f"auth-{i // 3}" if i % 2 else None,
                "verified": (i % 5 == 1) if verify and answered else None,
                "result": ("VERIFIED", "INVALID", "EXPIRED", "THROTTLED")[i % 4]
                if verify and answered
                else None,
                "http_status": 200 if answered else (404 if i % 2 else None),
                "error": "" if answered else ("NoSuchResourceError", "RequestTimeoutError")[i % 2],
                "latency_ms": 0.25 + i / 7,
                "session_id": f"s-{i // 3}",
                "attempt": i % 3 if verify else None,
                "endpoint": "sandbox",
                "country": ("GB", "EE", None)[i % 3],
                "tags": ('campaign "spring", wave 2', "NA", "ünïcode\nline", "")[i % 4],
            }
        )
    return rows


class _ReportingLog(OutcomeLog):
    """An OutcomeLog that remembers the event id of the row it stored last."""

    last_event_id = ""

    def append(self, row: Mapping[str, Any]) -> None:
        super().append(row)
        self.last_event_id = row["event_id"]


def _calls(path: str, seed: str) -> None:
    log = _ReportingLog(path)
    with Sandbox(seed=int(seed)) as sandbox:
        api = sandbox.api(log=log)
        you = sandbox.control(api)
        service = api.services.create("www.example.com", "CoffeeShop")
        user = api.users.create(service.id, "+4401234567", "john.doe@example.com")
        started = None
        for step in range(100_000):
            try:
                if started is None or step % 3 == 0:
                    started = api.auth.initiate(service.id, user.id, api.auth.METHOD_TOTP)
                elif step % 3 == 1:
                    api.auth.verify(started, "000000")
                else:
                    api.auth.verify(started, you.pin_for(started.auth_id or ""))
            except VerigatorError:
                pass  # the failed call is a row too
            say(f"call {log.last_event_id}")


def _export(kind: str, target: str) -> None:
    rows = sample_rows(EXPORT_START_ROWS + 500)  # far more exports than a round lets finish
    log = OutcomeLog()
    for row in rows[:EXPORT_START_ROWS]:
        log.append(row)
    write = log.to_csv if kind == "csv" else log.to_parquet
    for row in rows[EXPORT_START_ROWS:]:
        log.append(row)
        write(target)
        say(f"export {len(log)}")


def _writer(path: str) -> OutcomeLog | None:
    """The log at ``path`` opened for appending, or ``None`` (said) if another writer has it."""
    try:
        return OutcomeLog(path)
    except LogLockedError as exc:
        say(f"locked {exc}")
        return None


def _tagged_rows(tag: str, count: int) -> list[dict[str, Any]]:
    return [{**row, "event_id": f"{tag}-{i}"} for i, row in enumerate(sample_rows(count))]


def _hold(path: str, rows: str, tag: str) -> None:
    log = _writer(path)
    if log is None:
        return
    for row in _tagged_rows(tag, int(rows)):
        log.append(row)
    say("held")
    while True:
        time.sleep(60)


def _capped(path: str, extra: str, tag: str) -> None:
    log = _writer(path)
    if log is None:
        return
    limit = os.path.getsize(path) + int(extra)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # the write past the limit kills, as by default
    for row in _tagged_rows(tag, 10_000):
        log.append(row)
        say(f"row {row['event_id']}")


def _forked(path: str) -> None:
    log = _writer(path)
    if log is None:
        return
    log.append({"event_id": "parent"})
    pid = os.fork()
    if pid == 0:
        try:
            log.append({"event_id": "child"})
            say("child wrote")
        except Exception as exc:
            say(f"child {type(exc).__name__}")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


if __name__ == "__main__":
    serve({"calls": _calls, "export": _export, "hold": _hold, "capped": _capped, "forked": _forked})
