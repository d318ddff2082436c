//! Integration tests: the real server on a random loopback port, spoken to over HTTP,
//! on SQLite and on PostgreSQL (each test gets a fresh database).

mod helpers;

mod bad_input;
mod billing;
mod cli;
mod console_pages;
mod gateway;
mod health;
mod server_functions;
mod sign_in;
mod tenancy;
mod tokens;
