//! A number's provider and credentials as an administrator types them (the
//! number page's form): read and checked here, so the page only shows the
//! result and storage only ever gets complete, well-formed settings.
//!
//! A secret field left empty keeps the secret already set (the page never
//! shows a secret back, only its last four characters). Problems name the
//! field, never the value typed (it may be a secret pasted in the wrong
//! box).

use super::Provider;
use crate::config::is_e164;
use rand::RngExt;

/// What the form sends, as typed.
#[derive(Debug, Default, Clone, Copy)]
pub struct ChannelInput<'a> {
    /// `sandbox`, `twilio` or `meta`.
    pub provider: &'a str,
    /// The number in E.164 (Twilio's sender; for Meta, shown only).
    pub phone_number: &'a str,
    pub twilio_account_sid: &'a str,
    pub twilio_auth_token: &'a str,
    pub meta_phone_number_id: &'a str,
    pub meta_waba_id: &'a str,
    pub meta_app_id: &'a str,
    pub meta_app_secret: &'a str,
    pub meta_access_token: &'a str,
    pub meta_verify_token: &'a str,
}

/// Which secrets the number has already (they are kept when left empty).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SecretsSet {
    pub twilio_auth_token: bool,
    pub meta_app_secret: bool,
    pub meta_access_token: bool,
    pub meta_verify_token: bool,
}

/// A field of the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Provider,
    PhoneNumber,
    TwilioAccountSid,
    TwilioAuthToken,
    MetaPhoneNumberId,
    MetaWabaId,
    MetaAppId,
    MetaAppSecret,
    MetaAccessToken,
    MetaVerifyToken,
}

/// One problem with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Required for this provider and neither typed nor already set.
    Missing(Field),
    /// Not of the field's form (see [`Field`]'s rules in `parse`).
    Malformed(Field),
}

/// A secret to store: replaced by a new value, or kept as it is.
#[derive(Clone, PartialEq, Eq)]
pub enum NewSecret {
    Keep,
    Set(String),
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NewSecret::Keep => f.write_str("Keep"),
            NewSecret::Set(_) => f.write_str("Set(***)"),
        }
    }
}

/// The settings the input describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelChange {
    pub provider: Provider,
    pub phone_number: Option<String>,
    pub twilio_account_sid: Option<String>,
    pub meta_phone_number_id: Option<String>,
    pub meta_waba_id: Option<String>,
    pub meta_app_id: Option<String>,
    pub twilio_auth_token: NewSecret,
    pub meta_app_secret: NewSecret,
    pub meta_access_token: NewSecret,
    pub meta_verify_token: NewSecret,
}

/// The provider a form names.
pub fn provider(s: &str) -> Option<Provider> {
    Provider::ALL
        .iter()
        .copied()
        .find(|p| p.as_str() == s.trim())
}

/// A fresh verify token for Meta's webhook handshake: 32 hex characters.
pub fn generate_verify_token() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

fn hex_of_len(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Visible ASCII, no space, within the lengths (tokens and secrets).
fn token_like(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
}

/// The number as typed with spaces, dashes, dots and a `whatsapp:` prefix
/// forgiven.
fn phone(s: &str) -> String {
    let s = s.trim();
    let s = s.strip_prefix("whatsapp:").unwrap_or(s);
    s.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect()
}

/// Reads the input: the settings, or every problem found (one per field).
pub fn parse(input: &ChannelInput<'_>, set: SecretsSet) -> Result<ChannelChange, Vec<Problem>> {
    let mut problems = Vec::new();
    let Some(provider) = provider(input.provider) else {
        return Err(vec![Problem::Malformed(Field::Provider)]);
    };
    let mut id = |value: &str, field: Field, required: bool, ok: &dyn Fn(&str) -> bool| {
        let v = value.trim();
        if v.is_empty() {
            if required {
                problems.push(Problem::Missing(field));
            }
            None
        } else if ok(v) {
            Some(v.to_string())
        } else {
            problems.push(Problem::Malformed(field));
            None
        }
    };
    let twilio = provider == Provider::Twilio;
    let meta = provider == Provider::Meta;
    // The other provider's ids are kept for a move back, checked only for
    // being plain visible text: a value left over from an older setup must
    // not stop a move away from it.
    let leftover = |v: &str| token_like(v, 1, 64);
    let number = phone(input.phone_number);
    let phone_number = id(&number, Field::PhoneNumber, twilio, &|v| is_e164(v));
    // AC then 32 hexadecimal characters.
    let sid_ok = |v: &str| {
        if twilio {
            v.strip_prefix("AC").is_some_and(|h| hex_of_len(h, 32))
        } else {
            leftover(v)
        }
    };
    let twilio_account_sid = id(
        input.twilio_account_sid,
        Field::TwilioAccountSid,
        twilio,
        &sid_ok,
    );
    let meta_id = |v: &str| if meta { digits(v, 5, 25) } else { leftover(v) };
    let meta_phone_number_id = id(
        input.meta_phone_number_id,
        Field::MetaPhoneNumberId,
        meta,
        &meta_id,
    );
    let meta_waba_id = id(input.meta_waba_id, Field::MetaWabaId, false, &meta_id);
    let meta_app_id = id(input.meta_app_id, Field::MetaAppId, false, &meta_id);

    let mut secret =
        |value: &str, field: Field, already: bool, required: bool, ok: &dyn Fn(&str) -> bool| {
            // A pasted secret often carries a line end or spaces around it.
            let v = value.trim();
            if v.is_empty() {
                if required && !already {
                    problems.push(Problem::Missing(field));
                }
                NewSecret::Keep
            } else if ok(v) {
                NewSecret::Set(v.to_string())
            } else {
                problems.push(Problem::Malformed(field));
                NewSecret::Keep
            }
        };
    // Twilio's auth token and Meta's app secret are 32 hexadecimal
    // characters; access tokens are long opaque strings.
    let twilio_auth_token = secret(
        input.twilio_auth_token,
        Field::TwilioAuthToken,
        set.twilio_auth_token,
        twilio,
        &|v| hex_of_len(v, 32),
    );
    let meta_app_secret = secret(
        input.meta_app_secret,
        Field::MetaAppSecret,
        set.meta_app_secret,
        meta,
        &|v| hex_of_len(v, 32),
    );
    let meta_access_token = secret(
        input.meta_access_token,
        Field::MetaAccessToken,
        set.meta_access_token,
        meta,
        &|v| token_like(v, 20, 4096),
    );
    let meta_verify_token = secret(
        input.meta_verify_token,
        Field::MetaVerifyToken,
        set.meta_verify_token,
        meta,
        &|v| token_like(v, 8, 256),
    );
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ChannelChange {
        provider,
        phone_number,
        twilio_account_sid,
        meta_phone_number_id,
        meta_waba_id,
        meta_app_id,
        twilio_auth_token,
        meta_app_secret,
        meta_access_token,
        meta_verify_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const HEX32: &str = "fedcba9876543210fedcba9876543210";
    const TOKEN: &str = "EAAGm0PX4ZCpsBAKZCZA0123456789";

    fn twilio() -> ChannelInput<'static> {
        ChannelInput {
            provider: "twilio",
            phone_number: "whatsapp:+243 81 000 0000",
            twilio_account_sid: SID,
            twilio_auth_token: HEX32,
            ..ChannelInput::default()
        }
    }

    fn meta() -> ChannelInput<'static> {
        ChannelInput {
            provider: "meta",
            meta_phone_number_id: "106540352242922",
            meta_waba_id: "102290129340398",
            meta_app_id: "123456789012345",
            meta_app_secret: HEX32,
            meta_access_token: TOKEN,
            meta_verify_token: "verify-me-please",
            ..ChannelInput::default()
        }
    }

    #[test]
    fn a_complete_twilio_number_is_read_with_its_sender_cleaned() {
        let c = parse(&twilio(), SecretsSet::default()).unwrap();
        assert_eq!(c.provider, Provider::Twilio);
        assert_eq!(c.phone_number.as_deref(), Some("+243810000000"));
        assert_eq!(c.twilio_account_sid.as_deref(), Some(SID));
        assert_eq!(c.twilio_auth_token, NewSecret::Set(HEX32.into()));
        assert_eq!(c.meta_access_token, NewSecret::Keep);
        assert!(!format!("{c:?}").contains(HEX32), "secrets hidden in Debug");
    }

    #[test]
    fn a_complete_meta_number_is_read_and_empty_secrets_keep_the_old_ones() {
        let c = parse(&meta(), SecretsSet::default()).unwrap();
        assert_eq!(c.provider, Provider::Meta);
        assert_eq!(c.meta_access_token, NewSecret::Set(TOKEN.into()));
        let again = ChannelInput {
            meta_app_secret: "",
            meta_access_token: " ",
            meta_verify_token: "",
            ..meta()
        };
        let all_set = SecretsSet {
            meta_app_secret: true,
            meta_access_token: true,
            meta_verify_token: true,
            ..SecretsSet::default()
        };
        let c = parse(&again, all_set).unwrap();
        assert_eq!(c.meta_access_token, NewSecret::Keep);
        assert_eq!(c.meta_app_secret, NewSecret::Keep);
        // Not set before: each is missing.
        let problems = parse(&again, SecretsSet::default()).unwrap_err();
        assert_eq!(
            problems,
            vec![
                Problem::Missing(Field::MetaAppSecret),
                Problem::Missing(Field::MetaAccessToken),
                Problem::Missing(Field::MetaVerifyToken),
            ]
        );
    }

    #[test]
    fn every_malformed_field_is_named() {
        let bad = ChannelInput {
            phone_number: "0810000000",
            twilio_account_sid: "SK0123456789abcdef0123456789abcdef",
            twilio_auth_token: "not-hex-not-32",
            ..twilio()
        };
        assert_eq!(
            parse(&bad, SecretsSet::default()).unwrap_err(),
            vec![
                Problem::Malformed(Field::PhoneNumber),
                Problem::Malformed(Field::TwilioAccountSid),
                Problem::Malformed(Field::TwilioAuthToken),
            ]
        );
        let bad = ChannelInput {
            meta_phone_number_id: "10654 0352",
            meta_waba_id: "abc",
            meta_app_id: "12",
            meta_app_secret: "0123",
            meta_access_token: "EAA with spaces inside it",
            meta_verify_token: "short",
            ..meta()
        };
        assert_eq!(parse(&bad, SecretsSet::default()).unwrap_err().len(), 6);
        assert_eq!(
            parse(
                &ChannelInput {
                    provider: "whatsapp",
                    ..meta()
                },
                SecretsSet::default()
            )
            .unwrap_err(),
            vec![Problem::Malformed(Field::Provider)]
        );
    }

    #[test]
    fn the_other_provider_s_leftover_ids_do_not_stop_a_move() {
        // An old Twilio SID of another shape, kept while moving to Meta.
        let i = ChannelInput {
            twilio_account_sid: "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            ..meta()
        };
        let c = parse(&i, SecretsSet::default()).unwrap();
        assert_eq!(c.twilio_account_sid.as_deref(), Some(i.twilio_account_sid));
        // Still plain text only.
        let i = ChannelInput {
            twilio_account_sid: "AC 12",
            ..meta()
        };
        assert_eq!(
            parse(&i, SecretsSet::default()).unwrap_err(),
            vec![Problem::Malformed(Field::TwilioAccountSid)]
        );
        // Chosen again, it must be right.
        let i = ChannelInput {
            twilio_account_sid: "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            ..twilio()
        };
        assert!(parse(&i, SecretsSet::default()).is_err());
    }

    #[test]
    fn control_characters_and_nul_are_refused_in_every_field() {
        for field in 0..6 {
            let mut i = meta();
            let poisoned = format!("{TOKEN}\u{0}");
            let v: &str = &poisoned;
            match field {
                0 => i.meta_phone_number_id = "1065403\u{0}52242922",
                1 => i.meta_app_id = "12345\n6789",
                2 => i.meta_access_token = v,
                3 => i.meta_verify_token = "verify\u{7}me-please",
                4 => i.meta_app_secret = "0123456789abcdef\u{0}123456789abcdef",
                _ => i.meta_waba_id = "1022901\t29340398",
            }
            assert!(parse(&i, SecretsSet::default()).is_err(), "field {field}");
        }
    }

    #[test]
    fn a_sandbox_needs_nothing_and_a_verify_token_is_generated_fresh() {
        let c = parse(
            &ChannelInput {
                provider: "sandbox",
                ..ChannelInput::default()
            },
            SecretsSet::default(),
        )
        .unwrap();
        assert_eq!(c.provider, Provider::Sandbox);
        let (a, b) = (generate_verify_token(), generate_verify_token());
        assert_ne!(a, b);
        assert!(hex_of_len(&a, 32));
        // A generated token is accepted by the form.
        let i = ChannelInput {
            meta_verify_token: &a,
            ..meta()
        };
        assert!(parse(&i, SecretsSet::default()).is_ok());
    }

    proptest! {
        #[test]
        fn no_input_panics_and_a_problem_never_carries_the_value(
            fields in prop::collection::vec(".{0,80}", 10),
            provider in prop::sample::select(vec!["sandbox", "twilio", "meta", "x"]),
        ) {
            let i = ChannelInput {
                provider,
                phone_number: &fields[0],
                twilio_account_sid: &fields[1],
                twilio_auth_token: &fields[2],
                meta_phone_number_id: &fields[3],
                meta_waba_id: &fields[4],
                meta_app_id: &fields[5],
                meta_app_secret: &fields[6],
                meta_access_token: &fields[7],
                meta_verify_token: &fields[8],
            };
            match parse(&i, SecretsSet::default()) {
                Ok(c) => {
                    // What is kept is trimmed and visible.
                    for v in [&c.phone_number, &c.twilio_account_sid, &c.meta_phone_number_id]
                        .into_iter()
                        .flatten()
                    {
                        prop_assert!(v.bytes().all(|b| b.is_ascii_graphic()));
                    }
                }
                Err(problems) => prop_assert!(!problems.is_empty()),
            }
        }
    }
}
