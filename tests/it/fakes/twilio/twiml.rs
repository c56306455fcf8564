//! TwiML answers to inbound webhooks (B.5), parsed with a real XML parser.

use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// Most `<Media>` a `<Message>` may carry.
pub const MAX_MEDIA: usize = 10;

/// One message a TwiML answer sends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TwimlMessage {
    /// The `<Body>` text, or the plain text of `<Message>`; trimmed.
    pub body: String,
    /// The `<Media>` URLs, trimmed, at most 10.
    pub media: Vec<String>,
    /// The `to` attribute, when given.
    pub to: Option<String>,
    /// The `from` attribute, when given.
    pub from: Option<String>,
}

/// A parsed answer: the messages to send and the schema warnings Twilio
/// would log while still sending what it understood.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Twiml {
    pub messages: Vec<TwimlMessage>,
    pub warnings: Vec<TwimlError>,
}

/// A debugger error: 12100 (document parse failure), 12200 (schema
/// validation), 12300 (invalid content type), 14103 (message without body
/// or media).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwimlError {
    pub code: u32,
    pub detail: String,
}

fn err(code: u32, detail: impl Into<String>) -> TwimlError {
    TwimlError {
        code,
        detail: detail.into(),
    }
}

/// An answer by content type: an empty body sends nothing; XML types (and
/// `text/html`) are parsed as TwiML; `text/plain` is sent as one message;
/// anything else is 12300.
pub fn parse_answer(content_type: Option<&str>, body: &str) -> Result<Twiml, TwimlError> {
    if body.trim().is_empty() {
        return Ok(Twiml::default());
    }
    let mime = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "text/xml" | "application/xml" | "text/html" => parse_twiml(body),
        "text/plain" => Ok(Twiml {
            messages: vec![TwimlMessage {
                body: body.trim().to_string(),
                ..TwimlMessage::default()
            }],
            warnings: Vec::new(),
        }),
        other => Err(err(12300, format!("Invalid Content-Type: {other:?}"))),
    }
}

#[derive(PartialEq)]
enum Slot {
    /// Directly inside `<Message>`.
    Plain,
    Body,
    Media,
    /// Anywhere else.
    Ignored,
}

/// Parses a TwiML document: `<Response>` holding `<Message>` elements, each
/// with plain text or `<Body>` and up to 10 `<Media>`. Ill-formed XML is
/// 12100; a root other than `<Response>` is 12200; unknown verbs and nouns
/// are skipped with a 12200 warning; a message with neither text nor media
/// is dropped with 14103; media past the tenth are dropped with 12200.
pub fn parse_twiml(xml: &str) -> Result<Twiml, TwimlError> {
    let mut reader = Reader::from_str(xml);
    let mut out = Twiml::default();
    let mut stack: Vec<String> = Vec::new();
    let mut seen_root = false;
    let mut current: Option<(TwimlMessage, String, bool)> = None; // message, plain text, has <Body>
    let mut media = String::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| err(12100, format!("Document parse failure: {e}")))?;
        let slot = match stack.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["Response", "Message"] => Slot::Plain,
            ["Response", "Message", "Body"] => Slot::Body,
            ["Response", "Message", "Media"] => Slot::Media,
            _ => Slot::Ignored,
        };
        let depth = stack.len();
        let mut text = |s: &str| push_text(s, &slot, depth, &mut current, &mut media, &mut out);
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let name = e.name().as_ref().to_string();
                if stack.is_empty() {
                    if seen_root {
                        return Err(err(12100, "Document parse failure: two root elements"));
                    }
                    seen_root = true;
                    if name != "Response" {
                        return Err(err(
                            12200,
                            format!("root element is <{name}>, not <Response>"),
                        ));
                    }
                } else if stack.len() == 1 {
                    if name == "Message" {
                        let mut msg = TwimlMessage::default();
                        for a in e.attributes().flatten() {
                            let v = a
                                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .map_err(|x| err(12100, format!("Document parse failure: {x}")))?
                                .to_string();
                            match a.key.as_ref() {
                                "to" => msg.to = Some(v),
                                "from" => msg.from = Some(v),
                                _ => {}
                            }
                        }
                        current = Some((msg, String::new(), false));
                    } else {
                        out.warnings.push(err(
                            12200,
                            format!("<{name}> is not a Messaging verb; skipped"),
                        ));
                    }
                } else if stack.len() == 2 && stack[1] == "Message" {
                    match name.as_str() {
                        "Body" => {
                            if let Some(c) = current.as_mut() {
                                c.2 = true;
                            }
                        }
                        "Media" => media.clear(),
                        other => out.warnings.push(err(
                            12200,
                            format!("<{other}> is not allowed in <Message>; skipped"),
                        )),
                    }
                }
                stack.push(name);
                if empty {
                    close(&mut stack, &mut current, &mut media, &mut out);
                }
            }
            Event::End(_) => close(&mut stack, &mut current, &mut media, &mut out),
            Event::Text(t) => text(&t.xml10_content()),
            Event::CData(c) => {
                let raw = c.into_inner();
                text(&raw)
            }
            Event::GeneralRef(r) => {
                let resolved = match r
                    .resolve_char_ref()
                    .map_err(|e| err(12100, format!("Document parse failure: {e}")))?
                {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.xml10_content();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| {
                                err(
                                    12100,
                                    format!("Document parse failure: unknown entity &{name};"),
                                )
                            })?
                            .to_string()
                    }
                };
                text(&resolved)
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(err(
            12100,
            format!(
                "Document parse failure: <{}> is never closed",
                stack.join("><")
            ),
        ));
    }
    if !seen_root {
        return Err(err(12100, "Document parse failure: no root element"));
    }
    Ok(out)
}

fn push_text(
    s: &str,
    slot: &Slot,
    depth: usize,
    current: &mut Option<(TwimlMessage, String, bool)>,
    media: &mut String,
    out: &mut Twiml,
) {
    if let Some((msg, plain, _)) = current.as_mut() {
        match slot {
            Slot::Plain => plain.push_str(s),
            Slot::Body => msg.body.push_str(s),
            Slot::Media => media.push_str(s),
            Slot::Ignored => {}
        }
    } else if !s.trim().is_empty() && depth == 1 {
        out.warnings
            .push(err(12200, "text directly inside <Response> is ignored"));
    }
}

/// Closes the innermost element; a closed `<Message>` becomes a message.
fn close(
    stack: &mut Vec<String>,
    current: &mut Option<(TwimlMessage, String, bool)>,
    media: &mut String,
    out: &mut Twiml,
) {
    let closed = stack.pop();
    match (stack.len(), closed.as_deref()) {
        (2, Some("Media")) if stack[1] == "Message" => {
            if let Some((msg, _, _)) = current.as_mut() {
                let url = media.trim().to_string();
                if !url.is_empty() {
                    if msg.media.len() < MAX_MEDIA {
                        msg.media.push(url);
                    } else {
                        out.warnings.push(err(
                            12200,
                            format!("more than {MAX_MEDIA} <Media> in a <Message>; {url} dropped"),
                        ));
                    }
                }
            }
            media.clear();
        }
        (1, Some("Message")) => {
            if let Some((mut msg, plain, has_body)) = current.take() {
                msg.body = if has_body {
                    msg.body.trim()
                } else {
                    plain.trim()
                }
                .to_string();
                if msg.body.is_empty() && msg.media.is_empty() {
                    out.warnings.push(err(
                        14103,
                        "a <Message> with neither text nor media is not sent",
                    ));
                } else {
                    out.messages.push(msg);
                }
            }
        }
        _ => {}
    }
}
