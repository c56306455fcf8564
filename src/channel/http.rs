//! What the provider clients share: error texts of HTTP calls, with the
//! secrets they were made with taken out.

/// A reqwest error with its causes (`connection refused`, `timed out`…),
/// which its own text leaves out.
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("timed out: {}", error_chain(e));
    }
    error_chain(e)
}

pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Replaces the token wherever it appears (real tokens are long; a very
/// short one is not searched for, as it would mangle ordinary words).
pub fn redact(text: String, token: &str) -> String {
    if token.len() >= 8 && text.contains(token) {
        text.replace(token, "[redacted]")
    } else {
        text
    }
}

/// The `Retry-After` of an answer, in seconds (the form both providers use).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
}
