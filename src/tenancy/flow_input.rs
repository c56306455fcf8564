//! A number's bot settings as staff type them (the account page's form):
//! read and checked here, in the domain, so the page only shows the result.

use super::FlowSettings;
use crate::flow::Language;
use crate::flow::texts::TextKey;
use crate::uic::City;

/// Longest custom text (WhatsApp's limit for one message).
pub const MAX_TEXT: usize = 4096;

/// What the form sends, as typed.
#[derive(Debug, Default)]
pub struct FlowInput<'a> {
    /// "en" or anything else for French.
    pub language: &'a str,
    /// "on", "off" or anything else for the default.
    pub qr: &'a str,
    /// Minutes, or empty for the default.
    pub timeout: &'a str,
    /// One city a line: two capital letters, a space, its name.
    pub cities: &'a str,
    /// A text by its key (`welcome`); empty: back to the default. A key not
    /// sent keeps its earlier text.
    pub texts: Vec<(&'a str, &'a str)>,
}

/// The first problem with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowInputError {
    /// The timeout is not a number of minutes from 1 to 10,080 (a week).
    Timeout,
    /// This city line is not "XX Name".
    City(String),
    /// A text is longer than [`MAX_TEXT`] characters.
    TooLong,
}

/// The settings the input describes; `before` gives the texts not sent.
pub fn parse(input: &FlowInput<'_>, before: &FlowSettings) -> Result<FlowSettings, FlowInputError> {
    let language = match input.language {
        "en" => Language::En,
        _ => Language::Fr,
    };
    let qr_enabled = match input.qr {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    };
    let session_timeout_minutes = match input.timeout.trim() {
        "" => None,
        s => match s.parse::<u32>() {
            Ok(m) if (1..=10_080).contains(&m) => Some(m),
            _ => return Err(FlowInputError::Timeout),
        },
    };
    let mut cities = Vec::new();
    for line in input
        .cities
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let (code, name) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let code = code.trim().to_uppercase();
        let name = name.trim();
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) || name.is_empty() {
            return Err(FlowInputError::City(line.to_string()));
        }
        cities.push(City {
            code,
            name: name.to_string(),
        });
    }
    let mut texts = before.texts.clone();
    for k in TextKey::ALL {
        let Some((_, v)) = input.texts.iter().find(|(key, _)| *key == k.name()) else {
            continue;
        };
        let v = v.trim();
        if v.chars().count() > MAX_TEXT {
            return Err(FlowInputError::TooLong);
        }
        if v.is_empty() {
            texts.remove(k.name());
        } else {
            texts.insert(k.name().to_string(), v.replace("\r\n", "\n"));
        }
    }
    Ok(FlowSettings {
        language,
        texts,
        cities,
        qr_enabled,
        session_timeout_minutes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> FlowInput<'static> {
        FlowInput {
            language: "en",
            qr: "off",
            timeout: " 30 ",
            cities: "KN Kinshasa\r\n\n  lu Lubumbashi ",
            texts: vec![("welcome", " Hello\r\nthere "), ("unknown_key", "x")],
        }
    }

    #[test]
    fn reads_what_staff_typed() {
        let s = parse(&input(), &FlowSettings::default()).unwrap();
        assert_eq!(s.language, Language::En);
        assert_eq!(s.qr_enabled, Some(false));
        assert_eq!(s.session_timeout_minutes, Some(30));
        let codes: Vec<_> = s.cities.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(codes, ["KN", "LU"]);
        assert_eq!(s.texts.get("welcome").unwrap(), "Hello\nthere");
        assert!(!s.texts.contains_key("unknown_key"));
    }

    #[test]
    fn names_the_first_problem() {
        for timeout in ["0", "10081", "abc", "-5"] {
            let i = FlowInput { timeout, ..input() };
            assert_eq!(
                parse(&i, &FlowSettings::default()),
                Err(FlowInputError::Timeout)
            );
        }
        let i = FlowInput {
            cities: "KN Kinshasa\nKIN Kinshasa",
            ..input()
        };
        assert_eq!(
            parse(&i, &FlowSettings::default()),
            Err(FlowInputError::City("KIN Kinshasa".into()))
        );
        let long = "é".repeat(MAX_TEXT + 1);
        let i = FlowInput {
            texts: vec![("welcome", long.as_str())],
            ..input()
        };
        assert_eq!(
            parse(&i, &FlowSettings::default()),
            Err(FlowInputError::TooLong)
        );
    }

    #[test]
    fn texts_not_sent_are_kept_and_empty_ones_reset() {
        let mut before = FlowSettings::default();
        before.texts.insert("welcome".into(), "Mbote".into());
        before.texts.insert("help".into(), "Aide".into());
        let i = FlowInput {
            texts: vec![("help", "  ")],
            ..FlowInput::default()
        };
        let s = parse(&i, &before).unwrap();
        assert_eq!(s.texts.get("welcome").unwrap(), "Mbote");
        assert!(!s.texts.contains_key("help"));
        assert_eq!(s.language, Language::Fr);
        assert_eq!(s.qr_enabled, None);
        assert!(s.cities.is_empty());
    }
}
