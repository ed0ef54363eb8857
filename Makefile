# The two front doors: `make run` (local demo) and `make test` (the whole suite).
# Everything they need is set up by the targets below; nothing is assumed installed but
# Python 3.11+, Go and make.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONTROLPLANE := tests/controlplane/build.sh
export SMOP_CACHE_DIR ?= $(CURDIR)/.cache

# `make up`: the same stack as `make run`, left running for experiments (Ctrl-C stops it).
.PHONY: run up run-cluster test lint typecheck check venv controlplane bench clean chart-crds

run: venv controlplane
	$(PY) -m sagemaker_operator.devstack.demo

up: venv controlplane
	$(PY) -m sagemaker_operator.devstack.demo --keep

# `make run-cluster`: the same demo with the operator as a pod: a node (containerd + kubelet +
# scheduler) joins the local control plane, the Dockerfile's image is built and `helm install`
# runs it (root only, like the node; docs/development.md).
run-cluster: venv controlplane
	$(PY) -m sagemaker_operator.devstack.demo --cluster

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

# The chart renders the CRDs and TrainingJob's immutable-fields policy from its own copy of
# crds/ (a chart cannot read files outside its folder); this refreshes the copy. tests/helm
# fails while the two differ.
CHART_CRDS := helm/sagemaker-operator/files/crds
.PHONY: crds
crds: venv
	$(PY) -m sagemaker_operator.cli crd --write-all .
	$(MAKE) chart-crds

chart-crds:
	rm -f $(CHART_CRDS)/*.yaml
	cp crds/*.yaml $(CHART_CRDS)/

bench: venv controlplane
	$(PY) -m bench.scale

# Issue 5's cost criterion: steady-state SageMaker calls at 100 and 1,000 running jobs, and
# the status lag of 1,000 changes; rewrites docs/performance-steady-state.md.
.PHONY: bench-steady
bench-steady: venv controlplane
	$(PY) -m bench.steady_state --write-doc

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
