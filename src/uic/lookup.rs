//! What staff type to find a code (the lookup page, issue 15), read
//! forgivingly where that is safe: case, spaces, dashes and dots are
//! ignored; a complete code that does not match the format but would with
//! the usual look-alikes swapped (`0`/`O`, `1`/`I`/`L`, `5`/`S`, `8`/`B`,
//! `2`/`Z`, by position: letters in the name and city places, digits in the
//! year and gender places) is offered as "did you mean", never looked up
//! silently in its place; a beginning of a code (3 characters or more) looks
//! up the codes that start with it. A later phone's code (the code and a
//! letter, `MBEIBR7DA1B`) is a code like any other; a complete code without
//! a letter finds its later phones' codes too (the registry's range).
//!
//! Pure: no storage; `registry` runs the query.

use super::{UIC_LEN, UIC_SUFFIXED_LEN, Uic};

/// The shortest beginning looked up: fewer would list half the registry.
pub const PREFIX_MIN: usize = 3;

/// What the typed text asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// A well-formed code.
    Exact(Uic),
    /// Not a code as typed, but this one with look-alikes swapped: offered,
    /// not looked up.
    DidYouMean { typed: String, code: Uic },
    /// The beginning of a code (upper case, 3 to 9 characters, each fitting
    /// its place).
    Prefix(String),
    /// Nothing that can be looked up.
    Invalid(Invalid),
}

/// Why the text cannot be looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    Empty,
    /// Fewer than [`PREFIX_MIN`] characters.
    TooShort,
    /// More than a code's eleven characters (ten, and a later phone's
    /// letter).
    TooLong,
    /// A character that is in no code, or cannot be in its place.
    Characters,
}

/// What a place of the code holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Letter,
    Digit,
    Gender,
    /// A later phone's letter, B to Z.
    Suffix,
}

fn place(i: usize) -> Place {
    match i {
        6 => Place::Digit,
        9 => Place::Gender,
        UIC_LEN => Place::Suffix,
        _ => Place::Letter,
    }
}

fn fits(c: u8, p: Place) -> bool {
    match p {
        Place::Letter => c.is_ascii_uppercase(),
        Place::Digit => c.is_ascii_digit(),
        Place::Gender => (b'1'..=b'4').contains(&c),
        Place::Suffix => (b'B'..=b'Z').contains(&c),
    }
}

/// The look-alike of `c` that fits place `p`, if there is one.
fn swap(c: u8, p: Place) -> Option<u8> {
    let swapped = match (p, c) {
        (Place::Letter, b'0') => b'O',
        (Place::Letter, b'1') => b'I',
        (Place::Letter, b'5') => b'S',
        (Place::Letter, b'8') => b'B',
        (Place::Letter, b'2') => b'Z',
        (Place::Digit | Place::Gender, b'O' | b'Q' | b'D') => b'0',
        (Place::Digit | Place::Gender, b'I' | b'L') => b'1',
        (Place::Digit | Place::Gender, b'S') => b'5',
        (Place::Digit | Place::Gender, b'B') => b'8',
        (Place::Digit | Place::Gender, b'Z') => b'2',
        // A later phone's letter is never guessed.
        _ => return None,
    };
    fits(swapped, p).then_some(swapped)
}

/// Reads what was typed.
pub fn parse(typed: &str) -> Query {
    // Case, spaces and the separators people put in long codes are not
    // part of a code.
    let cleaned: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '_'))
        .flat_map(char::to_uppercase)
        .collect();
    if cleaned.is_empty() {
        return Query::Invalid(Invalid::Empty);
    }
    if !cleaned.is_ascii() {
        return Query::Invalid(Invalid::Characters);
    }
    let b = cleaned.as_bytes();
    if b.len() > UIC_SUFFIXED_LEN {
        return Query::Invalid(Invalid::TooLong);
    }
    if b.len() >= UIC_LEN {
        if let Ok(code) = Uic::parse(&cleaned) {
            return Query::Exact(code);
        }
        let mut fixed = b.to_vec();
        for (i, c) in fixed.iter_mut().enumerate() {
            let p = place(i);
            if !fits(*c, p) {
                match swap(*c, p) {
                    Some(s) => *c = s,
                    None => return Query::Invalid(Invalid::Characters),
                }
            }
        }
        return match Uic::parse(&String::from_utf8_lossy(&fixed)) {
            Ok(code) => Query::DidYouMean {
                typed: cleaned,
                code,
            },
            Err(_) => Query::Invalid(Invalid::Characters),
        };
    }
    if b.len() < PREFIX_MIN {
        return Query::Invalid(Invalid::TooShort);
    }
    if b.iter().enumerate().all(|(i, c)| fits(*c, place(i))) {
        Query::Prefix(cleaned)
    } else {
        Query::Invalid(Invalid::Characters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(s: &str) -> Uic {
        Uic::parse(s).unwrap()
    }

    #[test]
    fn a_code_is_found_whatever_its_case_and_spacing() {
        for typed in [
            "MBEIBR7DA1",
            "mbeibr7da1",
            " MBE IBR 7 DA 1 ",
            "mbe-ibr-7da1",
            "MBE.IBR.7DA.1",
        ] {
            assert_eq!(parse(typed), Query::Exact(code("MBEIBR7DA1")), "{typed:?}");
        }
    }

    #[test]
    fn look_alikes_are_offered_never_looked_up_in_place() {
        assert_eq!(
            parse("MBE1BR7DA1"),
            Query::DidYouMean {
                typed: "MBE1BR7DA1".into(),
                code: code("MBEIBR7DA1")
            }
        );
        assert_eq!(
            parse("m0beibrOdalb"),
            Query::Invalid(Invalid::TooLong),
            "twelve characters"
        );
        assert_eq!(
            parse("MBEIBRODAl"),
            Query::DidYouMean {
                typed: "MBEIBRODAL".into(),
                code: code("MBEIBR0DA1")
            }
        );
        assert_eq!(
            parse("0LUKAS5KI2"),
            Query::DidYouMean {
                typed: "0LUKAS5KI2".into(),
                code: code("OLUKAS5KI2")
            }
        );
    }

    #[test]
    fn a_later_phones_code_is_a_code_and_its_letter_is_never_guessed() {
        assert_eq!(parse("mbeibr7da1b"), Query::Exact(code("MBEIBR7DA1B")));
        assert_eq!(parse("MBE IBR 7DA1 Z"), Query::Exact(code("MBEIBR7DA1Z")));
        // A is the first phone's: it has no letter.
        assert_eq!(parse("MBEIBR7DA1A"), Query::Invalid(Invalid::Characters));
        assert_eq!(parse("MBEIBR7DA18"), Query::Invalid(Invalid::Characters));
        // The code's look-alikes are offered, the letter kept as typed.
        assert_eq!(
            parse("MBE1BR7DA1C"),
            Query::DidYouMean {
                typed: "MBE1BR7DA1C".into(),
                code: code("MBEIBR7DA1C")
            }
        );
    }

    #[test]
    fn a_beginning_of_three_characters_or_more_is_a_prefix() {
        assert_eq!(parse("mbe"), Query::Prefix("MBE".into()));
        assert_eq!(parse("MBEIBR7"), Query::Prefix("MBEIBR7".into()));
        assert_eq!(parse("mb"), Query::Invalid(Invalid::TooShort));
        // A digit where a letter goes: no code starts so.
        assert_eq!(parse("MB3"), Query::Invalid(Invalid::Characters));
    }

    #[test]
    fn hostile_text_is_refused_not_looked_up() {
        assert_eq!(parse(""), Query::Invalid(Invalid::Empty));
        assert_eq!(parse("   "), Query::Invalid(Invalid::Empty));
        assert_eq!(parse("MBE\0IBR"), Query::Invalid(Invalid::Characters));
        assert_eq!(parse("MBÉIBR7DA1"), Query::Invalid(Invalid::Characters));
        assert_eq!(parse("MBE%"), Query::Invalid(Invalid::Characters));
        assert_eq!(parse("'; DROP TABLE"), Query::Invalid(Invalid::Characters));
        assert_eq!(parse("'; DROP TABLES"), Query::Invalid(Invalid::TooLong));
        assert_eq!(parse(&"A".repeat(10_000)), Query::Invalid(Invalid::TooLong));
        assert_eq!(parse("MBEIBR7DA9"), Query::Invalid(Invalid::Characters));
    }

    proptest! {
        #[test]
        fn every_answer_is_well_formed_and_never_panics(s in "\\PC{0,14}") {
            match parse(&s) {
                Query::Exact(c) => prop_assert_eq!(Uic::parse(c.as_str()).ok(), Some(c)),
                Query::DidYouMean { code, typed } => {
                    prop_assert!((UIC_LEN..=UIC_SUFFIXED_LEN).contains(&typed.len()));
                    prop_assert!(Uic::parse(code.as_str()).is_ok());
                }
                Query::Prefix(p) => {
                    prop_assert!((PREFIX_MIN..UIC_LEN).contains(&p.len()));
                    prop_assert!(p.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
                }
                Query::Invalid(_) => {}
            }
        }

        #[test]
        fn a_real_code_typed_in_lower_case_with_spaces_is_found(
            code in "[A-Z]{6}[0-9][A-Z]{2}[1-4]",
        ) {
            let typed = format!(" {} {} ", code[..5].to_lowercase(), &code[5..]);
            prop_assert_eq!(parse(&typed), Query::Exact(Uic::parse(&code).unwrap()));
        }
    }
}
