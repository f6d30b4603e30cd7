#!/usr/bin/env bash
# Create or refresh the Python venv in the cache with the pinned PyPI packages,
# and point its editable faultlab install at this checkout.
source "$(dirname "$0")/common.sh"

want=$( (fl_python faultlab.lock pypi; cat "$FAULTLAB_REPO/harness/pyproject.toml") | sha256sum | cut -d' ' -f1)
stamp=$VENV/.faultlab-stamp
if [[ -x $VENV/bin/python && -f $stamp && $(cat "$stamp") == "$want $FAULTLAB_REPO" ]]; then
    exit 0
fi
if [[ ! -x $VENV/bin/python ]]; then
    log "creating venv $VENV"
    python3 -m venv "$VENV"
fi
req=$(mktemp)
trap 'rm -f "$req"' EXIT
fl_python faultlab.lock pypi > "$req"
# pip's configuration on these machines names local wheel folders that may not exist;
# its warning about each one is noise, everything else it says is kept.
quiet_pip() {
    local out rc=0
    out=$("$VENV/bin/pip" install -q --disable-pip-version-check "$@" 2>&1) || rc=$?
    [[ -z $out ]] || grep -v 'is ignored: it is neither a file nor a directory' <<<"$out" >&2 || true
    return "$rc"
}
quiet_pip -r "$req"
quiet_pip --no-deps -e "$FAULTLAB_REPO/harness"
echo "$want $FAULTLAB_REPO" > "$stamp"
log "venv ready: $VENV"
