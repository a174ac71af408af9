"""A metric's counts (a few rows from any engine) made into the table analysts read.

Whatever engine counted, the table is finished here, in pandas, the same way: counts as
int64, rates with their 95 % Wilson interval (NaN where ``n`` is 0), periods as UTC
timestamps, rows sorted by their group keys with missing values last, a fresh index.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from verigator_nb.analysis._aggregate import PERIOD
from verigator_nb.analysis._registry import FUNNEL_STAGES
from verigator_nb.analysis._stats import QUANTILES, add_rate, rate_columns
from verigator_nb.schema import TS_DTYPE

__all__ = [
    "breakdown_table",
    "distribution_table",
    "rate_table",
    "rate_tables",
    "ratio_table",
    "sort_by_keys",
    "stages_table",
    "tidy_keys",
]

_TS_DTYPE = TS_DTYPE


def tidy_keys(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Group columns as people expect them: ``period`` a UTC timestamp, text as ``str``.

    DuckDB hands text back as ``str`` (a missing value NaN), Spark as objects (None): text
    keys become ``str`` either way, so a missing group looks the same from every engine.
    """
    if PERIOD in keys and PERIOD in frame:
        period = pd.to_datetime(frame[PERIOD], utc=True)
        frame = frame.assign(**{PERIOD: period.astype(_TS_DTYPE)})
    text = [
        key
        for key in keys
        if key != PERIOD
        and frame[key].dtype == object
        and frame[key].dropna().map(type).eq(str).all()
    ]
    return frame.assign(**{key: frame[key].astype("str") for key in text}) if text else frame


def sort_by_keys(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Rows in key order, missing keys last, with a fresh 0..n-1 index."""
    if keys:
        frame = frame.sort_values(list(keys), na_position="last", kind="stable")
    return frame.reset_index(drop=True)


def _counts(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    return frame.assign(**{c: _count(frame[c]) for c in columns})


def _count(column: pd.Series) -> npt.NDArray[np.int64]:
    """A column of counts as int64, a missing count 0 (DuckDB answers int64 already)."""
    if column.dtype == np.int64:
        return column.to_numpy()
    return pd.to_numeric(column).fillna(0).astype("int64").to_numpy()


def rate_table(raw: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """keys, ``n``, ``successes``, ``rate``, ``ci_low``, ``ci_high``."""
    return _rates(sort_by_keys(tidy_keys(raw, keys), keys), keys, "n", "successes")


def rate_tables(raw: pd.DataFrame, count: int, keys: Sequence[str]) -> list[pd.DataFrame]:
    """``rate_table`` of each of the ``count`` metrics counted in one query (``n_i``,
    ``successes_i``); with keys, only the groups where that metric has rows.

    The keys are tidied and sorted once for all the metrics, and each table is made in one
    step from numpy arrays: a report makes some fifty of these on a small log, where
    pandas' per-call costs, not the counting, are what takes the time."""
    raw = sort_by_keys(tidy_keys(raw, keys), keys)
    return [
        _rates(raw, keys, f"n_{index}", f"successes_{index}", drop_empty=bool(keys))
        for index in range(count)
    ]


def _rates(
    raw: pd.DataFrame, keys: Sequence[str], n: str, successes: str, *, drop_empty: bool = False
) -> pd.DataFrame:
    counts, hits = _count(raw[n]), _count(raw[successes])
    kept = counts > 0 if drop_empty else slice(None)
    counts, hits = counts[kept], hits[kept]
    columns: dict[str, object] = {key: raw[key].array[kept] for key in keys}
    columns |= {"n": counts, "successes": hits, **rate_columns(hits, counts)}
    return pd.DataFrame(columns)


def distribution_table(raw: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """keys, ``n``, ``mean``, ``p50``, ``p90``, ``p99`` (NaN where ``n`` is 0)."""
    frame = _counts(tidy_keys(raw, keys), "n")
    values = ["mean", *QUANTILES]
    frame = frame.assign(**{c: pd.to_numeric(frame[c]).astype("float64") for c in values})
    return sort_by_keys(frame[[*keys, "n", *values]], keys)


def ratio_table(raw: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """keys, ``numerator``, ``denominator``, ``value`` (NaN where the denominator is 0)."""
    frame = _counts(tidy_keys(raw, keys), "numerator", "denominator")
    top = frame["numerator"].to_numpy(dtype=np.float64)
    bottom = frame["denominator"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(bottom > 0, top / bottom, np.nan)
    frame = frame[[*keys, "numerator", "denominator"]].assign(value=value)
    return sort_by_keys(frame, keys)


def breakdown_table(raw: pd.DataFrame, keys: Sequence[str], category: str) -> pd.DataFrame:
    """keys, the ``category`` column, ``n``, ``total`` (the group's denominator), ``share`` and
    its Wilson interval; most frequent category first within each group.

    ``raw`` is ``breakdown_counts``'s answer: a group's total is the sum of all its rows'
    ``n``, the categories those rows that are ``_counted``."""
    raw = _counts(tidy_keys(raw, keys), "n")
    counted = raw["_counted"].astype("bool")
    per_category = raw[counted].drop(columns="_counted")
    if keys:
        totals = raw.groupby(list(keys), dropna=False, sort=False)["n"].sum().rename("total")
        frame = per_category.merge(totals.reset_index(), on=list(keys), how="left")
    else:
        frame = per_category.assign(total=int(raw["n"].sum()))
    frame = frame.rename(columns={"_category": category})
    frame = add_rate(frame[[*keys, category, "n", "total"]], successes="n", n="total", rate="share")
    order = [*keys, "n", category]
    ascending = [True] * len(keys) + [False, True]
    frame = frame.sort_values(order, ascending=ascending, na_position="last", kind="stable")
    return frame.reset_index(drop=True)


def stages_table(raw: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The funnel in long form: keys, ``stage`` (ordered), ``n``, ``share`` of initiated with
    its Wilson interval, and ``dropout``: the share of the stage before that did not reach
    this one (NaN for the first stage, or after an empty one)."""
    wide = _counts(tidy_keys(raw, keys), *FUNNEL_STAGES)
    parts = []
    for step, stage in enumerate(FUNNEL_STAGES):
        n = wide[stage].astype("int64")
        before = wide[FUNNEL_STAGES[step - 1]].astype("float64") if step else np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            dropout = 1.0 - n / before
        initiated = wide[FUNNEL_STAGES[0]].astype("int64")
        parts.append(
            wide[list(keys)].assign(stage=stage, n=n, _initiated=initiated, dropout=dropout)
        )
    long = pd.concat(parts, ignore_index=True)
    long["stage"] = pd.Categorical(long["stage"], categories=FUNNEL_STAGES, ordered=True)
    long["dropout"] = long["dropout"].where(np.isfinite(long["dropout"]))
    table = add_rate(long, successes="n", n="_initiated", rate="share")
    table = table[[*keys, "stage", "n", "share", "ci_low", "ci_high", "dropout"]]
    return sort_by_keys(table, [*keys, "stage"])
