#!/usr/bin/env bash
# Builds the pinned Go load generators used by `make bench` (test/bench/) from the Go module proxy
# into a per-version cache shared by every clone on this machine, and verifies each cached binary
# (`--version`) before trusting it. Concurrent callers are serialized with flock.
#   scripts/go-tools.sh ghz|fortio      install (idempotent) and print the binary path
set -euo pipefail

GHZ_VERSION="${GHZ_VERSION:-v0.121.0}"
# fortio v1.69.0 and later import grol.io/grol, which the Go module proxy refuses (403) from these
# machines; v1.68.2 is the newest release that builds from the proxy alone.
FORTIO_VERSION="${FORTIO_VERSION:-v1.68.2}"
CACHE="${FHIRGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fhirgate}"

log() { printf 'go-tools: %s\n' "$*" >&2; }

# Does the binary at $1 run and report version $2? `ghz --version` prints "0.121.0",
# `fortio version` prints "1.68.2" (fortio has no --version flag).
verified() {
  local bin="$1" want="${2#v}"
  [[ -x "$bin" ]] || return 1
  local arg=--version
  [[ "$(basename "$bin")" == fortio ]] && arg=version
  local out
  out="$("$bin" "$arg" 2>&1 | head -n 3)" || return 1
  [[ "$out" == *"$want"* ]]
}

# install NAME VERSION MODULE-PATH [LDFLAGS] → prints the verified binary path
install_tool() {
  local name="$1" version="$2" module="$3" ldflags="${4:-}"
  local dir="$CACHE/$name-$version"
  local bin="$dir/$name"
  if verified "$bin" "$version"; then echo "$bin"; return; fi
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock-$name"
  flock 9
  # Someone else may have built it while we waited for the lock.
  if verified "$bin" "$version"; then echo "$bin"; return; fi
  command -v go >/dev/null || { log "go is not on PATH; cannot build $name"; exit 1; }
  log "building $name $version into $dir (a few minutes on 2 cores the first time)"
  rm -rf "$dir" && mkdir -p "$dir"
  # GOFLAGS=-mod=mod: the module's own go.mod decides dependencies; nothing is read from this repo.
  (cd "$dir" && GOBIN="$dir" GOFLAGS=-mod=mod nice -n 10 go install -ldflags="$ldflags" "$module@$version" >&2)
  verified "$bin" "$version" || { log "$name $version failed verification"; exit 1; }
  echo "$bin"
}

case "${1:-}" in
  # ghz reports the version its release build stamps in; `go install` leaves "dev" unless told.
  ghz) install_tool ghz "$GHZ_VERSION" github.com/bojand/ghz/cmd/ghz "-X main.version=${GHZ_VERSION#v}" ;;
  fortio) install_tool fortio "$FORTIO_VERSION" fortio.org/fortio ;;
  *) log "usage: $0 ghz|fortio"; exit 2 ;;
esac
