"""Routes as faults and stats write them, parsed once and matched without backtracking.

A route is ``"*"``, an operation's name (or alias) from ``_operations``, or ``"METHOD /path"``
(METHOD may be ``*``). A path route is split on ``/`` and compared segment by segment; within
a segment ``*`` matches any run of characters but ``/``. Each segment's pattern is kept as the
literal pieces between its stars: the first must start the segment, the last must end it, and
the ones between are found left to right with ``str.find`` — the leftmost place is always as
good as any later one, so nothing is ever retried and a match costs time linear in the path
(a regex of ``[^/]*`` groups backtracked for minutes on ``/*a*a*...*b`` against a long path).
Routes are at most ``MAX_ROUTE`` characters.

For the traffic count, which keeps calls per operation rather than per path, ``covered``
says which operations a route takes in whole; a path route naming part of an operation (a
concrete id where the template has a parameter) cannot be counted and is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_ROUTE", "Selector"]

MAX_ROUTE: Final = 256  # characters; the longest real route, with two ids in it, is ~110


def _glob(pieces: tuple[str, ...], text: str) -> bool:
    """True when ``text`` matches the segment pattern whose star-separated pieces these are."""
    if len(pieces) == 1:
        return text == pieces[0]
    first, last = pieces[0], pieces[-1]
    end = len(text) - len(last)
    if end < len(first) or not (text.startswith(first) and text.endswith(last)):
        return False
    at = len(first)
    for piece in pieces[1:-1]:
        found = text.find(piece, at, end)
        if found < 0:
            return False
        at = found + len(piece)
    return True


def _stars_only(pieces: tuple[str, ...]) -> bool:
    return len(pieces) > 1 and not any(pieces)


@dataclass(frozen=True)
class Selector:
    """A parsed route: the calls it names, by method, path segments or operation name."""

    method: str | None = None  # None: any method
    segments: tuple[tuple[str, ...], ...] | None = None  # None: any path
    operation: str | None = None

    @classmethod
    def parse(cls, route: object) -> Selector:
        """Parse a route; ``ValueError`` with one sentence naming what is wrong."""
        if not isinstance(route, str) or not route:
            raise ValueError("route must be '*', an operation name or 'METHOD /path'")
        if len(route) > MAX_ROUTE:
            raise ValueError(f"route must be at most {MAX_ROUTE} characters")
        if route == "*":
            return cls()
        if " " in route:
            method, _, path = route.partition(" ")
            if not path.startswith("/") or not (method == "*" or method.isalpha()):
                raise ValueError("a route with a space must be 'METHOD /path' (METHOD may be '*')")
            segments = tuple(tuple(segment.split("*")) for segment in path.split("/"))
            return cls(None if method == "*" else method.upper(), segments)
        # Imported here, not at the top: the operation table holds the fault controls' handlers,
        # which build Faults, so a top-level import would be circular.
        from verigator_nb.sandbox._operations import routable_name

        return cls(operation=routable_name(route))

    def matches(self, method: str, path: str, operation: Callable[[], str | None]) -> bool:
        """True when the route names ``method path`` (no query); ``operation()`` resolves it."""
        if self.method is not None and self.method != method:
            return False
        if self.segments is not None and not self._path_matches(path):
            return False
        return self.operation is None or self.operation == operation()

    def _path_matches(self, path: str) -> bool:
        segments = self.segments or ()
        if path.count("/") + 1 != len(segments):  # counted before anything is split
            return False
        return all(map(_glob, segments, path.split("/")))

    def covered(self) -> frozenset[str] | None:
        """The operations whose every call this route names; None for ``*`` (all, unrouted too).

        A path route counts the operations whose method and template it matches, a ``*``
        segment taking a whole parameter; calls no operation answers are counted only by
        ``*``. ``ValueError`` for a path route naming part of an operation's calls.
        """
        if self.segments is None:
            return None if self.operation is None else frozenset({self.operation})
        from verigator_nb.sandbox._operations import OPERATIONS, PATH_PARAM

        names = set()
        for op in OPERATIONS:
            template = op.path.split("/")
            if op.control or (self.method or op.method) != op.method:
                continue
            if len(template) != len(self.segments):
                continue
            if not all(
                PATH_PARAM.search(part) or _glob(pieces, part)
                for pieces, part in zip(self.segments, template, strict=True)
            ):
                continue
            if not all(
                _stars_only(pieces)
                for pieces, part in zip(self.segments, template, strict=True)
                if PATH_PARAM.search(part)
            ):
                raise ValueError(
                    "a route counted by stats must cover whole operations: write each path "
                    "parameter as *"
                )
            names.add(op.name)
        return frozenset(names)
