//! The bot over Meta's Cloud API, end to end: signed webhooks in, replies
//! out through the outbox worker to a fake Graph API that follows the
//! reference (not our client).

use crate::both_backends;
use crate::fakes::meta::{Failure, FakeMeta, WebhookBuilder, badly_signed_webhook, signed_webhook};
use crate::helpers::*;
use rstest_reuse::apply;
use std::time::{Duration, Instant};
use uic_inbox::config::{MetaEnv, Secret};
use uic_inbox::on_db;
use uic_inbox::tenancy::Provider;
use uic_inbox::tenancy::store::{ChannelSettings, update_channel};

pub(crate) const PNID: &str = "106540352242922";
pub(crate) const DISPLAY: &str = "243810000000";
const TOKEN: &str = "meta-access-token-1";
pub(crate) const APP_SECRET: &str = "test_app_secret";
const VERIFY: &str = "verify-token-of-the-app";
const PHONE: &str = "243990000001";

/// A fake Graph API with our number, and a server whose default Meta
/// account (from `META_*`) sends through it.
pub(crate) async fn meta_app(backend: Backend, qr: bool) -> Option<(TestApp, FakeMeta)> {
    let fake = FakeMeta::start().await;
    fake.add_number(PNID, DISPLAY, TOKEN);
    let base = fake.base_url();
    let app = spawn_app_with(backend, |c| {
        c.meta = Some(MetaEnv {
            access_token: Secret::new(TOKEN),
            phone_number_id: PNID.into(),
            verify_token: Secret::new(VERIFY),
            app_secret: Secret::new(APP_SECRET),
            app_id: None,
        });
        c.meta_graph_url = base;
        c.enable_qr_code = qr;
    })
    .await?;
    Some((app, fake))
}

/// Provider settings of a Meta account of our app.
fn meta_settings(phone_number_id: &str, verify_token: &str, token: &str) -> ChannelSettings {
    ChannelSettings {
        meta_phone_number_id: Some(phone_number_id.into()),
        meta_app_secret: Some(APP_SECRET.into()),
        meta_verify_token: Some(verify_token.into()),
        meta_access_token: Some(token.into()),
        ..ChannelSettings::default()
    }
}

/// Posts one signed text message and checks it was acknowledged.
async fn say(app: &TestApp, fake: &FakeMeta, from: &str, wamid: &str, text: &str) {
    let body = WebhookBuilder::new()
        .text(PNID, DISPLAY, from, wamid, text)
        .build();
    fake.note_inbound(&body);
    let res = signed_webhook(&app.address, APP_SECRET, &body).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// Waits (up to 30 s, a safety net rather than a speed target) until
/// `done` holds on what the fake received.
async fn wait_for(fake: &FakeMeta, what: &str, done: impl Fn(&FakeMeta) -> bool) {
    let start = Instant::now();
    while !done(fake) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}; sent so far: {:#?}",
            fake.sent()
                .iter()
                .map(|s| (s.to.clone(), s.body.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every outbox row is recorded as sent (the fake records a
/// send before it answers; the worker records it after).
pub(crate) async fn all_sent(app: &TestApp) {
    let start = Instant::now();
    loop {
        let left = app.count("outbox WHERE status <> 'sent'").await;
        if left == 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{left} outbox rows never recorded as sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Delivers every outbox row due now through the worker's own function
/// (`Worker::drain`, by a worker of the test's beside the server's) and
/// returns how many sends it made: after it, "nothing more was sent" is
/// known, not hoped for after a pause. Rows the server's worker has in
/// flight are not waited for: wait for them first (`all_sent`).
pub(crate) async fn drain(app: &TestApp) -> usize {
    uic_inbox::outbox::Worker::new(app.state.clone())
        .drain()
        .await
}

/// Waits (up to 30 s) until `SELECT COUNT(*) FROM {rows}` is zero.
async fn until_none(app: &TestApp, what: &str, rows: &str) {
    let start = Instant::now();
    loop {
        let left = app.count(rows).await;
        if left == 0 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}: {left} rows of {rows}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Makes every waiting outbox row due now (a retry's backoff or a claim's
/// lease passed) and wakes the worker.
async fn due_now(app: &TestApp) {
    let past = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    on_db!(&app.state.db, p => sqlx::query(
        "UPDATE outbox SET next_attempt_at = $1 WHERE status = 'pending'")
        .bind(past).execute(p).await.map(|_| ()).unwrap());
    app.state.outbox.wake();
}

/// The sends to `/messages` the fake answered with `status` (0: the
/// connection was dropped).
fn sends_answered(fake: &FakeMeta, status: u16) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages") && r.status == status)
        .count()
}

fn texts(fake: &FakeMeta, to: &str) -> Vec<String> {
    fake.sent_texts_to(to)
}

#[apply(both_backends)]
#[tokio::test]
async fn a_signed_conversation_ends_with_the_code_delivered_through_the_graph_api(
    #[case] backend: Backend,
) {
    let Some((app, fake)) = meta_app(backend, true).await else {
        return;
    };
    let answers = ["Bonjour", "Mbengue", "Ibrahim", "1997", "DA", "1"];
    for (i, answer) in answers.iter().enumerate() {
        let before = texts(&fake, PHONE).len();
        say(&app, &fake, PHONE, &format!("wamid.c{i}"), answer).await;
        wait_for(&fake, "the replies", |f| texts(f, PHONE).len() > before).await;
    }
    wait_for(&fake, "the QR image", |f| {
        f.sent().iter().any(|s| s.kind == "image")
    })
    .await;
    let all = texts(&fake, PHONE).join("\n");
    assert!(all.contains("Question 1 sur 5"), "{all}");
    assert!(all.contains("=====\nMBEIBR7DA1\n====="), "{all}");

    // The gender question came as a list the person can tap (4 choices).
    let sent = fake.sent();
    let gender = sent
        .iter()
        .find(|s| s.kind == "interactive")
        .expect("an interactive question");
    assert_eq!(gender.body["interactive"]["type"], "list");
    let rows = &gender.body["interactive"]["action"]["sections"][0]["rows"];
    assert_eq!(rows.as_array().unwrap().len(), 4);
    assert_eq!(rows[1]["id"], "g2");

    // The QR code was uploaded as a PNG and sent by its media id, after the code.
    let media = fake.uploaded_media();
    assert_eq!(media.len(), 1);
    assert_eq!(media[0].mime, "image/png");
    assert_eq!(&media[0].bytes[..4], b"\x89PNG");
    let image = sent.iter().position(|s| s.kind == "image").unwrap();
    assert_eq!(sent[image].body["image"]["id"], media[0].id.as_str());
    let code_msg = sent
        .iter()
        .position(|s| s.body.to_string().contains("MBEIBR7DA1") && s.kind == "text")
        .unwrap();
    assert!(code_msg < image);
    // Every send carried our token, and every message is recorded as sent.
    assert!(
        fake.requests()
            .iter()
            .filter(|r| r.method == "POST")
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")))
    );
    all_sent(&app).await;
    let unsent: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages WHERE direction = 'out' AND (status <> 'sent' OR provider_message_id IS NULL)")
        .fetch_one(p).await.unwrap());
    assert_eq!(unsent, 0);

    // A typed answer is still accepted at the gender question.
    say(&app, &fake, "243990000002", "wamid.t0", "Bonjour").await;
    for (i, a) in ["Mbengue", "Ibrahim", "1997", "DA", "Femme"]
        .iter()
        .enumerate()
    {
        say(&app, &fake, "243990000002", &format!("wamid.t{}", i + 1), a).await;
    }
    wait_for(&fake, "the second code", |f| {
        texts(f, "243990000002").join("\n").contains("MBEIBR7DA2")
    })
    .await;
}

#[apply(both_backends)]
#[tokio::test]
async fn statuses_move_messages_forward_whatever_their_order(#[case] backend: Backend) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    say(&app, &fake, PHONE, "wamid.s1", "Bonjour").await;
    wait_for(&fake, "the welcome", |f| !f.sent().is_empty()).await;
    let wamid = fake.sent()[0].wamid.clone();
    wait_for(&fake, "statuses", |f| !f.sent().is_empty()).await;
    // Out of order and repeated: read first, then sent, delivered, read again.
    for status in ["read", "sent", "delivered", "read"] {
        let body = WebhookBuilder::new()
            .status(PNID, DISPLAY, &wamid, status, PHONE)
            .build();
        assert_eq!(
            signed_webhook(&app.address, APP_SECRET, &body)
                .await
                .status(),
            200
        );
    }
    let status: String = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT status FROM messages WHERE provider_message_id = $1").bind(&wamid).fetch_one(p).await.unwrap());
    assert_eq!(status, "read");

    // A failed status (outside the 24-hour window) shows its error.
    fake.close_window(PHONE);
    say_without_opening(&app, PHONE, "wamid.s2", "Mbengue").await;
    wait_for(&fake, "the next question", |f| {
        f.sent().iter().any(|s| s.failed_with == Some(131047))
    })
    .await;
    for payload in fake.take_status_payloads() {
        assert_eq!(
            signed_webhook(&app.address, APP_SECRET, &payload)
                .await
                .status(),
            200
        );
    }
    let failed: Vec<(String, Option<String>)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT status, error_code FROM messages WHERE status = 'failed'").fetch_all(p).await.unwrap());
    assert!(!failed.is_empty());
    assert!(
        failed
            .iter()
            .all(|(_, code)| code.as_deref() == Some("131047")),
        "{failed:?}"
    );
}

/// An inbound message the fake does not take note of (its window stays as
/// the test set it).
async fn say_without_opening(app: &TestApp, from: &str, wamid: &str, text: &str) {
    let body = WebhookBuilder::new()
        .text(PNID, DISPLAY, from, wamid, text)
        .build();
    let res = signed_webhook(&app.address, APP_SECRET, &body).await;
    assert_eq!(res.status(), 200);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_bad_signature_is_refused_and_nothing_is_stored(#[case] backend: Backend) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    let body = WebhookBuilder::new()
        .text(PNID, DISPLAY, PHONE, "wamid.bad", "Bonjour")
        .build();
    let res = badly_signed_webhook(&app.address, &body).await;
    assert!(
        matches!(res.status().as_u16(), 401 | 403),
        "{}",
        res.status()
    );
    // Signed with another app's secret: refused too.
    let res = signed_webhook(&app.address, "another_app_secret", &body).await;
    assert!(matches!(res.status().as_u16(), 401 | 403));
    // No signature at all.
    let res = app
        .client
        .post(app.webhook_url())
        .header("Content-Type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(matches!(res.status().as_u16(), 401 | 403));
    // A body changed after signing.
    let mut tampered = body.clone();
    let pos = tampered.windows(7).position(|w| w == b"Bonjour").unwrap();
    tampered[pos] = b'X';
    let res = app
        .client
        .post(app.webhook_url())
        .header("Content-Type", "application/json")
        .header(
            "X-Hub-Signature-256",
            crate::fakes::meta::signature(APP_SECRET, &body),
        )
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert!(matches!(res.status().as_u16(), 401 | 403));

    for table in [
        "messages",
        "contacts",
        "conversations",
        "outbox",
        "webhook_dead_letters",
    ] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
    assert_eq!(drain(&app).await, 0);
    assert!(fake.requests().is_empty());
}

#[apply(both_backends)]
#[tokio::test]
async fn the_same_wamid_three_times_is_answered_once(#[case] backend: Backend) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    let body = WebhookBuilder::new()
        .text(PNID, DISPLAY, PHONE, "wamid.dup", "Bonjour")
        .build();
    fake.note_inbound(&body);
    let (a, b, c) = tokio::join!(
        signed_webhook(&app.address, APP_SECRET, &body),
        signed_webhook(&app.address, APP_SECRET, &body),
        signed_webhook(&app.address, APP_SECRET, &body),
    );
    assert!(
        [a.status(), b.status(), c.status()]
            .iter()
            .all(|s| *s == 200)
    );
    wait_for(&fake, "the welcome", |f| !f.sent().is_empty()).await;
    // And once more later, after the reply went out.
    assert_eq!(
        signed_webhook(&app.address, APP_SECRET, &body)
            .await
            .status(),
        200
    );
    all_sent(&app).await;
    assert_eq!(drain(&app).await, 0);
    assert_eq!(fake.sent().len(), 1, "{:#?}", fake.sent());
    assert_eq!(app.count("outbox").await, 1);
    let inbound: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages WHERE direction = 'in'").fetch_one(p).await.unwrap());
    assert_eq!(inbound, 1);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_batch_of_twenty_messages_from_five_phones_and_two_accounts_is_routed(
    #[case] backend: Backend,
) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    // A second programme of the same tenant, on another number of the same app.
    const PNID2: &str = "106540352242923";
    const DISPLAY2: &str = "243810000001";
    fake.add_number(PNID2, DISPLAY2, TOKEN);
    let tenant = app.state.db.clone();
    let default_tenant: i64 = on_db!(&tenant, p => sqlx::query_scalar(
        "SELECT id FROM tenants WHERE slug = 'default'").fetch_one(p).await.unwrap());
    let second = app
        .account_in(default_tenant, "programme-2", Provider::Meta, None, None)
        .await;
    update_channel(
        &app.state.db,
        &app.state.secrets,
        &crate::helpers::access(second.tenant_id, uic_inbox::auth::Permission::TokensManage),
        second.id,
        Provider::Meta,
        &meta_settings(PNID2, "second-verify", TOKEN),
    )
    .await
    .unwrap()
    .unwrap();

    // Phones 1-3 write to the first number, 4-5 to the second; 4 messages
    // each, interleaved, in two entries.
    let answers = ["Bonjour", "Mbengue", "Ibrahim", "1997"];
    let mut batch = WebhookBuilder::new();
    for (round, answer) in answers.iter().enumerate() {
        for p in 1..=5 {
            let (pnid, display) = if p <= 3 {
                (PNID, DISPLAY)
            } else {
                (PNID2, DISPLAY2)
            };
            batch = batch.text(
                pnid,
                display,
                &format!("24399000000{p}"),
                &format!("wamid.b{p}.{round}"),
                answer,
            );
        }
        if round == 1 {
            batch = batch.entry_break();
        }
    }
    let body = batch.build();
    fake.note_inbound(&body);
    let res = signed_webhook(&app.address, APP_SECRET, &body).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    for p in 1..=5 {
        let phone = format!("24399000000{p}");
        wait_for(&fake, "question 4 to every phone", |f| {
            texts(f, &phone).join("\n").contains("Question 4 sur 5")
        })
        .await;
    }
    for s in fake.sent() {
        let p: u32 = s.to[s.to.len() - 1..].parse().unwrap();
        let expected = if p <= 3 { PNID } else { PNID2 };
        assert_eq!(
            s.phone_number_id, expected,
            "{} sent from the wrong number",
            s.to
        );
    }
    let per_account: Vec<(i64, i64)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT account_id, COUNT(*) FROM conversations GROUP BY account_id ORDER BY account_id")
        .fetch_all(p).await.unwrap());
    assert_eq!(per_account.len(), 2);
    assert_eq!(per_account[0].1, 3);
    assert_eq!(per_account[1], (second.id, 2));
    assert_eq!(app.count("messages WHERE direction = 'in'").await, 20);
}

#[apply(both_backends)]
#[tokio::test]
async fn replies_wait_out_an_outage_and_arrive_once_in_order(#[case] backend: Backend) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    fake.fail_all(Some(Failure::Status(503)));
    let phones = ["243990000011", "243990000012", "243990000013"];
    for (i, answer) in ["Bonjour", "Mbengue", "Ibrahim"].iter().enumerate() {
        for p in phones {
            say(&app, &fake, p, &format!("wamid.o{p}.{i}"), answer).await;
        }
    }
    // Down (each conversation's first reply refused), then reset
    // connections, then back; each retry is made due at once.
    wait_for(&fake, "a refused send per conversation", |f| {
        sends_answered(f, 503) >= phones.len()
    })
    .await;
    fake.fail_all(Some(Failure::Reset));
    due_now(&app).await;
    wait_for(&fake, "a dropped connection per conversation", |f| {
        sends_answered(f, 0) >= phones.len()
    })
    .await;
    assert!(fake.sent().is_empty());
    fake.fail_all(None);
    due_now(&app).await;
    for p in phones {
        wait_for(&fake, "every reply", |f| {
            texts(f, p).join("\n").contains("Question 3 sur 5")
        })
        .await;
    }
    all_sent(&app).await;
    assert_eq!(drain(&app).await, 0);
    for p in phones {
        let got = texts(&fake, p);
        // Welcome + question 1, then "Compris" + question 2, then again.
        let q: Vec<usize> = got
            .iter()
            .filter_map(|t| (1..=3).find(|n| t.contains(&format!("Question {n} sur 5"))))
            .collect();
        assert_eq!(q, vec![1, 2, 3], "{p}: {got:#?}");
        let mut unique = got.clone();
        unique.dedup();
        assert_eq!(unique.len(), got.len(), "a reply was sent twice: {got:#?}");
    }
    all_sent(&app).await;
    // Retries were counted.
    let attempts: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT CAST(MAX(attempts) AS BIGINT) FROM outbox").fetch_one(p).await.unwrap());
    assert!(attempts > 1, "{attempts}");
}

#[apply(both_backends)]
#[tokio::test]
async fn a_rate_limit_pauses_the_account_for_as_long_as_asked(#[case] backend: Backend) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    fake.fail_next_sends(1, Failure::CodeWithRetryAfter(130429, 2));
    say(&app, &fake, PHONE, "wamid.r1", "Bonjour").await;
    wait_for(&fake, "the welcome", |f| !f.sent().is_empty()).await;
    let sends: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .collect();
    assert_eq!(sends.len(), 2, "{sends:#?}");
    assert_ne!(sends[0].status, 200);
    let waited = sends[1].at - sends[0].at;
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");

    // Without Retry-After, 429 still backs off (about a second first).
    fake.fail_next_sends(1, Failure::CodeWithStatus(130429, 429));
    say(&app, &fake, PHONE, "wamid.r2", "Mbengue").await;
    wait_for(&fake, "the next question", |f| f.sent().len() >= 2).await;
    let sends: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/messages"))
        .collect();
    let waited = sends[3].at - sends[2].at;
    assert!(
        waited >= Duration::from_millis(700),
        "retried after {waited:?}"
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn an_invalid_token_holds_the_queue_until_a_new_one_is_set(#[case] backend: Backend) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    // The token expired on Meta's side.
    fake.set_token(PNID, "a-new-token");
    say(&app, &fake, PHONE, "wamid.h1", "Bonjour").await;
    say(&app, &fake, "243990000002", "wamid.h2", "Bonjour").await;
    let flagged = async {
        loop {
            let status: String = on_db!(&app.state.db, p => sqlx::query_scalar(
                "SELECT token_status FROM whatsapp_accounts WHERE slug = 'meta'").fetch_one(p).await.unwrap());
            if status == "invalid" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), flagged)
        .await
        .expect("the account is flagged");
    say(&app, &fake, PHONE, "wamid.h3", "Mbengue").await;
    until_none(
        &app,
        "the sends under way",
        "outbox WHERE status = 'sending'",
    )
    .await;
    assert_eq!(drain(&app).await, 0, "a held row was claimed");
    assert!(fake.sent().is_empty());
    // Nothing was dropped: every reply waits.
    let waiting = app.count("outbox WHERE status = 'pending'").await;
    assert_eq!(waiting, app.count("outbox").await);
    assert!(waiting >= 3);
    // Held, not hammered: one refused attempt per row at most.
    let refused = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/messages"))
        .count();
    assert!(refused <= 2, "{refused} refused sends");

    // An administrator sets the new token: everything goes out, in order.
    let account = uic_inbox::tenancy::store::find_by_slug(&app.state.db, "meta")
        .await
        .unwrap()
        .unwrap();
    update_channel(
        &app.state.db,
        &app.state.secrets,
        &crate::helpers::access(account.tenant_id, uic_inbox::auth::Permission::TokensManage),
        account.id,
        Provider::Meta,
        &meta_settings(PNID, VERIFY, "a-new-token"),
    )
    .await
    .unwrap();
    wait_for(&fake, "the held replies", |f| {
        texts(f, PHONE).join("\n").contains("Question 2 sur 5")
            && texts(f, "243990000002")
                .join("\n")
                .contains("Question 1 sur 5")
    })
    .await;
    all_sent(&app).await;
}

#[apply(both_backends)]
#[tokio::test]
async fn two_workers_on_one_database_never_send_a_message_twice(#[case] backend: Backend) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    let other = app.second_instance().await;
    // Slow answers keep claims in flight while the other worker looks.
    fake.set_delay(Some(Duration::from_millis(30)));
    let phones: Vec<String> = (0..30).map(|i| format!("2439900001{i:02}")).collect();
    for round in 0..2 {
        let text = ["Bonjour", "Mbengue"][round];
        let mut posts = tokio::task::JoinSet::new();
        for (i, p) in phones.iter().enumerate() {
            let target = if i % 2 == 0 { &app } else { &other }.address.clone();
            let body = WebhookBuilder::new()
                .text(PNID, DISPLAY, p, &format!("wamid.w{i}.{round}"), text)
                .build();
            fake.note_inbound(&body);
            posts.spawn(async move { signed_webhook(&target, APP_SECRET, &body).await.status() });
        }
        while let Some(status) = posts.join_next().await {
            assert_eq!(status.unwrap(), 200);
        }
    }
    let rows = app.count("outbox").await;
    wait_for(&fake, "every reply", |f| f.sent().len() as i64 >= rows).await;
    all_sent(&app).await;
    assert_eq!(drain(&app).await, 0);
    let sent = fake.sent();
    assert_eq!(sent.len() as i64, rows, "some message was sent twice");
    let mut ids: Vec<String> = sent
        .iter()
        .map(|s| {
            s.body["biz_opaque_callback_data"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as i64, rows);
    // Both workers took part.
    let workers: i64 = app
        .count("(SELECT DISTINCT claimed_by FROM outbox) AS w")
        .await;
    assert_eq!(workers, 2);
}

#[apply(both_backends)]
#[tokio::test]
async fn switching_an_account_from_twilio_to_meta_keeps_the_conversation(#[case] backend: Backend) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    // The Twilio account of the prototype: the person starts there.
    let phone = "+243990000077";
    let first = app
        .twilio_say(phone, "SM00000000000000000000000000000001", "Bonjour")
        .await;
    assert!(first.contains("Question 1 sur 5"));
    app.twilio_say(phone, "SM00000000000000000000000000000002", "Mbengue")
        .await;
    app.twilio_say(phone, "SM00000000000000000000000000000003", "Ibrahim")
        .await;

    // The programme moves to Meta: a settings change of the same account
    // (the bootstrap Meta account is removed from the number first).
    let meta = uic_inbox::tenancy::store::find_by_slug(&app.state.db, "meta")
        .await
        .unwrap()
        .unwrap();
    update_channel(
        &app.state.db,
        &app.state.secrets,
        &crate::helpers::access(meta.tenant_id, uic_inbox::auth::Permission::TokensManage),
        meta.id,
        Provider::Meta,
        &ChannelSettings {
            meta_phone_number_id: Some("retired".into()),
            ..ChannelSettings::default()
        },
    )
    .await
    .unwrap();
    let twilio = uic_inbox::tenancy::store::find_by_slug(&app.state.db, "twilio")
        .await
        .unwrap()
        .unwrap();
    update_channel(
        &app.state.db,
        &app.state.secrets,
        &crate::helpers::access(twilio.tenant_id, uic_inbox::auth::Permission::TokensManage),
        twilio.id,
        Provider::Meta,
        &ChannelSettings {
            phone_number: Some(TWILIO_NUMBER.into()),
            ..meta_settings(PNID, VERIFY, TOKEN)
        },
    )
    .await
    .unwrap()
    .unwrap();

    let digits = phone.trim_start_matches('+');
    say(&app, &fake, digits, "wamid.m1", "1997").await;
    say(&app, &fake, digits, "wamid.m2", "DA").await;
    say(&app, &fake, digits, "wamid.m3", "1").await;
    wait_for(&fake, "the code over Meta", |f| {
        texts(f, digits).join("\n").contains("MBEIBR7DA1")
    })
    .await;
    let all = texts(&fake, digits).join("\n");
    assert!(all.contains("Question 4 sur 5"), "{all}");
    assert!(
        !all.contains("Question 1 sur 5"),
        "the conversation restarted: {all}"
    );
    assert_eq!(app.count("conversations").await, 1);
}

#[apply(both_backends)]
#[tokio::test]
async fn an_unknown_number_is_kept_as_a_dead_letter_and_acknowledged(#[case] backend: Backend) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    let body = WebhookBuilder::new()
        .text(
            "999999999999999",
            "243819999999",
            PHONE,
            "wamid.u1",
            "Bonjour",
        )
        .build();
    let res = signed_webhook(&app.address, APP_SECRET, &body).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.count("webhook_dead_letters").await, 1);
    assert_eq!(app.count("messages").await, 0);
    let kept: String = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT body FROM webhook_dead_letters").fetch_one(p).await.unwrap());
    // What routing needs, no text, the number masked.
    let kept: serde_json::Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(
        kept,
        serde_json::json!([{
            "phone_number_id": "999999999999999",
            "message": "wamid.u1",
            "type": "text",
            "from": "+2439******01",
        }])
    );
    // Other kinds of changes are acknowledged and ignored.
    let body = WebhookBuilder::new()
        .raw_change(
            "account_update",
            serde_json::json!({"phone_number": DISPLAY, "event": "VERIFIED_ACCOUNT"}),
        )
        .build();
    assert_eq!(
        signed_webhook(&app.address, APP_SECRET, &body)
            .await
            .status(),
        200
    );
    assert!(fake.sent().is_empty());
}

#[apply(both_backends)]
#[tokio::test]
async fn media_sent_to_the_bot_goes_to_staff_and_restart_brings_the_bot_back(
    #[case] backend: Backend,
) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    say(&app, &fake, PHONE, "wamid.i0", "Bonjour").await;
    let body = WebhookBuilder::new()
        .image(
            PNID,
            DISPLAY,
            PHONE,
            "wamid.i1",
            "1037543291543636",
            "image/jpeg",
            Some("Mbengue"),
        )
        .location(
            PNID, DISPLAY, PHONE, "wamid.i2", -4.3217, 15.3125, None, None,
        )
        .build();
    fake.note_inbound(&body);
    assert_eq!(
        signed_webhook(&app.address, APP_SECRET, &body)
            .await
            .status(),
        200
    );
    // The image goes to staff, and the person is told once.
    wait_for(&fake, "the acknowledgement", |f| {
        texts(f, PHONE).iter().any(|t| t.contains("va le regarder"))
    })
    .await;
    let (mode, reason): (String, Option<String>) = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT mode, waiting_reason FROM conversations").fetch_one(p).await.unwrap());
    assert_eq!(
        (mode.as_str(), reason.as_deref()),
        ("waiting", Some("media"))
    );
    let kept: Vec<(String, String, String, Option<String>)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT kind, body_form, body, media_ref FROM messages WHERE direction = 'in' AND kind <> 'text' ORDER BY id")
        .fetch_all(p).await.unwrap());
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0].0, "image");
    assert_eq!(kept[0].3.as_deref(), Some("1037543291543636"));
    // Sent to the bot, the caption could be an answer (a name): not kept.
    assert_eq!((kept[0].1.as_str(), kept[0].2.as_str()), ("described", ""));
    // Sent while waiting: kept for staff.
    assert_eq!(
        (kept[1].0.as_str(), kept[1].1.as_str()),
        ("location", "verbatim")
    );

    // RECOMMENCER from the queue: the bot again, from question 1.
    say(&app, &fake, PHONE, "wamid.i3", "RECOMMENCER").await;
    wait_for(&fake, "question 1 again", |f| {
        texts(f, PHONE)
            .last()
            .is_some_and(|t| t.contains("on recommence") && t.contains("Question 1 sur 5"))
    })
    .await;
    let sent = texts(&fake, PHONE);
    // Welcome, acknowledgement, restart: nothing answered the location.
    assert_eq!(sent.len(), 3, "{sent:#?}");
    let mode: String = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT mode FROM conversations").fetch_one(p).await.unwrap());
    assert_eq!(mode, "bot");
    let changes: Vec<(String, String, Option<String>)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT mode, change, detail FROM conversation_events ORDER BY id").fetch_all(p).await.unwrap());
    assert_eq!(
        changes,
        [
            (
                "waiting".to_string(),
                "escalated".to_string(),
                Some("media".to_string())
            ),
            ("bot".to_string(), "restarted".to_string(), None),
        ]
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn the_verification_handshake_echoes_the_challenge_for_a_known_token(
    #[case] backend: Backend,
) {
    let Some((app, _fake)) = meta_app(backend, false).await else {
        return;
    };
    let res = app
        .get(&format!(
            "/whatsapp/webhook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY}"
        ))
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(res.text().await.unwrap(), "1158201444");
    let res = app
        .get("/whatsapp/webhook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=wrong")
        .await;
    assert_eq!(res.status(), 403);
    let res = app.get("/whatsapp/webhook").await;
    assert_eq!(res.status(), 403);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_message_meta_refuses_for_good_is_marked_failed_and_the_next_goes_out(
    #[case] backend: Backend,
) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    // Counted in the metrics by its code (the recorder is the process's:
    // other tests may add theirs, never take any away).
    let series = "uic_send_failures_total{account=\"meta\",provider=\"meta\",code=\"131026\"}";
    let failures = || async {
        let text = app.get("/metrics").await.text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = failures().await;
    // 131026: not on WhatsApp (or an old app). Not retried.
    fake.fail_next_sends(1, Failure::Code(131026));
    say(&app, &fake, PHONE, "wamid.f1", "Bonjour").await;
    say(&app, &fake, PHONE, "wamid.f2", "Mbengue").await;
    wait_for(&fake, "question 2", |f| {
        texts(f, PHONE).join("\n").contains("Question 2 sur 5")
    })
    .await;
    all_sent_or_failed(&app).await;
    let failed: Vec<(String, Option<String>, Option<String>)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT m.status, m.error_code, m.error_message FROM messages m WHERE m.status = 'failed'")
        .fetch_all(p).await.unwrap());
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].1.as_deref(), Some("131026"));
    assert!(failed[0].2.as_deref().unwrap_or("").contains("131026"));
    let attempts: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT CAST(attempts AS BIGINT) FROM outbox WHERE status = 'failed'").fetch_one(p).await.unwrap());
    assert_eq!(attempts, 1);
    assert!(failures().await >= before + 1.0);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_send_claimed_by_an_instance_that_died_is_taken_over(#[case] backend: Backend) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    say(&app, &fake, PHONE, "wamid.d1", "Bonjour").await;
    wait_for(&fake, "the welcome", |f| !f.sent().is_empty()).await;
    all_sent(&app).await;
    let sent_before = fake.sent().len();
    // Another instance claimed this row a while ago and died before sending.
    let long_ago = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
    on_db!(&app.state.db, p => sqlx::query(
        "UPDATE outbox SET status = 'sending', claimed_by = 'dead-instance', claimed_until = $1, next_attempt_at = $1
         WHERE id = (SELECT MIN(id) FROM outbox)")
        .bind(long_ago).execute(p).await.map(|_| ()).unwrap());
    app.state.outbox.wake();
    wait_for(&fake, "the resend", |f| f.sent().len() > sent_before).await;
    all_sent(&app).await;
    // A claim still within its lease is left alone.
    let soon = time::OffsetDateTime::now_utc() + time::Duration::minutes(10);
    on_db!(&app.state.db, p => sqlx::query(
        "UPDATE outbox SET status = 'sending', claimed_by = 'live-instance', claimed_until = $1
         WHERE id = (SELECT MIN(id) FROM outbox)")
        .bind(soon).execute(p).await.map(|_| ()).unwrap());
    let sent_now = fake.sent().len();
    assert_eq!(drain(&app).await, 0, "a claim within its lease was taken");
    assert_eq!(fake.sent().len(), sent_now);
}

/// Waits until no outbox row is waiting or in flight.
async fn all_sent_or_failed(app: &TestApp) {
    let start = Instant::now();
    while app
        .count("outbox WHERE status IN ('pending', 'sending')")
        .await
        > 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "outbox rows never settled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn an_account_without_a_token_keeps_its_replies_waiting_and_says_why(
    #[case] backend: Backend,
) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    let account = uic_inbox::tenancy::store::find_by_slug(&app.state.db, "meta")
        .await
        .unwrap()
        .unwrap();
    update_channel(
        &app.state.db,
        &app.state.secrets,
        &crate::helpers::access(account.tenant_id, uic_inbox::auth::Permission::TokensManage),
        account.id,
        Provider::Meta,
        &ChannelSettings {
            meta_access_token: None,
            ..meta_settings(PNID, VERIFY, TOKEN)
        },
    )
    .await
    .unwrap();
    // As the settings page does after a change.
    app.state.accounts.clear();
    say(&app, &fake, PHONE, "wamid.n1", "Bonjour").await;
    // The worker looked at the first reply and put it back, saying why.
    until_none(
        &app,
        "the worker to put the first reply back",
        "outbox WHERE last_error IS NULL AND id = (SELECT MIN(id) FROM outbox)",
    )
    .await;
    until_none(
        &app,
        "the sends under way",
        "outbox WHERE status = 'sending'",
    )
    .await;
    assert_eq!(drain(&app).await, 0, "a held row was claimed again at once");
    assert!(fake.requests().is_empty());
    let rows: Vec<(String, i64, Option<String>)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT status, CAST(attempts AS BIGINT), last_error FROM outbox").fetch_all(p).await.unwrap());
    assert!(!rows.is_empty());
    for (status, attempts, error) in rows.iter().take(1) {
        assert_eq!(status, "pending");
        assert_eq!(*attempts, 0, "not retried in a loop");
        assert!(
            error.as_deref().unwrap_or("").contains("access token"),
            "{error:?}"
        );
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn messages_redelivered_days_late_are_kept_but_not_answered(#[case] backend: Backend) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    say(&app, &fake, PHONE, "wamid.late0", "Bonjour").await;
    all_sent(&app).await;
    let sent = fake.sent().len();
    assert!(sent > 0);
    // After an outage Meta delivers a three-day-old answer.
    let three_days_ago = time::OffsetDateTime::now_utc().unix_timestamp() - 3 * 24 * 3600;
    let body = WebhookBuilder::new()
        .text(PNID, DISPLAY, PHONE, "wamid.late1", "Mbengue")
        .with_timestamp(three_days_ago)
        .build();
    assert_eq!(
        signed_webhook(&app.address, APP_SECRET, &body)
            .await
            .status(),
        200
    );
    all_sent(&app).await;
    assert_eq!(drain(&app).await, 0);
    assert_eq!(fake.sent().len(), sent, "an old message was answered");
    assert_eq!(app.count("outbox").await, sent as i64);
    let kept: Vec<(String, String)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT body_form, body FROM messages WHERE provider_message_id = 'wamid.late1'")
        .fetch_all(p).await.unwrap());
    assert_eq!(kept, vec![("redacted".to_string(), String::new())]);
    // The conversation is still at question 1: today's answer counts.
    say(&app, &fake, PHONE, "wamid.late2", "Mbengue").await;
    wait_for(&fake, "question 2", |f| {
        texts(f, PHONE).join("\n").contains("Question 2 sur 5")
    })
    .await;
}

#[apply(both_backends)]
#[tokio::test]
async fn a_staff_reply_is_delivered_through_the_graph_api_with_its_statuses(
    #[case] backend: Backend,
) {
    use uic_inbox::auth::{BuiltinRole, Permission, Scope};
    use uic_inbox::inbox::staff::{self, Acted};
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    say(&app, &fake, PHONE, "wamid.h1", "Bonjour").await;
    say(&app, &fake, PHONE, "wamid.h2", "HUMAIN").await;
    wait_for(&fake, "the acknowledgement", |f| {
        texts(f, PHONE)
            .iter()
            .any(|t| t.contains("Un membre de l'équipe"))
    })
    .await;
    let tenant = app.default_tenant().await;
    let agent = app
        .staff_user(tenant, "agent@ngo.example", Some(BuiltinRole::Agent), None)
        .await;
    let access = uic_inbox::auth::store::actor(&app.state.db, &agent, None)
        .await
        .unwrap()
        .require(Permission::MessagesSend, Scope::AnyAccount)
        .unwrap();
    let account = uic_inbox::tenancy::store::find_by_slug(&app.state.db, "meta")
        .await
        .unwrap()
        .unwrap();
    let id: i64 = on_db!(&app.state.db, p => sqlx::query_scalar("SELECT id FROM conversations")
        .fetch_one(p).await.unwrap());
    let acted = staff::send(
        &app.state.db,
        &app.state.live,
        &access,
        &account,
        id,
        "Bonjour, je suis Amani de l'équipe.",
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(acted, Acted::Done);
    app.state.outbox.wake();
    wait_for(&fake, "the staff reply", |f| {
        texts(f, PHONE)
            .iter()
            .any(|t| t == "Bonjour, je suis Amani de l'équipe.")
    })
    .await;
    let wamid = fake
        .sent()
        .into_iter()
        .find(|s| s.body["text"]["body"] == "Bonjour, je suis Amani de l'équipe.")
        .unwrap()
        .wamid;
    // Meta's statuses of it: delivered, then read.
    until_none(
        &app,
        "the send recorded",
        "messages WHERE sender = 'staff' AND provider_message_id IS NULL",
    )
    .await;
    for status in ["delivered", "read"] {
        let body = WebhookBuilder::new()
            .status(PNID, DISPLAY, &wamid, status, PHONE)
            .build();
        assert_eq!(
            signed_webhook(&app.address, APP_SECRET, &body)
                .await
                .status(),
            200
        );
    }
    let (status, author): (String, Option<i64>) = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT status, author_id FROM messages WHERE provider_message_id = $1")
        .bind(&wamid).fetch_one(p).await.unwrap());
    assert_eq!((status.as_str(), author), ("read", Some(agent.id)));
}
