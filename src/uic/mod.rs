//! The Unique Identifier Code (UIC, "CIU" in French): normalisation of the
//! answers and the code itself. Pure functions, no I/O.
//!
//! Format `LLLFFFYCCG` (10 characters), see DESIGN.md section 1.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an answer could not be turned into its part of the code.
/// The flow maps each variant to a French (or English) explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AnswerError {
    /// No letter at all in a name answer ("123", "", "???").
    NoLetters,
    /// No digit / no recognisable year in a year answer.
    NoYear,
    /// A four-digit year outside 1900..=current year.
    YearOutOfRange,
    /// Several numbers, or a number of 3 or 5+ digits, ambiguous.
    AmbiguousYear,
    /// A city answer that is neither a 2-letter code nor a known city name.
    UnknownCity,
    /// A gender answer that is not 1-4 nor a recognised word.
    UnknownGender,
}

/// Gender code, the last character of the UIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Gender {
    Homme = 1,
    Femme = 2,
    Trans = 3,
    Autre = 4,
}

impl Gender {
    pub fn digit(self) -> u8 {
        self as u8
    }
}

/// One entry of an account's city list: the 2-letter code and the names
/// people may type for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct City {
    /// Two uppercase ASCII letters, e.g. "KN".
    pub code: String,
    /// Display name, e.g. "Kinshasa"; matched accent- and case-insensitively.
    pub name: String,
}

/// The five parts of a UIC, each already normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UicParts {
    /// 3 uppercase ASCII letters.
    pub last: String,
    /// 3 uppercase ASCII letters.
    pub first: String,
    /// 0..=9
    pub year_digit: u8,
    /// 2 uppercase ASCII letters.
    pub city: String,
    pub gender: Gender,
}

/// A well-formed UIC: always matches `^[A-Z]{6}[0-9][A-Z]{2}[1-4]$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uic(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("« {0} » n'est pas un CIU valide (format attendu : 3 lettres, 3 lettres, 1 chiffre, 2 lettres, 1 chiffre de 1 à 4, par exemple MBEIBR7DA1)")]
pub struct InvalidUic(pub String);

impl Uic {
    /// Parses a code typed by staff or read from storage. Accepts lower case
    /// and surrounding spaces; anything else must match the format exactly.
    pub fn parse(s: &str) -> Result<Uic, InvalidUic> {
        todo!()
    }
    pub fn from_parts(parts: &UicParts) -> Uic {
        todo!()
    }
    /// The parts back from the code.
    pub fn parts(&self) -> UicParts {
        todo!()
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl TryFrom<String> for Uic {
    type Error = InvalidUic;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Uic::parse(&s)
    }
}
impl From<Uic> for String {
    fn from(u: Uic) -> String {
        u.0
    }
}

/// Normalises free text to the uppercase ASCII letters A-Z it contains:
/// NFKD, combining marks stripped, Lingala/Kikongo ɛ->E and ɔ->O (and their
/// capitals), uppercase, every non-letter skipped.
pub fn letters(input: &str) -> String {
    todo!()
}

/// "Mbengue" -> "MBE", "N'Diaye" -> "NDI", "Ba" -> "BAX".
pub fn name_code(input: &str) -> Result<String, AnswerError> {
    todo!()
}

/// "7" -> 7, "1997" -> 7 (only years 1900..=current_year).
pub fn year_digit(input: &str, current_year: i32) -> Result<u8, AnswerError> {
    todo!()
}

/// "DA" -> "DA"; with a city list, "Kinshasa" -> its code.
pub fn city_code(input: &str, cities: &[City]) -> Result<String, AnswerError> {
    todo!()
}

/// "1".."4", "homme"/"femme"/"H"/"F"/... -> the gender.
pub fn gender(input: &str) -> Result<Gender, AnswerError> {
    todo!()
}
