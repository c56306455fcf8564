#!/usr/bin/env bash
# Reports page benchmark (issue 15): seeds a fresh database with
# `uic-inbox demo seed` (100,000 conversations and 1,000,000 messages over
# a year unless CONVERSATIONS / MESSAGES say otherwise; its runs of
# questions in flow_runs), starts the server, logs in as the demo tenant's
# supervisor and times, with `loadgen --pages --get` (count, p50, p95, p99,
# max), the reports page over the last year for every number and for one
# number (the biggest programme's). Then, on PostgreSQL, the query plans
# (EXPLAIN ANALYZE) of what `report::figures` reads, as it writes them.
# Usage: scripts/bench-reports.sh postgres|sqlite [rounds] [concurrency]
# PostgreSQL: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres);
# a database uic_bench_reports is created afresh there (and left for a look).
# BUILD=0 skips the release build; KEEP=1 leaves the server running at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-postgres}; rounds=${2:-300}; concurrency=${3:-4}
conversations=${CONVERSATIONS:-100000}; messages=${MESSAGES:-1000000}
if [ "${BUILD:-1}" != 0 ]; then cargo build --release --bins -q; fi
. scripts/lib.sh
bench_database "$backend" uic_bench_reports
bench_env "${BENCH_PORT:-18092}"
echo "backend        $backend"
bench_seed --conversations "$conversations" --messages "$messages"
echo "seed           $conversations conversations, $messages messages in $seed_seconds s"
grep -E "^Runs of questions" "$work/seed.out" || true
echo "flow_runs      $(query "SELECT outcome || ' ' || COUNT(*) FROM flow_runs GROUP BY outcome ORDER BY outcome" | tr '\n' ' ')"
if [ "$backend" = sqlite ]; then query "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null; fi
bench_serve
tenant=$(query "SELECT id FROM tenants WHERE slug = 'demo'")
account=$(query "SELECT id FROM whatsapp_accounts WHERE slug = 'demo-depistage-kinshasa'")
to=$(date -u +%F); from=$(date -u -d "$to - 365 days" +%F)
status=0
./target/release/loadgen --pages --url "http://127.0.0.1:$PORT" --email "superviseur@demo.example.org" \
  --password-file "$password_file" --rounds "$rounds" --concurrency "$concurrency" \
  --get "/reports?from=$from&to=$to" --get "/reports?from=$from&to=$to&account=$account" || status=1
if [ "$backend" = postgres ]; then
  # The report's numbers: every one of the tenant but the sandbox.
  numbers=$(query "SELECT string_agg(id::text, ', ' ORDER BY id) FROM whatsapp_accounts
    WHERE tenant_id = $tenant AND provider <> 'sandbox'")
  explain() { echo "-- $1"; psql "$db" -qc "EXPLAIN (ANALYZE, BUFFERS) $2"; }
  sums=""
  for q in 1 2 3 4 5; do
    sums="$sums, SUM(CASE WHEN reached >= $q AND NOT resumed THEN 1 ELSE 0 END),
      SUM(CASE WHEN outcome = 'left' AND question = $q THEN 1 ELSE 0 END),
      SUM(CASE WHEN outcome = 'escalated' AND question = $q THEN 1 ELSE 0 END), SUM(invalid_$q)"
  done
  explain "funnel" "SELECT account_id, SUM(CASE WHEN resumed THEN 0 ELSE 1 END), SUM(CASE WHEN resumed THEN 1 ELSE 0 END),
      SUM(CASE WHEN outcome = 'completed' THEN 1 ELSE 0 END), SUM(CASE WHEN outcome = 'escalated' THEN 1 ELSE 0 END),
      SUM(CASE WHEN outcome = 'left' THEN 1 ELSE 0 END), SUM(restarts)$sums
    FROM flow_runs WHERE NOT test_data AND started_at >= '$from'::timestamptz AND started_at < ('$to'::date + 1)::timestamptz
      AND account_id IN ($numbers) GROUP BY account_id"
  explain "completion times" "SELECT account_id, CAST(EXTRACT(EPOCH FROM (ended_at - started_at)) AS DOUBLE PRECISION)
    FROM flow_runs WHERE NOT test_data AND started_at >= '$from'::timestamptz AND started_at < ('$to'::date + 1)::timestamptz
      AND outcome = 'completed' AND NOT resumed AND account_id IN ($numbers)"
  explain "escalations" "SELECT account_id, escalation_reason,
      CASE WHEN first_reply_at IS NULL THEN NULL ELSE CAST(EXTRACT(EPOCH FROM (first_reply_at - ended_at)) AS DOUBLE PRECISION) END
    FROM flow_runs WHERE NOT test_data AND outcome = 'escalated' AND ended_at >= '$from'::timestamptz
      AND ended_at < ('$to'::date + 1)::timestamptz AND account_id IN ($numbers)"
  explain "new codes" "SELECT to_char(first_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, first_account_id, COUNT(*)
    FROM uic_registrations WHERE tenant_id = $tenant AND NOT test_data AND first_seen_at >= '$from'::timestamptz
      AND first_seen_at < ('$to'::date + 1)::timestamptz AND first_account_id IN ($numbers)
    GROUP BY day, first_account_id ORDER BY day, first_account_id"
  explain "queue" "SELECT c.account_id, c.mode, COUNT(*), MIN(c.escalated_at), u.display_name
    FROM conversations c LEFT JOIN users u ON u.id = c.taken_by AND c.mode = 'human'
    WHERE c.tenant_id = $tenant AND c.mode IN ('waiting', 'human') AND c.account_id IN ($numbers)
    GROUP BY c.account_id, c.mode, u.display_name"
fi
if [ "${KEEP:-0}" = 1 ]; then wait "$server"; fi
exit $status
