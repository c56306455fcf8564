#!/usr/bin/env bash
# Reports page benchmark (issue 15): seeds a fresh database with
# `uic-inbox demo seed` (100,000 conversations and 1,000,000 messages over
# a year unless CONVERSATIONS / MESSAGES say otherwise; its runs of
# questions in flow_runs), starts the server, logs in as the demo tenant's
# supervisor and times, with `loadgen --pages --get` (count, p50, p95, p99,
# max), the reports page over the last year for every number and for one
# number (the biggest programme's). Then, on PostgreSQL, the query plans
# (EXPLAIN ANALYZE) of what `report::figures` reads: the figures added up
# per day (`report::days`), the rows not added up yet, the queue.
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
  explain "days" "SELECT account_id, day, figures FROM report_days
    WHERE tenant_id = $tenant AND day >= '$from'::date AND day <= '$to'::date AND account_id IN ($numbers)"
  explain "runs not added up yet" "SELECT * FROM flow_runs WHERE tenant_id = $tenant AND NOT rolled AND account_id IN ($numbers)"
  explain "codes not added up yet" "SELECT tenant_id, first_account_id, test_data, first_seen_at FROM uic_registrations
    WHERE tenant_id = $tenant AND NOT rolled AND first_account_id IN ($numbers)"
  echo "report_days    $(query "SELECT COUNT(*) || ' rows, ' || pg_size_pretty(pg_total_relation_size('report_days')) FROM report_days")"
  explain "queue" "SELECT c.account_id, c.mode, COUNT(*), MIN(c.escalated_at), u.display_name
    FROM conversations c LEFT JOIN users u ON u.id = c.taken_by AND c.mode = 'human'
    WHERE c.tenant_id = $tenant AND c.mode IN ('waiting', 'human') AND c.account_id IN ($numbers)
    GROUP BY c.account_id, c.mode, u.display_name"
fi
if [ "${KEEP:-0}" = 1 ]; then wait "$server"; fi
exit $status
