//! Meta's WhatsApp Cloud API: webhook parsing, `X-Hub-Signature-256`, the
//! verification handshake, outbound payloads, error classification and a
//! small Graph API client (reference: WhatsApp Cloud API webhooks, messages,
//! media and error-code pages). Nothing here touches the database.

use hmac::{Hmac, KeyInit, Mac};
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;
use std::time::Duration;
use subtle::ConstantTimeEq;

// ---------------------------------------------------------------------------
// Webhook notifications
// ---------------------------------------------------------------------------

/// The only `object` a WhatsApp webhook carries.
pub const WEBHOOK_OBJECT: &str = "whatsapp_business_account";

/// The `code` given to an error object that carried none (it classifies as
/// [`ErrorClass::Unknown`]).
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

// ---------------------------------------------------------------------------
// Signature and verification handshake
// ---------------------------------------------------------------------------

type HmacSha256 = Hmac<Sha256>;

fn mac(app_secret: &str, body: &[u8]) -> Option<HmacSha256> {
    // HMAC accepts keys of any length: this never fails.
    let mut mac = HmacSha256::new_from_slice(app_secret.as_bytes()).ok()?;
    mac.update(body);
    Some(mac)
}

/// The `X-Hub-Signature-256` value Meta sends for this body:
/// `sha256=<lowercase hex of HMAC-SHA256(app secret, body)>`.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    let digest = mac(app_secret, body)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("sha256={digest}")
}

/// Checks `X-Hub-Signature-256` over the raw body, in constant time. Hex in
/// either case is accepted; a missing or malformed header, or an empty app
/// secret (anyone could sign with it), fails.
pub fn verify_signature(app_secret: &str, body: &[u8], header: Option<&str>) -> bool {
    if app_secret.is_empty() {
        return false;
    }
    let Some(header) = header.map(str::trim) else {
        return false;
    };
    let Some(hex_digest) = header
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("sha256="))
        .and_then(|_| header.get(7..))
    else {
        return false;
    };
    let Ok(tag) = hex::decode(hex_digest) else {
        return false;
    };
    if tag.len() != 32 {
        return false;
    }
    mac(app_secret, body).is_some_and(|m| m.verify_slice(&tag).is_ok())
}

/// Why a verification GET is refused (answer 403).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChallengeError {
    #[error("hub.mode must be \"subscribe\"")]
    WrongMode,
    #[error("hub.verify_token is missing")]
    MissingToken,
    #[error("hub.verify_token does not match any configured verify token")]
    UnknownToken,
    #[error("hub.challenge is missing")]
    MissingChallenge,
    #[error("hub.challenge is too long or holds control characters")]
    InvalidChallenge,
}

/// The longest `hub.challenge` echoed back (Meta's are short numbers).
const CHALLENGE_MAX: usize = 1024;

/// Answers Meta's verification GET: the challenge to return as the whole
/// plain-text body when `hub.mode` is `subscribe` and the token is known.
/// `is_known_token` should compare with [`tokens_equal`].
pub fn verify_challenge<'a>(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'a str>,
    is_known_token: impl Fn(&str) -> bool,
) -> Result<&'a str, ChallengeError> {
    if mode != Some("subscribe") {
        return Err(ChallengeError::WrongMode);
    }
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(ChallengeError::MissingToken)?;
    if !is_known_token(token) {
        return Err(ChallengeError::UnknownToken);
    }
    let challenge = challenge
        .filter(|c| !c.is_empty())
        .ok_or(ChallengeError::MissingChallenge)?;
    if challenge.len() > CHALLENGE_MAX || challenge.chars().any(char::is_control) {
        return Err(ChallengeError::InvalidChallenge);
    }
    Ok(challenge)
}

/// Compares two secrets in constant time, lengths included (the SHA-256
/// digests are compared, not the strings).
pub fn tokens_equal(a: &str, b: &str) -> bool {
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    da.as_slice().ct_eq(db.as_slice()).into()
}

// ---------------------------------------------------------------------------
// Outbound payloads
// ---------------------------------------------------------------------------

/// A text body (A.5).
pub const TEXT_BODY_MAX: usize = 4096;
/// Reply buttons: count, title, id, body.
pub const BUTTONS_MAX: usize = 3;
pub const BUTTON_TITLE_MAX: usize = 20;
pub const BUTTON_ID_MAX: usize = 256;
pub const BUTTON_BODY_MAX: usize = 1024;
/// Lists: rows in total, row title, row id, row description, body, button.
pub const LIST_ROWS_MAX: usize = 10;
pub const ROW_TITLE_MAX: usize = 24;
pub const ROW_ID_MAX: usize = 200;
pub const ROW_DESCRIPTION_MAX: usize = 72;
pub const LIST_BODY_MAX: usize = 4096;
pub const LIST_BUTTON_MAX: usize = 20;
/// Media captions (Meta's media-message page; not in the limits we test
/// against, kept conservative).
pub const CAPTION_MAX: usize = 1024;

/// The list button label used when the given one is blank.
const DEFAULT_LIST_BUTTON: &str = "Options";

/// At most `max` characters (Unicode scalar values); a cut text ends with
/// "…", inside the limit.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

/// A one-line label: control characters (newlines, tabs) become spaces,
/// surrounding blanks go.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// The recipient fields: `"to"` with the digits (a leading `+`, spaces and
/// dashes dropped), or `"recipient"` for a business-scoped user id
/// (`US.1349…`), which is how Meta addresses users known only by username.
fn recipient(to: &str) -> (&'static str, String) {
    let trimmed = to.trim();
    let digits: String = trimmed
        .trim_start_matches('+')
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect();
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        ("to", digits)
    } else if trimmed.contains('.') {
        ("recipient", trimmed.to_string())
    } else {
        ("to", digits)
    }
}

fn envelope(to: &str, kind: &str, key: &str, content: Value) -> Value {
    let (field, address) = recipient(to);
    let mut payload = serde_json::Map::new();
    payload.insert("messaging_product".into(), json!("whatsapp"));
    payload.insert("recipient_type".into(), json!("individual"));
    payload.insert(field.into(), json!(address));
    payload.insert("type".into(), json!(kind));
    payload.insert(key.into(), content);
    Value::Object(payload)
}

/// A text message (body cut at 4096 characters, link previews off).
pub fn text_message(to: &str, body: &str) -> Value {
    envelope(
        to,
        "text",
        "text",
        json!({"preview_url": false, "body": truncate(body, TEXT_BODY_MAX)}),
    )
}

/// Titles within `max` characters and unique (ignoring case), in order: a
/// title that collides once cut gets a number (`Kinshasa-Gombe-No… 2`).
fn unique_titles(titles: &[String], max: usize) -> Vec<String> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(titles.len());
    for title in titles {
        let mut candidate = truncate(title, max);
        let mut n = 2;
        while taken.contains(&candidate.to_lowercase()) && n < 100 {
            let suffix = format!(" {n}");
            let room = max.saturating_sub(suffix.chars().count());
            candidate = format!("{}{suffix}", truncate(title, room));
            n += 1;
        }
        taken.insert(candidate.to_lowercase());
        out.push(candidate);
    }
    out
}

/// A question with choices, as (id, title) pairs: 1–3 choices become reply
/// buttons, 4–10 a list with one section, none or more than 10 a plain text
/// message (the caller writes the options into the text then).
///
/// The result never breaks Meta's limits: titles are cut with "…" and kept
/// unique; a list row whose title was cut shows the full title as its
/// description. Ids are never altered (taps come back with them): a repeated
/// id is dropped, and an empty or overlong id makes a plain text message.
/// 1–3 choices under a body longer than a button message allows become a
/// list (whose body may be 4096 long) rather than losing text.
pub fn choice_message(
    to: &str,
    body: &str,
    choices: &[(String, String)],
    list_button_label: &str,
) -> Value {
    let mut seen = HashSet::new();
    let choices: Vec<&(String, String)> = choices
        .iter()
        .filter(|(id, _)| seen.insert(id.as_str()))
        .collect();
    let id_len = |max: usize| choices.iter().all(|(id, _)| id.chars().count() <= max);
    if choices.is_empty()
        || choices.len() > LIST_ROWS_MAX
        || choices.iter().any(|(id, _)| id.is_empty())
        || !id_len(BUTTON_ID_MAX)
    {
        return text_message(to, body);
    }
    let body = if body.trim().is_empty() { "…" } else { body };
    // A title left blank shows its id.
    let titles: Vec<String> = choices
        .iter()
        .map(|(id, title)| match one_line(title) {
            t if t.is_empty() => match one_line(id) {
                i if i.is_empty() => "…".to_string(),
                i => i,
            },
            t => t,
        })
        .collect();
    let fits_buttons = choices.len() <= BUTTONS_MAX
        && (body.chars().count() <= BUTTON_BODY_MAX || !id_len(ROW_ID_MAX));
    if fits_buttons {
        let buttons: Vec<Value> = choices
            .iter()
            .zip(unique_titles(&titles, BUTTON_TITLE_MAX))
            .map(|((id, _), title)| json!({"type": "reply", "reply": {"id": id, "title": title}}))
            .collect();
        return envelope(
            to,
            "interactive",
            "interactive",
            json!({
                "type": "button",
                "body": {"text": truncate(body, BUTTON_BODY_MAX)},
                "action": {"buttons": buttons},
            }),
        );
    }
    if !id_len(ROW_ID_MAX) {
        return text_message(to, body);
    }
    let rows: Vec<Value> = choices
        .iter()
        .zip(titles.iter())
        .zip(unique_titles(&titles, ROW_TITLE_MAX))
        .map(|(((id, _), full), title)| {
            if *full == title {
                json!({"id": id, "title": title})
            } else {
                json!({"id": id, "title": title, "description": truncate(full, ROW_DESCRIPTION_MAX)})
            }
        })
        .collect();
    let label = match one_line(list_button_label) {
        l if l.is_empty() => DEFAULT_LIST_BUTTON.to_string(),
        l => truncate(&l, LIST_BUTTON_MAX),
    };
    envelope(
        to,
        "interactive",
        "interactive",
        json!({
            "type": "list",
            "body": {"text": truncate(body, LIST_BODY_MAX)},
            "action": {"button": label, "sections": [{"rows": rows}]},
        }),
    )
}

/// An image sent by the id of uploaded media, with an optional caption.
pub fn image_message(to: &str, media_id: &str, caption: Option<&str>) -> Value {
    let mut image = json!({"id": media_id});
    if let Some(caption) = caption.filter(|c| !c.trim().is_empty()) {
        image["caption"] = json!(truncate(caption, CAPTION_MAX));
    }
    envelope(to, "image", "image", image)
}

/// Marks a received message (and the earlier ones) as read.
pub fn mark_read(wamid: &str) -> Value {
    json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid})
}

/// Adds `biz_opaque_callback_data`, echoed in the status webhooks of this
/// message (e.g. the outbox row id).
pub fn with_callback_data(mut payload: Value, data: &str) -> Value {
    if let Some(p) = payload.as_object_mut() {
        p.insert("biz_opaque_callback_data".into(), json!(data));
    }
    payload
}

/// Makes the message quote the message `wamid`.
pub fn with_context(mut payload: Value, wamid: &str) -> Value {
    if let Some(p) = payload.as_object_mut() {
        p.insert("context".into(), json!({"message_id": wamid}));
    }
    payload
}

// ---------------------------------------------------------------------------
// Error classification
// ---------------------------------------------------------------------------

/// What a Graph error code means for the sender (Meta: handle on `code`,
/// not on the HTTP status or the title).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ErrorClass {
    /// Token expired or lacking a permission: stop sending, alert an admin.
    Token,
    /// The account is restricted, locked, unpaid or unregistered: stop.
    Account,
    /// Too many messages or calls: retry with back-off.
    Throughput,
    /// Too many messages to this user: retry to this user later.
    PairRate,
    /// Temporary failure: retry a few times.
    Transient,
    /// Outside the 24-hour window: only a template may be sent.
    Window,
    /// The recipient cannot receive this message: do not retry.
    Recipient,
    /// A bug in the request: do not retry.
    Request,
    /// Media could not be uploaded or downloaded.
    Media,
    /// The template is wrong, paused or disabled.
    Template,
    Unknown,
}

/// Classifies a Graph error code.
pub fn classify(code: i64) -> ErrorClass {
    match code {
        190 | 0 | 3 | 10 | 131005 | 200..=299 => ErrorClass::Token,
        368 | 131031 | 131042 | 131045 | 130497 => ErrorClass::Account,
        130429 | 4 | 80007 | 131048 => ErrorClass::Throughput,
        131056 => ErrorClass::PairRate,
        1 | 2 | 131000 | 131016 | 131057 => ErrorClass::Transient,
        131047 => ErrorClass::Window,
        131030 | 131026 | 131021 | 131050 | 131049 | 130472 => ErrorClass::Recipient,
        100 | 131008 | 131009 | 131051 | 135000 | 131062 => ErrorClass::Request,
        131052 | 131053 => ErrorClass::Media,
        132000 | 132001 | 132012 | 132015 | 132016 => ErrorClass::Template,
        _ => ErrorClass::Unknown,
    }
}

impl ErrorClass {
    /// Whether sending the same message again later may succeed. `Unknown`
    /// is not (a caller may still retry an unknown code answered with 5xx).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ErrorClass::Throughput | ErrorClass::PairRate | ErrorClass::Transient
        )
    }
}

// ---------------------------------------------------------------------------
// Graph API client
// ---------------------------------------------------------------------------

/// Why a Graph call failed. Never holds the access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Graph error object answered (any HTTP status)
    Graph {
        http_status: u16,
        code: i64,
        message: String,
        details: Option<String>,
        /// Retry-After header if any
        retry_after: Option<Duration>,
    },
    /// non-2xx without a parsable error object
    Http {
        http_status: u16,
        retry_after: Option<Duration>,
    },
    /// connect error, reset, timeout
    Network(String),
    /// 2xx whose body lacks the expected id
    BadResponse(String),
    /// The request could not be built (an invalid MIME type, say); nothing
    /// was sent.
    Invalid(String),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let retry = |f: &mut fmt::Formatter<'_>, after: &Option<Duration>| match after {
            Some(d) => write!(f, "; retry after {} s", d.as_secs()),
            None => Ok(()),
        };
        match self {
            SendError::Graph {
                http_status,
                code,
                message,
                details,
                retry_after,
            } => {
                write!(f, "Graph API error {code} (HTTP {http_status}): {message}")?;
                if let Some(details) = details {
                    write!(f, " ({details})")?;
                }
                retry(f, retry_after)
            }
            SendError::Http {
                http_status,
                retry_after,
            } => {
                write!(
                    f,
                    "Graph API answered HTTP {http_status} without an error object"
                )?;
                retry(f, retry_after)
            }
            SendError::Network(e) => write!(f, "could not reach the Graph API: {e}"),
            SendError::BadResponse(e) => write!(f, "unexpected Graph API answer: {e}"),
            SendError::Invalid(e) => write!(f, "invalid Graph API request: {e}"),
        }
    }
}

impl std::error::Error for SendError {}

impl SendError {
    /// The class that decides what to do: the code's class for a Graph
    /// error; throughput for HTTP 429; transient for 5xx and network
    /// failures; a request problem otherwise.
    pub fn class(&self) -> ErrorClass {
        match self {
            SendError::Graph { code, .. } => classify(*code),
            SendError::Http {
                http_status: 429, ..
            } => ErrorClass::Throughput,
            SendError::Http { http_status, .. } if *http_status >= 500 => ErrorClass::Transient,
            SendError::Network(_) => ErrorClass::Transient,
            SendError::Http { .. } | SendError::BadResponse(_) | SendError::Invalid(_) => {
                ErrorClass::Request
            }
        }
    }

    /// The Graph error code, if Graph answered one.
    pub fn code(&self) -> Option<i64> {
        match self {
            SendError::Graph { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The `Retry-After` the server gave, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Graph { retry_after, .. } | SendError::Http { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}

/// The production Graph API host.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";

/// The fields `phone_number_info` asks for.
const PHONE_NUMBER_FIELDS: &str = "display_phone_number,verified_name,quality_rating,code_verification_status,platform_type,throughput";

/// A client for the Graph API calls the bot makes. Cheap to clone; the
/// access token is given per call (each account has its own).
#[derive(Debug, Clone)]
pub struct GraphClient {
    /// The HTTP client, or why it could not be built (every call then
    /// fails with that reason instead of panicking).
    http: Result<reqwest::Client, String>,
    /// `{base}/{version}` without a trailing slash.
    root: String,
}

impl GraphClient {
    /// `base_url` like `https://graph.facebook.com` (a trailing slash is
    /// fine), `api_version` like `v21.0`; `timeout` bounds each call.
    pub fn new(base_url: &str, api_version: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("uic-inbox/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client could not be built: {}", error_chain(&e)));
        GraphClient {
            http,
            root: format!(
                "{}/{}",
                base_url.trim().trim_end_matches('/'),
                api_version.trim().trim_matches('/')
            ),
        }
    }

    /// `{root}/{segment}/…`, each segment percent-encoded so that an id
    /// can never change the path; an empty or dot segment is refused.
    fn url(&self, segments: &[&str]) -> Result<String, SendError> {
        // RFC 3986 unreserved characters stay as they are.
        const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        let mut url = self.root.clone();
        for s in segments {
            if matches!(*s, "" | "." | "..") {
                return Err(SendError::Invalid(format!(
                    "{s:?} is not a valid id in a Graph API path"
                )));
            }
            url.push('/');
            url.extend(percent_encoding::utf8_percent_encode(s, SEGMENT));
        }
        Ok(url)
    }

    fn http(&self) -> Result<&reqwest::Client, SendError> {
        self.http
            .as_ref()
            .map_err(|e| SendError::Network(e.clone()))
    }

    /// Sends a message payload (see [`text_message`] and the others) and
    /// returns its wamid, the key of its later status webhooks.
    pub async fn send_message(
        &self,
        phone_number_id: &str,
        token: &str,
        payload: &Value,
    ) -> Result<String, SendError> {
        let request = self
            .http()?
            .post(self.url(&[phone_number_id, "messages"])?)
            .json(payload);
        let answer = call(request, token).await?;
        answer
            .pointer("/messages/0/id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| SendError::BadResponse("no messages[0].id in the send answer".into()))
    }

    /// Uploads media (`multipart/form-data`) and returns its id, valid 30
    /// days for sends.
    pub async fn upload_media(
        &self,
        phone_number_id: &str,
        token: &str,
        bytes: Vec<u8>,
        mime: &str,
        filename: &str,
    ) -> Result<String, SendError> {
        let file = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_string())
            .mime_str(mime)
            .map_err(|_| SendError::Invalid(format!("{mime:?} is not a valid MIME type")))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime.to_string())
            .part("file", file);
        let request = self
            .http()?
            .post(self.url(&[phone_number_id, "media"])?)
            .multipart(form);
        let answer = call(request, token).await?;
        answer
            .get("id")
            .and_then(|id| match id {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .ok_or_else(|| SendError::BadResponse("no id in the media upload answer".into()))
    }

    /// Marks the message `wamid` (and earlier ones) as read.
    pub async fn mark_read(
        &self,
        phone_number_id: &str,
        token: &str,
        wamid: &str,
    ) -> Result<(), SendError> {
        let request = self
            .http()?
            .post(self.url(&[phone_number_id, "messages"])?)
            .json(&mark_read(wamid));
        let answer = call(request, token).await?;
        match answer.get("success") {
            Some(Value::Bool(true)) => Ok(()),
            _ => Err(SendError::BadResponse(
                "the mark-as-read answer is not {\"success\": true}".into(),
            )),
        }
    }

    /// The number's display number, verified name, quality rating,
    /// verification status, platform and throughput: a good check that a
    /// token can use the number.
    pub async fn phone_number_info(
        &self,
        phone_number_id: &str,
        token: &str,
    ) -> Result<Value, SendError> {
        let url = format!(
            "{}?fields={PHONE_NUMBER_FIELDS}",
            self.url(&[phone_number_id])?
        );
        let request = self.http()?.get(url);
        let answer = call(request, token).await?;
        if answer.is_object() {
            Ok(answer)
        } else {
            Err(SendError::BadResponse(
                "the phone number answer is not a JSON object".into(),
            ))
        }
    }
}

/// Sends with the bearer token and reads the answer: the JSON of a 2xx, or
/// the error. The token is scrubbed from every error text.
async fn call(request: reqwest::RequestBuilder, token: &str) -> Result<Value, SendError> {
    let scrub = |text: String| redact(text, token);
    let response = request
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| SendError::Network(scrub(describe(&e))))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response
        .bytes()
        .await
        .map_err(|e| SendError::Network(scrub(describe(&e))))?;
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    if let Some(error) = json.as_ref().and_then(|j| j.get("error"))
        && let Some(code) = error.get("code").and_then(|c| match c {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
    {
        let text = |key: &str| error.get(key).and_then(Value::as_str).map(str::to_string);
        return Err(SendError::Graph {
            http_status: status.as_u16(),
            code,
            message: scrub(text("message").unwrap_or_else(|| "(no message)".into())),
            details: error
                .pointer("/error_data/details")
                .and_then(Value::as_str)
                .map(|d| scrub(d.to_string())),
            retry_after,
        });
    }
    if !status.is_success() {
        return Err(SendError::Http {
            http_status: status.as_u16(),
            retry_after,
        });
    }
    json.ok_or_else(|| {
        SendError::BadResponse(format!(
            "HTTP {} with a body that is not JSON",
            status.as_u16()
        ))
    })
}

/// A reqwest error with its causes (`connection refused`, `timed out`…),
/// which its own text leaves out.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("timed out: {}", error_chain(e));
    }
    error_chain(e)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Replaces the token wherever it appears (real tokens are long; a very
/// short one is not searched for, as it would mangle ordinary words).
fn redact(text: String, token: &str) -> String {
    if token.len() >= 8 && text.contains(token) {
        text.replace(token, "[redacted]")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    // ----- signature and handshake (A.1, A.3) -----

    const VECTOR_BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    const VECTOR_SIGNATURE: &str =
        "sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756";

    #[test]
    fn the_reference_signature_vector_matches() {
        assert_eq!(sign("test_app_secret", VECTOR_BODY), VECTOR_SIGNATURE);
        assert!(verify_signature(
            "test_app_secret",
            VECTOR_BODY,
            Some(VECTOR_SIGNATURE)
        ));
        assert!(verify_signature(
            "test_app_secret",
            VECTOR_BODY,
            Some(&VECTOR_SIGNATURE.to_uppercase())
        ));
        assert!(verify_signature(
            "test_app_secret",
            VECTOR_BODY,
            Some(&format!(" {VECTOR_SIGNATURE} "))
        ));
    }

    #[test]
    fn a_wrong_secret_body_or_header_fails_the_check() {
        let ok = |secret: &str, body: &[u8], header: Option<&str>| {
            verify_signature(secret, body, header)
        };
        assert!(!ok("other_secret", VECTOR_BODY, Some(VECTOR_SIGNATURE)));
        assert!(!ok(
            "test_app_secret",
            br#"{"object":"whatsapp_business_account","entry":[ ]}"#,
            Some(VECTOR_SIGNATURE)
        ));
        assert!(!ok("test_app_secret", VECTOR_BODY, None));
        assert!(!ok("test_app_secret", VECTOR_BODY, Some("")));
        assert!(!ok("test_app_secret", VECTOR_BODY, Some("sha256=")));
        assert!(!ok(
            "test_app_secret",
            VECTOR_BODY,
            Some(VECTOR_SIGNATURE.trim_start_matches("sha256="))
        ));
        assert!(!ok(
            "test_app_secret",
            VECTOR_BODY,
            Some(&VECTOR_SIGNATURE[..VECTOR_SIGNATURE.len() - 2])
        ));
        assert!(!ok(
            "test_app_secret",
            VECTOR_BODY,
            Some(&format!("{VECTOR_SIGNATURE}00"))
        ));
        assert!(!ok(
            "test_app_secret",
            VECTOR_BODY,
            Some(&VECTOR_SIGNATURE.replace("sha256=", "sha1="))
        ));
        assert!(!ok("test_app_secret", VECTOR_BODY, Some("sha256=zz€")));
        // An empty secret is refused even with a matching signature.
        assert!(!ok("", VECTOR_BODY, Some(&sign("", VECTOR_BODY))));
    }

    #[test]
    fn the_signature_covers_the_escaped_bytes_as_received() {
        let escaped = br#"{"text":"n\u00e9e"}"#;
        let raw = "{\"text\":\"née\"}".as_bytes();
        let header = sign("s3cret", escaped);
        assert!(verify_signature("s3cret", escaped, Some(&header)));
        assert!(!verify_signature("s3cret", raw, Some(&header)));
    }

    #[test]
    fn the_handshake_answers_the_challenge_for_a_known_token() {
        let known = |t: &str| tokens_equal(t, "verify-me");
        assert_eq!(
            verify_challenge(
                Some("subscribe"),
                Some("verify-me"),
                Some("1158201444"),
                known
            ),
            Ok("1158201444")
        );
        assert_eq!(
            verify_challenge(Some("unsubscribe"), Some("verify-me"), Some("1"), known),
            Err(ChallengeError::WrongMode)
        );
        assert_eq!(
            verify_challenge(None, Some("verify-me"), Some("1"), known),
            Err(ChallengeError::WrongMode)
        );
        assert_eq!(
            verify_challenge(Some("subscribe"), Some("verify-you"), Some("1"), known),
            Err(ChallengeError::UnknownToken)
        );
        assert_eq!(
            verify_challenge(Some("subscribe"), None, Some("1"), known),
            Err(ChallengeError::MissingToken)
        );
        assert_eq!(
            verify_challenge(Some("subscribe"), Some("verify-me"), None, known),
            Err(ChallengeError::MissingChallenge)
        );
        assert_eq!(
            verify_challenge(Some("subscribe"), Some("verify-me"), Some("1\r\n2"), known),
            Err(ChallengeError::InvalidChallenge)
        );
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(tokens_equal("abc", "abc"));
        assert!(tokens_equal("", ""));
        assert!(!tokens_equal("abc", "abd"));
        assert!(!tokens_equal("abc", "abcd"));
        assert!(!tokens_equal("abc", ""));
    }

    // ----- outbound payloads (A.5) -----

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn a_text_message_matches_the_reference_shape() {
        assert_eq!(
            text_message("+243990000001", "Votre code CIU est MBEIBR7DA1"),
            json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"243990000001","type":"text",
                   "text":{"preview_url":false,"body":"Votre code CIU est MBEIBR7DA1"}})
        );
        assert_eq!(text_message(" 243 990-000001 ", "x")["to"], "243990000001");
    }

    #[test]
    fn a_business_scoped_user_id_is_addressed_as_recipient() {
        let p = text_message("US.13491208655302741918", "x");
        assert_eq!(p["recipient"], "US.13491208655302741918");
        assert!(p.get("to").is_none());
    }

    #[test]
    fn a_long_text_is_cut_on_a_character_boundary() {
        let body = "é".repeat(5000);
        let p = text_message("243990000001", &body);
        let sent = p["text"]["body"].as_str().unwrap();
        assert_eq!(sent.chars().count(), TEXT_BODY_MAX);
        assert!(sent.ends_with("é…"));
        let exact = "a".repeat(TEXT_BODY_MAX);
        assert_eq!(text_message("1", &exact)["text"]["body"], exact.as_str());
    }

    #[test]
    fn three_choices_are_the_reference_reply_buttons() {
        let p = choice_message(
            "243990000001",
            "Code de genre ?",
            &pairs(&[("g1", "Homme"), ("g2", "Femme"), ("g3", "Autre")]),
            "Choisir",
        );
        assert_eq!(
            p,
            json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"243990000001","type":"interactive","interactive":{"type":"button",
             "body":{"text":"Code de genre ?"},"action":{"buttons":[{"type":"reply","reply":{"id":"g1","title":"Homme"}},
             {"type":"reply","reply":{"id":"g2","title":"Femme"}},{"type":"reply","reply":{"id":"g3","title":"Autre"}}]}}})
        );
    }

    #[test]
    fn four_to_ten_choices_are_a_list() {
        let cities = pairs(&[
            ("city_KN", "Kinshasa"),
            ("city_LU", "Lubumbashi"),
            ("city_MB", "Mbandaka"),
            ("city_GO", "Goma"),
        ]);
        let p = choice_message("243990000001", "Ville de naissance ?", &cities, "Choisir");
        assert_eq!(p["interactive"]["type"], "list");
        assert_eq!(p["interactive"]["body"]["text"], "Ville de naissance ?");
        assert_eq!(p["interactive"]["action"]["button"], "Choisir");
        assert_eq!(
            p["interactive"]["action"]["sections"][0]["rows"][1],
            json!({"id":"city_LU","title":"Lubumbashi"})
        );
        let ten: Vec<(String, String)> = (0..10)
            .map(|i| (format!("c{i}"), format!("Ville {i}")))
            .collect();
        let p = choice_message("1", "?", &ten, "Choisir");
        assert_eq!(
            p["interactive"]["action"]["sections"][0]["rows"]
                .as_array()
                .map(Vec::len),
            Some(10)
        );
    }

    #[test]
    fn none_or_more_than_ten_choices_are_plain_text() {
        let eleven: Vec<(String, String)> = (0..11)
            .map(|i| (format!("c{i}"), format!("V{i}")))
            .collect();
        assert_eq!(
            choice_message("1", "Ville ?", &eleven, "Choisir"),
            text_message("1", "Ville ?")
        );
        assert_eq!(
            choice_message("1", "Ville ?", &[], "Choisir"),
            text_message("1", "Ville ?")
        );
    }

    #[test]
    fn long_titles_are_cut_and_kept_unique() {
        let p = choice_message(
            "1",
            "Zone ?",
            &pairs(&[
                ("z1", "Kinshasa-Gombe-Nord-Est"),
                ("z2", "Kinshasa-Gombe-Nord-Ouest"),
                ("z3", "kinshasa-gombe-nord-sud"),
            ]),
            "Choisir",
        );
        let titles: Vec<&str> = p["interactive"]["action"]["buttons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["reply"]["title"].as_str().unwrap())
            .collect();
        assert_eq!(
            titles,
            vec![
                "Kinshasa-Gombe-Nord…",
                "Kinshasa-Gombe-No… 2",
                "kinshasa-gombe-no… 3"
            ]
        );
    }

    #[test]
    fn a_cut_row_title_shows_in_full_as_description() {
        let choices: Vec<(String, String)> = (0..4)
            .map(|i| {
                (
                    format!("z{i}"),
                    format!("Zone de santé numéro {i} de Kinshasa"),
                )
            })
            .collect();
        let p = choice_message("1", "Zone ?", &choices, "");
        let row = &p["interactive"]["action"]["sections"][0]["rows"][0];
        assert_eq!(row["title"], "Zone de santé numéro 0…");
        assert_eq!(row["description"], "Zone de santé numéro 0 de Kinshasa");
        assert_eq!(p["interactive"]["action"]["button"], DEFAULT_LIST_BUTTON);
    }

    #[test]
    fn ids_are_never_altered() {
        // A repeated id is dropped.
        let p = choice_message("1", "?", &pairs(&[("a", "A"), ("a", "B"), ("b", "C")]), "x");
        assert_eq!(
            p["interactive"]["action"]["buttons"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        // An empty id, or one too long for any interactive message, gives text.
        assert_eq!(
            choice_message("1", "?", &pairs(&[("", "A")]), "x"),
            text_message("1", "?")
        );
        let long = "i".repeat(BUTTON_ID_MAX + 1);
        assert_eq!(
            choice_message("1", "?", &[(long, "A".into())], "x"),
            text_message("1", "?")
        );
        // Ids that fit buttons but not list rows: buttons, even for a long body.
        let id = "i".repeat(ROW_ID_MAX + 1);
        let p = choice_message("1", &"b".repeat(2000), &[(id, "A".into())], "x");
        assert_eq!(p["interactive"]["type"], "button");
        assert_eq!(
            p["interactive"]["body"]["text"]
                .as_str()
                .map(|b| b.chars().count()),
            Some(BUTTON_BODY_MAX)
        );
    }

    #[test]
    fn a_body_too_long_for_buttons_makes_a_list_rather_than_losing_text() {
        let body = "q".repeat(1500);
        let p = choice_message(
            "1",
            &body,
            &pairs(&[("g1", "Homme"), ("g2", "Femme")]),
            "Choisir",
        );
        assert_eq!(p["interactive"]["type"], "list");
        assert_eq!(p["interactive"]["body"]["text"], body.as_str());
    }

    #[test]
    fn blank_titles_show_their_id_and_newlines_become_spaces() {
        let p = choice_message("1", "", &pairs(&[("yes", " "), ("no", "Non\nmerci")]), "x");
        let buttons = &p["interactive"]["action"]["buttons"];
        assert_eq!(buttons[0]["reply"]["title"], "yes");
        assert_eq!(buttons[1]["reply"]["title"], "Non merci");
        assert_eq!(p["interactive"]["body"]["text"], "…");
    }

    #[test]
    fn image_mark_read_and_extras_match_the_reference() {
        assert_eq!(
            image_message("+243990000001", "1037543291543636", Some("Votre QR")),
            json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"243990000001","type":"image",
                   "image":{"id":"1037543291543636","caption":"Votre QR"}})
        );
        assert!(
            image_message("1", "5", None)["image"]
                .get("caption")
                .is_none()
        );
        assert_eq!(
            mark_read("wamid.B2"),
            json!({"messaging_product":"whatsapp","status":"read","message_id":"wamid.B2"})
        );
        let p = with_context(
            with_callback_data(text_message("1", "x"), "outbox:42"),
            "wamid.B2",
        );
        assert_eq!(p["biz_opaque_callback_data"], "outbox:42");
        assert_eq!(p["context"]["message_id"], "wamid.B2");
    }

    /// Checks a payload against the A.5 limits; `ids` are the ids given.
    fn check_limits(p: &Value, ids: &[String]) -> Result<(), String> {
        let chars = |v: &Value| v.as_str().map(|s| s.chars().count());
        let within = |v: &Value, max: usize, what: &str| match chars(v) {
            Some(n) if (1..=max).contains(&n) => Ok(()),
            other => Err(format!("{what}: length {other:?}, limit {max} ({v})")),
        };
        if p["messaging_product"] != "whatsapp" || p["recipient_type"] != "individual" {
            return Err("common fields".into());
        }
        let to = p["to"].as_str().unwrap_or("");
        if to.is_empty() || !to.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("to {to:?}"));
        }
        let unique = |items: &[&str], what: &str| {
            let set: HashSet<String> = items.iter().map(|s| s.to_lowercase()).collect();
            if set.len() == items.len() {
                Ok(())
            } else {
                Err(format!("{what} not unique: {items:?}"))
            }
        };
        let known = |id: &str| {
            if ids.iter().any(|i| i == id) {
                Ok(())
            } else {
                Err(format!("id {id:?} was not given"))
            }
        };
        match (p["type"].as_str(), p["interactive"]["type"].as_str()) {
            (Some("text"), _) => {
                let n = chars(&p["text"]["body"]).ok_or("text body")?;
                if n > TEXT_BODY_MAX {
                    return Err(format!("text body {n}"));
                }
            }
            (Some("interactive"), Some("button")) => {
                within(&p["interactive"]["body"]["text"], BUTTON_BODY_MAX, "body")?;
                let buttons = p["interactive"]["action"]["buttons"]
                    .as_array()
                    .ok_or("buttons")?;
                if !(1..=BUTTONS_MAX).contains(&buttons.len()) {
                    return Err(format!("{} buttons", buttons.len()));
                }
                let mut titles = vec![];
                let mut button_ids = vec![];
                for b in buttons {
                    within(&b["reply"]["title"], BUTTON_TITLE_MAX, "button title")?;
                    within(&b["reply"]["id"], BUTTON_ID_MAX, "button id")?;
                    titles.push(b["reply"]["title"].as_str().unwrap_or(""));
                    let id = b["reply"]["id"].as_str().unwrap_or("");
                    known(id)?;
                    button_ids.push(id);
                }
                unique(&titles, "button titles")?;
                unique(&button_ids, "button ids")?;
            }
            (Some("interactive"), Some("list")) => {
                within(&p["interactive"]["body"]["text"], LIST_BODY_MAX, "body")?;
                within(
                    &p["interactive"]["action"]["button"],
                    LIST_BUTTON_MAX,
                    "list button",
                )?;
                let sections = p["interactive"]["action"]["sections"]
                    .as_array()
                    .ok_or("sections")?;
                let rows: Vec<&Value> = sections
                    .iter()
                    .flat_map(|s| s["rows"].as_array().into_iter().flatten())
                    .collect();
                if sections.len() != 1 || !(1..=LIST_ROWS_MAX).contains(&rows.len()) {
                    return Err(format!("{} sections, {} rows", sections.len(), rows.len()));
                }
                let mut titles = vec![];
                let mut row_ids = vec![];
                for r in rows {
                    within(&r["title"], ROW_TITLE_MAX, "row title")?;
                    within(&r["id"], ROW_ID_MAX, "row id")?;
                    if let Some(d) = r.get("description") {
                        within(d, ROW_DESCRIPTION_MAX, "row description")?;
                    }
                    titles.push(r["title"].as_str().unwrap_or(""));
                    let id = r["id"].as_str().unwrap_or("");
                    known(id)?;
                    row_ids.push(id);
                }
                unique(&titles, "row titles")?;
                unique(&row_ids, "row ids")?;
            }
            other => return Err(format!("unexpected type {other:?}")),
        }
        Ok(())
    }

    fn id_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::prop_oneof![
            8 => "[a-z0-9_]{1,6}",
            1 => "[a-z]{195,205}",
            1 => "[a-z]{250,260}",
            1 => proptest::strategy::Just(String::new()),
        ]
    }

    fn title_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::prop_oneof![
            "\\PC{0,30}",
            ".{0,30}",
            "[ \t\n]{0,3}",
            "Kinshasa-Gombe-Nord-[a-zA-Z0-9]{1,8}",
            "[aA]{18,26}",
        ]
    }

    proptest::proptest! {
        #[test]
        fn choice_messages_never_break_a_limit(
            to in "\\+?[0-9]{6,15}",
            body in proptest::prop_oneof!["\\PC{0,60}", "\\PC{1000,1100}", "\\PC{4090,4100}", "[ \n]{0,3}"],
            choices in proptest::collection::vec((id_strategy(), title_strategy()), 0..13),
            label in "\\PC{0,30}",
        ) {
            let p = choice_message(&to, &body, &choices, &label);
            let ids: Vec<String> = choices.iter().map(|(id, _)| id.clone()).collect();
            if let Err(e) = check_limits(&p, &ids) {
                return Err(proptest::test_runner::TestCaseError::fail(format!("{e}\n{p}")));
            }
            // Usable choices are never lost to a plain text message.
            let distinct: HashSet<&String> = ids.iter().collect();
            let usable = (1..=LIST_ROWS_MAX).contains(&distinct.len())
                && ids.iter().all(|id| !id.is_empty() && id.chars().count() <= ROW_ID_MAX);
            if usable {
                proptest::prop_assert_eq!(p["type"].as_str(), Some("interactive"));
            }
        }

        #[test]
        fn text_messages_never_break_a_limit(to in "\\+?[0-9]{6,15}", body in "\\PC{0,5000}") {
            let p = text_message(&to, &body);
            proptest::prop_assert!(check_limits(&p, &[]).is_ok());
            let sent = p["text"]["body"].as_str().unwrap_or("");
            if body.chars().count() <= TEXT_BODY_MAX {
                proptest::prop_assert_eq!(sent, body.as_str());
            }
        }
    }

    // ----- error classes (A.7) -----

    #[rstest]
    #[case(&[190, 0, 3, 10, 131005, 200, 250, 299], ErrorClass::Token)]
    #[case(&[368, 131031, 131042, 131045, 130497], ErrorClass::Account)]
    #[case(&[130429, 4, 80007, 131048], ErrorClass::Throughput)]
    #[case(&[131056], ErrorClass::PairRate)]
    #[case(&[1, 2, 131000, 131016, 131057], ErrorClass::Transient)]
    #[case(&[131047], ErrorClass::Window)]
    #[case(&[131030, 131026, 131021, 131050, 131049, 130472], ErrorClass::Recipient)]
    #[case(&[100, 131008, 131009, 131051, 135000, 131062], ErrorClass::Request)]
    #[case(&[131052, 131053], ErrorClass::Media)]
    #[case(&[132000, 132001, 132012, 132015, 132016], ErrorClass::Template)]
    #[case(&[-1, 5, 199, 300, 131001, 999999], ErrorClass::Unknown)]
    fn codes_are_classified_per_the_table(#[case] codes: &[i64], #[case] class: ErrorClass) {
        for &code in codes {
            assert_eq!(classify(code), class, "code {code}");
        }
    }

    #[test]
    fn only_rate_and_transient_classes_are_retryable() {
        use ErrorClass::*;
        for c in [Throughput, PairRate, Transient] {
            assert!(c.retryable(), "{c:?}");
        }
        for c in [
            Token, Account, Window, Recipient, Request, Media, Template, Unknown,
        ] {
            assert!(!c.retryable(), "{c:?}");
        }
    }

    // ----- Graph client against a local fake -----

    #[test]
    fn send_errors_have_a_class_a_code_and_a_precise_message() {
        let window = SendError::Graph {
            http_status: 400,
            code: 131047,
            message: "Re-engagement message".into(),
            details: None,
            retry_after: None,
        };
        assert_eq!(
            window.to_string(),
            "Graph API error 131047 (HTTP 400): Re-engagement message"
        );
        assert_eq!(
            (window.class(), window.code()),
            (ErrorClass::Window, Some(131047))
        );
        let http = |s| SendError::Http {
            http_status: s,
            retry_after: None,
        };
        assert_eq!(http(429).class(), ErrorClass::Throughput);
        assert_eq!(http(503).class(), ErrorClass::Transient);
        assert_eq!(http(404).class(), ErrorClass::Request);
        assert_eq!(http(503).code(), None);
        assert_eq!(
            SendError::Network("reset".into()).class(),
            ErrorClass::Transient
        );
        assert_eq!(
            SendError::BadResponse("x".into()).class(),
            ErrorClass::Request
        );
        assert_eq!(
            SendError::Http {
                http_status: 429,
                retry_after: Some(Duration::from_secs(30))
            }
            .to_string(),
            "Graph API answered HTTP 429 without an error object; retry after 30 s"
        );
    }

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, Uri, header};
    use axum::response::{IntoResponse, Response};
    use std::sync::{Arc, Mutex};

    const TOKEN: &str = "EAAGtest-access-token-0123456789";

    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path: String,
        query: Option<String>,
        authorization: Option<String>,
        content_type: Option<String>,
        body: Vec<u8>,
    }

    type Log = Arc<Mutex<Vec<Seen>>>;

    fn graph_error_body(code: i64, message: &str, details: &str) -> String {
        json!({"error": {"message": message, "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}})
        .to_string()
    }

    async fn fake_graph(
        State(log): State<Log>,
        method: axum::http::Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let text = |h: header::HeaderName| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let authorization = text(header::AUTHORIZATION);
        log.lock().unwrap().push(Seen {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            authorization: authorization.clone(),
            content_type: text(header::CONTENT_TYPE),
            body: body.to_vec(),
        });
        let json_answer = |status: StatusCode, body: String| {
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        };
        let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
        let pnid = segments.get(1).copied().unwrap_or("");
        if pnid == "leaky" {
            let message = format!("Invalid token {}", authorization.unwrap_or_default());
            return json_answer(
                StatusCode::UNAUTHORIZED,
                graph_error_body(190, &message, &message),
            );
        }
        if authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
            return json_answer(
                StatusCode::UNAUTHORIZED,
                graph_error_body(190, "Invalid OAuth access token", "bad token"),
            );
        }
        match (pnid, segments.get(2).copied()) {
            ("window", _) => json_answer(
                StatusCode::BAD_REQUEST,
                graph_error_body(131047, "Re-engagement message", "more than 24 hours"),
            ),
            ("busy", _) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            ("limited", _) => (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "30")],
                "slow down",
            )
                .into_response(),
            ("noid", _) => json_answer(StatusCode::OK, r#"{"messaging_product":"whatsapp"}"#.into()),
            ("slow", _) => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                StatusCode::OK.into_response()
            }
            (_, Some("media")) => json_answer(StatusCode::OK, r#"{"id":"1037543291543636"}"#.into()),
            (_, Some("messages")) => {
                let payload: Value = serde_json::from_slice(&body).unwrap_or_default();
                if payload["status"] == "read" {
                    json_answer(StatusCode::OK, r#"{"success":true}"#.into())
                } else {
                    json_answer(
                        StatusCode::OK,
                        json!({"messaging_product":"whatsapp",
                            "contacts":[{"input": payload["to"], "wa_id": payload["to"]}],
                            "messages":[{"id":"wamid.HBgMMjQzOTkwMDAwMDAxFQIAERgSQjZG"}]})
                        .to_string(),
                    )
                }
            }
            (_, None) => json_answer(
                StatusCode::OK,
                json!({"display_phone_number":"+243 81 000 0000","verified_name":"ONG Sante","quality_rating":"GREEN",
                    "code_verification_status":"VERIFIED","platform_type":"CLOUD_API","throughput":{"level":"STANDARD"},
                    "id": pnid}).to_string(),
            ),
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }

    /// Starts the fake on a free port; returns a client (base URL with a
    /// trailing slash) and the request log.
    async fn spawn_fake(timeout: Duration) -> (GraphClient, Log) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Log::default();
        let app = Router::new().fallback(fake_graph).with_state(log.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (
            GraphClient::new(&format!("http://{addr}/"), "v21.0", timeout),
            log,
        )
    }

    fn last(log: &Log) -> Seen {
        log.lock().unwrap().last().cloned().unwrap()
    }

    #[tokio::test]
    async fn a_send_returns_the_wamid_and_posts_the_payload_with_the_token() {
        let (client, log) = spawn_fake(Duration::from_secs(5)).await;
        let payload = text_message("+243990000001", "Bonjour");
        let wamid = client
            .send_message("106540352242922", TOKEN, &payload)
            .await
            .unwrap();
        assert_eq!(wamid, "wamid.HBgMMjQzOTkwMDAwMDAxFQIAERgSQjZG");
        let seen = last(&log);
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.path, "/v21.0/106540352242922/messages");
        assert_eq!(seen.authorization, Some(format!("Bearer {TOKEN}")));
        assert_eq!(seen.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            serde_json::from_slice::<Value>(&seen.body).unwrap(),
            payload
        );
    }

    #[tokio::test]
    async fn a_graph_error_object_is_a_graph_error_with_its_code() {
        let (client, _log) = spawn_fake(Duration::from_secs(5)).await;
        let err = client
            .send_message("window", TOKEN, &text_message("1", "x"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            SendError::Graph {
                http_status: 400,
                code: 131047,
                message: "Re-engagement message".into(),
                details: Some("more than 24 hours".into()),
                retry_after: None,
            }
        );
        assert_eq!(err.class(), ErrorClass::Window);
        assert_eq!(
            err.to_string(),
            "Graph API error 131047 (HTTP 400): Re-engagement message (more than 24 hours)"
        );
        let err = client
            .send_message(
                "106540352242922",
                "wrong-token-0000",
                &text_message("1", "x"),
            )
            .await
            .unwrap_err();
        assert_eq!((err.code(), err.class()), (Some(190), ErrorClass::Token));
    }

    #[tokio::test]
    async fn a_bare_503_is_an_http_error_and_a_429_keeps_its_retry_after() {
        let (client, _log) = spawn_fake(Duration::from_secs(5)).await;
        let err = client
            .send_message("busy", TOKEN, &text_message("1", "x"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            SendError::Http {
                http_status: 503,
                retry_after: None
            }
        );
        assert!(err.class().retryable());
        let err = client
            .send_message("limited", TOKEN, &text_message("1", "x"))
            .await
            .unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(err.class(), ErrorClass::Throughput);
    }

    #[tokio::test]
    async fn a_success_without_an_id_is_a_bad_response() {
        let (client, _log) = spawn_fake(Duration::from_secs(5)).await;
        let err = client
            .send_message("noid", TOKEN, &text_message("1", "x"))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::BadResponse(_)), "{err:?}");
        assert!(!err.class().retryable());
    }

    #[tokio::test]
    async fn a_refused_connection_or_a_timeout_is_a_network_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = GraphClient::new(&format!("http://{addr}"), "v21.0", Duration::from_secs(5));
        let err = client
            .send_message("1", TOKEN, &text_message("1", "x"))
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Network(_)), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("could not reach the Graph API: "),
            "{err}"
        );
        assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
        assert_eq!(err.class(), ErrorClass::Transient);

        let (client, _log) = spawn_fake(Duration::from_millis(300)).await;
        let err = client
            .send_message("slow", TOKEN, &text_message("1", "x"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SendError::Network(e) if e.contains("timed out")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn the_token_never_appears_in_an_error() {
        let (client, _log) = spawn_fake(Duration::from_secs(5)).await;
        let err = client
            .send_message("leaky", TOKEN, &text_message("1", "x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(190));
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(TOKEN), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
        let refused = GraphClient::new("http://127.0.0.1:9", "v21.0", Duration::from_secs(2));
        let err = refused.mark_read("1", TOKEN, "wamid.X").await.unwrap_err();
        assert!(!format!("{err} {err:?} {refused:?}").contains(TOKEN));
    }

    /// The parts of a multipart body: (headers, content).
    fn multipart_parts(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
        let boundary = content_type
            .split("boundary=")
            .nth(1)
            .unwrap()
            .trim_matches('"');
        let delimiter = format!("--{boundary}").into_bytes();
        let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
        let mut parts = vec![];
        let mut rest = body;
        while let Some(start) = find(rest, &delimiter) {
            rest = &rest[start + delimiter.len()..];
            if rest.starts_with(b"--") {
                break;
            }
            let end = find(rest, &delimiter).unwrap();
            let part = &rest[2..end - 2]; // strip the CRLF after the delimiter and before the next
            let split = find(part, b"\r\n\r\n").unwrap();
            parts.push((
                String::from_utf8_lossy(&part[..split]).to_string(),
                part[split + 4..].to_vec(),
            ));
        }
        parts
    }

    #[tokio::test]
    async fn an_upload_sends_the_three_multipart_fields() {
        let (client, log) = spawn_fake(Duration::from_secs(5)).await;
        let png = b"\x89PNG\r\n\x1a\n\x00\xffdata".to_vec();
        let id = client
            .upload_media("106540352242922", TOKEN, png.clone(), "image/png", "qr.png")
            .await
            .unwrap();
        assert_eq!(id, "1037543291543636");
        let seen = last(&log);
        assert_eq!(seen.path, "/v21.0/106540352242922/media");
        let content_type = seen.content_type.unwrap();
        assert!(
            content_type.starts_with("multipart/form-data; boundary="),
            "{content_type}"
        );
        let parts = multipart_parts(&content_type, &seen.body);
        assert_eq!(parts.len(), 3, "{parts:?}");
        let part = |name: &str| {
            parts
                .iter()
                .find(|(h, _)| h.contains(&format!("name=\"{name}\"")))
                .cloned()
                .unwrap()
        };
        assert_eq!(part("messaging_product").1, b"whatsapp");
        assert_eq!(part("type").1, b"image/png");
        let (headers, bytes) = part("file");
        assert!(headers.contains("filename=\"qr.png\""), "{headers}");
        assert!(
            headers.to_lowercase().contains("content-type: image/png"),
            "{headers}"
        );
        assert_eq!(bytes, png);
        let err = client
            .upload_media("1", TOKEN, vec![1], "not a mime", "x")
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Invalid(_)), "{err:?}");
    }

    #[tokio::test]
    async fn mark_read_and_phone_number_info_call_the_right_endpoints() {
        let (client, log) = spawn_fake(Duration::from_secs(5)).await;
        client
            .mark_read("106540352242922", TOKEN, "wamid.B2")
            .await
            .unwrap();
        let seen = last(&log);
        assert_eq!(seen.path, "/v21.0/106540352242922/messages");
        assert_eq!(
            serde_json::from_slice::<Value>(&seen.body).unwrap(),
            mark_read("wamid.B2")
        );
        let info = client
            .phone_number_info("106540352242922", TOKEN)
            .await
            .unwrap();
        assert_eq!(info["quality_rating"], "GREEN");
        let seen = last(&log);
        assert_eq!(
            (seen.method.as_str(), seen.path.as_str()),
            ("GET", "/v21.0/106540352242922")
        );
        assert_eq!(
            seen.query.as_deref(),
            Some(
                "fields=display_phone_number,verified_name,quality_rating,code_verification_status,platform_type,throughput"
            )
        );
        // Path segments are encoded, never interpreted.
        let _ = client.phone_number_info("../x?y", TOKEN).await;
        assert_eq!(last(&log).path, "/v21.0/..%2Fx%3Fy");
        let calls = log.lock().unwrap().len();
        for id in ["", ".", ".."] {
            let err = client.phone_number_info(id, TOKEN).await.unwrap_err();
            assert!(matches!(err, SendError::Invalid(_)), "{err:?}");
        }
        assert_eq!(log.lock().unwrap().len(), calls, "nothing was sent");
    }
}
