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
    *) echo "usage: [KASAN=1] $0 [stock|patched]" >&2; exit 2 ;;
esac
# KASAN=1 builds the patched kernel with KASAN as its own flavour (tree, cache entry and link).
kasan=${KASAN:-0}
label=$flavour
if [[ "$kasan" == 1 ]]; then
    [[ "$flavour" == patched ]] || { echo "KASAN=1 is for the patched flavour" >&2; exit 2; }
    label=patched-kasan
fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
patch_dir="$repo/kernel-patch"
fragment="$patch_dir/config.fragment"
kasan_fragment="$patch_dir/kasan.fragment"
series="$patch_dir/series"
tarball=/usr/src/linux-source-6.12.tar.xz
cache="${XDG_CACHE_HOME:-$HOME/.cache}/pfkey-mobike"
jobs=${JOBS:-$(nproc)}
# Bump when the way this script turns inputs into an image changes (per flavour, so that a
# change to how patched kernels are made does not rebuild the stock one).
recipe=1
if [[ "$flavour" == patched ]]; then recipe=2; fi

log() { echo "build-kernel[$label]: $*" >&2; }
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
        if [[ "$kasan" == 1 ]]; then echo "kasan"; cat "$kasan_fragment"; fi
    } | sha256sum | cut -c1-16
)
out="$cache/kernels/$label-$hash"
link="$cache/kernel-$label"

if [[ -f "$out/bzImage" ]]; then
    ln -sfn "kernels/$label-$hash" "$link"
    log "up to date ($src_version, ${#patches[@]} patches, hash $hash)"
    echo "$out/bzImage"
    exit 0
fi

start=$(date +%s)
tree="$cache/src/$label"
log "building $label-$hash from linux-source-6.12 $src_version with ${#patches[@]} patches, -j$jobs"
log "source tree: $tree"

# A fresh tree of the pristine source, recording which source version it holds.
unpack() {
    rm -rf "$1" "$1.tmp"
    mkdir -p "$1.tmp"
    log "unpacking $tarball"
    tar -xf "$tarball" -C "$1.tmp" --strip-components=1
    echo "$src_version" >"$1.tmp/.pfkey-source-version"
    mv "$1.tmp" "$1"
}

# The patched tree is a git repository whose first commit is the pristine source (tag `base`):
# each build resets it to `base` and applies the series with `git am`, as a kernel developer
# would, and keeps the object files, so a changed patch recompiles only what it touches. (A
# copy of the stock tree's objects would not help: kbuild records absolute paths, and a tree
# at another path rebuilds everything.)
git_base() {
    local version=""
    if [[ -f "$tree/.git/pfkey-source-version" ]]; then version=$(cat "$tree/.git/pfkey-source-version"); fi
    if [[ "$version" == "$src_version" ]]; then return 0; fi
    unpack "$tree"
    log "recording the pristine source in git (tag base)"
    rm -rf "$tree/.git"
    git -C "$tree" init -q
    # Debian's top-level .gitignore ignores everything ("/*"): track exactly the tarball's files.
    tar -tf "$tarball" | sed -n 's|^[^/]*/||p' | grep -v -e '/$' -e '^$' >"$tree/.git/pfkey-files"
    (cd "$tree" && xargs -a .git/pfkey-files -d '\n' git add -f)
    git -C "$tree" "${gitid[@]}" commit -q -m "Linux 6.12 (Debian linux-source-6.12 $src_version)"
    git -C "$tree" tag -f base >/dev/null
    echo "$src_version" >"$tree/.git/pfkey-source-version"
}

gitid=(-c user.name=pfkey-mobike -c user.email=pfkey-mobike@example.invalid)
if [[ "$flavour" == patched ]]; then
    git_base
    git -C "$tree" am --abort >/dev/null 2>&1 || true
    git -C "$tree" reset -q --hard base
    for p in "${patches[@]}"; do
        log "git am $(basename "$p")"
        git -C "$tree" "${gitid[@]}" am -q --whitespace=error-all "$p" ||
            die "$(basename "$p") does not apply with git am"
    done
else
    unpack "$tree"
fi

cd "$tree"
log "configuring: tinyconfig + $(basename "$fragment")"
make -s ARCH=x86_64 tinyconfig
fragments=("$fragment")
if [[ "$kasan" == 1 ]]; then fragments+=("$kasan_fragment"); fi
ARCH=x86_64 scripts/kconfig/merge_config.sh -m .config "${fragments[@]}" >config-merge.log
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
done < <(cat "${fragments[@]}")
if ((${#dropped[@]})); then
    log "the final .config lost options the fragment asks for:"
    printf '  %s\n' "${dropped[@]}" >&2
    die "fix kernel-patch/config.fragment (a missing dependency?)"
fi
log "all $(cat "${fragments[@]}" | grep -cE '^CONFIG_') fragment options present in .config"

log "make bzImage (log: $tree/build.log)"
set -o pipefail
make ARCH=x86_64 -j"$jobs" bzImage 2>&1 | tee build.log | while IFS= read -r l; do
    # Visible progress without flooding: every compiled object, warnings and errors.
    case "$l" in
        *warning:* | *error:* | *Error* | *"Kernel: "*) echo "$l" >&2 ;;
        "  CC "* | "  LD "* | "  AR "*) n=$((${n:-0} + 1)); ((n % 100)) || log "$n objects ... ${l#  }" ;;
    esac
done || die "make bzImage failed; see $tree/build.log"

rm -rf "$out.tmp"
mkdir -p "$out.tmp"
cp arch/x86/boot/bzImage .config System.map build.log config-merge.log "$out.tmp/"

# The series' kselftests, built against this tree's UAPI headers, ship with the image.
for selftest in tools/testing/selftests/net/pfkey_mobility.c tools/testing/selftests/net/pfkey_beet.c; do
    [[ -f "$selftest" ]] || continue
    log "building the selftest $(basename "$selftest" .c)"
    make -s ARCH=x86_64 headers
    mkdir -p "$out.tmp/selftests"
    gcc -O2 -Wall -Werror -isystem usr/include -I tools/testing/selftests \
        -o "$out.tmp/selftests/$(basename "$selftest" .c)" "$selftest" || die "the selftest $selftest does not build"
done
rm -rf "$out"
mv "$out.tmp" "$out"
ln -sfn "kernels/$label-$hash" "$link"
log "built in $(($(date +%s) - start)) s: $out/bzImage"
echo "$out/bzImage"
