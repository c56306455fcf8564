//! Each number's health strip: its token's standing and days left (Meta),
//! what Meta says of its quality and messaging limit, its last inbound
//! message, its last delivery failure, and its outbox depth; which of these
//! facts are bad; the incident (`number.incident` in the audit log) when a
//! fact turns bad; and the token banner's facts (numbers whose token needs
//! an administrator).
//!
//! Cost: one statement for all the numbers of a tenant, whose per-number
//! parts each read one index entry or a partial index (no scan of the
//! messages table, nor of a number's conversations): see the indexes of
//! migration `0010_health.sql`.

use crate::audit;
use crate::auth::{Access, AccessError, Permission};
use crate::db::Db;
use crate::inbox::MessageStatus;
use crate::outbox::store::OutboxStatus;
use crate::tenancy::{Provider, TokenStatus};
use crate::tokens::{self, Known, Standing};
use crate::{on_db_read, on_tx};
use std::collections::BTreeSet;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

crate::text_enum! {
    /// A fact of a strip that can turn bad (stored, comma-separated, in
    /// `whatsapp_accounts.health_bad`).
    pub enum Fact("health fact") {
        /// The token needs an administrator (expiring, expired, refused).
        Token = "token",
        /// Meta rates the number's quality RED.
        Quality = "quality",
        /// Sends wait: held for a new token, or the oldest overdue.
        Sending = "sending",
    }
}

impl PartialOrd for Fact {
    fn partial_cmp(&self, other: &Fact) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Fact {
    fn cmp(&self, other: &Fact) -> std::cmp::Ordering {
        (*self as u8).cmp(&(*other as u8))
    }
}

/// How long past its time the oldest send may still wait before the
/// number's sends are said to be failing (retries with backoff and rate
/// limits make a few minutes normal).
pub const OVERDUE_AFTER: Duration = Duration::minutes(15);

/// What the statement reads of one number.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    pub name: String,
    pub provider: Provider,
    pub token_status: TokenStatus,
    pub expires_at: Option<OffsetDateTime>,
    pub validated_at: Option<OffsetDateTime>,
    pub quality_rating: Option<String>,
    pub messaging_limit: Option<String>,
    pub health_bad: String,
    pub last_inbound_at: Option<OffsetDateTime>,
    pub failed_at: Option<OffsetDateTime>,
    pub failed_code: Option<String>,
    pub depth: i64,
    pub oldest_due: Option<OffsetDateTime>,
}

/// One number's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strip {
    pub account_id: i64,
    pub name: String,
    pub provider: Provider,
    /// Meta numbers only.
    pub token: Option<Standing>,
    /// Meta's quality rating (GREEN, YELLOW, RED, UNKNOWN), as last read.
    pub quality: Option<String>,
    /// Meta's messaging limit (TIER_1K…), as last read.
    pub limit: Option<String>,
    pub last_inbound: Option<OffsetDateTime>,
    /// When the last send failed for good, and the provider's error code.
    pub last_failure: Option<(OffsetDateTime, Option<String>)>,
    /// Sends waiting or under way.
    pub depth: i64,
    /// The facts that are bad now.
    pub bad: BTreeSet<Fact>,
    /// The bad facts last recorded (what `notice` compares with).
    recorded: BTreeSet<Fact>,
}

impl Strip {
    pub fn is_bad(&self) -> bool {
        !self.bad.is_empty()
    }

    /// Whether its bad facts differ from those last recorded (`notice`
    /// records them).
    pub fn changed(&self) -> bool {
        self.bad != self.recorded
    }

    /// Whether the sends wait (a bad `Sending` fact).
    pub fn held(&self) -> bool {
        self.bad.contains(&Fact::Sending)
    }
}

/// A stored list of facts; words this version does not know are left out.
fn parse_facts(s: &str) -> BTreeSet<Fact> {
    s.split(',').filter_map(|w| Fact::parse(w.trim())).collect()
}

fn join_facts(facts: &BTreeSet<Fact>) -> String {
    facts
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Which facts are bad: the token needs action, the quality is RED, or
/// sends wait (held by a token that cannot send, or the oldest overdue by
/// more than [`OVERDUE_AFTER`]).
pub fn bad_facts(
    token: Option<Standing>,
    quality: Option<&str>,
    depth: i64,
    oldest_due: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> BTreeSet<Fact> {
    let mut bad = BTreeSet::new();
    if token.is_some_and(Standing::needs_action) {
        bad.insert(Fact::Token);
    }
    if quality.is_some_and(|q| q.trim().eq_ignore_ascii_case("red")) {
        bad.insert(Fact::Quality);
    }
    let blocked = token.is_some_and(Standing::blocks_sending);
    let overdue = oldest_due.is_some_and(|at| now - at > OVERDUE_AFTER);
    if depth > 0 && (blocked || overdue) {
        bad.insert(Fact::Sending);
    }
    bad
}

/// The strip of a number as read (pure).
pub fn strip_of(row: Row, now: OffsetDateTime) -> Strip {
    let token = (row.provider == Provider::Meta).then(|| {
        tokens::standing(
            &Known {
                expires_at: row.expires_at,
                validated_at: row.validated_at,
                refused: row.token_status == TokenStatus::Invalid,
            },
            now,
        )
    });
    let bad = bad_facts(
        token,
        row.quality_rating.as_deref(),
        row.depth,
        row.oldest_due,
        now,
    );
    Strip {
        account_id: row.id,
        name: row.name,
        provider: row.provider,
        token,
        quality: row.quality_rating.filter(|q| !q.is_empty()),
        limit: row.messaging_limit.filter(|l| !l.is_empty()),
        last_inbound: row.last_inbound_at,
        last_failure: row.failed_at.map(|at| (at, row.failed_code)),
        depth: row.depth,
        bad,
        recorded: parse_facts(&row.health_bad),
    }
}

/// The statement (statuses written in, not bound: the partial indexes
/// `messages_failed` and `outbox_due` are used only when the query's
/// condition is theirs word for word).
fn strips_sql() -> String {
    let failed = MessageStatus::Failed;
    let (pending, sending) = (OutboxStatus::Pending, OutboxStatus::Sending);
    format!(
        "SELECT a.id, a.name, a.provider, a.token_status, t.expires_at, t.validated_at,
            t.quality_rating, t.messaging_limit, a.health_bad,
            (SELECT c.last_inbound_at FROM conversations c
              WHERE c.account_id = a.id AND c.last_inbound_at IS NOT NULL
              ORDER BY c.last_inbound_at DESC LIMIT 1) AS last_inbound_at,
            (SELECT m.updated_at FROM messages m
              WHERE m.account_id = a.id AND m.status = '{failed}'
              ORDER BY m.updated_at DESC LIMIT 1) AS failed_at,
            (SELECT m.error_code FROM messages m
              WHERE m.account_id = a.id AND m.status = '{failed}'
              ORDER BY m.updated_at DESC LIMIT 1) AS failed_code,
            (SELECT COUNT(*) FROM outbox o
              WHERE o.account_id = a.id AND o.status IN ('{pending}', '{sending}')) AS depth,
            (SELECT MIN(o.next_attempt_at) FROM outbox o
              WHERE o.account_id = a.id AND o.status IN ('{pending}', '{sending}')) AS oldest_due
         FROM whatsapp_accounts a
         LEFT JOIN token_life t ON t.account_id = a.id AND t.tenant_id = a.tenant_id
         WHERE a.tenant_id = $1
         ORDER BY a.name, a.id"
    )
}

/// The strips of the numbers the access covers (`accounts.view`), by name.
pub async fn strips(
    db: &Db,
    access: &Access,
    now: OffsetDateTime,
) -> Result<Vec<Strip>, AccessError> {
    access.is_for(Permission::AccountsView)?;
    let sql = strips_sql();
    let rows: Vec<Row> = on_db_read!(db, p => sqlx::query_as::<_, Row>(&sql)
        .bind(access.tenant_id()).fetch_all(p).await)?;
    Ok(rows
        .into_iter()
        .filter(|r| access.covers(r.id))
        .map(|r| strip_of(r, now))
        .collect())
}

/// An incident recorded: a number whose facts turned bad.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub account_id: i64,
    /// The facts that were not bad at the last record.
    pub facts: Vec<Fact>,
}

/// What the audit entry says of a fact (no secret, no phone number).
fn describe(strip: &Strip, fact: Fact) -> String {
    match fact {
        Fact::Token => match strip.token {
            Some(Standing::Expiring { days_left }) => format!("token expiring ({days_left} days)"),
            Some(Standing::Expired) => "token expired".into(),
            Some(Standing::Refused) => "token refused by Meta".into(),
            _ => "token".into(),
        },
        Fact::Quality => "quality RED".into(),
        Fact::Sending => format!("sends held ({} waiting)", strip.depth),
    }
}

/// Records each strip's bad facts where they changed since the last record
/// and writes a `number.incident` audit entry for the facts that turned
/// bad, once: the record is a compare-and-set on what was read, so of two
/// instances noticing the same change only one writes it. Returns the
/// incidents written. Called where strips are computed (the numbers and
/// home pages, the daily check).
pub async fn notice(
    db: &Db,
    access: &Access,
    strips: &[Strip],
) -> Result<Vec<Incident>, AccessError> {
    access.is_for(Permission::AccountsView)?;
    let mut incidents = Vec::new();
    for strip in strips {
        if !strip.changed() || !access.covers(strip.account_id) {
            continue;
        }
        let mut tx = db.begin().await?;
        let changed = on_tx!(&mut tx, c => sqlx::query(
            "UPDATE whatsapp_accounts SET health_bad = $1
             WHERE id = $2 AND tenant_id = $3 AND health_bad = $4")
            .bind(join_facts(&strip.bad)).bind(strip.account_id).bind(access.tenant_id())
            .bind(join_facts(&strip.recorded))
            .execute(&mut *c).await.map(|r| r.rows_affected()))?;
        let new: Vec<Fact> = strip.bad.difference(&strip.recorded).copied().collect();
        if changed == 1 && !new.is_empty() {
            let detail = new
                .iter()
                .map(|f| describe(strip, *f))
                .collect::<Vec<_>>()
                .join("; ");
            audit::record_in(
                &mut tx,
                &audit::Entry {
                    tenant_id: Some(access.tenant_id()),
                    user_id: None,
                    actor: "system",
                    action: "number.incident",
                    target: format!("account:{}", strip.account_id),
                    detail,
                    ip: None,
                },
            )
            .await?;
            incidents.push(Incident {
                account_id: strip.account_id,
                facts: new,
            });
        }
        tx.commit().await?;
    }
    Ok(incidents)
}

/// The strips of the access's numbers, with their changes noticed.
pub async fn strips_noticed(
    db: &Db,
    access: &Access,
    now: OffsetDateTime,
) -> Result<Vec<Strip>, AccessError> {
    let strips = strips(db, access, now).await?;
    notice(db, access, &strips).await?;
    Ok(strips)
}

/// A number as the banner needs it: its token (Meta) and the bad facts
/// last recorded (`notice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub account_id: i64,
    pub name: String,
    /// Meta numbers only.
    pub token: Option<Known>,
    pub recorded: BTreeSet<Fact>,
}

impl Alarm {
    /// How the token stands at `now` (`None`: not a Meta number).
    pub fn standing(&self, now: OffsetDateTime) -> Option<Standing> {
        self.token.map(|k| tokens::standing(&k, now))
    }
}

#[derive(sqlx::FromRow)]
struct AlarmRow {
    id: i64,
    name: String,
    provider: Provider,
    token_status: TokenStatus,
    expires_at: Option<OffsetDateTime>,
    validated_at: Option<OffsetDateTime>,
    health_bad: String,
}

/// The enabled numbers the access covers (`tokens.manage`) that may need
/// an administrator: a Meta token refused, or expiring within the first
/// warning's days of `now`, or an incident recorded and not yet over. The
/// banner's facts, one small statement.
pub async fn alarms(
    db: &Db,
    access: &Access,
    now: OffsetDateTime,
) -> Result<Vec<Alarm>, AccessError> {
    access.is_for(Permission::TokensManage)?;
    let soon = now + Duration::days(tokens::WARN_DAYS[0]);
    let rows: Vec<AlarmRow> = on_db_read!(db, p => sqlx::query_as::<_, AlarmRow>(
        "SELECT a.id, a.name, a.provider, a.token_status, t.expires_at, t.validated_at,
            a.health_bad
         FROM whatsapp_accounts a
         LEFT JOIN token_life t ON t.account_id = a.id AND t.tenant_id = a.tenant_id
         WHERE a.tenant_id = $1 AND a.enabled
           AND ((a.provider = $2 AND (a.token_status = $3 OR t.expires_at <= $4))
                OR a.health_bad <> '')
         ORDER BY a.name, a.id")
        .bind(access.tenant_id()).bind(Provider::Meta).bind(TokenStatus::Invalid).bind(soon)
        .fetch_all(p).await)?;
    Ok(rows
        .into_iter()
        .filter(|r| access.covers(r.id))
        .map(|r| Alarm {
            account_id: r.id,
            name: r.name,
            token: (r.provider == Provider::Meta).then_some(Known {
                expires_at: r.expires_at,
                validated_at: r.validated_at,
                refused: r.token_status == TokenStatus::Invalid,
            }),
            recorded: parse_facts(&r.health_bad),
        })
        .collect())
}

/// The banner's facts per staff member (their tenant and user: accesses
/// differ), kept a few seconds so that a page costs no query most of the
/// time. The number page's token actions clear it.
pub struct Banners {
    entries: moka::future::Cache<(i64, i64), Arc<Vec<Alarm>>>,
}

impl Default for Banners {
    fn default() -> Self {
        Banners {
            entries: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Self::TTL)
                .build(),
        }
    }
}

impl Banners {
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(10);

    /// The cached alarms of `(tenant, user)`, or what `alarms` finds.
    pub async fn get(
        &self,
        db: &Db,
        access: &Access,
        user_id: i64,
        now: OffsetDateTime,
    ) -> Result<Arc<Vec<Alarm>>, AccessError> {
        let key = (access.tenant_id(), user_id);
        if let Some(hit) = self.entries.get(&key).await {
            return Ok(hit);
        }
        let found = Arc::new(alarms(db, access, now).await?);
        self.entries.insert(key, found.clone()).await;
        Ok(found)
    }

    /// Forgets every cached banner (after a token changed).
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-01 10:00 UTC);

    fn row() -> Row {
        Row {
            id: 1,
            name: "Matadi".into(),
            provider: Provider::Meta,
            token_status: TokenStatus::Ok,
            expires_at: Some(NOW + Duration::days(50)),
            validated_at: Some(NOW - Duration::hours(2)),
            quality_rating: Some("GREEN".into()),
            messaging_limit: Some("TIER_1K".into()),
            health_bad: String::new(),
            last_inbound_at: None,
            failed_at: None,
            failed_code: None,
            depth: 0,
            oldest_due: None,
        }
    }

    #[test]
    fn a_good_number_has_no_bad_fact() {
        let s = strip_of(row(), NOW);
        assert_eq!(s.token, Some(Standing::Good));
        assert!(!s.is_bad());
        assert_eq!(s.quality.as_deref(), Some("GREEN"));
    }

    #[test]
    fn each_bad_fact_is_found() {
        let expiring = Row {
            expires_at: Some(NOW + Duration::days(3)),
            ..row()
        };
        assert_eq!(strip_of(expiring, NOW).bad, BTreeSet::from([Fact::Token]));
        let red = Row {
            quality_rating: Some("RED".into()),
            ..row()
        };
        assert_eq!(strip_of(red, NOW).bad, BTreeSet::from([Fact::Quality]));
        // Refused with sends waiting: the token and the sends.
        let refused = Row {
            token_status: TokenStatus::Invalid,
            depth: 4,
            oldest_due: Some(NOW),
            ..row()
        };
        let s = strip_of(refused, NOW);
        assert_eq!(s.bad, BTreeSet::from([Fact::Token, Fact::Sending]));
        assert!(s.held());
        // Refused with nothing to send: the token only.
        let idle = Row {
            token_status: TokenStatus::Invalid,
            ..row()
        };
        assert_eq!(strip_of(idle, NOW).bad, BTreeSet::from([Fact::Token]));
        // Overdue sends on a good token (a number Meta blocks, say).
        let late = Row {
            depth: 2,
            oldest_due: Some(NOW - OVERDUE_AFTER - Duration::minutes(1)),
            ..row()
        };
        assert_eq!(strip_of(late, NOW).bad, BTreeSet::from([Fact::Sending]));
        let on_time = Row {
            depth: 2,
            oldest_due: Some(NOW - Duration::minutes(2)),
            ..row()
        };
        assert!(!strip_of(on_time, NOW).is_bad());
    }

    #[test]
    fn a_number_not_of_meta_has_no_token_fact() {
        let sandbox = Row {
            provider: Provider::Sandbox,
            token_status: TokenStatus::Invalid,
            expires_at: None,
            quality_rating: None,
            ..row()
        };
        let s = strip_of(sandbox, NOW);
        assert_eq!(s.token, None);
        assert!(!s.is_bad());
    }

    #[test]
    fn stored_facts_read_back_and_unknown_words_are_left_out() {
        let all: BTreeSet<Fact> = Fact::ALL.iter().copied().collect();
        assert_eq!(parse_facts(&join_facts(&all)), all);
        assert_eq!(parse_facts(""), BTreeSet::new());
        assert_eq!(
            parse_facts("sending,\0bogus,token"),
            BTreeSet::from([Fact::Token, Fact::Sending])
        );
    }

    #[test]
    fn the_incident_detail_names_the_fact_only() {
        let s = strip_of(
            Row {
                expires_at: Some(NOW - Duration::hours(1)),
                depth: 3,
                ..row()
            },
            NOW,
        );
        assert_eq!(describe(&s, Fact::Token), "token expired");
        assert_eq!(describe(&s, Fact::Sending), "sends held (3 waiting)");
    }
}
