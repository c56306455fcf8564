//! Roles of a tenant: the four built-in ones (read-only) and the tenant's
//! own, made of any permissions. Needs `roles.manage` (tenant-wide).

use super::{Form, Layout, Routes, Staff, WebResult, form_page, page, see_other};
use crate::AppState;
use crate::auth::store::{self as auth_store, Role, RoleChange};
use crate::auth::{Access, Permission, Scope};
use askama::Template;
use axum::extract::{Path, State};
use serde::Deserialize;

pub fn routes(r: Routes) -> Routes {
    r.get("/roles", list)
        .get("/roles/new", new_page)
        .post("/roles", create)
        .get("/roles/{id}", show)
        .post("/roles/{id}", update)
        .post("/roles/{id}/delete", delete)
}

/// The role form as sent (each checked permission repeats `permission`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct RoleFields {
    name: String,
    description: String,
    permission: Vec<String>,
}

#[derive(Template)]
#[template(path = "roles/list.html")]
struct ListPage {
    p: Layout,
    roles: Vec<Role>,
    total: usize,
}

async fn list(State(state): State<AppState>, staff: Staff) -> WebResult {
    let access = staff.require(Permission::RolesManage, Scope::Tenant)?;
    page(ListPage {
        p: staff.layout(staff.t().nav_roles, "/roles"),
        roles: auth_store::list_roles(&state.db, &access).await?,
        total: Permission::ALL.len(),
    })
}

/// One permission's line in the role form.
struct PermissionLine {
    key: &'static str,
    label: &'static str,
    checked: bool,
    tenant_only: bool,
}

#[derive(Template)]
#[template(path = "roles/show.html")]
struct EditPage {
    p: Layout,
    /// `None`: a new role.
    id: Option<i64>,
    builtin: bool,
    name: String,
    description: String,
    lines: Vec<PermissionLine>,
    users: i64,
    error: Option<String>,
}

/// The role editor: a new role (`role` is `None`) or a stored one, showing
/// `shown` (what was typed, or what is stored).
fn edit_page(
    staff: &Staff,
    role: Option<&Role>,
    shown: &RoleForm,
    error: Option<String>,
) -> WebResult {
    let lines = Permission::ALL
        .iter()
        .map(|p| PermissionLine {
            key: p.key(),
            label: p.label(staff.lang),
            checked: shown.permissions.contains(p),
            tenant_only: p.tenant_only(),
        })
        .collect();
    let title = role.map_or(staff.t().role_new_title.to_string(), |r| r.name.clone());
    let failed = error.is_some();
    form_page(
        EditPage {
            p: staff.layout(title, "/roles"),
            id: role.map(|r| r.id),
            builtin: role.is_some_and(|r| r.builtin.is_some()),
            name: shown.name.clone(),
            description: shown.description.clone(),
            lines,
            users: role.map_or(0, |r| r.users),
            error,
        },
        failed,
    )
}

async fn new_page(staff: Staff) -> WebResult {
    staff.require(Permission::RolesManage, Scope::Tenant)?;
    edit_page(&staff, None, &RoleForm::default(), None)
}

/// A role's fields, as typed or as stored.
#[derive(Default)]
struct RoleForm {
    name: String,
    description: String,
    permissions: Vec<Permission>,
}

impl RoleForm {
    fn of(role: &Role) -> RoleForm {
        RoleForm {
            name: role.name.clone(),
            description: role.description.clone(),
            permissions: role.permissions.clone(),
        }
    }
}

fn read(f: &RoleFields) -> RoleForm {
    RoleForm {
        name: f.name.trim().to_string(),
        description: f.description.trim().to_string(),
        permissions: f
            .permission
            .iter()
            .filter_map(|k| Permission::parse(k))
            .collect(),
    }
}

/// The first problem with the form's fields (what may be given is the
/// store's rule: `RoleChange::CannotGiveMore`).
fn check(staff: &Staff, r: &RoleForm) -> Option<String> {
    if r.name.is_empty() || r.name.chars().count() > 60 {
        return Some(staff.t().role_name_missing.to_string());
    }
    if r.description.chars().count() > 300 {
        return Some(staff.t().too_long.to_string());
    }
    None
}

/// What a refused change says.
fn refusal(staff: &Staff, change: RoleChange) -> String {
    let t = staff.t();
    match change {
        RoleChange::Builtin => t.role_builtin,
        RoleChange::NameTaken => t.role_name_taken,
        RoleChange::CannotGiveMore => t.cannot_give_more,
        RoleChange::LastManager => t.last_administrator,
        RoleChange::Done | RoleChange::NotFound => t.error_not_found,
    }
    .to_string()
}

async fn create(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<RoleFields>,
) -> WebResult {
    let access = staff.require(Permission::RolesManage, Scope::Tenant)?;
    let r = read(&f);
    if let Some(e) = check(&staff, &r) {
        return edit_page(&staff, None, &r, Some(e));
    }
    let created =
        auth_store::create_role(&state.db, &access, &r.name, &r.description, &r.permissions)
            .await?;
    let id = match created {
        Ok(id) => id,
        Err(refused) => {
            let e = refusal(&staff, refused);
            return edit_page(&staff, None, &r, Some(e));
        }
    };
    let keys: Vec<&str> = r.permissions.iter().map(|p| p.key()).collect();
    staff
        .audit(
            &state,
            "role.create",
            format!("role:{id}"),
            format!("{} · {}", r.name, keys.join(" ")),
        )
        .await?;
    staff.flash(staff.t().saved).await;
    see_other("/roles")
}

/// The role, with the access that found it.
async fn load(state: &AppState, staff: &Staff, id: i64) -> WebResult<(Access, Role)> {
    let access = staff.require(Permission::RolesManage, Scope::Tenant)?;
    let role = auth_store::find_role(&state.db, &access, id)
        .await?
        .ok_or_else(|| staff.not_found())?;
    Ok((access, role))
}

async fn show(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    let (_, role) = load(&state, &staff, id).await?;
    edit_page(&staff, Some(&role), &RoleForm::of(&role), None)
}

async fn update(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<RoleFields>,
) -> WebResult {
    let (access, role) = load(&state, &staff, id).await?;
    let r = read(&f);
    if let Some(e) = check(&staff, &r) {
        return edit_page(&staff, Some(&role), &r, Some(e));
    }
    let t = staff.t();
    match auth_store::update_role(
        &state.db,
        &access,
        id,
        &r.name,
        &r.description,
        &r.permissions,
    )
    .await?
    {
        RoleChange::Done => {}
        RoleChange::NotFound => return Err(staff.not_found()),
        RoleChange::Builtin => {
            return edit_page(
                &staff,
                Some(&role),
                &RoleForm::of(&role),
                Some(t.role_builtin.into()),
            );
        }
        refused => {
            let e = refusal(&staff, refused);
            return edit_page(&staff, Some(&role), &r, Some(e));
        }
    }
    let keys: Vec<&str> = r.permissions.iter().map(|p| p.key()).collect();
    staff
        .audit(
            &state,
            "role.update",
            format!("role:{id}"),
            format!("{} · {}", r.name, keys.join(" ")),
        )
        .await?;
    staff.flash(t.saved).await;
    see_other("/roles")
}

async fn delete(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    let (access, role) = load(&state, &staff, id).await?;
    match auth_store::delete_role(&state.db, &access, id).await? {
        RoleChange::Done => {}
        RoleChange::NotFound => return Err(staff.not_found()),
        refused => {
            let e = refusal(&staff, refused);
            return edit_page(&staff, Some(&role), &RoleForm::of(&role), Some(e));
        }
    }
    staff
        .audit(&state, "role.delete", format!("role:{id}"), role.name)
        .await?;
    staff.flash(staff.t().deleted).await;
    see_other("/roles")
}
