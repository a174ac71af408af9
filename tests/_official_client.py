"""A stand-in for the official ``verigator-python`` client, written to its documented interface.

The project must not import the official package, so the tests of ``verigator_nb.record``
drive this instead. It copies what an application sees of ``messente.verigator``:

- ``Api(username, password, endpoint=...)`` with ``api.auth`` (``METHOD_SMS``,
  ``METHOD_TOTP``, ``rest_client.endpoint``);
- ``auth.initiate`` and ``auth.verify`` of three releases (``RELEASES``), behind the official
  argument check (a ``functools.wraps`` decorator taking positional strings only and raising
  ``ValueError`` before anything is sent);
- the official exceptions by name (``messente.verigator.exceptions``), each with ``code`` (the
  HTTP status; 0 for a non-JSON answer) and ``message``.

Behind it, ``Server`` plays the API: users with or without an authenticator app, one right
PIN, TOTP falling back to SMS, and a fault to raise on the next call. Every value the stand-in
returns and every exception it raises is kept (``returned``, ``raised``) so a test can check
that the application got that very object.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

RELEASES = ("1.0.3", "1.0.0", "0.0.1")
PIN = "482915"


class VerigatorError(Exception):
    """The official base error: ``code`` and ``message``."""

    def __init__(self, code: int, message: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidDataError(VerigatorError):
    """400 or 422."""


class WrongCredentialsError(VerigatorError):
    """401."""


class ResourceForbiddenError(VerigatorError):
    """403."""


class NoSuchResourceError(VerigatorError):
    """404."""


class ResourceAlreadyExistsError(VerigatorError):
    """409."""


class InternalError(VerigatorError):
    """500."""


class InvalidResponseError(VerigatorError):
    """A non-JSON answer (code 0)."""


class Server:
    """The API behind the stand-in: who has an app, the PIN, a fault for the next call."""

    def __init__(self) -> None:
        self.with_app: set[tuple[str, str]] = set()
        self.fault: BaseException | None = None
        self.returned: list[Any] = []
        self.raised: list[BaseException] = []
        self._auth_ids = (f"auth-{n}" for n in itertools.count(1))

    def start(self, user: tuple[str, str], method: str) -> tuple[str, str | None]:
        """The method used and, for SMS, the new ``auth_id``."""
        self._fail()
        if method == "totp" and user in self.with_app:
            return "totp", None
        return "sms", next(self._auth_ids)

    def check(self, token: str) -> tuple[bool, dict[str, Any] | None]:
        """The verdict and, for a wrong PIN, the failure status."""
        self._fail()
        if token == PIN:
            return True, None
        return False, {"invalid": True, "result": "INVALID"}

    def give(self, value: Any) -> Any:
        self.returned.append(value)
        return value

    def _fail(self) -> None:
        fault, self.fault = self.fault, None
        if fault is not None:
            self.raised.append(fault)
            raise fault


def _validate_input(func: Callable[..., Any]) -> Callable[..., Any]:
    # As the official decorator: positional arguments only, every one a string.
    @functools.wraps(func)
    def wrapper(*args: Any) -> Any:
        for arg in args[1:]:
            if not isinstance(arg, str):
                raise ValueError(f"{type(arg).__name__} should be string")
        return func(*args)

    return wrapper


class RestClient:
    """Only what the recorder may read: the endpoint."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint


class _Auth:
    METHOD_SMS = "sms"
    METHOD_TOTP = "totp"

    def __init__(self, rest_client: RestClient, server: Server) -> None:
        self.rest_client = rest_client
        self.server = server


class Auth103(_Auth):
    """1.0.3: initiate returns the method used; verify sends the token, returns a bool."""

    @_validate_input
    def initiate(self, service_id: str, user_id: str, method: str) -> str:
        used, _ = self.server.start((service_id, user_id), method)
        return self.server.give(used)

    @_validate_input
    def verify(self, service_id: str, user_id: str, token: str) -> bool:
        verified, _ = self.server.check(token)
        return self.server.give(verified)


class Auth100(_Auth):
    """1.0.0: initiate returns nothing; verify returns ``(verified, error)``."""

    @_validate_input
    def initiate(self, service_id: str, user_id: str, method: str) -> None:
        self.server.start((service_id, user_id), method)
        return self.server.give(None)

    @_validate_input
    def verify(self, service_id: str, user_id: str, token: str) -> tuple[bool, Any]:
        return self.server.give(self.server.check(token))


class Auth001(_Auth):
    """Before 1.0 (the seed page's form): initiate returns the SMS auth_id (None for TOTP);
    verify takes the method and auth_id and returns ``(verified, error)``."""

    @_validate_input
    def initiate(self, service_id: str, user_id: str, method: str) -> str | None:
        used, auth_id = self.server.start((service_id, user_id), method)
        return self.server.give(auth_id if used == "sms" else None)

    @_validate_input
    def verify(
        self, service_id: str, user_id: str, method: str, token: str, auth_id: str | None = None
    ) -> tuple[bool, Any]:
        return self.server.give(self.server.check(token))


_AUTH = {"1.0.3": Auth103, "1.0.0": Auth100, "0.0.1": Auth001}


class Api:
    """``messente.verigator.api.Api`` as an application holds it (``release`` picks ``auth``)."""

    def __init__(
        self,
        username: str,
        password: str,
        endpoint: str = "https://api.verigator.com",
        *,
        release: str = "1.0.3",
        server: Server | None = None,
    ) -> None:
        self.server = server or Server()
        self.auth: Any = _AUTH[release](RestClient(endpoint), self.server)
