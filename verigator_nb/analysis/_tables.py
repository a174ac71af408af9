"""Grouping plumbing shared by the analysis functions: keys, column checks, rate tables.

Each analysis function reduces the log to one small frame of rows to count (sessions, verify
calls, initiate calls) carrying its group keys, then hands it to ``rate_table`` or
``distribution_table``; those group with ``observed=True`` and ``dropna=False`` (a missing
country is a group of its own, so counts always add up to the whole) and sort by the keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from verigator_nb.analysis._periods import check_period, period_start
from verigator_nb.analysis._stats import QUANTILES, add_rate
from verigator_nb.schema import TS

__all__ = [
    "FUNNEL_STAGES",
    "as_columns",
    "distribution_table",
    "funnel_long",
    "group_keys",
    "rate_table",
    "reason_table",
    "require",
    "sort_by_keys",
    "with_period",
]

FUNNEL_STAGES = ("initiated", "tried", "verified")  # not a column: a stage of sessions


def as_columns(by: str | Sequence[str] | None) -> list[str]:
    """``by`` as a list of column names: None is no columns, a string is one column."""
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    columns = list(by)
    if not all(isinstance(column, str) for column in columns):
        raise TypeError("by must be None, a column name or a list of column names")
    return columns


def require(df: pd.DataFrame, columns: Iterable[str], *, where: str) -> None:
    """Raise ``ValueError`` naming every column ``where`` needs that ``df`` lacks."""
    missing = [column for column in dict.fromkeys(columns) if column not in df.columns]
    if missing:
        raise ValueError(f"{where} needs column(s) missing from the frame: {', '.join(missing)}")


def group_keys(by: list[str], period: str | None) -> list[str]:
    """The grouping columns: ``by`` then ``period`` when periods were asked for."""
    check_period(period)
    if "period" in by:
        raise ValueError("'period' is added by period=...; do not pass it in by")
    return [*by, "period"] if period else list(by)


def with_period(frame: pd.DataFrame, period: str | None, ts: str = TS) -> pd.DataFrame:
    """``frame`` with a ``period`` column (start of each row's period) when one was asked for."""
    if period is None:
        return frame
    return frame.assign(period=period_start(frame[ts], period))


def sort_by_keys(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows in key order, missing keys last, with a fresh 0..n-1 index."""
    if keys:
        frame = frame.sort_values(keys, na_position="last", kind="stable")
    return frame.reset_index(drop=True)


def rate_table(frame: pd.DataFrame, keys: list[str], flag: str) -> pd.DataFrame:
    """Per group: ``n`` rows, ``successes`` (rows where the bool column ``flag`` holds), the
    ``rate`` and its Wilson interval. Without keys, exactly one row, even for no rows at all."""
    if not keys:
        counts = pd.DataFrame({"n": [len(frame)], "successes": [int(frame[flag].sum())]})
    else:
        grouped = frame.groupby(keys, observed=True, dropna=False, sort=True)[flag]
        counts = grouped.agg(n="size", successes="sum").reset_index()
    counts = counts.astype({"n": "int64", "successes": "int64"})
    return sort_by_keys(add_rate(counts), keys)


def distribution_table(frame: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Per group: ``n`` non-missing values of ``value``, their ``mean``, ``p50``, ``p90``, ``p99``
    (linear interpolation, as numpy and DuckDB's ``quantile_cont``)."""
    values = frame[value].astype("float64")
    if not keys:
        clean = values.dropna()
        row = {"n": [len(clean)], "mean": [clean.mean() if len(clean) else float("nan")]}
        row |= {
            name: [clean.quantile(q) if len(clean) else float("nan")]
            for name, q in QUANTILES.items()
        }
        return pd.DataFrame(row).astype({"n": "int64"})
    work = frame[keys].assign(_value=values)
    if work.empty:
        empty = {"n": "int64", "mean": "float64"} | dict.fromkeys(QUANTILES, "float64")
        return frame[keys].iloc[:0].assign(**{k: pd.Series(dtype=t) for k, t in empty.items()})
    grouped = work.groupby(keys, observed=True, dropna=False, sort=True)["_value"]
    stats = grouped.agg(n="count", mean="mean").reset_index()
    quantiles = grouped.quantile(list(QUANTILES.values())).unstack()
    quantiles.columns = list(QUANTILES)
    out = stats.merge(quantiles.reset_index(), on=keys, how="left")
    return sort_by_keys(out.astype({"n": "int64"}), keys)


def funnel_long(wide: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """A wide funnel (keys, ``initiated``, ``tried``, ``verified`` counts) in long form: one row
    per group and ``stage`` with ``n``, ``share`` of initiated, its Wilson interval and
    ``dropout`` from the stage before."""
    parts = []
    for step, stage in enumerate(FUNNEL_STAGES):
        n = wide[stage].astype("int64")
        before = wide[FUNNEL_STAGES[step - 1]].astype("float64") if step else np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            dropout = 1.0 - n / before
        parts.append(
            wide[keys].assign(
                stage=stage, n=n, _initiated=wide[FUNNEL_STAGES[0]].astype("int64"), dropout=dropout
            )
        )
    long = pd.concat(parts, ignore_index=True)
    long["stage"] = pd.Categorical(long["stage"], categories=FUNNEL_STAGES, ordered=True)
    long["dropout"] = long["dropout"].where(np.isfinite(long["dropout"]))
    table = add_rate(long, successes="n", n="_initiated", rate="share")
    table = table[[*keys, "stage", "n", "share", "ci_low", "ci_high", "dropout"]]
    return sort_by_keys(table, [*keys, "stage"])


def reason_table(counts: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Failure counts (keys, ``reason``, ``n``) with ``failed`` (the group's total), ``share``
    and its Wilson interval; most frequent reason first within each group."""
    if keys:
        totals = counts.groupby(keys, observed=True, dropna=False)["n"].transform("sum")
    else:
        totals = pd.Series(counts["n"].sum(), index=counts.index)
    counts = counts.assign(failed=totals).astype({"n": "int64", "failed": "int64"})
    table = add_rate(
        counts[[*keys, "reason", "n", "failed"]], successes="n", n="failed", rate="share"
    )
    order = [*keys, "n", "reason"]
    ascending = [True] * len(keys) + [False, True]
    table = table.sort_values(order, ascending=ascending, na_position="last", kind="stable")
    return table.reset_index(drop=True)
