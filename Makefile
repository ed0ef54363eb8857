# The two front doors: `make run` (local demo) and `make test` (the whole suite).
# Everything they need is set up by the targets below; nothing is assumed installed but
# Python 3.11+, Go and make.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONTROLPLANE := tests/controlplane/build.sh
export SMOP_CACHE_DIR ?= $(CURDIR)/.cache

.PHONY: run test lint typecheck check venv controlplane bench clean

run: venv controlplane
	$(PY) -m sagemaker_operator.demo

test: venv controlplane lint typecheck
	$(PY) -m pytest

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: venv
	$(PY) -m mypy operator tests bench

check: lint typecheck

venv: $(VENV)/.installed

# Reinstalled only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

controlplane:
	bash $(CONTROLPLANE)

bench: venv controlplane
	$(PY) -m bench.scale

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
