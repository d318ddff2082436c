//! Integration tests: the real server on a random loopback port, spoken to over HTTP,
//! on SQLite and on PostgreSQL (each test gets a fresh database).

mod helpers;

mod audit;
mod bad_input;
mod billing;
mod browser_protections;
mod cache_pricing;
mod cli;
mod connections;
mod console_edits;
mod console_pages;
mod dashboard;
pub mod gateway;
mod health;
mod instances;
mod invitations;
mod keys;
mod openapi;
mod passwords;
mod server_functions;
mod sessions;
mod sign_in;
mod tenancy;
mod tokens;
mod usage_logs;
mod usage_retention;
