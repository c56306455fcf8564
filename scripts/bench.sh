#!/usr/bin/env bash
# Load benchmark: starts a release server on a fresh database and drives it
# with the loadgen binary. Usage: scripts/bench.sh sqlite|postgres [phones] [seconds] [twilio|sandbox|meta]
# meta: replies go out through the outbox to a stand-in Graph API that
# answers after GRAPH_DELAY_MS (default 2000) milliseconds.
# RATE=200: send 200 messages/s in all instead of as fast as answered.
# SLOW_MS=25: print every request slower than 25 ms, with when it was sent.
# SSE=200: hold 200 staff connections to the live stream open meanwhile and
# time a probe's events (loadgen --sse); SETUP=1 creates the staff member
# they use (`uic-inbox admin create`, its one-time link given to loadgen).
# SSE=0 SETUP=1: the same probe, no stream (the figure to compare with).
# SSE_APART=1: the streams and the probe in a second loadgen process (no
# phones), so that reading the streams does not share the webhook load's
# process: tells the server's share of a difference from the load generator's.
# LOG_LEVEL=info: the server logs as in production (default warn).
# BUILD=0: use the release binaries as they are.
# SERVER=path: the server binary to measure (default target/release/uic-inbox;
# another commit's build, to compare with the same load generator).
# PostgreSQL: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres);
# a database uic_bench is created afresh there.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-sqlite}; phones=${2:-32}; seconds=${3:-20}; channel=${4:-twilio}
port=${BENCH_PORT:-18080}
server_bin=${SERVER:-./target/release/uic-inbox}
if [ "${BUILD:-1}" != 0 ]; then cargo build --release --bins -q; fi
work=$(mktemp -d)
stub=""
server=""
trap 'kill "$server" $stub 2>/dev/null || true; rm -rf "$work"' EXIT
case "$backend" in
  sqlite) db="sqlite:$work/bench.db" ;;
  postgres)
    admin=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
    psql "$admin" -qc "DROP DATABASE IF EXISTS uic_bench" -c "CREATE DATABASE uic_bench"
    # Start every run from a clean slate: no checkpoint of earlier work under way.
    psql "$admin" -qc "CHECKPOINT"
    base=${admin%%\?*}; query=${admin#"$base"}
    db="${base%/*}/uic_bench$query" ;;
  *) echo "usage: $0 sqlite|postgres [phones] [seconds] [twilio|sandbox]" >&2; exit 2 ;;
esac
meta_env=()
if [ "$channel" = meta ]; then
  graph_port=$((port + 10))
  ./target/release/loadgen --graph-stub-port "$graph_port" --graph-delay-ms "${GRAPH_DELAY_MS:-2000}" &
  stub=$!
  meta_env=(META_ACCESS_TOKEN=loadgen-token META_PHONE_NUMBER_ID=106540352242922
    META_WEBHOOK_VERIFY_TOKEN=loadgen-verify META_APP_SECRET=loadgen_app_secret
    META_GRAPH_URL="http://127.0.0.1:$graph_port")
fi
server_env=("${meta_env[@]}" HOST=127.0.0.1 PORT=$port DATABASE_URL=$db UIC_SALT=bench-salt-0123456789abcdef SECRET_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff LOG_LEVEL=${LOG_LEVEL:-warn}
  TWILIO_ACCOUNT_SID=ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx TWILIO_AUTH_TOKEN=loadgen_auth_token
  TWILIO_WHATSAPP_NUMBER=whatsapp:+14155238886)
live_args=()
if [ "${SETUP:-0}" = 1 ]; then
  # The link is a one-time secret for this throw-away database: passed on, not printed.
  link=$(env "${server_env[@]}" "$server_bin" admin create | grep -o 'http[^ ]*/setup/[^ ]*' | tail -n1)
  [ -n "$link" ] || { echo "admin create printed no setup link" >&2; exit 1; }
  live_args+=(--setup-link "$link")
fi
if [ -n "${SSE:-}" ]; then live_args+=(--sse "$SSE"); fi
env "${server_env[@]}" "$server_bin" serve &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
echo "backend        $backend"
load_args=(--url "http://127.0.0.1:$port" --seconds "$seconds" --channel "$channel" --server-pid "$server")
if [ "${SSE_APART:-0}" = 1 ] && [ ${#live_args[@]} -gt 0 ]; then
  # The streams' process starts first; the load starts once it says its
  # streams are open, and both measure for as long (give or take the few
  # milliseconds between them).
  ./target/release/loadgen "${load_args[@]}" --phones 0 "${live_args[@]}" > "$work/live.out" &
  live=$!
  for _ in $(seq 1 600); do grep -q '^live ready' "$work/live.out" && break; sleep 0.05; done
  live_args=()
fi
./target/release/loadgen "${load_args[@]}" --phones "$phones" \
  ${RATE:+--rate "$RATE"} ${SLOW_MS:+--slow-ms "$SLOW_MS"} "${live_args[@]}"
if [ -n "${live:-}" ]; then
  wait "$live" || status=$?
  echo "--- streams, in a second loadgen process"
  grep -E '^(cpu|live|probe)' "$work/live.out"
  exit "${status:-0}"
fi
