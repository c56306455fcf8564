//! Roles and their permissions: the built-in ones, a tenant's own (create, update, delete).

use super::grants::{UserChange, finish, managers_in};
use crate::auth::{Access, AccessError, BuiltinRole, Permission};
use crate::db::Db;
use crate::{on_db, on_tx};
use time::OffsetDateTime;

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

/// Who may read a tenant's roles: their editors, and user managers who
/// give them.
const READ_ROLES: [Permission; 2] = [Permission::RolesManage, Permission::UsersManage];

/// The tenant's roles, built-in ones first.
pub async fn list_roles(db: &Db, access: &Access) -> Result<Vec<Role>, AccessError> {
    access.tenant_wide_any(&READ_ROLES)?;
    let tenant_id = access.tenant_id();
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

/// One of the tenant's roles (another tenant's: `None`).
pub async fn find_role(db: &Db, access: &Access, id: i64) -> Result<Option<Role>, AccessError> {
    access.tenant_wide_any(&READ_ROLES)?;
    let tenant_id = access.tenant_id();
    let sql = format!("{ROLE_SELECT} WHERE r.tenant_id = $1 AND r.id = $2");
    let rows = on_db!(db, p => sqlx::query_as::<_, RoleRow>(&sql).bind(tenant_id).bind(id).fetch_all(p).await)?;
    let perms = role_permissions(db, &[id]).await?;
    Ok(assemble(rows, perms).pop())
}

/// A role's permissions, read in a transaction (`None`: not the tenant's).
pub(super) async fn permissions_in(
    tx: &mut crate::db::Tx,
    tenant_id: i64,
    role_id: i64,
) -> Result<Option<Vec<Permission>>, sqlx::Error> {
    let found: Option<i64> = on_tx!(&mut *tx, c => sqlx::query_scalar(
        "SELECT id FROM roles WHERE id = $1 AND tenant_id = $2")
        .bind(role_id).bind(tenant_id).fetch_optional(c).await)?;
    if found.is_none() {
        return Ok(None);
    }
    let keys: Vec<String> = on_tx!(&mut *tx, c => sqlx::query_scalar(
        "SELECT permission FROM role_permissions WHERE role_id = $1")
        .bind(role_id).fetch_all(c).await)?;
    Ok(Some(
        keys.iter().filter_map(|k| Permission::parse(k)).collect(),
    ))
}

/// Creates a role of the tenant: `Err(NameTaken)` when the name is
/// taken, `Err(CannotGiveMore)` when the actor does not hold each of its
/// permissions tenant-wide (or roles would be a way to hand out more than
/// one has).
pub async fn create_role(
    db: &Db,
    access: &Access,
    name: &str,
    description: &str,
    permissions: &[Permission],
) -> Result<Result<i64, RoleChange>, AccessError> {
    access.tenant_wide(Permission::RolesManage)?;
    let tenant_id = access.tenant_id();
    if !access.may_give(permissions, None) {
        return Ok(Err(RoleChange::CannotGiveMore));
    }
    let now = OffsetDateTime::now_utc();
    let mut tx = db.begin().await?;
    let id: Option<i64> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "INSERT INTO roles (tenant_id, builtin, name, description, created_at, updated_at)
         VALUES ($1, NULL, $2, $3, $4, $4) ON CONFLICT (tenant_id, name) DO NOTHING RETURNING id")
        .bind(tenant_id).bind(name.trim()).bind(description.trim()).bind(now).fetch_optional(c).await)?;
    let Some(id) = id else {
        tx.rollback().await?;
        return Ok(Err(RoleChange::NameTaken));
    };
    for p in permissions {
        on_tx!(&mut tx, c => sqlx::query("INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)")
            .bind(id).bind(p.key()).execute(c).await.map(|r| r.rows_affected()))?;
    }
    tx.commit().await?;
    Ok(Ok(id))
}

/// Why a role could not be changed.
#[derive(Debug, PartialEq, Eq)]
pub enum RoleChange {
    Done,
    NotFound,
    Builtin,
    NameTaken,
    /// Refused: a permission added is one the actor does not hold
    /// tenant-wide.
    CannotGiveMore,
    /// Refused: nobody active in the tenant could manage users and roles
    /// any more.
    LastManager,
}

/// Renames a tenant's own role and replaces its permissions (built-in roles
/// keep what the code gives them). A permission added must be one the
/// actor holds tenant-wide (`CannotGiveMore`); read and changed in one
/// transaction.
pub async fn update_role(
    db: &Db,
    access: &Access,
    id: i64,
    name: &str,
    description: &str,
    permissions: &[Permission],
) -> Result<RoleChange, AccessError> {
    access.tenant_wide(Permission::RolesManage)?;
    let tenant_id = access.tenant_id();
    let Some(role) = find_role(db, access, id).await? else {
        return Ok(RoleChange::NotFound);
    };
    if role.builtin.is_some() {
        return Ok(RoleChange::Builtin);
    }
    let mut tx = db.begin().await?;
    let before = managers_in(&mut tx, tenant_id).await?;
    let Some(held) = permissions_in(&mut tx, tenant_id, id).await? else {
        tx.rollback().await?;
        return Ok(RoleChange::NotFound);
    };
    let added: Vec<Permission> = permissions
        .iter()
        .filter(|p| !held.contains(p))
        .copied()
        .collect();
    if !access.may_give(&added, None) {
        tx.rollback().await?;
        return Ok(RoleChange::CannotGiveMore);
    }
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
        UserChange::Done | UserChange::Unchanged => RoleChange::Done,
        UserChange::NotFound => RoleChange::NotFound,
        UserChange::CannotGiveMore => RoleChange::CannotGiveMore,
        UserChange::LastManager => RoleChange::LastManager,
    }
}

/// Deletes a tenant's own role and its assignments.
pub async fn delete_role(db: &Db, access: &Access, id: i64) -> Result<RoleChange, AccessError> {
    access.tenant_wide(Permission::RolesManage)?;
    let tenant_id = access.tenant_id();
    let Some(role) = find_role(db, access, id).await? else {
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
