//! TEMPORARY stub, replaced by the real module.
#![allow(unused_variables)]
#[derive(Debug, thiserror::Error)]
#[error("form")]
pub struct FormError;
#[derive(Debug, thiserror::Error)]
#[error("inbound")]
pub struct InboundError;
pub struct Inbound { pub message_sid: String, pub account_sid: String, pub from: String, pub to: String, pub body: String, pub profile_name: Option<String>, pub wa_id: Option<String>, pub num_media: u32, pub media: Vec<(String, String)>, pub message_type: Option<String>, pub button_payload: Option<String>, pub button_text: Option<String> }
pub struct OutboundTwiml { pub body: String, pub media_urls: Vec<String> }
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, FormError> { todo!() }
pub fn is_status_callback(params: &[(String, String)]) -> bool { todo!() }
pub fn parse_inbound(params: &[(String, String)]) -> Result<Inbound, InboundError> { todo!() }
pub fn bare_number(s: &str) -> &str { todo!() }
pub fn public_url(public_base: Option<&str>, host: Option<&str>, forwarded_proto: Option<&str>, forwarded_host: Option<&str>, path_and_query: &str) -> String { todo!() }
pub fn verify_signature(auth_token: &str, url: &str, params: &[(String, String)], header_value: &str) -> bool { todo!() }
pub fn twiml(messages: &[OutboundTwiml]) -> String { todo!() }
