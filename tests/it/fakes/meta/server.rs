//! The `FakeMeta` handle: start, configuration, failure injection and inspection.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use super::{requests::*, state::*};

// ---------------------------------------------------------------------------
// The handle

/// A running fake Graph API. Clones share the same server and state.
#[derive(Clone)]
pub struct FakeMeta {
    pub(super) inner: Shared,
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

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
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
                messaging_limit: Some("TIER_2K".into()),
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

    /// Changes what `debug_token` says of a token (registering it if
    /// needed, valid for no number until one is given it).
    fn token_mut(&self, token: &str, f: impl FnOnce(&mut TokenInfo)) {
        let mut g = self.lock();
        g.ensure_token(token);
        if let Some(info) = g.tokens.get_mut(token) {
            f(info);
        }
    }

    /// `debug_token`'s `type` for the token (default `SYSTEM_USER`).
    pub fn set_token_kind(&self, token: &str, kind: &str) {
        self.token_mut(token, |t| t.kind = kind.to_string());
    }

    /// The token's scopes (default `whatsapp_business_messaging` and
    /// `whatsapp_business_management`); its granular scopes follow.
    pub fn set_token_scopes(&self, token: &str, scopes: &[&str]) {
        self.token_mut(token, |t| {
            t.scopes = scopes.iter().map(|s| s.to_string()).collect();
        });
    }

    /// The app the token belongs to (default: the fake's app). Graph calls
    /// still accept it: only `debug_token` tells.
    pub fn set_token_app(&self, token: &str, app_id: &str) {
        self.token_mut(token, |t| t.app_id = Some(app_id.to_string()));
    }

    /// The WABA ids in the `target_ids` of the token's granular scopes;
    /// `None` (the default) leaves `target_ids` out.
    pub fn set_token_targets(&self, token: &str, waba_ids: Option<&[&str]>) {
        self.token_mut(token, |t| {
            t.target_ids = waba_ids.map(|ids| ids.iter().map(|s| s.to_string()).collect());
        });
    }

    /// Meta revokes the token (a password change, a security event): every
    /// Graph call with it answers 190 and `debug_token` reports it invalid
    /// with that error.
    pub fn revoke_token(&self, token: &str) {
        self.token_mut(token, |t| t.revoked = true);
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

    /// The number's `whatsapp_business_manager_messaging_limit` (default
    /// `TIER_2K`); `None` makes the field unknown, as on an API version
    /// without it: asking for it then answers 100.
    pub fn set_messaging_limit(&self, phone_number_id: &str, limit: Option<&str>) {
        if let Some(n) = self.lock().numbers.get_mut(phone_number_id) {
            n.messaging_limit = limit.map(str::to_string);
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
