"""A period against the one before: one current period, a real test, Holm across groups.

The contract (``docs/metrics.md``, "Period comparison"): the current period is the latest
complete one — complete when the log's last ``ts`` (or ``now``) is at or after its end — or,
with ``include_partial``, the running one; the previous period is the one before, for every
metric and group alike. The difference is tested with the two-proportion z-test (pooled
variance), its 95 % interval is Newcombe's hybrid score interval, and p-values are
Holm-adjusted across the groups of one metric. The test and the interval come from
statsmodels; Holm's adjustment is written out (``holm``) and checked against statsmodels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from verigator_nb.analysis._aggregate import PERIOD, check_period
from verigator_nb.analysis._finish import sort_by_keys
from verigator_nb.analysis._stats import rate_columns
from verigator_nb.schema import TS_DTYPE

__all__ = ["ALPHA", "compared_span", "comparison", "holm", "period_start", "shift_period"]

ALPHA: Final = 0.05  # significant: a Holm-adjusted p below this
_SIDES: Final = ("previous", "current")
_RATE_COLUMNS: Final = ("n", "successes", "rate", "ci_low", "ci_high")
_PERIOD_DTYPE: Final = TS_DTYPE


def period_start(stamp: pd.Timestamp, period: str) -> pd.Timestamp:
    """The UTC start of the day, ISO week (Monday) or month holding ``stamp``."""
    check_period(period)
    day = stamp.tz_convert("UTC").normalize()
    if period == "W":
        return day - pd.Timedelta(days=day.weekday())
    if period == "M":
        return day.replace(day=1)
    return day


def shift_period(start: pd.Timestamp, period: str, steps: int) -> pd.Timestamp:
    """The start of the period ``steps`` periods after (negative: before) ``start``."""
    check_period(period)
    if period == "M":
        return start + pd.DateOffset(months=steps)
    return start + pd.Timedelta(days=steps * (7 if period == "W" else 1))


def compared_span(
    last: pd.Timestamp | None, period: str, include_partial: bool
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """From the start of the previous period to the end of the current one (None when the
    log is empty): the only rows a comparison reads."""
    if last is None:
        return None
    current, previous = _compared_periods(last, period, include_partial)
    return previous, shift_period(current, period, 1)


def _compared_periods(
    last: pd.Timestamp, period: str, include_partial: bool
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The current period's start (the latest complete one, or the running one) and the
    previous one's."""
    running = period_start(last, period)
    current = running if include_partial else shift_period(running, period, -1)
    return current, shift_period(current, period, -1)


def comparison(
    tables: Mapping[str, pd.DataFrame],
    groups: Mapping[str, pd.DataFrame | None],
    *,
    keys: Mapping[str, list[str]],
    period: str,
    last: pd.Timestamp | None,
    include_partial: bool,
) -> pd.DataFrame:
    """One row per metric and group: ``metric``, the group columns, ``previous_period`` and
    ``current_period`` with ``n``, ``successes``, ``rate``, ``ci_low``, ``ci_high`` each,
    ``current_complete``, ``change_pp`` (current − previous, percentage points),
    ``change_ci_low_pp``/``change_ci_high_pp`` (Newcombe), ``p_value`` (two-proportion
    z-test, empty when it is undefined), ``p_adjusted`` (Holm) and ``significant``.

    ``tables`` are rate tables by each metric's ``keys`` and ``period``; ``groups`` every
    group present in the rows kept (None without keys). A group column some metric is not
    split by is empty on its rows. ``last`` is the log's last ``ts`` or ``now``.
    """
    columns = list(dict.fromkeys(key for name in tables for key in keys[name]))
    if last is None:
        return _empty(columns)
    current, previous = _compared_periods(last, period, include_partial)
    complete = last >= shift_period(current, period, 1)
    parts = [
        _metric_rows(name, table, groups[name], keys[name], previous, current).assign(
            current_complete=complete
        )
        for name, table in tables.items()
    ]
    frame = pd.concat(parts, ignore_index=True) if parts else _empty(columns)
    frame = frame[["metric", *columns, *[c for c in frame if c not in {"metric", *columns}]]]
    return _tested(frame)


def _metric_rows(
    name: str,
    table: pd.DataFrame,
    present: pd.DataFrame | None,
    by: list[str],
    previous: pd.Timestamp,
    current: pd.Timestamp,
) -> pd.DataFrame:
    """The two periods of one metric, a row for every group present (n = 0 where none)."""
    base = pd.DataFrame(index=[0]) if present is None else sort_by_keys(present, by)
    size = len(base)
    columns: dict[str, object] = {"metric": pd.array([name] * size, dtype="str")}
    columns |= {key: base[key].array for key in by}
    for side, start in zip(_SIDES, (previous, current), strict=True):
        rows = table[table[PERIOD] == start]
        merged = base.merge(rows[[*by, "n", "successes"]], on=by, how="left") if by else _sum(rows)
        counts = merged["n"].fillna(0).astype("int64").to_numpy()
        hits = merged["successes"].fillna(0).astype("int64").to_numpy()
        columns[f"{side}_period"] = pd.DatetimeIndex([start] * size, dtype=_PERIOD_DTYPE)
        columns |= {f"{side}_n": counts, f"{side}_successes": hits}
        columns |= {f"{side}_{c}": v for c, v in rate_columns(hits, counts).items()}
    return pd.DataFrame(columns)


def _sum(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"n": [rows["n"].sum()], "successes": [rows["successes"].sum()]})


def _tested(frame: pd.DataFrame) -> pd.DataFrame:
    """The change in percentage points, its Newcombe interval, the z-test and Holm."""
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    tests = [
        _test(int(row.current_successes), int(row.current_n), int(row.previous_successes),
              int(row.previous_n), confint_proportions_2indep, proportions_ztest)
        for row in frame.itertuples(index=False)
    ]  # fmt: skip
    columns = ("change_pp", "change_ci_low_pp", "change_ci_high_pp", "p_value")
    frame = frame.assign(**{name: [test[i] for test in tests] for i, name in enumerate(columns)})
    adjusted = pd.Series(np.nan, index=frame.index)
    for _, rows in frame.groupby("metric", sort=False):
        tested = rows["p_value"].dropna()
        adjusted[tested.index] = holm(tested.to_numpy())
    significant = (adjusted < ALPHA).to_numpy(dtype=bool)
    return frame.assign(p_adjusted=adjusted.to_numpy(), significant=significant)


def holm(p_values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Holm's step-down adjusted p-values (Holm 1979), in the order given.

    The smallest of m p-values is multiplied by m, the next by m - 1, and so on, each kept
    at least as large as the one before and at most 1. Written out rather than taken from
    ``statsmodels.stats.multitest.multipletests``, which gives the same values (a test
    compares them) but runs a full garbage collection on every call: half a second a
    report here.
    """
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    scaled = np.minimum(1.0, np.maximum.accumulate(p_values[order] * (m - np.arange(m))))
    adjusted = np.empty(m)
    adjusted[order] = scaled
    return adjusted


def _test(
    x1: int, n1: int, x0: int, n0: int, interval: Any, z_test: Any
) -> tuple[float, float, float, float]:
    """Current (x1 of n1) against previous (x0 of n0): the change, its Newcombe interval
    (percentage points) and the pooled z-test's p (NaN when a side is empty, or when both
    sides are at 0 % or both at 100 %, where the test is undefined)."""
    if n1 == 0 or n0 == 0:
        return math.nan, math.nan, math.nan, math.nan
    low, high = interval(x1, n1, x0, n0, method="newcomb", compare="diff")
    both_edge = (x1 == 0 and x0 == 0) or (x1 == n1 and x0 == n0)
    p_value = math.nan if both_edge else float(z_test([x1, x0], [n1, n0])[1])
    return 100 * (x1 / n1 - x0 / n0), 100 * float(low), 100 * float(high), p_value


def _empty(by: list[str]) -> pd.DataFrame:
    columns: dict[str, pd.Series] = {"metric": pd.Series([], dtype="str")}
    columns |= {name: pd.Series([], dtype="str") for name in by}
    for side in _SIDES:
        columns[f"{side}_period"] = pd.Series([], dtype=_PERIOD_DTYPE)
        columns |= {f"{side}_{c}": pd.Series([], dtype="int64") for c in ("n", "successes")}
        columns |= {f"{side}_{c}": pd.Series([], dtype="float64") for c in _RATE_COLUMNS[2:]}
    columns["current_complete"] = pd.Series([], dtype="bool")
    for name in ("change_pp", "change_ci_low_pp", "change_ci_high_pp", "p_value", "p_adjusted"):
        columns[name] = pd.Series([], dtype="float64")
    columns["significant"] = pd.Series([], dtype="bool")
    return pd.DataFrame(columns)
