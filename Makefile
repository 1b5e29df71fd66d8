# pfkey-mobike: top-level entry points. `make demo` needs no root and no special kernel;
# `make test` is what CI runs (.ci/run) and installs what it needs when missing.
CARGO ?= cargo

.PHONY: all build demo test test-unit lint bench fuzz clean

all: build

build:
	$(CARGO) build --workspace --all-targets

demo:
	@$(CARGO) run -q -p pfkey --bin pfkey -- demo

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-unit:
	$(CARGO) test --workspace

test: lint test-unit

bench:
	$(CARGO) bench -p pfkey --bench codec

clean:
	$(CARGO) clean
