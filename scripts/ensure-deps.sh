#!/usr/bin/env bash
# Install what the kernel lab needs, only when it is missing: the Linux 6.12 source package,
# the kernel build tools, QEMU and iproute2, what `git am` and checkpatch.pl need, and the
# interop peers of ikev2d.
# Debian/Ubuntu, as root (CI runs as root).
# Safe to run repeatedly: with everything present it does nothing and touches no network.
set -euo pipefail

# strongSwan (charon, swanctl, and the standard plugins for AES-GCM, ECP and Curve25519 in IKE) and
# tshark, and nftables for the NAT between the peers of the NAT-T cases: ikev2d's interop tests in
# the VM (tests/src/interop.rs).
PACKAGES=(linux-source-6.12 qemu-system-x86 flex bison bc libelf-dev libssl-dev cpio iproute2
          gcc make xz-utils git perl python3-ply python3-git
          strongswan-charon strongswan-swanctl libstrongswan-standard-plugins tshark nftables)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "ensure-deps: all present (${PACKAGES[*]})"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "ensure-deps: missing ${missing[*]}; run as root: sudo $0" >&2
    exit 1
fi

echo "ensure-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "ensure-deps: done"
