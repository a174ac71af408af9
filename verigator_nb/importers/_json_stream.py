"""The objects of one JSON list, read a piece at a time: a 1M-attempt export never sits in
memory whole (``json.load`` of one takes 2.5 GB).

``records(path, key)`` yields each item of the file's list: the file is the list itself, or
an object holding it under ``key`` (an API list page: ``{"attempts": [...], "meta": {...}}``,
its keys in any order). Each item is decoded by ``json``'s own decoder, so it is exactly
what ``json.load`` would give; the other keys of a page are decoded and dropped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import IO, Any

from verigator_nb.importers._errors import ImportFormatError, MissingFieldsError

__all__ = ["records"]

_CHUNK = 1 << 20
_ITEM_LIMIT = 64 << 20  # one item past this is not an export's record: refuse, never buffer on
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


class _Malformed(Exception):
    """The text is not the JSON expected; turned into an ``ImportFormatError`` by ``records``."""


class _Reader:
    """A window on a text file: decode one JSON value at a time, reading more as needed."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._text = ""
        self._at = 0
        self._eof = False

    def _more(self, least: int = _CHUNK) -> bool:
        if self._eof:
            return False
        data = self._stream.read(max(least, _CHUNK))
        if not data:
            self._eof = True
            return False
        self._text = self._text[self._at :] + data
        self._at = 0
        return True

    def peek(self) -> str:
        """The next character that is not white space ("" at the end of the file)."""
        while True:
            self._at = _SPACE.match(self._text, self._at).end()  # type: ignore[union-attr]
            if self._at < len(self._text) or not self._more():
                return self._text[self._at : self._at + 1]

    def take(self, char: str) -> None:
        if self.peek() != char:
            raise _Malformed(f"expected {char!r}")
        self._at += 1

    def value(self) -> Any:
        """The next JSON value, decoded."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._text, self._at)
            except json.JSONDecodeError as exc:
                if len(self._text) - self._at > _ITEM_LIMIT:
                    raise _Malformed(f"a value larger than {_ITEM_LIMIT >> 20} MiB") from None
                # Read as much again as is buffered, so a long value costs linear time.
                if self._more(len(self._text) - self._at):
                    continue
                raise _Malformed(f"not JSON ({exc.msg})") from None
            # A number that ends the buffer may go on in the next piece of the file.
            if end == len(self._text) and self._more():
                continue
            self._at = end
            return value

    def items(self) -> Iterator[Any]:
        """The items of the list that starts here."""
        self.take("[")
        if self.peek() == "]":
            self._at += 1
            return
        while True:
            yield self.value()
            following = self.peek()
            self._at += 1
            if following == "]":
                return
            if following != ",":
                raise _Malformed("expected ',' or ']' after an item")


def _walk(reader: _Reader, key: str) -> Iterator[Any]:
    first = reader.peek()
    if first == "[":
        yield from reader.items()
    elif first == "{":
        yield from _page(reader, key)
    else:
        raise _Malformed("neither a JSON list nor a JSON object")
    if reader.peek():
        raise _Malformed("more text after the JSON value")


def _page(reader: _Reader, key: str) -> Iterator[Any]:
    reader.take("{")
    found = False
    if reader.peek() != "}":
        while True:
            name = reader.value()
            if not isinstance(name, str):
                raise _Malformed("an object key that is not a string")
            reader.take(":")
            if name == key:
                found = True
                yield from reader.items()
            else:
                reader.value()
            if reader.peek() != ",":
                break
            reader.take(",")
    reader.take("}")
    if not found:
        raise _NoKey


class _NoKey(Exception):
    """The page has no list under the key."""


def records(path: str | os.PathLike[str], key: str) -> Iterator[Any]:
    """Each item of the JSON list at ``path`` (the list itself, or an object with it under
    ``key``). ``ImportFormatError`` when the file is not such JSON; ``MissingFieldsError``
    when the object has no ``key``; ``OSError`` when it cannot be read."""
    source = os.fspath(path)
    with open(path, encoding="utf-8") as stream:
        try:
            yield from _walk(_Reader(stream), key)
        except _Malformed as exc:
            raise ImportFormatError(source, None, str(exc)) from None
        except _NoKey:
            raise MissingFieldsError(source, None, [key]) from None
        except UnicodeDecodeError:
            raise ImportFormatError(source, None, "not UTF-8 text") from None
