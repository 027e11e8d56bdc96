# fanout-hub developer commands. Every target installs what it needs first.
.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
# Some shells set this; compiled bytecode makes repeat runs and pytest-xdist workers faster.
unexport PYTHONDONTWRITEBYTECODE

UV_VERSION := 0.13.9
# The folder of this Makefile: `sam build` runs it with --makefile from another
# working directory (a scratch copy unless build_in_source), and .tools/ stays here.
ROOT := $(patsubst %/,%,$(dir $(abspath $(firstword $(MAKEFILE_LIST)))))
# uv from PATH if present, else a private copy in .tools/ (no system or user site touched).
UV := $(or $(shell command -v uv 2>/dev/null),$(ROOT)/.tools/bin/uv)
RUN := $(UV) run --locked

.PHONY: help setup test lint typecheck security audit unit soak demo bench bench-router bench-consumers schemas local-build runtime-wheel

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(ROOT)/.tools/bin/uv:
	python3 -m venv "$(ROOT)/.tools"
	"$(ROOT)/.tools/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

setup: $(UV) ## install the locked toolchain and dependencies into .venv
	$(UV) sync --locked

lint: setup ## ruff lint + format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: setup ## mypy (strict on router/, consumers/, schemas/, hubcommon/)
	$(RUN) mypy

# Three workers on two cores: with two, the cores were idle a quarter of the run (user+sys
# 423 s over 279 s wall), because end-to-end tests wait on subprocesses, servers and
# sockets; a third worker fills that gap (2 cores: 279 s -> 233 s). Override:
# make test PYTEST_WORKERS=8. --no-loadscope-reorder keeps HEAVIEST_FIRST's order
# (tests/conftest.py); xdist otherwise deals the files with the most tests first.
PYTEST_WORKERS ?= 3
unit: setup ## pytest only
	$(RUN) pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder || { rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; fi; exit $$rc; }

security: setup ## bandit on deployed code and tooling (every skip is a justified inline nosec)
	$(RUN) bandit -c pyproject.toml -r router consumers schemas hubcommon fanout -q

audit: setup ## pip-audit of the locked dependencies (needs a vulnerability service; not part of test)
	$(UV) export --frozen --no-hashes --no-emit-project | $(RUN) pip-audit -r /dev/stdin --disable-pip --no-deps --strict

test: lint typecheck security unit ## the whole check CI runs: ruff, mypy, bandit, pytest

# The large sizes of the behaviours `make test` proves small: a 5,000-item backfill through
# the real projection consumer and a 3,000-record run under injected faults (9 min 46 s on
# a 2-core machine: backfill 107 s, fault run 468 s). Override the sizes: make soak BACKFILL_ITEMS=20000 CHAOS_RECORDS=10000
BACKFILL_ITEMS ?= 5000
CHAOS_RECORDS ?= 3000
soak: setup ## the large sizes: backfill of BACKFILL_ITEMS (5,000) items, fault run of CHAOS_RECORDS (3,000) records
	FANOUT_BACKFILL_ITEMS=$(BACKFILL_ITEMS) $(RUN) pytest -p no:cacheprovider tests/e2e/test_ops_backfill.py
	$(RUN) python bench/chaos.py --size $(CHAOS_RECORDS) --seed 7

schemas: setup ## re-export the JSON Schemas (envelope and entity contracts) after changing a model
	$(RUN) python -m schemas.export

bench: setup ## every benchmark: router throughput, normalisation CPU, cold start, end-to-end latency, consumer runtime cost (~17 min)
	$(RUN) python bench/run_all.py

bench-router: setup ## router throughput only: PublishBatch vs one publish per record vs Powertools BatchProcessor
	$(RUN) python bench/router_bench.py

bench-consumers: setup ## consumer runtime cost only: DynamoDB/S3 requests, capacity, CPU per message vs 0.2.0 and Powertools (~1 min)
	$(RUN) python bench/consumer_bench.py

# Lambda artifacts: `sam build` (BuildMethod: makefile) runs these with ARTIFACTS_DIR set,
# from the source folder (build_in_source) or a copy of it. Each ships only its packages
# plus the locked closure of its own dependency group (pyproject.toml: router, consumer),
# so nothing it does not import (tests/integration/test_template_build.py); set LAMBDA_RUNTIME / LAMBDA_ARCHITECTURE
# when overriding Runtime / Architecture (docs/deploy.md). A fresh clone needs only python3,
# make and sam: fanout.build uses the standard library alone, so it runs on python3 without
# .venv (no dev group: sam, checkov, ...), and uv (bootstrapped into .tools/ when absent)
# exports the lock and installs the wheels for the Lambda platform.
BUILD := UV="$(UV)" python3 -m fanout.build

# The router ships hubcommon/ and the one module of schemas/ it imports (codec): not the
# envelope models (pydantic), since it writes envelopes as text (router/normalise.py).
# It checks items against the exported entity contracts, so those JSON Schemas go with
# it (router/contracts.py), and not the models they are exported from.
build-RouterFunction: $(UV)
	$(BUILD) --group router router hubcommon schemas.codec --into "$(ARTIFACTS_DIR)"
	mkdir -p "$(ARTIFACTS_DIR)/schemas/json/entities"
	if [ -d "$(ROOT)/schemas/json/entities" ]; then \
	  cp -R "$(ROOT)/schemas/json/entities/." "$(ARTIFACTS_DIR)/schemas/json/entities/"; fi

# This repository's consumers (every package under consumers/, a scaffolded one included)
# as one code layer (template.yaml, ConsumersCodeLayer): their packages alone;
# consumers.runtime, schemas, hubcommon and the dependencies are ConsumerRuntimeLayer's. The kit's
# function itself builds from consumers/kit/function/Makefile.
build-ConsumersCodeLayer: $(UV)
	$(BUILD) consumers --exclude consumers.runtime --into "$(ARTIFACTS_DIR)/python"

# The consumer runtime as a wheel any Python project can install (consumers/runtime,
# schemas and hubcommon, its own dependencies: packaging/runtime/pyproject.toml). Standard library and
# uv only, like the function builds.
runtime-wheel: $(UV) ## build the consumer runtime wheel into dist/ (consumers/runtime, schemas, hubcommon)
	UV="$(UV)" python3 -m fanout.runtime_wheel --out-dir "$(ROOT)/dist"

# The consumer runtime layer: the runtime and its pinned dependencies under python/,
# which Lambda adds to sys.path (template.yaml, ConsumerRuntimeLayer).
build-ConsumerRuntimeLayer: $(UV)
	$(BUILD) --group consumer consumers.runtime schemas hubcommon --into "$(ARTIFACTS_DIR)/python"

# `sam local invoke` runs what samconfig.toml's [default.local_invoke.parameters] names:
# this build, for x86_64 (native on x86_64 hosts; Docker Desktop emulates it on Apple
# silicon), kept apart from .aws-sam/build so an arm64 deploy never ships it.
LOCAL_INVOKE_ARCHITECTURE := x86_64
LOCAL_INVOKE_BUILD_DIR := .aws-sam/local
# The SAM CLI from PATH, else the locked one `make setup` installs into .venv.
SAM := $(or $(shell command -v sam 2>/dev/null),$(ROOT)/.venv/bin/sam)

# Then the template `sam local invoke` runs (local-invoke.yaml in the same folder): SAM CLI
# does not resolve a layer the hub passes to a nested kit, so each consumer's function is
# lifted into the hub stack as <App>Function with same-stack layer refs (fanout/local_invoke.py).
local-build: $(UV) $(if $(shell command -v sam 2>/dev/null),,setup) ## sam build for `sam local invoke` (x86_64, into .aws-sam/local; docs/local.md)
	LAMBDA_ARCHITECTURE=$(LOCAL_INVOKE_ARCHITECTURE) "$(SAM)" build \
	  --build-dir $(LOCAL_INVOKE_BUILD_DIR) --parameter-overrides Architecture=$(LOCAL_INVOKE_ARCHITECTURE)
	$(RUN) python -m fanout.local_invoke --build-dir $(LOCAL_INVOKE_BUILD_DIR)

demo: setup ## run the whole hub locally (moto + template.yaml + handlers), prove nothing is lost
	$(RUN) fanout local up --demo
