# Two entry points for a fresh machine (see README):
#   make run   - set everything up, then run notebooks/example-stdlib.yml on the embedded default
#   make test  - set everything up, then lint, type-check and run the whole test suite
# Each target installs what it needs by itself: a venv, Python deps, Deno (PyPI), Pyodide (npm).
# Python deps come from uv.lock only (uv itself from scripts/uv-requirements.txt, hash-pinned).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
UV_DIR := .cache/uv
UV     := $(UV_DIR)/bin/uv
# uv installs into our venv, with the machine's interpreter, never a downloaded one.
# --compile-bytecode: as pip does; without it (and with PYTHONDONTWRITEBYTECODE set, as on
# these machines) every run compiles aiohttp, pydantic, ... from source: ~0.5 s per start.
UV_SYNC := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(UV) sync --locked \
           --compile-bytecode --python $(PYTHON)
NOTEBOOK ?= notebooks/example-stdlib.yml
ARGS ?=

.PHONY: run test lint typecheck pytest setup setup-python setup-pyodide setup-interop setup-browser \
        setup-postgres \
        lock bench container clean

run: setup
	$(PY) entrypoint.py $(NOTEBOOK) $(ARGS)

test: setup setup-interop setup-browser setup-postgres lint typecheck pytest

# Bytecode for this package too (PYTHONDONTWRITEBYTECODE: never written otherwise): every
# start of the CLI, and the tests start it hundreds of times, saves compiling ~95 modules.
setup: setup-python setup-pyodide
	$(PY) -m compileall -q -j 0 runt_action

setup-python: $(STAMP)

$(UV): scripts/uv-requirements.txt
	$(PYTHON) -m venv $(UV_DIR)
	$(UV_DIR)/bin/pip install --quiet --require-hashes -r scripts/uv-requirements.txt
	touch $(UV)

# --locked: exactly uv.lock, and an error (not a silent re-resolve) when it is stale.
# Dependencies first (hatchling among them), then this project built with that hatchling.
$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV_SYNC) --extra dev --no-install-project
	$(UV_SYNC) --extra dev --no-build-isolation-package runt-automate-action
	touch $(STAMP)

# Re-resolve after editing the dependencies in pyproject.toml (needs the package index).
lock: $(UV)
	$(UV) lock

setup-pyodide: setup-python
	bash scripts/setup-pyodide.sh
	bash scripts/setup-wasm-wheels.sh

setup-interop:
	bash scripts/setup-interop.sh

# Debian's chromium for the browser tests (tests/viewer/test_browser.py).
setup-browser:
	bash scripts/setup-browser.sh

# Debian's PostgreSQL server for the SQL cell tests (tests/e2e/test_sql_postgres.py).
setup-postgres:
	bash scripts/setup-postgres.sh

lint: setup-python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/actionlint
	$(VENV)/bin/zizmor --offline --quiet .
	$(VENV)/bin/shellcheck scripts/*.sh .ci/run

# mypy's cache outlives a clone (a fresh clone checks 134 modules in ~33 s, a warm cache in
# ~1.5 s); a stale or foreign entry is only re-checked (mypy compares each file's hash).
MYPY_CACHE ?= $(HOME)/.cache/runt-automate-action/mypy

typecheck: setup-python
	MYPY_CACHE_DIR=$(MYPY_CACHE) $(VENV)/bin/mypy

# Two workers (pytest-xdist): the tests wait on kernels, Deno and servers more than they
# compute, so on CI's 2 cores the suite takes ~12 instead of ~15 minutes.
PYTEST_ARGS ?= -n 2

pytest: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: setup
	$(UV_SYNC) --extra dev --extra bench
	$(PY) bench/run.py $(ARGS)

container:
	bash scripts/container-test.sh

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache
