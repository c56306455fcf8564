//! Browser tests: a headless Chromium driven through its chromedriver, one
//! pair per test so tests run in parallel. Debian's `chromium` and
//! `chromium-driver` must be installed (CI installs them); without them the
//! tests fail, they are not skipped.

use crate::helpers::{Backend, spawn_app};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use thirtyfour::prelude::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Enough for a page of this app on a loaded CI machine.
pub const WAIT: Duration = Duration::from_secs(5);

/// A headless Chromium session with its own chromedriver and profile.
pub struct Browser {
    // Dropped in this order: the session (thirtyfour ends it on drop if
    // `quit` was not called), then the driver process, then the profile.
    driver: WebDriver,
    _chromedriver: Chromedriver,
    _profile: tempfile::TempDir,
}

/// The chromedriver process, killed on drop.
struct Chromedriver(Child);

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Chromedriver {
    /// Starts chromedriver on a free port and waits until it answers.
    async fn start() -> (Chromedriver, String) {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: the browser tests need Debian's chromium and chromium-driver \
                 (`apt-get install chromium chromium-driver`; CI installs them)"
            );
        }
        // The port is free when chosen; another process may take it before
        // chromedriver does, so a driver that exits early is started again.
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
            let mut chromedriver = Chromedriver(child);
            let url = format!("http://127.0.0.1:{port}");
            if chromedriver.answers(&url).await {
                return (chromedriver, url);
            }
        }
        panic!("{CHROMEDRIVER} did not start (three tries)");
    }

    /// Whether `GET /status` answers before the process exits or 10 s pass.
    async fn answers(&mut self, url: &str) -> bool {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return false;
            }
            if let Ok(res) = client.get(format!("{url}/status")).send().await
                && res.status().is_success()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile,
    /// 1280x900.
    pub async fn start() -> Browser {
        let (chromedriver, url) = Chromedriver::start().await;
        let profile = tempfile::tempdir().expect("temp dir");
        // chromedriver answers to "chrome" only, whatever the binary.
        let mut caps = DesiredCapabilities::chrome();
        caps.set_binary(CHROMIUM).unwrap();
        for arg in [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            // Without these Chromium keeps calling Google hosts, refused on CI.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,900",
        ] {
            caps.add_arg(arg).unwrap();
        }
        caps.add_arg(&format!("--user-data-dir={}", profile.path().display()))
            .unwrap();
        // No idle connections kept: when a test panics, thirtyfour ends the
        // session on drop from a runtime of its own, and a pooled connection
        // would be served by the test's runtime, stuck in the panic (the
        // request would hang until its timeout and leave Chromium running).
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let driver = WebDriver::builder(url, caps)
            .client(client)
            .await
            .unwrap_or_else(|e| panic!("{CHROMIUM} did not start: {e}"));
        Browser {
            driver,
            _chromedriver: chromedriver,
            _profile: profile,
        }
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) {
        self.driver
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// The element matching the CSS selector.
    pub async fn find(&self, css: &str) -> WebElement {
        match self.driver.find(By::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!(
                "no element `{css}` ({e}); the page says:\n{}",
                self.page_text().await
            ),
        }
    }

    /// Replaces the value of the field matching `css` by `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into `{css}`: {e}"));
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking `{css}`: {e}"));
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Waits until an element matches `css` and its text contains `needle`
    /// (for what htmx or server-sent events change after the page loaded).
    pub async fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(element) = self.driver.find(By::Css(css)).await
                && element.text().await.is_ok_and(|t| t.contains(needle))
            {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "after {timeout:?}, no `{css}` containing {needle:?}; the page says:\n{}",
                    self.page_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of the whole page, for failure messages.
    async fn page_text(&self) -> String {
        match self.driver.find(By::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_else(|e| format!("({e})")),
            Err(e) => format!("(no page body: {e})"),
        }
    }

    /// Saves a PNG of the window as `target/screenshots/<name>.png` and
    /// returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        // `CARGO_TARGET_TMPDIR` is `<target dir>/tmp`.
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("target dir")
            .join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        let png = self.driver.screenshot_as_png().await.unwrap();
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Resizes the window (a tall one shows a whole page in a screenshot).
    pub async fn set_window(&self, width: u32, height: u32) {
        self.driver
            .set_window_rect(0, 0, width, height)
            .await
            .unwrap();
    }

    /// Gives the page the size of a small phone: 360x740 CSS pixels.
    pub async fn set_mobile_width(&self) {
        // The window holds more than the page (headless Chromium keeps room
        // for its bars): measure the difference and add it.
        self.driver.set_window_rect(0, 0, 360, 740).await.unwrap();
        let (w, h) = self.viewport().await;
        let (extra_w, extra_h) = (360u32.saturating_sub(w), 740u32.saturating_sub(h));
        if extra_w > 0 || extra_h > 0 {
            self.driver
                .set_window_rect(0, 0, 360 + extra_w, 740 + extra_h)
                .await
                .unwrap();
        }
    }

    /// Runs a script in the page and returns its result.
    pub async fn execute<T: serde::de::DeserializeOwned>(&self, script: &str) -> T {
        self.driver
            .execute(script, Vec::new())
            .await
            .unwrap()
            .convert()
            .expect("the script's result")
    }

    /// The page's width and height in CSS pixels.
    pub async fn viewport(&self) -> (u32, u32) {
        let ret = self
            .driver
            .execute("return [window.innerWidth, window.innerHeight]", Vec::new())
            .await
            .unwrap();
        ret.convert().expect("two numbers")
    }

    /// Ends the session (dropping the browser does too, but blocks a thread
    /// to do it).
    pub async fn quit(self) {
        let Browser { driver, .. } = self;
        driver.quit().await.unwrap();
    }
}

#[tokio::test]
async fn the_browser_shows_the_health_json_of_the_real_server() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let browser = Browser::start().await;
    browser
        .goto(&format!("{}/whatsapp/health", app.address))
        .await;
    browser.wait_for_text("body", "\"healthy\"", WAIT).await;
    assert!(browser.text("body").await.contains("uic-inbox"));
    let png = browser.screenshot("health").await;
    assert!(std::fs::metadata(png).unwrap().len() > 0);
    browser.quit().await;
}

/// A page using the embedded scripts and stylesheet, served with the assets
/// router the app uses.
async fn serve_htmx_page() -> String {
    use axum::extract::Query;
    use axum::http::header::CONTENT_TYPE;
    use axum::response::Html;
    use axum::routing::get;
    use std::collections::HashMap;
    use uic_inbox::web::assets;

    let page = format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>htmx check</title>
<link rel="stylesheet" href="{css}">
<script src="{htmx}"></script>
<script src="{sse}"></script>
</head><body><main>
<h1>htmx check</h1>
<label for="name">Name</label>
<input id="name" name="name">
<button class="primary" hx-get="/hello" hx-include="#name" hx-target="#out">Greet</button>
<p id="out">not yet</p>
<div hx-ext="sse" sse-connect="/events"><p id="live" sse-swap="news">waiting</p></div>
<div class="thread">
<p class="bubble inbound">Bonjour, je voudrais mon code</p>
<p class="bubble outbound">Votre code est ABCD1234</p>
</div>
</main></body></html>"##,
        css = assets::css_url(),
        htmx = assets::htmx_url(),
        sse = assets::sse_url(),
    );
    let app = axum::Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route(
            "/hello",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                format!("Bonjour {}", q.get("name").map_or("?", String::as_str))
            }),
        )
        // One event, then the stream ends (the extension reconnects later).
        .route(
            "/events",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/event-stream")],
                    "event: news\ndata: live from the server\n\n",
                )
            }),
        )
        .merge(assets::router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

#[tokio::test]
async fn the_embedded_htmx_and_its_sse_extension_run_in_the_browser() {
    let address = serve_htmx_page().await;
    let browser = Browser::start().await;
    browser.set_mobile_width().await;
    assert_eq!(browser.viewport().await, (360, 740));
    browser.goto(&address).await;

    browser.fill("#name", "Awa").await;
    browser.click("button[hx-get]").await;
    browser.wait_for_text("#out", "Bonjour Awa", WAIT).await;
    browser
        .wait_for_text("#live", "live from the server", WAIT)
        .await;
    browser.screenshot("htmx-mobile").await;
    browser.quit().await;
}
