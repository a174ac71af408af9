"""ipywidgets forms for running verify calls interactively, and a live view of the outcome log.

- ``VerifyForm(api, log=None, *, control=None, services=())`` — choose a service and user,
  start a login check, type the PIN, see the outcome; with a sandbox ``control`` it can also
  play the user (show the SMS, show the authenticator's code, enrol an app).
- ``SetupForm`` — create a service or add a user (part of ``VerifyForm``).
- ``LogPanel(log)`` — the latest rows and the success and fallback rates so far.
- ``PinEntry()`` — a PIN box and a Verify button whose submit carries the typed text, so
  typing at machine speed cannot submit an older value (not yet part of ``VerifyForm``).
"""

from __future__ import annotations

from verigator_nb.widgets._log_panel import LogPanel
from verigator_nb.widgets._pin_entry import PinEntry
from verigator_nb.widgets._setup_form import SetupForm
from verigator_nb.widgets._verify_form import VerifyForm

__all__ = ["LogPanel", "PinEntry", "SetupForm", "VerifyForm"]
