use crate::helpers::{Backend, spawn_app};
use rstest::rstest;

#[rstest]
#[tokio::test]
async fn health_endpoints_answer_with_the_database_up(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let alive = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), 200);
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let health: serde_json::Value = app
        .client
        .get(format!("{}/whatsapp/health", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["service"], "uic-inbox");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
}

#[rstest]
#[tokio::test]
async fn readiness_fails_when_the_database_is_gone(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.state.db.close().await;
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let health = app
        .client
        .get(format!("{}/whatsapp/health", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 503);
}
