//! Tenants (one NGO each) and their WhatsApp accounts (one per programme),
//! with each account's flow settings.

pub mod channel_input;
pub mod flow_input;
pub mod health;
pub mod store;

use crate::config::{Config, Secret};
use crate::flow::{FlowConfig, Language};
use crate::secrets::{Keyring, Purpose, Sealed};
use crate::uic::City;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::Duration;

crate::text_enum! {
    /// Which service carries an account's messages
    /// (`whatsapp_accounts.provider`).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Provider("provider") {
        Twilio = "twilio",
        Meta = "meta",
        /// Delivers nowhere: backs the built-in phone simulator.
        Sandbox = "sandbox",
    }
}

crate::text_enum! {
    /// Whether the Graph API takes an account's access token
    /// (`whatsapp_accounts.token_status`).
    pub enum TokenStatus("token status") {
        Ok = "ok",
        /// Refused by the Graph API: the account's outbox waits for a new
        /// token.
        Invalid = "invalid",
    }
}

/// An account's flow settings as stored (JSON). Unset values fall back to
/// the server-wide configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSettings {
    #[serde(default)]
    pub language: Language,
    /// Text overrides keyed by text name (see `flow::texts`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub texts: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cities: Vec<City>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_timeout_minutes: Option<u32>,
}

/// A WhatsApp account (one number, one programme). Its `Debug` output hides
/// every secret.
#[derive(Clone, sqlx::FromRow)]
pub struct Account {
    pub id: i64,
    pub tenant_id: i64,
    pub slug: String,
    pub name: String,
    /// A row naming another provider is refused when read (a decoding
    /// error), never taken for the sandbox.
    pub provider: Provider,
    pub phone_number: Option<String>,
    pub meta_phone_number_id: Option<String>,
    pub twilio_account_sid: Option<String>,
    /// Sealed (see `secrets`): read with [`Account::secret`].
    pub twilio_auth_token: Option<Sealed>,
    pub flow_config: sqlx::types::Json<FlowSettings>,
    pub enabled: bool,
    pub meta_waba_id: Option<String>,
    pub meta_app_id: Option<String>,
    pub meta_app_secret: Option<Sealed>,
    pub meta_verify_token: Option<Sealed>,
    pub meta_access_token: Option<Sealed>,
    /// Invalid once the Graph API refused the token: the account's outbox
    /// waits for a new one.
    pub token_status: TokenStatus,
    pub send_rate_per_second: i32,
    /// How long a conversation may wait for staff before the person is told
    /// nobody is available ([`WAITING_LIMIT_MINUTES`]).
    pub waiting_limit_minutes: i32,
    /// The tenant's setting: WhatsApp profile names are stored only when on
    /// (read with the account, so the webhooks need no extra query).
    pub keep_profile_names: bool,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &Option<Sealed>| s.as_ref().map(|_| "***");
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("slug", &self.slug)
            .field("provider", &self.provider)
            .field("phone_number", &self.phone_number)
            .field("meta_phone_number_id", &self.meta_phone_number_id)
            .field("twilio_account_sid", &self.twilio_account_sid)
            .field("twilio_auth_token", &hidden(&self.twilio_auth_token))
            .field("meta_app_secret", &hidden(&self.meta_app_secret))
            .field("meta_verify_token", &hidden(&self.meta_verify_token))
            .field("meta_access_token", &hidden(&self.meta_access_token))
            .field("token_status", &self.token_status)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl Account {
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// One of the account's credentials, opened with the ring. A value
    /// that does not open (damaged, or sealed under a key the ring lacks)
    /// is logged, naming the account and the purpose only, and treated as
    /// missing.
    pub fn secret(&self, ring: &Keyring, purpose: Purpose) -> Option<Secret> {
        let sealed = match purpose {
            Purpose::MetaAccessToken => &self.meta_access_token,
            Purpose::MetaAppSecret => &self.meta_app_secret,
            Purpose::MetaVerifyToken => &self.meta_verify_token,
            Purpose::TwilioAuthToken => &self.twilio_auth_token,
            // Kept with the number's DHIS-2 settings (`dhis2::Settings`).
            Purpose::Dhis2Credential => return None,
        };
        match ring.open(purpose, sealed.as_ref()?) {
            Ok(secret) => Some(secret),
            Err(e) => {
                tracing::error!(account_id = self.id, purpose = %purpose, error = %e,
                    "a stored credential cannot be opened: treated as missing");
                None
            }
        }
    }

    /// The Graph API refused the account's token.
    pub fn token_invalid(&self) -> bool {
        self.token_status == TokenStatus::Invalid
    }

    /// The flow configuration: the account's settings over the server's.
    pub fn flow_config(&self, config: &Config) -> FlowConfig {
        let s = &self.flow_config.0;
        FlowConfig {
            language: s.language,
            texts: s.texts.clone(),
            cities: s.cities.clone(),
            qr_enabled: s.qr_enabled.unwrap_or(config.enable_qr_code),
            session_timeout: Duration::minutes(i64::from(
                s.session_timeout_minutes
                    .unwrap_or(config.session_timeout_minutes),
            )),
            ..FlowConfig::default()
        }
    }
}

/// Slug of the tenant created on first start.
pub const DEFAULT_TENANT: &str = "default";
/// Slug of the sandbox account created on first start.
pub const SANDBOX_ACCOUNT: &str = "sandbox";
/// Slug of the Twilio account configured by `TWILIO_*` variables.
pub const TWILIO_ACCOUNT: &str = "twilio";
/// Slug of the Meta account configured by `META_*` variables.
pub const META_ACCOUNT: &str = "meta";

/// Accounts looked up in the last second, by key (the webhooks' routing
/// keys, the outbox worker's account ids): a busy number is not read from
/// the database for every message or send. A settings change is seen
/// within `Cache::TTL`, or at once where the change calls `clear`.
///
/// Concurrent misses of one key share one load. Only accounts found are
/// kept: a key no account has is looked up again next time, and a load
/// that failed (the database busy) is the caller's error, not a miss.
pub struct Cache {
    entries: moka::future::Cache<String, Account>,
}

/// Why a shared load gave no account.
#[derive(Debug)]
enum Miss {
    Absent,
    Failed,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            entries: moka::future::Cache::builder()
                .max_capacity(Self::CAPACITY)
                .time_to_live(Self::TTL)
                .build(),
        }
    }
}

impl Cache {
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(1);
    const CAPACITY: u64 = 1_000;

    /// The cached account for `key`, or what `load` finds (cached when
    /// found). Callers that arrive while another's load of the same key is
    /// under way wait for it; if that load failed, they run their own, so
    /// each caller gets its own error.
    pub async fn get_or_load<F, E>(&self, key: String, load: F) -> Result<Option<Account>, E>
    where
        F: std::future::Future<Output = Result<Option<Account>, E>>,
    {
        let mut load = std::pin::pin!(load);
        let mut failure = None;
        let shared = self
            .entries
            .try_get_with(key, async {
                match load.as_mut().await {
                    Ok(Some(account)) => Ok(account),
                    Ok(None) => Err(Miss::Absent),
                    Err(e) => {
                        failure = Some(e);
                        Err(Miss::Failed)
                    }
                }
            })
            .await;
        match shared {
            Ok(account) => Ok(Some(account)),
            Err(miss) => match (&*miss, failure) {
                (Miss::Absent, _) => Ok(None),
                (Miss::Failed, Some(e)) => Err(e),
                // Another caller's load failed while this one waited: this
                // caller's own load has not run yet.
                (Miss::Failed, None) => load.await,
            },
        }
    }

    pub fn clear(&self) {
        self.entries.invalidate_all();
    }
}

/// The waiting limit a number may have, in minutes (5 minutes to a week;
/// the database checks the same).
pub const WAITING_LIMIT_MINUTES: std::ops::RangeInclusive<i32> = 5..=10_080;

/// Reads a waiting limit typed in a form: `None` unless a whole number of
/// minutes within [`WAITING_LIMIT_MINUTES`].
pub fn parse_waiting_limit(input: &str) -> Option<i32> {
    input
        .trim()
        .parse()
        .ok()
        .filter(|m| WAITING_LIMIT_MINUTES.contains(m))
}

#[cfg(test)]
mod waiting_limit_tests {
    use super::*;

    #[test]
    fn a_waiting_limit_is_whole_minutes_from_five_to_a_week() {
        assert_eq!(parse_waiting_limit(" 240 "), Some(240));
        assert_eq!(parse_waiting_limit("5"), Some(5));
        assert_eq!(parse_waiting_limit("10080"), Some(10_080));
        for bad in ["4", "0", "-30", "10081", "2.5", "", "abc", "99999999999"] {
            assert_eq!(parse_waiting_limit(bad), None, "{bad}");
        }
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration as StdDuration;

    fn account(id: i64) -> Account {
        Account {
            id,
            tenant_id: 1,
            slug: format!("a{id}"),
            name: format!("a{id}"),
            provider: Provider::Meta,
            phone_number: None,
            meta_phone_number_id: None,
            twilio_account_sid: None,
            twilio_auth_token: None,
            flow_config: sqlx::types::Json(FlowSettings::default()),
            enabled: true,
            meta_waba_id: None,
            meta_app_id: None,
            meta_app_secret: None,
            meta_verify_token: None,
            meta_access_token: None,
            waiting_limit_minutes: 240,
            token_status: TokenStatus::Ok,
            send_rate_per_second: 80,
            keep_profile_names: false,
        }
    }

    /// A load that counts its runs, waits a little and gives `result`.
    async fn load(
        runs: &AtomicUsize,
        result: Result<Option<i64>, &'static str>,
    ) -> Result<Option<Account>, &'static str> {
        runs.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(StdDuration::from_millis(50)).await;
        result.map(|found| found.map(account))
    }

    #[tokio::test]
    async fn found_accounts_are_kept_misses_and_errors_are_not() {
        let cache = Cache::default();
        let runs = AtomicUsize::new(0);
        let got = cache
            .get_or_load("k".into(), load(&runs, Ok(Some(7))))
            .await;
        assert_eq!(got.unwrap().unwrap().id, 7);
        let got = cache
            .get_or_load("k".into(), load(&runs, Ok(Some(8))))
            .await;
        assert_eq!(got.unwrap().unwrap().id, 7, "kept");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        cache.clear();
        let got = cache
            .get_or_load("k".into(), load(&runs, Ok(Some(8))))
            .await;
        assert_eq!(got.unwrap().unwrap().id, 8, "cleared");

        // No account: not kept.
        let got = cache
            .get_or_load("none".into(), load(&runs, Ok(None)))
            .await;
        assert!(got.unwrap().is_none());
        let got = cache
            .get_or_load("none".into(), load(&runs, Ok(Some(9))))
            .await;
        assert_eq!(got.unwrap().unwrap().id, 9);

        // A failed load is the caller's error, and not kept.
        let got = cache
            .get_or_load("busy".into(), load(&runs, Err("busy")))
            .await;
        assert_eq!(got.unwrap_err(), "busy");
        let got = cache
            .get_or_load("busy".into(), load(&runs, Ok(Some(3))))
            .await;
        assert_eq!(got.unwrap().unwrap().id, 3);
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_load_and_a_failed_one_is_not_shared() {
        let cache = Cache::default();
        let runs = AtomicUsize::new(0);
        let (a, b) = tokio::join!(
            cache.get_or_load("k".into(), load(&runs, Ok(Some(1)))),
            cache.get_or_load("k".into(), load(&runs, Ok(Some(2)))),
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one load");
        assert_eq!(a.unwrap().unwrap().id, b.unwrap().unwrap().id);

        // The first load fails: the caller that waited for it runs its own.
        let runs = AtomicUsize::new(0);
        let (a, b) = tokio::join!(
            cache.get_or_load("f".into(), load(&runs, Err("busy"))),
            cache.get_or_load("f".into(), load(&runs, Ok(Some(5)))),
        );
        assert_eq!(a.unwrap_err(), "busy");
        assert_eq!(b.unwrap().unwrap().id, 5);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn accounts_are_kept_for_the_ttl_only() {
        let cache = Cache::default();
        let runs = AtomicUsize::new(0);
        cache
            .get_or_load("k".into(), load(&runs, Ok(Some(1))))
            .await
            .unwrap();
        tokio::time::sleep(Cache::TTL + StdDuration::from_millis(100)).await;
        let got = cache
            .get_or_load("k".into(), load(&runs, Ok(Some(2))))
            .await;
        assert_eq!(got.unwrap().unwrap().id, 2);
    }
}

/// A tenant's privacy settings (DESIGN.md section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct PrivacySettings {
    /// WhatsApp profile names are stored only when on; turning it off
    /// erases the stored ones.
    pub keep_profile_names: bool,
    /// Message text kept as written is redacted after this many days.
    pub retention_days: i32,
}

impl PrivacySettings {
    pub const DEFAULT_RETENTION_DAYS: i32 = 180;
    /// A week at least (staff need time to read an escalated conversation),
    /// ten years at most.
    pub const RETENTION_DAYS: std::ops::RangeInclusive<i32> = 7..=3650;

    /// Reads a retention period typed in a form.
    pub fn parse_retention_days(input: &str) -> Result<i32, RetentionError> {
        let days: i32 = input
            .trim()
            .parse()
            .map_err(|_| RetentionError::NotANumber)?;
        if Self::RETENTION_DAYS.contains(&days) {
            Ok(days)
        } else {
            Err(RetentionError::OutOfRange)
        }
    }
}

impl Default for PrivacySettings {
    fn default() -> Self {
        PrivacySettings {
            keep_profile_names: false,
            retention_days: Self::DEFAULT_RETENTION_DAYS,
        }
    }
}

/// Why a retention period was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionError {
    NotANumber,
    OutOfRange,
}

#[cfg(test)]
mod state_tests {
    use super::*;

    #[test]
    fn providers_and_token_statuses_read_back_as_stored_and_another_word_is_an_error() {
        assert_eq!(
            Provider::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            ["twilio", "meta", "sandbox"]
        );
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(*p));
            assert_eq!(p.as_str().parse::<Provider>(), Ok(*p));
            // The serde name is the stored word.
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::Value::from(p.as_str())
            );
        }
        assert_eq!(
            TokenStatus::ALL
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>(),
            ["ok", "invalid"]
        );
        for t in TokenStatus::ALL {
            assert_eq!(t.as_str().parse::<TokenStatus>(), Ok(*t));
        }
        for bad in ["", "whatsapp", "Meta", "sandbox ", "360dialog"] {
            assert_eq!(Provider::parse(bad), None, "{bad}");
            let err = bad.parse::<Provider>().unwrap_err();
            assert_eq!(err.to_string(), format!("unknown provider {bad:?}"));
        }
        for bad in ["", "OK", "expired"] {
            assert!(bad.parse::<TokenStatus>().is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod privacy_tests {
    use super::*;

    #[test]
    fn retention_days_are_a_whole_number_of_days_within_bounds() {
        assert_eq!(PrivacySettings::parse_retention_days(" 180 "), Ok(180));
        assert_eq!(PrivacySettings::parse_retention_days("7"), Ok(7));
        assert_eq!(PrivacySettings::parse_retention_days("3650"), Ok(3650));
        for bad in ["6", "0", "-5", "3651", "99999999999"] {
            assert_eq!(
                PrivacySettings::parse_retention_days(bad),
                Err(if bad.len() > 10 {
                    RetentionError::NotANumber
                } else {
                    RetentionError::OutOfRange
                }),
                "{bad}"
            );
        }
        for bad in ["", "abc", "1.5", "30 jours"] {
            assert_eq!(
                PrivacySettings::parse_retention_days(bad),
                Err(RetentionError::NotANumber),
                "{bad}"
            );
        }
    }
}
