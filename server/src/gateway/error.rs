//! Every refusal of the data plane, in the order the gateway checks (api-contract.md),
//! and how it is rendered in each dialect's error envelope.

use super::dialect::{gemini, Dialect};
use app::error::{Layer, ERROR_SOURCE_HEADER};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// More usage rows or charges wait for the database than the gateway may hold: checked
    /// before anything else, as every request adds to them.
    #[error("The gateway is overloaded: its database is not keeping up. Retry after {retry_after} seconds.")]
    Overloaded { retry_after: u64 },
    #[error("Unknown route {method} {path}.")]
    UnknownRoute { method: String, path: String },
    #[error("Method {method} is not allowed on {path}.")]
    MethodNotAllowed { method: String, path: String },
    #[error("No API key: send `Authorization: Bearer <key>`{also}.")]
    MissingApiKey { also: &'static str },
    #[error("The API key is not valid.")]
    InvalidApiKey,
    #[error("The API key {prefix} is disabled; an owner can enable it again.")]
    ApiKeyDisabled { prefix: String },
    #[error("The API key {prefix} is revoked and can never be used again.")]
    ApiKeyRevoked { prefix: String },
    #[error("The account or the user owning API key {prefix} is suspended.")]
    AccountDisabled { prefix: String },
    #[error("The API key {prefix} has expired.")]
    ApiKeyExpired { prefix: String },
    #[error("Requests from {ip} are not allowed for API key {prefix}.")]
    IpNotAllowed { ip: String, prefix: String },
    #[error("The request body is larger than {limit} bytes.")]
    RequestTooLarge { limit: usize },
    #[error("The request body must be JSON (Content-Type: application/json).")]
    UnsupportedMediaType,
    #[error("The request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("The request is too complex: `{field}` {limit}.")]
    RequestTooComplex { field: String, limit: Complexity },
    #[error("Missing required field `{0}`.")]
    MissingField(String),
    #[error("Field `{field}` must be {expected}.")]
    InvalidType { field: String, expected: &'static str },
    #[error("`{field}` is not valid: {reason}")]
    InvalidValue { field: String, reason: String },
    #[error("`{field}` cannot be sent to this model's provider: {reason}")]
    Untranslatable { field: String, reason: &'static str },
    #[error("The model `{0}` does not exist.")]
    ModelNotFound(String),
    #[error("The model `{0}` is disabled.")]
    ModelDisabled(String),
    #[error("API key {prefix} may not use the model `{model}`.")]
    ModelNotAllowed { model: String, prefix: String },
    #[error("API key {prefix} has reached its spend cap.")]
    KeyQuotaExhausted { prefix: String },
    #[error("The account's balance cannot cover this request (up to {needed} micro-units). Top up to continue.")]
    InsufficientBalance { needed: i64 },
    #[error("API key {prefix} is over its {limit} limit of {per_minute}; retry after {retry_after} seconds.")]
    RateLimited { prefix: String, limit: &'static str, per_minute: u64, retry_after: u64 },
    #[error("API key {prefix} has too many requests in flight; retry after {retry_after} seconds.")]
    ConcurrencyLimited { prefix: String, retry_after: u64 },
    /// Redis, which counts the key's limits for every instance, is down and the policy
    /// is to refuse rather than risk exceeding them.
    #[error("The rate limiter shared by the gateway's instances is unavailable, so this key's limits cannot be checked; retry shortly.")]
    RateLimiterUnavailable,
    #[error("No enabled, healthy channel serves the model `{0}`.")]
    NoAvailableChannel(String),
    #[error("Every upstream tried failed ({attempts} attempts).")]
    UpstreamFailed { attempts: usize },
    #[error("The upstream did not answer within {timeout_ms} ms.")]
    UpstreamTimeout { timeout_ms: i64 },
    /// The upstream's own 4xx, passed through (boxed: it is by far the largest refusal).
    #[error("{}", .0.message)]
    Upstream(Box<UpstreamRefusal>),
    #[error("Something went wrong on our side. Quote the request id to support.")]
    Internal,
}

/// The cap a request went over (`TOLLGATE_MAX_REQUEST_MESSAGES`, `TOLLGATE_MAX_MESSAGE_PARTS`,
/// `TOLLGATE_MAX_JSON_DEPTH`), with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Complexity {
    Messages(usize),
    Parts(usize),
    Depth(usize),
}

impl std::fmt::Display for Complexity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Complexity::Messages(limit) => write!(f, "holds more than {limit} items, the most a request may have"),
            Complexity::Parts(limit) => write!(f, "holds more than {limit} content parts, the most a message may have"),
            Complexity::Depth(limit) => write!(f, "nests deeper than {limit} levels, the most a request body may"),
        }
    }
}

/// An upstream's 4xx as the client gets it: its status, type, code, message and retry
/// headers (`relayed`).
#[derive(Debug, Clone)]
pub struct UpstreamRefusal {
    pub status: u16,
    pub error_type: String,
    pub code: Option<String>,
    pub message: String,
    pub relayed: HeaderMap,
}

impl GatewayError {
    pub fn status(&self) -> u16 {
        use GatewayError::*;
        match self {
            UnknownRoute { .. } | ModelNotFound(_) => 404,
            MethodNotAllowed { .. } => 405,
            MissingApiKey { .. }
            | InvalidApiKey
            | ApiKeyDisabled { .. }
            | ApiKeyRevoked { .. }
            | AccountDisabled { .. } => 401,
            ApiKeyExpired { .. } | IpNotAllowed { .. } | ModelDisabled(_) | ModelNotAllowed { .. } => 403,
            RequestTooLarge { .. } => 413,
            UnsupportedMediaType => 415,
            InvalidJson(_)
            | RequestTooComplex { .. }
            | MissingField(_)
            | InvalidType { .. }
            | InvalidValue { .. }
            | Untranslatable { .. } => 400,
            KeyQuotaExhausted { .. } | RateLimited { .. } | ConcurrencyLimited { .. } => 429,
            InsufficientBalance { .. } => 402,
            NoAvailableChannel(_) | RateLimiterUnavailable | Overloaded { .. } => 503,
            UpstreamFailed { .. } => 502,
            UpstreamTimeout { .. } => 504,
            Upstream(refusal) => refusal.status,
            Internal => 500,
        }
    }

    pub fn code(&self) -> Option<&str> {
        use GatewayError::*;
        Some(match self {
            UnknownRoute { .. } => "unknown_route",
            MethodNotAllowed { .. } => "method_not_allowed",
            MissingApiKey { .. } => "missing_api_key",
            InvalidApiKey => "invalid_api_key",
            ApiKeyDisabled { .. } => "api_key_disabled",
            ApiKeyRevoked { .. } => "api_key_revoked",
            AccountDisabled { .. } => "account_disabled",
            ApiKeyExpired { .. } => "api_key_expired",
            IpNotAllowed { .. } => "ip_not_allowed",
            RequestTooLarge { .. } => "request_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            InvalidJson(_) => "invalid_json",
            RequestTooComplex { .. } => "request_too_complex",
            MissingField(_) => "missing_field",
            InvalidType { .. } => "invalid_type",
            InvalidValue { .. } => "invalid_value",
            Untranslatable { .. } => "untranslatable_feature",
            ModelNotFound(_) => "model_not_found",
            ModelDisabled(_) => "model_disabled",
            ModelNotAllowed { .. } => "model_not_allowed",
            KeyQuotaExhausted { .. } => "key_quota_exhausted",
            InsufficientBalance { .. } => "insufficient_balance",
            RateLimited { .. } => "rate_limit_exceeded",
            ConcurrencyLimited { .. } => "concurrency_limit_exceeded",
            RateLimiterUnavailable => "rate_limiter_unavailable",
            NoAvailableChannel(_) => "no_available_channel",
            UpstreamFailed { .. } => "upstream_failed",
            UpstreamTimeout { .. } => "upstream_timeout",
            Upstream(refusal) => return refusal.code.as_deref(),
            Internal => "internal_error",
            Overloaded { .. } => "overloaded",
        })
    }

    pub fn error_type(&self) -> &str {
        use GatewayError::*;
        match self {
            MissingApiKey { .. }
            | InvalidApiKey
            | ApiKeyDisabled { .. }
            | ApiKeyRevoked { .. }
            | AccountDisabled { .. } => "authentication_error",
            ApiKeyExpired { .. } | IpNotAllowed { .. } | ModelDisabled(_) | ModelNotAllowed { .. } => {
                "permission_error"
            }
            KeyQuotaExhausted { .. } => "quota_error",
            InsufficientBalance { .. } => "billing_error",
            RateLimited { .. } | ConcurrencyLimited { .. } => "rate_limit_error",
            NoAvailableChannel(_) | UpstreamFailed { .. } | UpstreamTimeout { .. } => "upstream_error",
            Upstream(refusal) => &refusal.error_type,
            Internal | RateLimiterUnavailable | Overloaded { .. } => "api_error",
            _ => "invalid_request_error",
        }
    }

    pub fn layer(&self) -> Layer {
        use GatewayError::*;
        match self {
            MissingApiKey { .. }
            | InvalidApiKey
            | ApiKeyDisabled { .. }
            | ApiKeyRevoked { .. }
            | AccountDisabled { .. }
            | ApiKeyExpired { .. } => Layer::Identity,
            IpNotAllowed { .. } | ModelDisabled(_) | ModelNotAllowed { .. } => Layer::Permission,
            KeyQuotaExhausted { .. } | InsufficientBalance { .. } => Layer::Quota,
            RateLimited { .. } | ConcurrencyLimited { .. } | RateLimiterUnavailable => Layer::RateLimit,
            NoAvailableChannel(_) => Layer::Routing,
            UpstreamFailed { .. } | UpstreamTimeout { .. } | Upstream(_) => Layer::Upstream,
            Internal | Overloaded { .. } => Layer::Internal,
            _ => Layer::Request,
        }
    }

    pub fn param(&self) -> Option<&str> {
        match self {
            GatewayError::MissingField(field)
            | GatewayError::RequestTooComplex { field, .. }
            | GatewayError::InvalidType { field, .. }
            | GatewayError::InvalidValue { field, .. }
            | GatewayError::Untranslatable { field, .. } => Some(field),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            GatewayError::RateLimited { retry_after, .. }
            | GatewayError::ConcurrencyLimited { retry_after, .. }
            | GatewayError::Overloaded { retry_after } => Some(*retry_after),
            GatewayError::RateLimiterUnavailable => Some(1),
            _ => None,
        }
    }

    /// The response for a route of `dialect`, with the request id in the body.
    pub fn render(&self, dialect: Dialect, request_id: &str) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match dialect {
            Dialect::Chat | Dialect::Responses => json!({"error": self.fields(self.error_type(), request_id)}),
            Dialect::Anthropic => json!({"type": "error", "error": self.fields(&anthropic_type(self), request_id)}),
            Dialect::Gemini => self.google_envelope(status.as_u16(), request_id),
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let GatewayError::Upstream(refusal) = self {
            headers.extend(refusal.relayed.clone());
        }
        let source = if matches!(self, GatewayError::Upstream(_)) { "upstream" } else { "gateway" };
        headers.insert(ERROR_SOURCE_HEADER, HeaderValue::from_static(source));
        if let Some(seconds) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, seconds.into());
        }
        if let GatewayError::RateLimited { limit, per_minute, retry_after, .. } = self {
            super::limits::refusal_headers(headers, limit, *per_minute, *retry_after);
        }
        response
    }

    /// Google's `{"error":{"code","message","status"}}`, which Gemini clients classify
    /// errors by; our code rides in an `ErrorInfo` detail, as Google's own reasons do.
    fn google_envelope(&self, status: u16, request_id: &str) -> Value {
        // ErrorInfo's metadata is a map of strings: a param is there only when there is one.
        let mut metadata = json!({"type": self.error_type()});
        if let Some(param) = self.param() {
            metadata["param"] = param.into();
        }
        json!({"error": {
            "code": status,
            "message": self.to_string(),
            "status": gemini::error_status(status),
            "details": [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": self.code(),
                "domain": "tollgate",
                "metadata": metadata,
            }],
            "layer": self.layer().as_str(),
            "request_id": request_id,
        }})
    }

    fn fields(&self, error_type: &str, request_id: &str) -> Value {
        json!({
            "message": self.to_string(),
            "type": error_type,
            "code": self.code(),
            "param": self.param(),
            "layer": self.layer().as_str(),
            "request_id": request_id,
        })
    }
}

/// Anthropic's names for the same failures.
fn anthropic_type(error: &GatewayError) -> String {
    match error {
        GatewayError::Upstream(refusal) => return refusal.error_type.clone(),
        // What Anthropic's clients know to back off from.
        GatewayError::Overloaded { .. } => return "overloaded_error".to_owned(),
        _ => {}
    }
    match error.status() {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
    .to_owned()
}
