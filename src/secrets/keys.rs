//! Where the keys come from: `SECRET_KEY` (and `SECRET_KEY_PREVIOUS`), or,
//! with SQLite and no `SECRET_KEY`, a key file generated beside the
//! database on first start (like the UIC salt).
//!
//! The key files: `secret-key` seals; `secret-key.previous` (the key before
//! the last rotation) and `secret-key.next` (a rotation under way) only
//! open. A rotation writes `.next`, re-seals, then renames: whatever step a
//! crash interrupts, the files left open everything the database holds.

use super::{Key, Keyring};
use crate::config::Config;
use crate::db;
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The generated key's file, beside the SQLite database.
pub const KEY_FILE: &str = "secret-key";
/// The key before the last rotation (opens only).
pub const PREVIOUS_FILE: &str = "secret-key.previous";
/// The key of a rotation under way (opens only, until it is promoted).
pub const NEXT_FILE: &str = "secret-key.next";

/// What a key must look like, for error messages (never the value given).
pub const KEY_FORMAT: &str = "must be 32 random bytes written as 64 hex characters or as base64; \
     make one with `uic-inbox secret-key generate`";

/// A key as written in `SECRET_KEY` or a key file: 64 hex characters, or
/// base64 (standard or URL-safe, padded or not) of exactly 32 bytes.
/// Surrounding spaces are ignored. `None` for anything else.
pub fn parse_key(text: &str) -> Option<Key> {
    let text = text.trim();
    let mut bytes = [0u8; 32];
    if text.len() == 64 && hex::decode_to_slice(text, &mut bytes).is_ok() {
        return Some(Key::from_bytes(bytes));
    }
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        if let Ok(decoded) = engine.decode(text) {
            let decoded = zeroize::Zeroizing::new(decoded);
            if let Ok(array) = <[u8; 32]>::try_from(decoded.as_slice()) {
                return Some(Key::from_bytes(array));
            }
        }
    }
    None
}

/// `SECRET_KEY_PREVIOUS`: keys separated by commas. Errors name the
/// position of a bad key, never its text.
pub fn parse_key_list(text: &str) -> Result<Vec<Key>, Vec<String>> {
    let mut keys = Vec::new();
    let mut bad = Vec::new();
    for (i, part) in text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        match parse_key(part) {
            Some(k) => keys.push(k),
            None => bad.push(format!(
                "SECRET_KEY_PREVIOUS: key number {} {KEY_FORMAT}",
                i + 1
            )),
        }
    }
    if bad.is_empty() { Ok(keys) } else { Err(bad) }
}

/// The ring of this process: `SECRET_KEY` (+ `SECRET_KEY_PREVIOUS`), else
/// the key files beside the SQLite database (created on first start).
/// With SQLite and `SECRET_KEY` set, key files left from before still
/// open (never seal), so that moving from the file to the variable is:
/// set it, restart, `uic-inbox secret-key rotate`.
pub fn load(config: &Config) -> anyhow::Result<Keyring> {
    let files = db::sqlite_dir(&config.database_url).map(KeyFiles::new);
    let mut others = config.secret_key_previous.clone();
    let current = match (&config.secret_key, &files) {
        (Some(key), files) => {
            if let Some(files) = files {
                others.extend(files.read_optional(KEY_FILE)?);
            }
            key.clone()
        }
        (None, Some(files)) => files.read_or_create()?,
        (None, None) => bail!("SECRET_KEY is required with PostgreSQL: {KEY_FORMAT}"),
    };
    if let Some(files) = &files {
        others.extend(files.read_optional(PREVIOUS_FILE)?);
        others.extend(files.read_optional(NEXT_FILE)?);
    }
    Ok(Keyring::new(current, others))
}

/// The key files of one SQLite database's folder.
pub struct KeyFiles {
    dir: PathBuf,
}

impl KeyFiles {
    pub fn new(dir: &Path) -> KeyFiles {
        KeyFiles {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The current key; generated when there is none. A rotation
    /// interrupted between its two renames left `.next` and no current
    /// key: `.next` is the current key then.
    pub fn read_or_create(&self) -> anyhow::Result<Key> {
        let path = self.path(KEY_FILE);
        if let Some(key) = self.read_optional(KEY_FILE)? {
            return Ok(key);
        }
        if self.path(NEXT_FILE).exists() {
            std::fs::rename(self.path(NEXT_FILE), &path).with_context(|| {
                format!("finishing a key rotation: renaming to {}", path.display())
            })?;
            sync_dir(&self.dir)?;
            return self
                .read_optional(KEY_FILE)?
                .context("the key file vanished while it was read");
        }
        let key = Key::generate();
        match write_new(&path, &key) {
            Ok(()) => {
                tracing::warn!(
                    path = %path.display(),
                    "SECRET_KEY is not set: generated the key that encrypts the WhatsApp credentials and kept it in this file (mode 0600). \
                     Back it up with the database: without it the stored credentials are lost"
                );
                Ok(key)
            }
            // Another instance created it meanwhile: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => self
                .read_optional(KEY_FILE)?
                .context("the key file vanished while it was read"),
            Err(e) => Err(e).with_context(|| format!("creating the key file {}", path.display())),
        }
    }

    /// The key in file `name`, if the file exists.
    pub fn read_optional(&self, name: &str) -> anyhow::Result<Option<Key>> {
        let path = self.path(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_key(&text).map(Some).with_context(|| {
                format!(
                    "{}: not a key (restore it from the backup made with the database); a key {KEY_FORMAT}",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading the key file {}", path.display())),
        }
    }

    /// The key of a rotation: the one a rotation interrupted earlier had
    /// written (data may already be sealed under it), else a new one.
    pub fn prepare_next(&self) -> anyhow::Result<Key> {
        if let Some(key) = self.read_optional(NEXT_FILE)? {
            return Ok(key);
        }
        let key = Key::generate();
        let path = self.path(NEXT_FILE);
        write_new(&path, &key).with_context(|| format!("writing {}", path.display()))?;
        Ok(key)
    }

    /// Ends a rotation once everything is sealed under `.next`: the current
    /// key becomes `.previous`, `.next` becomes current.
    pub fn promote_next(&self) -> anyhow::Result<()> {
        let current = self.path(KEY_FILE);
        if current.exists() {
            std::fs::rename(&current, self.path(PREVIOUS_FILE))
                .with_context(|| format!("renaming {}", current.display()))?;
            sync_dir(&self.dir)?;
        }
        std::fs::rename(self.path(NEXT_FILE), &current)
            .with_context(|| format!("renaming the new key to {}", current.display()))?;
        sync_dir(&self.dir)
    }
}

/// Writes a new key file atomically: a private temporary file, synced,
/// then linked to its name (which fails if the name exists: an existing
/// key is never overwritten).
fn write_new(path: &Path, key: &Key) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("key"),
        uuid::Uuid::new_v4().simple()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(key.to_hex().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    written?;
    sync_dir(dir).map_err(std::io::Error::other)
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_as_hex_or_any_base64_and_nothing_else() {
        let key = Key::from_bytes([0x5a; 32]);
        let bytes = [0x5a; 32];
        for text in [
            key.to_hex(),
            key.to_hex().to_uppercase(),
            format!("  {}\n", key.to_hex()),
            STANDARD.encode(bytes),
            STANDARD_NO_PAD.encode(bytes),
            URL_SAFE.encode([0xfb; 32]),
            URL_SAFE_NO_PAD.encode([0xfb; 32]),
        ] {
            assert!(parse_key(&text).is_some(), "{text}");
        }
        assert_eq!(parse_key(&key.to_hex()), Some(key));
        for bad in [
            String::new(),
            "short".into(),
            "00".repeat(31),
            "00".repeat(33),
            format!("{}\0", "00".repeat(31)),
            format!("{}zz", "00".repeat(31)),
            STANDARD.encode([1u8; 31]),
            STANDARD.encode([1u8; 33]),
            "a".repeat(10_000),
        ] {
            assert!(parse_key(&bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_previous_key_is_named_by_its_position_only() {
        let good = Key::from_bytes([1; 32]).to_hex();
        let keys = parse_key_list(&format!("{good}, {}", Key::from_bytes([2; 32]).to_hex()));
        assert_eq!(keys.unwrap().len(), 2);
        let bad = parse_key_list(&format!("{good},not-a-key-secretish")).unwrap_err();
        assert_eq!(bad.len(), 1);
        assert!(bad[0].contains("key number 2"), "{bad:?}");
        assert!(!bad[0].contains("secretish"));
    }

    #[test]
    fn the_generated_key_file_is_private_reused_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::new(dir.path());
        let first = files.read_or_create().unwrap();
        assert_eq!(files.read_or_create().unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = write_new(&dir.path().join(KEY_FILE), &Key::generate()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(files.read_or_create().unwrap(), first);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_interrupted_rotation_leaves_every_key_readable() {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::new(dir.path());
        let k1 = files.read_or_create().unwrap();
        let k2 = files.prepare_next().unwrap();
        assert_ne!(k1, k2);
        // Run again after a crash: the same next key.
        assert_eq!(files.prepare_next().unwrap(), k2);
        // A crash between the two renames: `.next` becomes current.
        std::fs::rename(dir.path().join(KEY_FILE), dir.path().join(PREVIOUS_FILE)).unwrap();
        assert_eq!(files.read_or_create().unwrap(), k2);
        assert_eq!(files.read_optional(PREVIOUS_FILE).unwrap(), Some(k1));
        assert_eq!(files.read_optional(NEXT_FILE).unwrap(), None);
    }

    #[test]
    fn a_promoted_key_seals_and_the_old_one_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::new(dir.path());
        let k1 = files.read_or_create().unwrap();
        let k2 = files.prepare_next().unwrap();
        files.promote_next().unwrap();
        assert_eq!(files.read_or_create().unwrap(), k2);
        assert_eq!(files.read_optional(PREVIOUS_FILE).unwrap(), Some(k1));
        assert!(!dir.path().join(NEXT_FILE).exists());
    }
}
