//! How the pages show the numbers' health (`tenancy::health`): the strip
//! under each number (numbers page, home page) and the token banner on
//! every page of those who may replace the token.

use super::Staff;
use super::texts::Texts;
use crate::AppState;
use crate::auth::{Actor, Permission, Scope};
use crate::tenancy::health::{Alarm, Strip};
use crate::tokens::Standing;
use time::OffsetDateTime;

/// One line of the banner: what is wrong with a number's token, and where
/// to replace it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BannerItem {
    pub href: String,
    pub text: String,
}

/// The banner's lines for this actor: the numbers on which they hold
/// `tokens.manage` whose token needs action. No query for those who hold
/// it nowhere; otherwise the facts cached a few seconds (`Banners`).
pub async fn banner(
    state: &AppState,
    actor: &Actor,
    user_id: i64,
    t: &Texts,
) -> Result<Vec<BannerItem>, crate::auth::AccessError> {
    let Ok(access) = actor.require(Permission::TokensManage, Scope::AnyAccount) else {
        return Ok(Vec::new());
    };
    let now = OffsetDateTime::now_utc();
    let alarms = state.banners.get(&state.db, &access, user_id, now).await?;
    Ok(alarms
        .iter()
        .filter_map(|a| banner_item(a, t, now))
        .collect())
}

/// The banner's line for a number, if its token needs action at `now`.
pub fn banner_item(a: &Alarm, t: &Texts, now: OffsetDateTime) -> Option<BannerItem> {
    let text = match a.standing(now) {
        Standing::Expiring { days_left: 0 } => t.hb_banner_today.to_string(),
        Standing::Expiring { days_left } => {
            t.hb_banner_expiring.replace("{n}", &days_left.to_string())
        }
        Standing::Expired => t.hb_banner_expired.to_string(),
        Standing::Refused => t.hb_banner_refused.to_string(),
        Standing::Good | Standing::Unchecked => return None,
    };
    Some(BannerItem {
        href: format!("/accounts/{}#token", a.account_id),
        text: text.replace("{name}", &a.name),
    })
}

/// One fact of a strip as shown.
pub struct FactView {
    pub text: String,
    pub bad: bool,
}

/// A strip as shown under its number.
pub struct StripView {
    pub account_id: i64,
    pub bad: bool,
    pub facts: Vec<FactView>,
}

/// The short facts of a strip, in the staff member's language.
pub fn view(staff: &Staff, s: &Strip, now: OffsetDateTime) -> StripView {
    let t = staff.t();
    let mut facts = vec![FactView {
        text: if s.is_bad() { t.hb_problem } else { t.hb_ok }.to_string(),
        bad: s.is_bad(),
    }];
    let mut fact = |text: String, bad: bool| facts.push(FactView { text, bad });
    if let Some(standing) = s.token {
        let text = match standing {
            Standing::Unchecked => t.hb_token_unchecked.to_string(),
            Standing::Good => t.hb_token_good.to_string(),
            Standing::Expiring { days_left: 0 } => t.hb_token_expires_today.to_string(),
            Standing::Expiring { days_left } => {
                t.hb_token_expiring.replace("{n}", &days_left.to_string())
            }
            Standing::Expired => t.hb_token_expired.to_string(),
            Standing::Refused => t.hb_token_refused.to_string(),
        };
        fact(text, standing.needs_action());
    }
    if let Some(q) = &s.quality {
        fact(
            format!("{} : {q}", t.hb_quality),
            s.bad.contains(&crate::tenancy::health::Fact::Quality),
        );
    }
    if let Some(l) = &s.limit {
        fact(format!("{} : {l}", t.hb_limit), false);
    }
    let last_in = s
        .last_inbound
        .map(|at| super::conversations::ago(staff, at, now))
        .unwrap_or_else(|| t.hb_never.to_string());
    fact(format!("{} : {last_in}", t.hb_last_in), false);
    if let Some((at, code)) = &s.last_failure {
        let when = super::conversations::ago(staff, *at, now);
        let text = match code {
            Some(c) => format!("{} : {when} ({} {c})", t.hb_last_failure, t.hb_code),
            None => format!("{} : {when}", t.hb_last_failure),
        };
        fact(text, false);
    }
    fact(format!("{} : {}", t.hb_outbox, s.depth), s.held());
    if s.held() {
        fact(t.hb_held.to_string(), true);
    }
    StripView {
        account_id: s.account_id,
        bad: s.is_bad(),
        facts,
    }
}
