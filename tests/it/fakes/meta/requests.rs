//! Request parsing: routing to the endpoints, and the validation helpers.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::Value;

use super::{media::*, messages::*, replies::*, state::*, tokens::*};

// ---------------------------------------------------------------------------
// Routing

pub(super) struct Req<'a> {
    pub(super) method: &'a str,
    pub(super) path: &'a str,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: &'a HeaderMap,
    pub(super) body: &'a [u8],
    pub(super) token: Option<String>,
}

impl Req<'_> {
    pub(super) fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

pub(super) async fn entry(State(shared): State<Shared>, req: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await;
    let (delay, global) = {
        let g = lock(&shared);
        (g.delay, g.fail_all.clone())
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let body_bytes = bytes.as_ref().map(|b| b.to_vec()).unwrap_or_default();
    let reply = match (&bytes, global) {
        (_, Some(f)) => failure_reply(&f),
        (Err(_), None) => graph_error(413, 100, "(#100) Request body too large or unreadable"),
        (Ok(b), None) => {
            let query_pairs = form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect::<Vec<_>>();
            let token = bearer(&parts.headers).or_else(|| {
                query_pairs
                    .iter()
                    .find(|(k, _)| k == "access_token")
                    .map(|(_, v)| v.clone())
            });
            let r = Req {
                method: parts.method.as_str(),
                path: &path,
                query: query_pairs,
                headers: &parts.headers,
                body: b,
                token,
            };
            let mut g = lock(&shared);
            route(&mut g, &r)
        }
    };
    let (response, status) = render(reply);
    lock(&shared).requests.push(SeenRequest {
        method: parts.method.to_string(),
        path,
        query,
        status,
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: body_bytes,
        at,
    });
    response
}

fn is_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let mut it = rest.splitn(2, '.');
    let major = it.next().unwrap_or("");
    let minor = it.next().unwrap_or("0");
    !major.is_empty()
        && major.bytes().all(|b| b.is_ascii_digit())
        && !minor.is_empty()
        && minor.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn route(inner: &mut Inner, r: &Req) -> Reply {
    let mut segs: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    if segs.len() > 1 && segs.last() == Some(&"") {
        segs.pop();
    }
    if segs.first() == Some(&"lookaside") {
        return lookaside(inner, r, &segs);
    }
    let Some((version, rest)) = segs.split_first() else {
        return not_found(r.path);
    };
    if !is_version(version) {
        return not_found(r.path);
    }
    let verb = r.method.to_ascii_lowercase();
    match (r.method, rest) {
        ("GET", ["debug_token"]) => debug_token(inner, r),
        ("GET", ["oauth", "access_token"]) => oauth_exchange(inner, r),
        ("POST", [id, "messages"]) => post_messages(inner, r, version, id),
        ("POST", [id, "media"]) => upload_media(inner, r, id),
        ("GET", [id]) => get_object(inner, r, id),
        ("DELETE", [id]) => delete_object(inner, r, id),
        (_, [id] | [id, "messages" | "media"]) if !id.is_empty() => {
            match inner.check_token(r.token.as_deref()) {
                Err(e) => e,
                Ok(()) => no_such_object(&verb, id),
            }
        }
        _ => not_found(r.path),
    }
}

// ---------------------------------------------------------------------------
// Request validation helpers

pub(super) type V<T> = Result<T, Reply>;

pub(super) fn missing(path: &str) -> Reply {
    wa_error(131008, format!("The parameter {path} is required."))
}

pub(super) fn invalid(path: &str, why: &str) -> Reply {
    wa_error(100, format!("Param {path} {why}"))
}

pub(super) fn bad_value(details: impl Into<String>) -> Reply {
    wa_error(131009, details)
}

pub(super) fn field<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

pub(super) fn need_obj<'a>(obj: &'a Value, key: &str, path: &str) -> V<&'a Value> {
    match field(obj, key) {
        None => Err(missing(path)),
        Some(v) if v.is_object() => Ok(v),
        Some(_) => Err(invalid(path, "must be a JSON object.")),
    }
}

pub(super) fn opt_obj<'a>(obj: &'a Value, key: &str, path: &str) -> V<Option<&'a Value>> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) if v.is_object() => Ok(Some(v)),
        Some(_) => Err(invalid(path, "must be a JSON object.")),
    }
}

pub(super) fn need_str<'a>(obj: &'a Value, key: &str, path: &str) -> V<&'a str> {
    match field(obj, key) {
        None => Err(missing(path)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(path, "must be a string.")),
    }
}

pub(super) fn opt_str<'a>(obj: &'a Value, key: &str, path: &str) -> V<Option<&'a str>> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(path, "must be a string.")),
    }
}

pub(super) fn need_array<'a>(obj: &'a Value, key: &str, path: &str) -> V<&'a Vec<Value>> {
    match field(obj, key) {
        None => Err(missing(path)),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(invalid(path, "must be an array.")),
    }
}

fn nchars(s: &str) -> usize {
    s.chars().count()
}

/// Free text: 1..=max characters, else 100.
pub(super) fn text_len(s: &str, max: usize, path: &str) -> V<()> {
    if s.is_empty() {
        return Err(invalid(path, "must be at least 1 character long."));
    }
    if nchars(s) > max {
        return Err(invalid(
            path,
            &format!("must be at most {max} characters long."),
        ));
    }
    Ok(())
}

/// A structured field (button title, row id...): 1..=max, else 131009.
pub(super) fn field_len(s: &str, max: usize, what: &str) -> V<()> {
    let n = nchars(s);
    if n == 0 || n > max {
        return Err(bad_value(format!(
            "{what} length invalid. Min length: 1, Max length: {max}"
        )));
    }
    Ok(())
}
