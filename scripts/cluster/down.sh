#!/usr/bin/env bash
# Stops the test cluster started by up.sh: `fhirgate cluster-dev` (dev-up.sh) first, while its
# controller can still release its Lease; then kube-apiserver (so it does not log storage
# errors while kine goes away), then kine. SIGTERM, a bounded wait, then SIGKILL. Only the
# processes named in the state directory's PID files are signalled, and only if they still run
# the expected program. Safe to run twice, or when nothing was started.
#
#   scripts/cluster/down.sh             stop; keep certificates, data and logs for inspection
#   scripts/cluster/down.sh --purge     stop and delete the state directory
#
# Environment: CLUSTER_STATE_DIR (default <repo>/.tmp/cluster), CLUSTER_STOP_TIMEOUT (seconds, 15).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
STATE="${CLUSTER_STATE_DIR:-$REPO/.tmp/cluster}"
STOP_TIMEOUT="${CLUSTER_STOP_TIMEOUT:-15}"
PURGE=0

log() { printf 'cluster-down: %s\n' "$*" >&2; }

case "${1:-}" in
  "") ;;
  --purge) PURGE=1 ;;
  *) log "usage: $0 [--purge]"; exit 2 ;;
esac
[[ "$STOP_TIMEOUT" =~ ^[0-9]+$ ]] || { log "CLUSTER_STOP_TIMEOUT must be a number of seconds"; exit 2; }

if [[ ! -d "$STATE" ]]; then
  log "nothing to stop ($STATE does not exist)"
  exit 0
fi

# shellcheck source=lib.sh
source "$HERE/lib.sh"

# $1 = name (PID file <state>/<name>.pid); $2 = a function, no arguments, that succeeds while it
# still runs (default: pid_alive on the PID file with the program name $1).
stop() {
  local name="$1" pidfile="$STATE/$1.pid" check="${2:-}" pid deadline
  alive() { if [[ -n "$check" ]]; then "$check"; else pid_alive "$pidfile" "$name"; fi; }
  if ! alive; then
    rm -f "$pidfile"
    return
  fi
  pid="$(<"$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while alive && (( SECONDS < deadline )); do sleep 0.1; done
  if alive; then
    log "$name (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    while alive && (( SECONDS < deadline )); do sleep 0.1; done
  fi
  rm -f "$pidfile"
  log "stopped $name (pid $pid)"
}

STATE="$(cd "$STATE" && pwd)"   # dev_alive compares the absolute path dev-up.sh passed
this_dev_alive() { dev_alive "$STATE"; }
stop cluster-dev this_dev_alive
stop kube-apiserver
stop kine

if (( PURGE )); then
  # Only a directory up.sh created is deleted, never whatever CLUSTER_STATE_DIR happens to name.
  if [[ ! -f "$STATE/.fhirgate-cluster" ]]; then
    log "not purging $STATE: it is not a cluster state dir (no .fhirgate-cluster marker)"
    exit 1
  fi
  rm -rf "$STATE"
  log "removed $STATE"
fi
