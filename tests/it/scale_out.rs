//! Scale-out (issue 16): two instances on one PostgreSQL, behind a proxy
//! that sends each request to either. A staff member's session, its CSRF
//! token, the conversation they take and the replies they write hold
//! whichever instance answers; each reply leaves once, whichever
//! instance's worker sends it; logging out on one ends the session on both.
//! (The flow state across instances: `twilio::two_server_instances_take_turns…`;
//! live updates: `live::a_change_on_one_instance_reaches_a_stream_on_the_other`;
//! the outbox's takeover: `meta::a_send_claimed_by_an_instance_that_died…`.)

use crate::helpers::*;
use crate::twilio_outbox::{PHONE, escalate, twilio_app};
use reqwest::StatusCode;
use std::time::Duration;
use uic_inbox::auth::BuiltinRole;
use uic_inbox::on_db;

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_staff_member_moving_between_two_instances_at_every_request_keeps_their_session_and_each_reply_leaves_once()
 {
    let Some((app, fake)) = twilio_app(Backend::Postgres).await else {
        return;
    };
    let second = app.second_instance().await;
    let tenant = app.default_tenant().await;
    app.staff_user(tenant, "agent@ngo.example", Some(BuiltinRole::Agent), None)
        .await;
    escalate(&fake).await;
    let id: i64 = on_db!(&app.state.db, p => sqlx::query_scalar("SELECT id FROM conversations")
        .fetch_one(p).await.unwrap());
    let instances = [app.address.clone(), second.address.clone()];

    // Logged in on the first; then each page read on one instance and
    // each form (with the token that page gave) posted to the other.
    let mut b = app.login("agent@ngo.example").await;
    let texts = [
        "Bonjour, je suis là",
        "Dans quelle ville êtes-vous ?",
        "Merci, à bientôt",
    ];
    for (i, text) in texts.iter().enumerate() {
        b.base = instances[(i + 1) % 2].clone();
        let page = b.get(&format!("/conversations/{id}")).await;
        assert_eq!(page.status, StatusCode::OK, "read on {}", b.base);
        b.base = instances[i % 2].clone();
        let sent = b
            .post(&format!("/conversations/{id}/messages"), &[("text", text)])
            .await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    }
    // Each instance shows the conversation taken, with the three replies.
    for address in &instances {
        b.base = address.clone();
        let page = b.get(&format!("/conversations/{id}")).await;
        for text in texts {
            let escaped = text.replace('\'', "&#x27;");
            assert!(
                page.body.contains(text) || page.body.contains(&escaped),
                "{text} on {address}"
            );
        }
    }
    let mode: String = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT mode FROM conversations WHERE id = $1").bind(id).fetch_one(p).await.unwrap());
    assert_eq!(mode, "human");

    // Each reply leaves once, whichever worker took it: every one
    // arrives, then nothing more in the time a second send would take.
    let mut bodies = Vec::new();
    for _ in 0..400 {
        bodies = fake
            .sent_to(PHONE)
            .into_iter()
            .map(|m| m.body.unwrap_or_default())
            .collect::<Vec<_>>();
        if bodies.len() >= texts.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    app.state.outbox.wake();
    second.state.outbox.wake();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut bodies_after: Vec<String> = fake
        .sent_to(PHONE)
        .into_iter()
        .map(|m| m.body.unwrap_or_default())
        .collect();
    bodies_after.sort();
    bodies.sort();
    assert_eq!(bodies_after, bodies);
    let mut expected: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(bodies, expected, "each reply once");

    // Logged out on the first instance: the session is over on the second.
    b.base = instances[0].clone();
    let cookie = b.cookie.clone();
    b.get("/").await;
    let out = b.post("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    b.cookie = cookie;
    b.base = instances[1].clone();
    assert!(b.get("/conversations").await.is_login_redirect());
}
