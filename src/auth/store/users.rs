//! Users: create, find, list, passwords, profile, disabling, logins.

use super::grants::{UserChange, finish, managers_in};
use crate::auth::Lang;
use crate::db::Db;
use crate::{on_db, on_db_read, on_tx};
use time::OffsetDateTime;

const USER_COLUMNS: &str = "id, tenant_id, email, display_name, password_hash, locale, platform_admin, \
     disabled_at, password_changed_at, last_login_at, created_at";

#[derive(Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub tenant_id: i64,
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub locale: String,
    pub platform_admin: bool,
    pub disabled_at: Option<OffsetDateTime>,
    pub password_changed_at: Option<OffsetDateTime>,
    pub last_login_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("email", &self.email)
            .field("platform_admin", &self.platform_admin)
            .field("disabled", &self.disabled_at.is_some())
            .finish_non_exhaustive()
    }
}

impl User {
    pub fn lang(&self) -> Lang {
        Lang::parse(&self.locale).unwrap_or_default()
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }

    /// Invited, no password chosen yet.
    pub fn is_pending(&self) -> bool {
        self.password_hash.is_none()
    }
}

/// Login names are e-mail addresses, compared without case.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plausible address: something@something.tld, no spaces, not too long.
pub fn valid_email(email: &str) -> bool {
    let e = email.trim();
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

pub struct NewUser<'a> {
    pub tenant_id: i64,
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: Option<&'a str>,
    pub lang: Lang,
    pub platform_admin: bool,
}

fn insert_user_sql() -> String {
    format!(
        "INSERT INTO users (tenant_id, email, display_name, password_hash, locale, platform_admin,
            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (email) DO NOTHING
         RETURNING {USER_COLUMNS}"
    )
}

/// `Ok(None)` when the e-mail address is taken (in any tenant).
pub async fn create_user(db: &Db, u: &NewUser<'_>) -> Result<Option<User>, sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    let sql = insert_user_sql();
    on_db!(db, p => sqlx::query_as::<_, User>(&sql)
        .bind(u.tenant_id).bind(normalize_email(u.email)).bind(u.display_name.trim())
        .bind(u.password_hash).bind(u.lang.code()).bind(u.platform_admin).bind(now)
        .fetch_optional(p).await)
}

/// `create_user` inside a transaction.
pub async fn create_user_in(
    tx: &mut crate::db::Tx,
    u: &NewUser<'_>,
) -> Result<Option<User>, sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    let sql = insert_user_sql();
    on_tx!(tx, c => sqlx::query_as::<_, User>(&sql)
        .bind(u.tenant_id).bind(normalize_email(u.email)).bind(u.display_name.trim())
        .bind(u.password_hash).bind(u.lang.code()).bind(u.platform_admin).bind(now)
        .fetch_optional(c).await)
}

pub async fn count_users(db: &Db) -> Result<i64, sqlx::Error> {
    on_db_read!(db, p => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(p).await)
}

pub async fn find_user(db: &Db, id: i64) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    on_db!(db, p => sqlx::query_as::<_, User>(&sql).bind(id).fetch_optional(p).await)
}

pub async fn find_user_in(db: &Db, tenant_id: i64, id: i64) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND tenant_id = $2");
    on_db!(db, p => sqlx::query_as::<_, User>(&sql).bind(id).bind(tenant_id).fetch_optional(p).await)
}

pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
    on_db!(db, p => sqlx::query_as::<_, User>(&sql).bind(normalize_email(email)).fetch_optional(p).await)
}

pub async fn list_users(db: &Db, tenant_id: i64) -> Result<Vec<User>, sqlx::Error> {
    let sql =
        format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY display_name, id");
    on_db!(db, p => sqlx::query_as::<_, User>(&sql).bind(tenant_id).fetch_all(p).await)
}

/// `set_password` inside a transaction.
pub async fn set_password_in(
    tx: &mut crate::db::Tx,
    user_id: i64,
    phc: &str,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE users SET password_hash = $1, password_changed_at = $2, updated_at = $2 WHERE id = $3")
        .bind(phc).bind(OffsetDateTime::now_utc()).bind(user_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Sets a new password; every session logged in before now ends.
pub async fn set_password(db: &Db, user_id: i64, phc: &str) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "UPDATE users SET password_hash = $1, password_changed_at = $2, updated_at = $2 WHERE id = $3")
        .bind(phc).bind(OffsetDateTime::now_utc()).bind(user_id).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Disables or enables a user, unless that leaves the tenant without a
/// manager (see `grants::managers_in`).
pub async fn set_disabled(
    db: &Db,
    tenant_id: i64,
    user_id: i64,
    disabled: bool,
) -> Result<UserChange, sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    let at = disabled.then_some(now);
    let mut tx = db.begin().await?;
    let before = managers_in(&mut tx, tenant_id).await?;
    let done = on_tx!(&mut tx, c => sqlx::query(
        "UPDATE users SET disabled_at = $1, updated_at = $2 WHERE id = $3 AND tenant_id = $4")
        .bind(at).bind(now).bind(user_id).bind(tenant_id).execute(c).await.map(|r| r.rows_affected()))?;
    finish(tx, tenant_id, before, done == 1).await
}

pub async fn update_profile(
    db: &Db,
    user_id: i64,
    display_name: &str,
    lang: Lang,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "UPDATE users SET display_name = $1, locale = $2, updated_at = $3 WHERE id = $4")
        .bind(display_name.trim()).bind(lang.code()).bind(OffsetDateTime::now_utc()).bind(user_id)
        .execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn touch_login(db: &Db, user_id: i64) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
        .bind(OffsetDateTime::now_utc()).bind(user_id).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(normalize_email("  Alice@Example.ORG "), "alice@example.org");
        assert!(valid_email("a@b.cd"));
        assert!(!valid_email("a@b"));
        assert!(!valid_email("@b.cd"));
        assert!(!valid_email("a b@c.de"));
        assert!(!valid_email("a@b.cd@e.fg"));
        assert!(!valid_email("a@.cd"));
    }
}
