//! A number's connection to WhatsApp, on its page: the provider, the
//! number and ids (`accounts.manage` on it), the secrets (`tokens.manage`
//! on it: shown only as their last four characters, never sent back), and
//! the webhook URL to paste in Twilio or Meta. What the form means is read
//! in `tenancy::channel_input`; storing it is `tenancy::store::set_channel`.

use super::texts::Texts;
use super::{Form, Routes, Staff, WebError, WebResult, page, see_other};
use crate::AppState;
use crate::auth::{Permission, Scope};
use crate::channel::meta::check::{self as meta_check, MessagingLimit, TokenKind};
use crate::channel::twilio::check as twilio_check;
use crate::config::Secret;
use crate::secrets::Purpose;
use crate::tenancy::channel_input::{self, ChannelInput, Field, NewSecret, Problem, SecretsSet};
use crate::tenancy::store::{self as accounts, ChannelAccess, ChannelRefused};
use crate::tenancy::{Account, META_ACCOUNT, Provider, TWILIO_ACCOUNT};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse};
use serde::Deserialize;

pub fn routes(r: Routes) -> Routes {
    r.post("/accounts/{id}/channel", save)
        .post("/accounts/{id}/channel/test", test)
        .get("/accounts/{id}/channel/verify-token", verify_token)
}

/// What the page shows of the connection.
pub struct ChannelView {
    pub provider: &'static str,
    pub phone_number: String,
    pub twilio_account_sid: String,
    pub meta_phone_number_id: String,
    pub meta_waba_id: String,
    pub meta_app_id: String,
    /// The secrets' last four characters (`None`: not set), only for
    /// those who may see secrets.
    pub twilio_auth_token: Option<String>,
    pub meta_app_secret: Option<String>,
    pub meta_access_token: Option<String>,
    pub meta_verify_token: Option<String>,
    pub webhook_url: String,
    /// `PUBLIC_URL` is not set: the URL shown is this server's own.
    pub no_public_url: bool,
    /// The server's environment describes this number (and rewrites it at
    /// every start).
    pub from_env: bool,
    pub can_settings: bool,
    pub can_secrets: bool,
}

/// The last four characters of a secret, as the page may show them.
pub fn last4(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("…{tail}")
}

impl ChannelView {
    pub fn of(state: &AppState, staff: &Staff, a: &Account) -> ChannelView {
        let can_secrets = staff.can(Permission::TokensManage, Scope::Account(a.id));
        // Opened only for those who may see their ends.
        let shown = |purpose: Purpose| {
            if can_secrets {
                a.secret(&state.secrets, purpose)
                    .map(|s| last4(s.expose_secret()))
            } else {
                None
            }
        };
        let base = crate::auth::setup::links_url(&state.config, state.listen_port.get().copied());
        let text = |s: &Option<String>| s.clone().unwrap_or_default();
        ChannelView {
            provider: a.provider().as_str(),
            phone_number: text(&a.phone_number),
            twilio_account_sid: text(&a.twilio_account_sid),
            meta_phone_number_id: text(&a.meta_phone_number_id),
            meta_waba_id: text(&a.meta_waba_id),
            meta_app_id: text(&a.meta_app_id),
            twilio_auth_token: shown(Purpose::TwilioAuthToken),
            meta_app_secret: shown(Purpose::MetaAppSecret),
            meta_access_token: shown(Purpose::MetaAccessToken),
            meta_verify_token: shown(Purpose::MetaVerifyToken),
            webhook_url: format!("{base}/whatsapp/webhook"),
            no_public_url: state.config.public_url.is_none(),
            from_env: (a.slug == TWILIO_ACCOUNT && state.config.twilio.is_some())
                || (a.slug == META_ACCOUNT && state.config.meta.is_some()),
            can_settings: staff.can(Permission::AccountsManage, Scope::Account(a.id)),
            can_secrets,
        }
    }
}

/// The form as sent.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ChannelForm {
    provider: String,
    phone_number: String,
    twilio_account_sid: String,
    twilio_auth_token: String,
    meta_phone_number_id: String,
    meta_waba_id: String,
    meta_app_id: String,
    meta_app_secret: String,
    meta_access_token: String,
    meta_verify_token: String,
}

/// A field's label on the page.
fn label(staff: &Staff, f: Field) -> &'static str {
    let t = staff.t();
    match f {
        Field::Provider => t.ch_provider,
        Field::PhoneNumber => t.ch_phone_number,
        Field::TwilioAccountSid => t.ch_twilio_sid,
        Field::TwilioAuthToken => t.ch_twilio_token,
        Field::MetaPhoneNumberId => t.ch_meta_phone_id,
        Field::MetaWabaId => t.ch_meta_waba_id,
        Field::MetaAppId => t.ch_meta_app_id,
        Field::MetaAppSecret => t.ch_meta_app_secret,
        Field::MetaAccessToken => t.ch_meta_token,
        Field::MetaVerifyToken => t.ch_meta_verify,
    }
}

/// The problems, named by their fields, in the staff member's language.
fn explain(staff: &Staff, problems: &[Problem]) -> String {
    let t = staff.t();
    let names = |missing: bool| {
        problems
            .iter()
            .filter_map(|p| match (p, missing) {
                (Problem::Missing(f), true) | (Problem::Malformed(f), false) => {
                    Some(format!("« {} »", label(staff, *f)))
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let mut parts = Vec::new();
    let missing = names(true);
    if !missing.is_empty() {
        parts.push(format!("{} {}.", t.ch_missing, missing.join(", ")));
    }
    let malformed = names(false);
    if !malformed.is_empty() {
        parts.push(format!(
            "{} {}. {}",
            t.ch_malformed,
            malformed.join(", "),
            t.ch_rules
        ));
    }
    parts.join(" ")
}

async fn save(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<ChannelForm>,
) -> WebResult {
    let account = super::accounts::load(&state, &staff, id).await?;
    let settings = staff.require(Permission::AccountsManage, Scope::Account(id))?;
    let secrets = staff
        .require(Permission::TokensManage, Scope::Account(id))
        .ok();
    let input = ChannelInput {
        provider: &f.provider,
        phone_number: &f.phone_number,
        twilio_account_sid: &f.twilio_account_sid,
        twilio_auth_token: &f.twilio_auth_token,
        meta_phone_number_id: &f.meta_phone_number_id,
        meta_waba_id: &f.meta_waba_id,
        meta_app_id: &f.meta_app_id,
        meta_app_secret: &f.meta_app_secret,
        meta_access_token: &f.meta_access_token,
        meta_verify_token: &f.meta_verify_token,
    };
    let set = SecretsSet {
        twilio_auth_token: account.twilio_auth_token.is_some(),
        meta_app_secret: account.meta_app_secret.is_some(),
        meta_access_token: account.meta_access_token.is_some(),
        meta_verify_token: account.meta_verify_token.is_some(),
    };
    let change = match channel_input::parse(&input, set) {
        Ok(c) => c,
        Err(problems) => {
            let error = explain(&staff, &problems);
            return super::accounts::render_with(&state, &staff, account, Some(error)).await;
        }
    };
    if matches!(change.meta_access_token, NewSecret::Set(_)) && account.meta_access_token.is_some()
    {
        let error = staff.t().tk_use_rotation.to_string();
        return super::accounts::render_with(&state, &staff, account, Some(error)).await;
    }
    let access = ChannelAccess {
        settings: &settings,
        secrets: secrets.as_ref(),
    };
    let updated =
        match accounts::set_channel(&state.db, &state.secrets, &access, id, &change).await? {
            Ok(a) => a,
            Err(ChannelRefused::NotFound) => return Err(staff.not_found()),
            Err(ChannelRefused::SecretsNotAllowed) => {
                return Err(WebError::Forbidden(Some(
                    staff.t().ch_secrets_denied.into(),
                )));
            }
        };
    state.numbers_changed();
    // What changed, by name only: never a value.
    let replaced: Vec<&str> = [
        ("twilio auth token", &change.twilio_auth_token),
        ("meta app secret", &change.meta_app_secret),
        ("meta access token", &change.meta_access_token),
        ("meta verify token", &change.meta_verify_token),
    ]
    .into_iter()
    .filter(|(_, s)| matches!(s, NewSecret::Set(_)))
    .map(|(name, _)| name)
    .collect();
    let detail = if replaced.is_empty() {
        format!("{} · {}", updated.slug, updated.provider().as_str())
    } else {
        format!(
            "{} · {} · replaced: {}",
            updated.slug,
            updated.provider().as_str(),
            replaced.join(", ")
        )
    };
    staff
        .audit(
            &state,
            "account.channel_update",
            format!("account:{id}"),
            detail,
        )
        .await?;
    staff.flash(staff.t().ch_saved).await;
    see_other(&format!("/accounts/{id}"))
}

/// A freshly generated verify token in its field (the page's « Générer »
/// button swaps it in): seen once, by someone who may set secrets.
async fn verify_token(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> WebResult {
    let account = super::accounts::load(&state, &staff, id).await?;
    staff.require(Permission::TokensManage, Scope::Account(account.id))?;
    let token = channel_input::generate_verify_token();
    Ok(Html(format!(
        r#"<input name="meta_verify_token" id="meta_verify_token" value="{token}" autocomplete="off" spellcheck="false">"#
    ))
    .into_response())
}

/// What « Tester » found.
#[derive(Template)]
#[template(path = "accounts/channel_test.html")]
struct TestResult {
    t: &'static Texts,
    ok: bool,
    lines: Vec<String>,
}

/// A typed value, or (left empty) the stored one.
fn typed_or<'a>(typed: &'a str, stored: &'a Option<String>) -> Option<&'a str> {
    match typed.trim() {
        "" => stored.as_deref(),
        v => Some(v),
    }
}

/// A typed secret, or (left empty) the stored one, opened.
fn typed_or_secret(state: &AppState, a: &Account, typed: &str, purpose: Purpose) -> Secret {
    match typed.trim() {
        "" => a
            .secret(&state.secrets, purpose)
            .unwrap_or_else(|| Secret::new("")),
        v => Secret::new(v),
    }
}

/// « Tester »: the form's credentials (or the stored ones where left
/// empty) checked with the provider, nothing saved. Needs `tokens.manage`:
/// it uses the secrets.
async fn test(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<ChannelForm>,
) -> WebResult {
    let account = super::accounts::load(&state, &staff, id).await?;
    staff.require(Permission::TokensManage, Scope::Account(account.id))?;
    let (ok, lines) = match channel_input::provider(&f.provider) {
        None => (false, vec![label(&staff, Field::Provider).to_string()]),
        Some(Provider::Sandbox) => (true, vec![staff.t().ch_test_sandbox.to_string()]),
        Some(Provider::Twilio) => test_twilio(&state, &staff, &account, &f).await,
        Some(Provider::Meta) => test_meta(&state, &staff, &account, &f).await,
    };
    page(TestResult {
        t: staff.t(),
        ok,
        lines,
    })
}

async fn test_twilio(
    state: &AppState,
    staff: &Staff,
    account: &Account,
    f: &ChannelForm,
) -> (bool, Vec<String>) {
    let sid = typed_or(&f.twilio_account_sid, &account.twilio_account_sid).unwrap_or("");
    let token = typed_or_secret(
        state,
        account,
        &f.twilio_auth_token,
        Purpose::TwilioAuthToken,
    );
    match twilio_check::check_account(&state.checks.twilio, sid, token.expose_secret()).await {
        Ok(a) => (
            true,
            vec![format!(
                "{} {} ({})",
                staff.t().ch_test_twilio_ok,
                a.friendly_name,
                a.sid
            )],
        ),
        Err(p) => (false, vec![p.text(staff.lang)]),
    }
}

async fn test_meta(
    state: &AppState,
    staff: &Staff,
    account: &Account,
    f: &ChannelForm,
) -> (bool, Vec<String>) {
    let t = staff.t();
    let app_secret = typed_or_secret(state, account, &f.meta_app_secret, Purpose::MetaAppSecret);
    let app = meta_check::AppCredentials {
        app_id: typed_or(&f.meta_app_id, &account.meta_app_id).unwrap_or(""),
        app_secret: app_secret.expose_secret(),
    };
    let number = typed_or(&f.meta_phone_number_id, &account.meta_phone_number_id).unwrap_or("");
    let waba = typed_or(&f.meta_waba_id, &account.meta_waba_id);
    let token = typed_or_secret(
        state,
        account,
        &f.meta_access_token,
        Purpose::MetaAccessToken,
    );
    let now = time::OffsetDateTime::now_utc();
    let v = meta_check::validate(
        &state.checks.graph,
        &app,
        number,
        waba,
        token.expose_secret(),
        now,
    )
    .await;
    let mut lines = Vec::new();
    if let Some(r) = &v.token {
        let kind = match r.kind {
            Some(TokenKind::Temporary) => t.ch_kind_temporary,
            Some(TokenKind::LongLived) => t.ch_kind_long_lived,
            Some(TokenKind::NeverExpires) => t.ch_kind_never,
            None => "",
        };
        let expiry = match r.expires_at {
            None => t.ch_token_never.to_string(),
            Some(at) => format!(
                "{} {} ({} {})",
                t.ch_token_expires,
                at.date(),
                crate::tokens::days_left(at, now).max(0),
                t.ch_token_days
            ),
        };
        lines.push(format!("{} {kind}, {expiry}", t.ch_test_token));
    }
    if let Some(n) = &v.number {
        let limit = match &n.messaging_limit {
            Some(MessagingLimit::People(k)) => k.to_string(),
            Some(MessagingLimit::Unlimited) => t.ch_unlimited.to_string(),
            Some(MessagingLimit::Other(s)) => s.clone(),
            None => "?".into(),
        };
        lines.push(format!(
            "{} {} « {} », {} {:?}, {} {limit}",
            t.ch_test_number,
            n.display_phone_number.as_deref().unwrap_or(&n.id),
            n.verified_name.as_deref().unwrap_or(""),
            t.ch_quality,
            n.quality_rating,
            t.ch_limit,
        ));
    }
    lines.extend(v.problems.iter().map(|p| p.text(staff.lang)));
    (v.is_ok(), lines)
}

/// Which providers the form offers, with their labels.
pub fn providers(staff: &Staff) -> [(&'static str, &'static str); 3] {
    let t = staff.t();
    [
        (Provider::Sandbox.as_str(), t.ch_provider_sandbox),
        (Provider::Twilio.as_str(), t.ch_provider_twilio),
        (Provider::Meta.as_str(), t.ch_provider_meta),
    ]
}

#[cfg(test)]
mod tests {
    use super::last4;

    #[test]
    fn only_the_last_four_characters_are_shown() {
        assert_eq!(last4("EAAGm0PX4ZCpsBA1b2c"), "…1b2c");
        assert_eq!(last4("abc"), "…abc");
        assert_eq!(last4("ééééé"), "…éééé");
        assert_eq!(last4(""), "…");
    }
}
