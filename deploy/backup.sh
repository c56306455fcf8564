#!/usr/bin/env bash
# A backup of uic-inbox's database, taken while the server runs, kept with
# the newest others in one directory. deploy/BACKUP.md says how to schedule
# it and how to restore.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: deploy/backup.sh [--env-file FILE] [--keep N] [BACKUP_DIR]

Backs up the uic-inbox database named by DATABASE_URL (from the environment,
else from FILE: the .env the server reads) into BACKUP_DIR (or $BACKUP_DIR),
then deletes all but the newest N backups there (default 14, or $KEEP).

  PostgreSQL  uic-inbox-<UTC time>.dump: pg_dump --format=custom
              (restore with pg_restore --no-owner into a fresh database).
  SQLite      uic-inbox-<UTC time>.tar.gz: a consistent copy of the database
              taken while the server writes (VACUUM INTO), checked with
              PRAGMA integrity_check, with the UIC salt file and the
              secret-key files found beside the database.

A backup is written under a temporary name and renamed once complete: a file
named uic-inbox-*.dump or uic-inbox-*.tar.gz is always a whole backup.

Options:
  --env-file FILE  read DATABASE_URL (and BACKUP_DIR, KEEP) from FILE; the
                   environment wins, as it does for the server
  --keep N         how many backups to keep (at least 1)
  -h, --help       this text

Environment: DATABASE_URL, BACKUP_DIR, KEEP; PG_DUMP and PG_RESTORE (the
commands to run, default pg_dump and pg_restore: e.g. a `docker compose exec`
prefix, see deploy/BACKUP.md); SQLITE3 (default sqlite3).

A relative SQLite path is taken from the current directory, as the server
takes it from its own: run the script where the server runs.

Exit status: 0 backup written; 1 the backup failed (database unreachable,
dump or check failed, disk full); 2 wrong usage or configuration (no
DATABASE_URL, unknown database, a tool missing).
EOF
}

say() { echo "backup: $*"; }
fail() { echo "backup: error: $*" >&2; exit 1; }
misuse() { echo "backup: error: $*" >&2; echo "(deploy/backup.sh -h for help)" >&2; exit 2; }

env_file="" keep_arg="" dir_arg=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --env-file) [ $# -ge 2 ] || misuse "--env-file needs a file"; env_file=$2; shift 2 ;;
    --env-file=*) env_file=${1#*=}; shift ;;
    --keep) [ $# -ge 2 ] || misuse "--keep needs a number"; keep_arg=$2; shift 2 ;;
    --keep=*) keep_arg=${1#*=}; shift ;;
    --) shift; break ;;
    -*) misuse "unknown option $1" ;;
    *) [ -z "$dir_arg" ] || misuse "one backup directory only (got $dir_arg and $1)"; dir_arg=$1; shift ;;
  esac
done
if [ $# -gt 0 ]; then
  if [ -n "$dir_arg" ] || [ $# -gt 1 ]; then misuse "one backup directory only"; fi
  dir_arg=$1
fi

# The value of KEY in a dotenv file (KEY=value, `export KEY=value`, quoted or
# not, # comments), as the server's .env reader takes it.
env_file_value() {
  local key=$1 line value
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line#"${line%%[![:space:]]*}"}
    line=${line#export }
    case "$line" in "$key="*) ;; *) continue ;; esac
    value=${line#"$key="}
    case "$value" in
      \"*\"*) value=${value#\"}; value=${value%%\"*} ;;
      \'*\'*) value=${value#\'}; value=${value%%\'*} ;;
      *) value=${value%%[[:space:]]#*}; value=${value%"${value##*[![:space:]]}"} ;;
    esac
    printf '%s' "$value"
    return 0
  done < "$env_file"
  return 1
}

if [ -n "$env_file" ]; then
  [ -r "$env_file" ] || misuse "cannot read the env file $env_file"
  for key in DATABASE_URL BACKUP_DIR KEEP; do
    if [ -z "${!key:-}" ] && value=$(env_file_value "$key"); then
      printf -v "$key" '%s' "$value"
    fi
  done
fi

database_url=${DATABASE_URL:-}
[ -n "$database_url" ] || misuse "DATABASE_URL is not set (give it in the environment or with --env-file, the server's .env)"
backup_dir=${dir_arg:-${BACKUP_DIR:-}}
[ -n "$backup_dir" ] || misuse "no backup directory (give it as the argument or in BACKUP_DIR)"
keep=${keep_arg:-${KEEP:-14}}
case "$keep" in ''|*[!0-9]*|0) misuse "KEEP must be a whole number of backups, 1 or more (got '$keep')" ;; esac

# postgres://user:secret@host/db -> postgres://user:***@host/db: the only
# form of the URL this script ever prints.
masked() {
  local url=$1
  if [[ $url =~ ^([^:/]+://[^:@/]*):[^@/]*@(.*)$ ]]; then
    url="${BASH_REMATCH[1]}:***@${BASH_REMATCH[2]}"
  fi
  printf '%s' "$url"
}

scheme=${database_url%%:*}
[ "$scheme" != "$database_url" ] || misuse "DATABASE_URL has no scheme (expected sqlite:PATH or postgres://...), got $(masked "$database_url")"
driver=$(printf '%s' "${scheme%%+*}" | tr '[:upper:]' '[:lower:]')
case "$driver" in
  postgres|postgresql) kind=postgres ;;
  sqlite) kind=sqlite ;;
  *) misuse "DATABASE_URL: unsupported database '$driver' (use sqlite:PATH or postgres://...)" ;;
esac

mkdir -p -- "$backup_dir" || fail "cannot create the backup directory $backup_dir"
[ -w "$backup_dir" ] || fail "cannot write in the backup directory $backup_dir"
# Backups hold every message and, with SQLite, the keys: readable by their
# owner only.
umask 077

# One name per second; a second backup within the same second waits for the
# next one rather than overwrite the first.
stamp=$(date -u +%Y%m%dT%H%M%SZ)
while compgen -G "$backup_dir/uic-inbox-$stamp.*" >/dev/null; do
  sleep 1
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
done

partial=""
trap '[ -z "$partial" ] || rm -rf -- "$partial"' EXIT

# Deletes all but the newest $keep files matching uic-inbox-*.$1: the UTC
# time in the names sorts them.
rotate() {
  local ext=$1 old
  local -a all=()
  while IFS= read -r old; do all+=("$old"); done < <(
    find "$backup_dir" -maxdepth 1 -type f -name "uic-inbox-*.$ext" | LC_ALL=C sort)
  local extra=$(( ${#all[@]} - keep ))
  for old in "${all[@]:0:$(( extra > 0 ? extra : 0 ))}"; do
    rm -f -- "$old"
    say "removed the old backup $old"
  done
}

backup_postgres() {
  local url user_part password="" host_part
  read -r -a pg_dump <<< "${PG_DUMP:-pg_dump}"
  read -r -a pg_restore <<< "${PG_RESTORE:-pg_restore}"
  command -v "${pg_dump[0]}" >/dev/null || misuse "${pg_dump[0]} is not installed (Debian/Ubuntu: apt-get install postgresql-client, the server's major version or newer)"
  url="postgres:${database_url#*:}"
  # The password goes to pg_dump in PGPASSWORD, never on its command line
  # (where `ps` shows it) nor in a message.
  if [[ $url =~ ^postgres://([^:@/]*):([^@/]*)@(.*)$ ]]; then
    user_part=${BASH_REMATCH[1]} password=${BASH_REMATCH[2]} host_part=${BASH_REMATCH[3]}
    url="postgres://$user_part@$host_part"
    # Percent-decoding, as the server's URL parser does.
    password=$(printf '%b' "${password//%/\\x}")
    export PGPASSWORD=$password
  fi
  local shown
  shown=$(masked "$database_url")
  local final="$backup_dir/uic-inbox-$stamp.dump"
  partial="$backup_dir/.uic-inbox-$stamp.dump.partial"
  say "dumping $shown"
  local err
  if ! err=$(PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-15} "${pg_dump[@]}" --format=custom --dbname="$url" 2>&1 >"$partial"); then
    [ -z "$password" ] || err=${err//"$password"/***}
    fail "pg_dump of $shown failed (nothing was written): $err"
  fi
  [ -s "$partial" ] || fail "pg_dump of $shown wrote nothing"
  # A dump pg_restore cannot list would not restore either.
  if command -v "${pg_restore[0]}" >/dev/null; then
    "${pg_restore[@]}" --list < "$partial" >/dev/null 2>&1 || fail "the dump of $shown is unreadable (pg_restore --list refused it)"
  else
    say "warning: ${pg_restore[0]} not found: the dump was not checked"
  fi
  sync "$partial" 2>/dev/null || true
  mv -- "$partial" "$final"
  partial=""
  say "wrote $final ($(du -h "$final" | cut -f1))"
  rotate dump
}

backup_sqlite() {
  local sqlite3=${SQLITE3:-sqlite3}
  command -v "$sqlite3" >/dev/null || misuse "$sqlite3 is not installed (Debian/Ubuntu: apt-get install sqlite3)"
  # The same forms the server reads: sqlite:PATH, sqlite://PATH,
  # sqlite:///abs, sqlite+driver:///relative, sqlite+driver:////abs.
  local path=${database_url#*:}
  path=${path#//}
  case "$scheme" in *+*) path=${path#/} ;; esac
  path=${path%%\?*}
  if [ -z "$path" ] || [ "$path" = ":memory:" ]; then misuse "DATABASE_URL names no SQLite file"; fi
  case "$path" in /*) ;; *) path="${PWD%/}/$path" ;; esac
  # sqlite3 would create an empty database where none is: look first.
  [ -f "$path" ] || fail "no SQLite database at $path (is DATABASE_URL the server's? A relative path is read from the current directory: run this where the server runs)"
  local data_dir name
  data_dir=$(dirname "$path")
  name=$(basename "$path")

  local final="$backup_dir/uic-inbox-$stamp.tar.gz"
  partial="$backup_dir/.uic-inbox-$stamp.partial"
  mkdir -- "$partial"
  mkdir -- "$partial/files"
  say "copying $path"
  # VACUUM INTO reads the whole database in one read transaction: a
  # consistent copy while the server goes on writing (WAL lets it), where
  # .backup restarts at every write of another process. The busy timeout
  # covers the moments the server holds a lock readers must wait for.
  local target="$partial/files/$name" err
  if ! err=$("$sqlite3" -bail -cmd ".timeout 30000" "$path" "VACUUM INTO '${target//\'/\'\'}'" 2>&1); then
    fail "copying $path failed: $err"
  fi
  local check
  check=$("$sqlite3" -bail "$target" "PRAGMA integrity_check" 2>&1) || true
  [ "$check" = "ok" ] || fail "the copy of $path failed its integrity check: $check"

  # The salt and the keys live beside the database: without the salt a
  # restored registry no longer recognises returning phones, without the
  # key the stored WhatsApp credentials cannot be opened.
  local f
  local -a files=("$name")
  for f in uic-salt secret-key secret-key.previous secret-key.next; do
    if [ -f "$data_dir/$f" ]; then
      cp -p -- "$data_dir/$f" "$partial/files/$f"
      files+=("$f")
    fi
  done
  [ -f "$partial/files/uic-salt" ] || say "warning: no uic-salt beside the database: the salt is UIC_SALT in the server's environment; keep that value with the backups"
  [ -f "$partial/files/secret-key" ] || say "warning: no secret-key beside the database: the key is SECRET_KEY in the server's environment; keep that value with the backups"

  # The files only, no directory entry: extracting into the data directory
  # leaves that directory's owner and mode alone.
  tar -C "$partial/files" -czf "$partial/archive.tar.gz" -- "${files[@]}" || fail "writing the archive in $backup_dir failed"
  sync "$partial/archive.tar.gz" 2>/dev/null || true
  mv -- "$partial/archive.tar.gz" "$final"
  rm -rf -- "$partial"
  partial=""
  say "wrote $final ($(du -h "$final" | cut -f1)): ${files[*]}"
  rotate tar.gz
}

case "$kind" in
  postgres) backup_postgres ;;
  sqlite) backup_sqlite ;;
esac
