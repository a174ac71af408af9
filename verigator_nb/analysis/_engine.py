"""``Analysis``: one log made ready once, every metric of the registry computed on it.

The log is cleaned once, and its sessions and logins built once (materialised as temporary
tables on DuckDB, cached on Spark), so a report's thirty tables cost thirty small
aggregations. ``table(name, by=, period=)`` answers any metric of ``METRICS``;
``compare(...)`` tests a period against the one before; ``set_aside()`` says which rows the
metrics left out, and why.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import ibis
import ibis.expr.schema as sch
import ibis.expr.types as ir
import pandas as pd

from verigator_nb.analysis import _finish, _grains
from verigator_nb.analysis._aggregate import (
    PERIOD,
    breakdown_counts,
    check_period,
    counts,
    rate_counts,
    with_period,
)
from verigator_nb.analysis._compare import compared_span, comparison
from verigator_nb.analysis._cusum import SUCCESS as TRIAL_SUCCESS
from verigator_nb.analysis._filters import Filters
from verigator_nb.analysis._grains import DEFAULT_GAP, REASON, SET_ASIDE_REASONS
from verigator_nb.analysis._queries import DuckRunner, Query, Runner, SparkRunner, compiled
from verigator_nb.analysis._registry import (
    BREAKDOWN,
    CALL,
    COMPARED_METRICS,
    DISTRIBUTION,
    LOGIN,
    METRICS,
    RATE,
    RATIO,
    SESSION,
    Metric,
)
from verigator_nb.analysis._source import ROW, LogTable, Source, log_table, normalise
from verigator_nb.schema import ATTEMPT, RESULT, SESSION_ID, TS, TS_DTYPE, VERIFIED

__all__ = ["Analysis", "By", "as_columns"]

By = str | Sequence[str] | None

# Set on verify rows only: on an initiate row always empty, so they cannot group sessions.
_VERIFY_ONLY = (VERIFIED, RESULT, ATTEMPT)
_INTERNAL = frozenset({ROW})


def as_columns(by: By) -> list[str]:
    """``by`` as a list of column names: None is no columns, a string is one column."""
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    columns = list(by)
    if not all(isinstance(column, str) for column in columns):
        raise TypeError("by must be None, a column name or a list of column names")
    return columns


class Analysis:
    """The metrics of one log (a frame, a file, a dataset, an Ibis table, a Spark frame).

    ``con`` is the DuckDB Ibis backend to use for frames and files (default: a new one,
    ``analysis.connect()``); ``gap`` is the most time between a user's sessions of one login;
    ``filters`` (``Filters``) the part of the log every table covers (default: all of it).
    """

    def __init__(
        self,
        source: Source,
        *,
        con: Any = None,
        gap: timedelta = DEFAULT_GAP,
        filters: Filters | None = None,
    ) -> None:
        if isinstance(source, Analysis):
            raise TypeError("source is already an Analysis")
        if filters is not None and not isinstance(filters, Filters):
            raise TypeError("filters must be a Filters, e.g. Filters(country='EE')")
        self.log: LogTable = log_table(source, con=con)
        self.gap = gap
        self.filters = filters if filters else None
        self._kept: list[tuple[str, bool]] = []  # what the engine keeps for us, in order

    # -- the grain tables, built once -------------------------------------------------------

    @cached_property
    def _runner(self) -> Runner:
        return SparkRunner(self.log.backend) if self.log.is_spark else DuckRunner(self.log.backend)

    @cached_property
    def _stages(self) -> dict[str, tuple[str, sch.Schema]]:
        """The tables kept, by stage (name and schema): first the marked rows (the one pass
        over every row); sessions and logins are added on first use. The calls and the rows
        set aside are no tables of their own: each query reads them from the marked rows
        (``_VIEWS``), which costs nothing a view would not, and saves a statement each."""
        log, dialect = self.log, self._runner.dialect
        if log.name is None:  # an Ibis table of the user's: compiled as it is
            rows = _grains.marked(log.table)
            sql, schema = str(log.backend.compile(rows)), rows.schema()
        else:  # a table we named: compiled once per process, bound to it
            query = compiled(_marked_of_read, (log.read.schema(),), dialect)
            sql, schema = query.bind(log.name), query.schema
        name = self._name(_MARKED)
        self._runner.keep(name, sql)
        self._kept.append((name, False))
        return {_MARKED: (name, schema)}

    def _keep(
        self,
        stages: dict[str, tuple[str, sch.Schema]],
        stage: str,
        build: Callable[..., ir.Table],
        source: str,
        *args: Hashable,
    ) -> None:
        query, reads = self._compiled(build, source, args, whole=True)
        kept = self._name(stage)
        self._runner.keep(kept, query.bind(reads))
        self._kept.append((kept, False))
        stages[stage] = (kept, query.schema)

    def _stage(self, stage: str) -> tuple[str, sch.Schema]:
        """A kept stage's table, built on first use (sessions, then logins)."""
        stages = self._stages
        if stage == SESSION and SESSION not in stages:
            self._keep(stages, SESSION, _sessions_of, CALL, self._runner.dialect)
        if stage == LOGIN and LOGIN not in stages:
            self._stage(SESSION)
            gap = int(self.gap / timedelta(microseconds=1))
            self._keep(stages, LOGIN, _logins_of, SESSION, gap, self._runner.dialect)
        return stages[stage]

    def _schema(self, stage: str) -> sch.Schema:
        """The columns of ``stage``'s rows (a kept table, or a view of the marked rows)."""
        if stage in _VIEWS:
            return compiled(_VIEWS[stage], (self._stage(_MARKED)[1],), self._runner.dialect).schema
        return self._stage(stage)[1]

    def _compiled(
        self,
        build: Callable[..., ir.Table],
        stage: str,
        args: tuple[Hashable, ...],
        *,
        whole: bool = False,
    ) -> tuple[Query, str]:
        """``build(stage's rows, *args)`` compiled, and the kept table it reads: the marked
        rows, through the stage's view, when the stage is one of ``_VIEWS``. The rows are
        those the filters keep, unless ``whole`` (sessions and logins are formed from the
        whole log, and filtered where they are read)."""
        dialect = self._runner.dialect
        filters = None if whole else self.filters
        if stage in _VIEWS:
            name, schema = self._stage(_MARKED)
            view = _VIEWS[stage]
            return compiled(_through, (schema,), dialect, (view, filters, build, args)), name
        name, schema = self._stage(stage)
        if filters is None:
            return compiled(build, (schema,), dialect, args), name
        return compiled(_filtered, (schema,), dialect, (filters, build, args)), name

    def _name(self, stage: str) -> str:
        return f"verigator_{stage}_{self._id}"

    @cached_property
    def _id(self) -> str:
        return uuid.uuid4().hex

    def grain(self, name: str) -> ir.Table:
        """The table a metric of grain ``name`` ("call", "session", "login") counts rows of,
        as an Ibis table of the log's engine (for queries of your own)."""
        if name in _VIEWS:
            rows = _VIEWS[name](self.log.backend.table(self._stage(_MARKED)[0]))
        else:
            rows = self.log.backend.table(self._stage(name)[0])
        return self.filters.keep(rows) if self.filters else rows

    def fetch(self, build: Callable[..., ir.Table], grain: str, *args: Hashable) -> pd.DataFrame:
        """The answer of ``build(rows of grain, *args)``, an Ibis query of a module-level
        function over the rows of ``grain`` ("call", "session", "login") the filters keep,
        compiled once per process and run where the log lives (for reviews of the log that
        are no metric of the registry, e.g. ``pumping_review``)."""
        return self._fetch(build, grain, *args)

    def _fetch(
        self, build: Callable[..., ir.Table], stage: str, *args: Hashable, whole: bool = False
    ) -> pd.DataFrame:
        """The answer of the query ``build`` makes over ``stage``'s rows, with ``args`` (the
        rows the filters keep, or all of them when ``whole``)."""
        query, reads = self._compiled(build, stage, args, whole=whole)
        return self._runner.fetch(query.bind(reads))

    # -- what the log holds -----------------------------------------------------------------

    def rows_by(self, by: By) -> pd.DataFrame:
        """The calls kept, counted per group of ``by`` (log columns): ``by`` then ``rows``,
        in key order, missing values last. What a report says about where its rows came from
        (``endpoint``, ``tags``), without a metric of its own."""
        keys = as_columns(by)
        unknown = [c for c in keys if c not in self._schema(CALL).names or c in _INTERNAL]
        if not keys or unknown:
            raise ValueError(f"rows_by needs log columns, not {unknown or keys!r}")
        found = self._fetch(_rows_of, CALL, tuple(keys))
        found = found.assign(rows=pd.to_numeric(found["rows"]).astype("int64"))
        return _finish.sort_by_keys(_finish.tidy_keys(found, keys), keys)

    def set_aside(self) -> pd.DataFrame:
        """Rows the metrics leave out, per reason (every reason listed, 0 included), in the
        whole log: a row set aside may lack the very columns a filter reads."""
        found = self._fetch(_set_aside_of, _ASIDE, whole=True)
        rows = dict(zip(found[REASON], found["rows"], strict=True))
        return pd.DataFrame(
            {
                REASON: list(SET_ASIDE_REASONS),
                "rows": [int(rows.get(r, 0)) for r in SET_ASIDE_REASONS],
            }
        )

    def extent(self) -> tuple[int, pd.Timestamp | None, pd.Timestamp | None]:
        """Rows kept, and their first and last ``ts`` (None when no row is kept)."""
        return self._extent

    @cached_property
    def _extent(self) -> tuple[int, pd.Timestamp | None, pd.Timestamp | None]:
        """``extent``, asked once: the rows kept never change (a report and its comparison
        both need it)."""
        found = self._fetch(_extent_of, CALL)
        n = int(found["n"].iloc[0])
        if n == 0:
            return 0, None, None
        return n, _utc(found["first"].iloc[0]), _utc(found["last"].iloc[0])

    # -- metrics ----------------------------------------------------------------------------

    def table(
        self, metric: str | Metric, *, by: By = None, period: str | None = None
    ) -> pd.DataFrame:
        """The table of ``metric`` (a name in ``METRICS``) per group of ``by`` and ``period``."""
        chosen = _metric(metric)
        keys = self._keys(chosen, by, period)
        args = (chosen, tuple(keys), period, self._runner.dialect)
        if chosen.kind == BREAKDOWN:
            raw = self._fetch(_breakdown_of, chosen.grain, *args)
            return _finish.breakdown_table(raw, keys, chosen.category)
        raw = self._fetch(_counts_of, chosen.grain, *args)
        finish = {
            RATE: _finish.rate_table,
            DISTRIBUTION: _finish.distribution_table,
            RATIO: _finish.ratio_table,
        }.get(chosen.kind, _finish.stages_table)
        return finish(raw, keys)

    def tables(
        self, metrics: Sequence[str | Metric], *, by: By = None, period: str | None = None
    ) -> dict[str, pd.DataFrame]:
        """``table`` of each metric, by name; rates of one grain are counted in one pass."""
        return self._tables(metrics, by=by, period=period)

    def _tables(
        self,
        metrics: Sequence[str | Metric],
        *,
        by: By,
        period: str | None,
        span: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    ) -> dict[str, pd.DataFrame]:
        """``tables``, of the rows with ``ts`` in ``span`` (start included, end not) when
        given: a comparison reads its two periods only, not the whole log by period."""
        chosen = [_metric(metric) for metric in metrics]
        out: dict[str, pd.DataFrame] = {}
        for grain in dict.fromkeys(m.grain for m in chosen):
            rates = tuple(m for m in chosen if m.grain == grain and m.kind == RATE)
            if not rates:
                continue
            keys = self._keys(rates[0], by, period)
            for metric in rates[1:]:
                self._keys(metric, by, period)  # each metric's own checks
            bounds = None if span is None else tuple(_naive_utc(t) for t in span)
            raw = self._fetch(
                _rates_of, grain, rates, tuple(keys), period, self._runner.dialect, bounds
            )
            for metric, table in zip(
                rates, _finish.rate_tables(raw, len(rates), keys), strict=True
            ):
                out[metric.name] = table
        for metric in chosen:
            if metric.name not in out:
                out[metric.name] = self.table(metric, by=by, period=period)
        return {metric.name: out[metric.name] for metric in chosen}

    def _keys(self, metric: Metric, by: By, period: str | None) -> list[str]:
        """The group keys; ``ValueError`` for a key the metric's rows cannot be grouped by."""
        columns = as_columns(by)
        check_period(period)
        if PERIOD in columns:
            raise ValueError("'period' is added by period=...; do not pass it in by")
        if metric.grain != CALL and (bad := [c for c in columns if c in _VERIFY_ONLY]):
            raise ValueError(
                f"{metric.name} counts {metric.grain}s, grouped by their initiate row, where "
                f"{', '.join(bad)} is always empty; group verify calls instead "
                "(attempt_success, verify_outcomes, verify_errors)"
            )
        available = self._schema(metric.grain).names
        unknown = [c for c in columns if c not in available or c in _INTERNAL]
        if unknown:
            raise ValueError(f"{metric.name} cannot group by {', '.join(unknown)}: no such column")
        return [*columns, PERIOD] if period else columns

    def compare(
        self,
        metrics: Sequence[str] = COMPARED_METRICS,
        *,
        period: str = "W",
        by: By = None,
        now: datetime | pd.Timestamp | str | None = None,
        include_partial: bool = False,
    ) -> pd.DataFrame:
        """Each rate metric in one current period against the period before, per group.

        A metric that only makes sense per group (availability, per action) is split by its
        own ``by`` as well. See ``_compare.comparison`` for the columns and the tests.
        """
        if period is None:
            raise ValueError("compare needs a period: 'D', 'W' or 'M'")
        check_period(period)
        _, _, last = self.extent()
        last = last if now is None else _utc(pd.Timestamp(now))
        span = compared_span(last, period, include_partial)
        columns = as_columns(by)
        keys: dict[str, list[str]] = {}
        groups = {}
        for name in metrics:
            metric = _metric(name)
            if metric.kind != RATE:
                raise ValueError(f"{name} is not a rate: only rates are compared")
            keys[name] = [*(c for c in metric.by if c not in columns), *columns]
            groups[name] = self._present(metric, keys[name])
        tables: dict[str, pd.DataFrame] = {}
        for grouping in dict.fromkeys(tuple(k) for k in keys.values()):
            alike = [name for name in keys if tuple(keys[name]) == grouping]
            tables |= self._tables(alike, by=list(grouping), period=period, span=span)
        return comparison(
            {name: tables[name] for name in keys},
            groups,
            keys=keys,
            period=period,
            last=last,
            include_partial=include_partial,
        )

    def _present(self, metric: Metric, keys: list[str]) -> pd.DataFrame | None:
        """Every group of ``keys`` present anywhere in the rows kept (None without keys), so
        a comparison has a row for it even where the metric has none; a key only the
        metric's grain has (a session's ``ending``) is read there."""
        if not keys:
            return None
        self._keys(metric, keys, None)  # the metric's own checks
        on_calls = set(keys) <= set(self._schema(CALL).names)
        return self._fetch(_groups_of, CALL if on_calls else metric.grain, tuple(keys))

    def trials(self, metric: str | Metric, *, by: By = None) -> pd.DataFrame:
        """Each row a rate metric counts, in time order: the ``by`` columns, ``ts`` and
        ``success`` (the metric's condition): the trials a Bernoulli CUSUM reads, one a row
        (sessions for conversion, so a big log sends many rows over to pandas)."""
        chosen = _metric(metric)
        if chosen.kind != RATE:
            raise ValueError(f"{chosen.name} is not a rate: only a rate has trials")
        keys = self._keys(chosen, by, None)
        found = self._fetch(_trials_of, chosen.grain, chosen, tuple(keys))
        # Microseconds, as the log's ts, whichever engine answered (Spark's are nanoseconds).
        return found.assign(**{TS: pd.to_datetime(found[TS], utc=True).astype(TS_DTYPE)})

    def verified_sample(self, size: int) -> pd.DataFrame:
        """``attempts`` and ``seconds`` of at most ``size`` verified sessions (for charts).

        Past ``size``, the sample is taken where the sessions are (the ``size`` smallest
        hashes of their session ids: the same sessions every time), so a big log never
        sends every verified session over to pandas."""
        frame = self._fetch(_verified_of, SESSION, int(size)).reset_index(drop=True)
        return frame.astype({_grains.ATTEMPTS: "Int64", _grains.SECONDS: "float64"})

    def close(self) -> None:
        """Drop what this analysis keeps on its engine (its tables, views and the frame it
        registered). A connection of its own goes with the object; one passed in as ``con``
        stays open, and ``close`` keeps it from filling up."""
        while self._kept:
            name, view = self._kept.pop()
            self._runner.drop(name, view=view)
        self.__dict__.pop("_stages", None)
        self.__dict__.pop("_extent", None)
        self.log.release()

    def __enter__(self) -> Analysis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        engine = "Spark" if self.log.is_spark else "DuckDB"
        only = f", {self.filters.describe()}" if self.filters else ""
        return f"Analysis({self.log.where}, on {engine}{only})"


# -- the queries, each a module-level function of its input table and hashable arguments,
# compiled once per process (``_queries.compiled``) -----------------------------------------

_MARKED = "marked"
_ASIDE = "aside"


def _marked_of_read(read: ir.Table) -> ir.Table:
    return _grains.marked(normalise(read))


def _aside_of(rows: ir.Table) -> ir.Table:
    return _grains.set_aside(rows)


def _calls_of(rows: ir.Table) -> ir.Table:
    return _grains.calls(rows)


# Stages read from the marked rows by every query, never kept.
_VIEWS: dict[str, Callable[[ir.Table], ir.Table]] = {CALL: _calls_of, _ASIDE: _aside_of}


def _through(
    rows: ir.Table,
    view: Callable[[ir.Table], ir.Table],
    filters: Filters | None,
    build: Callable[..., ir.Table],
    args: tuple[Hashable, ...],
) -> ir.Table:
    return _filtered(view(rows), filters, build, args)


def _filtered(
    rows: ir.Table,
    filters: Filters | None,
    build: Callable[..., ir.Table],
    args: tuple[Hashable, ...],
) -> ir.Table:
    return build(rows if filters is None else filters.keep(rows), *args)


def _sessions_of(calls: ir.Table, dialect: str) -> ir.Table:
    return _grains.sessions(calls, dialect)


def _logins_of(sessions: ir.Table, gap_us: int, dialect: str) -> ir.Table:
    return _grains.logins(sessions, timedelta(microseconds=gap_us), dialect)


def _set_aside_of(aside: ir.Table) -> ir.Table:
    return aside.group_by(REASON).aggregate(rows=aside.count())


def _extent_of(calls: ir.Table) -> ir.Table:
    return calls.aggregate(n=calls.count(), first=calls[TS].min(), last=calls[TS].max())


def _counts_of(
    grain: ir.Table, metric: Metric, keys: tuple[str, ...], period: str | None, dialect: str
) -> ir.Table:
    return counts(metric, with_period(grain, period, dialect), keys)


def _rates_of(
    grain: ir.Table,
    metrics: tuple[Metric, ...],
    keys: tuple[str, ...],
    period: str | None,
    dialect: str,
    span: tuple[datetime, datetime] | None = None,
) -> ir.Table:
    if span is not None:
        start, end = (ibis.timestamp(t).cast(grain[TS].type()) for t in span)
        grain = grain.filter((grain[TS] >= start) & (grain[TS] < end))
    return rate_counts(metrics, with_period(grain, period, dialect), keys)


def _breakdown_of(
    grain: ir.Table, metric: Metric, keys: tuple[str, ...], period: str | None, dialect: str
) -> ir.Table:
    return breakdown_counts(metric, with_period(grain, period, dialect), keys)


def _groups_of(grain: ir.Table, keys: tuple[str, ...]) -> ir.Table:
    return grain.select(*keys).distinct()


def _rows_of(grain: ir.Table, keys: tuple[str, ...]) -> ir.Table:
    return grain.group_by(list(keys)).aggregate(rows=grain.count())


def _trials_of(grain: ir.Table, metric: Metric, keys: tuple[str, ...]) -> ir.Table:
    rows = grain if metric.rows is None else grain.filter(metric.rows(grain))
    success = metric.value(rows).fill_null(False).name(TRIAL_SUCCESS)
    ordered = rows.order_by([rows[TS], rows[ROW]])
    return ordered.select(*keys, TS, success)


def _verified_of(sessions: ir.Table, size: int) -> ir.Table:
    verified = sessions.filter(sessions[_grains.VERIFIED_SESSION])
    drawn = verified.order_by([verified[SESSION_ID].hash(), verified[ROW]]).limit(size)
    return drawn.select(_grains.ATTEMPTS, _grains.SECONDS)


def _metric(metric: str | Metric) -> Metric:
    if isinstance(metric, Metric):
        return metric
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    return METRICS[metric]


def _naive_utc(stamp: pd.Timestamp) -> datetime:
    """A UTC moment as a naive ``datetime`` (hashable, and the same SQL on every engine)."""
    return stamp.tz_convert("UTC").tz_localize(None).to_pydatetime()


def _utc(stamp: Any) -> pd.Timestamp:
    value = pd.Timestamp(stamp)
    return value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
