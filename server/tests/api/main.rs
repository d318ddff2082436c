//! Integration tests: the real server on a random loopback port, spoken to over HTTP,
//! on SQLite and on PostgreSQL (each test gets a fresh database).

mod helpers;

mod audit;
mod bad_input;
mod billing;
mod cache_pricing;
mod cli;
mod console_edits;
mod console_pages;
mod dashboard;
pub mod gateway;
mod health;
mod keys;
mod openapi;
mod server_functions;
mod sessions;
mod sign_in;
mod tenancy;
mod tokens;
mod usage_logs;
