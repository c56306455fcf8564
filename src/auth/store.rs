//! SQL for users, roles, grants, one-time links and failed logins.
//! Every lookup of a tenant's object takes the tenant id: another tenant's
//! object is simply not found.

use super::{BuiltinRole, GrantRow, Grants, Lang, Permission};
use crate::db::Db;
use crate::{on_db, on_db_read, on_tx};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

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

/// What a change to who may do what came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    Done,
    NotFound,
    /// Refused: nobody active in the tenant could manage users and roles
    /// any more.
    LastManager,
}

/// Disables or enables a user, unless that leaves the tenant without a
/// manager (see `keeps_a_manager`).
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

// ---- roles ----

#[derive(Debug, Clone)]
pub struct Role {
    pub id: i64,
    pub tenant_id: i64,
    pub builtin: Option<BuiltinRole>,
    pub name: String,
    pub description: String,
    pub permissions: Vec<Permission>,
    /// How many assignments use it.
    pub users: i64,
}

impl Role {
    pub fn has(&self, p: &Permission) -> bool {
        self.permissions.contains(p)
    }
}

#[derive(sqlx::FromRow)]
struct RoleRow {
    id: i64,
    tenant_id: i64,
    builtin: Option<String>,
    name: String,
    description: String,
    users: i64,
}

/// Creates the four built-in roles of a tenant when missing.
pub async fn ensure_builtin_roles(db: &Db, tenant_id: i64) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    ensure_builtin_roles_in(&mut tx, tenant_id).await?;
    tx.commit().await?;
    Ok(())
}

/// `ensure_builtin_roles` inside a transaction.
pub async fn ensure_builtin_roles_in(
    tx: &mut crate::db::Tx,
    tenant_id: i64,
) -> Result<(), sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    for role in BuiltinRole::ALL {
        let id: Option<i64> = on_tx!(&mut *tx, c => sqlx::query_scalar(
            "INSERT INTO roles (tenant_id, builtin, name, description, created_at, updated_at)
             VALUES ($1, $2, $3, '', $4, $4)
             ON CONFLICT (tenant_id, builtin) DO NOTHING RETURNING id")
            .bind(tenant_id).bind(role.key()).bind(role.name()).bind(now).fetch_optional(c).await)?;
        if let Some(id) = id {
            for p in role.permissions() {
                on_tx!(&mut *tx, c => sqlx::query(
                    "INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)")
                    .bind(id).bind(p.key()).execute(c).await.map(|r| r.rows_affected()))?;
            }
        }
    }
    Ok(())
}

async fn role_permissions(db: &Db, role_ids: &[i64]) -> Result<Vec<(i64, String)>, sqlx::Error> {
    if role_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = role_ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    // The ids are integers from our own query: no injection possible.
    let sql = format!("SELECT role_id, permission FROM role_permissions WHERE role_id IN ({list})");
    on_db!(db, p => sqlx::query_as::<_, (i64, String)>(&sql).fetch_all(p).await)
}

fn assemble(rows: Vec<RoleRow>, perms: Vec<(i64, String)>) -> Vec<Role> {
    rows.into_iter()
        .map(|r| {
            let mut permissions: Vec<Permission> = perms
                .iter()
                .filter(|(id, _)| *id == r.id)
                .filter_map(|(_, k)| Permission::parse(k))
                .collect();
            permissions.sort();
            Role {
                id: r.id,
                tenant_id: r.tenant_id,
                builtin: r.builtin.as_deref().and_then(BuiltinRole::parse),
                name: r.name,
                description: r.description,
                permissions,
                users: r.users,
            }
        })
        .collect()
}

const ROLE_SELECT: &str = "SELECT r.id, r.tenant_id, r.builtin, r.name, r.description,
        (SELECT COUNT(*) FROM role_assignments a WHERE a.role_id = r.id) AS users
     FROM roles r";

/// The tenant's roles, built-in ones first.
pub async fn list_roles(db: &Db, tenant_id: i64) -> Result<Vec<Role>, sqlx::Error> {
    let sql = format!(
        "{ROLE_SELECT} WHERE r.tenant_id = $1
         ORDER BY CASE WHEN r.builtin IS NULL THEN 1 ELSE 0 END, r.id"
    );
    let rows =
        on_db!(db, p => sqlx::query_as::<_, RoleRow>(&sql).bind(tenant_id).fetch_all(p).await)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let perms = role_permissions(db, &ids).await?;
    Ok(assemble(rows, perms))
}

pub async fn find_role(db: &Db, tenant_id: i64, id: i64) -> Result<Option<Role>, sqlx::Error> {
    let sql = format!("{ROLE_SELECT} WHERE r.tenant_id = $1 AND r.id = $2");
    let rows = on_db!(db, p => sqlx::query_as::<_, RoleRow>(&sql).bind(tenant_id).bind(id).fetch_all(p).await)?;
    let perms = role_permissions(db, &[id]).await?;
    Ok(assemble(rows, perms).pop())
}

/// `Ok(None)` when the name is taken in the tenant.
pub async fn create_role(
    db: &Db,
    tenant_id: i64,
    name: &str,
    description: &str,
    permissions: &[Permission],
) -> anyhow::Result<Option<i64>> {
    let now = OffsetDateTime::now_utc();
    let mut tx = db.begin().await?;
    let id: Option<i64> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "INSERT INTO roles (tenant_id, builtin, name, description, created_at, updated_at)
         VALUES ($1, NULL, $2, $3, $4, $4) ON CONFLICT (tenant_id, name) DO NOTHING RETURNING id")
        .bind(tenant_id).bind(name.trim()).bind(description.trim()).bind(now).fetch_optional(c).await)?;
    let Some(id) = id else {
        tx.rollback().await?;
        return Ok(None);
    };
    for p in permissions {
        on_tx!(&mut tx, c => sqlx::query("INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)")
            .bind(id).bind(p.key()).execute(c).await.map(|r| r.rows_affected()))?;
    }
    tx.commit().await?;
    Ok(Some(id))
}

/// Why a role could not be changed.
#[derive(Debug, PartialEq, Eq)]
pub enum RoleChange {
    Done,
    NotFound,
    Builtin,
    NameTaken,
    /// Refused: nobody active in the tenant could manage users and roles
    /// any more.
    LastManager,
}

/// Renames a tenant's own role and replaces its permissions (built-in roles
/// keep what the code gives them).
pub async fn update_role(
    db: &Db,
    tenant_id: i64,
    id: i64,
    name: &str,
    description: &str,
    permissions: &[Permission],
) -> anyhow::Result<RoleChange> {
    let Some(role) = find_role(db, tenant_id, id).await? else {
        return Ok(RoleChange::NotFound);
    };
    if role.builtin.is_some() {
        return Ok(RoleChange::Builtin);
    }
    let mut tx = db.begin().await?;
    let before = managers_in(&mut tx, tenant_id).await?;
    let taken: Option<i64> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT id FROM roles WHERE tenant_id = $1 AND name = $2 AND id <> $3")
        .bind(tenant_id).bind(name.trim()).bind(id).fetch_optional(c).await)?;
    if taken.is_some() {
        tx.rollback().await?;
        return Ok(RoleChange::NameTaken);
    }
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE roles SET name = $1, description = $2, updated_at = $3 WHERE id = $4 AND tenant_id = $5")
        .bind(name.trim()).bind(description.trim()).bind(OffsetDateTime::now_utc()).bind(id).bind(tenant_id)
        .execute(c).await.map(|r| r.rows_affected()))?;
    on_tx!(&mut tx, c => sqlx::query("DELETE FROM role_permissions WHERE role_id = $1").bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    for p in permissions {
        on_tx!(&mut tx, c => sqlx::query("INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)")
            .bind(id).bind(p.key()).execute(c).await.map(|r| r.rows_affected()))?;
    }
    Ok(role_change(finish(tx, tenant_id, before, true).await?))
}

fn role_change(c: UserChange) -> RoleChange {
    match c {
        UserChange::Done => RoleChange::Done,
        UserChange::NotFound => RoleChange::NotFound,
        UserChange::LastManager => RoleChange::LastManager,
    }
}

/// Deletes a tenant's own role and its assignments.
pub async fn delete_role(db: &Db, tenant_id: i64, id: i64) -> anyhow::Result<RoleChange> {
    let Some(role) = find_role(db, tenant_id, id).await? else {
        return Ok(RoleChange::NotFound);
    };
    if role.builtin.is_some() {
        return Ok(RoleChange::Builtin);
    }
    let mut tx = db.begin().await?;
    let before = managers_in(&mut tx, tenant_id).await?;
    let done = on_tx!(&mut tx, c => sqlx::query("DELETE FROM roles WHERE id = $1 AND tenant_id = $2")
        .bind(id).bind(tenant_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(role_change(finish(tx, tenant_id, before, done == 1).await?))
}

/// The built-in role of a tenant.
pub async fn builtin_role_id(
    db: &Db,
    tenant_id: i64,
    role: BuiltinRole,
) -> Result<Option<i64>, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar("SELECT id FROM roles WHERE tenant_id = $1 AND builtin = $2")
        .bind(tenant_id).bind(role.key()).fetch_optional(p).await)
}

// ---- assignments and overrides ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Assignment {
    pub id: i64,
    pub role_id: i64,
    pub role_name: String,
    pub account_id: Option<i64>,
    pub account_name: Option<String>,
}

pub async fn assignments_of(db: &Db, user_id: i64) -> Result<Vec<Assignment>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, Assignment>(
        "SELECT a.id, a.role_id, r.name AS role_name, a.account_id, w.name AS account_name
         FROM role_assignments a JOIN roles r ON r.id = a.role_id
         LEFT JOIN whatsapp_accounts w ON w.id = a.account_id
         WHERE a.user_id = $1 ORDER BY a.account_id IS NOT NULL, w.name, r.name")
        .bind(user_id).fetch_all(p).await)
}

/// Gives a role (tenant-wide when `account_id` is `None`); giving it twice
/// changes nothing. The caller checked that role and account are the
/// user's tenant's.
pub async fn assign(
    db: &Db,
    user_id: i64,
    role_id: i64,
    account_id: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let added = assign_in(&mut tx, user_id, role_id, account_id).await?;
    tx.commit().await?;
    Ok(added)
}

/// `assign` inside a transaction.
pub async fn assign_in(
    tx: &mut crate::db::Tx,
    user_id: i64,
    role_id: i64,
    account_id: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let exists: Option<i64> = on_tx!(&mut *tx, c => sqlx::query_scalar(
        "SELECT id FROM role_assignments WHERE user_id = $1 AND role_id = $2
         AND ((account_id IS NULL AND $3 IS NULL) OR account_id = $3)")
        .bind(user_id).bind(role_id).bind(account_id).fetch_optional(c).await)?;
    if exists.is_none() {
        on_tx!(&mut *tx, c => sqlx::query(
            "INSERT INTO role_assignments (user_id, role_id, account_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(user_id).bind(role_id).bind(account_id).bind(OffsetDateTime::now_utc()).execute(c).await.map(|r| r.rows_affected()))?;
    }
    Ok(exists.is_none())
}

/// Takes a role away, unless that leaves the tenant without a manager.
pub async fn unassign(
    db: &Db,
    user_id: i64,
    assignment_id: i64,
) -> Result<UserChange, sqlx::Error> {
    let mut tx = db.begin().await?;
    let Some(tenant_id) = tenant_of(&mut tx, user_id).await? else {
        tx.rollback().await?;
        return Ok(UserChange::NotFound);
    };
    let before = managers_in(&mut tx, tenant_id).await?;
    let done = on_tx!(&mut tx, c => sqlx::query("DELETE FROM role_assignments WHERE id = $1 AND user_id = $2")
        .bind(assignment_id).bind(user_id).execute(c).await.map(|r| r.rows_affected()))?;
    finish(tx, tenant_id, before, done == 1).await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Override {
    pub id: i64,
    pub permission: String,
    pub account_id: Option<i64>,
    pub account_name: Option<String>,
    pub allow: bool,
}

pub async fn overrides_of(db: &Db, user_id: i64) -> Result<Vec<Override>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, Override>(
        "SELECT o.id, o.permission, o.account_id, w.name AS account_name, o.allow
         FROM permission_overrides o LEFT JOIN whatsapp_accounts w ON w.id = o.account_id
         WHERE o.user_id = $1 ORDER BY o.permission, o.account_id")
        .bind(user_id).fetch_all(p).await)
}

/// Sets an override, replacing one for the same permission and account,
/// unless that leaves the tenant without a manager.
pub async fn set_override(
    db: &Db,
    user_id: i64,
    permission: Permission,
    account_id: Option<i64>,
    allow: bool,
) -> Result<UserChange, sqlx::Error> {
    let mut tx = db.begin().await?;
    let Some(tenant_id) = tenant_of(&mut tx, user_id).await? else {
        tx.rollback().await?;
        return Ok(UserChange::NotFound);
    };
    let before = managers_in(&mut tx, tenant_id).await?;
    on_tx!(&mut tx, c => sqlx::query(
        "DELETE FROM permission_overrides WHERE user_id = $1 AND permission = $2
         AND ((account_id IS NULL AND $3 IS NULL) OR account_id = $3)")
        .bind(user_id).bind(permission.key()).bind(account_id).execute(c).await.map(|r| r.rows_affected()))?;
    on_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO permission_overrides (user_id, permission, account_id, allow, created_at)
         VALUES ($1, $2, $3, $4, $5)")
        .bind(user_id).bind(permission.key()).bind(account_id).bind(allow)
        .bind(OffsetDateTime::now_utc()).execute(c).await.map(|r| r.rows_affected()))?;
    finish(tx, tenant_id, before, true).await
}

/// Removes an override, unless that leaves the tenant without a manager
/// (an allow override may be what makes someone one).
pub async fn remove_override(db: &Db, user_id: i64, id: i64) -> Result<UserChange, sqlx::Error> {
    let mut tx = db.begin().await?;
    let Some(tenant_id) = tenant_of(&mut tx, user_id).await? else {
        tx.rollback().await?;
        return Ok(UserChange::NotFound);
    };
    let before = managers_in(&mut tx, tenant_id).await?;
    let done = on_tx!(&mut tx, c => sqlx::query("DELETE FROM permission_overrides WHERE id = $1 AND user_id = $2")
        .bind(id).bind(user_id).execute(c).await.map(|r| r.rows_affected()))?;
    finish(tx, tenant_id, before, done == 1).await
}

// ---- the tenant keeps a manager ----
//
// After any change to roles, assignments, overrides or disabled users, at
// least one active user of the tenant must still hold users.manage and
// roles.manage for the whole tenant: otherwise nobody could ever give them
// back (a tenant that had no such user is not made worse, so its changes
// pass). The count before and after the change is taken inside the change's
// transaction, with the tenant's access changes serialised (SQLite: `BEGIN
// IMMEDIATE`; PostgreSQL: a transaction advisory lock per tenant), so two
// administrators stepping down at once cannot both succeed.

/// Base of the per-tenant PostgreSQL advisory lock keys.
const ACCESS_LOCK_BASE: i64 = 0x7569_6300_0000_0000;

async fn tenant_of(tx: &mut crate::db::Tx, user_id: i64) -> Result<Option<i64>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_scalar("SELECT tenant_id FROM users WHERE id = $1")
        .bind(user_id).fetch_optional(c).await)
}

/// Active users of the tenant who may manage users and roles tenant-wide;
/// on PostgreSQL it first takes the tenant's access lock.
pub async fn managers_in(tx: &mut crate::db::Tx, tenant_id: i64) -> Result<usize, sqlx::Error> {
    if let crate::db::Tx::Postgres(t) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(ACCESS_LOCK_BASE ^ tenant_id)
            .execute(&mut **t)
            .await?;
    }
    let admins: i64 = on_tx!(&mut *tx, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM users
         WHERE tenant_id = $1 AND disabled_at IS NULL AND platform_admin = TRUE")
        .bind(tenant_id).fetch_one(c).await)?;
    if admins > 0 {
        return Ok(usize::try_from(admins).unwrap_or(1));
    }
    let rows: Vec<(i64, String, Option<i64>, bool)> = on_tx!(&mut *tx, c => sqlx::query_as(
        "SELECT a.user_id, rp.permission, a.account_id, TRUE
         FROM role_assignments a
         JOIN role_permissions rp ON rp.role_id = a.role_id
         JOIN users u ON u.id = a.user_id
         WHERE u.tenant_id = $1 AND u.disabled_at IS NULL
           AND rp.permission IN ('users.manage', 'roles.manage')
         UNION ALL
         SELECT o.user_id, o.permission, o.account_id, o.allow
         FROM permission_overrides o JOIN users u ON u.id = o.user_id
         WHERE u.tenant_id = $1 AND u.disabled_at IS NULL
           AND o.permission IN ('users.manage', 'roles.manage')")
        .bind(tenant_id).fetch_all(c).await)?;
    let mut by_user: std::collections::BTreeMap<i64, Vec<GrantRow>> = Default::default();
    for (user, key, account_id, allow) in rows {
        if let Some(permission) = Permission::parse(&key) {
            by_user.entry(user).or_default().push(GrantRow {
                permission,
                account_id,
                allow,
            });
        }
    }
    Ok(by_user
        .into_values()
        .map(Grants::from_rows)
        .filter(|g| {
            g.can(Permission::UsersManage, super::Scope::Tenant)
                && g.can(Permission::RolesManage, super::Scope::Tenant)
        })
        .count())
}

/// Commits the change unless it took the tenant's last manager away.
async fn finish(
    mut tx: crate::db::Tx,
    tenant_id: i64,
    before: usize,
    changed: bool,
) -> Result<UserChange, sqlx::Error> {
    if !changed {
        tx.rollback().await?;
        return Ok(UserChange::NotFound);
    }
    if before > 0 && managers_in(&mut tx, tenant_id).await? == 0 {
        tx.rollback().await?;
        return Ok(UserChange::LastManager);
    }
    tx.commit().await?;
    Ok(UserChange::Done)
}

/// What the user may do in their own tenant (platform administrators: everything).
pub async fn grants(db: &Db, user: &User) -> Result<Grants, sqlx::Error> {
    if user.platform_admin {
        return Ok(Grants::platform_admin());
    }
    let rows: Vec<(String, Option<i64>, bool)> = on_db!(db, p => sqlx::query_as(
        "SELECT rp.permission, a.account_id, TRUE
         FROM role_assignments a JOIN role_permissions rp ON rp.role_id = a.role_id
         WHERE a.user_id = $1
         UNION ALL
         SELECT permission, account_id, allow FROM permission_overrides WHERE user_id = $1")
        .bind(user.id).fetch_all(p).await)?;
    Ok(Grants::from_rows(rows.into_iter().filter_map(
        |(key, account_id, allow)| {
            Permission::parse(&key).map(|permission| GrantRow {
                permission,
                account_id,
                allow,
            })
        },
    )))
}

// ---- one-time links ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// The first administrator of an empty installation.
    Setup,
    /// A new user chooses their password.
    Invite,
    /// A user whose password an administrator reset.
    Reset,
}

impl LinkPurpose {
    fn key(self) -> &'static str {
        match self {
            LinkPurpose::Setup => "setup",
            LinkPurpose::Invite => "invite",
            LinkPurpose::Reset => "reset",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Link {
    pub tenant_id: Option<i64>,
    pub user_id: Option<i64>,
    pub expires_at: OffsetDateTime,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new one-time link token (only its hash is stored).
pub async fn create_link(
    db: &Db,
    purpose: LinkPurpose,
    tenant_id: Option<i64>,
    user_id: Option<i64>,
    valid_for: Duration,
) -> Result<String, sqlx::Error> {
    use rand::RngExt;
    let bytes: [u8; 32] = rand::rng().random();
    let token = hex::encode(bytes);
    let now = OffsetDateTime::now_utc();
    let mut tx = db.begin().await?;
    // An earlier unused link of the same user (or the earlier setup link)
    // stops working: only the last one printed or shown is valid.
    if let Some(user) = user_id {
        on_tx!(&mut tx, c => sqlx::query(
            "UPDATE one_time_links SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
            .bind(now).bind(user).execute(c).await.map(|r| r.rows_affected()))?;
    } else if purpose == LinkPurpose::Setup {
        on_tx!(&mut tx, c => sqlx::query(
            "UPDATE one_time_links SET used_at = $1 WHERE purpose = 'setup' AND used_at IS NULL")
            .bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    }
    on_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO one_time_links (token_hash, purpose, tenant_id, user_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(token_hash(&token)).bind(purpose.key()).bind(tenant_id).bind(user_id).bind(now)
        .bind(now + valid_for).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(token)
}

/// Key of the PostgreSQL transaction lock that makes "no user and no setup
/// link yet, so create one" a single step across instances.
const FIRST_SETUP_LOCK_KEY: i64 = 0x7569_635f_7365_7475; // "uic_setu"

/// A setup link for an empty installation, only if there is no user and no
/// valid setup link yet (`None` otherwise). The check and the insert are one
/// transaction, serialised across instances (SQLite: `BEGIN IMMEDIATE`;
/// PostgreSQL: a transaction advisory lock), so instances starting together
/// create one link between them.
pub async fn create_first_setup_link(
    db: &Db,
    tenant_id: i64,
    valid_for: Duration,
) -> Result<Option<String>, sqlx::Error> {
    use rand::RngExt;
    let now = OffsetDateTime::now_utc();
    let mut tx = db.begin().await?;
    if let crate::db::Tx::Postgres(t) = &mut tx {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FIRST_SETUP_LOCK_KEY)
            .execute(&mut **t)
            .await?;
    }
    let users: i64 = on_tx!(&mut tx, c => sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(c).await)?;
    let links: i64 = on_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM one_time_links
         WHERE purpose = 'setup' AND used_at IS NULL AND expires_at > $1")
        .bind(now).fetch_one(c).await)?;
    if users > 0 || links > 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    let bytes: [u8; 32] = rand::rng().random();
    let token = hex::encode(bytes);
    on_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO one_time_links (token_hash, purpose, tenant_id, user_id, created_at, expires_at)
         VALUES ($1, 'setup', $2, NULL, $3, $4)")
        .bind(token_hash(&token)).bind(tenant_id).bind(now)
        .bind(now + valid_for).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(Some(token))
}

/// The link, if the token is one of this purpose, unused and not expired.
pub async fn peek_link(
    db: &Db,
    token: &str,
    purpose: LinkPurpose,
) -> Result<Option<Link>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, Link>(
        "SELECT tenant_id, user_id, expires_at FROM one_time_links
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3")
        .bind(token_hash(token)).bind(purpose.key()).bind(OffsetDateTime::now_utc()).fetch_optional(p).await)
}

/// Marks the link used inside `tx`; false when it was used (or expired)
/// meanwhile, so two tabs cannot both use it.
pub async fn use_link(
    tx: &mut crate::db::Tx,
    token: &str,
    purpose: LinkPurpose,
) -> Result<bool, sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    let done = on_tx!(tx, c => sqlx::query(
        "UPDATE one_time_links SET used_at = $1
         WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1")
        .bind(now).bind(token_hash(token)).bind(purpose.key()).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// What spending a one-time link came to.
#[derive(Debug)]
pub enum Redeemed {
    /// The user created or changed.
    Done(User),
    /// Used, expired or unknown: nothing changed.
    LinkGone,
    /// The e-mail address was taken meanwhile: nothing changed, the link
    /// still works.
    EmailTaken,
}

/// Creates the first administrator (a platform administrator with the
/// tenant's administrator role) through a setup link. Spending the link,
/// creating the user, giving the role and the audit entry are one
/// transaction: if any step fails the link is still valid, never spent for
/// nothing.
pub async fn redeem_setup(
    db: &Db,
    token: &str,
    email: &str,
    display_name: &str,
    password_hash: &str,
    lang: Lang,
    ip: &str,
) -> anyhow::Result<Redeemed> {
    let mut tx = db.begin().await?;
    let link: Option<Option<i64>> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT tenant_id FROM one_time_links
         WHERE token_hash = $1 AND purpose = 'setup' AND used_at IS NULL AND expires_at > $2")
        .bind(token_hash(token)).bind(OffsetDateTime::now_utc()).fetch_optional(c).await)?;
    let Some(Some(tenant_id)) = link else {
        tx.rollback().await?;
        return Ok(Redeemed::LinkGone);
    };
    // Spent first, in the transaction: two tabs cannot make two
    // administrators (the second waits for the first, then finds it spent).
    if !use_link(&mut tx, token, LinkPurpose::Setup).await? {
        tx.rollback().await?;
        return Ok(Redeemed::LinkGone);
    }
    ensure_builtin_roles_in(&mut tx, tenant_id).await?;
    let new = NewUser {
        tenant_id,
        email,
        display_name,
        password_hash: Some(password_hash),
        lang,
        platform_admin: true,
    };
    let Some(user) = create_user_in(&mut tx, &new).await? else {
        tx.rollback().await?;
        return Ok(Redeemed::EmailTaken);
    };
    let role: Option<i64> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT id FROM roles WHERE tenant_id = $1 AND builtin = $2")
        .bind(tenant_id).bind(BuiltinRole::Administrator.key()).fetch_optional(c).await)?;
    if let Some(role) = role {
        assign_in(&mut tx, user.id, role, None).await?;
    }
    audit_own_in(&mut tx, &user, "setup.administrator", ip).await?;
    tx.commit().await?;
    Ok(Redeemed::Done(user))
}

/// Sets the password of the user an invitation or reset link is for.
/// Spending the link, the new password and the audit entry are one
/// transaction: a failure leaves the link valid and the password unchanged.
pub async fn redeem_password_link(
    db: &Db,
    token: &str,
    purpose: LinkPurpose,
    user: &User,
    password_hash: &str,
    ip: &str,
) -> anyhow::Result<Redeemed> {
    let mut tx = db.begin().await?;
    let for_user: Option<Option<i64>> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT user_id FROM one_time_links
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3")
        .bind(token_hash(token)).bind(purpose.key()).bind(OffsetDateTime::now_utc()).fetch_optional(c).await)?;
    if for_user != Some(Some(user.id)) || !use_link(&mut tx, token, purpose).await? {
        tx.rollback().await?;
        return Ok(Redeemed::LinkGone);
    }
    set_password_in(&mut tx, user.id, password_hash).await?;
    audit_own_in(&mut tx, user, "password.set", ip).await?;
    tx.commit().await?;
    Ok(Redeemed::Done(user.clone()))
}

/// An audit entry of something a user did to their own account before
/// being logged in (setup, choosing a password).
async fn audit_own_in(
    tx: &mut crate::db::Tx,
    user: &User,
    action: &str,
    ip: &str,
) -> Result<(), sqlx::Error> {
    crate::audit::record_in(
        tx,
        &crate::audit::Entry {
            tenant_id: Some(user.tenant_id),
            user_id: Some(user.id),
            actor: &user.email,
            action,
            target: format!("user:{}", user.id),
            detail: String::new(),
            ip: Some(ip),
        },
    )
    .await
}

// ---- login throttling ----
//
// Failures are counted per (login name, address), not per login name: five
// wrong passwords from one address slow down that address for that name
// only, so nobody can lock a colleague (or the platform administrator) out
// by failing on purpose from elsewhere. Failures for one name from many
// addresses (a spread-out guessing attack) only add a short, bounded delay
// before the answer; the right password still gets in.

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

/// Active users holding the tenant's built-in administrator role for the
/// whole tenant (the rule that the tenant keeps someone able to manage it
/// is `managers_in`, on permissions, not on this role).
pub async fn active_administrators(db: &Db, tenant_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    on_db!(db, p => sqlx::query_scalar(
        "SELECT DISTINCT u.id FROM users u
         JOIN role_assignments a ON a.user_id = u.id AND a.account_id IS NULL
         JOIN roles r ON r.id = a.role_id AND r.builtin = 'administrator'
         WHERE u.tenant_id = $1 AND r.tenant_id = $1 AND u.disabled_at IS NULL")
        .bind(tenant_id).fetch_all(p).await)
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
