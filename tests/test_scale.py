"""Parquet datasets: the layout ``write_dataset`` makes, atomic appends, odd folder names, bounded
memory, and answers equal to the same log given as a DataFrame."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests._synthetic import synthetic_log
from verigator_nb import analysis
from verigator_nb.analysis import Analysis, scale
from verigator_nb.schema import empty_frame, to_frame


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    frame = synthetic_log(20_000, seed=21, days=40)
    frame.loc[[5, 500], "ts"] = pd.NaT  # rows without ts: kept under date=undated
    return frame


@pytest.fixture(scope="module")
def dataset(log, tmp_path_factory):
    root = tmp_path_factory.mktemp("dataset")
    scale.write_dataset(log, root)
    return root


@pytest.fixture(scope="module")
def both(log, dataset):
    """The log as a frame and as a dataset, each prepared once."""
    with scale.open_dataset(dataset) as on_disk:
        yield Analysis(log), on_disk


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
        folder = file.parent.name.removeprefix("date=")
        assert set(days.fillna(scale.UNDATED)) == {folder}
    assert sum(pq.read_metadata(f).num_rows for f in parquet) == len(log)
    assert (tmp_path / f"date={scale.UNDATED}").is_dir()


def test_a_failed_write_leaves_no_file_behind(log, tmp_path, monkeypatch) -> None:
    def half_then_fail(table, path) -> None:
        with open(path, "wb") as stream:
            stream.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(scale, "_write_parquet", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        scale.write_dataset(log.iloc[:100], tmp_path)
    assert not [f for f in tmp_path.rglob("*") if f.is_file()]
    assert Analysis(tmp_path).extent()[0] == 0


def test_write_dataset_names_the_columns_it_lacks(log, tmp_path) -> None:
    with pytest.raises(ValueError, match="missing from the frame: country"):
        scale.write_dataset(log.drop(columns=["country"]), tmp_path)


def test_appends_are_read_in_the_order_written(tmp_path) -> None:
    # Two campaigns logged with the same event ids on one day: the first written is kept.
    def campaign(verified: bool) -> pd.DataFrame:
        return to_frame(
            [
                {"event_id": "e1", "ts": "2024-05-06T10:00:00Z", "action": "initiate",
                 "session_id": "s", "http_status": 200},
                {"event_id": "e2", "ts": "2024-05-06T10:00:09Z", "action": "verify",
                 "session_id": "s", "verified": verified, "http_status": 200},
            ]
        )  # fmt: skip

    for verified in (False, True, True):
        scale.write_dataset(campaign(verified), tmp_path)
    data = Analysis(tmp_path)
    assert analysis.session_success(data)[["n", "successes"]].values.tolist() == [[1, 0]]
    assert data.set_aside()["rows"].tolist() == [0, 4, 0]


def test_connect_bounds_memory_and_uses_utc() -> None:
    con = scale.connect(memory_limit="512MB", threads=1)
    settings = con.con.execute(
        "SELECT current_setting('memory_limit'), current_setting('TimeZone'), "
        "current_setting('threads')"
    ).fetchone()
    assert settings[0].startswith(("488", "512")) and settings[1:] == ("UTC", 1)
    con.disconnect()


def test_a_dataset_reads_within_a_small_memory_limit(log, dataset, both) -> None:
    con = scale.connect(memory_limit="64MB", threads=1)
    with scale.open_dataset(dataset, con=con) as small:
        expected = both[0].table("time_to_verify", by="country", period="W")
        pd.testing.assert_frame_equal(small.table("time_to_verify", by="country", period="W"),
                                      expected)  # fmt: skip
    con.disconnect()


def test_close_leaves_a_connection_passed_in_as_it_found_it(log, dataset) -> None:
    # A notebook keeps one connection for many analyses: each must take its tables, views
    # and registered frame away with it, or the connection fills up.
    con = scale.connect()

    def made() -> set[str]:
        found = con.con.execute(
            "SELECT table_name FROM duckdb_tables() UNION ALL "
            "SELECT view_name FROM duckdb_views() WHERE NOT internal"
        )
        return {name for (name,) in found.fetchall()} | set(con.list_tables())  # fmt: skip

    before = made()
    for source in (log, dataset):
        with Analysis(source, con=con) as prepared:
            prepared.table("resends")  # every grain kept: marked rows, sessions, logins
            assert made() - before
        assert made() == before
    con.disconnect()


CASES = [
    pytest.param("session_success", {}, id="session"),
    pytest.param("session_success", {"by": "method", "period": "W"}, id="session-method-week"),
    pytest.param("conversion", {"by": "country", "period": "M"}, id="conversion"),
    pytest.param("availability", {"by": ["action", "country"]}, id="availability"),
    pytest.param("attempt_success", {"by": ["result", "country"]}, id="attempt"),
    pytest.param("attempt_success", {"period": "D"}, id="attempt-day"),
    pytest.param("fallback", {"by": "country", "period": "M"}, id="fallback"),
    pytest.param("login_conversion", {"by": "country"}, id="logins"),
    pytest.param("resends", {"period": "W"}, id="resends"),
    pytest.param("verify_outcomes", {"by": "method", "period": "W"}, id="outcomes"),
    pytest.param("verify_errors", {}, id="errors"),
    pytest.param("call_failures", {"by": "action"}, id="failures"),
    pytest.param("session_endings", {"by": "country"}, id="endings"),
    pytest.param("attempts_to_success", {"by": "country"}, id="attempts"),
    pytest.param("time_to_verify", {"by": ["method"], "period": "W"}, id="time-method-week"),
    pytest.param("latency", {"by": ["action", "status_class"]}, id="latency"),
    pytest.param("sms_per_verified_session", {"by": "country"}, id="sms"),
    pytest.param("funnel", {"by": "country", "period": "W"}, id="funnel-country-week"),
]


@pytest.mark.parametrize(("name", "options"), CASES)
def test_a_dataset_answers_like_the_frame(name, options, both) -> None:
    frame, on_disk = both
    pd.testing.assert_frame_equal(on_disk.table(name, **options), frame.table(name, **options))


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="weekly"),
        pytest.param({"metrics": "fallback", "by": "country"}, id="fallback-by-country"),
        pytest.param({"metrics": ["attempt_success"], "period": "D", "now": "2024-03-20"},
                     id="given-day"),
    ],
)  # fmt: skip
def test_a_dataset_compares_like_the_frame(options, both) -> None:
    frame, on_disk = both
    expected = analysis.compare_periods(frame, **options)
    pd.testing.assert_frame_equal(analysis.compare_periods(on_disk, **options), expected)


def test_set_aside_and_extent_of_a_dataset(both) -> None:
    frame, on_disk = both
    pd.testing.assert_frame_equal(on_disk.set_aside(), frame.set_aside())
    assert on_disk.set_aside()["rows"].tolist() == [2, 0, 0]  # the two rows without ts
    assert on_disk.extent() == frame.extent()


def test_a_single_parquet_file_and_missing_columns(log, tmp_path) -> None:
    file = tmp_path / "log.parquet"
    log.drop(columns=["country"]).to_parquet(file)
    expected = analysis.session_success(log)
    pd.testing.assert_frame_equal(analysis.session_success(file), expected)
    by_country = analysis.fallback(file, by="country")  # an absent column reads as empty
    assert by_country["country"].isna().all() and len(by_country) == 1
    with pytest.raises(ValueError, match="result"):
        analysis.funnel(file, by="result")
    log.drop(columns=["session_id"]).to_parquet(file)
    with pytest.raises(ValueError, match="column\\(s\\): session_id"):
        analysis.session_success(file)


def test_empty_and_missing_datasets(tmp_path) -> None:
    table = analysis.session_success(tmp_path)
    pd.testing.assert_frame_equal(table, analysis.session_success(empty_frame()))
    assert Analysis(tmp_path).extent() == (0, None, None)
    with pytest.raises(FileNotFoundError):
        analysis.session_success(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError), scale.open_dataset(tmp_path / "nowhere"):
        pass


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
    with scale.open_dataset(tmp_path / name) as data:
        expected = analysis.attempt_success(ours)
        pd.testing.assert_frame_equal(analysis.attempt_success(data), expected)
        assert data.extent()[0] + int(ours["ts"].isna().sum()) == len(ours)


def test_a_parquet_file_named_with_glob_characters_is_read_alone(log, tmp_path) -> None:
    log.iloc[:100].to_parquet(tmp_path / "log[1].parquet")
    log.iloc[100:].to_parquet(tmp_path / "log1.parquet")
    with scale.open_dataset(tmp_path / "log[1].parquet") as data:
        assert data.extent()[0] == 100 - int(log.iloc[:100]["ts"].isna().sum())
