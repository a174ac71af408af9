"""What each number means, as data: the report, the CLI summary and ``docs/metrics.md`` read it.

Kept as data rather than prose in a docstring so it survives ``python -OO`` and can be
rendered (HTML report, Markdown docs) and checked (a test compares the docs with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ATTEMPT_SUCCESS",
    "DEFINITIONS",
    "FALLBACK_RATE",
    "METRIC_LABELS",
    "SESSION_SUCCESS",
    "Definition",
    "definitions_markdown",
]


@dataclass(frozen=True)
class Definition:
    """One defined term and its one-paragraph ``text`` (light Markdown: ````code````)."""

    term: str
    text: str

    def sentence(self) -> str:
        """``**term** = ...`` or ``**term**: ...``, the form the docs and the report show."""
        joint = " " if self.text.startswith("=") else ": "
        return f"**{self.term}**{joint}{self.text}"


# The rate metrics a report headlines and compares, keyed by the name ``compare_periods``
# takes, with the label people read.
SESSION_SUCCESS: Final = "session_success"
ATTEMPT_SUCCESS: Final = "attempt_success"
FALLBACK_RATE: Final = "fallback"  # not a column: the metric's name
METRIC_LABELS: Final[Mapping[str, str]] = {
    SESSION_SUCCESS: "Session success rate",
    ATTEMPT_SUCCESS: "Attempt success rate",
    FALLBACK_RATE: "Fallback rate (TOTP asked, SMS used)",
}

DEFINITIONS: Final[tuple[Definition, ...]] = (
    Definition(
        "session",
        "one ``initiate`` row and the ``verify`` rows sharing its ``session_id``. Session "
        "metrics count initiate rows; a verify row whose initiate is not in the log counts in "
        "the per-call metrics only. Sessions are grouped by their initiate row's columns (and "
        "its ``ts`` for periods), so the verify-only columns ``verified``, ``result`` and "
        "``attempt`` cannot group sessions.",
    ),
    Definition(
        "session success rate",
        "= sessions with at least one verify whose ``verified`` is true / sessions. An "
        "initiate that failed (``error`` set) is a session that did not succeed.",
    ),
    Definition(
        "attempt success rate",
        "= verify calls with ``verified`` true / verify calls that got an answer "
        "(``verified`` not NA).",
    ),
    Definition(
        "fallback rate",
        "= initiate calls with ``requested_method`` totp and ``method`` sms / initiate calls "
        "with ``requested_method`` totp that got an answer (``method`` not NA).",
    ),
    Definition(
        "failure reasons",
        "the failed verify calls (``verified`` not true) by reason: the ``result`` (INVALID / "
        "EXPIRED / THROTTLED) when the server answered, else the ``error`` class name, else "
        "``UNKNOWN``; share = calls with that reason / failed verify calls.",
    ),
    Definition(
        "attempts to success",
        "for each verified session, the smallest ``attempt`` among its verified verify calls "
        "(the first verified verify).",
    ),
    Definition(
        "time to verify",
        "for each verified session, the first verified verify's ``ts`` minus the session's "
        "initiate ``ts``, in seconds.",
    ),
    Definition(
        "funnel",
        "sessions at each stage: *initiated* (every session), *tried* (at least one verify "
        "call, errors included) and *verified* (at least one verified verify); share = "
        "sessions at the stage / sessions initiated, and ``dropout`` = the share of the "
        "previous stage's sessions that did not reach this one.",
    ),
)


def definitions_markdown() -> str:
    """The definitions as a Markdown list (``docs/metrics.md`` holds exactly this block)."""
    return "".join(f"- {d.sentence().replace('``', '`')}\n" for d in DEFINITIONS)
