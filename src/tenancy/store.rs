//! SQL for tenants and WhatsApp accounts.
//!
//! Staff reach accounts and tenant settings through an `Access` (see
//! `auth::access`): `list_accounts`, `find_account`, `create_account`,
//! `update_channel`, `update_flow_settings`, the privacy settings. The
//! message path finds an account by what a verified webhook names (its
//! number, Meta phone number id or slug) and the outbox by the id on its
//! row; the program's first start creates the configured ones.

use super::channel_input::{ChannelChange, NewSecret};
use super::{
    Account, DEFAULT_TENANT, FlowSettings, META_ACCOUNT, Provider, SANDBOX_ACCOUNT, TWILIO_ACCOUNT,
    TokenStatus,
};
use crate::auth::{Access, AccessError, Permission};
use crate::config::{Config, Secret};
use crate::db::Db;
use crate::secrets::{self, Keyring, Purpose, Sealed};
use crate::{on_db, on_db_read, on_tx};
use anyhow::Context;
use sqlx::types::Json;
use time::OffsetDateTime;

const ACCOUNT_COLUMNS: &str = "id, tenant_id, slug, name, provider, phone_number, meta_phone_number_id, \
     twilio_account_sid, twilio_auth_token, flow_config, enabled, meta_waba_id, meta_app_id, meta_app_secret, \
     meta_verify_token, meta_access_token, token_status, send_rate_per_second, waiting_limit_minutes, \
     (SELECT t.keep_profile_names FROM tenants t WHERE t.id = tenant_id) AS keep_profile_names";

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

/// The tenant made on first start; returns its id.
pub async fn default_tenant(db: &Db) -> anyhow::Result<i64> {
    ensure_tenant(db, DEFAULT_TENANT, "Organisation par défaut").await
}

/// How an account reaches WhatsApp: the provider and its credentials.
/// Moving an account from Twilio to Meta is a change of these settings only;
/// its conversations, registrations and flow settings stay. The secrets are
/// given in clear and sealed by the store functions.
#[derive(Debug, Clone, Default)]
pub struct ChannelSettings {
    pub phone_number: Option<String>,
    pub meta_phone_number_id: Option<String>,
    pub meta_waba_id: Option<String>,
    pub meta_app_id: Option<String>,
    pub meta_app_secret: Option<Secret>,
    pub meta_verify_token: Option<Secret>,
    pub meta_access_token: Option<Secret>,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<Secret>,
}

/// A `ChannelSettings`' secrets sealed under the ring, with the
/// fingerprints of the credentials a provider may refuse.
struct SealedChannel {
    meta_app_secret: Option<Sealed>,
    meta_verify_token: Option<Sealed>,
    meta_access_token: Option<Sealed>,
    meta_access_token_fp: Option<String>,
    twilio_auth_token: Option<Sealed>,
    twilio_auth_token_fp: Option<String>,
}

impl SealedChannel {
    fn new(ring: &Keyring, c: &ChannelSettings) -> SealedChannel {
        let seal = |purpose: Purpose, s: &Option<Secret>| {
            s.as_ref().map(|s| ring.seal(purpose, s.expose_secret()))
        };
        let fp = |purpose: Purpose, s: &Option<Secret>| {
            s.as_ref()
                .map(|s| secrets::fingerprint(purpose, s.expose_secret()))
        };
        SealedChannel {
            meta_app_secret: seal(Purpose::MetaAppSecret, &c.meta_app_secret),
            meta_verify_token: seal(Purpose::MetaVerifyToken, &c.meta_verify_token),
            meta_access_token: seal(Purpose::MetaAccessToken, &c.meta_access_token),
            meta_access_token_fp: fp(Purpose::MetaAccessToken, &c.meta_access_token),
            twilio_auth_token: seal(Purpose::TwilioAuthToken, &c.twilio_auth_token),
            twilio_auth_token_fp: fp(Purpose::TwilioAuthToken, &c.twilio_auth_token),
        }
    }
}

/// What an account is created or updated with.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub tenant_id: i64,
    pub slug: String,
    pub name: String,
    pub provider: Provider,
    pub channel: ChannelSettings,
    pub flow: FlowSettings,
}

/// Creates the account, or updates its provider settings (not its flow
/// settings, which staff may have edited) when the slug exists in the same
/// tenant. A new access token clears an earlier "invalid token" flag. For
/// the program's first start (the accounts the environment describes);
/// staff create accounts with `create_account`. A slug another tenant holds
/// is an error: that account is never overwritten.
pub async fn upsert_account(db: &Db, ring: &Keyring, a: &NewAccount) -> anyhow::Result<Account> {
    let now = OffsetDateTime::now_utc();
    // Sealed values differ at every seal: whether a credential changed is
    // told by its fingerprint.
    let sql = format!(
        "INSERT INTO whatsapp_accounts (tenant_id, slug, name, provider, phone_number, meta_phone_number_id,
            twilio_account_sid, twilio_auth_token, flow_config, enabled, created_at, updated_at,
            meta_waba_id, meta_app_id, meta_app_secret, meta_verify_token, meta_access_token,
            meta_access_token_fp, twilio_auth_token_fp)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, TRUE, $10, $10, $11, $12, $13, $14, $15, $17, $18)
         ON CONFLICT (slug) DO UPDATE SET provider = excluded.provider, phone_number = excluded.phone_number,
            meta_phone_number_id = excluded.meta_phone_number_id, twilio_account_sid = excluded.twilio_account_sid,
            twilio_auth_token = excluded.twilio_auth_token, updated_at = excluded.updated_at,
            meta_waba_id = excluded.meta_waba_id, meta_app_id = excluded.meta_app_id,
            meta_app_secret = excluded.meta_app_secret, meta_verify_token = excluded.meta_verify_token,
            token_status = CASE WHEN whatsapp_accounts.meta_access_token_fp IS DISTINCT FROM excluded.meta_access_token_fp
                OR whatsapp_accounts.twilio_auth_token_fp IS DISTINCT FROM excluded.twilio_auth_token_fp
                THEN $16 ELSE whatsapp_accounts.token_status END,
            token_error = CASE WHEN whatsapp_accounts.meta_access_token_fp IS DISTINCT FROM excluded.meta_access_token_fp
                OR whatsapp_accounts.twilio_auth_token_fp IS DISTINCT FROM excluded.twilio_auth_token_fp
                THEN NULL ELSE whatsapp_accounts.token_error END,
            meta_access_token = excluded.meta_access_token,
            meta_access_token_fp = excluded.meta_access_token_fp,
            twilio_auth_token_fp = excluded.twilio_auth_token_fp
         WHERE whatsapp_accounts.tenant_id = excluded.tenant_id
         RETURNING {ACCOUNT_COLUMNS}"
    );
    let c = &a.channel;
    let s = SealedChannel::new(ring, c);
    let account = on_db!(db, p => sqlx::query_as::<_, Account>(&sql)
        .bind(a.tenant_id).bind(&a.slug).bind(&a.name).bind(a.provider)
        .bind(&c.phone_number).bind(&c.meta_phone_number_id)
        .bind(&c.twilio_account_sid).bind(&s.twilio_auth_token)
        .bind(Json(&a.flow)).bind(now)
        .bind(&c.meta_waba_id).bind(&c.meta_app_id).bind(&s.meta_app_secret)
        .bind(&s.meta_verify_token).bind(&s.meta_access_token).bind(TokenStatus::Ok)
        .bind(&s.meta_access_token_fp).bind(&s.twilio_auth_token_fp)
        .fetch_optional(p).await)
    .with_context(|| format!("saving WhatsApp account {}", a.slug))?;
    account.with_context(|| {
        format!(
            "the WhatsApp account slug {} belongs to another organisation: choose another",
            a.slug
        )
    })
}

/// Creates a sandbox account in the access's tenant (`accounts.manage`
/// tenant-wide): it answers in the simulator until its WhatsApp credentials
/// are set. `Ok(None)` when the slug is taken (by any tenant: slugs name
/// webhook URLs); two tenants asking for one slug at once get one account
/// between them, never one overwritten.
pub async fn create_account(
    db: &Db,
    access: &Access,
    slug: &str,
    name: &str,
) -> Result<Option<Account>, AccessError> {
    access.tenant_wide(Permission::AccountsManage)?;
    let now = OffsetDateTime::now_utc();
    let sql = format!(
        "INSERT INTO whatsapp_accounts (tenant_id, slug, name, provider, flow_config, enabled, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6)
         ON CONFLICT (slug) DO NOTHING
         RETURNING {ACCOUNT_COLUMNS}"
    );
    Ok(on_db!(db, p => sqlx::query_as::<_, Account>(&sql)
        .bind(access.tenant_id()).bind(slug).bind(name).bind(Provider::Sandbox)
        .bind(Json(FlowSettings::default())).bind(now)
        .fetch_optional(p).await)?)
}

/// Changes an account's provider and credentials (`tokens.manage` on the
/// account). Its conversations, registrations and flow settings stay as
/// they are. A new access token clears an "invalid token" flag and so
/// releases the messages held for it. `None`: not an account the access
/// covers.
pub async fn update_channel(
    db: &Db,
    ring: &Keyring,
    access: &Access,
    account_id: i64,
    provider: Provider,
    c: &ChannelSettings,
) -> Result<Option<Account>, AccessError> {
    access.is_for(Permission::TokensManage)?;
    if !access.covers(account_id) {
        return Ok(None);
    }
    let now = OffsetDateTime::now_utc();
    let sql = format!(
        "UPDATE whatsapp_accounts SET provider = $2, phone_number = $3, meta_phone_number_id = $4,
            twilio_account_sid = $5, twilio_auth_token = $6, meta_waba_id = $7, meta_app_id = $8,
            meta_app_secret = $9, meta_verify_token = $10,
            token_status = CASE WHEN meta_access_token_fp IS DISTINCT FROM $15 OR twilio_auth_token_fp IS DISTINCT FROM $16
                THEN $14 ELSE token_status END,
            token_error = CASE WHEN meta_access_token_fp IS DISTINCT FROM $15 OR twilio_auth_token_fp IS DISTINCT FROM $16
                THEN NULL ELSE token_error END,
            meta_access_token = $11, meta_access_token_fp = $15, twilio_auth_token_fp = $16, updated_at = $12
         WHERE id = $1 AND tenant_id = $13
         RETURNING {ACCOUNT_COLUMNS}"
    );
    let s = SealedChannel::new(ring, c);
    Ok(on_db!(db, p => sqlx::query_as::<_, Account>(&sql)
        .bind(account_id).bind(provider).bind(&c.phone_number).bind(&c.meta_phone_number_id)
        .bind(&c.twilio_account_sid).bind(&s.twilio_auth_token).bind(&c.meta_waba_id).bind(&c.meta_app_id)
        .bind(&s.meta_app_secret).bind(&s.meta_verify_token).bind(&s.meta_access_token).bind(now)
        .bind(access.tenant_id()).bind(TokenStatus::Ok)
        .bind(&s.meta_access_token_fp).bind(&s.twilio_auth_token_fp)
        .fetch_optional(p).await)?)
}

/// Replaces an account's flow settings (texts, language, cities, QR;
/// `accounts.manage` on the account): the next message of every
/// conversation uses them. `false`: not an account the access covers.
pub async fn update_flow_settings(
    db: &Db,
    access: &Access,
    account_id: i64,
    flow: &FlowSettings,
) -> Result<bool, AccessError> {
    access.is_for(Permission::AccountsManage)?;
    if !access.covers(account_id) {
        return Ok(false);
    }
    let now = OffsetDateTime::now_utc();
    Ok(on_db!(db, p => sqlx::query(
        "UPDATE whatsapp_accounts SET flow_config = $2, updated_at = $3 WHERE id = $1 AND tenant_id = $4")
        .bind(account_id).bind(Json(flow)).bind(now).bind(access.tenant_id())
        .execute(p).await.map(|r| r.rows_affected() > 0))?)
}

/// Sets how long the number's conversations may wait for staff
/// (`accounts.manage`); `false` when the access does not reach it.
pub async fn set_waiting_limit(
    db: &Db,
    access: &Access,
    account_id: i64,
    minutes: i32,
) -> Result<bool, AccessError> {
    access.is_for(Permission::AccountsManage)?;
    if !access.covers(account_id) || !super::WAITING_LIMIT_MINUTES.contains(&minutes) {
        return Ok(false);
    }
    let now = OffsetDateTime::now_utc();
    Ok(on_db!(db, p => sqlx::query(
        "UPDATE whatsapp_accounts SET waiting_limit_minutes = $2, updated_at = $3 WHERE id = $1 AND tenant_id = $4")
        .bind(account_id).bind(minutes).bind(now).bind(access.tenant_id())
        .execute(p).await.map(|r| r.rows_affected() > 0))?)
}

/// The enabled Meta account sending from this phone number id.
pub async fn find_by_meta_phone_number_id(
    db: &Db,
    phone_number_id: &str,
) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM whatsapp_accounts WHERE provider = $2 AND meta_phone_number_id = $1 AND enabled"
    );
    on_db_read!(db, p => sqlx::query_as::<_, Account>(&sql).bind(phone_number_id).bind(Provider::Meta)
        .fetch_optional(p).await)
}

/// Every enabled Meta account (verification handshake, signature checks of
/// webhooks for numbers no account has).
pub async fn meta_accounts(db: &Db) -> Result<Vec<Account>, sqlx::Error> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM whatsapp_accounts WHERE provider = $1 AND enabled ORDER BY id"
    );
    on_db_read!(db, p => sqlx::query_as::<_, Account>(&sql).bind(Provider::Meta).fetch_all(p).await)
}

/// Every account of every tenant (the background jobs that look at each
/// number with its own settings).
pub async fn all_accounts(db: &Db) -> Result<Vec<Account>, sqlx::Error> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM whatsapp_accounts ORDER BY id");
    on_db_read!(db, p => sqlx::query_as::<_, Account>(&sql).fetch_all(p).await)
}

/// The account with this id.
pub async fn find_by_id(db: &Db, id: i64) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM whatsapp_accounts WHERE id = $1");
    on_db_read!(db, p => sqlx::query_as::<_, Account>(&sql).bind(id).fetch_optional(p).await)
}

/// Marks the account's credential as refused by its provider (Graph error
/// 190 and the like, Twilio 20003): its outbox is held until someone sets a
/// new one. Only the credential that failed is flagged (a Meta access token
/// or a Twilio auth token, found by its fingerprint, see
/// `secrets::fingerprint`): one replaced meanwhile stays good.
pub async fn flag_invalid_token(
    db: &Db,
    account_id: i64,
    failed_fingerprint: &str,
    error: &str,
) -> Result<bool, sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    on_db!(db, p => sqlx::query(
        "UPDATE whatsapp_accounts SET token_status = $5, token_error = $3, token_flagged_at = $4, updated_at = $4
         WHERE id = $1 AND (meta_access_token_fp = $2 OR twilio_auth_token_fp = $2) AND token_status = $6")
        .bind(account_id).bind(failed_fingerprint).bind(error).bind(now)
        .bind(TokenStatus::Invalid).bind(TokenStatus::Ok)
        .execute(p).await.map(|r| r.rows_affected() > 0))
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
    on_db!(db, p => sqlx::query_as::<_, Account>(&sql).bind(provider).bind(phone).fetch_optional(p).await)
}

/// The account with this slug, whatever its provider.
pub async fn find_by_slug(db: &Db, slug: &str) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM whatsapp_accounts WHERE slug = $1");
    on_db!(db, p => sqlx::query_as::<_, Account>(&sql).bind(slug).fetch_optional(p).await)
}

/// First start: the default tenant and its sandbox account, so a newcomer
/// can talk to the bot without any WhatsApp credentials; and the Twilio
/// account the `TWILIO_*` variables describe, created or updated.
pub async fn bootstrap(db: &Db, ring: &Keyring, config: &Config) -> anyhow::Result<()> {
    let tenant_id = default_tenant(db).await?;
    if find_by_slug(db, SANDBOX_ACCOUNT).await?.is_none() {
        upsert_account(
            db,
            ring,
            &NewAccount {
                tenant_id,
                slug: SANDBOX_ACCOUNT.into(),
                name: "Bac à sable".into(),
                provider: Provider::Sandbox,
                channel: ChannelSettings::default(),
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
            ring,
            &NewAccount {
                tenant_id,
                slug: TWILIO_ACCOUNT.into(),
                name: "Twilio".into(),
                provider: Provider::Twilio,
                channel: ChannelSettings {
                    phone_number: Some(t.whatsapp_number.clone()),
                    twilio_account_sid: Some(t.account_sid.clone()),
                    twilio_auth_token: Some(t.auth_token.clone()),
                    ..ChannelSettings::default()
                },
                flow: FlowSettings::default(),
            },
        )
        .await?;
    }
    if let Some(m) = &config.meta {
        upsert_account(
            db,
            ring,
            &NewAccount {
                tenant_id,
                slug: META_ACCOUNT.into(),
                name: "WhatsApp (Meta)".into(),
                provider: Provider::Meta,
                channel: ChannelSettings {
                    meta_phone_number_id: Some(m.phone_number_id.clone()),
                    meta_app_id: m.app_id.clone(),
                    meta_app_secret: Some(m.app_secret.clone()),
                    meta_verify_token: Some(m.verify_token.clone()),
                    meta_access_token: Some(m.access_token.clone()),
                    ..ChannelSettings::default()
                },
                flow: FlowSettings::default(),
            },
        )
        .await?;
    }
    Ok(())
}

/// A tenant's name.
pub async fn tenant_name(db: &Db, id: i64) -> Result<Option<String>, sqlx::Error> {
    on_db_read!(db, p => sqlx::query_scalar("SELECT name FROM tenants WHERE id = $1")
        .bind(id).fetch_optional(p).await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Tenant {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub created_at: OffsetDateTime,
}

pub async fn list_tenants(db: &Db) -> Result<Vec<Tenant>, sqlx::Error> {
    on_db_read!(db, p => sqlx::query_as::<_, Tenant>(
        "SELECT id, slug, name, created_at FROM tenants ORDER BY name, id").fetch_all(p).await)
}

pub async fn find_tenant(db: &Db, id: i64) -> Result<Option<Tenant>, sqlx::Error> {
    on_db_read!(db, p => sqlx::query_as::<_, Tenant>(
        "SELECT id, slug, name, created_at FROM tenants WHERE id = $1").bind(id).fetch_optional(p).await)
}

/// A new tenant (a platform administrator's act), with its built-in roles
/// and a sandbox account `{slug}-sandbox` so its first users can try the
/// bot at once: all or nothing, in one transaction. `Ok(None)` when the
/// slug, or its sandbox's, is taken.
pub async fn create_tenant(
    db: &Db,
    slug: &str,
    name: &str,
    sandbox_name: &str,
) -> anyhow::Result<Option<i64>> {
    let now = OffsetDateTime::now_utc();
    let mut tx = db.begin().await?;
    let id: Option<i64> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "INSERT INTO tenants (slug, name, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (slug) DO NOTHING RETURNING id")
        .bind(slug).bind(name.trim()).bind(now).fetch_optional(c).await)?;
    let Some(id) = id else {
        tx.rollback().await?;
        return Ok(None);
    };
    crate::auth::store::ensure_builtin_roles_in(&mut tx, id).await?;
    let sandbox: Option<i64> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "INSERT INTO whatsapp_accounts (tenant_id, slug, name, provider, flow_config, enabled, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6)
         ON CONFLICT (slug) DO NOTHING RETURNING id")
        .bind(id).bind(format!("{slug}-sandbox")).bind(sandbox_name).bind(Provider::Sandbox)
        .bind(Json(FlowSettings::default())).bind(now).fetch_optional(c).await)?;
    if sandbox.is_none() {
        tx.rollback().await?;
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(id))
}

/// The accounts of the access's tenant it covers, by name.
pub async fn list_accounts(db: &Db, access: &Access) -> Result<Vec<Account>, sqlx::Error> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM whatsapp_accounts WHERE tenant_id = $1 ORDER BY name, id"
    );
    let all = on_db!(db, p => sqlx::query_as::<_, Account>(&sql).bind(access.tenant_id()).fetch_all(p).await)?;
    Ok(all.into_iter().filter(|a| access.covers(a.id)).collect())
}

/// One account the access covers (another tenant's, or one outside the
/// access: `None`).
pub async fn find_account(
    db: &Db,
    access: &Access,
    id: i64,
) -> Result<Option<Account>, sqlx::Error> {
    if !access.covers(id) {
        return Ok(None);
    }
    Ok(find_by_id(db, id)
        .await?
        .filter(|a| a.tenant_id == access.tenant_id()))
}

/// Whether a slug is free for a new account.
pub fn valid_slug(slug: &str) -> bool {
    (2..=40).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

/// The access's tenant's privacy settings (`settings.manage` tenant-wide;
/// `None`: no such tenant).
pub async fn privacy_settings(
    db: &Db,
    access: &Access,
) -> Result<Option<super::PrivacySettings>, AccessError> {
    access.tenant_wide(Permission::SettingsManage)?;
    Ok(
        on_db_read!(db, p => sqlx::query_as::<_, super::PrivacySettings>(
        "SELECT keep_profile_names, retention_days FROM tenants WHERE id = $1")
        .bind(access.tenant_id()).fetch_optional(p).await)?,
    )
}

/// Saves a tenant's privacy settings. Turning profile names off erases the
/// ones stored, in the same transaction: no name outlives the setting.
/// Returns how many contacts' names were erased.
pub async fn set_privacy_settings(
    db: &Db,
    access: &Access,
    settings: super::PrivacySettings,
) -> Result<u64, AccessError> {
    access.tenant_wide(Permission::SettingsManage)?;
    let tenant_id = access.tenant_id();
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE tenants SET keep_profile_names = $2, retention_days = $3 WHERE id = $1")
        .bind(tenant_id).bind(settings.keep_profile_names).bind(settings.retention_days)
        .execute(c).await.map(|_| ()))?;
    let erased = if settings.keep_profile_names {
        0
    } else {
        on_tx!(&mut tx, c => sqlx::query(
            "UPDATE contacts SET profile_name = NULL WHERE tenant_id = $1 AND profile_name IS NOT NULL")
            .bind(tenant_id).execute(c).await.map(|r| r.rows_affected()))?
    };
    tx.commit().await?;
    Ok(erased)
}

/// Who may change what of a number's connection: its settings (provider,
/// number, ids) need `accounts.manage` on it, its secrets `tokens.manage`.
pub struct ChannelAccess<'a> {
    pub settings: &'a Access,
    /// `None`: the staff member may not change secrets.
    pub secrets: Option<&'a Access>,
}

/// Why a connection change was not applied.
#[derive(Debug, PartialEq, Eq)]
pub enum ChannelRefused {
    /// Not an account these accesses cover.
    NotFound,
    /// A secret was given without `tokens.manage` on the account.
    SecretsNotAllowed,
}

/// Sets a number's provider, ids and the secrets given (one left as
/// `Keep` is not touched). A new access token or auth token clears the
/// "refused" flag, so the messages held for the old one go out (in order:
/// the outbox keeps each conversation's order).
pub async fn set_channel(
    db: &Db,
    ring: &Keyring,
    access: &ChannelAccess<'_>,
    account_id: i64,
    c: &ChannelChange,
) -> Result<Result<Account, ChannelRefused>, AccessError> {
    access.settings.is_for(Permission::AccountsManage)?;
    if let Some(s) = access.secrets {
        s.is_for(Permission::TokensManage)?;
    }
    if !access.settings.covers(account_id) {
        return Ok(Err(ChannelRefused::NotFound));
    }
    let secret = |purpose: Purpose, s: &NewSecret| match s {
        NewSecret::Keep => None,
        NewSecret::Set(v) => Some(ring.seal(purpose, v)),
    };
    let fp = |purpose: Purpose, s: &NewSecret| match s {
        NewSecret::Keep => None,
        NewSecret::Set(v) => Some(secrets::fingerprint(purpose, v)),
    };
    let twilio_auth_token_fp = fp(Purpose::TwilioAuthToken, &c.twilio_auth_token);
    let meta_access_token_fp = fp(Purpose::MetaAccessToken, &c.meta_access_token);
    let secrets = [
        secret(Purpose::TwilioAuthToken, &c.twilio_auth_token),
        secret(Purpose::MetaAppSecret, &c.meta_app_secret),
        secret(Purpose::MetaAccessToken, &c.meta_access_token),
        secret(Purpose::MetaVerifyToken, &c.meta_verify_token),
    ];
    if secrets.iter().any(Option::is_some) && !access.secrets.is_some_and(|s| s.covers(account_id))
    {
        return Ok(Err(ChannelRefused::SecretsNotAllowed));
    }
    let [
        twilio_auth_token,
        meta_app_secret,
        meta_access_token,
        meta_verify_token,
    ] = secrets;
    let new_credential = twilio_auth_token.is_some() || meta_access_token.is_some();
    let now = OffsetDateTime::now_utc();
    let sql = format!(
        "UPDATE whatsapp_accounts SET provider = $2, phone_number = $3, twilio_account_sid = $4,
            meta_phone_number_id = $5, meta_waba_id = $6, meta_app_id = $7,
            twilio_auth_token = COALESCE($8, twilio_auth_token),
            meta_app_secret = COALESCE($9, meta_app_secret),
            meta_access_token = COALESCE($10, meta_access_token),
            meta_verify_token = COALESCE($11, meta_verify_token),
            twilio_auth_token_fp = COALESCE($16, twilio_auth_token_fp),
            meta_access_token_fp = COALESCE($17, meta_access_token_fp),
            token_status = CASE WHEN $12 THEN $13 ELSE token_status END,
            token_error = CASE WHEN $12 THEN NULL ELSE token_error END,
            updated_at = $14
         WHERE id = $1 AND tenant_id = $15
         RETURNING {ACCOUNT_COLUMNS}"
    );
    let updated = on_db!(db, p => sqlx::query_as::<_, Account>(&sql)
        .bind(account_id).bind(c.provider).bind(&c.phone_number).bind(&c.twilio_account_sid)
        .bind(&c.meta_phone_number_id).bind(&c.meta_waba_id).bind(&c.meta_app_id)
        .bind(&twilio_auth_token).bind(&meta_app_secret).bind(&meta_access_token)
        .bind(&meta_verify_token).bind(new_credential).bind(TokenStatus::Ok).bind(now)
        .bind(access.settings.tenant_id())
        .bind(&twilio_auth_token_fp).bind(&meta_access_token_fp)
        .fetch_optional(p).await)?;
    Ok(updated.ok_or(ChannelRefused::NotFound))
}
