#!/usr/bin/env bash
# DHIS-2 page benchmark (issue 14): seeds a fresh database with
# `uic-inbox demo seed --registrations 1000000` (the default 100,000
# conversations and 1,000,000 messages, then codes up to REGISTRATIONS,
# each with its DHIS-2 sync job), starts the server, logs in as the demo
# tenant's supervisor (every number) and times `GET /dhis2` and
# `GET /dhis2?part=status` with `loadgen --pages --dhis2` (count, p50, p95,
# p99, max), then prints the jobs by state and the query plans of what the
# page reads.
# Usage: scripts/bench-dhis2-page.sh postgres|sqlite [rounds] [concurrency]
# PostgreSQL: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres);
# a database uic_bench_dhis2 is created afresh there (and left for a look).
# BUILD=0 skips the release build; KEEP=1 leaves the server running at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-postgres}; rounds=${2:-500}; concurrency=${3:-4}
port=${BENCH_PORT:-18091}
conversations=${CONVERSATIONS:-100000}; messages=${MESSAGES:-1000000}
registrations=${REGISTRATIONS:-1000000}
users=${BENCH_USERS:-superviseur}
if [ "${BUILD:-1}" != 0 ]; then cargo build --release --bins -q; fi
. scripts/lib.sh
bench_database "$backend" uic_bench_dhis2
bench_env "$port"
echo "backend        $backend"
bench_seed --conversations "$conversations" --messages "$messages" --registrations "$registrations"
echo "seed           $conversations conversations, $messages messages, $registrations codes in $seed_seconds s"
echo "jobs by state  $(query "SELECT state || ' ' || COUNT(*) FROM dhis2_sync GROUP BY state ORDER BY state" | tr '\n' ' ')"
echo "counts table   $(query "SELECT SUM(synced) FROM dhis2_counts") synced"
# SQLite: the seed's gigabyte is still in the WAL; the server's first
# checkpoints would run during the measurement (and every read looks its
# pages up in a huge WAL index meanwhile). Measure the settled database.
if [ "$backend" = sqlite ]; then query "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null; fi
bench_serve
status=0
for user in $users; do
  ./target/release/loadgen --pages --dhis2 --url "http://127.0.0.1:$port" --email "$user@demo.example.org" \
    --password-file "$password_file" --rounds "$rounds" --concurrency "$concurrency" || status=1
done
# What the page reads, as the supervisor's access asks it (whole tenant).
tenant=$(query "SELECT id FROM tenants WHERE slug = 'demo'")
if [ "$backend" = postgres ]; then
  explain() { psql "$db" -qc "PREPARE q AS $1" -c "EXPLAIN (ANALYZE, BUFFERS) EXECUTE q($2)" -c "DEALLOCATE q"; }
  explain "SELECT account_id, state, COUNT(*), MIN(created_at) FROM dhis2_sync
    WHERE tenant_id = \$1 AND state <> 'synced' GROUP BY account_id, state" "$tenant"
  for state in failed held; do
    explain "SELECT s.id, s.account_id, a.name, s.registration_id, r.uic, s.state, s.attempts, s.error_code,
      s.error_message, s.tracked_entity, s.linked, s.created_at, s.updated_at
      FROM dhis2_sync s JOIN whatsapp_accounts a ON a.id = s.account_id
      JOIN uic_registrations r ON r.id = s.registration_id
      WHERE s.tenant_id = \$1 AND s.state = \$2 AND s.state <> 'synced' ORDER BY s.updated_at DESC, s.id DESC LIMIT \$3" "$tenant, '$state', 100"
  done
else
  query "EXPLAIN QUERY PLAN SELECT account_id, state, COUNT(*), MIN(created_at) FROM dhis2_sync
    WHERE tenant_id = $tenant AND state <> 'synced' GROUP BY account_id, state"
  query "EXPLAIN QUERY PLAN SELECT s.id FROM dhis2_sync s JOIN whatsapp_accounts a ON a.id = s.account_id
    JOIN uic_registrations r ON r.id = s.registration_id
    WHERE s.tenant_id = $tenant AND s.state = 'failed' AND s.state <> 'synced' ORDER BY s.updated_at DESC, s.id DESC LIMIT 100"
fi
if [ "${KEEP:-0}" = 1 ]; then wait "$server"; fi
exit $status
