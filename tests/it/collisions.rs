//! The collision review (issue 15) through the real server on both
//! databases: two phones register the same answers on a Twilio number whose
//! codes go to the fake DHIS-2; the code is held; a supervisor decides.
//! « Personnes différentes »: the first phone's code is released and synced,
//! the second phone gets the code and a letter, registered and synced as
//! its own tracked entity, and is told over WhatsApp (the fake Twilio sees
//! the message); completing the questions again gives it its own code, with
//! no new collision. « Même personne »: released, one record. Who may
//! decide, another tenant's ids, deciding twice, hostile input, numbers
//! masked without `contacts.view`, the audit.

use crate::both_backends;
use crate::dhis2_sync::{ANSWERS, env_for, wait_all};
use crate::fakes::dhis2::*;
use crate::fakes::twilio::{DEFAULT_ACCOUNT_SID, FakeTwilio, Inbound};
use crate::helpers::*;
use crate::staff::Browser;
use crate::twilio_outbox::PUBLIC;
use reqwest::StatusCode;
use rstest_reuse::apply;
use std::time::Duration;
use uic_inbox::auth::{BuiltinRole, Permission};
use uic_inbox::on_db;

const FIRST: &str = "+243990000011";
const SECOND: &str = "+243990000022";
const CODE: &str = "MBEIBR7DA1";

/// The app, the fake DHIS-2 its Twilio number's codes go to, and the fake
/// Twilio its outbox sends through.
async fn app_with_fakes(backend: Backend) -> Option<(TestApp, FakeDhis2, FakeTwilio)> {
    let dhis2 = FakeDhis2::start_standard(Version::V2_41).await;
    let twilio = FakeTwilio::start().await;
    let env = env_for(&dhis2);
    let base = twilio.base_url();
    let app = spawn_app_with(backend, |c| {
        c.dhis2 = Some(env);
        c.twilio_api_url = base;
        c.public_url = Some(PUBLIC.to_string());
        if let Some(t) = c.twilio.as_mut() {
            t.account_sid = DEFAULT_ACCOUNT_SID.into();
        }
    })
    .await?;
    twilio.route_public_url(PUBLIC, &app.address);
    Some((app, dhis2, twilio))
}

/// One message from `phone` through Twilio; the TwiML answer's texts.
async fn say(twilio: &FakeTwilio, phone: &str, text: &str) -> Vec<String> {
    let answer = twilio
        .post_inbound(
            &Inbound::text(phone, TWILIO_NUMBER, text),
            &format!("{PUBLIC}/whatsapp/webhook"),
        )
        .await;
    assert_eq!(answer.http_status, Some(200), "{}", answer.answer);
    answer.texts()
}

/// The five questions answered from `phone`; the last answer's texts.
async fn register_through(twilio: &FakeTwilio, phone: &str) -> Vec<String> {
    say(twilio, phone, "Bonjour").await;
    let mut last = Vec::new();
    for a in ANSWERS {
        last = say(twilio, phone, a).await;
    }
    last
}

async fn registration(app: &TestApp, uic: &str) -> i64 {
    on_db!(&app.state.db, p => sqlx::query_scalar("SELECT id FROM uic_registrations WHERE uic = $1")
        .bind(uic).fetch_one(p).await.unwrap())
}

/// (code, collision status, times seen, distinct from) of every
/// registration, in code order.
async fn registrations(app: &TestApp) -> Vec<(String, String, i32, Option<i64>)> {
    on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT uic, collision_status, times_seen, distinct_from FROM uic_registrations ORDER BY uic")
        .fetch_all(p).await.unwrap())
}

async fn conversation_code(app: &TestApp, phone: &str) -> (Option<String>, String) {
    on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT c.uic, CAST(c.flow_state AS TEXT) FROM conversations c JOIN contacts k ON k.id = c.contact_id
         WHERE k.phone = $1")
        .bind(phone).fetch_one(p).await.unwrap())
}

async fn audited(app: &TestApp) -> Vec<(String, String)> {
    on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT target, detail FROM audit_log WHERE action = 'uic.collision.decide' ORDER BY id")
        .fetch_all(p).await.unwrap())
}

async fn sent_to(twilio: &FakeTwilio, phone: &str, containing: &str) -> Vec<String> {
    for _ in 0..400 {
        let found: Vec<String> = twilio
            .sent_to(phone)
            .into_iter()
            .filter_map(|m| m.body)
            .filter(|b| b.contains(containing))
            .collect();
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Vec::new()
}

/// Two phones, one code, held before DHIS-2 saw it.
async fn held_collision(app: &TestApp, dhis2: &FakeDhis2, twilio: &FakeTwilio) -> i64 {
    dhis2.set_down(true);
    register_through(twilio, FIRST).await;
    register_through(twilio, SECOND).await;
    dhis2.set_down(false);
    crate::dhis2_sync::due_now(&app.state.db).await;
    wait_all(&app.state.db, 1, "held").await;
    assert!(dhis2.tracked_entities().is_empty());
    registration(app, CODE).await
}

#[apply(both_backends)]
#[tokio::test]
async fn different_people_the_second_phone_gets_its_own_code_synced_and_told_and_keeps_it(
    #[case] backend: Backend,
) {
    let Some((app, dhis2, twilio)) = app_with_fakes(backend).await else {
        return;
    };
    let id = held_collision(&app, &dhis2, &twilio).await;
    let mut supervisor = app
        .logged_in("sup@ngo.example", BuiltinRole::Supervisor)
        .await;

    // Listed, linked from the lookup and the /dhis2 held list, shown side
    // by side with the numbers in full (a supervisor has contacts.view).
    let list = supervisor.get("/uic/collisions").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains(CODE) && list.body.contains(&format!("/uic/collisions/{id}")));
    for page in ["/uic?q=mbeibr7da1", "/dhis2"] {
        let p = supervisor.get(page).await;
        assert!(p.body.contains(&format!("/uic/collisions/{id}")), "{page}");
    }
    let review = supervisor.get(&format!("/uic/collisions/{id}")).await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    assert!(review.body.contains(FIRST) && review.body.contains(SECOND));
    assert!(review.body.contains("value=\"different_people\""));
    // The five answers' times of each phone's run.
    assert_eq!(review.body.matches("<li>20").count(), 10, "{}", review.body);

    let decided = supervisor
        .post(
            &format!("/uic/collisions/{id}"),
            &[("decision", "different_people")],
        )
        .await;
    assert_eq!(decided.status, StatusCode::SEE_OTHER, "{}", decided.body);
    let split = format!("{CODE}B");

    // Two codes, each synced as its own tracked entity.
    wait_all(&app.state.db, 2, "synced").await;
    assert_eq!(dhis2.find_by_attribute(ATTR_UIC, CODE).len(), 1);
    assert_eq!(dhis2.find_by_attribute(ATTR_UIC, &split).len(), 1);
    assert_eq!(dhis2.tracked_entities().len(), 2);
    let regs = registrations(&app).await;
    assert_eq!(regs.len(), 2, "{regs:?}");
    assert_eq!((regs[0].0.as_str(), regs[0].1.as_str()), (CODE, "reviewed"));
    assert_eq!(
        (regs[1].0.as_str(), regs[1].1.as_str()),
        (split.as_str(), "none")
    );
    assert_eq!(regs[1].3, Some(id));

    // The second person is told their new code over WhatsApp; the first
    // is told nothing; neither is told of the other.
    let told = sent_to(&twilio, SECOND, &split).await;
    assert_eq!(told.len(), 1, "{:?}", twilio.sent_to(SECOND));
    assert!(told[0].contains("mis à jour"), "{}", told[0]);
    assert!(!told[0].contains(FIRST) && !told[0].contains("autre"));
    assert!(
        twilio.sent_to(FIRST).iter().all(|m| !m
            .body
            .clone()
            .unwrap_or_default()
            .contains("mis à jour"))
    );
    let (uic, state) = conversation_code(&app, SECOND).await;
    assert_eq!(uic.as_deref(), Some(split.as_str()));
    assert!(state.contains(&split), "{state}");
    assert_eq!(
        conversation_code(&app, FIRST).await.0.as_deref(),
        Some(CODE)
    );

    // Audited with the code and the decision, never a phone.
    let audit = audited(&app).await;
    assert_eq!(
        audit,
        vec![(
            format!("registration:{id}"),
            format!("{CODE} · different_people")
        )]
    );

    // Deciding twice: a precise 409, nothing written.
    let again = supervisor
        .post(
            &format!("/uic/collisions/{id}"),
            &[("decision", "same_person")],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(audited(&app).await.len(), 1);

    // Writing again, the second person is given their new code: what
    // they learn it by when the notice could not be sent (outside the
    // 24-hour window WhatsApp refuses it).
    let hello = say(&twilio, SECOND, "Bonjour").await;
    assert!(hello.iter().any(|t| t.contains(&split)), "{hello:?}");
    assert!(
        hello.iter().all(|t| !t.contains(&format!("{CODE}\n"))),
        "{hello:?}"
    );

    // The second phone completes the questions again: its own code, and no
    // new collision.
    say(&twilio, SECOND, "RECOMMENCER").await;
    let mut last = Vec::new();
    for a in ANSWERS {
        last = say(&twilio, SECOND, a).await;
    }
    assert!(last.iter().any(|t| t.contains(&split)), "{last:?}");
    let regs = registrations(&app).await;
    assert_eq!(regs.len(), 2, "{regs:?}");
    assert_eq!(regs[0].1, "reviewed");
    assert_eq!((regs[1].1.as_str(), regs[1].2), ("none", 2));
    assert_eq!(crate::dhis2_sync::jobs(&app.state.db).await.len(), 2);
    assert_eq!(
        conversation_code(&app, SECOND).await.0.as_deref(),
        Some(split.as_str())
    );

    // The lookup finds the code's later phone's code with it.
    let found = supervisor.get("/uic?q=MBEIBR7DA1").await;
    assert!(found.body.contains(&split), "{}", found.body);
    let found = supervisor
        .get(&format!("/uic?q={}", split.to_lowercase()))
        .await;
    assert!(found.body.contains(&split), "{}", found.body);
}

#[apply(both_backends)]
#[tokio::test]
async fn the_same_person_releases_one_record_and_only_once(#[case] backend: Backend) {
    let Some((app, dhis2, twilio)) = app_with_fakes(backend).await else {
        return;
    };
    let id = held_collision(&app, &dhis2, &twilio).await;
    let mut admin = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    let decided = admin
        .post(
            &format!("/uic/collisions/{id}"),
            &[("decision", "same_person")],
        )
        .await;
    assert_eq!(decided.status, StatusCode::SEE_OTHER, "{}", decided.body);
    wait_all(&app.state.db, 1, "synced").await;
    assert_eq!(dhis2.tracked_entities().len(), 1);
    let regs = registrations(&app).await;
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0].1, "reviewed");
    assert!(sent_to(&twilio, SECOND, "mis à jour").await.is_empty());
    let again = admin
        .post(
            &format!("/uic/collisions/{id}"),
            &[("decision", "different_people")],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(registrations(&app).await.len(), 1);
    assert_eq!(
        audited(&app).await,
        vec![(
            format!("registration:{id}"),
            format!("{CODE} · same_person")
        )]
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn only_reviewers_of_the_tenant_decide_hostile_input_changes_nothing_and_numbers_stay_masked(
    #[case] backend: Backend,
) {
    let Some((app, dhis2, twilio)) = app_with_fakes(backend).await else {
        return;
    };
    let id = held_collision(&app, &dhis2, &twilio).await;
    let tenant = app.default_tenant().await;
    let path = format!("/uic/collisions/{id}");
    let unchanged = |regs: Vec<(String, String, i32, Option<i64>)>| {
        assert_eq!(regs.len(), 1, "{regs:?}");
        assert_eq!(regs[0].1, "open");
    };

    // An agent has no uic.review.
    let mut agent = app.logged_in("agent@ngo.example", BuiltinRole::Agent).await;
    assert_eq!(
        agent.get("/uic/collisions").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(agent.get(&path).await.status, StatusCode::FORBIDDEN);
    let res = agent.post(&path, &[("decision", "different_people")]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(!agent.get("/").await.body.contains("/uic/collisions"));

    // Another tenant's administrator: not found, whatever is sent.
    let other = uic_inbox::tenancy::store::ensure_tenant(&app.state.db, "other-ngo", "Other")
        .await
        .unwrap();
    app.staff_user(
        other,
        "stranger@ngo.example",
        Some(BuiltinRole::Administrator),
        None,
    )
    .await;
    let mut stranger: Browser = app.login("stranger@ngo.example").await;
    assert_eq!(stranger.get(&path).await.status, StatusCode::NOT_FOUND);
    for decision in ["different_people", "same_person", "maybe"] {
        let res = stranger.post(&path, &[("decision", decision)]).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{decision}");
    }
    assert!(!stranger.get("/uic/collisions").await.body.contains(CODE));

    // Hostile input: a clear 4xx, never a 500, nothing written.
    let mut admin = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    let long = "d".repeat(10_000);
    for decision in ["different_people\0", long.as_str(), "", "\0"] {
        let res = admin.post(&path, &[("decision", decision)]).await;
        assert!(res.status.is_client_error(), "{}", res.status);
    }
    let long_id = "9".repeat(10_000);
    for bad in [
        "/uic/collisions/abc".to_string(),
        format!("/uic/collisions/{long_id}"),
        "/uic/collisions/%00".to_string(),
        "/uic/collisions/999999999".to_string(),
    ] {
        assert!(admin.get(&bad).await.status.is_client_error(), "{bad}");
        let res = admin.post(&bad, &[("decision", "same_person")]).await;
        assert!(res.status.is_client_error(), "{bad}");
    }
    for page in ["/uic/collisions?page=%00", "/uic/collisions?page=-1"] {
        assert_eq!(
            admin.get(page).await.status,
            StatusCode::BAD_REQUEST,
            "{page}"
        );
    }
    let long_page = format!("/uic/collisions?page={long_id}");
    assert_eq!(admin.get(&long_page).await.status, StatusCode::BAD_REQUEST);
    unchanged(registrations(&app).await);
    assert!(audited(&app).await.is_empty());

    // A reviewer without contacts.view sees no phone number.
    let observer = app
        .staff_user(tenant, "obs@ngo.example", Some(BuiltinRole::Observer), None)
        .await;
    uic_inbox::auth::store::set_override(
        &app.state.db,
        &users_manager(tenant),
        observer.id,
        Permission::UicReview,
        None,
        true,
    )
    .await
    .unwrap();
    let mut observer = app.login("obs@ngo.example").await;
    let review = observer.get(&path).await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    for number in [FIRST, SECOND] {
        assert!(!review.body.contains(&number[1..]), "{number} shown");
        assert!(!review.body.contains(&number[4..]), "{number} shown");
    }
    assert!(review.body.contains("*"));
    let list = observer.get("/uic/collisions").await;
    assert!(!list.body.contains(&FIRST[4..]) && !list.body.contains(&SECOND[4..]));
    unchanged(registrations(&app).await);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_code_flagged_by_dhis2_with_one_phone_cannot_be_split_only_sent(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    crate::dhis2_sync::register(&app, FIRST, ANSWERS).await;
    // DHIS-2 found another record with this code (E1064): flagged, one phone.
    on_db!(&app.state.db, p => sqlx::query(
        "UPDATE uic_registrations SET collision_status = 'open', collision_flagged_at = last_seen_at")
        .execute(p).await.unwrap().rows_affected());
    let id = registration(&app, CODE).await;
    let mut supervisor = app
        .logged_in("sup@ngo.example", BuiltinRole::Supervisor)
        .await;
    let path = format!("/uic/collisions/{id}");
    let res = supervisor
        .post(&path, &[("decision", "different_people")])
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert!(res.body.contains("Un seul téléphone"), "{}", res.body);
    assert_eq!(registrations(&app).await[0].1, "open");
    assert!(audited(&app).await.is_empty());
    let res = supervisor.post(&path, &[("decision", "same_person")]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(registrations(&app).await[0].1, "reviewed");
    let list = supervisor.get("/uic/collisions").await;
    assert!(!list.body.contains(CODE), "decided: no longer listed");
}
