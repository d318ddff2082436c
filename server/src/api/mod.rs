//! The management API (`/api/v1`): everything the console can do, for automation.
//!
//! Handlers are thin: they authenticate the caller, parse the body and call the same
//! domain services as the console's server functions.

mod accounts;
mod billing;
mod catalog;
mod keys;
mod session;
mod tokens;
mod usage;
mod users;

use crate::http::{method_not_allowed, unknown_route};
use app::state::AppState;
use axum::routing::{delete, get, patch, post};
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/session", post(session::sign_in).delete(session::sign_out))
        .route("/me", get(session::me))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", patch(users::change))
        .route("/accounts", get(accounts::list).post(accounts::create))
        .route("/accounts/{id}", get(accounts::get).patch(accounts::change))
        .route("/accounts/{id}/members", get(accounts::members).post(accounts::add_member))
        .route("/accounts/{id}/members/{user_id}", delete(accounts::remove_member))
        .route("/accounts/{id}/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}", get(keys::get).patch(keys::change))
        .route("/keys/{id}/revoke", post(keys::revoke))
        .route("/models", get(catalog::models).post(catalog::create_model))
        .route("/models/{code}", patch(catalog::change_model))
        .route("/channels", get(catalog::channels).post(catalog::create_channel))
        .route("/channels/{id}", patch(catalog::change_channel))
        .route("/channels/{id}/test", post(catalog::test_channel))
        .route("/usage/{request_id}", get(usage::get))
        .route("/accounts/{id}/usage", get(usage::list))
        .route("/accounts/{id}/balance", get(billing::balance))
        .route("/accounts/{id}/ledger", get(billing::ledger))
        .route("/accounts/{id}/credits", post(billing::grant))
        .route("/accounts/{id}/redeem", post(billing::redeem))
        .route("/redemption-codes", post(billing::create_codes))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::revoke))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
}
