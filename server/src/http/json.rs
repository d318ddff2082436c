//! JSON body extractors whose every rejection is the contract's error body.

use app::access::Deferred;
use app::error::AppError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::marker::PhantomData;

/// Management API bodies are small; anything larger is refused before parsing.
pub const BODY_LIMIT: usize = 64 * 1024;

pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(AppError::UnsupportedMediaType);
        }
        let (parts, body) = request.into_parts();
        let limited = Request::from_parts(parts, axum::body::Body::new(http_body_util::Limited::new(body, BODY_LIMIT)));
        let bytes = Bytes::from_request(limited, state)
            .await
            .map_err(|_| AppError::RequestTooLarge { limit_bytes: BODY_LIMIT })?;
        parse(&bytes).map(Json)
    }
}

/// The JSON body of a change, handed to the service unread: the service reads it once the
/// caller may make the change, so a caller without permission is answered 403 or 404
/// whatever it sent (a malformed body, the wrong content type, too many bytes).
pub struct JsonBody<T> {
    request: Request,
    body: PhantomData<fn() -> T>,
}

impl<S: Send + Sync, T> FromRequest<S> for JsonBody<T> {
    type Rejection = Infallible;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        Ok(JsonBody { request, body: PhantomData })
    }
}

impl<T: DeserializeOwned + Send + 'static> JsonBody<T> {
    /// The body, read as [`Json`] reads it, when the service awaits it.
    pub fn deferred(self) -> Deferred<T> {
        Deferred::new(async move { Json::from_request(self.request, &()).await.map(|Json(body)| body) })
    }
}

/// `application/json`, or any `application/*+json`.
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Parses a body, naming the offending field when the JSON is valid but the shape is not.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    // Syntax first, so a truncated body is reported as invalid JSON, not as a missing field.
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|err| AppError::InvalidJson(err.to_string()))?;
    // Every body is an object. serde would read a struct from an array too (`[null, null]`
    // is an `AccountChange` with both fields left out), which is no body the API describes.
    if !value.is_object() {
        return Err(AppError::InvalidType { param: "body".into(), message: "The body must be a JSON object.".into() });
    }
    serde_path_to_error::deserialize(value).map_err(shape_error)
}

/// Names the field of a well-formed body (or query string) that has the wrong shape.
pub fn shape_error<E: std::fmt::Display>(err: serde_path_to_error::Error<E>) -> AppError {
    let path = err.path().to_string();
    let message = err.into_inner().to_string();
    let quoted = |prefix: &str| message.strip_prefix(prefix).and_then(|rest| rest.split('`').next()).map(str::to_owned);
    let field = |name: String| if path == "." { name } else { format!("{path}.{name}") };
    if let Some(name) = quoted("missing field `") {
        return AppError::MissingField { param: field(name) };
    }
    if let Some(name) = quoted("unknown field `") {
        // The path already ends at the unknown field itself.
        let param = if path == "." { name } else { path };
        return AppError::UnknownField { param };
    }
    let param = if path == "." { "body".to_owned() } else { path };
    AppError::InvalidType { param, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: Option<u32>,
    }

    #[test]
    fn names_the_failing_field() {
        assert_eq!(parse::<Body>(b"{").unwrap_err().code(), "invalid_json");
        assert_eq!(parse::<Body>(b"{}").unwrap_err(), AppError::MissingField { param: "name".into() });
        assert_eq!(
            parse::<Body>(br#"{"name":"a","extra":1}"#).unwrap_err(),
            AppError::UnknownField { param: "extra".into() }
        );
        let err = parse::<Body>(br#"{"name":"a","count":"many"}"#).unwrap_err();
        assert_eq!(err.code(), "invalid_type");
        assert_eq!(err.param(), Some("count"));
        for not_an_object in [&b"[\"a\", 1]"[..], b"[null,null]", b"\"a\"", b"null", b"7"] {
            let err = parse::<Body>(not_an_object).unwrap_err();
            assert_eq!((err.code(), err.param()), ("invalid_type", Some("body")), "{not_an_object:?}");
        }
    }
}
