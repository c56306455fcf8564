//! Configuration from the environment (and `.env`), validated at start.
//!
//! The Python prototype's variables keep their meaning, so an existing
//! `.env` works unchanged. Every problem is reported on its own line.

use crate::db::DbUrl;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

/// A secret value (a token, the salt): `secrecy`'s string, which prints
/// only a redaction in `Debug`, has no `Display` nor `Serialize`, and is
/// wiped from memory when dropped. A newtype rather than an alias so that
/// the settings holding secrets can still be compared (tests, reloads):
/// `SecretString` has no `PartialEq`.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(SecretString::from(s.into()))
    }
    /// The secret itself, for the one place that needs it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret::new(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.expose_secret() == other.expose_secret()
    }
}

impl Eq for Secret {}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The default Twilio account described by `TWILIO_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioEnv {
    pub account_sid: String,
    pub auth_token: Secret,
    /// E.164 with `+`, without the `whatsapp:` prefix.
    pub whatsapp_number: String,
}

/// The default Meta Cloud API account described by `META_*` variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaEnv {
    pub access_token: Secret,
    pub phone_number_id: String,
    pub verify_token: Secret,
    pub app_secret: Secret,
    pub app_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub database_url: DbUrl,
    pub uic_salt: Option<Secret>,
    pub session_timeout_minutes: u32,
    /// A tracing filter ("info", "uic_inbox=debug,info").
    pub log_level: String,
    pub log_format: LogFormat,
    pub enable_qr_code: bool,
    pub twilio: Option<TwilioEnv>,
    /// External base URL (`https://whatsapp.example.org`), used to check
    /// Twilio signatures behind a proxy.
    pub public_url: Option<String>,
    pub twilio_api_url: String,
    pub meta: Option<MetaEnv>,
    /// The DHIS-2 settings `DHIS2_*` variables give the numbers above.
    pub dhis2: Option<crate::dhis2::env::Dhis2Env>,
    /// Graph API base URL (`https://graph.facebook.com`; tests point it at a fake).
    pub meta_graph_url: String,
    /// Graph API version in request paths (`v21.0`).
    pub meta_api_version: String,
    /// A staff session ends after this long without a request.
    pub staff_session_idle: std::time::Duration,
    /// A staff session ends this long after login, active or not.
    pub staff_session_max: std::time::Duration,
    /// Timeouts and the connection limit of the HTTP server.
    pub limits: crate::server::Limits,
    /// How often the reports' figures of what ended are added up into
    /// their days (not from the environment: a test lengthens it to see
    /// rows not added up yet).
    pub report_roll_every: std::time::Duration,

    // ---- proxies (auth hardening) ----
    /// Peers whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<ipnet::IpNet>,

    // ---- secrets at rest ----
    /// Seals the stored credentials (`SECRET_KEY`); with SQLite and none
    /// set, a key file beside the database (see `secrets::keys`).
    pub secret_key: Option<crate::secrets::Key>,
    /// Earlier keys that still open (`SECRET_KEY_PREVIOUS`), never seal.
    pub secret_key_previous: Vec<crate::secrets::Key>,
    /// `GET /metrics` needs `Authorization: Bearer` with it when set
    /// (`METRICS_TOKEN`).
    pub metrics_token: Option<Secret>,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite:data/uic-inbox.db";

impl Config {
    /// Reads the process environment (after `.env` was loaded by the caller).
    pub fn from_env() -> Result<Config, Vec<String>> {
        Config::from_map(&std::env::vars().collect())
    }

    /// Builds the configuration from a map of variables; every problem found
    /// is returned, one line each.
    pub fn from_map(env: &HashMap<String, String>) -> Result<Config, Vec<String>> {
        let get = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let mut problems = Vec::new();

        let host = match get("HOST").unwrap_or("0.0.0.0").parse::<IpAddr>() {
            Ok(h) => h,
            Err(_) => {
                problems.push(format!(
                    "HOST: {:?} is not an IP address (e.g. 0.0.0.0 or 127.0.0.1)",
                    get("HOST").unwrap_or_default()
                ));
                IpAddr::from([0, 0, 0, 0])
            }
        };
        let port = match get("PORT").map(str::parse::<u16>) {
            None => 8000,
            Some(Ok(p)) => p,
            Some(Err(_)) => {
                problems.push(format!(
                    "PORT: {:?} is not a port number (0-65535)",
                    get("PORT").unwrap_or_default()
                ));
                8000
            }
        };
        let database_url = match DbUrl::parse(get("DATABASE_URL").unwrap_or(DEFAULT_DATABASE_URL)) {
            Ok(u) => u,
            Err(e) => {
                problems.push(e);
                DbUrl::Sqlite(DEFAULT_DATABASE_URL.trim_start_matches("sqlite:").into())
            }
        };
        let uic_salt = get("UIC_SALT").map(Secret::new);
        if let Some(salt) = &uic_salt
            && salt.expose_secret().len() < 16
        {
            problems.push(
                "UIC_SALT: too short (at least 16 characters; `uic-inbox salt` makes a good one)"
                    .into(),
            );
        }
        if uic_salt.is_none() && !database_url.is_sqlite() {
            problems.push("UIC_SALT: required with PostgreSQL (generate one with `uic-inbox salt`, keep it safe: changing it breaks duplicate detection)".into());
        }
        let session_timeout_minutes = match get("SESSION_TIMEOUT_MINUTES").map(str::parse::<u32>) {
            None => 30,
            Some(Ok(m)) if (1..=7 * 24 * 60).contains(&m) => m,
            Some(_) => {
                problems.push(format!(
                    "SESSION_TIMEOUT_MINUTES: {:?} must be a whole number of minutes from 1 to 10080",
                    get("SESSION_TIMEOUT_MINUTES").unwrap_or_default()
                ));
                30
            }
        };
        let mut whole = |name: &str, default: u64, max: u64, unit: &str| -> u64 {
            match get(name).map(str::parse::<u64>) {
                None => default,
                Some(Ok(v)) if (1..=max).contains(&v) => v,
                Some(_) => {
                    problems.push(format!(
                        "{name}: {:?} must be a whole number of {unit} from 1 to {max}",
                        get(name).unwrap_or_default()
                    ));
                    default
                }
            }
        };
        let staff_session_idle = std::time::Duration::from_secs(
            60 * whole("STAFF_SESSION_IDLE_MINUTES", 60, 24 * 60, "minutes"),
        );
        let staff_session_max = std::time::Duration::from_secs(
            3600 * whole("STAFF_SESSION_MAX_HOURS", 12, 24 * 30, "hours"),
        );
        // What one HTTP client may hold (see `server.rs`).
        let defaults = crate::server::Limits::default();
        let limits = crate::server::Limits {
            header_read_timeout: std::time::Duration::from_secs(whole(
                "HEADER_READ_TIMEOUT_SECONDS",
                defaults.header_read_timeout.as_secs(),
                300,
                "seconds",
            )),
            body_timeout: std::time::Duration::from_secs(whole(
                "REQUEST_BODY_TIMEOUT_SECONDS",
                defaults.body_timeout.as_secs(),
                600,
                "seconds",
            )),
            max_connections: whole(
                "MAX_CONNECTIONS",
                defaults.max_connections as u64,
                100_000,
                "connections",
            ) as usize,
        };
        // The prototype used Python's level names (INFO, WARNING).
        let log_level = match get("LOG_LEVEL").map(|l| l.to_ascii_lowercase()) {
            None => "info".to_string(),
            Some(l) if l == "warning" => "warn".into(),
            Some(l) if l == "critical" || l == "fatal" => "error".into(),
            Some(l) => l,
        };
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            problems.push(format!(
                "LOG_LEVEL: {log_level:?} is not a level (debug, info, warning, error)"
            ));
        }
        let log_format = match get("LOG_FORMAT").map(|f| f.to_ascii_lowercase()).as_deref() {
            None | Some("pretty") | Some("text") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                problems.push(format!("LOG_FORMAT: {other:?} must be pretty or json"));
                LogFormat::Pretty
            }
        };
        let enable_qr_code = match get("ENABLE_QR_CODE").map(parse_bool) {
            None => false,
            Some(Some(b)) => b,
            Some(None) => {
                problems.push(format!(
                    "ENABLE_QR_CODE: {:?} must be true or false",
                    get("ENABLE_QR_CODE").unwrap_or_default()
                ));
                false
            }
        };

        let twilio = match (
            get("TWILIO_ACCOUNT_SID"),
            get("TWILIO_AUTH_TOKEN"),
            get("TWILIO_WHATSAPP_NUMBER"),
        ) {
            (None, None, None) => None,
            (Some(sid), Some(token), Some(number)) => {
                let number = number.trim_start_matches("whatsapp:").trim().to_string();
                if !sid.starts_with("AC") {
                    problems.push("TWILIO_ACCOUNT_SID: must start with AC (the Account SID from the Twilio console)".into());
                }
                if !is_e164(&number) {
                    problems.push(format!("TWILIO_WHATSAPP_NUMBER: {number:?} must be an international number such as whatsapp:+14155238886"));
                }
                Some(TwilioEnv {
                    account_sid: sid.to_string(),
                    auth_token: Secret::new(token),
                    whatsapp_number: number,
                })
            }
            (sid, token, number) => {
                let missing: Vec<&str> = [
                    ("TWILIO_ACCOUNT_SID", sid),
                    ("TWILIO_AUTH_TOKEN", token),
                    ("TWILIO_WHATSAPP_NUMBER", number),
                ]
                .into_iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| k)
                .collect();
                problems.push(format!(
                    "Twilio: {} missing (set all three TWILIO_ variables, or none)",
                    missing.join(", ")
                ));
                None
            }
        };
        let public_url = get("PUBLIC_URL").map(|u| u.trim_end_matches('/').to_string());
        if let Some(u) = &public_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            problems.push(format!(
                "PUBLIC_URL: {u:?} must start with https:// (e.g. https://whatsapp.example.org)"
            ));
        }
        let twilio_api_url = get("TWILIO_API_URL")
            .unwrap_or("https://api.twilio.com")
            .trim_end_matches('/')
            .to_string();

        let meta = meta_from_env(&get, &mut problems);
        let dhis2 = crate::dhis2::env::from_env(&get, &mut problems);
        let meta_graph_url = get("META_GRAPH_URL")
            .unwrap_or("https://graph.facebook.com")
            .trim_end_matches('/')
            .to_string();
        if !(meta_graph_url.starts_with("https://") || meta_graph_url.starts_with("http://")) {
            problems.push(format!(
                "META_GRAPH_URL: {meta_graph_url:?} must start with https:// (default https://graph.facebook.com)"
            ));
        }
        let meta_api_version = get("META_API_VERSION").unwrap_or("v21.0").to_string();
        if !is_api_version(&meta_api_version) {
            problems.push(format!(
                "META_API_VERSION: {meta_api_version:?} must look like v21.0"
            ));
        }

        // ---- proxies (auth hardening) ----
        let trusted_proxies = match get("TRUSTED_PROXIES") {
            None => default_trusted_proxies(),
            Some(raw) => parse_trusted_proxies(raw).unwrap_or_else(|bad| {
                problems.extend(bad);
                Vec::new()
            }),
        };

        // ---- secrets at rest ----
        let secret_key = get("SECRET_KEY").and_then(|text| {
            let key = crate::secrets::keys::parse_key(text);
            if key.is_none() {
                problems.push(format!("SECRET_KEY: {}", crate::secrets::keys::KEY_FORMAT));
            }
            key
        });
        if get("SECRET_KEY").is_none() && !database_url.is_sqlite() {
            problems.push(format!(
                "SECRET_KEY: required with PostgreSQL (it encrypts the stored WhatsApp credentials; every instance needs the same one); a key {}",
                crate::secrets::keys::KEY_FORMAT
            ));
        }
        let secret_key_previous = match get("SECRET_KEY_PREVIOUS") {
            None => Vec::new(),
            Some(text) => crate::secrets::keys::parse_key_list(text).unwrap_or_else(|bad| {
                problems.extend(bad);
                Vec::new()
            }),
        };
        let metrics_token = get("METRICS_TOKEN")
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if let Some(t) = metrics_token
            && (t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            problems.push(
                "METRICS_TOKEN: use at least 16 visible ASCII characters, no spaces (e.g. the output of `openssl rand -hex 24`)".into(),
            );
        }
        let metrics_token = metrics_token.map(|t| Secret::new(t.to_string()));

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Config {
            host,
            port,
            database_url,
            uic_salt,
            session_timeout_minutes,
            log_level,
            log_format,
            enable_qr_code,
            twilio,
            public_url,
            twilio_api_url,
            meta,
            dhis2,
            meta_graph_url,
            meta_api_version,
            staff_session_idle,
            staff_session_max,
            limits,
            report_roll_every: crate::report::ROLL_EVERY,
            trusted_proxies,
            secret_key,
            secret_key_previous,
            metrics_token,
        })
    }

    /// A configuration for tests and tools: everything default, on `url`.
    pub fn for_database(url: DbUrl) -> Config {
        let mut env = HashMap::new();
        env.insert("HOST".to_string(), "127.0.0.1".to_string());
        env.insert("PORT".to_string(), "0".to_string());
        let mut config = Config::from_map(&env).expect("the defaults are valid");
        config.database_url = url;
        config
    }
}

// ---- proxies (auth hardening) ----

/// Loopback only: a reverse proxy on the same machine.
pub fn default_trusted_proxies() -> Vec<ipnet::IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// `TRUSTED_PROXIES`: addresses or CIDR ranges separated by commas or
/// spaces (`127.0.0.1, 10.0.0.0/8`); one problem line per bad entry. An
/// empty list (`none`) believes no proxy at all.
pub fn parse_trusted_proxies(raw: &str) -> Result<Vec<ipnet::IpNet>, Vec<String>> {
    if raw.trim().eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let mut nets = Vec::new();
    let mut bad = Vec::new();
    for entry in raw
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty())
    {
        if let Ok(n) = entry.parse::<ipnet::IpNet>() {
            nets.push(n.trunc());
        } else if let Ok(ip) = entry.parse::<IpAddr>() {
            nets.push(ipnet::IpNet::from(ip));
        } else {
            bad.push(format!(
                "TRUSTED_PROXIES: {entry:?} is not an IP address or CIDR range (e.g. 127.0.0.1 or 10.0.0.0/8)"
            ));
        }
    }
    if bad.is_empty() { Ok(nets) } else { Err(bad) }
}

/// `META_*` variables, also under the names other deployment guides use.
fn meta_from_env<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
    problems: &mut Vec<String>,
) -> Option<MetaEnv> {
    let first = |names: &[&'static str]| -> Option<(&'static str, &'a str)> {
        names.iter().find_map(|n| get(n).map(|v| (*n, v)))
    };
    let token = first(&["META_ACCESS_TOKEN", "META_WHATSAPP_TOKEN", "WHATSAPP_TOKEN"]);
    let phone_id = first(&["META_PHONE_NUMBER_ID", "WHATSAPP_PHONE_ID"]);
    let verify = first(&[
        "META_WEBHOOK_VERIFY_TOKEN",
        "META_VERIFY_TOKEN",
        "WHATSAPP_VERIFY_TOKEN",
    ]);
    let secret = first(&["META_APP_SECRET"]);
    let app_id = get("META_APP_ID").map(str::to_string);
    match (token, phone_id, verify, secret) {
        (None, None, None, None) => None,
        (Some((_, token)), Some((phone_name, phone_id)), Some((_, verify)), Some((_, secret))) => {
            if !phone_id.chars().all(|c| c.is_ascii_digit()) {
                problems.push(format!(
                    "{phone_name}: {phone_id:?} must be the phone number ID (digits) from App Dashboard > WhatsApp > API Setup, not the phone number"
                ));
            }
            Some(MetaEnv {
                access_token: Secret::new(token),
                phone_number_id: phone_id.to_string(),
                verify_token: Secret::new(verify),
                app_secret: Secret::new(secret),
                app_id,
            })
        }
        (token, phone_id, verify, secret) => {
            let missing: Vec<&str> = [
                ("META_ACCESS_TOKEN", token.is_none()),
                ("META_PHONE_NUMBER_ID", phone_id.is_none()),
                ("META_WEBHOOK_VERIFY_TOKEN", verify.is_none()),
                (
                    "META_APP_SECRET (checks the signature of Meta's webhooks)",
                    secret.is_none(),
                ),
            ]
            .into_iter()
            .filter(|(_, m)| *m)
            .map(|(k, _)| k)
            .collect();
            problems.push(format!(
                "Meta: {} missing (set META_ACCESS_TOKEN, META_PHONE_NUMBER_ID, META_WEBHOOK_VERIFY_TOKEN and META_APP_SECRET, or none)",
                missing.join(", ")
            ));
            None
        }
    }
}

/// `v21.0`
fn is_api_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty()
            && a.chars().all(|c| c.is_ascii_digit()) && b.chars().all(|c| c.is_ascii_digit())
    )
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `+` then 6 to 15 digits.
pub fn is_e164(n: &str) -> bool {
    n.strip_prefix('+')
        .is_some_and(|d| (6..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn trusted_proxies_default_to_loopback_and_bad_entries_are_named() {
        let c = Config::from_map(&env(&[])).unwrap();
        assert_eq!(c.trusted_proxies, default_trusted_proxies());
        let c =
            Config::from_map(&env(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7 ::1")])).unwrap();
        assert_eq!(c.trusted_proxies.len(), 3);
        assert!(c.trusted_proxies[1].contains(&"192.168.1.7".parse::<IpAddr>().unwrap()));
        let problems =
            Config::from_map(&env(&[("TRUSTED_PROXIES", "10.0.0.0/33,proxy,127.0.0.1")]))
                .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("\"10.0.0.0/33\""), "{problems:?}");
        assert!(problems[1].contains("\"proxy\""), "{problems:?}");
        let c = Config::from_map(&env(&[("TRUSTED_PROXIES", "none")])).unwrap();
        assert!(c.trusted_proxies.is_empty());
    }

    #[test]
    fn nothing_configured_gives_a_working_sqlite_setup() {
        let c = Config::from_map(&env(&[])).unwrap();
        assert_eq!(c.database_url, DbUrl::Sqlite("data/uic-inbox.db".into()));
        assert_eq!(c.port, 8000);
        assert_eq!(c.session_timeout_minutes, 30);
        assert!(c.twilio.is_none());
        assert!(c.uic_salt.is_none());
    }

    #[test]
    fn the_prototype_env_file_is_understood() {
        let c = Config::from_map(&env(&[
            ("DATABASE_URL", "sqlite+aiosqlite:///./data/uic.db"),
            ("UIC_SALT", "a-long-enough-salt-value"),
            ("LOG_LEVEL", "INFO"),
            ("ENABLE_QR_CODE", "True"),
            ("SESSION_TIMEOUT_MINUTES", "45"),
            ("TWILIO_ACCOUNT_SID", "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("TWILIO_WHATSAPP_NUMBER", "whatsapp:+14155238886"),
        ]))
        .unwrap();
        assert_eq!(c.database_url, DbUrl::Sqlite("./data/uic.db".into()));
        assert_eq!(c.log_level, "info");
        assert!(c.enable_qr_code);
        assert_eq!(c.session_timeout_minutes, 45);
        assert_eq!(c.twilio.unwrap().whatsapp_number, "+14155238886");
    }

    #[test]
    fn a_metrics_token_must_be_long_and_visible() {
        assert!(Config::from_map(&env(&[])).unwrap().metrics_token.is_none());
        let c = Config::from_map(&env(&[("METRICS_TOKEN", " 0123456789abcdef ")])).unwrap();
        assert_eq!(c.metrics_token.unwrap().expose_secret(), "0123456789abcdef");
        for bad in [
            "short",
            "0123456789 abcdef",
            "0123456789abcdef\u{0}",
            "0123456789abcdéf",
        ] {
            let problems = Config::from_map(&env(&[("METRICS_TOKEN", bad)])).unwrap_err();
            assert!(problems[0].starts_with("METRICS_TOKEN:"), "{bad:?}");
            assert!(!problems[0].contains(bad), "the value is not echoed");
        }
    }

    #[test]
    fn every_problem_is_reported_on_its_own_line() {
        let problems = Config::from_map(&env(&[
            ("PORT", "eighty"),
            ("DATABASE_URL", "postgresql+asyncpg://u@h/db"),
            ("SESSION_TIMEOUT_MINUTES", "0"),
            ("TWILIO_ACCOUNT_SID", "ACx"),
        ]))
        .unwrap_err();
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems.iter().any(|p| p.starts_with("PORT:")));
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("SECRET_KEY: required with PostgreSQL"))
        );
        assert!(problems.iter().any(|p| p.starts_with("UIC_SALT:")));
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("SESSION_TIMEOUT_MINUTES:"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_NUMBER missing"))
        );
    }

    #[test]
    fn meta_variables_are_read_under_every_guide_s_names() {
        let c = Config::from_map(&env(&[
            ("META_ACCESS_TOKEN", "EAAG-token"),
            ("META_PHONE_NUMBER_ID", "106540352242922"),
            ("META_WEBHOOK_VERIFY_TOKEN", "verify-me"),
            ("META_APP_SECRET", "app-secret"),
            ("META_APP_ID", "123456789012345"),
        ]))
        .unwrap();
        let m = c.meta.unwrap();
        assert_eq!(m.phone_number_id, "106540352242922");
        assert_eq!(m.access_token.expose_secret(), "EAAG-token");
        assert_eq!(m.app_id.as_deref(), Some("123456789012345"));
        assert_eq!(c.meta_graph_url, "https://graph.facebook.com");
        assert_eq!(c.meta_api_version, "v21.0");

        let c = Config::from_map(&env(&[
            ("WHATSAPP_TOKEN", "other-token"),
            ("WHATSAPP_PHONE_ID", "42"),
            ("WHATSAPP_VERIFY_TOKEN", "v"),
            ("META_APP_SECRET", "s"),
            ("META_GRAPH_URL", "http://127.0.0.1:9/"),
            ("META_API_VERSION", "v23.0"),
        ]))
        .unwrap();
        let m = c.meta.unwrap();
        assert_eq!(m.access_token.expose_secret(), "other-token");
        assert_eq!(m.verify_token.expose_secret(), "v");
        assert_eq!(c.meta_graph_url, "http://127.0.0.1:9");
        assert_eq!(c.meta_api_version, "v23.0");

        let c = Config::from_map(&env(&[
            ("META_WHATSAPP_TOKEN", "t"),
            ("META_PHONE_NUMBER_ID", "42"),
            ("META_VERIFY_TOKEN", "v2"),
            ("META_APP_SECRET", "s"),
        ]))
        .unwrap();
        assert_eq!(c.meta.unwrap().verify_token.expose_secret(), "v2");
    }

    #[test]
    fn incomplete_or_wrong_meta_settings_are_named() {
        let problems = Config::from_map(&env(&[
            ("META_ACCESS_TOKEN", "t"),
            ("META_PHONE_NUMBER_ID", "42"),
            ("META_API_VERSION", "21"),
        ]))
        .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems[0].contains("META_WEBHOOK_VERIFY_TOKEN, META_APP_SECRET"));
        assert!(problems[1].starts_with("META_API_VERSION:"));

        let problems = Config::from_map(&env(&[
            ("META_ACCESS_TOKEN", "t"),
            ("META_PHONE_NUMBER_ID", "+243810000000"),
            ("META_WEBHOOK_VERIFY_TOKEN", "v"),
            ("META_APP_SECRET", "s"),
        ]))
        .unwrap_err();
        assert!(problems[0].contains("phone number ID"), "{problems:?}");
    }

    #[test]
    fn secrets_are_masked_when_printed() {
        let c = Config::from_map(&env(&[
            ("UIC_SALT", "super-secret-salt-value"),
            ("TWILIO_ACCOUNT_SID", "AC123"),
            ("TWILIO_AUTH_TOKEN", "twilio-secret-token"),
            ("TWILIO_WHATSAPP_NUMBER", "+14155238886"),
            ("META_ACCESS_TOKEN", "meta-secret-access-token"),
            ("META_PHONE_NUMBER_ID", "42"),
            ("META_WEBHOOK_VERIFY_TOKEN", "meta-secret-verify-token"),
            ("META_APP_SECRET", "meta-secret-app-secret"),
        ]))
        .unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("super-secret-salt-value"));
        assert!(!printed.contains("twilio-secret-token"));
        assert!(!printed.contains("meta-secret"), "{printed}");
        // What is printed instead: the redaction, once per secret.
        assert_eq!(printed.matches("[REDACTED]").count(), 5, "{printed}");
    }

    #[test]
    fn a_bad_secret_key_is_refused_with_what_is_expected_and_never_echoed() {
        let hex_key = "ab".repeat(32);
        for bad in [
            "short-secret-value".to_string(),
            "ab".repeat(31),
            format!("{}\0x", "ab".repeat(31)),
            "zz".repeat(32),
            "c2VjcmV0LXZhbHVlLW5vdC0zMi1ieXRlcw==".to_string(),
        ] {
            let problems = Config::from_map(&env(&[("SECRET_KEY", &bad)])).unwrap_err();
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].starts_with(
                    "SECRET_KEY: must be 32 random bytes written as 64 hex characters or as base64"
                ),
                "{problems:?}"
            );
            assert!(problems[0].contains("uic-inbox secret-key generate"));
            assert!(!problems[0].contains(&bad), "{problems:?}");
        }
        let problems = Config::from_map(&env(&[
            ("SECRET_KEY", &hex_key),
            ("SECRET_KEY_PREVIOUS", "secret-looking-junk"),
        ]))
        .unwrap_err();
        assert!(
            problems[0].starts_with("SECRET_KEY_PREVIOUS: key number 1"),
            "{problems:?}"
        );
        assert!(!problems[0].contains("secret-looking-junk"));

        let c = Config::from_map(&env(&[
            ("SECRET_KEY", &hex_key),
            (
                "SECRET_KEY_PREVIOUS",
                &format!("{}, {}", "cd".repeat(32), "ef".repeat(32)),
            ),
            ("DATABASE_URL", "postgres://u@h/db"),
            ("UIC_SALT", "a-long-enough-salt-value"),
        ]))
        .unwrap();
        assert_eq!(c.secret_key_previous.len(), 2);
        let printed = format!("{c:?}");
        assert!(!printed.contains(&hex_key), "{printed}");
        assert!(!printed.contains(&"cd".repeat(32)), "{printed}");
    }
}
