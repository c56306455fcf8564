//! The staff UI in a real browser: first administrator, an agent scoped to
//! one account, the phone simulator. Screenshots of the main pages go to
//! `target/screenshots/` (test artefacts, not committed).

use crate::browser::{Browser, WAIT};
use crate::helpers::{Backend, spawn_app};
use crate::staff::PASSWORD;
use uic_inbox::auth::store as auth_store;
use uic_inbox::tenancy::Provider;

#[tokio::test]
async fn setup_then_an_agent_sees_only_their_account_and_chats_with_the_bot() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let tenant = app.default_tenant().await;
    let other = app
        .account_in(tenant, "programme-b", Provider::Sandbox, None, None)
        .await;
    let sandbox = uic_inbox::tenancy::store::find_by_slug(&app.state.db, "sandbox")
        .await
        .unwrap()
        .unwrap();
    let browser = Browser::start().await;

    // 1. The first administrator, from the one-time link.
    let link =
        uic_inbox::auth::setup::first_admin_link(&app.state.db, &app.state.config, app.port())
            .await
            .unwrap();
    let path = &link[link.find("/setup/").unwrap()..];
    browser.goto(&format!("{}{path}", app.address)).await;
    browser
        .wait_for_text("h1", "Premier administrateur", WAIT)
        .await;
    browser.screenshot("setup").await;
    browser.fill("input[name=email]", "admin@ngo.example").await;
    browser.fill("input[name=name]", "Awa Admin").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser.fill("input[name=confirm]", PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("h1", "Bienvenue", WAIT).await;
    assert!(browser.text("body").await.contains("programme-b"));
    browser.screenshot("home-admin").await;

    // 2. An agent for the sandbox account only.
    browser.goto(&format!("{}/users/new", app.address)).await;
    browser
        .wait_for_text("h1", "Nouvel utilisateur", WAIT)
        .await;
    browser.fill("input[name=email]", "agent@ngo.example").await;
    browser.fill("input[name=name]", "Bola Agent").await;
    let agent_role =
        auth_store::builtin_role_id(&app.state.db, tenant, uic_inbox::auth::BuiltinRole::Agent)
            .await
            .unwrap()
            .unwrap();
    browser
        .click(&format!("select[name=role] option[value='{agent_role}']"))
        .await;
    browser
        .click(&format!(
            "select[name=account] option[value='{}']",
            sandbox.id
        ))
        .await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser.fill("input[name=confirm]", PASSWORD).await;
    browser.screenshot("user-new").await;
    browser
        .click("form[action='/users'] button[type=submit]")
        .await;
    browser.wait_for_text("h1", "Bola Agent", WAIT).await;
    let page = browser.text("main").await;
    assert!(page.contains("Agent"), "{page}");
    assert!(page.contains(&sandbox.name), "{page}");
    browser.screenshot("user").await;
    for path in ["/users", "/roles", "/accounts", "/settings", "/audit"] {
        browser.goto(&format!("{}{path}", app.address)).await;
        browser.wait_for_text("main", "", WAIT).await;
        browser
            .screenshot(&format!("page{}", path.replace('/', "-")))
            .await;
    }
    let audit = browser.text("main").await;
    assert!(audit.contains("user.create"), "{audit}");

    // 3. The agent logs in and sees their account only.
    browser.click("form[action='/logout'] button").await;
    browser.wait_for_text("h1", "Connexion", WAIT).await;
    browser.fill("input[name=email]", "agent@ngo.example").await;
    browser.fill("input[name=password]", PASSWORD).await;
    browser.click("form[action='/login'] button").await;
    browser.wait_for_text("h1", "Bienvenue", WAIT).await;
    let home = browser.text("body").await;
    assert!(home.contains(&sandbox.name), "{home}");
    assert!(
        !home.contains(&other.name),
        "the agent sees another account: {home}"
    );
    assert!(
        !home.contains("Utilisateurs"),
        "no users menu for an agent: {home}"
    );
    browser.screenshot("home-agent").await;
    browser
        .goto(&format!("{}/accounts/{}", app.address, other.id))
        .await;
    browser.wait_for_text("body", "permission", WAIT).await;

    // 4. The simulator (its own permission, which agents do not have: this
    // one is given it for the sandbox account): the bot answers in the
    // page, without a reload.
    let agent = auth_store::find_by_email(&app.state.db, "agent@ngo.example")
        .await
        .unwrap()
        .unwrap();
    let manager = crate::helpers::users_manager(agent.tenant_id);
    let simulator_for_agent = |allow: bool| {
        auth_store::set_override(
            &app.state.db,
            &manager,
            agent.id,
            uic_inbox::auth::Permission::SimulatorUse,
            Some(sandbox.id),
            allow,
        )
    };
    simulator_for_agent(true).await.unwrap();
    browser.set_mobile_width().await;
    browser.goto(&format!("{}/simulator", app.address)).await;
    browser.wait_for_text("h1", "Simulateur", WAIT).await;
    browser.fill("#compose-text", "Bonjour").await;
    browser.click("form.compose button").await;
    browser
        .wait_for_text("#thread", "Question 1 sur 5", WAIT)
        .await;
    // The input was emptied for the next answer, the page not reloaded.
    assert_eq!(
        browser
            .find("#compose-text")
            .await
            .value()
            .await
            .unwrap()
            .unwrap_or_default(),
        ""
    );
    browser.fill("#compose-text", "Mbemba").await;
    browser.click("form.compose button").await;
    browser
        .wait_for_text("#thread", "Question 2 sur 5", WAIT)
        .await;
    let thread = browser.text("#thread").await;
    assert!(
        thread.contains("Bonjour") && thread.contains("Mbemba"),
        "{thread}"
    );
    browser.screenshot("simulator-mobile").await;
    // The permission is taken back while the page is open: the next message
    // is refused, and the refusal shows in the page's error area (htmx's
    // fragment), not as a bubble of the thread.
    simulator_for_agent(false).await.unwrap();
    browser.fill("#compose-text", "1990").await;
    browser.click("form.compose button").await;
    browser
        .wait_for_text("#errors", "pas la permission", WAIT)
        .await;
    let thread = browser.text("#thread").await;
    assert!(!thread.contains("permission"), "{thread}");
    browser.screenshot("simulator-refused").await;
    // Given back: the next message is answered and the error goes away.
    simulator_for_agent(true).await.unwrap();
    browser.fill("#compose-text", "Ibrahim").await;
    browser.click("form.compose button").await;
    browser
        .wait_for_text("#thread", "Question 3 sur 5", WAIT)
        .await;
    assert_eq!(browser.text("#errors").await.trim(), "");
    // The agent's pages on a small phone: nothing wider than the screen.
    for path in [
        "/".to_string(),
        "/accounts".into(),
        format!("/accounts/{}", sandbox.id),
        "/me".into(),
    ] {
        browser.goto(&format!("{}{path}", app.address)).await;
        browser.wait_for_text("main", "", WAIT).await;
        let name = format!("mobile{}", path.replace('/', "-"));
        browser.screenshot(&name).await;
        let width: u32 = browser
            .execute("return document.documentElement.scrollWidth")
            .await;
        assert!(width <= 360, "{path} is {width} px wide on a 360 px screen");
    }
    browser.quit().await;
}
