//! The reports (issue 15): figures equal to a fixture counted by hand,
//! exports that parse back, no phone number without `contacts.view`,
//! hostile filters refused, and the sweep of idle runs under two
//! instances.

use crate::both_backends;
use crate::helpers::*;
use reqwest::StatusCode;
use rstest_reuse::apply;
use time::{Duration, OffsetDateTime};
use uic_inbox::auth::{Actor, BuiltinRole, Permission, Scope};
use uic_inbox::on_db;
use uic_inbox::report::{self, Funnel, Period};

/// The people of the fixture, on the Twilio number.
const P1: &str = "+243990000101";
const P2: &str = "+243990000102";
const P3: &str = "+243990000103";
const P4: &str = "+243990000104";
/// On the sandbox number: never counted.
const P5: &str = "+243990000105";

async fn say(app: &TestApp, phone: &str, n: &mut usize, text: &str) {
    *n += 1;
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    app.twilio_say(phone, &format!("SM{digits:0>20}{n:012x}"), text)
        .await;
}

/// Lives the fixture; returns the conversation escalated by P3.
///
/// Counted by hand:
/// - P1: welcome, Q1, Q2, a year not understood at Q3, then Q3 to Q5:
///   completed, 1 invalid answer at Q3.
/// - P2: welcome, Q1, Q2, then silence at Q3: left at Q3 (after the sweep).
/// - P3: welcome, Q1, AGENT at Q2: escalated (requested) at Q2; a staff
///   member then writes to them.
/// - P4: welcome, no letters at Q1 (not understood), RECOMMENCER, then all
///   five: completed, 1 invalid answer at Q1, 1 restart.
/// - P5 on the sandbox: completed, never counted.
///
/// So: 4 started, 2 completed, 1 escalated (at Q2), 1 left (at Q3),
/// 1 restart; asked Q1 4, Q2 4, Q3 3, Q4 2, Q5 2; not understood Q1 1,
/// Q3 1; 2 new codes.
async fn live_the_fixture(app: &TestApp) -> i64 {
    let mut n = 0;
    for t in [
        "Bonjour",
        "Mbengue",
        "Ibrahima",
        "l'an passé",
        "1997",
        "DA",
        "1",
    ] {
        say(app, P1, &mut n, t).await;
    }
    for t in ["Bonjour", "Kabongo", "Marie"] {
        say(app, P2, &mut n, t).await;
    }
    for t in ["Bonjour", "Ilunga", "AGENT"] {
        say(app, P3, &mut n, t).await;
    }
    for t in [
        "Bonjour",
        "123",
        "RECOMMENCER",
        "Kasongo",
        "Jean",
        "1985",
        "KI",
        "2",
    ] {
        say(app, P4, &mut n, t).await;
    }
    for t in ["Bonjour", "Mbengue", "Ibrahima", "1997", "DA", "1"] {
        app.sandbox_say(P5, t).await;
    }
    let db = &app.state.db;
    on_db!(db, p => sqlx::query_scalar(
        "SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id WHERE k.phone = $1")
        .bind(P3).fetch_one(p).await.unwrap())
}

fn expected_funnel(number: i64) -> Funnel {
    Funnel {
        number,
        started: 4,
        resumed: 0,
        completed: 2,
        escalated: 1,
        left: 1,
        restarts: 1,
        reached: [4, 4, 3, 2, 2],
        left_at: [0, 0, 1, 0, 0],
        escalated_at: [0, 1, 0, 0, 0],
        invalid: [1, 0, 1, 0, 0],
        completion: Default::default(),
    }
}

async fn twilio_id(app: &TestApp) -> (i64, String) {
    on_db!(&app.state.db, p => sqlx::query_as(
        "SELECT id, name FROM whatsapp_accounts WHERE slug = 'twilio'").fetch_one(p).await.unwrap())
}

#[apply(both_backends)]
#[tokio::test]
async fn the_report_equals_a_fixture_counted_by_hand(#[case] backend: Backend) {
    // The background adds nothing up meanwhile: the test does, when it
    // says.
    let Some(app) = spawn_app_with(backend, |c| {
        c.report_roll_every = std::time::Duration::from_secs(3600)
    })
    .await
    else {
        return;
    };
    let tenant = app.default_tenant().await;
    let escalated = live_the_fixture(&app).await;
    let (twilio, twilio_name) = twilio_id(&app).await;
    let supervisor = app
        .staff_user(
            tenant,
            "sup@ngo.example",
            Some(BuiltinRole::Supervisor),
            None,
        )
        .await;
    // What ended so far is added into its days before the staff member
    // writes: the reply then moves a rolled escalation to answered.
    let rolled = report::days::roll_all(&app.state.db).await.unwrap();
    assert!(
        rolled >= 5,
        "3 runs and 2 codes, and the sandbox's: {rolled}"
    );
    let mut s = app.login("sup@ngo.example").await;
    s.get(&format!("/conversations/{escalated}")).await;
    let sent = s
        .post(
            &format!("/conversations/{escalated}/messages"),
            &[("text", "Bonjour, je suis là")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);

    // P2's silence: the sweep ends the run after the session timeout
    // (30 minutes), once.
    let db = &app.state.db;
    let now = OffsetDateTime::now_utc();
    let ended = report::runs::sweep(db, &app.state.config, now + Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!(ended, 0, "not idle long enough");
    let ended = report::runs::sweep(db, &app.state.config, now + Duration::minutes(31))
        .await
        .unwrap();
    assert_eq!(ended, 1);
    let ended = report::runs::sweep(db, &app.state.config, now + Duration::minutes(40))
        .await
        .unwrap();
    assert_eq!(ended, 0, "ended once");

    let access = Actor::operator(tenant)
        .require(Permission::ReportsView, Scope::Tenant)
        .unwrap();
    let today = now.date();
    let r = report::figures::report(
        db,
        &access,
        Period {
            from: today,
            to: today,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        r.numbers.iter().map(|n| n.id).collect::<Vec<_>>(),
        [twilio],
        "never the sandbox number"
    );
    let [funnel] = r.funnel.as_slice() else {
        panic!("{:?}", r.funnel)
    };
    let times = &funnel.completion;
    assert_eq!(times.count(), 2, "the two codes given");
    assert!(times.median().is_some_and(|t| t < 600.0), "{times:?}");
    assert_eq!(
        Funnel {
            completion: Default::default(),
            ..funnel.clone()
        },
        expected_funnel(twilio)
    );
    assert_eq!(r.new_codes(twilio), 2);
    let [waits] = r.waits.as_slice() else {
        panic!("{:?}", r.waits)
    };
    assert_eq!(
        (waits.escalated, waits.requested, waits.unanswered),
        (1, 1, 0)
    );
    assert_eq!(waits.reply.count(), 1);
    // P2's run, ended by the sweep, is not rolled yet: once it is, the
    // report is the same.
    let unrolled: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM flow_runs WHERE rolled = FALSE").fetch_one(p).await.unwrap());
    assert_eq!(unrolled, 1);
    report::days::roll_all(db).await.unwrap();
    let rolled = report::figures::report(db, &access, r.period)
        .await
        .unwrap();
    assert_eq!(rolled.lines(), r.lines());
    assert_eq!((&rolled.funnel, &rolled.waits), (&r.funnel, &r.waits));
    let [queue] = r.queue.as_slice() else {
        panic!("{:?}", r.queue)
    };
    assert_eq!((queue.waiting, queue.held), (0, 1), "the reply took it");
    assert_eq!(queue.holders, [(supervisor.display_name.clone(), 1)]);
    // Yesterday's report counts none of it.
    let yesterday = today - Duration::days(1);
    let r0 = report::figures::report(
        db,
        &access,
        Period {
            from: yesterday,
            to: yesterday,
        },
    )
    .await
    .unwrap();
    assert_eq!(r0.funnel[0].started, 0);
    assert_eq!(r0.new_codes(twilio), 0);

    // The page says the same, in its tables.
    let page = s.get("/reports").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let row = format!(
        "<tr><td>{twilio_name}</td><td>4</td><td>2 (50 %)</td><td>1</td><td>1</td><td>1</td><td>0</td>"
    );
    assert!(page.body.contains(&row), "{row} in {}", page.body);
    for q in [
        "<tr><td>1</td><td>4</td><td>0</td><td>0</td><td>1</td></tr>",
        "<tr><td>2</td><td>4</td><td>0</td><td>1</td><td>0</td></tr>",
        "<tr><td>3</td><td>3</td><td>1</td><td>0</td><td>1</td></tr>",
        "<tr><td>5</td><td>2</td><td>0</td><td>0</td><td>0</td></tr>",
    ] {
        assert!(page.body.contains(q), "{q}");
    }
    assert!(
        page.body
            .contains(&format!("<tr><td>{twilio_name}</td><td>2</td></tr>"))
    );
    // Charts drawn, with bars.
    for id in ["chart-codes", "chart-funnel", "chart-sync"] {
        assert!(page.body.contains(&format!("id=\"{id}\"><svg")), "{id}");
    }
    assert!(!page.body.contains(P1) && !page.body.contains("990000101"));

    // The figures' export parses back into the report's own lines.
    let csv = s.get("/reports/figures.csv").await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let back: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let r30 = report::figures::report(db, &access, Period::parse("", "", today).unwrap())
        .await
        .unwrap();
    let lines: Vec<Vec<String>> = r30
        .lines()
        .into_iter()
        .map(|l| {
            vec![
                l.from,
                l.to,
                l.number,
                l.figure.to_string(),
                l.question.map(|q| q.to_string()).unwrap_or_default(),
                l.value,
            ]
        })
        .collect();
    assert_eq!(back, lines);
    let started = back
        .iter()
        .find(|l| l[2] == twilio_name && l[3] == "runs_started")
        .expect("a line per figure");
    assert_eq!(started[5], "4");

    // The registrations' export: the two real codes, with the phone
    // numbers for a supervisor (contacts.view).
    let regs = s.get("/reports/registrations.csv").await;
    assert_eq!(regs.status, StatusCode::OK);
    let mut reader = csv::Reader::from_reader(regs.body.as_bytes());
    assert_eq!(reader.headers().unwrap().get(8), Some("phone_numbers"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "{}", regs.body);
    let mut phones: Vec<&str> = rows.iter().map(|r| &r[8]).collect();
    phones.sort();
    assert_eq!(phones, [P1, P4]);
    assert!(rows.iter().all(|r| &r[1] == twilio_name.as_str()));
    // Each export is in the audit log.
    let exports: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'uic.export'").fetch_one(p).await.unwrap());
    assert_eq!(exports, 2);
}

#[apply(both_backends)]
#[tokio::test]
async fn no_phone_number_reaches_anyone_without_contacts_view(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    live_the_fixture(&app).await;
    let db = &app.state.db;
    // An observer: the reports, no export.
    app.staff_user(tenant, "obs@ngo.example", Some(BuiltinRole::Observer), None)
        .await;
    let mut o = app.login("obs@ngo.example").await;
    let page = o.get("/reports").await;
    assert_eq!(page.status, StatusCode::OK);
    for path in [
        "/reports/figures.csv",
        "/reports/monthly.csv",
        "/reports/registrations.csv",
    ] {
        assert_eq!(o.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    // A role that may export but not see phone numbers.
    let role = uic_inbox::auth::store::create_role(
        db,
        &access(tenant, Permission::RolesManage),
        "Exports",
        "",
        &[Permission::ReportsView, Permission::UicExport],
    )
    .await
    .unwrap()
    .unwrap();
    let exporter = app
        .staff_user(tenant, "export@ngo.example", None, None)
        .await;
    uic_inbox::auth::store::assign(db, &users_manager(tenant), exporter.id, role, None)
        .await
        .unwrap();
    let mut e = app.login("export@ngo.example").await;
    let mut bodies = vec![page.body, e.get("/reports").await.body];
    for path in [
        "/reports/figures.csv",
        "/reports/monthly.csv",
        "/reports/registrations.csv",
    ] {
        let res = e.get(path).await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        bodies.push(res.body);
    }
    let regs = bodies.last().unwrap();
    let mut reader = csv::Reader::from_reader(regs.as_bytes());
    assert_eq!(reader.headers().unwrap().len(), 8, "no phone column");
    assert_eq!(reader.records().count(), 2);
    for body in &bodies {
        for phone in [P1, P2, P3, P4, P5] {
            let digits = &phone[1..];
            assert!(!body.contains(digits), "{phone} in {body}");
        }
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn hostile_filters_get_a_precise_refusal_and_another_tenants_number_is_not_found(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
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
    let other = uic_inbox::tenancy::store::ensure_tenant(&app.state.db, "autre", "Autre ONG")
        .await
        .unwrap();
    let theirs = app
        .account_in(
            other,
            "autre-twilio",
            uic_inbox::tenancy::Provider::Twilio,
            Some("+15550001111"),
            Some("an-auth-token"),
        )
        .await;
    let sandbox: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT id FROM whatsapp_accounts WHERE slug = 'sandbox'").fetch_one(p).await.unwrap());
    let mut s = app.login("sup@ngo.example").await;
    let long = "9".repeat(10_000);
    let cases: Vec<(String, StatusCode, &str)> = vec![
        // Control characters: refused before any handler, naming the field.
        (
            "/reports?from=%00".into(),
            StatusCode::BAD_REQUEST,
            "« from » contient un caractère de contrôle",
        ),
        (
            format!("/reports?to={long}"),
            StatusCode::BAD_REQUEST,
            "Date illisible",
        ),
        (
            "/reports?from=2026-12-02&to=2026-12-01".into(),
            StatusCode::BAD_REQUEST,
            "avant son début",
        ),
        (
            "/reports?from=2024-01-01&to=2026-01-01".into(),
            StatusCode::BAD_REQUEST,
            "366 jours",
        ),
        (
            "/reports?account=abc".into(),
            StatusCode::BAD_REQUEST,
            "Numéro inconnu",
        ),
        (
            "/reports?account=%00".into(),
            StatusCode::BAD_REQUEST,
            "« account » contient un caractère de contrôle",
        ),
        (
            format!("/reports?account={long}"),
            StatusCode::BAD_REQUEST,
            "Numéro inconnu",
        ),
        (
            format!("/reports?account={}", theirs.id),
            StatusCode::NOT_FOUND,
            "",
        ),
        // The sandbox number is never in a report.
        (
            format!("/reports?account={sandbox}"),
            StatusCode::NOT_FOUND,
            "",
        ),
        (
            format!("/reports/figures.csv?account={}", theirs.id),
            StatusCode::NOT_FOUND,
            "",
        ),
        (
            "/reports/monthly.csv?month=2026-13".into(),
            StatusCode::BAD_REQUEST,
            "Mois illisible",
        ),
        (
            "/reports/monthly.csv?month=%00".into(),
            StatusCode::BAD_REQUEST,
            "« month » contient un caractère de contrôle",
        ),
        (
            "/reports/registrations.csv?from=x".into(),
            StatusCode::BAD_REQUEST,
            "Date illisible",
        ),
    ];
    for (path, status, says) in cases {
        let res = s.get(&path).await;
        assert_eq!(res.status, status, "{}", &path[..path.len().min(80)]);
        assert!(res.body.contains(says), "{says}: {}", res.body);
    }
    // An agent (no reports.view, no uic.export).
    let mut a = app.login("agent@ngo.example").await;
    for path in [
        "/reports",
        "/reports/figures.csv",
        "/reports/registrations.csv",
    ] {
        assert_eq!(a.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
    }
}

/// Two instances sweeping at once end each idle run once.
#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn two_instances_sweeping_at_once_end_each_run_once() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let mut n = 0;
    for i in 0..20 {
        let phone = format!("+2439900002{i:02}");
        for t in ["Bonjour", "Mbengue"] {
            say(&app, &phone, &mut n, t).await;
        }
    }
    let second = app.second_instance().await;
    let later = OffsetDateTime::now_utc() + Duration::hours(1);
    let (a, b) = tokio::join!(
        report::runs::sweep(&app.state.db, &app.state.config, later),
        report::runs::sweep(&second.state.db, &second.state.config, later),
    );
    assert_eq!(a.unwrap() + b.unwrap(), 20);
    let left: i64 = on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM flow_runs WHERE outcome = 'left' AND question = 2").fetch_one(p).await.unwrap());
    assert_eq!(left, 20);
}

/// Writes `n` ended runs of every kind on the Twilio number, in P1's
/// conversation, started over the last three days (a simple generator:
/// the same rows each time).
async fn write_runs(app: &TestApp, conversation: i64, n: u64) {
    let (twilio, _) = twilio_id(app).await;
    let tenant = app.default_tenant().await;
    let now = OffsetDateTime::now_utc();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let mut tx = app.state.db.begin().await.unwrap();
    for _ in 0..n {
        let outcome = ["completed", "escalated", "left"][next(3) as usize];
        let question = (outcome != "completed").then(|| 1 + next(5) as i16);
        let started = now - Duration::seconds(next(3 * 86_400) as i64);
        let ended = started + Duration::seconds(30 + next(7200) as i64);
        let replied = (outcome == "escalated" && next(2) == 0)
            .then(|| ended + Duration::seconds(next(50_000) as i64));
        let reason = (outcome == "escalated")
            .then(|| ["requested", "failed_answers", "media"][next(3) as usize]);
        uic_inbox::on_tx!(&mut tx, c => sqlx::query(
            "INSERT INTO flow_runs (tenant_id, account_id, conversation_id, test_data, started_at, ended_at,
                outcome, resumed, question, reached, invalid_1, invalid_3, restarts, escalation_reason,
                first_reply_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)")
            .bind(tenant).bind(twilio).bind(conversation).bind(next(10) == 0)
            .bind(started).bind(ended).bind(outcome).bind(next(8) == 0)
            .bind(question).bind(question.unwrap_or(5)).bind(next(3) as i16).bind(next(2) as i16)
            .bind(next(2) as i16).bind(reason).bind(replied)
            .execute(c).await.map(|_| ()).unwrap());
    }
    tx.commit().await.unwrap();
}

/// Two instances adding the figures up at once add each run and each code
/// once, and a report reads the same figures before and after.
#[apply(both_backends)]
#[tokio::test]
async fn two_instances_adding_up_at_once_count_each_run_and_code_once(#[case] backend: Backend) {
    let quiet = |c: &mut uic_inbox::config::Config| {
        c.report_roll_every = std::time::Duration::from_secs(3600)
    };
    let Some(app) = spawn_app_with(backend, quiet).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    live_the_fixture(&app).await;
    let db = &app.state.db;
    let p1: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT c.id FROM conversations c JOIN contacts k ON k.id = c.contact_id WHERE k.phone = $1")
        .bind(P1).fetch_one(p).await.unwrap());
    write_runs(&app, p1, 3000).await;
    crate::dhis2_sync::queue_registrations(db, 500).await;
    let rows: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM flow_runs) + (SELECT COUNT(*) FROM uic_registrations)")
        .fetch_one(p).await.unwrap());
    let access = Actor::operator(tenant)
        .require(Permission::ReportsView, Scope::Tenant)
        .unwrap();
    let today = OffsetDateTime::now_utc().date();
    let period = Period::parse("", "", today).unwrap();
    let before = report::figures::report(db, &access, period).await.unwrap();
    assert!(before.funnel[0].started > 2000, "{:?}", before.funnel[0]);
    assert!(before.waits[0].reply.count() > 100);

    let second = app.second_instance_with(quiet).await;
    // Small batches, so that the two take turns many times.
    let roll = |db: uic_inbox::db::Db| async move {
        let mut total = 0;
        loop {
            match report::days::roll(&db, 97).await.unwrap() {
                0 => return total,
                n => total += n,
            }
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(roll(db.clone())),
        tokio::spawn(roll(second.state.db.clone()))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a + b) as i64, rows, "each row once: {a} + {b}");
    if backend == Backend::Postgres {
        assert!(a > 0 && b > 0, "both took part: {a} + {b}");
    }
    let unrolled: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM flow_runs WHERE rolled = FALSE)
            + (SELECT COUNT(*) FROM uic_registrations WHERE rolled = FALSE)")
        .fetch_one(p).await.unwrap());
    assert_eq!(unrolled, 0);
    let after = report::figures::report(db, &access, period).await.unwrap();
    assert_eq!(after.lines(), before.lines());
    assert_eq!(
        (&after.funnel, &after.waits, &after.codes),
        (&before.funnel, &before.waits, &before.codes)
    );
}
