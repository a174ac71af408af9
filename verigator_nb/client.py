"""The Verigator client: ``Api`` with the official client's shapes, typed and fast.

::

    api = Api("username", "password")                       # or Api.from_env()
    service = api.services.create("www.example.com", "CoffeeShop")
    user = api.users.create(service.id, "+4401234567", "john.doe@example.com")
    started = api.auth.initiate(service.id, user.id, api.auth.METHOD_TOTP)
    verified, error = api.auth.verify(service.id, user.id, token)

Arguments are checked before anything is sent (``ValueError`` naming the argument); failures
raise the typed errors of ``verigator_nb.errors``; a wrong PIN is ``verified=False``.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, overload
from urllib.parse import quote, urlsplit

import phonenumbers
import requests

from verigator_nb._recorder import Recorder, RowSink, utc_now
from verigator_nb._transport import DEFAULT_TIMEOUT, Timeout, Transport, normalize_timeout
from verigator_nb.errors import InvalidResponseError, VerigatorError
from verigator_nb.models import METHOD_SMS, METHOD_TOTP, Initiation, Service, User, Verification

__all__ = ["DEFAULT_ENDPOINT", "Api"]

DEFAULT_ENDPOINT = "https://api.verigator.com"
_E164 = re.compile(r"\+[0-9]{7,15}")
_METHODS = (METHOD_TOTP, METHOD_SMS)


def _require_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no request could carry it
            raise ValueError(f"{name} must be valid Unicode text") from None
    return value


def _require_method(method: object) -> str:
    if method not in _METHODS:
        raise ValueError(f"method must be {METHOD_TOTP!r} or {METHOD_SMS!r}")
    return str(method)


def _segment(name: str, value: object) -> str:
    """An id made safe for a URL path segment (``/``, ``..`` and ``%`` cannot escape it)."""
    return quote(_require_text(name, value), safe="")


def _parse_time(payload: Mapping[str, Any], path: str) -> datetime:
    try:
        return datetime.fromisoformat(payload["ctime"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidResponseError("answer has no valid ctime", path=path) from exc


def _field(payload: Any, key: str, path: str) -> Any:
    if not isinstance(payload, dict) or key not in payload:
        raise InvalidResponseError(f"answer has no {key!r}", path=path)
    return payload[key]


class Services:
    """``api.services``: create, get and delete services."""

    def __init__(self, api: Api) -> None:
        self._api = api

    def create(self, domain: str, name: str) -> Service:
        """Register a service; ``name`` is the issuer the authenticator app shows."""
        body = {"fqdn": _require_text("domain", domain), "name": _require_text("name", name)}
        return self._service(self._api.request("POST", "/v1/service/service", body))

    def get(self, id: str) -> Service:
        """Fetch one service by id."""
        path = f"/v1/service/service/{_segment('id', id)}"
        return self._service(self._api.request("GET", path))

    def delete(self, id: str) -> None:
        """Delete a service (the server refuses while it still has users)."""
        self._api.request("DELETE", f"/v1/service/service/{_segment('id', id)}")

    @staticmethod
    def _service(payload: Any) -> Service:
        path = "/v1/service/service"
        return Service(
            _field(payload, "id", path), _parse_time(payload, path), payload.get("name", "")
        )


class Users:
    """``api.users``: create, get, list and delete a service's users."""

    def __init__(self, api: Api) -> None:
        self._api = api

    def create(self, service_id: str, number: str, username: str) -> User:
        """Add a user with an E.164 phone number (``+`` and country code, 7-15 digits)."""
        if not isinstance(number, str) or not _E164.fullmatch(number):
            raise ValueError("number must be + followed by 7 to 15 digits, country code first")
        body = {"id_in_service": _require_text("username", username), "phone_number": number}
        user = self._user(self._api.request("POST", self._path(service_id), body))
        self._api._recorder.remember_country(user.id, _region_of(number))
        return user

    def get(self, service_id: str, id: str) -> User:
        """Fetch one user."""
        return self._user(
            self._api.request("GET", f"{self._path(service_id)}/{_segment('id', id)}")
        )

    def get_all(self, service_id: str) -> list[User]:
        """Every user of the service, in creation order."""
        payload = self._api.request("GET", self._path(service_id))
        users = _field(payload, "users", self._path(service_id))
        return [self._user(item) for item in users]

    def delete(self, service_id: str, id: str) -> None:
        """Delete a user and its pending authentications."""
        self._api.request("DELETE", f"{self._path(service_id)}/{_segment('id', id)}")

    @staticmethod
    def _path(service_id: str) -> str:
        return f"/v1/service/service/{_segment('service_id', service_id)}/users"

    @staticmethod
    def _user(payload: Any) -> User:
        path = "/v1/service/service/users"
        return User(
            _field(payload, "id", path),
            _parse_time(payload, path),
            payload.get("id_in_service", ""),
        )


def _region_of(number: str) -> str | None:
    """The ISO region of a number's country code (``+44...`` -> ``GB``), None if unknown."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    return None if region == phonenumbers.UNKNOWN_REGION else region


class Auth:
    """``api.auth``: start an authentication and verify the PIN the user typed."""

    METHOD_TOTP = METHOD_TOTP
    METHOD_SMS = METHOD_SMS

    def __init__(self, api: Api) -> None:
        self._api = api
        self._latest: dict[tuple[str, str], Initiation] = {}

    def initiate(self, service_id: str, user_id: str, method: str) -> Initiation:
        """Start a login check. Read ``.method`` from the answer: TOTP may become SMS.

        Raises ``NoSuchResourceError`` for an unknown user, ``ResourceAlreadyExistsError``
        (409) when the server refuses to start one now, and the other typed errors.
        """
        path = f"{Users._path(service_id)}/{_segment('user_id', user_id)}/auth"
        requested = _require_method(method)
        session_id = self._api._recorder.new_session_id()
        pending = self._api._recorder.start(
            "initiate", service_id, user_id, requested_method=requested, session_id=session_id
        )
        try:
            status, payload = self._api._transport.request("POST", path, {"method": requested})
            initiation = self._initiation(payload, service_id, user_id, requested, session_id, path)
        except VerigatorError as exc:
            pending.failed(exc)
            raise
        pending.succeeded(
            status,
            method=initiation.method,
            fallback=initiation.fallback,
            auth_id=initiation.auth_id,
        )
        self._latest[(service_id, user_id)] = initiation
        return initiation

    @overload
    def verify(self, initiation: Initiation, token: str, /) -> Verification: ...

    @overload
    def verify(self, service_id: str, user_id: str, token: str, /) -> Verification: ...

    def verify(
        self, first: Initiation | str, second: str, third: str | None = None, /
    ) -> Verification:
        """Check the PIN the user typed: ``verify(initiation, token)`` or ``verify(sid, uid, pin)``.

        With plain ids it answers the latest ``initiate`` for that user made through this
        ``Api`` (TOTP when there was none). Sends exactly ``PUT .../auth`` with ``method``,
        ``token`` and, for SMS, ``auth_id``. Never retried: each call spends one attempt.
        """
        initiation, token = self._target(first, second, third)
        path = (
            f"{Users._path(initiation.service_id)}/{_segment('user_id', initiation.user_id)}/auth"
        )
        body = {"method": initiation.method, "token": token}
        if initiation.method == METHOD_SMS and initiation.auth_id:
            body["auth_id"] = initiation.auth_id
        pending = self._api._recorder.start(
            "verify",
            initiation.service_id,
            initiation.user_id,
            requested_method=initiation.method,
            auth_id=initiation.auth_id,
            session_id=initiation.session_id,
        )
        try:
            status, payload = self._api._transport.request("PUT", path, body)
            verification = self._verification(payload, status, initiation.method, path)
        except VerigatorError as exc:
            pending.failed(exc)
            raise
        pending.succeeded(
            status,
            method=verification.method,
            verified=verification.verified,
            result=verification.result,
        )
        return verification

    def _target(
        self, first: Initiation | str, second: str, third: str | None
    ) -> tuple[Initiation, str]:
        if isinstance(first, Initiation):
            if third is not None:
                raise ValueError("verify(initiation, token) takes no third argument")
            return first, self._require_token(second)
        service_id = _require_text("service_id", first)
        user_id = _require_text("user_id", second)
        token = self._require_token(third)
        key = (service_id, user_id)
        if key not in self._latest:
            session_id = self._api._recorder.new_session_id()
            self._latest[key] = Initiation(
                service_id, user_id, METHOD_TOTP, METHOD_TOTP, None, session_id
            )
        return self._latest[key], token

    @staticmethod
    def _require_token(token: object) -> str:
        if not isinstance(token, str):
            raise ValueError("token must be a string of the digits the user typed")
        return token

    @staticmethod
    def _initiation(
        payload: Any, service_id: str, user_id: str, requested: str, session_id: str, path: str
    ) -> Initiation:
        method = _field(payload, "method", path)
        auth_id = payload.get("auth_id")
        if method not in _METHODS or not (auth_id is None or isinstance(auth_id, str)):
            raise InvalidResponseError("answer has an unknown method or auth_id", path=path)
        return Initiation(service_id, user_id, requested, method, auth_id, session_id)

    @staticmethod
    def _verification(payload: Any, status: int, sent_method: str, path: str) -> Verification:
        verified = _field(payload, "verified", path)
        detail = payload.get("status") if isinstance(payload.get("status"), dict) else {}
        if not isinstance(verified, bool):
            raise InvalidResponseError("answer's 'verified' is not a boolean", path=path)
        result = detail.get("result") or ("VERIFIED" if verified else None)
        method = payload.get("method") if payload.get("method") in _METHODS else sent_method
        return Verification(verified, method, result, status, dict(detail))


class Api:
    """A Verigator client: ``api.services``, ``api.users`` and ``api.auth``.

    One pooled ``requests.Session`` per ``Api`` (pass ``session=`` to bring your own, used as
    is); timeouts always on, ``(connect, read)`` seconds. Give ``log=`` an ``OutcomeLog`` and
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
        timeout: float | Timeout = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        retries: int = 3,
        log: RowSink | None = None,
        clock: Callable[[], datetime] | None = None,
        label: str | None = None,
        tags: str | Iterable[str] = "",
        id_seed: int | None = None,
    ) -> None:
        self.username = _require_text("username", username)
        _require_text("password", password)
        if urlsplit(_require_text("endpoint", endpoint)).scheme not in ("http", "https"):
            raise ValueError("endpoint must be an http:// or https:// URL")
        self.endpoint = endpoint.rstrip("/")
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
            tags=tags if isinstance(tags, str) else ",".join(tags),
            id_seed=id_seed,
        )
        self.services = Services(self)
        self.users = Users(self)
        self.auth = Auth(self)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Api:
        """Build from ``VERIGATOR_USERNAME``, ``VERIGATOR_PASSWORD`` and ``VERIGATOR_ENDPOINT``."""
        env = os.environ if environ is None else environ
        missing = [k for k in ("VERIGATOR_USERNAME", "VERIGATOR_PASSWORD") if not env.get(k)]
        if missing:
            raise ValueError(f"environment variable(s) not set: {', '.join(missing)}")
        endpoint = env.get("VERIGATOR_ENDPOINT") or DEFAULT_ENDPOINT
        return cls(env["VERIGATOR_USERNAME"], env["VERIGATOR_PASSWORD"], endpoint, **kwargs)

    @property
    def timeout(self) -> Timeout:
        """The ``(connect, read)`` timeout in seconds."""
        return self._transport.timeout

    @property
    def log(self) -> RowSink | None:
        """The outcome log this client records to, if any."""
        return self._recorder.sink

    def with_log(self, log: RowSink | None, *, tags: str | None = None) -> Api:
        """A client sharing this one's connections and settings that records to ``log``."""
        twin = copy.copy(self)
        twin._recorder = self._recorder.with_sink(log, tags=tags)
        twin.services, twin.users, twin.auth = Services(twin), Users(twin), Auth(twin)
        return twin

    def fork(self) -> Api:
        """A client like this one with its own connection pool, for use in another thread.

        A ``requests.Session`` is not thread-safe, so concurrent callers each take a fork.
        """
        twin = self.with_log(self._recorder.sink)
        twin._transport = self._transport.fork()
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
