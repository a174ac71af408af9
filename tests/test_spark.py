"""Every metric is one expression that gives equal tables on DuckDB and on Spark.

The same logs go in three ways — a DataFrame (DuckDB in process), a day-partitioned Parquet
dataset (DuckDB reading the files in place) and a Spark DataFrame on a ``local[2]`` session —
and every metric of the registry, grouped and by period, must come out equal, as must the
period comparison and the rows set aside. The log is made to hit the contract's corners:
failed initiates, errors, resends, duplicates, rows without ``ts``, an early verify.

All Spark tests live in this file, so ``--dist loadfile`` starts one JVM for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal

from tests._spark import SPARK_MISSING, spark_session
from tests._synthetic import synthetic_log
from verigator_nb import analysis, report
from verigator_nb.analysis import METRICS, Analysis
from verigator_nb.analysis.scale import write_dataset
from verigator_nb.schema import COUNTRY, METHOD, REQUESTED_METHOD, TS, to_frame

pytestmark = pytest.mark.skipif(SPARK_MISSING is not None, reason=SPARK_MISSING or "")

# Groupings every metric is checked under: none, a column, a pair, a period. Spark, at some
# 0.3 s a query, checks the two that cover them all: none (a single row, n = 0 included),
# and a pair of columns by week.
GROUPINGS = [(None, None), (METHOD, None), ([REQUESTED_METHOD, COUNTRY], None), (None, "W")]
SPARK_GROUPINGS = [(None, None), ([REQUESTED_METHOD, COUNTRY], "W")]


def _awkward_log() -> pd.DataFrame:
    """A synthetic log with the cases cleaning must handle added to it."""
    log = synthetic_log(4_000, seed=11, days=21)
    doubled = log.head(40)  # the same calls again: duplicate event_ids
    undated = log.iloc[40:45].copy()  # incomplete rows, new event ids
    undated[TS] = pd.Series(pd.NaT, index=undated.index, dtype=log[TS].dtype)
    undated = undated.assign(event_id=undated["event_id"] + "-undated")
    opened = set(log.loc[log["action"] == "initiate", "session_id"])
    verify = log[(log["action"] == "verify") & log["session_id"].isin(opened)].head(1)
    early = verify.assign(  # a verify before its initiate, with a fresh event id
        event_id="early-verify", ts=verify[TS] - pd.Timedelta(days=30)
    )
    return pd.concat([log, doubled, undated, early], ignore_index=True)


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return _awkward_log()


@pytest.fixture(scope="module")
def engines(log: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("dataset")
    write_dataset(log, root)
    on_spark = _on_spark(log)
    analyses = {
        "frame": Analysis(log),
        "dataset": Analysis(Path(root)),
        "spark": Analysis(on_spark),
    }
    yield analyses
    for one in analyses.values():
        one.close()


def _on_spark(frame: pd.DataFrame):  # -> pyspark.sql.DataFrame
    """The frame on Spark as docs/scale.md shows it: through Arrow, which keeps nullable
    booleans and integers (a pandas frame of those cannot go in directly)."""
    return spark_session().createDataFrame(pa.Table.from_pandas(frame, preserve_index=False))


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    """Values as an analyst reads them: group text as text, numbers as floats."""
    out = table.copy()
    for column in out.columns:
        if pd.api.types.is_bool_dtype(out[column]) or pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].astype("float64")
        elif not isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].astype("object").where(out[column].notna(), None)
    return out


@pytest.mark.parametrize("metric", list(METRICS))
def test_every_metric_is_equal_on_duckdb_frames_datasets_and_spark(
    engines: dict, metric: str
) -> None:
    for by, period in GROUPINGS:
        frame = engines["frame"].table(metric, by=by, period=period)
        assert len(frame) >= 1
        if METRICS[metric].kind in ("rate", "breakdown", "stages"):
            assert frame["n"].sum() > 0, "an empty table would prove nothing"
        others = ["dataset", "spark"] if (by, period) in SPARK_GROUPINGS else ["dataset"]
        for name in others:
            found = engines[name].table(metric, by=by, period=period)
            assert_frame_equal(
                _comparable(found),
                _comparable(frame),
                check_exact=False,
                rtol=1e-9,
                obj=f"{name}, by={by}, period={period}",
            )


def test_rows_set_aside_and_the_comparison_are_equal_everywhere(engines: dict) -> None:
    aside = {name: one.set_aside() for name, one in engines.items()}
    assert aside["frame"]["rows"].tolist() == [5, 40, 1]
    for name in ("dataset", "spark"):
        assert_frame_equal(aside[name], aside["frame"])
    compared = {name: one.compare(by=METHOD, period="W") for name, one in engines.items()}
    assert compared["frame"]["current_n"].sum() > 0
    for name in ("dataset", "spark"):
        assert_frame_equal(
            _comparable(compared[name]), _comparable(compared["frame"]), rtol=1e-9, obj=name
        )


def test_the_whole_report_runs_on_spark_and_says_what_duckdb_says(
    engines: dict, log: pd.DataFrame
) -> None:
    on_spark = report.tables(engines["spark"])
    in_memory = report.tables(log)
    assert report.summary(on_spark) == report.summary(in_memory)
    assert on_spark.rows == in_memory.rows and on_spark.sessions == in_memory.sessions


def test_filters_keep_the_same_part_of_the_log_on_spark_and_duckdb(log: pd.DataFrame) -> None:
    filters = analysis.Filters(since="2024-03-08", until="2024-03-15", country=["EE", "FI"])
    on_spark = Analysis(_on_spark(log), filters=filters)
    in_memory = Analysis(log, filters=filters)
    for metric in ("conversion", "login_conversion", "availability"):
        found, expected = on_spark.table(metric), in_memory.table(metric)
        assert expected["n"].sum() > 0, "an empty table would prove nothing"
        assert_frame_equal(_comparable(found), _comparable(expected), rtol=1e-9, obj=metric)


def test_the_alarms_and_the_pumping_review_say_the_same_on_spark(log: pd.DataFrame) -> None:
    # A burst the review must flag: 40 users of one range, SMS sent, nobody verified.
    start = log[TS].min().floor("D") + pd.Timedelta(days=10, hours=9)
    burst = to_frame(
        [
            {
                "event_id": f"bot-{i}", "session_id": f"bot-{i}", "user_id": f"bot-{i}",
                "service_id": "svc-1", "action": "initiate", "requested_method": "sms",
                "method": "sms", "http_status": 200, "ts": start + pd.Timedelta(minutes=i),
                COUNTRY: "LV", "number_range": "+371 2000", "number_type": "mobile",
            }
            for i in range(40)
        ]
    )  # fmt: skip
    attacked = pd.concat([log, burst], ignore_index=True)
    on_spark, in_memory = Analysis(_on_spark(attacked)), Analysis(attacked)
    flags = analysis.pumping_review(in_memory)
    assert "+371 2000" in set(flags["number_range"])
    assert_frame_equal(analysis.pumping_review(on_spark), flags)
    found, expected = (analysis.cusum(a, by=COUNTRY) for a in (on_spark, in_memory))
    assert expected["h"].notna().any()
    assert_frame_equal(_comparable(found), _comparable(expected), rtol=1e-9)


def test_the_public_functions_take_a_spark_dataframe(log: pd.DataFrame) -> None:
    frame = _on_spark(log)
    assert_frame_equal(
        _comparable(analysis.conversion(frame, by=REQUESTED_METHOD)),
        _comparable(analysis.conversion(log, by=REQUESTED_METHOD)),
        rtol=1e-9,
    )


def test_spark_reading_the_dataset_files_keeps_the_first_of_each_event_id(
    log: pd.DataFrame, tmp_path: Path
) -> None:
    copies = log.head(30).assign(country="XX")  # the same event ids again, later in the files
    write_dataset(pd.concat([log, copies], ignore_index=True), tmp_path)
    with Analysis(spark_session().read.parquet(str(tmp_path))) as on_spark:
        assert on_spark.set_aside()["rows"].tolist() == [5, 70, 1]
        table = on_spark.table("session_success", by=COUNTRY)
    assert "XX" not in set(table[COUNTRY].dropna())
    with Analysis(tmp_path) as in_place:
        assert_frame_equal(
            _comparable(table), _comparable(in_place.table("session_success", by=COUNTRY))
        )
