"""Import cost is a feature: the client alone loads neither pandas nor the sandbox server, and
the heavy parts load when first used."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pandas", "numpy", "matplotlib", "duckdb", "ibis", "ipywidgets", "http.server")
# Statements run one after another in one fresh interpreter; each step's new modules are kept.
STEPS = {
    "package": "import verigator_nb",
    "OutcomeLog": "from verigator_nb import OutcomeLog",
    "widgets": "import verigator_nb.widgets",
    "Sandbox": "from verigator_nb import Sandbox",
    "scale": "from verigator_nb import scale",
    "plots": "from verigator_nb import plots",
}
CHILD = """
import json, sys
steps, loaded = {}, set(sys.modules)
for name, statement in json.loads(sys.argv[1]).items():
    exec(statement)
    steps[name] = sorted(set(sys.modules) - loaded)
    loaded = set(sys.modules)
print(json.dumps(steps))
"""


def _new_modules(steps: dict[str, str]) -> dict[str, set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(steps)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return {name: set(modules) for name, modules in json.loads(out.stdout).items()}


def test_the_client_loads_no_heavy_module() -> None:
    loaded = _new_modules({"client": "from verigator_nb import Api, VerigatorError, errors"})
    assert not [name for name in HEAVY if name in loaded["client"]]
    assert not [name for name in loaded["client"] if name.startswith("verigator_nb.sandbox")]


def test_heavy_parts_load_on_first_use_and_the_widgets_need_no_server() -> None:
    loaded = _new_modules(STEPS)
    assert not [name for name in HEAVY if name in loaded["package"]]
    assert "verigator_nb.sandbox._server" not in loaded["widgets"]
    assert "pandas" in loaded["OutcomeLog"]
    assert "verigator_nb.sandbox._server" in loaded["Sandbox"]
    assert "ibis" in loaded["scale"]  # DuckDB itself loads with the first connection
    assert "matplotlib" in loaded["plots"]
