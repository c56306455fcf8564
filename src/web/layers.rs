//! The layers around the staff pages: input check, CSRF, session, visitor
//! cookie, security headers, compression.

use super::{clean, secure_cookies};
use crate::AppState;
use crate::auth::session;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

/// Headers every staff page carries: no script but our own, no framing,
/// no sniffing, no referrer to other sites, and no caching of pages (the
/// `Cache-Control` a page sets itself stands).
const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
         frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "same-origin"),
];

/// Wraps the staff router in its layers (CSRF inside the session, then the
/// input check).
pub fn layered(ui: Router<AppState>, state: &AppState) -> Router<AppState> {
    let ui = ui
        .layer(axum::middleware::from_fn(super::error::staff_errors))
        .layer(axum::middleware::from_fn(clean::staff))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::csrf::check,
        ));
    let timeouts = session::Timeouts {
        idle: state.config.staff_session_idle,
        absolute: state.config.staff_session_max,
    };
    let mut ui = session::layer(ui, &state.db, timeouts, secure_cookies(state))
        .layer(axum::middleware::from_fn(crate::auth::csrf::visitor_cookie));
    for (name, value) in SECURITY_HEADERS {
        ui = ui.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    ui.layer(SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ))
    .layer(tower_http::compression::CompressionLayer::new())
}
