"""Shared by the benchmarks: time a call many times and take medians."""

from __future__ import annotations

import time
from collections.abc import Callable


def time_calls(call: Callable[[], object], calls: int) -> list[float]:
    """Seconds taken by each of ``calls`` calls of ``call``."""
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples
