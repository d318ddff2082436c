//! SQL owned by the ledger: its entries, and the account balance they add up to.

use super::{BalanceView, LedgerEntry, LedgerKind, LedgerPage, UsageSpend};
use crate::clock::{new_id, now_ms};
use crate::db::Db;
use crate::error::AppError;
use sqlx::AnyConnection;

/// A ledger entry about to be written.
pub struct Posting<'a> {
    pub account_id: &'a str,
    pub amount: i64,
    pub kind: LedgerKind,
    pub request_id: Option<&'a str>,
    pub redemption_code: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub note: &'a str,
    pub created_by: Option<&'a str>,
}

impl<'a> Posting<'a> {
    pub fn new(kind: LedgerKind, account_id: &'a str, amount: i64) -> Self {
        Posting {
            account_id,
            amount,
            kind,
            request_id: None,
            redemption_code: None,
            idempotency_key: None,
            note: "",
            created_by: None,
        }
    }
}

type EntryRow = (String, String, i64, String, Option<String>, Option<String>, String, Option<String>, i64);

const SELECT_ENTRY: &str =
    "SELECT id, account_id, amount, kind, request_id, redemption_code, note, created_by, created_at FROM ledger_entries";

fn from_row(
    (id, account_id, amount, kind, request_id, redemption_code, note, created_by, created_at): EntryRow,
) -> Result<LedgerEntry, AppError> {
    let kind = LedgerKind::parse(&kind).ok_or_else(AppError::internal)?;
    Ok(LedgerEntry { id, account_id, amount, kind, request_id, redemption_code, note, created_by, created_at })
}

const INSERT_COLUMNS: &str =
    "id, account_id, amount, kind, request_id, redemption_code, idempotency_key, note, created_by, created_at";
const INSERT_COLUMN_COUNT: usize = 10;

impl Posting<'_> {
    fn entry(&self) -> LedgerEntry {
        LedgerEntry {
            id: new_id(),
            account_id: self.account_id.to_owned(),
            amount: self.amount,
            kind: self.kind,
            request_id: self.request_id.map(str::to_owned),
            redemption_code: self.redemption_code.map(str::to_owned),
            note: self.note.to_owned(),
            created_by: self.created_by.map(str::to_owned),
            created_at: now_ms(),
        }
    }
}

type InsertQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds one entry's row, in the order of `INSERT_COLUMNS`.
fn bind_entry<'q>(query: InsertQuery<'q>, entry: &'q LedgerEntry, idempotency_key: Option<&'q str>) -> InsertQuery<'q> {
    query
        .bind(&entry.id)
        .bind(&entry.account_id)
        .bind(entry.amount)
        .bind(entry.kind.as_str())
        .bind(&entry.request_id)
        .bind(&entry.redemption_code)
        .bind(idempotency_key)
        .bind(&entry.note)
        .bind(&entry.created_by)
        .bind(entry.created_at)
}

/// Writes the entry, in the caller's transaction, unless one with the same idempotency key
/// (or, for usage, the same request id) exists: then nothing is written and `None` returned.
/// The caller moves the balance by the entry's amount in the same transaction.
pub async fn insert(conn: &mut AnyConnection, posting: &Posting<'_>) -> Result<Option<LedgerEntry>, sqlx::Error> {
    let entry = posting.entry();
    let sql = format!(
        "INSERT INTO ledger_entries ({INSERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT DO NOTHING"
    );
    let inserted = bind_entry(sqlx::query(&sql), &entry, posting.idempotency_key).execute(conn).await?;
    Ok((inserted.rows_affected() == 1).then_some(entry))
}

/// Writes many entries as [`insert`] writes one, in multi-row statements: a charge
/// batch's entries cost a few round trips to the database instead of one each. Says,
/// per posting and in order, whether its entry was written.
pub async fn insert_many(
    conn: &mut AnyConnection,
    db: &Db,
    postings: &[Posting<'_>],
) -> Result<Vec<bool>, sqlx::Error> {
    let entries: Vec<LedgerEntry> = postings.iter().map(Posting::entry).collect();
    let rows: Vec<(&LedgerEntry, Option<&str>)> =
        entries.iter().zip(postings.iter().map(|posting| posting.idempotency_key)).collect();
    let head = format!("INSERT INTO ledger_entries ({INSERT_COLUMNS})");
    let mut inserted = 0;
    for (sql, chunk) in db.values_statements(&head, INSERT_COLUMN_COUNT, "ON CONFLICT DO NOTHING", &rows) {
        let mut query = sqlx::query(&sql);
        for &(entry, idempotency_key) in chunk {
            query = bind_entry(query, entry, idempotency_key);
        }
        inserted += query.execute(&mut *conn).await?.rows_affected();
    }
    if inserted == entries.len() as u64 {
        return Ok(vec![true; entries.len()]);
    }
    // Some were refused as repeats. The ids are new, so those now in the ledger are the
    // ones written. (Asking every statement for its ids instead sent each id back from
    // SQLite's thread as a message of its own.)
    let ids: Vec<&str> = entries.iter().map(|entry| entry.id.as_str()).collect();
    let written = written_ids(conn, db, &ids).await?;
    Ok(entries.iter().map(|entry| written.contains(&entry.id)).collect())
}

/// Which of `ids` are in the ledger.
async fn written_ids(
    conn: &mut AnyConnection,
    db: &Db,
    ids: &[&str],
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    let mut written = std::collections::HashSet::new();
    for (sql, chunk) in db.values_statements("SELECT id FROM ledger_entries WHERE id IN (", 1, ")", ids) {
        let mut query = sqlx::query_scalar::<_, String>(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        written.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(written)
}

/// Writes a credit entry and adds it to the balance; `None` as for [`insert`].
pub async fn credit(conn: &mut AnyConnection, posting: &Posting<'_>) -> Result<Option<LedgerEntry>, sqlx::Error> {
    let Some(entry) = insert(&mut *conn, posting).await? else { return Ok(None) };
    sqlx::query("UPDATE accounts SET balance = balance + $1 WHERE id = $2")
        .bind(entry.amount)
        .bind(&entry.account_id)
        .execute(conn)
        .await?;
    Ok(Some(entry))
}

pub async fn by_idempotency_key(db: &Db, account_id: &str, key: &str) -> Result<Option<LedgerEntry>, AppError> {
    let row: Option<EntryRow> =
        sqlx::query_as(&format!("{SELECT_ENTRY} WHERE account_id = $1 AND idempotency_key = $2"))
            .bind(account_id)
            .bind(key)
            .fetch_optional(db.pool())
            .await?;
    row.map(from_row).transpose()
}

/// Keyset pagination, newest first: UUIDv7 ids sort by creation time.
pub async fn page(db: &Db, account_id: &str, cursor: Option<&str>, limit: u32) -> Result<LedgerPage, AppError> {
    let older_than_cursor = if cursor.is_some() { "AND id < $3" } else { "" };
    let sql = format!("{SELECT_ENTRY} WHERE account_id = $1 {older_than_cursor} ORDER BY id DESC LIMIT $2");
    // One row more than asked tells whether another page follows.
    let mut query = sqlx::query_as::<_, EntryRow>(&sql).bind(account_id).bind(i64::from(limit) + 1);
    if let Some(cursor) = cursor {
        query = query.bind(cursor);
    }
    let mut entries = query.fetch_all(db.pool()).await?.into_iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if entries.len() > limit as usize {
        entries.truncate(limit as usize);
        entries.last().map(|entry| entry.id.clone())
    } else {
        None
    };
    Ok(LedgerPage { entries, next_cursor })
}

pub async fn balance(db: &Db, account_id: &str) -> Result<Option<BalanceView>, AppError> {
    let row: Option<(i64, i64, i64)> =
        sqlx::query_as("SELECT balance, reserved, low_balance_threshold FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(balance, reserved, low_balance_threshold)| {
        let available = balance - reserved;
        BalanceView {
            account_id: account_id.to_owned(),
            balance,
            reserved,
            available,
            low_balance_threshold,
            low_balance: available < low_balance_threshold,
        }
    }))
}

/// How far before `since` the id range starts. An entry's id is made a moment before its
/// `created_at`, and a writer may take an id well before it writes the row; `created_at`
/// decides, the id bound only keeps the scan short.
const ID_SLACK_MS: i64 = 60 * 60 * 1000;

/// The smallest UUIDv7 text made at or after `ms`: its first twelve hex digits are the
/// unix milliseconds, so ids compare in time order (as [`page`] relies on too).
fn first_id_at(ms: i64) -> String {
    let ms = ms.max(0);
    format!("{:08x}-{:04x}", ms >> 16, ms & 0xffff)
}

/// The usage charges since `day_start` and since `month_start` (`month_start <= day_start`).
/// The `id` bound lets the `(account_id, id)` index seek to the month instead of reading
/// every entry the account ever had.
pub async fn usage_spend(db: &Db, account_id: &str, day_start: i64, month_start: i64) -> Result<UsageSpend, AppError> {
    let (today, this_month): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(CASE WHEN created_at >= $2 THEN -amount ELSE 0 END), 0) AS BIGINT),
                CAST(COALESCE(SUM(-amount), 0) AS BIGINT)
           FROM ledger_entries
          WHERE account_id = $1 AND id >= $4 AND created_at >= $3 AND kind = 'usage'",
    )
    .bind(account_id)
    .bind(day_start)
    .bind(month_start)
    .bind(first_id_at(month_start - ID_SLACK_MS))
    .fetch_one(db.pool())
    .await?;
    Ok(UsageSpend { today, this_month })
}

#[cfg(test)]
mod tests {
    use super::first_id_at;

    #[test]
    fn the_first_id_of_a_millisecond_sorts_before_every_id_made_then_or_later() {
        let ms = 1_735_689_600_123;
        let made_then = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, 1_735_689_600, 123_000_000));
        let made_earlier = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, 1_735_689_600, 122_000_000));
        assert!(made_then.to_string() >= first_id_at(ms), "{made_then} vs {}", first_id_at(ms));
        assert!(made_earlier.to_string() < first_id_at(ms));
        assert_eq!(first_id_at(-5), "00000000-0000");
    }
}
