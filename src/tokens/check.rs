//! One check of a Meta number's current token with Meta, recorded: what
//! the number page's « Vérifier maintenant », the daily watch and the
//! `token check` command all do. A token Meta refuses (or that expired)
//! holds the number's messages; a good one releases them.

use super::store::{self, Checked, Kind};
use crate::AppState;
use crate::auth::Lang;
use crate::channel::meta::check::{self as meta_check, AppCredentials, MessagingLimit, Problem};
use crate::secrets::Purpose;
use crate::tenancy::{Account, Provider};
use time::OffsetDateTime;

/// What a check could not start without.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Not a Meta number.
    NotMeta,
    /// No access token stored (or it does not open).
    Token,
    /// No app id or app secret: `debug_token` cannot be asked.
    App,
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was asked nor recorded.
    NotChecked(Missing),
    /// Meta could not be reached: nothing recorded.
    ProviderDown,
    /// Meta answered; what it said is recorded.
    Checked(Report),
}

/// What Meta said of the token, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Every problem found (empty: the token is good for this number).
    pub problems: Vec<Problem>,
    /// Why the token cannot send (refused or expired), in English: the
    /// number is flagged and its messages held.
    pub refused: Option<String>,
    /// This check flagged the number: it could send until now.
    pub newly_refused: bool,
    pub kind: Option<Kind>,
    pub expires_at: Option<OffsetDateTime>,
}

impl Report {
    /// The problems in `lang`, one sentence after the other (never the
    /// token: Meta's messages are redacted by the client).
    pub fn problems_text(&self, lang: Lang) -> String {
        let texts: Vec<String> = self.problems.iter().map(|p| p.text(lang)).collect();
        texts.join(" ")
    }
}

/// Checks `account`'s current token with Meta at `now` and records the
/// answer (`store::record_check`). The accounts and banners caches are
/// cleared, and the outbox woken when the token is good, so held messages
/// go out.
pub async fn check_number(
    state: &AppState,
    account: &Account,
    now: OffsetDateTime,
) -> Result<Outcome, sqlx::Error> {
    if account.provider() != Provider::Meta {
        return Ok(Outcome::NotChecked(Missing::NotMeta));
    }
    let Some(current) = account.secret(&state.secrets, Purpose::MetaAccessToken) else {
        return Ok(Outcome::NotChecked(Missing::Token));
    };
    let (Some(app_id), Some(app_secret)) = (
        account.meta_app_id.as_deref(),
        account.secret(&state.secrets, Purpose::MetaAppSecret),
    ) else {
        return Ok(Outcome::NotChecked(Missing::App));
    };
    let app = AppCredentials {
        app_id,
        app_secret: app_secret.expose_secret(),
    };
    let number = account.meta_phone_number_id.as_deref().unwrap_or("");
    let v = meta_check::validate(
        &state.checks.graph,
        &app,
        number,
        account.meta_waba_id.as_deref(),
        current.expose_secret(),
        now,
    )
    .await;
    if v.problems
        .iter()
        .any(|p| matches!(p, Problem::ProviderDown))
    {
        return Ok(Outcome::ProviderDown);
    }
    let refused = v
        .problems
        .iter()
        .find(|p| matches!(p, Problem::Expired { .. } | Problem::Invalid { .. }))
        .map(|p| p.text(Lang::En));
    let quality = v
        .number
        .as_ref()
        .map(|n| format!("{:?}", n.quality_rating).to_uppercase());
    let limit = v
        .number
        .as_ref()
        .and_then(|n| n.messaging_limit.as_ref())
        .map(|l| match l {
            MessagingLimit::People(n) => n.to_string(),
            MessagingLimit::Unlimited => "unlimited".to_string(),
            MessagingLimit::Other(s) => s.clone(),
        });
    let checked = Checked {
        kind: v.token.as_ref().and_then(|r| r.kind).map(Kind::from),
        expires_at: v.token.as_ref().and_then(|r| r.expires_at),
    };
    let newly_refused = store::record_check(
        &state.db,
        account.tenant_id,
        account.id,
        checked,
        refused.as_deref(),
        (quality.as_deref(), limit.as_deref()),
        now,
    )
    .await?;
    // The number's token standing, and so its banner, may have changed.
    state.numbers_changed();
    if refused.is_none() {
        state.outbox.wake();
    }
    Ok(Outcome::Checked(Report {
        problems: v.problems,
        refused,
        newly_refused,
        kind: checked.kind,
        expires_at: checked.expires_at,
    }))
}
