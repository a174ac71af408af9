"""One pooled HTTP session per client: JSON in and out, timeouts always on, safe retries.

Only GET is ever retried (on connection errors and 502/503/504, with backoff, honouring
Retry-After up to a cap). POST, PUT and DELETE are never re-sent: urllib3's default ``Retry``
would re-send a PUT after a read error, and a re-sent verify silently burns one of the user's
attempts. Every failure is turned into a typed ``VerigatorError`` here, in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from verigator_nb.errors import (
    ConnectionFailedError,
    InvalidResponseError,
    RequestTimeoutError,
    TransportError,
    error_for_status,
)

__all__ = ["DEFAULT_TIMEOUT", "JsonTransport", "Timeout", "Transport", "normalize_timeout"]

Timeout = tuple[float, float]
DEFAULT_TIMEOUT: Timeout = (3.05, 10.0)
_RETRY_AFTER_CAP_SECONDS = 10.0
_RETRIED_METHODS = frozenset({"GET"})


class _IdempotentOnlyRetry(Retry):
    """Retries GET only; any other method fails on its first error, whatever the error."""

    def increment(  # type: ignore[override]
        self, method: str | None = None, *args: Any, **kwargs: Any
    ) -> Retry:
        if method is not None and method.upper() not in _RETRIED_METHODS:
            # Spend the whole budget at once: the base class then raises MaxRetryError.
            return Retry.increment(self.new(total=0), method, *args, **kwargs)
        return super().increment(method, *args, **kwargs)

    def get_retry_after(self, response: Any) -> float | None:
        # A server asking for an hour's pause must not freeze a notebook cell for an hour.
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, _RETRY_AFTER_CAP_SECONDS)


def _retry_policy(retries: int) -> Retry:
    return _IdempotentOnlyRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        allowed_methods=_RETRIED_METHODS,
        status_forcelist=(502, 503, 504),
        backoff_factor=0.2,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def normalize_timeout(timeout: float | Timeout) -> Timeout:
    """A ``(connect, read)`` pair of positive seconds; a single number sets both."""
    pair = (timeout, timeout) if isinstance(timeout, int | float) else tuple(timeout)
    if len(pair) != 2 or not all(isinstance(t, int | float) and t > 0 for t in pair):
        raise ValueError("timeout must be a positive number or a (connect, read) pair of them")
    return (float(pair[0]), float(pair[1]))


def _new_session(retries: int) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=_retry_policy(retries), pool_maxsize=32)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class JsonTransport(Protocol):
    """What the namespaces need to talk to the API: one JSON call in, status and answer out.

    ``Transport`` is the real one; a test may hand ``Auth``, ``Users`` or ``Services`` any
    object with this method (a scripted stand-in, say) and no server at all.
    """

    def request(
        self, method: str, path: str, body: Mapping[str, Any] | list[Any] | None = None
    ) -> tuple[int, Any]:
        """Send one call; return its status and decoded JSON body; raise typed errors."""


class Transport:
    """Sends JSON requests to one base URL with fixed auth headers; raises typed errors."""

    def __init__(
        self,
        base_url: str,
        auth_header: str,
        *,
        timeout: Timeout,
        session: requests.Session | None,
        retries: int,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._auth_header = auth_header
        self._retries = retries
        self.session = session if session is not None else _new_session(retries)
        self._headers = {"X-Service-Auth": auth_header, "Accept": "application/json"}
        self._body_headers = {**self._headers, "Content-Type": "application/json"}

    def request(
        self, method: str, path: str, body: Mapping[str, Any] | list[Any] | None = None
    ) -> tuple[int, Any]:
        """Send one call; return its status and decoded JSON body (``{}`` for an empty body)."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = self._headers if data is None else self._body_headers
        try:
            response = self.session.request(
                method, self.base_url + path, data=data, headers=headers, timeout=self.timeout
            )
        except requests.Timeout as exc:
            raise RequestTimeoutError(
                f"no answer within {self.timeout[1]:g} s", method=method, path=path
            ) from exc
        except requests.ConnectionError as exc:
            raise ConnectionFailedError(
                f"could not reach {self.base_url}", method=method, path=path
            ) from exc
        except requests.RequestException as exc:
            raise TransportError(type(exc).__name__, method=method, path=path) from exc
        return response.status_code, _decode(response, method, path)

    def fork(self) -> Transport:
        """The same endpoint, credentials and policy over a new session of its own."""
        return Transport(
            self.base_url,
            self._auth_header,
            timeout=self.timeout,
            session=None,
            retries=self._retries,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()


def _decode(response: requests.Response, method: str, path: str) -> Any:
    status = response.status_code
    if not 200 <= status < 300:
        raise error_for_status(status)(
            _server_message(response), status=status, method=method, path=path
        )
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError as exc:
        raise InvalidResponseError(
            "the answer is not JSON", status=status, method=method, path=path
        ) from exc


def _server_message(response: requests.Response) -> str:
    """The server's ``message``, else the reason phrase (never the raw body: it may echo input)."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return payload["message"][:500]
    return response.reason or "error"
