# pfkey-mobike: top-level entry points. `make demo` needs no root and no special kernel;
# `make test` is what CI runs (.ci/run) and installs what it needs when missing.
CARGO ?= cargo
FUZZ_SECS ?= 600

.PHONY: all build demo test test-unit lint fuzz-check bench fuzz clean

all: build

build:
	$(CARGO) build --workspace --all-targets

## The main job on the embedded default: the in-memory kernel model (no root, no kernel).
demo:
	@$(CARGO) run -q -p pfkey --bin pfkey -- demo

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-unit:
	$(CARGO) test --workspace

## The fuzz target lives in its own workspace (it needs libFuzzer): keep it compiling.
fuzz-check:
	$(CARGO) check --manifest-path fuzz/Cargo.toml --all-targets

test: lint test-unit fuzz-check

## Criterion benchmarks of the message layer (parse/validate/emit; ratios to same-run baselines).
bench:
	$(CARGO) bench -p pfkey --bench codec

## Fuzz the parser for FUZZ_SECS seconds (installs cargo-fuzz when missing).
fuzz:
	fuzz/run.sh $(FUZZ_SECS)

clean:
	$(CARGO) clean
