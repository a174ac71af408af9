"""The log stage: ``OutcomeLog``, every call as a row, durable on disk.

``_outcome_log`` is the store (JSON Lines, one ``O_APPEND`` write per row, atomic exports);
``_row_checks`` checks each row against ``verigator_nb.schema`` before it is stored;
``_atomic`` writes a whole file or nothing, for every export the toolkit makes.
"""

from __future__ import annotations

from verigator_nb.log._atomic import write_atomically
from verigator_nb.log._outcome_log import LogFormatError, OutcomeLog

__all__ = ["LogFormatError", "OutcomeLog", "write_atomically"]
