"""The child process of the crash tests, and the sample rows the log tests share.

Run as ``python -m tests._log_writer_child`` from the repo root: it imports pandas, the client
and the sandbox once, then forks one worker per command read from stdin, so forty kills cost
forty forks rather than forty interpreter starts. Commands:

    calls <log path> <seed>         real calls through Api(..., log=OutcomeLog(path)) against an
                                    in-process Sandbox(seed=seed); "call <event_id>" after each
                                    call returns (or raises)
    export <csv|parquet> <target>   a growing log exported to <target> over and over;
                                    "export <rows>" after each export returns

A worker prints "pid <pid>" first and runs until killed; when it ends the parent of the workers
prints "exit <wait status>". Every line is one ``os.write``, so a line the test reads is a step
the worker finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tests._forking import say, serve
from verigator_nb.errors import VerigatorError
from verigator_nb.log import OutcomeLog
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


if __name__ == "__main__":
    serve({"calls": _calls, "export": _export})
