"""The forms' seat in front of the outcome log: a row the log cannot write is reported, not raised.

The client writes a call's row after the server answered, inside ``api.auth.initiate`` or
``verify``. If that write fails (a full disk, a read-only file, a closed log) and the error
went up through the client, the form would lose the answer with the row: a PIN spent and
nothing shown. So the form's client records through a ``LogGuard``, which keeps the error for
the form to show beside the outcome; the log itself stays ready for the next row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verigator_nb.client import RowSink

__all__ = ["LogGuard"]


class LogGuard:
    """A ``RowSink`` that passes rows to ``log`` and holds the error that kept one out:
    ``OSError`` from writing it, or ``ValueError`` from a closed log or a refused row."""

    def __init__(self, log: RowSink) -> None:
        self.log = log
        self._failure: OSError | ValueError | None = None

    def append(self, row: Mapping[str, Any]) -> None:
        """Hand ``row`` to the log; a failure is kept for ``take_failure``, not raised."""
        try:
            self.log.append(row)
        except (OSError, ValueError) as exc:
            self._failure = exc

    def take_failure(self) -> OSError | ValueError | None:
        """The latest failure since the last call of this method, or ``None``."""
        failure, self._failure = self._failure, None
        return failure
