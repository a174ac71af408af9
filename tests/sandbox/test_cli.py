"""``verigator-nb sandbox`` as a real process: prints its URL, serves, stops cleanly on signals."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests._sandbox_process import URL_LINE, first_line, launch, sandbox_command, start
from verigator_nb.cli import main

__all__ = ["launch"]  # the fixture, imported so pytest finds it


@pytest.mark.parametrize(
    ("launcher", "sig"),
    [
        pytest.param(sandbox_command()[:-1], signal.SIGINT, id="verigator-nb-ctrl-c"),
        pytest.param([sys.executable, "-m", "verigator_nb"], signal.SIGTERM, id="python-m-sigterm"),
    ],
)
def test_sandbox_command_serves_then_stops_cleanly_on_a_signal(
    launch: list[subprocess.Popen[str]], launcher: list[str], sig: signal.Signals
) -> None:
    # Port 0: the sandbox binds a free port itself and prints it; picking one here first would
    # race with every other process on the machine for it.
    args = ["sandbox", "--port", "0", "--seed", "3", "--account", "alice:pw-never-shown"]
    process = start(launch, launcher + args)
    line = first_line(process)
    match = URL_LINE.fullmatch(line)
    assert match, line
    url, printed_port, names = match.groups()
    assert url.startswith("http://127.0.0.1:") and int(printed_port) > 0 and names == "alice"
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
