"""The child process of ``test_crashes.py``: simulated campaigns, each in a worker to be killed.

Run as ``python -m tests._campaign_child`` from the repo root: it imports pandas, the simulator
and the sandbox once, then forks one worker per command read from stdin, so each kill costs a
fork rather than an interpreter start. One command:

    campaign <log path> <seed>   simulate(...) a campaign against an in-process
                                 Sandbox(seed=seed), every call a row of the durable
                                 OutcomeLog(path); prints "row <event_id>" once each row is on
                                 disk and "login <n>" once each login is complete

A worker prints "pid <pid>" first and runs until killed (or, unexpectedly, to the end); when it
ends the parent of the workers prints "exit <wait status>". Every line is one ``os.write``, so a
line the test reads is a step the worker finished.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import verigator_nb.simulate as simulate_module
from tests._forking import say, serve
from verigator_nb.log import OutcomeLog
from verigator_nb.sandbox import Sandbox
from verigator_nb.simulate import Population, simulate


class _ReportingLog(OutcomeLog):
    """A durable OutcomeLog that says which row it has just written."""

    def append(self, row: Mapping[str, Any]) -> None:
        super().append(row)
        say(f"row {row['event_id']}")


class _LoginCounter:
    """Stands in for the simulator's tqdm bar, which it updates once per completed login."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.done = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        say(f"login {self.done}")

    def __enter__(self) -> _LoginCounter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


def _campaign(path: str, seed: str) -> None:
    simulate_module.tqdm = _LoginCounter  # type: ignore[assignment,misc]
    # Far more logins than a round lets finish: the worker is always killed mid-campaign.
    population = Population(users=40, logins_per_user=50, days=28)
    with Sandbox(seed=int(seed)) as sandbox:
        simulate(sandbox, population, seed=int(seed), log=_ReportingLog(path))
    say("finished")


if __name__ == "__main__":
    serve({"campaign": _campaign})
