//! The production log of the real server (the binary, `LOG_FORMAT=json`,
//! everything at debug level) over a whole conversation through the signed
//! Twilio webhook and a staff login: every line is one JSON object, the
//! lines of a request carry the id its answer gave, and no line holds the
//! person's number in any form, a secret, or what the person typed.

use crate::helpers::{TWILIO_NUMBER, form_body, twilio_params, twilio_signature};
use crate::staff::{PASSWORD, csrf_of};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uic_inbox::auth::store::{self as auth_store, NewUser};
use uic_inbox::auth::{BuiltinRole, Lang, password};
use uic_inbox::config::{Config, Secret, TwilioEnv};
use uic_inbox::db::DbUrl;

const LOG_TWILIO_TOKEN: &str = "log-test-twilio-auth-token-5f1e";
const LOG_SALT_SECRET: &str = "log-test-uic-salt-0a9b8c7d6e5f";
const LOG_METRICS_TOKEN: &str = "log-test-metrics-token-77aa55cc";
const LOG_VERIFY_TOKEN: &str = "log-test-verify-token-3c2b1a";
const ACCOUNT_SID: &str = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
const PERSON: &str = "+243990004321";
const STAFF_EMAIL: &str = "kabila@ngo.example";
/// What the person types: the greeting, then the five answers (names
/// among them).
const TYPED: [&str; 6] = ["Bonjour", "Mbengue", "Ibrahim", "1997", "DA", "1"];
/// An id a proxy in front would send, kept as it is.
const PROXY_ID: &str = "proxy-0f3c-4d2e_91";

/// The server, its log lines as they come, and what it printed on
/// standard error.
struct Server {
    child: Child,
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `uic-inbox serve` in `dir` with `env`, and waits for the line
    /// that says which port it listens on.
    fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_uic-inbox"))
            .arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let port = serde_json::from_str::<Value>(&line)
                    .ok()
                    .filter(|v| v["fields"]["message"] == "uic-inbox listening")
                    .and_then(|v| v["fields"]["port"].as_u64());
                kept.lock().unwrap().push(line);
                if let Some(port) = port {
                    let _ = port_tx.send(port as u16);
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let kept_err = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                let mut e = kept_err.lock().unwrap();
                e.push_str(&line);
                e.push('\n');
            }
        });
        let port = match port_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the server never said it listened:\n{}\n{}",
                    lines.lock().unwrap().join("\n"),
                    stderr.lock().unwrap()
                );
            }
        };
        Server {
            child,
            port,
            lines,
            stderr,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stops the server as the service manager would (SIGTERM), and
    /// returns its log lines once it has ended.
    fn stop(mut self) -> (Vec<String>, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!("the server did not stop within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The readers end with the pipes: give them a moment to take the
        // last lines.
        std::thread::sleep(Duration::from_millis(200));
        let lines = self.lines.lock().unwrap().clone();
        let stderr = self.stderr.lock().unwrap().clone();
        (lines, stderr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The database with a staff member in it, made with the library before
/// the server starts (so that no first-administrator link is printed).
async fn prepare(path: &std::path::Path) {
    let mut config = Config::for_database(DbUrl::Sqlite(path.to_path_buf()));
    config.uic_salt = Some(Secret::new(LOG_SALT_SECRET));
    config.twilio = Some(TwilioEnv {
        account_sid: ACCOUNT_SID.into(),
        auth_token: Secret::new(LOG_TWILIO_TOKEN),
        whatsapp_number: TWILIO_NUMBER.into(),
    });
    let state = uic_inbox::prepare(config).await.unwrap();
    let db = &state.db;
    let tenant = uic_inbox::tenancy::store::default_tenant(db).await.unwrap();
    auth_store::ensure_builtin_roles(db, tenant).await.unwrap();
    let hash = password::hash(PASSWORD).await.unwrap();
    let user = auth_store::create_user(
        db,
        &NewUser {
            tenant_id: tenant,
            email: STAFF_EMAIL,
            display_name: "Kabila",
            password_hash: Some(&hash),
            lang: Lang::Fr,
            platform_admin: false,
        },
    )
    .await
    .unwrap()
    .unwrap();
    let role = auth_store::builtin_role_id(db, tenant, BuiltinRole::Supervisor)
        .await
        .unwrap()
        .unwrap();
    auth_store::assign(
        db,
        &crate::helpers::users_manager(tenant),
        user.id,
        role,
        None,
    )
    .await
    .unwrap();
    db.close().await;
}

/// The value of the `uic_session` cookie a response sets, if it does.
fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next()?.strip_prefix("uic_session="))
        .find(|v| !v.is_empty())
        .map(str::to_string)
}

/// The `X-Request-Id` of an answer.
fn request_id(res: &reqwest::Response) -> String {
    res.headers()
        .get("x-request-id")
        .expect("every answer has an X-Request-Id")
        .to_str()
        .unwrap()
        .to_string()
}

/// The request ids of a log line: its span's and those of the spans
/// around it.
fn ids_of(line: &Value) -> Vec<String> {
    let spans = line["spans"].as_array().cloned().unwrap_or_default();
    std::iter::once(&line["span"])
        .chain(spans.iter())
        .filter_map(|s| s["request_id"].as_str())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn the_json_log_of_a_conversation_names_each_request_and_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("log-test.db");
    prepare(&db_path).await;
    let database_url = format!("sqlite:{}", db_path.display());
    let server = Server::start(
        dir.path(),
        &[
            ("DATABASE_URL", &database_url),
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("UIC_SALT", LOG_SALT_SECRET),
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_AUTH_TOKEN", LOG_TWILIO_TOKEN),
            ("TWILIO_WHATSAPP_NUMBER", TWILIO_NUMBER),
            ("METRICS_TOKEN", LOG_METRICS_TOKEN),
            ("LOG_FORMAT", "json"),
            ("LOG_LEVEL", "debug"),
        ],
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The id of every answer, and the secrets the requests carried.
    let mut answered = BTreeSet::new();
    let mut secrets: Vec<String> = Vec::new();

    // The conversation, through the signed webhook.
    let webhook = server.url("/whatsapp/webhook");
    let mut last = String::new();
    for (n, text) in TYPED.iter().enumerate() {
        let sid = format!("SM{n:032}");
        let params = twilio_params(
            &sid,
            &format!("whatsapp:{PERSON}"),
            &format!("whatsapp:{TWILIO_NUMBER}"),
            text,
        );
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = client
            .post(&webhook)
            .header(
                "X-Twilio-Signature",
                twilio_signature(LOG_TWILIO_TOKEN, &webhook, &params),
            )
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_body(&params))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{text}");
        answered.insert(request_id(&res));
        last = res.text().await.unwrap();
    }
    assert!(!last.is_empty());

    // An id from a proxy is kept; one that could forge a line is not.
    let res = client
        .get(server.url("/healthz"))
        .header("X-Request-Id", PROXY_ID)
        .send()
        .await
        .unwrap();
    assert_eq!(request_id(&res), PROXY_ID);
    answered.insert(PROXY_ID.to_string());
    let forged = "forged id\" \"level\":\"ERROR";
    let res = client
        .get(server.url("/healthz"))
        .header("X-Request-Id", forged)
        .send()
        .await
        .unwrap();
    let replaced = request_id(&res);
    assert_ne!(replaced, forged);
    answered.insert(replaced);

    // A token in a query string (Meta's handshake) stays out of the log.
    let res = client
        .get(server.url(&format!(
            "/whatsapp/webhook?hub.mode=subscribe&hub.verify_token={LOG_VERIFY_TOKEN}&hub.challenge=42"
        )))
        .send()
        .await
        .unwrap();
    answered.insert(request_id(&res));

    // A staff login, and a page behind it.
    let res = client.get(server.url("/login")).send().await.unwrap();
    answered.insert(request_id(&res));
    let visitor = session_cookie(&res);
    let page = res.text().await.unwrap();
    let csrf = csrf_of(&page).expect("the login form has a CSRF token");
    secrets.push(csrf.clone());
    let mut login = client
        .post(server.url("/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("_csrf", csrf.as_str()),
                    ("email", STAFF_EMAIL),
                    ("password", PASSWORD),
                ])
                .finish(),
        );
    if let Some(v) = &visitor {
        login = login.header("Cookie", format!("uic_session={v}"));
        secrets.push(v.clone());
    }
    let res = login.send().await.unwrap();
    assert_eq!(res.status(), 303, "the staff member logs in");
    answered.insert(request_id(&res));
    let session = session_cookie(&res).expect("a session cookie");
    let res = client
        .get(server.url("/"))
        .header("Cookie", format!("uic_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    answered.insert(request_id(&res));
    secrets.push(session);

    // The code was issued (the server's own count).
    let res = client
        .get(server.url("/metrics"))
        .bearer_auth(LOG_METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    answered.insert(request_id(&res));
    let metrics = res.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"uic_codes_issued_total{account="twilio",test="false"} 1"#),
        "{metrics}"
    );

    let (lines, stderr) = server.stop();
    let log = lines.join("\n");

    // One JSON object a line, each with its level and message.
    assert!(lines.len() > 20, "{log}");
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for (line, v) in lines.iter().zip(&parsed) {
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    // Each answer's id is on its request's lines, and only ids answered
    // are there: the lines of a request are found by it.
    let mut logged = BTreeSet::new();
    for (line, v) in lines.iter().zip(&parsed) {
        let ids = ids_of(v);
        if v["span"]["name"] == "request" {
            assert!(!ids.is_empty(), "a request's line without its id: {line}");
            let path = v["span"]["path"].as_str().unwrap_or_default();
            assert!(!path.contains('?'), "a query string in the log: {line}");
        }
        logged.extend(ids);
    }
    assert_eq!(logged, answered, "{log}");
    assert!(!log.contains("forged id"), "{log}");

    // Nobody's number, no secret, nothing the person typed.
    let digits = &PERSON[1..];
    let national = &PERSON[4..];
    for phone in [
        PERSON.to_string(),
        format!("whatsapp:{PERSON}"),
        format!("%2B{digits}"),
        digits.to_string(),
        national.to_string(),
    ] {
        assert!(
            !log.contains(&phone),
            "the number ({phone}) in the log:\n{log}"
        );
        assert!(
            !stderr.contains(&phone),
            "the number ({phone}) on stderr:\n{stderr}"
        );
    }
    secrets.extend(
        [
            LOG_TWILIO_TOKEN,
            LOG_SALT_SECRET,
            LOG_METRICS_TOKEN,
            LOG_VERIFY_TOKEN,
            PASSWORD,
            // The names typed.
            TYPED[1],
            TYPED[2],
        ]
        .map(str::to_string),
    );
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "{secret:?} in the log:\n{log}"
        );
        assert!(
            !stderr.contains(secret.as_str()),
            "{secret:?} on stderr:\n{stderr}"
        );
    }
}
