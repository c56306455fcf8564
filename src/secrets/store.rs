//! The database's secrets kept sealed under the ring: checked at start
//! (every sealed value has a key the ring holds), values stored in clear
//! before this version sealed in place, everything re-sealed under a new
//! key (`uic-inbox secret-key rotate`).
//!
//! Every change is a compare-and-set on the value read (`WHERE id = $1 AND
//! col = $old`): instances starting or rotating at the same time never
//! overwrite a value another one just wrote.

use super::keys::{self, KeyFiles};
use super::{KeyId, Keyring, OpenError, Purpose, Sealed, fingerprint};
use crate::config::Config;
use crate::db::{self, Db, Tx};
use crate::on_tx;
use anyhow::{Context, bail};
use std::collections::BTreeSet;

/// A column holding a sealed secret, and where its fingerprint is kept
/// (for the credentials a provider may refuse: see `fingerprint`).
struct Column {
    /// Its table, and the table's key column.
    table: &'static str,
    key: &'static str,
    name: &'static str,
    purpose: Purpose,
    fingerprint: Option<&'static str>,
}

/// Every secret column.
const COLUMNS: &[Column] = &[
    Column {
        table: "whatsapp_accounts",
        key: "id",
        name: "meta_access_token",
        purpose: Purpose::MetaAccessToken,
        fingerprint: Some("meta_access_token_fp"),
    },
    Column {
        table: "whatsapp_accounts",
        key: "id",
        name: "meta_app_secret",
        purpose: Purpose::MetaAppSecret,
        fingerprint: None,
    },
    Column {
        table: "whatsapp_accounts",
        key: "id",
        name: "meta_verify_token",
        purpose: Purpose::MetaVerifyToken,
        fingerprint: None,
    },
    Column {
        table: "whatsapp_accounts",
        key: "id",
        name: "twilio_auth_token",
        purpose: Purpose::TwilioAuthToken,
        fingerprint: Some("twilio_auth_token_fp"),
    },
    // The token a rotation replaced, kept for a rollback (`tokens::store`).
    Column {
        table: "token_life",
        key: "account_id",
        name: "previous_token",
        purpose: Purpose::MetaAccessToken,
        fingerprint: Some("previous_token_fp"),
    },
    // A number's DHIS-2 personal access token or password.
    Column {
        table: "dhis2_settings",
        key: "account_id",
        name: "credential",
        purpose: Purpose::Dhis2Credential,
        fingerprint: Some("credential_fp"),
    },
];

/// One stored value: the row, its text, whether its fingerprint is set.
struct Stored {
    id: i64,
    text: String,
    has_fingerprint: bool,
}

async fn read_column(tx: &mut Tx, c: &Column) -> Result<Vec<Stored>, sqlx::Error> {
    let fp = c.fingerprint.unwrap_or("'-'");
    let sql = format!(
        "SELECT {key}, {col}, {fp} IS NOT NULL FROM {table} WHERE {col} IS NOT NULL ORDER BY {key}",
        col = c.name,
        key = c.key,
        table = c.table
    );
    let rows: Vec<(i64, String, bool)> =
        on_tx!(tx, conn => sqlx::query_as(&sql).fetch_all(conn).await)?;
    Ok(rows
        .into_iter()
        .map(|(id, text, has_fingerprint)| Stored {
            id,
            text,
            has_fingerprint,
        })
        .collect())
}

/// Replaces `old` by `new` (and sets the fingerprint, when the column has
/// one and `fp` is given) if the row still holds `old`.
async fn replace(
    tx: &mut Tx,
    c: &Column,
    id: i64,
    old: &str,
    new: &Sealed,
    fp: Option<&str>,
) -> Result<bool, sqlx::Error> {
    match (c.fingerprint, fp) {
        (Some(fp_col), Some(fp)) => {
            let sql = format!(
                "UPDATE {table} SET {col} = $2, {fp_col} = $4 WHERE {key} = $1 AND {col} = $3",
                col = c.name,
                key = c.key,
                table = c.table
            );
            on_tx!(tx, conn => sqlx::query(&sql).bind(id).bind(new).bind(old).bind(fp)
                .execute(conn).await.map(|r| r.rows_affected() > 0))
        }
        _ => {
            let sql = format!(
                "UPDATE {table} SET {col} = $2 WHERE {key} = $1 AND {col} = $3",
                col = c.name,
                key = c.key,
                table = c.table
            );
            on_tx!(tx, conn => sqlx::query(&sql).bind(id).bind(new).bind(old)
                .execute(conn).await.map(|r| r.rows_affected() > 0))
        }
    }
}

/// With SQLite, whether a value replaced in this transaction has its old
/// bytes zeroed: else they stay in the page's free space, readable in the
/// file.
async fn secure_delete(tx: &mut Tx, on: bool) -> Result<(), sqlx::Error> {
    if let Tx::Sqlite(t) = tx {
        let sql = if on {
            "PRAGMA secure_delete = ON"
        } else {
            "PRAGMA secure_delete = OFF"
        };
        sqlx::query(sql).execute(&mut **t).await?;
    }
    Ok(())
}

/// With SQLite, copies the log into the database and empties it: the log
/// still holds the pages as they were before the values were replaced.
/// The periodic checkpoint may be under way (busy): tries again for a few
/// seconds.
async fn empty_sqlite_log(db: &Db) {
    let Db::Sqlite(pools) = db else {
        return;
    };
    for _ in 0..200 {
        let done: Result<(i64, i64, i64), _> = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&pools.writer)
            .await;
        if !matches!(done, Ok((busy, _, _)) if busy != 0) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Refuses to start when a stored secret is sealed under a key the ring
/// does not hold: better than starting and failing every send.
pub async fn check_keys(db: &Db, ring: &Keyring) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let mut missing = BTreeSet::new();
    for c in COLUMNS {
        for s in read_column(&mut tx, c).await? {
            if let Ok(id) = Sealed::parse(&s.text).and_then(|v| v.key_id())
                && !ring.holds(id)
            {
                missing.insert(id.to_string());
            }
        }
    }
    tx.rollback().await?;
    if !missing.is_empty() {
        let ids: Vec<String> = missing.into_iter().collect();
        bail!(
            "the database holds credentials sealed under key {}, which none of the configured keys is (the current key is {}): \
             set the key they were sealed with in SECRET_KEY (or SECRET_KEY_PREVIOUS during a rotation), or restore the key file beside the SQLite database",
            ids.join(", "),
            ring.current_id()
        );
    }
    Ok(())
}

/// Seals, in one transaction, every secret stored in clear (by an earlier
/// version) and fills in missing fingerprints. Returns how many values were
/// sealed; logs the count, never which.
pub async fn seal_plain(db: &Db, ring: &Keyring) -> anyhow::Result<u64> {
    let mut tx = db.begin().await?;
    secure_delete(&mut tx, true).await?;
    let mut sealed = 0;
    for c in COLUMNS {
        for s in read_column(&mut tx, c).await? {
            match Sealed::parse(&s.text) {
                Err(_) => {
                    let fp = fingerprint(c.purpose, &s.text);
                    let new = ring.seal(c.purpose, &s.text);
                    if replace(&mut tx, c, s.id, &s.text, &new, Some(&fp)).await? {
                        sealed += 1;
                    }
                }
                Ok(value) if c.fingerprint.is_some() && !s.has_fingerprint => {
                    if let Ok(plain) = ring.open(c.purpose, &value) {
                        let fp = fingerprint(c.purpose, plain.expose_secret());
                        replace(&mut tx, c, s.id, &s.text, &value, Some(&fp)).await?;
                    }
                }
                Ok(_) => {}
            }
        }
    }
    secure_delete(&mut tx, false).await?;
    tx.commit().await?;
    if sealed > 0 {
        empty_sqlite_log(db).await;
    }
    if sealed > 0 {
        tracing::info!(
            count = sealed,
            "sealed the WhatsApp credentials stored in clear"
        );
    }
    Ok(sealed)
}

/// What a re-sealing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resealed {
    /// The key everything openable is now sealed under.
    pub current: KeyId,
    /// Values now sealed under the current key that were not.
    pub resealed: u64,
    /// Values no key of the ring opens: (account id, purpose, why).
    pub unopenable: Vec<(i64, Purpose, OpenError)>,
}

/// Re-seals under the ring's current key every secret sealed under another
/// key, row by row (compare-and-set), passing again until a pass finds
/// nothing left to do. Values that no key opens are left as they are and
/// reported.
pub async fn reseal_all(db: &Db, ring: &Keyring) -> anyhow::Result<Resealed> {
    let mut tx = db.begin().await?;
    secure_delete(&mut tx, true).await?;
    let done = reseal_in(&mut tx, ring).await;
    match done {
        Ok(r) => {
            secure_delete(&mut tx, false).await?;
            tx.commit().await?;
            empty_sqlite_log(db).await;
            Ok(r)
        }
        Err(e) => {
            tx.rollback().await?;
            Err(e)
        }
    }
}

async fn reseal_in(tx: &mut Tx, ring: &Keyring) -> anyhow::Result<Resealed> {
    let mut report = Resealed {
        current: ring.current_id(),
        resealed: 0,
        unopenable: Vec::new(),
    };
    loop {
        let mut changed = 0;
        report.unopenable.clear();
        for c in COLUMNS {
            for s in read_column(tx, c).await? {
                let value = Sealed::parse(&s.text);
                if value.as_ref().ok().and_then(|v| v.key_id().ok()) == Some(ring.current_id()) {
                    continue;
                }
                let plain = value.and_then(|v| ring.open(c.purpose, &v));
                let plain = match plain {
                    Ok(p) => p,
                    Err(e) => {
                        report.unopenable.push((s.id, c.purpose, e));
                        continue;
                    }
                };
                let new = ring.seal(c.purpose, plain.expose_secret());
                let fp = fingerprint(c.purpose, plain.expose_secret());
                if replace(tx, c, s.id, &s.text, &new, Some(&fp)).await? {
                    changed += 1;
                }
            }
        }
        report.resealed += changed;
        if changed == 0 {
            return Ok(report);
        }
    }
}

/// `uic-inbox secret-key rotate`. With `SECRET_KEY` set: re-seals under it
/// everything sealed under another key of the ring (`SECRET_KEY_PREVIOUS`).
/// With SQLite and the generated key file: a new key in `secret-key.next`,
/// everything re-sealed under it in one transaction, then the files
/// renamed. Fails (non-zero exit) if a value no key opens remains.
pub async fn rotate(config: &Config, db: &Db) -> anyhow::Result<Resealed> {
    let report = if config.secret_key.is_some() {
        let ring = keys::load(config)?;
        check_keys(db, &ring).await?;
        seal_plain(db, &ring).await?;
        reseal_all(db, &ring).await?
    } else {
        let dir = db::sqlite_dir(&config.database_url)
            .context("SECRET_KEY is required with PostgreSQL")?;
        let files = KeyFiles::new(dir);
        let old = keys::load(config)?;
        check_keys(db, &old).await?;
        seal_plain(db, &old).await?;
        let next = files.prepare_next()?;
        let mut others = vec![files.read_or_create()?];
        others.extend(config.secret_key_previous.iter().cloned());
        others.extend(files.read_optional(keys::PREVIOUS_FILE)?);
        let ring = Keyring::new(next, others);
        let report = reseal_all(db, &ring).await?;
        if report.unopenable.is_empty() {
            files.promote_next()?;
        }
        report
    };
    if !report.unopenable.is_empty() {
        let list: Vec<String> = report
            .unopenable
            .iter()
            .map(|(id, purpose, e)| format!("account {id} {purpose}: {e}"))
            .collect();
        bail!(
            "re-sealed {} value(s), but {} could not be opened by any key: {}",
            report.resealed,
            list.len(),
            list.join("; ")
        );
    }
    Ok(report)
}
