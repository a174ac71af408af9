"""The log stage: ``OutcomeLog``, every call as a row, durable on disk.

``_outcome_log`` is the store (JSON Lines, one ``O_APPEND`` write per row, one locked writer
per file, atomic exports); ``_jsonl`` reads the file's lines back, keeping every complete row
around a damaged line; ``_row_checks`` checks each row against ``verigator_nb.schema`` before it
is stored; ``_atomic`` writes a whole file or nothing, for every export the toolkit makes;
``_spreadsheet`` keeps exported text cells from running as spreadsheet formulas.
"""

from __future__ import annotations

from verigator_nb.log._atomic import write_atomically
from verigator_nb.log._outcome_log import (
    DamagedLogWarning,
    LogFormatError,
    LogLockedError,
    OutcomeLog,
)

__all__ = [
    "DamagedLogWarning",
    "LogFormatError",
    "LogLockedError",
    "OutcomeLog",
    "write_atomically",
]
