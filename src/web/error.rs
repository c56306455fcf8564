//! The one error type of every handler, staff page or open endpoint, and how
//! it is answered: an HTML page, an htmx fragment or JSON, according to the
//! request.
//!
//! As in axum's error-handling example, the error turns into a response
//! that carries what went wrong ([`Failure`]) as an extension; the layer of
//! its router ([`staff_errors`], [`open_errors`]) reads the request's
//! `HX-Request` and `Accept` and the language of whoever asks, and answers
//! in that form. Staff pages answer HTML unless JSON alone is asked for;
//! open endpoints (webhooks, sandbox, QR links) answer `{"error": "…"}`
//! unless a browser asks for a page. Internal errors are logged once, with
//! their whole chain, and never shown.

use super::texts::Texts;
use super::{assets, texts};
use crate::auth::Lang;
use crate::auth::csrf::Visitor;
use askama::Template;
use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::sync::{Arc, OnceLock};
use tower_sessions::Session;

/// What a request can end with besides its answer.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Not logged in (or the session ended): to the login page, then back
    /// to `next`.
    #[error("log in first")]
    LoginRequired { next: String },
    /// The request cannot be read or is refused as it is: the message says
    /// what to change (already in the asker's language on staff pages).
    #[error("{0}")]
    BadRequest(String),
    /// A webhook without its signature.
    #[error("{0}")]
    Unauthorized(String),
    /// Not allowed; `None` is the staff pages' "ask an administrator".
    #[error("{}", .0.as_deref().unwrap_or("forbidden"))]
    Forbidden(Option<String>),
    /// Nothing there, or nothing there for this tenant (never told apart);
    /// `None` is the plain "no such page".
    #[error("{}", .0.as_deref().unwrap_or("no such page"))]
    NotFound(Option<String>),
    /// The object is not in a state that allows this (a conversation
    /// another staff member holds): the message says why.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A body over the limit.
    #[error("{0}")]
    TooLarge(String),
    /// Busy: trying again later may succeed (a provider retries a 503).
    #[error("{}", .0.as_deref().unwrap_or("the database is busy, try again"))]
    Unavailable(Option<String>),
    /// A fault of ours: logged, never shown.
    #[error(transparent)]
    Internal(anyhow::Error),
}

pub type WebResult<T = Response> = Result<T, WebError>;

impl WebError {
    pub fn forbidden(message: impl Into<String>) -> Self {
        WebError::Forbidden(Some(message.into()))
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        WebError::NotFound(Some(message.into()))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            WebError::LoginRequired { .. } | WebError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            WebError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether trying the same thing again later may succeed: the database
    /// unreachable, busy or in a serialisation conflict (see
    /// [`crate::db::is_transient`]). A database that refuses the data itself
    /// (a constraint, a value it cannot hold) is not.
    pub fn is_transient(&self) -> bool {
        match self {
            WebError::Unavailable(_) => true,
            WebError::Internal(e) => e
                .downcast_ref::<sqlx::Error>()
                .is_some_and(crate::db::is_transient),
            _ => false,
        }
    }

    /// What the response says, logged here once.
    fn failure(self) -> Failure {
        let status = self.status();
        let (message, login_next) = match self {
            WebError::LoginRequired { next } => (None, Some(next)),
            WebError::Internal(e) => {
                // `{:#}` prints the whole context chain, once, in the request span.
                tracing::error!(error = format!("{e:#}"), "internal error");
                (None, None)
            }
            WebError::Unavailable(m) => {
                tracing::warn!(
                    error = m.as_deref().unwrap_or("busy"),
                    "service unavailable"
                );
                (m, None)
            }
            WebError::Forbidden(m) | WebError::NotFound(m) => (m, None),
            WebError::BadRequest(m)
            | WebError::Conflict(m)
            | WebError::Unauthorized(m)
            | WebError::UnsupportedMediaType(m)
            | WebError::TooLarge(m) => (Some(m), None),
        };
        Failure {
            status,
            message,
            login_next,
        }
    }

    /// The answer to a request whose headers are known here (middleware
    /// outside the error layers, the fallback).
    pub fn respond(self, headers: &HeaderMap, default: Format, lang: Lang) -> Response {
        self.failure().respond(Want::of(headers, default), lang)
    }
}

impl From<sqlx::Error> for WebError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => WebError::NotFound(None),
            sqlx::Error::PoolTimedOut => WebError::Unavailable(None),
            other => WebError::Internal(other.into()),
        }
    }
}

impl From<anyhow::Error> for WebError {
    fn from(e: anyhow::Error) -> Self {
        if e.downcast_ref::<crate::auth::Denied>().is_some() {
            return WebError::Forbidden(None);
        }
        match e.downcast::<sqlx::Error>() {
            Ok(e) => e.into(),
            Err(e) => WebError::Internal(e),
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
                WebError::Forbidden(None)
            }
            crate::auth::AccessError::Database(e) => e.into(),
        }
    }
}

/// The inbox's refusals: a database error keeps its own mapping (a busy
/// pool is 503, anything else internal), and a conversation receiving too
/// many messages at once is 503 too, so that a provider retries.
impl From<crate::inbox::Error> for WebError {
    fn from(e: crate::inbox::Error) -> Self {
        match e {
            crate::inbox::Error::Database(e) => e.into(),
            busy @ crate::inbox::Error::Busy => WebError::Unavailable(Some(busy.to_string())),
        }
    }
}

impl From<tower_sessions::session::Error> for WebError {
    fn from(e: tower_sessions::session::Error) -> Self {
        WebError::Internal(e.into())
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(e.into())
    }
}

impl IntoResponse for WebError {
    /// JSON, and the failure for the router's error layer to answer in the
    /// form the request asks for.
    fn into_response(self) -> Response {
        let failure = self.failure();
        let mut res = failure.respond(Want::Json, Lang::default());
        res.extensions_mut().insert(failure);
        res
    }
}

/// What went wrong, as the error layer needs it to answer.
#[derive(Debug, Clone)]
pub struct Failure {
    status: StatusCode,
    /// `None`: the status's own words, in the asker's language.
    message: Option<String>,
    login_next: Option<String>,
}

/// The form an answer takes by default on a router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
}

/// The form the request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Page,
    /// htmx swaps it into the page's error area.
    Fragment,
    Json,
}

impl Want {
    fn of(headers: &HeaderMap, default: Format) -> Want {
        if headers.contains_key(axum_htmx::HX_REQUEST) {
            return Want::Fragment;
        }
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let html = accept.contains("text/html");
        let json = accept.contains("application/json");
        match default {
            Format::Html if json && !html => Want::Json,
            Format::Html => Want::Page,
            Format::Json if html => Want::Page,
            Format::Json => Want::Json,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    t: &'static Texts,
    lang: &'static str,
    title: String,
    message: &'a str,
    css: &'static str,
}

#[derive(Template)]
#[template(path = "error.html", block = "message")]
struct ErrorFragment<'a> {
    message: &'a str,
}

/// A staff form over the size limit.
pub fn form_too_large() -> WebError {
    WebError::TooLarge("Formulaire trop long. / The form is too long.".to_string())
}

/// The id of the element of every staff page where htmx shows an error.
pub const ERRORS_TARGET: &str = "#errors";

const INTERNAL: &str =
    "Erreur interne, réessayez dans un instant. / Internal error, try again shortly.";

impl Failure {
    /// The message in `lang`, or in English for a machine.
    fn message(&self, lang: Option<Lang>) -> String {
        if let Some(m) = &self.message {
            return m.clone();
        }
        let Some(lang) = lang else {
            return match self.status {
                StatusCode::FORBIDDEN => "forbidden",
                StatusCode::NOT_FOUND => "no such page",
                StatusCode::SERVICE_UNAVAILABLE => "the database is busy, try again",
                StatusCode::UNAUTHORIZED => "log in first",
                _ => "internal error; it has been logged",
            }
            .to_string();
        };
        let t = texts(lang);
        match self.status {
            StatusCode::FORBIDDEN => t.error_forbidden,
            StatusCode::NOT_FOUND => t.error_not_found,
            StatusCode::SERVICE_UNAVAILABLE => t.error_busy,
            _ => INTERNAL,
        }
        .to_string()
    }

    fn respond(&self, want: Want, lang: Lang) -> Response {
        if let Some(next) = &self.login_next
            && want != Want::Json
        {
            let to = if next.is_empty() || next == "/" {
                "/login".to_string()
            } else {
                format!(
                    "/login?next={}",
                    percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
                )
            };
            if want == Want::Fragment {
                // htmx is told to load the login page instead of following
                // a redirect into the part of the page it swaps.
                return (StatusCode::UNAUTHORIZED, axum_htmx::HxRedirect(to), "").into_response();
            }
            return Redirect::to(&to).into_response();
        }
        match want {
            Want::Json => (
                self.status,
                Json(serde_json::json!({ "error": self.message(None) })),
            )
                .into_response(),
            Want::Fragment => {
                let message = self.message(Some(lang));
                let html = ErrorFragment { message: &message }.render();
                (
                    self.status,
                    [
                        (axum_htmx::HX_RETARGET, ERRORS_TARGET),
                        (axum_htmx::HX_RESWAP, "innerHTML"),
                    ],
                    Html(html.unwrap_or_default()),
                )
                    .into_response()
            }
            Want::Page => {
                let message = self.message(Some(lang));
                let page = ErrorPage {
                    t: texts(lang),
                    lang: lang.code(),
                    title: self.status.as_u16().to_string(),
                    message: &message,
                    css: assets::css_url(),
                };
                match page.render() {
                    Ok(html) => (self.status, Html(html)).into_response(),
                    Err(_) => self.status.into_response(),
                }
            }
        }
    }
}

/// The language of the staff member making the request, set by the
/// [`super::Staff`] extractor for the error layer (which runs before it).
#[derive(Clone, Default)]
pub struct LangSlot(Arc<OnceLock<Lang>>);

impl LangSlot {
    pub fn set(&self, lang: Lang) {
        let _ = self.0.set(lang);
    }
}

/// The staff pages' error layer: HTML pages, htmx fragments, in the
/// staff member's language (or the visitor's, before login).
pub async fn staff_errors(mut req: Request, next: Next) -> Response {
    let want = Want::of(req.headers(), Format::Html);
    let slot = LangSlot::default();
    req.extensions_mut().insert(slot.clone());
    let session = req.extensions().get::<Session>().cloned();
    let visitor = Visitor::of(req.extensions()).cloned();
    let res = next.run(req).await;
    let Some(failure) = res.extensions().get::<Failure>().cloned() else {
        return res;
    };
    let lang = match (slot.0.get(), &session) {
        (Some(lang), _) => *lang,
        (None, Some(session)) => super::visitor_lang(session, visitor.as_ref()).await,
        (None, None) => visitor.and_then(|v| v.lang).unwrap_or_default(),
    };
    failure.respond(want, lang)
}

/// The open endpoints' error layer: JSON, or a page for a browser.
pub async fn open_errors(req: Request, next: Next) -> Response {
    let want = Want::of(req.headers(), Format::Json);
    let res = next.run(req).await;
    match res.extensions().get::<Failure>() {
        Some(failure) => failure.respond(want, Lang::default()),
        None => res,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn busy_and_unreachable_databases_are_transient_bad_data_is_not() {
        assert!(WebError::Unavailable(None).is_transient());
        assert!(WebError::Internal(sqlx::Error::PoolClosed.into()).is_transient());
        assert!(!WebError::Internal(anyhow::anyhow!("a bug")).is_transient());
        assert!(!WebError::BadRequest("x".into()).is_transient());
        assert!(WebError::from(crate::inbox::Error::Busy).is_transient());
        assert!(
            WebError::from(crate::inbox::Error::Database(sqlx::Error::PoolClosed)).is_transient()
        );
    }

    #[test]
    fn database_errors_keep_their_meaning_however_they_arrive() {
        assert_eq!(
            WebError::from(sqlx::Error::RowNotFound).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            WebError::from(sqlx::Error::PoolTimedOut).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let wrapped = anyhow::Error::from(sqlx::Error::PoolTimedOut).context("loading users");
        assert_eq!(
            WebError::from(wrapped).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            WebError::from(anyhow::anyhow!("a bug")).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn the_request_chooses_the_form_of_the_answer() {
        let browser = headers(&[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")]);
        let htmx = headers(&[("hx-request", "true"), ("accept", "*/*")]);
        let api = headers(&[("accept", "application/json")]);
        let none = HeaderMap::new();
        assert_eq!(Want::of(&browser, Format::Json), Want::Page);
        assert_eq!(Want::of(&browser, Format::Html), Want::Page);
        assert_eq!(Want::of(&htmx, Format::Html), Want::Fragment);
        assert_eq!(Want::of(&api, Format::Html), Want::Json);
        assert_eq!(Want::of(&none, Format::Html), Want::Page);
        assert_eq!(Want::of(&none, Format::Json), Want::Json);
    }

    #[tokio::test]
    async fn each_form_says_the_same_thing_in_its_own_way() {
        let failure = WebError::Forbidden(None).failure();
        let json = failure.respond(Want::Json, Lang::Fr);
        assert_eq!(json.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(json.into_body(), 10_000)
            .await
            .unwrap();
        assert_eq!(body.as_ref(), br#"{"error":"forbidden"}"#);

        let page = failure.respond(Want::Page, Lang::En);
        assert_eq!(page.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(page.into_body(), 100_000)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.starts_with("<!doctype html>"), "{body}");
        assert!(body.contains(r#"<html lang="en">"#), "{body}");
        assert!(body.contains(texts(Lang::En).error_forbidden), "{body}");

        let fragment = failure.respond(Want::Fragment, Lang::En);
        assert_eq!(fragment.status(), StatusCode::FORBIDDEN);
        assert_eq!(fragment.headers()["hx-retarget"], ERRORS_TARGET);
        let body = axum::body::to_bytes(fragment.into_body(), 10_000)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(!body.contains("<html"), "{body}");
        assert!(body.contains(texts(Lang::En).error_forbidden), "{body}");
    }

    #[tokio::test]
    async fn internal_errors_are_never_shown() {
        let failure = WebError::Internal(anyhow::anyhow!("password=hunter2")).failure();
        for want in [Want::Json, Want::Page, Want::Fragment] {
            let res = failure.respond(want, Lang::En);
            assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let body = axum::body::to_bytes(res.into_body(), 100_000)
                .await
                .unwrap();
            assert!(!String::from_utf8_lossy(&body).contains("hunter2"));
        }
    }

    #[test]
    fn a_login_is_a_redirect_for_a_browser_and_a_401_for_a_machine() {
        let failure = WebError::LoginRequired {
            next: "/users?x=1".into(),
        }
        .failure();
        let page = failure.respond(Want::Page, Lang::Fr);
        assert_eq!(page.status(), StatusCode::SEE_OTHER);
        assert_eq!(page.headers()["location"], "/login?next=%2Fusers%3Fx%3D1");
        let fragment = failure.respond(Want::Fragment, Lang::Fr);
        assert_eq!(fragment.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            fragment.headers()["hx-redirect"],
            "/login?next=%2Fusers%3Fx%3D1"
        );
        assert_eq!(
            failure.respond(Want::Json, Lang::Fr).status(),
            StatusCode::UNAUTHORIZED
        );
    }
}
