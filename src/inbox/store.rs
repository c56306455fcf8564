//! SQL for contacts, conversations and messages.

use crate::db::Tx;
use crate::flow::FlowState;
use crate::on_tx;
use sqlx::types::Json;
use time::OffsetDateTime;

/// The conversation row, locked for the current transaction.
#[derive(Debug, sqlx::FromRow)]
pub struct LockedConversation {
    pub id: i64,
    pub mode: String,
    pub flow_state: Json<FlowState>,
}

/// Creates or refreshes the contact; returns its id. On PostgreSQL the
/// upsert also locks the contact row until commit.
pub async fn upsert_contact(
    tx: &mut Tx,
    tenant_id: i64,
    account_id: i64,
    phone: &str,
    profile_name: Option<&str>,
    now: OffsetDateTime,
) -> Result<i64, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO contacts (tenant_id, account_id, phone, profile_name, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (account_id, phone) DO UPDATE SET profile_name = COALESCE(excluded.profile_name, contacts.profile_name)
         RETURNING id")
        .bind(tenant_id).bind(account_id).bind(phone).bind(profile_name).bind(now)
        .fetch_one(c).await)
}

/// Creates the contact's conversation if needed and locks it: the upsert
/// takes the row lock on PostgreSQL (as `FOR UPDATE` would) and returns the
/// latest committed state; SQLite serialises writers anyway.
pub async fn lock_conversation(
    tx: &mut Tx,
    tenant_id: i64,
    account_id: i64,
    contact_id: i64,
    now: OffsetDateTime,
) -> Result<LockedConversation, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_as::<_, LockedConversation>(
        "INSERT INTO conversations (tenant_id, account_id, contact_id, mode, flow_state, last_message_at, created_at, updated_at)
         VALUES ($1, $2, $3, 'bot', $4, $5, $5, $5)
         ON CONFLICT (contact_id) DO UPDATE SET updated_at = excluded.updated_at
         RETURNING id, mode, flow_state")
        .bind(tenant_id).bind(account_id).bind(contact_id).bind(Json(FlowState::default())).bind(now)
        .fetch_one(c).await)
}

/// A message to store.
#[derive(Debug)]
pub struct NewMessage<'a> {
    pub tenant_id: i64,
    pub account_id: i64,
    pub conversation_id: i64,
    pub direction: &'a str,
    pub sender: &'a str,
    pub provider_message_id: Option<&'a str>,
    pub kind: &'a str,
    pub body_form: &'a str,
    pub body: &'a str,
    pub status: &'a str,
}

/// Inserts a message; `None` when its provider id was already stored (a
/// retried webhook).
pub async fn insert_message(
    tx: &mut Tx,
    m: &NewMessage<'_>,
    now: OffsetDateTime,
) -> Result<Option<i64>, sqlx::Error> {
    on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO messages (tenant_id, account_id, conversation_id, direction, sender, provider_message_id, kind,
            body_form, body, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
         ON CONFLICT (account_id, provider_message_id) DO NOTHING
         RETURNING id")
        .bind(m.tenant_id).bind(m.account_id).bind(m.conversation_id).bind(m.direction).bind(m.sender)
        .bind(m.provider_message_id).bind(m.kind).bind(m.body_form).bind(m.body).bind(m.status).bind(now)
        .fetch_optional(c).await)
}

/// Queues a message for the outbox worker.
pub async fn insert_outbox(
    tx: &mut Tx,
    tenant_id: i64,
    account_id: i64,
    message_id: i64,
    payload: &serde_json::Value,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO outbox (tenant_id, account_id, message_id, payload, status, attempts, next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $5)")
        .bind(tenant_id).bind(account_id).bind(message_id).bind(Json(payload)).bind(now)
        .execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Saves the conversation after a step.
pub async fn update_conversation(
    tx: &mut Tx,
    conversation_id: i64,
    mode: &str,
    flow_state: &FlowState,
    escalated_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE conversations SET mode = $2, flow_state = $3, escalated_at = COALESCE($4, escalated_at),
            last_inbound_at = $5, last_message_at = $5, updated_at = $5
         WHERE id = $1")
        .bind(conversation_id).bind(mode).bind(Json(flow_state)).bind(escalated_at).bind(now)
        .execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}
