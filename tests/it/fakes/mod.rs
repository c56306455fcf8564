//! Fakes of the three external services the product talks to (Meta's Graph
//! API, Twilio, DHIS-2), each written from `../shared/reference/external-apis.md`,
//! never from our own client.

pub mod dhis2;
pub mod meta;
pub mod twilio;
