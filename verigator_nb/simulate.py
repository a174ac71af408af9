"""A traffic simulator: a population of synthetic users logging in through the sandbox.

``simulate(sandbox, Population(...), seed=...)`` creates a service and its users, gives some
of them an authenticator app, then plays each login: the start request (TOTP or SMS), the user
reading the code after a delay, typos, retries and giving up. Delays run on the sandbox's clock,
so nothing sleeps and a month of traffic takes seconds. Every call lands in an ``OutcomeLog``.

A ``Sandbox`` is driven in process by default (``_in_process``: the client's real code path,
requests and all, minus the socket) and over its HTTP server with ``http=True``; both give the
same rows for the same seeds, but for the measured ``latency_ms``. In process, ``workers=N``
runs N processes, each on a sandbox shard of its own (``_simulate_shards``); over HTTP, and for
an ``Api`` target, N threads share the one server.

It refuses any target that is not a sandbox (one answering the ``/sandbox/`` endpoints), and a
sandbox on a non-loopback host unless ``allow_remote=True``: nobody sends real SMS by accident.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from ipaddress import ip_address
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from tqdm.auto import tqdm

from verigator_nb.client import Api
from verigator_nb.client._args import E164
from verigator_nb.errors import VerigatorError
from verigator_nb.models import METHOD_SMS, METHOD_TOTP, RESULT_INVALID, Initiation, User
from verigator_nb.sandbox import IN_PROCESS_URL, Sandbox, SandboxControl
from verigator_nb.schema import SIMULATED_TAG

if TYPE_CHECKING:  # pandas: a worker process needs none of it
    from verigator_nb.log import OutcomeLog

__all__ = [
    "COUNTRY_PREFIXES",
    "ConversionDrop",
    "NotASandboxError",
    "Population",
    "Progress",
    "PumpingAttack",
    "play_campaign",
    "simulate",
]

_IN_PROCESS_HOST = urlsplit(IN_PROCESS_URL).hostname  # reserved: no network ever answers it

# Each country's users get the prefix and seven drawn digits: a valid mobile number there.
COUNTRY_PREFIXES: Mapping[str, str] = {
    "GB": "+44740",
    "EE": "+3725",
    "US": "+1415",
    "DE": "+491512",
    "IN": "+91981",
    "BR": "+551199",
}
# A North American exchange cannot start with 0 or 1: US draws land on 2000000-9999999.
_LOWEST_DRAWN = {"US": 2_000_000}


@dataclass(frozen=True)
class PumpingAttack:
    """SMS pumping on top of a campaign: a bot signs up ``numbers`` consecutive numbers from
    ``first_number`` and starts an SMS login for each, spread evenly over ``hours`` from
    ``start_day`` days into the campaign; nobody ever verifies. A premium-rate
    ``first_number`` (e.g. ``+449098765000``) makes a premium-rate attack."""

    first_number: str = "+447400900000"
    numbers: int = 400
    start_day: float = 20.0
    hours: float = 2.0

    def __post_init__(self) -> None:
        if not E164.fullmatch(self.first_number) or self.numbers < 1 or self.hours <= 0:
            raise ValueError("an attack needs an E.164 first_number, numbers >= 1, hours > 0")
        if self.start_day < 0:
            raise ValueError("start_day must be 0 or later")

    def phone_numbers(self) -> list[str]:
        """The attacked numbers, consecutive."""
        first = int(self.first_number[1:])
        return [f"+{first + offset}" for offset in range(self.numbers)]


@dataclass(frozen=True)
class ConversionDrop:
    """From ``start_day`` on, users in ``country`` give up at ``give_up_rate`` (instead of
    the population's) before each try: conversion there falls, elsewhere it holds."""

    country: str
    start_day: float
    give_up_rate: float

    def __post_init__(self) -> None:
        if self.country not in COUNTRY_PREFIXES or not 0 <= self.give_up_rate <= 1:
            raise ValueError(f"country among {sorted(COUNTRY_PREFIXES)}, give_up_rate in 0-1")


class NotASandboxError(RuntimeError):
    """The simulator was pointed at something that is not a sandbox."""


@dataclass(frozen=True)
class Population:
    """Who the synthetic users are and how they behave. Rates are probabilities in [0, 1]."""

    users: int = 200
    logins_per_user: int = 3
    days: int = 28
    app_share: float = 0.35
    sms_request_share: float = 0.25
    typo_rate: float = 0.08
    give_up_rate: float = 0.04
    retry_rate: float = 0.85
    median_delay_seconds: float = 25.0
    countries: Mapping[str, float] = field(
        default_factory=lambda: {
            "GB": 0.35,
            "EE": 0.15,
            "US": 0.2,
            "DE": 0.15,
            "IN": 0.1,
            "BR": 0.05,
        }
    )
    attack: PumpingAttack | None = None
    drop: ConversionDrop | None = None

    def __post_init__(self) -> None:
        rates = ("app_share", "sms_request_share", "typo_rate", "give_up_rate", "retry_rate")
        for name in rates:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.users < 1 or self.logins_per_user < 1 or self.days < 1:
            raise ValueError("users, logins_per_user and days must be at least 1")
        unknown = set(self.countries) - set(COUNTRY_PREFIXES)
        if unknown or not self.countries:
            raise ValueError(f"countries must be among {sorted(COUNTRY_PREFIXES)}")


@dataclass(frozen=True)
class _Login:
    at_seconds: float
    service_id: str
    user_id: str
    country: str = ""
    attack: bool = False  # a bot's SMS start, never verified


class Progress(Protocol):
    """What the simulator reports progress to: a tqdm bar, or a worker's shared counter."""

    def update(self, n: float | None = 1) -> object:
        """``n`` more logins played."""


def simulate(
    target: Sandbox | Api,
    population: Population | None = None,
    *,
    seed: int = 0,
    log: OutcomeLog | None = None,
    workers: int = 1,
    tags: str = SIMULATED_TAG,
    progress: bool | None = None,
    allow_remote: bool = False,
    http: bool = False,
) -> OutcomeLog:
    """Drive ``population`` through a sandbox and return the outcome log of every call.

    ``target`` is a ``Sandbox``, or an ``Api`` for a sandbox started from the shell. A
    ``Sandbox`` is called in process unless ``http=True`` (which needs it serving HTTP);
    either way the same seeds give the same log, ``latency_ms`` aside. ``workers=N`` in
    process runs N processes, each on a sandbox shard of its own made from ``target``'s
    settings, seed and faults (its state is left alone): the same seeds and N give the same
    log, but not the log of another N. From a script, call it under
    ``if __name__ == "__main__":``, as multiprocessing requires. Over HTTP (or for an ``Api``)
    N threads share one server and one clock, so their interleaving varies. A typed error
    (an injected fault, a locked-out user) ends that login, the log keeping the row of any API
    call it broke. ``progress`` shows a notebook-aware bar (default: on above 2,000 logins).
    Raises ``NotASandboxError`` for anything but a sandbox.
    """
    population = population or Population()
    if log is None:
        from verigator_nb.log import OutcomeLog

        log = OutcomeLog()
    workers = max(1, workers)
    base, control = _clients(target, http)
    _require_sandbox(base, control, allow_remote)
    total = population.users * population.logins_per_user
    total += population.attack.numbers if population.attack is not None else 0
    show = progress if progress is not None else total > 2000
    with tqdm(total=total, disable=not show, desc="logins", unit="login") as bar:
        if isinstance(target, Sandbox) and not http and workers > 1:
            from verigator_nb._simulate_shards import simulate_in_processes

            simulate_in_processes(target, population, seed, log, workers, tags, bar)
        else:
            api = base.with_log(log, tags=tags)
            play_campaign(api, control, population, seed=seed, bar=bar, workers=workers)
    return log


def _clients(target: Sandbox | Api, http: bool) -> tuple[Api, SandboxControl]:
    """The client and the play-the-user controls ``target`` is driven through."""
    if isinstance(target, Sandbox):
        base = target.api(http=http)
        return base, target.control(base)
    return target, SandboxControl(target)


def play_campaign(
    api: Api,
    control: SandboxControl,
    population: Population,
    *,
    seed: int,
    bar: Progress,
    workers: int = 1,
    first_user: int = 0,
) -> None:
    """Enrol ``population`` (user numbers from ``first_user``) and play its logins through
    ``api`` (which records the rows), on ``workers`` threads."""
    rng = random.Random(seed)
    service_id, users = _enrol_population(api, control, population, rng, seed, first_user)
    logins = _schedule(service_id, users, population, rng)
    if population.attack is not None:
        logins = _with_attack(api, service_id, population.attack, logins)
    _run_logins(api, control, population, logins, seed, workers, bar)


def _require_sandbox(api: Api, control: SandboxControl, allow_remote: bool) -> None:
    host = urlsplit(api.endpoint).hostname or ""
    try:
        control.now()
    except VerigatorError as exc:
        raise NotASandboxError(
            f"{host} does not answer the sandbox endpoints; the simulator only drives a sandbox"
        ) from exc
    if not (_is_local(host) or allow_remote):
        raise NotASandboxError(
            f"{host} is not on this machine; pass allow_remote=True if it is a sandbox"
        )


def _is_local(host: str) -> bool:
    """Loopback, or the in-process sandbox's name (reserved: no network ever answers it)."""
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", _IN_PROCESS_HOST)


def _enrol_population(
    api: Api,
    control: SandboxControl,
    population: Population,
    rng: random.Random,
    seed: int,
    first_user: int = 0,
) -> tuple[str, list[tuple[User, str]]]:
    """Create the campaign's service and users; give ``app_share`` of them an app."""
    service = api.services.create(f"campaign-{seed}.example.com", f"Campaign {seed}")
    countries, weights = zip(*population.countries.items(), strict=True)
    users = []
    for index in range(first_user, first_user + population.users):
        country = rng.choices(countries, weights)[0]
        number = _phone_number(country, rng.randrange(10**7))
        user = api.users.create(service.id, number, f"user{index:05d}@example.com")
        if rng.random() < population.app_share:
            control.enrol_totp(service.id, user.id)
        users.append((user, country))
    return service.id, users


def _phone_number(country: str, drawn: int) -> str:
    """The country's prefix and seven digits made from ``drawn`` (0 to 10**7 - 1)."""
    lowest = _LOWEST_DRAWN.get(country, 0)
    return COUNTRY_PREFIXES[country] + f"{lowest + drawn * (10**7 - lowest) // 10**7:07d}"


def _with_attack(
    api: Api, service_id: str, attack: PumpingAttack, logins: list[_Login]
) -> list[_Login]:
    """``logins`` with the attack's: one SMS start per attacked number, evenly spread."""
    start, span = attack.start_day * 86_400, attack.hours * 3_600
    bots = []
    for offset, number in enumerate(attack.phone_numbers()):
        user = api.users.create(service_id, number, f"bot{offset:05d}@example.net")
        at = start + span * offset / attack.numbers
        bots.append(_Login(at, service_id, user.id, attack=True))
    return sorted([*logins, *bots], key=lambda login: login.at_seconds)


def _schedule(
    service_id: str,
    users: Sequence[tuple[User, str]],
    population: Population,
    rng: random.Random,
) -> list[_Login]:
    """Every user's logins at random moments over ``days``, in time order."""
    span = population.days * 86_400
    logins = [
        _Login(rng.uniform(0, span), service_id, user.id, country)
        for user, country in users
        for _ in range(population.logins_per_user)
    ]
    return sorted(logins, key=lambda login: login.at_seconds)


def _run_logins(
    api: Api,
    control: SandboxControl,
    population: Population,
    logins: list[_Login],
    seed: int,
    workers: int,
    bar: Progress,
) -> None:
    """Play the logins, in one thread or spread by user over ``workers`` threads."""
    start = control.now()
    if workers == 1:
        _play_all(api, control, population, logins, random.Random(seed + 1), start, bar)
        return
    shards: list[list[_Login]] = [[] for _ in range(workers)]
    owner: dict[str, int] = {}
    for login in logins:  # one user's logins stay in one worker, in order
        shards[owner.setdefault(login.user_id, len(owner) % workers)].append(login)
    threads = []
    for index, shard in enumerate(shards):
        fork = api.fork()  # a requests.Session is not thread-safe: one per worker thread
        args = (fork, SandboxControl(fork), population, shard, random.Random(seed + 1 + index))
        threads.append(threading.Thread(target=_play_all, args=(*args, start, bar)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _play_all(
    api: Api,
    control: SandboxControl,
    population: Population,
    logins: list[_Login],
    rng: random.Random,
    start: datetime,
    bar: Progress,
) -> None:
    for login in logins:
        try:
            behind = (start + timedelta(seconds=login.at_seconds) - control.now()).total_seconds()
            if behind > 0:
                control.advance(behind)
            _play_login(api, control, population, login, rng)
        except VerigatorError:
            pass  # e.g. an injected fault, or a locked-out user: the log has any API call's row
        bar.update()


def _play_login(
    api: Api, control: SandboxControl, population: Population, login: _Login, rng: random.Random
) -> None:
    """One login: start, then up to four tries of reading the code and typing it.

    A ``VerigatorError`` from any call ends it (the caller carries on with the next login).
    A bot's login (an attack) asks for an SMS and goes no further.
    """
    if login.attack:
        api.auth.initiate(login.service_id, login.user_id, METHOD_SMS)
        return
    method = METHOD_SMS if rng.random() < population.sms_request_share else METHOD_TOTP
    started = api.auth.initiate(login.service_id, login.user_id, method)
    median = population.median_delay_seconds
    give_up = _give_up_rate(population, login)
    for attempt in range(4):
        if rng.random() < give_up:
            return
        control.advance(_delay(rng, median if attempt == 0 else median / 3))
        code = _code_for(control, started)
        typed = _typo(code, rng) if rng.random() < population.typo_rate else code
        outcome = api.auth.verify(started, typed)
        if outcome.verified or outcome.result != RESULT_INVALID:
            return
        if rng.random() > population.retry_rate:
            return


def _give_up_rate(population: Population, login: _Login) -> float:
    """The population's give-up rate, or the drop's for its country from its day on."""
    drop = population.drop
    if drop is None or login.country != drop.country:
        return population.give_up_rate
    return (
        drop.give_up_rate
        if login.at_seconds >= drop.start_day * 86_400
        else population.give_up_rate
    )


def _delay(rng: random.Random, median: float) -> float:
    """Seconds before the user types: log-normal, so a few are slow enough to expire."""
    return median * math.exp(rng.gauss(0.0, 1.0))


def _code_for(control: SandboxControl, started: Initiation) -> str:
    if started.method == METHOD_SMS and started.auth_id:
        return control.pin_for(started.auth_id)
    return control.totp_code(started.service_id, started.user_id)


def _typo(code: str, rng: random.Random) -> str:
    """The code with one digit mistyped."""
    position = rng.randrange(len(code))
    wrong = str((int(code[position]) + rng.randrange(1, 10)) % 10)
    return code[:position] + wrong + code[position + 1 :]
