//! The group-commit writer: many submissions, one transaction, every caller
//! answered after the commit.
//!
//! A batch is a handful of statements whatever its size: the earlier
//! registrations of its idempotency keys, the recent appeals of its matters,
//! its acceptance numbers, its enterprises' registrations, then multi-row
//! inserts of its appeals and their events. On SQLite the writer is a thread
//! of its own with a connection of its own, so those statements run back to
//! back without a hop between threads each; on PostgreSQL it is a task on the
//! pool.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use zhengqi_shared::Error;
use zhengqi_shared::clock::Clock;
use zhengqi_shared::events::{EventLog, NewEvent};
use zhengqi_shared::ids;
use zhengqi_shared::storage::is_unique_violation;
use zhengqi_shared::storage::{
    Columns, MAX_STATEMENT_ROWS, SqlValue, Statement, Store, native, padded_in_list, placeholders,
    statement_chunks, value_rows,
};

use crate::convert;
use crate::domain::{self, Appeal, AppealStatus, Enterprise, NewAppeal};
use crate::rows::{APPEAL_COLUMNS, ENTERPRISE_COLUMNS, appeal_from_row, enterprise_from_row};

/// One appeal waiting for the writer, and where its answer goes.
pub(crate) struct Submission {
    pub submitter: String,
    pub appeal: NewAppeal,
    pub reply: oneshot::Sender<Result<Appeal, Error>>,
}

/// Starts the writer; it ends when every sender is dropped.
pub(crate) fn start(
    store: &Store,
    events: Arc<EventLog>,
    batch_max: usize,
    clock: Arc<Clock>,
) -> Result<mpsc::Sender<Submission>, Error> {
    let batch_max = batch_max.max(1);
    let (writer, queue) = mpsc::channel(batch_max * 4);
    match store.open_native()? {
        Some(conn) => {
            std::thread::Builder::new()
                .name("intake-writer".into())
                .spawn(move || write_on_thread(conn, &events, queue, batch_max, &clock))
                .map_err(|e| Error::internal(format!("cannot start intake's writer: {e}")))?;
        }
        None => {
            tokio::spawn(write_on_pool(
                store.clone(),
                events,
                queue,
                batch_max,
                clock,
            ));
        }
    }
    Ok(writer)
}

/// The writer on SQLite: waits for a submission, takes whatever else is
/// queued (up to `batch_max`), writes it all in one transaction.
fn write_on_thread(
    mut conn: native::WriterConnection,
    events: &EventLog,
    mut queue: mpsc::Receiver<Submission>,
    batch_max: usize,
    clock: &Clock,
) {
    let mut batch = Vec::with_capacity(batch_max);
    while native::recv_batch(&mut queue, &mut batch, batch_max, Duration::ZERO) {
        match conn.write(|tx| write_native(tx, events, &batch, clock.now())) {
            Ok((appeals, last_sequence)) => answer(events, &mut batch, appeals, last_sequence),
            Err(error) => {
                tracing::debug!(%error, size = batch.len(), "batch failed; writing one by one");
                for submission in batch.drain(..) {
                    let result = conn
                        .write(|tx| {
                            write_native(tx, events, std::slice::from_ref(&submission), clock.now())
                        })
                        .map(|(appeals, last_sequence)| first_of(events, appeals, last_sequence));
                    let result = match result {
                        Err(Error::Sqlite(error)) if native::is_unique_violation(&error) => {
                            existing_statement(&submission).and_then(|statement| {
                                statement
                                    .rows_native(&conn, |row| appeal_from_row(row))?
                                    .pop()
                                    .ok_or_else(no_existing_appeal)
                            })
                        }
                        other => other,
                    };
                    let _ = submission.reply.send(result);
                }
            }
        }
    }
}

/// The writer on PostgreSQL (and on an in-memory SQLite database).
async fn write_on_pool(
    store: Store,
    events: Arc<EventLog>,
    mut queue: mpsc::Receiver<Submission>,
    batch_max: usize,
    clock: Arc<Clock>,
) {
    let mut batch = Vec::with_capacity(batch_max);
    while queue.recv_many(&mut batch, batch_max).await > 0 {
        match write_pooled(&store, &events, &batch, clock.now()).await {
            Ok((appeals, last_sequence)) => answer(&events, &mut batch, appeals, last_sequence),
            Err(error) => {
                // One submission spoiled the shared transaction (e.g. a concurrent
                // replica took its request_id first): write each on its own.
                tracing::debug!(%error, size = batch.len(), "batch failed; writing one by one");
                for submission in batch.drain(..) {
                    let result = write_pooled(
                        &store,
                        &events,
                        std::slice::from_ref(&submission),
                        clock.now(),
                    )
                    .await
                    .map(|(appeals, last_sequence)| first_of(&events, appeals, last_sequence));
                    let result = match result {
                        Err(Error::Database(error)) if is_unique_violation(&error) => {
                            existing_pooled(&store, &submission).await
                        }
                        other => other,
                    };
                    let _ = submission.reply.send(result);
                }
            }
        }
    }
}

/// Wakes the event watchers, then answers every caller of a committed batch.
fn answer(
    events: &EventLog,
    batch: &mut Vec<Submission>,
    appeals: Vec<Appeal>,
    last_sequence: Option<u64>,
) {
    if let Some(sequence) = last_sequence {
        events.published(sequence);
    }
    for (submission, appeal) in batch.drain(..).zip(appeals) {
        let _ = submission.reply.send(Ok(appeal));
    }
}

/// The appeal of a committed batch of one.
fn first_of(events: &EventLog, mut appeals: Vec<Appeal>, last_sequence: Option<u64>) -> Appeal {
    if let Some(sequence) = last_sequence {
        events.published(sequence);
    }
    appeals.remove(0)
}

fn no_existing_appeal() -> Error {
    Error::internal("unique violation without an existing appeal")
}

/// The appeal a concurrent writer registered first under a submission's key.
fn existing_statement(submission: &Submission) -> Result<Statement, Error> {
    let request_id = submission
        .appeal
        .request_id
        .clone()
        .ok_or_else(|| Error::internal("unique violation on an appeal without request_id"))?;
    Ok(Statement {
        sql: format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals WHERE submitter = $1 AND request_id = $2"
        ),
        params: vec![submission.submitter.clone().into(), request_id.into()],
    })
}

async fn existing_pooled(store: &Store, submission: &Submission) -> Result<Appeal, Error> {
    let row = existing_statement(submission)?
        .query()
        .fetch_optional(store.pool())
        .await?;
    row.as_ref()
        .map(appeal_from_row)
        .transpose()?
        .ok_or_else(no_existing_appeal)
}

/// One batch, in a transaction of the writer's own SQLite connection.
fn write_native(
    tx: &rusqlite::Transaction<'_>,
    events: &EventLog,
    batch: &[Submission],
    now: i64,
) -> Result<(Vec<Appeal>, Option<u64>), Error> {
    let mut known = Vec::new();
    for statement in known_statements(batch) {
        known.extend(statement.rows_native(tx, |row| appeal_from_row(row))?);
    }
    let mut recent = Vec::new();
    for statement in recent_statements(batch, now) {
        recent.extend(statement.rows_native(tx, |row| recent_from_row(row))?);
    }
    let mut plan = Plan::new(batch, known, recent, now);
    let mut last_numbers = HashMap::new();
    for statement in plan.number_statements() {
        last_numbers.extend(statement.rows_native(tx, |row| last_number_from_row(row))?);
    }
    plan.assign_numbers(&last_numbers)?;
    let mut enterprises = Vec::new();
    for statement in plan.enterprise_statements() {
        enterprises.extend(statement.rows_native(tx, |row| enterprise_from_row(row))?);
    }
    for statement in plan.insert_statements() {
        statement.execute_native(tx)?;
    }
    let last_sequence = events.append_all_native(tx, &plan.events(&enterprises))?;
    Ok((plan.answers(), last_sequence))
}

/// One batch in one transaction on the pool: the same statements as
/// [`write_native`].
async fn write_pooled(
    store: &Store,
    events: &EventLog,
    batch: &[Submission],
    now: i64,
) -> Result<(Vec<Appeal>, Option<u64>), Error> {
    let mut tx = store.begin_write().await?;
    let mut known = Vec::new();
    for statement in known_statements(batch) {
        for row in statement.query().fetch_all(&mut *tx).await? {
            known.push(appeal_from_row(&row)?);
        }
    }
    let mut recent = Vec::new();
    for statement in recent_statements(batch, now) {
        for row in statement.query().fetch_all(&mut *tx).await? {
            recent.push(recent_from_row(&row)?);
        }
    }
    let mut plan = Plan::new(batch, known, recent, now);
    let mut last_numbers = HashMap::new();
    for statement in plan.number_statements() {
        for row in statement.query().fetch_all(&mut *tx).await? {
            let (jurisdiction, last) = last_number_from_row(&row)?;
            last_numbers.insert(jurisdiction, last);
        }
    }
    plan.assign_numbers(&last_numbers)?;
    let mut enterprises = Vec::new();
    for statement in plan.enterprise_statements() {
        for row in statement.query().fetch_all(&mut *tx).await? {
            enterprises.push(enterprise_from_row(&row)?);
        }
    }
    for statement in plan.insert_statements() {
        statement.query().execute(&mut *tx).await?;
    }
    let last_sequence = events
        .append_all(&mut tx, &plan.events(&enterprises))
        .await?;
    tx.commit().await?;
    Ok((plan.answers(), last_sequence))
}

/// [`APPEAL_COLUMNS`] of the `a` in a join.
static JOINED_APPEAL_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    APPEAL_COLUMNS
        .split(", ")
        .map(|column| format!("a.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
});

/// Appeals registered before under any of the batch's `(submitter,
/// request_id)` keys: a join with the keys as rows, which both databases look
/// up in the unique (submitter, request_id) index.
fn known_statements(batch: &[Submission]) -> Vec<Statement> {
    let keys: Vec<(&str, &str)> = batch
        .iter()
        .filter_map(|s| Some((s.submitter.as_str(), s.appeal.request_id.as_deref()?)))
        .collect();
    let columns = &*JOINED_APPEAL_COLUMNS;
    keys.chunks(MAX_STATEMENT_ROWS)
        .map(|chunk| {
            let chunk = padded_in_list(chunk);
            Statement {
                sql: format!(
                    "SELECT {columns} FROM (VALUES {}) AS k \
                     JOIN appeals a ON a.submitter = k.column1 AND a.request_id = k.column2",
                    value_rows(1, chunk.len(), 2)
                ),
                params: chunk
                    .iter()
                    .flat_map(|(submitter, request_id)| [(*submitter).into(), (*request_id).into()])
                    .collect(),
            }
        })
        .collect()
}

/// Appeals of the batch's `(uscc, category)` matters within the duplicate
/// window that are not withdrawn.
fn recent_statements(batch: &[Submission], now: i64) -> Vec<Statement> {
    let since = now - domain::DUPLICATE_WINDOW_DAYS * 24 * 3600 * 1_000_000;
    let mut matters: Vec<(&str, &str)> = Vec::new();
    for submission in batch {
        let matter = (
            submission.appeal.enterprise.uscc.as_str(),
            submission.appeal.category.as_str(),
        );
        if !matters.contains(&matter) {
            matters.push(matter);
        }
    }
    matters
        .chunks(MAX_STATEMENT_ROWS)
        .map(|chunk| {
            let chunk = padded_in_list(chunk);
            let mut params = vec![SqlValue::Int(since)];
            params.extend(
                chunk
                    .iter()
                    .flat_map(|(uscc, category)| [(*uscc).into(), (*category).into()]),
            );
            Statement {
                sql: format!(
                    "SELECT a.id, a.duplicate_of, a.uscc, a.category, a.title_key, a.create_time \
                     FROM (VALUES {}) AS k \
                     JOIN appeals a ON a.uscc = k.column1 AND a.category = k.column2 \
                     WHERE a.create_time >= $1 AND a.status <> 'WITHDRAWN'",
                    value_rows(2, chunk.len(), 2)
                ),
                params,
            }
        })
        .collect()
}

/// An earlier appeal that a new one may be the same matter as.
struct Recent {
    id: String,
    duplicate_of: Option<String>,
    uscc: String,
    category: String,
    title_key: String,
    create_time: i64,
}

fn recent_from_row(row: &impl Columns) -> Result<Recent, Error> {
    Ok(Recent {
        id: row.text("id")?,
        duplicate_of: row.optional_text("duplicate_of")?,
        uscc: row.text("uscc")?,
        category: row.text("category")?,
        title_key: row.text("title_key")?,
        create_time: row.int("create_time")?,
    })
}

fn last_number_from_row(row: &impl Columns) -> Result<(String, i64), Error> {
    Ok((row.text("jurisdiction_code")?, row.int("last")?))
}

/// What a batch writes, decided from what its look-ups found.
struct Plan {
    /// Per submission: `Ok` an appeal registered before the batch, `Err` the
    /// index in `fresh` of the appeal the batch writes for it.
    results: Vec<Result<Appeal, usize>>,
    /// The new appeals with their title keys.
    fresh: Vec<(Appeal, String)>,
    day: chrono::NaiveDate,
}

impl Plan {
    /// Decides each submission in order; a later one may repeat an earlier
    /// one's key or matter within the batch.
    fn new(batch: &[Submission], known: Vec<Appeal>, mut recent: Vec<Recent>, now: i64) -> Plan {
        let known: HashMap<(String, String), Appeal> = known
            .into_iter()
            .map(|appeal| {
                (
                    (appeal.submitter.clone(), appeal.request_id.clone()),
                    appeal,
                )
            })
            .collect();
        // The padding of the look-up repeats matters, and so their rows.
        recent.sort_by(|a, b| (a.create_time, &a.id).cmp(&(b.create_time, &b.id)));
        recent.dedup_by(|a, b| a.id == b.id);

        let mut results = Vec::with_capacity(batch.len());
        let mut repeated: HashMap<(String, String), usize> = HashMap::new();
        let mut fresh: Vec<(Appeal, String)> = Vec::new();
        for submission in batch {
            let new = &submission.appeal;
            if let Some(request_id) = &new.request_id {
                let key = (submission.submitter.clone(), request_id.clone());
                if let Some(existing) = known.get(&key) {
                    results.push(Ok(existing.clone()));
                    continue;
                }
                if let Some(index) = repeated.get(&key) {
                    results.push(Err(*index));
                    continue;
                }
                repeated.insert(key, fresh.len());
            }
            let title_key = domain::title_key(&new.title);
            let duplicate_of = recent
                .iter()
                .find(|r| {
                    r.uscc == new.enterprise.uscc.as_str()
                        && r.category == new.category.as_str()
                        && domain::similar_titles(&r.title_key, &title_key)
                })
                .map(|r| r.duplicate_of.clone().unwrap_or_else(|| r.id.clone()));
            let appeal = Appeal {
                id: ids::new_id(new.jurisdiction.as_str()),
                number: String::new(),
                request_id: new.request_id.clone().unwrap_or_default(),
                submitter: submission.submitter.clone(),
                channel: new.channel,
                jurisdiction_code: new.jurisdiction.as_str().to_owned(),
                uscc: new.enterprise.uscc.as_str().to_owned(),
                enterprise_name: new.enterprise.name.clone(),
                kind: new.kind,
                category: new.category,
                title: new.title.clone(),
                description: new.description.clone(),
                contact_name: new.contact_name.clone(),
                contact_phone: new.contact_phone.clone(),
                status: if duplicate_of.is_some() {
                    AppealStatus::Duplicate
                } else {
                    AppealStatus::Received
                },
                duplicate_of,
                withdraw_reason: String::new(),
                create_time: now,
                update_time: now,
                personal_data_erase_time: None,
            };
            recent.push(Recent {
                id: appeal.id.clone(),
                duplicate_of: appeal.duplicate_of.clone(),
                uscc: appeal.uscc.clone(),
                category: appeal.category.as_str().to_owned(),
                title_key: title_key.clone(),
                create_time: appeal.create_time,
            });
            results.push(Err(fresh.len()));
            fresh.push((appeal, title_key));
        }
        Plan {
            results,
            fresh,
            day: domain::beijing_date(now),
        }
    }

    /// How many new appeals each jurisdiction gets, in first-seen order.
    fn counts(&self) -> Vec<(&str, i64)> {
        let mut counts: Vec<(&str, i64)> = Vec::new();
        for (appeal, _) in &self.fresh {
            match counts
                .iter_mut()
                .find(|(jurisdiction, _)| *jurisdiction == appeal.jurisdiction_code)
            {
                Some((_, count)) => *count += 1,
                None => counts.push((&appeal.jurisdiction_code, 1)),
            }
        }
        counts
    }

    /// One counter update per jurisdiction for the day, returning the last
    /// number taken.
    fn number_statements(&self) -> Vec<Statement> {
        let day = self.day.format("%Y%m%d").to_string();
        let counts = self.counts();
        statement_chunks(&counts)
            .map(|chunk| Statement {
                sql: format!(
                    "INSERT INTO daily_numbers (jurisdiction_code, day, last) VALUES {} \
                     ON CONFLICT (jurisdiction_code, day) DO UPDATE SET last = daily_numbers.last + excluded.last \
                     RETURNING jurisdiction_code, last",
                    value_rows(1, chunk.len(), 3)
                ),
                params: chunk
                    .iter()
                    .flat_map(|(jurisdiction, count)| {
                        [(*jurisdiction).into(), day.clone().into(), (*count).into()]
                    })
                    .collect(),
            })
            .collect()
    }

    /// Numbers the new appeals from the last numbers the counters returned.
    fn assign_numbers(&mut self, last_numbers: &HashMap<String, i64>) -> Result<(), Error> {
        let mut next: HashMap<String, i64> = HashMap::new();
        for (jurisdiction, count) in self.counts() {
            let last = last_numbers.get(jurisdiction).ok_or_else(|| {
                Error::internal(format!("no acceptance number returned for {jurisdiction}"))
            })?;
            next.insert(jurisdiction.to_owned(), last - count + 1);
        }
        for (appeal, _) in &mut self.fresh {
            let number = next
                .get_mut(&appeal.jurisdiction_code)
                .ok_or_else(|| Error::internal("acceptance number of an unknown jurisdiction"))?;
            appeal.number = domain::acceptance_number(&appeal.jurisdiction_code, self.day, *number);
            *number += 1;
        }
        Ok(())
    }

    /// The registrations of the new appeals' enterprises.
    fn enterprise_statements(&self) -> Vec<Statement> {
        let mut usccs: Vec<&str> = Vec::new();
        for (appeal, _) in &self.fresh {
            if !usccs.contains(&appeal.uscc.as_str()) {
                usccs.push(&appeal.uscc);
            }
        }
        usccs
            .chunks(MAX_STATEMENT_ROWS)
            .map(|chunk| {
                let chunk = padded_in_list(chunk);
                Statement {
                    sql: format!(
                        "SELECT {ENTERPRISE_COLUMNS} FROM enterprises WHERE uscc IN ({})",
                        placeholders(1, chunk.len())
                    ),
                    params: chunk.iter().map(|uscc| (*uscc).into()).collect(),
                }
            })
            .collect()
    }

    /// Multi-row inserts of the new appeals.
    fn insert_statements(&self) -> Vec<Statement> {
        statement_chunks(&self.fresh)
            .map(|chunk| Statement {
                sql: format!(
                    "INSERT INTO appeals (id, number, request_id, submitter, channel, jurisdiction_code, uscc, \
                     enterprise_name, kind, category, title, title_key, description, contact_name, contact_phone, \
                     status, duplicate_of, withdraw_reason, create_time, update_time) VALUES {}",
                    value_rows(1, chunk.len(), 20)
                ),
                params: chunk
                    .iter()
                    .flat_map(|(appeal, title_key)| {
                        [
                            appeal.id.clone().into(),
                            appeal.number.clone().into(),
                            (!appeal.request_id.is_empty())
                                .then(|| appeal.request_id.clone())
                                .into(),
                            appeal.submitter.clone().into(),
                            appeal.channel.as_str().into(),
                            appeal.jurisdiction_code.clone().into(),
                            appeal.uscc.clone().into(),
                            appeal.enterprise_name.clone().into(),
                            appeal.kind.as_str().into(),
                            appeal.category.as_str().into(),
                            appeal.title.clone().into(),
                            title_key.clone().into(),
                            appeal.description.clone().into(),
                            appeal.contact_name.clone().into(),
                            appeal.contact_phone.clone().into(),
                            appeal.status.as_str().into(),
                            appeal.duplicate_of.clone().into(),
                            appeal.withdraw_reason.clone().into(),
                            appeal.create_time.into(),
                            appeal.update_time.into(),
                        ]
                    })
                    .collect(),
            })
            .collect()
    }

    /// An `AppealRegistered` event per new appeal.
    fn events(&self, enterprises: &[Enterprise]) -> Vec<NewEvent> {
        self.fresh
            .iter()
            .map(|(appeal, _)| {
                let enterprise = enterprises.iter().find(|e| e.uscc.as_str() == appeal.uscc);
                NewEvent::new(
                    &appeal.id,
                    &appeal.jurisdiction_code,
                    &convert::appeal_registered(appeal, enterprise),
                )
            })
            .collect()
    }

    /// Each submission's appeal, in order.
    fn answers(self) -> Vec<Appeal> {
        let fresh = self.fresh;
        self.results
            .into_iter()
            .map(|result| match result {
                Ok(existing) => existing,
                Err(index) => fresh[index].0.clone(),
            })
            .collect()
    }
}
