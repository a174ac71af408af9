"""A child process that forks one worker per command, so a crash test can SIGKILL it often.

Both sides live here. The child script calls ``serve(workers)``: it reads commands from stdin
and forks a worker for each, so a kill costs a fork rather than an interpreter start. A worker
prints ``pid <pid>`` first; when it ends, the serving parent prints ``exit <wait status>``.
Every line is one ``os.write``, so a line the test reads is a step the worker finished.

The test side is ``ForkingChild(module)``: it runs ``python -m <module>`` from the repo root
(so the child imports helpers as ``tests._forking``, as the tests do); ``run_and_kill`` starts a
worker, lets it report some steps, waits a random moment, SIGKILLs it and returns everything it
reported. ``start``, ``kill`` and ``run`` drive a worker step by step instead.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

TIMEOUT = 15.0
ROOT = Path(__file__).resolve().parents[1]


def say(text: str) -> None:
    """Report one finished step on stdout, in one write."""
    os.write(1, f"{text}\n".encode())


def serve(workers: Mapping[str, Callable[..., None]]) -> None:
    """Child side: fork a worker for each ``<command> <args...>`` line read from stdin."""
    for line in sys.stdin:
        command, *args = line.split()
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # the worker: never return into this loop
            code = 0
            try:
                say(f"pid {os.getpid()}")
                workers[command](*args)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        say(f"exit {status}")


class ForkingChild:
    """Test side: the child process running ``module``, and the lines its workers print."""

    def __init__(self, module: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", module],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.put(raw.decode().rstrip("\n"))

    def line(self) -> str:
        """The next line a worker printed; fails the test if none comes in time."""
        try:
            return self.lines.get(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail("the forking child went silent")

    def start(self, command: str) -> int:
        """Start a worker on ``command``; returns its pid once it has said so."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        self.process.stdin.flush()
        first = self.line()
        assert first.startswith("pid "), first
        return int(first.split()[1])

    def until_exit(self) -> tuple[list[str], int]:
        """Every line the running worker prints until it ends, and its wait status."""
        steps: list[str] = []
        while not (line := self.line()).startswith("exit "):
            steps.append(line)
        return steps, int(line.split()[1])

    def run(self, command: str) -> tuple[list[str], int]:
        """Run a worker that ends by itself; its lines and its wait status."""
        self.start(command)
        return self.until_exit()

    def kill(self, pid: int) -> list[str]:
        """SIGKILL the running worker ``pid``; the lines it printed before it died."""
        os.kill(pid, signal.SIGKILL)  # our own worker, not yet reaped: the pid is still its
        steps, status = self.until_exit()
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, steps[-3:]
        return steps

    def run_and_kill(
        self,
        command: str,
        *,
        after: int,
        delay: float,
        counts: Callable[[str], bool] = lambda step: True,
        early: tuple[str, ...] = ("exit ",),
    ) -> list[str]:
        """Start a worker, let it report ``after`` counted steps, wait ``delay`` s, SIGKILL it.

        Returns every line the worker printed before it died, in order; fails if a line
        starting with one of ``early`` shows it ended by itself first.
        """
        pid = self.start(command)
        steps: list[str] = []
        while sum(map(counts, steps)) < after:
            line = self.line()
            assert not line.startswith(early), f"worker ended by itself: {line}"
            steps.append(line)
        time.sleep(delay)  # a random moment to die at, not a wait for something to happen
        return steps + self.kill(pid)

    def close(self) -> None:
        """End the child: it exits when its stdin closes."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=TIMEOUT)
