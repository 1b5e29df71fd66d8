#!/usr/bin/env bash
# Fuzz one target for N seconds (default 600).
#
#   [TARGET=parse|ikev2_decode] fuzz/run.sh [SECONDS] [extra libFuzzer args...]
#
# Targets: `parse` (the pfkey message parser, the default) and `ikev2_decode` (the ikev2d
# IKEv2 codec). Installs cargo-fuzz when missing, writes the target's seed corpus into
# fuzz/corpus/TARGET (`parse`: messages built with the pfkey builders; `ikev2_decode`: IKEv2
# messages built with the codec), then runs the target. Needs nightly features: on a stable
# toolchain RUSTC_BOOTSTRAP=1 unlocks them. SANITIZER=address (default) uses ASan;
# SANITIZER=none builds without a sanitizer where the ASan runtime is unavailable.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"
shift || true
sanitizer="${SANITIZER:-address}"
target="${TARGET:-parse}"

case "$target" in
    parse) seeds=seeds ;;
    ikev2_decode) seeds=ikev2_seeds ;;
    *)
        echo "unknown target '$target' (parse, ikev2_decode)" >&2
        exit 2
        ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi

cargo run --quiet --release --bin "$seeds" -- "corpus/$target"
mkdir -p "artifacts/$target"

RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer "$sanitizer" "$target" "corpus/$target" -- \
    -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="artifacts/$target/" "$@"
