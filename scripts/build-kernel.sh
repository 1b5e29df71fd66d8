#!/usr/bin/env bash
# Build the kernel lab's Linux 6.12 bzImage.
#
#   scripts/build-kernel.sh [stock|patched]     (default: stock)
#
# stock:   Debian's linux-source-6.12, `make tinyconfig` + kernel-patch/config.fragment.
# patched: the same, with kernel-patch/series applied first.
#
# Everything lives outside the checkout, in ${XDG_CACHE_HOME:-~/.cache}/pfkey-mobike/:
#   src/<flavour>/                 the unpacked (and patched) source tree of the last build
#   kernels/<flavour>-<hash>/      bzImage, .config, System.map, build.log of one input set
#   kernel-<flavour> -> kernels/<flavour>-<hash>    the current image of that flavour
# <hash> covers the source package version, the series, every patch it names and the fragment,
# so a second run with the same inputs does nothing. The last line of output is the bzImage path.
set -euo pipefail

flavour=${1:-stock}
case "$flavour" in
    stock | patched) ;;
    *) echo "usage: $0 [stock|patched]" >&2; exit 2 ;;
esac

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
patch_dir="$repo/kernel-patch"
fragment="$patch_dir/config.fragment"
series="$patch_dir/series"
tarball=/usr/src/linux-source-6.12.tar.xz
cache="${XDG_CACHE_HOME:-$HOME/.cache}/pfkey-mobike"
jobs=${JOBS:-$(nproc)}
# Bump when the way this script turns inputs into an image changes.
recipe=1

log() { echo "build-kernel[$flavour]: $*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ ! -r "$tarball" ]] || ! command -v flex >/dev/null || ! command -v bison >/dev/null; then
    log "kernel source or build tools missing; running scripts/ensure-deps.sh"
    "$repo/scripts/ensure-deps.sh"
fi
[[ -r "$tarball" ]] || die "$tarball not found (install linux-source-6.12: scripts/ensure-deps.sh)"

src_version=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || stat -c %Y "$tarball")

# Patches named by the series (blank lines and '#' comments skipped).
patches=()
if [[ "$flavour" == patched ]]; then
    while read -r line; do
        line=${line%%#*}
        line=${line//[[:space:]]/}
        [[ -n "$line" ]] || continue
        [[ -f "$patch_dir/$line" ]] || die "series names $line, which is not in kernel-patch/"
        patches+=("$patch_dir/$line")
    done <"$series"
fi

hash=$(
    {
        echo "recipe $recipe"
        echo "source linux-source-6.12 $src_version"
        echo "flavour $flavour"
        if [[ "$flavour" == patched ]]; then
            echo "series"; cat "$series"
            for p in "${patches[@]}"; do echo "patch $(basename "$p")"; cat "$p"; done
        fi
        echo "fragment"; cat "$fragment"
    } | sha256sum | cut -c1-16
)
out="$cache/kernels/$flavour-$hash"
link="$cache/kernel-$flavour"

if [[ -f "$out/bzImage" ]]; then
    ln -sfn "kernels/$flavour-$hash" "$link"
    log "up to date ($src_version, ${#patches[@]} patches, hash $hash)"
    echo "$out/bzImage"
    exit 0
fi

start=$(date +%s)
tree="$cache/src/$flavour"
log "building $flavour-$hash from linux-source-6.12 $src_version with ${#patches[@]} patches, -j$jobs"
log "source tree: $tree"
rm -rf "$tree" "$tree.tmp"
mkdir -p "$tree.tmp"
log "unpacking $tarball"
tar -xf "$tarball" -C "$tree.tmp" --strip-components=1
mv "$tree.tmp" "$tree"

for p in "${patches[@]}"; do
    log "applying $(basename "$p")"
    patch -d "$tree" -p1 --forward --batch <"$p" || die "$(basename "$p") does not apply"
done

cd "$tree"
log "configuring: tinyconfig + $(basename "$fragment")"
make -s ARCH=x86_64 tinyconfig
ARCH=x86_64 scripts/kconfig/merge_config.sh -m .config "$fragment" >config-merge.log
make -s ARCH=x86_64 olddefconfig

# Every option the fragment sets must have survived Kconfig's dependency resolution.
dropped=()
while IFS= read -r line; do
    if [[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
        want="${BASH_REMATCH[1]}=${BASH_REMATCH[2]}"
        grep -qxF "$want" .config || dropped+=("$want (got: $(grep -E "^(# )?${BASH_REMATCH[1]}[= ]" .config || echo unset))")
    elif [[ "$line" =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
        ! grep -qE "^${BASH_REMATCH[1]}=" .config || dropped+=("${BASH_REMATCH[1]} must be unset")
    fi
done <"$fragment"
if ((${#dropped[@]})); then
    log "the final .config lost options the fragment asks for:"
    printf '  %s\n' "${dropped[@]}" >&2
    die "fix kernel-patch/config.fragment (a missing dependency?)"
fi
log "all $(grep -cE '^CONFIG_' "$fragment") fragment options present in .config"

log "make bzImage (log: $tree/build.log)"
set -o pipefail
make ARCH=x86_64 -j"$jobs" bzImage 2>&1 | tee build.log | while IFS= read -r l; do
    # Visible progress without flooding: every compiled object, warnings and errors.
    case "$l" in
        *warning:* | *error:* | *Error* | *"Kernel: "*) echo "$l" >&2 ;;
        "  CC "* | "  LD "* | "  AR "*) n=$((${n:-0} + 1)); ((n % 100)) || log "$n objects ... ${l#  }" ;;
    esac
done || die "make bzImage failed; see $tree/build.log"

mkdir -p "$out.tmp"
cp arch/x86/boot/bzImage .config System.map build.log config-merge.log "$out.tmp/"
rm -rf "$out"
mv "$out.tmp" "$out"
ln -sfn "kernels/$flavour-$hash" "$link"
log "built in $(($(date +%s) - start)) s: $out/bzImage"
echo "$out/bzImage"
