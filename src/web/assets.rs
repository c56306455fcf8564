//! Provisional: replaced by the embedded htmx and stylesheet.
pub fn htmx_url() -> &'static str {
    "/static/htmx.min.js"
}
pub fn sse_url() -> &'static str {
    "/static/sse.min.js"
}
pub fn css_url() -> &'static str {
    "/static/app.css"
}
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new()
}
