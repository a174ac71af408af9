"""The Parquet/DuckDB path: the dataset layout, and answers equal to the pandas analysis."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests._synthetic import synthetic_log
from verigator_nb import analysis, report, scale
from verigator_nb.schema import empty_frame


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return synthetic_log(20_000, seed=21, days=40)


@pytest.fixture(scope="module")
def dataset(log, tmp_path_factory):
    root = tmp_path_factory.mktemp("dataset")
    scale.write_dataset(log, root)
    return root


def test_dataset_is_partitioned_by_day_with_no_temp_files(log, tmp_path) -> None:
    first = scale.write_dataset(log.iloc[:5_000], tmp_path)
    second = scale.write_dataset(log.iloc[5_000:], tmp_path)
    files = sorted(tmp_path.rglob("*"))
    assert not [f for f in files if f.name.startswith(".")]
    parquet = [f for f in files if f.is_file()]
    assert sorted(first + second) == parquet
    for file in parquet:
        assert file.parent.name.startswith("date=") and file.name.startswith("part-")
        days = pq.read_table(file, columns=["ts"]).column("ts").to_pandas().dt.strftime("%F")
        assert set(days) == {file.parent.name.removeprefix("date=")}
    assert sum(pq.read_metadata(f).num_rows for f in parquet) == len(log)


def test_connect_bounds_memory_and_uses_utc() -> None:
    con = scale.connect(memory_limit="512MB", threads=1)
    settings = con.execute(
        "SELECT current_setting('memory_limit'), current_setting('TimeZone')"
    ).fetchone()
    assert settings[1] == "UTC" and settings[0].startswith(("488", "512"))
    con.close()


CASES = [
    pytest.param("success_rate", {}, id="session"),
    pytest.param("success_rate", {"by": "method", "period": "W"}, id="session-method-week"),
    pytest.param("success_rate", {"per": "attempt", "by": ["result", "country"]}, id="attempt"),
    pytest.param("success_rate", {"per": "attempt", "period": "D"}, id="attempt-day"),
    pytest.param("fallback_rate", {"by": "country", "period": "M"}, id="fallback"),
    pytest.param("failure_reasons", {}, id="failures"),
    pytest.param("failure_reasons", {"by": "method", "period": "W"}, id="failures-method"),
    pytest.param("attempts_to_success", {"by": "country"}, id="attempts"),
    pytest.param("time_to_verify", {}, id="time"),
    pytest.param("time_to_verify", {"by": ["method"], "period": "W"}, id="time-method-week"),
    pytest.param("funnel", {}, id="funnel"),
    pytest.param("funnel", {"by": "country", "period": "W"}, id="funnel-country-week"),
    pytest.param("compare_periods", {}, id="compare"),
    pytest.param("compare_periods", {"metric": "fallback", "by": "country"}, id="compare-fb"),
    pytest.param(
        "compare_periods",
        {"metric": "attempt_success", "period": "D", "current": "2024-03-20"},
        id="compare-given-day",
    ),
]


@pytest.mark.parametrize(("name", "options"), CASES)
def test_duckdb_answers_equal_the_pandas_analysis(name, options, log, dataset) -> None:
    ours = getattr(scale, name)(dataset, **options)
    expected = getattr(analysis, name)(log, **options)
    pd.testing.assert_frame_equal(ours, expected)


def test_summary_tables_equal_the_frame_path(log, dataset) -> None:
    from_dataset = report.tables(dataset)
    from_memory = report.tables(log)
    for item in dataclasses.fields(from_memory):
        ours, expected = getattr(from_dataset, item.name), getattr(from_memory, item.name)
        if item.name == "verified":  # a sample, in no particular order
            ours, expected = (t.sort_values(["seconds"]).reset_index(drop=True)
                              for t in (ours, expected))  # fmt: skip
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(ours, expected, obj=item.name)
        else:
            assert ours == expected, item.name


def test_report_builds_from_a_dataset_directory(log, dataset) -> None:
    document = report.build(dataset)
    assert f"{len(log):,} calls" in document and 'id="definitions"' in document
    assert report.summary(dataset) == report.summary(log)


def test_a_single_parquet_file_and_missing_columns(log, tmp_path) -> None:
    file = tmp_path / "log.parquet"
    log.drop(columns=["country"]).to_parquet(file)
    assert scale.success_rate(file)["n"].iloc[0] == analysis.success_rate(log)["n"].iloc[0]
    with pytest.raises(ValueError, match="missing from the frame: country"):
        scale.fallback_rate(file, by="country")
    with pytest.raises(ValueError, match="result"):
        scale.funnel(file, by="result")


def test_empty_and_missing_datasets(tmp_path) -> None:
    table = scale.success_rate(tmp_path)
    pd.testing.assert_frame_equal(table, analysis.success_rate(empty_frame()))
    assert report.tables(tmp_path).rows == 0
    with pytest.raises(FileNotFoundError):
        scale.success_rate(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("name", "sibling"),
    [
        pytest.param("logs[1]", "logs1", id="brackets-beside-what-they-match"),
        pytest.param("a*b?c{d,e}", "aXbYc{d,e}", id="star-and-question-mark"),
        pytest.param("only[1]", None, id="brackets-alone"),
    ],
)
def test_a_dataset_path_with_glob_characters_reads_exactly_that_folder(
    log, tmp_path, name, sibling
) -> None:
    ours = log.iloc[:3_000]
    scale.write_dataset(ours, tmp_path / name)
    if sibling:  # a folder the name matches when read as a glob pattern
        scale.write_dataset(log.iloc[3_000:9_000], tmp_path / sibling)
    expected = analysis.success_rate(ours, per="attempt")
    pd.testing.assert_frame_equal(scale.success_rate(tmp_path / name, per="attempt"), expected)
    assert report.tables(tmp_path / name).rows == len(ours)


def test_a_parquet_file_named_with_glob_characters_is_read_alone(log, tmp_path) -> None:
    log.iloc[:100].to_parquet(tmp_path / "log[1].parquet")
    log.iloc[100:].to_parquet(tmp_path / "log1.parquet")
    assert report.tables(tmp_path / "log[1].parquet").rows == 100
    with scale.open_dataset(tmp_path / "log[1].parquet") as data:
        assert data.extent()[0] == 100
