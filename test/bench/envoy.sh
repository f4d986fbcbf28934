#!/usr/bin/env bash
# Envoy benchmark (fortio at a fixed rate): Envoy + ext_authz → fhirgate vs Envoy alone, same
# generated bootstrap, same FHIR upstream, interleaved. See envoy.ts. Results: $BENCH_OUT/envoy*.raw.
#   ENVOY_BIN (pinned build)  BENCH_ROUNDS (2)  BENCH_QPS (500)  BENCH_SECONDS (20)  BENCH_CONNECTIONS (8)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
: "${ENVOY_BIN:=$(scripts/tools.sh envoy)/envoy}"
export ENVOY_BIN
OUT="${BENCH_OUT:-test/bench/results}"
mkdir -p "$OUT"
bounded 1800 node test/bench/envoy.ts --out "$OUT" \
  --rounds "${BENCH_ROUNDS:-2}" \
  --qps "${BENCH_QPS:-500}" \
  --seconds "${BENCH_SECONDS:-20}" \
  --connections "${BENCH_CONNECTIONS:-8}"
