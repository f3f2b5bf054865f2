# The README's commands. Every target first runs scripts/setup, which is idempotent.
.PHONY: setup run test lint bench

setup:
	./scripts/setup

## run: the main job — start cl-target and send one request to each workload.
run: setup
	cargo build --release --bin cl-target
	./scripts/try-target target/release/cl-target

## test: everything CI runs — formatting, lints (warnings are errors) and the whole test suite.
test: setup lint
	cargo nextest run --workspace --profile $(if $(CI),ci,default)

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

## bench: criterion benchmarks (by hand, not in CI).
bench: setup
	cargo bench --workspace
