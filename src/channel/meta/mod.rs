//! Meta's WhatsApp Cloud API (reference: WhatsApp Cloud API webhooks,
//! messages, media and error-code pages). Nothing here touches the database.
//!
//! One file per job, everything re-exported here:
//! - `webhook`: webhook notifications ([`Event`], [`InboundMessage`],
//!   [`Content`], [`StatusUpdate`], [`GraphError`]) and
//!   [`parse_notification`] with its lenient wire structs;
//! - `signature`: `X-Hub-Signature-256` ([`sign`], [`verify_signature`])
//!   and the verification handshake ([`verify_challenge`],
//!   [`tokens_equal`]);
//! - `payload`: outbound payloads ([`text_message`], [`choice_message`],
//!   [`image_message`], [`mark_read`], [`with_callback_data`],
//!   [`with_context`]) and Meta's limits;
//! - `error`: Graph error classes ([`ErrorClass`], [`classify`]) and
//!   [`SendError`];
//! - `client`: the Graph API client, [`GraphClient`];
//! - `check`: credential checks (`debug_token`, the number node, the token
//!   exchange) and their [`check::Problem`]s, used as `meta::check::…`.

pub mod check;
mod client;
mod error;
mod payload;
mod signature;
mod webhook;

pub use client::{DEFAULT_BASE_URL, GraphClient};
pub use error::{ErrorClass, SendError, classify};
pub use payload::{
    BUTTON_BODY_MAX, BUTTON_ID_MAX, BUTTON_TITLE_MAX, BUTTONS_MAX, CAPTION_MAX, LIST_BODY_MAX,
    LIST_BUTTON_MAX, LIST_ROWS_MAX, ROW_DESCRIPTION_MAX, ROW_ID_MAX, ROW_TITLE_MAX, TEXT_BODY_MAX,
    choice_message, image_message, mark_read, text_message, with_callback_data, with_context,
};
pub use signature::{ChallengeError, sign, tokens_equal, verify_challenge, verify_signature};
pub use webhook::{
    Content, Event, GraphError, InboundMessage, MAX_TEXT_CHARS, MISSING_CODE, ParseError,
    StatusUpdate, WEBHOOK_OBJECT, parse_notification,
};
