"""verigator_nb: explore the Verigator two-factor API in notebooks; report how verification works.

The public surface, re-exported here:

- ``Api`` — the client (``api.services``, ``api.users``, ``api.auth``), ``Api.from_env()``;
- ``Service``, ``User``, ``Initiation``, ``Verification`` — the frozen results it returns;
- ``errors`` — the typed exceptions, rooted at ``VerigatorError``;
- ``Sandbox``, ``SandboxControl`` — the local emulator and its play-the-user helpers;
- ``OutcomeLog`` — every call as a row, durable on disk;
- modules ``analysis``, ``plots``, ``report``, ``scale``, ``simulate`` and ``widgets``,
  imported on first use (they pull in matplotlib, DuckDB, tqdm and ipywidgets, which a plain
  client does not need).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from verigator_nb import errors
from verigator_nb.client import DEFAULT_ENDPOINT, Api
from verigator_nb.errors import VerigatorError
from verigator_nb.log import OutcomeLog
from verigator_nb.models import METHOD_SMS, METHOD_TOTP, Initiation, Service, User, Verification
from verigator_nb.sandbox import Sandbox, SandboxControl

__all__ = [
    "DEFAULT_ENDPOINT",
    "METHOD_SMS",
    "METHOD_TOTP",
    "Api",
    "Initiation",
    "OutcomeLog",
    "Sandbox",
    "SandboxControl",
    "Service",
    "User",
    "Verification",
    "VerigatorError",
    "analysis",
    "errors",
    "plots",
    "report",
    "scale",
    "simulate",
    "widgets",
]

_LAZY_MODULES = frozenset({"analysis", "plots", "report", "scale", "simulate", "widgets"})


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY_MODULES:
        return importlib.import_module(f"verigator_nb.{name}")
    raise AttributeError(f"module 'verigator_nb' has no attribute {name!r}")
