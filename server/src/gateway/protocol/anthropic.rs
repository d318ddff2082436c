//! Anthropic Messages: reading requests, answers and stream events; writing them.

use super::sse::encode;
use super::{
    optional_f64, optional_u64, refuse_untranslatable, stop_list, text_content, Completion, Conversation, Finish, Role,
    StreamEvent, StreamWriter, Turn, Usage,
};
use crate::gateway::error::GatewayError;
use bytes::Bytes;
use serde_json::{json, Map, Value};

pub const VERSION: &str = "2023-06-01";
const UNTRANSLATABLE: &[&str] = &["tools", "tool_choice"];

pub fn conversation(body: &Map<String, Value>) -> Result<Conversation, GatewayError> {
    refuse_untranslatable(body, UNTRANSLATABLE)?;
    let system = match body.get("system") {
        None | Some(Value::Null) => None,
        Some(value) => Some(text_content(value, "system")?),
    };
    let messages = body.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let turns = messages
        .iter()
        .enumerate()
        .map(|(index, message)| {
            let field = format!("messages[{index}]");
            let role = match message.get("role").and_then(Value::as_str) {
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                Some(_) => {
                    return Err(GatewayError::InvalidType {
                        field: format!("{field}.role"),
                        expected: "user or assistant",
                    })
                }
                None => return Err(GatewayError::MissingField(format!("{field}.role"))),
            };
            let text = text_content(message.get("content").unwrap_or(&Value::Null), &format!("{field}.content"))?;
            Ok(Turn { role, text })
        })
        .collect::<Result<_, _>>()?;
    Ok(Conversation {
        system,
        turns,
        max_tokens: optional_u64(body, "max_tokens")?,
        stop: stop_list(body.get("stop_sequences"), "stop_sequences")?,
        temperature: optional_f64(body, "temperature")?,
        top_p: optional_f64(body, "top_p")?,
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// A request to an Anthropic upstream built from another dialect's conversation.
/// Anthropic requires `max_tokens`; the model's default cap fills in.
pub fn request_body(conversation: &Conversation, model: &str, default_max_tokens: u64) -> Value {
    let messages: Vec<Value> = conversation
        .turns
        .iter()
        .map(|turn| {
            let role = match turn.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({"role": role, "content": turn.text})
        })
        .collect();
    let mut body = json!({
        "model": model,
        "messages": messages,
        "max_tokens": conversation.max_tokens.unwrap_or(default_max_tokens),
        "stream": conversation.stream,
    });
    let fields = body.as_object_mut().expect("an object");
    if let Some(system) = &conversation.system {
        fields.insert("system".into(), system.clone().into());
    }
    if !conversation.stop.is_empty() {
        fields.insert("stop_sequences".into(), json!(conversation.stop));
    }
    if let Some(temperature) = conversation.temperature {
        fields.insert("temperature".into(), temperature.into());
    }
    if let Some(top_p) = conversation.top_p {
        fields.insert("top_p".into(), top_p.into());
    }
    body
}

fn finish_of(reason: Option<&str>) -> Finish {
    match reason {
        Some("max_tokens") => Finish::Length,
        _ => Finish::Stop,
    }
}

fn finish_name(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
    }
}

pub fn usage_of(value: &Value) -> Option<Usage> {
    let usage = value.get("usage")?;
    Some(Usage {
        prompt_tokens: usage.get("input_tokens")?.as_u64()?,
        completion_tokens: usage.get("output_tokens")?.as_u64()?,
    })
}

pub fn completion(value: &Value) -> Completion {
    let text = value
        .get("content")
        .and_then(Value::as_array)
        .map(|blocks| blocks.iter().filter_map(|block| block.get("text").and_then(Value::as_str)).collect::<String>())
        .unwrap_or_default();
    Completion {
        id: value.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
        model: value.get("model").and_then(Value::as_str).unwrap_or_default().to_owned(),
        text,
        finish: finish_of(value.get("stop_reason").and_then(Value::as_str)),
        usage: usage_of(value),
    }
}

pub fn render_completion(completion: &Completion) -> Value {
    let usage = completion.usage.unwrap_or_default();
    json!({
        "id": completion.id,
        "type": "message",
        "role": "assistant",
        "model": completion.model,
        "content": [{"type": "text", "text": completion.text}],
        "stop_reason": finish_name(completion.finish),
        "stop_sequence": null,
        "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens},
    })
}

/// What one upstream event means (`event:` name and `data:` payload).
pub fn stream_events(data: &str) -> Vec<StreamEvent> {
    let Ok(event) = serde_json::from_str::<Value>(data) else {
        return Vec::new();
    };
    let tokens = |usage: Option<&Value>, field: &str| usage.and_then(|u| u.get(field)).and_then(Value::as_u64);
    match event.get("type").and_then(Value::as_str) {
        Some("message_start") => {
            let usage = event.pointer("/message/usage");
            vec![StreamEvent::Usage {
                prompt_tokens: tokens(usage, "input_tokens"),
                completion_tokens: tokens(usage, "output_tokens").filter(|n| *n > 0),
            }]
        }
        Some("content_block_delta") => event
            .pointer("/delta/text")
            .and_then(Value::as_str)
            .map(|text| vec![StreamEvent::Text(text.to_owned())])
            .unwrap_or_default(),
        Some("message_delta") => {
            let mut events = Vec::new();
            if let Some(reason) = event.pointer("/delta/stop_reason").and_then(Value::as_str) {
                events.push(StreamEvent::Finish(finish_of(Some(reason))));
            }
            let usage = event.get("usage");
            if let Some(completion_tokens) = tokens(usage, "output_tokens") {
                events.push(StreamEvent::Usage {
                    prompt_tokens: tokens(usage, "input_tokens"),
                    completion_tokens: Some(completion_tokens),
                });
            }
            events
        }
        _ => Vec::new(),
    }
}

/// Writes Anthropic's event sequence: message_start, one text block, message_delta, message_stop.
pub struct EventWriter {
    id: String,
    model: String,
    started: bool,
}

impl EventWriter {
    pub fn new(id: &str, model: &str) -> Self {
        EventWriter { id: id.to_owned(), model: model.to_owned(), started: false }
    }

    fn start(&mut self) -> Vec<u8> {
        if self.started {
            return Vec::new();
        }
        self.started = true;
        let message = json!({"type": "message_start", "message": {
            "id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}}});
        let block = json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}});
        [encode(Some("message_start"), &message.to_string()), encode(Some("content_block_start"), &block.to_string())]
            .concat()
    }
}

impl StreamWriter for EventWriter {
    fn text(&mut self, text: &str) -> Bytes {
        let mut bytes = self.start();
        let delta = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}});
        bytes.extend_from_slice(&encode(Some("content_block_delta"), &delta.to_string()));
        Bytes::from(bytes)
    }

    fn finish(&mut self, finish: Finish, usage: Usage) -> Bytes {
        let mut bytes = self.start();
        let stop = json!({"type": "content_block_stop", "index": 0});
        let delta = json!({"type": "message_delta", "delta": {"stop_reason": finish_name(finish), "stop_sequence": null},
            "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}});
        for event in [
            encode(Some("content_block_stop"), &stop.to_string()),
            encode(Some("message_delta"), &delta.to_string()),
            encode(Some("message_stop"), &json!({"type": "message_stop"}).to_string()),
        ] {
            bytes.extend_from_slice(&event);
        }
        Bytes::from(bytes)
    }
}
