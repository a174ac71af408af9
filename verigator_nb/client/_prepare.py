"""A call prepared as ``Session.request`` would prepare it, without redoing the fixed parts.

``Session.request`` merges the session's headers, cookies, params, auth and hooks and re-reads
the environment on every call, then prepares the URL from scratch: a fifth of a call's cost on
127.0.0.1. The client's own session keeps requests' defaults, so ``Prepared`` merges its
headers once (the transport passes them in), adds the cookies the endpoint has set, and joins
a plain path to the base URL requests already prepared. Anything else (a ``.`` or ``..``
segment, a ``%``, a query) goes through requests' own ``prepare_url``. The request on the wire
is the same byte for byte; it still goes out through ``session.send``, its adapters and hooks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict

__all__ = ["Prepared"]

# Segments of unreserved characters, none of them "." or "..": requests' URL preparation
# (dot-segment removal, then requoting) leaves such a path exactly as it is.
_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+")


class Prepared:
    """Prepares calls to one base URL over one session whose settings are requests' defaults."""

    def __init__(self, session: requests.Session, base_url: str) -> None:
        self._session = session
        self._base_url = base_url
        self._prefix = _prefix(base_url)
        self._checked: dict[tuple[tuple[str, str | bytes], ...], CaseInsensitiveDict[Any]] = {}

    def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str | bytes],
        data: bytes | None,
        hooks: dict[str, list[Any]],
    ) -> requests.PreparedRequest:
        """The request ``Session.request`` would send for ``base_url + path``."""
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        if self._prefix is not None and _PLAIN_PATH.fullmatch(path):
            prepared.url = self._prefix + path
        else:
            prepared.prepare_url(self._base_url + path, None)
        prepared.headers = self._headers(headers)
        if self._session.cookies:  # any the endpoint set on earlier answers
            prepared.prepare_cookies(self._session.cookies)
        prepared.prepare_body(data, None)
        prepared.prepare_hooks(hooks)
        return prepared

    def _headers(self, headers: Mapping[str, str | bytes]) -> CaseInsensitiveDict[Any]:
        """What ``prepare_headers`` makes of ``headers``, checked once per set of headers.

        A client sends one of a few fixed sets (with or without a body): requests checks
        every name and value against its rules on each call, a tenth of a call's cost
        in process. A set seen before is copied from its checked form; an invalid one raises
        as ``prepare_headers`` does, every time.
        """
        key = tuple(headers.items())
        try:
            checked = self._checked.get(key)
        except TypeError:  # a value that is not text: requests says what is wrong with it
            return _checked_headers(headers)
        if checked is None:
            checked = _checked_headers(headers)
            if len(self._checked) < _KEPT_HEADER_SETS:
                self._checked[key] = checked
        return checked.copy()


_KEPT_HEADER_SETS = 16  # a client uses two or three; a caller varying them pays requests' cost


def _checked_headers(headers: Mapping[str, str | bytes]) -> CaseInsensitiveDict[Any]:
    probe = requests.PreparedRequest()
    probe.prepare_headers(headers)
    return probe.headers


def _prefix(base_url: str) -> str | None:
    """What requests makes of ``base_url``, when a plain path joined to it stays as it is."""
    try:
        parts = urlsplit(base_url)
        if parts.query or parts.fragment or (parts.path and not _PLAIN_PATH.fullmatch(parts.path)):
            return None
        prepared = requests.PreparedRequest()
        prepared.prepare_url(base_url + "/", None)
    except (ValueError, requests.RequestException):  # the first call will say what is wrong
        return None
    url = prepared.url or ""
    return url[:-1] if url.endswith("/") else None
