//! What the request log says about a request: never a one-time link's
//! token, a QR token or anything else secret that travels in a path, and
//! never the query string (it may hold a verify token or a `next` URL).
//!
//! Every request has an id, in its span (so on every line logged while it
//! is served) and in the `X-Request-Id` header of its answer: a proxy's id
//! is kept when it is short and plain, so that its log and ours line up;
//! otherwise a new one is made.

use axum::body::Body;
use axum::http::{HeaderName, Request};
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower::util::MapRequestLayer;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{MakeSpan, TraceLayer};
use tracing::Span;

/// The header that carries a request's id, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id taken from a request (a UUID is 36 characters).
const MAX_REQUEST_ID: usize = 64;

/// An id from outside is kept only when it cannot carry anything into a
/// log line but an id: letters, digits, `-` and `_`, and short.
pub fn acceptable_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

/// Drops an `X-Request-Id` the request brought that is not acceptable (or
/// several of them): the next layer makes a new one.
fn keep_acceptable_request_id(mut request: Request<Body>) -> Request<Body> {
    let ids = request.headers().get_all(&REQUEST_ID);
    let mut iter = ids.iter();
    let keep = match (iter.next(), iter.next()) {
        (None, _) => true,
        (Some(id), None) => acceptable_request_id(id.as_bytes()),
        (Some(_), Some(_)) => false,
    };
    if !keep {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// Path segments after which the next segment is a secret: the first
/// administrator's setup link, invitation and reset links, signed QR links.
const SECRET_AFTER: [&str; 4] = ["setup", "invite", "reset", "qr"];

/// A segment this long is taken for a token wherever it appears (no route
/// of the app has a segment this long that is not one).
const TOKEN_LIKE_LEN: usize = 32;

/// The path with its secret segments replaced by `…`; the query string is
/// dropped by the caller (`Uri::path`). `/setup/3f9c…e1` -> `/setup/…`.
pub fn redacted_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut hide_next = false;
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if (hide_next || segment.len() >= TOKEN_LIKE_LEN) && !segment.is_empty() {
            out.push('…');
        } else {
            out.push_str(segment);
        }
        hide_next = SECRET_AFTER.contains(&segment);
    }
    out
}

/// Makes each request's span with its id, the method and the redacted
/// path only. At info level (tower-http's default is debug): the id must
/// be on the lines a production log keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactedSpan;

impl<B> MakeSpan<B> for RedactedSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        // Set by the layer before (checked there, or made): never absent.
        let id = request
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tracing::info_span!(
            "request",
            request_id = %id,
            method = %request.method(),
            path = %redacted_path(request.uri().path()),
            version = ?request.version(),
        )
    }
}

/// The request log's layers, outermost first: an acceptable id or none,
/// a new id where none is left, the span and its log lines, the id copied
/// to the answer.
pub type Layers = ServiceBuilder<
    Stack<
        PropagateRequestIdLayer,
        Stack<
            TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RedactedSpan>,
            Stack<
                SetRequestIdLayer<MakeRequestUuid>,
                Stack<MapRequestLayer<fn(Request<Body>) -> Request<Body>>, Identity>,
            >,
        >,
    >,
>;

/// The request log layer of the router.
pub fn layer() -> Layers {
    ServiceBuilder::new()
        .map_request(keep_acceptable_request_id as fn(Request<Body>) -> Request<Body>)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(RedactedSpan))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_in_paths_are_hidden_and_the_rest_of_the_path_kept() {
        let token = "3f9c0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f";
        assert_eq!(redacted_path(&format!("/setup/{token}")), "/setup/…");
        assert_eq!(redacted_path("/invite/abc123"), "/invite/…");
        assert_eq!(redacted_path("/qr/eyJ1aWMiOiJNQk.sig.png"), "/qr/…");
        assert_eq!(
            redacted_path(&format!("/anything/{token}/x")),
            "/anything/…/x"
        );
        assert_eq!(redacted_path("/simulator/3"), "/simulator/3");
        assert_eq!(redacted_path("/users/12/roles"), "/users/12/roles");
        assert_eq!(redacted_path("/whatsapp/webhook"), "/whatsapp/webhook");
        assert_eq!(redacted_path("/"), "/");
        assert_eq!(redacted_path("/setup/"), "/setup/");
    }

    /// A `Write` into a shared buffer, for the subscriber under test.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_debug_log_of_a_request_names_neither_its_token_nor_its_query() {
        use tower::ServiceExt;
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = axum::Router::new()
            .route("/setup/{token}", axum::routing::get(|| async { "ok" }))
            .layer(layer());
        let secret = "s3cr3t0000000000ffffffffffffffffffff";
        let res = app
            .oneshot(
                Request::get(format!("/setup/{secret}?hub.verify_token=vt-secret"))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("/setup/…"), "{log}");
        assert!(!log.contains(secret), "{log}");
        assert!(!log.contains("vt-secret"), "{log}");
    }

    #[test]
    fn only_short_plain_request_ids_are_acceptable() {
        for good in ["a", "0f8e-42_AB", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"] {
            assert!(acceptable_request_id(good.as_bytes()), "{good}");
        }
        let long = "a".repeat(MAX_REQUEST_ID + 1);
        for bad in [
            "",
            "a b",
            "id\nforged line",
            "x=1",
            "é",
            "{\"json\":1}",
            &long,
        ] {
            assert!(!acceptable_request_id(bad.as_bytes()), "{bad:?}");
        }
    }

    /// The answer's `X-Request-Id` to a request that sent `sent`, and the
    /// log of the request.
    async fn answered_id(sent: &[&str]) -> (String, String) {
        use tower::ServiceExt;
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::get(|| async {
                    tracing::info!("handled");
                    "ok"
                }),
            )
            .layer(layer());
        let mut request = Request::get("/");
        for id in sent {
            request = request.header(&REQUEST_ID, *id);
        }
        let res = app
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let id = res.headers()[&REQUEST_ID].to_str().unwrap().to_string();
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        (id, log)
    }

    #[tokio::test]
    async fn a_plain_request_id_is_kept_and_logged_with_the_request() {
        let (id, log) = answered_id(&["proxy-id_0042"]).await;
        assert_eq!(id, "proxy-id_0042");
        let handled = log.lines().find(|l| l.contains("handled")).unwrap();
        assert!(handled.contains("request_id=proxy-id_0042"), "{log}");
    }

    #[tokio::test]
    async fn a_new_request_id_replaces_a_missing_or_unfit_one() {
        let long = "x".repeat(MAX_REQUEST_ID + 1);
        let cases: [&[&str]; 4] = [&[], &["a b"], &[long.as_str()], &["one", "two"]];
        let mut seen = Vec::new();
        for sent in cases {
            let (id, log) = answered_id(sent).await;
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{sent:?}: {id}");
            assert!(log.contains(&format!("request_id={id}")), "{log}");
            for s in sent {
                assert!(!log.contains(&format!("request_id={s}")), "{log}");
            }
            seen.push(id);
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), cases.len(), "a new id each time");
    }
}
