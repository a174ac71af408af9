"""Every metric, defined once: its name, label, grain, definition and the one expression.

``METRICS`` is the registry the analysis functions, the report, the CLI summary, the live
panel, the plots and ``docs/metrics.md`` all read. A ``Metric`` says which rows it counts
(``rows``, a filter on its grain's table: the denominator), what it counts of them (``value``)
and, in words, what both are. The expressions are Ibis expressions over the grain tables of
``_grains``, so one definition runs on DuckDB and on Spark alike.

The contract these implement, case by case, is ``docs/metrics.md`` (the metric contract).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import ibis.expr.types as ir

from verigator_nb.analysis._grains import (
    ANSWERED,
    ATTEMPTS,
    ENDING,
    SECONDS,
    SESSIONS,
    SMS_SENT,
    STARTED,
    TRIED,
    VERIFIED_SESSION,
)
from verigator_nb.models import METHOD_SMS, METHOD_TOTP
from verigator_nb.schema import (
    ACTION,
    ERROR,
    HTTP_STATUS,
    INITIATE,
    LATENCY_MS,
    METHOD,
    REQUESTED_METHOD,
    RESULT,
    VERIFIED,
    VERIFY,
)

__all__ = [
    "ATTEMPT_SUCCESS",
    "AVAILABILITY",
    "BREAKDOWN",
    "CALL",
    "COMPARED_METRICS",
    "CONVERSION",
    "DISTRIBUTION",
    "FALLBACK",
    "FUNNEL_STAGES",
    "KINDS",
    "LOGIN",
    "LOGIN_CONVERSION",
    "METRICS",
    "METRIC_LABELS",
    "RATE",
    "RATE_METRICS",
    "RATIO",
    "SESSION",
    "SESSION_SUCCESS",
    "STAGES",
    "Metric",
    "definitions_markdown",
    "funnel_flags",
]

# Grains: what one counted row is.
CALL: Final = "call"
SESSION: Final = "session"
LOGIN: Final = "login"

# Kinds: what a metric's table holds.
RATE: Final = "rate"  # n, successes, rate and its Wilson interval
DISTRIBUTION: Final = "distribution"  # n, mean, p50, p90, p99
BREAKDOWN: Final = "breakdown"  # per category: n, total, share and its Wilson interval
RATIO: Final = "ratio"  # numerator, denominator, value
STAGES: Final = "stages"  # the funnel: per stage n, share of the first, dropout
KINDS: Final = (RATE, DISTRIBUTION, BREAKDOWN, RATIO, STAGES)

Expression = Callable[[ir.Table], ir.Value]

# The names other modules refer to (every name is a key of ``METRICS``).
SESSION_SUCCESS: Final = "session_success"
CONVERSION: Final = "conversion"
AVAILABILITY: Final = "availability"
ATTEMPT_SUCCESS: Final = "attempt_success"
FALLBACK: Final = "fallback"  # not a column (that is the initiate's flag): the metric's name
LOGIN_CONVERSION: Final = "login_conversion"


@dataclass(frozen=True)
class Metric:
    """One metric: what it is called, what it means, and how it is computed.

    ``rows`` picks its grain's rows in the denominator (None: all of them). ``value`` is
    what is counted of them: a condition (rate), a number (distribution) or a category
    (breakdown, whose ``counted`` picks the rows that get one; the others count in the total
    only). A ratio is the sum of ``value`` (a count or a condition) over the sum of
    ``counted`` (a condition), both over the same rows.
    ``by`` is the grouping a metric only makes sense with (availability per action): the
    report uses it, and a period comparison always splits the metric by it.
    """

    name: str
    label: str
    kind: str
    grain: str
    definition: str
    numerator: str
    denominator: str
    value: Expression
    rows: Expression | None = None
    counted: Expression | None = None
    category: str = ""  # a breakdown's category column
    by: tuple[str, ...] = ()
    compared: bool = False  # period comparisons cover it (a rate of single proportions)


def _is_verify(t: ir.Table) -> ir.BooleanValue:
    return t[ACTION] == VERIFY


def _asked_totp_answered(t: ir.Table) -> ir.BooleanValue:
    return (t[ACTION] == INITIATE) & (t[REQUESTED_METHOD] == METHOD_TOTP) & t[METHOD].notnull()


def _error_name(t: ir.Table) -> ir.StringValue:
    return t[ERROR].fill_null("UNKNOWN")


def _failure_name(t: ir.Table) -> ir.StringValue:
    status = "HTTP " + t[HTTP_STATUS].cast("string")
    return t[ERROR].fill_null(status).fill_null("UNKNOWN")


_DEFINED: Final = (
    Metric(
        SESSION_SUCCESS,
        "Session success (end to end)",
        RATE,
        SESSION,
        "Of all sessions, the share that reached a verified verify: conversion and API "
        "availability together.",
        "sessions with a verified verify",
        "all sessions",
        value=lambda t: t[VERIFIED_SESSION],
        compared=True,
    ),
    Metric(
        CONVERSION,
        "Conversion",
        RATE,
        SESSION,
        "Of the sessions whose initiate succeeded (a code was sent or a TOTP check begun), "
        "the share that reached a verified verify, as Twilio Verify reads it.",
        "sessions with a verified verify, among those whose initiate succeeded",
        "sessions whose initiate succeeded",
        rows=lambda t: t[STARTED],
        value=lambda t: t[VERIFIED_SESSION],
        compared=True,
    ),
    Metric(
        AVAILABILITY,
        "Availability",
        RATE,
        CALL,
        "The share of calls that were answered: an HTTP status below 500 came back (a 4xx "
        "is the API working and refusing).",
        "answered calls",
        "calls",
        value=lambda t: t[ANSWERED],
        by=(ACTION,),
        compared=True,
    ),
    Metric(
        ATTEMPT_SUCCESS,
        "Attempt success",
        RATE,
        CALL,
        "Of the verify calls the server answered with a verdict, the share verified.",
        "verify calls with `verified` true",
        "verify calls with `verified` not empty",
        rows=lambda t: _is_verify(t) & t[VERIFIED].notnull(),
        value=lambda t: t[VERIFIED].fill_null(False),
        compared=True,
    ),
    Metric(
        FALLBACK,
        "Fallback (TOTP asked, SMS used)",
        RATE,
        CALL,
        "Of the answered initiates that asked for TOTP, the share the server answered by "
        "SMS (the user has no authenticator app).",
        "initiates with `requested_method` totp and `method` sms",
        "initiates with `requested_method` totp and `method` not empty",
        rows=_asked_totp_answered,
        value=lambda t: (t[METHOD] == METHOD_SMS).fill_null(False),
        compared=True,
    ),
    Metric(
        LOGIN_CONVERSION,
        "Login conversion",
        RATE,
        LOGIN,
        "Of the logins (a user's sessions each at most `gap`, 10 minutes by default, after "
        "the one before), "
        "the share with a verified session.",
        "logins with a verified session",
        "logins",
        value=lambda t: t[VERIFIED_SESSION],
        compared=True,
    ),
    Metric(
        "resend_rate",
        "Logins with a resend",
        RATE,
        LOGIN,
        "The share of logins that started more than one session (a code sent again).",
        "logins with at least two sessions",
        "logins",
        value=lambda t: t[SESSIONS] > 1,
    ),
    Metric(
        "verify_outcomes",
        "Verify outcomes",
        BREAKDOWN,
        CALL,
        "The answered verify calls that did not verify, by the server's `result` (INVALID: "
        "wrong PIN, EXPIRED, THROTTLED).",
        "answered verify calls with `verified` false, by `result`",
        "answered verify calls with `verified` false",
        rows=lambda t: _is_verify(t) & t[ANSWERED] & (t[VERIFIED] == False),  # noqa: E712
        value=lambda t: t[RESULT].fill_null("UNKNOWN"),
        category=RESULT,
    ),
    Metric(
        "verify_errors",
        "Verify errors",
        BREAKDOWN,
        CALL,
        "Verify calls that got no verdict (`verified` empty), by error class, as a share "
        "of all verify calls.",
        "verify calls with `verified` empty, by `error` (else UNKNOWN)",
        "all verify calls",
        rows=_is_verify,
        counted=lambda t: t[VERIFIED].isnull(),
        value=_error_name,
        category=ERROR,
    ),
    Metric(
        "call_failures",
        "Infrastructure failures",
        BREAKDOWN,
        CALL,
        "Calls not answered (no status: a transport error or timeout; or a 5xx), by error "
        "class (else the HTTP status), as a share of all calls of the group.",
        "calls not answered, by `error` (else `HTTP <status>`)",
        "calls",
        counted=lambda t: ~t[ANSWERED],
        value=_failure_name,
        category=ERROR,
        by=(ACTION,),
    ),
    Metric(
        "session_endings",
        "How sessions end",
        BREAKDOWN,
        SESSION,
        "Each session's ending, the first that applies: verified; initiate failed; never "
        "tried (no verify); unknown (no verify got a verdict); else the `result` of the last "
        "verify with a verdict (INVALID: wrong PIN, then abandoned; EXPIRED; THROTTLED).",
        "sessions, by ending",
        "all sessions",
        value=lambda t: t[ENDING],
        category=ENDING,
    ),
    Metric(
        "attempts_to_success",
        "Attempts to success",
        DISTRIBUTION,
        SESSION,
        "Per verified session, the verify calls with a verdict up to and including the first "
        "verified one (by `ts`, then `attempt`).",
        "answered verify calls up to the first verified verify",
        "verified sessions",
        rows=lambda t: t[VERIFIED_SESSION],
        value=lambda t: t[ATTEMPTS],
    ),
    Metric(
        "time_to_verify",
        "Time to verify (s)",
        DISTRIBUTION,
        SESSION,
        "Per verified session, seconds from its initiate to its first verified verify.",
        "first verified verify `ts` − initiate `ts`",
        "verified sessions",
        rows=lambda t: t[VERIFIED_SESSION],
        value=lambda t: t[SECONDS],
    ),
    Metric(
        "latency",
        "Latency (ms)",
        DISTRIBUTION,
        CALL,
        "Wall-clock milliseconds of each call, where it was measured.",
        "`latency_ms`",
        "calls with `latency_ms`",
        rows=lambda t: t[LATENCY_MS].notnull(),
        value=lambda t: t[LATENCY_MS],
        by=(ACTION,),
    ),
    Metric(
        "resends",
        "Resends per login",
        DISTRIBUTION,
        LOGIN,
        "Per login, its sessions less one: how often a code was asked for again.",
        "sessions − 1",
        "logins",
        value=lambda t: (t[SESSIONS] - 1).cast("float64"),
    ),
    Metric(
        "sms_per_verified_session",
        "SMS per verified session",
        RATIO,
        SESSION,
        "SMS codes sent per session verified: the cost of a verification, in messages.",
        "initiates that succeeded with `method` sms",
        "verified sessions",
        value=lambda t: t[SMS_SENT],
        counted=lambda t: t[VERIFIED_SESSION],
    ),
    Metric(
        "funnel",
        "Funnel",
        STAGES,
        SESSION,
        "Sessions at each stage: initiated (all), started (initiate succeeded), tried (and "
        "at least one verify), verified (and a verified verify); share = of initiated; "
        "dropout = the share of the stage before that did not reach this one.",
        "sessions at the stage",
        "sessions initiated",
        value=lambda t: t[STARTED],  # the stages are funnel_flags
    ),
)

METRICS: Final[Mapping[str, Metric]] = {metric.name: metric for metric in _DEFINED}
RATE_METRICS: Final = tuple(name for name, metric in METRICS.items() if metric.kind == RATE)
# What a period comparison covers unless told otherwise (the contract's decision 12).
COMPARED_METRICS: Final = tuple(name for name, metric in METRICS.items() if metric.compared)
METRIC_LABELS: Final[Mapping[str, str]] = {name: m.label for name, m in METRICS.items()}

# The funnel's stages, each nested in the one before.
FUNNEL_STAGES: Final = ("initiated", "started", "tried", "verified")  # not a column: stages


def funnel_flags(t: ir.Table) -> dict[str, ir.BooleanValue]:
    """Each stage after the first (every session) as a condition on a session; they nest."""
    started = t[STARTED]
    tried = started & t[TRIED]
    return {
        FUNNEL_STAGES[1]: started,
        FUNNEL_STAGES[2]: tried,
        FUNNEL_STAGES[3]: tried & t[VERIFIED_SESSION],
    }


def definitions_markdown() -> str:
    """The registry as the Markdown table ``docs/metrics.md`` holds (a test compares them)."""
    lines = [
        "| metric | name | grain | numerator | denominator | definition |",
        "|---|---|---|---|---|---|",
    ]
    for m in METRICS.values():
        cells = (m.label, f"`{m.name}`", m.grain, m.numerator, m.denominator, m.definition)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
