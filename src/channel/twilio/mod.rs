//! Twilio WhatsApp: form parsing, `X-Twilio-Signature`, inbound fields,
//! status callbacks and TwiML answers (the pure part, here), the REST
//! client (`client`), what its errors mean (`error`) and the credential
//! check (`check`, used as `twilio::check::…`). Reference: Twilio
//! Programmable Messaging, part B of the wire reference.

pub mod check;
mod client;
mod error;

pub use client::{
    Accepted, AccountInfo, Credentials, DEFAULT_BASE_URL, Outgoing, TwilioClient, is_account_sid,
    whatsapp_address,
};
pub use error::{SendError, classify};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;

/// A form body that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    #[error("the form body is not valid UTF-8 once percent-decoded")]
    InvalidUtf8,
}

/// Decodes `application/x-www-form-urlencoded` (`+` is a space), keeping the
/// order and repeated names; refuses invalid UTF-8 instead of replacing it.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, FormError> {
    let decode = |part: &[u8]| -> Result<String, FormError> {
        let spaced: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        let bytes: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
        String::from_utf8(bytes).map_err(|_| FormError::InvalidUtf8)
    };
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |&b| b == b'=');
            let name = decode(it.next().unwrap_or_default())?;
            let value = decode(it.next().unwrap_or_default())?;
            Ok((name, value))
        })
        .collect()
}

/// The string Twilio signs: the URL, then each parameter name followed by
/// its values, names in byte order, a repeated name's values sorted and
/// de-duplicated (as twilio-python does).
fn signed_data(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in params {
        sorted.entry(k.as_str()).or_default().push(v.as_str());
    }
    let mut data = url.to_string();
    for (k, mut values) in sorted {
        values.sort_unstable();
        values.dedup();
        for v in values {
            data.push_str(k);
            data.push_str(v);
        }
    }
    data
}

/// `X-Twilio-Signature` of a form POST: HMAC-SHA1 keyed with the auth
/// token, standard Base64.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(signed_data(url, params).as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The URL as given, with the default port added, and with it removed:
/// Twilio signs either form, so both are accepted.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_string()];
    if let Some((scheme, rest)) = url.split_once("://") {
        let default_port = match scheme {
            "https" => ":443",
            "http" => ":80",
            _ => return variants,
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        if let Some(host) = authority.strip_suffix(default_port) {
            variants.push(format!("{scheme}://{host}{tail}"));
        } else if !authority.contains(':') {
            variants.push(format!("{scheme}://{authority}{default_port}{tail}"));
        }
    }
    variants
}

/// Checks `X-Twilio-Signature` in constant time, on the URL with and
/// without its default port.
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header_value: &str,
) -> bool {
    url_variants(url).iter().any(|u| {
        let expected = signature(auth_token, u, params);
        expected
            .as_bytes()
            .ct_eq(header_value.trim().as_bytes())
            .into()
    })
}

/// The first value of a possibly comma-separated proxy header.
fn first_value(v: Option<&str>) -> Option<&str> {
    v.and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The URL Twilio requested: `PUBLIC_URL` joined with the request's path and
/// query (kept byte for byte), else the scheme of `X-Forwarded-Proto` and the
/// host of `X-Forwarded-Host` or `Host`.
pub fn public_url(
    public_base: Option<&str>,
    host: Option<&str>,
    forwarded_proto: Option<&str>,
    forwarded_host: Option<&str>,
    path_and_query: &str,
) -> String {
    match public_base {
        Some(base) => format!("{}{path_and_query}", base.trim_end_matches('/')),
        None => {
            let scheme = first_value(forwarded_proto).unwrap_or("http");
            let host = first_value(forwarded_host)
                .or(first_value(host))
                .unwrap_or("localhost");
            format!("{scheme}://{host}{path_and_query}")
        }
    }
}

/// An inbound webhook that lacks what a WhatsApp message must carry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InboundError {
    #[error("missing field {0}")]
    Missing(&'static str),
    #[error("{0} is not a WhatsApp address (expected whatsapp:+<number>)")]
    NotWhatsApp(&'static str),
    #[error("field {0} is too long")]
    TooLong(&'static str),
    #[error("field {0} holds a control character")]
    ControlCharacter(&'static str),
}

/// The fields of an inbound WhatsApp message that the bot uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub message_sid: String,
    pub account_sid: Option<String>,
    /// `whatsapp:+243990000001`
    pub from: String,
    pub to: String,
    /// Empty for media without caption.
    pub body: String,
    pub profile_name: Option<String>,
    pub wa_id: Option<String>,
    pub num_media: u32,
    /// (URL, content type) of each attached media.
    pub media: Vec<(String, String)>,
    pub message_type: Option<String>,
    pub button_payload: Option<String>,
    pub button_text: Option<String>,
}

fn field<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Reads an inbound message's fields; unknown fields are ignored (Twilio
/// adds fields without notice).
///
/// What the person typed (`Body`, `ProfileName`, `ButtonText`) is cleaned of
/// control characters; an identifier holding one is refused, as is a `From`
/// or `To` that is not `whatsapp:` and an E.164 number.
pub fn parse_inbound(params: &[(String, String)]) -> Result<Inbound, InboundError> {
    let identifier = |name: &'static str, v: &str| -> Result<String, InboundError> {
        if !crate::input::is_clean_identifier(v) {
            return Err(InboundError::ControlCharacter(name));
        }
        Ok(v.to_string())
    };
    let sid = field(params, "MessageSid")
        .or_else(|| field(params, "SmsMessageSid"))
        .or_else(|| field(params, "SmsSid"))
        .ok_or(InboundError::Missing("MessageSid"))?;
    if sid.len() > 64 {
        return Err(InboundError::TooLong("MessageSid"));
    }
    let sid = identifier("MessageSid", sid)?;
    let address = |name: &'static str| -> Result<String, InboundError> {
        let v = field(params, name).ok_or(InboundError::Missing(name))?;
        match v.strip_prefix("whatsapp:") {
            Some(number) if crate::config::is_e164(number.trim()) => Ok(v.to_string()),
            _ => Err(InboundError::NotWhatsApp(name)),
        }
    };
    let from = address("From")?;
    let to = address("To")?;
    let typed = |name| field(params, name).map(|v| crate::input::strip(v).into_owned());
    let body = typed("Body").unwrap_or_default();
    if body.chars().count() > 4096 {
        return Err(InboundError::TooLong("Body"));
    }
    let num_media = field(params, "NumMedia")
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0)
        .min(10);
    let media = (0..num_media)
        .filter_map(|i| {
            let url = field(params, &format!("MediaUrl{i}"))?;
            let ct = field(params, &format!("MediaContentType{i}"))
                .unwrap_or("application/octet-stream");
            Some((url.to_string(), ct.to_string()))
        })
        .collect::<Vec<_>>();
    if media
        .iter()
        .any(|(url, ct)| !crate::input::is_clean_identifier(&format!("{url}{ct}")))
    {
        return Err(InboundError::ControlCharacter("MediaUrl"));
    }
    let id = |name: &'static str| -> Result<Option<String>, InboundError> {
        field(params, name).map(|v| identifier(name, v)).transpose()
    };
    Ok(Inbound {
        message_sid: sid,
        account_sid: id("AccountSid")?,
        from,
        to,
        body,
        profile_name: typed("ProfileName").filter(|n| !n.trim().is_empty()),
        wa_id: id("WaId")?,
        num_media,
        media,
        message_type: id("MessageType")?,
        button_payload: id("ButtonPayload")?,
        button_text: typed("ButtonText"),
    })
}

/// `whatsapp:+243990000001` -> `+243990000001`.
pub fn bare_number(address: &str) -> &str {
    address.strip_prefix("whatsapp:").unwrap_or(address).trim()
}

/// Status callbacks carry `MessageStatus` and no message body.
pub fn is_status_callback(params: &[(String, String)]) -> bool {
    field(params, "MessageStatus").is_some() && !params.iter().any(|(k, _)| k == "Body")
}

/// A status callback (B.3): where a message we sent stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    pub message_sid: String,
    pub account_sid: Option<String>,
    /// Our sender, `whatsapp:+14155238886`: the account it concerns.
    pub from: String,
    /// Twilio's word: `queued`, `sending`, `sent`, `delivered`, `read`,
    /// `undelivered`, `failed` (and `accepted`, `scheduled`, `canceled`).
    pub status: String,
    pub error_code: Option<i64>,
    /// `ChannelStatusMessage`, when Twilio gives one.
    pub error_message: Option<String>,
}

impl StatusCallback {
    /// The status in our words; `None` for the steps before `sent`, which
    /// move nothing.
    pub fn message_status(&self) -> Option<crate::inbox::MessageStatus> {
        use crate::inbox::MessageStatus;
        match self.status.as_str() {
            "sent" => Some(MessageStatus::Sent),
            "delivered" => Some(MessageStatus::Delivered),
            "read" => Some(MessageStatus::Read),
            "undelivered" | "failed" | "canceled" => Some(MessageStatus::Failed),
            _ => None,
        }
    }
}

/// Reads a status callback's fields (`MessageStatus`, or the legacy
/// `SmsStatus`); identifiers holding a control character are refused.
pub fn parse_status_callback(params: &[(String, String)]) -> Result<StatusCallback, InboundError> {
    let identifier = |name: &'static str| -> Result<Option<String>, InboundError> {
        match field(params, name) {
            None => Ok(None),
            Some(v) if v.len() > 64 => Err(InboundError::TooLong(name)),
            Some(v) if !crate::input::is_clean_identifier(v) => {
                Err(InboundError::ControlCharacter(name))
            }
            Some(v) => Ok(Some(v.to_string())),
        }
    };
    let message_sid = identifier("MessageSid")?
        .or(identifier("SmsSid")?)
        .ok_or(InboundError::Missing("MessageSid"))?;
    let status = identifier("MessageStatus")?
        .or(identifier("SmsStatus")?)
        .ok_or(InboundError::Missing("MessageStatus"))?
        .to_ascii_lowercase();
    let error_message = field(params, "ChannelStatusMessage")
        .or_else(|| field(params, "ErrorMessage"))
        .map(|m| crate::input::strip(m).chars().take(500).collect());
    let from = field(params, "From").ok_or(InboundError::Missing("From"))?;
    match from.strip_prefix("whatsapp:") {
        Some(number) if crate::config::is_e164(number.trim()) => {}
        _ => return Err(InboundError::NotWhatsApp("From")),
    }
    Ok(StatusCallback {
        message_sid,
        account_sid: identifier("AccountSid")?,
        from: from.to_string(),
        status,
        error_code: field(params, "ErrorCode").and_then(|c| c.trim().parse().ok()),
        error_message,
    })
}

/// One `<Message>` of a TwiML answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundTwiml {
    pub body: String,
    pub media_urls: Vec<String>,
}

/// The TwiML answer sending these messages (`<Response/>` sends nothing).
pub fn twiml(messages: &[OutboundTwiml]) -> String {
    // XML 1.0 cannot carry most control characters, even escaped: a text
    // holding one (an account's custom text, say) would make the whole
    // answer unreadable to Twilio, so they are dropped.
    let escape = |text: &str| {
        let allowed: String = text
            .chars()
            .filter(|&c| {
                matches!(c, '\t' | '\n' | '\r')
                    || !(c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}')
            })
            .collect();
        quick_xml::escape::escape(allowed.as_str()).into_owned()
    };
    let mut xml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    if messages.is_empty() {
        xml.push_str("<Response/>");
        return xml;
    }
    xml.push_str("<Response>");
    for m in messages {
        xml.push_str("<Message><Body>");
        xml.push_str(&escape(&m.body));
        xml.push_str("</Body>");
        for url in &m.media_urls {
            xml.push_str("<Media>");
            xml.push_str(&escape(url));
            xml.push_str("</Media>");
        }
        xml.push_str("</Message>");
    }
    xml.push_str("</Response>");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn twilios_documented_signature_vector_matches() {
        let params = owned(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert!(verify_signature(
            "12345",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    fn our_params() -> Vec<(String, String)> {
        owned(&[
            ("AccountSid", "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
            ("Body", "Bonjour"),
            ("From", "whatsapp:+243810000001"),
            ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
            ("NumMedia", "0"),
            ("ProfileName", "Amani"),
            ("To", "whatsapp:+14155238886"),
            ("WaId", "243810000001"),
        ])
    }

    #[test]
    fn our_signature_vector_matches_with_and_without_the_default_port() {
        let url = "https://bot.example.org/whatsapp/webhook";
        let with_port = "https://bot.example.org:443/whatsapp/webhook";
        assert_eq!(
            signature("test_auth_token", url, &our_params()),
            "j7LrDEg5yDS8ck9q2PHu0MPvMWM="
        );
        assert_eq!(
            signature("test_auth_token", with_port, &our_params()),
            "usinpwrowDDF8SwPrKcKug3Wr7I="
        );
        assert!(verify_signature(
            "test_auth_token",
            url,
            &our_params(),
            "usinpwrowDDF8SwPrKcKug3Wr7I="
        ));
        assert!(verify_signature(
            "test_auth_token",
            with_port,
            &our_params(),
            "j7LrDEg5yDS8ck9q2PHu0MPvMWM="
        ));
    }

    #[test]
    fn a_changed_value_a_wrong_token_or_another_url_fails_the_check() {
        let url = "https://bot.example.org/whatsapp/webhook";
        let mut tampered = our_params();
        tampered[1].1 = "Bonsoir".into();
        assert!(!verify_signature(
            "test_auth_token",
            url,
            &tampered,
            "j7LrDEg5yDS8ck9q2PHu0MPvMWM="
        ));
        assert!(!verify_signature(
            "other_token",
            url,
            &our_params(),
            "j7LrDEg5yDS8ck9q2PHu0MPvMWM="
        ));
        assert!(!verify_signature(
            "test_auth_token",
            "https://evil.example.org/whatsapp/webhook",
            &our_params(),
            "j7LrDEg5yDS8ck9q2PHu0MPvMWM="
        ));
        assert!(!verify_signature("test_auth_token", url, &our_params(), ""));
    }

    #[test]
    fn forms_decode_plus_and_percent_and_refuse_invalid_utf8() {
        let form = parse_form(b"Body=Je+suis+l%C3%A0&From=whatsapp%3A%2B243990000001&Empty=&Flag")
            .unwrap();
        assert_eq!(form[0], ("Body".into(), "Je suis là".into()));
        assert_eq!(form[1], ("From".into(), "whatsapp:+243990000001".into()));
        assert_eq!(form[2], ("Empty".into(), String::new()));
        assert_eq!(form[3], ("Flag".into(), String::new()));
        assert_eq!(parse_form(b"Body=%FF"), Err(FormError::InvalidUtf8));
        assert!(parse_form(b"").unwrap().is_empty());
    }

    #[test]
    fn the_public_url_comes_from_the_configured_base_or_the_forwarded_headers() {
        let pq = "/whatsapp/webhook?x=1";
        assert_eq!(
            public_url(
                Some("https://bot.example.org/"),
                Some("127.0.0.1:8000"),
                None,
                None,
                pq
            ),
            "https://bot.example.org/whatsapp/webhook?x=1"
        );
        assert_eq!(
            public_url(
                None,
                Some("127.0.0.1:8000"),
                Some("https"),
                Some("bot.example.org"),
                pq
            ),
            "https://bot.example.org/whatsapp/webhook?x=1"
        );
        assert_eq!(
            public_url(None, Some("127.0.0.1:8000"), None, None, pq),
            "http://127.0.0.1:8000/whatsapp/webhook?x=1"
        );
    }

    #[test]
    fn inbound_fields_are_read_and_missing_ones_named() {
        let msg = parse_inbound(&our_params()).unwrap();
        assert_eq!(msg.message_sid, "SM0123456789abcdef0123456789abcdef");
        assert_eq!(bare_number(&msg.from), "+243810000001");
        assert_eq!(msg.body, "Bonjour");
        assert_eq!(msg.profile_name.as_deref(), Some("Amani"));
        let mut no_sid = our_params();
        no_sid.retain(|(k, _)| k != "MessageSid");
        assert_eq!(
            parse_inbound(&no_sid),
            Err(InboundError::Missing("MessageSid"))
        );
        let mut sms = our_params();
        sms[2].1 = "+243810000001".into();
        assert_eq!(parse_inbound(&sms), Err(InboundError::NotWhatsApp("From")));
        assert!(parse_inbound(&owned(&[("MessageSid", "SM1"), ("From", "whatsapp:+1")])).is_err());
    }

    #[test]
    fn typed_text_is_cleaned_and_bad_identifiers_refused() {
        let with = |name: &str, value: &str| {
            let mut p = our_params();
            p.retain(|(k, _)| k != name);
            p.push((name.to_string(), value.to_string()));
            parse_inbound(&p)
        };
        let msg = with("Body", "Bon\0jour\u{1b}").unwrap();
        assert_eq!(msg.body, "Bonjour");
        assert_eq!(with("ProfileName", "\0").unwrap().profile_name, None);
        assert_eq!(
            with("MessageSid", "SM\0 1").unwrap_err(),
            InboundError::ControlCharacter("MessageSid")
        );
        assert_eq!(
            with("From", "whatsapp:+2438\0").unwrap_err(),
            InboundError::NotWhatsApp("From")
        );
        assert_eq!(
            with("From", "whatsapp:Mbengue").unwrap_err(),
            InboundError::NotWhatsApp("From")
        );
        assert_eq!(
            with("WaId", "243\n").unwrap_err(),
            InboundError::ControlCharacter("WaId")
        );
    }

    #[test]
    fn status_callbacks_are_told_apart_from_messages() {
        let status = owned(&[("MessageSid", "SM1"), ("MessageStatus", "delivered")]);
        assert!(is_status_callback(&status));
        assert!(!is_status_callback(&our_params()));
    }

    #[test]
    fn twiml_drops_characters_xml_cannot_carry() {
        let xml = twiml(&[OutboundTwiml {
            body: "a\u{0}b\u{1b}c\td\u{FFFF}".into(),
            media_urls: vec![],
        }]);
        assert!(xml.contains("<Body>abc\td</Body>"), "{xml}");
    }

    #[test]
    fn twiml_escapes_text_and_an_empty_answer_sends_nothing() {
        let xml = twiml(&[
            OutboundTwiml {
                body: "<script>&\"'é\nfin".into(),
                media_urls: vec!["https://x.org/q?a=1&b=2".into()],
            },
            OutboundTwiml {
                body: "deux".into(),
                media_urls: vec![],
            },
        ]);
        assert!(
            xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message><Body>"#)
        );
        assert!(
            xml.contains("&lt;script&gt;&amp;&quot;&apos;é\nfin"),
            "{xml}"
        );
        assert!(xml.contains("<Media>https://x.org/q?a=1&amp;b=2</Media>"));
        assert_eq!(xml.matches("<Message>").count(), 2);
        assert_eq!(
            twiml(&[]),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_bytes_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(params) = parse_form(&body) {
                let _ = parse_inbound(&params);
                let _ = is_status_callback(&params);
                let _ = parse_status_callback(&params);
            }
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn status_callbacks_are_read_in_our_words() {
        use crate::inbox::MessageStatus;
        let delivered = parse_status_callback(&params(&[
            ("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"),
            ("From", "whatsapp:+14155238886"),
            ("MessageStatus", "delivered"),
            ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
            ("ChannelPrefix", "whatsapp"),
            ("EventType", "DELIVERED"),
        ]))
        .unwrap();
        assert_eq!(delivered.message_status(), Some(MessageStatus::Delivered));
        assert_eq!(delivered.error_code, None);
        let failed = parse_status_callback(&params(&[
            ("SmsSid", "SM1"),
            ("From", "whatsapp:+14155238886"),
            ("SmsStatus", "undelivered"),
            ("ErrorCode", "63016"),
            ("ChannelStatusMessage", "Outside the window\u{0}"),
        ]))
        .unwrap();
        assert_eq!(failed.message_sid, "SM1");
        assert_eq!(failed.message_status(), Some(MessageStatus::Failed));
        assert_eq!(failed.error_code, Some(63016));
        assert!(is_status_callback(&params(&[("MessageStatus", "sent")])));
        for early in ["queued", "accepted", "sending", "scheduled"] {
            let c = parse_status_callback(&params(&[
                ("MessageSid", "SM1"),
                ("MessageStatus", early),
                ("From", "whatsapp:+14155238886"),
            ]))
            .unwrap();
            assert_eq!(c.message_status(), None, "{early}");
        }
        assert_eq!(
            parse_status_callback(&params(&[("MessageStatus", "sent")])),
            Err(InboundError::Missing("MessageSid"))
        );
        assert_eq!(
            parse_status_callback(&params(&[
                ("MessageSid", "SM\u{0}"),
                ("MessageStatus", "sent")
            ])),
            Err(InboundError::ControlCharacter("MessageSid"))
        );
        assert_eq!(
            parse_status_callback(&params(&[
                ("MessageSid", "SM1"),
                ("MessageStatus", "sent"),
                ("From", "+14155238886")
            ])),
            Err(InboundError::NotWhatsApp("From"))
        );
    }
}
