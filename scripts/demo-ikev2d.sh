#!/usr/bin/env bash
# `make demo`, second part: two ikev2d daemons, A on 127.0.0.1 and B on 127.0.0.2, negotiate a
# tunnel (IKE_SA_INIT + IKE_AUTH with a PSK) over loopback and install its SAs in their
# in-memory kernel models. Shows both sides' status and SAs, rekeys the Child SA, shows the new
# SPIs, then terminates and stops both. No root: unprivileged ports, the model backend, a temp dir.
set -euo pipefail

CARGO=${CARGO:-cargo}
cd "$(dirname "$0")/.."

WORK=""
section() { printf '\n=== %s\n\n' "$*"; }
die() {
    echo "demo-ikev2d: $*" >&2
    for side in a b; do
        if [[ -n "$WORK" && -f "$WORK/$side.log" ]]; then
            echo "--- $side.log" >&2
            cat "$WORK/$side.log" >&2
        fi
    done
    exit 1
}

section "Building ikev2d"
BIN=$($CARGO build -q -p ikev2d --bin ikev2d --message-format=json-render-diagnostics |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[[ -x "$BIN" ]] || die "cannot find the ikev2d binary cargo built"
echo "$BIN"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ikev2d-demo.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# Unprivileged ports derived from our pid (two demos at once do not collide).
PORT=$((20000 + ($$ % 2000) * 4))
NAT_PORT=$((PORT + 1))

config() { # NAME LOCAL REMOTE LOCAL_TS REMOTE_TS START
    cat <<EOF
[daemon]
backend = "model"
control = "$WORK/$1.sock"
port = $PORT
nat_port = $NAT_PORT
retransmit_ms = 500

[[connection]]
name = "tunnel"
local = "$2"
remote = "$3"
local_id = "fqdn:$1.example"
remote_id = "fqdn:$([[ $1 == a ]] && echo b || echo a).example"
psk = "demo: a pre-shared key both sides know"
ike = ["aes256gcm16-prfsha256-ecp256"]
esp = ["aes256gcm16"]
local_ts = ["$4"]
remote_ts = ["$5"]
start = $6
EOF
}
config a 127.0.0.1 127.0.0.2 10.1.0.0/24 10.2.0.0/24 true >"$WORK/a.toml"
config b 127.0.0.2 127.0.0.1 10.2.0.0/24 10.1.0.0/24 false >"$WORK/b.toml"

ctl() { # SIDE ARGS...
    local side=$1
    shift
    "$BIN" ctl --control "$WORK/$side.sock" "$@"
}
# The SPIs in a side's kernel, sorted, on one line.
spis() { ctl "$1" --json sas | grep -o '"spi": [0-9]*' | awk '{printf "%08x ", $2}' | tr ' ' '\n' | sort | xargs; }
# A fingerprint of the keys in a side's kernel (the keys themselves stay out of the output).
keys() { ctl "$1" --json sas | grep -o '"key": "[0-9a-f]*"' | sort | sha256sum | cut -c1-16; }
same_keys() {
    local a b
    a=$(keys a) b=$(keys b)
    [[ "$a" == "$b" ]] || die "the two kernels hold different keys"
    echo "keys: the same in both kernels (fingerprint $a)"
}
wait_until() { # WHAT COMMAND...
    local what=$1
    shift
    for _ in $(seq 100); do
        if "$@" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "timed out waiting for $what"
}

section "Configuration of A (ikev2d check); B mirrors it"
"$BIN" check --config "$WORK/a.toml"

section "Starting B (127.0.0.2, responder) and A (127.0.0.1, initiator) on UDP $PORT/$NAT_PORT"
RUST_LOG=info "$BIN" run --config "$WORK/b.toml" 2>"$WORK/b.log" &
PIDS+=($!)
RUST_LOG=info "$BIN" run --config "$WORK/a.toml" 2>"$WORK/a.log" &
PIDS+=($!)
up() { ctl a --json list | grep -q '"up": true' && ctl b --json list | grep -q '"up": true'; }
wait_until "the tunnel" up
ctl a list
ctl b list

section "ikev2d ctl status (A)"
ctl a status
section "ikev2d ctl status (B)"
ctl b status

section "ikev2d ctl sas (A): the SAs and policies A installed in its kernel"
ctl a sas
section "ikev2d ctl sas (B): the same SAs, the policies' directions swapped"
ctl b sas
same_keys

OLD=$(spis a)
section "Rekeying the Child SA (ikev2d ctl rekey-child tunnel on A)"
ctl a rekey-child tunnel
rekeyed() {
    local a b
    a=$(spis a) b=$(spis b)
    [[ -n "$a" && "$a" == "$b" && $(wc -w <<<"$a") -eq 2 ]] || return 1
    for s in $a; do [[ " $OLD " != *" $s "* ]] || return 1; done
}
wait_until "the Child SA rekey" rekeyed
echo "old SPIs: $OLD"
echo "new SPIs: $(spis a)"

section "ikev2d ctl sas (A) after the rekey"
ctl a sas
section "ikev2d ctl sas (B) after the rekey"
ctl b sas
same_keys

section "Terminating (ikev2d ctl terminate tunnel on A) and stopping both"
ctl a terminate tunnel
down() { [[ -z "$(spis a)" && -z "$(spis b)" ]]; }
wait_until "the tunnel to go down" down
ctl a list
ctl b list
ctl a stop
ctl b stop
for pid in "${PIDS[@]}"; do wait "$pid" || die "a daemon exited with status $?"; done
PIDS=()
echo "both daemons exited with status 0"
