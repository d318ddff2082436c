//! Filtered, keyset-paginated lists (usage logs, the audit log): a WHERE clause holding
//! only the conditions actually asked for, so each can use an index instead of being
//! skipped at run time, and the `"{created_at}_{id}"` cursor of the last row shown.

use crate::error::AppError;
use sqlx::any::AnyArguments;
use sqlx::query::QueryAs;
use sqlx::Any;

/// A value bound to a numbered (`$n`) placeholder: `Any` queries need the number, and
/// sqlx's `QueryBuilder` writes `?` for `Any`, which PostgreSQL refuses.
pub enum Param {
    Text(String),
    Int(i64),
}

/// Conditions joined with `AND`, and the values their placeholders stand for.
#[derive(Default)]
pub struct Conditions {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Conditions {
    pub fn new(first: &str, value: Param) -> Self {
        let mut conditions = Conditions::default();
        conditions.and(first, [value]);
        conditions
    }

    /// Appends `AND <template>`, where `{0}`, `{1}`… stand for the values' placeholders.
    pub fn and(&mut self, template: &str, values: impl IntoIterator<Item = Param>) {
        let mut clause = template.to_owned();
        for (index, value) in values.into_iter().enumerate() {
            self.params.push(value);
            clause = clause.replace(&format!("{{{index}}}"), &format!("${}", self.params.len()));
        }
        if !self.sql.is_empty() {
            self.sql.push_str(" AND ");
        }
        self.sql.push_str(&clause);
    }

    pub fn and_optional(&mut self, template: &str, value: Option<Param>) {
        if let Some(value) = value {
            self.and(template, [value]);
        }
    }

    /// `WHERE …`, or nothing when no condition was asked for.
    pub fn where_clause(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.sql)
        }
    }
}

/// Binds the values in placeholder order.
pub fn bind_all<'q, O>(
    mut query: QueryAs<'q, Any, O, AnyArguments<'q>>,
    params: Vec<Param>,
) -> QueryAs<'q, Any, O, AnyArguments<'q>> {
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text),
            Param::Int(int) => query.bind(int),
        };
    }
    query
}

/// The cursor of a list ordered by `(created_at, id)`: the last row shown.
pub fn keyset_cursor(created_at: i64, id: &str) -> String {
    format!("{created_at}_{id}")
}

/// The `(created_at, id)` a cursor from [`keyset_cursor`] names.
pub fn parse_keyset_cursor(cursor: &str) -> Result<(i64, String), AppError> {
    let invalid = || AppError::invalid("cursor", "This cursor was not issued by this API.");
    let (created_at, id) = cursor.split_once('_').ok_or_else(invalid)?;
    Ok((created_at.parse().map_err(|_| invalid())?, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_placeholders_in_order_and_omits_an_empty_where() {
        assert_eq!(Conditions::default().where_clause(), "");
        let mut conditions = Conditions::new("a = {0}", Param::Int(1));
        conditions.and_optional("b = {0}", None);
        conditions.and("c <= {0} AND (c < {0} OR d < {1})", [Param::Int(2), Param::Text("x".into())]);
        assert_eq!(conditions.where_clause(), "WHERE a = $1 AND c <= $2 AND (c < $2 OR d < $3)");
        assert_eq!(conditions.params.len(), 3);
    }

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let cursor = keyset_cursor(1_700_000_000_000, "0193-ab_c");
        assert_eq!(parse_keyset_cursor(&cursor).unwrap(), (1_700_000_000_000, "0193-ab_c".to_owned()));
        assert_eq!(parse_keyset_cursor("nonsense").unwrap_err().param(), Some("cursor"));
        assert_eq!(parse_keyset_cursor("x_1").unwrap_err().param(), Some("cursor"));
    }
}
