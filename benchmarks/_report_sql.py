"""The report's numbers in hand-written DuckDB SQL: the baseline the Ibis path is timed against.

Written from ``docs/metrics.md`` alone (not from ``verigator_nb.analysis``), so the two also
check each other: ``_report_counts.mismatches`` lists every count where they differ. Column
names and the words the log holds (``initiate``, ``sms``, set-aside reasons, endings) are
placeholders filled from ``verigator_nb.schema``, ``models`` and ``analysis``, never retyped;
``HAND`` has one entry per metric of ``analysis.METRICS`` (checked at import).

The grains are built once, as an analyst would keep them for many queries (``GRAINS``): the
rows with their set-aside reason (only the columns the metrics read), the sessions and the
logins as temporary tables, the calls kept as a view over the first. ``report_counts``
asks for every count the report's tables, headline, weekly comparison and chart sample need;
``metric_counts`` answers one metric's table in one statement (its grains as CTEs). Counts come
back as ``_report_counts``'s frames; ``finish`` adds the rates, intervals and tests in pandas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa

from verigator_nb.analysis import (
    BREAKDOWN,
    CALL,
    COMPARED_METRICS,
    DEFAULT_GAP,
    DISTRIBUTION,
    ENDINGS,
    FUNNEL_STAGES,
    LOGIN,
    METRICS,
    PERIOD,
    PERIOD_NAMES,
    RATE,
    RATE_METRICS,
    RATIO,
    SESSION,
    SET_ASIDE_REASONS,
)
from verigator_nb.models import METHOD_SMS, METHOD_TOTP
from verigator_nb.report import TABLES
from verigator_nb.report._summary import CHART_SAMPLE, COMPARISON_PERIOD, trend_period
from verigator_nb.schema import (
    ACTION,
    ATTEMPT,
    COLUMN_NAMES,
    COLUMNS,
    ERROR,
    EVENT_ID,
    HTTP_STATUS,
    INITIATE,
    LATENCY_MS,
    METHOD,
    REQUESTED_METHOD,
    RESULT,
    SERVICE_ID,
    SESSION_ID,
    TS,
    USER_ID,
    VERIFIED,
    VERIFY,
)

__all__ = [
    "GRAINS",
    "HAND",
    "Hand",
    "connect",
    "dataset_source",
    "fetch",
    "frame_source",
    "metric_counts",
    "metric_query",
    "report_counts",
    "shaped",
    "sql",
    "tables",
]

UNKNOWN: Final = "UNKNOWN"  # the contract's category for a missing result or error
QUANTILE_NAMES: Final = ("p50", "p90", "p99")
QUANTILES: Final = (0.5, 0.9, 0.99)

# Placeholders: every column by its own name (a KeyError if it left the schema), and words.
WORDS: Final[Mapping[str, str]] = {name: name for name in COLUMN_NAMES} | {
    "initiate": INITIATE,
    "verify": VERIFY,
    "sms": METHOD_SMS,
    "totp": METHOD_TOTP,
    "unknown": UNKNOWN,
    **dict(zip(("incomplete", "duplicate", "early_verify"), SET_ASIDE_REASONS, strict=True)),
    **dict(zip(("verified_end", "failed_end", "untried_end", "unknown_end"), ENDINGS, strict=True)),
}


def sql(text: str, **params: object) -> str:
    """``text`` with its placeholders filled: ``WORDS``, then ``params``."""
    return text.format_map({**WORDS, **params})


# -- the log, read in place; ``rd`` is its reading order -------------------------------------

# Files in name order, rows in file order: a file's number in the high bits of ``rd``.
_DATASET: Final = """
SELECT l.*, (f.number << 32) + l.file_row_number AS rd
FROM read_parquet('{pattern}', hive_partitioning = false, filename = true,
                  file_row_number = true) AS l
JOIN (SELECT file, row_number() OVER (ORDER BY file) AS number FROM glob('{pattern}')) AS f
  ON l.filename = f.file
"""


def connect(*, memory_limit: str = "1GB", threads: int | None = None) -> Any:
    """A DuckDB connection set up as ``analysis.connect()`` sets up its own: UTC, bounded
    memory, insertion order not kept."""
    import duckdb

    config: dict[str, Any] = {"memory_limit": memory_limit, "preserve_insertion_order": False}
    if threads:
        config["threads"] = int(threads)
    con = duckdb.connect(config=config)
    con.execute("SET TimeZone = 'UTC'")
    return con


def dataset_source(con: Any, root: str) -> None:
    """``hand_source``: the day-partitioned dataset at ``root``."""
    source = sql(_DATASET, pattern=root + "/**/*.parquet")
    con.execute(f"CREATE OR REPLACE TEMP VIEW hand_source AS {source}")


def frame_source(con: Any, df: pd.DataFrame) -> None:
    """``hand_source``: the frame as Arrow (as the Ibis path registers it), with categories as
    text and its row order as ``rd``."""
    frame = df.copy(deep=False)
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype("str").where(frame[name].notna(), None)
    frame["rd"] = np.arange(len(frame), dtype=np.int64)
    con.register("hand_source", pa.Table.from_pandas(frame, preserve_index=False))


# -- the grains: rows with their reason, kept calls, sessions, logins ---------------------------

_MARKED: Final = """
WITH typed AS (
    SELECT {typed}, rd,  -- the columns used, an empty text as empty
           {ts} IS NOT NULL AND nullif({action}, '') IS NOT NULL
               AND nullif({session_id}, '') IS NOT NULL AS complete
    FROM hand_source),
-- An event id seen on more than one complete row: the first in reading order is kept.
repeated AS (
    SELECT {event_id}, min(rd) AS first_rd FROM typed
    WHERE complete AND {event_id} IS NOT NULL
    GROUP BY {event_id} HAVING count(*) > 1),
screened AS (
    SELECT t.* EXCLUDE (complete), CASE WHEN NOT t.complete THEN '{incomplete}'
                                        WHEN t.rd > r.first_rd THEN '{duplicate}' END AS why
    FROM typed AS t LEFT JOIN repeated AS r USING ({event_id})),
opened AS (
    SELECT {session_id}, min({ts}) AS opened_ts FROM screened
    WHERE why IS NULL AND {action} = '{initiate}' GROUP BY {session_id})
SELECT s.* EXCLUDE (why, {event_id}),
       coalesce(s.why, CASE WHEN s.{action} = '{verify}' AND s.{ts} < o.opened_ts
                            THEN '{early_verify}' END) AS reason
FROM screened AS s LEFT JOIN opened AS o USING ({session_id})
"""

_CALLS: Final = """
SELECT * EXCLUDE (reason),
       coalesce({http_status} < 500, false) AS answered,
       coalesce({http_status} >= 200 AND {http_status} < 300, false) AS succeeded
FROM hand_marked WHERE reason IS NULL
"""

_SESSIONS: Final = """
WITH initiates AS (
    SELECT *, sum(CASE WHEN succeeded AND {method} = '{sms}' THEN 1 ELSE 0 END)
                  OVER (PARTITION BY {session_id}) AS sms_sent
    FROM hand_calls WHERE {action} = '{initiate}'
    QUALIFY row_number() OVER (PARTITION BY {session_id} ORDER BY {ts}, rd) = 1),
verifies AS (
    SELECT {session_id}, {verified}, {result},
           ({ts}, coalesce({attempt}, 2147483647), rd) AS place  -- the verifies' order
    FROM hand_calls WHERE {action} = '{verify}'),
first_hit AS (
    SELECT {session_id}, min(place) AS hit FROM verifies WHERE {verified} GROUP BY {session_id}),
per_session AS (
    SELECT v.{session_id}, count(*) AS verify_rows, count(v.{verified}) AS with_verdict,
           count(v.{verified}) FILTER (WHERE v.place <= h.hit) AS attempts,
           arg_max(v.{result}, v.place) FILTER (WHERE v.{verified} IS NOT NULL) AS last_result,
           any_value(h.hit) AS hit
    FROM verifies AS v LEFT JOIN first_hit AS h USING ({session_id})
    GROUP BY v.{session_id})
SELECT i.{session_id}, i.{ts}, i.rd, i.{service_id}, i.{user_id}, {initiate_keys},
       i.succeeded AS started, i.sms_sent,
       coalesce(p.verify_rows, 0) > 0 AS tried,
       p.hit IS NOT NULL AS verified_session,
       CASE WHEN p.hit IS NOT NULL THEN p.attempts END AS attempts,
       (epoch_us(struct_extract(p.hit, 1)) - epoch_us(i.{ts})) / 1e6 AS seconds,
       CASE WHEN p.hit IS NOT NULL THEN '{verified_end}'
            WHEN NOT i.succeeded THEN '{failed_end}'
            WHEN coalesce(p.verify_rows, 0) = 0 THEN '{untried_end}'
            WHEN p.with_verdict = 0 THEN '{unknown_end}'
            ELSE coalesce(p.last_result, '{unknown_end}') END AS ending
FROM initiates AS i LEFT JOIN per_session AS p USING ({session_id})
"""

_LOGINS: Final = """
WITH ordered AS (
    SELECT {service_id}, {user_id}, {ts}, rd, verified_session,
           CASE WHEN epoch_us({ts}) - epoch_us(lag({ts}) OVER w) <= {gap_us} THEN 0 ELSE 1 END
               AS starts
    FROM hand_sessions WINDOW w AS (PARTITION BY {service_id}, {user_id} ORDER BY {ts}, rd)),
numbered AS (
    SELECT *, sum(starts) OVER (PARTITION BY {service_id}, {user_id} ORDER BY {ts}, rd
                                ROWS UNBOUNDED PRECEDING) AS login
    FROM ordered)
SELECT {service_id}, {user_id}, login, min({ts}) AS {ts}, count(*) AS sessions,
       bool_or(verified_session) AS verified_login
FROM numbered GROUP BY {service_id}, {user_id}, login
"""

GAP_US: Final = DEFAULT_GAP // timedelta(microseconds=1)  # a login's gap, in microseconds
# What the report groups by (a session by its initiate's), and what the SQL above reads.
GROUP_KEYS: Final = tuple(dict.fromkeys(c for spec in TABLES for c in spec.by))
_READ: Final = (EVENT_ID, TS, SERVICE_ID, USER_ID, ACTION, REQUESTED_METHOD, METHOD, VERIFIED,
                RESULT, HTTP_STATUS, ERROR, LATENCY_MS, SESSION_ID, ATTEMPT)  # fmt: skip
_TEXT: Final = frozenset(c.name for c in COLUMNS if c.kind in ("str", "category"))
_GRAIN_SQL: Final = {
    "gap_us": GAP_US,
    "typed": ", ".join(
        f"nullif({c}, '') AS {c}" if c in _TEXT else c for c in dict.fromkeys(_READ + GROUP_KEYS)
    ),
    "initiate_keys": ", ".join(f"i.{c}" for c in GROUP_KEYS if c != ACTION),
}
# Grain -> the tables it is built from, in order: (name, SQL, kept as a view).
_STAGES: Final = (("hand_marked", _MARKED, False), ("hand_calls", _CALLS, True))
GRAINS: Final[Mapping[str, tuple[tuple[str, str, bool], ...]]] = {
    CALL: _STAGES,
    SESSION: (*_STAGES, ("hand_sessions", _SESSIONS, False)),
    LOGIN: (*_STAGES, ("hand_sessions", _SESSIONS, False), ("hand_logins", _LOGINS, False)),
}
_TABLE: Final = {CALL: "hand_calls", SESSION: "hand_sessions", LOGIN: "hand_logins"}


# -- each metric: which rows, what is counted --------------------------------------------------


@dataclass(frozen=True)
class Hand:
    """One metric by hand: ``rows`` (SQL condition, None: all) of its grain's table, and
    ``value``: the condition counted (rate), the number (distribution), the category of rows
    where ``counted`` holds (breakdown); a ratio sums ``value`` over rows where ``counted``."""

    grain: str
    value: str
    rows: str | None = None
    counted: str | None = None


_IS_VERIFY: Final = "{action} = '{verify}'"
HAND: Final[Mapping[str, Hand]] = {
    "session_success": Hand(SESSION, "verified_session"),
    "conversion": Hand(SESSION, "verified_session", rows="started"),
    "availability": Hand(CALL, "answered"),
    "attempt_success": Hand(CALL, "{verified}", rows=_IS_VERIFY + " AND {verified} IS NOT NULL"),
    "fallback": Hand(
        CALL,
        "{method} = '{sms}'",
        rows="{action} = '{initiate}' AND {requested_method} = '{totp}' AND {method} IS NOT NULL",
    ),
    "login_conversion": Hand(LOGIN, "verified_login"),
    "resend_rate": Hand(LOGIN, "sessions > 1"),
    "verify_outcomes": Hand(
        CALL,
        "coalesce({result}, '{unknown}')",
        rows=_IS_VERIFY + " AND answered AND NOT {verified}",
    ),
    "verify_errors": Hand(
        CALL, "coalesce({error}, '{unknown}')", rows=_IS_VERIFY, counted="{verified} IS NULL"
    ),
    "call_failures": Hand(
        CALL,
        "coalesce({error}, 'HTTP ' || {http_status}, '{unknown}')",
        counted="NOT answered",
    ),
    "session_endings": Hand(SESSION, "ending"),
    "attempts_to_success": Hand(SESSION, "attempts", rows="verified_session"),
    "time_to_verify": Hand(SESSION, "seconds", rows="verified_session"),
    "latency": Hand(CALL, "{latency_ms}", rows="{latency_ms} IS NOT NULL"),
    "resends": Hand(LOGIN, "sessions - 1"),
    "sms_per_verified_session": Hand(SESSION, "sms_sent", counted="verified_session"),
    "funnel": Hand(SESSION, ""),  # its stages: _FUNNEL
}
assert set(HAND) == set(METRICS), "the hand-written SQL must cover every metric"
_FUNNEL: Final = ("true", "started", "started AND tried", "started AND tried AND verified_session")


def metric_query(names: list[str], keys: list[str], period: str | None, where: str = "") -> str:
    """One SELECT over one grain's table: several rates at once, or one other metric."""
    first, kind = HAND[names[0]], METRICS[names[0]].kind
    columns = ["{" + key + "}" for key in keys]
    if period is not None:
        columns.append(f"date_trunc('{PERIOD_NAMES[period]}', {{ts}}) AS {PERIOD}")
    value = f"({first.value})::DOUBLE"
    if kind == RATE:
        for i, name in enumerate(names):
            rows, hit = HAND[name].rows or "true", HAND[name].value
            columns.append(f"count(*) FILTER (WHERE {rows}) AS n_{i}")
            columns.append(f"count(*) FILTER (WHERE ({rows}) AND {hit}) AS successes_{i}")
    elif kind == DISTRIBUTION:
        columns += [
            f"count({value}) AS n",
            f"avg({value}) AS mean",
            f"quantile_cont({value}, {list(QUANTILES)}) AS quantiles",
        ]
    elif kind == BREAKDOWN:  # rows not counted have no category: they count in the total
        counted = f"CASE WHEN {first.counted} THEN {first.value} END" if first.counted else None
        columns += [f"{counted or first.value} AS category", "count(*) AS n"]
    elif kind == RATIO:
        columns += [
            f"coalesce(sum({first.value}), 0) AS numerator",
            f"count(*) FILTER (WHERE {first.counted}) AS denominator",
        ]
    else:
        columns += [f"count(*) FILTER (WHERE {flag}) AS s{i}" for i, flag in enumerate(_FUNNEL)]
    conditions = [c for c in ((first.rows if kind != RATE else None), where) if c]
    grouped = keys or period or kind == BREAKDOWN
    return sql(
        f"SELECT {', '.join(columns)} FROM {_TABLE[first.grain]}"
        + (f" WHERE {' AND '.join(conditions)}" if conditions else "")
        + (" GROUP BY ALL" if grouped else "")
    )


def shaped(raw: pd.DataFrame, names: list[str], keys: list[str]) -> dict[str, pd.DataFrame]:
    """``metric_query``'s answer as each metric's counts, with the columns the Ibis path's
    tables have: keys, then the category or stage, then the counts."""
    kind = METRICS[names[0]].kind
    if kind == RATE:
        out = {}
        for i, name in enumerate(names):
            part = raw[[*keys, f"n_{i}", f"successes_{i}"]].set_axis(
                [*keys, "n", "successes"], axis=1
            )
            out[name] = part[part["n"] > 0] if keys else part
        return out
    name = names[0]
    if kind == DISTRIBUTION:
        quantiles = pd.DataFrame(
            [list(q) if q is not None else [np.nan] * len(QUANTILES) for q in raw["quantiles"]],
            columns=list(QUANTILE_NAMES),
            index=raw.index,
        )
        return {name: pd.concat([raw.drop(columns="quantiles"), quantiles], axis=1)}
    if kind == BREAKDOWN:
        totals = raw.groupby(keys, dropna=False)["n"].sum().rename("total") if keys else None
        counted = raw[raw["category"].notna()].rename(columns={"category": METRICS[name].category})
        if keys:
            counted = counted.merge(totals.reset_index(), on=keys, how="left")
        else:
            counted = counted.assign(total=raw["n"].sum())
        return {name: counted}
    if kind == RATIO:
        return {name: raw}
    stages = [
        raw[keys].assign(stage=stage, n=raw[f"s{i}"]) for i, stage in enumerate(FUNNEL_STAGES)
    ]
    return {name: pd.concat(stages, ignore_index=True)}


# -- the whole report, and one metric alone -----------------------------------------------------


def fetch(con: Any, query: str) -> pd.DataFrame:
    """The answer as a frame, through Arrow as the Ibis path fetches its answers."""
    return con.execute(query).to_arrow_table().to_pandas()


def _build(con: Any, grain: str, built: set[str]) -> None:
    for name, body, view in GRAINS[grain]:
        if name not in built:
            kind = "VIEW" if view else "TABLE"
            con.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS {sql(body, **_GRAIN_SQL)}")
            built.add(name)


def tables(
    con: Any,
    names: list[str],
    keys: list[str],
    period: str | None,
    built: set[str],
    where: str = "",
) -> dict[str, pd.DataFrame]:
    """Like ``Analysis.tables``: the rates of one grain counted in one pass, others alone."""
    out: dict[str, pd.DataFrame] = {}
    for grain in dict.fromkeys(HAND[name].grain for name in names):
        _build(con, grain, built)
        rates = [n for n in names if HAND[n].grain == grain and METRICS[n].kind == RATE]
        groups = [rates] if rates else []
        groups += [[n] for n in names if HAND[n].grain == grain and METRICS[n].kind != RATE]
        for group in groups:
            raw = fetch(con, metric_query(group, keys, period, where))
            out |= shaped(raw, group, [*keys, PERIOD] if period else keys)
    return {name: out[name] for name in names}


_EXTENT: Final = "SELECT count(*) AS rows, min({ts}) AS first, max({ts}) AS last FROM hand_calls"
_ASIDE: Final = (
    "SELECT reason, count(*) AS rows FROM hand_marked WHERE reason IS NOT NULL GROUP BY reason"
)
_SAMPLE: Final = (
    "SELECT * FROM (SELECT attempts, seconds FROM hand_sessions WHERE verified_session) "
    f"USING SAMPLE reservoir({CHART_SAMPLE} ROWS) REPEATABLE (7)"
)


def report_counts(con: Any) -> dict[str, pd.DataFrame]:
    """Every count ``report.summary_tables`` shows, over ``hand_source``."""
    built: set[str] = set()
    _build(con, CALL, built)
    extent = fetch(con, sql(_EXTENT))
    first, last = extent["first"].iloc[0], extent["last"].iloc[0]
    counts = {"extent": extent, "set_aside": fetch(con, _ASIDE)}
    headline = tables(con, list(RATE_METRICS), [], None, built)
    counts["headline"] = pd.concat(
        [table.assign(metric=name) for name, table in headline.items()], ignore_index=True
    )
    period = trend_period(first, last)
    for by, over_time in dict.fromkeys((spec.by, spec.over_time) for spec in TABLES):
        specs = [s for s in TABLES if (s.by, s.over_time) == (by, over_time)]
        names = [s.metric for s in specs]
        found = tables(con, names, list(by), period if over_time else None, built)
        counts |= {spec.key: found[spec.metric] for spec in specs}
    counts["comparison"] = _comparison(con, last, built)
    counts["verified"] = pd.DataFrame({"rows": [len(fetch(con, _SAMPLE))]})
    return counts


def _comparison(con: Any, last: pd.Timestamp, built: set[str]) -> pd.DataFrame:
    """Counts of the latest complete week and the week before, for the single-proportion rates
    (``COMPARED_METRICS``), a row per group present (only availability is split: by
    ``action``, the registry's ``by``)."""
    assert COMPARISON_PERIOD == "W", "written for weekly comparisons"
    day = pd.Timestamp(last).tz_convert("UTC").normalize()
    current = day - pd.Timedelta(days=day.weekday() + 7)  # the week before the running one
    previous, end = current - pd.Timedelta(days=7), current + pd.Timedelta(days=7)
    where = f"{{ts}} >= '{previous.isoformat()}' AND {{ts}} < '{end.isoformat()}'"
    parts = []
    for keys in dict.fromkeys(METRICS[name].by for name in COMPARED_METRICS):
        names = [name for name in COMPARED_METRICS if METRICS[name].by == keys]
        present = pd.DataFrame(index=[0])
        if keys:
            present = fetch(con, sql(f"SELECT DISTINCT {', '.join(keys)} FROM hand_calls"))
        found = tables(con, names, list(keys), COMPARISON_PERIOD, built, where)
        for name in names:
            rows = present.assign(metric=name)
            for side, start in (("previous", previous), ("current", current)):
                table = found[name]
                week = table[table[PERIOD] == start].drop(columns=PERIOD)
                week = week.rename(columns={"n": f"{side}_n", "successes": f"{side}_successes"})
                if keys:
                    rows = rows.merge(week, on=list(keys), how="left")
                else:
                    rows = rows.assign(**{c: week[c].sum() for c in week.columns})
            parts.append(rows)
    frame = pd.concat(parts, ignore_index=True)
    counted = [f"{side}_{c}" for side in ("previous", "current") for c in ("n", "successes")]
    return frame.assign(**{c: frame[c].fillna(0).astype("int64") for c in counted})


def metric_counts(con: Any, name: str, keys: list[str]) -> pd.DataFrame:
    """One metric's counts by ``keys``, in one statement: its grains as CTEs."""
    grains = GRAINS[HAND[name].grain]
    ctes = ", ".join(f"{table} AS ({sql(body, **_GRAIN_SQL)})" for table, body, _ in grains)
    raw = fetch(con, f"WITH {ctes} {metric_query([name], keys, None)}")
    return shaped(raw, [name], keys)[name]
