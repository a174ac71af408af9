"""The Bernoulli CUSUM's false alarms and detection delays, measured on pure Bernoulli streams.

Run: ``.venv/bin/python benchmarks/cusum_false_alarms.py [--series N] [--days D] [--seed S]``

For each daily volume, ``design(0.94, 0.85, trials_per_day=volume)`` (at most one false
alarm in 365 days per series) is run over N in-control series of D days at 94 %; the table
gives the measured false alarms per series-day against the stated 1/365 and the chart's
own in-control ARL, with a 95 % Poisson interval. Then N series run 30 days at 94 % and
fall to 85 % at the start of day 30: the detection delay is the days from the fall to the
first signal after it (a fractional day: trials / volume), its mean, median, 95th
percentile and maximum. Target: measured false alarms at most the stated rate.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import stats

from verigator_nb.analysis._cusum import CusumDesign, average_run_length, design, run_cusum

P0, P1, STATED = 0.94, 0.85, 1 / 365
VOLUMES = (50, 100, 500, 2000)
BEFORE_FALL = 30  # in-control days before the fall, so the chart is in its steady state


def false_alarms(chosen: CusumDesign, series: int, days: int, rng: np.random.Generator) -> int:
    trials = round(chosen.trials_per_day) * days
    return sum(run_cusum(rng.random(trials) < P0, chosen).signals.size for _ in range(series))


def delays(chosen: CusumDesign, series: int, rng: np.random.Generator) -> np.ndarray:
    """Days from the fall to the first signal after it, one per series."""
    volume = round(chosen.trials_per_day)
    fall = BEFORE_FALL * volume
    found = []
    while len(found) < series:
        success = np.concatenate([rng.random(fall) < P0, rng.random(60 * volume) < P1])
        signals = run_cusum(success, chosen).signals
        after = signals[signals >= fall]
        if after.size:  # with no signal in 60 days the series is drawn again (never seen)
            found.append((after[0] + 1 - fall) / volume)
    return np.asarray(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2024)
    options = parser.parse_args()
    rng = np.random.default_rng(options.seed)
    series_days = options.series * options.days
    print(f"{P0:.0%} -> {P1:.0%}, stated {STATED:.5f} false alarms per series-day")
    print(f"{options.series} series x {options.days} days per volume\n")
    print(
        f"{'a day':>6} {'h':>5} {'chart rate':>10} {'alarms':>6} {'measured':>9} "
        f"{'95 % interval':>17}   {'delay mean':>10} {'median':>6} {'p95':>5} {'max':>5}"
    )
    for volume in VOLUMES:
        chosen = design(P0, P1, trials_per_day=volume, false_alarms_per_day=STATED)
        count = false_alarms(chosen, options.series, options.days, rng)
        low, high = (stats.chi2.ppf(q, 2 * count + 2 * (q > 0.5)) / 2 for q in (0.025, 0.975))
        waited = delays(chosen, options.series, rng)
        print(
            f"{volume:>6} {chosen.h:>5.2f} {volume / chosen.arl0:>10.5f} {count:>6} "
            f"{count / series_days:>9.5f} {low / series_days:>8.5f}-{high / series_days:.5f}"
            f"   {waited.mean():>10.2f} {np.median(waited):>6.2f} "
            f"{np.quantile(waited, 0.95):>5.2f} {waited.max():>5.2f}"
        )
        arl1 = average_run_length(chosen, P1)
        print(f"{'':>6} (ARL after the fall from 0: {arl1:,.0f} trials = {arl1 / volume:.2f} days)")


if __name__ == "__main__":
    main()
