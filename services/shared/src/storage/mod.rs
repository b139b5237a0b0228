//! One storage API over SQLite (the embedded default) and PostgreSQL (production).
//!
//! Queries are written once in portable SQL with `$1`-style parameters, which both
//! backends accept through sqlx's `Any` driver; DDL that must differ lives in
//! per-backend migration folders of each service.

pub mod native;
mod requests;

pub use requests::RequestKeys;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationSource, Migrator};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, AssertSqlSafe, Connection, Executor, Row};

use crate::error::Error;
use crate::ids::PageToken;

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A service's migrations: those both backends run alike, from its
/// `migrations/` folder, and where the DDL differs, a file of the same
/// version for each backend in `migrations/sqlite/` and `migrations/postgres/`.
pub struct Migrations {
    pub common: Migrator,
    pub sqlite: Option<Migrator>,
    pub postgres: Option<Migrator>,
}

impl Migrations {
    /// The migrations `backend` runs, in version order. A version of its own
    /// must not also be common, and the backends must have the same versions
    /// of their own, so neither misses a step.
    pub fn for_backend(&self, backend: Backend) -> Result<Vec<Migration>, Error> {
        let versions = |own: Option<&Migrator>| -> Vec<i64> {
            own.map(|m| m.iter().map(|m| m.version).collect())
                .unwrap_or_default()
        };
        let (sqlite, postgres) = (
            versions(self.sqlite.as_ref()),
            versions(self.postgres.as_ref()),
        );
        if sqlite != postgres {
            return Err(Error::internal(format!(
                "the backends' own migrations differ in versions: sqlite {sqlite:?}, postgres {postgres:?}"
            )));
        }
        let own = match backend {
            Backend::Sqlite => self.sqlite.as_ref(),
            Backend::Postgres => self.postgres.as_ref(),
        };
        let mut all: Vec<Migration> = self.common.iter().cloned().collect();
        for migration in own.into_iter().flat_map(Migrator::iter) {
            if self.common.version_exists(migration.version) {
                return Err(Error::internal(format!(
                    "migration {} is both common and the backend's own",
                    migration.version
                )));
            }
            all.push(migration.clone());
        }
        all.sort_by_key(|m| m.version);
        Ok(all)
    }
}

/// Migrations already read, as a source for [`Migrator::new`].
#[derive(Debug)]
struct Resolved(Vec<Migration>);

impl MigrationSource<'static> for Resolved {
    fn resolve(
        self,
    ) -> futures_util::future::BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>>
    {
        Box::pin(async move { Ok(self.0) })
    }
}

/// A connection pool to one service's own database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The SQLite file, for connections of a writer's own; none in memory.
    sqlite_file: Option<PathBuf>,
}

static INSTALL_DRIVERS: Once = Once::new();

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`). A SQLite file is created
    /// if missing and put in WAL mode; a PostgreSQL `schema`, when given, is created
    /// if missing and used for every connection.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Store, Error> {
        INSTALL_DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::internal(format!(
                "unsupported database URL scheme in {:?}: expected sqlite: or postgres:",
                url.split(':').next().unwrap_or_default()
            )));
        };
        let pool = match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                };
                AnyPoolOptions::new()
                    .max_connections(8)
                    .min_connections(1)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // sqlx leaves SQLite in rollback-journal mode; WAL with
                            // synchronous=NORMAL survives a crash of the process.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
            Backend::Postgres => {
                let options = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10));
                match schema {
                    Some(schema) => {
                        let schema = quote_identifier(schema)?;
                        let mut conn = AnyConnection::connect(url).await?;
                        conn.execute(AssertSqlSafe(format!(
                            "CREATE SCHEMA IF NOT EXISTS {schema}"
                        )))
                        .await?;
                        conn.close().await?;
                        options
                            .after_connect(move |conn, _| {
                                let set = format!("SET search_path TO {schema}");
                                Box::pin(async move {
                                    conn.execute(AssertSqlSafe(set)).await?;
                                    Ok(())
                                })
                            })
                            .connect(url)
                            .await?
                    }
                    None => options.connect(url).await?,
                }
            }
        };
        let sqlite_file = match backend {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?;
                let file = options.get_filename();
                let in_memory = file.as_os_str().is_empty()
                    || file == Path::new(":memory:")
                    || url.contains("mode=memory");
                (!in_memory).then(|| file.to_owned())
            }
            Backend::Postgres => None,
        };
        let store = Store {
            pool,
            backend,
            sqlite_file,
        };
        store.ensure_core_schema().await?;
        Ok(store)
    }

    /// Opens (creating if missing) the SQLite file at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Store, Error> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::internal(format!("cannot create {}: {e}", parent.display())))?;
        }
        let absolute = std::path::absolute(path)
            .map_err(|e| Error::internal(format!("bad database path {}: {e}", path.display())))?;
        Store::connect(&format!("sqlite://{}", absolute.display()), None).await
    }

    /// Runs the service's migrations for this backend.
    pub async fn migrate(&self, migrations: &Migrations) -> Result<(), Error> {
        let migrator = Migrator::new(Resolved(migrations.for_backend(self.backend)?))
            .await
            .map_err(|e| Error::internal(format!("migrations do not resolve: {e}")))?;
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| Error::internal(format!("migration failed: {e}")))
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`), so it waits its turn instead of failing when a
    /// read would have to be upgraded after another writer committed.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, Error> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// A read-only transaction that sees the store as it was at its first read
    /// throughout, whatever commits meanwhile: for checks that read a table in
    /// several statements (a ledger's entries page by page, then its head).
    pub async fn begin_snapshot(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, Error> {
        Ok(match self.backend {
            // In WAL mode a read transaction keeps the snapshot of its first read.
            Backend::Sqlite => self.pool.begin_with("BEGIN DEFERRED").await?,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        })
    }

    /// A connection of its own to the SQLite file, for a writer on a thread of
    /// its own (see [`native`]); `None` on PostgreSQL and for an in-memory
    /// database, whose writers use the pool.
    pub fn open_native(&self) -> Result<Option<native::WriterConnection>, Error> {
        self.sqlite_file
            .as_deref()
            .map(native::WriterConnection::open)
            .transpose()
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The tables the shared mechanisms keep in every service's database: the
    /// append-only event log and the cursors of the logs this service consumes.
    async fn ensure_core_schema(&self) -> Result<(), Error> {
        let ddl = match self.backend {
            Backend::Sqlite => {
                "CREATE TABLE IF NOT EXISTS zq_events (
                    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_type TEXT NOT NULL,
                    subject_id TEXT NOT NULL,
                    jurisdiction_code TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    create_time BIGINT NOT NULL);
                 CREATE INDEX IF NOT EXISTS zq_events_by_subject ON zq_events (subject_id);
                 CREATE TABLE IF NOT EXISTS zq_consumer_cursors (
                    source TEXT PRIMARY KEY,
                    sequence BIGINT NOT NULL,
                    update_time BIGINT NOT NULL);"
            }
            Backend::Postgres => {
                "CREATE TABLE IF NOT EXISTS zq_events (
                    sequence BIGSERIAL PRIMARY KEY,
                    event_type TEXT NOT NULL,
                    subject_id TEXT NOT NULL,
                    jurisdiction_code TEXT NOT NULL,
                    payload BYTEA NOT NULL,
                    create_time BIGINT NOT NULL);
                 CREATE INDEX IF NOT EXISTS zq_events_by_subject ON zq_events (subject_id);
                 CREATE TABLE IF NOT EXISTS zq_consumer_cursors (
                    source TEXT PRIMARY KEY,
                    sequence BIGINT NOT NULL,
                    update_time BIGINT NOT NULL);"
            }
        };
        let mut conn = self.pool.acquire().await?;
        if self.backend == Backend::Postgres {
            // Concurrent starts of replicas must not race on CREATE TABLE.
            sqlx::query("SELECT pg_advisory_lock(7311)")
                .execute(&mut *conn)
                .await?;
        }
        let result = conn.execute(ddl).await;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_unlock(7311)")
                .execute(&mut *conn)
                .await?;
        }
        result?;
        Ok(())
    }
}

fn quote_identifier(name: &str) -> Result<String, Error> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::internal(format!(
            "database schema {name:?} must be letters, digits and underscores"
        )));
    }
    Ok(format!("\"{name}\""))
}

/// Microseconds since the Unix epoch, the portable representation of a time.
/// The most rows one multi-row statement takes.
pub const MAX_STATEMENT_ROWS: usize = 64;

/// `items` cut into runs whose lengths are powers of two (at most
/// [`MAX_STATEMENT_ROWS`]): a multi-row statement then takes one of seven shapes,
/// and every shape stays in the connection's statement cache (sqlx keeps 100
/// per connection; a shape per batch size would evict them and re-prepare the
/// statement each time).
pub fn statement_chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if items.is_empty() {
            return None;
        }
        let take = MAX_STATEMENT_ROWS.min(1 << items.len().ilog2());
        let (chunk, rest) = items.split_at(take);
        items = rest;
        Some(chunk)
    })
}

/// `values` repeated at the end up to a power of two, for an `IN (…)` list of
/// few shapes; repeating a value does not change what `IN` matches.
pub fn padded_in_list<T: Clone>(values: &[T]) -> Vec<T> {
    let mut padded = values.to_vec();
    if let Some(last) = values.last() {
        padded.resize(values.len().next_power_of_two(), last.clone());
    }
    padded
}

/// `$first, $first+1, …` for `count` parameters.
pub fn placeholders(first: usize, count: usize) -> String {
    let mut sql = String::with_capacity(count * 5);
    push_placeholders(&mut sql, first, count);
    sql
}

/// Writes `$first, …` into `sql`: one string for a whole statement, as a
/// batch's statements are built for every batch.
fn push_placeholders(sql: &mut String, first: usize, count: usize) {
    use std::fmt::Write;
    for n in first..first + count {
        if n > first {
            sql.push_str(", ");
        }
        let _ = write!(sql, "${n}");
    }
}

/// `($first, …), (…), …`: `rows` rows of `width` parameters each, for a
/// multi-row `VALUES`.
pub fn value_rows(first: usize, rows: usize, width: usize) -> String {
    let mut sql = String::with_capacity(rows * (width * 5 + 4));
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        push_placeholders(&mut sql, first + row * width, width);
        sql.push(')');
    }
    sql
}

pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

pub fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

/// Whether a database error is a unique-constraint violation, on either backend.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Microseconds of a timestamp, saturating: a time beyond what an `i64` of
/// microseconds holds becomes its end, never an overflow. Check what a caller
/// sends with [`checked_micros`].
pub fn micros_of(timestamp: &prost_types::Timestamp) -> i64 {
    timestamp
        .seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(timestamp.nanos) / 1_000)
}

/// Microseconds of a timestamp a caller sent, when it is one
/// `google.protobuf.Timestamp` allows: from 0001-01-01 to 9999-12-31, with
/// nanos from 0 to 999,999,999. The error says so, for the field's violation.
pub fn checked_micros(timestamp: &prost_types::Timestamp) -> Result<i64, &'static str> {
    const MIN_SECONDS: i64 = -62_135_596_800;
    const MAX_SECONDS: i64 = 253_402_300_799;
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&timestamp.seconds)
        || !(0..1_000_000_000).contains(&timestamp.nanos)
    {
        return Err("is not a time between the years 1 and 9999");
    }
    Ok(micros_of(timestamp))
}

/// A value bound to a query built at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Text(String),
    Int(i64),
    Blob(Vec<u8>),
}

impl From<&str> for SqlValue {
    fn from(text: &str) -> Self {
        SqlValue::Text(text.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(text: String) -> Self {
        SqlValue::Text(text)
    }
}

impl From<Option<String>> for SqlValue {
    fn from(text: Option<String>) -> Self {
        text.map_or(SqlValue::Null, SqlValue::Text)
    }
}

impl From<i64> for SqlValue {
    fn from(number: i64) -> Self {
        SqlValue::Int(number)
    }
}

/// A statement built at run time with its values, run by the pool
/// ([`Statement::query`]) or by a connection of a writer's own
/// ([`Statement::rows_native`], [`Statement::execute_native`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// Portable SQL with `$1`-style parameters.
    pub sql: String,
    /// The value of `$1`, `$2`, ….
    pub params: Vec<SqlValue>,
}

impl Statement {
    /// The statement for the pool, its values bound.
    pub fn query(&self) -> sqlx::query::Query<'static, sqlx::Any, AnyArguments> {
        let mut query = sqlx::query(AssertSqlSafe(self.sql.clone()));
        for value in &self.params {
            query = match value {
                SqlValue::Null => query.bind(None::<String>),
                SqlValue::Text(text) => query.bind(text.clone()),
                SqlValue::Int(number) => query.bind(*number),
                SqlValue::Blob(bytes) => query.bind(bytes.clone()),
            };
        }
        query
    }
}

/// Reading a row's columns by name, from the pool or a connection of a
/// writer's own, so one function turns a row into a record for both.
pub trait Columns {
    fn text(&self, column: &str) -> Result<String, Error>;
    fn optional_text(&self, column: &str) -> Result<Option<String>, Error>;
    fn int(&self, column: &str) -> Result<i64, Error>;
    fn optional_int(&self, column: &str) -> Result<Option<i64>, Error>;
}

impl Columns for AnyRow {
    fn text(&self, column: &str) -> Result<String, Error> {
        Ok(self.try_get(column)?)
    }

    fn optional_text(&self, column: &str) -> Result<Option<String>, Error> {
        Ok(self.try_get(column)?)
    }

    fn int(&self, column: &str) -> Result<i64, Error> {
        Ok(self.try_get(column)?)
    }

    fn optional_int(&self, column: &str) -> Result<Option<i64>, Error> {
        Ok(self.try_get(column)?)
    }
}

/// A `WHERE` clause assembled from optional filters, numbering its `$n`
/// parameters so the same text runs on SQLite and PostgreSQL.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    clauses: Vec<String>,
    values: Vec<SqlValue>,
}

impl Filter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next parameter's placeholder, binding `value` to it.
    pub fn param(&mut self, value: SqlValue) -> String {
        self.values.push(value);
        format!("${}", self.values.len())
    }

    /// Adds a condition; `build` receives a function that binds a value and
    /// returns its placeholder.
    pub fn and(&mut self, build: impl FnOnce(&mut dyn FnMut(SqlValue) -> String) -> String) {
        let clause = build(&mut |value| self.param(value));
        self.clauses.push(clause);
    }

    /// `column = value`.
    pub fn eq(&mut self, column: &str, value: SqlValue) {
        let p = self.param(value);
        self.clauses.push(format!("{column} = {p}"));
    }

    /// `column IN (values…)` when a set is given (e.g. the jurisdictions a caller
    /// may see); no condition for `None`.
    pub fn within(&mut self, column: &str, values: Option<&[String]>) {
        if let Some(values) = values {
            self.any_of(column, values.iter().cloned().map(SqlValue::Text));
        }
    }

    /// `column IN (values…)`; an empty set matches nothing.
    pub fn any_of(&mut self, column: &str, values: impl IntoIterator<Item = SqlValue>) {
        let placeholders: Vec<String> = values.into_iter().map(|v| self.param(v)).collect();
        if placeholders.is_empty() {
            self.clauses.push("1 = 0".to_owned());
        } else {
            self.clauses
                .push(format!("{column} IN ({})", placeholders.join(", ")));
        }
    }

    /// ` WHERE …` (or nothing).
    pub fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// Binds the collected values, in order, to `sql`.
    pub fn query(
        &self,
        sql: String,
    ) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
        Statement {
            sql,
            params: self.values.clone(),
        }
        .query()
    }
}

/// A named enum read back from its column; a name the code does not know is
/// a defect of the store (an error of the server), never of the request.
pub fn stored<T>(column: &str, value: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, Error> {
    parse(value).ok_or_else(|| corrupt(column, value))
}

/// A stored value that does not read back (an unknown name, JSON that does
/// not parse).
pub fn corrupt(column: &str, value: &str) -> Error {
    Error::internal(format!("unknown {column} {value:?} in the store"))
}

/// One list's rows in keyset order (the one pager every list uses): the
/// source, its columns, the sort key and the tie-breaking id column, as the
/// `SELECT` names them. A page is the rows after the last one of the page
/// before (`PageToken`), so rows added meanwhile neither repeat nor go missing.
pub struct Keyset {
    pub from: &'static str,
    pub columns: &'static str,
    pub sort: &'static str,
    pub tie: &'static str,
    pub descending: bool,
}

impl Keyset {
    /// The `limit + 1` rows after `after` that `filter` lets through, so
    /// `ids::paginate` can tell whether another page follows.
    pub async fn page<T>(
        &self,
        conn: &mut AnyConnection,
        filter: Filter,
        after: Option<PageToken>,
        limit: i64,
        map: fn(&AnyRow) -> Result<T, Error>,
    ) -> Result<Vec<T>, Error> {
        let rows = self.rows(conn, filter, after, limit).await?;
        rows.iter().map(map).collect()
    }

    /// The rows of [`Keyset::page`], for lists whose rows are read further.
    pub async fn rows(
        &self,
        conn: &mut AnyConnection,
        mut filter: Filter,
        after: Option<PageToken>,
        limit: i64,
    ) -> Result<Vec<AnyRow>, Error> {
        let Keyset {
            from,
            columns,
            sort,
            tie,
            descending,
        } = self;
        let (beyond, order) = if *descending {
            ("<", " DESC")
        } else {
            (">", "")
        };
        if let Some(after) = after {
            filter.and(|p| {
                let k1 = p(SqlValue::Int(after.sort_key));
                let k2 = p(SqlValue::Int(after.sort_key));
                let r = p(SqlValue::Text(after.id));
                format!("({sort} {beyond} {k1} OR ({sort} = {k2} AND {tie} {beyond} {r}))")
            });
        }
        let limit = filter.param(SqlValue::Int(limit + 1));
        let sql = format!(
            "SELECT {columns} FROM {from}{} ORDER BY {sort}{order}, {tie}{order} LIMIT {limit}",
            filter.where_clause()
        );
        Ok(filter.query(sql).fetch_all(&mut *conn).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_chunks_are_powers_of_two_up_to_the_cap_and_cover_everything() {
        let lengths = |n: usize| {
            let items: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&items).collect();
            assert_eq!(chunks.concat(), items, "{n} items in order");
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>()
        };
        assert_eq!(lengths(0), Vec::<usize>::new());
        assert_eq!(lengths(1), [1]);
        assert_eq!(lengths(30), [16, 8, 4, 2]);
        assert_eq!(lengths(64), [64]);
        assert_eq!(lengths(130), [64, 64, 2]);
    }

    #[test]
    fn timestamps_from_callers_are_checked_and_none_overflows() {
        let at = |seconds, nanos| prost_types::Timestamp { seconds, nanos };
        assert_eq!(checked_micros(&at(1, 500_000)), Ok(1_000_500));
        assert!(checked_micros(&at(253_402_300_800, 0)).is_err());
        assert!(checked_micros(&at(0, -1)).is_err());
        assert!(checked_micros(&at(0, 1_000_000_000)).is_err());
        assert_eq!(micros_of(&at(i64::MAX, 0)), i64::MAX);
        assert_eq!(micros_of(&at(i64::MIN, 0)), i64::MIN);
    }

    #[test]
    fn in_lists_are_padded_with_their_last_value() {
        assert_eq!(padded_in_list(&["a", "b", "c"]), ["a", "b", "c", "c"]);
        assert_eq!(padded_in_list(&["a", "b"]), ["a", "b"]);
        assert!(padded_in_list::<&str>(&[]).is_empty());
        assert_eq!(placeholders(3, 2), "$3, $4");
        assert_eq!(value_rows(2, 2, 2), "($2, $3), ($4, $5)");
    }
}
