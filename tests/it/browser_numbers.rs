//! A number's connection in a real browser: « Générer » fills a fresh
//! verify token in place (htmx), the form saves, and the page then shows
//! the secrets by their last characters only. Screenshot:
//! `target/screenshots/number-connection.png`. The numbers page on a
//! phone, with each number's health strip and the token banner:
//! `target/screenshots/numbers-health-mobile.png` and
//! `numbers-health-strip-mobile.png`.

use crate::browser::{Browser, WAIT};
use crate::helpers::{Backend, spawn_app};
use crate::staff::PASSWORD;
use uic_inbox::auth::BuiltinRole;
use uic_inbox::on_db;
use uic_inbox::tenancy::Provider;

#[tokio::test]
async fn an_administrator_connects_a_number_to_meta_in_the_browser() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let tenant = app.default_tenant().await;
    app.staff_user(
        tenant,
        "admin@ngo.example",
        Some(BuiltinRole::Administrator),
        None,
    )
    .await;
    let account = app
        .account_in(tenant, "kisangani", Provider::Sandbox, None, None)
        .await;
    let b = Browser::start().await;
    b.goto(&format!("{}/login", app.address)).await;
    b.fill("input[name=email]", "admin@ngo.example").await;
    b.fill("input[name=password]", PASSWORD).await;
    b.click("form[action='/login'] button").await;
    b.wait_for_text("h1", "Bienvenue", WAIT).await;
    b.goto(&format!("{}/accounts/{}", app.address, account.id))
        .await;
    b.wait_for_text("#channel", "Connexion à WhatsApp", WAIT)
        .await;
    let url: String = b
        .execute("return document.getElementById('webhook-url').value")
        .await;
    assert!(url.ends_with("/whatsapp/webhook"), "{url}");

    // « Générer »: a fresh token swapped into its field.
    b.click("button[hx-get$='/channel/verify-token']").await;
    let mut generated = String::new();
    for _ in 0..100 {
        generated = b
            .execute("return document.getElementById('meta_verify_token').value")
            .await;
        if !generated.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(generated.len(), 32, "{generated:?}");
    b.execute::<serde_json::Value>(
        "document.querySelector('select[name=provider]').value = 'meta'; return null",
    )
    .await;
    b.fill("input[name=meta_phone_number_id]", "109876543210987")
        .await;
    b.fill(
        "input[name=meta_app_secret]",
        "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    )
    .await;
    b.fill(
        "input[name=meta_access_token]",
        "EAAGtestTokenOfTheNumber0123456789wxyz",
    )
    .await;
    let values: String = b
        .execute("return Array.from(document.querySelectorAll('form[action$=\"/channel\"] input, form[action$=\"/channel\"] select')).map(i => i.name + '=' + i.value).join(' | ')")
        .await;
    eprintln!("FORM {values}");
    b.click("form[action$='/channel'] button[type=submit]")
        .await;
    b.wait_for_text(".flash", "Connexion enregistrée", WAIT)
        .await;
    let page: String = b.execute("return document.body.innerText").await;
    assert!(page.contains("…wxyz"), "the token's end is shown");
    assert!(!page.contains("EAAGtestTokenOfTheNumber"));
    assert!(page.contains(&format!("…{}", &generated[28..])));
    b.screenshot("number-connection").await;
    b.quit().await;
}

#[tokio::test]
async fn the_numbers_page_shows_each_numbers_strip_on_a_phone() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let tenant = app.default_tenant().await;
    app.staff_user(
        tenant,
        "admin@ngo.example",
        Some(BuiltinRole::Administrator),
        None,
    )
    .await;
    let account = app
        .account_in(
            tenant,
            "kisangani",
            Provider::Meta,
            Some("243815552222"),
            None,
        )
        .await;
    let now = time::OffsetDateTime::now_utc();
    on_db!(&app.state.db, p => sqlx::query(
        "INSERT INTO token_life (account_id, tenant_id, kind, expires_at, validated_at,
            quality_rating, messaging_limit, updated_at)
         VALUES ($1, $2, 'long_lived', $3, $4, 'RED', 'TIER_1K', $4)")
        .bind(account.id).bind(tenant).bind(now + time::Duration::days(3) + time::Duration::hours(1))
        .bind(now - time::Duration::hours(1))
        .execute(p).await.unwrap().rows_affected());
    let b = Browser::start().await;
    b.set_mobile_width().await;
    b.goto(&format!("{}/login", app.address)).await;
    b.fill("input[name=email]", "admin@ngo.example").await;
    b.fill("input[name=password]", PASSWORD).await;
    b.click("form[action='/login'] button").await;
    b.wait_for_text("h1", "Bienvenue", WAIT).await;
    b.goto(&format!("{}/accounts", app.address)).await;
    b.wait_for_text(
        &format!("#strip-{}", account.id),
        "jeton : expire dans 3 j",
        WAIT,
    )
    .await;
    b.wait_for_text(".banner", "expire dans 3 jours", WAIT)
        .await;
    // Nothing wider than the phone's screen.
    let (page_width, screen): (u32, u32) = b
        .execute("return [document.documentElement.scrollWidth, window.innerWidth]")
        .await;
    assert!(page_width <= screen, "{page_width} > {screen}");
    b.screenshot("numbers-health-mobile").await;
    b.execute::<serde_json::Value>(&format!(
        "document.getElementById('strip-{}').scrollIntoView(); return null",
        account.id
    ))
    .await;
    b.screenshot("numbers-health-strip-mobile").await;
    b.quit().await;
}
