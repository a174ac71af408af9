"""A Bernoulli CUSUM for a fall in conversion, with a false-alarm rate that holds by design.

Each trial (a session) converts or not. With the failure rates q = 1 − p of the baseline
p0 and of a named worse rate p1 < p0, a failure adds ln(q1/q0) and a success adds
ln((1 − q1)/(1 − q0)), the log-likelihood ratio of the trial; the statistic
S_t = max(0, S_{t−1} + W_t) starts at 0, signals when S_t ≥ h and starts again at 0 on
the next trial (Reynolds & Stoumbos, "A CUSUM chart for monitoring a proportion when
inspecting continuously", J. Quality Technology 31(1), 1999; Steiner et al. 2000).

The chart is run on a grid, as Reynolds & Stoumbos do: the two weights are replaced by
integer multiples of one unit whose ratio is within 0.1 % of the true one, so S moves
between whole grid states and its run length is an exact Markov chain (Brook & Evans,
Biometrika 59, 1972). ``average_run_length`` solves that chain, (I − R)·L = 1, with a
sparse LU; ``design`` takes the smallest h on the grid whose in-control ARL is at least
trials per day / false alarms per day, so the stated rate is an upper bound by
construction. The tests check the chain against the gambler's-ruin closed form (weights
±1), against Monte Carlo, and simulate the false alarms of designed charts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd
import scipy.sparse as sparse
from scipy.sparse.linalg import spsolve

from verigator_nb.analysis._aggregate import PERIOD
from verigator_nb.analysis._stats import wilson_interval
from verigator_nb.schema import TS

__all__ = [
    "FALSE_ALARMS_PER_DAY",
    "WEIGHT_TOLERANCE",
    "CusumChart",
    "CusumDesign",
    "CusumRun",
    "average_run_length",
    "chart_for_weights",
    "cusum_by_day",
    "design",
    "run_cusum",
]

# The false-alarm rate a chart is designed for unless told: one in 1,000 days, per series.
FALSE_ALARMS_PER_DAY: Final = 1 / 1000
WEIGHT_TOLERANCE: Final = 1e-3  # the grid weights' largest relative error against the LLR
_MAX_DENOMINATOR: Final = 4096
_FIRST_WINDOW: Final = 256  # trials run_cusum scans at once before it widens its window


@dataclass(frozen=True)
class CusumChart:
    """A CUSUM on a grid of ``unit``: a failure adds ``failure_step`` units, a success
    takes ``success_step`` away, and it signals at ``limit`` units (h = limit · unit)."""

    failure_step: int
    success_step: int
    limit: int
    unit: float

    def __post_init__(self) -> None:
        if min(self.failure_step, self.success_step, self.limit) < 1 or not self.unit > 0:
            raise ValueError("a chart needs positive whole steps and limit and a positive unit")

    @property
    def h(self) -> float:
        return self.limit * self.unit

    @property
    def failure_weight(self) -> float:
        return self.failure_step * self.unit

    @property
    def success_weight(self) -> float:
        return -self.success_step * self.unit


def _grid(failure_weight: float, success_weight: float) -> tuple[int, int, float]:
    """Whole steps (up, down) and a unit with up/down within WEIGHT_TOLERANCE of the ratio."""
    ratio = failure_weight / -success_weight
    down = np.arange(1, _MAX_DENOMINATOR + 1)
    up = np.maximum(1, np.rint(down * ratio))
    error = np.abs(up / (down * ratio) - 1)
    close = np.flatnonzero(error <= WEIGHT_TOLERANCE)
    best = int(close[0]) if close.size else int(np.argmin(error))
    return int(up[best]), int(down[best]), -success_weight / int(down[best])


def chart_for_weights(failure_weight: float, success_weight: float, h: float) -> CusumChart:
    """The grid chart nearest to weights ``failure_weight`` > 0 > ``success_weight`` and
    limit ``h`` (rounded up to the grid). Raises ``ValueError`` for other signs."""
    if not (failure_weight > 0 > success_weight) or not h > 0:
        raise ValueError("a drop chart needs failure weight > 0 > success weight and h > 0")
    up, down, unit = _grid(failure_weight, success_weight)
    return CusumChart(up, down, max(1, math.ceil(h / unit - 1e-9)), unit)


def _llr_weights(p0: float, p1: float) -> tuple[float, float]:
    return math.log((1 - p1) / (1 - p0)), math.log(p1 / p0)


def _check(p0: float, p1: float, h: float, trials_per_day: float, rate: float) -> None:
    if not (0 < p0 < 1 and 0 < p1 < 1):
        raise ValueError(f"success rates must lie strictly between 0 and 1, not {p0}, {p1}")
    if p1 >= p0:
        raise ValueError(f"the worse rate p1 = {p1} must be below the baseline p0 = {p0}")
    if not (h > 0 and trials_per_day > 0 and rate > 0):
        raise ValueError("h, trials per day and false alarms per day must be positive")


def _arl(chart: CusumChart, p: float) -> float:
    """The zero-start ARL in trials when each trial succeeds with probability ``p``."""
    if p >= 1:
        return math.inf  # never a failure: the statistic never leaves 0
    states = np.arange(chart.limit)
    rising = states + chart.failure_step
    inside = rising < chart.limit
    rows = np.concatenate([states, states, states[inside]])
    columns = np.concatenate([states, np.maximum(0, states - chart.success_step), rising[inside]])
    values = np.concatenate(
        [np.ones(chart.limit), np.full(chart.limit, -p), np.full(inside.sum(), p - 1)]
    )
    matrix = sparse.csc_matrix((values, (rows, columns)), shape=(chart.limit, chart.limit))
    return float(spsolve(matrix, np.ones(chart.limit))[0])


def average_run_length(chart: CusumDesign | CusumChart, p: float) -> float:
    """The expected number of trials to a signal, from S = 0, when the true success rate
    is ``p`` (``math.inf`` for p = 1). Exact for the grid chart; milliseconds for charts of
    up to some ten thousand states. Raises ``ValueError`` for ``p`` outside 0–1."""
    if not 0 <= p <= 1:
        raise ValueError(f"the success rate p must lie between 0 and 1, not {p}")
    return _arl(chart.chart if isinstance(chart, CusumDesign) else chart, p)


@dataclass(frozen=True)
class CusumDesign:
    """A Bernoulli CUSUM flagging a fall in success rate from ``p0`` to ``p1`` at ``h``,
    meant for ``trials_per_day`` with at most ``false_alarms_per_day`` (per series).

    ``chart`` is the grid it runs on and ``arl0`` its in-control ARL in trials. Raises
    ``ValueError`` for rates outside (0, 1), p1 ≥ p0, or a volume, rate or h not positive.
    """

    p0: float
    p1: float
    h: float
    trials_per_day: float
    false_alarms_per_day: float = FALSE_ALARMS_PER_DAY
    chart: CusumChart = field(init=False, repr=False)
    arl0: float = field(init=False)

    def __post_init__(self) -> None:
        _check(self.p0, self.p1, self.h, self.trials_per_day, self.false_alarms_per_day)
        chart = chart_for_weights(*_llr_weights(self.p0, self.p1), self.h)
        object.__setattr__(self, "chart", chart)
        object.__setattr__(self, "arl0", _arl(chart, self.p0))

    @property
    def days_between_false_alarms(self) -> float:
        """The in-control ARL in days at ``trials_per_day``."""
        return self.arl0 / self.trials_per_day

    def describe(self) -> str:
        """One sentence: the baseline, the rate it flags, h and the false-alarm rate."""
        stated = 1 / self.false_alarms_per_day
        chart = (
            f"Bernoulli CUSUM: baseline {self.p0:.1%}, flags a fall to {self.p1:.1%}, "
            f"h = {self.h:.2f}; "
        ).replace("%", " %")
        volume = f"at {self.trials_per_day:,.0f} sessions a day"
        if self.days_between_false_alarms >= stated * (1 - 1e-9):
            return chart + f"designed for at most one false alarm in {stated:,.0f} days {volume}"
        return chart + (
            f"about one false alarm in {self.days_between_false_alarms:,.0f} days {volume}, "
            f"more often than the stated one in {stated:,.0f}"
        )


def design(
    p0: float,
    p1: float,
    *,
    trials_per_day: float,
    false_alarms_per_day: float = FALSE_ALARMS_PER_DAY,
    in_control: float | None = None,
) -> CusumDesign:
    """The chart with the smallest h on its grid whose in-control ARL is at least
    ``trials_per_day / false_alarms_per_day`` trials.

    ``in_control`` (at most ``p0``) is the success rate that ARL is reckoned at, when the
    true baseline may be lower than the ``p0`` the chart was built for (a p0 estimated from
    a sample): the stated rate then holds down to it. Raises ``ValueError`` as
    ``CusumDesign`` does, and for ``in_control`` above ``p0``."""
    _check(p0, p1, 1.0, trials_per_day, false_alarms_per_day)
    reckoned = p0 if in_control is None else in_control
    if not 0 < reckoned <= p0:
        raise ValueError(f"in_control must lie in (0, p0 = {p0}], not {in_control}")
    target = trials_per_day / false_alarms_per_day
    base = chart_for_weights(*_llr_weights(p0, p1), 1.0)
    limit = _smallest_limit(base, reckoned, target)
    return CusumDesign(p0, p1, limit * base.unit, trials_per_day, false_alarms_per_day)


def _smallest_limit(base: CusumChart, p0: float, target: float) -> int:
    """The smallest grid limit whose in-control ARL is at least ``target``.

    ln ARL grows almost linearly with the limit, so two solves give a line to aim with, and
    a walk of a step or two from where it points finds the exact limit (the ARL rises with
    the limit): about four solves where a bisection takes a dozen.
    """

    solved: dict[int, float] = {}

    def log_arl(limit: int) -> float:
        if limit not in solved:
            solved[limit] = math.log(_arl(_with_limit(base, limit), p0))
        return solved[limit]

    # With likelihood-ratio weights ARL0 ≥ e^h, so h = ln(target) is nearly always enough.
    far = max(2, math.ceil(math.log(target) / base.unit))
    near = max(1, far - max(1, far // 8))
    slope = (log_arl(far) - log_arl(near)) / (far - near)
    goal = math.log(target)
    guess = max(1, math.ceil(far - (log_arl(far) - goal) / slope)) if slope > 0 else far
    # A bracket (low fails, high meets the target) galloping out from the guess, then halved.
    step = 1
    if log_arl(guess) >= goal:
        high, low = guess, guess - 1
        while low >= 1 and log_arl(low) >= goal:
            high, low, step = low, max(0, low - 2 * step), 2 * step
    else:
        low, high = guess, guess + 1
        while log_arl(high) < goal:
            low, high, step = high, high + 2 * step, 2 * step
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if log_arl(middle) >= goal else (middle, high)
    return high


def _with_limit(chart: CusumChart, limit: int) -> CusumChart:
    return CusumChart(chart.failure_step, chart.success_step, limit, chart.unit)


@dataclass(frozen=True)
class CusumRun:
    """``statistic``: S after each trial (h or more on a signal's trial, which is the last
    before the restart); ``signals``: the positions of those trials."""

    statistic: np.ndarray
    signals: np.ndarray


def _as_success(success: np.ndarray) -> np.ndarray:
    values = np.asarray(success)
    if values.dtype != np.bool_ and not np.isin(values, (0, 1)).all():
        raise ValueError("trial outcomes must be booleans (True: the session converted)")
    return values.astype(np.bool_).ravel()


def run_cusum(success: np.ndarray, chart: CusumDesign | CusumChart) -> CusumRun:
    """The chart run over trials in time order (``success``: True when a session
    converted), from S = 0 and again from 0 after each signal.

    Between signals S is a Lindley recursion, S_t = C_t − min(−S_0, min_{k≤t} C_k) with
    C the running sum of the steps; it is evaluated a window at a time, so the Python loop
    turns once per signal or window. Raises ``ValueError`` for outcomes other than 0/1.
    """
    grid = chart.chart if isinstance(chart, CusumDesign) else chart
    steps = np.where(_as_success(success), -grid.success_step, grid.failure_step)
    path = np.empty(steps.size, dtype=np.int64)
    signals: list[int] = []
    start, level, window = 0, 0, _FIRST_WINDOW
    while start < steps.size:
        stop = min(steps.size, start + window)
        climbed = np.cumsum(steps[start:stop])
        state = climbed - np.minimum(np.minimum.accumulate(climbed), -level)
        hits = np.flatnonzero(state >= grid.limit)
        if hits.size:
            stop = start + int(hits[0]) + 1
            signals.append(stop - 1)
            window = max(_FIRST_WINDOW, 2 * (stop - start))
        else:
            window *= 2
        path[start:stop] = state[: stop - start]
        level = 0 if hits.size else int(state[-1])
        start = stop
    return CusumRun(path * grid.unit, np.asarray(signals, dtype=np.int64))


# cusum_by_day: the trial outcome column it reads, and the columns it adds per day.
SUCCESS: Final = "success"  # not a log column: True when the session converted
STATISTIC: Final = "statistic"
PEAK: Final = "peak"
SIGNAL: Final = "signal"
BASELINE: Final = "baseline"
NOTE: Final = "note"
DAY_COLUMNS: Final = (PERIOD, "n", "successes", STATISTIC, PEAK, SIGNAL, BASELINE)
DESIGN_COLUMNS: Final = ("p0", "p1", "h", NOTE)
BASELINE_DAYS: Final = 28
# How far below an estimated baseline the stated false-alarm rate is made to hold, in
# standard errors: one (measured over simulated campaigns: benchmarks/alarm_study.py).
ASSURANCE_Z: Final = 1.0
MIN_BASELINE_TRIALS: Final = 100


@dataclass(frozen=True)
class _Options:
    design: CusumDesign | None
    p0: float | None
    worse: float | None
    false_alarms_per_day: float
    baseline_days: int
    min_baseline_trials: int


def _group_design(
    n: np.ndarray, hits: np.ndarray, days: pd.DatetimeIndex, options: _Options
) -> CusumDesign | str:
    """The group's design, or the note saying why it has none."""
    if options.design is not None:
        return options.design
    in_baseline = days < days[0] + pd.Timedelta(days=options.baseline_days)
    trials = int(n[in_baseline].sum())
    if trials < options.min_baseline_trials:
        return f"fewer than {options.min_baseline_trials} trials in the baseline days"
    successes = int(hits[in_baseline].sum())
    p0 = options.p0 if options.p0 is not None else successes / trials
    if p0 in (0.0, 1.0):
        return f"baseline rate is {p0:.0%}: no fall to watch for".replace("%", " %")
    p1 = options.worse if options.worse is not None else 1 - 2 * (1 - p0)
    if not 0 < p1 < p0:
        return f"no worse rate to flag below a baseline of {p0:.1%}".replace("%", " %")
    span = min(options.baseline_days, (days[in_baseline][-1] - days[0]).days + 1)
    # An estimated p0 is a sample's: the stated rate is made to hold down to a baseline one
    # standard error below it, or an optimistic estimate would ring more often than stated.
    in_control = None if options.p0 is not None else _lowest_plausible(successes, trials, p0)
    return design(
        p0,
        p1,
        trials_per_day=trials / span,
        false_alarms_per_day=options.false_alarms_per_day,
        in_control=in_control,
    )


def _lowest_plausible(successes: int, trials: int, p0: float) -> float:
    """The Wilson lower bound, ``ASSURANCE_Z`` standard errors down, of a baseline of
    ``successes`` in ``trials`` (at most p0)."""
    low, _ = wilson_interval([successes], [trials], z=ASSURANCE_Z)
    return min(p0, float(low[0]))


def _group_days(group: pd.DataFrame, options: _Options) -> pd.DataFrame:
    """One row per day of one group's trials (sorted by time)."""
    codes, days = pd.factorize(group[PERIOD], sort=True)
    days = pd.DatetimeIndex(days)
    success = group[SUCCESS].to_numpy(dtype=np.bool_)
    n = np.bincount(codes, minlength=len(days))
    hits = np.bincount(codes, weights=success, minlength=len(days)).astype(np.int64)
    chosen = _group_design(n, hits, days, options)
    in_baseline = days < days[0] + pd.Timedelta(days=options.baseline_days)
    rows = {PERIOD: days, "n": n, "successes": hits, BASELINE: in_baseline}
    if isinstance(chosen, str):
        nothing = np.full(len(days), np.nan)
        flags = np.zeros(len(days), dtype=np.bool_)
        rows |= {STATISTIC: nothing, PEAK: nothing, SIGNAL: flags}
        return pd.DataFrame(rows).assign(p0=np.nan, p1=np.nan, h=np.nan, **{NOTE: chosen})
    run = run_cusum(success, chosen)
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    signalled = np.bincount(codes[run.signals], minlength=len(days)) > 0
    rows |= {
        STATISTIC: run.statistic[np.cumsum(n) - 1],
        PEAK: np.maximum.reduceat(run.statistic, starts),
        SIGNAL: signalled,
    }
    return pd.DataFrame(rows).assign(p0=chosen.p0, p1=chosen.p1, h=chosen.h, **{NOTE: ""})


def cusum_by_day(
    frame: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    design: CusumDesign | None = None,
    p0: float | None = None,
    worse: float | None = None,
    false_alarms_per_day: float = FALSE_ALARMS_PER_DAY,
    baseline_days: int = BASELINE_DAYS,
    min_baseline_trials: int = MIN_BASELINE_TRIALS,
) -> pd.DataFrame:
    """The Bernoulli CUSUM of each group (``by``; a missing value is a group of its own)
    over its trials, one row per group and UTC day with trials: ``n``, ``successes``, S at
    the day's end (``statistic``), its ``peak``, ``signal`` (a signal that day),
    ``baseline`` (a day the baseline was estimated from), and the ``p0``, ``p1``, ``h``
    of the group's chart, with a ``note`` where it has none.

    ``frame`` holds one trial a row: ``ts`` (UTC) and ``success`` (bool). Rows missing
    either are left out. The chart runs from each group's first trial. Unless ``design``
    is given, p0 is ``p0`` or the success rate of the group's first ``baseline_days``
    days; p1 is ``worse`` or the rate with failures doubled, 1 − 2·(1 − p0); the volume is
    the baseline's trials per calendar day; the chart is ``design(...)``'s for
    ``false_alarms_per_day``. A group with fewer than ``min_baseline_trials`` baseline
    trials, a baseline of 0 % or 100 %, or no valid p1 gets NaN and no signal.
    The input is not changed. Raises ``ValueError`` when a column is missing.

    Examples:
        >>> import pandas as pd
        >>> trials = pd.DataFrame({
        ...     "ts": pd.date_range("2024-01-01", periods=3000, freq="20min", tz="UTC"),
        ...     "success": [i % 20 != 0 for i in range(3000)],
        ... })
        >>> table = cusum_by_day(trials)
        >>> bool(table["signal"].any()), round(float(table["p0"].iloc[0]), 2)
        (False, 0.95)
    """
    keys = [by] if isinstance(by, str) else list(by or [])
    missing = [column for column in (*keys, TS, SUCCESS) if column not in frame]
    if missing:
        raise ValueError(f"cusum_by_day needs the column(s) {', '.join(missing)}")
    options = _Options(design, p0, worse, false_alarms_per_day, baseline_days, min_baseline_trials)
    trials = frame[[*keys, TS, SUCCESS]]
    ts = pd.to_datetime(trials[TS], utc=True)
    kept = ts.notna() & trials[SUCCESS].notna()
    trials = trials.loc[kept].assign(**{TS: ts[kept]}).sort_values(TS, kind="stable")
    trials = trials.assign(**{PERIOD: trials[TS].dt.floor("D")})
    groups = trials.groupby(keys, dropna=False, sort=True) if keys else [((), trials)]
    pieces = [
        _group_days(group, options).assign(**dict(zip(keys, key, strict=True)))
        for key, group in groups
        if len(group)
    ]
    columns = [*keys, *DAY_COLUMNS, *DESIGN_COLUMNS]
    if not pieces:
        return pd.DataFrame({column: [] for column in columns})
    return pd.concat(pieces, ignore_index=True)[columns]
