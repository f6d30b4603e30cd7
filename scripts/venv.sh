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
"$VENV/bin/pip" install -q --disable-pip-version-check -r "$req"
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e "$FAULTLAB_REPO/harness"
echo "$want $FAULTLAB_REPO" > "$stamp"
log "venv ready: $VENV"
