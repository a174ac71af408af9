"""``python -m verigator_nb``: the ``verigator-nb`` command line."""

from __future__ import annotations

from verigator_nb.cli import main

raise SystemExit(main())
