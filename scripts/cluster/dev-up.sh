#!/usr/bin/env bash
# Starts `fhirgate cluster-dev` in the background against the cluster up.sh started: the
# controller, fhirgate-authz in controller mode, an https demo issuer, a sample FHIR server and
# the real Envoy on loopback. Waits (bounded) until Envoy answers, then prints what to paste:
# `export KUBECONFIG=…`, `kubectl apply -f manifests/examples/`, and curl commands.
#
#   scripts/cluster/up.sh && scripts/cluster/dev-up.sh     (what `make cluster-up` runs)
#
# Running it again while it runs only prints the instructions. scripts/cluster/down.sh stops it
# (before the API server).
#
# Environment:
#   CLUSTER_STATE_DIR        the cluster state dir (default <repo>/.tmp/cluster); PID in
#                            cluster-dev.pid, log in logs/cluster-dev.log, files in cluster-dev/
#   CLUSTER_DEV_PORT         Envoy listener (default 10080)
#   CLUSTER_DEV_ISSUER_PORT  https demo issuer (default 10443)
#   CLUSTER_DEV_FHIR_PORT    sample FHIR server (default 10580)
#   CLUSTER_DEV_GRPC_PORT    controller policy distribution (default 10900)
#   CLUSTER_DEV_READY_TIMEOUT  seconds to wait for Envoy (default 120)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
STATE="${CLUSTER_STATE_DIR:-$REPO/.tmp/cluster}"
READY_TIMEOUT="${CLUSTER_DEV_READY_TIMEOUT:-120}"

log() { printf 'cluster-dev: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ "$READY_TIMEOUT" =~ ^[0-9]+$ ]] || die "CLUSTER_DEV_READY_TIMEOUT must be a number of seconds"
for p in "${CLUSTER_DEV_PORT:-}" "${CLUSTER_DEV_ISSUER_PORT:-}" "${CLUSTER_DEV_FHIR_PORT:-}" "${CLUSTER_DEV_GRPC_PORT:-}"; do
  [[ -z "$p" || "$p" =~ ^[0-9]+$ ]] || die "bad port: $p"
done
[[ -d "$STATE" && -f "$STATE/.fhirgate-cluster" ]] || die "no cluster in $STATE: run scripts/cluster/up.sh first"
STATE="$(cd "$STATE" && pwd)"

# shellcheck source=lib.sh
source "$HERE/lib.sh"

cluster_alive "$STATE" && [[ -f "$STATE/kubeconfig" ]] || die "the cluster in $STATE is not running: run scripts/cluster/up.sh first"

exec 9>"$STATE/.dev-lock"
flock 9

READY="$STATE/cluster-dev/ready"
INSTRUCTIONS="$STATE/cluster-dev/instructions.txt"
LOG="$STATE/logs/cluster-dev.log"

if dev_alive "$STATE" && [[ -f "$READY" && -f "$INSTRUCTIONS" ]]; then
  log "already running (pid $(<"$STATE/cluster-dev.pid"))"
  cat "$INSTRUCTIONS"
  exit 0
fi
if dev_alive "$STATE"; then
  # Alive but never became ready (or its files are gone): start afresh.
  log "restarting a cluster-dev that is not ready"
  kill -TERM "$(<"$STATE/cluster-dev.pid")" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do dev_alive "$STATE" || break; sleep 0.1; done
  dev_alive "$STATE" && die "the previous cluster-dev (pid $(<"$STATE/cluster-dev.pid")) did not stop"
fi
rm -f "$STATE/cluster-dev.pid"

NODE="$("$REPO/scripts/tools.sh" node)/node"
BIN="$("$HERE/build.sh")"
mkdir -p "$STATE/logs"

# Detached in its own session so the caller's exit or ^C does not stop it; `9>&-` keeps the lock
# from living as long as the daemon.
setsid "$NODE" "$REPO/cmd/fhirgate.ts" cluster-dev \
  --kubeconfig "$STATE/kubeconfig" \
  --state-dir "$STATE" \
  --kubectl "$BIN/kubectl" \
  --port "${CLUSTER_DEV_PORT:-10080}" \
  --issuer-port "${CLUSTER_DEV_ISSUER_PORT:-10443}" \
  --fhir-port "${CLUSTER_DEV_FHIR_PORT:-10580}" \
  --grpc-port "${CLUSTER_DEV_GRPC_PORT:-10900}" \
  </dev/null >"$LOG" 2>&1 9>&- &
echo "$!" >"$STATE/cluster-dev.pid"

deadline=$((SECONDS + READY_TIMEOUT))
until [[ -f "$READY" ]]; do
  if ! [[ -e "/proc/$(<"$STATE/cluster-dev.pid")" ]]; then
    log "fhirgate cluster-dev exited during start-up; the end of $LOG:"
    tail -n 30 "$LOG" >&2 || true
    rm -f "$STATE/cluster-dev.pid"
    exit 1
  fi
  if (( SECONDS >= deadline )); then
    log "not ready within ${READY_TIMEOUT}s; stopping it. The end of $LOG:"
    tail -n 30 "$LOG" >&2 || true
    kill -TERM "$(<"$STATE/cluster-dev.pid")" 2>/dev/null || true
    exit 1
  fi
  sleep 0.2
done
log "ready (pid $(<"$STATE/cluster-dev.pid"), log: $LOG)"
cat "$INSTRUCTIONS"
