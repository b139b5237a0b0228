//! The audit: every authenticated call through the gateway — when, who (`sub`,
//! roles, home jurisdiction), which method, which jurisdiction it was about,
//! the status it ended with and how long it took — kept in the gateway's own
//! append-only store. A call hands its record to a bounded queue and goes on;
//! one writer inserts the queue in batches, into a table indexed by time. Who
//! called and which method are looked up in tables of their own, which the
//! writer fills in bulk every few seconds on SQLite (a read catches them up
//! first) and a trigger fills on PostgreSQL. When the queue is full (the store
//! has fallen far behind) a record is dropped and counted
//! (`zhengqi_gateway_audit_dropped_total`) rather than holding a call up.
//! Names and other personal data of callers are never recorded or logged.
//!
//! An admin reads it with `GET /v1/audit?sub=&method=&since=&until=&pageSize=&pageToken=`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body::Frame;
use serde::Deserialize;
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;
use tokio::sync::mpsc;

use zhengqi_shared::access::Scope;
use zhengqi_shared::auth::{Principal, Role, Verifier, bearer_token};
use zhengqi_shared::error::Why;
use zhengqi_shared::metrics;
use zhengqi_shared::reference::Directory;
use zhengqi_shared::storage::{
    Backend, Filter, Migrations, SqlValue, Statement, Store, native, now_micros, statement_chunks,
    value_rows,
};
use zhengqi_shared::{Error, chain};

use crate::errors::error_response;

/// The audit's schema: `migrations/`, and per backend where the DDL differs.
pub static MIGRATIONS: Migrations = Migrations {
    common: sqlx::migrate!("./migrations"),
    sqlite: Some(sqlx::migrate!("./migrations/sqlite")),
    postgres: Some(sqlx::migrate!("./migrations/postgres")),
};

/// Where the audit is kept and for how long.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// PostgreSQL schema, created if missing.
    pub schema: Option<String>,
    /// Records older than this are deleted.
    pub retention: Duration,
    /// Records waiting for the writer before new ones are dropped.
    pub queue: usize,
}

/// Six months: China's Cybersecurity Law (网络安全法, art. 21) asks network logs
/// to be kept at least that long.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(180 * 24 * 3600);
pub const DEFAULT_QUEUE: usize = 65_536;
const BATCH: usize = 512;
/// How long the writer lets records gather before it writes them: the audit
/// is read by people, a moment later is soon enough, and fewer, larger
/// transactions leave the cores to the calls.
const LINGER: Duration = Duration::from_millis(50);
/// How often the writer copies new calls' subjects and methods into the
/// tables an admin's read by subject or method uses (SQLite; a read brings
/// them up to date itself).
const INDEX_EVERY: Duration = Duration::from_secs(2);

/// On SQLite: copies the calls written since the last time into
/// `gateway_audit_by_sub` and `gateway_audit_by_method`, sorted, in one
/// transaction with the mark of how far they go. (On PostgreSQL a trigger
/// fills them with each insert.)
const CATCH_UP: [&str; 3] = [
    "INSERT INTO gateway_audit_by_sub (sub, id) SELECT sub, id FROM gateway_audit \
     WHERE id > (SELECT upto FROM gateway_audit_indexed) ORDER BY sub, id",
    "INSERT INTO gateway_audit_by_method (method, id) SELECT method, id FROM gateway_audit \
     WHERE id > (SELECT upto FROM gateway_audit_indexed) ORDER BY method, id",
    "UPDATE gateway_audit_indexed SET upto = max(upto, (SELECT COALESCE(MAX(id), 0) FROM gateway_audit))",
];

impl AuditSettings {
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            schema: None,
            retention: DEFAULT_RETENTION,
            queue: DEFAULT_QUEUE,
        }
    }
}

/// One audited call.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// Microseconds since the Unix epoch, when the call arrived.
    pub time: i64,
    pub sub: String,
    pub roles: String,
    pub jurisdiction: String,
    pub method: String,
    pub target_jurisdiction: String,
    pub code: i32,
    pub latency_us: i64,
}

/// The hot path's side of the audit: records go into a bounded queue.
#[derive(Debug, Clone)]
pub struct Auditor {
    queue: mpsc::Sender<AuditRecord>,
}

impl Auditor {
    pub fn record(&self, record: AuditRecord) {
        if self.queue.try_send(record).is_err() {
            metrics::increment(
                zhengqi_shared::metrics::Count::GatewayAuditDropped,
                "queue_full",
            );
        }
    }

    /// A record of `principal`'s call of `method`, to be completed when it ends.
    pub fn begin(
        &self,
        principal: &Principal,
        method: &str,
        target_jurisdiction: Option<String>,
        started: Instant,
    ) -> PendingRecord {
        PendingRecord {
            auditor: self.clone(),
            started,
            record: AuditRecord {
                time: now_micros() - started.elapsed().as_micros() as i64,
                sub: principal.sub.clone(),
                roles: principal
                    .roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                jurisdiction: principal.jurisdiction.clone().unwrap_or_default(),
                method: method.to_owned(),
                target_jurisdiction: target_jurisdiction.unwrap_or_default(),
                code: tonic::Code::Unknown as i32,
                latency_us: 0,
            },
        }
    }
}

/// A call under way; recorded with its final status by [`PendingRecord::finish`].
pub struct PendingRecord {
    auditor: Auditor,
    started: Instant,
    record: AuditRecord,
}

impl PendingRecord {
    /// The jurisdiction the call is about, once the request has been read.
    pub fn set_target(&mut self, target: Option<String>) {
        self.record.target_jurisdiction = target.unwrap_or_default();
    }

    pub fn finish(mut self, code: tonic::Code) {
        self.record.code = code as i32;
        self.record.latency_us = self.started.elapsed().as_micros() as i64;
        self.auditor.record(self.record);
    }

    /// `response`, recorded when its body ends (or is dropped) with the
    /// `grpc-status` of its headers or trailers.
    pub fn follow(self, response: Response) -> Response {
        let (parts, body) = response.into_parts();
        let code = grpc_code(&parts.headers);
        Response::from_parts(
            parts,
            Body::new(AuditedBody {
                inner: body,
                pending: Some(self),
                code,
            }),
        )
    }
}

fn grpc_code(headers: &HeaderMap) -> Option<tonic::Code> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from_i32)
}

struct AuditedBody {
    inner: Body,
    pending: Option<PendingRecord>,
    code: Option<tonic::Code>,
}

impl AuditedBody {
    fn finish(&mut self) {
        if let Some(pending) = self.pending.take() {
            // A body that ends with no status was cut off: the caller went away.
            pending.finish(self.code.unwrap_or(tonic::Code::Cancelled));
        }
    }
}

impl Drop for AuditedBody {
    fn drop(&mut self) {
        self.finish();
    }
}

impl http_body::Body for AuditedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(code) = grpc_code(trailers)
                {
                    this.code = Some(code);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                this.code.get_or_insert(tonic::Code::Unavailable);
                this.finish();
            }
            Poll::Ready(None) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Counts the records a failed write lost; the error only is logged, as the
/// records hold who called.
fn not_written(written: Result<(), Error>, records: usize) {
    if let Err(error) = written {
        tracing::error!(%error, records, "audit records not written");
        for _ in 0..records {
            metrics::increment(
                zhengqi_shared::metrics::Count::GatewayAuditDropped,
                "store_error",
            );
        }
    }
}

/// The fields of a call its hash covers, with its place in the chain.
fn chained_fields(r: &AuditRecord, seq: u64) -> [String; 9] {
    [
        seq.to_string(),
        r.time.to_string(),
        r.sub.clone(),
        r.roles.clone(),
        r.jurisdiction.clone(),
        r.method.clone(),
        r.target_jurisdiction.clone(),
        r.code.to_string(),
        r.latency_us.to_string(),
    ]
}

/// Each record's sequence, previous hash and hash after the chain's head
/// (`head_seq`, `head_hash`), and the new head.
fn link(records: &[AuditRecord], head_seq: u64, head_hash: &str) -> Vec<(u64, String, String)> {
    let mut previous = head_hash.to_owned();
    records
        .iter()
        .zip(head_seq + 1..)
        .map(|(record, seq)| {
            let fields = chained_fields(record, seq);
            let hash = chain::link_hash(&previous, &fields.each_ref().map(String::as_str));
            (seq, std::mem::replace(&mut previous, hash.clone()), hash)
        })
        .collect()
}

/// Multi-row inserts of `records`, linked by `links` (from [`link`]).
fn insert_statements(records: &[AuditRecord], links: &[(u64, String, String)]) -> Vec<Statement> {
    let rows: Vec<(&AuditRecord, &(u64, String, String))> = records.iter().zip(links).collect();
    statement_chunks(&rows)
        .map(|chunk| Statement {
            sql: format!(
                "INSERT INTO gateway_audit (call_time, sub, roles, jurisdiction, method, \
                 target_jurisdiction, code, latency_us, seq, prev_hash, entry_hash) VALUES {}",
                value_rows(1, chunk.len(), 11)
            ),
            params: chunk
                .iter()
                .flat_map(|(r, (seq, previous, hash))| {
                    [
                        SqlValue::Int(r.time),
                        r.sub.clone().into(),
                        r.roles.clone().into(),
                        r.jurisdiction.clone().into(),
                        r.method.clone().into(),
                        r.target_jurisdiction.clone().into(),
                        SqlValue::Int(i64::from(r.code)),
                        SqlValue::Int(r.latency_us),
                        SqlValue::Int(*seq as i64),
                        previous.clone().into(),
                        hash.clone().into(),
                    ]
                })
                .collect(),
        })
        .collect()
}

const HEAD: &str = "SELECT head_seq, head_hash FROM gateway_audit_chain";
const SET_HEAD: &str = "UPDATE gateway_audit_chain SET head_seq = $1, head_hash = $2";

/// What `zhengqi audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Calls checked against the chain.
    pub checked: u64,
    /// The anchor the check started from (0: the start of the chain).
    pub anchor: u64,
    /// The first row that does not fit, if any.
    pub broken: Option<chain::Break>,
}

impl Verification {
    /// In Chinese, with the English beside it, for the operator.
    pub fn describe(&self) -> String {
        match &self.broken {
            None => format!(
                "审计链完整：已校验 {} 条（the audit's chain holds: {} calls checked after sequence {}）",
                self.checked, self.checked, self.anchor
            ),
            Some(chain::Break::Missing { after, found }) => format!(
                "审计链断裂：第 {after} 条之后缺少记录，下一条是第 {found} 条（rows after sequence {after} are missing; the next is {found}）"
            ),
            Some(chain::Break::Relinked { sequence }) => format!(
                "审计链断裂：第 {sequence} 条与前一条不相连（row {sequence} does not link to the row before it）"
            ),
            Some(chain::Break::Altered { sequence }) => format!(
                "审计记录被改动：第 {sequence} 条与其哈希不符（row {sequence} was changed after it was written）"
            ),
        }
    }
}

/// The store side: the writer, retention, and the admin's reads.
#[derive(Debug, Clone)]
pub struct AuditStore {
    store: Store,
}

impl AuditStore {
    pub async fn open(settings: &AuditSettings) -> Result<AuditStore, Error> {
        let store = Store::connect(&settings.database_url, settings.schema.as_deref()).await?;
        store.migrate(&MIGRATIONS).await?;
        Ok(AuditStore { store })
    }

    /// The queue for the hot path, and the writer that empties it into the
    /// store until every [`Auditor`] is gone: on SQLite a thread with a
    /// connection of its own (see `storage::native`), else a task on the pool.
    pub fn writer(
        &self,
        queue: usize,
    ) -> Result<(Auditor, impl Future<Output = ()> + Send + 'static + use<>), Error> {
        let (sender, mut receiver) = mpsc::channel::<AuditRecord>(queue.max(1));
        let native = self.store.open_native()?;
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        match native {
            Some(mut conn) => {
                std::thread::Builder::new()
                    .name("audit-writer".into())
                    .spawn(move || {
                        let mut batch = Vec::with_capacity(BATCH);
                        let mut indexed = std::time::Instant::now();
                        let catch_up = |conn: &mut native::WriterConnection| {
                            let caught_up = conn.write(|tx| {
                                for sql in CATCH_UP {
                                    tx.execute(sql, [])?;
                                }
                                Ok(())
                            });
                            if let Err(error) = caught_up {
                                tracing::error!(%error, "audit: indexing by subject and method failed");
                            }
                        };
                        while native::recv_batch(&mut receiver, &mut batch, BATCH, LINGER) {
                            let written = conn.write(|tx| {
                                let (seq, hash): (i64, String) =
                                    tx.query_row(HEAD, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
                                let links = link(&batch, seq as u64, &hash);
                                for statement in insert_statements(&batch, &links) {
                                    statement.execute_native(tx)?;
                                }
                                if let Some((seq, _, hash)) = links.last() {
                                    Statement {
                                        sql: SET_HEAD.into(),
                                        params: vec![SqlValue::Int(*seq as i64), hash.clone().into()],
                                    }
                                    .execute_native(tx)?;
                                }
                                Ok(())
                            });
                            not_written(written, batch.len());
                            batch.clear();
                            if indexed.elapsed() >= INDEX_EVERY {
                                catch_up(&mut conn);
                                indexed = std::time::Instant::now();
                            }
                        }
                        catch_up(&mut conn);
                        let _ = done.send(());
                    })
                    .map_err(|e| Error::internal(format!("cannot start the audit writer: {e}")))?;
            }
            None => {
                let store = self.clone();
                tokio::spawn(async move {
                    let mut batch = Vec::with_capacity(BATCH);
                    while receiver.recv_many(&mut batch, BATCH).await > 0 {
                        tokio::time::sleep(LINGER).await;
                        let room = BATCH.saturating_sub(batch.len());
                        if room > 0 {
                            receiver.recv_many(&mut batch, room).await;
                        }
                        not_written(store.insert(&batch).await, batch.len());
                        batch.clear();
                    }
                    let _ = done.send(());
                });
            }
        }
        let writer = async move {
            let _ = finished.await;
        };
        Ok((Auditor { queue: sender }, writer))
    }

    async fn insert(&self, records: &[AuditRecord]) -> Result<(), Error> {
        let mut tx = self.store.begin_write().await?;
        // Gateways sharing a PostgreSQL audit take turns at the chain's head.
        let head = match self.store.backend() {
            Backend::Postgres => format!("{HEAD} FOR UPDATE"),
            Backend::Sqlite => HEAD.to_owned(),
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(head))
            .fetch_one(&mut *tx)
            .await?;
        let seq: i64 = row.try_get(0)?;
        let hash: String = row.try_get(1)?;
        let links = link(records, seq as u64, &hash);
        for statement in insert_statements(records, &links) {
            statement.query().execute(&mut *tx).await?;
        }
        if let Some((seq, _, hash)) = links.last() {
            sqlx::query(SET_HEAD)
                .bind(*seq as i64)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Checks the chain from its anchor to its head, naming the first row
    /// that was deleted or altered.
    pub async fn verify(&self) -> Result<Verification, Error> {
        // One snapshot: calls written or pruned meanwhile are the next check's.
        let mut conn = self.store.begin_snapshot().await?;
        let chain_row = sqlx::query(
            "SELECT head_seq, head_hash, anchor_seq, anchor_hash FROM gateway_audit_chain",
        )
        .fetch_one(&mut *conn)
        .await?;
        let head: i64 = chain_row.try_get(0)?;
        let anchor: i64 = chain_row.try_get(2)?;
        let anchor_hash: String = chain_row.try_get(3)?;
        let mut check = chain::ChainCheck::from_anchor(anchor as u64, &anchor_hash);
        let verification = |check: &chain::ChainCheck, broken| Verification {
            checked: check.checked,
            anchor: anchor as u64,
            broken,
        };
        loop {
            let rows = sqlx::query(
                "SELECT seq, prev_hash, entry_hash, call_time, sub, roles, jurisdiction, method, \
                 target_jurisdiction, code, latency_us FROM gateway_audit \
                 WHERE seq > $1 ORDER BY seq LIMIT 10000",
            )
            .bind(check.head_sequence as i64)
            .fetch_all(&mut *conn)
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let seq: i64 = row.try_get("seq")?;
                let record = AuditRecord {
                    time: row.try_get("call_time")?,
                    sub: row.try_get("sub")?,
                    roles: row.try_get("roles")?,
                    jurisdiction: row.try_get("jurisdiction")?,
                    method: row.try_get("method")?,
                    target_jurisdiction: row.try_get("target_jurisdiction")?,
                    code: row.try_get::<i32, _>("code")?,
                    latency_us: row.try_get("latency_us")?,
                };
                let fields = chained_fields(&record, seq as u64);
                let previous: String = row.try_get("prev_hash")?;
                let hash: String = row.try_get("entry_hash")?;
                if let Err(broken) = check.next(
                    seq as u64,
                    &previous,
                    &hash,
                    &fields.each_ref().map(String::as_str),
                ) {
                    return Ok(verification(&check, Some(broken)));
                }
            }
        }
        // Rows at the end of the chain that are gone leave no gap after them.
        if check.head_sequence < head as u64 {
            let broken = chain::Break::Missing {
                after: check.head_sequence,
                found: head as u64 + 1,
            };
            return Ok(verification(&check, Some(broken)));
        }
        Ok(verification(&check, None))
    }

    /// Brings the tables by subject and by method up to date (SQLite; on
    /// PostgreSQL they always are).
    async fn catch_up(&self) -> Result<(), Error> {
        if self.store.backend() != Backend::Sqlite {
            return Ok(());
        }
        let mut tx = self.store.begin_write().await?;
        for sql in CATCH_UP {
            sqlx::query(sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the records older than `retention`; how many went. The chain
    /// is cut at the last old call before the first recent one, whose
    /// sequence and hash become the anchor verification starts from.
    pub async fn prune(&self, retention: Duration) -> Result<u64, Error> {
        let cutoff = now_micros() - retention.as_micros() as i64;
        let mut tx = self.store.begin_write().await?;
        let cut = sqlx::query(
            "SELECT seq, entry_hash FROM gateway_audit WHERE seq IS NOT NULL AND call_time < $1 \
             AND seq < COALESCE((SELECT MIN(seq) FROM gateway_audit \
             WHERE seq IS NOT NULL AND call_time >= $1), 9223372036854775807) \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(cutoff)
        .fetch_optional(&mut *tx)
        .await?;
        let (last_old, last_hash): (i64, String) = match &cut {
            Some(row) => (row.try_get(0)?, row.try_get(1)?),
            None => (0, String::new()),
        };
        let old = "(seq <= $1 OR (seq IS NULL AND call_time < $2))";
        for table in ["gateway_audit_by_sub", "gateway_audit_by_method"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE id IN (SELECT id FROM gateway_audit WHERE {old})"
            )))
            .bind(last_old)
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM gateway_audit WHERE {old}"
        )))
        .bind(last_old)
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        if cut.is_some() {
            sqlx::query(
                "UPDATE gateway_audit_chain SET anchor_seq = $1, anchor_hash = $2 \
                 WHERE anchor_seq < $1",
            )
            .bind(last_old)
            .bind(last_hash)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Prunes now and then every hour, for as long as it runs.
    pub async fn keep_pruning(self, retention: Duration) {
        let mut ticks = tokio::time::interval(Duration::from_secs(3600));
        loop {
            ticks.tick().await;
            match self.prune(retention).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "old audit records deleted"),
                Err(error) => tracing::error!(%error, "audit retention failed"),
            }
        }
    }

    /// Newest first, `page_size` at most, after the `page_token` of an earlier page.
    /// `within`: only calls made by callers of these jurisdictions or about
    /// them (an admin's scope, narrowed by the query's `jurisdictionCode`);
    /// `None` for every call.
    pub async fn list(
        &self,
        query: &AuditQuery,
        within: Option<&[String]>,
    ) -> Result<(Vec<AuditRecord>, String), Error> {
        let sub = query.sub.as_ref().filter(|s| !s.is_empty());
        let method = query.method.as_ref().filter(|s| !s.is_empty());
        let since = parse_time("since", query.since.as_deref())?;
        let until = parse_time("until", query.until.as_deref())?;
        let after: Option<i64> = match query.page_token.as_ref().filter(|s| !s.is_empty()) {
            Some(token) => Some(token.parse().map_err(|_| {
                Error::invalid(
                    "pageToken",
                    Why::new(
                        "not a page token of this list",
                        "翻页标记无效，请从第一页重新查询",
                    ),
                )
            })?),
            None => None,
        };
        if sub.is_some() || method.is_some() {
            self.catch_up().await?;
        }
        // A read by subject (or method) walks that subject's calls, newest first.
        let mut from = "gateway_audit a".to_owned();
        let mut order = "a.id";
        let mut filter = Filter::new();
        if let Some(sub) = sub {
            from.push_str(" JOIN gateway_audit_by_sub s ON s.id = a.id");
            order = "s.id";
            filter.eq("s.sub", SqlValue::Text(sub.clone()));
        }
        if let Some(method) = method {
            from.push_str(" JOIN gateway_audit_by_method m ON m.id = a.id");
            if sub.is_none() {
                order = "m.id";
            }
            filter.eq("m.method", SqlValue::Text(method.clone()));
        }
        if let Some(codes) = within {
            filter.and(|p| {
                let list: Vec<String> = codes
                    .iter()
                    .map(|code| p(SqlValue::Text(code.clone())))
                    .collect();
                let list = list.join(", ");
                format!("(a.jurisdiction IN ({list}) OR a.target_jurisdiction IN ({list}))")
            });
        }
        if let Some(since) = since {
            filter.and(|p| format!("a.call_time >= {}", p(SqlValue::Int(since))));
        }
        if let Some(until) = until {
            filter.and(|p| format!("a.call_time < {}", p(SqlValue::Int(until))));
        }
        if let Some(after) = after {
            filter.and(|p| format!("{order} < {}", p(SqlValue::Int(after))));
        }
        let size = match query.page_size {
            None | Some(0) => 100,
            Some(n) => n.min(1000),
        };
        let sql = format!(
            "SELECT a.id, a.call_time, a.sub, a.roles, a.jurisdiction, a.method, \
             a.target_jurisdiction, a.code, a.latency_us FROM {from}{} ORDER BY {order} DESC LIMIT {}",
            filter.where_clause(),
            size + 1
        );
        let rows = filter.query(sql).fetch_all(self.store.pool()).await?;
        let mut records = Vec::with_capacity(rows.len());
        let mut last_id = 0i64;
        for row in rows.iter().take(size as usize) {
            last_id = row.try_get("id")?;
            records.push(AuditRecord {
                time: row.try_get("call_time")?,
                sub: row.try_get("sub")?,
                roles: row.try_get("roles")?,
                jurisdiction: row.try_get("jurisdiction")?,
                method: row.try_get("method")?,
                target_jurisdiction: row.try_get("target_jurisdiction")?,
                code: row.try_get::<i32, _>("code")?,
                latency_us: row.try_get("latency_us")?,
            });
        }
        let next = if rows.len() > size as usize {
            last_id.to_string()
        } else {
            String::new()
        };
        Ok((records, next))
    }
}

fn parse_time(field: &str, value: Option<&str>) -> Result<Option<i64>, Error> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.timestamp_micros()))
            .map_err(|_| {
                Error::invalid(
                    field,
                    Why::new(
                        "expected an RFC 3339 time, e.g. 2026-11-27T08:00:00Z",
                        "时间格式应为 RFC 3339，例如 2026-11-27T08:00:00+08:00",
                    ),
                )
            }),
    }
}

/// The query string of `GET /v1/audit`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditQuery {
    pub sub: Option<String>,
    pub method: Option<String>,
    /// Only calls by callers of, or about, this jurisdiction and those below it.
    pub jurisdiction_code: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

/// What `GET /v1/audit` needs.
#[derive(Clone)]
pub struct AuditApi {
    pub verifier: Verifier,
    /// Whose calls an admin may read: those of its jurisdictions.
    pub directory: Arc<Directory>,
    pub store: AuditStore,
    pub auditor: Auditor,
}

/// `GET /v1/audit`: the audit, newest first, for admins only.
pub async fn list_handler(
    State(api): State<AuditApi>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let started = Instant::now();
    let header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let verified = match bearer_token(header) {
        Ok(token) => api.verifier.verify(token).await,
        Err(error) => Err(error),
    };
    let principal = match verified {
        Ok(principal) => principal,
        Err(error) => {
            metrics::increment(
                zhengqi_shared::metrics::Count::GatewayAuthFailures,
                error.reason(),
            );
            return error_response(&Error::Unauthenticated(error).into());
        }
    };
    let pending = api
        .auditor
        .begin(&principal, "GET /v1/audit", None, started);
    let response = if !principal.has_role(Role::Admin) {
        Err(tonic::Status::permission_denied(
            "审计记录仅限管理员查阅（only an admin may read the audit）",
        ))
    } else {
        match query {
            Err(rejection) => Err(Error::invalid("query", rejection.body_text()).into()),
            Ok(Query(query)) => {
                // An admin reads the calls of its own jurisdictions: by their
                // people or about their data (the city's admin reads all).
                let scope = Scope::of(&principal, &api.directory);
                match scope.list_jurisdictions(
                    &api.directory,
                    query.jurisdiction_code.as_deref().unwrap_or_default(),
                ) {
                    Err(error) => Err(rename_field(error)),
                    Ok(within) => api
                        .store
                        .list(&query, within.as_deref())
                        .await
                        .map_err(tonic::Status::from),
                }
            }
        }
    };
    match response {
        Ok((records, next)) => {
            pending.finish(tonic::Code::Ok);
            let entries: Vec<_> = records.iter().map(record_json).collect();
            let body = json!({"entries": entries, "nextPageToken": next});
            let mut response = Response::new(Body::from(body.to_string()));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            *response.status_mut() = StatusCode::OK;
            response
        }
        Err(status) => {
            pending.finish(status.code());
            error_response(&status)
        }
    }
}

/// The query names fields in lowerCamelCase.
fn rename_field(error: Error) -> tonic::Status {
    match error {
        Error::InvalidArgument(mut violations) => {
            for violation in &mut violations {
                if violation.field == "jurisdiction_code" {
                    violation.field = "jurisdictionCode".into();
                }
            }
            Error::InvalidArgument(violations).into()
        }
        other => other.into(),
    }
}

/// One record as `GET /v1/audit` and `zhengqi audit --json` show it.
pub fn record_json(record: &AuditRecord) -> serde_json::Value {
    let time = chrono::DateTime::from_timestamp_micros(record.time)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default();
    let roles: Vec<&str> = record.roles.split(',').filter(|r| !r.is_empty()).collect();
    json!({
        "time": time,
        "sub": record.sub,
        "roles": roles,
        "jurisdiction": record.jurisdiction,
        "method": record.method,
        "targetJurisdiction": record.target_jurisdiction,
        "code": record.code,
        "status": code_name(tonic::Code::from_i32(record.code)),
        "latencyMs": record.latency_us as f64 / 1000.0,
    })
}

/// The canonical name of a gRPC code, as `google.rpc.Code` spells it.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(time: i64, sub: &str) -> AuditRecord {
        AuditRecord {
            time,
            sub: sub.into(),
            roles: "coordinator".into(),
            jurisdiction: "510800".into(),
            method: "/zhengqi.intake.v1.IntakeService/GetAppeal".into(),
            target_jurisdiction: "510821".into(),
            code: 0,
            latency_us: 120,
        }
    }

    /// A fresh audit store: a schema of its own in the PostgreSQL database of
    /// `ZHENGQI_TEST_DATABASE_URL` when that is set, else a SQLite file in the
    /// folder returned with it.
    async fn test_store() -> (AuditStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let settings = match std::env::var("ZHENGQI_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => AuditSettings {
                schema: Some(format!("audit_test_{:016x}", fastrand::u64(..))),
                ..AuditSettings::new(url)
            },
            _ => AuditSettings::new(format!(
                "sqlite://{}",
                dir.path().join("audit.db").display()
            )),
        };
        (AuditStore::open(&settings).await.unwrap(), dir)
    }

    #[tokio::test]
    async fn reads_by_subject_and_method_see_every_call_and_pages_follow_them() {
        let (store, _dir) = test_store().await;
        let now = now_micros();
        let mut records: Vec<_> = (0..5).map(|i| record(now + i, "a")).collect();
        records.push(record(now + 10, "b"));
        records[1].method = "/zhengqi.intake.v1.IntakeService/ListAppeals".into();
        store.insert(&records[..3]).await.unwrap();
        // Read once, then more calls: the read after them sees them too.
        let query = |sub: &str, method: &str, page_token: &str| AuditQuery {
            sub: Some(sub.into()),
            method: Some(method.into()),
            page_size: Some(2),
            page_token: Some(page_token.into()),
            ..AuditQuery::default()
        };
        let (first, _) = store.list(&query("a", "", ""), None).await.unwrap();
        assert_eq!(first.len(), 2);
        store.insert(&records[3..]).await.unwrap();
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let (page, next) = store.list(&query("a", "", &token), None).await.unwrap();
            seen.extend(page.iter().map(|r| r.time - now));
            if next.is_empty() {
                break;
            }
            token = next;
        }
        assert_eq!(seen, [4, 3, 2, 1, 0], "a's calls, newest first, over pages");
        let (b, _) = store.list(&query("b", "", ""), None).await.unwrap();
        assert_eq!(b.len(), 1);
        let (lists, _) = store
            .list(
                &query("", "/zhengqi.intake.v1.IntakeService/ListAppeals", ""),
                None,
            )
            .await
            .unwrap();
        assert_eq!(lists.iter().map(|r| r.time - now).collect::<Vec<_>>(), [1]);
        let (both, _) = store
            .list(
                &query("b", "/zhengqi.intake.v1.IntakeService/ListAppeals", ""),
                None,
            )
            .await
            .unwrap();
        assert!(both.is_empty());
    }

    #[tokio::test]
    async fn the_chain_holds_across_batches_and_after_retention_deletes_its_start() {
        let (store, _dir) = test_store().await;
        let day = 24 * 3600 * 1_000_000i64;
        let now = now_micros();
        let empty = store.verify().await.unwrap();
        assert_eq!((empty.checked, empty.anchor, &empty.broken), (0, 0, &None));
        store
            .insert(&[
                record(now - 200 * day, "old"),
                record(now - 199 * day, "old"),
            ])
            .await
            .unwrap();
        store
            .insert(&[record(now - day, "recent"), record(now, "recent")])
            .await
            .unwrap();
        let whole = store.verify().await.unwrap();
        assert_eq!((whole.checked, whole.anchor, &whole.broken), (4, 0, &None));
        assert!(
            whole.describe().contains("审计链完整"),
            "{}",
            whole.describe()
        );

        // Retention deletes the oldest two and keeps the last of them as the
        // anchor the rest is checked from.
        let by_subject = AuditQuery {
            sub: Some("recent".into()),
            ..AuditQuery::default()
        };
        store.list(&by_subject, None).await.unwrap();
        assert_eq!(store.prune(DEFAULT_RETENTION).await.unwrap(), 2);
        // What retention deletes leaves no trace in the tables by subject and method.
        for table in ["gateway_audit_by_sub", "gateway_audit_by_method"] {
            let (count,): (i64,) =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(store.store.pool())
                    .await
                    .unwrap();
            assert_eq!(count, 2, "{table}");
        }
        let after = store.verify().await.unwrap();
        assert_eq!((after.checked, after.anchor, after.broken), (2, 2, None));
        store.insert(&[record(now + 1, "later")]).await.unwrap();
        assert_eq!(store.verify().await.unwrap().checked, 3);
    }

    #[tokio::test]
    async fn records_older_than_the_retention_are_deleted_and_updates_refused() {
        let (store, _dir) = test_store().await;
        let day = 24 * 3600 * 1_000_000i64;
        let now = now_micros();
        store
            .insert(&[record(now - 200 * day, "old"), record(now - day, "recent")])
            .await
            .unwrap();
        assert_eq!(store.prune(DEFAULT_RETENTION).await.unwrap(), 1);
        let (left, next) = store.list(&AuditQuery::default(), None).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].sub, "recent");
        assert_eq!(next, "");
        let update = sqlx::query("UPDATE gateway_audit SET code = 7")
            .execute(store.store.pool())
            .await;
        assert!(update.is_err(), "the audit is append-only");
    }
}
