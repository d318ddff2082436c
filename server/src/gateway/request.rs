//! Reading a chat request body, in the contract's order: size, media type, JSON, fields.

use super::error::GatewayError;
use axum::body::Body;
use axum::http::{header, HeaderMap};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value};

/// A parsed request; `body` is kept whole so same-protocol upstreams get it as sent.
pub struct ClientRequest {
    pub body: Map<String, Value>,
    pub model: String,
    pub stream: bool,
    pub max_tokens: Option<u64>,
    /// Generous prompt size (bytes / 2), for the reservation and limits before the
    /// upstream reports the real count.
    pub prompt_estimate: u64,
}

pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> Result<ClientRequest, GatewayError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(GatewayError::RequestTooLarge { limit });
    }
    let bytes = Limited::new(body, limit).collect().await.map_err(|err| {
        if err.downcast_ref::<LengthLimitError>().is_some() {
            GatewayError::RequestTooLarge { limit }
        } else {
            GatewayError::InvalidJson("the body could not be read".into())
        }
    })?;
    let bytes = bytes.to_bytes();
    if !crate::http::json::is_json(headers) {
        return Err(GatewayError::UnsupportedMediaType);
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|err| GatewayError::InvalidJson(err.to_string()))?;
    let Value::Object(body) = value else {
        return Err(GatewayError::InvalidType { field: "body".into(), expected: "a JSON object" });
    };
    let model = match body.get("model") {
        None | Some(Value::Null) => return Err(GatewayError::MissingField("model".into())),
        Some(Value::String(model)) => model.clone(),
        Some(_) => return Err(GatewayError::InvalidType { field: "model".into(), expected: "a string" }),
    };
    match body.get("messages") {
        None | Some(Value::Null) => return Err(GatewayError::MissingField("messages".into())),
        Some(Value::Array(messages)) => {
            if let Some(index) = messages.iter().position(|message| !message.is_object()) {
                return Err(GatewayError::InvalidType { field: format!("messages[{index}]"), expected: "an object" });
            }
        }
        Some(_) => return Err(GatewayError::InvalidType { field: "messages".into(), expected: "an array" }),
    }
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err(GatewayError::InvalidType { field: "stream".into(), expected: "a boolean" }),
    };
    let mut max_tokens = None;
    for field in ["max_tokens", "max_completion_tokens"] {
        match body.get(field) {
            None | Some(Value::Null) => {}
            Some(value) => {
                let n = value
                    .as_u64()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| GatewayError::InvalidType { field: field.into(), expected: "a positive integer" })?;
                max_tokens = Some(max_tokens.map_or(n, |m: u64| m.max(n)));
            }
        }
    }
    Ok(ClientRequest { model, stream, max_tokens, prompt_estimate: (bytes.len() as u64).div_ceil(2), body })
}
