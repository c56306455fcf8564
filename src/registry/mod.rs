//! The UIC registry: who got which code, without names. Stores the code, its
//! parts, timestamps, the account and salted hashes of the phones that
//! registered it; flags a code registered from a second phone as a possible
//! collision for a supervisor to review (`collision`: the review and its
//! decision).

pub mod collision;
pub mod salt;
pub mod store;
