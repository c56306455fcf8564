//! The two write paths of an inbound message (a transaction of plain
//! statements on SQLite, one statement on PostgreSQL) write the same rows:
//! the same conversation is run on both and what it left in conversations,
//! messages and outbox is compared, row by row, in id order.

use crate::fakes::meta::{FakeMeta, WebhookBuilder, signed_webhook};
use crate::helpers::*;
use crate::meta::{APP_SECRET, DISPLAY, PNID, meta_app};
use sqlx::types::Json;
use uic_inbox::on_db;

const PHONE: &str = "243990000001";

/// What a conversation left in the database, without ids and times.
#[derive(Debug, PartialEq)]
struct Written {
    /// mode, flow state (without its time), version, escalated.
    conversations: Vec<(String, serde_json::Value, i64, bool)>,
    /// direction, sender, provider id, kind, body form, body, status,
    /// media ref, text length.
    #[allow(clippy::type_complexity)]
    messages: Vec<(
        String,
        String,
        Option<String>,
        String,
        String,
        String,
        String,
        Option<String>,
        Option<i64>,
    )>,
    /// Per message, the position among `messages` of the inbound message
    /// it answers (`reply_to`).
    reply_to: Vec<Option<usize>>,
    /// The position of its message among `messages`, payload, status,
    /// attempts.
    outbox: Vec<(usize, serde_json::Value, String, i64)>,
    /// Changes of hands: mode, change, detail, staff member.
    events: Vec<(String, String, Option<String>, Option<i64>)>,
    /// DHIS-2 sync jobs: the registration's code, state, attempts, and
    /// whether both UIDs are DHIS-2 UIDs (they are random).
    sync: Vec<(String, String, i64, bool)>,
    /// Runs of questions that ended: outcome, resumed, question, reached,
    /// invalid answers per question, restarts, escalation reason, test
    /// data, and whether it ended after it started.
    #[allow(clippy::type_complexity)]
    runs: Vec<(
        String,
        bool,
        Option<i64>,
        i64,
        [i64; 5],
        i64,
        Option<String>,
        bool,
        bool,
    )>,
}

/// A `flow_runs` row as read (times compared, not kept).
type RunRow = (
    String,
    bool,
    Option<i64>,
    i64,
    (i64, i64, i64, i64, i64),
    i64,
    Option<String>,
    bool,
    time::OffsetDateTime,
    time::OffsetDateTime,
);

/// A message as read: id, then the columns of `Written::messages`.
type MessageRow = (
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

async fn post(app: &TestApp, fake: &FakeMeta, builder: WebhookBuilder) {
    let body = builder.build();
    fake.note_inbound(&body);
    let res = signed_webhook(&app.address, APP_SECRET, &body).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

fn text(wamid: &str, text: &str) -> WebhookBuilder {
    WebhookBuilder::new().text(PNID, DISPLAY, PHONE, wamid, text)
}

/// Runs the conversation on `backend` and reads back what it wrote.
async fn run(backend: Backend) -> Written {
    let (app, fake) = meta_app(backend, true)
        .await
        .expect("the backend is available");
    // The worker leaves the rows as written: it only claims rows of
    // accounts whose token is good.
    on_db!(&app.state.db, p => sqlx::query(
        "UPDATE whatsapp_accounts SET token_status = 'invalid' WHERE slug = 'meta'")
        .execute(p).await.map(|_| ()).unwrap());

    post(&app, &fake, text("wamid.w1", "Bonjour")).await;
    post(&app, &fake, text("wamid.w2", "Mbengue")).await;
    post(&app, &fake, text("wamid.w4", "Ibrahim")).await;
    // The conversation changes under the copy this process remembers (as
    // another instance's write would): the next message's write finds the
    // version stale, and the message is read again and run again.
    on_db!(&app.state.db, p => sqlx::query("UPDATE conversations SET version = version + 1")
        .execute(p).await.map(|_| ()).unwrap());
    post(&app, &fake, text("wamid.w5", "1997")).await;
    post(&app, &fake, text("wamid.w6", "DA")).await;
    // The code is issued, with its QR image.
    post(&app, &fake, text("wamid.w7", "1")).await;
    // A provider retry: stored once.
    post(&app, &fake, text("wamid.w7", "1")).await;
    // The person asks for staff (a change of mode: the transaction path on
    // both); waiting, media and text are then kept as written for staff.
    post(&app, &fake, text("wamid.w8", "AGENT")).await;
    post(
        &app,
        &fake,
        WebhookBuilder::new().image(
            PNID,
            DISPLAY,
            PHONE,
            "wamid.w3",
            "1037543291543636",
            "image/jpeg",
            Some("Ibrahim"),
        ),
    )
    .await;
    post(&app, &fake, text("wamid.w9", "Merci beaucoup")).await;

    let conversations: Vec<(String, Json<serde_json::Value>, i64, bool)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT mode, flow_state, CAST(version AS BIGINT), escalated_at IS NOT NULL FROM conversations ORDER BY id")
        .fetch_all(p).await.unwrap());
    let conversations = conversations
        .into_iter()
        .map(|(mode, Json(mut state), version, escalated)| {
            let at = state
                .as_object_mut()
                .and_then(|s| s.remove("last_activity"));
            assert!(at.is_some_and(|t| t.is_string()), "{state}");
            (mode, state, version, escalated)
        })
        .collect();
    let messages: Vec<MessageRow> = on_db!(&app.state.db, p => sqlx::query_as(
            "SELECT id, direction, sender, provider_message_id, kind, body_form, body, status, media_ref,
                CAST(text_chars AS BIGINT), reply_to
             FROM messages ORDER BY id")
            .fetch_all(p).await.unwrap());
    let outbox: Vec<(i64, Json<serde_json::Value>, String, i64)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT message_id, payload, status, CAST(attempts AS BIGINT) FROM outbox ORDER BY id")
        .fetch_all(p).await.unwrap());
    let events: Vec<(String, String, Option<String>, Option<i64>)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT mode, change, detail, user_id FROM conversation_events ORDER BY id")
        .fetch_all(p).await.unwrap());
    let sync: Vec<(String, String, i64, String, String)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT r.uic, s.state, CAST(s.attempts AS BIGINT), s.tracked_entity, s.enrollment
         FROM dhis2_sync s JOIN uic_registrations r ON r.id = s.registration_id ORDER BY s.id")
        .fetch_all(p).await.unwrap());
    let runs: Vec<RunRow> = on_db!(&app.state.db, p => sqlx::query_as::<_, (String, bool, Option<i64>, i64, i64, i64, i64, i64, i64, i64, Option<String>, bool, time::OffsetDateTime, time::OffsetDateTime)>(
        "SELECT outcome, resumed, CAST(question AS BIGINT), CAST(reached AS BIGINT), CAST(invalid_1 AS BIGINT),
            CAST(invalid_2 AS BIGINT), CAST(invalid_3 AS BIGINT), CAST(invalid_4 AS BIGINT), CAST(invalid_5 AS BIGINT),
            CAST(restarts AS BIGINT), escalation_reason, test_data, started_at, ended_at
         FROM flow_runs ORDER BY id")
        .fetch_all(p).await.unwrap())
        .into_iter()
        .map(|r| (r.0, r.1, r.2, r.3, (r.4, r.5, r.6, r.7, r.8), r.9, r.10, r.11, r.12, r.13))
        .collect();
    let runs = runs
        .into_iter()
        .map(|r| {
            let (a, b, c, d, e) = r.4;
            (
                r.0,
                r.1,
                r.2,
                r.3,
                [a, b, c, d, e],
                r.5,
                r.6,
                r.7,
                r.8 <= r.9,
            )
        })
        .collect();
    let uid = |u: &str| {
        u.len() == 11
            && u.starts_with(|c: char| c.is_ascii_alphabetic())
            && u.chars().all(|c| c.is_ascii_alphanumeric())
    };
    let sync = sync
        .into_iter()
        .map(|(uic, state, attempts, te, en)| {
            (uic, state, attempts, uid(&te) && uid(&en) && te != en)
        })
        .collect();
    let position = |id: i64| {
        messages
            .iter()
            .position(|m| m.0 == id)
            .expect("an outbox row's message")
    };
    Written {
        conversations,
        events,
        sync,
        runs,
        reply_to: messages.iter().map(|m| m.10.map(position)).collect(),
        outbox: outbox
            .into_iter()
            .map(|(message, Json(payload), status, attempts)| {
                (position(message), payload, status, attempts)
            })
            .collect(),
        messages: messages
            .iter()
            .map(|m| {
                (
                    m.1.clone(),
                    m.2.clone(),
                    m.3.clone(),
                    m.4.clone(),
                    m.5.clone(),
                    m.6.clone(),
                    m.7.clone(),
                    m.8.clone(),
                    m.9,
                )
            })
            .collect(),
    }
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn both_backends_write_the_same_rows_for_the_same_conversation() {
    let sqlite = run(Backend::Sqlite).await;
    let postgres = run(Backend::Postgres).await;

    // What the conversation should have written, so that two equally
    // wrong paths do not pass: nine inbound messages (the retry stored
    // once), each after its replies' predecessors, and one outbox row per
    // bot reply, in the replies' order, the QR image after the code.
    let inbound: Vec<_> = sqlite.messages.iter().filter(|m| m.0 == "in").collect();
    assert_eq!(inbound.len(), 9, "{:#?}", sqlite.messages);
    assert_eq!(sqlite.messages[0].0, "in");
    let replies: Vec<usize> = (0..sqlite.messages.len())
        .filter(|&i| sqlite.messages[i].1 == "bot")
        .collect();
    assert_eq!(
        sqlite.outbox.iter().map(|o| o.0).collect::<Vec<_>>(),
        replies,
        "one outbox row per reply, in order"
    );
    let qr = sqlite
        .outbox
        .iter()
        .position(|o| o.1.get("qr").is_some())
        .expect("a QR payload");
    let code = sqlite.outbox[qr - 1].1.to_string();
    assert!(code.contains("MBEIBR7DA1"), "{code}");
    assert_eq!(sqlite.messages[sqlite.outbox[qr].0].3, "image");
    // Each bot reply names the inbound message it answers: the last one
    // before it (what a Twilio retry is answered with).
    for (i, m) in sqlite.messages.iter().enumerate() {
        let answered = (m.1 == "bot").then(|| {
            (0..i)
                .rev()
                .find(|&j| sqlite.messages[j].0 == "in")
                .expect("an inbound message before a reply")
        });
        assert_eq!(sqlite.reply_to[i], answered, "message {i}: {m:?}");
    }
    assert_eq!(sqlite.reply_to, postgres.reply_to);
    // One run of questions, ended with the code (in PostgreSQL's one
    // statement); AGENT after the code ends none.
    assert_eq!(
        sqlite.runs,
        [(
            "completed".to_string(),
            false,
            None,
            5,
            [0; 5],
            0,
            None,
            false,
            true
        )]
    );
    // Nine writes and the one made under the remembered copy.
    assert_eq!(sqlite.conversations.len(), 1);
    assert_eq!(sqlite.conversations[0].2, 10);
    assert_eq!(sqlite.conversations[0].0, "waiting");
    assert!(
        sqlite
            .messages
            .iter()
            .any(|m| m.5 == "Merci beaucoup" && m.4 == "verbatim")
    );

    assert_eq!(
        sqlite.events,
        [(
            "waiting".to_string(),
            "escalated".to_string(),
            Some("requested".to_string()),
            None
        )]
    );
    assert!(
        sqlite
            .messages
            .iter()
            .any(|m| m.3 == "image" && m.4 == "verbatim" && m.5 == "Ibrahim"),
        "media sent while waiting is kept as written, caption included"
    );

    // One DHIS-2 sync job for the code, with its own UIDs, waiting (this
    // number has no DHIS-2 settings).
    assert_eq!(
        sqlite.sync,
        [("MBEIBR7DA1".to_string(), "pending".to_string(), 0, true)]
    );

    assert_eq!(sqlite.conversations, postgres.conversations);
    assert_eq!(sqlite.events, postgres.events);
    assert_eq!(sqlite.sync, postgres.sync);
    assert_eq!(sqlite.messages.len(), postgres.messages.len());
    for (i, (s, p)) in sqlite.messages.iter().zip(&postgres.messages).enumerate() {
        assert_eq!(s, p, "message {i}");
    }
    assert_eq!(sqlite.outbox.len(), postgres.outbox.len());
    for (i, (s, p)) in sqlite.outbox.iter().zip(&postgres.outbox).enumerate() {
        assert_eq!(s, p, "outbox row {i}");
    }
}
