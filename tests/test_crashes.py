"""SIGKILL in the middle of things: a simulated campaign writing its log, and the sandbox itself.

(a) A child (``tests._campaign_child``) forks workers that run ``simulate(...)`` into one durable
``OutcomeLog``; the test kills each at a random moment and reads the file back. (b) The sandbox
runs as ``verigator-nb sandbox`` in its own process; the test kills it mid-session and checks
that the client, the log and ``VerifyForm`` all fail cleanly, then recover when it is back.
"""

from __future__ import annotations

import os
import random
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests._figures import record
from tests._forking import TIMEOUT, ForkingChild
from verigator_nb.client import Api
from verigator_nb.errors import ConnectionFailedError, InternalError
from verigator_nb.log import OutcomeLog
from verigator_nb.sandbox import Fault, SandboxControl
from verigator_nb.widgets import VerifyForm

CHILD = "tests._campaign_child"
SCRIPT = Path(sys.executable).with_name("verigator-nb")
URL_LINE = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")
ROUNDS = 20


# -- (a) a campaign killed mid-run -------------------------------------------------------------


@pytest.fixture(scope="module")
def campaigns() -> Iterator[ForkingChild]:
    child = ForkingChild(CHILD)
    yield child
    child.close()


def test_a_killed_campaign_keeps_every_reported_row_and_no_duplicates(
    campaigns: ForkingChild, tmp_path: Path
) -> None:
    path = tmp_path / "campaign.jsonl"
    rng = random.Random(20260101)
    on_disk: list[str] = []
    logins = torn_rounds = in_flight = 0
    for round_number in range(ROUNDS):
        steps = campaigns.run_and_kill(
            f"campaign {path} {100 + round_number}",
            after=rng.randint(1, 60),
            delay=rng.uniform(0, 0.02),
            counts=lambda step: step.startswith("row "),
            early=("exit ", "finished"),
        )
        reported = [step.removeprefix("row ") for step in steps if step.startswith("row ")]
        logins += sum(step.startswith("login ") for step in steps)
        data = path.read_bytes()
        torn_rounds += not data.endswith(b"\n")
        ids = [row["event_id"] for row in OutcomeLog.load(path).rows]  # it must load every time
        assert len(ids) == data.count(b"\n"), "only a torn last line may be dropped"
        assert ids[: len(on_disk)] == on_disk, "rows of earlier rounds changed"
        new = ids[len(on_disk) :]
        assert new[: len(reported)] == reported, "a row the campaign reported is missing"
        assert len(new) - len(reported) in (0, 1), "more than the one row in flight"
        assert len(set(ids)) == len(ids), "a row was written twice"
        in_flight += len(new) - len(reported)
        on_disk = ids
    frame = OutcomeLog.load(path).df
    assert frame["action"].isin(["initiate", "verify"]).all()
    assert frame["session_id"].notna().all() and frame["event_id"].is_unique
    assert logins > ROUNDS, "the campaigns were killed before completing any login"
    record(
        "crash_campaign_sigkill",
        {
            "rounds": ROUNDS,
            "rows_on_disk": len(on_disk),
            "logins_completed": logins,
            "reported_rows_lost": 0,  # asserted above, every round
            "rows_in_flight_kept": in_flight,
            "torn_tails_dropped": torn_rounds,
        },
    )


# -- (b) the sandbox killed mid-session --------------------------------------------------------


def _command(*args: str) -> list[str]:
    base = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "verigator_nb"]
    return [*base, "sandbox", *args]


def _start_sandbox(port: int) -> tuple[subprocess.Popen[str], str]:
    """``verigator-nb sandbox`` on ``port`` (0: any) with remote faults; its process and URL."""
    process = subprocess.Popen(
        _command("--port", str(port), "--seed", "7", "--remote-faults"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=TIMEOUT):
            process.kill()
            pytest.fail("the sandbox did not print its URL")
    line = process.stdout.readline()
    match = URL_LINE.search(line)
    if match is None:
        process.kill()
        pytest.fail(f"unexpected first line: {line!r}; stderr: {process.communicate()[1]}")
    return process, match.group(1)


@pytest.fixture
def shell_sandbox() -> Iterator[list[subprocess.Popen[str]]]:
    """Sandbox processes the test starts; any still running at the end are killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=TIMEOUT)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_a_killed_sandbox_is_a_connection_failure_logged_shown_and_recovered_from(
    shell_sandbox: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    process, url = _start_sandbox(0)
    shell_sandbox.append(process)
    path = tmp_path / "outcomes.jsonl"
    log = OutcomeLog(path)
    api = Api("sandbox", "sandbox", url, timeout=(1.0, 0.5), log=log)
    service = api.services.create("www.example.com", "CoffeeShop")
    user = api.users.create(service.id, "+4401234567", "john")
    started = api.auth.initiate(service.id, user.id, "sms")
    control = SandboxControl(api)
    control.inject_faults(Fault("get_service", "error", count=1))  # over HTTP, to a shell sandbox
    with pytest.raises(InternalError):
        api.services.get(service.id)
    form = VerifyForm(api, log, services=[service])
    assert form.user_id == user.id and form.message == ""

    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=TIMEOUT)

    began = time.perf_counter()
    with pytest.raises(ConnectionFailedError):
        api.auth.verify(started, "123456")
    failed_after = time.perf_counter() - began
    assert failed_after < 5.0, "a dead server must fail fast, not hang"
    rows = OutcomeLog.load(path).df  # the file, not the memory: it must load after the kill
    assert len(rows) == 2 and rows["action"].tolist() == ["initiate", "verify"]
    failed = rows.iloc[-1]
    assert failed["error"] == "ConnectionFailedError" and pd.isna(failed["http_status"])
    assert pd.isna(failed["verified"]) and failed["session_id"] == rows.iloc[0]["session_id"]

    form.method = "sms"
    form.initiate_button.click()
    assert form.message_detail.startswith("ConnectionFailedError")
    assert "could not reach" in form.message_detail and "Could not reach the API" in form.message
    assert not form.busy and not form.initiate_button.disabled and not form.verify_button.disabled
    assert OutcomeLog.load(path).df.iloc[-1]["error"] == "ConnectionFailedError"

    port = int(url.rsplit(":", 1)[1])
    process, _ = _start_sandbox(port)  # back on the same port, empty: the form carries on
    shell_sandbox.append(process)
    fields = form.setup.fields
    fields["domain"].value, fields["name"].value = "www.example.com", "CoffeeShop"
    form.setup.create_service_button.click()
    fields["phone"].value, fields["username"].value = "+4401234567", "john"
    form.setup.add_user_button.click()
    form.initiate_button.click()
    assert form.message == "" and form.initiation is not None and form.initiation.method == "sms"
    log.close()
    assert len(OutcomeLog.load(path)) == 4
    record("crash_sandbox_sigkill_ms_to_connection_failure", round(failed_after * 1000, 1))
