"""Where a report's numbers came from: the source read, the version that made it, and how
many calls the local sandbox answered or the simulator made. The HTML page and the
spreadsheet both say it, in the same words."""

from __future__ import annotations

import os
from importlib import metadata
from typing import Any

import pandas as pd

from verigator_nb.report._summary import SummaryTables
from verigator_nb.schema import ENDPOINT, SANDBOX_ENDPOINT, SIMULATED_TAG, TAGS

__all__ = ["describe_source", "origin_notes", "version"]


def describe_source(source: Any) -> str:
    """What the report read, in words: a path as given, else the kind of source."""
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    if isinstance(source, pd.DataFrame):
        return "a DataFrame in memory"
    return f"a {type(source).__name__}"


def origin_notes(t: SummaryTables) -> list[str]:
    """Says when calls came from the local sandbox or the simulator, not a production API."""
    origins = t.origins
    if origins is None or origins.empty or t.rows == 0:
        return []
    sandbox = int(origins.loc[origins[ENDPOINT] == SANDBOX_ENDPOINT, "rows"].sum())
    tagged = origins[TAGS].fillna("").str.split(",").map(lambda tags: SIMULATED_TAG in tags)
    simulated = int(origins.loc[tagged, "rows"].sum())
    notes = []
    if sandbox:
        notes.append(
            f"{sandbox:,} of {t.rows:,} calls were answered by the local sandbox, not a "
            "production API: its rules and clock, not real users' phones."
        )
    if simulated:
        notes.append(f"{simulated:,} of {t.rows:,} calls were made by the simulator.")
    return notes


def version() -> str:
    """This package's version, as installed."""
    try:
        return metadata.version("verigator-nb")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"
