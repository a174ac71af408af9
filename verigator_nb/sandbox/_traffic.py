"""``Traffic``: how many calls reached the server, per caller and per operation.

Kept per ``(account, operation)`` — never per raw path — so the table holds at most
(accounts + 1) × (operations + 1) entries however many odd paths arrive: a call no operation
answers counts as ``UNROUTED``, a call without valid credentials under the account
``ANONYMOUS``. Each account reads only its own counts over HTTP (``GET /sandbox/stats``), so
no account learns another's ids or how often it verifies.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Final

from verigator_nb.sandbox._selectors import Selector

__all__ = ["ANONYMOUS", "UNROUTED", "Traffic"]

ANONYMOUS: Final = ""  # the caller of a call without valid credentials
UNROUTED: Final = "unrouted"  # the operation of a call no route answers


class Traffic:
    """Calls counted as they arrive, by caller and operation; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: Counter[tuple[str, str]] = Counter()

    def record(self, account: str, operation: str | None) -> None:
        """Count one call of ``account`` (``ANONYMOUS``: none) on ``operation`` (None: unrouted)."""
        with self._lock:
            self._seen[(account, operation or UNROUTED)] += 1

    def _of(self, account: str) -> dict[str, int]:
        with self._lock:
            return {op: n for (caller, op), n in self._seen.items() if caller == account}

    def count(self, route: str, account: str) -> int:
        """``account``'s calls on ``route``, written as a fault's (``*``, an operation, a path).

        ``ValueError`` for a route no fault could name, or a path route naming only part of
        an operation's calls (counts are kept per operation).
        """
        covered = Selector.parse(route).covered()
        seen = self._of(account)
        return sum(n for op, n in seen.items() if covered is None or op in covered)

    def by_operation(self, account: str) -> dict[str, int]:
        """``account``'s calls per operation name, ``"unrouted"`` for paths no route answers."""
        return dict(sorted(self._of(account).items()))

    def total(self, account: str) -> int:
        """Every call of ``account`` counted so far."""
        return sum(self._of(account).values())

    def __len__(self) -> int:
        """How many (account, operation) entries the table holds: bounded, whatever arrives."""
        with self._lock:
            return len(self._seen)

    def __repr__(self) -> str:
        return f"Traffic(entries={len(self)})"
