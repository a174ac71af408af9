"""Calendar periods over ``ts`` and the period-over-period comparison of a rate table.

Periods are UTC calendar days (``"D"``), ISO weeks starting on Monday (``"W"``) and calendar
months (``"M"``); a row's ``period`` is the start of its period as a UTC timestamp, the same
value DuckDB's ``date_trunc('day' | 'week' | 'month', ts)`` gives in a UTC session.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

import pandas as pd

from verigator_nb.analysis._stats import add_rate

__all__ = [
    "PERIODS",
    "PERIOD_NAMES",
    "check_period",
    "compare_tables",
    "period_start",
    "shift_period",
]

# The calendar periods, by the code every ``period=`` takes, with the word people read.
PERIOD_NAMES: Final[Mapping[str, str]] = {"D": "day", "W": "week", "M": "month"}
PERIODS: Final = tuple(PERIOD_NAMES)

_TS_DTYPE = "datetime64[us, UTC]"


def check_period(period: str | None) -> None:
    """Raise ``ValueError`` unless ``period`` is None, "D", "W" or "M"."""
    if period is not None and period not in PERIODS:
        raise ValueError(f"period must be None, 'D', 'W' or 'M', not {period!r}")


def period_start(ts: pd.Series, period: str) -> pd.Series:
    """The UTC start of the day, week (Monday) or month holding each timestamp; NaT stays NaT.

    Examples:
        >>> ts = pd.Series(pd.to_datetime(["2024-01-07 13:00"], utc=True))
        >>> str(period_start(ts, "W")[0])
        '2024-01-01 00:00:00+00:00'
    """
    check_period(period)
    naive = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    if period == "M":
        start = naive.astype("datetime64[M]")
    else:
        start = naive.astype("datetime64[D]")
        if period == "W":
            # 1970-01-01 was a Thursday: shifting by 3 days makes weeks start on Monday.
            weekday = (start.view("int64") + 3) % 7
            start = start - weekday.astype("timedelta64[D]")
    result = pd.Series(start.astype("datetime64[us]"), index=ts.index, name="period")
    return result.dt.tz_localize("UTC")


def shift_period(start: pd.Timestamp, period: str, steps: int) -> pd.Timestamp:
    """The start of the period ``steps`` periods after (or, negative, before) ``start``."""
    check_period(period)
    if period == "M":
        month = start.tz_convert("UTC").tz_localize(None).to_period("M") + steps
        return pd.Timestamp(month.start_time).tz_localize("UTC")
    return start + pd.Timedelta(days=steps * (7 if period == "W" else 1))


def _as_period(value: str | datetime | pd.Timestamp, period: str) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return pd.Timestamp(period_start(pd.Series([stamp]).astype(_TS_DTYPE), period).iloc[0])


def compare_tables(
    counts: pd.DataFrame,
    *,
    by: list[str],
    period: str,
    current: str | datetime | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Compare the ``current`` period (default: the latest) of a counts table with the previous.

    ``counts`` has the ``by`` columns, ``period``, ``n`` and ``successes``. Returns one row per
    group: ``previous_*`` and ``current_*`` counts, rates and Wilson intervals, ``change``
    (current rate minus previous) and ``significant`` (the two 95 % intervals do not overlap).
    A group missing from one period gets ``n`` 0 there, a NaN rate and ``significant`` False.
    """
    if current is None and counts.empty:
        return _empty_comparison(counts, by)
    cur = counts["period"].max() if current is None else _as_period(current, period)
    prev = shift_period(cur, period, -1)
    merged = _merge_sides(counts, by, prev, cur)
    out = merged[by].copy() if by else pd.DataFrame(index=merged.index)
    for label, start in (("previous", prev), ("current", cur)):
        out = _add_side(out, merged, label, start)
    out["change"] = out["current_rate"] - out["previous_rate"]
    apart = (out["current_ci_low"] > out["previous_ci_high"]) | (
        out["current_ci_high"] < out["previous_ci_low"]
    )
    out["significant"] = apart.to_numpy(dtype=bool)
    return out.reset_index(drop=True)


def _merge_sides(
    counts: pd.DataFrame, by: list[str], prev: pd.Timestamp, cur: pd.Timestamp
) -> pd.DataFrame:
    labels = ("previous", "current")
    sides = [counts.loc[counts["period"] == s, [*by, "n", "successes"]] for s in (prev, cur)]
    if not by:
        return pd.DataFrame(
            {
                f"{column}_{label}": [int(side[column].sum())]
                for side, label in zip(sides, labels, strict=True)
                for column in ("n", "successes")
            }
        )
    suffixes = ("_previous", "_current")
    return sides[0].merge(sides[1], on=by, how="outer", suffixes=suffixes, sort=True)


def _add_side(
    out: pd.DataFrame, merged: pd.DataFrame, label: str, start: pd.Timestamp
) -> pd.DataFrame:
    side = add_rate(
        pd.DataFrame(
            {
                "n": merged[f"n_{label}"].fillna(0).astype("int64"),
                "successes": merged[f"successes_{label}"].fillna(0).astype("int64"),
            }
        )
    )
    columns = {f"{label}_period": pd.Series(start, index=out.index).astype(_TS_DTYPE)}
    for column in ("n", "successes", "rate", "ci_low", "ci_high"):
        columns[f"{label}_{column}"] = side[column].set_axis(out.index)
    return out.assign(**columns)


def _empty_comparison(counts: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    columns = {name: counts[name].iloc[:0] for name in by}
    for label in ("previous", "current"):
        columns[f"{label}_period"] = pd.Series([], dtype=_TS_DTYPE)
        for name, dtype in (("n", "int64"), ("successes", "int64")):
            columns[f"{label}_{name}"] = pd.Series([], dtype=dtype)
        for name in ("rate", "ci_low", "ci_high"):
            columns[f"{label}_{name}"] = pd.Series([], dtype="float64")
    columns["change"] = pd.Series([], dtype="float64")
    columns["significant"] = pd.Series([], dtype="bool")
    return pd.DataFrame({k: v.reset_index(drop=True) for k, v in columns.items()})
