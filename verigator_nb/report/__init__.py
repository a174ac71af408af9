"""The report stage: what the analysis found, for people.

``_summary`` declares the tables a report holds and computes them with any metric engine;
``_html`` renders them as one self-contained HTML page (``build``, ``write``); ``_text`` as a
few lines for a terminal (``summary``, the ``verigator-nb report`` command); ``plots`` draws
the charts both use; ``_spreadsheets`` writes the tables for spreadsheets (``write_xlsx``,
``write_csv``).

::

    from verigator_nb import report
    report.write(df, "report.html")    # a frame, a log file or a Parquet dataset folder
    report.write_xlsx(df, "report.xlsx")  # every table a sheet, and the definitions
    print(report.summary(df))
"""

from __future__ import annotations

from verigator_nb.report import plots
from verigator_nb.report._html import Source, build, definitions, tables, write
from verigator_nb.report._spreadsheets import spreadsheet_safe, write_csv, write_xlsx
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
    "spreadsheet_safe",
    "summary",
    "summary_tables",
    "tables",
    "write",
    "write_csv",
    "write_xlsx",
]
