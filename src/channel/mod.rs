//! Channels: how messages arrive and leave. One inbound endpoint,
//! `POST /whatsapp/webhook`, dispatches on the content type: form-encoded is
//! Twilio, JSON is Meta's Cloud API. The sandbox provider delivers nowhere
//! and backs the phone simulator.

mod error_class;
pub mod http;
pub mod meta;
pub mod meta_webhook;
pub mod sandbox;
pub mod twilio;
pub mod webhook;

pub use error_class::{ErrorClass, Refused};
