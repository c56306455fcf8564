//! A fake of Meta's WhatsApp Cloud (Graph) API, written from the wire
//! reference (section A of the external APIs reference), not from our own
//! client: a real HTTP server on a random port that checks bearer tokens,
//! enforces the send limits, answers the documented error objects, serves
//! uploaded media behind expiring URLs, and produces the status webhooks a
//! real number would send (returned as ready-to-post bodies, never posted by
//! itself). Also builds inbound webhook bodies the way Meta encodes them and
//! signs them.
//!
//! Choices where the reference leaves room (see also the `Failure` docs):
//! - A token unknown anywhere, expired, or rotated away answers 190 (HTTP
//!   401). A valid token used on a number it was not issued for answers 100
//!   ("object does not exist or missing permissions"), like an unknown id.
//! - Length overflows of free text (text body, interactive body, header,
//!   footer) answer 100; counts, button/row/section fields and uniqueness
//!   answer 131009; an absent required field answers 131008; a wrong JSON
//!   type or unknown enum value answers 100; an unknown message `type`
//!   answers 131051. Lengths count Unicode scalar values.
//! - One record per token (`TokenInfo`) decides for every route: expired,
//!   revoked or rotated away, it is refused with 190 by sends and the
//!   number node, reported invalid by `debug_token`, and cannot be
//!   exchanged. Its type, scopes, app and granular `target_ids` only change
//!   what `debug_token` says (Graph calls do not check scopes or apps).
//! - Routes need a version prefix (`/v21.0/...`); anything else is 404 with
//!   the Graph error shape (code 100).

mod media;
mod messages;
mod replies;
mod requests;
mod self_tests;
mod server;
mod state;
mod tokens;
mod webhook;

pub use server::FakeMeta;
pub use state::Failure;
pub use webhook::{WebhookBuilder, badly_signed_webhook, signature, signed_webhook};
