//! The home page and the staff member's own settings.

use super::number_health::{self, StripView};
use super::{Layout, Routes, Staff, WebResult, form_page, page, see_other};
use crate::AppState;
use crate::auth::store as auth_store;
use crate::auth::{Lang, Permission, Scope, password};
use crate::inbox::read;
use crate::tenancy::{Account, store as accounts};
use askama::Template;
use axum::Form;
use axum::extract::State;
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn routes(r: Routes) -> Routes {
    r.get("/", home)
        .get("/me", me_page)
        .post("/me", update_me)
        .post("/me/password", change_password)
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    p: Layout,
    /// Each number, with its health strip when shown (see [`FEW_NUMBERS`]).
    accounts: Vec<(Account, Option<StripView>)>,
    /// Said under the numbers when only those with a problem show a strip.
    health_note: Option<&'static str>,
    can_simulate: bool,
    /// What waits, for those who see conversations.
    inbox: Option<Inbox>,
}

/// Up to this many numbers, the home page shows every number's strip (it
/// fits on a phone's screen); beyond, only the strips of numbers with a
/// problem, so that what needs attention is not lost among the others (the
/// numbers page shows them all).
pub const FEW_NUMBERS: usize = 3;

/// The queue as the home page shows it.
struct Inbox {
    /// Per account: id, name, how many wait, since when the oldest.
    waiting: Vec<(i64, String, i64, String)>,
    mine: i64,
}

async fn home(State(state): State<AppState>, staff: Staff) -> WebResult {
    // Everyone logged in has a home page; its list only for those who may.
    let now = time::OffsetDateTime::now_utc();
    let (accounts, strips) = match staff
        .actor
        .require(Permission::AccountsView, Scope::AnyAccount)
    {
        Ok(access) => (
            accounts::list_accounts(&state.db, &access).await?,
            number_health::strips(&state, &access, now).await?,
        ),
        Err(_) => (Vec::new(), Vec::new()),
    };
    let all = accounts.len() <= FEW_NUMBERS;
    let mut strips: BTreeMap<i64, StripView> = strips
        .iter()
        .filter(|s| all || s.is_bad())
        .map(|s| (s.account_id, number_health::view(&staff, s, now)))
        .collect();
    let health_note = match (all, strips.is_empty()) {
        (true, _) => None,
        (false, true) => Some(staff.t().hb_all_well),
        (false, false) => Some(staff.t().hb_problems_only),
    };
    let accounts: Vec<(Account, Option<StripView>)> = accounts
        .into_iter()
        .map(|a| {
            let strip = strips.remove(&a.id);
            (a, strip)
        })
        .collect();
    let can_simulate = accounts.iter().any(|(a, _)| {
        a.provider() == crate::tenancy::Provider::Sandbox
            && staff.can(Permission::SimulatorUse, Scope::Account(a.id))
    });
    let inbox = match staff.require(Permission::ConversationsView, Scope::AnyAccount) {
        Ok(access) => {
            let waiting = read::queue(&state.db, &access)
                .await?
                .into_iter()
                .map(|w| {
                    let oldest = w
                        .oldest
                        .map(|at| super::conversations::ago(&staff, at, now))
                        .unwrap_or_default();
                    (w.account_id, w.account_name, w.waiting, oldest)
                })
                .collect();
            let mine = read::held_count(&state.db, &access, staff.user.id).await?;
            Some(Inbox { waiting, mine })
        }
        Err(_) => None,
    };
    page(HomePage {
        p: staff.layout(staff.t().nav_home, "/"),
        accounts,
        health_note,
        can_simulate,
        inbox,
    })
}

#[derive(Template)]
#[template(path = "auth/me.html")]
struct MePage {
    p: Layout,
    name: String,
    email: String,
    lang: &'static str,
    error: Option<String>,
}

fn me(staff: &Staff, error: Option<String>) -> WebResult {
    let failed = error.is_some();
    form_page(
        MePage {
            p: staff.layout(staff.t().me_title, "/me"),
            name: staff.user.display_name.clone(),
            email: staff.user.email.clone(),
            lang: staff.lang.code(),
            error,
        },
        failed,
    )
}

async fn me_page(staff: Staff) -> WebResult {
    me(&staff, None)
}

#[derive(Deserialize)]
struct MeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    lang: String,
}

async fn update_me(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<MeForm>,
) -> WebResult {
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return me(&staff, Some(staff.t().name_missing.to_string()));
    }
    let lang = Lang::parse(&f.lang).unwrap_or(staff.lang);
    auth_store::update_profile(&state.db, &staff.actor, name, lang).await?;
    staff
        .audit(
            &state,
            "profile.update",
            format!("user:{}", staff.user.id),
            "",
        )
        .await?;
    staff.flash(crate::web::texts(lang).saved).await;
    see_other("/me")
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

async fn change_password(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<PasswordForm>,
) -> WebResult {
    if !password::verify(&f.current, staff.user.password_hash.as_deref()).await {
        return me(&staff, Some(staff.t().current_password_wrong.to_string()));
    }
    let inputs = [staff.user.email.as_str(), staff.user.display_name.as_str()];
    if let Err(e) = password::check_new(&f.password, &f.confirm, staff.lang, &inputs) {
        return me(&staff, Some(e));
    }
    let hash = password::hash(&f.password).await?;
    auth_store::set_own_password(&state.db, &staff.actor, &hash).await?;
    // Every other session of this user ends; this one starts afresh.
    crate::auth::session::log_in(&staff.session, staff.user.id).await?;
    staff
        .audit(
            &state,
            "password.change",
            format!("user:{}", staff.user.id),
            "",
        )
        .await?;
    staff.flash(staff.t().password_changed).await;
    see_other("/me")
}
