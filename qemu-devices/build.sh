#!/usr/bin/env bash
# Build faultlab's QEMU: the pinned Debian source of QEMU 10.0, the two Debian
# patches this tarball needs to build, our patch series (qemu-devices/patches)
# and our device models (qemu-devices/hw/faultlab -> hw/faultlab), configured
# lean (no optional features; only the machines and devices the bench uses, as
# listed in qemu-devices/configs/devices/*/faultlab.mak) for x86_64, aarch64
# and ppc64, built with ccache into the cache.
#
# Incremental: the source tree is only rebuilt from the tarball when the
# tarball or the patch series changed, and then synced into place with rsync
# --checksum so unchanged files keep their mtimes; model files are synced the
# same way, so ninja recompiles only what a change touches.
source "$(dirname "$0")/../scripts/common.sh"
# The body is one compound command, read whole before it runs: editing this file
# while a build is running cannot change what that build executes.
{

QDIR=$FAULTLAB_CACHE/qemu
SRC=$QDIR/src
BUILD=$QDIR/build
HERE=$FAULTLAB_REPO/qemu-devices
TARGETS=x86_64-softmmu,aarch64-softmmu,ppc64-softmmu
DEBIAN_PATCHES=(skip-unpack-edk2-blobs.patch disable-pycotap.patch)
CONFIGURE_ARGS=(
    --target-list=$TARGETS
    --without-default-features
    --without-default-devices
    --with-devices-x86_64=faultlab --with-devices-aarch64=faultlab --with-devices-ppc64=faultlab
    --enable-system --disable-user --disable-tools --disable-docs
    --disable-guest-agent --disable-werror --disable-install-blobs
    --enable-tcg --enable-kvm --enable-slirp --enable-fdt=system --enable-virtfs --enable-attr
    --enable-trace-backends=log
    --python="$VENV/bin/python3"
    --cc="ccache gcc" --cxx="ccache g++" --host-cc=gcc
)
start=$(date +%s)
mkdir -p "$QDIR"
# One build at a time in the shared source and build trees (a second caller waits).
exec 8>"$QDIR/.build.lock"
flock 8
[[ -x $VENV/bin/meson ]] || die "no meson in $VENV: run 'make venv' first"
command -v ccache >/dev/null || die "ccache missing: run 'make deps' first"

mapfile -t files < <(fetch qemu-source)
orig=$(printf '%s\n' "${files[@]}" | grep '\.orig\.tar')
debian=$(printf '%s\n' "${files[@]}" | grep '\.debian\.tar')
used=$(used_version qemu-source)

# 1. Source tree: tarball + Debian build patches + our series.
src_stamp=$( (sha256sum "$orig" "$debian" | cut -d' ' -f1; tree_hash "$HERE/patches") | sha256sum | cut -d' ' -f1)
if [[ ! -f $SRC/.faultlab-src-stamp || $(cat "$SRC/.faultlab-src-stamp") != "$src_stamp" ]]; then
    log "preparing QEMU source from $(basename "$orig")"
    stage=$QDIR/stage
    rm -rf "$stage" && mkdir -p "$stage/debian-pkg"
    tar -xf "$orig" -C "$stage"
    tar -xf "$debian" -C "$stage/debian-pkg"
    top=$(find "$stage" -mindepth 1 -maxdepth 1 -type d -name 'qemu-*' | head -n1)
    for p in "${DEBIAN_PATCHES[@]}"; do
        patch -d "$top" -p1 -s --no-backup-if-mismatch < "$stage/debian-pkg/debian/patches/$p" ||
            die "Debian patch $p does not apply to $(basename "$orig")"
    done
    for p in "$HERE"/patches/*.patch; do
        [[ -e $p ]] || continue
        patch -d "$top" -p1 -s --no-backup-if-mismatch < "$p" ||
            die "qemu-devices/patches/$(basename "$p") does not apply to $(basename "$orig")"
    done
    mkdir -p "$SRC"
    # --checksum without --times: files whose content did not change keep their mtime.
    rsync -rlc --delete --exclude=/hw/faultlab/ --exclude=/.faultlab-src-stamp "$top/" "$SRC/"
    rm -rf "$stage"
    echo "$src_stamp" > "$SRC/.faultlab-src-stamp"
fi

# 2. Our device models, and the lean device sets (configs/devices/*/faultlab.mak).
mkdir -p "$SRC/hw/faultlab"
rsync -rlc --delete "$HERE/hw/faultlab/" "$SRC/hw/faultlab/"
rsync -rlc "$HERE/configs/" "$SRC/configs/"

# 3. Configure when the options changed or the build dir is new.
cfg_stamp=$(printf '%s\n' "${CONFIGURE_ARGS[@]}" "$src_stamp" "$(tree_hash "$HERE/configs")" | sha256sum | cut -d' ' -f1)
if [[ ! -f $BUILD/build.ninja || ! -f $BUILD/.faultlab-cfg-stamp ||
      $(cat "$BUILD/.faultlab-cfg-stamp") != "$cfg_stamp" ]]; then
    log "configuring QEMU ($TARGETS)"
    mkdir -p "$BUILD"
    (cd "$BUILD" && PATH=$VENV/bin:$PATH "$SRC/configure" "${CONFIGURE_ARGS[@]}") > "$QDIR/configure.log" 2>&1 ||
        { tail -n 30 "$QDIR/configure.log" >&2; die "QEMU configure failed (log: $QDIR/configure.log)"; }
    echo "$cfg_stamp" > "$BUILD/.faultlab-cfg-stamp"
fi

# 4. Build the three system emulators.
log "building QEMU with $JOBS jobs"
binaries_before=$(stat -c %Y "$BUILD"/qemu-system-* 2>/dev/null | sort | tr '\n' ' ')
PATH=$VENV/bin:$PATH ninja -C "$BUILD" -j "$JOBS" \
    qemu-system-x86_64 qemu-system-aarch64 qemu-system-ppc64 > "$QDIR/build.log" 2>&1 ||
    { grep -E 'error|FAILED' "$QDIR/build.log" | head -n 30 >&2; die "QEMU build failed (log: $QDIR/build.log)"; }

# 5. Firmware the machines need, from pinned Debian packages (not built here).
fw=$FAULTLAB_CACHE/firmware
fw_stamp=$( (tree_hash "$FAULTLAB_REPO/images/lock.json"; echo "$src_stamp") | sha256sum | cut -d' ' -f1)
if [[ ! -f $fw/.stamp || $(cat "$fw/.stamp") != "$fw_stamp" ]]; then
    tmp=$(mktemp -d)
    deb_extract "$(fetch qemu-system-data)" "$tmp"
    deb_extract "$(fetch seabios)" "$tmp"
    rm -rf "$fw" && mkdir -p "$fw"
    for f in skiboot.lid vof.bin slof.bin pvh.bin linuxboot_dma.bin kvmvapic.bin multiboot_dma.bin; do
        cp "$tmp/usr/share/qemu/$f" "$fw/"
    done
    cp "$tmp/usr/share/seabios/bios-256k.bin" "$fw/"
    # powernv's PNOR image ships in QEMU's own source (pc-bios/), not in the Debian package.
    cp "$SRC/pc-bios/pnv-pnor.bin" "$fw/"
    rm -rf "$tmp"
    echo "$fw_stamp" > "$fw/.stamp"
fi

secs=$(( $(date +%s) - start ))
log "QEMU ready in $BUILD (${secs}s)"
if [[ $binaries_before == "$(stat -c %Y "$BUILD"/qemu-system-* | sort | tr '\n' ' ')" &&
      -f $FAULTLAB_CACHE/manifests/qemu.json && $(cat "$fw/.stamp") == "$fw_stamp" ]]; then
    exit 0  # nothing rebuilt: keep the manifest (and the build time) of the last real build
fi
write_manifest qemu "$(printf '{"component":"qemu","version":%s,"firmware":{"qemu-system-data":%s,"seabios":%s},"built_seconds":%d,"targets":"%s","models":"%s"}' \
    "$used" "$(used_version qemu-system-data)" "$(used_version seabios)" "$secs" "$TARGETS" \
    "$(tree_hash "$HERE/hw" "$HERE/patches")")"
exit
}
