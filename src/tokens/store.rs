//! A Meta number's token life as stored (`token_life`, one row per number,
//! made on first need): rotation with the old token kept for a rollback
//! until the new one has sent a message, what the last check said, and the
//! expiry warnings given. The token itself stays in its number's row
//! (`whatsapp_accounts.meta_access_token`); a rotation moves the old value
//! to `token_life.previous_token` as it is stored, in one transaction.

use super::Known;
use crate::auth::{Access, AccessError, Permission};
use crate::channel::meta::check::TokenKind;
use crate::db::Db;
use crate::secrets::{Keyring, Purpose, fingerprint};
use crate::tenancy::{Provider, TokenStatus};
use crate::{on_db, on_db_read, on_tx};
use time::OffsetDateTime;

crate::text_enum! {
    /// How long a token lives, as stored (`token_life.kind`).
    pub enum Kind("token kind") {
        /// About a day (the app dashboard's).
        Temporary = "temporary",
        /// About 60 days (exchanged, or a 60-day system user token).
        LongLived = "long_lived",
        /// A system user token without expiry.
        Never = "never",
    }
}

impl From<TokenKind> for Kind {
    fn from(k: TokenKind) -> Kind {
        match k {
            TokenKind::Temporary => Kind::Temporary,
            TokenKind::LongLived => Kind::LongLived,
            TokenKind::NeverExpires => Kind::Never,
        }
    }
}

/// What is known of a number's token.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Life {
    pub account_id: i64,
    pub kind: Option<Kind>,
    pub expires_at: Option<OffsetDateTime>,
    pub validated_at: Option<OffsetDateTime>,
    pub warned_days: Option<i32>,
    /// The token has sent a message since it was set.
    pub confirmed: bool,
    /// A previous token is kept: the rotation can be rolled back.
    pub has_previous: bool,
    pub previous_kind: Option<Kind>,
    pub previous_expires_at: Option<OffsetDateTime>,
    pub quality_rating: Option<String>,
    pub messaging_limit: Option<String>,
}

impl Life {
    /// The pure view of it (`tokens::standing`), with whether the provider
    /// refused the token (the number's `token_status`).
    pub fn known(&self, refused: bool) -> Known {
        Known {
            expires_at: self.expires_at,
            validated_at: self.validated_at,
            refused,
        }
    }
}

const LIFE_COLUMNS: &str = "account_id, kind, expires_at, validated_at, warned_days, confirmed, \
     previous_token IS NOT NULL AS has_previous, previous_kind, previous_expires_at, quality_rating, \
     messaging_limit";

/// The token life of a number the access covers (`None`: never checked nor
/// rotated, or not a number of the access).
pub async fn life(db: &Db, access: &Access, account_id: i64) -> Result<Option<Life>, sqlx::Error> {
    if !access.covers(account_id) {
        return Ok(None);
    }
    let sql =
        format!("SELECT {LIFE_COLUMNS} FROM token_life WHERE account_id = $1 AND tenant_id = $2");
    on_db_read!(db, p => sqlx::query_as::<_, Life>(&sql)
        .bind(account_id).bind(access.tenant_id()).fetch_optional(p).await)
}

/// What a check with Meta said of the new token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub kind: Option<Kind>,
    pub expires_at: Option<OffsetDateTime>,
}

/// Why a rotation or a rollback did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a Meta number of the access.
    NotFound,
    /// No previous token is kept (nothing to roll back to).
    NoPrevious,
}

/// Puts `token` (validated by the caller: `channel::meta::check::validate`)
/// in place of the number's token. The old one is kept as the previous
/// token until the new one has sent a message (`confirm`); the "refused"
/// flag is cleared, so the messages held for the old token go out, in
/// order. `tokens.manage` on the number.
pub async fn rotate(
    db: &Db,
    ring: &Keyring,
    access: &Access,
    account_id: i64,
    token: &str,
    checked: Checked,
    now: OffsetDateTime,
) -> Result<Result<(), Refused>, AccessError> {
    access.is_for(Permission::TokensManage)?;
    if !access.covers(account_id) {
        return Ok(Err(Refused::NotFound));
    }
    let mut tx = db.begin().await?;
    // The old token as stored (sealed: moved, never opened), and the
    // number's tenant checked.
    let old: Option<(Option<String>, Option<String>)> = on_tx!(&mut tx, c => sqlx::query_as(
        "SELECT meta_access_token, meta_access_token_fp FROM whatsapp_accounts
         WHERE id = $1 AND tenant_id = $2 AND provider = $3")
        .bind(account_id).bind(access.tenant_id()).bind(Provider::Meta)
        .fetch_optional(&mut *c).await)?;
    let Some((old, old_fp)) = old else {
        return Ok(Err(Refused::NotFound));
    };
    on_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO token_life (account_id, tenant_id, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (account_id) DO NOTHING")
        .bind(account_id).bind(access.tenant_id()).bind(now)
        .execute(&mut *c).await.map(|_| ()))?;
    // Kept only when there was one (a first token has nothing to go back to).
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE token_life SET
            previous_token = CASE WHEN $2 IS NULL THEN previous_token ELSE $2 END,
            previous_token_fp = CASE WHEN $2 IS NULL THEN previous_token_fp ELSE $7 END,
            previous_kind = CASE WHEN $2 IS NULL THEN previous_kind ELSE kind END,
            previous_expires_at = CASE WHEN $2 IS NULL THEN previous_expires_at ELSE expires_at END,
            kind = $3, expires_at = $4, validated_at = $5, warned_days = NULL,
            confirmed = $6, updated_at = $5
         WHERE account_id = $1")
        .bind(account_id).bind(&old).bind(checked.kind).bind(checked.expires_at).bind(now)
        .bind(old.is_none()).bind(&old_fp)
        .execute(&mut *c).await.map(|_| ()))?;
    let sealed = ring.seal(Purpose::MetaAccessToken, token);
    let fp = fingerprint(Purpose::MetaAccessToken, token);
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE whatsapp_accounts SET meta_access_token = $2, meta_access_token_fp = $5,
            token_status = $3, token_error = NULL, updated_at = $4
         WHERE id = $1")
        .bind(account_id).bind(&sealed).bind(TokenStatus::Ok).bind(now).bind(&fp)
        .execute(&mut *c).await.map(|_| ()))?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// Puts the previous token back (the new one does not work). The token
/// rolled back from is not kept. `tokens.manage` on the number.
pub async fn roll_back(
    db: &Db,
    access: &Access,
    account_id: i64,
    now: OffsetDateTime,
) -> Result<Result<(), Refused>, AccessError> {
    access.is_for(Permission::TokensManage)?;
    if !access.covers(account_id) {
        return Ok(Err(Refused::NotFound));
    }
    let mut tx = db.begin().await?;
    let previous: Option<(Option<String>, Option<String>)> = on_tx!(&mut tx, c => sqlx::query_as(
        "SELECT t.previous_token, t.previous_token_fp FROM token_life t
         JOIN whatsapp_accounts a ON a.id = t.account_id
         WHERE t.account_id = $1 AND a.tenant_id = $2 AND a.provider = $3")
        .bind(account_id).bind(access.tenant_id()).bind(Provider::Meta)
        .fetch_optional(&mut *c).await)?;
    let (previous, previous_fp) = match previous {
        None => return Ok(Err(Refused::NotFound)),
        Some((None, _)) => return Ok(Err(Refused::NoPrevious)),
        Some((Some(p), fp)) => (p, fp),
    };
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE whatsapp_accounts SET meta_access_token = $2, meta_access_token_fp = $5,
            token_status = $3, token_error = NULL, updated_at = $4
         WHERE id = $1")
        .bind(account_id).bind(&previous).bind(TokenStatus::Ok).bind(now).bind(&previous_fp)
        .execute(&mut *c).await.map(|_| ()))?;
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE token_life SET kind = previous_kind, expires_at = previous_expires_at,
            validated_at = NULL, warned_days = NULL, confirmed = TRUE,
            previous_token = NULL, previous_token_fp = NULL, previous_kind = NULL,
            previous_expires_at = NULL, updated_at = $2
         WHERE account_id = $1")
        .bind(account_id).bind(now)
        .execute(&mut *c).await.map(|_| ()))?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// The number's token sent a message: it is confirmed and the previous one
/// is dropped. `true` when this call confirmed it (the caller logs it);
/// `false` when it already was (or the number has no token life).
pub async fn confirm(db: &Db, account_id: i64, now: OffsetDateTime) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "UPDATE token_life SET confirmed = TRUE, previous_token = NULL, previous_token_fp = NULL,
            previous_kind = NULL,
            previous_expires_at = NULL, updated_at = $2
         WHERE account_id = $1 AND NOT confirmed")
        .bind(account_id).bind(now)
        .execute(p).await.map(|r| r.rows_affected() > 0))
}

/// What a check of the number's current token found, recorded: its kind
/// and expiry, when, and the number's quality and messaging limit. A token
/// Meta refuses (`refused`: its reason) flags the number, so its messages
/// wait for a new token; a good check clears that flag. No access: the
/// caller checked it (the page) or is the daily job. `true` when this
/// check flagged the number (its token was taken until now): the caller
/// audits the refusal once, not at every check.
pub async fn record_check(
    db: &Db,
    tenant_id: i64,
    account_id: i64,
    checked: Checked,
    refused: Option<&str>,
    number: (Option<&str>, Option<&str>),
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let (quality, limit) = number;
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO token_life (account_id, tenant_id, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (account_id) DO NOTHING")
        .bind(account_id).bind(tenant_id).bind(now)
        .execute(&mut *c).await.map(|_| ()))?;
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE token_life SET kind = COALESCE($2, kind), expires_at = CASE WHEN $2 IS NULL THEN expires_at ELSE $3 END,
            validated_at = $4, quality_rating = COALESCE($5, quality_rating),
            messaging_limit = COALESCE($6, messaging_limit), checked_at = $4, updated_at = $4
         WHERE account_id = $1 AND tenant_id = $7")
        .bind(account_id).bind(checked.kind).bind(checked.expires_at).bind(now)
        .bind(quality).bind(limit).bind(tenant_id)
        .execute(&mut *c).await.map(|_| ()))?;
    let flagged = match refused {
        Some(reason) => on_tx!(&mut tx, c => sqlx::query(
            "UPDATE whatsapp_accounts SET token_status = $3, token_error = $4, token_flagged_at = $2,
                updated_at = $2
             WHERE id = $1 AND tenant_id = $5 AND token_status = $6")
            .bind(account_id).bind(now).bind(TokenStatus::Invalid).bind(reason).bind(tenant_id)
            .bind(TokenStatus::Ok)
            .execute(&mut *c).await.map(|r| r.rows_affected() > 0))?,
        None => on_tx!(&mut tx, c => sqlx::query(
            "UPDATE whatsapp_accounts SET token_status = $3, token_error = NULL, updated_at = $2
             WHERE id = $1 AND tenant_id = $4 AND token_status = $5")
            .bind(account_id).bind(now).bind(TokenStatus::Ok).bind(tenant_id)
            .bind(TokenStatus::Invalid)
            .execute(&mut *c).await.map(|_| false))?,
    };
    tx.commit().await?;
    Ok(flagged)
}

/// Claims the number's daily check for this caller: `true` when its token
/// was not checked since `since` (or never), and `checked_at` is now `now`.
/// Of several instances running the watch at once, one gets `true`.
pub async fn claim_check(
    db: &Db,
    tenant_id: i64,
    account_id: i64,
    since: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "INSERT INTO token_life (account_id, tenant_id, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (account_id) DO NOTHING")
        .bind(account_id).bind(tenant_id).bind(now)
        .execute(p).await.map(|_| ()))?;
    on_db!(db, p => sqlx::query(
        "UPDATE token_life SET checked_at = $3
         WHERE account_id = $1 AND tenant_id = $2 AND (checked_at IS NULL OR checked_at < $4)")
        .bind(account_id).bind(tenant_id).bind(now).bind(since)
        .execute(p).await.map(|r| r.rows_affected() > 0))
}

/// Gives back a claim whose check could not be made (Meta unreachable):
/// the next pass tries again instead of a day later. Only the claim made
/// at `claimed_at` is given back, not a check recorded since.
pub async fn release_check(
    db: &Db,
    account_id: i64,
    claimed_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    on_db!(db, p => sqlx::query(
        "UPDATE token_life SET checked_at = NULL WHERE account_id = $1 AND checked_at = $2")
        .bind(account_id).bind(claimed_at)
        .execute(p).await.map(|_| ()))
}

/// What the watch needs of a number's token: its expiry and the smallest
/// warning already given (`None`: no token life yet).
pub async fn expiry(
    db: &Db,
    account_id: i64,
) -> Result<Option<(Option<OffsetDateTime>, Option<i32>)>, sqlx::Error> {
    on_db_read!(db, p => sqlx::query_as(
        "SELECT expires_at, warned_days FROM token_life WHERE account_id = $1")
        .bind(account_id).fetch_optional(p).await)
}

/// Records that the `days` warning was given, with its audit entry, in one
/// transaction: `true` when this call gave it (no smaller or equal warning
/// was recorded before), so of several instances one writes the entry.
pub async fn record_warning(
    db: &Db,
    account_id: i64,
    days: i64,
    entry: &crate::audit::Entry<'_>,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let days = i32::try_from(days).unwrap_or(i32::MAX);
    let mut tx = db.begin().await?;
    let given = on_tx!(&mut tx, c => sqlx::query(
        "UPDATE token_life SET warned_days = $2, updated_at = $3
         WHERE account_id = $1 AND (warned_days IS NULL OR warned_days > $2)")
        .bind(account_id).bind(days).bind(now)
        .execute(&mut *c).await.map(|r| r.rows_affected() > 0))?;
    if given {
        crate::audit::record_in(&mut tx, entry).await?;
    }
    tx.commit().await?;
    Ok(given)
}

/// Every Meta number's slug and token expiry, for the metrics gauge (a
/// token that never expires, or never checked, has none and is left out).
pub async fn expiries(db: &Db) -> Result<Vec<(String, OffsetDateTime)>, sqlx::Error> {
    on_db_read!(db, p => sqlx::query_as(
        "SELECT a.slug, t.expires_at FROM token_life t
         JOIN whatsapp_accounts a ON a.id = t.account_id
         WHERE a.provider = $1 AND t.expires_at IS NOT NULL
         ORDER BY a.slug")
        .bind(Provider::Meta).fetch_all(p).await)
}
