//! A Meta number's access token on its page: how it stands (kind, expiry,
//! days left, last check, the number's quality and limit), and, with
//! `tokens.manage` on the number, replacing it (checked with Meta before it
//! replaces the old one, kept for a rollback until the new one has sent a
//! message), going back to the previous one, exchanging a short-lived token
//! for a 60-day one, and checking it now. The rules are in `tokens`, the
//! calls to Meta in `channel::meta::check`.

use super::{Form, Routes, Staff, WebResult, see_other};
use crate::AppState;
use crate::auth::{Permission, Scope};
use crate::channel::meta::check::{self as meta_check, AppCredentials, Validation};
use crate::config::Secret;
use crate::secrets::Purpose;
use crate::tenancy::{Account, Provider};
use crate::tokens::check::{self as token_check, Missing, Outcome};
use crate::tokens::store::{self as token_store, Checked, Kind, Refused};
use crate::tokens::{self, Standing};
use axum::extract::{Path, State};
use serde::Deserialize;
use time::OffsetDateTime;

pub fn routes(r: Routes) -> Routes {
    r.post("/accounts/{id}/token", rotate)
        .post("/accounts/{id}/token/rollback", roll_back)
        .post("/accounts/{id}/token/exchange", exchange)
        .post("/accounts/{id}/token/check", check)
}

/// What the page shows of a Meta number's token.
pub struct TokenView {
    pub standing: &'static str,
    pub needs_action: bool,
    pub kind: &'static str,
    /// The expiry date and days left, or "never".
    pub expires: String,
    pub validated: String,
    pub quality: String,
    pub limit: String,
    /// The previous token is kept: a rollback is possible.
    pub can_roll_back: bool,
    pub can_manage: bool,
}

impl TokenView {
    /// `None` for a number that is not Meta's.
    pub async fn of(state: &AppState, staff: &Staff, a: &Account) -> WebResult<Option<TokenView>> {
        if a.provider() != Provider::Meta {
            return Ok(None);
        }
        let t = staff.t();
        let access = staff.require(Permission::AccountsView, Scope::Account(a.id))?;
        let life = token_store::life(&state.db, &access, a.id).await?;
        let now = OffsetDateTime::now_utc();
        let known = life
            .as_ref()
            .map(|l| l.known(a.token_invalid()))
            .unwrap_or(tokens::Known {
                expires_at: None,
                validated_at: None,
                refused: a.token_invalid(),
            });
        let standing = tokens::standing(&known, now);
        let life = life.as_ref();
        let kind = match life.and_then(|l| l.kind) {
            Some(Kind::Temporary) => t.ch_kind_temporary,
            Some(Kind::LongLived) => t.ch_kind_long_lived,
            Some(Kind::Never) => t.ch_kind_never,
            None => "",
        };
        let expires = match (life.and_then(|l| l.expires_at), life.and_then(|l| l.kind)) {
            (Some(at), _) => format!(
                "{} {} ({} {})",
                t.ch_token_expires,
                at.date(),
                tokens::days_left(at, now).max(0),
                t.ch_token_days
            ),
            (None, Some(Kind::Never)) => t.ch_token_never.to_string(),
            (None, _) => String::new(),
        };
        Ok(Some(TokenView {
            standing: match standing {
                Standing::Unchecked => t.tk_unchecked,
                Standing::Good => t.tk_good,
                Standing::Expiring { .. } => t.tk_expiring,
                Standing::Expired => t.tk_expired,
                Standing::Refused => t.tk_refused,
            },
            needs_action: standing.needs_action(),
            kind,
            expires,
            validated: life
                .and_then(|l| l.validated_at)
                .map(|v| format!("{} {:02}:{:02} UTC", v.date(), v.hour(), v.minute()))
                .unwrap_or_else(|| t.tk_never_checked.to_string()),
            quality: life
                .and_then(|l| l.quality_rating.clone())
                .unwrap_or_default(),
            limit: life
                .and_then(|l| l.messaging_limit.clone())
                .unwrap_or_default(),
            can_roll_back: life.is_some_and(|l| l.has_previous && !l.confirmed),
            can_manage: staff.can(Permission::TokensManage, Scope::Account(a.id)),
        }))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenForm {
    token: String,
}

/// The number's app credentials, opened (`None`: not set, the token
/// cannot be checked).
fn app_of(state: &AppState, a: &Account) -> Option<(String, Secret)> {
    Some((
        a.meta_app_id.clone()?,
        a.secret(&state.secrets, Purpose::MetaAppSecret)?,
    ))
}

/// `token` checked with Meta for this number: what to store, or the
/// problems in the staff member's language.
async fn validate(
    state: &AppState,
    staff: &Staff,
    a: &Account,
    token: &str,
) -> Result<(Checked, Validation), String> {
    let t = staff.t();
    let Some((app_id, app_secret)) = app_of(state, a) else {
        return Err(t.tk_needs_app.to_string());
    };
    let app = AppCredentials {
        app_id: &app_id,
        app_secret: app_secret.expose_secret(),
    };
    let number = a.meta_phone_number_id.as_deref().unwrap_or("");
    let now = OffsetDateTime::now_utc();
    let v = meta_check::validate(
        &state.checks.graph,
        &app,
        number,
        a.meta_waba_id.as_deref(),
        token,
        now,
    )
    .await;
    if !v.is_ok() {
        let problems: Vec<String> = v.problems.iter().map(|p| p.text(staff.lang)).collect();
        return Err(problems.join(" "));
    }
    let checked = Checked {
        kind: v.token.as_ref().and_then(|r| r.kind).map(Kind::from),
        expires_at: v.token.as_ref().and_then(|r| r.expires_at),
    };
    Ok((checked, v))
}

/// The page again with a problem, or back to it with a message.
async fn refuse(state: &AppState, staff: &Staff, a: Account, error: String) -> WebResult {
    super::accounts::render_with(state, staff, a, Some(error)).await
}

async fn meta_account(state: &AppState, staff: &Staff, id: i64) -> WebResult<Account> {
    let a = super::accounts::load(state, staff, id).await?;
    staff.require(Permission::TokensManage, Scope::Account(a.id))?;
    if a.provider() != Provider::Meta {
        return Err(staff.bad_request(staff.t().tk_not_meta));
    }
    Ok(a)
}

async fn rotate(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<TokenForm>,
) -> WebResult {
    let a = meta_account(&state, &staff, id).await?;
    let access = staff.require(Permission::TokensManage, Scope::Account(id))?;
    let t = staff.t();
    let token = f.token.trim();
    let (checked, _) = match validate(&state, &staff, &a, token).await {
        Ok(v) => v,
        Err(e) => return refuse(&state, &staff, a, format!("{} {e}", t.tk_rotate_refused)).await,
    };
    let done = Placed {
        action: "token.rotate",
        flash: t.tk_rotated,
    };
    put_in_place(&state, &staff, &access, id, token, checked, done).await
}

/// What the audit and the page say once a token is in place.
struct Placed {
    action: &'static str,
    flash: &'static str,
}

/// A checked token put in place of the number's (`token_store::rotate`):
/// caches cleared, held messages woken, audited, back to the page.
async fn put_in_place(
    state: &AppState,
    staff: &Staff,
    access: &crate::auth::Access,
    id: i64,
    token: &str,
    checked: Checked,
    done: Placed,
) -> WebResult {
    let now = OffsetDateTime::now_utc();
    if token_store::rotate(&state.db, &state.secrets, access, id, token, checked, now)
        .await?
        .is_err()
    {
        return Err(staff.not_found());
    }
    state.numbers_changed();
    state.outbox.wake();
    staff
        .audit(
            state,
            done.action,
            format!("account:{id}"),
            describe(checked),
        )
        .await?;
    staff.flash(done.flash).await;
    see_other(&format!("/accounts/{id}#token"))
}

/// What the audit says of a token: its kind and expiry, never the token.
fn describe(c: Checked) -> String {
    let kind = c.kind.map_or("unknown", Kind::as_str);
    match c.expires_at {
        Some(at) => format!("{kind}, expires {}", at.date()),
        None => kind.to_string(),
    }
}

async fn roll_back(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    let a = meta_account(&state, &staff, id).await?;
    let access = staff.require(Permission::TokensManage, Scope::Account(id))?;
    let t = staff.t();
    match token_store::roll_back(&state.db, &access, id, OffsetDateTime::now_utc()).await? {
        Ok(()) => {}
        Err(Refused::NoPrevious) => {
            return refuse(&state, &staff, a, t.tk_no_previous.into()).await;
        }
        Err(Refused::NotFound) => return Err(staff.not_found()),
    }
    state.numbers_changed();
    state.outbox.wake();
    staff
        .audit(
            &state,
            "token.roll_back",
            format!("account:{id}"),
            a.slug.clone(),
        )
        .await?;
    staff.flash(t.tk_rolled_back).await;
    see_other(&format!("/accounts/{id}#token"))
}

async fn exchange(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    let a = meta_account(&state, &staff, id).await?;
    let access = staff.require(Permission::TokensManage, Scope::Account(id))?;
    let t = staff.t();
    let (Some((app_id, app_secret)), Some(current)) = (
        app_of(&state, &a),
        a.secret(&state.secrets, Purpose::MetaAccessToken),
    ) else {
        return refuse(&state, &staff, a, t.tk_needs_app.into()).await;
    };
    let app = AppCredentials {
        app_id: &app_id,
        app_secret: app_secret.expose_secret(),
    };
    let now = OffsetDateTime::now_utc();
    let exchanged =
        match meta_check::exchange(&state.checks.graph, &app, current.expose_secret(), now).await {
            Ok(e) => e,
            Err(e) if e.provider_down() => {
                return refuse(&state, &staff, a, t.tk_provider_down.into()).await;
            }
            Err(e) => {
                tracing::warn!(account = %a.slug, error = %e, "token exchange refused");
                return refuse(
                    &state,
                    &staff,
                    a,
                    format!("{} {}", t.tk_exchange_failed, e.error),
                )
                .await;
            }
        };
    let token = exchanged.token.expose_secret();
    let (checked, _) = match validate(&state, &staff, &a, token).await {
        Ok(v) => v,
        Err(e) => return refuse(&state, &staff, a, format!("{} {e}", t.tk_rotate_refused)).await,
    };
    let checked = Checked {
        expires_at: checked.expires_at.or(exchanged.expires_at),
        ..checked
    };
    let done = Placed {
        action: "token.exchange",
        flash: t.tk_exchanged,
    };
    put_in_place(&state, &staff, &access, id, token, checked, done).await
}

/// Checks the current token with Meta now and records what Meta said: a
/// refused token holds the number's messages, a good one releases them
/// (`tokens::check`). A token found refused here is audited once.
async fn check(State(state): State<AppState>, staff: Staff, Path(id): Path<i64>) -> WebResult {
    let a = meta_account(&state, &staff, id).await?;
    let t = staff.t();
    let now = OffsetDateTime::now_utc();
    let report = match token_check::check_number(&state, &a, now).await? {
        Outcome::Checked(r) => r,
        Outcome::ProviderDown => {
            return refuse(&state, &staff, a, t.tk_provider_down.into()).await;
        }
        Outcome::NotChecked(Missing::Token) => {
            return refuse(&state, &staff, a, t.ch_secret_unset.into()).await;
        }
        Outcome::NotChecked(Missing::App) => {
            return refuse(&state, &staff, a, t.tk_needs_app.into()).await;
        }
        Outcome::NotChecked(Missing::NotMeta) => {
            return Err(staff.bad_request(t.tk_not_meta));
        }
    };
    if report.newly_refused {
        staff
            .audit(
                &state,
                "token.refused",
                format!("account:{id}"),
                report.refused.clone().unwrap_or_default(),
            )
            .await?;
    }
    if !report.problems.is_empty() {
        let a = super::accounts::load(&state, &staff, id).await?;
        return refuse(&state, &staff, a, report.problems_text(staff.lang)).await;
    }
    staff.flash(t.tk_checked).await;
    see_other(&format!("/accounts/{id}#token"))
}
