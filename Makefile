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
# The web app (web/, its own npm project) is rebuilt when any of its sources changes.
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) \
	web/index.html web/vite.config.js web/package.json web/package-lock.json
# The browser tests drive Debian's Chromium (Playwright's own download is not reachable).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help install demo test test-forge test-py gas bench bench-quick chaos lint fmt clean distclean web

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: node_modules/.installed $(VENV)/.installed build/.forge-built web/dist/.built ## npm ci, uv sync, forge build, web build (idempotent)

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --all-extras --quiet
	@touch $@

# A changed foundry.toml (or solc shim) rebuilds from scratch: forge names an artifact that two
# compiler profiles build <name>.<profile>.json and one that one profile builds <name>.json, and
# an incremental build after a profile change left a stale <name>.json beside the new ones, which
# the keeper's loader then took (the devnet deployed another build than a fresh clone's). The
# loader now asks forge's build cache which artifact is current; a clean build is still the rule.
build/.forge-built: node_modules/.installed foundry.toml scripts/solc $(SOL_SOURCES)
	@case " $? " in *" foundry.toml "*|*" scripts/solc "*) rm -rf build/forge build/forge-cache;; esac
	$(FORGE) build
	@touch $@

# Chromium for the browser tests (`make test` only), from Debian, only when it is missing (the
# binary is the stamp). The tests drive the one this names (KEEPER_CHROMIUM, set by test-py).
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "make install: $(CHROMIUM) is missing and apt-get" \
	  "is not available: install Chromium (Debian/Ubuntu package 'chromium') so that" \
	  "$(CHROMIUM) exists, or pass CHROMIUM=/path/to/chromium" >&2; exit 1; }
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
	@test -x $@ || { echo "make install: apt-get installed chromium but $@ is missing" >&2; exit 1; }

web/node_modules/.installed: web/package.json web/package-lock.json
	npm ci --prefix web --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

web/dist/.built: web/node_modules/.installed $(WEB_SOURCES)
	cd web && node_modules/.bin/vite build --logLevel warn
	@touch $@

# `make web WEB_ARGS="--rpc-url http://127.0.0.1:8545 --addresses out/devnet.json"`.
WEB_ARGS ?= --addresses out/devnet.json
web: install ## serve the depositors' web app (web/dist) on 127.0.0.1:8765, see docs/web.md
	$(VENV)/bin/keeper web $(WEB_ARGS)

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
# Three workers on CI's two cores, a test file per worker so its module fixtures (an anvil stack)
# are built once; PYTEST_WORKERS=0 runs in one process. Most of the suite waits (on anvil blocks,
# subprocesses, the browser): on 2 cores two workers kept 1.24 cores busy and took 434 s, three
# 1.59 cores and 344 s, every test green in both (2026-12-06, back to back on an idle machine).
# The short chaos suite measures the keeper's reaction in blocks of 1 s, so it runs alone, after
# the rest: beside it (even with the rest under `nice`) the other tests' anvils and browser took
# cores from the keeper under test, and its median reaction under faults read 2.5 blocks against
# a target of 2 in one CI run of four. Either run failing fails the target; both always run.
PYTEST_WORKERS ?= 3
CHAOS_SHORT := tests/integration/test_chaos_short.py
test-py: install $(CHROMIUM)
	@export KEEPER_CHROMIUM=$(CHROMIUM); \
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --ignore=$(CHAOS_SHORT); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing (tests/ is broken)"; fi; \
	echo "--- $(CHAOS_SHORT), alone:"; \
	$(PY) -m pytest $(CHAOS_SHORT); crc=$$?; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi; exit $$crc

bench: install ## benchmarks (~1 hour, ~40 min of it deploying 10,000 vaults): bench/results/latest.json + docs/benchmarks.md
	$(PY) bench/run.py

bench-quick: install ## small benchmarks (~2 min): bench/results/quick.json + quick.md
	$(PY) bench/run.py --quick

# `make chaos CHAOS_ARGS=--quick` runs the short version; see docs/chaos.md for the flags.
chaos: install ## fault-injection suite (<15 min): bench/results/chaos.json
	$(PY) -m bench.chaos $(CHAOS_ARGS)

# slither pins web3 < 8 (the keeper needs 8), so it lives in its own venv under .tools/.
SLITHER_VERSION := 0.11.6
SLITHER := .tools/slither/bin/slither

$(SLITHER): | $(UV)
	$(UV) venv --quiet .tools/slither
	$(UV) pip install --quiet --python .tools/slither/bin/python slither-analyzer==$(SLITHER_VERSION)

lint: install $(SLITHER) ## ruff, mypy --strict, forge fmt --check, slither (no High/Medium)
	$(VENV)/bin/ruff check keeper tests bench scripts
	$(VENV)/bin/ruff format --check keeper tests bench scripts
	$(VENV)/bin/mypy --strict keeper bench
	$(FORGE) fmt --check
	@mkdir -p out && rm -f out/slither.json
	@# slither exits non-zero whenever it finds anything: the gate judges its JSON instead.
	@# crytic-compile runs `forge clean` and a build without the tests: it gets its own output
	@# directory, so build/forge (the tests' artifacts) is never wiped.
	-PATH=$(BIN):$$PATH FOUNDRY_OUT=build/slither FOUNDRY_CACHE_PATH=build/slither-cache \
	  $(SLITHER) . --compile-force-framework foundry \
	  --foundry-out-directory build/slither --filter-paths 'node_modules|tests|devnet' \
	  --json out/slither.json > out/slither.log 2>&1
	$(PY) scripts/slither_gate.py out/slither.json

fmt: install ## format Python and Solidity in place
	$(VENV)/bin/ruff format keeper tests bench scripts
	$(VENV)/bin/ruff check --fix keeper tests bench scripts
	$(FORGE) fmt

clean: ## remove build products and caches
	rm -rf build out web/dist .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -not -path './node_modules/*' -not -path './.venv/*' -prune -exec rm -rf {} +

distclean: clean ## also remove installed dependencies
	rm -rf node_modules web/node_modules $(VENV) .tools
