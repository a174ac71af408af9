"""The rows every metric counts, as Ibis expressions: kept calls, sessions and logins.

This module is the metric contract's "Rows the metrics use", "Calls", "Sessions" and "login"
(``docs/metrics.md``), written once for every engine:

- ``cleaned(log)`` marks each row with the reason it is set aside (``incomplete``,
  ``duplicate``, ``verify before its initiate``) or none; ``set_aside(log)`` keeps just
  those rows' numbers and reasons, and ``calls(log, aside)`` are the other rows, with
  ``answered``, ``succeeded`` and ``status_class`` (so the log is never copied whole).
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

from verigator_nb.analysis._source import ROW
from verigator_nb.models import METHOD_SMS
from verigator_nb.schema import (
    ACTION,
    ATTEMPT,
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
    "cleaned",
    "logins",
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

DEFAULT_GAP: Final = timedelta(minutes=10)
_NO_ATTEMPT: Final = 2**31 - 1  # an empty ``attempt`` sorts after every real one


def cleaned(log: ir.Table) -> ir.Table:
    """``log`` with ``reason``: why the row is set aside, or empty for a row kept."""
    complete = log[TS].notnull() & log[ACTION].notnull() & log[SESSION_ID].notnull()
    # Duplicates are judged among complete rows only: an incomplete row, set aside anyway,
    # must not make the first complete row with its event id a duplicate.
    seen_before = ibis.row_number().over(group_by=[log[EVENT_ID], complete], order_by=log[ROW]) > 0
    duplicate = complete & log[EVENT_ID].notnull() & seen_before
    marked = log.mutate(
        _reason=ibis.cases((~complete, INCOMPLETE), (duplicate, DUPLICATE), else_=ibis.null())
    )
    # The session's initiate time, from the earliest initiate row among rows still in.
    initiates = marked.filter(marked._reason.isnull() & (marked[ACTION] == INITIATE))
    opened = initiates.group_by(SESSION_ID).aggregate(_opened=initiates[TS].min())
    joined = marked.left_join(opened, SESSION_ID).drop(f"{SESSION_ID}_right")
    early = (joined[ACTION] == VERIFY) & (joined[TS] < joined._opened)
    reason = ibis.cases(
        (joined._reason.notnull(), joined._reason),
        (early.fill_null(False), EARLY_VERIFY),
        else_=ibis.null("string"),
    )
    return joined.mutate(**{REASON: reason}).drop("_reason", "_opened")


def set_aside(log: ir.Table) -> ir.Table:
    """The rows set aside: their ``_row`` and ``reason`` (a few, usually none)."""
    marked = cleaned(log)
    return marked.filter(marked[REASON].notnull()).select(ROW, REASON)


def calls(log: ir.Table, aside: ir.Table) -> ir.Table:
    """The rows kept (``log`` less the rows ``aside``), with ``answered`` (a status below 500
    came back), ``succeeded`` (2xx) and ``status_class`` ("2xx" ... "5xx", or "none" when no
    answer came)."""
    kept = log.anti_join(aside, ROW)
    status = kept[HTTP_STATUS]
    hundreds = (status // 100).cast("int64").cast("string")
    return kept.mutate(
        **{
            ANSWERED: (status < 500).fill_null(False),
            SUCCEEDED: ((status >= 200) & (status < 300)).fill_null(False),
            STATUS_CLASS: ibis.ifelse(status.isnull(), "none", hundreds + "xx"),
        }
    )


def sessions(kept: ir.Table) -> ir.Table:
    """One row per session: its initiate row's columns (and ``ts``), and ``started``,
    ``tried``, ``verified_session``, ``attempts``, ``seconds``, ``ending``, ``sms_sent``."""
    initiate = _session_initiates(kept)
    verifies = kept.filter(kept[ACTION] == VERIFY)
    first = _first_verified(verifies)
    counted = _attempts_and_last(verifies, first)
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
    seconds = _micros_between(joined[TS], joined._first_ts).cast("float64") / 1e6
    return joined.mutate(
        **{
            STARTED: started,
            TRIED: tried,
            VERIFIED_SESSION: verified,
            ATTEMPTS: ibis.ifelse(verified, joined._attempts, ibis.null("int64")),
            SECONDS: ibis.ifelse(verified, seconds, ibis.null("float64")),
            ENDING: ending,
        }
    ).drop("_verify_rows", "_first_ts", "_attempts", "_answered", "_last_result")


def _session_initiates(kept: ir.Table) -> ir.Table:
    """Each session's earliest initiate row (by ``ts``, then reading order), with
    ``sms_sent``: how many of the session's initiate rows succeeded with ``method`` sms.

    Every such row sent an SMS, the later ones included (they count as calls only), so
    "SMS per verified session" counts initiates, not sessions.
    """
    initiates = kept.filter(kept[ACTION] == INITIATE)
    session = initiates[SESSION_ID]
    rank = ibis.row_number().over(group_by=session, order_by=[initiates[TS], initiates[ROW]])
    sent = initiates[SUCCEEDED] & (initiates[METHOD] == METHOD_SMS).fill_null(False)
    return (
        initiates.mutate(_rank=rank, **{SMS_SENT: sent.cast("int64").sum().over(group_by=session)})
        .filter(lambda t: t._rank == 0)
        .drop("_rank")
    )


def _order_key(table: ir.Table) -> list[ir.Value]:
    """A session's verifies in order: ``ts``, then ``attempt`` (empty last), then reading."""
    return [table[TS], table[ATTEMPT].fill_null(_NO_ATTEMPT), table[ROW]]


def _first_verified(verifies: ir.Table) -> ir.Table:
    """Per session, its first verified verify's ``ts`` and ``attempt`` (empty as last)."""
    hits = verifies.filter(verifies[VERIFIED].fill_null(False))
    rank = ibis.row_number().over(group_by=hits[SESSION_ID], order_by=_order_key(hits))
    first = hits.mutate(_rank=rank).filter(lambda t: t._rank == 0)
    return first.select(
        SESSION_ID, _first_ts=first[TS], _first_attempt=first[ATTEMPT].fill_null(_NO_ATTEMPT)
    )


def _attempts_and_last(verifies: ir.Table, first: ir.Table) -> ir.Table:
    """Per session with verify rows: how many, how many answered, answered ones up to and
    including the first verified verify, and the ``result`` of the last answered one."""
    table = verifies.left_join(first, SESSION_ID).drop(f"{SESSION_ID}_right")
    answered = table[VERIFIED].notnull()
    attempt = table[ATTEMPT].fill_null(_NO_ATTEMPT)
    up_to_first = (table[TS] < table._first_ts) | (
        (table[TS] == table._first_ts) & (attempt <= table._first_attempt)
    )
    last_rank = ibis.row_number().over(
        group_by=[table[SESSION_ID], answered],
        order_by=[ibis.desc(key) for key in _order_key(table)],
    )
    flagged = table.mutate(
        _answered=answered.cast("int64"),
        _counts=(answered & up_to_first.fill_null(False)).cast("int64"),
        _is_last=answered & (last_rank == 0),
    )
    return flagged.group_by(SESSION_ID).aggregate(
        _verify_rows=flagged.count(),
        _answered=flagged._answered.sum(),
        _attempts=flagged._counts.sum(),
        _first_ts=flagged._first_ts.max(),
        _last_result=flagged[RESULT].max(where=flagged._is_last),
    )


def logins(table: ir.Table, gap: timedelta = DEFAULT_GAP) -> ir.Table:
    """One row per login: a (``service_id``, ``user_id``)'s sessions whose initiates are at
    most ``gap`` apart. Columns: the first session's, ``sessions`` and ``verified_session``
    (any of them verified)."""
    user = [table[SERVICE_ID], table[USER_ID]]
    order = [table[TS], table[ROW]]
    previous = table[TS].lag().over(group_by=user, order_by=order)
    apart = _micros_between(previous, table[TS])
    starts = (previous.isnull() | (apart > int(gap / timedelta(microseconds=1)))).cast("int64")
    numbered = table.mutate(_starts=starts).mutate(
        _login=lambda t: t._starts.cumsum(
            group_by=[t[SERVICE_ID], t[USER_ID]], order_by=[t[TS], t[ROW]]
        )
    )
    # Counted over a window, not joined back: a join on a missing user id would match
    # nothing, while a window partition keeps the missing user as one user, as a group would.
    login = [numbered[SERVICE_ID], numbered[USER_ID], numbered._login]
    counted = numbered.mutate(
        **{
            SESSIONS: numbered[SESSION_ID].count().over(group_by=login),
            VERIFIED_SESSION: numbered[VERIFIED_SESSION].any().over(group_by=login),
        }
    )
    return counted.filter(counted._starts == 1).drop("_starts", "_login")


def _micros_between(start: ir.TimestampValue, end: ir.TimestampValue) -> ir.IntegerValue:
    """Whole microseconds from ``start`` to ``end``, exact on every engine (DuckDB's and
    Spark's ``datediff`` in microseconds; Spark cannot extract a timestamp's microseconds)."""
    return end.delta(start, unit="microsecond").cast("int64")
