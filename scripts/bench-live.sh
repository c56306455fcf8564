#!/usr/bin/env bash
# Live updates under load (issue 12, "Scale"): the webhooks at RATE messages/s
# (default 1000) with no live stream open, then with SSE staff connections
# (default 200) to GET /live, alternating A, B, A, B... (ROUNDS pairs,
# default 2) on a fresh database each, to damp this machine's noise. Both
# runs have the same load and the same probe (one more phone sending every
# 250 ms); only the streams differ. Prints each run's figures, then the
# webhook p99 of both sides and the probe's delivery latency.
# Usage: scripts/bench-live.sh postgres|sqlite [seconds]
# PostgreSQL: BENCH_POSTGRES_URL as for scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-postgres}; seconds=${2:-25}
phones=${PHONES:-32}; rate=${RATE:-1000}; streams=${SSE:-200}; rounds=${ROUNDS:-2}
case "$backend" in
  sqlite|postgres) ;;
  *) echo "usage: $0 postgres|sqlite [seconds]" >&2; exit 2 ;;
esac
cargo build --release --bins -q
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq 1 "$rounds"); do
  for side in A B; do
    n=0; [ "$side" = B ] && n=$streams
    echo "=== round $round, $side: $rate messages/s, $n live streams"
    BUILD=0 RATE=$rate SETUP=1 SSE=$n scripts/bench.sh "$backend" "$phones" "$seconds" twilio \
      | tee "$out/$side.$round"
    sleep 2
  done
done
# A field of one output: the number after "label" (e.g. "latency p99").
field() { awk -v l="$2" 'index($0, l) == 1 { sub(l, ""); print $1 + 0; exit }' "$1"; }
echo
echo "=== summary ($backend, $phones phones at $rate messages/s, $seconds s each)"
for side in A B; do
  p99s=(); for f in "$out/$side".*; do p99s+=("$(field "$f" "latency p99")"); done
  mean=$(printf '%s\n' "${p99s[@]}" | awk '{ s += $1 } END { printf "%.2f", s / NR }')
  label="no stream"; [ "$side" = B ] && label="$streams streams"
  printf '%s (%s): webhook p99 %s ms, mean %s ms\n' "$side" "$label" "${p99s[*]}" "$mean"
  eval "mean_$side=$mean"
done
# shellcheck disable=SC2154
awk -v a="$mean_A" -v b="$mean_B" 'BEGIN { printf "B against A: %+.1f %% (the issue allows +10 %%)\n", (b / a - 1) * 100 }'
for f in "$out"/B.*; do
  grep -h "^probe latency" "$f" || echo "probe latency: none ($f)"
done
