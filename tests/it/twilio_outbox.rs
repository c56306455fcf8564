//! Staff write to Twilio contacts: the outbox sends through Twilio's REST
//! Messages API (the Twilio fake), with a status callback URL; the signed
//! callbacks move the message forward, a failure keeps Twilio's code, and
//! refused credentials hold the account's queue.

use crate::both_backends;
use crate::fakes::twilio::{self, DEFAULT_ACCOUNT_SID, FakeTwilio, Inbound};
use crate::helpers::*;
use rstest_reuse::apply;
use std::time::Duration;
use time::OffsetDateTime;
use uic_inbox::auth::{Actor, Permission, Scope};
use uic_inbox::inbox::staff::{self, Acted};
use uic_inbox::on_db;
use uic_inbox::tenancy::{Account, store as accounts};

pub(crate) const PHONE: &str = "+243990000001";
pub(crate) const PUBLIC: &str = "https://bot.example.org";

/// The app, its Twilio number on the fake, and callbacks routed to it.
pub(crate) async fn twilio_app(backend: Backend) -> Option<(TestApp, FakeTwilio)> {
    let fake = FakeTwilio::start().await;
    let base = fake.base_url();
    let app = spawn_app_with(backend, |c| {
        c.twilio_api_url = base;
        c.public_url = Some(PUBLIC.to_string());
        if let Some(t) = c.twilio.as_mut() {
            t.account_sid = DEFAULT_ACCOUNT_SID.into();
        }
    })
    .await?;
    fake.route_public_url(PUBLIC, &app.address);
    Some((app, fake))
}

async fn account(app: &TestApp) -> Account {
    accounts::find_by_slug(&app.state.db, "twilio")
        .await
        .unwrap()
        .unwrap()
}

/// The person writes through Twilio; the TwiML answer's texts.
pub(crate) async fn person_says(fake: &FakeTwilio, text: &str) -> Vec<String> {
    let answer = fake
        .post_inbound(
            &Inbound::text(PHONE, TWILIO_NUMBER, text),
            &format!("{PUBLIC}/whatsapp/webhook"),
        )
        .await;
    assert_eq!(answer.http_status, Some(200), "{}", answer.answer);
    answer.texts()
}

/// The person asks for staff, and a staff member writes `text`: the
/// conversation's id.
async fn staff_reply(app: &TestApp, fake: &FakeTwilio, text: &str) -> i64 {
    escalate(fake).await;
    reply(app, text).await
}

pub(crate) async fn escalate(fake: &FakeTwilio) {
    person_says(fake, "Bonjour").await;
    let ack = person_says(fake, "AGENT").await;
    assert!(ack[0].contains("Un membre de l'équipe"), "{ack:?}");
}

/// A staff member writes `text` to the person: the conversation's id.
async fn reply(app: &TestApp, text: &str) -> i64 {
    let tenant = app.default_tenant().await;
    let agent = app
        .staff_user(
            tenant,
            "agent@ngo.example",
            Some(uic_inbox::auth::BuiltinRole::Agent),
            None,
        )
        .await;
    let access = uic_inbox::auth::store::actor(&app.state.db, &agent, None)
        .await
        .unwrap()
        .require(Permission::MessagesSend, Scope::AnyAccount)
        .unwrap();
    let id: i64 = on_db!(&app.state.db, p => sqlx::query_scalar("SELECT id FROM conversations")
        .fetch_one(p).await.unwrap());
    let acted = staff::send(
        &app.state.db,
        &app.state.live,
        &access,
        &account(app).await,
        id,
        text,
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(acted, Acted::Done);
    app.state.outbox.wake();
    id
}

/// Waits until the fake holds a REST send to the person.
pub(crate) async fn sent(fake: &FakeTwilio) -> twilio::SentMessage {
    for _ in 0..400 {
        if let Some(m) = fake.sent_to(PHONE).into_iter().next() {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing was sent through Twilio's REST API");
}

/// The staff message: status, provider id, error code and message.
async fn staff_message(app: &TestApp) -> (String, Option<String>, Option<String>, Option<String>) {
    on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT status, provider_message_id, error_code, error_message FROM messages WHERE sender = 'staff'")
        .fetch_one(p).await.unwrap())
}

/// Waits until the staff message is recorded as sent (its SID known).
async fn recorded(app: &TestApp) {
    for _ in 0..400 {
        if staff_message(app).await.1.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the send was never recorded");
}

#[apply(both_backends)]
#[tokio::test]
async fn a_staff_reply_goes_through_twilio_rest_and_its_statuses_come_back(
    #[case] backend: Backend,
) {
    let Some((app, fake)) = twilio_app(backend).await else {
        return;
    };
    staff_reply(&app, &fake, "Bonjour, ici l'équipe.").await;
    let message = sent(&fake).await;
    assert_eq!(message.body.as_deref(), Some("Bonjour, ici l'équipe."));
    assert_eq!(message.from.as_deref(), Some("whatsapp:+14155238886"));
    assert_eq!(message.to, format!("whatsapp:{PHONE}"));
    assert_eq!(message.auth_user, DEFAULT_ACCOUNT_SID);
    let outbox: i64 = on_db!(&app.state.db, p => sqlx::query_scalar("SELECT id FROM outbox")
        .fetch_one(p).await.unwrap());
    assert_eq!(
        message.status_callback.as_deref(),
        Some(format!("{PUBLIC}/whatsapp/webhook?outbox={outbox}").as_str())
    );
    recorded(&app).await;

    // Out of order: read first, then sent and delivered, which move
    // nothing back.
    let posted = fake.post_callback_for(&message.sid, "read").await.unwrap();
    assert_eq!(posted.http_status, Some(204));
    assert_eq!(staff_message(&app).await.0, "read");
    for c in fake.post_callbacks().await {
        assert_eq!(c.http_status, Some(204), "{c:?}");
    }
    let (status, sid, ..) = staff_message(&app).await;
    assert_eq!((status.as_str(), sid), ("read", Some(message.sid.clone())));
}

#[apply(both_backends)]
#[tokio::test]
async fn a_failure_keeps_twilios_code_and_a_forged_callback_changes_nothing(
    #[case] backend: Backend,
) {
    let Some((app, fake)) = twilio_app(backend).await else {
        return;
    };
    fake.fail_next_sends_async(1, "undelivered", 63016);
    staff_reply(&app, &fake, "Bonjour").await;
    sent(&fake).await;
    recorded(&app).await;
    // The callback, forged: the same body signed with another key (or
    // none) is refused, and nothing moves.
    let pending = fake.take_pending_callbacks();
    assert_eq!(pending.len(), 1, "only the failure is called back");
    let callback = &pending[0];
    let client = reqwest::Client::new();
    for signature in ["c2lnbmF0dXJl", ""] {
        let res = client
            .post(&callback.post_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", signature)
            .body(callback.body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
    }
    assert_eq!(staff_message(&app).await.0, "sent");
    // Twilio's own, signed: failed, with its code, for staff to see.
    let mut genuine = client.post(&callback.post_url);
    for (name, value) in &callback.headers {
        genuine = genuine.header(name, value);
    }
    let res = genuine.body(callback.body.clone()).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let (status, _, code, _) = staff_message(&app).await;
    assert_eq!(
        (status.as_str(), code.as_deref()),
        ("failed", Some("63016"))
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn refused_credentials_hold_the_queue_until_new_ones_are_set(#[case] backend: Backend) {
    let Some((app, fake)) = twilio_app(backend).await else {
        return;
    };
    escalate(&fake).await;
    // Someone rotated the auth token at Twilio: the REST call is refused
    // (20003), the account flagged, the message held, not failed.
    fake.set_auth_token(DEFAULT_ACCOUNT_SID, "rotated_token_0123456789");
    reply(&app, "Bonjour").await;
    // The worker flags the account, then gives the row back: both are
    // waited for.
    let mut held = (String::new(), String::new());
    for _ in 0..400 {
        let status: String = on_db!(&app.state.db, p => sqlx::query_scalar(
            "SELECT token_status FROM whatsapp_accounts WHERE slug = 'twilio'").fetch_one(p).await.unwrap());
        let outbox: String = on_db!(&app.state.db, p => sqlx::query_scalar("SELECT status FROM outbox")
            .fetch_one(p).await.unwrap());
        held = (status, outbox);
        if held.0 == "invalid" && held.1 != "sending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        (held.0.as_str(), held.1.as_str()),
        ("invalid", "pending"),
        "the account flagged and the message held"
    );
    assert!(fake.sent_to(PHONE).is_empty());
    let (status, ..) = staff_message(&app).await;
    assert_eq!(status, "queued");

    // An administrator sets the new token: the held message goes.
    let tenant = app.default_tenant().await;
    let tokens = Actor::operator(tenant)
        .require(Permission::TokensManage, Scope::Tenant)
        .unwrap();
    let twilio_account = account(&app).await;
    accounts::update_channel(
        &app.state.db,
        &app.state.secrets,
        &tokens,
        twilio_account.id,
        uic_inbox::tenancy::Provider::Twilio,
        &accounts::ChannelSettings {
            phone_number: twilio_account.phone_number.clone(),
            twilio_account_sid: Some(DEFAULT_ACCOUNT_SID.into()),
            twilio_auth_token: Some("rotated_token_0123456789".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .unwrap();
    app.state.accounts.clear();
    app.state.outbox.wake();
    let message = sent(&fake).await;
    assert_eq!(message.body.as_deref(), Some("Bonjour"));
}
