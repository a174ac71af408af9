"""The exceptions the client raises, one base class and one subclass per kind of fault.

A wrong PIN is not an exception: ``api.auth.verify`` returns ``verified=False``. Exceptions are
for transport faults, protocol faults and error statuses::

    VerigatorError                   base: status, server message, HTTP method and path
    ├── InvalidDataError             400 / 422: the request body or an argument was refused
    ├── WrongCredentialsError        401: missing or wrong X-Service-Auth
    ├── ResourceForbiddenError       403: the resource belongs to another account
    ├── NoSuchResourceError          404: service, user or auth_id not found
    ├── ResourceAlreadyExistsError   409: already exists, or not allowed in the current state
    ├── InternalError                5xx: the server failed
    ├── InvalidResponseError         an answer that is not the JSON the API promises
    ├── RedirectError                3xx: the server pointed elsewhere; never followed
    └── TransportError               no complete answer
        ├── ConnectionFailedError    could not connect, or the connection broke
        └── RequestTimeoutError      no answer within the timeout

Messages never contain credentials, PINs or request bodies: only the status, the server's
``message``, the method and path of the call and, for a redirect, the target's host. No error
is chained to one whose text could hold a secret.
"""

from __future__ import annotations

__all__ = [
    "ConnectionFailedError",
    "InternalError",
    "InvalidDataError",
    "InvalidResponseError",
    "NoSuchResourceError",
    "RedirectError",
    "RequestTimeoutError",
    "ResourceAlreadyExistsError",
    "ResourceForbiddenError",
    "TransportError",
    "VerigatorError",
    "WrongCredentialsError",
    "error_for_status",
]


class VerigatorError(Exception):
    """A Verigator call failed; carries the status, the server's message, method and path."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        super().__init__(self._describe())

    @property
    def code(self) -> int | None:
        """The HTTP status, under the name the official client used."""
        return self.status

    def _describe(self) -> str:
        where = f"{self.method} {self.path}".strip()
        status = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{status}{self.message}" + (f" ({where})" if where else "")


class InvalidDataError(VerigatorError):
    """400 / 422: the server refused the request body."""


class WrongCredentialsError(VerigatorError):
    """401: the X-Service-Auth header was missing or wrong."""


class ResourceForbiddenError(VerigatorError):
    """403: the service or user belongs to another account."""


class NoSuchResourceError(VerigatorError):
    """404: no such service, user or authentication."""


class ResourceAlreadyExistsError(VerigatorError):
    """409: the resource already exists, or the call conflicts with its current state."""


class InternalError(VerigatorError):
    """5xx: the server failed to handle the request."""


class InvalidResponseError(VerigatorError):
    """The server answered, but not with the JSON the API promises."""


class RedirectError(VerigatorError):
    """3xx: the server redirected the call; API calls never follow a redirect.

    Following one would send the credentials, and a verify's PIN, to wherever the answer
    points, and re-send the verify. ``host`` is the target's ``host[:port]`` (empty when the
    answer named none that could be read); the rest of its URL is never kept.
    """

    def __init__(
        self,
        message: str,
        *,
        host: str = "",
        status: int | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        self.host = host
        super().__init__(message, status=status, method=method, path=path)


class TransportError(VerigatorError):
    """No complete answer came: the request may or may not have reached the server."""


class ConnectionFailedError(TransportError):
    """Could not connect to the server, or the connection broke before the answer was whole."""


class RequestTimeoutError(TransportError):
    """No answer within the read timeout, or no complete answer by the call's deadline."""


_BY_STATUS: dict[int, type[VerigatorError]] = {
    400: InvalidDataError,
    401: WrongCredentialsError,
    403: ResourceForbiddenError,
    404: NoSuchResourceError,
    409: ResourceAlreadyExistsError,
    422: InvalidDataError,
}


def error_for_status(status: int) -> type[VerigatorError]:
    """The exception class for an HTTP error status (any unlisted status is a protocol fault)."""
    if status >= 500:
        return InternalError
    if 300 <= status < 400:
        return RedirectError
    return _BY_STATUS.get(status, InvalidResponseError)
