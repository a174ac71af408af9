"""The log stage: ``OutcomeLog``, every call as a row, durable on disk.

``_outcome_log`` is the store (JSON Lines, one ``O_APPEND`` write per row, one locked writer
per file; for a server, no rows kept in memory and failures counted, not raised); ``_folder``
names a server's files, one per process and UTC day, and reads a folder of them back as one
log (``log_files`` lists them in reading order); ``_jsonl`` writes a row as a line and reads
the lines back, keeping every complete row around a damaged line; ``_row_checks`` checks each
row against ``verigator_nb.schema`` before it is stored; ``_exports`` writes and reads the
Parquet and CSV snapshots; ``_atomic`` writes a whole file or nothing, for every export the
toolkit makes; ``_spreadsheet`` keeps exported text cells from running as spreadsheet formulas.
"""

from __future__ import annotations

from verigator_nb.log._atomic import write_atomically
from verigator_nb.log._folder import log_files
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
    "log_files",
    "write_atomically",
]
