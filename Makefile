# verigator_nb: `make demo` and `make test` each set themselves up (venv, install) and run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make demo` needs only the project itself; `make test` adds the dev and spark extras.
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.installed-test-stamp

.PHONY: demo test lint install clean

demo: $(STAMP)
	$(BIN)/verigator-nb demo

# Two workers (pytest-xdist); --dist loadfile keeps each file, and so each notebook's cells,
# in one worker and in order.
test: $(TEST_STAMP) lint
	$(BIN)/pytest tests notebooks --nbval --nbval-current-env \
		--nbval-sanitize-with notebooks/sanitize.cfg -q -n 2 --dist loadfile

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

install: $(STAMP)

# Checks the Python version, makes the venv if it is missing, and upgrades pip.
define make_venv
@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	|| { echo "verigator_nb needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }
test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
$(BIN)/python -m pip install --quiet --upgrade pip
endef

# Each re-installs only when pyproject.toml changes; `make clean` starts over.
$(STAMP): pyproject.toml
	$(make_venv)
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): pyproject.toml
	$(make_venv)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(TEST_STAMP)

clean:
	rm -rf $(VENV) build *.egg-info reports tests/artifacts
