#!/usr/bin/env bash
# Starts the real test cluster on loopback: kine (etcd API over SQLite) and kube-apiserver, both
# built and cached by scripts/cluster/build.sh. No controller-manager, scheduler or kubelet: the
# API server itself (storage, validation, CEL, RBAC, admission webhooks) is what tests exercise.
#
#   scripts/cluster/up.sh               start (or reuse a running cluster), print `export KUBECONFIG=…`
#
# Environment:
#   CLUSTER_STATE_DIR   where certificates, the SQLite file, logs, PIDs and the kubeconfig live
#                       (default <repo>/.tmp/cluster, git-ignored); one directory = one cluster
#   CLUSTER_API_PORT    API server port (default: a free loopback port)
#   CLUSTER_KINE_PORT   kine port (default: a free loopback port)
#   CLUSTER_READY_TIMEOUT  seconds to wait for /readyz (default 120)
#
# Everything binds 127.0.0.1 only. Logs go to <state>/logs/, never to the terminal; on failure the
# tail of the failing log is shown and whatever was started is stopped again.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
STATE="${CLUSTER_STATE_DIR:-$REPO/.tmp/cluster}"
READY_TIMEOUT="${CLUSTER_READY_TIMEOUT:-120}"

log() { printf 'cluster-up: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

for tool in openssl curl python3 setsid; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
[[ "$READY_TIMEOUT" =~ ^[0-9]+$ ]] || die "CLUSTER_READY_TIMEOUT must be a number of seconds"

BIN="$("$HERE/build.sh")"
# The state dir is ours alone (it is chmod'ed 700 and `down.sh --purge` deletes it): refuse an
# existing, non-empty directory that up.sh did not create, such as a mistyped CLUSTER_STATE_DIR=/tmp.
if [[ -d "$STATE" && ! -f "$STATE/.fhirgate-cluster" && -n "$(ls -A "$STATE")" ]]; then
  die "$STATE exists and is not a cluster state dir; choose an empty or new CLUSTER_STATE_DIR"
fi
mkdir -p "$STATE/pki" "$STATE/logs" "$STATE/kine"
touch "$STATE/.fhirgate-cluster"
chmod 700 "$STATE"
STATE="$(cd "$STATE" && pwd)"
export CLUSTER_STATE_DIR="$STATE"   # down.sh, when called from here, acts on the same directory
PKI="$STATE/pki"
KUBECONFIG_FILE="$STATE/kubeconfig"

# shellcheck source=lib.sh
source "$HERE/lib.sh"

# Only one up.sh per state directory at a time (two test files may race to start it).
exec 8>"$STATE/.lock"
flock 8

# --- reuse a running cluster ---------------------------------------------------------------------

if cluster_alive "$STATE" && [[ -f "$KUBECONFIG_FILE" && -f "$STATE/ports" ]]; then
  # shellcheck disable=SC1091
  source "$STATE/ports"
  if api_ready "$API_PORT"; then
    log "already running on https://127.0.0.1:$API_PORT"
    printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
    exit 0
  fi
fi
# Half a cluster (one process died, or stale PID files) is stopped before starting afresh.
"$HERE/down.sh" >/dev/null 2>&1 || true

# --- certificates ----------------------------------------------------------------------------------

# Certificates are kept across restarts (clients that pinned the CA keep trusting the server;
# the kubeconfig is rewritten with the new port) and regenerated when missing or within a day of
# expiry. ECDSA P-256 keys: instant to generate.
cert_valid() { [[ -f "$1" ]] && openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1; }

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

issue_cert() { # $1 = name, $2 = subject, $3 = X.509 extensions, ;-separated (an -extfile)
  local name="$1" subject="$2" ext="$3" extfile
  new_key "$PKI/$name.key"
  openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  extfile="$PKI/$name.ext"
  tr ';' '\n' <<<"$ext" >"$extfile"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 365 -sha256 -extfile "$extfile" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$extfile"
}

make_pki() {
  if ! cert_valid "$PKI/ca.crt"; then
    log "generating a new CA in $PKI"
    new_key "$PKI/ca.key"
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=fhirgate-test-cluster-ca" -days 730 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$PKI/ca.crt" 2>/dev/null
    rm -f "$PKI/apiserver.crt" "$PKI/admin.crt"
  fi
  if ! cert_valid "$PKI/apiserver.crt"; then
    # 10.0.0.1 is the `kubernetes` Service IP in --service-cluster-ip-range below.
    issue_cert apiserver "/CN=kube-apiserver" \
      "basicConstraints=critical,CA:FALSE;keyUsage=critical,digitalSignature;extendedKeyUsage=serverAuth;subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  fi
  if ! cert_valid "$PKI/admin.crt"; then
    # O=system:masters is the group the API server's RBAC grants everything to.
    issue_cert admin "/O=system:masters/CN=fhirgate-admin" \
      "basicConstraints=critical,CA:FALSE;keyUsage=critical,digitalSignature;extendedKeyUsage=clientAuth"
  fi
  if [[ ! -f "$PKI/sa.key" || ! -f "$PKI/sa.pub" ]]; then
    new_key "$PKI/sa.key"
    openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
}

write_kubeconfig() { # $1 = API port
  local tmp="$KUBECONFIG_FILE.tmp.$$"
  (
    umask 077
    cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fhirgate-test
  cluster:
    server: https://127.0.0.1:$1
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: fhirgate-admin
  user:
    client-certificate-data: $(base64 -w0 "$PKI/admin.crt")
    client-key-data: $(base64 -w0 "$PKI/admin.key")
contexts:
- name: fhirgate-test
  context:
    cluster: fhirgate-test
    user: fhirgate-admin
current-context: fhirgate-test
EOF
  )
  mv -f "$tmp" "$KUBECONFIG_FILE"
}

# --- processes -------------------------------------------------------------------------------------

free_port() { # asks the kernel for a free loopback port; the gap before the bind is milliseconds
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Detached in its own session so the caller's exit or ^C does not kill it. `8>&-` closes the
# lock's descriptor in the daemon: it would otherwise hold the lock for its whole life and
# block every later up.sh.
start() { # $1 = name, rest = command
  local name="$1"; shift
  setsid "$@" </dev/null >"$STATE/logs/$name.log" 2>&1 8>&- &
  local pid=$! i
  echo "$pid" >"$STATE/$name.pid"
  # Until the fork has exec'd (through setsid) the PID still shows bash or setsid, and
  # pid_alive, which checks the program name, would call it dead. Wait for the exec, bounded.
  for ((i = 0; i < 100; i++)); do
    pid_alive "$STATE/$name.pid" "$name" && return
    [[ -e "/proc/$pid" ]] || return 0 # died already: the caller's checks report it
    sleep 0.05
  done
}

# Sets FAILED (a message) and FAILED_LOG (the log to show) and returns 1.
failed() { FAILED="$1"; FAILED_LOG="$2"; return 1; }

start_kine() {
  # --metrics-bind-address=0 turns off kine's metrics listener (default :8080 on all interfaces).
  start kine "$BIN/kine" \
    --listen-address="127.0.0.1:$KINE_PORT" \
    --endpoint="sqlite://$STATE/kine/state.db?_journal_mode=WAL&_busy_timeout=30000&_synchronous=NORMAL&_txlock=immediate" \
    --metrics-bind-address=0
  # Ready when kine itself says it listens on our port: a connect test alone would also succeed
  # against some other program that happens to hold the port.
  local deadline=$((SECONDS + 30))
  until grep -q "Kine available at http://127.0.0.1:$KINE_PORT\b" "$STATE/logs/kine.log" 2>/dev/null; do
    pid_alive "$STATE/kine.pid" kine || failed "kine exited during start-up" kine || return
    (( SECONDS < deadline )) || failed "kine did not listen on 127.0.0.1:$KINE_PORT within 30s" kine || return
    sleep 0.2
  done
}

# Flags follow what envtest passes; only what a single loopback API server needs.
# - ServiceAccount admission is off: without a controller-manager no `default` ServiceAccount
#   is ever created, and pods could not be created at all.
# - Priority & fairness is off: it costs CPU and nothing here needs it.
# - No endpoint reconciler: it would publish the advertise address as the `kubernetes` Service's
#   endpoint, which the API server itself rejects for a loopback address (an error every 10 s).
start_apiserver() {
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$KINE_PORT" \
    --cert-dir="$PKI" \
    --tls-cert-file="$PKI/apiserver.crt" \
    --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --secure-port="$API_PORT" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --service-cluster-ip-range=10.0.0.0/24 \
    --service-account-issuer="https://127.0.0.1:$API_PORT" \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --authorization-mode=RBAC \
    --disable-admission-plugins=ServiceAccount \
    --enable-priority-and-fairness=false \
    --endpoint-reconciler-type=none \
    --allow-privileged=true \
    --profiling=false \
    --v=1
  # api_ready verifies the server certificate against our CA, so a foreign listener never counts.
  local deadline=$((SECONDS + READY_TIMEOUT))
  until api_ready "$API_PORT"; do
    pid_alive "$STATE/kine.pid" kine || failed "kine exited" kine || return
    pid_alive "$STATE/kube-apiserver.pid" kube-apiserver || failed "kube-apiserver exited during start-up" kube-apiserver || return
    (( SECONDS < deadline )) || failed "kube-apiserver not ready within ${READY_TIMEOUT}s" kube-apiserver || return
    sleep 0.25
  done
}

make_pki

# A port picked as free can be taken by another test before our daemon binds it. When that is
# the cause (and the ports were not fixed by the caller), pick new ones: at most 3 attempts.
for attempt in 1 2 3; do
  API_PORT="${CLUSTER_API_PORT:-$(free_port)}"
  KINE_PORT="${CLUSTER_KINE_PORT:-$(free_port)}"
  [[ "$API_PORT" =~ ^[0-9]+$ && "$KINE_PORT" =~ ^[0-9]+$ && "$API_PORT" != "$KINE_PORT" ]] || die "bad ports: api=$API_PORT kine=$KINE_PORT"
  printf 'API_PORT=%s\nKINE_PORT=%s\n' "$API_PORT" "$KINE_PORT" >"$STATE/ports"
  write_kubeconfig "$API_PORT"
  FAILED="" FAILED_LOG=""
  if start_kine && start_apiserver; then
    log "ready on https://127.0.0.1:$API_PORT (state: $STATE)"
    printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
    exit 0
  fi
  "$HERE/down.sh" >/dev/null 2>&1 || true
  if [[ -z "${CLUSTER_API_PORT:-}${CLUSTER_KINE_PORT:-}" ]] && (( attempt < 3 )) &&
    grep -q "address already in use" "$STATE/logs/$FAILED_LOG.log" 2>/dev/null; then
    log "$FAILED: port taken meanwhile, retrying with other ports"
    continue
  fi
  break
done
log "$FAILED"
tail -n 25 "$STATE/logs/$FAILED_LOG.log" >&2 || true
exit 1
