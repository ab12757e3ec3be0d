# Two commands do everything on a fresh machine with Python 3.11+ and pip:
#   make run    start the gateway and the four services (embedded PostgreSQL unless DATABASE_URL is set)
#   make test   install what is needed and run every test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python
PACKAGES := libs/kit gateway services/applications services/credit-rating services/risk-pool services/subsidy
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
PYTEST := $(PY) -m pytest -c $(CURDIR)/pyproject.toml --rootdir .

.PHONY: env run test lint test-unit test-e2e bench migrate clean-data

env: $(VENV)/.installed

$(VENV)/.installed: constraints.txt requirements-dev.txt $(PYPROJECTS)
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -c constraints.txt -r requirements-dev.txt $(foreach p,$(PACKAGES),-e $(p))
	@touch $@

run: env
	$(PY) deploy/local/run.py

lint: env
	$(PY) -m ruff check libs gateway services tests deploy/local
	$(VENV)/bin/lint-imports --config .importlinter

# Every package's tests run in its own pytest process (its own databases, its own metrics registry);
# the cross-service suite in tests/ starts the real processes. All run; the exit code says if any failed.
test: env lint
	@status=0; \
	for p in $(PACKAGES); do \
	  echo "== $$p"; (cd $$p && $(PYTEST) tests -q) || status=1; \
	done; \
	echo "== tests (cross-service)"; (cd tests && $(PYTEST) . -q) || status=1; \
	exit $$status

migrate: env
	$(PY) -m kit.migrations

bench: env
	$(PY) bench/run.py

clean-data:
	rm -rf .data
