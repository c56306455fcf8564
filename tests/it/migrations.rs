//! The two migration folders must stay in step.

use std::collections::BTreeSet;

fn names(dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn sqlite_and_postgres_migrations_have_the_same_file_names() {
    let sqlite = names("sqlite");
    let postgres = names("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "every migration needs a twin in the other folder"
    );
    for name in &sqlite {
        let (number, rest) = name.split_once('_').expect("NNNN_verb_noun.sql");
        assert!(
            number.len() == 4 && number.bytes().all(|b| b.is_ascii_digit()),
            "{name}"
        );
        assert!(rest.ends_with(".sql"), "{name}");
    }
}

/// A database at migration 3 (before privacy at rest), with the data an
/// earlier version stored, then migrated to the current schema.
mod privacy_upgrade {
    use crate::both_backends;
    use crate::helpers::Backend;
    use rstest_reuse::apply;
    use time::OffsetDateTime;
    use uic_inbox::db::{Db, DbUrl};
    use uic_inbox::on_db;

    async fn database(backend: Backend, dir: &tempfile::TempDir) -> Option<Db> {
        let url = match backend {
            Backend::Sqlite => DbUrl::Sqlite(dir.path().join("old.db")),
            Backend::Postgres => {
                use sqlx::Connection;
                let admin = std::env::var("TEST_DATABASE_URL")
                    .ok()
                    .filter(|u| !u.is_empty())?;
                let name = format!("t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let (base, _) = admin.rsplit_once('/').unwrap();
                DbUrl::Postgres(format!("{base}/{name}"))
            }
        };
        Some(Db::connect(&url).await.unwrap())
    }

    async fn migrate_up_to(db: &Db, last: i64) {
        let folder = match db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        };
        let path = format!("{}/migrations/{folder}", env!("CARGO_MANIFEST_DIR"));
        let mut migrator = sqlx::migrate::Migrator::new(std::path::Path::new(&path))
            .await
            .unwrap();
        migrator.migrations = migrator
            .migrations
            .iter()
            .filter(|m| m.version <= last)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        match db {
            Db::Sqlite(p) => migrator.run(&p.writer).await.unwrap(),
            Db::Postgres(p) => migrator.run(p).await.unwrap(),
        }
    }

    async fn exec(db: &Db, sql: &str) {
        let now = OffsetDateTime::now_utc();
        on_db!(db, p => sqlx::query(sql).bind(now).execute(p).await.map(|_| ()))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    #[apply(both_backends)]
    #[tokio::test]
    async fn data_stored_before_privacy_at_rest_is_brought_in_line(#[case] backend: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let Some(db) = database(backend, &dir).await else {
            return;
        };
        migrate_up_to(&db, 3).await;
        for sql in [
            "INSERT INTO tenants (id, slug, name, created_at) VALUES (1, 'ngo', 'NGO', $1)",
            "INSERT INTO whatsapp_accounts (id, tenant_id, slug, name, provider, phone_number, flow_config, created_at, updated_at)
             VALUES (1, 1, 'sandbox', 'S', 'sandbox', NULL, '{}', $1, $1), (2, 1, 'twilio', 'T', 'twilio', '+14155238886', '{}', $1, $1)",
            "INSERT INTO contacts (id, tenant_id, account_id, phone, profile_name, created_at)
             VALUES (1, 1, 2, '+243990000001', 'Amani', $1), (2, 1, 2, '+243990000002', 'Zawadi', $1)",
            "INSERT INTO conversations (id, tenant_id, account_id, contact_id, mode, escalated_at, flow_state, last_message_at, created_at, updated_at)
             VALUES (1, 1, 2, 1, 'bot', NULL, '{}', $1, $1, $1), (2, 1, 2, 2, 'human', $1, '{}', $1, $1, $1)",
            "INSERT INTO messages (id, tenant_id, account_id, conversation_id, direction, sender, body_form, body, status, created_at, updated_at)
             VALUES (1, 1, 2, 1, 'in', 'contact', 'verbatim', 'Bonjour, je suis Kabila', 'received', $1, $1),
                    (2, 1, 2, 1, 'out', 'bot', 'verbatim', 'Bienvenue', 'sent', $1, $1),
                    (3, 1, 2, 1, 'in', 'contact', 'shortened', 'KAB', 'received', $1, $1),
                    (4, 1, 2, 2, 'in', 'contact', 'verbatim', 'Aidez-moi, Zawadi ici', 'received', $1, $1)",
            "INSERT INTO outbox (tenant_id, account_id, conversation_id, message_id, payload, status, attempts, next_attempt_at, created_at, updated_at)
             VALUES (1, 2, 1, 2, '{}', 'sent', 1, $1, $1, $1)",
            "INSERT INTO uic_registrations (id, tenant_id, uic, last_part, first_part, year_digit, city, gender, first_account_id, first_seen_at, last_seen_at)
             VALUES (1, 1, 'MBEIBR7DA1', 'MBE', 'IBR', 7, 'DA', 1, 1, $1, $1), (2, 1, 'KABJOS8KI2', 'KAB', 'JOS', 8, 'KI', 2, 2, $1, $1)",
            "INSERT INTO uic_registration_phones (registration_id, phone_hash, account_id, first_seen_at, last_seen_at)
             VALUES (1, 'h1', 1, $1, $1), (2, 'h2', 2, $1, $1)",
            "INSERT INTO roles (id, tenant_id, builtin, name, created_at, updated_at)
             VALUES (1, 1, 'administrator', 'Administrateur', $1, $1), (2, 1, 'supervisor', 'Superviseur', $1, $1),
                    (3, 1, 'agent', 'Agent', $1, $1)",
        ] {
            exec(&db, sql).await;
        }

        db.migrate().await.unwrap();

        let messages: Vec<(i64, String, String, Option<i32>)> = on_db!(&db, p => sqlx::query_as(
            "SELECT id, body_form, body, text_chars FROM messages ORDER BY id").fetch_all(p).await.unwrap());
        let m = |id: i64, form: &str, body: &str, chars: Option<i32>| {
            (id, form.to_string(), body.to_string(), chars)
        };
        assert_eq!(
            messages,
            [
                // Typed to the bot: only its length stays.
                m(1, "described", "", Some(23)),
                // The bot's own words, and an answer already shortened.
                m(2, "verbatim", "Bienvenue", None),
                m(3, "shortened", "KAB", None),
                // Staff have this conversation: kept as written.
                m(4, "verbatim", "Aidez-moi, Zawadi ici", None),
            ]
        );
        // Nobody could take a conversation before the inbox: an escalated
        // one waits in the queue (reason unknown), with its messages.
        let modes: Vec<(String, Option<String>, i64)> = on_db!(&db, p => sqlx::query_as(
            "SELECT c.mode, c.waiting_reason, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id)
             FROM conversations c ORDER BY c.id").fetch_all(p).await.unwrap());
        assert_eq!(
            modes,
            [
                ("bot".to_string(), None, 3),
                ("waiting".to_string(), None, 1)
            ]
        );
        let outbox: i64 = on_db!(&db, p => sqlx::query_scalar(
            "SELECT message_id FROM outbox").fetch_one(p).await.unwrap());
        assert_eq!(outbox, 2, "rows referring to a rebuilt table are kept");
        let names: Vec<Option<String>> = on_db!(&db, p => sqlx::query_scalar(
            "SELECT profile_name FROM contacts ORDER BY id").fetch_all(p).await.unwrap());
        assert_eq!(names, [None, None], "off by default: names erased");
        let test_data: Vec<(String, bool, i64)> = on_db!(&db, p => sqlx::query_as(
            "SELECT r.uic, r.test_data, (SELECT COUNT(*) FROM uic_registration_phones ph WHERE ph.registration_id = r.id)
             FROM uic_registrations r ORDER BY r.id").fetch_all(p).await.unwrap());
        assert_eq!(
            test_data,
            [
                ("MBEIBR7DA1".to_string(), true, 1),
                ("KABJOS8KI2".to_string(), false, 1)
            ]
        );
        let simulator: Vec<i64> = on_db!(&db, p => sqlx::query_scalar(
            "SELECT role_id FROM role_permissions WHERE permission = 'simulator.use' ORDER BY role_id")
            .fetch_all(p).await.unwrap());
        assert_eq!(
            simulator,
            [1, 2],
            "administrators and supervisors of existing tenants"
        );
        let settings = uic_inbox::tenancy::store::privacy_settings(
            &db,
            &crate::helpers::access(1, uic_inbox::auth::Permission::SettingsManage),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(settings, uic_inbox::tenancy::PrivacySettings::default());
        if let Db::Sqlite(p) = &db {
            let broken: Vec<(String,)> = sqlx::query_as("PRAGMA foreign_key_check")
                .fetch_all(&p.writer)
                .await
                .unwrap();
            assert!(broken.is_empty(), "{broken:?}");
        }
        db.close().await;
    }
}
