"""How the report's alarms do on simulated traffic, over seeds.

For each seed, three 60-day campaigns on the in-process sandbox (1,500 users, 4 logins each):
- stable: the CUSUM's false alarms (conversion by country, the report's design: at most one
  false alarm in 1,000 days a country) and the pumping review's flags (there should be none);
- a drop: GB's conversion falls from about 94 % to 85 % on day 40; the CUSUM's delay to its
  first alarm in GB, in days;
- an attack: 300 SMS starts to consecutive GB numbers over 2 hours on day 20.3; the pumping
  review run on the log as it stood every 10 minutes into the attack, and the first moment
  it flags the attacked range: the detection delay.

    .venv/bin/python benchmarks/alarm_study.py --seeds 10
"""

from __future__ import annotations

import argparse
import statistics

import pandas as pd

from verigator_nb import analysis
from verigator_nb.analysis import FALSE_ALARMS_PER_DAY
from verigator_nb.report._summary import CUSUM_BY
from verigator_nb.sandbox import Sandbox
from verigator_nb.schema import NUMBER_RANGE, TS
from verigator_nb.simulate import ConversionDrop, Population, PumpingAttack, simulate

DAYS = 60
DROP = ConversionDrop(country="GB", start_day=40, give_up_rate=0.14)
ATTACK = PumpingAttack(first_number="+447400900000", numbers=300, start_day=20.3, hours=2.0)
ATTACKED_RANGE = "+44 740090"


def _log(seed: int, **changes: object) -> pd.DataFrame:
    population = Population(users=1500, logins_per_user=4, days=DAYS, **changes)  # type: ignore[arg-type]
    with Sandbox(seed=seed) as sandbox:
        return simulate(sandbox, population, seed=seed, progress=False).df


def _cusum(log: pd.DataFrame) -> pd.DataFrame:
    table = analysis.cusum(log, by=CUSUM_BY)  # as the report runs it
    return table[table["h"].notna()]


def _detection_minutes(log: pd.DataFrame) -> float:
    start = log[TS].min().floor("D") + pd.Timedelta(days=ATTACK.start_day)
    for minutes in range(10, 24 * 60, 10):
        seen = log[log[TS] < start + pd.Timedelta(minutes=minutes)]
        flags = analysis.pumping_review(seen)
        if (flags[NUMBER_RANGE] == ATTACKED_RANGE).any():
            return float(minutes)
    return float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    series_days = alarms = false_flags = 0
    delays_days: list[float] = []
    delays_minutes: list[float] = []
    for seed in range(100, 100 + args.seeds):
        stable = _log(seed)
        table = _cusum(stable)
        series_days += len(table)
        alarms += int(table["signal"].sum())
        false_flags += len(analysis.pumping_review(stable))
        dropped = _cusum(_log(seed, drop=DROP))
        start = dropped["period"].min() + pd.Timedelta(days=DROP.start_day)
        rang = dropped[(dropped[CUSUM_BY] == DROP.country) & dropped["signal"].astype(bool)]
        after = rang[rang["period"] >= start]
        delays_days.append((after["period"].min() - start).days if len(after) else float("inf"))
        delays_minutes.append(_detection_minutes(_log(seed, attack=ATTACK)))
        print(
            f"seed {seed}: CUSUM delay {delays_days[-1]} d, pumping {delays_minutes[-1]} min",
            flush=True,
        )
    print(f"\n{args.seeds} seeds, {DAYS} days, 1,500 users x 4 logins each")
    print(
        f"CUSUM false alarms: {alarms} in {series_days} country-days = "
        f"{alarms / series_days:.5f} a day (stated at most {FALSE_ALARMS_PER_DAY:.5f})"
    )
    print(
        f"CUSUM detection delay after 94 % -> 85 % in GB (days): median "
        f"{statistics.median(delays_days)}, max {max(delays_days)}"
    )
    print(
        f"pumping detection delay (minutes after the attack began, 10-minute steps): median "
        f"{statistics.median(delays_minutes)}, max {max(delays_minutes)}"
    )
    print(f"pumping flags on the stable campaigns: {false_flags}")


if __name__ == "__main__":
    main()
