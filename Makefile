# hookline — the two commands are `make dev` (the local stack) and `make test` (every check).
SHELL := /bin/bash
VENV := $(CURDIR)/.venv-tools
export PATH := $(VENV)/bin:$(PATH)
export HOOKLINE_MOTO_SERVER := $(VENV)/bin/moto_server
export RUST_BACKTRACE := 1

.PHONY: help tools dev fmt-check clippy lint-template quickstart test bench

help:
	@echo "make dev            run the local stack (moto + API on 127.0.0.1:3000 + event-source pollers)"
	@echo "make test           install pinned tools, then fmt check, clippy -D warnings, template lint, every test"
	@echo "make tools          install the pinned Python tools into .venv-tools"
	@echo "make quickstart     run the README quickstart against a fresh local stack"
	@echo "make bench          measure delivery, fan-out, ingest, cold start and AWS cost; writes BENCHMARKS.md"
	@echo "make fmt-check | clippy | lint-template"

tools:
	@bash infra/tools/setup.sh

dev: tools
	cargo run -p hookline-cli --bin hookline -- dev

fmt-check:
	cargo fmt --all --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

lint-template: tools
	$(VENV)/bin/cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(VENV)/bin/python infra/tools/check_template.py template.yaml

# The README quickstart, run as a new user would: four signed webhooks verified by the
# unmodified Standard Webhooks library.
quickstart: tools
	cargo build -p hookline-cli
	bash infra/tools/quickstart.sh

# --show-output prints what passing tests report: case counts of the hostile-input and SSRF
# suites, the soak's delivered / duplicates / lost figures, the SIGKILL test's tally.
test: tools fmt-check clippy lint-template
	cargo test --workspace -- --show-output
	$(MAKE) --no-print-directory quickstart

# Benchmarks (issue 6): release builds of the five functions (their size and cold start are
# measured), then every figure, written to BENCHMARKS.md and docs/bench/throughput.svg.
FUNCTIONS := -p hookline-ingest -p hookline-fanout -p hookline-deliver -p hookline-subscriptions -p hookline-authorizer
bench: tools
	cargo build --release $(FUNCTIONS)
	cargo run --release -p hookline-bench -- all
