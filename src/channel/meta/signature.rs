//! `X-Hub-Signature-256` and the webhook verification handshake.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

fn mac(app_secret: &str, body: &[u8]) -> Option<HmacSha256> {
    // HMAC accepts keys of any length: this never fails.
    let mut mac = HmacSha256::new_from_slice(app_secret.as_bytes()).ok()?;
    mac.update(body);
    Some(mac)
}

/// The `X-Hub-Signature-256` value Meta sends for this body:
/// `sha256=<lowercase hex of HMAC-SHA256(app secret, body)>`.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let digest = mac(app_secret, body)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("sha256={digest}")
}

/// Checks `X-Hub-Signature-256` over the raw body, in constant time. Hex in
/// either case is accepted; a missing or malformed header, or an empty app
/// secret (anyone could sign with it), fails.
pub fn verify_signature(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    if app_secret.is_empty() {
        return false;
    }
    let Some(header) = header.map(str::trim) else {
        return false;
    };
    let Some(hex_digest) = header
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("sha256="))
        .and_then(|_| header.get(7..))
    else {
        return false;
    };
    let Ok(tag) = hex::decode(hex_digest) else {
        return false;
    };
    if tag.len() != 32 {
        return false;
    }
    mac(app_secret, body).is_some_and(|m| m.verify_slice(&tag).is_ok())
}

/// Why a verification GET is refused (answer 403).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChallengeError {
    #[error("hub.mode must be \"subscribe\"")]
    WrongMode,
    #[error("hub.verify_token is missing")]
    MissingToken,
    #[error("hub.verify_token does not match any configured verify token")]
    UnknownToken,
    #[error("hub.challenge is missing")]
    MissingChallenge,
    #[error("hub.challenge is too long or holds control characters")]
    InvalidChallenge,
}

/// The longest `hub.challenge` echoed back (Meta's are short numbers).
const CHALLENGE_MAX: usize = 1024;

/// Answers Meta's verification GET: the challenge to return as the whole
/// plain-text body when `hub.mode` is `subscribe` and the token is known.
/// `is_known_token` should compare with [`tokens_equal`].
pub fn verify_challenge<'a>(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'a str>,
    is_known_token: impl Fn(&str) -> bool,
) -> Result<&'a str, ChallengeError> {
    if mode != Some("subscribe") {
        return Err(ChallengeError::WrongMode);
    }
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(ChallengeError::MissingToken)?;
    if !is_known_token(token) {
        return Err(ChallengeError::UnknownToken);
    }
    let challenge = challenge
        .filter(|c| !c.is_empty())
        .ok_or(ChallengeError::MissingChallenge)?;
    if challenge.len() > CHALLENGE_MAX || challenge.chars().any(char::is_control) {
        return Err(ChallengeError::InvalidChallenge);
    }
    Ok(challenge)
}

/// Compares two secrets in constant time, lengths included (the SHA-256
/// digests are compared, not the strings).
pub fn tokens_equal(a: &str, b: &str) -> bool {
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    da.as_slice().ct_eq(db.as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // ----- signature and handshake (A.1, A.3) -----

    const VECTOR_BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    const VECTOR_SIGNATURE: &str =
        "sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756";

    #[test]
    fn the_reference_signature_vector_matches() {
        assert_eq!(sign("test_app_secret", VECTOR_BODY), VECTOR_SIGNATURE);
        assert!(verify_signature(
            "test_app_secret",
            VECTOR_BODY,
            Some(VECTOR_SIGNATURE)
        ));
        assert!(verify_signature(
            "test_app_secret",
            VECTOR_BODY,
            Some(&VECTOR_SIGNATURE.to_uppercase())
        ));
        assert!(verify_signature(
            "test_app_secret",
            VECTOR_BODY,
            Some(&format!(" {VECTOR_SIGNATURE} "))
        ));
    }

    #[test]
    fn a_wrong_secret_body_or_header_fails_the_check() {
        let ok = |secret: &str, body: &[u8], header: Option<&str>| {
            verify_signature(secret, body, header)
        };
        assert!(!ok("other_secret", VECTOR_BODY, Some(VECTOR_SIGNATURE)));
        assert!(!ok(
            "test_app_secret",
            br#"{"object":"whatsapp_business_account","entry":[ ]}"#,
            Some(VECTOR_SIGNATURE)
        ));
        assert!(!ok("test_app_secret", VECTOR_BODY, None));
        assert!(!ok("test_app_secret", VECTOR_BODY, Some("")));
        assert!(!ok("test_app_secret", VECTOR_BODY, Some("sha256=")));
        assert!(!ok(
            "test_app_secret",
            VECTOR_BODY,
            Some(VECTOR_SIGNATURE.trim_start_matches("sha256="))
        ));
        assert!(!ok(
            "test_app_secret",
            VECTOR_BODY,
            Some(&VECTOR_SIGNATURE[..VECTOR_SIGNATURE.len() - 2])
        ));
        assert!(!ok(
            "test_app_secret",
            VECTOR_BODY,
            Some(&format!("{VECTOR_SIGNATURE}00"))
        ));
        assert!(!ok(
            "test_app_secret",
            VECTOR_BODY,
            Some(&VECTOR_SIGNATURE.replace("sha256=", "sha1="))
        ));
        assert!(!ok("test_app_secret", VECTOR_BODY, Some("sha256=zz€")));
        // An empty secret is refused even with a matching signature.
        assert!(!ok("", VECTOR_BODY, Some(&sign("", VECTOR_BODY))));
    }

    #[test]
    fn the_signature_covers_the_escaped_bytes_as_received() {
        let escaped = br#"{"text":"n\u00e9e"}"#;
        let raw = "{\"text\":\"née\"}".as_bytes();
        let header = sign("s3cret", escaped);
        assert!(verify_signature("s3cret", escaped, Some(&header)));
        assert!(!verify_signature("s3cret", raw, Some(&header)));
    }

    #[test]
    fn the_handshake_answers_the_challenge_for_a_known_token() {
        let known = |t: &str| tokens_equal(t, "verify-me");
        assert_eq!(
            verify_challenge(
                Some("subscribe"),
                Some("verify-me"),
                Some("1158201444"),
                known
            ),
            Ok("1158201444")
        );
        assert_eq!(
            verify_challenge(Some("unsubscribe"), Some("verify-me"), Some("1"), known),
            Err(ChallengeError::WrongMode)
        );
        assert_eq!(
            verify_challenge(None, Some("verify-me"), Some("1"), known),
            Err(ChallengeError::WrongMode)
        );
        assert_eq!(
            verify_challenge(Some("subscribe"), Some("verify-you"), Some("1"), known),
            Err(ChallengeError::UnknownToken)
        );
        assert_eq!(
            verify_challenge(Some("subscribe"), None, Some("1"), known),
            Err(ChallengeError::MissingToken)
        );
        assert_eq!(
            verify_challenge(Some("subscribe"), Some("verify-me"), None, known),
            Err(ChallengeError::MissingChallenge)
        );
        assert_eq!(
            verify_challenge(Some("subscribe"), Some("verify-me"), Some("1\r\n2"), known),
            Err(ChallengeError::InvalidChallenge)
        );
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(tokens_equal("abc", "abc"));
        assert!(tokens_equal("", ""));
        assert!(!tokens_equal("abc", "abd"));
        assert!(!tokens_equal("abc", "abcd"));
        assert!(!tokens_equal("abc", ""));
    }
}
