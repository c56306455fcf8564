//! Shared test helpers: the real server on a random port, on a fresh
//! database of either backend, and a Twilio request signer written from the
//! reference (not from our own client).

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uic_inbox::config::{Config, Secret, TwilioEnv};
use uic_inbox::db::DbUrl;
use uic_inbox::tenancy::store::{ChannelSettings, NewAccount, upsert_account};
use uic_inbox::tenancy::{Account, FlowSettings, Provider};
use uic_inbox::{AppState, Application};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const TEST_SALT: &str = "test-salt-0123456789abcdef";
pub const TWILIO_NUMBER: &str = "+14155238886";
pub const TWILIO_TOKEN: &str = "test_auth_token";
/// `SECRET_KEY` of the PostgreSQL tests (SQLite tests use the key file
/// generated beside their database).
pub const TEST_SECRET_KEY: &str =
    "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

pub fn test_secret_key() -> uic_inbox::secrets::Key {
    uic_inbox::secrets::keys::parse_key(TEST_SECRET_KEY).expect("a valid key")
}

/// A running server.
pub struct TestApp {
    pub address: String,
    pub state: AppState,
    pub client: reqwest::Client,
    pub config: Config,
    pub backend: Backend,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    _dir: std::sync::Arc<tempfile::TempDir>,
}

/// Where PostgreSQL tests connect (`TEST_DATABASE_URL`, a database the
/// tests may create other databases from).
/// What the program itself may do in a tenant, to prepare a test's data:
/// the access storage functions take (request handlers get theirs from the
/// permission check).
pub fn access(tenant_id: i64, p: uic_inbox::auth::Permission) -> uic_inbox::auth::Access {
    uic_inbox::auth::Actor::operator(tenant_id)
        .require(p, uic_inbox::auth::Scope::Tenant)
        .expect("the operator may do everything")
}

/// [`access`] to a tenant's users (`users.manage`), the most common.
pub fn users_manager(tenant_id: i64) -> uic_inbox::auth::Access {
    access(tenant_id, uic_inbox::auth::Permission::UsersManage)
}

pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// Starts the server on a fresh database; `None` (the test is skipped, with
/// a note) for PostgreSQL when `TEST_DATABASE_URL` is not set.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Where the servers of the test run log (`target/test-logs/`): at debug
/// level for this crate, so that CI can check that no secret of the tests
/// ever reaches a log line (`scripts/check-test-logs.sh`).
pub fn capture_logs() {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-logs");
        if std::fs::create_dir_all(&dir).is_err() {
            return;
        }
        let path = dir.join(format!("it-{}.log", std::process::id()));
        let Ok(file) = std::fs::File::create(path) else {
            return;
        };
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("uic_inbox=debug,info"))
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .try_init();
    });
}

/// A fresh PostgreSQL database on the tests' server; `None` (the case is
/// skipped, with a note) when `TEST_DATABASE_URL` is not set.
pub async fn fresh_postgres_database() -> Option<String> {
    let Some(admin) = postgres_admin_url() else {
        // Built without it, the PostgreSQL cases are ignored (see
        // build.rs); built with it and run without, they would pass
        // without testing anything.
        if cfg!(postgres_tests) {
            panic!("the tests were built with TEST_DATABASE_URL set: run them with it too");
        }
        eprintln!("TEST_DATABASE_URL is not set: PostgreSQL case skipped");
        return None;
    };
    Some(create_postgres_database(&admin).await)
}

/// `spawn_app` with the configuration changed by `adjust` first.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
    capture_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match backend {
        Backend::Sqlite => DbUrl::Sqlite(dir.path().join("test.db")),
        Backend::Postgres => DbUrl::Postgres(fresh_postgres_database().await?),
    };
    let mut config = Config::for_database(url);
    config.uic_salt = Some(Secret::new(TEST_SALT));
    config.twilio = Some(TwilioEnv {
        account_sid: "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".into(),
        auth_token: Secret::new(TWILIO_TOKEN),
        whatsapp_number: TWILIO_NUMBER.into(),
    });
    if backend == Backend::Postgres {
        config.secret_key = Some(test_secret_key());
    }
    adjust(&mut config);
    Some(start(config, backend, std::sync::Arc::new(dir)).await)
}

pub async fn create_postgres_database(admin: &str) -> String {
    use sqlx::Connection;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("TEST_DATABASE_URL must reach PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (base, _) = admin
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL ends with /database");
    format!("{base}/{name}")
}

async fn start(
    config: Config,
    backend: Backend,
    dir: std::sync::Arc<tempfile::TempDir>,
) -> TestApp {
    let app = Application::build(config.clone())
        .await
        .expect("server builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel();
    let handle = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = rx.await;
        })
        .await
        .expect("server runs");
    });
    TestApp {
        address,
        state,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // The server closes a connection idle for its header-read
            // timeout (10 s): a client that reuses an idle connection may
            // send on it just as it closes (a reverse proxy must close its
            // idle connections sooner, see the README). On a machine as
            // loaded as a test run's, the test's own pauses can be that
            // long: every request gets a connection of its own.
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
        config,
        backend,
        stop: Some(tx),
        handle: Some(handle),
        _dir: dir,
    }
}

impl TestApp {
    /// Stops the server and starts a new one on the same database.
    pub async fn restart(mut self) -> TestApp {
        self.stop.take().map(|s| s.send(()));
        if let Some(h) = self.handle.take() {
            h.await.unwrap();
        }
        start(self.config.clone(), self.backend, self._dir.clone()).await
    }

    /// Another server on the same database (as a second instance behind
    /// the proxy would be).
    pub async fn second_instance(&self) -> TestApp {
        start(self.config.clone(), self.backend, self._dir.clone()).await
    }

    /// [`TestApp::second_instance`] with its configuration changed by
    /// `adjust` (another key, for instance).
    pub async fn second_instance_with(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = self.config.clone();
        adjust(&mut config);
        start(config, self.backend, self._dir.clone()).await
    }

    /// `GET` of a path of the app.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
    }

    /// A WhatsApp account in `tenant_id`.
    pub async fn account_in(
        &self,
        tenant_id: i64,
        slug: &str,
        provider: Provider,
        number: Option<&str>,
        token: Option<&str>,
    ) -> Account {
        upsert_account(
            &self.state.db,
            &self.state.secrets,
            &NewAccount {
                tenant_id,
                slug: slug.into(),
                name: slug.into(),
                provider,
                channel: ChannelSettings {
                    phone_number: number.map(Into::into),
                    twilio_account_sid: Some("ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".into()),
                    twilio_auth_token: token.map(Secret::new),
                    ..ChannelSettings::default()
                },
                flow: FlowSettings::default(),
            },
        )
        .await
        .unwrap()
    }

    pub fn webhook_url(&self) -> String {
        format!("{}/whatsapp/webhook", self.address)
    }

    /// POSTs a Twilio webhook signed with `token` over these parameters.
    pub async fn twilio_post(&self, params: &[(&str, &str)], token: &str) -> reqwest::Response {
        let url = self.webhook_url();
        let signature = twilio_signature(token, &url, params);
        self.client
            .post(&url)
            .header("X-Twilio-Signature", signature)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_body(params))
            .send()
            .await
            .unwrap()
    }

    /// One message from `phone` to the default Twilio number; the TwiML
    /// answer's text.
    pub async fn twilio_say(&self, phone: &str, sid: &str, text: &str) -> String {
        let from = format!("whatsapp:{phone}");
        let to = format!("whatsapp:{TWILIO_NUMBER}");
        let params = twilio_params(sid, &from, &to, text);
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = self.twilio_post(&params, TWILIO_TOKEN).await;
        assert_eq!(res.status(), 200, "webhook answered {}", res.status());
        res.text().await.unwrap()
    }

    /// One message to a sandbox account; its JSON answer.
    pub async fn sandbox_post(&self, account: &str, phone: &str, text: &str) -> serde_json::Value {
        let res = self
            .client
            .post(format!("{}/sandbox/{account}/messages", self.address))
            .json(&serde_json::json!({ "from": phone, "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// One message to the sandbox account; the replies' texts.
    pub async fn sandbox_say(&self, phone: &str, text: &str) -> Vec<String> {
        let body = self.sandbox_post("sandbox", phone, text).await;
        body["replies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["text"].as_str().unwrap().to_string())
            .collect()
    }

    /// Number of rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        uic_inbox::on_db!(&self.state.db, p => sqlx::query_scalar(&sql).fetch_one(p).await.unwrap())
    }

    /// Every byte the database holds, as text: the SQLite file and its WAL
    /// (including free pages), or a `pg_dump` of the PostgreSQL database.
    pub async fn dump_database(&self) -> String {
        match &self.config.database_url {
            DbUrl::Sqlite(path) => {
                let mut bytes = std::fs::read(path).unwrap();
                let wal = path.with_extension("db-wal");
                if let Ok(w) = std::fs::read(wal) {
                    bytes.extend(w);
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            DbUrl::Postgres(url) => {
                let out = std::process::Command::new("pg_dump")
                    .arg("--data-only")
                    .arg(url)
                    .output()
                    .expect("pg_dump runs (install postgresql-client)");
                assert!(
                    out.status.success(),
                    "pg_dump failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout).unwrap()
            }
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The form fields Twilio sends for a WhatsApp text (reference B.2).
pub fn twilio_params(sid: &str, from: &str, to: &str, body: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "AccountSid",
            "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".to_string(),
        ),
        ("ApiVersion", "2010-04-01".to_string()),
        ("Body", body.to_string()),
        ("From", from.to_string()),
        ("MessageSid", sid.to_string()),
        ("MessageType", "text".to_string()),
        ("NumMedia", "0".to_string()),
        ("ProfileName", "Amani".to_string()),
        ("SmsStatus", "received".to_string()),
        ("To", to.to_string()),
        ("WaId", from.trim_start_matches("whatsapp:+").to_string()),
    ]
}

pub fn form_body(params: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// X-Twilio-Signature as reference B.4 describes it: the URL, then each
/// parameter name and value sorted by name, HMAC-SHA1 with the auth token,
/// standard Base64.
pub fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params.to_vec();
    sorted.sort();
    let mut data = url.to_string();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The `<Body>` texts of a TwiML answer, unescaped.
pub fn twiml_bodies(xml: &str) -> Vec<String> {
    xml.split("<Body>")
        .skip(1)
        .map(|part| {
            let body = part.split("</Body>").next().unwrap_or("");
            body.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}
