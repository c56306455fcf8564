//! A fake of Twilio's WhatsApp (Programmable Messaging) API, written from
//! the wire reference (section B of the external APIs reference, plus A.8
//! for the 24-hour window), not from our own client: a real HTTP server on a
//! random port serving the REST `Messages.json` and `Accounts/{sid}.json`
//! resources with HTTP Basic auth and Twilio's error objects; status
//! callbacks held until the test posts them (all in order, or one at a time
//! to reorder them), signed with `X-Twilio-Signature`; inbound webhook
//! bodies built and signed like Twilio's and posted to the app, whose TwiML
//! answer is parsed into the messages Twilio would send; inbound media
//! behind Basic auth.
//!
//! Choices where the reference leaves room:
//! - Sends are validated in this order, first failure answered (HTTP 400):
//!   no `To` → 21604; neither `From` nor `MessagingServiceSid` → 21603;
//!   `To` not `whatsapp:` + E.164 → 21211; `From` likewise → 21212 (the fake
//!   is WhatsApp-only: real Twilio would take a bare number as SMS, and a
//!   mixed pair as 21910); unknown Messaging Service → 21705; a `From`
//!   that is not a registered sender (only once `add_sender` was used) →
//!   63007; no `Body`, `MediaUrl` nor `ContentSid` → 21602; `Body` over
//!   1600 characters → 21617; a `MediaUrl` that is not http(s) → 21620;
//!   `ContentSid` not `HX` + 32 hex → 21655; `ContentVariables` not a JSON
//!   object → 21656; `StatusCallback` not http(s) → 21609. E.164 here is
//!   `+`, a non-zero digit, 7 to 15 digits.
//! - Credentials: missing or wrong → 401 / 20003 with `WWW-Authenticate`;
//!   good credentials on another account's path → 404 / 20404, like an
//!   unknown route. API keys (`SK…:secret`) can send but, like Twilio's
//!   Standard keys, get 401 / 20003 on the Accounts resource.
//! - Injected send failures are taken once the credentials passed, before
//!   any validation.
//! - Sids are `SM` + 32 hex even with media (Twilio may use `MM`). A
//!   `ContentSid` send answers `"body": ""`. `price`, `date_sent` are null.
//!   `GET …/Messages/{sid}.json` shows the last status the message will
//!   reach (the fake's Twilio has already done its work), with
//!   `error_code` when it failed.
//! - Outcome of an accepted send, first rule that applies: sandbox on, sent
//!   from the sandbox number, recipient not joined in the last 3 days →
//!   `failed` 63015; no `ContentSid` and the recipient has not written to
//!   that sender (or, through `user_wrote`, to any sender) in the last 24 h
//!   → `failed` 63016 (media-only sends count as free-form); an injected
//!   asynchronous failure; otherwise the status sequence (default sent →
//!   delivered → read). A failure produces only its `failed`/`undelivered`
//!   callback. There is no callback for `queued`/`accepted`.
//! - Callbacks carry `EventType` only for `delivered` (DELIVERED) and
//!   `read` (READ); `ErrorCode` and `ChannelStatusMessage` only on
//!   `failed`/`undelivered`; `ChannelToAddress` is the E.164 number without
//!   `whatsapp:`; `ChannelInstallSid` is one `XE…` per account. Every
//!   webhook also carries `I-Twilio-Idempotency-Token` and
//!   `User-Agent: TwilioProxy/1.1`.
//! - Signatures keep repeated identical values (twilio-python de-duplicates
//!   them when checking); they are computed when a callback is shown or
//!   posted, so a token rotation or switch applies to pending ones too.
//! - A sandbox `join <code>` (case and spacing insensitive) is kept by
//!   Twilio and not forwarded to the app; a wrong code is forwarded as an
//!   ordinary message.
//! - Webhook delivery: 15 s timeout (10 s to connect); an HTTP error answer
//!   is logged as 11200 and never retried; no answer at all (timeout 11200,
//!   connection failure 11205) is retried only when `set_webhook_retries`
//!   asks for it. URL fragments (`#rc=…`) are not interpreted.
//! - TwiML answers: an empty body sends nothing; `text/xml`,
//!   `application/xml` and `text/html` are parsed as TwiML; `text/plain` is
//!   sent as one message; other types → 12300. Ill-formed XML → 12100 and
//!   nothing is sent; a root other than `<Response>` → 12200 and nothing is
//!   sent; unknown verbs or nouns are skipped with a 12200 warning; a
//!   `<Message>` with neither text nor media is dropped with 14103; media
//!   past the tenth are dropped with 12200; bodies and media URLs are
//!   trimmed; when a `<Body>` is present, plain text beside it is ignored.
//! - Inbound media (`add_media`) live under
//!   `/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}` (no `.json`):
//!   without the account's Basic credentials 401 / 20003, with another
//!   account's 404 / 20404, with its own a 307 to a CDN copy
//!   (`/media-cdn/…`) served without credentials, as Twilio redirects to
//!   its media store.
//! - The sandbox's one message every 3 s and trial limits are not modelled.

mod callbacks;
mod inbound;
mod self_tests;
mod server;
mod state;
mod twiml;

pub use inbound::{Inbound, InboundResult, form_body, signature};
pub use server::{FakeTwilio, error_json};
pub use state::*;
pub use twiml::{Twiml, TwimlError, TwimlMessage, parse_answer, parse_twiml};
