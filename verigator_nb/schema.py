"""The outcome log's schema: every column, its dtype and its meaning, defined once.

Every other module (the log, the client's recorder, the forms, the analysis and the report)
reads column names and dtypes from here, so a change to the schema is a change in one place.

A row is one call to the API: an ``initiate`` (start authentication) or a ``verify`` (check a
PIN). A **session** is one initiate call and the verify calls that answer it; they share a
``session_id``. No column ever holds a PIN, a TOTP secret, a password or a phone number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = [
    "ACTIONS",
    "COLUMNS",
    "COLUMN_NAMES",
    "METHODS",
    "RESULTS",
    "Column",
    "empty_frame",
    "to_frame",
]

ACTIONS = ("initiate", "verify")
METHODS = ("totp", "sms")
RESULTS = ("VERIFIED", "INVALID", "EXPIRED", "THROTTLED")


@dataclass(frozen=True)
class Column:
    """One column of the outcome log: its name, pandas dtype and meaning."""

    name: str
    dtype: Any
    meaning: str


COLUMNS: tuple[Column, ...] = (
    Column("event_id", "str", "Unique id of this row."),
    Column(
        "ts",
        "datetime64[us, UTC]",
        "When the call was made (UTC); the sandbox's clock when the Api came from an "
        "in-process sandbox, so simulated time shows up in reports.",
    ),
    Column("service_id", "str", "Verigator service id."),
    Column("user_id", "str", "Verigator user id."),
    Column("action", pd.CategoricalDtype(ACTIONS), "initiate (start authentication) or verify."),
    Column("requested_method", pd.CategoricalDtype(METHODS), "The method the caller asked for."),
    Column(
        "method",
        pd.CategoricalDtype(METHODS),
        "The method the server used; empty when no answer came.",
    ),
    Column(
        "fallback",
        "boolean",
        "Initiate only: TOTP was asked and the server used SMS. Empty when no answer came.",
    ),
    Column("auth_id", "str", "The SMS authentication id; empty for TOTP."),
    Column(
        "verified",
        "boolean",
        "Verify only: the server's answer. Empty when no answer came (outcome unknown).",
    ),
    Column(
        "result",
        pd.CategoricalDtype(RESULTS),
        "Verify only: VERIFIED, INVALID, EXPIRED or THROTTLED; empty when no answer came.",
    ),
    Column("http_status", "Int16", "HTTP status of the answer; empty when none came."),
    Column("error", "str", "Error class name (e.g. RequestTimeoutError); empty when none."),
    Column("latency_ms", "float64", "Wall-clock time of the HTTP call in milliseconds."),
    Column("session_id", "str", "Ties each verify to the initiate it answers."),
    Column("attempt", "Int16", "Verify only: 1, 2, ... within its session."),
    Column("endpoint", "str", "'sandbox' or the real API host."),
    Column(
        "country",
        "str",
        "ISO 3166 region of the user's phone, when the user was created through this toolkit.",
    ),
    Column("tags", "str", "Free-form labels, comma separated (e.g. a campaign name)."),
)

COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)

# Columns where "no value" is the empty string rather than <NA>: they are identifiers and labels
# that analysts filter and group on, and an empty string groups without surprises.
_EMPTY_IS_BLANK = frozenset({"error", "tags"})


def empty_frame() -> pd.DataFrame:
    """An outcome log with no rows and every column at its schema dtype."""
    return to_frame([])


def to_frame(rows: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Build a DataFrame from row mappings, with every column at its schema dtype.

    Missing keys become <NA> (or "" for ``error`` and ``tags``); unknown keys are dropped.
    ``ts`` may be a datetime, an ISO 8601 string or a pandas Timestamp.
    """
    data = {column.name: [row.get(column.name) for row in rows] for column in COLUMNS}
    frame = pd.DataFrame(data, columns=list(COLUMN_NAMES))
    for name in _EMPTY_IS_BLANK:
        frame[name] = frame[name].fillna("")
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601").astype(
        "datetime64[us, UTC]"
    )
    return frame.astype({c.name: c.dtype for c in COLUMNS if c.name != "ts"})
