//! The OpenAI Responses API (`/v1/responses`, channel protocol `openai-responses`; what
//! Codex CLI speaks) against the hub.
//!
//! A Responses conversation is a flat list of items (messages, function calls, their
//! outputs, reasoning); the hub's turns are runs of consecutive items of one role. The
//! API's server-side state (`previous_response_id`, stored prompts, conversations) has no
//! counterpart in other dialects and is refused.

use super::chat::{
    effort_of, empty_schema, image_of, image_url, put, required, required_str, tool_choice_mode, without_nulls,
    WireUsage,
};
use super::conversation::{
    Finish, Message, Part, Reasoning, Request, Response, Role, StreamEvent, StreamStart, Tool, ToolCall, ToolChoice,
    ToolResult, Usage, UsageReport,
};
use super::{
    field, invalid_type, now_seconds, object, optional_array, optional_bool, optional_f64, optional_str, optional_u64,
    sse, untranslatable, Outgoing, StreamReader, StreamWriter,
};
use crate::gateway::error::GatewayError;
use bytes::BytesMut;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub fn decode_request(body: &Map<String, Value>) -> Result<Request, GatewayError> {
    refuse_untranslatable(body)?;
    let (tools, omitted) = decode_tools(body)?;
    let mut request = Request {
        tools,
        omitted,
        tool_choice: decode_tool_choice(body)?,
        parallel_tool_calls: optional_bool(body, "parallel_tool_calls", "parallel_tool_calls")?,
        max_tokens: optional_u64(body, "max_output_tokens", "max_output_tokens")?,
        temperature: optional_f64(body, "temperature", "temperature")?,
        top_p: optional_f64(body, "top_p", "top_p")?,
        reasoning: decode_reasoning(body)?,
        stream: optional_bool(body, "stream", "stream")?.unwrap_or(false),
        ..Request::default()
    };
    if let Some(instructions) = optional_str(body, "instructions", "instructions")?.filter(|text| !text.is_empty()) {
        request.system.push(instructions.to_owned());
    }
    match field(body, "input") {
        None => return Err(GatewayError::MissingField("input".into())),
        Some(Value::String(text)) => push(&mut request.messages, Role::User, vec![Part::Text(text.clone())]),
        Some(Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                decode_item(item, &format!("input[{index}]"), &mut request)?;
            }
        }
        Some(_) => return Err(invalid_type("input", "a string or a list of items")),
    }
    request.check()?;
    Ok(request)
}

/// Fields that lean on state or features only OpenAI's servers have.
fn refuse_untranslatable(body: &Map<String, Value>) -> Result<(), GatewayError> {
    let stored = "the gateway keeps no stored responses or conversations; send the whole conversation in `input`";
    for name in ["previous_response_id", "conversation"] {
        if field(body, name).is_some() {
            return Err(untranslatable(name, stored));
        }
    }
    if field(body, "prompt").is_some() {
        return Err(untranslatable("prompt", "stored prompt templates are not translated"));
    }
    if optional_bool(body, "background", "background")? == Some(true) {
        return Err(untranslatable("background", "background responses are not translated"));
    }
    if field(body, "top_logprobs").and_then(Value::as_u64).is_some_and(|n| n > 0) {
        return Err(untranslatable("top_logprobs", "log probabilities are not translated"));
    }
    let format = field(body, "text").and_then(|text| text.get("format")).filter(|format| !format.is_null());
    if format.is_some_and(|format| format.get("type").and_then(Value::as_str) != Some("text")) {
        return Err(untranslatable("text.format", "structured output formats are not translated"));
    }
    Ok(())
}

/// Appends to the last turn when it has the same role: Responses spreads one assistant
/// turn over reasoning, message and function call items, and one user turn over
/// function call outputs and messages.
fn push(messages: &mut Vec<Message>, role: Role, parts: Vec<Part>) {
    if parts.is_empty() {
        return;
    }
    match messages.last_mut() {
        Some(last) if last.role == role => last.parts.extend(parts),
        _ => messages.push(Message { role, parts }),
    }
}

fn decode_item(value: &Value, path: &str, request: &mut Request) -> Result<(), GatewayError> {
    let item = object(value, path)?;
    let kind_path = format!("{path}.type");
    // A bare `{role, content}` is a message too (the easy input form).
    let kind = match optional_str(item, "type", &kind_path)? {
        Some(kind) => kind,
        None if item.contains_key("role") => "message",
        None => return Err(GatewayError::MissingField(kind_path)),
    };
    match kind {
        "message" => decode_message(item, path, request)?,
        "function_call" => {
            let call = ToolCall {
                id: required_str(item, "call_id", &format!("{path}.call_id"))?.to_owned(),
                name: required_str(item, "name", &format!("{path}.name"))?.to_owned(),
                arguments: optional_str(item, "arguments", &format!("{path}.arguments"))?.unwrap_or("{}").to_owned(),
            };
            push(&mut request.messages, Role::Assistant, vec![Part::ToolCall(call)]);
        }
        "function_call_output" => {
            let result = ToolResult {
                call_id: required_str(item, "call_id", &format!("{path}.call_id"))?.to_owned(),
                content: content_parts(
                    required(item, "output", &format!("{path}.output"))?,
                    &format!("{path}.output"),
                    true,
                )?,
                is_error: false,
            };
            push(&mut request.messages, Role::User, vec![Part::ToolResult(result)]);
        }
        "reasoning" => {
            let text = reasoning_summary(item, path)?;
            if !text.is_empty() {
                push(&mut request.messages, Role::Assistant, vec![Part::Reasoning { text, signature: None }]);
            }
        }
        _ => {
            return Err(untranslatable(
                kind_path,
                "only messages, function calls, function call outputs and reasoning items are translated",
            ))
        }
    }
    Ok(())
}

fn decode_message(item: &Map<String, Value>, path: &str, request: &mut Request) -> Result<(), GatewayError> {
    let role_path = format!("{path}.role");
    let role = required_str(item, "role", &role_path)?;
    let content_path = format!("{path}.content");
    let content = required(item, "content", &content_path)?;
    match role {
        "user" => push(&mut request.messages, Role::User, content_parts(content, &content_path, true)?),
        "assistant" => push(&mut request.messages, Role::Assistant, content_parts(content, &content_path, false)?),
        "system" | "developer" => {
            let parts = content_parts(content, &content_path, false)?;
            let texts =
                parts.into_iter().filter_map(|part| if let Part::Text(text) = part { Some(text) } else { None });
            request.system.extend(texts);
        }
        role => return Err(GatewayError::InvalidValue { field: role_path, reason: format!("unknown role `{role}`") }),
    }
    Ok(())
}

/// Message content or a function call's output: a string or a list of parts. Empty text
/// is no part.
fn content_parts(content: &Value, path: &str, images: bool) -> Result<Vec<Part>, GatewayError> {
    match content {
        Value::String(text) => Ok(text_part(text).into_iter().collect()),
        Value::Array(parts) => {
            let parts =
                parts.iter().enumerate().map(|(index, part)| content_part(part, &format!("{path}[{index}]"), images));
            parts.filter_map(Result::transpose).collect()
        }
        _ => Err(invalid_type(path, "a string or a list of content parts")),
    }
}

fn content_part(value: &Value, path: &str, images: bool) -> Result<Option<Part>, GatewayError> {
    let part = object(value, path)?;
    let kind_path = format!("{path}.type");
    match required_str(part, "type", &kind_path)? {
        "input_text" | "output_text" => Ok(text_part(required_str(part, "text", &format!("{path}.text"))?)),
        "refusal" => Ok(text_part(required_str(part, "refusal", &format!("{path}.refusal"))?)),
        "input_image" if images => {
            let url_path = format!("{path}.image_url");
            match optional_str(part, "image_url", &url_path)? {
                Some(url) => Ok(Some(Part::Image(image_of(url)))),
                None if field(part, "file_id").is_some() => {
                    Err(untranslatable(format!("{path}.file_id"), "uploaded files are not translated; send the image"))
                }
                None => Err(GatewayError::MissingField(url_path)),
            }
        }
        "input_image" => {
            Err(GatewayError::InvalidValue { field: kind_path, reason: "this message takes text only".into() })
        }
        "input_file" | "input_audio" => Err(untranslatable(kind_path, "file and audio inputs are not translated")),
        kind => {
            Err(GatewayError::InvalidValue { field: kind_path, reason: format!("unknown content part type `{kind}`") })
        }
    }
}

fn text_part(text: &str) -> Option<Part> {
    (!text.is_empty()).then(|| Part::Text(text.to_owned()))
}

/// A reasoning item's visible text: its summaries. Its encrypted content only OpenAI can
/// read, so it is left behind.
fn reasoning_summary(item: &Map<String, Value>, path: &str) -> Result<String, GatewayError> {
    let summary_path = format!("{path}.summary");
    let mut texts = Vec::new();
    for (index, summary) in optional_array(item, "summary", &summary_path)?.iter().enumerate() {
        let summary_path = format!("{summary_path}[{index}]");
        texts.push(required_str(object(summary, &summary_path)?, "text", &format!("{summary_path}.text"))?);
    }
    Ok(texts.join("\n\n"))
}

/// Tools OpenAI runs itself: an offer another provider cannot take up, so a translated
/// request leaves it out (and says so), where refusing it would refuse every Codex request.
const HOSTED_TOOLS: &[&str] = &[
    "web_search",
    "web_search_preview",
    "file_search",
    "code_interpreter",
    "image_generation",
    "computer_use_preview",
];

/// The function tools (a `namespace` groups some: they are offered one by one), and the
/// paths of the hosted tools left out.
fn decode_tools(body: &Map<String, Value>) -> Result<(Vec<Tool>, Vec<String>), GatewayError> {
    let (mut tools, mut omitted) = (Vec::new(), Vec::new());
    for (index, value) in optional_array(body, "tools", "tools")?.iter().enumerate() {
        let path = format!("tools[{index}]");
        let tool = object(value, &path)?;
        match tool.get("type").and_then(Value::as_str) {
            Some("namespace") => {
                let inner_path = format!("{path}.tools");
                for (inner, value) in optional_array(tool, "tools", &inner_path)?.iter().enumerate() {
                    tools.push(decode_tool(value, &format!("{inner_path}[{inner}]"))?);
                }
            }
            Some(kind) if HOSTED_TOOLS.contains(&kind) => omitted.push(format!("{path} ({kind})")),
            _ => tools.push(decode_tool(value, &path)?),
        }
    }
    Ok((tools, omitted))
}

fn decode_tool(value: &Value, path: &str) -> Result<Tool, GatewayError> {
    let tool = object(value, path)?;
    if tool.get("type").and_then(Value::as_str) != Some("function") {
        return Err(untranslatable(path, "only function tools (and OpenAI's hosted tools, left out) are translated"));
    }
    Ok(Tool {
        name: required_str(tool, "name", &format!("{path}.name"))?.to_owned(),
        description: optional_str(tool, "description", &format!("{path}.description"))?.map(str::to_owned),
        parameters: field(tool, "parameters").cloned().unwrap_or_else(empty_schema),
    })
}

fn decode_tool_choice(body: &Map<String, Value>) -> Result<Option<ToolChoice>, GatewayError> {
    match field(body, "tool_choice") {
        None => Ok(None),
        Some(Value::String(mode)) => tool_choice_mode(mode, "tool_choice").map(Some),
        Some(Value::Object(choice)) if choice.get("type").and_then(Value::as_str) == Some("function") => {
            Ok(Some(ToolChoice::Named(required_str(choice, "name", "tool_choice.name")?.to_owned())))
        }
        Some(Value::Object(_)) => Err(untranslatable("tool_choice", "only function tool choices are translated")),
        Some(_) => Err(invalid_type("tool_choice", "a string or an object")),
    }
}

fn decode_reasoning(body: &Map<String, Value>) -> Result<Option<Reasoning>, GatewayError> {
    let Some(reasoning) = field(body, "reasoning") else {
        return Ok(None);
    };
    let effort = optional_str(object(reasoning, "reasoning")?, "effort", "reasoning.effort")?;
    Ok(effort.map(|effort| Reasoning { effort: Some(effort.to_owned()), budget_tokens: None }))
}

pub fn encode_request(request: &Request, out: &Outgoing) -> Result<Value, GatewayError> {
    if !request.stop.is_empty() {
        return Err(untranslatable("stop", "the Responses API has no stop sequences"));
    }
    let mut body = Map::new();
    body.insert("model".into(), out.model.into());
    if !request.system.is_empty() {
        body.insert("instructions".into(), request.system.join("\n\n").into());
    }
    body.insert("input".into(), Value::Array(encode_input(request)?));
    body.insert("stream".into(), request.stream.into());
    // The gateway replays whole conversations; nothing needs storing on OpenAI's side.
    body.insert("store".into(), false.into());
    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(|tool| {
            let (name, description, parameters) = (&tool.name, &tool.description, &tool.parameters);
            without_nulls(
                json!({"type": "function", "name": name, "description": description, "parameters": parameters}),
            )
        });
        body.insert("tools".into(), tools.collect());
        put(&mut body, "tool_choice", request.tool_choice.as_ref().map(encode_tool_choice));
        put(&mut body, "parallel_tool_calls", request.parallel_tool_calls);
    }
    put(&mut body, "max_output_tokens", request.max_tokens);
    put(&mut body, "temperature", request.temperature);
    put(&mut body, "top_p", request.top_p);
    put(&mut body, "reasoning", request.reasoning.as_ref().and_then(effort_of).map(|effort| json!({"effort": effort})));
    Ok(Value::Object(body))
}

fn encode_input(request: &Request) -> Result<Vec<Value>, GatewayError> {
    let mut items = Vec::new();
    for (index, message) in request.messages.iter().enumerate() {
        match message.role {
            Role::User => encode_user(message, &mut items),
            Role::Assistant => encode_assistant(message, index, &mut items)?,
        }
    }
    Ok(items)
}

/// Text and images run into one message item; each tool result is its own item, in place.
fn encode_user(message: &Message, items: &mut Vec<Value>) {
    let mut content = Vec::new();
    for part in &message.parts {
        match part {
            Part::Text(text) => content.push(json!({"type": "input_text", "text": text})),
            Part::Image(image) => content.push(json!({"type": "input_image", "image_url": image_url(image)})),
            Part::ToolResult(result) => {
                flush_user(&mut content, items);
                let output = tool_output(&result.content);
                items.push(json!({"type": "function_call_output", "call_id": result.call_id, "output": output}));
            }
            // The hub keeps calls and reasoning in assistant turns.
            Part::ToolCall(_) | Part::Reasoning { .. } => {}
        }
    }
    flush_user(&mut content, items);
}

fn flush_user(content: &mut Vec<Value>, items: &mut Vec<Value>) {
    if !content.is_empty() {
        items.push(json!({"type": "message", "role": "user", "content": std::mem::take(content)}));
    }
}

/// A text-only output as a string (what every Responses server takes), else a list of parts.
fn tool_output(content: &[Part]) -> Value {
    if content.iter().all(|part| matches!(part, Part::Text(_))) {
        let texts: Vec<&str> = content
            .iter()
            .filter_map(|part| if let Part::Text(text) = part { Some(text.as_str()) } else { None })
            .collect();
        return texts.join("\n").into();
    }
    let parts = content.iter().filter_map(|part| match part {
        Part::Text(text) => Some(json!({"type": "input_text", "text": text})),
        Part::Image(image) => Some(json!({"type": "input_image", "image_url": image_url(image)})),
        _ => None,
    });
    parts.collect()
}

/// Reasoning is not sent: without OpenAI's encrypted content a reasoning item is refused.
fn encode_assistant(message: &Message, index: usize, items: &mut Vec<Value>) -> Result<(), GatewayError> {
    for part in &message.parts {
        match part {
            Part::Text(text) => items.push(json!({
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text}],
            })),
            Part::ToolCall(call) => items.push(json!({
                "type": "function_call",
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments,
            })),
            Part::Image(_) => {
                return Err(untranslatable(format!("messages[{index}].content"), "assistant messages carry no images"))
            }
            Part::Reasoning { .. } | Part::ToolResult(_) => {}
        }
    }
    Ok(())
}

fn encode_tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => "auto".into(),
        ToolChoice::None => "none".into(),
        ToolChoice::Required => "required".into(),
        ToolChoice::Named(name) => json!({"type": "function", "name": name}),
    }
}

pub fn decode_response(body: &[u8]) -> Result<Response, serde_json::Error> {
    let response: WireResponse = serde_json::from_slice(body)?;
    let mut parts = Vec::new();
    for item in response.output.unwrap_or_default() {
        match item {
            OutputItem::Message { content } => {
                let texts = content.unwrap_or_default().into_iter().filter_map(|part| match part {
                    OutputContent::OutputText { text } => Some(text),
                    OutputContent::Refusal { refusal } => Some(refusal),
                    OutputContent::Other => None,
                });
                parts.extend(texts.filter(|text| !text.is_empty()).map(Part::Text));
            }
            OutputItem::FunctionCall { call_id, name, arguments } => {
                parts.push(Part::ToolCall(ToolCall { id: call_id, name, arguments: arguments.unwrap_or_default() }))
            }
            OutputItem::Reasoning { summary } => {
                let texts: Vec<String> = summary.unwrap_or_default().into_iter().filter_map(|s| s.text).collect();
                let text = texts.join("\n\n");
                if !text.is_empty() {
                    parts.push(Part::Reasoning { text, signature: None });
                }
            }
            OutputItem::Other => {}
        }
    }
    let has_calls = parts.iter().any(|part| matches!(part, Part::ToolCall(_)));
    Ok(Response {
        id: response.id.unwrap_or_default(),
        model: response.model.unwrap_or_default(),
        parts,
        finish: finish_of(response.status.as_deref(), response.incomplete_details, has_calls),
        usage: response.usage.map(WireUsage::hub),
    })
}

/// An incomplete answer was cut short (even mid-call); a complete one with calls waits
/// for their results.
fn finish_of(status: Option<&str>, incomplete: Option<IncompleteDetails>, has_calls: bool) -> Finish {
    if status == Some("incomplete") {
        return match incomplete.and_then(|details| details.reason).as_deref() {
            Some("content_filter") => Finish::ContentFilter,
            _ => Finish::Length,
        };
    }
    if has_calls {
        Finish::ToolCalls
    } else {
        Finish::Stop
    }
}

pub fn usage_in(body: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
    #[derive(Deserialize)]
    struct UsageOnly {
        usage: Option<WireUsage>,
    }
    Ok(serde_json::from_slice::<UsageOnly>(body)?.usage.map(WireUsage::hub))
}

pub fn encode_response(response: &Response) -> Value {
    let output = items_of(&response.id, &response.parts).iter().map(Item::json).collect();
    let mut body = response_object(&response.id, &response.model, now_seconds(), status_of(response.finish), output);
    if let Some(usage) = &response.usage {
        body["usage"] = usage_json(usage);
    }
    body["incomplete_details"] = incomplete_details(response.finish);
    body
}

/// The answer's parts as output items; consecutive texts (or reasoning) are one item.
fn items_of(response_id: &str, parts: &[Part]) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    for part in parts {
        let (kind, text) = match part {
            Part::Text(text) => (ItemKind::Message, text),
            Part::Reasoning { text, .. } => (ItemKind::Reasoning, text),
            Part::ToolCall(call) => {
                (ItemKind::Call { call_id: call.id.clone(), name: call.name.clone() }, &call.arguments)
            }
            Part::Image(_) | Part::ToolResult(_) => continue,
        };
        match items.last_mut() {
            Some(last) if last.kind == kind && !matches!(kind, ItemKind::Call { .. }) => last.text.push_str(text),
            _ => items.push(Item { text: text.clone(), open: false, ..Item::open(response_id, items.len(), kind) }),
        }
    }
    items
}

fn response_object(id: &str, model: &str, created_at: u64, status: &str, output: Vec<Value>) -> Value {
    json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "model": model,
        "output": output,
        "usage": null,
        "error": null,
        "incomplete_details": null,
    })
}

fn status_of(finish: Finish) -> &'static str {
    match finish {
        Finish::Length | Finish::ContentFilter => "incomplete",
        Finish::Stop | Finish::ToolCalls => "completed",
    }
}

fn incomplete_details(finish: Finish) -> Value {
    match finish {
        Finish::Length => json!({"reason": "max_output_tokens"}),
        Finish::ContentFilter => json!({"reason": "content_filter"}),
        Finish::Stop | Finish::ToolCalls => Value::Null,
    }
}

fn usage_json(usage: &Usage) -> Value {
    let input = usage.input_total();
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": input + usage.completion_tokens,
    })
}

/// One output item as answers and streams show it.
struct Item {
    id: String,
    kind: ItemKind,
    /// The message's text, the reasoning summary or the call's arguments so far.
    text: String,
    open: bool,
}

#[derive(PartialEq)]
enum ItemKind {
    Message,
    Reasoning,
    Call { call_id: String, name: String },
}

impl Item {
    /// An empty, open item at `index`, its id derived from the response's (`resp_x` gives `msg_x_0`).
    fn open(response_id: &str, index: usize, kind: ItemKind) -> Item {
        let prefix = match kind {
            ItemKind::Message => "msg",
            ItemKind::Reasoning => "rs",
            ItemKind::Call { .. } => "fc",
        };
        let stem = response_id.strip_prefix("resp_").unwrap_or(response_id);
        Item { id: format!("{prefix}_{stem}_{index}"), kind, text: String::new(), open: true }
    }

    /// Open items are shown empty (as `output_item.added` announces them), closed ones whole.
    fn json(&self) -> Value {
        let status = if self.open { "in_progress" } else { "completed" };
        match &self.kind {
            ItemKind::Message => {
                let content = if self.open { json!([]) } else { json!([output_text(&self.text)]) };
                json!({"id": self.id, "type": "message", "status": status, "role": "assistant", "content": content})
            }
            ItemKind::Reasoning => {
                let summary = if self.open { json!([]) } else { json!([{"type": "summary_text", "text": self.text}]) };
                json!({"id": self.id, "type": "reasoning", "summary": summary})
            }
            ItemKind::Call { call_id, name } => {
                let arguments = if self.open { "" } else { self.text.as_str() };
                json!({
                    "id": self.id,
                    "type": "function_call",
                    "status": status,
                    "call_id": call_id,
                    "name": name,
                    "arguments": arguments,
                })
            }
        }
    }
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": []})
}

/// The parts of a `response` object the hub reads.
#[derive(Deserialize)]
struct WireResponse {
    id: Option<String>,
    model: Option<String>,
    status: Option<String>,
    incomplete_details: Option<IncompleteDetails>,
    output: Option<Vec<OutputItem>>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct IncompleteDetails {
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutputItem {
    Message {
        content: Option<Vec<OutputContent>>,
    },
    FunctionCall {
        call_id: String,
        name: String,
        arguments: Option<String>,
    },
    Reasoning {
        summary: Option<Vec<Summary>>,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutputContent {
    OutputText {
        text: String,
    },
    Refusal {
        refusal: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Summary {
    text: Option<String>,
}

/// Follows a Responses stream. Function calls are announced by `output_item.added` and
/// then referred to by `output_index`, which is the hub index of their fragments.
#[derive(Default)]
pub struct Reader {
    calls: Vec<SeenCall>,
}

struct SeenCall {
    index: u32,
    /// Whether any of its arguments were passed on; some servers send them only whole, in
    /// `output_item.done`.
    has_arguments: bool,
}

/// The fields of any stream event the reader follows (serde skips the rest).
#[derive(Deserialize)]
struct WireEvent {
    #[serde(rename = "type")]
    kind: String,
    delta: Option<String>,
    output_index: Option<u32>,
    summary_index: Option<u32>,
    item: Option<WireItem>,
    response: Option<WireStreamResponse>,
    code: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct WireItem {
    #[serde(rename = "type")]
    kind: String,
    call_id: Option<String>,
    name: Option<String>,
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireStreamResponse {
    status: Option<String>,
    incomplete_details: Option<IncompleteDetails>,
    usage: Option<WireUsage>,
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireError {
    code: Option<String>,
    message: Option<String>,
}

impl StreamReader for Reader {
    fn read(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) {
        if event.data.is_empty() {
            return;
        }
        let Ok(event) = serde_json::from_str::<WireEvent>(&event.data) else {
            return;
        };
        match event.kind.as_str() {
            "response.output_text.delta" | "response.refusal.delta" => {
                out.extend(event.delta.filter(|text| !text.is_empty()).map(StreamEvent::Text))
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                out.extend(event.delta.filter(|text| !text.is_empty()).map(StreamEvent::Reasoning))
            }
            // Summary parts are paragraphs; without a break they would run together.
            "response.reasoning_summary_part.added" if event.summary_index.is_some_and(|index| index > 0) => {
                out.push(StreamEvent::Reasoning("\n\n".into()))
            }
            "response.output_item.added" => self.call_added(event, out),
            "response.function_call_arguments.delta" => self.arguments(event, out),
            "response.output_item.done" => self.call_done(event, out),
            "response.completed" | "response.incomplete" => {
                let Some(response) = event.response else { return };
                let named = if event.kind == "response.incomplete" { "incomplete" } else { "completed" };
                let status = response.status.as_deref().unwrap_or(named);
                let finish = finish_of(Some(status), response.incomplete_details, !self.calls.is_empty());
                out.push(StreamEvent::Finish(finish));
                if let Some(usage) = response.usage {
                    out.push(StreamEvent::Usage(UsageReport::whole(usage.hub())));
                }
            }
            "response.failed" => {
                let error = event.response.and_then(|response| response.error);
                let (code, message) = error.map(|error| (error.code, error.message)).unwrap_or_default();
                out.push(StreamEvent::Error {
                    kind: code.unwrap_or_else(|| "response_failed".into()),
                    message: message.unwrap_or_default(),
                });
            }
            "error" => out.push(StreamEvent::Error {
                kind: event.code.unwrap_or_else(|| "api_error".into()),
                message: event.message.unwrap_or_default(),
            }),
            _ => {}
        }
    }
}

impl Reader {
    fn call_added(&mut self, event: WireEvent, out: &mut Vec<StreamEvent>) {
        let (Some(index), Some(item)) = (event.output_index, event.item) else { return };
        if item.kind != "function_call" {
            return;
        }
        let arguments = item.arguments.unwrap_or_default();
        self.calls.push(SeenCall { index, has_arguments: !arguments.is_empty() });
        out.push(StreamEvent::ToolCall { index, id: item.call_id, name: item.name, arguments });
    }

    fn arguments(&mut self, event: WireEvent, out: &mut Vec<StreamEvent>) {
        let (Some(index), Some(delta)) = (event.output_index, event.delta) else { return };
        if delta.is_empty() {
            return;
        }
        if let Some(call) = self.calls.iter_mut().find(|call| call.index == index) {
            call.has_arguments = true;
        }
        out.push(StreamEvent::ToolCall { index, id: None, name: None, arguments: delta });
    }

    fn call_done(&mut self, event: WireEvent, out: &mut Vec<StreamEvent>) {
        let (Some(index), Some(item)) = (event.output_index, event.item) else { return };
        let Some(call) = self.calls.iter_mut().find(|call| call.index == index && !call.has_arguments) else { return };
        if let Some(arguments) = item.arguments.filter(|arguments| !arguments.is_empty()) {
            call.has_arguments = true;
            out.push(StreamEvent::ToolCall { index, id: None, name: None, arguments });
        }
    }
}

/// Writes Responses' typed events. Text and reasoning go to one open message or reasoning
/// item at a time (a switch closes it: clients append deltas to the item in progress);
/// each function call is its own item, open until the end so interleaved fragments of
/// parallel calls can keep arriving.
pub struct Writer {
    start: StreamStart,
    created_at: u64,
    sequence: u64,
    items: Vec<Item>,
    /// The open message or reasoning item, by output index.
    current: Option<usize>,
    /// Each hub call index and the output index of its item.
    calls: Vec<(u32, usize)>,
    /// `response.failed` was written: the stream is over.
    failed: bool,
}

impl Writer {
    pub fn new(start: StreamStart) -> Writer {
        Writer {
            start,
            created_at: now_seconds(),
            sequence: 0,
            items: Vec::new(),
            current: None,
            calls: Vec::new(),
            failed: false,
        }
    }

    /// Writes one event: its type both as the SSE name and in the data, and the next sequence number.
    fn emit(&mut self, out: &mut BytesMut, kind: &str, mut data: Value) {
        data["type"] = kind.into();
        data["sequence_number"] = self.sequence.into();
        self.sequence += 1;
        sse::write_json(out, Some(kind), &data);
    }

    fn response(&self, status: &str) -> Value {
        let output = self.items.iter().map(Item::json).collect();
        response_object(&self.start.id, &self.start.model, self.created_at, status, output)
    }

    /// The open item of `kind` for text or reasoning, opening one (and closing another) if needed.
    fn current(&mut self, kind: ItemKind, out: &mut BytesMut) -> usize {
        if let Some(index) = self.current.filter(|index| self.items[*index].kind == kind) {
            return index;
        }
        self.close_current(out);
        let index = self.open(kind, out);
        self.current = Some(index);
        index
    }

    fn close_current(&mut self, out: &mut BytesMut) {
        if let Some(index) = self.current.take() {
            self.close(index, out);
        }
    }

    fn open(&mut self, kind: ItemKind, out: &mut BytesMut) -> usize {
        let index = self.items.len();
        let item = Item::open(&self.start.id, index, kind);
        let added = json!({"output_index": index, "item": item.json()});
        let part = match item.kind {
            ItemKind::Message => Some((
                "response.content_part.added",
                located(&item.id, index, json!({"content_index": 0, "part": output_text("")})),
            )),
            ItemKind::Reasoning => Some((
                "response.reasoning_summary_part.added",
                located(&item.id, index, json!({"summary_index": 0, "part": {"type": "summary_text", "text": ""}})),
            )),
            ItemKind::Call { .. } => None,
        };
        self.items.push(item);
        self.emit(out, "response.output_item.added", added);
        if let Some((kind, data)) = part {
            self.emit(out, kind, data);
        }
        index
    }

    fn close(&mut self, index: usize, out: &mut BytesMut) {
        self.items[index].open = false;
        let item = &self.items[index];
        let (id, text) = (item.id.as_str(), item.text.as_str());
        let events = match item.kind {
            ItemKind::Message => vec![
                ("response.output_text.done", json!({"content_index": 0, "text": text})),
                ("response.content_part.done", json!({"content_index": 0, "part": output_text(text)})),
            ],
            ItemKind::Reasoning => vec![
                ("response.reasoning_summary_text.done", json!({"summary_index": 0, "text": text})),
                (
                    "response.reasoning_summary_part.done",
                    json!({"summary_index": 0, "part": {"type": "summary_text", "text": text}}),
                ),
            ],
            ItemKind::Call { .. } => vec![("response.function_call_arguments.done", json!({"arguments": text}))],
        };
        let events: Vec<_> = events.into_iter().map(|(kind, data)| (kind, located(id, index, data))).collect();
        let done = json!({"output_index": index, "item": item.json()});
        for (kind, data) in events {
            self.emit(out, kind, data);
        }
        self.emit(out, "response.output_item.done", done);
    }

    fn text(&mut self, kind: ItemKind, delta: &str, out: &mut BytesMut) {
        let index = self.current(kind, out);
        let item = &mut self.items[index];
        item.text.push_str(delta);
        let (event, data) = match item.kind {
            ItemKind::Message => {
                ("response.output_text.delta", json!({"content_index": 0, "delta": delta, "logprobs": []}))
            }
            _ => ("response.reasoning_summary_text.delta", json!({"summary_index": 0, "delta": delta})),
        };
        let data = located(&item.id, index, data);
        self.emit(out, event, data);
    }

    fn tool_call(&mut self, index: u32, id: Option<&str>, name: Option<&str>, arguments: &str, out: &mut BytesMut) {
        let output_index = match self.calls.iter().find(|(call, _)| *call == index) {
            Some(&(_, output_index)) => output_index,
            None => {
                self.close_current(out);
                let kind = ItemKind::Call {
                    call_id: id.unwrap_or_default().to_owned(),
                    name: name.unwrap_or_default().to_owned(),
                };
                let output_index = self.open(kind, out);
                self.calls.push((index, output_index));
                output_index
            }
        };
        if arguments.is_empty() {
            return;
        }
        let item = &mut self.items[output_index];
        item.text.push_str(arguments);
        let data = located(&item.id, output_index, json!({"delta": arguments}));
        self.emit(out, "response.function_call_arguments.delta", data);
    }

    fn fail(&mut self, code: &str, message: &str, out: &mut BytesMut) {
        let mut response = self.response("failed");
        response["error"] = json!({"code": code, "message": message});
        self.emit(out, "response.failed", json!({"response": response}));
        self.failed = true;
    }
}

/// An item event's fields plus which item it is about.
fn located(item_id: &str, output_index: usize, mut fields: Value) -> Value {
    fields["item_id"] = item_id.into();
    fields["output_index"] = output_index.into();
    fields
}

impl StreamWriter for Writer {
    fn start(&mut self, out: &mut BytesMut) {
        let response = self.response("in_progress");
        self.emit(out, "response.created", json!({"response": response}));
        self.emit(out, "response.in_progress", json!({"response": response}));
    }

    fn write(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.failed {
            return;
        }
        match event {
            StreamEvent::Text(text) => self.text(ItemKind::Message, text, out),
            StreamEvent::Reasoning(text) => self.text(ItemKind::Reasoning, text, out),
            StreamEvent::ToolCall { index, id, name, arguments } => {
                self.tool_call(*index, id.as_deref(), name.as_deref(), arguments, out)
            }
            StreamEvent::Error { kind, message } => self.fail(kind, message, out),
            StreamEvent::Finish(_) | StreamEvent::Usage(_) => {}
        }
    }

    fn finish(&mut self, finish: Finish, usage: &Usage, out: &mut BytesMut) {
        if self.failed {
            return;
        }
        self.current = None;
        for index in 0..self.items.len() {
            if self.items[index].open {
                self.close(index, out);
            }
        }
        let status = status_of(finish);
        let mut response = self.response(status);
        response["usage"] = usage_json(usage);
        response["incomplete_details"] = incomplete_details(finish);
        let event = if status == "incomplete" { "response.incomplete" } else { "response.completed" };
        self.emit(out, event, json!({"response": response}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::dialect::conversation::Image;
    use crate::gateway::dialect::test_support::{body, call, fragment, mixed_usage, stream_of, text};

    fn result(id: &str, content: Vec<Part>) -> Part {
        Part::ToolResult(ToolResult { call_id: id.into(), content, is_error: false })
    }

    fn reasoning(text: &str) -> Part {
        Part::Reasoning { text: text.into(), signature: None }
    }

    fn message(role: Role, parts: Vec<Part>) -> Message {
        Message { role, parts }
    }

    fn shell_tool() -> Tool {
        Tool {
            name: "shell".into(),
            description: Some("Runs a command".into()),
            parameters: json!({"type": "object", "properties": {"command": {"type": "array"}}}),
        }
    }

    fn png() -> Part {
        Part::Image(Image::Base64 { media_type: "image/png".into(), data: "iVBOR".into() })
    }

    #[test]
    fn namespaced_tools_are_offered_one_by_one_and_hosted_tools_left_out() {
        let body = json!({"model": "m", "input": "hi", "tools": [
            {"type": "function", "name": "shell", "parameters": {"type": "object"}},
            {"type": "namespace", "name": "agents", "tools": [{"type": "function", "name": "close_agent"}]},
            {"type": "web_search", "external_web_access": true},
        ]});
        let request = decode_request(body.as_object().unwrap()).unwrap();
        let names: Vec<&str> = request.tools.iter().map(|tool| tool.name.as_str()).collect();
        assert_eq!(names, ["shell", "close_agent"]);
        assert_eq!(request.omitted, ["tools[2] (web_search)"]);
        let custom = json!({"model": "m", "input": "hi", "tools": [{"type": "custom", "name": "apply_patch"}]});
        let error = decode_request(custom.as_object().unwrap()).unwrap_err();
        assert_eq!((error.code(), error.param()), (Some("untranslatable_feature"), Some("tools[0]")));
    }

    #[test]
    fn decodes_a_codex_conversation_into_turns() {
        let request = decode_request(&body(json!({
            "model": "gpt-5-codex",
            "instructions": "You are Codex.",
            "input": [
                {"type": "message", "role": "developer", "content": [
                    {"type": "input_text", "text": "Sandbox: read-only."},
                ]},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "List the files, see the screenshot."},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBOR", "detail": "auto"},
                ]},
                {"type": "reasoning", "id": "rs_1", "summary": [
                    {"type": "summary_text", "text": "**Listing**"}, {"type": "summary_text", "text": "Run ls."},
                ], "encrypted_content": "gAAAA..."},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Listing."}]},
                {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"},
                {"type": "function_call", "call_id": "call_2", "name": "shell", "arguments": "{\"command\":[\"pwd\"]}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "a.txt\nb.txt"},
                {"type": "function_call_output", "call_id": "call_2", "output": [
                    {"type": "input_text", "text": "/work"},
                    {"type": "input_image", "image_url": "https://example.com/s.png"},
                ]},
                {"role": "user", "content": "Thanks"},
            ],
            "tools": [{"type": "function", "name": "shell", "description": "Runs a command", "strict": false,
                "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}}],
            "tool_choice": "auto",
            "parallel_tool_calls": false,
            "reasoning": {"effort": "medium", "summary": "auto"},
            "max_output_tokens": 2000,
            "store": false,
            "stream": true,
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "session-1",
            "text": {"verbosity": "low"},
        })))
        .unwrap();
        let expected = Request {
            system: vec!["You are Codex.".into(), "Sandbox: read-only.".into()],
            messages: vec![
                message(Role::User, vec![text("List the files, see the screenshot."), png()]),
                message(
                    Role::Assistant,
                    vec![
                        reasoning("**Listing**\n\nRun ls."),
                        text("Listing."),
                        call("call_1", "shell", r#"{"command":["ls"]}"#),
                        call("call_2", "shell", r#"{"command":["pwd"]}"#),
                    ],
                ),
                message(
                    Role::User,
                    vec![
                        result("call_1", vec![text("a.txt\nb.txt")]),
                        result(
                            "call_2",
                            vec![text("/work"), Part::Image(Image::Url("https://example.com/s.png".into()))],
                        ),
                        text("Thanks"),
                    ],
                ),
            ],
            tools: vec![shell_tool()],
            tool_choice: Some(ToolChoice::Auto),
            parallel_tool_calls: Some(false),
            max_tokens: Some(2000),
            reasoning: Some(Reasoning { effort: Some("medium".into()), budget_tokens: None }),
            stream: true,
            ..Request::default()
        };
        assert_eq!(request, expected);
        let simple = decode_request(&body(json!({"input": "Hi"}))).unwrap();
        assert_eq!(simple.messages, vec![message(Role::User, vec![text("Hi")])]);
    }

    #[test]
    fn refuses_what_it_cannot_translate_and_names_bad_fields() {
        let input = |item: Value| json!({"input": [item]});
        let user = |part: Value| input(json!({"type": "message", "role": "user", "content": [part]}));
        let cases = [
            (
                json!({"input": "Hi", "previous_response_id": "resp_1"}),
                "untranslatable_feature",
                "previous_response_id",
            ),
            (
                json!({"input": "Hi", "text": {"format": {"type": "json_schema"}}}),
                "untranslatable_feature",
                "text.format",
            ),
            (json!({"input": "Hi", "tools": [{"type": "local_shell"}]}), "untranslatable_feature", "tools[0]"),
            (json!({"input": "Hi", "tool_choice": {"type": "file_search"}}), "untranslatable_feature", "tool_choice"),
            (
                input(json!({"type": "custom_tool_call", "call_id": "c", "input": "x"})),
                "untranslatable_feature",
                "input[0].type",
            ),
            (input(json!({"type": "local_shell_call"})), "untranslatable_feature", "input[0].type"),
            (
                user(json!({"type": "input_image", "file_id": "file-1"})),
                "untranslatable_feature",
                "input[0].content[0].file_id",
            ),
            (
                user(json!({"type": "input_file", "file_data": "..."})),
                "untranslatable_feature",
                "input[0].content[0].type",
            ),
            (user(json!({"type": "input_video"})), "invalid_value", "input[0].content[0].type"),
            (input(json!({"type": "message", "role": "tool", "content": "x"})), "invalid_value", "input[0].role"),
            (
                input(json!({"type": "function_call_output", "call_id": "c9", "output": "x"})),
                "invalid_value",
                "messages[0]",
            ),
            (input(json!({"type": "function_call", "name": "shell"})), "missing_field", "input[0].call_id"),
            (json!({"input": 5}), "invalid_type", "input"),
            (json!({"instructions": "x"}), "missing_field", "input"),
        ];
        for (request, code, param) in cases {
            let error = decode_request(&body(request.clone())).unwrap_err();
            assert_eq!((error.code(), error.param()), (Some(code), Some(param)), "{request}");
        }
    }

    #[test]
    fn encodes_turns_as_items_without_reasoning() {
        let request = Request {
            system: vec!["Be brief.".into(), "Use metric units.".into()],
            messages: vec![
                message(Role::User, vec![text("Look:"), png()]),
                message(
                    Role::Assistant,
                    vec![
                        Part::Reasoning { text: "Hmm.".into(), signature: Some("sig".into()) },
                        text("Running."),
                        call("toolu_1", "shell", "{}"),
                    ],
                ),
                message(
                    Role::User,
                    vec![result("toolu_1", vec![text("ok")]), result("toolu_1", vec![png()]), text("Next?")],
                ),
            ],
            tools: vec![shell_tool()],
            tool_choice: Some(ToolChoice::Named("shell".into())),
            parallel_tool_calls: Some(true),
            max_tokens: Some(512),
            temperature: Some(1.0),
            reasoning: Some(Reasoning { effort: None, budget_tokens: Some(20_000) }),
            stream: true,
            ..Request::default()
        };
        let out = Outgoing { model: "gpt-5", default_max_tokens: 4096 };
        let expected = json!({
            "model": "gpt-5",
            "instructions": "Be brief.\n\nUse metric units.",
            "input": [
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "Look:"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBOR"},
                ]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Running."}]},
                {"type": "function_call", "call_id": "toolu_1", "name": "shell", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "toolu_1", "output": "ok"},
                {"type": "function_call_output", "call_id": "toolu_1", "output": [
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBOR"},
                ]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Next?"}]},
            ],
            "stream": true,
            "store": false,
            "tools": [{"type": "function", "name": "shell", "description": "Runs a command",
                "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}}],
            "tool_choice": {"type": "function", "name": "shell"},
            "parallel_tool_calls": true,
            "max_output_tokens": 512,
            "temperature": 1.0,
            "reasoning": {"effort": "high"},
        });
        assert_eq!(encode_request(&request, &out).unwrap(), expected);
        let stop = Request { stop: vec!["END".into()], ..request };
        assert_eq!(encode_request(&stop, &out).unwrap_err().param(), Some("stop"));
    }

    fn answer(status: &str, details: Value, output: Value) -> Vec<u8> {
        json!({
            "id": "resp_1", "object": "response", "status": status, "model": "gpt-5", "incomplete_details": details,
            "output": output,
            "usage": {"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 800},
                "output_tokens": 50, "output_tokens_details": {"reasoning_tokens": 30}, "total_tokens": 1050},
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn decodes_answers_with_reasoning_calls_and_each_finish() {
        let output = json!([
            {"id": "rs_1", "type": "reasoning", "encrypted_content": "x",
                "summary": [{"type": "summary_text", "text": "Plan."}]},
            {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "Running ls.", "annotations": []}]},
            call_item("fc_1", "completed", "call_1", "{}"),
            {"id": "ws_1", "type": "web_search_call", "status": "completed"},
        ]);
        let usage = Usage {
            prompt_tokens: 200,
            cache_read_tokens: 800,
            completion_tokens: 50,
            reasoning_tokens: 30,
            ..Usage::default()
        };
        let response = decode_response(&answer("completed", Value::Null, output)).unwrap();
        assert_eq!(
            response,
            Response {
                id: "resp_1".into(),
                model: "gpt-5".into(),
                parts: vec![reasoning("Plan."), text("Running ls."), call("call_1", "shell", "{}")],
                finish: Finish::ToolCalls,
                usage: Some(usage),
            }
        );
        let refusal = json!([{"type": "message", "content": [{"type": "refusal", "refusal": "No."}]}]);
        let finishes = [
            ("completed", Value::Null, Finish::Stop),
            ("incomplete", json!({"reason": "max_output_tokens"}), Finish::Length),
            ("incomplete", json!({"reason": "content_filter"}), Finish::ContentFilter),
        ];
        for (status, details, finish) in finishes {
            let response = decode_response(&answer(status, details, refusal.clone())).unwrap();
            assert_eq!((response.finish, response.text()), (finish, "No.".to_owned()));
        }
        assert_eq!(usage_in(&answer("completed", Value::Null, json!([]))).unwrap(), Some(usage));
        assert_eq!(usage_in(br#"{"id":"resp_1","output":[]}"#).unwrap(), None);
    }

    #[test]
    fn encodes_an_answer_as_a_response_object() {
        let response = Response {
            id: "resp_abc".into(),
            model: "claude-sonnet-4".into(),
            parts: vec![reasoning("Plan."), text("Run"), text("ning."), call("toolu_1", "shell", "{}")],
            finish: Finish::Length,
            usage: Some(Usage {
                prompt_tokens: 10,
                cache_read_tokens: 80,
                cache_write_tokens: 5,
                completion_tokens: 20,
                reasoning_tokens: 7,
            }),
        };
        let mut body = encode_response(&response);
        assert!(body["created_at"].as_u64().unwrap() > 1_700_000_000);
        body.as_object_mut().unwrap().remove("created_at");
        assert_eq!(
            body,
            json!({
                "id": "resp_abc", "object": "response", "status": "incomplete", "model": "claude-sonnet-4",
                "error": null,
                "incomplete_details": {"reason": "max_output_tokens"},
                "output": [
                    {"id": "rs_abc_0", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Plan."}]},
                    {"id": "msg_abc_1", "type": "message", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": "Running.", "annotations": []}]},
                    call_item("fc_abc_2", "completed", "toolu_1", "{}"),
                ],
                "usage": {"input_tokens": 95, "input_tokens_details": {"cached_tokens": 80}, "output_tokens": 20,
                    "output_tokens_details": {"reasoning_tokens": 7}, "total_tokens": 115},
            })
        );
    }

    fn read_all(events: &[Value]) -> Vec<StreamEvent> {
        let mut reader = Reader::default();
        let mut out = Vec::new();
        let ping = sse::Event { name: None, data: String::new(), raw: Default::default() };
        reader.read(&ping, &mut out);
        for event in events {
            let name = event["type"].as_str().map(str::to_owned);
            reader.read(&sse::Event { name, data: event.to_string(), raw: Default::default() }, &mut out);
        }
        out
    }

    /// A `shell` function call item as Responses writes it.
    fn call_item(id: &str, status: &str, call_id: &str, arguments: &str) -> Value {
        json!({
            "id": id, "type": "function_call", "status": status,
            "call_id": call_id, "name": "shell", "arguments": arguments,
        })
    }

    fn function_call(call_id: &str, arguments: &str) -> Value {
        call_item(&format!("fc_{call_id}"), "in_progress", call_id, arguments)
    }

    #[test]
    fn reads_a_stream_of_reasoning_text_parallel_calls_and_usage() {
        let event = |kind: &str, fields: Value| {
            let mut event = fields;
            event["type"] = kind.into();
            event
        };
        let events = [
            event("response.created", json!({"response": {"id": "resp_1", "status": "in_progress", "output": []}})),
            event(
                "response.output_item.added",
                json!({"output_index": 0, "item": {"type": "reasoning", "summary": []}}),
            ),
            event("response.reasoning_summary_part.added", json!({"output_index": 0, "summary_index": 0})),
            event(
                "response.reasoning_summary_text.delta",
                json!({"output_index": 0, "summary_index": 0, "delta": "Plan."}),
            ),
            event("response.reasoning_summary_part.added", json!({"output_index": 0, "summary_index": 1})),
            event(
                "response.reasoning_summary_text.delta",
                json!({"output_index": 0, "summary_index": 1, "delta": "Run."}),
            ),
            event("response.output_item.added", json!({"output_index": 1, "item": {"type": "message", "content": []}})),
            event("response.output_text.delta", json!({"output_index": 1, "content_index": 0, "delta": "Listing."})),
            event("response.output_item.added", json!({"output_index": 2, "item": function_call("call_a", "")})),
            event("response.function_call_arguments.delta", json!({"output_index": 2, "delta": "{\"command\":"})),
            event("response.output_item.added", json!({"output_index": 3, "item": function_call("call_b", "")})),
            event("response.function_call_arguments.delta", json!({"output_index": 2, "delta": "[\"ls\"]}"})),
            event(
                "response.output_item.done",
                json!({"output_index": 2, "item": function_call("call_a", "{\"command\":[\"ls\"]}")}),
            ),
            // This server sends call_b's arguments only whole, when the item is done.
            event("response.output_item.done", json!({"output_index": 3, "item": function_call("call_b", "{}")})),
            event(
                "response.completed",
                json!({"response": {"id": "resp_1", "status": "completed", "output": [],
                "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 60}, "output_tokens": 20,
                    "output_tokens_details": {"reasoning_tokens": 8}, "total_tokens": 120}}}),
            ),
        ];
        let usage = Usage {
            prompt_tokens: 40,
            cache_read_tokens: 60,
            completion_tokens: 20,
            reasoning_tokens: 8,
            ..Usage::default()
        };
        assert_eq!(
            read_all(&events),
            vec![
                StreamEvent::Reasoning("Plan.".into()),
                StreamEvent::Reasoning("\n\n".into()),
                StreamEvent::Reasoning("Run.".into()),
                StreamEvent::Text("Listing.".into()),
                fragment(2, Some("call_a"), Some("shell"), ""),
                fragment(2, None, None, "{\"command\":"),
                fragment(3, Some("call_b"), Some("shell"), ""),
                fragment(2, None, None, "[\"ls\"]}"),
                fragment(3, None, None, "{}"),
                StreamEvent::Finish(Finish::ToolCalls),
                StreamEvent::Usage(UsageReport::whole(usage)),
            ]
        );
        let failures = [
            event(
                "response.failed",
                json!({"response": {"status": "failed",
                "error": {"code": "rate_limit_exceeded", "message": "Try again in 2s."}}}),
            ),
            event("error", json!({"code": null, "message": "Boom"})),
            event(
                "response.incomplete",
                json!({"response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}}),
            ),
        ];
        assert_eq!(
            read_all(&failures),
            vec![
                StreamEvent::Error { kind: "rate_limit_exceeded".into(), message: "Try again in 2s.".into() },
                StreamEvent::Error { kind: "api_error".into(), message: "Boom".into() },
                StreamEvent::Finish(Finish::Length),
            ]
        );
    }

    /// Each written event's name and data, checking the name matches the data's `type` and
    /// sequence numbers count from 0.
    fn written(out: &BytesMut) -> Vec<(String, Value)> {
        let events = sse::Decoder::default().push(out);
        assert_eq!(events.iter().map(|event| event.raw.len()).sum::<usize>(), out.len(), "whole events only");
        let events: Vec<(String, Value)> = events
            .into_iter()
            .map(|event| (event.name.expect("a named event"), serde_json::from_str(&event.data).expect("JSON data")))
            .collect();
        for (number, (name, data)) in events.iter().enumerate() {
            assert_eq!((&data["type"], &data["sequence_number"]), (&json!(name), &json!(number)));
        }
        events
    }

    fn writer() -> Writer {
        Writer::new(StreamStart { id: "resp_x".into(), model: "claude-sonnet-4".into(), ..StreamStart::default() })
    }

    /// An event's data without the fields `written` already checked.
    fn data(event: &(String, Value)) -> Value {
        let mut data = event.1.clone();
        let fields = data.as_object_mut().unwrap();
        fields.remove("type");
        fields.remove("sequence_number");
        data
    }

    #[test]
    fn writes_items_for_reasoning_text_and_interleaved_calls() {
        let stream = [
            StreamEvent::Reasoning("Plan.".into()),
            StreamEvent::Text("Run".into()),
            StreamEvent::Text("ning.".into()),
            fragment(0, Some("toolu_a"), Some("shell"), ""),
            fragment(1, Some("toolu_b"), Some("shell"), "{"),
            fragment(0, None, None, "{}"),
            fragment(1, None, None, "}"),
            StreamEvent::Finish(Finish::ToolCalls),
        ];
        let events = written(&stream_of(&mut writer(), &stream, Finish::ToolCalls, &mixed_usage()));
        let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        assert_eq!(events[1].1["response"]["status"], "in_progress");
        assert_eq!(events[1].1["response"]["output"], json!([]));
        assert_eq!(
            data(&events[4]),
            json!({"item_id": "rs_x_0", "output_index": 0, "summary_index": 0, "delta": "Plan."})
        );
        assert_eq!(
            data(&events[10]),
            json!({"item_id": "msg_x_1", "output_index": 1, "content_index": 0, "delta": "Run", "logprobs": []})
        );
        assert_eq!(
            data(&events[12]),
            json!({"item_id": "msg_x_1", "output_index": 1, "content_index": 0, "text": "Running."})
        );
        assert_eq!(
            data(&events[16]),
            json!({"output_index": 3, "item": call_item("fc_x_3", "in_progress", "toolu_b", "")})
        );
        assert_eq!(data(&events[17]), json!({"item_id": "fc_x_3", "output_index": 3, "delta": "{"}));
        assert_eq!(data(&events[18]), json!({"item_id": "fc_x_2", "output_index": 2, "delta": "{}"}));
        assert_eq!(
            data(&events[23]),
            json!({"output_index": 3, "item": call_item("fc_x_3", "completed", "toolu_b", "{}")})
        );
        let response = &events[24].1["response"];
        assert_eq!(
            (&response["id"], &response["status"], &response["model"]),
            (&json!("resp_x"), &json!("completed"), &json!("claude-sonnet-4"))
        );
        assert_eq!(response["output"].as_array().unwrap().len(), 4);
        assert_eq!(
            response["output"][1]["content"],
            json!([{"type": "output_text", "text": "Running.", "annotations": []}])
        );
        assert_eq!(
            response["usage"],
            json!({"input_tokens": 25, "input_tokens_details": {"cached_tokens": 20}, "output_tokens": 8,
            "output_tokens_details": {"reasoning_tokens": 3}, "total_tokens": 33})
        );
    }

    #[test]
    fn a_cut_answer_is_incomplete_and_an_error_ends_the_stream() {
        let mut writer = writer();
        let mut out = BytesMut::new();
        writer.start(&mut out);
        writer.write(&StreamEvent::Text("Hi".into()), &mut out);
        writer.finish(Finish::Length, &Usage::default(), &mut out);
        let events = written(&out);
        let last = events.last().unwrap();
        assert_eq!(last.0, "response.incomplete");
        assert_eq!(last.1["response"]["incomplete_details"], json!({"reason": "max_output_tokens"}));

        let mut writer = self::writer();
        let mut out = BytesMut::new();
        writer.start(&mut out);
        writer.write(&StreamEvent::Text("Hi".into()), &mut out);
        writer.write(&StreamEvent::Error { kind: "overloaded_error".into(), message: "Overloaded".into() }, &mut out);
        writer.write(&StreamEvent::Text("late".into()), &mut out);
        writer.finish(Finish::Stop, &Usage::default(), &mut out);
        let events = written(&out);
        let last = events.last().unwrap();
        assert_eq!(last.0, "response.failed");
        assert_eq!(last.1["response"]["status"], "failed");
        assert_eq!(last.1["response"]["error"], json!({"code": "overloaded_error", "message": "Overloaded"}));
        let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names[2..],
            [
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.failed"
            ]
        );
    }
}
