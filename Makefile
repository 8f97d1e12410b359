# Smile loyalty lists. Two commands matter: `make run` (the demo) and `make test` (the suite).
# Both set up everything themselves: a pinned uv in .tools/, the locked environment in .venv/.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install run test test-fast lint format clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra test --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced ## create .venv from uv.lock

run: install ## set up and run the demo: app on :8000, task cluster, Smile sandbox on :8001
	@bin/run-demo

test: install lint ## set up and run the whole suite
	$(VENV)/bin/pytest

test-fast: install ## the suite without end-to-end tests
	$(VENV)/bin/pytest -m "not e2e"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .hypothesis
