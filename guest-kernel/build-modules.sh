#!/usr/bin/env bash
# Build faultlab's kernel modules for one kernel, and the initramfs overlay that
# carries them with that kernel's /lib/modules/<release>:
#
#   guest-kernel/build-modules.sh [--series S] [--variant V] ARCH
#       the bench's own kernel ($FAULTLAB_CACHE/linux/S/build-ARCH[-V]);
#       products beside it in $FAULTLAB_CACHE/kernels/S/ARCH[-V]/
#   guest-kernel/build-modules.sh --tree DIR --out OUT ARCH
#       a user's built kernel tree (in-tree or O= build directory with .config,
#       Module.symvers and include/config/kernel.release); products in OUT/
#   guest-kernel/build-modules.sh --series S --compile-only ARCH
#       a compile gate: our modules against a tree that only ran modules_prepare
#       (FAULTLAB_PREPARE_ONLY=1 build.sh); no Module.symvers, no products
#
# Products: modules/*.ko (guest-kernel/modules/<name>/ built against that tree;
# a module directory with an `arches` file is built only for those arches),
# modules.cpio.gz (a newc cpio: /lib/modules/<release>/ from the tree's
# `make modules_install` (modules.builtin, modules.builtin.modinfo, modules.order,
# any =m drivers) plus ours under extra/, depmod'ed, and /opt/faultlab/modules/
# linking to ours), and release (the kernel release they were built for).
# The harness appends modules.cpio.gz to the base initramfs of images/build.sh,
# so every kernel boots with modules built for it, and `modprobe` of a built-in
# driver succeeds as real tools expect. Incremental: sources are mirrored
# (content-compared) into a build directory, so kbuild recompiles only changes.
source "$(dirname "$0")/../scripts/common.sh"

SERIES=${FAULTLAB_KERNEL_SERIES:-6.12}
VARIANT=${FAULTLAB_KERNEL_VARIANT:-}
TREE= OUT= COMPILE_ONLY=
while [[ $# -gt 1 ]]; do
    case $1 in
        --series) SERIES=$2; shift 2 ;;
        --variant) VARIANT=$2; shift 2 ;;
        --tree) TREE=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --compile-only) COMPILE_ONLY=1; shift ;;
        *) break ;;
    esac
done
ARCH_NAME=${1:-}
arch_tools "$ARCH_NAME" || die "usage: guest-kernel/build-modules.sh [--series S] [--variant V] | --tree DIR --out OUT  x86_64|arm64|ppc64le (got '${ARCH_NAME}')"
HERE=$FAULTLAB_REPO/guest-kernel
if [[ -n $TREE ]]; then
    [[ -n $OUT ]] || die "--tree needs --out"
    KBUILD=$(cd "$TREE" && pwd)
    target="kernel tree $KBUILD"
    hint="build the tree first (make, make modules)"
else
    KBUILD=$FAULTLAB_CACHE/linux/$SERIES/build-$ARCH_NAME${VARIANT:+-$VARIANT}
    OUT=$FAULTLAB_CACHE/kernels/$SERIES/$ARCH_NAME${VARIANT:+-$VARIANT}
    target="$SERIES $ARCH_NAME${VARIANT:+-$VARIANT} kernel"
    hint="run 'make kernel-$ARCH_NAME${VARIANT:+-$VARIANT} SERIES=$SERIES' first"
fi
if [[ -n $COMPILE_ONLY ]]; then
    [[ -f $KBUILD/.config && -f $KBUILD/include/config/kernel.release ]] ||
        die "$KBUILD is not a prepared kernel tree: run 'make gate-$ARCH_NAME SERIES=$SERIES' first"
    OUT=$FAULTLAB_CACHE/guest-build/gate-$SERIES-$ARCH_NAME
    target="$SERIES $ARCH_NAME compile gate"
else
    [[ -f $KBUILD/.config && -f $KBUILD/Module.symvers && -f $KBUILD/include/config/kernel.release ]] ||
        die "$KBUILD is not a built kernel tree (.config, Module.symvers, include/config/kernel.release): $hint"
fi
command -v "${CROSS}gcc" >/dev/null || die "${CROSS}gcc missing: run 'make deps' first"
command -v depmod >/dev/null || die "depmod missing (package kmod): run 'make deps' first"
release=$(cat "$KBUILD/include/config/kernel.release")
WORK=$FAULTLAB_CACHE/guest-build/modules/$(printf '%s' "$KBUILD" | sha256sum | cut -c1-16)
start=$(date +%s)
mkdir -p "$WORK" "$OUT"
# One module build per kernel tree at a time (a second caller waits).
exec 8>"$WORK/.lock"
flock 8

# sync_tree SRC DST: make DST hold SRC's files, copying only those whose content
# differs (so their mtimes, and make's view, change only then).
sync_tree() {
    local src=$1 dst=$2 f rel
    mkdir -p "$dst"
    while IFS= read -r -d '' f; do
        rel=${f#"$src"/}
        if ! cmp -s "$f" "$dst/$rel"; then
            mkdir -p "$(dirname "$dst/$rel")"
            cp "$f" "$dst/$rel"
        fi
    done < <(find "$src" -type f -print0)
    while IFS= read -r -d '' f; do
        rel=${f#"$dst"/}
        [[ -e $src/$rel ]] || rm -f "$f"
    done < <(find "$dst" -type f \( -name '*.c' -o -name '*.h' -o -name Kbuild -o -name Makefile \) -print0)
}

KMAKE=(make -C "$KBUILD" ARCH="$KARCH" CROSS_COMPILE="$CROSS" CC="ccache ${CROSS}gcc"
       HOSTCC="ccache gcc" KBUILD_BUILD_USER=faultlab KBUILD_BUILD_HOST=faultlab
       KBUILD_BUILD_TIMESTAMP="@0" -j"$JOBS")
# Without Module.symvers (a gate), modpost can only warn about unresolved symbols.
[[ -n $COMPILE_ONLY ]] && KMAKE+=(KBUILD_MODPOST_WARN=1)

# 1. Our modules, against this tree.
rm -rf "$OUT/modules.tmp" && mkdir -p "$OUT/modules.tmp"
built=()
for d in "$HERE"/modules/*/; do
    d=${d%/}
    [[ -f $d/Kbuild ]] || continue
    if [[ -f $d/arches ]] && [[ " $(echo $(cat "$d/arches")) " != *" $ARCH_NAME "* ]]; then
        continue
    fi
    name=$(basename "$d")
    mdir=$WORK/$name
    sync_tree "$d" "$mdir"
    log "building module $name for $target ($release)"
    to_src=("sed" "-E" "s#[^ :]*$mdir/#$d/#g")
    if ! "${KMAKE[@]}" M="$mdir" modules > "$mdir/build.log" 2>&1; then
        grep -E 'error|warning|Error' "$mdir/build.log" | head -n 40 | "${to_src[@]}" >&2 || true
        die "module $name failed to build for $target (log: $mdir/build.log)"
    fi
    if grep -E '^[^ ]+:[0-9]+:[0-9]+: warning:|^WARNING:' "$mdir/build.log" | "${to_src[@]}" >&2; then
        log "warnings in module $name (above; log: $mdir/build.log)"
    fi
    found=0
    while IFS= read -r -d '' ko; do
        cp -p "$ko" "$OUT/modules.tmp/"
        built+=("$(basename "$ko")")
        found=1
    done < <(find "$mdir" -maxdepth 1 -name '*.ko' -print0)
    [[ $found == 1 ]] || die "module $name built no .ko (log: $mdir/build.log)"
done

if [[ -n $COMPILE_ONLY ]]; then
    rm -rf "$OUT/modules.tmp"
    log "compile gate: modules ${built[*]:-none} build for $target ($release) ($(( $(date +%s) - start ))s)"
    exit 0
fi

# 2. /lib/modules/<release>: the tree's modules_install (built-in lists and any
# =m drivers), ours under extra/, then depmod; /opt/faultlab/modules links.
root=$WORK/overlay
rm -rf "$root" && mkdir -p "$root"
"${KMAKE[@]}" INSTALL_MOD_PATH="$root" INSTALL_MOD_STRIP=1 DEPMOD=/bin/true modules_install \
    > "$WORK/modules_install.log" 2>&1 ||
    { tail -n 20 "$WORK/modules_install.log" >&2; die "modules_install of $target failed (log: $WORK/modules_install.log)"; }
mdir=$root/lib/modules/$release
[[ -f $mdir/modules.builtin ]] || die "modules_install of $target wrote no $mdir/modules.builtin"
rm -f "$mdir/build" "$mdir/source"
mkdir -p "$mdir/extra" "$root/opt/faultlab/modules"
for ko in "${built[@]}"; do
    cp -p "$OUT/modules.tmp/$ko" "$mdir/extra/$ko"
    ln -s "/lib/modules/$release/extra/$ko" "$root/opt/faultlab/modules/$ko"
done
depmod -b "$root" "$release" > "$WORK/depmod.log" 2>&1 ||
    { cat "$WORK/depmod.log" >&2; die "depmod for $target failed"; }
# Reproducible: same files, same archive (fixed mtimes and inode numbers, sorted names, no
# gzip timestamp).
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet --reproducible -o -H newc -R 0:0) |
    gzip -1 -n > "$OUT/modules.cpio.gz.tmp"
rm -rf "$OUT/modules" && mv "$OUT/modules.tmp" "$OUT/modules"
# Replaced only when its content changed, so an unchanged kernel keeps its composed initramfs.
if cmp -s "$OUT/modules.cpio.gz.tmp" "$OUT/modules.cpio.gz"; then
    rm -f "$OUT/modules.cpio.gz.tmp"
else
    mv "$OUT/modules.cpio.gz.tmp" "$OUT/modules.cpio.gz"
fi
echo "$release" > "$OUT/release"
log "modules for $target ($release) ready in $OUT: ${built[*]:-none} ($(( $(date +%s) - start ))s)"
