//! The control-plane benchmark: usage rows bulk-inserted straight into Tollgate's
//! database (as months of traffic would have left them: ids made at the rows' times, in
//! the month partitions the server creates ahead on PostgreSQL), then request-id lookups
//! and pages of the account's usage, plain and filtered, timed through the management API.

use crate::database::Backend;
use crate::error::BenchError;
use crate::load::histogram;
use crate::report::{triple, write_json, Percentiles};
use crate::settings::Settings;
use crate::setup::{Configured, MODEL};
use app::usage::retention;
use reqwest::Client;
use serde::Serialize;
use sqlx::{AnyConnection, Connection};
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Rows per INSERT: 3 parameters each stays far below both databases' parameter limits.
const BATCH: u64 = 1000;
/// Requests timed per kind of query.
const SAMPLES: u64 = 200;
/// The seeded rows spread over this many milliseconds before now (30 days).
const SPAN_MS: i64 = 30 * 86_400_000;
/// One row in this many is a refusal, so a status filter has something to find.
const REFUSED_EVERY: u64 = 20;

#[derive(Debug, Serialize)]
pub struct Report {
    pub database: Backend,
    pub rows: u64,
    pub seed_rows_per_second: f64,
    pub lookup: Percentiles,
    pub page: Percentiles,
    pub filtered_page: Percentiles,
}

impl Report {
    pub fn print(&self) {
        println!("\nTollgate control plane: {:?}, {} usage rows", self.database, self.rows);
        println!(
            "seeded at {:.0} rows/s; latency in ms p50/p90/p99 over {SAMPLES} requests each",
            self.seed_rows_per_second
        );
        println!("request-id lookup  {}", triple(&self.lookup));
        println!("page of 50         {}", triple(&self.page));
        println!("filtered page      {}", triple(&self.filtered_page));
    }

    pub fn write_json(&self, path: &Path) -> Result<(), BenchError> {
        write_json(self, path)
    }
}

pub async fn measure(
    settings: &Settings,
    database_url: &str,
    base: &str,
    owner: &Configured,
) -> Result<Report, BenchError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    eprintln!("seeding {} usage rows ...", settings.rows);
    let started = Instant::now();
    let sampled = seed(database_url, owner, settings.rows, now).await?;
    let seed_rows_per_second = settings.rows as f64 / started.elapsed().as_secs_f64().max(f64::EPSILON);
    let lookups = sampled.iter().map(|id| format!("{base}/api/v1/usage/{id}"));
    // Pages that end at times spread over the whole span: keyset pagination from anywhere.
    let ends = || (0..SAMPLES as i64).map(move |i| now - SPAN_MS + SPAN_MS * (i + 1) / SAMPLES as i64);
    let list = format!("{base}/api/v1/accounts/{}/usage", owner.account);
    let pages = ends().map(|to| format!("{list}?to={to}"));
    let filtered = ends().map(|to| format!("{list}?key={}&model={MODEL}&status=4xx&to={to}", owner.key_id));
    Ok(Report {
        database: settings.backend,
        rows: settings.rows,
        seed_rows_per_second,
        lookup: time(&owner.client, lookups).await?,
        page: time(&owner.client, pages).await?,
        filtered_page: time(&owner.client, filtered).await?,
    })
}

/// Inserts `rows` usage rows of the benchmark's key, oldest first; returns the ids of
/// `SAMPLES` of them spread over the table.
async fn seed(url: &str, owner: &Configured, rows: u64, now: i64) -> Result<Vec<String>, BenchError> {
    partition_span(url, now - SPAN_MS).await?;
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(url).await?;
    let every = (rows / SAMPLES).max(1);
    let mut sampled = Vec::new();
    // SQLite gets plain `?` parameters: it looks named ones up by a linear search each.
    let sqlite = url.starts_with("sqlite");
    let param = |n: u64| if sqlite { "?".to_owned() } else { format!("${n}") };
    for first in (0..rows).step_by(BATCH as usize) {
        let count = BATCH.min(rows - first);
        let values: Vec<String> = (0..count)
            .map(|i| {
                let p: Vec<String> = (1..=6).map(|column| param(6 * i + column)).collect();
                format!(
                    "({}, {}, '/v1/chat/completions', {}, {}, {}, {}, 3, 12, 6, 24)",
                    p[0], p[1], p[2], p[3], p[4], p[5]
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO usage_logs (request_id, created_at, route, account_id, key_id, model, status, latency_ms, \
             prompt_tokens, completion_tokens, cost) VALUES {}",
            values.join(", ")
        );
        let mut insert = sqlx::query(&sql);
        for index in first..first + count {
            let created_at = now - SPAN_MS + (SPAN_MS as i128 * index as i128 / rows as i128) as i64;
            let id = id_made_at(created_at);
            if index % every == 0 && sampled.len() < SAMPLES as usize {
                sampled.push(id.clone());
            }
            let status: i64 = if index % REFUSED_EVERY == 0 { 429 } else { 200 };
            insert = insert
                .bind(id)
                .bind(created_at)
                .bind(owner.account.clone())
                .bind(owner.key_id.clone())
                .bind(MODEL)
                .bind(status);
        }
        insert.execute(&mut conn).await?;
    }
    if !sqlite {
        // A bulk load leaves PostgreSQL without statistics until autovacuum gets to the
        // table; without them it chose a bitmap scan and sort over the whole key.
        sqlx::query("ANALYZE usage_logs").execute(&mut conn).await?;
    }
    conn.close().await?;
    Ok(sampled)
}

/// The partitions the server would have created ahead while the span's rows were written
/// (from the span's first month on; nothing on SQLite). Without them, every row before
/// this month would land in PostgreSQL's default partition.
async fn partition_span(url: &str, from: i64) -> Result<(), BenchError> {
    let failed = |detail: String| BenchError::Setup { step: "usage partitions", detail };
    let db = app::db::Db::connect(url, 1).await.map_err(|err| failed(err.to_string()))?;
    retention::prepare(&db, from).await?;
    db.close().await;
    Ok(())
}

/// A request id as the gateway would have made it at `created_at` (UTC unix ms): a UUIDv7
/// starts with its time, which the lookup by id relies on.
fn id_made_at(created_at: i64) -> String {
    let at = created_at.max(0) as u64;
    let timestamp = uuid::Timestamp::from_unix(uuid::NoContext, at / 1000, (at % 1000) as u32 * 1_000_000);
    uuid::Uuid::new_v7(timestamp).to_string()
}

/// Sends each GET in turn (one client, like an operator's script) and times it.
async fn time(client: &Client, urls: impl Iterator<Item = String>) -> Result<Percentiles, BenchError> {
    let mut latencies = histogram();
    for url in urls {
        let started = Instant::now();
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(|err| BenchError::Query { url: url.clone(), detail: err.to_string() })?;
        let status = response.status();
        let body =
            response.bytes().await.map_err(|err| BenchError::Query { url: url.clone(), detail: err.to_string() })?;
        if !status.is_success() {
            return Err(BenchError::Query { url, detail: format!("{status}: {}", String::from_utf8_lossy(&body)) });
        }
        latencies.saturating_record(started.elapsed().as_micros() as u64);
    }
    Ok(Percentiles::of(&latencies))
}
