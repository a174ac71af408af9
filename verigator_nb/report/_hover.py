"""Hover texts that travel with a figure: ``plots`` attaches one text per drawn point or bar
to the artist that draws them, and the HTML report turns them into SVG ``<title>`` tooltips.

The texts ride on the artist itself (its gid names its SVG group), so a figure carries them
wherever it goes and nothing global has to be cleaned up.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.artist import Artist
from matplotlib.figure import Figure

__all__ = ["attach", "attached"]

_TEXTS = "_verigator_hover_texts"


def attach(artist: Artist, texts: Sequence[str]) -> None:
    """Give ``artist`` one hover text per marker it draws (a line's finite points in order)
    or one text for the whole artist (a bar)."""
    artist.set_gid(f"hover-{id(artist):x}")
    setattr(artist, _TEXTS, [str(text) for text in texts])


def attached(figure: Figure) -> dict[str, list[str]]:
    """The hover texts of ``figure``'s artists by their gid; empty when it has none."""
    found = figure.findobj(lambda artist: hasattr(artist, _TEXTS))
    return {str(artist.get_gid()): list(getattr(artist, _TEXTS)) for artist in found}
