"""The application's own events (CSV or JSON Lines) as outcome-log rows, by a column mapping.

Each event is one call, an initiate or a verify, already: the mapping only says which of the
file's columns holds which log column (``ts=created_at,user_id=login,...``). Values must be in
the log's vocabulary (``action`` initiate or verify, methods totp or sms, ...); nothing is
translated or guessed. A phone number is never imported: a column mapped to ``phone`` is
read for its country only, and a text value written as an international number (``+44…``)
is refused wherever it is mapped.
"""

from __future__ import annotations

import csv
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from verigator_nb.importers._country import country_of_number
from verigator_nb.importers._errors import ImportFormatError, MappingError, MissingFieldsError
from verigator_nb.importers._rows import (
    Imported,
    PathOrPaths,
    RowCollector,
    check_provider,
    parse_time,
    paths_of,
)
from verigator_nb.schema import (
    ACTION,
    COLUMNS,
    COUNTRY,
    EVENT_ID,
    PROVIDER,
    SESSION_ID,
    TAGS,
    TS,
)

__all__ = ["PHONE", "import_events", "parse_mapping"]

PHONE = "phone"  # not a column: a source column read for its country, then dropped
REQUIRED: tuple[str, ...] = (TS, ACTION, SESSION_ID)  # what every metric needs of a row
_KINDS = {column.name: column.kind for column in COLUMNS}
_FLAGS = {"true": True, "false": False}
_PHONE_LIKE = re.compile(r"\+\s*\d[\d\s().-]{5,}\d")
# Stable ids: importing a file again gives the same ids, so the copies are set aside as
# duplicates when the logs are read together.
_IDS = uuid.UUID("6f1d5a52-3c43-4f0e-9a55-3b8f5e0c2d71")
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def parse_mapping(text: str | Iterable[str]) -> dict[str, str]:
    """``"ts=created_at,user_id=login"`` (or several such strings) as ``{column: field}``.
    ``MappingError`` for an item that is not ``column=field`` or a column given twice."""
    items = [text] if isinstance(text, str) else list(text)
    mapping: dict[str, str] = {}
    for part in (p.strip() for item in items for p in item.split(",")):
        column, sep, field = (s.strip() for s in part.partition("="))
        if not sep or not column or not field:
            raise MappingError(f"a mapping item is COLUMN=FIELD, not {part!r}")
        if column in mapping:
            raise MappingError(f"column {column!r} is mapped twice")
        mapping[column] = field
    return mapping


def _check_mapping(mapping: Mapping[str, str]) -> None:
    unknown = sorted(set(mapping) - set(_KINDS) - {PHONE})
    if unknown:
        raise MappingError(f"not outcome-log columns: {', '.join(unknown)} (see docs/import.md)")
    if PROVIDER in mapping:
        raise MappingError("'provider' is given as the provider name, not mapped")
    if PHONE in mapping and COUNTRY in mapping:
        raise MappingError("map 'phone' or 'country', not both: the phone gives the country")
    missing = [column for column in REQUIRED if column not in mapping]
    if missing:
        raise MappingError(f"the log needs column(s) {', '.join(missing)} mapped")


def import_events(
    source: PathOrPaths,
    *,
    mapping: Mapping[str, str],
    provider: str,
    tags: str = "",
    assume_utc: bool = False,
) -> Imported:
    """Rows from the application's event files (``.csv`` or ``.jsonl``), one row per event.

    ``mapping`` is ``{log column: source field}`` (``parse_mapping`` reads the command line's
    form); ``ts``, ``action`` and ``session_id`` must be mapped, ``phone`` may name a field
    whose number gives ``country``. ``event_id``, when not mapped, is made from the provider,
    the file's name and the line. ``assume_utc`` takes times without an offset as UTC
    (otherwise they are refused). Raises ``MappingError`` for a mapping that cannot be used,
    ``MissingFieldsError`` naming mapped fields the file lacks, ``ImportFormatError`` for a
    value that does not fit its column, ``OSError`` for a file that cannot be read; nothing
    is imported then.
    """
    check_provider(provider)
    _check_mapping(mapping)
    paths = paths_of(source)
    collector = RowCollector()
    for path in paths:
        name = os.path.basename(path)
        for line, record in _records(path, list(mapping.values())):
            collector.records += 1
            position = f"line {line}"
            row = _row(record, mapping, path, position, assume_utc)
            row.setdefault(EVENT_ID, uuid.uuid5(_IDS, f"{provider}\n{name}\n{line}").hex)
            row.setdefault(TAGS, tags)
            collector.add({**row, PROVIDER: provider}, path, position)
    return collector.result(provider, paths)


def _records(path: str, fields: list[str]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    kind = _SUFFIXES.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise ImportFormatError(path, None, "events are a .csv or a .jsonl file")
    needed = list(dict.fromkeys(fields))
    if kind == "csv":
        yield from _csv_records(path, needed)
    else:
        yield from _jsonl_records(path, needed)


def _csv_records(path: str, fields: list[str]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    with open(path, encoding="utf-8-sig", newline="") as stream:
        reader = csv.DictReader(stream)
        missing = [field for field in fields if field not in (reader.fieldnames or ())]
        if missing:
            raise MissingFieldsError(path, "header", missing)
        for record in reader:
            # An empty cell is an empty value, as in the log's own CSV.
            yield reader.line_num, {f: record[f] or None for f in fields}


def _jsonl_records(path: str, fields: list[str]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    with open(path, encoding="utf-8") as stream:
        for line, text in enumerate(stream, 1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                raise ImportFormatError(path, f"line {line}", "not JSON") from None
            if not isinstance(record, dict):
                raise ImportFormatError(path, f"line {line}", "an event is a JSON object")
            missing = [field for field in fields if field not in record]
            if missing:
                raise MissingFieldsError(path, f"line {line}", missing)
            yield line, record


def _row(
    record: Mapping[str, Any],
    mapping: Mapping[str, str],
    source: str,
    position: str,
    assume_utc: bool,
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column, field in mapping.items():
        value = record.get(field)
        if value is None:
            continue
        if column == PHONE:
            row[COUNTRY] = country_of_number(value if isinstance(value, str) else None)
            continue
        row[column] = _value(column, field, value, source, position, assume_utc)
    return row


def _value(
    column: str, field: str, value: Any, source: str, position: str, assume_utc: bool
) -> Any:
    """``value`` of ``field`` as ``column`` holds it; text from a CSV cell is parsed here, a
    JSON value is passed on for the log's row checks (a number id becomes its text)."""
    kind = _KINDS[column]
    if column == TS and isinstance(value, str):
        return parse_time(value, field, source, position, utc=assume_utc)
    if kind in ("str", "category"):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and _PHONE_LIKE.fullmatch(value.strip()):
            raise ImportFormatError(
                source,
                position,
                f"field {field!r} holds what looks like a phone number, and the log never keeps "
                f"one: map it to {PHONE!r} to keep its country only",
            )
        return value
    if not isinstance(value, str):
        return value
    try:
        if kind == "boolean":
            return _FLAGS[value.strip().lower()]
        return int(value) if kind == "Int16" else float(value)
    except (KeyError, ValueError):
        raise ImportFormatError(
            source, position, f"field {field!r} does not parse as {column!r} ({kind})"
        ) from None
