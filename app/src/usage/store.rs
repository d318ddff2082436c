//! SQL owned by the usage log.

use super::{UsageFilter, UsagePage, UsageRecord};
use crate::db::conditions::{bind_all, keyset_cursor, parse_keyset_cursor, Conditions, Param};
use crate::db::Db;
use crate::error::AppError;

const COLUMNS: &str = "request_id, client_request_id, created_at, route, account_id, key_id, model, status, error_code,
    error_layer, error_message, latency_ms, upstream_latency_ms, prompt_tokens, cache_read_tokens, cache_write_tokens,
    completion_tokens, reasoning_tokens, cost, overrun, client_ip, channel_id, upstream_request_id, attempts, stream,
    client_dialect, channel_dialect";
const COLUMN_COUNT: usize = 27;
pub const MAX_PAGE: i64 = 200;

#[derive(sqlx::FromRow)]
struct UsageRow {
    request_id: String,
    client_request_id: Option<String>,
    created_at: i64,
    route: String,
    account_id: Option<String>,
    key_id: Option<String>,
    model: Option<String>,
    status: i64,
    error_code: Option<String>,
    error_layer: Option<String>,
    error_message: Option<String>,
    latency_ms: i64,
    upstream_latency_ms: Option<i64>,
    prompt_tokens: i64,
    cache_read_tokens: i64,
    cache_write_tokens: i64,
    completion_tokens: i64,
    reasoning_tokens: i64,
    cost: i64,
    overrun: i64,
    client_ip: Option<String>,
    channel_id: Option<String>,
    upstream_request_id: Option<String>,
    attempts: String,
    stream: i64,
    client_dialect: Option<String>,
    channel_dialect: Option<String>,
}

impl From<UsageRow> for UsageRecord {
    fn from(row: UsageRow) -> Self {
        UsageRecord {
            request_id: row.request_id,
            client_request_id: row.client_request_id,
            created_at: row.created_at,
            route: row.route,
            account_id: row.account_id,
            key_id: row.key_id,
            model: row.model,
            status: row.status,
            error_code: row.error_code,
            error_layer: row.error_layer,
            error_message: row.error_message,
            latency_ms: row.latency_ms,
            upstream_latency_ms: row.upstream_latency_ms,
            prompt_tokens: row.prompt_tokens,
            cache_read_tokens: row.cache_read_tokens,
            cache_write_tokens: row.cache_write_tokens,
            completion_tokens: row.completion_tokens,
            reasoning_tokens: row.reasoning_tokens,
            cost: row.cost,
            overrun: row.overrun,
            client_ip: row.client_ip,
            channel_id: row.channel_id,
            upstream_request_id: row.upstream_request_id,
            attempts: serde_json::from_str(&row.attempts).unwrap_or_default(),
            stream: row.stream != 0,
            client_dialect: row.client_dialect,
            channel_dialect: row.channel_dialect,
        }
    }
}

/// Writes rows in multi-row statements, in one transaction; a row already stored is
/// skipped, so a retried batch never duplicates a row. (The conflict has no target: on
/// PostgreSQL the key is `(request_id, created_at)`, as partitioning requires, and a retried
/// row comes back with both unchanged.) One transaction is one commit:
/// on SQLite each commit writes every page it touched to the WAL again, so a commit per
/// statement rewrote the tables' and indexes' last pages once per chunk.
pub async fn insert_batch(db: &Db, rows: &[UsageRecord]) -> Result<(), sqlx::Error> {
    let head = format!("INSERT INTO usage_logs ({COLUMNS})");
    let mut tx = db.pool().begin().await?;
    for (sql, chunk) in db.values_statements(&head, COLUMN_COUNT, "ON CONFLICT DO NOTHING", rows) {
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = query
                .bind(&row.request_id)
                .bind(&row.client_request_id)
                .bind(row.created_at)
                .bind(&row.route)
                .bind(&row.account_id)
                .bind(&row.key_id)
                .bind(&row.model)
                .bind(row.status)
                .bind(&row.error_code)
                .bind(&row.error_layer)
                .bind(&row.error_message)
                .bind(row.latency_ms)
                .bind(row.upstream_latency_ms)
                .bind(row.prompt_tokens)
                .bind(row.cache_read_tokens)
                .bind(row.cache_write_tokens)
                .bind(row.completion_tokens)
                .bind(row.reasoning_tokens)
                .bind(row.cost)
                .bind(row.overrun)
                .bind(&row.client_ip)
                .bind(&row.channel_id)
                .bind(&row.upstream_request_id)
                .bind(serde_json::to_string(&row.attempts).unwrap_or_else(|_| "[]".into()))
                .bind(i64::from(row.stream))
                .bind(&row.client_dialect)
                .bind(&row.channel_dialect);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// How far from its id's time a row's `created_at` may be: the gateway takes it just after
/// making the id, so a day either way covers clock steps and still names at most two months.
const ID_TIME_SLACK_MS: i64 = 86_400_000;

/// The `created_at` range a row with this id lies in: our ids are UUIDv7, which start with
/// their creation time. `None` for any other id (there the lookup reads every partition).
fn created_around(request_id: &str) -> Option<(i64, i64)> {
    let id = uuid::Uuid::parse_str(request_id).ok().filter(|id| id.get_version_num() == 7)?;
    let (seconds, nanos) = id.get_timestamp()?.to_unix();
    let at = i64::try_from(seconds).ok()?.checked_mul(1000)? + i64::from(nanos / 1_000_000);
    Some((at - ID_TIME_SLACK_MS, at + ID_TIME_SLACK_MS))
}

/// One row by id. Bounded by the time in the id, so on PostgreSQL only the partitions of
/// that time are searched, however many months the log holds.
pub async fn by_request_id(db: &Db, request_id: &str) -> Result<Option<UsageRecord>, AppError> {
    let mut conditions = Conditions::new("request_id = {0}", Param::Text(request_id.to_owned()));
    if let Some((from, to)) = created_around(request_id) {
        conditions.and("created_at >= {0} AND created_at < {1}", [Param::Int(from), Param::Int(to)]);
    }
    let sql = format!("SELECT {COLUMNS} FROM usage_logs WHERE {}", conditions.sql);
    let row = bind_all(sqlx::query_as::<_, UsageRow>(&sql), conditions.params).fetch_optional(db.pool()).await?;
    Ok(row.map(UsageRecord::from))
}

/// The status range a filter names: `429` exactly, or `4xx` as 400..=499.
pub fn status_range(filter: &str) -> Result<(i64, i64), AppError> {
    let invalid = || AppError::invalid("status", "Use a status like 429 or a class like 4xx.");
    match filter.strip_suffix("xx") {
        Some(class) => {
            let class: i64 = class.parse().map_err(|_| invalid())?;
            (1..=5).contains(&class).then_some((class * 100, class * 100 + 99)).ok_or_else(invalid)
        }
        None => {
            let exact: i64 = filter.parse().map_err(|_| invalid())?;
            (100..=599).contains(&exact).then_some((exact, exact)).ok_or_else(invalid)
        }
    }
}

/// One account's rows, newest first, one page at a time (keyset, so deep pages stay fast).
pub async fn list(db: &Db, account_id: &str, filter: &UsageFilter) -> Result<UsagePage, AppError> {
    // Plain HTML forms send empty fields: an empty filter is no filter.
    let given = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
    let limit = filter.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let mut conditions = Conditions::new("account_id = {0}", Param::Text(account_id.to_owned()));
    conditions.and_optional("key_id = {0}", given(&filter.key).map(Param::Text));
    conditions.and_optional("model = {0}", given(&filter.model).map(Param::Text));
    conditions.and_optional("error_code = {0}", given(&filter.error_code).map(Param::Text));
    if let Some((min, max)) = given(&filter.status).as_deref().map(status_range).transpose()? {
        conditions.and("status BETWEEN {0} AND {1}", [Param::Int(min), Param::Int(max)]);
    }
    conditions.and_optional("created_at >= {0}", filter.from.map(Param::Int));
    conditions.and_optional("created_at < {0}", filter.to.map(Param::Int));
    if let Some((time, request_id)) = given(&filter.cursor).as_deref().map(parse_keyset_cursor).transpose()? {
        // The plain bound lets the index range start at the cursor; the rest breaks ties.
        let keyset = "created_at <= {0} AND (created_at < {0} OR request_id < {1})";
        conditions.and(keyset, [Param::Int(time), Param::Text(request_id)]);
    }
    conditions.params.push(Param::Int(limit + 1));
    let sql = format!(
        "SELECT {COLUMNS} FROM usage_logs WHERE {} ORDER BY created_at DESC, request_id DESC LIMIT ${}",
        conditions.sql,
        conditions.params.len()
    );
    let query = bind_all(sqlx::query_as::<_, UsageRow>(&sql), conditions.params);
    let mut rows: Vec<UsageRecord> = query.fetch_all(db.pool()).await?.into_iter().map(UsageRecord::from).collect();
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|row| keyset_cursor(row.created_at, &row.request_id))
    } else {
        None
    };
    Ok(UsagePage { rows, next_cursor })
}

/// Requests of one account per UTC hour and failing layer (`NULL`: answered) in
/// `[$2, $3)`. Public so a test can `EXPLAIN` it: the bounds on `account_id` and
/// `created_at` make it a range seek on `usage_by_account_time`, so other accounts' rows
/// and older rows are never read.
pub const HOURLY_BY_LAYER_SQL: &str = "SELECT created_at / 3600000 AS hour, error_layer, COUNT(*) AS requests
       FROM usage_logs
      WHERE account_id = $1 AND created_at >= $2 AND created_at < $3
      GROUP BY hour, error_layer";

/// How many requests of one UTC hour ended in one way.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HourlyCount {
    /// Hours since the unix epoch (UTC).
    pub hour: i64,
    /// The layer that refused the request; `None` when it was answered.
    pub error_layer: Option<String>,
    pub requests: i64,
}

/// One account's requests from `from` (inclusive) to `to` (exclusive), UTC unix ms,
/// counted per hour and failing layer.
pub async fn hourly_by_layer(db: &Db, account_id: &str, from: i64, to: i64) -> Result<Vec<HourlyCount>, AppError> {
    Ok(sqlx::query_as(HOURLY_BY_LAYER_SQL).bind(account_id).bind(from).bind(to).fetch_all(db.pool()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v7_id_bounds_the_time_of_its_row() {
        let before = crate::clock::now_ms();
        let (from, to) = created_around(&uuid::Uuid::now_v7().to_string()).expect("a v7 id has a time");
        assert!(from < before && before < to && to - from == 2 * ID_TIME_SLACK_MS, "{from} {before} {to}");
        assert_eq!(created_around("936da01f-9abd-4d9d-80c7-02af85c822a8"), None, "v4 ids have no time");
        assert_eq!(created_around("seeded-1"), None);
    }
}
