//! Issue 10, sessions, logins and proxies: open redirects, sessions older
//! than a password, links built from forged headers, proxies, throttling,
//! one-time links spent atomically, several instances on one database.

use crate::both_backends;
use crate::helpers::{Backend, spawn_app};
use crate::staff::PASSWORD;
use reqwest::StatusCode;
use rstest_reuse::apply;
use uic_inbox::auth::BuiltinRole;
use uic_inbox::auth::store as auth_store;

#[apply(both_backends)]
#[tokio::test]
async fn next_with_control_characters_stays_on_this_site(#[case] backend: Backend) {
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

#[apply(both_backends)]
#[tokio::test]
async fn a_password_change_ends_sessions_opened_the_same_second(#[case] backend: Backend) {
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

#[apply(both_backends)]
#[tokio::test]
async fn invitation_links_ignore_the_host_header(#[case] backend: Backend) {
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

/// Sends `req` to the app as if it came from `peer` (the socket's address),
/// without a socket: the status and body.
async fn from_peer(
    app: &crate::helpers::TestApp,
    peer: &str,
    req: axum::http::Request<axum::body::Body>,
) -> (StatusCode, String) {
    use tower::ServiceExt;
    let mut req = req;
    let peer: std::net::SocketAddr = peer.parse().unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    let res = uic_inbox::router(app.state.clone())
        .oneshot(req)
        .await
        .unwrap();
    let status = StatusCode::from_u16(res.status().as_u16()).unwrap();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn sandbox_request(forwarded_for: Option<&str>) -> axum::http::Request<axum::body::Body> {
    let mut b = axum::http::Request::post("/sandbox/sandbox/messages")
        .header("content-type", "application/json");
    if let Some(f) = forwarded_for {
        b = b.header("x-forwarded-for", f);
    }
    b.body(axum::body::Body::from(
        r#"{"from":"+243990000001","text":"bonjour"}"#,
    ))
    .unwrap()
}

#[apply(both_backends)]
#[tokio::test]
async fn the_sandbox_answers_only_this_machine_whatever_x_forwarded_for_says(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // A container next door claiming to be this machine.
    let (status, body) =
        from_peer(&app, "172.18.0.3:40000", sandbox_request(Some("127.0.0.1"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = from_peer(&app, "[fd00::7]:40000", sandbox_request(Some("::1"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Relayed by a proxy on this machine: from anyone.
    let (status, _) = from_peer(&app, "127.0.0.1:40000", sandbox_request(Some("127.0.0.1"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // This machine itself.
    let (status, body) = from_peer(&app, "127.0.0.1:40000", sandbox_request(None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[apply(both_backends)]
#[tokio::test]
async fn x_forwarded_for_from_an_untrusted_peer_does_not_escape_the_throttle(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // A session and its login token, as a browser would have them.
    let mut b = app.browser();
    b.get("/login").await;
    let cookie = b.cookie.clone().unwrap();
    let csrf = b.csrf.clone().unwrap();
    let mut last = StatusCode::OK;
    for i in 0..21 {
        let body = crate::helpers::form_body(&[
            ("_csrf", &csrf),
            ("email", &format!("nobody{i}@ngo.example")),
            ("password", "whatever pw"),
        ]);
        let req = axum::http::Request::post("/login")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", &cookie)
            // A new made-up address each time.
            .header("x-forwarded-for", format!("41.243.0.{i}"))
            .body(axum::body::Body::from(body))
            .unwrap();
        last = from_peer(&app, "172.18.0.3:40000", req).await.0;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

/// A login attempt from `ip` (the proxy on this machine says so in
/// X-Forwarded-For, which is believed from loopback): its status.
async fn login_from(app: &crate::helpers::TestApp, ip: &str, email: &str, pw: &str) -> StatusCode {
    let mut b = app.browser();
    b.get("/login").await;
    let mut req = app
        .client
        .post(format!("{}/login", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", ip)
        .body(crate::helpers::form_body(&[
            ("_csrf", &b.csrf.clone().unwrap_or_default()),
            ("email", email),
            ("password", pw),
        ]));
    if let Some(c) = &b.cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap().status()
}

#[apply(both_backends)]
#[tokio::test]
async fn strangers_failing_cannot_lock_the_platform_administrator_out(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let admin = app
        .staff_user(
            tenant,
            "root@ngo.example",
            Some(BuiltinRole::Administrator),
            None,
        )
        .await;
    app.make_platform_admin(admin.id).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(
            login_from(
                &app,
                "41.243.7.7",
                "root@ngo.example",
                &format!("guess {i}"),
            )
            .await,
        );
    }
    // The stranger's address waits...
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert_eq!(
        login_from(&app, "41.243.7.7", "root@ngo.example", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...the administrator, elsewhere, gets in with the right password.
    assert_eq!(
        login_from(&app, "197.157.1.1", "root@ngo.example", PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    // Which does not lift the stranger's wait.
    assert_eq!(
        login_from(&app, "41.243.7.7", "root@ngo.example", "guess 7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn throttling_counts_per_name_and_address_over_an_injected_clock(#[case] backend: Backend) {
    use time::{Duration, OffsetDateTime};
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let db = &app.state.db;
    // PostgreSQL keeps microseconds.
    let now = OffsetDateTime::now_utc();
    let t0 = now
        .replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap();
    let e = "who@ngo.example";
    for i in 0..5 {
        auth_store::record_failure(db, e, "10.1.1.1", t0 + Duration::seconds(i))
            .await
            .unwrap();
    }
    let here = auth_store::throttle(db, e, "10.1.1.1", t0 + Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!(
        here.locked_until,
        Some(t0 + auth_store::THROTTLE_WINDOW),
        "5 failures from one address lock that pair"
    );
    let elsewhere = auth_store::throttle(db, e, "10.2.2.2", t0 + Duration::seconds(5))
        .await
        .unwrap();
    assert_eq!(
        elsewhere.locked_until, None,
        "another address is not locked"
    );
    assert!(
        elsewhere.delay > std::time::Duration::ZERO,
        "but slowed down"
    );
    let other_name = auth_store::throttle(db, "else@ngo.example", "10.1.1.1", t0)
        .await
        .unwrap();
    assert_eq!(other_name, auth_store::Throttle::default());
    // Many addresses: a bounded delay, never a lock.
    for i in 0..40 {
        auth_store::record_failure(db, e, &format!("10.3.0.{i}"), t0 + Duration::seconds(6))
            .await
            .unwrap();
    }
    let spread = auth_store::throttle(db, e, "10.9.9.9", t0 + Duration::seconds(7))
        .await
        .unwrap();
    assert_eq!(spread.locked_until, None);
    assert_eq!(spread.delay, auth_store::MAX_DELAY);
    // After the window, all is forgotten.
    let later = t0 + auth_store::THROTTLE_WINDOW + Duration::seconds(10);
    assert_eq!(
        auth_store::throttle(db, e, "10.1.1.1", later)
            .await
            .unwrap(),
        auth_store::Throttle::default()
    );
    // Twenty failures from one address, any names, lock that address only.
    for i in 0..20 {
        auth_store::record_failure(db, &format!("n{i}@ngo.example"), "10.4.4.4", later)
            .await
            .unwrap();
    }
    assert!(
        auth_store::throttle(db, "x@ngo.example", "10.4.4.4", later)
            .await
            .unwrap()
            .locked_until
            .is_some()
    );
    assert!(
        auth_store::throttle(db, "x@ngo.example", "10.5.5.5", later)
            .await
            .unwrap()
            .locked_until
            .is_none()
    );
}

/// Makes every insert into `table` fail (a database error after the link
/// is spent), or stops doing so.
async fn fail_inserts(app: &crate::helpers::TestApp, table: &str, on: bool) {
    let db = &app.state.db;
    let stmts: Vec<String> = match (backend_of(app), on) {
        (Backend::Sqlite, true) => vec![format!(
            "CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )],
        (Backend::Sqlite, false) => vec![format!("DROP TRIGGER fail_{table}")],
        (Backend::Postgres, true) => vec![
            "CREATE OR REPLACE FUNCTION injected_failure() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql".to_string(),
            format!("CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION injected_failure()"),
        ],
        (Backend::Postgres, false) => vec![format!("DROP TRIGGER fail_{table} ON {table}")],
    };
    for sql in stmts {
        uic_inbox::on_db!(db, p => sqlx::query(&sql).execute(p).await.map(|_| ())).unwrap();
    }
}

fn backend_of(app: &crate::helpers::TestApp) -> Backend {
    app.backend
}

fn path_of(link: &str) -> String {
    let rest = link.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_string()
}

#[apply(both_backends)]
#[tokio::test]
async fn a_setup_that_fails_after_spending_its_link_leaves_the_link_valid(
    #[case] backend: Backend,
) {
    use auth_store::LinkPurpose;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let link =
        uic_inbox::auth::setup::first_admin_link(&app.state.db, &app.state.config, app.port())
            .await
            .unwrap();
    let path = path_of(&link);
    let token = path.trim_start_matches("/setup/").to_string();
    let form = [
        ("email", "admin@ngo.example"),
        ("name", "Admin"),
        ("password", PASSWORD),
        ("confirm", PASSWORD),
    ];
    // The last step (the audit entry) fails.
    fail_inserts(&app, "audit_log", true).await;
    let mut b = app.browser();
    b.get(&path).await;
    let failed = b.post(&path, &form).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    fail_inserts(&app, "audit_log", false).await;
    assert_eq!(app.count("users").await, 0, "nobody half-created");
    assert_eq!(app.count("role_assignments").await, 0);
    assert!(
        auth_store::peek_link(&app.state.db, &token, LinkPurpose::Setup)
            .await
            .unwrap()
            .is_some(),
        "the link still works"
    );
    // The e-mail address taken meanwhile (after the page's own check): the
    // link is not spent either.
    let hash = uic_inbox::auth::password::hash(PASSWORD).await.unwrap();
    let tenant = app.default_tenant().await;
    app.staff_user(tenant, "taken@ngo.example", None, None)
        .await;
    let r = auth_store::redeem_setup(
        &app.state.db,
        &token,
        "taken@ngo.example",
        "X",
        &hash,
        uic_inbox::auth::Lang::Fr,
        "127.0.0.1",
    )
    .await
    .unwrap();
    assert!(matches!(r, auth_store::Redeemed::EmailTaken), "{r:?}");
    assert!(
        auth_store::peek_link(&app.state.db, &token, LinkPurpose::Setup)
            .await
            .unwrap()
            .is_some()
    );
    // Retried: it works, once.
    let done = b.post(&path, &form).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(
        auth_store::peek_link(&app.state.db, &token, LinkPurpose::Setup)
            .await
            .unwrap()
            .is_none()
    );
    let admin = auth_store::find_by_email(&app.state.db, "admin@ngo.example")
        .await
        .unwrap()
        .unwrap();
    assert!(admin.platform_admin);
    assert_eq!(
        auth_store::assignments_of(
            &app.state.db,
            &crate::helpers::users_manager(admin.tenant_id),
            admin.id
        )
        .await
        .unwrap()
        .len(),
        1
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn an_invitation_that_fails_after_spending_its_link_leaves_the_link_valid(
    #[case] backend: Backend,
) {
    use auth_store::LinkPurpose;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let hash_none = auth_store::create_user(
        &app.state.db,
        &auth_store::NewUser {
            tenant_id: tenant,
            email: "new@ngo.example",
            display_name: "Nouvelle",
            password_hash: None,
            lang: uic_inbox::auth::Lang::Fr,
            platform_admin: false,
        },
    )
    .await
    .unwrap()
    .unwrap();
    let token = auth_store::create_link(
        &app.state.db,
        LinkPurpose::Invite,
        Some(tenant),
        Some(hash_none.id),
        time::Duration::days(1),
    )
    .await
    .unwrap();
    let path = format!("/invite/{token}");
    let mut b = app.browser();
    assert_eq!(b.get(&path).await.status, StatusCode::OK);
    fail_inserts(&app, "audit_log", true).await;
    let failed = b
        .post(&path, &[("password", PASSWORD), ("confirm", PASSWORD)])
        .await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    fail_inserts(&app, "audit_log", false).await;
    assert!(
        auth_store::peek_link(&app.state.db, &token, LinkPurpose::Invite)
            .await
            .unwrap()
            .is_some(),
        "the link still works"
    );
    let user = auth_store::find_user(&app.state.db, hash_none.id)
        .await
        .unwrap()
        .unwrap();
    assert!(user.is_pending(), "no password set halfway");
    let done = b
        .post(&path, &[("password", PASSWORD), ("confirm", PASSWORD)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
}

#[apply(both_backends)]
#[tokio::test]
async fn two_instances_started_together_on_an_empty_database_both_come_up(
    #[case] backend: Backend,
) {
    use uic_inbox::Application;
    use uic_inbox::config::{Config, Secret};
    use uic_inbox::db::DbUrl;
    for round in 0..6 {
        let dir = tempfile::tempdir().unwrap();
        let url = match backend {
            Backend::Sqlite => DbUrl::Sqlite(dir.path().join("shared.db")),
            Backend::Postgres => {
                let Some(admin) = crate::helpers::postgres_admin_url() else {
                    return;
                };
                DbUrl::Postgres(crate::helpers::create_postgres_database(&admin).await)
            }
        };
        let mut config = Config::for_database(url);
        config.uic_salt = Some(Secret::new(crate::helpers::TEST_SALT));
        if backend == Backend::Postgres {
            config.secret_key = Some(crate::helpers::test_secret_key());
        }
        let (a, b) = tokio::join!(
            tokio::spawn(Application::build(config.clone())),
            tokio::spawn(Application::build(config.clone()))
        );
        let a = a
            .unwrap()
            .unwrap_or_else(|e| panic!("round {round}: first: {e:#}"));
        let b = b
            .unwrap()
            .unwrap_or_else(|e| panic!("round {round}: second: {e:#}"));
        let printed: Vec<&str> = [a.setup_link(), b.setup_link()]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(
            printed.len(),
            1,
            "round {round}: exactly one instance prints a link"
        );
        let db = &a.state().db;
        let made: i64 = uic_inbox::on_db!(db, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM one_time_links WHERE purpose = 'setup'").fetch_one(p).await)
        .unwrap();
        assert_eq!(made, 1, "round {round}: one setup link made");
        let token = printed[0].rsplit('/').next().unwrap();
        assert!(
            auth_store::peek_link(db, token, auth_store::LinkPurpose::Setup)
                .await
                .unwrap()
                .is_some(),
            "round {round}: the printed link is the valid one"
        );
        a.state().db.close().await;
        b.state().db.close().await;
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn weak_and_common_passwords_are_refused_with_a_reason(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut b = app
        .logged_in("kabongo@ngo.example", BuiltinRole::Observer)
        .await;
    for weak in ["password1234", "azertyuiop", "kabongo@ngo.example"] {
        let res = b
            .post(
                "/me/password",
                &[("current", PASSWORD), ("password", weak), ("confirm", weak)],
            )
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{weak}");
        assert!(
            res.body.contains("trop facile à deviner"),
            "{weak}: {}",
            res.body
        );
    }
    // The old password still works.
    assert_eq!(
        app.browser()
            .login("kabongo@ngo.example", PASSWORD)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn no_change_leaves_a_tenant_without_someone_to_manage_users_and_roles(
    #[case] backend: Backend,
) {
    use uic_inbox::auth::Permission::*;
    use uic_inbox::auth::Scope;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let db = &app.state.db;
    // The only administrator denies themself users.manage.
    let admin = app
        .staff_user(
            tenant,
            "admin@ngo.example",
            Some(BuiltinRole::Administrator),
            None,
        )
        .await;
    let mut a = app.login("admin@ngo.example").await;
    let deny = a
        .post(
            &format!("/users/{}/overrides", admin.id),
            &[
                ("effect", "deny"),
                ("permission", "users.manage"),
                ("account", "tenant"),
            ],
        )
        .await;
    assert_eq!(deny.status, StatusCode::BAD_REQUEST, "{}", deny.body);
    assert!(deny.body.contains("plus personne"), "{}", deny.body);
    let grants = auth_store::grants(db, &admin).await.unwrap();
    assert!(grants.can(UsersManage, Scope::Tenant));
    // A manager by a tenant's own role: the role cannot lose roles.manage,
    // nor be deleted, while nobody else manages.
    let role = auth_store::create_role(
        db,
        &crate::helpers::access(tenant, uic_inbox::auth::Permission::RolesManage),
        "Gestion",
        "",
        &[UsersManage, RolesManage, AccountsView],
    )
    .await
    .unwrap()
    .unwrap();
    let m = app.staff_user(tenant, "m@ngo.example", None, None).await;
    auth_store::assign(
        db,
        &crate::helpers::users_manager(m.tenant_id),
        m.id,
        role,
        None,
    )
    .await
    .unwrap();
    let own = auth_store::assignments_of(
        db,
        &crate::helpers::users_manager(admin.tenant_id),
        admin.id,
    )
    .await
    .unwrap()[0]
        .id;
    // With the second manager, the administrator may step down.
    let down = a
        .post(&format!("/users/{}/roles/{own}/delete", admin.id), &[])
        .await;
    assert_eq!(down.status, StatusCode::SEE_OTHER, "{}", down.body);
    let mut bm = app.login("m@ngo.example").await;
    let shrink = bm
        .post(
            &format!("/roles/{role}"),
            &[
                ("name", "Gestion"),
                ("permission", "users.manage"),
                ("permission", "accounts.view"),
            ],
        )
        .await;
    assert_eq!(shrink.status, StatusCode::BAD_REQUEST, "{}", shrink.body);
    let delete = bm.post(&format!("/roles/{role}/delete"), &[]).await;
    assert_eq!(delete.status, StatusCode::BAD_REQUEST, "{}", delete.body);
    let kept = auth_store::find_role(
        db,
        &crate::helpers::access(tenant, uic_inbox::auth::Permission::RolesManage),
        role,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(kept.has(&RolesManage));
    // Disabling, directly in the domain: refused as well.
    let other = app
        .staff_user(tenant, "obs@ngo.example", Some(BuiltinRole::Observer), None)
        .await;
    assert_eq!(
        auth_store::set_disabled(db, &crate::helpers::users_manager(tenant), m.id, true)
            .await
            .unwrap(),
        auth_store::UserChange::LastManager
    );
    assert_eq!(
        auth_store::set_disabled(db, &crate::helpers::users_manager(tenant), other.id, true)
            .await
            .unwrap(),
        auth_store::UserChange::Done
    );
}

/// Rows of the session store.
async fn sessions(app: &crate::helpers::TestApp) -> i64 {
    match app.backend {
        Backend::Sqlite => app.count("tower_sessions").await,
        Backend::Postgres => app.count("tower_sessions.session").await,
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn anonymous_visits_to_the_login_page_store_nothing(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    app.staff_user(tenant, "obs@ngo.example", Some(BuiltinRole::Observer), None)
        .await;
    let before = sessions(&app).await;
    for _ in 0..30 {
        let res = app.get("/login").await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // A visitor choosing English, failing, then a forged form: no row.
    let mut v = app.browser();
    let en = v.get("/login?lang=en").await;
    assert!(en.body.contains("Log in"), "{}", en.body);
    let wrong = v
        .post(
            "/login",
            &[("email", "obs@ngo.example"), ("password", "not it at all")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.body.contains("Log in"),
        "the choice is kept: {}",
        wrong.body
    );
    let forged = v
        .post_raw(
            "/login",
            &[
                ("_csrf", &"0".repeat(64)),
                ("email", "obs@ngo.example"),
                ("password", PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // Another visitor's token does not fit this visitor's cookie.
    let mut other = app.browser();
    other.get("/login").await;
    let theirs = other.csrf.clone().unwrap();
    let swapped = v
        .post_raw(
            "/login",
            &[
                ("_csrf", &theirs),
                ("email", "obs@ngo.example"),
                ("password", PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(swapped.status, StatusCode::FORBIDDEN);
    assert_eq!(sessions(&app).await, before, "no session row before login");
    // The right password: a session now.
    let ok = v
        .post(
            "/login",
            &[("email", "obs@ngo.example"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(sessions(&app).await, before + 1);
    v.csrf = None;
    assert_eq!(v.get("/").await.status, StatusCode::OK);
}

#[apply(both_backends)]
#[tokio::test]
async fn setup_and_invitation_forms_store_no_session_before_they_are_used(
    #[case] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let link =
        uic_inbox::auth::setup::first_admin_link(&app.state.db, &app.state.config, app.port())
            .await
            .unwrap();
    let path = path_of(&link);
    let before = sessions(&app).await;
    let mut b = app.browser();
    for _ in 0..10 {
        assert_eq!(b.get(&path).await.status, StatusCode::OK);
    }
    // A refused form (passwords differ) stores nothing either.
    let refused = b
        .post(
            &path,
            &[
                ("email", "admin@ngo.example"),
                ("name", "Admin"),
                ("password", PASSWORD),
                ("confirm", "something else entirely"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(sessions(&app).await, before);
    let done = b
        .post(
            &path,
            &[
                ("email", "admin@ngo.example"),
                ("name", "Admin"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(sessions(&app).await, before + 1);
}
