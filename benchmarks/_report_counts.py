"""The counts behind a report, taken alike from the Ibis path and from the hand-written SQL.

``summary_counts(summary)`` keeps, of ``report.summary_tables``'s answer, only what is counted
(``n``, ``successes``, ``total``, the distributions' ``mean`` and quantiles, the comparison's
per-week ``n`` and ``successes``), in the shape ``_report_sql.report_counts`` gives;
``mismatches`` lists every difference between two such answers. ``finish`` is the pandas
work the hand path does after its counts (rates, Wilson intervals, the weekly tests), so both
paths are timed to the same finished numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

from verigator_nb.analysis import (
    BREAKDOWN,
    DISTRIBUTION,
    METRICS,
    PERIOD,
    RATE,
    RATIO,
    SET_ASIDE_REASONS,
)
from verigator_nb.report import TABLES

__all__ = ["finish", "mismatches", "summary_counts", "table_counts"]

COUNTS: Final = {
    RATE: ("n", "successes"),
    DISTRIBUTION: ("n", "mean", "p50", "p90", "p99"),
    BREAKDOWN: ("n", "total"),
    RATIO: ("numerator", "denominator"),
}
_FUNNEL_COUNTS: Final = ("n",)
_SIDES: Final = ("previous", "current")
_COMPARED: Final = tuple(f"{side}_{c}" for side in _SIDES for c in ("n", "successes"))
Z95: Final = 1.959963984540054  # the contract's z, to double precision


def table_counts(name: str, table: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The key and count columns of ``name``'s table (grouped by ``keys``)."""
    kind = METRICS[name].kind
    labels = [METRICS[name].category] if kind == BREAKDOWN else [] if kind in COUNTS else ["stage"]
    return table[[*keys, *labels, *COUNTS.get(kind, _FUNNEL_COUNTS)]]


def summary_counts(summary: Any) -> dict[str, pd.DataFrame]:
    """The counts of a ``report.SummaryTables``, keyed like ``_report_sql.report_counts``."""
    counts = {
        "extent": pd.DataFrame(
            {"rows": [summary.rows], "first": [summary.first_ts], "last": [summary.last_ts]}
        ),
        "set_aside": summary.set_aside[["reason", "rows"]],
        "headline": summary.headline[["metric", "n", "successes"]],
        "comparison": summary.comparison[
            ["metric", *[c for c in summary.comparison if c in ("action",)], *_COMPARED]
        ],
        "verified": pd.DataFrame({"rows": [len(summary.verified)]}),
    }
    for spec in TABLES:
        keys = [*spec.by, *([PERIOD] if spec.over_time else [])]
        counts[spec.key] = table_counts(spec.metric, summary.tables[spec.key], keys)
    return counts


def mismatches(
    ours: Mapping[str, pd.DataFrame],
    hand: Mapping[str, pd.DataFrame],
    names: tuple[str, str] = ("Ibis", "hand SQL"),
) -> list[str]:
    """One line per count that differs between ``ours`` and ``hand`` (called ``names``)."""
    found = [
        f"{name}: only the {side} path has it"
        for side, a, b in ((names[0], ours, hand), (names[1], hand, ours))
        for name in a
        if name not in b
    ]
    for name in (n for n in ours if n in hand):
        found += _differences(name, _normal(name, ours[name]), _normal(name, hand[name]), names)
    return found


def _normal(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    if name == "set_aside":  # every reason, 0 where none
        rows = dict(zip(frame["reason"], frame["rows"], strict=True))
        return pd.DataFrame(
            {"reason": SET_ASIDE_REASONS, "rows": [int(rows.get(r, 0)) for r in SET_ASIDE_REASONS]}
        )
    if name == "extent":
        return frame.assign(
            **{c: pd.to_datetime(frame[c], utc=True).astype(str) for c in ("first", "last")}
        )
    return frame


def _is_count(column: str) -> bool:
    return column in ("rows", "mean", "numerator", "denominator") or column in {
        c for kind in COUNTS.values() for c in kind
    } | set(_COMPARED)


def _differences(name: str, a: pd.DataFrame, b: pd.DataFrame, names: tuple[str, str]) -> list[str]:
    keys = [c for c in a.columns if not _is_count(c)]
    if sorted(a.columns) != sorted(b.columns):
        return [
            f"{name}: columns differ: {names[0]} {list(a.columns)}, {names[1]} {list(b.columns)}"
        ]
    left, right = _keyed(a, keys), _keyed(b, keys)
    merged = left.merge(
        right, on=keys or ["_one"], how="outer", suffixes=("_ibis", "_hand"), indicator=True
    )
    lines = []
    for row in merged.to_dict("records"):
        where = ", ".join(f"{k}={row[k]}" for k in keys) or "(whole log)"
        if row["_merge"] != "both":
            side = names[0] if row["_merge"] == "left_only" else names[1]
            lines.append(f"{name} [{where}]: a row only the {side} path has")
            continue
        for column in (c for c in a.columns if c not in keys):
            x, y = row[f"{column}_ibis"], row[f"{column}_hand"]
            if not _same(x, y):
                lines.append(f"{name} [{where}] {column}: {names[0]} {x!r}, {names[1]} {y!r}")
    return lines


def _keyed(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Keys as text (missing as <NA>, periods as UTC ISO text), so both sides join."""
    frame = frame.reset_index(drop=True)
    if not keys:
        return frame.assign(_one=0)
    out = frame.copy()
    for key in keys:
        column = out[key]
        if key == PERIOD:
            column = pd.to_datetime(column, utc=True)
        out[key] = column.astype(object).where(column.notna(), "<NA>").astype(str)
    return out


def _same(x: object, y: object) -> bool:
    if isinstance(x, str) or isinstance(y, str):
        return x == y
    a, b = float(x), float(y)  # type: ignore[arg-type]
    if np.isnan(a) and np.isnan(b):
        return True
    return bool(np.isclose(a, b, rtol=1e-9, atol=1e-9))


# -- the hand path's pandas finishing -----------------------------------------------------------


def finish(counts: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The hand counts made into finished tables: rates and shares with Wilson intervals, the
    weekly change with Newcombe's interval, the pooled z-test and Holm's adjustment."""
    out = {}
    for name, frame in counts.items():
        if "successes" in frame:
            out[name] = _with_rate(frame, "successes", "n", "rate")
        elif "total" in frame:
            out[name] = _with_rate(frame, "n", "total", "share")
        else:
            out[name] = frame
    if "comparison" in counts:
        out["comparison"] = _tested(counts["comparison"])
    return out


def _with_rate(frame: pd.DataFrame, hits: str, n: str, rate: str) -> pd.DataFrame:
    x, total = frame[hits].to_numpy(np.float64), frame[n].to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / total
        z2n = Z95 * Z95 / total
        centre = (p + z2n / 2) / (1 + z2n)
        half = Z95 / (1 + z2n) * np.sqrt(p * (1 - p) / total + z2n / (4 * total))
    return frame.assign(**{rate: p, "ci_low": centre - half, "ci_high": centre + half})


def _tested(frame: pd.DataFrame) -> pd.DataFrame:
    from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

    rows = []
    for x0, n0, x1, n1 in frame[
        ["previous_successes", "previous_n", "current_successes", "current_n"]
    ].itertuples(index=False):
        if n0 == 0 or n1 == 0:
            rows.append((np.nan, np.nan, np.nan, np.nan))
            continue
        low, high = confint_proportions_2indep(x1, n1, x0, n0, method="newcomb", compare="diff")
        edge = (x1 == 0 and x0 == 0) or (x1 == n1 and x0 == n0)
        p = np.nan if edge else float(proportions_ztest([x1, x0], [n1, n0])[1])
        rows.append((100 * (x1 / n1 - x0 / n0), 100 * low, 100 * high, p))
    tested = frame.assign(
        **dict(
            zip(
                ("change_pp", "change_ci_low_pp", "change_ci_high_pp", "p_value"),
                np.array(rows, dtype=np.float64).T,
                strict=True,
            )
        )
    )
    adjusted = pd.Series(np.nan, index=tested.index)
    for _, group in tested.groupby("metric", sort=False):
        p = group["p_value"].dropna()
        order = np.argsort(p.to_numpy(), kind="stable")
        scaled = np.minimum(
            1, np.maximum.accumulate(p.to_numpy()[order] * (len(p) - np.arange(len(p))))
        )
        adjusted[p.index[order]] = scaled
    return tested.assign(p_adjusted=adjusted, significant=adjusted < 0.05)
