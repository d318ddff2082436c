//! A few thousand malformed requests (seeded, so a failure reproduces): never a 5xx.

use super::World;
use crate::helpers::Backend;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const CASES: usize = 3000;
const SEED: u64 = 0x7011_6a7e;

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth > 3 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.gen()),
        2 => json!(rng.gen::<i64>()),
        3 => json!(rng.gen::<f64>() * 1e6),
        4 => Value::String((0..rng.gen_range(0..20)).map(|_| rng.gen_range(' '..='~')).collect()),
        5 => Value::Array((0..rng.gen_range(0..4)).map(|_| random_value(rng, depth + 1)).collect()),
        _ => {
            let keys = ["model", "messages", "stream", "max_tokens", "role", "content", "system", "stop", "tools", "x"];
            let object = (0..rng.gen_range(0..5))
                .map(|_| (keys[rng.gen_range(0..keys.len())].to_owned(), random_value(rng, depth + 1)));
            Value::Object(object.collect())
        }
    }
}

/// Mostly near-valid requests with one part broken, some pure noise.
fn malformed_body(rng: &mut StdRng) -> Vec<u8> {
    let near_valid =
        json!({"model": "echo-1", "stream": rng.gen::<bool>(), "messages": [{"role": "user", "content": "hi there"}]});
    match rng.gen_range(0..6) {
        0 => (0..rng.gen_range(0..200)).map(|_| rng.gen()).collect(),
        1 => {
            let text = near_valid.to_string();
            text.as_bytes()[..rng.gen_range(0..text.len())].to_vec()
        }
        2 => random_value(rng, 0).to_string().into_bytes(),
        3 => {
            let mut body = near_valid.as_object().unwrap().clone();
            let field = ["model", "messages", "stream", "max_tokens"][rng.gen_range(0..4)];
            body.insert(field.into(), random_value(rng, 1));
            Value::Object(body).to_string().into_bytes()
        }
        4 => {
            let mut body = near_valid.clone();
            body["messages"] =
                json!([random_value(rng, 1), {"role": random_value(rng, 2), "content": random_value(rng, 2)}]);
            body.to_string().into_bytes()
        }
        _ => format!("{}{}", "[".repeat(rng.gen_range(1..300)), "]".repeat(rng.gen_range(0..300))).into_bytes(),
    }
}

#[tokio::test]
async fn thousands_of_malformed_bodies_never_cause_a_server_error() {
    let w = World::new(Backend::Sqlite).await;
    let key = w.key(json!({})).await;
    let mut rng = StdRng::seed_from_u64(SEED);
    let routes = ["/v1/chat/completions", "/v1/messages"];
    let content_types =
        ["application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded"];
    for case in 0..CASES {
        let route = routes[case % routes.len()];
        let content_type = content_types[if rng.gen_bool(0.85) { 0 } else { rng.gen_range(0..content_types.len()) }];
        let body = malformed_body(&mut rng);
        let response = w
            .client
            .post(w.app.url(route))
            .bearer_auth(&key)
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(status.as_u16() < 500, "case {case}: {status} for {:?}", String::from_utf8_lossy(&body));
        if !status.is_success() {
            let error: Value = response.json().await.unwrap_or_else(|_| panic!("case {case}: error body is JSON"));
            assert!(error["error"]["code"].is_string(), "case {case}: {error}");
        }
    }
}
