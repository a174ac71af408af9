"""What an import can refuse, and why: one base class, one subclass per kind of problem.

::

    ValueError
     ├── ImportFormatError       the source is not the format it was given as
     │    └── MissingFieldsError  ... because fields the mapping needs are missing
     └── MappingError            a column mapping (``--map``) that cannot be used

Messages name the source, the record or line, the field and what was expected — never a
value, which could be a phone number or a secret.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ImportFormatError", "MappingError", "MissingFieldsError"]


class ImportFormatError(ValueError):
    """A source that is not the format it was given as; ``source`` and ``position`` say where."""

    def __init__(self, source: str, position: str | None, reason: str) -> None:
        where = f"{source}, {position}" if position else source
        super().__init__(f"{where}: {reason}")
        self.source = source
        self.position = position
        self.reason = reason


class MissingFieldsError(ImportFormatError):
    """A source (or one of its records) without fields the importer needs; ``missing`` names
    them, in the importer's documented spelling."""

    def __init__(self, source: str, position: str | None, missing: Iterable[str]) -> None:
        self.missing = tuple(missing)
        names = ", ".join(repr(name) for name in self.missing)
        super().__init__(source, position, f"missing field(s) {names}")


class MappingError(ValueError):
    """A column mapping that cannot be used: an unknown column, a column mapped twice, or a
    column the log needs left unmapped."""
