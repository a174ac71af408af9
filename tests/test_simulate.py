"""The traffic simulator against the real sandbox: reproducible, behaving as configured, safe."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from tests._scripted_server import Reply, ScriptedServer
from verigator_nb import analysis
from verigator_nb.client import Api
from verigator_nb.sandbox import Sandbox
from verigator_nb.simulate import NotASandboxError, Population, simulate

SMALL = Population(users=12, logins_per_user=2, days=3)
_VARYING = ["event_id", "session_id", "latency_ms"]


def _run(population: Population = SMALL, *, seed: int = 1, workers: int = 1):
    with Sandbox(seed=seed) as sb:
        return simulate(sb, population, seed=seed, workers=workers).df


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


def test_parallel_workers_record_every_call_once() -> None:
    frame = _run(Population(users=30, logins_per_user=2), workers=3)
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
