//! No typed name is stored anywhere (DESIGN.md section 1).

use crate::both_backends;
use crate::helpers::*;
use rstest_reuse::apply;

#[apply(both_backends)]
#[tokio::test]
async fn full_names_typed_in_a_conversation_are_nowhere_in_the_database(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let phone = "+243990000001";
    let texts = ["Bonjour", "Mbengue", "Ibrahima", "1988", "DA", "Homme"];
    let mut last = String::new();
    for (i, t) in texts.iter().enumerate() {
        last = app.twilio_say(phone, &format!("SM{i:032}"), t).await;
    }
    assert!(last.contains("MBEIBR8DA1"));
    // Unreadable answers that hold names are not kept either.
    app.sandbox_say("+243990000009", "Bonjour").await;
    app.sandbox_say("+243990000009", "Kabongo-Tshilombo").await;
    app.sandbox_say("+243990000009", "Josephine").await;
    app.sandbox_say("+243990000009", "née en Kabongo").await;

    let dump = app.dump_database().await.to_lowercase();
    assert!(
        dump.contains("mbe"),
        "the dump is readable and holds the shortened answer"
    );
    for name in [
        "mbengue",
        "ibrahima",
        "kabongo",
        "tshilombo",
        "josephine",
        "1988",
    ] {
        // As a word: random identifiers (hex session ids, fingerprints,
        // sealed values) may hold "1988" by chance, never as a word.
        let standalone = dump.match_indices(name).find(|(at, _)| {
            let before = dump[..*at].chars().next_back();
            let after = dump[at + name.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_alphanumeric())
                && !after.is_some_and(|c| c.is_ascii_alphanumeric())
        });
        if let Some((at, _)) = standalone {
            let context: String = dump[at.saturating_sub(80)..(at + 80).min(dump.len())]
                .chars()
                .filter(|c| !c.is_control())
                .collect();
            panic!("{name:?} found in the {backend:?} database: …{context}…");
        }
    }
}

/// The inbound messages of one phone: `(body_form, body, text_chars)`.
async fn inbound_kept(app: &TestApp, phone: &str) -> Vec<(String, String, Option<i32>)> {
    uic_inbox::on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT m.body_form, m.body, m.text_chars FROM messages m
         JOIN conversations cv ON cv.id = m.conversation_id JOIN contacts c ON c.id = cv.contact_id
         WHERE c.phone = $1 AND m.direction = 'in' ORDER BY m.id")
        .bind(phone).fetch_all(p).await.unwrap())
}

fn kept(form: &str, body: &str, chars: Option<i32>) -> (String, String, Option<i32>) {
    (form.to_string(), body.to_string(), chars)
}

#[apply(both_backends)]
#[tokio::test]
async fn text_typed_to_the_bot_keeps_a_command_word_or_its_length_and_staff_see_it_as_written(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let phone = "+243990000101";
    for t in [
        "Bonjour, je suis Mbengue Ibrahima",
        "aide ?",
        "Mbengue",
        "Ibrahima",
        "1997",
        "DA",
        "Homme",
        "Merci Kabila",
    ] {
        app.sandbox_say(phone, t).await;
    }
    assert_eq!(
        inbound_kept(&app, phone).await,
        [
            kept("described", "", Some(33)),
            kept("command", "AIDE", None),
            kept("shortened", "MBE", None),
            kept("shortened", "IBR", None),
            kept("shortened", "7", None),
            kept("shortened", "DA", None),
            kept("shortened", "1", None),
            kept("described", "", Some(12)),
        ]
    );
    // Once handed to staff, messages are kept as written: staff read them.
    let phone = "+243990000102";
    for t in [
        "Salut, c'est Kabila",
        "HUMAIN",
        "Je m'appelle Kabila, aidez-moi",
    ] {
        app.sandbox_say(phone, t).await;
    }
    assert_eq!(
        inbound_kept(&app, phone).await,
        [
            kept("described", "", Some(19)),
            kept("command", "HUMAIN", None),
            kept("verbatim", "Je m'appelle Kabila, aidez-moi", None),
        ]
    );
}

async fn profile_names(app: &TestApp) -> Vec<Option<String>> {
    uic_inbox::on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT profile_name FROM contacts ORDER BY id").fetch_all(p).await.unwrap())
}

async fn audit_details(app: &TestApp, action: &str) -> Vec<String> {
    uic_inbox::on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = $1 ORDER BY id").bind(action).fetch_all(p).await.unwrap())
}

#[apply(both_backends)]
#[tokio::test]
async fn profile_names_are_kept_only_while_the_tenant_says_so_and_erased_when_it_stops(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Off by default: Twilio's ProfileName ("Amani") is not stored.
    app.twilio_say(
        "+243990000201",
        "SMpn000000000000000000000000000001",
        "Bonjour",
    )
    .await;
    assert_eq!(profile_names(&app).await, [None]);

    let mut admin = app
        .logged_in(
            "admin@ngo.example",
            uic_inbox::auth::BuiltinRole::Administrator,
        )
        .await;
    let page = admin.get("/settings").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"name="retention_days" value="180""#));
    // Bad retention periods are refused with the reason, nothing changes.
    for bad in ["3", "4000", "six mois", ""] {
        let page = admin
            .post(
                "/settings",
                &[("keep_profile_names", "on"), ("retention_days", bad)],
            )
            .await;
        assert_eq!(page.status, 400, "{bad}");
        assert!(page.body.contains("7 et 3650"), "{bad}: {}", page.body);
    }
    assert!(audit_details(&app, "settings.privacy").await.is_empty());

    let page = admin
        .post(
            "/settings",
            &[("keep_profile_names", "on"), ("retention_days", "90")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    app.twilio_say(
        "+243990000201",
        "SMpn000000000000000000000000000002",
        "Mbengue",
    )
    .await;
    app.twilio_say(
        "+243990000202",
        "SMpn000000000000000000000000000003",
        "Bonjour",
    )
    .await;
    assert_eq!(
        profile_names(&app).await,
        [Some("Amani".to_string()), Some("Amani".to_string())]
    );

    // Turned off: the stored names go at once, and no new one comes.
    let page = admin.post("/settings", &[("retention_days", "90")]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(profile_names(&app).await, [None, None]);
    app.twilio_say(
        "+243990000203",
        "SMpn000000000000000000000000000004",
        "Bonjour",
    )
    .await;
    assert_eq!(profile_names(&app).await, [None, None, None]);
    let settings = uic_inbox::tenancy::store::privacy_settings(
        &app.state.db,
        &crate::helpers::access(
            app.default_tenant().await,
            uic_inbox::auth::Permission::SettingsManage,
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(settings.retention_days, 90);
    assert!(!settings.keep_profile_names);

    let audited = audit_details(&app, "settings.privacy").await;
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert!(
        audited[0].contains("keep_profile_names: false -> true"),
        "{audited:?}"
    );
    assert!(
        audited[1].contains("profile names erased: 2"),
        "{audited:?}"
    );

    // Only those who may change the organisation's settings see the page.
    let mut supervisor = app
        .logged_in("sup@ngo.example", uic_inbox::auth::BuiltinRole::Supervisor)
        .await;
    assert_eq!(supervisor.get("/settings").await.status, 403);
}

#[apply(both_backends)]
#[tokio::test]
async fn the_daily_job_redacts_text_older_than_the_retention_keeps_the_rest_and_audits_once(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let db = &app.state.db;
    let tenant = app.default_tenant().await;
    let phone = "+243990000301";
    for t in ["Bonjour", "AGENT", "Je suis Kabila, j'ai une question"] {
        app.sandbox_say(phone, t).await;
    }
    let verbatim = app.count("messages WHERE body_form = 'verbatim'").await;
    assert!(verbatim >= 3, "the escalated message and the bot's replies");
    let messages = app.count("messages").await;
    uic_inbox::tenancy::store::set_privacy_settings(
        db,
        &crate::helpers::access(tenant, uic_inbox::auth::Permission::SettingsManage),
        uic_inbox::tenancy::PrivacySettings {
            keep_profile_names: false,
            retention_days: 7,
        },
    )
    .await
    .unwrap();
    // Two dead letters, one past 30 days at the first pass (6 days on).
    let now = time::OffsetDateTime::now_utc();
    for (age, reference) in [(25, "old"), (20, "recent")] {
        uic_inbox::outbox::store::dead_letter(
            db,
            "meta",
            "unknown phone number id",
            Some(reference),
            "{}",
            now - time::Duration::days(age),
        )
        .await
        .unwrap();
    }

    // Two outbox rows of a staff reply's text: one sent, one still to send.
    let (conversation, message): (i64, i64) = uic_inbox::on_db!(db, p => sqlx::query_as(
        "SELECT conversation_id, id FROM messages WHERE direction = 'out' ORDER BY id LIMIT 1")
        .fetch_one(p).await.unwrap());
    let account = uic_inbox::tenancy::store::find_by_slug(db, "sandbox")
        .await
        .unwrap()
        .unwrap()
        .id;
    for status in ["sent", "pending"] {
        uic_inbox::on_db!(db, p => sqlx::query(
            "INSERT INTO outbox (tenant_id, account_id, conversation_id, message_id, payload, status, attempts,
                next_attempt_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7, $7)")
            .bind(tenant).bind(account).bind(conversation).bind(message)
            .bind(sqlx::types::Json(serde_json::json!({"kind": "text", "to": phone, "text": "Bonjour Kabila"})))
            .bind(status).bind(now)
            .execute(p).await.map(|_| ()).unwrap());
    }

    // Within the retention period: nothing changes.
    let pass = uic_inbox::maintenance::run_once(db, now + time::Duration::days(6))
        .await
        .unwrap();
    assert!(pass.redacted.is_empty());
    assert_eq!(pass.dead_letters_deleted, 1);
    assert_eq!(
        app.count("messages WHERE body_form = 'verbatim'").await,
        verbatim
    );
    let left: Vec<Option<String>> = uic_inbox::on_db!(db, p => sqlx::query_scalar(
        "SELECT reference FROM webhook_dead_letters").fetch_all(p).await.unwrap());
    assert_eq!(left, [Some("recent".to_string())]);

    // Past it, two instances at once: every verbatim text redacted once.
    let later = now + time::Duration::days(8);
    let (a, b) = tokio::join!(
        uic_inbox::maintenance::run_once(db, later),
        uic_inbox::maintenance::run_once(db, later)
    );
    let redacted: u64 = a
        .unwrap()
        .redacted
        .into_iter()
        .chain(b.unwrap().redacted)
        .map(|(t, n)| {
            assert_eq!(t, tenant);
            n
        })
        .sum();
    assert_eq!(redacted, verbatim as u64);
    // The sent row's copy of the text went with it; the one to send stays.
    let outbox: Vec<String> = uic_inbox::on_db!(db, p => sqlx::query_scalar(
        "SELECT status FROM outbox").fetch_all(p).await.unwrap());
    assert_eq!(outbox, ["pending"]);
    assert_eq!(app.count("messages WHERE body_form = 'verbatim'").await, 0);
    assert_eq!(
        app.count("messages WHERE body_form = 'redacted' AND body <> ''")
            .await,
        0
    );
    // The metadata stays: every message, its direction, kind and time.
    assert_eq!(app.count("messages").await, messages);
    assert_eq!(
        app.count("messages WHERE direction = 'in' AND kind = 'text'")
            .await,
        3
    );
    let audited = audit_details(&app, "messages.redact").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(
        audited[0].starts_with(&format!("{verbatim} message")),
        "{audited:?}"
    );
    assert_eq!(app.count("messages WHERE body LIKE '%question%'").await, 0);
}

#[apply(both_backends)]
#[tokio::test]
async fn sandbox_codes_are_test_data_never_a_collision_with_a_real_person_nor_listed(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let answers = ["Bonjour", "Mbengue", "Ibrahima", "1997", "DA", "Homme"];
    // A trial in the sandbox first, then a real person with the same answers.
    for t in answers {
        app.sandbox_say("+243990000401", t).await;
    }
    let mut last = String::new();
    for (i, t) in answers.iter().enumerate() {
        last = app
            .twilio_say("+243990000402", &format!("SMtd{i:030}"), t)
            .await;
    }
    assert!(last.contains("MBEIBR7DA1"));
    // Another trial from a second simulated phone.
    for t in answers {
        app.sandbox_say("+243990000403", t).await;
    }
    let rows: Vec<(bool, String, i64)> = uic_inbox::on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT r.test_data, r.collision_status,
            (SELECT COUNT(*) FROM uic_registration_phones ph WHERE ph.registration_id = r.id)
         FROM uic_registrations r WHERE r.uic = 'MBEIBR7DA1' ORDER BY r.test_data")
        .fetch_all(p).await.unwrap());
    assert_eq!(
        rows,
        [
            (false, "none".to_string(), 1),
            (true, "open".to_string(), 2)
        ],
        "the real person's code is no collision; the trials are among themselves"
    );
    let listed = uic_inbox::registry::store::list(&app.state.db, None, 100)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].phones, listed[0].collision_status.as_str()),
        (1, "none")
    );
    let uic = uic_inbox::uic::Uic::parse("MBEIBR7DA1").unwrap();
    let found = uic_inbox::registry::store::find(&app.state.db, &uic)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].times_seen, 1);
}

#[apply(both_backends)]
#[tokio::test]
async fn the_simulator_is_in_the_menu_only_for_those_who_may_use_it(#[case] backend: Backend) {
    use uic_inbox::auth::BuiltinRole::*;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for (n, (role, shown)) in [
        (Administrator, true),
        (Supervisor, true),
        (Agent, false),
        (Observer, false),
    ]
    .into_iter()
    .enumerate()
    {
        let mut b = app.logged_in(&format!("sim{n}@ngo.example"), role).await;
        let home = b.get("/").await;
        assert_eq!(
            home.body.contains(r#"href="/simulator""#),
            shown,
            "{role:?}"
        );
        let status = b.get("/simulator").await.status;
        assert_eq!(status == 403, !shown, "{role:?}: {status}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_database_its_wal_and_shm_and_the_salt_are_private_files_in_a_private_folder() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var").join("uic");
    let db_path = data.join("uic.db");
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        c.database_url = uic_inbox::db::DbUrl::Sqlite(db_path.clone());
        // The salt is generated beside the database.
        c.uic_salt = None;
    })
    .await
    else {
        return;
    };
    // A write, so that SQLite has made its -wal and -shm files.
    app.sandbox_say("+243990000501", "Bonjour").await;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&data), 0o700, "the folder the server created");
    assert_eq!(mode(&dir.path().join("var")), 0o700);
    for file in ["uic.db", "uic.db-wal", "uic.db-shm", "uic-salt"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn the_server_runs_the_maintenance_job_when_it_starts(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    uic_inbox::outbox::store::dead_letter(
        &app.state.db,
        "meta",
        "unknown phone number id",
        None,
        "{}",
        time::OffsetDateTime::now_utc() - time::Duration::days(40),
    )
    .await
    .unwrap();
    let app = app.restart().await;
    let start = std::time::Instant::now();
    while app.count("webhook_dead_letters").await > 0 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the job never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
