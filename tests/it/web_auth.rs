//! Staff login, sessions, CSRF, throttling and escaping, over HTTP, on both
//! backends.

use crate::both_backends;
use crate::helpers::{Backend, spawn_app, spawn_app_with};
use crate::staff::PASSWORD;
use reqwest::StatusCode;
use rstest_reuse::apply;
use uic_inbox::auth::BuiltinRole;

#[apply(both_backends)]
#[tokio::test]
async fn first_administrator_sets_up_through_a_one_time_link(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    assert_eq!(app.count("users").await, 0, "no default account exists");
    let link =
        uic_inbox::auth::setup::first_admin_link(&app.state.db, &app.state.config, app.port())
            .await
            .unwrap();
    let path = link.split_once("://").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    let mut b = app.browser();
    let form = b.get(path).await;
    assert_eq!(form.status, StatusCode::OK);
    // A weak password is refused, nothing is created.
    let weak = b
        .post(
            path,
            &[
                ("email", "admin@ngo.example"),
                ("name", "Admin"),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.body.contains("10"), "{}", weak.body);
    assert_eq!(app.count("users").await, 0);
    let done = b
        .post(
            path,
            &[
                ("email", "Admin@NGO.example"),
                ("name", "Admin"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(app.count("users").await, 1);
    // Logged in, with every page.
    b.csrf = None;
    let users = b.get("/users").await;
    assert_eq!(users.status, StatusCode::OK);
    assert!(users.body.contains("admin@ngo.example"));
    // The link works once.
    let mut other = app.browser();
    let again = other.get(path).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    let reuse = other
        .post(
            path,
            &[
                ("email", "x@ngo.example"),
                ("name", "X"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(reuse.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("users").await, 1);
    // The setup is in the audit log.
    let audit = b.get("/audit").await;
    assert!(audit.body.contains("setup.administrator"), "{}", audit.body);
}

#[apply(both_backends)]
#[tokio::test]
async fn twenty_wrong_passwords_are_throttled(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    app.staff_user(tenant, "agent@ngo.example", Some(BuiltinRole::Agent), None)
        .await;
    let mut b = app.browser();
    let mut statuses = Vec::new();
    for i in 0..20 {
        let p = b
            .login("agent@ngo.example", &format!("wrong password {i}"))
            .await;
        statuses.push(p.status);
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // Even the right password is refused now, with a clear message.
    let p = b.login("agent@ngo.example", PASSWORD).await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(p.body.contains("Trop de tentatives"), "{}", p.body);
    assert!(p.body.contains("minute"), "{}", p.body);
    assert!(b.get("/").await.is_login_redirect());
    // Another address trying many names is throttled too (per IP).
    let mut c = app.browser();
    let mut last = StatusCode::OK;
    for i in 0..21 {
        last = c
            .login(&format!("nobody{i}@ngo.example"), "whatever pw")
            .await
            .status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        app.count("audit_log").await >= 20,
        "failed logins are audited"
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn state_changes_without_the_csrf_token_are_refused(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut b = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    let roles_before = app.count("roles").await;
    let form = [("name", "Relais"), ("permission", "conversations.view")];
    // Missing token.
    let p = b.post_raw("/roles", &form, None).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // Wrong token, in the form and in the header.
    let mut with_wrong = vec![("_csrf", "0000")];
    with_wrong.extend_from_slice(&form);
    assert_eq!(
        b.post_raw("/roles", &with_wrong, None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.post_raw("/roles", &form, Some("0000")).await.status,
        StatusCode::FORBIDDEN
    );
    // Another session's token.
    let other = app.browser().get("/login").await;
    let foreign = crate::staff::csrf_of(&other.body).unwrap();
    assert_eq!(
        b.post_raw("/roles", &form, Some(&foreign)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.count("roles").await, roles_before, "nothing changed");
    // Logout without a token does not log out.
    assert_eq!(
        b.post_raw("/logout", &[], None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(b.get("/").await.status, StatusCode::OK);
    // The right token, as the htmx header, works.
    let token = b.csrf.clone().unwrap();
    let ok = b.post_raw("/roles", &form, Some(&token)).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(app.count("roles").await, roles_before + 1);
}

#[apply(both_backends)]
#[tokio::test]
async fn session_cookie_flags_and_rotation(#[case] backend: Backend) {
    let Some(app) = spawn_app_with(backend, |c| {
        c.public_url = Some("https://inbox.example.org".into())
    })
    .await
    else {
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
    let mut b = app.browser();
    let login_page = b.get("/login").await;
    let before = b
        .cookie
        .clone()
        .expect("a session for the login form's token");
    let cookie = &login_page.set_cookie[0];
    for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    assert!(
        cookie.contains("Max-Age=") || cookie.contains("Expires="),
        "{cookie}"
    );
    let res = b
        .post(
            "/login",
            &[("email", "sup@ngo.example"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let after = b.cookie.clone().unwrap();
    assert_ne!(before, after, "the session id changes at login");
    // The old id is worth nothing.
    let mut stale = app.browser();
    stale.cookie = Some(before);
    assert!(stale.get("/").await.is_login_redirect());
    // Pages are not cached and not framed.
    let home = b.get("/").await;
    assert_eq!(home.headers["cache-control"], "no-store");
    assert_eq!(home.headers["x-frame-options"], "DENY");
    assert!(
        home.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    // Logout ends it.
    let out = b.post("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(b.get("/").await.is_login_redirect());
}

#[apply(both_backends)]
#[tokio::test]
async fn a_disabled_user_loses_access_at_once(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    app.staff_user(
        tenant,
        "admin@ngo.example",
        Some(BuiltinRole::Administrator),
        None,
    )
    .await;
    let agent = app
        .staff_user(tenant, "agent@ngo.example", Some(BuiltinRole::Agent), None)
        .await;
    let mut admin = app.login("admin@ngo.example").await;
    let mut a = app.login("agent@ngo.example").await;
    assert_eq!(a.get("/accounts").await.status, StatusCode::OK);
    let res = admin
        .post(&format!("/users/{}/disable", agent.id), &[])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    // The very next request of the open session is refused.
    assert!(a.get("/accounts").await.is_login_redirect());
    let relog = a.login("agent@ngo.example", PASSWORD).await;
    assert_eq!(relog.status, StatusCode::FORBIDDEN);
    assert!(relog.body.contains("désactivé"), "{}", relog.body);
    // Re-enabled: back in.
    admin
        .post(&format!("/users/{}/enable", agent.id), &[])
        .await;
    assert_eq!(
        a.login("agent@ngo.example", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    // An administrator cannot lock themself out.
    let admin_id = uic_inbox::auth::store::find_by_email(&app.state.db, "admin@ngo.example")
        .await
        .unwrap()
        .unwrap()
        .id;
    let own = admin.post(&format!("/users/{admin_id}/disable"), &[]).await;
    assert_eq!(own.status, StatusCode::BAD_REQUEST);
}

#[apply(both_backends)]
#[tokio::test]
async fn script_tags_are_shown_as_text(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut b = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    let evil = "<script>alert('x')</script>";
    let res = b
        .post(
            "/users",
            &[
                ("email", "evil@ngo.example"),
                ("name", evil),
                ("role", "1"),
                ("account", "tenant"),
            ],
        )
        .await;
    assert!(
        res.status.is_success() || res.status.is_redirection(),
        "{}",
        res.body
    );
    let res = b
        .post("/roles", &[("name", evil), ("description", evil)])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    b.post("/me", &[("name", evil), ("lang", "fr")]).await;
    let account = uic_inbox::tenancy::store::find_by_slug(&app.state.db, "sandbox")
        .await
        .unwrap()
        .unwrap();
    let sim = b
        .post(&format!("/simulator/{}", account.id), &[("text", evil)])
        .await;
    assert_eq!(sim.status, StatusCode::OK);
    // A WhatsApp profile name and a message body from a real channel.
    let params = crate::helpers::twilio_params(
        "SMevil0000000000000000000000000001",
        "whatsapp:+243990000666",
        &format!("whatsapp:{}", crate::helpers::TWILIO_NUMBER),
        evil,
    );
    let mut params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for p in params.iter_mut() {
        if p.0 == "ProfileName" {
            p.1 = evil;
        }
    }
    assert_eq!(
        app.twilio_post(&params, crate::helpers::TWILIO_TOKEN)
            .await
            .status(),
        200
    );
    // Every page of the app, with this tenant's objects in its path.
    let evil_user = uic_inbox::auth::store::find_by_email(&app.state.db, "evil@ngo.example")
        .await
        .unwrap()
        .unwrap()
        .id;
    let evil_role = uic_inbox::auth::store::list_roles(
        &app.state.db,
        &crate::helpers::access(
            app.default_tenant().await,
            uic_inbox::auth::Permission::RolesManage,
        ),
    )
    .await
    .unwrap()
    .into_iter()
    .find(|r| r.name == evil)
    .unwrap()
    .id;
    let mut seen = 0;
    for (method, path) in uic_inbox::route_table() {
        if method != "GET" {
            continue;
        }
        let url = path
            .replace("/users/{id}", &format!("/users/{evil_user}"))
            .replace("/roles/{id}", &format!("/roles/{evil_role}"))
            .replace("{id}", &account.id.to_string())
            .replace("{account}", &account.id.to_string())
            .replace("{token}", "x")
            .replace("{file}", "x");
        let page = b.get(&url).await;
        assert!(
            !page.body.contains("<script>alert"),
            "{url} shows a raw script tag"
        );
        seen += 1;
    }
    assert!(seen > 15, "{seen} pages looked at");
    for page in [
        b.get("/users").await,
        b.get("/roles").await,
        b.get("/me").await,
        sim,
    ] {
        assert!(
            page.body.contains("&lt;script&gt;") || page.body.contains("&#60;script&#62;"),
            "{}",
            page.body
        );
    }
}

#[apply(both_backends)]
#[tokio::test]
async fn sessions_end_when_idle_and_after_their_maximum_age(#[case] backend: Backend) {
    use std::time::Duration;
    let Some(app) = spawn_app_with(backend, |c| {
        c.staff_session_idle = Duration::from_secs(4);
        c.staff_session_max = Duration::from_secs(9);
    })
    .await
    else {
        return;
    };
    let tenant = app.default_tenant().await;
    app.staff_user(tenant, "obs@ngo.example", Some(BuiltinRole::Observer), None)
        .await;
    // Activity keeps the session past its idle timeout...
    let mut busy = app.login("obs@ngo.example").await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(busy.get("/").await.status, StatusCode::OK);
    }
    // ...but not past its maximum age, active or not.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        busy.get("/").await;
    }
    assert!(
        busy.get("/").await.is_login_redirect(),
        "over the maximum age"
    );
    // Idle longer than the timeout: logged out.
    let mut idle = app.login("obs@ngo.example").await;
    assert_eq!(idle.get("/").await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        idle.get("/").await.is_login_redirect(),
        "idle past the timeout"
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn an_invited_user_chooses_a_password_through_their_link(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut admin = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    let agent_role = uic_inbox::auth::store::builtin_role_id(
        &app.state.db,
        app.default_tenant().await,
        BuiltinRole::Agent,
    )
    .await
    .unwrap()
    .unwrap()
    .to_string();
    let created = admin
        .post(
            "/users",
            &[
                ("email", "new@ngo.example"),
                ("name", "Nouvelle"),
                ("role", &agent_role),
                ("account", "tenant"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let start = created
        .body
        .find("/invite/")
        .expect("the invitation link is shown");
    let token: String = created.body[start + "/invite/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    let path = format!("/invite/{token}");
    // No password yet: no login.
    let mut b = app.browser();
    assert_eq!(
        b.login("new@ngo.example", "").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(b.get(&path).await.status, StatusCode::OK);
    let res = b
        .post(&path, &[("password", PASSWORD), ("confirm", PASSWORD)])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(b.get("/").await.status, StatusCode::OK);
    // Used once only.
    assert_eq!(
        app.browser().get(&path).await.status,
        StatusCode::BAD_REQUEST
    );
    let mut again = app.browser();
    assert_eq!(
        again.login("new@ngo.example", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    // The agent may not reach the users page.
    assert_eq!(again.get("/users").await.status, StatusCode::FORBIDDEN);
}

#[apply(both_backends)]
#[tokio::test]
async fn nobody_hands_out_or_takes_over_more_than_they_hold(#[case] backend: Backend) {
    use uic_inbox::auth::Permission::*;
    use uic_inbox::auth::store as auth_store;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let db = &app.state.db;
    // A user manager who may not manage tokens.
    let role = auth_store::create_role(
        db,
        &crate::helpers::access(tenant, uic_inbox::auth::Permission::RolesManage),
        "Gestion des comptes",
        "",
        &[
            UsersManage,
            AccountsView,
            ConversationsView,
            ReportsView,
            Dhis2View,
        ],
    )
    .await
    .unwrap()
    .unwrap();
    let manager = app
        .staff_user(tenant, "manager@ngo.example", None, None)
        .await;
    auth_store::assign(
        db,
        &crate::helpers::users_manager(manager.tenant_id),
        manager.id,
        role,
        None,
    )
    .await
    .unwrap();
    let admin = app
        .staff_user(
            tenant,
            "admin@ngo.example",
            Some(BuiltinRole::Administrator),
            None,
        )
        .await;
    let observer = app
        .staff_user(tenant, "obs@ngo.example", Some(BuiltinRole::Observer), None)
        .await;
    let mut m = app.login("manager@ngo.example").await;
    // The administrator's account is out of reach: shown without buttons,
    // and no reset link, no disabling.
    let page = m.get(&format!("/users/{}", admin.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("vous ne pouvez pas modifier son compte"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("/disable\""), "no disable button");
    let theirs = m.get(&format!("/users/{}", observer.id)).await;
    assert!(
        theirs.body.contains("/disable\""),
        "the observer can be disabled"
    );
    let links = app.count("one_time_links").await;
    assert_eq!(
        m.post(&format!("/users/{}/link", admin.id), &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        m.post(&format!("/users/{}/disable", admin.id), &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.count("one_time_links").await, links);
    assert!(
        auth_store::find_user(db, admin.id)
            .await
            .unwrap()
            .unwrap()
            .disabled_at
            .is_none()
    );
    // The observer's is not.
    let link = m.post(&format!("/users/{}/link", observer.id), &[]).await;
    assert_eq!(link.status, StatusCode::OK, "{}", link.body);
    assert!(link.body.contains("/invite/"));
    // The administrator role cannot be given, nor a permission the manager lacks.
    let admin_role = auth_store::builtin_role_id(db, tenant, BuiltinRole::Administrator)
        .await
        .unwrap()
        .unwrap();
    let give = m
        .post(
            &format!("/users/{}/roles", observer.id),
            &[("role", &admin_role.to_string()), ("account", "tenant")],
        )
        .await;
    assert_eq!(give.status, StatusCode::BAD_REQUEST);
    let allow = m
        .post(
            &format!("/users/{}/overrides", observer.id),
            &[
                ("effect", "allow"),
                ("permission", "tokens.manage"),
                ("account", "tenant"),
            ],
        )
        .await;
    assert_eq!(allow.status, StatusCode::BAD_REQUEST);
    let grants = auth_store::grants(db, &observer).await.unwrap();
    assert!(!grants.can(TokensManage, uic_inbox::auth::Scope::Tenant));
    assert_eq!(
        auth_store::assignments_of(
            db,
            &crate::helpers::users_manager(observer.tenant_id),
            observer.id
        )
        .await
        .unwrap()
        .len(),
        1
    );
    // Denying is always possible.
    let deny = m
        .post(
            &format!("/users/{}/overrides", observer.id),
            &[
                ("effect", "deny"),
                ("permission", "conversations.view"),
                ("account", "tenant"),
            ],
        )
        .await;
    assert_eq!(deny.status, StatusCode::SEE_OTHER, "{}", deny.body);
    let grants = auth_store::grants(db, &observer).await.unwrap();
    assert!(!grants.can(ConversationsView, uic_inbox::auth::Scope::Tenant));
    // Lifting a deny of a permission the manager lacks would hand it over.
    let tokens_role = auth_store::create_role(
        db,
        &crate::helpers::access(tenant, uic_inbox::auth::Permission::RolesManage),
        "Jetons",
        "",
        &[AccountsView, TokensManage],
    )
    .await
    .unwrap()
    .unwrap();
    let held = app.staff_user(tenant, "held@ngo.example", None, None).await;
    auth_store::assign(
        db,
        &crate::helpers::users_manager(held.tenant_id),
        held.id,
        tokens_role,
        None,
    )
    .await
    .unwrap();
    auth_store::set_override(
        db,
        &crate::helpers::users_manager(held.tenant_id),
        held.id,
        TokensManage,
        None,
        false,
    )
    .await
    .unwrap();
    let deny =
        auth_store::overrides_of(db, &crate::helpers::users_manager(held.tenant_id), held.id)
            .await
            .unwrap()[0]
            .id;
    let lift = m
        .post(&format!("/users/{}/overrides/{deny}/delete", held.id), &[])
        .await;
    assert_eq!(lift.status, StatusCode::BAD_REQUEST, "{}", lift.body);
    assert_eq!(
        auth_store::overrides_of(db, &crate::helpers::users_manager(held.tenant_id), held.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn an_htmx_request_without_a_session_is_sent_to_the_login_page() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let res = app
        .client
        .post(format!("{}/simulator/1", app.address))
        .header("HX-Request", "true")
        .header("Cookie", "uic_session=nonsense")
        .send()
        .await
        .unwrap();
    // No session, no token: refused before anything runs.
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .client
        .get(format!("{}/accounts", app.address))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["hx-redirect"], "/login?next=%2Faccounts");
    // Without htmx: a plain redirect.
    let res = app.get("/accounts").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login?next=%2Faccounts");
}

#[apply(both_backends)]
#[tokio::test]
async fn a_new_password_ends_every_other_session(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut phone = app
        .logged_in("sup@ngo.example", BuiltinRole::Supervisor)
        .await;
    let mut laptop = app.login("sup@ngo.example").await;
    // Sessions logged in earlier than the change, by at least a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let new = "a brand new passphrase";
    let changed = laptop
        .post(
            "/me/password",
            &[("current", PASSWORD), ("password", new), ("confirm", new)],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert_eq!(
        laptop.get("/me").await.status,
        StatusCode::OK,
        "the session that changed it stays"
    );
    assert!(
        phone.get("/").await.is_login_redirect(),
        "the other session ends"
    );
    assert_eq!(
        phone.login("sup@ngo.example", new).await.status,
        StatusCode::SEE_OTHER
    );
    // A wrong current password changes nothing.
    let wrong = laptop
        .post(
            "/me/password",
            &[
                ("current", "not it at all"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.browser().login("sup@ngo.example", new).await.status,
        StatusCode::SEE_OTHER
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn the_last_administrator_stays(#[case] backend: Backend) {
    use uic_inbox::auth::store as auth_store;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let a = app
        .staff_user(
            tenant,
            "a@ngo.example",
            Some(BuiltinRole::Administrator),
            None,
        )
        .await;
    let mut ba = app.login("a@ngo.example").await;
    let own = auth_store::assignments_of(
        &app.state.db,
        &crate::helpers::users_manager(a.tenant_id),
        a.id,
    )
    .await
    .unwrap()[0]
        .id;
    let refused = ba
        .post(&format!("/users/{}/roles/{own}/delete", a.id), &[])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("dernier administrateur"),
        "{}",
        refused.body
    );
    assert_eq!(
        auth_store::assignments_of(
            &app.state.db,
            &crate::helpers::users_manager(a.tenant_id),
            a.id
        )
        .await
        .unwrap()
        .len(),
        1
    );
    // With a second administrator, either may step down, not both.
    let b = app
        .staff_user(
            tenant,
            "b@ngo.example",
            Some(BuiltinRole::Administrator),
            None,
        )
        .await;
    let done = ba
        .post(&format!("/users/{}/roles/{own}/delete", a.id), &[])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let mut bb = app.login("b@ngo.example").await;
    let theirs = auth_store::assignments_of(
        &app.state.db,
        &crate::helpers::users_manager(b.tenant_id),
        b.id,
    )
    .await
    .unwrap()[0]
        .id;
    let refused = bb
        .post(&format!("/users/{}/roles/{theirs}/delete", b.id), &[])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        auth_store::active_administrators(&app.state.db, tenant)
            .await
            .unwrap(),
        vec![b.id]
    );
}

#[apply(both_backends)]
#[tokio::test]
async fn roles_cannot_be_a_way_to_more_permissions(#[case] backend: Backend) {
    use uic_inbox::auth::Permission::*;
    use uic_inbox::auth::store as auth_store;
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let db = &app.state.db;
    let own = auth_store::create_role(
        db,
        &crate::helpers::access(tenant, uic_inbox::auth::Permission::RolesManage),
        "Rôles",
        "",
        &[RolesManage, AccountsView],
    )
    .await
    .unwrap()
    .unwrap();
    let editor = app
        .staff_user(tenant, "roles@ngo.example", None, None)
        .await;
    auth_store::assign(
        db,
        &crate::helpers::users_manager(editor.tenant_id),
        editor.id,
        own,
        None,
    )
    .await
    .unwrap();
    let mut b = app.login("roles@ngo.example").await;
    let roles = app.count("roles").await;
    let more = b
        .post(
            "/roles",
            &[
                ("name", "Plus"),
                ("permission", "users.manage"),
                ("permission", "accounts.view"),
            ],
        )
        .await;
    assert_eq!(more.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("roles").await, roles);
    // Its own role cannot grow either.
    let grow = b
        .post(
            &format!("/roles/{own}"),
            &[
                ("name", "Rôles"),
                ("permission", "roles.manage"),
                ("permission", "accounts.view"),
                ("permission", "tokens.manage"),
            ],
        )
        .await;
    assert_eq!(grow.status, StatusCode::BAD_REQUEST);
    let role = auth_store::find_role(
        db,
        &crate::helpers::access(tenant, uic_inbox::auth::Permission::RolesManage),
        own,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!role.has(&TokensManage));
    // Within what it holds, it works.
    let ok = b
        .post(
            "/roles",
            &[("name", "Lecture"), ("permission", "accounts.view")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
}
