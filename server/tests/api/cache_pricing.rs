//! Cached prompt tokens (api-contract.md, "Cached prompt tokens") as the catalog and the
//! usage log keep them: a model's cache prices set, read back, cleared with `null`,
//! validated and documented; a usage row's cache and reasoning tokens and dialects stored
//! and read back. Charging them through real requests is the gateway's tests' business.

use crate::helpers::{error_of, spawn_app, Backend, TestApp};
use crate::on_both_backends;
use app::usage::UsageRecord;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// Claude Sonnet's prices: cache reads at a tenth of input, cache writes at 1.25 times.
fn sonnet() -> Value {
    json!({"code": "sonnet", "name": "Sonnet", "input_price": 3_000_000, "output_price": 15_000_000,
        "cache_read_price": 300_000, "cache_write_price": 3_750_000, "context_window": 200_000})
}

/// A model as `GET /api/v1/models` lists it.
async fn listed(app: &TestApp, client: &Client, code: &str) -> Value {
    let models: Vec<Value> = client.get(app.url("/api/v1/models")).send().await.unwrap().json().await.unwrap();
    models.into_iter().find(|model| model["code"] == code).unwrap_or_else(|| panic!("{code} is listed"))
}

fn cache_prices(model: &Value) -> (Value, Value) {
    (model["cache_read_price"].clone(), model["cache_write_price"].clone())
}

async fn patch(app: &TestApp, admin: &Client, code: &str, change: Value) -> reqwest::Response {
    admin.patch(app.url(&format!("/api/v1/models/{code}"))).json(&change).send().await.unwrap()
}

async fn cache_prices_are_set_read_back_and_cleared_with_null(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let created = admin.post(app.url("/api/v1/models")).json(&sonnet()).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(cache_prices(&created.json().await.unwrap()), (json!(300_000), json!(3_750_000)));
    assert_eq!(cache_prices(&listed(&app, &admin, "sonnet").await), (json!(300_000), json!(3_750_000)));

    // `null` clears a price (cache writes are priced as input again); absence keeps one.
    let cleared = patch(&app, &admin, "sonnet", json!({"cache_write_price": null})).await;
    assert_eq!(cleared.status(), StatusCode::OK);
    assert_eq!(cache_prices(&cleared.json().await.unwrap()), (json!(300_000), Value::Null));
    let other = patch(&app, &admin, "sonnet", json!({"input_price": 2_000_000})).await;
    assert_eq!(other.status(), StatusCode::OK);
    let stored = listed(&app, &admin, "sonnet").await;
    assert_eq!(
        (stored["input_price"].clone(), cache_prices(&stored)),
        (json!(2_000_000), (json!(300_000), Value::Null))
    );

    // A model that names no cache price, the demo one included, has none.
    let plain = json!({"code": "plain", "name": "Plain", "input_price": 1, "output_price": 2, "context_window": 10});
    assert_eq!(admin.post(app.url("/api/v1/models")).json(&plain).send().await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(cache_prices(&listed(&app, &admin, "plain").await), (Value::Null, Value::Null));
    assert_eq!(cache_prices(&listed(&app, &admin, "echo-1").await), (Value::Null, Value::Null));
}

async fn negative_cache_prices_are_refused_naming_the_price(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let mut body = sonnet();
    body["cache_read_price"] = json!(-1);
    let created = admin.post(app.url("/api/v1/models")).json(&body).send().await.unwrap();
    assert_eq!(error_of(created, StatusCode::BAD_REQUEST, "invalid_value").await["param"], "cache_read_price");

    let changed = patch(&app, &admin, "echo-1", json!({"cache_write_price": -5})).await;
    assert_eq!(error_of(changed, StatusCode::BAD_REQUEST, "invalid_value").await["param"], "cache_write_price");
    assert_eq!(cache_prices(&listed(&app, &admin, "echo-1").await), (Value::Null, Value::Null), "nothing saved");
}

/// The console's form sends every field as text; an empty cache price is "as input".
async fn the_console_form_sets_and_clears_cache_prices(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let form = |read: &'static str, write: &'static str| {
        [
            ("code", "echo-1"),
            ("status", "active"),
            ("input_price", "0.5"),
            ("output_price", "1.5"),
            ("cache_read_price", read),
            ("cache_write_price", write),
        ]
    };
    let (status, body) = app.rpc(&admin, "update_model", &form("0.05", "0.625")).await;
    assert_eq!((status, cache_prices(&body)), (StatusCode::OK, (json!(50_000), json!(625_000))), "{body}");
    let (status, body) = app.rpc(&admin, "update_model", &form("", " ")).await;
    assert_eq!((status, cache_prices(&body)), (StatusCode::OK, (Value::Null, Value::Null)), "{body}");
    let (status, body) = app.rpc(&admin, "update_model", &form("-1", "")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("cache_read_price"), "{body}");
}

/// The two protocols added with them need the widened `channels.protocol` check.
async fn channels_speak_the_responses_and_gemini_protocols(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    for protocol in ["openai-responses", "gemini"] {
        let body = json!({"name": protocol, "protocol": protocol, "base_url": "https://example.test"});
        let created = admin.post(app.url("/api/v1/channels")).json(&body).send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED, "{protocol}");
    }
    let channels: Vec<Value> = admin.get(app.url("/api/v1/channels")).send().await.unwrap().json().await.unwrap();
    let mut protocols: Vec<&str> = channels.iter().map(|channel| channel["protocol"].as_str().unwrap()).collect();
    protocols.sort_unstable();
    assert_eq!(protocols, ["echo", "gemini", "openai-responses"], "beside the demo echo channel");
}

async fn usage_rows_keep_cache_and_reasoning_tokens_and_dialects(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let record = UsageRecord {
        request_id: app::clock::new_id(),
        created_at: app::clock::now_ms(),
        route: "/v1/messages".into(),
        status: 200,
        prompt_tokens: 10,
        cache_read_tokens: 1_000,
        cache_write_tokens: 200,
        completion_tokens: 50,
        reasoning_tokens: 20,
        client_dialect: Some("anthropic".into()),
        channel_dialect: Some("openai-responses".into()),
        ..UsageRecord::default()
    };
    let db = app::db::Db::connect(&app.database.url, 1).await.unwrap();
    app::usage::store::insert_batch(&db, std::slice::from_ref(&record)).await.unwrap();
    let url = app.url(&format!("/api/v1/usage/{}", record.request_id));
    let row: Value = admin.get(url).send().await.unwrap().json().await.unwrap();
    let read = ["prompt_tokens", "cache_read_tokens", "cache_write_tokens", "completion_tokens", "reasoning_tokens"]
        .map(|field| row[field].clone());
    assert_eq!(read, [json!(10), json!(1_000), json!(200), json!(50), json!(20)], "{row}");
    assert_eq!(
        (row["client_dialect"].clone(), row["channel_dialect"].clone()),
        (json!("anthropic"), json!("openai-responses"))
    );
}

async fn the_openapi_document_describes_cache_prices_and_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap().json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    for (schema, fields) in [
        ("ModelView", &["cache_read_price", "cache_write_price"][..]),
        ("NewModel", &["cache_read_price", "cache_write_price"]),
        ("ModelChange", &["cache_read_price", "cache_write_price"]),
        (
            "UsageRecord",
            &["cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "client_dialect", "channel_dialect"],
        ),
    ] {
        for field in fields {
            assert!(schemas[schema]["properties"][field].is_object(), "{schema}.{field}: {}", schemas[schema]);
        }
    }
    let protocol = schemas["Protocol"].to_string();
    assert!(protocol.contains("\"openai-responses\"") && protocol.contains("\"gemini\""), "{protocol}");
}

on_both_backends!(
    cache_prices_are_set_read_back_and_cleared_with_null,
    negative_cache_prices_are_refused_naming_the_price,
    the_console_form_sets_and_clears_cache_prices,
    channels_speak_the_responses_and_gemini_protocols,
    usage_rows_keep_cache_and_reasoning_tokens_and_dialects,
    the_openapi_document_describes_cache_prices_and_tokens,
);
