//! Text that comes from outside, cleaned once at the edge.
//!
//! PostgreSQL refuses `\0` in text, and no other C0 control character has a
//! place in a name, a message or an identifier: they are either removed
//! (what a person typed on WhatsApp: the message must still be answered) or
//! refused with a clear error (staff forms, identifiers). Tab, line feed and
//! carriage return are kept: forms send a textarea's lines as CR LF, which
//! is folded to LF.

use std::borrow::Cow;

/// A character that is removed or refused: a C0 control other than tab,
/// line feed and carriage return, or DEL.
pub fn is_forbidden(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{7f}'
}

/// The first forbidden character of `s`, if any.
pub fn first_forbidden(s: &str) -> Option<char> {
    s.chars().find(|&c| is_forbidden(c))
}

/// `U+0000`: how a refused character is named in an error.
pub fn describe(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

/// `s` without forbidden characters, line ends folded to `\n`; borrowed when
/// there was nothing to change (the common case costs no allocation).
pub fn strip(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_forbidden(c) || c == '\r') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            c if is_forbidden(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`strip`] for an owned string.
pub fn strip_owned(s: String) -> String {
    match strip(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(cleaned) => cleaned,
    }
}

/// An identifier (a provider's message id, a phone number, a slug): it is
/// refused, not repaired, when it holds a control character of any kind.
pub fn is_clean_identifier(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// Replaces the JSON escapes of lone UTF-16 surrogates (`\ud800` not
/// followed by a low surrogate, or a low one alone) with `\ufffd`, so that
/// a body that is valid JSON for JavaScript can be read by serde (which
/// refuses them: a Rust string holds only valid Unicode). `None` when there
/// was none.
pub fn replace_lone_surrogates(json: &[u8]) -> Option<Vec<u8>> {
    fn escape_at(b: &[u8], i: usize) -> Option<u16> {
        let hex = b.get(i..i + 6)?;
        if hex[0] != b'\\' || hex[1] != b'u' {
            return None;
        }
        let s = std::str::from_utf8(&hex[2..]).ok()?;
        u16::from_str_radix(s, 16).ok()
    }
    let is_high = |u: u16| (0xD800..0xDC00).contains(&u);
    let is_low = |u: u16| (0xDC00..0xE000).contains(&u);

    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        if !in_string {
            if b == b'"' {
                in_string = true;
            }
            if let Some(o) = out.as_mut() {
                o.push(b);
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = false,
            b'\\' => {
                if let Some(u) = escape_at(json, i) {
                    let paired = is_high(u) && escape_at(json, i + 6).is_some_and(is_low);
                    if paired {
                        if let Some(o) = out.as_mut() {
                            o.extend_from_slice(&json[i..i + 12]);
                        }
                        i += 12;
                        continue;
                    }
                    if is_high(u) || is_low(u) {
                        let o = out.get_or_insert_with(|| json[..i].to_vec());
                        o.extend_from_slice(b"\\ufffd");
                        i += 6;
                        continue;
                    }
                }
                // Any other escape: copy it whole, so an escaped quote or
                // backslash is not read as the end of the string.
                let end = (i + 2).min(json.len());
                if let Some(o) = out.as_mut() {
                    o.extend_from_slice(&json[i..end]);
                }
                i = end;
                continue;
            }
            _ => {}
        }
        if let Some(o) = out.as_mut() {
            o.push(b);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn controls_are_removed_and_line_ends_folded() {
        assert_eq!(strip("Bon\0jour"), "Bonjour");
        assert_eq!(strip("a\u{1b}[31mb\u{7f}"), "a[31mb");
        assert_eq!(strip("l1\r\nl2\rl3\n\tx"), "l1\nl2\nl3\n\tx");
        assert!(matches!(
            strip("Mbengue Ibrahima ✓ مرحبا"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn forbidden_characters_are_named() {
        assert_eq!(first_forbidden("ab\0"), Some('\0'));
        assert_eq!(first_forbidden("tab\tand\r\nlines"), None);
        assert_eq!(describe('\0'), "U+0000");
        assert_eq!(describe('\u{1f}'), "U+001F");
        assert!(!is_clean_identifier("wamid.\n1"));
        assert!(is_clean_identifier("wamid.HBgM"));
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let body = br#"{"a":"x\ud800y","b":"\udc00","c":"\ud83d\ude00","d":"\\ud800"}"#;
        let fixed = replace_lone_surrogates(body).expect("changed");
        let v: serde_json::Value = serde_json::from_slice(&fixed).unwrap();
        assert_eq!(v["a"], "x\u{fffd}y");
        assert_eq!(v["b"], "\u{fffd}");
        assert_eq!(v["c"], "😀");
        // An escaped backslash followed by "ud800" is plain text.
        assert_eq!(v["d"], "\\ud800");
        assert_eq!(replace_lone_surrogates(br#"{"c":"\ud83d\ude00"}"#), None);
    }

    proptest! {
        #[test]
        fn stripped_text_has_no_forbidden_character(s in any::<String>()) {
            let clean = strip(&s);
            prop_assert!(first_forbidden(&clean).is_none());
            prop_assert!(!clean.contains('\r'));
            // Nothing but controls and CR is ever removed.
            let kept: String = s.chars().filter(|&c| !is_forbidden(c) && c != '\r').collect();
            let clean_no_lf: String = clean.chars().filter(|&c| c != '\n').collect();
            let kept_no_lf: String = kept.chars().filter(|&c| c != '\n').collect();
            prop_assert_eq!(clean_no_lf, kept_no_lf);
        }

        #[test]
        fn any_json_string_with_escaped_surrogates_parses(units in proptest::collection::vec(any::<u16>(), 0..20)) {
            let escaped: String = units.iter().map(|u| format!("\\u{u:04x}")).collect();
            let body = format!("{{\"t\":\"{escaped}\"}}");
            let bytes = replace_lone_surrogates(body.as_bytes()).unwrap_or_else(|| body.clone().into_bytes());
            let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&bytes);
            prop_assert!(parsed.is_ok(), "{} -> {:?}", body, String::from_utf8_lossy(&bytes));
        }
    }
}
