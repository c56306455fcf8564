//! SQL of the outbox: claiming due rows (several workers at once, each row
//! to one of them), and recording what became of each send.

use crate::db::Db;
use crate::inbox::states::{Direction, MessageStatus};
use crate::tenancy::{Provider, TokenStatus};
use crate::{on_db, on_db_read, on_tx};
use sqlx::types::Json;
use time::OffsetDateTime;

crate::text_enum! {
    /// Where an outbox row stands (`outbox.status`).
    pub enum OutboxStatus("outbox status") {
        /// Waiting for its time (or held: the account's token is invalid).
        Pending = "pending",
        /// Claimed by a worker until `claimed_until` (after that, a crashed
        /// worker's claim is taken over).
        Sending = "sending",
        Sent = "sent",
        /// Permanent: see `error_code`.
        Failed = "failed",
    }
}

/// The rows still to send, as SQL: `('pending', 'sending')`. Written into
/// statements rather than bound: the outbox's partial indexes have this
/// predicate, and the planner uses them only for the same literal list.
fn open_statuses() -> String {
    format!("('{}', '{}')", OutboxStatus::Pending, OutboxStatus::Sending)
}

/// A claimed send.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub account_id: i64,
    pub conversation_id: i64,
    pub message_id: i64,
    pub payload: Json<serde_json::Value>,
    /// Including this one.
    pub attempts: i32,
    pub created_at: OffsetDateTime,
}

/// Rows due now, of Meta and Twilio accounts whose credentials are good, and only the oldest
/// unsent row of each conversation (replies go out in order). The claim is a
/// lease: a worker that dies leaves `sending` rows that another takes over
/// when `claimed_until` has passed. On PostgreSQL, `SKIP LOCKED` lets several
/// instances claim at once without waiting for or taking each other's rows;
/// SQLite has one writer at a time.
///
/// Only the `WINDOW` oldest due rows of each account are looked at: behind
/// a slow Graph API the queue grows, most rows wait behind an earlier reply
/// of their conversation, and looking through all of them at every claim
/// would make each claim slower as the queue grows. Per account, so that
/// one busy programme does not hide the others' replies.
fn claim_sql(window: &str, lock: &str) -> String {
    format!(
        "UPDATE outbox SET status = '{sending}', claimed_by = $3, claimed_until = $4,
            attempts = attempts + 1, updated_at = $1
         WHERE id IN (
            SELECT o.id FROM outbox o
            WHERE o.id IN ({window})
              AND (o.status = '{pending}' OR o.claimed_until < $1)
              AND NOT EXISTS (
                SELECT 1 FROM outbox e WHERE e.conversation_id = o.conversation_id AND e.id < o.id
                  AND e.status IN {open})
            ORDER BY o.next_attempt_at, o.id
            LIMIT $2
            {lock})
         RETURNING id, account_id, conversation_id, message_id, payload, attempts, created_at",
        sending = OutboxStatus::Sending,
        pending = OutboxStatus::Pending,
        open = open_statuses(),
    )
}

/// The window, PostgreSQL: an index range scan per account (LATERAL).
fn window_postgres() -> String {
    format!(
        "
    SELECT w.id FROM whatsapp_accounts a CROSS JOIN LATERAL (
        SELECT id FROM outbox
        WHERE account_id = a.id AND status IN {open} AND next_attempt_at <= $1
        ORDER BY next_attempt_at, id LIMIT 256) w
    WHERE a.provider IN ('{meta}', '{twilio}') AND a.enabled AND a.token_status = '{ok}'",
        open = open_statuses(),
        meta = Provider::Meta,
        twilio = Provider::Twilio,
        ok = TokenStatus::Ok,
    )
}

/// The window, SQLite (no LATERAL; one writer, smaller queues).
fn window_sqlite() -> String {
    format!(
        "
    SELECT w.id FROM outbox w
    WHERE w.account_id IN (SELECT id FROM whatsapp_accounts
                           WHERE provider IN ('{meta}', '{twilio}') AND enabled AND token_status = '{ok}')
      AND w.status IN {open} AND w.next_attempt_at <= $1
    ORDER BY w.next_attempt_at, w.id LIMIT 1000",
        open = open_statuses(),
        meta = Provider::Meta,
        twilio = Provider::Twilio,
        ok = TokenStatus::Ok,
    )
}

pub async fn claim(
    db: &Db,
    worker: &str,
    now: OffsetDateTime,
    lease: time::Duration,
    limit: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    static SQL: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (pg, lite) = SQL.get_or_init(|| {
        (
            claim_sql(&window_postgres(), "FOR UPDATE OF o SKIP LOCKED"),
            claim_sql(&window_sqlite(), ""),
        )
    });
    let until = now + lease;
    let mut rows = match db {
        Db::Postgres(p) => {
            sqlx::query_as::<_, Claimed>(pg)
                .bind(now)
                .bind(limit)
                .bind(worker)
                .bind(until)
                .fetch_all(p)
                .await?
        }
        Db::Sqlite(s) => {
            sqlx::query_as::<_, Claimed>(lite)
                .bind(now)
                .bind(limit)
                .bind(worker)
                .bind(until)
                .fetch_all(&s.writer)
                .await?
        }
    };
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Meta accepted the message: the outbox row is done and the message gets
/// its wamid (status webhooks refer to it). A status that arrived first
/// (it can) is not set back.
pub async fn mark_sent(
    db: &Db,
    row: &Claimed,
    wamid: &str,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    const OUTBOX: &str =
        "UPDATE outbox SET status = $3, sent_at = $2, updated_at = $2, claimed_until = NULL,
            error_code = NULL, last_error = NULL WHERE id = $1";
    const MESSAGE: &str = "UPDATE messages SET provider_message_id = $2, updated_at = $3,
            status = CASE WHEN status = $4 THEN $5 ELSE status END
         WHERE id = $1";
    match db {
        // One statement, one round trip.
        Db::Postgres(p) => {
            sqlx::query(
                "WITH o AS (UPDATE outbox SET status = $5, sent_at = $4, updated_at = $4, claimed_until = NULL,
                    error_code = NULL, last_error = NULL WHERE id = $1)
                 UPDATE messages SET provider_message_id = $3, updated_at = $4,
                    status = CASE WHEN status = $6 THEN $7 ELSE status END
                 WHERE id = $2",
            )
            .bind(row.id)
            .bind(row.message_id)
            .bind(wamid)
            .bind(now)
            .bind(OutboxStatus::Sent)
            .bind(MessageStatus::Queued)
            .bind(MessageStatus::Sent)
            .execute(p)
            .await?;
            Ok(())
        }
        Db::Sqlite(_) => {
            let mut tx = db.begin().await?;
            on_tx!(&mut tx, c => sqlx::query(OUTBOX).bind(row.id).bind(now).bind(OutboxStatus::Sent)
                .execute(c).await.map(|_| ()))?;
            on_tx!(&mut tx, c => sqlx::query(MESSAGE)
                .bind(row.message_id).bind(wamid).bind(now).bind(MessageStatus::Queued).bind(MessageStatus::Sent)
                .execute(c).await.map(|_| ()))?;
            tx.commit().await
        }
    }
}

/// Back to pending, to be tried again at `at`. `error` says why (kept for
/// staff); `count_attempt: false` gives the attempt back (the send never
/// reached the API, or the account's token was refused).
pub async fn retry_later(
    db: &Db,
    row: &Claimed,
    at: OffsetDateTime,
    error_code: Option<i64>,
    error: &str,
    count_attempt: bool,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "UPDATE outbox SET status = $7, next_attempt_at = $2, claimed_by = NULL, claimed_until = NULL,
            error_code = $3, last_error = $4, updated_at = $5,
            attempts = CASE WHEN $6 THEN attempts ELSE attempts - 1 END
         WHERE id = $1 AND status = $8")
        .bind(row.id).bind(at).bind(error_code).bind(error).bind(now).bind(count_attempt)
        .bind(OutboxStatus::Pending).bind(OutboxStatus::Sending)
        .execute(p).await.map(|_| ()))
}

/// A permanent failure: the row is done, the message shows the error.
pub async fn mark_failed(
    db: &Db,
    row: &Claimed,
    error_code: Option<i64>,
    error: &str,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE outbox SET status = $5, error_code = $2, last_error = $3, updated_at = $4,
            claimed_until = NULL WHERE id = $1")
        .bind(row.id).bind(error_code).bind(error).bind(now).bind(OutboxStatus::Failed)
        .execute(c).await.map(|_| ()))?;
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE messages SET status = $5, error_code = $2, error_message = $3, updated_at = $4 WHERE id = $1")
        .bind(row.message_id).bind(error_code.map(|c| c.to_string())).bind(error).bind(now)
        .bind(MessageStatus::Failed)
        .execute(c).await.map(|_| ()))?;
    tx.commit().await
}

/// Rank of a message's status in SQL (see `MessageStatus::rank`): a status
/// webhook only ever moves a message forward (Meta sends them in any order,
/// and more than once). `CASE status WHEN 'queued' THEN 0 … ELSE 0 END`.
fn rank_sql() -> String {
    let mut sql = String::from("CASE status");
    for status in MessageStatus::ALL {
        if let Some(rank) = status.rank() {
            sql.push_str(&format!(" WHEN '{status}' THEN {rank}"));
        }
    }
    sql.push_str(" ELSE 0 END");
    sql
}

/// A delivery status reported by the provider for one of our messages.
#[derive(Debug, Clone)]
pub struct StatusReport<'a> {
    pub account_id: i64,
    pub provider_message_id: &'a str,
    pub status: &'a str,
    pub error_code: Option<i64>,
    pub error_message: Option<&'a str>,
    /// The outbox row id we sent with the message (`biz_opaque_callback_data`),
    /// which finds the message when the status arrives before the send's
    /// answer was recorded.
    pub outbox_id: Option<i64>,
}

/// What a status report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusApplied {
    /// The message moved forward (its conversation's page is told).
    Moved { conversation_id: i64 },
    /// A message of ours, already at that status or further.
    Known,
    /// No message of ours (or a status we do not know).
    Unknown,
}

impl StatusApplied {
    /// Whether a message of ours was found.
    pub fn found(self) -> bool {
        self != StatusApplied::Unknown
    }

    /// Tells the conversation's pages when the message moved forward.
    pub fn tell(self, live: &crate::live::Hub, account: &crate::tenancy::Account) {
        if let StatusApplied::Moved { conversation_id } = self {
            live.publish(crate::live::Change {
                tenant_id: account.tenant_id,
                account_id: account.id,
                conversation_id,
                topic: crate::live::Topic::Status,
            });
        }
    }
}

/// Applies a status. Unknown statuses (a later addition of Meta's) are
/// ignored.
pub async fn apply_status(
    db: &Db,
    s: &StatusReport<'_>,
    now: OffsetDateTime,
) -> Result<StatusApplied, sqlx::Error> {
    // An unknown status (a later addition of Meta's) is ignored.
    let Some((status, new_rank)) =
        MessageStatus::parse(s.status).and_then(|status| Some((status, status.rank()?)))
    else {
        return Ok(StatusApplied::Unknown);
    };
    static SQL: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (by_wamid, by_outbox_id) = SQL.get_or_init(|| {
        let rank = rank_sql();
        (
            format!(
                "UPDATE messages SET status = $3, error_code = COALESCE($4, error_code),
            error_message = COALESCE($5, error_message), updated_at = $6
         WHERE account_id = $1 AND provider_message_id = $2 AND direction = '{out}'
           AND ({rank}) < $7
         RETURNING conversation_id",
                out = Direction::Out
            ),
            format!(
                "UPDATE messages SET provider_message_id = $3, status = $4, error_code = COALESCE($5, error_code),
            error_message = COALESCE($6, error_message), updated_at = $7
         WHERE id = (SELECT message_id FROM outbox WHERE id = $2 AND account_id = $1)
           AND provider_message_id IS NULL AND ({rank}) < $8
         RETURNING conversation_id"
            ),
        )
    });
    let code = s.error_code.map(|c| c.to_string());
    // One message per (account, wamid): at most one row.
    let matched: Option<i64> = on_db!(db, p => sqlx::query_scalar(by_wamid)
        .bind(s.account_id).bind(s.provider_message_id).bind(status).bind(&code)
        .bind(s.error_message).bind(now).bind(new_rank)
        .fetch_optional(p).await)?;
    if let Some(conversation_id) = matched {
        return Ok(StatusApplied::Moved { conversation_id });
    }
    // Already at that status or further, or not known by its wamid yet.
    let known: Option<i64> = on_db!(db, p => sqlx::query_scalar(
        "SELECT id FROM messages WHERE account_id = $1 AND provider_message_id = $2")
        .bind(s.account_id).bind(s.provider_message_id).fetch_optional(p).await)?;
    if known.is_some() {
        return Ok(StatusApplied::Known);
    }
    let Some(outbox_id) = s.outbox_id else {
        return Ok(StatusApplied::Unknown);
    };
    let matched: Option<i64> = on_db!(db, p => sqlx::query_scalar(by_outbox_id)
        .bind(s.account_id).bind(outbox_id).bind(s.provider_message_id).bind(status).bind(&code)
        .bind(s.error_message).bind(now).bind(new_rank)
        .fetch_optional(p).await)?;
    Ok(match matched {
        Some(conversation_id) => StatusApplied::Moved { conversation_id },
        None => StatusApplied::Unknown,
    })
}

/// A webhook delivery no account could take, kept for an operator.
pub async fn dead_letter(
    db: &Db,
    provider: &str,
    reason: &str,
    reference: Option<&str>,
    body: &str,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "INSERT INTO webhook_dead_letters (provider, reason, reference, body, received_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(provider).bind(reason).bind(reference).bind(body).bind(now)
        .execute(p).await.map(|_| ()))
}

/// Deletes the dead letters received before `before` (the maintenance job
/// keeps them 30 days: long enough to look into a misrouted number, not a
/// store of messages). Returns how many went.
pub async fn delete_dead_letters_before(
    db: &Db,
    before: OffsetDateTime,
) -> Result<u64, sqlx::Error> {
    on_db!(db, p => sqlx::query("DELETE FROM webhook_dead_letters WHERE received_at < $1")
        .bind(before).execute(p).await.map(|r| r.rows_affected()))
}

/// Deletes the finished outbox rows (sent, or failed for good) of these
/// messages: their payload holds the text the retention period erases.
/// Rows still to be sent stay (the person is waiting for them).
pub async fn delete_finished_of(
    tx: &mut crate::db::Tx,
    message_ids: &[i64],
) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    for chunk in message_ids.chunks(500) {
        let ids = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "DELETE FROM outbox WHERE message_id IN ({ids}) AND status IN ('{}', '{}')",
            OutboxStatus::Sent,
            OutboxStatus::Failed
        );
        deleted += crate::on_tx!(&mut *tx, c => sqlx::query(&sql).execute(c).await.map(|r| r.rows_affected()))?;
    }
    Ok(deleted)
}

/// Rows of the outbox by status, every status listed (0 when none): the
/// operator's gauge (`/metrics`), across tenants, counts only.
pub async fn count_by_status(db: &Db) -> Result<Vec<(OutboxStatus, i64)>, sqlx::Error> {
    let rows: Vec<(OutboxStatus, i64)> = on_db_read!(db, p => sqlx::query_as(
        "SELECT status, COUNT(*) FROM outbox GROUP BY status")
        .fetch_all(p).await)?;
    Ok(OutboxStatus::ALL
        .iter()
        .map(|s| {
            let n = rows.iter().find(|(r, _)| r == s).map_or(0, |(_, n)| *n);
            (*s, n)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_statuses_read_back_as_stored_and_another_word_is_an_error() {
        assert_eq!(
            OutboxStatus::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
            ["pending", "sending", "sent", "failed"]
        );
        for s in OutboxStatus::ALL {
            assert_eq!(s.as_str().parse::<OutboxStatus>(), Ok(*s));
        }
        for bad in ["", "held", "Pending", "queued"] {
            assert_eq!(OutboxStatus::parse(bad), None, "{bad}");
            assert!(bad.parse::<OutboxStatus>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_sql_built_from_the_states_is_the_one_the_indexes_and_ranks_expect() {
        // The predicate of the partial indexes `outbox_due` and
        // `outbox_conversation`, word for word.
        assert_eq!(open_statuses(), "('pending', 'sending')");
        assert_eq!(
            rank_sql(),
            "CASE status WHEN 'queued' THEN 0 WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 \
             WHEN 'read' THEN 3 WHEN 'played' THEN 4 WHEN 'failed' THEN 5 ELSE 0 END"
        );
        assert!(
            window_postgres().contains(
                "a.provider IN ('meta', 'twilio') AND a.enabled AND a.token_status = 'ok'"
            )
        );
        assert!(
            window_sqlite().contains(
                "WHERE provider IN ('meta', 'twilio') AND enabled AND token_status = 'ok'"
            )
        );
    }
}
