//! A connection of its own to a store's SQLite file, for a writer that runs on
//! a thread of its own. sqlx hands every statement to its connection's thread
//! and waits for the answer; a group commit of many statements per transaction
//! runs here where the connection is, without a hop between threads for each.
//!
//! The statements are the same [`Statement`]s the pool runs. SQLite reads
//! `$n` as a named parameter numbered by where it first appears, so `$n` is
//! spelled `?n` here, which SQLite numbers `n`: values bind by position.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{CachedStatement, Connection, Row, ToSql};

use super::{Columns, SqlValue, Statement};
use crate::error::Error;

/// Statements kept prepared per connection: a batch writer's few shapes with
/// room to spare.
const STATEMENT_CACHE: usize = 256;

/// How often the checkpointer copies a writer's committed WAL frames into the
/// database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Opens `path` as the pool's connections are opened: WAL, synchronous=NORMAL
/// (a committed transaction survives a crash of the process), a busy timeout
/// for the pool's writers, foreign keys on.
fn open(path: &Path) -> Result<Connection, Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
    )?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// A writer's own connection. Its commits only append to the WAL: copying the
/// WAL into the database file (a checkpoint, with its fsync) is left to a
/// thread of its own, which runs as long as the connection is open, so no
/// commit waits for one.
pub struct WriterConnection {
    conn: Connection,
    /// Dropped with the connection, which ends the checkpointer.
    _stop: mpsc::Sender<()>,
}

impl WriterConnection {
    pub(super) fn open(path: &Path) -> Result<WriterConnection, Error> {
        let conn = open(path)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpointer = open(path)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let file: PathBuf = path.to_owned();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    // PASSIVE: copies what no reader still needs, never blocks
                    // the writer; what it leaves is taken next time.
                    if let Err(error) = checkpointer.execute_batch("PRAGMA wal_checkpoint(PASSIVE)")
                    {
                        tracing::warn!(%error, file = %file.display(), "checkpoint failed");
                    }
                }
            })
            .map_err(|e| Error::internal(format!("cannot start the checkpointer: {e}")))?;
        Ok(WriterConnection { conn, _stop: stop })
    }
}

impl WriterConnection {
    /// Runs `work` in one write transaction, taking the write lock at once
    /// (`BEGIN IMMEDIATE`, as the pool's writers do), and commits it.
    pub fn write<T>(
        &mut self,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let value = work(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

impl Deref for WriterConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl DerefMut for WriterConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl ToSql for SqlValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            SqlValue::Null => ValueRef::Null,
            SqlValue::Int(number) => ValueRef::Integer(*number),
            SqlValue::Text(text) => ValueRef::Text(text.as_bytes()),
            SqlValue::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

impl Statement {
    /// Runs the statement on `conn` and maps every row it returns.
    pub fn rows_native<T>(
        &self,
        conn: &Connection,
        mut map: impl FnMut(&Row<'_>) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let mut statement = self.prepare_native(conn)?;
        let mut rows = statement.raw_query();
        let mut mapped = Vec::new();
        while let Some(row) = rows.next()? {
            mapped.push(map(row)?);
        }
        Ok(mapped)
    }

    /// Runs the statement on `conn`; returns the number of rows it changed.
    pub fn execute_native(&self, conn: &Connection) -> Result<usize, Error> {
        Ok(self.prepare_native(conn)?.raw_execute()?)
    }

    fn prepare_native<'c>(&self, conn: &'c Connection) -> Result<CachedStatement<'c>, Error> {
        let mut statement = conn.prepare_cached(&numbered_parameters(&self.sql))?;
        for (index, value) in (1..).zip(&self.params) {
            statement.raw_bind_parameter(index, value)?;
        }
        Ok(statement)
    }
}

/// `$n` parameters spelled `?n`. The statements are built by the services
/// and hold no `$` followed by a digit anywhere else.
fn numbered_parameters(sql: &str) -> String {
    let mut numbered = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        let parameter = c == '$' && chars.peek().is_some_and(char::is_ascii_digit);
        numbered.push(if parameter { '?' } else { c });
    }
    numbered
}

impl Columns for Row<'_> {
    fn text(&self, column: &str) -> Result<String, Error> {
        Ok(self.get(column)?)
    }

    fn optional_text(&self, column: &str) -> Result<Option<String>, Error> {
        Ok(self.get(column)?)
    }

    fn int(&self, column: &str) -> Result<i64, Error> {
        Ok(self.get(column)?)
    }

    fn optional_int(&self, column: &str) -> Result<Option<i64>, Error> {
        Ok(self.get(column)?)
    }
}

/// For a writer thread: waits for the first item of `queue`, lets `linger`
/// pass, then takes whatever else is queued, up to `max` items in `batch` in
/// all. False once the queue is closed and empty.
pub fn recv_batch<T>(
    queue: &mut tokio::sync::mpsc::Receiver<T>,
    batch: &mut Vec<T>,
    max: usize,
    linger: Duration,
) -> bool {
    let Some(first) = queue.blocking_recv() else {
        return false;
    };
    batch.push(first);
    if !linger.is_zero() {
        std::thread::sleep(linger);
    }
    while batch.len() < max {
        match queue.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    true
}

/// Whether `error` is SQLite refusing a row for a `UNIQUE` or primary key.
pub fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error().map(|e| e.extended_code),
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_bind_by_their_number_wherever_they_stand() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT, b BIGINT, c BLOB, d TEXT)")
            .unwrap();
        let insert = Statement {
            sql: "INSERT INTO t (d, c, b, a) VALUES ($4, $3, $2, $1)".into(),
            params: vec![
                SqlValue::Text("first".into()),
                SqlValue::Int(2),
                SqlValue::Blob(vec![3]),
                SqlValue::Null,
            ],
        };
        assert_eq!(insert.execute_native(&conn).unwrap(), 1);
        let select = Statement {
            sql: "SELECT a, b, d FROM t WHERE b = $2 AND a = $1".into(),
            params: vec![SqlValue::Text("first".into()), SqlValue::Int(2)],
        };
        let rows = select
            .rows_native(&conn, |row| {
                Ok((row.text("a")?, row.int("b")?, row.optional_text("d")?))
            })
            .unwrap();
        assert_eq!(rows, [("first".to_owned(), 2, None)]);
    }

    #[test]
    fn dollar_parameters_are_numbered_for_sqlite() {
        assert_eq!(
            numbered_parameters("SELECT $2, '$' || $10 WHERE a = $1"),
            "SELECT ?2, '$' || ?10 WHERE a = ?1"
        );
    }

    #[test]
    fn a_batch_takes_what_is_queued_up_to_its_limit_and_ends_with_the_queue() {
        let (sender, mut queue) = tokio::sync::mpsc::channel(10);
        for n in 0..5 {
            sender.try_send(n).unwrap();
        }
        let mut batch = Vec::new();
        assert!(recv_batch(&mut queue, &mut batch, 3, Duration::ZERO));
        assert_eq!(batch, [0, 1, 2]);
        batch.clear();
        assert!(recv_batch(&mut queue, &mut batch, 3, Duration::ZERO));
        assert_eq!(batch, [3, 4]);
        drop(sender);
        batch.clear();
        assert!(!recv_batch(&mut queue, &mut batch, 3, Duration::ZERO));
        assert!(batch.is_empty());
    }

    #[test]
    fn a_second_row_with_the_same_key_is_a_unique_violation() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT UNIQUE)")
            .unwrap();
        conn.execute("INSERT INTO t VALUES ('a', 'x')", []).unwrap();
        let error = conn
            .execute("INSERT INTO t VALUES ('b', 'x')", [])
            .unwrap_err();
        assert!(is_unique_violation(&error), "{error}");
        let error = conn
            .execute("INSERT INTO t VALUES ('a', 'y')", [])
            .unwrap_err();
        assert!(is_unique_violation(&error), "{error}");
        let error = conn
            .execute("INSERT INTO nowhere VALUES (1)", [])
            .unwrap_err();
        assert!(!is_unique_violation(&error));
    }
}
