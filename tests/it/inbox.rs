//! The inbox's conversation life, on both databases: escalations wait in
//! the queue with their reason; a takeover silences the bot at once, even
//! for a message being processed at that moment; staff write within the
//! 24-hour window; the bot takes the conversation back where it stopped or
//! from the start; another account's conversations are never reached.

use crate::both_backends;
use crate::helpers::{Backend, TestApp, spawn_app};
use rstest_reuse::apply;
use time::OffsetDateTime;
use uic_inbox::auth::store::{self as auth_store, User};
use uic_inbox::auth::{Access, BuiltinRole, Permission, Scope};
use uic_inbox::flow::HandBack;
use uic_inbox::inbox::staff::{self, Acted};
use uic_inbox::on_db;
use uic_inbox::tenancy::{Account, store as accounts};

const PHONE: &str = "+243990000101";

/// A staff member's access for `p`, as the permission check gives it.
async fn access_of(app: &TestApp, user: &User, p: Permission) -> Access {
    auth_store::actor(&app.state.db, user, None)
        .await
        .unwrap()
        .require(p, Scope::AnyAccount)
        .unwrap()
}

async fn sandbox(app: &TestApp) -> Account {
    accounts::find_by_slug(&app.state.db, "sandbox")
        .await
        .unwrap()
        .unwrap()
}

/// The conversation of `PHONE`: id, mode, waiting reason, holder.
async fn conversation(app: &TestApp) -> (i64, String, Option<String>, Option<i64>) {
    on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT cv.id, cv.mode, cv.waiting_reason, cv.taken_by FROM conversations cv
         JOIN contacts c ON c.id = cv.contact_id WHERE c.phone = $1")
        .bind(PHONE).fetch_one(p).await.unwrap())
}

/// The changes of hands recorded: mode, change, detail.
async fn changes(app: &TestApp, id: i64) -> Vec<(String, String, Option<String>)> {
    on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT mode, change, detail FROM conversation_events WHERE conversation_id = $1 ORDER BY id")
        .bind(id).fetch_all(p).await.unwrap())
}

/// The outbound messages: sender, body, status, author.
async fn outbound(app: &TestApp, id: i64) -> Vec<(String, String, String, Option<i64>)> {
    on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT sender, body, status, author_id FROM messages
         WHERE conversation_id = $1 AND direction = 'out' ORDER BY id")
        .bind(id).fetch_all(p).await.unwrap())
}

fn change(mode: &str, change: &str, detail: Option<&str>) -> (String, String, Option<String>) {
    (mode.into(), change.into(), detail.map(str::to_owned))
}

/// An agent of every account of the default tenant.
async fn agent(app: &TestApp, email: &str) -> User {
    let tenant = app.default_tenant().await;
    app.staff_user(tenant, email, Some(BuiltinRole::Agent), None)
        .await
}

/// The sandbox conversation at question 3 (two answers given), then the
/// person asks for staff.
async fn waiting_at_question_3(app: &TestApp) -> i64 {
    app.sandbox_say(PHONE, "Bonjour").await;
    app.sandbox_say(PHONE, "Mbengue").await;
    app.sandbox_say(PHONE, "Ibrahim").await;
    let ack = app.sandbox_say(PHONE, "AGENT").await;
    assert!(ack[0].contains("Un membre de l'équipe"), "{ack:?}");
    let (id, mode, reason, _) = conversation(app).await;
    assert_eq!(
        (mode.as_str(), reason.as_deref()),
        ("waiting", Some("requested"))
    );
    id
}

#[apply(both_backends)]
#[tokio::test]
async fn a_takeover_silences_the_bot_at_once_and_staff_write_to_the_person(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let agent = agent(&app, "agent@ngo.example").await;
    let id = waiting_at_question_3(&app).await;
    // Waiting: one acknowledgement, not one per message.
    assert!(app.sandbox_say(PHONE, "Vous êtes là ?").await.is_empty());
    assert!(app.sandbox_say(PHONE, "AGENT").await.is_empty());

    let takeover = access_of(&app, &agent, Permission::ConversationsTakeover).await;
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        staff::take_over(&app.state.db, &app.state.live, &takeover, id, now)
            .await
            .unwrap(),
        Acted::Done
    );
    assert_eq!(
        staff::take_over(&app.state.db, &app.state.live, &takeover, id, now)
            .await
            .unwrap(),
        Acted::Unchanged
    );
    let (_, mode, _, holder) = conversation(&app).await;
    assert_eq!((mode.as_str(), holder), ("human", Some(agent.id)));
    // Held by staff, everything goes to them, RECOMMENCER included.
    assert!(app.sandbox_say(PHONE, "RECOMMENCER").await.is_empty());
    assert_eq!(conversation(&app).await.1, "human");

    let send = access_of(&app, &agent, Permission::MessagesSend).await;
    let account = sandbox(&app).await;
    let written = staff::send(
        &app.state.db,
        &app.state.live,
        &send,
        &account,
        id,
        "Bonjour, je suis là.",
        now,
    )
    .await
    .unwrap();
    assert_eq!(written, Acted::Done);
    let out = outbound(&app, id).await;
    assert_eq!(
        out.last().unwrap(),
        &(
            "staff".to_string(),
            "Bonjour, je suis là.".to_string(),
            "delivered".to_string(),
            Some(agent.id)
        )
    );
    // What the person wrote to staff is kept as written.
    let kept: Vec<String> = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT body FROM messages WHERE conversation_id = $1 AND direction = 'in' AND body_form = 'verbatim' ORDER BY id")
        .bind(id).fetch_all(p).await.unwrap());
    assert_eq!(kept, ["Vous êtes là ?", "AGENT", "RECOMMENCER"]);
    assert_eq!(
        changes(&app, id).await,
        [
            change("waiting", "escalated", Some("requested")),
            change("human", "taken", None),
        ]
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn no_bot_reply_follows_a_takeover_even_for_a_message_being_processed(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let agent = agent(&app, "agent@ngo.example").await;
    // The bot has the conversation; this process remembers its version.
    app.sandbox_say(PHONE, "Bonjour").await;
    let (id, ..) = conversation(&app).await;
    let before = outbound(&app, id).await.len();
    // The takeover lands while the next message is being processed: that
    // message's bot reply was computed from the version before it (the one
    // remembered), so its write fails, and it is run again as staff's.
    let takeover = access_of(&app, &agent, Permission::ConversationsTakeover).await;
    staff::take_over(
        &app.state.db,
        &app.state.live,
        &takeover,
        id,
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert!(app.sandbox_say(PHONE, "Mbengue").await.is_empty());
    assert_eq!(
        outbound(&app, id).await.len(),
        before,
        "no bot reply stored"
    );
    let last: (String, String) = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT body_form, body FROM messages WHERE conversation_id = $1 ORDER BY id DESC LIMIT 1")
        .bind(id).fetch_one(p).await.unwrap());
    assert_eq!(last, ("verbatim".to_string(), "Mbengue".to_string()));

    // Many messages racing with a takeover: every bot reply stored comes
    // before the takeover (a message answered after it would show one more
    // reply than the messages answered in bot mode).
    let other = "+243990000102";
    app.sandbox_say(other, "Bonjour").await;
    let other_id: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT cv.id FROM conversations cv JOIN contacts c ON c.id = cv.contact_id WHERE c.phone = $1")
        .bind(other).fetch_one(p).await.unwrap());
    let url = format!("{}/sandbox/sandbox/messages", app.address);
    let mut racing = tokio::task::JoinSet::new();
    for text in [
        "Mbengue", "Ibrahim", "1997", "DA", "1", "AIDE", "AIDE", "AIDE",
    ] {
        let (client, url) = (reqwest::Client::new(), url.clone());
        racing.spawn(async move {
            let res = client
                .post(url)
                .json(&serde_json::json!({ "from": other, "text": text }))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<serde_json::Value>().await.unwrap()
        });
    }
    let taken = staff::take_over(
        &app.state.db,
        &app.state.live,
        &takeover,
        other_id,
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(taken, Acted::Done);
    let answers = racing.join_all().await;
    let answered = answers
        .iter()
        .filter(|a| !a["replies"].as_array().unwrap().is_empty())
        .count();
    let bot_messages = outbound(&app, other_id).await.len();
    let in_bot_mode: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages WHERE conversation_id = $1 AND direction = 'in' AND body_form <> 'verbatim'")
        .bind(other_id).fetch_one(p).await.unwrap());
    // Bonjour's welcome plus one reply (or two, with the code) per message
    // answered in bot mode; none for those kept for staff.
    assert_eq!(answered + 1, usize::try_from(in_bot_mode).unwrap());
    assert!(bot_messages > answered, "{bot_messages} {answered}");
    let last_in: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT MAX(id) FROM messages WHERE conversation_id = $1 AND direction = 'in' AND body_form <> 'verbatim'")
        .bind(other_id).fetch_one(p).await.unwrap());
    let after: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages WHERE conversation_id = $1 AND direction = 'out' AND id > (
            SELECT MIN(id) FROM messages WHERE conversation_id = $1 AND direction = 'in' AND body_form = 'verbatim')")
        .bind(other_id).fetch_one(p).await.unwrap());
    assert_eq!(
        after, 0,
        "a bot reply after the first message kept for staff"
    );
    assert!(last_in > 0);
}

#[apply(both_backends)]
#[tokio::test]
async fn handing_back_resumes_at_the_question_or_starts_again(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let agent = agent(&app, "agent@ngo.example").await;
    let account = sandbox(&app).await;
    let config = account.flow_config(&app.state.config);
    let id = waiting_at_question_3(&app).await;
    let takeover = access_of(&app, &agent, Permission::ConversationsTakeover).await;
    let now = OffsetDateTime::now_utc();
    staff::take_over(&app.state.db, &app.state.live, &takeover, id, now)
        .await
        .unwrap();
    let (acted, replies) = staff::hand_back(
        &app.state.db,
        &app.state.live,
        &takeover,
        &account,
        id,
        HandBack::Resume,
        &config,
        now,
    )
    .await
    .unwrap();
    assert_eq!(acted, Acted::Done);
    assert!(replies[0].text.contains("Question 3 sur 5"), "{replies:?}");
    let last = outbound(&app, id).await.pop().unwrap();
    assert_eq!((last.0.as_str(), last.2.as_str()), ("bot", "delivered"));
    assert!(last.1.starts_with("Reprenons"), "{}", last.1);
    // The answers were kept: the code comes out right.
    assert!(app.sandbox_say(PHONE, "1997").await[0].contains("Question 4 sur 5"));
    app.sandbox_say(PHONE, "DA").await;
    let done = app.sandbox_say(PHONE, "1").await.join("\n");
    assert!(done.contains("MBEIBR7DA1"), "{done}");

    // Again, to start over this time.
    app.sandbox_say(PHONE, "AGENT").await;
    staff::take_over(&app.state.db, &app.state.live, &takeover, id, now)
        .await
        .unwrap();
    let (_, replies) = staff::hand_back(
        &app.state.db,
        &app.state.live,
        &takeover,
        &account,
        id,
        HandBack::StartAgain,
        &config,
        now,
    )
    .await
    .unwrap();
    assert!(replies[0].text.contains("Question 1 sur 5"), "{replies:?}");
    assert!(app.sandbox_say(PHONE, "Kabila").await[0].contains("Question 2 sur 5"));
    assert_eq!(
        changes(&app, id).await,
        [
            change("waiting", "escalated", Some("requested")),
            change("human", "taken", None),
            change("bot", "handed_back", Some("resume")),
            change("waiting", "escalated", Some("requested")),
            change("human", "taken", None),
            change("bot", "handed_back", Some("start_again")),
        ]
    );
    // Given back already: nothing to give.
    let (again, _) = staff::hand_back(
        &app.state.db,
        &app.state.live,
        &takeover,
        &account,
        id,
        HandBack::Resume,
        &config,
        now,
    )
    .await
    .unwrap();
    assert_eq!(again, Acted::NotApplicable(uic_inbox::inbox::Mode::Bot));
}

#[apply(both_backends)]
#[tokio::test]
async fn staff_write_only_within_the_window_and_only_what_they_hold(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let first = agent(&app, "a@ngo.example").await;
    let second = agent(&app, "b@ngo.example").await;
    let account = sandbox(&app).await;
    let id = waiting_at_question_3(&app).await;
    let now = OffsetDateTime::now_utc();
    let send_a = access_of(&app, &first, Permission::MessagesSend).await;
    let send_b = access_of(&app, &second, Permission::MessagesSend).await;
    // Writing to a waiting conversation takes it.
    assert_eq!(
        staff::send(
            &app.state.db,
            &app.state.live,
            &send_a,
            &account,
            id,
            "Bonjour",
            now
        )
        .await
        .unwrap(),
        Acted::Done
    );
    assert_eq!(conversation(&app).await.3, Some(first.id));
    // Another member does not write into it, nor take it.
    assert_eq!(
        staff::send(
            &app.state.db,
            &app.state.live,
            &send_b,
            &account,
            id,
            "Moi aussi",
            now
        )
        .await
        .unwrap(),
        Acted::TakenBy(first.id)
    );
    let takeover_b = access_of(&app, &second, Permission::ConversationsTakeover).await;
    assert_eq!(
        staff::take_over(&app.state.db, &app.state.live, &takeover_b, id, now)
            .await
            .unwrap(),
        Acted::TakenBy(first.id)
    );
    // A NUL byte is taken out; an empty or over-long text is refused, and
    // nothing is written.
    assert_eq!(
        staff::send(
            &app.state.db,
            &app.state.live,
            &send_a,
            &account,
            id,
            "Bon\0jour",
            now
        )
        .await
        .unwrap(),
        Acted::Done
    );
    assert_eq!(outbound(&app, id).await.last().unwrap().1, "Bonjour");
    let before = outbound(&app, id).await.len();
    for (text, refusal) in [
        (" \0 ".to_string(), staff::Refusal::Empty),
        ("x".repeat(10_000), staff::Refusal::TooLong),
    ] {
        assert_eq!(
            staff::send(
                &app.state.db,
                &app.state.live,
                &send_a,
                &account,
                id,
                &text,
                now
            )
            .await
            .unwrap(),
            Acted::Refused(refusal)
        );
    }
    assert_eq!(outbound(&app, id).await.len(), before);
    // Another tenant's staff never reach it.
    let other =
        uic_inbox::tenancy::store::create_tenant(&app.state.db, "autre-ong", "Autre ONG", "Bac")
            .await
            .unwrap()
            .unwrap();
    let stranger = app
        .staff_user(
            other,
            "x@autre.example",
            Some(BuiltinRole::Administrator),
            None,
        )
        .await;
    let theirs = access_of(&app, &stranger, Permission::MessagesSend).await;
    assert_eq!(
        staff::send(
            &app.state.db,
            &app.state.live,
            &theirs,
            &account,
            id,
            "x",
            now
        )
        .await
        .unwrap(),
        Acted::NotFound
    );
    let theirs = access_of(&app, &stranger, Permission::ConversationsTakeover).await;
    assert_eq!(
        staff::take_over(&app.state.db, &app.state.live, &theirs, id, now)
            .await
            .unwrap(),
        Acted::NotFound
    );
    // An access checked for another permission is refused.
    assert!(
        staff::send(
            &app.state.db,
            &app.state.live,
            &takeover_b,
            &account,
            id,
            "x",
            now
        )
        .await
        .is_err()
    );
    // The person last wrote more than 24 hours ago: refused, nothing written.
    on_db!(&app.state.db, p => sqlx::query(
        "UPDATE conversations SET last_inbound_at = $2 WHERE id = $1")
        .bind(id).bind(now - time::Duration::hours(25)).execute(p).await.map(|_| ()).unwrap());
    let before = outbound(&app, id).await.len();
    assert_eq!(
        staff::send(
            &app.state.db,
            &app.state.live,
            &send_a,
            &account,
            id,
            "Encore là ?",
            now
        )
        .await
        .unwrap(),
        Acted::WindowClosed
    );
    assert_eq!(outbound(&app, id).await.len(), before);
}

#[apply(both_backends)]
#[tokio::test]
async fn an_agent_of_one_account_never_reaches_another_accounts_conversation(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let other_account = app
        .account_in(
            tenant,
            "autre",
            uic_inbox::tenancy::Provider::Sandbox,
            None,
            None,
        )
        .await;
    let scoped = app
        .staff_user(
            tenant,
            "scoped@ngo.example",
            Some(BuiltinRole::Agent),
            Some(other_account.id),
        )
        .await;
    let account = sandbox(&app).await;
    let id = waiting_at_question_3(&app).await;
    let now = OffsetDateTime::now_utc();
    let takeover = access_of(&app, &scoped, Permission::ConversationsTakeover).await;
    let send = access_of(&app, &scoped, Permission::MessagesSend).await;
    let config = account.flow_config(&app.state.config);
    assert_eq!(
        staff::take_over(&app.state.db, &app.state.live, &takeover, id, now)
            .await
            .unwrap(),
        Acted::NotFound
    );
    assert_eq!(
        staff::flag(&app.state.db, &app.state.live, &takeover, id, now)
            .await
            .unwrap(),
        Acted::NotFound
    );
    assert_eq!(
        staff::send(
            &app.state.db,
            &app.state.live,
            &send,
            &account,
            id,
            "x",
            now
        )
        .await
        .unwrap(),
        Acted::NotFound
    );
    let (acted, _) = staff::hand_back(
        &app.state.db,
        &app.state.live,
        &takeover,
        &account,
        id,
        HandBack::Resume,
        &config,
        now,
    )
    .await
    .unwrap();
    assert_eq!(acted, Acted::NotFound);
    // Nothing of it changed.
    assert_eq!(conversation(&app).await.1, "waiting");
    assert_eq!(changes(&app, id).await.len(), 1);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_person_nobody_took_is_told_once_that_nobody_is_available(#[case] backend: Backend) {
    use uic_inbox::inbox::waiting::notify_unattended;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let id = waiting_at_question_3(&app).await;
    let now = OffsetDateTime::now_utc();
    let notify = |at| {
        notify_unattended(
            &app.state.db,
            &app.state.config,
            &app.state.outbox,
            &app.state.live,
            at,
        )
    };
    // Within the limit (4 hours by default): nothing.
    assert_eq!(notify(now).await.unwrap(), 0);
    // Past it, two instances at once: the person is told once.
    let later = now + time::Duration::hours(4);
    let (a, b) = tokio::join!(notify(later), notify(later));
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(notify(later + time::Duration::hours(1)).await.unwrap(), 0);
    let last = outbound(&app, id).await.pop().unwrap();
    assert_eq!((last.0.as_str(), last.2.as_str()), ("bot", "delivered"));
    assert!(
        last.1.contains("personne de l'équipe n'est disponible"),
        "{}",
        last.1
    );
    assert_eq!(
        changes(&app, id).await.last().unwrap(),
        &change("waiting", "nobody_available", None)
    );
    // Still waiting; RECOMMENCER gets the code from the bot.
    assert_eq!(conversation(&app).await.1, "waiting");
    let restarted = app.sandbox_say(PHONE, "RECOMMENCER").await;
    assert!(restarted[0].contains("Question 1 sur 5"), "{restarted:?}");
}

/// A Twilio retry is answered with the bot's replies stored with its
/// message only while nothing came after it: once staff wrote to the
/// person, those replies (the hand-over notice here) would come after
/// staff's words, out of order.
#[apply(both_backends)]
#[tokio::test]
async fn a_twilio_retry_after_a_staff_reply_is_answered_with_nothing(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let agent = agent(&app, "agent@ngo.example").await;
    let phone = "+243990000104";
    let sid = |n: u32| format!("SM{n:032x}");
    let bodies = crate::helpers::twiml_bodies;
    app.twilio_say(phone, &sid(1), "Bonjour").await;
    let ack = app.twilio_say(phone, &sid(2), "AGENT").await;
    assert!(
        bodies(&ack).concat().contains("Un membre de l'équipe"),
        "{ack}"
    );
    // Still the conversation's last message: its retry gets the notice again.
    let again = app.twilio_say(phone, &sid(2), "AGENT").await;
    assert_eq!(bodies(&again), bodies(&ack));

    let id: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT cv.id FROM conversations cv JOIN contacts c ON c.id = cv.contact_id WHERE c.phone = $1")
        .bind(phone).fetch_one(p).await.unwrap());
    let now = OffsetDateTime::now_utc();
    let takeover = access_of(&app, &agent, Permission::ConversationsTakeover).await;
    staff::take_over(&app.state.db, &app.state.live, &takeover, id, now)
        .await
        .unwrap();
    let send = access_of(&app, &agent, Permission::MessagesSend).await;
    let account = accounts::find_by_slug(&app.state.db, "twilio")
        .await
        .unwrap()
        .unwrap();
    let written = staff::send(
        &app.state.db,
        &app.state.live,
        &send,
        &account,
        id,
        "Bonjour, je suis là.",
        now,
    )
    .await
    .unwrap();
    assert_eq!(written, Acted::Done);
    let late = app.twilio_say(phone, &sid(2), "AGENT").await;
    assert!(bodies(&late).is_empty(), "{late}");
    assert_eq!(app.count("messages WHERE direction = 'in'").await, 2);
}
