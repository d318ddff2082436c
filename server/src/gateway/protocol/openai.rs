//! OpenAI Chat Completions: reading requests, answers and stream chunks; writing them.

use super::sse::encode;
use super::{
    optional_f64, optional_u64, refuse_untranslatable, stop_list, text_content, Completion, Conversation, Finish, Role,
    StreamEvent, StreamWriter, Turn, Usage,
};
use crate::gateway::error::GatewayError;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::borrow::Cow;

const UNTRANSLATABLE: &[&str] = &["tools", "tool_choice", "functions", "function_call", "response_format"];

pub fn conversation(body: &Map<String, Value>) -> Result<Conversation, GatewayError> {
    refuse_untranslatable(body, UNTRANSLATABLE)?;
    let mut system: Vec<String> = Vec::new();
    let mut turns = Vec::new();
    let messages = body.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for (index, message) in messages.iter().enumerate() {
        let field = format!("messages[{index}]");
        let role = message.get("role").and_then(Value::as_str);
        let text = text_content(message.get("content").unwrap_or(&Value::Null), &format!("{field}.content"))?;
        match role {
            Some("system" | "developer") => system.push(text),
            Some("user") => turns.push(Turn { role: Role::User, text }),
            Some("assistant") => turns.push(Turn { role: Role::Assistant, text }),
            Some(_) => {
                return Err(GatewayError::Untranslatable {
                    field: format!("{field}.role"),
                    reason: "only system, user and assistant messages can be translated",
                })
            }
            None => return Err(GatewayError::MissingField(format!("{field}.role"))),
        }
    }
    let max_tokens = match optional_u64(body, "max_completion_tokens")? {
        Some(max) => Some(max),
        None => optional_u64(body, "max_tokens")?,
    };
    Ok(Conversation {
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        turns,
        max_tokens,
        stop: stop_list(body.get("stop"), "stop")?,
        temperature: optional_f64(body, "temperature")?,
        top_p: optional_f64(body, "top_p")?,
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// A request to an OpenAI-compatible upstream built from another dialect's conversation.
pub fn request_body(conversation: &Conversation, model: &str) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = &conversation.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for turn in &conversation.turns {
        let role = match turn.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        messages.push(json!({"role": role, "content": turn.text}));
    }
    let mut body = json!({"model": model, "messages": messages, "stream": conversation.stream});
    let fields = body.as_object_mut().expect("an object");
    if let Some(max) = conversation.max_tokens {
        fields.insert("max_tokens".into(), max.into());
    }
    if !conversation.stop.is_empty() {
        fields.insert("stop".into(), json!(conversation.stop));
    }
    if let Some(temperature) = conversation.temperature {
        fields.insert("temperature".into(), temperature.into());
    }
    if let Some(top_p) = conversation.top_p {
        fields.insert("top_p".into(), top_p.into());
    }
    if conversation.stream {
        fields.insert("stream_options".into(), json!({"include_usage": true}));
    }
    body
}

/// The client's `stream_options` plus asking a streaming upstream to report usage in its
/// last chunk.
pub fn stream_options_with_usage(body: &Map<String, Value>) -> Value {
    let mut options = body.get("stream_options").and_then(Value::as_object).cloned().unwrap_or_default();
    options.insert("include_usage".into(), Value::Bool(true));
    Value::Object(options)
}

fn finish_of(reason: Option<&str>) -> Finish {
    match reason {
        Some("length") => Finish::Length,
        _ => Finish::Stop,
    }
}

pub fn usage_of(value: &Value) -> Option<Usage> {
    let usage = value.get("usage")?;
    Some(Usage {
        prompt_tokens: usage.get("prompt_tokens")?.as_u64()?,
        completion_tokens: usage.get("completion_tokens")?.as_u64()?,
    })
}

pub fn completion(value: &Value) -> Completion {
    let choice = value.pointer("/choices/0");
    Completion {
        id: value.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
        model: value.get("model").and_then(Value::as_str).unwrap_or_default().to_owned(),
        text: choice.and_then(|c| c.pointer("/message/content")).and_then(Value::as_str).unwrap_or_default().to_owned(),
        finish: finish_of(choice.and_then(|c| c.get("finish_reason")).and_then(Value::as_str)),
        usage: usage_of(value),
    }
}

pub fn render_completion(completion: &Completion) -> Value {
    let usage = completion.usage.unwrap_or_default();
    json!({
        "id": completion.id,
        "object": "chat.completion",
        "created": now_seconds(),
        "model": completion.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": completion.text},
            "finish_reason": finish_name(completion.finish),
        }],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        },
    })
}

fn finish_name(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "stop",
        Finish::Length => "length",
    }
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// What one upstream chunk (`data:` payload) means.
pub fn stream_events(data: &str) -> Vec<StreamEvent> {
    let Ok(chunk) = serde_json::from_str::<Chunk>(data) else {
        return Vec::new();
    };
    let mut events = Vec::new();
    if let Some(choice) = chunk.choices.as_deref().and_then(<[Choice]>::first) {
        if let Some(text) = choice.delta.as_ref().and_then(|delta| delta.content.as_deref()).filter(|t| !t.is_empty()) {
            events.push(StreamEvent::Text(text.to_owned()));
        }
        if let Some(reason) = choice.finish_reason.as_deref() {
            events.push(StreamEvent::Finish(finish_of(Some(reason))));
        }
    }
    if let Some(Counts { prompt_tokens: Some(prompt), completion_tokens: Some(completion) }) = chunk.usage {
        events.push(StreamEvent::Usage { prompt_tokens: Some(prompt), completion_tokens: Some(completion) });
    }
    events
}

/// What a `chat.completion.chunk` says that the gateway follows: read as typed fields,
/// borrowing from the event where it can, so serde skips the rest instead of building a
/// JSON tree for every chunk of every stream.
#[derive(serde::Deserialize)]
struct Chunk<'a> {
    #[serde(borrow)]
    choices: Option<Vec<Choice<'a>>>,
    usage: Option<Counts>,
}

#[derive(serde::Deserialize)]
struct Choice<'a> {
    #[serde(borrow)]
    delta: Option<Delta<'a>>,
    #[serde(borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct Delta<'a> {
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct Counts {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

/// Writes `chat.completion.chunk` events, usage in the last one, then `[DONE]`.
pub struct ChunkWriter {
    id: String,
    model: String,
    created: u64,
    started: bool,
}

impl ChunkWriter {
    pub fn new(id: &str, model: &str) -> Self {
        ChunkWriter { id: id.to_owned(), model: model.to_owned(), created: now_seconds(), started: false }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, usage: Option<Value>) -> Bytes {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        encode(None, &chunk.to_string())
    }
}

impl StreamWriter for ChunkWriter {
    fn text(&mut self, text: &str) -> Bytes {
        let delta = if self.started { json!({"content": text}) } else { json!({"role": "assistant", "content": text}) };
        self.started = true;
        self.chunk(delta, None, None)
    }

    fn finish(&mut self, finish: Finish, usage: Usage) -> Bytes {
        let usage = json!({
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        });
        let mut bytes = self.chunk(json!({}), Some(finish_name(finish)), Some(usage)).to_vec();
        bytes.extend_from_slice(&encode(None, "[DONE]"));
        Bytes::from(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_chunks_give_text_finish_and_usage() {
        let text = r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi \"there\""},"finish_reason":null}]}"#;
        assert_eq!(stream_events(text), vec![StreamEvent::Text("Hi \"there\"".into())]);
        let last = r#"{"choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":null}"#;
        assert_eq!(stream_events(last), vec![StreamEvent::Finish(Finish::Length)]);
        let usage = r#"{"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18,"prompt_tokens_details":{"cached_tokens":0}}}"#;
        let reported = StreamEvent::Usage { prompt_tokens: Some(11), completion_tokens: Some(7) };
        assert_eq!(stream_events(usage), vec![reported]);
    }

    #[test]
    fn stream_chunks_without_text_give_nothing() {
        let tool_call = r#"{"choices":[{"index":0,"delta":{"content":null,"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]},"finish_reason":null}]}"#;
        assert!(stream_events(tool_call).is_empty());
        assert!(stream_events(r#"{"choices":null}"#).is_empty());
        assert!(stream_events("[DONE]").is_empty());
    }
}
