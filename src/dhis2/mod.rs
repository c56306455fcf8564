pub mod check;
pub mod client;
pub mod uid;
pub mod wire;
