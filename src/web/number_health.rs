//! How the pages show the numbers' health (`tenancy::health`): the strip
//! under each number (numbers page, home page) and the banner on every
//! page of those who may replace the token (its token needs them, or an
//! incident of its quality or its sends is not over).

use super::Staff;
use super::texts::Texts;
use crate::AppState;
use crate::auth::{Actor, Permission, Scope};
use crate::tenancy::health::{self, Alarm, Fact, Strip};
use crate::tokens::Standing;
use time::OffsetDateTime;

/// One line of the banner: what is wrong with a number's token, and where
/// to replace it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BannerItem {
    pub href: String,
    pub text: String,
    /// The link's words.
    pub act: &'static str,
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

/// The strips of the access's numbers (`accounts.view`), their changes
/// noticed (an incident for a fact turned bad), and the banners forgotten
/// when something changed.
pub async fn strips(
    state: &AppState,
    access: &crate::auth::Access,
    now: OffsetDateTime,
) -> Result<Vec<Strip>, crate::auth::AccessError> {
    let strips = health::strips(&state.db, access, now).await?;
    health::notice(&state.db, access, &strips).await?;
    if strips.iter().any(Strip::changed) {
        state.banners.clear();
    }
    Ok(strips)
}

/// The banner's line for a number, if its token needs action at `now` or
/// an incident of its quality or sends is recorded.
pub fn banner_item(a: &Alarm, t: &Texts, now: OffsetDateTime) -> Option<BannerItem> {
    let token = match a.standing(now) {
        Some(Standing::Expiring { days_left: 0 }) => Some(t.hb_banner_today.to_string()),
        Some(Standing::Expiring { days_left }) => {
            Some(t.hb_banner_expiring.replace("{n}", &days_left.to_string()))
        }
        Some(Standing::Expired) => Some(t.hb_banner_expired.to_string()),
        Some(Standing::Refused) => Some(t.hb_banner_refused.to_string()),
        Some(Standing::Good | Standing::Unchecked) | None => None,
    };
    if let Some(text) = token {
        return Some(BannerItem {
            href: format!("/accounts/{}#token", a.account_id),
            text: text.replace("{name}", &a.name),
            act: t.hb_banner_act,
        });
    }
    let mut facts = Vec::new();
    if a.recorded.contains(&Fact::Quality) {
        facts.push(t.hb_quality_red);
    }
    if a.recorded.contains(&Fact::Sending) {
        facts.push(t.hb_held);
    }
    if facts.is_empty() {
        return None;
    }
    Some(BannerItem {
        href: format!("/accounts#strip-{}", a.account_id),
        text: t
            .hb_banner_incident
            .replace("{name}", &a.name)
            .replace("{facts}", &facts.join(", ")),
        act: t.hb_banner_see,
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
            s.bad.contains(&Fact::Quality),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::Known;
    use std::collections::BTreeSet;
    use time::Duration;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-01 10:00 UTC);

    fn alarm(token: Option<Known>, recorded: &[Fact]) -> Alarm {
        Alarm {
            account_id: 7,
            name: "Goma".into(),
            token,
            recorded: recorded.iter().copied().collect::<BTreeSet<_>>(),
        }
    }

    fn token(expires_in: Duration, refused: bool) -> Option<Known> {
        Some(Known {
            expires_at: Some(NOW + expires_in),
            validated_at: Some(NOW - Duration::hours(1)),
            refused,
        })
    }

    #[test]
    fn the_banner_says_what_the_token_needs_and_links_to_it() {
        let t = &super::super::texts::FR;
        let line = |a: &Alarm| banner_item(a, t, NOW);
        let soon = line(&alarm(token(Duration::hours(80), false), &[])).unwrap();
        assert_eq!(soon.href, "/accounts/7#token");
        assert!(soon.text.contains("Goma") && soon.text.contains("expire dans 3 jours"));
        let today = line(&alarm(token(Duration::hours(5), false), &[])).unwrap();
        assert!(today.text.contains("aujourd'hui"));
        let expired = line(&alarm(token(-Duration::hours(5), false), &[])).unwrap();
        assert!(expired.text.contains("a expiré"));
        let refused = line(&alarm(token(Duration::days(40), true), &[])).unwrap();
        assert!(refused.text.contains("Meta refuse"));
        assert_eq!(line(&alarm(token(Duration::days(40), false), &[])), None);
        // A token fact recorded but the token good again: nothing.
        assert_eq!(
            line(&alarm(token(Duration::days(40), false), &[Fact::Token])),
            None
        );
    }

    #[test]
    fn the_banner_names_an_incident_of_quality_or_sends_on_any_provider() {
        let t = &super::super::texts::EN;
        let a = alarm(None, &[Fact::Quality, Fact::Sending]);
        let line = banner_item(&a, t, NOW).unwrap();
        assert_eq!(line.href, "/accounts#strip-7");
        assert_eq!(
            line.text,
            "The number \"Goma\" has a problem: quality RED at Meta, sends held."
        );
        assert_eq!(banner_item(&alarm(None, &[]), t, NOW), None);
    }
}
