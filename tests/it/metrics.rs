//! `GET /metrics`: counters move with what happens, labels hold no phone
//! number, `METRICS_TOKEN` guards the page when set, and the Grafana
//! dashboard draws exactly what the app exports.

use crate::both_backends;
use crate::helpers::{Backend, TWILIO_NUMBER, TestApp, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use rstest_reuse::apply;
use std::collections::{BTreeMap, BTreeSet};
use uic_inbox::config::Secret;
use uic_inbox::tenancy::Provider;

/// The page's text.
async fn scrape(app: &TestApp) -> String {
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    res.text().await.unwrap()
}

/// The value of the sample `name{labels}` (labels as the exporter writes
/// them, sorted by name), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

#[apply(both_backends)]
#[tokio::test]
async fn counters_follow_messages_codes_and_webhooks(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // An account of its own: other tests running at once do not move its
    // counters (the recorder is the process's).
    let slug = format!("metrics-{backend:?}").to_lowercase();
    let tenant = app.default_tenant().await;
    app.account_in(tenant, &slug, Provider::Sandbox, None, None)
        .await;
    let labels = format!("account=\"{slug}\",provider=\"sandbox\"");
    let in_series = format!("uic_messages_in_total{{{labels}}}");
    let out_series = format!("uic_messages_out_total{{{labels}}}");
    let codes = format!("uic_codes_issued_total{{account=\"{slug}\",test=\"true\"}}");
    let twilio = "uic_webhook_duration_seconds_count{provider=\"twilio\",status=\"2xx\"}";

    let before = scrape(&app).await;
    assert_eq!(sample(&before, &in_series), 0.0);
    let phone = "+243990001234";
    let mut answered = 0;
    for text in ["Bonjour", "Mbengue", "Ibrahim", "1997", "DA", "1"] {
        let body = app.sandbox_post(&slug, phone, text).await;
        answered += body["replies"].as_array().unwrap().len();
    }
    app.twilio_say(
        "+243990001235",
        "SM00000000000000000000000000000001",
        "Bonjour",
    )
    .await;
    let after = scrape(&app).await;
    assert_eq!(sample(&after, &in_series), 6.0, "{after}");
    assert_eq!(sample(&after, &out_series), answered as f64);
    assert!(answered >= 6);
    assert_eq!(sample(&after, &codes), 1.0, "{after}");
    assert!(sample(&after, twilio) >= sample(&before, twilio) + 1.0);
    // Histogram buckets, the outbox gauge for every status, the streams.
    assert!(after.contains(
        "uic_webhook_duration_seconds_bucket{provider=\"twilio\",status=\"2xx\",le=\"0.005\"}"
    ));
    for status in ["pending", "sending", "sent", "failed"] {
        assert!(
            after.contains(&format!("uic_outbox_messages{{status=\"{status}\"}}")),
            "{status}"
        );
    }
    assert!(after.contains("uic_live_streams"));
    // No phone number, in any form.
    for number in [phone, &phone[1..], "990001234", "990001235", TWILIO_NUMBER] {
        assert!(!after.contains(number), "{number} in the metrics");
    }

    // A staff member puts the conversation in the queue: an escalation,
    // flagged, of that number.
    let flagged =
        format!("uic_escalations_total{{account=\"{slug}\",reason=\"flagged\",test=\"true\"}}");
    assert_eq!(sample(&after, &flagged), 0.0);
    app.staff_user(
        tenant,
        "sup@ngo.example",
        Some(uic_inbox::auth::BuiltinRole::Supervisor),
        None,
    )
    .await;
    let id: i64 = uic_inbox::on_db!(&app.state.db, p => sqlx::query_scalar(
        "SELECT c.id FROM conversations c JOIN whatsapp_accounts a ON a.id = c.account_id WHERE a.slug = $1")
        .bind(&slug).fetch_one(p).await.unwrap());
    let mut s = app.login("sup@ngo.example").await;
    s.get(&format!("/conversations/{id}")).await;
    let queued = s.post(&format!("/conversations/{id}/queue"), &[]).await;
    assert_eq!(queued.status, StatusCode::SEE_OTHER, "{}", queued.body);
    // Again: already in the queue, not counted twice.
    s.post(&format!("/conversations/{id}/queue"), &[]).await;
    assert_eq!(sample(&scrape(&app).await, &flagged), 1.0);
}

#[tokio::test]
async fn a_metrics_token_guards_the_page() {
    let token = "metrics-token-0123456789abcdef";
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        c.metrics_token = Some(Secret::new(token))
    })
    .await
    else {
        return;
    };
    let ask = |auth: Option<String>| {
        let mut req = app.client.get(format!("{}/metrics", app.address));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        req.send()
    };
    for bad in [
        None,
        Some(String::new()),
        Some(format!("Basic {token}")),
        Some(format!("Bearer {}", &token[..token.len() - 1])),
        Some(format!("Bearer {token}x")),
        Some(format!("bearer {token}")),
    ] {
        let res = ask(bad.clone()).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        let body = res.text().await.unwrap();
        assert!(!body.contains("uic_"), "{bad:?}: {body}");
        assert!(!body.contains(token));
    }
    let res = ask(Some(format!("Bearer {token}"))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("uic_outbox_messages"));
}

#[apply(both_backends)]
#[tokio::test]
async fn the_dhis2_queue_its_failures_and_batch_time_are_exported(#[case] backend: Backend) {
    use crate::dhis2_sync::{ANSWERS, PHONE, app_for, register, wait_all};
    use crate::fakes::dhis2::*;
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    fake.unassign_org_unit(PROGRAM, ORG_UNIT);
    let Some(app) = app_for(backend, &fake).await else {
        return;
    };
    let before = sample(
        &scrape(&app).await,
        r#"uic_dhis2_failures_total{code="E1041",outcome="failed"}"#,
    );
    register(&app, PHONE, ANSWERS).await;
    wait_all(&app.state.db, 1, "failed").await;
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"uic_dhis2_jobs{state="failed"}"#),
        1.0,
        "{text}"
    );
    assert_eq!(sample(&text, r#"uic_dhis2_jobs{state="pending"}"#), 0.0);
    assert!(
        sample(
            &text,
            r#"uic_dhis2_failures_total{code="E1041",outcome="failed"}"#
        ) >= before + 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "uic_dhis2_batch_duration_seconds_count") >= 1.0,
        "{text}"
    );
    // Codes and states only: no code of a person, no number.
    assert!(!text.contains("MBEIBR7DA1"));
    assert!(!text.contains("243990000001"));
}

// ---- The Grafana dashboard (deploy/grafana/uic-inbox.json) ----

/// The bearer token of the dashboard test's app (`METRICS_TOKEN`).
const DASHBOARD_METRICS_TOKEN: &str = "dashboard-metrics-token-0123456789";

/// The metric names in a PromQL expression: the identifiers that start
/// with `uic_`, outside quoted label values.
fn names_in(expr: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in expr.chars().chain([' ']) {
        if quoted {
            quoted = c != '"';
            continue;
        }
        if ident(c) {
            word.push(c);
            continue;
        }
        if word.starts_with("uic_") {
            names.push(std::mem::take(&mut word));
        } else {
            word.clear();
        }
        quoted = c == '"';
    }
    names
}

/// Every metric name the dashboard's queries use: the panels' (rows
/// included) and the variables'.
fn dashboard_names() -> BTreeSet<String> {
    fn walk(v: &serde_json::Value, found: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    if let ("expr" | "definition" | "query", Some(text)) =
                        (key.as_str(), value.as_str())
                    {
                        found.extend(names_in(text));
                    }
                    walk(value, found);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, found)),
            _ => {}
        }
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/uic-inbox.json");
    let text = std::fs::read_to_string(path).expect("deploy/grafana/uic-inbox.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut found = BTreeSet::new();
    walk(&dashboard["panels"], &mut found);
    walk(&dashboard["templating"], &mut found);
    found
}

/// The metric families of a scrape, with their type: the `# TYPE` lines.
fn families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.strip_prefix("# TYPE ")?.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect()
}

/// The family a name of a query stands for: itself, or the histogram of
/// its `_bucket`, `_sum` or `_count` series.
fn family_of<'a>(name: &'a str, exported: &BTreeMap<String, String>) -> Option<&'a str> {
    if exported.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        (exported.get(base).map(String::as_str) == Some("histogram")).then_some(base)
    })
}

#[test]
fn metric_names_are_read_from_promql_without_labels_or_functions() {
    assert_eq!(
        names_in(
            r#"histogram_quantile(0.5, sum by (le) (rate(uic_a_bucket{account=~"uic_x"}[5m]))) / uic_b"#
        ),
        ["uic_a_bucket", "uic_b"]
    );
    assert_eq!(
        names_in("sum(not_uic_c) + max(uic_d:rate5m)"),
        ["uic_d:rate5m"]
    );
    let exported = families("# TYPE uic_h histogram\n# TYPE uic_c counter\nuic_c 1\n");
    assert_eq!(family_of("uic_h_bucket", &exported), Some("uic_h"));
    assert_eq!(family_of("uic_c", &exported), Some("uic_c"));
    assert_eq!(family_of("uic_c_count", &exported), None);
    assert_eq!(family_of("uic_gone", &exported), None);
}

/// The page's text, with the app's token.
async fn scrape_with_token(app: &TestApp) -> String {
    let res = app
        .client
        .get(format!("{}/metrics", app.address))
        .bearer_auth(DASHBOARD_METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

/// Scrapes until `done` says the page shows what was waited for (what the
/// workers do takes a moment).
async fn scrape_until(app: &TestApp, what: &str, done: impl Fn(&str) -> bool) -> String {
    for _ in 0..600 {
        let text = scrape_with_token(app).await;
        if done(&text) {
            return text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{what} never came");
}

#[apply(both_backends)]
#[tokio::test]
async fn the_dashboard_draws_every_metric_the_app_exports_and_no_other(#[case] backend: Backend) {
    use crate::dhis2_sync::{ANSWERS, PHONE, env_for, register, wait_all_synced_nudging};
    use crate::fakes::dhis2::{FakeDhis2, Version};
    use crate::fakes::twilio::{DEFAULT_ACCOUNT_SID, Failure, FakeTwilio};
    use uic_inbox::auth::{BuiltinRole, Permission, Scope};
    use uic_inbox::inbox::staff::{self, Acted};
    use uic_inbox::on_db;
    use uic_inbox::tenancy::store as accounts;

    let dhis2 = FakeDhis2::start_standard(Version::V2_41).await;
    let twilio = FakeTwilio::start().await;
    let Some(app) = spawn_app_with(backend, |c| {
        c.dhis2 = Some(env_for(&dhis2));
        c.twilio_api_url = twilio.base_url();
        if let Some(t) = c.twilio.as_mut() {
            t.account_sid = DEFAULT_ACCOUNT_SID.into();
        }
        c.metrics_token = Some(Secret::new(DASHBOARD_METRICS_TOKEN));
    })
    .await
    else {
        return;
    };
    let db = &app.state.db;

    // One full conversation: a code, sent to DHIS-2 once it answers again
    // (a sync attempt that failed first, then one that succeeded).
    dhis2.fail_next(1, 500);
    register(&app, PHONE, ANSWERS).await;
    scrape_until(&app, "a DHIS-2 failure", |t| {
        families(t).contains_key("uic_dhis2_failures_total")
    })
    .await;
    wait_all_synced_nudging(db, 1).await;

    // Another person asks for staff; a member's first reply is refused by
    // Twilio.
    let other = "+243990000002";
    app.twilio_say(other, "SM00000000000000000000000000000b01", "Bonjour")
        .await;
    app.twilio_say(other, "SM00000000000000000000000000000b02", "HUMAIN")
        .await;
    twilio.fail_next_sends(
        1,
        Failure::Api {
            status: 400,
            code: 21211,
        },
    );
    let tenant = app.default_tenant().await;
    let member = app
        .staff_user(
            tenant,
            "kasongo@ngo.example",
            Some(BuiltinRole::Supervisor),
            None,
        )
        .await;
    let access = uic_inbox::auth::store::actor(db, &member, None)
        .await
        .unwrap()
        .require(Permission::MessagesSend, Scope::AnyAccount)
        .unwrap();
    let waiting: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT id FROM conversations WHERE mode = 'waiting'").fetch_one(p).await.unwrap());
    let number = accounts::find_by_slug(db, "twilio").await.unwrap().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let acted = staff::send(
        db,
        &app.state.live,
        &access,
        &number,
        waiting,
        "Bonjour",
        now,
    )
    .await
    .unwrap();
    assert_eq!(acted, Acted::Done);
    app.state.outbox.wake();
    let refused = r#"uic_send_failures_total{account="twilio",provider="twilio",code="21211"}"#;
    scrape_until(&app, refused, |t| sample(t, refused) >= 1.0).await;

    // A third person stops at the second question; the sweep of idle runs
    // ends the run a day later.
    let gone = "+243990000003";
    app.twilio_say(gone, "SM00000000000000000000000000000c01", "Bonjour")
        .await;
    app.twilio_say(gone, "SM00000000000000000000000000000c02", "MBE")
        .await;
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    let ended = uic_inbox::report::runs::sweep(db, &app.state.config, later)
        .await
        .unwrap();
    assert_eq!(ended, 1);

    // A Meta number whose token expires in 30 days.
    let meta = app
        .account_in(
            tenant,
            "dashboard-meta",
            Provider::Meta,
            Some("243815550000"),
            None,
        )
        .await;
    on_db!(db, p => sqlx::query(
        "INSERT INTO token_life (account_id, tenant_id, kind, expires_at, updated_at)
         VALUES ($1, $2, 'long_lived', $3, $4)")
        .bind(meta.id).bind(tenant).bind(now + time::Duration::days(30)).bind(now)
        .execute(p).await.map(|_| ()).unwrap());

    let text = scrape_with_token(&app).await;
    let exported = families(&text);
    let drawn = dashboard_names();
    assert!(drawn.len() >= 15, "{drawn:?}");
    let mut drawn_families = BTreeSet::new();
    for name in &drawn {
        let family = family_of(name, &exported).unwrap_or_else(|| {
            panic!("the dashboard uses {name}, which the app does not export:\n{text}")
        });
        drawn_families.insert(family.to_string());
    }
    for family in exported.keys().filter(|f| f.starts_with("uic_")) {
        assert!(
            drawn_families.contains(family),
            "the app exports {family}, which the dashboard does not draw"
        );
    }
    // The new figures, with their labels (at least: the default number's
    // counters are shared with the tests running beside this one).
    for series in [
        r#"uic_flow_runs_total{account="twilio",outcome="completed",question="none",test="false"}"#,
        r#"uic_flow_runs_total{account="twilio",outcome="escalated",question="1",test="false"}"#,
        r#"uic_flow_runs_total{account="twilio",outcome="left",question="2",test="false"}"#,
        r#"uic_escalations_total{account="twilio",reason="requested",test="false"}"#,
        r#"uic_staff_wait_seconds_count{reason="requested",test="false"}"#,
        r#"uic_send_failures_total{account="twilio",provider="twilio",code="21211"}"#,
    ] {
        assert!(sample(&text, series) >= 1.0, "{series} not in:\n{text}");
    }
    let days = sample(&text, r#"uic_token_days_left{account="dashboard-meta"}"#);
    assert!((29.0..=30.0).contains(&days), "{days}: {text}");
    let pools: &[&str] = match backend {
        Backend::Sqlite => &["writer", "reader"],
        Backend::Postgres => &["main"],
    };
    for pool in pools {
        for state in ["in_use", "idle"] {
            let series = format!("uic_db_connections{{pool=\"{pool}\",state=\"{state}\"}}");
            assert!(text.contains(&series), "{series} not in:\n{text}");
        }
        assert!(sample(&text, &format!("uic_db_max_connections{{pool=\"{pool}\"}}")) >= 1.0);
    }
    // No number, no text typed.
    for secret in [
        PHONE,
        &PHONE[1..],
        other,
        &other[1..],
        gone,
        &gone[1..],
        "Bonjour",
        DASHBOARD_METRICS_TOKEN,
    ] {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }
}
