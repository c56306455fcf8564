//! A number's connection set on its page: created in the UI as Twilio and
//! talked to through signed webhooks, then moved to Meta with the
//! conversation going on; secrets shown only by their last characters,
//! bad input refused with the field named and nothing changed.

use crate::both_backends;
use crate::fakes::meta::{FakeMeta, WebhookBuilder, signed_webhook};
use crate::helpers::*;
use reqwest::StatusCode;
use rstest_reuse::apply;
use std::time::{Duration, Instant};
use uic_inbox::auth::{BuiltinRole, Permission};
use uic_inbox::on_db;
use uic_inbox::tenancy::Provider;
use uic_inbox::tenancy::channel_input::{ChannelChange, NewSecret};
use uic_inbox::tenancy::store::{self as accounts, ChannelAccess, ChannelRefused};

const SID: &str = "AC00112233445566778899aabbccddeeff";
const TWILIO_SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const NUMBER: &str = "+243815550000";
const PNID: &str = "109876543210987";
const DISPLAY: &str = "243815550000";
const APP_SECRET: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const ACCESS_TOKEN: &str = "EAAGtestTokenOfTheNumber0123456789wxyz";
const VERIFY: &str = "verify-of-the-kinshasa-number";
const PERSON: &str = "243990005555";

/// Waits (30 s at most: a safety net) until the fake sent `person` a text
/// holding `needle`.
async fn sent_to(fake: &FakeMeta, person: &str, needle: &str) {
    let start = Instant::now();
    loop {
        let texts: Vec<String> = fake
            .sent()
            .iter()
            .filter(|s| s.to == person)
            .map(|s| s.body.to_string())
            .collect();
        if texts.iter().any(|t| t.contains(needle)) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no {needle:?} sent to {person}: {texts:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An administrator, logged in, who created the sandbox number `slug`;
/// the number's page.
async fn new_number(app: &TestApp, slug: &str) -> (crate::staff::Browser, String) {
    let mut admin = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    let page = admin
        .post("/accounts", &[("slug", slug), ("name", slug)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    (admin, page.location.unwrap())
}

async fn twilio_say(app: &TestApp, sid: &str, text: &str) -> String {
    let params = twilio_params(
        sid,
        &format!("whatsapp:+{PERSON}"),
        &format!("whatsapp:{NUMBER}"),
        text,
    );
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = app.twilio_post(&params, TWILIO_SECRET).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

#[apply(both_backends)]
#[tokio::test]
async fn a_number_set_up_in_the_page_talks_through_twilio_then_meta(#[case] backend: Backend) {
    let fake = FakeMeta::start().await;
    fake.add_number(PNID, DISPLAY, ACCESS_TOKEN);
    let base = fake.base_url();
    let Some(app) = spawn_app_with(backend, |c| c.meta_graph_url = base).await else {
        return;
    };
    let (mut admin, path) = new_number(&app, "kinshasa").await;
    let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();

    // Twilio, as the administrator types it (spaces and prefix forgiven).
    let page = admin
        .post(
            &format!("/accounts/{id}/channel"),
            &[
                ("provider", "twilio"),
                ("phone_number", "whatsapp:+243 81 555 0000"),
                ("twilio_account_sid", SID),
                ("twilio_auth_token", &format!(" {TWILIO_SECRET}\n")),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let twiml = twilio_say(&app, "SM0000000000000000000000000000aa01", "Bonjour").await;
    assert!(twiml.contains("Question 1 sur 5"), "{twiml}");
    let twiml = twilio_say(&app, "SM0000000000000000000000000000aa02", "Mbengue").await;
    assert!(twiml.contains("Question 2 sur 5"), "{twiml}");

    // The page shows the secret's end only.
    let page = admin.get(&path).await;
    assert!(
        page.body.contains("…9f0") || page.body.contains("…e1f0"),
        "last characters shown"
    );
    assert!(!page.body.contains(TWILIO_SECRET));
    assert!(page.body.contains("/whatsapp/webhook"));

    // Moved to Meta: the same conversation goes on at question 3.
    let page = admin
        .post(
            &format!("/accounts/{id}/channel"),
            &[
                ("provider", "meta"),
                ("phone_number", NUMBER),
                ("meta_phone_number_id", PNID),
                ("meta_app_secret", APP_SECRET),
                ("meta_access_token", ACCESS_TOKEN),
                ("meta_verify_token", VERIFY),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let body = WebhookBuilder::new()
        .text(PNID, DISPLAY, PERSON, "wamid.kin1", "Ibrahim")
        .build();
    let res = signed_webhook(&app.address, APP_SECRET, &body).await;
    assert_eq!(res.status(), StatusCode::OK);
    sent_to(&fake, PERSON, "Question 3 sur 5").await;
    let conversations = app
        .count(&format!("conversations WHERE account_id = {id}"))
        .await;
    assert_eq!(conversations, 1, "one conversation, carried over");
    // Meta's handshake with the verify token typed in the page.
    let res = app
        .get(&format!(
            "/whatsapp/webhook?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=4242"
        ))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Every secret typed in the page is stored sealed: none is in a dump.
    let dump = app.dump_database().await;
    for secret in [TWILIO_SECRET, APP_SECRET, ACCESS_TOKEN, VERIFY] {
        assert!(!dump.contains(secret), "{secret} is in the database dump");
    }
    assert_eq!(res.text().await.unwrap(), "4242");

    // The audit names what changed, never a value.
    let audit: Vec<String> = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = 'account.channel_update' ORDER BY id")
        .fetch_all(p).await.unwrap());
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(audit[1].contains("meta access token"), "{audit:?}");
    for secret in [TWILIO_SECRET, APP_SECRET, ACCESS_TOKEN, VERIFY] {
        assert!(audit.iter().all(|d| !d.contains(secret)));
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn bad_input_is_refused_with_the_field_named_and_nothing_changes(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (mut admin, path) = new_number(&app, "goma").await;
    let action = format!("{path}/channel");
    let spaced = format!("{ACCESS_TOKEN} and more");
    let huge = "E".repeat(10_000);
    let poisoned = format!("{ACCESS_TOKEN}\u{0}");
    for (form, expect) in [
        (
            vec![("provider", "meta"), ("meta_phone_number_id", PNID)],
            "Champ requis",
        ),
        (
            vec![
                ("provider", "meta"),
                ("meta_phone_number_id", PNID),
                ("meta_app_secret", APP_SECRET),
                ("meta_access_token", spaced.as_str()),
                ("meta_verify_token", VERIFY),
            ],
            "Valeur non valide : « Jeton d&#39;accès (access token) »",
        ),
        // A NUL is refused before the form is read (every request's check).
        (
            vec![
                ("provider", "meta"),
                ("meta_phone_number_id", PNID),
                ("meta_app_secret", APP_SECRET),
                ("meta_access_token", poisoned.as_str()),
                ("meta_verify_token", VERIFY),
            ],
            "400",
        ),
        (
            vec![
                ("provider", "twilio"),
                ("phone_number", "0815550000"),
                ("twilio_account_sid", "AC123"),
                ("twilio_auth_token", TWILIO_SECRET),
            ],
            "Account SID",
        ),
        (vec![("provider", "telegram")], "Fournisseur"),
        // 10,000 characters in a token field.
        (
            vec![
                ("provider", "meta"),
                ("meta_phone_number_id", PNID),
                ("meta_app_secret", APP_SECRET),
                ("meta_access_token", huge.as_str()),
                ("meta_verify_token", VERIFY),
            ],
            "Valeur non valide",
        ),
    ] {
        let page = admin.post(&action, &form).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{form:?}");
        assert!(page.body.contains(expect), "{expect}: {}", page.body);
        // What was typed is not echoed back (it may be a secret).
        assert!(!page.body.contains(ACCESS_TOKEN));
        assert!(!page.body.contains(TWILIO_SECRET));
    }
    let provider: String = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT provider FROM whatsapp_accounts WHERE slug = 'goma'").fetch_one(p).await.unwrap());
    assert_eq!(provider, "sandbox");
}

#[apply(both_backends)]
#[tokio::test]
async fn secrets_need_tokens_manage_and_the_account_s_tenant(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let account = app
        .account_in(tenant, "lubumbashi", Provider::Sandbox, None, None)
        .await;
    let change = |token: NewSecret| ChannelChange {
        provider: Provider::Meta,
        phone_number: None,
        twilio_account_sid: None,
        meta_phone_number_id: Some(PNID.into()),
        meta_waba_id: None,
        meta_app_id: None,
        twilio_auth_token: NewSecret::Keep,
        meta_app_secret: NewSecret::Keep,
        meta_access_token: token,
        meta_verify_token: NewSecret::Keep,
    };
    let settings = access(tenant, Permission::AccountsManage);
    let tokens = access(tenant, Permission::TokensManage);
    let without = ChannelAccess {
        settings: &settings,
        secrets: None,
    };
    let refused = accounts::set_channel(
        &app.state.db,
        &app.state.secrets,
        &without,
        account.id,
        &change(NewSecret::Set(ACCESS_TOKEN.into())),
    )
    .await
    .unwrap();
    assert_eq!(refused.err(), Some(ChannelRefused::SecretsNotAllowed));
    // Settings alone are theirs to change.
    let done = accounts::set_channel(
        &app.state.db,
        &app.state.secrets,
        &without,
        account.id,
        &change(NewSecret::Keep),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(done.provider(), Provider::Meta);
    // An access checked for another permission is refused, not trusted.
    let wrong = ChannelAccess {
        settings: &tokens,
        secrets: None,
    };
    assert!(
        accounts::set_channel(
            &app.state.db,
            &app.state.secrets,
            &wrong,
            account.id,
            &change(NewSecret::Keep)
        )
        .await
        .is_err()
    );
    // Another tenant's administrator: not found, nothing written.
    let other = uic_inbox::tenancy::store::ensure_tenant(&app.state.db, "other", "Other")
        .await
        .unwrap();
    let (s2, t2) = (
        access(other, Permission::AccountsManage),
        access(other, Permission::TokensManage),
    );
    let stranger = ChannelAccess {
        settings: &s2,
        secrets: Some(&t2),
    };
    let res = accounts::set_channel(
        &app.state.db,
        &app.state.secrets,
        &stranger,
        account.id,
        &change(NewSecret::Set(ACCESS_TOKEN.into())),
    )
    .await
    .unwrap();
    assert_eq!(res.err(), Some(ChannelRefused::NotFound));
    let token: Option<String> = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT meta_access_token FROM whatsapp_accounts WHERE id = $1")
        .bind(account.id).fetch_one(p).await.unwrap());
    assert_eq!(token, None);
}

#[apply(both_backends)]
#[tokio::test]
async fn the_test_button_says_what_is_wrong_and_saves_nothing(#[case] backend: Backend) {
    let fake = FakeMeta::start().await;
    let app_id = "123456789012345";
    fake.set_app(app_id, APP_SECRET);
    fake.add_number(PNID, DISPLAY, ACCESS_TOKEN);
    let base = fake.base_url();
    let Some(app) = spawn_app_with(backend, |c| c.meta_graph_url = base).await else {
        return;
    };
    let (mut admin, path) = new_number(&app, "bukavu").await;
    let form = |token: &'static str| {
        vec![
            ("provider", "meta"),
            ("meta_phone_number_id", PNID),
            ("meta_app_id", app_id),
            ("meta_app_secret", APP_SECRET),
            ("meta_access_token", token),
        ]
    };
    let answer = admin
        .post(&format!("{path}/channel/test"), &form(ACCESS_TOKEN))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("Tout est bon"), "{}", answer.body);
    assert!(
        answer.body.contains("n&#39;expire jamais") || answer.body.contains("n'expire jamais"),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("ONG Sante"),
        "the number's verified name"
    );
    assert!(!answer.body.contains(ACCESS_TOKEN) && !answer.body.contains(APP_SECRET));

    // Expired an hour ago: said so, with nothing saved.
    let hour_ago = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
    fake.set_token_expiry(ACCESS_TOKEN, hour_ago);
    let answer = admin
        .post(&format!("{path}/channel/test"), &form(ACCESS_TOKEN))
        .await;
    assert!(answer.body.contains("À corriger"), "{}", answer.body);
    assert!(answer.body.contains("a expiré le"), "{}", answer.body);
    // A token the fake does not know at all.
    let answer = admin
        .post(
            &format!("{path}/channel/test"),
            &form("EAAGunknownTokenUnknownToken0000000000"),
        )
        .await;
    assert!(answer.body.contains("À corriger"), "{}", answer.body);
    let provider: String = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT provider FROM whatsapp_accounts WHERE slug = 'bukavu'").fetch_one(p).await.unwrap());
    assert_eq!(provider, "sandbox", "testing saves nothing");
    // The sandbox has nothing to check.
    let answer = admin
        .post(&format!("{path}/channel/test"), &[("provider", "sandbox")])
        .await;
    assert!(answer.body.contains("Tout est bon"));
}

#[apply(both_backends)]
#[tokio::test]
async fn the_test_button_asks_twilio_for_the_account(#[case] backend: Backend) {
    use crate::fakes::twilio::FakeTwilio;
    let twilio = FakeTwilio::start().await;
    twilio.add_account(SID, TWILIO_SECRET);
    twilio.set_friendly_name(SID, "ONG Kinshasa");
    let base = twilio.base_url();
    let Some(app) = spawn_app_with(backend, |c| c.twilio_api_url = base).await else {
        return;
    };
    let (mut admin, path) = new_number(&app, "kikwit").await;
    let form = |token: &'static str| {
        vec![
            ("provider", "twilio"),
            ("phone_number", NUMBER),
            ("twilio_account_sid", SID),
            ("twilio_auth_token", token),
        ]
    };
    let answer = admin
        .post(&format!("{path}/channel/test"), &form(TWILIO_SECRET))
        .await;
    assert!(answer.body.contains("Tout est bon"), "{}", answer.body);
    assert!(answer.body.contains("ONG Kinshasa"));
    // Saved, then tested with the stored token (the field left empty).
    let page = admin
        .post(&format!("{path}/channel"), &form(TWILIO_SECRET))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let answer = admin.post(&format!("{path}/channel/test"), &form("")).await;
    assert!(answer.body.contains("Tout est bon"), "{}", answer.body);
    // A wrong token, then a suspended account.
    let answer = admin
        .post(
            &format!("{path}/channel/test"),
            &form("ffffffffffffffffffffffffffffffff"),
        )
        .await;
    assert!(answer.body.contains("À corriger"), "{}", answer.body);
    twilio.set_account_status(SID, "suspended");
    let answer = admin.post(&format!("{path}/channel/test"), &form("")).await;
    assert!(answer.body.contains("À corriger"), "{}", answer.body);
    assert!(!answer.body.contains(TWILIO_SECRET));
}
