"""The traffic simulator against the real sandbox: reproducible, behaving as configured, safe.

A ``Sandbox`` is driven in process unless ``http=True``; both must give the same rows.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from pathlib import Path

import pandas as pd
import pytest

import verigator_nb._simulate_shards as shards_module
from tests._scripted_server import Reply, ScriptedServer
from verigator_nb import analysis
from verigator_nb.cli import build_parser
from verigator_nb.client import Api
from verigator_nb.demo import LOG_FILE, run_campaign
from verigator_nb.log import OutcomeLog
from verigator_nb.sandbox import Fault, Sandbox
from verigator_nb.schema import LATENCY_MS
from verigator_nb.simulate import NotASandboxError, Population, simulate

SMALL = Population(users=12, logins_per_user=2, days=3)
_VARYING = ["event_id", "session_id", "latency_ms"]


def _run(
    population: Population = SMALL,
    *,
    seed: int = 1,
    workers: int = 1,
    http: bool = False,
    faults: tuple[Fault, ...] = (),
) -> pd.DataFrame:
    with Sandbox(seed=seed) as sb:
        sb.inject(*faults)
        return simulate(sb, population, seed=seed, workers=workers, http=http).df


def _measured_aside(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[LATENCY_MS])


def test_same_seeds_give_the_same_log() -> None:
    first, second = _run(), _run()
    assert len(first) > 2 * SMALL.users
    assert first.drop(columns=_VARYING).equals(second.drop(columns=_VARYING))


def test_different_seeds_give_different_logs() -> None:
    assert not _run(seed=1).drop(columns=_VARYING).equals(_run(seed=2).drop(columns=_VARYING))


def test_everyone_with_an_app_never_falls_back() -> None:
    everyone = Population(users=10, app_share=1.0, sms_request_share=0.0, typo_rate=0.0)
    frame = _run(everyone)
    assert analysis.fallback_rate(frame)["rate"].iloc[0] == 0.0
    assert set(frame["method"].dropna()) == {"totp"}


def test_nobody_with_an_app_always_falls_back() -> None:
    nobody = Population(users=10, app_share=0.0, sms_request_share=0.0)
    assert analysis.fallback_rate(_run(nobody))["rate"].iloc[0] == 1.0


def test_careful_quick_users_always_verify() -> None:
    careful = Population(users=10, typo_rate=0.0, give_up_rate=0.0, median_delay_seconds=1.0)
    rates = analysis.success_rate(_run(careful), per="session")
    assert rates["rate"].iloc[0] == 1.0


def test_users_who_always_mistype_never_verify_and_retry() -> None:
    clumsy = Population(users=6, typo_rate=1.0, give_up_rate=0.0, retry_rate=1.0)
    frame = _run(clumsy)
    verifies = frame[frame["action"] == "verify"]
    assert not verifies["verified"].any()
    assert verifies["attempt"].max() == 4
    assert set(verifies["result"].dropna()) <= {"INVALID", "THROTTLED"}


def test_logins_spread_over_the_days_on_the_sandbox_clock() -> None:
    frame = _run(Population(users=20, days=5))
    span = frame["ts"].max() - frame["ts"].min()
    assert 3 * 86_400 < span.total_seconds() < 5.1 * 86_400


def test_parallel_workers_over_http_record_every_call_once() -> None:
    frame = _run(Population(users=30, logins_per_user=2), workers=3, http=True)
    initiates = frame[frame["action"] == "initiate"]
    assert len(initiates) == 60
    assert frame["event_id"].is_unique
    verifies = frame[frame["action"] == "verify"]
    assert set(verifies["session_id"]) <= set(initiates["session_id"])
    assert (frame["error"] == "").all()


def test_refuses_a_server_that_is_not_a_sandbox() -> None:
    with ScriptedServer([Reply(404, b'{"message": "not found"}')]) as server:
        with pytest.raises(NotASandboxError, match="only drives a sandbox"):
            simulate(Api("u", "p", server.url), SMALL)
        assert all(seen.method == "GET" for seen in server.seen), "nothing may be created"


def _own_lan_address() -> str | None:
    """This machine's address on its first non-loopback interface, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # UDP connect sends nothing
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if ipaddress.ip_address(address).is_loopback else address


def test_refuses_a_sandbox_on_another_host_unless_told() -> None:
    address = _own_lan_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to play a remote host")
    with ScriptedServer([Reply(200, b'{"now": 1767225600}')], host="0.0.0.0") as server:
        remote = Api("u", "p", f"http://{address}:{server.port}")
        with pytest.raises(NotASandboxError, match="not on this machine"):
            simulate(remote, SMALL)
        assert [seen.path for seen in server.seen] == ["/sandbox/clock"]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        pytest.param({"typo_rate": 1.5}, "typo_rate must be between 0 and 1", id="rate-above-one"),
        pytest.param({"users": 0}, "users", id="no-users"),
        pytest.param({"countries": {"XX": 1.0}}, "countries must be among", id="unknown-country"),
    ],
)
def test_population_refuses_impossible_settings(kwargs, named) -> None:
    with pytest.raises(ValueError, match=named):
        Population(**kwargs)


# -- in process and over HTTP: the same rows ----------------------------------------------------

FAULTS = (
    Fault("verify", "error", rate=0.1),
    Fault("initiate", "malformed", rate=0.05, when="after"),
    Fault("verify", "reset", rate=0.05, when="after"),
    Fault("verify", "stall", rate=0.05, seconds=0.01),  # closed unanswered, within the timeout
    Fault("initiate", "latency", rate=0.1, seconds=0.001),
    # The user's phone: a GET, retried (once: back-to-back retries would wait their backoff).
    Fault("GET /sandbox/outbox", "reset", rate=0.2, count=1),
)


@pytest.mark.parametrize(
    ("seed", "population", "faults"),
    [
        pytest.param(1, Population(users=8, logins_per_user=2, days=2), (), id="small"),
        pytest.param(
            2, Population(users=12, app_share=0.8, typo_rate=0.3, days=3), (), id="apps-typos"
        ),
        pytest.param(
            3, Population(users=10, sms_request_share=0.6, give_up_rate=0.2), FAULTS, id="faults"
        ),
        pytest.param(4, Population(users=15, logins_per_user=3, days=5), FAULTS, id="faults-more"),
    ],
)
def test_in_process_and_over_http_give_the_same_rows(
    seed: int, population: Population, faults: tuple[Fault, ...]
) -> None:
    in_process = _run(population, seed=seed, faults=faults)
    over_http = _run(population, seed=seed, faults=faults, http=True)
    assert len(in_process) >= 2 * population.users
    pd.testing.assert_frame_equal(_measured_aside(in_process), _measured_aside(over_http))
    if faults:
        assert (in_process["error"] != "").sum() >= 3, "the faults broke some calls"


def test_http_needs_a_sandbox_that_serves_it() -> None:
    with Sandbox(seed=1, http=False) as sb, pytest.raises(RuntimeError, match="serves no HTTP"):
        simulate(sb, SMALL, http=True)


def test_the_demo_over_http_writes_the_log_of_the_in_process_simulation(tmp_path: Path) -> None:
    tiny = Population(users=4, logins_per_user=2, days=2)
    said: list[str] = []
    run_campaign(tmp_path, population=tiny, seed=3, say=said.append, http=True)
    assert re.match(r"sandbox listening on http://127\.0\.0\.1:\d+; simulating 4 users", said[0])
    with Sandbox(seed=3, http=False) as sb:
        in_process = simulate(sb, tiny, seed=3, tags="demo-campaign").df
    over_http = OutcomeLog.load(tmp_path / LOG_FILE).df
    pd.testing.assert_frame_equal(_measured_aside(over_http), _measured_aside(in_process))


@pytest.mark.parametrize("command", ["demo", "sample-data"])
def test_the_commands_keep_the_server_with_http(command: str) -> None:
    assert build_parser().parse_args([command, "--http"]).http is True
    assert build_parser().parse_args([command]).http is False


# -- workers: one process per shard ----------------------------------------------------------------


def test_workers_run_one_process_per_shard_and_repeat_for_the_same_seed_and_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reports: list[list[shards_module.ShardResult]] = []
    real = shards_module.simulate_in_processes

    def spy(*args: object) -> list[shards_module.ShardResult]:
        reports.append(real(*args))  # type: ignore[arg-type]
        return reports[-1]

    monkeypatch.setattr(shards_module, "simulate_in_processes", spy)
    population = Population(users=12, logins_per_user=2, days=3)
    first, second = (_run(population, seed=5, workers=2) for _ in range(2))
    pd.testing.assert_frame_equal(_measured_aside(first), _measured_aside(second))
    pids = [shard.pid for shard in reports[0]]
    assert len(set(pids)) == 2 and os.getpid() not in pids, "two worker processes"
    assert [shard.rows for shard in reports[0]] == [shard.rows for shard in reports[1]]
    assert len(first) == sum(shard.rows for shard in reports[0])
    assert first["ts"].is_monotonic_increasing, "merged in time order"
    initiates = first[first["action"] == "initiate"]
    assert len(initiates) == 24 and first["event_id"].is_unique, "every call once"
    verifies = first[first["action"] == "verify"]
    assert set(verifies["session_id"]) <= set(initiates["session_id"])
    assert (first["error"] == "").all()


def test_a_worker_that_fails_says_which_and_why() -> None:
    with Sandbox(seed=1, http=False) as sb:
        sb.inject(Fault("create_service", "error"))
        with pytest.raises(RuntimeError, match=r"simulation worker \d failed: InternalError"):
            simulate(sb, SMALL, seed=1, workers=2)
