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

.PHONY: help dev test unit e2e ledger lint fmt bench build lambda validate events emulator-fixtures venv tools browser clean fuzz-seeds fuzz-smoke

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

dev: venv ## Run the whole pipeline locally (moto + sandbox + ingress + consumer); Ctrl-C stops it
	$(CARGO) build -p leadsync-cli -p leadsync-dev
	./target/debug/leadsync-dev local up

test: venv ## Run every test (unit, fixtures, end-to-end against moto and the sandbox)
	@$(BROWSER_NOTE)
	$(CARGO) test --workspace
	@$(BROWSER_NOTE)

unit: ## Only the tests that need no moto
	$(CARGO) test --workspace --lib --bins --test ingress_events

e2e: venv ## Only the end-to-end tests
	@$(BROWSER_NOTE)
	$(CARGO) test -p leadsync-tests

ledger: venv ## The ledger test at full size: 10,000 webhooks under failures, every one accounted for
	$(CARGO) run --release -p leadsync-dev -- ledger $(LEDGER_ARGS)

lint: tools ## rustfmt, clippy (the fuzz crate too, on stable), cfn-lint, sam validate --lint
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml --check
	$(CARGO) clippy --manifest-path fuzz/Cargo.toml --target-dir "$(FUZZ_TARGET_DIR)" --all-targets -- -D warnings
	$(MAKE) validate

validate: tools $(SAM_HOME)/metadata.json ## cfn-lint and sam validate --lint on template.yaml
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM_ENV) sam validate --lint --template template.yaml

fmt: ## Format the code
	$(CARGO) fmt --all
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml

# Each fuzz target, its seeds in fuzz/corpus/<target>/ (read only); what the fuzzer adds goes to
# fuzz/work/<target>/. `-s none`: leadsync forbids unsafe code and cargo-fuzz does not instrument
# aws-lc's C, so AddressSanitizer would only halve the executions.
FUZZ_TARGETS := ghl_marketplace ghl_workflow meta_webhook ghl_search_page ghl_contact calltools_answer calltools_hook
FUZZ_SECONDS ?= 20
# The fuzz crate is a workspace of its own; on stable it shares the main target directory, so
# its dependencies are not built twice.
FUZZ_TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
fuzz-seeds: ## Every committed fuzz seed through its target's assertions (stable; run by CI)
	$(CARGO) test --manifest-path fuzz/Cargo.toml --target-dir "$(FUZZ_TARGET_DIR)"

fuzz-smoke: fuzz-seeds ## Then each target FUZZ_SECONDS s (nightly + cargo-fuzz)
	@if ! rustup run nightly rustc --version >/dev/null 2>&1; then \
	  echo "fuzz-smoke: fuzzing skipped: no nightly toolchain (rustup toolchain install nightly)"; \
	elif ! command -v cargo-fuzz >/dev/null 2>&1; then \
	  echo "fuzz-smoke: fuzzing skipped: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)"; \
	else for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/work/$$t; \
	  echo "fuzz-smoke: $$t for $(FUZZ_SECONDS) s"; \
	  $(CARGO) +nightly fuzz run -s none $$t fuzz/work/$$t fuzz/corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 2>&1 \
	    | grep -E '(INITED|DONE|Done [0-9]+ runs|stat::number_of_executed_units|ERROR|panicked|Test unit written)'; \
	done; fi

bench: venv ## Benchmark: ingress throughput vs raw verify, latency, API calls per contact, size, cold start
	@# Always: cargo rebuilds what changed, so the sizes printed are of the code measured.
	$(MAKE) lambda
	$(CARGO) build --release -p ingress -p consumer -p backfill -p leadsync-dev --bins
	$(CARGO) run --release -p leadsync-dev -- bench

# The functions as Lambda runs them: code size before speed (opt-level z, whole-program LTO),
# since a smaller bootstrap starts sooner and the work is waiting on the network. Only the
# Lambda builds use it: the benchmark and the tools keep [profile.release] (Cargo.toml).
LAMBDA_PROFILE := CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_LTO=fat
LAMBDA_BOOTSTRAPS := $(foreach f,ingress consumer backfill,target/lambda/$(f)/bootstrap)

build: tools $(SAM_HOME)/metadata.json ## sam build (cargo-lambda, arm64, no Docker)
	rustup target add aarch64-unknown-linux-gnu
	$(SAM_ENV) $(LAMBDA_PROFILE) sam build
	@ls -l .aws-sam/build/*/bootstrap

lambda: tools ## The three functions' arm64 bootstraps in target/lambda/ (what `make bench` sizes)
	rustup target add aarch64-unknown-linux-gnu
	@# One at a time, as `sam build` does (CodeUri is each function's package): built together,
	@# cargo would unify their features and the sizes would not be what deploys.
	for f in ingress consumer backfill; do \
		$(SAM_ENV) $(LAMBDA_PROFILE) cargo lambda build --release --arm64 -p $$f || exit 1; \
	done
	@ls -l $(LAMBDA_BOOTSTRAPS)

emulator-fixtures: tools ## Every events/ fixture through cargo-lambda's emulator, real binaries on a local stack (CI runs it)
	bash dev/scripts/emulator-fixtures.sh

events: ## Regenerate the sample events in events/ from the sandbox test keys
	$(CARGO) run -q -p leadsync-dev -- events

venv: $(VENV)/.dev-installed ## Python venv with moto (for make dev / make test)
tools: venv $(VENV)/.tools-installed ## Also cfn-lint, the SAM CLI and cargo-lambda

# Debian's Chromium: the stats report's test renders the page in it. `make test` never installs
# it (no sudo on a user's machine): without it that one test is skipped and this line says so.
# CI runs `make browser` and sets LEADSYNC_REQUIRE_BROWSER=1, so there a missing browser fails.
BROWSER_NOTE := command -v chromium >/dev/null || echo "SKIP: the stats report's browser test: chromium is not installed (make browser installs it, with sudo when not root)"
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
