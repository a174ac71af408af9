"""The Bernoulli CUSUM (``verigator_nb.analysis._cusum``): its Markov-chain ARL against a
closed form and Monte Carlo, designs that keep their stated false-alarm rate, detection of
a fall, the vectorised run against a plain loop, and the per-day table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from verigator_nb.analysis._cusum import (
    ASSURANCE_Z,
    CusumChart,
    CusumDesign,
    average_run_length,
    chart_for_weights,
    cusum_by_day,
    design,
    run_cusum,
)
from verigator_nb.analysis._stats import wilson_interval

DAY = 100  # trials a day in the simulations


def _gamblers_ruin_arl(p: float, limit: int) -> float:
    """Trials for a walk on 0, 1, ... (up 1 on a failure, down 1 on a success, held at 0)
    to reach ``limit`` from 0: with r = p/q, the steps d_i = L_i − L_{i+1} satisfy
    q·d_0 = 1 and q·d_i = 1 + p·d_{i−1}, so L_0 = Σ d_i = (r(r^H − 1)/(r − 1) − H)/(q(r − 1))."""
    q = 1 - p
    if p == q:
        return limit * (limit + 1)
    r = p / q
    return (r * (r**limit - 1) / (r - 1) - limit) / (q * (r - 1))


def _plain_loop(success: np.ndarray, chart: CusumChart) -> tuple[list[int], list[int]]:
    """The definition, one trial at a time, in whole grid units."""
    level, path, signals = 0, [], []
    for t, converted in enumerate(success):
        level = max(0, level + (-chart.success_step if converted else chart.failure_step))
        path.append(level)
        if level >= chart.limit:
            signals.append(t)
            level = 0
    return path, signals


def _run_lengths(success: np.ndarray, chart: CusumDesign | CusumChart) -> np.ndarray:
    return np.diff(run_cusum(success, chart).signals, prepend=-1)


@pytest.mark.parametrize("p", [0.3, 0.5, 0.7, 0.85])
@pytest.mark.parametrize("limit", [1, 4, 9])
def test_plus_minus_one_weights_give_the_gamblers_ruin_arl(p: float, limit: int) -> None:
    # p0 = 0.7, p1 = 0.3 swaps the failure rates, so the weights are ±ln(7/3) exactly.
    chart = CusumDesign(0.7, 0.3, h=limit * math.log(7 / 3), trials_per_day=DAY).chart
    assert (chart.failure_step, chart.success_step, chart.limit) == (1, 1, limit)
    assert average_run_length(chart, p) == pytest.approx(_gamblers_ruin_arl(p, limit), rel=1e-9)


def test_a_chart_that_signals_on_any_failure_waits_a_geometric_time() -> None:
    chart = CusumChart(failure_step=5, success_step=1, limit=5, unit=0.1)
    assert average_run_length(chart, 0.94) == pytest.approx(1 / 0.06, rel=1e-12)
    assert average_run_length(chart, 1.0) == math.inf


@pytest.mark.parametrize(
    ("h", "p"),
    [pytest.param(3.0, 0.94, id="in-control"), pytest.param(4.0, 0.85, id="after-a-fall")],
)
def test_markov_chain_arl_agrees_with_monte_carlo(h: float, p: float) -> None:
    chart = CusumDesign(0.94, 0.85, h=h, trials_per_day=DAY)
    arl = average_run_length(chart, p)
    # Restarting at 0 after each signal makes the gaps independent run lengths.
    success = np.random.default_rng(20240601).random(int(arl * 3000)) < p
    lengths = _run_lengths(success, chart)
    standard_error = lengths.std(ddof=1) / math.sqrt(lengths.size)
    assert lengths.size > 2500
    assert abs(lengths.mean() - arl) < 4 * standard_error


def test_grid_weights_stay_within_a_tenth_of_a_percent_of_the_likelihood_ratio() -> None:
    for p0, p1 in [(0.5, 0.1), (0.94, 0.85), (0.995, 0.99), (0.999, 0.998)]:
        chart = CusumDesign(p0, p1, h=5.0, trials_per_day=DAY).chart
        exact = math.log((1 - p1) / (1 - p0)) / math.log(p0 / p1)
        assert chart.failure_weight / -chart.success_weight == pytest.approx(exact, rel=1e-3)
        assert chart.success_weight == pytest.approx(math.log(p1 / p0), rel=1e-12)


def _false_alarms(chart: CusumDesign | CusumChart, series: int, days: int) -> int:
    rng = np.random.default_rng(7)
    return sum(run_cusum(rng.random(days * DAY) < 0.94, chart).signals.size for _ in range(series))


def test_design_keeps_its_stated_false_alarm_rate_and_a_much_lower_h_does_not() -> None:
    chosen = design(0.94, 0.85, trials_per_day=DAY, false_alarms_per_day=1 / 365)
    series, days = 2000, 60
    most = stats.poisson.ppf(0.999, series * days / 365)  # 329 expected at the stated rate
    assert _false_alarms(chosen, series, days) <= most
    lowered = CusumDesign(0.94, 0.85, h=chosen.h / 2, trials_per_day=DAY)
    assert _false_alarms(lowered, series, days) > most


def test_design_takes_the_smallest_h_on_its_grid_that_meets_the_rate() -> None:
    chosen = design(0.98, 0.96, trials_per_day=500, false_alarms_per_day=1 / 90)
    target = 500 * 90
    chart = chosen.chart
    below = CusumChart(chart.failure_step, chart.success_step, chart.limit - 1, chart.unit)
    assert chosen.arl0 >= target > average_run_length(below, 0.98)
    assert chosen.h == pytest.approx(chart.h)


@pytest.mark.parametrize("seed", range(8))
def test_a_fall_from_94_to_85_percent_at_day_40_is_flagged_within_three_days(seed: int) -> None:
    chosen = design(0.94, 0.85, trials_per_day=DAY)
    day = np.arange(70 * DAY) // DAY
    rng = np.random.default_rng(seed)
    success = rng.random(day.size) < np.where(day >= 40, 0.85, 0.94)
    signals = run_cusum(success, chosen).signals
    first = signals[signals >= 40 * DAY][0]
    assert (first + 1 - 40 * DAY) / DAY <= 3


@settings(max_examples=150, deadline=None)
@given(
    success=st.lists(st.booleans(), max_size=1500),
    p0=st.floats(0.5, 0.995),
    share=st.floats(0.2, 0.95),
    h=st.floats(0.05, 6.0),
)
def test_run_cusum_equals_a_plain_loop(success: list[bool], p0: float, share: float, h: float):
    chart = CusumDesign(p0, p0 * share, h=h, trials_per_day=DAY).chart
    run = run_cusum(np.array(success, dtype=bool), chart)
    path, signals = _plain_loop(np.array(success, dtype=bool), chart)
    assert run.statistic.tolist() == pytest.approx([level * chart.unit for level in path])
    assert run.signals.tolist() == signals


def test_run_cusum_equals_a_plain_loop_over_many_windows() -> None:
    chart = CusumDesign(0.94, 0.85, h=4.0, trials_per_day=DAY).chart
    rng = np.random.default_rng(3)
    success = rng.random(60_000) < np.repeat([0.94, 0.85, 0.97, 0.88], 15_000)
    path, signals = _plain_loop(success, chart)
    run = run_cusum(success, chart)
    assert run.signals.tolist() == signals and len(signals) > 50
    assert np.allclose(run.statistic, np.array(path) * chart.unit)


def test_run_cusum_restarts_at_zero_after_a_signal() -> None:
    chart = CusumChart(failure_step=2, success_step=1, limit=3, unit=0.5)
    run = run_cusum(np.array([False, False, False, True, False, False]), chart)
    # 2, 4 ≥ 3: signal; from 0: 2, 1, 3 ≥ 3 (a tie signals): signal; from 0 again: 2.
    assert run.statistic.tolist() == [1.0, 2.0, 1.0, 0.5, 1.5, 1.0]
    assert run.signals.tolist() == [1, 4]


def test_run_cusum_refuses_outcomes_other_than_true_and_false() -> None:
    chart = CusumChart(2, 1, 3, 0.5)
    with pytest.raises(ValueError, match="booleans"):
        run_cusum(np.array([1.0, np.nan]), chart)
    assert run_cusum(np.array([1, 0, 0]), chart).signals.tolist() == [2]


def test_describe_names_the_rates_h_and_the_stated_false_alarm_rate() -> None:
    chosen = design(0.94, 0.85, trials_per_day=120, false_alarms_per_day=1 / 365)
    text = chosen.describe()
    assert text.startswith("Bernoulli CUSUM: baseline 94.0 %, flags a fall to 85.0 %, h = ")
    assert f"h = {chosen.h:.2f};" in text
    assert text.endswith("at most one false alarm in 365 days at 120 sessions a day")
    lowered = CusumDesign(0.94, 0.85, 2.0, 120, 1 / 365).describe()
    assert "more often than the stated one in 365" in lowered


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param((1.0, 0.85, 3.0, 100.0), "strictly between 0 and 1", id="p0-of-one"),
        pytest.param((0.94, 0.0, 3.0, 100.0), "strictly between 0 and 1", id="p1-of-zero"),
        pytest.param((0.85, 0.94, 3.0, 100.0), "must be below the baseline", id="p1-above"),
        pytest.param((0.94, 0.85, 0.0, 100.0), "must be positive", id="h-of-zero"),
        pytest.param((0.94, 0.85, 3.0, -1.0), "must be positive", id="negative-volume"),
    ],
)
def test_a_design_refuses_impossible_rates_and_volumes(arguments: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CusumDesign(*arguments)
    with pytest.raises(ValueError, match="must be positive"):
        design(0.94, 0.85, trials_per_day=100, false_alarms_per_day=0)
    with pytest.raises(ValueError, match="failure weight > 0"):
        chart_for_weights(-1.0, 1.0, 3.0)


def _trials(rates: dict[str | None, tuple[float, int]], days: int, seed: int) -> pd.DataFrame:
    """``per_day`` trials a day for ``days`` days for each channel, converting at ``rate``
    (a pair per channel), the times spread over each day."""
    rng = np.random.default_rng(seed)
    frames = []
    for channel, (rate, per_day) in rates.items():
        day = np.repeat(np.arange(days), per_day)
        seconds = rng.integers(0, 86_400, day.size)
        ts = pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta(day * 86_400 + seconds, "s")
        success = rng.random(day.size) < rate
        frames.append(pd.DataFrame({"channel": channel, "ts": ts, "success": success}))
    return pd.concat(frames, ignore_index=True).sample(frac=1, random_state=1)


def test_cusum_by_day_estimates_each_groups_baseline_and_notes_thin_or_perfect_ones() -> None:
    frame = _trials(
        {"a": (0.9, 20), "b": (0.96, 40), None: (0.93, 30), "thin": (0.9, 3), "all": (1.0, 10)},
        days=35,
        seed=11,
    )
    before = frame.copy()
    table = cusum_by_day(frame, by="channel")
    pd.testing.assert_frame_equal(frame, before)
    assert table.groupby("channel", dropna=False).size().tolist() == [35] * 5
    b = table[table["channel"] == "b"]
    first = frame[(frame["channel"] == "b") & (frame["ts"] < pd.Timestamp("2024-03-29", tz="UTC"))]
    p0 = first["success"].mean()
    # The stated rate holds for a baseline one standard error below the estimate.
    (low,), _ = wilson_interval([first["success"].sum()], [len(first)], z=ASSURANCE_Z)
    expected = design(p0, 1 - 2 * (1 - p0), trials_per_day=40, in_control=low)
    assert b["p0"].iloc[0] == pytest.approx(p0)
    assert b["h"].iloc[0] == pytest.approx(expected.h)
    assert expected.h > design(p0, 1 - 2 * (1 - p0), trials_per_day=40).h
    assert b["baseline"].sum() == 28 and b["n"].sum() == 35 * 40
    assert table.loc[table["channel"].isna(), "note"].eq("").all()
    for channel, note in [("thin", "fewer than 100 trials"), ("all", "baseline rate is 100 %")]:
        rows = table[table["channel"] == channel]
        assert rows["note"].str.startswith(note).all()
        assert rows["statistic"].isna().all() and not rows["signal"].any()


def test_cusum_by_day_flags_a_fall_after_the_baseline_and_reports_the_days_peak() -> None:
    frame = _trials({"a": (0.94, DAY)}, days=40, seed=5)
    later = _trials({"a": (0.85, DAY)}, days=10, seed=6)
    later["ts"] += pd.Timedelta(days=40)
    table = cusum_by_day(pd.concat([frame, later]), by=["channel"], worse=0.85)
    flagged = table.loc[table["signal"], "period"]
    start = pd.Timestamp("2024-04-10", tz="UTC")
    assert (flagged >= start).any() and flagged[flagged >= start].min() - start <= pd.Timedelta(
        days=3
    )
    assert (table["peak"] >= table["statistic"]).all()
    assert (table.loc[table["signal"], "peak"] >= table.loc[table["signal"], "h"]).all()
    assert table["p1"].eq(0.85).all()


def test_cusum_by_day_leaves_out_rows_without_time_or_outcome_and_takes_an_empty_log() -> None:
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2024-01-01T10:00Z", None, "2024-01-02T10:00Z"], utc=True),
            "success": pd.array([True, True, None], dtype="boolean"),
        }
    )
    table = cusum_by_day(frame, p0=0.9, min_baseline_trials=1)
    assert table["n"].tolist() == [1]
    empty = cusum_by_day(frame.iloc[:0], by=None)
    assert empty.empty and {"period", "statistic", "signal", "note"} <= set(empty.columns)
    with pytest.raises(ValueError, match="channel"):
        cusum_by_day(frame, by="channel")


def test_a_design_reckoned_at_a_lower_in_control_rate_still_meets_its_rate_there() -> None:
    plain = design(0.94, 0.88, trials_per_day=100, false_alarms_per_day=1 / 1000)
    assured = design(0.94, 0.88, trials_per_day=100, false_alarms_per_day=1 / 1000, in_control=0.93)
    target = 100 * 1000
    assert average_run_length(plain, 0.93) < target <= average_run_length(assured, 0.93)
    lower = CusumDesign(0.94, 0.88, assured.h - assured.chart.unit, 100, 1 / 1000)
    assert average_run_length(lower, 0.93) < target  # the smallest h that does
    with pytest.raises(ValueError, match="in_control"):
        design(0.94, 0.88, trials_per_day=100, in_control=0.95)
