//! SQL owned by the audit log: recording a change (inside the change's own transaction
//! where it has one), and reading the log newest first.

use super::{AuditEntry, AuditFilter, AuditPage};
use crate::access::Actor;
use crate::clock::{new_id, now_ms};
use crate::db::conditions::{bind_all, keyset_cursor, parse_keyset_cursor, Conditions, Param};
use crate::db::Db;
use crate::error::AppError;
use crate::state::AppState;
use serde::Serialize;

/// One change, described before it is recorded.
#[derive(Debug, Default)]
pub struct Entry {
    action: &'static str,
    target_type: &'static str,
    target_id: String,
    account_id: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

fn to_json(value: &impl Serialize) -> Option<String> {
    serde_json::to_string(value).ok()
}

impl Entry {
    pub fn new(action: &'static str, target_type: &'static str, target_id: &str) -> Self {
        Entry { action, target_type, target_id: target_id.to_owned(), ..Entry::default() }
    }

    pub fn account(mut self, account_id: &str) -> Self {
        self.account_id = Some(account_id.to_owned());
        self
    }

    pub fn before(mut self, value: &impl Serialize) -> Self {
        self.before = to_json(value);
        self
    }

    pub fn after(mut self, value: &impl Serialize) -> Self {
        self.after = to_json(value);
        self
    }
}

pub async fn record(state: &AppState, actor: &Actor, entry: Entry) -> Result<(), AppError> {
    Ok(record_in(state.db.pool(), actor, entry).await?)
}

const INSERT_COLUMNS: &str = "id, actor_id, action, target_type, target_id, account_id, before, after, ip, created_at";
const INSERT_COLUMN_COUNT: usize = 10;

type InsertQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds one row, in the order of `INSERT_COLUMNS`.
fn bind_row<'q>(query: InsertQuery<'q>, actor: &'q Actor, entry: &'q Entry, at: i64) -> InsertQuery<'q> {
    query
        .bind(new_id())
        .bind(&actor.user_id)
        .bind(entry.action)
        .bind(entry.target_type)
        .bind(&entry.target_id)
        .bind(&entry.account_id)
        .bind(&entry.before)
        .bind(&entry.after)
        .bind(&actor.ip)
        .bind(at)
}

/// Records inside the caller's transaction, so a change and its audit row commit together.
pub async fn record_in<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
    actor: &Actor,
    entry: Entry,
) -> Result<(), sqlx::Error> {
    let sql = format!("INSERT INTO audit_log ({INSERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
    bind_row(sqlx::query(&sql), actor, &entry, now_ms()).execute(executor).await?;
    Ok(())
}

/// Records many changes as [`record_in`] records one, in multi-row statements: a charge
/// batch's audit rows cost a few round trips to the database instead of one each.
pub async fn record_many_in(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    changes: &[(&Actor, Entry)],
) -> Result<(), sqlx::Error> {
    let at = now_ms();
    let head = format!("INSERT INTO audit_log ({INSERT_COLUMNS})");
    for (sql, chunk) in db.values_statements(&head, INSERT_COLUMN_COUNT, "", changes) {
        let mut query = sqlx::query(&sql);
        for (actor, entry) in chunk {
            query = bind_row(query, actor, entry, at);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    created_at: i64,
    actor_id: Option<String>,
    actor_email: Option<String>,
    action: String,
    target_type: String,
    target_id: String,
    account_id: Option<String>,
    account_name: Option<String>,
    before: Option<String>,
    after: Option<String>,
    ip: Option<String>,
}

/// Stored as JSON text; anything else (never written by `record`) is shown as it is.
fn json_of(text: Option<String>) -> Option<serde_json::Value> {
    text.map(|text| serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        AuditEntry {
            id: row.id,
            created_at: row.created_at,
            actor_id: row.actor_id,
            actor_email: row.actor_email,
            action: row.action,
            target_type: row.target_type,
            target_id: row.target_id,
            account_id: row.account_id,
            account_name: row.account_name,
            before: json_of(row.before),
            after: json_of(row.after),
            ip: row.ip,
        }
    }
}

/// The actor's email and the account's name come along, so the page shows names, not ids.
const SELECT_ENTRY: &str = "SELECT a.id, a.created_at, a.actor_id, u.email AS actor_email, a.action, a.target_type,
        a.target_id, a.account_id, c.name AS account_name, a.before, a.after, a.ip
    FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id LEFT JOIN accounts c ON c.id = a.account_id";

/// Entries newest first, one page at a time (keyset, so deep pages stay fast). The filter's
/// `actor` is a user id here; only the conditions given reach the WHERE clause, so each
/// can range over its `(…, created_at, id)` index.
pub async fn page(db: &Db, filter: &AuditFilter, limit: i64) -> Result<AuditPage, AppError> {
    let mut conditions = Conditions::default();
    conditions.and_optional("a.action = {0}", filter.action.clone().map(Param::Text));
    conditions.and_optional("a.actor_id = {0}", filter.actor.clone().map(Param::Text));
    conditions.and_optional("a.account_id = {0}", filter.account.clone().map(Param::Text));
    conditions.and_optional("a.created_at >= {0}", filter.from.map(Param::Int));
    conditions.and_optional("a.created_at < {0}", filter.to.map(Param::Int));
    if let Some((time, id)) = filter.cursor.as_deref().map(parse_keyset_cursor).transpose()? {
        // The plain bound lets the index range start at the cursor; the rest breaks ties.
        let keyset = "a.created_at <= {0} AND (a.created_at < {0} OR a.id < {1})";
        conditions.and(keyset, [Param::Int(time), Param::Text(id)]);
    }
    let where_clause = conditions.where_clause();
    // One row more than asked tells whether another page follows.
    conditions.params.push(Param::Int(limit + 1));
    let sql = format!(
        "{SELECT_ENTRY} {where_clause} ORDER BY a.created_at DESC, a.id DESC LIMIT ${}",
        conditions.params.len()
    );
    let query = bind_all(sqlx::query_as::<_, AuditRow>(&sql), conditions.params);
    let mut entries: Vec<AuditEntry> = query.fetch_all(db.pool()).await?.into_iter().map(AuditEntry::from).collect();
    let next_cursor = if entries.len() as i64 > limit {
        entries.truncate(limit as usize);
        entries.last().map(|entry| keyset_cursor(entry.created_at, &entry.id))
    } else {
        None
    };
    Ok(AuditPage { entries, next_cursor })
}
