//! Credential checks against the Graph API (reference A.10): what an access
//! token is ([`inspect_token`], `debug_token`), whether it can use a number
//! and how that number is doing ([`check_number`]), both at once with the
//! precise [`Problem`]s found ([`validate`]), and the exchange of a
//! short-lived token for a long-lived one ([`exchange`]).
//!
//! The parsing and the verdict are pure functions (they take `now`); the
//! calls go through [`GraphClient`] (its timeouts and base URL). Secrets are
//! arguments, never read from storage, and never appear in an error: the
//! queries of `debug_token` and of the exchange carry them, so errors name
//! the endpoint, not the URL.

use super::client::PHONE_NUMBER_FIELDS as NUMBER_FIELDS;
use super::{GraphClient, SendError};
use crate::auth::Lang;
use serde_json::Value;
use std::fmt;
use time::OffsetDateTime;

/// The scope a token needs to send messages.
pub const MESSAGING_SCOPE: &str = "whatsapp_business_messaging";

/// A token that expires at most this long after it was issued is a
/// temporary (dashboard) token: they last about 24 hours.
const TEMPORARY_MAX_SECS: i64 = 25 * 3600;

/// The longest Meta message kept in a [`Problem`] (characters).
const MESSAGE_MAX: usize = 300;

/// The longest token accepted before any call (real ones are a few hundred
/// characters).
const TOKEN_MAX: usize = 2048;

/// Asked of a number besides the reference's list: the messaging limit
/// (`messaging_limit_tier` is deprecated, A.10).
const LIMIT_FIELD: &str = "whatsapp_business_manager_messaging_limit";

/// The app a token must belong to: the pair that signs webhooks and makes
/// the app token of `debug_token` (`{app-id}|{app-secret}`).
#[derive(Clone, Copy)]
pub struct AppCredentials<'a> {
    pub app_id: &'a str,
    pub app_secret: &'a str,
}

impl fmt::Debug for AppCredentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials")
            .field("app_id", &self.app_id)
            .field("app_secret", &"[redacted]")
            .finish()
    }
}

/// The Graph endpoint a check called, named in its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    DebugToken,
    PhoneNumber,
    TokenExchange,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Endpoint::DebugToken => "GET /debug_token",
            Endpoint::PhoneNumber => "GET /{phone-number-id}",
            Endpoint::TokenExchange => "GET /oauth/access_token",
        })
    }
}

/// Why one check call failed: the endpoint and the Graph error (already
/// free of secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{endpoint}: {error}")]
pub struct CheckError {
    pub endpoint: Endpoint,
    pub error: SendError,
}

impl CheckError {
    fn new(endpoint: Endpoint, error: SendError) -> CheckError {
        CheckError { endpoint, error }
    }

    /// Meta did not answer usefully (network, timeout, 5xx, rate limit, an
    /// unreadable answer): try again later.
    pub fn provider_down(&self) -> bool {
        self.error.class().retryable()
            || matches!(
                self.error,
                SendError::BadResponse(_) | SendError::Http { .. }
            )
    }
}

/// How long a token lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Expires within about a day of issue (copied from the app dashboard).
    Temporary,
    /// Expires later (an exchanged user token, a 60-day system user token).
    LongLived,
    /// `expires_at: 0`: a system user token without expiry.
    NeverExpires,
}

/// A scope restricted to some objects (`target_ids`: WABA ids). `None`
/// means not restricted, as in Meta's own system-user sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GranularScope {
    pub scope: String,
    pub target_ids: Option<Vec<String>>,
}

/// The error `debug_token` reports inside `data` for an invalid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    pub code: i64,
    pub message: String,
}

/// What `debug_token` says of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenReport {
    pub is_valid: bool,
    /// Why it is invalid, when Meta says.
    pub error: Option<TokenError>,
    /// `None` when Meta gave no `expires_at` (an unknown token).
    pub kind: Option<TokenKind>,
    /// Meta's `type` as given (`SYSTEM_USER`, `USER`…): display only.
    pub type_name: Option<String>,
    /// `None` for a token that never expires (or no `expires_at` at all).
    pub expires_at: Option<OffsetDateTime>,
    pub issued_at: Option<OffsetDateTime>,
    pub scopes: Vec<String>,
    /// Whether `whatsapp_business_messaging` is among the scopes.
    pub can_message: bool,
    /// The app the token belongs to.
    pub app_id: Option<String>,
    pub granular_scopes: Vec<GranularScope>,
}

impl TokenReport {
    /// How long the token has left (`None` if it never expires or Meta
    /// gave no date; zero once expired): the health strip's countdown.
    pub fn remaining(&self, now: OffsetDateTime) -> Option<time::Duration> {
        self.expires_at
            .map(|at| (at - now).max(time::Duration::ZERO))
    }

    /// The WABA ids the messaging scope is restricted to; `None` when not
    /// restricted (the usual case for system user tokens).
    pub fn messaging_targets(&self) -> Option<&[String]> {
        self.granular_scopes
            .iter()
            .find(|g| g.scope == MESSAGING_SCOPE)
            .and_then(|g| g.target_ids.as_deref())
    }
}

/// The quality rating of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QualityRating {
    Green,
    Yellow,
    Red,
    /// `UNKNOWN`, or a value this version does not know.
    Unknown,
}

impl QualityRating {
    fn parse(s: &str) -> QualityRating {
        match s.trim().to_ascii_uppercase().as_str() {
            "GREEN" => QualityRating::Green,
            "YELLOW" => QualityRating::Yellow,
            "RED" => QualityRating::Red,
            _ => QualityRating::Unknown,
        }
    }
}

/// How many people the business may start conversations with per 24 hours
/// (per business portfolio).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessagingLimit {
    /// `TIER_250`, `TIER_2K`… as a number of people.
    People(u32),
    Unlimited,
    /// A tier this version does not know, as given (display only).
    Other(String),
}

impl MessagingLimit {
    fn parse(s: &str) -> MessagingLimit {
        let tier = s.trim().to_ascii_uppercase();
        let tier = tier.strip_prefix("TIER_").unwrap_or(&tier);
        if tier == "UNLIMITED" {
            return MessagingLimit::Unlimited;
        }
        let (digits, factor) = match tier.strip_suffix('K') {
            Some(d) => (d, 1000),
            None => (tier, 1),
        };
        match digits
            .parse::<u32>()
            .ok()
            .and_then(|n| n.checked_mul(factor))
        {
            Some(n) if !digits.is_empty() => MessagingLimit::People(n),
            _ => MessagingLimit::Other(s.trim().chars().take(40).collect()),
        }
    }
}

/// What `GET /{phone-number-id}` says of a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberReport {
    pub id: String,
    /// Formatted (`+243 81 000 0000`), unlike in webhooks.
    pub display_phone_number: Option<String>,
    pub verified_name: Option<String>,
    pub quality_rating: QualityRating,
    /// `None` when Meta did not give it (older API versions).
    pub messaging_limit: Option<MessagingLimit>,
    /// The next three as Meta spells them, for display only.
    pub code_verification_status: Option<String>,
    pub platform_type: Option<String>,
    pub throughput: Option<String>,
}

/// A long-lived token from [`exchange`]. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Exchanged {
    pub token: crate::config::Secret,
    /// `None` when Meta gave no `expires_in`.
    pub expires_at: Option<OffsetDateTime>,
}

impl fmt::Debug for Exchanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchanged")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// An input refused before any call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Token,
    PhoneNumberId,
    AppId,
    AppSecret,
}

/// One precise thing wrong with a token, an app or a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Empty, too long, or with spaces or control characters; or an id
    /// that is not digits. Nothing was sent.
    Malformed(Field),
    Expired {
        at: OffsetDateTime,
    },
    /// Meta says the token is not valid (revoked, password changed…).
    Invalid {
        code: i64,
        message: String,
    },
    MissingScope(String),
    /// The token belongs to another app (`None`: Meta would not say which).
    OtherApp {
        app_id: Option<String>,
    },
    /// The token is valid but cannot use this number (A.10: code 100 or
    /// 200-range).
    NumberNotReachable {
        code: i64,
    },
    /// The token's messaging scope is limited to WABAs other than this one.
    NotInBusinessAccount {
        waba_id: String,
    },
    /// `debug_token` refused the app id and secret while the token works.
    AppRejected {
        code: i64,
        message: String,
    },
    /// Any other refusal, as Meta worded it.
    Refused {
        code: i64,
        message: String,
    },
    /// Meta could not be reached or did not answer properly.
    ProviderDown,
}

/// `2026-12-01 10:00 UTC`.
fn format_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    at.format(time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

impl Problem {
    /// The text shown to staff, French or English.
    pub fn text(&self, lang: Lang) -> String {
        let fr = lang == Lang::Fr;
        let pick = |f: &str, e: &str| if fr { f.to_string() } else { e.to_string() };
        match self {
            Problem::Malformed(field) => match field {
                Field::Token => pick(
                    "Le jeton collé n'en est pas un (vide, trop long, ou avec des espaces ou des caractères invisibles) : copiez-le à nouveau.",
                    "The pasted token is not one (empty, too long, or with spaces or invisible characters): copy it again.",
                ),
                Field::PhoneNumberId => pick(
                    "L'identifiant du numéro (phone number ID) doit être fait de chiffres seulement.",
                    "The phone number ID must be digits only.",
                ),
                Field::AppId => pick(
                    "L'identifiant de l'application Meta (app ID) doit être fait de chiffres seulement.",
                    "The Meta app ID must be digits only.",
                ),
                Field::AppSecret => pick(
                    "La clé secrète de l'application Meta (app secret) est vide ou contient des espaces ou des caractères invisibles.",
                    "The Meta app secret is empty or contains spaces or invisible characters.",
                ),
            },
            Problem::Expired { at } => {
                let at = format_time(*at);
                if fr {
                    format!(
                        "Ce jeton a expiré le {at} : créez-en un nouveau (un jeton d'utilisateur système n'expire pas)."
                    )
                } else {
                    format!(
                        "This token expired on {at}: create a new one (a system user token does not expire)."
                    )
                }
            }
            Problem::Invalid { code, message } => {
                if fr {
                    format!("Meta refuse ce jeton (code {code}) : {message}")
                } else {
                    format!("Meta rejects this token (code {code}): {message}")
                }
            }
            Problem::MissingScope(scope) => {
                if fr {
                    format!(
                        "Ce jeton n'a pas la permission « {scope} » : régénérez-le en la cochant."
                    )
                } else {
                    format!(
                        "This token lacks the \"{scope}\" permission: generate it again with that permission ticked."
                    )
                }
            }
            Problem::OtherApp { app_id: Some(id) } => {
                if fr {
                    format!(
                        "Ce jeton appartient à une autre application Meta (app ID {id}) que celle de ce numéro."
                    )
                } else {
                    format!(
                        "This token belongs to another Meta app (app ID {id}) than this number's."
                    )
                }
            }
            Problem::OtherApp { app_id: None } => pick(
                "Ce jeton appartient à une autre application Meta que celle de ce numéro.",
                "This token belongs to another Meta app than this number's.",
            ),
            Problem::NumberNotReachable { code } => {
                if fr {
                    format!(
                        "Ce jeton ne donne pas accès à ce numéro (code {code}) : vérifiez l'identifiant du numéro et que l'utilisateur système a reçu ce compte WhatsApp."
                    )
                } else {
                    format!(
                        "This token cannot use this number (code {code}): check the phone number ID and that the system user was given this WhatsApp account."
                    )
                }
            }
            Problem::NotInBusinessAccount { waba_id } => {
                if fr {
                    format!(
                        "Ce jeton est limité à d'autres comptes WhatsApp Business : le compte {waba_id} de ce numéro n'en fait pas partie."
                    )
                } else {
                    format!(
                        "This token is limited to other WhatsApp Business accounts: this number's account {waba_id} is not one of them."
                    )
                }
            }
            Problem::AppRejected { code, message } => {
                if fr {
                    format!(
                        "Meta refuse l'identifiant ou la clé secrète de l'application (code {code}) : {message}"
                    )
                } else {
                    format!("Meta rejects the app ID or app secret (code {code}): {message}")
                }
            }
            Problem::Refused { code, message } => {
                if fr {
                    format!("Meta a refusé la vérification (code {code}) : {message}")
                } else {
                    format!("Meta refused the check (code {code}): {message}")
                }
            }
            Problem::ProviderDown => pick(
                "Meta ne répond pas correctement pour le moment : rien n'a été changé, réessayez dans quelques minutes.",
                "Meta is not answering properly right now: nothing was changed, try again in a few minutes.",
            ),
        }
    }
}

/// Both checks and their verdict: ready when `problems` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub token: Option<TokenReport>,
    pub number: Option<NumberReport>,
    pub problems: Vec<Problem>,
}

impl Validation {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

// ---------------------------------------------------------------------------
// Shapes checked before any call

/// A token as pasted: 1..=2048 visible ASCII characters without spaces.
pub fn token_shape_ok(token: &str) -> bool {
    !token.is_empty() && token.len() <= TOKEN_MAX && token.bytes().all(|b| b.is_ascii_graphic())
}

/// A Graph id (number, app): 1..=32 ASCII digits.
pub fn id_shape_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit())
}

fn app_problems(app: &AppCredentials<'_>) -> Vec<Problem> {
    let mut out = Vec::new();
    if !id_shape_ok(app.app_id) {
        out.push(Problem::Malformed(Field::AppId));
    }
    if !token_shape_ok(app.app_secret) {
        out.push(Problem::Malformed(Field::AppSecret));
    }
    out
}

// ---------------------------------------------------------------------------
// Parsing (pure)

/// A string or a number as a string (Graph ids come as either).
fn id_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Unix seconds given as a number or a string.
fn unix_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn time_of(secs: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).ok()
}

/// A message from Meta as shown to staff: control characters dropped, at
/// most `MESSAGE_MAX` characters.
fn short(message: &str) -> String {
    let clean: String = message.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= MESSAGE_MAX {
        clean
    } else {
        let mut cut: String = clean.chars().take(MESSAGE_MAX).collect();
        cut.push('…');
        cut
    }
}

fn str_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

/// Reads a `debug_token` answer (`{"data": {...}}`). Unknown fields are
/// ignored and optional ones may be missing; `now` dates a token that has
/// no `issued_at` (short-lived tokens have none).
pub fn parse_token_report(body: &Value, now: OffsetDateTime) -> Result<TokenReport, String> {
    let data = body
        .get("data")
        .filter(|d| d.is_object())
        .ok_or("no data object in the debug_token answer")?;
    let expires = unix_of(data.get("expires_at"));
    let issued = unix_of(data.get("issued_at")).filter(|s| *s > 0);
    let kind = expires.map(|e| {
        if e == 0 {
            TokenKind::NeverExpires
        } else if e - issued.unwrap_or_else(|| now.unix_timestamp()) <= TEMPORARY_MAX_SECS {
            TokenKind::Temporary
        } else {
            TokenKind::LongLived
        }
    });
    let scopes: Vec<String> = data
        .get("scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    let granular_scopes = data
        .get("granular_scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|g| {
            Some(GranularScope {
                scope: g.get("scope")?.as_str()?.to_string(),
                target_ids: g
                    .get("target_ids")
                    .and_then(Value::as_array)
                    .map(|ids| ids.iter().filter_map(|id| id_of(Some(id))).collect()),
            })
        })
        .collect();
    let error = data
        .get("error")
        .filter(|e| e.is_object())
        .map(|e| TokenError {
            code: unix_of(e.get("code")).unwrap_or(190),
            message: str_of(e.get("message")).unwrap_or_default(),
        });
    Ok(TokenReport {
        is_valid: data.get("is_valid").and_then(Value::as_bool) == Some(true),
        error,
        kind,
        type_name: str_of(data.get("type")),
        expires_at: expires.filter(|e| *e != 0).and_then(time_of),
        issued_at: issued.and_then(time_of),
        can_message: scopes.iter().any(|s| s == MESSAGING_SCOPE),
        scopes,
        app_id: id_of(data.get("app_id")),
        granular_scopes,
    })
}

/// Reads a `GET /{phone-number-id}` answer.
pub fn parse_number_report(body: &Value, phone_number_id: &str) -> NumberReport {
    let limit = match body.get(LIMIT_FIELD) {
        Some(Value::String(s)) => Some(MessagingLimit::parse(s)),
        // Some versions may wrap it in an object: take its first string.
        Some(Value::Object(o)) => o
            .values()
            .find_map(Value::as_str)
            .map(MessagingLimit::parse),
        _ => None,
    };
    NumberReport {
        id: id_of(body.get("id")).unwrap_or_else(|| phone_number_id.to_string()),
        display_phone_number: str_of(body.get("display_phone_number")),
        verified_name: str_of(body.get("verified_name")),
        quality_rating: body
            .get("quality_rating")
            .and_then(Value::as_str)
            .map_or(QualityRating::Unknown, QualityRating::parse),
        messaging_limit: limit,
        code_verification_status: str_of(body.get("code_verification_status")),
        platform_type: str_of(body.get("platform_type")),
        throughput: body
            .get("throughput")
            .and_then(|t| t.get("level").or(Some(t)))
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

/// Reads an exchange answer (`access_token`, `expires_in` seconds).
pub fn parse_exchange(body: &Value, now: OffsetDateTime) -> Result<Exchanged, String> {
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| token_shape_ok(t))
        .ok_or("no usable access_token in the exchange answer")?;
    let expires_at = unix_of(body.get("expires_in"))
        .filter(|s| *s > 0)
        .and_then(|s| now.checked_add(time::Duration::seconds(s)));
    Ok(Exchanged {
        token: crate::config::Secret::new(token),
        expires_at,
    })
}

// ---------------------------------------------------------------------------
// The verdict (pure)

/// The problems found by the two calls. `waba_id` is the account's WABA,
/// when known; a token restricted to other WABAs is then a problem, an
/// unrestricted one never is.
pub fn problems(
    token: &Result<TokenReport, CheckError>,
    number: &Result<NumberReport, CheckError>,
    app_id: &str,
    waba_id: Option<&str>,
    now: OffsetDateTime,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut push = |p: Problem| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    let number_says_token_bad = matches!(number, Err(e) if e.error.code() == Some(190));
    let mut token_reported = false;
    match token {
        Ok(report) => {
            if let Some(at) = report.expires_at.filter(|at| *at <= now) {
                push(Problem::Expired { at });
                token_reported = true;
            } else if !report.is_valid {
                let message = report
                    .error
                    .as_ref()
                    .map(|e| e.message.clone())
                    .unwrap_or_default();
                // Unconfirmed wording: Meta's answer when the app token and
                // the inspected token belong to different apps.
                if message.contains("did not match the Viewing App") {
                    push(Problem::OtherApp { app_id: None });
                } else {
                    push(Problem::Invalid {
                        code: report.error.as_ref().map_or(190, |e| e.code),
                        message: short(&message),
                    });
                }
                token_reported = true;
            } else {
                if let Some(other) = report.app_id.as_deref().filter(|id| *id != app_id) {
                    push(Problem::OtherApp {
                        app_id: Some(other.to_string()),
                    });
                }
                if !report.can_message {
                    push(Problem::MissingScope(MESSAGING_SCOPE.to_string()));
                }
                if let (Some(waba), Some(targets)) = (
                    waba_id.filter(|w| !w.trim().is_empty()),
                    report.messaging_targets(),
                ) && !targets.iter().any(|t| t == waba)
                {
                    push(Problem::NotInBusinessAccount {
                        waba_id: waba.to_string(),
                    });
                }
            }
        }
        Err(e) if e.provider_down() => push(Problem::ProviderDown),
        // debug_token refuses the call itself: the app credentials, unless
        // the number call shows that the token is the bad one.
        Err(CheckError {
            error: SendError::Graph { code, message, .. },
            ..
        }) => {
            if !number_says_token_bad {
                push(Problem::AppRejected {
                    code: *code,
                    message: short(message),
                });
            }
        }
        Err(_) => push(Problem::ProviderDown),
    }
    match number {
        Ok(_) => {}
        Err(e) if e.provider_down() => push(Problem::ProviderDown),
        Err(CheckError {
            error: SendError::Graph { code, message, .. },
            ..
        }) => match *code {
            190 if token_reported => {}
            190 => push(Problem::Invalid {
                code: 190,
                message: short(message),
            }),
            100 | 3 | 10 | 200..=299 => push(Problem::NumberNotReachable { code: *code }),
            code => push(Problem::Refused {
                code,
                message: short(message),
            }),
        },
        Err(_) => push(Problem::ProviderDown),
    }
    out
}

// ---------------------------------------------------------------------------
// The calls

/// `GET /{version}/debug_token?input_token=…&access_token={app-id}|{app-secret}`.
pub async fn inspect_token(
    client: &GraphClient,
    app: &AppCredentials<'_>,
    token: &str,
    now: OffsetDateTime,
) -> Result<TokenReport, CheckError> {
    let fail = |e| CheckError::new(Endpoint::DebugToken, e);
    if !token_shape_ok(token) || !app_problems(app).is_empty() {
        return Err(fail(SendError::Invalid(
            "the token or the app credentials are malformed".into(),
        )));
    }
    let app_token = format!("{}|{}", app.app_id, app.app_secret);
    let answer = client
        .get_object(
            &["debug_token"],
            &[("input_token", token), ("access_token", &app_token)],
            None,
            &[token, app.app_secret, &app_token],
        )
        .await
        .map_err(fail)?;
    parse_token_report(&answer, now).map_err(|e| fail(SendError::BadResponse(e)))
}

/// `GET /{version}/{phone-number-id}?fields=…` with the token: whether it
/// can use the number, and the number's quality rating and messaging
/// limit. Asked again without the limit field if this API version does not
/// know it.
pub async fn check_number(
    client: &GraphClient,
    phone_number_id: &str,
    token: &str,
) -> Result<NumberReport, CheckError> {
    let fail = |e| CheckError::new(Endpoint::PhoneNumber, e);
    if !token_shape_ok(token) || !id_shape_ok(phone_number_id) {
        return Err(fail(SendError::Invalid(
            "the token or the phone number id is malformed".into(),
        )));
    }
    let with_limit = format!("{NUMBER_FIELDS},{LIMIT_FIELD}");
    let get = |fields: &str| {
        let fields = fields.to_string();
        async move {
            client
                .get_object(
                    &[phone_number_id],
                    &[("fields", &fields)],
                    Some(token),
                    &[token],
                )
                .await
        }
    };
    let answer = match get(&with_limit).await {
        Err(SendError::Graph {
            code: 100, message, ..
        }) if message.contains(LIMIT_FIELD) => get(NUMBER_FIELDS).await,
        other => other,
    }
    .map_err(fail)?;
    Ok(parse_number_report(&answer, phone_number_id))
}

/// Both checks at once and their [`Problem`]s: what the "Test" and
/// "Rotate" buttons run before anything is saved.
pub async fn validate(
    client: &GraphClient,
    app: &AppCredentials<'_>,
    phone_number_id: &str,
    waba_id: Option<&str>,
    token: &str,
    now: OffsetDateTime,
) -> Validation {
    let mut shape = app_problems(app);
    if !token_shape_ok(token) {
        shape.push(Problem::Malformed(Field::Token));
    }
    if !id_shape_ok(phone_number_id) {
        shape.push(Problem::Malformed(Field::PhoneNumberId));
    }
    if !shape.is_empty() {
        return Validation {
            token: None,
            number: None,
            problems: shape,
        };
    }
    let (token_result, number_result) = tokio::join!(
        inspect_token(client, app, token, now),
        check_number(client, phone_number_id, token)
    );
    let problems = problems(&token_result, &number_result, app.app_id, waba_id, now);
    Validation {
        token: token_result.ok(),
        number: number_result.ok(),
        problems,
    }
}

/// `GET /{version}/oauth/access_token?grant_type=fb_exchange_token&…`: a
/// long-lived token (about 60 days) for a short-lived one. An expired
/// token cannot be exchanged (Graph error 190).
pub async fn exchange(
    client: &GraphClient,
    app: &AppCredentials<'_>,
    short_lived: &str,
    now: OffsetDateTime,
) -> Result<Exchanged, CheckError> {
    let fail = |e| CheckError::new(Endpoint::TokenExchange, e);
    if !token_shape_ok(short_lived) || !app_problems(app).is_empty() {
        return Err(fail(SendError::Invalid(
            "the token or the app credentials are malformed".into(),
        )));
    }
    let answer = client
        .get_object(
            &["oauth", "access_token"],
            &[
                ("grant_type", "fb_exchange_token"),
                ("client_id", app.app_id),
                ("client_secret", app.app_secret),
                ("fb_exchange_token", short_lived),
            ],
            None,
            &[short_lived, app.app_secret],
        )
        .await
        .map_err(fail)?;
    parse_exchange(&answer, now).map_err(|e| fail(SendError::BadResponse(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const APP: &str = "123456789012345";
    const WABA: &str = "102290129340398";

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    fn now() -> OffsetDateTime {
        at(1_764_000_000)
    }

    /// The reference's sample (A.10): a system user token.
    fn system_user() -> Value {
        json!({"data":{"app_id":APP,"type":"SYSTEM_USER","application":"uic-inbox","is_valid":true,"expires_at":0,
           "data_access_expires_at":0,"issued_at":1763800000,"scopes":["whatsapp_business_messaging","whatsapp_business_management"],
           "granular_scopes":[{"scope":"whatsapp_business_messaging","target_ids":[WABA]}],"user_id":"100000000000001"}})
    }

    fn graph(endpoint: Endpoint, code: i64, message: &str) -> CheckError {
        CheckError::new(
            endpoint,
            SendError::Graph {
                http_status: 400,
                code,
                message: message.into(),
                details: None,
                retry_after: None,
            },
        )
    }

    fn number_ok() -> Result<NumberReport, CheckError> {
        Ok(parse_number_report(&json!({"id": "1"}), "1"))
    }

    #[test]
    fn the_reference_sample_is_a_never_expiring_token_that_can_message() {
        let r = parse_token_report(&system_user(), now()).unwrap();
        assert!(r.is_valid);
        assert_eq!(r.kind, Some(TokenKind::NeverExpires));
        assert_eq!(r.expires_at, None);
        assert_eq!(r.type_name.as_deref(), Some("SYSTEM_USER"));
        assert_eq!(r.app_id.as_deref(), Some(APP));
        assert!(r.can_message);
        assert_eq!(r.issued_at, Some(at(1_763_800_000)));
        assert_eq!(r.messaging_targets(), Some(&[WABA.to_string()][..]));
        assert!(problems(&Ok(r), &number_ok(), APP, Some(WABA), now()).is_empty());
    }

    #[test]
    fn missing_granular_target_ids_mean_not_restricted() {
        let mut body = system_user();
        body["data"]["granular_scopes"] = json!([{"scope":"whatsapp_business_messaging"}]);
        let r = parse_token_report(&body, now()).unwrap();
        assert_eq!(r.messaging_targets(), None);
        assert!(problems(&Ok(r), &number_ok(), APP, Some("999"), now()).is_empty());
        body["data"]
            .as_object_mut()
            .unwrap()
            .remove("granular_scopes");
        let r = parse_token_report(&body, now()).unwrap();
        assert!(problems(&Ok(r), &number_ok(), APP, Some("999"), now()).is_empty());
    }

    #[test]
    fn target_ids_without_the_account_waba_are_a_problem() {
        let r = parse_token_report(&system_user(), now()).unwrap();
        assert_eq!(
            problems(&Ok(r.clone()), &number_ok(), APP, Some("555"), now()),
            vec![Problem::NotInBusinessAccount {
                waba_id: "555".into()
            }]
        );
        // Unknown WABA: nothing to compare with.
        assert!(problems(&Ok(r), &number_ok(), APP, None, now()).is_empty());
    }

    #[test]
    fn token_kinds_follow_the_lifetime() {
        let kind = |data: Value| {
            parse_token_report(&json!({ "data": data }), now())
                .unwrap()
                .kind
        };
        let t = now().unix_timestamp();
        assert_eq!(
            kind(json!({"expires_at": 0})),
            Some(TokenKind::NeverExpires)
        );
        // Dashboard tokens have no issued_at: measured from now.
        assert_eq!(
            kind(json!({"expires_at": t + 23 * 3600})),
            Some(TokenKind::Temporary)
        );
        assert_eq!(
            kind(json!({"expires_at": t + 5_183_944})),
            Some(TokenKind::LongLived)
        );
        assert_eq!(
            kind(json!({"expires_at": t + 3600, "issued_at": t - 20 * 3600})),
            Some(TokenKind::Temporary)
        );
        assert_eq!(
            kind(json!({"expires_at": t + 3600, "issued_at": t - 59 * 86_400})),
            Some(TokenKind::LongLived)
        );
        // Numbers as strings, as some answers give them.
        assert_eq!(
            kind(json!({"expires_at": "0"})),
            Some(TokenKind::NeverExpires)
        );
        assert_eq!(kind(json!({})), None);
    }

    #[test]
    fn an_invalid_token_reports_its_error_and_an_expired_one_its_date() {
        let body = json!({"data":{"error":{"code":190,"message":"Invalid OAuth access token."},"is_valid":false,"scopes":[]}});
        let r = parse_token_report(&body, now()).unwrap();
        assert!(!r.is_valid);
        assert_eq!(r.kind, None);
        assert_eq!(
            problems(
                &Ok(r),
                &Err(graph(Endpoint::PhoneNumber, 190, "bad")),
                APP,
                None,
                now()
            ),
            vec![Problem::Invalid {
                code: 190,
                message: "Invalid OAuth access token.".into()
            }]
        );
        let expired = now().unix_timestamp() - 60;
        let body = json!({"data":{"app_id":APP,"type":"USER","is_valid":false,"expires_at":expired,
            "error":{"code":190,"message":"Session has expired","subcode":463},"scopes":["whatsapp_business_messaging"]}});
        let r = parse_token_report(&body, now()).unwrap();
        assert_eq!(
            problems(
                &Ok(r),
                &Err(graph(Endpoint::PhoneNumber, 190, "expired")),
                APP,
                None,
                now()
            ),
            vec![Problem::Expired { at: at(expired) }],
            "one problem, not one per call"
        );
    }

    #[test]
    fn scope_app_and_number_problems_are_each_named() {
        let mut body = system_user();
        body["data"]["scopes"] = json!(["whatsapp_business_management"]);
        body["data"]["app_id"] = json!(987654321);
        let r = parse_token_report(&body, now()).unwrap();
        assert!(!r.can_message);
        assert_eq!(
            problems(
                &Ok(r),
                &Err(graph(Endpoint::PhoneNumber, 100, "no")),
                APP,
                Some(WABA),
                now()
            ),
            vec![
                Problem::OtherApp {
                    app_id: Some("987654321".into())
                },
                Problem::MissingScope(MESSAGING_SCOPE.into()),
                Problem::NumberNotReachable { code: 100 },
            ]
        );
        let ok = parse_token_report(&system_user(), now()).unwrap();
        for code in [100, 10, 200, 299] {
            assert_eq!(
                problems(
                    &Ok(ok.clone()),
                    &Err(graph(Endpoint::PhoneNumber, code, "x")),
                    APP,
                    None,
                    now()
                ),
                vec![Problem::NumberNotReachable { code }]
            );
        }
        assert_eq!(
            problems(
                &Ok(ok),
                &Err(graph(Endpoint::PhoneNumber, 368, "restricted")),
                APP,
                None,
                now()
            ),
            vec![Problem::Refused {
                code: 368,
                message: "restricted".into()
            }]
        );
    }

    #[test]
    fn a_refused_debug_token_blames_the_app_only_when_the_token_works() {
        let refused = Err(graph(
            Endpoint::DebugToken,
            190,
            "Invalid OAuth access token signature.",
        ));
        assert_eq!(
            problems(&refused, &number_ok(), APP, None, now()),
            vec![Problem::AppRejected {
                code: 190,
                message: "Invalid OAuth access token signature.".into()
            }]
        );
        assert_eq!(
            problems(
                &refused,
                &Err(graph(
                    Endpoint::PhoneNumber,
                    190,
                    "Cannot parse access token"
                )),
                APP,
                None,
                now()
            ),
            vec![Problem::Invalid {
                code: 190,
                message: "Cannot parse access token".into()
            }]
        );
    }

    #[test]
    fn network_failures_and_rate_limits_are_one_provider_down() {
        let down = |endpoint| CheckError::new(endpoint, SendError::Network("refused".into()));
        assert_eq!(
            problems(
                &Err(down(Endpoint::DebugToken)),
                &Err(down(Endpoint::PhoneNumber)),
                APP,
                None,
                now()
            ),
            vec![Problem::ProviderDown]
        );
        let busy = Err(CheckError::new(
            Endpoint::PhoneNumber,
            SendError::Http {
                http_status: 503,
                retry_after: None,
            },
        ));
        let ok = Ok(parse_token_report(&system_user(), now()).unwrap());
        assert_eq!(
            problems(&ok, &busy, APP, None, now()),
            vec![Problem::ProviderDown]
        );
        assert_eq!(
            problems(
                &ok,
                &Err(graph(Endpoint::PhoneNumber, 80007, "rate")),
                APP,
                None,
                now()
            ),
            vec![Problem::ProviderDown]
        );
        assert!(
            !problems(
                &Err(CheckError::new(
                    Endpoint::DebugToken,
                    SendError::BadResponse("x".into())
                )),
                &number_ok(),
                APP,
                None,
                now()
            )
            .is_empty()
        );
    }

    #[test]
    fn the_number_answer_gives_quality_and_limit() {
        let body = json!({"display_phone_number":"+243 81 000 0000","verified_name":"ONG Sante","quality_rating":"GREEN",
           "code_verification_status":"VERIFIED","platform_type":"CLOUD_API","throughput":{"level":"STANDARD"},
           "whatsapp_business_manager_messaging_limit":"TIER_2K","id":"106540352242922","new_field":1});
        let n = parse_number_report(&body, "x");
        assert_eq!(n.id, "106540352242922");
        assert_eq!(n.quality_rating, QualityRating::Green);
        assert_eq!(n.messaging_limit, Some(MessagingLimit::People(2000)));
        assert_eq!(n.throughput.as_deref(), Some("STANDARD"));
        assert_eq!(n.display_phone_number.as_deref(), Some("+243 81 000 0000"));
        let n = parse_number_report(&json!({"quality_rating": "purple"}), "7");
        assert_eq!(
            (n.id.as_str(), n.quality_rating, n.messaging_limit),
            ("7", QualityRating::Unknown, None)
        );
        for (tier, limit) in [
            ("TIER_250", MessagingLimit::People(250)),
            ("TIER_100K", MessagingLimit::People(100_000)),
            ("TIER_UNLIMITED", MessagingLimit::Unlimited),
            ("UNLIMITED", MessagingLimit::Unlimited),
            ("TIER_K", MessagingLimit::Other("TIER_K".into())),
            (
                "TIER_99999999999K",
                MessagingLimit::Other("TIER_99999999999K".into()),
            ),
        ] {
            assert_eq!(MessagingLimit::parse(tier), limit, "{tier}");
        }
        assert_eq!(QualityRating::parse("yellow"), QualityRating::Yellow);
        assert_eq!(QualityRating::parse("RED"), QualityRating::Red);
    }

    #[test]
    fn an_exchange_answer_dates_the_new_token_from_now() {
        let e = parse_exchange(
            &json!({"access_token":"EAAGnewtoken123","token_type":"bearer","expires_in":5183944}),
            now(),
        )
        .unwrap();
        assert_eq!(e.token.expose_secret(), "EAAGnewtoken123");
        assert_eq!(e.expires_at, Some(at(now().unix_timestamp() + 5_183_944)));
        assert!(!format!("{e:?}").contains("EAAGnewtoken123"));
        assert_eq!(
            parse_exchange(&json!({"access_token":"EAAGx"}), now())
                .unwrap()
                .expires_at,
            None
        );
        for bad in [
            json!({}),
            json!({"access_token": ""}),
            json!({"access_token": "a b"}),
            json!({"access_token": 5}),
        ] {
            assert!(parse_exchange(&bad, now()).is_err(), "{bad}");
        }
        assert!(parse_token_report(&json!({"error": {}}), now()).is_err());
    }

    #[test]
    fn shapes_refuse_control_characters_spaces_and_huge_inputs() {
        assert!(token_shape_ok("EAAG0123abc"));
        for bad in [
            "",
            "EAAG\0x",
            "EAAG x",
            "EAAG\nx",
            "EAAGé",
            &"A".repeat(TOKEN_MAX + 1),
        ] {
            assert!(!token_shape_ok(bad), "{bad:?}");
        }
        assert!(id_shape_ok("106540352242922"));
        for bad in ["", "12a", "../1", "1 2", &"1".repeat(33)] {
            assert!(!id_shape_ok(bad), "{bad:?}");
        }
    }

    #[test]
    fn every_problem_has_a_french_and_an_english_text() {
        let all = [
            Problem::Malformed(Field::Token),
            Problem::Malformed(Field::PhoneNumberId),
            Problem::Malformed(Field::AppId),
            Problem::Malformed(Field::AppSecret),
            Problem::Expired { at: now() },
            Problem::Invalid {
                code: 190,
                message: "m".into(),
            },
            Problem::MissingScope(MESSAGING_SCOPE.into()),
            Problem::OtherApp {
                app_id: Some("42".into()),
            },
            Problem::OtherApp { app_id: None },
            Problem::NumberNotReachable { code: 100 },
            Problem::NotInBusinessAccount {
                waba_id: "555".into(),
            },
            Problem::AppRejected {
                code: 190,
                message: "m".into(),
            },
            Problem::Refused {
                code: 368,
                message: "m".into(),
            },
            Problem::ProviderDown,
        ];
        for p in &all {
            let (fr, en) = (p.text(Lang::Fr), p.text(Lang::En));
            assert!(!fr.is_empty() && !en.is_empty() && fr != en, "{p:?}");
        }
        assert_eq!(
            Problem::Expired {
                at: at(1_764_547_200)
            }
            .text(Lang::Fr),
            "Ce jeton a expiré le 2025-12-01 00:00 UTC : créez-en un nouveau (un jeton d'utilisateur système n'expire pas)."
        );
        assert!(
            Problem::MissingScope(MESSAGING_SCOPE.into())
                .text(Lang::En)
                .contains(MESSAGING_SCOPE)
        );
    }

    #[test]
    fn meta_messages_are_cleaned_and_cut_and_the_countdown_stops_at_zero() {
        let long = format!("bad\u{0}\nthing {}", "x".repeat(1000));
        let body = json!({"data": {"is_valid": false, "error": {"code": 190, "message": long}}});
        let r = parse_token_report(&body, now()).unwrap();
        let found = problems(&Ok(r), &number_ok(), APP, None, now());
        let [Problem::Invalid { message, .. }] = &found[..] else {
            panic!("{found:?}");
        };
        assert!(message.starts_with("badthing xx"), "{message}");
        assert_eq!(message.chars().count(), MESSAGE_MAX + 1);
        let mut r = parse_token_report(&system_user(), now()).unwrap();
        assert_eq!(r.remaining(now()), None);
        r.expires_at = Some(now() + time::Duration::days(3));
        assert_eq!(r.remaining(now()), Some(time::Duration::days(3)));
        assert_eq!(
            r.remaining(now() + time::Duration::days(9)),
            Some(time::Duration::ZERO)
        );
    }

    #[test]
    fn app_credentials_never_print_the_secret() {
        let app = AppCredentials {
            app_id: APP,
            app_secret: "very-secret-value",
        };
        assert!(!format!("{app:?}").contains("very-secret-value"));
    }
}
