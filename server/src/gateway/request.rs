//! Reading a request body, in the contract's order: size, media type, JSON (and its
//! complexity, met while it is parsed), fields. One pass reads the envelope (model,
//! stream, output cap, the dialect's required list) and counts the conversation without
//! building a tree of the body: a same-dialect upstream gets the body's own bytes, and a
//! JSON tree is built only where the request is translated or answered here, after it has
//! been authorised and priced.

use super::dialect::Dialect;
use super::error::GatewayError;
use super::scan::{self, Caps, Conversation, Scalar, Shape, Wanted};
use crate::config::Config;
use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::OnceLock;

/// A request read and checked; `raw` is kept as sent, so same-dialect upstreams get it.
pub struct ClientRequest {
    raw: Bytes,
    /// The body as a JSON tree, built on first need.
    tree: OnceLock<Option<Map<String, Value>>>,
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
    /// Chat's `stream_options.include_usage`.
    pub include_usage: bool,
}

impl ClientRequest {
    /// The body as sent.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The body as a JSON tree, for the codecs.
    pub fn body(&self) -> Result<&Map<String, Value>, GatewayError> {
        // It was read as a JSON object within the caps already: this cannot fail.
        self.tree.get_or_init(|| serde_json::from_slice(&self.raw).ok()).as_ref().ok_or(GatewayError::Internal)
    }

    /// The body's top-level fields as sent, for a same-dialect upstream.
    pub fn fields(&self) -> Result<Vec<(Cow<'_, str>, &RawValue)>, GatewayError> {
        scan::top_level(&self.raw).map_err(|_| GatewayError::Internal)
    }
}

/// What a data-plane body may be: its size, and the caps on its shape.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub bytes: usize,
    pub caps: Caps,
}

impl BodyLimits {
    pub fn of(config: &Config) -> BodyLimits {
        let caps = Caps {
            messages: config.max_request_messages,
            parts: config.max_message_parts,
            depth: config.max_json_depth.min(MAX_JSON_DEPTH),
        };
        BodyLimits { bytes: config.max_request_bytes, caps }
    }
}

/// The JSON parser's own nesting limit: deeper bodies are not JSON it reads.
const MAX_JSON_DEPTH: usize = 128;

/// What a route says about its requests besides the body.
pub enum Envelope {
    /// A generation request of a dialect; Gemini names the model and streaming in the path.
    Generate { dialect: Dialect, path_model: Option<String>, path_stream: bool },
    /// `POST /v1/embeddings`.
    Embeddings,
    /// Anthropic `count_tokens` or Gemini `countTokens` (the model in the path).
    CountTokens { dialect: Dialect, path_model: Option<String> },
}

/// The top-level values the envelope reads.
const SCALARS: &[&str] = &["model", "stream", "max_tokens", "max_completion_tokens", "max_output_tokens", "n"];
const NESTED: &[(&str, &[&str])] =
    &[("generationConfig", &["maxOutputTokens", "candidateCount"]), ("stream_options", &["include_usage"])];

pub async fn read(
    headers: &HeaderMap,
    body: Body,
    limits: &BodyLimits,
    envelope: Envelope,
) -> Result<ClientRequest, GatewayError> {
    let raw = read_bytes(headers, body, limits.bytes).await?;
    let (path_model, conversation, required) = match &envelope {
        Envelope::Generate { dialect, path_model, .. } => (path_model.clone(), conversation(*dialect), true),
        Envelope::Embeddings => (None, Conversation { list: "input", parts: None }, true),
        // Gemini may wrap the request in `generateContentRequest`: nothing is required.
        Envelope::CountTokens { dialect: Dialect::Gemini, path_model } => {
            (path_model.clone(), conversation(Dialect::Gemini), false)
        }
        Envelope::CountTokens { dialect, path_model } => (path_model.clone(), conversation(*dialect), true),
    };
    let wanted = Wanted { scalars: SCALARS, nested: NESTED, conversation };
    let scanned = scan::scan(&raw, &wanted, limits.caps)?;
    let model = match path_model {
        Some(model) => model,
        None => required_string(scanned.get("model"), "model")?,
    };
    if required {
        check_required(scanned.conversation, conversation.list)?;
    }
    let (stream, max_tokens, choices) = match envelope {
        Envelope::Generate { dialect: Dialect::Gemini, path_stream, .. } => {
            let setting =
                |name: &str| positive(scanned.get_in("generationConfig", name), &format!("generationConfig.{name}"));
            (path_stream, setting("maxOutputTokens")?, setting("candidateCount")?)
        }
        Envelope::Generate { dialect, .. } => {
            let choices = if dialect == Dialect::Chat { positive(scanned.get("n"), "n")? } else { None };
            (stream_flag(scanned.get("stream"))?, max_tokens(&scanned, dialect)?, choices)
        }
        Envelope::Embeddings | Envelope::CountTokens { .. } => (false, None, None),
    };
    let include_usage = scanned.get_in("stream_options", "include_usage") == &Scalar::Bool(true);
    let choices = choices.unwrap_or(1);
    let prompt_estimate = raw.len() as u64;
    Ok(ClientRequest { raw, tree: OnceLock::new(), model, stream, max_tokens, choices, prompt_estimate, include_usage })
}

/// The body's bytes, within the size limit and of a JSON media type.
async fn read_bytes(headers: &HeaderMap, mut body: Body, limit: usize) -> Result<Bytes, GatewayError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(GatewayError::RequestTooLarge { limit });
    }
    // One buffer of the declared size: gathering the frames and then joining them would
    // hold the body twice.
    let mut bytes = BytesMut::with_capacity(declared.unwrap_or_default());
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| GatewayError::InvalidJson("the body could not be read".into()))?;
        let Ok(data) = frame.into_data() else { continue };
        if bytes.len() + data.len() > limit {
            return Err(GatewayError::RequestTooLarge { limit });
        }
        bytes.extend_from_slice(&data);
    }
    if !crate::http::json::is_json(headers) {
        return Err(GatewayError::UnsupportedMediaType);
    }
    Ok(bytes.freeze())
}

/// Where a dialect's conversation is (its list is the field without which a request
/// means nothing, row 13 of the contract).
fn conversation(dialect: Dialect) -> Conversation {
    match dialect {
        Dialect::Chat | Dialect::Anthropic => Conversation { list: "messages", parts: Some("content") },
        Dialect::Responses => Conversation { list: "input", parts: Some("content") },
        Dialect::Gemini => Conversation { list: "contents", parts: Some("parts") },
    }
}

fn required_string(value: &Scalar, field: &str) -> Result<String, GatewayError> {
    match value {
        Scalar::Null => Err(GatewayError::MissingField(field.into())),
        Scalar::Text(text) => Ok(text.clone().into_owned()),
        _ => Err(GatewayError::InvalidType { field: field.into(), expected: "a string" }),
    }
}

/// A required list of objects; Responses' `input` and embeddings' `input` may be a string.
fn check_required(shape: Shape, field: &str) -> Result<(), GatewayError> {
    let string_allowed = field == "input";
    match shape {
        Shape::Null => Err(GatewayError::MissingField(field.into())),
        Shape::Text if string_allowed => Ok(()),
        Shape::Array { first_not_object } => match first_not_object {
            // Embeddings take a list of strings (or of token ids): the codec checks those.
            Some(_) if string_allowed => Ok(()),
            Some(index) => Err(GatewayError::InvalidType { field: format!("{field}[{index}]"), expected: "an object" }),
            None => Ok(()),
        },
        _ if string_allowed => Err(GatewayError::InvalidType { field: field.into(), expected: "a string or an array" }),
        _ => Err(GatewayError::InvalidType { field: field.into(), expected: "an array" }),
    }
}

fn stream_flag(value: &Scalar) -> Result<bool, GatewayError> {
    match value {
        Scalar::Null => Ok(false),
        Scalar::Bool(stream) => Ok(*stream),
        _ => Err(GatewayError::InvalidType { field: "stream".into(), expected: "a boolean" }),
    }
}

/// The output cap the client set, under the dialect's name for it (the larger of two).
fn max_tokens(scanned: &scan::Scanned, dialect: Dialect) -> Result<Option<u64>, GatewayError> {
    let fields: &[&str] = match dialect {
        Dialect::Chat => &["max_tokens", "max_completion_tokens"],
        Dialect::Responses => &["max_output_tokens"],
        Dialect::Anthropic => &["max_tokens"],
        Dialect::Gemini => &[],
    };
    let mut cap = None;
    for field in fields {
        if let Some(n) = positive(scanned.get(field), field)? {
            cap = Some(cap.map_or(n, |m: u64| m.max(n)));
        }
    }
    Ok(cap)
}

fn positive(value: &Scalar, path: &str) -> Result<Option<u64>, GatewayError> {
    match value {
        Scalar::Null => Ok(None),
        Scalar::Unsigned(n) if *n > 0 => Ok(Some(*n)),
        _ => Err(GatewayError::InvalidType { field: path.into(), expected: "a positive integer" }),
    }
}
