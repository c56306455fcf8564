//! WhatsApp accounts (one number, one programme) and their bot settings.
//! Seeing one needs `accounts.view` on it; changing its flow settings needs
//! `accounts.manage` on it; creating one needs `accounts.manage` tenant-wide.
//! Provider credentials are managed on the tokens pages (`tokens.manage`).

use super::{Layout, Routes, Staff, WebResult, form_page, form_value, see_other};
use crate::AppState;
use crate::auth::{Permission, Scope};
use crate::flow::Language;
use crate::flow::texts::TextKey;
use crate::tenancy::store::{self as accounts, ChannelSettings, NewAccount};
use crate::tenancy::{Account, FlowSettings, Provider};
use crate::uic::City;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};

pub fn routes(r: Routes) -> Routes {
    r.get("/accounts", list)
        .post("/accounts", create)
        .get("/accounts/{id}", show)
        .post("/accounts/{id}/flow", update_flow)
}

type Pairs = Form<Vec<(String, String)>>;

#[derive(Template)]
#[template(path = "accounts/list.html")]
struct ListPage {
    p: Layout,
    accounts: Vec<Account>,
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
    let accounts = accounts::accounts_of(&state.db, staff.tenant_id)
        .await?
        .into_iter()
        .filter(|a| staff.can(Permission::AccountsView, Scope::Account(a.id)))
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
async fn create(State(state): State<AppState>, staff: Staff, Form(f): Pairs) -> WebResult {
    staff.require(Permission::AccountsManage, Scope::Tenant)?;
    let t = staff.t();
    let slug = form_value(&f, "slug").unwrap_or("").trim().to_lowercase();
    let name = form_value(&f, "name").unwrap_or("").trim().to_string();
    if !accounts::valid_slug(&slug) {
        return list_page(&state, &staff, &slug, &name, Some(t.slug_invalid.into())).await;
    }
    if name.is_empty() || name.chars().count() > 80 {
        return list_page(&state, &staff, &slug, &name, Some(t.name_missing.into())).await;
    }
    if accounts::find_by_slug(&state.db, &slug).await?.is_some() {
        return list_page(&state, &staff, &slug, &name, Some(t.slug_taken.into())).await;
    }
    let account = accounts::upsert_account(
        &state.db,
        &NewAccount {
            tenant_id: staff.tenant_id,
            slug: slug.clone(),
            name: name.clone(),
            provider: Provider::Sandbox,
            channel: ChannelSettings::default(),
            flow: FlowSettings::default(),
        },
    )
    .await?;
    state.accounts.clear();
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
    error: Option<String>,
}

async fn load(state: &AppState, staff: &Staff, id: i64) -> WebResult<Account> {
    staff.require(Permission::AccountsView, Scope::Account(id))?;
    accounts::account_in(&state.db, staff.tenant_id, id)
        .await?
        .ok_or_else(|| staff.not_found())
}

fn render(
    state: &AppState,
    staff: &Staff,
    account: Account,
    flow: &FlowSettings,
    error: Option<String>,
) -> WebResult {
    let lang = flow.language;
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
            account,
            error,
        },
        failed,
    )
}

async fn show(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    let account = load(&state, &staff, id).await?;
    let flow = account.flow_config.0.clone();
    render(&state, &staff, account, &flow, None)
}

/// Reads the settings form; `Err` names the first problem.
fn read_flow(
    staff: &Staff,
    f: &[(String, String)],
    before: &FlowSettings,
) -> Result<FlowSettings, String> {
    let t = staff.t();
    let language = match form_value(f, "language") {
        Some("en") => Language::En,
        _ => Language::Fr,
    };
    let qr_enabled = match form_value(f, "qr") {
        Some("on") => Some(true),
        Some("off") => Some(false),
        _ => None,
    };
    let session_timeout_minutes = match form_value(f, "timeout")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(s) => match s.parse::<u32>() {
            Ok(m) if (1..=10_080).contains(&m) => Some(m),
            _ => return Err(t.timeout_invalid.to_string()),
        },
    };
    let mut cities = Vec::new();
    for line in form_value(f, "cities")
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let (code, name) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let code = code.trim().to_uppercase();
        let name = name.trim();
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) || name.is_empty() {
            return Err(format!("{} « {line} »", t.city_invalid));
        }
        cities.push(City {
            code,
            name: name.to_string(),
        });
    }
    let mut texts = before.texts.clone();
    for k in TextKey::ALL {
        let field = format!("text.{}", k.name());
        if let Some(v) = form_value(f, &field) {
            let v = v.trim();
            if v.chars().count() > 4096 {
                return Err(t.too_long.to_string());
            }
            if v.is_empty() {
                texts.remove(k.name());
            } else {
                texts.insert(k.name().to_string(), v.replace("\r\n", "\n"));
            }
        }
    }
    Ok(FlowSettings {
        language,
        texts,
        cities,
        qr_enabled,
        session_timeout_minutes,
    })
}

async fn update_flow(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Pairs,
) -> WebResult {
    let account = load(&state, &staff, id).await?;
    staff.require(Permission::AccountsManage, Scope::Account(id))?;
    let flow = match read_flow(&staff, &f, &account.flow_config.0) {
        Ok(flow) => flow,
        Err(e) => {
            let before = account.flow_config.0.clone();
            return render(&state, &staff, account, &before, Some(e));
        }
    };
    accounts::update_flow_settings(&state.db, id, &flow).await?;
    state.accounts.clear();
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
