//! What the request log says about a request: never a one-time link's
//! token, a QR token or anything else secret that travels in a path, and
//! never the query string (it may hold a verify token or a `next` URL).

use axum::http::Request;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, TraceLayer};
use tracing::Span;

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

/// Makes each request's span (at debug level, as tower-http's default)
/// with the method and the redacted path only.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactedSpan;

impl<B> MakeSpan<B> for RedactedSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        tracing::debug_span!(
            "request",
            method = %request.method(),
            path = %redacted_path(request.uri().path()),
            version = ?request.version(),
        )
    }
}

/// The request log layer of the router.
pub fn layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RedactedSpan> {
    TraceLayer::new_for_http().make_span_with(RedactedSpan)
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
}
