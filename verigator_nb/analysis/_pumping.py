"""A review of SMS pumping (toll fraud): record-only, every flag explained in one sentence.

Pumping is a bot starting verifications to numbers the fraudster earns from: SMS go out,
nobody verifies. It shows as unverified SMS to one country or one block of numbers, far
above what that country or block has verified before. The review reads the log's SMS
sessions (an initiate that succeeded with ``method`` sms; a session is verified or not as
the metric contract says) and applies four rules (``RULES``):

- **volume**: per country, and per number range, unverified SMS sessions in an hour (and in
  a day) above max(``floor``, ``share`` × the most verified in any hour (day) of the
  ``history_days`` before) — the published heuristic, max(20, 0.2 × 14-day rolling maximum);
- **burst**: ``burst_numbers`` or more different users of one number range (a block of
  10,000 consecutive numbers) sent an SMS in one hour, fewer than half of them verified;
- **premium rate**: an SMS to a premium-rate number (``phonenumbers``' metadata), which
  costs the sender and belongs to no person's phone;
- **conversion drop**: a range's SMS conversion on a day below its ``history_days`` before,
  by a one-sided two-proportion z-test (statsmodels) at ``drop_alpha``.

Periods are UTC hours and days by the initiate's ``ts``. Volume is judged from one day
after the log's first session, so every country has had a day to show its normal traffic.
Flags of one rule and place in consecutive periods are one flag. The review never blocks
anything: it says what to look at, with the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportions_ztest

from verigator_nb.analysis._engine import Analysis
from verigator_nb.analysis._grains import STARTED, VERIFIED_SESSION
from verigator_nb.analysis._registry import SESSION
from verigator_nb.analysis._source import Source
from verigator_nb.models import METHOD_SMS
from verigator_nb.schema import (
    COUNTRY,
    METHOD,
    NUMBER_RANGE,
    NUMBER_TYPE,
    PREMIUM_RATE,
    SERVICE_ID,
    TS,
    TS_DTYPE,
    USER_ID,
)

__all__ = [
    "BURST",
    "CONVERSION_DROP",
    "FLAG_COLUMNS",
    "PREMIUM",
    "RULES",
    "VOLUME",
    "PumpingRules",
    "pumping_review",
]

VOLUME: Final = "volume"
BURST: Final = "burst"
PREMIUM: Final = "premium rate"
CONVERSION_DROP: Final = "conversion drop"
RULES: Final = (VOLUME, BURST, PREMIUM, CONVERSION_DROP)
_SMS, _VERIFIED, _NUMBERS = "sessions", "verified_sessions", "numbers"
FLAG_COLUMNS: Final = (
    "rule", COUNTRY, NUMBER_RANGE, "start", "end", _SMS, _VERIFIED, "threshold", "explanation",
)  # fmt: skip

_HOUR: Final = "hour"
_GRAINS: Final = {"h": ("hour", 24), "D": ("day", 1)}  # period, its name, periods per day


@dataclass(frozen=True)
class PumpingRules:
    """The review's thresholds (the defaults are the published heuristic's)."""

    floor: int = 20
    share: float = 0.2
    history_days: int = 14
    burst_numbers: int = 10
    drop_min_sessions: int = 20
    drop_alpha: float = 0.001

    def __post_init__(self) -> None:
        if self.floor < 1 or self.history_days < 1 or self.burst_numbers < 2:
            raise ValueError("floor and history_days must be at least 1, burst_numbers 2")
        if not 0 < self.share <= 1 or not 0 < self.drop_alpha < 1:
            raise ValueError("share must be in (0, 1] and drop_alpha in (0, 1)")

    def describe(self) -> str:
        """The rules in one paragraph, with their numbers, for a report."""
        return (
            f"Volume: unverified SMS sessions in an hour or a day, per country and per number "
            f"range, above max({self.floor}, {self.share:g} × the most verified in any hour or "
            f"day of the {self.history_days} days before). Burst: {self.burst_numbers} or more "
            "different users of one number range sent an SMS within an hour, fewer than half "
            "verified. Premium rate: any SMS to a premium-rate number. Conversion drop: a "
            f"range's SMS conversion on a day (at least {self.drop_min_sessions} sessions) "
            f"below its {self.history_days} days before, one-sided z-test p < "
            f"{self.drop_alpha:g}."
        )


def pumping_review(source: Source | Analysis, *, rules: PumpingRules | None = None) -> pd.DataFrame:
    """Every flag the rules raise on ``source``'s SMS sessions, oldest first: ``rule``,
    ``country``, ``number_range`` (empty for a country-wide flag), ``start`` and ``end``
    (UTC), the SMS ``sessions`` and ``verified_sessions`` in that span, the ``threshold``
    crossed (the rule's own: a count, or the p-value bound of a drop), and an
    ``explanation`` in one sentence. A log without ``number_range`` (written before it
    existed) is reviewed per country only."""
    rules = rules or PumpingRules()
    analysis = source if isinstance(source, Analysis) else Analysis(source)
    hourly = _hourly(analysis, rules)
    if hourly.empty:
        return _flags([])
    judged_from = hourly[_HOUR].min() + pd.Timedelta(days=1)
    by_country = hourly.groupby([COUNTRY, _HOUR], dropna=False, as_index=False)[
        [_SMS, _VERIFIED]
    ].sum()
    flags = [
        *_volume(by_country, [COUNTRY], rules, judged_from),
        *_volume(hourly, [COUNTRY, NUMBER_RANGE], rules, judged_from),
        *_bursts(hourly, rules),
        *_premium(hourly),
        *_drops(hourly, rules),
    ]
    return _flags(flags)


# -- the sessions, counted per range and hour where they are --------------------------------


def _hourly(analysis: Analysis, rules: PumpingRules) -> pd.DataFrame:
    """SMS sessions per country, range, type and hour: ``sessions``, ``verified_sessions``,
    ``numbers`` (different users). Every country-hour comes over; of the ranges, only those
    some rule can flag (a big log has about one session per range)."""
    limits = (rules.floor, rules.burst_numbers, rules.drop_min_sessions)
    found = analysis.fetch(_flaggable_ranges, SESSION, *limits)
    rest = analysis.fetch(_other_ranges_by_country, SESSION, *limits)
    return _tidy(pd.concat([found, rest.assign(**{_NUMBERS: 0})], ignore_index=True))


def _counted(sessions: ir.Table) -> ir.Table:
    """SMS sessions per country, range, type and hour."""
    sent = sessions.filter(sessions[STARTED] & (sessions[METHOD] == METHOD_SMS).fill_null(False))
    hour = sent[TS].truncate("h").name(_HOUR)
    user = ibis.struct({SERVICE_ID: sent[SERVICE_ID], USER_ID: sent[USER_ID]})
    return sent.group_by([sent[COUNTRY], sent[NUMBER_RANGE], sent[NUMBER_TYPE], hour]).aggregate(
        **{
            _SMS: sent.count(),
            _VERIFIED: sent[VERIFIED_SESSION].cast("int64").sum(),
            _NUMBERS: user.nunique(),
        }
    )


def _flagged(counted: ir.Table, floor: int, burst: int, day_sessions: int) -> ir.BooleanValue:
    """Whether a row's range is one some rule could flag (or it has no range)."""
    candidates = _candidates(counted, floor, burst, day_sessions)
    return counted[NUMBER_RANGE].isin(candidates) | counted[NUMBER_RANGE].isnull()


def _flaggable_ranges(sessions: ir.Table, floor: int, burst: int, day_sessions: int) -> ir.Table:
    counted = _counted(sessions)
    return counted.filter(_flagged(counted, floor, burst, day_sessions))


def _other_ranges_by_country(
    sessions: ir.Table, floor: int, burst: int, day_sessions: int
) -> ir.Table:
    """The other ranges' sessions, summed per country and hour (for the country rules)."""
    counted = _counted(sessions)
    others = counted.filter(~_flagged(counted, floor, burst, day_sessions))
    return others.group_by([COUNTRY, _HOUR]).aggregate(
        **{_SMS: others[_SMS].sum(), _VERIFIED: others[_VERIFIED].sum()}
    )


def _candidates(counted: ir.Table, floor: int, burst: int, day_sessions: int) -> ir.Column:
    """The ranges any rule could flag: an hour over the floor or with a burst of numbers,
    premium-rate numbers, or a day big enough to test its conversion."""
    unverified = counted[_SMS] - counted[_VERIFIED]
    hot = counted.filter(
        (unverified > floor)
        | (counted[_NUMBERS] >= burst)
        | (counted[NUMBER_TYPE] == PREMIUM_RATE).fill_null(False)
    )
    day = counted[_HOUR].truncate("D")
    daily = counted.group_by([counted[NUMBER_RANGE], day.name("day")]).aggregate(
        n=counted[_SMS].sum()
    )
    big = daily.filter(daily.n >= day_sessions)
    return hot.select(NUMBER_RANGE).union(big.select(NUMBER_RANGE))[NUMBER_RANGE]


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    # Microseconds, as the log's ts, whichever engine answered (Spark's come in nanoseconds).
    hours = pd.to_datetime(frame[_HOUR], utc=True).astype(TS_DTYPE)
    counts = {c: pd.to_numeric(frame[c]).astype("int64") for c in (_SMS, _VERIFIED, _NUMBERS)}
    return frame.assign(**{_HOUR: hours}, **counts).astype({COUNTRY: object, NUMBER_RANGE: object})


# -- the rules -------------------------------------------------------------------------------


def _per_period(frame: pd.DataFrame, keys: list[str], freq: str) -> pd.DataFrame:
    """SMS ``sessions`` and ``verified_sessions`` per group of ``keys`` and period of
    ``freq`` ("h" or "D"), as one column per group and a row for every period from the first
    to the last (zeros where a group had none): the history a rolling window reads."""
    ranged = frame.dropna(subset=[NUMBER_RANGE]) if NUMBER_RANGE in keys else frame
    if ranged.empty:
        return pd.DataFrame()
    periods = ranged[_HOUR].dt.floor(freq)
    # dropna=False: sessions of no known country (users made elsewhere) are a group too.
    table = ranged.assign(_period=periods).pivot_table(
        index="_period",
        columns=keys,
        values=[_SMS, _VERIFIED],
        aggfunc="sum",
        fill_value=0,
        dropna=False,
    )
    if table.empty:
        return table
    every = pd.date_range(frame[_HOUR].min().floor(freq), frame[_HOUR].max(), freq=freq)
    return table.reindex(every, fill_value=0)


def _volume(
    frame: pd.DataFrame, keys: list[str], rules: PumpingRules, judged_from: pd.Timestamp
) -> list[dict[str, object]]:
    """Unverified SMS above max(floor, share × the history's best verified period)."""
    flags: list[dict[str, object]] = []
    for freq, (name, per_day) in _GRAINS.items():
        table = _per_period(frame, keys, freq)
        if table.empty:
            continue
        sms, verified = table[_SMS], table[_VERIFIED]
        window = rules.history_days * per_day
        best = verified.rolling(window, min_periods=1).max().shift(1).fillna(0)
        threshold = np.maximum(rules.floor, rules.share * best)
        over = (sms - verified > threshold) & (table.index >= judged_from)[:, None]
        for group, start, end in _runs(over):
            sent, kept = _sum(sms, group, start, end), _sum(verified, group, start, end)
            limit = float(threshold[group].loc[start:end].max())
            history = float(best[group].loc[start])
            place = _place(keys, group)
            flags.append(
                _flag(
                    VOLUME, place, start, end + _step(freq), sent, kept, limit,
                    f"{place[2]}: {sent - kept:,} SMS sessions were not verified "
                    f"{_span(start, end + _step(freq))}, more than the {limit:g} per {name} its "
                    f"history allows: max({rules.floor}, {rules.share:g} × {history:g}), "
                    f"{history:g} being the most verified in one {name} of the "
                    f"{rules.history_days} days before.",
                )
            )  # fmt: skip
    return flags


def _bursts(frame: pd.DataFrame, rules: PumpingRules) -> list[dict[str, object]]:
    """Many different users of one range sent an SMS in an hour, few of them verified."""
    ranged = frame.dropna(subset=[NUMBER_RANGE])
    hits = ranged[
        (ranged[_NUMBERS] >= rules.burst_numbers) & (ranged[_VERIFIED] * 2 < ranged[_SMS])
    ]
    flags: list[dict[str, object]] = []
    for (country, number_range), rows in hits.groupby([COUNTRY, NUMBER_RANGE], dropna=False):
        for start, end, run in _consecutive(rows, "h"):
            place = _place([COUNTRY, NUMBER_RANGE], (country, number_range))
            sent, kept = int(run[_SMS].sum()), int(run[_VERIFIED].sum())
            flags.append(
                _flag(
                    BURST, place, start, end, sent, kept, float(rules.burst_numbers),
                    f"{place[2]}: up to {int(run[_NUMBERS].max()):,} different users an hour "
                    f"were sent an SMS {_span(start, end)} ({rules.burst_numbers} or more is a "
                    f"burst of consecutive numbers); {kept:,} of {sent:,} verified.",
                )
            )  # fmt: skip
    return flags


def _premium(frame: pd.DataFrame) -> list[dict[str, object]]:
    """SMS to premium-rate numbers, per range, in runs of days."""
    paid = frame[frame[NUMBER_TYPE] == PREMIUM_RATE]
    flags: list[dict[str, object]] = []
    for (country, number_range), rows in paid.groupby([COUNTRY, NUMBER_RANGE], dropna=False):
        daily = rows.assign(**{_HOUR: rows[_HOUR].dt.floor("D")})
        daily = daily.groupby(_HOUR, as_index=False)[[_SMS, _VERIFIED]].sum()
        for start, end, run in _consecutive(daily, "D"):
            place = _place([COUNTRY, NUMBER_RANGE], (country, number_range))
            sent, kept = int(run[_SMS].sum()), int(run[_VERIFIED].sum())
            flags.append(
                _flag(
                    PREMIUM, place, start, end, sent, kept, 0.0,
                    f"{place[2]}: {sent:,} SMS sessions went to premium-rate numbers "
                    f"{_span(start, end)} ({kept:,} verified); such a number earns its owner "
                    "money for every message and is nobody's phone.",
                )
            )  # fmt: skip
    return flags


def _drops(frame: pd.DataFrame, rules: PumpingRules) -> list[dict[str, object]]:
    """Days a range converted significantly worse than in the days before."""
    table = _per_period(frame, [COUNTRY, NUMBER_RANGE], "D")
    if table.empty:
        return []
    sms, verified = table[_SMS], table[_VERIFIED]
    before_n = sms.rolling(rules.history_days, min_periods=1).sum().shift(1).fillna(0)
    before_v = verified.rolling(rules.history_days, min_periods=1).sum().shift(1).fillna(0)
    enough = (sms >= rules.drop_min_sessions) & (before_n >= rules.drop_min_sessions)
    enough &= verified * before_n < before_v * sms  # worse than before at all
    flags: list[dict[str, object]] = []
    for group, day in zip(*_where(enough), strict=True):
        n, v = int(sms.at[day, group]), int(verified.at[day, group])
        hn, hv = int(before_n.at[day, group]), int(before_v.at[day, group])
        _, p = proportions_ztest([v, hv], [n, hn], alternative="smaller")
        if not p < rules.drop_alpha:
            continue
        place = _place([COUNTRY, NUMBER_RANGE], group)
        end = day + pd.Timedelta(days=1)
        flags.append(
            _flag(
                CONVERSION_DROP, place, day, end, n, v, rules.drop_alpha,
                f"{place[2]}: SMS conversion fell to {v / n:.1%} ({v:,} of {n:,}) "
                f"{_span(day, end)}, from {hv / hn:.1%} ({hv:,} of {hn:,}) in the "
                f"{rules.history_days} days before (one-sided z-test, p = {p:.2g}).",
            )
        )  # fmt: skip
    return flags


# -- flags: runs of periods, places and sentences --------------------------------------------


def _where(mask: pd.DataFrame) -> tuple[list[object], list[pd.Timestamp]]:
    """The (group, period) pairs where ``mask`` holds."""
    rows, columns = np.nonzero(mask.to_numpy())
    return [mask.columns[c] for c in columns], [mask.index[r] for r in rows]


def _runs(mask: pd.DataFrame) -> list[tuple[object, pd.Timestamp, pd.Timestamp]]:
    """Each group's runs of consecutive periods where ``mask`` holds: (group, first, last)."""
    runs = []
    for group in mask.columns[mask.to_numpy().any(axis=0)]:
        flagged = mask[group].to_numpy()
        starts = np.flatnonzero(flagged & ~np.r_[False, flagged[:-1]])
        ends = np.flatnonzero(flagged & ~np.r_[flagged[1:], False])
        runs += [(group, mask.index[s], mask.index[e]) for s, e in zip(starts, ends, strict=True)]
    return runs


def _consecutive(
    rows: pd.DataFrame, freq: str
) -> list[tuple[pd.Timestamp, pd.Timestamp, pd.DataFrame]]:
    """``rows`` (one per period in ``_HOUR``) cut into runs of consecutive periods: each run's
    start, its end (the period after its last) and its rows."""
    ordered = rows.sort_values(_HOUR)
    step = _step(freq)
    breaks = (ordered[_HOUR].diff() != step).cumsum()
    return [
        (run[_HOUR].iloc[0], run[_HOUR].iloc[-1] + step, run)
        for _, run in ordered.groupby(breaks, sort=True)
    ]


def _sum(table: pd.DataFrame, group: object, start: pd.Timestamp, end: pd.Timestamp) -> int:
    return int(table[group].loc[start:end].sum())


def _step(freq: str) -> pd.Timedelta:
    return pd.Timedelta(hours=1) if freq == "h" else pd.Timedelta(days=1)


def _place(keys: list[str], group: object) -> tuple[str, str, str]:
    """Country, range ("" for a whole country) and how a sentence names them."""
    values = group if isinstance(group, tuple) else (group,)
    named = dict(zip(keys, values, strict=True))
    country = "" if pd.isna(named.get(COUNTRY)) else str(named[COUNTRY])
    number_range = named.get(NUMBER_RANGE)
    if number_range is None or pd.isna(number_range):
        return country, "", country or "Numbers of no known country"
    where = f" ({country})" if country else ""
    return country, str(number_range), f"Range {number_range}xxxx{where}"


def _span(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """A UTC span in words: hours within one day, or whole days."""
    last = end - pd.Timedelta(microseconds=1)
    if start.hour or end.hour:
        if start.normalize() == last.normalize():
            return f"on {start:%Y-%m-%d} from {start:%H:%M} to {end:%H:%M} UTC"
        return f"from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    if end - start == pd.Timedelta(days=1):
        return f"on {start:%Y-%m-%d}"
    return f"from {start:%Y-%m-%d} to {last:%Y-%m-%d}"


def _flag(
    rule: str,
    place: tuple[str, str, str],
    start: pd.Timestamp,
    end: pd.Timestamp,
    sms: int,
    verified: int,
    threshold: float,
    explanation: str,
) -> dict[str, object]:
    country, number_range, _ = place
    return dict(
        zip(
            FLAG_COLUMNS,
            (rule, country, number_range, start, end, sms, verified, threshold, explanation),
            strict=True,
        )
    )


def _flags(flags: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(flags, columns=list(FLAG_COLUMNS))
    frame = frame.astype({_SMS: "int64", _VERIFIED: "int64", "threshold": "float64"})
    order = frame["rule"].map({rule: i for i, rule in enumerate(RULES)})
    return (
        frame.assign(_order=order)
        .sort_values(["start", "_order", COUNTRY, NUMBER_RANGE])
        .drop(columns="_order")
        .reset_index(drop=True)
    )
