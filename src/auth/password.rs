//! argon2id password hashes, computed off the async threads.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest password accepted.
pub const MIN_LEN: usize = 10;
/// Longest password accepted (hashing a megabyte would be a cheap attack).
pub const MAX_LEN: usize = 256;

/// Lowest zxcvbn score accepted (0-4: 3 is "safely unguessable", about
/// 10^10 guesses).
pub const MIN_SCORE: u8 = 3;

/// Why a new password is refused, in the staff member's language.
/// `user_inputs` are what an attacker knows of the user (e-mail address,
/// name): a password built from them is weak.
pub fn check_new(
    password: &str,
    confirm: &str,
    lang: super::Lang,
    user_inputs: &[&str],
) -> Result<(), String> {
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
    strength(password, lang, user_inputs)
}

/// Refuses a password zxcvbn scores below `MIN_SCORE`, with its warning in
/// the user's language (zxcvbn's feedback, translated) and a summary of its
/// suggestions.
fn strength(password: &str, lang: super::Lang, user_inputs: &[&str]) -> Result<(), String> {
    // The e-mail address counts by its parts too (alice.mbuyi@ngo.cd).
    let mut inputs: Vec<String> = Vec::new();
    for input in user_inputs {
        let lower = input.trim().to_lowercase();
        inputs.extend(
            lower
                .split(|c: char| !c.is_alphanumeric())
                .filter(|p| p.chars().count() >= 3)
                .map(str::to_owned),
        );
        inputs.push(lower);
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(password, &refs);
    if u8::from(estimate.score()) >= MIN_SCORE {
        return Ok(());
    }
    let lowered = password.to_lowercase();
    let personal = inputs
        .iter()
        .any(|i| i.chars().count() >= 3 && lowered.contains(i.as_str()));
    let warning = estimate.feedback().and_then(|f| f.warning()).map(|w| {
        let (fr, en) = warning_text(w);
        lang.pick(fr, en)
    });
    let mut message = lang
        .pick(
            "Ce mot de passe est trop facile à deviner.",
            "This password is too easy to guess.",
        )
        .to_string();
    for part in [
        personal.then_some(lang.pick(PERSONAL.0, PERSONAL.1)),
        warning,
        Some(lang.pick(ADVICE.0, ADVICE.1)),
    ]
    .into_iter()
    .flatten()
    {
        message.push(' ');
        message.push_str(part);
    }
    Err(message)
}

/// What a password built from the user's e-mail address or name is told
/// (French, English).
const PERSONAL: (&str, &str) = (
    "Il reprend votre adresse e-mail ou votre nom.",
    "It contains your e-mail address or your name.",
);

/// What every refused password is advised (French, English).
const ADVICE: (&str, &str) = (
    "Prenez plutôt quelques mots peu courants, sans lien avec vous (une phrase que vous êtes seul à connaître).",
    "Use a few uncommon words instead, unrelated to you (a phrase only you know).",
);

/// zxcvbn's warning, translated (French, English).
fn warning_text(w: zxcvbn::feedback::Warning) -> (&'static str, &'static str) {
    use zxcvbn::feedback::Warning as W;
    match w {
        W::StraightRowsOfKeysAreEasyToGuess => (
            "Les rangées de touches du clavier se devinent facilement.",
            "Straight rows of keys are easy to guess.",
        ),
        W::ShortKeyboardPatternsAreEasyToGuess => (
            "Les courts motifs de clavier se devinent facilement.",
            "Short keyboard patterns are easy to guess.",
        ),
        W::RepeatsLikeAaaAreEasyToGuess => (
            "Les répétitions comme « aaa » se devinent facilement.",
            "Repeats like \"aaa\" are easy to guess.",
        ),
        W::RepeatsLikeAbcAbcAreOnlySlightlyHarderToGuess => (
            "Les répétitions comme « abcabcabc » ne sont guère plus difficiles à deviner que « abc ».",
            "Repeats like \"abcabcabc\" are only slightly harder to guess than \"abc\".",
        ),
        W::ThisIsATop10Password => (
            "C'est l'un des 10 mots de passe les plus courants.",
            "This is a top-10 common password.",
        ),
        W::ThisIsATop100Password => (
            "C'est l'un des 100 mots de passe les plus courants.",
            "This is a top-100 common password.",
        ),
        W::ThisIsACommonPassword => (
            "C'est un mot de passe très courant.",
            "This is a very common password.",
        ),
        W::ThisIsSimilarToACommonlyUsedPassword => (
            "Il ressemble à un mot de passe très utilisé.",
            "This is similar to a commonly used password.",
        ),
        W::SequencesLikeAbcAreEasyToGuess => (
            "Les suites comme abc ou 6543 se devinent facilement.",
            "Sequences like abc or 6543 are easy to guess.",
        ),
        W::RecentYearsAreEasyToGuess => (
            "Les années récentes se devinent facilement.",
            "Recent years are easy to guess.",
        ),
        W::AWordByItselfIsEasyToGuess => (
            "Un mot seul se devine facilement.",
            "A word by itself is easy to guess.",
        ),
        W::DatesAreOftenEasyToGuess => (
            "Les dates se devinent souvent facilement.",
            "Dates are often easy to guess.",
        ),
        W::NamesAndSurnamesByThemselvesAreEasyToGuess => (
            "Les noms et prénoms seuls se devinent facilement.",
            "Names and surnames by themselves are easy to guess.",
        ),
        W::CommonNamesAndSurnamesAreEasyToGuess => (
            "Les noms et prénoms courants se devinent facilement.",
            "Common names and surnames are easy to guess.",
        ),
    }
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
            check_new("short", "short", Lang::Fr, &[])
                .unwrap_err()
                .contains("10")
        );
        assert!(
            check_new("long enough pw", "long enough pX", Lang::En, &[])
                .unwrap_err()
                .contains("match")
        );
        assert!(check_new(&"x".repeat(300), &"x".repeat(300), Lang::En, &[]).is_err());
        // The passphrases the integration tests use are strong enough.
        for good in ["correct horse battery staple", "a brand new passphrase"] {
            assert!(check_new(good, good, Lang::Fr, &[]).is_ok(), "{good}");
        }
    }

    #[test]
    fn weak_and_common_passwords_are_refused_with_a_reason() {
        let e = check_new("password123", "password123", Lang::En, &[]).unwrap_err();
        assert!(e.contains("too easy to guess"), "{e}");
        let e = check_new("azertyuiop", "azertyuiop", Lang::Fr, &[]).unwrap_err();
        assert!(e.contains("trop facile à deviner"), "{e}");
        assert!(e.contains("courant"), "{e}");
        let e = check_new("1234567890", "1234567890", Lang::Fr, &[]).unwrap_err();
        assert!(e.contains("facile"), "{e}");
        // Built from the user's own e-mail address and name.
        let mine = "kabongombuyi";
        let e = check_new(
            mine,
            mine,
            Lang::En,
            &["kabongo.mbuyi@ngo.example", "Kabongo Mbuyi"],
        )
        .unwrap_err();
        assert!(e.contains("e-mail address or your name"), "{e}");
    }
}
