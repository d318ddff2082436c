//! The management API (`/api/v1`): everything the console can do, for automation.
//!
//! Handlers are thin: they authenticate the caller, parse the body and call the same
//! domain services as the console's server functions.
//!
//! Each route is registered by `routes!` from its handler's `#[utoipa::path]` attribute,
//! which gives both the path and method the router serves and the operation the OpenAPI
//! document describes. One attribute, two uses: a route cannot be served without being
//! documented, nor documented at another path or method than the one it is served at,
//! and no hand-kept list of routes exists to fall out of date.

mod accounts;
mod audit;
mod billing;
mod catalog;
pub mod docs;
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
    let (routes, routed) = OpenApiRouter::default()
        .routes(routes!(session::sign_in, session::sign_out))
        .routes(routes!(session::me))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::change))
        .routes(routes!(accounts::list, accounts::create))
        .routes(routes!(accounts::get, accounts::change))
        .routes(routes!(accounts::members, accounts::add_member))
        .routes(routes!(accounts::remove_member))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::get, keys::change))
        .routes(routes!(keys::revoke))
        .routes(routes!(catalog::models, catalog::create_model))
        .routes(routes!(catalog::change_model))
        .routes(routes!(catalog::channels, catalog::create_channel))
        .routes(routes!(catalog::change_channel))
        .routes(routes!(usage::get))
        .routes(routes!(usage::list))
        .routes(routes!(billing::balance))
        .routes(routes!(billing::ledger))
        .routes(routes!(billing::grant))
        .routes(routes!(billing::redeem))
        .routes(routes!(billing::create_codes))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(audit::list))
        .routes(routes!(docs::openapi))
        .split_for_parts();
    routes
        .layer(Extension(docs::document(routed)))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
}
