//! Staff sessions: tower-sessions with its SQL store on the active backend.
//!
//! The cookie (`uic_session`) is HttpOnly, SameSite=Lax (a link opened from
//! WhatsApp or an e-mail keeps the session; CSRF tokens guard every change)
//! and Secure when `PUBLIC_URL` is https. A session ends after
//! `STAFF_SESSION_IDLE_MINUTES` without a request, and in any case
//! `STAFF_SESSION_MAX_HOURS` after login.

use crate::db::Db;
use axum::Router;
use std::time::Duration;
use time::OffsetDateTime;
use tower_sessions::cookie::SameSite;
use tower_sessions::session_store::ExpiredDeletion;
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

pub const COOKIE: &str = "uic_session";

/// Keys of what a session holds.
pub mod keys {
    /// The logged-in user's id.
    pub const USER: &str = "uid";
    /// Unix time of the login (absolute timeout).
    pub const LOGIN_AT: &str = "login_at";
    /// Unix time of the last request that extended the session.
    pub const SEEN: &str = "seen";
    /// The CSRF token.
    pub const CSRF: &str = "csrf";
    /// The tenant a platform administrator is looking at.
    pub const TENANT: &str = "tenant";
    /// Interface language chosen before login.
    pub const LANG: &str = "lang";
    /// A one-shot message shown on the next page.
    pub const FLASH: &str = "flash";
}

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub idle: Duration,
    pub absolute: Duration,
}

/// Creates the session table (not part of our migrations) and starts the
/// task that deletes expired sessions.
pub async fn prepare(db: &Db) -> anyhow::Result<()> {
    match db {
        Db::Sqlite(p) => {
            let store = SqliteStore::new(p.writer.clone());
            store.migrate().await?;
            tokio::spawn(delete_expired(store));
        }
        Db::Postgres(p) => {
            let store = PostgresStore::new(p.clone());
            store.migrate().await?;
            tokio::spawn(delete_expired(store));
        }
    }
    Ok(())
}

async fn delete_expired<S: ExpiredDeletion>(store: S) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        if let Err(e) = store.delete_expired().await {
            tracing::warn!(error = %e, "deleting expired staff sessions failed");
        }
    }
}

/// Adds the session layer to `router`.
pub fn layer<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    db: &Db,
    timeouts: Timeouts,
    secure: bool,
) -> Router<S> {
    let idle = time::Duration::try_from(timeouts.idle).unwrap_or(time::Duration::hours(1));
    macro_rules! configured {
        ($store:expr) => {
            SessionManagerLayer::new($store)
                .with_name(COOKIE)
                .with_http_only(true)
                .with_same_site(SameSite::Lax)
                .with_secure(secure)
                .with_path("/")
                .with_expiry(Expiry::OnInactivity(idle))
        };
    }
    match db {
        Db::Sqlite(p) => router.layer(configured!(SqliteStore::new(p.writer.clone()))),
        Db::Postgres(p) => router.layer(configured!(PostgresStore::new(p.clone()))),
    }
}

pub fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> anyhow::Result<String> {
    if let Some(t) = session.get::<String>(keys::CSRF).await? {
        return Ok(t);
    }
    use rand::RngExt;
    let bytes: [u8; 32] = rand::rng().random();
    let token = hex::encode(bytes);
    session.insert(keys::CSRF, &token).await?;
    Ok(token)
}

/// Logs the user in: a new session id (no fixation), a new CSRF token.
pub async fn log_in(session: &Session, user_id: i64) -> anyhow::Result<()> {
    let lang = session.get::<String>(keys::LANG).await?;
    session.clear().await;
    session.cycle_id().await?;
    let now = unix_now();
    session.insert(keys::USER, user_id).await?;
    session.insert(keys::LOGIN_AT, now).await?;
    session.insert(keys::SEEN, now).await?;
    if let Some(lang) = lang {
        session.insert(keys::LANG, lang).await?;
    }
    csrf_token(session).await?;
    Ok(())
}

/// Sets a message for the next page.
pub async fn flash(session: &Session, message: impl Into<String>) {
    let _ = session.insert(keys::FLASH, message.into()).await;
}
