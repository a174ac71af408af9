"""The report stage: what the analysis found, for people.

``_summary`` declares the tables a report holds and computes them with any metric engine;
``_html`` renders them as one self-contained HTML page (``build``, ``write``); ``_text`` as a
few lines for a terminal (``summary``, the ``verigator-nb report`` command); ``plots`` draws
the charts both use.

::

    from verigator_nb import report
    report.write(df, "report.html")    # a frame, a log file or a Parquet dataset folder
    print(report.summary(df))
"""

from __future__ import annotations

from verigator_nb.report import plots
from verigator_nb.report._html import Source, build, definitions, tables, write
from verigator_nb.report._summary import TABLES, SummaryTables, TableSpec, summary_tables
from verigator_nb.report._text import report_command, summary

__all__ = [
    "TABLES",
    "Source",
    "SummaryTables",
    "TableSpec",
    "build",
    "definitions",
    "plots",
    "report_command",
    "summary",
    "summary_tables",
    "tables",
    "write",
]
