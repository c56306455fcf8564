//! The DHIS-2 page in a real browser: a registration made while DHIS-2 is
//! down shows as pending, then moves to synced when DHIS-2 is back, without
//! a reload (the status part asks for itself again every 5 s). Screenshot:
//! `target/screenshots/dhis2-page.png`.

use crate::browser::{Browser, WAIT};
use crate::dhis2_sync::{ANSWERS, PHONE, app_for, due_now, register, wait_all, wait_attempts};
use crate::fakes::dhis2::{FakeDhis2, Version};
use crate::helpers::Backend;
use crate::staff::PASSWORD;
use std::time::Duration;
use uic_inbox::auth::BuiltinRole;
use uic_inbox::on_db;

#[tokio::test]
async fn the_dhis2_page_moves_a_registration_from_pending_to_synced_without_reload() {
    let fake = FakeDhis2::start_standard(Version::V2_41).await;
    fake.set_down(true);
    let app = app_for(Backend::Sqlite, &fake).await.unwrap();
    let tenant = app.default_tenant().await;
    app.staff_user(
        tenant,
        "supervisor@ngo.example",
        Some(BuiltinRole::Supervisor),
        None,
    )
    .await;
    let db = &app.state.db;
    register(&app, PHONE, ANSWERS).await;
    wait_attempts(db, 1).await;
    let id: i64 = on_db!(db, p => sqlx::query_scalar(
        "SELECT id FROM whatsapp_accounts WHERE slug = 'twilio'").fetch_one(p).await.unwrap());

    let b = Browser::start().await;
    b.goto(&format!("{}/login", app.address)).await;
    b.fill("input[name=email]", "supervisor@ngo.example").await;
    b.fill("input[name=password]", PASSWORD).await;
    b.click("form[action='/login'] button").await;
    b.wait_for_text("h1", "Bienvenue", WAIT).await;
    b.goto(&format!("{}/dhis2", app.address)).await;
    let row = format!("#dhis2-number-{id}");
    b.wait_for_text(&format!("{row} td[data-state=pending]"), "1", WAIT)
        .await;
    assert_eq!(b.text(&format!("{row} td[data-state=synced]")).await, "0");
    // DHIS-2 being down is said on the page.
    b.wait_for_text("#dhis2-status .flash.warning", "Twilio", WAIT)
        .await;
    // A mark that a reload would wipe.
    b.execute::<serde_json::Value>("window.__notReloaded = 42; return null")
        .await;

    fake.set_down(false);
    due_now(db).await;
    wait_all(db, 1, "synced").await;
    b.wait_for_text(
        &format!("{row} td[data-state=synced]"),
        "1",
        Duration::from_secs(12),
    )
    .await;
    assert_eq!(b.text(&format!("{row} td[data-state=pending]")).await, "0");
    let mark: i64 = b.execute("return window.__notReloaded || 0").await;
    assert_eq!(mark, 42, "the page was not reloaded");
    b.screenshot("dhis2-page").await;
    b.quit().await;
}
