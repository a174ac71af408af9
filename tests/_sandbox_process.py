"""``verigator-nb sandbox`` as a child process: started, its first line read, killed at the end.

A sandbox in a process of its own is what a test needs when the server might hang (a hung
server thread in the test process would hang the test run too) or when the command line's
own behaviour (flags, what it prints) is what is tested.
"""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["URL_LINE", "first_line", "launch", "sandbox_command", "start"]

SCRIPT = Path(sys.executable).with_name("verigator-nb")
URL_LINE = re.compile(r"Verigator sandbox listening on (http://\S+:(\d+)) \(accounts: (.*)\)")


def sandbox_command(*args: str) -> list[str]:
    """The command line of ``verigator-nb sandbox ARGS`` for this interpreter."""
    base = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "verigator_nb"]
    return [*base, "sandbox", *args]


def start(started: list[subprocess.Popen[str]], command: list[str]) -> subprocess.Popen[str]:
    """Run ``command`` with its output piped, remembered in ``started`` for clean-up."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    started.append(process)
    return process


def first_line(process: subprocess.Popen[str], timeout: float = 15.0) -> str:
    """The first line the process prints on stdout; AssertionError if none comes in time."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError("the sandbox printed nothing in time")
    return process.stdout.readline().strip()


@pytest.fixture
def launch() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by a test; killed (SIGKILL: a hung one ignores SIGTERM) at the end."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=5)
