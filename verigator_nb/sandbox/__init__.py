"""A faithful local emulator of Messente's Verigator API, served over HTTP on 127.0.0.1.

Split moto-style: ``SandboxBackend`` holds the rules and state (no HTTP; injectable clock and
random source); ``_routes`` maps paths to ``_responses`` handlers and renders ``_errors`` as
JSON in one place; ``_server`` is the stdlib HTTP glue; ``_openapi`` describes it all at
``GET /openapi.json``. ``Sandbox`` runs it in a background thread, ``SandboxControl`` plays the
user (outbox, authenticator app, clock), and ``serve`` binds a server for the CLI. ``Fault``
and ``FaultPlan`` (``_faults``) break calls on purpose, to test how a client copes.
"""

from __future__ import annotations

from verigator_nb.sandbox._backend import SandboxBackend
from verigator_nb.sandbox._control import SandboxControl, SmsMessage, TotpEnrolment
from verigator_nb.sandbox._faults import Fault, FaultPlan
from verigator_nb.sandbox._openapi import openapi_document
from verigator_nb.sandbox._routes import Reply, Router
from verigator_nb.sandbox._sandbox import Sandbox
from verigator_nb.sandbox._server import MAX_BODY, SandboxServer, serve
from verigator_nb.sandbox._state import ManualClock, SystemClock

__all__ = [
    "MAX_BODY",
    "Fault",
    "FaultPlan",
    "ManualClock",
    "Reply",
    "Router",
    "Sandbox",
    "SandboxBackend",
    "SandboxControl",
    "SandboxServer",
    "SmsMessage",
    "SystemClock",
    "TotpEnrolment",
    "openapi_document",
    "serve",
]
