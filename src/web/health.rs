//! Liveness, readiness and the seed's `/whatsapp/health`, and the answer to
//! an unknown path. What they report is `crate::health`'s.

use super::WebError;
use crate::AppState;
use crate::health;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// `GET /healthz`: the process answers.
pub async fn alive() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database answers.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if health::report(&state.db).await.database_ok {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
    }
}

/// `GET /whatsapp/health`: the seed's JSON.
pub async fn whatsapp(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let report = health::report(&state.db).await;
    let status = if report.database_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if report.database_ok { "healthy" } else { "unhealthy" },
            "service": "uic-inbox",
            "version": env!("CARGO_PKG_VERSION"),
            "database": report.database,
        })),
    )
}

/// Any unknown path: JSON, or a page for a browser.
pub async fn not_found(headers: axum::http::HeaderMap) -> axum::response::Response {
    WebError::NotFound(None).respond(&headers, super::Format::Json, crate::auth::Lang::default())
}
