"""Clicks from the page, told from clicks in code, and a double click taken once.

A person's double click sends two click messages; the kernel runs the second as soon as the
first is answered, before the page could show that it was. ``PageButton`` says whether the
click it runs came from the page; ``DoubleClicks`` drops such a click when the same action
ended less than ``DOUBLE_CLICK`` seconds ago. A click in code (``button.click()`` in a
notebook cell or a test) is always taken: a cell clicking twice means twice.
"""

from __future__ import annotations

import time
from typing import Any, Final

import ipywidgets as widgets

__all__ = ["DOUBLE_CLICK", "DoubleClicks", "PageButton"]

DOUBLE_CLICK: Final = 0.4  # seconds: a click from the page this soon after the same action


class PageButton(widgets.Button):
    """A button that knows whether the click it runs came from the page (``from_page``)."""

    from_page = False

    def _handle_button_msg(self, _: Any, content: dict[str, Any], buffers: Any) -> None:
        if content.get("event", "") == "click":
            self.from_page = True
            try:
                self.click()
            finally:
                self.from_page = False


class DoubleClicks:
    """Remembers the latest action and when it ended; ``repeated`` says whether a press from
    the page is the second half of a double click on it."""

    def __init__(self) -> None:
        self._last: tuple[str, float] = ("", -DOUBLE_CLICK)

    def repeated(self, name: str, *, from_page: bool) -> bool:
        last, ended = self._last
        return from_page and last == name and time.monotonic() - ended < DOUBLE_CLICK

    def ended(self, name: str, *, from_page: bool) -> None:
        """``name`` ended now; only a press from the page can have a second half."""
        self._last = (name, time.monotonic()) if from_page else ("", -DOUBLE_CLICK)
