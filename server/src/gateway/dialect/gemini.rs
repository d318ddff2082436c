//! Google Gemini `generateContent` (v1beta, camelCase JSON) to and from the hub.
//!
//! The model and whether to stream travel in the URL (`:generateContent`,
//! `:streamGenerateContent?alt=sse`), never in the body, so neither is read or written here.
//! Gemini refers to calls by function name where the hub uses ids: id-less calls get
//! generated ids and id-less responses are paired with their call by name.

use super::conversation::{
    Finish, Image, Message, Part, Reasoning, Request, Response, Role, StreamEvent, StreamStart, Tool, ToolCall,
    ToolChoice, ToolResult, Usage, UsageReport,
};
use super::{
    arguments_object, field, invalid_type, object, optional_array, optional_bool, optional_f64, optional_str,
    optional_u64, parse_data_url, sse, untranslatable, Outgoing, StreamReader, StreamWriter,
};
use crate::gateway::error::GatewayError;
use bytes::BytesMut;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Gemini 3 refuses a history whose function calls lack the thought signature it issued.
/// Calls made by another provider have none; this is the value Google documents for them.
const FOREIGN_SIGNATURE: &str = "skip_thought_signature_validator";

/// Tool entries other than `functionDeclarations` are Google's own tools (search, code
/// execution, URL context, maps...), which run at Google.
const FUNCTIONS: &str = "functionDeclarations";

// ---------------------------------------------------------------------------------------
// Requests from clients

pub fn decode_request(body: &Map<String, Value>) -> Result<Request, GatewayError> {
    let body = &camel_case_fields(body);
    if field(body, "cachedContent").is_some() {
        return Err(untranslatable("cachedContent", "it names a context cache stored at Google"));
    }
    let mut request = Request {
        system: system_instruction(body)?,
        messages: contents(optional_array(body, "contents", "contents")?)?,
        tools: tools(body)?,
        ..Request::default()
    };
    request.tool_choice = tool_choice(body, &request.tools)?;
    if let Some(config) = field(body, "generationConfig") {
        generation_config(object(config, "generationConfig")?, &mut request)?;
    }
    request.check()?;
    Ok(request)
}

/// The body with Google's field names in camelCase. Gemini's JSON accepts snake_case too
/// (`parameters_json_schema`, as google-genai sends it), so both are read; the values
/// of payload fields (schemas, arguments, tool responses) belong to the caller and keep
/// their keys.
fn camel_case_fields(body: &Map<String, Value>) -> Map<String, Value> {
    const PAYLOADS: &[&str] = &[
        "args",
        "response",
        "parameters",
        "parametersJsonSchema",
        "responseSchema",
        "responseJsonSchema",
        "labels",
        "metadata",
    ];
    fn camel(name: &str) -> String {
        let mut out = String::with_capacity(name.len());
        let mut upper = false;
        for c in name.chars() {
            match c {
                '_' => upper = true,
                c if upper => {
                    out.extend(c.to_uppercase());
                    upper = false;
                }
                c => out.push(c),
            }
        }
        out
    }
    fn walk(value: &Value) -> Value {
        match value {
            Value::Object(fields) => Value::Object(camel_case_fields(fields)),
            Value::Array(items) => Value::Array(items.iter().map(walk).collect()),
            other => other.clone(),
        }
    }
    body.iter()
        .map(|(name, value)| {
            let name = if name.contains('_') { camel(name) } else { name.clone() };
            let value = if PAYLOADS.contains(&name.as_str()) { value.clone() } else { walk(value) };
            (name, value)
        })
        .collect()
}

fn system_instruction(body: &Map<String, Value>) -> Result<Vec<String>, GatewayError> {
    let content = match field(body, "systemInstruction") {
        None => return Ok(Vec::new()),
        Some(Value::String(text)) => return Ok(vec![text.clone()]),
        Some(value) => object(value, "systemInstruction")?,
    };
    let parts = optional_array(content, "parts", "systemInstruction.parts")?;
    parts
        .iter()
        .enumerate()
        .map(|(j, part)| {
            let path = format!("systemInstruction.parts[{j}]");
            let text = optional_str(object(part, &path)?, "text", &format!("{path}.text"))?;
            text.map(str::to_owned).ok_or_else(|| invalid_value(path, "a system instruction is text only"))
        })
        .collect()
}

fn contents(contents: &[Value]) -> Result<Vec<Message>, GatewayError> {
    let mut calls = Calls::default();
    let mut messages = Vec::with_capacity(contents.len());
    for (turn, content) in contents.iter().enumerate() {
        let path = format!("contents[{turn}]");
        let content = object(content, &path)?;
        let role = match optional_str(content, "role", &format!("{path}.role"))? {
            None | Some("user" | "function") => Role::User,
            Some("model") => Role::Assistant,
            Some(_) => return Err(invalid_value(format!("{path}.role"), "must be `user` or `model`")),
        };
        let mut parts = Vec::new();
        for (j, part) in optional_array(content, "parts", &format!("{path}.parts"))?.iter().enumerate() {
            parts.extend(content_part(part, &format!("{path}.parts[{j}]"), role, turn, &mut calls)?);
        }
        // A turn of only signatures or empty texts says nothing; other providers refuse empty turns.
        if !parts.is_empty() {
            messages.push(Message { role, parts });
        }
    }
    Ok(messages)
}

/// One part of a content; `None` for parts that carry nothing the hub keeps.
fn content_part(
    value: &Value,
    path: &str,
    role: Role,
    turn: usize,
    calls: &mut Calls,
) -> Result<Option<Part>, GatewayError> {
    let part = object(value, path)?;
    let sub = |name: &str| format!("{path}.{name}");
    if let Some(text) = optional_str(part, "text", &sub("text"))? {
        let thought = optional_bool(part, "thought", &sub("thought"))?.unwrap_or(false);
        let text = text.to_owned();
        return Ok(match (text.is_empty(), thought) {
            (true, _) => None,
            (false, true) => Some(Part::Reasoning { text, signature: None }),
            (false, false) => Some(Part::Text(text)),
        });
    }
    if let Some(blob) = field(part, "inlineData") {
        let blob = object(blob, &sub("inlineData"))?;
        let media_type = required_str(blob, "mimeType", &sub("inlineData.mimeType"))?.to_owned();
        let data = required_str(blob, "data", &sub("inlineData.data"))?.to_owned();
        return Ok(Some(Part::Image(Image::Base64 { media_type, data })));
    }
    if let Some(file) = field(part, "fileData") {
        let uri = required_str(object(file, &sub("fileData"))?, "fileUri", &sub("fileData.fileUri"))?;
        return Ok(Some(Part::Image(Image::Url(uri.to_owned()))));
    }
    if let Some(call) = field(part, "functionCall") {
        if role != Role::Assistant {
            return Err(invalid_value(sub("functionCall"), "function calls belong in `model` turns"));
        }
        return function_call(object(call, &sub("functionCall"))?, &sub("functionCall"), turn, calls).map(Some);
    }
    if let Some(response) = field(part, "functionResponse") {
        if role != Role::User {
            return Err(invalid_value(sub("functionResponse"), "function responses belong in `user` turns"));
        }
        let response = object(response, &sub("functionResponse"))?;
        return function_response(response, path, calls).map(Some);
    }
    if ["executableCode", "codeExecutionResult"].iter().any(|name| field(part, name).is_some()) {
        return Err(untranslatable(path, "code execution runs at Google; no other provider has it"));
    }
    // Gemini 3 may end a turn with a part holding only its thought signature.
    if part.keys().all(|key| key == "thought" || key == "thoughtSignature") {
        return Ok(None);
    }
    Err(invalid_value(path, "a part must hold text, inlineData, fileData, functionCall or functionResponse"))
}

fn function_call(call: &Map<String, Value>, path: &str, turn: usize, calls: &mut Calls) -> Result<Part, GatewayError> {
    let name = required_str(call, "name", &format!("{path}.name"))?;
    let arguments = match field(call, "args") {
        None => "{}".to_owned(),
        Some(args @ Value::Object(_)) => args.to_string(),
        Some(_) => return Err(invalid_type(&format!("{path}.args"), "an object")),
    };
    let id = calls.call(optional_str(call, "id", &format!("{path}.id"))?, name, turn);
    Ok(Part::ToolCall(ToolCall { id, name: name.to_owned(), arguments }))
}

/// `part_path` names the whole part, which is what an unpaired response gets blamed on.
fn function_response(response: &Map<String, Value>, part_path: &str, calls: &mut Calls) -> Result<Part, GatewayError> {
    let path = format!("{part_path}.functionResponse");
    let name = required_str(response, "name", &format!("{path}.name"))?;
    let id = optional_str(response, "id", &format!("{path}.id"))?;
    let (text, is_error) = match field(response, "response") {
        None => ("{}".to_owned(), false),
        Some(Value::Object(body)) => response_text(body),
        Some(_) => return Err(invalid_type(&format!("{path}.response"), "an object")),
    };
    let call_id = calls.answer(id, name).ok_or_else(|| {
        invalid_value(part_path, format!("the response of `{name}` answers no earlier function call"))
    })?;
    Ok(Part::ToolResult(ToolResult { call_id, content: vec![Part::Text(text)], is_error }))
}

/// Gemini clients wrap a plain result as `{"output": …}` or `{"result": …}` and a failure
/// as `{"error": …}`; those travel as the bare text, anything else as its JSON.
fn response_text(response: &Map<String, Value>) -> (String, bool) {
    if let (1, Some((key, Value::String(text)))) = (response.len(), response.iter().next()) {
        match key.as_str() {
            "output" | "result" => return (text.clone(), false),
            "error" => return (text.clone(), true),
            _ => {}
        }
    }
    (serde_json::to_string(response).unwrap_or_default(), false)
}

/// The function calls of a request so far, to number id-less calls and pair responses.
#[derive(Default)]
struct Calls {
    seen: Vec<SeenCall>,
}

struct SeenCall {
    id: String,
    name: String,
    turn: usize,
    answered: bool,
}

impl Calls {
    fn call(&mut self, id: Option<&str>, name: &str, turn: usize) -> String {
        let id = id.map_or_else(|| format!("call_{}", self.seen.len()), str::to_owned);
        self.seen.push(SeenCall { id: id.clone(), name: name.to_owned(), turn, answered: false });
        id
    }

    /// The id a response answers: the call it names; else, of the latest turn with an
    /// unanswered call of that function, the first such call (Gemini answers parallel
    /// calls in the order they were made). A named id matching no call falls back to the
    /// name: Gemini CLI answers id-less calls with ids of its own making.
    fn answer(&mut self, id: Option<&str>, name: &str) -> Option<String> {
        let named = id.and_then(|id| self.seen.iter().position(|call| call.id == id));
        let open = |call: &SeenCall| !call.answered && call.name == name;
        let index = named.or_else(|| {
            let turn = self.seen.iter().filter(|call| open(call)).map(|call| call.turn).max()?;
            self.seen.iter().position(|call| open(call) && call.turn == turn)
        })?;
        let call = &mut self.seen[index];
        call.answered = true;
        Some(call.id.clone())
    }
}

fn tools(body: &Map<String, Value>) -> Result<Vec<Tool>, GatewayError> {
    let mut tools = Vec::new();
    for (i, entry) in optional_array(body, "tools", "tools")?.iter().enumerate() {
        let path = format!("tools[{i}]");
        let entry = object(entry, &path)?;
        if entry.iter().any(|(key, value)| key != FUNCTIONS && !value.is_null()) {
            return Err(untranslatable(path, "Google's built-in tools run at Google; only functions translate"));
        }
        let declarations = optional_array(entry, FUNCTIONS, &format!("{path}.{FUNCTIONS}"))?;
        for (k, declaration) in declarations.iter().enumerate() {
            tools.push(function_declaration(declaration, &format!("{path}.{FUNCTIONS}[{k}]"))?);
        }
    }
    Ok(tools)
}

fn function_declaration(value: &Value, path: &str) -> Result<Tool, GatewayError> {
    let declaration = object(value, path)?;
    let name = required_str(declaration, "name", &format!("{path}.name"))?.to_owned();
    let description = optional_str(declaration, "description", &format!("{path}.description"))?.map(str::to_owned);
    let schema = |name: &str| -> Result<Option<Value>, GatewayError> {
        field(declaration, name)
            .map(|schema| object(schema, &format!("{path}.{name}")).map(|_| schema.clone()))
            .transpose()
    };
    let parameters = match (schema("parametersJsonSchema")?, schema("parameters")?) {
        (Some(schema), _) => schema,
        (None, Some(mut schema)) => {
            lower_types(&mut schema);
            schema
        }
        (None, None) => json!({"type": "object", "properties": {}}),
    };
    Ok(Tool { name, description, parameters })
}

/// Gemini's `parameters` is its OpenAPI subset, whose SDKs write types in capitals
/// (`"OBJECT"`); JSON Schema, which the other dialects expect, wants them in lower case.
fn lower_types(schema: &mut Value) {
    let Some(schema) = schema.as_object_mut() else { return };
    if let Some(Value::String(kind)) = schema.get_mut("type") {
        kind.make_ascii_lowercase();
    }
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        properties.values_mut().for_each(lower_types);
    }
    if let Some(items) = schema.get_mut("items") {
        lower_types(items);
    }
    if let Some(Value::Array(variants)) = schema.get_mut("anyOf") {
        variants.iter_mut().for_each(lower_types);
    }
}

fn tool_choice(body: &Map<String, Value>, tools: &[Tool]) -> Result<Option<ToolChoice>, GatewayError> {
    let Some(config) = field(body, "toolConfig") else { return Ok(None) };
    let path = "toolConfig.functionCallingConfig";
    let Some(calling) = field(object(config, "toolConfig")?, "functionCallingConfig") else { return Ok(None) };
    let calling = object(calling, path)?;
    let allowed_path = format!("{path}.allowedFunctionNames");
    let allowed = strings(calling, "allowedFunctionNames", &allowed_path)?;
    Ok(match optional_str(calling, "mode", &format!("{path}.mode"))? {
        None | Some("MODE_UNSPECIFIED") => None,
        Some("AUTO" | "VALIDATED") => Some(ToolChoice::Auto),
        Some("NONE") => Some(ToolChoice::None),
        Some("ANY") => Some(match allowed.as_slice() {
            [] => ToolChoice::Required,
            [name] => ToolChoice::Named(name.clone()),
            _ if tools.iter().all(|tool| allowed.contains(&tool.name)) => ToolChoice::Required,
            _ => return Err(untranslatable(allowed_path, "other providers force one function or any, not a subset")),
        }),
        Some(_) => return Err(invalid_value(format!("{path}.mode"), "must be AUTO, ANY, NONE or VALIDATED")),
    })
}

fn generation_config(config: &Map<String, Value>, request: &mut Request) -> Result<(), GatewayError> {
    let path = |name: &str| format!("generationConfig.{name}");
    refuse_output_features(config)?;
    request.max_tokens = optional_u64(config, "maxOutputTokens", &path("maxOutputTokens"))?;
    request.temperature = optional_f64(config, "temperature", &path("temperature"))?;
    request.top_p = optional_f64(config, "topP", &path("topP"))?;
    request.stop = strings(config, "stopSequences", &path("stopSequences"))?;
    if let Some(thinking) = field(config, "thinkingConfig") {
        request.reasoning = thinking_config(object(thinking, &path("thinkingConfig"))?)?;
    }
    Ok(())
}

/// Output shapes the hub cannot ask another provider for. `topK` is left out on purpose:
/// Gemini CLI sends it with every chat request, and it only tunes sampling.
fn refuse_output_features(config: &Map<String, Value>) -> Result<(), GatewayError> {
    let path = |name: &str| format!("generationConfig.{name}");
    if optional_u64(config, "candidateCount", &path("candidateCount"))?.is_some_and(|count| count > 1) {
        return Err(untranslatable(path("candidateCount"), "the hub carries one answer per request"));
    }
    if optional_str(config, "responseMimeType", &path("responseMimeType"))?.is_some_and(|mime| mime != "text/plain") {
        return Err(untranslatable(path("responseMimeType"), "structured output does not translate"));
    }
    for name in ["responseSchema", "responseJsonSchema"] {
        if field(config, name).is_some() {
            return Err(untranslatable(path(name), "structured output does not translate"));
        }
    }
    let modalities = strings(config, "responseModalities", &path("responseModalities"))?;
    if modalities.iter().any(|modality| !modality.eq_ignore_ascii_case("text")) {
        return Err(untranslatable(path("responseModalities"), "only text answers translate"));
    }
    if field(config, "speechConfig").is_some() {
        return Err(untranslatable(path("speechConfig"), "only text answers translate"));
    }
    Ok(())
}

fn thinking_config(config: &Map<String, Value>) -> Result<Option<Reasoning>, GatewayError> {
    let path = |name: &str| format!("generationConfig.thinkingConfig.{name}");
    let mut reasoning = Reasoning::default();
    if let Some(budget) = field(config, "thinkingBudget") {
        match budget.as_i64().ok_or_else(|| invalid_type(&path("thinkingBudget"), "an integer"))? {
            0 => return Ok(None),
            // -1 lets Gemini choose how long to think: no fixed budget, a middling effort.
            -1 => reasoning.effort = Some("medium".to_owned()),
            budget if budget > 0 => reasoning.budget_tokens = Some(budget as u64),
            _ => return Err(invalid_value(path("thinkingBudget"), "must be -1, 0 or a positive number of tokens")),
        }
    }
    if let Some(level) = optional_str(config, "thinkingLevel", &path("thinkingLevel"))? {
        match level.to_ascii_lowercase().as_str() {
            "thinking_level_unspecified" => {}
            level @ ("minimal" | "low" | "medium" | "high") => reasoning.effort = Some(level.to_owned()),
            _ => return Err(invalid_value(path("thinkingLevel"), "must be MINIMAL, LOW, MEDIUM or HIGH")),
        }
    }
    Ok((reasoning != Reasoning::default()).then_some(reasoning))
}

/// A list of strings (empty when absent), each element's path named when it is not one.
fn strings(map: &Map<String, Value>, name: &str, path: &str) -> Result<Vec<String>, GatewayError> {
    let items = optional_array(map, name, path)?;
    items
        .iter()
        .enumerate()
        .map(|(k, item)| {
            item.as_str().map(str::to_owned).ok_or_else(|| invalid_type(&format!("{path}[{k}]"), "a string"))
        })
        .collect()
}

fn required_str<'a>(map: &'a Map<String, Value>, name: &str, path: &str) -> Result<&'a str, GatewayError> {
    optional_str(map, name, path)?.ok_or_else(|| GatewayError::MissingField(path.to_owned()))
}

fn invalid_value(field: impl Into<String>, reason: impl Into<String>) -> GatewayError {
    GatewayError::InvalidValue { field: field.into(), reason: reason.into() }
}

// ---------------------------------------------------------------------------------------
// Requests to Gemini upstreams

pub fn encode_request(request: &Request, _out: &Outgoing) -> Result<Value, GatewayError> {
    let mut contents = Vec::with_capacity(request.messages.len());
    for (index, message) in request.messages.iter().enumerate() {
        contents.extend(content(request, index, message)?);
    }
    let mut body = Map::new();
    body.insert("contents".into(), contents.into());
    if !request.system.is_empty() {
        let parts: Vec<Value> = request.system.iter().map(|text| json!({"text": text})).collect();
        body.insert("systemInstruction".into(), json!({"parts": parts}));
    }
    if !request.tools.is_empty() {
        let declarations: Vec<Value> = request.tools.iter().map(declaration).collect();
        body.insert("tools".into(), json!([{ FUNCTIONS: declarations }]));
    }
    if let Some(choice) = &request.tool_choice {
        body.insert("toolConfig".into(), json!({"functionCallingConfig": calling_config(choice)}));
    }
    let config = generation_config_of(request);
    if !config.is_empty() {
        body.insert("generationConfig".into(), config.into());
    }
    Ok(body.into())
}

/// One message as a Gemini content; `None` when nothing of it is left (Gemini refuses
/// empty contents, and reasoning is dropped: Gemini only accepts its own thought signatures).
fn content(request: &Request, index: usize, message: &Message) -> Result<Option<Value>, GatewayError> {
    let mut parts = Vec::with_capacity(message.parts.len());
    let mut signed = false;
    for part in &message.parts {
        match part {
            Part::Text(text) => parts.push(json!({"text": text})),
            Part::Image(image) => parts.push(image_part(image)),
            Part::ToolCall(call) => {
                let mut part = json!({"functionCall": {
                    "id": call.id, "name": call.name, "args": arguments_object(&call.arguments),
                }});
                // Google signs the first call of each step only; so do we.
                if !signed {
                    part["thoughtSignature"] = FOREIGN_SIGNATURE.into();
                    signed = true;
                }
                parts.push(part);
            }
            Part::ToolResult(result) => {
                let name = request.tool_name_of(&result.call_id).ok_or_else(|| {
                    invalid_value(format!("messages[{index}]"), format!("`{}` answers no tool call", result.call_id))
                })?;
                parts.push(function_response_part(result, name));
                // A function response holds a JSON object; its images follow it as parts.
                parts.extend(result.content.iter().filter_map(|part| match part {
                    Part::Image(image) => Some(image_part(image)),
                    _ => None,
                }));
            }
            Part::Reasoning { .. } => {}
        }
    }
    let role = match message.role {
        Role::User => "user",
        Role::Assistant => "model",
    };
    Ok((!parts.is_empty()).then(|| json!({"role": role, "parts": parts})))
}

fn function_response_part(result: &ToolResult, name: &str) -> Value {
    let texts: Vec<&str> = result
        .content
        .iter()
        .filter_map(|part| match part {
            Part::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let key = if result.is_error { "error" } else { "output" };
    json!({"functionResponse": {"id": result.call_id, "name": name, "response": { key: texts.join("\n") }}})
}

fn image_part(image: &Image) -> Value {
    let inline = |media_type: &str, data: &str| json!({"inlineData": {"mimeType": media_type, "data": data}});
    match image {
        Image::Base64 { media_type, data } => inline(media_type, data),
        Image::Url(url) => match parse_data_url(url) {
            Some((media_type, data)) => inline(media_type, data),
            None => json!({"fileData": {"fileUri": url}}),
        },
    }
}

/// `parametersJsonSchema` takes full JSON Schema, where `parameters` refuses keywords
/// outside Google's OpenAPI subset (`additionalProperties`, `$ref`, ...).
fn declaration(tool: &Tool) -> Value {
    let mut declaration = json!({"name": tool.name, "parametersJsonSchema": tool.parameters});
    if let Some(description) = &tool.description {
        declaration["description"] = description.as_str().into();
    }
    declaration
}

fn calling_config(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!({"mode": "AUTO"}),
        ToolChoice::None => json!({"mode": "NONE"}),
        ToolChoice::Required => json!({"mode": "ANY"}),
        ToolChoice::Named(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
    }
}

fn generation_config_of(request: &Request) -> Map<String, Value> {
    let mut config = Map::new();
    if let Some(max_tokens) = request.max_tokens {
        config.insert("maxOutputTokens".into(), max_tokens.into());
    }
    if let Some(temperature) = request.temperature {
        config.insert("temperature".into(), temperature.into());
    }
    if let Some(top_p) = request.top_p {
        config.insert("topP".into(), top_p.into());
    }
    if !request.stop.is_empty() {
        config.insert("stopSequences".into(), request.stop.clone().into());
    }
    if let Some(reasoning) = &request.reasoning {
        let budget = thinking_budget(reasoning);
        let thinking = if budget > 0 {
            json!({"thinkingBudget": budget, "includeThoughts": true})
        } else {
            json!({"thinkingBudget": 0})
        };
        config.insert("thinkingConfig".into(), thinking);
    }
    config
}

fn thinking_budget(reasoning: &Reasoning) -> u64 {
    reasoning.budget_tokens.unwrap_or(match reasoning.effort.as_deref() {
        Some("none") => 0,
        Some("minimal" | "low") => 1024,
        Some("high" | "xhigh") => 24576,
        _ => 8192,
    })
}

// ---------------------------------------------------------------------------------------
// Answers from Gemini upstreams, whole and streamed (one `GenerateContentResponse` each)

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Answer {
    candidates: Vec<Candidate>,
    prompt_feedback: Option<PromptFeedback>,
    usage_metadata: Option<UsageMetadata>,
    response_id: Option<String>,
    model_version: Option<String>,
    error: Option<WireError>,
}

impl Answer {
    /// The first candidate's parts and finish reason (the hub carries one answer), and
    /// whether the prompt itself was blocked.
    fn first(self) -> (Vec<WirePart>, Option<String>, bool) {
        let blocked = self.prompt_feedback.is_some_and(|feedback| feedback.block_reason.is_some());
        let Some(candidate) = self.candidates.into_iter().next() else { return (Vec::new(), None, blocked) };
        (candidate.content.map(|content| content.parts).unwrap_or_default(), candidate.finish_reason, blocked)
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Candidate {
    content: Option<WireContent>,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireContent {
    parts: Vec<WirePart>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WirePart {
    text: Option<String>,
    thought: bool,
    function_call: Option<WireCall>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireCall {
    id: Option<String>,
    name: String,
    args: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct UsageMetadata {
    prompt_token_count: u64,
    cached_content_token_count: u64,
    candidates_token_count: u64,
    thoughts_token_count: u64,
    tool_use_prompt_token_count: u64,
}

impl UsageMetadata {
    /// Gemini's prompt count includes the cached part; thoughts are counted apart from
    /// the candidates, where the hub counts them inside completion.
    fn usage(&self) -> Usage {
        let prompt = self.prompt_token_count + self.tool_use_prompt_token_count;
        Usage {
            prompt_tokens: prompt.saturating_sub(self.cached_content_token_count),
            cache_read_tokens: self.cached_content_token_count,
            cache_write_tokens: 0,
            completion_tokens: self.candidates_token_count + self.thoughts_token_count,
            reasoning_tokens: self.thoughts_token_count,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireError {
    message: String,
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageOnly {
    usage_metadata: Option<UsageMetadata>,
}

pub fn decode_response(body: &[u8]) -> Result<Response, serde_json::Error> {
    let answer: Answer = serde_json::from_slice(body)?;
    let id = answer.response_id.clone().unwrap_or_default();
    let model = answer.model_version.clone().unwrap_or_default();
    let usage = answer.usage_metadata.as_ref().map(UsageMetadata::usage);
    let (wire_parts, reason, blocked) = answer.first();
    let mut calls = 0;
    let parts: Vec<Part> = wire_parts.into_iter().filter_map(|part| hub_part(part, &id, &mut calls)).collect();
    let finish = if blocked { Finish::ContentFilter } else { finish_of(reason.as_deref(), calls > 0) };
    Ok(Response { id, model, parts, finish, usage })
}

pub fn usage_in(body: &[u8]) -> Result<Option<Usage>, serde_json::Error> {
    Ok(serde_json::from_slice::<UsageOnly>(body)?.usage_metadata.as_ref().map(UsageMetadata::usage))
}

/// An answer part in hub terms; `calls` counts the calls so far. Calls Gemini sent without
/// an id get one from the response id, so that ids stay unique across the turns of a
/// conversation (the other dialects pair results with calls by id alone).
fn hub_part(part: WirePart, response_id: &str, calls: &mut u32) -> Option<Part> {
    if let Some(call) = part.function_call {
        let id = call.id.unwrap_or_else(|| match response_id {
            "" => format!("call_{calls}"),
            response_id => format!("call_{response_id}_{calls}"),
        });
        *calls += 1;
        let arguments = call.args.map_or_else(|| "{}".to_owned(), |args| args.to_string());
        return Some(Part::ToolCall(ToolCall { id, name: call.name, arguments }));
    }
    let text = part.text.filter(|text| !text.is_empty())?;
    Some(if part.thought { Part::Reasoning { text, signature: None } } else { Part::Text(text) })
}

fn finish_of(reason: Option<&str>, saw_call: bool) -> Finish {
    match reason {
        Some("MAX_TOKENS") => Finish::Length,
        Some("SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY") => {
            Finish::ContentFilter
        }
        Some("STOP") | None if saw_call => Finish::ToolCalls,
        _ => Finish::Stop,
    }
}

/// Reads `streamGenerateContent?alt=sse`: every event is a whole `GenerateContentResponse`,
/// and Gemini sends each function call whole in one part.
#[derive(Default)]
pub struct Reader {
    /// Calls seen so far in the stream: the next call's index.
    calls: u32,
}

impl StreamReader for Reader {
    fn read(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) {
        let Ok(mut chunk) = serde_json::from_str::<Answer>(&event.data) else { return };
        if let Some(error) = chunk.error.take() {
            let kind = if error.status.is_empty() { "UNKNOWN".to_owned() } else { error.status };
            out.push(StreamEvent::Error { kind, message: error.message });
            return;
        }
        let response_id = chunk.response_id.take().unwrap_or_default();
        let usage = chunk.usage_metadata.take();
        let (parts, reason, blocked) = chunk.first();
        for part in parts {
            out.push(match hub_part(part, &response_id, &mut self.calls) {
                Some(Part::Text(text)) => StreamEvent::Text(text),
                Some(Part::Reasoning { text, .. }) => StreamEvent::Reasoning(text),
                Some(Part::ToolCall(call)) => StreamEvent::ToolCall {
                    index: self.calls - 1,
                    id: Some(call.id),
                    name: Some(call.name),
                    arguments: call.arguments,
                },
                _ => continue,
            });
        }
        if blocked {
            out.push(StreamEvent::Finish(Finish::ContentFilter));
        } else if let Some(reason) = reason {
            out.push(StreamEvent::Finish(finish_of(Some(&reason), self.calls > 0)));
        }
        if let Some(usage) = usage {
            out.push(StreamEvent::Usage(UsageReport::whole(usage.usage())));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Answers to Gemini clients

pub fn encode_response(response: &Response) -> Value {
    let parts: Vec<Value> = response.parts.iter().filter_map(answer_part).collect();
    let mut body = json!({
        "candidates": [candidate(parts, Some(response.finish))],
        "modelVersion": response.model,
        "responseId": response.id,
    });
    if let Some(usage) = &response.usage {
        body["usageMetadata"] = usage_metadata(usage);
    }
    body
}

fn answer_part(part: &Part) -> Option<Value> {
    Some(match part {
        Part::Text(text) => json!({"text": text}),
        Part::Reasoning { text, .. } => json!({"text": text, "thought": true}),
        Part::ToolCall(call) => json!({"functionCall": {
            "id": call.id, "name": call.name, "args": arguments_object(&call.arguments),
        }}),
        Part::Image(image) => image_part(image),
        Part::ToolResult(_) => return None,
    })
}

/// The one candidate; without parts it has no content, as Gemini's own blocked or
/// finishing candidates do.
fn candidate(parts: Vec<Value>, finish: Option<Finish>) -> Value {
    let mut candidate = json!({"index": 0});
    if !parts.is_empty() {
        candidate["content"] = json!({"role": "model", "parts": parts});
    }
    if let Some(finish) = finish {
        candidate["finishReason"] = finish_name(finish).into();
    }
    candidate
}

fn finish_name(finish: Finish) -> &'static str {
    match finish {
        Finish::Stop | Finish::ToolCalls => "STOP",
        Finish::Length => "MAX_TOKENS",
        Finish::ContentFilter => "SAFETY",
    }
}

/// Usage in Gemini's terms: the prompt count includes cached input, and the candidates
/// count excludes the thoughts that the hub counts as completion.
fn usage_metadata(usage: &Usage) -> Value {
    let mut metadata = json!({
        "promptTokenCount": usage.input_total(),
        "candidatesTokenCount": usage.completion_tokens.saturating_sub(usage.reasoning_tokens),
        "totalTokenCount": usage.input_total() + usage.completion_tokens,
    });
    if usage.cache_read_tokens > 0 {
        metadata["cachedContentTokenCount"] = usage.cache_read_tokens.into();
    }
    if usage.reasoning_tokens > 0 {
        metadata["thoughtsTokenCount"] = usage.reasoning_tokens.into();
    }
    metadata
}

/// The body of `:countTokens`.
pub fn count_tokens_response(total: u64) -> Value {
    json!({"totalTokens": total})
}

/// Google's canonical status name for an HTTP status, for the error envelope
/// `{"error": {"code", "message", "status"}}` Gemini clients classify errors by.
pub fn error_status(http_status: u16) -> &'static str {
    match http_status {
        401 => "UNAUTHENTICATED",
        402 => "FAILED_PRECONDITION",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        408 | 504 => "DEADLINE_EXCEEDED",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        502 | 503 | 529 => "UNAVAILABLE",
        400..=499 => "INVALID_ARGUMENT",
        500..=599 => "INTERNAL",
        _ => "UNKNOWN",
    }
}

/// Writes a Gemini stream: one `GenerateContentResponse` per event, each carrying
/// `responseId` and `modelVersion`. Tool calls are held until the stream finishes, since a
/// Gemini function call is always sent whole.
pub struct Writer {
    start: StreamStart,
    /// Calls in order of first appearance, with their arguments so far.
    calls: Vec<PendingCall>,
    /// After an error nothing more is written.
    failed: bool,
}

struct PendingCall {
    index: u32,
    id: String,
    name: String,
    arguments: String,
}

impl Writer {
    pub fn new(start: StreamStart) -> Writer {
        Writer { start, calls: Vec::new(), failed: false }
    }

    fn chunk(&self, candidate: Value, usage: Option<&Usage>, out: &mut BytesMut) {
        let mut chunk = json!({
            "candidates": [candidate],
            "modelVersion": self.start.model,
            "responseId": self.start.id,
        });
        if let Some(usage) = usage {
            chunk["usageMetadata"] = usage_metadata(usage);
        }
        sse::write_json(out, None, &chunk);
    }

    fn add_fragment(&mut self, index: u32, id: Option<&str>, name: Option<&str>, arguments: &str) {
        let position = match self.calls.iter().position(|call| call.index == index) {
            Some(position) => position,
            None => {
                self.calls.push(PendingCall {
                    index,
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[position];
        if let Some(id) = id {
            call.id = id.to_owned();
        }
        if let Some(name) = name {
            call.name = name.to_owned();
        }
        call.arguments.push_str(arguments);
    }
}

impl StreamWriter for Writer {
    /// A Gemini stream has no opening event.
    fn start(&mut self, _out: &mut BytesMut) {}

    fn write(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.failed {
            return;
        }
        match event {
            StreamEvent::Text(text) if !text.is_empty() => {
                self.chunk(candidate(vec![json!({"text": text})], None), None, out)
            }
            StreamEvent::Reasoning(text) if !text.is_empty() => {
                self.chunk(candidate(vec![json!({"text": text, "thought": true})], None), None, out)
            }
            StreamEvent::ToolCall { index, id, name, arguments } => {
                self.add_fragment(*index, id.as_deref(), name.as_deref(), arguments)
            }
            StreamEvent::Error { message, .. } => {
                self.failed = true;
                let error = json!({"error": {"code": 500, "message": message, "status": "INTERNAL"}});
                sse::write_json(out, None, &error);
            }
            // Empty deltas say nothing; finish and usage come again through `finish`.
            _ => {}
        }
    }

    fn finish(&mut self, finish: Finish, usage: &Usage, out: &mut BytesMut) {
        if self.failed {
            return;
        }
        let parts = self
            .calls
            .drain(..)
            .map(|call| {
                json!({"functionCall": {"id": call.id, "name": call.name, "args": arguments_object(&call.arguments)}})
            })
            .collect();
        self.chunk(candidate(parts, Some(finish)), Some(usage), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::dialect::test_support::{call, text};

    fn decode(body: Value) -> Result<Request, GatewayError> {
        decode_request(body.as_object().expect("an object"))
    }

    fn refusal(body: Value) -> (String, String) {
        let error = decode(body).unwrap_err();
        (error.code().unwrap_or_default().to_owned(), error.param().unwrap_or_default().to_owned())
    }

    fn result(call_id: &str, content: Vec<Part>, is_error: bool) -> Part {
        Part::ToolResult(ToolResult { call_id: call_id.into(), content, is_error })
    }

    fn message(role: Role, parts: Vec<Part>) -> Message {
        Message { role, parts }
    }

    fn usage(prompt: u64, cached: u64, completion: u64, reasoning: u64) -> Usage {
        Usage {
            prompt_tokens: prompt,
            cache_read_tokens: cached,
            cache_write_tokens: 0,
            completion_tokens: completion,
            reasoning_tokens: reasoning,
        }
    }

    #[test]
    fn decodes_a_gemini_cli_style_request() {
        let request = decode(json!({
            "systemInstruction": {"role": "user", "parts": [{"text": "You are a CLI."}, {"text": "Be brief."}]},
            "contents": [
                {"role": "user", "parts": [
                    {"text": "What is in these?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}},
                    {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/a.jpg"}},
                ]},
                {"role": "model", "parts": [
                    {"text": "Listing first.", "thought": true, "thoughtSignature": "sig"},
                    {"functionCall": {"name": "ls", "args": {"path": "a"}}},
                    {"functionCall": {"name": "ls", "args": {"path": "b"}}},
                    {"functionCall": {"id": "given", "name": "read"}},
                ]},
                {"role": "function", "parts": [
                    {"functionResponse": {"name": "ls", "response": {"output": "a.txt"}}},
                    {"functionResponse": {"name": "ls", "response": {"files": ["b.txt"]}}},
                    {"functionResponse": {"id": "given", "name": "read", "response": {"error": "denied"}}},
                ]},
                {"parts": [{"text": ""}, {"thoughtSignature": "only"}]},
            ],
            "tools": [{"functionDeclarations": [
                {"name": "ls", "description": "List files", "parameters": {
                    "type": "OBJECT", "properties": {"path": {"type": "STRING"}, "globs": {"type": "ARRAY", "items": {"type": "STRING"}}},
                }},
                {"name": "read", "parametersJsonSchema": {"type": "object", "additionalProperties": false}},
            ]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["ls"]}},
            "generationConfig": {
                "maxOutputTokens": 2048, "temperature": 1, "topP": 0.95, "topK": 64, "stopSequences": ["END"],
                "thinkingConfig": {"includeThoughts": true, "thinkingBudget": -1},
            },
            "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
            "labels": {"team": "a"},
        }))
        .unwrap();
        let expected = Request {
            system: vec!["You are a CLI.".into(), "Be brief.".into()],
            messages: vec![
                message(
                    Role::User,
                    vec![
                        text("What is in these?"),
                        Part::Image(Image::Base64 { media_type: "image/png".into(), data: "iVBOR".into() }),
                        Part::Image(Image::Url("https://example.com/a.jpg".into())),
                    ],
                ),
                message(
                    Role::Assistant,
                    vec![
                        Part::Reasoning { text: "Listing first.".into(), signature: None },
                        call("call_0", "ls", r#"{"path":"a"}"#),
                        call("call_1", "ls", r#"{"path":"b"}"#),
                        call("given", "read", "{}"),
                    ],
                ),
                // Id-less responses answer the calls of their function in order.
                message(
                    Role::User,
                    vec![
                        result("call_0", vec![text("a.txt")], false),
                        result("call_1", vec![text(r#"{"files":["b.txt"]}"#)], false),
                        result("given", vec![text("denied")], true),
                    ],
                ),
            ],
            tools: vec![
                Tool {
                    name: "ls".into(),
                    description: Some("List files".into()),
                    parameters: json!({"type": "object", "properties": {
                        "path": {"type": "string"}, "globs": {"type": "array", "items": {"type": "string"}},
                    }}),
                },
                Tool {
                    name: "read".into(),
                    description: None,
                    parameters: json!({"type": "object", "additionalProperties": false}),
                },
            ],
            tool_choice: Some(ToolChoice::Named("ls".into())),
            max_tokens: Some(2048),
            stop: vec!["END".into()],
            temperature: Some(1.0),
            top_p: Some(0.95),
            reasoning: Some(Reasoning { effort: Some("medium".into()), budget_tokens: None }),
            ..Request::default()
        };
        assert_eq!(request, expected);
    }

    #[test]
    fn responses_without_a_known_id_pair_with_the_latest_open_call_by_name() {
        let request = decode(json!({"systemInstruction": "Plain.", "contents": [
            {"role": "model", "parts": [{"functionCall": {"name": "ls"}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "ls"}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "ls", "response": {"result": "x"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"id": "ls-17-ab", "name": "ls", "response": {}}}]},
        ]}))
        .unwrap();
        assert_eq!(request.system, vec!["Plain."]);
        assert_eq!(request.messages[2].parts, vec![result("call_1", vec![text("x")], false)]);
        // An id the client made up for an id-less call pairs by name.
        assert_eq!(request.messages[3].parts, vec![result("call_0", vec![text("{}")], false)]);
    }

    #[test]
    fn thinking_budgets_and_levels() {
        let reasoning =
            |thinking: Value| decode(json!({"generationConfig": {"thinkingConfig": thinking}})).unwrap().reasoning;
        assert_eq!(reasoning(json!({"thinkingBudget": 0})), None);
        assert_eq!(
            reasoning(json!({"thinkingBudget": 2048})),
            Some(Reasoning { effort: None, budget_tokens: Some(2048) })
        );
        assert_eq!(
            reasoning(json!({"thinkingLevel": "HIGH"})),
            Some(Reasoning { effort: Some("high".into()), budget_tokens: None })
        );
        assert_eq!(reasoning(json!({"includeThoughts": true})), None);
    }

    #[test]
    fn snake_case_field_names_are_read_but_payload_keys_are_kept() {
        let body = json!({
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "system_instruction": {"parts": [{"text": "be brief"}]},
            "tools": [{"function_declarations": [{"name": "shell",
                "parameters_json_schema": {"type": "object", "properties": {"max_lines": {"type": "integer"}}}}]}],
            "generation_config": {"max_output_tokens": 9},
        });
        let request = decode_request(body.as_object().unwrap()).unwrap();
        assert_eq!(request.system, ["be brief"]);
        assert_eq!(request.max_tokens, Some(9));
        assert_eq!(request.tools[0].parameters["properties"]["max_lines"]["type"], "integer");
    }

    #[test]
    fn bad_and_untranslatable_requests_name_the_field() {
        let cases = [
            (
                json!({"generationConfig": {"maxOutputTokens": "ten"}}),
                "invalid_type",
                "generationConfig.maxOutputTokens",
            ),
            (json!({"contents": [{"parts": []}, {"parts": {"text": "x"}}]}), "invalid_type", "contents[1].parts"),
            (json!({"contents": [{"parts": [{"text": 3}]}]}), "invalid_type", "contents[0].parts[0].text"),
            (
                json!({"generationConfig": {"stopSequences": ["a", 1]}}),
                "invalid_type",
                "generationConfig.stopSequences[1]",
            ),
            (json!({"contents": [{"role": "system", "parts": []}]}), "invalid_value", "contents[0].role"),
            (json!({"contents": [{"parts": [{"videoMetadata": {}}]}]}), "invalid_value", "contents[0].parts[0]"),
            (
                json!({"contents": [{"parts": [{"functionResponse": {"name": "ls", "response": {}}}]}]}),
                "invalid_value",
                "contents[0].parts[0]",
            ),
            (
                json!({"contents": [{"role": "user", "parts": [{"functionCall": {"name": "ls"}}]}]}),
                "invalid_value",
                "contents[0].parts[0].functionCall",
            ),
            (
                json!({"contents": [{"role": "model", "parts": [{"functionCall": {}}]}]}),
                "missing_field",
                "contents[0].parts[0].functionCall.name",
            ),
            (
                json!({"contents": [{"role": "model", "parts": [{"executableCode": {"code": "1"}}]}]}),
                "untranslatable_feature",
                "contents[0].parts[0]",
            ),
            (
                json!({"tools": [{"functionDeclarations": []}, {"googleSearch": {}}]}),
                "untranslatable_feature",
                "tools[1]",
            ),
            (json!({"tools": [{"codeExecution": {}}]}), "untranslatable_feature", "tools[0]"),
            (json!({"cachedContent": "cachedContents/abc"}), "untranslatable_feature", "cachedContent"),
            (
                json!({"generationConfig": {"candidateCount": 2}}),
                "untranslatable_feature",
                "generationConfig.candidateCount",
            ),
            (
                json!({"generationConfig": {"responseMimeType": "application/json"}}),
                "untranslatable_feature",
                "generationConfig.responseMimeType",
            ),
            (
                json!({"generationConfig": {"responseJsonSchema": {}}}),
                "untranslatable_feature",
                "generationConfig.responseJsonSchema",
            ),
            (
                json!({"tools": [{"functionDeclarations": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}],
                       "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["a", "b"]}}}),
                "untranslatable_feature",
                "toolConfig.functionCallingConfig.allowedFunctionNames",
            ),
            (
                json!({"generationConfig": {"thinkingConfig": {"thinkingBudget": -5}}}),
                "invalid_value",
                "generationConfig.thinkingConfig.thinkingBudget",
            ),
        ];
        for (body, code, param) in cases {
            assert_eq!(refusal(body.clone()), (code.to_owned(), param.to_owned()), "{body}");
        }
    }

    #[test]
    fn tool_choice_modes() {
        let choice =
            |mode: &str| decode(json!({"toolConfig": {"functionCallingConfig": {"mode": mode}}})).unwrap().tool_choice;
        assert_eq!(choice("AUTO"), Some(ToolChoice::Auto));
        assert_eq!(choice("VALIDATED"), Some(ToolChoice::Auto));
        assert_eq!(choice("ANY"), Some(ToolChoice::Required));
        assert_eq!(choice("NONE"), Some(ToolChoice::None));
    }

    #[test]
    fn encodes_a_hub_request_for_a_gemini_upstream() {
        let request = Request {
            system: vec!["Be brief.".into()],
            messages: vec![
                message(
                    Role::User,
                    vec![
                        text("Look"),
                        Part::Image(Image::Url("data:image/png;base64,AAAA".into())),
                        Part::Image(Image::Url("https://example.com/a.png".into())),
                    ],
                ),
                message(
                    Role::Assistant,
                    vec![
                        Part::Reasoning { text: "hmm".into(), signature: Some("anthropic".into()) },
                        text("Checking."),
                        call("toolu_1", "ls", r#"{"path":"a"}"#),
                        call("toolu_2", "cat", "{\"path\":"),
                    ],
                ),
                message(
                    Role::User,
                    vec![
                        result("toolu_1", vec![text("a.txt"), text("b.txt")], false),
                        result(
                            "toolu_2",
                            vec![
                                text("no such file"),
                                Part::Image(Image::Base64 { media_type: "image/gif".into(), data: "R0lG".into() }),
                            ],
                            true,
                        ),
                    ],
                ),
                message(Role::Assistant, vec![Part::Reasoning { text: "only thinking".into(), signature: None }]),
            ],
            tools: vec![Tool {
                name: "ls".into(),
                description: Some("List".into()),
                parameters: json!({"type": "object"}),
            }],
            tool_choice: Some(ToolChoice::Named("ls".into())),
            parallel_tool_calls: Some(true),
            max_tokens: Some(100),
            stop: vec!["END".into()],
            temperature: Some(0.5),
            top_p: Some(0.9),
            reasoning: Some(Reasoning { effort: Some("low".into()), budget_tokens: None }),
            stream: true,
            omitted: Vec::new(),
        };
        let body = encode_request(&request, &Outgoing { model: "gemini-2.5-pro", default_max_tokens: 4096 }).unwrap();
        assert_eq!(
            body,
            json!({
                "contents": [
                    {"role": "user", "parts": [
                        {"text": "Look"},
                        {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                        {"fileData": {"fileUri": "https://example.com/a.png"}},
                    ]},
                    {"role": "model", "parts": [
                        {"text": "Checking."},
                        {"functionCall": {"id": "toolu_1", "name": "ls", "args": {"path": "a"}},
                         "thoughtSignature": FOREIGN_SIGNATURE},
                        {"functionCall": {"id": "toolu_2", "name": "cat", "args": {}}},
                    ]},
                    {"role": "user", "parts": [
                        {"functionResponse": {"id": "toolu_1", "name": "ls", "response": {"output": "a.txt\nb.txt"}}},
                        {"functionResponse": {"id": "toolu_2", "name": "cat", "response": {"error": "no such file"}}},
                        {"inlineData": {"mimeType": "image/gif", "data": "R0lG"}},
                    ]},
                ],
                "systemInstruction": {"parts": [{"text": "Be brief."}]},
                "tools": [{"functionDeclarations": [
                    {"name": "ls", "description": "List", "parametersJsonSchema": {"type": "object"}},
                ]}],
                "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["ls"]}},
                "generationConfig": {
                    "maxOutputTokens": 100, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"],
                    "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true},
                },
            })
        );
    }

    #[test]
    fn reasoning_budgets_for_gemini() {
        let budget = |effort: &str| thinking_budget(&Reasoning { effort: Some(effort.into()), budget_tokens: None });
        assert_eq!((budget("medium"), budget("high"), budget("none")), (8192, 24576, 0));
        assert_eq!(thinking_budget(&Reasoning { effort: Some("high".into()), budget_tokens: Some(3000) }), 3000);
    }

    fn answer(finish_reason: &str, parts: Value) -> Vec<u8> {
        json!({
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish_reason, "index": 0}],
            "usageMetadata": {
                "promptTokenCount": 1200, "cachedContentTokenCount": 1000, "candidatesTokenCount": 40,
                "thoughtsTokenCount": 60, "toolUsePromptTokenCount": 5, "totalTokenCount": 1305,
            },
            "modelVersion": "gemini-2.5-flash",
            "responseId": "resp9",
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn decodes_an_answer_with_thoughts_calls_and_cached_usage() {
        let body = answer(
            "STOP",
            json!([
                {"text": "Think.", "thought": true},
                {"text": "Let me look."},
                {"functionCall": {"name": "ls", "args": {"path": "."}}, "thoughtSignature": "sig"},
                {"functionCall": {"id": "fc_2", "name": "cat", "args": {}}},
                {"text": ""},
            ]),
        );
        let response = decode_response(&body).unwrap();
        assert_eq!(
            response,
            Response {
                id: "resp9".into(),
                model: "gemini-2.5-flash".into(),
                parts: vec![
                    Part::Reasoning { text: "Think.".into(), signature: None },
                    text("Let me look."),
                    call("call_resp9_0", "ls", r#"{"path":"."}"#),
                    call("fc_2", "cat", "{}"),
                ],
                finish: Finish::ToolCalls,
                usage: Some(usage(205, 1000, 100, 60)),
            }
        );
        assert_eq!(usage_in(&body).unwrap(), Some(usage(205, 1000, 100, 60)));
        assert_eq!(usage_in(br#"{"candidates": []}"#).unwrap(), None);
    }

    #[test]
    fn finish_reasons() {
        let finish = |reason: &str| decode_response(&answer(reason, json!([{"text": "x"}]))).unwrap().finish;
        assert_eq!(finish("STOP"), Finish::Stop);
        assert_eq!(finish("MAX_TOKENS"), Finish::Length);
        for reason in ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"] {
            assert_eq!(finish(reason), Finish::ContentFilter, "{reason}");
        }
        assert_eq!(finish("MALFORMED_FUNCTION_CALL"), Finish::Stop);
        let blocked = decode_response(br#"{"promptFeedback": {"blockReason": "SAFETY"}}"#).unwrap();
        assert_eq!((blocked.finish, blocked.parts.len(), blocked.usage), (Finish::ContentFilter, 0, None));
    }

    #[test]
    fn encodes_an_answer_for_a_gemini_client() {
        let response = Response {
            id: "msg_1".into(),
            model: "claude-sonnet".into(),
            parts: vec![
                Part::Reasoning { text: "Hm.".into(), signature: Some("sig".into()) },
                text("Here."),
                call("toolu_1", "ls", r#"{"path":"."}"#),
            ],
            finish: Finish::ToolCalls,
            usage: Some(usage(200, 1000, 100, 60)),
        };
        assert_eq!(
            encode_response(&response),
            json!({
                "candidates": [{
                    "content": {"role": "model", "parts": [
                        {"text": "Hm.", "thought": true},
                        {"text": "Here."},
                        {"functionCall": {"id": "toolu_1", "name": "ls", "args": {"path": "."}}},
                    ]},
                    "finishReason": "STOP",
                    "index": 0,
                }],
                "usageMetadata": {
                    "promptTokenCount": 1200, "cachedContentTokenCount": 1000, "candidatesTokenCount": 40,
                    "thoughtsTokenCount": 60, "totalTokenCount": 1300,
                },
                "modelVersion": "claude-sonnet",
                "responseId": "msg_1",
            })
        );
        let plain =
            Response { usage: Some(usage(10, 0, 5, 0)), finish: Finish::Length, parts: vec![text("a")], ..response };
        let body = encode_response(&plain);
        assert_eq!(
            body["usageMetadata"],
            json!({"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15})
        );
        assert_eq!(body["candidates"][0]["finishReason"], "MAX_TOKENS");
    }

    fn event(data: &str) -> sse::Event {
        sse::Event { name: None, data: data.into(), raw: bytes::Bytes::new() }
    }

    #[test]
    fn reads_a_gemini_stream() {
        let chunk = |candidate: Value| {
            json!({"candidates": [candidate], "modelVersion": "gemini-2.5-pro", "responseId": "r1",
                   "usageMetadata": {"promptTokenCount": 50}})
            .to_string()
        };
        let parts = |parts: Value| json!({"content": {"role": "model", "parts": parts}, "index": 0});
        let stream = [
            String::new(),
            chunk(parts(json!([{"text": "Plan", "thought": true}]))),
            chunk(parts(json!([{"text": "Hello"}]))),
            chunk(parts(json!([
                {"functionCall": {"name": "ls", "args": {"path": "."}}, "thoughtSignature": "s"},
                {"functionCall": {"id": "c2", "name": "cat", "args": {"path": "a"}}},
            ]))),
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}],
                   "usageMetadata": {"promptTokenCount": 50, "cachedContentTokenCount": 20, "candidatesTokenCount": 9,
                                     "thoughtsTokenCount": 3},
                   "responseId": "r1"})
            .to_string(),
            "not json".into(),
        ];
        let mut reader = Reader::default();
        let mut events = Vec::new();
        for data in &stream {
            reader.read(&event(data), &mut events);
        }
        let early = StreamEvent::Usage(UsageReport::whole(usage(50, 0, 0, 0)));
        assert_eq!(
            events,
            vec![
                StreamEvent::Reasoning("Plan".into()),
                early.clone(),
                StreamEvent::Text("Hello".into()),
                early.clone(),
                StreamEvent::ToolCall {
                    index: 0,
                    id: Some("call_r1_0".into()),
                    name: Some("ls".into()),
                    arguments: r#"{"path":"."}"#.into(),
                },
                StreamEvent::ToolCall {
                    index: 1,
                    id: Some("c2".into()),
                    name: Some("cat".into()),
                    arguments: r#"{"path":"a"}"#.into(),
                },
                early,
                StreamEvent::Finish(Finish::ToolCalls),
                StreamEvent::Usage(UsageReport::whole(usage(30, 20, 12, 3))),
            ]
        );
        let mut errors = Vec::new();
        reader.read(
            &event(r#"{"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}"#),
            &mut errors,
        );
        assert_eq!(errors, vec![StreamEvent::Error { kind: "RESOURCE_EXHAUSTED".into(), message: "Quota".into() }]);
    }

    fn written(writer: &mut Writer, events: &[StreamEvent], finish: Option<(Finish, Usage)>) -> Vec<Value> {
        let mut out = BytesMut::new();
        writer.start(&mut out);
        for event in events {
            writer.write(event, &mut out);
        }
        if let Some((finish, usage)) = finish {
            writer.finish(finish, &usage, &mut out);
        }
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.is_empty() || text.ends_with("\n\n"));
        text.split_terminator("\n\n")
            .map(|event| serde_json::from_str(event.strip_prefix("data: ").expect("a data line")).unwrap())
            .collect()
    }

    fn writer() -> Writer {
        Writer::new(StreamStart {
            id: "chatcmpl-1".into(),
            model: "gpt-5".into(),
            prompt_tokens: 0,
            include_usage: false,
        })
    }

    fn fragment(index: u32, head: Option<(&str, &str)>, arguments: &str) -> StreamEvent {
        StreamEvent::ToolCall {
            index,
            id: head.map(|(id, _)| id.to_owned()),
            name: head.map(|(_, name)| name.to_owned()),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn writes_a_gemini_stream_with_whole_calls_last() {
        let events = [
            StreamEvent::Reasoning("Plan".into()),
            StreamEvent::Text("Hi".into()),
            StreamEvent::Text(String::new()),
            fragment(0, Some(("call_a", "ls")), ""),
            fragment(1, Some(("call_b", "cat")), ""),
            fragment(0, None, r#"{"pa"#),
            fragment(1, None, r#"{"path":"x"}"#),
            fragment(0, None, r#"th":"."}"#),
            StreamEvent::Finish(Finish::ToolCalls),
        ];
        let chunks = written(&mut writer(), &events, Some((Finish::ToolCalls, usage(10, 5, 8, 2))));
        let ids = json!({"modelVersion": "gpt-5", "responseId": "chatcmpl-1"});
        let with_ids = |mut chunk: Value| {
            chunk.as_object_mut().unwrap().extend(ids.as_object().unwrap().clone());
            chunk
        };
        let delta = |part: Value| {
            with_ids(json!({"candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}]}))
        };
        assert_eq!(
            chunks,
            vec![
                delta(json!({"text": "Plan", "thought": true})),
                delta(json!({"text": "Hi"})),
                with_ids(json!({
                    "candidates": [{
                        "content": {"role": "model", "parts": [
                            {"functionCall": {"id": "call_a", "name": "ls", "args": {"path": "."}}},
                            {"functionCall": {"id": "call_b", "name": "cat", "args": {"path": "x"}}},
                        ]},
                        "finishReason": "STOP",
                        "index": 0,
                    }],
                    "usageMetadata": {"promptTokenCount": 15, "cachedContentTokenCount": 5, "candidatesTokenCount": 6,
                                      "thoughtsTokenCount": 2, "totalTokenCount": 23},
                })),
            ]
        );
    }

    #[test]
    fn an_error_ends_the_written_stream() {
        let events = [
            StreamEvent::Text("Hi".into()),
            fragment(0, Some(("call_a", "ls")), "{"),
            StreamEvent::Error { kind: "overloaded_error".into(), message: "Overloaded".into() },
            StreamEvent::Text("late".into()),
        ];
        let chunks = written(&mut writer(), &events, Some((Finish::Stop, Usage::default())));
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1], json!({"error": {"code": 500, "message": "Overloaded", "status": "INTERNAL"}}));
    }

    #[test]
    fn statuses_and_token_counts() {
        let statuses: Vec<&str> = [400, 401, 402, 403, 404, 409, 413, 429, 499, 500, 501, 502, 503, 504]
            .into_iter()
            .map(error_status)
            .collect();
        assert_eq!(
            statuses,
            [
                "INVALID_ARGUMENT",
                "UNAUTHENTICATED",
                "FAILED_PRECONDITION",
                "PERMISSION_DENIED",
                "NOT_FOUND",
                "ABORTED",
                "INVALID_ARGUMENT",
                "RESOURCE_EXHAUSTED",
                "CANCELLED",
                "INTERNAL",
                "UNIMPLEMENTED",
                "UNAVAILABLE",
                "UNAVAILABLE",
                "DEADLINE_EXCEEDED",
            ]
        );
        assert_eq!(count_tokens_response(42), json!({"totalTokens": 42}));
    }
}
