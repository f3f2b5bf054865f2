# The README's commands. Every target first runs scripts/setup, which is idempotent.
.PHONY: setup build run smoke try-target reference evaluation test lint bench

setup:
	./scripts/setup

build: setup
	cargo build --release --bin computelocator --bin cl-target

## run: the main job — the sized-sweep experiment on the local backend (about 20 minutes).
run: build
	target/release/computelocator experiment sized-sweep

## smoke: the same pipeline with tiny payloads (under a minute).
smoke: build
	target/release/computelocator experiment smoke

## try-target: start cl-target alone and send one request to each workload.
try-target: build
	./scripts/try-target target/release/cl-target

## reference: re-make data/reference/sized-sweep from a fresh real run (then commit it).
reference: build
	./scripts/make-reference

## evaluation: re-make data/reference/evaluation.json (every split, importance, placement) from
## the reference run.
evaluation: build
	target/release/computelocator evaluate data/reference/sized-sweep --json --multi-output > data/reference/evaluation.json

## test: everything CI runs — formatting, lints (warnings are errors) and the whole test suite.
test: setup lint
	cargo nextest run --workspace --profile $(if $(CI),ci,default)

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

## bench: criterion benchmarks (by hand, not in CI).
bench: setup
	cargo bench --workspace
