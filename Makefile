# kubedag — the verbs. `make demo` runs the example end to end; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PYTHON    := $(VENV)/bin/python
STATE_DIR := .local
ROUNDS    ?= 20
REPS      ?= 3
SCENARIOS ?= chain,wide,lattice,concurrent,huge
SYSTEMS   ?= kubedag,argo,argo-1s
# Scenario sizes for bench-compare; e.g. `make bench-compare SCENARIOS=chain REPS=1 CHAIN=5`.
CHAIN      ?= 50
WIDE       ?= 200
LATTICE    ?= 10x10
CONCURRENT ?= 100
HUGE       ?= 2000
SEED      ?=
export KUBEDAG_CLUSTER_NAME ?= kubedag

.PHONY: help setup lint format crds pod-schemas cluster-up cluster-down demo test test-unit test-e2e bench bench-compare chaos manifests

help:  ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

setup: $(VENV)/.synced  ## install the Python environment (uv, locked)

# uv runs as `python3 -m uv`, which works wherever pip put it (no PATH or shim needed).
$(VENV)/.synced: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@python3 -m uv sync --frozen --quiet
	@touch $@

lint: setup  ## ruff, mypy, helm lint, kubeconform (chart and examples), hadolint (Dockerfile)
	$(VENV)/bin/ruff check operator tests bench hack
	$(VENV)/bin/ruff format --check operator tests bench hack
	$(VENV)/bin/mypy
	@# image.repository has no default (no image is published): ci/lint-values.yaml sets it,
	@# and turns every optional template on.
	@"$$(hack/install-helm.sh | tail -n 1)" lint --strict charts/kubedag -f charts/kubedag/ci/lint-values.yaml
	@PYTHON="$(PYTHON)" hack/kubeconform.sh
	$(VENV)/bin/hadolint Dockerfile

format: setup  ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix operator tests bench hack
	$(VENV)/bin/ruff format operator tests bench hack

crds: setup  ## regenerate crds/ from the API models (and the chart's copy)
	$(PYTHON) -m kubedag.api.crd crds
	cp crds/*.yaml charts/kubedag/files/crds/
	$(PYTHON) -c 'import sys, pathlib, kubedag.api.pod as p; p.write_values_schema(pathlib.Path(sys.argv[1]))' charts/kubedag/values.schema.json

# The Kubernetes version whose core/v1 OpenAPI the task Pod fields' schemas come from: the
# one the test control plane is built from (hack/build-control-plane.sh).
K8S_VERSION ?= $(shell sed -n 's/^K8S_VERSION="$${KUBEDAG_K8S_VERSION:-\(.*\)}"$$/\1/p' hack/build-control-plane.sh)

pod-schemas: setup  ## re-extract the Pod field schemas from k8s.io/kubernetes's OpenAPI (Go module), then make crds
	@dir="$$(go mod download -json k8s.io/kubernetes@v$(K8S_VERSION) | $(PYTHON) -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')" \
	  && $(PYTHON) -m kubedag.api.extract_pod_schemas "$$dir/api/openapi-spec/v3/api__v1_openapi.json" v$(K8S_VERSION)
	@$(MAKE) --no-print-directory crds

manifests:  ## render charts/kubedag into manifests/kubedag.yaml (builds helm the first time)
	@hack/render-manifests.sh

cluster-up: setup  ## start the local control plane (builds it the first time)
	@hack/cluster.sh up

cluster-down:  ## stop and delete the local control plane
	@hack/cluster.sh down

demo: setup  ## run examples/etl-pipeline.yaml end to end and show its progress
	@hack/demo.sh

test: setup  ## unit tests, chart checks (promtool, helm, gopher-lua), then e2e tests against the local control plane (or KUBEDAG_CLUSTER=existing)
	$(PYTHON) -m pytest tests/unit tests/chaos -q
	$(PYTHON) -m pytest tests/chart -q
	@hack/e2e.sh

test-unit: setup  ## unit tests only (seconds, no cluster)
	$(PYTHON) -m pytest tests/unit tests/chaos -q

bench: setup  ## scale benchmarks against the local control plane; numbers in bench/results/
	@hack/bench.sh

bench-compare: setup  ## kubedag vs Argo Workflows (built the first time): REPS, SCENARIOS, SYSTEMS, CHAIN, WIDE, LATTICE, CONCURRENT, HUGE
	@hack/bench-compare.sh --reps "$(REPS)" --scenarios "$(SCENARIOS)" --systems "$(SYSTEMS)" \
	  --chain "$(CHAIN)" --wide "$(WIDE)" --lattice "$(LATTICE)" --concurrent "$(CONCURRENT)" --huge "$(HUGE)" \
	  $(if $(LABEL),--label "$(LABEL)")

chaos: setup  ## ROUNDS (20) chaos rounds: operator SIGKILLs, API server restarts, refused writes, deleted Jobs; SEED=n replays
	@ROUNDS="$(ROUNDS)" SEED="$(SEED)" hack/chaos.sh
