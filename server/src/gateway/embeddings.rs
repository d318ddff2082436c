//! `POST /v1/embeddings`: passed through to OpenAI channels, answered by `echo` with
//! deterministic vectors; billed at the model's input price.

use super::catalog::Target;
use super::dialect::conversation::Usage;
use super::echo;
use super::error::GatewayError;
use super::request::ClientRequest;
use app::models::Protocol;
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};

/// The channels that can embed.
pub fn can_embed(target: &Target) -> bool {
    matches!(target.channel.protocol, Protocol::Openai | Protocol::Echo)
}

/// The texts to embed: a string or a list of strings. Token-id input (lists of integers)
/// is passed to OpenAI channels as sent; echo embeds its numbers' text.
fn inputs(request: &ClientRequest) -> Result<Vec<String>, GatewayError> {
    let invalid = || GatewayError::InvalidType {
        field: "input".into(),
        expected: "a string, a list of strings or a list of token ids",
    };
    match request.body()?.get("input") {
        Some(Value::String(text)) => Ok(vec![text.clone()]),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            Ok(items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        }
        Some(Value::Array(items)) if items.iter().all(Value::is_u64) => {
            Ok(vec![Value::Array(items.clone()).to_string()])
        }
        Some(Value::Array(items))
            if items.iter().all(|item| item.as_array().is_some_and(|ids| ids.iter().all(Value::is_u64))) =>
        {
            Ok(items.iter().map(Value::to_string).collect())
        }
        _ => Err(invalid()),
    }
}

/// Checks what every channel would refuse, before money is reserved.
pub fn check(request: &ClientRequest) -> Result<(), GatewayError> {
    inputs(request)?;
    match request.body()?.get("encoding_format") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(format)) if format == "float" || format == "base64" => Ok(()),
        Some(_) => Err(GatewayError::InvalidValue {
            field: "encoding_format".into(),
            reason: "use `float` or `base64`".into(),
        }),
    }
}

/// The echo provider's embeddings, in OpenAI's list shape.
pub fn echo(request: &ClientRequest) -> Result<(Bytes, Usage), GatewayError> {
    let texts = inputs(request)?;
    let body = request.body()?;
    let dimensions = body.get("dimensions").and_then(Value::as_u64).map(|n| n.min(4096) as usize);
    let base64 = body.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = echo::embedding(text, dimensions);
            let embedding = if base64 { Value::from(as_base64(&vector)) } else { json!(vector) };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let prompt_tokens: u64 = texts.iter().map(|text| echo::words(text)).sum();
    let body = json!({
        "object": "list",
        "data": data,
        "model": request.model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    });
    Ok((Bytes::from(body.to_string()), Usage { prompt_tokens, ..Usage::default() }))
}

/// What OpenAI's `encoding_format: base64` means: the little-endian `f32`s, base64-encoded.
fn as_base64(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|value| value.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The usage an upstream's embeddings answer reports.
pub fn usage_in(body: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Counts {
        prompt_tokens: u64,
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        usage: Option<Counts>,
    }
    let answer: Answer = serde_json::from_slice(body)?;
    Ok(answer.usage.map(|counts| Usage { prompt_tokens: counts.prompt_tokens, ..Usage::default() }))
}
