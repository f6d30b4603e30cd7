#!/usr/bin/env bash
# Install the pinned host packages (images/lock.json "host_packages") with apt.
# Fast when everything is already installed; as non-root, says what to run.
source "$(dirname "$0")/common.sh"

missing=()
while read -r name version; do
    have=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$name" 2>/dev/null || true)
    [[ $have == "ii "* ]] || missing+=("$name")
done < <(python3 -c 'import json,sys; [print(k, v) for k, v in json.load(open(sys.argv[1]))["host_packages"].items()]' \
    "$FAULTLAB_REPO/images/lock.json")
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
    die "missing host packages: ${missing[*]}; run 'sudo make deps' (or apt-get install them)"
fi
log "installing host packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2 3 4 5; do
    apt-get update -q >/dev/null 2>&1 && break
    log "apt-get update failed (attempt $attempt/5), retrying"
    sleep $((attempt * 3))
done
mapfile -t -d' ' args < <(fl_python faultlab.lock host-packages | tr -d '\n')
apt-get install -y -q --no-install-recommends "${args[@]}" > "$FAULTLAB_CACHE/apt-install.log" 2>&1 ||
    { tail -n 20 "$FAULTLAB_CACHE/apt-install.log" >&2; die "apt-get install failed (log: $FAULTLAB_CACHE/apt-install.log)"; }
