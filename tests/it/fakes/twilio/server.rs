//! The `FakeTwilio` handle (start, configuration, failure injection,
//! inspection) and the REST routes: `POST …/Messages.json`,
//! `GET …/Messages/{sid}.json`, `GET /2010-04-01/Accounts/{sid}.json`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::state::*;

// ---------------------------------------------------------------------------
// The handle

/// A running fake Twilio. Clones share the same server and state.
#[derive(Clone)]
pub struct FakeTwilio {
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

impl FakeTwilio {
    /// Starts the REST server on 127.0.0.1, on a free port, with one
    /// account: `DEFAULT_ACCOUNT_SID` / `DEFAULT_AUTH_TOKEN`.
    pub async fn start() -> FakeTwilio {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Twilio API");
        let addr = listener.local_addr().expect("local address");
        let inner = Arc::new(Mutex::new(Inner::new()));
        let app = axum::Router::new()
            .fallback(entry)
            .with_state(inner.clone());
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeTwilio {
            inner,
            addr,
            _server: Arc::new(ServerGuard(handle)),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// `http://127.0.0.1:PORT`, standing for `https://api.twilio.com` (the
    /// client appends `/2010-04-01/...`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    // --- accounts -----------------------------------------------------------

    /// Adds an account (`AC…`) with its Auth Token.
    pub fn add_account(&self, account_sid: &str, auth_token: &str) {
        let mut g = self.lock();
        let now = g.now();
        g.accounts
            .insert(account_sid.to_string(), Account::new(auth_token, now));
    }

    /// Rotates an account's Auth Token: the old one stops working at once
    /// (for REST calls and for the signatures the fake makes).
    pub fn set_auth_token(&self, account_sid: &str, auth_token: &str) {
        self.account_mut(account_sid, |a| a.auth_token = auth_token.to_string());
    }

    /// An API key (`SK…`) of the account; `SK…:secret` then works as Basic
    /// credentials for sends (not for the Accounts resource, as with
    /// Twilio's Standard keys).
    pub fn add_api_key(&self, account_sid: &str, key_sid: &str, secret: &str) {
        self.account_mut(account_sid, |a| {
            a.api_keys.insert(key_sid.to_string(), secret.to_string());
        });
    }

    /// `Full` (default) or `Trial`.
    pub fn set_account_type(&self, account_sid: &str, kind: &str) {
        self.account_mut(account_sid, |a| a.kind = kind.to_string());
    }

    /// `active` (default), `suspended` or `closed`, as the Accounts
    /// resource shows it (the fake still accepts the credentials).
    pub fn set_account_status(&self, account_sid: &str, status: &str) {
        self.account_mut(account_sid, |a| a.status = status.to_string());
    }

    pub fn set_friendly_name(&self, account_sid: &str, name: &str) {
        self.account_mut(account_sid, |a| a.friendly_name = name.to_string());
    }

    /// Registers a WhatsApp sender of the account. Once an account has one,
    /// a send from any other `From` answers 400 with 63007.
    pub fn add_sender(&self, account_sid: &str, sender: &str) {
        self.account_mut(account_sid, |a| a.senders.push(whatsapp(sender)));
    }

    /// A Messaging Service (`MG…`) of the account, sending from `sender`.
    pub fn add_messaging_service(&self, account_sid: &str, service_sid: &str, sender: &str) {
        self.account_mut(account_sid, |a| {
            a.services.insert(service_sid.to_string(), whatsapp(sender));
        });
    }

    fn account_mut(&self, account_sid: &str, f: impl FnOnce(&mut Account)) {
        let mut g = self.lock();
        let a = g
            .accounts
            .get_mut(account_sid)
            .unwrap_or_else(|| panic!("unknown account {account_sid}"));
        f(a);
    }

    // --- sandbox and window -------------------------------------------------

    /// Turns the account's sandbox on (B.7): sends from `SANDBOX_NUMBER` to
    /// users who have not joined (or joined more than 3 days ago) are
    /// accepted, then fail with 63015. Users join with an inbound
    /// `join <code>` to the sandbox number, or `join_sandbox`.
    pub fn enable_sandbox(&self, account_sid: &str, join_code: &str) {
        self.account_mut(account_sid, |a| {
            a.sandbox_code = Some(join_code.trim().to_ascii_lowercase());
        });
    }

    /// `user` joins the account's sandbox now.
    pub fn join_sandbox(&self, account_sid: &str, user: &str) {
        let mut g = self.lock();
        let now = g.now();
        g.sandbox_joins
            .insert((account_sid.to_string(), whatsapp(user)), now);
    }

    /// `user` wrote (to any sender) at `at`: free-form sends to them are
    /// accepted until `at` + 24 h (A.8). Posting an inbound message does the
    /// same for its sender/recipient pair.
    pub fn user_wrote(&self, user: &str, at: OffsetDateTime) {
        self.user_wrote_to("*", user, at);
    }

    /// `user` wrote to this business `sender` at `at`.
    pub fn user_wrote_to(&self, sender: &str, user: &str, at: OffsetDateTime) {
        let sender = if sender == "*" {
            sender.to_string()
        } else {
            whatsapp(sender)
        };
        let mut g = self.lock();
        let key = (sender, whatsapp(user));
        let latest = g.last_user_message.get(&key).map_or(at, |t| (*t).max(at));
        g.last_user_message.insert(key, latest);
    }

    /// The fake's clock (real time plus `advance_clock`).
    pub fn now(&self) -> OffsetDateTime {
        self.lock().now()
    }

    /// Moves the fake's clock forward (windows, sandbox membership, dates).
    pub fn advance_clock(&self, by: Duration) {
        self.lock().clock_offset += by;
    }

    // --- statuses and failures ----------------------------------------------

    /// The statuses a successful send goes through after `queued`, in
    /// order. Default `["sent", "delivered", "read"]`; e.g. `["sending",
    /// "sent", "delivered"]`, `["sent", "undelivered"]`, `[]`.
    pub fn set_status_sequence(&self, statuses: &[&str]) {
        self.lock().status_sequence = statuses.iter().map(|s| s.to_string()).collect();
    }

    /// The next `n` sends are accepted (201), then end in `status`
    /// (`failed` or `undelivered`) with this error code (63018, 63024...),
    /// without any status before it.
    pub fn fail_next_sends_async(&self, n: usize, status: &str, code: u32) {
        let mut g = self.lock();
        for _ in 0..n {
            g.async_failures.push_back((status.to_string(), code));
        }
    }

    /// The next `n` sends (`POST …/Messages.json` with valid credentials)
    /// answer this failure before any validation, then normal service
    /// resumes. Calls add up.
    pub fn fail_next_sends(&self, n: usize, failure: Failure) {
        let mut g = self.lock();
        for _ in 0..n {
            g.fail_next_sends.push_back(failure.clone());
        }
    }

    /// Until cleared with `None`: every REST request gets this failure
    /// (`Failure::Reset`: every connection is dropped).
    pub fn fail_all(&self, failure: Option<Failure>) {
        self.lock().fail_all = failure;
    }

    /// Every REST answer waits this long first.
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.lock().delay = delay;
    }

    // --- webhooks configuration ---------------------------------------------

    /// Webhook and callback URLs starting with `public_prefix` (as
    /// configured in Twilio, e.g. `https://bot.example.org`) are posted to
    /// `local_prefix` instead (e.g. the app's `http://127.0.0.1:PORT`), and
    /// still signed over the public URL.
    pub fn route_public_url(&self, public_prefix: &str, local_prefix: &str) {
        self.lock().routes.push((
            public_prefix.to_string(),
            local_prefix.trim_end_matches('/').to_string(),
        ));
    }

    /// Sign URLs with the default port written out (`https://host:443/…`),
    /// as Twilio sometimes does (B.4).
    pub fn sign_with_default_port(&self, on: bool) {
        self.lock().sign_with_port = on;
    }

    /// Sign every webhook and callback with a wrong key.
    pub fn bad_signatures(&self, on: bool) {
        self.lock().bad_signatures = on;
    }

    /// How long the fake waits for the app's answer (Twilio: 15 s).
    pub fn set_webhook_timeout(&self, timeout: Duration) {
        self.lock().webhook_timeout = timeout;
    }

    /// Extra attempts when the app does not answer at all (timeout or
    /// connection failure), as with a connection override `#rc=n` (B.8).
    /// Default 0. An HTTP error status is never retried.
    pub fn set_webhook_retries(&self, retries: u32) {
        self.lock().webhook_retries = retries;
    }

    /// Holds a media file of an inbound message and returns its URL (the
    /// `MediaUrl{n}` to put in `Inbound::media`). Like Twilio's (B.2), it
    /// needs the account's Basic credentials, then redirects (307) to a CDN
    /// copy served without auth; other credentials answer 401 / 20003.
    pub fn add_media(&self, account_sid: &str, content_type: &str, bytes: &[u8]) -> String {
        let path = format!(
            "/2010-04-01/Accounts/{account_sid}/Messages/MM{}/Media/ME{}",
            random_hex(),
            random_hex()
        );
        self.lock().media.insert(
            path.clone(),
            StoredMedia {
                account_sid: account_sid.to_string(),
                content_type: content_type.to_string(),
                bytes: bytes.to_vec(),
                cdn_path: format!("/media-cdn/{}", random_hex()),
            },
        );
        format!("{}{path}", self.base_url())
    }

    // --- inspection ---------------------------------------------------------

    /// Every accepted send, in arrival order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// Accepted sends to `user` (with or without `whatsapp:`), in order.
    pub fn sent_to(&self, user: &str) -> Vec<SentMessage> {
        let user = whatsapp(user);
        self.lock()
            .sent
            .iter()
            .filter(|m| m.to == user)
            .cloned()
            .collect()
    }

    /// Every REST request seen, rejected ones too, in the order answered.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.lock().requests.clone()
    }

    /// What Twilio's debugger would show: webhooks and callbacks that got no
    /// answer or an error status (11200, 11205), TwiML answers it could not
    /// use (12100, 12200, 12300, 14103).
    pub fn debugger(&self) -> Vec<DebuggerEvent> {
        self.lock().debugger.clone()
    }

    /// Messages sent because of TwiML answers, in order.
    pub fn twiml_replies(&self) -> Vec<TwimlReply> {
        self.lock().twiml_replies.clone()
    }
}

// ---------------------------------------------------------------------------
// REST

pub(super) enum Reply {
    Http {
        status: u16,
        content_type: String,
        body: Vec<u8>,
        www_authenticate: bool,
        location: Option<String>,
    },
    Reset,
}

/// Twilio's error object (B.6).
pub fn error_json(status: u16, code: u32, message: &str) -> Value {
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    })
}

fn json_reply(status: u16, v: &Value) -> Reply {
    Reply::Http {
        status,
        content_type: "application/json; charset=utf-8".into(),
        body: v.to_string().into_bytes(),
        www_authenticate: false,
        location: None,
    }
}

fn error(status: u16, code: u32, message: &str) -> Reply {
    json_reply(status, &error_json(status, code, message))
}

fn unauthorized() -> Reply {
    let mut v = error_json(401, 20003, "Authenticate");
    v["detail"] = json!("Your AccountSid or AuthToken was incorrect.");
    match json_reply(401, &v) {
        Reply::Http {
            status,
            content_type,
            body,
            ..
        } => Reply::Http {
            status,
            content_type,
            body,
            www_authenticate: true,
            location: None,
        },
        r => r,
    }
}

fn not_found(path: &str) -> Reply {
    error(
        404,
        20404,
        &format!("The requested resource {path} was not found"),
    )
}

fn failure_reply(f: &Failure) -> Reply {
    match f {
        Failure::Api { status, code } => {
            let message = match code {
                20429 => "Too Many Requests".to_string(),
                20500 => "Internal Server Error".to_string(),
                20003 => "Authenticate".to_string(),
                c => format!("Error {c}"),
            };
            error(*status, *code, &message)
        }
        Failure::Status(s) => Reply::Http {
            status: *s,
            content_type: "text/html".into(),
            body: format!("<html><body><h1>{s}</h1>upstream error</body></html>").into_bytes(),
            www_authenticate: false,
            location: None,
        },
        Failure::Reset => Reply::Reset,
        Failure::Delay(_) => error(500, 20500, "Internal Server Error"),
    }
}

/// A body whose first poll is an error: hyper then drops the connection
/// without writing the response head.
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
            www_authenticate,
            location,
        } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut b = Response::builder()
                .status(code)
                .header(header::CONTENT_TYPE, content_type)
                .header("Twilio-Request-Id", format!("RQ{}", random_hex()));
            if www_authenticate {
                b = b.header(header::WWW_AUTHENTICATE, "Basic realm=\"Twilio API\"");
            }
            if let Some(l) = location {
                b = b.header(header::LOCATION, l);
            }
            let resp = b
                .body(Body::from(body))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
            (resp, code.as_u16())
        }
    }
}

async fn entry(State(shared): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let bytes = axum::body::to_bytes(body, MAX_REQUEST)
        .await
        .map(|b| b.to_vec());
    let (delay, global) = {
        let g = lock(&shared);
        (g.delay, g.fail_all.clone())
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let body_bytes = bytes.as_ref().map(Vec::clone).unwrap_or_default();
    let mut reply = match (bytes, global) {
        (_, Some(Failure::Delay(d))) => {
            tokio::time::sleep(d).await;
            None
        }
        (_, Some(f)) => Some(failure_reply(&f)),
        (Err(_), None) => Some(error(413, 20001, "Request body too large")),
        (Ok(_), None) => None,
    };
    if reply.is_none() {
        let injected = {
            let mut g = lock(&shared);
            route(
                &mut g,
                parts.method.as_str(),
                &path,
                &parts.headers,
                &body_bytes,
            )
        };
        reply = Some(match injected {
            Routed::Reply(r) => r,
            Routed::Inject(Failure::Delay(d)) => {
                tokio::time::sleep(d).await;
                let mut g = lock(&shared);
                match route_without_injection(
                    &mut g,
                    parts.method.as_str(),
                    &path,
                    &parts.headers,
                    &body_bytes,
                ) {
                    Routed::Reply(r) => r,
                    Routed::Inject(f) => failure_reply(&f),
                }
            }
            Routed::Inject(f) => failure_reply(&f),
        });
    }
    let (response, status) = render(reply.unwrap_or_else(|| error(500, 20500, "unreachable")));
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
    });
    response
}

enum Routed {
    Reply(Reply),
    /// An injected send failure to apply (outside the lock for delays).
    Inject(Failure),
}

fn route(g: &mut Inner, method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Routed {
    route_inner(g, method, path, headers, body, true)
}

fn route_without_injection(
    g: &mut Inner,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Routed {
    route_inner(g, method, path, headers, body, false)
}

/// The authenticated account and Basic user, if the credentials are good.
fn authenticate(g: &Inner, headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    if let Some(a) = g.accounts.get(user) {
        return (a.auth_token == pass).then(|| (user.to_string(), user.to_string()));
    }
    g.accounts.iter().find_map(|(sid, a)| {
        (a.api_keys.get(user).map(String::as_str) == Some(pass))
            .then(|| (sid.clone(), user.to_string()))
    })
}

fn route_inner(
    g: &mut Inner,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    inject: bool,
) -> Routed {
    if method == "GET"
        && path.starts_with("/media-cdn/")
        && let Some(m) = g.media.values().find(|m| m.cdn_path == path)
    {
        return Routed::Reply(Reply::Http {
            status: 200,
            content_type: m.content_type.clone(),
            body: m.bytes.clone(),
            www_authenticate: false,
            location: None,
        });
    }
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let Some(["2010-04-01", "Accounts", rest @ ..]) = Some(segs.as_slice()) else {
        return Routed::Reply(not_found(path));
    };
    if rest.is_empty() || rest[0].is_empty() {
        return Routed::Reply(not_found(path));
    }
    let Some((account, user)) = authenticate(g, headers) else {
        return Routed::Reply(unauthorized());
    };
    let path_sid = rest[0].strip_suffix(".json").unwrap_or(rest[0]);
    if path_sid != account {
        return Routed::Reply(not_found(path));
    }
    Routed::Reply(match (method, rest) {
        ("GET", [one]) if one.ends_with(".json") => {
            if user != account {
                // Standard API keys cannot use the Accounts resource.
                unauthorized()
            } else {
                account_json(g, &account)
            }
        }
        ("POST", [_, "Messages.json"]) => {
            if inject && let Some(f) = g.fail_next_sends.pop_front() {
                return Routed::Inject(f);
            }
            create_message(g, &account, &user, body)
        }
        ("GET", [_, "Messages", _, "Media", _]) => match g.media.get(path) {
            Some(m) if m.account_sid == account => Reply::Http {
                status: 307,
                content_type: "text/plain".into(),
                body: Vec::new(),
                www_authenticate: false,
                location: Some(m.cdn_path.clone()),
            },
            _ => not_found(path),
        },
        ("GET", [_, "Messages", file]) => {
            let sid = file.strip_suffix(".json").unwrap_or(file);
            match g
                .sent
                .iter()
                .find(|m| m.sid == sid && m.account_sid == account)
            {
                Some(m) => json_reply(200, &message_json(g, m, true)),
                None => not_found(path),
            }
        }
        _ => not_found(path),
    })
}

fn account_json(g: &Inner, sid: &str) -> Reply {
    let a = &g.accounts[sid];
    let base = format!("/2010-04-01/Accounts/{sid}");
    json_reply(
        200,
        &json!({
            "sid": sid,
            "owner_account_sid": sid,
            "friendly_name": a.friendly_name,
            "status": a.status,
            "type": a.kind,
            "auth_token": a.auth_token,
            "date_created": rfc2822(a.date_created),
            "date_updated": rfc2822(a.date_created),
            "uri": format!("{base}.json"),
            "subresource_uris": {
                "messages": format!("{base}/Messages.json"),
                "keys": format!("{base}/Keys.json"),
                "balance": format!("{base}/Balance.json"),
            },
        }),
    )
}

/// The message resource (B.6). `current`: the status after every
/// transition (fetch); otherwise as created (`queued`/`accepted`).
pub(super) fn message_json(g: &Inner, m: &SentMessage, current: bool) -> Value {
    let base = format!("/2010-04-01/Accounts/{}/Messages/{}", m.account_sid, m.sid);
    let created = if m.messaging_service_sid.is_some() {
        "accepted"
    } else {
        "queued"
    };
    let status = if current {
        m.statuses.last().map_or(created, String::as_str)
    } else {
        created
    };
    let (error_code, error_message) = match (current, m.failed_with) {
        (true, Some(c)) => (json!(c), json!(channel_status_message(c))),
        _ => (Value::Null, Value::Null),
    };
    let updated = if current { g.now() } else { m.date_created };
    json!({
        "sid": m.sid,
        "account_sid": m.account_sid,
        "from": m.from,
        "to": m.to,
        "body": m.body.clone().unwrap_or_default(),
        "status": status,
        "direction": "outbound-api",
        "num_media": m.media_urls.len().to_string(),
        "num_segments": "1",
        "error_code": error_code,
        "error_message": error_message,
        "price": null,
        "price_unit": null,
        "api_version": API_VERSION,
        "messaging_service_sid": m.messaging_service_sid,
        "date_created": rfc2822(m.date_created),
        "date_sent": null,
        "date_updated": rfc2822(updated),
        "uri": format!("{base}.json"),
        "subresource_uris": {"media": format!("{base}/Media.json")},
    })
}

/// `ChannelStatusMessage` / `error_message` for a WhatsApp error code.
pub(super) fn channel_status_message(code: u32) -> String {
    match code {
        63016 => "Failed to send freeform message because you are outside the allowed window. \
                  If you are using WhatsApp, please use a Message Template."
            .into(),
        63015 => "Channel Sandbox can only send messages to phone numbers that have joined \
                  the Sandbox"
            .into(),
        63018 => "Rate limit exceeded for Channel".into(),
        63024 => "Invalid message recipient".into(),
        c => format!("Channel error {c}"),
    }
}

fn is_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && s.len() > "https://x".len()
}

fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34
        && s.starts_with(prefix)
        && s[2..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn create_message(g: &mut Inner, account: &str, user: &str, body: &[u8]) -> Reply {
    let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let get = |k: &str| param(&params, k).filter(|v| !v.is_empty());
    let media_urls: Vec<String> = params
        .iter()
        .filter(|(k, v)| k == "MediaUrl" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    let to = get("To");
    let from = get("From");
    let service = get("MessagingServiceSid");
    let text = param(&params, "Body");
    let content_sid = get("ContentSid");
    let content_variables = get("ContentVariables");
    let callback = get("StatusCallback");

    let Some(to) = to else {
        return error(400, 21604, "A 'To' phone number is required.");
    };
    if from.is_none() && service.is_none() {
        return error(400, 21603, "A 'From' phone number is required.");
    }
    let valid_address = |a: &str| a.strip_prefix("whatsapp:").is_some_and(is_e164);
    if !valid_address(to) {
        return error(400, 21211, &format!("Invalid 'To' Phone Number: {to}"));
    }
    if let Some(f) = from
        && !valid_address(f)
    {
        return error(400, 21212, &format!("Invalid From Number (caller ID): {f}"));
    }
    let acc = &g.accounts[account];
    let sender = match (from, service) {
        (Some(f), _) => f.to_string(),
        (None, Some(mg)) => match acc.services.get(mg) {
            Some(s) => s.clone(),
            None => {
                return error(
                    400,
                    21705,
                    &format!("The Messaging Service Sid {mg} is invalid."),
                );
            }
        },
        (None, None) => unreachable!("checked above"),
    };
    if !acc.senders.is_empty() && !acc.senders.contains(&sender) {
        return error(
            400,
            63007,
            "Twilio could not find a Channel with the specified From address",
        );
    }
    if text.is_none_or(str::is_empty) && media_urls.is_empty() && content_sid.is_none() {
        return error(400, 21602, "Message body is required.");
    }
    if let Some(t) = text
        && t.chars().count() > MAX_BODY_CHARS
    {
        return error(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    if let Some(bad) = media_urls.iter().find(|u| !is_url(u)) {
        return error(400, 21620, &format!("Invalid media URL(s): {bad}"));
    }
    if let Some(c) = content_sid
        && !is_sid(c, "HX")
    {
        return error(400, 21655, "The ContentSid is Invalid.");
    }
    if let Some(v) = content_variables
        && !serde_json::from_str::<Value>(v).is_ok_and(|v| v.is_object())
    {
        return error(400, 21656, "The ContentVariables Parameter is invalid.");
    }
    if let Some(c) = callback
        && !is_url(c)
    {
        return error(400, 21609, &format!("Invalid StatusCallback url: {c}"));
    }

    // Accepted: what happens next (B.6, B.7, A.8).
    let sandbox = acc.sandbox_code.is_some() && sender == SANDBOX_NUMBER;
    let outcome: Result<Vec<String>, (String, u32)> = if sandbox && !g.sandbox_joined(account, to) {
        Err(("failed".into(), 63015))
    } else if content_sid.is_none() && !g.window_open(&sender, to) {
        Err(("failed".into(), 63016))
    } else if let Some((status, code)) = g.async_failures.pop_front() {
        Err((status, code))
    } else {
        Ok(g.status_sequence.clone())
    };
    let (statuses, failed_with) = match outcome {
        Ok(s) => (s, None),
        Err((status, code)) => (vec![status], Some(code)),
    };
    let m = SentMessage {
        sid: format!("SM{}", random_hex()),
        account_sid: account.to_string(),
        auth_user: user.to_string(),
        from: from.map(str::to_string),
        sender,
        to: to.to_string(),
        body: text.map(str::to_string),
        media_urls,
        status_callback: callback.map(str::to_string),
        content_sid: content_sid.map(str::to_string),
        content_variables: content_variables.map(str::to_string),
        messaging_service_sid: service.map(str::to_string),
        params: params.clone(),
        date_created: g.now(),
        statuses,
        failed_with,
    };
    let v = message_json(g, &m, false);
    g.queue_callbacks(&m);
    g.sent.push(m);
    json_reply(201, &v)
}
