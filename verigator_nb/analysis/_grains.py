"""The rows every metric counts, as Ibis expressions: kept calls, sessions and logins.

This module is the metric contract's "Rows the metrics use", "Calls", "Sessions" and "login"
(``docs/metrics.md``), written once for every engine:

- ``marked(log)`` gives each row the reason it is set aside (``incomplete``, ``duplicate``,
  ``verify before its initiate``) or none; ``set_aside(rows)`` are the marked rows set
  aside (their numbers and reasons), ``calls(rows)`` the others, with ``answered``,
  ``succeeded`` and ``status_class``.
- ``sessions(calls)``: one row per session, the columns of its initiate (the earliest initiate
  row of its ``session_id``) and what its verify rows say: tried, verified, the first verified
  verify, attempts to it, how the session ended.
- ``logins(sessions, gap)``: a user's sessions less than ``gap`` apart, one row each.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

import ibis
import ibis.expr.types as ir

from verigator_nb.analysis._epoch import micros_between
from verigator_nb.analysis._source import ROW
from verigator_nb.models import METHOD_SMS
from verigator_nb.schema import (
    ACTION,
    ATTEMPT,
    AUTH_ID,
    EVENT_ID,
    HTTP_STATUS,
    INITIATE,
    METHOD,
    RESULT,
    SERVICE_ID,
    SESSION_ID,
    TS,
    USER_ID,
    VERIFIED,
    VERIFY,
)

__all__ = [
    "ANSWERED",
    "ATTEMPTS",
    "DEFAULT_GAP",
    "ENDING",
    "ENDINGS",
    "REASON",
    "SECONDS",
    "SET_ASIDE_REASONS",
    "STARTED",
    "STATUS_CLASS",
    "SUCCEEDED",
    "TRIED",
    "VERIFIED_SESSION",
    "calls",
    "logins",
    "marked",
    "sessions",
    "set_aside",
]

# Why a row is set aside, checked in this order; a row counts under its first reason.
INCOMPLETE: Final = "incomplete"
DUPLICATE: Final = "duplicate"
EARLY_VERIFY: Final = "verify before its initiate"
SET_ASIDE_REASONS: Final = (INCOMPLETE, DUPLICATE, EARLY_VERIFY)
REASON: Final = "reason"  # not a column of the log: the set-aside table's

# Columns the grain tables add (never columns of the log).
ANSWERED: Final = "answered"
SUCCEEDED: Final = "succeeded"
STATUS_CLASS: Final = "status_class"
STARTED: Final = "started"
TRIED: Final = "tried"
VERIFIED_SESSION: Final = "verified_session"
ATTEMPTS: Final = "attempts"
SECONDS: Final = "seconds"
ENDING: Final = "ending"
SMS_SENT: Final = "sms_sent"
SESSIONS: Final = "sessions"
LOGIN: Final = "login"

# How a session ends, besides the ``result`` of its last answered verify.
ENDING_VERIFIED: Final = "verified"  # not a column: an ending
ENDING_INITIATE_FAILED: Final = "initiate failed"
ENDING_NEVER_TRIED: Final = "never tried"
ENDING_UNKNOWN: Final = "unknown"
ENDINGS: Final = (ENDING_VERIFIED, ENDING_INITIATE_FAILED, ENDING_NEVER_TRIED, ENDING_UNKNOWN)

# A session's columns are its initiate's, less what is empty on an initiate (set on verifies
# only) or names one call rather than a group of sessions: a narrower table builds faster.
_NOT_OF_SESSIONS: Final = (VERIFIED, RESULT, ATTEMPT, AUTH_ID, ANSWERED, STATUS_CLASS)
DEFAULT_GAP: Final = timedelta(minutes=10)
_NO_ATTEMPT: Final = 2**31 - 1  # an empty ``attempt`` sorts after every real one


def marked(log: ir.Table) -> ir.Table:
    """Every row of ``log`` with ``reason``: why it is set aside, or empty for a row kept;
    without ``event_id``, which only tells duplicates apart.

    Built from grouped counts and joins (hash work), not windows over the whole log: this is
    the one pass over every row, and a window would sort them all.
    """
    # Duplicates are judged among complete rows only: an incomplete row, set aside anyway,
    # must not make the first complete row with its event id a duplicate.
    keyed = log.filter(_complete(log) & log[EVENT_ID].notnull())
    repeated = (
        keyed.group_by(EVENT_ID)
        .aggregate(_first=keyed[ROW].min(), _seen=keyed.count())
        .filter(lambda t: t._seen > 1)
        .drop("_seen")
    )
    screened = log.left_join(repeated, EVENT_ID).drop(f"{EVENT_ID}_right")
    complete = _complete(screened)
    duplicate = complete & (screened[ROW] > screened._first).fill_null(False)
    screened = screened.mutate(
        _reason=ibis.cases((~complete, INCOMPLETE), (duplicate, DUPLICATE), else_=ibis.null())
    ).drop("_first")
    # The session's initiate time, from the earliest initiate row among rows still in.
    initiates = screened.filter(screened._reason.isnull() & (screened[ACTION] == INITIATE))
    opened = initiates.group_by(SESSION_ID).aggregate(_opened=initiates[TS].min())
    joined = screened.left_join(opened, SESSION_ID).drop(f"{SESSION_ID}_right")
    early = (joined[ACTION] == VERIFY) & (joined[TS] < joined._opened)
    reason = ibis.cases(
        (joined._reason.notnull(), joined._reason),
        (early.fill_null(False), EARLY_VERIFY),
        else_=ibis.null("string"),
    )
    return joined.mutate(**{REASON: reason}).drop("_reason", "_opened", EVENT_ID)


def _complete(log: ir.Table) -> ir.BooleanValue:
    """A row with what every metric needs: ``ts``, ``action`` and ``session_id``."""
    return log[TS].notnull() & log[ACTION].notnull() & log[SESSION_ID].notnull()


def set_aside(rows: ir.Table) -> ir.Table:
    """Of the ``marked`` rows, those set aside: their ``_row`` and ``reason``."""
    return rows.filter(rows[REASON].notnull()).select(ROW, REASON)


def calls(rows: ir.Table) -> ir.Table:
    """Of the ``marked`` rows, those kept: the calls every metric counts, with ``answered``
    (a status below 500 came back), ``succeeded`` (2xx) and ``status_class`` ("2xx" ...
    "5xx", or "none" when no answer came), worked out where read (cheaper than stored)."""
    kept = rows.filter(rows[REASON].isnull()).drop(REASON)
    status = kept[HTTP_STATUS]
    hundreds = (status // 100).cast("int64").cast("string")
    return kept.mutate(
        **{
            ANSWERED: (status < 500).fill_null(False),
            SUCCEEDED: ((status >= 200) & (status < 300)).fill_null(False),
            STATUS_CLASS: ibis.ifelse(status.isnull(), "none", hundreds + "xx"),
        }
    )


def sessions(kept: ir.Table, dialect: str | None = None) -> ir.Table:
    """One row per session: its initiate row's columns (and ``ts``; not those set on verifies
    only, nor ``auth_id``), and ``started``, ``tried``, ``verified_session``, ``attempts``,
    ``seconds``, ``ending``, ``sms_sent``. ``dialect``: the engine's (``_epoch.micros_between``)."""
    initiate = _session_initiates(kept)
    counted = _attempts_and_last(kept.filter(kept[ACTION] == VERIFY))
    joined = initiate.left_join(counted, SESSION_ID).drop(f"{SESSION_ID}_right")
    started = joined[SUCCEEDED]
    tried = joined._verify_rows.fill_null(0) > 0
    verified = joined._first_ts.notnull()
    ending = ibis.cases(
        (verified, ENDING_VERIFIED),
        (~started, ENDING_INITIATE_FAILED),
        (~tried, ENDING_NEVER_TRIED),
        (joined._answered.fill_null(0) == 0, ENDING_UNKNOWN),
        else_=joined._last_result.fill_null(ENDING_UNKNOWN),
    )
    seconds = micros_between(joined[TS], joined._first_ts, dialect).cast("float64") / 1e6
    return joined.mutate(
        **{
            STARTED: started,
            TRIED: tried,
            VERIFIED_SESSION: verified,
            ATTEMPTS: ibis.ifelse(verified, joined._attempts, ibis.null("int64")),
            SECONDS: ibis.ifelse(verified, seconds, ibis.null("float64")),
            ENDING: ending,
        }
    ).drop("_verify_rows", "_first_ts", "_attempts", "_answered", "_last_result", SUCCEEDED)


def _session_initiates(kept: ir.Table) -> ir.Table:
    """Each session's earliest initiate row (by ``ts``, then reading order), with
    ``sms_sent``: how many of the session's initiate rows succeeded with ``method`` sms.

    Every such row sent an SMS, the later ones included (they count as calls only), so
    "SMS per verified session" counts initiates, not sessions. The earliest row is found by
    a grouped minimum and joined back by its ``_row`` (hash work on a few columns, where a
    window would sort every initiate with all its columns).
    """
    initiates = kept.filter(kept[ACTION] == INITIATE).drop(*_NOT_OF_SESSIONS)
    sent = initiates[SUCCEEDED] & (initiates[METHOD] == METHOD_SMS).fill_null(False)
    earliest = ibis.struct({TS: initiates[TS], ROW: initiates[ROW]}).min()
    per_session = initiates.group_by(SESSION_ID).aggregate(
        _first=earliest[ROW], _sent=sent.cast("int64").sum()
    )
    joined = initiates.join(per_session, initiates[ROW] == per_session._first)
    return joined.mutate(**{SMS_SENT: joined._sent}).drop(f"{SESSION_ID}_right", "_first", "_sent")


def _place(table: ir.Table, extra: dict[str, ir.Value] | None = None) -> ir.StructValue:
    """A verify's place in its session: ``ts``, then ``attempt`` (empty last), then reading
    order, as one struct (structs compare field by field), with ``extra`` fields carried."""
    return ibis.struct(
        {
            TS: table[TS],
            ATTEMPT: table[ATTEMPT].fill_null(_NO_ATTEMPT),
            ROW: table[ROW],
            **(extra or {}),
        }
    )


def _attempts_and_last(verifies: ir.Table) -> ir.Table:
    """Per session with verify rows: how many, how many answered, answered ones up to and
    including the first verified verify (``_first_ts`` its ``ts``), and the ``result`` of the
    last answered one. Grouped minima and maxima of ``_place``, not windows."""
    hits = verifies.filter(verifies[VERIFIED].fill_null(False))
    first = hits.group_by(SESSION_ID).aggregate(_hit=_place(hits).min())
    table = verifies.left_join(first, SESSION_ID).drop(f"{SESSION_ID}_right")
    hit, attempt = table._hit, table[ATTEMPT].fill_null(_NO_ATTEMPT)
    # A tie with the first verified verify on (ts, attempt) counts too, whatever the order.
    up_to_first = (table[TS] < hit[TS]) | ((table[TS] == hit[TS]) & (attempt <= hit[ATTEMPT]))
    answered = table[VERIFIED].notnull()
    last = _place(table, {RESULT: table[RESULT]}).max(where=answered)
    return table.group_by(SESSION_ID).aggregate(
        _verify_rows=table.count(),
        _answered=answered.cast("int64").sum(),
        _attempts=(answered & up_to_first.fill_null(False)).cast("int64").sum(),
        _first_ts=hit[TS].max(),
        _last_result=last[RESULT],
    )


def logins(table: ir.Table, gap: timedelta = DEFAULT_GAP, dialect: str | None = None) -> ir.Table:
    """One row per login: a (``service_id``, ``user_id``)'s sessions whose initiates are at
    most ``gap`` apart. Columns: the first session's, ``sessions`` and ``verified_session``
    (any of them verified).

    The sessions are numbered into logins on the few columns that takes, then each login is
    joined back to its first session by ``_row``: the windows never sort whole rows.
    """
    narrow = table.select(SERVICE_ID, USER_ID, TS, ROW, VERIFIED_SESSION)
    user = [narrow[SERVICE_ID], narrow[USER_ID]]
    order = [narrow[TS], narrow[ROW]]
    previous = narrow[TS].lag().over(group_by=user, order_by=order)
    apart = micros_between(previous, narrow[TS], dialect)
    starts = (previous.isnull() | (apart > int(gap / timedelta(microseconds=1)))).cast("int64")
    numbered = narrow.mutate(_starts=starts).mutate(
        _login=lambda t: t._starts.cumsum(
            group_by=[t[SERVICE_ID], t[USER_ID]], order_by=[t[TS], t[ROW]]
        )
    )
    # A group by keeps a missing user id as one user, as the window partition does; the
    # login's first session is the one that starts it.
    counted = numbered.group_by(SERVICE_ID, USER_ID, "_login").aggregate(
        _first=numbered[ROW].min(where=numbered._starts == 1),
        _sessions=numbered.count(),
        _verified=numbered[VERIFIED_SESSION].any(),
    )
    joined = table.join(counted, table[ROW] == counted._first)
    return joined.mutate(**{SESSIONS: joined._sessions, VERIFIED_SESSION: joined._verified}).drop(
        f"{SERVICE_ID}_right", f"{USER_ID}_right", "_login", "_first", "_sessions", "_verified"
    )
