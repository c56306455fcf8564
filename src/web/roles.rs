//! Roles of a tenant: the four built-in ones (read-only) and the tenant's
//! own, made of any permissions. Needs `roles.manage` (tenant-wide).

use super::{
    Layout, Routes, Staff, WebResult, form_page, form_value, form_values, page, see_other,
};
use crate::AppState;
use crate::auth::store::{self as auth_store, Role, RoleChange};
use crate::auth::{Permission, Scope};
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};

pub fn routes(r: Routes) -> Routes {
    r.get("/roles", list)
        .get("/roles/new", new_page)
        .post("/roles", create)
        .get("/roles/{id}", show)
        .post("/roles/{id}", update)
        .post("/roles/{id}/delete", delete)
}

type Pairs = Form<Vec<(String, String)>>;

#[derive(Template)]
#[template(path = "roles/list.html")]
struct ListPage {
    p: Layout,
    roles: Vec<Role>,
    total: usize,
}

async fn list(State(state): State<AppState>, staff: Staff) -> WebResult {
    staff.require(Permission::RolesManage, Scope::Tenant)?;
    page(ListPage {
        p: staff.layout(staff.t().nav_roles, "/roles"),
        roles: auth_store::list_roles(&state.db, staff.tenant_id).await?,
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

fn edit_page(
    staff: &Staff,
    role: Option<&Role>,
    name: &str,
    description: &str,
    checked: &[Permission],
    error: Option<String>,
) -> WebResult {
    let lines = Permission::ALL
        .iter()
        .map(|p| PermissionLine {
            key: p.key(),
            label: p.label(staff.lang),
            checked: checked.contains(p),
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
            name: name.to_string(),
            description: description.to_string(),
            lines,
            users: role.map_or(0, |r| r.users),
            error,
        },
        failed,
    )
}

async fn new_page(staff: Staff) -> WebResult {
    staff.require(Permission::RolesManage, Scope::Tenant)?;
    edit_page(&staff, None, "", "", &[], None)
}

struct RoleForm {
    name: String,
    description: String,
    permissions: Vec<Permission>,
}

fn read(f: &[(String, String)]) -> RoleForm {
    RoleForm {
        name: form_value(f, "name").unwrap_or("").trim().to_string(),
        description: form_value(f, "description")
            .unwrap_or("")
            .trim()
            .to_string(),
        permissions: form_values(f, "permission")
            .filter_map(Permission::parse)
            .collect(),
    }
}

/// The first problem with the form; `before` is what the role held (a
/// permission added must be one the staff member holds tenant-wide, or
/// roles would be a way to hand out more than one has).
fn check(staff: &Staff, r: &RoleForm, before: &[Permission]) -> Option<String> {
    if r.name.is_empty() || r.name.chars().count() > 60 {
        return Some(staff.t().role_name_missing.to_string());
    }
    if r.description.chars().count() > 300 {
        return Some(staff.t().too_long.to_string());
    }
    let added = r.permissions.iter().filter(|p| !before.contains(p));
    if added.into_iter().any(|p| !staff.can(*p, Scope::Tenant)) {
        return Some(staff.t().cannot_give_more.to_string());
    }
    None
}

async fn create(State(state): State<AppState>, staff: Staff, Form(f): Pairs) -> WebResult {
    staff.require(Permission::RolesManage, Scope::Tenant)?;
    let r = read(&f);
    if let Some(e) = check(&staff, &r, &[]) {
        return edit_page(
            &staff,
            None,
            &r.name,
            &r.description,
            &r.permissions,
            Some(e),
        );
    }
    let Some(id) = auth_store::create_role(
        &state.db,
        staff.tenant_id,
        &r.name,
        &r.description,
        &r.permissions,
    )
    .await?
    else {
        let e = staff.t().role_name_taken.to_string();
        return edit_page(
            &staff,
            None,
            &r.name,
            &r.description,
            &r.permissions,
            Some(e),
        );
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

async fn load(state: &AppState, staff: &Staff, id: i64) -> WebResult<Role> {
    staff.require(Permission::RolesManage, Scope::Tenant)?;
    auth_store::find_role(&state.db, staff.tenant_id, id)
        .await?
        .ok_or_else(|| staff.not_found())
}

async fn show(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    let role = load(&state, &staff, id).await?;
    edit_page(
        &staff,
        Some(&role),
        &role.name,
        &role.description,
        &role.permissions,
        None,
    )
}

async fn update(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Pairs,
) -> WebResult {
    let role = load(&state, &staff, id).await?;
    let r = read(&f);
    if let Some(e) = check(&staff, &r, &role.permissions) {
        return edit_page(
            &staff,
            Some(&role),
            &r.name,
            &r.description,
            &r.permissions,
            Some(e),
        );
    }
    let t = staff.t();
    match auth_store::update_role(
        &state.db,
        staff.tenant_id,
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
                &role.name,
                &role.description,
                &role.permissions,
                Some(t.role_builtin.into()),
            );
        }
        RoleChange::NameTaken => {
            return edit_page(
                &staff,
                Some(&role),
                &r.name,
                &r.description,
                &r.permissions,
                Some(t.role_name_taken.into()),
            );
        }
        RoleChange::LastManager => {
            return edit_page(
                &staff,
                Some(&role),
                &r.name,
                &r.description,
                &r.permissions,
                Some(t.last_administrator.into()),
            );
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
    let role = load(&state, &staff, id).await?;
    match auth_store::delete_role(&state.db, staff.tenant_id, id).await? {
        RoleChange::Done => {}
        RoleChange::NotFound => return Err(staff.not_found()),
        refused => {
            let t = staff.t();
            let e = if refused == RoleChange::LastManager {
                t.last_administrator
            } else {
                t.role_builtin
            };
            return edit_page(
                &staff,
                Some(&role),
                &role.name,
                &role.description,
                &role.permissions,
                Some(e.into()),
            );
        }
    }
    staff
        .audit(&state, "role.delete", format!("role:{id}"), role.name)
        .await?;
    staff.flash(staff.t().deleted).await;
    see_other("/roles")
}
