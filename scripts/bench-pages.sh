#!/usr/bin/env bash
# Staff pages benchmark: builds the release binaries, seeds a fresh database
# with `uic-inbox demo seed` (100,000 conversations and 1,000,000 messages
# unless CONVERSATIONS / MESSAGES say otherwise), starts the server, logs in
# as the demo tenant's supervisor, then as an agent of two programmes
# (BENCH_USERS="superviseur agent.kinshasa2" by default), and times the
# conversations pages with `loadgen --pages` (count, p50, p95, p99, max per
# kind of page).
# Usage: scripts/bench-pages.sh postgres|sqlite [rounds] [concurrency]
# PostgreSQL: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres);
# a database uic_bench_pages is created afresh there (and left for a look).
# KEEP=1 leaves the server running at the end (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-postgres}; rounds=${2:-200}; concurrency=${3:-4}
port=${BENCH_PORT:-18090}
conversations=${CONVERSATIONS:-100000}; messages=${MESSAGES:-1000000}
cargo build --release --bins -q
. scripts/lib.sh
bench_database "$backend" uic_bench_pages
bench_env "$port"
echo "backend        $backend"
bench_seed --conversations "$conversations" --messages "$messages"
echo "seed           $conversations conversations, $messages messages in $seed_seconds s"
grep -E "^(Demo tenant|Organisation)" "$work/seed.out" || true
bench_serve
account=$(query "SELECT id FROM whatsapp_accounts WHERE slug = 'demo-depistage-kinshasa'")
uic=$(query "SELECT r.uic FROM uic_registrations r JOIN tenants t ON t.id = r.tenant_id WHERE t.slug = 'demo' ORDER BY r.last_seen_at DESC LIMIT 1")
phone=$(query "SELECT c.phone FROM contacts c JOIN tenants t ON t.id = c.tenant_id WHERE t.slug = 'demo' ORDER BY c.id DESC LIMIT 1")
# The supervisor sees every account; an agent of two accounts gets the
# scoped queries (and masked numbers).
status=0
# Only the supervisor may search by phone number (contacts.view): the
# agent's search by number is refused (403), so it is not timed for them.
for user in ${BENCH_USERS:-superviseur agent.kinshasa2}; do
  by_phone=(); [ "$user" = superviseur ] && by_phone=(--phone "$phone")
  ./target/release/loadgen --pages --url "http://127.0.0.1:$port" --email "$user@demo.example.org" \
    --password-file "$password_file" --rounds "$rounds" --concurrency "$concurrency" \
    --account "$account" --uic "$uic" "${by_phone[@]}" || status=1
done
if [ "${KEEP:-0}" = 1 ]; then wait "$server"; fi
exit $status
