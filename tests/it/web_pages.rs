//! The staff pages do what they say: account settings reach the bot, the
//! audit log filters and stays within its tenant, platform administrators
//! create tenants and move between them.

use crate::both_backends;
use crate::helpers::{Backend, spawn_app};
use reqwest::StatusCode;
use rstest_reuse::apply;
use uic_inbox::auth::BuiltinRole;

#[apply(both_backends)]
#[tokio::test]
async fn account_settings_change_what_the_bot_says(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut admin = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    let account = uic_inbox::tenancy::store::find_by_slug(&app.state.db, "sandbox")
        .await
        .unwrap()
        .unwrap();
    let path = format!("/accounts/{}/flow", account.id);
    // A city line without its code is refused and changes nothing.
    let bad = admin
        .post(
            &path,
            &[
                ("language", "en"),
                ("qr", "default"),
                ("timeout", ""),
                ("cities", "Kinshasa"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("Kinshasa"),
        "the page names the line: {}",
        bad.body
    );
    assert!(app.sandbox_say("+243990000101", "Bonjour").await[0].contains("Bienvenue"));
    let bad_timeout = admin
        .post(&path, &[("language", "en"), ("timeout", "0")])
        .await;
    assert_eq!(bad_timeout.status, StatusCode::BAD_REQUEST);
    // Accepted: English, a custom welcome, a city list.
    let ok = admin
        .post(
            &path,
            &[
                ("language", "en"),
                ("qr", "off"),
                ("timeout", "45"),
                ("cities", "KN Kinshasa\nlu Lubumbashi"),
                ("text.welcome", "Welcome to the Lualaba programme!"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let saved = uic_inbox::tenancy::store::find_by_slug(&app.state.db, "sandbox")
        .await
        .unwrap()
        .unwrap()
        .flow_config
        .0;
    assert_eq!(saved.session_timeout_minutes, Some(45));
    assert_eq!(saved.qr_enabled, Some(false));
    assert_eq!(saved.cities.len(), 2);
    assert_eq!(saved.cities[1].code, "LU");
    // The next message of a new conversation uses them.
    let replies = app.sandbox_say("+243990000102", "Hello").await;
    assert!(
        replies[0].contains("Welcome to the Lualaba programme!"),
        "{replies:?}"
    );
    let page = admin.get(&format!("/accounts/{}", account.id)).await;
    assert!(page.body.contains("Welcome to the Lualaba programme!"));
    // An agent sees the settings but cannot change them.
    let mut agent = app.logged_in("agent@ngo.example", BuiltinRole::Agent).await;
    let view = agent.get(&format!("/accounts/{}", account.id)).await;
    assert_eq!(view.status, StatusCode::OK);
    assert!(
        view.body.contains("<fieldset disabled>"),
        "read-only form for an agent"
    );
    assert_eq!(
        agent.post(&path, &[("language", "fr")]).await.status,
        StatusCode::FORBIDDEN
    );
    let audit = admin.get("/audit?action=account").await;
    assert!(audit.body.contains("account.flow_update"), "{}", audit.body);
}

#[apply(both_backends)]
#[tokio::test]
async fn the_audit_log_filters_and_stays_in_its_tenant(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut admin = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    admin
        .post(
            "/roles",
            &[("name", "Relais"), ("permission", "conversations.view")],
        )
        .await;
    let mut sup = app
        .logged_in("sup@ngo.example", BuiltinRole::Supervisor)
        .await;
    app.browser()
        .login("admin@ngo.example", "wrong password 1")
        .await;
    let all = sup.get("/audit").await;
    assert_eq!(all.status, StatusCode::OK);
    for action in ["role.create", "login.failed", "login"] {
        assert!(all.body.contains(action), "{action} missing: {}", all.body);
    }
    let roles = sup.get("/audit?action=role").await;
    assert!(roles.body.contains("role.create"));
    assert!(!roles.body.contains("login.failed"));
    let by_actor = sup.get("/audit?actor=SUP%40ngo").await;
    assert!(by_actor.body.contains("sup@ngo.example"));
    assert!(
        !by_actor.body.contains("admin@ngo.example"),
        "{}",
        by_actor.body
    );
    let today = time::OffsetDateTime::now_utc().date();
    let future = admin
        .get(&format!("/audit?from={}", today.next_day().unwrap()))
        .await;
    assert!(!future.body.contains("role.create"));
    let current = admin.get(&format!("/audit?from={today}&to={today}")).await;
    assert!(current.body.contains("role.create"));
    // Another tenant's administrator sees none of it.
    let other = uic_inbox::tenancy::store::ensure_tenant(&app.state.db, "other-ngo", "Other")
        .await
        .unwrap();
    app.staff_user(
        other,
        "stranger@other.example",
        Some(BuiltinRole::Administrator),
        None,
    )
    .await;
    let mut stranger = app.login("stranger@other.example").await;
    let theirs = stranger.get("/audit").await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert!(!theirs.body.contains("role.create"));
    assert!(!theirs.body.contains("admin@ngo.example"));
    // An agent may not read it.
    let mut agent = app.logged_in("agent@ngo.example", BuiltinRole::Agent).await;
    assert_eq!(agent.get("/audit").await.status, StatusCode::FORBIDDEN);
}

#[apply(both_backends)]
#[tokio::test]
async fn platform_administrators_create_tenants_and_move_between_them(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.default_tenant().await;
    let root = app.staff_user(tenant, "root@ngo.example", None, None).await;
    app.make_platform_admin(root.id).await;
    let mut b = app.login("root@ngo.example").await;
    let bad = b
        .post(
            "/tenants",
            &[("name", "Santé Plus"), ("slug", "Santé Plus")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let made = b
        .post(
            "/tenants",
            &[("name", "Santé Plus"), ("slug", "sante-plus")],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let dup = b
        .post("/tenants", &[("name", "Again"), ("slug", "sante-plus")])
        .await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    let new_id = uic_inbox::tenancy::store::list_tenants(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.slug == "sante-plus")
        .unwrap()
        .id;
    // Its own roles and sandbox are there.
    assert_eq!(
        uic_inbox::auth::store::list_roles(
            &app.state.db,
            &crate::helpers::access(new_id, uic_inbox::auth::Permission::RolesManage)
        )
        .await
        .unwrap()
        .len(),
        4
    );
    let switched = b.post(&format!("/tenants/{new_id}/switch"), &[]).await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    let home = b.get("/").await;
    assert!(home.body.contains("Santé Plus"));
    assert!(home.body.contains("sante-plus-sandbox") || home.body.contains("Bac à sable"));
    let accounts = b.get("/accounts").await;
    assert!(
        !accounts.body.contains("<code>sandbox</code>"),
        "the default tenant's sandbox is not shown"
    );
    assert!(accounts.body.contains("sante-plus-sandbox"));
    // A tenant administrator cannot list tenants nor switch.
    let mut admin = app
        .logged_in("admin@ngo.example", BuiltinRole::Administrator)
        .await;
    assert_eq!(admin.get("/tenants").await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        admin
            .post(&format!("/tenants/{new_id}/switch"), &[])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert!(!admin.get("/").await.body.contains("Santé Plus"));
}

#[tokio::test]
async fn scripts_and_pages_are_compressed_for_slow_networks() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let get = |path: String| {
        app.client
            .get(format!("{}{path}", app.address))
            .header("Accept-Encoding", "gzip")
            .send()
    };
    let htmx = get(uic_inbox::web::assets::htmx_url().to_string())
        .await
        .unwrap();
    assert_eq!(htmx.headers()["content-encoding"], "gzip");
    let size = htmx.bytes().await.unwrap().len();
    assert!(size < 25_000, "htmx gzipped is {size} bytes");
    let login = get("/login".into()).await.unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(login.headers()["content-encoding"], "gzip");
}

#[apply(both_backends)]
#[tokio::test]
async fn french_first_english_for_who_chooses_it(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Before login: French, whatever the browser says, unless chosen.
    let mut visitor = app.browser();
    assert!(visitor.get("/login").await.body.contains("Se connecter"));
    let en = visitor.get("/login?lang=en").await;
    assert!(en.body.contains("<html lang=\"en\">") && en.body.contains("Log in"));
    assert!(
        visitor.get("/login").await.body.contains("Log in"),
        "the choice is kept"
    );
    // After login: the user's own setting.
    let mut b = app
        .logged_in("sup@ngo.example", BuiltinRole::Supervisor)
        .await;
    let home = b.get("/").await;
    assert!(home.body.contains("Déconnexion") && home.body.contains("Bienvenue"));
    let saved = b
        .post("/me", &[("name", "Superviseur"), ("lang", "en")])
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let home = b.get("/").await;
    assert!(
        home.body.contains("Log out") && home.body.contains("Welcome"),
        "{}",
        home.body
    );
    assert!(!home.body.contains("Déconnexion"));
    let forbidden = b.get("/users").await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert!(forbidden.body.contains("You do not have permission"));
    // Another user keeps French.
    let mut other = app.logged_in("agent@ngo.example", BuiltinRole::Agent).await;
    assert!(other.get("/").await.body.contains("Déconnexion"));
}
