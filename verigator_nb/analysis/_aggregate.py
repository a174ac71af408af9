"""A metric's counts per group, as one Ibis aggregation over its grain's table.

``counts(metric, table, keys)`` is the only place a metric's ``rows`` and ``value`` meet a
``group_by``; what comes back is a few numbers per group (counts, sums, quantiles), which
``_finish`` turns into the metric's table. Periods are added here as a ``period`` key: the
UTC start of the row's day, ISO week (Monday) or month.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import ibis
import ibis.expr.types as ir

from verigator_nb.analysis._epoch import period_start
from verigator_nb.analysis._registry import (
    BREAKDOWN,
    DISTRIBUTION,
    FUNNEL_STAGES,
    RATE,
    RATIO,
    STAGES,
    Metric,
    funnel_flags,
)
from verigator_nb.analysis._stats import QUANTILES
from verigator_nb.schema import TS

__all__ = ["PERIOD", "PERIODS", "PERIOD_NAMES", "check_period", "counts", "with_period"]

PERIOD: Final = "period"  # not a log column: the key periods add
# The calendar periods, by the code every ``period=`` takes, with the word people read.
PERIOD_NAMES: Final[Mapping[str, str]] = {"D": "day", "W": "week", "M": "month"}
PERIODS: Final = tuple(PERIOD_NAMES)


def check_period(period: str | None) -> None:
    """Raise ``ValueError`` unless ``period`` is None, "D", "W" or "M"."""
    if period is not None and period not in PERIODS:
        raise ValueError(f"period must be None, 'D', 'W' or 'M', not {period!r}")


def with_period(table: ir.Table, period: str | None, dialect: str | None) -> ir.Table:
    """``table`` with ``period``, the start of its row's period, when one is asked for
    (``dialect``: the engine's, for its fastest way there, ``_epoch.period_start``)."""
    if period is None:
        return table
    return table.mutate(**{PERIOD: period_start(table[TS], period, dialect)})


def counts(metric: Metric, table: ir.Table, keys: Sequence[str]) -> ir.Table:
    """The numbers ``_finish`` needs for ``metric``, per ``keys`` (a table of a few rows).

    rate: ``n``, ``successes``; distribution: ``n``, ``mean`` and the quantiles; breakdown:
    ``n`` per group and category (see ``breakdown_counts``); ratio: ``numerator``,
    ``denominator``; stages: one count per stage.
    """
    rows = table if metric.rows is None else table.filter(metric.rows(table))
    if metric.kind == RATE:
        hits = rows.count(where=metric.value(rows).fill_null(False))
        return _grouped(rows, keys, n=rows.count(), successes=hits)
    if metric.kind == DISTRIBUTION:
        # All quantiles in one aggregate: one copy of the values held, one sort, not three.
        value = metric.value(rows).cast("float64")
        grouped = _grouped(
            rows,
            keys,
            n=value.count(),
            mean=value.mean(),
            _q=value.quantile(list(QUANTILES.values())),
        )
        picked = {name: grouped._q[i] for i, name in enumerate(QUANTILES)}
        return grouped.mutate(**picked).drop("_q")
    if metric.kind == RATIO:
        assert metric.counted is not None
        numerator = metric.value(rows).cast("int64").fill_null(0).sum()
        denominator = rows.count(where=metric.counted(rows).fill_null(False))
        return _grouped(rows, keys, numerator=numerator, denominator=denominator)
    if metric.kind == STAGES:
        flags = {
            stage: rows.count(where=flag.fill_null(False))
            for stage, flag in funnel_flags(rows).items()
        }
        return _grouped(rows, keys, **{FUNNEL_STAGES[0]: rows.count()}, **flags)
    raise ValueError(f"{metric.name} is a {metric.kind}: use breakdown_counts")


def rate_counts(metrics: Sequence[Metric], table: ir.Table, keys: Sequence[str]) -> ir.Table:
    """Several rates of one grain in one pass: ``n_<i>`` and ``successes_<i>`` for the i-th.

    Each metric's ``rows`` becomes a condition instead of a filter, so a group appears when
    any of the metrics has rows in it; ``_finish.rate_tables`` drops a metric's groups without.
    Counted with ``count(where=...)``, not sums of flags: DuckDB sums into a 128-bit
    integer, which reaches pandas as ``Decimal`` objects, slow to turn into counts.
    """
    columns: dict[str, ir.Scalar] = {}
    for index, metric in enumerate(metrics):
        hit = metric.value(table).fill_null(False)
        if metric.rows is None:
            columns[f"n_{index}"] = table.count()
        else:
            rows = metric.rows(table).fill_null(False)
            columns[f"n_{index}"] = table.count(where=rows)
            hit = rows & hit
        columns[f"successes_{index}"] = table.count(where=hit)
    return _grouped(table, keys, **columns)


def breakdown_counts(metric: Metric, table: ir.Table, keys: Sequence[str]) -> ir.Table:
    """A breakdown's rows counted (``n``) per group, ``_counted`` (whether they count under
    a category: rows that do not count in the group's total only) and ``_category``: one
    query, the totals summed from it (``_finish.breakdown_table``)."""
    assert metric.kind == BREAKDOWN
    rows = table if metric.rows is None else table.filter(metric.rows(table))
    counted = ibis.literal(True) if metric.counted is None else metric.counted(rows)
    counted = counted.fill_null(False)
    named = rows.mutate(
        _counted=counted,
        _category=ibis.ifelse(counted, metric.value(rows), ibis.null("string")),
    )
    return named.group_by([*keys, "_counted", "_category"]).aggregate(n=named.count())


def _grouped(rows: ir.Table, keys: Sequence[str], **metrics: ir.Scalar) -> ir.Table:
    if not keys:
        return rows.aggregate(**metrics)
    return rows.group_by(list(keys)).aggregate(**metrics)


def distinct_groups(table: ir.Table, keys: Sequence[str]) -> ir.Table:
    """Every combination of ``keys`` present in ``table``."""
    return table.select(*keys).distinct()


def literal_period(start: object) -> ir.Value:
    """A period start as a UTC timestamp literal (for filtering on ``period``)."""
    return ibis.timestamp(start).cast("timestamp('UTC')")
