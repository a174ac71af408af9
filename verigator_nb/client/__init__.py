"""The client stage: ``Api`` and the parts it is built from.

``Api`` (``_api``) holds one ``Transport`` (``_transport``: JSON calls under a ``Timeout`` with
a deadline per call, capped answers, no redirects, typed errors; over ``_wire``: the pooled
session, safe retries and deadline-bound reads) and one ``Recorder`` (``_recorder``: each
initiate and verify call as an outcome-log row), and hands both to its namespaces:
``Services`` and ``Users`` (``_resources``) and ``Auth`` (``_auth``). ``_args`` checks
arguments before anything is sent.
"""

from __future__ import annotations

from verigator_nb.client._api import DEFAULT_ENDPOINT, Api
from verigator_nb.client._recorder import RowSink
from verigator_nb.client._transport import DEFAULT_TIMEOUT, Timeout

__all__ = ["DEFAULT_ENDPOINT", "DEFAULT_TIMEOUT", "Api", "RowSink", "Timeout"]
