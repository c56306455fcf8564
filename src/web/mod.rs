//! The staff web UI: askama pages, htmx partials, one permission check.
//!
//! Every page handler takes a [`Staff`] (the logged-in user, their tenant
//! and grants) and calls [`Staff::require`] before touching anything; a
//! tenant's objects are loaded with the tenant id, so another tenant's
//! object is a 404. Routes are added through [`Routes`], which keeps the
//! list of every route the app serves (the route table test reads it).
//!
//! Beside the page modules: `routes` (the route table), `layers` (what
//! wraps the staff pages), `staff` (the logged-in member and the permission
//! check), `error`, `layout` (the frame of every page), `client` (address
//! and language of whoever asks), `forms`, `clean` (the input check).
//! The open endpoints are here too: `webhooks`, `sandbox`, `qr`, `health`.

pub mod account_channel;
pub mod account_dhis2;
pub mod account_token;
pub mod accounts;
pub mod assets;
pub mod audit;
pub mod clean;
mod client;
pub mod collisions;
pub mod conversations;
mod csrf;
pub mod dhis2;
mod error;
mod forms;
pub mod health;
pub mod home;
mod layers;
mod layout;
pub mod live;
pub mod login;
pub mod metrics;
pub mod number_health;
pub mod qr;
pub mod reports;
pub mod roles;
mod routes;
pub mod sandbox;
pub mod settings;
pub mod simulator;
mod staff;
pub mod tenants;
pub mod texts;
pub mod uic;
pub mod users;
pub mod webhooks;

pub use client::{client_ip, peer_ip, secure_cookies, visitor_lang};
pub use error::{Format, WebError, WebResult, open_errors};
pub use forms::{Form, form_value};
pub use layers::layered;
pub use layout::{Layout, NavItem, form_page, page, see_other, when};
pub use routes::{Routes, routes};
pub use staff::Staff;
pub use texts::texts;
