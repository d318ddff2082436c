//! The one error type of the console and the management API.
//!
//! It travels to the browser (server functions serialise it), so the UI can match on
//! variants; on the server it becomes the contract's error body in `IntoResponse`.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum AppError {
    #[error("Sign in to continue.")]
    Unauthenticated,
    #[error("Wrong email or password.")]
    InvalidCredentials,
    #[error("The management token is malformed, unknown or revoked.")]
    InvalidToken,
    #[error("This user is suspended. Ask an administrator to reactivate it.")]
    UserSuspended,
    #[error("Too many wrong passwords. Try again in {retry_after_secs} seconds.")]
    TooManyAttempts { retry_after_secs: u64 },
    /// Redis, which counts attempts for every instance, is down and the policy is to refuse.
    #[error("Attempts cannot be counted right now: the shared rate limiter is unavailable. Try again in a moment.")]
    LimiterUnavailable,
    #[error("You do not have permission to do this.")]
    Forbidden,
    /// A change sent with the session cookie from a page that is not the console's own
    /// (cross-site request forgery); the browser's `Origin` or `Sec-Fetch-Site` says so.
    #[error("This change did not come from the console's own pages ({origin}), so it was refused. Open the console and try again there.")]
    CrossOrigin { origin: String },
    #[error("No such {what}.")]
    NotFound { what: String },
    #[error("{message}")]
    InvalidValue { param: String, message: String },
    #[error("Missing required field `{param}`.")]
    MissingField { param: String },
    #[error("Field `{param}` has the wrong type: {message}")]
    InvalidType { param: String, message: String },
    #[error("Unknown field `{param}`.")]
    UnknownField { param: String },
    #[error("The request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("The request body must be JSON (Content-Type: application/json).")]
    UnsupportedMediaType,
    #[error("The request body is larger than {limit_bytes} bytes.")]
    RequestTooLarge { limit_bytes: usize },
    #[error("{0}")]
    Conflict(String),
    #[error("No redemption code matches this one; check it for typos.")]
    UnknownRedemptionCode,
    #[error("This redemption code has been used already.")]
    RedemptionCodeUsed,
    #[error("This redemption code has expired.")]
    RedemptionCodeExpired,
    #[error("No route {method} {path}.")]
    UnknownRoute { method: String, path: String },
    #[error("Method {method} is not allowed on {path}.")]
    MethodNotAllowed { method: String, path: String },
    /// The cause is logged where this is built and never sent to the client; the id of
    /// the request that failed is, so a person can quote it to support.
    #[error("Something went wrong on our side. {}", quote_to_support(request_id.as_deref()))]
    Internal { request_id: Option<String> },
    /// A failure of the server-function transport itself (network, decoding).
    #[error("The console could not reach the server: {0}")]
    Transport(String),
}

/// Which layer of the request pipeline refused the request (api-contract.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum Layer {
    Request,
    Identity,
    Permission,
    Quota,
    RateLimit,
    Routing,
    Upstream,
    Internal,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Request => "request",
            Layer::Identity => "identity",
            Layer::Permission => "permission",
            Layer::Quota => "quota",
            Layer::RateLimit => "rate_limit",
            Layer::Routing => "routing",
            Layer::Upstream => "upstream",
            Layer::Internal => "internal",
        }
    }
}

/// What to tell support, with the failed request's id when it is known.
fn quote_to_support(request_id: Option<&str>) -> String {
    match request_id {
        Some(id) => format!("Quote request id {id} to support."),
        None => "Quote the request id to support.".to_owned(),
    }
}

impl AppError {
    /// A failure on our side during the current request (whose id it carries).
    pub fn internal() -> Self {
        #[cfg(feature = "ssr")]
        let request_id = crate::state::current_request_id();
        #[cfg(not(feature = "ssr"))]
        let request_id = None;
        AppError::Internal { request_id }
    }

    pub fn not_found(what: &str) -> Self {
        AppError::NotFound { what: what.to_owned() }
    }

    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        AppError::InvalidValue { param: param.to_owned(), message: message.into() }
    }

    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthenticated
            | AppError::InvalidCredentials
            | AppError::InvalidToken
            | AppError::UserSuspended => 401,
            AppError::TooManyAttempts { .. } => 429,
            AppError::LimiterUnavailable => 503,
            AppError::Forbidden | AppError::CrossOrigin { .. } => 403,
            AppError::NotFound { .. } | AppError::UnknownRoute { .. } | AppError::UnknownRedemptionCode => 404,
            AppError::InvalidValue { .. }
            | AppError::MissingField { .. }
            | AppError::InvalidType { .. }
            | AppError::UnknownField { .. }
            | AppError::InvalidJson(_) => 400,
            AppError::UnsupportedMediaType => 415,
            AppError::RequestTooLarge { .. } => 413,
            AppError::Conflict(_) | AppError::RedemptionCodeUsed => 409,
            AppError::RedemptionCodeExpired => 410,
            AppError::MethodNotAllowed { .. } => 405,
            AppError::Internal { .. } | AppError::Transport(_) => 500,
        }
    }

    /// The machine-readable `code` of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "not_signed_in",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::InvalidToken => "invalid_token",
            AppError::UserSuspended => "user_suspended",
            AppError::TooManyAttempts { .. } => "too_many_attempts",
            AppError::LimiterUnavailable => "rate_limiter_unavailable",
            AppError::Forbidden => "forbidden",
            AppError::CrossOrigin { .. } => "cross_origin_request",
            AppError::NotFound { .. } => "not_found",
            AppError::InvalidValue { .. } => "invalid_value",
            AppError::MissingField { .. } => "missing_field",
            AppError::InvalidType { .. } => "invalid_type",
            AppError::UnknownField { .. } => "unknown_field",
            AppError::InvalidJson(_) => "invalid_json",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::RequestTooLarge { .. } => "request_too_large",
            AppError::Conflict(_) => "conflict",
            AppError::UnknownRedemptionCode => "unknown_redemption_code",
            AppError::RedemptionCodeUsed => "redemption_code_used",
            AppError::RedemptionCodeExpired => "redemption_code_expired",
            AppError::UnknownRoute { .. } => "unknown_route",
            AppError::MethodNotAllowed { .. } => "method_not_allowed",
            AppError::Internal { .. } | AppError::Transport(_) => "internal_error",
        }
    }

    /// The OpenAI-style `type` of the error body.
    pub fn error_type(&self) -> &'static str {
        match self.status() {
            401 => "authentication_error",
            403 => "permission_error",
            429 => "rate_limit_error",
            500 | 503 => "api_error",
            _ => "invalid_request_error",
        }
    }

    pub fn layer(&self) -> Layer {
        match self {
            AppError::Unauthenticated
            | AppError::InvalidCredentials
            | AppError::InvalidToken
            | AppError::UserSuspended
            | AppError::TooManyAttempts { .. } => Layer::Identity,
            AppError::Forbidden | AppError::CrossOrigin { .. } => Layer::Permission,
            AppError::LimiterUnavailable => Layer::RateLimit,
            AppError::Internal { .. } | AppError::Transport(_) => Layer::Internal,
            _ => Layer::Request,
        }
    }

    pub fn param(&self) -> Option<&str> {
        match self {
            AppError::InvalidValue { param, .. }
            | AppError::MissingField { param }
            | AppError::InvalidType { param, .. }
            | AppError::UnknownField { param } => Some(param),
            AppError::UnknownRedemptionCode | AppError::RedemptionCodeUsed | AppError::RedemptionCodeExpired => {
                Some("code")
            }
            _ => None,
        }
    }
}

/// An error as the console receives it from a server function: the error and the id of
/// the request that failed, so every error the console shows can be quoted to support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{error}")]
pub struct ConsoleError {
    pub error: AppError,
    pub request_id: Option<String>,
}

impl ConsoleError {
    /// An error the page itself decided on (no request failed, so no id to quote).
    pub fn local(error: AppError) -> Self {
        ConsoleError { error, request_id: None }
    }

    /// The request id, unless the sentence quotes it already (internal errors do).
    pub fn id_to_quote(&self) -> Option<&str> {
        match self.error {
            AppError::Internal { request_id: Some(_) } => None,
            _ => self.request_id.as_deref(),
        }
    }
}

/// The one place a server function's error is given its request id and, for callers that
/// read the result (not plain HTML form posts, which are redirected back to the form),
/// its HTTP status: clients calling server functions over HTTP see 401/403/404 rather
/// than the framework's blanket 500.
impl From<AppError> for ConsoleError {
    fn from(error: AppError) -> Self {
        #[cfg(feature = "ssr")]
        {
            crate::state::set_response_status(error.status());
            ConsoleError { request_id: crate::state::current_request_id(), error }
        }
        #[cfg(not(feature = "ssr"))]
        ConsoleError::local(error)
    }
}

impl FromServerFnError for ConsoleError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let error = match value {
            ServerFnErrorErr::Args(message) | ServerFnErrorErr::MissingArg(message) => {
                AppError::invalid("form", message)
            }
            other => AppError::Transport(other.to_string()),
        };
        error.into()
    }
}

#[cfg(feature = "ssr")]
mod http {
    use super::{AppError, Layer};
    use axum::http::{HeaderValue, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::Json;
    use serde::Serialize;

    /// The header that tells clients whether the gateway or an upstream produced an error.
    pub const ERROR_SOURCE_HEADER: &str = "x-tollgate-error-source";

    /// The contract's error body, in OpenAI's shape: `{"error": {…}}`. The OpenAPI
    /// document describes errors with this same type.
    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct ErrorBody {
        pub error: ErrorDetail,
    }

    #[derive(Debug, Serialize, utoipa::ToSchema)]
    pub struct ErrorDetail {
        /// A sentence for people; never echoes a secret.
        pub message: String,
        /// `invalid_request_error`, `authentication_error`, `permission_error`, `rate_limit_error`, `api_error`…
        #[serde(rename = "type")]
        pub error_type: String,
        /// The machine-readable code, e.g. `not_signed_in`, `forbidden`, `not_found`, `invalid_value`.
        pub code: String,
        /// The field or parameter at fault, when there is one.
        pub param: Option<String>,
        /// Which layer refused the request.
        pub layer: Layer,
        /// The `x-request-id` of the response: quote it to support.
        pub request_id: Option<String>,
    }

    /// The contract's error body as JSON.
    pub fn error_body(message: &str, error_type: &str, code: &str, param: Option<&str>, layer: Layer) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                message: message.to_owned(),
                error_type: error_type.to_owned(),
                code: code.to_owned(),
                param: param.map(str::to_owned),
                layer,
                request_id: crate::request_id::current(),
            },
        }
    }

    impl IntoResponse for AppError {
        fn into_response(self) -> Response {
            let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = error_body(&self.to_string(), self.error_type(), self.code(), self.param(), self.layer());
            let mut response = (status, Json(body)).into_response();
            let headers = response.headers_mut();
            headers.insert(ERROR_SOURCE_HEADER, HeaderValue::from_static("gateway"));
            match self {
                AppError::TooManyAttempts { retry_after_secs } => {
                    headers.insert(axum::http::header::RETRY_AFTER, retry_after_secs.into());
                }
                AppError::LimiterUnavailable => {
                    headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from_static("1"));
                }
                _ => {}
            }
            response
        }
    }

    impl From<sqlx::Error> for AppError {
        fn from(err: sqlx::Error) -> Self {
            tracing::error!(error = %err, "database error");
            AppError::internal()
        }
    }
}

#[cfg(feature = "ssr")]
pub use http::{error_body, ErrorBody, ErrorDetail, ERROR_SOURCE_HEADER};
