"""The DuckDB SQL behind ``verigator_nb.scale``: one query per metric over a Parquet dataset.

Each query returns group counts only (a few rows per group); rates, Wilson intervals, dtypes
and row order are then finished in pandas with the very helpers ``analysis`` uses, so the two
paths give equal frames. The definitions are those of ``verigator_nb.analysis``.

Queries are assembled as text: column names are checked against the dataset's columns and
quoted (``ident``), the only string literal (a path) is escaped (``literal_text``), and no
value from the data is ever spliced in, hence the file-wide S608 waiver below.
"""
# ruff: noqa: S608

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from verigator_nb._frames import (
    as_columns,
    funnel_long,
    group_keys,
    reason_table,
    require,
    sort_by_keys,
)
from verigator_nb._rows import check_session_by
from verigator_nb._stats import QUANTILES, add_rate
from verigator_nb.schema import empty_frame

__all__ = ["Dataset", "ident", "literal_text"]

_UNITS = {"D": "day", "W": "week", "M": "month"}
_VERIFIED_FIRST = """
    SELECT session_id, min(ts) AS first_ts, min(attempt) AS attempts FROM {log}
    WHERE action = 'verify' AND verified AND session_id IS NOT NULL GROUP BY session_id
"""
_SESSIONS = """
    SELECT {by}i.ts, v.session_id IS NOT NULL AS tried, coalesce(v.hit, false) AS hit
    FROM {log} AS i LEFT JOIN (
        SELECT session_id, bool_or(verified) AS hit FROM {log}
        WHERE action = 'verify' AND session_id IS NOT NULL GROUP BY session_id
    ) AS v ON i.session_id = v.session_id
    WHERE i.action = 'initiate'
"""
_VERIFIED = """
    SELECT {by}i.ts, f.attempts, (epoch_us(f.first_ts) - epoch_us(i.ts)) / 1e6 AS seconds
    FROM {log} AS i JOIN ({first}) AS f ON i.session_id = f.session_id
    WHERE i.action = 'initiate'
"""


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal_text(text: str) -> str:
    """``text`` made safe inside a single-quoted SQL string."""
    return text.replace("'", "''")


def _select(keys: list[str], alias: str = "") -> str:
    """The select list for ``keys`` (``period`` computed from ``ts``), with a trailing comma."""
    parts = [ident(k) if k != "period" else "period" for k in keys]
    return "".join(f"{alias}{part}, " for part in parts)


@dataclass
class Dataset:
    """A Parquet dataset (or file) opened as a view on one DuckDB connection."""

    con: duckdb.DuckDBPyConnection
    log: str
    columns: frozenset[str]
    cached: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)

    @classmethod
    def open(cls, con: duckdb.DuckDBPyConnection, path: Path) -> Dataset:
        """Open ``path``: a directory of ``*.parquet`` files (any depth) or one file."""
        if not path.exists():
            raise FileNotFoundError(f"no Parquet dataset at {path}")
        con.execute("SET TimeZone = 'UTC'")
        name = f"verigator_log_{uuid.uuid4().hex[:12]}"
        pattern = path / "**" / "*.parquet" if path.is_dir() else path
        if path.is_dir() and next(path.glob("**/*.parquet"), None) is None:
            con.register(name, empty_frame())
        else:
            source = f"read_parquet('{literal_text(str(pattern))}', hive_partitioning = false)"
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {source}")
        described = con.execute(f"DESCRIBE SELECT * FROM {name}").fetchall()
        return cls(con, name, frozenset(row[0] for row in described))

    def _check(self, needed: list[str], where: str) -> None:
        require(pd.DataFrame(columns=sorted(self.columns)), needed, where=where)

    def _query(self, sql: str, keys: list[str]) -> pd.DataFrame:
        frame = self.con.execute(sql).df()
        dtypes = empty_frame().dtypes
        for key in keys:
            if key == "period":
                frame[key] = pd.to_datetime(frame[key], utc=True).astype("datetime64[us, UTC]")
            elif key in dtypes:
                frame[key] = frame[key].astype(dtypes[key])
        return frame

    def _period(self, period: str | None) -> str:
        return f", date_trunc('{_UNITS[period]}', ts) AS period" if period else ""

    def _from(self, kind: str, by: list[str], period: str | None, where: str) -> str:
        """A relation of sessions (``kind="sessions"``) or verified sessions, with ``period``."""
        check_session_by(by, where)
        needed = ["action", "session_id", "verified", "ts", *by]
        self._check([*needed, "attempt"] if kind == "verified" else needed, where)
        table, columns = self.cached.get(kind, ("", frozenset()))
        if not table or not set(by) <= columns:
            template = _SESSIONS if kind == "sessions" else _VERIFIED
            first = _VERIFIED_FIRST.format(log=self.log)
            table = f"({template.format(by=_select(by, 'i.'), log=self.log, first=first)})"
        return f"(SELECT *{self._period(period)} FROM {table})"

    def cache_sessions(self, by: list[str]) -> None:
        """Match sessions once into temporary tables that later session metrics reuse."""
        for kind in ("sessions", "verified"):
            name = f"{self.log}_{kind}"
            relation = self._from(kind, by, None, "summary_tables")
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {relation}")
            self.cached[kind] = (name, frozenset(by))

    def _rates(self, sql: str, keys: list[str]) -> pd.DataFrame:
        counts = self._query(sql, keys).astype({"n": "int64", "successes": "int64"})
        return sort_by_keys(add_rate(counts[[*keys, "n", "successes"]]), keys)

    def success_rate(self, by: list[str], period: str | None, per: str) -> pd.DataFrame:
        """Counts as ``analysis.success_rate``."""
        keys = group_keys(by, period)
        group = "GROUP BY ALL" if keys else ""
        if per == "session":
            relation = self._from("sessions", by, period, "success_rate")
            return self._rates(
                f"SELECT {_select(keys)}count(*) AS n, count(*) FILTER (WHERE hit) AS successes "
                f"FROM {relation} {group}",
                keys,
            )
        if per != "attempt":
            raise ValueError(f"per must be 'session' or 'attempt', not {per!r}")
        self._check(["action", "verified", "ts", *by], "success_rate")
        return self._rates(
            f"SELECT {_select(keys)}count(*) AS n, count(*) FILTER (WHERE verified) AS successes "
            f"FROM (SELECT *{self._period(period)} FROM {self.log} "
            f"WHERE action = 'verify' AND verified IS NOT NULL) {group}",
            keys,
        )

    def fallback_rate(self, by: list[str], period: str | None) -> pd.DataFrame:
        """Counts as ``analysis.fallback_rate``."""
        keys = group_keys(by, period)
        check_session_by(by, "fallback_rate")
        self._check(["action", "requested_method", "method", "ts", *by], "fallback_rate")
        return self._rates(
            f"SELECT {_select(keys)}count(*) AS n, "
            f"count(*) FILTER (WHERE method = 'sms') AS successes "
            f"FROM (SELECT *{self._period(period)} FROM {self.log} WHERE action = 'initiate' "
            f"AND requested_method = 'totp' AND method IS NOT NULL) "
            f"{'GROUP BY ALL' if keys else ''}",
            keys,
        )

    def failure_reasons(self, by: list[str], period: str | None) -> pd.DataFrame:
        """Counts as ``analysis.failure_reasons``."""
        keys = group_keys(by, period)
        self._check(["action", "verified", "result", "error", "ts", *by], "failure_reasons")
        counts = self._query(
            f"SELECT {_select(keys)}coalesce(CAST(result AS VARCHAR), nullif(error, ''), "
            f"'UNKNOWN') AS reason, count(*) AS n "
            f"FROM (SELECT *{self._period(period)} FROM {self.log} "
            f"WHERE action = 'verify' AND verified IS DISTINCT FROM true) GROUP BY ALL",
            keys,
        )
        return reason_table(counts.astype({"reason": "str", "n": "int64"}), keys)

    def distribution(self, value: str, by: list[str], period: str | None) -> pd.DataFrame:
        """``n``, ``mean`` and quantiles of ``attempts`` or ``seconds`` per verified session."""
        keys = group_keys(by, period)
        relation = self._from("verified", by, period, "verified_sessions")
        quantiles = "".join(
            f", quantile_cont({value}, {q}) AS {name}" for name, q in QUANTILES.items()
        )
        frame = self._query(
            f"SELECT {_select(keys)}count({value}) AS n, avg({value}) AS mean{quantiles} "
            f"FROM {relation} {'GROUP BY ALL' if keys else ''}",
            keys,
        )
        floats = dict.fromkeys(["mean", *QUANTILES], "float64")
        return sort_by_keys(frame.astype({"n": "int64", **floats}), keys)

    def funnel(self, by: list[str], period: str | None) -> pd.DataFrame:
        """Stages as ``analysis.funnel``."""
        keys = group_keys(by, period)
        relation = self._from("sessions", by, period, "funnel")
        wide = self._query(
            f"SELECT {_select(keys)}count(*) AS initiated, "
            f"count(*) FILTER (WHERE tried) AS tried, count(*) FILTER (WHERE hit) AS verified "
            f"FROM {relation} {'GROUP BY ALL' if keys else ''}",
            keys,
        )
        return funnel_long(sort_by_keys(wide, keys), keys)

    def metric(self, name: str, by: list[str], period: str | None) -> pd.DataFrame:
        """The rate table of a ``compare_periods`` metric."""
        if name == "fallback":
            return self.fallback_rate(as_columns(by), period)
        return self.success_rate(by, period, "session" if name == "session_success" else "attempt")

    def extent(self) -> tuple[int, pd.Timestamp | None, pd.Timestamp | None]:
        """Rows, first and last ``ts``."""
        rows, first, last = self.con.execute(
            f"SELECT count(*), min(ts), max(ts) FROM {self.log}"
        ).fetchone() or (0, None, None)
        stamps = [None if t is None else pd.Timestamp(t).tz_convert("UTC") for t in (first, last)]
        return int(rows), stamps[0], stamps[1]

    def verified_sample(self, size: int) -> pd.DataFrame:
        """Per-session ``attempts`` and ``seconds``: a repeatable reservoir sample of ``size``."""
        relation = self._from("verified", [], None, "verified_sessions")
        (count,) = self.con.execute(f"SELECT count(*) FROM {relation}").fetchone() or (0,)
        sample = f"USING SAMPLE reservoir({int(size)} ROWS) REPEATABLE (7)" if count > size else ""
        frame = self.con.execute(f"SELECT attempts, seconds FROM {relation} {sample}").df()
        return frame.astype({"attempts": "Int64", "seconds": "float64"})
