"""The SMS pumping review: an injected attack is flagged within its first hour, clean
campaigns raise nothing, and the log keeps each number's range and type, never the number.

Campaigns run on the in-process sandbox (the client's real code path) with fixed seeds.
"""

from __future__ import annotations

import html
import re

import openpyxl
import pandas as pd
import pytest

from verigator_nb import analysis, report
from verigator_nb.analysis import Analysis, Filters
from verigator_nb.analysis._pumping import (
    BURST,
    CONVERSION_DROP,
    FLAG_COLUMNS,
    PREMIUM,
    VOLUME,
    PumpingRules,
    pumping_review,
)
from verigator_nb.sandbox import Sandbox
from verigator_nb.schema import COUNTRY, NUMBER_RANGE, NUMBER_TYPE, TS, to_frame
from verigator_nb.simulate import ConversionDrop, Population, PumpingAttack, simulate

SEEDS = [1, 2, 3]
ATTACK = PumpingAttack(first_number="+447400900000", numbers=300, start_day=15.3, hours=2.0)
CAMPAIGN = Population(users=300, logins_per_user=4, days=21)


def _campaign(seed: int, attack: PumpingAttack | None = None) -> pd.DataFrame:
    with Sandbox(seed=seed) as sandbox:
        population = Population(**{**CAMPAIGN.__dict__, "attack": attack})
        return simulate(sandbox, population, seed=seed, progress=False).df


@pytest.fixture(scope="module", params=SEEDS)
def attacked(request) -> pd.DataFrame:
    return _campaign(request.param, ATTACK)


def _attack_start(log: pd.DataFrame) -> pd.Timestamp:
    return log[TS].min().floor("D") + pd.Timedelta(days=ATTACK.start_day)


def test_an_attack_is_flagged_within_its_first_hour(attacked) -> None:
    start = _attack_start(attacked)
    first_hour = attacked[attacked[TS] < start + pd.Timedelta(hours=1)]
    flags = pumping_review(first_hour)
    assert not flags.empty, "the attack's first hour raised no flag"
    assert set(flags[NUMBER_RANGE]) - {""} == {"+44 740090"}
    assert set(flags["rule"]) >= {VOLUME, BURST}
    assert flags["start"].min() <= start < flags["end"].max()
    assert (flags[COUNTRY] == "GB").all()


def test_the_whole_attack_is_one_flag_per_rule_and_place_with_its_numbers(attacked) -> None:
    flags = pumping_review(attacked)
    hourly = flags[(flags["rule"] == VOLUME) & (flags[NUMBER_RANGE] != "")]
    hourly = hourly[hourly["end"] - hourly["start"] < pd.Timedelta(days=1)]
    assert len(hourly) == 1
    flag = hourly.iloc[0]
    assert (flag["sessions"], flag["verified_sessions"]) == (ATTACK.numbers, 0)
    assert f"{ATTACK.numbers:,} SMS sessions were not verified" in flag["explanation"]
    assert flag["explanation"].count(".") >= 1 and "\n" not in flag["explanation"]


@pytest.mark.parametrize("seed", SEEDS)
def test_clean_campaigns_raise_no_flag(seed) -> None:
    assert pumping_review(_campaign(seed)).empty


def test_sms_to_premium_rate_numbers_are_flagged() -> None:
    premium = PumpingAttack(first_number="+449098765000", numbers=5, start_day=10, hours=1)
    flags = pumping_review(_campaign(4, premium))
    paid = flags[flags["rule"] == PREMIUM]
    assert len(paid) == 1
    assert paid.iloc[0][NUMBER_RANGE] == "+44 909876"
    assert "5 SMS sessions went to premium-rate numbers" in paid.iloc[0]["explanation"]
    # Five numbers are no volume or burst: only the premium rule speaks.
    assert set(flags["rule"]) == {PREMIUM}


def test_the_log_keeps_range_and_type_never_the_number(attacked) -> None:
    bots = attacked[attacked[NUMBER_RANGE] == "+44 740090"]
    assert bots[NUMBER_TYPE].eq("mobile").all()
    text = attacked.astype(str).to_csv()
    assert "+447400900123" not in text and "7400900123" not in text
    assert set(attacked[NUMBER_TYPE].dropna()) <= {"mobile", "fixed line or mobile"}


def _range_days(verified_per_day: list[int], per_day: int = 30) -> pd.DataFrame:
    """SMS sessions of one range, ``per_day`` a day, the given number verified each day."""
    rows = []
    for day, verified in enumerate(verified_per_day):
        for i in range(per_day):
            ts = pd.Timestamp("2026-03-01", tz="UTC") + pd.Timedelta(days=day, minutes=40 * i)
            session = f"d{day}s{i}"
            base = {"session_id": session, "service_id": "svc", "user_id": f"u{day}-{i}"}
            base |= {COUNTRY: "EE", NUMBER_RANGE: "+372 5123", NUMBER_TYPE: "mobile"}
            base |= {"method": "sms", "requested_method": "sms", "http_status": 200}
            rows.append({**base, "event_id": f"i-{session}", "action": "initiate", "ts": ts})
            if i < verified:
                later = ts + pd.Timedelta(seconds=30)
                rows.append(
                    {**base, "event_id": f"v-{session}", "action": "verify", "ts": later}
                    | {"verified": True, "attempt": 1, "result": "VERIFIED"}
                )
    return to_frame(rows)


def test_a_range_converting_far_below_its_history_is_flagged() -> None:
    flags = pumping_review(_range_days([28] * 14 + [6]))
    drops = flags[flags["rule"] == CONVERSION_DROP]
    assert len(drops) == 1
    assert drops.iloc[0]["start"] == pd.Timestamp("2026-03-15", tz="UTC")
    assert "fell to 20.0% (6 of 30)" in drops.iloc[0]["explanation"]


def test_an_ordinary_bad_day_is_not_a_drop() -> None:
    assert pumping_review(_range_days([28] * 14 + [25])).empty


def test_a_log_from_before_ranges_is_reviewed_per_country(attacked) -> None:
    old = attacked.drop(columns=[NUMBER_RANGE, NUMBER_TYPE])
    flags = pumping_review(old)
    assert not flags.empty
    assert (flags[NUMBER_RANGE] == "").all()
    assert set(flags["rule"]) == {VOLUME}


def test_the_review_covers_only_what_the_filters_keep(attacked) -> None:
    assert pumping_review(Analysis(attacked, filters=Filters(country="EE"))).empty
    assert not pumping_review(Analysis(attacked, filters=Filters(country="GB"))).empty


def test_an_empty_log_has_no_flags_and_every_column() -> None:
    flags = pumping_review(to_frame([]))
    assert flags.empty and list(flags.columns) == list(FLAG_COLUMNS)


def test_rules_are_checked_and_described() -> None:
    with pytest.raises(ValueError, match="share"):
        PumpingRules(share=0)
    described = PumpingRules().describe()
    assert "max(20, 0.2 ×" in described and "14 days" in described


def test_an_injected_drop_lowers_conversion_in_its_country_only() -> None:
    drop = ConversionDrop(country="GB", start_day=10, give_up_rate=0.3)
    with Sandbox(seed=5) as sandbox:
        population = Population(users=400, logins_per_user=4, days=20, drop=drop)
        log = simulate(sandbox, population, seed=5, progress=False).df
    later = log[log[TS] >= log[TS].min().floor("D") + pd.Timedelta(days=10)]
    by_country = analysis.conversion(later, by=COUNTRY).set_index(COUNTRY)["rate"]
    assert by_country["GB"] < 0.75 < by_country.drop("GB").min()


def test_the_report_shows_the_alarms_and_the_pumping_flags(attacked, tmp_path) -> None:
    document = report.build(attacked)
    pumping = document[document.index('id="sms-pumping-review"') :]
    explanations = pumping_review(attacked)["explanation"]
    assert len(explanations) >= 3
    for sentence in explanations:
        assert html.escape(sentence) in pumping
    alarms = document[document.index('id="alarms"') : document.index('id="sms-pumping-review"')]
    assert "Bernoulli CUSUM" in alarms
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", alarms)
    assert {"p0", "p1", "h", "alarms"} <= set(headers)
    book = openpyxl.load_workbook(report.write_xlsx(attacked, tmp_path / "r.xlsx"))
    sheet = list(book["SMS pumping review"].iter_rows(values_only=True))
    assert list(sheet[0]) == list(FLAG_COLUMNS) and len(sheet) == len(explanations) + 1
    assert {row[0] for row in book["CUSUM"].iter_rows(min_row=2, values_only=True)} >= {"GB"}
    assert "SMS pumping review: " in report.summary(attacked)


def test_a_clean_log_says_it_has_no_flags() -> None:
    document = report.build(_campaign(SEEDS[0]))
    assert "No flags: no SMS traffic looked like pumping" in document


def test_an_attack_on_users_of_no_known_country_is_still_flagged(attacked) -> None:
    # Users created elsewhere carry no country: their SMS count as a group of their own.
    unknown = attacked.assign(
        **{COUNTRY: attacked[COUNTRY].where(attacked[NUMBER_RANGE] != "+44 740090")}
    )
    flags = pumping_review(unknown.assign(**{NUMBER_RANGE: None, NUMBER_TYPE: None}))
    nowhere = flags[flags[COUNTRY] == ""]
    assert not nowhere.empty and set(nowhere["rule"]) == {VOLUME}
    assert nowhere["explanation"].str.startswith("Numbers of no known country: ").all()
