//! Users: create, find, list, passwords, profile, disabling, logins.

use super::grants::{UserChange, assign_in, finish, managers_in};
use crate::auth::{Access, AccessError, Actor, Lang, Permission};
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

#[derive(Clone, Copy)]
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

/// Who did a change, for the audit entry written with it.
pub struct AuditBy<'a> {
    pub email: &'a str,
    pub ip: &'a str,
}

/// Why a new user was not created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewUserRefusal {
    /// The e-mail address is taken (in any tenant).
    EmailTaken,
    /// The role or the account is not the tenant's.
    NotFound,
    /// The actor does not hold each of the role's permissions in that scope.
    CannotGiveMore,
}

/// Creates a user of the access's tenant with one role (tenant-wide when
/// `account_id` is `None`) and its audit entry, in one transaction: either
/// all three are written or none.
pub async fn create_staff(
    db: &Db,
    access: &Access,
    u: &NewUser<'_>,
    role_id: i64,
    account_id: Option<i64>,
    by: &AuditBy<'_>,
) -> Result<Result<User, NewUserRefusal>, AccessError> {
    access.tenant_wide(Permission::UsersManage)?;
    let u = NewUser {
        tenant_id: access.tenant_id(),
        platform_admin: false,
        ..*u
    };
    let mut tx = db.begin().await?;
    let Some(user) = create_user_in(&mut tx, &u).await? else {
        tx.rollback().await?;
        return Ok(Err(NewUserRefusal::EmailTaken));
    };
    match assign_in(&mut tx, access, user.id, role_id, account_id).await? {
        UserChange::Done | UserChange::Unchanged => {}
        UserChange::CannotGiveMore => {
            tx.rollback().await?;
            return Ok(Err(NewUserRefusal::CannotGiveMore));
        }
        UserChange::NotFound | UserChange::LastManager => {
            tx.rollback().await?;
            return Ok(Err(NewUserRefusal::NotFound));
        }
    }
    let role_name: String = on_tx!(&mut tx, c => sqlx::query_scalar("SELECT name FROM roles WHERE id = $1")
        .bind(role_id).fetch_one(c).await)?;
    let scope = account_id.map_or("tenant".to_string(), |a| format!("account:{a}"));
    crate::audit::record_in(
        &mut tx,
        &crate::audit::Entry {
            tenant_id: Some(access.tenant_id()),
            user_id: access.actor().user_id(),
            actor: by.email,
            action: "user.create",
            target: format!("user:{}", user.id),
            detail: format!("{} · {} · {}", user.email, role_name, scope),
            ip: Some(by.ip),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(user))
}

/// `Ok(None)` when the e-mail address is taken (in any tenant). For the
/// program itself (first administrator, command line); staff create users
/// with `create_staff`.
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

/// The user a session or a one-time link names: the authentication, before
/// any access exists. Anything else finds users with `find_user_in`.
pub async fn find_user(db: &Db, id: i64) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    on_db!(db, p => sqlx::query_as::<_, User>(&sql).bind(id).fetch_optional(p).await)
}

/// One of the tenant's users (another tenant's: `None`).
pub async fn find_user_in(db: &Db, access: &Access, id: i64) -> Result<Option<User>, AccessError> {
    access.tenant_wide(Permission::UsersManage)?;
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND tenant_id = $2");
    Ok(
        on_db!(db, p => sqlx::query_as::<_, User>(&sql).bind(id).bind(access.tenant_id()).fetch_optional(p).await)?,
    )
}

pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
    on_db!(db, p => sqlx::query_as::<_, User>(&sql).bind(normalize_email(email)).fetch_optional(p).await)
}

/// The tenant's users.
pub async fn list_users(db: &Db, access: &Access) -> Result<Vec<User>, AccessError> {
    access.tenant_wide(Permission::UsersManage)?;
    let sql =
        format!("SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY display_name, id");
    Ok(
        on_db!(db, p => sqlx::query_as::<_, User>(&sql).bind(access.tenant_id()).fetch_all(p).await)?,
    )
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

/// Sets the actor's own new password; every session logged in before now
/// ends.
pub async fn set_own_password(db: &Db, me: &Actor, phc: &str) -> Result<(), sqlx::Error> {
    let Some(user_id) = me.user_id() else {
        return Ok(());
    };
    on_db!(db, p => sqlx::query(
        "UPDATE users SET password_hash = $1, password_changed_at = $2, updated_at = $2 WHERE id = $3")
        .bind(phc).bind(OffsetDateTime::now_utc()).bind(user_id).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Disables or enables one of the tenant's users, unless that leaves the
/// tenant without a manager (see `grants::managers_in`).
pub async fn set_disabled(
    db: &Db,
    access: &Access,
    user_id: i64,
    disabled: bool,
) -> Result<UserChange, AccessError> {
    access.tenant_wide(Permission::UsersManage)?;
    let tenant_id = access.tenant_id();
    let now = OffsetDateTime::now_utc();
    let at = disabled.then_some(now);
    let mut tx = db.begin().await?;
    let before = managers_in(&mut tx, tenant_id).await?;
    let done = on_tx!(&mut tx, c => sqlx::query(
        "UPDATE users SET disabled_at = $1, updated_at = $2 WHERE id = $3 AND tenant_id = $4")
        .bind(at).bind(now).bind(user_id).bind(tenant_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(finish(tx, tenant_id, before, done == 1).await?)
}

/// Changes the actor's own name and language.
pub async fn update_profile(
    db: &Db,
    me: &Actor,
    display_name: &str,
    lang: Lang,
) -> Result<(), sqlx::Error> {
    let Some(user_id) = me.user_id() else {
        return Ok(());
    };
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
