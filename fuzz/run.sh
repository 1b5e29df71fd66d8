#!/usr/bin/env bash
# Fuzz the pfkey message parser for N seconds (default 600).
#
#   fuzz/run.sh [SECONDS] [extra libFuzzer args...]
#
# Installs cargo-fuzz when missing, writes the seed corpus (messages built with the pfkey
# builders) into fuzz/corpus/parse, then runs the `parse` target. Needs nightly features:
# on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks them. SANITIZER=address (default) uses ASan;
# SANITIZER=none builds without a sanitizer where the ASan runtime is unavailable.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"
shift || true
sanitizer="${SANITIZER:-address}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi

cargo run --quiet --release --bin seeds -- corpus/parse
mkdir -p artifacts/parse

RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer "$sanitizer" parse corpus/parse -- \
    -max_total_time="$secs" -print_final_stats=1 -artifact_prefix=artifacts/parse/ "$@"
