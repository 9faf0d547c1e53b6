# keywarden: developer entry points.
#
#   make venv    local AWS (moto) and cargo-lambda in $(VENV)
#   make build   build the workspace
#   make lint    rustfmt check and clippy with warnings as errors
#   make test    every test, the end-to-end ones included (moto + cargo lambda)
#   make demo    audit a seeded local account with the real function and print the report
#   make bench   core micro-benchmarks, then the release function on 1,000- and 5,000-user moto accounts
#   make fuzz    the parsers' fuzz targets for FUZZ_SECONDS each (default 600), release build
#   make synth   synthesize the CDK stack (infra/), run cdk-nag and cfn-lint; no credentials needed
#   make deploy  build the function for arm64 and deploy the stack: make deploy EMAIL=you@example.com
#   make destroy remove the stack (the report bucket and the log group are kept)
#   make clean   remove build output and out/
#
# Variables: VENV (default .venv; CI points it at a cache), CARGO_TARGET_DIR (honoured by
# cargo as usual), NEXTEST_PROFILE (default, or ci), EMAIL and CDK_CONTEXT (extra
# `-c name=value` settings of the CDK app, see README) for deploy and synth.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
VENV_BIN := $(abspath $(VENV))/bin
# moto_server and cargo-lambda come from the venv, before anything else on PATH.
export PATH := $(VENV_BIN):$(PATH)

CARGO ?= cargo
CARGO_FLAGS ?= --locked
NEXTEST_PROFILE ?= default

# Versions the end-to-end tests are known to work with.
MOTO_VERSION ?= 5.2.5
CARGO_LAMBDA_VERSION ?= 1.9.2
ZIGLANG_VERSION ?= 0.17.1
CFN_LINT_VERSION ?= 1.58.0

# Where cargo puts its output, for the built Lambda (target/lambda/keywarden/bootstrap).
TARGET_DIR := $(abspath $(or $(CARGO_TARGET_DIR),target))
EMAIL ?=
CDK_CONTEXT ?=
# cfn-lint: fail on errors and warnings, except W3005, the explicit DependsOn on the function's
# role that CDK always writes although the GetAtt already implies it.
CFN_LINT := cfn-lint --ignore-checks W3005 --
# The CDK CLI stays offline: no usage telemetry (notices are off per command).
export CDK_DISABLE_CLI_TELEMETRY := true

# Where Debian's libfaketime package puts the library (any architecture).
FAKETIME_LIBS := $(wildcard /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 /usr/local/lib/faketime/libfaketime.so.1) $(KEYWARDEN_LIBFAKETIME)

.PHONY: help venv check-faketime check-chromium nextest build lint test test-infra synth deploy destroy demo bench fuzz clean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

venv:
	@if [ ! -x "$(VENV_BIN)/moto_server" ] || [ ! -x "$(VENV_BIN)/cargo-lambda" ] || [ ! -x "$(VENV_BIN)/cfn-lint" ]; then \
	  echo "creating $(VENV) with moto[server] $(MOTO_VERSION), cargo-lambda $(CARGO_LAMBDA_VERSION), ziglang $(ZIGLANG_VERSION), cfn-lint $(CFN_LINT_VERSION)"; \
	  python3 -m venv "$(VENV)"; \
	  "$(VENV_BIN)/pip" install --quiet --disable-pip-version-check \
	    'moto[server]==$(MOTO_VERSION)' 'cargo-lambda==$(CARGO_LAMBDA_VERSION)' 'ziglang==$(ZIGLANG_VERSION)' \
	    'cfn-lint==$(CFN_LINT_VERSION)'; \
	fi
	@"$(VENV_BIN)/moto_server" --help >/dev/null
	@"$(VENV_BIN)/cargo-lambda" lambda --help >/dev/null
	@"$(VENV_BIN)/cfn-lint" --version >/dev/null

# The CDK app's pinned dependencies (package-lock.json), installed again when the lock changes.
infra/node_modules/.installed: infra/package-lock.json
	cd infra && npm ci --no-audit --no-fund
	touch $@

check-faketime:
	@if [ -z "$(strip $(FAKETIME_LIBS))" ]; then \
	  echo "libfaketime is missing (the end-to-end tests move moto's clock with it)."; \
	  echo "Install it with:  sudo apt-get install -y faketime"; \
	  exit 1; \
	fi

# The browser test renders the HTML report in Debian's Chromium (never a downloaded build).
check-chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "chromium is missing (the browser test renders the HTML report with it)."; \
	  echo "Install it with:  sudo apt-get install -y chromium"; \
	  exit 1; \
	fi

nextest:
	@$(CARGO) nextest --version >/dev/null 2>&1 || $(CARGO) install --locked cargo-nextest

build:
	$(CARGO) build --workspace $(CARGO_FLAGS)

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets $(CARGO_FLAGS) -- -D warnings
	$(CARGO) clippy -p keywarden-lambda -p keywarden-aws --all-targets --features keywarden-lambda/crash-points $(CARGO_FLAGS) -- -D warnings

# The function binaries are built first, exactly as `cargo lambda watch` runs them (the
# crash tests' keywarden-crashable with its test-only feature), so the end-to-end tests'
# watches start them at once; nextest then builds the test binaries once.
test: venv check-faketime check-chromium nextest test-infra
	$(CARGO) build $(CARGO_FLAGS) --manifest-path Cargo.toml --bin keywarden
	$(CARGO) build $(CARGO_FLAGS) --manifest-path Cargo.toml --bin keywarden-crashable --features keywarden-lambda/crash-points
	$(CARGO) nextest run --workspace $(CARGO_FLAGS) --profile $(NEXTEST_PROFILE)

# The stack's own tests (type check, then node's test runner with aws-cdk-lib assertions and
# cdk-nag), then the app as a user synthesizes it, linted.
test-infra: venv infra/node_modules/.installed
	cd infra && npm test
	$(MAKE) --no-print-directory synth
	$(MAKE) --no-print-directory synth CDK_CONTEXT='-c organization=true -c fanout=stepfunctions -c rotationMode=enforce -c securityHub=true'

synth: venv infra/node_modules/.installed
	cd infra && rm -rf cdk.out && npx cdk synth --quiet --no-notices \
	  -c functionAsset=$(TARGET_DIR)/lambda/keywarden $(CDK_CONTEXT)
	cd infra && $(CFN_LINT) cdk.out/*.template.json
	@echo "synthesized infra/cdk.out/: cdk-nag AwsSolutions and cfn-lint passed"

deploy: venv infra/node_modules/.installed
	@if [ -z "$(EMAIL)" ]; then echo "usage: make deploy EMAIL=security-team@example.com [CDK_CONTEXT='-c rotationMode=enforce ...']"; exit 2; fi
	cargo lambda build --release --arm64 --bin keywarden
	cd infra && npx cdk deploy --require-approval broadening --no-notices \
	  -c deploy=true -c securityTeamEmail=$(EMAIL) -c functionAsset=$(TARGET_DIR)/lambda/keywarden $(CDK_CONTEXT)

destroy: infra/node_modules/.installed
	cd infra && npx cdk destroy $(CDK_CONTEXT)

demo: venv check-faketime
	$(CARGO) build $(CARGO_FLAGS) --manifest-path Cargo.toml --bin keywarden
	$(CARGO) run $(CARGO_FLAGS) --quiet -p keywarden-e2e --bin demo

# The core's phases on a kept harness (divan), then the whole function at account scale
# (tests/src/bin/bench.rs): figures printed and written to $(TARGET_DIR)/bench/.
# BENCH_USERS picks the account sizes (default 1000,5000).
BENCH_USERS ?= 1000,5000
bench: venv
	$(CARGO) bench $(CARGO_FLAGS) -p keywarden-core --features mock --bench evaluate
	KEYWARDEN_BENCH_USERS=$(BENCH_USERS) $(CARGO) run $(CARGO_FLAGS) --quiet -p keywarden-e2e --bin bench

# make test runs each fuzz target for 30 s; this is the long local session.
FUZZ_SECONDS ?= 600
fuzz:
	KEYWARDEN_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CARGO) test $(CARGO_FLAGS) --release -p keywarden-core --features mock --test fuzz -- --nocapture --test-threads=2
	KEYWARDEN_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CARGO) test $(CARGO_FLAGS) --release -p keywarden-lambda --test fuzz_event -- --nocapture

clean:
	$(CARGO) clean
	rm -rf out
