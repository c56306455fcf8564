//! SQL for contacts, conversations and messages, and the atomic write of
//! one processed inbound message.
//!
//! Concurrency is optimistic: the conversation is read without a lock, the
//! flow runs, and the write applies only if the conversation's `version` is
//! still the one read (else the caller reads again and retries). On
//! PostgreSQL the whole write is one statement (one round trip, one commit);
//! on SQLite, where statements are in-process calls, it is one `BEGIN
//! IMMEDIATE` transaction of plain statements.
//!
//! Every write to a conversation row must bump `version`: that is what makes
//! a stale read (or a stale cached copy, see `inbox::Recent`) fail its write.

use crate::db::{Db, Tx};
use crate::flow::FlowState;
use crate::outbox::Payload;
use crate::uic::{Uic, UicParts};
use crate::{dhis2, registry, report};
use crate::{on_db, on_db_read, on_tx};
use sqlx::types::Json;
use time::OffsetDateTime;

pub use super::states::BodyForm;
use super::states::{Direction, MessageStatus, Mode, Sender};
use crate::outbox::OutboxStatus;

/// A conversation as read before processing a message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Current {
    pub id: i64,
    pub mode: Mode,
    pub flow_state: Json<FlowState>,
    pub version: i64,
    pub profile_name: Option<String>,
    /// The message's provider id is already stored (a provider retry).
    pub duplicate: bool,
}

/// Reads the conversation of `phone` on the account, and whether
/// `provider_message_id` was already stored; `None` for a new contact.
pub async fn load(
    db: &Db,
    account_id: i64,
    phone: &str,
    provider_message_id: &str,
) -> Result<Option<Current>, sqlx::Error> {
    on_db_read!(db, p => sqlx::query_as::<_, Current>(
        "SELECT cv.id, cv.mode, cv.flow_state, cv.version, c.profile_name,
            EXISTS (SELECT 1 FROM messages m WHERE m.account_id = $1 AND m.provider_message_id = $3) AS duplicate
         FROM contacts c JOIN conversations cv ON cv.contact_id = c.id
         WHERE c.account_id = $1 AND c.phone = $2")
        .bind(account_id).bind(phone).bind(provider_message_id)
        .fetch_optional(p).await)
}

/// One reply as stored: its kind and body.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredReply {
    pub kind: String,
    pub body: String,
}

/// The bot's replies to the stored inbound message `provider_message_id`,
/// in their order, if nothing has been written in its conversation since
/// (no later message of the person, no staff reply): what answers again a
/// retry whose first answer was lost (see `inbox::Again`). Empty when
/// something came after it, or when it had no reply.
pub async fn replies_again(
    db: &Db,
    account_id: i64,
    provider_message_id: &str,
) -> Result<Vec<StoredReply>, sqlx::Error> {
    // Every part reads by conversation (`messages_conversation`). A reply's
    // id may be below its inbound message's on PostgreSQL (see the write),
    // but never below an earlier message's: the writes to a conversation
    // follow one another (its version).
    on_db_read!(db, p => sqlx::query_as::<_, StoredReply>(
        "SELECT r.kind, r.body
         FROM messages i JOIN messages r ON r.conversation_id = i.conversation_id AND r.reply_to = i.id
         WHERE i.account_id = $1 AND i.provider_message_id = $2
           AND NOT EXISTS (SELECT 1 FROM messages l WHERE l.conversation_id = i.conversation_id AND l.id > i.id
                           AND (l.reply_to IS NULL OR l.reply_to <> i.id))
         ORDER BY r.id")
        .bind(account_id).bind(provider_message_id)
        .fetch_all(p).await)
}

/// Creates the contact and its conversation (idempotent: a concurrent
/// creation of the same contact is harmless). The profile name is stored
/// only if the tenant keeps profile names (checked here, in the statement,
/// so a setting turned off a moment ago is never raced by a cached copy).
pub async fn create(
    db: &Db,
    tenant_id: i64,
    account_id: i64,
    phone: &str,
    profile_name: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    let contact_id: i64 = on_tx!(&mut tx, c => sqlx::query_scalar(
        "INSERT INTO contacts (tenant_id, account_id, phone, profile_name, created_at)
         VALUES ($1, $2, $3, CASE WHEN (SELECT keep_profile_names FROM tenants WHERE id = $1) THEN $4 END, $5)
         ON CONFLICT (account_id, phone) DO UPDATE SET profile_name = COALESCE(excluded.profile_name, contacts.profile_name)
         RETURNING id")
        .bind(tenant_id).bind(account_id).bind(phone).bind(profile_name).bind(now)
        .fetch_one(c).await)?;
    on_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO conversations (tenant_id, account_id, contact_id, mode, flow_state, version, last_message_at, created_at, updated_at)
         VALUES ($1, $2, $3, $6, $4, 0, $5, $5, $5)
         ON CONFLICT (contact_id) DO NOTHING")
        .bind(tenant_id).bind(account_id).bind(contact_id).bind(Json(FlowState::default())).bind(now)
        .bind(Mode::Bot)
        .execute(c).await.map(|_| ()))?;
    tx.commit().await
}

/// Refreshes a contact's WhatsApp profile name, if the tenant keeps them
/// (checked in the statement, as in `create`).
pub async fn set_profile_name(
    db: &Db,
    account_id: i64,
    phone: &str,
    name: &str,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "UPDATE contacts SET profile_name = $3 WHERE account_id = $1 AND phone = $2
            AND (SELECT keep_profile_names FROM tenants t WHERE t.id = contacts.tenant_id)")
        .bind(account_id).bind(phone).bind(name).execute(p).await.map(|_| ()))
}

/// One outbound message to store with the inbound one.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub kind: &'static str,
    pub body: String,
    /// What the outbox worker sends; `None` when the channel delivers the
    /// reply itself (TwiML, sandbox).
    pub outbox_payload: Option<Payload>,
}

/// A code issued by this message.
#[derive(Debug, Clone)]
pub struct Issue {
    pub uic: Uic,
    pub parts: UicParts,
    pub phone_hash: String,
    /// Issued on a sandbox account: test data, kept apart from the real
    /// registry (see `registry::store::record_issue`).
    pub test_data: bool,
}

/// Everything one inbound message writes.
#[derive(Debug, Clone)]
pub struct Write<'a> {
    pub tenant_id: i64,
    pub account_id: i64,
    pub conversation_id: i64,
    /// The version read; the write applies only if it is still current.
    pub version: i64,
    pub mode: Mode,
    /// The change of mode this message caused (escalated, restarted from
    /// the queue), recorded with it.
    pub change: Option<super::modes::ModeChange>,
    pub flow_state: &'a FlowState,
    pub escalated_at: Option<OffsetDateTime>,
    pub provider_message_id: &'a str,
    pub kind: &'a str,
    pub body_form: BodyForm,
    pub body: &'a str,
    /// Length in characters of a described message's text.
    pub text_chars: Option<i32>,
    /// The provider's id of an inbound image, audio, document…
    pub media_ref: Option<&'a str>,
    /// Status of the bot's replies (sent in TwiML, queued for the outbox…).
    pub reply_status: MessageStatus,
    pub replies: Vec<Outgoing>,
    pub issue: Option<Issue>,
    /// The run of questions this message ended (see `flow::run`).
    pub finished: Option<&'a crate::flow::run::Finished>,
    /// A sandbox number's: its run is test data.
    pub test_data: bool,
    pub now: OffsetDateTime,
}

/// What the write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Done,
    /// The conversation changed since it was read, or the message was stored
    /// meanwhile: read again.
    Stale,
}

/// Applies the write atomically (see the module header).
pub async fn apply(db: &Db, w: &Write<'_>) -> Result<Applied, sqlx::Error> {
    let result = match db {
        // A change of mode (rare next to messages) takes the transaction
        // path on both: the one-statement write stays the common case's.
        // A run ends with the code (the registry part records it) or with
        // a change of mode; a run left idle, seen at the next message, is
        // rare too.
        Db::Postgres(pool) if w.change.is_none() && w.issue.is_some() == w.finished.is_some() => {
            apply_postgres(pool, w).await
        }
        _ => apply_in_transaction(db, w).await,
    };
    match result {
        // The provider id was stored by a concurrent delivery of the same
        // message: nothing of this write remains; the next read sees it.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(Applied::Stale),
        other => other,
    }
}

async fn apply_in_transaction(db: &Db, w: &Write<'_>) -> Result<Applied, sqlx::Error> {
    let mut tx = db.begin().await?;
    // A change of mode starts a new wait (or ends one): its reason, and no
    // holder or "nobody available" notice from an earlier one.
    let updated = on_tx!(&mut tx, c => sqlx::query(
        "UPDATE conversations SET mode = $2, flow_state = $3, version = version + 1,
            escalated_at = COALESCE($4, escalated_at), last_inbound_at = $5, last_message_at = $5, updated_at = $5,
            waiting_reason = CASE WHEN $7 THEN $8 ELSE waiting_reason END,
            taken_by = CASE WHEN $7 THEN NULL ELSE taken_by END,
            taken_at = CASE WHEN $7 THEN NULL ELSE taken_at END,
            unattended_notice_at = CASE WHEN $7 THEN NULL ELSE unattended_notice_at END,
            uic = COALESCE($9, uic)
         WHERE id = $1 AND version = $6")
        .bind(w.conversation_id).bind(w.mode).bind(Json(w.flow_state)).bind(w.escalated_at).bind(w.now).bind(w.version)
        .bind(w.change.is_some()).bind(w.change.and_then(|c| c.reason))
        .bind(w.issue.as_ref().map(|i| i.uic.as_str()))
        .execute(c).await.map(|r| r.rows_affected()))?;
    if updated == 0 {
        tx.rollback().await?;
        return Ok(Applied::Stale);
    }
    if let Some(change) = w.change {
        record_change(
            &mut tx,
            &ChangeRecord {
                tenant_id: w.tenant_id,
                account_id: w.account_id,
                conversation_id: w.conversation_id,
                change: change.change,
                mode: change.mode,
                detail: change.reason.map(|r| r.as_str()),
                user_id: None,
                at: w.now,
            },
        )
        .await?;
    }
    let inbound_id = insert_message(
        &mut tx,
        w,
        Direction::In,
        Sender::Contact,
        Some(w.provider_message_id),
        w.kind,
        w.body_form,
        w.body,
        w.text_chars,
        MessageStatus::Received,
        w.media_ref,
    )
    .await?;
    for reply in &w.replies {
        insert_outbound(
            &mut tx,
            &Outbound {
                tenant_id: w.tenant_id,
                account_id: w.account_id,
                conversation_id: w.conversation_id,
                sender: Sender::Bot,
                author_id: None,
                reply_to: Some(inbound_id),
                kind: reply.kind,
                body: &reply.body,
                status: w.reply_status,
                payload: reply.outbox_payload.as_ref(),
                now: w.now,
            },
        )
        .await?;
    }
    if let Some(issue) = &w.issue {
        let registration_id = registry::store::record_issue(
            &mut tx,
            w.tenant_id,
            w.account_id,
            &issue.uic,
            &issue.parts,
            &issue.phone_hash,
            issue.test_data,
            w.now,
        )
        .await?;
        // Real codes go to DHIS-2; test data never does.
        if !issue.test_data {
            let uids = dhis2::store::JobUids::generate();
            dhis2::store::enqueue(
                &mut tx,
                w.tenant_id,
                w.account_id,
                registration_id,
                &uids,
                w.now,
            )
            .await?;
        }
    }
    if let Some(run) = w.finished {
        report::runs::record(
            &mut tx,
            &report::runs::Record {
                tenant_id: w.tenant_id,
                account_id: w.account_id,
                conversation_id: w.conversation_id,
                test_data: w.test_data,
                run,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Applied::Done)
}

/// An outbound message to store (the bot's or a staff member's), with its
/// outbox row when the worker sends it.
#[derive(Debug, Clone, Copy)]
pub struct Outbound<'a> {
    pub tenant_id: i64,
    pub account_id: i64,
    pub conversation_id: i64,
    pub sender: Sender,
    /// The staff member who wrote it.
    pub author_id: Option<i64>,
    /// The inbound message the bot answers with it (see [`replies_again`]).
    pub reply_to: Option<i64>,
    pub kind: &'a str,
    pub body: &'a str,
    pub status: MessageStatus,
    pub payload: Option<&'a Payload>,
    pub now: OffsetDateTime,
}

/// Stores an outbound message, kept as written, and its outbox row.
pub async fn insert_outbound(tx: &mut Tx, o: &Outbound<'_>) -> Result<i64, sqlx::Error> {
    let id: i64 = on_tx!(&mut *tx, c => sqlx::query_scalar(
        "INSERT INTO messages (tenant_id, account_id, conversation_id, direction, sender, author_id, kind,
            body_form, body, status, created_at, updated_at, reply_to)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)
         RETURNING id")
        .bind(o.tenant_id).bind(o.account_id).bind(o.conversation_id).bind(Direction::Out).bind(o.sender)
        .bind(o.author_id).bind(o.kind).bind(BodyForm::Verbatim).bind(o.body).bind(o.status).bind(o.now)
        .bind(o.reply_to)
        .fetch_one(c).await)?;
    if let Some(payload) = o.payload {
        on_tx!(&mut *tx, c => sqlx::query(
            "INSERT INTO outbox (tenant_id, account_id, conversation_id, message_id, payload, status, attempts,
                next_attempt_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $7, 0, $6, $6, $6)")
            .bind(o.tenant_id).bind(o.account_id).bind(o.conversation_id).bind(id).bind(Json(payload)).bind(o.now)
            .bind(OutboxStatus::Pending)
            .execute(c).await.map(|_| ()))?;
    }
    Ok(id)
}

/// One change of hands, as `conversation_events` records it.
#[derive(Debug, Clone, Copy)]
pub struct ChangeRecord<'a> {
    pub tenant_id: i64,
    pub account_id: i64,
    pub conversation_id: i64,
    pub change: super::Change,
    pub mode: Mode,
    /// The waiting reason, or how it was handed back.
    pub detail: Option<&'a str>,
    /// The staff member; `None` for the person or the bot.
    pub user_id: Option<i64>,
    pub at: OffsetDateTime,
}

/// Records a change of hands, in the transaction that makes it.
pub async fn record_change(tx: &mut Tx, r: &ChangeRecord<'_>) -> Result<(), sqlx::Error> {
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO conversation_events (tenant_id, account_id, conversation_id, at, mode, change, detail, user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(r.tenant_id).bind(r.account_id).bind(r.conversation_id).bind(r.at).bind(r.mode).bind(r.change)
        .bind(r.detail).bind(r.user_id)
        .execute(c).await.map(|_| ()))
}

#[allow(clippy::too_many_arguments)]
async fn insert_message(
    tx: &mut Tx,
    w: &Write<'_>,
    direction: Direction,
    sender: Sender,
    provider_message_id: Option<&str>,
    kind: &str,
    body_form: BodyForm,
    body: &str,
    text_chars: Option<i32>,
    status: MessageStatus,
    media_ref: Option<&str>,
) -> Result<i64, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO messages (tenant_id, account_id, conversation_id, direction, sender, provider_message_id, kind,
            body_form, body, status, created_at, updated_at, media_ref, text_chars)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13)
         RETURNING id")
        .bind(w.tenant_id).bind(w.account_id).bind(w.conversation_id).bind(direction).bind(sender)
        .bind(provider_message_id).bind(kind).bind(body_form).bind(body).bind(status).bind(w.now).bind(media_ref)
        .bind(text_chars)
        .fetch_one(c).await)
}

/// The same write as `apply_in_transaction`, as one PostgreSQL statement:
/// every part hangs off the version-checked UPDATE, so a stale version
/// writes nothing. The outbox and registry parts are added only when used
/// (each variant is its own prepared statement): a part that writes no row
/// still costs its executor set-up.
/// (The states are written into the text, from their enums: the statement
/// is built once.)
///
/// The replies are inserted in their order (`ORDER BY r.ord`), so their ids,
/// drawn from the sequence row by row, rise in that order; the outbox rows
/// are joined to them by that rank. `tests/it/write_paths.rs` runs the same
/// conversation on both backends and compares every row written. (Drawing
/// the ids first and joining on an ordinal, tried instead, made PostgreSQL
/// plan the statement at every execution: half the messages per second.)
fn postgres_write_head() -> String {
    format!(
        "
WITH upd AS (
    UPDATE conversations SET mode = $4, flow_state = $5, version = version + 1,
        escalated_at = COALESCE($6, escalated_at), last_inbound_at = $7, last_message_at = $7, updated_at = $7,
        uic = COALESCE($17, uic)
    WHERE id = $3 AND version = $8
    RETURNING id
), inb AS (
    INSERT INTO messages (tenant_id, account_id, conversation_id, direction, sender, provider_message_id, kind,
        body_form, body, status, created_at, updated_at, media_ref, text_chars)
    SELECT $1, $2, upd.id, '{inbound}', '{contact}', $9, $10, $11, $12, '{received}', $7, $7, $24, $25 FROM upd
    RETURNING id
), outb AS (
    INSERT INTO messages (tenant_id, account_id, conversation_id, direction, sender, provider_message_id, kind,
        body_form, body, status, created_at, updated_at, reply_to)
    SELECT $1, $2, upd.id, '{outbound}', '{bot}', NULL, r.kind, '{verbatim}', r.body, $13, $7, $7, inb.id
    FROM upd CROSS JOIN inb CROSS JOIN unnest($14::text[], $15::text[]) WITH ORDINALITY AS r(body, kind, ord)
    ORDER BY r.ord
    RETURNING id
)",
        inbound = Direction::In,
        contact = Sender::Contact,
        received = MessageStatus::Received,
        outbound = Direction::Out,
        bot = Sender::Bot,
        verbatim = BodyForm::Verbatim,
    )
}

fn postgres_write_outbox() -> String {
    format!(
        ", numbered AS (
    SELECT id, row_number() OVER (ORDER BY id) AS ord FROM outb
), queued AS (
    INSERT INTO outbox (tenant_id, account_id, conversation_id, message_id, payload, status, attempts,
        next_attempt_at, created_at, updated_at)
    SELECT $1, $2, $3, n.id, p.payload, '{pending}', 0, $7, $7, $7
    FROM numbered n JOIN jsonb_array_elements($16::jsonb) WITH ORDINALITY AS p(payload, ord) ON p.ord = n.ord
    WHERE jsonb_typeof(p.payload) <> 'null'
)",
        pending = OutboxStatus::Pending,
    )
}

/// The registry part; its conflict clauses are the registry's own.
fn postgres_write_registry() -> String {
    format!(
        ", reg AS (
    INSERT INTO uic_registrations (tenant_id, uic, last_part, first_part, year_digit, city, gender,
        first_account_id, times_seen, collision_status, first_seen_at, last_seen_at, test_data)
    SELECT $1, $17, $18, $19, $20, $21, $22, $2, 1, 'none', $7, $7, $26 FROM upd
    {}
), phones AS (
    INSERT INTO uic_registration_phones (registration_id, phone_hash, account_id, times_seen, first_seen_at, last_seen_at)
    SELECT reg.id, $23, $2, 1, $7, $7 FROM reg
    {}
), sync AS (
    INSERT INTO dhis2_sync (tenant_id, account_id, registration_id, state, attempts, next_attempt_at,
        tracked_entity, enrollment, created_at, updated_at)
    SELECT $1, $2, reg.id, '{pending}', 0, $7, $27, $28, $7, $7 FROM reg WHERE NOT $26
    ON CONFLICT (registration_id, account_id) DO NOTHING
)",
        registry::store::seen_again("$23"),
        registry::store::PHONE_SEEN_AGAIN,
        pending = dhis2::SyncState::Pending,
    )
}

const POSTGRES_WRITE_TAIL: &str = "
SELECT COUNT(*) FROM inb";

/// The four variants of the write, built once.
fn postgres_write(outbox: bool, registry: bool) -> &'static str {
    static VARIANTS: std::sync::OnceLock<[String; 4]> = std::sync::OnceLock::new();
    let variants = VARIANTS.get_or_init(|| {
        let build = |o: bool, r: bool| {
            let mut sql = postgres_write_head();
            if o {
                sql.push_str(&postgres_write_outbox());
            }
            if r {
                sql.push_str(&postgres_write_registry());
                sql.push_str(&report::runs::postgres_completed());
            }
            sql.push_str(POSTGRES_WRITE_TAIL);
            sql
        };
        [
            build(false, false),
            build(true, false),
            build(false, true),
            build(true, true),
        ]
    });
    &variants[usize::from(outbox) + 2 * usize::from(registry)]
}

async fn apply_postgres(pool: &sqlx::PgPool, w: &Write<'_>) -> Result<Applied, sqlx::Error> {
    let bodies: Vec<&str> = w.replies.iter().map(|r| r.body.as_str()).collect();
    let kinds: Vec<&str> = w.replies.iter().map(|r| r.kind).collect();
    // One element per reply (by rank), `null` where it has no outbox row.
    let payloads: Vec<Option<&Payload>> = w
        .replies
        .iter()
        .map(|r| r.outbox_payload.as_ref())
        .collect();
    let outbox = payloads.iter().any(Option::is_some);
    let issue = w.issue.as_ref();
    let query = sqlx::query_scalar(postgres_write(outbox, issue.is_some()))
        .bind(w.tenant_id)
        .bind(w.account_id)
        .bind(w.conversation_id)
        .bind(w.mode)
        .bind(Json(w.flow_state))
        .bind(w.escalated_at)
        .bind(w.now)
        .bind(w.version)
        .bind(w.provider_message_id)
        .bind(w.kind)
        .bind(w.body_form)
        .bind(w.body)
        .bind(w.reply_status)
        .bind(&bodies)
        .bind(&kinds)
        .bind(Json(&payloads))
        .bind(issue.map(|i| i.uic.as_str()))
        .bind(issue.map(|i| i.parts.last.as_str()))
        .bind(issue.map(|i| i.parts.first.as_str()))
        .bind(issue.map(|i| i16::from(i.parts.year_digit)))
        .bind(issue.map(|i| i.parts.city.as_str()))
        .bind(issue.map(|i| i16::from(i.parts.gender.digit())))
        .bind(issue.map(|i| i.phone_hash.as_str()))
        .bind(w.media_ref)
        .bind(w.text_chars);
    // Only the registry part reads $26 to $28: PostgreSQL refuses a parameter that
    // lies beyond every one the statement uses.
    let query = match issue {
        Some(i) => {
            // The sync job's UIDs (see `dhis2::store::enqueue`).
            let uids = dhis2::store::JobUids::generate();
            let query = query
                .bind(i.test_data)
                .bind(uids.tracked_entity)
                .bind(uids.enrollment);
            match w.finished {
                Some(run) => report::runs::bind_completed(query, run),
                // `apply` takes the transaction's path then.
                None => query,
            }
        }
        None => query,
    };
    let written: i64 = query.fetch_one(pool).await?;
    Ok(if written == 1 {
        Applied::Done
    } else {
        Applied::Stale
    })
}
