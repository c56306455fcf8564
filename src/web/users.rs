//! Users of a tenant: create or invite, disable, roles per account,
//! permission overrides. Everything needs `users.manage` (tenant-wide).
//!
//! Nobody hands out more than they hold: a role or an allow override is
//! given only when the staff member has each of its permissions in the same
//! scope.

use super::{Layout, Routes, Staff, WebResult, form_page, form_value, page, see_other};
use crate::AppState;
use crate::auth::store::{
    self as auth_store, Assignment, NewUser, Override, Role, User, UserChange,
};
use crate::auth::{Lang, Permission, Scope, password};
use crate::tenancy::{Account, store as accounts};
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};

pub fn routes(r: Routes) -> Routes {
    r.get("/users", list)
        .get("/users/new", new_page)
        .post("/users", create)
        .get("/users/{id}", show)
        .post("/users/{id}/disable", disable)
        .post("/users/{id}/enable", enable)
        .post("/users/{id}/link", new_link)
        .post("/users/{id}/roles", add_role)
        .post("/users/{id}/roles/{assignment}/delete", remove_role)
        .post("/users/{id}/overrides", add_override)
        .post(
            "/users/{id}/overrides/{override_id}/delete",
            remove_override,
        )
}

type Pairs = Form<Vec<(String, String)>>;

#[derive(Template)]
#[template(path = "users/list.html")]
struct ListPage {
    p: Layout,
    users: Vec<User>,
}

async fn list(State(state): State<AppState>, staff: Staff) -> WebResult {
    staff.require(Permission::UsersManage, Scope::Tenant)?;
    let users = auth_store::list_users(&state.db, staff.tenant_id).await?;
    page(ListPage {
        p: staff.layout(staff.t().nav_users, "/users"),
        users,
    })
}

#[derive(Template)]
#[template(path = "users/new.html")]
struct NewPage {
    p: Layout,
    roles: Vec<Role>,
    accounts: Vec<Account>,
    email: String,
    name: String,
    error: Option<String>,
}

async fn new_form(
    state: &AppState,
    staff: &Staff,
    email: &str,
    name: &str,
    error: Option<String>,
) -> WebResult {
    let failed = error.is_some();
    form_page(
        NewPage {
            p: staff.layout(staff.t().user_new_title, "/users"),
            roles: auth_store::list_roles(&state.db, staff.tenant_id).await?,
            accounts: accounts::accounts_of(&state.db, staff.tenant_id).await?,
            email: email.to_string(),
            name: name.to_string(),
            error,
        },
        failed,
    )
}

async fn new_page(State(state): State<AppState>, staff: Staff) -> WebResult {
    staff.require(Permission::UsersManage, Scope::Tenant)?;
    new_form(&state, &staff, "", "", None).await
}

/// `""` or `"tenant"`: tenant-wide; a number: that account (the tenant's).
async fn parse_scope(
    state: &AppState,
    staff: &Staff,
    raw: Option<&str>,
) -> WebResult<Result<Option<i64>, ()>> {
    match raw.map(str::trim) {
        None | Some("") | Some("tenant") => Ok(Ok(None)),
        Some(id) => {
            let Ok(id) = id.parse::<i64>() else {
                return Ok(Err(()));
            };
            Ok(
                match accounts::account_in(&state.db, staff.tenant_id, id).await? {
                    Some(a) => Ok(Some(a.id)),
                    None => Err(()),
                },
            )
        }
    }
}

/// How a scope is written in the audit log.
fn scope_label(account: Option<i64>) -> String {
    account.map_or("tenant".to_string(), |a| format!("account:{a}"))
}

fn scope_of(account: Option<i64>) -> Scope {
    account.map_or(Scope::Tenant, Scope::Account)
}

/// The staff member may give each of these permissions in that scope.
fn may_give(staff: &Staff, permissions: &[Permission], account: Option<i64>) -> bool {
    permissions.iter().all(|p| staff.can(*p, scope_of(account)))
}

async fn create(State(state): State<AppState>, staff: Staff, Form(f): Pairs) -> WebResult {
    staff.require(Permission::UsersManage, Scope::Tenant)?;
    let t = staff.t();
    let email = form_value(&f, "email").unwrap_or("").trim().to_string();
    let name = form_value(&f, "name").unwrap_or("").trim().to_string();
    let again = |e: &str| new_form(&state, &staff, &email, &name, Some(e.to_string()));
    if !auth_store::valid_email(&email) {
        return again(t.email_invalid).await;
    }
    if name.is_empty() || name.chars().count() > 100 {
        return again(t.name_missing).await;
    }
    let lang = form_value(&f, "lang")
        .and_then(Lang::parse)
        .unwrap_or_default();
    let role_id = form_value(&f, "role").and_then(|r| r.parse::<i64>().ok());
    let role = match role_id {
        Some(id) => auth_store::find_role(&state.db, staff.tenant_id, id).await?,
        None => None,
    };
    let Some(role) = role else {
        return again(t.role_missing).await;
    };
    let Ok(account) = parse_scope(&state, &staff, form_value(&f, "account")).await? else {
        return again(t.account_unknown).await;
    };
    if !may_give(&staff, &role.permissions, account) {
        return again(t.cannot_give_more).await;
    }
    let pw = form_value(&f, "password").unwrap_or("");
    let hash = if pw.is_empty() {
        None
    } else {
        let confirm = form_value(&f, "confirm").unwrap_or("");
        if let Err(e) = password::check_new(pw, confirm, staff.lang, &[&email, &name]) {
            return again(&e).await;
        }
        Some(password::hash(pw).await?)
    };
    let Some(user) = auth_store::create_user(
        &state.db,
        &NewUser {
            tenant_id: staff.tenant_id,
            email: &email,
            display_name: &name,
            password_hash: hash.as_deref(),
            lang,
            platform_admin: false,
        },
    )
    .await?
    else {
        return again(t.email_taken).await;
    };
    auth_store::assign(&state.db, user.id, role.id, account).await?;
    staff
        .audit(
            &state,
            "user.create",
            format!("user:{}", user.id),
            format!("{} · {} · {}", user.email, role.name, scope_label(account)),
        )
        .await?;
    if hash.is_none() {
        return link_page(&state, &staff, &user).await;
    }
    staff.flash(t.user_created).await;
    see_other(&format!("/users/{}", user.id))
}

#[derive(Template)]
#[template(path = "users/show.html")]
struct ShowPage {
    p: Layout,
    user: User,
    /// False for a user who can do more than the staff member: shown, not
    /// changeable.
    can_change: bool,
    is_self: bool,
    assignments: Vec<Assignment>,
    overrides: Vec<Override>,
    roles: Vec<Role>,
    accounts: Vec<Account>,
    permissions: Vec<(&'static str, &'static str)>,
    /// A fresh invitation or reset link, shown once.
    link: Option<String>,
    error: Option<String>,
}

async fn load(state: &AppState, staff: &Staff, id: i64) -> WebResult<User> {
    staff.require(Permission::UsersManage, Scope::Tenant)?;
    auth_store::find_user_in(&state.db, staff.tenant_id, id)
        .await?
        .ok_or_else(|| staff.not_found())
}

async fn render(
    state: &AppState,
    staff: &Staff,
    user: User,
    link: Option<String>,
    error: Option<String>,
) -> WebResult {
    let permissions = Permission::ALL
        .iter()
        .map(|p| (p.key(), p.label(staff.lang)))
        .collect();
    let failed = error.is_some();
    form_page(
        ShowPage {
            p: staff.layout(user.display_name.clone(), "/users"),
            can_change: may_change(state, staff, &user).await?,
            is_self: user.id == staff.user.id,
            assignments: auth_store::assignments_of(&state.db, user.id).await?,
            overrides: auth_store::overrides_of(&state.db, user.id).await?,
            roles: auth_store::list_roles(&state.db, staff.tenant_id).await?,
            accounts: accounts::accounts_of(&state.db, staff.tenant_id).await?,
            permissions,
            user,
            link,
            error,
        },
        failed,
    )
}

/// Whether the staff member may change this user: one who can do nothing
/// the staff member cannot (otherwise a reset link or a new role would hand
/// over more than they hold). Anyone may change their own.
async fn may_change(state: &AppState, staff: &Staff, user: &User) -> WebResult<bool> {
    if user.id == staff.user.id {
        return Ok(true);
    }
    let theirs = auth_store::grants(&state.db, user).await?;
    let accounts = accounts::accounts_of(&state.db, staff.tenant_id).await?;
    let scopes: Vec<Scope> = std::iter::once(Scope::Tenant)
        .chain(accounts.iter().map(|a| Scope::Account(a.id)))
        .collect();
    Ok(
        theirs.is_platform_admin() <= staff.grants.is_platform_admin()
            && Permission::ALL.iter().all(|p| {
                scopes
                    .iter()
                    .all(|scope| !theirs.can(*p, *scope) || staff.can(*p, *scope))
            }),
    )
}

async fn load_to_change(state: &AppState, staff: &Staff, id: i64) -> WebResult<User> {
    let user = load(state, staff, id).await?;
    if may_change(state, staff, &user).await? {
        Ok(user)
    } else {
        Err(super::WebError::Forbidden(staff.lang))
    }
}

async fn show(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    let user = load(&state, &staff, id).await?;
    render(&state, &staff, user, None, None).await
}

async fn link_page(state: &AppState, staff: &Staff, user: &User) -> WebResult {
    let purpose = if user.is_pending() {
        auth_store::LinkPurpose::Invite
    } else {
        auth_store::LinkPurpose::Reset
    };
    let token = auth_store::create_link(
        &state.db,
        purpose,
        Some(staff.tenant_id),
        Some(user.id),
        super::login::INVITE_LINK_VALID,
    )
    .await?;
    staff
        .audit(
            state,
            "user.link",
            format!("user:{}", user.id),
            user.email.clone(),
        )
        .await?;
    let link = format!("{}/invite/{token}", staff.origin);
    render(state, staff, user.clone(), Some(link), None).await
}

async fn new_link(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    let user = load_to_change(&state, &staff, id).await?;
    link_page(&state, &staff, &user).await
}

async fn set_disabled(state: AppState, staff: Staff, id: i64, disabled: bool) -> WebResult {
    let user = load_to_change(&state, &staff, id).await?;
    if user.id == staff.user.id {
        return render(
            &state,
            &staff,
            user,
            None,
            Some(staff.t().cannot_disable_self.to_string()),
        )
        .await;
    }
    match auth_store::set_disabled(&state.db, staff.tenant_id, id, disabled).await? {
        UserChange::Done => {}
        UserChange::NotFound => return Err(staff.not_found()),
        UserChange::LastManager => return last_manager(&state, &staff, user).await,
    }
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    staff
        .audit(&state, action, format!("user:{id}"), user.email)
        .await?;
    see_other(&format!("/users/{id}"))
}

/// The change was refused: nobody could manage users and roles after it.
async fn last_manager(state: &AppState, staff: &Staff, user: User) -> WebResult {
    let e = staff.t().last_administrator.to_string();
    render(state, staff, user, None, Some(e)).await
}

async fn disable(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    set_disabled(state, staff, id, true).await
}

async fn enable(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    set_disabled(state, staff, id, false).await
}

async fn add_role(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Pairs,
) -> WebResult {
    let user = load_to_change(&state, &staff, id).await?;
    let t = staff.t();
    let role = match form_value(&f, "role").and_then(|r| r.parse::<i64>().ok()) {
        Some(r) => auth_store::find_role(&state.db, staff.tenant_id, r).await?,
        None => None,
    };
    let Some(role) = role else {
        return render(&state, &staff, user, None, Some(t.role_missing.into())).await;
    };
    let Ok(account) = parse_scope(&state, &staff, form_value(&f, "account")).await? else {
        return render(&state, &staff, user, None, Some(t.account_unknown.into())).await;
    };
    if !may_give(&staff, &role.permissions, account) {
        return render(&state, &staff, user, None, Some(t.cannot_give_more.into())).await;
    }
    if auth_store::assign(&state.db, id, role.id, account).await? {
        staff
            .audit(
                &state,
                "user.role_add",
                format!("user:{id}"),
                format!("{} · {}", role.name, scope_label(account)),
            )
            .await?;
    }
    see_other(&format!("/users/{id}"))
}

async fn remove_role(
    State(state): State<AppState>,
    staff: Staff,
    Path((id, assignment)): Path<(i64, i64)>,
) -> WebResult {
    let user = load_to_change(&state, &staff, id).await?;
    let found = auth_store::assignments_of(&state.db, id)
        .await?
        .into_iter()
        .find(|a| a.id == assignment)
        .ok_or_else(|| staff.not_found())?;
    // Taking a role away is giving less: allowed only for roles one could give.
    let role = auth_store::find_role(&state.db, staff.tenant_id, found.role_id).await?;
    if let Some(role) = role
        && !may_give(&staff, &role.permissions, found.account_id)
    {
        return render(
            &state,
            &staff,
            user,
            None,
            Some(staff.t().cannot_give_more.into()),
        )
        .await;
    }
    match auth_store::unassign(&state.db, id, assignment).await? {
        UserChange::Done => {}
        UserChange::NotFound => return Err(staff.not_found()),
        UserChange::LastManager => return last_manager(&state, &staff, user).await,
    }
    staff
        .audit(
            &state,
            "user.role_remove",
            format!("user:{id}"),
            found.role_name,
        )
        .await?;
    see_other(&format!("/users/{id}"))
}

async fn add_override(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Pairs,
) -> WebResult {
    let user = load_to_change(&state, &staff, id).await?;
    let t = staff.t();
    let Some(permission) = form_value(&f, "permission").and_then(Permission::parse) else {
        return render(
            &state,
            &staff,
            user,
            None,
            Some(t.permission_unknown.into()),
        )
        .await;
    };
    let Ok(account) = parse_scope(&state, &staff, form_value(&f, "account")).await? else {
        return render(&state, &staff, user, None, Some(t.account_unknown.into())).await;
    };
    let allow = form_value(&f, "effect") != Some("deny");
    if allow && !may_give(&staff, &[permission], account) {
        return render(&state, &staff, user, None, Some(t.cannot_give_more.into())).await;
    }
    match auth_store::set_override(&state.db, id, permission, account, allow).await? {
        UserChange::Done => {}
        UserChange::NotFound => return Err(staff.not_found()),
        UserChange::LastManager => return last_manager(&state, &staff, user).await,
    }
    staff
        .audit(
            &state,
            "user.override_set",
            format!("user:{id}"),
            format!(
                "{} {} · {}",
                if allow { "allow" } else { "deny" },
                permission.key(),
                scope_label(account)
            ),
        )
        .await?;
    see_other(&format!("/users/{id}"))
}

async fn remove_override(
    State(state): State<AppState>,
    staff: Staff,
    Path((id, override_id)): Path<(i64, i64)>,
) -> WebResult {
    let user = load_to_change(&state, &staff, id).await?;
    let found = auth_store::overrides_of(&state.db, id)
        .await?
        .into_iter()
        .find(|o| o.id == override_id)
        .ok_or_else(|| staff.not_found())?;
    // Lifting a deny gives the permission back: only for one's own.
    if !found.allow
        && let Some(p) = Permission::parse(&found.permission)
        && !may_give(&staff, &[p], found.account_id)
    {
        return render(
            &state,
            &staff,
            user,
            None,
            Some(staff.t().cannot_give_more.into()),
        )
        .await;
    }
    match auth_store::remove_override(&state.db, id, override_id).await? {
        UserChange::Done => {}
        UserChange::NotFound => return Err(staff.not_found()),
        UserChange::LastManager => return last_manager(&state, &staff, user).await,
    }
    staff
        .audit(
            &state,
            "user.override_remove",
            format!("user:{id}"),
            format!(
                "{} {} · {}",
                if found.allow { "allow" } else { "deny" },
                found.permission,
                scope_label(found.account_id)
            ),
        )
        .await?;
    see_other(&format!("/users/{id}"))
}
