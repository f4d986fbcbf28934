# Shared shell setup for the benchmark scripts (sourced, not run): repo root, pinned Node on PATH,
# and `bounded` — run one driver in the background under a hard timeout so the caller's trap can
# stop it (the drivers themselves kill every server they started when they exit).
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
export PATH="$(scripts/tools.sh node):$PWD/node_modules/.bin:$PATH"

BENCH_CHILD=""
bench_cleanup() {
  if [[ -n "$BENCH_CHILD" ]] && kill -0 "$BENCH_CHILD" 2>/dev/null; then
    kill -TERM "$BENCH_CHILD" 2>/dev/null || true
    wait "$BENCH_CHILD" 2>/dev/null || true
  fi
  BENCH_CHILD=""
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM HUP

# bounded SECONDS CMD ARGS… — returns the command's exit status; SIGTERM after SECONDS, SIGKILL 30 s later.
bounded() {
  local limit="$1"; shift
  timeout --signal=TERM --kill-after=30 "$limit" "$@" &
  BENCH_CHILD=$!
  local rc=0
  wait "$BENCH_CHILD" || rc=$?
  BENCH_CHILD=""
  return "$rc"
}
