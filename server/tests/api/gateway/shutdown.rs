//! SIGTERM during load: every request answered before exit has its usage row.

use crate::helpers::{Backend, ServerProcess, TestDatabase, ADMIN_PASSWORD};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn sigterm_under_load_loses_no_usage_rows() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    // A long flush interval: rows wait in memory, so only the shutdown flush saves them.
    let server = ServerProcess::start(
        &database,
        &[
            ("TOLLGATE_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("TOLLGATE_SEED_DEMO", "true"),
            ("TOLLGATE_USAGE_FLUSH_MS", "60000"),
        ],
    );
    let base = server.base.clone();

    let (admin, account) = server.admin().await;
    let key = server.key(&admin, &account).await;

    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (base, key, answered) = (base.clone(), key.clone(), answered.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for _ in 0..2000 {
                    let body = json!({"model": "echo-1", "messages": [{"role": "user", "content": "under load"}]});
                    match client.post(format!("{base}/v1/chat/completions")).bearer_auth(&key).json(&body).send().await
                    {
                        Ok(response) if response.status() == StatusCode::OK => {
                            let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
                            answered.lock().unwrap().push(id);
                        }
                        _ => break,
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let stopped = tokio::spawn(server.terminate());
    for worker in workers {
        worker.await.unwrap();
    }
    let status = stopped.await.unwrap();
    assert!(status.success(), "graceful exit: {status:?}");

    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() > 10, "the load ran: {} answers", answered.len());
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&database.url).await.unwrap();
    let stored: Vec<(String,)> =
        sqlx::query_as("SELECT request_id FROM usage_logs WHERE route = '/v1/chat/completions'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let stored: std::collections::HashSet<String> = stored.into_iter().map(|(id,)| id).collect();
    let missing: Vec<&String> = answered.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(missing.is_empty(), "{} of {} answered requests have no usage row", missing.len(), answered.len());
}
