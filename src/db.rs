//! Storage: one code path over two native sqlx pools.
//!
//! `Db` is an enum of a SQLite pool (the embedded default) and a PostgreSQL
//! pool (production), picked by the URL scheme. SQL is written once with `$N`
//! placeholders, which both drivers accept; the `on_db!`/`on_tx!` macros run a
//! query body against whichever backend is active, so each backend keeps its
//! native types (timestamps, JSON). `sqlx::Any` would lose those.

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Where the data lives, parsed from `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// Path of the SQLite database file.
    Sqlite(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

impl std::fmt::Debug for DbUrl {
    // The PostgreSQL URL may hold a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbUrl::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            DbUrl::Postgres(u) => write!(f, "{}", redact_url(u)),
        }
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((auth, host)) = rest.split_once('@')
        && let Some((user, _)) = auth.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
}

impl DbUrl {
    /// Parses our own forms (`sqlite:PATH`, `sqlite://PATH`, `postgres://…`,
    /// `postgresql://…`) and the Python prototype's SQLAlchemy forms
    /// (`sqlite+aiosqlite:///./data/x.db`, `postgresql+asyncpg://…`), so an
    /// existing `.env` keeps working.
    pub fn parse(url: &str) -> Result<DbUrl, String> {
        let url = url.trim();
        let (scheme, rest) = url.split_once(':').ok_or_else(|| {
            format!(
                "DATABASE_URL has no scheme (expected sqlite:PATH or postgres://…), got {:?}",
                redact_url(url)
            )
        })?;
        let driver = scheme
            .split('+')
            .next()
            .unwrap_or(scheme)
            .to_ascii_lowercase();
        match driver.as_str() {
            "sqlite" => {
                // sqlx forms: sqlite:PATH, sqlite://PATH, sqlite:///abs/path.
                // SQLAlchemy forms (sqlite+driver:): ///relative, ////absolute.
                let path = rest.strip_prefix("//").unwrap_or(rest);
                let path = if scheme.contains('+') {
                    path.strip_prefix('/').unwrap_or(path)
                } else {
                    path
                };
                let path = path.split('?').next().unwrap_or(path);
                if path.is_empty() || path == ":memory:" {
                    return Err("DATABASE_URL: an SQLite database needs a file path (e.g. sqlite:data/uic-inbox.db); :memory: would lose every message at restart".into());
                }
                Ok(DbUrl::Sqlite(PathBuf::from(path)))
            }
            "postgres" | "postgresql" => Ok(DbUrl::Postgres(format!("postgres:{rest}"))),
            other => Err(format!(
                "DATABASE_URL: unsupported database {other:?} (use sqlite:PATH or postgres://…)"
            )),
        }
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, DbUrl::Sqlite(_))
    }
}

/// A connection pool on either backend.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePools),
    Postgres(PgPool),
}

/// SQLite has one writer at a time: a single writing connection turns that
/// into a fair in-process queue instead of busy-waiting (SQLite's busy
/// handler sleeps up to 100 ms a try), while read-only connections read the
/// last committed state beside it (WAL).
#[derive(Clone, Debug)]
pub struct SqlitePools {
    pub writer: SqlitePool,
    pub reader: SqlitePool,
}

/// A transaction on either backend.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$pool` bound to the active native pool (on SQLite,
/// the writing connection: statements that only read and may lag behind the
/// last write by nothing use `on_db_read!`).
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite(pools) => {
                let $pool = &pools.writer;
                $body
            }
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Like `on_db!` for a read-only statement: on SQLite it runs on a reading
/// connection, beside the writer.
#[macro_export]
macro_rules! on_db_read {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite(pools) => {
                let $pool = &pools.reader;
                $body
            }
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the active native transaction's
/// connection (`&mut *tx`).
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}

/// A value a TEXT column holds that is not one of its enum's words: a
/// decoding error (the row is refused), never a silent default.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownValue {
    /// What the column holds ("provider", "conversation mode"…).
    pub kind: &'static str,
    pub value: String,
}

/// Declares an enum stored as TEXT, each variant one word: `as_str`,
/// `parse` (`None` for another word), `FromStr` (an `UnknownValue` error),
/// `Display`, `ALL`, and the sqlx encoding on both backends (a TEXT value;
/// decoding another word is an error). Not sqlx's `Type` derive: on
/// PostgreSQL it declares the type by name (a catalog lookup on every new
/// connection), and the words, `ALL` and the parse would still be here.
///
/// ```text
/// text_enum! {
///     /// Who has the conversation.
///     pub enum Mode("conversation mode") { Bot = "bot", Human = "human" }
/// }
/// ```
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident($kind:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word stored in the database.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The variant stored as `s`; `None` for any other word.
            pub fn parse(s: &str) -> ::std::option::Option<$name> {
                match s {
                    $($text => ::std::option::Option::Some($name::$variant),)+
                    _ => ::std::option::Option::None,
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::db::UnknownValue;

            fn from_str(s: &str) -> ::std::result::Result<$name, $crate::db::UnknownValue> {
                $name::parse(s).ok_or_else(|| $crate::db::UnknownValue {
                    kind: $kind,
                    value: s.to_string(),
                })
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::sqlx::Type<::sqlx::Sqlite> for $name {
            fn type_info() -> ::sqlx::sqlite::SqliteTypeInfo {
                <str as ::sqlx::Type<::sqlx::Sqlite>>::type_info()
            }

            fn compatible(ty: &::sqlx::sqlite::SqliteTypeInfo) -> bool {
                <&str as ::sqlx::Type<::sqlx::Sqlite>>::compatible(ty)
            }
        }

        impl ::sqlx::Type<::sqlx::Postgres> for $name {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <str as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl<'q> ::sqlx::Encode<'q, ::sqlx::Sqlite> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <::sqlx::Sqlite as ::sqlx::Database>::ArgumentBuffer<'q>,
            ) -> ::std::result::Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&'q str as ::sqlx::Encode<'q, ::sqlx::Sqlite>>::encode(self.as_str(), buf)
            }
        }

        impl ::sqlx::Encode<'_, ::sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> ::std::result::Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<'_, ::sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Sqlite> for $name {
            fn decode(
                value: ::sqlx::sqlite::SqliteValueRef<'r>,
            ) -> ::std::result::Result<$name, ::sqlx::error::BoxDynError> {
                let s = <&str as ::sqlx::Decode<'r, ::sqlx::Sqlite>>::decode(value)?;
                Ok(s.parse::<$name>()?)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $name {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> ::std::result::Result<$name, ::sqlx::error::BoxDynError> {
                let s = <&str as ::sqlx::Decode<'r, ::sqlx::Postgres>>::decode(value)?;
                Ok(s.parse::<$name>()?)
            }
        }
    };
}

impl Db {
    /// Connects, creating the SQLite file (and its folder) when missing.
    pub async fn connect(url: &DbUrl) -> anyhow::Result<Db> {
        match url {
            DbUrl::Sqlite(path) => {
                create_private_sqlite_file(path)?;
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // WAL + NORMAL is durable across application crashes; only
                    // an OS crash may lose the last transactions.
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .pragma("wal_autocheckpoint", "0")
                    .foreign_keys(true);
                let writer = SqlitePoolOptions::new()
                    .max_connections(1)
                    // A ping before every query would double the work; a
                    // broken connection shows as a query error instead.
                    .test_before_acquire(false)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options.clone())
                    .await
                    .with_context(|| format!("opening the SQLite database {}", path.display()))?;
                let reader = SqlitePoolOptions::new()
                    .max_connections(4)
                    .test_before_acquire(false)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options.clone().read_only(true))
                    .await
                    .with_context(|| {
                        format!("opening the SQLite database {} for reading", path.display())
                    })?;
                // Checkpoints (copying the WAL into the database file, with an
                // fsync) run beside the writer instead of stalling a commit.
                let checkpointer = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options.clone())
                    .await
                    .with_context(|| {
                        format!(
                            "opening the SQLite database {} for checkpoints",
                            path.display()
                        )
                    })?;
                tokio::spawn(checkpoints(checkpointer, writer.clone()));
                Ok(Db::Sqlite(SqlitePools { writer, reader }))
            }
            DbUrl::Postgres(url) => {
                let options = PgConnectOptions::from_str(url).context("parsing DATABASE_URL")?;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    // The default pings before every query: one more round
                    // trip each. A dead connection fails its query instead.
                    .test_before_acquire(false)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .with_context(|| format!("connecting to PostgreSQL at {}", redact_url(url)))?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    /// Applies the migrations of the active backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(p) => SQLITE_MIGRATIONS
                .run(&p.writer)
                .await
                .context("applying SQLite migrations")?,
            Db::Postgres(p) => POSTGRES_MIGRATIONS
                .run(p)
                .await
                .context("applying PostgreSQL migrations")?,
        }
        Ok(())
    }

    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            // IMMEDIATE takes the write lock at once, so a transaction that
            // reads then writes never fails with SQLITE_BUSY half-way.
            Db::Sqlite(p) => Tx::Sqlite(p.writer.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A read-only transaction that sees one committed state throughout
    /// (PostgreSQL: REPEATABLE READ; SQLite: a reading connection's
    /// transaction, one snapshot of the WAL), for reads of several
    /// statements that must agree. End it with a rollback.
    pub async fn snapshot(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(p) => Tx::Sqlite(p.reader.begin().await?),
            Db::Postgres(p) => Tx::Postgres(
                p.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            ),
        })
    }

    /// True when the database answers.
    pub async fn ping(&self) -> bool {
        on_db!(self, p => sqlx::query("SELECT 1").execute(p).await.is_ok())
    }

    pub async fn close(&self) {
        if let Db::Sqlite(p) = self {
            p.reader.close().await;
        }
        on_db!(self, p => p.close().await)
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }
}

/// Key of the PostgreSQL advisory lock held while an instance starts
/// (migrations and first-start data); any constant other programs on the
/// database would not use.
const STARTUP_LOCK_KEY: i64 = 0x7569_635f_7374_6172; // "uic_star"

/// Held while an instance migrates the database and writes its first-start
/// data, so that instances started at the same moment on one database do
/// this one after the other: sqlx takes no lock for SQLite migrations (two
/// instances both create the tables, one dies with "table already exists"),
/// and the session store's `CREATE TABLE IF NOT EXISTS` races on PostgreSQL.
/// PostgreSQL: a session advisory lock on one connection. SQLite: an
/// exclusive lock on a file beside the database (`<file>.startup-lock`).
pub struct StartupLock {
    pg: Option<sqlx::pool::PoolConnection<Postgres>>,
    _file: Option<std::fs::File>,
}

impl Db {
    /// Waits until no other instance is starting on this database.
    pub async fn startup_lock(&self, url: &DbUrl) -> anyhow::Result<StartupLock> {
        match (self, url) {
            (Db::Postgres(p), _) => {
                let mut conn = p
                    .acquire()
                    .await
                    .context("locking the database for start")?;
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(STARTUP_LOCK_KEY)
                    .execute(&mut *conn)
                    .await
                    .context("waiting for another instance to finish starting")?;
                Ok(StartupLock {
                    pg: Some(conn),
                    _file: None,
                })
            }
            (Db::Sqlite(_), DbUrl::Sqlite(path)) => StartupLock::sqlite(path).await,
            (Db::Sqlite(_), DbUrl::Postgres(_)) => {
                anyhow::bail!("an SQLite pool for a PostgreSQL URL")
            }
        }
    }
}

impl StartupLock {
    /// The lock of an SQLite database: a file beside it, locked by the
    /// operating system. Taken before the database is opened: two processes
    /// switching a new database to WAL at the same moment make one fail with
    /// "database is locked", whatever the busy timeout.
    pub async fn sqlite(path: &Path) -> anyhow::Result<StartupLock> {
        create_private_sqlite_file(path)?;
        let mut name = path.as_os_str().to_owned();
        name.push(".startup-lock");
        let lock_path = PathBuf::from(name);
        let file = tokio::task::spawn_blocking(move || -> anyhow::Result<std::fs::File> {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .with_context(|| format!("opening {}", lock_path.display()))?;
            // Released when the file is closed, also if we crash.
            file.lock()
                .with_context(|| format!("locking {}", lock_path.display()))?;
            Ok(file)
        })
        .await??;
        Ok(StartupLock {
            pg: None,
            _file: Some(file),
        })
    }

    /// Lets the next instance start.
    pub async fn release(mut self) {
        if let Some(mut conn) = self.pg.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(STARTUP_LOCK_KEY)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                // Closing the connection releases the lock too.
                drop(conn.detach());
            }
        }
    }
}

impl Drop for StartupLock {
    fn drop(&mut self) {
        // Not released (start failed half-way): the connection must not go
        // back to the pool holding the lock; closing it frees the lock.
        if let Some(conn) = self.pg.take() {
            drop(conn.detach());
        }
    }
}

/// Checkpoints the WAL every second until the writer closes.
async fn checkpoints(checkpointer: SqlitePool, writer: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !writer.is_closed() {
        tick.tick().await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&checkpointer)
            .await
        {
            tracing::warn!(error = %e, "SQLite checkpoint failed");
        }
    }
    let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&checkpointer)
        .await;
    checkpointer.close().await;
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.rollback().await,
            Tx::Postgres(t) => t.rollback().await,
        }
    }
}

/// Creates the SQLite database's folder (`0700`) and an empty database file
/// (`0600`) when missing, before SQLite opens it: the messages, and the
/// salt kept beside them, are for the server's user only. SQLite gives its
/// `-wal` and `-shm` files the database file's permissions, so they are
/// `0600` too. Existing files and folders are left as they are.
pub fn create_private_sqlite_file(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .with_context(|| format!("creating the database folder {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => {
            Err(e).with_context(|| format!("creating the SQLite database {}", path.display()))
        }
    }
}

/// The folder beside the SQLite database file (where the generated salt is
/// kept), if the database is SQLite.
pub fn sqlite_dir(url: &DbUrl) -> Option<&Path> {
    match url {
        DbUrl::Sqlite(p) => Some(
            p.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        ),
        DbUrl::Postgres(_) => None,
    }
}

/// Whether trying the same statement again later may succeed: the database
/// unreachable, busy or in a serialisation conflict. A database that refuses
/// the data itself (a constraint, a value it cannot hold) is not, nor is a
/// row that is not there. Shared by the domains' error types and the HTTP
/// one, so a webhook is retried (503) for the same reasons everywhere.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            let postgres = db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some();
            db.code().is_some_and(|c| is_transient_code(&c, postgres))
        }
        sqlx::Error::RowNotFound => false,
        // The pool, the connection, the protocol: not the data.
        _ => true,
    }
}

/// SQLSTATE codes (PostgreSQL) and result codes (SQLite) worth a retry.
fn is_transient_code(code: &str, postgres: bool) -> bool {
    if postgres {
        // Serialisation failure, deadlock, lock not available, too many
        // connections, connection exceptions, shutting down.
        matches!(code, "40001" | "40P01" | "55P03" | "53300")
            || code.starts_with("08")
            || code.starts_with("57P")
    } else {
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
        code.parse::<i64>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_in_every_accepted_form_give_the_path() {
        assert_eq!(
            DbUrl::parse("sqlite:data/x.db").unwrap(),
            DbUrl::Sqlite("data/x.db".into())
        );
        assert_eq!(
            DbUrl::parse("sqlite://data/x.db").unwrap(),
            DbUrl::Sqlite("data/x.db".into())
        );
        assert_eq!(
            DbUrl::parse("sqlite+aiosqlite:///./data/uic.db").unwrap(),
            DbUrl::Sqlite("./data/uic.db".into())
        );
        assert_eq!(
            DbUrl::parse("sqlite+aiosqlite:////var/lib/uic.db").unwrap(),
            DbUrl::Sqlite("/var/lib/uic.db".into())
        );
        assert_eq!(
            DbUrl::parse("sqlite:///tmp/x.db").unwrap(),
            DbUrl::Sqlite("/tmp/x.db".into())
        );
    }

    #[test]
    fn postgres_urls_including_the_prototype_asyncpg_form_become_postgres() {
        assert_eq!(
            DbUrl::parse("postgresql+asyncpg://u:p@db:5432/uic").unwrap(),
            DbUrl::Postgres("postgres://u:p@db:5432/uic".into())
        );
        assert_eq!(
            DbUrl::parse("postgres://h/db").unwrap(),
            DbUrl::Postgres("postgres://h/db".into())
        );
    }

    #[test]
    fn unknown_or_empty_database_urls_are_refused_with_a_reason() {
        assert!(
            DbUrl::parse("mysql://x")
                .unwrap_err()
                .contains("unsupported")
        );
        assert!(DbUrl::parse("nothing").unwrap_err().contains("scheme"));
        assert!(DbUrl::parse("sqlite::memory:").is_err());
    }

    #[test]
    fn passwords_never_show_in_a_printed_database_url() {
        let url = DbUrl::parse("postgres://app:s3cret@db/uic").unwrap();
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    #[test]
    fn busy_and_unreachable_databases_are_transient_bad_data_is_not() {
        assert!(is_transient_code("5", false));
        assert!(is_transient_code("517", false));
        assert!(!is_transient_code("19", false), "SQLite constraint");
        assert!(is_transient_code("40001", true));
        assert!(is_transient_code("08006", true));
        assert!(!is_transient_code("22021", true), "invalid byte sequence");
        assert!(!is_transient_code("23505", true), "unique violation");
        assert!(is_transient(&sqlx::Error::PoolClosed));
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
    }
}

/// A value bound to a statement whose text is built from what is asked (a
/// page's filters): the clauses used, and only their values, in order.
#[derive(Debug, Clone)]
pub enum Arg {
    Int(i64),
    Text(String),
    Time(time::OffsetDateTime),
}

/// Binds every [`Arg`] in order to an sqlx query (inside `on_db!`, where
/// the backend is known).
#[macro_export]
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                $crate::db::Arg::Int(v) => q.bind(*v),
                $crate::db::Arg::Text(v) => q.bind(v.as_str()),
                $crate::db::Arg::Time(v) => q.bind(*v),
            };
        }
        q
    }};
}
