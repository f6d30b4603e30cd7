#!/usr/bin/env bash
# Build one faultlab guest kernel:
#   guest-kernel/build.sh [--series SERIES] x86_64|arm64|ppc64le
#
# SERIES is a kernel series pinned in images/lock.json as linux-source-SERIES
# (default: $FAULTLAB_KERNEL_SERIES, else 6.12). Source: that pinned .deb.
# Config: allnoconfig with KCONFIG_ALLCONFIG = configs/base.config +
# configs/<arch>.config + configs/series-<SERIES>.config and
# configs/series-<SERIES>-<arch>.config (if any) + any files
# named in FAULTLAB_KERNEL_FRAGMENTS, then every option the fragments ask for
# is checked in the final .config: a dependency Kconfig silently dropped is an
# error, not a surprise at run time. Patches: patches/common/, patches/<arch>/
# and patches/<arch>-<variant>/, each taken only for the series its
# "Faultlab-Series:" header line names (a patch without one is an error).
# Products: $FAULTLAB_CACHE/kernels/<series>/<arch>[-variant]/ (the image,
# System.map, .config, kernelrelease). ccache makes rebuilds cheap; an
# unchanged tree is a no-op for make. FAULTLAB_CONFIG_ONLY=1 stops after the
# config check; FAULTLAB_PREPARE_ONLY=1 after `modules_prepare` (a compile gate:
# the options stick, the patches apply and out-of-tree modules can be built).
source "$(dirname "$0")/../scripts/common.sh"
# The body is one compound command, read whole before it runs: editing this file
# while a build is running cannot change what that build executes.
{

SERIES=${FAULTLAB_KERNEL_SERIES:-6.12}
if [[ ${1:-} == --series ]]; then SERIES=${2:-}; shift 2; fi
ARCH_NAME=${1:-}
[[ $SERIES =~ ^[0-9]+\.[0-9]+$ ]] || die "kernel series must look like 6.12 (got '$SERIES')"
case $ARCH_NAME in
    x86_64)  KARCH=x86_64;  CROSS=;                       TARGET=vmlinux; PRODUCT=vmlinux ;;
    arm64)   KARCH=arm64;   CROSS=aarch64-linux-gnu-;     TARGET=Image;   PRODUCT=arch/arm64/boot/Image ;;
    ppc64le) KARCH=powerpc; CROSS=powerpc64le-linux-gnu-; TARGET=vmlinux; PRODUCT=vmlinux ;;
    *) die "usage: guest-kernel/build.sh x86_64|arm64|ppc64le (got '${ARCH_NAME}')" ;;
esac
HERE=$FAULTLAB_REPO/guest-kernel
LDIR=$FAULTLAB_CACHE/linux/$SERIES
VARIANT=${FAULTLAB_KERNEL_VARIANT:-}
OUT=$FAULTLAB_CACHE/kernels/$SERIES/$ARCH_NAME${VARIANT:+-$VARIANT}
BUILD=$LDIR/build-$ARCH_NAME${VARIANT:+-$VARIANT}
start=$(date +%s)
mkdir -p "$LDIR"
# One build of a series at a time (a second caller waits): the builds share the unpacked
# source, and two of them at once only fight over the cores.
exec 8>"$LDIR/.build.lock"
flock 8
command -v "${CROSS}gcc" >/dev/null || die "${CROSS}gcc missing: run 'make deps' first"

lock_id=linux-source-$SERIES
grep -q "\"id\": \"$lock_id\"" "$FAULTLAB_REPO/images/lock.json" ||
    die "kernel series $SERIES is not pinned (no $lock_id in images/lock.json; pinned: $(grep -o '"id": "linux-source-[0-9.]*"' "$FAULTLAB_REPO/images/lock.json" | sed 's/.*linux-source-//; s/"//' | tr '\n' ' '))"
deb=$(fetch "$lock_id")
used=$(used_version "$lock_id")
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
    [[ -e $p ]] || continue
    wanted=$(sed -n '1,40{s/^Faultlab-Series:[[:space:]]*//p}' "$p" | head -n 1)
    [[ -n $wanted ]] || die "$p has no 'Faultlab-Series:' header line naming the series it is for"
    [[ " $wanted " == *" $SERIES "* ]] && patches+=("$p")
done
src=$LDIR/src-$ARCH_NAME
# The stamp hashes the patches' names and contents, not their paths: a fresh clone elsewhere
# reuses the tree (and kbuild its objects).
src_stamp=$( (echo "$version"; for p in "${patches[@]}"; do basename "$p"; cat "$p"; done) |
    sha256sum | cut -d' ' -f1)
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
[[ -f $HERE/configs/series-$SERIES.config ]] && frags+=("$HERE/configs/series-$SERIES.config")
[[ -f $HERE/configs/series-$SERIES-$ARCH_NAME.config ]] && frags+=("$HERE/configs/series-$SERIES-$ARCH_NAME.config")
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

[[ -n ${FAULTLAB_CONFIG_ONLY:-} ]] && { log "$SERIES $ARCH_NAME config checked: $BUILD/.config"; exit 0; }
if [[ -n ${FAULTLAB_PREPARE_ONLY:-} ]]; then
    "${MAKE[@]}" modules_prepare > "$BUILD/prepare.log" 2>&1 ||
        { tail -n 30 "$BUILD/prepare.log" >&2; die "modules_prepare for $SERIES $ARCH_NAME failed (log: $BUILD/prepare.log)"; }
    log "$SERIES $ARCH_NAME config checked and modules prepared in $BUILD"
    exit 0
fi

# 4. Build.
log "building $SERIES $ARCH_NAME kernel ($TARGET) with $JOBS jobs"
before=$(stat -c %Y "$BUILD/$PRODUCT" 2>/dev/null || echo none)
# `modules` as well: every driver is built in, so it only runs modpost, whose
# Module.symvers the out-of-tree modules of build-guest.sh link against.
"${MAKE[@]}" "$TARGET" modules > "$BUILD/build.log" 2>&1 ||
    { grep -E 'error|Error' "$BUILD/build.log" | head -n 30 >&2; die "kernel build for $ARCH_NAME failed (log: $BUILD/build.log)"; }
mkdir -p "$OUT"
for f in "$PRODUCT" System.map .config modules.builtin modules.builtin.modinfo modules.order; do
    [[ -f $BUILD/$f ]] && cp -p "$BUILD/$f" "$OUT/"
done
kernelrelease=$("${MAKE[@]}" -s kernelrelease 2>/dev/null)
echo "$kernelrelease" > "$OUT/kernelrelease"
secs=$(( $(date +%s) - start ))
log "$SERIES $ARCH_NAME kernel $kernelrelease ready in $OUT (${secs}s)"
manifest_name=kernel-$SERIES-$ARCH_NAME${VARIANT:+-$VARIANT}
if [[ $before == "$(stat -c %Y "$BUILD/$PRODUCT")" && -f $FAULTLAB_CACHE/manifests/$manifest_name.json ]]; then
    exit 0  # nothing rebuilt: keep the manifest (and the build time) of the last real build
fi
write_manifest "$manifest_name" "$(printf '{"component":"kernel-%s","series":"%s","version":%s,"kernelrelease":"%s","built_seconds":%d,"fragments":"%s","patches":%d}' \
    "$ARCH_NAME" "$SERIES" "$used" "$kernelrelease" "$secs" "$(tree_hash "${frags[@]}")" "${#patches[@]}")"
exit
}
