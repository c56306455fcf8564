//! The fake's records of what it received (`SentMessage`, `SeenRequest`, `UploadedMedia`, `Failure`) and its shared state (`Inner`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::replies::*;

/// Largest request body the fake reads (documents may be 100 MB).
pub(super) const MAX_BODY: usize = 110 * 1024 * 1024;
/// Lifetime of a media download URL (A.6).
pub(super) const MEDIA_URL_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// `expires_in` of an exchanged long-lived token (~60 days, A.10).
pub(super) const LONG_LIVED_EXPIRES_IN: i64 = 5_183_944;
/// WABA id used in webhooks unless one is set.
pub const DEFAULT_WABA_ID: &str = "102290129340398";
/// App registered by default (`set_app` changes it).
pub const DEFAULT_APP_ID: &str = "123456789012345";
pub const DEFAULT_APP_SECRET: &str = "test_app_secret";
/// Profile name given to senders in built webhooks unless set.
pub const DEFAULT_CONTACT_NAME: &str = "Amani K.";
pub(super) const ERROR_HREF: &str =
    "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/";

// ---------------------------------------------------------------------------
// Public records

/// One accepted send (HTTP 200), in arrival order.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub phone_number_id: String,
    /// The recipient: `to` without a leading `+`, or the `recipient` user id.
    pub to: String,
    /// The request's `type`: "text", "interactive", "image", "template", ...
    pub kind: String,
    /// The full request JSON.
    pub body: Value,
    pub wamid: String,
    pub at: Instant,
    /// The version prefix of the request path ("v21.0").
    pub version: String,
    /// Accepted but failed afterwards (a `failed` status was queued with this
    /// code): 131047 for a closed window, an injected asynchronous failure,
    /// or 131053 for a media id the fake does not hold.
    pub failed_with: Option<i64>,
}

/// Every request the fake saw, rejected ones too, in the order answered.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The HTTP status answered; 0 when the connection was dropped
    /// (`Failure::Reset`).
    pub status: u16,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
    #[allow(dead_code)]
    pub at: Instant,
}

/// A file uploaded with `POST /{phone-number-id}/media` (or added with
/// `FakeMeta::add_media`).
#[derive(Debug, Clone)]
pub struct UploadedMedia {
    pub id: String,
    pub phone_number_id: String,
    pub mime: String,
    pub filename: String,
    pub bytes: Vec<u8>,
    /// Deleted with `DELETE /{media-id}` since.
    pub deleted: bool,
}

/// An injected failure.
///
/// HTTP statuses paired with codes are unconfirmed (the reference says not
/// to branch on them): `Code` answers 401 for 190, 500 for 1 and 131000,
/// 503 for 2 and 131016, and 400 for everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The documented JSON error object for this Graph error code.
    Code(i64),
    /// The same, with an explicit HTTP status.
    CodeWithStatus(i64, u16),
    /// The same as `Code`, plus a `Retry-After: <seconds>` header (Meta does
    /// not document one; this tests a client that honours it anyway).
    CodeWithRetryAfter(i64, u64),
    /// This HTTP status with a small non-JSON (HTML) body, as a proxy in
    /// front of Graph would answer (502, 503, ...).
    Status(u16),
    /// The connection is dropped without an answer.
    Reset,
}

// ---------------------------------------------------------------------------
// State

pub(super) struct Number {
    pub(super) display_digits: String,
    pub(super) tokens: HashSet<String>,
    pub(super) waba_id: String,
    pub(super) verified_name: String,
    pub(super) quality_rating: String,
    /// `whatsapp_business_manager_messaging_limit`; `None`: the field does
    /// not exist (an older API version), so asking for it answers 100.
    pub(super) messaging_limit: Option<String>,
}

/// Everything the fake knows of a token: one record read by the sends,
/// `debug_token`, the number node and the exchange alike.
#[derive(Clone)]
pub(super) struct TokenInfo {
    pub(super) expires_at: i64,
    pub(super) data_access_expires_at: i64,
    pub(super) issued_at: i64,
    /// `debug_token`'s `type`: SYSTEM_USER, USER...
    pub(super) kind: String,
    pub(super) scopes: Vec<String>,
    /// The app it belongs to; `None`: the fake's app (`set_app`).
    pub(super) app_id: Option<String>,
    /// The WABA ids its granular scopes are limited to; `None`: no
    /// `target_ids` (not restricted).
    pub(super) target_ids: Option<Vec<String>>,
    /// Revoked by Meta (password change, security): invalid everywhere.
    pub(super) revoked: bool,
}

/// The scopes of a system user token made for WhatsApp.
pub(super) const DEFAULT_SCOPES: [&str; 2] = [
    "whatsapp_business_messaging",
    "whatsapp_business_management",
];

#[derive(Debug, PartialEq, Eq)]
pub(super) enum TokenState {
    Valid,
    Expired(i64),
    Invalidated,
    Unknown,
}

pub(super) struct MediaUrl {
    pub(super) media_id: String,
    pub(super) issued: Duration,
    pub(super) revoked: bool,
}

pub(super) struct Inner {
    pub(super) base_url: String,
    pub(super) numbers: HashMap<String, Number>,
    pub(super) tokens: HashMap<String, TokenInfo>,
    pub(super) app_id: String,
    pub(super) app_secret: String,
    pub(super) sent: Vec<SentMessage>,
    pub(super) requests: Vec<SeenRequest>,
    pub(super) fail_next_sends: VecDeque<Failure>,
    pub(super) fail_next_mark_reads: VecDeque<Failure>,
    pub(super) async_failures: VecDeque<i64>,
    pub(super) fail_all: Option<Failure>,
    pub(super) delay: Option<Duration>,
    pub(super) closed_windows: HashSet<String>,
    pub(super) status_payloads: Vec<Vec<u8>>,
    pub(super) status_sequence: Vec<String>,
    pub(super) inbound_wamids: HashSet<String>,
    pub(super) marked_read: Vec<String>,
    pub(super) media: Vec<UploadedMedia>,
    pub(super) media_urls: HashMap<String, MediaUrl>,
    pub(super) clock_offset: Duration,
    pub(super) rate_limit: Option<u32>,
    pub(super) recent_sends: HashMap<String, VecDeque<Instant>>,
    pub(super) counter: u64,
}

pub(super) type Shared = Arc<Mutex<Inner>>;

pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    pub(super) fn new(base_url: String) -> Inner {
        Inner {
            base_url,
            numbers: HashMap::new(),
            tokens: HashMap::new(),
            app_id: DEFAULT_APP_ID.into(),
            app_secret: DEFAULT_APP_SECRET.into(),
            sent: Vec::new(),
            requests: Vec::new(),
            fail_next_sends: VecDeque::new(),
            fail_next_mark_reads: VecDeque::new(),
            async_failures: VecDeque::new(),
            fail_all: None,
            delay: None,
            closed_windows: HashSet::new(),
            status_payloads: Vec::new(),
            status_sequence: vec!["sent".into(), "delivered".into(), "read".into()],
            inbound_wamids: HashSet::new(),
            marked_read: Vec::new(),
            media: Vec::new(),
            media_urls: HashMap::new(),
            clock_offset: Duration::ZERO,
            rate_limit: None,
            recent_sends: HashMap::new(),
            counter: 0,
        }
    }

    /// The fake's wall clock (real time plus `advance_clock`).
    pub(super) fn now(&self) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + self.clock_offset
    }

    pub(super) fn now_unix(&self) -> i64 {
        i64::try_from(self.now().as_secs()).unwrap_or(i64::MAX)
    }

    pub(super) fn ensure_token(&mut self, token: &str) {
        let now = self.now_unix();
        self.tokens.entry(token.to_string()).or_insert(TokenInfo {
            expires_at: 0,
            data_access_expires_at: 0,
            issued_at: now,
            kind: "SYSTEM_USER".into(),
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            app_id: None,
            target_ids: None,
            revoked: false,
        });
    }

    pub(super) fn token_state(&self, token: &str) -> TokenState {
        let Some(info) = self.tokens.get(token) else {
            return TokenState::Unknown;
        };
        if info.revoked || !self.numbers.values().any(|n| n.tokens.contains(token)) {
            return TokenState::Invalidated;
        }
        if info.expires_at != 0 && info.expires_at <= self.now_unix() {
            return TokenState::Expired(info.expires_at);
        }
        TokenState::Valid
    }

    /// 190 unless the token is valid somewhere.
    pub(super) fn check_token(&self, token: Option<&str>) -> Result<(), Reply> {
        let Some(token) = token else {
            return Err(token_error(&TokenState::Unknown, self.now_unix()));
        };
        match self.token_state(token) {
            TokenState::Valid => Ok(()),
            other => Err(token_error(&other, self.now_unix())),
        }
    }

    /// The token is valid and was issued for this number.
    pub(super) fn authorize_number(
        &self,
        token: Option<&str>,
        id: &str,
        verb: &str,
    ) -> Result<(), Reply> {
        self.check_token(token)?;
        match self.numbers.get(id) {
            Some(n) if token.is_some_and(|t| n.tokens.contains(t)) => Ok(()),
            _ => Err(no_such_object(verb, id)),
        }
    }

    pub(super) fn token_can_use(&self, token: Option<&str>, phone_number_id: &str) -> bool {
        token.is_some_and(|t| {
            self.token_state(t) == TokenState::Valid
                && self
                    .numbers
                    .get(phone_number_id)
                    .is_some_and(|n| n.tokens.contains(t))
        })
    }

    pub(super) fn fresh_media_id(&self) -> String {
        loop {
            let id =
                rand::random_range(1_000_000_000_000_000u64..10_000_000_000_000_000).to_string();
            if !self.media.iter().any(|m| m.id == id) && !self.numbers.contains_key(&id) {
                return id;
            }
        }
    }
}
