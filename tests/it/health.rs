use crate::both_backends;
use crate::helpers::{Backend, spawn_app};
use rstest::rstest;
use rstest_reuse::apply;

#[apply(both_backends)]
#[tokio::test]
async fn health_endpoints_answer_with_the_database_up(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    let health: serde_json::Value = app.get("/whatsapp/health").await.json().await.unwrap();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["service"], "uic-inbox");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
}

#[apply(both_backends)]
#[tokio::test]
async fn readiness_fails_when_the_database_is_gone(#[case] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.state.db.close().await;
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert_eq!(app.get("/whatsapp/health").await.status(), 503);
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "the process itself is alive"
    );
}

#[rstest]
#[tokio::test]
async fn an_unknown_path_is_a_clear_404(#[values(Backend::Sqlite)] backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let res = app.get("/nothing/here").await;
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("no such page"));
}
