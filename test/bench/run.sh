#!/usr/bin/env bash
# `make bench`: build/verify the load tools, run the Check and Envoy benchmarks one after the
# other (never concurrently: they would measure each other), then write and print
# test/bench/results/latest.md. Raw outputs (*.raw) are git-ignored; latest.md may be committed.
# Everything listens on 127.0.0.1; every run is time-bounded; every process is stopped at exit.
#   BENCH_SKIP_CHECK=1 / BENCH_SKIP_ENVOY=1 skip a part; see check.sh and envoy.sh for the knobs.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
export BENCH_OUT="${BENCH_OUT:-test/bench/results}"
mkdir -p "$BENCH_OUT"
# Load average before anything of ours runs: the context every figure below must be read in.
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench: load average at start: $LOAD_START (nproc $(nproc))" >&2

: "${ENVOY_BIN:=$(scripts/tools.sh envoy)/envoy}"
GHZ_BIN="$(scripts/go-tools.sh ghz)"
FORTIO_BIN="$(scripts/go-tools.sh fortio)"
export ENVOY_BIN GHZ_BIN FORTIO_BIN

# The harness's own unit tests (parsers, summaries) — cheap, and a broken parser would print
# confident nonsense.
bounded 300 node --test "test/unit/bench/*.test.ts" >&2

rm -f "$BENCH_OUT"/*.raw
status=0
if [[ "${BENCH_SKIP_CHECK:-0}" != 1 ]]; then
  test/bench/check.sh || { status=$?; echo "bench: check benchmark failed ($status)" >&2; }
fi
if [[ "${BENCH_SKIP_ENVOY:-0}" != 1 ]]; then
  test/bench/envoy.sh || { status=$?; echo "bench: envoy benchmark failed ($status)" >&2; }
fi
bounded 120 node test/bench/report.ts --dir "$BENCH_OUT" --load-start "$LOAD_START" --envoy-bin "$ENVOY_BIN"
exit "$status"
