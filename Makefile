# inlet — the only entry points a newcomer needs:
#   make dev    run everything locally (no AWS account)
#   make test   every check CI runs
#
# Python tools (moto's server, cargo-lambda with its bundled zig, cfn-lint)
# go into a project-local venv; nothing is installed system-wide.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PY_TOOLS := moto[server]==5.2.5 cargo-lambda==1.9.2 cfn-lint==1.58.0
VENV_STAMP := $(VENV)/.installed-$(shell echo '$(PY_TOOLS)' | cksum | cut -d' ' -f1)

MOTO_PORT ?= 5000
API_PORT ?= 9000
# Ports of the emulator and stack that `make test` starts for itself, so a
# running `make dev` does not get in the way.
TEST_MOTO_PORT ?= 5055
E2E_MOTO_PORT ?= 5056
E2E_API_PORT ?= 9056

export PATH := $(BIN):$(PATH)

.PHONY: help tools build dev events test lint unit integration e2e bench sam-build clean-dev

help:
	@echo "make dev      run the local stack: moto + every function at template.yaml's paths + queue pump"
	@echo "make test     fmt, clippy, cfn-lint, unit, moto integration and end-to-end tests"
	@echo "make events   regenerate events/*.json from events/env.json"
	@echo "make bench    criterion benchmarks (results: BENCHMARKS.md)"
	@echo "make tools    install moto, cargo-lambda and cfn-lint into $(VENV)/"

$(VENV_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check $(PY_TOOLS)
	rm -f $(VENV)/.installed-*
	touch $@

tools: $(VENV_STAMP)

build:
	cargo build --workspace --bins

dev: tools build
	MOTO_PORT=$(MOTO_PORT) API_PORT=$(API_PORT) ./target/debug/inlet dev

events: build
	./target/debug/inlet gen-events

lint: tools
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(BIN)/cfn-lint template.yaml

# Unit and handler tests, plus the adapters against a moto server of their own.
unit: tools
	INLET_TEST_AWS_ENDPOINT=http://127.0.0.1:$(TEST_MOTO_PORT) \
	  tests/with-moto.sh $(TEST_MOTO_PORT) \
	  cargo test --workspace --all-targets --exclude inlet-tests
	INLET_TEST_AWS_ENDPOINT=http://127.0.0.1:$(TEST_MOTO_PORT) \
	  tests/with-moto.sh $(TEST_MOTO_PORT) \
	  cargo test -p inlet-tests --test adapters --test layout

# The local stack exactly as `make dev` runs it, driven over HTTP.
e2e: tools build
	tests/with-stack.sh $(E2E_MOTO_PORT) $(E2E_API_PORT) \
	  cargo test -p inlet-tests --test e2e -- --test-threads=1

test: lint unit e2e
	@echo "make test: all checks passed"

bench:
	cargo bench --workspace --benches

sam-build:
	sam build

clean-dev:
	rm -rf .dev
