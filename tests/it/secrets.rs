//! Secrets at rest (issue 13): no credential in clear in a database dump,
//! credentials stored in clear by an earlier version sealed at start, a key
//! that does not open the stored data refused at start, and a rotation
//! while another instance keeps sending.

use crate::both_backends;
use crate::fakes::meta::{FakeMeta, WebhookBuilder, signed_webhook};
use crate::helpers::*;
use crate::meta::{APP_SECRET, DISPLAY, PNID, all_sent, meta_app};
use crate::privacy_dump::dump_text;
use rstest_reuse::apply;
use std::time::{Duration, Instant};
use uic_inbox::on_db;
use uic_inbox::secrets::{Key, Sealed};
use uic_inbox::tenancy::Provider;
use uic_inbox::tenancy::store::{ChannelSettings, update_channel};

/// The Meta credentials of `meta_app`'s account (from `META_*`).
const META_TOKEN: &str = "meta-access-token-1";
const META_VERIFY: &str = "verify-token-of-the-app";

const PNID2: &str = "106540352242999";
const DISPLAY2: &str = "243810000099";
const TOKEN2: &str = "EAAG-second-account-token-7Qx";
const VERIFY2: &str = "second-verify-token-Zr81";
const APP_SECRET2: &str = "second-app-secret-Hq55";

/// A second Meta account, its credentials set by staff (`update_channel`).
async fn second_meta_account(app: &TestApp, fake: &FakeMeta, verify: &str) {
    fake.add_number(PNID2, DISPLAY2, TOKEN2);
    let tenant = uic_inbox::tenancy::store::default_tenant(&app.state.db)
        .await
        .unwrap();
    let account = app
        .account_in(tenant, "second", Provider::Meta, None, None)
        .await;
    update_channel(
        &app.state.db,
        &app.state.secrets,
        &access(tenant, uic_inbox::auth::Permission::TokensManage),
        account.id,
        Provider::Meta,
        &ChannelSettings {
            meta_phone_number_id: Some(PNID2.into()),
            meta_app_secret: Some(APP_SECRET2.into()),
            meta_verify_token: Some(verify.into()),
            meta_access_token: Some(TOKEN2.into()),
            ..ChannelSettings::default()
        },
    )
    .await
    .unwrap()
    .expect("the account is the tenant's");
}

/// Meta's verification handshake with `token`: the HTTP status.
async fn challenge(app: &TestApp, token: &str) -> u16 {
    let res = app
        .get(&format!(
            "/whatsapp/webhook?hub.mode=subscribe&hub.challenge=8675309&hub.verify_token={token}"
        ))
        .await;
    let status = res.status().as_u16();
    if status == 200 {
        assert_eq!(res.text().await.unwrap(), "8675309");
    }
    status
}

/// A signed text to `pnid`; waits (30 s at most, a safety net) until the
/// fake received a reply to `from`.
async fn meta_say_and_get_reply(
    app: &TestApp,
    fake: &FakeMeta,
    (pnid, display, secret): (&str, &str, &str),
    from: &str,
    wamid: &str,
) {
    let before = fake.sent_texts_to(from).len();
    let body = WebhookBuilder::new()
        .text(pnid, display, from, wamid, "Bonjour")
        .build();
    fake.note_inbound(&body);
    let res = signed_webhook(&app.address, secret, &body).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let start = Instant::now();
    while fake.sent_texts_to(from).len() <= before {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no reply was sent to {from}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every stored secret value (the four columns), as text.
async fn stored_secrets(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for column in [
        "meta_access_token",
        "meta_app_secret",
        "meta_verify_token",
        "twilio_auth_token",
    ] {
        let sql = format!("SELECT {column} FROM whatsapp_accounts WHERE {column} IS NOT NULL");
        let values: Vec<String> =
            on_db!(&app.state.db, p => sqlx::query_scalar(&sql).fetch_all(p).await.unwrap());
        out.extend(values);
    }
    out
}

#[apply(both_backends)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_holds_no_credential_in_clear_and_the_app_still_uses_them(#[case] backend: Backend) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    second_meta_account(&app, &fake, VERIFY2).await;

    let plain = [
        META_TOKEN,
        META_VERIFY,
        APP_SECRET,
        TWILIO_TOKEN,
        TOKEN2,
        VERIFY2,
        APP_SECRET2,
    ];
    // Every byte of the database (SQLite file and WAL, or pg_dump), and
    // every text cell read back.
    let raw = app.dump_database().await;
    let cells = dump_text(&app).await;
    for secret in plain {
        assert!(!raw.contains(secret), "{secret} is in the database dump");
        assert!(
            !cells.iter().any(|(_, row)| row.contains(secret)),
            "{secret} is in a table"
        );
    }
    let stored = stored_secrets(&app).await;
    assert_eq!(stored.len(), 7, "{stored:?}");
    for value in &stored {
        let sealed = Sealed::parse(value).expect("every stored secret is sealed");
        assert_eq!(sealed.key_id(), Ok(app.state.secrets.current_id()));
    }

    // Still used: Meta's handshake with either account's verify token, a
    // Twilio signature, replies sent through the Graph API with each token.
    assert_eq!(challenge(&app, META_VERIFY).await, 200);
    assert_eq!(challenge(&app, VERIFY2).await, 200);
    assert_eq!(challenge(&app, "not-a-verify-token").await, 403);
    let twiml = app
        .twilio_say(
            "+243990000010",
            "SM00000000000000000000000000000010",
            "Bonjour",
        )
        .await;
    assert!(!twiml_bodies(&twiml).is_empty(), "{twiml}");
    meta_say_and_get_reply(
        &app,
        &fake,
        (PNID, DISPLAY, APP_SECRET),
        "243990000011",
        "wamid.S1",
    )
    .await;
    meta_say_and_get_reply(
        &app,
        &fake,
        (PNID2, DISPLAY2, APP_SECRET2),
        "243990000012",
        "wamid.S2",
    )
    .await;
    // A body signed with the other account's secret is refused.
    let body = WebhookBuilder::new()
        .text(PNID2, DISPLAY2, "243990000013", "wamid.S3", "Bonjour")
        .build();
    let res = signed_webhook(&app.address, APP_SECRET, &body).await;
    assert_eq!(res.status(), 403);
}

#[apply(both_backends)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_stored_in_clear_by_an_earlier_version_are_sealed_at_start_and_still_work(
    #[case] backend: Backend,
) {
    let Some((app, fake)) = meta_app(backend, false).await else {
        return;
    };
    const LEGACY_NUMBER: &str = "+14155550177";
    const LEGACY_TWILIO: &str = "legacy-twilio-token-8d2f";
    const LEGACY_META: &str = "EAAG-legacy-meta-token-k3";
    const LEGACY_VERIFY: &str = "legacy-verify-token-p9";
    const LEGACY_SECRET: &str = "legacy-app-secret-w4";
    let tenant = uic_inbox::tenancy::store::default_tenant(&app.state.db)
        .await
        .unwrap();
    let twilio = app
        .account_in(
            tenant,
            "legacy-twilio",
            Provider::Twilio,
            Some(LEGACY_NUMBER),
            None,
        )
        .await;
    let meta = app
        .account_in(tenant, "legacy-meta", Provider::Meta, None, None)
        .await;
    fake.add_number(PNID2, DISPLAY2, LEGACY_META);
    // What the previous version wrote: the values themselves.
    on_db!(&app.state.db, p => {
        sqlx::query("UPDATE whatsapp_accounts SET twilio_auth_token = $2 WHERE id = $1")
            .bind(twilio.id).bind(LEGACY_TWILIO).execute(p).await.unwrap();
        sqlx::query("UPDATE whatsapp_accounts SET meta_phone_number_id = $2, meta_access_token = $3,
                meta_verify_token = $4, meta_app_secret = $5, twilio_auth_token = NULL WHERE id = $1")
            .bind(meta.id).bind(PNID2).bind(LEGACY_META).bind(LEGACY_VERIFY).bind(LEGACY_SECRET)
            .execute(p).await.unwrap();
    });

    let app = app.restart().await;

    let cells = dump_text(&app).await;
    // With SQLite, the file's bytes too: the replaced values were zeroed,
    // not left in the pages' free space or the log.
    let raw = app.dump_database().await;
    for secret in [LEGACY_TWILIO, LEGACY_META, LEGACY_VERIFY, LEGACY_SECRET] {
        assert!(
            !cells.iter().any(|(_, row)| row.contains(secret)),
            "{secret} is still in clear"
        );
        assert!(!raw.contains(secret), "{secret} is still in the dump");
    }
    for value in stored_secrets(&app).await {
        assert!(
            Sealed::parse(&value).is_ok(),
            "not sealed: a value of {} chars",
            value.len()
        );
    }

    // The sealed values still verify and send.
    assert_eq!(challenge(&app, LEGACY_VERIFY).await, 200);
    let params = twilio_params(
        "SM00000000000000000000000000000020",
        "whatsapp:+243990000020",
        &format!("whatsapp:{LEGACY_NUMBER}"),
        "Bonjour",
    );
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(app.twilio_post(&params, LEGACY_TWILIO).await.status(), 200);
    assert_eq!(app.twilio_post(&params, "wrong-token").await.status(), 403);
    meta_say_and_get_reply(
        &app,
        &fake,
        (PNID2, DISPLAY2, LEGACY_SECRET),
        "243990000021",
        "wamid.L1",
    )
    .await;

    // A credential refused by Meta is found by its fingerprint (filled in
    // when it was sealed): the account is flagged, its messages held.
    fake.fail_all(Some(crate::fakes::meta::Failure::Code(190)));
    let body = WebhookBuilder::new()
        .text(PNID2, DISPLAY2, "243990000021", "wamid.L2", "AIDE")
        .build();
    fake.note_inbound(&body);
    assert_eq!(
        signed_webhook(&app.address, LEGACY_SECRET, &body)
            .await
            .status(),
        200
    );
    let start = Instant::now();
    loop {
        let status: String = on_db!(&app.state.db, p => sqlx::query_scalar(
            "SELECT token_status FROM whatsapp_accounts WHERE id = $1").bind(meta.id)
            .fetch_one(p).await.unwrap());
        if status == "invalid" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the refused token was never flagged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn a_key_that_does_not_open_the_stored_credentials_is_refused_at_start_naming_the_key(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let sealed_under = app.state.secrets.current_id();
    let original = match backend {
        Backend::Postgres => test_secret_key(),
        Backend::Sqlite => {
            let dir = uic_inbox::db::sqlite_dir(&app.config.database_url).unwrap();
            let original = uic_inbox::secrets::keys::KeyFiles::new(dir)
                .read_or_create()
                .unwrap();
            // The key file would still open them: it is lost.
            std::fs::remove_file(dir.join(uic_inbox::secrets::keys::KEY_FILE)).unwrap();
            original
        }
    };
    let mut config = app.config.clone();
    let other = Key::generate();
    config.secret_key = Some(other.clone());
    config.secret_key_previous = vec![Key::generate()];
    let err = match uic_inbox::prepare(config.clone()).await {
        Ok(_) => panic!("a key that opens nothing stored was accepted"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains(&format!("sealed under key {sealed_under}")),
        "{err}"
    );
    assert!(err.contains(&other.id().to_string()), "{err}");
    assert!(!err.contains(&other.to_hex()), "{err}");
    // Given as a previous key, the original opens them again.
    config.secret_key_previous = vec![original];
    let state = uic_inbox::prepare(config).await.expect("starts");
    state.db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_on_postgresql_keeps_every_instance_sending_before_during_and_after() {
    let Some((app, fake)) = meta_app(Backend::Postgres, false).await else {
        return;
    };
    let k1 = test_secret_key();
    let k2 = Key::generate();
    second_meta_account(&app, &fake, VERIFY2).await;
    // (2) Every instance learns K2 as a previous key (opens with it, still
    // seals with K1).
    let mut app = app;
    app.config.secret_key_previous = vec![k2.clone()];
    let a = app.restart().await;
    // (3) Every instance seals with K2 and still opens K1.
    let b = a
        .second_instance_with(|c| {
            c.secret_key = Some(k2.clone());
            c.secret_key_previous = vec![k1.clone()];
        })
        .await;
    assert_eq!(b.state.secrets.current_id(), k2.id());

    // (4) The rotation, while the second instance receives and both send.
    let sending = async {
        for i in 0..6 {
            let from = format!("2439900001{i:02}");
            meta_say_and_get_reply(
                &b,
                &fake,
                (PNID, DISPLAY, APP_SECRET),
                &from,
                &format!("wamid.R{i}"),
            )
            .await;
            meta_say_and_get_reply(
                &a,
                &fake,
                (PNID2, DISPLAY2, APP_SECRET2),
                &from,
                &format!("wamid.Q{i}"),
            )
            .await;
        }
    };
    let rotating = uic_inbox::secrets::store::rotate(&b.config, &b.state.db);
    let ((), rotated) = tokio::join!(sending, rotating);
    let rotated = rotated.expect("everything opens");
    assert!(rotated.unopenable.is_empty());
    assert_eq!(rotated.current, k2.id());
    all_sent(&a).await;
    let failed = a.count("outbox WHERE status = 'failed'").await;
    assert_eq!(failed, 0);

    // Everything is under K2 now.
    for value in stored_secrets(&a).await {
        assert_eq!(Sealed::parse(&value).unwrap().key_id(), Ok(k2.id()));
    }
    // (5) K1 dropped: an instance with K2 alone starts, verifies and sends.
    let c = b
        .second_instance_with(|c| {
            c.secret_key_previous = Vec::new();
            c.meta = None;
        })
        .await;
    assert_eq!(challenge(&c, VERIFY2).await, 200);
    assert_eq!(challenge(&c, META_VERIFY).await, 200);
    meta_say_and_get_reply(
        &c,
        &fake,
        (PNID2, DISPLAY2, APP_SECRET2),
        "243990000199",
        "wamid.C1",
    )
    .await;
    // K1 alone no longer opens them: refused at start.
    let mut old_only = a.config.clone();
    old_only.secret_key_previous = Vec::new();
    assert!(uic_inbox::prepare(old_only).await.is_err());
}

#[apply(both_backends)]
#[tokio::test]
async fn a_damaged_credential_is_treated_as_missing_not_as_a_server_error(
    #[case] backend: Backend,
) {
    let Some((app, _fake)) = meta_app(backend, false).await else {
        return;
    };
    // A bit flipped in the stored app secret and verify token.
    let damage = |v: &str| {
        let (head, body) = v.rsplit_once('.').unwrap();
        let c = if body.starts_with('A') { 'B' } else { 'A' };
        format!("{head}.{c}{}", &body[1..])
    };
    let (secret, verify): (String, String) = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT meta_app_secret, meta_verify_token FROM whatsapp_accounts WHERE slug = 'meta'")
        .fetch_one(p).await.unwrap());
    on_db!(&app.state.db, p => sqlx::query(
        "UPDATE whatsapp_accounts SET meta_app_secret = $1, meta_verify_token = $2 WHERE slug = 'meta'")
        .bind(damage(&secret)).bind(damage(&verify)).execute(p).await.unwrap().rows_affected());
    app.state.accounts.clear();
    assert_eq!(challenge(&app, META_VERIFY).await, 403);
    let body = WebhookBuilder::new()
        .text(PNID, DISPLAY, "243990000030", "wamid.D1", "Bonjour")
        .build();
    let res = signed_webhook(&app.address, APP_SECRET, &body).await;
    assert_eq!(res.status(), 403);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains(APP_SECRET) && !text.contains(&secret),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_of_the_sqlite_key_file_survives_a_crash_before_its_renames() {
    use uic_inbox::secrets::keys::{KEY_FILE, KeyFiles, NEXT_FILE, PREVIOUS_FILE};
    use uic_inbox::secrets::{Keyring, store};
    let Some((app, fake)) = meta_app(Backend::Sqlite, false).await else {
        return;
    };
    let dir = uic_inbox::db::sqlite_dir(&app.config.database_url)
        .unwrap()
        .to_path_buf();
    let files = KeyFiles::new(&dir);
    let k1 = files.read_or_create().unwrap();

    // A crash after everything was re-sealed under `.next`, before the
    // renames: the next start opens everything.
    let k2 = files.prepare_next().unwrap();
    let ring = Keyring::new(k2.clone(), vec![k1.clone()]);
    let resealed = store::reseal_all(&app.state.db, &ring).await.unwrap();
    assert!(resealed.resealed >= 4, "{resealed:?}");
    let app = app.restart().await;
    assert_eq!(challenge(&app, META_VERIFY).await, 200);
    app.twilio_say(
        "+243990000040",
        "SM00000000000000000000000000000040",
        "Bonjour",
    )
    .await;

    // The rotation run again finishes with the same new key.
    let rotated = store::rotate(&app.config, &app.state.db).await.unwrap();
    assert_eq!(rotated.current, k2.id());
    assert_eq!(files.read_or_create().unwrap(), k2);
    assert_eq!(files.read_optional(PREVIOUS_FILE).unwrap(), Some(k1));
    assert!(!dir.join(NEXT_FILE).exists());
    for value in stored_secrets(&app).await {
        assert_eq!(Sealed::parse(&value).unwrap().key_id(), Ok(k2.id()));
    }

    // Without the previous key file, everything still opens.
    std::fs::remove_file(dir.join(PREVIOUS_FILE)).unwrap();
    let app = app.restart().await;
    assert_eq!(challenge(&app, META_VERIFY).await, 200);
    meta_say_and_get_reply(
        &app,
        &fake,
        (PNID, DISPLAY, APP_SECRET),
        "243990000041",
        "wamid.K1",
    )
    .await;
    assert!(dir.join(KEY_FILE).exists());
}
