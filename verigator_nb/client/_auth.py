"""``api.auth``: start a login check and verify the PIN the user typed, each call logged."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar, overload

from verigator_nb.client._args import (
    METHODS,
    field,
    require_method,
    require_text,
    segment,
    storable,
)
from verigator_nb.client._recorder import PendingRow, Recorder, remember
from verigator_nb.client._resources import user_path
from verigator_nb.client._transport import JsonTransport
from verigator_nb.errors import InvalidResponseError, VerigatorError
from verigator_nb.models import (
    METHOD_SMS,
    METHOD_TOTP,
    RESULT_MAX_CHARS,
    RESULT_VERIFIED,
    Initiation,
    Verification,
)

__all__ = ["Auth"]

_Parsed = TypeVar("_Parsed")


class Auth:
    """``api.auth``: start an authentication and verify the PIN the user typed."""

    METHOD_TOTP = METHOD_TOTP
    METHOD_SMS = METHOD_SMS

    def __init__(self, transport: JsonTransport, recorder: Recorder) -> None:
        self._transport = transport
        self._recorder = recorder
        # Each user's latest initiate, for verify(sid, uid, pin); the most recent users only.
        self._latest: OrderedDict[tuple[str, str], Initiation] = OrderedDict()

    def initiate(self, service_id: str, user_id: str, method: str) -> Initiation:
        """Start a login check. Read ``.method`` from the answer: TOTP may become SMS.

        Raises ``NoSuchResourceError`` for an unknown user, ``ResourceAlreadyExistsError``
        (409) when the server refuses to start one now, and the other typed errors.
        """
        path = f"{user_path(service_id)}/{segment('user_id', user_id)}/auth"
        requested = require_method(method)
        session_id = self._recorder.new_session_id()
        pending = self._recorder.start_initiate(service_id, user_id, requested, session_id)
        status, initiation = self._call(
            pending,
            "POST",
            path,
            {"method": requested},
            lambda payload, _: self._initiation(
                payload, service_id, user_id, requested, session_id, path
            ),
        )
        pending.initiated(status, initiation)
        remember(self._latest, (service_id, user_id), initiation)
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
        ``result`` is the server's: one of ``RESULTS``, or any other text it sent, cut to
        ``RESULT_MAX_CHARS`` (a non-text result as its JSON).
        """
        initiation, token = self._target(first, second, third)
        path = f"{user_path(initiation.service_id)}/{segment('user_id', initiation.user_id)}/auth"
        body = {"method": initiation.method, "token": token}
        if initiation.method == METHOD_SMS and initiation.auth_id:
            body["auth_id"] = initiation.auth_id
        pending = self._recorder.start_verify(initiation)
        status, verification = self._call(
            pending,
            "PUT",
            path,
            body,
            lambda payload, status: self._verification(payload, status, initiation.method, path),
        )
        pending.checked(status, verification)
        return verification

    def _call(
        self,
        pending: PendingRow,
        method: str,
        path: str,
        body: dict[str, Any],
        parse: Callable[[Any, int], _Parsed],
    ) -> tuple[int, _Parsed]:
        """Send one call and parse its answer; a failure is recorded on ``pending``, then raised."""
        try:
            status, payload = self._transport.request(method, path, body)
            try:
                return status, parse(payload, status)
            except InvalidResponseError as exc:  # an answer came: name its status and the call
                raise InvalidResponseError(
                    exc.message, status=status, method=method, path=path
                ) from None
        except VerigatorError as exc:
            pending.failed(exc)
            raise

    def _target(
        self, first: Initiation | str, second: str, third: str | None
    ) -> tuple[Initiation, str]:
        if isinstance(first, Initiation):
            if third is not None:
                raise ValueError("verify(initiation, token) takes no third argument")
            if first.auth_id is not None and not storable(first.auth_id):
                raise ValueError("auth_id must be valid Unicode text")  # no row could hold it
            return first, self._require_token(second)
        service_id = require_text("service_id", first)
        user_id = require_text("user_id", second)
        token = self._require_token(third)
        key = (service_id, user_id)
        latest = self._latest.get(key)
        if latest is None:
            session_id = self._recorder.new_session_id()
            latest = Initiation(service_id, user_id, METHOD_TOTP, METHOD_TOTP, None, session_id)
        remember(self._latest, key, latest)
        return latest, token

    @staticmethod
    def _require_token(token: object) -> str:
        if not isinstance(token, str):
            raise ValueError("token must be a string of the digits the user typed")
        return token

    @staticmethod
    def _initiation(
        payload: Any, service_id: str, user_id: str, requested: str, session_id: str, path: str
    ) -> Initiation:
        method = field(payload, "method", path)
        auth_id = payload.get("auth_id")
        if method not in METHODS or not (auth_id is None or storable(auth_id)):
            raise InvalidResponseError("answer has an unknown method or auth_id", path=path)
        return Initiation(service_id, user_id, requested, method, auth_id, session_id)

    @staticmethod
    def _verification(payload: Any, status: int, sent_method: str, path: str) -> Verification:
        verified = field(payload, "verified", path)
        detail = payload.get("status") if isinstance(payload.get("status"), dict) else {}
        if not isinstance(verified, bool):
            raise InvalidResponseError("answer's 'verified' is not a boolean", path=path)
        result = _result_text(detail.get("result")) or (RESULT_VERIFIED if verified else None)
        method = payload.get("method") if payload.get("method") in METHODS else sent_method
        return Verification(verified, method, result, status, dict(detail))


def _result_text(result: object) -> str | None:
    """The server's ``result`` as text a log can store, cut to ``RESULT_MAX_CHARS``.

    The contract's list of results is open: a string is kept as sent (lone surrogates
    escaped), anything else as its JSON.
    """
    if result is None:
        return None
    if isinstance(result, str):
        text = result
    else:
        try:
            text = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
        except (ValueError, RecursionError):
            text = type(result).__name__
    if not storable(text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text[:RESULT_MAX_CHARS]
