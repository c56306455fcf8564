//! The Unique Identifier Code (UIC, "CIU" in French): normalisation of the
//! answers and the code itself. Pure functions, no I/O.
//!
//! Format `LLLFFFYCCG` (10 characters), see DESIGN.md section 1; a code
//! a supervisor split (two people, one code: [`distinct_codes`]) carries
//! one more letter, `LLLFFFYCCGS` (11 characters).
//!
//! Every function here is total: any string, however long or strange, gives
//! a value or an [`AnswerError`], never a panic.

use serde::{Deserialize, Serialize};
use std::fmt;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

pub mod lookup;
#[cfg(test)]
mod tests;

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
    /// 1, man.
    Homme = 1,
    /// 2, woman.
    Femme = 2,
    /// 3, trans.
    Trans = 3,
    /// 4, other.
    Autre = 4,
}

impl Gender {
    /// The digit written in the code, 1..=4.
    pub fn digit(self) -> u8 {
        self as u8
    }

    /// The gender for a digit 1..=4, `None` for any other number.
    pub fn from_digit(digit: u8) -> Option<Gender> {
        match digit {
            1 => Some(Gender::Homme),
            2 => Some(Gender::Femme),
            3 => Some(Gender::Trans),
            4 => Some(Gender::Autre),
            _ => None,
        }
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
    /// The gender, written as its digit 1..=4.
    pub gender: Gender,
}

/// A well-formed UIC: always matches `^[A-Z]{6}[0-9][A-Z]{2}[1-4][B-Z]?$`
/// (the last letter only on a code given to a later phone of a collision,
/// see [`distinct_codes`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uic(String);

/// A string that is not a UIC; holds the text as given (trimmed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "« {0} » n'est pas un CIU valide (format attendu : 3 lettres, 3 lettres, 1 chiffre, 2 lettres, 1 chiffre de 1 à 4, par exemple MBEIBR7DA1)"
)]
pub struct InvalidUic(pub String);

/// The length of a UIC computed from answers, in characters (all ASCII,
/// so also in bytes).
pub const UIC_LEN: usize = 10;
/// The length of a code given to a later phone of a collision: the code
/// and one letter.
pub const UIC_SUFFIXED_LEN: usize = UIC_LEN + 1;

/// The letters a split gives, in order: `A` is the first phone's (it keeps
/// the code as it is, without a letter).
const SUFFIXES: std::ops::RangeInclusive<u8> = b'B'..=b'Z';

/// Whether `b` is exactly `[A-Z]{6}[0-9][A-Z]{2}[1-4][B-Z]?`.
fn is_well_formed(b: &[u8]) -> bool {
    (b.len() == UIC_LEN || (b.len() == UIC_SUFFIXED_LEN && SUFFIXES.contains(&b[UIC_LEN])))
        && b[..6].iter().all(u8::is_ascii_uppercase)
        && b[6].is_ascii_digit()
        && b[7..9].iter().all(u8::is_ascii_uppercase)
        && (b'1'..=b'4').contains(&b[9])
}

/// Why a collision cannot be split as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The code to split is itself a later phone's (it has a letter).
    #[error(
        "« {0} » est déjà le code d'un téléphone séparé : seul le code d'origine se sépare (only the original code is split)"
    )]
    AlreadySuffixed(String),
    /// More later phones than letters B to Z: `wanted` codes, `free` left.
    #[error(
        "trop de téléphones pour un même code : {wanted} à séparer, {free} lettres libres (B à Z) ; too many phones for one code: {wanted} to split, {free} letters left"
    )]
    TooManyPhones { wanted: usize, free: usize },
}

/// The codes of the later phones when a supervisor decides that the phones
/// registering `base` are different people (issue 15).
///
/// The rule: the first phone (the earliest to register the code) keeps
/// `base`; every later phone, in the order they first registered it, gets
/// `base` followed by one letter, `B`, `C`, … `Z` (`MBEIBR7DA1` ->
/// `MBEIBR7DA1B`), skipping the letters earlier splits already gave
/// (`taken`: the base's existing suffixed codes, in any order). More later
/// phones than free letters is [`SplitError::TooManyPhones`], and nothing is
/// given: a split is all or nothing.
pub fn distinct_codes(base: &Uic, taken: &[Uic], later: usize) -> Result<Vec<Uic>, SplitError> {
    if base.suffix().is_some() {
        return Err(SplitError::AlreadySuffixed(base.0.clone()));
    }
    let used: Vec<char> = taken
        .iter()
        .filter(|u| u.base_str() == base.as_str())
        .filter_map(Uic::suffix)
        .collect();
    let free: Vec<char> = SUFFIXES
        .map(char::from)
        .filter(|c| !used.contains(c))
        .collect();
    if later > free.len() {
        return Err(SplitError::TooManyPhones {
            wanted: later,
            free: free.len(),
        });
    }
    Ok(free
        .into_iter()
        .take(later)
        .map(|c| Uic(format!("{}{c}", base.0)))
        .collect())
}

impl Uic {
    /// Parses a code typed by staff or read from storage. Accepts lower case
    /// and surrounding spaces; anything else must match the format exactly.
    pub fn parse(s: &str) -> Result<Uic, InvalidUic> {
        let trimmed = s.trim();
        let upper = trimmed.to_ascii_uppercase();
        if is_well_formed(upper.as_bytes()) {
            Ok(Uic(upper))
        } else {
            Err(InvalidUic(trimmed.to_owned()))
        }
    }

    /// Builds the code from its parts.
    ///
    /// Parts from [`name_code`], [`year_digit`], [`city_code`] and [`gender`]
    /// are used as they are. Since a `Uic` must always be well formed and this
    /// cannot fail, parts built by hand are normalised defensively: names via
    /// [`letters`] cut or padded with X to 3, the city likewise to 2, the year
    /// digit taken modulo 10.
    pub fn from_parts(parts: &UicParts) -> Uic {
        let mut code = String::with_capacity(UIC_LEN);
        code.push_str(&padded_letters(&parts.last, 3));
        code.push_str(&padded_letters(&parts.first, 3));
        code.push(char::from(b'0' + parts.year_digit % 10));
        code.push_str(&padded_letters(&parts.city, 2));
        code.push(char::from(b'0' + parts.gender.digit()));
        Uic(code)
    }

    /// The parts back from the code (a suffixed code's are its base's).
    pub fn parts(&self) -> UicParts {
        let s = &self.0;
        let b = s.as_bytes();
        UicParts {
            last: s[0..3].to_owned(),
            first: s[3..6].to_owned(),
            year_digit: b[6] - b'0',
            city: s[7..9].to_owned(),
            // The invariant guarantees 1..=4; Autre only keeps this total.
            gender: Gender::from_digit(b[9] - b'0').unwrap_or(Gender::Autre),
        }
    }

    /// The code, 10 ASCII characters (11 for a later phone's code).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The letter a split gave this code, if it is a later phone's.
    pub fn suffix(&self) -> Option<char> {
        self.0.as_bytes().get(UIC_LEN).map(|&b| char::from(b))
    }

    /// The code computed from the answers: this one without its letter.
    pub fn base(&self) -> Uic {
        Uic(self.base_str().to_owned())
    }

    fn base_str(&self) -> &str {
        &self.0[..UIC_LEN]
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

/// Letters that NFKD leaves alone but that have an obvious Latin reading:
/// Lingala/Kikongo open vowels, Nordic/Germanic/Slavic letters and the hooked
/// letters of African alphabets. Already uppercase; anything else is `None`.
fn fold_special(c: char) -> Option<&'static str> {
    Some(match c {
        'ɛ' | 'Ɛ' => "E",
        'ɔ' | 'Ɔ' => "O",
        'ø' | 'Ø' => "O",
        'æ' | 'Æ' => "AE",
        'œ' | 'Œ' => "OE",
        'ß' | 'ẞ' => "SS",
        'ł' | 'Ł' => "L",
        'đ' | 'Đ' | 'ð' | 'Ð' => "D",
        'ŋ' | 'Ŋ' => "N",
        'þ' | 'Þ' => "TH",
        'ı' => "I",
        'ħ' | 'Ħ' => "H",
        'ŧ' | 'Ŧ' => "T",
        'ɓ' | 'Ɓ' => "B",
        'ɗ' | 'Ɗ' => "D",
        'ƙ' | 'Ƙ' => "K",
        'ƴ' | 'Ƴ' => "Y",
        'ɲ' | 'Ɲ' => "N",
        'ǝ' | 'Ǝ' | 'ə' | 'Ə' => "E",
        'ɨ' | 'Ɨ' | 'ɩ' | 'Ɩ' => "I",
        'ʉ' | 'Ʉ' | 'ʊ' | 'Ʊ' => "U",
        'ʋ' | 'Ʋ' => "V",
        'ɣ' | 'Ɣ' => "G",
        'ʒ' | 'Ʒ' => "Z",
        _ => return None,
    })
}

/// One character of the normalised stream: ASCII letters uppercased, special
/// letters folded, everything else (digits, punctuation, other scripts)
/// passed through for the caller to interpret.
enum Folded {
    One(char),
    Many(&'static str),
}

impl Iterator for Folded {
    type Item = char;
    fn next(&mut self) -> Option<char> {
        match self {
            Folded::One(c) => {
                let c = *c;
                *self = Folded::Many("");
                Some(c)
            }
            Folded::Many(s) => {
                let mut chars = s.chars();
                let c = chars.next()?;
                *s = chars.as_str();
                Some(c)
            }
        }
    }
}

fn fold(c: char) -> Folded {
    if c.is_ascii() {
        Folded::One(c.to_ascii_uppercase())
    } else if let Some(s) = fold_special(c) {
        Folded::Many(s)
    } else {
        Folded::One(c)
    }
}

/// The input after NFKD, without combining marks, with letters folded to
/// uppercase ASCII where they have an ASCII form. Lazy, so callers that need
/// only the start of a huge input stop early.
fn normalised(input: &str) -> impl Iterator<Item = char> + '_ {
    input
        .nfkd()
        .filter(|&c| !is_combining_mark(c))
        .flat_map(fold)
}

fn letters_iter(input: &str) -> impl Iterator<Item = char> + '_ {
    normalised(input).filter(char::is_ascii_uppercase)
}

/// The first `n` letters of `input`, padded with X.
fn padded_letters(input: &str, n: usize) -> String {
    let mut out: String = letters_iter(input).take(n).collect();
    while out.len() < n {
        out.push('X');
    }
    out
}

/// Normalises free text to the uppercase ASCII letters A-Z it contains:
/// NFKD, combining marks stripped, Lingala/Kikongo ɛ->E and ɔ->O (and their
/// capitals), uppercase, every non-letter skipped.
///
/// Letters NFKD does not decompose are folded too: Ø->O, Æ->AE, Œ->OE,
/// ß->SS, Ł->L, Đ/Ð->D, Ŋ->N, Þ->TH, ı->I, Ħ->H, Ŧ->T, the hooked letters
/// Ɓ Ɗ Ƙ Ƴ -> B D K Y, Ɲ->N, Ǝ/Ə->E, Ɨ/Ɩ->I, Ʉ/Ʊ->U, Ʋ->V, Ɣ->G, Ʒ->Z (and
/// the lower-case forms). Letters of other scripts are skipped.
pub fn letters(input: &str) -> String {
    letters_iter(input).collect()
}

/// "Mbengue" -> "MBE", "N'Diaye" -> "NDI", "Ba" -> "BAX".
///
/// The first 3 of [`letters`], padded with X; [`AnswerError::NoLetters`]
/// when the answer has no letter at all.
pub fn name_code(input: &str) -> Result<String, AnswerError> {
    if letters_iter(input).next().is_none() {
        return Err(AnswerError::NoLetters);
    }
    Ok(padded_letters(input, 3))
}

/// "7" -> 7, "1997" -> 7 (only years 1900..=current_year).
///
/// The answer must hold exactly one number, possibly with text around it
/// ("né en 1997"): 1 digit is the digit itself, 2 digits ("97") give the last
/// one, 4 digits must be a year in 1900..=`current_year`. No digit is
/// [`AnswerError::NoYear`]; several numbers or a number of 3 or 5+ digits is
/// [`AnswerError::AmbiguousYear`].
pub fn year_digit(input: &str, current_year: i32) -> Result<u8, AnswerError> {
    // (length, value of the first 4 digits, last digit) of the one number.
    let mut number: Option<(usize, i32, u8)> = None;
    let mut in_number = false;
    for c in normalised(input) {
        let Some(d) = c.to_digit(10).filter(|_| c.is_ascii_digit()) else {
            in_number = false;
            continue;
        };
        let d = d as u8;
        match (&mut number, in_number) {
            (None, _) => number = Some((1, i32::from(d), d)),
            (Some(_), false) => return Err(AnswerError::AmbiguousYear),
            (Some((len, value, last)), true) => {
                if *len < 4 {
                    *value = *value * 10 + i32::from(d);
                }
                *len = len.saturating_add(1);
                *last = d;
            }
        }
        in_number = true;
    }
    match number {
        None => Err(AnswerError::NoYear),
        Some((1 | 2, _, last)) => Ok(last),
        Some((4, year, last)) if (1900..=current_year).contains(&year) => Ok(last),
        Some((4, _, _)) => Err(AnswerError::YearOutOfRange),
        Some(_) => Err(AnswerError::AmbiguousYear),
    }
}

/// "DA" -> "DA"; with a city list, "Kinshasa" -> its code.
///
/// An answer with exactly 2 letters (after [`letters`]: "da", "D.A.") is
/// the code itself, listed or not (people born elsewhere). Otherwise, with a
/// list, the letters must equal a listed city name's letters ("mbuji mayi"
/// is "Mbuji-Mayi"), or its code and name together in either order
/// ("KN - Kinshasa", "Kinshasa (KN)"). Anything else, and any longer answer
/// without a list, is [`AnswerError::UnknownCity`]: guessing a code from the
/// first letters would be silently wrong. List entries whose code is not 2
/// letters are ignored. The first matching entry wins.
pub fn city_code(input: &str, cities: &[City]) -> Result<String, AnswerError> {
    let typed = letters(input);
    if typed.len() == 2 {
        return Ok(typed);
    }
    if typed.is_empty() {
        return Err(AnswerError::UnknownCity);
    }
    cities
        .iter()
        .find_map(|city| {
            let code = letters(&city.code);
            if code.len() != 2 {
                return None;
            }
            let name = letters(&city.name);
            let matches = typed == name
                || (typed.len() == name.len() + 2
                    && ((typed.starts_with(&code) && typed.ends_with(&name))
                        || (typed.starts_with(&name) && typed.ends_with(&code))));
            matches.then_some(code)
        })
        .ok_or(AnswerError::UnknownCity)
}

/// What one word of a gender answer means, if anything.
fn gender_word(word: &str) -> Option<Gender> {
    match word {
        "HOMME" | "H" | "M" | "MASCULIN" | "MASCULINE" | "MALE" | "MAN" => Some(Gender::Homme),
        "FEMME" | "F" | "FEMININ" | "FEMININE" | "FEMALE" | "WOMAN" => Some(Gender::Femme),
        "TRANS" | "T" | "TRANSGENRE" => Some(Gender::Trans),
        "AUTRE" | "A" | "OTHER" | "O" => Some(Gender::Autre),
        _ => None,
    }
}

/// What one number of a gender answer means, if anything.
fn gender_number(number: &str) -> Option<Gender> {
    match number {
        "1" => Some(Gender::Homme),
        "2" => Some(Gender::Femme),
        "3" => Some(Gender::Trans),
        "4" => Some(Gender::Autre),
        _ => None,
    }
}

/// "1".."4", "homme"/"femme"/"H"/"F"/... -> the gender.
///
/// Words are compared without accents or case: homme, h, m, masculin(e),
/// male, man; femme, f, féminin(e), female, woman; trans, t, transgenre;
/// autre, a, other, o. The answer is cut into numbers and words (hyphens and
/// apostrophes do not cut a word, other punctuation and spaces do); every
/// piece must be understood and all must agree, so "1 = Homme" and
/// "Homme (male)" are accepted while "1 = Femme", "homme ou femme" and
/// "je suis un homme" are [`AnswerError::UnknownGender`], as are "0", "5"
/// and an empty answer.
pub fn gender(input: &str) -> Result<Gender, AnswerError> {
    #[derive(PartialEq)]
    enum Kind {
        Word,
        Number,
    }
    fn flush(
        kind: &Kind,
        token: &mut String,
        found: &mut Option<Gender>,
    ) -> Result<(), AnswerError> {
        if token.is_empty() {
            return Ok(());
        }
        let meaning = match kind {
            Kind::Word => gender_word(token),
            Kind::Number => gender_number(token),
        };
        token.clear();
        match (meaning, *found) {
            (None, _) => Err(AnswerError::UnknownGender),
            (Some(g), Some(before)) if g != before => Err(AnswerError::UnknownGender),
            (Some(g), _) => {
                *found = Some(g);
                Ok(())
            }
        }
    }

    let mut found = None;
    let mut token = String::new();
    let mut kind = Kind::Word;
    for c in normalised(input) {
        let this = if c.is_ascii_uppercase() {
            Kind::Word
        } else if c.is_ascii_digit() {
            Kind::Number
        } else if matches!(c, '-' | '\'' | '’' | '‘' | 'ʼ' | '‐' | '‑') {
            // Inside a word ("trans-genre") these join rather than cut.
            continue;
        } else {
            flush(&kind, &mut token, &mut found)?;
            continue;
        };
        if this != kind {
            flush(&kind, &mut token, &mut found)?;
            kind = this;
        }
        // No recognised piece is longer than 10 letters: stop early on junk.
        if token.len() >= 10 {
            return Err(AnswerError::UnknownGender);
        }
        token.push(c);
    }
    flush(&kind, &mut token, &mut found)?;
    found.ok_or(AnswerError::UnknownGender)
}
