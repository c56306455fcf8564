#!/usr/bin/env bash
# Soak run (issue 16; documented, not in CI): MINUTES (default 30) of mixed
# load on one release server, then whether its memory stayed flat and
# whether it logged any error. At once, for the whole time:
#   - people on the Twilio number going through full conversations, TWILIO_RATE
#     messages a second in all (default 40), TWILIO_PHONES phones (default 40);
#   - people on a Meta number, META_RATE (default 12) over META_PHONES (20):
#     the replies go out through the outbox to a stand-in Graph API answering
#     after GRAPH_DELAY_MS (default 300), at most 20 a second (a number's
#     default pace: more messages than that and the backlog grows, as it
#     should);
#   - SSE (default 20) staff connections to the live stream, with a probe;
#   - the demo supervisor reading the staff pages in rounds (the
#     conversations lists and conversations, then the reports page);
# and every minute the server's resident memory, CPU time and open files.
# The DHIS-2 worker is left unconfigured (its throughput has its own
# benchmark, scripts/bench-dhis2.sh).
#
# Usage: scripts/soak.sh [postgres|sqlite]
# Output: SOAK_OUT (default target/soak): samples.tsv, each load's figures,
# the server's log. BUILD=0 uses the release binaries as they are.
# PostgreSQL: BENCH_POSTGRES_URL (default the local server); a database
# uic_soak is created afresh there.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-postgres}
minutes=${MINUTES:-30}
seconds=$((minutes * 60))
out=${SOAK_OUT:-target/soak}
if [ "${BUILD:-1}" != 0 ]; then cargo build --release --bins -q; fi
. scripts/lib.sh
bench_database "$backend" uic_soak
port=${BENCH_PORT:-18095}
bench_env "$port"
export LOG_LEVEL=info LOG_FORMAT=json
graph_port=$((port + 10))
export TWILIO_ACCOUNT_SID=ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx TWILIO_AUTH_TOKEN=loadgen_auth_token \
  TWILIO_WHATSAPP_NUMBER=whatsapp:+14155238886 \
  META_ACCESS_TOKEN=loadgen-token META_PHONE_NUMBER_ID=106540352242922 \
  META_WEBHOOK_VERIFY_TOKEN=loadgen-verify META_APP_SECRET=loadgen_app_secret \
  META_GRAPH_URL="http://127.0.0.1:$graph_port"
mkdir -p "$out"
rm -f "$out"/*.out "$out"/samples.tsv "$out"/server.log

# Staff pages to read: a small demo tenant (its supervisor logs in).
bench_seed --conversations 5000 --messages 50000
./target/release/loadgen --graph-stub-port "$graph_port" --graph-delay-ms "${GRAPH_DELAY_MS:-300}" \
  2> "$out/graph.out" &
stub=$!
./target/release/uic-inbox serve > "$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" "$stub" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port"
staff=(--email superviseur@demo.example.org --password-file "$password_file")
echo "backend        $backend, $minutes minutes"

# The streams' staff member: an administrator of the organisation of the
# Twilio number, made through its one-time link (passed on, never printed).
link=$(./target/release/uic-inbox admin create | grep -o 'http[^ ]*/setup/[^ ]*' | tail -n1)
[ -n "$link" ] || { echo "admin create printed no setup link" >&2; exit 1; }
./target/release/loadgen --url "$url" --channel twilio --seconds "$seconds" --server-pid "$server" \
  --phones "${TWILIO_PHONES:-40}" --rate "${TWILIO_RATE:-40}" --phone-offset 0 \
  --sse "${SSE:-20}" --setup-link "$link" > "$out/twilio.out" 2>&1 &
twilio=$!
./target/release/loadgen --url "$url" --channel meta --seconds "$seconds" \
  --phones "${META_PHONES:-20}" --rate "${META_RATE:-12}" --phone-offset 500000 > "$out/meta.out" 2>&1 &
meta=$!
# The pages, in rounds until the time is up.
(
  end=$((SECONDS + seconds))
  while [ "$SECONDS" -lt "$end" ]; do
    ./target/release/loadgen --pages --url "$url" "${staff[@]}" --rounds 20 --concurrency 2
    to=$(date -u +%F); from=$(date -u -d "$to - 90 days" +%F)
    ./target/release/loadgen --pages --url "$url" "${staff[@]}" --rounds 20 --concurrency 2 \
      --get "/reports?from=$from&to=$to"
  done
) > "$out/pages.out" 2>&1 &
pages=$!

printf 'minute\trss_kb\tcpu_s\topen_files\toutbox_waiting\n' > "$out/samples.tsv"
tick=$(getconf CLK_TCK)
for m in $(seq 0 "$minutes"); do
  if ! kill -0 "$server" 2>/dev/null; then echo "the server stopped" >&2; exit 1; fi
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$server/status")
  cpu=$(awk -v t="$tick" '{printf "%.0f", ($14 + $15) / t}' "/proc/$server/stat")
  files=$(find "/proc/$server/fd" -mindepth 1 2>/dev/null | wc -l)
  waiting=$(query "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')")
  printf '%s\t%s\t%s\t%s\t%s\n' "$m" "$rss" "$cpu" "$files" "$waiting" | tee -a "$out/samples.tsv"
  [ "$m" -lt "$minutes" ] && sleep 60
done
status=0
wait "$twilio" || status=1
wait "$meta" || status=1
wait "$pages" || status=1

echo "--- twilio";  grep -E '^(messages|conversations/s|latency|live|probe)' "$out/twilio.out" || true
echo "--- meta";    grep -E '^(messages|conversations/s|latency)' "$out/meta.out" || true
echo "--- pages"
awk '$1 ~ /^\// { kind = ($1 ~ /^\/reports/) ? "reports" : ($1 ~ /\{id\}/ ? "a conversation" : "conversation lists");
    n[kind] += $(NF-5); e[kind] += $(NF-4); if ($(NF-1) > p99[kind]) p99[kind] = $(NF-1) }
  END { for (k in n) printf "%-20s %d requests, %d errors, worst p99 of a round %.1f ms\n", k, n[k], e[k], p99[k] }' \
  "$out/pages.out"
echo "--- graph stub: $(tail -n1 "$out/graph.out")"
echo "--- outbox";  query "SELECT status || ' ' || COUNT(*) FROM outbox GROUP BY status ORDER BY status" | tr '\n' ' '; echo
echo "--- server log lines by level"
grep -o '"level":"[A-Z]*"' "$out/server.log" | sort | uniq -c || true
if grep -q '"level":"ERROR"' "$out/server.log"; then
  echo "errors logged:"; grep '"level":"ERROR"' "$out/server.log" | head -20
  status=1
fi
exit $status
