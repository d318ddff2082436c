//! Times are stored as UTC unix milliseconds on both database backends.

pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
