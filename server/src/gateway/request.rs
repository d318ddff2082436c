//! Reading a request body, in the contract's order: size, media type, JSON, fields. Only
//! the envelope is read here (model, stream, output cap, the dialect's required fields):
//! a same-dialect upstream gets the body as sent, and the rest is decoded only when the
//! request is translated.

use super::dialect::Dialect;
use super::error::GatewayError;
use axum::body::Body;
use axum::http::{header, HeaderMap};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value};

/// A parsed request; `body` is kept whole so same-dialect upstreams get it as sent.
pub struct ClientRequest {
    pub body: Map<String, Value>,
    pub model: String,
    pub stream: bool,
    pub max_tokens: Option<u64>,
    /// Answers asked for at once (OpenAI's `n`, Gemini's `candidateCount`): each may use
    /// the whole output cap.
    pub choices: u64,
    /// An upper bound of the prompt's tokens, for the reservation and limits before the
    /// upstream reports the real count: the body's size in bytes, since a byte-level BPE
    /// token is at least one byte.
    pub prompt_estimate: u64,
}

/// What a route says about its requests besides the body.
pub enum Envelope {
    /// A generation request of a dialect; Gemini names the model and streaming in the path.
    Generate { dialect: Dialect, path_model: Option<String>, path_stream: bool },
    /// `POST /v1/embeddings`.
    Embeddings,
    /// Anthropic `count_tokens` or Gemini `countTokens` (the model in the path).
    CountTokens { dialect: Dialect, path_model: Option<String> },
}

pub async fn read(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    envelope: Envelope,
) -> Result<ClientRequest, GatewayError> {
    let (body, size) = read_object(headers, body, limit).await?;
    let (path_model, required): (Option<String>, &[&str]) = match &envelope {
        Envelope::Generate { dialect, path_model, .. } => (path_model.clone(), required_fields(*dialect)),
        Envelope::Embeddings => (None, &["input"]),
        // Gemini may wrap the request in `generateContentRequest`: nothing is required.
        Envelope::CountTokens { dialect: Dialect::Gemini, path_model } => (path_model.clone(), &[]),
        Envelope::CountTokens { dialect, path_model } => (path_model.clone(), required_fields(*dialect)),
    };
    let model = match path_model {
        Some(model) => model,
        None => required_string(&body, "model")?,
    };
    for field in required {
        check_required(&body, field)?;
    }
    let (stream, max_tokens, choices) = match envelope {
        Envelope::Generate { dialect: Dialect::Gemini, path_stream, .. } => {
            let config = body.get("generationConfig").and_then(Value::as_object);
            let setting = |name: &str| {
                config.map(|config| positive(config, name, &format!("generationConfig.{name}"))).transpose()
            };
            (path_stream, setting("maxOutputTokens")?.flatten(), setting("candidateCount")?.flatten())
        }
        Envelope::Generate { dialect, .. } => {
            let choices = if dialect == Dialect::Chat { positive(&body, "n", "n")? } else { None };
            (stream_flag(&body)?, max_tokens(&body, dialect)?, choices)
        }
        Envelope::Embeddings | Envelope::CountTokens { .. } => (false, None, None),
    };
    let choices = choices.unwrap_or(1);
    Ok(ClientRequest { model, stream, max_tokens, choices, prompt_estimate: size as u64, body })
}

/// The body as a JSON object, and its size in bytes.
async fn read_object(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<(Map<String, Value>, usize), GatewayError> {
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
    match value {
        Value::Object(body) => Ok((body, bytes.len())),
        _ => Err(GatewayError::InvalidType { field: "body".into(), expected: "a JSON object" }),
    }
}

/// The fields without which a dialect's request means nothing (row 13 of the contract).
fn required_fields(dialect: Dialect) -> &'static [&'static str] {
    match dialect {
        Dialect::Chat | Dialect::Anthropic => &["messages"],
        Dialect::Responses => &["input"],
        Dialect::Gemini => &["contents"],
    }
}

fn required_string(body: &Map<String, Value>, field: &str) -> Result<String, GatewayError> {
    match body.get(field) {
        None | Some(Value::Null) => Err(GatewayError::MissingField(field.into())),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(GatewayError::InvalidType { field: field.into(), expected: "a string" }),
    }
}

/// A required list of objects; Responses' `input` and embeddings' `input` may be a string.
fn check_required(body: &Map<String, Value>, field: &str) -> Result<(), GatewayError> {
    let string_allowed = field == "input";
    match body.get(field) {
        None | Some(Value::Null) => Err(GatewayError::MissingField(field.into())),
        Some(Value::String(_)) if string_allowed => Ok(()),
        Some(Value::Array(items)) => match items.iter().position(|item| !item.is_object()) {
            // Embeddings take a list of strings (or of token ids): the codec checks those.
            Some(_) if string_allowed => Ok(()),
            Some(index) => Err(GatewayError::InvalidType { field: format!("{field}[{index}]"), expected: "an object" }),
            None => Ok(()),
        },
        Some(_) if string_allowed => {
            Err(GatewayError::InvalidType { field: field.into(), expected: "a string or an array" })
        }
        Some(_) => Err(GatewayError::InvalidType { field: field.into(), expected: "an array" }),
    }
}

fn stream_flag(body: &Map<String, Value>) -> Result<bool, GatewayError> {
    match body.get("stream") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(stream)) => Ok(*stream),
        Some(_) => Err(GatewayError::InvalidType { field: "stream".into(), expected: "a boolean" }),
    }
}

/// The output cap the client set, under the dialect's name for it (the larger of two).
fn max_tokens(body: &Map<String, Value>, dialect: Dialect) -> Result<Option<u64>, GatewayError> {
    let fields: &[&str] = match dialect {
        Dialect::Chat => &["max_tokens", "max_completion_tokens"],
        Dialect::Responses => &["max_output_tokens"],
        Dialect::Anthropic => &["max_tokens"],
        Dialect::Gemini => &[],
    };
    let mut cap = None;
    for field in fields {
        if let Some(n) = positive(body, field, field)? {
            cap = Some(cap.map_or(n, |m: u64| m.max(n)));
        }
    }
    Ok(cap)
}

fn positive(body: &Map<String, Value>, field: &str, path: &str) -> Result<Option<u64>, GatewayError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| GatewayError::InvalidType { field: path.into(), expected: "a positive integer" }),
    }
}
