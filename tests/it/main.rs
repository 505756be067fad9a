//! The integration tests, built as one binary so the large dependency graph (typst, sled,
//! axum, lettre) is linked once rather than once per test file. Each module is one area.

mod common;

mod api_flow;
mod auth_and_limits;
mod bad_inputs;
mod browser;
mod clock;
mod concurrency;
mod connectors;
mod durability;
mod evidence;
mod hostile;
mod idempotency;
mod image;
mod isolation;
mod lists;
mod mail;
mod on_postgres;
mod one_contract;
mod openapi;
mod pacing;
mod packaging;
mod pades;
mod quickstart;
mod races;
mod render;
mod signer_auth;
mod signing;
mod sms;
mod ssrf;
mod storage;
mod sync;
mod templates;
mod webhooks;
