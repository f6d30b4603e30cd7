#!/usr/bin/env bash
# Assemble one guest initramfs: images/build.sh x86_64|arm64|ppc64le
#
# Contents: busybox-static, dropbear with the libraries it links (all pinned
# Debian .debs of the guest's architecture), images/rootfs (init, network,
# sshd start-up), the bench's SSH public key (generated once into the cache,
# never committed), and whatever later issues put in $CACHE/guest/<arch>/
# (programs, modules, real clients), which lands in /opt/faultlab. x86_64 also
# gets accel-config, accel-config-test and their libraries, and bash for their scripts.
source "$(dirname "$0")/../scripts/common.sh"
# The body is one compound command, read whole before it runs: editing this file
# while a build is running cannot change what that build executes.
{

ARCH_NAME=${1:-}
case $ARCH_NAME in
    x86_64)  DEBARCH=amd64 ;;
    arm64)   DEBARCH=arm64 ;;
    ppc64le) DEBARCH=ppc64el ;;
    *) die "usage: images/build.sh x86_64|arm64|ppc64le (got '${ARCH_NAME}')" ;;
esac
HERE=$FAULTLAB_REPO/images
OUT=$FAULTLAB_CACHE/images/$ARCH_NAME
GUEST=$FAULTLAB_CACHE/guest/$ARCH_NAME
KEY=$FAULTLAB_CACHE/ssh/id_ed25519
# One build of an arch's image at a time (a second caller waits).
mkdir -p "$FAULTLAB_CACHE/images"
exec 8>"$FAULTLAB_CACHE/images/.build-$ARCH_NAME.lock"
flock 8
PKGS=(busybox-static dropbear-bin libc6 libcrypt1 zlib1g libtomcrypt1 libtommath1 libgmp10)
case $ARCH_NAME in
    # Intel DSA/IAA user space (accel-config, its test programs and runner scripts,
    # which are bash scripts) and the libraries they link.
    x86_64) PKGS+=(accel-config accel-config-test libaccel-config1 libjson-c5 bash libtinfo6) ;;
esac
start=$(date +%s)

# The bench's SSH key: made once, kept in the cache.
if [[ ! -f $KEY ]]; then
    mkdir -p "$(dirname "$KEY")" && chmod 700 "$(dirname "$KEY")"
    ssh-keygen -q -t ed25519 -N '' -C faultlab-bench -f "$KEY" ||
        die "could not generate the bench SSH key (is openssh-client installed?)"
fi

ids=()
for p in "${PKGS[@]}"; do ids+=("$p-$DEBARCH"); done
mapfile -t debs < <(fetch "${ids[@]}")

stamp=$( (sha256sum "${debs[@]}" "$KEY.pub"; tree_hash "$HERE/rootfs" "$GUEST"; sha256sum "$0") |
    sha256sum | cut -d' ' -f1)
if [[ -f $OUT/initramfs.cpio.gz && -f $OUT/.stamp && $(cat "$OUT/.stamp") == "$stamp" ]]; then
    log "$ARCH_NAME initramfs up to date"
    exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
for d in "${debs[@]}"; do deb_extract "$d" "$root"; done
# Merged /bin: busybox applets, dropbear and everything else on one PATH.
mkdir -p "$root/bin"
for d in usr/bin usr/sbin sbin; do
    if [[ -d $root/$d && ! -L $root/$d ]]; then
        find "$root/$d" -mindepth 1 -maxdepth 1 -exec mv -f {} "$root/bin/" \;
        rmdir "$root/$d"
    fi
done
ln -s bin "$root/sbin"
ln -s ../bin "$root/usr/bin"
ln -s ../bin "$root/usr/sbin"
[[ -x $root/bin/busybox ]] || die "busybox-static for $DEBARCH has no /bin/busybox"
rm -rf "$root/usr/share" "$root/usr/lib"/*/gconv "$root/usr/lib"/*/audit "$root/etc/init.d/dropbear" "$root/etc/default"
# Applets as links, made here so boot does not spend time on it. The list comes
# from the amd64 build of the same pinned busybox-static (same configuration on
# every arch), which runs on the build host.
host_bb=$(mktemp -d)
deb_extract "$(fetch busybox-static-amd64)" "$host_bb"
applets=$("$host_bb/bin/busybox" --list) || die "cannot run busybox-static (amd64) on this host to list applets"
rm -rf "$host_bb"
for applet in $applets; do
    [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
done
cp -a "$HERE/rootfs/." "$root/"
ln -sf bin/busybox "$root/init"
mkdir -p "$root"/{proc,sys,dev,tmp,run,root/.ssh,var/log,opt/faultlab}
chmod 700 "$root/root" "$root/root/.ssh"
cp "$KEY.pub" "$root/root/.ssh/authorized_keys"
chmod 600 "$root/root/.ssh/authorized_keys"
if [[ -d $GUEST ]]; then
    cp -a "$GUEST/." "$root/opt/faultlab/"
fi
mkdir -p "$OUT"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
    gzip -1 > "$OUT/initramfs.cpio.gz.tmp"
mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
echo "$stamp" > "$OUT/.stamp"
secs=$(( $(date +%s) - start ))
versions=$(for i in "${ids[@]}"; do printf '"%s":%s,' "$i" "$(used_version "$i")"; done)
write_manifest "images-$ARCH_NAME" "$(printf '{"component":"images-%s","version":{%s},"built_seconds":%d,"bytes":%d}' \
    "$ARCH_NAME" "${versions%,}" "$secs" "$(stat -c %s "$OUT/initramfs.cpio.gz")")"
log "$ARCH_NAME initramfs ready: $OUT/initramfs.cpio.gz (${secs}s)"
exit
}
