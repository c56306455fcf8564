//! The inbox: contacts, conversations and messages, and the processing of
//! one inbound message (DESIGN.md section 4), in one transaction:
//!
//! 1. create or refresh the contact and lock its conversation;
//! 2. if the conversation is in bot mode, run the flow step;
//! 3. store the inbound message (a provider id already stored ends here:
//!    the transaction is rolled back, nothing is answered twice), the
//!    replies (and their outbox rows for providers sent by the worker), the
//!    new flow state and, when a code was issued, its registration;
//! 4. commit. Only then does the webhook answer.

pub mod store;

use crate::AppState;
use crate::error::AppResult;
use crate::flow::{self, Event, Inbound, Reply, Transcript};
use crate::registry;
use crate::tenancy::{Account, Provider};
use time::OffsetDateTime;

/// An inbound message, as a channel parsed it.
#[derive(Debug, Clone)]
pub struct NewInbound {
    /// The provider's message id (Twilio MessageSid, Meta wamid): the
    /// deduplication key.
    pub provider_message_id: String,
    /// The sender's number, E.164 with `+`.
    pub from: String,
    pub profile_name: Option<String>,
    /// Typed text or caption; empty for media without caption.
    pub text: String,
    /// Id of a tapped button or list row.
    pub choice_id: Option<String>,
    /// "text", "image", "audio", "location", "interactive", …
    pub kind: String,
}

/// What happened to an inbound message.
#[derive(Debug)]
pub enum Handled {
    /// Already stored earlier (a provider retry): nothing done, nothing to send.
    Duplicate,
    Processed {
        conversation_id: i64,
        /// The bot's replies, to be delivered by the channel (TwiML, sandbox)
        /// or already queued in the outbox (Meta).
        replies: Vec<Reply>,
        events: Vec<Event>,
    },
}

/// Processes one inbound message (see the module header).
pub async fn handle_inbound(
    state: &AppState,
    account: &Account,
    msg: &NewInbound,
) -> AppResult<Handled> {
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db.begin().await?;
    let contact_id = store::upsert_contact(
        &mut tx,
        account.tenant_id,
        account.id,
        &msg.from,
        msg.profile_name.as_deref(),
        now,
    )
    .await?;
    let conversation =
        store::lock_conversation(&mut tx, account.tenant_id, account.id, contact_id, now).await?;

    let mut mode = conversation.mode.as_str();
    let mut flow_state = conversation.flow_state.0.clone();
    let (replies, events, transcript) = if mode == "bot" {
        let outcome = flow::step(
            &flow_state,
            &Inbound {
                text: &msg.text,
                choice_id: msg.choice_id.as_deref(),
            },
            &account.flow_config(&state.config),
            now,
        );
        flow_state = outcome.state;
        (outcome.replies, outcome.events, outcome.transcript)
    } else {
        // A person from the staff has the conversation: keep the message as written.
        (Vec::new(), Vec::new(), Transcript::Verbatim)
    };
    let (body_form, body) = match &transcript {
        Transcript::Verbatim => ("verbatim", msg.text.as_str()),
        Transcript::Shortened(part) => ("shortened", part.as_str()),
        Transcript::Redacted => ("redacted", ""),
    };
    let inserted = store::insert_message(
        &mut tx,
        &store::NewMessage {
            tenant_id: account.tenant_id,
            account_id: account.id,
            conversation_id: conversation.id,
            direction: "in",
            sender: "contact",
            provider_message_id: Some(&msg.provider_message_id),
            kind: &msg.kind,
            body_form,
            body,
            status: "received",
        },
        now,
    )
    .await?;
    if inserted.is_none() {
        tx.rollback().await?;
        return Ok(Handled::Duplicate);
    }

    let provider = account.provider();
    let reply_status = match provider {
        // Sent in the webhook's TwiML answer.
        Provider::Twilio => "sent",
        Provider::Sandbox => "delivered",
        Provider::Meta => "queued",
    };
    for reply in &replies {
        let message_id = store::insert_message(
            &mut tx,
            &store::NewMessage {
                tenant_id: account.tenant_id,
                account_id: account.id,
                conversation_id: conversation.id,
                direction: "out",
                sender: "bot",
                provider_message_id: None,
                kind: if reply.choices.is_empty() {
                    "text"
                } else {
                    "interactive"
                },
                body_form: "verbatim",
                body: &reply.text,
                status: reply_status,
            },
            now,
        )
        .await?
        .ok_or_else(|| {
            anyhow::anyhow!("an outbound message without provider id cannot conflict")
        })?;
        if provider == Provider::Meta {
            let payload = serde_json::json!({ "to": msg.from, "reply": reply });
            store::insert_outbox(
                &mut tx,
                account.tenant_id,
                account.id,
                message_id,
                &payload,
                now,
            )
            .await?;
        }
    }

    let mut escalated_at = None;
    for event in &events {
        match event {
            Event::UicIssued { uic, parts } => {
                let phone_hash = registry::salt::hash_phone(&state.salt, &msg.from);
                let recorded = registry::store::record_issue(
                    &mut tx,
                    account.tenant_id,
                    account.id,
                    uic,
                    parts,
                    &phone_hash,
                    now,
                )
                .await?;
                if recorded.new_collision {
                    tracing::info!(
                        registration = recorded.registration_id,
                        "possible UIC collision flagged for review"
                    );
                }
            }
            Event::Escalated { reason } => {
                mode = "human";
                escalated_at = Some(now);
                tracing::info!(
                    conversation = conversation.id,
                    ?reason,
                    "conversation escalated to staff"
                );
            }
            Event::Reset { .. } => {}
        }
    }
    store::update_conversation(
        &mut tx,
        conversation.id,
        mode,
        &flow_state,
        escalated_at,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Handled::Processed {
        conversation_id: conversation.id,
        replies,
        events,
    })
}
