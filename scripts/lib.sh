# What the benchmarks of a seeded demo tenant share (sourced, from the
# repository's root): a fresh database, the server's environment, a
# throw-away staff password, the seed, and the release server.
#
#   bench_database BACKEND NAME  sets `db` and `query SQL` (psql or sqlite3),
#                                NAME created afresh on PostgreSQL
#                                (BENCH_POSTGRES_URL, default the local
#                                server) and left for a look
#   bench_env PORT               exports the server's environment
#   bench_seed ARGS…             `demo seed` with ARGS and the password file;
#                                prints how long it took
#   bench_serve                  starts the release server, waits until ready
#
# `work` (a temporary directory) and the server are cleaned up on exit.

work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

bench_database() {
  local backend=$1 name=$2
  case "$backend" in
    sqlite)
      db="sqlite:$work/bench.db"
      query() { sqlite3 "$work/bench.db" "$1"; } ;;
    postgres)
      local admin=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
      psql "$admin" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
      local base=${admin%%\?*}
      local params=${admin#"$base"}
      db="${base%/*}/$name$params"
      query() { psql "$db" -Atqc "$1"; } ;;
    *) echo "usage: $0 postgres|sqlite [rounds] [concurrency]" >&2; exit 2 ;;
  esac
}

bench_env() {
  export DATABASE_URL=$db UIC_SALT=bench-salt-0123456789abcdef \
    SECRET_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
    HOST=127.0.0.1 PORT=$1 LOG_LEVEL=warn
  # A throw-away password for this database only, never printed.
  password_file=$work/password
  (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$password_file")
}

bench_seed() {
  local start
  start=$(date +%s.%N)
  ./target/release/uic-inbox demo seed "$@" --password-file "$password_file" > "$work/seed.out"
  seed_seconds=$(printf '%.1f' "$(echo "$(date +%s.%N) - $start" | bc)")
}

bench_serve() {
  ./target/release/uic-inbox serve &
  server=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
}
