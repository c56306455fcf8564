//! The token watch: a background task that checks every Meta number's
//! token with Meta about once a day and warns its tenant before the token
//! expires.
//!
//! - Each pass (every [`EVERY`]) claims each enabled Meta number whose
//!   token was not checked for [`CHECK_AFTER`] (`store::claim_check`, a
//!   compare-and-set on `token_life.checked_at`): of several server
//!   instances, one checks a number; a number checked by hand on its page
//!   counts as checked; when Meta cannot be reached, the number is tried
//!   again at the next pass. A token Meta refuses, or that expired, flags
//!   the number (its messages are held) and is audited once as
//!   `token.refused`, when the number goes from good to refused.
//! - Then, for each number whose token is not refused, the expiry warning
//!   due (`tokens::warning_due`: 14, 7, 3 and 1 days before, each once) is
//!   recorded with its audit entry `token.expiring` in the number's tenant,
//!   again with a compare-and-set so that one instance writes it.
//!
//! - Last, every tenant's numbers are looked at as their pages would be
//!   (`tenancy::health`): a fact that turned bad is recorded as an
//!   incident (`number.incident`) even when nobody opens a page.
//!
//! Time is an argument of [`run_once`]: the tests move it.

use super::check::{self, Outcome};
use super::store;
use crate::AppState;
use crate::audit;
use crate::auth::{Actor, Permission, Scope};
use crate::tenancy::{Account, health, store as accounts};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// How often a pass runs. Short beside [`CHECK_AFTER`], so that a restart
/// or a missed pass delays a check by this much at most.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// A number's token is checked again once its last check is this old:
/// about once a day with passes every hour.
pub const CHECK_AFTER: Duration = Duration::hours(20);

/// The audit log's name for the watch.
pub const ACTOR: &str = "token-watch";

/// What one pass did (account ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Numbers whose token this pass checked with Meta.
    pub checked: Vec<i64>,
    /// Numbers this pass found refused (they could send before).
    pub refused: Vec<i64>,
    /// `(account id, days)`: the warnings this pass gave.
    pub warned: Vec<(i64, i64)>,
    /// Numbers whose check could not be made: Meta unreachable (tried
    /// again at the next pass), or nothing to check with (no token, no app
    /// credentials: tried again after [`CHECK_AFTER`]).
    pub not_checked: Vec<i64>,
    /// Incidents (a number's health turned bad) this pass recorded.
    pub incidents: usize,
}

/// The audit entry of a token found refused (`detail`: Meta's reason or
/// error code, never the token). System entries have no user.
pub async fn audit_refused(
    db: &crate::db::Db,
    account: &Account,
    actor: &str,
    detail: String,
) -> Result<(), sqlx::Error> {
    audit::record(
        db,
        &audit::Entry {
            tenant_id: Some(account.tenant_id),
            user_id: None,
            actor,
            action: "token.refused",
            target: format!("account:{}", account.id),
            detail,
            ip: None,
        },
    )
    .await
}

/// One pass of the watch as of `now`.
pub async fn run_once(state: &AppState, now: OffsetDateTime) -> anyhow::Result<Pass> {
    let db = &state.db;
    let mut pass = Pass::default();
    for account in accounts::meta_accounts(db).await? {
        let mut refused = account.token_invalid();
        if store::claim_check(db, account.tenant_id, account.id, now - CHECK_AFTER, now).await? {
            match check::check_number(state, &account, now).await? {
                Outcome::Checked(report) => {
                    pass.checked.push(account.id);
                    refused = report.refused.is_some();
                    if report.newly_refused {
                        let reason = report.refused.unwrap_or_default();
                        tracing::warn!(account = %account.slug, reason = %reason,
                            "token watch: Meta refuses the number's token; its messages are held");
                        audit_refused(db, &account, ACTOR, reason).await?;
                        pass.refused.push(account.id);
                    }
                }
                Outcome::ProviderDown => {
                    tracing::warn!(account = %account.slug,
                        "token watch: Meta could not be reached; the number is checked at the next pass");
                    store::release_check(db, account.id, now).await?;
                    pass.not_checked.push(account.id);
                }
                Outcome::NotChecked(missing) => {
                    tracing::warn!(account = %account.slug, missing = ?missing,
                        "token watch: the number's token cannot be checked");
                    pass.not_checked.push(account.id);
                }
            }
        }
        if refused {
            continue;
        }
        let Some((expires_at, warned)) = store::expiry(db, account.id).await? else {
            continue;
        };
        let Some(days) = super::warning_due(expires_at, warned.map(i64::from), now) else {
            continue;
        };
        let left = expires_at.map_or(days, |at| super::days_left(at, now));
        let entry = audit::Entry {
            tenant_id: Some(account.tenant_id),
            user_id: None,
            actor: ACTOR,
            action: "token.expiring",
            target: format!("account:{}", account.id),
            detail: format!("{left} days left"),
            ip: None,
        };
        if store::record_warning(db, account.id, days, &entry, now).await? {
            tracing::warn!(account = %account.slug, days_left = left,
                "token watch: the number's token expires soon");
            pass.warned.push((account.id, days));
        }
    }
    // Every tenant's numbers looked at as their pages would: a fact that
    // turned bad (token, quality, held or failing sends) is an incident
    // in the audit log even when nobody opens a page.
    for tenant in accounts::list_tenants(db).await? {
        let access = Actor::operator(tenant.id).require(Permission::AccountsView, Scope::Tenant)?;
        let strips = health::strips(db, &access, now).await?;
        pass.incidents += health::notice(db, &access, &strips).await?.len();
    }
    Ok(pass)
}

/// The first pass waits this long after the start: the server is up and
/// answering by then, and instances started together do not all ask Meta
/// at once.
pub const FIRST_PASS_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs a pass [`FIRST_PASS_AFTER`] the start, then every [`EVERY`], until
/// `stop` is notified.
pub async fn run(state: AppState, stop: Arc<tokio::sync::Notify>) {
    tokio::select! {
        _ = tokio::time::sleep(FIRST_PASS_AFTER) => {}
        _ = stop.notified() => return,
    }
    loop {
        match run_once(&state, OffsetDateTime::now_utc()).await {
            Ok(pass) => tracing::info!(
                checked = pass.checked.len(),
                refused = pass.refused.len(),
                warned = pass.warned.len(),
                not_checked = pass.not_checked.len(),
                incidents = pass.incidents,
                "token watch done"
            ),
            Err(e) => tracing::error!(error = format!("{e:#}"), "token watch failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.notified() => return,
        }
    }
}
