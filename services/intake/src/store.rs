//! Intake's tables: appeals, their daily acceptance numbers, the enterprise
//! registry. Appeals are written by one group-commit writer: many submissions,
//! one transaction, every caller answered after the commit.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tokio::sync::{mpsc, oneshot};
use zhengqi_shared::Error;
use zhengqi_shared::events::{EventLog, NewEvent};
use zhengqi_shared::ids::{self, PageToken};
use zhengqi_shared::reference::{JurisdictionCode, Uscc};
use zhengqi_shared::storage::{Filter, SqlValue, Store, now_micros};

use crate::convert;
use crate::domain::{
    self, Appeal, AppealKind, AppealStatus, Category, Channel, Enterprise, EnterpriseSize,
    EnterpriseTag, NewAppeal, Ownership,
};

const APPEAL_COLUMNS: &str = "id, number, request_id, submitter, channel, jurisdiction_code, uscc, enterprise_name, \
     kind, category, title, description, contact_name, contact_phone, status, duplicate_of, withdraw_reason, \
     create_time, update_time";

const ENTERPRISE_COLUMNS: &str =
    "uscc, name, jurisdiction_code, industry, size, ownership, tags, create_time, update_time";

struct Submission {
    submitter: String,
    appeal: NewAppeal,
    reply: oneshot::Sender<Result<Appeal, Error>>,
}

/// Filters of `ListAppeals`, already checked against the caller's scope.
#[derive(Debug, Default, Clone)]
pub struct AppealFilter {
    /// Only these jurisdictions; `None` for all.
    pub jurisdictions: Option<Vec<String>>,
    pub uscc: Option<String>,
    pub status: Option<AppealStatus>,
    pub channel: Option<Channel>,
    pub category: Option<Category>,
}

/// Filters of `ListEnterprises`.
#[derive(Debug, Default, Clone)]
pub struct EnterpriseFilter {
    pub jurisdictions: Option<Vec<String>>,
    pub tag: Option<EnterpriseTag>,
}

#[derive(Clone)]
pub struct IntakeStore {
    store: Store,
    events: Arc<EventLog>,
    writer: mpsc::Sender<Submission>,
}

impl IntakeStore {
    /// Starts the group-commit writer, which ends when the last handle is dropped.
    pub fn new(store: Store, events: Arc<EventLog>, batch_max: usize) -> IntakeStore {
        let (writer, queue) = mpsc::channel(batch_max.max(1) * 4);
        tokio::spawn(write_batches(
            store.clone(),
            Arc::clone(&events),
            queue,
            batch_max.max(1),
        ));
        IntakeStore {
            store,
            events,
            writer,
        }
    }

    pub fn events(&self) -> &Arc<EventLog> {
        &self.events
    }

    /// Registers an appeal; answers once it is committed. The same
    /// `(submitter, request_id)` returns the appeal registered the first time.
    pub async fn submit(&self, submitter: &str, appeal: NewAppeal) -> Result<Appeal, Error> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Submission {
                submitter: submitter.to_owned(),
                appeal,
                reply,
            })
            .await
            .map_err(|_| Error::Unavailable("intake is shutting down".into()))?;
        answer
            .await
            .map_err(|_| Error::Unavailable("intake is shutting down".into()))?
    }

    pub async fn get_appeal(&self, id: &str) -> Result<Option<Appeal>, Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.store.pool())
        .await?;
        row.as_ref().map(appeal_from_row).transpose()
    }

    /// A page of appeals, newest first, after `after`.
    pub async fn list_appeals(
        &self,
        filter: &AppealFilter,
        limit: i64,
        after: Option<&PageToken>,
    ) -> Result<Vec<Appeal>, Error> {
        let mut query = Filter::new();
        query.within("jurisdiction_code", filter.jurisdictions.as_deref());
        if let Some(uscc) = &filter.uscc {
            query.eq("uscc", SqlValue::Text(uscc.clone()));
        }
        if let Some(status) = filter.status {
            query.eq("status", SqlValue::Text(status.as_str().into()));
        }
        if let Some(channel) = filter.channel {
            query.eq("channel", SqlValue::Text(channel.as_str().into()));
        }
        if let Some(category) = filter.category {
            query.eq("category", SqlValue::Text(category.as_str().into()));
        }
        if let Some(token) = after {
            query.and(|bind| {
                let time = bind(SqlValue::Int(token.sort_key));
                let time_again = bind(SqlValue::Int(token.sort_key));
                let id = bind(SqlValue::Text(token.id.clone()));
                format!("(create_time < {time} OR (create_time = {time_again} AND id < {id}))")
            });
        }
        let limit_param = query.param(SqlValue::Int(limit));
        let sql = format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals{} ORDER BY create_time DESC, id DESC LIMIT {limit_param}",
            query.where_clause()
        );
        let rows = query.query(sql).fetch_all(self.store.pool()).await?;
        rows.iter().map(appeal_from_row).collect()
    }

    /// Withdraws an appeal after `allowed` approves the stored appeal.
    pub async fn withdraw(
        &self,
        id: &str,
        reason: &str,
        allowed: impl FnOnce(&Appeal) -> Result<(), Error>,
    ) -> Result<Appeal, Error> {
        let mut tx = self.store.begin_write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(mut appeal) = row.as_ref().map(appeal_from_row).transpose()? else {
            return Err(Error::NotFound(format!("appeal {id}")));
        };
        allowed(&appeal)?;
        domain::check_withdraw(&appeal).map_err(|refusal| match refusal {
            domain::WithdrawRefusal::AlreadyWithdrawn => {
                Error::FailedPrecondition(format!("appeal {id} is already withdrawn"))
            }
        })?;
        appeal.status = AppealStatus::Withdrawn;
        appeal.withdraw_reason = reason.to_owned();
        appeal.update_time = now_micros();
        sqlx::query(
            "UPDATE appeals SET status = $1, withdraw_reason = $2, update_time = $3 WHERE id = $4",
        )
        .bind(appeal.status.as_str())
        .bind(&appeal.withdraw_reason)
        .bind(appeal.update_time)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let sequence = self
            .events
            .append(
                &mut tx,
                &appeal.id,
                &appeal.jurisdiction_code,
                &convert::appeal_withdrawn(&appeal),
            )
            .await?;
        self.events.commit(tx, sequence).await?;
        Ok(appeal)
    }

    /// Registers an enterprise or updates its registration.
    pub async fn register_enterprise(
        &self,
        mut enterprise: Enterprise,
    ) -> Result<Enterprise, Error> {
        let mut tx = self.store.begin_write().await?;
        let now = now_micros();
        let existing = select_enterprise(&mut tx, enterprise.uscc.as_str()).await?;
        enterprise.create_time = existing.as_ref().map_or(now, |e| e.create_time);
        enterprise.update_time = now;
        let tags = enterprise
            .tags
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(",");
        sqlx::query(
            "INSERT INTO enterprises (uscc, name, jurisdiction_code, industry, size, ownership, tags, create_time, update_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (uscc) DO UPDATE SET name = excluded.name, jurisdiction_code = excluded.jurisdiction_code, \
             industry = excluded.industry, size = excluded.size, ownership = excluded.ownership, tags = excluded.tags, \
             update_time = excluded.update_time",
        )
        .bind(enterprise.uscc.as_str())
        .bind(&enterprise.name)
        .bind(enterprise.jurisdiction.as_str())
        .bind(&enterprise.industry)
        .bind(enterprise.size.map(|s| s.as_str()))
        .bind(enterprise.ownership.map(|o| o.as_str()))
        .bind(tags)
        .bind(enterprise.create_time)
        .bind(enterprise.update_time)
        .execute(&mut *tx)
        .await?;
        let sequence = self
            .events
            .append(
                &mut tx,
                enterprise.uscc.as_str(),
                enterprise.jurisdiction.as_str(),
                &convert::enterprise_registered(&enterprise),
            )
            .await?;
        self.events.commit(tx, sequence).await?;
        Ok(enterprise)
    }

    pub async fn get_enterprise(&self, uscc: &str) -> Result<Option<Enterprise>, Error> {
        let mut conn = self.store.pool().acquire().await?;
        select_enterprise(&mut conn, uscc).await
    }

    /// A page of enterprises in credit-code order, after `after`.
    pub async fn list_enterprises(
        &self,
        filter: &EnterpriseFilter,
        limit: i64,
        after: Option<&PageToken>,
    ) -> Result<Vec<Enterprise>, Error> {
        let mut query = Filter::new();
        query.within("jurisdiction_code", filter.jurisdictions.as_deref());
        if let Some(tag) = filter.tag {
            // Tags are stored comma-separated; the commas around make the match exact.
            query.and(|bind| {
                let pattern = bind(SqlValue::Text(format!("%,{},%", tag.as_str())));
                format!("(',' || tags || ',') LIKE {pattern}")
            });
        }
        if let Some(token) = after {
            query.and(|bind| format!("uscc > {}", bind(SqlValue::Text(token.id.clone()))));
        }
        let limit_param = query.param(SqlValue::Int(limit));
        let sql = format!(
            "SELECT {ENTERPRISE_COLUMNS} FROM enterprises{} ORDER BY uscc LIMIT {limit_param}",
            query.where_clause()
        );
        let rows = query.query(sql).fetch_all(self.store.pool()).await?;
        rows.iter().map(enterprise_from_row).collect()
    }
}

/// The group-commit writer: takes what is queued (up to `batch_max`), writes it
/// in one transaction, and answers every caller after the commit.
async fn write_batches(
    store: Store,
    events: Arc<EventLog>,
    mut queue: mpsc::Receiver<Submission>,
    batch_max: usize,
) {
    let mut batch = Vec::with_capacity(batch_max);
    while queue.recv_many(&mut batch, batch_max).await > 0 {
        match write_batch(&store, &events, &batch).await {
            Ok((appeals, last_sequence)) => {
                if let Some(sequence) = last_sequence {
                    events.published(sequence);
                }
                for (submission, appeal) in batch.drain(..).zip(appeals) {
                    let _ = submission.reply.send(Ok(appeal));
                }
            }
            Err(error) => {
                // One submission spoiled the shared transaction (e.g. a concurrent
                // replica took its request_id first): write each on its own.
                tracing::debug!(%error, size = batch.len(), "batch failed; writing one by one");
                for submission in batch.drain(..) {
                    let result = write_batch(&store, &events, std::slice::from_ref(&submission))
                        .await
                        .map(|(mut appeals, last_sequence)| {
                            if let Some(sequence) = last_sequence {
                                events.published(sequence);
                            }
                            appeals.remove(0)
                        });
                    let result = match result {
                        Err(Error::Database(error)) if is_unique_violation(&error) => {
                            existing_for(&store, &submission).await
                        }
                        other => other,
                    };
                    let _ = submission.reply.send(result);
                }
            }
        }
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

async fn existing_for(store: &Store, submission: &Submission) -> Result<Appeal, Error> {
    let mut conn = store.pool().acquire().await?;
    match &submission.appeal.request_id {
        Some(request_id) => select_by_request_id(&mut conn, &submission.submitter, request_id)
            .await?
            .ok_or_else(|| Error::internal("unique violation without an existing appeal")),
        None => Err(Error::internal(
            "unique violation on an appeal without request_id",
        )),
    }
}

/// How many rows one multi-row `INSERT` writes at the most.
const INSERT_CHUNK: usize = 50;

/// An earlier appeal that a new one may be the same matter as.
struct Recent {
    id: String,
    duplicate_of: Option<String>,
    uscc: String,
    category: String,
    title_key: String,
}

/// Writes a batch in one transaction with a few statements for the whole batch:
/// earlier registrations of the same keys, recent appeals of the same
/// enterprises, acceptance numbers, registrations of the enterprises, then
/// multi-row inserts of the appeals and their events. Returns each submission's
/// appeal, in order, and the last event sequence.
async fn write_batch(
    store: &Store,
    events: &EventLog,
    batch: &[Submission],
) -> Result<(Vec<Appeal>, Option<u64>), Error> {
    let mut tx = store.begin_write().await?;
    let now = now_micros();
    let day = domain::beijing_date(now);

    // Keys seen before: the same (submitter, request_id) returns the first appeal.
    let keys: Vec<&str> = batch
        .iter()
        .filter_map(|s| s.appeal.request_id.as_deref())
        .collect();
    let mut known: HashMap<(String, String), Appeal> = HashMap::new();
    for appeal in select_by_request_ids(&mut tx, &keys).await? {
        known.insert(
            (appeal.submitter.clone(), appeal.request_id.clone()),
            appeal,
        );
    }

    let usccs: Vec<&str> = distinct(batch.iter().map(|s| s.appeal.enterprise.uscc.as_str()));
    let mut recent = select_recent(&mut tx, &usccs, now).await?;

    // Decide each submission in order; a later one may repeat an earlier one's key
    // or matter within the batch.
    // Ok: registered before the batch; Err: the index of an appeal the batch writes.
    let mut results: Vec<Result<Appeal, usize>> = Vec::with_capacity(batch.len());
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
        };
        recent.push(Recent {
            id: appeal.id.clone(),
            duplicate_of: appeal.duplicate_of.clone(),
            uscc: appeal.uscc.clone(),
            category: appeal.category.as_str().to_owned(),
            title_key: title_key.clone(),
        });
        if let Some(request_id) = &new.request_id {
            repeated.insert(
                (submission.submitter.clone(), request_id.clone()),
                fresh.len(),
            );
        }
        results.push(Err(fresh.len()));
        fresh.push((appeal, title_key));
    }

    // Acceptance numbers: one counter update per jurisdiction for the whole batch.
    let jurisdictions: Vec<String> =
        distinct(fresh.iter().map(|(a, _)| a.jurisdiction_code.as_str()))
            .into_iter()
            .map(str::to_owned)
            .collect();
    for jurisdiction in jurisdictions {
        let count = fresh
            .iter()
            .filter(|(a, _)| a.jurisdiction_code == jurisdiction)
            .count() as i64;
        let row = sqlx::query(
            "INSERT INTO daily_numbers (jurisdiction_code, day, last) VALUES ($1, $2, $3) \
             ON CONFLICT (jurisdiction_code, day) DO UPDATE SET last = daily_numbers.last + $3 RETURNING last",
        )
        .bind(&jurisdiction)
        .bind(day.format("%Y%m%d").to_string())
        .bind(count)
        .fetch_one(&mut *tx)
        .await?;
        let first = row.try_get::<i64, _>(0)? - count + 1;
        for ((appeal, _), sequence) in fresh
            .iter_mut()
            .filter(|(a, _)| a.jurisdiction_code == jurisdiction)
            .zip(first..)
        {
            appeal.number = domain::acceptance_number(&jurisdiction, day, sequence);
        }
    }

    let fresh_usccs: Vec<&str> = distinct(fresh.iter().map(|(a, _)| a.uscc.as_str()));
    let enterprises = select_enterprises(&mut tx, &fresh_usccs).await?;
    for chunk in fresh.chunks(INSERT_CHUNK) {
        insert_appeals(&mut tx, chunk).await?;
    }
    let new_events: Vec<NewEvent> = fresh
        .iter()
        .map(|(appeal, _)| {
            let enterprise = enterprises.iter().find(|e| e.uscc.as_str() == appeal.uscc);
            NewEvent::new(
                &appeal.id,
                &appeal.jurisdiction_code,
                &convert::appeal_registered(appeal, enterprise),
            )
        })
        .collect();
    let last_sequence = events.append_all(&mut tx, &new_events).await?;
    tx.commit().await?;

    let appeals = results
        .into_iter()
        .map(|result| match result {
            Ok(existing) => existing,
            Err(index) => fresh[index].0.clone(),
        })
        .collect();
    Ok((appeals, last_sequence))
}

/// The distinct values of `items`, in first-seen order.
fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// `$first, $first+1, …` for `count` parameters.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn insert_appeals(conn: &mut AnyConnection, rows: &[(Appeal, String)]) -> Result<(), Error> {
    const COLUMNS: usize = 20;
    let values: Vec<String> = (0..rows.len())
        .map(|i| format!("({})", placeholders(i * COLUMNS + 1, COLUMNS)))
        .collect();
    let sql = format!(
        "INSERT INTO appeals (id, number, request_id, submitter, channel, jurisdiction_code, uscc, enterprise_name, \
         kind, category, title, title_key, description, contact_name, contact_phone, status, duplicate_of, \
         withdraw_reason, create_time, update_time) VALUES {}",
        values.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (appeal, title_key) in rows {
        query = query
            .bind(appeal.id.clone())
            .bind(appeal.number.clone())
            .bind((!appeal.request_id.is_empty()).then(|| appeal.request_id.clone()))
            .bind(appeal.submitter.clone())
            .bind(appeal.channel.as_str())
            .bind(appeal.jurisdiction_code.clone())
            .bind(appeal.uscc.clone())
            .bind(appeal.enterprise_name.clone())
            .bind(appeal.kind.as_str())
            .bind(appeal.category.as_str())
            .bind(appeal.title.clone())
            .bind(title_key.clone())
            .bind(appeal.description.clone())
            .bind(appeal.contact_name.clone())
            .bind(appeal.contact_phone.clone())
            .bind(appeal.status.as_str())
            .bind(appeal.duplicate_of.clone())
            .bind(appeal.withdraw_reason.clone())
            .bind(appeal.create_time)
            .bind(appeal.update_time);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// Appeals registered before under any of `request_ids` (by any submitter).
async fn select_by_request_ids(
    conn: &mut AnyConnection,
    request_ids: &[&str],
) -> Result<Vec<Appeal>, Error> {
    let mut found = Vec::new();
    for chunk in request_ids.chunks(500) {
        let sql = format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals WHERE request_id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for request_id in chunk {
            query = query.bind(request_id.to_string());
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.push(appeal_from_row(&row)?);
        }
    }
    Ok(found)
}

/// Appeals of `usccs` within the duplicate window that are not withdrawn.
async fn select_recent(
    conn: &mut AnyConnection,
    usccs: &[&str],
    now: i64,
) -> Result<Vec<Recent>, Error> {
    let since = now - domain::DUPLICATE_WINDOW_DAYS * 24 * 3600 * 1_000_000;
    let mut recent = Vec::new();
    for chunk in usccs.chunks(500) {
        let sql = format!(
            "SELECT id, duplicate_of, uscc, category, title_key FROM appeals \
             WHERE uscc IN ({}) AND create_time >= $1 AND status <> 'WITHDRAWN' ORDER BY create_time",
            placeholders(2, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(since);
        for uscc in chunk {
            query = query.bind(uscc.to_string());
        }
        for row in query.fetch_all(&mut *conn).await? {
            recent.push(Recent {
                id: row.try_get(0)?,
                duplicate_of: row.try_get(1)?,
                uscc: row.try_get(2)?,
                category: row.try_get(3)?,
                title_key: row.try_get(4)?,
            });
        }
    }
    Ok(recent)
}

async fn select_enterprises(
    conn: &mut AnyConnection,
    usccs: &[&str],
) -> Result<Vec<Enterprise>, Error> {
    let mut found = Vec::new();
    for chunk in usccs.chunks(500) {
        let sql = format!(
            "SELECT {ENTERPRISE_COLUMNS} FROM enterprises WHERE uscc IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for uscc in chunk {
            query = query.bind(uscc.to_string());
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.push(enterprise_from_row(&row)?);
        }
    }
    Ok(found)
}

async fn select_by_request_id(
    conn: &mut AnyConnection,
    submitter: &str,
    request_id: &str,
) -> Result<Option<Appeal>, Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {APPEAL_COLUMNS} FROM appeals WHERE submitter = $1 AND request_id = $2"
    )))
    .bind(submitter)
    .bind(request_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(appeal_from_row).transpose()
}

async fn select_enterprise(
    conn: &mut AnyConnection,
    uscc: &str,
) -> Result<Option<Enterprise>, Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTERPRISE_COLUMNS} FROM enterprises WHERE uscc = $1"
    )))
    .bind(uscc)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(enterprise_from_row).transpose()
}

fn stored<T>(column: &str, value: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, Error> {
    parse(value)
        .ok_or_else(|| Error::internal(format!("unknown {column} {value:?} in the database")))
}

fn appeal_from_row(row: &AnyRow) -> Result<Appeal, Error> {
    let text = |name: &str| -> Result<String, Error> { Ok(row.try_get::<String, _>(name)?) };
    Ok(Appeal {
        id: text("id")?,
        number: text("number")?,
        request_id: row
            .try_get::<Option<String>, _>("request_id")?
            .unwrap_or_default(),
        submitter: text("submitter")?,
        channel: stored("channel", &text("channel")?, Channel::parse)?,
        jurisdiction_code: text("jurisdiction_code")?,
        uscc: text("uscc")?,
        enterprise_name: text("enterprise_name")?,
        kind: stored("kind", &text("kind")?, AppealKind::parse)?,
        category: stored("category", &text("category")?, Category::parse)?,
        title: text("title")?,
        description: text("description")?,
        contact_name: text("contact_name")?,
        contact_phone: text("contact_phone")?,
        status: stored("status", &text("status")?, AppealStatus::parse)?,
        duplicate_of: row.try_get("duplicate_of")?,
        withdraw_reason: text("withdraw_reason")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
    })
}

fn enterprise_from_row(row: &AnyRow) -> Result<Enterprise, Error> {
    let text = |name: &str| -> Result<String, Error> { Ok(row.try_get::<String, _>(name)?) };
    let optional = |name: &str| -> Result<Option<String>, Error> {
        Ok(row.try_get::<Option<String>, _>(name)?)
    };
    let tags = text("tags")?;
    Ok(Enterprise {
        uscc: Uscc::parse(&text("uscc")?).map_err(Error::internal)?,
        name: text("name")?,
        jurisdiction: JurisdictionCode::parse(&text("jurisdiction_code")?)
            .map_err(Error::internal)?,
        industry: text("industry")?,
        size: optional("size")?
            .map(|s| stored("size", &s, EnterpriseSize::parse))
            .transpose()?,
        ownership: optional("ownership")?
            .map(|o| stored("ownership", &o, Ownership::parse))
            .transpose()?,
        tags: tags
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|t| stored("tag", t, EnterpriseTag::parse))
            .collect::<Result<_, _>>()?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
    })
}
