//! The four dialects over real HTTP: routes and key header families, translation whole
//! and streamed, pass-through fidelity (beta headers, pings, retry headers), token
//! counting, embeddings, cached-token billing, and bad input never being a 5xx.
//! The full client × channel matrix with the official SDKs is in `server/tests/sdk`.

use super::{gateway_error, request_id, World};
use crate::helpers::Backend;
use crate::on_both_backends;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

/// Prices of the models here, micro-units per million tokens.
const INPUT: i64 = 1_000_000;
const OUTPUT: i64 = 2_000_000;
const CACHE_READ: i64 = 100_000;
const CACHE_WRITE: i64 = 1_250_000;

impl World {
    /// A model with cache prices over one new channel of `protocol` to the mock's `behaviour`.
    async fn priced_model(&self, code: &str, protocol: &str, behaviour: &str, cache_prices: bool) {
        let channel = self.channel(code, protocol, behaviour, 0, 5_000).await;
        let mut body = json!({"code": code, "name": code, "input_price": INPUT, "output_price": OUTPUT,
            "context_window": 8192, "default_max_tokens": 256, "channels": [{"channel_id": channel}]});
        if cache_prices {
            body["cache_read_price"] = CACHE_READ.into();
            body["cache_write_price"] = CACHE_WRITE.into();
        }
        let created = self.admin.post(self.app.url("/api/v1/models")).json(&body).send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED, "{}", created.text().await.unwrap());
    }

    /// A request in `dialect` for `model`, with the key in that dialect's own header.
    fn speak(&self, dialect: &str, key: &str, model: &str, stream: bool) -> (RequestBuilder, Value) {
        let text = "hello gateway world";
        let (path, body) = match dialect {
            "chat" => (
                "/v1/chat/completions".to_owned(),
                json!({"model": model, "stream": stream,
                "messages": [{"role": "user", "content": text}]}),
            ),
            "responses" => ("/v1/responses".to_owned(), json!({"model": model, "stream": stream, "input": text})),
            "anthropic" => (
                "/v1/messages".to_owned(),
                json!({"model": model, "stream": stream, "max_tokens": 64,
                "messages": [{"role": "user", "content": text}]}),
            ),
            _ => {
                let method = if stream { "streamGenerateContent?alt=sse" } else { "generateContent" };
                (
                    format!("/v1beta/models/{model}:{method}"),
                    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]}),
                )
            }
        };
        let request = self.client.post(self.app.url(&path));
        let request = match dialect {
            "anthropic" => request.header("x-api-key", key),
            "gemini" => request.header("x-goog-api-key", key),
            _ => request.bearer_auth(key),
        };
        (request, body)
    }

    async fn say(&self, dialect: &str, key: &str, model: &str, stream: bool) -> Response {
        let (request, body) = self.speak(dialect, key, model, stream);
        request.json(&body).send().await.unwrap()
    }
}

/// The text of a whole answer in any dialect.
fn answer_text(dialect: &str, body: &Value) -> String {
    let text = match dialect {
        "chat" => &body["choices"][0]["message"]["content"],
        "responses" => &body["output"][0]["content"][0]["text"],
        "anthropic" => &body["content"][0]["text"],
        _ => &body["candidates"][0]["content"]["parts"][0]["text"],
    };
    text.as_str().unwrap_or_default().to_owned()
}

/// The SSE events of a streamed answer: (event name, data).
async fn events(response: Response) -> Vec<(Option<String>, String)> {
    let text = response.text().await.unwrap();
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let line = |prefix: &str| block.lines().find_map(|l| l.strip_prefix(prefix).map(|v| v.trim().to_owned()));
            (line("event:"), line("data:").unwrap_or_default())
        })
        .collect()
}

const DIALECTS: [&str; 4] = ["chat", "responses", "anthropic", "gemini"];
const PROTOCOLS: [(&str, &str); 4] =
    [("openai", "cached"), ("openai-responses", "ok"), ("anthropic", "cached"), ("gemini", "ok")];

/// Every client dialect reaches every channel protocol, whole answers translated.
async fn every_dialect_reaches_every_protocol(backend: Backend) {
    let w = World::new(backend).await;
    for (protocol, behaviour) in PROTOCOLS {
        w.priced_model(&format!("m-{protocol}"), protocol, behaviour, true).await;
    }
    let key = w.key(json!({})).await;
    for dialect in DIALECTS {
        for (protocol, _) in PROTOCOLS {
            let response = w.say(dialect, &key, &format!("m-{protocol}"), false).await;
            let id = request_id(&response);
            assert_eq!(response.status(), StatusCode::OK, "{dialect} on {protocol}");
            let body: Value = response.json().await.unwrap();
            assert!(answer_text(dialect, &body).contains("answer"), "{dialect} on {protocol}: {body}");
            let row = w.usage_row(&id).await;
            assert_eq!(row["channel_dialect"], protocol, "{row}");
            assert!(row["cost"].as_i64().unwrap() > 0, "{row}");
        }
    }
}

/// A streamed answer translated into each dialect is that dialect's well-formed stream.
async fn translated_streams_are_well_formed(backend: Backend) {
    let w = World::new(backend).await;
    w.priced_model("m-openai", "openai", "stream", false).await;
    let key = w.key(json!({})).await;
    let anthropic = events(w.say("anthropic", &key, "m-openai", true).await).await;
    let names: Vec<_> = anthropic.iter().filter_map(|(name, _)| name.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(names.iter().filter(|n| **n == "message_start").count(), 1);
    let block_start = names.iter().position(|n| *n == "content_block_start").unwrap();
    let first_delta = names.iter().position(|n| *n == "content_block_delta").unwrap();
    assert!(block_start < first_delta, "{names:?}");
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);
    let delta: Value = serde_json::from_str(&anthropic[anthropic.len() - 2].1).unwrap();
    assert_eq!(delta["usage"]["output_tokens"], 4, "the upstream's count: {delta}");
    let start: Value = serde_json::from_str(&anthropic[0].1).unwrap();
    assert!(start["message"]["usage"]["input_tokens"].as_u64().unwrap() > 0, "never zero: {start}");

    let responses = events(w.say("responses", &key, "m-openai", true).await).await;
    let types: Vec<String> = responses
        .iter()
        .map(|(_, data)| serde_json::from_str::<Value>(data).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types[0], "response.created");
    let added = types.iter().position(|t| t == "response.output_item.added").unwrap();
    let delta = types.iter().position(|t| t == "response.output_text.delta").unwrap();
    assert!(added < delta, "{types:?}");
    let completed: Value = serde_json::from_str(&responses.last().unwrap().1).unwrap();
    assert_eq!(completed["type"], "response.completed");
    assert!(completed["response"]["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(completed["response"]["usage"]["output_tokens"], 4);

    let gemini = events(w.say("gemini", &key, "m-openai", true).await).await;
    let chunks: Vec<Value> = gemini.iter().map(|(_, data)| serde_json::from_str(data).unwrap()).collect();
    let text: String =
        chunks.iter().filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str()).collect();
    assert_eq!(text, "one two three four");
    assert_eq!(chunks.last().unwrap()["usageMetadata"]["candidatesTokenCount"], 4);
}

/// A prompt long enough for the mock's 1,400 reported input tokens: a request is never
/// charged beyond its hold, and the hold counts at most a token per byte.
fn long_prompt(model: &str) -> Value {
    json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "cached ".repeat(300)}]})
}

/// Cached prompt tokens are billed at the cache prices, read from each dialect's usage.
async fn cached_tokens_are_billed_at_cache_prices(backend: Backend) {
    let w = World::new(backend).await;
    for (protocol, behaviour) in PROTOCOLS {
        w.priced_model(&format!("m-{protocol}"), protocol, behaviour, true).await;
    }
    w.priced_model("m-anthropic-input-priced", "anthropic", "cached", false).await;
    let key = w.key(json!({})).await;
    // (model, prompt, cache read, cache write, completion, reasoning), from the mock's usage.
    let cases = [
        ("m-openai", 200, 800, 0, 50, 10),
        ("m-openai-responses", 200, 800, 0, 50, 10),
        ("m-anthropic", 200, 1000, 200, 50, 0),
        ("m-gemini", 200, 800, 0, 50, 10),
    ];
    for (model, prompt, read, write, completion, reasoning) in cases {
        let response = w.chat(&key, long_prompt(model)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let row = w.usage_row(&request_id(&response)).await;
        let tokens: Vec<i64> =
            ["prompt_tokens", "cache_read_tokens", "cache_write_tokens", "completion_tokens", "reasoning_tokens"]
                .iter()
                .map(|field| row[field].as_i64().unwrap())
                .collect();
        assert_eq!(tokens, [prompt, read, write, completion, reasoning], "{model}: {row}");
        let micro = prompt * INPUT + read * CACHE_READ + write * CACHE_WRITE + completion * OUTPUT;
        assert_eq!(row["cost"], (micro + 999_999) / 1_000_000, "{model}: {row}");
        assert_eq!(row["overrun"], 0, "{model}: {row}");
    }
    // Unset cache prices price the cache as input: 1,400 input tokens and 50 output.
    let response = w.messages(&key, long_prompt("m-anthropic-input-priced")).await;
    let row = w.usage_row(&request_id(&response)).await;
    assert_eq!(row["cost"], (1_400 * INPUT + 50 * OUTPUT) / 1_000_000, "{row}");
    let balance = w.settled_balance(&w.account).await;
    assert_eq!(balance["reserved"], 0);
}

/// Gemini routes take the key from `x-goog-api-key`, `?key=` or Bearer, and refuse in
/// Google's envelope.
async fn gemini_keys_and_errors(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({})).await;
    let body = json!({"contents": [{"parts": [{"text": "hi there"}]}]});
    for prefix in ["/v1beta", "/v1"] {
        let url = w.app.url(&format!("{prefix}/models/echo-1:generateContent?key={key}"));
        let by_query = w.client.post(url).json(&body).send().await.unwrap();
        assert_eq!(by_query.status(), StatusCode::OK, "{prefix}");
        let answer: Value = by_query.json().await.unwrap();
        assert_eq!(answer["candidates"][0]["content"]["parts"][0]["text"], "hi there");
    }
    let url = w.app.url("/v1beta/models/echo-1:generateContent");
    let bearer = w.client.post(&url).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(bearer.status(), StatusCode::OK);
    let missing = w.client.post(&url).json(&body).send().await.unwrap();
    let id = request_id(&missing);
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["error"]["code"], 401, "{error}");
    assert_eq!(error["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(error["error"]["details"][0]["reason"], "missing_api_key");
    assert_eq!(error["error"]["request_id"], id.as_str());
    let listed: Value =
        w.client.get(w.app.url(&format!("/v1beta/models?key={key}"))).send().await.unwrap().json().await.unwrap();
    assert!(listed["models"].as_array().unwrap().iter().any(|m| m["name"] == "models/echo-1"), "{listed}");
    let unknown =
        w.client.post(w.app.url("/v1beta/models/echo-1:embedText")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

/// Counting is free, one usage row each: local on channels without a counting endpoint,
/// the provider's own count on Anthropic channels.
async fn counting_tokens(backend: Backend) {
    let w = World::new(backend).await;
    w.priced_model("m-anthropic", "anthropic", "ok", false).await;
    let key = w.key(json!({})).await;
    let before = w.settled_balance(&w.account).await["balance"].clone();
    let count = |model: &str| {
        w.client
            .post(w.app.url("/v1/messages/count_tokens?beta=true"))
            .header("x-api-key", &key)
            .header("anthropic-beta", "token-counting-2024-11-01")
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "antidisestablishmentarianism"}]}))
            .send()
    };
    let local = count("echo-1").await.unwrap();
    let id = request_id(&local);
    let counted: Value = local.json().await.unwrap();
    assert!(counted["input_tokens"].as_u64().unwrap() > 1, "tokens, not words: {counted}");
    assert_eq!(w.usage_row(&id).await["cost"], 0);
    let forwarded: Value = count("m-anthropic").await.unwrap().json().await.unwrap();
    assert_eq!(forwarded["input_tokens"], 1234);
    let sent = w.upstream.received().into_iter().last().unwrap();
    assert_eq!(sent.headers["anthropic-beta"], "token-counting-2024-11-01");
    let gemini: Value = w
        .client
        .post(w.app.url("/v1beta/models/echo-1:countTokens"))
        .header("x-goog-api-key", &key)
        .json(&json!({"contents": [{"parts": [{"text": "hello world"}]}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(gemini["totalTokens"], 2);
    assert_eq!(w.settled_balance(&w.account).await["balance"], before, "counting is free");
}

/// Embeddings: deterministic on echo, passed through to OpenAI channels, billed as input.
async fn embeddings(backend: Backend) {
    let w = World::new(backend).await;
    w.priced_model("m-embed", "openai", "ok", false).await;
    w.priced_model("m-claude", "anthropic", "ok", false).await;
    let key = w.key(json!({})).await;
    let embed = |model: &str, input: Value| {
        w.client
            .post(w.app.url("/v1/embeddings"))
            .bearer_auth(&key)
            .json(&json!({"model": model, "input": input}))
            .send()
    };
    let first: Value = embed("echo-1", json!(["one two", "three"])).await.unwrap().json().await.unwrap();
    let again: Value = embed("echo-1", json!(["one two", "three"])).await.unwrap().json().await.unwrap();
    assert_eq!(first["data"], again["data"], "deterministic");
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert_eq!(first["usage"]["prompt_tokens"], 3);
    let upstream = embed("m-embed", json!("some text")).await.unwrap();
    let row = w.usage_row(&request_id(&upstream)).await;
    assert_eq!((row["prompt_tokens"].as_i64(), row["cost"].as_i64()), (Some(6), Some(6)), "{row}");
    let refused = embed("m-claude", json!("text")).await.unwrap();
    gateway_error(refused, 503, "no_available_channel", "routing").await;
    let bad = embed("echo-1", json!({"not": "text"})).await.unwrap();
    let error = gateway_error(bad, 400, "invalid_type", "request").await;
    assert_eq!(error["param"], "input");
}

/// Same dialect: beta headers forwarded unchanged, pings relayed, retry headers and the
/// upstream's message reaching the client.
async fn anthropic_pass_through_is_faithful(backend: Backend) {
    let w = World::new(backend).await;
    w.priced_model("m-claude", "anthropic", "ok", false).await;
    w.priced_model("m-limited", "anthropic", "ratelimited", false).await;
    let key = w.key(json!({})).await;
    let (request, body) = w.speak("anthropic", &key, "m-claude", true);
    let streamed = request
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "context-management-2025-06-27,fine-grained-tool-streaming-2025-05-14")
        .header("anthropic-beta", "interleaved-thinking-2025-05-14")
        .header("x-stainless-retry-count", "0")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), StatusCode::OK);
    let names: Vec<_> = events(streamed).await.into_iter().filter_map(|(name, _)| name).collect();
    assert!(names.contains(&"ping".to_owned()), "{names:?}");
    let sent = w.upstream.received().into_iter().last().unwrap();
    let betas: Vec<_> = sent.headers.get_all("anthropic-beta").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(
        betas,
        ["context-management-2025-06-27,fine-grained-tool-streaming-2025-05-14", "interleaved-thinking-2025-05-14"]
    );
    assert_eq!(sent.headers.get_all("anthropic-version").iter().count(), 1);
    let whole = w.say("anthropic", &key, "m-claude", false).await;
    assert_eq!(whole.headers()["anthropic-ratelimit-requests-remaining"], "99");
    let limited = w.say("anthropic", &key, "m-limited", false).await;
    assert_eq!(limited.headers()["retry-after"], "7");
    assert_eq!(limited.headers()["x-should-retry"], "true");
    let error = gateway_error(limited, 429, "rate_limit_error", "upstream").await;
    assert_eq!(error["message"], "Number of request tokens has exceeded your per-minute rate limit");
}

/// Bad input in each dialect is the contract's 4xx, naming the field.
async fn bad_input_names_the_field(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({})).await;
    let orphan_chat = json!({"model": "echo-1", "messages": [{"role": "tool", "tool_call_id": "c9", "content": "x"}]});
    let orphan_anthropic = json!({"model": "echo-1", "max_tokens": 10, "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t9", "content": "x"}]}]});
    let cases = [
        ("/v1/chat/completions", json!({"model": "echo-1", "contents": []}), "missing_field", "messages"),
        ("/v1/chat/completions", orphan_chat, "invalid_value", "messages[0]"),
        ("/v1/responses", json!({"model": "echo-1"}), "missing_field", "input"),
        ("/v1/responses", json!({"model": "echo-1", "input": 7}), "invalid_type", "input"),
        (
            "/v1/responses",
            json!({"model": "echo-1", "input": "hi", "previous_response_id": "resp_1"}),
            "untranslatable_feature",
            "previous_response_id",
        ),
        ("/v1/messages", orphan_anthropic, "invalid_value", "messages[0]"),
        (
            "/v1/messages",
            json!({"model": "echo-1", "messages": [{"role": "user", "content": [{"type": "hologram"}]}]}),
            "invalid_value",
            "messages[0].content[0].type",
        ),
        ("/v1beta/models/echo-1:generateContent", json!({"messages": []}), "missing_field", "contents"),
        (
            "/v1beta/models/echo-1:generateContent",
            json!({"contents": [{"parts": "hi"}]}),
            "invalid_type",
            "contents[0].parts",
        ),
    ];
    for (path, body, code, param) in cases {
        let response = w.client.post(w.app.url(path)).bearer_auth(&key).json(&body).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {text}");
        let error: Value = serde_json::from_str(&text).unwrap();
        let (found_code, found_param) = if path.starts_with("/v1beta") {
            (&error["error"]["details"][0]["reason"], &error["error"]["details"][0]["metadata"]["param"])
        } else {
            (&error["error"]["code"], &error["error"]["param"])
        };
        assert_eq!((found_code.as_str(), found_param.as_str()), (Some(code), Some(param)), "{path} {body}: {text}");
    }
}

/// Seeded fuzz: valid bodies of each route, mutated at random, are answered, never a 5xx.
async fn fuzzed_bodies_are_never_a_server_error(backend: Backend) {
    let w = World::new(backend).await;
    let key = w.key(json!({})).await;
    let mut rng = StdRng::seed_from_u64(14);
    let seeds = [
        (
            "/v1/responses",
            json!({"model": "echo-1", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"}], "tools": [{"type": "function", "name": "shell", "parameters": {}}]}),
        ),
        (
            "/v1/messages",
            json!({"model": "echo-1", "max_tokens": 5, "system": [{"type": "text", "text": "s"}], "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "shell", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}],
            "tools": [{"name": "shell", "input_schema": {"type": "object"}}]}),
        ),
        (
            "/v1beta/models/echo-1:generateContent",
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "shell", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "shell", "response": {"output": "ok"}}}]}],
            "generationConfig": {"maxOutputTokens": 5}}),
        ),
        ("/v1/embeddings", json!({"model": "echo-1", "input": ["a", "b"]})),
        ("/v1/messages/count_tokens", json!({"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]})),
    ];
    for round in 0..60 {
        for (path, seed) in &seeds {
            let mut body = seed.clone();
            mutate(&mut body, &mut rng);
            let response = w.client.post(w.app.url(path)).bearer_auth(&key).json(&body).send().await.unwrap();
            let status = response.status();
            assert!(status.as_u16() < 500, "round {round} {path} {body}: {status} {}", response.text().await.unwrap());
        }
    }
}

/// Replaces one value somewhere in `value` with a value of another type.
fn mutate(value: &mut Value, rng: &mut StdRng) {
    let descend = rng.gen_bool(0.7);
    let child = match value {
        Value::Object(fields) if descend && !fields.is_empty() => {
            let index = rng.gen_range(0..fields.len());
            fields.values_mut().nth(index)
        }
        Value::Array(items) if descend && !items.is_empty() => {
            let index = rng.gen_range(0..items.len());
            items.get_mut(index)
        }
        _ => None,
    };
    if let Some(child) = child {
        return mutate(child, rng);
    }
    let replacements = [
        json!(null),
        json!(7),
        json!(-1),
        json!("text"),
        json!([]),
        json!({}),
        json!([1, "x"]),
        json!({"type": "bogus"}),
    ];
    *value = replacements[rng.gen_range(0..replacements.len())].clone();
}

on_both_backends!(
    every_dialect_reaches_every_protocol,
    translated_streams_are_well_formed,
    cached_tokens_are_billed_at_cache_prices,
    gemini_keys_and_errors,
    counting_tokens,
    embeddings,
    anthropic_pass_through_is_faithful,
    bad_input_names_the_field,
    fuzzed_bodies_are_never_a_server_error,
);
