# Tollgate: `make run` starts the gateway and console; `make test` runs every test.
# Both install what is missing first (see `deps`).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export CARGO_TARGET_DIR ?= $(CURDIR)/target
SITE_ROOT := $(CARGO_TARGET_DIR)/site
PKG_DIR := $(SITE_ROOT)/pkg
WASM_TARGET := wasm32-unknown-unknown
WASM_OUT := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/wasm-release/app.wasm
WASM_BINDGEN_VERSION := $(shell sed -n '/^name = "wasm-bindgen"$$/{n;s/version = "\(.*\)"/\1/p}' Cargo.lock)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# No wasm-opt: Debian's binaryen 108 produced a module that no longer hydrated (checked);
# LTO with opt-level "z" plus gzip/brotli on the wire keep the download small.
APT_PACKAGES_WASM := rustc-web cargo-web rust-web-src lld
DATA_DIR ?= ./data
# Python tools (the SDK tests) live in a venv outside the clone, reused between runs.
VENV ?= $(HOME)/.cache/tollgate/venv
SDK_REQUIREMENTS := server/tests/sdk/requirements.txt
# The coding CLIs the SDK tests drive (Codex CLI, Claude Code), pinned by the lock in
# server/tests/sdk/clients, installed outside the clone like the venv.
CLIENTS_DIR ?= $(HOME)/.cache/tollgate/clients
CLIENTS_LOCK := server/tests/sdk/clients/package-lock.json
LISTEN ?= 127.0.0.1:8080

.PHONY: help deps build site run cluster test lint unit-and-integration sdk e2e bench bench-control bench-memory clean

help:
	@echo "make run    install what is missing, build, start on $(LISTEN) (SQLite in $(DATA_DIR))"
	@echo "make cluster  three instances on PostgreSQL and Redis behind nginx on $(LISTEN); Ctrl-C stops them"
	@echo "make test   formatting, clippy, unit + integration (SQLite and PostgreSQL), browser end-to-end"
	@echo "make build  release build: $(CARGO_TARGET_DIR)/release/tollgate and the site in $(SITE_ROOT)"
	@echo "make bench  gateway overhead against a mock upstream on loopback (BENCH_SECONDS, BENCH_FULL, BENCH_DB, BENCH_REDIS)"
	@echo "make bench-control  usage lookups and pages over BENCH_ROWS seeded usage rows (BENCH_DB)"
	@echo "make bench-memory  peak memory under 32 concurrent bodies of 100,000 messages (default caps, then raised)"

# ---------------------------------------------------------------- installing
# The wasm32 standard library: rustup's target where it can be downloaded (a laptop);
# otherwise Debian's compiler builds std from source (machines without that download).
define wasm_build
	if rustup target list --installed 2>/dev/null | grep -q '^$(WASM_TARGET)$$' \
	   || rustup target add $(WASM_TARGET) >/dev/null 2>&1; then \
	  cargo build -p app --lib --target $(WASM_TARGET) --no-default-features --features hydrate --profile wasm-release; \
	else \
	  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld \
	  /usr/bin/cargo build -p app --lib --target $(WASM_TARGET) --no-default-features --features hydrate \
	    --profile wasm-release -Zbuild-std=std,panic_abort; \
	fi
endef

apt_install = $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(1) >/dev/null

deps:
	@if ! rustup target list --installed 2>/dev/null | grep -q '^$(WASM_TARGET)$$' \
	    && ! rustup target add $(WASM_TARGET) >/dev/null 2>&1 \
	    && ! { [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library ] && command -v wasm-ld >/dev/null; }; then \
	  echo "installing Debian's rustc-web toolchain for the wasm32 standard library"; \
	  $(call apt_install,$(APT_PACKAGES_WASM)); \
	fi
	@if [ "$$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$(WASM_BINDGEN_VERSION)" ]; then \
	  echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION)"; \
	  cargo install --quiet wasm-bindgen-cli --version =$(WASM_BINDGEN_VERSION) \
	    || RUSTC=/usr/bin/rustc /usr/bin/cargo install --quiet wasm-bindgen-cli --version =$(WASM_BINDGEN_VERSION); \
	fi
	@command -v chromium >/dev/null || { echo "installing chromium"; $(call apt_install,chromium); }
	@command -v npm >/dev/null || { echo "installing node and npm"; $(call apt_install,nodejs npm); }
	@command -v redis-server >/dev/null || { echo "installing redis-server (the cluster tests start their own)"; $(call apt_install,redis-server); }
	@python3 -m venv --help >/dev/null 2>&1 || { echo "installing python3-venv"; $(call apt_install,python3-venv); }
	@if ! cmp -s $(SDK_REQUIREMENTS) $(VENV)/requirements.txt; then \
	  echo "installing the Python test tools"; \
	  python3 -m venv $(VENV) && $(VENV)/bin/pip install --quiet -r $(SDK_REQUIREMENTS) && cp $(SDK_REQUIREMENTS) $(VENV)/requirements.txt; \
	fi
	@if ! cmp -s $(CLIENTS_LOCK) $(CLIENTS_DIR)/package-lock.json || [ ! -x $(CLIENTS_DIR)/node_modules/.bin/codex ] || [ ! -x $(CLIENTS_DIR)/node_modules/.bin/claude ]; then \
	  echo "installing the coding CLIs for the SDK tests"; \
	  mkdir -p $(CLIENTS_DIR) && cp server/tests/sdk/clients/package.json $(CLIENTS_LOCK) $(CLIENTS_DIR)/ \
	    && npm ci --prefix $(CLIENTS_DIR) --no-audit --no-fund --loglevel=error; \
	fi
	@[ -d end2end/node_modules/@playwright/test ] || (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)

# ---------------------------------------------------------------- building
site: deps
	@$(wasm_build)
	@mkdir -p $(PKG_DIR)
	wasm-bindgen --target web --out-dir $(PKG_DIR) --out-name tollgate --no-typescript \
	  --remove-name-section --remove-producers-section $(WASM_OUT)
	cp style/main.css $(PKG_DIR)/tollgate.css
	cp style/copy.js $(PKG_DIR)/copy.js

build: site
	cargo build --release -p server

run: build
	@mkdir -p $(DATA_DIR)
	TOLLGATE_DATABASE_URL=sqlite://$(DATA_DIR)/tollgate.db TOLLGATE_DATA_DIR=$(DATA_DIR) \
	TOLLGATE_LISTEN=$(LISTEN) TOLLGATE_SITE_ROOT=$(SITE_ROOT) TOLLGATE_SEED_DEMO=true \
	  $(CARGO_TARGET_DIR)/release/tollgate serve

# Three instances sharing PostgreSQL (database tollgate_cluster, created if missing) and
# Redis (prefix tollgate-cluster) behind nginx on $(LISTEN); see scripts/cluster.sh.
cluster: build
	@command -v nginx >/dev/null || { echo "installing nginx"; $(call apt_install,nginx); }
	BIN=$(CARGO_TARGET_DIR)/release/tollgate SITE_ROOT=$(SITE_ROOT) LISTEN=$(LISTEN) DATA_DIR=$(DATA_DIR)/cluster \
	  scripts/cluster.sh

# ---------------------------------------------------------------- testing
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p app --no-default-features --features hydrate -- -D warnings

# Bounded: a test that hangs fails the run instead of holding CI until its own limit.
unit-and-integration:
	timeout 1800 cargo test --workspace

sdk:
	cargo build -p server
	TOLLGATE_BIN=$(CARGO_TARGET_DIR)/debug/tollgate TOLLGATE_CLIENTS=$(CLIENTS_DIR) $(VENV)/bin/pytest -q server/tests/sdk

e2e: site
	cargo build -p server
	cd end2end && E2E_SERVER_BIN=$(CARGO_TARGET_DIR)/debug/tollgate E2E_SITE_ROOT=$(SITE_ROOT) npx playwright test

test: deps lint unit-and-integration sdk e2e

# ---------------------------------------------------------------- benchmarking
# Not part of `make test`: it needs the machine to itself for its figures to mean anything.
# BENCH_SECONDS per run (default 5), BENCH_FULL=1 adds 4,000 RPS, BENCH_DB=postgres uses
# a database it creates on 127.0.0.1:5432, BENCH_REDIS=1 adds rows with limits on the key,
# counted in-process and in the Redis at BENCH_REDIS_URL (default 127.0.0.1:6379, keys under
# a prefix of the run's own, deleted at the end). Writes $(CARGO_TARGET_DIR)/bench/results.json.
bench:
	cargo build --release -p server --bin tollgate --bin tollgate-bench
	$(CARGO_TARGET_DIR)/release/tollgate-bench

# The control plane: BENCH_ROWS usage rows (default 200,000; the issue's figure is 10,000,000),
# then request-id lookups and pages through the management API. Writes .../bench/control.json.
bench-control:
	cargo build --release -p server --bin tollgate --bin tollgate-bench
	$(CARGO_TARGET_DIR)/release/tollgate-bench control

# Peak resident memory (VmHWM) under 32 concurrent ~3.4 MB bodies of 100,000 messages, against
# the resting figure: with the default caps (refused as too complex), then with the message
# cap raised so the bodies are read through to the upstream. Writes .../bench/memory.json.
bench-memory:
	cargo build --release -p server --bin tollgate --bin tollgate-bench
	$(CARGO_TARGET_DIR)/release/tollgate-bench memory
	BENCH_MESSAGE_CAP=200000 $(CARGO_TARGET_DIR)/release/tollgate-bench memory

clean:
	cargo clean
	rm -rf end2end/node_modules end2end/test-results end2end/screenshots
