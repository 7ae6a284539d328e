# Two entry points for a fresh machine (see README):
#   make run   - set everything up, then run notebooks/example-stdlib.yml on the embedded default
#   make test  - set everything up, then lint, type-check and run the whole test suite
# Each target installs what it needs by itself: a venv, Python deps, Deno (PyPI), Pyodide (npm).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NOTEBOOK ?= notebooks/example-stdlib.yml
ARGS ?=

.PHONY: run test lint typecheck pytest setup setup-python setup-pyodide setup-interop setup-browser bench container clean

run: setup
	$(PY) entrypoint.py $(NOTEBOOK) $(ARGS)

test: setup setup-interop setup-browser lint typecheck pytest

setup: setup-python setup-pyodide

setup-python: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup-pyodide: setup-python
	bash scripts/setup-pyodide.sh

setup-interop:
	bash scripts/setup-interop.sh

# Debian's chromium for the browser tests (tests/viewer/test_browser.py).
setup-browser:
	bash scripts/setup-browser.sh

lint: setup-python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/actionlint
	$(VENV)/bin/zizmor --offline --quiet .
	$(VENV)/bin/shellcheck scripts/*.sh .ci/run

typecheck: setup-python
	$(VENV)/bin/mypy

pytest: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) bench/run.py $(ARGS)

container:
	bash scripts/container-test.sh

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache
