//! The staff web UI: askama pages, htmx partials, one permission check.
//!
//! Every page handler takes a [`Staff`] (the logged-in user, their tenant
//! and grants) and calls [`Staff::require`] before touching anything; a
//! tenant's objects are loaded with the tenant id, so another tenant's
//! object is a 404. Routes are added through [`Routes`], which keeps the
//! list of every route the app serves (the route table test reads it).

pub mod accounts;
pub mod assets;
pub mod audit;
pub mod clean;
pub mod home;
pub mod login;
pub mod roles;
pub mod settings;
pub mod simulator;
pub mod tenants;
pub mod texts;
pub mod users;

use crate::AppState;
use crate::auth::session::{self, keys};
use crate::auth::store::{self as auth_store, User};
use crate::auth::{Grants, Lang, Permission, Scope};
use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::net::{IpAddr, SocketAddr};
use texts::Texts;
use tower_sessions::Session;

pub use texts::texts;

/// Every route of the app, with the layers it needs.
pub struct Routes {
    /// Staff pages: session and CSRF layers.
    ui: Router<AppState>,
    /// Webhooks, health, static files: no session.
    open: Router<AppState>,
    table: Vec<(&'static str, &'static str)>,
}

macro_rules! route_fn {
    ($name:ident, $open:ident, $method:literal, $routing:path) => {
        pub fn $name<H: Handler<T, AppState>, T: 'static>(
            mut self,
            path: &'static str,
            h: H,
        ) -> Self {
            self.table.push(($method, path));
            self.ui = self.ui.route(path, $routing(h));
            self
        }
        pub fn $open<H: Handler<T, AppState>, T: 'static>(
            mut self,
            path: &'static str,
            h: H,
        ) -> Self {
            self.table.push(($method, path));
            self.open = self.open.route(path, $routing(h));
            self
        }
    };
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            ui: Router::new(),
            open: Router::new(),
            table: Vec::new(),
        }
    }
}

impl Routes {
    route_fn!(get, open_get, "GET", axum::routing::get);
    route_fn!(post, open_post, "POST", axum::routing::post);

    /// Static files (their names are only known at run time).
    pub fn assets(mut self) -> Self {
        self.table.push(("GET", "/static/{file}"));
        // Compressed: htmx is a third of its size gzipped, on slow networks.
        self.open = self
            .open
            .merge(assets::router().layer(tower_http::compression::CompressionLayer::new()));
        self
    }

    /// `(method, path)` of every route.
    pub fn table(&self) -> &[(&'static str, &'static str)] {
        &self.table
    }

    /// The staff router (session, CSRF) and the open router.
    pub fn into_parts(self) -> (Router<AppState>, Router<AppState>) {
        (self.ui, self.open)
    }
}

/// The staff pages.
pub fn routes(r: Routes) -> Routes {
    let r = login::routes(r);
    let r = home::routes(r);
    let r = users::routes(r);
    let r = roles::routes(r);
    let r = accounts::routes(r);
    let r = audit::routes(r);
    let r = simulator::routes(r);
    let r = settings::routes(r);
    tenants::routes(r)
}

/// Wraps the staff router in its layers (CSRF inside the session, then the
/// input check).
pub fn layered(ui: Router<AppState>, state: &AppState) -> Router<AppState> {
    let ui = ui.layer(axum::middleware::from_fn(clean::staff)).layer(
        axum::middleware::from_fn_with_state(state.clone(), crate::auth::csrf::check),
    );
    let timeouts = session::Timeouts {
        idle: state.config.staff_session_idle,
        absolute: state.config.staff_session_max,
    };
    let secure = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    session::layer(ui, &state.db, timeouts, secure)
        .layer(axum::middleware::from_fn(crate::auth::csrf::visitor_cookie))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(tower_http::compression::CompressionLayer::new())
}

/// Headers every staff page carries.
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

// ---- errors ----

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
        WebError::Internal(e)
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

// ---- the logged-in staff member ----

/// The staff member making the request.
pub struct Staff {
    pub user: User,
    /// The tenant being worked in (a platform administrator may switch).
    pub tenant_id: i64,
    pub tenant_name: String,
    pub grants: Grants,
    pub csrf: String,
    pub lang: Lang,
    pub ip: String,
    /// The server's base URL (`https://inbox.example.org`) for links staff
    /// pass on (see `login::links_url`).
    pub origin: String,
    pub session: Session,
    flash: Option<String>,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let htmx = parts.headers.contains_key(axum_htmx::HX_REQUEST);
        let login = || WebError::LoginRequired {
            next: next.clone(),
            htmx,
        };
        let session =
            parts.extensions.get::<Session>().cloned().ok_or_else(|| {
                WebError::Internal(anyhow::anyhow!("no session layer on this route"))
            })?;
        let Some(user_id) = session.get::<i64>(keys::USER).await? else {
            return Err(login());
        };
        let now = session::unix_now();
        let login_us = session.get::<i64>(keys::LOGIN_AT).await?.unwrap_or(0);
        let max_us = i64::try_from(state.config.staff_session_max.as_micros()).unwrap_or(i64::MAX);
        let now_us = session::unix_micros(time::OffsetDateTime::now_utc());
        let user = auth_store::find_user(&state.db, user_id).await?;
        let Some(user) = user.filter(|u| {
            !u.is_disabled()
                && now_us.saturating_sub(login_us) < max_us
                && session::opened_after(login_us, u.password_changed_at)
        }) else {
            // Disabled, deleted, logged in too long ago, or logged in before
            // the password last changed: the session ends now.
            session.flush().await?;
            return Err(login());
        };
        // Extending the idle timeout writes the session: once a minute (or
        // a quarter of the timeout, if shorter) is enough.
        let seen = session.get::<i64>(keys::SEEN).await?.unwrap_or(0);
        let every = (state.config.staff_session_idle.as_secs() as i64 / 4).clamp(1, 60);
        if now - seen >= every {
            session.insert(keys::SEEN, now).await?;
        }
        let mut tenant_id = user.tenant_id;
        if user.platform_admin
            && let Some(t) = session.get::<i64>(keys::TENANT).await?
        {
            tenant_id = t;
        }
        let tenant_name = crate::tenancy::store::tenant_name(&state.db, tenant_id)
            .await?
            .unwrap_or_default();
        let grants = auth_store::grants(&state.db, &user).await?;
        let csrf = session::csrf_token(&session).await?;
        let flash = session.remove::<String>(keys::FLASH).await?;
        let lang = user.lang();
        Ok(Staff {
            ip: client_ip(parts, &state.config.trusted_proxies),
            origin: login::links_url(state),
            user,
            tenant_id,
            tenant_name,
            grants,
            csrf,
            lang,
            session,
            flash,
        })
    }
}

impl Staff {
    /// The one permission check: `Err(403)` unless the user may.
    pub fn require(&self, p: Permission, scope: Scope) -> WebResult<()> {
        if self.grants.can(p, scope) {
            Ok(())
        } else {
            Err(WebError::Forbidden(self.lang))
        }
    }

    pub fn can(&self, p: Permission, scope: Scope) -> bool {
        self.grants.can(p, scope)
    }

    pub fn t(&self) -> &'static Texts {
        texts(self.lang)
    }

    pub fn not_found(&self) -> WebError {
        WebError::NotFound(self.lang)
    }

    pub fn bad_request(&self, message: impl Into<String>) -> WebError {
        WebError::BadRequest(self.lang, message.into())
    }

    /// Writes an audit entry in the current tenant.
    pub async fn audit(
        &self,
        state: &AppState,
        action: &str,
        target: impl Into<String>,
        detail: impl Into<String>,
    ) -> WebResult<()> {
        crate::audit::record(
            &state.db,
            &crate::audit::Entry {
                tenant_id: Some(self.tenant_id),
                user_id: Some(self.user.id),
                actor: &self.user.email,
                action,
                target: target.into(),
                detail: detail.into(),
                ip: Some(&self.ip),
            },
        )
        .await?;
        Ok(())
    }

    /// What every page's layout needs.
    pub fn layout(&self, title: impl Into<String>, active: &str) -> Layout {
        let t = self.t();
        let mut nav = vec![NavItem::new("/", t.nav_home, active)];
        let items: [(&str, &str, Permission, Scope); 6] = [
            (
                "/accounts",
                t.nav_accounts,
                Permission::AccountsView,
                Scope::AnyAccount,
            ),
            (
                "/simulator",
                t.nav_simulator,
                Permission::SimulatorUse,
                Scope::AnyAccount,
            ),
            (
                "/users",
                t.nav_users,
                Permission::UsersManage,
                Scope::Tenant,
            ),
            (
                "/roles",
                t.nav_roles,
                Permission::RolesManage,
                Scope::Tenant,
            ),
            ("/audit", t.nav_audit, Permission::AuditView, Scope::Tenant),
            (
                "/settings",
                t.nav_settings,
                Permission::SettingsManage,
                Scope::Tenant,
            ),
        ];
        for (href, label, p, scope) in items {
            if self.can(p, scope) {
                nav.push(NavItem::new(href, label, active));
            }
        }
        if self.user.platform_admin {
            nav.push(NavItem::new("/tenants", t.nav_tenants, active));
        }
        Layout {
            t,
            lang: self.lang.code(),
            title: title.into(),
            csrf: self.csrf.clone(),
            user_name: Some(self.user.display_name.clone()),
            tenant_name: self.tenant_name.clone(),
            nav,
            flash: self.flash.clone(),
            htmx: assets::htmx_url(),
            css: assets::css_url(),
        }
    }

    /// A message for the next page.
    pub async fn flash(&self, message: impl Into<String>) {
        session::flash(&self.session, message).await;
    }
}

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
    pub htmx: &'static str,
    pub css: &'static str,
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
            htmx: assets::htmx_url(),
            css: assets::css_url(),
        }
    }
}

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

impl NavItem {
    fn new(href: &'static str, label: &'static str, active: &str) -> NavItem {
        NavItem {
            href,
            label,
            active: href == active,
        }
    }
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

/// The address of the client: the socket's peer, or, when that peer is a
/// trusted proxy (`TRUSTED_PROXIES`, loopback by default), the address the
/// proxy appended last to `X-Forwarded-For`. Any other peer could write
/// whatever it likes in that header, and a private address proves nothing
/// (a container network, or a proxy that adds no header).
pub fn client_ip(parts: &Parts, trusted: &[ipnet::IpNet]) -> String {
    let peer = peer_ip(parts);
    forwarded_ip(peer, &parts.headers, trusted)
        .or(peer)
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The socket's peer address, whatever the headers say.
pub fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

fn forwarded_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    // An IPv4 peer on an IPv6 socket shows as ::ffff:a.b.c.d.
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        v4 => v4,
    };
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return None;
    }
    headers
        .get("x-forwarded-for")?
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The language of a visitor not logged in: the one chosen on the login
/// page (kept in the session, or in the visitor cookie when there is no
/// session), else French (the product's first language, whatever the
/// browser).
pub async fn visitor_lang(session: &Session, visitor: Option<&crate::auth::csrf::Visitor>) -> Lang {
    match session.get::<String>(keys::LANG).await {
        Ok(Some(l)) => Lang::parse(&l).unwrap_or_default(),
        _ => visitor.and_then(|v| v.lang).unwrap_or_default(),
    }
}

/// Whether cookies are marked `Secure` (`PUBLIC_URL` is https).
pub fn secure_cookies(state: &AppState) -> bool {
    state
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
}

/// Checkbox and multi-select values of a form (`name=a&name=b`), which
/// `Form<T>` cannot read into a struct.
pub fn form_values<'a>(body: &'a [(String, String)], name: &str) -> impl Iterator<Item = &'a str> {
    body.iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// One field of a form read as pairs.
pub fn form_value<'a>(body: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form_values(body, name).next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 41.243.1.2"),
        );
        let loopback = crate::config::default_trusted_proxies();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let lan: IpAddr = "172.18.0.3".parse().unwrap();
        let internet: IpAddr = "41.243.9.9".parse().unwrap();
        let last: IpAddr = "41.243.1.2".parse().unwrap();
        assert_eq!(forwarded_ip(Some(local), &h, &loopback), Some(last));
        assert_eq!(forwarded_ip(Some(mapped), &h, &loopback), Some(last));
        // A container network or LAN peer is not believed unless listed.
        assert_eq!(forwarded_ip(Some(lan), &h, &loopback), None);
        let docker: Vec<ipnet::IpNet> = vec!["172.16.0.0/12".parse().unwrap()];
        assert_eq!(forwarded_ip(Some(lan), &h, &docker), Some(last));
        assert_eq!(forwarded_ip(Some(local), &h, &docker), None);
        assert_eq!(forwarded_ip(Some(internet), &h, &loopback), None);
        assert_eq!(
            forwarded_ip(Some(local), &HeaderMap::new(), &loopback),
            None
        );
    }
}
