//! Login, logout, the first administrator's setup link and invitations.

use super::{Layout, Routes, Staff, WebError, WebResult, page, see_other, texts, visitor_lang};
use crate::AppState;
use crate::auth::csrf::{Visitor, VisitorCookie};
use crate::auth::session::{self, keys};
use crate::auth::store::{self as auth_store, LinkPurpose, Redeemed};
use crate::auth::{Lang, password};
use askama::Template;
use axum::Extension;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use tower_sessions::Session;

pub fn routes(r: Routes) -> Routes {
    r.get("/login", login_page)
        .post("/login", login)
        .post("/logout", logout)
        .get("/setup/{token}", setup_page)
        .post("/setup/{token}", setup)
        .get("/invite/{token}", invite_page)
        .post("/invite/{token}", invite)
}

/// How long an invitation or reset link works.
pub const INVITE_LINK_VALID: Duration = Duration::days(7);

/// The base of links staff pass on (see `auth::setup::links_url`).
pub fn links_url(state: &AppState) -> String {
    crate::auth::setup::links_url(&state.config, state.listen_port.get().copied())
}

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    p: Layout,
    next: String,
    email: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
}

/// Only a path of this site, or `/`.
///
/// Browsers drop tabs and line breaks from a URL and read `\\` as `/`, so
/// `/\t/evil.example` would leave the site as `//evil.example`: any control
/// character or backslash is refused outright rather than cleaned. What is
/// left must not start with `//` (another host). Characters outside ASCII
/// are percent-encoded so the `Location` header is always valid.
fn safe_next(next: Option<&str>) -> String {
    let Some(n) = next else {
        return "/".to_string();
    };
    if !n.starts_with('/') || n.starts_with("//") || n.chars().any(|c| c.is_control() || c == '\\')
    {
        return "/".to_string();
    }
    percent_encoding::utf8_percent_encode(n, percent_encoding::CONTROLS).to_string()
}

/// The CSRF token of a form shown before login (login, setup, invitation).
/// With a session (a logged-in user, or one with a token already), the
/// session's. Otherwise nothing is stored: the visitor cookie's signed value
/// (see `auth::csrf`), and the cookie to set when it is new or the language
/// changed.
async fn login_token(
    state: &AppState,
    session: &Session,
    known: Option<&Visitor>,
    chosen: Option<Lang>,
) -> WebResult<(String, Option<String>)> {
    if session.get::<String>(keys::CSRF).await?.is_some() {
        if let Some(l) = chosen {
            session.insert(keys::LANG, l.code()).await?;
        }
        return Ok((session::csrf_token(session).await?, None));
    }
    let mut visitor = known.cloned().unwrap_or_else(|| Visitor::new(None));
    if chosen.is_some() {
        visitor.lang = chosen;
    }
    let cookie = (known != Some(&visitor)).then(|| visitor.cookie(super::secure_cookies(state)));
    Ok((visitor.token(&state.salt), cookie))
}

/// Adds the visitor cookie, if any, to a response.
fn with_cookie(mut res: axum::response::Response, cookie: Option<String>) -> WebResult {
    if let Some(c) = cookie {
        let value = axum::http::HeaderValue::from_str(&c)
            .map_err(|e| WebError::Internal(anyhow::anyhow!("visitor cookie: {e}")))?;
        res.headers_mut()
            .append(axum::http::header::SET_COOKIE, value);
    }
    Ok(res)
}

async fn login_page(
    State(state): State<AppState>,
    session: Session,
    Extension(VisitorCookie(visitor)): Extension<VisitorCookie>,
    Query(q): Query<LoginQuery>,
) -> WebResult {
    let chosen = q.lang.as_deref().and_then(Lang::parse);
    let (csrf, cookie) = login_token(&state, &session, visitor.as_ref(), chosen).await?;
    let lang = match chosen {
        Some(l) => l,
        None => visitor_lang(&session, visitor.as_ref()).await,
    };
    let res = page(LoginPage {
        p: Layout::anonymous(lang, texts(lang).login_title, csrf),
        next: safe_next(q.next.as_deref()),
        email: String::new(),
        error: None,
    })?;
    with_cookie(res, cookie)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    session: Session,
    parts: Parts,
    Form(f): Form<LoginForm>,
) -> WebResult {
    let visitor = Visitor::of(&parts.extensions);
    let lang = visitor_lang(&session, visitor).await;
    let t = texts(lang);
    let ip = super::client_ip(&parts, &state.config.trusted_proxies);
    // A failed attempt stores no session either.
    let (csrf, _) = login_token(&state, &session, visitor, None).await?;
    let again = |status: StatusCode, error: String| -> WebResult {
        let mut res = page(LoginPage {
            p: Layout::anonymous(lang, t.login_title, csrf.clone()),
            next: safe_next(f.next.as_deref()),
            email: f.email.trim().to_string(),
            error: Some(error),
        })?;
        *res.status_mut() = status;
        Ok(res)
    };
    let email = auth_store::normalize_email(&f.email);
    if email.is_empty() || f.password.is_empty() {
        return again(StatusCode::BAD_REQUEST, t.login_missing.to_string());
    }
    let user = auth_store::find_by_email(&state.db, &email).await?;
    let tenant = user.as_ref().map(|u| u.tenant_id);
    let user_id = user.as_ref().map(|u| u.id);
    let audit = |action: &'static str, detail: String| {
        let db = state.db.clone();
        let ip = ip.clone();
        let email = email.clone();
        async move {
            crate::audit::record(
                &db,
                &crate::audit::Entry {
                    tenant_id: tenant,
                    user_id,
                    actor: &email,
                    action,
                    target: String::new(),
                    detail,
                    ip: Some(&ip),
                },
            )
            .await
        }
    };
    let now = OffsetDateTime::now_utc();
    let throttle = auth_store::throttle(&state.db, &email, &ip, now).await?;
    if let Some(until) = throttle.locked_until {
        let minutes = ((until - now).whole_seconds() + 59) / 60;
        audit("login.throttled", String::new()).await?;
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            match lang {
                Lang::Fr => format!(
                    "Trop de tentatives de connexion. Réessayez dans {} minute{}.",
                    minutes.max(1),
                    if minutes > 1 { "s" } else { "" }
                ),
                Lang::En => format!(
                    "Too many login attempts. Try again in {} minute{}.",
                    minutes.max(1),
                    if minutes > 1 { "s" } else { "" }
                ),
            },
        );
    }
    // Failing from many addresses: slower answers, never a lock the right
    // password cannot pass.
    if !throttle.delay.is_zero() {
        tokio::time::sleep(throttle.delay).await;
    }
    let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
    if !password::verify(&f.password, hash).await {
        auth_store::record_failure(&state.db, &email, &ip, OffsetDateTime::now_utc()).await?;
        audit("login.failed", String::new()).await?;
        return again(StatusCode::UNAUTHORIZED, t.login_wrong.to_string());
    }
    let Some(user) = user.filter(|u| !u.is_disabled()) else {
        audit("login.disabled", String::new()).await?;
        return again(StatusCode::FORBIDDEN, t.login_disabled.to_string());
    };
    auth_store::clear_failures(&state.db, &email, &ip).await?;
    start_session(&state, &session, user.id).await?;
    audit("login", String::new()).await?;
    see_other(&safe_next(f.next.as_deref()))
}

async fn logout(
    State(state): State<AppState>,
    staff: Result<Staff, WebError>,
    session: Session,
) -> WebResult {
    if let Ok(staff) = staff {
        staff.audit(&state, "logout", "", "").await?;
    }
    session.flush().await?;
    see_other("/login")
}

#[derive(Template)]
#[template(path = "auth/setup.html")]
struct SetupPage {
    p: Layout,
    /// Invitation: the user's address, fixed.
    invited: Option<String>,
    action: String,
    email: String,
    name: String,
    error: Option<String>,
}

fn link_gone(lang: Lang) -> WebError {
    WebError::BadRequest(texts(lang).link_gone.to_string())
}

async fn setup_page(
    State(state): State<AppState>,
    session: Session,
    Extension(VisitorCookie(visitor)): Extension<VisitorCookie>,
    Path(token): Path<String>,
) -> WebResult {
    let lang = visitor_lang(&session, visitor.as_ref()).await;
    if auth_store::peek_link(&state.db, &token, LinkPurpose::Setup)
        .await?
        .is_none()
    {
        return Err(link_gone(lang));
    }
    let (csrf, cookie) = login_token(&state, &session, visitor.as_ref(), None).await?;
    let res = page(SetupPage {
        p: Layout::anonymous(lang, texts(lang).setup_title, csrf),
        invited: None,
        action: format!("/setup/{token}"),
        email: String::new(),
        name: String::new(),
        error: None,
    })?;
    with_cookie(res, cookie)
}

#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

async fn setup(
    State(state): State<AppState>,
    session: Session,
    parts: Parts,
    Path(token): Path<String>,
    Form(f): Form<SetupForm>,
) -> WebResult {
    let lang = visitor_lang(&session, Visitor::of(&parts.extensions)).await;
    let t = texts(lang);
    if auth_store::peek_link(&state.db, &token, LinkPurpose::Setup)
        .await?
        .is_none()
    {
        return Err(link_gone(lang));
    }
    let (csrf, _) = login_token(&state, &session, Visitor::of(&parts.extensions), None).await?;
    let again = |error: String| -> WebResult {
        super::form_page(
            SetupPage {
                p: Layout::anonymous(lang, t.setup_title, csrf.clone()),
                invited: None,
                action: format!("/setup/{token}"),
                email: f.email.trim().to_string(),
                name: f.name.trim().to_string(),
                error: Some(error),
            },
            true,
        )
    };
    if !auth_store::valid_email(&f.email) {
        return again(t.email_invalid.to_string());
    }
    if f.name.trim().is_empty() {
        return again(t.name_missing.to_string());
    }
    if let Err(e) = password::check_new(&f.password, &f.confirm, lang, &[&f.email, &f.name]) {
        return again(e);
    }
    if auth_store::find_by_email(&state.db, &f.email)
        .await?
        .is_some()
    {
        return again(t.email_taken.to_string());
    }
    let hash = password::hash(&f.password).await?;
    let ip = super::client_ip(&parts, &state.config.trusted_proxies);
    match auth_store::redeem_setup(&state.db, &token, &f.email, &f.name, &hash, lang, &ip).await? {
        Redeemed::Done(user) => {
            start_session(&state, &session, user.id).await?;
            see_other("/")
        }
        Redeemed::EmailTaken => again(t.email_taken.to_string()),
        Redeemed::LinkGone => Err(link_gone(lang)),
    }
}

/// The link's purpose and user, if the token is a valid invitation or reset.
async fn invited_user(
    state: &AppState,
    token: &str,
    lang: Lang,
) -> WebResult<(LinkPurpose, auth_store::User)> {
    for purpose in [LinkPurpose::Invite, LinkPurpose::Reset] {
        if let Some(link) = auth_store::peek_link(&state.db, token, purpose).await?
            && let Some(user) = auth_store::find_user(&state.db, link.user_id.unwrap_or(0)).await?
        {
            return Ok((purpose, user));
        }
    }
    Err(link_gone(lang))
}

/// The form where an invited user chooses a password.
async fn invite_form(
    state: &AppState,
    session: &Session,
    visitor: Option<&Visitor>,
    token: &str,
    user: auth_store::User,
    error: Option<String>,
) -> WebResult {
    let lang = user.lang();
    let (csrf, cookie) = login_token(state, session, visitor, None).await?;
    let failed = error.is_some();
    let res = super::form_page(
        SetupPage {
            p: Layout::anonymous(lang, texts(lang).invite_title, csrf),
            invited: Some(user.email.clone()),
            action: format!("/invite/{token}"),
            email: user.email,
            name: user.display_name,
            error,
        },
        failed,
    )?;
    with_cookie(res, cookie)
}

async fn invite_page(
    State(state): State<AppState>,
    session: Session,
    Extension(VisitorCookie(visitor)): Extension<VisitorCookie>,
    Path(token): Path<String>,
) -> WebResult {
    let lang = visitor_lang(&session, visitor.as_ref()).await;
    let (_, user) = invited_user(&state, &token, lang).await?;
    invite_form(&state, &session, visitor.as_ref(), &token, user, None).await
}

async fn invite(
    State(state): State<AppState>,
    session: Session,
    parts: Parts,
    Path(token): Path<String>,
    Form(f): Form<SetupForm>,
) -> WebResult {
    let lang = visitor_lang(&session, Visitor::of(&parts.extensions)).await;
    let (purpose, user) = invited_user(&state, &token, lang).await?;
    let lang = user.lang();
    let inputs = [user.email.as_str(), user.display_name.as_str()];
    if let Err(e) = password::check_new(&f.password, &f.confirm, lang, &inputs) {
        let visitor = Visitor::of(&parts.extensions);
        return invite_form(&state, &session, visitor, &token, user, Some(e)).await;
    }
    let hash = password::hash(&f.password).await?;
    let ip = super::client_ip(&parts, &state.config.trusted_proxies);
    let user = match auth_store::redeem_password_link(&state.db, &token, purpose, &user, &hash, &ip)
        .await?
    {
        Redeemed::Done(user) => user,
        Redeemed::LinkGone | Redeemed::EmailTaken => return Err(link_gone(lang)),
    };
    if user.is_disabled() {
        return Ok((StatusCode::FORBIDDEN, texts(lang).login_disabled).into_response());
    }
    start_session(&state, &session, user.id).await?;
    see_other("/")
}

/// Logs the user in on this session and records when.
async fn start_session(state: &AppState, session: &Session, user_id: i64) -> WebResult<()> {
    session::log_in(session, user_id).await?;
    auth_store::touch_login(&state.db, user_id).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/users?x=1")), "/users?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        // Browsers strip tabs and line breaks: these would leave the site.
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\n/x")), "/");
        assert_eq!(safe_next(Some("/\r\n/x")), "/");
        assert_eq!(safe_next(Some("/\u{7f}/x")), "/");
        assert_eq!(safe_next(Some("/a\\b")), "/");
        assert_eq!(
            safe_next(Some("/conversations?q=é")),
            "/conversations?q=%C3%A9"
        );
    }
}
