use crate::helpers::{spawn_app, Backend};
use crate::on_both_backends;
use reqwest::StatusCode;

async fn probes_answer_and_every_response_has_a_fresh_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = reqwest::Client::new();

    let live = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let first_id = live.headers()["x-request-id"].to_str().unwrap().to_owned();

    let ready = client.get(app.url("/readyz")).header("x-request-id", "client-chosen").send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let second_id = ready.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "ok");

    for id in [&first_id, &second_id] {
        let parsed = uuid::Uuid::parse_str(id).expect("request id is a UUID");
        assert_eq!(parsed.get_version_num(), 7, "request ids are UUIDv7");
    }
    assert_ne!(first_id, second_id);
    assert!(second_id > first_id, "request ids sort by time");
}

/// PostgreSQL only: an embedded SQLite file cannot become unreachable while the process runs.
#[tokio::test]
async fn readiness_and_requests_fail_clearly_when_postgres_refuses_connections() {
    use sqlx::{Connection, Executor};
    let app = spawn_app(Backend::Postgres).await;
    let client = reqwest::Client::new();
    let admin = app.admin().await;
    assert_eq!(client.get(app.url("/readyz")).send().await.unwrap().status(), StatusCode::OK);

    let name = app.database.url.rsplit('/').next().unwrap().to_owned();
    let admin_url = app.database.url.replace(&name, "postgres");
    let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    conn.execute(format!(r#"ALTER DATABASE "{name}" ALLOW_CONNECTIONS false"#).as_str()).await.unwrap();
    conn.execute(format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'").as_str())
        .await
        .unwrap();

    let ready = client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(client.get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK, "still alive");

    // A failure on our side is a sentence that quotes the failed request's id, never the cause.
    let failed = admin.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let request_id = failed.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = failed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal_error");
    assert_eq!(body["error"]["request_id"], request_id.as_str());
    let message = body["error"]["message"].as_str().unwrap();
    assert_eq!(message, format!("Something went wrong on our side. Quote request id {request_id} to support."));
}

on_both_backends!(probes_answer_and_every_response_has_a_fresh_request_id);
