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

.PHONY: install system-packages bench bench-smoke bench-fleet run run-prod test test-fast test-prod audit lint format clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra test --extra bench --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced ## create .venv from uv.lock

run: install ## set up and run the demo: app on :8000, task cluster, Smile sandbox on :8001
	@bin/run-demo

run-prod: install ## production run: needs DATABASE_URL, REDIS_URL and secrets (README, "Running in production")
	@bin/run-prod

test: install lint system-packages ## set up and run the whole suite: SQLite, then PostgreSQL + Redis, then the audit
	$(VENV)/bin/pytest -m "not prod and not browser"
	$(VENV)/bin/pytest -m browser
	bin/with-services $(VENV)/bin/pytest -m prod
	@$(MAKE) --no-print-directory bench-smoke
	@$(MAKE) --no-print-directory audit

test-fast: install ## the SQLite suite without end-to-end tests
	$(VENV)/bin/pytest -m "not e2e and not prod"

test-prod: install ## the production-path tests against a throwaway PostgreSQL and Redis
	bin/with-services $(VENV)/bin/pytest -m prod

audit: install ## bandit (medium and above) and pip-audit of every locked dependency (AUDIT_STRICT=1: unchecked ones fail)
	VENV=$(VENV) UV=$(UV) bin/audit

system-packages: ## Debian packages the tests need (chromium: browser tests; wrk: lookup benchmark; via apt-get as root)
	bin/ensure-debian-packages chromium:chromium wrk:wrk

bench: install system-packages ## benchmarks at the issue's sizes (BENCH_ARGS="--full" for 1M, "--only 2" for one figure); appends to bench/results/
	$(PY) -m bench.run $(BENCH_ARGS)

bench-fleet: install ## figure 10, the fleet (PostgreSQL + Redis via bin/with-services; BENCH_FLEET_ARGS="--clusters 4", "--merchants 10000"); appends to bench/results/
	$(PY) -m bench.run --only 10 $(BENCH_ARGS)

bench-smoke: install system-packages ## every benchmark at tiny sizes: the scripts run and print numbers; a missed target never fails
	$(PY) -m bench.run --smoke

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache .hypothesis
