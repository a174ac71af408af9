"""How the report writes numbers for people, shared by the HTML page and the text summary."""

from __future__ import annotations

import pandas as pd

__all__ = ["percent"]


def percent(value: object) -> str:
    """A rate as ``"12.3%"``; a missing one as ``"–"``."""
    return "–" if pd.isna(value) else f"{float(value):.1%}"  # type: ignore[arg-type]
