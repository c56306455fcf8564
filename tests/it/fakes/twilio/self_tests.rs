//! The fake's own tests, over real HTTP.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha1::Sha1;

use super::*;

const USER: &str = "whatsapp:+243990000001";
const SENDER: &str = "whatsapp:+243810000000";
const PUBLIC: &str = "https://bot.example.org";

/// Case name, form fields, expected error code.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, i64);

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn messages_url(f: &FakeTwilio, account: &str) -> String {
    format!(
        "{}/2010-04-01/Accounts/{account}/Messages.json",
        f.base_url()
    )
}

async fn send_as(
    f: &FakeTwilio,
    creds: Option<(&str, &str)>,
    path_account: &str,
    params: &[(&str, &str)],
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(messages_url(f, path_account))
        .form(params);
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn send(f: &FakeTwilio, params: &[(&str, &str)]) -> (u16, Value) {
    send_as(
        f,
        Some((DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)),
        DEFAULT_ACCOUNT_SID,
        params,
    )
    .await
}

fn text(body: &str) -> Vec<(&str, &str)> {
    vec![("From", SENDER), ("To", USER), ("Body", body)]
}

/// A fake with the user inside the window of every sender.
async fn fake() -> FakeTwilio {
    let f = FakeTwilio::start().await;
    f.user_wrote(USER, f.now());
    f
}

fn code(v: &Value) -> i64 {
    v["code"].as_i64().unwrap_or(-1)
}

fn is_twilio_error(v: &Value, status: u16) {
    let c = code(v);
    assert!(c > 0, "{v}");
    assert_eq!(v["status"], status, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert_eq!(
        v["more_info"],
        format!("https://www.twilio.com/docs/errors/{c}"),
        "{v}"
    );
}

/// B.4, written again here from the reference (not the fake's function).
fn b4_signature(key: &str, url: &str, body: &str) -> String {
    let mut params: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    params.sort();
    let mut s = url.to_string();
    for (k, v) in params {
        s += &k;
        s += &v;
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(s.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

// ---------------------------------------------------------------------------
// A stand-in for the app: records what it receives, answers as told.

#[derive(Clone, Debug)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: String,
}

impl Seen {
    fn params(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    fn signature(&self) -> String {
        self.headers["x-twilio-signature"]
            .to_str()
            .unwrap()
            .to_string()
    }
}

#[derive(Clone)]
struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
    delay: Option<Duration>,
}

#[derive(Clone)]
struct App {
    seen: Arc<Mutex<Vec<Seen>>>,
    answer: Arc<Mutex<Answer>>,
}

impl App {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn answer(&self, status: u16, content_type: &'static str, body: &str) {
        let mut a = self.answer.lock().unwrap();
        a.status = status;
        a.content_type = content_type;
        a.body = body.to_string();
    }

    fn delay(&self, d: Option<Duration>) {
        self.answer.lock().unwrap().delay = d;
    }
}

async fn app_hook(
    State(app): State<App>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    app.seen.lock().unwrap().push(Seen {
        path: uri.to_string(),
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    });
    let a = app.answer.lock().unwrap().clone();
    if let Some(d) = a.delay {
        tokio::time::sleep(d).await;
    }
    (
        StatusCode::from_u16(a.status).unwrap(),
        [(header::CONTENT_TYPE, a.content_type)],
        a.body,
    )
        .into_response()
}

/// Starts the stand-in app and routes `PUBLIC` to it.
async fn app(f: &FakeTwilio) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = App {
        seen: Arc::default(),
        answer: Arc::new(Mutex::new(Answer {
            status: 200,
            content_type: "text/xml",
            body: "<Response/>".into(),
            delay: None,
        })),
    };
    let router = axum::Router::new()
        .fallback(app_hook)
        .with_state(app.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    f.route_public_url(PUBLIC, &format!("http://{addr}"));
    app
}

// ---------------------------------------------------------------------------
// Signatures

#[tokio::test]
async fn signatures_match_both_reference_vectors() {
    // Twilio's documented vector (names given out of order on purpose).
    let twilio = pairs(&[
        ("To", "+18005551212"),
        ("CallSid", "CA1234567890ABCDE"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("Caller", "+12349013030"),
    ]);
    assert_eq!(
        signature(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &twilio
        ),
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    );
    // Ours, with and without the default port.
    let ours = pairs(&[
        ("WaId", "243810000001"),
        ("AccountSid", "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
        ("Body", "Bonjour"),
        ("From", "whatsapp:+243810000001"),
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("NumMedia", "0"),
        ("ProfileName", "Amani"),
        ("To", "whatsapp:+14155238886"),
    ]);
    let url = "https://bot.example.org/whatsapp/webhook";
    assert_eq!(
        signature("test_auth_token", url, &ours),
        "j7LrDEg5yDS8ck9q2PHu0MPvMWM="
    );
    assert_eq!(
        with_default_port(url),
        "https://bot.example.org:443/whatsapp/webhook"
    );
    assert_eq!(
        signature("test_auth_token", &with_default_port(url), &ours),
        "usinpwrowDDF8SwPrKcKug3Wr7I="
    );
    assert_eq!(with_default_port("http://h/x?a=1"), "http://h:80/x?a=1");
    assert_eq!(with_default_port("https://h:8443/x"), "https://h:8443/x");
    // A repeated name: each value, sorted.
    let a = signature("k", "u", &pairs(&[("M", "b"), ("M", "a")]));
    let b = signature("k", "u", &pairs(&[("M", "a"), ("M", "b")]));
    assert_eq!(a, b);
    assert_eq!(a, b4_signature("k", "u", "M=a&M=b"));
}

// ---------------------------------------------------------------------------
// REST

#[tokio::test]
async fn a_valid_send_answers_201_shaped_like_b6_and_is_recorded() {
    let f = fake().await;
    let (status, v) = send(
        &f,
        &[
            ("From", SENDER),
            ("To", USER),
            ("Body", "Bonjour +1 & à"),
            ("MediaUrl", "https://bot.example.org/qr/A.png"),
            ("StatusCallback", "https://bot.example.org/twilio/status"),
            ("SomethingNew", "x"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let sid = v["sid"].as_str().unwrap();
    assert_eq!(sid.len(), 34);
    assert!(sid.starts_with("SM"));
    assert!(sid[2..].bytes().all(|b| b.is_ascii_hexdigit()), "{sid}");
    let expected_keys = [
        "sid",
        "account_sid",
        "from",
        "to",
        "body",
        "status",
        "direction",
        "num_media",
        "num_segments",
        "error_code",
        "error_message",
        "price",
        "price_unit",
        "api_version",
        "messaging_service_sid",
        "date_created",
        "date_sent",
        "date_updated",
        "uri",
        "subresource_uris",
    ];
    for k in expected_keys {
        assert!(v.get(k).is_some(), "{k} missing in {v}");
    }
    assert_eq!(v["account_sid"], DEFAULT_ACCOUNT_SID);
    assert_eq!(v["from"], SENDER);
    assert_eq!(v["to"], USER);
    assert_eq!(v["body"], "Bonjour +1 & à");
    assert_eq!(v["status"], "queued");
    assert_eq!(v["direction"], "outbound-api");
    assert_eq!(v["num_media"], "1");
    assert_eq!(v["num_segments"], "1");
    assert_eq!(v["api_version"], "2010-04-01");
    for k in [
        "error_code",
        "error_message",
        "price",
        "date_sent",
        "messaging_service_sid",
    ] {
        assert!(v[k].is_null(), "{k}: {v}");
    }
    let created = v["date_created"].as_str().unwrap();
    let parsed =
        time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc2822)
            .unwrap();
    assert!((parsed - f.now()).abs() < time::Duration::seconds(5));
    assert!(created.ends_with(" +0000"), "{created}");
    assert_eq!(created.len(), "Sun, 23 Nov 2026 12:00:00 +0000".len());
    assert_eq!(
        v["uri"],
        format!("/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages/{sid}.json")
    );
    assert_eq!(
        v["subresource_uris"]["media"],
        format!("/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages/{sid}/Media.json")
    );

    let sent = f.sent();
    assert_eq!(sent.len(), 1);
    let m = &sent[0];
    assert_eq!(m.sid, sid);
    assert_eq!(m.from.as_deref(), Some(SENDER));
    assert_eq!(m.to, USER);
    assert_eq!(m.body.as_deref(), Some("Bonjour +1 & à"));
    assert_eq!(m.media_urls, ["https://bot.example.org/qr/A.png"]);
    assert_eq!(
        m.status_callback.as_deref(),
        Some("https://bot.example.org/twilio/status")
    );
    assert_eq!(m.auth_user, DEFAULT_ACCOUNT_SID);
    assert!(m.params.contains(&("SomethingNew".into(), "x".into())));
    assert_eq!(f.sent_to("+243990000001").len(), 1);

    // A template: ContentSid + ContentVariables, no Body.
    let hx = "HX0123456789abcdef0123456789abcdef";
    let (status, v) = send(
        &f,
        &[
            ("From", SENDER),
            ("To", USER),
            ("ContentSid", hx),
            ("ContentVariables", r#"{"1":"MBEIBR7DA1"}"#),
        ],
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["num_media"], "0");
    let m = &f.sent()[1];
    assert_eq!(m.content_sid.as_deref(), Some(hx));
    assert_eq!(
        m.content_variables.as_deref(),
        Some(r#"{"1":"MBEIBR7DA1"}"#)
    );
    assert_eq!(m.body, None);

    // The fetched message shows where it ended.
    let res = reqwest::Client::new()
        .get(format!(
            "{}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages/{sid}.json",
            f.base_url()
        ))
        .basic_auth(DEFAULT_ACCOUNT_SID, Some(DEFAULT_AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["sid"].as_str(), v["status"].as_str()),
        (Some(sid), Some("read"))
    );
}

#[tokio::test]
async fn bad_credentials_answer_401_20003_and_another_accounts_path_404() {
    let f = fake().await;
    let other = "AC99999999999999999999999999999999";
    f.add_account(other, "other_token");
    let cases: [(Option<(&str, &str)>, &str); 5] = [
        (None, DEFAULT_ACCOUNT_SID),
        (Some((DEFAULT_ACCOUNT_SID, "wrong")), DEFAULT_ACCOUNT_SID),
        (
            Some((DEFAULT_ACCOUNT_SID, "other_token")),
            DEFAULT_ACCOUNT_SID,
        ),
        (
            Some(("AC00000000000000000000000000000000", DEFAULT_AUTH_TOKEN)),
            DEFAULT_ACCOUNT_SID,
        ),
        (Some(("SKnope", "nope")), DEFAULT_ACCOUNT_SID),
    ];
    for (creds, path) in cases {
        let res = reqwest::Client::new()
            .post(messages_url(&f, path))
            .form(&text("x"));
        let res = match creds {
            Some((u, p)) => res.basic_auth(u, Some(p)),
            None => res,
        }
        .send()
        .await
        .unwrap();
        assert_eq!(res.status(), 401, "{creds:?}");
        assert!(res.headers().contains_key("www-authenticate"));
        let v: Value = res.json().await.unwrap();
        is_twilio_error(&v, 401);
        assert_eq!(code(&v), 20003, "{v}");
    }
    // Good credentials, someone else's account in the path.
    let (status, v) = send_as(
        &f,
        Some((other, "other_token")),
        DEFAULT_ACCOUNT_SID,
        &text("x"),
    )
    .await;
    assert_eq!((status, code(&v)), (404, 20404), "{v}");
    is_twilio_error(&v, 404);
    // And the right path for it works.
    let (status, v) = send_as(&f, Some((other, "other_token")), other, &text("x")).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["account_sid"], other);
    // Rotation: the old token stops working.
    f.set_auth_token(other, "rotated");
    let (status, v) = send_as(&f, Some((other, "other_token")), other, &text("x")).await;
    assert_eq!((status, code(&v)), (401, 20003), "{v}");
    // An unknown route under a good account.
    let res = reqwest::Client::new()
        .post(format!(
            "{}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Calls.json",
            f.base_url()
        ))
        .basic_auth(DEFAULT_ACCOUNT_SID, Some(DEFAULT_AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(f.sent().len(), 1);
}

#[tokio::test]
async fn invalid_sends_answer_400_with_their_codes() {
    let f = fake().await;
    let long = "a".repeat(1601);
    let exact = "a".repeat(1600);
    let cases: Vec<Case> = vec![
        ("no To", vec![("From", SENDER), ("Body", "x")], 21604),
        (
            "empty To",
            vec![("From", SENDER), ("To", ""), ("Body", "x")],
            21604,
        ),
        ("no From", vec![("To", USER), ("Body", "x")], 21603),
        (
            "To without prefix",
            vec![("From", SENDER), ("To", "+243990000001"), ("Body", "x")],
            21211,
        ),
        (
            "To not E.164",
            vec![
                ("From", SENDER),
                ("To", "whatsapp:243990000001"),
                ("Body", "x"),
            ],
            21211,
        ),
        (
            "To too short",
            vec![("From", SENDER), ("To", "whatsapp:+12345"), ("Body", "x")],
            21211,
        ),
        (
            "To with letters",
            vec![
                ("From", SENDER),
                ("To", "whatsapp:+2439900000a1"),
                ("Body", "x"),
            ],
            21211,
        ),
        (
            "From without prefix",
            vec![("From", "+243810000000"), ("To", USER), ("Body", "x")],
            21212,
        ),
        (
            "From not E.164",
            vec![("From", "whatsapp:+0438"), ("To", USER), ("Body", "x")],
            21212,
        ),
        (
            "nothing to send",
            vec![("From", SENDER), ("To", USER)],
            21602,
        ),
        (
            "empty Body",
            vec![("From", SENDER), ("To", USER), ("Body", "")],
            21602,
        ),
        (
            "Body too long",
            vec![("From", SENDER), ("To", USER), ("Body", long.as_str())],
            21617,
        ),
        (
            "bad MediaUrl",
            vec![
                ("From", SENDER),
                ("To", USER),
                ("MediaUrl", "ftp://x/y.png"),
            ],
            21620,
        ),
        (
            "bad ContentSid",
            vec![("From", SENDER), ("To", USER), ("ContentSid", "HX12")],
            21655,
        ),
        (
            "bad ContentVariables",
            vec![
                ("From", SENDER),
                ("To", USER),
                ("ContentSid", "HX0123456789abcdef0123456789abcdef"),
                ("ContentVariables", "{1:"),
            ],
            21656,
        ),
        (
            "bad StatusCallback",
            vec![
                ("From", SENDER),
                ("To", USER),
                ("Body", "x"),
                ("StatusCallback", "not a url"),
            ],
            21609,
        ),
        (
            "unknown service",
            vec![
                ("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"),
                ("To", USER),
                ("Body", "x"),
            ],
            21705,
        ),
    ];
    for (name, params, expected) in &cases {
        let (status, v) = send(&f, params).await;
        assert_eq!((status, code(&v)), (400, *expected), "{name}: {v}");
        is_twilio_error(&v, 400);
    }
    assert!(f.sent().is_empty());
    // Limits are inclusive; media alone is enough.
    let (status, v) = send(&f, &text(&exact)).await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = send(
        &f,
        &[
            ("From", SENDER),
            ("To", USER),
            ("MediaUrl", "https://x.org/a.png"),
        ],
    )
    .await;
    assert_eq!(status, 201, "{v}");
    // Registered senders: another From is 63007.
    f.add_sender(DEFAULT_ACCOUNT_SID, SENDER);
    let (status, v) = send(
        &f,
        &[
            ("From", "whatsapp:+243810000009"),
            ("To", USER),
            ("Body", "x"),
        ],
    )
    .await;
    assert_eq!((status, code(&v)), (400, 63007), "{v}");
    let (status, _) = send(&f, &text("x")).await;
    assert_eq!(status, 201);
    let statuses: Vec<u16> = f.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        cases.len() + 1
    );
}

#[tokio::test]
async fn the_account_resource_answers_with_basic_auth() {
    let f = fake().await;
    f.set_account_type(DEFAULT_ACCOUNT_SID, "Trial");
    f.set_friendly_name(DEFAULT_ACCOUNT_SID, "ONG Kivu");
    f.add_api_key(
        DEFAULT_ACCOUNT_SID,
        "SK0123456789abcdef0123456789abcdef",
        "key_secret",
    );
    let url = format!(
        "{}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}.json",
        f.base_url()
    );
    let get = |u: &'static str, p: &'static str| {
        let url = url.clone();
        async move {
            let res = reqwest::Client::new()
                .get(url)
                .basic_auth(u, Some(p))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    let (status, v) = get(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["sid"], DEFAULT_ACCOUNT_SID);
    assert_eq!(v["status"], "active");
    assert_eq!(v["type"], "Trial");
    assert_eq!(v["friendly_name"], "ONG Kivu");
    assert!(
        time::OffsetDateTime::parse(
            v["date_created"].as_str().unwrap(),
            &time::format_description::well_known::Rfc2822
        )
        .is_ok()
    );
    f.set_account_status(DEFAULT_ACCOUNT_SID, "suspended");
    let (status, v) = get(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("suspended")));
    f.set_account_status(DEFAULT_ACCOUNT_SID, "active");
    let (status, v) = get(DEFAULT_ACCOUNT_SID, "wrong").await;
    assert_eq!((status, code(&v)), (401, 20003), "{v}");
    // A Standard API key can send, not read the account.
    let (status, v) = get("SK0123456789abcdef0123456789abcdef", "key_secret").await;
    assert_eq!((status, code(&v)), (401, 20003), "{v}");
    let (status, v) = send_as(
        &f,
        Some(("SK0123456789abcdef0123456789abcdef", "key_secret")),
        DEFAULT_ACCOUNT_SID,
        &text("x"),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(f.sent()[0].auth_user, "SK0123456789abcdef0123456789abcdef");
}

// ---------------------------------------------------------------------------
// Status callbacks

#[tokio::test]
async fn callbacks_go_sent_delivered_read_signed_and_wait_for_the_test() {
    let f = fake().await;
    let app = app(&f).await;
    let cb_url = format!("{PUBLIC}/twilio/status?tenant=1");
    let mut params = text("Bonjour");
    params.push(("StatusCallback", &cb_url));
    let (_, v) = send(&f, &params).await;
    let sid = v["sid"].as_str().unwrap().to_string();
    // Nothing is posted until the test says so; no callback for queued.
    assert!(app.seen().is_empty());
    let pending = f.pending_callbacks();
    let statuses: Vec<&str> = pending.iter().map(|c| c.status.as_str()).collect();
    assert_eq!(statuses, ["sent", "delivered", "read"]);
    assert_eq!(pending[0].url, cb_url);
    assert!(pending[0].post_url.starts_with("http://127.0.0.1:"));
    assert!(pending[0].post_url.ends_with("/twilio/status?tenant=1"));

    let posted = f.post_callbacks().await;
    assert_eq!(
        posted.iter().map(|p| p.http_status).collect::<Vec<_>>(),
        [Some(200); 3]
    );
    assert!(f.pending_callbacks().is_empty());
    assert_eq!(f.posted_callbacks().len(), 3);
    assert!(
        posted
            .iter()
            .all(|p| p.attempts == 1 && p.post_url == pending[0].post_url)
    );
    let seen = app.seen();
    assert_eq!(seen.len(), 3);
    for (s, status) in seen.iter().zip(["sent", "delivered", "read"]) {
        assert_eq!(s.path, "/twilio/status?tenant=1");
        assert_eq!(
            s.headers["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert!(s.headers.contains_key("i-twilio-idempotency-token"));
        assert_eq!(
            s.signature(),
            b4_signature(DEFAULT_AUTH_TOKEN, &cb_url, &s.body)
        );
        assert_eq!(s.param("MessageSid").as_deref(), Some(sid.as_str()));
        assert_eq!(s.param("SmsSid").as_deref(), Some(sid.as_str()));
        assert_eq!(s.param("MessageStatus").as_deref(), Some(status));
        assert_eq!(s.param("SmsStatus").as_deref(), Some(status));
        assert_eq!(s.param("AccountSid").as_deref(), Some(DEFAULT_ACCOUNT_SID));
        assert_eq!(s.param("From").as_deref(), Some(SENDER));
        assert_eq!(s.param("To").as_deref(), Some(USER));
        assert_eq!(s.param("ApiVersion").as_deref(), Some("2010-04-01"));
        assert_eq!(s.param("ChannelPrefix").as_deref(), Some("whatsapp"));
        assert_eq!(
            s.param("ChannelToAddress").as_deref(),
            Some("+243990000001")
        );
        assert!(
            s.param("ChannelInstallSid")
                .is_some_and(|x| x.starts_with("XE"))
        );
        assert_eq!(s.param("ErrorCode"), None);
    }
    assert_eq!(seen[0].param("EventType"), None);
    assert_eq!(seen[1].param("EventType").as_deref(), Some("DELIVERED"));
    assert_eq!(seen[2].param("EventType").as_deref(), Some("READ"));

    // The :443 switch, a bad signature, and the app's answer recorded.
    f.set_status_sequence(&["sent"]);
    app.answer(500, "text/plain", "boom");
    f.sign_with_default_port(true);
    send(&f, &params).await;
    f.post_callbacks().await;
    let s = app.seen().pop().unwrap();
    let port_url = "https://bot.example.org:443/twilio/status?tenant=1";
    assert_eq!(
        s.signature(),
        b4_signature(DEFAULT_AUTH_TOKEN, port_url, &s.body)
    );
    assert_eq!(f.posted_callbacks().last().unwrap().http_status, Some(500));
    assert_eq!(f.debugger().last().unwrap().code, 11200);
    f.sign_with_default_port(false);
    f.bad_signatures(true);
    app.answer(403, "text/plain", "");
    send(&f, &params).await;
    let pending = f.pending_callbacks();
    assert_ne!(
        pending[0].header("X-Twilio-Signature").unwrap(),
        b4_signature(DEFAULT_AUTH_TOKEN, &cb_url, &pending[0].body)
    );
    assert_eq!(f.post_callbacks().await[0].http_status, Some(403));
    // No StatusCallback, no callbacks; an empty sequence, none either.
    send(&f, &text("x")).await;
    f.set_status_sequence(&[]);
    send(&f, &params).await;
    assert!(f.pending_callbacks().is_empty());
}

#[tokio::test]
async fn callbacks_can_be_posted_one_at_a_time_out_of_order() {
    let f = fake().await;
    let app = app(&f).await;
    let cb_url = format!("{PUBLIC}/twilio/status");
    let mut params = text("Bonjour");
    params.push(("StatusCallback", &cb_url));
    let (_, a) = send(&f, &params).await;
    let (_, b) = send(&f, &params).await;
    let (a, b) = (a["sid"].as_str().unwrap(), b["sid"].as_str().unwrap());
    let posted = f.post_callback_for(b, "read").await.unwrap();
    assert_eq!(
        (posted.message_sid.as_str(), posted.status.as_str()),
        (b, "read")
    );
    assert!(f.post_callback_for(b, "read").await.is_none());
    f.post_callback_for(a, "delivered").await.unwrap();
    let order: Vec<(String, String)> = app
        .seen()
        .iter()
        .map(|s| {
            (
                s.param("MessageSid").unwrap(),
                s.param("MessageStatus").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [(b.into(), "read".into()), (a.into(), "delivered".into())]
    );
    let left: Vec<(String, String)> = f
        .pending_callbacks()
        .into_iter()
        .map(|c| (c.message_sid, c.status))
        .collect();
    assert_eq!(
        left,
        [
            (a.to_string(), "sent".to_string()),
            (a.to_string(), "read".to_string()),
            (b.to_string(), "sent".to_string()),
            (b.to_string(), "delivered".to_string()),
        ]
    );
    // Taken callbacks are no longer pending and can be posted by hand.
    let taken = f.take_pending_callbacks();
    assert_eq!(taken.len(), 4);
    assert!(f.pending_callbacks().is_empty());
    assert_eq!(
        taken[0].header("X-Twilio-Signature").unwrap(),
        b4_signature(DEFAULT_AUTH_TOKEN, &cb_url, &taken[0].body)
    );
}

#[tokio::test]
async fn free_form_outside_the_window_fails_with_63016_and_templates_pass() {
    let f = FakeTwilio::start().await;
    let cb = format!("{PUBLIC}/s");
    let free = |body: &'static str| {
        vec![
            ("From", SENDER),
            ("To", USER),
            ("Body", body),
            ("StatusCallback", cb.as_str()),
        ]
    };
    let failed_code = |f: &FakeTwilio| {
        let p = f.take_pending_callbacks();
        p.iter()
            .map(|c| (c.status.clone(), c.param("ErrorCode").map(str::to_string)))
            .collect::<Vec<_>>()
    };
    let failed = vec![("failed".to_string(), Some("63016".to_string()))];
    // Never wrote: accepted (201, queued), then failed 63016.
    let (status, v) = send(&f, &free("a")).await;
    assert_eq!((status, v["status"].as_str()), (201, Some("queued")));
    let cbs = f.pending_callbacks();
    assert!(cbs[0].param("ChannelStatusMessage").is_some());
    assert_eq!(failed_code(&f), failed);
    assert_eq!(f.sent()[0].failed_with, Some(63016));
    // Media-only is free-form too.
    send(
        &f,
        &[
            ("From", SENDER),
            ("To", USER),
            ("MediaUrl", "https://x.org/a.png"),
            ("StatusCallback", cb.as_str()),
        ],
    )
    .await;
    assert_eq!(failed_code(&f), failed);
    // A template passes.
    send(
        &f,
        &[
            ("From", SENDER),
            ("To", USER),
            ("ContentSid", "HX0123456789abcdef0123456789abcdef"),
            ("StatusCallback", cb.as_str()),
        ],
    )
    .await;
    assert_eq!(failed_code(&f).len(), 3);
    // Wrote 23 h 59 ago: open; 24 h ago: closed.
    f.user_wrote(USER, f.now() - Duration::from_secs(24 * 3600 - 60));
    send(&f, &free("b")).await;
    assert_eq!(failed_code(&f)[0].0, "sent");
    f.advance_clock(Duration::from_secs(120));
    send(&f, &free("c")).await;
    assert_eq!(failed_code(&f), failed);
    // An inbound message opens the window for that sender only.
    let app = app(&f).await;
    let r = f
        .post_inbound(
            &Inbound::text(USER, SENDER, "Bonjour"),
            &format!("{PUBLIC}/whatsapp/webhook"),
        )
        .await;
    assert_eq!(r.http_status, Some(200));
    assert_eq!(app.seen().len(), 1);
    send(&f, &free("d")).await;
    assert_eq!(failed_code(&f)[0].0, "sent");
    send(
        &f,
        &[
            ("From", "whatsapp:+243810000009"),
            ("To", USER),
            ("Body", "e"),
            ("StatusCallback", cb.as_str()),
        ],
    )
    .await;
    assert_eq!(failed_code(&f), failed);
    // The fetched message reports the failure.
    let last = f.sent().pop().unwrap();
    let v: Value = reqwest::Client::new()
        .get(format!(
            "{}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages/{}.json",
            f.base_url(),
            last.sid
        ))
        .basic_auth(DEFAULT_ACCOUNT_SID, Some(DEFAULT_AUTH_TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["status"].as_str(), v["error_code"].as_i64()),
        (Some("failed"), Some(63016))
    );
}

#[tokio::test]
async fn sandbox_recipients_must_join_or_sends_fail_with_63015() {
    let f = fake().await;
    let app = app(&f).await;
    f.enable_sandbox(DEFAULT_ACCOUNT_SID, "orange-tiger");
    let cb = format!("{PUBLIC}/s");
    let params = vec![
        ("From", SANDBOX_NUMBER),
        ("To", USER),
        ("Body", "x"),
        ("StatusCallback", cb.as_str()),
    ];
    let outcome = |f: &FakeTwilio| {
        f.take_pending_callbacks()
            .iter()
            .map(|c| (c.status.clone(), c.param("ErrorCode").map(str::to_string)))
            .next()
            .unwrap()
    };
    let (status, _) = send(&f, &params).await;
    assert_eq!(status, 201);
    assert_eq!(outcome(&f), ("failed".into(), Some("63015".into())));
    // Another sender of the account is not the sandbox.
    send(
        &f,
        &[
            ("From", SENDER),
            ("To", USER),
            ("Body", "x"),
            ("StatusCallback", cb.as_str()),
        ],
    )
    .await;
    assert_eq!(outcome(&f).0, "sent");
    // A wrong code is forwarded to the app, and does not join.
    let hook = format!("{PUBLIC}/whatsapp/webhook");
    let r = f
        .post_inbound(
            &Inbound::text(USER, SANDBOX_NUMBER, "join apple-pie"),
            &hook,
        )
        .await;
    assert!(r.forwarded);
    send(&f, &params).await;
    assert_eq!(outcome(&f), ("failed".into(), Some("63015".into())));
    // The right code joins, and Twilio keeps the message.
    let r = f
        .post_inbound(
            &Inbound::text(USER, SANDBOX_NUMBER, "  JOIN   Orange-Tiger "),
            &hook,
        )
        .await;
    assert!(!r.forwarded);
    assert_eq!(app.seen().len(), 1);
    send(&f, &params).await;
    assert_eq!(outcome(&f).0, "sent");
    // Membership lasts 3 days (and the window must be open too).
    f.advance_clock(Duration::from_secs(3 * 24 * 3600 + 1));
    f.user_wrote(USER, f.now());
    send(&f, &params).await;
    assert_eq!(outcome(&f), ("failed".into(), Some("63015".into())));
    f.join_sandbox(DEFAULT_ACCOUNT_SID, USER);
    send(&f, &params).await;
    assert_eq!(outcome(&f).0, "sent");
}

// ---------------------------------------------------------------------------
// Inbound webhooks

#[tokio::test]
async fn inbound_posts_carry_the_b2_fields_signed_over_the_public_url() {
    let f = fake().await;
    let app = app(&f).await;
    let hook = format!("{PUBLIC}/whatsapp/webhook");
    let msg = Inbound::text("+243990000001", "+243810000000", "Bonjour + à & =")
        .sid("SM0123456789abcdef0123456789abcdef")
        .profile_name("Amani K.")
        .media(
            "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME1",
            "image/jpeg",
        )
        .media(
            "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM1/Media/ME2",
            "application/pdf",
        );
    let r = f.post_inbound(&msg, &hook).await;
    assert_eq!(r.http_status, Some(200));
    let s = &app.seen()[0];
    assert_eq!(s.path, "/whatsapp/webhook");
    assert_eq!(
        s.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert!(
        s.body.contains("From=whatsapp%3A%2B243990000001"),
        "{}",
        s.body
    );
    assert!(
        s.body.contains("Body=Bonjour+%2B+%C3%A0+%26+%3D"),
        "{}",
        s.body
    );
    let p = |k: &str| s.param(k);
    assert_eq!(p("From").as_deref(), Some(USER));
    assert_eq!(p("To").as_deref(), Some(SENDER));
    assert_eq!(p("Body").as_deref(), Some("Bonjour + à & ="));
    assert_eq!(
        p("MessageSid").as_deref(),
        Some("SM0123456789abcdef0123456789abcdef")
    );
    assert_eq!(p("SmsSid"), p("MessageSid"));
    assert_eq!(p("SmsMessageSid"), p("MessageSid"));
    assert_eq!(p("AccountSid").as_deref(), Some(DEFAULT_ACCOUNT_SID));
    assert_eq!(p("NumMedia").as_deref(), Some("2"));
    assert!(p("MediaUrl0").unwrap().ends_with("/ME1"));
    assert_eq!(p("MediaContentType0").as_deref(), Some("image/jpeg"));
    assert_eq!(p("MediaContentType1").as_deref(), Some("application/pdf"));
    assert_eq!(p("ProfileName").as_deref(), Some("Amani K."));
    assert_eq!(p("WaId").as_deref(), Some("243990000001"));
    assert_eq!(p("ApiVersion").as_deref(), Some("2010-04-01"));
    assert!(p("FutureField").is_some(), "an undocumented field");
    assert_eq!(
        s.signature(),
        b4_signature(DEFAULT_AUTH_TOKEN, &hook, &s.body)
    );

    // Buttons.
    let msg = Inbound::text(USER, SENDER, "").button("Femme", "g2");
    f.post_inbound(&msg, &hook).await;
    let s = app.seen().pop().unwrap();
    assert_eq!(
        (
            s.param("ButtonText"),
            s.param("ButtonPayload"),
            s.param("Body")
        ),
        (
            Some("Femme".into()),
            Some("g2".into()),
            Some("Femme".into())
        )
    );
    assert_eq!(s.param("NumMedia").as_deref(), Some("0"));
    // The :443 switch, the bad-signature switch, another account's token.
    f.sign_with_default_port(true);
    f.post_inbound(&msg, &hook).await;
    let s = app.seen().pop().unwrap();
    let with_port = "https://bot.example.org:443/whatsapp/webhook";
    assert_eq!(
        s.signature(),
        b4_signature(DEFAULT_AUTH_TOKEN, with_port, &s.body)
    );
    f.sign_with_default_port(false);
    f.bad_signatures(true);
    f.post_inbound(&msg, &hook).await;
    let s = app.seen().pop().unwrap();
    assert_ne!(
        s.signature(),
        b4_signature(DEFAULT_AUTH_TOKEN, &hook, &s.body)
    );
    f.bad_signatures(false);
    let other = "AC99999999999999999999999999999999";
    f.add_account(other, "other_token");
    f.post_inbound(&msg.clone().account(other), &hook).await;
    let s = app.seen().pop().unwrap();
    assert_eq!(s.signature(), b4_signature("other_token", &hook, &s.body));
    // Location and replies.
    let m = Inbound::text(USER, SENDER, "ignored")
        .location(-1.67, 29.22)
        .replying_to("SM0123456789abcdef0123456789abcdef", SENDER);
    let r: InboundResult = f.post_inbound(&m, &hook).await;
    assert_eq!(r.http_status, Some(200));
    let s = app.seen().pop().unwrap();
    assert_eq!(
        (s.param("Latitude"), s.param("Longitude")),
        (Some("-1.67".into()), Some("29.22".into()))
    );
    assert_eq!(
        (s.param("MessageType"), s.param("Body")),
        (Some("location".into()), Some(String::new()))
    );
    assert_eq!(
        s.param("OriginalRepliedMessageSid").as_deref(),
        Some("SM0123456789abcdef0123456789abcdef")
    );
    assert_eq!(
        s.param("OriginalRepliedMessageSender").as_deref(),
        Some(SENDER)
    );
    assert_eq!(s.body, form_body(m.params()));
    // Building: set replaces, add repeats, without removes.
    let m = Inbound::text(USER, SENDER, "x")
        .set("Body", "y")
        .add("Extra", "1")
        .add("Extra", "2")
        .without("WaId");
    assert_eq!(m.get("Body"), Some("y"));
    assert_eq!(m.params().iter().filter(|(k, _)| k == "Extra").count(), 2);
    assert_eq!(m.get("WaId"), None);
    assert_eq!(m.params().iter().filter(|(k, _)| k == "Body").count(), 1);
}

#[tokio::test]
async fn twiml_answers_become_messages_and_bad_ones_are_logged() {
    let f = fake().await;
    let app = app(&f).await;
    let hook = format!("{PUBLIC}/whatsapp/webhook");
    app.answer(
        200,
        "text/xml; charset=utf-8",
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Message><Body>Votre code CIU est MBEIBR7DA1</Body><Media>https://bot.example.org/qr/MBEIBR7DA1.png</Media></Message>
  <Message>
    Merci &amp; à bientôt &#233;
  </Message>
</Response>"#,
    );
    let r = f
        .post_inbound(
            &Inbound::text(USER, SENDER, "1").sid("SM0000000000000000000000000000000a"),
            &hook,
        )
        .await;
    assert_eq!(r.errors, []);
    assert_eq!(
        r.texts(),
        ["Votre code CIU est MBEIBR7DA1", "Merci & à bientôt é"]
    );
    assert_eq!(
        r.messages[0].media,
        ["https://bot.example.org/qr/MBEIBR7DA1.png"]
    );
    let replies = f.twiml_replies();
    assert_eq!(replies.len(), 2);
    assert_eq!(
        (replies[0].from.as_str(), replies[0].to.as_str()),
        (SENDER, USER)
    );
    assert_eq!(replies[0].in_reply_to, "SM0000000000000000000000000000000a");
    assert_eq!(
        replies[1].message,
        TwimlMessage {
            body: "Merci & à bientôt é".into(),
            ..TwimlMessage::default()
        }
    );
    assert_eq!(r.content_type.as_deref(), Some("text/xml; charset=utf-8"));
    assert!(r.answer.starts_with("<?xml"));
    assert!(r.headers.iter().any(|(k, _)| k == "X-Twilio-Signature"));

    app.answer(200, "text/xml", "<Response/>");
    let r = f
        .post_inbound(&Inbound::text(USER, SENDER, "2"), &hook)
        .await;
    assert!(r.messages.is_empty() && r.errors.is_empty());

    app.answer(200, "text/xml", "<Response><Message>oops</Response>");
    let r = f
        .post_inbound(&Inbound::text(USER, SENDER, "3"), &hook)
        .await;
    assert_eq!(r.error_code(), Some(12100));
    assert!(r.messages.is_empty());
    assert_eq!(f.debugger().last().unwrap().code, 12100);
    assert_eq!(f.twiml_replies().len(), 2);

    app.answer(500, "text/xml", "<Response><Message>x</Message></Response>");
    let r = f
        .post_inbound(&Inbound::text(USER, SENDER, "4"), &hook)
        .await;
    assert_eq!((r.http_status, r.error_code()), (Some(500), Some(11200)));
    assert!(r.messages.is_empty());

    // Parsing cases, one by one.
    let ok = |xml: &str| parse_twiml(xml).unwrap();
    let t = ok(
        "<Response><Message>a</Message><Message><Body>b</Body></Message><Message><Body>c</Body><Media>u1</Media><Media> u2 </Media></Message></Response>",
    );
    assert_eq!(
        t.messages
            .iter()
            .map(|m| m.body.as_str())
            .collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert_eq!(t.messages[2].media, ["u1", "u2"]);
    assert_eq!(ok("<Response></Response>"), Twiml::default());
    assert_eq!(ok("<?xml version=\"1.0\"?><Response />"), Twiml::default());
    let t = ok("<Response><Message><![CDATA[<b>x</b>]]></Message></Response>");
    assert_eq!(t.messages[0].body, "<b>x</b>");
    let media: String = (0..11)
        .map(|i| format!("<Media>https://x.org/{i}.png</Media>"))
        .collect();
    let t = ok(&format!("<Response><Message>{media}</Message></Response>"));
    assert_eq!(t.messages[0].media.len(), 10);
    assert_eq!(
        t.warnings.iter().map(|w| w.code).collect::<Vec<_>>(),
        [12200]
    );
    let t =
        ok("<Response><Message to=\"+243990000002\">a</Message><Say>hi</Say><Message/></Response>");
    assert_eq!(t.messages.len(), 1);
    assert_eq!(t.messages[0].to.as_deref(), Some("+243990000002"));
    assert_eq!(
        t.warnings.iter().map(|w| w.code).collect::<Vec<_>>(),
        [12200, 14103]
    );
    for bad in [
        "<Response><Message>a</Message>",
        "<Response><Message>a</Body></Message></Response>",
        "not xml at all <",
        "<Response>&nbsp;</Response>",
        "<Response/><Response/>",
    ] {
        assert_eq!(parse_twiml(bad).map_err(|e| e.code), Err(12100), "{bad}");
    }
    assert!(matches!(
        parse_twiml("<Reply><Message>a</Message></Reply>"),
        Err(TwimlError { code: 12200, .. })
    ));
    // By content type.
    assert_eq!(
        parse_answer(Some("text/plain"), " hi ").unwrap().messages[0].body,
        "hi"
    );
    assert_eq!(
        parse_answer(Some("application/json"), "{}").map_err(|e| e.code),
        Err(12300)
    );
    assert_eq!(
        parse_answer(Some("application/json"), ""),
        Ok(Twiml::default())
    );
    assert_eq!(
        parse_answer(
            Some("application/xml"),
            "<Response><Message>x</Message></Response>"
        )
        .unwrap()
        .messages
        .len(),
        1
    );
}

#[tokio::test]
async fn a_silent_app_times_out_with_11200_and_is_retried_only_when_asked() {
    let f = fake().await;
    let app = app(&f).await;
    let hook = format!("{PUBLIC}/whatsapp/webhook");
    f.set_webhook_timeout(Duration::from_millis(300));
    app.delay(Some(Duration::from_secs(2)));
    let r = f
        .post_inbound(&Inbound::text(USER, SENDER, "a"), &hook)
        .await;
    assert_eq!(
        (r.http_status, r.error_code(), r.attempts),
        (None, Some(11200), 1)
    );
    f.set_webhook_retries(2);
    let msg = Inbound::text(USER, SENDER, "b");
    let r = f.post_inbound(&msg, &hook).await;
    assert_eq!((r.http_status, r.attempts), (None, 3));
    let seen = app.seen();
    assert_eq!(seen.len(), 4);
    // The retries are the same request.
    assert_eq!(seen[1].body, seen[3].body);
    assert_eq!(
        seen[1].headers["i-twilio-idempotency-token"],
        seen[3].headers["i-twilio-idempotency-token"]
    );
    // Nobody listening: 11205.
    f.route_public_url("https://gone.example.org", "http://127.0.0.1:9");
    let r = f.post_inbound(&msg, "https://gone.example.org/hook").await;
    assert_eq!((r.http_status, r.error_code()), (None, Some(11205)));
    // Callbacks use the same delivery.
    app.delay(None);
    f.set_webhook_retries(0);
    let cb = format!("{PUBLIC}/s");
    send(
        &f,
        &[
            ("From", SENDER),
            ("To", USER),
            ("Body", "x"),
            ("StatusCallback", cb.as_str()),
        ],
    )
    .await;
    f.set_status_sequence(&["sent"]);
    app.delay(Some(Duration::from_secs(2)));
    let posted = f.post_callbacks().await;
    assert!(posted.iter().all(|p| p.http_status.is_none()), "{posted:?}");
}

// ---------------------------------------------------------------------------
// Failure injection

#[tokio::test]
async fn injected_failures_count_down_then_service_resumes() {
    let f = fake().await;
    f.fail_next_sends(1, Failure::too_many_requests());
    f.fail_next_sends(1, Failure::server_error());
    f.fail_next_sends(
        1,
        Failure::Api {
            status: 400,
            code: 21211,
        },
    );
    f.fail_next_sends(1, Failure::Status(502));
    let (status, v) = send(&f, &text("a")).await;
    assert_eq!((status, code(&v)), (429, 20429), "{v}");
    assert_eq!(v, error_json(429, 20429, "Too Many Requests"));
    is_twilio_error(&v, 429);
    let (status, v) = send(&f, &text("b")).await;
    assert_eq!((status, code(&v)), (500, 20500), "{v}");
    let (status, v) = send(&f, &text("c")).await;
    assert_eq!((status, code(&v)), (400, 21211), "{v}");
    // Bad credentials do not take an injected failure.
    let (status, _) = send_as(
        &f,
        Some((DEFAULT_ACCOUNT_SID, "x")),
        DEFAULT_ACCOUNT_SID,
        &text("d"),
    )
    .await;
    assert_eq!(status, 401);
    let res = reqwest::Client::new()
        .post(messages_url(&f, DEFAULT_ACCOUNT_SID))
        .basic_auth(DEFAULT_ACCOUNT_SID, Some(DEFAULT_AUTH_TOKEN))
        .form(&text("e"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert!(serde_json::from_str::<Value>(&res.text().await.unwrap()).is_err());
    let (status, _) = send(&f, &text("f")).await;
    assert_eq!(status, 201);
    assert_eq!(
        f.sent()
            .iter()
            .map(|m| m.body.clone().unwrap())
            .collect::<Vec<_>>(),
        ["f"]
    );
    let statuses: Vec<u16> = f.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 500, 400, 401, 502, 201]);

    // A delay, then normal service.
    f.fail_next_sends(1, Failure::Delay(Duration::from_millis(400)));
    let t = std::time::Instant::now();
    let (status, _) = send(&f, &text("g")).await;
    assert_eq!(status, 201);
    assert!(t.elapsed() >= Duration::from_millis(400));

    // Asynchronous failures.
    f.fail_next_sends_async(1, "undelivered", 63018);
    let cb = format!("{PUBLIC}/s");
    send(
        &f,
        &[
            ("From", SENDER),
            ("To", USER),
            ("Body", "x"),
            ("StatusCallback", cb.as_str()),
        ],
    )
    .await;
    let p = f.take_pending_callbacks();
    assert_eq!(
        (p.len(), p[0].status.as_str(), p[0].param("ErrorCode")),
        (1, "undelivered", Some("63018"))
    );
}

#[tokio::test]
async fn a_reset_drops_the_connection_and_fail_all_hits_every_route() {
    let f = fake().await;
    let client = reqwest::Client::new();
    let post = |body: &'static str| {
        client
            .post(messages_url(&f, DEFAULT_ACCOUNT_SID))
            .basic_auth(DEFAULT_ACCOUNT_SID, Some(DEFAULT_AUTH_TOKEN))
            .form(&[("From", SENDER), ("To", USER), ("Body", body)])
            .send()
    };
    assert_eq!(post("a").await.unwrap().status(), 201);
    f.fail_next_sends(1, Failure::Reset);
    let err = post("b").await.expect_err("a reset is not an answer");
    assert!(err.status().is_none(), "{err:?}");
    assert_eq!(post("c").await.unwrap().status(), 201);
    f.fail_all(Some(Failure::Reset));
    assert!(post("d").await.is_err());
    let account = client
        .get(format!(
            "{}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}.json",
            f.base_url()
        ))
        .basic_auth(DEFAULT_ACCOUNT_SID, Some(DEFAULT_AUTH_TOKEN))
        .send()
        .await;
    assert!(account.is_err());
    f.fail_all(Some(Failure::Api {
        status: 503,
        code: 20503,
    }));
    assert_eq!(post("e").await.unwrap().status(), 503);
    f.fail_all(None);
    f.set_delay(Some(Duration::from_millis(300)));
    let t = std::time::Instant::now();
    assert_eq!(post("f").await.unwrap().status(), 201);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let bodies: Vec<String> = f.sent().iter().map(|m| m.body.clone().unwrap()).collect();
    assert_eq!(bodies, ["a", "c", "f"]);
    let statuses: Vec<u16> = f.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201, 0, 201, 0, 0, 503, 201]);
    let r = &f.requests()[4];
    assert_eq!((r.method.as_str(), r.query.as_str()), ("GET", ""));
    assert_eq!(
        r.path,
        format!("/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}.json")
    );
    assert!(
        r.authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))
    );
    assert!(
        f.requests()[0]
            .body
            .starts_with(b"From=whatsapp%3A%2B243810000000&")
    );
}

#[tokio::test]
async fn a_messaging_service_replaces_from() {
    let f = fake().await;
    let mg = "MG0123456789abcdef0123456789abcdef";
    f.add_messaging_service(DEFAULT_ACCOUNT_SID, mg, SENDER);
    let cb = format!("{PUBLIC}/s");
    let (status, v) = send(
        &f,
        &[
            ("MessagingServiceSid", mg),
            ("To", USER),
            ("Body", "x"),
            ("StatusCallback", cb.as_str()),
        ],
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["status"], "accepted");
    assert!(v["from"].is_null());
    assert_eq!(v["messaging_service_sid"], mg);
    let p = f.take_pending_callbacks();
    assert_eq!(p[0].param("From"), Some(SENDER));
    assert_eq!(p[0].param("MessagingServiceSid"), Some(mg));
}

#[tokio::test]
async fn inbound_media_needs_basic_auth_then_redirects_to_the_file() {
    let f = fake().await;
    let other = "AC99999999999999999999999999999999";
    f.add_account(other, "other_token");
    let url = f.add_media(DEFAULT_ACCOUNT_SID, "image/jpeg", b"\xff\xd8\xffjpeg");
    assert!(url.starts_with(&format!(
        "{}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages/MM",
        f.base_url()
    )));
    assert!(url.contains("/Media/ME"));
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = no_redirects.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let v: Value = res.json().await.unwrap();
    assert_eq!(code(&v), 20003);
    // Another account's credentials: not found for it.
    let res = no_redirects
        .get(&url)
        .basic_auth(other, Some("other_token"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = no_redirects
        .get(&url)
        .basic_auth(DEFAULT_ACCOUNT_SID, Some(DEFAULT_AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 307);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/media-cdn/"), "{location}");
    // The CDN copy needs no credentials.
    let res = reqwest::get(format!("{}{location}", f.base_url()))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert_eq!(&res.bytes().await.unwrap()[..], b"\xff\xd8\xffjpeg");
    // A client following redirects gets the file in one call.
    let res = reqwest::Client::new()
        .get(&url)
        .basic_auth(DEFAULT_ACCOUNT_SID, Some(DEFAULT_AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // An unknown media path: 404 / 20404.
    let res = no_redirects
        .get(format!(
            "{}/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages/MM1/Media/ME1",
            f.base_url()
        ))
        .basic_auth(DEFAULT_ACCOUNT_SID, Some(DEFAULT_AUTH_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
