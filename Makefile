# leadsync — the two commands that matter: `make dev` runs it locally, `make test` runs every test.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
CARGO     ?= cargo
SAM_HOME  := $(CURDIR)/.local/samcli
# SAM CLI: no telemetry and no version check against PyPI (it reads lastVersionCheck as epoch seconds).
SAM_ENV   := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 __SAM_CLI_APP_DIR="$(SAM_HOME)"

.PHONY: help dev test unit e2e ledger lint fmt bench build validate events venv tools browser clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

dev: venv ## Run the whole pipeline locally (moto + sandbox + ingress + consumer); Ctrl-C stops it
	$(CARGO) build -p leadsync-cli
	./target/debug/leadsync local up

test: venv browser ## Run every test (unit, fixtures, end-to-end against moto and the sandbox)
	$(CARGO) test --workspace

unit: ## Only the tests that need no moto
	$(CARGO) test --workspace --lib --bins --test ingress_events

e2e: venv browser ## Only the end-to-end tests
	$(CARGO) test -p leadsync-tests

ledger: venv ## The ledger test at full size: 10,000 webhooks under failures, every one accounted for
	$(CARGO) run --release -p leadsync-cli -- ledger $(LEDGER_ARGS)

lint: tools ## rustfmt, clippy, cfn-lint, sam validate --lint
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(MAKE) validate

validate: tools $(SAM_HOME)/metadata.json ## cfn-lint and sam validate --lint on template.yaml
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM_ENV) sam validate --lint --template template.yaml

fmt: ## Format the code
	$(CARGO) fmt --all

bench: venv ## Benchmark: ingress throughput vs raw verify, latency, API calls per contact, size, cold start
	$(CARGO) run --release -p leadsync-cli -- bench

build: tools $(SAM_HOME)/metadata.json ## sam build (cargo-lambda, arm64, no Docker)
	rustup target add aarch64-unknown-linux-gnu
	$(SAM_ENV) sam build
	@ls -l .aws-sam/build/*/bootstrap

events: ## Regenerate the sample events in events/ from the sandbox test keys
	$(CARGO) run -q -p leadsync-cli -- events

venv: $(VENV)/.dev-installed ## Python venv with moto (for make dev / make test)
tools: venv $(VENV)/.tools-installed ## Also cfn-lint, the SAM CLI and cargo-lambda

# Debian's Chromium: the stats report's test renders the page in it.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser: ## Debian's chromium for the report's browser test (apt-get; sudo when not root)
	@command -v chromium >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -qq chromium || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }; }

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(VENV)/.tools-installed: requirements-tools.txt $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-tools.txt
	touch $@

$(SAM_HOME)/metadata.json:
	mkdir -p $(SAM_HOME)
	$(PY) -c 'import json,time; print(json.dumps({"telemetryEnabled": False, "lastVersionCheck": float(int(time.time()) + 366*86400)}))' > $@

clean: ## Remove build output and local state (keeps the venv)
	$(CARGO) clean
	rm -rf .aws-sam .local build.toml
