//! The deployment files (`deploy/`, `Caddyfile`, `docker-compose.prod.yml`)
//! checked without Docker: Caddy validates and adapts the Caddyfile, and
//! runs it in front of a stand-in app; the compose file, the Dockerfile and
//! the systemd unit are read and held to what the app needs; every variable
//! they set must be one the app reads, so that a typo fails here rather than
//! being silently ignored on a server.

use crate::helpers::{
    Backend, TWILIO_NUMBER, TWILIO_TOKEN, form_body, spawn_app, spawn_app_with, twilio_params,
    twilio_signature, twiml_bodies,
};
use axum::Router;
use axum::extract::Request;
use axum::routing::any;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Variables of the stack itself, not of the app: Caddy's site and ACME
/// address, PostgreSQL's and Grafana's passwords. Each must be used by the
/// compose file (checked below), so a typo in one is caught too.
const STACK_VARIABLES: [&str; 4] = [
    "DOMAIN",
    "ACME_EMAIL",
    "POSTGRES_PASSWORD",
    "GRAFANA_ADMIN_PASSWORD",
];

/// The variables the app reads: every upper-case string literal of the two
/// files that read the environment (`config.rs`, and the DHIS-2 settings it
/// hands over to).
fn app_variables() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for file in ["src/config.rs", "src/dhis2/env.rs"] {
        for (i, literal) in read(file).split('"').enumerate() {
            let is_name = literal.len() >= 3
                && literal.starts_with(|c: char| c.is_ascii_uppercase())
                && literal
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if i % 2 == 1 && is_name {
                names.insert(literal.to_string());
            }
        }
    }
    names
}

/// Names in `${NAME}`, `${NAME:-default}` and `${NAME:?message}`.
fn interpolated(text: &str) -> BTreeSet<String> {
    text.split("${")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .collect()
}

/// `NAME=value` lines of an env file, commented out or not.
fn env_file_lines(text: &str) -> Vec<(bool, String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let (active, line) = match line.strip_prefix('#') {
                Some(rest) => (false, rest.trim_start()),
                None => (true, line),
            };
            let (name, value) = line.split_once('=')?;
            let is_name = !name.is_empty()
                && name.starts_with(|c: char| c.is_ascii_uppercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            is_name.then(|| (active, name.to_string(), value.to_string()))
        })
        .collect()
}

// ---- Caddy ----

/// Debian's caddy, or `None` (the test is skipped, saying why) when it is
/// missing outside CI. CI installs it (`.ci/run`): missing there is a failure.
fn caddy() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("caddy"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("caddy is missing: install Debian's caddy package (.ci/run does it)");
        }
        eprintln!("caddy is not installed (apt-get install caddy): Caddyfile check skipped");
    }
    found
}

/// A caddy command on the project's Caddyfile (or `config`), with the
/// environment the Caddyfile names and its storage in `home`.
fn caddy_command(caddy: &Path, home: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(caddy);
    cmd.args(args)
        .current_dir(root())
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("DOMAIN", "uic.example.org")
        .env("ACME_EMAIL", "ops@example.org");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Every object of `value` that has a `"handler"`, depth first, in order.
fn handlers(value: &Value) -> Vec<&Value> {
    let mut found = Vec::new();
    fn walk<'a>(v: &'a Value, found: &mut Vec<&'a Value>) {
        match v {
            Value::Object(map) => {
                if map.contains_key("handler") {
                    found.push(v);
                }
                map.values().for_each(|v| walk(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    walk(value, &mut found);
    found
}

#[test]
fn caddy_validates_the_caddyfile() {
    let Some(caddy) = caddy() else { return };
    let home = tempfile::tempdir().unwrap();
    let out = caddy_command(
        &caddy,
        home.path(),
        &[
            "validate",
            "--config",
            "Caddyfile",
            "--adapter",
            "caddyfile",
        ],
        &[],
    )
    .output()
    .expect("caddy runs");
    assert!(
        out.status.success(),
        "caddy validate failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_caddyfile_sends_the_apps_security_headers_hides_metrics_and_limits_bodies() {
    let Some(caddy) = caddy() else { return };
    let home = tempfile::tempdir().unwrap();
    let out = caddy_command(
        &caddy,
        home.path(),
        &["adapt", "--config", "Caddyfile", "--adapter", "caddyfile"],
        &[],
    )
    .output()
    .expect("caddy runs");
    assert!(
        out.status.success(),
        "caddy adapt failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("caddy adapt prints JSON");
    let site = &json["apps"]["http"]["servers"]["srv0"]["routes"][0];
    assert_eq!(site["match"][0]["host"][0], "uic.example.org", "{site:#}");

    // The headers: the same policy as the app's own pages, on every answer.
    let all = handlers(site);
    let headers = all
        .iter()
        .find(|h| h["handler"] == "headers")
        .expect("a header directive");
    let set = &headers["response"]["set"];
    let one = |name: &str| set[name][0].as_str().unwrap_or_default().to_string();
    let hsts = one("Strict-Transport-Security");
    let max_age: u64 = hsts
        .strip_prefix("max-age=")
        .and_then(|r| r.split(';').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("HSTS {hsts:?}"));
    assert!(max_age >= 31_536_000, "HSTS for a year at least: {hsts}");
    assert_eq!(one("X-Content-Type-Options"), "nosniff");
    assert_eq!(one("Referrer-Policy"), "same-origin");
    let csp = one("Content-Security-Policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite app");
    let page = app.get("/login").await;
    let apps_csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert_eq!(
        csp, apps_csp,
        "the Caddyfile's policy must be the app's own (src/web/layers.rs)"
    );

    // The body limit: the app's.
    let limit = all
        .iter()
        .find(|h| h["handler"] == "request_body")
        .expect("a request_body directive");
    assert_eq!(limit["max_size"], uic_inbox::BODY_LIMIT);

    // /metrics answered by Caddy itself, before anything reaches the app.
    let routes = site["handle"][0]["routes"].as_array().expect("site routes");
    let metrics_route = routes
        .iter()
        .position(|r| {
            r["match"][0]["path"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p == "/metrics"))
        })
        .expect("a route matching /metrics");
    let blocked = handlers(&routes[metrics_route]);
    assert!(
        blocked
            .iter()
            .any(|h| h["handler"] == "static_response" && h["status_code"] == 404),
        "{:#}",
        routes[metrics_route]
    );
    assert!(!blocked.iter().any(|h| h["handler"] == "reverse_proxy"));
    let proxy_route = routes
        .iter()
        .position(|r| handlers(r).iter().any(|h| h["handler"] == "reverse_proxy"))
        .expect("a reverse_proxy route");
    assert!(metrics_route < proxy_route, "/metrics is matched first");

    // The proxy: every instance of the `app` service, on the app's default
    // port, dropping idle connections before the app does.
    let proxy = all
        .iter()
        .find(|h| h["handler"] == "reverse_proxy")
        .unwrap();
    let upstreams = &proxy["dynamic_upstreams"];
    assert_eq!(upstreams["source"], "a", "{proxy:#}");
    assert_eq!(upstreams["name"], "app");
    let default_port = uic_inbox::config::Config::from_map(&Default::default())
        .unwrap()
        .port;
    assert_eq!(upstreams["port"], default_port.to_string());
    let idle_ns = proxy["transport"]["keep_alive"]["idle_timeout"]
        .as_u64()
        .expect("an idle timeout for the connections to the app");
    let header_timeout = uic_inbox::server::Limits::default().header_read_timeout;
    assert!(
        u128::from(idle_ns) < header_timeout.as_nanos(),
        "Caddy keeps idle connections {idle_ns} ns, the app closes them after {header_timeout:?}"
    );
}

/// The project's Caddyfile run on plain HTTP at `http://127.0.0.1:{port}`
/// (no certificate to fetch) in front of `127.0.0.1:{app_port}`, with its
/// admin endpoint off so that tests may run side by side; stopped when
/// dropped.
struct RunningCaddy {
    child: Child,
    domain: String,
    _home: tempfile::TempDir,
}

impl RunningCaddy {
    async fn start(caddy: &Path, port: u16, app_port: u16) -> RunningCaddy {
        let home = tempfile::tempdir().unwrap();
        let config = home.path().join("Caddyfile");
        let caddyfile = read("Caddyfile");
        let global = caddyfile.find("{\n").expect("a global options block");
        std::fs::write(
            &config,
            format!(
                "{}{{\n\tadmin off\n{}",
                &caddyfile[..global],
                &caddyfile[global + 2..]
            ),
        )
        .unwrap();
        let domain = format!("http://127.0.0.1:{port}");
        let log_path = home.path().join("caddy.log");
        let child = caddy_command(
            caddy,
            home.path(),
            &[
                "run",
                "--config",
                config.to_str().unwrap(),
                "--adapter",
                "caddyfile",
            ],
            &[
                ("DOMAIN", &domain),
                ("APP_HOST", "127.0.0.1"),
                ("APP_PORT", &app_port.to_string()),
            ],
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("caddy starts");
        let running = RunningCaddy {
            child,
            domain,
            _home: home,
        };
        // Ready once it accepts connections (it listens after loading the
        // whole configuration).
        let mut up = false;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                up = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(
            up,
            "caddy did not start:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        running
    }
}

impl Drop for RunningCaddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What the stand-in app saw: each request's path, X-Forwarded-For, and
/// the length of its body (or `cut`).
/// What reached the stand-in app: path, X-Forwarded-For, X-Request-Id,
/// the body's length (or `cut`).
type Seen = Arc<Mutex<Vec<(String, String, String, String)>>>;

#[tokio::test]
async fn caddy_hides_metrics_refuses_large_bodies_and_passes_the_real_client_address() {
    let Some(caddy) = caddy() else { return };
    // The stand-in app: records what reaches it and answers 200.
    let seen: Seen = Arc::default();
    let recorder = seen.clone();
    let upstream = Router::new().fallback(any(move |req: Request| {
        let recorder = recorder.clone();
        async move {
            let forwarded = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let request_id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let path = req.uri().path().to_string();
            // The whole body, as the app reads it: its length is recorded
            // only when all of it arrived.
            let body = axum::body::to_bytes(req.into_body(), usize::MAX).await;
            let length = body.map_or_else(|_| "cut".to_string(), |b| b.len().to_string());
            recorder
                .lock()
                .unwrap()
                .push((path, forwarded, request_id, length));
            "app"
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, upstream).await });
    let proxy = RunningCaddy::start(&caddy, free_port(), app_port).await;
    let domain = &proxy.domain;
    let client = reqwest::Client::new();

    // A page passes, with the headers, and the app learns the client's
    // address, not the one the client wrote.
    let page = client
        .get(format!("{domain}/login"))
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-request-id", "made-up-by-the-client")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers().contains_key("strict-transport-security"));
    assert!(page.headers().contains_key("content-security-policy"));
    assert!(!page.headers().contains_key("server"));
    let login = seen
        .lock()
        .unwrap()
        .iter()
        .find(|(path, _, _, _)| path == "/login")
        .cloned()
        .expect("the page reached the app");
    assert_eq!(login.1, "127.0.0.1", "X-Forwarded-For the app saw");
    // Caddy's own request id, not the client's: a UUID the app keeps.
    assert!(
        login.2.len() == 36 && login.2.split('-').count() == 5,
        "X-Request-Id the app saw: {:?}",
        login.2
    );

    // /metrics, however written, never reaches the app.
    for path in ["/metrics", "/METRICS", "/metrics/", "/metrics?x=1"] {
        let r = client.get(format!("{domain}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    assert!(
        !seen
            .lock()
            .unwrap()
            .iter()
            .any(|(p, _, _, _)| p.to_ascii_lowercase().starts_with("/metrics")),
        "{:?}",
        seen.lock().unwrap()
    );

    // A body over the app's limit never reaches the app whole.
    let big = vec![b'x'; uic_inbox::BODY_LIMIT + 1];
    let r = client
        .post(format!("{domain}/whatsapp/webhook"))
        .body(big)
        .send()
        .await
        .unwrap();
    // Caddy stops reading at the limit; 2.6 (Debian 12) then answers 502
    // where later versions answer 413.
    assert!([413, 502].contains(&r.status().as_u16()), "{}", r.status());
    let webhook = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _, _, _)| p == "/whatsapp/webhook")
        .map(|(_, _, _, length)| length.clone())
        .collect::<Vec<_>>();
    assert!(
        webhook.iter().all(|l| l == "cut"),
        "no whole body over the limit reached the app: {webhook:?}"
    );
}

#[tokio::test]
async fn behind_caddy_the_app_checks_twilio_signatures_against_its_public_url() {
    let Some(caddy) = caddy() else { return };
    // PUBLIC_URL is the proxy's address, as on a server (there https://DOMAIN).
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(Backend::Sqlite, |c| c.public_url = Some(public.clone()))
        .await
        .expect("sqlite app");
    let app_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = RunningCaddy::start(&caddy, port, app_port).await;
    assert_eq!(proxy.domain, public);

    let from = "whatsapp:+243990000101";
    let to = format!("whatsapp:{TWILIO_NUMBER}");
    let params = twilio_params("SM_deploy_1", from, &to, "Bonjour");
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let post = |signed_url: String| {
        let signature = twilio_signature(TWILIO_TOKEN, &signed_url, &params);
        app.client
            .post(format!("{public}/whatsapp/webhook"))
            .header("X-Twilio-Signature", signature)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_body(&params))
            .send()
    };
    // Signed over the app's own address, as if the proxy were not there:
    // refused, since Twilio never sees that address.
    let refused = post(format!("{}/whatsapp/webhook", app.address))
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    // Signed over the public URL Twilio posts to: the bot answers.
    let answered = post(format!("{public}/whatsapp/webhook")).await.unwrap();
    assert_eq!(answered.status(), 200);
    let replies = twiml_bodies(&answered.text().await.unwrap());
    assert!(!replies.is_empty(), "the bot's welcome");
}

// ---- docker-compose.prod.yml ----

fn compose() -> Yaml {
    let mut docs = YamlLoader::load_from_str(&read("docker-compose.prod.yml"))
        .expect("the compose file is YAML");
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

fn str_list(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        Yaml::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// A service's `environment`, as a map or as a list of `NAME=value`.
fn environment(service: &Yaml) -> Vec<(String, String)> {
    match &service["environment"] {
        Yaml::Hash(map) => map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => String::new(),
                };
                (k.as_str().unwrap_or_default().to_string(), value)
            })
            .collect(),
        Yaml::Array(_) => str_list(&service["environment"])
            .iter()
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap_or((l, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_compose_file_runs_five_services_and_starts_the_app_once_postgres_is_healthy() {
    let doc = compose();
    let services: BTreeSet<&str> = doc["services"]
        .as_hash()
        .expect("services")
        .keys()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(
        services,
        BTreeSet::from(["app", "caddy", "grafana", "postgres", "prometheus"])
    );
    let app = &doc["services"]["app"];
    assert_eq!(
        app["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy")
    );
    assert_eq!(str_list(&app["env_file"]), [".env"]);
    assert!(
        root()
            .join(app["build"]["dockerfile"].as_str().unwrap())
            .is_file()
    );
    // Two instances must be possible: nothing that names one container.
    assert!(app["container_name"].is_badvalue());
    assert!(
        app["ports"].is_badvalue(),
        "the app is reached through Caddy only"
    );

    let postgres = &doc["services"]["postgres"];
    let test = str_list(&postgres["healthcheck"]["test"]).join(" ");
    assert!(test.contains("pg_isready"), "{test}");
    let volumes = str_list(&postgres["volumes"]);
    let data = volumes
        .iter()
        .find(|v| v.ends_with(":/var/lib/postgresql/data"))
        .expect("PostgreSQL's data on a volume");
    let volume = data.split(':').next().unwrap();
    assert!(
        !doc["volumes"][volume].is_badvalue(),
        "{volume} is a named volume"
    );

    // The app's database is the compose file's PostgreSQL.
    let env = environment(app);
    let url = &env.iter().find(|(k, _)| k == "DATABASE_URL").unwrap().1;
    let user = environment(postgres)
        .into_iter()
        .find(|(k, _)| k == "POSTGRES_USER")
        .unwrap()
        .1;
    assert!(url.starts_with(&format!("postgres://{user}:")), "{url}");
    assert!(url.contains("@postgres:5432/"), "{url}");
}

#[test]
fn the_compose_file_holds_no_secret_and_publishes_only_caddy() {
    let doc = compose();
    let secret_words = ["PASSWORD", "TOKEN", "SECRET", "KEY", "SALT"];
    for (name, service) in doc["services"].as_hash().unwrap() {
        let name = name.as_str().unwrap();
        for (key, value) in environment(service) {
            if secret_words.iter().any(|w| key.contains(w)) {
                assert!(
                    value.starts_with("${") && value.ends_with('}'),
                    "{name}: {key} must come from .env, not be written here"
                );
            }
            // A password inside a URL too.
            if let Some((_, rest)) = value.split_once("://")
                && let Some((userinfo, _)) = rest.split_once('@')
                && let Some((_, password)) = userinfo.split_once(':')
            {
                assert!(password.starts_with("${"), "{name}: {key} holds a password");
            }
        }
        let ports = str_list(&service["ports"]);
        if name == "caddy" {
            assert_eq!(ports, ["80:80", "443:443", "443:443/udp"]);
        } else {
            for p in ports {
                assert!(
                    p.starts_with("127.0.0.1:"),
                    "{name} publishes {p} beyond the server's loopback"
                );
            }
        }
    }
    let app_env = environment(&doc["services"]["app"]);
    let port = &app_env.iter().find(|(k, _)| k == "PORT").unwrap().1;
    assert!(
        str_list(&doc["services"]["app"]["expose"]).contains(port),
        "the app's port is open to the compose network"
    );
}

#[test]
fn the_app_believes_x_forwarded_for_from_caddy_alone() {
    let doc = compose();
    let app_env = environment(&doc["services"]["app"]);
    let trusted = &app_env
        .iter()
        .find(|(k, _)| k == "TRUSTED_PROXIES")
        .expect("TRUSTED_PROXIES set for the app")
        .1;
    let trusted = uic_inbox::config::parse_trusted_proxies(trusted).expect("a valid list");
    let caddy: std::net::IpAddr = doc["services"]["caddy"]["networks"]["default"]["ipv4_address"]
        .as_str()
        .expect("Caddy at a fixed address")
        .parse()
        .unwrap();
    assert!(
        trusted
            .iter()
            .all(|n| n.contains(&caddy) && n.prefix_len() == n.max_prefix_len()),
        "{trusted:?}"
    );
    let ipam = &doc["networks"]["default"]["ipam"]["config"][0];
    let subnet: ipnet::IpNet = ipam["subnet"].as_str().unwrap().parse().unwrap();
    let dynamic: ipnet::IpNet = ipam["ip_range"].as_str().unwrap().parse().unwrap();
    assert!(subnet.contains(&caddy));
    assert!(
        !dynamic.contains(&caddy),
        "no other container can be given Caddy's address first"
    );
    // Twilio's signature is checked against PUBLIC_URL: Caddy's https site.
    let public = &app_env.iter().find(|(k, _)| k == "PUBLIC_URL").unwrap().1;
    let domain = environment(&doc["services"]["caddy"])
        .into_iter()
        .find(|(k, _)| k == "DOMAIN")
        .unwrap()
        .1;
    assert_eq!(public, &format!("https://{domain}"));
}

#[test]
fn prometheus_scrapes_every_app_instance_with_the_metrics_token() {
    let doc = compose();
    let prometheus = &doc["services"]["prometheus"];
    let mounts = str_list(&prometheus["volumes"]);
    assert!(mounts.contains(&"./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro".into()));
    assert_eq!(str_list(&prometheus["secrets"]), ["metrics_token"]);
    assert_eq!(
        doc["secrets"]["metrics_token"]["environment"].as_str(),
        Some("METRICS_TOKEN")
    );

    let config = YamlLoader::load_from_str(&read("deploy/prometheus.yml")).unwrap();
    let job = &config[0]["scrape_configs"][0];
    assert_eq!(job["metrics_path"].as_str(), Some("/metrics"));
    assert_eq!(
        job["authorization"]["credentials_file"].as_str(),
        Some("/run/secrets/metrics_token")
    );
    let sd = &job["dns_sd_configs"][0];
    assert_eq!(str_list(&sd["names"]), ["app"]);
    assert_eq!(sd["type"].as_str(), Some("A"));
    assert_eq!(sd["port"].as_i64(), Some(8000));

    // Grafana: its provisioning and the dashboard folder, from the repository.
    let grafana = str_list(&doc["services"]["grafana"]["volumes"]);
    for mount in grafana.iter().filter(|m| m.starts_with("./")) {
        let source = mount.split(':').next().unwrap();
        assert!(root().join(source).exists(), "{source}");
    }
    let provider = YamlLoader::load_from_str(&read(
        "deploy/grafana/provisioning/dashboards/uic-inbox.yml",
    ))
    .unwrap();
    let path = provider[0]["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    assert!(
        grafana.contains(&format!("./deploy/grafana:{path}:ro")),
        "{grafana:?}"
    );
}

// ---- deploy/Dockerfile ----

/// The Dockerfile's instructions: continuation lines joined, comments
/// dropped, the keyword upper-cased.
fn dockerfile() -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in read("deploy/Dockerfile").lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, rest) = current
                    .split_once(char::is_whitespace)
                    .unwrap_or((&current, ""));
                instructions.push((keyword.to_ascii_uppercase(), rest.trim().to_string()));
                current.clear();
            }
        }
    }
    assert!(
        current.is_empty(),
        "the Dockerfile ends inside a continuation"
    );
    instructions
}

#[test]
fn the_image_is_built_by_a_rust_stage_and_runs_the_binary_alone_as_a_user() {
    let instructions = dockerfile();
    let stages: Vec<&[(String, String)]> = {
        let starts: Vec<usize> = instructions
            .iter()
            .enumerate()
            .filter(|(_, (k, _))| k == "FROM")
            .map(|(i, _)| i)
            .collect();
        assert!(starts.len() >= 2, "a multi-stage build");
        assert_eq!(starts[0], 0);
        starts
            .iter()
            .enumerate()
            .map(|(n, &s)| &instructions[s..*starts.get(n + 1).unwrap_or(&instructions.len())])
            .collect()
    };
    let builder = stages[0];
    let (image, name) = builder[0]
        .1
        .split_once(" AS ")
        .expect("the build stage is named");
    assert!(image.starts_with("rust:"), "{image}");
    let runs: String = builder
        .iter()
        .filter(|(k, _)| k == "RUN")
        .map(|(_, r)| r.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        runs.contains("apt-get install") && runs.contains(" npm"),
        "build.rs runs npm ci: {runs}"
    );
    assert!(runs.contains("cargo build --release --locked"), "{runs}");

    let last = stages.last().unwrap();
    let base = &last[0].1;
    assert!(
        base.contains("-slim") || base.contains("distroless"),
        "a small base image: {base}"
    );
    let user = last
        .iter()
        .rfind(|(k, _)| k == "USER")
        .expect("the image sets its user")
        .1
        .clone();
    let user_name = user.split(':').next().unwrap();
    assert!(!["root", "0"].contains(&user_name), "not root: USER {user}");
    for (keyword, args) in last.iter() {
        assert!(keyword != "ADD", "ADD {args}: COPY only what is needed");
        if keyword == "COPY" {
            assert_eq!(
                args,
                &format!("--from={name} /src/target/release/uic-inbox /usr/local/bin/uic-inbox"),
                "the binary and nothing else"
            );
        }
    }
    let default_port = uic_inbox::config::Config::from_map(&Default::default())
        .unwrap()
        .port;
    assert!(
        last.iter()
            .any(|(k, a)| k == "EXPOSE" && a == &default_port.to_string())
    );
    let health = &last
        .iter()
        .find(|(k, _)| k == "HEALTHCHECK")
        .expect("a health check")
        .1;
    assert!(health.contains("GET /healthz"), "{health}");
    assert!(
        last.iter()
            .any(|(k, a)| k == "ENTRYPOINT" && a.contains("uic-inbox"))
    );

    // Every variable it sets or reads is one the app reads.
    let known = app_variables();
    for (keyword, args) in &instructions {
        let mut names = interpolated(args);
        if keyword == "ENV" {
            names.extend(
                args.split_whitespace()
                    .filter_map(|w| w.split_once('='))
                    .map(|(k, _)| k.to_string()),
            );
        }
        for n in names {
            assert!(
                known.contains(&n),
                "{keyword} {args}: {n} is not read by the app"
            );
        }
    }
}

// ---- deploy/uic-inbox.service ----

/// `Key=value` lines of the unit file.
fn unit_settings() -> Vec<(String, String)> {
    read("deploy/uic-inbox.service")
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_systemd_unit_is_confined_restarts_and_reads_an_environment_file() {
    let settings = unit_settings();
    let has = |k: &str, v: &str| settings.iter().any(|(sk, sv)| sk == k && sv == v);
    let value = |k: &str| {
        settings
            .iter()
            .find(|(sk, _)| sk == k)
            .map(|(_, v)| v.as_str())
    };
    assert!(has("NoNewPrivileges", "yes"));
    assert!(has("ProtectSystem", "strict"));
    assert!(has("Restart", "on-failure"));
    assert!(has("DynamicUser", "yes") || value("User").is_some_and(|u| u != "root"));
    assert!(value("EnvironmentFile").is_some());
    // The one place it may write is its state directory, where it runs
    // (SQLite's data/ is relative to the working directory).
    let state = value("StateDirectory").expect("a state directory");
    assert_eq!(
        value("WorkingDirectory"),
        Some(format!("/var/lib/{state}").as_str())
    );
    // Long enough for the 20 s given to requests under way.
    let stop: u64 = value("TimeoutStopSec")
        .and_then(|v| v.trim_end_matches('s').parse().ok())
        .expect("TimeoutStopSec in seconds");
    assert!(stop > 20);
    let known = app_variables();
    for (k, v) in &settings {
        if k == "Environment" {
            let name = v.split_once('=').expect("NAME=value").0;
            assert!(known.contains(name), "Environment={v}: not read by the app");
        }
    }
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: unit check skipped");
        return;
    };
    assert!(version.status.success());
    // The verification needs the program to exist: the unit as written,
    // pointed at the binary this test run built.
    let dir = tempfile::tempdir().unwrap();
    let unit = read("deploy/uic-inbox.service");
    let original = "ExecStart=/usr/local/bin/uic-inbox ";
    assert!(
        unit.contains(original),
        "ExecStart runs /usr/local/bin/uic-inbox"
    );
    let path = dir.path().join("uic-inbox.service");
    std::fs::write(
        &path,
        unit.replace(
            original,
            &format!("ExecStart={} ", env!("CARGO_BIN_EXE_uic-inbox")),
        ),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze runs");
    // An unknown key or a bad value is only a warning: any line naming the
    // unit fails the test too.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let about_it: Vec<&str> = said.lines().filter(|l| l.contains("uic-inbox")).collect();
    assert!(out.status.success() && about_it.is_empty(), "{said}");
}

// ---- every variable ----

#[test]
fn every_variable_the_deployment_names_is_one_the_app_or_the_stack_reads() {
    let known = app_variables();
    assert!(known.contains("DATABASE_URL") && known.contains("DHIS2_TOKEN"));
    let stack: BTreeSet<String> = STACK_VARIABLES.iter().map(|s| s.to_string()).collect();

    let example = read("deploy/env.example");
    let lines = env_file_lines(&example);
    assert!(lines.len() > 10, "{lines:?}");
    for (_, name, _) in &lines {
        assert!(
            known.contains(name) || stack.contains(name),
            "deploy/env.example: {name} is read by nothing"
        );
    }

    let compose_text = read("docker-compose.prod.yml");
    let used = interpolated(&compose_text);
    for name in &used {
        assert!(
            known.contains(name) || stack.contains(name),
            "docker-compose.prod.yml: ${{{name}}} is read by nothing"
        );
    }
    for name in &stack {
        assert!(
            used.contains(name),
            "{name} is not used by the compose file"
        );
    }
    let doc = compose();
    for (key, _) in environment(&doc["services"]["app"]) {
        assert!(
            known.contains(&key),
            "the app's {key} is not read by the app"
        );
    }

    // What the compose file requires (`${NAME:?…}`) is in the example,
    // to be filled; and no secret is filled in there.
    for (active, name, value) in &lines {
        if ["PASSWORD", "TOKEN", "SECRET", "KEY", "SALT"]
            .iter()
            .any(|w| name.contains(w))
        {
            assert!(
                value.is_empty(),
                "deploy/env.example: {name} must be left empty (active: {active})"
            );
        }
    }
    for required in compose_text
        .split("${")
        .skip(1)
        .filter_map(|r| r.split_once(":?").map(|(n, _)| n))
        .filter(|n| !n.contains('}'))
    {
        assert!(
            lines.iter().any(|(active, n, _)| *active && n == required),
            "deploy/env.example must have {required}="
        );
    }
}

#[test]
fn the_readmes_give_the_three_commands_that_start_the_stack() {
    let guide = read("deploy/README.md");
    let main = read("README.md");
    for command in [
        "docker compose -f docker-compose.prod.yml build",
        "docker compose -f docker-compose.prod.yml up -d",
        "docker compose -f docker-compose.prod.yml logs app",
    ] {
        assert!(guide.contains(command), "deploy/README.md: {command}");
        assert!(main.contains(command), "README.md: {command}");
    }
    assert!(main.contains("## Deploy to a server"));
    assert!(main.contains("(deploy/README.md)"));
    for place in [
        "deploy/backup.sh",
        "deploy/BACKUP.md",
        "deploy/grafana/uic-inbox.json",
    ] {
        assert!(guide.contains(place), "deploy/README.md names {place}");
    }
}
