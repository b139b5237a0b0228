//! One write, the same way in every service: a transaction, the idempotency
//! key it is keyed by, the events it appends, committed together and the log's
//! followers woken once it has committed.
//!
//! ```text
//! let mut work = UnitOfWork::begin(store, log, KEYS, key).await?;
//! if let Some(subject) = work.recall().await? {
//!     return answer_with(subject);      // a retry: what the first attempt did
//! }
//! let mut thing = load(work.conn(), id).await?;          // load
//! check_etag(...)?; domain::decide(&mut thing, ...)?;    // check, decide (pure)
//! save(work.conn(), &thing).await?;                       // write
//! work.record(&thing.id, &thing.jurisdiction, &Event { .. });
//! work.commit(&thing.id).await?;        // key kept, events appended, commit, wake
//! ```
//!
//! Two attempts with the same key racing each other both get past `recall`;
//! the second to commit finds the key taken and is `ABORTED` with nothing
//! written, and retrying it answers with the first one's result.

use std::sync::Arc;

use sqlx::AnyConnection;
use zhengqi_proto::events::Logged;

use crate::error::Error;
use crate::events::{EventLog, NewEvent};
use crate::storage::RequestKeys;
use crate::storage::Store;

/// Who asked for a write, with which idempotency key, for which method.
#[derive(Debug, Clone)]
pub struct RequestKey {
    pub actor: String,
    /// Empty when the caller gave none: the write is not keyed.
    pub request_id: String,
    pub method: &'static str,
}

impl RequestKey {
    pub fn new(actor: &str, request_id: &str, method: &'static str) -> Self {
        Self {
            actor: actor.to_owned(),
            request_id: request_id.to_owned(),
            method,
        }
    }
}

/// A write in progress; dropped without [`UnitOfWork::commit`], it leaves nothing.
pub struct UnitOfWork {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    log: Arc<EventLog>,
    keys: RequestKeys,
    key: RequestKey,
    events: Vec<NewEvent>,
    now: i64,
    /// The key was claimed up front ([`UnitOfWork::claim`]), not kept at commit.
    claimed: bool,
}

impl UnitOfWork {
    /// Begins the write's transaction (on SQLite, taking the write lock now,
    /// so reads inside it see what it will write over).
    pub async fn begin(
        store: &Store,
        log: &Arc<EventLog>,
        keys: RequestKeys,
        key: RequestKey,
        now: i64,
    ) -> Result<Self, Error> {
        Ok(Self {
            tx: store.begin_write().await?,
            log: Arc::clone(log),
            keys,
            key,
            events: Vec::new(),
            now,
            claimed: false,
        })
    }

    /// The subject an earlier attempt with this key wrote, to answer with
    /// instead of writing again; `None` when the key is new (or empty). A key
    /// used before for another method is refused, naming `request_id`.
    pub async fn recall(&mut self) -> Result<Option<String>, Error> {
        self.keys
            .recall(
                &mut self.tx,
                &self.key.actor,
                &self.key.request_id,
                self.key.method,
                None,
            )
            .await
    }

    /// Claims the key for `subject` up front, for a write whose subject is
    /// known before it runs: `None` when the key is new (or empty), go ahead;
    /// the earlier subject when it was used before for the same method. Two
    /// concurrent first attempts cannot both go ahead.
    pub async fn claim(&mut self, subject: &str) -> Result<Option<String>, Error> {
        self.claimed = true;
        self.keys
            .claim(
                &mut self.tx,
                &self.key.actor,
                &self.key.request_id,
                self.key.method,
                subject,
                self.now,
            )
            .await
    }

    /// The transaction, for the write's reads and writes.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// The time the write happens at.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// An event the write appends to the service's log when it commits.
    pub fn record<M: Logged>(&mut self, subject_id: &str, jurisdiction_code: &str, message: &M) {
        self.events
            .push(NewEvent::new(subject_id, jurisdiction_code, message));
    }

    /// Events made elsewhere (a push to many inboxes), appended in order.
    pub fn record_all(&mut self, events: impl IntoIterator<Item = NewEvent>) {
        self.events.extend(events);
    }

    /// Keeps the key with the `subject` written, appends the events, commits,
    /// and wakes the log's followers.
    pub async fn commit(mut self, subject: &str) -> Result<(), Error> {
        if !self.claimed {
            self.keys
                .remember(
                    &mut self.tx,
                    &self.key.actor,
                    &self.key.request_id,
                    self.key.method,
                    subject,
                    self.now,
                )
                .await?;
        }
        match self.log.append_all(&mut self.tx, &self.events).await? {
            Some(last) => self.log.commit(self.tx, last).await,
            None => {
                self.tx.commit().await?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhengqi_proto::zhengqi::intake::v1::AppealWithdrawn;

    /// A store with a key table: a schema of its own on the PostgreSQL of
    /// `ZHENGQI_TEST_DATABASE_URL` when that is set, else a SQLite file.
    async fn store(dir: &std::path::Path) -> Store {
        let store = match std::env::var("ZHENGQI_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let schema = format!(
                    "unit_test_{}",
                    ulid::Ulid::generate().to_string().to_lowercase()
                );
                Store::connect(&url, Some(&schema)).await.unwrap()
            }
            _ => Store::open_sqlite(&dir.join("unit.db")).await.unwrap(),
        };
        sqlx::query(
            "CREATE TABLE unit_requests (actor TEXT NOT NULL, request_id TEXT NOT NULL, \
             method TEXT NOT NULL, subject_id TEXT NOT NULL, create_time BIGINT NOT NULL, \
             PRIMARY KEY (actor, request_id))",
        )
        .execute(store.pool())
        .await
        .unwrap();
        store
    }

    const KEYS: RequestKeys = RequestKeys::new("unit_requests");

    async fn withdraw(store: &Store, log: &Arc<EventLog>, key: &str, subject: &str) -> String {
        let mut work = UnitOfWork::begin(
            store,
            log,
            KEYS,
            RequestKey::new("a", key, "WithdrawAppeal"),
            1,
        )
        .await
        .unwrap();
        if let Some(first) = work.recall().await.unwrap() {
            return first;
        }
        work.record(subject, "510821", &AppealWithdrawn { appeal: None });
        work.commit(subject).await.unwrap();
        subject.to_owned()
    }

    #[tokio::test]
    async fn a_retried_write_answers_with_the_first_and_appends_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        let log = EventLog::new(store.clone());
        assert_eq!(withdraw(&store, &log, "k1", "s1").await, "s1");
        assert_eq!(withdraw(&store, &log, "k1", "s2").await, "s1", "a retry");
        assert_eq!(withdraw(&store, &log, "", "s3").await, "s3", "not keyed");
        let events = log.read_after(0, 10).await.unwrap();
        let subjects: Vec<&str> = events.iter().map(|e| e.subject_id.as_str()).collect();
        assert_eq!(subjects, ["s1", "s3"]);
        assert_eq!(events[0].r#type, "zhengqi.intake.v1.AppealWithdrawn");
    }

    #[tokio::test]
    async fn a_write_dropped_before_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        let log = EventLog::new(store.clone());
        let mut work = UnitOfWork::begin(
            &store,
            &log,
            KEYS,
            RequestKey::new("a", "k1", "WithdrawAppeal"),
            1,
        )
        .await
        .unwrap();
        assert_eq!(work.claim("s1").await.unwrap(), None);
        work.record("s1", "510821", &AppealWithdrawn { appeal: None });
        drop(work);
        assert!(log.read_after(0, 10).await.unwrap().is_empty());
        // The key was not kept either: the write can be made again.
        assert_eq!(withdraw(&store, &log, "k1", "s1").await, "s1");
        assert_eq!(log.read_after(0, 10).await.unwrap().len(), 1);
    }
}
