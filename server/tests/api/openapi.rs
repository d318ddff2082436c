//! The OpenAPI document at `/api/v1/openapi.json`.
//!
//! Routes are registered from the same `#[utoipa::path]` attributes the document is built
//! from (`server::api::router`), so every route the API serves is in the document by
//! construction, with no hand-kept list to compare against. What can still go wrong, and
//! is checked here: the document names a route the server does not answer (say, a path
//! written differently from where the router is nested), or its schemas stop describing
//! what the API actually sends.

use crate::helpers::{browser, error_of, spawn_app, Backend, TestApp};
use crate::on_both_backends;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashSet};

async fn document(app: &TestApp) -> Value {
    let response = browser().get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "served without signing in");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    serde_json::from_str(&response.text().await.unwrap()).expect("the document is JSON")
}

/// A schema's properties, following `$ref` and `allOf` (a flattened struct is an `allOf`).
fn properties(doc: &Value, schema: &Value) -> BTreeSet<String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.strip_prefix("#/components/schemas/").expect("a local schema");
        return properties(doc, &doc["components"]["schemas"][name]);
    }
    let mut names: BTreeSet<String> =
        schema["properties"].as_object().map(|props| props.keys().cloned().collect()).unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        names.extend(properties(doc, part));
    }
    names
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "schema {name} is in the document");
    schema
}

fn keys_of(value: &Value) -> BTreeSet<String> {
    value.as_object().expect("an object").keys().cloned().collect()
}

async fn the_document_is_openapi_3_1_with_both_ways_to_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().is_some_and(|version| version.starts_with("3.1.")), "{}", doc["openapi"]);
    assert_eq!(doc["info"]["title"], "Tollgate management API");

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        schemes["session_cookie"],
        json!({"type": "apiKey", "in": "cookie", "name": "tollgate_session",
        "description": schemes["session_cookie"]["description"]})
    );
    assert_eq!(
        (schemes["management_token"]["type"].as_str(), schemes["management_token"]["scheme"].as_str()),
        (Some("http"), Some("bearer"))
    );
    assert_eq!(doc["security"], json!([{"session_cookie": []}, {"management_token": []}]));
    // Signing in, and reading this document, need neither.
    assert_eq!(doc["paths"]["/api/v1/session"]["post"]["security"], json!([{}]));
    assert_eq!(doc["paths"]["/api/v1/openapi.json"]["get"]["security"], json!([{}]));

    let mut operation_ids = HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has an operationId"));
            assert!(operation_ids.insert(id.to_owned()), "operationId {id} is unique");
            assert!(operation["tags"].as_array().is_some_and(|tags| !tags.is_empty()), "{method} {path} is tagged");
            if operation["security"] != json!([{}]) {
                let refusal = &operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(refusal, "#/components/schemas/ErrorBody", "{method} {path} documents its 401 body");
            }
        }
    }
}

/// Each (method, path) of the document reaches a handler: the answer is never the
/// unknown-route or method-not-allowed fallback. Nobody is signed in, so most answer 401.
async fn every_documented_route_is_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;
    let client = browser();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with("/api/v1/"), "{path} is a full path");
        // Any value stands in for a path parameter: the route must match before the id is looked at.
        let concrete: String = path
            .split('/')
            .map(|segment| if segment.starts_with('{') { "00000000-0000-7000-8000-000000000000" } else { segment })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = client.request(method.clone(), app.url(&concrete)).json(&json!({})).send().await.unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let code = body["error"]["code"].as_str().unwrap_or_default();
            assert!(
                !["unknown_route", "method_not_allowed"].contains(&code) && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {concrete}: {status} {body}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} operations documented");
    // The same probe does see the fallback where no route is: it can fail.
    let missing = client.get(app.url("/api/v1/not-a-route")).send().await.unwrap();
    error_of(missing, StatusCode::NOT_FOUND, "unknown_route").await;
    let wrong_method = client.put(app.url("/api/v1/audit")).send().await.unwrap();
    error_of(wrong_method, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}

/// The schemas describe what the API really sends: a key as the API shows it, and an error.
async fn schemas_match_what_the_api_sends(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;
    let admin = app.admin().await;
    let me: Value = admin.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    let account = me["accounts"][0]["account_id"].as_str().unwrap();
    let issued: Value = admin
        .post(app.url(&format!("/api/v1/accounts/{account}/keys")))
        .json(&json!({"name": "documented", "rpm": 60}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key: Value = admin
        .get(app.url(&format!("/api/v1/keys/{}", issued["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key_view = schema(&doc, "KeyView");
    assert_eq!(properties(&doc, key_view), keys_of(&key), "KeyView lists exactly the fields of a key");
    for field in ["id", "account_id", "prefix", "status", "ip_allowlist", "model_whitelist", "rpm", "last_used_at"] {
        assert!(properties(&doc, key_view).contains(field), "KeyView has {field}");
    }
    assert_eq!(
        schema(&doc, "KeyStatus")["enum"],
        json!(["enabled", "disabled", "revoked"]),
        "statuses as the API spells them"
    );
    let issued_key = &doc["paths"]["/api/v1/accounts/{id}/keys"]["post"]["responses"]["201"]["content"]
        ["application/json"]["schema"];
    assert_eq!(properties(&doc, issued_key), keys_of(&issued));

    let refused = browser().get(app.url("/api/v1/me")).send().await.unwrap();
    let body: Value = refused.json().await.unwrap();
    let error_body = schema(&doc, "ErrorBody");
    assert_eq!(properties(&doc, error_body), keys_of(&body));
    assert_eq!(error_body["required"], json!(["error"]));
    assert_eq!(properties(&doc, &error_body["properties"]["error"]), keys_of(&body["error"]));
    let layers = &schema(&doc, "Layer")["enum"];
    assert!(layers.as_array().unwrap().contains(&body["error"]["layer"]), "{layers}");

    let audit_entry = schema(&doc, "AuditEntry");
    let page: Value = admin.get(app.url("/api/v1/audit?limit=1")).send().await.unwrap().json().await.unwrap();
    assert_eq!(properties(&doc, audit_entry), keys_of(&page["entries"][0]));
    let params: BTreeSet<String> = doc["paths"]["/api/v1/audit"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|param| param["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(params, ["account", "action", "actor", "cursor", "from", "limit", "to"].map(String::from).into());
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            all.push((method.to_uppercase(), path.clone(), operation.clone()));
        }
    }
    all
}

fn documented(operation: &Value) -> BTreeSet<String> {
    keys_of(&operation["responses"])
}

/// What every route answers by its shape: a body can be malformed (400), too large (413)
/// or not JSON (415); an id in the path can be unknown (404); behind sign-in the caller
/// can be missing (401) or not allowed (403). Each is documented, with the error body.
async fn every_operation_documents_the_refusals_its_shape_implies(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;
    for (method, path, operation) in operations(&doc) {
        let statuses = documented(&operation);
        let mut implied: Vec<&str> = Vec::new();
        if operation.get("requestBody").is_some() {
            implied.extend(["400", "413", "415"]);
        }
        if path.contains('{') {
            implied.push("404");
        }
        if operation["security"] != json!([{}]) {
            implied.extend(["401", "403"]);
        }
        for status in implied {
            assert!(statuses.contains(status), "{method} {path} documents {status}: {statuses:?}");
        }
        for status in statuses.iter().filter(|status| status.starts_with('4')) {
            let body = &operation["responses"][status]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(body, "#/components/schemas/ErrorBody", "{method} {path} {status} has the error body");
        }
    }
}

/// Probes every operation as nobody, an admin and a plain user, with real ids (a revoked
/// key, an account's only owner, the demo channel) and with good and bad bodies; every
/// answer must be one the document lists for that operation, and none a 5xx.
async fn every_answer_is_one_the_document_lists(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = document(&app).await;
    let admin = app.admin().await;
    let (owner_id, owner) = app.user(&admin, "owner@test.local", "user").await;
    let account = app.account(&admin, "Probed", &owner_id).await;
    let created = |client: &reqwest::Client, path: String, body: Value| {
        let request = client.post(app.url(&path)).json(&body);
        async move {
            let created: Value = request.send().await.unwrap().json().await.unwrap();
            created["id"].as_str().expect("an id").to_owned()
        }
    };
    let key = created(&owner, format!("/api/v1/accounts/{account}/keys"), json!({"name": "probed"})).await;
    let revoked = owner.post(app.url(&format!("/api/v1/keys/{key}/revoke"))).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let token = created(&admin, "/api/v1/tokens".to_owned(), json!({"name": "probed"})).await;
    let channels: Value = admin.get(app.url("/api/v1/channels")).send().await.unwrap().json().await.unwrap();
    let channel = channels[0]["id"].as_str().expect("the demo channel").to_owned();
    let id_after = |segment: &str| match segment {
        "accounts" => account.clone(),
        "keys" => key.clone(),
        "users" | "members" => owner_id.clone(),
        "models" => "echo-1".to_owned(),
        "channels" => channel.clone(),
        "tokens" => token.clone(),
        _ => "00000000-0000-7000-8000-000000000000".to_owned(),
    };
    let bodies = [
        ("application/json", "{}"),
        ("application/json", "[null,null]"),
        ("application/json", "{\"no_such_field\": 1}"),
        ("application/json", "{\"name\":"),
        ("text/plain", "hello"),
    ];
    let callers = [("nobody", browser()), ("admin", admin.clone()), ("user", owner.clone())];
    let mut answered = BTreeSet::new();
    for (method, path, operation) in operations(&doc) {
        let statuses = documented(&operation);
        let segments: Vec<&str> = path.split('/').collect();
        let concrete: Vec<String> = segments
            .iter()
            .enumerate()
            .map(|(at, segment)| match segment.starts_with('{') {
                true => id_after(segments[at - 1]),
                false => segment.to_string(),
            })
            .collect();
        let url = app.url(&concrete.join("/"));
        for (who, client) in &callers {
            // Signing out would end the session the other probes use.
            if path == "/api/v1/session" && method == "DELETE" && *who != "nobody" {
                continue;
            }
            let variants: Vec<Option<(&str, &str)>> = match operation.get("requestBody") {
                Some(_) => bodies.iter().copied().map(Some).collect(),
                None => vec![None],
            };
            for variant in variants {
                let mut request = client.request(Method::from_bytes(method.as_bytes()).unwrap(), &url);
                if let Some((content_type, body)) = variant {
                    request = request.header("content-type", content_type).body(body);
                }
                let status = request.send().await.unwrap().status();
                assert!(
                    statuses.contains(status.as_str()),
                    "{method} {path} as {who} with {variant:?} answered {status}, which the document does not list: {statuses:?}"
                );
                answered.insert(status.as_u16());
            }
        }
    }
    for status in [200, 204, 400, 401, 403, 404, 409, 415] {
        assert!(answered.contains(&status), "the probes reached a {status}: {answered:?}");
    }
}

on_both_backends!(
    every_operation_documents_the_refusals_its_shape_implies,
    every_answer_is_one_the_document_lists,
    the_document_is_openapi_3_1_with_both_ways_to_sign_in,
    every_documented_route_is_served,
    schemas_match_what_the_api_sends,
);
