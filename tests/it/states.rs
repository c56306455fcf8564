//! States stored as TEXT (conversation mode, message direction, status and
//! body form, outbox status, token status, provider) read and write as
//! their enums on both databases, and a word that is not one of an enum's
//! is refused, never taken for a default.

use crate::both_backends;
use crate::helpers::{Backend, spawn_app};
use rstest_reuse::apply;
use uic_inbox::db::Db;
use uic_inbox::inbox::{BodyForm, Direction, MessageStatus, Mode, Sender};
use uic_inbox::on_db;
use uic_inbox::outbox::OutboxStatus;
use uic_inbox::tenancy::{Provider, SANDBOX_ACCOUNT, TokenStatus, store as accounts};

/// Binds `value`, reads it back as TEXT and decodes it.
async fn round_trip<T>(db: &Db, value: T) -> T
where
    T: Copy
        + Send
        + Unpin
        + std::fmt::Display
        + for<'q> sqlx::Encode<'q, sqlx::Sqlite>
        + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + for<'q> sqlx::Encode<'q, sqlx::Postgres>
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>,
{
    let (back, text): (T, String) = on_db!(db, p => sqlx::query_as(
        "SELECT CAST($1 AS TEXT), CAST($1 AS TEXT)")
        .bind(value).fetch_one(p).await)
    .unwrap();
    assert_eq!(text, value.to_string(), "stored as its word");
    back
}

#[apply(both_backends)]
#[tokio::test]
async fn every_state_is_written_and_read_as_its_word(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let db = &app.state.db;
    for v in Mode::ALL {
        assert_eq!(round_trip(db, *v).await, *v);
    }
    for v in Direction::ALL {
        assert_eq!(round_trip(db, *v).await, *v);
    }
    for v in Sender::ALL {
        assert_eq!(round_trip(db, *v).await, *v);
    }
    for v in MessageStatus::ALL {
        assert_eq!(round_trip(db, *v).await, *v);
    }
    for v in BodyForm::ALL {
        assert_eq!(round_trip(db, *v).await, *v);
    }
    for v in OutboxStatus::ALL {
        assert_eq!(round_trip(db, *v).await, *v);
    }
    for v in TokenStatus::ALL {
        assert_eq!(round_trip(db, *v).await, *v);
    }
    for v in Provider::ALL {
        assert_eq!(round_trip(db, *v).await, *v);
    }

    // The rows one message writes read back as their enums.
    let replies = app.sandbox_say("+243990000001", "Bonjour").await;
    assert!(!replies.is_empty());
    let mode: Mode = on_db!(db, p => sqlx::query_scalar("SELECT mode FROM conversations")
        .fetch_one(p).await)
    .unwrap();
    assert_eq!(mode, Mode::Bot);
    let messages: Vec<(Direction, Sender, MessageStatus, BodyForm)> =
        on_db!(db, p => sqlx::query_as(
        "SELECT direction, sender, status, body_form FROM messages ORDER BY id")
        .fetch_all(p).await)
        .unwrap();
    let (direction, sender, status, _) = messages[0];
    assert_eq!(
        (direction, sender, status),
        (Direction::In, Sender::Contact, MessageStatus::Received)
    );
    assert_eq!(messages.len(), 1 + replies.len());
    for reply in &messages[1..] {
        assert_eq!(
            *reply,
            (
                Direction::Out,
                Sender::Bot,
                MessageStatus::Delivered,
                BodyForm::Verbatim
            )
        );
    }
    let account = accounts::find_by_slug(db, SANDBOX_ACCOUNT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.provider(), Provider::Sandbox);
    assert_eq!(account.token_status, TokenStatus::Ok);
}

#[apply(both_backends)]
#[tokio::test]
async fn an_account_with_an_unknown_provider_is_refused_not_taken_for_the_sandbox(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let db = &app.state.db;

    // The schema refuses the word on both databases…
    let written = on_db!(db, p => sqlx::query(
        "UPDATE whatsapp_accounts SET provider = 'whatsapp' WHERE slug = $1")
        .bind(SANDBOX_ACCOUNT).execute(p).await.map(|r| r.rows_affected()));
    assert!(written.is_err(), "the CHECK constraint refuses it");

    // …and so does the code, should such a word ever be read.
    let read: Result<Provider, sqlx::Error> =
        on_db!(db, p => sqlx::query_scalar("SELECT CAST('whatsapp' AS TEXT)").fetch_one(p).await);
    let err = read.unwrap_err();
    assert!(
        matches!(err, sqlx::Error::ColumnDecode { .. }),
        "a decoding error: {err:?}"
    );
    assert!(
        err.to_string().contains("unknown provider \"whatsapp\""),
        "{err}"
    );
    for (word, decoded) in [("ok", TokenStatus::Ok), ("invalid", TokenStatus::Invalid)] {
        let read: TokenStatus = on_db!(db, p => sqlx::query_scalar("SELECT CAST($1 AS TEXT)")
            .bind(word).fetch_one(p).await)
        .unwrap();
        assert_eq!(read, decoded);
    }
    let read: Result<TokenStatus, sqlx::Error> =
        on_db!(db, p => sqlx::query_scalar("SELECT CAST('expired' AS TEXT)").fetch_one(p).await);
    assert!(matches!(read, Err(sqlx::Error::ColumnDecode { .. })));

    // SQLite can be told to skip CHECK constraints (PostgreSQL cannot without
    // changing the schema): such a row is an error where it is read, and the
    // sandbox endpoint does not answer for it.
    let Db::Sqlite(pools) = db else {
        return;
    };
    {
        let mut c = pools.writer.acquire().await.unwrap();
        sqlx::query("PRAGMA ignore_check_constraints = ON")
            .execute(&mut *c)
            .await
            .unwrap();
        sqlx::query("UPDATE whatsapp_accounts SET provider = 'whatsapp' WHERE slug = $1")
            .bind(SANDBOX_ACCOUNT)
            .execute(&mut *c)
            .await
            .unwrap();
        sqlx::query("PRAGMA ignore_check_constraints = OFF")
            .execute(&mut *c)
            .await
            .unwrap();
    }
    let found = accounts::find_by_slug(db, SANDBOX_ACCOUNT).await;
    assert!(
        matches!(found, Err(sqlx::Error::ColumnDecode { .. })),
        "{found:?}"
    );
    let res = app
        .client
        .post(format!(
            "{}/sandbox/{SANDBOX_ACCOUNT}/messages",
            app.address
        ))
        .json(&serde_json::json!({ "from": "+243990000001", "text": "Bonjour" }))
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_server_error(),
        "refused, not answered as a sandbox: {}",
        res.status()
    );
    assert_eq!(app.count("messages").await, 0);
}
