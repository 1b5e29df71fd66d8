# pfkey-mobike: top-level entry points. `make demo` needs no root and no special kernel;
# `make test` is what CI runs (.ci/run) and installs what it needs when missing.
CARGO ?= cargo
FUZZ_SECS ?= 600

.PHONY: all build demo test test-unit lint fuzz-check bench fuzz clean deps kernel kernel-patched kernel-kasan kernel-check vm-test vm-test-kasan vm-vectors vm-bench

all: build

build:
	$(CARGO) build --workspace --all-targets

## The main job on the embedded default: the in-memory kernel model (no root, no kernel); then
## two ikev2d daemons negotiating a tunnel over loopback into their own kernel models.
demo:
	@$(CARGO) run -q -p pfkey --bin pfkey -- demo
	@CARGO="$(CARGO)" scripts/demo-ikev2d.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-unit:
	$(CARGO) test --workspace

## The fuzz target lives in its own workspace (it needs libFuzzer): keep it compiling.
fuzz-check:
	$(CARGO) check --manifest-path fuzz/Cargo.toml --all-targets

## Everything CI runs: formatting and lints, the plain tier (codec, model, CLI, kernel vectors),
## the fuzz target's build, and the VM tier on a real Linux 6.12 with PF_KEY.
test: lint test-unit fuzz-check vm-test vm-test-kasan

# The kernel lab (tests/ crate, scripts/, kernel-patch/). Kernels are cached outside the checkout
# in ${XDG_CACHE_HOME:-~/.cache}/pfkey-mobike/ and rebuilt only when the source package, the
# patch series or the config fragment change.
deps:
	scripts/ensure-deps.sh

kernel: deps
	scripts/build-kernel.sh stock
	@if [ "$(KASAN)" = 1 ]; then KASAN=1 scripts/build-kernel.sh patched; fi

kernel-patched: deps
	scripts/build-kernel.sh patched

## The patched kernel once more, with KASAN (also `make kernel KASAN=1`).
kernel-kasan: deps
	KASAN=1 scripts/build-kernel.sh patched

## The guest suite (probe, selftest, af_key checks, the bad-input suite) on the KASAN kernel:
## every check passes and the kernel log has no KASAN report or warning.
vm-test-kasan: kernel-kasan kernel-patched
	$(CARGO) run -q -p lab --bin lab-vm-test -- --kernel patched-kasan --suite-only --timeout 900

## checkpatch.pl --strict on every patch of kernel-patch/series (in the patched tree).
kernel-check: kernel-patched
	scripts/check-patches.sh

# Boots the stock and the patched kernel in QEMU and runs in each the capability probe, the series'
# kselftest (the negative control on stock), the pfkey crate's real-socket tests, the CLI over the
# real PF_KEY socket, the message capture and the atomicity harness. Both run even if one fails.
vm-test: kernel kernel-patched kernel-check
	$(CARGO) test -q -p lab --test vm_runner -- --ignored
	@rc=0; \
	$(CARGO) run -q -p lab --bin lab-vm-test -- --kernel stock || rc=1; \
	$(CARGO) run -q -p lab --bin lab-vm-test -- --kernel patched || rc=1; \
	exit $$rc

# The same, and refreshes the committed kernel vectors (pfkey/tests/vectors/kernel/).
vm-vectors: kernel
	$(CARGO) run -q -p lab --bin lab-vm-test -- --kernel stock --save-vectors pfkey/tests/vectors/kernel

## The scale benchmark in the VM (tests/src/scale.rs): 1k and 10k tunnels moved per mechanism, on
## both kernels; the tables go to stdout and to the results share (scale.md, scale.json).
vm-bench: kernel kernel-patched
	$(CARGO) build -q -p lab --bin lab-guest
	@for k in stock patched; do \
		echo "== $$k"; \
		$(CARGO) run -q -p lab --bin lab-vm -- --kernel $$k --timeout 2400 -- \
			$(abspath $(or $(CARGO_TARGET_DIR),target))/debug/lab-guest scale --tunnels 1000,10000 || exit 1; \
	done

## Criterion benchmarks of the message layer (parse/validate/emit; ratios to same-run baselines).
bench:
	$(CARGO) bench -p pfkey --bench codec

## Fuzz the parser for FUZZ_SECS seconds (installs cargo-fuzz when missing).
fuzz:
	fuzz/run.sh $(FUZZ_SECS)

clean:
	$(CARGO) clean
