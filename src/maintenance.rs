//! The daily maintenance job: what privacy at rest needs done with time.
//!
//! - message text kept as written (escalated conversations, staff and bot
//!   replies) older than its tenant's retention period is redacted: the
//!   body is emptied and marked `redacted`, the message's metadata (who,
//!   when, kind, status) stays; the finished outbox rows of that age, whose
//!   payload holds the same text, are deleted; one audit entry per tenant
//!   says how many;
//! - webhook dead letters older than 30 days are deleted.
//!
//! Every statement is idempotent, so several server instances may run the
//! job at the same time: a message redacted by one is not counted again by
//! another.

use crate::audit;
use crate::db::Db;
use crate::outbox;
use crate::tenancy::store as tenancy;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// Dead letters are kept this long.
pub const DEAD_LETTER_DAYS: i64 = 30;

/// How often the job runs.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// The audit log's name for the job.
pub const ACTOR: &str = "maintenance";

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// `(tenant id, messages redacted)`, for tenants where it redacted any.
    pub redacted: Vec<(i64, u64)>,
    pub dead_letters_deleted: u64,
    /// Finished outbox rows past their tenant's retention.
    pub outbox_deleted: u64,
}

/// One pass of the job as of `now` (tests call it with any time).
pub async fn run_once(db: &Db, now: OffsetDateTime) -> anyhow::Result<Pass> {
    let mut pass = Pass::default();
    for tenant in tenancy::list_tenants(db).await? {
        // The program itself applies each tenant's retention.
        let access = crate::auth::Actor::operator(tenant.id).require(
            crate::auth::Permission::SettingsManage,
            crate::auth::Scope::Tenant,
        )?;
        let Some(settings) = tenancy::privacy_settings(db, &access).await? else {
            continue;
        };
        let before = now - Duration::days(i64::from(settings.retention_days));
        let (count, sent) = redact_verbatim_before(db, tenant.id, before, now).await?;
        if count > 0 {
            audit::record(
                db,
                &audit::Entry {
                    tenant_id: Some(tenant.id),
                    user_id: None,
                    actor: ACTOR,
                    action: "messages.redact",
                    target: format!("tenant:{}", tenant.id),
                    detail: format!(
                        "{count} message(s) older than {} days redacted, {sent} sent outbox row(s) deleted",
                        settings.retention_days
                    ),
                    ip: None,
                },
            )
            .await?;
            pass.redacted.push((tenant.id, count));
            pass.outbox_deleted += sent;
        }
    }
    pass.dead_letters_deleted =
        outbox::store::delete_dead_letters_before(db, now - Duration::days(DEAD_LETTER_DAYS))
            .await?;
    Ok(pass)
}

/// Empties the text of a tenant's messages kept as written before `before`
/// and deletes the finished outbox rows of those messages (their payload
/// holds the same text), in one transaction: of several instances running
/// at once, the one that redacts a message also deletes its copy, so one
/// audit entry counts both. `(messages redacted, outbox rows deleted)`.
async fn redact_verbatim_before(
    db: &Db,
    tenant_id: i64,
    before: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(u64, u64), sqlx::Error> {
    let mut tx = db.begin().await?;
    let ids: Vec<i64> = crate::on_tx!(&mut tx, c => sqlx::query_scalar(
        "UPDATE messages SET body = '', body_form = 'redacted', text_chars = NULL, updated_at = $3
         WHERE tenant_id = $1 AND body_form = 'verbatim' AND created_at < $2 RETURNING id")
        .bind(tenant_id).bind(before).bind(now)
        .fetch_all(c).await)?;
    let sent = outbox::store::delete_finished_of(&mut tx, &ids).await?;
    tx.commit().await?;
    Ok((ids.len() as u64, sent))
}

/// Runs a pass at start, then every `EVERY`, until `stop` is notified.
pub async fn run(db: Db, stop: Arc<tokio::sync::Notify>) {
    loop {
        match run_once(&db, OffsetDateTime::now_utc()).await {
            Ok(pass) => {
                let redacted: u64 = pass.redacted.iter().map(|(_, n)| n).sum();
                tracing::info!(
                    redacted,
                    dead_letters_deleted = pass.dead_letters_deleted,
                    "daily maintenance done"
                );
            }
            Err(e) => tracing::error!(error = format!("{e:#}"), "daily maintenance failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.notified() => return,
        }
    }
}
