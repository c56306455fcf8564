//! `POST /sandbox/{account}/messages`: the sandbox provider's JSON endpoint,
//! answered only on the server itself (staff use the phone simulator of the
//! web pages instead). The rules are `channel::sandbox`'s.

use super::{WebError, WebResult};
use crate::AppState;
use crate::channel::sandbox::{self, SandboxAnswer, SandboxMessage};
use crate::tenancy::{Provider, store as accounts};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};

pub async fn post_message(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    parts: axum::http::request::Parts,
    body: Result<Json<SandboxMessage>, JsonRejection>,
) -> WebResult<Json<SandboxAnswer>> {
    let relayed = ["x-forwarded-for", "forwarded", "x-real-ip"]
        .iter()
        .any(|h| parts.headers.contains_key(*h));
    if !sandbox::is_local(super::peer_ip(&parts), relayed) {
        return Err(WebError::forbidden(
            "the sandbox endpoint answers only on the server itself; use the phone simulator of the staff pages",
        ));
    }
    let Json(msg) = body.map_err(|e| match e {
        JsonRejection::MissingJsonContentType(e) => WebError::UnsupportedMediaType(e.body_text()),
        other => WebError::BadRequest(other.body_text()),
    })?;
    let account = accounts::find_by_slug(&state.db, &slug)
        .await?
        .filter(|a| a.provider() == Provider::Sandbox && a.enabled)
        .ok_or_else(|| WebError::not_found(format!("no sandbox account named {slug:?}")))?;
    let inbound = sandbox::inbound(msg).map_err(WebError::BadRequest)?;
    let answer = sandbox::exchange(&state.inbox(), &state.qr_links, &account, &inbound).await?;
    Ok(Json(answer))
}
