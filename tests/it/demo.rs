//! `demo seed`: a small demo tenant on both databases, read back through
//! the app's own code (loading, staff actions, an inbound message, login),
//! and the command line.

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::staff::PASSWORD;
use reqwest::StatusCode;
use rstest_reuse::apply;
use uic_inbox::demo::{self, Options, Refused};
use uic_inbox::inbox::{self, NewInbound};
use uic_inbox::{on_db, on_db_read};

const CONVERSATIONS: usize = 300;
const MESSAGES: usize = 3000;

fn options(slug: &str) -> Options {
    Options {
        tenant_slug: slug.into(),
        conversations: CONVERSATIONS,
        messages: MESSAGES,
        registrations: 0,
        seed: 7,
        password: Some(PASSWORD.into()),
    }
}

async fn seed(app: &TestApp, opts: &Options) -> anyhow::Result<demo::Seeded> {
    let s = &app.state;
    demo::seed(&s.db, &s.config, &s.salt, opts, &mut |_| {}).await
}

async fn scalar(app: &TestApp, sql: &str, tenant: i64) -> i64 {
    on_db!(&app.state.db, p => sqlx::query_scalar(sql).bind(tenant).fetch_one(p).await.unwrap())
}

async fn words(app: &TestApp, sql: &str, tenant: i64) -> Vec<String> {
    on_db!(&app.state.db, p => sqlx::query_scalar(sql).bind(tenant).fetch_all(p).await.unwrap())
}

#[apply(crate::both_backends)]
#[tokio::test]
async fn a_seeded_tenant_holds_what_the_app_would_have_written(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let seeded = seed(&app, &options("demo")).await.expect("seeded");
    let t = seeded.tenant_id;
    assert_eq!(seeded.conversations, CONVERSATIONS);
    assert_eq!(seeded.messages, MESSAGES);
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM conversations WHERE tenant_id = $1",
            t
        )
        .await,
        CONVERSATIONS as i64
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM messages WHERE tenant_id = $1",
            t
        )
        .await,
        MESSAGES as i64
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM contacts WHERE tenant_id = $1",
            t
        )
        .await,
        CONVERSATIONS as i64
    );
    // Every outbound message went through the outbox, as on a Meta account;
    // past the retention period the sent row went with the text.
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND direction = 'out' AND body_form <> 'redacted'",
            t
        )
        .await,
        scalar(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE tenant_id = $1 AND status = 'sent'",
            t
        )
        .await
    );
    // Each outbox row decodes as the worker reads it, to its contact.
    let rows: Vec<(sqlx::types::Json<serde_json::Value>, String)> = on_db_read!(&app.state.db, p => sqlx::query_as(
        "SELECT o.payload, c.phone FROM outbox o JOIN conversations cv ON cv.id = o.conversation_id
         JOIN contacts c ON c.id = cv.contact_id WHERE o.tenant_id = $1").bind(t).fetch_all(p).await.unwrap());
    assert!(!rows.is_empty());
    for (payload, phone) in &rows {
        let decoded = uic_inbox::outbox::Payload::decode(&payload.0).expect("the worker reads it");
        assert_eq!(decoded.to(), phone);
    }
    assert!(seeded.registrations > 0);
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM uic_registrations WHERE tenant_id = $1 AND NOT test_data",
            t
        )
        .await,
        seeded.registrations as i64
    );

    // Each mode, each waiting reason, each change of hands is there.
    let modes = words(
        &app,
        "SELECT DISTINCT mode FROM conversations WHERE tenant_id = $1 ORDER BY mode",
        t,
    )
    .await;
    assert_eq!(modes, ["bot", "human", "waiting"]);
    let reasons = words(
        &app,
        "SELECT DISTINCT waiting_reason FROM conversations WHERE tenant_id = $1 AND mode = 'waiting' ORDER BY 1",
        t,
    )
    .await;
    assert_eq!(reasons, ["failed_answers", "flagged", "media", "requested"]);
    let changes = words(
        &app,
        "SELECT DISTINCT change FROM conversation_events WHERE tenant_id = $1 ORDER BY 1",
        t,
    )
    .await;
    assert_eq!(
        changes,
        [
            "escalated",
            "handed_back",
            "nobody_available",
            "restarted",
            "taken"
        ]
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND sender = 'staff' AND author_id IS NULL", t).await,
        0
    );
    assert!(scalar(&app, "SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND status = 'failed' AND error_code IS NOT NULL", t).await > 0);

    // Every conversation reads back through the inbox's own loading code
    // (its flow state and mode decode), and is the one its contact has.
    let rows: Vec<(i64, i64, String)> = on_db_read!(&app.state.db, p => sqlx::query_as(
        "SELECT cv.id, cv.account_id, c.phone FROM conversations cv JOIN contacts c ON c.id = cv.contact_id
         WHERE cv.tenant_id = $1").bind(t).fetch_all(p).await.unwrap());
    assert_eq!(rows.len(), CONVERSATIONS);
    let mut done = 0;
    for (id, account, phone) in &rows {
        let current = inbox::store::load(&app.state.db, *account, phone, "none")
            .await
            .expect("the row decodes")
            .expect("the conversation is found");
        assert_eq!(current.id, *id);
        assert!(phone.starts_with("+243") && phone.len() == 13, "{phone}");
        if matches!(
            current.flow_state.0.step,
            uic_inbox::flow::Step::Done { .. }
        ) {
            done += 1;
        }
    }
    assert!(done > CONVERSATIONS / 3, "{done} conversations with a code");

    // Nothing typed while the bot had the conversation is kept as written:
    // an inbound message kept verbatim comes after the conversation went to
    // staff; and the names people greet with are nowhere.
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM messages m WHERE m.tenant_id = $1 AND m.direction = 'in' AND m.body_form = 'verbatim'
             AND NOT EXISTS (SELECT 1 FROM conversation_events e WHERE e.conversation_id = m.conversation_id
                AND e.change IN ('escalated', 'taken') AND e.at <= m.created_at)",
            t
        )
        .await,
        0
    );
    assert!(scalar(&app, "SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND direction = 'in' AND body_form = 'verbatim'", t).await > 0);
    assert!(scalar(&app, "SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND body_form = 'described' AND text_chars > 0", t).await > 0);
    for name in [
        "Mbuyi",
        "Kabongo",
        "Ilunga",
        "Kasongo",
        "Tshibangu",
        "je veux mon code",
    ] {
        let found = on_db!(&app.state.db, p => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND LOWER(body) LIKE $2")
            .bind(t).bind(format!("%{}%", name.to_lowercase())).fetch_one(p).await.unwrap());
        assert_eq!(found, 0, "{name} is in a stored message");
    }

    // The seeded staff log in over HTTP with the password given.
    for email in [&seeded.staff[0].email, &seeded.staff[3].email] {
        let mut b = app.browser();
        let page = b.login(email, PASSWORD).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{email}: {}", page.body);
        let wrong = app.browser().login(email, "not the password at all").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }

    // The app's own staff actions work on a seeded conversation: an agent
    // of its account takes a waiting one and hands it back.
    let (waiting, account): (i64, i64) = on_db_read!(&app.state.db, p => sqlx::query_as(
        "SELECT id, account_id FROM conversations WHERE tenant_id = $1 AND mode = 'waiting' ORDER BY id LIMIT 1")
        .bind(t).fetch_one(p).await.unwrap());
    let supervisor = uic_inbox::auth::store::find_by_email(&app.state.db, &seeded.staff[1].email)
        .await
        .unwrap()
        .unwrap();
    let actor = uic_inbox::auth::store::actor(&app.state.db, &supervisor, None)
        .await
        .unwrap();
    let access = actor
        .require(
            uic_inbox::auth::Permission::ConversationsTakeover,
            uic_inbox::auth::Scope::Account(account),
        )
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let taken = inbox::staff::take_over(&app.state.db, &app.state.live, &access, waiting, now)
        .await
        .unwrap();
    assert_eq!(taken, inbox::staff::Acted::Done);
    let acc = uic_inbox::tenancy::store::find_by_id(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    let flow = acc.flow_config(&app.state.config);
    let (back, _) = inbox::staff::hand_back(
        &app.state.db,
        &app.state.live,
        &access,
        &acc,
        waiting,
        uic_inbox::flow::HandBack::Resume,
        &flow,
        now,
    )
    .await
    .unwrap();
    assert_eq!(back, inbox::staff::Acted::Done);

    // A person of a seeded conversation writes again: the bot answers from
    // the stored state.
    let (account, phone): (i64, String) = on_db_read!(&app.state.db, p => sqlx::query_as(
        "SELECT cv.account_id, c.phone FROM conversations cv JOIN contacts c ON c.id = cv.contact_id
         WHERE cv.tenant_id = $1 AND cv.mode = 'bot' ORDER BY cv.id DESC LIMIT 1")
        .bind(t).fetch_one(p).await.unwrap());
    let acc = uic_inbox::tenancy::store::find_by_id(&app.state.db, account)
        .await
        .unwrap()
        .unwrap();
    let handled = inbox::handle_inbound(
        &app.state.inbox(),
        &acc,
        &NewInbound {
            provider_message_id: "wamid.after-the-seed".into(),
            from: phone,
            profile_name: None,
            text: "AIDE".into(),
            choice_id: None,
            kind: "text".into(),
            media_ref: None,
            sent_at: None,
        },
    )
    .await
    .unwrap();
    match handled {
        inbox::Handled::Processed { replies, .. } => assert!(!replies.is_empty()),
        other => panic!("{other:?}"),
    }

    // A second run with the same slug writes nothing.
    let before = scalar(
        &app,
        "SELECT COUNT(*) FROM messages WHERE tenant_id = $1",
        t,
    )
    .await;
    let again = seed(&app, &options("demo")).await.unwrap_err();
    let refused = again.downcast_ref::<Refused>().expect("a refusal");
    assert!(refused.0.contains("existe déjà"), "{refused}");
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM messages WHERE tenant_id = $1",
            t
        )
        .await,
        before
    );
    let tenants: i64 = on_db!(&app.state.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM tenants").fetch_one(p).await.unwrap());
    assert_eq!(tenants, 2, "the default tenant and the demo one");
}

/// Codes asked for with `--registrations`: ten times the conversations'.
const REGISTRATIONS: usize = 3000;

#[apply(crate::both_backends)]
#[tokio::test]
async fn every_seeded_code_has_its_dhis2_sync_job_and_the_counts_match_them(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let seeded = seed(
        &app,
        &Options {
            registrations: REGISTRATIONS,
            ..options("demo")
        },
    )
    .await
    .expect("seeded");
    let t = seeded.tenant_id;
    assert_eq!(seeded.registrations, REGISTRATIONS);
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM uic_registrations WHERE tenant_id = $1 AND NOT test_data",
            t
        )
        .await,
        REGISTRATIONS as i64
    );
    // Every code is well formed (and unique: the table says so).
    let codes = words(
        &app,
        "SELECT uic FROM uic_registrations WHERE tenant_id = $1",
        t,
    )
    .await;
    assert_eq!(codes.len(), REGISTRATIONS);
    for c in &codes {
        assert!(uic_inbox::uic::Uic::parse(c).is_ok(), "{c}");
    }
    // Each code has one phone at least, and each phone a hash, not a number.
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM uic_registrations r WHERE r.tenant_id = $1 AND NOT EXISTS (
            SELECT 1 FROM uic_registration_phones p WHERE p.registration_id = r.id)",
            t
        )
        .await,
        0
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM uic_registration_phones p JOIN uic_registrations r ON r.id = p.registration_id
            WHERE r.tenant_id = $1 AND LENGTH(p.phone_hash) <> 64", t).await,
        0
    );

    // One job per code and number it was issued on, no more, no less.
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM uic_registrations r WHERE r.tenant_id = $1 AND NOT r.test_data
            AND NOT EXISTS (SELECT 1 FROM dhis2_sync s WHERE s.registration_id = r.id)",
            t
        )
        .await,
        0
    );
    let pairs = scalar(
        &app,
        "SELECT COUNT(*) FROM (SELECT DISTINCT p.registration_id, p.account_id
        FROM uic_registration_phones p JOIN uic_registrations r ON r.id = p.registration_id
        WHERE r.tenant_id = $1) x",
        t,
    )
    .await;
    let jobs = scalar(
        &app,
        "SELECT COUNT(*) FROM dhis2_sync WHERE tenant_id = $1",
        t,
    )
    .await;
    assert_eq!(jobs, pairs);
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM dhis2_sync s WHERE s.tenant_id = $1 AND NOT EXISTS (
            SELECT 1 FROM uic_registration_phones p WHERE p.registration_id = s.registration_id
                AND p.account_id = s.account_id)",
            t
        )
        .await,
        0
    );
    // Test data never gets a job.
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM dhis2_sync s JOIN uic_registrations r ON r.id = s.registration_id
            WHERE s.tenant_id = $1 AND r.test_data",
            t
        )
        .await,
        0
    );

    // Held: exactly the jobs of the codes registered from two phones.
    let held = scalar(
        &app,
        "SELECT COUNT(*) FROM dhis2_sync WHERE tenant_id = $1 AND state = 'held'",
        t,
    )
    .await;
    assert_eq!(
        held,
        scalar(
            &app,
            "SELECT COUNT(*) FROM dhis2_sync s JOIN uic_registrations r ON r.id = s.registration_id
            WHERE s.tenant_id = $1 AND r.collision_status = 'open'",
            t
        )
        .await
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM dhis2_sync WHERE tenant_id = $1 AND state = 'held'
            AND (error_code IS NULL OR error_code <> 'collision')",
            t
        )
        .await,
        0
    );
    // The others: nearly all synced; the most recent pending (one in
    // 2,500, plus one); one in 25,000 plus one failed on DHIS-2's verdict.
    let open = jobs - held;
    let count = |state: &'static str| {
        let db = app.state.db.clone();
        async move {
            on_db_read!(&db, p => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM dhis2_sync WHERE tenant_id = $1 AND state = $2")
                .bind(t).bind(state).fetch_one(p).await.unwrap())
        }
    };
    let (pending, failed, synced) = (
        count("pending").await,
        count("failed").await,
        count("synced").await,
    );
    assert_eq!(pending, open / 2500 + 1);
    assert_eq!(failed, open / 25_000 + 1);
    assert_eq!(synced, open - pending - failed);
    assert_eq!(count("syncing").await, 0);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM dhis2_sync p WHERE p.tenant_id = $1 AND p.state = 'pending'
            AND EXISTS (SELECT 1 FROM dhis2_sync s WHERE s.tenant_id = $1 AND s.state IN ('synced', 'failed')
                AND s.created_at > p.created_at)", t).await,
        0,
        "a pending job is older than a finished one"
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM dhis2_sync WHERE tenant_id = $1 AND state = 'failed'
            AND NOT (error_code = 'E1041' AND error_message LIKE 'Enrollment OrganisationUnit: %'
                OR error_code = 'E1018' AND error_message LIKE 'Attribute: %')",
            t
        )
        .await,
        0
    );
    // Synced soon after the code was issued, never in the future.
    let now = time::OffsetDateTime::now_utc();
    let odd: i64 = on_db_read!(&app.state.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM dhis2_sync WHERE tenant_id = $1 AND state = 'synced'
            AND (synced_at IS NULL OR synced_at < created_at OR synced_at > $2 OR LENGTH(tracked_entity) <> 11
                OR LENGTH(enrollment) <> 11 OR error_code IS NOT NULL)")
        .bind(t).bind(now).fetch_one(p).await.unwrap());
    assert_eq!(odd, 0);
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM dhis2_sync WHERE tenant_id = $1 AND state <> 'synced' AND synced_at IS NOT NULL", t).await,
        0
    );

    // The counts the page reads are the synced rows, number by number,
    // with the last success.
    assert_eq!(
        scalar(&app, "SELECT CAST(COALESCE(SUM(synced), 0) AS BIGINT) FROM dhis2_counts WHERE tenant_id = $1", t).await,
        synced
    );
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM dhis2_counts n WHERE n.tenant_id = $1 AND (
            n.synced <> (SELECT COUNT(*) FROM dhis2_sync s WHERE s.account_id = n.account_id AND s.state = 'synced')
            OR n.last_success_at <> (SELECT MAX(s.synced_at) FROM dhis2_sync s WHERE s.account_id = n.account_id))", t).await,
        0
    );
    // Every number has settings, switched off: the worker attempts nothing.
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM dhis2_settings d JOIN whatsapp_accounts a ON a.id = d.account_id
            WHERE a.tenant_id = $1 AND NOT d.enabled AND d.base_url = 'https://dhis2.demo.invalid'
                AND d.credential IS NULL",
            t
        )
        .await,
        seeded.accounts.len() as i64
    );
    assert!(
        uic_inbox::dhis2::store::accounts_due(&app.state.db, time::OffsetDateTime::now_utc())
            .await
            .unwrap()
            .iter()
            .all(|a| !seeded.accounts.iter().any(|(id, _)| id == a))
    );

    // The page reads the same figures, through the supervisor's access.
    let supervisor = uic_inbox::auth::store::find_by_email(&app.state.db, &seeded.staff[1].email)
        .await
        .unwrap()
        .unwrap();
    let access = uic_inbox::auth::store::actor(&app.state.db, &supervisor, None)
        .await
        .unwrap()
        .require(
            uic_inbox::auth::Permission::Dhis2View,
            uic_inbox::auth::Scope::AnyAccount,
        )
        .unwrap();
    let lines = uic_inbox::dhis2::store::overview(&app.state.db, &access)
        .await
        .unwrap();
    assert_eq!(
        lines.len(),
        seeded.accounts.len() + 1,
        "the five numbers and the sandbox"
    );
    let sum =
        |f: fn(&uic_inbox::dhis2::store::AccountSync) -> i64| lines.iter().map(f).sum::<i64>();
    assert_eq!(
        (
            sum(|l| l.synced),
            sum(|l| l.pending),
            sum(|l| l.failed),
            sum(|l| l.held),
            sum(|l| l.syncing)
        ),
        (synced, pending, failed, held, 0)
    );
    let mut b = app.browser();
    assert_eq!(
        b.login(&seeded.staff[1].email, PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let page = b.get("/dhis2").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let shown = ["E1041", "E1018"]
        .iter()
        .filter(|c| page.body.contains(**c))
        .count();
    assert!(shown >= 1, "a failed job's code is listed");
}

#[apply(crate::both_backends)]
#[tokio::test]
async fn a_second_demo_tenant_seeds_beside_the_first_and_touches_nothing_of_it(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let small = |slug: &str| Options {
        conversations: 40,
        messages: 400,
        ..options(slug)
    };
    let first = seed(&app, &small("demo")).await.unwrap();
    let snapshot = |app: &TestApp| {
        let db = app.state.db.clone();
        async move {
            on_db!(&db, p => sqlx::query_as::<_, (i64, i64, i64)>(
                "SELECT (SELECT COUNT(*) FROM messages WHERE tenant_id = $1),
                        (SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM conversations WHERE tenant_id = $1),
                        (SELECT COUNT(*) FROM users WHERE tenant_id = $1)")
                .bind(first.tenant_id).fetch_one(p).await.unwrap())
        }
    };
    let before = snapshot(&app).await;
    // Same seed, another slug: its own accounts, numbers and addresses.
    let second = seed(&app, &small("demo2")).await.unwrap();
    assert_ne!(second.tenant_id, first.tenant_id);
    assert_eq!(snapshot(&app).await, before);
    assert!(
        second
            .staff
            .iter()
            .all(|s| s.email.ends_with("@demo2.example.org"))
    );
    // A slug that would be injected into SQL or URLs is refused.
    for slug in ["demo'; DROP TABLE tenants; --", "Démo", "../x"] {
        let err = seed(&app, &small(slug)).await.unwrap_err();
        assert!(err.downcast_ref::<Refused>().is_some(), "{slug}: {err}");
    }
    // A weak password is refused before anything is written.
    let weak = Options {
        password: Some("password123".into()),
        ..small("demo3")
    };
    assert!(
        seed(&app, &weak)
            .await
            .unwrap_err()
            .downcast_ref::<Refused>()
            .is_some()
    );
    let tenants: i64 = on_db!(&app.state.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM tenants").fetch_one(p).await.unwrap());
    assert_eq!(tenants, 3);
}

#[test]
fn demo_seed_on_the_command_line_prints_how_to_log_in_once_and_refuses_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_uic-inbox"))
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", "sqlite:data/demo.db")
            .env("PUBLIC_URL", "https://inbox.example.org")
            .args(["demo", "seed", "--conversations", "20", "--messages", "200"])
            .output()
            .unwrap()
    };
    let first = run();
    let out = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(out.contains("https://inbox.example.org/login"), "{out}");
    assert!(out.contains("admin@demo.example.org"), "{out}");
    assert!(out.contains("200 messages"), "{out}");
    let password = out
        .lines()
        .find_map(|l| l.split("(everyone's password, shown once): ").nth(1))
        .expect("the password is printed");
    assert_eq!(password.len(), 19, "{password}");
    let second = run();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("existe déjà"), "{err}");
    assert!(!String::from_utf8_lossy(&second.stdout).contains(password));
}

#[apply(crate::both_backends)]
#[tokio::test]
async fn the_seeded_runs_of_questions_agree_with_the_conversations_and_feed_the_report(
    backend: Backend,
) {
    use uic_inbox::auth::{Actor, Permission, Scope};
    use uic_inbox::report;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let seeded = seed(&app, &options("demo")).await.expect("seeded");
    let t = seeded.tenant_id;
    let runs = |outcome: &'static str| {
        let db = app.state.db.clone();
        async move {
            let n: i64 = on_db!(&db, p => sqlx::query_scalar(
                "SELECT COUNT(*) FROM flow_runs WHERE tenant_id = $1 AND outcome = $2")
                .bind(t).bind(outcome).fetch_one(p).await.unwrap());
            n
        }
    };
    // One completed run per code the bot gave (each is a sighting of a
    // code in the registry: no code was added beyond the conversations').
    let codes_given = scalar(
        &app,
        "SELECT CAST(COALESCE(SUM(times_seen), 0) AS BIGINT) FROM uic_registrations WHERE tenant_id = $1",
        t,
    )
    .await;
    assert!(codes_given > 0);
    assert_eq!(runs("completed").await, codes_given);
    assert_eq!(runs("completed").await, seeded.runs.completed as i64);
    // One escalated run per hand over the bot made (staff flagging one
    // keeps its run going), with the reason the conversation shows.
    assert_eq!(
        runs("escalated").await,
        scalar(
            &app,
            "SELECT COUNT(*) FROM conversation_events WHERE tenant_id = $1 AND change = 'escalated'
             AND user_id IS NULL",
            t
        )
        .await
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM flow_runs WHERE tenant_id = $1
             AND (outcome = 'escalated') <> (escalation_reason IS NOT NULL)",
            t
        )
        .await,
        0
    );
    assert!(runs("left").await > 0);
    assert_eq!(runs("left").await, seeded.runs.left as i64);
    // In the past, in order, answered after the escalation, never test
    // data, each on its conversation's number.
    let now = time::OffsetDateTime::now_utc();
    let bad: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM flow_runs r JOIN conversations c ON c.id = r.conversation_id
         WHERE r.tenant_id = $1 AND (r.started_at > r.ended_at OR r.ended_at > $2 OR r.test_data
            OR r.account_id <> c.account_id OR r.first_reply_at < r.ended_at OR r.first_reply_at > $2
            OR (r.first_reply_at IS NOT NULL AND r.outcome <> 'escalated'))")
        .bind(t).bind(now).fetch_one(p).await.unwrap());
    assert_eq!(bad, 0);
    assert!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM flow_runs WHERE tenant_id = $1 AND first_reply_at IS NOT NULL",
            t
        )
        .await
            > 0
    );
    // Nothing is left for the sweep of idle runs: the seed ended them.
    let total = scalar(
        &app,
        "SELECT COUNT(*) FROM flow_runs WHERE tenant_id = $1",
        t,
    )
    .await;
    assert_eq!(total as usize, seeded.runs.total());
    report::runs::sweep(&app.state.db, &app.state.config, now)
        .await
        .unwrap();
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM flow_runs WHERE tenant_id = $1",
            t
        )
        .await,
        total
    );
    // The report over the year counts them.
    let access = Actor::operator(t)
        .require(Permission::ReportsView, Scope::Tenant)
        .unwrap();
    let period = report::Period::parse("", "", now.date())
        .map(|p| report::Period {
            from: p.to - time::Duration::days(365),
            to: p.to,
        })
        .unwrap();
    let r = report::figures::report(&app.state.db, &access, period)
        .await
        .unwrap();
    let all = report::Funnel::total(&r.funnel);
    assert_eq!(all.completed + all.escalated + all.left, total);
    assert_eq!(all.completed, codes_given);
}
