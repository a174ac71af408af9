"""The client stage: ``Api`` and the parts it is built from.

``Api`` (``_api``) holds one ``Transport`` (``_transport``: pooled HTTP, timeouts, safe retries,
typed errors) and one ``Recorder`` (``_recorder``: each initiate and verify call as an
outcome-log row), and hands both to its namespaces: ``Services`` and ``Users``
(``_resources``) and ``Auth`` (``_auth``). ``_args`` checks arguments before anything is sent.
"""

from __future__ import annotations

from verigator_nb.client._api import DEFAULT_ENDPOINT, Api
from verigator_nb.client._recorder import RowSink
from verigator_nb.client._transport import DEFAULT_TIMEOUT, Timeout

__all__ = ["DEFAULT_ENDPOINT", "DEFAULT_TIMEOUT", "Api", "RowSink", "Timeout"]
