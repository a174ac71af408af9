"""Outcome logs too big for memory: a day-partitioned Parquet dataset, read in place.

``write_dataset(df, root)`` appends a log to ``root/date=YYYY-MM-DD/part-<id>.parquet`` (rows
without ``ts`` under ``date=undated``, kept but set aside by the metrics), each file written to
a temporary name and renamed, so a crash never leaves a half file that readers pick up. Every
function of ``verigator_nb.analysis`` takes the dataset's folder in place of a frame; DuckDB
reads only the columns each query needs and spills to disk past ``memory_limit``.
``open_dataset(root)`` gives one ``Analysis`` to compute many tables on (the report does).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from verigator_nb.analysis._duck import DEFAULT_MEMORY_LIMIT, connect
from verigator_nb.analysis._engine import Analysis
from verigator_nb.log import write_atomically
from verigator_nb.schema import ADDED_COLUMNS, COLUMN_NAMES, TS, empty_frame

__all__ = ["DEFAULT_MEMORY_LIMIT", "UNDATED", "connect", "open_dataset", "write_dataset"]

UNDATED = "undated"  # the partition of rows without ``ts``
PathLike = str | os.PathLike[str]


def write_dataset(df: pd.DataFrame, root: PathLike, *, prefix: str = "part") -> list[Path]:
    """Append ``df`` to the dataset at ``root``, one new file per UTC day; return the files.

    Files are named ``<prefix>-<time>-<random id>.parquet`` (``_file_name``), so appends
    never overwrite and are read in the order they were written. A frame from an earlier
    version, without the columns added since (``schema.ADDED_COLUMNS``), is written with
    them empty. Raises ``ValueError`` naming the other schema columns ``df`` lacks.
    """
    missing = [n for n in COLUMN_NAMES if n not in df.columns and n not in ADDED_COLUMNS]
    if missing:
        raise ValueError(
            f"write_dataset needs column(s) missing from the frame: {', '.join(missing)}"
        )
    added = empty_frame()[[n for n in ADDED_COLUMNS if n not in df.columns]]
    frame = df.assign(**{n: added[n].reindex(df.index, fill_value="") for n in added})
    frame = frame[list(COLUMN_NAMES)]
    stamps = frame[TS].dt.tz_convert("UTC").dt.tz_localize(None)
    days = stamps.dt.strftime("%Y-%m-%d").fillna(UNDATED).to_numpy(dtype=object)
    written = []
    for day in sorted(set(days)):
        folder = Path(root) / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(frame[days == day], preserve_index=False)
        target = folder / _file_name(prefix)
        write_atomically(target, partial(_write_parquet, table))
        written.append(target)
    return written


def _file_name(prefix: str) -> str:
    """A new file's name. A dataset is read file by file in name order, and its reading
    order decides which of two rows with one ``event_id`` is "the first occurrence": the
    zero-padded clock puts a later append after an earlier one; the random part keeps two
    writers in the same nanosecond apart."""
    return f"{prefix}-{time.time_ns():020d}-{uuid.uuid4().hex[:12]}.parquet"


def _write_parquet(table: pa.Table, path: str) -> None:
    pq.write_table(table, path)


@contextmanager
def open_dataset(source: PathLike, *, con: Any = None) -> Iterator[Analysis]:
    """The dataset (or Parquet file) at ``source`` as an ``Analysis``.

    A DuckDB connection is made (``connect()``) and closed again unless ``con`` is given.
    Raises ``FileNotFoundError`` when nothing is at ``source``.
    """
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"no Parquet dataset at {path}")
    backend = connect() if con is None else con
    try:
        yield Analysis(path, con=backend)
    finally:
        if con is None:
            backend.disconnect()
