"""The DuckDB SQL behind ``analysis.scale``: one query per metric over a Parquet dataset.

``Dataset`` is a ``MetricEngine``: each method answers like its namesake in
``verigator_nb.analysis``. Each query returns group counts only (a few rows per group); rates,
Wilson intervals, dtypes and row order are then finished in pandas with the very helpers the
pandas path uses, so the two paths give equal frames.

Queries are assembled as text: column names come from ``verigator_nb.schema`` and are quoted
(``ident``), values from ``verigator_nb.models`` are quoted literals (``literal``), and no
value from the data is ever spliced in, hence the file-wide S608 waiver below.
"""
# ruff: noqa: S608

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from verigator_nb.analysis._definitions import FALLBACK_RATE, SESSION_SUCCESS
from verigator_nb.analysis._metrics import METRICS, PER_ATTEMPT, PER_SESSION, PERS, By
from verigator_nb.analysis._periods import PERIOD_NAMES, compare_tables
from verigator_nb.analysis._rows import check_session_by
from verigator_nb.analysis._stats import QUANTILES, add_rate
from verigator_nb.analysis._tables import (
    FUNNEL_STAGES,
    as_columns,
    funnel_long,
    group_keys,
    reason_table,
    require,
    sort_by_keys,
)
from verigator_nb.models import METHOD_SMS, METHOD_TOTP
from verigator_nb.schema import (
    ACTION,
    ATTEMPT,
    ERROR,
    INITIATE,
    METHOD,
    REQUESTED_METHOD,
    RESULT,
    SESSION_ID,
    TS,
    VERIFIED,
    VERIFY,
    empty_frame,
)

__all__ = ["Dataset", "glob_literal", "ident", "literal", "literal_text"]


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal_text(text: str) -> str:
    """``text`` made safe inside a single-quoted SQL string."""
    return text.replace("'", "''")


def literal(text: str) -> str:
    """``text`` as a single-quoted SQL string literal."""
    return f"'{literal_text(text)}'"


def glob_literal(path: Path) -> str:
    """``path`` as a DuckDB file pattern that matches only itself.

    DuckDB expands ``*``, ``?`` and ``[...]`` in every path it reads, so a folder named
    ``logs[1]`` would read its sibling ``logs1`` (or fail when there is none); each such
    character (and ``{``, ``}``) goes inside a one-character class, ``[[]``, that matches it.
    """
    return re.sub(r"([][*?{}])", r"[\1]", str(path))


# Quoted names and values, spelled once from the schema for every query below.
_TS, _ACTION, _SESSION, _VERIFIED = ident(TS), ident(ACTION), ident(SESSION_ID), ident(VERIFIED)
_ATTEMPT, _METHOD, _ASKED = ident(ATTEMPT), ident(METHOD), ident(REQUESTED_METHOD)
_IS_VERIFY, _IS_INITIATE = f"{_ACTION} = {literal(VERIFY)}", f"{_ACTION} = {literal(INITIATE)}"

_VERIFIED_FIRST = f"""
    SELECT {_SESSION}, min({_TS}) AS first_ts, min({_ATTEMPT}) AS attempts FROM {{log}}
    WHERE {_IS_VERIFY} AND {_VERIFIED} AND {_SESSION} IS NOT NULL GROUP BY {_SESSION}
"""
_SESSIONS = f"""
    SELECT {{by}}i.{_TS}, v.{_SESSION} IS NOT NULL AS tried, coalesce(v.hit, false) AS hit
    FROM {{log}} AS i LEFT JOIN (
        SELECT {_SESSION}, bool_or({_VERIFIED}) AS hit FROM {{log}}
        WHERE {_IS_VERIFY} AND {_SESSION} IS NOT NULL GROUP BY {_SESSION}
    ) AS v ON i.{_SESSION} = v.{_SESSION}
    WHERE i.{_IS_INITIATE}
"""
_VERIFIED_SESSIONS = f"""
    SELECT {{by}}i.{_TS}, f.attempts,
        (epoch_us(f.first_ts) - epoch_us(i.{_TS})) / 1e6 AS seconds
    FROM {{log}} AS i JOIN ({{first}}) AS f ON i.{_SESSION} = f.{_SESSION}
    WHERE i.{_IS_INITIATE}
"""


# The two session relations: every session, and each verified session's first verified verify.
_ALL, _FIRST = "sessions", "first_verified"


def _select(keys: list[str], alias: str = "") -> str:
    """The select list for ``keys`` (``period`` computed from ``ts``), with a trailing comma."""
    parts = [ident(k) if k != "period" else "period" for k in keys]
    return "".join(f"{alias}{part}, " for part in parts)


def _group(keys: list[str]) -> str:
    return "GROUP BY ALL" if keys else ""


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
        pattern = glob_literal(path) + ("/**/*.parquet" if path.is_dir() else "")
        if path.is_dir() and next(path.glob("**/*.parquet"), None) is None:
            con.register(name, empty_frame())
        else:
            source = f"read_parquet({literal(pattern)}, hive_partitioning = false)"
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
        return f", date_trunc('{PERIOD_NAMES[period]}', {_TS}) AS period" if period else ""

    def _calls(self, where: str, period: str | None) -> str:
        """Rows of the log matching ``where``, with ``period``."""
        return f"(SELECT *{self._period(period)} FROM {self.log} WHERE {where})"

    def _from(self, kind: str, by: list[str], period: str | None, where: str) -> str:
        """A relation of sessions (``kind=_ALL``) or verified sessions (``_FIRST``), with
        ``period``."""
        check_session_by(by, where)
        needed = [ACTION, SESSION_ID, VERIFIED, TS, *by]
        self._check([*needed, ATTEMPT] if kind == _FIRST else needed, where)
        table, columns = self.cached.get(kind, ("", frozenset()))
        if not table or not set(by) <= columns:
            template = _SESSIONS if kind == _ALL else _VERIFIED_SESSIONS
            first = _VERIFIED_FIRST.format(log=self.log)
            table = f"({template.format(by=_select(by, 'i.'), log=self.log, first=first)})"
        return f"(SELECT *{self._period(period)} FROM {table})"

    def prepare(self, by: list[str]) -> None:
        """Match sessions once into temporary tables that later session metrics reuse."""
        for kind in (_ALL, _FIRST):
            name = f"{self.log}_{kind}"
            relation = self._from(kind, by, None, "prepare")
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {relation}")
            self.cached[kind] = (name, frozenset(by))

    def _rates(self, sql: str, keys: list[str]) -> pd.DataFrame:
        counts = self._query(sql, keys).astype({"n": "int64", "successes": "int64"})
        return sort_by_keys(add_rate(counts[[*keys, "n", "successes"]]), keys)

    def success_rate(
        self, *, by: By = None, period: str | None = None, per: str = PER_SESSION
    ) -> pd.DataFrame:
        """As ``analysis.success_rate``."""
        columns = as_columns(by)
        keys = group_keys(columns, period)
        if per not in PERS:
            raise ValueError(f"per must be {PER_SESSION!r} or {PER_ATTEMPT!r}, not {per!r}")
        if per == PER_SESSION:
            relation = self._from(_ALL, columns, period, "success_rate")
            hits = "hit"
        else:
            self._check([ACTION, VERIFIED, TS, *columns], "success_rate")
            answered = f"{_IS_VERIFY} AND {_VERIFIED} IS NOT NULL"
            relation, hits = self._calls(answered, period), _VERIFIED
        return self._rates(
            f"SELECT {_select(keys)}count(*) AS n, count(*) FILTER (WHERE {hits}) AS successes "
            f"FROM {relation} {_group(keys)}",
            keys,
        )

    def fallback_rate(self, *, by: By = None, period: str | None = None) -> pd.DataFrame:
        """As ``analysis.fallback_rate``."""
        columns = as_columns(by)
        keys = group_keys(columns, period)
        check_session_by(columns, "fallback_rate")
        self._check([ACTION, REQUESTED_METHOD, METHOD, TS, *columns], "fallback_rate")
        answered = f"{_IS_INITIATE} AND {_ASKED} = {literal(METHOD_TOTP)} AND {_METHOD} IS NOT NULL"
        return self._rates(
            f"SELECT {_select(keys)}count(*) AS n, "
            f"count(*) FILTER (WHERE {_METHOD} = {literal(METHOD_SMS)}) AS successes "
            f"FROM {self._calls(answered, period)} {_group(keys)}",
            keys,
        )

    def failure_reasons(self, *, by: By = None, period: str | None = None) -> pd.DataFrame:
        """As ``analysis.failure_reasons``."""
        columns = as_columns(by)
        keys = group_keys(columns, period)
        self._check([ACTION, VERIFIED, RESULT, ERROR, TS, *columns], "failure_reasons")
        failed = f"{_IS_VERIFY} AND {_VERIFIED} IS DISTINCT FROM true"
        counts = self._query(
            f"SELECT {_select(keys)}coalesce(CAST({ident(RESULT)} AS VARCHAR), "
            f"nullif({ident(ERROR)}, ''), 'UNKNOWN') AS reason, count(*) AS n "
            f"FROM {self._calls(failed, period)} GROUP BY ALL",
            keys,
        )
        return reason_table(counts.astype({"reason": "str", "n": "int64"}), keys)

    def _distribution(self, value: str, by: By, period: str | None) -> pd.DataFrame:
        """``n``, ``mean`` and quantiles of ``attempts`` or ``seconds`` per verified session."""
        columns = as_columns(by)
        keys = group_keys(columns, period)
        relation = self._from(_FIRST, columns, period, "verified_sessions")
        quantiles = "".join(
            f", quantile_cont({value}, {q}) AS {name}" for name, q in QUANTILES.items()
        )
        frame = self._query(
            f"SELECT {_select(keys)}count({value}) AS n, avg({value}) AS mean{quantiles} "
            f"FROM {relation} {_group(keys)}",
            keys,
        )
        floats = dict.fromkeys(["mean", *QUANTILES], "float64")
        return sort_by_keys(frame.astype({"n": "int64", **floats}), keys)

    def attempts_to_success(self, *, by: By = None, period: str | None = None) -> pd.DataFrame:
        """As ``analysis.attempts_to_success``."""
        return self._distribution("attempts", by, period)

    def time_to_verify(self, *, by: By = None, period: str | None = None) -> pd.DataFrame:
        """As ``analysis.time_to_verify``."""
        return self._distribution("seconds", by, period)

    def funnel(self, *, by: By = None, period: str | None = None) -> pd.DataFrame:
        """As ``analysis.funnel``."""
        columns = as_columns(by)
        keys = group_keys(columns, period)
        relation = self._from(_ALL, columns, period, "funnel")
        initiated, tried, verified = FUNNEL_STAGES
        wide = self._query(
            f"SELECT {_select(keys)}count(*) AS {ident(initiated)}, "
            f"count(*) FILTER (WHERE tried) AS {ident(tried)}, "
            f"count(*) FILTER (WHERE hit) AS {ident(verified)} FROM {relation} {_group(keys)}",
            keys,
        )
        return funnel_long(sort_by_keys(wide, keys), keys)

    def metric_table(
        self, metric: str, *, by: By = None, period: str | None = None
    ) -> pd.DataFrame:
        """As ``analysis.metric_table``."""
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
        if metric == FALLBACK_RATE:
            return self.fallback_rate(by=by, period=period)
        per = PER_SESSION if metric == SESSION_SUCCESS else PER_ATTEMPT
        return self.success_rate(by=by, period=period, per=per)

    def compare_periods(
        self, *, metric: str = SESSION_SUCCESS, period: str = "W", by: By = None
    ) -> pd.DataFrame:
        """As ``analysis.compare_periods`` (the current period is the latest in the data)."""
        if period is None:
            raise ValueError("compare_periods needs a period: 'D', 'W' or 'M'")
        table = self.metric_table(metric, by=by, period=period)
        return compare_tables(table, by=as_columns(by), period=period)

    def extent(self) -> tuple[int, pd.Timestamp | None, pd.Timestamp | None]:
        """Rows, first and last ``ts``."""
        rows, first, last = self.con.execute(
            f"SELECT count(*), min({_TS}), max({_TS}) FROM {self.log}"
        ).fetchone() or (0, None, None)
        stamps = [None if t is None else pd.Timestamp(t).tz_convert("UTC") for t in (first, last)]
        return int(rows), stamps[0], stamps[1]

    def verified_sample(self, size: int) -> pd.DataFrame:
        """Per-session ``attempts`` and ``seconds``: a repeatable reservoir sample of ``size``."""
        relation = self._from(_FIRST, [], None, "verified_sessions")
        (count,) = self.con.execute(f"SELECT count(*) FROM {relation}").fetchone() or (0,)
        sample = f"USING SAMPLE reservoir({int(size)} ROWS) REPEATABLE (7)" if count > size else ""
        frame = self.con.execute(f"SELECT attempts, seconds FROM {relation} {sample}").df()
        return frame.astype({"attempts": "Int64", "seconds": "float64"})
