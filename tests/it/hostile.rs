//! Hostile input: control characters in every kind of input, one bad
//! message in a batch, signed input that is still wrong, and clients that
//! send their requests slowly or never finish them.

use crate::both_backends;
use crate::fakes::meta::{FakeMeta, WebhookBuilder, signed_webhook};
use crate::helpers::*;
use crate::meta::{APP_SECRET, DISPLAY, PNID, all_sent, meta_app};
use reqwest::StatusCode;
use rstest_reuse::apply;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uic_inbox::auth::BuiltinRole;
use uic_inbox::on_db;

const PHONES: [&str; 3] = ["243990000011", "243990000012", "243990000013"];

/// Inbound messages stored, and those of one provider id.
async fn inbound(app: &TestApp) -> i64 {
    app.count("messages WHERE direction = 'in'").await
}

async fn dead_letters(app: &TestApp) -> Vec<(String, String)> {
    on_db!(&app.state.db, p => sqlx::query_as::<_, (String, String)>(
        "SELECT reason, body FROM webhook_dead_letters ORDER BY id").fetch_all(p).await.unwrap())
}

/// Posts a signed batch and checks it was acknowledged.
async fn post_batch(app: &TestApp, fake: &FakeMeta, body: &[u8]) {
    fake.note_inbound(body);
    let res = signed_webhook(&app.address, APP_SECRET, body).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

#[apply(both_backends)]
#[tokio::test]
async fn a_nul_in_a_meta_batch_holds_back_no_message(#[case] backend: Backend) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    let body = WebhookBuilder::new()
        .text(PNID, DISPLAY, PHONES[0], "wamid.n1", "Bonjour")
        .text(PNID, DISPLAY, PHONES[1], "wamid.n2", "Bon\0jour\u{1b}")
        .with_contact_name("Ami\0 Kabila")
        .text(PNID, DISPLAY, PHONES[2], "wamid.n3", "Bonjour")
        .build();
    post_batch(&app, &fake, &body).await;
    // All three were answered with the welcome (question 1), once each.
    assert_eq!(inbound(&app).await, 3);
    assert_eq!(app.count("conversations").await, 3);
    all_sent(&app).await;
    for phone in PHONES {
        let texts = fake.sent_texts_to(phone);
        assert!(
            texts.iter().any(|t| t.contains("Question 1")),
            "{phone} was not answered: {texts:?}"
        );
    }
    // Meta retries the batch: nothing is stored or answered twice.
    post_batch(&app, &fake, &body).await;
    assert_eq!(inbound(&app).await, 3);
    assert_eq!(app.count("outbox").await, 3);
    assert!(dead_letters(&app).await.is_empty());
}

#[apply(both_backends)]
#[tokio::test]
async fn an_escaped_lone_surrogate_is_read_not_refused(#[case] backend: Backend) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    let body = WebhookBuilder::new()
        .text(PNID, DISPLAY, PHONES[0], "wamid.s1", "SURROGATE")
        .build_string()
        .replace("SURROGATE", "Bonjour \\ud800 \\udfff \\u0000");
    post_batch(&app, &fake, body.as_bytes()).await;
    assert_eq!(inbound(&app).await, 1);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_message_that_cannot_be_stored_goes_to_the_dead_letters_and_the_rest_are_answered(
    #[case] backend: Backend,
) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    // The database refuses one message for good, as it would a value it
    // cannot hold.
    match &app.state.db {
        uic_inbox::db::Db::Sqlite(p) => {
            sqlx::query(
                "CREATE TRIGGER poison BEFORE INSERT ON messages
                 WHEN NEW.provider_message_id = 'wamid.poison'
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            )
            .execute(&p.writer)
            .await
            .unwrap();
        }
        uic_inbox::db::Db::Postgres(p) => {
            sqlx::query(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                   IF NEW.provider_message_id = 'wamid.poison' THEN
                     RAISE EXCEPTION 'refused by the test' USING ERRCODE = '22021';
                   END IF;
                   RETURN NEW;
                 END $$",
            )
            .execute(p)
            .await
            .unwrap();
            sqlx::query(
                "CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION poison()",
            )
            .execute(p)
            .await
            .unwrap();
        }
    }
    let body = WebhookBuilder::new()
        .text(PNID, DISPLAY, PHONES[0], "wamid.p1", "Bonjour")
        .text(
            PNID,
            DISPLAY,
            PHONES[1],
            "wamid.poison",
            "Bonjour, je suis Kabila",
        )
        .text(PNID, DISPLAY, PHONES[2], "wamid.p3", "Bonjour")
        .build();
    post_batch(&app, &fake, &body).await;
    assert_eq!(inbound(&app).await, 2);
    all_sent(&app).await;
    assert!(!fake.sent_texts_to(PHONES[0]).is_empty());
    assert!(!fake.sent_texts_to(PHONES[2]).is_empty());
    assert!(fake.sent_texts_to(PHONES[1]).is_empty());
    let dead = dead_letters(&app).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let (reason, kept) = &dead[0];
    assert_eq!(reason, "could not be stored");
    assert!(kept.contains("wamid.poison"), "{kept}");
    assert!(!kept.contains("Kabila"), "no text is kept: {kept}");
    assert!(!kept.contains(PHONES[1]), "the number is masked: {kept}");
}

#[apply(both_backends)]
#[tokio::test]
async fn signed_meta_messages_that_break_the_rules_are_refused_and_kept_as_dead_letters(
    #[case] backend: Backend,
) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    let long = "Mbengue ".repeat(520);
    let body = WebhookBuilder::new()
        .text(PNID, DISPLAY, PHONES[0], "wamid.l1", &long)
        .text(PNID, DISPLAY, "Mbengue", "wamid.l2", "Bonjour")
        .text(PNID, DISPLAY, PHONES[2], "wamid.l3", "Bonjour")
        .build();
    post_batch(&app, &fake, &body).await;
    assert_eq!(inbound(&app).await, 1, "only the good one is stored");
    let dead = dead_letters(&app).await;
    let reasons: Vec<&str> = dead.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        reasons,
        [
            "text longer than 4096 characters",
            "the sender is not a phone number"
        ]
    );
    for (_, kept) in &dead {
        assert!(!kept.contains("Mbengue"), "no text or name kept: {kept}");
        assert!(!kept.contains(PHONES[0]), "the number is masked: {kept}");
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn twilio_input_is_cleaned_and_bad_signed_fields_refused(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let to = format!("whatsapp:{TWILIO_NUMBER}");
    let send = |sid: &'static str, from: &'static str, body: &'static str, name: &'static str| {
        let mut params = twilio_params(sid, from, &to, body);
        params.retain(|(k, _)| *k != "ProfileName");
        params.push(("ProfileName", name.to_string()));
        let app = &app;
        async move {
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.twilio_post(&params, TWILIO_TOKEN).await
        }
    };
    let res = send("SM1", "whatsapp:+243990000021", "Bon\0jour", "Ami\0").await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Question 1"));
    for (sid, from) in [
        ("SM\0 2", "whatsapp:+243990000022"),
        ("SM3", "whatsapp:+243\09900"),
        ("SM4", "whatsapp:Mbengue"),
        ("SM5", "+243990000025"),
    ] {
        let res = send(sid, from, "Bonjour", "Amani").await;
        assert_eq!(res.status(), 400, "{sid:?} {from:?}");
        let text = res.text().await.unwrap();
        assert!(text.contains("Twilio webhook"), "{text}");
    }
    assert_eq!(inbound(&app).await, 1);
    assert_eq!(app.count("contacts").await, 1);
}

#[apply(both_backends)]
#[tokio::test]
async fn the_sandbox_cleans_text_and_refuses_bad_identifiers(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let post = |path: String, body: serde_json::Value| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}{path}", app.address))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let ok = post(
        "/sandbox/sandbox/messages".into(),
        serde_json::json!({"from": "+243990000031", "text": "Bon\u{0}jour"}),
    )
    .await;
    assert_eq!(ok.status(), 200);
    for (path, body) in [
        (
            "/sandbox/sand%00box/messages",
            serde_json::json!({"from": "+243990000031", "text": "x"}),
        ),
        (
            "/sandbox/sandbox/messages",
            serde_json::json!({"from": "+243990000031", "text": "x", "id": "a\u{0}"}),
        ),
        (
            "/sandbox/sandbox/messages",
            serde_json::json!({"from": "+243990000031", "text": "x", "choice": "g\u{0}1"}),
        ),
        (
            "/sandbox/sandbox/messages",
            serde_json::json!({"from": "+2439\u{0}90000031", "text": "x"}),
        ),
    ] {
        let res = post(path.into(), body).await;
        assert_eq!(res.status(), 400, "{path}");
    }
    assert_eq!(inbound(&app).await, 1);
}

#[apply(both_backends)]
#[tokio::test]
async fn control_characters_in_staff_input_get_a_clear_400(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Before login.
    let mut visitor = app.browser();
    let page = visitor
        .post("/login", &[("email", "a\0@ngo.example"), ("password", "x")])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("U+0000"), "{}", page.body);
    assert!(page.body.contains("email"), "{}", page.body);
    assert_eq!(
        visitor.get("/setup/%00abc").await.status,
        StatusCode::BAD_REQUEST
    );
    // Logged in: a query string and a form.
    let mut admin = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    let audit = admin.get("/audit?actor=%00").await;
    assert_eq!(audit.status, StatusCode::BAD_REQUEST);
    let before = app.count("roles").await;
    let role = admin
        .post(
            "/roles",
            &[
                ("name", "Re\u{1}lais"),
                ("permission", "conversations.view"),
            ],
        )
        .await;
    assert_eq!(role.status, StatusCode::BAD_REQUEST);
    assert!(role.body.contains("U+0001"), "{}", role.body);
    assert_eq!(app.count("roles").await, before);
    // Tabs and a textarea's line ends (CR LF) are not refused.
    let me = admin
        .post("/me", &[("name", "Admin\tPrincipal\r\n"), ("lang", "fr")])
        .await;
    assert_ne!(me.status, StatusCode::BAD_REQUEST, "{}", me.body);
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_form_that_cannot_be_read_gets_our_error_page_and_changes_nothing(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut admin = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    let before = app.count("roles").await;
    // One name sent twice: which one was meant is not guessed.
    let role = admin
        .post(
            "/roles",
            &[
                ("name", "Relais"),
                ("name", "Autre"),
                ("permission", "conversations.view"),
            ],
        )
        .await;
    assert_eq!(role.status, StatusCode::BAD_REQUEST, "{}", role.body);
    assert!(role.body.contains("Formulaire illisible"), "{}", role.body);
    assert!(role.body.contains("<html"), "an HTML page: {}", role.body);
    assert_eq!(app.count("roles").await, before);
}

/// Sends `head` and waits (up to `patience`) for the server to answer or
/// close; the time it took, `None` if it kept waiting.
async fn held_for(address: &str, head: &[u8], patience: Duration) -> Option<Duration> {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(head).await.unwrap();
    let start = Instant::now();
    let mut buf = vec![0u8; 4096];
    loop {
        match tokio::time::timeout(patience, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            // An answer (408 or 400): read on until the server closes.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn half_sent_requests_and_idle_connections_are_closed_after_the_timeout() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.limits.header_read_timeout = Duration::from_secs(1);
        c.limits.body_timeout = Duration::from_secs(1);
    })
    .await
    .unwrap();
    let patience = Duration::from_secs(20);
    let half = held_for(
        &app.address,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ",
        patience,
    )
    .await
    .expect("a half-sent header is not held forever");
    assert!(
        half >= Duration::from_millis(900),
        "closed too early: {half:?}"
    );
    held_for(&app.address, b"", patience)
        .await
        .expect("an idle connection is not held forever");
    // A body announced and never sent.
    held_for(
        &app.address,
        b"POST /whatsapp/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"object\":",
        patience,
    )
    .await
    .expect("a half-sent body is not waited for forever");
}

#[tokio::test]
async fn three_hundred_slow_clients_do_not_stop_the_server() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.limits.header_read_timeout = Duration::from_secs(2);
        c.limits.max_connections = 100;
    })
    .await
    .unwrap();
    let target = app.address.trim_start_matches("http://").to_string();
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(&target).await.unwrap();
        // Connections past the limit wait in the kernel's queue: the write
        // lands in its buffers all the same.
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    let started = Instant::now();
    let res = reqwest::Client::new()
        .get(format!("{}/healthz", app.address))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("/healthz answers while slow clients hold connections");
    assert_eq!(res.status(), 200);
    // Three rounds of 100 slow clients, each closed after 2 s, at most.
    assert!(started.elapsed() < Duration::from_secs(30));
    drop(slow);
}
