"""``Sandbox``: the emulator in a background thread, with a client and controls to match.

::

    with Sandbox(seed=7) as sb, sb.api() as api:
        service = api.services.create("www.example.com", "CoffeeShop")
        you = sb.control(api)                       # play the user: outbox, TOTP app, clock

With a seed everything is reproducible: the clock starts at 2026-01-01T00:00:00Z and moves only
when advanced, and ids, PINs and secrets repeat for the same calls (and injected faults hit the
same calls). Without one it runs on real time and ``secrets``.

To see how a client copes with a broken server, ``sb.inject(Fault("verify", "stall",
seconds=2))`` breaks calls on purpose and ``sb.requests_seen("verify")`` counts what arrived.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from verigator_nb.client import Api
from verigator_nb.sandbox._backend import SandboxBackend
from verigator_nb.sandbox._control import SandboxControl
from verigator_nb.sandbox._faults import Fault, FaultPlan
from verigator_nb.sandbox._routes import Router
from verigator_nb.sandbox._server import SandboxServer

__all__ = ["Sandbox"]


class Sandbox:
    """A Verigator sandbox served over HTTP on ``host:port`` (``port=0``: a free one).

    ``remote_faults=True`` also lets clients set faults over HTTP (``POST /sandbox/faults``);
    ``inject`` works either way. ``backend`` holds the rules and state, ``router`` the faults
    and the traffic count; both outlive a ``stop()`` and ``start()``.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        accounts: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        remote_faults: bool = False,
    ) -> None:
        self.backend = SandboxBackend(accounts=accounts, seed=seed)
        self.router = Router(self.backend, remote_faults=remote_faults)
        self.seed = seed
        self._host, self._port = host, port
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._clients_made = 0

    def start(self) -> Sandbox:
        """Bind and serve in a daemon thread (no-op when already running); returns self."""
        if self._server is None:
            server = SandboxServer(self.router, self._host, self._port)
            thread = threading.Thread(target=server.run, name="verigator-sandbox", daemon=True)
            thread.start()
            self._server, self._thread, self._url = server, thread, server.url
        return self

    def stop(self) -> None:
        """Stop serving and close the socket and open connections (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.stop()
        if thread is not None:
            thread.join(timeout=5.0)

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._server is not None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; RuntimeError before the first ``start()``."""
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
        """The faults in force; ``faults.snapshot()`` shows how many calls each has broken."""
        return self.router.faults

    def inject(self, *faults: Fault) -> None:
        """Add faults: calls from now on may be broken as they say (see ``Fault``)."""
        self.router.faults.add(faults)

    def clear_faults(self) -> None:
        """Remove every fault: calls from now on are answered as usual."""
        self.router.faults.clear()

    def requests_seen(self, route: str = "*") -> int:
        """How many calls matching ``route`` reached the server, broken or not.

        ``route`` is written as a fault's: ``"*"``, an operation (``"verify"``) or
        ``"METHOD /path"``; ``ValueError`` for an unknown one.
        """
        return self.router.traffic.count(route)

    def api(self, *, log: Any = None, username: str | None = None, **kwargs: Any) -> Api:
        """A client for this sandbox, timestamping log rows with the sandbox clock.

        ``username`` picks the account (default: the first); other keywords go to ``Api``.
        """
        user = self.username if username is None else username
        try:
            password = self.backend.password_of(user)
        except KeyError:
            raise ValueError(f"no sandbox account named {user!r}") from None
        if self.seed is not None:  # seeded: log ids repeat too, distinct for each client made
            self._clients_made += 1
            kwargs.setdefault("id_seed", self.seed * 1_000_003 + self._clients_made)
        return Api(user, password, self.url, log=log, clock=self.now, label="sandbox", **kwargs)

    def control(self, api: Api | None = None) -> SandboxControl:
        """Play-the-user helpers, through ``api`` (default: a new client for the first account)."""
        return SandboxControl(api if api is not None else self.api())

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._url if self.running else "not running"
        return f"Sandbox({where}, accounts={list(self.backend.usernames)!r})"
