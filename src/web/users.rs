//! Users of a tenant: create or invite, disable, roles per account,
//! permission overrides. Everything needs `users.manage` (tenant-wide).
//!
//! Nobody hands out more than they hold: a role or an allow override is
//! given only when the staff member has each of its permissions in the same
//! scope.

use super::{Form, Layout, Routes, Staff, WebResult, form_page, page, see_other};
use crate::AppState;
use crate::auth::store::{
    self as auth_store, Assignment, AuditBy, NewUser, NewUserRefusal, Override, Role, User,
    UserChange,
};
use crate::auth::{Access, Lang, Permission, Scope, password};
use crate::tenancy::{Account, store as accounts};
use askama::Template;
use axum::extract::{Path, State};
use serde::Deserialize;

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

/// The new user form.
#[derive(Deserialize, Default)]
#[serde(default)]
struct NewUserForm {
    email: String,
    name: String,
    lang: String,
    role: String,
    account: String,
    password: String,
    confirm: String,
}

/// Giving a role.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RoleForm {
    role: String,
    account: String,
}

/// Setting an override.
#[derive(Deserialize, Default)]
#[serde(default)]
struct OverrideForm {
    permission: String,
    account: String,
    /// "deny", or anything else for allow.
    effect: String,
}

#[derive(Template)]
#[template(path = "users/list.html")]
struct ListPage {
    p: Layout,
    users: Vec<User>,
}

async fn list(State(state): State<AppState>, staff: Staff) -> WebResult {
    let access = staff.require(Permission::UsersManage, Scope::Tenant)?;
    let users = auth_store::list_users(&state.db, &access).await?;
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
    access: &Access,
    email: &str,
    name: &str,
    error: Option<String>,
) -> WebResult {
    let failed = error.is_some();
    form_page(
        NewPage {
            p: staff.layout(staff.t().user_new_title, "/users"),
            roles: auth_store::list_roles(&state.db, access).await?,
            accounts: accounts::list_accounts(&state.db, access).await?,
            email: email.to_string(),
            name: name.to_string(),
            error,
        },
        failed,
    )
}

async fn new_page(State(state): State<AppState>, staff: Staff) -> WebResult {
    let access = staff.require(Permission::UsersManage, Scope::Tenant)?;
    new_form(&state, &staff, &access, "", "", None).await
}

/// `""` or `"tenant"`: tenant-wide; a number: that account (whether it is
/// the tenant's is checked where it is used, by the storage function).
fn parse_scope(raw: &str) -> Result<Option<i64>, ()> {
    match raw.trim() {
        "" | "tenant" => Ok(None),
        id => id.parse::<i64>().map(Some).map_err(|_| ()),
    }
}

/// How a scope is written in the audit log.
fn scope_label(account: Option<i64>) -> String {
    account.map_or("tenant".to_string(), |a| format!("account:{a}"))
}

async fn create(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<NewUserForm>,
) -> WebResult {
    let access = staff.require(Permission::UsersManage, Scope::Tenant)?;
    let t = staff.t();
    let email = f.email.trim().to_string();
    let name = f.name.trim().to_string();
    let again = |e: &str| new_form(&state, &staff, &access, &email, &name, Some(e.to_string()));
    if !auth_store::valid_email(&email) {
        return again(t.email_invalid).await;
    }
    if name.is_empty() || name.chars().count() > 100 {
        return again(t.name_missing).await;
    }
    let lang = Lang::parse(&f.lang).unwrap_or_default();
    let role_id = f.role.trim().parse::<i64>().ok();
    let role = match role_id {
        Some(id) => auth_store::find_role(&state.db, &access, id).await?,
        None => None,
    };
    let Some(role) = role else {
        return again(t.role_missing).await;
    };
    let Ok(account) = parse_scope(&f.account) else {
        return again(t.account_unknown).await;
    };
    if !access.may_give(&role.permissions, account) {
        return again(t.cannot_give_more).await;
    }
    let pw = f.password.as_str();
    let hash = if pw.is_empty() {
        None
    } else {
        let confirm = f.confirm.as_str();
        if let Err(e) = password::check_new(pw, confirm, staff.lang, &[&email, &name]) {
            return again(&e).await;
        }
        Some(password::hash(pw).await?)
    };
    // The user, their role and the audit entry: one transaction.
    let created = auth_store::create_staff(
        &state.db,
        &access,
        &NewUser {
            tenant_id: staff.tenant_id(),
            email: &email,
            display_name: &name,
            password_hash: hash.as_deref(),
            lang,
            platform_admin: false,
        },
        role.id,
        account,
        &AuditBy {
            email: &staff.user.email,
            ip: &staff.ip,
        },
    )
    .await?;
    let user = match created {
        Ok(user) => user,
        Err(NewUserRefusal::EmailTaken) => return again(t.email_taken).await,
        Err(NewUserRefusal::NotFound) => return again(t.account_unknown).await,
        Err(NewUserRefusal::CannotGiveMore) => return again(t.cannot_give_more).await,
    };
    if hash.is_none() {
        let page = UserPage {
            state: &state,
            staff: &staff,
            access,
            user,
        };
        return page.with_link().await;
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

/// A user's page being worked on: who looks, with which access, at whom.
struct UserPage<'a> {
    state: &'a AppState,
    staff: &'a Staff,
    access: Access,
    user: User,
}

/// The user, with the access that found them.
async fn load<'a>(state: &'a AppState, staff: &'a Staff, id: i64) -> WebResult<UserPage<'a>> {
    let access = staff.require(Permission::UsersManage, Scope::Tenant)?;
    let user = auth_store::find_user_in(&state.db, &access, id)
        .await?
        .ok_or_else(|| staff.not_found())?;
    Ok(UserPage {
        state,
        staff,
        access,
        user,
    })
}

/// The user, if the staff member may change them (see
/// `Access::may_change`); 403 otherwise.
async fn load_to_change<'a>(
    state: &'a AppState,
    staff: &'a Staff,
    id: i64,
) -> WebResult<UserPage<'a>> {
    let page = load(state, staff, id).await?;
    if page.may_change().await? {
        Ok(page)
    } else {
        Err(super::WebError::Forbidden(None))
    }
}

impl UserPage<'_> {
    /// The page, with a fresh link or a problem to show (then 400).
    async fn render(&self, link: Option<String>, error: Option<String>) -> WebResult {
        let (state, staff, access) = (self.state, self.staff, &self.access);
        let permissions = Permission::ALL
            .iter()
            .map(|p| (p.key(), p.label(staff.lang)))
            .collect();
        let failed = error.is_some();
        form_page(
            ShowPage {
                p: staff.layout(self.user.display_name.clone(), "/users"),
                can_change: self.may_change().await?,
                is_self: self.user.id == staff.user.id,
                assignments: auth_store::assignments_of(&state.db, access, self.user.id).await?,
                overrides: auth_store::overrides_of(&state.db, access, self.user.id).await?,
                roles: auth_store::list_roles(&state.db, access).await?,
                accounts: accounts::list_accounts(&state.db, access).await?,
                permissions,
                user: self.user.clone(),
                link,
                error,
            },
            failed,
        )
    }

    /// The page saying what was wrong with the request.
    async fn error(&self, message: &str) -> WebResult {
        self.render(None, Some(message.to_string())).await
    }

    /// Whether the staff member may change this user (see
    /// `Access::may_change`). Anyone may change their own.
    async fn may_change(&self) -> WebResult<bool> {
        if self.user.id == self.staff.user.id {
            return Ok(true);
        }
        let theirs = auth_store::grants(&self.state.db, &self.user).await?;
        let accounts: Vec<i64> = accounts::list_accounts(&self.state.db, &self.access)
            .await?
            .iter()
            .map(|a| a.id)
            .collect();
        Ok(self.access.may_change(&theirs, &accounts))
    }

    /// A fresh invitation (or reset) link, audited and shown once.
    async fn with_link(&self) -> WebResult {
        let (state, staff, user) = (self.state, self.staff, &self.user);
        let (_, token) = auth_store::user_link(
            &state.db,
            &self.access,
            user.id,
            super::login::INVITE_LINK_VALID,
        )
        .await?
        .ok_or_else(|| staff.not_found())?;
        staff
            .audit(
                state,
                "user.link",
                format!("user:{}", user.id),
                user.email.clone(),
            )
            .await?;
        let link = format!("{}/invite/{token}", staff.origin);
        self.render(Some(link), None).await
    }

    /// What a refused change shows (`None`: it was done).
    async fn refused(&self, change: UserChange) -> WebResult<Option<axum::response::Response>> {
        let t = self.staff.t();
        let e = match change {
            UserChange::Done | UserChange::Unchanged => return Ok(None),
            UserChange::NotFound => return Err(self.staff.not_found()),
            UserChange::CannotGiveMore => t.cannot_give_more,
            // Nobody could manage users and roles after it.
            UserChange::LastManager => t.last_administrator,
        };
        Ok(Some(self.error(e).await?))
    }
}

async fn show(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    load(&state, &staff, id).await?.render(None, None).await
}

async fn new_link(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    load_to_change(&state, &staff, id).await?.with_link().await
}

async fn set_disabled(state: AppState, staff: Staff, id: i64, disabled: bool) -> WebResult {
    let page = load_to_change(&state, &staff, id).await?;
    if page.user.id == staff.user.id {
        return page.error(staff.t().cannot_disable_self).await;
    }
    let change = auth_store::set_disabled(&state.db, &page.access, id, disabled).await?;
    if let Some(refusal) = page.refused(change).await? {
        return Ok(refusal);
    }
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    staff
        .audit(&state, action, format!("user:{id}"), page.user.email)
        .await?;
    see_other(&format!("/users/{id}"))
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
    Form(f): Form<RoleForm>,
) -> WebResult {
    let page = load_to_change(&state, &staff, id).await?;
    let t = staff.t();
    let role = match f.role.trim().parse::<i64>().ok() {
        Some(r) => auth_store::find_role(&state.db, &page.access, r).await?,
        None => None,
    };
    let Some(role) = role else {
        return page.error(t.role_missing).await;
    };
    let Ok(account) = parse_scope(&f.account) else {
        return page.error(t.account_unknown).await;
    };
    let change = auth_store::assign(&state.db, &page.access, id, role.id, account).await?;
    if change == UserChange::NotFound {
        return page.error(t.account_unknown).await;
    }
    if let Some(refusal) = page.refused(change).await? {
        return Ok(refusal);
    }
    if change == UserChange::Done {
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
    let page = load_to_change(&state, &staff, id).await?;
    let found = auth_store::assignments_of(&state.db, &page.access, id)
        .await?
        .into_iter()
        .find(|a| a.id == assignment)
        .ok_or_else(|| staff.not_found())?;
    let change = auth_store::unassign(&state.db, &page.access, id, assignment).await?;
    if let Some(refusal) = page.refused(change).await? {
        return Ok(refusal);
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
    Form(f): Form<OverrideForm>,
) -> WebResult {
    let page = load_to_change(&state, &staff, id).await?;
    let t = staff.t();
    let Some(permission) = Permission::parse(&f.permission) else {
        return page.error(t.permission_unknown).await;
    };
    let Ok(account) = parse_scope(&f.account) else {
        return page.error(t.account_unknown).await;
    };
    let allow = f.effect != "deny";
    let change =
        auth_store::set_override(&state.db, &page.access, id, permission, account, allow).await?;
    if change == UserChange::NotFound {
        return page.error(t.account_unknown).await;
    }
    if let Some(refusal) = page.refused(change).await? {
        return Ok(refusal);
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
    let page = load_to_change(&state, &staff, id).await?;
    let found = auth_store::overrides_of(&state.db, &page.access, id)
        .await?
        .into_iter()
        .find(|o| o.id == override_id)
        .ok_or_else(|| staff.not_found())?;
    let change = auth_store::remove_override(&state.db, &page.access, id, override_id).await?;
    if let Some(refusal) = page.refused(change).await? {
        return Ok(refusal);
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
