//! A fake of Meta's WhatsApp Cloud (Graph) API, written from the wire
//! reference (section A of the external APIs reference), not from our own
//! client: a real HTTP server on a random port that checks bearer tokens,
//! enforces the send limits, answers the documented error objects, serves
//! uploaded media behind expiring URLs, and produces the status webhooks a
//! real number would send (returned as ready-to-post bodies, never posted by
//! itself). Also builds inbound webhook bodies the way Meta encodes them and
//! signs them.
//!
//! Choices where the reference leaves room (see also the `Failure` docs):
//! - A token unknown anywhere, expired, or rotated away answers 190 (HTTP
//!   401). A valid token used on a number it was not issued for answers 100
//!   ("object does not exist or missing permissions"), like an unknown id.
//! - Length overflows of free text (text body, interactive body, header,
//!   footer) answer 100; counts, button/row/section fields and uniqueness
//!   answer 131009; an absent required field answers 131008; a wrong JSON
//!   type or unknown enum value answers 100; an unknown message `type`
//!   answers 131051. Lengths count Unicode scalar values.
//! - Routes need a version prefix (`/v21.0/...`); anything else is 404 with
//!   the Graph error shape (code 100).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Largest request body the fake reads (documents may be 100 MB).
const MAX_BODY: usize = 110 * 1024 * 1024;
/// Lifetime of a media download URL (A.6).
const MEDIA_URL_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// `expires_in` of an exchanged long-lived token (~60 days, A.10).
const LONG_LIVED_EXPIRES_IN: i64 = 5_183_944;
/// WABA id used in webhooks unless one is set.
pub const DEFAULT_WABA_ID: &str = "102290129340398";
/// App registered by default (`set_app` changes it).
pub const DEFAULT_APP_ID: &str = "123456789012345";
pub const DEFAULT_APP_SECRET: &str = "test_app_secret";
/// Profile name given to senders in built webhooks unless set.
pub const DEFAULT_CONTACT_NAME: &str = "Amani K.";
const ERROR_HREF: &str =
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

struct Number {
    display_digits: String,
    tokens: HashSet<String>,
    waba_id: String,
    verified_name: String,
    quality_rating: String,
}

struct TokenInfo {
    expires_at: i64,
    data_access_expires_at: i64,
    issued_at: i64,
    kind: &'static str,
}

#[derive(Debug, PartialEq, Eq)]
enum TokenState {
    Valid,
    Expired(i64),
    Invalidated,
    Unknown,
}

struct MediaUrl {
    media_id: String,
    issued: Duration,
    revoked: bool,
}

struct Inner {
    base_url: String,
    numbers: HashMap<String, Number>,
    tokens: HashMap<String, TokenInfo>,
    app_id: String,
    app_secret: String,
    sent: Vec<SentMessage>,
    requests: Vec<SeenRequest>,
    fail_next_sends: VecDeque<Failure>,
    fail_next_mark_reads: VecDeque<Failure>,
    async_failures: VecDeque<i64>,
    fail_all: Option<Failure>,
    delay: Option<Duration>,
    closed_windows: HashSet<String>,
    status_payloads: Vec<Vec<u8>>,
    status_sequence: Vec<String>,
    inbound_wamids: HashSet<String>,
    marked_read: Vec<String>,
    media: Vec<UploadedMedia>,
    media_urls: HashMap<String, MediaUrl>,
    clock_offset: Duration,
    rate_limit: Option<u32>,
    recent_sends: HashMap<String, VecDeque<Instant>>,
    counter: u64,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    fn new(base_url: String) -> Inner {
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
    fn now(&self) -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            + self.clock_offset
    }

    fn now_unix(&self) -> i64 {
        i64::try_from(self.now().as_secs()).unwrap_or(i64::MAX)
    }

    fn ensure_token(&mut self, token: &str) {
        let now = self.now_unix();
        self.tokens.entry(token.to_string()).or_insert(TokenInfo {
            expires_at: 0,
            data_access_expires_at: 0,
            issued_at: now,
            kind: "SYSTEM_USER",
        });
    }

    fn token_state(&self, token: &str) -> TokenState {
        let Some(info) = self.tokens.get(token) else {
            return TokenState::Unknown;
        };
        if !self.numbers.values().any(|n| n.tokens.contains(token)) {
            return TokenState::Invalidated;
        }
        if info.expires_at != 0 && info.expires_at <= self.now_unix() {
            return TokenState::Expired(info.expires_at);
        }
        TokenState::Valid
    }

    /// 190 unless the token is valid somewhere.
    fn check_token(&self, token: Option<&str>) -> Result<(), Reply> {
        let Some(token) = token else {
            return Err(token_error(&TokenState::Unknown, self.now_unix()));
        };
        match self.token_state(token) {
            TokenState::Valid => Ok(()),
            other => Err(token_error(&other, self.now_unix())),
        }
    }

    /// The token is valid and was issued for this number.
    fn authorize_number(&self, token: Option<&str>, id: &str, verb: &str) -> Result<(), Reply> {
        self.check_token(token)?;
        match self.numbers.get(id) {
            Some(n) if token.is_some_and(|t| n.tokens.contains(t)) => Ok(()),
            _ => Err(no_such_object(verb, id)),
        }
    }

    fn token_can_use(&self, token: Option<&str>, phone_number_id: &str) -> bool {
        token.is_some_and(|t| {
            self.token_state(t) == TokenState::Valid
                && self
                    .numbers
                    .get(phone_number_id)
                    .is_some_and(|n| n.tokens.contains(t))
        })
    }

    fn fresh_media_id(&self) -> String {
        loop {
            let id =
                rand::random_range(1_000_000_000_000_000u64..10_000_000_000_000_000).to_string();
            if !self.media.iter().any(|m| m.id == id) && !self.numbers.contains_key(&id) {
                return id;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The handle

/// A running fake Graph API. Clones share the same server and state.
#[derive(Clone)]
pub struct FakeMeta {
    inner: Shared,
    addr: SocketAddr,
    _server: Arc<ServerGuard>,
}

struct ServerGuard(tokio::task::JoinHandle<()>);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl FakeMeta {
    /// Starts the server on 127.0.0.1, on a free port. Graph routes live
    /// under any version prefix: `/{version}/...`.
    pub async fn start() -> FakeMeta {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Graph API");
        let addr = listener.local_addr().expect("local address");
        let inner = Arc::new(Mutex::new(Inner::new(format!("http://{addr}"))));
        let app = axum::Router::new()
            .fallback(entry)
            .with_state(inner.clone());
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeMeta {
            inner,
            addr,
            _server: Arc::new(ServerGuard(handle)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// `http://127.0.0.1:PORT` (the client appends `/{version}/...`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Registers a business number (display number as digits, as in
    /// webhooks) and an access token allowed to use it. The token never
    /// expires unless `set_token_expiry` says otherwise.
    pub fn add_number(&self, phone_number_id: &str, display_phone_number: &str, token: &str) {
        let mut g = self.lock();
        g.ensure_token(token);
        g.numbers.insert(
            phone_number_id.to_string(),
            Number {
                display_digits: display_phone_number
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect(),
                tokens: HashSet::from([token.to_string()]),
                waba_id: DEFAULT_WABA_ID.into(),
                verified_name: "ONG Sante".into(),
                quality_rating: "GREEN".into(),
            },
        );
    }

    /// Rotates the number's token: only `token` is accepted for it from now
    /// on (a replaced token that no other number uses becomes invalid).
    pub fn set_token(&self, phone_number_id: &str, token: &str) {
        let mut g = self.lock();
        g.ensure_token(token);
        let number = g
            .numbers
            .get_mut(phone_number_id)
            .expect("set_token: unknown phone number id");
        number.tokens = HashSet::from([token.to_string()]);
    }

    /// Sets a token's `expires_at` (Unix seconds, 0 = never). A past value
    /// makes Graph calls with it answer 190 and `debug_token` report it
    /// invalid.
    pub fn set_token_expiry(&self, token: &str, unix_secs: i64) {
        let mut g = self.lock();
        g.ensure_token(token);
        if let Some(info) = g.tokens.get_mut(token) {
            info.expires_at = unix_secs;
        }
    }

    /// The WABA id put in the status webhooks of this number.
    pub fn set_waba_id(&self, phone_number_id: &str, waba_id: &str) {
        if let Some(n) = self.lock().numbers.get_mut(phone_number_id) {
            n.waba_id = waba_id.to_string();
        }
    }

    /// GREEN (default), YELLOW, RED or UNKNOWN.
    pub fn set_quality_rating(&self, phone_number_id: &str, rating: &str) {
        if let Some(n) = self.lock().numbers.get_mut(phone_number_id) {
            n.quality_rating = rating.to_string();
        }
    }

    pub fn set_verified_name(&self, phone_number_id: &str, name: &str) {
        if let Some(n) = self.lock().numbers.get_mut(phone_number_id) {
            n.verified_name = name.to_string();
        }
    }

    /// The app for `debug_token` (`access_token={app_id}|{app_secret}`) and
    /// the token exchange. Default: `DEFAULT_APP_ID` / `DEFAULT_APP_SECRET`.
    pub fn set_app(&self, app_id: &str, app_secret: &str) {
        let mut g = self.lock();
        g.app_id = app_id.to_string();
        g.app_secret = app_secret.to_string();
    }

    /// `{app_id}|{app_secret}`, the app access token `debug_token` wants.
    pub fn app_token(&self) -> String {
        let g = self.lock();
        format!("{}|{}", g.app_id, g.app_secret)
    }

    /// Every accepted send, in arrival order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// The texts of accepted sends to `to` (with or without `+`), in order:
    /// `text.body`, `interactive.body.text`, or a media caption. Sends that
    /// failed afterwards (closed window, ...) are included; see
    /// `delivered_texts_to`.
    pub fn sent_texts_to(&self, to: &str) -> Vec<String> {
        self.texts_to(to, false)
    }

    /// As `sent_texts_to`, without the sends that got a `failed` status.
    pub fn delivered_texts_to(&self, to: &str) -> Vec<String> {
        self.texts_to(to, true)
    }

    fn texts_to(&self, to: &str, only_delivered: bool) -> Vec<String> {
        let to = to.strip_prefix('+').unwrap_or(to);
        self.lock()
            .sent
            .iter()
            .filter(|m| m.to == to && !(only_delivered && m.failed_with.is_some()))
            .filter_map(|m| {
                let b = &m.body;
                let text = match m.kind.as_str() {
                    "text" => &b["text"]["body"],
                    "interactive" => &b["interactive"]["body"]["text"],
                    "image" | "video" | "document" => &b[m.kind.as_str()]["caption"],
                    _ => &Value::Null,
                };
                text.as_str().map(str::to_string)
            })
            .collect()
    }

    /// Every request seen (method, path, status answered), rejected ones
    /// too, in the order answered.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.lock().requests.clone()
    }

    /// The next `n` message sends (`POST /{id}/messages`, not mark-as-read)
    /// answer this failure, then normal service resumes. Calls add up. A
    /// request takes one only once it passed the bearer check and its body
    /// parsed as JSON with `messaging_product`; the body is not validated.
    pub fn fail_next_sends(&self, n: usize, failure: Failure) {
        let mut g = self.lock();
        for _ in 0..n {
            g.fail_next_sends.push_back(failure.clone());
        }
    }

    /// The next `n` mark-as-read requests answer this failure.
    pub fn fail_next_mark_reads(&self, n: usize, failure: Failure) {
        let mut g = self.lock();
        for _ in 0..n {
            g.fail_next_mark_reads.push_back(failure.clone());
        }
    }

    /// The next `n` sends are accepted (200) and then fail asynchronously:
    /// their only status webhook is `failed` with this code (131026, ...).
    pub fn fail_next_sends_async(&self, n: usize, code: i64) {
        let mut g = self.lock();
        for _ in 0..n {
            g.async_failures.push_back(code);
        }
    }

    /// Until cleared with `None`: every request (any route) gets this failure.
    pub fn fail_all(&self, failure: Option<Failure>) {
        self.lock().fail_all = failure;
    }

    /// Every answer waits this long first.
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.lock().delay = delay;
    }

    /// Closes the 24-hour window for a recipient (with or without `+`):
    /// free-form sends to them are accepted (200), then get a `failed`
    /// status with 131047; templates pass.
    pub fn close_window(&self, to: &str) {
        let to = to.strip_prefix('+').unwrap_or(to).to_string();
        self.lock().closed_windows.insert(to);
    }

    pub fn open_window(&self, to: &str) {
        let to = to.strip_prefix('+').unwrap_or(to);
        self.lock().closed_windows.remove(to);
    }

    /// The status webhooks produced since the last call, as Meta would post
    /// them (one per transition), oldest first. Not posted by the fake: post
    /// them with `signed_webhook`, in any order.
    pub fn take_status_payloads(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.lock().status_payloads)
    }

    /// The statuses produced for a successful send, in order. Default
    /// `["sent", "delivered", "read"]`; e.g. `["sent", "read"]` for a
    /// skipped `delivered`, `[]` for none.
    pub fn set_status_sequence(&self, statuses: &[&str]) {
        self.lock().status_sequence = statuses.iter().map(|s| s.to_string()).collect();
    }

    /// A wamid of an inbound message, so that marking it read succeeds.
    pub fn add_inbound_wamid(&self, wamid: &str) {
        self.lock().inbound_wamids.insert(wamid.to_string());
    }

    /// Takes note of an inbound webhook body (as built by `WebhookBuilder`):
    /// its message wamids can be marked read and each sender's window opens
    /// (a user message opens the window, A.8).
    pub fn note_inbound(&self, webhook_body: &[u8]) {
        let Ok(v) = serde_json::from_slice::<Value>(webhook_body) else {
            return;
        };
        let mut g = self.lock();
        for entry in v["entry"].as_array().into_iter().flatten() {
            for change in entry["changes"].as_array().into_iter().flatten() {
                for m in change["value"]["messages"].as_array().into_iter().flatten() {
                    if let Some(id) = m["id"].as_str() {
                        g.inbound_wamids.insert(id.to_string());
                    }
                    if let Some(from) = m["from"].as_str() {
                        g.closed_windows.remove(from);
                    }
                }
            }
        }
    }

    /// The wamids marked read, in order.
    pub fn marked_read(&self) -> Vec<String> {
        self.lock().marked_read.clone()
    }

    /// Every accepted upload (and `add_media`), deleted ones flagged.
    pub fn uploaded_media(&self) -> Vec<UploadedMedia> {
        self.lock().media.clone()
    }

    /// Media the fake holds for a number, e.g. the image of an inbound
    /// webhook; returns its id for `WebhookBuilder::image`.
    pub fn add_media(&self, phone_number_id: &str, mime: &str, bytes: &[u8]) -> String {
        let mut g = self.lock();
        let id = g.fresh_media_id();
        g.media.push(UploadedMedia {
            id: id.clone(),
            phone_number_id: phone_number_id.to_string(),
            mime: mime.to_string(),
            filename: String::new(),
            bytes: bytes.to_vec(),
            deleted: false,
        });
        id
    }

    /// Every media URL handed out so far now answers 404.
    pub fn expire_media_urls(&self) {
        for url in self.lock().media_urls.values_mut() {
            url.revoked = true;
        }
    }

    /// Moves the fake's clock forward (media URL and token expiry, webhook
    /// timestamps).
    pub fn advance_clock(&self, by: Duration) {
        self.lock().clock_offset += by;
    }

    /// Messages per second allowed per number (`None`: unlimited, the
    /// default). Over it, sends answer 130429.
    pub fn set_rate_limit(&self, per_second: Option<u32>) {
        self.lock().rate_limit = per_second;
    }
}

// ---------------------------------------------------------------------------
// Answers

enum Reply {
    Http {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
        retry_after: Option<u64>,
    },
    Reset,
}

impl Reply {
    fn json(status: u16, v: &Value) -> Reply {
        Reply::Http {
            status,
            content_type: "application/json; charset=UTF-8",
            body: v.to_string().into_bytes(),
            retry_after: None,
        }
    }
}

/// A body whose first poll is an error: hyper then drops the connection
/// without writing the (still buffered) response head.
struct ResetBody;

impl http_body::Body for ResetBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection reset",
        ))))
    }
}

fn render(reply: Reply) -> (Response, u16) {
    match reply {
        Reply::Reset => (Response::new(Body::new(ResetBody)), 0),
        Reply::Http {
            status,
            content_type,
            body,
            retry_after,
        } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut b = Response::builder().status(code);
            if !content_type.is_empty() {
                b = b.header(header::CONTENT_TYPE, content_type);
            }
            if let Some(secs) = retry_after {
                b = b.header(header::RETRY_AFTER, secs.to_string());
            }
            let resp = b
                .body(Body::from(body))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
            (resp, code.as_u16())
        }
    }
}

/// Title and `error_data.details` of the codes of reference A.7.
fn error_info(code: i64) -> (&'static str, &'static str) {
    match code {
        0 => (
            "AuthException",
            "We were unable to authenticate the app user.",
        ),
        1 => (
            "An unknown error occurred",
            "Invalid request or possible server error.",
        ),
        2 => (
            "Service temporarily unavailable",
            "Temporary due to downtime or due to being overloaded.",
        ),
        3 => (
            "Capability or permissions issue",
            "The app lacks the capability or permission for this action.",
        ),
        4 => (
            "Application request limit reached",
            "The app has reached its API call rate limit.",
        ),
        10 => (
            "Application does not have permission for this action",
            "Permission is either not granted or has been removed.",
        ),
        100 => ("Invalid parameter", "Invalid parameter."),
        190 => (
            "Invalid OAuth access token",
            "The access token has expired or is invalid.",
        ),
        200..=299 => (
            "Permissions error",
            "Permission is either not granted or has been removed.",
        ),
        368 => (
            "Temporarily blocked for policies violations",
            "The WhatsApp Business Account is restricted for policy violations.",
        ),
        80007 => (
            "Rate limit issues",
            "The WhatsApp Business Account has reached its rate limit.",
        ),
        130429 => (
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
        ),
        130472 => (
            "User's number is part of an experiment",
            "Failed to send message because this user's phone number is part of an experiment.",
        ),
        130497 => (
            "Business account is restricted from messaging users in this country",
            "The business account is restricted from messaging users in this country.",
        ),
        131000 => (
            "Something went wrong",
            "Message failed to send due to an unknown error.",
        ),
        131005 => (
            "Access denied",
            "Permission is either not granted or has been removed.",
        ),
        131008 => (
            "Required parameter is missing",
            "The request is missing a required parameter.",
        ),
        131009 => (
            "Parameter value is not valid",
            "One or more parameter values are invalid.",
        ),
        131016 => (
            "Service unavailable",
            "A service is temporarily unavailable.",
        ),
        131021 => (
            "Recipient cannot be sender",
            "Sender and recipient phone number is the same.",
        ),
        131026 => ("Message undeliverable", "Unable to deliver message."),
        131030 => (
            "Recipient phone number not in allowed list",
            "Recipient phone number not in allowed list.",
        ),
        131031 => (
            "Business Account locked",
            "The WhatsApp Business Account associated with the app has been restricted or disabled.",
        ),
        131042 => (
            "Business eligibility payment issue",
            "There was an error related to your payment method.",
        ),
        131045 => (
            "Incorrect certificate",
            "Message failed to send due to a phone number registration error.",
        ),
        131047 => (
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        ),
        131048 => (
            "Spam rate limit hit",
            "Message failed to send because there are restrictions on how many messages can be sent from this phone number.",
        ),
        131049 => (
            "This message was not delivered to maintain healthy ecosystem engagement.",
            "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
        ),
        131050 => (
            "User has stopped marketing messages",
            "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
        ),
        131051 => ("Unsupported message type", "Unsupported message type."),
        131052 => (
            "Media download error",
            "Unable to download the media sent by the user.",
        ),
        131053 => (
            "Media upload error",
            "Unable to upload the media used in the message.",
        ),
        131056 => (
            "(Business Account, Consumer Account) pair rate limit hit",
            "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.",
        ),
        131057 => (
            "Account in maintenance mode",
            "Business Account is in maintenance mode.",
        ),
        131062 => (
            "Business-scoped user id recipients not supported",
            "This message cannot be sent to a business-scoped user id.",
        ),
        132000 => (
            "Number of parameters does not match the expected number of params",
            "The number of variable parameter values does not match the template.",
        ),
        132001 => (
            "Template name does not exist in the translation",
            "The template does not exist in the specified language or has not been approved.",
        ),
        132012 => (
            "Parameter format does not match format in the created template",
            "Variable parameter values formatted incorrectly.",
        ),
        132015 => (
            "Template is Paused",
            "Template is paused due to low quality.",
        ),
        132016 => (
            "Template is Disabled",
            "Template has been paused too many times due to low quality.",
        ),
        135000 => (
            "Generic user error",
            "Message failed to send because of an unknown error with your request parameters.",
        ),
        _ => ("Unknown error", "An error occurred."),
    }
}

fn default_status(code: i64) -> u16 {
    match code {
        190 => 401,
        1 | 131000 => 500,
        2 | 131016 => 503,
        _ => 400,
    }
}

fn fbtrace_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut s = String::from("A");
    for _ in 0..22 {
        s.push(ALPHABET[rand::random_range(0..ALPHABET.len())] as char);
    }
    s
}

fn error_body(code: i64, message: &str, details: Option<&str>, subcode: Option<i64>) -> Value {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": fbtrace_id(),
    });
    if let Some(details) = details {
        error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
    }
    if let Some(sub) = subcode {
        error["error_subcode"] = json!(sub);
    }
    json!({ "error": error })
}

/// A WhatsApp error with its default HTTP status and these details.
fn wa_error(code: i64, details: impl Into<String>) -> Reply {
    let (title, _) = error_info(code);
    let details = details.into();
    Reply::json(
        default_status(code),
        &error_body(code, &format!("(#{code}) {title}"), Some(&details), None),
    )
}

fn failure_reply(f: &Failure) -> Reply {
    let coded = |code: i64, status: u16, retry_after: Option<u64>| {
        let (title, details) = error_info(code);
        let body = if code == 190 {
            error_body(
                190,
                "Error validating access token: The session has been invalidated.",
                None,
                Some(460),
            )
        } else {
            error_body(code, &format!("(#{code}) {title}"), Some(details), None)
        };
        Reply::Http {
            status,
            content_type: "application/json; charset=UTF-8",
            body: body.to_string().into_bytes(),
            retry_after,
        }
    };
    match *f {
        Failure::Code(c) => coded(c, default_status(c), None),
        Failure::CodeWithStatus(c, s) => coded(c, s, None),
        Failure::CodeWithRetryAfter(c, secs) => coded(c, default_status(c), Some(secs)),
        Failure::Status(s) => {
            let reason = StatusCode::from_u16(s)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("Error");
            Reply::Http {
                status: s,
                content_type: "text/html",
                body: format!("<html><body><h1>{s} {reason}</h1></body></html>").into_bytes(),
                retry_after: None,
            }
        }
        Failure::Reset => Reply::Reset,
    }
}

fn token_error(state: &TokenState, now: i64) -> Reply {
    let (message, subcode) = match state {
        TokenState::Expired(at) => (
            format!(
                "Error validating access token: Session has expired at unix time {at}. The current unix time is {now}."
            ),
            Some(463),
        ),
        TokenState::Invalidated => (
            "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.".to_string(),
            Some(460),
        ),
        _ => (
            "Invalid OAuth access token - Cannot parse access token".to_string(),
            None,
        ),
    };
    Reply::json(401, &error_body(190, &message, None, subcode))
}

fn no_such_object(verb: &str, id: &str) -> Reply {
    Reply::json(
        400,
        &error_body(
            100,
            &format!(
                "Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
            None,
            Some(33),
        ),
    )
}

fn not_found(path: &str) -> Reply {
    Reply::json(
        404,
        &error_body(100, &format!("Unknown path components: {path}"), None, None),
    )
}

fn graph_error(status: u16, code: i64, message: &str) -> Reply {
    Reply::json(status, &error_body(code, message, None, None))
}

// ---------------------------------------------------------------------------
// Routing

struct Req<'a> {
    method: &'a str,
    path: &'a str,
    query: Vec<(String, String)>,
    headers: &'a HeaderMap,
    body: &'a [u8],
    token: Option<String>,
}

impl Req<'_> {
    fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

async fn entry(State(shared): State<Shared>, req: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await;
    let (delay, global) = {
        let g = lock(&shared);
        (g.delay, g.fail_all.clone())
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let body_bytes = bytes.as_ref().map(|b| b.to_vec()).unwrap_or_default();
    let reply = match (&bytes, global) {
        (_, Some(f)) => failure_reply(&f),
        (Err(_), None) => graph_error(413, 100, "(#100) Request body too large or unreadable"),
        (Ok(b), None) => {
            let query_pairs = form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect::<Vec<_>>();
            let token = bearer(&parts.headers).or_else(|| {
                query_pairs
                    .iter()
                    .find(|(k, _)| k == "access_token")
                    .map(|(_, v)| v.clone())
            });
            let r = Req {
                method: parts.method.as_str(),
                path: &path,
                query: query_pairs,
                headers: &parts.headers,
                body: b,
                token,
            };
            let mut g = lock(&shared);
            route(&mut g, &r)
        }
    };
    let (response, status) = render(reply);
    lock(&shared).requests.push(SeenRequest {
        method: parts.method.to_string(),
        path,
        query,
        status,
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: body_bytes,
        at,
    });
    response
}

fn is_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let mut it = rest.splitn(2, '.');
    let major = it.next().unwrap_or("");
    let minor = it.next().unwrap_or("0");
    !major.is_empty()
        && major.bytes().all(|b| b.is_ascii_digit())
        && !minor.is_empty()
        && minor.bytes().all(|b| b.is_ascii_digit())
}

fn route(inner: &mut Inner, r: &Req) -> Reply {
    let mut segs: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    if segs.len() > 1 && segs.last() == Some(&"") {
        segs.pop();
    }
    if segs.first() == Some(&"lookaside") {
        return lookaside(inner, r, &segs);
    }
    let Some((version, rest)) = segs.split_first() else {
        return not_found(r.path);
    };
    if !is_version(version) {
        return not_found(r.path);
    }
    let verb = r.method.to_ascii_lowercase();
    match (r.method, rest) {
        ("GET", ["debug_token"]) => debug_token(inner, r),
        ("GET", ["oauth", "access_token"]) => oauth_exchange(inner, r),
        ("POST", [id, "messages"]) => post_messages(inner, r, version, id),
        ("POST", [id, "media"]) => upload_media(inner, r, id),
        ("GET", [id]) => get_object(inner, r, id),
        ("DELETE", [id]) => delete_object(inner, r, id),
        (_, [id] | [id, "messages" | "media"]) if !id.is_empty() => {
            match inner.check_token(r.token.as_deref()) {
                Err(e) => e,
                Ok(()) => no_such_object(&verb, id),
            }
        }
        _ => not_found(r.path),
    }
}

// ---------------------------------------------------------------------------
// Request validation helpers

type V<T> = Result<T, Reply>;

fn missing(path: &str) -> Reply {
    wa_error(131008, format!("The parameter {path} is required."))
}

fn invalid(path: &str, why: &str) -> Reply {
    wa_error(100, format!("Param {path} {why}"))
}

fn bad_value(details: impl Into<String>) -> Reply {
    wa_error(131009, details)
}

fn field<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn need_obj<'a>(obj: &'a Value, key: &str, path: &str) -> V<&'a Value> {
    match field(obj, key) {
        None => Err(missing(path)),
        Some(v) if v.is_object() => Ok(v),
        Some(_) => Err(invalid(path, "must be a JSON object.")),
    }
}

fn opt_obj<'a>(obj: &'a Value, key: &str, path: &str) -> V<Option<&'a Value>> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) if v.is_object() => Ok(Some(v)),
        Some(_) => Err(invalid(path, "must be a JSON object.")),
    }
}

fn need_str<'a>(obj: &'a Value, key: &str, path: &str) -> V<&'a str> {
    match field(obj, key) {
        None => Err(missing(path)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(path, "must be a string.")),
    }
}

fn opt_str<'a>(obj: &'a Value, key: &str, path: &str) -> V<Option<&'a str>> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(path, "must be a string.")),
    }
}

fn need_array<'a>(obj: &'a Value, key: &str, path: &str) -> V<&'a Vec<Value>> {
    match field(obj, key) {
        None => Err(missing(path)),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(invalid(path, "must be an array.")),
    }
}

fn nchars(s: &str) -> usize {
    s.chars().count()
}

/// Free text: 1..=max characters, else 100.
fn text_len(s: &str, max: usize, path: &str) -> V<()> {
    if s.is_empty() {
        return Err(invalid(path, "must be at least 1 character long."));
    }
    if nchars(s) > max {
        return Err(invalid(
            path,
            &format!("must be at most {max} characters long."),
        ));
    }
    Ok(())
}

/// A structured field (button title, row id...): 1..=max, else 131009.
fn field_len(s: &str, max: usize, what: &str) -> V<()> {
    let n = nchars(s);
    if n == 0 || n > max {
        return Err(bad_value(format!(
            "{what} length invalid. Min length: 1, Max length: {max}"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// POST /{phone-number-id}/messages

fn post_messages(inner: &mut Inner, r: &Req, version: &str, pnid: &str) -> Reply {
    if let Err(e) = inner.authorize_number(r.token.as_deref(), pnid, "post") {
        return e;
    }
    let content_type = r
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if content_type.as_deref() != Some("application/json") {
        return wa_error(
            100,
            "The request body must be JSON with Content-Type: application/json.",
        );
    }
    let body: Value = match serde_json::from_slice(r.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return wa_error(100, "The request body is not a valid JSON object."),
    };
    match need_str(&body, "messaging_product", "messaging_product") {
        Err(e) => return e,
        Ok("whatsapp") => {}
        Ok(_) => return invalid("messaging_product", "must be 'whatsapp'."),
    }
    if field(&body, "status").is_some() {
        return mark_read(inner, &body);
    }
    if let Some(f) = inner.fail_next_sends.pop_front() {
        return failure_reply(&f);
    }
    match validate_send(inner, &body) {
        Err(e) => e,
        Ok(v) => {
            if let Some(limit) = inner.rate_limit {
                let now = Instant::now();
                let recent = inner.recent_sends.entry(pnid.to_string()).or_default();
                while recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
                {
                    recent.pop_front();
                }
                if recent.len() >= limit as usize {
                    return wa_error(130429, error_info(130429).1);
                }
                recent.push_back(now);
            }
            accept_send(inner, version, pnid, body, v)
        }
    }
}

struct ValidSend {
    /// Window / record key: digits of `to`, or the `recipient` user id.
    key: String,
    contact: Value,
    by_user_id: bool,
    kind: String,
    /// A media id the fake does not hold (the send will fail with 131053).
    unknown_media: Option<String>,
}

fn validate_send(inner: &Inner, body: &Value) -> V<ValidSend> {
    let (key, contact, by_user_id) = match (field(body, "to"), field(body, "recipient")) {
        (Some(Value::String(to)), _) => {
            let digits = to.strip_prefix('+').unwrap_or(to);
            if !(5..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(
                    "to",
                    "must be a phone number in E.164 format, with or without '+'.",
                ));
            }
            (
                digits.to_string(),
                json!({"input": to, "wa_id": digits}),
                false,
            )
        }
        (Some(_), _) => return Err(invalid("to", "must be a string.")),
        (None, Some(Value::String(user))) if !user.is_empty() => {
            (user.clone(), json!({"input": user, "user_id": user}), true)
        }
        (None, Some(_)) => return Err(invalid("recipient", "must be a non-empty string.")),
        (None, None) => return Err(missing("to")),
    };
    if let Some(rt) = opt_str(body, "recipient_type", "recipient_type")?
        && rt != "individual"
        && rt != "group"
    {
        return Err(invalid("recipient_type", "must be 'individual'."));
    }
    if let Some(ctx) = opt_obj(body, "context", "context")? {
        need_str(ctx, "message_id", "context['message_id']")?;
    }
    opt_str(body, "biz_opaque_callback_data", "biz_opaque_callback_data")?;
    let kind = need_str(body, "type", "type")?;
    let media_id = match kind {
        "text" => validate_text(body).map(|()| None)?,
        "image" | "audio" | "video" | "document" | "sticker" => {
            let m = need_obj(body, kind, kind)?;
            validate_media(m, kind)?
        }
        "interactive" => validate_interactive(body).map(|()| None)?,
        "template" => validate_template(body).map(|()| None)?,
        "location" => {
            let l = need_obj(body, "location", "location")?;
            for k in ["latitude", "longitude"] {
                let path = format!("location['{k}']");
                match field(l, k) {
                    None => return Err(missing(&path)),
                    Some(v) if v.is_number() => {}
                    Some(_) => return Err(invalid(&path, "must be a number.")),
                }
            }
            None
        }
        "contacts" => {
            let c = need_array(body, "contacts", "contacts")?;
            if c.is_empty() {
                return Err(bad_value("At least one contact is required."));
            }
            None
        }
        "reaction" => {
            let re = need_obj(body, "reaction", "reaction")?;
            need_str(re, "message_id", "reaction['message_id']")?;
            need_str(re, "emoji", "reaction['emoji']")?;
            None
        }
        other => {
            return Err(wa_error(
                131051,
                format!("Message type {other} is not supported."),
            ));
        }
    };
    let unknown_media =
        media_id.filter(|id| !inner.media.iter().any(|m| &m.id == id && !m.deleted));
    Ok(ValidSend {
        key,
        contact,
        by_user_id,
        kind: kind.to_string(),
        unknown_media,
    })
}

fn validate_text(body: &Value) -> V<()> {
    let text = need_obj(body, "text", "text")?;
    match field(text, "body") {
        None => return Err(wa_error(100, "The parameter text['body'] is required.")),
        Some(Value::String(b)) => text_len(b, 4096, "text['body']")?,
        Some(_) => return Err(invalid("text['body']", "must be a string.")),
    }
    if let Some(p) = field(text, "preview_url")
        && !p.is_boolean()
    {
        return Err(invalid("text['preview_url']", "must be a boolean."));
    }
    Ok(())
}

/// A media object (`{"id"}` or `{"link"}`); the id, if any.
fn validate_media(m: &Value, kind: &str) -> V<Option<String>> {
    let id = opt_str(m, "id", &format!("{kind}['id']"))?;
    let link = opt_str(m, "link", &format!("{kind}['link']"))?;
    for k in ["caption", "filename"] {
        opt_str(m, k, &format!("{kind}['{k}']"))?;
    }
    match (id, link) {
        (None, None) => Err(wa_error(
            131008,
            format!("The parameter {kind}['id'] or {kind}['link'] is required."),
        )),
        (Some(_), Some(_)) => Err(invalid(
            kind,
            "must contain either 'id' or 'link', not both.",
        )),
        (Some(id), None) => {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(
                    &format!("{kind}['id']"),
                    "is not a valid media id.",
                ));
            }
            Ok(Some(id.to_string()))
        }
        (None, Some(link)) => {
            if !(link.starts_with("https://") || link.starts_with("http://")) {
                return Err(invalid(
                    &format!("{kind}['link']"),
                    "must be an http(s) URL.",
                ));
            }
            Ok(None)
        }
    }
}

fn validate_interactive(body: &Value) -> V<()> {
    let i = need_obj(body, "interactive", "interactive")?;
    let itype = need_str(i, "type", "interactive['type']")?;
    let (body_max, is_list) = match itype {
        "button" => (1024, false),
        "list" => (4096, true),
        "cta_url"
        | "flow"
        | "location_request_message"
        | "address_message"
        | "product"
        | "product_list"
        | "catalog_message"
        | "call_permission_request" => {
            need_obj(i, "action", "interactive['action']")?;
            return Ok(());
        }
        _ => {
            return Err(invalid(
                "interactive['type']",
                "must be one of {button, list, cta_url, flow, location_request_message, address_message, product, product_list, catalog_message, call_permission_request}.",
            ));
        }
    };
    let b = need_obj(i, "body", "interactive['body']")?;
    let text = need_str(b, "text", "interactive['body']['text']")?;
    text_len(text, body_max, "interactive['body']['text']")?;
    if let Some(f) = opt_obj(i, "footer", "interactive['footer']")? {
        let t = need_str(f, "text", "interactive['footer']['text']")?;
        text_len(t, 60, "interactive['footer']['text']")?;
    }
    if let Some(h) = opt_obj(i, "header", "interactive['header']")? {
        let htype = need_str(h, "type", "interactive['header']['type']")?;
        match htype {
            "text" => {
                let t = need_str(h, "text", "interactive['header']['text']")?;
                text_len(t, 60, "interactive['header']['text']")?;
            }
            "image" | "video" | "document" if !is_list => {
                let m = need_obj(h, htype, &format!("interactive['header']['{htype}']"))?;
                validate_media(m, htype)?;
            }
            _ if is_list => {
                return Err(invalid(
                    "interactive['header']['type']",
                    "must be 'text' for list messages.",
                ));
            }
            _ => {
                return Err(invalid(
                    "interactive['header']['type']",
                    "must be one of {text, image, video, document}.",
                ));
            }
        }
    }
    let action = need_obj(i, "action", "interactive['action']")?;
    if is_list {
        validate_list_action(action)
    } else {
        validate_buttons(action)
    }
}

fn validate_buttons(action: &Value) -> V<()> {
    let buttons = need_array(action, "buttons", "interactive['action']['buttons']")?;
    if buttons.is_empty() || buttons.len() > 3 {
        return Err(bad_value(
            "Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: 3",
        ));
    }
    let mut titles = HashSet::new();
    for (n, button) in buttons.iter().enumerate() {
        let path = format!("interactive['action']['buttons'][{n}]");
        if !button.is_object() {
            return Err(invalid(&path, "must be a JSON object."));
        }
        let btype = need_str(button, "type", &format!("{path}['type']"))?;
        if btype != "reply" {
            return Err(invalid(&format!("{path}['type']"), "must be 'reply'."));
        }
        let reply = need_obj(button, "reply", &format!("{path}['reply']"))?;
        let id = need_str(reply, "id", &format!("{path}['reply']['id']"))?;
        field_len(id, 256, "Button id")?;
        let title = need_str(reply, "title", &format!("{path}['reply']['title']"))?;
        field_len(title, 20, "Button title")?;
        if !titles.insert(title) {
            return Err(bad_value("Button title must be unique."));
        }
    }
    Ok(())
}

fn validate_list_action(action: &Value) -> V<()> {
    let label = need_str(action, "button", "interactive['action']['button']")?;
    field_len(label, 20, "Button label")?;
    let sections = need_array(action, "sections", "interactive['action']['sections']")?;
    if sections.is_empty() || sections.len() > 10 {
        return Err(bad_value(
            "Invalid sections count. Min allowed sections: 1, Max allowed sections: 10",
        ));
    }
    let mut total_rows = 0;
    for (s, section) in sections.iter().enumerate() {
        let path = format!("interactive['action']['sections'][{s}]");
        if !section.is_object() {
            return Err(invalid(&path, "must be a JSON object."));
        }
        match opt_str(section, "title", &format!("{path}['title']"))? {
            None if sections.len() > 1 => return Err(missing(&format!("{path}['title']"))),
            None => {}
            Some(t) => field_len(t, 24, "Section title")?,
        }
        let rows = need_array(section, "rows", &format!("{path}['rows']"))?;
        if rows.is_empty() {
            return Err(bad_value("Each section must have at least one row."));
        }
        total_rows += rows.len();
        if total_rows > 10 {
            return Err(bad_value("Total row count exceed max allowed count: 10"));
        }
        for (n, row) in rows.iter().enumerate() {
            let rpath = format!("{path}['rows'][{n}]");
            if !row.is_object() {
                return Err(invalid(&rpath, "must be a JSON object."));
            }
            let id = need_str(row, "id", &format!("{rpath}['id']"))?;
            field_len(id, 200, "Row id")?;
            let title = need_str(row, "title", &format!("{rpath}['title']"))?;
            field_len(title, 24, "Row title")?;
            if let Some(d) = opt_str(row, "description", &format!("{rpath}['description']"))? {
                field_len(d, 72, "Row description")?;
            }
        }
    }
    Ok(())
}

fn validate_template(body: &Value) -> V<()> {
    let t = need_obj(body, "template", "template")?;
    let name = need_str(t, "name", "template['name']")?;
    if name.is_empty() {
        return Err(missing("template['name']"));
    }
    let lang = need_obj(t, "language", "template['language']")?;
    let code = need_str(lang, "code", "template['language']['code']")?;
    if code.is_empty() {
        return Err(missing("template['language']['code']"));
    }
    if let Some(c) = field(t, "components")
        && !c.is_array()
    {
        return Err(invalid("template['components']", "must be an array."));
    }
    Ok(())
}

fn fresh_wamid(key: &str, counter: u64) -> String {
    let raw = format!("{key}{counter:08}{:016X}", rand::random::<u64>());
    format!(
        "wamid.HBgM{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn accept_send(inner: &mut Inner, version: &str, pnid: &str, body: Value, v: ValidSend) -> Reply {
    inner.counter += 1;
    let wamid = fresh_wamid(&v.key, inner.counter);
    let is_template = v.kind == "template";
    let failed_with = if !is_template && inner.closed_windows.contains(&v.key) {
        Some(131047)
    } else if let Some(code) = inner.async_failures.pop_front() {
        Some(code)
    } else if v.unknown_media.is_some() {
        Some(131053)
    } else {
        None
    };
    let opaque = body
        .get("biz_opaque_callback_data")
        .and_then(Value::as_str)
        .map(str::to_string);
    inner.sent.push(SentMessage {
        phone_number_id: pnid.to_string(),
        to: v.key.clone(),
        kind: v.kind.clone(),
        body,
        wamid: wamid.clone(),
        at: Instant::now(),
        version: version.to_string(),
        failed_with,
    });

    // Status webhooks (A.2), one per transition.
    let (display, waba) = inner
        .numbers
        .get(pnid)
        .map(|n| (n.display_digits.clone(), n.waba_id.clone()))
        .unwrap_or_default();
    let now = inner.now_unix();
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(u32::MAX);
    let mut statuses = Vec::new();
    let base = |status: &str, ts: i64| {
        let mut s = json!({"id": wamid, "status": status, "timestamp": ts.to_string()});
        if !v.by_user_id {
            s["recipient_id"] = json!(v.key);
        }
        if let Some(o) = &opaque {
            s["biz_opaque_callback_data"] = json!(o);
        }
        s
    };
    if let Some(code) = failed_with {
        let (title, details) = error_info(code);
        let mut s = base("failed", now);
        s["errors"] = json!([{
            "code": code,
            "title": title,
            "message": title,
            "error_data": {"details": details},
            "href": ERROR_HREF,
        }]);
        statuses.push(s);
    } else {
        let pricing = if is_template {
            json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "utility"})
        } else {
            json!({"billable": false, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"})
        };
        for (n, status) in inner.status_sequence.iter().enumerate() {
            let ts = now + n as i64;
            let mut s = base(status, ts);
            if status != "read" {
                s["pricing"] = pricing.clone();
            }
            if status == "sent" && major <= 23 {
                s["conversation"] = json!({
                    "id": format!("{:032x}", rand::random::<u128>()),
                    "expiration_timestamp": (now + 86_400).to_string(),
                    "origin": {"type": if is_template { "utility" } else { "service" }},
                });
            }
            statuses.push(s);
        }
    }
    for status in statuses {
        let mut value = json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": display, "phone_number_id": pnid},
            "statuses": [status],
        });
        if v.by_user_id {
            value["contacts"] = json!([{"user_id": v.key}]);
        }
        let entry = json!({"id": waba, "changes": [{"field": "messages", "value": value}]});
        inner.status_payloads.push(envelope(&[entry]));
    }

    let mut message = json!({"id": wamid});
    if is_template {
        message["message_status"] = json!("accepted");
    }
    Reply::json(
        200,
        &json!({
            "messaging_product": "whatsapp",
            "contacts": [v.contact],
            "messages": [message],
        }),
    )
}

fn mark_read(inner: &mut Inner, body: &Value) -> Reply {
    if let Some(f) = inner.fail_next_mark_reads.pop_front() {
        return failure_reply(&f);
    }
    match check_mark_read(inner, body) {
        Err(e) => e,
        Ok(id) => {
            inner.marked_read.push(id);
            Reply::json(200, &json!({"success": true}))
        }
    }
}

fn check_mark_read(inner: &Inner, body: &Value) -> V<String> {
    if need_str(body, "status", "status")? != "read" {
        return Err(invalid("status", "must be 'read'."));
    }
    let id = need_str(body, "message_id", "message_id")?;
    if let Some(ti) = opt_obj(body, "typing_indicator", "typing_indicator")?
        && need_str(ti, "type", "typing_indicator['type']")? != "text"
    {
        return Err(invalid("typing_indicator['type']", "must be 'text'."));
    }
    if !inner.inbound_wamids.contains(id) {
        return Err(bad_value(format!("Message with id {id} not found.")));
    }
    Ok(id.to_string())
}

// ---------------------------------------------------------------------------
// Media

struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        let at = hay.get(i..)?.iter().position(|b| *b == first)? + i;
        if hay.get(at..at + needle.len())? == needle {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

fn parse_multipart(content_type: &str, body: &[u8]) -> Option<Vec<Part>> {
    let boundary = content_type
        .split(';')
        .skip(1)
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    if boundary.is_empty() {
        return None;
    }
    let delim = format!("--{boundary}").into_bytes();
    let next_delim = [b"\r\n".as_slice(), &delim].concat();
    let mut pos = find(body, &delim, 0)? + delim.len();
    let mut parts = Vec::new();
    loop {
        let rest = body.get(pos..)?;
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        if !rest.starts_with(b"\r\n") {
            return None;
        }
        pos += 2;
        let head_end = find(body, b"\r\n\r\n", pos)?;
        let head = std::str::from_utf8(body.get(pos..head_end)?).ok()?;
        let data_start = head_end + 4;
        let data_end = find(body, &next_delim, data_start)?;
        let mut part = Part {
            name: String::new(),
            filename: None,
            content_type: None,
            data: body.get(data_start..data_end)?.to_vec(),
        };
        for line in head.split("\r\n") {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim().to_ascii_lowercase();
            if name == "content-type" {
                part.content_type = Some(value.trim().to_string());
            } else if name == "content-disposition" {
                for param in value.split(';').skip(1) {
                    let Some((k, v)) = param.trim().split_once('=') else {
                        continue;
                    };
                    let v = v.trim().trim_matches('"').to_string();
                    match k.trim() {
                        "name" => part.name = v,
                        "filename" => part.filename = Some(v),
                        _ => {}
                    }
                }
            }
        }
        parts.push(part);
        pos = data_end + next_delim.len();
    }
}

/// Size limit of a supported MIME type (A.6), `None` if unsupported.
fn media_limit(mime: &str) -> Option<usize> {
    const MB: usize = 1024 * 1024;
    Some(match mime {
        "image/jpeg" | "image/png" => 5 * MB,
        "image/webp" => 500 * 1024,
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => 16 * MB,
        "video/mp4" | "video/3gpp" => 16 * MB,
        "text/plain"
        | "application/pdf"
        | "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => 100 * MB,
        _ => return None,
    })
}

fn base_mime(m: &str) -> String {
    m.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn upload_media(inner: &mut Inner, r: &Req, pnid: &str) -> Reply {
    if let Err(e) = inner.authorize_number(r.token.as_deref(), pnid, "post") {
        return e;
    }
    let ct = r
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if base_mime(ct) != "multipart/form-data" {
        return wa_error(100, "Media uploads must be multipart/form-data.");
    }
    let Some(parts) = parse_multipart(ct, r.body) else {
        return wa_error(100, "The multipart/form-data body could not be parsed.");
    };
    let text_field = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .map(|p| String::from_utf8_lossy(&p.data).trim().to_string())
    };
    match text_field("messaging_product").as_deref() {
        None => return missing("messaging_product"),
        Some("whatsapp") => {}
        Some(_) => return invalid("messaging_product", "must be 'whatsapp'."),
    }
    let Some(file) = parts.iter().find(|p| p.name == "file") else {
        return missing("file");
    };
    let Some(filename) = file.filename.clone().filter(|f| !f.is_empty()) else {
        return wa_error(131008, "The parameter file must be a file with a filename.");
    };
    let Some(declared) = text_field("type").filter(|t| !t.is_empty()) else {
        return missing("type");
    };
    let declared = base_mime(&declared);
    let Some(limit) = media_limit(&declared) else {
        return wa_error(
            131053,
            format!("Param type: unsupported media type '{declared}'."),
        );
    };
    let file_type = file.content_type.as_deref().map(base_mime);
    if file_type.as_deref() != Some(declared.as_str()) {
        return wa_error(
            131053,
            format!(
                "Param file must be a file of type '{declared}'. Received file of type '{}'.",
                file_type.unwrap_or_else(|| "unknown".into())
            ),
        );
    }
    let magic_ok = match declared.as_str() {
        "image/jpeg" => file.data.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/png" => file.data.starts_with(b"\x89PNG\r\n\x1a\n"),
        _ => true,
    };
    if !magic_ok {
        return wa_error(
            131053,
            format!("Param file: the file content is not a valid '{declared}'."),
        );
    }
    if file.data.is_empty() || file.data.len() > limit {
        return wa_error(
            131053,
            format!(
                "Param file: size {} bytes is outside the allowed range for '{declared}' (max {limit} bytes).",
                file.data.len()
            ),
        );
    }
    let id = inner.fresh_media_id();
    inner.media.push(UploadedMedia {
        id: id.clone(),
        phone_number_id: pnid.to_string(),
        mime: declared,
        filename,
        bytes: file.data.clone(),
        deleted: false,
    });
    Reply::json(200, &json!({ "id": id }))
}

fn get_object(inner: &mut Inner, r: &Req, id: &str) -> Reply {
    let token = r.token.as_deref();
    if let Err(e) = inner.check_token(token) {
        return e;
    }
    if inner.numbers.contains_key(id) {
        if let Err(e) = inner.authorize_number(token, id, "get") {
            return e;
        }
        return number_fields(inner, r, id);
    }
    let Some(media) = inner
        .media
        .iter()
        .find(|m| m.id == id && !m.deleted && inner.token_can_use(token, &m.phone_number_id))
    else {
        return no_such_object("get", id);
    };
    if let Some(p) = r.q("phone_number_id")
        && p != media.phone_number_id
    {
        return wa_error(
            100,
            format!("Media {id} does not belong to phone number {p}."),
        );
    }
    let (mime, size, sha) = (
        media.mime.clone(),
        media.bytes.len(),
        hex::encode(Sha256::digest(&media.bytes)),
    );
    let hash = format!("{:032x}", rand::random::<u128>());
    let url = format!(
        "{}/lookaside/whatsapp_business/attachments/?mid={id}&ext={}&hash={hash}",
        inner.base_url,
        inner.now_unix()
    );
    let issued = inner.now();
    inner.media_urls.insert(
        hash,
        MediaUrl {
            media_id: id.to_string(),
            issued,
            revoked: false,
        },
    );
    Reply::json(
        200,
        &json!({
            "messaging_product": "whatsapp",
            "url": url,
            "mime_type": mime,
            "sha256": sha,
            "file_size": size,
            "id": id,
        }),
    )
}

fn delete_object(inner: &mut Inner, r: &Req, id: &str) -> Reply {
    let token = r.token.as_deref();
    if let Err(e) = inner.check_token(token) {
        return e;
    }
    let allowed: Vec<bool> = inner
        .media
        .iter()
        .map(|m| m.id == id && !m.deleted && inner.token_can_use(token, &m.phone_number_id))
        .collect();
    match allowed.iter().position(|a| *a) {
        Some(n) => {
            inner.media[n].deleted = true;
            Reply::json(200, &json!({"success": true}))
        }
        None => no_such_object("delete", id),
    }
}

fn lookaside(inner: &Inner, r: &Req, segs: &[&str]) -> Reply {
    let plain = |status: u16, text: &str| Reply::Http {
        status,
        content_type: "text/plain",
        body: text.as_bytes().to_vec(),
        retry_after: None,
    };
    if r.method != "GET" || segs != ["lookaside", "whatsapp_business", "attachments"] {
        return plain(404, "Not Found");
    }
    let token = r.token.as_deref();
    if token.is_none_or(|t| inner.token_state(t) != TokenState::Valid) {
        return token_error(&TokenState::Unknown, inner.now_unix());
    }
    let now = inner.now();
    let Some(url) = r.q("hash").and_then(|h| inner.media_urls.get(h)) else {
        return plain(404, "Not Found");
    };
    if url.revoked || now.saturating_sub(url.issued) >= MEDIA_URL_LIFETIME {
        return plain(404, "URL signature expired");
    }
    let Some(media) = inner
        .media
        .iter()
        .find(|m| m.id == url.media_id && !m.deleted)
    else {
        return plain(404, "Not Found");
    };
    if !inner.token_can_use(token, &media.phone_number_id) {
        return token_error(&TokenState::Unknown, inner.now_unix());
    }
    let content_type: &'static str = match media.mime.as_str() {
        "image/jpeg" => "image/jpeg",
        "image/png" => "image/png",
        "image/webp" => "image/webp",
        "audio/ogg" => "audio/ogg",
        "audio/mpeg" => "audio/mpeg",
        "audio/aac" => "audio/aac",
        "audio/amr" => "audio/amr",
        "audio/mp4" => "audio/mp4",
        "video/mp4" => "video/mp4",
        "video/3gpp" => "video/3gpp",
        "application/pdf" => "application/pdf",
        "text/plain" => "text/plain",
        _ => "application/octet-stream",
    };
    Reply::Http {
        status: 200,
        content_type,
        body: media.bytes.clone(),
        retry_after: None,
    }
}

// ---------------------------------------------------------------------------
// Tokens and the number

fn debug_token(inner: &Inner, r: &Req) -> Reply {
    let app_token = format!("{}|{}", inner.app_id, inner.app_secret);
    let access = r
        .q("access_token")
        .map(str::to_string)
        .or_else(|| r.token.clone());
    let allowed = match access.as_deref() {
        Some(a) if a == app_token => true,
        Some(a) => inner.token_state(a) == TokenState::Valid,
        None => false,
    };
    if !allowed {
        return Reply::json(
            401,
            &error_body(190, "Invalid OAuth access token signature.", None, None),
        );
    }
    let Some(input) = r.q("input_token").filter(|t| !t.is_empty()) else {
        return graph_error(400, 100, "(#100) The parameter input_token is required");
    };
    let state = inner.token_state(input);
    let Some(info) = inner.tokens.get(input) else {
        return Reply::json(
            200,
            &json!({"data": {
                "error": {"code": 190, "message": "Invalid OAuth access token."},
                "is_valid": false,
                "scopes": [],
            }}),
        );
    };
    let mut data = json!({
        "app_id": inner.app_id,
        "type": info.kind,
        "application": "uic-inbox",
        "data_access_expires_at": info.data_access_expires_at,
        "expires_at": info.expires_at,
        "is_valid": state == TokenState::Valid,
        "issued_at": info.issued_at,
        "scopes": ["whatsapp_business_messaging", "whatsapp_business_management"],
        "granular_scopes": [
            {"scope": "whatsapp_business_messaging"},
            {"scope": "whatsapp_business_management"},
        ],
        "user_id": "100000000000001",
    });
    let error = match state {
        TokenState::Expired(at) => Some((
            format!("Session has expired at unix time {at}."),
            463,
        )),
        TokenState::Invalidated => Some((
            "The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.".to_string(),
            460,
        )),
        _ => None,
    };
    if let Some((message, subcode)) = error {
        data["error"] = json!({"code": 190, "message": message, "subcode": subcode});
    }
    Reply::json(200, &json!({ "data": data }))
}

fn random_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::from("EAAG");
    for _ in 0..150 {
        s.push(ALPHABET[rand::random_range(0..ALPHABET.len())] as char);
    }
    s
}

fn oauth_exchange(inner: &mut Inner, r: &Req) -> Reply {
    match r.q("grant_type") {
        Some("fb_exchange_token") => {}
        _ => return graph_error(400, 100, "(#100) Unsupported grant_type"),
    }
    match r.q("client_id") {
        None | Some("") => return graph_error(400, 101, "Missing client_id parameter."),
        Some(id) if id != inner.app_id => {
            return graph_error(
                400,
                101,
                "Error validating application. Invalid application ID.",
            );
        }
        Some(_) => {}
    }
    if r.q("client_secret") != Some(inner.app_secret.as_str()) {
        return graph_error(400, 1, "Error validating client secret.");
    }
    let Some(old) = r.q("fb_exchange_token").filter(|t| !t.is_empty()) else {
        return graph_error(
            400,
            100,
            "(#100) The parameter fb_exchange_token is required",
        );
    };
    let state = inner.token_state(old);
    if state != TokenState::Valid {
        return token_error(&state, inner.now_unix());
    }
    let new = random_token();
    let now = inner.now_unix();
    inner.tokens.insert(
        new.clone(),
        TokenInfo {
            expires_at: now + LONG_LIVED_EXPIRES_IN,
            data_access_expires_at: now + 90 * 86_400,
            issued_at: now,
            kind: "USER",
        },
    );
    for n in inner.numbers.values_mut() {
        if n.tokens.contains(old) {
            n.tokens.insert(new.clone());
        }
    }
    Reply::json(
        200,
        &json!({"access_token": new, "token_type": "bearer", "expires_in": LONG_LIVED_EXPIRES_IN}),
    )
}

/// "+243 81 000 0000" from "243810000000" (a rough formatter: NANP, and
/// 1-, 2- or 3-digit country codes).
fn format_display(digits: &str) -> String {
    const TWO_DIGIT: &[&str] = &[
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    if digits.len() == 11 && digits.starts_with('1') {
        return format!("+1 {}-{}-{}", &digits[1..4], &digits[4..7], &digits[7..]);
    }
    let cc_len = if digits.starts_with('7') {
        1
    } else if digits.len() >= 2 && TWO_DIGIT.contains(&&digits[..2]) {
        2
    } else {
        3
    }
    .min(digits.len());
    let (cc, rest) = digits.split_at(cc_len);
    let groups: &[usize] = match rest.len() {
        8 => &[4, 4],
        9 => &[2, 3, 4],
        10 => &[3, 3, 4],
        _ => &[],
    };
    let mut out = format!("+{cc}");
    let mut at = 0;
    for g in groups {
        out.push(' ');
        out.push_str(&rest[at..at + g]);
        at += g;
    }
    if at < rest.len() {
        out.push(' ');
        out.push_str(&rest[at..]);
    }
    out
}

/// Top-level names of a `fields=` list (`throughput{level}` -> throughput).
fn field_names(fields: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in fields.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                names.push(std::mem::take(&mut current));
            }
            _ if depth == 0 => current.push(c),
            _ => {}
        }
    }
    names.push(current);
    names
        .into_iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

fn number_fields(inner: &Inner, r: &Req, id: &str) -> Reply {
    let Some(n) = inner.numbers.get(id) else {
        return no_such_object("get", id);
    };
    let all = json!({
        "id": id,
        "display_phone_number": format_display(&n.display_digits),
        "verified_name": n.verified_name,
        "quality_rating": n.quality_rating,
        "code_verification_status": "VERIFIED",
        "platform_type": "CLOUD_API",
        "throughput": {"level": "STANDARD"},
        "name_status": "APPROVED",
        "new_name_status": "NONE",
        "status": "CONNECTED",
        "account_mode": "LIVE",
        "is_official_business_account": false,
        "messaging_limit_tier": "TIER_1K",
        "whatsapp_business_manager_messaging_limit": "TIER_2K",
    });
    let default = [
        "verified_name",
        "code_verification_status",
        "display_phone_number",
        "quality_rating",
        "platform_type",
        "throughput",
    ];
    let wanted: Vec<String> = match r.q("fields") {
        Some(f) => field_names(f),
        None => default.iter().map(|s| s.to_string()).collect(),
    };
    let mut out = serde_json::Map::new();
    for name in wanted {
        match all.get(&name) {
            Some(v) => {
                out.insert(name, v.clone());
            }
            None => {
                return graph_error(
                    400,
                    100,
                    &format!(
                        "(#100) Tried accessing nonexisting field ({name}) on node type (WhatsAppBusinessPhoneNumber)"
                    ),
                );
            }
        }
    }
    out.insert("id".into(), json!(id));
    Reply::json(200, &Value::Object(out))
}

// ---------------------------------------------------------------------------
// Webhooks: bodies, signature, posting

/// JSON with every non-ASCII character written `\uXXXX` (lowercase hex,
/// surrogate pairs above the BMP), as Meta signs it (A.3).
pub fn meta_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// `{"object":"whatsapp_business_account","entry":[...]}`, escaped.
fn envelope(entries: &[Value]) -> Vec<u8> {
    let entries = Value::Array(entries.to_vec()).to_string();
    meta_escape(&format!(
        "{{\"object\":\"whatsapp_business_account\",\"entry\":{entries}}}"
    ))
    .into_bytes()
}

fn unix_now() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        .to_string()
}

/// Inbound webhook bodies as Meta posts them (A.2): consecutive items of the
/// same number and kind (messages or statuses) share one `change`; a new
/// number or kind starts a new change in the same entry; `entry_break`
/// starts a new entry. Modifiers (`with_*`) apply to the last item added.
#[derive(Debug, Clone)]
pub struct WebhookBuilder {
    entries: Vec<Value>,
    waba_id: String,
    new_entry: bool,
    /// entry, change, list ("messages"/"statuses"), index, contact index.
    last: Option<(usize, usize, &'static str, usize, Option<usize>)>,
}

impl Default for WebhookBuilder {
    fn default() -> Self {
        WebhookBuilder::new()
    }
}

#[allow(clippy::too_many_arguments)]
impl WebhookBuilder {
    pub fn new() -> WebhookBuilder {
        WebhookBuilder {
            entries: Vec::new(),
            waba_id: DEFAULT_WABA_ID.into(),
            new_entry: true,
            last: None,
        }
    }

    /// WABA id (`entry[].id`) for the entries started from now on.
    pub fn waba(mut self, waba_id: &str) -> Self {
        self.waba_id = waba_id.to_string();
        self
    }

    /// The next item goes into a new entry.
    pub fn entry_break(mut self) -> Self {
        self.new_entry = true;
        self
    }

    fn current_entry(&mut self) -> usize {
        if self.new_entry || self.entries.is_empty() {
            self.entries
                .push(json!({"id": self.waba_id, "changes": []}));
            self.new_entry = false;
        }
        self.entries.len() - 1
    }

    fn change_for(&mut self, pnid: &str, display: &str, list: &'static str) -> (usize, usize) {
        let e = self.current_entry();
        let changes = self.entries[e]["changes"]
            .as_array_mut()
            .expect("changes array");
        let reuse = changes.last().is_some_and(|c| {
            c["field"] == "messages"
                && c["value"]["metadata"]["phone_number_id"] == pnid
                && c["value"].get(list).is_some()
        });
        if !reuse {
            let mut value = json!({
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": display, "phone_number_id": pnid},
            });
            if list == "messages" {
                value["contacts"] = json!([]);
            }
            value[list] = json!([]);
            changes.push(json!({"field": "messages", "value": value}));
        }
        (e, changes.len() - 1)
    }

    fn value_mut(&mut self, e: usize, c: usize) -> &mut Value {
        &mut self.entries[e]["changes"][c]["value"]
    }

    /// Adds a raw `messages[]` element (any type, even unknown ones); a
    /// contact for `from` is added to the change unless already there.
    pub fn message(mut self, pnid: &str, display: &str, from: Option<&str>, msg: Value) -> Self {
        let (e, c) = self.change_for(pnid, display, "messages");
        let value = self.value_mut(e, c);
        let contact = from.map(|from| {
            let contacts = value["contacts"].as_array_mut().expect("contacts array");
            match contacts.iter().position(|k| k["wa_id"] == from) {
                Some(i) => i,
                None => {
                    contacts
                        .push(json!({"profile": {"name": DEFAULT_CONTACT_NAME}, "wa_id": from}));
                    contacts.len() - 1
                }
            }
        });
        let messages = value["messages"].as_array_mut().expect("messages array");
        messages.push(msg);
        let idx = messages.len() - 1;
        self.last = Some((e, c, "messages", idx, contact));
        self
    }

    fn simple(
        self,
        pnid: &str,
        display: &str,
        from: &str,
        wamid: &str,
        kind: &str,
        content: Value,
    ) -> Self {
        let mut msg = json!({"from": from, "id": wamid, "timestamp": unix_now(), "type": kind});
        msg[kind] = content;
        self.message(pnid, display, Some(from), msg)
    }

    pub fn text(self, pnid: &str, display: &str, from: &str, wamid: &str, text: &str) -> Self {
        self.simple(pnid, display, from, wamid, "text", json!({"body": text}))
    }

    pub fn button_reply(
        self,
        pnid: &str,
        display: &str,
        from: &str,
        wamid: &str,
        id: &str,
        title: &str,
    ) -> Self {
        self.simple(
            pnid,
            display,
            from,
            wamid,
            "interactive",
            json!({"type": "button_reply", "button_reply": {"id": id, "title": title}}),
        )
    }

    pub fn list_reply(
        self,
        pnid: &str,
        display: &str,
        from: &str,
        wamid: &str,
        id: &str,
        title: &str,
        description: Option<&str>,
    ) -> Self {
        let mut reply = json!({"id": id, "title": title});
        if let Some(d) = description {
            reply["description"] = json!(d);
        }
        self.simple(
            pnid,
            display,
            from,
            wamid,
            "interactive",
            json!({"type": "list_reply", "list_reply": reply}),
        )
    }

    /// A template's quick-reply button: `"type":"button"`.
    pub fn template_button(
        self,
        pnid: &str,
        display: &str,
        from: &str,
        wamid: &str,
        payload: &str,
        text: &str,
    ) -> Self {
        self.simple(
            pnid,
            display,
            from,
            wamid,
            "button",
            json!({"payload": payload, "text": text}),
        )
    }

    pub fn image(
        self,
        pnid: &str,
        display: &str,
        from: &str,
        wamid: &str,
        media_id: &str,
        mime: &str,
        caption: Option<&str>,
    ) -> Self {
        let mut image = json!({
            "mime_type": mime,
            "sha256": base64::engine::general_purpose::STANDARD.encode(media_id.as_bytes()),
            "id": media_id,
        });
        if let Some(c) = caption {
            image["caption"] = json!(c);
        }
        self.simple(pnid, display, from, wamid, "image", image)
    }

    pub fn location(
        self,
        pnid: &str,
        display: &str,
        from: &str,
        wamid: &str,
        latitude: f64,
        longitude: f64,
        name: Option<&str>,
        address: Option<&str>,
    ) -> Self {
        let mut loc = json!({"latitude": latitude, "longitude": longitude});
        if let Some(n) = name {
            loc["name"] = json!(n);
        }
        if let Some(a) = address {
            loc["address"] = json!(a);
        }
        self.simple(pnid, display, from, wamid, "location", loc)
    }

    /// A status of a message we sent (`sent`, `delivered`, `read`, ...).
    pub fn status(
        mut self,
        pnid: &str,
        display: &str,
        wamid: &str,
        status: &str,
        recipient: &str,
    ) -> Self {
        let mut s = json!({
            "id": wamid,
            "status": status,
            "timestamp": unix_now(),
            "recipient_id": recipient,
        });
        if status == "sent" || status == "delivered" {
            s["pricing"] = json!({"billable": false, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"});
        }
        self.push_status(pnid, display, s);
        self
    }

    /// A `failed` status with this error code (title/message/details of A.7).
    pub fn failed_status(
        mut self,
        pnid: &str,
        display: &str,
        wamid: &str,
        recipient: &str,
        code: i64,
    ) -> Self {
        let (title, details) = error_info(code);
        let s = json!({
            "id": wamid,
            "status": "failed",
            "timestamp": unix_now(),
            "recipient_id": recipient,
            "errors": [{
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
                "href": ERROR_HREF,
            }],
        });
        self.push_status(pnid, display, s);
        self
    }

    fn push_status(&mut self, pnid: &str, display: &str, s: Value) {
        let (e, c) = self.change_for(pnid, display, "statuses");
        let statuses = self.value_mut(e, c)["statuses"]
            .as_array_mut()
            .expect("statuses array");
        statuses.push(s);
        let idx = statuses.len() - 1;
        self.last = Some((e, c, "statuses", idx, None));
    }

    /// A change of another field (`account_update`, ...) or a `value` with
    /// `errors`: pushed as given into the current entry.
    pub fn raw_change(mut self, field: &str, value: Value) -> Self {
        let e = self.current_entry();
        self.entries[e]["changes"]
            .as_array_mut()
            .expect("changes array")
            .push(json!({"field": field, "value": value}));
        self.last = None;
        self
    }

    fn last_item(&mut self) -> Option<&mut Value> {
        let (e, c, list, i, _) = self.last?;
        Some(&mut self.entries[e]["changes"][c]["value"][list][i])
    }

    fn last_contact(&mut self) -> Option<&mut Value> {
        let (e, c, _, _, k) = self.last?;
        Some(&mut self.entries[e]["changes"][c]["value"]["contacts"][k?])
    }

    /// The profile name of the last message's sender.
    pub fn with_contact_name(mut self, name: &str) -> Self {
        if let Some(contact) = self.last_contact() {
            contact["profile"]["name"] = json!(name);
        }
        self
    }

    /// Adds a business-scoped `user_id` to the last message's contact.
    pub fn with_user_id(mut self, user_id: &str) -> Self {
        if let Some(contact) = self.last_contact() {
            contact["user_id"] = json!(user_id);
        }
        self
    }

    /// Removes `from` from the last message and `wa_id` from its contact
    /// (a username user, A.2); pair with `with_user_id`.
    pub fn without_wa_id(mut self) -> Self {
        if let Some(contact) = self.last_contact()
            && let Some(obj) = contact.as_object_mut()
        {
            obj.remove("wa_id");
        }
        if let Some(item) = self.last_item()
            && let Some(obj) = item.as_object_mut()
        {
            obj.remove("from");
        }
        self
    }

    /// The last message replies to `id`, a message of business number `from`.
    pub fn with_context(mut self, from: &str, id: &str) -> Self {
        if let Some(item) = self.last_item() {
            item["context"] = json!({"from": from, "id": id});
        }
        self
    }

    pub fn forwarded(mut self) -> Self {
        if let Some(item) = self.last_item() {
            item["context"] = json!({"forwarded": true});
        }
        self
    }

    /// The last item's `timestamp` (Unix seconds, written as a string).
    pub fn with_timestamp(mut self, unix_secs: i64) -> Self {
        if let Some(item) = self.last_item() {
            item["timestamp"] = json!(unix_secs.to_string());
        }
        self
    }

    /// `biz_opaque_callback_data` on the last status.
    pub fn with_callback_data(mut self, data: &str) -> Self {
        if let Some(item) = self.last_item() {
            item["biz_opaque_callback_data"] = json!(data);
        }
        self
    }

    /// The body, non-ASCII escaped as Meta sends it.
    pub fn build(&self) -> Vec<u8> {
        envelope(&self.entries)
    }

    pub fn build_string(&self) -> String {
        String::from_utf8(self.build()).expect("escaped JSON is ASCII")
    }
}

/// `sha256=<lowercase hex of HMAC-SHA256(app secret, body)>` (A.3).
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post_webhook(app_url: &str, signature: &str, body: &[u8]) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!(
            "{}/whatsapp/webhook",
            app_url.trim_end_matches('/')
        ))
        .header("Content-Type", "application/json")
        .header("User-Agent", "facebookexternalua")
        .header("X-Hub-Signature-256", signature)
        .body(body.to_vec())
        .send()
        .await
        .expect("POST the webhook")
}

/// POSTs `body` to `{app_url}/whatsapp/webhook`, signed with `app_secret`.
pub async fn signed_webhook(app_url: &str, app_secret: &str, body: &[u8]) -> reqwest::Response {
    post_webhook(app_url, &signature(app_secret, body), body).await
}

/// The same with a signature made with another secret.
pub async fn badly_signed_webhook(app_url: &str, body: &[u8]) -> reqwest::Response {
    post_webhook(app_url, &signature("not-the-app-secret", body), body).await
}

/// Meta's verification GET (A.1) to `{app_url}/whatsapp/webhook`.
pub async fn verify_webhook(
    app_url: &str,
    verify_token: &str,
    challenge: &str,
) -> reqwest::Response {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("hub.mode", "subscribe")
        .append_pair("hub.challenge", challenge)
        .append_pair("hub.verify_token", verify_token)
        .finish();
    reqwest::Client::new()
        .get(format!(
            "{}/whatsapp/webhook?{query}",
            app_url.trim_end_matches('/')
        ))
        .send()
        .await
        .expect("GET the webhook")
}

// ---------------------------------------------------------------------------
// The fake's own tests, over real HTTP.

mod self_tests {
    use super::*;
    use axum::routing::post;

    const PNID: &str = "106540352242922";
    const DISPLAY: &str = "243810000000";
    const TOKEN: &str = "EAAGtesttoken";
    const USER: &str = "243990000001";

    async fn fake() -> FakeMeta {
        let f = FakeMeta::start().await;
        f.add_number(PNID, DISPLAY, TOKEN);
        f
    }

    fn graph(f: &FakeMeta, path: &str) -> String {
        format!("{}/v21.0/{path}", f.base_url())
    }

    async fn post_json(
        f: &FakeMeta,
        token: Option<&str>,
        path: &str,
        body: &Value,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new().post(graph(f, path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    }

    async fn send(f: &FakeMeta, body: &Value) -> (u16, Value) {
        post_json(f, Some(TOKEN), &format!("{PNID}/messages"), body).await
    }

    async fn get_json(f: &FakeMeta, token: Option<&str>, path: &str) -> (u16, Value) {
        let mut req = reqwest::Client::new().get(graph(f, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    }

    fn code(v: &Value) -> i64 {
        v["error"]["code"].as_i64().unwrap_or(-1)
    }

    fn text(body: &str) -> Value {
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": USER,
               "type": "text", "text": {"preview_url": false, "body": body}})
    }

    fn buttons(titles: &[&str]) -> Value {
        let buttons: Vec<Value> = titles
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"type": "reply", "reply": {"id": format!("b{i}"), "title": t}}))
            .collect();
        json!({"messaging_product": "whatsapp", "to": USER, "type": "interactive",
               "interactive": {"type": "button", "body": {"text": "Code de genre ?"},
                               "action": {"buttons": buttons}}})
    }

    fn rows(n: usize, prefix: &str) -> Vec<Value> {
        (0..n)
            .map(|i| json!({"id": format!("{prefix}{i}"), "title": format!("Ville {prefix}{i}")}))
            .collect()
    }

    fn list(sections: Vec<Value>) -> Value {
        json!({"messaging_product": "whatsapp", "to": USER, "type": "interactive",
               "interactive": {"type": "list", "body": {"text": "Ville de naissance ?"},
                               "action": {"button": "Choisir", "sections": sections}}})
    }

    /// `v` with the value at `pointer` set (the last key may be new).
    fn with(mut v: Value, pointer: &str, new: Value) -> Value {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        match v.pointer_mut(parent).unwrap() {
            Value::Array(a) => a[key.parse::<usize>().unwrap()] = new,
            other => {
                other[key] = new;
            }
        }
        v
    }

    fn without(mut v: Value, key: &str) -> Value {
        v.as_object_mut().unwrap().remove(key);
        v
    }

    fn statuses_of(payloads: &[Vec<u8>]) -> Vec<Value> {
        payloads
            .iter()
            .map(|p| {
                let v: Value = serde_json::from_slice(p).unwrap();
                assert_eq!(v["object"], "whatsapp_business_account");
                assert_eq!(v["entry"][0]["changes"][0]["field"], "messages");
                let value = &v["entry"][0]["changes"][0]["value"];
                assert_eq!(value["metadata"]["phone_number_id"], PNID);
                assert_eq!(value["metadata"]["display_phone_number"], DISPLAY);
                value["statuses"][0].clone()
            })
            .collect()
    }

    fn png() -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        b.extend_from_slice(b"\0\0\0\rIHDR fake image data");
        b
    }

    /// File bytes, file name, the file part's content type.
    type FilePart<'a> = (Vec<u8>, &'a str, &'a str);
    /// Case name, `messaging_product`, `type`, file, expected error code.
    type UploadCase<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<FilePart<'a>>,
        i64,
    );

    async fn upload(
        f: &FakeMeta,
        product: Option<&str>,
        kind: Option<&str>,
        file: Option<FilePart<'_>>,
    ) -> (u16, Value) {
        let mut form = reqwest::multipart::Form::new();
        if let Some(p) = product {
            form = form.text("messaging_product", p.to_string());
        }
        if let Some(k) = kind {
            form = form.text("type", k.to_string());
        }
        if let Some((bytes, name, mime)) = file {
            let part = reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_string())
                .mime_str(mime)
                .unwrap();
            form = form.part("file", part);
        }
        let res = reqwest::Client::new()
            .post(graph(f, &format!("{PNID}/media")))
            .bearer_auth(TOKEN)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    }

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[tokio::test]
    async fn every_graph_route_checks_the_bearer_token() {
        let f = fake().await;
        f.add_number("200000000000002", "243810000002", "other-token");
        let path = format!("{PNID}/messages");

        let (status, body) = post_json(&f, None, &path, &text("Bonjour")).await;
        assert_eq!((status, code(&body)), (401, 190), "{body}");
        assert_eq!(body["error"]["type"], "OAuthException");
        assert!(body["error"]["fbtrace_id"].is_string());
        let (status, body) = post_json(&f, Some("wrong"), &path, &text("Bonjour")).await;
        assert_eq!((status, code(&body)), (401, 190), "{body}");
        for p in [PNID.to_string(), "1234".to_string()] {
            let (status, body) = get_json(&f, Some("wrong"), &p).await;
            assert_eq!((status, code(&body)), (401, 190), "{body}");
        }
        // A valid token of another number, and an unknown number: 100.
        let (status, body) = post_json(&f, Some("other-token"), &path, &text("Bonjour")).await;
        assert_eq!((status, code(&body)), (400, 100), "{body}");
        let (status, body) = post_json(&f, Some(TOKEN), "999/messages", &text("Bonjour")).await;
        assert_eq!((status, code(&body)), (400, 100), "{body}");

        // Rotation: the old token stops working.
        f.set_token(PNID, "rotated");
        let (status, body) = post_json(&f, Some(TOKEN), &path, &text("Bonjour")).await;
        assert_eq!((status, code(&body)), (401, 190), "{body}");
        let (status, _) = post_json(&f, Some("rotated"), &path, &text("Bonjour")).await;
        assert_eq!(status, 200);
        assert_eq!(f.sent().len(), 1);
        let seen: Vec<u16> = f.requests().iter().map(|r| r.status).collect();
        assert_eq!(seen, [401, 401, 401, 401, 400, 400, 401, 200]);
    }

    #[tokio::test]
    async fn a_valid_text_send_gets_a_fresh_wamid_is_recorded_and_produces_statuses() {
        let f = fake().await;
        let (status, first) = send(&f, &text("Bonjour é")).await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["messaging_product"], "whatsapp");
        assert_eq!(first["contacts"][0], json!({"input": USER, "wa_id": USER}));
        let w1 = first["messages"][0]["id"].as_str().unwrap().to_string();
        assert!(w1.starts_with("wamid."), "{w1}");

        let plus = with(text("Au revoir"), "/to", json!(format!("+{USER}")));
        let (status, second) = send(&f, &plus).await;
        assert_eq!(status, 200);
        assert_eq!(second["contacts"][0]["input"], format!("+{USER}"));
        assert_eq!(second["contacts"][0]["wa_id"], USER);
        let w2 = second["messages"][0]["id"].as_str().unwrap().to_string();
        assert_ne!(w1, w2);

        let sent = f.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].phone_number_id, PNID);
        assert_eq!(sent[0].to, USER);
        assert_eq!(sent[0].kind, "text");
        assert_eq!(sent[0].body, text("Bonjour é"));
        assert_eq!(sent[0].wamid, w1);
        assert_eq!(sent[0].version, "v21.0");
        assert!(sent[0].at <= sent[1].at);
        assert_eq!(
            f.sent_texts_to(&format!("+{USER}")),
            ["Bonjour é", "Au revoir"]
        );

        let statuses = statuses_of(&f.take_status_payloads());
        let summary: Vec<(String, String)> = statuses
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().unwrap().into(),
                    s["status"].as_str().unwrap().into(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = [&w1, &w2]
            .iter()
            .flat_map(|w| ["sent", "delivered", "read"].map(|s| (w.to_string(), s.to_string())))
            .collect();
        assert_eq!(summary, expected);
        assert_eq!(statuses[0]["recipient_id"], USER);
        assert!(statuses[0]["timestamp"].is_string());
        assert_eq!(statuses[0]["pricing"]["category"], "service");
        // v21: `conversation` on `sent` only.
        assert!(statuses[0]["conversation"]["id"].is_string());
        assert!(statuses[1].get("conversation").is_none());
        assert!(f.take_status_payloads().is_empty());

        // From v24 there is no `conversation`; a skipped `delivered`.
        f.set_status_sequence(&["sent", "read"]);
        let res = reqwest::Client::new()
            .post(format!("{}/v24.0/{PNID}/messages", f.base_url()))
            .bearer_auth(TOKEN)
            .json(&text("v24"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let statuses = statuses_of(&f.take_status_payloads());
        assert_eq!(statuses.len(), 2);
        assert_eq!(statuses[1]["status"], "read");
        assert!(statuses[0].get("conversation").is_none());
    }

    #[tokio::test]
    async fn each_send_limit_is_rejected_with_its_code() {
        let f = fake().await;
        let long = |n: usize| "x".repeat(n);
        let two_sections = |a: Value, b: Value| {
            list(vec![
                json!({"title": "Nord", "rows": a}),
                json!({"title": "Sud", "rows": b}),
            ])
        };
        let button_body = "/interactive/body/text";
        let cases: Vec<(&str, Value, i64)> = vec![
            ("4 buttons", buttons(&["a", "b", "c", "d"]), 131009),
            ("0 buttons", buttons(&[]), 131009),
            ("21-char title", buttons(&["a", &long(21)]), 131009),
            ("duplicate titles", buttons(&["Oui", "Oui"]), 131009),
            ("empty title", buttons(&[""]), 131009),
            (
                "257-char id",
                with(
                    buttons(&["a"]),
                    "/interactive/action/buttons/0/reply/id",
                    json!(long(257)),
                ),
                131009,
            ),
            (
                "1025-char button body",
                with(buttons(&["a"]), button_body, json!(long(1025))),
                100,
            ),
            (
                "61-char footer",
                with(
                    buttons(&["a"]),
                    "/interactive/footer",
                    json!({"text": long(61)}),
                ),
                100,
            ),
            (
                "61-char header",
                with(
                    buttons(&["a"]),
                    "/interactive/header",
                    json!({"type": "text", "text": long(61)}),
                ),
                100,
            ),
            (
                "button not reply",
                with(
                    buttons(&["a"]),
                    "/interactive/action/buttons/0/type",
                    json!("url"),
                ),
                100,
            ),
            (
                "11 rows",
                two_sections(json!(rows(6, "n")), json!(rows(5, "s"))),
                131009,
            ),
            (
                "11 sections",
                list(
                    (0..11)
                        .map(|i| json!({"title": format!("S{i}"), "rows": rows(1, "r")}))
                        .collect(),
                ),
                131009,
            ),
            ("0 sections", list(vec![]), 131009),
            (
                "untitled section among two",
                list(vec![
                    json!({"rows": rows(1, "a")}),
                    json!({"title": "B", "rows": rows(1, "b")}),
                ]),
                131008,
            ),
            (
                "25-char section title",
                list(vec![json!({"title": long(25), "rows": rows(1, "a")})]),
                131009,
            ),
            (
                "25-char row title",
                list(vec![json!({"rows": [{"id": "r", "title": long(25)}]})]),
                131009,
            ),
            (
                "201-char row id",
                list(vec![json!({"rows": [{"id": long(201), "title": "t"}]})]),
                131009,
            ),
            (
                "73-char row description",
                list(vec![
                    json!({"rows": [{"id": "r", "title": "t", "description": long(73)}]}),
                ]),
                131009,
            ),
            (
                "21-char list button",
                with(
                    list(vec![json!({"rows": rows(1, "a")})]),
                    "/interactive/action/button",
                    json!(long(21)),
                ),
                131009,
            ),
            (
                "4097-char list body",
                with(
                    list(vec![json!({"rows": rows(1, "a")})]),
                    button_body,
                    json!(long(4097)),
                ),
                100,
            ),
            (
                "image header on a list",
                with(
                    list(vec![json!({"rows": rows(1, "a")})]),
                    "/interactive/header",
                    json!({"type": "image", "image": {"id": "1"}}),
                ),
                100,
            ),
            (
                "unknown interactive type",
                with(buttons(&["a"]), "/interactive/type", json!("carousel")),
                100,
            ),
            ("empty text", text(""), 100),
            ("4097-char text", text(&long(4097)), 100),
            (
                "text body missing",
                with(text("x"), "/text", json!({})),
                100,
            ),
            ("missing to", without(text("x"), "to"), 131008),
            (
                "letters in to",
                with(text("x"), "/to", json!("24399000abcd")),
                100,
            ),
            (
                "missing messaging_product",
                without(text("x"), "messaging_product"),
                131008,
            ),
            (
                "wrong messaging_product",
                with(text("x"), "/messaging_product", json!("sms")),
                100,
            ),
            ("missing type", without(text("x"), "type"), 131008),
            (
                "unknown type",
                with(text("x"), "/type", json!("hologram")),
                131051,
            ),
            (
                "type without its object",
                without(text("x"), "text"),
                131008,
            ),
            (
                "image without id or link",
                json!({"messaging_product": "whatsapp", "to": USER, "type": "image", "image": {"caption": "QR"}}),
                131008,
            ),
            (
                "template without language",
                json!({"messaging_product": "whatsapp", "to": USER, "type": "template", "template": {"name": "ciu_rappel"}}),
                131008,
            ),
        ];
        for (name, body, expected) in cases {
            let (status, answer) = send(&f, &body).await;
            assert_eq!(status, 400, "{name}: {answer}");
            assert_eq!(code(&answer), expected, "{name}: {answer}");
            assert!(
                answer["error"]["error_data"]["details"].is_string(),
                "{name}: {answer}"
            );
        }

        // Not JSON, or not declared as JSON.
        for (ct, body) in [
            ("text/plain", text("x").to_string()),
            ("application/json", "{not json".to_string()),
        ] {
            let res = reqwest::Client::new()
                .post(graph(&f, &format!("{PNID}/messages")))
                .bearer_auth(TOKEN)
                .header("Content-Type", ct)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 400);
            let answer: Value = res.json().await.unwrap();
            assert_eq!(code(&answer), 100, "{answer}");
        }
        assert!(f.sent().is_empty());
        assert!(f.take_status_payloads().is_empty());
    }

    #[tokio::test]
    async fn limits_are_inclusive() {
        let f = fake().await;
        let accented = "é".repeat(20);
        let mut three = buttons(&[&accented, "Femme", "Autre"]);
        three = with(
            three,
            "/interactive/action/buttons/0/reply/id",
            json!("i".repeat(256)),
        );
        three = with(three, "/interactive/body/text", json!("b".repeat(1024)));
        three["interactive"]["footer"] = json!({"text": "f".repeat(60)});
        three["interactive"]["header"] = json!({"type": "text", "text": "h".repeat(60)});
        let ten_sections = list(
            (0..10)
                .map(|i| {
                    json!({"title": format!("{i}{}", "t".repeat(23)),
                           "rows": [{"id": format!("{i}{}", "r".repeat(199)), "title": "T".repeat(24),
                                     "description": "d".repeat(72)}]})
                })
                .collect(),
        );
        let cases = vec![
            ("3 buttons at every limit", three),
            ("10 sections, 10 rows at every limit", ten_sections),
            (
                "one untitled section",
                list(vec![json!({"rows": rows(10, "a")})]),
            ),
            ("4096-char text", text(&"ü".repeat(4096))),
            (
                "image by link",
                json!({"messaging_product": "whatsapp", "to": USER, "type": "image",
                                     "image": {"link": "https://cdn.example.org/qr/abc.png"}}),
            ),
            (
                "template",
                json!({"messaging_product": "whatsapp", "to": USER, "type": "template",
                                "template": {"name": "ciu_rappel", "language": {"code": "fr"},
                                             "components": [{"type": "body", "parameters": [{"type": "text", "text": "MBEIBR7DA1"}]}]}}),
            ),
            (
                "quoting a message",
                with(text("x"), "/to", json!(USER))
                    .as_object()
                    .cloned()
                    .map(|mut o| {
                        o.insert("context".into(), json!({"message_id": "wamid.ABC"}));
                        Value::Object(o)
                    })
                    .unwrap(),
            ),
        ];
        for (name, body) in cases {
            let (status, answer) = send(&f, &body).await;
            assert_eq!(status, 200, "{name}: {answer}");
        }
        let sent = f.sent();
        assert_eq!(sent.len(), 7);
        assert_eq!(sent[5].kind, "template");

        // A business-scoped user id instead of a phone number.
        let by_user = json!({"messaging_product": "whatsapp", "recipient": "US.13491208655302741918",
                             "type": "text", "text": {"body": "Bonjour"}});
        let (status, answer) = send(&f, &by_user).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["contacts"][0]["user_id"], "US.13491208655302741918");
        assert_eq!(f.sent_texts_to("US.13491208655302741918"), ["Bonjour"]);
    }

    #[tokio::test]
    async fn injected_failures_count_down_then_service_resumes() {
        let f = fake().await;
        f.fail_next_sends(2, Failure::Code(131056));
        for _ in 0..2 {
            let (status, body) = send(&f, &text("x")).await;
            assert_eq!((status, code(&body)), (400, 131056), "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("131056")
            );
            assert!(body["error"]["error_data"]["details"].is_string());
        }
        let (status, _) = send(&f, &text("x")).await;
        assert_eq!(status, 200);

        f.fail_next_sends(1, Failure::Code(131000));
        f.fail_next_sends(1, Failure::Code(131016));
        f.fail_next_sends(1, Failure::Code(190));
        f.fail_next_sends(1, Failure::CodeWithStatus(130429, 429));
        for expected in [(500, 131000), (503, 131016), (401, 190), (429, 130429)] {
            let (status, body) = send(&f, &text("x")).await;
            assert_eq!((status, code(&body)), expected, "{body}");
        }

        f.fail_next_sends(1, Failure::CodeWithRetryAfter(130429, 7));
        f.fail_next_sends(1, Failure::Status(503));
        let client = reqwest::Client::new();
        let url = graph(&f, &format!("{PNID}/messages"));
        let res = client
            .post(&url)
            .bearer_auth(TOKEN)
            .json(&text("x"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(res.headers()["retry-after"], "7");
        let res = client
            .post(&url)
            .bearer_auth(TOKEN)
            .json(&text("x"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
        let raw = res.text().await.unwrap();
        assert!(serde_json::from_str::<Value>(&raw).is_err(), "{raw}");

        // Mark-as-read does not consume send failures; it has its own.
        f.add_inbound_wamid("wamid.IN1");
        f.fail_next_sends(1, Failure::Code(131026));
        f.fail_next_mark_reads(1, Failure::Code(131000));
        let read =
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1"});
        let (status, body) = send(&f, &read).await;
        assert_eq!((status, code(&body)), (500, 131000));
        let (status, body) = send(&f, &read).await;
        assert_eq!((status, body), (200, json!({"success": true})));
        let (status, body) = send(&f, &text("x")).await;
        assert_eq!((status, code(&body)), (400, 131026));
        let (status, _) = send(&f, &text("x")).await;
        assert_eq!(status, 200);
        assert_eq!(f.sent().len(), 2);
        let statuses: Vec<u16> = f.requests().iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            [
                400, 400, 200, 500, 503, 401, 429, 400, 503, 500, 200, 400, 200
            ]
        );
    }

    #[tokio::test]
    async fn a_reset_drops_the_connection_without_an_answer() {
        let f = fake().await;
        let client = reqwest::Client::new();
        let url = graph(&f, &format!("{PNID}/messages"));
        // Warm a pooled connection first: the reset must also hit a reused one.
        let res = client
            .post(&url)
            .bearer_auth(TOKEN)
            .json(&text("a"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();

        f.fail_next_sends(1, Failure::Reset);
        let err = client
            .post(&url)
            .bearer_auth(TOKEN)
            .json(&text("b"))
            .send()
            .await
            .expect_err("a reset is not an HTTP answer");
        assert!(err.status().is_none(), "{err:?}");
        let res = client
            .post(&url)
            .bearer_auth(TOKEN)
            .json(&text("c"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);

        f.fail_all(Some(Failure::Reset));
        let err = client.get(graph(&f, PNID)).bearer_auth(TOKEN).send().await;
        assert!(err.is_err(), "{err:?}");
        f.fail_all(None);
        let res = client
            .get(graph(&f, PNID))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);

        assert_eq!(f.sent_texts_to(USER), ["a", "c"]);
        let statuses: Vec<u16> = f.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 0, 200, 0, 200]);
    }

    #[tokio::test]
    async fn fail_all_answers_every_route_until_cleared() {
        let f = fake().await;
        f.fail_all(Some(Failure::Status(502)));
        let (s1, _) = (
            reqwest::Client::new()
                .get(graph(&f, PNID))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .status(),
            (),
        );
        let s2 = reqwest::Client::new()
            .post(graph(&f, &format!("{PNID}/messages")))
            .bearer_auth(TOKEN)
            .json(&text("x"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!((s1.as_u16(), s2.as_u16()), (502, 502));
        f.fail_all(Some(Failure::Code(131016)));
        let (status, body) = get_json(&f, Some(TOKEN), PNID).await;
        assert_eq!((status, code(&body)), (503, 131016));
        f.fail_all(None);
        let (status, _) = send(&f, &text("x")).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn a_delay_slows_every_answer() {
        let f = fake().await;
        let client = reqwest::Client::new();
        let url = graph(&f, &format!("{PNID}/messages"));
        let delay = Duration::from_millis(300);
        f.set_delay(Some(delay));
        let started = Instant::now();
        let res = client
            .post(&url)
            .bearer_auth(TOKEN)
            .json(&text("lent"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
        // A client with a shorter timeout gives up.
        let res = reqwest::Client::builder()
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap()
            .get(graph(&f, PNID))
            .bearer_auth(TOKEN)
            .send()
            .await;
        assert!(res.unwrap_err().is_timeout());
        f.set_delay(None);
        let started = Instant::now();
        let res = client
            .post(&url)
            .bearer_auth(TOKEN)
            .json(&text("vite"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(started.elapsed() < delay, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_closed_window_accepts_free_form_then_fails_it_with_131047() {
        let f = fake().await;
        f.close_window(&format!("+{USER}"));
        let (status, body) = send(&f, &text("Rappel")).await;
        assert_eq!(status, 200, "{body}");
        let wamid = body["messages"][0]["id"].as_str().unwrap().to_string();
        let statuses = statuses_of(&f.take_status_payloads());
        assert_eq!(statuses.len(), 1);
        assert_eq!(statuses[0]["id"], wamid.as_str());
        assert_eq!(statuses[0]["status"], "failed");
        assert_eq!(statuses[0]["recipient_id"], USER);
        let error = &statuses[0]["errors"][0];
        assert_eq!(error["code"], 131047);
        assert_eq!(error["title"], "Re-engagement message");
        assert!(
            error["error_data"]["details"]
                .as_str()
                .unwrap()
                .contains("24 hours")
        );
        assert_eq!(f.sent()[0].failed_with, Some(131047));
        assert_eq!(f.sent_texts_to(USER), ["Rappel"]);
        assert!(f.delivered_texts_to(USER).is_empty());

        // Buttons too; templates pass.
        let (status, _) = send(&f, &buttons(&["Oui"])).await;
        assert_eq!(status, 200);
        assert_eq!(
            statuses_of(&f.take_status_payloads())[0]["status"],
            "failed"
        );
        let template = json!({"messaging_product": "whatsapp", "to": USER, "type": "template",
                              "template": {"name": "ciu_rappel", "language": {"code": "fr"}}});
        let (status, body) = send(&f, &template).await;
        assert_eq!(status, 200);
        assert_eq!(body["messages"][0]["message_status"], "accepted");
        let statuses = statuses_of(&f.take_status_payloads());
        assert_eq!(statuses.len(), 3);
        assert_eq!(statuses[0]["pricing"]["category"], "utility");

        // The user writes: the window opens again.
        let inbound = WebhookBuilder::new()
            .text(PNID, DISPLAY, USER, "wamid.IN", "Oui")
            .build();
        f.note_inbound(&inbound);
        send(&f, &text("Merci")).await;
        assert_eq!(statuses_of(&f.take_status_payloads())[0]["status"], "sent");
        f.close_window(USER);
        f.open_window(USER);
        send(&f, &text("Encore")).await;
        assert_eq!(statuses_of(&f.take_status_payloads())[0]["status"], "sent");
    }

    #[tokio::test]
    async fn asynchronous_failures_and_unknown_media_come_as_failed_statuses() {
        let f = fake().await;
        f.fail_next_sends_async(1, 131026);
        let (status, _) = send(&f, &text("x")).await;
        assert_eq!(status, 200);
        let statuses = statuses_of(&f.take_status_payloads());
        assert_eq!(statuses.len(), 1);
        assert_eq!(statuses[0]["errors"][0]["code"], 131026);

        let image = json!({"messaging_product": "whatsapp", "to": USER, "type": "image",
                           "image": {"id": "1037543291543636", "caption": "Votre QR"}});
        let (status, _) = send(&f, &image).await;
        assert_eq!(status, 200);
        let statuses = statuses_of(&f.take_status_payloads());
        assert_eq!(statuses[0]["errors"][0]["code"], 131053);

        let id = f.add_media(PNID, "image/png", &png());
        let (status, _) = send(&f, &with(image, "/image/id", json!(id))).await;
        assert_eq!(status, 200);
        assert_eq!(statuses_of(&f.take_status_payloads())[0]["status"], "sent");
        assert_eq!(f.sent_texts_to(USER), ["x", "Votre QR", "Votre QR"]);
        assert_eq!(f.delivered_texts_to(USER), ["Votre QR"]);
    }

    #[tokio::test]
    async fn mark_as_read_knows_only_inbound_wamids() {
        let f = fake().await;
        let read =
            |id: &str| json!({"messaging_product": "whatsapp", "status": "read", "message_id": id});
        let (status, body) = send(&f, &read("wamid.NEVER")).await;
        assert_eq!((status, code(&body)), (400, 131009), "{body}");
        let (status, body) = send(&f, &without(read("wamid.X"), "message_id")).await;
        assert_eq!((status, code(&body)), (400, 131008), "{body}");

        f.add_inbound_wamid("wamid.A");
        let inbound = WebhookBuilder::new()
            .text(PNID, DISPLAY, USER, "wamid.B", "Bonjour")
            .build();
        f.note_inbound(&inbound);
        let (status, body) = send(&f, &read("wamid.A")).await;
        assert_eq!((status, body), (200, json!({"success": true})));
        let mut typing = read("wamid.B");
        typing["typing_indicator"] = json!({"type": "text"});
        let (status, _) = send(&f, &typing).await;
        assert_eq!(status, 200);
        assert_eq!(f.marked_read(), ["wamid.A", "wamid.B"]);
        assert!(f.sent().is_empty());
        assert!(f.take_status_payloads().is_empty());
    }

    #[tokio::test]
    async fn media_upload_download_expiry_and_delete() {
        let f = fake().await;
        let (status, body) = upload(
            &f,
            Some("whatsapp"),
            Some("image/png"),
            Some((png(), "qr.png", "image/png")),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");
        let uploaded = f.uploaded_media();
        assert_eq!(uploaded.len(), 1);
        assert_eq!(
            (
                uploaded[0].id.as_str(),
                uploaded[0].phone_number_id.as_str(),
                uploaded[0].mime.as_str(),
                uploaded[0].filename.as_str()
            ),
            (id.as_str(), PNID, "image/png", "qr.png")
        );
        assert_eq!(uploaded[0].bytes, png());

        let (status, info) = get_json(&f, Some(TOKEN), &id).await;
        assert_eq!(status, 200, "{info}");
        assert_eq!(info["mime_type"], "image/png");
        assert_eq!(info["file_size"], png().len());
        assert_eq!(info["id"], id.as_str());
        assert_eq!(info["sha256"], hex::encode(Sha256::digest(png())));
        let url = info["url"].as_str().unwrap().to_string();
        assert!(
            url.starts_with(&format!("{}/lookaside/", f.base_url())),
            "{url}"
        );

        let client = reqwest::Client::new();
        assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
        assert_eq!(
            client
                .get(&url)
                .bearer_auth("wrong")
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        let res = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/png");
        assert_eq!(res.bytes().await.unwrap().to_vec(), png());

        f.expire_media_urls();
        assert_eq!(
            client
                .get(&url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        let (_, info) = get_json(&f, Some(TOKEN), &format!("{id}?phone_number_id={PNID}")).await;
        let url = info["url"].as_str().unwrap().to_string();
        assert_eq!(
            client
                .get(&url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        f.advance_clock(Duration::from_secs(4 * 60));
        assert_eq!(
            client
                .get(&url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        f.advance_clock(Duration::from_secs(61));
        assert_eq!(
            client
                .get(&url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .status(),
            404
        );

        let (status, body) = get_json(&f, Some(TOKEN), &format!("{id}?phone_number_id=42")).await;
        assert_eq!((status, code(&body)), (400, 100));
        let (_, info) = get_json(&f, Some(TOKEN), &id).await;
        let url = info["url"].as_str().unwrap().to_string();
        let res = client
            .delete(graph(&f, &id))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"success": true}));
        assert_eq!(
            client
                .get(&url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        let (status, body) = get_json(&f, Some(TOKEN), &id).await;
        assert_eq!((status, code(&body)), (400, 100));
        assert!(f.uploaded_media()[0].deleted);
    }

    #[tokio::test]
    async fn media_uploads_are_checked() {
        let f = fake().await;
        let file = || Some((png(), "qr.png", "image/png"));
        let big = {
            let mut b = png();
            b.resize(5 * 1024 * 1024 + 1, 0);
            b
        };
        let cases: Vec<UploadCase> = vec![
            (
                "no messaging_product",
                None,
                Some("image/png"),
                file(),
                131008,
            ),
            ("no type", Some("whatsapp"), None, file(), 131008),
            ("no file", Some("whatsapp"), Some("image/png"), None, 131008),
            (
                "unsupported type",
                Some("whatsapp"),
                Some("image/gif"),
                Some((b"GIF89a".to_vec(), "a.gif", "image/gif")),
                131053,
            ),
            (
                "file type differs",
                Some("whatsapp"),
                Some("image/png"),
                Some((png(), "qr.png", "text/plain")),
                131053,
            ),
            (
                "not a PNG",
                Some("whatsapp"),
                Some("image/png"),
                Some((b"hello".to_vec(), "qr.png", "image/png")),
                131053,
            ),
            (
                "over 5 MB",
                Some("whatsapp"),
                Some("image/png"),
                Some((big, "qr.png", "image/png")),
                131053,
            ),
        ];
        for (name, product, kind, file, expected) in cases {
            let (status, body) = upload(&f, product, kind, file).await;
            assert_eq!((status, code(&body)), (400, expected), "{name}: {body}");
        }
        let res = reqwest::Client::new()
            .post(graph(&f, &format!("{PNID}/media")))
            .bearer_auth(TOKEN)
            .json(&json!({"messaging_product": "whatsapp"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let pdf = Some((b"%PDF-1.4".to_vec(), "fiche.pdf", "application/pdf"));
        let (status, _) = upload(&f, Some("whatsapp"), Some("application/pdf"), pdf).await;
        assert_eq!(status, 200);
        assert_eq!(f.uploaded_media().len(), 1);
    }

    #[tokio::test]
    async fn debug_token_reports_validity_and_expiry() {
        let f = fake().await;
        let debug = |input: &str, access: &str| {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("input_token", input)
                .append_pair("access_token", access)
                .finish();
            format!("debug_token?{query}")
        };
        let app = f.app_token();
        assert_eq!(app, format!("{DEFAULT_APP_ID}|{DEFAULT_APP_SECRET}"));
        let (status, body) = get_json(&f, None, &debug(TOKEN, &app)).await;
        assert_eq!(status, 200, "{body}");
        let data = &body["data"];
        assert_eq!(data["is_valid"], true);
        assert_eq!(data["expires_at"], 0);
        assert_eq!(data["app_id"], DEFAULT_APP_ID);
        assert_eq!(data["type"], "SYSTEM_USER");
        assert!(
            data["scopes"]
                .as_array()
                .unwrap()
                .contains(&json!("whatsapp_business_messaging"))
        );

        let (status, body) = get_json(&f, None, &debug("EAAGunknown", &app)).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["is_valid"], false);
        assert_eq!(body["data"]["error"]["code"], 190);

        let (status, body) = get_json(&f, None, &debug(TOKEN, "123456789012345|wrong")).await;
        assert_eq!((status, code(&body)), (401, 190));
        let (status, body) = get_json(&f, None, &format!("debug_token?access_token={app}")).await;
        assert_eq!((status, code(&body)), (400, 100));

        f.set_app("999", "s3cret");
        let (status, _) = get_json(&f, None, &debug(TOKEN, &app)).await;
        assert_eq!(status, 401);
        let (status, _) = get_json(&f, None, &debug(TOKEN, "999|s3cret")).await;
        assert_eq!(status, 200);

        // An expired token: reported invalid, and refused by Graph routes.
        let expired_at = now() - 10;
        f.set_token_expiry(TOKEN, expired_at);
        let (_, body) = get_json(&f, None, &debug(TOKEN, "999|s3cret")).await;
        assert_eq!(body["data"]["is_valid"], false);
        assert_eq!(body["data"]["expires_at"], expired_at);
        assert_eq!(body["data"]["error"]["code"], 190);
        let (status, body) = send(&f, &text("x")).await;
        assert_eq!((status, code(&body)), (401, 190));
        // A future expiry is valid until the clock passes it.
        f.set_token_expiry(TOKEN, now() + 3600);
        assert_eq!(send(&f, &text("x")).await.0, 200);
        f.advance_clock(Duration::from_secs(3601));
        assert_eq!(send(&f, &text("x")).await.0, 401);
    }

    #[tokio::test]
    async fn oauth_exchange_gives_a_long_lived_token_for_the_same_numbers() {
        let f = fake().await;
        let exchange = |id: &str, secret: &str, token: &str| {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "fb_exchange_token")
                .append_pair("client_id", id)
                .append_pair("client_secret", secret)
                .append_pair("fb_exchange_token", token)
                .finish();
            format!("oauth/access_token?{query}")
        };
        let (status, body) = get_json(
            &f,
            None,
            &exchange(DEFAULT_APP_ID, DEFAULT_APP_SECRET, TOKEN),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "bearer");
        let expires_in = body["expires_in"].as_i64().unwrap();
        assert!(
            (59 * 86_400..=61 * 86_400).contains(&expires_in),
            "{expires_in}"
        );
        let long_lived = body["access_token"].as_str().unwrap().to_string();
        assert_ne!(long_lived, TOKEN);

        let (status, _) = post_json(
            &f,
            Some(&long_lived),
            &format!("{PNID}/messages"),
            &text("x"),
        )
        .await;
        assert_eq!(status, 200);
        let query = format!(
            "debug_token?input_token={long_lived}&access_token={}",
            f.app_token()
        );
        let (_, info) = get_json(&f, None, &query).await;
        assert_eq!(info["data"]["is_valid"], true);
        let expires_at = info["data"]["expires_at"].as_i64().unwrap();
        assert!((expires_at - (now() + expires_in)).abs() < 60, "{info}");

        let (status, body) = get_json(&f, None, &exchange(DEFAULT_APP_ID, "wrong", TOKEN)).await;
        assert_eq!((status, code(&body)), (400, 1), "{body}");
        let (status, body) = get_json(&f, None, &exchange("42", DEFAULT_APP_SECRET, TOKEN)).await;
        assert_eq!((status, code(&body)), (400, 101), "{body}");
        let (status, body) = get_json(
            &f,
            None,
            &exchange(DEFAULT_APP_ID, DEFAULT_APP_SECRET, "EAAGunknown"),
        )
        .await;
        assert_eq!(code(&body), 190, "{status} {body}");
        f.set_token_expiry(TOKEN, now() - 1);
        let (_, body) = get_json(
            &f,
            None,
            &exchange(DEFAULT_APP_ID, DEFAULT_APP_SECRET, TOKEN),
        )
        .await;
        assert_eq!(
            code(&body),
            190,
            "an expired token cannot be exchanged: {body}"
        );
    }

    #[tokio::test]
    async fn the_phone_number_node_answers_the_requested_fields() {
        let f = fake().await;
        let fields = "display_phone_number,verified_name,quality_rating,code_verification_status,platform_type,throughput";
        let (status, body) = get_json(&f, Some(TOKEN), &format!("{PNID}?fields={fields}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body,
            json!({"display_phone_number": "+243 81 000 0000", "verified_name": "ONG Sante",
                   "quality_rating": "GREEN", "code_verification_status": "VERIFIED",
                   "platform_type": "CLOUD_API", "throughput": {"level": "STANDARD"}, "id": PNID})
        );
        f.set_quality_rating(PNID, "YELLOW");
        let (_, body) = get_json(
            &f,
            Some(TOKEN),
            &format!("{PNID}?fields=quality_rating,throughput{{level}}"),
        )
        .await;
        assert_eq!(
            body,
            json!({"quality_rating": "YELLOW", "throughput": {"level": "STANDARD"}, "id": PNID})
        );
        let (status, body) =
            get_json(&f, Some(TOKEN), &format!("{PNID}?fields=quality_ratings")).await;
        assert_eq!((status, code(&body)), (400, 100));
        f.add_number("200000000000002", "14155238886", "other-token");
        let (status, body) = get_json(&f, Some("other-token"), PNID).await;
        assert_eq!((status, code(&body)), (400, 100));
        let (_, body) = get_json(
            &f,
            Some("other-token"),
            "200000000000002?fields=display_phone_number",
        )
        .await;
        assert_eq!(body["display_phone_number"], "+1 415-523-8886");
    }

    #[tokio::test]
    async fn throughput_over_the_rate_limit_answers_130429() {
        let f = fake().await;
        f.set_rate_limit(Some(2));
        assert_eq!(send(&f, &text("1")).await.0, 200);
        assert_eq!(send(&f, &text("2")).await.0, 200);
        let (status, body) = send(&f, &text("3")).await;
        assert_eq!((status, code(&body)), (400, 130429), "{body}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(send(&f, &text("4")).await.0, 200);
        f.set_rate_limit(None);
        for _ in 0..5 {
            assert_eq!(send(&f, &text("n")).await.0, 200);
        }
    }

    #[tokio::test]
    async fn unknown_routes_answer_404_with_the_graph_error_shape() {
        let f = fake().await;
        for url in [
            graph(&f, &format!("{PNID}/nothing")),
            format!("{}/{PNID}/messages", f.base_url()),
            format!("{}/", f.base_url()),
        ] {
            let res = reqwest::Client::new()
                .get(&url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 404, "{url}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(code(&body), 100, "{body}");
            assert_eq!(body["error"]["type"], "OAuthException");
        }
        let (status, body) = get_json(&f, Some(TOKEN), &format!("{PNID}/messages")).await;
        assert_eq!((status, code(&body)), (400, 100));
        assert_eq!(f.requests().len(), 4);
        let (_, _) = get_json(&f, Some(TOKEN), &format!("{PNID}?fields=id")).await;
        assert_eq!(f.requests()[4].query, "fields=id");
        send(&f, &text("corps")).await;
        let body: Value = serde_json::from_slice(&f.requests()[5].body).unwrap();
        assert_eq!(body, text("corps"));
        assert_eq!(f.requests()[0].method, "GET");
        assert_eq!(f.requests()[0].path, format!("/v21.0/{PNID}/nothing"));
        assert_eq!(
            f.requests()[0].authorization.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }

    #[tokio::test]
    async fn webhook_builder_batches_and_escapes_like_meta() {
        let body = WebhookBuilder::new()
            .text(PNID, DISPLAY, USER, "wamid.1", "Bonjour é 😀")
            .with_contact_name("Amani Kéza")
            .button_reply(PNID, DISPLAY, USER, "wamid.2", "g2", "Femme")
            .with_context(DISPLAY, "wamid.OUT1")
            .list_reply(
                PNID,
                DISPLAY,
                "243990000002",
                "wamid.3",
                "city_KN",
                "Kinshasa",
                Some("KN"),
            )
            .with_timestamp(1_763_900_070)
            .status(PNID, DISPLAY, "wamid.OUT1", "delivered", USER)
            .entry_break()
            .waba("999")
            .image(
                PNID,
                DISPLAY,
                USER,
                "wamid.4",
                "1037543291543636",
                "image/jpeg",
                Some("carte"),
            )
            .location(
                "555",
                "243810000005",
                USER,
                "wamid.5",
                -4.3217,
                15.3125,
                Some("Marché central"),
                None,
            )
            .text(PNID, DISPLAY, "", "wamid.6", "sans numéro")
            .with_user_id("US.1")
            .without_wa_id()
            .build();
        assert!(body.is_ascii());
        let raw = String::from_utf8(body.clone()).unwrap();
        assert!(raw.contains(r"Bonjour \u00e9 \ud83d\ude00"), "{raw}");
        assert!(raw.contains(r"Amani K\u00e9za"), "{raw}");
        assert!(
            raw.starts_with(r#"{"object":"whatsapp_business_account","entry":["#),
            "{raw}"
        );

        let v: Value = serde_json::from_slice(&body).unwrap();
        let entries = v["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["id"], DEFAULT_WABA_ID);
        assert_eq!(entries[1]["id"], "999");
        let changes = entries[0]["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 2, "messages, then statuses");
        let value = &changes[0]["value"];
        let messages = value["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0]["text"]["body"], "Bonjour é 😀");
        assert_eq!(messages[0]["timestamp"].as_str().unwrap().len(), 10);
        assert_eq!(
            messages[1]["interactive"]["button_reply"],
            json!({"id": "g2", "title": "Femme"})
        );
        assert_eq!(
            messages[1]["context"],
            json!({"from": DISPLAY, "id": "wamid.OUT1"})
        );
        assert_eq!(
            messages[2]["interactive"]["list_reply"]["description"],
            "KN"
        );
        assert_eq!(messages[2]["timestamp"], "1763900070");
        assert_eq!(
            value["contacts"],
            json!([{"profile": {"name": "Amani Kéza"}, "wa_id": USER},
                   {"profile": {"name": DEFAULT_CONTACT_NAME}, "wa_id": "243990000002"}])
        );
        assert_eq!(changes[1]["value"]["statuses"][0]["status"], "delivered");
        let changes = entries[1]["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 3, "a new number starts a new change");
        assert_eq!(
            changes[0]["value"]["messages"][0]["image"]["caption"],
            "carte"
        );
        assert_eq!(changes[1]["value"]["metadata"]["phone_number_id"], "555");
        assert_eq!(
            changes[1]["value"]["messages"][0]["location"]["name"],
            "Marché central"
        );
        let last = &changes[2]["value"];
        assert!(last["messages"][0].get("from").is_none());
        assert_eq!(last["contacts"][0]["user_id"], "US.1");
        assert!(last["contacts"][0].get("wa_id").is_none());
    }

    #[tokio::test]
    async fn statuses_template_buttons_and_other_fields_can_be_built() {
        let raw = WebhookBuilder::new()
            .template_button(PNID, DISPLAY, USER, "wamid.T", "rappel_ok", "Oui")
            .forwarded()
            .failed_status(PNID, DISPLAY, "wamid.OUT2", USER, 131047)
            .status(PNID, DISPLAY, "wamid.OUT3", "sent", USER)
            .with_callback_data("outbox-42")
            .raw_change("account_update", json!({"event": "VERIFIED_ACCOUNT"}))
            .build_string();
        let v: Value = serde_json::from_str(&raw).unwrap();
        let changes = v["entry"][0]["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 3);
        let message = &changes[0]["value"]["messages"][0];
        assert_eq!(message["type"], "button");
        assert_eq!(
            message["button"],
            json!({"payload": "rappel_ok", "text": "Oui"})
        );
        assert_eq!(message["context"]["forwarded"], true);
        let statuses = changes[1]["value"]["statuses"].as_array().unwrap();
        assert_eq!(statuses.len(), 2, "statuses of one number share a change");
        assert_eq!(statuses[0]["status"], "failed");
        assert_eq!(statuses[0]["errors"][0]["code"], 131047);
        assert_eq!(statuses[0]["errors"][0]["title"], "Re-engagement message");
        assert_eq!(statuses[1]["biz_opaque_callback_data"], "outbox-42");
        assert_eq!(changes[2]["field"], "account_update");

        // The fake's own statuses: WABA id and echoed callback data.
        let f = fake().await;
        f.set_waba_id(PNID, "777");
        f.set_verified_name(PNID, "Clinique Espoir");
        let mut body = text("x");
        body["biz_opaque_callback_data"] = json!("outbox-7");
        assert_eq!(send(&f, &body).await.0, 200);
        let payloads = f.take_status_payloads();
        let v: Value = serde_json::from_slice(&payloads[0]).unwrap();
        assert_eq!(v["entry"][0]["id"], "777");
        assert_eq!(
            statuses_of(&payloads)[2]["biz_opaque_callback_data"],
            "outbox-7"
        );
        let (_, number) = get_json(&f, Some(TOKEN), &format!("{PNID}?fields=verified_name")).await;
        assert_eq!(number["verified_name"], "Clinique Espoir");
    }

    #[test]
    fn the_signature_matches_the_reference_vector() {
        let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
        let expected = "sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756";
        assert_eq!(signature("test_app_secret", body), expected);
        assert_eq!(WebhookBuilder::new().build(), body.to_vec());
        assert_eq!(
            signature("test_app_secret", &WebhookBuilder::new().build()),
            expected
        );
    }

    type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

    async fn receiver() -> (String, Seen) {
        async fn hook(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> StatusCode {
            seen.lock().unwrap().push((headers, body.to_vec()));
            StatusCode::OK
        }
        async fn verify(axum::extract::RawQuery(q): axum::extract::RawQuery) -> Response {
            let params: HashMap<String, String> =
                form_urlencoded::parse(q.unwrap_or_default().as_bytes())
                    .into_owned()
                    .collect();
            if params.get("hub.mode").map(String::as_str) == Some("subscribe")
                && params.get("hub.verify_token").map(String::as_str) == Some("vt")
            {
                params["hub.challenge"].clone().into_response()
            } else {
                StatusCode::FORBIDDEN.into_response()
            }
        }
        let seen: Seen = Arc::default();
        let app = axum::Router::new()
            .route("/whatsapp/webhook", post(hook).get(verify))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, seen)
    }

    #[tokio::test]
    async fn signed_webhooks_carry_the_signature_of_the_exact_bytes() {
        let (url, seen) = receiver().await;
        let body = WebhookBuilder::new()
            .text(PNID, DISPLAY, USER, "wamid.1", "Réponse")
            .build();
        assert_eq!(signed_webhook(&url, "s3cret", &body).await.status(), 200);
        assert_eq!(badly_signed_webhook(&url, &body).await.status(), 200);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].1, body);
        assert_eq!(seen[0].0["x-hub-signature-256"], signature("s3cret", &body));
        assert_eq!(seen[0].0["content-type"], "application/json");
        assert_ne!(seen[1].0["x-hub-signature-256"], signature("s3cret", &body));

        let res = verify_webhook(&url, "vt", "1158201444").await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "1158201444");
        assert_eq!(verify_webhook(&url, "nope", "1").await.status(), 403);
    }
}
