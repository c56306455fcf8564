//! Twilio's REST API, the calls the product makes (reference part B.6):
//! sending a WhatsApp message, and fetching the account (to check
//! credentials). HTTP Basic auth with the account SID and auth token, given
//! per call: each number has its own.

use super::SendError;
use crate::channel::http::{describe, error_chain, redact, retry_after};
use serde::Deserialize;
use std::time::Duration;

/// The production REST host.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// The API version in every path.
const VERSION: &str = "2010-04-01";

/// An account's REST credentials.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// `AC…`, 34 characters.
    pub account_sid: &'a str,
    pub auth_token: &'a str,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"[redacted]")
            .finish()
    }
}

/// A message to send.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The sender, `+14155238886` or `whatsapp:+14155238886`.
    pub from: &'a str,
    /// The recipient, likewise.
    pub to: &'a str,
    pub body: &'a str,
    /// A public HTTPS URL Twilio fetches (the QR image).
    pub media_url: Option<&'a str>,
    /// Where Twilio posts the message's status changes.
    pub status_callback: Option<&'a str>,
}

/// What Twilio answered to a send (201).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Accepted {
    /// `SM…`: the key of its later status callbacks.
    pub sid: String,
    /// `queued` (or `accepted` through a Messaging Service).
    pub status: String,
}

/// The account behind a set of credentials.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountInfo {
    pub sid: String,
    pub friendly_name: String,
    /// `active`, `suspended` or `closed`.
    pub status: String,
    /// `Trial` or `Full`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A client for the Twilio REST calls. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TwilioClient {
    /// The HTTP client, or why it could not be built (every call then
    /// fails with that reason instead of panicking).
    http: Result<reqwest::Client, String>,
    /// `{base}/2010-04-01` without a trailing slash.
    root: String,
}

/// `whatsapp:+243…` for a bare number; an address already prefixed stays.
pub fn whatsapp_address(number: &str) -> String {
    let number = number.trim();
    if number.starts_with("whatsapp:") {
        number.to_string()
    } else {
        format!("whatsapp:{number}")
    }
}

/// Whether `sid` is an account SID: `AC` and 32 hexadecimal digits (so
/// that it can never change the path it is put in).
pub fn is_account_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("AC") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl TwilioClient {
    /// `base_url` like `https://api.twilio.com` (a trailing slash is fine);
    /// `timeout` bounds each call.
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("uic-inbox/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client could not be built: {}", error_chain(&e)));
        TwilioClient {
            http,
            root: format!("{}/{VERSION}", base_url.trim().trim_end_matches('/')),
        }
    }

    fn http(&self) -> Result<&reqwest::Client, SendError> {
        self.http
            .as_ref()
            .map_err(|e| SendError::Network(e.clone()))
    }

    fn account_url(&self, creds: &Credentials<'_>, rest: &str) -> Result<String, SendError> {
        if !is_account_sid(creds.account_sid) {
            return Err(SendError::Invalid(
                "the account SID is not AC followed by 32 hexadecimal digits".into(),
            ));
        }
        Ok(format!(
            "{}/Accounts/{}{rest}",
            self.root, creds.account_sid
        ))
    }

    /// Sends a WhatsApp message: `POST …/Messages.json`.
    pub async fn send_message(
        &self,
        creds: &Credentials<'_>,
        message: &Outgoing<'_>,
    ) -> Result<Accepted, SendError> {
        let mut form: Vec<(&str, String)> = vec![
            ("From", whatsapp_address(message.from)),
            ("To", whatsapp_address(message.to)),
        ];
        if !message.body.is_empty() {
            form.push(("Body", message.body.to_string()));
        }
        if let Some(url) = message.media_url {
            form.push(("MediaUrl", url.to_string()));
        }
        if let Some(url) = message.status_callback {
            form.push(("StatusCallback", url.to_string()));
        }
        let request = self
            .http()?
            .post(self.account_url(creds, "/Messages.json")?)
            .form(&form);
        let accepted: Accepted = call(request, creds).await?;
        if accepted.sid.is_empty() {
            return Err(SendError::BadResponse(
                "an empty sid in the send answer".into(),
            ));
        }
        Ok(accepted)
    }

    /// The account the credentials open: `GET /Accounts/{sid}.json`.
    pub async fn fetch_account(&self, creds: &Credentials<'_>) -> Result<AccountInfo, SendError> {
        let request = self.http()?.get(self.account_url(creds, ".json")?);
        call(request, creds).await
    }
}

/// Twilio's error object.
#[derive(Deserialize)]
struct ErrorObject {
    code: Option<i64>,
    message: Option<String>,
}

/// Sends with Basic auth and reads the answer: the JSON of a 2xx as `T`, or
/// the error. The auth token is scrubbed from every error text.
async fn call<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
    creds: &Credentials<'_>,
) -> Result<T, SendError> {
    let scrub = |text: String| redact(text, creds.auth_token);
    let response = request
        .basic_auth(creds.account_sid, Some(creds.auth_token))
        .send()
        .await
        .map_err(|e| SendError::Network(scrub(describe(&e))))?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let body = response
        .bytes()
        .await
        .map_err(|e| SendError::Network(scrub(describe(&e))))?;
    if !status.is_success() {
        return Err(match serde_json::from_slice::<ErrorObject>(&body) {
            Ok(ErrorObject {
                code: Some(code),
                message,
            }) => SendError::Twilio {
                http_status: status.as_u16(),
                code,
                message: scrub(message.unwrap_or_else(|| "(no message)".into())),
                retry_after,
            },
            _ => SendError::Http {
                http_status: status.as_u16(),
                retry_after,
            },
        });
    }
    serde_json::from_slice(&body).map_err(|e| {
        SendError::BadResponse(format!(
            "HTTP {} with a body that is not the expected JSON: {e}",
            status.as_u16()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_get_their_prefix_once() {
        assert_eq!(whatsapp_address("+243990000001"), "whatsapp:+243990000001");
        assert_eq!(
            whatsapp_address(" whatsapp:+14155238886 "),
            "whatsapp:+14155238886"
        );
    }

    #[test]
    fn only_an_account_sid_goes_into_a_path() {
        assert!(is_account_sid("AC0123456789abcdef0123456789abcdef"));
        for bad in [
            "",
            "AC0123456789abcdef0123456789abcde",
            "SM0123456789abcdef0123456789abcdef",
            "AC0123456789abcdef0123456789abcd/.",
            "AC../../../../../../../../../../../",
        ] {
            assert!(!is_account_sid(bad), "{bad}");
        }
        let client = TwilioClient::new("http://127.0.0.1:1", Duration::from_secs(1));
        let creds = Credentials {
            account_sid: "AC../x",
            auth_token: "secret-token-123",
        };
        assert!(matches!(
            client.account_url(&creds, ".json"),
            Err(SendError::Invalid(_))
        ));
    }

    #[test]
    fn credentials_never_print_the_token() {
        let creds = Credentials {
            account_sid: "AC0123456789abcdef0123456789abcdef",
            auth_token: "secret-token-123",
        };
        assert!(!format!("{creds:?}").contains("secret-token-123"));
    }

    #[tokio::test]
    async fn an_unreachable_host_is_a_network_error_without_the_token() {
        let client = TwilioClient::new("http://127.0.0.1:1", Duration::from_secs(2));
        let creds = Credentials {
            account_sid: "AC0123456789abcdef0123456789abcdef",
            auth_token: "secret-token-123",
        };
        let e = client.fetch_account(&creds).await.unwrap_err();
        assert!(matches!(e, SendError::Network(_)), "{e:?}");
        assert!(!e.to_string().contains("secret-token-123"));
    }
}
