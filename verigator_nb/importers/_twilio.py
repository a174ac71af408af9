"""Twilio Verify's Verification Attempts export, as outcome-log rows; its summary, as a check.

One attempt (``VL…``) is one code sent: one session, whose initiate row is the attempt. A
Twilio verification (``VE…``) is one code and every send of it, so its attempts are the
sessions of one login, as a resend is in ``docs/metrics.md``: ``user_id`` and ``auth_id``
are the verification's sid (the export names no user but by phone number, which the log
never keeps). A ``converted`` attempt adds a verified verify row at the attempt's
``date_created``, the only time the export gives. ``docs/import.md`` has the field by field
table and what imported rows cannot tell (time to verify, wrong codes, latency).

The summary (``total_attempts``, ``total_converted``) has no sessions to split into rows:
``check_twilio_summary`` compares it with an import instead.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

from verigator_nb.importers._country import country_of_mcc, country_of_number
from verigator_nb.importers._errors import ImportFormatError, MissingFieldsError
from verigator_nb.importers._json_stream import records
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

__all__ = [
    "TWILIO",
    "SummaryCheck",
    "TwilioSummary",
    "check_twilio_summary",
    "import_twilio_attempts",
    "read_twilio_summary",
]

TWILIO = "twilio"
_ENDPOINT = "verify.twilio.com"
_PAGE_KEY = "attempts"  # a list page holds its attempts under this key
# Twilio's documented statuses for the calls an attempt stands for: Create Verification
# answers 201, a Verification Check that approves the code 200.
_SENT_STATUS = 201
_CHECKED_STATUS = 200
# Required fields; ``verification_sid`` may instead be in ``channel_data`` (an earlier shape).
_REQUIRED = ("sid", "verification_sid", "date_created", "conversion_status", "channel")
_CONVERTED = {"converted": True, "unconverted": False}
_SMS = "sms"  # not a column: Twilio's channel name for SMS, which the log calls METHOD_SMS
# Channels Twilio documents that the log has no method for: their attempts are set aside.
_OTHER_CHANNELS = frozenset({"call", "email", "whatsapp", "rbm", "sna", "auto"})


def import_twilio_attempts(
    source: PathOrPaths, *, provider: str = TWILIO, tags: str = ""
) -> Imported:
    """Rows from Twilio Verification Attempts JSON: one file or several (one per list page).

    Each file is a list page (``{"attempts": [...], "meta": {...}}``) or a bare list of
    attempts. SMS attempts become rows (``docs/import.md``); attempts on other channels are
    set aside, counted by channel in ``Imported.set_aside``. Raises ``MissingFieldsError``
    naming the fields an attempt (or a page) lacks, ``ImportFormatError`` for anything else
    that is not such JSON, ``OSError`` for a file that cannot be read; nothing is imported
    then.
    """
    check_provider(provider)
    paths = paths_of(source)
    collector = RowCollector()
    for path in paths:
        for number, attempt in enumerate(records(path, _PAGE_KEY), 1):
            collector.records += 1
            _add_attempt(collector, attempt, path, f"attempt {number}", provider, tags)
    return collector.result(provider, paths)


def _add_attempt(
    collector: RowCollector,
    attempt: Any,
    source: str,
    position: str,
    provider: str,
    tags: str,
) -> None:
    fields, channel_data = _fields(attempt, source, position)
    channel = fields["channel"].lower()
    if channel != _SMS:
        known = channel in _OTHER_CHANNELS
        collector.set_aside[f"channel {channel}" if known else "channel not documented"] += 1
        return
    converted = _CONVERTED.get(fields["conversion_status"].lower())
    if converted is None:
        raise ImportFormatError(
            source, position, "field 'conversion_status' is neither converted nor unconverted"
        )
    service = attempt.get("service_sid")
    session, login = fields["sid"], fields["verification_sid"]
    country = country_of_number(channel_data.get("to")) or country_of_mcc(channel_data.get("mcc"))
    common = {
        TS: parse_time(fields["date_created"], "date_created", source, position),
        SERVICE_ID: service if isinstance(service, str) else None,
        USER_ID: login,
        REQUESTED_METHOD: METHOD_SMS,
        METHOD: METHOD_SMS,
        AUTH_ID: login,
        SESSION_ID: session,
        ENDPOINT: _ENDPOINT,
        COUNTRY: country,
        TAGS: tags,
        PROVIDER: provider,
    }
    initiate = {EVENT_ID: session, ACTION: INITIATE, FALLBACK: False, HTTP_STATUS: _SENT_STATUS}
    collector.add({**common, **initiate}, source, position)
    if converted:
        verify = {
            EVENT_ID: f"{session}-converted",
            ACTION: VERIFY,
            VERIFIED: True,
            RESULT: RESULT_VERIFIED,
            HTTP_STATUS: _CHECKED_STATUS,
        }
        collector.add({**common, **verify}, source, position)


def _fields(attempt: Any, source: str, position: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The attempt's required fields, as text, and its ``channel_data`` (``{}`` if none)."""
    if not isinstance(attempt, dict):
        raise ImportFormatError(source, position, "an attempt is a JSON object")
    channel_data = attempt.get("channel_data")
    channel_data = channel_data if isinstance(channel_data, dict) else {}
    fields = {name: attempt.get(name) for name in _REQUIRED}
    if fields["verification_sid"] is None:
        fields["verification_sid"] = channel_data.get("verification_sid")
    missing = [name for name, value in fields.items() if value is None]
    if missing:
        raise MissingFieldsError(source, position, missing)
    text = {name: value for name, value in fields.items() if isinstance(value, str)}
    wrong = [name for name in fields if name not in text]
    if wrong:
        names = ", ".join(repr(name) for name in wrong)
        raise ImportFormatError(source, position, f"field(s) {names} not text")
    return text, channel_data


@dataclass(frozen=True)
class TwilioSummary:
    """A Verification Attempts Summary: Twilio's own counts for some filter of attempts."""

    total_attempts: int
    total_converted: int
    total_unconverted: int | None = None
    conversion_rate_percentage: float | None = None


def read_twilio_summary(path: str | os.PathLike[str]) -> TwilioSummary:
    """The summary JSON at ``path``. ``MissingFieldsError`` without ``total_attempts`` or
    ``total_converted``; ``ImportFormatError`` when a count is not a whole number."""
    source = os.fspath(path)
    with open(path, encoding="utf-8") as stream:
        try:
            data = json.load(stream)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ImportFormatError(source, None, "not JSON") from None
    if not isinstance(data, dict):
        raise ImportFormatError(source, None, "a summary is a JSON object")
    missing = [name for name in ("total_attempts", "total_converted") if data.get(name) is None]
    if missing:
        raise MissingFieldsError(source, None, missing)
    counts = {
        name: data.get(name) for name in ("total_attempts", "total_converted", "total_unconverted")
    }
    for name, value in counts.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ImportFormatError(source, None, f"field {name!r} is not a whole number")
    return TwilioSummary(
        int(data["total_attempts"]),
        int(data["total_converted"]),
        counts["total_unconverted"],
        _percentage(data.get("conversion_rate_percentage"), source),
    )


def _percentage(value: Any, source: str) -> float | None:
    # Documented as a string ("66.67"); a number is taken as it is.
    if value is None:
        return None
    try:
        number = float(value) if isinstance(value, str | int | float) else math.nan
    except ValueError:
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise ImportFormatError(source, None, "field 'conversion_rate_percentage' is not a number")
    return number


@dataclass(frozen=True)
class SummaryCheck:
    """An import against a Twilio summary: attempts and conversions on both sides."""

    attempts_summary: int
    attempts_imported: int
    converted_summary: int
    converted_imported: int
    set_aside: int

    @property
    def matches(self) -> bool:
        """Both counts agree."""
        return (self.attempts_summary, self.converted_summary) == (
            self.attempts_imported,
            self.converted_imported,
        )

    def explain(self) -> str:
        """One sentence: the counts, and what a mismatch may mean."""
        counts = (
            f"{self.attempts_imported:,} attempts and {self.converted_imported:,} converted "
            f"imported; the summary says {self.attempts_summary:,} and "
            f"{self.converted_summary:,}"
        )
        if self.matches:
            return f"{counts}: they agree"
        hint = "a page may be missing, or the summary covers other dates or services"
        if self.set_aside:
            hint = (
                f"{self.set_aside:,} attempts on other channels were set aside: compare with a "
                f"summary for Channel=sms, or {hint}"
            )
        return f"{counts}: {hint}"


def check_twilio_summary(imported: Imported, summary: TwilioSummary) -> SummaryCheck:
    """Compare an import of attempts with the summary of the same attempts. The summary
    counts attempts and converted attempts, as the import's sessions and verified verify rows
    do, so they agree when the import holds every attempt the summary counts."""
    return SummaryCheck(
        attempts_summary=summary.total_attempts,
        attempts_imported=imported.sessions,
        converted_summary=summary.total_converted,
        converted_imported=imported.verified,
        set_aside=sum(imported.set_aside.values()),
    )
