//! Anthropic Messages (`/v1/messages`): requests, whole answers and SSE streams, to and
//! from the hub ([`super::conversation`]).

use super::conversation::{
    Finish, Image, Message, Part, Reasoning, Request, Response, Role, StreamEvent, StreamStart, Tool, ToolCall,
    ToolChoice, ToolResult, Usage, UsageReport,
};
use super::{
    arguments_object, field, invalid_type, object, optional_array, optional_bool, optional_f64, optional_u64,
    parse_data_url, sse, stop_list, untranslatable, Outgoing, StreamReader, StreamWriter,
};
use crate::gateway::error::GatewayError;
use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// The `anthropic-version` sent when the client named none.
pub const VERSION: &str = "2023-06-01";

/// Anthropic's smallest thinking budget.
const MIN_THINKING_BUDGET: u64 = 1024;

/// Content blocks that only mean something at Anthropic: documents and search results it
/// reads itself, and the calls and results of the tools it runs on its own servers.
const ANTHROPIC_ONLY_BLOCKS: &[&str] = &[
    "document",
    "search_result",
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "code_execution_tool_result",
    "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result",
    "mcp_tool_use",
    "mcp_tool_result",
    "container_upload",
];

// ---- Requests from clients ----

/// Fields never read here, on purpose: `metadata` (an end-user id for Anthropic's abuse
/// checks), `cache_control` wherever it appears and `service_tier` (billing hints),
/// `context_management` (Anthropic pruning old tool results from what its model reads; the
/// conversation sent on is whole, so another provider reads everything the client sent and
/// loses no meaning), `container` (the sandbox of Anthropic's code execution tool, which is
/// refused below) and an empty `mcp_servers`.
pub fn decode_request(body: &Map<String, Value>) -> Result<Request, GatewayError> {
    refuse_anthropic_only(body)?;
    let (tool_choice, parallel_tool_calls) = decode_tool_choice(body)?;
    let (instructions, messages) = decode_messages(body)?;
    let request = Request {
        system: [decode_system(body)?, instructions].concat(),
        messages,
        tools: decode_tools(body)?,
        tool_choice,
        parallel_tool_calls,
        max_tokens: optional_u64(body, "max_tokens", "max_tokens")?,
        stop: stop_list(body, "stop_sequences")?,
        temperature: optional_f64(body, "temperature", "temperature")?,
        top_p: optional_f64(body, "top_p", "top_p")?,
        reasoning: decode_thinking(body)?,
        stream: optional_bool(body, "stream", "stream")?.unwrap_or(false),
        omitted: Vec::new(),
    };
    request.check()?;
    Ok(request)
}

fn refuse_anthropic_only(body: &Map<String, Value>) -> Result<(), GatewayError> {
    if field(body, "top_k").is_some() {
        return Err(untranslatable("top_k", "top-k sampling is not translated between providers"));
    }
    if !optional_array(body, "mcp_servers", "mcp_servers")?.is_empty() {
        return Err(untranslatable("mcp_servers", "Anthropic calls MCP servers from its own servers"));
    }
    let reason = "structured output formats are not translated between providers";
    if field(body, "output_format").is_some() {
        return Err(untranslatable("output_format", reason));
    }
    // The rest of `output_config` (`effort`) only tunes how hard Claude works.
    if let Some(config) = field(body, "output_config") {
        if field(object(config, "output_config")?, "format").is_some() {
            return Err(untranslatable("output_config.format", reason));
        }
    }
    Ok(())
}

fn decode_system(body: &Map<String, Value>) -> Result<Vec<String>, GatewayError> {
    match field(body, "system") {
        None => Ok(Vec::new()),
        Some(Value::String(text)) if text.is_empty() => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![text.clone()]),
        Some(Value::Array(blocks)) => {
            blocks.iter().enumerate().map(|(i, block)| decode_system_block(block, &format!("system[{i}]"))).collect()
        }
        Some(_) => Err(invalid_type("system", "a string or a list of text blocks")),
    }
}

fn decode_system_block(value: &Value, path: &str) -> Result<String, GatewayError> {
    let block = object(value, path)?;
    match required_str(block, "type", path)? {
        "text" => Ok(required_str(block, "text", path)?.to_owned()),
        other => Err(invalid_value(format!("{path}.type"), format!("system blocks are text, not `{other}`"))),
    }
}

/// The turns, and the texts of `system` messages among them: Claude Code sends its
/// environment that way (a beta of mid-conversation instructions). The hub has one place
/// for instructions, so they join the system prompt, in order.
fn decode_messages(body: &Map<String, Value>) -> Result<(Vec<String>, Vec<Message>), GatewayError> {
    let messages = field(body, "messages").ok_or_else(|| GatewayError::MissingField("messages".into()))?;
    let messages = messages.as_array().ok_or_else(|| invalid_type("messages", "an array"))?;
    let (mut instructions, mut turns) = (Vec::new(), Vec::new());
    for (i, message) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        match decode_message(message, &path)? {
            (false, message) => turns.push(message),
            (true, message) => instructions.extend(message.parts.iter().map(|part| match part {
                Part::Text(text) => Ok(text.clone()),
                _ => Err(invalid_value(format!("{path}.content"), "a system message holds text only".into())),
            })),
        }
    }
    Ok((instructions.into_iter().collect::<Result<_, _>>()?, turns))
}

/// One message, and whether it is a `system` one.
fn decode_message(value: &Value, path: &str) -> Result<(bool, Message), GatewayError> {
    let message = object(value, path)?;
    let (system, role) = match required_str(message, "role", path)? {
        "user" => (false, Role::User),
        "assistant" => (false, Role::Assistant),
        "system" => (true, Role::User),
        other => {
            let reason = format!("`{other}` is not a message role: user, assistant or system");
            return Err(invalid_value(format!("{path}.role"), reason));
        }
    };
    let path = format!("{path}.content");
    let parts = match field(message, "content") {
        None => return Err(GatewayError::MissingField(path)),
        Some(Value::String(text)) => vec![Part::Text(text.clone())],
        Some(Value::Array(blocks)) => decode_blocks(blocks, &path)?,
        Some(_) => return Err(invalid_type(&path, "a string or a list of content blocks")),
    };
    Ok((system, Message { role, parts }))
}

fn decode_blocks(blocks: &[Value], path: &str) -> Result<Vec<Part>, GatewayError> {
    blocks
        .iter()
        .enumerate()
        .filter_map(|(j, block)| decode_block(block, &format!("{path}[{j}]")).transpose())
        .collect()
}

/// One content block, or nothing for a block that carries nothing across.
fn decode_block(value: &Value, path: &str) -> Result<Option<Part>, GatewayError> {
    let block = object(value, path)?;
    let part = match required_str(block, "type", path)? {
        "text" => Part::Text(required_str(block, "text", path)?.to_owned()),
        "image" => Part::Image(decode_image(block, path)?),
        "tool_use" => Part::ToolCall(decode_tool_use(block, path)?),
        "tool_result" => Part::ToolResult(decode_tool_result(block, path)?),
        "thinking" => Part::Reasoning {
            text: required_str(block, "thinking", path)?.to_owned(),
            signature: optional_string(block, "signature", path)?.filter(|s| !s.is_empty()).map(str::to_owned),
        },
        // Redacted thinking is encrypted for Anthropic alone: another provider can neither
        // read it nor check it, and the conversation means the same without it.
        "redacted_thinking" => return Ok(None),
        kind if ANTHROPIC_ONLY_BLOCKS.contains(&kind) => {
            return Err(untranslatable(path, "documents, search results and Anthropic's server tools exist only there"))
        }
        other => return Err(invalid_value(format!("{path}.type"), format!("unknown content block type `{other}`"))),
    };
    Ok(Some(part))
}

fn decode_image(block: &Map<String, Value>, path: &str) -> Result<Image, GatewayError> {
    let path = format!("{path}.source");
    let source = object(field(block, "source").ok_or_else(|| GatewayError::MissingField(path.clone()))?, &path)?;
    match required_str(source, "type", &path)? {
        "base64" => Ok(Image::Base64 {
            media_type: required_str(source, "media_type", &path)?.to_owned(),
            data: required_str(source, "data", &path)?.to_owned(),
        }),
        "url" => Ok(Image::Url(required_str(source, "url", &path)?.to_owned())),
        "file" => Err(untranslatable(path, "files uploaded to Anthropic's Files API exist only there")),
        other => Err(invalid_value(format!("{path}.type"), format!("an image source is base64 or url, not `{other}`"))),
    }
}

fn decode_tool_use(block: &Map<String, Value>, path: &str) -> Result<ToolCall, GatewayError> {
    let input_path = format!("{path}.input");
    let input = field(block, "input").ok_or_else(|| GatewayError::MissingField(input_path.clone()))?;
    object(input, &input_path)?;
    Ok(ToolCall {
        id: required_str(block, "id", path)?.to_owned(),
        name: required_str(block, "name", path)?.to_owned(),
        arguments: input.to_string(),
    })
}

fn decode_tool_result(block: &Map<String, Value>, path: &str) -> Result<ToolResult, GatewayError> {
    let content = match field(block, "content") {
        None => Vec::new(),
        Some(Value::String(text)) => vec![Part::Text(text.clone())],
        Some(Value::Array(blocks)) => blocks
            .iter()
            .enumerate()
            .filter_map(|(k, block)| decode_result_block(block, &format!("{path}.content[{k}]")).transpose())
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid_type(&format!("{path}.content"), "a string or a list of content blocks")),
    };
    Ok(ToolResult {
        call_id: required_str(block, "tool_use_id", path)?.to_owned(),
        content,
        is_error: optional_bool(block, "is_error", &format!("{path}.is_error"))?.unwrap_or(false),
    })
}

fn decode_result_block(value: &Value, path: &str) -> Result<Option<Part>, GatewayError> {
    match decode_block(value, path)? {
        part @ (None | Some(Part::Text(_) | Part::Image(_))) => Ok(part),
        Some(_) => Err(invalid_value(format!("{path}.type"), "a tool result holds text and image blocks".into())),
    }
}

fn decode_tools(body: &Map<String, Value>) -> Result<Vec<Tool>, GatewayError> {
    let tools = optional_array(body, "tools", "tools")?;
    tools.iter().enumerate().map(|(i, tool)| decode_tool(tool, &format!("tools[{i}]"))).collect()
}

fn decode_tool(value: &Value, path: &str) -> Result<Tool, GatewayError> {
    let tool = object(value, path)?;
    if optional_string(tool, "type", path)?.is_some_and(|kind| kind != "custom") {
        return Err(untranslatable(
            path,
            "Anthropic's built-in tools (web search, bash, text editor...) exist only there",
        ));
    }
    let schema_path = format!("{path}.input_schema");
    let schema = field(tool, "input_schema").ok_or_else(|| GatewayError::MissingField(schema_path.clone()))?;
    object(schema, &schema_path)?;
    Ok(Tool {
        name: required_str(tool, "name", path)?.to_owned(),
        description: optional_string(tool, "description", path)?.map(str::to_owned),
        parameters: schema.clone(),
    })
}

/// The tool choice and, from its `disable_parallel_tool_use`, whether calls may be parallel.
fn decode_tool_choice(body: &Map<String, Value>) -> Result<(Option<ToolChoice>, Option<bool>), GatewayError> {
    let Some(value) = field(body, "tool_choice") else {
        return Ok((None, None));
    };
    let choice = object(value, "tool_choice")?;
    let kind = match required_str(choice, "type", "tool_choice")? {
        "auto" => ToolChoice::Auto,
        "any" => ToolChoice::Required,
        "none" => ToolChoice::None,
        "tool" => ToolChoice::Named(required_str(choice, "name", "tool_choice")?.to_owned()),
        other => {
            let reason = format!("`{other}` is not a tool choice: auto, any, tool or none");
            return Err(invalid_value("tool_choice.type".into(), reason));
        }
    };
    let disabled = optional_bool(choice, "disable_parallel_tool_use", "tool_choice.disable_parallel_tool_use")?;
    Ok((Some(kind), disabled.filter(|disabled| *disabled).map(|_| false)))
}

fn decode_thinking(body: &Map<String, Value>) -> Result<Option<Reasoning>, GatewayError> {
    let Some(value) = field(body, "thinking") else {
        return Ok(None);
    };
    let thinking = object(value, "thinking")?;
    match required_str(thinking, "type", "thinking")? {
        "enabled" => {
            let budget = optional_u64(thinking, "budget_tokens", "thinking.budget_tokens")?
                .ok_or_else(|| GatewayError::MissingField("thinking.budget_tokens".into()))?;
            Ok(Some(Reasoning { effort: None, budget_tokens: Some(budget) }))
        }
        "disabled" => Ok(None),
        // Adaptive thinking lets the model decide how much to think; the nearest fixed
        // request another provider takes is a medium effort.
        "adaptive" => Ok(Some(Reasoning { effort: Some("medium".into()), budget_tokens: None })),
        other => Err(invalid_value("thinking.type".into(), format!("`{other}` is not enabled, disabled or adaptive"))),
    }
}

/// A string field of `map` (at `path`), absent or null being `None`.
fn optional_string<'a>(map: &'a Map<String, Value>, name: &str, path: &str) -> Result<Option<&'a str>, GatewayError> {
    field(map, name)
        .map(|value| value.as_str().ok_or_else(|| invalid_type(&format!("{path}.{name}"), "a string")))
        .transpose()
}

fn required_str<'a>(map: &'a Map<String, Value>, name: &str, path: &str) -> Result<&'a str, GatewayError> {
    optional_string(map, name, path)?.ok_or_else(|| GatewayError::MissingField(format!("{path}.{name}")))
}

fn invalid_value(field: String, reason: String) -> GatewayError {
    GatewayError::InvalidValue { field, reason }
}

// ---- Requests to upstreams ----

pub fn encode_request(request: &Request, out: &Outgoing) -> Result<Value, GatewayError> {
    let mut body = Map::new();
    body.insert("model".into(), out.model.into());
    let system: Vec<Value> = request
        .system
        .iter()
        .filter(|text| !text.is_empty())
        .map(|text| json!({"type": "text", "text": text}))
        .collect();
    if !system.is_empty() {
        body.insert("system".into(), system.into());
    }
    let messages = encode_messages(&request.messages)?;
    let thinking = request.reasoning.as_ref().and_then(thinking_budget).filter(|_| thinking_fits(request, &messages));
    body.insert("messages".into(), messages.into());
    if !request.tools.is_empty() {
        body.insert("tools".into(), request.tools.iter().map(encode_tool).collect());
        // Anthropic refuses a tool choice without tools, and without tools none is needed.
        if let Some(choice) = encode_tool_choice(request) {
            body.insert("tool_choice".into(), choice);
        }
    }
    let mut max_tokens = request.max_tokens.unwrap_or(out.default_max_tokens);
    if let Some(budget) = thinking {
        // Anthropic counts thinking within max_tokens and requires budget < max_tokens: a cap
        // at or under the budget gets the budget on top, so the answer keeps the cap asked.
        if max_tokens <= budget {
            max_tokens += budget;
        }
        body.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": budget}));
    }
    body.insert("max_tokens".into(), max_tokens.into());
    if !request.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(request.stop));
    }
    if let Some(temperature) = request.temperature {
        body.insert("temperature".into(), temperature.into());
    }
    if let Some(top_p) = request.top_p {
        body.insert("top_p".into(), top_p.into());
    }
    body.insert("stream".into(), request.stream.into());
    Ok(Value::Object(body))
}

/// Anthropic wants user and assistant turns alternating, with a user turn's tool results
/// before anything else in it; other dialects split a turn (OpenAI gives each tool result
/// its own message), so consecutive turns of one role are joined here.
fn encode_messages(messages: &[Message]) -> Result<Vec<Value>, GatewayError> {
    let mut turns: Vec<(Role, Vec<Value>)> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let mut blocks = Vec::new();
        for part in &message.parts {
            blocks.extend(encode_part(part, index)?);
        }
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((role, joined)) if *role == message.role => joined.extend(blocks),
            _ => turns.push((message.role, blocks)),
        }
    }
    let turns = turns.into_iter().map(|(role, mut blocks)| {
        let role = match role {
            Role::User => {
                blocks.sort_by_key(|block| block["type"] != "tool_result");
                "user"
            }
            Role::Assistant => "assistant",
        };
        json!({"role": role, "content": blocks})
    });
    Ok(turns.collect())
}

/// One part as a content block, or nothing for a part Anthropic would refuse and that
/// means nothing there (empty text, thinking without Anthropic's signature).
fn encode_part(part: &Part, index: usize) -> Result<Option<Value>, GatewayError> {
    Ok(Some(match part {
        Part::Text(text) if text.is_empty() => return Ok(None),
        Part::Text(text) => json!({"type": "text", "text": text}),
        Part::Image(image) => encode_image(image, index)?,
        Part::ToolCall(call) => tool_use_block(call),
        Part::ToolResult(result) => encode_tool_result(result, index)?,
        Part::Reasoning { text, signature: Some(signature) } => {
            json!({"type": "thinking", "thinking": text, "signature": signature})
        }
        Part::Reasoning { signature: None, .. } => return Ok(None),
    }))
}

fn encode_image(image: &Image, index: usize) -> Result<Value, GatewayError> {
    let source = match image {
        Image::Base64 { media_type, data } => json!({"type": "base64", "media_type": media_type, "data": data}),
        Image::Url(url) if url.starts_with("data:") => {
            let (media_type, data) = parse_data_url(url).ok_or_else(|| {
                untranslatable(format!("messages[{index}]"), "Anthropic takes data URLs of base64 images only")
            })?;
            json!({"type": "base64", "media_type": media_type, "data": data})
        }
        Image::Url(url) => json!({"type": "url", "url": url}),
    };
    Ok(json!({"type": "image", "source": source}))
}

fn encode_tool_result(result: &ToolResult, index: usize) -> Result<Value, GatewayError> {
    let mut block = json!({"type": "tool_result", "tool_use_id": result.call_id});
    let mut content = Vec::new();
    for part in &result.content {
        content.extend(encode_part(part, index)?);
    }
    if !content.is_empty() {
        block["content"] = content.into();
    }
    if result.is_error {
        block["is_error"] = true.into();
    }
    Ok(block)
}

fn tool_use_block(call: &ToolCall) -> Value {
    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments_object(&call.arguments)})
}

fn encode_tool(tool: &Tool) -> Value {
    // Anthropic requires an object schema; OpenAI lets a function without arguments omit it.
    let schema = match &tool.parameters {
        Value::Object(schema) if !schema.is_empty() => tool.parameters.clone(),
        _ => json!({"type": "object", "properties": {}}),
    };
    let mut encoded = json!({"name": tool.name, "input_schema": schema});
    if let Some(description) = &tool.description {
        encoded["description"] = description.as_str().into();
    }
    encoded
}

fn encode_tool_choice(request: &Request) -> Option<Value> {
    let one_call = request.parallel_tool_calls == Some(false);
    let mut choice = match &request.tool_choice {
        None if !one_call => return None,
        None | Some(ToolChoice::Auto) => json!({"type": "auto"}),
        Some(ToolChoice::Required) => json!({"type": "any"}),
        Some(ToolChoice::Named(name)) => json!({"type": "tool", "name": name}),
        // `none` calls nothing, so there is no parallelism to disable.
        Some(ToolChoice::None) => return Some(json!({"type": "none"})),
    };
    if one_call {
        choice["disable_parallel_tool_use"] = true.into();
    }
    Some(choice)
}

/// Whether Anthropic takes thinking with this request. It refuses thinking with a forced
/// tool, and wants the assistant turn of an ongoing tool loop to start with its signed
/// thinking, which a turn from another provider lacks: such a request goes without
/// thinking rather than fail.
fn thinking_fits(request: &Request, messages: &[Value]) -> bool {
    let forced = matches!(request.tool_choice, Some(ToolChoice::Required | ToolChoice::Named(_)));
    let last_turn = messages.iter().rev().find(|message| message["role"] == "assistant");
    let blocks = last_turn.and_then(|turn| turn["content"].as_array()).map(Vec::as_slice).unwrap_or_default();
    let calls = blocks.iter().any(|block| block["type"] == "tool_use");
    let signed = blocks.first().is_some_and(|block| block["type"] == "thinking");
    !forced && (!calls || signed)
}

/// The thinking budget for a reasoning request: its own budget, or one for its effort.
/// `None` when it asks for no thinking.
fn thinking_budget(reasoning: &Reasoning) -> Option<u64> {
    let budget = reasoning.budget_tokens.unwrap_or(match reasoning.effort.as_deref() {
        Some("none") => 0,
        Some("minimal") => MIN_THINKING_BUDGET,
        Some("low") => 2048,
        Some("high") => 24576,
        Some("xhigh") => 32768,
        _ => 8192,
    });
    (budget > 0).then(|| budget.max(MIN_THINKING_BUDGET))
}

// ---- Whole answers ----

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    content: Vec<WireBlock>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    Thinking {
        thinking: String,
        #[serde(default)]
        signature: String,
    },
    /// Redacted thinking and Anthropic's server tool blocks mean nothing to another client.
    #[serde(other)]
    Other,
}

impl WireBlock {
    fn into_part(self) -> Option<Part> {
        match self {
            WireBlock::Text { text } => Some(Part::Text(text)),
            WireBlock::ToolUse { id, name, input } => {
                Some(Part::ToolCall(ToolCall { id, name, arguments: input.to_string() }))
            }
            WireBlock::Thinking { thinking, signature } => {
                Some(Part::Reasoning { text: thinking, signature: Some(signature).filter(|s| !s.is_empty()) })
            }
            WireBlock::Other => None,
        }
    }
}

/// Anthropic's usage, in answers, `message_start` and `message_delta` (cache fields may be
/// absent or null). `input_tokens` is already the uncached input.
#[derive(Deserialize)]
struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Anthropic does not say how many output tokens were thinking, so none are counted apart.
    fn whole(&self) -> Usage {
        Usage {
            prompt_tokens: self.input_tokens.unwrap_or(0),
            cache_read_tokens: self.cache_read_input_tokens.unwrap_or(0),
            cache_write_tokens: self.cache_creation_input_tokens.unwrap_or(0),
            completion_tokens: self.output_tokens.unwrap_or(0),
            reasoning_tokens: 0,
        }
    }

    fn report(&self) -> UsageReport {
        UsageReport {
            prompt_tokens: self.input_tokens,
            cache_read_tokens: self.cache_read_input_tokens,
            cache_write_tokens: self.cache_creation_input_tokens,
            completion_tokens: self.output_tokens,
            reasoning_tokens: None,
        }
    }
}

pub fn decode_response(body: &[u8]) -> Result<Response, serde_json::Error> {
    let message: WireMessage = serde_json::from_slice(body)?;
    Ok(Response {
        id: message.id,
        model: message.model,
        parts: message.content.into_iter().filter_map(WireBlock::into_part).collect(),
        finish: finish_of(message.stop_reason.as_deref().unwrap_or_default()),
        usage: message.usage.as_ref().map(WireUsage::whole),
    })
}

pub fn encode_response(response: &Response) -> Value {
    let content: Vec<Value> = response.parts.iter().filter_map(answer_block).collect();
    let called = response.parts.iter().any(|part| matches!(part, Part::ToolCall(_)));
    json!({
        "id": response.id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": stop_reason(response.finish, called),
        "stop_sequence": null,
        "usage": usage_json(&response.usage.unwrap_or_default()),
    })
}

fn answer_block(part: &Part) -> Option<Value> {
    Some(match part {
        Part::Text(text) => json!({"type": "text", "text": text}),
        Part::ToolCall(call) => tool_use_block(call),
        Part::Reasoning { text, signature } => {
            json!({"type": "thinking", "thinking": text, "signature": signature.as_deref().unwrap_or_default()})
        }
        Part::Image(_) | Part::ToolResult(_) => return None,
    })
}

/// The usage of a whole answer and nothing else; a usage without both counts is none.
pub fn usage_in(body: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Answer {
        usage: Option<WireUsage>,
    }
    let answer: Answer = serde_json::from_slice(body)?;
    let counted = |usage: &WireUsage| usage.input_tokens.is_some() && usage.output_tokens.is_some();
    Ok(answer.usage.filter(counted).as_ref().map(WireUsage::whole))
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.prompt_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "output_tokens": usage.completion_tokens,
    })
}

/// `pause_turn` (a long server-tool turn paused) ends the turn as far as the hub goes;
/// `model_context_window_exceeded` is a cut like `max_tokens`.
fn finish_of(stop_reason: &str) -> Finish {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => Finish::Length,
        "tool_use" => Finish::ToolCalls,
        "refusal" => Finish::ContentFilter,
        _ => Finish::Stop,
    }
}

/// Some upstreams (Gemini) end a turn that called tools with a plain stop; Anthropic
/// clients run the tools on `tool_use`, so a stop after calls is written as one.
fn stop_reason(finish: Finish, called_tools: bool) -> &'static str {
    match finish {
        Finish::Stop if called_tools => "tool_use",
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolCalls => "tool_use",
        Finish::ContentFilter => "refusal",
    }
}

// ---- Streams from upstreams ----

/// Follows an Anthropic stream. Tool calls are numbered 0, 1, ... in order of their blocks
/// (Anthropic's block index also counts text and thinking blocks), so a writer of another
/// dialect gets dense tool call indices.
#[derive(Default)]
pub struct Reader {
    /// The block index of each tool_use block so far; a call's hub index is its position.
    tool_blocks: Vec<u32>,
}

/// Every Anthropic stream event in one flat shape, read in one pass without a JSON tree.
#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    index: Option<u32>,
    message: Option<WireStartedMessage>,
    #[serde(borrow)]
    content_block: Option<WireFragment<'a>>,
    #[serde(borrow)]
    delta: Option<WireFragment<'a>>,
    usage: Option<WireUsage>,
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireStartedMessage {
    usage: Option<WireUsage>,
}

/// A starting content block, a block's delta or a message delta.
#[derive(Deserialize)]
struct WireFragment<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Cow<'a, str>,
    id: Option<String>,
    name: Option<String>,
    text: Option<String>,
    thinking: Option<String>,
    partial_json: Option<String>,
    /// A tool_use block's input as it starts: `{}` from Anthropic itself.
    input: Option<Value>,
    stop_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

impl StreamReader for Reader {
    fn read(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) {
        let Ok(event) = serde_json::from_str::<WireEvent>(&event.data) else {
            return;
        };
        match &*event.kind {
            "message_start" => {
                if let Some(usage) = event.message.and_then(|message| message.usage) {
                    out.push(StreamEvent::Usage(usage.report()));
                }
            }
            "content_block_start" => {
                if let (Some(index), Some(block)) = (event.index, event.content_block) {
                    self.block_start(index, block, out);
                }
            }
            "content_block_delta" => {
                if let (Some(index), Some(delta)) = (event.index, event.delta) {
                    self.block_delta(index, delta, out);
                }
            }
            "message_delta" => {
                if let Some(reason) = event.delta.and_then(|delta| delta.stop_reason) {
                    out.push(StreamEvent::Finish(finish_of(&reason)));
                }
                if let Some(usage) = event.usage {
                    out.push(StreamEvent::Usage(usage.report()));
                }
            }
            "error" => {
                if let Some(error) = event.error {
                    out.push(StreamEvent::Error { kind: error.kind, message: error.message });
                }
            }
            // ping, message_stop and content_block_stop carry nothing the hub needs.
            _ => {}
        }
    }
}

impl Reader {
    fn block_start(&mut self, index: u32, block: WireFragment, out: &mut Vec<StreamEvent>) {
        match &*block.kind {
            "tool_use" => {
                let call = self.tool_blocks.len() as u32;
                self.tool_blocks.push(index);
                // Anthropic streams the input as deltas after an empty `{}`; an upstream that
                // sends the whole input with the block start is read too.
                let arguments = match block.input {
                    Some(Value::Object(input)) if !input.is_empty() => Value::Object(input).to_string(),
                    _ => String::new(),
                };
                let (id, name) = (block.id.unwrap_or_default(), block.name.unwrap_or_default());
                out.push(StreamEvent::ToolCall { index: call, id: Some(id), name: Some(name), arguments });
            }
            "text" => push_text(out, StreamEvent::Text, block.text),
            "thinking" => push_text(out, StreamEvent::Reasoning, block.thinking),
            _ => {}
        }
    }

    fn block_delta(&mut self, index: u32, delta: WireFragment, out: &mut Vec<StreamEvent>) {
        match &*delta.kind {
            "text_delta" => push_text(out, StreamEvent::Text, delta.text),
            "thinking_delta" => push_text(out, StreamEvent::Reasoning, delta.thinking),
            "input_json_delta" => {
                let call = self.tool_blocks.iter().rposition(|block| *block == index);
                let arguments = delta.partial_json.filter(|json| !json.is_empty());
                if let (Some(call), Some(arguments)) = (call, arguments) {
                    out.push(StreamEvent::ToolCall { index: call as u32, id: None, name: None, arguments });
                }
            }
            // signature_delta: only Anthropic can check a signature, and hub streams carry none.
            _ => {}
        }
    }
}

fn push_text(out: &mut Vec<StreamEvent>, event: fn(String) -> StreamEvent, text: Option<String>) {
    if let Some(text) = text.filter(|text| !text.is_empty()) {
        out.push(event(text));
    }
}

// ---- Streams to clients ----

/// Writes an Anthropic stream: `message_start`, content blocks numbered from 0 (one open at a
/// time, each opened before its deltas), then `message_delta` with usage and `message_stop`.
///
/// Tool calls of other dialects may be interleaved (fragments of call B between those of
/// call A), but Anthropic has one open block at a time. A call that starts while another
/// call's block is open waits, its arguments buffered, until that block closes (at the end,
/// or when text or reasoning comes); so no argument is lost or reordered. A call's block
/// closes early only if text or reasoning arrives between its own fragments, which no
/// dialect's stream does; a fragment after that has no block to go to and is dropped.
pub struct Writer {
    start: StreamStart,
    started: bool,
    /// After an error or the end nothing more is written.
    ended: bool,
    next_block: u32,
    open: Option<OpenBlock>,
    /// Every tool call seen, in order of first appearance.
    calls: Vec<Call>,
}

#[derive(Clone, Copy)]
struct OpenBlock {
    index: u32,
    kind: BlockKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Text,
    Thinking,
    /// The position of the call in `Writer::calls`.
    Tool(usize),
}

struct Call {
    index: u32,
    id: String,
    name: String,
    state: CallState,
}

enum CallState {
    /// Waiting for a block, with its arguments so far.
    Waiting(String),
    Open,
    Closed,
}

#[derive(Serialize)]
struct BlockDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: u32,
    delta: Delta<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type")]
enum Delta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

impl Writer {
    pub fn new(start: StreamStart) -> Writer {
        Writer { start, started: false, ended: false, next_block: 0, open: None, calls: Vec::new() }
    }

    fn stream_text(&mut self, kind: BlockKind, delta: Delta, out: &mut BytesMut) {
        if !self.open.is_some_and(|open| open.kind == kind) {
            self.close_block(out);
            let block = match kind {
                BlockKind::Text => json!({"type": "text", "text": ""}),
                _ => json!({"type": "thinking", "thinking": "", "signature": ""}),
            };
            self.open_block(kind, &block, out);
        }
        self.delta(delta, out);
    }

    fn tool_call(&mut self, index: u32, id: Option<&str>, name: Option<&str>, arguments: &str, out: &mut BytesMut) {
        let position = self.calls.iter().position(|call| call.index == index).unwrap_or_else(|| {
            // The first fragment names the call; a nameless first fragment still gets a block.
            let (id, name) = (id.unwrap_or_default().to_owned(), name.unwrap_or_default().to_owned());
            self.calls.push(Call { index, id, name, state: CallState::Waiting(String::new()) });
            self.calls.len() - 1
        });
        match &mut self.calls[position].state {
            CallState::Waiting(buffer) => buffer.push_str(arguments),
            CallState::Open => self.arguments(arguments, out),
            CallState::Closed => {}
        }
        if !self.open.is_some_and(|open| matches!(open.kind, BlockKind::Tool(_))) {
            self.open_waiting_call(out);
        }
    }

    /// Opens the block of the first call waiting for one (closing an open text or thinking
    /// block) and writes its buffered arguments. False when no call waits.
    fn open_waiting_call(&mut self, out: &mut BytesMut) -> bool {
        let Some(position) = self.calls.iter().position(|call| matches!(call.state, CallState::Waiting(_))) else {
            return false;
        };
        self.close_block(out);
        let call = &mut self.calls[position];
        let block = json!({"type": "tool_use", "id": call.id, "name": call.name, "input": {}});
        let CallState::Waiting(buffered) = std::mem::replace(&mut call.state, CallState::Open) else {
            return false;
        };
        self.open_block(BlockKind::Tool(position), &block, out);
        self.arguments(&buffered, out);
        true
    }

    fn arguments(&mut self, arguments: &str, out: &mut BytesMut) {
        // An empty input_json_delta says nothing and some clients choke on it.
        if !arguments.is_empty() {
            self.delta(Delta::InputJson { partial_json: arguments }, out);
        }
    }

    fn open_block(&mut self, kind: BlockKind, block: &Value, out: &mut BytesMut) {
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some(OpenBlock { index, kind });
        let start = json!({"type": "content_block_start", "index": index, "content_block": block});
        emit(out, "content_block_start", &start);
    }

    fn delta(&mut self, delta: Delta, out: &mut BytesMut) {
        if let Some(open) = self.open {
            emit(out, "content_block_delta", &BlockDelta { kind: "content_block_delta", index: open.index, delta });
        }
    }

    fn close_block(&mut self, out: &mut BytesMut) {
        let Some(open) = self.open.take() else {
            return;
        };
        if let BlockKind::Tool(position) = open.kind {
            self.calls[position].state = CallState::Closed;
        }
        emit(out, "content_block_stop", &json!({"type": "content_block_stop", "index": open.index}));
    }
}

impl StreamWriter for Writer {
    fn start(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        let message = json!({"type": "message_start", "message": {
            "id": self.start.id, "type": "message", "role": "assistant", "model": self.start.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": self.start.prompt_tokens, "output_tokens": 1},
        }});
        emit(out, "message_start", &message);
    }

    fn write(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.ended {
            return;
        }
        self.start(out);
        match event {
            StreamEvent::Text(text) if !text.is_empty() => self.stream_text(BlockKind::Text, Delta::Text { text }, out),
            StreamEvent::Reasoning(thinking) if !thinking.is_empty() => {
                self.stream_text(BlockKind::Thinking, Delta::Thinking { thinking }, out)
            }
            StreamEvent::ToolCall { index, id, name, arguments } => {
                self.tool_call(*index, id.as_deref(), name.as_deref(), arguments, out)
            }
            StreamEvent::Error { kind, message } => {
                self.ended = true;
                emit(out, "error", &json!({"type": "error", "error": {"type": kind, "message": message}}));
            }
            // Finish and usage come again to `finish`; empty text needs no block.
            _ => {}
        }
    }

    fn finish(&mut self, finish: Finish, usage: &Usage, out: &mut BytesMut) {
        if self.ended {
            return;
        }
        self.start(out);
        self.close_block(out);
        while self.open_waiting_call(out) {
            self.close_block(out);
        }
        self.ended = true;
        let delta = json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(finish, !self.calls.is_empty()), "stop_sequence": null},
            "usage": usage_json(usage),
        });
        emit(out, "message_delta", &delta);
        emit(out, "message_stop", &json!({"type": "message_stop"}));
    }
}

fn emit(out: &mut BytesMut, name: &str, data: &impl Serialize) {
    sse::write_json(out, Some(name), data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(body: Value) -> Result<Request, GatewayError> {
        decode_request(body.as_object().expect("a JSON object"))
    }

    fn text(text: &str) -> Part {
        Part::Text(text.into())
    }

    fn call(id: &str, arguments: &str) -> Part {
        Part::ToolCall(ToolCall { id: id.into(), name: "weather".into(), arguments: arguments.into() })
    }

    fn result(id: &str, content: Vec<Part>, is_error: bool) -> Part {
        Part::ToolResult(ToolResult { call_id: id.into(), content, is_error })
    }

    fn user(parts: Vec<Part>) -> Message {
        Message { role: Role::User, parts }
    }

    fn assistant(parts: Vec<Part>) -> Message {
        Message { role: Role::Assistant, parts }
    }

    fn weather_schema() -> Value {
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
    }

    #[test]
    fn system_messages_among_the_turns_join_the_system_prompt() {
        let body = json!({"model": "m", "system": "Be brief.", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": [{"type": "text", "text": "# Environment"}]},
            {"role": "user", "content": "again"},
        ]});
        let request = decode_request(body.as_object().unwrap()).unwrap();
        assert_eq!(request.system, ["Be brief.", "# Environment"]);
        assert_eq!(request.messages.len(), 2);
    }

    #[test]
    fn decodes_a_claude_code_request() {
        let request = decode(json!({
            "model": "claude-sonnet-4-5", "max_tokens": 32000, "stream": true,
            "system": [
                {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                {"type": "text", "text": "Be brief."},
            ],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Weather here and there?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/map.png"}},
                ]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "Two calls.", "signature": "EqQB"},
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Rome"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "cache_control": {"type": "ephemeral"},
                     "content": [
                        {"type": "text", "text": "18C"},
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/sky.png"}},
                    ]},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "timeout", "is_error": true},
                ]},
                {"role": "assistant", "content": "Paris is mild."},
            ],
            "tools": [
                {"name": "weather", "description": "Current weather", "input_schema": weather_schema(),
                 "cache_control": {"type": "ephemeral"}},
                {"type": "custom", "name": "now", "input_schema": {"type": "object"}},
            ],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
            "thinking": {"type": "enabled", "budget_tokens": 10000},
            "stop_sequences": ["END"], "temperature": 1, "top_p": 0.95,
            "metadata": {"user_id": "u1"}, "service_tier": "auto", "mcp_servers": [], "container": null,
            "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
        }))
        .unwrap();
        let expected = Request {
            system: vec!["You are Claude Code.".into(), "Be brief.".into()],
            messages: vec![
                user(vec![
                    text("Weather here and there?"),
                    Part::Image(Image::Base64 { media_type: "image/png".into(), data: "iVBOR".into() }),
                    Part::Image(Image::Url("https://example.com/map.png".into())),
                ]),
                assistant(vec![
                    Part::Reasoning { text: "Two calls.".into(), signature: Some("EqQB".into()) },
                    call("toolu_1", r#"{"city":"Paris"}"#),
                    call("toolu_2", r#"{"city":"Rome"}"#),
                ]),
                user(vec![
                    result(
                        "toolu_1",
                        vec![text("18C"), Part::Image(Image::Url("https://example.com/sky.png".into()))],
                        false,
                    ),
                    result("toolu_2", vec![text("timeout")], true),
                ]),
                assistant(vec![text("Paris is mild.")]),
            ],
            tools: vec![
                Tool {
                    name: "weather".into(),
                    description: Some("Current weather".into()),
                    parameters: weather_schema(),
                },
                Tool { name: "now".into(), description: None, parameters: json!({"type": "object"}) },
            ],
            tool_choice: Some(ToolChoice::Auto),
            parallel_tool_calls: Some(false),
            max_tokens: Some(32000),
            stop: vec!["END".into()],
            temperature: Some(1.0),
            top_p: Some(0.95),
            reasoning: Some(Reasoning { effort: None, budget_tokens: Some(10000) }),
            stream: true,
            omitted: Vec::new(),
        };
        assert_eq!(request, expected);
    }

    /// A one-message request with the fields of `extra` set (or replaced).
    fn hello_with(extra: Value) -> Value {
        let mut body = json!({"messages": [{"role": "user", "content": "hi"}]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    }

    #[test]
    fn decodes_tool_choices_and_thinking_modes() {
        let decoded = |extra: Value| decode(hello_with(extra)).unwrap();
        let named = decoded(json!({"tool_choice": {"type": "tool", "name": "weather"}, "system": "Be brief."}));
        assert_eq!((named.tool_choice, named.parallel_tool_calls), (Some(ToolChoice::Named("weather".into())), None));
        assert_eq!(named.system, vec!["Be brief.".to_owned()]);
        assert_eq!(decoded(json!({"tool_choice": {"type": "any"}})).tool_choice, Some(ToolChoice::Required));
        assert_eq!(decoded(json!({"tool_choice": {"type": "none"}})).tool_choice, Some(ToolChoice::None));
        assert_eq!(decoded(json!({"thinking": {"type": "disabled"}})).reasoning, None);
        let adaptive = decoded(json!({"thinking": {"type": "adaptive"}})).reasoning;
        assert_eq!(adaptive, Some(Reasoning { effort: Some("medium".into()), budget_tokens: None }));
    }

    #[test]
    fn refuses_bad_and_anthropic_only_requests_naming_the_field() {
        let refusal = |extra: Value| {
            let error = decode(hello_with(extra)).unwrap_err();
            (error.code().unwrap().to_owned(), error.param().unwrap().to_owned())
        };
        let message = |content: Value| json!({"messages": [{"role": "user", "content": content}]});
        let cases = [
            (json!({"messages": [{"role": "tool", "content": "hi"}]}), "invalid_value", "messages[0].role"),
            (
                json!({"messages": [{"role": "system", "content": [{"type": "image", "source": {"type": "url", "url": "u"}}]}]}),
                "invalid_value",
                "messages[0].content",
            ),
            (message(json!(5)), "invalid_type", "messages[0].content"),
            (
                message(json!([{"type": "text", "text": "a"}, {"type": "video"}])),
                "invalid_value",
                "messages[0].content[1].type",
            ),
            (message(json!([{"type": "document", "source": {}}])), "untranslatable_feature", "messages[0].content[0]"),
            (
                message(json!([{"type": "image", "source": {"type": "file", "file_id": "f"}}])),
                "untranslatable_feature",
                "messages[0].content[0].source",
            ),
            (
                message(json!([{"type": "tool_result", "tool_use_id": "toolu_9", "content": "ok"}])),
                "invalid_value",
                "messages[0]",
            ),
            (
                message(json!([{"type": "tool_result", "tool_use_id": "t",
                            "content": [{"type": "tool_use", "id": "t", "name": "x", "input": {}}]}])),
                "invalid_value",
                "messages[0].content[0].content[0].type",
            ),
            (
                json!({"messages": [{"role": "assistant",
                    "content": [{"type": "tool_use", "name": "x", "input": {}}]}]}),
                "missing_field",
                "messages[0].content[0].id",
            ),
            (
                json!({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
                "untranslatable_feature",
                "tools[0]",
            ),
            (
                json!({"tools": [{"name": "a", "input_schema": {}}, {"type": "bash_20250124", "name": "bash"}]}),
                "untranslatable_feature",
                "tools[1]",
            ),
            (json!({"tools": [{"name": "a"}]}), "missing_field", "tools[0].input_schema"),
            (json!({"top_k": 5}), "untranslatable_feature", "top_k"),
            (
                json!({"output_config": {"effort": "low", "format": {}}}),
                "untranslatable_feature",
                "output_config.format",
            ),
            (
                json!({"mcp_servers": [{"type": "url", "url": "https://mcp.example.com"}]}),
                "untranslatable_feature",
                "mcp_servers",
            ),
            (json!({"tool_choice": {"type": "sometimes"}}), "invalid_value", "tool_choice.type"),
            (json!({"thinking": {"type": "enabled"}}), "missing_field", "thinking.budget_tokens"),
            (json!({"system": [{"type": "image"}]}), "invalid_value", "system[0].type"),
            (json!({"max_tokens": "many"}), "invalid_type", "max_tokens"),
        ];
        for (extra, code, param) in cases {
            assert_eq!(refusal(extra.clone()), (code.to_owned(), param.to_owned()), "{extra}");
        }
        assert_eq!(decode(json!({})).unwrap_err().param(), Some("messages"));
    }

    /// A conversation as the OpenAI codec gives it: each tool result its own turn, empty
    /// assistant text beside tool calls, reasoning without a signature (so, in a tool loop
    /// and with a forced tool, Anthropic takes no thinking).
    fn translated_request() -> Request {
        Request {
            system: vec!["Be brief.".into(), "Use tools.".into()],
            messages: vec![
                user(vec![
                    text("Weather in Paris and Rome?"),
                    Part::Image(Image::Url("data:image/png;base64,AAAA".into())),
                    Part::Image(Image::Url("https://example.com/map.png".into())),
                ]),
                assistant(vec![
                    Part::Reasoning { text: "Two cities.".into(), signature: None },
                    text(""),
                    call("call_1", r#"{"city":"Paris"}"#),
                    call("call_2", r#"{"city":"Rome"}"#),
                ]),
                user(vec![result("call_1", vec![text("18C")], false)]),
                user(vec![text("Also, hurry.")]),
                user(vec![result("call_2", vec![text("timeout")], true)]),
            ],
            tools: vec![
                Tool {
                    name: "weather".into(),
                    description: Some("Current weather".into()),
                    parameters: weather_schema(),
                },
                Tool { name: "now".into(), description: None, parameters: Value::Null },
            ],
            tool_choice: Some(ToolChoice::Required),
            parallel_tool_calls: Some(false),
            max_tokens: Some(1000),
            stop: vec!["END".into()],
            temperature: Some(0.5),
            top_p: None,
            reasoning: Some(Reasoning { effort: Some("high".into()), budget_tokens: None }),
            stream: true,
            omitted: Vec::new(),
        }
    }

    fn outgoing() -> Outgoing<'static> {
        Outgoing { model: "claude-sonnet-4-5", default_max_tokens: 4096 }
    }

    #[test]
    fn encodes_a_translated_conversation_in_alternating_turns() {
        let body = encode_request(&translated_request(), &outgoing()).unwrap();
        let expected = json!({
            "model": "claude-sonnet-4-5",
            "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use tools."}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "Weather in Paris and Rome?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/map.png"}},
                ]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "18C"}]},
                    {"type": "tool_result", "tool_use_id": "call_2",
                     "content": [{"type": "text", "text": "timeout"}], "is_error": true},
                    {"type": "text", "text": "Also, hurry."},
                ]},
            ],
            "tools": [
                {"name": "weather", "description": "Current weather", "input_schema": weather_schema()},
                {"name": "now", "input_schema": {"type": "object", "properties": {}}},
            ],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "max_tokens": 1000,
            "stop_sequences": ["END"],
            "temperature": 0.5,
            "stream": true,
        });
        assert_eq!(body, expected);
    }

    #[test]
    fn encodes_signed_thinking_default_caps_and_budgets() {
        let request = Request {
            messages: vec![
                user(vec![text("hi")]),
                assistant(vec![Part::Reasoning { text: "Hm.".into(), signature: Some("EqQB".into()) }, text("Hello.")]),
            ],
            ..Request::default()
        };
        let body = encode_request(&request, &outgoing()).unwrap();
        assert_eq!(
            body["messages"][1]["content"][0],
            json!({"type": "thinking", "thinking": "Hm.", "signature": "EqQB"})
        );
        assert_eq!((body["max_tokens"].clone(), body.get("thinking"), body.get("system")), (json!(4096), None, None));
        let thinking = |effort: Option<&str>, budget_tokens: Option<u64>| {
            let reasoning = Reasoning { effort: effort.map(str::to_owned), budget_tokens };
            let body = encode_request(&Request { reasoning: Some(reasoning), ..request.clone() }, &outgoing()).unwrap();
            (body["thinking"]["budget_tokens"].as_u64(), body["max_tokens"].as_u64().unwrap())
        };
        assert_eq!(thinking(Some("low"), None), (Some(2048), 4096));
        assert_eq!(thinking(Some("medium"), None), (Some(8192), 4096 + 8192));
        assert_eq!(thinking(None, Some(500)), (Some(MIN_THINKING_BUDGET), 4096), "raised to Anthropic's minimum");
        assert_eq!(thinking(Some("none"), None), (None, 4096));
        let tool_loop = |signature: Option<&str>, tool_choice: Option<ToolChoice>| {
            let thought = Part::Reasoning { text: "Hm.".into(), signature: signature.map(str::to_owned) };
            let messages = vec![
                user(vec![text("hi")]),
                assistant(vec![thought, call("call_1", "{}")]),
                user(vec![result("call_1", vec![text("ok")], false)]),
            ];
            let reasoning = Some(Reasoning { effort: Some("low".into()), budget_tokens: None });
            let tools = vec![Tool { name: "weather".into(), description: None, parameters: weather_schema() }];
            let request = Request { messages, reasoning, tools, tool_choice, ..Request::default() };
            encode_request(&request, &outgoing()).unwrap().get("thinking").is_some()
        };
        assert!(tool_loop(Some("EqQB"), None), "a signed tool loop keeps thinking");
        assert!(!tool_loop(None, None), "an unsigned tool loop goes without");
        assert!(!tool_loop(Some("EqQB"), Some(ToolChoice::Named("weather".into()))), "a forced tool goes without");
        let refused =
            Request { messages: vec![user(vec![Part::Image(Image::Url("data:image/png,AAAA".into()))])], ..request };
        assert_eq!(encode_request(&refused, &outgoing()).unwrap_err().code(), Some("untranslatable_feature"));
    }

    #[test]
    fn decodes_an_answer_with_thinking_tool_calls_and_cached_usage() {
        let answer = json!({
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [
                {"type": "thinking", "thinking": "Need weather.", "signature": "EqQB"},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 12, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 2000,
                      "output_tokens": 40, "service_tier": "standard",
                      "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 0}},
        });
        let usage = Usage {
            prompt_tokens: 12,
            cache_read_tokens: 2000,
            cache_write_tokens: 100,
            completion_tokens: 40,
            reasoning_tokens: 0,
        };
        let expected = Response {
            id: "msg_01".into(),
            model: "claude-sonnet-4-5".into(),
            parts: vec![
                Part::Reasoning { text: "Need weather.".into(), signature: Some("EqQB".into()) },
                text("Checking."),
                call("toolu_1", r#"{"city":"Paris"}"#),
            ],
            finish: Finish::ToolCalls,
            usage: Some(usage),
        };
        let bytes = answer.to_string().into_bytes();
        assert_eq!(decode_response(&bytes).unwrap(), expected);
        assert_eq!(usage_in(&bytes).unwrap(), Some(usage));
    }

    #[test]
    fn maps_every_stop_reason_and_partial_usage() {
        let finish = |reason: Value| {
            decode_response(json!({"content": [], "stop_reason": reason}).to_string().as_bytes()).unwrap().finish
        };
        for (reason, expected) in [
            (json!("end_turn"), Finish::Stop),
            (json!("stop_sequence"), Finish::Stop),
            (json!("pause_turn"), Finish::Stop),
            (json!(null), Finish::Stop),
            (json!("max_tokens"), Finish::Length),
            (json!("model_context_window_exceeded"), Finish::Length),
            (json!("tool_use"), Finish::ToolCalls),
            (json!("refusal"), Finish::ContentFilter),
        ] {
            assert_eq!(finish(reason.clone()), expected, "{reason}");
        }
        let nulls = br#"{"content":[],"usage":{"input_tokens":7,"output_tokens":2,"cache_read_input_tokens":null}}"#;
        let usage = Usage { prompt_tokens: 7, completion_tokens: 2, ..Usage::default() };
        assert_eq!(decode_response(nulls).unwrap().usage, Some(usage));
        assert_eq!(usage_in(nulls).unwrap(), Some(usage));
        assert_eq!(usage_in(br#"{"content":[]}"#).unwrap(), None);
        assert_eq!(usage_in(br#"{"usage":{"input_tokens":7}}"#).unwrap(), None, "half a usage is none");
        assert!(usage_in(b"{not json").is_err());
    }

    #[test]
    fn encodes_an_answer_for_an_anthropic_client() {
        let response = Response {
            id: "msg_gw1".into(),
            model: "claude-sonnet-4-5".into(),
            parts: vec![
                Part::Reasoning { text: "Plan.".into(), signature: None },
                text("Checking."),
                call("call_1", "{\"city\":"),
            ],
            finish: Finish::Stop,
            usage: Some(Usage {
                prompt_tokens: 10,
                cache_read_tokens: 90,
                cache_write_tokens: 0,
                completion_tokens: 30,
                reasoning_tokens: 12,
            }),
        };
        let expected = json!({
            "id": "msg_gw1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [
                {"type": "thinking", "thinking": "Plan.", "signature": ""},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {}},
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "cache_creation_input_tokens": 0,
                      "output_tokens": 30},
        });
        assert_eq!(encode_response(&response), expected);
        let cut = Response { parts: vec![text("Hel")], finish: Finish::Length, usage: None, ..response };
        assert_eq!(encode_response(&cut)["stop_reason"], "max_tokens");
        assert_eq!(encode_response(&cut)["usage"]["output_tokens"], 0);
    }

    fn event(data: Value) -> sse::Event {
        let name = data["type"].as_str().map(str::to_owned);
        sse::Event { name, data: data.to_string(), raw: bytes::Bytes::new() }
    }

    fn read_all(events: impl IntoIterator<Item = sse::Event>) -> Vec<StreamEvent> {
        let mut reader = Reader::default();
        let mut out = Vec::new();
        for event in events {
            reader.read(&event, &mut out);
        }
        out
    }

    fn fragment(index: u32, arguments: &str) -> StreamEvent {
        StreamEvent::ToolCall { index, id: None, name: None, arguments: arguments.into() }
    }

    fn call_start(index: u32, id: &str) -> StreamEvent {
        StreamEvent::ToolCall { index, id: Some(id.into()), name: Some("weather".into()), arguments: String::new() }
    }

    #[test]
    fn reads_a_stream_of_thinking_text_and_two_tool_calls() {
        let delta = |index: u32, delta: Value| json!({"type": "content_block_delta", "index": index, "delta": delta});
        let start =
            |index: u32, block: Value| json!({"type": "content_block_start", "index": index, "content_block": block});
        let stop = |index: u32| json!({"type": "content_block_stop", "index": index});
        let json_delta =
            |index: u32, json: &str| delta(index, json!({"type": "input_json_delta", "partial_json": json}));
        let tool = |id: &str| json!({"type": "tool_use", "id": id, "name": "weather", "input": {}});
        let stream = [
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-5", "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 25, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 0,
                          "output_tokens": 1}}}),
            json!({"type": "ping"}),
            start(0, json!({"type": "thinking", "thinking": "", "signature": ""})),
            delta(0, json!({"type": "thinking_delta", "thinking": "Plan."})),
            delta(0, json!({"type": "signature_delta", "signature": "EqQB"})),
            stop(0),
            start(1, json!({"type": "text", "text": ""})),
            delta(1, json!({"type": "text_delta", "text": "Checking \"both\"."})),
            stop(1),
            start(2, tool("toolu_a")),
            json_delta(2, ""),
            json_delta(2, "{\"city\":"),
            json_delta(2, "\"Paris\"}"),
            stop(2),
            start(3, tool("toolu_b")),
            json_delta(3, "{\"city\":\"Rome\"}"),
            stop(3),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                   "usage": {"output_tokens": 87}}),
            json!({"type": "message_stop"}),
        ];
        let mut events: Vec<sse::Event> = stream.into_iter().map(event).collect();
        events.insert(2, sse::Event { name: None, data: String::new(), raw: bytes::Bytes::from_static(b": ping\n\n") });
        events.push(sse::Event { name: None, data: "not json".into(), raw: bytes::Bytes::new() });
        let opening = UsageReport {
            prompt_tokens: Some(25),
            cache_read_tokens: Some(1000),
            cache_write_tokens: Some(0),
            completion_tokens: Some(1),
            reasoning_tokens: None,
        };
        let expected = vec![
            StreamEvent::Usage(opening),
            StreamEvent::Reasoning("Plan.".into()),
            StreamEvent::Text("Checking \"both\".".into()),
            call_start(0, "toolu_a"),
            fragment(0, "{\"city\":"),
            fragment(0, "\"Paris\"}"),
            call_start(1, "toolu_b"),
            fragment(1, "{\"city\":\"Rome\"}"),
            StreamEvent::Finish(Finish::ToolCalls),
            StreamEvent::Usage(UsageReport { completion_tokens: Some(87), ..UsageReport::default() }),
        ];
        assert_eq!(read_all(events), expected);
        let error = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        let expected = StreamEvent::Error { kind: "overloaded_error".into(), message: "Overloaded".into() };
        assert_eq!(read_all([event(error)]), vec![expected]);
    }

    fn start_values() -> StreamStart {
        StreamStart { id: "msg_gw1".into(), model: "claude-sonnet-4-5".into(), prompt_tokens: 25, include_usage: false }
    }

    /// What a writer wrote for `events` (then `finish`, if given), as SSE events.
    fn written(events: &[StreamEvent], finish: Option<(Finish, Usage)>) -> Vec<sse::Event> {
        let mut writer = Writer::new(start_values());
        let mut out = BytesMut::new();
        writer.start(&mut out);
        writer.start(&mut out);
        for event in events {
            writer.write(event, &mut out);
        }
        if let Some((finish, usage)) = finish {
            writer.finish(finish, &usage, &mut out);
        }
        sse::Decoder::default().push(&out)
    }

    fn data(event: &sse::Event) -> Value {
        serde_json::from_str(&event.data).unwrap()
    }

    /// One line per event: its name, block index and block or delta type.
    fn outline(events: &[sse::Event]) -> Vec<String> {
        events
            .iter()
            .map(|event| {
                let data = data(event);
                let kind = data["content_block"]["type"].as_str().or(data["delta"]["type"].as_str());
                let index = data["index"].as_u64().map(|index| index.to_string());
                [event.name.clone(), index, kind.map(str::to_owned)].into_iter().flatten().collect::<Vec<_>>().join(" ")
            })
            .collect()
    }

    /// What the Anthropic SDK requires of a stream: one `message_start` first, blocks numbered
    /// from 0 and opened one at a time before their deltas, each delta of its block's kind,
    /// every block closed before `message_delta`, and `message_stop` last.
    fn assert_well_formed(events: &[sse::Event]) {
        assert_eq!(events[0].name.as_deref(), Some("message_start"));
        let (mut next, mut open): (u64, Option<(u64, String)>) = (0, None);
        for event in &events[1..] {
            let data = data(event);
            assert_eq!(event.name.as_deref(), data["type"].as_str(), "the event name is its type");
            let index = data["index"].as_u64();
            match event.name.as_deref().unwrap() {
                "content_block_start" => {
                    assert!(open.is_none(), "one block open at a time");
                    assert_eq!(index, Some(next), "blocks numbered in order");
                    open = Some((next, data["content_block"]["type"].as_str().unwrap().to_owned()));
                    next += 1;
                }
                "content_block_delta" => {
                    let (open_index, kind) = open.clone().expect("a delta inside an open block");
                    assert_eq!(index, Some(open_index));
                    let expected = match kind.as_str() {
                        "text" => "text_delta",
                        "thinking" => "thinking_delta",
                        _ => "input_json_delta",
                    };
                    assert_eq!(data["delta"]["type"], expected);
                    assert_ne!(data["delta"]["partial_json"], "", "no empty argument deltas");
                }
                "content_block_stop" => assert_eq!(index, open.take().map(|(index, _)| index)),
                "message_delta" => assert!(open.is_none(), "every block closed before message_delta"),
                "message_stop" => assert!(std::ptr::eq(event, events.last().unwrap()), "message_stop last"),
                other => panic!("unexpected event {other}"),
            }
        }
    }

    /// Each tool call's id and whole arguments, as a client reading the stream gets them.
    fn calls_read_back(events: Vec<sse::Event>) -> Vec<(String, String)> {
        let mut calls: Vec<(String, String)> = Vec::new();
        for event in read_all(events) {
            if let StreamEvent::ToolCall { index, id, arguments, .. } = event {
                match id {
                    Some(id) => calls.push((id, arguments)),
                    None => calls[index as usize].1.push_str(&arguments),
                }
            }
        }
        calls
    }

    #[test]
    fn writes_interleaved_parallel_tool_calls_one_block_at_a_time() {
        let usage = Usage {
            prompt_tokens: 25,
            cache_read_tokens: 1000,
            cache_write_tokens: 0,
            completion_tokens: 87,
            reasoning_tokens: 30,
        };
        let events = [
            StreamEvent::Reasoning("Plan.".into()),
            StreamEvent::Text(String::new()),
            StreamEvent::Text("Checking ".into()),
            StreamEvent::Text("both.".into()),
            call_start(0, "call_a"),
            call_start(1, "call_b"),
            fragment(0, "{\"city\":"),
            fragment(1, "{\"city\":\"Rome\"}"),
            fragment(0, "\"Paris\"}"),
            StreamEvent::Finish(Finish::ToolCalls),
            StreamEvent::Usage(UsageReport::whole(usage)),
        ];
        let stream = written(&events, Some((Finish::ToolCalls, usage)));
        assert_well_formed(&stream);
        let expected = [
            "message_start",
            "content_block_start 0 thinking",
            "content_block_delta 0 thinking_delta",
            "content_block_stop 0",
            "content_block_start 1 text",
            "content_block_delta 1 text_delta",
            "content_block_delta 1 text_delta",
            "content_block_stop 1",
            "content_block_start 2 tool_use",
            "content_block_delta 2 input_json_delta",
            "content_block_delta 2 input_json_delta",
            "content_block_stop 2",
            "content_block_start 3 tool_use",
            "content_block_delta 3 input_json_delta",
            "content_block_stop 3",
            "message_delta",
            "message_stop",
        ];
        assert_eq!(outline(&stream), expected);
        assert_eq!(
            data(&stream[0]),
            json!({"type": "message_start", "message": {
            "id": "msg_gw1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}})
        );
        assert_eq!(
            data(&stream[12]),
            json!({"type": "content_block_start", "index": 3,
            "content_block": {"type": "tool_use", "id": "call_b", "name": "weather", "input": {}}})
        );
        assert_eq!(
            data(&stream[13]),
            json!({"type": "content_block_delta", "index": 3,
            "delta": {"type": "input_json_delta", "partial_json": "{\"city\":\"Rome\"}"}})
        );
        assert_eq!(
            data(&stream[15]),
            json!({"type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"input_tokens": 25, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 0,
                      "output_tokens": 87}})
        );
        let expected =
            vec![("call_a".into(), r#"{"city":"Paris"}"#.into()), ("call_b".into(), r#"{"city":"Rome"}"#.into())];
        assert_eq!(calls_read_back(stream), expected);
    }

    #[test]
    fn a_waiting_call_keeps_its_arguments_across_text() {
        let events = [
            call_start(0, "call_a"),
            fragment(0, "{}"),
            call_start(1, "call_b"),
            fragment(1, "{\"city\":"),
            StreamEvent::Text("One moment.".into()),
            fragment(1, "\"Rome\"}"),
            call_start(2, "call_c"),
        ];
        let stream = written(&events, Some((Finish::Stop, Usage::default())));
        assert_well_formed(&stream);
        let blocks: Vec<String> =
            outline(&stream).into_iter().filter(|line| line.starts_with("content_block_start")).collect();
        assert_eq!(
            blocks,
            [
                "content_block_start 0 tool_use",
                "content_block_start 1 text",
                "content_block_start 2 tool_use",
                "content_block_start 3 tool_use"
            ]
        );
        assert_eq!(
            data(&stream[stream.len() - 2])["delta"]["stop_reason"],
            "tool_use",
            "a stop after calls is tool_use"
        );
        let expected = vec![
            ("call_a".into(), "{}".into()),
            ("call_b".into(), r#"{"city":"Rome"}"#.into()),
            ("call_c".into(), String::new()),
        ];
        assert_eq!(calls_read_back(stream), expected);
    }

    #[test]
    fn an_error_ends_the_stream() {
        let error = StreamEvent::Error { kind: "overloaded_error".into(), message: "Overloaded".into() };
        let stream = written(
            &[StreamEvent::Text("Hel".into()), error, StreamEvent::Text("lo".into())],
            Some((Finish::Stop, Usage::default())),
        );
        assert_eq!(
            outline(&stream),
            ["message_start", "content_block_start 0 text", "content_block_delta 0 text_delta", "error"]
        );
        assert_eq!(
            data(&stream[3]),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        );
    }

    #[test]
    fn an_empty_answer_is_still_a_whole_stream() {
        let stream = written(&[], Some((Finish::Length, Usage::default())));
        assert_well_formed(&stream);
        assert_eq!(outline(&stream), ["message_start", "message_delta", "message_stop"]);
        assert_eq!(data(&stream[1])["delta"]["stop_reason"], "max_tokens");
    }
}
