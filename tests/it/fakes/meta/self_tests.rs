//! The fake's own tests, over real HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{server::*, state::*, webhook::*};

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

async fn post_json(f: &FakeMeta, token: Option<&str>, path: &str, body: &Value) -> (u16, Value) {
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
async fn debug_token_shows_each_token_grants_and_one_state_decides_everywhere() {
    let f = fake().await;
    let debug = |input: &str| {
        format!(
            "debug_token?input_token={input}&access_token={}",
            f.app_token()
        )
    };
    f.set_token_kind(TOKEN, "USER");
    f.set_token_scopes(TOKEN, &["whatsapp_business_management"]);
    f.set_token_app(TOKEN, "999999");
    f.set_token_targets(TOKEN, Some(&["555"]));
    let (status, body) = get_json(&f, None, &debug(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(
        (
            data["type"].as_str(),
            data["app_id"].as_str(),
            data["is_valid"].as_bool()
        ),
        (Some("USER"), Some("999999"), Some(true))
    );
    assert_eq!(data["scopes"], json!(["whatsapp_business_management"]));
    assert_eq!(
        data["granular_scopes"],
        json!([{"scope": "whatsapp_business_management", "target_ids": ["555"]}])
    );
    f.set_token_targets(TOKEN, None);
    let (_, body) = get_json(&f, None, &debug(TOKEN)).await;
    assert_eq!(
        body["data"]["granular_scopes"],
        json!([{"scope": "whatsapp_business_management"}])
    );
    // Grants change what debug_token says, not what Graph accepts.
    assert_eq!(send(&f, &text("x")).await.0, 200);

    // A revoked token: invalid with its error, refused by sends and the
    // number node.
    f.revoke_token(TOKEN);
    let (_, body) = get_json(&f, None, &debug(TOKEN)).await;
    assert_eq!(body["data"]["is_valid"], false);
    assert_eq!(body["data"]["error"]["code"], 190);
    let (status, body) = send(&f, &text("x")).await;
    assert_eq!((status, code(&body)), (401, 190));
    let (status, body) = get_json(&f, Some(TOKEN), PNID).await;
    assert_eq!((status, code(&body)), (401, 190));
}

#[tokio::test]
async fn the_messaging_limit_field_can_be_set_or_missing() {
    let f = fake().await;
    let path = format!("{PNID}?fields=quality_rating,whatsapp_business_manager_messaging_limit");
    let (status, body) = get_json(&f, Some(TOKEN), &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["whatsapp_business_manager_messaging_limit"], "TIER_2K");
    f.set_messaging_limit(PNID, Some("TIER_UNLIMITED"));
    let (_, body) = get_json(&f, Some(TOKEN), &path).await;
    assert_eq!(
        body["whatsapp_business_manager_messaging_limit"],
        "TIER_UNLIMITED"
    );
    f.set_messaging_limit(PNID, None);
    let (status, body) = get_json(&f, Some(TOKEN), &path).await;
    assert_eq!((status, code(&body)), (400, 100));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("whatsapp_business_manager_messaging_limit")
    );
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
    let (status, body) = get_json(&f, Some(TOKEN), &format!("{PNID}?fields=quality_ratings")).await;
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
