//! uic-inbox: a WhatsApp bot that gives each person a Unique Identifier Code
//! (UIC, "CIU") and a multi-tenant inbox for NGO staff.
//!
//! `Application::build` assembles the server (configuration, database,
//! migrations, salt, first-start data, router) for `main` and for tests.

// Read in the data's order: a message arrives on a channel, the inbox
// stores it and runs the flow, the outbox sends the replies back out.
// (rustfmt sorts modules within a group; one comment each keeps this order.)

// Arrival: the providers' webhooks and the sandbox.
pub mod channel;
// The inbox: contacts, conversations, messages; one inbound message processed.
pub mod inbox;
// The conversation flow (pure): state and message in, replies and events out.
pub mod flow;
// The codes the flow issues.
pub mod uic;
// Where issued codes are recorded.
pub mod registry;
// Programme reports: figures, charts and exports.
pub mod report;
// Where registrations are sent: DHIS-2 Tracker.
pub mod dhis2;
// The QR images of issued codes.
pub mod qr;
// Departure: the replies, sent back through the channel by the worker.
pub mod outbox;
// What changed, told to the staff pages as it happens.
pub mod live;

// Who owns what: tenants and their accounts, then staff access and the audit log.
pub mod tenancy;
pub mod tokens;
// Staff: users, roles, sessions, CSRF tokens, setup links.
pub mod auth;
// What staff did.
pub mod audit;

// HTTP: the staff pages and the open endpoints.
pub mod web;
// The server, its request log and health report.
pub mod health;
pub mod request_log;
pub mod server;
pub mod telemetry;

// Underneath: configuration, storage, input checks, daily jobs.
pub mod config;
pub mod db;
// A demo tenant at scale (`uic-inbox demo seed`).
pub mod demo;
pub mod input;
pub mod maintenance;
// The WhatsApp credentials, encrypted at rest.
pub mod secrets;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use config::{Config, Secret};
use db::Db;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Largest request body accepted (Twilio form posts and sandbox messages are
/// a few KiB; Meta batches are at most 3 MB).
pub const BODY_LIMIT: usize = 3 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub config: Config,
    pub salt: Secret,
    /// Opens the stored credentials (and seals new ones).
    pub secrets: Arc<secrets::Keyring>,
    /// Conversations this process wrote last (see `inbox::Recent`).
    pub recent: inbox::Recent,
    /// Accounts the webhooks looked up in the last second.
    pub accounts: tenancy::Cache,
    /// The token banner's facts per staff member, for a few seconds.
    pub banners: tenancy::health::Banners,
    /// Wakes this process's outbox worker.
    pub outbox: outbox::Signal,
    /// Tells the staff pages what changed (see `live`).
    pub live: live::Hub,
    /// Signs the expiring links to QR images.
    pub qr_links: qr::LinkSigner,
    /// The port this process listens on, once bound (`PORT` may be 0): the
    /// base of one-time links when `PUBLIC_URL` is unset. A request's `Host`
    /// header is never used for them, so a forged header cannot make an
    /// administrator hand out a link to another site.
    pub listen_port: std::sync::OnceLock<u16>,
    /// The credential checks' clients (the number page's « Tester »).
    pub checks: channel::CheckClients,
}

impl Inner {
    /// A number changed (its settings, credentials or token): this
    /// process's copies of the numbers and of the token banners are
    /// dropped, so the next request reads them again.
    pub fn numbers_changed(&self) {
        self.accounts.clear();
        self.banners.clear();
    }

    /// What the inbox needs of the state to process a message.
    pub fn inbox(&self) -> inbox::Inputs<'_> {
        inbox::Inputs {
            db: &self.db,
            salt: &self.salt,
            recent: &self.recent,
            outbox: &self.outbox,
            live: &self.live,
            config: &self.config,
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Connects to the database, applies migrations, loads and checks the salt
/// and creates the first-start data.
pub async fn prepare(config: Config) -> anyhow::Result<AppState> {
    // Instances started together on one database take turns here (with
    // SQLite, from before the database is opened).
    let sqlite_lock = match &config.database_url {
        db::DbUrl::Sqlite(path) => Some(db::StartupLock::sqlite(path).await?),
        db::DbUrl::Postgres(_) => None,
    };
    let db = Db::connect(&config.database_url).await?;
    let lock = match sqlite_lock {
        Some(lock) => lock,
        None => db.startup_lock(&config.database_url).await?,
    };
    db.migrate().await?;
    let salt = registry::salt::load(&config, &db).await?;
    let ring = prepare_secrets(&config, &db).await?;
    tenancy::store::bootstrap(&db, &ring, &config).await?;
    dhis2::store::apply_env(&db, &ring, &config, time::OffsetDateTime::now_utc()).await?;
    auth::session::prepare(&db).await?;
    for tenant in tenancy::store::list_tenants(&db).await? {
        auth::store::ensure_builtin_roles(&db, tenant.id).await?;
    }
    lock.release().await;
    Ok(AppState(Arc::new(Inner {
        db,
        qr_links: qr::LinkSigner::new(&salt),
        salt,
        secrets: Arc::new(ring),
        recent: inbox::Recent::default(),
        outbox: outbox::Signal::default(),
        live: live::Hub::new(),
        accounts: tenancy::Cache::default(),
        banners: tenancy::health::Banners::default(),
        listen_port: std::sync::OnceLock::new(),
        checks: channel::CheckClients::new(&config),
        config,
    })))
}

/// Loads the key ring, refuses a ring that lacks a key the stored secrets
/// were sealed under, and seals the secrets stored in clear by an earlier
/// version (at start and by `uic-inbox migrate`).
pub async fn prepare_secrets(config: &Config, db: &Db) -> anyhow::Result<secrets::Keyring> {
    let ring = secrets::keys::load(config)?;
    secrets::store::check_keys(db, &ring).await?;
    secrets::store::seal_plain(db, &ring).await?;
    Ok(ring)
}

/// Every route of the app: `(method, path)`, as served.
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    all_routes().table().to_vec()
}

fn all_routes() -> web::Routes {
    let r = web::Routes::default()
        .open_get("/healthz", web::health::alive)
        .open_get("/readyz", web::health::ready)
        .open_get("/whatsapp/health", web::health::whatsapp)
        .open_get("/metrics", web::metrics::render)
        .open_post("/whatsapp/webhook", web::webhooks::receive)
        .open_get("/whatsapp/webhook", web::webhooks::verify)
        .open_get("/qr/{token}", web::qr::image)
        .open_post("/sandbox/{account}/messages", web::sandbox::post_message)
        .assets();
    web::routes(r)
}

/// The HTTP routes.
pub fn router(state: AppState) -> Router {
    let (ui, open) = all_routes().into_parts();
    let ui = web::layered(ui, &state);
    open.layer(axum::middleware::from_fn(web::open_errors))
        .layer(axum::middleware::from_fn(web::clean::open))
        .merge(ui)
        .fallback(web::health::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.config.limits.body_timeout,
        ))
        .layer(request_log::layer())
        .with_state(state)
}

/// The server, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    setup_link: Option<String>,
}

impl Application {
    /// Prepares the state and binds `HOST:PORT` (port 0 picks a free one).
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let addr = SocketAddr::new(config.host, config.port);
        let state = prepare(config).await?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        if let Ok(a) = listener.local_addr() {
            let _ = state.listen_port.set(a.port());
        }
        let mut app = Application {
            listener,
            state,
            setup_link: None,
        };
        app.setup_link = app
            .announce_first_admin()
            .await
            .context("creating the first administrator's setup link")?;
        Ok(app)
    }

    /// The setup link this instance created and printed, if it did.
    pub fn setup_link(&self) -> Option<&str> {
        self.setup_link.as_deref()
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// With no staff account yet, prints a one-time link to create the
    /// first administrator (there is no default password). Of instances
    /// started together on an empty database, only the one that creates the
    /// link prints it; the others say where to find it.
    async fn announce_first_admin(&self) -> anyhow::Result<Option<String>> {
        let link =
            auth::setup::first_start_link(&self.state.db, &self.state.config, self.port()).await?;
        match &link {
            Some(link) => tracing::warn!(
                "no staff account yet: open {link} to create the first administrator (valid 24 hours, usable once; `uic-inbox admin create` prints a new one)"
            ),
            None if auth::store::count_users(&self.state.db).await? == 0 => tracing::warn!(
                "no staff account yet: a setup link printed earlier (by this or another instance) is still valid; `uic-inbox admin create` prints a new one"
            ),
            None => {}
        }
        Ok(link)
    }

    /// Serves (and runs the outbox worker, the staff queue's watch, the
    /// daily maintenance job and the token watch) until `shutdown` resolves, then
    /// finishes the requests and sends under way and closes the database.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = router(self.state.clone());
        let stop_worker = Arc::new(tokio::sync::Notify::new());
        telemetry::spawn_upkeep();
        let worker = tokio::spawn(outbox::Worker::new(self.state.clone()).run(stop_worker.clone()));
        let stop_queue = Arc::new(tokio::sync::Notify::new());
        let queue = tokio::spawn(inbox::waiting::run(self.state.clone(), stop_queue.clone()));
        let stop_maintenance = Arc::new(tokio::sync::Notify::new());
        let maintenance = tokio::spawn(maintenance::run(
            self.state.db.clone(),
            stop_maintenance.clone(),
        ));
        let stop_watch = Arc::new(tokio::sync::Notify::new());
        let watch = tokio::spawn(tokens::watch::run(self.state.clone(), stop_watch.clone()));
        let stop_runs = Arc::new(tokio::sync::Notify::new());
        let runs = tokio::spawn(report::upkeep(self.state.clone(), stop_runs.clone()));
        let stop_dhis2 = Arc::new(tokio::sync::Notify::new());
        let dhis2 =
            tokio::spawn(dhis2::worker::Worker::new(self.state.clone()).run(stop_dhis2.clone()));
        // Live updates cross instances through PostgreSQL (one SQLite
        // database has one instance: in process only).
        let mut bridge = Vec::new();
        if let (db::Db::Postgres(pool), db::DbUrl::Postgres(url)) =
            (&self.state.db, &self.state.config.database_url)
            && let Some(rx) = self.state.live.bridge()
        {
            let stop = Arc::new(tokio::sync::Notify::new());
            let task = live::pg::forward(self.state.live.clone(), pool.clone(), rx, stop.clone());
            bridge.push((stop, tokio::spawn(task)));
            let stop = Arc::new(tokio::sync::Notify::new());
            let task = live::pg::listen(self.state.live.clone(), url.clone(), stop.clone());
            bridge.push((stop, tokio::spawn(task)));
        }
        // The event streams never end by themselves: they end when the
        // server stops, so that the requests under way can finish.
        let hub = self.state.live.clone();
        let shutdown = async move {
            shutdown.await;
            hub.stop();
        };
        let limits = self.state.config.limits;
        let served = server::serve(self.listener, app, limits, shutdown)
            .await
            .context("serving HTTP");
        stop_worker.notify_one();
        stop_queue.notify_one();
        stop_maintenance.notify_one();
        stop_watch.notify_one();
        stop_dhis2.notify_one();
        stop_runs.notify_one();
        for (stop, task) in bridge {
            stop.notify_one();
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a live updates task stopped abnormally");
            }
        }
        if let Err(e) = worker.await {
            tracing::error!(error = %e, "the outbox worker stopped abnormally");
        }
        if let Err(e) = queue.await {
            tracing::error!(error = %e, "the staff queue watch stopped abnormally");
        }
        if let Err(e) = runs.await {
            tracing::error!(error = %e, "the sweep of idle runs stopped abnormally");
        }
        if let Err(e) = maintenance.await {
            tracing::error!(error = %e, "the maintenance job stopped abnormally");
        }
        if let Err(e) = watch.await {
            tracing::error!(error = %e, "the token watch stopped abnormally");
        }
        if let Err(e) = dhis2.await {
            tracing::error!(error = %e, "the DHIS-2 sync worker stopped abnormally");
        }
        self.state.db.close().await;
        served
    }
}
