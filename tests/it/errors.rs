//! One error type, answered in the form the request asks for: a page for a
//! browser, a fragment for htmx (shown in the page's error area), JSON for
//! a machine; staff pages default to HTML, open endpoints to JSON.

use crate::helpers::{Backend, spawn_app};
use reqwest::StatusCode;
use rstest::rstest;
use uic_inbox::auth::BuiltinRole;

const BROWSER: (&str, &str) = ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8");
const JSON: (&str, &str) = ("Accept", "application/json");
const HTMX: (&str, &str) = ("HX-Request", "true");

#[rstest]
#[tokio::test]
async fn a_staff_refusal_is_a_page_a_fragment_or_json(#[values(Backend::Sqlite)] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut agent = app.logged_in("agent@ngo.example", BuiltinRole::Agent).await;

    for headers in [vec![], vec![BROWSER]] {
        let page = agent.get_with("/users", &headers).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(page.body.starts_with("<!doctype html>"), "{}", page.body);
        assert!(page.body.contains("<html lang=\"fr\">"), "{}", page.body);
        assert!(page.body.contains("pas la permission"), "{}", page.body);
        // The staff pages' headers are kept on their errors.
        assert!(page.headers.contains_key("content-security-policy"));
    }

    let fragment = agent.get_with("/users", &[HTMX]).await;
    assert_eq!(fragment.status, StatusCode::FORBIDDEN);
    assert_eq!(fragment.headers["hx-retarget"], "#errors");
    assert_eq!(fragment.headers["hx-reswap"], "innerHTML");
    assert!(!fragment.body.contains("<html"), "{}", fragment.body);
    assert!(
        fragment.body.contains("pas la permission"),
        "{}",
        fragment.body
    );

    let json = agent.get_with("/users", &[JSON]).await;
    assert_eq!(json.status, StatusCode::FORBIDDEN);
    let v: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(v["error"], "forbidden");

    // Another tenant's or a missing record: 404, in each form.
    let mut admin = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    let page = admin.get("/users/987654").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("<html lang=\"fr\">"), "{}", page.body);
    let json = admin.get_with("/users/987654", &[JSON]).await;
    assert_eq!(json.status, StatusCode::NOT_FOUND);
    assert!(serde_json::from_str::<serde_json::Value>(&json.body).is_ok());
}

#[rstest]
#[tokio::test]
async fn logging_in_is_asked_for_in_the_form_the_request_understands(
    #[values(Backend::Sqlite)] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut visitor = app.browser();
    let page = visitor.get_with("/users?x=1", &[BROWSER]).await;
    assert!(page.is_login_redirect(), "{:?}", page.location);
    assert_eq!(
        page.location.as_deref(),
        Some("/login?next=%2Fusers%3Fx%3D1")
    );
    let htmx = visitor.get_with("/users", &[HTMX]).await;
    assert_eq!(htmx.status, StatusCode::UNAUTHORIZED);
    assert_eq!(htmx.headers["hx-redirect"], "/login?next=%2Fusers");
    let json = visitor.get_with("/users", &[JSON]).await;
    assert_eq!(json.status, StatusCode::UNAUTHORIZED);
    assert!(json.body.contains("\"error\""), "{}", json.body);
}

#[rstest]
#[tokio::test]
async fn an_open_endpoint_answers_json_unless_a_browser_asks(
    #[values(Backend::Sqlite)] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let client = reqwest::Client::new();
    let url = format!("{}/whatsapp/webhook", app.address);
    let res = client.post(&url).body("x").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let v: serde_json::Value = res.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("Content-Type"), "{v}");
    let res = client
        .post(&url)
        .header(BROWSER.0, BROWSER.1)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body = res.text().await.unwrap();
    assert!(body.starts_with("<!doctype html>"), "{body}");
    assert!(body.contains("Content-Type"), "{body}");

    // An unknown path: a page for a browser, JSON otherwise.
    let res = client
        .get(format!("{}/nothing/here", app.address))
        .header(BROWSER.0, BROWSER.1)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().starts_with("<!doctype html>"));
    let res = client
        .get(format!("{}/nothing/here", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["error"], "no such page");
}
