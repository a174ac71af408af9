"""The outcome log in a server: many threads, several worker processes writing one folder, a
new file each UTC day, flat memory, and a full disk that never fails the application's call."""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import signal
import threading
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests._log_writer_child import sample_rows
from verigator_nb import report, scale
from verigator_nb.log import LogFormatError, OutcomeLog, log_files
from verigator_nb.sandbox import Sandbox
from verigator_nb.simulate import Population, simulate

START = datetime(2026, 11, 27, 23, 58, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 28, tzinfo=UTC)


def _row(event_id: str, size: int = 0) -> dict[str, Any]:
    return {"event_id": event_id, "ts": START, "tags": "x" * size}


def _ids(log: OutcomeLog) -> list[str]:
    return [row["event_id"] for row in log.rows]


def _ticking(start: datetime, step: timedelta) -> Callable[[], datetime]:
    """A thread-safe clock that moves ``step`` at every reading."""
    readings = itertools.count()
    lock = threading.Lock()

    def now() -> datetime:
        with lock:
            return start + next(readings) * step

    return now


def _in_threads(count: int, work: Callable[[int], None]) -> None:
    start = threading.Barrier(count)

    def run(n: int) -> None:
        start.wait()
        work(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.fixture(params=["file", "folder"])
def server_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OutcomeLog]:
    """A log as a server would open it: one file without rows in memory, or a folder."""
    if request.param == "file":
        log = OutcomeLog(tmp_path / "out.jsonl", keep_rows=False, errors="count")
    else:
        log = OutcomeLog.in_folder(tmp_path / "outcomes")
    yield log
    log.close()


# --- threads ----------------------------------------------------------------------------------


def test_8_threads_append_concurrently_and_no_row_is_lost_torn_or_duplicated(
    server_log: OutcomeLog, tmp_path: Path
) -> None:
    def write(thread: int) -> None:
        for i in range(400):
            server_log.append(_row(f"{thread}-{i}", size=i % 300))

    _in_threads(8, write)
    assert len(server_log) == 8 * 400 and server_log.failed_appends == 0
    assert server_log.path is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a torn or glued line would warn
        loaded = OutcomeLog.load(server_log.path)
    assert loaded.set_aside == []
    on_disk = _ids(loaded)
    assert sorted(on_disk) == sorted(f"{t}-{i}" for t in range(8) for i in range(400))
    for thread in range(8):  # each thread's rows in the order it appended them
        mine = [int(e.split("-")[1]) for e in on_disk if e.startswith(f"{thread}-")]
        assert mine == list(range(400))


def test_a_log_that_keeps_no_rows_stays_flat_in_memory_and_says_where_to_read(
    server_log: OutcomeLog,
) -> None:
    server_log.append(_row("warm-up"))  # opens the file, imports whatever it imports
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(3000):
            server_log.append(sample_rows(1)[0] | {"event_id": f"r-{i}"})
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 200_000, f"{grown} bytes kept for 3,000 rows"  # kept rows take megabytes
    assert len(server_log) == 3001
    for read in (lambda: server_log.rows, lambda: server_log.df):
        with pytest.raises(ValueError, match=r"keep_rows=False.*OutcomeLog\.load"):
            read()


def test_keep_rows_false_resumes_a_file_without_reading_it_and_mends_a_torn_end(
    tmp_path: Path,
) -> None:
    path = tmp_path / "out.jsonl"
    with OutcomeLog(path) as first:
        first.append(_row("old"))
    with path.open("ab") as file:
        file.write(b'{"event_id": "to')  # a writer killed mid-row
    with OutcomeLog(path, keep_rows=False) as log:
        assert len(log) == 0
        log.append(_row("new"))
    assert _ids(OutcomeLog.load(path)) == ["old", "new"]


def test_keep_rows_false_still_refuses_a_file_that_is_not_a_log(tmp_path: Path) -> None:
    path = tmp_path / "notes.jsonl"
    path.write_bytes(b"my notes\nkeep them\n")
    with pytest.raises(LogFormatError):
        OutcomeLog(path, keep_rows=False)
    assert path.read_bytes() == b"my notes\nkeep them\n"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"keep_rows": False}, "needs a path", id="in-memory-without-rows"),
        pytest.param({"errors": "ignore"}, "errors must be", id="unknown-errors"),
    ],
)
def test_options_that_make_no_sense_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OutcomeLog(**kwargs)


# --- processes --------------------------------------------------------------------------------


def _worker(log: OutcomeLog, worker: int, rows: int, done: Any) -> None:
    for i in range(rows):
        log.append(_row(f"w{worker}-{i}", size=i % 200))
        done[worker] = i + 1  # after append returned: this row is on disk


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the workers went silent"
        time.sleep(0.005)


def test_4_processes_write_one_folder_and_a_killed_one_loses_at_most_the_row_in_flight(
    tmp_path: Path,
) -> None:
    folder, rows, victim = tmp_path / "outcomes", 3000, 2
    # Made and used before the fork, as in a server that loads its app before forking workers.
    log = OutcomeLog.in_folder(folder, errors="raise")
    log.append(_row("parent"))
    context = multiprocessing.get_context("fork")
    done = context.RawArray("q", 4)
    workers = [
        context.Process(target=_worker, args=(log, n, rows if n != victim else 10**9, done))
        for n in range(4)
    ]
    for worker in workers:
        worker.start()
    _wait_for(lambda: done[victim] >= 500)
    os.kill(workers[victim].pid or 0, signal.SIGKILL)
    workers[victim].join(timeout=30)
    reported = done[victim]
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0, -signal.SIGKILL, 0]

    day = datetime.now(UTC).strftime("%Y-%m-%d")
    pids = [os.getpid(), *(w.pid for w in workers)]
    assert {f.name for f in log_files(folder)} == {f"outcomes-{day}-{pid}.jsonl" for pid in pids}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the victim's torn last line, if it left one
        loaded = OutcomeLog.load(folder)
    ids = _ids(loaded)
    assert len(ids) == len(set(ids)), "a row was written twice"
    for n in range(4):
        mine = [int(e.split("-")[1]) for e in ids if e.startswith(f"w{n}-")]
        expected = rows if n != victim else len(mine)
        assert mine == list(range(expected)), f"worker {n} lost or reordered a row"
    assert len([e for e in ids if e.startswith(f"w{victim}-")]) - reported in (0, 1)
    victim_file = f"outcomes-{day}-{workers[victim].pid}.jsonl"
    assert all(reason.startswith(victim_file) for _, reason in loaded.set_aside)
    assert len(loaded.set_aside) <= 1


# --- days -------------------------------------------------------------------------------------


def test_rows_go_to_the_next_days_file_from_utc_midnight(tmp_path: Path) -> None:
    readings = iter(
        [
            datetime(2026, 11, 27, 23, 59, 59, 999999, tzinfo=UTC),
            # 01:00 in Tallinn on the 28th is still the 27th in UTC
            datetime(2026, 11, 28, 1, 0, tzinfo=ZoneInfo("Europe/Tallinn")),
            MIDNIGHT,
            MIDNIGHT + timedelta(hours=5),
        ]
    )
    log = OutcomeLog.in_folder(tmp_path, prefix="web", clock=lambda: next(readings))
    for event_id in ("a", "b", "c", "d"):
        log.append(_row(event_id))
    pid = os.getpid()
    files = log_files(tmp_path)
    assert [f.name for f in files] == [f"web-2026-11-27-{pid}.jsonl", f"web-2026-11-28-{pid}.jsonl"]
    assert [_ids(OutcomeLog.load(f)) for f in files] == [["a", "b"], ["c", "d"]]
    assert _ids(OutcomeLog.load(tmp_path)) == ["a", "b", "c", "d"]  # by file name, then line


def test_8_threads_crossing_midnight_split_exactly_at_it_with_nothing_lost_or_doubled(
    tmp_path: Path,
) -> None:
    # The clock is read once per row, one second apart: readings 0..119 are before midnight.
    log = OutcomeLog.in_folder(tmp_path, clock=_ticking(START, timedelta(seconds=1)))

    def write(thread: int) -> None:
        for i in range(50):
            log.append(_row(f"{thread}-{i}"))

    _in_threads(8, write)
    before, after = (_ids(OutcomeLog.load(f)) for f in log_files(tmp_path))
    assert len(before) == 120 and len(after) == 8 * 50 - 120
    assert sorted(before + after) == sorted(f"{t}-{i}" for t in range(8) for i in range(50))
    assert log.path == log_files(tmp_path)[-1]


def test_a_folder_reads_its_logs_only_in_file_name_order_and_names_damaged_files(
    tmp_path: Path,
) -> None:
    for name, ids in [("b-2.jsonl", ["b1", "b2"]), ("a-1.jsonl", ["a1"])]:
        with OutcomeLog(tmp_path / name) as log:
            for event_id in ids:
                log.append(_row(event_id))
    (tmp_path / ".a-1.jsonl.1234.tmp").write_text("{half")
    (tmp_path / "notes.txt").write_text("not a log")
    (tmp_path / "dataset").mkdir()
    with (tmp_path / "b-2.jsonl").open("ab") as file:
        file.write(b'{"event_id": "b3", "ts')  # torn
    with pytest.warns(UserWarning, match="b-2.jsonl"):
        loaded = OutcomeLog.load(tmp_path)
    assert _ids(loaded) == ["a1", "b1", "b2"]
    assert [reason.split(":")[0] for _, reason in loaded.set_aside] == ["b-2.jsonl"]


def test_a_folder_without_logs_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no outcome log"):
        OutcomeLog.load(tmp_path)


def test_a_bad_prefix_is_refused_before_any_file_is_made(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="prefix"):
        OutcomeLog.in_folder(tmp_path / "x", prefix="../escape")
    assert not (tmp_path / "x").exists()


# --- a full disk ------------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_counted_and_logged_once_and_the_apps_calls_still_return(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    day = datetime(2026, 11, 27, 12, tzinfo=UTC)
    log = OutcomeLog.in_folder(tmp_path, clock=lambda: day)
    # Today's file for this process is /dev/full: every write fails with ENOSPC, for real.
    (tmp_path / f"outcomes-2026-11-27-{os.getpid()}.jsonl").symlink_to("/dev/full")
    with Sandbox(seed=3, http=False) as sb, caplog.at_level(logging.ERROR, "verigator_nb"):
        api = sb.api(log=log)
        service = api.services.create("www.example.com", "CoffeeShop")
        user = api.users.create(service.id, "+4401234567", "john.doe@example.com")
        started = api.auth.initiate(service.id, user.id, api.auth.METHOD_SMS)
        verified, _ = api.auth.verify(started, sb.control(api).pin_for(started.auth_id or ""))
    assert started.method == "sms" and verified is True
    assert log.failed_appends == 2
    reports = [r.getMessage() for r in caplog.records if r.name == "verigator_nb"]
    assert len(reports) == 1 and "No space left on device" in reports[0]


def test_by_default_a_log_error_is_raised_as_before(tmp_path: Path) -> None:
    log = OutcomeLog(tmp_path / "out.jsonl")
    log.close()
    with pytest.raises(ValueError, match="closed"):
        log.append(_row("late"))
    assert log.failed_appends == 0


# --- the report -------------------------------------------------------------------------------


def test_the_report_reads_a_folder_of_logs_as_the_one_log_it_holds(tmp_path: Path) -> None:
    with Sandbox(seed=5, http=False) as sb:
        whole = simulate(sb, Population(users=40), seed=5)
    folder = tmp_path / "outcomes"
    folder.mkdir()
    rows = whole.rows
    for part, chunk in enumerate([rows[: len(rows) // 2], rows[len(rows) // 2 :]]):
        with OutcomeLog(folder / f"outcomes-2026-01-0{part + 1}-{100 + part}.jsonl") as log:
            for row in chunk:
                log.append(row)
    from_folder, from_frame = report.tables(folder), report.tables(whole.df)
    assert report.summary(from_folder) == report.summary(from_frame)
    written = report.write(folder, tmp_path / "report.html")
    assert written.read_text().count("<table") > 3
    dataset = tmp_path / "dataset"  # a folder of Parquet files is still a dataset, read in place
    scale.write_dataset(whole.df, dataset)
    assert report.summary(report.tables(dataset)) == report.summary(from_frame)


def _initiate_in_worker(api: Any, service: str, user: str, out: Any) -> None:
    out.put(api.auth.initiate(service, user, "sms").session_id)


def test_an_api_made_before_a_fork_gives_each_worker_session_ids_of_its_own() -> None:
    # A server that builds its Api before forking workers (gunicorn --preload) must not have
    # two workers label different logins with one session id.
    with Sandbox(seed=3) as sandbox, sandbox.api() as api:
        service = api.services.create("www.example.com", "CoffeeShop")
        user = api.users.create(service.id, "+4401234567", "john")
        parent = api.auth.initiate(service.id, user.id, "sms").session_id
        api.close()  # no pooled connection for the workers to share; each opens its own
        context = multiprocessing.get_context("fork")
        out = context.Queue()
        workers = [
            context.Process(target=_initiate_in_worker, args=(api, service.id, user.id, out))
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        children = [out.get(timeout=30) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
    prefixes = {session.rsplit("-", 1)[0] for session in [parent, *children]}
    assert len(prefixes) == 3, (parent, children)
