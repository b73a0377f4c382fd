# inlet — the only entry points a newcomer needs:
#   make dev    run everything locally (no AWS account)
#   make test   every check CI runs
#
# Python tools (moto's server, cargo-lambda with its bundled zig, cfn-lint)
# go into a project-local venv; nothing is installed system-wide. AWS SAM CLI
# has a venv of its own (.venv-sam): its pins (boto3, click, pydantic …)
# would otherwise move moto's.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PY_TOOLS := moto[server]==5.2.5 cargo-lambda==1.9.2 cfn-lint==1.58.0 lark-oapi==1.7.5 dingtalk-stream==0.24.3 slack-sdk==3.39.0 slack-bolt==1.30.0 stripe==14.0.1 standardwebhooks==1.1.0 wechatpy==1.8.18 xmltodict==1.0.4 twilio==9.13.0 line-bot-sdk==3.27.0 sendgrid==6.12.5 squareup==46.0.0.20260916 razorpay==2.0.1 paddle-python-sdk==1.16.1 svix==2.9.1 box-sdk-gen==1.17.0 coinbase-commerce==1.0.1
VENV_STAMP := $(VENV)/.installed-$(shell echo '$(PY_TOOLS)' | cksum | cut -d' ' -f1)
SAM_VENV := .venv-sam
SAM_BIN := $(CURDIR)/$(SAM_VENV)/bin
SAM_TOOLS := aws-sam-cli==1.170.0
SAM_STAMP := $(SAM_VENV)/.installed-$(shell echo '$(SAM_TOOLS)' | cksum | cut -d' ' -f1)
# sam validate and sam build run offline: no telemetry, a fixed region (no
# AWS account or credentials are needed for either).
export SAM_CLI_TELEMETRY := 0
SAM_REGION ?= us-east-1
# Node libraries the cross-checks run against, in a project-local node_modules.
NODE_DIR := .tools/node
NODE_TOOLS := @octokit/webhooks-methods@6.0.0 @linear/sdk@98.0.0 @mux/mux-node@15.3.0 @hubspot/api-client@14.0.1 @shopify/shopify-api@15.0.0
NODE_STAMP := $(NODE_DIR)/.installed-$(shell echo '$(NODE_TOOLS)' | cksum | cut -d' ' -f1)
# The peers `make bench-peers` times inlet against (lark-oapi is in PY_TOOLS).
PEERS_DIR := .tools/peers
PEER_NODE_TOOLS := @larksuiteoapi/node-sdk@1.74.0
PEERS_STAMP := $(PEERS_DIR)/.installed-$(shell echo '$(PEER_NODE_TOOLS)' | cksum | cut -d' ' -f1)

MOTO_PORT ?= 5000
API_PORT ?= 9000
# Ports of the emulator and stack that `make test` starts for itself, so a
# running `make dev` does not get in the way.
TEST_MOTO_PORT ?= 5055
E2E_MOTO_PORT ?= 5056
E2E_API_PORT ?= 9056

export PATH := $(BIN):$(PATH)

.PHONY: help tools build dev events test lint unit integration e2e stack soak bench bench-peers coldstart fuzz sam-build clean-dev

help:
	@echo "make dev      run the local stack: moto + every function at template.yaml's paths + queue pump"
	@echo "make test     fmt, clippy, cfn-lint, unit, moto integration and end-to-end tests"
	@echo "make events   regenerate events/*.json from events/env.json"
	@echo "make bench    criterion benchmarks (results: BENCHMARKS.md)"
	@echo "make bench-peers  inlet next to lark-oapi, the Lark Node SDK and the raw work, one run (BENCHMARKS.md)"
	@echo "make coldstart  release binaries started cold under the Runtime API emulator (BENCHMARKS.md)"
	@echo "make soak     load and fault run against the local stack, then an audit (results: SOAK.md)"
	@echo "make fuzz     every cargo-fuzz target for FUZZ_SECONDS (default 60) each (FUZZING.md)"
	@echo "make sam-build  sam build --beta-features: the release arm64 build SAM deploys (.aws-sam/build)"
	@echo "make tools    install moto, cargo-lambda, cfn-lint, the platforms' official libraries and AWS SAM CLI into $(VENV)/, $(SAM_VENV)/ and $(NODE_DIR)/"

$(VENV_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check $(PY_TOOLS)
	rm -f $(VENV)/.installed-*
	touch $@

$(SAM_STAMP):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_BIN)/pip install --quiet --disable-pip-version-check $(SAM_TOOLS)
	rm -f $(SAM_VENV)/.installed-*
	touch $@

$(NODE_STAMP):
	mkdir -p $(NODE_DIR)
	npm install --silent --no-audit --no-fund --prefix $(NODE_DIR) $(NODE_TOOLS)
	rm -f $(NODE_DIR)/.installed-*
	touch $@

tools: $(VENV_STAMP) $(NODE_STAMP) $(SAM_STAMP)

build:
	cargo build --workspace --bins

dev: tools build
	MOTO_PORT=$(MOTO_PORT) API_PORT=$(API_PORT) ./target/debug/inlet dev

events: build
	./target/debug/inlet gen

lint: tools
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(BIN)/cfn-lint template.yaml
	$(BIN)/cfn-lint examples/*/template.yaml
	$(SAM_BIN)/sam validate --lint --region $(SAM_REGION) --template-file template.yaml

# Unit and handler tests, plus the adapters against a moto server of their own;
# first, the moto queue index answers as moto does (tests/moto_sqs_index.py).
unit: tools
	cd tests && $(BIN)/python -m unittest moto_sqs_index_test
	cd examples/python-eventbridge-consumer && PYTHONDONTWRITEBYTECODE=1 $(BIN)/python -m unittest
	cd examples/http-receiver && PYTHONDONTWRITEBYTECODE=1 $(BIN)/python -m unittest
	cd examples/echo-bot && PYTHONDONTWRITEBYTECODE=1 $(BIN)/python -m unittest
	INLET_TEST_AWS_ENDPOINT=http://127.0.0.1:$(TEST_MOTO_PORT) \
	  tests/with-moto.sh $(TEST_MOTO_PORT) \
	  cargo test --workspace --all-targets --exclude inlet-tests
	INLET_TEST_AWS_ENDPOINT=http://127.0.0.1:$(TEST_MOTO_PORT) \
	  tests/with-moto.sh $(TEST_MOTO_PORT) \
	  cargo test -p inlet-tests --test adapters --test operations --test secrets --test layout --test deployment --test properties --test delivery --test event_patterns --test http_delivery --test replies --test tls

# The local stack exactly as `make dev` runs it, driven over HTTP.
e2e: tools build
	tests/with-stack.sh $(E2E_MOTO_PORT) $(E2E_API_PORT) \
	  cargo test -p inlet-tests --test e2e -- --test-threads=1

# The local stack's own promises against real processes (restarts, timeouts,
# Ctrl-C at any moment, private and separate state files), the short soak and
# delivery (the bus, a signed HTTP destination through `inlet listen`'s server,
# FIFO ordering);
# each test starts stacks of its own on free ports.
stack: tools build
	cargo test -p inlet-tests --test local_stack --test soak --test delivery_stack -- --test-threads=1

# Load and faults against a local stack of its own; the figures go to SOAK.md.
soak: tools build
	INLET_SOAK_COMMAND="make soak" ./target/debug/inlet soak --events 3000 --write SOAK.md

test: lint unit e2e stack
	@echo "make test: all checks passed"

bench:
	cargo bench --workspace --benches

$(PEERS_STAMP):
	mkdir -p $(PEERS_DIR)
	npm install --silent --no-audit --no-fund --prefix $(PEERS_DIR) $(PEER_NODE_TOOLS)
	rm -f $(PEERS_DIR)/.installed-*
	touch $@

# inlet's Lark and Discord functions next to the official SDKs and the raw
# work, on identical request bytes, in one run (tests/benches/peers.rs).
bench-peers: tools $(PEERS_STAMP)
	cargo bench -p inlet-tests --bench peers

# Cold starts of the release binaries under the Runtime API emulator, next to
# a hello-world lambda_http binary built with the same profile (BENCHMARKS.md).
coldstart:
	cargo build --release --workspace --bins
	./target/release/inlet coldstart

# Fuzzing, not part of `make test` (FUZZING.md): cargo-fuzz is installed into
# a git-ignored project-local root; fuzz/run.sh seeds from events/ and runs
# each target for FUZZ_SECONDS (or FUZZ_RUNS executions).
FUZZ_ROOT := $(CURDIR)/fuzz/.tools
fuzz: export PATH := $(FUZZ_ROOT)/bin:$(PATH)
fuzz: $(FUZZ_ROOT)/bin/cargo-fuzz
	fuzz/run.sh

$(FUZZ_ROOT)/bin/cargo-fuzz:
	cargo install cargo-fuzz --version 0.13.2 --locked --root $(FUZZ_ROOT)

# The deployable build exactly as `sam build --beta-features` makes it (SAM's
# rust-cargolambda builder: cargo-lambda from $(VENV) with its zig, release
# profile, arm64), into .aws-sam/build. Not part of `make test`: its time is
# in BENCHMARKS.md.
sam-build: $(VENV_STAMP) $(SAM_STAMP)
	rustup target add aarch64-unknown-linux-gnu
	$(SAM_BIN)/sam build --beta-features --region $(SAM_REGION) --template-file template.yaml

clean-dev:
	rm -rf .dev
