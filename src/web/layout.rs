//! The frame of every page (title, menu, flash message, scripts) and the
//! helpers that render a page or a form page.

use super::texts::Texts;
use super::{WebError, WebResult, assets, texts};
use crate::auth::Lang;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};

/// The frame of every page.
pub struct Layout {
    pub t: &'static Texts,
    pub lang: &'static str,
    pub title: String,
    pub csrf: String,
    pub user_name: Option<String>,
    pub tenant_name: String,
    pub nav: Vec<NavItem>,
    pub flash: Option<String>,
    /// The numbers whose token needs the staff member (see
    /// `number_health::banner`).
    pub banner: Vec<super::number_health::BannerItem>,
    pub htmx: &'static str,
    pub css: &'static str,
    /// The live-updates stream the page connects to (`/live`, or
    /// `/live?conversation={id}` on a conversation's page), for those who
    /// see conversations; with the htmx SSE extension's URL.
    pub live: Option<String>,
    pub sse: &'static str,
}

impl Layout {
    /// For pages seen before login.
    pub fn anonymous(lang: Lang, title: impl Into<String>, csrf: String) -> Layout {
        Layout {
            t: texts(lang),
            lang: lang.code(),
            title: title.into(),
            csrf,
            user_name: None,
            tenant_name: String::new(),
            nav: Vec::new(),
            flash: None,
            banner: Vec::new(),
            htmx: assets::htmx_url(),
            css: assets::css_url(),
            live: None,
            sse: assets::sse_url(),
        }
    }
}

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
    /// Carries the waiting-conversations badge (loaded, then kept live).
    pub badge: bool,
}

impl NavItem {
    pub(super) fn new(href: &'static str, label: &'static str, active: &str) -> NavItem {
        NavItem {
            href,
            label,
            active: href == active || active.starts_with(&format!("{href}/")),
            badge: href == "/conversations",
        }
    }
}

/// A date and time as the pages write them: in UTC, and saying so.
pub fn when(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
}

/// Renders a template as a page.
pub fn page(t: impl Template) -> WebResult {
    let html = t.render().map_err(|e| WebError::Internal(e.into()))?;
    Ok(Html(html).into_response())
}

/// Renders a form page: 400 when it shows a problem with what was sent.
pub fn form_page(t: impl Template, failed: bool) -> WebResult {
    let mut res = page(t)?;
    if failed {
        *res.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(res)
}

/// After a successful form: back to a page (303 so the browser GETs it).
pub fn see_other(to: &str) -> WebResult {
    Ok(Redirect::to(to).into_response())
}
