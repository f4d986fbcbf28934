#!/usr/bin/env bash
# Check benchmark (ghz → Authorization/Check): no-op handler vs fhirgate-authz cached / uncached,
# plus jose's raw RS256 verify rate. See check.ts for the method. Results: $BENCH_OUT/check*.raw.
#   BENCH_ROUNDS (2)  BENCH_TOKENS (20000)  BENCH_CACHED_CALLS (30000)  BENCH_FIXED_CALLS (5000)  BENCH_RPS (500)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
OUT="${BENCH_OUT:-test/bench/results}"
mkdir -p "$OUT"
bounded 1800 node test/bench/check.ts --out "$OUT" \
  --rounds "${BENCH_ROUNDS:-2}" \
  --tokens "${BENCH_TOKENS:-20000}" \
  --cached-calls "${BENCH_CACHED_CALLS:-30000}" \
  --fixed-calls "${BENCH_FIXED_CALLS:-5000}" \
  --rps "${BENCH_RPS:-500}"
