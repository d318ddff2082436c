//! The usage log over months: rows found by id in past, current and next months'
//! partitions, and a retention that removes what is older (PostgreSQL: whole partitions).

use crate::helpers::{spawn_app_on, Backend, TestApp, TestDatabase};
use crate::on_both_backends;
use app::clock::now_ms;
use app::db::Db;
use app::usage::{retention, store, UsageRecord};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

const DAY_MS: i64 = 86_400_000;

/// A usage row as the gateway would have written it at `created_at`, its id made then.
fn row_at(created_at: i64) -> UsageRecord {
    let at = created_at as u64;
    let made = uuid::Timestamp::from_unix(uuid::NoContext, at / 1000, (at % 1000) as u32 * 1_000_000);
    UsageRecord {
        request_id: uuid::Uuid::new_v7(made).to_string(),
        created_at,
        route: "/v1/chat/completions".into(),
        status: 200,
        ..UsageRecord::default()
    }
}

/// A migrated database as a server running since `since` left it: the partitions its
/// upkeep made ahead month after month (PostgreSQL), and `rows`.
async fn database_with(backend: Backend, since: i64, rows: &[UsageRecord]) -> TestDatabase {
    let database = TestDatabase::create(backend).await;
    let db = Db::connect(&database.url, 1).await.unwrap();
    db.migrate().await.unwrap();
    for month in 0.. {
        let at = since + month * 28 * DAY_MS;
        if at > now_ms() {
            break;
        }
        retention::prepare(&db, at).await.unwrap();
    }
    store::insert_batch(&db, rows).await.unwrap();
    db.close().await;
    database
}

/// `GET /api/v1/usage/{id}` as the admin: the status, and the row when found.
async fn lookup(app: &TestApp, admin: &Client, request_id: &str) -> (StatusCode, Value) {
    let response = admin.get(app.url(&format!("/api/v1/usage/{request_id}"))).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

/// The partition (PostgreSQL) holding the row of `request_id`.
async fn partition_of(url: &str, request_id: &str) -> String {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let partition = sqlx::query_scalar("SELECT tableoid::regclass::text FROM usage_logs WHERE request_id = $1")
        .bind(request_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    partition
}

/// Whether `table` is still a partition of the usage log, and a table at all.
async fn partition_exists(url: &str, table: &str) -> (bool, bool) {
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).bind(table).fetch_one(&pool).await.unwrap() > 0 }
    };
    let attached = count(
        "SELECT COUNT(*) FROM pg_inherits
          WHERE inhparent = 'usage_logs'::regclass AND inhrelid::regclass::text = $1",
    )
    .await;
    let table = count("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = $1").await;
    pool.close().await;
    (attached, table)
}

/// Each of `rows` is found by its id, as it was stored.
async fn assert_found(app: &TestApp, rows: &[&UsageRecord]) {
    let admin = app.admin().await;
    for row in rows {
        let (status, found) = lookup(app, &admin, &row.request_id).await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(found["created_at"], row.created_at);
    }
}

/// On PostgreSQL, each of `rows`, all of different months, is in its month's own partition.
async fn assert_in_their_months(backend: Backend, url: &str, rows: &[&UsageRecord]) {
    if backend == Backend::Sqlite {
        return;
    }
    let mut partitions = std::collections::BTreeSet::new();
    for row in rows {
        partitions.insert(partition_of(url, &row.request_id).await);
    }
    assert!(!partitions.contains("usage_logs_default"), "each row in its month's partition: {partitions:?}");
    assert_eq!(partitions.len(), rows.len(), "a partition per month: {partitions:?}");
}

/// A database left by a release before migration 0010, holding `rows`, upgraded by
/// today's migrations.
async fn upgraded_database_with(backend: Backend, rows: &[UsageRecord]) -> TestDatabase {
    let database = TestDatabase::create(backend).await;
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations").join(folder);
    let before = database.dir.path().join("migrations-before-0010");
    std::fs::create_dir(&before).unwrap();
    for entry in std::fs::read_dir(&all).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_str().unwrap() < "0010" {
            std::fs::copy(&path, before.join(path.file_name().unwrap())).unwrap();
        }
    }
    let db = Db::connect(&database.url, 1).await.unwrap();
    sqlx::migrate::Migrator::new(before.as_path()).await.unwrap().run(db.pool()).await.unwrap();
    store::insert_batch(&db, rows).await.unwrap();
    db.migrate().await.expect("0010 applies over the older schema and its rows");
    db.close().await;
    database
}

async fn the_upgrade_keeps_every_row_and_moves_it_into_its_month(backend: Backend) {
    let now = now_ms();
    let rows = [row_at(now - 70 * DAY_MS), row_at(now - 35 * DAY_MS), row_at(now)];
    let app = spawn_app_on(upgraded_database_with(backend, &rows).await, |_| {}).await;
    let rows: Vec<&UsageRecord> = rows.iter().collect();
    assert_found(&app, &rows).await;
    assert_in_their_months(backend, &app.database.url, &rows).await;
}

async fn rows_of_past_current_and_next_months_are_found_by_id(backend: Backend) {
    let now = now_ms();
    let past = row_at(now - 60 * DAY_MS);
    let app = spawn_app_on(database_with(backend, now - 90 * DAY_MS, std::slice::from_ref(&past)).await, |_| {}).await;
    let (current, next) = (row_at(now), row_at(now + 35 * DAY_MS));
    let db = Db::connect(&app.database.url, 1).await.unwrap();
    store::insert_batch(&db, &[current.clone(), next.clone()]).await.expect("next month's partition is ready");
    store::insert_batch(&db, &[current.clone(), next.clone()]).await.expect("a retried batch is skipped");
    db.close().await;

    assert_found(&app, &[&past, &current, &next]).await;
    assert_in_their_months(backend, &app.database.url, &[&past, &current, &next]).await;
}

async fn the_retention_removes_older_rows_and_keeps_recent_ones(backend: Backend) {
    let now = now_ms();
    let old = row_at(now - 100 * DAY_MS);
    // Older than every partition the server made: on PostgreSQL it is in the default partition.
    let ancient = row_at(now - 400 * DAY_MS);
    let recent = row_at(now - 5 * DAY_MS);
    let database = database_with(backend, now - 120 * DAY_MS, &[old.clone(), ancient.clone(), recent.clone()]).await;
    let old_partition = match backend {
        Backend::Postgres => Some(partition_of(&database.url, &old.request_id).await),
        Backend::Sqlite => None,
    };
    let app = spawn_app_on(database, |config| config.usage_retention_days = NonZeroU32::new(30)).await;
    let admin = app.admin().await;

    // The upkeep runs as the server starts.
    let deadline = Instant::now() + Duration::from_secs(10);
    for gone in [&old, &ancient] {
        while lookup(&app, &admin, &gone.request_id).await.0 != StatusCode::NOT_FOUND {
            assert!(Instant::now() < deadline, "the row of {} outlived the retention", gone.created_at);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let (status, kept) = lookup(&app, &admin, &recent.request_id).await;
    assert_eq!(status, StatusCode::OK, "a row within the retention stays: {kept}");
    if let Some(old_partition) = old_partition {
        assert_eq!(
            partition_exists(&app.database.url, &old_partition).await,
            (false, false),
            "{old_partition} dropped"
        );
        let current = partition_of(&app.database.url, &recent.request_id).await;
        assert_ne!(current, "usage_logs_default", "a recent row is in its month's partition");
        assert_eq!(partition_exists(&app.database.url, &current).await, (true, true), "{current} kept");
    }
}

on_both_backends!(
    the_upgrade_keeps_every_row_and_moves_it_into_its_month,
    rows_of_past_current_and_next_months_are_found_by_id,
    the_retention_removes_older_rows_and_keeps_recent_ones,
);
