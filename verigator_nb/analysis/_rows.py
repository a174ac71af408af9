"""Row-level helpers for the analysis: which rows are which, sessions matched by integer code.

Everything returns numpy masks or new frames; nothing loops over rows in Python.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from verigator_nb.analysis._tables import require, with_period
from verigator_nb.schema import ACTION, ATTEMPT, INITIATE, RESULT, SESSION_ID, TS, VERIFIED, VERIFY

__all__ = [
    "VERIFY_ONLY",
    "any_per_session",
    "check_session_by",
    "floats",
    "is_action",
    "is_true",
    "micros",
    "pick_rows",
    "session_codes",
    "sessions_frame",
    "ts_columns",
]

# Set on verify rows only: on an initiate row they are always empty, so they cannot group
# sessions (which take their columns from the initiate row).
VERIFY_ONLY = (VERIFIED, RESULT, ATTEMPT)


def is_action(df: pd.DataFrame, action: str) -> npt.NDArray[np.bool_]:
    return (df[ACTION] == action).to_numpy(dtype=bool, na_value=False)


def is_true(column: pd.Series) -> npt.NDArray[np.bool_]:
    return column.eq(True).to_numpy(dtype=bool, na_value=False)


def ts_columns(period: str | None) -> list[str]:
    return [TS] if period else []


def pick_rows(
    df: pd.DataFrame, mask: npt.NDArray[np.bool_], columns: list[str], period: str | None
) -> pd.DataFrame:
    """The masked rows, only the named columns (and ``ts`` for periods), with ``period``."""
    picked = df.loc[mask, list(dict.fromkeys([*columns, *ts_columns(period)]))]
    return with_period(picked, period)


def micros(ts: pd.Series) -> npt.NDArray[np.int64]:
    """UTC timestamps as integer microseconds since the epoch."""
    naive = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return naive.to_numpy(dtype="datetime64[us]").view(np.int64)


def floats(column: pd.Series) -> npt.NDArray[np.float64]:
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def check_session_by(by: list[str], where: str) -> None:
    bad = [column for column in by if column in VERIFY_ONLY]
    if bad:
        raise ValueError(
            f"{where} groups sessions by their initiate row, where {', '.join(bad)} is always "
            "empty; group verify calls instead (success_rate(per='attempt'), failure_reasons)"
        )


def session_codes(df: pd.DataFrame) -> tuple[npt.NDArray[np.int64], int]:
    """``session_id`` as integer codes (-1 where missing) and how many ids there are.

    Matching sessions on integer codes instead of strings keeps million-row logs fast."""
    codes, uniques = pd.factorize(df[SESSION_ID])
    return np.asarray(codes, dtype=np.int64), len(uniques)


def any_per_session(
    codes: npt.NDArray[np.int64], size: int, mask: npt.NDArray[np.bool_]
) -> npt.NDArray:
    """For each session code, whether any row under ``mask`` has it; the extra last slot stands
    for a missing id (code -1) and is always False."""
    flags = np.zeros(size + 1, dtype=bool)
    flags[codes[mask]] = True
    flags[-1] = False
    return flags


def sessions_frame(df: pd.DataFrame, by: list[str], period: str | None, where: str) -> pd.DataFrame:
    """One row per initiate: its ``by`` columns, ``period``, and flags ``_tried``/``_verified``."""
    require(df, [ACTION, SESSION_ID, VERIFIED, *by, *ts_columns(period)], where=where)
    check_session_by(by, where)
    codes, size = session_codes(df)
    verify, initiate = is_action(df, VERIFY), is_action(df, INITIATE)
    tried = any_per_session(codes, size, verify)
    verified = any_per_session(codes, size, verify & is_true(df[VERIFIED]))
    sessions = pick_rows(df, initiate, by, period)
    return sessions.assign(_tried=tried[codes[initiate]], _verified=verified[codes[initiate]])
