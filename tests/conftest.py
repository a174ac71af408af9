"""Shared fixtures: a fresh seeded sandbox per test, served over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from verigator_nb.sandbox import Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A ``Sandbox(seed=7)`` running on a free port for one test, stopped afterwards."""
    with Sandbox(seed=7) as running:
        yield running


@pytest.fixture
def sandbox_url(sandbox: Sandbox) -> str:
    """The base URL of the ``sandbox`` fixture, e.g. ``http://127.0.0.1:54321``."""
    return sandbox.url
