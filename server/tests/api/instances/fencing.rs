//! An instance paused past its stale time (SIGSTOP: a frozen virtual machine, a long stall)
//! is presumed dead and its leases go back; the other instance spends the balance they
//! held. Woken, the paused instance must not serve requests from the leases it remembers:
//! it finds itself presumed dead, registers again and leases from what is left (nothing).
//! Without that, the account ends below zero.

use super::{REDIS_URL, STALE_MS};
use crate::helpers::{Backend, ServerProcess, TestDatabase, ADMIN_PASSWORD};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};

const FUNDS: i64 = 500_000;
/// 1,000 micro-units a token, in or out: an echo answer costs about half of what is held
/// for it (the prompt estimate counts more than its three words), so what the paused
/// instance could still hold from its lease is worth more than any remainder of the balance.
const PRICE: i64 = 1_000_000_000;

fn chat_body() -> Value {
    json!({"model": "dear", "max_tokens": 3, "messages": [{"role": "user", "content": "hello gateway world"}]})
}

async fn chat(server: &ServerProcess, key: &str) -> StatusCode {
    let url = format!("{}/v1/chat/completions", server.base);
    Client::new().post(url).bearer_auth(key).json(&chat_body()).send().await.unwrap().status()
}

/// An account holding exactly `FUNDS`, a dear model on the echo channel, and a key of the
/// account that both instances accept.
async fn funded_key(first: &ServerProcess, second: &ServerProcess, admin: &Client) -> (String, String) {
    let api = |path: &str| format!("{}/api/v1{path}", first.base);
    let me: Value = admin.get(api("/me")).send().await.unwrap().json().await.unwrap();
    let account: Value =
        admin.post(api("/accounts")).json(&json!({"name": "Metered"})).send().await.unwrap().json().await.unwrap();
    let account = account["id"].as_str().unwrap().to_owned();
    let owner = json!({"user_id": me["user"]["id"], "role": "owner"});
    let joined = admin.post(api(&format!("/accounts/{account}/members"))).json(&owner).send().await.unwrap();
    assert_eq!(joined.status(), StatusCode::CREATED);
    let funds = json!({"amount": FUNDS, "note": "exact funds"});
    let granted = admin.post(api(&format!("/accounts/{account}/credits"))).json(&funds).send().await.unwrap();
    assert_eq!(granted.status(), StatusCode::CREATED);
    let channels: Vec<Value> = admin.get(api("/channels")).send().await.unwrap().json().await.unwrap();
    let echo = channels.iter().find(|channel| channel["protocol"] == "echo").expect("the demo echo channel");
    let model = json!({"code": "dear", "name": "dear", "input_price": PRICE, "output_price": PRICE,
        "context_window": 8192, "channels": [{"channel_id": echo["id"]}]});
    assert_eq!(admin.post(api("/models")).json(&model).send().await.unwrap().status(), StatusCode::CREATED);
    let key = first.key(admin, &account).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while chat(second, &key).await != StatusCode::OK {
        assert!(Instant::now() < deadline, "the second instance never accepted the key");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (account, key)
}

async fn instance_id(server: &ServerProcess) -> String {
    let ready: Value = reqwest::get(format!("{}/readyz", server.base)).await.unwrap().json().await.unwrap();
    ready["instance"].as_str().unwrap().to_owned()
}

async fn run_of(db: &mut PgConnection, instance: &str) -> Option<String> {
    sqlx::query_scalar("SELECT run_id FROM instances WHERE instance_id = $1")
        .bind(instance)
        .fetch_optional(db)
        .await
        .unwrap()
}

async fn leased_by(db: &mut PgConnection, run: &str) -> i64 {
    sqlx::query_scalar("SELECT COALESCE(SUM(amount), 0)::BIGINT FROM leases WHERE run_id = $1")
        .bind(run)
        .fetch_one(db)
        .await
        .unwrap()
}

async fn count(db: &mut PgConnection, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(db).await.unwrap()
}

#[tokio::test]
async fn an_instance_paused_past_its_stale_time_overdraws_nothing() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let stale = STALE_MS.to_string();
    let env = [
        ("TOLLGATE_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("TOLLGATE_SEED_DEMO", "true"),
        ("TOLLGATE_REDIS_URL", REDIS_URL),
        ("TOLLGATE_INSTANCE_STALE_MS", stale.as_str()),
    ];
    let first = ServerProcess::start_logging_to(&database, "first.log", &env);
    let second = ServerProcess::start_logging_to(&database, "second.log", &env);
    let (admin, _) = first.admin().await;
    let (account, key) = funded_key(&first, &second, &admin).await;
    let mut db = PgConnection::connect(&database.url).await.unwrap();

    // The second instance leases for the key (room for 16 requests) and uses a little.
    for _ in 0..3 {
        assert_eq!(chat(&second, &key).await, StatusCode::OK);
    }
    let paused_id = instance_id(&second).await;
    let paused_run = run_of(&mut db, &paused_id).await.expect("registered");
    assert!(leased_by(&mut db, &paused_run).await > 0, "the second instance holds a lease");
    // Its charges are written (every 200 ms); its lease is not yet idle (2 s).
    tokio::time::sleep(Duration::from_millis(500)).await;
    second.pause();

    let deadline = Instant::now() + Duration::from_millis(5 * STALE_MS);
    while leased_by(&mut db, &paused_run).await > 0 {
        assert!(Instant::now() < deadline, "the paused instance's lease never went back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut spent = 0;
    loop {
        match chat(&first, &key).await {
            StatusCode::OK => spent += 1,
            StatusCode::PAYMENT_REQUIRED => break,
            other => panic!("the first instance answered {other}"),
        }
        assert!(spent < 1_000, "the balance never ran out");
    }

    second.resume();
    let late = futures_util::future::join_all((0..10).map(|_| chat(&second, &key))).await;
    assert!(
        late.iter().all(|status| [StatusCode::OK, StatusCode::PAYMENT_REQUIRED].contains(status)),
        "woken, the paused instance answers: {late:?}"
    );
    let served_late = late.iter().filter(|status| **status == StatusCode::OK).count();
    let new_run = run_of(&mut db, &paused_id).await;
    assert!(new_run.is_some_and(|run| run != paused_run), "registered again as a new run");
    assert!(second.logs().contains("registered again"), "{}", second.logs());

    assert!(first.terminate().await.success());
    assert!(second.terminate().await.success());
    let (balance, reserved): (i64, i64) = sqlx::query_as("SELECT balance, reserved FROM accounts WHERE id = $1")
        .bind(&account)
        .fetch_one(&mut db)
        .await
        .unwrap();
    let ledger: i64 =
        sqlx::query_scalar("SELECT COALESCE(SUM(amount), 0)::BIGINT FROM ledger_entries WHERE account_id = $1")
            .bind(&account)
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert!(
        balance >= 0,
        "overdrawn by {}: woken, the paused instance served {served_late} requests from leases it no longer had",
        -balance
    );
    assert_eq!(balance, ledger, "balance == sum(ledger)");
    assert_eq!(reserved, 0, "no money held");
    assert_eq!((count(&mut db, "leases").await, count(&mut db, "instances").await), (0, 0), "no lease left open");
}
