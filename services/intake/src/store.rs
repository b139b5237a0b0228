//! Intake's tables: appeals, their daily acceptance numbers, the enterprise
//! registry. Appeals are written by one group-commit writer ([`crate::batch`]):
//! many submissions, one transaction, every caller answered after the commit.

use std::sync::Arc;

use sqlx::AnyConnection;
use tokio::sync::{mpsc, oneshot};
use zhengqi_shared::Error;
use zhengqi_shared::clock::Clock;
use zhengqi_shared::events::EventLog;
use zhengqi_shared::ids::PageToken;
use zhengqi_shared::personal;
use zhengqi_shared::storage::{Filter, Keyset, SqlValue, Statement, Store};

use crate::batch::{self, Submission};
use crate::convert;
use crate::domain::{
    self, Appeal, AppealStatus, Category, Channel, Enterprise, EnterpriseTag, NewAppeal,
};
use crate::rows::{APPEAL_COLUMNS, ENTERPRISE_COLUMNS, appeal_from_row, enterprise_from_row};

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
    clock: Arc<Clock>,
}

impl IntakeStore {
    /// Starts the group-commit writer (see [`crate::batch`]), which ends when
    /// the last handle is dropped.
    pub fn new(
        store: Store,
        events: Arc<EventLog>,
        batch_max: usize,
        clock: Arc<Clock>,
    ) -> Result<IntakeStore, Error> {
        let writer = batch::start(&store, Arc::clone(&events), batch_max, Arc::clone(&clock))?;
        Ok(IntakeStore {
            store,
            events,
            writer,
            clock,
        })
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
        let mut conn = self.store.pool().acquire().await?;
        Keyset {
            from: "appeals",
            columns: APPEAL_COLUMNS,
            sort: "create_time",
            tie: "id",
            descending: true,
        }
        .page(&mut conn, query, after.cloned(), limit, appeal_from_row)
        .await
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
            return Err(Error::NotFound(format!("appeal {id}")).zh("未找到该诉求，或您无权查看"));
        };
        allowed(&appeal)?;
        domain::check_withdraw(&appeal).map_err(|refusal| match refusal {
            domain::WithdrawRefusal::AlreadyWithdrawn => {
                Error::FailedPrecondition(format!("appeal {id} is already withdrawn"))
                    .zh(format!("诉求 {} 已撤回，不能重复撤回", appeal.number))
            }
        })?;
        appeal.status = AppealStatus::Withdrawn;
        appeal.withdraw_reason = reason.to_owned();
        appeal.update_time = self.clock.now();
        sqlx::query(
            "UPDATE appeals SET status = $1, withdraw_reason = $2, update_time = $3 WHERE id = $4",
        )
        .bind(appeal.status.as_str())
        .bind(&appeal.withdraw_reason)
        .bind(appeal.update_time)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        self.events
            .append_and_commit(
                tx,
                &appeal.id,
                &appeal.jurisdiction_code,
                &convert::appeal_withdrawn(&appeal),
            )
            .await?;
        Ok(appeal)
    }

    /// Erases the contact of every appeal received before `cutoff` whose
    /// contact is still kept, from the appeal and from the events about it;
    /// how many appeals.
    pub async fn erase_personal_data(&self, cutoff: i64) -> Result<u64, Error> {
        let due = Statement {
            sql: "SELECT id FROM appeals WHERE personal_data_erase_time IS NULL AND create_time < $1 \
                  ORDER BY create_time LIMIT 200"
                .to_owned(),
            params: vec![SqlValue::Int(cutoff)],
        };
        personal::erase_due(
            &self.store,
            &due,
            "UPDATE appeals SET contact_name = '', contact_phone = '', \
             personal_data_erase_time = $1 WHERE id = $2",
            self.clock.now(),
        )
        .await
    }

    /// Registers an enterprise or updates its registration, once `allowed`
    /// accepts the registration as stored (none for a new one).
    pub async fn register_enterprise(
        &self,
        mut enterprise: Enterprise,
        allowed: impl FnOnce(Option<&Enterprise>) -> Result<(), Error>,
    ) -> Result<Enterprise, Error> {
        let mut tx = self.store.begin_write().await?;
        let now = self.clock.now();
        let existing = select_enterprise(&mut tx, enterprise.uscc.as_str()).await?;
        allowed(existing.as_ref())?;
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
        self.events
            .append_and_commit(
                tx,
                enterprise.uscc.as_str(),
                enterprise.jurisdiction.as_str(),
                &convert::enterprise_registered(&enterprise),
            )
            .await?;
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
