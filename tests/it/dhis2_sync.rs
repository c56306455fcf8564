//! DHIS-2 synchronisation end to end: conversations on a real (Twilio)
//! number whose DHIS-2 settings come from the `DHIS2_*` variables, the
//! worker of the running server, and the fake DHIS-2 (written from the
//! wire reference) on a random port.

use crate::both_backends;
use crate::fakes::dhis2::*;
use crate::helpers::*;
use rstest_reuse::apply;
use std::time::{Duration, Instant};
use uic_inbox::config::Secret;
use uic_inbox::db::Db;
use uic_inbox::dhis2::env::Dhis2Env;
use uic_inbox::on_db;
use uic_inbox::uic::{Gender, Uic, UicParts};

/// The `DHIS2_*` settings of the standard fake DHIS-2.
pub(crate) fn env_for(fake: &FakeDhis2) -> Dhis2Env {
    Dhis2Env {
        enabled: true,
        base_url: fake.base_url(),
        auth_kind: "token".into(),
        credential: Some(Secret::new(STANDARD_PAT_TOKEN)),
        program: PROGRAM.into(),
        tracked_entity_type: PERSON_TYPE.into(),
        org_unit: ORG_UNIT.into(),
        attr_uic: ATTR_UIC.into(),
        attr_last: ATTR_LAST.into(),
        attr_first: ATTR_FIRST.into(),
        attr_year: ATTR_YEAR.into(),
        attr_city: ATTR_CITY.into(),
        attr_gender: ATTR_GENDER.into(),
        ..Dhis2Env::default()
    }
}

/// A server whose Twilio number sends its codes to `fake`.
pub(crate) async fn app_for(backend: Backend, fake: &FakeDhis2) -> Option<TestApp> {
    let env = env_for(fake);
    spawn_app_with(backend, |c| c.dhis2 = Some(env)).await
}

fn sid(phone: &str, n: usize) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    format!("SM{digits:0>20}{n:012x}")
}

/// A full conversation from `phone` on the Twilio number, answering the
/// five questions; the code issued.
pub(crate) async fn register(app: &TestApp, phone: &str, answers: [&str; 5]) {
    app.twilio_say(phone, &sid(phone, 0), "Bonjour").await;
    for (i, a) in answers.iter().enumerate() {
        app.twilio_say(phone, &sid(phone, i + 1), a).await;
    }
}

/// The sync jobs: (code, state, tracked entity, linked, error code,
/// attempts), in id order.
pub(crate) async fn jobs(db: &Db) -> Vec<(String, String, String, bool, Option<String>, i64)> {
    on_db!(db, p => sqlx::query_as(
        "SELECT r.uic, s.state, s.tracked_entity, s.linked, s.error_code, CAST(s.attempts AS BIGINT)
         FROM dhis2_sync s JOIN uic_registrations r ON r.id = s.registration_id ORDER BY s.id")
        .fetch_all(p).await.unwrap())
}

/// Waits (up to 30 s) until every job is in `state`, and there are `n`.
pub(crate) async fn wait_all(db: &Db, n: usize, state: &str) {
    let start = Instant::now();
    loop {
        let all = jobs(db).await;
        if all.len() == n && all.iter().all(|j| j.1 == state) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited for {n} jobs {state}: {:?}",
            all.iter().take(5).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until all `n` jobs are synced, making waiting jobs due at each
/// look: a batch sent while DHIS-2 was down can fail after the test brought
/// it back, and its backoff is not what these tests are about.
pub(crate) async fn wait_all_synced_nudging(db: &Db, n: usize) {
    let start = Instant::now();
    loop {
        due_now(db).await;
        let all = jobs(db).await;
        if all.len() == n && all.iter().all(|j| j.1 == "synced") {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waited for {n} jobs synced: {:?}",
            all.iter()
                .filter(|j| j.1 != "synced")
                .take(5)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Makes every waiting job due now (the backoff's timing is the sync
/// module's unit tests'; here, what happens when it is due).
pub(crate) async fn due_now(db: &Db) {
    on_db!(db, p => sqlx::query("UPDATE dhis2_sync SET next_attempt_at = $1 WHERE state = 'pending'")
        .bind(time::OffsetDateTime::now_utc()).execute(p).await.unwrap().rows_affected());
}

/// Waits until some job has been tried `n` times without success.
pub(crate) async fn wait_attempts(db: &Db, n: i64) {
    let start = Instant::now();
    loop {
        let all = jobs(db).await;
        if all.iter().any(|j| j.5 >= n && j.1 == "pending") {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{all:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) const PHONE: &str = "+243990000001";
pub(crate) const ANSWERS: [&str; 5] = ["MBE", "IBR", "7", "DA", "1"];

#[apply(both_backends)]
#[tokio::test]
async fn a_completed_conversation_creates_one_tracked_entity_with_its_attributes_and_enrollment(
    #[case] backend: Backend,
) {
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    let Some(app) = app_for(backend, &fake).await else {
        return;
    };
    register(&app, PHONE, ANSWERS).await;
    wait_all(&app.state.db, 1, "synced").await;

    let tes = fake.tracked_entities();
    assert_eq!(tes.len(), 1, "{tes:#?}");
    let te = &tes[0];
    let job = &jobs(&app.state.db).await[0];
    assert_eq!(te.uid, job.2, "the job keeps the tracked entity's UID");
    assert!(!job.3, "created, not linked");
    assert_eq!(te.tracked_entity_type, PERSON_TYPE);
    assert_eq!(te.org_unit, ORG_UNIT);
    // The type's attributes on the tracked entity, the program's on the
    // enrollment (reference C.2).
    let mut own = te.attributes.clone();
    own.sort();
    let mut expected = vec![
        (ATTR_UIC.to_string(), "MBEIBR7DA1".to_string()),
        (ATTR_GENDER.to_string(), "1".to_string()),
    ];
    expected.sort();
    assert_eq!(own, expected);
    assert_eq!(te.enrollments.len(), 1);
    let en = &te.enrollments[0];
    assert_eq!(en.program, PROGRAM);
    assert_eq!(en.status, "ACTIVE");
    assert_eq!(en.org_unit, ORG_UNIT);
    for (attr, value) in [
        (ATTR_LAST, "MBE"),
        (ATTR_FIRST, "IBR"),
        (ATTR_YEAR, "7"),
        (ATTR_CITY, "DA"),
    ] {
        assert_eq!(te.value_of(attr).as_deref(), Some(value), "{attr}");
    }
    // Authenticated with the token, never anything else.
    let requests = fake.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| format!("{:?}", r.auth).contains("Token")),
        "{requests:?}"
    );
    // Counted once.
    let synced: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT CAST(synced AS BIGINT) FROM dhis2_counts").fetch_one(p).await.unwrap());
    assert_eq!(synced, 1);
}

#[tokio::test]
async fn every_supported_version_gets_the_same_record() {
    for version in [Version::V2_38, Version::V2_39, Version::V2_40] {
        let fake = FakeDhis2::start_standard(version).await;
        let app = app_for(Backend::Sqlite, &fake).await.unwrap();
        register(&app, PHONE, ANSWERS).await;
        wait_all(&app.state.db, 1, "synced").await;
        let tes = fake.tracked_entities();
        assert_eq!(tes.len(), 1, "{version:?}");
        assert_eq!(tes[0].value_of(ATTR_UIC).as_deref(), Some("MBEIBR7DA1"));
        // The search sent the parameter names every version reads (C.5).
        let search = fake
            .requests()
            .into_iter()
            .find(|r| r.path.ends_with("/tracker/trackedEntities"))
            .expect("a search");
        assert!(
            search.query.contains("ouMode=ACCESSIBLE"),
            "{}",
            search.query
        );
        assert!(!search.query.contains("orgUnitMode"), "{}", search.query);
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn dhis2_down_for_the_first_attempts_then_synced_once_it_is_back_with_one_record(
    #[case] backend: Backend,
) {
    let fake = FakeDhis2::start_standard(Version::V2_40).await;
    fake.set_down(true);
    let Some(app) = app_for(backend, &fake).await else {
        return;
    };
    register(&app, PHONE, ANSWERS).await;
    let db = &app.state.db;
    wait_attempts(db, 1).await;
    due_now(db).await;
    wait_attempts(db, 2).await;
    let job = &jobs(db).await[0];
    assert_eq!(job.4.as_deref(), Some("network"), "{job:?}");
    // What stops the number is on its settings, for the page.
    let problem: Option<String> = on_db!(db, p => sqlx::query_scalar(
        "SELECT last_problem FROM dhis2_settings").fetch_one(p).await.unwrap());
    assert!(problem.is_some());

    // Then a 503 from a proxy in front.
    fake.set_down(false);
    fake.fail_next(1, 503);
    due_now(db).await;
    wait_attempts(db, 3).await;
    assert_eq!(jobs(db).await[0].4.as_deref(), Some("http_5xx"));

    due_now(db).await;
    wait_all(db, 1, "synced").await;
    assert_eq!(fake.tracked_entities().len(), 1);
    assert_eq!(fake.find_by_attribute(ATTR_UIC, "MBEIBR7DA1").len(), 1);
    let problem: Option<String> = on_db!(db, p => sqlx::query_scalar(
        "SELECT last_problem FROM dhis2_settings").fetch_one(p).await.unwrap());
    assert_eq!(problem, None, "a success clears the problem");
}

#[apply(both_backends)]
#[tokio::test]
async fn a_retry_after_a_lost_verdict_creates_no_second_record(#[case] backend: Backend) {
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    let Some(app) = app_for(backend, &fake).await else {
        return;
    };
    let db = &app.state.db;
    register(&app, PHONE, ANSWERS).await;
    wait_all(db, 1, "synced").await;
    let first = jobs(db).await[0].2.clone();
    // As if the worker had died after DHIS-2 wrote the record but before
    // the verdict was stored: the job is tried again.
    on_db!(db, p => sqlx::query("UPDATE dhis2_sync SET state = 'pending', next_attempt_at = $1")
        .bind(time::OffsetDateTime::now_utc()).execute(p).await.unwrap().rows_affected());
    wait_all(db, 1, "synced").await;
    let job = &jobs(db).await[0];
    assert_eq!(job.2, first);
    assert!(!job.3, "its own record found again is not a link");
    assert_eq!(fake.tracked_entities().len(), 1);
    assert_eq!(fake.tracked_entities()[0].enrollments.len(), 1);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_code_dhis2_already_has_is_linked_and_enrolled_not_created_again(
    #[case] backend: Backend,
) {
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    // Registered earlier by another system (or another NGO on the same
    // DHIS-2), not yet in this programme.
    const EXISTING: &str = "Gjaiu3ea38E";
    fake.add_tracked_entity(
        TrackedEntitySnapshot::new(EXISTING, PERSON_TYPE, ORG_UNIT_2)
            .attribute(ATTR_UIC, "MBEIBR7DA1")
            .attribute(ATTR_GENDER, "1"),
    );
    let Some(app) = app_for(backend, &fake).await else {
        return;
    };
    let db = &app.state.db;
    register(&app, PHONE, ANSWERS).await;
    wait_all(db, 1, "synced").await;
    let job = &jobs(db).await[0];
    assert_eq!(job.2, EXISTING);
    assert!(job.3, "linked");
    let tes = fake.tracked_entities();
    assert_eq!(tes.len(), 1, "{tes:#?}");
    assert_eq!(tes[0].enrollments.len(), 1);
    assert_eq!(tes[0].enrollments[0].program, PROGRAM);

    // The same code from a second phone: the registry flags a possible
    // collision, and DHIS-2 still has one record.
    register(&app, "+243990000002", ANSWERS).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(jobs(db).await.len(), 1);
    assert_eq!(fake.tracked_entities().len(), 1);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_validation_error_fails_with_dhis2s_message_and_a_retry_after_the_fix_succeeds(
    #[case] backend: Backend,
) {
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    fake.unassign_org_unit(PROGRAM, ORG_UNIT);
    let Some(app) = app_for(backend, &fake).await else {
        return;
    };
    let db = &app.state.db;
    register(&app, PHONE, ANSWERS).await;
    wait_all(db, 1, "failed").await;
    let (code, message): (Option<String>, Option<String>) = on_db!(db, p => sqlx::query_as(
        "SELECT error_code, error_message FROM dhis2_sync").fetch_one(p).await.unwrap());
    assert_eq!(code.as_deref(), Some("E1041"));
    assert!(message.unwrap().contains(ORG_UNIT));
    assert!(fake.tracked_entities().is_empty(), "nothing half-written");
    // Failed stays failed: no retry by itself.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(jobs(db).await[0].1, "failed");

    // The page shows it with DHIS-2's code and message.
    let mut supervisor = app
        .logged_in(
            "supervisor@ngo.example",
            uic_inbox::auth::BuiltinRole::Supervisor,
        )
        .await;
    let page = supervisor.get("/dhis2").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("E1041"), "{}", page.body);
    assert!(page.body.contains("MBEIBR7DA1"), "{}", page.body);
    assert!(page.body.contains(ORG_UNIT), "{}", page.body);

    // Fixed in DHIS-2, then « Tout relancer ».
    fake.assign_org_unit(PROGRAM, ORG_UNIT);
    let res = supervisor.post("/dhis2/retry", &[]).await;
    assert_eq!(res.status, 303, "{}", res.body);
    wait_all(db, 1, "synced").await;
    assert_eq!(fake.tracked_entities().len(), 1);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_possible_collision_is_held_until_a_supervisor_decides(#[case] backend: Backend) {
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    fake.set_down(true);
    let Some(app) = app_for(backend, &fake).await else {
        return;
    };
    let db = &app.state.db;
    // Two phones, one code, before DHIS-2 saw it.
    register(&app, PHONE, ANSWERS).await;
    register(&app, "+243990000002", ANSWERS).await;
    fake.set_down(false);
    due_now(db).await;
    wait_all(db, 1, "held").await;
    assert!(fake.tracked_entities().is_empty());
    let registration: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT id FROM uic_registrations").fetch_one(p).await.unwrap());

    let supervisor = access(1, uic_inbox::auth::Permission::Dhis2Manage);
    let now = time::OffsetDateTime::now_utc();
    let decided = uic_inbox::dhis2::store::decide(
        db,
        &supervisor,
        registration,
        uic_inbox::dhis2::Decision::SamePerson,
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        decided,
        uic_inbox::dhis2::store::Decided::Done("MBEIBR7DA1".into())
    );
    wait_all(db, 1, "synced").await;
    assert_eq!(fake.tracked_entities().len(), 1);
}

#[apply(both_backends)]
#[tokio::test]
async fn sandbox_codes_are_never_queued(#[case] backend: Backend) {
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    let Some(app) = app_for(backend, &fake).await else {
        return;
    };
    for text in ["Bonjour", "MBE", "IBR", "7", "DA", "1"] {
        app.sandbox_say(PHONE, text).await;
    }
    let issued: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM uic_registrations WHERE test_data").fetch_one(p).await.unwrap());
    assert_eq!(issued, 1, "the sandbox issued its code");
    assert!(jobs(&app.state.db).await.is_empty());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(fake.requests().is_empty(), "DHIS-2 was never asked");
}

/// `n` distinct registrations recorded as the message path records them
/// (registry and sync job in one transaction), on the Twilio number.
pub(crate) async fn queue_registrations(db: &Db, n: usize) -> Vec<String> {
    let account_id: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT id FROM whatsapp_accounts WHERE slug = 'twilio'").fetch_one(p).await.unwrap());
    let now = time::OffsetDateTime::now_utc();
    let mut codes = Vec::with_capacity(n);
    let mut tx = db.begin().await.unwrap();
    for i in 0..n {
        let letters = |k: usize| -> String {
            let a = b'A' + (k % 26) as u8;
            let b = b'A' + ((k / 26) % 26) as u8;
            let c = b'A' + ((k / 676) % 26) as u8;
            String::from_utf8(vec![a, b, c]).unwrap()
        };
        let parts = UicParts {
            last: letters(i),
            first: letters(i / 7 + 3),
            year_digit: (i % 10) as u8,
            city: "KI".into(),
            gender: Gender::from_digit(1 + (i % 2) as u8).unwrap(),
        };
        let uic = Uic::from_parts(&parts);
        let registration = uic_inbox::registry::store::record_issue(
            &mut tx,
            1,
            account_id,
            &uic,
            &parts,
            &format!("hash-{i}"),
            false,
            now,
        )
        .await
        .unwrap();
        uic_inbox::dhis2::store::enqueue(
            &mut tx,
            1,
            account_id,
            registration,
            &uic_inbox::dhis2::store::JobUids::generate(),
            now,
        )
        .await
        .unwrap();
        codes.push(uic.as_str().to_string());
    }
    tx.commit().await.unwrap();
    codes
}

#[apply(both_backends)]
#[tokio::test]
async fn a_thousand_registrations_queued_while_dhis2_is_down_all_sync_once_it_returns(
    #[case] backend: Backend,
) {
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    fake.set_down(true);
    let Some(app) = app_for(backend, &fake).await else {
        return;
    };
    let db = &app.state.db;
    let codes = queue_registrations(db, 1000).await;
    let distinct: std::collections::BTreeSet<&String> = codes.iter().collect();
    assert_eq!(distinct.len(), 1000);
    wait_attempts(db, 1).await;
    fake.set_down(false);
    wait_all_synced_nudging(db, 1000).await;

    let tes = fake.tracked_entities();
    assert_eq!(tes.len(), 1000, "none lost, none duplicated");
    let in_dhis2: std::collections::BTreeSet<String> =
        tes.iter().filter_map(|t| t.value_of(ATTR_UIC)).collect();
    let sent: std::collections::BTreeSet<String> = codes.into_iter().collect();
    assert_eq!(in_dhis2, sent);
    // Batched: far fewer imports than registrations.
    assert!(
        fake.import_count() <= 1000 / 50 + 5,
        "{}",
        fake.import_count()
    );
    let synced: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT CAST(synced AS BIGINT) FROM dhis2_counts").fetch_one(p).await.unwrap());
    assert_eq!(synced, 1000);
}

#[apply(both_backends)]
#[tokio::test]
async fn two_instances_sync_each_registration_once(#[case] backend: Backend) {
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    fake.set_latency(Duration::from_millis(20));
    fake.set_down(true);
    let Some(app) = app_for(backend, &fake).await else {
        return;
    };
    let env = env_for(&fake);
    let second = app.second_instance_with(|c| c.dhis2 = Some(env)).await;
    let db = &app.state.db;
    queue_registrations(db, 300).await;
    wait_attempts(db, 1).await;
    fake.set_down(false);
    wait_all_synced_nudging(db, 300).await;
    assert_eq!(fake.tracked_entities().len(), 300);
    // Both took part, or at least nothing was sent twice: every import's
    // objects were new.
    let claimed_by: Vec<String> = on_db!(&second.state.db, p => sqlx::query_scalar(
        "SELECT DISTINCT tracked_entity FROM dhis2_sync").fetch_all(p).await.unwrap());
    assert_eq!(claimed_by.len(), 300);
}

#[apply(both_backends)]
#[tokio::test]
async fn one_invalid_person_in_a_batch_fails_alone_and_is_not_half_written(
    #[case] backend: Backend,
) {
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    fake.set_down(true);
    // People of city DA go to an org unit the program does not have.
    let mut env = env_for(&fake);
    env.org_unit_map = format!("DA={ORG_UNIT_OUTSIDE}");
    let Some(app) = spawn_app_with(backend, |c| c.dhis2 = Some(env)).await else {
        return;
    };
    let db = &app.state.db;
    let codes = queue_registrations(db, 10).await;
    register(&app, PHONE, ANSWERS).await;
    wait_attempts(db, 1).await;
    fake.set_down(false);
    let start = Instant::now();
    loop {
        due_now(db).await;
        let all = jobs(db).await;
        if all.len() == 11 && all.iter().all(|j| j.1 == "synced" || j.1 == "failed") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{all:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = jobs(db).await;
    let failed: Vec<_> = all.iter().filter(|j| j.1 == "failed").collect();
    assert_eq!(failed.len(), 1, "{all:?}");
    assert_eq!(failed[0].0, "MBEIBR7DA1");
    assert_eq!(failed[0].4.as_deref(), Some("E1041"));
    let in_dhis2: std::collections::BTreeSet<String> = fake
        .tracked_entities()
        .iter()
        .filter_map(|t| t.value_of(ATTR_UIC))
        .collect();
    let expected: std::collections::BTreeSet<String> = codes.into_iter().collect();
    assert_eq!(in_dhis2, expected, "the ten others, not the invalid one");
    assert!(fake.find_by_attribute(ATTR_UIC, "MBEIBR7DA1").is_empty());
}

/// The settings form of the Twilio number as the environment set it, with
/// `changes` typed over it.
fn typed<'a>(changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("enabled", "on"),
        ("auth_kind", "token"),
        ("username", ""),
        ("credential", ""),
        ("program", PROGRAM),
        ("tracked_entity_type", PERSON_TYPE),
        ("org_unit", ORG_UNIT),
        ("org_unit_map", ""),
        ("attr_uic", ATTR_UIC),
        ("attr_last", ATTR_LAST),
        ("attr_first", ATTR_FIRST),
        ("attr_year", ATTR_YEAR),
        ("attr_city", ATTR_CITY),
        ("attr_gender", ATTR_GENDER),
    ];
    for (k, v) in changes {
        form.retain(|(f, _)| f != k);
        form.push((k, v));
    }
    form
}

#[apply(both_backends)]
#[tokio::test]
async fn the_test_button_says_what_is_right_and_names_what_is_wrong(#[case] backend: Backend) {
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    let Some(app) = app_for(backend, &fake).await else {
        return;
    };
    let id: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT id FROM whatsapp_accounts WHERE slug = 'twilio'").fetch_one(p).await.unwrap());
    let mut admin = app
        .logged_in(
            "admin@ngo.example",
            uic_inbox::auth::BuiltinRole::Administrator,
        )
        .await;
    let url = format!("/accounts/{id}/dhis2/test");
    let base = fake.base_url();

    // The stored credential (from the environment) with what is typed.
    let ok = admin.post(&url, &typed(&[("base_url", &base)])).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(
        ok.body.contains("Connexion et réglages bons"),
        "{}",
        ok.body
    );
    assert!(ok.body.contains("2.41.1"), "{}", ok.body);

    // A program DHIS-2 does not have: named.
    let missing = admin
        .post(
            &url,
            &typed(&[("base_url", &base), ("program", "Zz9NoSuchPr")]),
        )
        .await;
    assert!(missing.body.contains("À corriger"), "{}", missing.body);
    assert!(missing.body.contains("Zz9NoSuchPr"), "{}", missing.body);

    // An org unit outside the program: named.
    let outside = admin
        .post(
            &url,
            &typed(&[("base_url", &base), ("org_unit", ORG_UNIT_OUTSIDE)]),
        )
        .await;
    assert!(outside.body.contains(ORG_UNIT_OUTSIDE), "{}", outside.body);
    assert!(outside.body.contains("À corriger"), "{}", outside.body);

    // A token DHIS-2 refuses: said, and never shown back.
    let wrong = FakeDhis2::pat();
    let refused = admin
        .post(&url, &typed(&[("base_url", &base), ("credential", &wrong)]))
        .await;
    assert!(refused.body.contains("À corriger"), "{}", refused.body);
    assert!(!refused.body.contains(&wrong));

    // Unreachable.
    let down = admin
        .post(&url, &typed(&[("base_url", "http://127.0.0.1:9")]))
        .await;
    assert!(down.body.contains("À corriger"), "{}", down.body);

    // Typed settings that do not parse: the field, and nothing asked.
    let asked = fake.requests().len();
    let bad = admin
        .post(&url, &typed(&[("base_url", &base), ("program", "short")]))
        .await;
    assert!(bad.body.contains("Programme"), "{}", bad.body);
    assert_eq!(fake.requests().len(), asked);
    // Nothing was saved by any of it.
    let program: String = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT program FROM dhis2_settings WHERE account_id = $1").bind(id).fetch_one(p).await.unwrap());
    assert_eq!(program, PROGRAM);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_code_another_person_has_where_the_search_cannot_see_is_held_for_review(
    #[case] backend: Backend,
) {
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    // Someone DHIS-2 has with this code, in an org unit outside this
    // user's scope: the search does not find them, the unique attribute
    // refuses a second one (E1064).
    fake.add_tracked_entity(
        TrackedEntitySnapshot::new("Hx8somebody", PERSON_TYPE, ORG_UNIT_OUTSIDE)
            .attribute(ATTR_UIC, "MBEIBR7DA1")
            .attribute(ATTR_GENDER, "2"),
    );
    fake.set_capture_scope(Some(&[ORG_UNIT, ORG_UNIT_2]));
    let Some(app) = app_for(backend, &fake).await else {
        return;
    };
    let db = &app.state.db;
    register(&app, PHONE, ANSWERS).await;
    wait_all(db, 1, "held").await;
    assert_eq!(jobs(db).await[0].4.as_deref(), Some("E1064"));
    // In the registry's review queue too.
    let status: String = on_db!(db, p => sqlx::query_scalar(
        "SELECT collision_status FROM uic_registrations").fetch_one(p).await.unwrap());
    assert_eq!(status, "open");
    assert_eq!(fake.tracked_entities().len(), 1, "nothing written");
}

#[apply(both_backends)]
#[tokio::test]
async fn the_dhis2_credential_is_sealed_at_rest_and_never_in_a_page(#[case] backend: Backend) {
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    let Some(app) = app_for(backend, &fake).await else {
        return;
    };
    register(&app, PHONE, ANSWERS).await;
    wait_all(&app.state.db, 1, "synced").await;
    let raw = app.dump_database().await;
    assert!(
        !raw.contains(STANDARD_PAT_TOKEN),
        "the token is in the database dump"
    );
    let stored: String = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT credential FROM dhis2_settings").fetch_one(p).await.unwrap());
    let sealed = uic_inbox::secrets::Sealed::parse(&stored).expect("sealed");
    assert_eq!(sealed.key_id(), Ok(app.state.secrets.current_id()));
    // The number's page shows its last four characters only.
    let id: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT id FROM whatsapp_accounts WHERE slug = 'twilio'").fetch_one(p).await.unwrap());
    let mut admin = app
        .logged_in(
            "admin@ngo.example",
            uic_inbox::auth::BuiltinRole::Administrator,
        )
        .await;
    let page = admin.get(&format!("/accounts/{id}")).await;
    assert!(!page.body.contains(STANDARD_PAT_TOKEN));
    let last4 = &STANDARD_PAT_TOKEN[STANDARD_PAT_TOKEN.len() - 4..];
    assert!(page.body.contains(&format!("…{last4}")), "{}", page.body);
}
