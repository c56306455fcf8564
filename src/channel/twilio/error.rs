//! What a Twilio error means: [`classify`] its codes into the providers'
//! shared [`ErrorClass`], and [`SendError`], why a REST call failed.

use crate::channel::ErrorClass;
use std::time::Duration;

/// Classifies a Twilio error code (REST answers and the `ErrorCode` of a
/// `failed`/`undelivered` status callback), reference part B.6, with the
/// codes Twilio documents for WhatsApp senders.
pub fn classify(code: i64) -> ErrorClass {
    match code {
        // Authentication failed; the account is not found behind these
        // credentials.
        20003 | 20404 => ErrorClass::Token,
        // Sender not enabled, account suspended, region not permitted,
        // WhatsApp sender not found or not approved.
        21606 | 21408 | 30002 | 63007 | 63020 | 63021 => ErrorClass::Account,
        // Too many requests; queue overflow; WhatsApp rate limit.
        20429 | 30001 | 63018 => ErrorClass::Throughput,
        // Free-form message outside the 24-hour window (also a template
        // sent as Body).
        63016 => ErrorClass::Window,
        // Not a valid or reachable WhatsApp user; unsubscribed; sandbox
        // recipient that has not joined; unreachable, unknown or blocked.
        21211 | 21610 | 21614 | 63003 | 63015 | 63024 | 63032 | 30003 | 30004 | 30005 | 30006
        | 30007 => ErrorClass::Recipient,
        // The request itself: body missing or too long, bad parameter,
        // content not accepted.
        21602 | 21604 | 21617 | 21619 | 21620 | 63005 => ErrorClass::Request,
        // Media could not be fetched.
        11200 | 63019 => ErrorClass::Media,
        // Unknown error on the channel, carrier or Twilio side.
        30008 | 63001 | 63009 => ErrorClass::Transient,
        _ => ErrorClass::Unknown,
    }
}

/// Why a Twilio REST call failed. Never holds the auth token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Twilio's error object (`{"code", "message", "more_info", "status"}`).
    #[error("Twilio error {code} (HTTP {http_status}): {message}")]
    Twilio {
        http_status: u16,
        code: i64,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Non-2xx without a readable error object.
    #[error("Twilio answered HTTP {http_status} without an error object")]
    Http {
        http_status: u16,
        retry_after: Option<Duration>,
    },
    /// Connect error, reset, timeout.
    #[error("could not reach Twilio: {0}")]
    Network(String),
    /// A 2xx whose body lacks what was expected.
    #[error("unexpected Twilio answer: {0}")]
    BadResponse(String),
    /// The request could not be built; nothing was sent.
    #[error("invalid Twilio request: {0}")]
    Invalid(String),
}

impl SendError {
    /// The class that decides what to do: the code's class for a Twilio
    /// error (HTTP 429 and 5xx decide when the code is unknown);
    /// throughput for HTTP 429; transient for 5xx and network failures; a
    /// request problem otherwise.
    pub fn class(&self) -> ErrorClass {
        match self {
            SendError::Twilio {
                code, http_status, ..
            } => match classify(*code) {
                ErrorClass::Unknown if *http_status == 429 => ErrorClass::Throughput,
                ErrorClass::Unknown if *http_status >= 500 => ErrorClass::Transient,
                class => class,
            },
            SendError::Http {
                http_status: 429, ..
            } => ErrorClass::Throughput,
            SendError::Http { http_status, .. } if *http_status >= 500 => ErrorClass::Transient,
            SendError::Network(_) => ErrorClass::Transient,
            SendError::Http { .. } | SendError::BadResponse(_) | SendError::Invalid(_) => {
                ErrorClass::Request
            }
        }
    }

    /// Twilio's error code, if it answered one.
    pub fn code(&self) -> Option<i64> {
        match self {
            SendError::Twilio { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The `Retry-After` Twilio gave, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Twilio { retry_after, .. } | SendError::Http { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}

impl From<&SendError> for crate::channel::Refused {
    fn from(e: &SendError) -> Self {
        crate::channel::Refused {
            class: e.class(),
            code: e.code(),
            message: e.to_string(),
            retry_after: e.retry_after(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(&[20003, 20404], ErrorClass::Token)]
    #[case(&[21606, 21408, 30002, 63007, 63020], ErrorClass::Account)]
    #[case(&[20429, 30001, 63018], ErrorClass::Throughput)]
    #[case(&[63016], ErrorClass::Window)]
    #[case(&[21211, 21610, 21614, 63003, 63015, 63024, 30003, 30005, 30006], ErrorClass::Recipient)]
    #[case(&[21602, 21604, 21617, 63005], ErrorClass::Request)]
    #[case(&[11200, 63019], ErrorClass::Media)]
    #[case(&[30008, 63001], ErrorClass::Transient)]
    #[case(&[0, 1, 20000, 99999], ErrorClass::Unknown)]
    fn codes_are_classified(#[case] codes: &[i64], #[case] class: ErrorClass) {
        for &code in codes {
            assert_eq!(classify(code), class, "code {code}");
        }
    }

    #[test]
    fn the_http_status_decides_for_unknown_codes_only() {
        let twilio = |http_status, code| SendError::Twilio {
            http_status,
            code,
            message: "m".into(),
            retry_after: None,
        };
        assert_eq!(twilio(429, 20429).class(), ErrorClass::Throughput);
        assert_eq!(twilio(429, 12345).class(), ErrorClass::Throughput);
        assert_eq!(twilio(503, 12345).class(), ErrorClass::Transient);
        assert_eq!(twilio(401, 20003).class(), ErrorClass::Token);
        assert_eq!(twilio(400, 12345).class(), ErrorClass::Unknown);
        assert_eq!(twilio(400, 21211).code(), Some(21211));
        assert_eq!(
            twilio(400, 21211).to_string(),
            "Twilio error 21211 (HTTP 400): m"
        );
        let http = |http_status| SendError::Http {
            http_status,
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(http(429).class(), ErrorClass::Throughput);
        assert_eq!(http(502).class(), ErrorClass::Transient);
        assert_eq!(http(404).class(), ErrorClass::Request);
        assert_eq!(http(429).retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(
            SendError::Network("reset".into()).class(),
            ErrorClass::Transient
        );
    }
}
