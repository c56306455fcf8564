//! DHIS-2 identifiers: [`Uid`], eleven ASCII letters and digits starting
//! with a letter (reference C.1). A value of this type has been checked, so
//! a payload built from it cannot fail with E1048 (invalid UID).
//!
//! UIDs are minted locally by [`Uid::generate`] (the reference allows it) or
//! asked of the server (`/api/system/id`, see the client).

use rand::RngExt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The length of every UID.
pub const UID_LEN: usize = 11;

const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A validated DHIS-2 UID (`^[A-Za-z][A-Za-z0-9]{10}$`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid(String);

/// Why a string is not a UID. The text never repeats the input (it may be
/// anything a person pasted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UidError {
    #[error("a DHIS-2 UID has 11 characters, not {0}")]
    Length(usize),
    #[error("a DHIS-2 UID starts with a letter")]
    FirstNotLetter,
    #[error("a DHIS-2 UID holds only ASCII letters and digits")]
    NotAlphanumeric,
}

impl Uid {
    /// Checks `s` as given (no trimming: callers trim what people type).
    pub fn parse(s: &str) -> Result<Uid, UidError> {
        // Counted in characters so that the error names what a person sees.
        let chars = s.chars().count();
        if chars != UID_LEN {
            return Err(UidError::Length(chars));
        }
        let bytes = s.as_bytes();
        if !bytes[0].is_ascii_alphabetic() {
            return Err(UidError::FirstNotLetter);
        }
        if !bytes.iter().all(u8::is_ascii_alphanumeric) {
            return Err(UidError::NotAlphanumeric);
        }
        Ok(Uid(s.to_string()))
    }

    /// A new random UID, letter first as DHIS-2 requires. 52 × 62^10
    /// (about 4.3 × 10^19) values: collisions are not a practical concern.
    pub fn generate() -> Uid {
        let mut rng = rand::rng();
        let mut s = String::with_capacity(UID_LEN);
        s.push(LETTERS[rng.random_range(0..LETTERS.len())] as char);
        for _ in 1..UID_LEN {
            s.push(ALPHANUMERIC[rng.random_range(0..ALPHANUMERIC.len())] as char);
        }
        Uid(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uid({})", self.0)
    }
}

impl FromStr for Uid {
    type Err = UidError;
    fn from_str(s: &str) -> Result<Uid, UidError> {
        Uid::parse(s)
    }
}

impl TryFrom<String> for Uid {
    type Error = UidError;
    fn try_from(s: String) -> Result<Uid, UidError> {
        Uid::parse(&s)
    }
}

impl AsRef<str> for Uid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Uid {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Uid {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Serialize for Uid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Uid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Uid, D::Error> {
        let s = String::deserialize(deserializer)?;
        Uid::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_reference_uids_are_valid() {
        for s in [
            "Y0moqFplrX4",
            "WI0VHXuWQuV",
            "Kj6vYde4LHh",
            "IpHINAT79UW",
            "DiszpKrYNg8",
            "ciuAttr0001",
            "nEenWmSyUEp",
        ] {
            assert_eq!(Uid::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn each_rule_has_its_error() {
        assert_eq!(Uid::parse(""), Err(UidError::Length(0)));
        assert_eq!(Uid::parse("Kj6vYde4LH"), Err(UidError::Length(10)));
        assert_eq!(Uid::parse("Kj6vYde4LHhx"), Err(UidError::Length(12)));
        assert_eq!(Uid::parse(" Kj6vYde4LH"), Err(UidError::FirstNotLetter));
        assert_eq!(Uid::parse("0j6vYde4LHh"), Err(UidError::FirstNotLetter));
        assert_eq!(Uid::parse("Kj6vYde4LH_"), Err(UidError::NotAlphanumeric));
        assert_eq!(Uid::parse("Kj6vYde4LH-"), Err(UidError::NotAlphanumeric));
        // 11 characters but more bytes: refused on characters, no panic.
        assert_eq!(Uid::parse("éj6vYde4LHh"), Err(UidError::FirstNotLetter));
        assert_eq!(Uid::parse("Kj6vYde4LHé"), Err(UidError::NotAlphanumeric));
        assert_eq!(Uid::parse("Kj6vYde4LH٣"), Err(UidError::NotAlphanumeric));
        assert_eq!(
            UidError::Length(3).to_string(),
            "a DHIS-2 UID has 11 characters, not 3"
        );
    }

    #[test]
    fn serde_reads_and_writes_a_plain_string_and_refuses_a_bad_one() {
        let uid = Uid::parse("Kj6vYde4LHh").unwrap();
        assert_eq!(serde_json::to_string(&uid).unwrap(), "\"Kj6vYde4LHh\"");
        assert_eq!(serde_json::from_str::<Uid>("\"Kj6vYde4LHh\"").unwrap(), uid);
        let err = serde_json::from_str::<Uid>("\"1bad\"").unwrap_err();
        assert!(err.to_string().contains("11 characters, not 4"), "{err}");
        assert_eq!(uid.to_string(), "Kj6vYde4LHh");
        assert_eq!(format!("{uid:?}"), "Uid(Kj6vYde4LHh)");
        assert_eq!("Kj6vYde4LHh".parse::<Uid>(), Ok(uid));
    }

    #[test]
    fn generated_uids_differ() {
        let a: std::collections::HashSet<Uid> = (0..1000).map(|_| Uid::generate()).collect();
        assert_eq!(a.len(), 1000);
    }

    proptest! {
        #[test]
        fn a_generated_uid_always_parses(_n in 0u8..200) {
            let uid = Uid::generate();
            prop_assert_eq!(uid.as_str().len(), UID_LEN);
            prop_assert!(uid.as_str().as_bytes()[0].is_ascii_alphabetic());
            prop_assert_eq!(Uid::parse(uid.as_str()), Ok(uid.clone()));
        }

        #[test]
        fn parse_agrees_with_the_pattern(s in "\\PC{0,14}") {
            let by_rule = s.chars().count() == 11
                && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && s.chars().all(|c| c.is_ascii_alphanumeric());
            prop_assert_eq!(Uid::parse(&s).is_ok(), by_rule);
        }

        #[test]
        fn every_matching_string_parses(s in "[A-Za-z][A-Za-z0-9]{10}") {
            prop_assert_eq!(Uid::parse(&s).map(Uid::into_string), Ok(s));
        }
    }
}
