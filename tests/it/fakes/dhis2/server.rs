//! The `FakeDhis2` handle (start, configuration, failure injection,
//! inspection), the HTTP entry point (latency, injected failures, auth,
//! recording) and the routing table; `/api/system/*` lives here too.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::state::*;

// ---------------------------------------------------------------------------
// The handle

/// A running fake DHIS-2. Clones share the same server and state.
#[derive(Clone)]
pub struct FakeDhis2 {
    pub(super) inner: Shared,
    addr: SocketAddr,
    _server: Arc<ServerGuard>,
}

struct ServerGuard(tokio::task::JoinHandle<()>);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl FakeDhis2 {
    /// Starts an empty instance (no users, no metadata) on 127.0.0.1, on a
    /// free port.
    pub async fn start(version: Version) -> FakeDhis2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake DHIS-2");
        let addr = listener.local_addr().expect("local address");
        let inner = Arc::new(Mutex::new(Inner::new(version, format!("http://{addr}"))));
        let app = axum::Router::new()
            .fallback(entry)
            .with_state(inner.clone());
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDhis2 {
            inner,
            addr,
            _server: Arc::new(ServerGuard(handle)),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// `http://127.0.0.1:PORT`, standing for `https://dhis.example.org`
    /// (the client appends `/api/...`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn version(&self) -> Version {
        self.lock().version
    }

    // --- credentials --------------------------------------------------------

    /// A user for HTTP Basic auth.
    pub fn add_user(&self, user: &str, password: &str) {
        self.lock()
            .users
            .insert(user.to_string(), password.to_string());
    }

    /// A personal access token (`ApiToken d2pat_…`). Panics when the token
    /// does not have the PAT shape: a test mistake.
    pub fn add_token(&self, pat: &str) {
        assert!(is_pat_shape(pat), "not a d2pat_ token shape");
        self.lock().tokens.insert(pat.to_string(), false);
    }

    /// The token expires: it then answers 401 like an unknown one.
    pub fn expire_token(&self, pat: &str) {
        if let Some(expired) = self.lock().tokens.get_mut(pat) {
            *expired = true;
        }
    }

    /// A new valid-looking PAT (not registered: pass it to `add_token`).
    pub fn pat() -> String {
        new_pat()
    }

    /// Limits writes (E1000) and ACCESSIBLE/CAPTURE searches to these org
    /// units and their descendants; `None` (default): everything.
    pub fn set_capture_scope(&self, roots: Option<&[&str]>) {
        self.lock().capture_scope = roots.map(|r| r.iter().map(|s| s.to_string()).collect());
    }

    // --- failure injection --------------------------------------------------

    /// Every answer (failures included) waits this long first.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = (!latency.is_zero()).then_some(latency);
    }

    /// The next `n` requests, whatever they are, answer `status` as a proxy
    /// or a crashing server would: 500 with DHIS-2's JSON error, any other
    /// status with an nginx-like HTML page. Calls add up.
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut g = self.lock();
        for _ in 0..n {
            g.fail_next.push_back(status);
        }
    }

    /// While down, every request is read then its connection dropped
    /// without any answer (the client sees a closed connection).
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// How many polls of `/api/tracker/jobs/{id}` answer "not completed"
    /// before a job runs (default 0: the first poll completes it).
    pub fn set_job_polls(&self, polls: u32) {
        self.lock().job_polls = polls;
    }

    /// Forgets every async job (notifications and reports), keeping the
    /// data, as a server restart does (C.3).
    pub fn simulate_restart(&self) {
        self.lock().jobs.clear();
    }

    // --- inspection ---------------------------------------------------------

    /// Every stored tracked entity, in creation order.
    pub fn tracked_entities(&self) -> Vec<TrackedEntitySnapshot> {
        self.lock().tracked_entities.clone()
    }

    /// The stored tracked entities with this exact attribute value (on the
    /// TE or one of its enrollments).
    pub fn find_by_attribute(&self, attribute: &str, value: &str) -> Vec<TrackedEntitySnapshot> {
        self.lock()
            .tracked_entities
            .iter()
            .filter(|t| t.value_of(attribute).as_deref() == Some(value))
            .cloned()
            .collect()
    }

    /// Seeds a person, as if another system had created it (no validation).
    pub fn add_tracked_entity(&self, te: TrackedEntitySnapshot) {
        self.lock().tracked_entities.push(te);
    }

    /// Every request seen, refused ones too, in the order answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// How many imports ran (`POST /api/tracker` that reached the importer:
    /// authenticated, not injected, sync or async once its job ran).
    pub fn import_count(&self) -> usize {
        self.lock().imports
    }

    /// Every potential duplicate pair.
    pub fn potential_duplicates(&self) -> Vec<PotentialDuplicate> {
        self.lock().duplicates.clone()
    }
}

// ---------------------------------------------------------------------------
// Answers

pub(super) enum Reply {
    Json(u16, Value),
    Html(u16, String),
    Reset,
}

/// DHIS-2's `WebMessage` shape for errors.
pub(super) fn web_message(status: u16, message: &str) -> Reply {
    let phrase = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    Reply::Json(
        status,
        json!({
            "httpStatus": phrase,
            "httpStatusCode": status,
            "status": if status < 400 { "OK" } else { "ERROR" },
            "message": message,
        }),
    )
}

pub(super) fn bad_request(message: &str) -> Reply {
    web_message(400, message)
}

pub(super) fn not_found(message: &str) -> Reply {
    web_message(404, message)
}

/// A body whose first poll is an error: hyper then drops the connection
/// without writing the response head.
struct ResetBody;

impl http_body::Body for ResetBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fake DHIS-2 is down",
        ))))
    }
}

fn render(reply: Reply) -> (Response, u16) {
    let (status, content_type, body) = match reply {
        Reply::Reset => return (Response::new(Body::new(ResetBody)), 0),
        Reply::Json(s, v) => (s, "application/json;charset=UTF-8", v.to_string()),
        Reply::Html(s, h) => (s, "text/html", h),
    };
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let resp = Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    (resp, code.as_u16())
}

/// An injected failure: what a crashing DHIS-2 (500) or its reverse proxy
/// (502, 503, 504…) answers.
fn injected(status: u16) -> Reply {
    if status == 500 {
        return web_message(500, "java.lang.NullPointerException");
    }
    let phrase = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    Reply::Html(
        status,
        format!(
            "<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n\
             <center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n\
             </body>\r\n</html>\r\n"
        ),
    )
}

// ---------------------------------------------------------------------------
// Entry

async fn entry(State(shared): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let bytes = axum::body::to_bytes(body, MAX_REQUEST).await;
    let latency = lock(&shared).latency;
    if let Some(d) = latency {
        tokio::time::sleep(d).await;
    }
    let body_bytes = bytes.as_ref().map(|b| b.to_vec()).unwrap_or_default();
    let reply = {
        let mut g = lock(&shared);
        if g.down {
            Reply::Reset
        } else if let Some(status) = g.fail_next.pop_front() {
            injected(status)
        } else if bytes.is_err() {
            web_message(413, "Request Entity Too Large")
        } else {
            let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            match authenticate(&g, &parts.headers) {
                Ok(()) => route(&mut g, parts.method.as_str(), &path, &params, &body_bytes),
                Err(message) => web_message(401, message),
            }
        }
    };
    let (response, status) = render(reply);
    lock(&shared).requests.push(RecordedRequest {
        method: parts.method.to_string(),
        path,
        query,
        auth: auth_kind(&parts.headers),
        body: serde_json::from_slice(&body_bytes).ok(),
        status,
    });
    response
}

fn auth_kind(headers: &HeaderMap) -> AuthKind {
    let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return AuthKind::None;
    };
    match v.trim().split_once(' ') {
        Some((s, b64)) if s.eq_ignore_ascii_case("basic") => {
            let user = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .and_then(|d| d.split_once(':').map(|(u, _)| u.to_string()))
                .unwrap_or_default();
            AuthKind::Basic(user)
        }
        Some(("ApiToken", _)) => AuthKind::ApiToken,
        _ => AuthKind::Other,
    }
}

/// Basic or ApiToken credentials (C.1); the error is the 401 message.
fn authenticate(g: &Inner, headers: &HeaderMap) -> Result<(), &'static str> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Err("Full authentication is required to access this resource.");
    };
    let v = v
        .to_str()
        .map_err(|_| "Invalid Authorization header.")?
        .trim();
    match v.split_once(' ') {
        Some((s, b64)) if s.eq_ignore_ascii_case("basic") => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or("Invalid Basic authentication.")?;
            let (user, pass) = decoded
                .split_once(':')
                .ok_or("Invalid Basic authentication.")?;
            if g.users.get(user).is_some_and(|p| p == pass) {
                Ok(())
            } else {
                Err("Bad credentials")
            }
        }
        Some(("ApiToken", pat)) => {
            let pat = pat.trim();
            if !is_pat_shape(pat) {
                return Err("Invalid API token format.");
            }
            match g.tokens.get(pat) {
                Some(false) => Ok(()),
                Some(true) => Err("API token has expired."),
                None => Err("The API token does not exists."),
            }
        }
        _ => Err("Full authentication is required to access this resource."),
    }
}

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn route(
    g: &mut Inner,
    method: &str,
    path: &str,
    params: &[(String, String)],
    body: &[u8],
) -> Reply {
    let trimmed = path.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix(".json").unwrap_or(trimmed);
    let segs: Vec<&str> = trimmed.trim_start_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        ("GET", ["api", "system", "info"]) => system_info(g),
        ("GET", ["api", "system", "id" | "uid"]) => system_id(params),
        ("GET", ["api", kind, uid]) if super::metadata::is_metadata(kind) => {
            super::metadata::get(g, kind, uid)
        }
        ("POST", ["api", "tracker"]) => super::tracker::post(g, params, body),
        ("GET", ["api", "tracker", "jobs", id]) => super::tracker::job(g, id),
        ("GET", ["api", "tracker", "jobs", id, "report"]) => super::tracker::report(g, id),
        ("GET", ["api", "tracker", "trackedEntities"]) => super::search::search(g, params),
        ("GET", ["api", "tracker", "trackedEntities", uid]) => super::search::one(g, uid, params),
        ("GET", ["api", "potentialDuplicates"]) => super::duplicates::list(g, params),
        ("POST", ["api", "potentialDuplicates"]) => super::duplicates::create(g, body),
        ("GET", ["api", "potentialDuplicates", id]) => super::duplicates::get(g, id),
        ("PUT", ["api", "potentialDuplicates", id]) => super::duplicates::set_status(g, id, params),
        ("POST", ["api", "potentialDuplicates", id, "merge"]) => {
            super::duplicates::merge(g, id, params, body)
        }
        _ => not_found(&format!("No endpoint {method} {path}")),
    }
}

fn system_info(g: &Inner) -> Reply {
    Reply::Json(
        200,
        json!({
            "version": g.version.version_string(),
            "revision": "abc1234",
            "buildTime": "2026-10-01T08:00:00.000",
            "serverDate": SERVER_DATE,
            "contextPath": g.base_url,
            "systemName": "DHIS 2 fake",
        }),
    )
}

/// `/api/system/id?limit=N`: default 1, capped at 10 000 (C.1); a limit
/// that is not a number, or below 1, counts as 1.
fn system_id(params: &[(String, String)]) -> Reply {
    let limit = param(params, "limit")
        .and_then(|l| l.trim().parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, MAX_UIDS as i64);
    let codes: Vec<String> = (0..limit).map(|_| new_uid()).collect();
    Reply::Json(200, json!({ "codes": codes }))
}
