"""The sandbox's error classes, and the one place they become JSON answers.

Rules raise these; ``error_reply`` renders any of them as ``(status, {"message": ...}, headers)``
(moto's ``exceptions.py`` pattern). Messages name what was wrong with the request, never a
password, PIN, TOTP secret, nor anything about another account's resources::

    SandboxError            base: ``status`` and ``message``
    ├── BadRequest          400: the HTTP request itself was malformed
    ├── Unauthorized        401: missing, malformed or wrong ``X-Service-Auth``
    ├── Forbidden           403: the resource belongs to another account
    ├── NotFound            404: no such path, service, user, auth_id or app
    ├── MethodNotAllowed    405: known path, other method; carries ``allow``
    ├── Conflict            409: already exists, or not allowed in the current state
    ├── LengthRequired      411: a body without ``Content-Length``
    ├── PayloadTooLarge     413: a body over the size cap
    └── InvalidData         422: body not JSON, wrong types, missing keys, unknown method
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "InvalidData",
    "LengthRequired",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "SandboxError",
    "Unauthorized",
    "error_reply",
]


class SandboxError(Exception):
    """A request the sandbox refuses; ``status`` is the HTTP status, ``message`` the reason."""

    status = 500
    default_message = "internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    @property
    def headers(self) -> dict[str, str]:
        """Extra response headers this error needs (none, except for 405)."""
        return {}


class BadRequest(SandboxError):
    """400: the HTTP request itself was malformed (for example a bad Content-Length)."""

    status = 400
    default_message = "malformed request"


class Unauthorized(SandboxError):
    """401: missing, malformed or wrong ``X-Service-Auth``."""

    status = 401
    default_message = "missing or wrong X-Service-Auth header"


class Forbidden(SandboxError):
    """403: the resource belongs to another account (the message says nothing more)."""

    status = 403
    default_message = "forbidden: this resource belongs to another account"


class NotFound(SandboxError):
    """404: no such path, service, user, authentication or app."""

    status = 404
    default_message = "not found"


class MethodNotAllowed(SandboxError):
    """405: the path exists but not with this method; ``allow`` lists the methods it has."""

    status = 405

    def __init__(self, method: str, allow: tuple[str, ...]) -> None:
        self.allow = allow
        super().__init__(f"method {method[:20]} not allowed here; allowed: {', '.join(allow)}")

    @property
    def headers(self) -> dict[str, str]:
        """The ``Allow`` header RFC 9110 requires on a 405."""
        return {"Allow": ", ".join(self.allow)}


class Conflict(SandboxError):
    """409: already exists, or not allowed in the resource's current state."""

    status = 409
    default_message = "conflict"


class LengthRequired(SandboxError):
    """411: a request body must come with ``Content-Length`` (no chunked bodies)."""

    status = 411
    default_message = "a request body needs a Content-Length header"


class PayloadTooLarge(SandboxError):
    """413: the request body is over the sandbox's size cap."""

    status = 413
    default_message = "request body too large"


class InvalidData(SandboxError):
    """422: the body is not the JSON this call takes."""

    status = 422
    default_message = "invalid request body"


def error_reply(exc: SandboxError) -> tuple[int, dict[str, str], dict[str, str]]:
    """Render an error as ``(status, {"message": ...}, extra headers)``: the one place."""
    return exc.status, {"message": exc.message}, exc.headers
