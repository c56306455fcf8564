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
    /// Unix time of the login in microseconds (absolute timeout, and
    /// sessions opened before a password change end: seconds would let a
    /// session opened in the same second as the change survive it).
    pub const LOGIN_AT: &str = "login_at_us";
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

/// Microseconds since the Unix epoch (what PostgreSQL keeps of a time).
pub fn unix_micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

/// Whether a session opened at `login_us` (microseconds) is still good for a
/// user whose password last changed at `changed`: only a session opened
/// after the change is. The session that made the change logs in again
/// right after it, so it is later.
pub fn opened_after(login_us: i64, changed: Option<OffsetDateTime>) -> bool {
    changed.is_none_or(|t| unix_micros(t) < login_us)
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
    let now = OffsetDateTime::now_utc();
    session.insert(keys::USER, user_id).await?;
    session.insert(keys::LOGIN_AT, unix_micros(now)).await?;
    session.insert(keys::SEEN, now.unix_timestamp()).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_opened_in_the_same_second_before_a_change_ends() {
        let change = time::macros::datetime!(2026-01-01 10:00:00.500_000 UTC);
        let before = unix_micros(change) - 300_000;
        let after = unix_micros(change) + 1;
        assert!(!opened_after(before, Some(change)));
        assert!(!opened_after(unix_micros(change), Some(change)));
        assert!(opened_after(after, Some(change)));
        assert!(opened_after(before, None));
    }
}
