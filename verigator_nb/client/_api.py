"""The Verigator client: ``Api`` with the official client's shapes, typed and fast.

::

    api = Api("username", "password")                       # or Api.from_env()
    service = api.services.create("www.example.com", "CoffeeShop")
    user = api.users.create(service.id, "+4401234567", "john.doe@example.com")
    started = api.auth.initiate(service.id, user.id, api.auth.METHOD_TOTP)
    verified, error = api.auth.verify(service.id, user.id, token)

Arguments are checked before anything is sent (``ValueError`` naming the argument, never
echoing a credential); failures raise the typed errors of ``verigator_nb.errors``; a wrong PIN
is ``verified=False``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from verigator_nb.client._args import (
    require_credential,
    require_endpoint,
    require_tags,
)
from verigator_nb.client._auth import Auth
from verigator_nb.client._recorder import Recorder, RowSink, utc_now
from verigator_nb.client._resources import Services, Users
from verigator_nb.client._transport import DEFAULT_TIMEOUT, Timeout, Transport, normalize_timeout

__all__ = ["DEFAULT_ENDPOINT", "Api"]

DEFAULT_ENDPOINT = "https://api.verigator.com"


class Api:
    """A Verigator client: ``api.services``, ``api.users`` and ``api.auth``.

    One pooled ``requests.Session`` per ``Api`` (pass ``session=`` to bring your own, used as
    is); timeouts always on: a number, a ``(connect, read)`` pair of seconds or a ``Timeout``
    with a ``total`` per call (default ``connect + read``). Redirects are never followed.
    Proxy and CA bundle settings are read from the environment here, once, as requests reads
    them (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``...), and ``.netrc`` never; a
    session passed in reads them per call if its ``trust_env`` says so.
    Credentials with surrounding whitespace, control characters, characters outside Latin-1
    or (for the username) a ``:``, and an endpoint URL holding credentials, are refused with
    a ``ValueError`` that does not echo them. Give ``log=`` an ``OutcomeLog`` and
    every initiate and verify call becomes a row. ``clock`` timestamps rows (the sandbox passes
    its own); ``label`` names the endpoint in rows (default: the endpoint's host); ``id_seed``
    makes row and session ids repeat from run to run (a seeded sandbox passes one).
    """

    def __init__(
        self,
        username: str,
        password: str,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        timeout: float | tuple[float, float] | Timeout = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        retries: int = 3,
        log: RowSink | None = None,
        clock: Callable[[], datetime] | None = None,
        label: str | None = None,
        tags: str | Iterable[str] = "",
        id_seed: int | None = None,
    ) -> None:
        self.username = require_credential("username", username)
        require_credential("password", password)
        self.endpoint = require_endpoint(endpoint)
        tag_text = require_tags(tags)
        self._transport = Transport(
            self.endpoint,
            f"{username}:{password}",
            timeout=normalize_timeout(timeout),
            session=session,
            retries=retries,
        )
        self._recorder = Recorder(
            log,
            clock=clock or utc_now,
            endpoint=label or urlsplit(self.endpoint).netloc,
            tags=tag_text,
            id_seed=id_seed,
        )
        self._bind()

    def _bind(self) -> None:
        """Give the namespaces what they use: the transport, and the recorder for rows."""
        self.services = Services(self._transport)
        self.users = Users(self._transport, self._recorder)
        self.auth = Auth(self._transport, self._recorder)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, endpoint: str | None = None, **kwargs: Any
    ) -> Api:
        """Build from ``VERIGATOR_USERNAME``, ``VERIGATOR_PASSWORD`` and ``VERIGATOR_ENDPOINT``.

        The endpoint is required (``endpoint=`` overrides the variable): there is no default
        host to fall back on, since ``DEFAULT_ENDPOINT`` is the retired vendor API.
        """
        env = os.environ if environ is None else environ
        found = {
            "VERIGATOR_USERNAME": env.get("VERIGATOR_USERNAME"),
            "VERIGATOR_PASSWORD": env.get("VERIGATOR_PASSWORD"),
            "VERIGATOR_ENDPOINT": endpoint or env.get("VERIGATOR_ENDPOINT"),
        }
        missing = [name for name, value in found.items() if not value]
        if missing:
            raise ValueError(f"environment variable(s) not set: {', '.join(missing)}")
        username, password, url = found.values()
        return cls(username, password, url, **kwargs)  # type: ignore[arg-type]

    @property
    def timeout(self) -> Timeout:
        """The timeout in seconds: ``connect``, each ``read``, and ``total`` per call."""
        return self._transport.timeout

    @property
    def log(self) -> RowSink | None:
        """The outcome log this client records to, if any."""
        return self._recorder.sink

    def with_log(self, log: RowSink | None, *, tags: str | Iterable[str] | None = None) -> Api:
        """A client sharing this one's connections and settings that records to ``log``.

        ``tags`` replaces this client's tags (``ValueError`` if a log could not store them).
        """
        tag_text = None if tags is None else require_tags(tags)
        twin = copy.copy(self)
        twin._recorder = self._recorder.with_sink(log, tags=tag_text)
        twin._bind()
        return twin

    def fork(self) -> Api:
        """A client like this one with its own connection pool, for use in another thread.

        A ``requests.Session`` is not thread-safe, so concurrent callers each take a fork.
        """
        twin = copy.copy(self)
        twin._recorder = self._recorder.with_sink(self._recorder.sink)
        twin._transport = self._transport.fork()
        twin._bind()
        return twin

    def request(
        self, method: str, path: str, body: Mapping[str, Any] | list[Any] | None = None
    ) -> Any:
        """Send one JSON call to ``endpoint + path``; return the decoded answer.

        The low-level door used by the namespaces and the sandbox's helpers; raises the typed
        errors of ``verigator_nb.errors``.
        """
        return self._transport.request(method, path, body)[1]

    def now(self) -> datetime:
        """The clock this client timestamps with (the sandbox's, for a sandbox client)."""
        return self._recorder.clock()

    def close(self) -> None:
        """Close pooled connections."""
        self._transport.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Api(username={self.username!r}, password='***', endpoint={self.endpoint!r})"
