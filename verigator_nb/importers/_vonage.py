"""Vonage Verify v2 records from the Reports API (``product=VERIFY-V2``, CSV), as outcome-log
rows.

One verify request is one code sent by its workflow: one session, and one login (the record
names no user but by phone number, which is never read). A ``completed`` request adds a
verified verify row at ``date_received``, the only time the mapping relies on. The field
names are those of ``FIELDS``; a file that names them otherwise can say so with
``columns=`` (documented field -> header), and a file without them is refused, naming them.
``docs/import.md`` has the field by field table.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping

from verigator_nb.importers._errors import ImportFormatError, MappingError, MissingFieldsError
from verigator_nb.importers._rows import (
    Imported,
    PathOrPaths,
    RowCollector,
    check_provider,
    parse_time,
    paths_of,
)
from verigator_nb.models import METHOD_SMS, RESULT_VERIFIED
from verigator_nb.schema import (
    ACTION,
    AUTH_ID,
    COUNTRY,
    ENDPOINT,
    EVENT_ID,
    FALLBACK,
    HTTP_STATUS,
    INITIATE,
    METHOD,
    PROVIDER,
    REQUESTED_METHOD,
    RESULT,
    SERVICE_ID,
    SESSION_ID,
    TAGS,
    TS,
    USER_ID,
    VERIFIED,
    VERIFY,
)

__all__ = ["FIELDS", "VONAGE", "import_vonage_reports"]

VONAGE = "vonage"
_ENDPOINT = "api.nexmo.com"
# Vonage's documented statuses: Verify v2 accepts a request with 202, a correct code with 200.
_SENT_STATUS = 202
_CHECKED_STATUS = 200

_REQUEST_ID = "request_id"
_DATE = "date_received"
_STATUS = "status"
_CHANNEL = "channel"
_COUNTRY = "country"  # not a column: the report's field, an ISO 3166 code like the column
_ACCOUNT = "account_id"
# The record's fields the import reads (the others, ``to`` and ``price`` among them, are not).
FIELDS: tuple[str, ...] = (_REQUEST_ID, _DATE, _STATUS, _CHANNEL, _COUNTRY, _ACCOUNT)
_REQUIRED = (_REQUEST_ID, _DATE, _STATUS, _CHANNEL, _COUNTRY)

# Request statuses: the final ones, converted or not; one still running is set aside.
_FINAL = {"completed": True, "failed": False, "expired": False, "user_rejected": False}
_RUNNING = frozenset({"action_pending"})
_SMS = "sms"  # not a column: Vonage's channel name for SMS, which the log calls METHOD_SMS
_OTHER_CHANNELS = frozenset({"voice", "email", "whatsapp", "whatsapp_interactive", "silent_auth"})
_REGION = re.compile(r"[A-Z]{2}")


def import_vonage_reports(
    source: PathOrPaths,
    *,
    provider: str = VONAGE,
    tags: str = "",
    columns: Mapping[str, str] | None = None,
) -> Imported:
    """Rows from Vonage Reports API CSV files of Verify v2 records (one file or several).

    ``columns`` maps a field of ``FIELDS`` to the header that holds it, where a file names it
    otherwise. SMS requests with a final status become rows (``docs/import.md``); requests on
    other channels, or still running, are set aside and counted in ``Imported.set_aside``.
    Raises ``MissingFieldsError`` naming the fields the header lacks, ``ImportFormatError``
    for a record that does not fit, ``MappingError`` for ``columns`` naming no field,
    ``OSError`` for a file that cannot be read; nothing is imported then.
    """
    check_provider(provider)
    headers = _headers(columns or {})
    paths = paths_of(source)
    collector = RowCollector()
    for path in paths:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            reader = csv.DictReader(stream)
            missing = [f for f in _REQUIRED if headers[f] not in (reader.fieldnames or ())]
            if missing:
                raise MissingFieldsError(path, "header", [headers[f] for f in missing])
            for record in reader:
                collector.records += 1
                fields = {f: (record.get(headers[f]) or "").strip() for f in FIELDS}
                _add_request(collector, fields, path, f"line {reader.line_num}", provider, tags)
    return collector.result(provider, paths)


def _headers(columns: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise MappingError(
            f"not Vonage report fields: {', '.join(unknown)} (fields: {', '.join(FIELDS)})"
        )
    return {field: columns.get(field, field) for field in FIELDS}


def _add_request(
    collector: RowCollector,
    fields: dict[str, str],
    source: str,
    position: str,
    provider: str,
    tags: str,
) -> None:
    missing = [field for field in (_REQUEST_ID, _DATE, _STATUS, _CHANNEL) if not fields[field]]
    if missing:
        raise MissingFieldsError(source, position, missing)
    channel = fields[_CHANNEL].lower()
    status = fields[_STATUS].lower()
    if status not in _FINAL and status not in _RUNNING:
        allowed = ", ".join([*_FINAL, *sorted(_RUNNING)])
        raise ImportFormatError(source, position, f"field 'status' is none of {allowed}")
    if channel != _SMS:
        known = channel in _OTHER_CHANNELS
        collector.set_aside[f"channel {channel}" if known else "channel not documented"] += 1
        return
    if status in _RUNNING:
        collector.set_aside["still running"] += 1
        return
    region = fields[_COUNTRY].upper()
    if region and not _REGION.fullmatch(region):
        raise ImportFormatError(source, position, "field 'country' is not an ISO 3166 code")
    request = fields[_REQUEST_ID]
    common = {
        TS: parse_time(fields[_DATE], _DATE, source, position),
        SERVICE_ID: fields[_ACCOUNT] or None,
        USER_ID: request,
        REQUESTED_METHOD: METHOD_SMS,
        METHOD: METHOD_SMS,
        AUTH_ID: request,
        SESSION_ID: request,
        ENDPOINT: _ENDPOINT,
        COUNTRY: region or None,
        TAGS: tags,
        PROVIDER: provider,
    }
    initiate = {EVENT_ID: request, ACTION: INITIATE, FALLBACK: False, HTTP_STATUS: _SENT_STATUS}
    collector.add({**common, **initiate}, source, position)
    if _FINAL[status]:
        verify = {
            EVENT_ID: f"{request}-completed",
            ACTION: VERIFY,
            VERIFIED: True,
            RESULT: RESULT_VERIFIED,
            HTTP_STATUS: _CHECKED_STATUS,
        }
        collector.add({**common, **verify}, source, position)
