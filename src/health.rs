//! Liveness, readiness and the seed's `/whatsapp/health`.

use crate::AppState;
use crate::error::AppError;
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
    if state.db.ping().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
    }
}

/// `GET /whatsapp/health`: the seed's JSON.
pub async fn whatsapp(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let db_ok = state.db.ping().await;
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if db_ok { "healthy" } else { "unhealthy" },
            "service": "uic-inbox",
            "version": env!("CARGO_PKG_VERSION"),
            "database": state.db.backend_name(),
        })),
    )
}

/// Any unknown path.
pub async fn not_found() -> AppError {
    AppError::NotFound("no such page".into())
}
