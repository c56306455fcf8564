//! Bad input gets a clear 4xx, never a 500, and nothing half-written.

use crate::both_backends;
use crate::helpers::*;
use rstest_reuse::apply;

async fn assert_nothing_stored(app: &TestApp) {
    for table in ["contacts", "conversations", "messages", "uic_registrations"] {
        assert_eq!(app.count(table).await, 0, "{table} has rows");
    }
}

async fn post_raw(app: &TestApp, content_type: Option<&str>, body: Vec<u8>) -> (u16, String) {
    let mut req = app.client.post(app.webhook_url()).body(body);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

#[apply(both_backends)]
#[tokio::test]
async fn malformed_webhooks_get_a_clear_client_error(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };

    let (status, body) = post_raw(&app, FORM, Vec::new()).await;
    assert_eq!(status, 400, "empty body: {body}");
    assert!(
        body.contains("MessageSid") || body.contains("missing"),
        "{body}"
    );

    let (status, _) = post_raw(&app, FORM, vec![b'a'; 4 * 1024 * 1024]).await;
    assert_eq!(status, 413, "a huge body is refused");

    let (status, body) = post_raw(
        &app,
        FORM,
        b"Body=%FF%FE&From=whatsapp%3A%2B243990000001".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "invalid UTF-8: {body}");
    assert!(body.to_lowercase().contains("utf-8"), "{body}");

    let (status, body) = post_raw(
        &app,
        FORM,
        b"Body=Bonjour&To=whatsapp%3A%2B14155238886".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "missing fields: {body}");

    let (status, body) = post_raw(&app, None, b"Body=Bonjour".to_vec()).await;
    assert_eq!(status, 415, "no content type: {body}");
    let (status, _) = post_raw(&app, Some("text/plain"), b"hello".to_vec()).await;
    assert_eq!(status, 415);

    // A well-formed, well-signed message to a number nobody configured.
    let params = twilio_params(
        "SM1",
        "whatsapp:+243990000001",
        "whatsapp:+19999999999",
        "Bonjour",
    );
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = app.twilio_post(&params, TWILIO_TOKEN).await;
    assert_eq!(res.status(), 404);
    let body = res.text().await.unwrap();
    assert!(body.contains("no Twilio WhatsApp account"), "{body}");
    assert!(
        !body.contains("19999999999"),
        "the full number is not echoed: {body}"
    );

    assert_nothing_stored(&app).await;
}

#[apply(both_backends)]
#[tokio::test]
async fn malformed_sandbox_messages_get_a_clear_client_error(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = format!("{}/sandbox/sandbox/messages", app.address);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("application/json", b"".to_vec(), 400),
        ("application/json", b"{not json".to_vec(), 400),
        (
            "application/json",
            b"{\"from\":\"+243990000001\"}".to_vec(),
            400,
        ),
        (
            "application/json",
            b"{\"from\":\"0990000001\",\"text\":\"x\"}".to_vec(),
            400,
        ),
        ("application/json", vec![0xff, 0xfe, b'{', b'}'], 400),
        ("text/plain", b"{}".to_vec(), 415),
    ];
    for (ct, body, expected) in cases {
        let res = app
            .client
            .post(&url)
            .header("Content-Type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(
            status,
            expected,
            "{:?} -> {text}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            text.contains("error"),
            "a message says what is wrong: {text}"
        );
    }
    let res = app
        .client
        .post(format!("{}/sandbox/nope/messages", app.address))
        .json(&serde_json::json!({"from": "+243990000001", "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // A Twilio account cannot be driven through the sandbox endpoint.
    let res = app
        .client
        .post(format!("{}/sandbox/twilio/messages", app.address))
        .json(&serde_json::json!({"from": "+243990000001", "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // Through a reverse proxy, for someone elsewhere: refused.
    let res = app
        .client
        .post(format!("{}/sandbox/sandbox/messages", app.address))
        .header("X-Forwarded-For", "41.243.12.7")
        .json(&serde_json::json!({"from": "+243990000001", "text": "Bonjour"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("simulator"));
    assert_nothing_stored(&app).await;
}

#[apply(both_backends)]
#[tokio::test]
async fn the_sandbox_talks_like_the_bot(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let phone = "+243990000005";
    let mut replies = Vec::new();
    for text in ["Bonjour", "Mbengue", "Ibrahima", "1997", "DA", "Homme"] {
        replies = app.sandbox_say(phone, text).await;
    }
    assert!(
        replies.iter().any(|r| r.contains("MBEIBR7DA1")),
        "{replies:#?}"
    );
}
