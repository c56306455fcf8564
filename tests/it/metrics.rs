//! `GET /metrics`: counters move with what happens, labels hold no phone
//! number, and `METRICS_TOKEN` guards the page when set.

use crate::both_backends;
use crate::helpers::{Backend, TWILIO_NUMBER, TestApp, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use rstest_reuse::apply;
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
