"""Each fact once: the outcome log's column names and the protocol's words are spelled in one
module each (``verigator_nb.schema``, ``verigator_nb.models``); the rest of the package imports
them. A literal that happens to equal one but means something else carries a
``# not a column`` comment on its line saying what it is."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from verigator_nb.models import METHODS, RESULTS
from verigator_nb.schema import ACTIONS, COLUMN_NAMES

PACKAGE = Path(__file__).parents[1] / "verigator_nb"
# Where each kind of word is defined; everywhere else must import it.
HOMES = {"schema.py", "models.py"}
# The stages whose code reads and writes outcome-log rows (the client's wire format and the
# sandbox's JSON speak the API's field names, which only look like column names).
ROW_STAGES = ("log", "analysis", "report", "widgets", "importers", "client/_recorder.py")
WORDS = set(METHODS) | set(RESULTS)
MARK = "# not a column"


def _docstrings(tree: ast.AST) -> set[int]:
    nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, nodes) and node.body and isinstance(node.body[0], ast.Expr):
            value = node.body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
    return found


def _literals(path: Path, words: set[str]) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    skip = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in skip or node.value not in words:
            continue
        if MARK not in lines[node.lineno - 1]:
            hits.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}")
    return hits


def _modules(selection: tuple[str, ...] | None = None) -> list[Path]:
    paths = sorted(PACKAGE.rglob("*.py"))
    if selection is not None:
        paths = [p for p in paths if str(p.relative_to(PACKAGE)).startswith(selection)]
    return [p for p in paths if str(p.relative_to(PACKAGE)) not in HOMES]


def test_methods_and_results_are_spelled_only_in_models() -> None:
    hits = [hit for path in _modules() for hit in _literals(path, WORDS)]
    assert not hits, "import these from verigator_nb.models:\n" + "\n".join(hits)


def test_column_names_and_actions_are_spelled_only_in_the_schema() -> None:
    words = set(COLUMN_NAMES) | set(ACTIONS)
    hits = [hit for path in _modules(ROW_STAGES) for hit in _literals(path, words)]
    assert not hits, "import these from verigator_nb.schema:\n" + "\n".join(hits)


@pytest.mark.parametrize("word", ["method", "VERIFIED"])
def test_the_check_finds_a_literal_spelled_out(tmp_path, word, monkeypatch) -> None:
    planted = PACKAGE / "analysis" / "_planted_for_test.py"
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    planted.write_text(f'"""Docstring {word!r} is fine."""\n\nX = {word!r}\n')
    try:
        words = set(COLUMN_NAMES) | WORDS
        assert _literals(planted, words) == [f"analysis/_planted_for_test.py:3: {word!r}"]
    finally:
        planted.unlink()
