//! Idempotency keys: a retried write carries the `request_id` of its first
//! attempt, and the service answers with what that attempt did instead of
//! doing it again. Each service keeps its keys in a table of its own with the
//! columns `(actor, request_id, method, subject_id, create_time)`, unique on
//! `(actor, request_id)`, written in the transaction of the write it keys.

use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::error::Error;

/// The idempotency keys of one service's table.
#[derive(Debug, Clone, Copy)]
pub struct RequestKeys {
    table: &'static str,
}

impl RequestKeys {
    /// The keys kept in `table` (a name of the service's own schema).
    pub const fn new(table: &'static str) -> Self {
        Self { table }
    }

    /// The subject of the earlier request `actor` made with `request_id`;
    /// `None` when the key is new or empty. A key used before for another
    /// method, or for another subject than `subject` when one is given, is
    /// refused naming `request_id`.
    pub async fn recall(
        &self,
        conn: &mut AnyConnection,
        actor: &str,
        request_id: &str,
        method: &str,
        subject: Option<&str>,
    ) -> Result<Option<String>, Error> {
        if request_id.is_empty() {
            return Ok(None);
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT subject_id, method FROM {} WHERE actor = $1 AND request_id = $2",
            self.table
        )))
        .bind(actor)
        .bind(request_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let first_subject: String = row.try_get(0)?;
        let first_method: String = row.try_get(1)?;
        if first_method != method || subject.is_some_and(|s| s != first_subject) {
            return Err(Error::invalid(
                "request_id",
                format!("was used before for {first_method} of {first_subject}; use a new key"),
            ));
        }
        Ok(Some(first_subject))
    }

    /// Keeps `request_id` with what it did; nothing when it is empty.
    pub async fn remember(
        &self,
        conn: &mut AnyConnection,
        actor: &str,
        request_id: &str,
        method: &str,
        subject_id: &str,
        now: i64,
    ) -> Result<(), Error> {
        if request_id.is_empty() {
            return Ok(());
        }
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {} (actor, request_id, method, subject_id, create_time) \
             VALUES ($1, $2, $3, $4, $5)",
            self.table
        )))
        .bind(actor)
        .bind(request_id)
        .bind(method)
        .bind(subject_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Claims `request_id` for `method` on `subject_id` up front, for writes
    /// whose subject is known before they run: `None` when the key is new (or
    /// empty), go ahead; the earlier subject when it was used before for the
    /// same method. Two concurrent first attempts cannot both go ahead.
    pub async fn claim(
        &self,
        conn: &mut AnyConnection,
        actor: &str,
        request_id: &str,
        method: &str,
        subject_id: &str,
        now: i64,
    ) -> Result<Option<String>, Error> {
        if request_id.is_empty() {
            return Ok(None);
        }
        let inserted = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {} (actor, request_id, method, subject_id, create_time) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (actor, request_id) DO NOTHING",
            self.table
        )))
        .bind(actor)
        .bind(request_id)
        .bind(method)
        .bind(subject_id)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(None);
        }
        self.recall(conn, actor, request_id, method, None).await
    }
}
