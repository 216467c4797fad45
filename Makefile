# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Everything installs from PyPI and npm only (see README "Toolchain"); every step is
# stamped, so a second `make install` does no work.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
# Use uv from PATH if present, else a private copy installed from PyPI into .tools/.
UV ?= $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
# uv must never try to download a Python build (only the package registries are reachable).
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

BIN := node_modules/.bin
FORGE := $(BIN)/forge
VENV := .venv
PY := $(VENV)/bin/python
# CI (CI=true) runs the `ci` Foundry profile: fixed fuzz seed, more runs, deeper invariants.
export FOUNDRY_PROFILE ?= $(if $(CI),ci,default)

SOL_SOURCES := $(shell find contracts tests/forge scripts -name '*.sol' 2>/dev/null)

.PHONY: help install demo test test-forge test-py gas bench bench-quick chaos lint fmt clean distclean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: node_modules/.installed $(VENV)/.installed build/.forge-built ## npm ci, uv sync, forge build (idempotent)

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --all-extras --quiet
	@touch $@

build/.forge-built: node_modules/.installed foundry.toml scripts/solc $(SOL_SOURCES)
	$(FORGE) build
	@touch $@

# `make demo DEMO_ARGS="--vaults 6 --steps 300"` passes flags to `keeper demo`.
DEMO_ARGS ?=
demo: install ## the main job on a local anvil: market, depositors, desk and the live keeper (out/)
	$(VENV)/bin/keeper demo $(DEMO_ARGS)

test: install test-forge test-py ## forge tests, then pytest

# Unit tests' gas is pinned in .gas-snapshot (1% tolerance); `make gas` rewrites it.
GAS_SNAPSHOT_ARGS := --no-match-test 'testFuzz_|invariant_'

test-forge: install
	$(FORGE) test
	$(FORGE) snapshot --check --tolerance 1 $(GAS_SNAPSHOT_ARGS)

gas: install ## rewrite .gas-snapshot (after an intended gas change)
	$(FORGE) snapshot $(GAS_SNAPSHOT_ARGS)

# pytest exits 5 when it collects nothing: here that means the suite is broken, so it fails loudly.
test-py: install
	@$(PY) -m pytest || { rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing (tests/ is broken)"; fi; \
	  exit $$rc; }

bench: install ## benchmarks (~5 min): bench/results/latest.json + docs/benchmarks.md
	$(PY) bench/run.py

bench-quick: install ## small benchmarks (<1 min): bench/results/quick.json + quick.md
	$(PY) bench/run.py --quick

# `make chaos CHAOS_ARGS=--quick` runs the short version; see docs/chaos.md for the flags.
chaos: install ## fault-injection suite (<15 min): bench/results/chaos.json
	$(PY) -m bench.chaos $(CHAOS_ARGS)

lint: install ## ruff, mypy --strict, forge fmt --check
	$(VENV)/bin/ruff check keeper tests bench scripts
	$(VENV)/bin/ruff format --check keeper tests bench scripts
	$(VENV)/bin/mypy --strict keeper
	$(FORGE) fmt --check

fmt: install ## format Python and Solidity in place
	$(VENV)/bin/ruff format keeper tests bench scripts
	$(VENV)/bin/ruff check --fix keeper tests bench scripts
	$(FORGE) fmt

clean: ## remove build products and caches
	rm -rf build out .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -not -path './node_modules/*' -not -path './.venv/*' -prune -exec rm -rf {} +

distclean: clean ## also remove installed dependencies
	rm -rf node_modules $(VENV) .tools
