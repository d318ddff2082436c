//! Tollgate's console (Leptos, server-rendered and hydrated) and, behind the `ssr`
//! feature, the domain services the console and the management API share.
//!
//! One module per concern: `auth`, `users`, `accounts`, `tokens`, `billing`, `audit`;
//! each owns its types, server functions, pages and (server-side) SQL.

#![recursion_limit = "256"]

pub mod accounts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod dashboard;
pub mod error;
pub mod keys;
mod layout;
pub mod models;
pub mod money;
pub mod timefmt;
pub mod tokens;
pub mod usage;
pub mod users;

#[cfg(feature = "ssr")]
pub mod access;
#[cfg(feature = "ssr")]
pub mod catalog_changes;
#[cfg(feature = "ssr")]
pub mod clock;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod instances;
#[cfg(feature = "ssr")]
pub mod limits;
#[cfg(feature = "ssr")]
pub mod request_id;
#[cfg(feature = "ssr")]
pub mod secrets;
#[cfg(feature = "ssr")]
pub mod state;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
