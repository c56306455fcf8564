//! What staff do to a conversation: take it over from the bot, give it
//! back, put it in the queue, and write to the person. Each takes the
//! [`Access`] of its permission (`conversations.takeover`, `messages.send`),
//! finds the conversation within the access's tenant and accounts (another
//! tenant's or account's is `NotFound`, never told apart), and writes the
//! change, its record in `conversation_events` and any message in one
//! transaction.
//!
//! A takeover bumps the conversation's version: a bot reply computed from
//! the version before (a message being processed at that moment) fails its
//! write, is run again in the new mode, and is never sent.

use super::states::{Change, MessageStatus, Mode, Sender, WaitingReason};
use super::store::{self, ChangeRecord, Outbound};
use crate::auth::{Access, AccessError, Permission};
use crate::db::Db;
use crate::flow::{self, FlowState, HandBack};
use crate::live::{Hub, Topic};
use crate::outbox::Payload;
use crate::tenancy::{Account, Provider};
use crate::{on_db_read, on_tx};
use sqlx::types::Json;
use time::{Duration, OffsetDateTime};

/// How long after the person's last message a business may write freely
/// (WhatsApp's customer-service window, reference A.8; Twilio enforces the
/// same with error 63016).
pub const SERVICE_WINDOW: Duration = Duration::hours(24);

/// Where a conversation's customer-service window stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Free text may be sent until this time.
    Open { closes_at: OffsetDateTime },
    /// Only templates could be sent now (the person has not written for 24
    /// hours, or never).
    Closed,
}

impl Window {
    /// The window after the person's last message.
    pub fn after(last_inbound_at: Option<OffsetDateTime>, now: OffsetDateTime) -> Window {
        match last_inbound_at.map(|at| at + SERVICE_WINDOW) {
            Some(closes_at) if closes_at > now => Window::Open { closes_at },
            _ => Window::Closed,
        }
    }

    pub fn is_open(self) -> bool {
        matches!(self, Window::Open { .. })
    }
}

/// A conversation as a staff action reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Held {
    id: i64,
    tenant_id: i64,
    account_id: i64,
    mode: Mode,
    taken_by: Option<i64>,
    version: i64,
    flow_state: Json<FlowState>,
    last_inbound_at: Option<OffsetDateTime>,
    phone: String,
}

/// The conversation, if it is in the access's tenant and accounts.
async fn find(db: &Db, access: &Access, id: i64) -> Result<Option<Held>, sqlx::Error> {
    let held: Option<Held> = on_db_read!(db, p => sqlx::query_as(
        "SELECT cv.id, cv.tenant_id, cv.account_id, cv.mode, cv.taken_by, cv.version, cv.flow_state,
            cv.last_inbound_at, c.phone
         FROM conversations cv JOIN contacts c ON c.id = cv.contact_id
         WHERE cv.id = $1 AND cv.tenant_id = $2")
        .bind(id).bind(access.tenant_id()).fetch_optional(p).await)?;
    Ok(held.filter(|h| access.covers(h.account_id)))
}

/// The staff member behind an access (staff actions are always someone's).
fn staff_member(access: &Access, p: Permission) -> Result<i64, AccessError> {
    access.is_for(p)?;
    access
        .actor()
        .user_id()
        .ok_or(AccessError::Denied(crate::auth::Denied(p)))
}

/// What a staff action found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acted {
    Done,
    /// Already so: nothing changed.
    Unchanged,
    /// Another staff member holds it.
    TakenBy(i64),
    /// The action does not apply in this mode (giving back a conversation
    /// the bot already has, say).
    NotApplicable(Mode),
    /// Writing outside the 24-hour window (reference A.8): refused, as the
    /// provider would refuse it.
    WindowClosed,
    /// The text cannot be sent as it is (empty once cleaned, too long).
    Refused(Refusal),
    NotFound,
}

/// How many times an action is tried again when a message of the person
/// changed the conversation under it.
const ATTEMPTS: usize = 10;

/// Takes a conversation from the bot or the queue (`conversations.takeover`):
/// the bot stops at once for it.
pub async fn take_over(
    db: &Db,
    live: &Hub,
    access: &Access,
    id: i64,
    now: OffsetDateTime,
) -> Result<Acted, AccessError> {
    let me = staff_member(access, Permission::ConversationsTakeover)?;
    for _ in 0..ATTEMPTS {
        let Some(held) = find(db, access, id).await? else {
            return Ok(Acted::NotFound);
        };
        match (held.mode, held.taken_by) {
            (Mode::Human, Some(by)) if by == me => return Ok(Acted::Unchanged),
            (Mode::Human, Some(by)) => return Ok(Acted::TakenBy(by)),
            _ => {}
        }
        let mut tx = db.begin().await?;
        if !set_mode(&mut tx, &held, Mode::Human, Some(me), None, None, now).await? {
            tx.rollback().await?;
            continue;
        }
        record(
            &mut tx,
            &held,
            Change::Taken,
            Mode::Human,
            None,
            Some(me),
            now,
        )
        .await?;
        tx.commit().await?;
        tell(live, &held, &[Topic::Mode]);
        return Ok(Acted::Done);
    }
    Err(AccessError::Database(sqlx::Error::PoolTimedOut))
}

/// Tells the staff pages what changed in the conversation (after the
/// commit: a page that fetches at once sees the change).
fn tell(live: &Hub, held: &Held, topics: &[Topic]) {
    for topic in topics {
        live.publish(crate::live::Change {
            tenant_id: held.tenant_id,
            account_id: held.account_id,
            conversation_id: held.id,
            topic: *topic,
        });
    }
}

/// Puts a conversation the bot has in the staff queue
/// (`conversations.takeover`): the bot stops answering it.
pub async fn flag(
    db: &Db,
    live: &Hub,
    access: &Access,
    id: i64,
    now: OffsetDateTime,
) -> Result<Acted, AccessError> {
    let me = staff_member(access, Permission::ConversationsTakeover)?;
    for _ in 0..ATTEMPTS {
        let Some(held) = find(db, access, id).await? else {
            return Ok(Acted::NotFound);
        };
        if held.mode != Mode::Bot {
            return Ok(Acted::NotApplicable(held.mode));
        }
        let mut tx = db.begin().await?;
        let reason = Some(WaitingReason::Flagged);
        if !set_mode(&mut tx, &held, Mode::Waiting, None, reason, None, now).await? {
            tx.rollback().await?;
            continue;
        }
        let detail = Some(WaitingReason::Flagged.as_str());
        record(
            &mut tx,
            &held,
            Change::Escalated,
            Mode::Waiting,
            detail,
            Some(me),
            now,
        )
        .await?;
        tx.commit().await?;
        tell(live, &held, &[Topic::Mode]);
        return Ok(Acted::Done);
    }
    Err(AccessError::Database(sqlx::Error::PoolTimedOut))
}

/// Gives a conversation back to the bot (`conversations.takeover`), which
/// says its next question at once: where it stopped, or from the start.
/// Outside the 24-hour window the bot cannot write first: it starts again
/// with the person's next message instead.
// The same order as the other actions (database, hub, access, …).
#[allow(clippy::too_many_arguments)]
pub async fn hand_back(
    db: &Db,
    live: &Hub,
    access: &Access,
    account: &Account,
    id: i64,
    how: HandBack,
    flow_config: &flow::FlowConfig,
    now: OffsetDateTime,
) -> Result<(Acted, Vec<flow::Reply>), AccessError> {
    let me = staff_member(access, Permission::ConversationsTakeover)?;
    for _ in 0..ATTEMPTS {
        let Some(held) = find(db, access, id).await? else {
            return Ok((Acted::NotFound, Vec::new()));
        };
        if held.account_id != account.id {
            return Ok((Acted::NotFound, Vec::new()));
        }
        match (held.mode, held.taken_by) {
            (Mode::Bot, _) => return Ok((Acted::NotApplicable(Mode::Bot), Vec::new())),
            (Mode::Human, Some(by)) if by != me => return Ok((Acted::TakenBy(by), Vec::new())),
            _ => {}
        }
        let (state, replies) = if Window::after(held.last_inbound_at, now).is_open() {
            let outcome = flow::hand_back(&held.flow_state.0, how, flow_config, now);
            (outcome.state, outcome.replies)
        } else {
            (FlowState::default(), Vec::new())
        };
        let mut tx = db.begin().await?;
        if !set_mode(&mut tx, &held, Mode::Bot, None, None, Some(&state), now).await? {
            tx.rollback().await?;
            continue;
        }
        let detail = match how {
            HandBack::Resume => "resume",
            HandBack::StartAgain => "start_again",
        };
        record(
            &mut tx,
            &held,
            Change::HandedBack,
            Mode::Bot,
            Some(detail),
            Some(me),
            now,
        )
        .await?;
        let outgoing = super::outgoing(
            account.provider(),
            super::Delivery::Outbox,
            flow_config,
            &held.phone,
            &replies,
            &[],
        );
        for reply in &outgoing {
            store::insert_outbound(
                &mut tx,
                &Outbound {
                    tenant_id: held.tenant_id,
                    account_id: held.account_id,
                    conversation_id: held.id,
                    sender: Sender::Bot,
                    author_id: None,
                    reply_to: None,
                    kind: reply.kind,
                    body: &reply.body,
                    status: outbound_status(account.provider()),
                    payload: reply.outbox_payload.as_ref(),
                    now,
                },
            )
            .await?;
        }
        tx.commit().await?;
        if outgoing.is_empty() {
            tell(live, &held, &[Topic::Mode]);
        } else {
            tell(live, &held, &[Topic::Mode, Topic::Message]);
        }
        return Ok((Acted::Done, replies));
    }
    Err(AccessError::Database(sqlx::Error::PoolTimedOut))
}

/// The status a message written by staff (or by the bot outside a webhook)
/// starts with: queued for the outbox; on the sandbox, delivered at once
/// (the simulator's phone shows it).
fn outbound_status(provider: Provider) -> MessageStatus {
    match provider {
        Provider::Sandbox => MessageStatus::Delivered,
        Provider::Meta | Provider::Twilio => MessageStatus::Queued,
    }
}

/// Why a staff message was not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Empty,
    /// Over WhatsApp's 4,096 characters.
    TooLong,
}

/// Longest text WhatsApp carries.
pub const MAX_TEXT: usize = 4096;

/// Checks a staff message's text: trimmed, control characters (but line
/// breaks and tabs) removed.
pub fn clean_text(text: &str) -> Result<String, Refusal> {
    let cleaned = crate::input::strip(text).trim().to_string();
    if cleaned.is_empty() {
        Err(Refusal::Empty)
    } else if cleaned.chars().count() > MAX_TEXT {
        Err(Refusal::TooLong)
    } else {
        Ok(cleaned)
    }
}

/// Writes a staff message to the person (`messages.send`), through the
/// outbox (on the sandbox, straight to the simulator's phone). Staff write
/// to a conversation they hold; one the bot has or one in the queue is
/// taken over by writing (recorded as such); one another member holds is
/// refused. Outside the 24-hour window, refused (`WindowClosed`). The text
/// is cleaned here ([`clean_text`]): control characters never reach the
/// database or the provider.
pub async fn send(
    db: &Db,
    live: &Hub,
    access: &Access,
    account: &Account,
    id: i64,
    text: &str,
    now: OffsetDateTime,
) -> Result<Acted, AccessError> {
    let me = staff_member(access, Permission::MessagesSend)?;
    let text = match clean_text(text) {
        Ok(text) => text,
        Err(refusal) => return Ok(Acted::Refused(refusal)),
    };
    let text = text.as_str();
    for _ in 0..ATTEMPTS {
        let Some(held) = find(db, access, id).await? else {
            return Ok(Acted::NotFound);
        };
        if held.account_id != account.id {
            return Ok(Acted::NotFound);
        }
        if let (Mode::Human, Some(by)) = (held.mode, held.taken_by)
            && by != me
        {
            return Ok(Acted::TakenBy(by));
        }
        if !Window::after(held.last_inbound_at, now).is_open() {
            return Ok(Acted::WindowClosed);
        }
        let mut tx = db.begin().await?;
        let taking = held.mode != Mode::Human;
        if !set_mode(&mut tx, &held, Mode::Human, Some(me), None, None, now).await? {
            tx.rollback().await?;
            continue;
        }
        if taking {
            record(
                &mut tx,
                &held,
                Change::Taken,
                Mode::Human,
                None,
                Some(me),
                now,
            )
            .await?;
        }
        let provider = account.provider();
        let payload = (provider != Provider::Sandbox).then(|| Payload::Text {
            to: held.phone.clone(),
            text: text.to_string(),
        });
        store::insert_outbound(
            &mut tx,
            &Outbound {
                tenant_id: held.tenant_id,
                account_id: held.account_id,
                conversation_id: held.id,
                sender: Sender::Staff,
                author_id: Some(me),
                reply_to: None,
                kind: "text",
                body: text,
                status: outbound_status(provider),
                payload: payload.as_ref(),
                now,
            },
        )
        .await?;
        // A reply is activity: the conversation moves up the list.
        on_tx!(&mut tx, c => sqlx::query("UPDATE conversations SET last_message_at = $2 WHERE id = $1")
            .bind(held.id).bind(now).execute(c).await.map(|_| ()))?;
        // The reports' time to a first staff reply.
        let first_reply = crate::report::runs::staff_wrote(&mut tx, held.id, now).await?;
        tx.commit().await?;
        if let Some(run) = &first_reply {
            crate::telemetry::staff_replied(run, now);
        }
        if taking {
            tell(live, &held, &[Topic::Mode, Topic::Message]);
        } else {
            tell(live, &held, &[Topic::Message]);
        }
        return Ok(Acted::Done);
    }
    Err(AccessError::Database(sqlx::Error::PoolTimedOut))
}

/// Moves the conversation to `mode` if it is still at the version read
/// (`false`: it changed, read again). Bumps the version, so that a bot
/// reply computed before is never written.
async fn set_mode(
    tx: &mut crate::db::Tx,
    held: &Held,
    mode: Mode,
    taken_by: Option<i64>,
    reason: Option<WaitingReason>,
    flow_state: Option<&FlowState>,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let escalated_at = (mode == Mode::Waiting && held.mode != Mode::Waiting).then_some(now);
    let taken_at = taken_by.map(|_| now);
    let updated = on_tx!(&mut *tx, c => sqlx::query(
        "UPDATE conversations SET mode = $3, taken_by = $4, taken_at = CASE WHEN $4 IS NULL THEN NULL
                WHEN taken_by = $4 THEN taken_at ELSE $5 END,
            waiting_reason = CASE WHEN $3 = 'waiting' THEN COALESCE($6, waiting_reason) END,
            escalated_at = COALESCE($7, escalated_at),
            unattended_notice_at = CASE WHEN $3 = 'waiting' THEN unattended_notice_at END,
            flow_state = COALESCE($8, flow_state),
            version = version + 1, updated_at = $9
         WHERE id = $1 AND version = $2")
        .bind(held.id).bind(held.version).bind(mode).bind(taken_by).bind(taken_at).bind(reason)
        .bind(escalated_at).bind(flow_state.map(Json)).bind(now)
        .execute(c).await.map(|r| r.rows_affected()))?;
    Ok(updated == 1)
}

async fn record(
    tx: &mut crate::db::Tx,
    held: &Held,
    change: Change,
    mode: Mode,
    detail: Option<&str>,
    user_id: Option<i64>,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    store::record_change(
        tx,
        &ChangeRecord {
            tenant_id: held.tenant_id,
            account_id: held.account_id,
            conversation_id: held.id,
            change,
            mode,
            detail,
            user_id,
            at,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_window_closes_24_hours_after_the_persons_last_message() {
        let now = datetime!(2026-12-01 12:00 UTC);
        assert_eq!(Window::after(None, now), Window::Closed);
        assert_eq!(
            Window::after(Some(now - Duration::hours(23)), now),
            Window::Open {
                closes_at: now + Duration::hours(1)
            }
        );
        assert_eq!(
            Window::after(Some(now - Duration::hours(24)), now),
            Window::Closed
        );
        assert!(!Window::after(Some(now - Duration::days(3)), now).is_open());
    }

    #[test]
    fn a_staff_message_is_trimmed_cleaned_and_bounded() {
        assert_eq!(
            clean_text("  Bonjour\u{0} !\n "),
            Ok("Bonjour !".to_string())
        );
        assert_eq!(
            clean_text("Ligne 1\nLigne 2"),
            Ok("Ligne 1\nLigne 2".to_string())
        );
        assert_eq!(clean_text(" \n\t "), Err(Refusal::Empty));
        assert_eq!(
            clean_text(&"é".repeat(MAX_TEXT)).map(|t| t.chars().count()),
            Ok(MAX_TEXT)
        );
        assert_eq!(clean_text(&"é".repeat(MAX_TEXT + 1)), Err(Refusal::TooLong));
    }
}
