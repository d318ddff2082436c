//! The four dialects clients and channels speak, and the hub between them.
//!
//! Each dialect module has the same pieces, written against [`conversation`]:
//!
//! - `decode_request(&Map<String, Value>) -> Result<Request, GatewayError>`: a client's
//!   body; wrong types and values are the contract's 400s naming the field's path, and a
//!   field whose meaning the hub cannot carry is `untranslatable` (unknown fields are
//!   ignored, never an error);
//! - `encode_request(&Request, &Outgoing) -> Result<Value, GatewayError>`: an upstream body;
//! - `decode_response(&[u8]) -> Result<Response, serde_json::Error>`: an upstream's answer;
//! - `encode_response(&Response) -> Value`: an answer for a client;
//! - `usage_in(&[u8]) -> Result<Option<Usage>, serde_json::Error>`: a cheap typed read of a
//!   whole answer's usage, for pass-through;
//! - `Reader` ([`StreamReader`], `Default`) and `Writer` ([`StreamWriter`],
//!   `Writer::new(StreamStart)`).
//!
//! Same-dialect traffic passes through and only the reader runs, to follow usage.

pub mod anthropic;
pub mod chat;
pub mod conversation;
pub mod gemini;
pub mod responses;
pub mod sse;

use crate::gateway::error::GatewayError;
use app::models::Protocol;
use bytes::BytesMut;
use conversation::{Finish, Request, Response, StreamEvent, StreamStart, Usage};
use serde_json::{Map, Value};

/// An API shape: what a client route speaks, and what a channel speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Chat,
    Responses,
    Anthropic,
    Gemini,
}

impl Dialect {
    /// The dialect a channel speaks; `echo` answers locally in any dialect.
    pub fn of(protocol: Protocol) -> Option<Dialect> {
        match protocol {
            Protocol::Openai => Some(Dialect::Chat),
            Protocol::OpenaiResponses => Some(Dialect::Responses),
            Protocol::Anthropic => Some(Dialect::Anthropic),
            Protocol::Gemini => Some(Dialect::Gemini),
            Protocol::Echo => None,
        }
    }

    /// The name usage rows and the console use: the protocol name of the same shape.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Chat => Protocol::Openai.as_str(),
            Dialect::Responses => Protocol::OpenaiResponses.as_str(),
            Dialect::Anthropic => Protocol::Anthropic.as_str(),
            Dialect::Gemini => Protocol::Gemini.as_str(),
        }
    }

    /// The id of an answer in this dialect's style, from the request id.
    pub fn answer_id(self, request_id: &str) -> String {
        match self {
            Dialect::Chat => format!("chatcmpl-{request_id}"),
            Dialect::Responses => format!("resp_{}", request_id.replace('-', "")),
            Dialect::Anthropic => format!("msg_{}", request_id.replace('-', "")),
            Dialect::Gemini => request_id.to_owned(),
        }
    }

    pub fn decode_request(self, body: &Map<String, Value>) -> Result<Request, GatewayError> {
        match self {
            Dialect::Chat => chat::decode_request(body),
            Dialect::Responses => responses::decode_request(body),
            Dialect::Anthropic => anthropic::decode_request(body),
            Dialect::Gemini => gemini::decode_request(body),
        }
    }

    pub fn encode_request(self, request: &Request, out: &Outgoing) -> Result<Value, GatewayError> {
        match self {
            Dialect::Chat => chat::encode_request(request, out),
            Dialect::Responses => responses::encode_request(request, out),
            Dialect::Anthropic => anthropic::encode_request(request, out),
            Dialect::Gemini => gemini::encode_request(request, out),
        }
    }

    pub fn decode_response(self, body: &[u8]) -> Result<Response, serde_json::Error> {
        match self {
            Dialect::Chat => chat::decode_response(body),
            Dialect::Responses => responses::decode_response(body),
            Dialect::Anthropic => anthropic::decode_response(body),
            Dialect::Gemini => gemini::decode_response(body),
        }
    }

    pub fn encode_response(self, response: &Response) -> Value {
        match self {
            Dialect::Chat => chat::encode_response(response),
            Dialect::Responses => responses::encode_response(response),
            Dialect::Anthropic => anthropic::encode_response(response),
            Dialect::Gemini => gemini::encode_response(response),
        }
    }

    pub fn usage_in(self, body: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
        match self {
            Dialect::Chat => chat::usage_in(body),
            Dialect::Responses => responses::usage_in(body),
            Dialect::Anthropic => anthropic::usage_in(body),
            Dialect::Gemini => gemini::usage_in(body),
        }
    }

    pub fn reader(self) -> Box<dyn StreamReader> {
        match self {
            Dialect::Chat => Box::<chat::Reader>::default(),
            Dialect::Responses => Box::<responses::Reader>::default(),
            Dialect::Anthropic => Box::<anthropic::Reader>::default(),
            Dialect::Gemini => Box::<gemini::Reader>::default(),
        }
    }

    pub fn writer(self, start: StreamStart) -> Box<dyn StreamWriter> {
        match self {
            Dialect::Chat => Box::new(chat::Writer::new(start)),
            Dialect::Responses => Box::new(responses::Writer::new(start)),
            Dialect::Anthropic => Box::new(anthropic::Writer::new(start)),
            Dialect::Gemini => Box::new(gemini::Writer::new(start)),
        }
    }
}

/// What an encoder needs besides the conversation.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The upstream's name for the model.
    pub model: &'a str,
    /// The output cap to send where the dialect requires one (Anthropic's `max_tokens`).
    pub default_max_tokens: u64,
}

/// Reads an upstream stream of one dialect into hub events. Stateful: a dialect may name
/// a tool call once and then refer to it by block index or item id.
pub trait StreamReader: Send {
    fn read(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>);
}

/// Writes hub events as a well-formed stream of one dialect: it opens and closes blocks
/// and items itself, so callers only say what happened.
pub trait StreamWriter: Send {
    /// The stream's opening events (Anthropic `message_start`, Responses `response.created`).
    fn start(&mut self, out: &mut BytesMut);
    /// `Finish` and `Usage` events are remembered for `finish`, not written at once.
    fn write(&mut self, event: &StreamEvent, out: &mut BytesMut);
    /// Closes what is open and ends the stream with the finish reason and final usage.
    fn finish(&mut self, finish: Finish, usage: &Usage, out: &mut BytesMut);
}

/// Seconds since the Unix epoch, for the `created` fields answers carry.
pub fn now_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

pub fn untranslatable(field: impl Into<String>, reason: &'static str) -> GatewayError {
    GatewayError::Untranslatable { field: field.into(), reason }
}

/// A field's value; absent and `null` are the same.
pub fn field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.get(name).filter(|value| !value.is_null())
}

pub fn optional_u64(body: &Map<String, Value>, name: &str, path: &str) -> Result<Option<u64>, GatewayError> {
    field(body, name)
        .map(|value| value.as_u64().filter(|n| *n > 0).ok_or_else(|| invalid_type(path, "a positive integer")))
        .transpose()
}

pub fn optional_f64(body: &Map<String, Value>, name: &str, path: &str) -> Result<Option<f64>, GatewayError> {
    field(body, name).map(|value| value.as_f64().ok_or_else(|| invalid_type(path, "a number"))).transpose()
}

pub fn optional_bool(body: &Map<String, Value>, name: &str, path: &str) -> Result<Option<bool>, GatewayError> {
    field(body, name).map(|value| value.as_bool().ok_or_else(|| invalid_type(path, "a boolean"))).transpose()
}

pub fn optional_str<'a>(body: &'a Map<String, Value>, name: &str, path: &str) -> Result<Option<&'a str>, GatewayError> {
    field(body, name).map(|value| value.as_str().ok_or_else(|| invalid_type(path, "a string"))).transpose()
}

/// An array field (empty when absent).
pub fn optional_array<'a>(body: &'a Map<String, Value>, name: &str, path: &str) -> Result<&'a [Value], GatewayError> {
    match field(body, name) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(invalid_type(path, "an array")),
    }
}

/// An element that must be a JSON object.
pub fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, GatewayError> {
    value.as_object().ok_or_else(|| invalid_type(path, "an object"))
}

pub fn invalid_type(path: &str, expected: &'static str) -> GatewayError {
    GatewayError::InvalidType { field: path.to_owned(), expected }
}

/// Stop sequences given as one string or a list of strings.
pub fn stop_list(body: &Map<String, Value>, name: &str) -> Result<Vec<String>, GatewayError> {
    let expected = "a string or a list of strings";
    match field(body, name) {
        None => Ok(Vec::new()),
        Some(Value::String(stop)) => Ok(vec![stop.clone()]),
        Some(Value::Array(stops)) => stops
            .iter()
            .map(|stop| stop.as_str().map(str::to_owned).ok_or_else(|| invalid_type(name, expected)))
            .collect(),
        Some(_) => Err(invalid_type(name, expected)),
    }
}

/// Tool arguments as an object, for dialects that carry them so (Anthropic, Gemini).
/// Arguments that are not a JSON object (a model cut off mid-call) travel as `{}`
/// rather than failing the whole answer.
pub fn arguments_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        _ => Value::Object(Map::new()),
    }
}

/// A `data:` URL's media type and base64 payload.
pub fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (media_type, data) = rest.split_once(";base64,")?;
    Some((media_type, data))
}

/// What the codecs' tests share.
#[cfg(test)]
pub mod test_support {
    use super::conversation::{Finish, Part, StreamEvent, ToolCall, Usage};
    use super::StreamWriter;
    use bytes::BytesMut;
    use serde_json::{Map, Value};

    /// A JSON body as the codecs take it.
    pub fn body(value: Value) -> Map<String, Value> {
        value.as_object().expect("an object").clone()
    }

    pub fn text(text: &str) -> Part {
        Part::Text(text.into())
    }

    pub fn call(id: &str, name: &str, arguments: &str) -> Part {
        Part::ToolCall(ToolCall { id: id.into(), name: name.into(), arguments: arguments.into() })
    }

    /// A tool call fragment: the first of a call names it, later ones carry more arguments.
    pub fn fragment(index: u32, id: Option<&str>, name: Option<&str>, arguments: &str) -> StreamEvent {
        StreamEvent::ToolCall { index, id: id.map(Into::into), name: name.map(Into::into), arguments: arguments.into() }
    }

    /// Usage with uncached, cached, completion and reasoning tokens.
    pub fn mixed_usage() -> Usage {
        Usage { prompt_tokens: 5, cache_read_tokens: 20, completion_tokens: 8, reasoning_tokens: 3, ..Usage::default() }
    }

    /// The whole stream a writer makes of `events`, ended with `finish` and `usage`.
    pub fn stream_of(writer: &mut dyn StreamWriter, events: &[StreamEvent], finish: Finish, usage: &Usage) -> BytesMut {
        let mut out = BytesMut::new();
        writer.start(&mut out);
        for event in events {
            writer.write(event, &mut out);
        }
        writer.finish(finish, usage, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_of_the_wrong_type_name_their_path() {
        let body = json!({"max_tokens": "ten", "stop": ["a", 1], "top_p": 0.5});
        let body = body.as_object().unwrap();
        let error = optional_u64(body, "max_tokens", "generationConfig.maxOutputTokens").unwrap_err();
        assert_eq!(error.param(), Some("generationConfig.maxOutputTokens"));
        assert!(stop_list(body, "stop").is_err());
        assert_eq!(optional_f64(body, "top_p", "top_p").unwrap(), Some(0.5));
        assert_eq!(optional_u64(body, "absent", "absent").unwrap(), None);
    }

    #[test]
    fn arguments_and_data_urls() {
        assert_eq!(arguments_object(r#"{"cmd":"ls"}"#), json!({"cmd": "ls"}));
        assert_eq!(arguments_object(r#"{"cmd":"#), json!({}));
        assert_eq!(parse_data_url("data:image/png;base64,AAAA"), Some(("image/png", "AAAA")));
        assert_eq!(parse_data_url("https://example.com/a.png"), None);
    }
}
