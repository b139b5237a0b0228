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
                crate::error::Why::new(
                    format!("was used before for {first_method} of {first_subject}; use a new key"),
                    "该请求编号已用于另一项操作，请重新提交",
                ),
            ));
        }
        Ok(Some(first_subject))
    }

    /// Keeps `request_id` with what it did; nothing when it is empty. When a
    /// concurrent attempt with the same key committed first, the write is
    /// `ABORTED` (and rolls back): retrying answers with that attempt's result.
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
        .await
        .map_err(|error| match Error::on_unique_violation(error, "") {
            Error::AlreadyExists(_) => Error::Aborted(format!(
                "another attempt with request_id {request_id} was made at the same time; \
                 retry to receive its result"
            ))
            .zh("同一请求正在另一处同时提交，请重试以获得其结果"),
            other => other,
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Store;

    /// A store with a key table: a schema of its own on the PostgreSQL of
    /// `ZHENGQI_TEST_DATABASE_URL` when that is set, else a SQLite file.
    async fn keys_store(dir: &std::path::Path) -> Store {
        let store = match std::env::var("ZHENGQI_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let schema = format!(
                    "keys_test_{}",
                    ulid::Ulid::generate().to_string().to_lowercase()
                );
                Store::connect(&url, Some(&schema)).await.unwrap()
            }
            _ => Store::open_sqlite(&dir.join("keys.db")).await.unwrap(),
        };
        sqlx::query(
            "CREATE TABLE test_requests (actor TEXT NOT NULL, request_id TEXT NOT NULL, \
             method TEXT NOT NULL, subject_id TEXT NOT NULL, create_time BIGINT NOT NULL, \
             PRIMARY KEY (actor, request_id))",
        )
        .execute(store.pool())
        .await
        .unwrap();
        store
    }

    #[tokio::test]
    async fn a_key_answers_with_its_first_subject_and_refuses_other_uses() {
        let dir = tempfile::tempdir().unwrap();
        let store = keys_store(dir.path()).await;
        let keys = RequestKeys::new("test_requests");
        let mut conn = store.pool().acquire().await.unwrap();

        assert_eq!(
            keys.recall(&mut conn, "a", "k1", "Create", None)
                .await
                .unwrap(),
            None
        );
        keys.remember(&mut conn, "a", "k1", "Create", "s1", 1)
            .await
            .unwrap();
        assert_eq!(
            keys.recall(&mut conn, "a", "k1", "Create", None)
                .await
                .unwrap(),
            Some("s1".to_owned())
        );
        // Another caller's key of the same name is theirs alone.
        assert_eq!(
            keys.recall(&mut conn, "b", "k1", "Create", None)
                .await
                .unwrap(),
            None
        );
        // The same key for another method or subject names request_id.
        let other_method = keys
            .recall(&mut conn, "a", "k1", "Update", None)
            .await
            .unwrap_err();
        assert!(
            other_method.to_string().contains("request_id"),
            "{other_method}"
        );
        assert!(
            keys.recall(&mut conn, "a", "k1", "Create", Some("s2"))
                .await
                .is_err()
        );
        // A second attempt that raced the first is ABORTED, never a second record.
        let raced = keys
            .remember(&mut conn, "a", "k1", "Create", "s9", 2)
            .await
            .unwrap_err();
        assert!(
            matches!(raced.unlocalized(), Error::Aborted(_)),
            "{raced:?}"
        );
        // Claiming: the first claim goes ahead, the second gets the first subject.
        assert_eq!(
            keys.claim(&mut conn, "a", "k2", "Create", "s3", 3)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            keys.claim(&mut conn, "a", "k2", "Create", "s4", 4)
                .await
                .unwrap(),
            Some("s3".to_owned())
        );
        // An empty key keys nothing.
        assert_eq!(
            keys.claim(&mut conn, "a", "", "Create", "s5", 5)
                .await
                .unwrap(),
            None
        );
        keys.remember(&mut conn, "a", "", "Create", "s5", 5)
            .await
            .unwrap();
        assert_eq!(
            keys.recall(&mut conn, "a", "", "Create", None)
                .await
                .unwrap(),
            None
        );
    }
}
