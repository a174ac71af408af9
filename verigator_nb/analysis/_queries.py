"""Ibis expressions compiled to SQL once per process, then run by name on any log.

Compiling an Ibis expression costs more than running it on a small log (about 15 ms
against 3 ms here), and a report asks for some fifty. Every query of the metrics depends
only on the shape of its inputs (the grain tables' schemas, fixed by ``_source`` and
``_grains``), on the metric and on the grouping, never on the data: so it is compiled once,
against placeholder tables, and bound to each log's tables by name (``Query.bind``).

``Runner`` runs SQL where the log lives: DuckDB in process, or a Spark session.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import ibis
import ibis.expr.schema as sch
import ibis.expr.types as ir
import pandas as pd

__all__ = ["DuckRunner", "Query", "Runner", "SparkRunner", "compiled"]

_PLACEHOLDER = "verigator_input_{}_placeholder"
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Query:
    """SQL over placeholder tables, and the schema of what it returns."""

    sql: str
    schema: sch.Schema

    def bind(self, *names: str) -> str:
        """The SQL reading the tables ``names`` (in the order the query's inputs were given)."""
        sql = self.sql
        for index, name in enumerate(names):
            if not _NAME.fullmatch(name):
                raise ValueError(f"not a plain table name: {name!r}")
            sql = sql.replace(_PLACEHOLDER.format(index), name)
        return sql


@lru_cache(maxsize=2048)
def compiled(
    build: Callable[..., ir.Table],
    inputs: tuple[sch.Schema, ...],
    dialect: str,
    args: tuple[Hashable, ...] = (),
) -> Query:
    """``build(*tables, *args)`` compiled for ``dialect``, over tables of schemas ``inputs``.

    ``build`` must be a module-level function (it is part of the cache key) whose result
    depends only on its arguments.
    """
    tables = [ibis.table(schema, name=_PLACEHOLDER.format(i)) for i, schema in enumerate(inputs)]
    expr = build(*tables, *args)
    return Query(str(ibis.to_sql(expr, dialect=dialect)), expr.schema())


class Runner(Protocol):
    """Where the SQL runs: keeps named tables and answers queries as DataFrames."""

    dialect: str

    def keep(self, name: str, sql: str, *, view: bool = False) -> None:
        """Compute ``sql`` once and keep it as ``name`` (``view``: only name it)."""

    def fetch(self, sql: str) -> pd.DataFrame:
        """The answer to ``sql``, a small frame."""

    def drop(self, name: str, *, view: bool = False) -> None:
        """Forget what ``keep`` kept as ``name``."""


class DuckRunner:
    """SQL on a DuckDB connection (the Ibis backend's ``.con``): temporary tables."""

    dialect = "duckdb"

    def __init__(self, backend: Any) -> None:
        self._con = backend.con

    def keep(self, name: str, sql: str, *, view: bool = False) -> None:
        kind = "VIEW" if view else "TABLE"
        self._con.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS {sql}")

    def fetch(self, sql: str) -> pd.DataFrame:
        # Through Arrow: DuckDB's own .df() calls a pandas API that pandas 3 deprecates.
        return self._con.execute(sql).to_arrow_table().to_pandas()

    def drop(self, name: str, *, view: bool = False) -> None:
        self._con.execute(f"DROP {'VIEW' if view else 'TABLE'} IF EXISTS {name}")


class SparkRunner:
    """SQL on a Spark session: temporary views, cached where kept."""

    dialect = "pyspark"

    def __init__(self, backend: Any) -> None:
        self._session = backend._session

    def keep(self, name: str, sql: str, *, view: bool = False) -> None:
        frame = self._session.sql(sql)
        (frame if view else frame.cache()).createOrReplaceTempView(name)

    def fetch(self, sql: str) -> pd.DataFrame:
        return self._session.sql(sql).toPandas()

    def drop(self, name: str, *, view: bool = False) -> None:
        if not view:
            self._session.catalog.uncacheTable(name)
        self._session.catalog.dropTempView(name)
