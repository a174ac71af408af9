"""The report's CUSUM on simulated traffic: quiet on stable days, ringing after a real drop.

Campaigns of 60 days run on the in-process sandbox with fixed seeds; the CUSUM is the
report's (conversion by country, at most one false alarm in 1,000 days per country).
``tests/test_cusum.py`` checks the chart's statistics on thousands of Bernoulli series;
this checks it end to end, from sessions the sandbox answered.
"""

from __future__ import annotations

import pandas as pd
import pytest
from scipy.stats import poisson

from verigator_nb import analysis
from verigator_nb.analysis import FALSE_ALARMS_PER_DAY
from verigator_nb.report._summary import CUSUM_BY
from verigator_nb.sandbox import Sandbox
from verigator_nb.simulate import ConversionDrop, Population, simulate

SEEDS = [11, 12, 13]
DAYS = 60
DROP = ConversionDrop(country="GB", start_day=40, give_up_rate=0.14)  # about 94 % -> 85 %


def _cusum(seed: int, drop: ConversionDrop | None = None) -> pd.DataFrame:
    population = Population(users=1500, logins_per_user=4, days=DAYS, drop=drop)
    with Sandbox(seed=seed) as sandbox:
        log = simulate(sandbox, population, seed=seed, progress=False).df
    return analysis.cusum(log, by=CUSUM_BY)  # as the report runs it


def test_stable_days_raise_no_more_false_alarms_than_the_stated_rate() -> None:
    tables = [_cusum(seed) for seed in SEEDS]
    charted = [table[table["h"].notna()] for table in tables]
    series_days = sum(len(table) for table in charted)
    alarms = sum(int(table["signal"].sum()) for table in charted)
    assert series_days >= len(SEEDS) * 6 * 50, "every country should have a chart"
    # At the stated rate the count of alarms is at most Poisson; 99.9 % of such counts
    # fall at or below this bound.
    bound = poisson.ppf(0.999, series_days * FALSE_ALARMS_PER_DAY)
    assert alarms <= bound, f"{alarms} false alarms in {series_days} series-days"


@pytest.mark.parametrize("seed", SEEDS)
def test_a_drop_in_one_country_is_flagged_within_days(seed) -> None:
    table = _cusum(seed, DROP)
    start = table["period"].min() + pd.Timedelta(days=DROP.start_day)
    gb = table[(table[CUSUM_BY] == DROP.country) & table["signal"].astype(bool)]
    after = gb[gb["period"] >= start]
    assert not after.empty, "the drop was never flagged"
    delay = (after["period"].min() - start).days
    assert delay <= 7, f"flagged {delay} days after the drop"
