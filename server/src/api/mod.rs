//! The management API (`/api/v1`): everything the console can do, for automation.
//!
//! Handlers are thin: they authenticate the caller, parse the body and call the same
//! domain services as the console's server functions.
//!
//! Each route is registered by `routes!` from its handler's `#[utoipa::path]` attribute,
//! which gives both the path and method the router serves and the operation the OpenAPI
//! document describes. One attribute, two uses: a route cannot be served without being
//! documented, nor documented at another path or method than the one it is served at,
//! and no hand-kept list of routes exists to fall out of date. A new route is a handler
//! with `#[utoipa::path(...)]` and one more `routes!(...)` line below.

mod accounts;
mod audit;
mod billing;
mod catalog;
mod dashboard;
pub mod docs;
mod invitations;
mod keys;
mod session;
mod tokens;
mod usage;
mod users;

use crate::http::{method_not_allowed, unknown_route};
use app::state::AppState;
use axum::{Extension, Router};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> Router<AppState> {
    // Only `routes!` makes these values: a route added here is documented by construction
    // (an undocumented `Router::route` has no place in this list).
    let documented = [
        routes!(session::sign_in, session::sign_out),
        routes!(session::me),
        routes!(session::change_password),
        routes!(session::reset_password),
        routes!(users::list, users::create),
        routes!(users::change),
        routes!(users::create_reset_link),
        routes!(accounts::list, accounts::create),
        routes!(accounts::get, accounts::change),
        routes!(accounts::members, accounts::add_member),
        routes!(accounts::remove_member),
        routes!(invitations::of_account, invitations::invite),
        routes!(invitations::revoke),
        routes!(invitations::mine),
        routes!(invitations::accept),
        routes!(invitations::decline),
        routes!(keys::list, keys::create),
        routes!(keys::get, keys::change),
        routes!(keys::revoke),
        routes!(catalog::models, catalog::create_model),
        routes!(catalog::change_model),
        routes!(catalog::channels, catalog::create_channel),
        routes!(catalog::change_channel),
        routes!(catalog::test_channel),
        routes!(usage::get),
        routes!(usage::list),
        routes!(dashboard::get),
        routes!(billing::balance),
        routes!(billing::ledger),
        routes!(billing::grant),
        routes!(billing::redeem),
        routes!(billing::create_codes),
        routes!(tokens::list, tokens::create),
        routes!(tokens::revoke),
        routes!(audit::list),
        routes!(docs::openapi),
    ];
    let (routes, routed) =
        documented.into_iter().fold(OpenApiRouter::default(), OpenApiRouter::routes).split_for_parts();
    routes
        .layer(Extension(docs::document(routed)))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
}
