//! Issue 10, sessions, logins and proxies: open redirects, sessions older
//! than a password, links built from forged headers, proxies, throttling,
//! one-time links spent atomically, several instances on one database.

use crate::helpers::{Backend, spawn_app};
use crate::staff::PASSWORD;
use reqwest::StatusCode;
use rstest::rstest;
use uic_inbox::auth::BuiltinRole;
use uic_inbox::auth::store as auth_store;

#[rstest]
#[tokio::test]
async fn next_with_control_characters_stays_on_this_site(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    app.staff_user(tenant, "obs@ngo.example", Some(BuiltinRole::Observer), None)
        .await;
    for next in ["/\t/evil.example", "/\n/x", "/\r\n/x", "/\\evil.example"] {
        let mut b = app.browser();
        let page = b
            .get(&format!(
                "/login?next={}",
                percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
            ))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        let res = b
            .post(
                "/login",
                &[
                    ("email", "obs@ngo.example"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{next:?}: {}", res.body);
        assert_eq!(res.location.as_deref(), Some("/"), "{next:?}");
    }
}

#[rstest]
#[tokio::test]
async fn a_password_change_ends_sessions_opened_the_same_second(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let user = app
        .staff_user(
            tenant,
            "sup@ngo.example",
            Some(BuiltinRole::Supervisor),
            None,
        )
        .await;
    let mut phone = app.login("sup@ngo.example").await;
    assert_eq!(phone.get("/").await.status, StatusCode::OK);
    // The password changes a few microseconds after that login: in the same
    // second (the login time is written just after the session's).
    let login = auth_store::find_user(&app.state.db, user.id)
        .await
        .unwrap()
        .unwrap()
        .last_login_at
        .unwrap();
    uic_inbox::on_db!(&app.state.db, p => sqlx::query(
        "UPDATE users SET password_changed_at = $1 WHERE id = $2")
        .bind(login).bind(user.id).execute(p).await.map(|_| ()))
    .unwrap();
    assert!(
        phone.get("/").await.is_login_redirect(),
        "a session opened before the change ends"
    );
    // One opened after it works.
    assert_eq!(
        app.login("sup@ngo.example").await.get("/").await.status,
        StatusCode::OK
    );
}

#[rstest]
#[tokio::test]
async fn invitation_links_ignore_the_host_header(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let obs = app
        .staff_user(tenant, "obs@ngo.example", Some(BuiltinRole::Observer), None)
        .await;
    let b = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    let res = app
        .client
        .post(format!("{}/users/{}/link", app.address, obs.id))
        .header("Host", "evil.example")
        .header("X-Forwarded-Proto", "https")
        .header("Cookie", b.cookie.clone().unwrap())
        .header("X-CSRF-Token", b.csrf.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(!body.contains("evil.example"), "{body}");
    let base = format!("http://127.0.0.1:{}/invite/", app.port());
    assert!(body.contains(&base), "{base} not in {body}");
}
