//! The `uic-inbox token` commands: `token check` validates every Meta
//! number's token with Meta and says which need an administrator;
//! `token exchange` exchanges one number's token for a 60-day one. What
//! they print never holds a token nor a full phone number.

use super::check::{self, Missing, Outcome};
use super::store::{self, Checked, Kind};
use super::{Known, Standing};
use crate::AppState;
use crate::audit;
use crate::auth::{Actor, Lang, Permission, Scope};
use crate::channel::meta::check::{self as meta_check, AppCredentials};
use crate::secrets::Purpose;
use crate::tenancy::{Provider, store as accounts};
use anyhow::{Context, bail};
use time::{Duration, OffsetDateTime};

/// The audit log's name for the commands.
pub const ACTOR: &str = "command line";

/// What `token check` says of one number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub slug: String,
    /// `good`, `expiring`, `expired`, `refused`, `unset` (no token stored),
    /// `unchecked` (no app credentials to check it with) or `unknown`
    /// (Meta could not be reached).
    pub state: &'static str,
    /// Whole days before the token expires (`None`: never, or not known).
    pub days_left: Option<i64>,
    /// What is wrong, in English (empty when nothing is).
    pub problem: String,
    /// An administrator must act: the command exits with 1.
    pub bad: bool,
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let days = match (self.days_left, self.state) {
            (Some(d), _) => d.to_string(),
            (None, "good") => "never".to_string(),
            (None, _) => "-".to_string(),
        };
        write!(f, "{:<24} {:<9} {:>6}", self.slug, self.state, days)?;
        if !self.problem.is_empty() {
            write!(f, "  {}", self.problem)?;
        }
        Ok(())
    }
}

/// The heading of `token check`'s lines.
pub const HEADING: &str = "NUMBER                   STATE     DAYS LEFT  PROBLEM";

/// How one number's check reads at `now`: bad when the token is refused,
/// expired, has any other problem, could not be checked, or expires within
/// `within_days` days.
pub fn judge(slug: &str, outcome: &Outcome, within_days: i64, now: OffsetDateTime) -> Line {
    let line = |state, problem: &str| Line {
        slug: slug.to_string(),
        state,
        days_left: None,
        problem: problem.to_string(),
        bad: true,
    };
    let report = match outcome {
        Outcome::NotChecked(Missing::Token) => {
            return line("unset", "no access token is stored for this number");
        }
        Outcome::NotChecked(Missing::App) => {
            return line(
                "unchecked",
                "the Meta app ID or app secret is missing: the token cannot be checked",
            );
        }
        Outcome::NotChecked(Missing::NotMeta) => {
            return line("unchecked", "not a Meta number");
        }
        Outcome::ProviderDown => return line("unknown", "Meta could not be reached"),
        Outcome::Checked(r) => r,
    };
    let standing = super::standing(
        &Known {
            expires_at: report.expires_at,
            validated_at: Some(now),
            refused: report.refused.is_some(),
        },
        now,
    );
    let state = match standing {
        Standing::Unchecked => "unchecked",
        Standing::Good => "good",
        Standing::Expiring { .. } => "expiring",
        Standing::Expired => "expired",
        Standing::Refused => "refused",
    };
    let soon = report
        .expires_at
        .is_some_and(|at| at - now <= Duration::seconds(within_days.saturating_mul(86_400)));
    let mut problem = report.problems_text(Lang::En);
    if problem.is_empty() && soon {
        problem = format!("the token expires within {within_days} days: exchange or replace it");
    }
    Line {
        slug: slug.to_string(),
        state,
        days_left: report.expires_at.map(|at| super::days_left(at, now)),
        bad: standing.blocks_sending() || !report.problems.is_empty() || soon,
        problem,
    }
}

/// `token check`: every enabled Meta number of every tenant checked with
/// Meta at `now` and recorded (a token found refused is audited once, as
/// the watch does). One line per number, in slug order.
pub async fn check_all(
    state: &AppState,
    within_days: i64,
    now: OffsetDateTime,
) -> anyhow::Result<Vec<Line>> {
    let mut numbers = accounts::meta_accounts(&state.db).await?;
    numbers.sort_by(|a, b| a.slug.cmp(&b.slug));
    let mut lines = Vec::with_capacity(numbers.len());
    for account in numbers {
        let outcome = check::check_number(state, &account, now).await?;
        if let Outcome::Checked(r) = &outcome
            && r.newly_refused
        {
            let reason = r.refused.clone().unwrap_or_default();
            super::watch::audit_refused(&state.db, &account, ACTOR, reason).await?;
        }
        lines.push(judge(&account.slug, &outcome, within_days, now));
    }
    Ok(lines)
}

/// `token exchange --account SLUG`: the number's token exchanged with Meta
/// for a long-lived one, checked, and put in its place (the old one kept
/// for a rollback until the new one sends). What to print: the slug, the
/// new token's kind and expiry.
pub async fn exchange(state: &AppState, slug: &str, now: OffsetDateTime) -> anyhow::Result<String> {
    let Some(account) = accounts::find_by_slug(&state.db, slug).await? else {
        bail!("no number has the slug {slug:?}");
    };
    if account.provider() != Provider::Meta {
        bail!("{:?} is not a Meta number", account.slug);
    }
    let Some(current) = account.secret(&state.secrets, Purpose::MetaAccessToken) else {
        bail!("{:?} has no access token stored", account.slug);
    };
    let (Some(app_id), Some(app_secret)) = (
        account.meta_app_id.as_deref(),
        account.secret(&state.secrets, Purpose::MetaAppSecret),
    ) else {
        bail!(
            "{:?} has no Meta app ID or app secret: a token cannot be exchanged without them",
            account.slug
        );
    };
    let app = AppCredentials {
        app_id,
        app_secret: app_secret.expose_secret(),
    };
    let exchanged = meta_check::exchange(&state.checks.graph, &app, current.expose_secret(), now)
        .await
        .context("Meta did not exchange the token")?;
    let token = exchanged.token.expose_secret();
    let number = account.meta_phone_number_id.as_deref().unwrap_or("");
    let v = meta_check::validate(
        &state.checks.graph,
        &app,
        number,
        account.meta_waba_id.as_deref(),
        token,
        now,
    )
    .await;
    if !v.is_ok() {
        let problems: Vec<String> = v.problems.iter().map(|p| p.text(Lang::En)).collect();
        bail!(
            "the exchanged token was not put in place: {}",
            problems.join(" ")
        );
    }
    let checked = Checked {
        kind: v.token.as_ref().and_then(|r| r.kind).map(Kind::from),
        expires_at: v
            .token
            .as_ref()
            .and_then(|r| r.expires_at)
            .or(exchanged.expires_at),
    };
    // The operator's own command: every permission in the number's tenant.
    let access = Actor::operator(account.tenant_id)
        .require(Permission::TokensManage, Scope::Tenant)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if store::rotate(
        &state.db,
        &state.secrets,
        &access,
        account.id,
        token,
        checked,
        now,
    )
    .await?
    .is_err()
    {
        bail!("{:?} is no longer a Meta number", account.slug);
    }
    let described = describe(checked);
    audit::record(
        &state.db,
        &audit::Entry {
            tenant_id: Some(account.tenant_id),
            user_id: None,
            actor: ACTOR,
            action: "token.exchange",
            target: format!("account:{}", account.id),
            detail: described.clone(),
            ip: None,
        },
    )
    .await?;
    Ok(format!(
        "{}: token exchanged and in place ({described})",
        account.slug
    ))
}

/// A token's kind and expiry, never the token.
fn describe(c: Checked) -> String {
    let kind = c.kind.map_or("unknown kind", Kind::as_str);
    match c.expires_at {
        Some(at) => format!("{kind}, expires {}", at.date()),
        None => format!("{kind}, no expiry"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::meta::check::Problem;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-01 10:00 UTC);

    fn checked(expires_in: Option<Duration>, problems: Vec<Problem>) -> Outcome {
        let refused = problems
            .iter()
            .find(|p| matches!(p, Problem::Expired { .. } | Problem::Invalid { .. }))
            .map(|p| p.text(Lang::En));
        Outcome::Checked(check::Report {
            problems,
            newly_refused: refused.is_some(),
            refused,
            kind: Some(Kind::LongLived),
            expires_at: expires_in.map(|d| NOW + d),
        })
    }

    #[test]
    fn a_token_is_bad_when_refused_or_expiring_within_the_days_given() {
        let good = judge("matadi", &checked(Some(Duration::days(30)), vec![]), 7, NOW);
        assert_eq!(
            (good.state, good.days_left, good.bad),
            ("good", Some(30), false)
        );
        assert_eq!(good.problem, "");
        let never = judge("matadi", &checked(None, vec![]), 7, NOW);
        assert!(!never.bad);
        assert!(never.to_string().contains("never"), "{never}");
        let soon = judge("matadi", &checked(Some(Duration::days(5)), vec![]), 7, NOW);
        assert_eq!(
            (soon.state, soon.days_left, soon.bad),
            ("expiring", Some(5), true)
        );
        assert!(soon.problem.contains("within 7 days"), "{}", soon.problem);
        // Expiring, but not within the days asked for.
        let later = judge("matadi", &checked(Some(Duration::days(10)), vec![]), 7, NOW);
        assert_eq!((later.state, later.bad), ("expiring", false));
        let refused = Problem::Invalid {
            code: 190,
            message: "Error validating access token".into(),
        };
        let refused = judge(
            "matadi",
            &checked(Some(Duration::days(30)), vec![refused]),
            7,
            NOW,
        );
        assert_eq!((refused.state, refused.bad), ("refused", true));
        assert!(!refused.problem.is_empty());
        let down = judge("matadi", &Outcome::ProviderDown, 7, NOW);
        assert_eq!((down.state, down.bad), ("unknown", true));
        // Any number of days is taken without overflow.
        assert!(
            judge(
                "matadi",
                &checked(Some(Duration::days(5)), vec![]),
                i64::MAX,
                NOW
            )
            .bad
        );
        let unset = judge("matadi", &Outcome::NotChecked(Missing::Token), 7, NOW);
        assert_eq!((unset.state, unset.bad), ("unset", true));
    }
}
