//! The inbox in a real browser: two staff members have the same
//! conversation open; what the person writes through the webhook appears
//! in both; one takes over and the other sees it taken; the reply gets its
//! delivered tick when Twilio's callback comes; on the sandbox, the staff
//! reply appears in the simulator's phone. Screenshots (list, conversation
//! on a wide screen and on a phone) go to `target/screenshots/`.

use crate::browser::{Browser, WAIT};
use crate::helpers::{Backend, TestApp};
use crate::staff::PASSWORD;
use crate::twilio_outbox::{escalate, person_says, sent, twilio_app};
use std::time::Duration;
use uic_inbox::auth::BuiltinRole;
use uic_inbox::on_db;

/// How long a live update may take to show without a reload here: a bound
/// for a machine busy with the rest of the suite (a wait ends as soon as
/// the text shows), not the speed asked of live updates, which
/// BENCHMARKS.md measures ("Live updates under webhook load").
const LIVE: Duration = Duration::from_secs(10);

async fn log_in(app: &TestApp, email: &str) -> Browser {
    let b = Browser::start().await;
    b.goto(&format!("{}/login", app.address)).await;
    b.fill("input[name=email]", email).await;
    b.fill("input[name=password]", PASSWORD).await;
    b.click("form[action='/login'] button").await;
    b.wait_for_text("h1", "Bienvenue", WAIT).await;
    b
}

#[tokio::test]
async fn two_staff_members_follow_one_conversation_live() {
    let (app, fake) = twilio_app(Backend::Sqlite).await.unwrap();
    let tenant = app.default_tenant().await;
    app.staff_user(tenant, "awa@ngo.example", Some(BuiltinRole::Agent), None)
        .await;
    app.staff_user(
        tenant,
        "bola@ngo.example",
        Some(BuiltinRole::Supervisor),
        None,
    )
    .await;
    escalate(&fake).await;
    let id: i64 = on_db!(&app.state.db, p => sqlx::query_scalar("SELECT id FROM conversations")
        .fetch_one(p).await.unwrap());

    let awa = log_in(&app, "awa@ngo.example").await;
    let bola = log_in(&app, "bola@ngo.example").await;
    // The queue on the home page, and the badge in the menu.
    awa.wait_for_text("#home-inbox", "Twilio", WAIT).await;
    awa.wait_for_text("#nav-badge", "1", WAIT).await;
    awa.goto(&format!("{}/conversations?mode=waiting", app.address))
        .await;
    awa.wait_for_text("#conv-list", "a demandé une personne", WAIT)
        .await;
    awa.screenshot("conversations").await;
    let url = format!("{}/conversations/{id}", app.address);
    awa.goto(&url).await;
    bola.goto(&url).await;
    awa.wait_for_text("#conv-progress", "Question 1 sur 5", WAIT)
        .await;
    bola.wait_for_text("#live", "Prendre la main", WAIT).await;
    awa.screenshot("conversation-waiting").await;

    // The person writes: both pages show it.
    person_says(&fake, "Il y a quelqu'un ?").await;
    awa.wait_for_text("#thread", "Il y a quelqu'un ?", LIVE)
        .await;
    bola.wait_for_text("#thread", "Il y a quelqu'un ?", LIVE)
        .await;

    // Awa takes over: Bola sees it taken, without reloading.
    awa.click("form[action$='/take'] button").await;
    awa.wait_for_text("#live", "Vous avez pris la main", WAIT)
        .await;
    bola.wait_for_text("#live", "Pris par awa", LIVE).await;

    // Awa replies; the person's phone (the fake) gets it; Twilio's callbacks
    // bring the delivered tick to both pages.
    awa.fill("#composer-text", "Bonjour, ici Awa de l'équipe.")
        .await;
    awa.click("form[action$='/messages'] button").await;
    awa.wait_for_text("#thread", "Bonjour, ici Awa de l'équipe.", WAIT)
        .await;
    let message = sent(&fake).await;
    assert_eq!(
        message.body.as_deref(),
        Some("Bonjour, ici Awa de l'équipe.")
    );
    let field: String = awa
        .execute("return document.querySelector('#composer-text').value")
        .await;
    assert_eq!(field, "", "the message box is emptied after sending");
    // The send is recorded (its SID known) before the callbacks come.
    let recording = std::time::Instant::now();
    loop {
        let sid: Option<String> = on_db!(&app.state.db, p => sqlx::query_scalar(
            "SELECT provider_message_id FROM messages WHERE sender = 'staff'")
            .fetch_one(p).await.unwrap());
        if sid.is_some() {
            break;
        }
        assert!(
            recording.elapsed() < Duration::from_secs(30),
            "the send's SID was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    fake.post_callbacks().await;
    awa.wait_for_text("#thread", "✓✓", LIVE).await;
    bola.wait_for_text("#thread", "✓✓", LIVE).await;
    awa.screenshot("conversation").await;
    awa.set_mobile_width().await;
    awa.goto(&url).await;
    awa.wait_for_text("#thread", "✓✓", WAIT).await;
    awa.screenshot("conversation-mobile").await;
    let overflow: bool = awa
        .execute("return document.documentElement.scrollWidth > window.innerWidth")
        .await;
    assert!(
        !overflow,
        "the conversation page scrolls sideways on a phone"
    );

    // Handing back: the bot asks its question again, on both pages.
    awa.click("form[action$='/release'] button[value=resume]")
        .await;
    bola.wait_for_text("#live", "a rendu la main au bot", LIVE)
        .await;
    awa.quit().await;
    bola.quit().await;
}

#[tokio::test]
async fn the_simulator_shows_a_staff_reply() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await.unwrap();
    let tenant = app.default_tenant().await;
    app.staff_user(
        tenant,
        "sup@ngo.example",
        Some(BuiltinRole::Supervisor),
        None,
    )
    .await;
    app.staff_user(tenant, "agent@ngo.example", Some(BuiltinRole::Agent), None)
        .await;
    let sandbox = uic_inbox::tenancy::store::find_by_slug(&app.state.db, "sandbox")
        .await
        .unwrap()
        .unwrap();
    // The supervisor plays the person in the simulator.
    let person = log_in(&app, "sup@ngo.example").await;
    person
        .goto(&format!("{}/simulator/{}", app.address, sandbox.id))
        .await;
    person.fill("#compose-text", "AGENT").await;
    person.click("form.compose button").await;
    person
        .wait_for_text("#thread", "Un membre de l'équipe", WAIT)
        .await;

    // The agent finds it in the queue, takes over and replies.
    let agent = log_in(&app, "agent@ngo.example").await;
    agent
        .goto(&format!("{}/conversations?mode=waiting", app.address))
        .await;
    agent.click("#conv-list tbody a").await;
    agent.wait_for_text("#live", "Prendre la main", WAIT).await;
    agent.fill("#composer-text", "Bonjour, je suis Bola.").await;
    agent.click("form[action$='/messages'] button").await;
    agent
        .wait_for_text("#thread", "Bonjour, je suis Bola.", WAIT)
        .await;

    // The simulator's phone shows it.
    person
        .wait_for_text("#thread", "Bonjour, je suis Bola.", LIVE)
        .await;
    person.screenshot("simulator-staff-reply").await;
    person.quit().await;
    agent.quit().await;
}
