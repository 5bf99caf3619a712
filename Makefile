# hookline — the two commands are `make dev` (the local stack) and `make test` (every check).
SHELL := /bin/bash
VENV := $(CURDIR)/.venv-tools
SAM_VENV := $(CURDIR)/.venv-sam
export PATH := $(VENV)/bin:$(PATH)
export HOOKLINE_MOTO_SERVER := $(VENV)/bin/moto_server
export RUST_BACKTRACE := 1
# No telemetry banner, no ~/.aws-sam/metadata.json.
export SAM_CLI_TELEMETRY := 0
SAM := $(SAM_VENV)/bin/sam

TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: help tools sam-tools dev fmt-check clippy lint-template quickstart test bench \
	test-lambda lambda-build lambda-test lambda-build-arm64 sam-build

help:
	@echo "make dev            run the local stack (moto + API on 127.0.0.1:3000 + event-source pollers)"
	@echo "make test           install pinned tools, then fmt check, clippy -D warnings, template lint (cfn-lint,"
	@echo "                    invariants, sam validate --lint), every test, the quickstart, make test-lambda"
	@echo "make test-lambda    the release binaries under the Lambda emulator, sam build, and arm64 where possible"
	@echo "make tools          install the pinned Python tools into .venv-tools (moto, cfn-lint, cargo-lambda, ...)"
	@echo "make sam-tools      install the pinned AWS SAM CLI into its own .venv-sam"
	@echo "make lambda-build   cargo lambda build --release of every function (x86_64) into $(TARGET_DIR)/lambda"
	@echo "make lambda-test    lambda-build, then run those bootstraps under cargo lambda watch against moto"
	@echo "make sam-build      sam build (x86_64), reusing the lambda-build artifacts"
	@echo "make lambda-build-arm64   best effort: arm64 bootstraps into $(TARGET_DIR)/lambda-arm64 (LAMBDA_ARM64=off skips)"
	@echo "make quickstart     run the README quickstart against a fresh local stack"
	@echo "make bench          measure delivery, fan-out, ingest, cold start and AWS cost; writes BENCHMARKS.md"
	@echo "make fmt-check | clippy | lint-template"

tools:
	@bash infra/tools/setup.sh

sam-tools:
	@bash infra/tools/setup.sh sam

dev: tools
	cargo run -p hookline-cli --bin hookline -- dev

fmt-check:
	cargo fmt --all --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

lint-template: tools sam-tools
	$(VENV)/bin/cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(VENV)/bin/python infra/tools/check_template.py template.yaml
	$(SAM) validate --lint

# The README quickstart, run as a new user would: four signed webhooks verified by the
# unmodified Standard Webhooks library.
# `--workspace --bin` rather than `-p hookline-cli`: closer to the features `cargo test --workspace`
# resolved (only dev-dependency features differ), so less is compiled again (48 s instead of 72 s
# on a clean clone).
quickstart: tools
	cargo build --workspace --bin hookline
	bash infra/tools/quickstart.sh

# Release bootstraps as Lambda runs them: x86_64, linked by zig against an old glibc
# (provided.al2023 has 2.34), into $(TARGET_DIR)/lambda/<function>/bootstrap. The five entry
# points are bins of one package, hookline-lambda (ADR 0005), so this single build and the
# `cargo lambda build --release --bin <function>` that sam build runs per function resolve the
# same features: the dependencies compile once, and sam build finds every unit already built.
lambda-build: tools
	@if cargo tree -p hookline-lambda -e normal,features -i hookline-core --prefix none | grep -q test-doubles; then \
		echo "lambda-build: hookline-core's test-doubles feature is on in the shipped graph" >&2; exit 1; fi
	cargo lambda build --release -p hookline-lambda

# Those very bootstraps as processes under cargo-lambda's runtime emulator, against moto, invoked
# with the events/ fixtures (tests/lambda_emulator.rs).
lambda-test: lambda-build
	cargo test --workspace --test lambda_emulator -- --ignored

# sam build (x86_64) compiles nothing after lambda-build, and must package the bootstraps
# lambda-test ran (infra/tools/sam-build.sh checks their sha256).
sam-build: sam-tools lambda-build
	@bash infra/tools/sam-build.sh

lambda-build-arm64: tools
	@bash infra/tools/lambda-arm64.sh

# --show-output prints what passing tests report: case counts of the hostile-input and SSRF
# suites, the soak's delivered / duplicates / lost figures, the SIGKILL test's tally.
test: tools sam-tools fmt-check clippy lint-template
	cargo test --workspace -- --show-output
	$(MAKE) --no-print-directory quickstart
	$(MAKE) --no-print-directory test-lambda

# The Lambda packaging as deployed: release bootstraps under cargo-lambda's runtime emulator,
# sam build of those very bootstraps, and the arm64 build where the target can be added.
test-lambda: lambda-test sam-build lambda-build-arm64

# Benchmarks (issue 6): the release bootstraps of lambda-build (their size and cold start are
# measured; after `make test` they are already built), then every figure, written to
# BENCHMARKS.md and docs/bench/throughput.svg.
bench: lambda-build
	cargo run --release -p hookline-bench -- all
