//! The DHIS-2 pages through HTTP on both databases: the status page's
//! counts per number (another tenant's never shown), DHIS-2's messages
//! shown as text, « Relancer » and « Tout relancer », the supervisor's
//! decision on a possible collision, who may act and what another tenant's
//! ids get; a number's DHIS-2 settings form (saved, credential masked and
//! kept, bad and hostile values refused with nothing saved); the sync state
//! on the code card. Sync jobs are written with SQL: the worker is not
//! what is tested here.

use crate::both_backends;
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::staff::Browser;
use reqwest::StatusCode;
use rstest_reuse::apply;
use time::{Duration, OffsetDateTime};
use uic_inbox::auth::BuiltinRole;
use uic_inbox::on_db;
use uic_inbox::tenancy::{Provider, store as accounts};

/// A personal access token typed in the settings form.
const PAT_FOR_TESTS_TOKEN: &str = "d2pat_k3Yq8Rt2Lm9Zp0Xv7Wn4WXYZ";

/// A sync job written directly: a registration of `uic` on `account`, its
/// job in `state` (with DHIS-2's code and message), created `age` ago.
/// Returns the registration's id and the job's.
pub async fn insert_job(
    app: &TestApp,
    tenant: i64,
    account: i64,
    uic: &str,
    state: &str,
    error: Option<(&str, &str)>,
    age: Duration,
) -> (i64, i64) {
    let db = &app.state.db;
    let at = OffsetDateTime::now_utc() - age;
    let collision = if state == "held" { "open" } else { "none" };
    let registration: i64 = on_db!(db, p => sqlx::query_scalar(
        "INSERT INTO uic_registrations (tenant_id, uic, last_part, first_part, year_digit, city, gender,
            first_account_id, first_seen_at, last_seen_at, collision_status)
         VALUES ($1, $2, 'MB', 'IB', 7, 'KI', 1, $3, $4, $4, $5) RETURNING id")
        .bind(tenant).bind(uic).bind(account).bind(at).bind(collision).fetch_one(p).await.unwrap());
    let job = insert_job_of(app, tenant, account, registration, state, error, at).await;
    (registration, job)
}

/// The sync job of an existing registration.
pub async fn insert_job_of(
    app: &TestApp,
    tenant: i64,
    account: i64,
    registration: i64,
    state: &str,
    error: Option<(&str, &str)>,
    at: OffsetDateTime,
) -> i64 {
    let te = format!("Te{registration:09}");
    let en = format!("En{registration:09}");
    on_db!(&app.state.db, p => sqlx::query_scalar(
        "INSERT INTO dhis2_sync (tenant_id, account_id, registration_id, state, attempts, next_attempt_at,
            tracked_entity, enrollment, error_code, error_message, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 3, $5, $6, $7, $8, $9, $5, $5) RETURNING id")
        .bind(tenant).bind(account).bind(registration).bind(state).bind(at).bind(te).bind(en)
        .bind(error.map(|e| e.0)).bind(error.map(|e| e.1)).fetch_one(p).await.unwrap())
}

async fn job_state(app: &TestApp, job: i64) -> String {
    on_db!(&app.state.db, p => sqlx::query_scalar("SELECT state FROM dhis2_sync WHERE id = $1")
        .bind(job).fetch_one(p).await.unwrap())
}

/// `(target, detail)` of the audit entries of `action`, in order.
async fn audited(app: &TestApp, action: &str) -> Vec<(String, String)> {
    on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT target, detail FROM audit_log WHERE action = $1 ORDER BY id")
        .bind(action).fetch_all(p).await.unwrap())
}

/// A real (Twilio) number: a sandbox number's codes are test data, never
/// sent to DHIS-2 (the page says so instead of its counts' state).
async fn number(app: &TestApp, tenant: i64, slug: &str) -> i64 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let phone = format!("+24381{n:07}");
    app.account_in(tenant, slug, Provider::Twilio, Some(&phone), None)
        .await
        .id
}

async fn as_role(app: &TestApp, tenant: i64, email: &str, role: BuiltinRole) -> Browser {
    app.staff_user(tenant, email, Some(role), None).await;
    app.login(email).await
}

/// The count in a number's line of the status part, for one state.
fn count(body: &str, account: i64, state: &str) -> i64 {
    let row = body
        .split(&format!("<tr id=\"dhis2-number-{account}\">"))
        .nth(1)
        .unwrap_or_else(|| panic!("no line for number {account}: {body}"));
    let row = row.split("</tr>").next().unwrap();
    let cell = row
        .split(&format!("data-state=\"{state}\">"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {state} cell: {row}"));
    cell.split('<').next().unwrap().trim().parse().unwrap()
}

#[apply(both_backends)]
#[tokio::test]
async fn the_page_counts_each_state_per_number_and_shows_no_other_tenant(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let kinshasa = number(&app, tenant, "kinshasa").await;
    let lubumbashi = number(&app, tenant, "lubumbashi").await;
    let other = accounts::ensure_tenant(&app.state.db, "other-ngo", "Other")
        .await
        .unwrap();
    let elsewhere = number(&app, other, "elsewhere").await;
    let minute = Duration::minutes(1);
    // The oldest pending record waited 3 h 12 (and a few seconds, so that
    // the test's own time does not change the minute).
    let age = Duration::hours(3) + Duration::minutes(12) + Duration::seconds(20);
    let (_, pending) = insert_job(&app, tenant, kinshasa, "KIPEND0001", "pending", None, age).await;
    insert_job(
        &app,
        tenant,
        kinshasa,
        "KIPEND0002",
        "pending",
        None,
        minute,
    )
    .await;
    insert_job(
        &app,
        tenant,
        kinshasa,
        "KISYNC0001",
        "syncing",
        None,
        minute,
    )
    .await;
    insert_job(&app, tenant, kinshasa, "KIDONE0001", "synced", None, minute).await;
    let failed = ("E1018", "Attribute is mandatory");
    insert_job(
        &app,
        tenant,
        kinshasa,
        "KIFAIL0001",
        "failed",
        Some(failed),
        minute,
    )
    .await;
    let held = ("E1064", "Non-unique attribute value");
    insert_job(
        &app,
        tenant,
        kinshasa,
        "KIHELD0001",
        "held",
        Some(held),
        minute,
    )
    .await;
    insert_job(
        &app,
        tenant,
        lubumbashi,
        "LUPEND0001",
        "pending",
        None,
        minute,
    )
    .await;
    let theirs = ("E1018", "Their own failure");
    insert_job(
        &app,
        other,
        elsewhere,
        "OTHER00001",
        "failed",
        Some(theirs),
        minute,
    )
    .await;
    // Synced records are counted by the worker in dhis2_counts.
    let success = OffsetDateTime::now_utc() - Duration::hours(2);
    on_db!(&app.state.db, p => sqlx::query(
        "INSERT INTO dhis2_counts (account_id, tenant_id, synced, last_success_at) VALUES ($1, $2, 1, $3)")
        .bind(kinshasa).bind(tenant).bind(success).execute(p).await.map(|_| ()).unwrap());
    // Kinshasa is set up (off) and its server refused the credentials.
    on_db!(&app.state.db, p => sqlx::query(
        "INSERT INTO dhis2_settings (account_id, tenant_id, enabled, updated_at) VALUES ($1, $2, $3, $4)")
        .bind(kinshasa).bind(tenant).bind(false).bind(success).execute(p).await.map(|_| ()).unwrap());
    uic_inbox::dhis2::store::record_server(
        &app.state.db,
        kinshasa,
        Some("2.40.2"),
        Some("Identifiants refusés par DHIS-2 (401)"),
        success,
    )
    .await
    .unwrap();

    let mut supervisor = as_role(&app, tenant, "sup@ngo.example", BuiltinRole::Supervisor).await;
    let page = supervisor.get("/dhis2").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    for (state, n) in [
        ("pending", 2),
        ("syncing", 1),
        ("synced", 1),
        ("failed", 1),
        ("held", 1),
    ] {
        assert_eq!(count(body, kinshasa, state), n, "kinshasa {state}");
    }
    for (state, n) in [
        ("pending", 1),
        ("syncing", 0),
        ("synced", 0),
        ("failed", 0),
        ("held", 0),
    ] {
        assert_eq!(count(body, lubumbashi, state), n, "lubumbashi {state}");
    }
    assert!(body.contains("depuis 3 h 12"), "{body}");
    assert!(body.contains("2.40.2"), "{body}");
    assert!(body.contains("désactivé"), "{body}");
    assert!(body.contains("non réglé"), "{body}");
    // The tenant's sandbox number: never sent, nothing to set up.
    assert!(body.contains("bac à sable : jamais envoyé"), "{body}");
    assert!(
        body.contains("<div class=\"flash warning\" role=\"alert\"><strong>Envoi arrêté pour « kinshasa » :</strong> Identifiants refusés par DHIS-2 (401)"),
        "{body}"
    );
    assert!(body.contains("KIFAIL0001") && body.contains("Attribute is mandatory"));
    assert!(body.contains("KIHELD0001") && body.contains("E1064"));
    // The supervisor may set the numbers up and act.
    assert!(body.contains(&format!("href=\"/accounts/{kinshasa}#dhis2\">Régler</a>")));
    assert!(body.contains("action=\"/dhis2/retry\""));
    // Nothing of the other tenant.
    for theirs in ["elsewhere", "OTHER00001", "Their own failure"] {
        assert!(!body.contains(theirs), "{theirs} shown");
    }
    assert!(!body.contains(&format!("dhis2-number-{elsewhere}")));
    // The menu has the page.
    assert!(body.contains("href=\"/dhis2\""));

    // The status part alone, for htmx, refreshed every 5 s: the record
    // synced since shows without a reload.
    on_db!(&app.state.db, p => sqlx::query("UPDATE dhis2_sync SET state = 'synced' WHERE id = $1")
        .bind(pending).execute(p).await.map(|_| ()).unwrap());
    on_db!(&app.state.db, p => sqlx::query("UPDATE dhis2_counts SET synced = synced + 1 WHERE account_id = $1")
        .bind(kinshasa).execute(p).await.map(|_| ()).unwrap());
    for (path, headers) in [
        ("/dhis2", vec![("HX-Request", "true")]),
        ("/dhis2?part=status", vec![]),
    ] {
        let part = supervisor.get_with(path, &headers).await;
        assert_eq!(part.status, StatusCode::OK, "{path}");
        assert!(
            part.body.starts_with(
                "<section id=\"dhis2-status\" hx-get=\"/dhis2?part=status\" hx-trigger=\"every 5s\""
            ),
            "{path}: {}",
            part.body
        );
        assert!(!part.body.contains("<html"), "{path}");
        assert!(
            !part.body.contains("KIFAIL0001"),
            "{path}: the lists are not in the part"
        );
        assert_eq!(count(&part.body, kinshasa, "pending"), 1, "{path}");
        assert_eq!(count(&part.body, kinshasa, "synced"), 2, "{path}");
    }
    let bad = supervisor.get("/dhis2?part=everything").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // An agent has no DHIS-2 permission: no menu entry, no page.
    let mut agent = as_role(&app, tenant, "agent@ngo.example", BuiltinRole::Agent).await;
    let home = agent.get("/").await;
    assert!(!home.body.contains("href=\"/dhis2\""));
    assert_eq!(agent.get("/dhis2").await.status, StatusCode::FORBIDDEN);
}

#[apply(both_backends)]
#[tokio::test]
async fn a_dhis2_message_is_shown_as_text(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let kinshasa = number(&app, tenant, "kinshasa").await;
    let hostile = ("E1018<b>", "<script>alert('x')</script> & co");
    insert_job(
        &app,
        tenant,
        kinshasa,
        "KIFAIL0001",
        "failed",
        Some(hostile),
        Duration::ZERO,
    )
    .await;
    let mut observer = as_role(&app, tenant, "obs@ngo.example", BuiltinRole::Observer).await;
    let page = observer.get("/dhis2").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("<code>E1018&#60;b&#62;</code> &#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62; &#38; co"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert"));
    assert!(!page.body.contains("E1018<b>"));
}

#[apply(both_backends)]
#[tokio::test]
async fn retry_one_and_retry_all_requeue_failed_records_and_are_audited(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let kinshasa = number(&app, tenant, "kinshasa").await;
    let e = Some(("E1018", "Attribute is mandatory"));
    let d = Duration::minutes(5);
    let (_, one) = insert_job(&app, tenant, kinshasa, "KIFAIL0001", "failed", e, d).await;
    let (_, two) = insert_job(&app, tenant, kinshasa, "KIFAIL0002", "failed", e, d).await;
    let (_, three) = insert_job(&app, tenant, kinshasa, "KIFAIL0003", "failed", e, d).await;
    let (_, held) = insert_job(&app, tenant, kinshasa, "KIHELD0001", "held", e, d).await;
    let mut supervisor = as_role(&app, tenant, "sup@ngo.example", BuiltinRole::Supervisor).await;
    let page = supervisor.get("/dhis2").await;
    assert!(
        page.body
            .contains(&format!("action=\"/dhis2/jobs/{one}/retry\""))
    );

    let done = supervisor
        .post(&format!("/dhis2/jobs/{one}/retry"), &[])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/dhis2"));
    assert_eq!(job_state(&app, one).await, "pending");
    assert_eq!(job_state(&app, two).await, "failed");
    let attempts: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT CAST(attempts AS BIGINT) FROM dhis2_sync WHERE id = $1").bind(one).fetch_one(p).await.unwrap());
    assert_eq!(attempts, 0);
    assert_eq!(
        audited(&app, "dhis2.retry").await,
        vec![(format!("dhis2_sync:{one}"), "1".to_string())]
    );
    let page = supervisor.get("/dhis2").await;
    assert!(page.body.contains("Envois relancés : 1"), "{}", page.body);
    // Once more (a second click): it has not failed any more, nothing is
    // done, and the page says so.
    let again = supervisor
        .post(&format!("/dhis2/jobs/{one}/retry"), &[])
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let page = supervisor.get("/dhis2").await;
    assert!(
        page.body
            .contains("Cet envoi n&#39;est pas (ou plus) en échec."),
        "{}",
        page.body
    );
    assert_eq!(audited(&app, "dhis2.retry").await.len(), 1);

    let all = supervisor.post("/dhis2/retry", &[]).await;
    assert_eq!(all.status, StatusCode::SEE_OTHER);
    for job in [one, two, three] {
        assert_eq!(job_state(&app, job).await, "pending");
    }
    assert_eq!(job_state(&app, held).await, "held", "held is not failed");
    assert_eq!(
        audited(&app, "dhis2.retry").await,
        vec![
            (format!("dhis2_sync:{one}"), "1".to_string()),
            ("dhis2_sync:all".to_string(), "2".to_string()),
        ]
    );
    // Nothing left: « Tout relancer » says 0, never an error.
    let none = supervisor.post("/dhis2/retry", &[]).await;
    assert_eq!(none.status, StatusCode::SEE_OTHER);
    assert_eq!(audited(&app, "dhis2.retry").await[2].1, "0");
}

#[apply(both_backends)]
#[tokio::test]
async fn an_observer_sees_no_buttons_and_is_refused_every_change(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let kinshasa = number(&app, tenant, "kinshasa").await;
    let e = Some(("E1018", "Attribute is mandatory"));
    let d = Duration::minutes(5);
    let (_, failed) = insert_job(&app, tenant, kinshasa, "KIFAIL0001", "failed", e, d).await;
    let h = Some(("E1064", "Non-unique"));
    let (registration, held) = insert_job(&app, tenant, kinshasa, "KIHELD0001", "held", h, d).await;
    let mut observer = as_role(&app, tenant, "obs@ngo.example", BuiltinRole::Observer).await;
    let page = observer.get("/dhis2").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("KIFAIL0001") && page.body.contains("KIHELD0001"));
    for button in [
        "/dhis2/retry",
        "/dhis2/jobs/",
        "/decision",
        "Relancer",
        "Même personne",
        ">Régler<",
    ] {
        assert!(!page.body.contains(button), "{button} shown");
    }
    let posts = [
        (format!("/dhis2/jobs/{failed}/retry"), vec![]),
        ("/dhis2/retry".to_string(), vec![]),
        (
            format!("/dhis2/registrations/{registration}/decision"),
            vec![("decision", "same_person")],
        ),
    ];
    for (path, form) in &posts {
        let res = observer.post(path, form).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(job_state(&app, failed).await, "failed");
    assert_eq!(job_state(&app, held).await, "held");
    assert!(audited(&app, "dhis2.retry").await.is_empty());
    assert!(audited(&app, "dhis2.decision").await.is_empty());
}

#[apply(both_backends)]
#[tokio::test]
async fn another_tenants_ids_are_not_found_and_change_nothing(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let other = accounts::ensure_tenant(&app.state.db, "other-ngo", "Other")
        .await
        .unwrap();
    let elsewhere = number(&app, other, "elsewhere").await;
    let e = Some(("E1018", "Attribute is mandatory"));
    let d = Duration::minutes(5);
    let (_, failed) = insert_job(&app, other, elsewhere, "OTHER00001", "failed", e, d).await;
    let (registration, held) = insert_job(&app, other, elsewhere, "OTHER00002", "held", e, d).await;
    let mut admin = as_role(
        &app,
        tenant,
        "admin@ngo.example",
        BuiltinRole::Administrator,
    )
    .await;
    let retry = admin
        .post(&format!("/dhis2/jobs/{failed}/retry"), &[])
        .await;
    assert_eq!(retry.status, StatusCode::NOT_FOUND);
    for decision in ["same_person", "different_people", "maybe"] {
        let res = admin
            .post(
                &format!("/dhis2/registrations/{registration}/decision"),
                &[("decision", decision)],
            )
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{decision}");
    }
    // « Tout relancer » reaches only the admin's own tenant.
    let all = admin.post("/dhis2/retry", &[]).await;
    assert_eq!(all.status, StatusCode::SEE_OTHER);
    assert_eq!(job_state(&app, failed).await, "failed");
    assert_eq!(job_state(&app, held).await, "held");
    let decided: Option<String> = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT collision_decision FROM uic_registrations WHERE id = $1").bind(registration).fetch_one(p).await.unwrap());
    assert_eq!(decided, None);
    // Ids no row has: refused, never a server error.
    for id in ["0", "-1", "99999999999999999999999", "1%00", "abc"] {
        for path in [
            format!("/dhis2/jobs/{id}/retry"),
            format!("/dhis2/registrations/{id}/decision"),
        ] {
            let res = admin.post(&path, &[("decision", "same_person")]).await;
            assert!(
                res.status == StatusCode::NOT_FOUND || res.status == StatusCode::BAD_REQUEST,
                "{path}: {}",
                res.status
            );
        }
    }
    assert_eq!(
        audited(&app, "dhis2.retry").await,
        vec![("dhis2_sync:all".to_string(), "0".to_string())]
    );
    assert!(audited(&app, "dhis2.decision").await.is_empty());
}

#[apply(both_backends)]
#[tokio::test]
async fn a_same_person_decision_sends_the_record_and_different_people_keep_it_held(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let kinshasa = number(&app, tenant, "kinshasa").await;
    let h = Some(("E1064", "Non-unique attribute value"));
    let d = Duration::minutes(5);
    let (same, same_job) = insert_job(&app, tenant, kinshasa, "KIHELD0001", "held", h, d).await;
    let (diff, diff_job) = insert_job(&app, tenant, kinshasa, "KIHELD0002", "held", h, d).await;
    let mut supervisor = as_role(&app, tenant, "sup@ngo.example", BuiltinRole::Supervisor).await;
    let page = supervisor.get("/dhis2").await;
    assert!(
        page.body
            .contains(&format!("action=\"/dhis2/registrations/{same}/decision\""))
    );
    assert!(page.body.contains("Même personne : envoyer"));
    assert!(page.body.contains("Personnes différentes : retenir"));

    // A word that is not a decision changes nothing.
    for word in ["maybe", "", "SAME_PERSON"] {
        let res = supervisor
            .post(
                &format!("/dhis2/registrations/{same}/decision"),
                &[("decision", word)],
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{word:?}");
    }
    assert_eq!(job_state(&app, same_job).await, "held");

    let res = supervisor
        .post(
            &format!("/dhis2/registrations/{same}/decision"),
            &[("decision", "same_person")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let res = supervisor
        .post(
            &format!("/dhis2/registrations/{diff}/decision"),
            &[("decision", "different_people")],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);

    let registration = |id: i64| {
        let db = app.state.db.clone();
        async move {
            let row: (String, Option<String>) = on_db!(&db, p => sqlx::query_as(
                "SELECT collision_status, collision_decision FROM uic_registrations WHERE id = $1")
                .bind(id).fetch_one(p).await.unwrap());
            row
        }
    };
    assert_eq!(job_state(&app, same_job).await, "pending");
    assert_eq!(
        registration(same).await,
        ("reviewed".to_string(), Some("same_person".to_string()))
    );
    assert_eq!(job_state(&app, diff_job).await, "held");
    assert_eq!(
        registration(diff).await,
        ("reviewed".to_string(), Some("different_people".to_string()))
    );
    assert_eq!(
        audited(&app, "dhis2.decision").await,
        vec![
            (
                format!("registration:{same}"),
                "KIHELD0001 · same_person".to_string()
            ),
            (
                format!("registration:{diff}"),
                "KIHELD0002 · different_people".to_string()
            ),
        ]
    );
    // Held for two phones in the registry: « Personnes différentes » is
    // the collision review's (it gives the second person a code); here it
    // is refused and not offered.
    let two = Some(("collision", "Two phones registered this code"));
    let (pair, pair_job) = insert_job(&app, tenant, kinshasa, "KIHELD0003", "held", two, d).await;
    let page = supervisor.get("/dhis2").await;
    let row = &page.body[page
        .body
        .find(&format!("id=\"dhis2-held-{pair}\""))
        .unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(!row.contains("value=\"different_people\""), "{row}");
    assert!(
        row.contains(&format!("href=\"/uic/collisions/{pair}\"")),
        "{row}"
    );
    let res = supervisor
        .post(
            &format!("/dhis2/registrations/{pair}/decision"),
            &[("decision", "different_people")],
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert!(res.body.contains("page des collisions"), "{}", res.body);
    assert_eq!(job_state(&app, pair_job).await, "held");

    // The one kept held says why.
    let page = supervisor.get("/dhis2").await;
    assert!(
        page.body.contains("décidé : personnes différentes"),
        "{}",
        page.body
    );
    assert_eq!(count(&page.body, kinshasa, "held"), 2);
    assert_eq!(count(&page.body, kinshasa, "pending"), 1);
}

// ---------------------------------------------------------------- settings

/// An administrator who created the sandbox number `slug`, and its id.
async fn new_number(app: &TestApp, slug: &str) -> (Browser, i64) {
    let mut admin = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    let page = admin
        .post("/accounts", &[("slug", slug), ("name", slug)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let id = page
        .location
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (admin, id)
}

/// Complete settings, as typed.
fn full<'a>() -> Vec<(&'a str, &'a str)> {
    vec![
        ("enabled", "on"),
        ("base_url", "https://dhis2.example.org/dhis/"),
        ("auth_kind", "token"),
        ("username", ""),
        ("credential", PAT_FOR_TESTS_TOKEN),
        ("program", "IpHINAT79UW"),
        ("tracked_entity_type", "nEenWmSyUEp"),
        ("org_unit", "DiszpKrYNg8"),
        ("org_unit_map", "ki=DiszpKrYNg8\nLU=ImspTQPwCqd"),
        ("attr_uic", "ciuAttr0001"),
        ("attr_last", "lastAttr001"),
        ("attr_first", ""),
        ("attr_year", ""),
        ("attr_city", ""),
        ("attr_gender", ""),
    ]
}

/// `(enabled, base_url, program, org_unit_map, credential, credential_fp)`.
type Stored = (bool, String, String, String, Option<String>, Option<String>);

async fn stored(app: &TestApp, account: i64) -> Option<Stored> {
    on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT enabled, base_url, program, org_unit_map, credential, credential_fp
         FROM dhis2_settings WHERE account_id = $1")
        .bind(account).fetch_optional(p).await.unwrap())
}

#[apply(both_backends)]
#[tokio::test]
async fn the_settings_form_saves_masks_the_credential_and_keeps_it_when_left_empty(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (mut admin, id) = new_number(&app, "kinshasa").await;
    let page = admin.get(&format!("/accounts/{id}")).await;
    assert!(
        page.body
            .contains(&format!("action=\"/accounts/{id}/dhis2\""))
    );
    assert!(page.body.contains("id=\"dhis2-test\""));

    let res = admin.post(&format!("/accounts/{id}/dhis2"), &full()).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(
        res.location.as_deref(),
        Some(&*format!("/accounts/{id}#dhis2"))
    );
    let (enabled, url, program, map, sealed, fp) = stored(&app, id).await.unwrap();
    assert!(enabled);
    assert_eq!(url, "https://dhis2.example.org/dhis");
    assert_eq!(program, "IpHINAT79UW");
    assert_eq!(map, "KI=DiszpKrYNg8, LU=ImspTQPwCqd");
    let sealed = sealed.unwrap();
    assert!(!sealed.contains(PAT_FOR_TESTS_TOKEN), "sealed, not plain");

    let page = admin.get(&format!("/accounts/{id}")).await;
    assert!(page.body.contains("Réglages DHIS-2 enregistrés."));
    assert!(
        page.body.contains("enregistré, se termine par …WXYZ"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(PAT_FOR_TESTS_TOKEN));
    assert!(!page.body.contains("d2pat_k3Yq"));
    assert!(
        page.body
            .contains("value=\"https://dhis2.example.org/dhis\"")
    );
    assert!(
        page.body
            .contains("KI=DiszpKrYNg8\nLU=ImspTQPwCqd</textarea>")
    );
    let first = audited(&app, "dhis2.settings").await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, format!("account:{id}"));
    assert_eq!(
        first[0].1,
        "enabled, base_url, program, tracked_entity_type, org_unit, org_unit_map, attr_uic, attr_last · identifiant remplacé"
    );

    // The credential left empty is kept; another program is saved.
    let mut again = full();
    again.retain(|(k, _)| *k != "credential" && *k != "program");
    again.push(("credential", ""));
    again.push(("program", "WSGAb5XwJ3Y"));
    let res = admin.post(&format!("/accounts/{id}/dhis2"), &again).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let (_, _, program, _, kept, kept_fp) = stored(&app, id).await.unwrap();
    assert_eq!(program, "WSGAb5XwJ3Y");
    assert_eq!(kept.as_deref(), Some(sealed.as_str()));
    assert_eq!(kept_fp, fp);
    let audit = audited(&app, "dhis2.settings").await;
    assert_eq!(audit[1].1, "program");
    for (_, detail) in &audit {
        assert!(!detail.contains("d2pat"), "{detail}");
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn bad_settings_are_refused_naming_the_field_with_nothing_saved(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (mut admin, id) = new_number(&app, "kinshasa").await;
    admin.get(&format!("/accounts/{id}")).await;
    let cases = [
        (
            "program",
            "IpHINAT79U",
            "Programme : un identifiant DHIS-2 de 11 caractères",
        ),
        (
            "base_url",
            "ftp://dhis2.example.org",
            "Adresse du serveur DHIS-2 : une adresse http:// ou https://",
        ),
        (
            "org_unit_map",
            "KI=DiszpKrYNg8\nKINSHASA=ImspTQPwCqd",
            "Unités d&#39;organisation par code de ville, entrée 2 : le code de ville a deux lettres.",
        ),
        (
            "attr_gender",
            "gender",
            "Attribut du genre : un identifiant DHIS-2",
        ),
    ];
    for (field, value, message) in cases {
        let mut form = full();
        form.retain(|(k, _)| *k != field);
        form.push((field, value));
        let res = admin.post(&format!("/accounts/{id}/dhis2"), &form).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{field}");
        assert!(res.body.contains(message), "{field}: {}", res.body);
        assert!(
            res.body.contains("Réglages DHIS-2 non enregistrés"),
            "{field}"
        );
        // The problem is under its field, which is marked.
        assert!(res.body.contains(&format!("name=\"{field}\"")), "{field}");
        // What was typed is shown back, the credential never.
        assert!(!res.body.contains(PAT_FOR_TESTS_TOKEN), "{field}");
        assert_eq!(stored(&app, id).await, None, "{field}: nothing saved");
    }
    // Turned on without what sending needs.
    let res = admin
        .post(&format!("/accounts/{id}/dhis2"), &[("enabled", "on")])
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        res.body
            .contains("Programme : à remplir pour activer l&#39;envoi.")
    );
    assert_eq!(stored(&app, id).await, None);
    assert!(audited(&app, "dhis2.settings").await.is_empty());
}

#[apply(both_backends)]
#[tokio::test]
async fn the_settings_need_dhis2_manage_and_a_number_of_the_tenant(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, id) = new_number(&app, "kinshasa").await;
    let tenant = app.default_tenant().await;
    let mut observer = as_role(&app, tenant, "obs@ngo.example", BuiltinRole::Observer).await;
    let page = observer.get(&format!("/accounts/{id}")).await;
    assert!(
        page.body.contains("<h2 id=\"dhis2\">"),
        "dhis2.view sees the section"
    );
    assert!(
        !page
            .body
            .contains(&format!("action=\"/accounts/{id}/dhis2\""))
    );
    assert!(page.body.contains("Seuls ceux qui ont la permission"));
    let res = observer
        .post(&format!("/accounts/{id}/dhis2"), &full())
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    let mut agent = as_role(&app, tenant, "agent@ngo.example", BuiltinRole::Agent).await;
    let page = agent.get(&format!("/accounts/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("id=\"dhis2\""),
        "no DHIS-2 for an agent"
    );
    let res = agent.post(&format!("/accounts/{id}/dhis2"), &full()).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);

    let other = accounts::ensure_tenant(&app.state.db, "other-ngo", "Other")
        .await
        .unwrap();
    let mut stranger = as_role(
        &app,
        other,
        "boss@other.example",
        BuiltinRole::Administrator,
    )
    .await;
    let res = stranger
        .post(&format!("/accounts/{id}/dhis2"), &full())
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(stored(&app, id).await, None);
    assert!(audited(&app, "dhis2.settings").await.is_empty());
}

#[apply(both_backends)]
#[tokio::test]
async fn nul_bytes_and_huge_values_in_every_field_are_refused_with_400(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (mut admin, id) = new_number(&app, "kinshasa").await;
    admin.get(&format!("/accounts/{id}")).await;
    let huge = "a".repeat(10_000);
    let fields: Vec<&str> = full()
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| *k != "enabled")
        .collect();
    assert_eq!(fields.len(), 14);
    for field in fields {
        for bad in ["IpHI%00NAT79UW".to_string(), huge.clone()] {
            let encoded: String = full()
                .into_iter()
                .filter(|(k, _)| *k != field)
                .map(|(k, v)| {
                    format!(
                        "{k}={}&",
                        form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                    )
                })
                .collect();
            let res = admin
                .post_encoded(
                    &format!("/accounts/{id}/dhis2"),
                    &format!("{encoded}{field}={bad}"),
                )
                .await;
            assert_eq!(
                res.status,
                StatusCode::BAD_REQUEST,
                "{field} {}: {}",
                &bad[..8.min(bad.len())],
                res.body
            );
            assert_eq!(stored(&app, id).await, None, "{field}: nothing saved");
        }
    }
}

// ---------------------------------------------------------------- code card

#[apply(both_backends)]
#[tokio::test]
async fn the_code_card_shows_the_sync_state_to_dhis2_readers_only(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let phone = "+243990000777";
    for answer in ["Bonjour", "Mbengue", "Ibrahim", "1997", "DA", "1"] {
        app.sandbox_say(phone, answer).await;
    }
    let (registration, uic, conversation): (i64, String, i64) = on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT r.id, r.uic, (SELECT MAX(id) FROM conversations) FROM uic_registrations r")
        .fetch_one(p).await.unwrap());
    // A sandbox code is test data and never synced: made real here, with
    // the job a real number's code gets.
    on_db!(&app.state.db, p => sqlx::query("UPDATE uic_registrations SET test_data = $1 WHERE id = $2")
        .bind(false).bind(registration).execute(p).await.map(|_| ()).unwrap());
    let tenant = app.default_tenant().await;
    let sandbox = accounts::find_by_slug(&app.state.db, "sandbox")
        .await
        .unwrap()
        .unwrap()
        .id;
    let now = OffsetDateTime::now_utc();
    let job = insert_job_of(&app, tenant, sandbox, registration, "pending", None, now).await;

    let mut supervisor = as_role(&app, tenant, "sup@ngo.example", BuiltinRole::Supervisor).await;
    let path = format!("/conversations/{conversation}");
    let page = supervisor.get(&path).await;
    assert!(
        page.body
            .contains(&format!("<code class=\"uic\">{uic}</code>"))
    );
    assert!(
        page.body
            .contains("DHIS-2 : <span class=\"badge info\">en attente</span></p>"),
        "{}",
        page.body
    );

    on_db!(&app.state.db, p => sqlx::query(
        "UPDATE dhis2_sync SET state = 'synced', tracked_entity = 'PQfMcpmXeFE', linked = $2 WHERE id = $1")
        .bind(job).bind(true).execute(p).await.map(|_| ()).unwrap());
    let page = supervisor.get(&path).await;
    assert!(
        page.body.contains("DHIS-2 : <span class=\"badge success\">synchronisé</span> · entité suivie <code>PQfMcpmXeFE</code> (lié)"),
        "{}",
        page.body
    );

    on_db!(&app.state.db, p => sqlx::query(
        "UPDATE dhis2_sync SET state = 'failed', error_code = 'E1018', linked = $2 WHERE id = $1")
        .bind(job).bind(false).execute(p).await.map(|_| ()).unwrap());
    let page = supervisor.get(&path).await;
    assert!(
        page.body
            .contains("DHIS-2 : <span class=\"badge danger\">échec</span> · <code>E1018</code>"),
        "{}",
        page.body
    );

    // An agent has no dhis2.view: the card says nothing of DHIS-2.
    let mut agent = as_role(&app, tenant, "agent@ngo.example", BuiltinRole::Agent).await;
    let page = agent.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(&format!("<code class=\"uic\">{uic}</code>"))
    );
    assert!(!page.body.contains("DHIS-2 :"));
    assert!(!page.body.contains("E1018"));
}

#[apply(both_backends)]
#[tokio::test]
async fn a_supervisor_of_one_number_sees_and_acts_on_that_number_only(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let kinshasa = number(&app, tenant, "kinshasa").await;
    let lubumbashi = number(&app, tenant, "lubumbashi").await;
    let e = Some(("E1018", "Attribute is mandatory"));
    let h = Some(("E1064", "Non-unique"));
    let d = Duration::minutes(5);
    let (_, mine) = insert_job(&app, tenant, kinshasa, "KIFAIL0001", "failed", e, d).await;
    let (_, theirs) = insert_job(&app, tenant, lubumbashi, "LUFAIL0001", "failed", e, d).await;
    let (held, held_job) = insert_job(&app, tenant, lubumbashi, "LUHELD0001", "held", h, d).await;
    app.staff_user(
        tenant,
        "sup@ngo.example",
        Some(BuiltinRole::Supervisor),
        Some(kinshasa),
    )
    .await;
    let mut supervisor = app.login("sup@ngo.example").await;
    let page = supervisor.get("/dhis2").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&format!("dhis2-number-{kinshasa}")));
    assert!(!page.body.contains(&format!("dhis2-number-{lubumbashi}")));
    assert!(page.body.contains("KIFAIL0001"));
    assert!(!page.body.contains("LUFAIL0001") && !page.body.contains("LUHELD0001"));

    let res = supervisor
        .post(&format!("/dhis2/jobs/{theirs}/retry"), &[])
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = supervisor
        .post(
            &format!("/dhis2/registrations/{held}/decision"),
            &[("decision", "same_person")],
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = supervisor.post("/dhis2/retry", &[]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(job_state(&app, mine).await, "pending");
    assert_eq!(job_state(&app, theirs).await, "failed");
    assert_eq!(job_state(&app, held_job).await, "held");
    assert_eq!(
        audited(&app, "dhis2.retry").await,
        vec![("dhis2_sync:all".to_string(), "1".to_string())]
    );
}
