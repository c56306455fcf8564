//! SQL for tenants and WhatsApp accounts.

use super::{Account, DEFAULT_TENANT, FlowSettings, Provider, SANDBOX_ACCOUNT, TWILIO_ACCOUNT};
use crate::config::Config;
use crate::db::Db;
use crate::on_db;
use anyhow::Context;
use sqlx::types::Json;
use time::OffsetDateTime;

const ACCOUNT_COLUMNS: &str = "id, tenant_id, slug, name, provider, phone_number, meta_phone_number_id, \
     twilio_account_sid, twilio_auth_token, flow_config, enabled";

/// Creates the tenant if missing; returns its id.
pub async fn ensure_tenant(db: &Db, slug: &str, name: &str) -> anyhow::Result<i64> {
    let now = OffsetDateTime::now_utc();
    let id: i64 = on_db!(db, p => sqlx::query_scalar(
        "INSERT INTO tenants (slug, name, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (slug) DO UPDATE SET slug = excluded.slug RETURNING id")
        .bind(slug).bind(name).bind(now).fetch_one(p).await)
    .with_context(|| format!("creating tenant {slug}"))?;
    Ok(id)
}

/// What an account is created or updated with.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub tenant_id: i64,
    pub slug: String,
    pub name: String,
    pub provider: Provider,
    pub phone_number: Option<String>,
    pub meta_phone_number_id: Option<String>,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<String>,
    pub flow: FlowSettings,
}

/// Creates the account, or updates its provider settings (not its flow
/// settings, which staff may have edited) when the slug exists.
pub async fn upsert_account(db: &Db, a: &NewAccount) -> anyhow::Result<Account> {
    let now = OffsetDateTime::now_utc();
    let sql = format!(
        "INSERT INTO whatsapp_accounts (tenant_id, slug, name, provider, phone_number, meta_phone_number_id,
            twilio_account_sid, twilio_auth_token, flow_config, enabled, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, TRUE, $10, $10)
         ON CONFLICT (slug) DO UPDATE SET provider = excluded.provider, phone_number = excluded.phone_number,
            meta_phone_number_id = excluded.meta_phone_number_id, twilio_account_sid = excluded.twilio_account_sid,
            twilio_auth_token = excluded.twilio_auth_token, updated_at = excluded.updated_at
         RETURNING {ACCOUNT_COLUMNS}"
    );
    let account = on_db!(db, p => sqlx::query_as::<_, Account>(&sql)
        .bind(a.tenant_id).bind(&a.slug).bind(&a.name).bind(a.provider.as_str())
        .bind(&a.phone_number).bind(&a.meta_phone_number_id)
        .bind(&a.twilio_account_sid).bind(&a.twilio_auth_token)
        .bind(Json(&a.flow)).bind(now)
        .fetch_one(p).await)
    .with_context(|| format!("saving WhatsApp account {}", a.slug))?;
    Ok(account)
}

/// The enabled account of `provider` whose number is `phone` (E.164).
pub async fn find_by_number(
    db: &Db,
    provider: Provider,
    phone: &str,
) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM whatsapp_accounts WHERE provider = $1 AND phone_number = $2 AND enabled"
    );
    on_db!(db, p => sqlx::query_as::<_, Account>(&sql).bind(provider.as_str()).bind(phone).fetch_optional(p).await)
}

/// The account with this slug, whatever its provider.
pub async fn find_by_slug(db: &Db, slug: &str) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM whatsapp_accounts WHERE slug = $1");
    on_db!(db, p => sqlx::query_as::<_, Account>(&sql).bind(slug).fetch_optional(p).await)
}

/// First start: the default tenant and its sandbox account, so a newcomer
/// can talk to the bot without any WhatsApp credentials; and the Twilio
/// account the `TWILIO_*` variables describe, created or updated.
pub async fn bootstrap(db: &Db, config: &Config) -> anyhow::Result<()> {
    let tenant_id = ensure_tenant(db, DEFAULT_TENANT, "Organisation par défaut").await?;
    if find_by_slug(db, SANDBOX_ACCOUNT).await?.is_none() {
        upsert_account(
            db,
            &NewAccount {
                tenant_id,
                slug: SANDBOX_ACCOUNT.into(),
                name: "Bac à sable".into(),
                provider: Provider::Sandbox,
                phone_number: None,
                meta_phone_number_id: None,
                twilio_account_sid: None,
                twilio_auth_token: None,
                flow: FlowSettings::default(),
            },
        )
        .await?;
        tracing::info!(
            "created the sandbox account: POST /sandbox/{SANDBOX_ACCOUNT}/messages talks to the bot"
        );
    }
    if let Some(t) = &config.twilio {
        upsert_account(
            db,
            &NewAccount {
                tenant_id,
                slug: TWILIO_ACCOUNT.into(),
                name: "Twilio".into(),
                provider: Provider::Twilio,
                phone_number: Some(t.whatsapp_number.clone()),
                meta_phone_number_id: None,
                twilio_account_sid: Some(t.account_sid.clone()),
                twilio_auth_token: Some(t.auth_token.expose().to_string()),
                flow: FlowSettings::default(),
            },
        )
        .await?;
    }
    Ok(())
}
