# Helpers shared by up.sh and down.sh (sourced, not run). Expects STATE to be set.

# True when the PID file names a live process whose program is $2. Checking the program name,
# not only the PID, means a stale PID file whose number the kernel has since given to another
# process is treated as dead, and that process is never signalled.
pid_alive() { # $1 = PID file, $2 = expected program name
  local pid argv0
  [[ -f "$1" ]] || return 1
  pid="$(<"$1")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  argv0="$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n 1)"
  [[ "${argv0##*/}" == "$2" ]]
}

cluster_alive() { # $1 = state dir
  pid_alive "$1/kine.pid" kine && pid_alive "$1/kube-apiserver.pid" kube-apiserver
}

# /readyz answered "ok" over TLS verified against our CA, as the admin user.
api_ready() { # $1 = API port
  local pki="$STATE/pki"
  [[ "$(curl --silent --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$1/readyz" 2>/dev/null)" == "ok" ]]
}

# True when <state>/cluster-dev.pid names a live `node … cluster-dev` (scripts/cluster/dev-up.sh).
# The program name alone (node) would match any Node process a recycled PID now belongs to, so
# its arguments must also name the subcommand and this state dir.
dev_alive() { # $1 = state dir
  local pidfile="$1/cluster-dev.pid" args
  pid_alive "$pidfile" node || return 1
  args="$(tr '\0' ' ' <"/proc/$(<"$pidfile")/cmdline" 2>/dev/null)"
  [[ "$args" == *" cluster-dev "* && "$args" == *" --state-dir $1 "* ]]
}
