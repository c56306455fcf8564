//! What a staff request can end with besides its page: the login page, 403,
//! 404, 400 with a message, or 500 (logged once, never shown).

use super::texts::Texts;
use super::{assets, texts};
use crate::auth::Lang;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

/// What a staff request can end with besides its page.
#[derive(Debug)]
pub enum WebError {
    /// Not logged in (or the session ended): to the login page.
    LoginRequired {
        next: String,
        /// Asked by htmx: it is told to load the login page instead of
        /// following a redirect into the part of the page it swaps.
        htmx: bool,
    },
    Forbidden(Lang),
    NotFound(Lang),
    BadRequest(Lang, String),
    Internal(anyhow::Error),
}

impl From<sqlx::Error> for WebError {
    fn from(e: sqlx::Error) -> Self {
        WebError::Internal(e.into())
    }
}

impl From<anyhow::Error> for WebError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast_ref::<crate::auth::Denied>() {
            Some(_) => WebError::Forbidden(Lang::default()),
            None => WebError::Internal(e),
        }
    }
}

impl From<crate::auth::AccessError> for WebError {
    fn from(e: crate::auth::AccessError) -> Self {
        match e {
            // A storage function refused the access it was given: a
            // mistake of the page, refused rather than trusted.
            crate::auth::AccessError::Denied(d) => {
                tracing::error!(error = %d, "a page passed the wrong access to storage");
                WebError::Forbidden(Lang::default())
            }
            crate::auth::AccessError::Database(e) => WebError::Internal(e.into()),
        }
    }
}

impl From<tower_sessions::session::Error> for WebError {
    fn from(e: tower_sessions::session::Error) -> Self {
        WebError::Internal(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    t: &'static Texts,
    lang: &'static str,
    title: String,
    message: String,
    css: &'static str,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, lang, message) = match self {
            WebError::LoginRequired { next, htmx } => {
                let to = if next.is_empty() || next == "/" {
                    "/login".to_string()
                } else {
                    format!(
                        "/login?next={}",
                        percent_encoding::utf8_percent_encode(
                            &next,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    )
                };
                if htmx {
                    return (StatusCode::UNAUTHORIZED, axum_htmx::HxRedirect(to), "")
                        .into_response();
                }
                return Redirect::to(&to).into_response();
            }
            WebError::Forbidden(lang) => (
                StatusCode::FORBIDDEN,
                lang,
                texts(lang).error_forbidden.to_string(),
            ),
            WebError::NotFound(lang) => (
                StatusCode::NOT_FOUND,
                lang,
                texts(lang).error_not_found.to_string(),
            ),
            WebError::BadRequest(lang, m) => (StatusCode::BAD_REQUEST, lang, m),
            WebError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "staff request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Lang::Fr,
                    "Erreur interne, réessayez dans un instant. / Internal error, try again shortly."
                        .to_string(),
                )
            }
        };
        let t = texts(lang);
        let page = ErrorPage {
            t,
            lang: lang.code(),
            title: format!("{}", status.as_u16()),
            message,
            css: assets::css_url(),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => status.into_response(),
        }
    }
}

pub type WebResult<T = Response> = Result<T, WebError>;
