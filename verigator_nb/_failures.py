"""Rows that could not be recorded: counted, the first one reported, never raised.

A production application must not fail a login because its outcome log could not store a
row (a full disk, a closed log, a bug in a recorder). ``OutcomeLog(..., errors="count")``
and ``record()`` hand such failures to a ``Failures``: it counts them (read ``count`` in a
health check) and reports the first one, once, on the ``verigator_nb`` logger at ERROR level
(with no logging set up, Python prints it on stderr), so a broken disk is seen without a
flood of lines. The notebook form, by contrast, shows each failure where it happened.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["LOGGER", "Failures"]

LOGGER = logging.getLogger("verigator_nb")


class Failures:
    """How many rows ``where`` could not record; the first failure is logged, later ones counted."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.count = 0
        self._lock = threading.Lock()

    def add(self, error: Exception) -> None:
        """Count ``error``; log it if it is the first. Never raises."""
        with self._lock:
            self.count += 1
            first = self.count == 1
        if first:
            # The message names the class and its text: OSError and row-check messages name
            # files and columns, never a row's values.
            LOGGER.error(
                "%s could not record a row (%s: %s); the application goes on, and further "
                "failures are only counted (failed_appends)",
                self.where,
                type(error).__name__,
                error,
            )
