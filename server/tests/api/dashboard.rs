//! The dashboard's figures through `GET /api/v1/accounts/{id}/dashboard` and its server
//! function: requests per hour and layer, spend, keys about to expire, tenant scoping,
//! and the plan of the 24-hour query on both databases.

use crate::gateway::{gateway_error, hello, request_id, World};
use crate::helpers::{browser, error_of, Backend};
use crate::on_both_backends;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

async fn dashboard(w: &World, client: &Client, account: &str) -> Response {
    client.get(w.app.url(&format!("/api/v1/accounts/{account}/dashboard"))).send().await.unwrap()
}

async fn dashboard_of(w: &World, client: &Client, account: &str) -> Value {
    let response = dashboard(w, client, account).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Per hour start, per outcome (`ok` or a layer): the counts of a dashboard's traffic.
fn counts(dashboard: &Value) -> BTreeMap<i64, BTreeMap<String, i64>> {
    let hours = dashboard["traffic"]["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 24, "the current hour and the 23 before it");
    hours
        .iter()
        .map(|hour| {
            let mut outcomes: BTreeMap<String, i64> = hour["errors"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(layer, n)| (layer.clone(), n.as_i64().unwrap()))
                .collect();
            outcomes.insert("ok".into(), hour["ok"].as_i64().unwrap());
            (hour["start"].as_i64().unwrap(), outcomes)
        })
        .collect()
}

/// Sums a usage list's `cost` over every page from `from` on.
async fn charged_since(w: &World, from: i64) -> i64 {
    let (mut total, mut cursor) = (0, String::new());
    loop {
        let url = w.app.url(&format!("/api/v1/accounts/{}/usage?from={from}&limit=200&cursor={cursor}", w.account));
        let page: Value = w.admin.get(url).send().await.unwrap().json().await.unwrap();
        total += page["rows"].as_array().unwrap().iter().map(|row| row["cost"].as_i64().unwrap()).sum::<i64>();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return total,
        }
    }
}

async fn the_dashboard_counts_requests_by_hour_and_layer_and_sums_the_spend(backend: Backend) {
    let w = World::new(backend).await;
    // An upstream that answers 400 (the upstream layer), and a model no channel can serve (routing).
    let reject = w.channel("reject", "openai", "reject", 0, 2000).await;
    w.model("picky", &[(&reject, None)]).await;
    let off = w.channel("off", "openai", "ok", 0, 2000).await;
    w.model("orphan", &[(&off, None)]).await;
    let disable_channel = w.admin.patch(w.app.url(&format!("/api/v1/channels/{off}"))).json(&json!({"enabled": false}));
    assert_eq!(disable_channel.send().await.unwrap().status(), StatusCode::OK);

    let good = w.key(json!({})).await;
    let walled = w.key(json!({"ip_allowlist": ["203.0.113.7"]})).await;
    let capped = w.key(json!({"spend_cap": 0})).await;
    let limited = w.key(json!({"rpm": 1})).await;
    let disabled = w.key(json!({})).await;
    let disabled_url = w.app.url(&format!("/api/v1/keys/{}", w.key_id(&disabled).await));
    let disable = w.admin.patch(disabled_url).json(&json!({"status": "disabled"})).send().await.unwrap();
    assert_eq!(disable.status(), StatusCode::OK);
    w.eventually(|| async { w.chat(&disabled, hello("echo-1")).await.status() == StatusCode::UNAUTHORIZED }).await;
    w.eventually(|| async { w.chat(&good, hello("orphan")).await.status() == StatusCode::SERVICE_UNAVAILABLE }).await;
    // Spend the rate-limited key's one request of this minute.
    w.eventually(|| async { w.chat(&limited, hello("echo-1")).await.status() == StatusCode::TOO_MANY_REQUESTS }).await;
    // Rows are written in batches: once this one is stored, every earlier one is too.
    w.usage_row(&request_id(&w.chat(&good, hello("echo-1")).await)).await;
    let before = dashboard_of(&w, &w.admin, &w.account).await;

    let mut sent = Vec::new();
    for _ in 0..3 {
        let answered = w.chat(&good, hello("echo-1")).await;
        assert_eq!(answered.status(), StatusCode::OK);
        sent.push(request_id(&answered));
    }
    let refusals = [
        (&disabled, "echo-1", 401, "api_key_disabled", "identity"),
        (&walled, "echo-1", 403, "ip_not_allowed", "permission"),
        (&capped, "echo-1", 429, "key_quota_exhausted", "quota"),
        (&limited, "echo-1", 429, "rate_limit_exceeded", "rate_limit"),
        (&good, "orphan", 503, "no_available_channel", "routing"),
        (&good, "picky", 400, "context_length_exceeded", "upstream"),
        (&good, "no-such-model", 404, "model_not_found", "request"),
    ];
    for (key, model, status, code, layer) in refusals {
        let refused = w.chat(key, hello(model)).await;
        sent.push(request_id(&refused));
        gateway_error(refused, status, code, layer).await;
    }
    // A key nobody issued belongs to no account: it is not counted anywhere.
    w.chat("tg-aaaaaaaaaaaa-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", hello("echo-1")).await;

    let mut expected: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    for id in &sent {
        let row = w.usage_row(id).await;
        let hour = row["created_at"].as_i64().unwrap() / HOUR_MS * HOUR_MS;
        let outcome = row["error_layer"].as_str().unwrap_or("ok").to_owned();
        *expected.entry(hour).or_default().entry(outcome).or_default() += 1;
    }
    let after = dashboard_of(&w, &w.admin, &w.account).await;
    let (before_counts, after_counts) = (counts(&before), counts(&after));
    let mut added: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    for (start, outcomes) in &after_counts {
        for (outcome, n) in outcomes {
            let was = before_counts.get(start).and_then(|o| o.get(outcome)).copied().unwrap_or(0);
            if n - was != 0 {
                added.entry(*start).or_default().insert(outcome.clone(), n - was);
            }
        }
    }
    assert_eq!(added, expected, "each request counted once, under its layer, in its hour");
    let mut by_outcome: BTreeMap<String, i64> = BTreeMap::new();
    for (outcome, n) in expected.values().flatten() {
        *by_outcome.entry(outcome.clone()).or_default() += n;
    }
    let wanted = [
        ("identity", 1),
        ("ok", 3),
        ("permission", 1),
        ("quota", 1),
        ("rate_limit", 1),
        ("request", 1),
        ("routing", 1),
        ("upstream", 1),
    ];
    assert_eq!(by_outcome, wanted.into_iter().map(|(outcome, n)| (outcome.to_owned(), n)).collect());
    let total = &after["traffic"]["total"];
    let summed: i64 = after_counts.values().flat_map(|outcomes| outcomes.values()).sum();
    let total_ok = total["ok"].as_i64().unwrap();
    let total_errors: i64 = total["errors"].as_object().unwrap().values().map(|n| n.as_i64().unwrap()).sum();
    assert_eq!(total_ok + total_errors, summed, "the total is the sum of the hours");

    let today = now_ms() / DAY_MS * DAY_MS;
    let spend = &after["money"]["spend"];
    let charged = charged_since(&w, today).await;
    assert!(charged > 0, "echo-1 has prices");
    assert_eq!(spend["today"].as_i64().unwrap(), charged, "spend today is the sum of today's charges");
    assert!(spend["this_month"].as_i64().unwrap() >= charged);
    assert_eq!(after["money"]["balance"], w.balance().await);
    assert_eq!(after["account_name"], "Demo");
    assert_eq!(after["role"], "owner");
}

async fn keys_about_to_expire_are_listed_as_the_keys_page_scopes_them(backend: Backend) {
    let w = World::new(backend).await;
    let (member_id, member) = w.app.user(&w.admin, "member@test.local", "user").await;
    let add = w.app.url(&format!("/api/v1/accounts/{}/members", w.account));
    let added = w.admin.post(add).json(&json!({"user_id": member_id, "role": "member"})).send().await.unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    let now = now_ms();
    let create = |client: &Client, name: &str, expires_at: i64| {
        let request = client
            .post(w.app.url(&format!("/api/v1/accounts/{}/keys", w.account)))
            .json(&json!({"name": name, "expires_at": expires_at}));
        async move {
            let created = request.send().await.unwrap();
            assert_eq!(created.status(), StatusCode::CREATED);
            created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
        }
    };
    let soon = create(&w.admin, "in three days", now + 3 * DAY_MS).await;
    create(&w.admin, "in thirty days", now + 30 * DAY_MS).await;
    let revoked = create(&w.admin, "revoked, in one day", now + DAY_MS).await;
    let revoke = w.admin.post(w.app.url(&format!("/api/v1/keys/{revoked}/revoke"))).send().await.unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    let members_own = create(&member, "member's, in two days", now + 2 * DAY_MS).await;

    let names = |dashboard: &Value| -> Vec<(String, String)> {
        let keys = dashboard["expiring_keys"].as_array().unwrap().iter();
        keys.map(|k| (k["id"].as_str().unwrap().to_owned(), k["name"].as_str().unwrap().to_owned())).collect()
    };
    let owners = dashboard_of(&w, &w.admin, &w.account).await;
    assert_eq!(
        names(&owners),
        [(members_own.clone(), "member's, in two days".to_owned()), (soon, "in three days".to_owned())],
        "owners see every key of the account expiring within 7 days, soonest first"
    );
    assert!(owners["expiring_keys"][0]["prefix"].as_str().unwrap().starts_with("tg-"));
    assert!(owners["money"].is_object());

    let members = dashboard_of(&w, &member, &w.account).await;
    assert_eq!(names(&members), [(members_own, "member's, in two days".to_owned())], "members see their own keys");
    assert_eq!(members["money"], Value::Null, "members do not see money");
    assert_eq!(members["role"], "member");
    assert_eq!(members["traffic"]["hours"].as_array().unwrap().len(), 24);
}

async fn the_dashboard_is_refused_outside_the_tenant(backend: Backend) {
    let w = World::new(backend).await;
    let (outsider_id, outsider) = w.app.user(&w.admin, "outsider@test.local", "user").await;
    let elsewhere = w.app.account(&w.admin, "Elsewhere", &outsider_id).await;
    let (_, support) = w.app.user(&w.admin, "support@test.local", "support").await;

    error_of(dashboard(&w, &outsider, &w.account).await, StatusCode::NOT_FOUND, "not_found").await;
    error_of(dashboard(&w, &outsider, "no-such-account").await, StatusCode::NOT_FOUND, "not_found").await;
    error_of(dashboard(&w, &browser(), &w.account).await, StatusCode::UNAUTHORIZED, "not_signed_in").await;
    assert_eq!(dashboard_of(&w, &outsider, &elsewhere).await["account_name"], "Elsewhere");

    let seen = dashboard_of(&w, &support, &w.account).await;
    assert_eq!(seen["role"], Value::Null, "support reads any account from outside");
    assert!(seen["money"]["balance"]["balance"].is_i64(), "support reads balances");

    // The console's server function, called directly over HTTP.
    let call = |client: &Client, account: &str| {
        let request = client.post(w.app.url("/rpc/get_dashboard")).form(&[("account_id", account)]);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(call(&outsider, &w.account).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(call(&browser(), &w.account).await.status(), StatusCode::UNAUTHORIZED);
    let own = call(&outsider, &elsewhere).await;
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(own.json::<Value>().await.unwrap()["account_name"], "Elsewhere");
    assert_eq!(call(&support, &w.account).await.status(), StatusCode::OK);
}

/// The 24-hour query seeks the `(account_id, created_at, request_id)` index: with many
/// rows of another account, older rows and newer ones, the plan reads only the account's
/// range (on PostgreSQL: in the month partitions the range falls in, by their copies of
/// the index).
async fn the_hourly_query_seeks_the_account_time_index(backend: Backend) {
    let w = World::new(backend).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&w.app.database.url).await.unwrap();
    let now = now_ms();
    // 40,000 rows five minutes apart, from ~70 days before now to ~70 days after, one in a
    // hundred of account `target`: whatever the day of the month, every month partition
    // the range falls in holds thousands of rows, as a real one would.
    sqlx::query(
        "INSERT INTO usage_logs (request_id, created_at, route, account_id, status, latency_ms)
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000)
         SELECT 'seeded-' || i, $1 + (i - 20000) * CAST(300000 AS BIGINT), '/v1/chat/completions',
                CASE WHEN i % 100 = 0 THEN 'target' ELSE 'other' END, 200, 1
           FROM n",
    )
    .bind(now)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(&pool).await.unwrap();

    let sql = app::usage::store::HOURLY_BY_LAYER_SQL;
    let (from, to) = (now - DAY_MS, now + HOUR_MS);
    let plan: Vec<String> = match backend {
        Backend::Sqlite => {
            let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                .bind("target")
                .bind(from)
                .bind(to)
                .fetch_all(&pool)
                .await
                .unwrap();
            rows.into_iter().map(|(.., detail)| detail).collect()
        }
        Backend::Postgres => {
            let rows: Vec<(String,)> = sqlx::query_as(&format!("EXPLAIN {sql}"))
                .bind("target")
                .bind(from)
                .bind(to)
                .fetch_all(&pool)
                .await
                .unwrap();
            rows.into_iter().map(|(line,)| line).collect()
        }
    };
    let plan = plan.join("\n");
    let partitions_copy = "_account_id_created_at_request_id_idx";
    assert!(plan.contains("usage_by_account_time") || plan.contains(partitions_copy), "{plan}");
    assert!(!plan.contains("SCAN usage_logs") && !plan.contains("Seq Scan"), "no full scan:\n{plan}");
    let uses_time_bound = match backend {
        Backend::Sqlite => plan.contains("created_at>? AND created_at<?"),
        Backend::Postgres => plan.contains("created_at >="),
    };
    assert!(uses_time_bound, "the time range bounds the index seek:\n{plan}");
    pool.close().await;
}

on_both_backends!(
    the_dashboard_counts_requests_by_hour_and_layer_and_sums_the_spend,
    keys_about_to_expire_are_listed_as_the_keys_page_scopes_them,
    the_dashboard_is_refused_outside_the_tenant,
    the_hourly_query_seeks_the_account_time_index,
);
