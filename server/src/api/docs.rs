//! The OpenAPI 3.1 document of the management API, served at `/api/v1/openapi.json`.
//!
//! Paths, methods, parameters and bodies come from each handler's `#[utoipa::path]`, the
//! same attribute `routes!` registers the route from (see `super::router`); schemas come
//! from the DTOs' `ToSchema` derives. This file adds what is common to every route: the
//! document's title, the two ways to authenticate, and the refusals in the contract's
//! error body.

use crate::startup::SESSION_COOKIE;
use app::error::ErrorBody;
use axum::Extension;
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

const SESSION_SCHEME: &str = "session_cookie";
const TOKEN_SCHEME: &str = "management_token";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollgate management API",
        description = "Everything the Tollgate console can do, for automation. Times are UTC unix \
            milliseconds; money is integer micro-units (1 credit = 1,000,000). An id the caller may \
            not see answers 404, never 403. Every error has the contract's body (`ErrorBody`)."
    ),
    modifiers(&SecuritySchemes),
    security(("session_cookie" = []), ("management_token" = [])),
    components(schemas(ErrorBody)),
    tags(
        (name = "session", description = "Signing in and out; who is signed in"),
        (name = "users", description = "Users and their platform roles (admin)"),
        (name = "accounts", description = "Accounts (tenants) and their members"),
        (name = "keys", description = "API keys of an account and their policy"),
        (name = "catalog", description = "Models and the channels (upstreams) that serve them"),
        (name = "usage", description = "Usage logs: one row per data-plane request"),
        (name = "billing", description = "Balance, ledger, credit grants and redemption codes"),
        (name = "tokens", description = "Management tokens for this API (admin)"),
        (name = "audit", description = "The audit log of every change (admin)"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// The session cookie the console sets, and the management token as a bearer header.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        let cookie =
            ApiKeyValue::with_description(SESSION_COOKIE, "Set by `POST /api/v1/session` (and the console's sign-in).");
        components.add_security_scheme(SESSION_SCHEME, SecurityScheme::ApiKey(ApiKey::Cookie(cookie)));
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("tgm-…")
            .description(Some("A management token, created by an admin and shown once."))
            .build();
        components.add_security_scheme(TOKEN_SCHEME, SecurityScheme::Http(bearer));
    }
}

/// The served document: the routed paths under `/api/v1`, with the common parts above.
#[derive(Clone)]
pub struct Served(Arc<Document>);

pub fn document(routed: Document) -> Served {
    Served(Arc::new(ApiDoc::openapi().nest("/api/v1", routed)))
}

/// This document (OpenAPI 3.1); no sign-in needed.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "get_openapi",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object))
)]
pub async fn openapi(Extension(Served(document)): Extension<Served>) -> axum::Json<Document> {
    axum::Json(Document::clone(&document))
}

fn error_response(description: &str) -> RefOr<Response> {
    let body = Content::new(Some(Ref::from_schema_name(ErrorBody::name())));
    ResponseBuilder::new().description(description).content("application/json", body).build().into()
}

fn responses(list: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter().map(|(status, description)| (status.to_string(), error_response(description))).collect()
}

// The refusals below are used only as types in `responses(...)` lists, never as values:
// uninhabited enums say so.

/// What every route behind sign-in can refuse with: 401 and 403.
pub enum Refused {}

impl IntoResponses for Refused {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            ("401", "Not signed in (`not_signed_in`), a bad token (`invalid_token`) or a suspended user"),
            ("403", "The caller's role may not do this (`forbidden`)"),
        ])
    }
}

/// A JSON body that cannot be read: 400 naming the field, 413, 415.
pub enum BadBody {}

impl IntoResponses for BadBody {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            (
                "400",
                "The body is not valid JSON or a field is missing, unknown, of the wrong type or invalid \
                 (`param` names it)",
            ),
            ("413", "The body is larger than the limit (`request_too_large`)"),
            ("415", "The body is not JSON (`unsupported_media_type`)"),
        ])
    }
}

/// A query parameter that cannot be read: 400 naming it.
pub enum BadQuery {}

impl IntoResponses for BadQuery {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[("400", "A query parameter is of the wrong type or out of range (`param` names it)")])
    }
}

/// A change the current state does not allow, on a route without a body: 400 naming why.
pub enum Invalid {}

impl IntoResponses for Invalid {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[("400", "The change is refused as it stands, e.g. removing the last owner (`invalid_value`)")])
    }
}

/// An id the caller may not see, or that does not exist: 404 alike.
pub enum NotFound {}

impl IntoResponses for NotFound {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[("404", "No such id, or not one the caller may see (`not_found`)")])
    }
}

/// The change clashes with the current state: 409.
pub enum Conflict {}

impl IntoResponses for Conflict {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[("409", "The change clashes with what exists, e.g. a duplicate name (`conflict`)")])
    }
}
