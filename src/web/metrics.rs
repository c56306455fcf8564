//! `GET /metrics`: the Prometheus text format (see `crate::telemetry`). The
//! reverse proxy does not serve it to the public; with `METRICS_TOKEN` set
//! it also needs `Authorization: Bearer {token}`. The gauges of what the
//! database or the process knows (outbox, DHIS-2 queue, tokens, live
//! streams, pools) are read here, at each scrape.

use crate::AppState;
use crate::outbox::store as outbox;
use crate::telemetry;
use crate::tokens::{self, store as token_store};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

pub async fn render(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.config.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let good: bool = given
            .as_bytes()
            .ct_eq(token.expose_secret().as_bytes())
            .into();
        if !good {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics: send Authorization: Bearer with the METRICS_TOKEN value\n",
            )
                .into_response();
        }
    }
    match outbox::count_by_status(&state.db).await {
        Ok(counts) => {
            for (status, n) in counts {
                telemetry::set_outbox_rows(status.as_str(), n);
            }
        }
        // The counters still answer; the gauge keeps its last value.
        Err(e) => tracing::warn!(error = %e, "metrics: counting the outbox failed"),
    }
    telemetry::set_live_streams(state.live.connections());
    telemetry::set_db_pools(&state.db);
    match crate::dhis2::store::depth(&state.db).await {
        Ok(counts) => {
            for s in crate::dhis2::SyncState::ALL {
                let n = counts
                    .iter()
                    .find(|(state, _)| state == s)
                    .map_or(0, |(_, n)| *n);
                telemetry::set_dhis2_jobs(s.as_str(), n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: counting the DHIS-2 sync jobs failed"),
    }
    match token_store::expiries(&state.db).await {
        Ok(expiries) => {
            let now = time::OffsetDateTime::now_utc();
            for (slug, at) in expiries {
                telemetry::set_token_days_left(&slug, tokens::days_left(at, now));
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading the token expiries failed"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        telemetry::handle().render(),
    )
        .into_response()
}
