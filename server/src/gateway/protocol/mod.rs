//! The two client dialects (OpenAI Chat Completions, Anthropic Messages) and what they
//! share. Same-protocol traffic is passed through; across protocols (and for the local
//! `echo` provider) requests and answers go through the small common model below.

pub mod anthropic;
pub mod echo;
pub mod openai;
pub use super::dialect::sse;

use super::error::GatewayError;
use app::models::Protocol;
use bytes::Bytes;
use serde_json::{Map, Value};

/// Which API shape the client called, and so how answers and errors are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
}

impl Dialect {
    /// Whether a channel of `protocol` speaks this dialect, so requests and answers pass
    /// between them as they are instead of being translated.
    pub fn passes_through_to(self, protocol: Protocol) -> bool {
        matches!((self, protocol), (Dialect::OpenAi, Protocol::Openai) | (Dialect::Anthropic, Protocol::Anthropic))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub role: Role,
    pub text: String,
}

/// A text chat request as both protocols can express it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Conversation {
    pub system: Option<String>,
    pub turns: Vec<Turn>,
    pub max_tokens: Option<u64>,
    pub stop: Vec<String>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stream: bool,
}

impl Conversation {
    /// Every text the model reads, for counting tokens.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.system.as_deref().into_iter().chain(self.turns.iter().map(|turn| turn.text.as_str()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// The usage of a whole answer that is relayed as it came, read without building the rest
/// of it (serde skips every other field, still checking that the answer is JSON). OpenAI
/// counts `prompt_tokens`/`completion_tokens`, Anthropic `input_tokens`/`output_tokens`.
pub fn usage_in(answer: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Counts {
        #[serde(alias = "input_tokens")]
        prompt_tokens: Option<u64>,
        #[serde(alias = "output_tokens")]
        completion_tokens: Option<u64>,
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        usage: Option<Counts>,
    }
    let answer: Answer = serde_json::from_slice(answer)?;
    Ok(answer.usage.and_then(|counts| {
        Some(Usage { prompt_tokens: counts.prompt_tokens?, completion_tokens: counts.completion_tokens? })
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Stop,
    Length,
}

/// A whole (non-streamed) answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub id: String,
    pub model: String,
    pub text: String,
    pub finish: Finish,
    pub usage: Option<Usage>,
}

/// What one upstream stream event means, whatever its protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Text(String),
    Finish(Finish),
    /// Usage as reported so far; later reports replace earlier ones field by field.
    Usage {
        prompt_tokens: Option<u64>,
        completion_tokens: Option<u64>,
    },
}

/// Writes a stream in the client's dialect.
pub trait StreamWriter: Send {
    fn text(&mut self, text: &str) -> Bytes;
    fn finish(&mut self, finish: Finish, usage: Usage) -> Bytes;
}

pub fn stream_writer(dialect: Dialect, id: &str, model: &str) -> Box<dyn StreamWriter> {
    match dialect {
        Dialect::OpenAi => Box::new(openai::ChunkWriter::new(id, model)),
        Dialect::Anthropic => Box::new(anthropic::EventWriter::new(id, model)),
    }
}

pub fn render_completion(dialect: Dialect, completion: &Completion) -> Value {
    match dialect {
        Dialect::OpenAi => openai::render_completion(completion),
        Dialect::Anthropic => anthropic::render_completion(completion),
    }
}

/// A rough token count for text whose upstream reported none: at least one per word,
/// or one per four characters, whichever is more.
pub fn estimate_tokens(text: &str) -> u64 {
    let words = text.split_whitespace().count() as u64;
    let chars = text.chars().count() as u64;
    words.max(chars.div_ceil(4))
}

/// Reads a text field that may be a string or a list of `{"type":"text","text":...}` parts.
pub fn text_content(value: &Value, field: &str) -> Result<String, GatewayError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Null => Ok(String::new()),
        Value::Array(parts) => parts
            .iter()
            .map(|part| match (part.get("type").and_then(Value::as_str), part.get("text").and_then(Value::as_str)) {
                (Some("text"), Some(text)) => Ok(text),
                _ => Err(GatewayError::Untranslatable {
                    field: field.to_owned(),
                    reason: "only text content can be translated between protocols",
                }),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|texts| texts.join("")),
        _ => {
            Err(GatewayError::InvalidType { field: field.to_owned(), expected: "a string or a list of content parts" })
        }
    }
}

/// Fields whose meaning one protocol has and the other does not.
pub fn refuse_untranslatable(body: &Map<String, Value>, fields: &[&'static str]) -> Result<(), GatewayError> {
    match fields.iter().find(|field| body.get(**field).is_some_and(|value| !value.is_null())) {
        Some(field) => Err(GatewayError::Untranslatable {
            field: (*field).to_owned(),
            reason: "tools and non-text features are only supported between channels of the same protocol",
        }),
        None => Ok(()),
    }
}

fn optional_u64(body: &Map<String, Value>, field: &str) -> Result<Option<u64>, GatewayError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| GatewayError::InvalidType { field: field.to_owned(), expected: "a positive integer" }),
    }
}

fn optional_f64(body: &Map<String, Value>, field: &str) -> Result<Option<f64>, GatewayError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| GatewayError::InvalidType { field: field.to_owned(), expected: "a number" }),
    }
}

fn stop_list(value: Option<&Value>, field: &str) -> Result<Vec<String>, GatewayError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(stop)) => Ok(vec![stop.clone()]),
        Some(Value::Array(stops)) => stops
            .iter()
            .map(|stop| {
                stop.as_str().map(str::to_owned).ok_or_else(|| GatewayError::InvalidType {
                    field: field.to_owned(),
                    expected: "a string or a list of strings",
                })
            })
            .collect(),
        Some(_) => {
            Err(GatewayError::InvalidType { field: field.to_owned(), expected: "a string or a list of strings" })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_read_from_either_protocols_answer_and_nothing_else() {
        let openai = br#"{"id":"x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;
        assert_eq!(usage_in(openai).unwrap(), Some(Usage { prompt_tokens: 12, completion_tokens: 3 }));
        let anthropic = br#"{"content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":7,"output_tokens":2}}"#;
        assert_eq!(usage_in(anthropic).unwrap(), Some(Usage { prompt_tokens: 7, completion_tokens: 2 }));
        assert_eq!(usage_in(br#"{"choices":[]}"#).unwrap(), None, "no usage reported");
        assert_eq!(usage_in(br#"{"usage":{"prompt_tokens":1}}"#).unwrap(), None, "half a usage is none");
        assert!(usage_in(b"{not json").is_err());
    }
}
