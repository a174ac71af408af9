"""Figures the reliability tests measure (cases tried, examples run, throughput).

Each test records what it measured under a name; the figures land in
``tests/artifacts/reliability-figures.json`` (ignored by git) and on stdout (``pytest -s``),
so ``docs/reliability.md`` can be refreshed from one run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIGURES = Path(__file__).parent / "artifacts" / "reliability-figures.json"


def record(name: str, value: Any) -> None:
    """Store ``value`` under ``name`` (replacing an earlier run's) and print it."""
    FIGURES.parent.mkdir(exist_ok=True)
    try:
        figures = json.loads(FIGURES.read_text())
    except (OSError, ValueError):
        figures = {}
    figures[name] = value
    FIGURES.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"[figure] {name}: {json.dumps(value, sort_keys=True)}")
