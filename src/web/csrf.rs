//! The CSRF check of every state-changing request of the staff UI: a POST
//! without the session's token (or, for a visitor not logged in, the
//! visitor cookie's signed token) is refused with 403 before any handler
//! runs. The tokens are `auth::csrf`'s.

use crate::auth::csrf::{FIELD, FORM_LIMIT, HEADER, Visitor};
use crate::auth::session::keys;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

/// The middleware.
pub async fn check(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    session: Session,
    req: Request,
    next: Next,
) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let lang = super::visitor_lang(&session, Visitor::of(req.extensions())).await;
    // A browser says when a request comes from another site.
    if req
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return refused(req.headers(), lang);
    }
    // A visitor without a session: the signed visitor value's token.
    let mut expected = session.get::<String>(keys::CSRF).await.ok().flatten();
    if expected.is_none() {
        expected = Visitor::of(req.extensions()).map(|v| v.token(&state.salt));
    }
    let Some(expected) = expected else {
        return refused(req.headers(), lang);
    };
    let (parts, body) = req.into_parts();
    let (given, body) = if let Some(h) = header_token(&parts.headers) {
        (Some(h), body)
    } else if is_form(&parts.headers) {
        let Ok(bytes) = to_bytes(body, FORM_LIMIT).await else {
            return super::error::form_too_large().respond(
                &parts.headers,
                super::Format::Html,
                lang,
            );
        };
        let token = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == FIELD)
            .map(|(_, v)| v.into_owned());
        (token, Body::from(bytes))
    } else {
        (None, body)
    };
    match given {
        Some(g) if bool::from(g.as_bytes().ct_eq(expected.as_bytes())) => {
            next.run(Request::from_parts(parts, body)).await
        }
        _ => refused(&parts.headers, lang),
    }
}

fn header_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
}

fn refused(headers: &HeaderMap, lang: crate::auth::Lang) -> Response {
    let text = lang.pick(
        "Cette page a expiré ou ne vient pas de ce site. Rechargez-la puis réessayez.",
        "This page has expired or does not come from this site. Reload it and try again.",
    );
    super::WebError::forbidden(text).respond(headers, super::Format::Html, lang)
}
