#!/usr/bin/env bash
# DHIS-2 worker throughput: the running server's sync worker against the
# fake DHIS-2 of the tests answering every call after BENCH_LATENCY_MS
# (default 100 ms). BENCH_REGISTRATIONS registrations (default 2000) are
# queued while the fake is down, then it comes back and the time until all
# are synced is measured (exactly one record each is checked).
# Usage: scripts/bench-dhis2.sh postgres|sqlite [instances]
# PostgreSQL: TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_BACKEND=${1:-postgres} BENCH_INSTANCES=${2:-1}
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
cargo test --release --test it -q -- --ignored --nocapture --exact \
  dhis2_bench::bench_dhis2_worker_throughput 2>&1 | grep '^BENCH'
