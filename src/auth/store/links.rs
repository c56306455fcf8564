//! One-time links (setup, invitation, reset): creating, peeking, redeeming.

use super::grants::assign_in;
use super::roles::ensure_builtin_roles_in;
use super::users::{NewUser, User, create_user_in, set_password_in};
use crate::auth::{Access, AccessError, Actor, BuiltinRole, Lang};
use crate::db::Db;
use crate::{on_db, on_tx};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// The first administrator of an empty installation.
    Setup,
    /// A new user chooses their password.
    Invite,
    /// A user whose password an administrator reset.
    Reset,
}

impl LinkPurpose {
    fn key(self) -> &'static str {
        match self {
            LinkPurpose::Setup => "setup",
            LinkPurpose::Invite => "invite",
            LinkPurpose::Reset => "reset",
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Link {
    pub tenant_id: Option<i64>,
    pub user_id: Option<i64>,
    pub expires_at: OffsetDateTime,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// An invitation (for a user who has no password yet) or a reset link for
/// one of the access's tenant's users (`None`: not the tenant's).
pub async fn user_link(
    db: &Db,
    access: &Access,
    user_id: i64,
    valid_for: Duration,
) -> Result<Option<(LinkPurpose, String)>, AccessError> {
    let Some(user) = super::users::find_user_in(db, access, user_id).await? else {
        return Ok(None);
    };
    let purpose = if user.is_pending() {
        LinkPurpose::Invite
    } else {
        LinkPurpose::Reset
    };
    let token = create_link(
        db,
        purpose,
        Some(access.tenant_id()),
        Some(user.id),
        valid_for,
    )
    .await?;
    Ok(Some((purpose, token)))
}

/// A new one-time link token (only its hash is stored). Staff pages make
/// users' links with `user_link`; this is for setup links and for it.
pub async fn create_link(
    db: &Db,
    purpose: LinkPurpose,
    tenant_id: Option<i64>,
    user_id: Option<i64>,
    valid_for: Duration,
) -> Result<String, sqlx::Error> {
    use rand::RngExt;
    let bytes: [u8; 32] = rand::rng().random();
    let token = hex::encode(bytes);
    let now = OffsetDateTime::now_utc();
    let mut tx = db.begin().await?;
    // An earlier unused link of the same user (or the earlier setup link)
    // stops working: only the last one printed or shown is valid.
    if let Some(user) = user_id {
        on_tx!(&mut tx, c => sqlx::query(
            "UPDATE one_time_links SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
            .bind(now).bind(user).execute(c).await.map(|r| r.rows_affected()))?;
    } else if purpose == LinkPurpose::Setup {
        on_tx!(&mut tx, c => sqlx::query(
            "UPDATE one_time_links SET used_at = $1 WHERE purpose = 'setup' AND used_at IS NULL")
            .bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    }
    on_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO one_time_links (token_hash, purpose, tenant_id, user_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(token_hash(&token)).bind(purpose.key()).bind(tenant_id).bind(user_id).bind(now)
        .bind(now + valid_for).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(token)
}

/// Key of the PostgreSQL transaction lock that makes "no user and no setup
/// link yet, so create one" a single step across instances.
const FIRST_SETUP_LOCK_KEY: i64 = 0x7569_635f_7365_7475; // "uic_setu"

/// A setup link for an empty installation, only if there is no user and no
/// valid setup link yet (`None` otherwise). The check and the insert are one
/// transaction, serialised across instances (SQLite: `BEGIN IMMEDIATE`;
/// PostgreSQL: a transaction advisory lock), so instances starting together
/// create one link between them.
pub async fn create_first_setup_link(
    db: &Db,
    tenant_id: i64,
    valid_for: Duration,
) -> Result<Option<String>, sqlx::Error> {
    use rand::RngExt;
    let now = OffsetDateTime::now_utc();
    let mut tx = db.begin().await?;
    if let crate::db::Tx::Postgres(t) = &mut tx {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FIRST_SETUP_LOCK_KEY)
            .execute(&mut **t)
            .await?;
    }
    let users: i64 = on_tx!(&mut tx, c => sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(c).await)?;
    let links: i64 = on_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM one_time_links
         WHERE purpose = 'setup' AND used_at IS NULL AND expires_at > $1")
        .bind(now).fetch_one(c).await)?;
    if users > 0 || links > 0 {
        tx.rollback().await?;
        return Ok(None);
    }
    let bytes: [u8; 32] = rand::rng().random();
    let token = hex::encode(bytes);
    on_tx!(&mut tx, c => sqlx::query(
        "INSERT INTO one_time_links (token_hash, purpose, tenant_id, user_id, created_at, expires_at)
         VALUES ($1, 'setup', $2, NULL, $3, $4)")
        .bind(token_hash(&token)).bind(tenant_id).bind(now)
        .bind(now + valid_for).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(Some(token))
}

/// The link, if the token is one of this purpose, unused and not expired.
pub async fn peek_link(
    db: &Db,
    token: &str,
    purpose: LinkPurpose,
) -> Result<Option<Link>, sqlx::Error> {
    on_db!(db, p => sqlx::query_as::<_, Link>(
        "SELECT tenant_id, user_id, expires_at FROM one_time_links
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3")
        .bind(token_hash(token)).bind(purpose.key()).bind(OffsetDateTime::now_utc()).fetch_optional(p).await)
}

/// Marks the link used inside `tx`; false when it was used (or expired)
/// meanwhile, so two tabs cannot both use it.
pub async fn use_link(
    tx: &mut crate::db::Tx,
    token: &str,
    purpose: LinkPurpose,
) -> Result<bool, sqlx::Error> {
    let now = OffsetDateTime::now_utc();
    let done = on_tx!(tx, c => sqlx::query(
        "UPDATE one_time_links SET used_at = $1
         WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1")
        .bind(now).bind(token_hash(token)).bind(purpose.key()).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// What spending a one-time link came to.
#[derive(Debug)]
pub enum Redeemed {
    /// The user created or changed.
    Done(User),
    /// Used, expired or unknown: nothing changed.
    LinkGone,
    /// The e-mail address was taken meanwhile: nothing changed, the link
    /// still works.
    EmailTaken,
}

/// Creates the first administrator (a platform administrator with the
/// tenant's administrator role) through a setup link. Spending the link,
/// creating the user, giving the role and the audit entry are one
/// transaction: if any step fails the link is still valid, never spent for
/// nothing.
pub async fn redeem_setup(
    db: &Db,
    token: &str,
    email: &str,
    display_name: &str,
    password_hash: &str,
    lang: Lang,
    ip: &str,
) -> anyhow::Result<Redeemed> {
    let mut tx = db.begin().await?;
    let link: Option<Option<i64>> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT tenant_id FROM one_time_links
         WHERE token_hash = $1 AND purpose = 'setup' AND used_at IS NULL AND expires_at > $2")
        .bind(token_hash(token)).bind(OffsetDateTime::now_utc()).fetch_optional(c).await)?;
    let Some(Some(tenant_id)) = link else {
        tx.rollback().await?;
        return Ok(Redeemed::LinkGone);
    };
    // Spent first, in the transaction: two tabs cannot make two
    // administrators (the second waits for the first, then finds it spent).
    if !use_link(&mut tx, token, LinkPurpose::Setup).await? {
        tx.rollback().await?;
        return Ok(Redeemed::LinkGone);
    }
    ensure_builtin_roles_in(&mut tx, tenant_id).await?;
    let new = NewUser {
        tenant_id,
        email,
        display_name,
        password_hash: Some(password_hash),
        lang,
        platform_admin: true,
    };
    let Some(user) = create_user_in(&mut tx, &new).await? else {
        tx.rollback().await?;
        return Ok(Redeemed::EmailTaken);
    };
    let role: Option<i64> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT id FROM roles WHERE tenant_id = $1 AND builtin = $2")
        .bind(tenant_id).bind(BuiltinRole::Administrator.key()).fetch_optional(c).await)?;
    if let Some(role) = role {
        // The setup link is the proof: the program gives the role.
        let access = Actor::operator(tenant_id).require(
            crate::auth::Permission::UsersManage,
            crate::auth::Scope::Tenant,
        )?;
        assign_in(&mut tx, &access, user.id, role, None).await?;
    }
    audit_own_in(&mut tx, &user, "setup.administrator", ip).await?;
    tx.commit().await?;
    Ok(Redeemed::Done(user))
}

/// Sets the password of the user an invitation or reset link is for.
/// Spending the link, the new password and the audit entry are one
/// transaction: a failure leaves the link valid and the password unchanged.
pub async fn redeem_password_link(
    db: &Db,
    token: &str,
    purpose: LinkPurpose,
    user: &User,
    password_hash: &str,
    ip: &str,
) -> anyhow::Result<Redeemed> {
    let mut tx = db.begin().await?;
    let for_user: Option<Option<i64>> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT user_id FROM one_time_links
         WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3")
        .bind(token_hash(token)).bind(purpose.key()).bind(OffsetDateTime::now_utc()).fetch_optional(c).await)?;
    if for_user != Some(Some(user.id)) || !use_link(&mut tx, token, purpose).await? {
        tx.rollback().await?;
        return Ok(Redeemed::LinkGone);
    }
    set_password_in(&mut tx, user.id, password_hash).await?;
    audit_own_in(&mut tx, user, "password.set", ip).await?;
    tx.commit().await?;
    Ok(Redeemed::Done(user.clone()))
}

/// An audit entry of something a user did to their own account before
/// being logged in (setup, choosing a password).
async fn audit_own_in(
    tx: &mut crate::db::Tx,
    user: &User,
    action: &str,
    ip: &str,
) -> Result<(), sqlx::Error> {
    crate::audit::record_in(
        tx,
        &crate::audit::Entry {
            tenant_id: Some(user.tenant_id),
            user_id: Some(user.id),
            actor: &user.email,
            action,
            target: format!("user:{}", user.id),
            detail: String::new(),
            ip: Some(ip),
        },
    )
    .await
}
