//! What a send failure means, whatever the provider: [`ErrorClass`].

use serde::Serialize;
use std::time::Duration;

/// A provider's refusal of a send, as the outbox acts on it: from
/// `meta::SendError` or `twilio::SendError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub class: ErrorClass,
    /// The provider's error code, if it gave one.
    pub code: Option<i64>,
    /// What happened, for staff and the log (never a credential).
    pub message: String,
    /// When the provider said to try again.
    pub retry_after: Option<Duration>,
}

/// What a provider's error means for the sender: Meta's Graph codes
/// (`meta::classify`: handle on `code`, not on the HTTP status or the title)
/// and Twilio's (`twilio::classify`) fall in the same classes, so that the
/// outbox treats both alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ErrorClass {
    /// Credentials expired, wrong or lacking a permission: stop sending,
    /// alert an administrator.
    Token,
    /// The account is restricted, locked, unpaid or unregistered: stop.
    Account,
    /// Too many messages or calls: retry with back-off.
    Throughput,
    /// Too many messages to this user: retry to this user later.
    PairRate,
    /// Temporary failure: retry a few times.
    Transient,
    /// Outside the 24-hour window: only a template may be sent.
    Window,
    /// The recipient cannot receive this message: do not retry.
    Recipient,
    /// A bug in the request: do not retry.
    Request,
    /// Media could not be uploaded or downloaded.
    Media,
    /// The template is wrong, paused or disabled.
    Template,
    Unknown,
}

impl ErrorClass {
    /// Whether sending the same message again later may succeed. `Unknown`
    /// is not (a caller may still retry an unknown code answered with 5xx).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ErrorClass::Throughput | ErrorClass::PairRate | ErrorClass::Transient
        )
    }
}
