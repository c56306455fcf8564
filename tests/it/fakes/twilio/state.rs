//! The fake's records (`SentMessage`, `SeenRequest`, `Failure`, callbacks,
//! debugger events) and its shared state (`Inner`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use super::twiml::TwimlMessage;

/// The account every fake starts with (`add_account` adds more).
pub const DEFAULT_ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
/// Its Auth Token (the key of the B.4 test vector).
pub const DEFAULT_AUTH_TOKEN: &str = "test_auth_token";
/// Twilio's shared WhatsApp sandbox number (B.7).
pub const SANDBOX_NUMBER: &str = "whatsapp:+14155238886";
pub const API_VERSION: &str = "2010-04-01";
/// Twilio waits this long for a webhook answer (B.8); `set_webhook_timeout`
/// shortens it for tests.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);
/// Twilio gives up connecting after this long (B.8).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The customer service window (A.8, applies to WhatsApp on Twilio).
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Sandbox membership lifetime (B.7).
pub const SANDBOX_MEMBERSHIP: Duration = Duration::from_secs(3 * 24 * 3600);
/// Longest WhatsApp `Body` Twilio takes (error 21617 above it).
pub const MAX_BODY_CHARS: usize = 1600;
/// Largest request body the fake reads.
pub(super) const MAX_REQUEST: usize = 10 * 1024 * 1024;

// ---------------------------------------------------------------------------
// Public records

/// One accepted send (HTTP 201), in arrival order.
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// `SM` + 32 lowercase hex.
    pub sid: String,
    pub account_sid: String,
    /// The Basic auth user that sent it (the Account SID or an `SK…` key).
    pub auth_user: String,
    /// `From` as sent; `None` when a `MessagingServiceSid` replaced it.
    pub from: Option<String>,
    /// The sender the message goes out from: `From`, or the sender of the
    /// Messaging Service.
    pub sender: String,
    pub to: String,
    /// `Body` as sent (`None` when absent).
    pub body: Option<String>,
    /// Every `MediaUrl`, in order.
    pub media_urls: Vec<String>,
    pub status_callback: Option<String>,
    pub content_sid: Option<String>,
    /// `ContentVariables` as sent (a JSON string).
    pub content_variables: Option<String>,
    pub messaging_service_sid: Option<String>,
    /// Every form field as decoded, in request order (unknown ones too).
    pub params: Vec<(String, String)>,
    pub date_created: OffsetDateTime,
    /// The statuses Twilio goes through after `queued`/`accepted`, in order
    /// (`["sent", "delivered", "read"]`, or `["failed"]` ...), whether or not
    /// a callback URL was given.
    pub statuses: Vec<String>,
    /// Accepted but failed afterwards with this code (63016 outside the
    /// window, 63015 sandbox recipient not joined, an injected code).
    pub failed_with: Option<u32>,
}

/// Every request the REST server saw, rejected ones too, in the order
/// answered.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    /// The HTTP status answered; 0 when the connection was dropped.
    pub status: u16,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

/// An injected failure of the REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Twilio's JSON error object `{"code","message","more_info","status"}`
    /// with this HTTP status and code (429/20429, 500/20500, 400/21211 ...).
    Api { status: u16, code: u32 },
    /// This HTTP status with a small HTML body, as a proxy would answer.
    Status(u16),
    /// The request waits this long, then is served normally.
    Delay(Duration),
    /// The connection is dropped without an answer.
    Reset,
}

impl Failure {
    /// 429 with 20429 ("Too Many Requests", API concurrency).
    pub fn too_many_requests() -> Failure {
        Failure::Api {
            status: 429,
            code: 20429,
        }
    }

    /// 500 with 20500 ("Internal Server Error").
    pub fn server_error() -> Failure {
        Failure::Api {
            status: 500,
            code: 20500,
        }
    }
}

/// A status callback not posted yet: what Twilio would send.
#[derive(Debug, Clone)]
pub struct PendingCallback {
    pub message_sid: String,
    pub status: String,
    /// The `StatusCallback` URL as given to the REST API (what is signed,
    /// before the optional `:443`).
    pub url: String,
    /// Where the fake posts it (after `route_public_url`).
    pub post_url: String,
    /// `Content-Type`, `X-Twilio-Signature`, `I-Twilio-Idempotency-Token`,
    /// `User-Agent`.
    pub headers: Vec<(String, String)>,
    /// The form-encoded body.
    pub body: String,
    /// The decoded form fields, in wire order.
    pub params: Vec<(String, String)>,
}

impl PendingCallback {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }
}

/// A status callback the fake posted, with the app's answer.
#[derive(Debug, Clone)]
pub struct PostedCallback {
    pub message_sid: String,
    pub status: String,
    pub post_url: String,
    /// The app's HTTP status; `None` when it never answered (connection
    /// refused or timeout, also after retries).
    pub http_status: Option<u16>,
    pub attempts: u32,
}

/// An entry of Twilio's debugger: what Twilio logs when a webhook or a
/// TwiML answer goes wrong (11200 HTTP retrieval failure, 11205 connection
/// failure, 12100 document parse failure, 12200 schema warning, 12300
/// invalid content type, 14103 invalid body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebuggerEvent {
    pub code: u32,
    pub url: String,
    pub detail: String,
}

/// A message Twilio sends because a TwiML answer asked for it.
#[derive(Debug, Clone)]
pub struct TwimlReply {
    /// The inbound message it answers.
    pub in_reply_to: String,
    /// The business sender (the inbound `To`), `whatsapp:`-prefixed.
    pub from: String,
    /// The user (the inbound `From`), `whatsapp:`-prefixed.
    pub to: String,
    pub message: TwimlMessage,
}

// ---------------------------------------------------------------------------
// State

pub(super) struct Account {
    pub(super) auth_token: String,
    pub(super) friendly_name: String,
    pub(super) kind: String,
    pub(super) status: String,
    pub(super) date_created: OffsetDateTime,
    pub(super) channel_install_sid: String,
    /// API key SID → secret.
    pub(super) api_keys: HashMap<String, String>,
    /// Sandbox join code (`join <code>`), when the sandbox is on.
    pub(super) sandbox_code: Option<String>,
    /// Registered WhatsApp senders; empty = any `From` is accepted.
    pub(super) senders: Vec<String>,
    /// Messaging Service SID → its sender.
    pub(super) services: HashMap<String, String>,
}

impl Account {
    pub(super) fn new(auth_token: &str, now: OffsetDateTime) -> Account {
        Account {
            auth_token: auth_token.to_string(),
            friendly_name: "ONG Sante".into(),
            kind: "Full".into(),
            status: "active".into(),
            date_created: now,
            channel_install_sid: format!("XE{}", random_hex()),
            api_keys: HashMap::new(),
            sandbox_code: None,
            senders: Vec::new(),
            services: HashMap::new(),
        }
    }
}

/// A produced callback before signing (signed when shown or posted, with
/// the switches of that moment).
#[derive(Debug, Clone)]
pub(super) struct QueuedCallback {
    pub(super) account_sid: String,
    pub(super) message_sid: String,
    pub(super) status: String,
    pub(super) url: String,
    pub(super) params: Vec<(String, String)>,
    pub(super) idempotency_token: String,
}

/// A media file held for inbound messages.
pub(super) struct StoredMedia {
    pub(super) account_sid: String,
    pub(super) content_type: String,
    pub(super) bytes: Vec<u8>,
    /// The path of its CDN copy (`/media-cdn/…`), served without auth.
    pub(super) cdn_path: String,
}

pub(super) struct Inner {
    pub(super) accounts: HashMap<String, Account>,
    pub(super) sent: Vec<SentMessage>,
    pub(super) requests: Vec<SeenRequest>,
    pub(super) fail_next_sends: VecDeque<Failure>,
    pub(super) async_failures: VecDeque<(String, u32)>,
    pub(super) fail_all: Option<Failure>,
    pub(super) delay: Option<Duration>,
    pub(super) status_sequence: Vec<String>,
    /// (sender or "*", user) → when the user last wrote.
    pub(super) last_user_message: HashMap<(String, String), OffsetDateTime>,
    /// (account, user) → when the user joined the sandbox.
    pub(super) sandbox_joins: HashMap<(String, String), OffsetDateTime>,
    pub(super) callbacks: Vec<QueuedCallback>,
    pub(super) posted_callbacks: Vec<PostedCallback>,
    pub(super) debugger: Vec<DebuggerEvent>,
    pub(super) twiml_replies: Vec<TwimlReply>,
    /// (public prefix, local prefix).
    pub(super) routes: Vec<(String, String)>,
    pub(super) sign_with_port: bool,
    pub(super) bad_signatures: bool,
    pub(super) webhook_timeout: Duration,
    pub(super) webhook_retries: u32,
    pub(super) clock_offset: Duration,
    /// Media path (`/2010-04-01/Accounts/AC…/Messages/MM…/Media/ME…`) → file.
    pub(super) media: HashMap<String, StoredMedia>,
}

pub(super) type Shared = Arc<Mutex<Inner>>;

pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    pub(super) fn new() -> Inner {
        let mut accounts = HashMap::new();
        accounts.insert(
            DEFAULT_ACCOUNT_SID.to_string(),
            Account::new(DEFAULT_AUTH_TOKEN, OffsetDateTime::now_utc()),
        );
        Inner {
            accounts,
            sent: Vec::new(),
            requests: Vec::new(),
            fail_next_sends: VecDeque::new(),
            async_failures: VecDeque::new(),
            fail_all: None,
            delay: None,
            status_sequence: vec!["sent".into(), "delivered".into(), "read".into()],
            last_user_message: HashMap::new(),
            sandbox_joins: HashMap::new(),
            callbacks: Vec::new(),
            posted_callbacks: Vec::new(),
            debugger: Vec::new(),
            twiml_replies: Vec::new(),
            routes: Vec::new(),
            sign_with_port: false,
            bad_signatures: false,
            webhook_timeout: WEBHOOK_TIMEOUT,
            webhook_retries: 0,
            clock_offset: Duration::ZERO,
            media: HashMap::new(),
        }
    }

    /// The fake's clock: real time plus `advance_clock`.
    pub(super) fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.clock_offset
    }

    /// Whether `user` wrote to `sender` (or to any sender, via
    /// `user_wrote`) less than 24 hours ago.
    pub(super) fn window_open(&self, sender: &str, user: &str) -> bool {
        let now = self.now();
        [sender, "*"].iter().any(|s| {
            self.last_user_message
                .get(&(s.to_string(), user.to_string()))
                .is_some_and(|at| *at <= now && now - *at < WINDOW)
        })
    }

    pub(super) fn sandbox_joined(&self, account: &str, user: &str) -> bool {
        let now = self.now();
        self.sandbox_joins
            .get(&(account.to_string(), user.to_string()))
            .is_some_and(|at| now - *at < SANDBOX_MEMBERSHIP)
    }

    /// The URL the fake actually posts to for a URL configured in Twilio.
    pub(super) fn post_url(&self, url: &str) -> String {
        for (public, local) in &self.routes {
            if let Some(rest) = url.strip_prefix(public.as_str()) {
                return format!("{local}{rest}");
            }
        }
        url.to_string()
    }

    /// The URL signed for a configured URL (with `:443`/`:80` when
    /// `sign_with_port` is on).
    pub(super) fn signed_url(&self, url: &str) -> String {
        if self.sign_with_port {
            with_default_port(url)
        } else {
            url.to_string()
        }
    }

    /// The key signatures are made with: the account's Auth Token, or a
    /// wrong one when `bad_signatures` is on.
    pub(super) fn signing_key(&self, account_sid: &str) -> String {
        let token = self
            .accounts
            .get(account_sid)
            .map(|a| a.auth_token.clone())
            .unwrap_or_default();
        if self.bad_signatures {
            format!("not-{token}")
        } else {
            token
        }
    }
}

// ---------------------------------------------------------------------------
// Small helpers

/// 32 random lowercase hex digits (the tail of every Twilio SID).
pub fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Twilio's date format: `Sun, 23 Nov 2026 12:00:00 +0000` (RFC 2822).
pub fn rfc2822(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc2822)
        .unwrap_or_default()
}

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `+243990000001` or `whatsapp:+243990000001` → `whatsapp:+243990000001`.
pub fn whatsapp(address: &str) -> String {
    if address.starts_with("whatsapp:") {
        address.to_string()
    } else {
        format!("whatsapp:{address}")
    }
}

/// E.164 as the fake checks it: `+`, a non-zero digit, 7 to 15 digits in
/// all.
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// `https://host/path` → `https://host:443/path` (`:80` for http); URLs
/// that already name a port are unchanged.
pub fn with_default_port(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return url.to_string(),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if host.contains(':') {
        return url.to_string();
    }
    format!("{scheme}://{authority}:{port}{tail}")
}
