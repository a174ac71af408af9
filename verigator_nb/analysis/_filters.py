"""Which part of a log a report is about: a date range, services, countries, channels, tags.

A filter is read the way a group is (``docs/metrics.md``): each grain is kept or left out by
its own row, so a call by the call's ``ts`` and columns, a session by its initiate's, a login
by its first session's. Sessions and logins are formed from the whole log first, then
filtered: a session started on the last day of the range keeps the verify that came after
midnight, and a filtered table equals the matching group of an unfiltered one.

``Filters`` is a frozen value: hashable, so the queries it shapes are compiled once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from verigator_nb.schema import COUNTRY, METHOD, SERVICE_ID, TAGS, TS

__all__ = ["Filters"]

# How the header names each filtered column, one and several.
_WHAT = {
    SERVICE_ID: ("service", "services"),
    COUNTRY: ("country", "countries"),  # not a column: its words
    METHOD: ("channel", "channels"),
    TAGS: ("tag", "tags"),  # not a column: its words
}


def _values(
    values: str | Iterable[str] | None, spelled: Callable[[str], str] = str
) -> tuple[str, ...]:
    """A value or several as a sorted tuple of distinct non-empty texts, each ``spelled``
    as the log spells it (country codes upper case, channels lower case)."""
    if values is None:
        return ()
    chosen = [values] if isinstance(values, str) else list(values)
    if not all(isinstance(value, str) for value in chosen):
        raise TypeError("filter values are texts: a string or a list of strings")
    return tuple(sorted({spelled(value.strip()) for value in chosen if value.strip()}))


def _moment(value: str | date | datetime | pd.Timestamp | None, *, end: bool) -> datetime | None:
    """A bound as a naive UTC ``datetime``. A date alone (``"2026-01-31"``) means its whole
    day: as ``since``, its midnight; as ``until``, the next midnight (so the day is in)."""
    if value is None:
        return None
    whole_day = isinstance(value, date) and not isinstance(value, datetime)
    if isinstance(value, str):
        whole_day = len(value.strip()) == 10
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a date or a moment: {value!r} (e.g. 2026-01-31)") from exc
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if whole_day and end:
        stamp += timedelta(days=1)
    return stamp.tz_localize(None).to_pydatetime()


@dataclass(frozen=True, init=False)
class Filters:
    """The rows a report covers: ``ts`` from ``since`` (included) to ``until`` (left out; a
    date alone includes its whole day), and, when given, only these ``service`` ids,
    ``country`` codes, ``channel`` (the method the server used) and ``tag`` labels (a row
    matches when its ``tags`` hold any of them). Each may be one text or several."""

    since: datetime | None
    until: datetime | None
    services: tuple[str, ...] = field(default=())
    countries: tuple[str, ...] = field(default=())
    channels: tuple[str, ...] = field(default=())
    tags: tuple[str, ...] = field(default=())

    def __init__(
        self,
        *,
        since: str | date | datetime | pd.Timestamp | None = None,
        until: str | date | datetime | pd.Timestamp | None = None,
        service: str | Iterable[str] | None = None,
        country: str | Iterable[str] | None = None,
        channel: str | Iterable[str] | None = None,
        tag: str | Iterable[str] | None = None,
    ) -> None:
        start, end = _moment(since, end=False), _moment(until, end=True)
        if start is not None and end is not None and end <= start:
            raise ValueError("until must be later than since")
        values = {
            "since": start,
            "until": end,
            "services": _values(service),
            "countries": _values(country, str.upper),
            "channels": _values(channel, str.lower),
            "tags": _values(tag),  # not a column: the field
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __bool__(self) -> bool:
        """Whether anything is filtered out."""
        return any(getattr(self, name) for name in self.__dataclass_fields__)

    def keep(self, table: ir.Table) -> ir.Table:
        """The rows of ``table`` (any grain: calls, sessions, logins) that match."""
        conditions = [*self._range(table), *self._members(table)]
        return table.filter(*conditions) if conditions else table

    def _range(self, table: ir.Table) -> list[ir.BooleanValue]:
        ts = table[TS]
        bounds = []
        if self.since is not None:
            bounds.append(ts >= ibis.timestamp(self.since).cast(ts.type()))
        if self.until is not None:
            bounds.append(ts < ibis.timestamp(self.until).cast(ts.type()))
        return bounds

    def _members(self, table: ir.Table) -> list[ir.BooleanValue]:
        chosen = {SERVICE_ID: self.services, COUNTRY: self.countries, METHOD: self.channels}
        conditions = [table[c].isin(v).fill_null(False) for c, v in chosen.items() if v]
        if self.tags:
            labels = "|".join(re.escape(tag) for tag in self.tags)
            # A label is a whole comma-separated item of ``tags``: "eu" is not in "eu-test".
            pattern = rf"(^|,)\s*({labels})\s*(,|$)"
            conditions.append(table[TAGS].re_search(pattern).fill_null(False))
        return conditions

    def describe(self) -> str:
        """The filters in words, for a report's header ("" when nothing is filtered)."""
        parts = []
        if self.since is not None:
            parts.append(f"from {_stamp(self.since)}")
        if self.until is not None:
            parts.append(_until(self.until))
        listed = {
            SERVICE_ID: self.services,
            COUNTRY: self.countries,
            METHOD: self.channels,
            TAGS: self.tags,
        }
        for column, values in listed.items():
            if values:
                what = _WHAT[column][len(values) > 1]
                parts.append(f"{what} {', '.join(values)}")
        return "; ".join(parts)


def _until(moment: datetime) -> str:
    """The end of the range in words: the last day included when it ends at midnight."""
    if moment.time() == datetime.min.time():
        return f"through {moment - timedelta(days=1):%Y-%m-%d}"
    return f"until {_stamp(moment)} (not included)"


def _stamp(moment: datetime) -> str:
    """A UTC moment, as short as it can be said: the date alone at midnight."""
    if moment.time() == datetime.min.time():
        return f"{moment:%Y-%m-%d}"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"
