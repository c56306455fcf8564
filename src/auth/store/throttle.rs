//! Login throttling: failed logins per login name and address.

// Failures are counted per (login name, address), not per login name: five
// wrong passwords from one address slow down that address for that name
// only, so nobody can lock a colleague (or the platform administrator) out
// by failing on purpose from elsewhere. Failures for one name from many
// addresses (a spread-out guessing attack) only add a short, bounded delay
// before the answer; the right password still gets in.

use super::users::normalize_email;
use crate::db::Db;
use crate::on_db;
use time::{Duration, OffsetDateTime};

/// How long failed logins are remembered.
pub const THROTTLE_WINDOW: Duration = Duration::minutes(15);
/// Failed logins for one login name from one address within the window
/// before that address waits for that name.
pub const MAX_FAILURES_PER_EMAIL: i64 = 5;
/// Failed logins from one address within the window (any names) before it
/// waits.
pub const MAX_FAILURES_PER_IP: i64 = 20;
/// Delay added per failure for a name beyond `MAX_FAILURES_PER_EMAIL`,
/// whatever the addresses...
pub const DELAY_STEP: std::time::Duration = std::time::Duration::from_millis(200);
/// ...up to this much.
pub const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(2);

/// What a login attempt must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throttle {
    /// This address may not try this name (or any name) before then.
    pub locked_until: Option<OffsetDateTime>,
    /// Answer no sooner than this: the name is failing from many places.
    pub delay: std::time::Duration,
}

pub async fn record_failure(
    db: &Db,
    email: &str,
    ip: &str,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query("INSERT INTO login_failures (email, ip, at) VALUES ($1, $2, $3)")
        .bind(normalize_email(email)).bind(ip).bind(now).execute(p).await.map(|r| r.rows_affected()))?;
    // Old rows are of no more use.
    on_db!(db, p => sqlx::query("DELETE FROM login_failures WHERE at < $1")
        .bind(now - THROTTLE_WINDOW).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// How long a login for this name from this address must wait at `now`.
pub async fn throttle(
    db: &Db,
    email: &str,
    ip: &str,
    now: OffsetDateTime,
) -> Result<Throttle, sqlx::Error> {
    let since = now - THROTTLE_WINDOW;
    let email = normalize_email(email);
    let by_email: Vec<(String, OffsetDateTime)> = on_db!(db, p => sqlx::query_as(
        "SELECT ip, at FROM login_failures WHERE email = $1 AND at > $2 ORDER BY at DESC")
        .bind(&email).bind(since).fetch_all(p).await)?;
    let by_ip: Vec<OffsetDateTime> = on_db!(db, p => sqlx::query_scalar(
        "SELECT at FROM login_failures WHERE ip = $1 AND at > $2 ORDER BY at DESC")
        .bind(ip).bind(since).fetch_all(p).await)?;
    let by_pair: Vec<OffsetDateTime> = by_email
        .iter()
        .filter(|(i, _)| i == ip)
        .map(|(_, at)| *at)
        .collect();
    // Locked until the oldest of the last N failures leaves the window.
    let until = |times: &[OffsetDateTime], max: i64| {
        usize::try_from(max - 1)
            .ok()
            .and_then(|i| times.get(i))
            .map(|t| *t + THROTTLE_WINDOW)
    };
    let locked_until = until(&by_pair, MAX_FAILURES_PER_EMAIL)
        .max(until(&by_ip, MAX_FAILURES_PER_IP))
        .filter(|t| *t > now);
    let beyond = (by_email.len() as i64 - MAX_FAILURES_PER_EMAIL + 1).max(0);
    let delay = DELAY_STEP
        .saturating_mul(u32::try_from(beyond).unwrap_or(u32::MAX))
        .min(MAX_DELAY);
    Ok(Throttle {
        locked_until,
        delay,
    })
}

/// A successful login forgets the failures for that name from that address
/// (a stranger's failures elsewhere keep counting against the stranger).
pub async fn clear_failures(db: &Db, email: &str, ip: &str) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query("DELETE FROM login_failures WHERE email = $1 AND ip = $2")
        .bind(normalize_email(email)).bind(ip).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}
