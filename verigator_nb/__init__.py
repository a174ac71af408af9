"""verigator_nb: explore the Verigator two-factor API in notebooks; report how verification works.

The data's way, one package per stage, each a hop from here::

    client/    Api: transport, auth, resources, argument checks, the recorder of rows
    log/       OutcomeLog: every call as a row, durable on disk
    analysis/  metrics over the log (pandas; DuckDB at scale in analysis.scale)
    report/    the HTML report, the text summary, the plots
    sandbox/   the local emulator of the API;   widgets/   the notebook forms

and the shared vocabulary beside them: ``models`` (the protocol's words and result types),
``schema`` (the outcome log's columns), ``errors`` (the exception tree); ``simulate``, ``demo``
and ``cli`` put the stages to work.

Re-exported here: ``Api``, ``DEFAULT_ENDPOINT``, the result types, ``METHOD_TOTP`` and
``METHOD_SMS``, ``VerigatorError`` and ``errors``. ``OutcomeLog``, ``record`` (an application
on the official client, recorded: ``client._official``), ``Sandbox``, ``SandboxControl`` and
the modules ``analysis``, ``plots``, ``report``, ``scale``, ``simulate`` and ``widgets`` are
imported on first use: they pull in pandas, matplotlib, DuckDB, the HTTP server and
ipywidgets, which a plain client does not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from verigator_nb import errors
from verigator_nb.client import DEFAULT_ENDPOINT, Api
from verigator_nb.errors import VerigatorError
from verigator_nb.models import METHOD_SMS, METHOD_TOTP, Initiation, Service, User, Verification

if TYPE_CHECKING:
    from verigator_nb import analysis, report, simulate, widgets
    from verigator_nb.analysis import scale
    from verigator_nb.client._official import record
    from verigator_nb.log import OutcomeLog
    from verigator_nb.report import plots
    from verigator_nb.sandbox import Sandbox, SandboxControl

__all__ = [
    "DEFAULT_ENDPOINT",
    "METHOD_SMS",
    "METHOD_TOTP",
    "Api",
    "Initiation",
    "OutcomeLog",
    "Sandbox",
    "SandboxControl",
    "Service",
    "User",
    "Verification",
    "VerigatorError",
    "analysis",
    "errors",
    "plots",
    "record",
    "report",
    "scale",
    "simulate",
    "widgets",
]

# Name -> (module, attribute or None for the module itself), loaded on first use.
_LAZY: dict[str, tuple[str, str | None]] = {
    "OutcomeLog": ("verigator_nb.log", "OutcomeLog"),
    "Sandbox": ("verigator_nb.sandbox", "Sandbox"),
    "SandboxControl": ("verigator_nb.sandbox", "SandboxControl"),
    "analysis": ("verigator_nb.analysis", None),
    "plots": ("verigator_nb.report.plots", None),
    "record": ("verigator_nb.client._official", "record"),
    "report": ("verigator_nb.report", None),
    "scale": ("verigator_nb.analysis.scale", None),
    "simulate": ("verigator_nb.simulate", None),
    "widgets": ("verigator_nb.widgets", None),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'verigator_nb' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
