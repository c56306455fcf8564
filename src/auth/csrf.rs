//! CSRF protection for every state-changing request of the staff UI.
//!
//! Each session has a random token. Forms carry it in a hidden `_csrf`
//! field; htmx sends it as the `X-CSRF-Token` header (set once on `<body>`).
//! A POST without the session's token is refused with 403 before any
//! handler runs, so nothing changes.
//!
//! The login form is the exception: a visitor who is not logged in gets no
//! session row (a loop of `GET /login` would fill the table). The session
//! cookie then holds a random value of the visitor's (and the language they
//! chose), and the form's token is an HMAC of that value with a key derived
//! from the UIC salt (shared by every instance): a double-submit token that
//! another site can neither read nor forge. The row is created at a
//! successful login, under a new id.
//!
//! The check itself, a middleware, is in the web layer.

use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;

pub const FIELD: &str = "_csrf";
pub const HEADER: &str = "x-csrf-token";
/// Largest form body read (staff forms are small).
pub const FORM_LIMIT: usize = 256 * 1024;

/// How long a visitor's login form stays valid.
pub const VISITOR_MAX_AGE_SECS: i64 = 3600;

/// A visitor not logged in, from the session cookie: `<64 hex>[.<lang>]`
/// (never a valid session id, which tower-sessions then ignores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visitor {
    pub nonce: String,
    pub lang: Option<super::Lang>,
}

impl Visitor {
    pub fn new(lang: Option<super::Lang>) -> Visitor {
        use rand::RngExt;
        let bytes: [u8; 32] = rand::rng().random();
        Visitor {
            nonce: hex::encode(bytes),
            lang,
        }
    }

    /// The visitor in the request's session cookie, if it holds one.
    pub fn from_headers(headers: &HeaderMap) -> Option<Visitor> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .filter(|(k, _)| *k == super::session::COOKIE)
            .find_map(|(_, v)| Visitor::parse(v))
    }

    /// The visitor the `visitor_cookie` middleware found.
    pub fn of(extensions: &axum::http::Extensions) -> Option<&Visitor> {
        extensions.get::<VisitorCookie>().and_then(|v| v.0.as_ref())
    }

    fn parse(v: &str) -> Option<Visitor> {
        let (nonce, lang) = match v.split_once('.') {
            Some((n, l)) => (n, Some(super::Lang::parse(l)?)),
            None => (v, None),
        };
        (nonce.len() == 64 && nonce.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Visitor {
            nonce: nonce.to_ascii_lowercase(),
            lang,
        })
    }

    /// The login form's token for this visitor.
    pub fn token(&self, salt: &crate::config::Secret) -> String {
        use hmac::{Hmac, KeyInit, Mac};
        let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(salt.expose_secret().as_bytes())
        else {
            // HMAC takes keys of any length; were it ever to refuse, a token
            // nobody can match (never an empty one, which a form could send).
            return Visitor::new(None).nonce;
        };
        mac.update(b"uic-inbox staff login form\0");
        mac.update(self.nonce.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The `Set-Cookie` value that keeps this visitor (same flags as the
    /// session cookie).
    pub fn cookie(&self, secure: bool) -> String {
        let lang = self
            .lang
            .map(|l| format!(".{}", l.code()))
            .unwrap_or_default();
        format!(
            "{}={}{lang}; HttpOnly; SameSite=Lax; Path=/; Max-Age={VISITOR_MAX_AGE_SECS}{}",
            super::session::COOKIE,
            self.nonce,
            if secure { "; Secure" } else { "" }
        )
    }
}

/// What `visitor_cookie` found in the request.
#[derive(Debug, Clone)]
pub struct VisitorCookie(pub Option<Visitor>);

/// Outside the session layer: takes a visitor value out of the session
/// cookie before tower-sessions reads it (it would take it for a forged
/// session id, log it and answer with a cookie removal), and hands it on as
/// a request extension.
pub async fn visitor_cookie(mut req: Request, next: Next) -> Response {
    let visitor = Visitor::from_headers(req.headers());
    if visitor.is_some() {
        let kept: Vec<String> = req
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .map(str::trim)
            .filter(|c| {
                c.split_once('=')
                    .is_none_or(|(k, v)| k != super::session::COOKIE || Visitor::parse(v).is_none())
            })
            .map(str::to_owned)
            .collect();
        req.headers_mut().remove(header::COOKIE);
        if !kept.is_empty()
            && let Ok(v) = axum::http::HeaderValue::from_str(&kept.join("; "))
        {
            req.headers_mut().insert(header::COOKIE, v);
        }
    }
    req.extensions_mut().insert(VisitorCookie(visitor));
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Lang;
    use crate::config::Secret;

    #[test]
    fn visitor_cookies_round_trip_and_tokens_depend_on_key_and_nonce() {
        let v = Visitor::new(Some(Lang::En));
        let cookie = v.cookie(true);
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("Secure"),
            "{cookie}"
        );
        let mut h = HeaderMap::new();
        let pair = cookie.split(';').next().unwrap();
        h.insert(header::COOKIE, format!("other=1; {pair}").parse().unwrap());
        assert_eq!(Visitor::from_headers(&h), Some(v.clone()));
        let a = Secret::new("salt-one-0123456789");
        let b = Secret::new("salt-two-0123456789");
        assert_ne!(v.token(&a), v.token(&b));
        assert_ne!(v.token(&a), Visitor::new(None).token(&a));
        // A real session id (base64) is not a visitor.
        assert_eq!(Visitor::parse("AAAAAAAAAAAAAAAAAAAAAA"), None);
        assert_eq!(Visitor::parse(&format!("{}.xx", v.nonce)), None);
    }
}
