//! WhatsApp accounts (one number, one programme) and their bot settings.
//! Seeing one needs `accounts.view` on it; changing its flow settings needs
//! `accounts.manage` on it; creating one needs `accounts.manage` tenant-wide.
//! Its connection to WhatsApp (provider, ids, secrets) is on the same page,
//! handled in `account_channel`.

use super::account_channel::{self, ChannelView};
use super::account_dhis2::Dhis2View;
use super::account_token::TokenView;
use super::number_health::{self, StripView};
use super::{Form, Layout, Routes, Staff, WebResult, form_page, see_other};
use crate::AppState;
use crate::auth::{Permission, Scope};
use crate::flow::Language;
use crate::flow::texts::TextKey;
use crate::tenancy::flow_input::{self, FlowInput, FlowInputError};
use crate::tenancy::store as accounts;
use crate::tenancy::{Account, FlowSettings};
use askama::Template;
use axum::extract::{Path, State};
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn routes(r: Routes) -> Routes {
    r.get("/accounts", list)
        .post("/accounts", create)
        .get("/accounts/{id}", show)
        .post("/accounts/{id}/flow", update_flow)
        .post("/accounts/{id}/waiting", update_waiting)
}

/// The creation form: a slug and a name.
#[derive(Deserialize, Default)]
#[serde(default)]
struct NewForm {
    slug: String,
    name: String,
}

#[derive(Template)]
#[template(path = "accounts/list.html")]
struct ListPage {
    p: Layout,
    /// Each number with its health strip.
    accounts: Vec<(Account, Option<StripView>)>,
    can_create: bool,
    slug: String,
    name: String,
    error: Option<String>,
}

async fn list_page(
    state: &AppState,
    staff: &Staff,
    slug: &str,
    name: &str,
    error: Option<String>,
) -> WebResult {
    let access = staff.require(Permission::AccountsView, Scope::AnyAccount)?;
    let accounts = accounts::list_accounts(&state.db, &access).await?;
    let now = time::OffsetDateTime::now_utc();
    let mut strips: BTreeMap<i64, StripView> = number_health::strips(state, &access, now)
        .await?
        .iter()
        .map(|s| (s.account_id, number_health::view(staff, s, now)))
        .collect();
    let accounts = accounts
        .into_iter()
        .map(|a| {
            let strip = strips.remove(&a.id);
            (a, strip)
        })
        .collect();
    let failed = error.is_some();
    form_page(
        ListPage {
            p: staff.layout(staff.t().nav_accounts, "/accounts"),
            accounts,
            can_create: staff.can(Permission::AccountsManage, Scope::Tenant),
            slug: slug.into(),
            name: name.into(),
            error,
        },
        failed,
    )
}

async fn list(State(state): State<AppState>, staff: Staff) -> WebResult {
    staff.require(Permission::AccountsView, Scope::AnyAccount)?;
    list_page(&state, &staff, "", "", None).await
}

/// A new account starts as a sandbox: it answers in the simulator until
/// its WhatsApp credentials are set.
async fn create(State(state): State<AppState>, staff: Staff, Form(f): Form<NewForm>) -> WebResult {
    let access = staff.require(Permission::AccountsManage, Scope::Tenant)?;
    let t = staff.t();
    let slug = f.slug.trim().to_lowercase();
    let name = f.name.trim().to_string();
    if !accounts::valid_slug(&slug) {
        return list_page(&state, &staff, &slug, &name, Some(t.slug_invalid.into())).await;
    }
    if name.is_empty() || name.chars().count() > 80 {
        return list_page(&state, &staff, &slug, &name, Some(t.name_missing.into())).await;
    }
    let Some(account) = accounts::create_account(&state.db, &access, &slug, &name).await? else {
        return list_page(&state, &staff, &slug, &name, Some(t.slug_taken.into())).await;
    };
    state.numbers_changed();
    staff
        .audit(
            &state,
            "account.create",
            format!("account:{}", account.id),
            format!("{slug} · {name}"),
        )
        .await?;
    staff.flash(t.saved).await;
    see_other(&format!("/accounts/{}", account.id))
}

struct TextLine {
    key: &'static str,
    default: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "accounts/show.html")]
struct ShowPage {
    p: Layout,
    account: Account,
    can_manage: bool,
    /// A sandbox account, and the staff member may use the simulator.
    can_simulate: bool,
    language: &'static str,
    /// "default", "on" or "off".
    qr: &'static str,
    qr_default: bool,
    timeout: String,
    timeout_default: u32,
    cities: String,
    texts: Vec<TextLine>,
    channel: ChannelView,
    token: Option<TokenView>,
    /// The DHIS-2 section (`None`: the staff member sees nothing of it).
    dhis2: Option<Dhis2View>,
    providers: [(&'static str, &'static str); 3],
    error: Option<String>,
}

/// The account, if the staff member may see it (`accounts.view` on it).
pub(super) async fn load(state: &AppState, staff: &Staff, id: i64) -> WebResult<Account> {
    let access = staff.require(Permission::AccountsView, Scope::Account(id))?;
    accounts::find_account(&state.db, &access, id)
        .await?
        .ok_or_else(|| staff.not_found())
}

async fn render(
    state: &AppState,
    staff: &Staff,
    account: Account,
    flow: &FlowSettings,
    error: Option<String>,
    dhis2: Option<Dhis2View>,
) -> WebResult {
    let lang = flow.language;
    // The DHIS-2 form as typed when it was refused, else as stored.
    let dhis2 = match dhis2 {
        Some(v) => Some(v),
        None => Dhis2View::of(state, staff, &account).await?,
    };
    let texts = TextKey::ALL
        .iter()
        .map(|k| TextLine {
            key: k.name(),
            default: k.default_text(lang),
            value: flow.texts.get(k.name()).cloned().unwrap_or_default(),
        })
        .collect();
    let cities = flow
        .cities
        .iter()
        .map(|c| format!("{} {}", c.code, c.name))
        .collect::<Vec<_>>()
        .join("\n");
    let failed = error.is_some();
    form_page(
        ShowPage {
            p: staff.layout(account.name.clone(), "/accounts"),
            can_manage: staff.can(Permission::AccountsManage, Scope::Account(account.id)),
            can_simulate: account.provider() == crate::tenancy::Provider::Sandbox
                && staff.can(Permission::SimulatorUse, Scope::Account(account.id)),
            language: match lang {
                Language::Fr => "fr",
                Language::En => "en",
            },
            qr: match flow.qr_enabled {
                None => "default",
                Some(true) => "on",
                Some(false) => "off",
            },
            qr_default: state.config.enable_qr_code,
            timeout: flow
                .session_timeout_minutes
                .map(|m| m.to_string())
                .unwrap_or_default(),
            timeout_default: state.config.session_timeout_minutes,
            cities,
            texts,
            channel: ChannelView::of(state, staff, &account),
            token: TokenView::of(state, staff, &account).await?,
            dhis2,
            providers: account_channel::providers(staff),
            account,
            error,
        },
        failed,
    )
}

/// The page with a problem to show (the flow settings as stored).
pub(super) async fn render_with(
    state: &AppState,
    staff: &Staff,
    account: Account,
    error: Option<String>,
) -> WebResult {
    let flow = account.flow_config.0.clone();
    render(state, staff, account, &flow, error, None).await
}

/// The page with the DHIS-2 form as typed and its problems.
pub(super) async fn render_with_dhis2(
    state: &AppState,
    staff: &Staff,
    account: Account,
    dhis2: Dhis2View,
    error: String,
) -> WebResult {
    let flow = account.flow_config.0.clone();
    render(state, staff, account, &flow, Some(error), Some(dhis2)).await
}

async fn show(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    let account = load(&state, &staff, id).await?;
    let flow = account.flow_config.0.clone();
    render(&state, &staff, account, &flow, None, None).await
}

/// The settings form as sent: its texts are the fields `text.{key}`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct FlowForm {
    language: String,
    qr: String,
    timeout: String,
    cities: String,
    #[serde(flatten)]
    others: BTreeMap<String, String>,
}

/// Reads the settings form (see `tenancy::flow_input`); `Err` names the
/// first problem in the staff member's language.
fn read_flow(staff: &Staff, f: &FlowForm, before: &FlowSettings) -> Result<FlowSettings, String> {
    let input = FlowInput {
        language: &f.language,
        qr: &f.qr,
        timeout: &f.timeout,
        cities: &f.cities,
        texts: f
            .others
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("text.")?, v.as_str())))
            .collect(),
    };
    let t = staff.t();
    flow_input::parse(&input, before).map_err(|e| match e {
        FlowInputError::Timeout => t.timeout_invalid.to_string(),
        FlowInputError::City(line) => format!("{} « {line} »", t.city_invalid),
        FlowInputError::TooLong => t.too_long.to_string(),
    })
}

async fn update_flow(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<FlowForm>,
) -> WebResult {
    let account = load(&state, &staff, id).await?;
    let access = staff.require(Permission::AccountsManage, Scope::Account(id))?;
    let flow = match read_flow(&staff, &f, &account.flow_config.0) {
        Ok(flow) => flow,
        Err(e) => {
            let before = account.flow_config.0.clone();
            return render(&state, &staff, account, &before, Some(e), None).await;
        }
    };
    if !accounts::update_flow_settings(&state.db, &access, id, &flow).await? {
        return Err(staff.not_found());
    }
    state.numbers_changed();
    staff
        .audit(
            &state,
            "account.flow_update",
            format!("account:{id}"),
            account.slug.clone(),
        )
        .await?;
    staff.flash(staff.t().saved).await;
    see_other(&format!("/accounts/{id}"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WaitingForm {
    minutes: String,
}

/// How long the number's conversations may wait for staff before the
/// person is told nobody is available.
async fn update_waiting(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<WaitingForm>,
) -> WebResult {
    let account = load(&state, &staff, id).await?;
    let access = staff.require(Permission::AccountsManage, Scope::Account(id))?;
    let Some(minutes) = crate::tenancy::parse_waiting_limit(&f.minutes) else {
        let flow = account.flow_config.0.clone();
        let error = staff.t().waiting_limit_invalid.to_string();
        return render(&state, &staff, account, &flow, Some(error), None).await;
    };
    if !accounts::set_waiting_limit(&state.db, &access, id, minutes).await? {
        return Err(staff.not_found());
    }
    state.numbers_changed();
    staff
        .audit(
            &state,
            "account.waiting_limit",
            format!("account:{id}"),
            format!("{} min", minutes),
        )
        .await?;
    staff.flash(staff.t().saved).await;
    see_other(&format!("/accounts/{id}"))
}
