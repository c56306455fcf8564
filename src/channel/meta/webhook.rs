//! Webhook notifications: the events a WhatsApp webhook reports, the lenient
//! wire structs and [`parse_notification`].

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The only `object` a WhatsApp webhook carries.
pub const WEBHOOK_OBJECT: &str = "whatsapp_business_account";

/// The `code` given to an error object that carried none (it classifies as
/// [`ErrorClass::Unknown`](super::ErrorClass::Unknown)).
pub const MISSING_CODE: i64 = -1;

/// A webhook body that cannot be read at all. Elements that are merely
/// incomplete (a message without id, a change of another `field`) are
/// skipped instead, so that one odd element does not make Meta redeliver a
/// whole batch for days.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("the webhook body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the webhook body is JSON but not an object")]
    NotAnObject,
    #[error("the webhook body has no \"object\" field (expected \"whatsapp_business_account\")")]
    MissingObject,
    #[error("the webhook is for object {0:?}, expected \"whatsapp_business_account\"")]
    WrongObject(String),
}

/// One thing a webhook reports, in payload order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Event {
    Message(InboundMessage),
    Status(StatusUpdate),
    /// value.errors (system-level failure) for a number
    Errors {
        phone_number_id: String,
        errors: Vec<GraphError>,
    },
    /// A message signed by Meta but not one the bot can take (see
    /// [`InboundMessage::problem`]): refused, kept as a dead letter.
    Rejected {
        message: InboundMessage,
        reason: &'static str,
    },
}

impl Event {
    /// The number the event is for (`value.metadata.phone_number_id`).
    pub fn phone_number_id(&self) -> &str {
        match self {
            Event::Message(m) | Event::Rejected { message: m, .. } => &m.phone_number_id,
            Event::Status(s) => &s.phone_number_id,
            Event::Errors {
                phone_number_id, ..
            } => phone_number_id,
        }
    }

    /// What a dead letter keeps of the event: enough to debug routing (the
    /// number's id, message ids and types, error codes), phone numbers
    /// masked, never a text or a name.
    pub fn routing_summary(&self) -> Value {
        // Only a phone number is shown, and masked: a `from` that is not one
        // may be anything, a name included.
        let mask = |p: &Option<String>| {
            p.as_deref().map(|p| {
                let p = format!("+{}", p.trim_start_matches('+'));
                if crate::config::is_e164(&p) {
                    crate::channel::webhook::mask_phone(&p)
                } else {
                    "(not a phone number)".to_string()
                }
            })
        };
        match self {
            Event::Message(m) | Event::Rejected { message: m, .. } => serde_json::json!({
                "phone_number_id": m.phone_number_id,
                "message": m.wamid,
                "type": m.message_type,
                "from": mask(&m.from),
            }),
            Event::Status(s) => serde_json::json!({
                "phone_number_id": s.phone_number_id,
                "status_of": s.wamid,
                "status": s.status,
                "recipient": mask(&s.recipient_id),
                "error_codes": s.errors.iter().map(|e| e.code).collect::<Vec<_>>(),
            }),
            Event::Errors {
                phone_number_id,
                errors,
            } => serde_json::json!({
                "phone_number_id": phone_number_id,
                "error_codes": errors.iter().map(|e| e.code).collect::<Vec<_>>(),
            }),
        }
    }
}

/// Longest text a WhatsApp message carries.
pub const MAX_TEXT_CHARS: usize = 4096;

/// A message a user sent to one of our numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboundMessage {
    /// `value.metadata.phone_number_id`: the number written to, used for
    /// routing (one WABA can own several numbers).
    pub phone_number_id: String,
    /// Digits only, as in the webhook.
    pub display_phone_number: Option<String>,
    /// The message id (`wamid.…`): the deduplication key.
    pub wamid: String,
    /// The sender's digits without `+`; absent for users known only by a
    /// username (then see `user_id`).
    pub from: Option<String>,
    /// The business-scoped user id (`US.…`), from the message's
    /// `from_user_id` or the matching contact's `user_id`.
    pub user_id: Option<String>,
    /// The WhatsApp profile name of the matching contact.
    pub profile_name: Option<String>,
    /// Unix seconds.
    pub timestamp: Option<i64>,
    /// The payload's `type` (`text`, `interactive`, `image`, …; `unknown`
    /// when absent).
    pub message_type: String,
    pub content: Content,
    /// `context.id`: the wamid this message replies to.
    pub context_id: Option<String>,
    /// `context.forwarded`.
    pub forwarded: bool,
}

/// What an inbound message holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Content {
    Text(String),
    /// interactive button_reply / list_reply, and template quick-reply `button` (id = payload)
    Choice {
        id: String,
        title: String,
    },
    Media {
        /// image, audio, video, document or sticker
        kind: String,
        media_id: Option<String>,
        mime_type: Option<String>,
        caption: Option<String>,
        filename: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    /// reaction, contacts, unsupported, system, unknown types…: holds the
    /// message type (`interactive/nfm_reply` for an interactive reply that
    /// is not a choice).
    Other(String),
}

/// A status of a message we sent (`sent`, `delivered`, `read`, `failed`,
/// `played`). Deduplicate by (`wamid`, `status`); order is not guaranteed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusUpdate {
    pub phone_number_id: String,
    pub wamid: String,
    pub status: String,
    pub timestamp: Option<i64>,
    pub recipient_id: Option<String>,
    pub errors: Vec<GraphError>,
    /// `biz_opaque_callback_data`, echoed from the send.
    pub callback_data: Option<String>,
}

/// An error object, in a webhook (`statuses[].errors`, `value.errors`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphError {
    /// [`MISSING_CODE`] if the object had none.
    pub code: i64,
    pub title: Option<String>,
    pub message: Option<String>,
    /// `error_data.details`
    pub details: Option<String>,
}

impl InboundMessage {
    /// The text of the message: the body, a media caption or a choice's
    /// title; empty otherwise.
    pub fn text(&self) -> &str {
        match &self.content {
            Content::Text(body) => body,
            Content::Choice { title, .. } => title,
            Content::Media { caption, .. } => caption.as_deref().unwrap_or(""),
            Content::Location { .. } | Content::Other(_) => "",
        }
    }

    /// The id of the tapped button or list row.
    pub fn choice_id(&self) -> Option<&str> {
        match &self.content {
            Content::Choice { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The payload's message type: `text`, `interactive`, `button`,
    /// `image`, `location`, `reaction`, …
    pub fn kind(&self) -> &str {
        &self.message_type
    }

    /// Why the bot cannot take this message, though Meta signed it: a
    /// sender that is not a phone number, or a text longer than WhatsApp
    /// allows. `None` for a good message (one without a phone number at
    /// all is handled by the caller: it is a username user).
    pub fn problem(&self) -> Option<&'static str> {
        if let Some(from) = &self.from
            && !crate::config::is_e164(&format!("+{from}"))
        {
            return Some("the sender is not a phone number");
        }
        if self.text().chars().count() > MAX_TEXT_CHARS {
            return Some("text longer than 4096 characters");
        }
        None
    }

    /// Who sent it: the phone digits when known, else the business-scoped
    /// user id (Meta keys a contact by phone first).
    pub fn sender(&self) -> Option<&str> {
        self.from.as_deref().or(self.user_id.as_deref())
    }
}

// Wire structs. Every field is optional and tolerant of a changed type (a
// field of the wrong type reads as absent), since Meta adds and changes
// fields without notice; an array element that is not an object is
// skipped.

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawNotification {
    #[serde(deserialize_with = "lenient_vec")]
    entry: Vec<RawEntry>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawEntry {
    #[serde(deserialize_with = "lenient_vec")]
    changes: Vec<RawChange>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawChange {
    #[serde(deserialize_with = "lenient_string")]
    field: Option<String>,
    // Kept raw: other fields have other shapes.
    value: Value,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawValue {
    #[serde(deserialize_with = "lenient")]
    metadata: RawMetadata,
    #[serde(deserialize_with = "lenient_vec")]
    contacts: Vec<RawContact>,
    #[serde(deserialize_with = "lenient_vec")]
    messages: Vec<RawMessage>,
    #[serde(deserialize_with = "lenient_vec")]
    statuses: Vec<RawStatus>,
    #[serde(deserialize_with = "lenient_vec")]
    errors: Vec<RawError>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMetadata {
    #[serde(deserialize_with = "lenient_string")]
    display_phone_number: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    phone_number_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawContact {
    #[serde(deserialize_with = "lenient_string")]
    wa_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    user_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    profile: RawProfile,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawProfile {
    #[serde(deserialize_with = "lenient_string")]
    name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMessage {
    #[serde(deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    from: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    from_user_id: Option<String>,
    #[serde(deserialize_with = "lenient_i64")]
    timestamp: Option<i64>,
    #[serde(rename = "type", deserialize_with = "lenient_string")]
    kind: Option<String>,
    #[serde(deserialize_with = "lenient")]
    context: RawContext,
    #[serde(deserialize_with = "lenient")]
    text: Option<RawText>,
    #[serde(deserialize_with = "lenient")]
    interactive: Option<RawInteractive>,
    #[serde(deserialize_with = "lenient")]
    button: Option<RawButton>,
    #[serde(deserialize_with = "lenient")]
    image: Option<RawMedia>,
    #[serde(deserialize_with = "lenient")]
    audio: Option<RawMedia>,
    #[serde(deserialize_with = "lenient")]
    video: Option<RawMedia>,
    #[serde(deserialize_with = "lenient")]
    document: Option<RawMedia>,
    #[serde(deserialize_with = "lenient")]
    sticker: Option<RawMedia>,
    #[serde(deserialize_with = "lenient")]
    location: Option<RawLocation>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawContext {
    #[serde(deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    forwarded: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawText {
    #[serde(deserialize_with = "lenient_string")]
    body: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawInteractive {
    #[serde(rename = "type", deserialize_with = "lenient_string")]
    kind: Option<String>,
    #[serde(deserialize_with = "lenient")]
    button_reply: Option<RawReply>,
    #[serde(deserialize_with = "lenient")]
    list_reply: Option<RawReply>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawReply {
    #[serde(deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    title: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawButton {
    #[serde(deserialize_with = "lenient_string")]
    payload: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    text: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMedia {
    #[serde(deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    mime_type: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    caption: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    filename: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawLocation {
    #[serde(deserialize_with = "lenient_f64")]
    latitude: Option<f64>,
    #[serde(deserialize_with = "lenient_f64")]
    longitude: Option<f64>,
    #[serde(deserialize_with = "lenient_string")]
    name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    address: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawStatus {
    #[serde(deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    status: Option<String>,
    #[serde(deserialize_with = "lenient_i64")]
    timestamp: Option<i64>,
    #[serde(deserialize_with = "lenient_string")]
    recipient_id: Option<String>,
    #[serde(deserialize_with = "lenient_vec")]
    errors: Vec<RawError>,
    #[serde(deserialize_with = "lenient_string")]
    biz_opaque_callback_data: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawError {
    #[serde(deserialize_with = "lenient_i64")]
    code: Option<i64>,
    #[serde(deserialize_with = "lenient_string")]
    title: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    message: Option<String>,
    #[serde(deserialize_with = "lenient")]
    error_data: RawErrorData,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawErrorData {
    #[serde(deserialize_with = "lenient_string")]
    details: Option<String>,
}

/// Any value; one of the wrong shape reads as the default.
fn lenient<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    let v = Value::deserialize(d)?;
    Ok(serde_json::from_value(v).unwrap_or_default())
}

/// An array whose elements are read one by one: an unreadable element is
/// dropped, not the array.
fn lenient_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|item| {
                let read = serde_json::from_value(item);
                if read.is_err() {
                    tracing::warn!("Meta webhook: skipped an array element that is not an object");
                }
                read.ok()
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// A string (a number is taken as its decimal text); empty reads as absent.
/// Control characters are removed here, once, for every string of a
/// webhook (PostgreSQL cannot store `\0`, and none belongs in a message).
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) if !s.is_empty() => {
            Some(crate::input::strip_owned(s)).filter(|s| !s.is_empty())
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// An integer given as a number or a string of digits (timestamps are
/// strings, codes numbers).
fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A finite float given as a number or a string.
fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let f = match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    Ok(f.filter(|f: &f64| f.is_finite()))
}

/// Reads a webhook POST body (the raw bytes, after the signature check).
///
/// Every entry, change and element is walked; changes whose `field` is not
/// `messages` are ignored, as are messages and statuses without an id and
/// values without `metadata.phone_number_id` (nothing could be routed).
pub fn parse_notification(body: &[u8]) -> Result<Vec<Event>, ParseError> {
    let doc: Value = match serde_json::from_slice(body) {
        Ok(doc) => doc,
        // JSON allows escaped lone surrogates, which no Rust string holds:
        // they are read as U+FFFD rather than losing the whole batch.
        Err(e) => crate::input::replace_lone_surrogates(body)
            .and_then(|fixed| serde_json::from_slice(&fixed).ok())
            .ok_or_else(|| ParseError::InvalidJson(e.to_string()))?,
    };
    let object = doc.as_object().ok_or(ParseError::NotAnObject)?;
    match object.get("object") {
        None | Some(Value::Null) => return Err(ParseError::MissingObject),
        Some(Value::String(o)) if o == WEBHOOK_OBJECT => {}
        Some(Value::String(o)) => return Err(ParseError::WrongObject(o.clone())),
        Some(other) => return Err(ParseError::WrongObject(other.to_string())),
    }
    let notification: RawNotification = serde_json::from_value(doc).unwrap_or_default();
    let mut events = Vec::new();
    for change in notification.entry.into_iter().flat_map(|e| e.changes) {
        if change.field.as_deref() != Some("messages") {
            continue;
        }
        let Ok(value) = serde_json::from_value::<RawValue>(change.value) else {
            tracing::warn!("Meta webhook: skipped a messages change whose value is not an object");
            continue;
        };
        read_value(value, &mut events);
    }
    Ok(events)
}

fn read_value(value: RawValue, events: &mut Vec<Event>) {
    let Some(phone_number_id) = value.metadata.phone_number_id else {
        if !(value.messages.is_empty() && value.statuses.is_empty() && value.errors.is_empty()) {
            tracing::warn!("Meta webhook: skipped a value without metadata.phone_number_id");
        }
        return;
    };
    let display = value.metadata.display_phone_number;
    for m in value.messages {
        match read_message(m, &value.contacts, &phone_number_id, &display) {
            Some(msg) => events.push(match msg.problem() {
                None => Event::Message(msg),
                Some(reason) => Event::Rejected {
                    message: msg,
                    reason,
                },
            }),
            None => tracing::warn!("Meta webhook: skipped a message without id"),
        }
    }
    for s in value.statuses {
        let (Some(wamid), Some(status)) = (s.id, s.status) else {
            tracing::warn!("Meta webhook: skipped a status without id or status");
            continue;
        };
        events.push(Event::Status(StatusUpdate {
            phone_number_id: phone_number_id.clone(),
            wamid,
            status,
            timestamp: s.timestamp,
            recipient_id: s.recipient_id,
            errors: s.errors.into_iter().map(graph_error).collect(),
            callback_data: s.biz_opaque_callback_data,
        }));
    }
    if !value.errors.is_empty() {
        events.push(Event::Errors {
            phone_number_id,
            errors: value.errors.into_iter().map(graph_error).collect(),
        });
    }
}

fn graph_error(e: RawError) -> GraphError {
    GraphError {
        code: e.code.unwrap_or(MISSING_CODE),
        title: e.title,
        message: e.message,
        details: e.error_data.details,
    }
}

fn read_message(
    m: RawMessage,
    contacts: &[RawContact],
    phone_number_id: &str,
    display: &Option<String>,
) -> Option<InboundMessage> {
    let message_type = m.kind.clone().unwrap_or_else(|| "unknown".to_string());
    let content = read_content(&m, &message_type);
    let wamid = m.id?;
    let from = m
        .from
        .map(|f| f.trim().trim_start_matches('+').to_string())
        .filter(|f| !f.is_empty());
    // The contact of this sender: by phone, else by user id, else the only
    // one.
    let contact = contacts
        .iter()
        .find(|c| {
            from.is_some()
                && c.wa_id.as_deref().map(|w| w.trim_start_matches('+')) == from.as_deref()
        })
        .or_else(|| {
            contacts
                .iter()
                .find(|c| m.from_user_id.is_some() && c.user_id == m.from_user_id)
        })
        .or(match contacts {
            [only] => Some(only),
            _ => None,
        });
    Some(InboundMessage {
        phone_number_id: phone_number_id.to_string(),
        display_phone_number: display.clone(),
        wamid,
        from,
        user_id: m
            .from_user_id
            .clone()
            .or_else(|| contact.and_then(|c| c.user_id.clone())),
        profile_name: contact.and_then(|c| c.profile.name.clone()),
        timestamp: m.timestamp,
        message_type,
        content,
        context_id: m.context.id,
        forwarded: m.context.forwarded,
    })
}

fn read_content(m: &RawMessage, message_type: &str) -> Content {
    let other = || Content::Other(message_type.to_string());
    match message_type {
        "text" => Content::Text(
            m.text
                .as_ref()
                .and_then(|t| t.body.clone())
                .unwrap_or_default(),
        ),
        "interactive" => {
            let Some(i) = &m.interactive else {
                return other();
            };
            let reply = match i.kind.as_deref() {
                Some("button_reply") => i.button_reply.as_ref(),
                Some("list_reply") => i.list_reply.as_ref(),
                _ => None,
            };
            match reply {
                Some(RawReply {
                    id: Some(id),
                    title,
                }) => Content::Choice {
                    id: id.clone(),
                    title: title.clone().unwrap_or_default(),
                },
                _ => Content::Other(format!(
                    "interactive/{}",
                    i.kind.as_deref().unwrap_or("unknown")
                )),
            }
        }
        // A template's quick-reply button: the payload is the id we set.
        "button" => match &m.button {
            Some(b) => match b.payload.clone().or_else(|| b.text.clone()) {
                Some(id) => Content::Choice {
                    id,
                    title: b.text.clone().unwrap_or_default(),
                },
                None => other(),
            },
            None => other(),
        },
        "image" | "audio" | "video" | "document" | "sticker" => {
            let media = match message_type {
                "image" => &m.image,
                "audio" => &m.audio,
                "video" => &m.video,
                "document" => &m.document,
                _ => &m.sticker,
            };
            let media = media.as_ref();
            Content::Media {
                kind: message_type.to_string(),
                media_id: media.and_then(|x| x.id.clone()),
                mime_type: media.and_then(|x| x.mime_type.clone()),
                caption: media.and_then(|x| x.caption.clone()),
                filename: media.and_then(|x| x.filename.clone()),
            }
        }
        "location" => match &m.location {
            Some(RawLocation {
                latitude: Some(latitude),
                longitude: Some(longitude),
                name,
                address,
            }) => Content::Location {
                latitude: *latitude,
                longitude: *longitude,
                name: name.clone(),
                address: address.clone(),
            },
            _ => other(),
        },
        _ => other(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::meta::{ErrorClass, classify};
    use rstest::rstest;

    // ----- webhook samples (A.2) -----

    const TEXT_ENVELOPE: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{
  "messaging_product":"whatsapp",
  "metadata":{"display_phone_number":"243810000000","phone_number_id":"106540352242922"},
  "contacts":[{"profile":{"name":"Amani K."},"wa_id":"243990000001"}],
  "messages":[{"from":"243990000001","id":"wamid.HBgMMjQzOTkwMDAwMDAxFQIAEhgUM0E3","timestamp":"1763900000",
               "type":"text","text":{"body":"Bonjour"}}]}}]}]}"#;

    const BUTTON_REPLY: &str = r#"{"from":"243990000001","id":"wamid.…B2","timestamp":"1763900060","type":"interactive",
 "context":{"from":"243810000000","id":"wamid.…OUT1"},
 "interactive":{"type":"button_reply","button_reply":{"id":"g2","title":"Femme"}}}"#;
    const LIST_REPLY: &str = r#"{"from":"243990000001","id":"wamid.…B3","timestamp":"1763900070","type":"interactive",
 "interactive":{"type":"list_reply","list_reply":{"id":"city_KN","title":"Kinshasa","description":"KN"}}}"#;
    const IMAGE: &str = r#"{"from":"243990000001","id":"wamid.…C3","timestamp":"1763900100","type":"image",
 "image":{"caption":"carte","mime_type":"image/jpeg","sha256":"gV0H…=","id":"1037543291543636"}}"#;
    const LOCATION: &str = r#"{"from":"243990000001","id":"wamid.…C4","timestamp":"1763900110","type":"location",
 "location":{"latitude":-4.3217,"longitude":15.3125,"name":"Marché central","address":"Kinshasa"}}"#;

    const STATUSES_VALUE: &str = r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"243810000000","phone_number_id":"106540352242922"},
 "statuses":[{"id":"wamid.…OUT1","status":"delivered","timestamp":"1763900200","recipient_id":"243990000001",
   "pricing":{"billable":false,"pricing_model":"PMP","type":"free_customer_service","category":"service"}},
  {"id":"wamid.…OUT2","status":"failed","timestamp":"1763990000","recipient_id":"243990000001",
   "errors":[{"code":131047,"title":"Re-engagement message","message":"Re-engagement message",
     "error_data":{"details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
     "href":"https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]}]}"#;

    /// A `messages` value for number `pnid` holding these messages and the
    /// usual contact.
    fn value(pnid: &str, messages: &[&str]) -> String {
        format!(
            r#"{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"243810000000","phone_number_id":"{pnid}"}},"contacts":[{{"profile":{{"name":"Amani K."}},"wa_id":"243990000001"}}],"messages":[{}]}}"#,
            messages.join(",")
        )
    }

    /// A notification with one entry per list of (field, value) changes.
    fn notification(entries: &[&[(&str, &str)]]) -> String {
        let entries: Vec<String> = entries
            .iter()
            .map(|changes| {
                let changes: Vec<String> = changes
                    .iter()
                    .map(|(field, value)| format!(r#"{{"field":"{field}","value":{value}}}"#))
                    .collect();
                format!(
                    r#"{{"id":"102290129340398","changes":[{}]}}"#,
                    changes.join(",")
                )
            })
            .collect();
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{}]}}"#,
            entries.join(",")
        )
    }

    fn one_message(inner: &str) -> InboundMessage {
        let body = notification(&[&[("messages", &value("106540352242922", &[inner]))]]);
        match parse_notification(body.as_bytes()).unwrap().as_slice() {
            // A refused message is read all the same (see `problem`).
            [Event::Message(m)] | [Event::Rejected { message: m, .. }] => m.clone(),
            other => panic!("expected one message, got {other:?}"),
        }
    }

    #[test]
    fn the_full_text_envelope_is_read() {
        let events = parse_notification(TEXT_ENVELOPE.as_bytes()).unwrap();
        assert_eq!(
            events,
            vec![Event::Message(InboundMessage {
                phone_number_id: "106540352242922".into(),
                display_phone_number: Some("243810000000".into()),
                wamid: "wamid.HBgMMjQzOTkwMDAwMDAxFQIAEhgUM0E3".into(),
                from: Some("243990000001".into()),
                user_id: None,
                profile_name: Some("Amani K.".into()),
                timestamp: Some(1763900000),
                message_type: "text".into(),
                content: Content::Text("Bonjour".into()),
                context_id: None,
                forwarded: false,
            })]
        );
        let Event::Message(m) = &events[0] else {
            unreachable!()
        };
        assert_eq!(
            (m.text(), m.kind(), m.choice_id()),
            ("Bonjour", "text", None)
        );
        assert_eq!(m.sender(), Some("243990000001"));
    }

    #[test]
    fn a_button_reply_is_a_choice_with_its_context() {
        let m = one_message(BUTTON_REPLY);
        assert_eq!(
            m.content,
            Content::Choice {
                id: "g2".into(),
                title: "Femme".into()
            }
        );
        assert_eq!(m.choice_id(), Some("g2"));
        assert_eq!(m.text(), "Femme");
        assert_eq!(m.kind(), "interactive");
        assert_eq!(m.context_id.as_deref(), Some("wamid.…OUT1"));
        assert_eq!(m.timestamp, Some(1763900060));
    }

    #[test]
    fn a_list_reply_is_a_choice() {
        let m = one_message(LIST_REPLY);
        assert_eq!(m.choice_id(), Some("city_KN"));
        assert_eq!(m.text(), "Kinshasa");
        assert_eq!(m.wamid, "wamid.…B3");
        assert_eq!(m.context_id, None);
    }

    #[test]
    fn a_template_quick_reply_button_is_a_choice_keyed_by_its_payload() {
        let m = one_message(
            r#"{"from":"243990000001","id":"wamid.T1","timestamp":"1763900000","type":"button",
                "button":{"payload":"rappel_oui","text":"Oui"}}"#,
        );
        assert_eq!(
            m.content,
            Content::Choice {
                id: "rappel_oui".into(),
                title: "Oui".into()
            }
        );
        assert_eq!(m.kind(), "button");
    }

    #[test]
    fn an_image_is_media_with_its_caption() {
        let m = one_message(IMAGE);
        assert_eq!(
            m.content,
            Content::Media {
                kind: "image".into(),
                media_id: Some("1037543291543636".into()),
                mime_type: Some("image/jpeg".into()),
                caption: Some("carte".into()),
                filename: None,
            }
        );
        assert_eq!(m.text(), "carte");
        assert_eq!(m.kind(), "image");
    }

    #[test]
    fn documents_and_voice_notes_are_media_too() {
        let doc = one_message(
            r#"{"from":"243990000001","id":"wamid.D1","type":"document",
                "document":{"filename":"fiche.pdf","mime_type":"application/pdf","id":"55"}}"#,
        );
        assert_eq!(
            doc.content,
            Content::Media {
                kind: "document".into(),
                media_id: Some("55".into()),
                mime_type: Some("application/pdf".into()),
                caption: None,
                filename: Some("fiche.pdf".into()),
            }
        );
        assert_eq!(doc.text(), "");
        let voice = one_message(
            r#"{"from":"243990000001","id":"wamid.A1","type":"audio",
                "audio":{"mime_type":"audio/ogg; codecs=opus","id":"56","voice":true}}"#,
        );
        assert!(matches!(voice.content, Content::Media { ref kind, .. } if kind == "audio"));
    }

    #[test]
    fn a_location_keeps_its_coordinates_and_place() {
        let m = one_message(LOCATION);
        assert_eq!(
            m.content,
            Content::Location {
                latitude: -4.3217,
                longitude: 15.3125,
                name: Some("Marché central".into()),
                address: Some("Kinshasa".into()),
            }
        );
        assert_eq!(m.text(), "");
        assert_eq!(m.kind(), "location");
    }

    #[test]
    fn statuses_carry_their_errors() {
        let body = notification(&[&[("messages", STATUSES_VALUE)]]);
        let events = parse_notification(body.as_bytes()).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0],
            Event::Status(StatusUpdate {
                phone_number_id: "106540352242922".into(),
                wamid: "wamid.…OUT1".into(),
                status: "delivered".into(),
                timestamp: Some(1763900200),
                recipient_id: Some("243990000001".into()),
                errors: vec![],
                callback_data: None,
            })
        );
        let Event::Status(failed) = &events[1] else {
            panic!("expected a status, got {:?}", events[1])
        };
        assert_eq!(failed.status, "failed");
        assert_eq!(
            failed.errors,
            vec![GraphError {
                code: 131047,
                title: Some("Re-engagement message".into()),
                message: Some("Re-engagement message".into()),
                details: Some("Message failed to send because more than 24 hours have passed since the customer last replied to this number.".into()),
            }]
        );
        assert_eq!(classify(failed.errors[0].code), ErrorClass::Window);
    }

    #[test]
    fn a_status_echoes_the_callback_data() {
        let v = r#"{"metadata":{"phone_number_id":"1"},"statuses":[{"id":"wamid.X","status":"sent","biz_opaque_callback_data":"outbox:42"}]}"#;
        let events = parse_notification(notification(&[&[("messages", v)]]).as_bytes()).unwrap();
        let [Event::Status(s)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(s.callback_data.as_deref(), Some("outbox:42"));
        assert_eq!(s.timestamp, None);
    }

    #[test]
    fn every_entry_change_and_message_of_a_batch_is_read_in_order() {
        let text = |id: &str| {
            format!(
                r#"{{"from":"243990000001","id":"{id}","timestamp":"1763900000","type":"text","text":{{"body":"{id}"}}}}"#
            )
        };
        let (a1, a2, b1, c1, c2, c3) = (
            text("w.a1"),
            text("w.a2"),
            text("w.b1"),
            text("w.c1"),
            text("w.c2"),
            text("w.c3"),
        );
        let va = value("111", &[&a1, &a2]);
        let vc = value("333", &[&c1, &c2, &c3]);
        let vb = value("111", &[&b1]);
        let body = notification(&[
            &[("messages", &va), ("messages", STATUSES_VALUE)],
            &[("messages", &vb), ("messages", &vc)],
        ]);
        let events = parse_notification(body.as_bytes()).unwrap();
        let summary: Vec<(String, String)> = events
            .iter()
            .map(|e| match e {
                Event::Message(m) => (m.phone_number_id.clone(), m.wamid.clone()),
                Event::Status(s) => (s.phone_number_id.clone(), s.status.clone()),
                Event::Errors { .. } | Event::Rejected { .. } => panic!("no errors expected"),
            })
            .collect();
        let expected: Vec<(String, String)> = [
            ("111", "w.a1"),
            ("111", "w.a2"),
            ("106540352242922", "delivered"),
            ("106540352242922", "failed"),
            ("111", "w.b1"),
            ("333", "w.c1"),
            ("333", "w.c2"),
            ("333", "w.c3"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(summary, expected);
    }

    #[test]
    fn a_username_user_without_phone_is_known_by_user_id() {
        let v = r#"{"metadata":{"phone_number_id":"1"},
            "contacts":[{"profile":{"name":"Zola"},"user_id":"US.13491208655302741918"}],
            "messages":[{"id":"wamid.U1","timestamp":"1763900000","type":"text","text":{"body":"salut"},
                         "from_user_id":"US.13491208655302741918"}]}"#;
        let events = parse_notification(notification(&[&[("messages", v)]]).as_bytes()).unwrap();
        let [Event::Message(m)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(m.from, None);
        assert_eq!(m.user_id.as_deref(), Some("US.13491208655302741918"));
        assert_eq!(m.profile_name.as_deref(), Some("Zola"));
        assert_eq!(m.sender(), Some("US.13491208655302741918"));
    }

    #[test]
    fn the_contact_is_matched_by_wa_id_among_several() {
        let v = r#"{"metadata":{"phone_number_id":"1"},
            "contacts":[{"profile":{"name":"Other"},"wa_id":"243990000009","user_id":"US.9"},
                        {"profile":{"name":"Amani"},"wa_id":"243990000001","user_id":"US.1"}],
            "messages":[{"from":"243990000001","id":"wamid.M1","type":"text","text":{"body":"x"}},
                        {"from":"243990000005","id":"wamid.M2","type":"text","text":{"body":"y"}}]}"#;
        let events = parse_notification(notification(&[&[("messages", v)]]).as_bytes()).unwrap();
        let [Event::Message(m1), Event::Message(m2)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(m1.profile_name.as_deref(), Some("Amani"));
        assert_eq!(m1.user_id.as_deref(), Some("US.1"));
        // No matching contact and no single one to fall back on.
        assert_eq!(m2.profile_name, None);
        assert_eq!(m2.user_id, None);
    }

    #[test]
    fn other_fields_are_ignored_without_error() {
        let account_update = r#"{"phone_number":"243810000000","event":"VERIFIED_ACCOUNT","messages":"not the same shape"}"#;
        let template = r#"{"event":"APPROVED","message_template_id":12345,"message_template_name":"ciu_rappel"}"#;
        let body = notification(&[&[
            ("account_update", account_update),
            ("message_template_status_update", template),
        ]]);
        assert_eq!(parse_notification(body.as_bytes()).unwrap(), vec![]);
        let mixed = notification(&[&[
            ("account_update", account_update),
            ("messages", &value("1", &[BUTTON_REPLY])),
        ]]);
        assert_eq!(parse_notification(mixed.as_bytes()).unwrap().len(), 1);
    }

    #[rstest]
    #[case(r#"{"from":"243990000001","id":"wamid.R1","type":"reaction","reaction":{"message_id":"wamid.OUT1","emoji":"👍"}}"#, "reaction")]
    #[case(r#"{"from":"243990000001","id":"wamid.R2","type":"unsupported","errors":[{"code":131051,"title":"Message type unknown"}]}"#, "unsupported")]
    #[case(
        r#"{"from":"243990000001","id":"wamid.R3","type":"hologram","hologram":{"x":1}}"#,
        "hologram"
    )]
    #[case(r#"{"from":"243990000001","id":"wamid.R4"}"#, "unknown")]
    #[case(r#"{"from":"243990000001","id":"wamid.R5","type":"interactive","interactive":{"type":"nfm_reply","nfm_reply":{"response_json":"{}"}}}"#, "interactive/nfm_reply")]
    #[case(r#"{"from":"243990000001","id":"wamid.R6","type":"location","location":{"name":"no coordinates"}}"#, "location")]
    fn unknown_or_incomplete_types_are_other(#[case] inner: &str, #[case] other: &str) {
        let m = one_message(inner);
        assert_eq!(m.content, Content::Other(other.into()));
        assert_eq!(m.text(), "");
        assert_eq!(m.choice_id(), None);
    }

    #[test]
    fn escaped_non_ascii_is_decoded() {
        let m = one_message(
            r#"{"from":"243990000001","id":"wamid.E1","type":"text","text":{"body":"Je suis n\u00e9e \u00e0 Mbandaka \ud83d\ude00"}}"#,
        );
        assert_eq!(m.text(), "Je suis née à Mbandaka 😀");
    }

    #[test]
    fn value_errors_become_an_errors_event() {
        let v = r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"243810000000","phone_number_id":"106540352242922"},
            "errors":[{"code":131031,"title":"Business Account locked","message":"Business Account locked","error_data":{"details":"locked"}}]}"#;
        let events = parse_notification(notification(&[&[("messages", v)]]).as_bytes()).unwrap();
        assert_eq!(
            events,
            vec![Event::Errors {
                phone_number_id: "106540352242922".into(),
                errors: vec![GraphError {
                    code: 131031,
                    title: Some("Business Account locked".into()),
                    message: Some("Business Account locked".into()),
                    details: Some("locked".into()),
                }],
            }]
        );
    }

    #[test]
    fn elements_that_cannot_be_routed_or_deduplicated_are_skipped() {
        let no_pnid = r#"{"metadata":{"display_phone_number":"243810000000"},"messages":[{"id":"wamid.N1","type":"text","text":{"body":"x"}}]}"#;
        let no_id = value(
            "1",
            &[
                r#"{"from":"243990000001","type":"text","text":{"body":"x"}}"#,
                LIST_REPLY,
            ],
        );
        let no_status = r#"{"metadata":{"phone_number_id":"1"},"statuses":[{"id":"wamid.S"},{"status":"read"},3,"x"]}"#;
        let body = notification(&[&[
            ("messages", no_pnid),
            ("messages", &no_id),
            ("messages", no_status),
            ("messages", "[1,2]"),
            ("messages", "null"),
        ]]);
        let events = parse_notification(body.as_bytes()).unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(matches!(&events[0], Event::Message(m) if m.wamid == "wamid.…B3"));
    }

    #[test]
    fn fields_of_an_unexpected_type_read_as_absent() {
        let m = one_message(
            r#"{"from":243990000001,"id":"wamid.T","timestamp":1763900000,"type":"text","text":"oops","context":[]}"#,
        );
        assert_eq!(m.from.as_deref(), Some("243990000001"));
        assert_eq!(m.timestamp, Some(1763900000));
        assert_eq!(m.content, Content::Text(String::new()));
        let body = r#"{"object":"whatsapp_business_account","entry":{"not":"an array"}}"#;
        assert_eq!(parse_notification(body.as_bytes()).unwrap(), vec![]);
        let body = r#"{"object":"whatsapp_business_account"}"#;
        assert_eq!(parse_notification(body.as_bytes()).unwrap(), vec![]);
    }

    #[test]
    fn unreadable_bodies_are_errors_with_a_precise_message() {
        let e = parse_notification(b"{\"object\":").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the webhook body is not valid JSON: EOF while parsing a value at line 1 column 10"
        );
        assert!(matches!(
            parse_notification(b""),
            Err(ParseError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_notification(b"\xff\xfe"),
            Err(ParseError::InvalidJson(_))
        ));
        assert_eq!(parse_notification(b"[1]"), Err(ParseError::NotAnObject));
        assert_eq!(parse_notification(b"{}"), Err(ParseError::MissingObject));
        assert_eq!(
            parse_notification(br#"{"object":"page","entry":[]}"#),
            Err(ParseError::WrongObject("page".into()))
        );
        assert_eq!(
            parse_notification(br#"{"object":"page"}"#)
                .unwrap_err()
                .to_string(),
            r#"the webhook is for object "page", expected "whatsapp_business_account""#
        );
        assert_eq!(
            parse_notification(br#"{"object":7}"#),
            Err(ParseError::WrongObject("7".into()))
        );
    }

    /// Any JSON value, with keys the parser looks for.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
                proptest::collection::btree_map(
                    "[a-z_]{1,8}|type|id|from|text|body|interactive|button_reply|location|latitude|image|errors|code|metadata|phone_number_id|messages|statuses|contacts|wa_id",
                    inner,
                    0..5,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn a_well_formed_envelope_is_read_whatever_it_holds(inner in any_json(), message in any_json()) {
            let with_pnid = serde_json::json!({"metadata": {"phone_number_id": "1"}, "messages": [message, inner.clone()], "statuses": [inner.clone()], "errors": [inner.clone()]});
            let body = notification(&[&[("messages", &inner.to_string()), ("messages", &with_pnid.to_string())]]);
            proptest::prop_assert!(parse_notification(body.as_bytes()).is_ok());
        }

        #[test]
        fn parsing_any_bytes_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_notification(&body);
        }

        #[test]
        fn any_text_survives_a_round_trip(text in "\\PC{0,200}", from in "[0-9]{0,15}") {
            let inner = serde_json::json!({"from": from, "id": "wamid.P", "type": "text", "text": {"body": text}});
            let m = one_message(&inner.to_string());
            proptest::prop_assert_eq!(m.text(), text.as_str());
            proptest::prop_assert_eq!(m.from, Some(from).filter(|f| !f.is_empty()));
        }
    }
}
