//! `GET /qr/{token}.png`: the QR image of a signed link (Twilio fetches it
//! to attach it to the final message). The signing and the rendering are
//! `crate::qr`'s.

use super::{WebError, WebResult};
use crate::AppState;
use crate::qr::render_png;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

/// The image, never cached anywhere.
pub async fn image(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> WebResult<Response> {
    let token = token.strip_suffix(".png").unwrap_or(&token);
    let uic = state
        .qr_links
        .verify(token, OffsetDateTime::now_utc())
        .map_err(|e| WebError::not_found(e.to_string()))?;
    let png = render_png(&uic).map_err(|e| WebError::Internal(anyhow::anyhow!(e)))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png,
    )
        .into_response())
}
