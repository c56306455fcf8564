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

/// The clients of the staff pages' credential checks and token exchanges:
/// someone is waiting for the answer, so they give up sooner than the
/// outbox's.
#[derive(Clone)]
pub struct CheckClients {
    pub graph: meta::GraphClient,
    pub twilio: twilio::TwilioClient,
    /// A number's DHIS-2 (« Tester la connexion »).
    pub dhis2: crate::dhis2::client::Dhis2Client,
}

impl CheckClients {
    /// How long a check waits for the provider.
    pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

    pub fn new(config: &crate::config::Config) -> CheckClients {
        CheckClients {
            graph: meta::GraphClient::new(
                &config.meta_graph_url,
                &config.meta_api_version,
                Self::TIMEOUT,
            ),
            twilio: twilio::TwilioClient::new(&config.twilio_api_url, Self::TIMEOUT),
            // Several calls in a row (system, program, type, each org unit
            // and attribute): each gets the usual limit.
            dhis2: crate::dhis2::client::Dhis2Client::new(Self::TIMEOUT),
        }
    }
}
