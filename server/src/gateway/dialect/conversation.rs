//! The translation hub: one typed conversation model between the four dialects.
//!
//! A request in any dialect decodes into a [`Request`], a whole answer into a
//! [`Response`], and a stream into [`StreamEvent`]s; each dialect encodes them back in its
//! own shape. Adding a dialect is a decoder and an encoder against these types, never a
//! converter per pair. Same-dialect traffic never comes here: it passes through as sent.

use crate::gateway::error::GatewayError;
use serde_json::Value;
use std::collections::HashSet;

/// A chat request as every dialect can say it. The model and `stream` come from the
/// pipeline (Gemini puts them in the path, the others in the body).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    /// System prompt / instructions, in order (Anthropic's system blocks, OpenAI's
    /// system and developer messages, Gemini's `systemInstruction` parts).
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub max_tokens: Option<u64>,
    pub stop: Vec<String>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub reasoning: Option<Reasoning>,
    pub stream: bool,
    /// Offers of tools the client's own provider runs (OpenAI's hosted web search...) that
    /// no other provider can take up: left out of a translated request and named to the
    /// client in `x-tollgate-omitted-tools`, by their path in the request.
    pub omitted: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

/// One turn. Tool results travel in user turns (as Anthropic and Gemini put them);
/// dialects with a separate tool role (OpenAI's `tool` messages, Responses'
/// `function_call_output` items) split and join them when encoding and decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image(Image),
    ToolCall(ToolCall),
    ToolResult(ToolResult),
    /// The model's visible reasoning (Anthropic thinking, Responses reasoning summaries,
    /// Gemini thought parts). `signature` is Anthropic's, kept only for Anthropic.
    Reasoning {
        text: String,
        signature: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Image {
    /// An `http(s)` URL or a `data:` URL, as the client sent it.
    Url(String),
    Base64 {
        media_type: String,
        data: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text (what OpenAI sends); Anthropic and Gemini carry an
    /// object, parsed and written by their codecs.
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub call_id: String,
    /// Text and image parts only.
    pub content: Vec<Part>,
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Any tool, but some tool.
    Required,
    Named(String),
}

/// How much the model may think: an effort level (OpenAI) or a token budget
/// (Anthropic, Gemini); each codec writes the one its dialect has.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reasoning {
    pub effort: Option<String>,
    pub budget_tokens: Option<u64>,
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub id: String,
    pub model: String,
    /// Text, tool calls and reasoning, in the order the model produced them.
    pub parts: Vec<Part>,
    pub finish: Finish,
    pub usage: Option<Usage>,
}

impl Response {
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .filter_map(|part| if let Part::Text(text) = part { Some(text.as_str()) } else { None })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

/// Tokens of one request in the contract's terms ("Cached prompt tokens"): `prompt_tokens`
/// is uncached input; cache reads and writes are apart; reasoning is part of completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub completion_tokens: u64,
    pub reasoning_tokens: u64,
}

impl Usage {
    /// All input the model read, cached or not (OpenAI's `prompt_tokens`).
    pub fn input_total(&self) -> u64 {
        self.prompt_tokens + self.cache_read_tokens + self.cache_write_tokens
    }
}

/// Usage as a stream reports it so far: later reports replace earlier ones field by field
/// (Anthropic gives input in `message_start` and output in `message_delta`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageReport {
    pub prompt_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
}

impl UsageReport {
    pub fn whole(usage: Usage) -> UsageReport {
        UsageReport {
            prompt_tokens: Some(usage.prompt_tokens),
            cache_read_tokens: Some(usage.cache_read_tokens),
            cache_write_tokens: Some(usage.cache_write_tokens),
            completion_tokens: Some(usage.completion_tokens),
            reasoning_tokens: Some(usage.reasoning_tokens),
        }
    }

    pub fn merge(&mut self, later: &UsageReport) {
        self.prompt_tokens = later.prompt_tokens.or(self.prompt_tokens);
        self.cache_read_tokens = later.cache_read_tokens.or(self.cache_read_tokens);
        self.cache_write_tokens = later.cache_write_tokens.or(self.cache_write_tokens);
        self.completion_tokens = later.completion_tokens.or(self.completion_tokens);
        self.reasoning_tokens = later.reasoning_tokens.or(self.reasoning_tokens);
    }
}

/// What one upstream stream event means, whatever its dialect.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Text(String),
    Reasoning(String),
    /// A fragment of tool call `index` (the upstream's numbering, in order of first
    /// appearance): the first fragment of a call carries its id and name, later ones
    /// only more of its arguments' JSON text.
    ToolCall {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    Finish(Finish),
    Usage(UsageReport),
    /// The upstream reported a failure inside the stream.
    Error {
        kind: String,
        message: String,
    },
}

/// Values a stream writer needs to speak for the gateway.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamStart {
    /// The id of the answer in the client's dialect (`chatcmpl-…`, `msg_…`, `resp_…`).
    pub id: String,
    /// The model code the client asked for.
    pub model: String,
    /// The prompt count known before the upstream reports one, for dialects that announce
    /// input tokens at the start (Anthropic's `message_start`).
    pub prompt_tokens: u64,
    /// The client asked for a usage chunk (OpenAI Chat's `stream_options.include_usage`);
    /// the other dialects always carry usage.
    pub include_usage: bool,
}

impl Request {
    /// Checks what no dialect accepts, so a bad conversation gets a 400 here rather than
    /// wherever its translation would stumble: every tool result answers an earlier call.
    pub fn check(&self) -> Result<(), GatewayError> {
        let mut calls = HashSet::new();
        for (index, message) in self.messages.iter().enumerate() {
            for part in &message.parts {
                match part {
                    Part::ToolCall(call) => {
                        calls.insert(call.id.as_str());
                    }
                    Part::ToolResult(result) if !calls.contains(result.call_id.as_str()) => {
                        return Err(GatewayError::InvalidValue {
                            field: format!("messages[{index}]"),
                            reason: format!("the tool result for `{}` answers no earlier tool call", result.call_id),
                        })
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The name of the tool a call id belongs to (Gemini's results are keyed by name).
    pub fn tool_name_of(&self, call_id: &str) -> Option<&str> {
        self.messages.iter().flat_map(|message| &message.parts).find_map(|part| match part {
            Part::ToolCall(call) if call.id == call_id => Some(call.name.as_str()),
            _ => None,
        })
    }

    /// Every text the model reads (system, messages, tool calls and results, tool
    /// definitions), for counting tokens.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        fn part_texts(part: &Part) -> Vec<&str> {
            match part {
                Part::Text(text) | Part::Reasoning { text, .. } => vec![text],
                Part::ToolCall(call) => vec![&call.name, &call.arguments],
                Part::ToolResult(result) => result.content.iter().flat_map(part_texts).collect(),
                Part::Image(_) => Vec::new(),
            }
        }
        self.system
            .iter()
            .map(String::as_str)
            .chain(self.messages.iter().flat_map(|message| message.parts.iter().flat_map(part_texts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> Part {
        Part::ToolCall(ToolCall { id: id.into(), name: "shell".into(), arguments: "{}".into() })
    }

    fn result(id: &str) -> Part {
        Part::ToolResult(ToolResult { call_id: id.into(), content: vec![Part::Text("ok".into())], is_error: false })
    }

    #[test]
    fn a_tool_result_must_answer_an_earlier_call() {
        let answered = Request {
            messages: vec![
                Message { role: Role::Assistant, parts: vec![call("c1")] },
                Message { role: Role::User, parts: vec![result("c1")] },
            ],
            ..Request::default()
        };
        assert!(answered.check().is_ok());
        assert_eq!(answered.tool_name_of("c1"), Some("shell"));
        let orphan = Request { messages: vec![Message { role: Role::User, parts: vec![result("c9")] }], ..answered };
        let error = orphan.check().unwrap_err();
        assert_eq!(error.code(), Some("invalid_value"));
        assert_eq!(error.param(), Some("messages[0]"));
    }

    #[test]
    fn later_usage_reports_replace_earlier_ones_field_by_field() {
        let mut report = UsageReport { prompt_tokens: Some(10), completion_tokens: Some(1), ..UsageReport::default() };
        report.merge(&UsageReport { completion_tokens: Some(7), ..UsageReport::default() });
        assert_eq!(report.prompt_tokens, Some(10));
        assert_eq!(report.completion_tokens, Some(7));
    }
}
