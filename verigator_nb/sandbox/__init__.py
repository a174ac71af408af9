"""A faithful local emulator of Messente's Verigator API, served over HTTP on 127.0.0.1.

Split moto-style: ``SandboxBackend`` holds the rules and state (no HTTP; injectable clock and
random source; the numbers in ``_rules``); ``_operations`` declares each call once, and from it
``_routes`` derives the route table its ``Router`` dispatches to the ``_responses`` handlers
(rendering ``_errors`` as JSON in one place) and ``_openapi`` the document it serves at
``GET /openapi.json``; ``_server`` is the stdlib HTTP glue, and ``_in_process`` the other way
in: a ``requests`` transport adapter handing calls straight to the router, no socket (moto's
mock mode; ``_door`` gives the play-the-user controls the same way in, without ``requests``).
``Sandbox`` runs the server in a background thread (or, ``http=False``, none at
all), ``SandboxControl`` plays the user (outbox, authenticator app, clock), and ``serve``
binds a server for the CLI. ``Fault`` and ``FaultPlan`` (``_faults``, one plan per account,
owned by the router, applied by both transports as ``_breaking`` says) break calls on purpose,
to test how a client copes; ``Traffic`` (``_traffic``) counts calls per account and operation.
Routes are matched by ``_selectors``.
"""

from __future__ import annotations

from verigator_nb.sandbox._backend import SandboxBackend
from verigator_nb.sandbox._control import SandboxControl, SmsMessage, TotpEnrolment
from verigator_nb.sandbox._faults import Fault, FaultPlan
from verigator_nb.sandbox._in_process import IN_PROCESS_URL, InProcessAdapter
from verigator_nb.sandbox._limits import MAX_BODY
from verigator_nb.sandbox._openapi import openapi_document
from verigator_nb.sandbox._routes import Reply, Router
from verigator_nb.sandbox._sandbox import Sandbox
from verigator_nb.sandbox._server import SandboxServer, serve
from verigator_nb.sandbox._state import ManualClock, SystemClock

__all__ = [
    "IN_PROCESS_URL",
    "MAX_BODY",
    "Fault",
    "FaultPlan",
    "InProcessAdapter",
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
