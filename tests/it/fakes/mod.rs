//! Fakes of the three external services the product talks to (Meta's Graph
//! API, Twilio, DHIS-2), each written from `../shared/reference/external-apis.md`,
//! never from our own client. Meta's and Twilio's exist so far; the DHIS-2
//! fake will join them here.

pub mod meta;
pub mod twilio;
