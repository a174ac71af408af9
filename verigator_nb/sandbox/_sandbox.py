"""``Sandbox``: the emulator in a background thread, with a client and controls to match.

::

    with Sandbox(seed=7) as sb, sb.api() as api:
        service = api.services.create("www.example.com", "CoffeeShop")
        you = sb.control(api)                       # play the user: outbox, TOTP app, clock

``Sandbox(http=False)`` starts no server: its clients reach the router in this process
through a ``requests`` transport adapter (``_in_process``, like moto's mock mode), with the
same answers, typed errors, faults and log rows as over HTTP, only no socket — several times
faster, for simulations. ``sb.api(http=False)`` is such a client for a sandbox that also
serves HTTP. Faults behave as over HTTP, except that only the read timeout bounds their waits
(see ``_in_process``).

With a seed everything is reproducible: the clock starts at 2026-01-01T00:00:00Z and moves only
when advanced, and ids, PINs and secrets repeat for the same calls (and injected faults hit the
same calls). Without one it runs on real time and ``secrets``.

To see how a client copes with a broken server, ``sb.inject(Fault("verify", "stall",
seconds=2))`` breaks calls on purpose and ``sb.requests_seen("verify")`` counts what arrived.
Faults and counts are per account (no account sees or breaks another's calls); in process
they are the first account's — the one ``sb.api()`` uses — unless ``username=`` names another.

An in-process sandbox is one person's: it lets its clients advance the clock over HTTP
(``SandboxControl.advance``, which notebooks, the simulator and the tests use) unless
``shared_clock_control=False``. A sandbox started from the shell (``verigator-nb sandbox``)
may be shared, so there it is off unless ``--shared-clock-control`` is given: the clock is
shared by every account, and one account moving it would expire the others' PINs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from verigator_nb.client import Api
from verigator_nb.sandbox._backend import SandboxBackend
from verigator_nb.sandbox._control import Door, SandboxControl
from verigator_nb.sandbox._door import InProcessDoor
from verigator_nb.sandbox._faults import Fault, FaultPlan
from verigator_nb.sandbox._in_process import (
    IN_PROCESS_URL,
    InProcessAdapter,
    in_process_adapter,
    in_process_session,
)
from verigator_nb.sandbox._routes import Router
from verigator_nb.sandbox._server import SandboxServer
from verigator_nb.schema import SANDBOX_ENDPOINT

__all__ = ["Sandbox"]


class Sandbox:
    """A Verigator sandbox served over HTTP on ``host:port`` (``port=0``: a free one).

    ``http=False`` serves nothing: its clients call it in this process (``url`` is then
    ``IN_PROCESS_URL``, which no network name resolves to).

    ``remote_faults=True`` also lets clients set their own account's faults over HTTP
    (``POST /sandbox/faults``); ``inject`` works either way. ``shared_clock_control`` (on by
    default here, off for the command line) lets clients advance the shared clock over HTTP;
    ``user_endpoints=False`` serves no play-the-user calls (outbox, TOTP app, clock: 404).
    ``backend`` holds the rules and state, ``router`` the faults and the traffic count; both
    outlive a ``stop()`` and ``start()``.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        accounts: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        remote_faults: bool = False,
        shared_clock_control: bool = True,
        user_endpoints: bool = True,
        http: bool = True,
    ) -> None:
        self.http = http
        self.backend = SandboxBackend(accounts=accounts, seed=seed)
        self.router = Router(
            self.backend,
            remote_faults=remote_faults,
            shared_clock_control=shared_clock_control,
            user_endpoints=user_endpoints,
        )
        self.seed = seed
        self._host, self._port = host, port
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None if http else IN_PROCESS_URL
        self._in_process_on = False
        self._adapter: InProcessAdapter | None = None
        self._clients_made = 0

    def start(self) -> Sandbox:
        """Bind and serve in a daemon thread (no-op when already running); returns self.

        In process there is nothing to start: it only marks the sandbox running.
        """
        if not self.http:
            self._in_process_on = True
        elif self._server is None:
            server = SandboxServer(self.router, self._host, self._port)
            thread = threading.Thread(target=server.run, name="verigator-sandbox", daemon=True)
            thread.start()
            self._server, self._thread, self._url = server, thread, server.url
        return self

    def stop(self) -> None:
        """Stop serving and close the socket and open connections (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        self._in_process_on = False
        if server is not None:
            server.stop()
        if thread is not None:
            thread.join(timeout=5.0)

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._server is not None or self._in_process_on

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (RuntimeError before the first ``start()``), or
        ``IN_PROCESS_URL`` in process."""
        if self._url is None:
            raise RuntimeError("the sandbox has not been started")
        return self._url

    @property
    def username(self) -> str:
        """The first account's username (``"sandbox"`` by default)."""
        return self.backend.usernames[0]

    def now(self) -> datetime:
        """The sandbox clock, UTC-aware."""
        return datetime.fromtimestamp(self.backend.now(), UTC)

    @property
    def faults(self) -> FaultPlan:
        """The first account's faults; ``faults.snapshot()`` shows how many calls each broke."""
        return self.router.faults

    def faults_of(self, username: str) -> FaultPlan:
        """``username``'s faults; ``ValueError`` for a name that is not an account."""
        return self.router.plan(self._account(username))

    def inject(self, *faults: Fault, username: str | None = None) -> None:
        """Add faults: calls from now on may be broken as they say (see ``Fault``).

        They break only the calls of ``username``'s account (default: the first).
        """
        self.router.plan(self._account(username)).add(faults)

    def clear_faults(self, *, username: str | None = None) -> None:
        """Remove every fault of ``username`` (default: the first account)."""
        self.router.plan(self._account(username)).clear()

    def requests_seen(self, route: str = "*", *, username: str | None = None) -> int:
        """How many calls matching ``route`` reached the server, broken or not.

        Counts the calls of ``username``'s account (default: the first). ``route`` is written
        as a fault's: ``"*"``, an operation (``"verify"``) or ``"METHOD /path"`` with ``*``
        for each path parameter; ``ValueError`` for an unknown one.
        """
        return self.router.traffic.count(route, self._account(username))

    def _account(self, username: str | None) -> str:
        user = self.username if username is None else username
        if user not in self.backend.usernames:
            raise ValueError(f"no sandbox account named {user[:40]!r}")
        return user

    def api(
        self,
        *,
        log: Any = None,
        username: str | None = None,
        http: bool | None = None,
        **kwargs: Any,
    ) -> Api:
        """A client for this sandbox, timestamping log rows with the sandbox clock.

        ``username`` picks the account (default: the first); ``http`` how it is reached
        (default: as the sandbox is served; ``False``: in process even when it also serves
        HTTP); other keywords go to ``Api``. RuntimeError for ``http=True`` on an in-process
        sandbox, ValueError for a ``session=`` in process (it brings its own).
        """
        user = self._account(username)
        over_http = self.http if http is None else http
        if over_http and not self.http:
            raise RuntimeError("this sandbox serves no HTTP: make it with Sandbox(http=True)")
        if not over_http and "session" in kwargs:
            raise ValueError("session cannot be given to an in-process client")
        if self.seed is not None:  # seeded: log ids repeat too, distinct for each client made
            self._clients_made += 1
            kwargs.setdefault("id_seed", self.seed * 1_000_003 + self._clients_made)
        url = self.url if over_http else IN_PROCESS_URL
        if not over_http:
            retries = {"retries": kwargs["retries"]} if "retries" in kwargs else {}
            kwargs["session"] = in_process_session(self.router, **retries)
        password = self.backend.password_of(user)
        return Api(user, password, url, log=log, clock=self.now, label=SANDBOX_ENDPOINT, **kwargs)

    def control(self, api: Api | None = None) -> SandboxControl:
        """Play-the-user helpers, through ``api`` (default: a new client for the first account).

        For an in-process client they call the router directly (no ``requests`` round trip),
        with the same answers and errors, as ``api``'s account.
        """
        api = api if api is not None else self.api()
        return SandboxControl(api, door=self._door(api))

    def _door(self, api: Api) -> Door | None:
        """A direct door for an in-process client of one of this sandbox's accounts."""
        if api.endpoint != IN_PROCESS_URL or api.username not in self.backend.usernames:
            return None
        if self._adapter is None:
            self._adapter = in_process_adapter(self.router)
        credentials = f"{api.username}:{self.backend.password_of(api.username)}"
        return InProcessDoor(self._adapter, credentials, read_timeout=api.timeout.read)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = "in process" if not self.http else self._url if self.running else "not running"
        return f"Sandbox({where}, accounts={list(self.backend.usernames)!r})"
