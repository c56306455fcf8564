//! The DHIS-2 Tracker API client: where a server is and how to sign in
//! ([`Connection`], [`Auth`]), the calls the sync and the settings check
//! make ([`Dhis2Client`]) and why one failed ([`Dhis2Error`]).
//!
//! The wire formats live in `wire`; this file only sends and sorts answers.
//! Errors name the endpoint (`GET /api/system/info`), never the URL, the
//! `Authorization` header or a request body, and the token or password is
//! scrubbed from anything the server echoes back.

use super::uid::Uid;
use super::wire::{
    self, ATTRIBUTE_FIELDS, AttributeInfo, ImportBundle, ImportReport, ORG_UNIT_FIELDS,
    OrgUnitInfo, PROGRAM_FIELDS, ProgramInfo, SearchQuery, TRACKED_ENTITY_TYPE_FIELDS,
    TrackedEntityTypeInfo, Version,
};
use crate::auth::Lang;
use crate::channel::http::{describe, redact};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue, LOCATION};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// The largest answer read (a program with thousands of org units is a few
/// hundred KiB).
pub const BODY_MAX: usize = 4 * 1024 * 1024;

/// `/api/system/id` gives at most this many UIDs per call (C.1).
pub const UIDS_PER_CALL: usize = 10_000;

// ---------------------------------------------------------------------------
// Connection

/// How to sign in. `Debug` never shows the token or the password.
#[derive(Clone)]
pub enum Auth {
    /// A Personal Access Token (`d2pat_…`), sent as `ApiToken <pat>`.
    Token(SecretString),
    /// HTTP Basic with a (dedicated) user.
    Basic {
        username: String,
        password: SecretString,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Token(_) => f.write_str("Token([redacted])"),
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"[redacted]")
                .finish(),
        }
    }
}

impl Auth {
    /// The secret strings to scrub from whatever the server answers.
    fn secrets(&self) -> Vec<&str> {
        match self {
            Auth::Token(t) => vec![t.expose_secret()],
            Auth::Basic { password, .. } => vec![password.expose_secret()],
        }
    }
}

/// A DHIS-2 instance and its credentials.
#[derive(Debug, Clone)]
pub struct Connection {
    /// `https://dhis.example.org` or with a context path
    /// (`https://example.org/dhis`), without a trailing slash.
    pub base_url: String,
    pub auth: Auth,
}

/// Why a base URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    #[error("the DHIS-2 address is empty")]
    Empty,
    #[error("the DHIS-2 address must start with https:// or http://")]
    Scheme,
    #[error("the DHIS-2 address is not a valid URL")]
    Invalid,
    /// `user:password@` in the URL: credentials go in their own fields,
    /// where they are kept secret.
    #[error("the DHIS-2 address must not contain a user name or password")]
    Credentials,
    #[error("the DHIS-2 address must not contain a query (?) or fragment (#)")]
    QueryOrFragment,
    /// `…/api`: the client adds it.
    #[error("the DHIS-2 address must not end with /api")]
    EndsWithApi,
}

impl ConnectionError {
    pub fn text(&self, lang: Lang) -> String {
        let (fr, en) = match self {
            ConnectionError::Empty => (
                "L'adresse du serveur DHIS-2 est vide.",
                "The DHIS-2 server address is empty.",
            ),
            ConnectionError::Scheme => (
                "L'adresse du serveur DHIS-2 doit commencer par https:// (ou http:// sur un réseau local).",
                "The DHIS-2 server address must start with https:// (or http:// on a local network).",
            ),
            ConnectionError::Invalid => (
                "L'adresse du serveur DHIS-2 n'est pas une adresse web valide.",
                "The DHIS-2 server address is not a valid web address.",
            ),
            ConnectionError::Credentials => (
                "L'adresse du serveur DHIS-2 ne doit pas contenir d'identifiant ni de mot de passe : saisissez-les dans leurs champs.",
                "The DHIS-2 server address must not contain a user name or password: enter them in their own fields.",
            ),
            ConnectionError::QueryOrFragment => (
                "L'adresse du serveur DHIS-2 ne doit contenir ni « ? » ni « # ».",
                "The DHIS-2 server address must contain neither \"?\" nor \"#\".",
            ),
            ConnectionError::EndsWithApi => (
                "Donnez l'adresse du serveur DHIS-2 sans « /api » à la fin (par exemple https://dhis.exemple.org).",
                "Give the DHIS-2 server address without \"/api\" at the end (for example https://dhis.example.org).",
            ),
        };
        match lang {
            Lang::Fr => fr.to_string(),
            Lang::En => en.to_string(),
        }
    }
}

impl Connection {
    /// Checks and normalises `base_url` (surrounding spaces and trailing
    /// slashes dropped, host lowercased).
    pub fn new(base_url: &str, auth: Auth) -> Result<Connection, ConnectionError> {
        Ok(Connection {
            base_url: normalise_base(base_url)?,
            auth,
        })
    }
}

/// The base URL as used: http(s), a host, no credentials, query or
/// fragment, no trailing slash.
pub fn normalise_base(base_url: &str) -> Result<String, ConnectionError> {
    let trimmed = base_url.trim();
    if trimmed.is_empty() {
        return Err(ConnectionError::Empty);
    }
    let url = match reqwest::Url::parse(trimmed) {
        Ok(url) => url,
        // `dhis.example.org` alone has no scheme.
        Err(_) if !trimmed.contains("://") => return Err(ConnectionError::Scheme),
        Err(_) => return Err(ConnectionError::Invalid),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConnectionError::Scheme);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConnectionError::Invalid);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConnectionError::Credentials);
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConnectionError::QueryOrFragment);
    }
    let base = url.as_str().trim_end_matches('/').to_string();
    if base.to_ascii_lowercase().ends_with("/api") {
        return Err(ConnectionError::EndsWithApi);
    }
    Ok(base)
}

// ---------------------------------------------------------------------------
// Errors

/// The call that failed, as named in errors and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    SystemInfo,
    SystemId,
    Search,
    Import,
    Program,
    TrackedEntityType,
    Attribute,
    OrgUnit,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::SystemInfo => "GET /api/system/info",
            Endpoint::SystemId => "GET /api/system/id",
            Endpoint::Search => "GET /api/tracker/trackedEntities",
            Endpoint::Import => "POST /api/tracker",
            Endpoint::Program => "GET /api/programs/{id}",
            Endpoint::TrackedEntityType => "GET /api/trackedEntityTypes/{id}",
            Endpoint::Attribute => "GET /api/trackedEntityAttributes/{id}",
            Endpoint::OrgUnit => "GET /api/organisationUnits/{id}",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a DHIS-2 call failed. Holds no secret: messages from the server are
/// scrubbed of the token and password and cut to 300 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Dhis2Error {
    /// The connection's base URL is not usable (nothing was sent).
    #[error("{endpoint}: {error}")]
    Address {
        endpoint: Endpoint,
        error: ConnectionError,
    },
    /// Connection refused or reset, DNS, TLS, timeout.
    #[error("{endpoint}: could not reach the server: {detail}")]
    Network { endpoint: Endpoint, detail: String },
    /// 5xx, or 429 (too many requests): try again later.
    #[error("{endpoint}: server error (HTTP {status})")]
    Server { endpoint: Endpoint, status: u16 },
    /// 401: wrong, expired or revoked credentials.
    #[error("{endpoint}: credentials refused (HTTP 401)")]
    Unauthorized { endpoint: Endpoint },
    /// 403: the user lacks an authority or access.
    #[error("{endpoint}: access denied (HTTP 403): {message}")]
    Forbidden { endpoint: Endpoint, message: String },
    /// 404: unknown, or not readable by this user.
    #[error("{endpoint}: not found (HTTP 404)")]
    NotFound { endpoint: Endpoint },
    /// 400 with the server's message.
    #[error("{endpoint}: request refused (HTTP 400): {message}")]
    BadRequest { endpoint: Endpoint, message: String },
    /// 3xx: redirects are not followed (a POST would lose its body, and
    /// credentials must not travel elsewhere); `location` without its query.
    #[error("{endpoint}: redirected (HTTP {status}) to {}", location.as_deref().unwrap_or("an unnamed address"))]
    Redirected {
        endpoint: Endpoint,
        status: u16,
        location: Option<String>,
    },
    /// Any other status, or an answer that cannot be read.
    #[error("{endpoint}: unexpected answer (HTTP {status}): {detail}")]
    Unexpected {
        endpoint: Endpoint,
        status: u16,
        detail: String,
    },
}

impl Dhis2Error {
    pub fn endpoint(&self) -> Endpoint {
        match self {
            Dhis2Error::Address { endpoint, .. }
            | Dhis2Error::Network { endpoint, .. }
            | Dhis2Error::Server { endpoint, .. }
            | Dhis2Error::Unauthorized { endpoint }
            | Dhis2Error::Forbidden { endpoint, .. }
            | Dhis2Error::NotFound { endpoint }
            | Dhis2Error::BadRequest { endpoint, .. }
            | Dhis2Error::Redirected { endpoint, .. }
            | Dhis2Error::Unexpected { endpoint, .. } => *endpoint,
        }
    }

    /// Worth trying again as is, later: the network and server errors
    /// (C.4); everything else needs a change of data or settings.
    pub fn retryable(&self) -> bool {
        matches!(self, Dhis2Error::Network { .. } | Dhis2Error::Server { .. })
    }

    /// A short stable label (metrics, logs).
    pub fn code(&self) -> &'static str {
        match self {
            Dhis2Error::Address { .. } => "address",
            Dhis2Error::Network { .. } => "network",
            Dhis2Error::Server { status: 429, .. } => "http_429",
            Dhis2Error::Server { .. } => "http_5xx",
            Dhis2Error::Unauthorized { .. } => "unauthorized",
            Dhis2Error::Forbidden { .. } => "forbidden",
            Dhis2Error::NotFound { .. } => "not_found",
            Dhis2Error::BadRequest { .. } => "bad_request",
            Dhis2Error::Redirected { .. } => "redirect",
            Dhis2Error::Unexpected { .. } => "unexpected",
        }
    }

    /// The text shown to staff, French or English.
    pub fn text(&self, lang: Lang) -> String {
        let fr = lang == Lang::Fr;
        let endpoint = self.endpoint();
        match self {
            Dhis2Error::Address { error, .. } => error.text(lang),
            Dhis2Error::Network { detail, .. } => {
                if fr {
                    format!("Le serveur DHIS-2 est injoignable ({endpoint}) : {detail}")
                } else {
                    format!("The DHIS-2 server cannot be reached ({endpoint}): {detail}")
                }
            }
            Dhis2Error::Server { status: 429, .. } => {
                if fr {
                    format!(
                        "Le serveur DHIS-2 demande de ralentir (HTTP 429, {endpoint}) : nouvel essai plus tard."
                    )
                } else {
                    format!(
                        "The DHIS-2 server asks to slow down (HTTP 429, {endpoint}): trying again later."
                    )
                }
            }
            Dhis2Error::Server { status, .. } => {
                if fr {
                    format!(
                        "Le serveur DHIS-2 est en erreur (HTTP {status}, {endpoint}) : nouvel essai plus tard."
                    )
                } else {
                    format!(
                        "The DHIS-2 server is failing (HTTP {status}, {endpoint}): trying again later."
                    )
                }
            }
            Dhis2Error::Unauthorized { .. } => {
                if fr {
                    format!(
                        "DHIS-2 refuse les identifiants (HTTP 401, {endpoint}) : jeton d'accès expiré ou révoqué, ou mot de passe incorrect."
                    )
                } else {
                    format!(
                        "DHIS-2 rejects the credentials (HTTP 401, {endpoint}): expired or revoked access token, or wrong password."
                    )
                }
            }
            Dhis2Error::Forbidden { message, .. } => {
                if fr {
                    format!(
                        "DHIS-2 refuse l'accès à cet utilisateur (HTTP 403, {endpoint}) : {}",
                        or_none(message, fr)
                    )
                } else {
                    format!(
                        "DHIS-2 denies this user access (HTTP 403, {endpoint}): {}",
                        or_none(message, fr)
                    )
                }
            }
            Dhis2Error::NotFound { .. } => {
                if fr {
                    format!(
                        "DHIS-2 ne trouve pas l'objet demandé, ou cet utilisateur ne peut pas le lire (HTTP 404, {endpoint})."
                    )
                } else {
                    format!(
                        "DHIS-2 does not find the object, or this user cannot read it (HTTP 404, {endpoint})."
                    )
                }
            }
            Dhis2Error::BadRequest { message, .. } => {
                if fr {
                    format!(
                        "DHIS-2 refuse la requête (HTTP 400, {endpoint}) : {}",
                        or_none(message, fr)
                    )
                } else {
                    format!(
                        "DHIS-2 refuses the request (HTTP 400, {endpoint}): {}",
                        or_none(message, fr)
                    )
                }
            }
            Dhis2Error::Redirected {
                status, location, ..
            } => {
                let to = location.as_deref().unwrap_or("?");
                if fr {
                    format!(
                        "L'adresse du serveur DHIS-2 redirige (HTTP {status}) vers {to} : corrigez l'adresse (https:// ? chemin ?)."
                    )
                } else {
                    format!(
                        "The DHIS-2 server address redirects (HTTP {status}) to {to}: correct the address (https://? path?)."
                    )
                }
            }
            Dhis2Error::Unexpected { status, detail, .. } => {
                if fr {
                    format!(
                        "Réponse inattendue du serveur DHIS-2 (HTTP {status}, {endpoint}) : {detail}"
                    )
                } else {
                    format!(
                        "Unexpected answer from the DHIS-2 server (HTTP {status}, {endpoint}): {detail}"
                    )
                }
            }
        }
    }
}

fn or_none(message: &str, fr: bool) -> &str {
    match (message.is_empty(), fr) {
        (false, _) => message,
        (true, true) => "(sans message)",
        (true, false) => "(no message)",
    }
}

// ---------------------------------------------------------------------------
// Client

/// What `/api/system/info` says of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfo {
    pub version: Version,
    /// As the server gave it (`2.40.4.1`, `2.39-SNAPSHOT`).
    pub raw_version: String,
}

/// How an import is run: for real, or as a dry run that writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    Commit,
    /// `importMode=VALIDATE`, the spelling every version accepts (C.3).
    Validate,
}

/// A DHIS-2 client. Built once (it holds the connection pool) and cheap to
/// clone; the server and credentials are given per call.
#[derive(Debug, Clone)]
pub struct Dhis2Client {
    /// The HTTP client, or why it could not be built (every call then
    /// fails with that reason instead of panicking).
    http: Result<reqwest::Client, String>,
}

/// An answer as received: status, `Location` (redirects), body.
struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: Vec<u8>,
}

impl Dhis2Client {
    /// `timeout` bounds each call, from connecting to the last byte.
    pub fn new(timeout: Duration) -> Dhis2Client {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("uic-inbox/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client could not be built: {e}"));
        Dhis2Client { http }
    }

    /// The server's version (and a first check of address and credentials).
    pub async fn system_info(&self, conn: &Connection) -> Result<SystemInfo, Dhis2Error> {
        let endpoint = Endpoint::SystemInfo;
        let body = self.get_ok(conn, endpoint, "system/info", &[]).await?;
        let json = json_object(endpoint, &body)?;
        let raw = json
            .get("version")
            .and_then(Value::as_str)
            .map(|v| wire::short(v.trim()))
            .ok_or_else(|| unreadable(endpoint, "no version in the answer".into()))?;
        let version = Version::parse(&raw)
            .map_err(|_| unreadable(endpoint, format!("unreadable version {raw:?}")))?;
        Ok(SystemInfo {
            version,
            raw_version: raw,
        })
    }

    /// `n` new UIDs from the server, in calls of at most 10 000 (C.1).
    pub async fn generate_uids(&self, conn: &Connection, n: usize) -> Result<Vec<Uid>, Dhis2Error> {
        let endpoint = Endpoint::SystemId;
        let mut uids = Vec::with_capacity(n.min(UIDS_PER_CALL));
        while uids.len() < n {
            let want = (n - uids.len()).min(UIDS_PER_CALL);
            let body = self
                .get_ok(conn, endpoint, "system/id", &[("limit", want.to_string())])
                .await?;
            let json = json_object(endpoint, &body)?;
            let codes = json
                .get("codes")
                .and_then(Value::as_array)
                .ok_or_else(|| unreadable(endpoint, "no codes in the answer".into()))?;
            if codes.len() != want {
                return Err(unreadable(
                    endpoint,
                    format!("{} codes instead of {want}", codes.len()),
                ));
            }
            for code in codes {
                let uid = code
                    .as_str()
                    .and_then(|c| Uid::parse(c).ok())
                    .ok_or_else(|| unreadable(endpoint, "a code is not a valid UID".into()))?;
                uids.push(uid);
            }
        }
        Ok(uids)
    }

    /// Tracked entities of the query's program whose attribute has one of
    /// the values (C.5). No value, no call: nothing can match.
    pub async fn search_by_attribute(
        &self,
        conn: &Connection,
        version: Version,
        query: &SearchQuery,
    ) -> Result<Vec<wire::FoundEntity>, Dhis2Error> {
        if query.values.is_empty() {
            return Ok(Vec::new());
        }
        let endpoint = Endpoint::Search;
        let params = wire::search_params(version, query);
        let body = self
            .get_ok(conn, endpoint, "tracker/trackedEntities", &params)
            .await?;
        wire::parse_search(&body).map_err(|e| unreadable(endpoint, e.to_string()))
    }

    /// Imports synchronously (`async=false`) with `CREATE_AND_UPDATE`, so
    /// that a re-post of the same UIDs updates instead of duplicating
    /// (C.8), and `atomicMode=ALL`, so that nothing of the bundle is
    /// written when anything in it is invalid (the sync takes out the
    /// people the report names and imports the rest again: each person is
    /// written whole or not at all). HTTP 200 and 409 are both a report.
    pub async fn import(
        &self,
        conn: &Connection,
        bundle: &ImportBundle,
    ) -> Result<ImportReport, Dhis2Error> {
        self.import_with(conn, bundle, ImportMode::Commit).await
    }

    /// As [`import`](Self::import), with a choice of dry run.
    pub async fn import_with(
        &self,
        conn: &Connection,
        bundle: &ImportBundle,
        mode: ImportMode,
    ) -> Result<ImportReport, Dhis2Error> {
        let endpoint = Endpoint::Import;
        let mut params = vec![
            ("async", "false".to_string()),
            ("importStrategy", "CREATE_AND_UPDATE".to_string()),
            ("atomicMode", "ALL".to_string()),
            ("reportMode", "ERRORS".to_string()),
        ];
        if mode == ImportMode::Validate {
            params.push(("importMode", "VALIDATE".to_string()));
        }
        let url = with_query(api_url(conn, endpoint, "tracker")?, &params);
        let request = self.http(endpoint)?.post(url).json(bundle);
        let answer = self.send(conn, endpoint, request).await?;
        match answer.status.as_u16() {
            200 | 409 => ImportReport::parse(&answer.body).map_err(|e| Dhis2Error::Unexpected {
                endpoint,
                status: answer.status.as_u16(),
                detail: e.to_string(),
            }),
            _ => Err(status_error(endpoint, &answer, &conn.auth)),
        }
    }

    /// A program's registration, type, org units and attributes (C.2).
    pub async fn program(&self, conn: &Connection, id: &Uid) -> Result<ProgramInfo, Dhis2Error> {
        let endpoint = Endpoint::Program;
        let body = self
            .get_ok(
                conn,
                endpoint,
                &format!("programs/{id}"),
                &fields(PROGRAM_FIELDS),
            )
            .await?;
        ProgramInfo::parse(&body).map_err(|e| unreadable(endpoint, e.to_string()))
    }

    /// A tracked entity type's attributes and which are mandatory.
    pub async fn tracked_entity_type(
        &self,
        conn: &Connection,
        id: &Uid,
    ) -> Result<TrackedEntityTypeInfo, Dhis2Error> {
        let endpoint = Endpoint::TrackedEntityType;
        let path = format!("trackedEntityTypes/{id}");
        let body = self
            .get_ok(conn, endpoint, &path, &fields(TRACKED_ENTITY_TYPE_FIELDS))
            .await?;
        TrackedEntityTypeInfo::parse(&body).map_err(|e| unreadable(endpoint, e.to_string()))
    }

    /// An attribute's value type, uniqueness and generation (C.2).
    pub async fn attribute(
        &self,
        conn: &Connection,
        id: &Uid,
    ) -> Result<AttributeInfo, Dhis2Error> {
        let endpoint = Endpoint::Attribute;
        let path = format!("trackedEntityAttributes/{id}");
        let body = self
            .get_ok(conn, endpoint, &path, &fields(ATTRIBUTE_FIELDS))
            .await?;
        AttributeInfo::parse(&body).map_err(|e| unreadable(endpoint, e.to_string()))
    }

    /// An org unit's name.
    pub async fn org_unit(&self, conn: &Connection, id: &Uid) -> Result<OrgUnitInfo, Dhis2Error> {
        let endpoint = Endpoint::OrgUnit;
        let path = format!("organisationUnits/{id}");
        let body = self
            .get_ok(conn, endpoint, &path, &fields(ORG_UNIT_FIELDS))
            .await?;
        OrgUnitInfo::parse(&body).map_err(|e| unreadable(endpoint, e.to_string()))
    }

    fn http(&self, endpoint: Endpoint) -> Result<&reqwest::Client, Dhis2Error> {
        self.http.as_ref().map_err(|e| Dhis2Error::Network {
            endpoint,
            detail: e.clone(),
        })
    }

    /// `GET {base}/api/{path}?{params}`: the body of a 2xx, or the error.
    async fn get_ok(
        &self,
        conn: &Connection,
        endpoint: Endpoint,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Vec<u8>, Dhis2Error> {
        let url = with_query(api_url(conn, endpoint, path)?, params);
        let request = self.http(endpoint)?.get(url);
        let answer = self.send(conn, endpoint, request).await?;
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(status_error(endpoint, &answer, &conn.auth))
        }
    }

    /// Signs, sends and reads at most [`BODY_MAX`] bytes of the answer.
    async fn send(
        &self,
        conn: &Connection,
        endpoint: Endpoint,
        request: reqwest::RequestBuilder,
    ) -> Result<Answer, Dhis2Error> {
        let scrub = |text: String| scrub(text, &conn.auth);
        let request = match &conn.auth {
            Auth::Token(pat) => {
                // A token that cannot be a header (a pasted line break) is
                // refused as the server would refuse a wrong one.
                let mut value = HeaderValue::from_str(&format!("ApiToken {}", pat.expose_secret()))
                    .map_err(|_| Dhis2Error::Unauthorized { endpoint })?;
                // Kept out of any debug output of the request.
                value.set_sensitive(true);
                request.header(AUTHORIZATION, value)
            }
            Auth::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
        };
        let network = |e: reqwest::Error| Dhis2Error::Network {
            endpoint,
            detail: wire::short(&scrub(describe(&e.without_url()))),
        };
        let mut response = request.send().await.map_err(network)?;
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(|l| wire::short(&scrub(without_query(l))));
        if response
            .content_length()
            .is_some_and(|n| n > BODY_MAX as u64)
        {
            return Err(too_large(endpoint, status));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(network)? {
            if body.len() + chunk.len() > BODY_MAX {
                return Err(too_large(endpoint, status));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            location,
            body,
        })
    }
}

/// `{base}/api/{path}`; the base is checked again, as `Connection`'s
/// fields are public.
fn api_url(conn: &Connection, endpoint: Endpoint, path: &str) -> Result<String, Dhis2Error> {
    let base =
        normalise_base(&conn.base_url).map_err(|error| Dhis2Error::Address { endpoint, error })?;
    Ok(format!("{base}/api/{path}"))
}

/// `url?k=v&…`, form-encoded (`+` as `%2B`, C.5).
fn with_query(mut url: String, params: &[(&str, String)]) -> String {
    if !params.is_empty() {
        url.push('?');
        url.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish(),
        );
    }
    url
}

fn fields(list: &str) -> [(&'static str, String); 1] {
    [("fields", list.to_string())]
}

fn scrub(text: String, auth: &Auth) -> String {
    auth.secrets().iter().fold(text, |t, s| redact(t, s))
}

/// A URL without its query and fragment (they may hold anything).
fn without_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or_default().to_string()
}

fn too_large(endpoint: Endpoint, status: StatusCode) -> Dhis2Error {
    Dhis2Error::Unexpected {
        endpoint,
        status: status.as_u16(),
        detail: format!("answer larger than {} MiB", BODY_MAX / (1024 * 1024)),
    }
}

fn unreadable(endpoint: Endpoint, detail: String) -> Dhis2Error {
    Dhis2Error::Unexpected {
        endpoint,
        status: 200,
        detail,
    }
}

fn json_object(endpoint: Endpoint, body: &[u8]) -> Result<Value, Dhis2Error> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(unreadable(
            endpoint,
            "the answer is not a JSON object".into(),
        )),
    }
}

/// The error for a status that is not the call's success.
fn status_error(endpoint: Endpoint, answer: &Answer, auth: &Auth) -> Dhis2Error {
    // DHIS-2 errors are `{"httpStatus":…,"status":"ERROR","message":"…"}`.
    let message = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|j| j.get("message").and_then(Value::as_str).map(str::to_string))
        .map(|m| wire::short(&scrub(m, auth)))
        .unwrap_or_default();
    let status = answer.status.as_u16();
    match status {
        401 => Dhis2Error::Unauthorized { endpoint },
        403 => Dhis2Error::Forbidden { endpoint, message },
        404 => Dhis2Error::NotFound { endpoint },
        400 => Dhis2Error::BadRequest { endpoint, message },
        429 | 500..=599 => Dhis2Error::Server { endpoint, status },
        300..=399 => Dhis2Error::Redirected {
            endpoint,
            status,
            location: answer.location.clone(),
        },
        _ => Dhis2Error::Unexpected {
            endpoint,
            status,
            detail: if message.is_empty() {
                if answer.body.is_empty() {
                    "empty answer".into()
                } else {
                    "no message".into()
                }
            } else {
                message
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhis2::wire::{
        AttributeValue, Enrollment, EnrollmentStatus, ImportStatus, OuMode, TrackedEntity,
    };
    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, Uri, header};
    use axum::response::{IntoResponse, Response};
    use std::sync::{Arc, Mutex};

    const PAT_FOR_TESTS_TOKEN: &str = "d2pat_5xVA12xyUbWNedQxy4ohH77WlxRGVvZZ1151814092";
    const TEST_BASIC_PASSWORD: &str = "District-1-Secret-Words";

    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path: String,
        query: Vec<(String, String)>,
        authorization: Option<String>,
        body: Vec<u8>,
    }

    type Log = Arc<Mutex<Vec<Seen>>>;

    fn json_answer(status: u16, body: String) -> Response {
        (
            axum::http::StatusCode::from_u16(status).unwrap(),
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }

    /// A DHIS-2 stand-in mounted under `/dhis`, keyed on the path.
    async fn fake(
        State(log): State<Log>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let query: Vec<(String, String)> =
            form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        log.lock().unwrap().push(Seen {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: query.clone(),
            authorization: authorization.clone(),
            body: body.to_vec(),
        });
        let basic = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("sync-bot:{TEST_BASIC_PASSWORD}")
            )
        );
        let pat = format!("ApiToken {PAT_FOR_TESTS_TOKEN}");
        if authorization.as_deref() != Some(pat.as_str())
            && authorization.as_deref() != Some(basic.as_str())
        {
            return json_answer(
                401,
                r#"{"httpStatus":"Unauthorized","httpStatusCode":401,"status":"ERROR","message":"Unauthorized"}"#.into(),
            );
        }
        let Some(path) = uri.path().strip_prefix("/dhis/api/") else {
            return json_answer(404, "{}".into());
        };
        let error = |status: u16, message: &str| {
            json_answer(
                status,
                serde_json::json!({"httpStatus":"x","httpStatusCode":status,"status":"ERROR","message":message}).to_string(),
            )
        };
        match path {
            "system/info" => json_answer(
                200,
                r#"{"contextPath":"https://dhis.example.org","version":"2.40.4.1","revision":"a1b2c3"}"#.into(),
            ),
            "system/id" => {
                let limit: usize = query
                    .iter()
                    .find(|(k, _)| k == "limit")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(1);
                let codes: Vec<String> = (0..limit.min(10_000))
                    .map(|i| format!("Abcdefg{i:04}"))
                    .collect();
                json_answer(200, serde_json::json!({ "codes": codes }).to_string())
            }
            "tracker/trackedEntities" => json_answer(
                200,
                r#"{"instances":[{"trackedEntity":"Kj6vYde4LHh","orgUnit":"DiszpKrYNg8","attributes":[{"attribute":"ciuAttr0001","value":"MBEIBR7DA1"}],"enrollments":[]}],"page":1,"pageSize":50}"#.into(),
            ),
            "tracker" => {
                let payload: Value = serde_json::from_slice(&body).unwrap_or_default();
                if payload.pointer("/trackedEntities/0/attributes/0/value")
                    == Some(&Value::from("TAKEN00001"))
                {
                    json_answer(
                        409,
                        r#"{"status":"ERROR","validationReport":{"errorReports":[{"message":"Non-unique attribute value","errorCode":"E1064","trackerType":"TRACKED_ENTITY","uid":"Kj6vYde4LHh"}],"warningReports":[]},"stats":{"created":0,"updated":0,"deleted":0,"ignored":2,"total":2}}"#.into(),
                    )
                } else {
                    json_answer(
                        200,
                        r#"{"status":"OK","validationReport":{"errorReports":[],"warningReports":[]},"stats":{"created":2,"updated":0,"deleted":0,"ignored":0,"total":2}}"#.into(),
                    )
                }
            }
            "programs/Forbiddn001" => error(403, "Access denied for program"),
            "programs/BadRequst01" => error(400, &format!("Bad value {PAT_FOR_TESTS_TOKEN}")),
            "programs/Missing0001" => error(404, "Object not found"),
            "programs/Overload001" => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
            "programs/SlowDown001" => error(429, "Too many requests"),
            "programs/Conflict001" => error(409, "Conflict"),
            "programs/Teapot00001" => axum::http::StatusCode::IM_A_TEAPOT.into_response(),
            "programs/LoginPage01" => (
                axum::http::StatusCode::FOUND,
                [(
                    header::LOCATION,
                    "https://dhis.example.org/dhis-web-commons/security/login.action?next=x",
                )],
            )
                .into_response(),
            "programs/HtmlPage001" => "<html>maintenance</html>".into_response(),
            "programs/HugeAnswer1" => json_answer(200, " ".repeat(BODY_MAX + 1)),
            "programs/SlowAnswer1" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                json_answer(200, "{}".into())
            }
            "programs/IpHINAT79UW" => json_answer(
                200,
                r#"{"id":"IpHINAT79UW","programType":"WITH_REGISTRATION","trackedEntityType":{"id":"nEenWmSyUEp"},"organisationUnits":[{"id":"DiszpKrYNg8"}],"programTrackedEntityAttributes":[]}"#.into(),
            ),
            "trackedEntityTypes/nEenWmSyUEp" => json_answer(
                200,
                r#"{"id":"nEenWmSyUEp","trackedEntityTypeAttributes":[{"mandatory":true,"trackedEntityAttribute":{"id":"ciuAttr0001"}}]}"#.into(),
            ),
            "trackedEntityAttributes/ciuAttr0001" => json_answer(
                200,
                r#"{"id":"ciuAttr0001","valueType":"TEXT","unique":true,"orgunitScope":false,"generated":false}"#.into(),
            ),
            "organisationUnits/DiszpKrYNg8" => json_answer(
                200,
                r#"{"id":"DiszpKrYNg8","name":"Ngelehun CHC","displayName":"Ngelehun CHC"}"#.into(),
            ),
            _ => error(404, "Not found"),
        }
    }

    async fn spawn_fake(timeout: Duration) -> (Dhis2Client, Connection, Log) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Log::default();
        let app = Router::new().fallback(fake).with_state(log.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let conn = Connection::new(
            &format!("http://{addr}/dhis/"),
            Auth::Token(SecretString::from(PAT_FOR_TESTS_TOKEN)),
        )
        .unwrap();
        (Dhis2Client::new(timeout), conn, log)
    }

    fn last(log: &Log) -> Seen {
        log.lock().unwrap().last().cloned().unwrap()
    }

    fn uid(s: &str) -> Uid {
        Uid::parse(s).unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // ----- Connection -----

    #[test]
    fn base_urls_are_normalised_or_refused_precisely() {
        let auth = || Auth::Token(SecretString::from(PAT_FOR_TESTS_TOKEN));
        for (given, expected) in [
            ("https://dhis.example.org", "https://dhis.example.org"),
            ("https://dhis.example.org/", "https://dhis.example.org"),
            (" https://Example.org/dhis// ", "https://example.org/dhis"),
            ("http://10.0.0.5:8080/dhis", "http://10.0.0.5:8080/dhis"),
        ] {
            assert_eq!(
                Connection::new(given, auth()).unwrap().base_url,
                expected,
                "{given}"
            );
        }
        for (given, error) in [
            ("", ConnectionError::Empty),
            ("   ", ConnectionError::Empty),
            ("dhis.example.org", ConnectionError::Scheme),
            ("localhost:8080", ConnectionError::Scheme),
            ("ftp://dhis.example.org", ConnectionError::Scheme),
            ("file:///etc/passwd", ConnectionError::Scheme),
            ("https://", ConnectionError::Invalid),
            ("https://a b.org", ConnectionError::Invalid),
            (
                "https://admin:district@dhis.example.org",
                ConnectionError::Credentials,
            ),
            (
                "https://dhis.example.org/?x=1",
                ConnectionError::QueryOrFragment,
            ),
            (
                "https://dhis.example.org/#x",
                ConnectionError::QueryOrFragment,
            ),
            (
                "https://dhis.example.org/api/",
                ConnectionError::EndsWithApi,
            ),
            ("https://example.org/dhis/API", ConnectionError::EndsWithApi),
        ] {
            assert_eq!(
                Connection::new(given, auth()).unwrap_err(),
                error,
                "{given:?}"
            );
        }
        assert_eq!(
            ConnectionError::Scheme.text(Lang::Fr),
            "L'adresse du serveur DHIS-2 doit commencer par https:// (ou http:// sur un réseau local)."
        );
    }

    #[test]
    fn debug_output_hides_the_token_and_the_password() {
        let token = Connection::new(
            "https://dhis.example.org",
            Auth::Token(SecretString::from(PAT_FOR_TESTS_TOKEN)),
        )
        .unwrap();
        let basic = Connection::new(
            "https://dhis.example.org",
            Auth::Basic {
                username: "sync-bot".into(),
                password: SecretString::from(TEST_BASIC_PASSWORD),
            },
        )
        .unwrap();
        assert_eq!(format!("{:?}", token.auth), "Token([redacted])");
        assert_eq!(
            format!("{:?}", basic.auth),
            r#"Basic { username: "sync-bot", password: "[redacted]" }"#
        );
        let shown = format!(
            "{token:?} {basic:?} {:#?}",
            Dhis2Client::new(Duration::from_secs(1))
        );
        assert!(!shown.contains(PAT_FOR_TESTS_TOKEN) && !shown.contains(TEST_BASIC_PASSWORD));
        assert!(shown.contains("https://dhis.example.org"));
    }

    // ----- Calls -----

    #[tokio::test]
    async fn system_info_reads_the_version_with_token_or_basic_auth() {
        let (client, conn, log) = spawn_fake(Duration::from_secs(5)).await;
        let info = client.system_info(&conn).await.unwrap();
        assert_eq!(
            info,
            SystemInfo {
                version: Version::new(2, 40, 4),
                raw_version: "2.40.4.1".into()
            }
        );
        let seen = last(&log);
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            ("GET", "/dhis/api/system/info")
        );
        assert_eq!(
            seen.authorization,
            Some(format!("ApiToken {PAT_FOR_TESTS_TOKEN}"))
        );

        let basic = Connection {
            auth: Auth::Basic {
                username: "sync-bot".into(),
                password: SecretString::from(TEST_BASIC_PASSWORD),
            },
            ..conn.clone()
        };
        assert_eq!(
            client.system_info(&basic).await.unwrap().version,
            Version::new(2, 40, 4)
        );
        assert!(last(&log).authorization.unwrap().starts_with("Basic "));

        let wrong = Connection {
            auth: Auth::Token(SecretString::from("d2pat_wrongwrongwrongwrong0000000000")),
            ..conn
        };
        let err = client.system_info(&wrong).await.unwrap_err();
        assert_eq!(
            err,
            Dhis2Error::Unauthorized {
                endpoint: Endpoint::SystemInfo
            }
        );
        assert_eq!((err.code(), err.retryable()), ("unauthorized", false));
    }

    #[tokio::test]
    async fn uids_come_in_calls_of_at_most_ten_thousand() {
        let (client, conn, log) = spawn_fake(Duration::from_secs(5)).await;
        assert!(client.generate_uids(&conn, 0).await.unwrap().is_empty());
        assert_eq!(log.lock().unwrap().len(), 0, "no call for no UID");
        let two = client.generate_uids(&conn, 2).await.unwrap();
        assert_eq!(two, vec![uid("Abcdefg0000"), uid("Abcdefg0001")]);
        assert_eq!(last(&log).query, pairs(&[("limit", "2")]));
        let many = client.generate_uids(&conn, 10_003).await.unwrap();
        assert_eq!(many.len(), 10_003);
        let limits: Vec<_> = log
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.query[0].1.clone())
            .collect();
        assert_eq!(limits, ["2", "10000", "3"]);
    }

    #[tokio::test]
    async fn a_search_sends_the_old_parameter_names_and_reads_the_answer() {
        let (client, conn, log) = spawn_fake(Duration::from_secs(5)).await;
        let query = SearchQuery {
            scope: wire::SearchScope::Program(uid("IpHINAT79UW")),
            org_units: vec![uid("DiszpKrYNg8")],
            ou_mode: OuMode::Descendants,
            attribute: uid("ciuAttr0001"),
            values: vec!["MBEIBR7DA1".into(), "A+B:C".into()],
        };
        let found = client
            .search_by_attribute(&conn, Version::new(2, 40, 0), &query)
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].tracked_entity, "Kj6vYde4LHh");
        let seen = last(&log);
        assert_eq!(seen.path, "/dhis/api/tracker/trackedEntities");
        // The `+` arrives as a `+`: it was percent-encoded on the way.
        assert_eq!(
            seen.query,
            pairs(&[
                ("program", "IpHINAT79UW"),
                ("orgUnit", "DiszpKrYNg8"),
                ("ouMode", "DESCENDANTS"),
                ("skipPaging", "true"),
                ("filter", "ciuAttr0001:IN:MBEIBR7DA1;A+B/:C"),
                ("fields", wire::SEARCH_FIELDS),
            ])
        );
        let calls = log.lock().unwrap().len();
        let none = SearchQuery {
            values: vec![],
            ..query
        };
        assert_eq!(
            client
                .search_by_attribute(&conn, Version::new(2, 41, 0), &none)
                .await
                .unwrap(),
            vec![]
        );
        assert_eq!(log.lock().unwrap().len(), calls);
    }

    fn bundle(uic: &str) -> ImportBundle {
        let at = time::macros::datetime!(2026-11-23 10:15:00 UTC);
        ImportBundle {
            tracked_entities: vec![TrackedEntity {
                tracked_entity: uid("Kj6vYde4LHh"),
                tracked_entity_type: uid("nEenWmSyUEp"),
                org_unit: uid("DiszpKrYNg8"),
                attributes: vec![AttributeValue {
                    attribute: uid("ciuAttr0001"),
                    value: uic.into(),
                }],
                enrollments: vec![Enrollment {
                    enrollment: uid("MNWZ6hnuhSw"),
                    tracked_entity: None,
                    program: uid("IpHINAT79UW"),
                    org_unit: uid("DiszpKrYNg8"),
                    status: EnrollmentStatus::Active,
                    enrolled_at: at,
                    occurred_at: None,
                    attributes: vec![],
                }],
            }],
            enrollments: vec![],
        }
    }

    #[tokio::test]
    async fn an_import_posts_synchronously_and_reads_200_and_409_reports() {
        let (client, conn, log) = spawn_fake(Duration::from_secs(5)).await;
        let report = client.import(&conn, &bundle("MBEIBR7DA1")).await.unwrap();
        assert_eq!(report.status, ImportStatus::Ok);
        assert_eq!(report.stats.created, 2);
        let seen = last(&log);
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            ("POST", "/dhis/api/tracker")
        );
        assert_eq!(
            seen.query,
            pairs(&[
                ("async", "false"),
                ("importStrategy", "CREATE_AND_UPDATE"),
                ("atomicMode", "ALL"),
                ("reportMode", "ERRORS"),
            ])
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&seen.body).unwrap(),
            serde_json::to_value(bundle("MBEIBR7DA1")).unwrap()
        );

        let report = client.import(&conn, &bundle("TAKEN00001")).await.unwrap();
        assert_eq!(report.status, ImportStatus::Error);
        assert_eq!(
            report
                .errors_for("Kj6vYde4LHh")
                .map(|e| e.code.as_str())
                .collect::<Vec<_>>(),
            ["E1064"]
        );

        client
            .import_with(&conn, &bundle("MBEIBR7DA1"), ImportMode::Validate)
            .await
            .unwrap();
        assert_eq!(
            last(&log).query.last(),
            Some(&("importMode".to_string(), "VALIDATE".to_string()))
        );
    }

    #[tokio::test]
    async fn metadata_calls_ask_for_their_fields() {
        let (client, conn, log) = spawn_fake(Duration::from_secs(5)).await;
        let program = client.program(&conn, &uid("IpHINAT79UW")).await.unwrap();
        assert_eq!(program.org_units, ["DiszpKrYNg8"]);
        let seen = last(&log);
        assert_eq!(seen.path, "/dhis/api/programs/IpHINAT79UW");
        assert_eq!(seen.query, pairs(&[("fields", PROGRAM_FIELDS)]));
        let tet = client
            .tracked_entity_type(&conn, &uid("nEenWmSyUEp"))
            .await
            .unwrap();
        assert_eq!(tet.attributes, [("ciuAttr0001".to_string(), true)]);
        assert_eq!(
            last(&log).query,
            pairs(&[("fields", TRACKED_ENTITY_TYPE_FIELDS)])
        );
        let attribute = client.attribute(&conn, &uid("ciuAttr0001")).await.unwrap();
        assert!(attribute.unique);
        assert_eq!(
            last(&log).path,
            "/dhis/api/trackedEntityAttributes/ciuAttr0001"
        );
        let unit = client.org_unit(&conn, &uid("DiszpKrYNg8")).await.unwrap();
        assert_eq!(unit.name, "Ngelehun CHC");
        assert_eq!(last(&log).query, pairs(&[("fields", ORG_UNIT_FIELDS)]));
    }

    #[tokio::test]
    async fn statuses_map_to_their_errors() {
        let (client, conn, _log) = spawn_fake(Duration::from_secs(5)).await;
        let endpoint = Endpoint::Program;
        let cases = [
            (
                "Forbiddn001",
                Dhis2Error::Forbidden {
                    endpoint,
                    message: "Access denied for program".into(),
                },
                "forbidden",
                false,
            ),
            (
                "BadRequst01",
                Dhis2Error::BadRequest {
                    endpoint,
                    message: "Bad value [redacted]".into(),
                },
                "bad_request",
                false,
            ),
            (
                "Missing0001",
                Dhis2Error::NotFound { endpoint },
                "not_found",
                false,
            ),
            (
                "Overload001",
                Dhis2Error::Server {
                    endpoint,
                    status: 503,
                },
                "http_5xx",
                true,
            ),
            (
                "SlowDown001",
                Dhis2Error::Server {
                    endpoint,
                    status: 429,
                },
                "http_429",
                true,
            ),
            (
                "Conflict001",
                Dhis2Error::Unexpected {
                    endpoint,
                    status: 409,
                    detail: "Conflict".into(),
                },
                "unexpected",
                false,
            ),
            (
                "Teapot00001",
                Dhis2Error::Unexpected {
                    endpoint,
                    status: 418,
                    detail: "empty answer".into(),
                },
                "unexpected",
                false,
            ),
            (
                "LoginPage01",
                Dhis2Error::Redirected {
                    endpoint,
                    status: 302,
                    location: Some(
                        "https://dhis.example.org/dhis-web-commons/security/login.action".into(),
                    ),
                },
                "redirect",
                false,
            ),
            (
                "HtmlPage001",
                Dhis2Error::Unexpected {
                    endpoint,
                    status: 200,
                    detail: "the answer is not a JSON object".into(),
                },
                "unexpected",
                false,
            ),
            (
                "HugeAnswer1",
                Dhis2Error::Unexpected {
                    endpoint,
                    status: 200,
                    detail: "answer larger than 4 MiB".into(),
                },
                "unexpected",
                false,
            ),
        ];
        for (id, expected, code, retryable) in cases {
            let err = client.program(&conn, &uid(id)).await.unwrap_err();
            assert_eq!(err, expected, "{id}");
            assert_eq!((err.code(), err.retryable()), (code, retryable), "{id}");
            for shown in [err.to_string(), format!("{err:?}"), err.text(Lang::Fr)] {
                assert!(!shown.contains(PAT_FOR_TESTS_TOKEN), "{shown}");
            }
        }
        assert_eq!(
            Dhis2Error::Forbidden {
                endpoint,
                message: "Access denied for program".into()
            }
            .text(Lang::Fr),
            "DHIS-2 refuse l'accès à cet utilisateur (HTTP 403, GET /api/programs/{id}) : Access denied for program"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_or_a_timeout_is_a_retryable_network_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let conn = Connection::new(
            &format!("http://{addr}"),
            Auth::Token(SecretString::from(PAT_FOR_TESTS_TOKEN)),
        )
        .unwrap();
        let client = Dhis2Client::new(Duration::from_secs(5));
        let err = client.system_info(&conn).await.unwrap_err();
        let Dhis2Error::Network { endpoint, detail } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*endpoint, Endpoint::SystemInfo);
        assert!(detail.to_lowercase().contains("refused"), "{detail}");
        assert_eq!((err.code(), err.retryable()), ("network", true));

        let (client, conn, _log) = spawn_fake(Duration::from_millis(300)).await;
        let err = client
            .program(&conn, &uid("SlowAnswer1"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Dhis2Error::Network { detail, .. } if detail.starts_with("timed out")),
            "{err:?}"
        );
        assert!(err.retryable());
    }

    #[tokio::test]
    async fn a_connection_with_a_bad_address_sends_nothing() {
        let (client, conn, log) = spawn_fake(Duration::from_secs(5)).await;
        let bad = Connection {
            base_url: "file:///etc".into(),
            ..conn
        };
        let err = client.system_info(&bad).await.unwrap_err();
        assert_eq!(
            err,
            Dhis2Error::Address {
                endpoint: Endpoint::SystemInfo,
                error: ConnectionError::Scheme
            }
        );
        assert_eq!(err.code(), "address");
        assert_eq!(log.lock().unwrap().len(), 0);
    }
}
