//! The append-only event log every service keeps, served as a resumable
//! `WatchEvents(after_sequence)` stream, and the consumer that applies another
//! service's log exactly once.
//!
//! An event is written in the same transaction as the state change it records.
//! A consumer advances its cursor in the same transaction in which it applies an
//! event, so an event takes effect exactly once across crashes of either side.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{Stream, stream};
use sqlx::AnyConnection;
use sqlx::Row;
use tokio::sync::watch;
use zhengqi_proto::events::{Envelope, Logged};
use zhengqi_proto::zhengqi::common::v1::{Event, WatchEventsRequest};

use crate::backoff::Backoff;
use crate::error::Error;
use crate::shutdown::Shutdown;
use crate::storage::{
    Backend, SqlValue, Statement, Store, now_micros, statement_chunks, timestamp, value_rows,
};

/// How many events one read of the log fetches.
const PAGE: i64 = 500;
/// How long a watcher waits before looking again when nothing woke it (events
/// committed by another replica of the service do not wake it).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Multi-row inserts of `events`, each returning the sequences it took.
fn append_statements(events: &[NewEvent], now: i64) -> Vec<Statement> {
    statement_chunks(events)
        .map(|chunk| Statement {
            sql: format!(
                "INSERT INTO zq_events (event_type, subject_id, jurisdiction_code, payload, create_time) \
                 VALUES {} RETURNING sequence",
                value_rows(1, chunk.len(), 5)
            ),
            params: chunk
                .iter()
                .flat_map(|event| {
                    [
                        SqlValue::Text(event.event_type.clone()),
                        SqlValue::Text(event.subject_id.clone()),
                        SqlValue::Text(event.jurisdiction_code.clone()),
                        SqlValue::Blob(event.payload.clone()),
                        SqlValue::Int(now),
                    ]
                })
                .collect(),
        })
        .collect()
}

/// An event to append: the message, encoded, and what it is about.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: String,
    pub subject_id: String,
    pub jurisdiction_code: String,
    pub payload: Vec<u8>,
}

impl NewEvent {
    /// `message`, which must be one of a log's events (its service's envelope).
    pub fn new<M: Logged>(subject_id: &str, jurisdiction_code: &str, message: &M) -> Self {
        Self {
            event_type: M::full_name(),
            subject_id: subject_id.to_owned(),
            jurisdiction_code: jurisdiction_code.to_owned(),
            payload: prost::Message::encode_to_vec(message),
        }
    }
}

/// Erases the personal data (the contracts' `(zhengqi.common.v1.personal)`
/// fields) from every event about `subject_id`, inside the caller's
/// transaction; how many events changed. The rest of each event stays as it
/// was, and so does its place in the log: a follower reading it again sees the
/// event without the contact.
pub async fn erase_personal_data(conn: &mut AnyConnection, subject_id: &str) -> Result<u64, Error> {
    let rows =
        sqlx::query("SELECT sequence, event_type, payload FROM zq_events WHERE subject_id = $1")
            .bind(subject_id)
            .fetch_all(&mut *conn)
            .await?;
    let mut changed = 0;
    for row in rows {
        let sequence: i64 = row.try_get(0)?;
        let event_type: String = row.try_get(1)?;
        let payload: Vec<u8> = row.try_get(2)?;
        let erased = zhengqi_proto::personal::erase(&event_type, &payload).map_err(|e| {
            Error::internal(format!(
                "event {sequence} ({event_type}) does not decode: {e}"
            ))
        })?;
        if let Some(erased) = erased {
            sqlx::query("UPDATE zq_events SET payload = $1 WHERE sequence = $2")
                .bind(erased)
                .bind(sequence)
                .execute(&mut *conn)
                .await?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// A boxed stream of events, as `WatchEvents` returns it.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Event, tonic::Status>> + Send + 'static>>;

/// A service's own event log.
#[derive(Debug)]
pub struct EventLog {
    store: Store,
    latest: watch::Sender<u64>,
    closed: std::sync::atomic::AtomicBool,
}

impl EventLog {
    pub fn new(store: Store) -> Arc<EventLog> {
        let (latest, _) = watch::channel(0);
        Arc::new(EventLog {
            store,
            latest,
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Ends every watch stream, so a graceful shutdown does not wait forever for
    /// followers; they resume from their cursor on the next start.
    pub fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.latest.send_modify(|_| {});
    }

    fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Appends `message` inside the caller's transaction; returns its sequence.
    /// Call [`EventLog::published`] after the transaction commits.
    pub async fn append<M: Logged>(
        &self,
        conn: &mut AnyConnection,
        subject_id: &str,
        jurisdiction_code: &str,
        message: &M,
    ) -> Result<u64, Error> {
        let event = NewEvent::new(subject_id, jurisdiction_code, message);
        Ok(self
            .append_all(conn, std::slice::from_ref(&event))
            .await?
            .unwrap_or_default())
    }

    /// Appends `message` as the last write of `tx`, commits, then wakes the
    /// watchers: the usual end of a change with one event.
    pub async fn append_and_commit<M: Logged>(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        subject_id: &str,
        jurisdiction_code: &str,
        message: &M,
    ) -> Result<(), Error> {
        let sequence = self
            .append(&mut tx, subject_id, jurisdiction_code, message)
            .await?;
        self.commit(tx, sequence).await
    }

    /// Appends `events` in order inside the caller's transaction, a few statements
    /// for many events; returns the last sequence (none for no events).
    pub async fn append_all(
        &self,
        conn: &mut AnyConnection,
        events: &[NewEvent],
    ) -> Result<Option<u64>, Error> {
        if events.is_empty() {
            return Ok(None);
        }
        if self.store.backend() == Backend::Postgres {
            // Sequences are handed out at insert but become visible at commit; holding
            // this lock to commit keeps commit order equal to sequence order, so a
            // reader resuming after N can never miss an event numbered below N.
            sqlx::query("SELECT pg_advisory_xact_lock(7312)")
                .execute(&mut *conn)
                .await?;
        }
        let mut last = 0i64;
        for statement in append_statements(events, now_micros()) {
            for row in statement.query().fetch_all(&mut *conn).await? {
                last = last.max(row.try_get(0)?);
            }
        }
        Ok(Some(last as u64))
    }

    /// [`EventLog::append_all`] inside a transaction of a writer's own SQLite
    /// connection (`storage::native`); call [`EventLog::published`] after the
    /// commit.
    pub fn append_all_native(
        &self,
        conn: &rusqlite::Connection,
        events: &[NewEvent],
    ) -> Result<Option<u64>, Error> {
        if events.is_empty() {
            return Ok(None);
        }
        let mut last = 0i64;
        for statement in append_statements(events, now_micros()) {
            for sequence in statement.rows_native(conn, |row| Ok(row.get::<_, i64>(0)?))? {
                last = last.max(sequence);
            }
        }
        Ok(Some(last as u64))
    }

    /// Commits a transaction in which events were appended, then wakes the
    /// watchers up to `last_sequence`.
    pub async fn commit(
        &self,
        tx: sqlx::Transaction<'_, sqlx::Any>,
        last_sequence: u64,
    ) -> Result<(), Error> {
        tx.commit().await?;
        self.published(last_sequence);
        Ok(())
    }

    /// Wakes the watchers after a transaction with events has committed.
    pub fn published(&self, sequence: u64) {
        self.latest.send_if_modified(|latest| {
            if sequence > *latest {
                *latest = sequence;
                true
            } else {
                false
            }
        });
    }

    /// Wakes the watchers without naming a sequence: for writers that do not
    /// track the sequences they appended (they read the log from their cursor).
    pub fn wake(&self) {
        self.latest.send_modify(|_| {});
    }

    /// Reads up to one page of events after `after`, oldest first.
    pub async fn read_after(&self, after: u64, limit: i64) -> Result<Vec<Event>, Error> {
        let rows = sqlx::query(
            "SELECT sequence, event_type, subject_id, jurisdiction_code, payload, create_time \
             FROM zq_events WHERE sequence > $1 ORDER BY sequence LIMIT $2",
        )
        .bind(after as i64)
        .bind(limit)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let event_type: String = row.try_get(1)?;
                Ok(Event {
                    sequence: row.try_get::<i64, _>(0)? as u64,
                    payload: Some(prost_types::Any {
                        type_url: format!("type.googleapis.com/{event_type}"),
                        value: row.try_get(4)?,
                    }),
                    r#type: event_type,
                    subject_id: row.try_get(2)?,
                    jurisdiction_code: row.try_get(3)?,
                    create_time: Some(timestamp(row.try_get(5)?)),
                })
            })
            .collect()
    }

    /// History after `request.after_sequence`, then live events, never ending
    /// until the caller goes away; only events of `jurisdictions` when given.
    pub fn watch(
        self: &Arc<Self>,
        request: WatchEventsRequest,
        jurisdictions: Option<Vec<String>>,
    ) -> EventStream {
        struct State {
            log: Arc<EventLog>,
            after: u64,
            types: Vec<String>,
            jurisdictions: Option<Vec<String>>,
            buffer: VecDeque<Event>,
            wake: watch::Receiver<u64>,
            failed: bool,
        }
        let state = State {
            log: Arc::clone(self),
            after: request.after_sequence,
            types: request.types,
            jurisdictions,
            buffer: VecDeque::new(),
            wake: self.latest.subscribe(),
            failed: false,
        };
        Box::pin(stream::unfold(state, |mut state| async move {
            if state.failed {
                return None;
            }
            loop {
                if state.log.is_closed() {
                    return None;
                }
                if let Some(event) = state.buffer.pop_front() {
                    return Some((Ok(event), state));
                }
                state.wake.mark_unchanged();
                match state.log.read_after(state.after, PAGE).await {
                    Ok(page) if !page.is_empty() => {
                        state.after = page.last().map(|e| e.sequence).unwrap_or(state.after);
                        let types = &state.types;
                        let jurisdictions = &state.jurisdictions;
                        state.buffer.extend(page.into_iter().filter(|e| {
                            (types.is_empty() || types.contains(&e.r#type))
                                && jurisdictions
                                    .as_ref()
                                    .is_none_or(|codes| codes.contains(&e.jurisdiction_code))
                        }));
                    }
                    Ok(_) => {
                        tokio::select! {
                            _ = state.wake.changed() => {}
                            _ = tokio::time::sleep(IDLE_POLL) => {}
                        }
                    }
                    Err(error) => {
                        state.failed = true;
                        return Some((Err(error.into()), state));
                    }
                }
            }
        }))
    }
}

/// Applies one event of another service's log inside the consumer's transaction.
pub trait EventHandler: Send + Sync + 'static {
    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), Error>>;

    /// Runs once the events of a batch are applied, in their transaction,
    /// before it commits: for work cheaper once per batch than once per event.
    fn finish<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFuture<'a, Result<(), Error>> {
        let _ = conn;
        Box::pin(async { Ok(()) })
    }

    /// Runs after a transaction of applied events has committed (e.g. to wake
    /// the followers of events the handler appended to its own log).
    fn committed(&self) {}
}

/// Events a consumer applies in one transaction at the most, when they are
/// already waiting: one commit for a burst instead of one per event.
const APPLY_BATCH: usize = 256;

/// Supplies the bearer token a consumer presents to the service it watches.
pub type TokenSource = Arc<dyn Fn() -> Result<String, Error> + Send + Sync>;

/// `service` tokens of this deployment's own issuer, minted by `signer` and
/// reused until a minute before they expire.
pub fn service_tokens(signer: Arc<crate::auth::Signer>, subject: &str) -> TokenSource {
    const LIFETIME: Duration = Duration::from_secs(15 * 60);
    let subject = subject.to_owned();
    let current: std::sync::Mutex<Option<(String, std::time::Instant)>> =
        std::sync::Mutex::new(None);
    Arc::new(move || {
        let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((token, minted)) = current.as_ref()
            && minted.elapsed() < LIFETIME - Duration::from_secs(60)
        {
            return Ok(token.clone());
        }
        let request = crate::auth::TokenRequest {
            ttl: LIFETIME,
            ..crate::auth::TokenRequest::new(subject.clone(), vec![crate::auth::Role::Service])
        };
        let token = signer.mint(&request).map_err(Error::internal)?;
        *current = Some((token.clone(), std::time::Instant::now()));
        Ok(token)
    })
}

/// Puts a `service` token from `token` on a call to another part.
pub fn authorize<T>(request: &mut tonic::Request<T>, token: &TokenSource) -> Result<(), Error> {
    let value = format!("Bearer {}", token()?)
        .parse()
        .map_err(|_| Error::internal("service token is not a valid header value"))?;
    request.metadata_mut().insert("authorization", value);
    Ok(())
}

/// Follows one service's `WatchEvents` and applies each event exactly once.
pub struct Consumer<H> {
    /// Names the cursor, e.g. `intake`.
    pub source: String,
    /// Base address of the watched service, e.g. `http://127.0.0.1:7001`.
    pub endpoint: String,
    /// Full gRPC path of its `WatchEvents`, e.g. `/zhengqi.intake.v1.IntakeService/WatchEvents`.
    pub method: &'static str,
    /// The event types the handler applies, e.g. `zhengqi.intake.v1.AppealRegistered`;
    /// every type when empty. The others are not sent.
    pub types: Vec<String>,
    pub store: Store,
    pub handler: H,
    pub token: Option<TokenSource>,
}

impl<H: EventHandler> Consumer<H> {
    /// The last sequence this consumer applied from `source`.
    pub async fn cursor(store: &Store, source: &str) -> Result<u64, Error> {
        let row = sqlx::query("SELECT sequence FROM zq_consumer_cursors WHERE source = $1")
            .bind(source)
            .fetch_optional(store.pool())
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<i64, _>(0)? as u64,
            None => 0,
        })
    }

    /// Runs until `shutdown`, reconnecting with backoff whenever the stream breaks.
    pub async fn run(self, shutdown: Shutdown) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        loop {
            let outcome = tokio::select! {
                _ = shutdown.wait() => return,
                outcome = self.follow() => outcome,
            };
            match outcome {
                Ok(()) => backoff.reset(),
                Err(error) => {
                    tracing::warn!(source = %self.source, %error, "event stream interrupted; reconnecting");
                }
            }
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(backoff.next_wait()) => {}
            }
        }
    }

    async fn follow(&self) -> Result<(), Error> {
        let mut after = Self::cursor(&self.store, &self.source).await?;
        let channel = tonic::transport::Endpoint::from_shared(self.endpoint.clone())
            .map_err(|e| Error::Unavailable(format!("bad endpoint {}: {e}", self.endpoint)))?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(|e| Error::Unavailable(format!("{} unreachable: {e}", self.endpoint)))?;
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| Error::Unavailable(format!("{} not ready: {e}", self.endpoint)))?;
        let mut request = tonic::Request::new(WatchEventsRequest {
            after_sequence: after,
            types: self.types.clone(),
        });
        if let Some(token) = &self.token {
            authorize(&mut request, token)?;
        }
        let codec = tonic_prost::ProstCodec::<WatchEventsRequest, Event>::default();
        let path = http::uri::PathAndQuery::from_static(self.method);
        let mut stream = grpc
            .server_streaming(request, path, codec)
            .await
            .map_err(|status| Error::Unavailable(format!("WatchEvents refused: {status}")))?
            .into_inner();
        let broke =
            |status: tonic::Status| Error::Unavailable(format!("WatchEvents broke: {status}"));
        while let Some(first) = stream.message().await.map_err(broke)? {
            // Take what has already arrived, without waiting, into the same transaction.
            let mut batch = vec![first];
            while batch.len() < APPLY_BATCH {
                match futures_util::FutureExt::now_or_never(stream.message()) {
                    Some(Ok(Some(event))) => batch.push(event),
                    Some(Ok(None)) | None => break,
                    Some(Err(status)) => return Err(broke(status)),
                }
            }
            batch.retain(|event| event.sequence > after);
            if let Some(last) = batch.last().map(|e| e.sequence) {
                if !self.apply(&batch).await? {
                    // A replica applied some of these first. When it has not
                    // applied them all, read on from where it stopped.
                    let cursor = Self::cursor(&self.store, &self.source).await?;
                    if cursor < last {
                        return Err(Error::Unavailable(format!(
                            "{}'s log was applied up to {cursor} by a replica; reading on from there",
                            self.source
                        )));
                    }
                }
                after = last;
            }
        }
        Ok(())
    }

    /// Applies `events` (in sequence order) and advances the cursor in one
    /// transaction. The cursor is claimed first, conditionally: when several
    /// replicas follow the same log, the one that claims it applies the events and
    /// every other skips them. False when they were skipped.
    async fn apply(&self, events: &[Event]) -> Result<bool, Error> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(true);
        };
        let mut tx = self.store.begin_write().await?;
        let now = now_micros();
        let advanced = sqlx::query(
            "UPDATE zq_consumer_cursors SET sequence = $2, update_time = $3 WHERE source = $1 AND sequence < $4",
        )
        .bind(&self.source)
        .bind(last.sequence as i64)
        .bind(now)
        .bind(first.sequence as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let claimed = advanced == 1
            || sqlx::query(
                "INSERT INTO zq_consumer_cursors (source, sequence, update_time) VALUES ($1, $2, $3) \
                 ON CONFLICT (source) DO NOTHING",
            )
            .bind(&self.source)
            .bind(last.sequence as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
        if !claimed {
            // Already applied, by this consumer before a restart or by a replica.
            tx.rollback().await?;
            return Ok(false);
        }
        for event in events {
            self.handler.apply(&mut tx, event).await?;
        }
        self.handler.finish(&mut tx).await?;
        tx.commit().await?;
        self.handler.committed();
        Ok(true)
    }
}

/// A followed log's `event` as its envelope's variant, for an exhaustive
/// `match`; `None` when the log's envelope has no such event (one added by a
/// newer version of the producer, which this follower does not know yet).
pub fn decode<E: Envelope>(event: &Event) -> Result<Option<E>, Error> {
    let payload = event
        .payload
        .as_ref()
        .ok_or_else(|| Error::internal(format!("event {} has no payload", event.sequence)))?;
    E::decode(&event.r#type, payload.value.as_slice())
        .map_err(|e| Error::internal(format!("event {} does not decode: {e}", event.sequence)))
}

/// Answers a `WatchEvents` call: only `service` (and `admin`) callers may follow a log.
pub fn serve_watch(
    log: &Arc<EventLog>,
    request: tonic::Request<WatchEventsRequest>,
    directory: &crate::reference::Directory,
) -> Result<tonic::Response<EventStream>, tonic::Status> {
    // Who may watch is the method's declared rule (systems); what they see is
    // their scope: a county's system its own county's events, the city's its
    // counties', this deployment's own services everything.
    let principal = crate::access::principal(&request)?;
    let jurisdictions = match crate::access::Scope::of(principal, directory) {
        crate::access::Scope::Everything => None,
        crate::access::Scope::Jurisdictions(codes) => {
            Some(codes.iter().map(|c| c.as_str().to_owned()).collect())
        }
        crate::access::Scope::Enterprise(_) | crate::access::Scope::Nothing => {
            return Err(Error::PermissionDenied(
                "令牌未指明可见的辖区（your token names no jurisdiction to watch）".into(),
            )
            .into());
        }
    };
    Ok(tonic::Response::new(
        log.watch(request.into_inner(), jurisdictions),
    ))
}
