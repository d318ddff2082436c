//! The caps on what a request may cost to read (issue 16, item 5): messages, content parts
//! per message and nesting depth, each refused with 400 `request_too_complex` in the
//! route's own error envelope, and a request at the caps still answered.

use super::World;
use crate::helpers::Backend;
use crate::on_both_backends;
use reqwest::Response;
use serde_json::{json, Value};

const MESSAGES: usize = 4;
const PARTS: usize = 3;
const DEPTH: usize = 8;

async fn world(backend: Backend) -> (World, String) {
    let w = World::with_config(backend, |config| {
        config.max_request_messages = MESSAGES;
        config.max_message_parts = PARTS;
        config.max_json_depth = DEPTH;
    })
    .await;
    let key = w.key(json!({})).await;
    (w, key)
}

const DIALECTS: [&str; 4] = ["chat", "responses", "anthropic", "gemini"];

/// A body of `dialect` with `messages` items of `parts` text parts each, and an unknown
/// field nested so the body is `depth` levels deep.
fn body(dialect: &str, messages: usize, parts: usize, depth: usize) -> Value {
    let part = match dialect {
        "responses" => json!({"type": "input_text", "text": "hi"}),
        "gemini" => json!({"text": "hi"}),
        _ => json!({"type": "text", "text": "hi"}),
    };
    let parts = vec![part; parts];
    let message = match dialect {
        "gemini" => json!({"role": "user", "parts": parts}),
        _ => json!({"role": "user", "content": parts}),
    };
    // The body is level 1, `nested` level 2, and each array inside it one more.
    let mut nested = json!(1);
    for _ in 1..depth {
        nested = json!([nested]);
    }
    let list = vec![message; messages];
    match dialect {
        "chat" => json!({"model": "echo-1", "messages": list, "nested": nested}),
        "responses" => json!({"model": "echo-1", "input": list, "nested": nested}),
        "anthropic" => json!({"model": "echo-1", "max_tokens": 16, "messages": list, "nested": nested}),
        _ => json!({"contents": list, "nested": nested}),
    }
}

async fn send(w: &World, dialect: &str, key: &str, body: &Value) -> Response {
    let (path, header) = match dialect {
        "chat" => ("/v1/chat/completions", "authorization"),
        "responses" => ("/v1/responses", "authorization"),
        "anthropic" => ("/v1/messages", "x-api-key"),
        _ => ("/v1beta/models/echo-1:generateContent", "x-goog-api-key"),
    };
    let value = if header == "authorization" { format!("Bearer {key}") } else { key.to_owned() };
    w.client.post(w.app.url(path)).header(header, value).json(body).send().await.unwrap()
}

/// Asserts the refusal in `dialect`'s envelope; returns its `param` and message.
async fn refused(response: Response, dialect: &str) -> (String, String) {
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-tollgate-error-source"], "gateway");
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    assert_eq!(error["layer"], "request", "{body}");
    let param = match dialect {
        "gemini" => {
            assert_eq!(error["status"], "INVALID_ARGUMENT", "{body}");
            let detail = &error["details"][0];
            assert_eq!(detail["reason"], "request_too_complex", "{body}");
            assert_eq!(detail["metadata"]["type"], "invalid_request_error", "{body}");
            &detail["metadata"]["param"]
        }
        _ => {
            if dialect == "anthropic" {
                assert_eq!(body["type"], "error", "{body}");
            }
            assert_eq!(error["code"], "request_too_complex", "{body}");
            assert_eq!(error["type"], "invalid_request_error", "{body}");
            &error["param"]
        }
    };
    (param.as_str().expect("a param").to_owned(), error["message"].as_str().unwrap().to_owned())
}

fn list_of(dialect: &str) -> &'static str {
    match dialect {
        "responses" => "input",
        "gemini" => "contents",
        _ => "messages",
    }
}

async fn each_cap_is_refused_in_every_dialects_envelope(backend: Backend) {
    let (w, key) = world(backend).await;
    for dialect in DIALECTS {
        let list = list_of(dialect);
        let parts = if dialect == "gemini" { "parts" } else { "content" };

        let response = send(&w, dialect, &key, &body(dialect, MESSAGES + 1, 1, 2)).await;
        let (param, message) = refused(response, dialect).await;
        assert_eq!(param, list, "{dialect}");
        assert!(message.contains(&format!("more than {MESSAGES} items")), "{dialect}: {message}");

        let response = send(&w, dialect, &key, &body(dialect, 2, PARTS + 1, 2)).await;
        let (param, message) = refused(response, dialect).await;
        assert_eq!(param, format!("{list}[0].{parts}"), "{dialect}");
        assert!(message.contains(&format!("more than {PARTS} content parts")), "{dialect}: {message}");

        let response = send(&w, dialect, &key, &body(dialect, 1, 1, DEPTH + 1)).await;
        let (param, message) = refused(response, dialect).await;
        assert_eq!(param, format!("nested{}", "[0]".repeat(DEPTH - 1)), "{dialect}");
        assert!(message.contains(&format!("deeper than {DEPTH} levels")), "{dialect}: {message}");
    }
}

async fn a_request_at_every_cap_is_answered(backend: Backend) {
    let (w, key) = world(backend).await;
    for dialect in DIALECTS {
        let response = send(&w, dialect, &key, &body(dialect, MESSAGES, PARTS, DEPTH)).await;
        let status = response.status();
        assert_eq!(status, 200, "{dialect}: {}", response.text().await.unwrap());
    }
}

/// The key is checked before the body is read (rows 3 to 9 before 10 to 14).
async fn a_complex_body_without_a_key_is_refused_for_the_key(backend: Backend) {
    let (w, _) = world(backend).await;
    let response =
        w.client.post(w.app.url("/v1/chat/completions")).json(&body("chat", 100, 1, 2)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "missing_api_key");
}

on_both_backends!(
    each_cap_is_refused_in_every_dialects_envelope,
    a_request_at_every_cap_is_answered,
    a_complex_body_without_a_key_is_refused_for_the_key,
);
