//! The inbox's pages, through HTTP on both databases: the list with its
//! filters, search and pages; one conversation with its thread, progress
//! and code card; the actions (take over, reply, hand back, queue); the
//! queue on the home page; and what another account's or tenant's staff,
//! or hostile input, get.

use crate::both_backends;
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::staff::Browser;
use reqwest::StatusCode;
use rstest_reuse::apply;
use time::OffsetDateTime;
use uic_inbox::auth::BuiltinRole;
use uic_inbox::on_db;
use uic_inbox::tenancy::{Account, Provider, store as accounts};

const PHONE: &str = "+243990000201";
const MASKED: &str = "+2439******01";

async fn sandbox(app: &TestApp) -> Account {
    accounts::find_by_slug(&app.state.db, "sandbox")
        .await
        .unwrap()
        .unwrap()
}

async fn conversation_of(app: &TestApp, phone: &str) -> i64 {
    on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT cv.id FROM conversations cv JOIN contacts c ON c.id = cv.contact_id WHERE c.phone = $1")
        .bind(phone).fetch_one(p).await.unwrap())
}

/// The person answers two questions, then asks for staff.
async fn escalate(app: &TestApp, phone: &str) -> i64 {
    app.sandbox_say(phone, "Bonjour").await;
    app.sandbox_say(phone, "Mbengue").await;
    app.sandbox_say(phone, "Ibrahim").await;
    let ack = app.sandbox_say(phone, "AGENT").await;
    assert!(ack[0].contains("Un membre de l'équipe"), "{ack:?}");
    conversation_of(app, phone).await
}

/// A person who goes through the five questions: their code.
async fn complete(app: &TestApp, phone: &str) -> String {
    for answer in ["Bonjour", "Mbengue", "Ibrahim", "1997", "DA"] {
        app.sandbox_say(phone, answer).await;
    }
    let replies = app.sandbox_say(phone, "1").await;
    let all = replies.join("\n");
    all.split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| {
            w.len() == 10
                && w.chars().any(|c| c.is_ascii_digit())
                && w.chars().any(|c| c.is_ascii_uppercase())
        })
        .unwrap_or_else(|| panic!("no code in {all}"))
        .to_string()
}

async fn logged_in(app: &TestApp, email: &str, role: BuiltinRole, account: Option<i64>) -> Browser {
    let tenant = app.default_tenant().await;
    app.staff_user(tenant, email, Some(role), account).await;
    app.login(email).await
}

#[apply(both_backends)]
#[tokio::test]
async fn the_queue_lists_escalations_with_their_reason_and_masked_numbers(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let id = escalate(&app, PHONE).await;
    let mut agent = logged_in(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;

    // Home: what waits, per account, and the menu's badge.
    let home = agent.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.body.contains("Conversations en attente"),
        "{}",
        home.body
    );
    assert!(
        home.body.contains("/conversations?account="),
        "{}",
        home.body
    );
    let badge = agent.get("/conversations/badge").await;
    assert!(badge.body.contains(">1</span>"), "{}", badge.body);

    let list = agent.get("/conversations?mode=waiting").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains(&format!("/conversations/{id}")),
        "{}",
        list.body
    );
    assert!(
        list.body.contains("a demandé une personne"),
        "{}",
        list.body
    );
    assert!(list.body.contains(MASKED), "{}", list.body);
    assert!(!list.body.contains(PHONE), "an agent sees masked numbers");
    // Three answers the bot cannot understand: in the queue too, with why.
    let puzzled = "+243990000202";
    for text in ["Bonjour", "Mbengue", "Ibrahim", "deux", "trois", "quatre"] {
        app.sandbox_say(puzzled, text).await;
    }
    let failed = conversation_of(&app, puzzled).await;
    let list = agent.get("/conversations?mode=waiting").await;
    assert_eq!(
        ids_in(&list.body),
        [failed, id],
        "the newest activity first"
    );
    assert!(
        list.body.contains("réponses non comprises"),
        "{}",
        list.body
    );
    // Filters that leave it out.
    for q in ["mode=bot", "mode=human", "mine=1", "uic=with"] {
        let other = agent.get(&format!("/conversations?{q}")).await;
        assert_eq!(other.status, StatusCode::OK, "{q}");
        assert!(
            !other.body.contains(&format!("/conversations/{id}\"")),
            "{q}"
        );
    }
    // An agent may not search by number: told so, not shown an empty list.
    let refused = agent.get("/conversations?q=%2B243990000201").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("cherchez par code CIU"),
        "{}",
        refused.body
    );

    // A supervisor sees the number, and may search by it (as typed locally).
    let mut supervisor = logged_in(&app, "sup@ngo.example", BuiltinRole::Supervisor, None).await;
    let found = supervisor.get("/conversations?q=0990000201").await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(found.body.contains(PHONE), "{}", found.body);
    assert!(found.body.contains(&format!("/conversations/{id}")));
    let page = supervisor.get(&format!("/conversations/{id}")).await;
    assert!(
        page.body.contains(&format!("<title>{PHONE}")),
        "{}",
        page.body
    );

    // The agent's page title is masked too.
    let page = agent.get(&format!("/conversations/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(&format!("<title>{MASKED}")),
        "{}",
        page.body
    );
    assert!(!page.body.contains(PHONE));
    // Flow progress and the answers as the bot keeps them.
    assert!(page.body.contains("Question 3 sur 5"), "{}", page.body);
    assert!(page.body.contains("<code>MBE</code>"), "{}", page.body);
    assert!(page.body.contains("Prendre la main"));
    assert!(
        page.body
            .contains("Mise en attente : a demandé une personne"),
        "{}",
        page.body
    );

    // Opening it is in the audit log; a live refresh is not recorded again.
    agent
        .get_with(&format!("/conversations/{id}"), &[("HX-Request", "true")])
        .await;
    let opened: Vec<(String, String)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT actor, target FROM audit_log WHERE action = 'conversation.open' ORDER BY id")
        .fetch_all(p).await.unwrap());
    let target = format!("conversation:{id}");
    assert_eq!(
        opened,
        vec![
            ("sup@ngo.example".to_string(), target.clone()),
            ("agent@ngo.example".to_string(), target)
        ]
    );

    // A staff reply is activity too: it moves the conversation up the list.
    assert_eq!(
        ids_in(&agent.get("/conversations").await.body),
        [failed, id]
    );
    agent.get(&format!("/conversations/{id}")).await;
    let sent = agent
        .post(
            &format!("/conversations/{id}/messages"),
            &[("text", "Bonjour")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert_eq!(
        ids_in(&agent.get("/conversations").await.body),
        [id, failed]
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn staff_take_over_reply_and_hand_back_from_the_conversation_page(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let id = escalate(&app, PHONE).await;
    let mut agent = logged_in(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;
    let mut other = logged_in(&app, "other@ngo.example", BuiltinRole::Agent, None).await;
    agent.get(&format!("/conversations/{id}")).await;

    let taken = agent.post(&format!("/conversations/{id}/take"), &[]).await;
    assert_eq!(taken.status, StatusCode::SEE_OTHER, "{}", taken.body);
    // The bot is silent now.
    assert!(app.sandbox_say(PHONE, "Vous êtes là ?").await.is_empty());

    // Another agent sees it taken, and can neither take it nor write.
    let seen = other.get(&format!("/conversations/{id}")).await;
    assert!(
        seen.body.contains("Pris par <strong>agent</strong>"),
        "{}",
        seen.body
    );
    assert!(!seen.body.contains("Prendre la main"));
    let refused = other
        .post(
            &format!("/conversations/{id}/messages"),
            &[("text", "Bonjour")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("déjà pris"), "{}", refused.body);

    // The agent replies (htmx: the refreshed conversation, the box emptied).
    agent.get(&format!("/conversations/{id}")).await;
    let sent = agent
        .post_with_headers(
            &format!("/conversations/{id}/messages"),
            &[("text", "Bonjour, je suis Marie de l'équipe.")],
            &[("HX-Request", "true")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(
        sent.body
            .contains("Bonjour, je suis Marie de l&#39;équipe.")
            || sent
                .body
                .contains("Bonjour, je suis Marie de l&#x27;équipe."),
        "{}",
        sent.body
    );
    assert!(
        sent.body
            .contains("id=\"composer-text\" hx-swap-oob=\"true\""),
        "{}",
        sent.body
    );
    assert!(!sent.body.contains("<html"), "a fragment, not a page");

    // What the person writes now is kept for staff, as written.
    app.sandbox_say(PHONE, "Merci Marie").await;
    let page = agent.get(&format!("/conversations/{id}")).await;
    assert!(page.body.contains("Merci Marie"), "{}", page.body);
    assert!(page.body.contains("agent a pris la main"), "{}", page.body);

    // Hand back, continuing: the bot asks question 3 again.
    let back = agent
        .post(
            &format!("/conversations/{id}/release"),
            &[("how", "resume")],
        )
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let last_bot: String = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT body FROM messages WHERE conversation_id = $1 AND sender = 'bot' ORDER BY id DESC LIMIT 1")
        .bind(id).fetch_one(p).await.unwrap());
    assert!(last_bot.contains("année"), "{last_bot}");
    let page = agent.get(&format!("/conversations/{id}")).await;
    assert!(
        page.body.contains("a rendu la main au bot (il continue)"),
        "{}",
        page.body
    );
    // Handing back again: the bot already has it.
    let again = agent
        .post(
            &format!("/conversations/{id}/release"),
            &[("how", "resume")],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("Le bot a déjà"), "{}", again.body);

    // Put in the queue by staff, then taken and handed back from the start.
    let queued = agent.post(&format!("/conversations/{id}/queue"), &[]).await;
    assert_eq!(queued.status, StatusCode::SEE_OTHER);
    let list = agent.get("/conversations?mode=waiting").await;
    assert!(
        list.body.contains("signalée par l&#39;équipe")
            || list.body.contains("signalée par l&#x27;équipe"),
        "{}",
        list.body
    );
    agent.post(&format!("/conversations/{id}/take"), &[]).await;
    let mine = agent.get("/conversations?mine=1").await;
    assert!(mine.body.contains(&format!("/conversations/{id}")));
    agent
        .post(
            &format!("/conversations/{id}/release"),
            &[("how", "start_again")],
        )
        .await;
    let last_bot: String = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT body FROM messages WHERE conversation_id = $1 AND sender = 'bot' ORDER BY id DESC LIMIT 1")
        .bind(id).fetch_one(p).await.unwrap());
    assert!(last_bot.contains("nom de famille"), "{last_bot}");
}

#[apply(both_backends)]
#[tokio::test]
async fn a_reply_outside_the_24_hour_window_is_refused_with_the_reason(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let id = escalate(&app, PHONE).await;
    let long_ago = OffsetDateTime::now_utc() - time::Duration::hours(25);
    on_db!(&app.state.db, p => sqlx::query("UPDATE conversations SET last_inbound_at = $1 WHERE id = $2")
        .bind(long_ago).bind(id).execute(p).await.map(|_| ()).unwrap());
    let mut agent = logged_in(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;
    let page = agent.get(&format!("/conversations/{id}")).await;
    assert!(
        page.body.contains("Fenêtre de 24 h fermée"),
        "{}",
        page.body
    );
    let refused = agent
        .post(
            &format!("/conversations/{id}/messages"),
            &[("text", "Bonjour")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused.body.contains("Plus de 24 heures"),
        "{}",
        refused.body
    );
    let staff_messages: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages WHERE conversation_id = $1 AND sender = 'staff'")
        .bind(id).fetch_one(p).await.unwrap());
    assert_eq!(staff_messages, 0);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_search_by_code_finds_the_conversation_and_its_card(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let code = complete(&app, PHONE).await;
    let id = conversation_of(&app, PHONE).await;
    let mut agent = logged_in(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;
    for q in [code.clone(), code.to_lowercase(), format!(" {code} ")] {
        let found = agent
            .get(&format!("/conversations?q={}", urlencode(&q)))
            .await;
        assert_eq!(found.status, StatusCode::OK, "{q}");
        assert!(
            found.body.contains(&format!("/conversations/{id}")),
            "{q}: {}",
            found.body
        );
    }
    let with = agent.get("/conversations?uic=with").await;
    assert!(with.body.contains(&format!("/conversations/{id}")));
    let without = agent.get("/conversations?uic=without").await;
    assert!(!without.body.contains(&format!("/conversations/{id}\"")));
    let page = agent.get(&format!("/conversations/{id}")).await;
    assert!(page.body.contains("Code délivré"), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("<code class=\"uic\">{code}</code>")),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Donnée de test"),
        "a sandbox code is test data"
    );
    // Another code finds nothing.
    let none = agent.get("/conversations?q=AAAAAA0AA1").await;
    assert!(none.body.contains("Aucune conversation"), "{}", none.body);
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[apply(both_backends)]
#[tokio::test]
async fn the_list_pages_by_keyset_newest_activity_first(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = sandbox(&app).await;
    let tenant = app.default_tenant().await;
    let base = OffsetDateTime::now_utc() - time::Duration::days(1);
    // 120 conversations; some share their last activity (the id breaks ties).
    for i in 0..120i64 {
        let at = base + time::Duration::minutes(i / 3);
        uic_inbox::inbox::store::create(
            &app.state.db,
            tenant,
            account.id,
            &format!("+2439980{i:05}"),
            None,
            at,
        )
        .await
        .unwrap();
    }
    let mut agent = logged_in(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;
    let mut seen = Vec::new();
    let mut next = Some("/conversations".to_string());
    let mut pages = 0;
    while let Some(url) = next.take() {
        let page = agent.get(&url).await;
        assert_eq!(page.status, StatusCode::OK, "{url}");
        pages += 1;
        seen.extend(ids_in(&page.body));
        next = page
            .body
            .split("<a rel=\"next\" href=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(|s| s.replace("&amp;", "&"));
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 120, "every conversation once");
    let times: Vec<(OffsetDateTime, i64)> = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT last_message_at, id FROM conversations ORDER BY last_message_at DESC, id DESC")
        .fetch_all(p).await.unwrap());
    let expected: Vec<i64> = times.into_iter().map(|(_, id)| id).collect();
    assert_eq!(seen, expected, "newest activity first, no gap, no repeat");
}

/// The conversation ids a list page links to, in order.
fn ids_in(html: &str) -> Vec<i64> {
    html.split("<a href=\"/conversations/")
        .skip(1)
        .filter_map(|s| s.split('"').next()?.parse().ok())
        .collect()
}

#[apply(both_backends)]
#[tokio::test]
async fn another_accounts_or_tenants_staff_reach_none_of_it(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let id = escalate(&app, PHONE).await;
    let sandbox = sandbox(&app).await;
    let elsewhere = app
        .account_in(
            tenant,
            "programme-b",
            Provider::Sandbox,
            Some("+243990009999"),
            None,
        )
        .await;
    // An agent of the other account only.
    let mut scoped = logged_in(
        &app,
        "b@ngo.example",
        BuiltinRole::Agent,
        Some(elsewhere.id),
    )
    .await;
    // An administrator of another tenant.
    let other = uic_inbox::tenancy::store::ensure_tenant(&app.state.db, "other-ngo", "Other")
        .await
        .unwrap();
    app.staff_user(
        other,
        "stranger@other.example",
        Some(BuiltinRole::Administrator),
        None,
    )
    .await;
    let mut stranger = app.login("stranger@other.example").await;
    let code_phone = "+243990000777";
    let code = complete(&app, code_phone).await;
    for b in [&mut scoped, &mut stranger] {
        let list = b.get("/conversations").await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(ids_in(&list.body).is_empty(), "{}", list.body);
        let by_account = b
            .get(&format!("/conversations?account={}", sandbox.id))
            .await;
        assert_eq!(by_account.status, StatusCode::NOT_FOUND);
        let by_code = b.get(&format!("/conversations?q={code}")).await;
        assert!(ids_in(&by_code.body).is_empty());
        let page = b.get(&format!("/conversations/{id}")).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
        for action in ["take", "queue"] {
            let res = b.post(&format!("/conversations/{id}/{action}"), &[]).await;
            assert_eq!(res.status, StatusCode::NOT_FOUND, "{action}");
        }
        let res = b
            .post(
                &format!("/conversations/{id}/release"),
                &[("how", "resume")],
            )
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        let res = b
            .post(
                &format!("/conversations/{id}/messages"),
                &[("text", "Bonjour")],
            )
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        let badge = b.get("/conversations/badge").await;
        assert!(!badge.body.contains("badge"), "{}", badge.body);
    }
    // The stranger's administrator may search by number, and still finds nothing.
    let by_phone = stranger
        .get(&format!("/conversations?q={}", urlencode(PHONE)))
        .await;
    assert_eq!(by_phone.status, StatusCode::OK);
    assert!(ids_in(&by_phone.body).is_empty());
    // Nothing changed.
    let (mode, taken_by): (String, Option<i64>) = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT mode, taken_by FROM conversations WHERE id = $1").bind(id).fetch_one(p).await.unwrap());
    assert_eq!((mode.as_str(), taken_by), ("waiting", None));
}

#[apply(both_backends)]
#[tokio::test]
async fn hostile_input_gets_a_clear_answer_and_changes_nothing(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let id = escalate(&app, PHONE).await;
    let mut agent = logged_in(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;
    let mut observer = logged_in(&app, "obs@ngo.example", BuiltinRole::Observer, None).await;

    // An observer reads, but may not act.
    assert_eq!(
        observer.get(&format!("/conversations/{id}")).await.status,
        StatusCode::OK
    );
    let page = observer.get(&format!("/conversations/{id}")).await;
    assert!(!page.body.contains("Prendre la main"));
    assert_eq!(
        observer
            .post(&format!("/conversations/{id}/take"), &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        observer
            .post(&format!("/conversations/{id}/messages"), &[("text", "x")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    for q in [
        "mode=nothing",
        "account=abc",
        "uic=maybe",
        "mine=yes",
        "after=garbage",
        "after=1.-1",
        "q=hello%20world",
        "q=MBE%00IBR7DA1",
        "mode=wait%00ing",
        &format!("q={}", "A".repeat(10_000)),
    ] {
        let res = agent.get(&format!("/conversations?{q}")).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{q}: {}", res.body);
    }
    for path in [
        "/conversations/abc",
        "/conversations/99999999",
        "/conversations/-1",
        "/conversations/99999999999999999999999",
    ] {
        let res = agent.get(path).await;
        assert!(
            res.status == StatusCode::NOT_FOUND || res.status == StatusCode::BAD_REQUEST,
            "{path}: {}",
            res.status
        );
    }
    assert_eq!(
        agent
            .get(&format!("/conversations/{id}?before=x"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    let too_long = "é".repeat(10_000);
    for (text, expected) in [
        (too_long.as_str(), "4096"),
        ("   ", "vide"),
        ("\u{0}", "vide"),
    ] {
        let res = agent
            .post(&format!("/conversations/{id}/messages"), &[("text", text)])
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{text:?}");
        assert!(
            res.body.contains(expected) || res.body.contains("caractère"),
            "{text:?}: {}",
            res.body
        );
    }
    let res = agent
        .post(
            &format!("/conversations/{id}/release"),
            &[("how", "sideways")],
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    // None of it wrote anything.
    let (mode, staff_messages): (String, i64) = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT mode, (SELECT COUNT(*) FROM messages WHERE conversation_id = $1 AND sender = 'staff')
         FROM conversations WHERE id = $1").bind(id).fetch_one(p).await.unwrap());
    assert_eq!((mode.as_str(), staff_messages), ("waiting", 0));
}

#[apply(both_backends)]
#[tokio::test]
async fn a_numbers_waiting_limit_is_set_on_its_page_and_tells_the_person_in_time(
    #[case] backend: Backend,
) {
    use uic_inbox::inbox::waiting::notify_unattended;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let account = sandbox(&app).await;
    let id = escalate(&app, PHONE).await;
    let path = format!("/accounts/{}/waiting", account.id);
    let limit = |app: &TestApp| {
        let db = app.state.db.clone();
        async move {
            let minutes: i32 = on_db!(&db, p => sqlx::query_scalar(
                "SELECT waiting_limit_minutes FROM whatsapp_accounts WHERE slug = 'sandbox'")
                .fetch_one(p).await.unwrap());
            minutes
        }
    };
    assert_eq!(limit(&app).await, 240, "4 hours unless set");

    // An agent may not change it.
    let mut agent = logged_in(&app, "agent@ngo.example", BuiltinRole::Agent, None).await;
    assert_eq!(
        agent.post(&path, &[("minutes", "30")]).await.status,
        StatusCode::FORBIDDEN
    );
    let mut admin = logged_in(&app, "admin@ngo.example", BuiltinRole::Administrator, None).await;
    for bad in ["4", "10081", "abc", "", "2.5", "-10"] {
        let res = admin.post(&path, &[("minutes", bad)]).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(
            res.body.contains("entre 5 et 10080"),
            "{bad:?}: {}",
            res.body
        );
    }
    assert_eq!(limit(&app).await, 240);
    let saved = admin.post(&path, &[("minutes", "30")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(limit(&app).await, 30);
    let page = admin.get(&format!("/accounts/{}", account.id)).await;
    assert!(page.body.contains("value=\"30\""), "{}", page.body);

    // 29 minutes on, nobody is told; 31 minutes on, the person is, once.
    let escalated: OffsetDateTime = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT escalated_at FROM conversations WHERE id = $1").bind(id).fetch_one(p).await.unwrap());
    let s = &app.state;
    let told = |minutes: i64| {
        notify_unattended(
            &s.db,
            &s.config,
            &s.outbox,
            &s.live,
            escalated + time::Duration::minutes(minutes),
        )
    };
    assert_eq!(told(29).await.unwrap(), 0);
    assert_eq!(told(31).await.unwrap(), 1);
    assert_eq!(told(45).await.unwrap(), 0, "once per wait");
}
