//! Integration tests: the real server on a random port, driven over HTTP, on
//! SQLite and (when `TEST_DATABASE_URL` is set) PostgreSQL.

mod accounts;
mod bad_input;
mod browser;
mod browser_staff;
mod cli;
mod fakes;
mod health;
mod helpers;
mod hostile;
mod meta;
mod migrations;
mod privacy;
mod privacy_dump;
mod property;
mod staff;
mod twilio;
mod web_auth;
mod web_auth_hardening;
mod web_pages;
mod web_routes;
