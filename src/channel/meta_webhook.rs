//! Meta Cloud API webhooks, past the HTTP layer (the web layer checks the
//! signatures and answers): each event of a notification batch handled on
//! its own, messages through the inbox, statuses onto their messages, and
//! what cannot be handled kept as a dead letter.

use crate::channel::meta::{Content, Event};
use crate::channel::webhook::mask_phone;
use crate::db::Db;
use crate::inbox::MessageStatus;
use crate::inbox::{self, NewInbound};
use crate::outbox::store::{self as outbox, StatusReport};
use crate::tenancy::{Account, Provider};
use time::OffsetDateTime;

/// Why one event of a notification could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(transparent)]
    Inbox(#[from] inbox::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Keeps what is needed to debug routing of `events` (see
/// [`Event::routing_summary`]): no text, no name, numbers masked.
pub async fn dead_letter(
    db: &Db,
    reason: &str,
    reference: &str,
    events: &[&Event],
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let summary = serde_json::Value::Array(events.iter().map(|e| e.routing_summary()).collect());
    outbox::dead_letter(
        db,
        Provider::Meta.as_str(),
        reason,
        Some(reference),
        &summary.to_string(),
        now,
    )
    .await?;
    Ok(())
}

/// One message, status or error report of a webhook, for a known account.
pub async fn handle_event(
    inbox: &inbox::Inputs<'_>,
    account: &Account,
    event: &Event,
    now: OffsetDateTime,
) -> Result<(), EventError> {
    match event {
        Event::Message(m) => {
            let Some(from) = m.from.as_deref() else {
                // A username user without a phone number: replying needs
                // their user id, which contacts are not keyed by yet.
                tracing::warn!(account = %account.slug, "Meta message without a phone number: kept as a dead letter");
                return Ok(dead_letter(
                    inbox.db,
                    "message without a phone number (business-scoped user id only)",
                    &account.slug,
                    &[event],
                    now,
                )
                .await?);
            };
            let media_ref = match &m.content {
                Content::Media { media_id, .. } => media_id.clone(),
                _ => None,
            };
            let inbound = NewInbound {
                provider_message_id: m.wamid.clone(),
                from: format!("+{from}"),
                profile_name: m.profile_name.clone(),
                text: m.text().to_string(),
                choice_id: m.choice_id().map(str::to_string),
                kind: m.kind().to_string(),
                media_ref,
                sent_at: m
                    .timestamp
                    .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()),
            };
            inbox::handle_inbound(inbox, account, &inbound).await?;
        }
        Event::Rejected { message, reason } => {
            tracing::warn!(account = %account.slug, reason, kind = %message.message_type, "Meta message refused: kept as a dead letter");
            dead_letter(inbox.db, reason, &account.slug, &[event], now).await?;
        }
        Event::Status(s) => {
            let first_error = s.errors.first();
            let outbox_id = s
                .callback_data
                .as_deref()
                .and_then(|d| d.strip_prefix("outbox:"))
                .and_then(|id| id.parse().ok());
            let error_message = first_error.map(|e| {
                [
                    e.title.as_deref(),
                    e.message.as_deref(),
                    e.details.as_deref(),
                ]
                .into_iter()
                .flatten()
                .fold(String::new(), |mut acc, part| {
                    if !acc.contains(part) {
                        if !acc.is_empty() {
                            acc.push_str(": ");
                        }
                        acc.push_str(part);
                    }
                    acc
                })
            });
            let applied = outbox::apply_status(
                inbox.db,
                &StatusReport {
                    account_id: account.id,
                    provider_message_id: &s.wamid,
                    status: &s.status,
                    error_code: first_error.map(|e| e.code),
                    error_message: error_message.as_deref(),
                    outbox_id,
                },
                now,
            )
            .await?;
            if MessageStatus::parse(&s.status) == Some(MessageStatus::Failed) {
                tracing::warn!(
                    account = %account.slug,
                    recipient = %s.recipient_id.as_deref().map(mask_phone).unwrap_or_default(),
                    code = first_error.map(|e| e.code),
                    "Meta reports a message as failed"
                );
            }
            applied.tell(inbox.live, account);
            if !applied.found() {
                tracing::debug!(account = %account.slug, status = %s.status, "status for a message not sent from here");
            }
        }
        Event::Errors { errors, .. } => {
            for e in errors {
                tracing::error!(account = %account.slug, code = e.code, message = ?e.message, "Meta reports an error for the number");
            }
        }
    }
    Ok(())
}
