"""Control limits for a rate over time: the p-chart, whose limits widen on quiet periods.

A rate table by ``period`` (and groups) gives, per period, ``n`` trials and ``successes``.
Shewhart's p-chart for a varying ``n`` takes, per group, the centre line p̄ = Σ successes /
Σ n and, per period, the limits p̄ ± k·√(p̄(1 − p̄)/n) (k = 3 by default), clipped to 0–1: a
day with few sessions gets wide limits, so it does not raise an alarm by chance. A period
below the lower limit is ``low``, above the upper one ``high``. The formulas are the
textbook's (Montgomery, *Introduction to Statistical Quality Control*, ch. 7); a test checks
them against its worked example.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from verigator_nb.analysis._aggregate import PERIOD

__all__ = ["P_CHART_SIGMAS", "p_chart"]

P_CHART_SIGMAS = 3.0  # Shewhart's limits
_VALUES = frozenset({PERIOD, "n", "successes", "rate", "ci_low", "ci_high"})


def p_chart(table: pd.DataFrame, *, sigmas: float = P_CHART_SIGMAS) -> pd.DataFrame:
    """``table`` (a rate table by period, e.g. ``conversion(df, by="method", period="D")``)
    with ``center``, ``lcl``, ``ucl`` and ``signal`` ("low", "high" or "") per row.

    Rows with ``n`` = 0 have no limits and no signal. Raises ``ValueError`` without a
    ``period`` column.
    """
    if PERIOD not in table:
        raise ValueError("a p-chart needs a rate table by period (period='D', 'W' or 'M')")
    groups = [column for column in table.columns if column not in _VALUES]
    n = table["n"].to_numpy(dtype=np.float64)
    hits = table["successes"].to_numpy(dtype=np.float64)
    if groups:
        keys = table[groups].astype(object).where(table[groups].notna(), None)
        totals = pd.DataFrame({"n": n, "hits": hits}).groupby(
            [keys[c] for c in groups], dropna=False, sort=False
        )
        center = (totals["hits"].transform("sum") / totals["n"].transform("sum")).to_numpy()
    else:
        center = np.full(len(table), hits.sum() / n.sum() if n.sum() else np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = sigmas * np.sqrt(center * (1 - center) / n)
    lcl = np.where(n > 0, np.clip(center - spread, 0.0, 1.0), np.nan)
    ucl = np.where(n > 0, np.clip(center + spread, 0.0, 1.0), np.nan)
    with np.errstate(invalid="ignore"):
        rate = np.where(n > 0, hits / n, np.nan)
    signal = np.where(rate < lcl, "low", np.where(rate > ucl, "high", ""))
    return table.assign(center=center, lcl=lcl, ucl=ucl, signal=signal)
