//! What a Graph error means: [`ErrorClass`], [`classify`] and [`SendError`].

pub use crate::channel::ErrorClass;
use std::time::Duration;

/// Classifies a Graph error code.
pub fn classify(code: i64) -> ErrorClass {
    match code {
        190 | 0 | 3 | 10 | 131005 | 200..=299 => ErrorClass::Token,
        368 | 131031 | 131042 | 131045 | 130497 => ErrorClass::Account,
        130429 | 4 | 80007 | 131048 => ErrorClass::Throughput,
        131056 => ErrorClass::PairRate,
        1 | 2 | 131000 | 131016 | 131057 => ErrorClass::Transient,
        131047 => ErrorClass::Window,
        131030 | 131026 | 131021 | 131050 | 131049 | 130472 => ErrorClass::Recipient,
        100 | 131008 | 131009 | 131051 | 135000 | 131062 => ErrorClass::Request,
        131052 | 131053 => ErrorClass::Media,
        132000 | 132001 | 132012 | 132015 | 132016 => ErrorClass::Template,
        _ => ErrorClass::Unknown,
    }
}

/// Why a Graph call failed. Never holds the access token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Graph error object answered (any HTTP status)
    #[error(
        "Graph API error {code} (HTTP {http_status}): {message}{}{}",
        details_note(.details),
        retry_note(.retry_after)
    )]
    Graph {
        http_status: u16,
        code: i64,
        message: String,
        details: Option<String>,
        /// Retry-After header if any
        retry_after: Option<Duration>,
    },
    /// non-2xx without a parsable error object
    #[error(
        "Graph API answered HTTP {http_status} without an error object{}",
        retry_note(.retry_after)
    )]
    Http {
        http_status: u16,
        retry_after: Option<Duration>,
    },
    /// connect error, reset, timeout
    #[error("could not reach the Graph API: {0}")]
    Network(String),
    /// 2xx whose body lacks the expected id
    #[error("unexpected Graph API answer: {0}")]
    BadResponse(String),
    /// The request could not be built (an invalid MIME type, say); nothing
    /// was sent.
    #[error("invalid Graph API request: {0}")]
    Invalid(String),
}

/// `; retry after 2 s`, when the answer said when.
fn retry_note(after: &Option<Duration>) -> String {
    after
        .map(|d| format!("; retry after {} s", d.as_secs()))
        .unwrap_or_default()
}

/// ` (details)`, when Meta gave details.
fn details_note(details: &Option<String>) -> String {
    details
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default()
}

impl SendError {
    /// The class that decides what to do: the code's class for a Graph
    /// error; throughput for HTTP 429; transient for 5xx and network
    /// failures; a request problem otherwise.
    pub fn class(&self) -> ErrorClass {
        match self {
            SendError::Graph { code, .. } => classify(*code),
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

    /// The Graph error code, if Graph answered one.
    pub fn code(&self) -> Option<i64> {
        match self {
            SendError::Graph { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The `Retry-After` the server gave, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Graph { retry_after, .. } | SendError::Http { retry_after, .. } => {
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

    // ----- error classes (A.7) -----

    #[rstest]
    #[case(&[190, 0, 3, 10, 131005, 200, 250, 299], ErrorClass::Token)]
    #[case(&[368, 131031, 131042, 131045, 130497], ErrorClass::Account)]
    #[case(&[130429, 4, 80007, 131048], ErrorClass::Throughput)]
    #[case(&[131056], ErrorClass::PairRate)]
    #[case(&[1, 2, 131000, 131016, 131057], ErrorClass::Transient)]
    #[case(&[131047], ErrorClass::Window)]
    #[case(&[131030, 131026, 131021, 131050, 131049, 130472], ErrorClass::Recipient)]
    #[case(&[100, 131008, 131009, 131051, 135000, 131062], ErrorClass::Request)]
    #[case(&[131052, 131053], ErrorClass::Media)]
    #[case(&[132000, 132001, 132012, 132015, 132016], ErrorClass::Template)]
    #[case(&[-1, 5, 199, 300, 131001, 999999], ErrorClass::Unknown)]
    fn codes_are_classified_per_the_table(#[case] codes: &[i64], #[case] class: ErrorClass) {
        for &code in codes {
            assert_eq!(classify(code), class, "code {code}");
        }
    }

    #[test]
    fn only_rate_and_transient_classes_are_retryable() {
        use ErrorClass::*;
        for c in [Throughput, PairRate, Transient] {
            assert!(c.retryable(), "{c:?}");
        }
        for c in [
            Token, Account, Window, Recipient, Request, Media, Template, Unknown,
        ] {
            assert!(!c.retryable(), "{c:?}");
        }
    }

    #[test]
    fn send_errors_have_a_class_a_code_and_a_precise_message() {
        let window = SendError::Graph {
            http_status: 400,
            code: 131047,
            message: "Re-engagement message".into(),
            details: None,
            retry_after: None,
        };
        assert_eq!(
            window.to_string(),
            "Graph API error 131047 (HTTP 400): Re-engagement message"
        );
        assert_eq!(
            (window.class(), window.code()),
            (ErrorClass::Window, Some(131047))
        );
        let http = |s| SendError::Http {
            http_status: s,
            retry_after: None,
        };
        assert_eq!(http(429).class(), ErrorClass::Throughput);
        assert_eq!(http(503).class(), ErrorClass::Transient);
        assert_eq!(http(404).class(), ErrorClass::Request);
        assert_eq!(http(503).code(), None);
        assert_eq!(
            SendError::Network("reset".into()).class(),
            ErrorClass::Transient
        );
        assert_eq!(
            SendError::BadResponse("x".into()).class(),
            ErrorClass::Request
        );
        assert_eq!(
            SendError::Http {
                http_status: 429,
                retry_after: Some(Duration::from_secs(30))
            }
            .to_string(),
            "Graph API answered HTTP 429 without an error object; retry after 30 s"
        );
    }
}
