//! Credential checks against the fakes of Meta's Graph API and Twilio: what
//! the "Test" and "Rotate" buttons will say. No storage is involved, so no
//! backend parameter.

use std::time::Duration;

use time::OffsetDateTime;
use uic_inbox::auth::Lang;
use uic_inbox::channel::meta::GraphClient;
use uic_inbox::channel::meta::check::{
    self, AppCredentials, Field, MessagingLimit, Problem, QualityRating, TokenKind,
};
use uic_inbox::channel::twilio::TwilioClient;
use uic_inbox::channel::twilio::check::{self as twilio_check, AccountKind, AccountStatus};

use crate::fakes::meta::FakeMeta;
use crate::fakes::twilio::{DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio};

const PNID: &str = "106540352242922";
const OTHER_PNID: &str = "200000000000002";
const WABA: &str = "102290129340398";
const TOKEN: &str = "EAAGsystemusertoken0123456789";
const OTHER_TOKEN: &str = "EAAGothernumbertoken0123456789";
const APP_ID: &str = "123456789012345";
const APP_SECRET: &str = "test_app_secret";

const APP: AppCredentials<'static> = AppCredentials {
    app_id: APP_ID,
    app_secret: APP_SECRET,
};

async fn meta() -> (FakeMeta, GraphClient) {
    let f = FakeMeta::start().await;
    f.add_number(PNID, "243810000000", TOKEN);
    let client = GraphClient::new(&f.base_url(), "v21.0", Duration::from_secs(5));
    (f, client)
}

async fn validate(client: &GraphClient, token: &str) -> check::Validation {
    check::validate(
        client,
        &APP,
        PNID,
        Some(WABA),
        token,
        OffsetDateTime::now_utc(),
    )
    .await
}

/// Asserts that no text shows a secret or the query that carries them.
fn assert_no_secret(shown: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!shown.contains(s), "{s:?} in {shown}");
    }
    for part in [
        "input_token",
        "access_token=",
        "client_secret",
        "fb_exchange_token",
    ] {
        assert!(!shown.contains(part), "{part:?} in {shown}");
    }
}

#[tokio::test]
async fn a_system_user_token_passes_with_the_number_health() {
    let (_f, client) = meta().await;
    let v = validate(&client, TOKEN).await;
    assert!(v.is_ok(), "{:?}", v.problems);
    let token = v.token.unwrap();
    assert_eq!(token.kind, Some(TokenKind::NeverExpires));
    assert_eq!(token.expires_at, None);
    assert_eq!(token.type_name.as_deref(), Some("SYSTEM_USER"));
    assert!(token.can_message);
    assert_eq!(token.app_id.as_deref(), Some(APP_ID));
    let number = v.number.unwrap();
    assert_eq!(number.quality_rating, QualityRating::Green);
    assert_eq!(number.messaging_limit, Some(MessagingLimit::People(2000)));
    assert_eq!(
        number.display_phone_number.as_deref(),
        Some("+243 81 000 0000")
    );
    assert_eq!(number.verified_name.as_deref(), Some("ONG Sante"));
}

#[tokio::test]
async fn the_quality_rating_is_read_and_an_unknown_limit_field_is_asked_again_without_it() {
    let (f, client) = meta().await;
    f.set_quality_rating(PNID, "RED");
    f.set_messaging_limit(PNID, None);
    let number = check::check_number(&client, PNID, TOKEN).await.unwrap();
    assert_eq!(number.quality_rating, QualityRating::Red);
    assert_eq!(number.messaging_limit, None);
    let asked: Vec<String> = f
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(PNID))
        .map(|r| r.query.clone())
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked[0].contains("whatsapp_business_manager_messaging_limit"));
    assert!(!asked[1].contains("whatsapp_business_manager_messaging_limit"));
}

#[tokio::test]
async fn an_expired_token_is_reported_expired_with_its_date() {
    let (f, client) = meta().await;
    let expired = OffsetDateTime::now_utc().unix_timestamp() - 3600;
    f.set_token_expiry(TOKEN, expired);
    let v = validate(&client, TOKEN).await;
    assert_eq!(
        v.problems,
        vec![Problem::Expired {
            at: OffsetDateTime::from_unix_timestamp(expired).unwrap()
        }]
    );
    assert!(v.problems[0].text(Lang::Fr).contains("a expiré le"));
}

#[tokio::test]
async fn a_revoked_token_is_invalid_with_meta_s_reason() {
    let (f, client) = meta().await;
    f.revoke_token(TOKEN);
    let v = validate(&client, TOKEN).await;
    assert!(
        matches!(&v.problems[..], [Problem::Invalid { code: 190, message }] if message.contains("invalidated")),
        "{:?}",
        v.problems
    );
    // A token Meta never issued.
    let v = validate(&client, "EAAGneverissued0123456789").await;
    assert!(
        matches!(&v.problems[..], [Problem::Invalid { code: 190, .. }]),
        "{:?}",
        v.problems
    );
}

#[tokio::test]
async fn a_token_without_the_messaging_scope_is_missing_scope() {
    let (f, client) = meta().await;
    f.set_token_scopes(TOKEN, &["whatsapp_business_management"]);
    let v = validate(&client, TOKEN).await;
    assert_eq!(
        v.problems,
        vec![Problem::MissingScope("whatsapp_business_messaging".into())]
    );
}

#[tokio::test]
async fn a_token_of_another_app_is_other_app() {
    let (f, client) = meta().await;
    f.set_token_app(TOKEN, "999888777666555");
    let v = validate(&client, TOKEN).await;
    assert_eq!(
        v.problems,
        vec![Problem::OtherApp {
            app_id: Some("999888777666555".into())
        }]
    );
}

#[tokio::test]
async fn a_valid_token_that_cannot_use_the_number_is_number_not_reachable() {
    let (f, client) = meta().await;
    f.add_number(OTHER_PNID, "14155238886", OTHER_TOKEN);
    let v = validate(&client, OTHER_TOKEN).await;
    assert_eq!(v.problems, vec![Problem::NumberNotReachable { code: 100 }]);
    assert!(v.token.is_some() && v.number.is_none());
}

#[tokio::test]
async fn granular_target_ids_must_include_the_account_waba_and_absent_ones_never_reject() {
    let (f, client) = meta().await;
    f.set_token_targets(TOKEN, Some(&["555000000000001"]));
    let v = validate(&client, TOKEN).await;
    assert_eq!(
        v.problems,
        vec![Problem::NotInBusinessAccount {
            waba_id: WABA.into()
        }]
    );
    f.set_token_targets(TOKEN, Some(&["555000000000001", WABA]));
    assert!(validate(&client, TOKEN).await.is_ok());
    f.set_token_targets(TOKEN, None);
    assert!(validate(&client, TOKEN).await.is_ok());
}

#[tokio::test]
async fn a_wrong_app_secret_is_blamed_on_the_app_not_the_token() {
    let (_f, client) = meta().await;
    let app = AppCredentials {
        app_id: APP_ID,
        app_secret: "wrong_app_secret_value",
    };
    let v = check::validate(&client, &app, PNID, None, TOKEN, OffsetDateTime::now_utc()).await;
    assert!(
        matches!(&v.problems[..], [Problem::AppRejected { code: 190, .. }]),
        "{:?}",
        v.problems
    );
    for p in &v.problems {
        assert_no_secret(
            &format!("{} {p:?}", p.text(Lang::En)),
            &[TOKEN, "wrong_app_secret_value"],
        );
    }
}

#[tokio::test]
async fn a_short_lived_token_is_exchanged_for_a_sixty_day_one() {
    let (f, client) = meta().await;
    let now = OffsetDateTime::now_utc();
    let short = "EAAGdashboardtoken0123456789";
    f.add_number(OTHER_PNID, "14155238886", short);
    f.set_token_kind(short, "USER");
    f.set_token_expiry(short, now.unix_timestamp() + 23 * 3600);
    let before = check::inspect_token(&client, &APP, short, now)
        .await
        .unwrap();
    assert_eq!(before.kind, Some(TokenKind::Temporary));

    let exchanged = check::exchange(&client, &APP, short, now).await.unwrap();
    let long = exchanged.token.expose_secret().to_string();
    assert_ne!(long, short);
    assert!(!format!("{exchanged:?}").contains(&long));
    let days = (exchanged.expires_at.unwrap() - now).whole_days();
    assert!((59..=60).contains(&days), "{days}");

    let after = check::inspect_token(&client, &APP, &long, now)
        .await
        .unwrap();
    assert_eq!(after.kind, Some(TokenKind::LongLived));
    let days = (after.expires_at.unwrap() - now).whole_days();
    assert!((59..=60).contains(&days), "{days}");
    // It reaches the same number as the token it replaces.
    let number = check::check_number(&client, OTHER_PNID, &long)
        .await
        .unwrap();
    assert_eq!(number.id, OTHER_PNID);
}

#[tokio::test]
async fn an_expired_token_or_a_wrong_secret_cannot_be_exchanged_and_errors_hide_them() {
    let (f, client) = meta().await;
    let now = OffsetDateTime::now_utc();
    f.set_token_expiry(TOKEN, now.unix_timestamp() - 60);
    let err = check::exchange(&client, &APP, TOKEN, now)
        .await
        .unwrap_err();
    assert_eq!(err.error.code(), Some(190), "{err}");
    assert!(
        err.to_string().starts_with("GET /oauth/access_token: "),
        "{err}"
    );
    assert_no_secret(&format!("{err} {err:?}"), &[TOKEN, APP_SECRET]);

    f.set_token_expiry(TOKEN, 0);
    let wrong = AppCredentials {
        app_id: APP_ID,
        app_secret: "wrong_app_secret_value",
    };
    let err = check::exchange(&client, &wrong, TOKEN, now)
        .await
        .unwrap_err();
    assert!(err.error.code().is_some(), "{err}");
    assert_no_secret(
        &format!("{err} {err:?}"),
        &[TOKEN, "wrong_app_secret_value"],
    );
}

#[tokio::test]
async fn meta_down_is_provider_down_and_no_error_shows_a_secret() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = GraphClient::new(&format!("http://{addr}"), "v21.0", Duration::from_secs(5));
    let now = OffsetDateTime::now_utc();
    let v = check::validate(&client, &APP, PNID, Some(WABA), TOKEN, now).await;
    assert_eq!(v.problems, vec![Problem::ProviderDown]);

    let secrets = [TOKEN, APP_SECRET];
    let e = check::inspect_token(&client, &APP, TOKEN, now)
        .await
        .unwrap_err();
    assert!(e.provider_down());
    assert!(
        e.to_string()
            .starts_with("GET /debug_token: could not reach"),
        "{e}"
    );
    assert!(e.to_string().to_lowercase().contains("refused"), "{e}");
    assert_no_secret(&format!("{e} {e:?}"), &secrets);
    let e = check::check_number(&client, PNID, TOKEN).await.unwrap_err();
    assert!(e.provider_down());
    assert_no_secret(&format!("{e} {e:?}"), &secrets);
    let e = check::exchange(&client, &APP, TOKEN, now)
        .await
        .unwrap_err();
    assert!(e.provider_down());
    assert_no_secret(&format!("{e} {e:?}"), &secrets);
    assert_no_secret(&format!("{APP:?} {client:?}"), &secrets);
}

#[tokio::test]
async fn meta_answering_5xx_or_dropping_the_connection_is_provider_down() {
    use crate::fakes::meta::Failure;
    let (f, client) = meta().await;
    for failure in [Failure::Status(503), Failure::Reset, Failure::Code(130429)] {
        f.fail_all(Some(failure.clone()));
        let v = validate(&client, TOKEN).await;
        assert_eq!(v.problems, vec![Problem::ProviderDown], "{failure:?}");
    }
}

#[tokio::test]
async fn hostile_inputs_are_refused_before_anything_is_sent() {
    let (f, client) = meta().await;
    let huge = format!("EAAG{}", "A".repeat(100_000));
    for token in [
        "",
        "EAAG\0abc",
        "EAAG abc",
        "EAAG\r\nX-Injected: 1",
        huge.as_str(),
    ] {
        let v = validate(&client, token).await;
        assert_eq!(
            v.problems,
            vec![Problem::Malformed(Field::Token)],
            "{token:?}"
        );
    }
    for id in ["", "../debug_token", "1?fields=x", "١٢٣"] {
        let v = check::validate(&client, &APP, id, None, TOKEN, OffsetDateTime::now_utc()).await;
        assert_eq!(
            v.problems,
            vec![Problem::Malformed(Field::PhoneNumberId)],
            "{id:?}"
        );
    }
    let bad_app = AppCredentials {
        app_id: "12|34",
        app_secret: "se cret",
    };
    let v = check::validate(
        &client,
        &bad_app,
        PNID,
        None,
        TOKEN,
        OffsetDateTime::now_utc(),
    )
    .await;
    assert_eq!(
        v.problems,
        vec![
            Problem::Malformed(Field::AppId),
            Problem::Malformed(Field::AppSecret)
        ]
    );
    assert!(f.requests().is_empty(), "{:?}", f.requests());
}

// ----- Twilio -----

async fn twilio() -> (FakeTwilio, TwilioClient) {
    let f = FakeTwilio::start().await;
    let client = TwilioClient::new(&f.base_url(), Duration::from_secs(5));
    (f, client)
}

#[tokio::test]
async fn twilio_good_credentials_give_the_active_account() {
    let (f, client) = twilio().await;
    f.set_friendly_name(DEFAULT_ACCOUNT_SID, "ONG Kivu");
    f.set_account_type(DEFAULT_ACCOUNT_SID, "Trial");
    let account = twilio_check::check_account(&client, DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
        .await
        .unwrap();
    assert_eq!(account.sid, DEFAULT_ACCOUNT_SID);
    assert_eq!(account.friendly_name, "ONG Kivu");
    assert_eq!(account.status, AccountStatus::Active);
    assert_eq!(account.kind, Some(AccountKind::Trial));
}

#[tokio::test]
async fn twilio_wrong_token_unknown_account_or_suspension_each_say_so() {
    let (f, client) = twilio().await;
    let check = |sid: &'static str, token: &'static str| {
        let client = client.clone();
        async move { twilio_check::check_account(&client, sid, token).await }
    };
    assert_eq!(
        check(DEFAULT_ACCOUNT_SID, "0123456789abcdef0123456789abcdef").await,
        Err(twilio_check::Problem::WrongCredentials)
    );
    // A well-formed SID nobody has: Twilio cannot authenticate it either.
    assert_eq!(
        check("ACffffffffffffffffffffffffffffffff", DEFAULT_AUTH_TOKEN).await,
        Err(twilio_check::Problem::WrongCredentials)
    );
    f.set_account_status(DEFAULT_ACCOUNT_SID, "suspended");
    let suspended = check(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN).await;
    assert_eq!(
        suspended,
        Err(twilio_check::Problem::NotActive(AccountStatus::Suspended))
    );
    assert!(suspended.unwrap_err().text(Lang::Fr).contains("suspendu"));
    f.set_account_status(DEFAULT_ACCOUNT_SID, "closed");
    assert_eq!(
        check(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN).await,
        Err(twilio_check::Problem::NotActive(AccountStatus::Closed))
    );
    assert_eq!(
        check("AC0123", DEFAULT_AUTH_TOKEN).await,
        Err(twilio_check::Problem::MalformedSid)
    );
    assert_eq!(
        check(DEFAULT_ACCOUNT_SID, "tok\0en").await,
        Err(twilio_check::Problem::MalformedAuthToken)
    );
}

#[tokio::test]
async fn twilio_down_is_provider_down() {
    use crate::fakes::twilio::Failure;
    let (f, client) = twilio().await;
    f.fail_all(Some(Failure::server_error()));
    assert_eq!(
        twilio_check::check_account(&client, DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN).await,
        Err(twilio_check::Problem::ProviderDown)
    );
    let refused = TwilioClient::new("http://127.0.0.1:1", Duration::from_secs(2));
    assert_eq!(
        twilio_check::check_account(&refused, DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN).await,
        Err(twilio_check::Problem::ProviderDown)
    );
}
