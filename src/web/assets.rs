//! Static files embedded in the binary: htmx and its SSE extension (installed
//! from the npm registry by `build.rs`, pinned by `package-lock.json`) and
//! the stylesheet `static/app.css`.
//!
//! Each is served at `/static/<stem>.<8 hex of its SHA-256>.<ext>`: a new
//! version gets a new URL, so browsers may keep a file for a year without
//! asking again. Templates take the URLs from `htmx_url()`, `sse_url()` and
//! `css_url()`.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// One embedded file and the name it is served under.
struct Asset {
    /// `htmx.min.0123abcd.js`.
    name: String,
    /// `/static/` and the name.
    url: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

impl Asset {
    fn new(stem: &str, ext: &str, content_type: &'static str, bytes: &'static [u8]) -> Asset {
        let digest = Sha256::digest(bytes);
        let name = format!("{stem}.{}.{ext}", hex::encode(&digest[..4]));
        Asset {
            url: format!("/static/{name}"),
            name,
            content_type,
            bytes,
        }
    }
}

struct Assets {
    htmx: Asset,
    sse: Asset,
    css: Asset,
}

/// Hashed once, at first use (about 60 KB).
static ASSETS: LazyLock<Assets> = LazyLock::new(|| Assets {
    htmx: Asset::new(
        "htmx.min",
        "js",
        JAVASCRIPT,
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/node_modules/htmx.org/dist/htmx.min.js"
        )),
    ),
    sse: Asset::new(
        "sse.min",
        "js",
        JAVASCRIPT,
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/node_modules/htmx-ext-sse/dist/sse.min.js"
        )),
    ),
    css: Asset::new(
        "app",
        "css",
        CSS,
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/app.css")),
    ),
});

/// URL of htmx (load it before the SSE extension).
pub fn htmx_url() -> &'static str {
    &ASSETS.htmx.url
}

/// URL of the htmx SSE extension (`hx-ext="sse"`).
pub fn sse_url() -> &'static str {
    &ASSETS.sse.url
}

/// URL of the stylesheet.
pub fn css_url() -> &'static str {
    &ASSETS.css.url
}

/// `GET /static/{file}`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/static/{file}", get(serve))
}

async fn serve(Path(file): Path<String>) -> Response {
    let assets = &*ASSETS;
    let Some(asset) = [&assets.htmx, &assets.sse, &assets.css]
        .into_iter()
        .find(|a| a.name == file)
    else {
        return (
            StatusCode::NOT_FOUND,
            [(header::X_CONTENT_TYPE_OPTIONS, "nosniff")],
            "no such static file",
        )
            .into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            // The name changes with the content, so the file never does.
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str) -> Response {
        router::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn header_of(res: &Response, name: header::HeaderName) -> &str {
        res.headers()
            .get(&name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    #[tokio::test]
    async fn each_url_serves_its_file_with_its_type_and_a_long_cache() {
        let a = &*ASSETS;
        for (url, asset, content_type) in [
            (htmx_url(), &a.htmx, JAVASCRIPT),
            (sse_url(), &a.sse, JAVASCRIPT),
            (css_url(), &a.css, CSS),
        ] {
            let res = get(url).await;
            assert_eq!(res.status(), StatusCode::OK, "{url}");
            assert_eq!(header_of(&res, header::CONTENT_TYPE), content_type, "{url}");
            assert_eq!(
                header_of(&res, header::CACHE_CONTROL),
                "public, max-age=31536000, immutable"
            );
            assert_eq!(header_of(&res, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
            let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
            assert_eq!(&body[..], asset.bytes, "{url}");
        }
    }

    #[test]
    fn names_carry_a_hash_of_the_content() {
        let a = &*ASSETS;
        for (url, asset, stem, ext) in [
            (htmx_url(), &a.htmx, "htmx.min", "js"),
            (sse_url(), &a.sse, "sse.min", "js"),
            (css_url(), &a.css, "app", "css"),
        ] {
            let hash = hex::encode(&Sha256::digest(asset.bytes)[..4]);
            assert_eq!(url, format!("/static/{stem}.{hash}.{ext}"));
        }
    }

    #[tokio::test]
    async fn an_unknown_or_outdated_name_is_not_found() {
        for path in [
            "/static/htmx.min.js",
            "/static/htmx.min.00000000.js",
            "/static/app.css",
            "/static/..%2FCargo.toml",
        ] {
            let res = get(path).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
            let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
            assert_eq!(&body[..], b"no such static file");
        }
    }

    #[test]
    fn the_embedded_scripts_are_htmx_and_its_sse_extension() {
        let htmx = std::str::from_utf8(ASSETS.htmx.bytes).unwrap();
        assert!(htmx.starts_with("var htmx="), "{}", &htmx[..60]);
        assert!(htmx.contains("htmx-request"));
        let sse = std::str::from_utf8(ASSETS.sse.bytes).unwrap();
        assert!(sse.contains("htmx.defineExtension(\"sse\""));
        let css = std::str::from_utf8(ASSETS.css.bytes).unwrap();
        assert!(css.contains(".bubble.outbound"));
    }
}
