"""RFC 6238 TOTP for the sandbox, on pyotp: ``STEP_SECONDS`` steps, ``DIGITS`` digits, SHA-1.

Secrets are ``SECRET_BYTES`` random bytes. ``matching_step`` accepts ``DRIFT_STEPS`` of drift
either way and returns the step that matched, so the rules can refuse any step at or before
the last accepted one (pyotp has no replay protection of its own). Tokens that are not exactly
``DIGITS`` ASCII digits never match: pyotp would NFKC-normalise full-width digits into a match.
"""

from __future__ import annotations

import base64
import math
import re
from functools import lru_cache
from typing import Final

import pyotp
from pyotp.exceptions import OTPVerificationError

from verigator_nb.models import PIN_DIGITS, TOTP_STEP_SECONDS
from verigator_nb.sandbox._state import RandomSource

__all__ = [
    "DIGITS",
    "DRIFT_STEPS",
    "SECRET_BYTES",
    "SECRET_LENGTH",
    "STEP_SECONDS",
    "code_at",
    "matching_step",
    "new_secret",
    "provisioning_uri",
]

STEP_SECONDS: Final = TOTP_STEP_SECONDS
DIGITS: Final = PIN_DIGITS
DRIFT_STEPS: Final = 1  # steps accepted either side of now
SECRET_BYTES: Final = 20  # 160 bits, RFC 4226's recommended length
SECRET_LENGTH: Final = len(base64.b32encode(bytes(SECRET_BYTES)))  # base32 characters, no padding
_TOKEN = re.compile(f"[0-9]{{{DIGITS}}}")


class _TOTP(pyotp.TOTP):
    """pyotp's TOTP with its secret decoded once: pyotp decodes the base32 on every code, a
    third of the time a code takes."""

    _key: bytes | None = None

    def byte_secret(self) -> bytes:
        if self._key is None:
            self._key = super().byte_secret()
        return self._key


@lru_cache(maxsize=1024)
def _totp(secret: str) -> pyotp.TOTP:
    """The generator for ``secret``, kept for the users whose codes are read most recently."""
    return _TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def new_secret(source: RandomSource) -> str:
    """A base32 secret of 160 bits (32 characters, no padding)."""
    return base64.b32encode(source.token_bytes(SECRET_BYTES)).decode("ascii")


def code_at(secret: str, now: float) -> tuple[str, int]:
    """The code an app shows at ``now`` and the whole seconds it has left (1 to a step)."""
    left = math.ceil(STEP_SECONDS - now % STEP_SECONDS)
    return _totp(secret).at(now), max(1, min(left, STEP_SECONDS))


def matching_step(secret: str, token: str, now: float) -> int | None:
    """The time step ``token`` belongs to within one step of ``now``, or None if none."""
    if not _TOKEN.fullmatch(token):
        return None
    try:
        return _totp(secret).verify_and_get_timecode(token, for_time=now, valid_window=DRIFT_STEPS)
    except OTPVerificationError:
        return None


def provisioning_uri(secret: str, *, account_name: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app scans."""
    return _totp(secret).provisioning_uri(name=account_name, issuer_name=issuer)
