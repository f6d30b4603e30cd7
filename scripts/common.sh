# Shared helpers for faultlab's build scripts (sourced, not run).
# shellcheck shell=bash
set -euo pipefail

FAULTLAB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FAULTLAB_CACHE=${FAULTLAB_CACHE:-$HOME/.cache/faultlab}
export FAULTLAB_CACHE
mkdir -p "$FAULTLAB_CACHE/manifests"
export CCACHE_DIR=${CCACHE_DIR:-$FAULTLAB_CACHE/ccache}
export CCACHE_BASEDIR=$FAULTLAB_CACHE
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
VENV=$FAULTLAB_CACHE/venv
JOBS=${FAULTLAB_JOBS:-$(nproc)}

log() { printf 'faultlab: %s\n' "$*" >&2; }
die() { printf 'faultlab: error: %s\n' "$*" >&2; exit 1; }

# fl_python MODULE ARGS...: run a stdlib-only faultlab module before the venv exists.
fl_python() { PYTHONPATH=$FAULTLAB_REPO/harness python3 -m "$@"; }

# fetch ID...: download pinned lock entries, print their local paths.
fetch() { fl_python faultlab.fetch "$@"; }

# used_version ID: the version actually used for a lock entry (JSON object).
used_version() {
    PYTHONPATH=$FAULTLAB_REPO/harness python3 -c \
        'import json,sys; from faultlab.fetch import used_version; print(json.dumps(used_version(sys.argv[1])))' "$1"
}

# tree_hash PATH...: one sha256 over the names and contents of the given files/dirs; names
# inside the checkout count relative to it, so a fresh clone elsewhere hashes the same.
tree_hash() {
    find "$@" -type f -print0 2>/dev/null | LC_ALL=C sort -z |
        xargs -0 -r sha256sum | sed "s#  $FAULTLAB_REPO/#  #" | sha256sum | cut -d' ' -f1
}

# deb_extract DEB DIR: unpack a .deb's data into DIR.
deb_extract() { mkdir -p "$2" && dpkg-deb -x "$1" "$2"; }

# write_manifest NAME JSON: record what a build produced and from what.
write_manifest() { printf '%s\n' "$2" > "$FAULTLAB_CACHE/manifests/$1.json"; }

# arch_tools ARCH: set KARCH (kbuild's ARCH) and CROSS (the cross-compiler prefix) for one
# of the guest arches; fails for any other name.
arch_tools() {
    case $1 in
        x86_64)  KARCH=x86_64;  CROSS= ;;
        arm64)   KARCH=arm64;   CROSS=aarch64-linux-gnu- ;;
        ppc64le) KARCH=powerpc; CROSS=powerpc64le-linux-gnu- ;;
        *) return 1 ;;
    esac
}
