//! Who may do what: role assignments, permission overrides, grants, the keep-a-manager rule.

use super::users::User;
use crate::auth::{Access, AccessError, Actor, GrantRow, Grants, Permission};
use crate::db::Db;
use crate::{on_db, on_tx};
use time::OffsetDateTime;

// ---- assignments and overrides ----
//
// Every function here takes an `Access` for `users.manage` over the whole
// tenant and finds only that tenant's users, roles and accounts: an id of
// another tenant's is not found.

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Assignment {
    pub id: i64,
    pub role_id: i64,
    pub role_name: String,
    pub account_id: Option<i64>,
    pub account_name: Option<String>,
}

/// A user's roles.
pub async fn assignments_of(
    db: &Db,
    access: &Access,
    user_id: i64,
) -> Result<Vec<Assignment>, AccessError> {
    access.tenant_wide(Permission::UsersManage)?;
    Ok(on_db!(db, p => sqlx::query_as::<_, Assignment>(
        "SELECT a.id, a.role_id, r.name AS role_name, a.account_id, w.name AS account_name
         FROM role_assignments a JOIN roles r ON r.id = a.role_id
         JOIN users u ON u.id = a.user_id
         LEFT JOIN whatsapp_accounts w ON w.id = a.account_id
         WHERE a.user_id = $1 AND u.tenant_id = $2
         ORDER BY a.account_id IS NOT NULL, w.name, r.name")
        .bind(user_id).bind(access.tenant_id()).fetch_all(p).await)?)
}

/// Gives a role (tenant-wide when `account_id` is `None`). The user, the
/// role and the account must be the access's tenant's (`NotFound`), and
/// the actor must hold each of the role's permissions in that scope
/// (`CannotGiveMore`). Giving it twice changes nothing (`Unchanged`).
pub async fn assign(
    db: &Db,
    access: &Access,
    user_id: i64,
    role_id: i64,
    account_id: Option<i64>,
) -> Result<UserChange, AccessError> {
    access.tenant_wide(Permission::UsersManage)?;
    let mut tx = db.begin().await?;
    let change = assign_in(&mut tx, access, user_id, role_id, account_id).await?;
    tx.commit().await?;
    Ok(change)
}

/// `assign` inside a transaction.
pub async fn assign_in(
    tx: &mut crate::db::Tx,
    access: &Access,
    user_id: i64,
    role_id: i64,
    account_id: Option<i64>,
) -> Result<UserChange, AccessError> {
    access.tenant_wide(Permission::UsersManage)?;
    let tenant_id = access.tenant_id();
    let Some(permissions) = super::roles::permissions_in(tx, tenant_id, role_id).await? else {
        return Ok(UserChange::NotFound);
    };
    if !in_tenant(tx, tenant_id, user_id, account_id).await? {
        return Ok(UserChange::NotFound);
    }
    if !access.may_give(&permissions, account_id) {
        return Ok(UserChange::CannotGiveMore);
    }
    // The unique index on (user, role, account) makes two at once one.
    let added = on_tx!(&mut *tx, c => sqlx::query(
        "INSERT INTO role_assignments (user_id, role_id, account_id, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING")
        .bind(user_id).bind(role_id).bind(account_id).bind(OffsetDateTime::now_utc())
        .execute(c).await.map(|r| r.rows_affected()))?;
    Ok(if added == 1 {
        UserChange::Done
    } else {
        UserChange::Unchanged
    })
}

/// Whether the user, and the account if any, are the tenant's.
async fn in_tenant(
    tx: &mut crate::db::Tx,
    tenant_id: i64,
    user_id: i64,
    account_id: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let found: i64 = on_tx!(&mut *tx, c => sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM users WHERE id = $1 AND tenant_id = $2)
              + (SELECT COUNT(*) FROM whatsapp_accounts WHERE id = $3 AND tenant_id = $2)")
        .bind(user_id).bind(tenant_id).bind(account_id).fetch_one(c).await)?;
    Ok(found == 1 + i64::from(account_id.is_some()))
}

/// Takes a role away, unless that leaves the tenant without a manager.
/// Taking a role away is giving less, but only for roles the actor could
/// give (`CannotGiveMore` otherwise).
pub async fn unassign(
    db: &Db,
    access: &Access,
    user_id: i64,
    assignment_id: i64,
) -> Result<UserChange, AccessError> {
    access.tenant_wide(Permission::UsersManage)?;
    let tenant_id = access.tenant_id();
    let mut tx = db.begin().await?;
    let before = managers_in(&mut tx, tenant_id).await?;
    let found: Option<(i64, Option<i64>)> = on_tx!(&mut tx, c => sqlx::query_as(
        "SELECT a.role_id, a.account_id FROM role_assignments a JOIN users u ON u.id = a.user_id
         WHERE a.id = $1 AND a.user_id = $2 AND u.tenant_id = $3")
        .bind(assignment_id).bind(user_id).bind(tenant_id).fetch_optional(c).await)?;
    let Some((role_id, account_id)) = found else {
        tx.rollback().await?;
        return Ok(UserChange::NotFound);
    };
    let permissions = super::roles::permissions_in(&mut tx, tenant_id, role_id)
        .await?
        .unwrap_or_default();
    if !access.may_give(&permissions, account_id) {
        tx.rollback().await?;
        return Ok(UserChange::CannotGiveMore);
    }
    let done = on_tx!(&mut tx, c => sqlx::query("DELETE FROM role_assignments WHERE id = $1 AND user_id = $2")
        .bind(assignment_id).bind(user_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(finish(tx, tenant_id, before, done == 1).await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Override {
    pub id: i64,
    pub permission: String,
    pub account_id: Option<i64>,
    pub account_name: Option<String>,
    pub allow: bool,
}

/// A user's permission overrides.
pub async fn overrides_of(
    db: &Db,
    access: &Access,
    user_id: i64,
) -> Result<Vec<Override>, AccessError> {
    access.tenant_wide(Permission::UsersManage)?;
    Ok(on_db!(db, p => sqlx::query_as::<_, Override>(
        "SELECT o.id, o.permission, o.account_id, w.name AS account_name, o.allow
         FROM permission_overrides o JOIN users u ON u.id = o.user_id
         LEFT JOIN whatsapp_accounts w ON w.id = o.account_id
         WHERE o.user_id = $1 AND u.tenant_id = $2 ORDER BY o.permission, o.account_id")
        .bind(user_id).bind(access.tenant_id()).fetch_all(p).await)?)
}

/// Sets an override, replacing one for the same permission and account,
/// unless that leaves the tenant without a manager. An allow is given only
/// by an actor who holds the permission in that scope (`CannotGiveMore`);
/// anyone with the access may deny.
pub async fn set_override(
    db: &Db,
    access: &Access,
    user_id: i64,
    permission: Permission,
    account_id: Option<i64>,
    allow: bool,
) -> Result<UserChange, AccessError> {
    access.tenant_wide(Permission::UsersManage)?;
    let tenant_id = access.tenant_id();
    if allow && !access.may_give(&[permission], account_id) {
        return Ok(UserChange::CannotGiveMore);
    }
    let mut tx = db.begin().await?;
    let before = managers_in(&mut tx, tenant_id).await?;
    if !in_tenant(&mut tx, tenant_id, user_id, account_id).await? {
        tx.rollback().await?;
        return Ok(UserChange::NotFound);
    }
    on_tx!(&mut tx, c => sqlx::query(
        "DELETE FROM permission_overrides WHERE user_id = $1 AND permission = $2
         AND ((account_id IS NULL AND $3 IS NULL) OR account_id = $3)")
        .bind(user_id).bind(permission.key()).bind(account_id).execute(c).await.map(|r| r.rows_affected()))?;
    on_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO permission_overrides (user_id, permission, account_id, allow, created_at)
         VALUES ($1, $2, $3, $4, $5)")
        .bind(user_id).bind(permission.key()).bind(account_id).bind(allow)
        .bind(OffsetDateTime::now_utc()).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(finish(tx, tenant_id, before, true).await?)
}

/// Removes an override, unless that leaves the tenant without a manager
/// (an allow override may be what makes someone one). Lifting a deny gives
/// the permission back: only an actor holding it may (`CannotGiveMore`).
pub async fn remove_override(
    db: &Db,
    access: &Access,
    user_id: i64,
    id: i64,
) -> Result<UserChange, AccessError> {
    access.tenant_wide(Permission::UsersManage)?;
    let tenant_id = access.tenant_id();
    let mut tx = db.begin().await?;
    let before = managers_in(&mut tx, tenant_id).await?;
    let found: Option<(String, Option<i64>, bool)> = on_tx!(&mut tx, c => sqlx::query_as(
        "SELECT o.permission, o.account_id, o.allow FROM permission_overrides o
         JOIN users u ON u.id = o.user_id WHERE o.id = $1 AND o.user_id = $2 AND u.tenant_id = $3")
        .bind(id).bind(user_id).bind(tenant_id).fetch_optional(c).await)?;
    let Some((key, account_id, allow)) = found else {
        tx.rollback().await?;
        return Ok(UserChange::NotFound);
    };
    if !allow
        && let Some(p) = Permission::parse(&key)
        && !access.may_give(&[p], account_id)
    {
        tx.rollback().await?;
        return Ok(UserChange::CannotGiveMore);
    }
    let done = on_tx!(&mut tx, c => sqlx::query("DELETE FROM permission_overrides WHERE id = $1 AND user_id = $2")
        .bind(id).bind(user_id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(finish(tx, tenant_id, before, done == 1).await?)
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

/// What a change to who may do what came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    Done,
    /// Nothing to do: it was so already.
    Unchanged,
    NotFound,
    /// Refused: the actor would give more than they hold.
    CannotGiveMore,
    /// Refused: nobody active in the tenant could manage users and roles
    /// any more.
    LastManager,
}

/// Base of the per-tenant PostgreSQL advisory lock keys.
const ACCESS_LOCK_BASE: i64 = 0x7569_6300_0000_0000;

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
            g.can(Permission::UsersManage, crate::auth::Scope::Tenant)
                && g.can(Permission::RolesManage, crate::auth::Scope::Tenant)
        })
        .count())
}

/// Commits the change unless it took the tenant's last manager away.
pub(super) async fn finish(
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

/// The actor a logged-in user is: in their own tenant, or for a platform
/// administrator in `switched_to` if set (the tenant they switched into).
pub async fn actor(db: &Db, user: &User, switched_to: Option<i64>) -> Result<Actor, sqlx::Error> {
    let tenant_id = match switched_to {
        Some(t) if user.platform_admin => t,
        _ => user.tenant_id,
    };
    Ok(Actor::user(tenant_id, user.id, grants(db, user).await?))
}

/// What the user may do in their own tenant (platform administrators:
/// everything). For showing and comparing; acting goes through `actor`.
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
