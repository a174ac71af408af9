"""The sample outcome log in data/: loads with schema dtypes and matches its data dictionary."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from verigator_nb.log import OutcomeLog
from verigator_nb.schema import COLUMNS, empty_frame

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def sample():
    return OutcomeLog.load(DATA / "sample_outcome_log.parquet").df


def test_sample_loads_with_every_schema_dtype(sample) -> None:
    assert sample.dtypes.to_dict() == empty_frame().dtypes.to_dict()


def test_sample_is_the_size_its_readme_states(sample) -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    stated = int(re.search(r"outcome log of ([\d,]+) calls", readme).group(1).replace(",", ""))
    assert len(sample) == stated >= 10_000


def test_data_dictionary_lists_every_column_in_schema_order() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| `(\w+)` \|", readme, flags=re.M)
    assert listed == [column.name for column in COLUMNS]


def test_sample_holds_no_phone_number_or_pin_like_field(sample) -> None:
    assert list(sample.columns) == [column.name for column in COLUMNS], "no field beyond these"
    assert set(sample["endpoint"].unique()) == {"sandbox"}, "made by the sandbox, not real users"
    texts = sample.select_dtypes(include=["string", "category", "object"])
    assert "tags" in texts.columns and "user_id" in texts.columns
    for column in texts.columns:
        for value in texts[column].dropna().astype(str).unique():
            assert not re.search(r"(?<![\w-])\+?\d{7,}(?![\w-])", value), f"a phone in {column}"
            assert not re.search(r"(?<![\w-])\d{6}(?![\w-])", value), f"a PIN in {column}"


def test_every_sample_session_starts_with_its_initiate(sample) -> None:
    assert sample.groupby("session_id")["action"].first().eq("initiate").all()
