"""RFC 6238 TOTP for the sandbox, on pyotp: 30-second steps, 6 digits, SHA-1, 160-bit secrets.

``matching_step`` accepts one step of drift either way and returns the step that matched, so
the rules can refuse any step at or before the last accepted one (pyotp has no replay
protection of its own). Tokens that are not exactly six ASCII digits never match: pyotp would
NFKC-normalise full-width digits into a match.
"""

from __future__ import annotations

import base64
import math
import re

import pyotp
from pyotp.exceptions import OTPVerificationError

from verigator_nb.sandbox._state import RandomSource

__all__ = ["STEP_SECONDS", "code_at", "matching_step", "new_secret", "provisioning_uri"]

STEP_SECONDS = 30
_SECRET_BYTES = 20  # 160 bits, RFC 4226's recommended length
_TOKEN = re.compile(r"[0-9]{6}")


def new_secret(source: RandomSource) -> str:
    """A base32 secret of 160 bits (32 characters, no padding)."""
    return base64.b32encode(source.token_bytes(_SECRET_BYTES)).decode("ascii")


def code_at(secret: str, now: float) -> tuple[str, int]:
    """The code an app shows at ``now`` and the whole seconds it has left (1 to 30)."""
    left = math.ceil(STEP_SECONDS - now % STEP_SECONDS)
    return pyotp.TOTP(secret).at(now), max(1, min(left, STEP_SECONDS))


def matching_step(secret: str, token: str, now: float) -> int | None:
    """The time step ``token`` belongs to within one step of ``now``, or None if none."""
    if not _TOKEN.fullmatch(token):
        return None
    try:
        return pyotp.TOTP(secret).verify_and_get_timecode(token, for_time=now, valid_window=1)
    except OTPVerificationError:
        return None


def provisioning_uri(secret: str, *, account_name: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app scans."""
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=issuer)
