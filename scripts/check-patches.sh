#!/usr/bin/env bash
# Run the kernel's scripts/checkpatch.pl --strict on every patch of kernel-patch/series, in the
# patched source tree that scripts/build-kernel.sh patched keeps; any error, warning or check
# fails. Also shows each patch's diffstat.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tree="${XDG_CACHE_HOME:-$HOME/.cache}/pfkey-mobike/src/patched"
[[ -x "$tree/scripts/checkpatch.pl" ]] || {
    echo "check-patches: no kernel tree at $tree; run scripts/build-kernel.sh patched (make kernel-patched)" >&2
    exit 1
}
# checkpatch's SPDX check runs python3 with ply and git (Debian's python3-ply, python3-git):
# the system interpreter, not one a version manager may put first on PATH.
export PATH=/usr/bin:$PATH

failed=0
count=0
while read -r line; do
    line=${line%%#*}
    line=${line//[[:space:]]/}
    [[ -n "$line" ]] || continue
    count=$((count + 1))
    patch="$repo/kernel-patch/$line"
    echo "== $line"
    git -C "$tree" apply --stat "$patch" | tail -1
    if ! out=$(cd "$tree" && perl scripts/checkpatch.pl --strict --quiet "$patch" 2>&1) || [[ -n "$out" ]]; then
        echo "$out"
        failed=$((failed + 1))
    else
        echo "checkpatch --strict: clean"
    fi
done <"$repo/kernel-patch/series"
echo "check-patches: $count patches, $failed with checkpatch findings"
((failed == 0 && count > 0))
