"""Other providers' exports, and the application's own events, as outcome-log rows.

So that one report can compare the provider a team is leaving with Verigator, each importer
maps one documented export format onto the log's columns, row by row, through the log's own
row checks, and sets ``provider`` on every row (the toolkit's client writes ``verigator``):

- ``import_twilio_attempts``: Twilio Verify's Verification Attempts (JSON: a list page or a
  bare list); ``read_twilio_summary`` and ``check_twilio_summary`` compare an import with
  Twilio's Verification Attempts Summary, which has no sessions to import;
- ``import_vonage_reports``: Vonage Verify v2 records from the Reports API (CSV);
- ``import_events``: the application's own events (CSV or JSON Lines), by a column mapping
  (``parse_mapping`` reads ``ts=created_at,user_id=login``).

Each returns an ``Imported``: the rows as a DataFrame at the schema's dtypes (``df``), the
source records read and those set aside by reason; ``to_log(path)`` writes them to an
``OutcomeLog``. An importer refuses what it does not know (``MissingFieldsError`` names the
fields missing, ``ImportFormatError`` says what does not fit) and imports nothing then; it
never guesses a field, a time zone or a value, and never keeps a phone number (a country is
all the log keeps of one). ``docs/import.md`` has each format's field-to-column table and the
decisions behind it. ``verigator-nb import`` runs them from the command line.
"""

from __future__ import annotations

from verigator_nb.importers._errors import ImportFormatError, MappingError, MissingFieldsError
from verigator_nb.importers._events import PHONE, import_events, parse_mapping
from verigator_nb.importers._rows import Imported
from verigator_nb.importers._twilio import (
    TWILIO,
    SummaryCheck,
    TwilioSummary,
    check_twilio_summary,
    import_twilio_attempts,
    read_twilio_summary,
)
from verigator_nb.importers._vonage import FIELDS as VONAGE_FIELDS
from verigator_nb.importers._vonage import VONAGE, import_vonage_reports

__all__ = [
    "PHONE",
    "TWILIO",
    "VONAGE",
    "VONAGE_FIELDS",
    "ImportFormatError",
    "Imported",
    "MappingError",
    "MissingFieldsError",
    "SummaryCheck",
    "TwilioSummary",
    "check_twilio_summary",
    "import_events",
    "import_twilio_attempts",
    "import_vonage_reports",
    "parse_mapping",
    "read_twilio_summary",
]
