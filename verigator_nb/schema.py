"""The outcome log's schema: every column, its dtype and its meaning, defined once.

Every other module (the log, the client's recorder, the forms, the analysis and the report)
reads column names and dtypes from here, so a change to the schema is a change in one place.
Importing it does not import pandas: the client's recorder names columns from here.

A row is one call to the API: an ``initiate`` (start authentication) or a ``verify`` (check a
PIN). A **session** is one initiate call and the verify calls that answer it; they share a
``session_id``. No column ever holds a PIN, a TOTP secret, a password or a phone number (only
its country, its range of 10,000 numbers and its type).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

from verigator_nb.models import (
    METHODS,
    RESULT_EXPIRED,
    RESULT_INVALID,
    RESULT_MAX_CHARS,
    RESULT_THROTTLED,
    RESULT_VERIFIED,
    RESULTS,
)

__all__ = [
    "ACTION",
    "ACTIONS",
    "ADDED_COLUMNS",
    "ATTEMPT",
    "AUTH_ID",
    "COLUMNS",
    "COLUMN_NAMES",
    "COUNTRY",
    "ENDPOINT",
    "ERROR",
    "EVENT_ID",
    "FALLBACK",
    "HTTP_STATUS",
    "INITIATE",
    "LATENCY_MS",
    "METHOD",
    "METHODS",
    "NUMBER_RANGE",
    "NUMBER_TYPE",
    "PREMIUM_RATE",
    "PROVIDER",
    "REQUESTED_METHOD",
    "RESULT",
    "RESULTS",
    "RESULT_EXPIRED",
    "RESULT_INVALID",
    "RESULT_THROTTLED",
    "RESULT_VERIFIED",
    "SANDBOX_ENDPOINT",
    "SERVICE_ID",
    "SESSION_ID",
    "SIMULATED_TAG",
    "TAGS",
    "TS",
    "TS_DTYPE",
    "USER_ID",
    "VERIFIED",
    "VERIFY",
    "VERIGATOR",
    "Column",
    "empty_frame",
    "from_columns",
    "to_frame",
]

# Column names: every module spells a column through these constants, never as a literal.
EVENT_ID = "event_id"
TS = "ts"
SERVICE_ID = "service_id"
USER_ID = "user_id"
ACTION = "action"
REQUESTED_METHOD = "requested_method"
METHOD = "method"
FALLBACK = "fallback"
AUTH_ID = "auth_id"
VERIFIED = "verified"
RESULT = "result"
HTTP_STATUS = "http_status"
ERROR = "error"
LATENCY_MS = "latency_ms"
SESSION_ID = "session_id"
ATTEMPT = "attempt"
ENDPOINT = "endpoint"
SANDBOX_ENDPOINT = "sandbox"  # the endpoint of a row the local sandbox answered
SIMULATED_TAG = "simulated"  # the tag the simulator gives its rows unless told otherwise
COUNTRY = "country"
TAGS = "tags"
PROVIDER = "provider"
TS_DTYPE = "datetime64[us, UTC]"  # the dtype of ts, and of every moment derived from it
NUMBER_RANGE = "number_range"
NUMBER_TYPE = "number_type"
PREMIUM_RATE = "premium rate"  # the number_type of a premium-rate number (phonenumbers' words)

# What the ``action`` column holds (methods and results are the protocol's, from ``models``).
INITIATE = "initiate"
VERIFY = "verify"
ACTIONS = (INITIATE, VERIFY)
# What ``provider`` holds for the rows this toolkit's own client records (the sandbox too).
VERIGATOR = "verigator"


@dataclass(frozen=True)
class Column:
    """One column of the outcome log: its name, pandas dtype and meaning."""

    name: str
    kind: str  # a pandas dtype name, or "category" with ``categories``
    meaning: str
    categories: tuple[str, ...] = ()

    @property
    def dtype(self) -> Any:
        """The column's pandas dtype (pandas is imported here, not when the schema is)."""
        if self.kind == "category":
            import pandas as pd

            return pd.CategoricalDtype(self.categories)
        return self.kind


COLUMNS: tuple[Column, ...] = (
    Column(EVENT_ID, "str", "Unique id of this row."),
    Column(
        TS,
        TS_DTYPE,
        "When the call was made (UTC); the sandbox's clock when the Api came from an "
        "in-process sandbox, so simulated time shows up in reports.",
    ),
    Column(SERVICE_ID, "str", "Verigator service id."),
    Column(USER_ID, "str", "Verigator user id."),
    Column(ACTION, "category", "initiate (start authentication) or verify.", ACTIONS),
    Column(REQUESTED_METHOD, "category", "The method the caller asked for.", METHODS),
    Column(
        METHOD,
        "category",
        "The method the server used; empty when no answer came.",
        METHODS,
    ),
    Column(
        FALLBACK,
        "boolean",
        "Initiate only: TOTP was asked and the server used SMS. Empty when no answer came.",
    ),
    Column(AUTH_ID, "str", "The SMS authentication id; empty for TOTP."),
    Column(
        VERIFIED,
        "boolean",
        "Verify only: the server's answer. Empty when no answer came (outcome unknown).",
    ),
    Column(
        RESULT,
        "str",
        "Verify only: the server's result: VERIFIED, INVALID, EXPIRED, THROTTLED or any other "
        f"text it sent (cut to {RESULT_MAX_CHARS} characters; a non-text result as its JSON); "
        "empty when no answer came. Earlier logs stored it as a category; they load as text.",
    ),
    Column(HTTP_STATUS, "Int16", "HTTP status of the answer; empty when none came."),
    Column(ERROR, "str", "Error class name (e.g. RequestTimeoutError); empty when none."),
    Column(LATENCY_MS, "float64", "Wall-clock time of the HTTP call in milliseconds."),
    Column(SESSION_ID, "str", "Ties each verify to the initiate it answers."),
    Column(ATTEMPT, "Int16", "Verify only: 1, 2, ... within its session."),
    Column(ENDPOINT, "str", f"'{SANDBOX_ENDPOINT}' or the real API host."),
    Column(
        COUNTRY,
        "str",
        "ISO 3166 region of the user's phone, when the user was created through this toolkit.",
    ),
    Column(TAGS, "str", "Free-form labels, comma separated (e.g. a campaign name)."),
    Column(
        PROVIDER,
        "str",
        "Who answered the call: 'verigator' for calls this toolkit's client made (the sandbox "
        "included), or the provider an imported row came from ('twilio', 'vonage', or the name "
        "given to the import). Empty in logs written before the column existed.",
    ),
    Column(
        NUMBER_RANGE,
        "str",
        "The block of 10,000 numbers the user's phone is in: the country calling code and the "
        "national digits without the last four ('+44 740012'), never the number itself; when "
        "the user was created through this toolkit. Empty in logs written before it existed.",
    ),
    Column(
        NUMBER_TYPE,
        "str",
        "The kind of the user's phone number in phonenumbers' metadata: 'mobile', "
        "'fixed line', 'premium rate', 'toll free', 'voip', 'unknown' ...; when the user was "
        "created through this toolkit. Empty in logs written before it existed.",
    ),
)

COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)
# Columns added after the log's format was first published, at the end of ``COLUMNS``: a log
# or an export written before one existed lacks it, and loads with it empty. The format only
# ever grows at its end; a column is never renamed or dropped.
ADDED_COLUMNS: tuple[str, ...] = (PROVIDER, NUMBER_RANGE, NUMBER_TYPE)

# Columns where "no value" is the empty string rather than <NA>: they are identifiers and labels
# that analysts filter and group on, and an empty string groups without surprises.
_EMPTY_IS_BLANK = frozenset({ERROR, TAGS, PROVIDER})


def empty_frame() -> pd.DataFrame:
    """An outcome log with no rows and every column at its schema dtype."""
    return to_frame([])


def to_frame(rows: list[Mapping[str, Any]]) -> pd.DataFrame:
    """Build a DataFrame from row mappings, with every column at its schema dtype.

    Missing keys become <NA> (or "" for ``error``, ``tags`` and ``provider``); unknown keys
    are dropped. ``ts`` may be a datetime, an ISO 8601 string or a pandas Timestamp.
    """
    return from_columns({column.name: [row.get(column.name) for row in rows] for column in COLUMNS})


def from_columns(data: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Build a DataFrame from one sequence of values per column, as ``to_frame`` does from rows.

    Every sequence has one value per row; a column missing from ``data`` is empty throughout
    and a key that is not a column is dropped. ``ValueError`` when the lengths differ.
    """
    import pandas as pd  # here, so the client can name columns without loading pandas

    lengths = {len(values) for name, values in data.items() if name in COLUMN_NAMES}
    if len(lengths) > 1:
        raise ValueError("every column needs one value per row")
    size = lengths.pop() if lengths else 0
    frame = pd.DataFrame(
        {name: data.get(name, [None] * size) for name in COLUMN_NAMES}, columns=list(COLUMN_NAMES)
    )
    for name in _EMPTY_IS_BLANK:
        frame[name] = frame[name].fillna("")
    frame[TS] = pd.to_datetime(frame[TS], utc=True, format="ISO8601").astype(TS_DTYPE)
    return frame.astype({c.name: c.dtype for c in COLUMNS if c.name != TS})
