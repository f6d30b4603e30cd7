#!/usr/bin/env bash
# Build one faultlab guest kernel: guest-kernel/build.sh x86_64|arm64|ppc64le
#
# Source: the pinned linux-source-6.12 .deb. Config: allnoconfig with
# KCONFIG_ALLCONFIG = configs/base.config + configs/<arch>.config (+ any files
# named in FAULTLAB_KERNEL_FRAGMENTS), then every option the fragments ask for
# is checked in the final .config: a dependency Kconfig silently dropped is an
# error, not a surprise at run time. Patches: patches/common/*.patch and
# patches/<arch>/*.patch. ccache makes rebuilds cheap; an unchanged tree is a
# no-op for make.
source "$(dirname "$0")/../scripts/common.sh"
# The body is one compound command, read whole before it runs: editing this file
# while a build is running cannot change what that build executes.
{

ARCH_NAME=${1:-}
case $ARCH_NAME in
    x86_64)  KARCH=x86_64;  CROSS=;                       TARGET=vmlinux; PRODUCT=vmlinux ;;
    arm64)   KARCH=arm64;   CROSS=aarch64-linux-gnu-;     TARGET=Image;   PRODUCT=arch/arm64/boot/Image ;;
    ppc64le) KARCH=powerpc; CROSS=powerpc64le-linux-gnu-; TARGET=vmlinux; PRODUCT=vmlinux ;;
    *) die "usage: guest-kernel/build.sh x86_64|arm64|ppc64le (got '${ARCH_NAME}')" ;;
esac
HERE=$FAULTLAB_REPO/guest-kernel
LDIR=$FAULTLAB_CACHE/linux
OUT=$FAULTLAB_CACHE/kernels/$ARCH_NAME
VARIANT=${FAULTLAB_KERNEL_VARIANT:-}
[[ -n $VARIANT ]] && OUT=$FAULTLAB_CACHE/kernels/$ARCH_NAME-$VARIANT
BUILD=$LDIR/build-$ARCH_NAME${VARIANT:+-$VARIANT}
start=$(date +%s)
mkdir -p "$LDIR"
# One kernel build at a time (a second caller waits): the builds share the unpacked
# source, and two of them at once only fight over the cores.
exec 8>"$LDIR/.build.lock"
flock 8
command -v "${CROSS}gcc" >/dev/null || die "${CROSS}gcc missing: run 'make deps' first"

deb=$(fetch linux-source)
used=$(used_version linux-source)
version=$(basename "$deb" | sed -E 's/^linux-source-[0-9.]+_([^_]+)_all\.deb$/\1/')

# 1. Pristine tree, once per source version.
pristine=$LDIR/pristine-$version
if [[ ! -f $pristine/.faultlab-complete ]]; then
    log "unpacking linux-source $version"
    rm -rf "$pristine" && mkdir -p "$pristine"
    dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
        tar -xJ -C "$pristine" --strip-components=1
    touch "$pristine/.faultlab-complete"
    find "$LDIR" -maxdepth 1 -name 'pristine-*' ! -name "pristine-$version" -exec rm -rf {} +
fi

# 2. Per-arch tree: hard links to the pristine files, patched files replaced.
# Variant patches (patches/<arch>-<variant>/) go into the same tree: their code
# is behind a CONFIG option only the variant's fragment sets, so every variant
# shares one source tree and a variant build can start from the base objects.
patches=()
for p in "$HERE"/patches/common/*.patch "$HERE"/patches/"$ARCH_NAME"/*.patch \
         "$HERE"/patches/"$ARCH_NAME"-*/*.patch; do
    [[ -e $p ]] && patches+=("$p")
done
src=$LDIR/src-$ARCH_NAME
src_stamp=$( (echo "$version"; if [[ ${#patches[@]} -gt 0 ]]; then sha256sum "${patches[@]}"; fi) | sha256sum | cut -d' ' -f1)
if [[ ! -f $src/.faultlab-stamp || $(cat "$src/.faultlab-stamp") != "$src_stamp" ]]; then
    log "preparing $ARCH_NAME source tree (${#patches[@]} patches)"
    rm -rf "$src"
    cp -al "$pristine" "$src"
    for p in "${patches[@]}"; do
        # patch(1) writes a new file and renames it, so the pristine link is not modified.
        patch -d "$src" -p1 -s --no-backup-if-mismatch < "$p" ||
            die "$(basename "$p") does not apply to linux-source $version"
    done
    echo "$src_stamp" > "$src/.faultlab-stamp"
fi

# 3. Config: allnoconfig + fragments, then check that every requested option stuck.
# A variant's first build starts from a copy of the base build (same source tree,
# same paths): kbuild then rebuilds only what the variant's options touch.
base_build=$LDIR/build-$ARCH_NAME
if [[ -n $VARIANT && ! -e $BUILD && -f $base_build/.config ]]; then
    log "seeding $(basename "$BUILD") from $(basename "$base_build")"
    cp -a "$base_build" "$BUILD.tmp" && mv "$BUILD.tmp" "$BUILD"
fi
mkdir -p "$BUILD"
frags=("$HERE/configs/base.config" "$HERE/configs/$ARCH_NAME.config")
for f in ${FAULTLAB_KERNEL_FRAGMENTS:-}; do
    [[ -f $f ]] || die "kernel config fragment $f not found"
    frags+=("$f")
done
cat "${frags[@]}" > "$BUILD/faultlab.fragment"
MAKE=(make -C "$src" O="$BUILD" ARCH="$KARCH" CROSS_COMPILE="$CROSS" CC="ccache ${CROSS}gcc"
      HOSTCC="ccache gcc" KBUILD_BUILD_USER=faultlab KBUILD_BUILD_HOST=faultlab
      KBUILD_BUILD_TIMESTAMP="@0" -j"$JOBS")
"${MAKE[@]}" -s KCONFIG_ALLCONFIG="$BUILD/faultlab.fragment" allnoconfig > "$BUILD/config.log" 2>&1 ||
    { tail -n 20 "$BUILD/config.log" >&2; die "kernel config for $ARCH_NAME failed"; }
missing=$(python3 - "$BUILD/faultlab.fragment" "$BUILD/.config" <<'EOF'
import re, sys
want, have = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"(CONFIG_\w+)=(.*)", line.strip())
    if m:
        want[m.group(1)] = m.group(2)
for line in open(sys.argv[2]):
    m = re.match(r"(CONFIG_\w+)=(.*)", line.strip())
    if m:
        have[m.group(1)] = m.group(2)
for key, val in want.items():
    got = have.get(key, "n")
    if got != val:
        print(f"  {key}: asked {val}, got {got}")
EOF
)
[[ -z $missing ]] || die "kernel config for $ARCH_NAME lost options (unmet Kconfig dependencies):
$missing"

[[ -n ${FAULTLAB_CONFIG_ONLY:-} ]] && { log "$ARCH_NAME config checked: $BUILD/.config"; exit 0; }

# 4. Build.
log "building $ARCH_NAME kernel ($TARGET) with $JOBS jobs"
before=$(stat -c %Y "$BUILD/$PRODUCT" 2>/dev/null || echo none)
# `modules` as well: every driver is built in, so it only runs modpost, whose
# Module.symvers the out-of-tree modules of build-guest.sh link against.
"${MAKE[@]}" "$TARGET" modules > "$BUILD/build.log" 2>&1 ||
    { grep -E 'error|Error' "$BUILD/build.log" | head -n 30 >&2; die "kernel build for $ARCH_NAME failed (log: $BUILD/build.log)"; }
mkdir -p "$OUT"
for f in "$PRODUCT" System.map .config; do
    cp -p "$BUILD/$f" "$OUT/"
done
kernelrelease=$("${MAKE[@]}" -s kernelrelease 2>/dev/null)
secs=$(( $(date +%s) - start ))
log "$ARCH_NAME kernel $kernelrelease ready in $OUT (${secs}s)"
manifest_name=kernel-$ARCH_NAME${VARIANT:+-$VARIANT}
if [[ $before == "$(stat -c %Y "$BUILD/$PRODUCT")" && -f $FAULTLAB_CACHE/manifests/$manifest_name.json ]]; then
    exit 0  # nothing rebuilt: keep the manifest (and the build time) of the last real build
fi
write_manifest "$manifest_name" "$(printf '{"component":"kernel-%s","version":%s,"kernelrelease":"%s","built_seconds":%d,"fragments":"%s","patches":%d}' \
    "$ARCH_NAME" "$used" "$kernelrelease" "$secs" "$(tree_hash "${frags[@]}")" "${#patches[@]}")"
exit
}
