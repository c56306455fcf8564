//! Secrets at rest: the WhatsApp credentials (Meta access tokens, app
//! secrets, verify tokens, Twilio auth tokens) are stored sealed with
//! XChaCha20-Poly1305 under a key from `SECRET_KEY` (see `keys`).
//!
//! The stored text is `v1.{key id}.{base64url(nonce || ciphertext)}`; the
//! additional data is the purpose's name, so a sealed app secret cannot be
//! passed off as an access token. This module is the pure core (no I/O
//! beyond the random nonce); `keys` loads the ring, `store` keeps the
//! database's values sealed under it.

pub mod keys;
pub mod store;

use crate::config::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngExt;
use sha2::{Digest, Sha256};
use std::fmt;

/// The format version written before every sealed value.
const VERSION: &str = "v1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// A 32-byte key. Its bytes are wiped when dropped and never printed:
/// `Debug` shows its id only.
#[derive(Clone)]
pub struct Key(zeroize::Zeroizing<[u8; 32]>);

impl Key {
    pub fn from_bytes(bytes: [u8; 32]) -> Key {
        Key(zeroize::Zeroizing::new(bytes))
    }

    /// A new random key.
    pub fn generate() -> Key {
        Key::from_bytes(rand::rng().random())
    }

    /// The key as 64 hex characters (what `uic-inbox secret-key generate`
    /// prints and the generated key file holds).
    pub fn to_hex(&self) -> String {
        hex::encode(*self.0)
    }

    /// Names the key without revealing it: the first 4 bytes of
    /// SHA-256("uic-inbox secret key id v1\0" || key).
    pub fn id(&self) -> KeyId {
        let mut h = Sha256::new();
        h.update(b"uic-inbox secret key id v1\0");
        h.update(*self.0);
        let d = h.finalize();
        KeyId([d[0], d[1], d[2], d[3]])
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*self.0))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id())
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.0.ct_eq(&*other.0))
    }
}

impl Eq for Key {}

/// A key's public name: 8 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 4]);

impl KeyId {
    /// 8 lowercase hex characters, as written in sealed values.
    pub fn parse(s: &str) -> Option<KeyId> {
        if s.len() != 8 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut id = [0u8; 4];
        hex::decode_to_slice(s, &mut id).ok()?;
        Some(KeyId(id))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// What a secret is for: bound to its sealed value as additional data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    MetaAccessToken,
    MetaAppSecret,
    MetaVerifyToken,
    TwilioAuthToken,
    /// A DHIS-2 personal access token or password (`dhis2_settings`).
    Dhis2Credential,
}

impl Purpose {
    pub const ALL: &'static [Purpose] = &[
        Purpose::MetaAccessToken,
        Purpose::MetaAppSecret,
        Purpose::MetaVerifyToken,
        Purpose::TwilioAuthToken,
        Purpose::Dhis2Credential,
    ];

    /// The stable name bound to sealed values (never change one: the
    /// values sealed under it would no longer open).
    pub const fn as_str(self) -> &'static str {
        match self {
            Purpose::MetaAccessToken => "meta_access_token",
            Purpose::MetaAppSecret => "meta_app_secret",
            Purpose::MetaVerifyToken => "meta_verify_token",
            Purpose::TwilioAuthToken => "twilio_auth_token",
            Purpose::Dhis2Credential => "dhis2_credential",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a sealed value did not open. The texts name neither the value nor
/// the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the stored secret is not a sealed value")]
    Malformed,
    #[error("the stored secret is sealed under key {0}, which no configured key has")]
    UnknownKey(KeyId),
    #[error("the stored secret does not open (damaged, or sealed for another use)")]
    Corrupt,
}

/// A sealed secret as stored: `v1.{key id}.{base64url(nonce || ciphertext)}`.
/// Made by [`Keyring::seal`] or read from the database; a value read that
/// is not well formed is kept as it is and fails to open
/// ([`OpenError::Malformed`]), like a missing credential.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(String);

impl Sealed {
    /// A well-formed sealed value, else `Malformed`.
    pub fn parse(s: &str) -> Result<Sealed, OpenError> {
        let sealed = Sealed(s.to_string());
        sealed.parts()?;
        Ok(sealed)
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the key that sealed it (`Malformed` if it is not a sealed
    /// value).
    pub fn key_id(&self) -> Result<KeyId, OpenError> {
        self.parts().map(|(id, _)| id)
    }

    fn parts(&self) -> Result<(KeyId, Vec<u8>), OpenError> {
        let mut it = self.0.splitn(3, '.');
        let (Some(VERSION), Some(id), Some(body)) = (it.next(), it.next(), it.next()) else {
            return Err(OpenError::Malformed);
        };
        let id = KeyId::parse(id).ok_or(OpenError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OpenError::Malformed)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::Malformed);
        }
        Ok((id, bytes))
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key_id() {
            Ok(id) => write!(f, "Sealed({VERSION}.{id}.…)"),
            Err(_) => f.write_str("Sealed(malformed)"),
        }
    }
}

/// The keys of this process: `current` seals, every key opens.
#[derive(Clone)]
pub struct Keyring {
    current: Key,
    others: Vec<Key>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id())
            .field(
                "others",
                &self.others.iter().map(Key::id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Keyring {
    /// Seals with `current`; opens with `current` and `others` (earlier
    /// keys, or one being introduced).
    pub fn new(current: Key, others: Vec<Key>) -> Keyring {
        let others = others
            .into_iter()
            .filter(|k| k.id() != current.id())
            .collect();
        Keyring { current, others }
    }

    pub fn current_id(&self) -> KeyId {
        self.current.id()
    }

    /// Whether some key of the ring has this id.
    pub fn holds(&self, id: KeyId) -> bool {
        self.key(id).is_some()
    }

    fn key(&self, id: KeyId) -> Option<&Key> {
        std::iter::once(&self.current)
            .chain(&self.others)
            .find(|k| k.id() == id)
    }

    /// Seals `plain` for `purpose` under the current key, with a fresh
    /// random nonce: two seals of one value differ.
    pub fn seal(&self, purpose: Purpose, plain: &str) -> Sealed {
        let nonce: [u8; NONCE_LEN] = rand::rng().random();
        let ciphertext = self
            .current
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: purpose.as_str().as_bytes(),
                },
            )
            // Encryption fails only for messages of about 256 GiB.
            .expect("XChaCha20-Poly1305 seals any value a column can hold");
        let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Sealed(format!(
            "{VERSION}.{}.{}",
            self.current.id(),
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Opens a sealed value for `purpose` with whichever key sealed it.
    pub fn open(&self, purpose: Purpose, sealed: &Sealed) -> Result<Secret, OpenError> {
        let (id, bytes) = sealed.parts()?;
        let key = self.key(id).ok_or(OpenError::UnknownKey(id))?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError::Malformed)?;
        let plain = zeroize::Zeroizing::new(
            key.cipher()
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: purpose.as_str().as_bytes(),
                    },
                )
                .map_err(|_| OpenError::Corrupt)?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| OpenError::Corrupt)?;
        Ok(Secret::new(text))
    }
}

/// A stable fingerprint of a credential, to find the account a refused
/// credential belongs to without comparing secrets in SQL (sealed values
/// are randomised). Not keyed, so that it survives key rotation: the
/// credentials fingerprinted (Meta access tokens, Twilio auth tokens) are
/// long random strings issued by the provider, which a hash does not let
/// anyone guess. First 16 bytes of SHA-256, hex.
pub fn fingerprint(purpose: Purpose, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"uic-inbox credential fp v1\0");
    h.update(purpose.as_str().as_bytes());
    h.update(b"\0");
    h.update(secret.as_bytes());
    hex::encode(&h.finalize()[..16])
}

// A sealed value is TEXT on both databases.

impl sqlx::Type<sqlx::Sqlite> for Sealed {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <str as sqlx::Type<sqlx::Sqlite>>::type_info()
    }

    fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
        <&str as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
    }
}

impl sqlx::Type<sqlx::Postgres> for Sealed {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <str as sqlx::Type<sqlx::Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Sqlite> for Sealed {
    fn encode_by_ref(
        &self,
        buf: &mut <sqlx::Sqlite as sqlx::Database>::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <String as sqlx::Encode<'q, sqlx::Sqlite>>::encode(self.0.clone(), buf)
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for Sealed {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<'_, sqlx::Postgres>>::encode(self.0.as_str(), buf)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for Sealed {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Sealed, sqlx::error::BoxDynError> {
        let s = <&str as sqlx::Decode<'r, sqlx::Sqlite>>::decode(value)?;
        Ok(Sealed(s.to_string()))
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for Sealed {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Sealed, sqlx::error::BoxDynError> {
        let s = <&str as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
        Ok(Sealed(s.to_string()))
    }
}

#[cfg(test)]
mod tests;
