//! The audit log over the management API and its server function: admins read every
//! change with its actor and target, filtered and paged; nobody else reads it at all.

use crate::helpers::{browser, error_of, spawn_app, Backend, TestApp, ADMIN_EMAIL};
use crate::on_both_backends;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;

async fn audit(app: &TestApp, client: &Client, query: &str) -> Value {
    let response = client.get(app.url(&format!("/api/v1/audit?{query}"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET /api/v1/audit?{query}");
    response.json().await.unwrap()
}

fn entries(page: &Value) -> Vec<Value> {
    page["entries"].as_array().expect("entries").clone()
}

fn ids(entries: &[Value]) -> Vec<String> {
    entries.iter().map(|entry| entry["id"].as_str().unwrap().to_owned()).collect()
}

/// Every entry of a filter, following `next_cursor` page by page.
async fn walk(app: &TestApp, client: &Client, filter: &str, limit: u32) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let cursor_param = cursor.as_deref().map(|c| format!("&cursor={}", urlencode(c))).unwrap_or_default();
        let page = audit(app, client, &format!("{filter}&limit={limit}{cursor_param}")).await;
        let page_entries = entries(&page);
        assert!(page_entries.len() <= limit as usize, "a page holds at most `limit` entries");
        all.extend(page_entries);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn create_key(app: &TestApp, client: &Client, account: &str, name: &str) -> String {
    let response = client
        .post(app.url(&format!("/api/v1/accounts/{account}/keys")))
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

/// Newest first: `created_at` never rises down the list, ties broken by id, descending.
fn assert_newest_first(entries: &[Value]) {
    for pair in entries.windows(2) {
        let key = |entry: &Value| (entry["created_at"].as_i64().unwrap(), entry["id"].as_str().unwrap().to_owned());
        assert!(key(&pair[0]) > key(&pair[1]), "out of order: {} then {}", pair[0], pair[1]);
    }
}

async fn admins_read_changes_filtered_and_paged(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let admin_id = admin.get(app.url("/api/v1/me")).send().await.unwrap().json::<Value>().await.unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (owner_id, owner) = app.user(&admin, "owner@test.local", "user").await;
    let alpha = app.account(&admin, "Alpha", &owner_id).await;
    let beta = app.account(&admin, "Beta", &owner_id).await;
    let mut admin_keys = HashSet::new();
    for n in 0..5 {
        admin_keys.insert(create_key(&app, &admin, &alpha, &format!("admin-{n}")).await);
    }
    let owner_key = create_key(&app, &owner, &alpha, "owners-own").await;

    let everything = entries(&audit(&app, &admin, "limit=200").await);
    assert_newest_first(&everything);

    // By action: the six keys, each with its actor's email, account name, address and value.
    let created = entries(&audit(&app, &admin, "action=key.create").await);
    assert_eq!(created.len(), 6);
    assert!(created.iter().all(|entry| entry["action"] == "key.create" && entry["account_name"] == "Alpha"));
    assert!(created.iter().all(|entry| entry["ip"] == "127.0.0.1" && entry["target_type"] == "key"));
    let by_admin: HashSet<String> = created
        .iter()
        .filter(|entry| entry["actor_email"] == ADMIN_EMAIL)
        .map(|entry| entry["target_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(by_admin, admin_keys);
    assert_eq!(created[0]["target_id"], owner_key.as_str(), "the newest change comes first");
    assert_eq!(created[0]["actor_email"], "owner@test.local");
    assert_eq!(created[0]["after"]["name"], "owners-own", "the value after the change, as JSON");

    // By actor, as an id or as an email.
    for actor in [owner_id.as_str(), "owner@test.local", "OWNER@test.local"] {
        let by_owner = entries(&audit(&app, &admin, &format!("actor={}", urlencode(actor))).await);
        assert_eq!(ids(&by_owner), vec![created[0]["id"].as_str().unwrap().to_owned()], "actor={actor}");
    }
    assert!(entries(&audit(&app, &admin, "actor=nobody%40test.local").await).is_empty());
    let by_admin_id = entries(&audit(&app, &admin, &format!("actor={admin_id}&limit=200")).await);
    assert!(by_admin_id.len() >= 10 && by_admin_id.iter().all(|entry| entry["actor_id"] == admin_id.as_str()));

    // By account: Beta saw its creation and its owner's membership, nothing of Alpha's keys.
    let of_beta = entries(&audit(&app, &admin, &format!("account={beta}")).await);
    let actions: HashSet<&str> = of_beta.iter().map(|entry| entry["action"].as_str().unwrap()).collect();
    assert_eq!(actions, HashSet::from(["account.create", "member.set"]));
    assert!(of_beta.iter().all(|entry| entry["account_id"] == beta.as_str() && entry["account_name"] == "Beta"));
    let combined = entries(&audit(&app, &admin, &format!("account={alpha}&action=key.create&actor={owner_id}")).await);
    assert_eq!(combined.len(), 1);

    // By time: `from` is inclusive, `to` exclusive, and together they split the log.
    let middle = everything[everything.len() / 2]["created_at"].as_i64().unwrap();
    let since = entries(&audit(&app, &admin, &format!("from={middle}&limit=200")).await);
    let before = entries(&audit(&app, &admin, &format!("to={middle}&limit=200")).await);
    assert!(since.iter().all(|entry| entry["created_at"].as_i64().unwrap() >= middle));
    assert!(before.iter().all(|entry| entry["created_at"].as_i64().unwrap() < middle));
    assert!(!since.is_empty() && !before.is_empty());
    assert_eq!([ids(&since), ids(&before)].concat(), ids(&everything), "no entry lost or doubled");
    let window = entries(&audit(&app, &admin, &format!("from={middle}&to={}", middle + 1)).await);
    assert!(window.iter().all(|entry| entry["created_at"] == middle) && !window.is_empty());

    // Keyset pages: together exactly the unpaged list, in order, with no overlap and no gap.
    assert_eq!(ids(&walk(&app, &admin, "action=key.create", 2).await), ids(&created));
    assert_eq!(ids(&walk(&app, &admin, "", 1).await), ids(&everything));
}

/// Changes made within one millisecond share `created_at`; pages cut between them must
/// neither repeat nor skip one. Such rows are written directly, to have them for sure.
async fn pages_cut_through_changes_of_the_same_millisecond(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let rows: Vec<String> = (0..7)
        .map(|n| format!("('tie-{n}', 'test.tie', 'thing', 't{n}', {})", 1_700_000_000_000_i64 + n / 3))
        .collect();
    let sql =
        format!("INSERT INTO audit_log (id, action, target_type, target_id, created_at) VALUES {}", rows.join(", "));
    execute(&app, backend, &sql).await;
    let all = entries(&audit(&app, &admin, "action=test.tie").await);
    assert_eq!(ids(&all), ["tie-6", "tie-5", "tie-4", "tie-3", "tie-2", "tie-1", "tie-0"]);
    assert!(all.iter().all(|entry| entry["actor_id"].is_null() && entry["actor_email"].is_null()));
    for limit in 1..=4 {
        assert_eq!(ids(&walk(&app, &admin, "action=test.tie", limit).await), ids(&all), "pages of {limit}");
    }
}

async fn execute(app: &TestApp, backend: Backend, sql: &str) {
    use sqlx::{Connection, Executor};
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.database.url).await.unwrap();
            conn.execute(sql).await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&app.database.url).await.unwrap();
            conn.execute(sql).await.unwrap();
        }
    }
}

async fn bad_limits_and_cursors_get_the_contracts_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    for n in 0..51 {
        let created = admin.post(app.url("/api/v1/accounts")).json(&json!({ "name": format!("Tenant {n}") })).send();
        assert_eq!(created.await.unwrap().status(), StatusCode::CREATED);
    }
    let default = audit(&app, &admin, "").await;
    assert_eq!(entries(&default).len(), 50, "a page holds 50 unless asked otherwise");
    assert!(default["next_cursor"].is_string());
    assert_eq!(entries(&audit(&app, &admin, "limit=1").await).len(), 1);
    audit(&app, &admin, "limit=200").await;
    for (query, code) in [
        ("limit=0", "invalid_value"),
        ("limit=201", "invalid_value"),
        ("limit=-5", "invalid_value"),
        ("limit=many", "invalid_type"),
    ] {
        let response = admin.get(app.url(&format!("/api/v1/audit?{query}"))).send().await.unwrap();
        let error = error_of(response, StatusCode::BAD_REQUEST, code).await;
        assert_eq!(error["param"], "limit", "{query}");
        assert_eq!(error["layer"], "request");
    }
    let response = admin.get(app.url("/api/v1/audit?cursor=not-ours")).send().await.unwrap();
    assert_eq!(error_of(response, StatusCode::BAD_REQUEST, "invalid_value").await["param"], "cursor");
    let response = admin.get(app.url("/api/v1/audit?from=yesterday")).send().await.unwrap();
    assert_eq!(error_of(response, StatusCode::BAD_REQUEST, "invalid_type").await["param"], "from");
    let response = admin.get(app.url("/api/v1/audit?colour=red")).send().await.unwrap();
    assert_eq!(error_of(response, StatusCode::BAD_REQUEST, "unknown_field").await["param"], "colour");
}

async fn only_admins_read_the_audit_log(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (_, support) = app.user(&admin, "support@test.local", "support").await;
    let (_, user) = app.user(&admin, "user@test.local", "user").await;
    for client in [&support, &user] {
        let response = client.get(app.url("/api/v1/audit")).send().await.unwrap();
        assert_eq!(error_of(response, StatusCode::FORBIDDEN, "forbidden").await["layer"], "permission");
    }
    let response = browser().get(app.url("/api/v1/audit")).send().await.unwrap();
    assert_eq!(error_of(response, StatusCode::UNAUTHORIZED, "not_signed_in").await["layer"], "identity");
}

/// The change itself is recorded with who made it, on what, and the value before and after.
async fn an_audited_change_shows_its_actor_and_target(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (user_id, _) = app.user(&admin, "promoted@test.local", "user").await;
    let changed = admin
        .patch(app.url(&format!("/api/v1/users/{user_id}")))
        .json(&json!({ "role": "support" }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);

    let changes = entries(&audit(&app, &admin, "action=user.change").await);
    assert_eq!(changes.len(), 1);
    let change = &changes[0];
    assert_eq!(change["actor_email"], ADMIN_EMAIL);
    assert_eq!((change["target_type"].as_str(), change["target_id"].as_str()), (Some("user"), Some(user_id.as_str())));
    assert_eq!(change["before"]["role"], "user");
    assert_eq!(change["after"]["role"], "support");
    assert_eq!(change["after"]["email"], "promoted@test.local");
    assert!(change["account_id"].is_null() && change["account_name"].is_null(), "a user belongs to no account");
}

/// `/rpc/list_audit` is the console's way in: it refuses the same callers as the API.
async fn the_audit_server_function_refuses_non_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin().await;
    let (_, support) = app.user(&admin, "support@test.local", "support").await;
    let (_, user) = app.user(&admin, "user@test.local", "user").await;
    let filter = [("action", "user.create"), ("from", "2000-01-01T00:00")];
    let call = |client: &Client| client.post(app.url("/rpc/list_audit")).form(&filter).send();

    let stranger = call(&browser()).await.unwrap();
    assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED);
    for client in [&support, &user] {
        let refused = call(client).await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(refused.json::<Value>().await.unwrap()["error"], json!("Forbidden"));
    }

    let allowed = call(&admin).await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    let page: Value = allowed.json().await.unwrap();
    let emails: Vec<&str> =
        page["entries"].as_array().unwrap().iter().filter_map(|e| e["after"]["email"].as_str()).collect();
    assert_eq!(emails, ["user@test.local", "support@test.local"]);
}

on_both_backends!(
    admins_read_changes_filtered_and_paged,
    pages_cut_through_changes_of_the_same_millisecond,
    bad_limits_and_cursors_get_the_contracts_error,
    only_admins_read_the_audit_log,
    an_audited_change_shows_its_actor_and_target,
    the_audit_server_function_refuses_non_admins,
);
