//! The Twilio credential check: [`check_account`] fetches the account the
//! SID and auth token open, and says precisely what is wrong ([`Problem`]).
//!
//! `GET /2010-04-01/Accounts/{sid}.json` is outside the wire reference
//! (B.1 and B.6 list only the Messages resource); this follows Twilio's
//! public Accounts resource documentation: JSON fields `sid`,
//! `friendly_name`, `status` (`active`, `suspended`, `closed`) and `type`
//! (`Trial`, `Full`), and 401 with code 20003 for bad credentials.

use super::{Credentials, SendError, TwilioClient, is_account_sid};
use crate::auth::Lang;

/// The longest auth token accepted before any call (Twilio's are 32
/// characters).
const AUTH_TOKEN_MAX: usize = 256;

/// An account's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Suspended,
    Closed,
}

impl AccountStatus {
    pub fn parse(s: &str) -> Option<AccountStatus> {
        match s.trim().to_ascii_lowercase().as_str() {
            "active" => Some(AccountStatus::Active),
            "suspended" => Some(AccountStatus::Suspended),
            "closed" => Some(AccountStatus::Closed),
            _ => None,
        }
    }
}

/// A trial account can only message verified numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    Trial,
    Full,
}

/// The account behind working credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioAccount {
    pub sid: String,
    pub friendly_name: String,
    pub status: AccountStatus,
    /// `None` for a type this version does not know.
    pub kind: Option<AccountKind>,
}

/// What is wrong with a set of Twilio credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not `AC` and 32 hexadecimal digits; nothing was sent.
    MalformedSid,
    /// Empty, too long, or with spaces or control characters; nothing was
    /// sent.
    MalformedAuthToken,
    /// 401 (code 20003): the SID or the auth token is wrong.
    WrongCredentials,
    /// 404: these credentials do not open this account.
    NotFound,
    /// The account exists but is suspended or closed.
    NotActive(AccountStatus),
    /// Twilio could not be reached, was overloaded, or answered something
    /// unreadable.
    ProviderDown,
    /// Any other refusal.
    Refused { http_status: u16, code: Option<i64> },
}

impl Problem {
    /// The text shown to staff, French or English.
    pub fn text(&self, lang: Lang) -> String {
        let fr = lang == Lang::Fr;
        let pick = |f: &str, e: &str| if fr { f.to_string() } else { e.to_string() };
        match self {
            Problem::MalformedSid => pick(
                "L'identifiant du compte Twilio (Account SID) commence par AC suivi de 32 chiffres ou lettres a à f.",
                "The Twilio Account SID is AC followed by 32 digits or letters a to f.",
            ),
            Problem::MalformedAuthToken => pick(
                "Le jeton d'authentification Twilio (Auth Token) est vide, trop long, ou contient des espaces ou des caractères invisibles : copiez-le à nouveau.",
                "The Twilio Auth Token is empty, too long, or contains spaces or invisible characters: copy it again.",
            ),
            Problem::WrongCredentials => pick(
                "Twilio refuse ces identifiants (code 20003) : l'Account SID ou l'Auth Token est faux.",
                "Twilio rejects these credentials (code 20003): the Account SID or the Auth Token is wrong.",
            ),
            Problem::NotFound => pick(
                "Twilio ne trouve pas ce compte avec ces identifiants.",
                "Twilio does not find this account with these credentials.",
            ),
            Problem::NotActive(AccountStatus::Suspended) => pick(
                "Ce compte Twilio est suspendu : réglez le problème dans la console Twilio.",
                "This Twilio account is suspended: sort it out in the Twilio console.",
            ),
            Problem::NotActive(AccountStatus::Closed) => pick(
                "Ce compte Twilio est fermé.",
                "This Twilio account is closed.",
            ),
            Problem::NotActive(AccountStatus::Active) => pick(
                "Ce compte Twilio est actif.",
                "This Twilio account is active.",
            ),
            Problem::ProviderDown => pick(
                "Twilio ne répond pas correctement pour le moment : rien n'a été changé, réessayez dans quelques minutes.",
                "Twilio is not answering properly right now: nothing was changed, try again in a few minutes.",
            ),
            Problem::Refused { http_status, code } => {
                let code = code.map_or_else(String::new, |c| format!(", code {c}"));
                if fr {
                    format!("Twilio a refusé la vérification (HTTP {http_status}{code}).")
                } else {
                    format!("Twilio refused the check (HTTP {http_status}{code}).")
                }
            }
        }
    }
}

/// An auth token as pasted: 1..=256 visible ASCII characters.
pub fn auth_token_shape_ok(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= AUTH_TOKEN_MAX
        && token.bytes().all(|b| b.is_ascii_graphic())
}

/// What a failed fetch means.
fn problem_of(error: &SendError) -> Problem {
    match error {
        SendError::Twilio { code: 20003, .. }
        | SendError::Http {
            http_status: 401, ..
        } => Problem::WrongCredentials,
        SendError::Twilio {
            http_status: 404, ..
        }
        | SendError::Http {
            http_status: 404, ..
        } => Problem::NotFound,
        SendError::Network(_) | SendError::BadResponse(_) => Problem::ProviderDown,
        e if e.class().retryable() => Problem::ProviderDown,
        SendError::Twilio {
            http_status, code, ..
        } => Problem::Refused {
            http_status: *http_status,
            code: Some(*code),
        },
        SendError::Http { http_status, .. } => Problem::Refused {
            http_status: *http_status,
            code: None,
        },
        SendError::Invalid(_) => Problem::MalformedSid,
    }
}

/// Fetches the account with its credentials (HTTP Basic auth): the
/// account when it is active, else what is wrong. The SID's and token's
/// shapes are checked first, so nothing odd reaches a URL or a header.
pub async fn check_account(
    client: &TwilioClient,
    account_sid: &str,
    auth_token: &str,
) -> Result<TwilioAccount, Problem> {
    if !is_account_sid(account_sid) {
        return Err(Problem::MalformedSid);
    }
    if !auth_token_shape_ok(auth_token) {
        return Err(Problem::MalformedAuthToken);
    }
    let creds = Credentials {
        account_sid,
        auth_token,
    };
    let info = client
        .fetch_account(&creds)
        .await
        .map_err(|e| problem_of(&e))?;
    let status = AccountStatus::parse(&info.status).ok_or(Problem::ProviderDown)?;
    if status != AccountStatus::Active {
        return Err(Problem::NotActive(status));
    }
    Ok(TwilioAccount {
        sid: info.sid,
        friendly_name: info.friendly_name,
        status,
        kind: match info.kind.trim().to_ascii_lowercase().as_str() {
            "trial" => Some(AccountKind::Trial),
            "full" => Some(AccountKind::Full),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn statuses_are_parsed_and_others_refused() {
        assert_eq!(AccountStatus::parse("active"), Some(AccountStatus::Active));
        assert_eq!(
            AccountStatus::parse("Suspended"),
            Some(AccountStatus::Suspended)
        );
        assert_eq!(AccountStatus::parse("closed"), Some(AccountStatus::Closed));
        assert_eq!(AccountStatus::parse("gone"), None);
    }

    #[test]
    fn errors_map_to_precise_problems() {
        let twilio = |http_status, code| SendError::Twilio {
            http_status,
            code,
            message: "m".into(),
            retry_after: None,
        };
        let http = |http_status| SendError::Http {
            http_status,
            retry_after: None,
        };
        assert_eq!(problem_of(&twilio(401, 20003)), Problem::WrongCredentials);
        assert_eq!(problem_of(&http(401)), Problem::WrongCredentials);
        assert_eq!(problem_of(&twilio(404, 20404)), Problem::NotFound);
        assert_eq!(problem_of(&http(503)), Problem::ProviderDown);
        assert_eq!(problem_of(&twilio(429, 20429)), Problem::ProviderDown);
        assert_eq!(
            problem_of(&SendError::Network("reset".into())),
            Problem::ProviderDown
        );
        assert_eq!(
            problem_of(&twilio(403, 20005)),
            Problem::Refused {
                http_status: 403,
                code: Some(20005)
            }
        );
    }

    #[tokio::test]
    async fn malformed_inputs_are_refused_before_any_call() {
        // Nothing listens on port 1: a call would be ProviderDown.
        let client = TwilioClient::new("http://127.0.0.1:1", Duration::from_secs(1));
        let sid = "AC0123456789abcdef0123456789abcdef";
        for bad in [
            "",
            "AC../x",
            "SM0123456789abcdef0123456789abcdef",
            "AC0123456789abcdef0123456789abcdeg",
        ] {
            assert_eq!(
                check_account(&client, bad, "token").await,
                Err(Problem::MalformedSid),
                "{bad}"
            );
        }
        let huge = "a".repeat(AUTH_TOKEN_MAX + 1);
        for bad in ["", "tok en", "tok\0en", "tok\nen", huge.as_str()] {
            assert_eq!(
                check_account(&client, sid, bad).await,
                Err(Problem::MalformedAuthToken),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_account(&client, sid, "0123456789abcdef0123456789abcdef").await,
            Err(Problem::ProviderDown)
        );
    }

    #[test]
    fn every_problem_has_a_french_and_an_english_text() {
        for p in [
            Problem::MalformedSid,
            Problem::MalformedAuthToken,
            Problem::WrongCredentials,
            Problem::NotFound,
            Problem::NotActive(AccountStatus::Suspended),
            Problem::NotActive(AccountStatus::Closed),
            Problem::ProviderDown,
            Problem::Refused {
                http_status: 403,
                code: Some(20005),
            },
        ] {
            let (fr, en) = (p.text(Lang::Fr), p.text(Lang::En));
            assert!(!fr.is_empty() && !en.is_empty() && fr != en, "{p:?}");
        }
    }
}
