//! Tenants (one NGO each) and their WhatsApp accounts (one per programme),
//! with each account's flow settings.

pub mod flow_input;
pub mod store;

use crate::config::Config;
use crate::flow::{FlowConfig, Language};
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
    pub twilio_auth_token: Option<String>,
    pub flow_config: sqlx::types::Json<FlowSettings>,
    pub enabled: bool,
    pub meta_waba_id: Option<String>,
    pub meta_app_id: Option<String>,
    pub meta_app_secret: Option<String>,
    pub meta_verify_token: Option<String>,
    pub meta_access_token: Option<String>,
    /// Invalid once the Graph API refused the token: the account's outbox
    /// waits for a new one.
    pub token_status: TokenStatus,
    pub send_rate_per_second: i32,
    /// The tenant's setting: WhatsApp profile names are stored only when on
    /// (read with the account, so the webhooks need no extra query).
    pub keep_profile_names: bool,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "***");
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
#[derive(Default)]
pub struct Cache {
    entries: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Account)>>,
}

impl Cache {
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(1);
    const CAPACITY: usize = 1_000;

    /// The cached account for `key`, or what `load` finds (cached when found).
    pub async fn get_or_load<F, E>(&self, key: String, load: F) -> Result<Option<Account>, E>
    where
        F: std::future::Future<Output = Result<Option<Account>, E>>,
    {
        let now = std::time::Instant::now();
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, account)) = entries.get(&key)
                && now.duration_since(*at) < Self::TTL
            {
                return Ok(Some(account.clone()));
            }
        }
        let found = load.await?;
        if let Some(account) = &found {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if entries.len() >= Self::CAPACITY {
                entries.clear();
            }
            entries.insert(key, (now, account.clone()));
        }
        Ok(found)
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
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
