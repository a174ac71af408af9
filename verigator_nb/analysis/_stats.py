"""Small statistics shared by the analysis and the scale modules: Wilson intervals, rates.

Everything here is vectorised over numpy arrays or pandas columns, so a table of a million
groups costs no more Python than a table of one.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["QUANTILES", "Z95", "add_rate", "rate_columns", "wilson_interval"]

# The two-sided 95 % normal quantile, to the precision statsmodels and R use.
Z95 = 1.959963984540054

# The quantiles every distribution table reports, and the names of their columns.
QUANTILES: dict[str, float] = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def wilson_interval(
    successes: npt.ArrayLike, n: npt.ArrayLike, *, z: float = Z95
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The Wilson score interval for ``successes`` out of ``n``, element-wise.

    Returns ``(low, high)`` as float arrays; both are NaN where ``n`` is 0, so an empty group
    never divides by zero. Raises ``ValueError`` when a count is negative or ``successes``
    exceeds ``n``.

    Examples:
        >>> low, high = wilson_interval([81, 0], [263, 0])
        >>> round(float(low[0]), 4), round(float(high[0]), 4)
        (0.2553, 0.3662)
        >>> bool(np.isnan(low[1]))
        True
    """
    x = np.asarray(successes, dtype=np.float64)
    total = np.asarray(n, dtype=np.float64)
    if np.any(x < 0) or np.any(x > total):
        raise ValueError("successes must lie between 0 and n")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / total
        z2n = z * z / total
        centre = (p + z2n / 2) / (1 + z2n)
        half = z / (1 + z2n) * np.sqrt(p * (1 - p) / total + z2n / (4 * total))
        # At 0 and n successes the bounds are exactly 0 and 1; say so rather than leave
        # rounding noise such as 1e-19.
        low = np.where(x == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
        high = np.where(x == total, 1.0, np.clip(centre + half, 0.0, 1.0))
        low = np.where(total > 0, low, np.nan)
        high = np.where(total > 0, high, np.nan)
    return low, high


def rate_columns(successes: npt.ArrayLike, n: npt.ArrayLike) -> dict[str, npt.NDArray[np.float64]]:
    """``rate`` (``successes / n``), ``ci_low`` and ``ci_high`` (its Wilson interval) as
    arrays, all NaN where ``n`` is 0.

    Examples:
        >>> rate_columns([1, 0], [4, 0])["rate"].tolist()
        [0.25, nan]
    """
    hits = np.asarray(successes, dtype=np.float64)
    counts = np.asarray(n, dtype=np.float64)
    low, high = wilson_interval(hits, counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(counts > 0, hits / counts, np.nan)
    return {"rate": rate, "ci_low": low, "ci_high": high}


def add_rate(
    frame: pd.DataFrame, *, successes: str = "successes", n: str = "n", rate: str = "rate"
) -> pd.DataFrame:
    """A copy of ``frame`` with ``rate = successes / n`` and its Wilson ``ci_low``/``ci_high``.

    ``rate`` and the interval are NaN where ``n`` is 0.

    Examples:
        >>> add_rate(pd.DataFrame({"n": [4, 0], "successes": [1, 0]}))["rate"].tolist()
        [0.25, nan]
    """
    columns = rate_columns(frame[successes].to_numpy(), frame[n].to_numpy())
    return frame.assign(**{rate: columns.pop("rate")}, **columns)
