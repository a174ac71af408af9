"""The client stage: ``Api`` and the parts it is built from.

``Api`` (``_api``) holds one ``Transport`` (``_transport``: JSON calls under a ``Timeout`` with
a deadline per call, capped answers, no redirects, typed errors; over ``_wire``: the pooled
session, safe retries and deadline-bound reads) and one ``Recorder`` (``_recorder``: each
initiate and verify call as an outcome-log row), and hands both to its namespaces:
``Services`` and ``Users`` (``_resources``) and ``Auth`` (``_auth``). ``_args`` checks
arguments before anything is sent. ``_official`` records an application that calls the
official client instead (``verigator_nb.record``; loaded on first use).

A transport standing in for the network (the sandbox's in-process adapter) uses the seam
below, never the underscore modules: ``retry_policy`` (what the client's session retries),
``Prepared`` (a call prepared as the client prepares it), ``decode_answer`` and
``MAX_ANSWER_BYTES`` (how the client reads an answer, and how much of one).
"""

from __future__ import annotations

from verigator_nb.client._api import DEFAULT_ENDPOINT, Api
from verigator_nb.client._prepare import Prepared
from verigator_nb.client._recorder import RowSink
from verigator_nb.client._transport import (
    DEFAULT_TIMEOUT,
    MAX_ANSWER_BYTES,
    Timeout,
    decode_answer,
)
from verigator_nb.client._wire import retry_policy

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_TIMEOUT",
    "MAX_ANSWER_BYTES",
    "Api",
    "Prepared",
    "RowSink",
    "Timeout",
    "decode_answer",
    "retry_policy",
]
