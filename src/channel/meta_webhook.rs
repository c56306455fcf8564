//! Meta Cloud API webhooks: the verification handshake (`GET`) and
//! notifications (`POST` with JSON): messages, statuses and errors, in
//! batches that may name several numbers.

use crate::AppState;
use crate::channel::meta::{self, Content, Event};
use crate::channel::webhook::mask_phone;
use crate::error::{AppError, AppResult};
use crate::inbox::{self, NewInbound};
use crate::outbox::store::{self as outbox, StatusReport};
use crate::tenancy::{Account, store as accounts};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeSet, HashMap};
use time::OffsetDateTime;

/// `GET /whatsapp/webhook?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`:
/// answered with the challenge as plain text when the token is one of the
/// Meta accounts' verify tokens, 403 otherwise.
pub async fn verify(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> AppResult<Response> {
    let get = |k: &str| params.get(k).map(String::as_str);
    let known = accounts::meta_accounts(&state.db).await?;
    let is_known = |token: &str| {
        known.iter().any(|a| {
            a.meta_verify_token
                .as_deref()
                .is_some_and(|t| meta::tokens_equal(t, token))
        })
    };
    match meta::verify_challenge(
        get("hub.mode"),
        get("hub.verify_token"),
        get("hub.challenge"),
        is_known,
    ) {
        Ok(challenge) => Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            challenge.to_string(),
        )
            .into_response()),
        Err(e) => {
            tracing::warn!(error = %e, "Meta verification handshake refused");
            Err(AppError::Forbidden(format!(
                "webhook verification refused: {e}"
            )))
        }
    }
}

/// `POST /whatsapp/webhook` with JSON. The signature is checked, with the
/// app secret of every account the body names, before anything is stored;
/// then each message goes through the inbox in order, each status updates
/// its message. Numbers no account has are kept as dead letters and
/// answered 200, so Meta does not retry them for a week.
pub async fn receive(state: &AppState, headers: &HeaderMap, body: &[u8]) -> AppResult<Response> {
    let events = meta::parse_notification(body)
        .map_err(|e| AppError::BadRequest(format!("Meta webhook: {e}")))?;
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    let Some(signature) = signature else {
        return Err(AppError::Unauthorized(
            "missing X-Hub-Signature-256 header".into(),
        ));
    };

    let named: BTreeSet<&str> = events.iter().map(Event::phone_number_id).collect();
    let mut known: HashMap<&str, Account> = HashMap::new();
    let mut unknown: Vec<&str> = Vec::new();
    for id in named {
        let found = state
            .accounts
            .get_or_load(
                format!("meta:{id}"),
                accounts::find_by_meta_phone_number_id(&state.db, id),
            )
            .await?;
        match found {
            Some(account) => {
                known.insert(id, account);
            }
            None => unknown.push(id),
        }
    }
    // Every account named must have signed the body: one programme's app
    // secret cannot speak for another's number.
    for account in known.values() {
        let Some(secret) = account.meta_app_secret.as_deref() else {
            tracing::warn!(account = %account.slug, "Meta webhook refused: the account has no app secret");
            return Err(AppError::Forbidden(format!(
                "the WhatsApp account {} has no Meta app secret configured: its webhooks cannot be checked",
                account.slug
            )));
        };
        if !meta::verify_signature(secret, body, Some(signature)) {
            tracing::warn!(account = %account.slug, "Meta webhook refused: invalid X-Hub-Signature-256");
            return Err(AppError::Forbidden("invalid X-Hub-Signature-256".into()));
        }
    }
    if known.is_empty() {
        // Only numbers we do not serve (or nothing we handle): it must come
        // from one of our apps to be kept.
        let all = accounts::meta_accounts(&state.db).await?;
        let signed = all.iter().any(|a| {
            a.meta_app_secret
                .as_deref()
                .is_some_and(|s| meta::verify_signature(s, body, Some(signature)))
        });
        if !signed {
            tracing::warn!("Meta webhook refused: its signature matches no configured app secret");
            return Err(AppError::Forbidden("invalid X-Hub-Signature-256".into()));
        }
    }

    let now = OffsetDateTime::now_utc();
    if !unknown.is_empty() {
        tracing::warn!(
            phone_number_ids = ?unknown,
            "Meta webhook for numbers no account has: kept as a dead letter"
        );
        let theirs: Vec<&Event> = events
            .iter()
            .filter(|e| !known.contains_key(e.phone_number_id()))
            .collect();
        dead_letter(
            state,
            "no WhatsApp account has this phone_number_id",
            &unknown.join(","),
            &theirs,
            now,
        )
        .await?;
    }

    // Each event on its own: one that cannot be stored goes to the dead
    // letters and the others are still answered. Only a failure that a
    // retry may mend (the database unreachable or busy) fails the request,
    // so that Meta delivers the batch again; what was stored is then seen
    // as a duplicate, never answered twice.
    for event in &events {
        let Some(account) = known.get(event.phone_number_id()) else {
            continue;
        };
        if let Err(e) = handle_event(state, account, event, now).await {
            if e.is_transient() {
                return Err(e);
            }
            let reason = match &e {
                AppError::Internal(_) => "could not be stored".to_string(),
                other => other.to_string(),
            };
            tracing::error!(account = %account.slug, error = %e, "Meta webhook: an event could not be handled; kept as a dead letter");
            dead_letter(state, &reason, &account.slug, &[event], now).await?;
        }
    }
    Ok(StatusCode::OK.into_response())
}

/// Keeps what is needed to debug routing of `events` (see
/// [`Event::routing_summary`]): no text, no name, numbers masked.
async fn dead_letter(
    state: &AppState,
    reason: &str,
    reference: &str,
    events: &[&Event],
    now: OffsetDateTime,
) -> AppResult<()> {
    let summary = serde_json::Value::Array(events.iter().map(|e| e.routing_summary()).collect());
    outbox::dead_letter(
        &state.db,
        "meta",
        reason,
        Some(reference),
        &summary.to_string(),
        now,
    )
    .await?;
    Ok(())
}

/// One message, status or error report of a webhook, for a known account.
async fn handle_event(
    state: &AppState,
    account: &Account,
    event: &Event,
    now: OffsetDateTime,
) -> AppResult<()> {
    match event {
        Event::Message(m) => {
            let Some(from) = m.from.as_deref() else {
                // A username user without a phone number: replying needs
                // their user id, which contacts are not keyed by yet.
                tracing::warn!(account = %account.slug, "Meta message without a phone number: kept as a dead letter");
                return dead_letter(
                    state,
                    "message without a phone number (business-scoped user id only)",
                    &account.slug,
                    &[event],
                    now,
                )
                .await;
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
            inbox::handle_inbound(state, account, &inbound).await?;
        }
        Event::Rejected { message, reason } => {
            tracing::warn!(account = %account.slug, reason, kind = %message.message_type, "Meta message refused: kept as a dead letter");
            dead_letter(state, reason, &account.slug, &[event], now).await?;
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
            let found = outbox::apply_status(
                &state.db,
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
            if s.status == "failed" {
                tracing::warn!(
                    account = %account.slug,
                    recipient = %s.recipient_id.as_deref().map(mask_phone).unwrap_or_default(),
                    code = first_error.map(|e| e.code),
                    "Meta reports a message as failed"
                );
            }
            if !found {
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
