//! Fakes of the three external services the product talks to (Meta's Graph
//! API, Twilio, DHIS-2), each written from `../shared/reference/external-apis.md`,
//! never from our own client. Only Meta's exists so far; the Twilio and DHIS-2
//! fakes will join it here.

pub mod meta;
