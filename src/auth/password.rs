//! argon2id password hashes, computed off the async threads.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest password accepted.
pub const MIN_LEN: usize = 10;
/// Longest password accepted (hashing a megabyte would be a cheap attack).
pub const MAX_LEN: usize = 256;

/// Why a new password is refused, in the staff member's language.
pub fn check_new(password: &str, confirm: &str, lang: super::Lang) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(match lang {
            super::Lang::Fr => {
                format!("Le mot de passe doit compter au moins {MIN_LEN} caractères.")
            }
            super::Lang::En => format!("The password must be at least {MIN_LEN} characters long."),
        });
    }
    if n > MAX_LEN {
        return Err(match lang {
            super::Lang::Fr => {
                format!("Le mot de passe doit compter au plus {MAX_LEN} caractères.")
            }
            super::Lang::En => format!("The password must be at most {MAX_LEN} characters long."),
        });
    }
    if password != confirm {
        return Err(lang
            .pick(
                "Les deux mots de passe ne sont pas identiques.",
                "The two passwords do not match.",
            )
            .to_string());
    }
    Ok(())
}

/// The PHC string (`$argon2id$v=19$…`) of a new password.
pub async fn hash(password: &str) -> anyhow::Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

/// True when `password` matches `phc`. With no hash (unknown user, or an
/// invitation not yet accepted) a dummy hash is checked all the same, so the
/// answer takes as long either way.
pub async fn verify(password: &str, phc: Option<&str>) -> bool {
    let password = password.to_owned();
    let phc = phc.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let (phc, real) = match phc {
            Some(p) => (p, true),
            None => (dummy().to_owned(), false),
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), phc.as_str())
            .is_ok();
        ok && real
    })
    .await
    .unwrap_or(false)
}

/// The hash of a random password nobody knows, made once.
fn dummy() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = uuid::Uuid::new_v4().to_string();
        Argon2::default()
            .hash_password(random.as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Lang;

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let a = hash("correct horse battery").await.unwrap();
        let b = hash("correct horse battery").await.unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("correct horse battery", Some(&a)).await);
        assert!(!verify("correct horse batterie", Some(&a)).await);
        assert!(!verify("", Some(&a)).await);
        assert!(!verify("anything", None).await);
        assert!(!verify("anything", Some("not a hash")).await);
    }

    #[test]
    fn new_password_rules() {
        assert!(
            check_new("short", "short", Lang::Fr)
                .unwrap_err()
                .contains("10")
        );
        assert!(
            check_new("long enough pw", "long enough pX", Lang::En)
                .unwrap_err()
                .contains("match")
        );
        assert!(check_new(&"x".repeat(300), &"x".repeat(300), Lang::En).is_err());
        assert!(check_new("long enough pw", "long enough pw", Lang::Fr).is_ok());
    }
}
