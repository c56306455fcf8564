//! The audit log: who did or looked at what, when, from where.
//!
//! Entries are written in the request that does the thing, before it
//! answers, and never hold a secret (a token's last four characters at most).

use crate::db::Db;
use crate::{on_db, on_db_read};
use time::{Date, OffsetDateTime, Time};

pub struct Entry<'a> {
    /// `None`: a platform-level event.
    pub tenant_id: Option<i64>,
    pub user_id: Option<i64>,
    /// The login name of who did it.
    pub actor: &'a str,
    /// A stable key (`user.create`, `login.failed`, `conversation.view`).
    pub action: &'a str,
    /// What it was done to (`user:12`, `account:3`).
    pub target: String,
    pub detail: String,
    pub ip: Option<&'a str>,
}

/// `record` inside a transaction: the entry is written only if the change
/// it describes is.
pub async fn record_in(tx: &mut crate::db::Tx, e: &Entry<'_>) -> Result<(), sqlx::Error> {
    crate::on_tx!(tx, c => sqlx::query(
        "INSERT INTO audit_log (tenant_id, user_id, actor, action, target, detail, ip, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(e.tenant_id).bind(e.user_id).bind(e.actor).bind(e.action).bind(&e.target)
        .bind(&e.detail).bind(e.ip).bind(OffsetDateTime::now_utc()).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn record(db: &Db, e: &Entry<'_>) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "INSERT INTO audit_log (tenant_id, user_id, actor, action, target, detail, ip, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(e.tenant_id).bind(e.user_id).bind(e.actor).bind(e.action).bind(&e.target)
        .bind(&e.detail).bind(e.ip).bind(OffsetDateTime::now_utc()).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub ip: Option<String>,
    pub at: OffsetDateTime,
}

/// What the audit page filters on.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Filter {
    /// Part of the actor's login name.
    pub actor: Option<String>,
    /// An action key, or its first part (`user` matches `user.create`).
    pub action: Option<String>,
    /// Part of the target (`user:12`).
    pub target: Option<String>,
    /// First day included (YYYY-MM-DD, UTC).
    pub from: Option<String>,
    /// Last day included.
    pub to: Option<String>,
    /// Entries older than this id (the next page).
    pub before: Option<i64>,
}

fn day(s: Option<&str>) -> Option<Date> {
    let s = s?.trim();
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// The access's tenant's entries (`audit.view` tenant-wide), newest first,
/// at most `limit`.
pub async fn list(
    db: &Db,
    access: &crate::auth::Access,
    f: &Filter,
    limit: i64,
) -> Result<Vec<Row>, crate::auth::AccessError> {
    access.tenant_wide(crate::auth::Permission::AuditView)?;
    let tenant_id = access.tenant_id();
    let like = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                format!(
                    "%{}%",
                    s.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                )
            })
    };
    let action = f
        .action
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let action_prefix = action.as_ref().map(|a| format!("{}.%", a.replace('%', "")));
    let from = day(f.from.as_deref()).map(|d| d.with_time(Time::MIDNIGHT).assume_utc());
    let to = day(f.to.as_deref())
        .map(|d| d.with_time(Time::MIDNIGHT).assume_utc() + time::Duration::days(1));
    Ok(on_db_read!(db, p => sqlx::query_as::<_, Row>(
        "SELECT id, actor, action, target, detail, ip, at FROM audit_log
         WHERE tenant_id = $1
           AND ($2 IS NULL OR LOWER(actor) LIKE LOWER($2) ESCAPE '\\')
           AND ($3 IS NULL OR action = $3 OR action LIKE $4)
           AND ($5 IS NULL OR target LIKE $5 ESCAPE '\\')
           AND ($6 IS NULL OR at >= $6)
           AND ($7 IS NULL OR at < $7)
           AND ($8 IS NULL OR id < $8)
         ORDER BY id DESC LIMIT $9")
        .bind(tenant_id).bind(like(&f.actor)).bind(&action).bind(&action_prefix)
        .bind(like(&f.target)).bind(from).bind(to).bind(f.before).bind(limit)
        .fetch_all(p).await)?)
}
