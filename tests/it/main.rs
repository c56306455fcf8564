//! Integration tests: the real server on a random port, driven over HTTP, on
//! SQLite and (when `TEST_DATABASE_URL` is set) PostgreSQL.

use rstest_reuse::template;

/// Both backends as rstest cases, for `#[apply(both_backends)]` (defined
/// before the modules that use it). The PostgreSQL case is reported as
/// ignored, not passed, when the tests were built without
/// `TEST_DATABASE_URL` (see build.rs).
#[template]
#[rstest::rstest]
#[case::sqlite(Backend::Sqlite)]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
#[case::postgres(Backend::Postgres)]
fn both_backends(#[case] backend: Backend) {}

mod access;
mod account_channel;
mod accounts;
mod backup;
mod bad_input;
mod browser;
mod browser_dhis2;
mod browser_inbox;
mod browser_numbers;
mod browser_reports;
mod browser_staff;
mod cli;
mod collisions;
mod conversations;
mod demo;
mod deploy;
mod dhis2_bench;
mod dhis2_pages;
mod dhis2_sync;
mod errors;
mod fakes;
mod faults;
mod health;
mod helpers;
mod hostile;
mod inbox;
mod live;
mod logs;
mod meta;
mod metrics;
mod migrations;
mod number_health;
mod privacy;
mod privacy_dump;
mod property;
mod provider_checks;
mod reports;
mod scale_out;
mod secrets;
mod staff;
mod states;
mod token_watch;
mod tokens;
mod twilio;
mod twilio_outbox;
mod uic_lookup;
mod web_auth;
mod web_auth_hardening;
mod web_pages;
mod web_routes;
mod write_paths;
