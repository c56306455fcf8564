//! The queue's promise kept: a person whose conversation nobody took within
//! the account's waiting limit (`waiting_limit_minutes`, default 4 hours) is
//! told once that nobody is available and how to get their code from the
//! bot (RECOMMENCER). Run every minute by each server instance; two
//! instances never tell the same person twice (the notice is written on
//! condition that none was, with the conversation's version).

use super::states::{Change, MessageStatus, Mode, Sender};
use super::store::{self, ChangeRecord, Outbound};
use crate::config::Config;
use crate::db::Db;
use crate::flow;
use crate::tenancy::{Provider, store as accounts};
use crate::{on_db_read, on_tx};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// How often the queue is looked at.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// A waiting conversation not yet told.
#[derive(Debug, sqlx::FromRow)]
struct Unattended {
    id: i64,
    tenant_id: i64,
    account_id: i64,
    version: i64,
    escalated_at: Option<OffsetDateTime>,
    last_inbound_at: Option<OffsetDateTime>,
    waiting_limit_minutes: i32,
    phone: String,
}

/// Whether a conversation that entered the queue at `since` has waited
/// past `limit_minutes` at `now`.
pub fn past_limit(since: Option<OffsetDateTime>, limit_minutes: i32, now: OffsetDateTime) -> bool {
    since.is_some_and(|at| now - at >= Duration::minutes(i64::from(limit_minutes)))
}

/// Tells every person waiting past their account's limit; returns how many
/// were told. A person outside the 24-hour window cannot be written to: the
/// notice is recorded without a message.
pub async fn notify_unattended(
    db: &Db,
    config: &Config,
    outbox: &crate::outbox::Signal,
    live: &crate::live::Hub,
    now: OffsetDateTime,
) -> Result<usize, sqlx::Error> {
    let waiting: Vec<Unattended> = on_db_read!(db, p => sqlx::query_as(
        "SELECT cv.id, cv.tenant_id, cv.account_id, cv.version, cv.escalated_at, cv.last_inbound_at,
            a.waiting_limit_minutes, c.phone
         FROM conversations cv
         JOIN whatsapp_accounts a ON a.id = cv.account_id
         JOIN contacts c ON c.id = cv.contact_id
         WHERE cv.mode = $1 AND cv.unattended_notice_at IS NULL")
        .bind(Mode::Waiting).fetch_all(p).await)?;
    let mut told = 0;
    for w in waiting
        .into_iter()
        .filter(|w| past_limit(w.escalated_at, w.waiting_limit_minutes, now))
    {
        let Some(account) = accounts::find_by_id(db, w.account_id).await? else {
            continue;
        };
        let provider = account.provider();
        let open = super::staff::Window::after(w.last_inbound_at, now).is_open();
        let replies = if open {
            vec![flow::nobody_available(&account.flow_config(config))]
        } else {
            Vec::new()
        };
        let outgoing = super::outgoing(
            provider,
            super::Delivery::Outbox,
            &account.flow_config(config),
            &w.phone,
            &replies,
            &[],
        );
        let mut tx = db.begin().await?;
        let claimed = on_tx!(&mut tx, c => sqlx::query(
            "UPDATE conversations SET unattended_notice_at = $3, version = version + 1, updated_at = $3
             WHERE id = $1 AND version = $2 AND mode = $4 AND unattended_notice_at IS NULL")
            .bind(w.id).bind(w.version).bind(now).bind(Mode::Waiting)
            .execute(c).await.map(|r| r.rows_affected()))?;
        if claimed == 0 {
            // Taken, restarted or told meanwhile (another instance).
            tx.rollback().await?;
            continue;
        }
        for reply in &outgoing {
            store::insert_outbound(
                &mut tx,
                &Outbound {
                    tenant_id: w.tenant_id,
                    account_id: w.account_id,
                    conversation_id: w.id,
                    sender: Sender::Bot,
                    author_id: None,
                    reply_to: None,
                    kind: reply.kind,
                    body: &reply.body,
                    status: match provider {
                        Provider::Sandbox => MessageStatus::Delivered,
                        Provider::Meta | Provider::Twilio => MessageStatus::Queued,
                    },
                    payload: reply.outbox_payload.as_ref(),
                    now,
                },
            )
            .await?;
        }
        store::record_change(
            &mut tx,
            &ChangeRecord {
                tenant_id: w.tenant_id,
                account_id: w.account_id,
                conversation_id: w.id,
                change: Change::NobodyAvailable,
                mode: Mode::Waiting,
                detail: (!open).then_some("outside the 24-hour window: not sent"),
                user_id: None,
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        // The notice (or its record) is in the thread.
        live.publish(crate::live::Change {
            tenant_id: w.tenant_id,
            account_id: w.account_id,
            conversation_id: w.id,
            topic: crate::live::Topic::Message,
        });
        told += 1;
    }
    if told > 0 {
        outbox.wake();
    }
    Ok(told)
}

/// Looks at the queue every `EVERY` until `stop` is notified.
pub async fn run(state: crate::AppState, stop: Arc<tokio::sync::Notify>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.notified() => return,
        }
        match notify_unattended(
            &state.db,
            &state.config,
            &state.outbox,
            &state.live,
            OffsetDateTime::now_utc(),
        )
        .await
        {
            Ok(0) => {}
            Ok(told) => tracing::info!(
                told,
                "people waiting past the limit were told nobody is available"
            ),
            Err(e) => tracing::error!(error = %e, "looking at the staff queue failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_limit_counts_from_entering_the_queue() {
        let now = datetime!(2026-12-01 12:00 UTC);
        assert!(past_limit(Some(now - Duration::hours(4)), 240, now));
        assert!(!past_limit(Some(now - Duration::minutes(239)), 240, now));
        assert!(!past_limit(None, 240, now));
        assert!(past_limit(Some(now - Duration::minutes(5)), 5, now));
    }
}
