"""``verigator-nb sandbox`` as a real process: prints its URL, serves, stops cleanly on signals."""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from verigator_nb.cli import main

SCRIPT = Path(sys.executable).with_name("verigator-nb")
URL_LINE = re.compile(
    r"Verigator sandbox listening on (http://127\.0\.0\.1:(\d+)) \(accounts: (.*)\)"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _command() -> list[str]:
    return [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "verigator_nb"]


def _first_line(process: subprocess.Popen[str], timeout: float = 15.0) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError("the sandbox printed nothing in time")
    return process.stdout.readline().strip()


@pytest.fixture
def launch() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by a test; killed at the end if the test left them running."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)


def _start(launch: list[subprocess.Popen[str]], command: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    launch.append(process)
    return process


@pytest.mark.parametrize(
    ("launcher", "sig"),
    [
        pytest.param(_command(), signal.SIGINT, id="verigator-nb-ctrl-c"),
        pytest.param([sys.executable, "-m", "verigator_nb"], signal.SIGTERM, id="python-m-sigterm"),
    ],
)
def test_sandbox_command_serves_then_stops_cleanly_on_a_signal(
    launch: list[subprocess.Popen[str]], launcher: list[str], sig: signal.Signals
) -> None:
    # Port 0: the sandbox binds a free port itself and prints it; picking one here first would
    # race with every other process on the machine for it.
    args = ["sandbox", "--port", "0", "--seed", "3", "--account", "alice:pw-never-shown"]
    process = _start(launch, launcher + args)
    line = _first_line(process)
    match = URL_LINE.fullmatch(line)
    assert match, line
    url, printed_port, names = match.groups()
    assert int(printed_port) > 0 and names == "alice"
    answer = requests.post(
        url + "/v1/service/service",
        json={"fqdn": "d", "name": "Shop"},
        headers={"X-Service-Auth": "alice:pw-never-shown"},
        timeout=5,
    )
    assert answer.status_code == 201
    assert answer.json()["ctime"].startswith("2026-01-01T00:00:00")  # --seed took effect
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert "pw-never-shown" not in line + stdout + stderr


def test_port_in_use_is_a_clear_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.perf_counter()
        assert main(["sandbox", "--port", str(port)]) == 1
    assert time.perf_counter() - started < 5
    err = capsys.readouterr().err
    assert "cannot listen" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "account",
    [
        pytest.param("no-colon", id="no-colon"),
        pytest.param(":pw", id="empty-user"),
        pytest.param("user:", id="empty-password"),
    ],
)
def test_malformed_account_is_a_usage_error(
    account: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["sandbox", "--account", account])
    assert caught.value.code == 2
    assert "USER:PASSWORD" in capsys.readouterr().err


def test_no_subcommand_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "sandbox" in capsys.readouterr().out
