"""verigator_nb: explore the Verigator two-factor API in notebooks; report how verification works.

The public surface, re-exported here:

- ``Api`` — the client (``api.services``, ``api.users``, ``api.auth``), ``Api.from_env()``;
- ``Service``, ``User``, ``Initiation``, ``Verification`` — the frozen results it returns;
- ``errors`` — the typed exceptions, rooted at ``VerigatorError``;
- ``Sandbox``, ``SandboxControl`` — the local emulator and its play-the-user helpers.
"""

from __future__ import annotations

from verigator_nb import errors
from verigator_nb.client import DEFAULT_ENDPOINT, Api
from verigator_nb.errors import VerigatorError
from verigator_nb.models import METHOD_SMS, METHOD_TOTP, Initiation, Service, User, Verification
from verigator_nb.sandbox import Sandbox, SandboxControl

__all__ = [
    "DEFAULT_ENDPOINT",
    "METHOD_SMS",
    "METHOD_TOTP",
    "Api",
    "Initiation",
    "Sandbox",
    "SandboxControl",
    "Service",
    "User",
    "Verification",
    "VerigatorError",
    "errors",
]
