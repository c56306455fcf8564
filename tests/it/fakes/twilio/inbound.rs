//! Inbound webhooks: `Inbound` (the B.2 body), `X-Twilio-Signature` (B.4),
//! posting to the app with Twilio's timeout and optional retries (B.8), and
//! reading its TwiML answer.

use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use super::server::FakeTwilio;
use super::state::*;
use super::twiml::{TwimlMessage, parse_answer};

// ---------------------------------------------------------------------------
// Signature

/// `X-Twilio-Signature` (B.4): Base64 of HMAC-SHA1(auth token, URL + each
/// parameter name followed by its value, names in byte order, the values of a
/// repeated name sorted). Repeated identical values are all kept.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut signed = url.to_string();
    for name in names {
        let mut values: Vec<&str> = params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        values.sort_unstable();
        for v in values {
            signed.push_str(name);
            signed.push_str(v);
        }
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key");
    mac.update(signed.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Form-encodes the parameters in the given order (`+` → `%2B`, space → `+`).
pub fn form_body(params: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The headers Twilio sends with a signed form post.
pub(super) fn webhook_headers(signature: &str, idempotency_token: &str) -> Vec<(String, String)> {
    vec![
        (
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ),
        ("X-Twilio-Signature".into(), signature.into()),
        (
            "I-Twilio-Idempotency-Token".into(),
            idempotency_token.into(),
        ),
        ("User-Agent".into(), "TwilioProxy/1.1".into()),
        ("Accept".into(), "*/*".into()),
    ]
}

// ---------------------------------------------------------------------------
// Delivery (shared with the status callbacks)

pub(super) struct Delivery {
    pub(super) status: Option<u16>,
    pub(super) content_type: Option<String>,
    pub(super) body: String,
    pub(super) attempts: u32,
    /// The debugger code and detail when it never answered.
    pub(super) failure: Option<(u32, String)>,
}

/// POSTs with Twilio's timeouts; retries `retries` more times when the app
/// does not answer at all (connection failure or timeout), never on an HTTP
/// status.
pub(super) async fn deliver(
    post_url: &str,
    headers: &[(String, String)],
    body: &str,
    timeout: Duration,
    retries: u32,
) -> Delivery {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(CONNECT_TIMEOUT))
        .build()
        .expect("a reqwest client");
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut req = client.post(post_url).body(body.to_string());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let failure = match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let content_type = res
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                match res.text().await {
                    Ok(text) => {
                        return Delivery {
                            status: Some(status),
                            content_type,
                            body: text,
                            attempts,
                            failure: None,
                        };
                    }
                    Err(e) => (11200, format!("reading the answer failed: {e}")),
                }
            }
            Err(e) if e.is_timeout() => (11200, format!("timeout after {timeout:?}")),
            Err(e) if e.is_connect() => (11205, format!("connection failure: {e}")),
            Err(e) => (11200, format!("retrieval failure: {e}")),
        };
        if attempts > retries {
            return Delivery {
                status: None,
                content_type: None,
                body: String::new(),
                attempts,
                failure: Some(failure),
            };
        }
    }
}

// ---------------------------------------------------------------------------
// Inbound bodies

/// An inbound WhatsApp message as Twilio posts it (B.2). Built with the
/// usual fields (`MessageSid`/`SmsSid`/`SmsMessageSid`, `AccountSid`,
/// `From`/`To` with `whatsapp:`, `Body`, `NumMedia` as a string, `ProfileName`,
/// `WaId`, `MessageType`, `SmsStatus`, `NumSegments`, `ReferralNumMedia`,
/// `ApiVersion`, `ChannelMetadata`) plus `FutureField`, a field no
/// documentation lists, as Twilio adds fields without notice.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub(super) params: Vec<(String, String)>,
}

impl Inbound {
    /// A text message from `user` to the business `sender` (numbers with or
    /// without `whatsapp:`), for the default account, with a fresh
    /// `MessageSid`.
    pub fn text(user: &str, sender: &str, body: &str) -> Inbound {
        let from = whatsapp(user);
        let to = whatsapp(sender);
        let wa_id: String = from.chars().filter(char::is_ascii_digit).collect();
        let sid = format!("SM{}", random_hex());
        let name = "Amani";
        let metadata = format!(
            r#"{{"type":"whatsapp","data":{{"context":{{"ProfileName":"{name}","WaId":"{wa_id}"}}}}}}"#
        );
        let params = [
            ("SmsMessageSid", sid.as_str()),
            ("NumMedia", "0"),
            ("ProfileName", name),
            ("MessageType", "text"),
            ("SmsSid", sid.as_str()),
            ("WaId", wa_id.as_str()),
            ("SmsStatus", "received"),
            ("Body", body),
            ("To", to.as_str()),
            ("NumSegments", "1"),
            ("ReferralNumMedia", "0"),
            ("MessageSid", sid.as_str()),
            ("AccountSid", DEFAULT_ACCOUNT_SID),
            ("ChannelMetadata", metadata.as_str()),
            ("From", from.as_str()),
            ("ApiVersion", API_VERSION),
            ("FutureField", "added-without-notice"),
        ];
        Inbound {
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Sets a field (replacing every value it had; appended when new).
    pub fn set(mut self, name: &str, value: &str) -> Self {
        match self.params.iter().position(|(k, _)| k == name) {
            Some(i) => {
                self.params[i].1 = value.to_string();
                let mut n = 0;
                self.params.retain(|(k, _)| {
                    n += usize::from(k == name);
                    k != name || n == 1
                });
            }
            None => self.params.push((name.to_string(), value.to_string())),
        }
        self
    }

    /// Appends a field even if it is already there (a repeated name).
    pub fn add(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.to_string(), value.to_string()));
        self
    }

    /// Removes a field.
    pub fn without(mut self, name: &str) -> Self {
        self.params.retain(|(k, _)| k != name);
        self
    }

    /// `MessageSid`, `SmsSid` and `SmsMessageSid`.
    pub fn sid(self, sid: &str) -> Self {
        self.set("MessageSid", sid)
            .set("SmsSid", sid)
            .set("SmsMessageSid", sid)
    }

    /// `AccountSid` (signed with that account's token when posted).
    pub fn account(self, account_sid: &str) -> Self {
        self.set("AccountSid", account_sid)
    }

    pub fn profile_name(self, name: &str) -> Self {
        self.set("ProfileName", name)
    }

    /// One more media item: `MediaUrl{n}`, `MediaContentType{n}`, `NumMedia`
    /// and `MessageType` (`image`, `video`, `audio` or `document`).
    pub fn media(self, url: &str, content_type: &str) -> Self {
        let n = self
            .get("NumMedia")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let top = content_type.split('/').next().unwrap_or("");
        let kind = if ["image", "video", "audio"].contains(&top) {
            top
        } else {
            "document"
        };
        self.set(&format!("MediaUrl{n}"), url)
            .set(&format!("MediaContentType{n}"), content_type)
            .set("NumMedia", &(n + 1).to_string())
            .set("MessageType", kind)
    }

    /// A tapped quick-reply button: `ButtonText`, `ButtonPayload`, `Body` =
    /// the title, `MessageType=interactive` (B.2's example).
    pub fn button(self, text: &str, payload: &str) -> Self {
        self.set("ButtonText", text)
            .set("ButtonPayload", payload)
            .set("Body", text)
            .set("MessageType", "interactive")
    }

    /// A shared location (`Latitude`, `Longitude`, `MessageType=location`,
    /// empty `Body`).
    pub fn location(self, latitude: f64, longitude: f64) -> Self {
        self.set("Latitude", &latitude.to_string())
            .set("Longitude", &longitude.to_string())
            .set("Body", "")
            .set("MessageType", "location")
    }

    /// The user replied to one of our messages.
    pub fn replying_to(self, message_sid: &str, sender: &str) -> Self {
        self.set("OriginalRepliedMessageSid", message_sid)
            .set("OriginalRepliedMessageSender", &whatsapp(sender))
    }

    /// The first value of a field.
    pub fn get(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }

    /// Every field, in wire order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The form-encoded body.
    pub fn body(&self) -> String {
        form_body(&self.params)
    }
}

/// What happened to one inbound post.
#[derive(Debug, Clone)]
pub struct InboundResult {
    /// False when Twilio kept the message (a sandbox `join <code>`).
    pub forwarded: bool,
    /// The app's HTTP status; `None` when it never answered.
    pub http_status: Option<u16>,
    pub content_type: Option<String>,
    /// The raw answer.
    pub answer: String,
    /// The messages the TwiML answer sends (also recorded as
    /// `twiml_replies`).
    pub messages: Vec<TwimlMessage>,
    /// The debugger events this post caused (11200, 12100, 12200, ...).
    pub errors: Vec<DebuggerEvent>,
    pub attempts: u32,
    /// The headers sent.
    pub headers: Vec<(String, String)>,
}

impl InboundResult {
    /// The first debugger code, if any.
    pub fn error_code(&self) -> Option<u32> {
        self.errors.first().map(|e| e.code)
    }

    /// The texts of the TwiML messages, in order.
    pub fn texts(&self) -> Vec<String> {
        self.messages.iter().map(|m| m.body.clone()).collect()
    }
}

/// Turns the app's answer into messages and debugger events (B.5, B.8).
pub(super) fn read_answer(url: &str, d: &Delivery) -> (Vec<TwimlMessage>, Vec<DebuggerEvent>) {
    let event = |code: u32, detail: String| DebuggerEvent {
        code,
        url: url.to_string(),
        detail,
    };
    let Some(status) = d.status else {
        let (code, detail) = d.failure.clone().unwrap_or((11200, String::new()));
        return (Vec::new(), vec![event(code, detail)]);
    };
    if !(200..300).contains(&status) {
        return (
            Vec::new(),
            vec![event(
                11200,
                format!("HTTP retrieval failure: status {status}"),
            )],
        );
    }
    match parse_answer(d.content_type.as_deref(), &d.body) {
        Ok(twiml) => (
            twiml.messages,
            twiml
                .warnings
                .into_iter()
                .map(|w| event(w.code, w.detail))
                .collect(),
        ),
        Err(e) => (Vec::new(), vec![event(e.code, e.detail)]),
    }
}

// ---------------------------------------------------------------------------
// Posting

impl FakeTwilio {
    /// Posts an inbound message the way Twilio does: to `url` (the public
    /// URL configured in Twilio, rerouted by `route_public_url`), signed over
    /// that URL with the account's Auth Token, waiting up to the webhook
    /// timeout; then reads the TwiML answer into messages (recorded as
    /// `twiml_replies`) and debugger events. The user's 24-hour window with
    /// the `To` sender opens first. A sandbox `join <code>` to the sandbox
    /// number of an account with the sandbox on is kept by Twilio: the user
    /// joins and nothing is posted.
    pub async fn post_inbound(&self, message: &Inbound, url: &str) -> InboundResult {
        let from = message.get("From").unwrap_or("").to_string();
        let to = message.get("To").unwrap_or("").to_string();
        let account = message
            .get("AccountSid")
            .unwrap_or(DEFAULT_ACCOUNT_SID)
            .to_string();
        let sid = message.get("MessageSid").unwrap_or("").to_string();
        let (headers, post_url, timeout, retries) = {
            let mut g = self.lock();
            let now = g.now();
            g.last_user_message.insert((to.clone(), from.clone()), now);
            let code = g
                .accounts
                .get(&account)
                .and_then(|a| a.sandbox_code.clone());
            let body = message
                .get("Body")
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if let Some(code) = code
                && to == SANDBOX_NUMBER
                && body.split_whitespace().collect::<Vec<_>>().join(" ") == format!("join {code}")
            {
                g.sandbox_joins.insert((account, from), now);
                return InboundResult {
                    forwarded: false,
                    http_status: None,
                    content_type: None,
                    answer: String::new(),
                    messages: Vec::new(),
                    errors: Vec::new(),
                    attempts: 0,
                    headers: Vec::new(),
                };
            }
            let sig = signature(
                &g.signing_key(&account),
                &g.signed_url(url),
                &message.params,
            );
            let token = format!("{}-{sid}", random_hex());
            (
                webhook_headers(&sig, &token),
                g.post_url(url),
                g.webhook_timeout,
                g.webhook_retries,
            )
        };
        let d = deliver(&post_url, &headers, &message.body(), timeout, retries).await;
        let (messages, errors) = read_answer(url, &d);
        let mut g = self.lock();
        g.debugger.extend(errors.iter().cloned());
        for m in &messages {
            g.twiml_replies.push(TwimlReply {
                in_reply_to: sid.clone(),
                from: m.from.clone().map_or_else(|| to.clone(), |f| whatsapp(&f)),
                to: m.to.clone().map_or_else(|| from.clone(), |t| whatsapp(&t)),
                message: m.clone(),
            });
        }
        InboundResult {
            forwarded: true,
            http_status: d.status,
            content_type: d.content_type,
            answer: d.body,
            messages,
            errors,
            attempts: d.attempts,
            headers,
        }
    }
}
