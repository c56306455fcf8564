//! The reports page in a real browser, over a year of seeded activity:
//! every chart is drawn, with bars (not the « no data » text), on a
//! desktop window and at a phone's width. Screenshots:
//! `target/screenshots/reports-page.png` and `reports-page-phone.png`.

use crate::browser::{Browser, WAIT};
use crate::helpers::{Backend, spawn_app};
use crate::staff::PASSWORD;
use time::{Duration, OffsetDateTime};
use uic_inbox::auth::BuiltinRole;
use uic_inbox::demo::{self, Options};

/// For each chart of the page: whether it holds an SVG, how many bars of
/// some size it draws, and whether it says there is no data.
const CHARTS: &str = r##"
return ["chart-codes", "chart-funnel", "chart-sync"].map(id => {
  const svg = document.querySelector("#" + id + " svg");
  if (!svg) { return [id, false, 0, false]; }
  const bars = [...svg.querySelectorAll("rect")].filter(r => {
    const b = r.getBoundingClientRect();
    return b.width > 0.5 && b.height > 0.5;
  }).length;
  const box = svg.getBoundingClientRect();
  const fits = box.width > 100 && box.right <= window.innerWidth + 1;
  return [id, fits, bars, /Aucune donnée/.test(svg.textContent)];
});
"##;

#[tokio::test]
async fn the_reports_page_draws_every_chart_over_a_seeded_year() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let s = &app.state;
    let seeded = demo::seed(
        &s.db,
        &s.config,
        &s.salt,
        &Options {
            tenant_slug: "rapports".into(),
            conversations: 800,
            messages: 8000,
            registrations: 0,
            seed: 11,
            password: Some(PASSWORD.into()),
        },
        &mut |_| {},
    )
    .await
    .unwrap();
    let supervisor = seeded
        .staff
        .iter()
        .find(|l| l.role == BuiltinRole::Supervisor)
        .expect("a supervisor");

    let b = Browser::start().await;
    b.goto(&format!("{}/login", app.address)).await;
    b.fill("input[name=email]", &supervisor.email).await;
    b.fill("input[name=password]", PASSWORD).await;
    b.click("form[action='/login'] button").await;
    b.wait_for_text("h1", "Bienvenue", WAIT).await;
    let today = OffsetDateTime::now_utc().date();
    let from = today - Duration::days(365);
    b.goto(&format!("{}/reports?from={from}&to={today}", app.address))
        .await;
    b.wait_for_text("h1", "Rapports", WAIT).await;
    let charts: Vec<(String, bool, u64, bool)> = b.execute(CHARTS).await;
    for (id, fits, bars, empty) in &charts {
        assert!(fits, "{id} is drawn within the page: {charts:?}");
        assert!(*bars >= 2, "{id} has bars: {charts:?}");
        assert!(!empty, "{id} has data: {charts:?}");
    }
    // The figures are in the tables too (for screen readers).
    let started = b.text("table.report-funnel tfoot td").await;
    assert!(started.parse::<u64>().is_ok_and(|n| n > 0), "{started}");
    // The whole page in one picture.
    b.set_window(1280, 3600).await;
    b.screenshot("reports-page").await;

    b.set_mobile_width().await;
    b.goto(&format!("{}/reports?from={from}&to={today}", app.address))
        .await;
    b.wait_for_text("h1", "Rapports", WAIT).await;
    let charts: Vec<(String, bool, u64, bool)> = b.execute(CHARTS).await;
    for (id, fits, bars, _) in &charts {
        assert!(*fits && *bars >= 2, "{id} at a phone's width: {charts:?}");
    }
    let height: u32 = b.execute("return document.body.scrollHeight").await;
    b.set_window(360, height.min(8000) + 120).await;
    b.screenshot("reports-page-phone").await;
    b.quit().await;
}
