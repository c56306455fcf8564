//! What a number's settings are to the client (a [`Connection`], a
//! [`CheckInput`]), shared by the worker, the page's « Tester la connexion »
//! and the `uic-inbox dhis2` commands: `dhis2 check` tests each number's
//! connection and settings, `dhis2 retry` requeues failed registrations.
//! What they print never holds a credential.

use super::check::{self, CheckInput, CheckReport};
use super::client::{Auth, Connection, Dhis2Client};
use super::settings::{AuthKind, Settings};
use super::store;
use super::uid::Uid;
use crate::AppState;
use crate::audit;
use crate::auth::Lang;
use crate::secrets::{Keyring, Purpose, Sealed};
use anyhow::bail;
use secrecy::SecretString;
use std::time::Duration;
use time::OffsetDateTime;

/// The audit log's name for the commands.
pub const ACTOR: &str = "command line";

/// Why settings give no connection, for staff (French and English).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// No server address, or no credential stored.
    Incomplete,
    /// The stored credential does not open (the key changed).
    Credential,
    /// The address the client refuses.
    Address(String, String),
}

impl Unusable {
    pub fn text(&self, lang: Lang) -> String {
        let fr = matches!(lang, Lang::Fr);
        match self {
            Unusable::Incomplete if fr => {
                "Réglages DHIS-2 incomplets : adresse du serveur et identifiants nécessaires."
                    .into()
            }
            Unusable::Incomplete => {
                "DHIS-2 settings incomplete: the server address and credentials are needed.".into()
            }
            Unusable::Credential if fr => {
                "L'identifiant DHIS-2 enregistré ne s'ouvre pas : saisissez-le de nouveau.".into()
            }
            Unusable::Credential => {
                "The stored DHIS-2 credential does not open: enter it again.".into()
            }
            Unusable::Address(f, _) if fr => f.clone(),
            Unusable::Address(_, e) => e.clone(),
        }
    }
}

/// The connection the settings describe, with the credential opened.
pub fn connection(s: &Settings, ring: &Keyring) -> Result<Connection, Unusable> {
    if s.base_url.is_empty() {
        return Err(Unusable::Incomplete);
    }
    let sealed = s.credential.as_deref().ok_or(Unusable::Incomplete)?;
    let credential = Sealed::parse(sealed)
        .ok()
        .and_then(|c| ring.open(Purpose::Dhis2Credential, &c).ok())
        .ok_or(Unusable::Credential)?;
    let secret = SecretString::from(credential.expose_secret().to_string());
    let auth = match s.auth_kind {
        AuthKind::Token => Auth::Token(secret),
        AuthKind::Basic => Auth::Basic {
            username: s.username.clone(),
            password: secret,
        },
    };
    Connection::new(&s.base_url, auth)
        .map_err(|e| Unusable::Address(e.text(Lang::Fr), e.text(Lang::En)))
}

/// What the check is asked of the settings; `None` when a required id is
/// missing (the settings form says which).
pub fn check_input(s: &Settings) -> Option<CheckInput> {
    Some(CheckInput {
        program: Uid::parse(&s.program).ok()?,
        tracked_entity_type: Uid::parse(&s.tracked_entity_type).ok()?,
        org_units: s
            .org_units()
            .iter()
            .filter_map(|o| Uid::parse(o).ok())
            .collect(),
        attributes: s
            .attributes()
            .into_iter()
            .filter_map(|(role, a)| Some((role, Uid::parse(a).ok()?)))
            .collect(),
    })
}

/// The check's client: one call's limit.
pub fn check_client() -> Dhis2Client {
    Dhis2Client::new(Duration::from_secs(20))
}

/// Tests a number's settings against its DHIS-2: every problem found, or
/// why it could not be tested.
pub async fn test(
    client: &Dhis2Client,
    s: &Settings,
    ring: &Keyring,
) -> Result<CheckReport, Unusable> {
    let conn = connection(s, ring)?;
    let input = check_input(s).ok_or(Unusable::Incomplete)?;
    Ok(check::check(client, &conn, &input).await)
}

/// What `dhis2 check` says of one number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub slug: String,
    pub enabled: bool,
    /// The server's version, once reached.
    pub version: Option<String>,
    /// What is wrong (warnings marked), in English.
    pub problems: Vec<String>,
    /// Something blocks the sync: the command exits with 1.
    pub bad: bool,
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match (self.bad, self.enabled) {
            (true, _) => "problem",
            (false, true) => "ok",
            (false, false) => "ok (off)",
        };
        write!(
            f,
            "{:<24} {:<9} {}",
            self.slug,
            state,
            self.version.as_deref().unwrap_or("-")
        )?;
        for p in &self.problems {
            write!(f, "\n    {p}")?;
        }
        Ok(())
    }
}

pub const HEADING: &str = "NUMBER                   STATE     DHIS-2 VERSION";

/// Tests the settings of every number that has some (all tenants), or of
/// the number `slug`.
pub async fn check_all(state: &AppState, slug: Option<&str>) -> anyhow::Result<Vec<Line>> {
    let db = &state.db;
    let client = check_client();
    let mut lines = Vec::new();
    let numbers = store::numbers(db).await?;
    if let Some(slug) = slug
        && !numbers.iter().any(|(_, s, _)| s == slug)
    {
        bail!("no number has the slug {slug:?} (see the Numbers page)");
    }
    for (id, number, configured) in numbers {
        if slug.is_some_and(|s| s != number) {
            continue;
        }
        if !configured && slug.is_some() {
            bail!("the number {number:?} has no DHIS-2 settings (set them on its page)");
        }
        let Some(settings) = store::settings_of(db, id).await? else {
            continue;
        };
        let line = match test(&client, &settings, &state.secrets).await {
            Ok(report) => Line {
                slug: number.clone(),
                enabled: settings.enabled,
                version: report.version.clone(),
                bad: !report.usable(),
                problems: report
                    .problems
                    .iter()
                    .map(|p| {
                        let t = p.text(Lang::En);
                        if p.is_warning() {
                            format!("warning: {t}")
                        } else {
                            t
                        }
                    })
                    .collect(),
            },
            Err(u) => Line {
                slug: number.clone(),
                enabled: settings.enabled,
                version: None,
                bad: true,
                problems: vec![u.text(Lang::En)],
            },
        };
        lines.push(line);
    }
    Ok(lines)
}

/// Requeues the failed registrations of every number, or of `slug`'s;
/// audited. Returns how many.
pub async fn retry(
    state: &AppState,
    slug: Option<&str>,
    now: OffsetDateTime,
) -> anyhow::Result<u64> {
    let db = &state.db;
    let account = match slug {
        None => None,
        Some(s) => match crate::tenancy::store::find_by_slug(db, s).await? {
            Some(a) => Some(a),
            None => bail!("no number has the slug {s:?} (see the Numbers page)"),
        },
    };
    let n = store::retry_everywhere(db, account.as_ref().map(|a| a.id), now).await?;
    audit::record(
        db,
        &audit::Entry {
            tenant_id: account.as_ref().map(|a| a.tenant_id),
            user_id: None,
            actor: ACTOR,
            action: "dhis2.retry",
            target: account
                .as_ref()
                .map_or_else(|| "dhis2".to_string(), |a| format!("account:{}", a.id)),
            detail: format!("{n} requeued"),
            ip: None,
        },
    )
    .await?;
    Ok(n)
}
