//! The UIC salt: hashes phone numbers in the registry.
//!
//! Its fingerprint is stored on first start and checked at every start: a
//! silently changed salt would make every returning phone look new and break
//! duplicate detection.

use crate::config::{Config, Secret};
use crate::db::{self, Db};
use crate::on_db;
use anyhow::{Context, bail};
use rand::RngExt;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use time::OffsetDateTime;

const FINGERPRINT_KEY: &str = "uic_salt_fingerprint";
/// Name of the generated salt's file, beside the SQLite database.
pub const SALT_FILE: &str = "uic-salt";

/// A new random salt: 32 bytes, hex.
pub fn generate() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// Salted SHA-256 of a phone number, hex.
pub fn hash_phone(salt: &Secret, phone: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.expose_secret().as_bytes());
    h.update(phone.as_bytes());
    hex::encode(h.finalize())
}

/// A fingerprint that identifies the salt without revealing it.
pub fn fingerprint(salt: &Secret) -> String {
    let mut h = Sha256::new();
    h.update(b"uic-inbox salt fingerprint v1\0");
    h.update(salt.expose_secret().as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// The salt to use: `UIC_SALT`, else (SQLite only) the one kept beside the
/// database, generated on first start. Checked against the fingerprint the
/// database holds.
pub async fn load(config: &Config, db: &Db) -> anyhow::Result<Secret> {
    let salt = match &config.uic_salt {
        Some(s) => s.clone(),
        None => {
            let dir = db::sqlite_dir(&config.database_url)
                .context("UIC_SALT is required with PostgreSQL")?;
            read_or_create_file(&dir.join(SALT_FILE))?
        }
    };
    check_fingerprint(db, &salt).await?;
    Ok(salt)
}

fn read_or_create_file(path: &Path) -> anyhow::Result<Secret> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => return Ok(Secret::new(s.trim())),
        Ok(_) => bail!(
            "{} is empty; restore the salt or remove the file and the database",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("reading the UIC salt from {}", path.display()));
        }
    }
    let salt = generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating the UIC salt file {}", path.display()))?;
    file.write_all(salt.as_bytes())?;
    file.sync_all()?;
    tracing::warn!(
        path = %path.display(),
        "UIC_SALT is not set: generated a salt and kept it in this file (mode 0600). Back it up with the database; \
         set UIC_SALT to this value before moving to PostgreSQL"
    );
    Ok(Secret::new(salt))
}

async fn check_fingerprint(db: &Db, salt: &Secret) -> anyhow::Result<()> {
    let fp = fingerprint(salt);
    let now = OffsetDateTime::now_utc();
    // Insert on first start; afterwards the stored value wins and is compared.
    let stored: String = on_db!(db, p => sqlx::query_scalar(
        "INSERT INTO app_settings (key, value, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET key = excluded.key RETURNING value")
        .bind(FINGERPRINT_KEY).bind(&fp).bind(now).fetch_one(p).await)
    .context("reading the UIC salt fingerprint")?;
    if stored != fp {
        bail!(
            "UIC_SALT does not match the salt this database was created with (fingerprint {stored}, given {fp}). \
             Restore the original salt: a changed salt breaks duplicate detection"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_phone_and_salt_always_give_the_same_hash_and_another_salt_another() {
        let a = Secret::new("salt-one-salt-one");
        let b = Secret::new("salt-two-salt-two");
        assert_eq!(
            hash_phone(&a, "+243990000001"),
            hash_phone(&a, "+243990000001")
        );
        assert_ne!(
            hash_phone(&a, "+243990000001"),
            hash_phone(&b, "+243990000001")
        );
        assert_ne!(
            hash_phone(&a, "+243990000001"),
            hash_phone(&a, "+243990000002")
        );
        assert!(!hash_phone(&a, "+243990000001").contains("243990000001"));
    }

    #[test]
    fn a_generated_salt_is_random_and_long() {
        assert_eq!(generate().len(), 64);
        assert_ne!(generate(), generate());
    }

    #[test]
    fn the_generated_salt_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SALT_FILE);
        let first = read_or_create_file(&path).unwrap();
        let again = read_or_create_file(&path).unwrap();
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
