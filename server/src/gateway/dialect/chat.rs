//! OpenAI Chat Completions (`/v1/chat/completions`, channel protocol `openai`) against the hub.
//!
//! Chat keeps tool results in their own `tool` messages and system prompts among the
//! messages; the hub keeps results in user turns and the system prompt apart, so decoding
//! joins consecutive `tool` messages into one user turn and encoding splits them out again.
//! A few helpers here (required fields, images, tool choice, effort) serve the Responses
//! codec too, since both are OpenAI's spelling of the same things.

use super::conversation::{
    Finish, Image, Message, Part, Reasoning, Request, Response, Role, StreamEvent, StreamStart, Tool, ToolCall,
    ToolChoice, ToolResult, Usage, UsageReport,
};
use super::{
    field, invalid_type, now_seconds, object, optional_array, optional_bool, optional_f64, optional_str, optional_u64,
    parse_data_url, sse, stop_list, untranslatable, Outgoing, StreamReader, StreamWriter,
};
use crate::gateway::error::GatewayError;
use bytes::BytesMut;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

pub fn decode_request(body: &Map<String, Value>) -> Result<Request, GatewayError> {
    refuse_untranslatable(body)?;
    let mut request = Request {
        tools: optional_array(body, "tools", "tools")?
            .iter()
            .enumerate()
            .map(|(index, tool)| decode_tool(tool, &format!("tools[{index}]")))
            .collect::<Result<_, _>>()?,
        tool_choice: decode_tool_choice(body)?,
        parallel_tool_calls: optional_bool(body, "parallel_tool_calls", "parallel_tool_calls")?,
        // Clients send either or both (older SDKs `max_tokens`); the larger is the cap they mean.
        max_tokens: optional_u64(body, "max_tokens", "max_tokens")?.max(optional_u64(
            body,
            "max_completion_tokens",
            "max_completion_tokens",
        )?),
        stop: stop_list(body, "stop")?,
        temperature: optional_f64(body, "temperature", "temperature")?,
        top_p: optional_f64(body, "top_p", "top_p")?,
        reasoning: optional_str(body, "reasoning_effort", "reasoning_effort")?
            .map(|effort| Reasoning { effort: Some(effort.to_owned()), budget_tokens: None }),
        stream: optional_bool(body, "stream", "stream")?.unwrap_or(false),
        ..Request::default()
    };
    if field(body, "messages").is_none() {
        return Err(GatewayError::MissingField("messages".into()));
    }
    let messages = optional_array(body, "messages", "messages")?;
    for (index, message) in messages.iter().enumerate() {
        decode_message(message, &format!("messages[{index}]"), &mut request)?;
    }
    request.check()?;
    Ok(request)
}

/// Fields that ask for something no other dialect can answer.
fn refuse_untranslatable(body: &Map<String, Value>) -> Result<(), GatewayError> {
    if optional_u64(body, "n", "n")?.is_some_and(|n| n > 1) {
        return Err(untranslatable("n", "only one choice per request can be translated"));
    }
    if let Some(format) = field(body, "response_format") {
        if object(format, "response_format")?.get("type").and_then(Value::as_str) != Some("text") {
            return Err(untranslatable("response_format", "structured output formats are not translated"));
        }
    }
    if optional_bool(body, "logprobs", "logprobs")? == Some(true) {
        return Err(untranslatable("logprobs", "log probabilities are not translated"));
    }
    if field(body, "top_logprobs").and_then(Value::as_u64).is_some_and(|n| n > 0) {
        return Err(untranslatable("top_logprobs", "log probabilities are not translated"));
    }
    for legacy in ["functions", "function_call"] {
        if field(body, legacy).is_some() {
            return Err(untranslatable(legacy, "the legacy functions API is not translated; use `tools`"));
        }
    }
    Ok(())
}

fn decode_message(value: &Value, path: &str, request: &mut Request) -> Result<(), GatewayError> {
    let message = object(value, path)?;
    let role_path = format!("{path}.role");
    let content_path = format!("{path}.content");
    let content = field(message, "content");
    match required_str(message, "role", &role_path)? {
        "system" | "developer" => request.system.extend(texts(content_parts(content, &content_path, false)?)),
        "user" => {
            let parts = content_parts(content, &content_path, true)?;
            request.messages.push(Message { role: Role::User, parts });
        }
        "assistant" => {
            let parts = assistant_parts(message, path)?;
            request.messages.push(Message { role: Role::Assistant, parts });
        }
        "tool" => {
            let result = ToolResult {
                call_id: required_str(message, "tool_call_id", &format!("{path}.tool_call_id"))?.to_owned(),
                content: content_parts(content, &content_path, true)?,
                is_error: false,
            };
            push_tool_result(&mut request.messages, result);
        }
        "function" => {
            return Err(untranslatable(role_path, "legacy function messages are not translated; use tool messages"))
        }
        role => return Err(GatewayError::InvalidValue { field: role_path, reason: format!("unknown role `{role}`") }),
    }
    Ok(())
}

/// Consecutive `tool` messages answer one assistant turn: they become one user turn. A
/// user turn ending in a tool result can only have come from a `tool` message.
fn push_tool_result(messages: &mut Vec<Message>, result: ToolResult) {
    match messages.last_mut() {
        Some(last) if last.role == Role::User && matches!(last.parts.last(), Some(Part::ToolResult(_))) => {
            last.parts.push(Part::ToolResult(result))
        }
        _ => messages.push(Message { role: Role::User, parts: vec![Part::ToolResult(result)] }),
    }
}

/// Reasoning first (the model thought before it wrote), then text, then tool calls.
fn assistant_parts(message: &Map<String, Value>, path: &str) -> Result<Vec<Part>, GatewayError> {
    if field(message, "function_call").is_some() {
        return Err(untranslatable(format!("{path}.function_call"), "legacy function calls are not translated"));
    }
    let mut parts = Vec::new();
    if let Some(text) = optional_str(message, "reasoning_content", &format!("{path}.reasoning_content"))? {
        if !text.is_empty() {
            parts.push(Part::Reasoning { text: text.to_owned(), signature: None });
        }
    }
    parts.extend(content_parts(field(message, "content"), &format!("{path}.content"), false)?);
    let calls_path = format!("{path}.tool_calls");
    for (index, call) in optional_array(message, "tool_calls", &calls_path)?.iter().enumerate() {
        parts.push(Part::ToolCall(decode_tool_call(call, &format!("{calls_path}[{index}]"))?));
    }
    Ok(parts)
}

fn decode_tool_call(value: &Value, path: &str) -> Result<ToolCall, GatewayError> {
    let call = object(value, path)?;
    let kind_path = format!("{path}.type");
    if optional_str(call, "type", &kind_path)?.is_some_and(|kind| kind != "function") {
        return Err(untranslatable(kind_path, "only function tool calls are translated"));
    }
    let function_path = format!("{path}.function");
    let function = object(required(call, "function", &function_path)?, &function_path)?;
    Ok(ToolCall {
        id: required_str(call, "id", &format!("{path}.id"))?.to_owned(),
        name: required_str(function, "name", &format!("{function_path}.name"))?.to_owned(),
        arguments: optional_str(function, "arguments", &format!("{function_path}.arguments"))?
            .unwrap_or("{}")
            .to_owned(),
    })
}

/// Content as a string or a list of parts. Empty text is no part (an assistant's `""`
/// beside its tool calls would otherwise become an empty block other dialects refuse).
fn content_parts(content: Option<&Value>, path: &str, images: bool) -> Result<Vec<Part>, GatewayError> {
    match content {
        None => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(text_part(text).into_iter().collect()),
        Some(Value::Array(parts)) => {
            let parts =
                parts.iter().enumerate().map(|(index, part)| content_part(part, &format!("{path}[{index}]"), images));
            parts.filter_map(Result::transpose).collect()
        }
        Some(_) => Err(invalid_type(path, "a string or a list of content parts")),
    }
}

fn content_part(value: &Value, path: &str, images: bool) -> Result<Option<Part>, GatewayError> {
    let part = object(value, path)?;
    let kind_path = format!("{path}.type");
    match required_str(part, "type", &kind_path)? {
        "text" => Ok(text_part(required_str(part, "text", &format!("{path}.text"))?)),
        "refusal" => Ok(text_part(required_str(part, "refusal", &format!("{path}.refusal"))?)),
        "image_url" if images => {
            let image_path = format!("{path}.image_url");
            let image = object(required(part, "image_url", &image_path)?, &image_path)?;
            Ok(Some(Part::Image(image_of(required_str(image, "url", &format!("{image_path}.url"))?))))
        }
        "image_url" => {
            Err(GatewayError::InvalidValue { field: kind_path, reason: "this message takes text only".into() })
        }
        "input_audio" | "file" => Err(untranslatable(kind_path, "audio and file inputs are not translated")),
        kind => {
            Err(GatewayError::InvalidValue { field: kind_path, reason: format!("unknown content part type `{kind}`") })
        }
    }
}

fn text_part(text: &str) -> Option<Part> {
    (!text.is_empty()).then(|| Part::Text(text.to_owned()))
}

/// The texts of parts known to hold text only.
fn texts(parts: Vec<Part>) -> impl Iterator<Item = String> {
    parts.into_iter().filter_map(|part| if let Part::Text(text) = part { Some(text) } else { None })
}

fn decode_tool(value: &Value, path: &str) -> Result<Tool, GatewayError> {
    let tool = object(value, path)?;
    let kind_path = format!("{path}.type");
    if required_str(tool, "type", &kind_path)? != "function" {
        return Err(untranslatable(kind_path, "only function tools are translated"));
    }
    let function_path = format!("{path}.function");
    let function = object(required(tool, "function", &function_path)?, &function_path)?;
    Ok(Tool {
        name: required_str(function, "name", &format!("{function_path}.name"))?.to_owned(),
        description: optional_str(function, "description", &format!("{function_path}.description"))?.map(str::to_owned),
        parameters: field(function, "parameters").cloned().unwrap_or_else(empty_schema),
    })
}

fn decode_tool_choice(body: &Map<String, Value>) -> Result<Option<ToolChoice>, GatewayError> {
    match field(body, "tool_choice") {
        None => Ok(None),
        Some(Value::String(mode)) => tool_choice_mode(mode, "tool_choice").map(Some),
        Some(Value::Object(choice)) if choice.get("type").and_then(Value::as_str) == Some("function") => {
            let function = object(required(choice, "function", "tool_choice.function")?, "tool_choice.function")?;
            let name = required_str(function, "name", "tool_choice.function.name")?;
            Ok(Some(ToolChoice::Named(name.to_owned())))
        }
        Some(Value::Object(_)) => Err(untranslatable("tool_choice", "only function tool choices are translated")),
        Some(_) => Err(invalid_type("tool_choice", "a string or an object")),
    }
}

pub fn encode_request(request: &Request, out: &Outgoing) -> Result<Value, GatewayError> {
    let mut body = Map::new();
    body.insert("model".into(), out.model.into());
    body.insert("messages".into(), Value::Array(encode_messages(request)?));
    body.insert("stream".into(), request.stream.into());
    if request.stream {
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    // OpenAI refuses `tool_choice` and `parallel_tool_calls` without tools.
    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(|tool| {
            let function = json!({"name": tool.name, "description": tool.description, "parameters": tool.parameters});
            json!({"type": "function", "function": without_nulls(function)})
        });
        body.insert("tools".into(), tools.collect());
        put(&mut body, "tool_choice", request.tool_choice.as_ref().map(encode_tool_choice));
        put(&mut body, "parallel_tool_calls", request.parallel_tool_calls);
    }
    // `max_tokens` is refused by OpenAI's reasoning models; `max_completion_tokens` works for all.
    put(&mut body, "max_completion_tokens", request.max_tokens);
    if !request.stop.is_empty() {
        body.insert("stop".into(), json!(request.stop));
    }
    put(&mut body, "temperature", request.temperature);
    put(&mut body, "top_p", request.top_p);
    put(&mut body, "reasoning_effort", request.reasoning.as_ref().and_then(effort_of));
    Ok(Value::Object(body))
}

fn encode_messages(request: &Request) -> Result<Vec<Value>, GatewayError> {
    let mut messages = Vec::new();
    // One system message: several confuse the chat templates of some OpenAI-compatible servers.
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system.join("\n\n")}));
    }
    for (index, message) in request.messages.iter().enumerate() {
        match message.role {
            Role::User => encode_user(message, &mut messages),
            Role::Assistant => messages.push(encode_assistant(message, index)?),
        }
    }
    Ok(messages)
}

/// Tool results first, as `tool` messages (they must follow the assistant's calls); then
/// the turn's own text and images plus any images the results carried (a `tool` message
/// holds text only), as one user message.
fn encode_user(message: &Message, messages: &mut Vec<Value>) {
    let mut content = Vec::new();
    for part in &message.parts {
        match part {
            Part::Text(text) => content.push(json!({"type": "text", "text": text})),
            Part::Image(image) => content.push(image_url_part(image)),
            Part::ToolResult(result) => {
                let text = joined_texts(&result.content, "\n");
                messages.push(json!({"role": "tool", "tool_call_id": result.call_id, "content": text}));
                let images = result.content.iter().filter_map(|part| match part {
                    Part::Image(image) => Some(image_url_part(image)),
                    _ => None,
                });
                content.extend(images);
            }
            // The hub keeps calls and reasoning in assistant turns.
            Part::ToolCall(_) | Part::Reasoning { .. } => {}
        }
    }
    match content.as_slice() {
        [] => {}
        [only] if only["type"] == "text" => messages.push(json!({"role": "user", "content": only["text"]})),
        _ => messages.push(json!({"role": "user", "content": content})),
    }
}

/// Reasoning is not sent: Chat has no input field for it.
fn encode_assistant(message: &Message, index: usize) -> Result<Value, GatewayError> {
    if message.parts.iter().any(|part| matches!(part, Part::Image(_))) {
        return Err(untranslatable(format!("messages[{index}].content"), "assistant messages carry no images"));
    }
    Ok(assistant_message(joined_texts(&message.parts, "\n\n"), &message.parts))
}

/// An assistant message with its text and the tool calls among `parts`; the content is
/// `null` when there are only calls, as OpenAI writes it.
fn assistant_message(text: String, parts: &[Part]) -> Value {
    let calls: Vec<Value> = parts
        .iter()
        .filter_map(|part| match part {
            Part::ToolCall(call) => Some(json!({
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            })),
            _ => None,
        })
        .collect();
    if calls.is_empty() {
        return json!({"role": "assistant", "content": text});
    }
    let content = if text.is_empty() { Value::Null } else { text.into() };
    json!({"role": "assistant", "content": content, "tool_calls": calls})
}

fn encode_tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => "auto".into(),
        ToolChoice::None => "none".into(),
        ToolChoice::Required => "required".into(),
        ToolChoice::Named(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

fn image_url_part(image: &Image) -> Value {
    json!({"type": "image_url", "image_url": {"url": image_url(image)}})
}

fn joined_texts(parts: &[Part], separator: &str) -> String {
    let texts: Vec<&str> =
        parts.iter().filter_map(|part| if let Part::Text(text) = part { Some(text.as_str()) } else { None }).collect();
    texts.join(separator)
}

pub fn decode_response(body: &[u8]) -> Result<Response, serde_json::Error> {
    let completion: WireCompletion = serde_json::from_slice(body)?;
    let choice = completion.choices.unwrap_or_default().into_iter().next();
    let (message, finish_reason) = choice.map(|choice| (choice.message, choice.finish_reason)).unwrap_or_default();
    let message = message.unwrap_or_default();
    let mut parts = Vec::new();
    if let Some(text) = message.reasoning_content.or(message.reasoning).filter(|text| !text.is_empty()) {
        parts.push(Part::Reasoning { text, signature: None });
    }
    if let Some(text) = message.content.or(message.refusal).filter(|text| !text.is_empty()) {
        parts.push(Part::Text(text));
    }
    for call in message.tool_calls.unwrap_or_default() {
        let function = call.function.unwrap_or_default();
        parts.push(Part::ToolCall(ToolCall {
            id: call.id.unwrap_or_default(),
            name: function.name.unwrap_or_default(),
            arguments: function.arguments.unwrap_or_default(),
        }));
    }
    let has_calls = parts.iter().any(|part| matches!(part, Part::ToolCall(_)));
    let finish = match finish_reason.as_deref() {
        Some(reason) => finish_of(reason),
        None if has_calls => Finish::ToolCalls,
        None => Finish::Stop,
    };
    Ok(Response {
        id: completion.id.unwrap_or_default(),
        model: completion.model.unwrap_or_default(),
        parts,
        finish,
        usage: completion.usage.map(WireUsage::hub),
    })
}

pub fn usage_in(body: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
    #[derive(Deserialize)]
    struct UsageOnly {
        usage: Option<WireUsage>,
    }
    Ok(serde_json::from_slice::<UsageOnly>(body)?.usage.map(WireUsage::hub))
}

pub fn encode_response(response: &Response) -> Value {
    let mut message = assistant_message(response.text(), &response.parts);
    let reasoning: String = response
        .parts
        .iter()
        .filter_map(|part| if let Part::Reasoning { text, .. } = part { Some(text.as_str()) } else { None })
        .collect();
    if !reasoning.is_empty() {
        message["reasoning_content"] = reasoning.into();
    }
    let mut body = json!({
        "id": response.id,
        "object": "chat.completion",
        "created": now_seconds(),
        "model": response.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_name(response.finish), "logprobs": null}],
    });
    if let Some(usage) = &response.usage {
        body["usage"] = usage_json(usage);
    }
    body
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.input_total(),
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.input_total() + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    })
}

fn finish_of(reason: &str) -> Finish {
    match reason {
        "length" => Finish::Length,
        "tool_calls" | "function_call" => Finish::ToolCalls,
        "content_filter" => Finish::ContentFilter,
        _ => Finish::Stop,
    }
}

fn finish_name(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::ToolCalls => "tool_calls",
        Finish::ContentFilter => "content_filter",
    }
}

/// The parts of a `chat.completion` the hub reads. Fields are optional and null-tolerant:
/// OpenAI-compatible servers differ in what they leave out or send as `null`.
#[derive(Deserialize)]
struct WireCompletion {
    id: Option<String>,
    model: Option<String>,
    choices: Option<Vec<WireChoice>>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: Option<WireMessage>,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireMessage {
    content: Option<String>,
    refusal: Option<String>,
    reasoning_content: Option<String>,
    /// Some servers (OpenRouter, vLLM) name it `reasoning`.
    #[serde(default, deserialize_with = "lenient_string")]
    reasoning: Option<String>,
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    /// Only in stream chunks: which call a fragment belongs to.
    index: Option<u32>,
    id: Option<String>,
    function: Option<WireFunction>,
}

#[derive(Deserialize, Default)]
struct WireFunction {
    name: Option<String>,
    arguments: Option<String>,
}

/// OpenAI's usage, in Chat's names or Responses' (`input_tokens`, `output_tokens`, their
/// `_details`): one reading serves both APIs.
#[derive(Deserialize)]
pub(super) struct WireUsage {
    #[serde(alias = "input_tokens")]
    prompt_tokens: Option<u64>,
    #[serde(alias = "output_tokens")]
    completion_tokens: Option<u64>,
    #[serde(alias = "input_tokens_details")]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(alias = "output_tokens_details")]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// OpenAI's prompt (input) count includes the cached tokens; the hub's does not.
    pub(super) fn hub(self) -> Usage {
        let cached = self.prompt_tokens_details.and_then(|details| details.cached_tokens).unwrap_or(0);
        Usage {
            prompt_tokens: self.prompt_tokens.unwrap_or(0).saturating_sub(cached),
            cache_read_tokens: cached,
            cache_write_tokens: 0,
            completion_tokens: self.completion_tokens.unwrap_or(0),
            reasoning_tokens: self.completion_tokens_details.and_then(|details| details.reasoning_tokens).unwrap_or(0),
        }
    }
}

/// A string some servers fill with other JSON (an object of details): anything but a
/// string counts as absent rather than failing the whole answer.
fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => Some(text),
        _ => None,
    })
}

/// Chat streams are self-contained chunks: tool call fragments carry their index, so the
/// reader needs no memory.
#[derive(Default)]
pub struct Reader;

#[derive(Deserialize)]
struct WireChunk {
    choices: Option<Vec<WireChunkChoice>>,
    usage: Option<WireUsage>,
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    delta: Option<WireMessage>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireError {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl StreamReader for Reader {
    fn read(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) {
        if event.data.is_empty() || event.data == "[DONE]" {
            return;
        }
        let Ok(chunk) = serde_json::from_str::<WireChunk>(&event.data) else {
            return;
        };
        if let Some(error) = chunk.error {
            out.push(StreamEvent::Error {
                kind: error.kind.unwrap_or_else(|| "api_error".into()),
                message: error.message.unwrap_or_default(),
            });
        }
        if let Some(choice) = chunk.choices.unwrap_or_default().into_iter().next() {
            if let Some(delta) = choice.delta {
                read_delta(delta, out);
            }
            if let Some(reason) = choice.finish_reason {
                out.push(StreamEvent::Finish(finish_of(&reason)));
            }
        }
        if let Some(usage) = chunk.usage {
            out.push(StreamEvent::Usage(UsageReport::whole(usage.hub())));
        }
    }
}

fn read_delta(delta: WireMessage, out: &mut Vec<StreamEvent>) {
    if let Some(text) = delta.reasoning_content.or(delta.reasoning).filter(|text| !text.is_empty()) {
        out.push(StreamEvent::Reasoning(text));
    }
    // A refusal is the answer's text, streamed in its own field.
    for text in [delta.content, delta.refusal].into_iter().flatten().filter(|text| !text.is_empty()) {
        out.push(StreamEvent::Text(text));
    }
    for (position, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
        let function = call.function.unwrap_or_default();
        let arguments = function.arguments.unwrap_or_default();
        if call.id.is_none() && function.name.is_none() && arguments.is_empty() {
            continue;
        }
        let index = call.index.unwrap_or(position as u32);
        out.push(StreamEvent::ToolCall { index, id: call.id, name: function.name, arguments });
    }
}

/// Writes `chat.completion.chunk`s. Tool calls are renumbered from 0 in order of first
/// appearance, as Chat clients index them.
pub struct Writer {
    start: StreamStart,
    created: u64,
    /// The hub index of each call written so far, at its Chat index.
    calls: Vec<u32>,
    /// An error ended the stream: nothing more is written.
    failed: bool,
    /// The first chunk, which names the role, is out.
    announced: bool,
}

impl Writer {
    pub fn new(start: StreamStart) -> Writer {
        Writer { start, created: now_seconds(), calls: Vec::new(), failed: false, announced: false }
    }

    fn chunk(&self, choices: Value) -> Value {
        json!({
            "id": self.start.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.start.model,
            "choices": choices,
        })
    }

    /// A chunk of one choice; the first says whose turn it is, as OpenAI's first does.
    fn choice_chunk(&mut self, mut delta: Value, finish: Option<Finish>) -> Value {
        if !self.announced {
            delta["role"] = "assistant".into();
            self.announced = true;
        }
        self.chunk(json!([{"index": 0, "delta": delta, "finish_reason": finish.map(finish_name)}]))
    }

    fn delta(&mut self, delta: Value, finish: Option<Finish>, out: &mut BytesMut) {
        let chunk = self.choice_chunk(delta, finish);
        send(out, &chunk);
    }

    fn tool_call(&mut self, index: u32, id: Option<&str>, name: Option<&str>, arguments: &str) -> Value {
        if let Some(position) = self.calls.iter().position(|call| *call == index) {
            return json!({"index": position, "function": {"arguments": arguments}});
        }
        self.calls.push(index);
        json!({
            "index": self.calls.len() - 1,
            "id": id.unwrap_or_default(),
            "type": "function",
            "function": {"name": name.unwrap_or_default(), "arguments": arguments},
        })
    }
}

fn send(out: &mut BytesMut, data: &Value) {
    sse::write_json(out, None, data);
}

impl StreamWriter for Writer {
    /// Nothing before the first delta: the echo provider's contract is a chunk per word.
    fn start(&mut self, _out: &mut BytesMut) {}

    fn write(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.failed {
            return;
        }
        match event {
            StreamEvent::Text(text) => self.delta(json!({"content": text}), None, out),
            StreamEvent::Reasoning(text) => self.delta(json!({"reasoning_content": text}), None, out),
            StreamEvent::ToolCall { index, id, name, arguments } => {
                let call = self.tool_call(*index, id.as_deref(), name.as_deref(), arguments);
                self.delta(json!({"tool_calls": [call]}), None, out);
            }
            StreamEvent::Error { kind, message } => {
                send(out, &json!({"error": {"message": message, "type": kind}}));
                self.failed = true;
            }
            StreamEvent::Finish(_) | StreamEvent::Usage(_) => {}
        }
    }

    fn finish(&mut self, finish: Finish, usage: &Usage, out: &mut BytesMut) {
        if self.failed {
            return;
        }
        if self.start.include_usage {
            self.delta(json!({}), Some(finish), out);
            let mut chunk = self.chunk(json!([]));
            chunk["usage"] = usage_json(usage);
            send(out, &chunk);
        } else {
            // Usage on the last chunk, which the SDKs read when present: a client that did
            // not ask still sees what it was charged for.
            let mut chunk = self.choice_chunk(json!({}), Some(finish));
            chunk["usage"] = usage_json(usage);
            send(out, &chunk);
        }
        sse::write_text(out, None, "[DONE]");
    }
}

// Helpers the Responses codec shares.

/// A field that must be present (and not null).
pub(super) fn required<'a>(map: &'a Map<String, Value>, name: &str, path: &str) -> Result<&'a Value, GatewayError> {
    field(map, name).ok_or_else(|| GatewayError::MissingField(path.to_owned()))
}

pub(super) fn required_str<'a>(map: &'a Map<String, Value>, name: &str, path: &str) -> Result<&'a str, GatewayError> {
    optional_str(map, name, path)?.ok_or_else(|| GatewayError::MissingField(path.to_owned()))
}

/// Inserts a field only when it has a value.
pub(super) fn put<T: Into<Value>>(body: &mut Map<String, Value>, name: &str, value: Option<T>) {
    if let Some(value) = value {
        body.insert(name.to_owned(), value.into());
    }
}

pub(super) fn without_nulls(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.retain(|_, field| !field.is_null());
    }
    value
}

/// A tool without a schema takes no arguments; dialects that require a schema get this one.
pub(super) fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

pub(super) fn tool_choice_mode(mode: &str, path: &str) -> Result<ToolChoice, GatewayError> {
    match mode {
        "auto" => Ok(ToolChoice::Auto),
        "none" => Ok(ToolChoice::None),
        "required" => Ok(ToolChoice::Required),
        _ => {
            Err(GatewayError::InvalidValue { field: path.to_owned(), reason: format!("unknown tool choice `{mode}`") })
        }
    }
}

/// `data:` URLs become base64 images (what Anthropic and Gemini take); others stay URLs.
pub(super) fn image_of(url: &str) -> Image {
    match parse_data_url(url) {
        Some((media_type, data)) => Image::Base64 { media_type: media_type.to_owned(), data: data.to_owned() },
        None => Image::Url(url.to_owned()),
    }
}

/// OpenAI takes images as URLs, base64 ones as `data:` URLs.
pub(super) fn image_url(image: &Image) -> Cow<'_, str> {
    match image {
        Image::Url(url) => Cow::Borrowed(url),
        Image::Base64 { media_type, data } => Cow::Owned(format!("data:{media_type};base64,{data}")),
    }
}

/// OpenAI's effort level, from an effort or (Anthropic's, Gemini's) a thinking budget.
pub(super) fn effort_of(reasoning: &Reasoning) -> Option<String> {
    if let Some(effort) = &reasoning.effort {
        return Some(effort.clone());
    }
    let effort = match reasoning.budget_tokens? {
        0..=4096 => "low",
        4097..=16384 => "medium",
        _ => "high",
    };
    Some(effort.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::dialect::test_support::{body, call, fragment, mixed_usage, stream_of, text};

    fn result(id: &str, content: Vec<Part>) -> Part {
        Part::ToolResult(ToolResult { call_id: id.into(), content, is_error: false })
    }

    fn user(parts: Vec<Part>) -> Message {
        Message { role: Role::User, parts }
    }

    fn assistant(parts: Vec<Part>) -> Message {
        Message { role: Role::Assistant, parts }
    }

    /// A tool call as Chat writes it (`index` only in stream chunks).
    fn wire_call(index: Option<u32>, id: &str, name: &str, arguments: &str) -> Value {
        let mut call = json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}});
        if let Some(index) = index {
            call["index"] = index.into();
        }
        call
    }

    fn weather_tool() -> Tool {
        Tool {
            name: "weather".into(),
            description: Some("Weather in a city".into()),
            parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        }
    }

    #[test]
    fn decodes_a_conversation_with_images_tool_calls_and_results() {
        let request = decode_request(&body(json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [
                    {"type": "text", "text": "Use metric units.", "cache_control": {"type": "ephemeral"}},
                ]},
                {"role": "user", "content": [
                    {"type": "text", "text": "Weather here and there?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/map.png"}},
                ]},
                {"role": "assistant", "content": "", "reasoning_content": "Two cities.", "tool_calls": [
                    wire_call(None, "call_1", "weather", r#"{"city":"Oslo"}"#),
                    wire_call(None, "call_2", "weather", r#"{"city":"Rome"}"#),
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "4°C"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21°C"}]},
                {"role": "user", "content": "Thanks"},
            ],
            "tools": [{"type": "function", "function": {
                "name": "weather", "description": "Weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }}],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "parallel_tool_calls": true,
            "max_tokens": 100,
            "max_completion_tokens": 300,
            "stop": "END",
            "temperature": 0.2,
            "top_p": 0.9,
            "reasoning_effort": "high",
            "stream": true,
            "stream_options": {"include_usage": true},
            "user": "u-1",
            "seed": 7,
        })))
        .unwrap();
        let expected = Request {
            system: vec!["Be brief.".into(), "Use metric units.".into()],
            messages: vec![
                user(vec![
                    text("Weather here and there?"),
                    Part::Image(Image::Base64 { media_type: "image/png".into(), data: "iVBOR".into() }),
                    Part::Image(Image::Url("https://example.com/map.png".into())),
                ]),
                assistant(vec![
                    Part::Reasoning { text: "Two cities.".into(), signature: None },
                    call("call_1", "weather", r#"{"city":"Oslo"}"#),
                    call("call_2", "weather", r#"{"city":"Rome"}"#),
                ]),
                user(vec![result("call_1", vec![text("4°C")]), result("call_2", vec![text("21°C")])]),
                user(vec![text("Thanks")]),
            ],
            tools: vec![weather_tool()],
            tool_choice: Some(ToolChoice::Named("weather".into())),
            parallel_tool_calls: Some(true),
            max_tokens: Some(300),
            stop: vec!["END".into()],
            temperature: Some(0.2),
            top_p: Some(0.9),
            reasoning: Some(Reasoning { effort: Some("high".into()), budget_tokens: None }),
            stream: true,
            omitted: Vec::new(),
        };
        assert_eq!(request, expected);
    }

    #[test]
    fn refuses_what_it_cannot_translate_and_names_bad_fields() {
        let message = |content: Value| json!({"messages": [{"role": "user", "content": content}]});
        let cases = [
            (json!({"messages": [], "n": 2}), "untranslatable_feature", "n"),
            (
                json!({"messages": [], "response_format": {"type": "json_object"}}),
                "untranslatable_feature",
                "response_format",
            ),
            (json!({"messages": [], "logprobs": true}), "untranslatable_feature", "logprobs"),
            (
                json!({"messages": [], "tools": [{"type": "custom", "custom": {}}]}),
                "untranslatable_feature",
                "tools[0].type",
            ),
            (message(json!([{"type": "input_audio"}])), "untranslatable_feature", "messages[0].content[0].type"),
            (message(json!([{"type": "video"}])), "invalid_value", "messages[0].content[0].type"),
            (message(json!([{"type": "text", "text": 5}])), "invalid_type", "messages[0].content[0].text"),
            (message(json!(5)), "invalid_type", "messages[0].content"),
            (
                json!({"messages": [{"role": "function", "name": "f", "content": "x"}]}),
                "untranslatable_feature",
                "messages[0].role",
            ),
            (
                json!({"messages": [{"role": "tool", "tool_call_id": "c9", "content": "x"}]}),
                "invalid_value",
                "messages[0]",
            ),
            (json!({"messages": [{"content": "x"}]}), "missing_field", "messages[0].role"),
            (json!({"messages": [], "tool_choice": "sometimes"}), "invalid_value", "tool_choice"),
            (json!({"model": "gpt-4o"}), "missing_field", "messages"),
        ];
        for (request, code, param) in cases {
            let error = decode_request(&body(request.clone())).unwrap_err();
            assert_eq!((error.code(), error.param()), (Some(code), Some(param)), "{request}");
        }
    }

    #[test]
    fn encodes_tool_results_as_tool_messages_and_drops_reasoning() {
        let request = Request {
            system: vec!["Be brief.".into(), "Use metric units.".into()],
            messages: vec![
                user(vec![text("Weather in Oslo?")]),
                assistant(vec![
                    Part::Reasoning { text: "Look it up.".into(), signature: Some("sig".into()) },
                    call("toolu_1", "weather", r#"{"city":"Oslo"}"#),
                ]),
                user(vec![
                    result(
                        "toolu_1",
                        vec![
                            text("4°C"),
                            Part::Image(Image::Base64 { media_type: "image/png".into(), data: "AAA".into() }),
                        ],
                    ),
                    text("And tomorrow?"),
                ]),
                assistant(vec![text("Colder.")]),
            ],
            tools: vec![weather_tool()],
            tool_choice: Some(ToolChoice::Required),
            max_tokens: Some(1024),
            stop: vec!["END".into()],
            temperature: Some(0.5),
            reasoning: Some(Reasoning { effort: None, budget_tokens: Some(8000) }),
            stream: true,
            ..Request::default()
        };
        let out = Outgoing { model: "gpt-4.1", default_max_tokens: 4096 };
        let expected = json!({
            "model": "gpt-4.1",
            "messages": [
                {"role": "system", "content": "Be brief.\n\nUse metric units."},
                {"role": "user", "content": "Weather in Oslo?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    wire_call(None, "toolu_1", "weather", r#"{"city":"Oslo"}"#),
                ]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "4°C"},
                {"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
                    {"type": "text", "text": "And tomorrow?"},
                ]},
                {"role": "assistant", "content": "Colder."},
            ],
            "stream": true,
            "stream_options": {"include_usage": true},
            "tools": [{"type": "function", "function": {
                "name": "weather", "description": "Weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            }}],
            "tool_choice": "required",
            "max_completion_tokens": 1024,
            "stop": ["END"],
            "temperature": 0.5,
            "reasoning_effort": "medium",
        });
        assert_eq!(encode_request(&request, &out).unwrap(), expected);
    }

    #[test]
    fn thinking_budgets_map_to_effort_levels() {
        let effort = |budget| effort_of(&Reasoning { effort: None, budget_tokens: Some(budget) });
        assert_eq!(
            [effort(1024), effort(4096), effort(4097), effort(16384), effort(16385)].map(Option::unwrap),
            ["low", "low", "medium", "medium", "high"]
        );
        assert_eq!(
            effort_of(&Reasoning { effort: Some("minimal".into()), budget_tokens: Some(99_999) }).unwrap(),
            "minimal"
        );
        assert_eq!(effort_of(&Reasoning::default()), None);
    }

    #[test]
    fn decodes_an_answer_with_reasoning_tool_calls_and_cached_usage() {
        let answer = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "deepseek-reasoner",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null, "reasoning_content": "Need weather.",
                "tool_calls": [wire_call(None, "call_1", "weather", "{}")],
            }}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
                "prompt_tokens_details": {"cached_tokens": 100}, "completion_tokens_details": {"reasoning_tokens": 12}},
        });
        let response = decode_response(answer.to_string().as_bytes()).unwrap();
        let usage = Usage {
            prompt_tokens: 20,
            cache_read_tokens: 100,
            completion_tokens: 30,
            reasoning_tokens: 12,
            ..Usage::default()
        };
        let expected = Response {
            id: "chatcmpl-1".into(),
            model: "deepseek-reasoner".into(),
            parts: vec![
                Part::Reasoning { text: "Need weather.".into(), signature: None },
                call("call_1", "weather", "{}"),
            ],
            finish: Finish::ToolCalls,
            usage: Some(usage),
        };
        assert_eq!(response, expected);
        assert_eq!(usage_in(answer.to_string().as_bytes()).unwrap(), Some(usage));
        assert_eq!(usage_in(br#"{"id":"x","choices":[]}"#).unwrap(), None);
    }

    #[test]
    fn decodes_every_finish_reason() {
        for (reason, finish) in [
            ("stop", Finish::Stop),
            ("length", Finish::Length),
            ("tool_calls", Finish::ToolCalls),
            ("function_call", Finish::ToolCalls),
            ("content_filter", Finish::ContentFilter),
        ] {
            let answer =
                json!({"choices": [{"message": {"content": "Hi", "tool_calls": null}, "finish_reason": reason}]});
            let response = decode_response(answer.to_string().as_bytes()).unwrap();
            assert_eq!((response.finish, response.text()), (finish, "Hi".to_owned()));
        }
    }

    #[test]
    fn encodes_an_answer_in_openai_terms() {
        let response = Response {
            id: "chatcmpl-abc".into(),
            model: "claude-sonnet-4".into(),
            parts: vec![
                Part::Reasoning { text: "Think.".into(), signature: Some("sig".into()) },
                call("toolu_1", "weather", r#"{"city":"Oslo"}"#),
            ],
            finish: Finish::ToolCalls,
            usage: Some(Usage {
                prompt_tokens: 10,
                cache_read_tokens: 80,
                cache_write_tokens: 5,
                completion_tokens: 20,
                reasoning_tokens: 7,
            }),
        };
        let mut body = encode_response(&response);
        assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
        body.as_object_mut().unwrap().remove("created");
        let expected = json!({
            "id": "chatcmpl-abc", "object": "chat.completion", "model": "claude-sonnet-4",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null, "message": {
                "role": "assistant", "content": null, "reasoning_content": "Think.",
                "tool_calls": [wire_call(None, "toolu_1", "weather", r#"{"city":"Oslo"}"#)],
            }}],
            "usage": {"prompt_tokens": 95, "completion_tokens": 20, "total_tokens": 115,
                "prompt_tokens_details": {"cached_tokens": 80}, "completion_tokens_details": {"reasoning_tokens": 7}},
        });
        assert_eq!(body, expected);
    }

    fn read_all(reader: &mut Reader, chunks: &[Value]) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        let mut data: Vec<String> = chunks.iter().map(Value::to_string).collect();
        data.extend([String::new(), "[DONE]".into(), "{not json".into()]);
        for data in data {
            reader.read(&sse::Event { name: None, data, raw: Default::default() }, &mut events);
        }
        events
    }

    fn delta(delta: Value) -> Value {
        let choice = json!({"index": 0, "delta": delta, "finish_reason": null});
        json!({"id": "c", "object": "chat.completion.chunk", "choices": [choice]})
    }

    #[test]
    fn reads_a_stream_of_text_reasoning_tool_calls_and_usage() {
        let first_call =
            json!({"index": 0, "id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}});
        let chunks = [
            delta(json!({"role": "assistant", "content": ""})),
            delta(json!({"reasoning_content": "Hmm."})),
            delta(json!({"reasoning": "More."})),
            delta(json!({"content": "Checking."})),
            delta(json!({"tool_calls": [first_call]})),
            delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]})),
            delta(json!({"tool_calls": [wire_call(Some(1), "call_b", "time", "")]})),
            delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Oslo\"}"}}]})),
            delta(json!({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]})),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], "usage": null}),
            json!({"choices": [], "usage": {
                "prompt_tokens": 50, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 40},
            }}),
        ];
        let usage = Usage { prompt_tokens: 10, cache_read_tokens: 40, completion_tokens: 9, ..Usage::default() };
        assert_eq!(
            read_all(&mut Reader, &chunks),
            vec![
                StreamEvent::Reasoning("Hmm.".into()),
                StreamEvent::Reasoning("More.".into()),
                StreamEvent::Text("Checking.".into()),
                fragment(0, Some("call_a"), Some("weather"), ""),
                fragment(0, None, None, "{\"city\":"),
                fragment(1, Some("call_b"), Some("time"), ""),
                fragment(0, None, None, "\"Oslo\"}"),
                fragment(1, None, None, "{}"),
                StreamEvent::Finish(Finish::ToolCalls),
                StreamEvent::Usage(UsageReport::whole(usage)),
            ]
        );
        let error = json!({"error": {"message": "Rate limit reached", "type": "rate_limit_error"}});
        assert_eq!(
            read_all(&mut Reader, &[error]),
            vec![StreamEvent::Error { kind: "rate_limit_error".into(), message: "Rate limit reached".into() }]
        );
    }

    /// The `data:` payloads a writer produced, parsed (`[DONE]` as a JSON string).
    fn written(out: &BytesMut) -> Vec<Value> {
        let events = sse::Decoder::default().push(out);
        assert_eq!(events.iter().map(|event| event.raw.len()).sum::<usize>(), out.len(), "whole events only");
        events
            .iter()
            .map(|event| serde_json::from_str(&event.data).unwrap_or_else(|_| event.data.clone().into()))
            .collect()
    }

    fn writer(include_usage: bool) -> Writer {
        Writer::new(StreamStart { id: "chatcmpl-1".into(), model: "gpt-x".into(), prompt_tokens: 0, include_usage })
    }

    #[test]
    fn writes_text_reasoning_and_interleaved_tool_calls_as_chunks() {
        let events = [
            StreamEvent::Reasoning("Hmm.".into()),
            StreamEvent::Text("Checking.".into()),
            fragment(3, Some("toolu_a"), Some("weather"), ""),
            fragment(7, Some("toolu_b"), Some("time"), "{"),
            fragment(3, None, None, "{\"city\":\"Oslo\"}"),
            fragment(7, None, None, "}"),
            StreamEvent::Finish(Finish::ToolCalls),
        ];
        let chunks = written(&stream_of(&mut writer(true), &events, Finish::ToolCalls, &mixed_usage()));
        let deltas: Vec<&Value> =
            chunks[..chunks.len() - 2].iter().map(|chunk| &chunk["choices"][0]["delta"]).collect();
        assert_eq!(
            deltas,
            [
                &json!({"role": "assistant", "reasoning_content": "Hmm."}),
                &json!({"content": "Checking."}),
                &json!({"tool_calls": [wire_call(Some(0), "toolu_a", "weather", "")]}),
                &json!({"tool_calls": [wire_call(Some(1), "toolu_b", "time", "{")]}),
                &json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":\"Oslo\"}"}}]}),
                &json!({"tool_calls": [{"index": 1, "function": {"arguments": "}"}}]}),
                &json!({}),
            ]
        );
        let finish = &chunks[chunks.len() - 3];
        assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            (&finish["id"], &finish["object"], &finish["model"]),
            (&json!("chatcmpl-1"), &json!("chat.completion.chunk"), &json!("gpt-x"))
        );
        assert_eq!(chunks[chunks.len() - 2]["choices"], json!([]));
        assert_eq!(
            chunks[chunks.len() - 2]["usage"],
            json!({
                "prompt_tokens": 25, "completion_tokens": 8, "total_tokens": 33,
                "prompt_tokens_details": {"cached_tokens": 20}, "completion_tokens_details": {"reasoning_tokens": 3},
            })
        );
        assert_eq!(chunks.last().unwrap(), "[DONE]");
    }

    #[test]
    fn usage_rides_on_the_last_chunk_unless_asked_for_apart_and_nothing_follows_an_error() {
        let mut writer = writer(false);
        let mut out = BytesMut::new();
        writer.start(&mut out);
        writer.finish(Finish::Length, &Usage { completion_tokens: 4, ..Usage::default() }, &mut out);
        let chunks = written(&out);
        assert_eq!(chunks.len(), 2, "the finish with usage, [DONE]");
        assert_eq!(chunks[0]["choices"][0]["finish_reason"], "length");
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(chunks[0]["usage"]["completion_tokens"], 4);

        let mut out = BytesMut::new();
        writer.write(&StreamEvent::Error { kind: "overloaded_error".into(), message: "Overloaded".into() }, &mut out);
        writer.write(&StreamEvent::Text("late".into()), &mut out);
        writer.finish(Finish::Stop, &Usage::default(), &mut out);
        assert_eq!(written(&out), [json!({"error": {"message": "Overloaded", "type": "overloaded_error"}})]);
    }
}
