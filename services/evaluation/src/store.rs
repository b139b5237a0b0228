//! Evaluation's tables through sqlx, in portable SQL with `$1` parameters.
//! Every change is written with its event in one transaction; the functions
//! taking a connection run inside the caller's transaction.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use zhengqi_shared::Error;
use zhengqi_shared::events::EventLog;
use zhengqi_shared::ids::PageToken;
use zhengqi_shared::storage::{
    Backend, Filter, Keyset, RequestKeys, SqlValue, Store, padded_in_list, statement_chunks,
    stored, value_rows,
};
use zhengqi_shared::unit::{RequestKey, UnitOfWork};

use crate::domain::{
    Assessment, Campaign, CampaignAnswer, CampaignItem, CampaignKind, CampaignResponse, CaseReopen,
    CreditList, CreditListing, DimensionRating, Direction, PenaltyDecision, Rating, Rectification,
    RectificationState, Review, ReviewState, ServiceRecord, Severity, Suspension, SuspensionState,
    TargetKind, Violation,
};

/// Evaluation's store and event log.
#[derive(Debug, Clone)]
pub struct EvaluationStore {
    store: Store,
    events: Arc<EventLog>,
}

impl EvaluationStore {
    pub fn new(store: Store, events: Arc<EventLog>) -> Self {
        Self { store, events }
    }

    pub fn events(&self) -> &Arc<EventLog> {
        &self.events
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The unit of work of a write by `actor`, keyed by `request_id`.
    pub async fn work(
        &self,
        actor: &str,
        request_id: &str,
        method: &'static str,
        now: i64,
    ) -> Result<UnitOfWork, Error> {
        UnitOfWork::begin(
            &self.store,
            &self.events,
            REQUESTS,
            RequestKey::new(actor, request_id, method),
            now,
        )
        .await
    }

    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, Error> {
        self.store.begin_write().await
    }

    /// Serialises the writers of one enterprise's record (its violations decide
    /// each other's tier). SQLite writers are serial already.
    pub async fn lock_enterprise(&self, conn: &mut AnyConnection, uscc: &str) -> Result<(), Error> {
        if self.store.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7400, hashtext($1))")
                .bind(uscc)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    pub async fn read(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, Error> {
        Ok(self.store.pool().acquire().await?)
    }
}

fn flag(value: bool) -> i64 {
    i64::from(value)
}

/// Evaluation's idempotency keys.
pub const REQUESTS: RequestKeys = RequestKeys::new("evaluation_requests");

/// The name routing's cases gave an enterprise, or empty.
pub async fn enterprise_name(conn: &mut AnyConnection, uscc: &str) -> Result<String, Error> {
    Ok(
        sqlx::query("SELECT name FROM enterprise_names WHERE uscc = $1")
            .bind(uscc)
            .fetch_optional(&mut *conn)
            .await?
            .map(|row| row.try_get::<String, _>(0))
            .transpose()?
            .unwrap_or_default(),
    )
}

pub async fn remember_enterprise(
    conn: &mut AnyConnection,
    uscc: &str,
    name: &str,
    now: i64,
) -> Result<(), Error> {
    if uscc.is_empty() || name.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO enterprise_names (uscc, name, update_time) VALUES ($1, $2, $3) \
         ON CONFLICT (uscc) DO UPDATE SET name = excluded.name, update_time = excluded.update_time",
    )
    .bind(uscc)
    .bind(name)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---- reviews ----

const REVIEW_COLUMNS: &str = "id, direction, target_kind, target_id, case_id, rating, comment, \
    dimensions, state, jurisdiction_code, department_id, uscc, enterprise_name, reviewer, \
    rectification_id, invite_time, submit_time, create_time, sort_time, service_record_id";

fn review_of(row: &AnyRow) -> Result<Review, Error> {
    let dimensions: String = row.try_get("dimensions")?;
    let dimensions: Vec<DimensionRating> = serde_json::from_str(&dimensions)
        .map_err(|e| Error::internal(format!("stored dimensions do not parse: {e}")))?;
    let rating: Option<String> = row.try_get("rating")?;
    Ok(Review {
        id: row.try_get("id")?,
        direction: stored(
            "direction",
            &row.try_get::<String, _>("direction")?,
            Direction::parse,
        )?,
        target_kind: stored(
            "target kind",
            &row.try_get::<String, _>("target_kind")?,
            TargetKind::parse,
        )?,
        target_id: row.try_get("target_id")?,
        case_id: row.try_get("case_id")?,
        rating: rating
            .map(|r| stored("rating", &r, Rating::parse))
            .transpose()?,
        comment: row.try_get("comment")?,
        dimensions: dimensions
            .into_iter()
            .map(|d| Ok((d.dimension, stored("rating", &d.rating, Rating::parse)?)))
            .collect::<Result<_, Error>>()?,
        state: stored(
            "review state",
            &row.try_get::<String, _>("state")?,
            ReviewState::parse,
        )?,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        department_id: row.try_get("department_id")?,
        uscc: row.try_get("uscc")?,
        enterprise_name: row.try_get("enterprise_name")?,
        reviewer: row.try_get("reviewer")?,
        rectification_id: row.try_get("rectification_id")?,
        invite_time: row.try_get("invite_time")?,
        submit_time: row.try_get("submit_time")?,
        create_time: row.try_get("create_time")?,
        service_record_id: row.try_get("service_record_id")?,
    })
}

/// The time a review sorts by: when rated, else when invited.
pub fn review_sort_time(review: &Review) -> i64 {
    review
        .submit_time
        .or(review.invite_time)
        .unwrap_or(review.create_time)
}

pub async fn get_review(conn: &mut AnyConnection, id: &str) -> Result<Option<Review>, Error> {
    let sql = format!("SELECT {REVIEW_COLUMNS} FROM reviews WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(review_of)
        .transpose()
}

pub async fn review_of_case(
    conn: &mut AnyConnection,
    case_id: &str,
) -> Result<Option<Review>, Error> {
    let sql = format!("SELECT {REVIEW_COLUMNS} FROM reviews WHERE case_id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(case_id)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(review_of)
        .transpose()
}

/// Inserts a review; false when its case already has one (a replayed invitation).
pub async fn insert_review(conn: &mut AnyConnection, review: &Review) -> Result<bool, Error> {
    let dimensions = dimensions_json(review)?;
    let sql = format!(
        "INSERT INTO reviews ({REVIEW_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
         $20) ON CONFLICT DO NOTHING"
    );
    let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&review.id)
        .bind(review.direction.as_str())
        .bind(review.target_kind.as_str())
        .bind(&review.target_id)
        .bind(&review.case_id)
        .bind(review.rating.map(|r| r.as_str().to_owned()))
        .bind(&review.comment)
        .bind(dimensions)
        .bind(review.state.as_str())
        .bind(&review.jurisdiction_code)
        .bind(&review.department_id)
        .bind(&review.uscc)
        .bind(&review.enterprise_name)
        .bind(&review.reviewer)
        .bind(&review.rectification_id)
        .bind(review.invite_time)
        .bind(review.submit_time)
        .bind(review.create_time)
        .bind(review_sort_time(review))
        .bind(&review.service_record_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(inserted == 1)
}

fn dimensions_json(review: &Review) -> Result<String, Error> {
    let dimensions: Vec<DimensionRating> = review
        .dimensions
        .iter()
        .map(|(dimension, rating)| DimensionRating {
            dimension: dimension.clone(),
            rating: rating.as_str().to_owned(),
        })
        .collect();
    serde_json::to_string(&dimensions).map_err(Error::internal)
}

/// Records the rating of an invitation; false when it was rated meanwhile.
pub async fn rate_invitation(conn: &mut AnyConnection, review: &Review) -> Result<bool, Error> {
    let updated = sqlx::query(
        "UPDATE reviews SET rating = $1, comment = $2, dimensions = $3, state = $4, reviewer = $5, \
         rectification_id = $6, submit_time = $7, sort_time = $8, target_id = $9 \
         WHERE id = $10 AND state = $11",
    )
    .bind(review.rating.map(|r| r.as_str().to_owned()))
    .bind(&review.comment)
    .bind(dimensions_json(review)?)
    .bind(review.state.as_str())
    .bind(&review.reviewer)
    .bind(&review.rectification_id)
    .bind(review.submit_time)
    .bind(review_sort_time(review))
    .bind(&review.target_id)
    .bind(&review.id)
    .bind(ReviewState::Invited.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(updated == 1)
}

/// The filters of a list of reviews, already resolved against the caller's scope.
#[derive(Debug, Default, Clone)]
pub struct ReviewFilter {
    pub jurisdictions: Option<Vec<String>>,
    pub department_id: Option<String>,
    pub direction: Option<Direction>,
    pub target_kind: Option<TargetKind>,
    pub target_id: Option<String>,
    pub case_id: Option<String>,
    pub uscc: Option<String>,
    pub state: Option<ReviewState>,
    pub bad_only: bool,
}

pub async fn list_reviews(
    conn: &mut AnyConnection,
    filter: &ReviewFilter,
    after: Option<PageToken>,
    limit: i64,
) -> Result<Vec<(i64, Review)>, Error> {
    let mut where_ = Filter::new();
    where_.within("jurisdiction_code", filter.jurisdictions.as_deref());
    if let Some(v) = &filter.department_id {
        where_.eq("department_id", v.clone().into());
    }
    if let Some(v) = filter.direction {
        where_.eq("direction", v.as_str().into());
    }
    if let Some(v) = filter.target_kind {
        where_.eq("target_kind", v.as_str().into());
    }
    if let Some(v) = &filter.target_id {
        where_.eq("target_id", v.clone().into());
    }
    if let Some(v) = &filter.case_id {
        where_.eq("case_id", v.clone().into());
    }
    if let Some(v) = &filter.uscc {
        where_.eq("uscc", v.clone().into());
    }
    if let Some(v) = filter.state {
        where_.eq("state", v.as_str().into());
    }
    if filter.bad_only {
        where_.any_of(
            "rating",
            [Rating::VeryDissatisfied, Rating::Dissatisfied]
                .iter()
                .map(|r| SqlValue::from(r.as_str())),
        );
    }
    Keyset {
        from: "reviews",
        columns: REVIEW_COLUMNS,
        sort: "sort_time",
        tie: "id",
        descending: true,
    }
    .page(conn, where_, after, limit, |row| {
        Ok((row.try_get("sort_time")?, review_of(row)?))
    })
    .await
}

// ---- service records ----

const SERVICE_RECORD_COLUMNS: &str = "id, window_id, department_id, jurisdiction_code, uscc, \
    enterprise_name, matter, transaction_number, serve_time, registered_by, review_id, create_time";

fn service_record_of(row: &AnyRow) -> Result<ServiceRecord, Error> {
    Ok(ServiceRecord {
        id: row.try_get("id")?,
        window_id: row.try_get("window_id")?,
        department_id: row.try_get("department_id")?,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        uscc: row.try_get("uscc")?,
        enterprise_name: row.try_get("enterprise_name")?,
        matter: row.try_get("matter")?,
        transaction_number: row.try_get("transaction_number")?,
        serve_time: row.try_get("serve_time")?,
        registered_by: row.try_get("registered_by")?,
        review_id: row.try_get("review_id")?,
        create_time: row.try_get("create_time")?,
    })
}

pub async fn get_service_record(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<ServiceRecord>, Error> {
    let sql = format!("SELECT {SERVICE_RECORD_COLUMNS} FROM service_records WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(service_record_of)
        .transpose()
}

/// The record a window holds under a transaction number.
pub async fn service_record_of_transaction(
    conn: &mut AnyConnection,
    window_id: &str,
    transaction_number: &str,
) -> Result<Option<ServiceRecord>, Error> {
    let sql = format!(
        "SELECT {SERVICE_RECORD_COLUMNS} FROM service_records \
         WHERE window_id = $1 AND transaction_number = $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(window_id)
        .bind(transaction_number)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(service_record_of)
        .transpose()
}

/// Inserts a record; false when its window already holds its transaction number.
pub async fn insert_service_record(
    conn: &mut AnyConnection,
    r: &ServiceRecord,
) -> Result<bool, Error> {
    let sql = format!(
        "INSERT INTO service_records ({SERVICE_RECORD_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING"
    );
    let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&r.id)
        .bind(&r.window_id)
        .bind(&r.department_id)
        .bind(&r.jurisdiction_code)
        .bind(&r.uscc)
        .bind(&r.enterprise_name)
        .bind(&r.matter)
        .bind(&r.transaction_number)
        .bind(r.serve_time)
        .bind(&r.registered_by)
        .bind(&r.review_id)
        .bind(r.create_time)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(inserted == 1)
}

/// Marks a record rated by `review_id`; false when it was rated meanwhile.
pub async fn rate_service_record(
    conn: &mut AnyConnection,
    id: &str,
    review_id: &str,
) -> Result<bool, Error> {
    let updated =
        sqlx::query("UPDATE service_records SET review_id = $1 WHERE id = $2 AND review_id = ''")
            .bind(review_id)
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    Ok(updated == 1)
}

/// The filters of a list of service records, resolved against the caller's scope.
#[derive(Debug, Default, Clone)]
pub struct ServiceRecordFilter {
    pub jurisdictions: Option<Vec<String>>,
    pub department_id: Option<String>,
    pub window_id: Option<String>,
    pub uscc: Option<String>,
    pub unrated_only: bool,
}

pub async fn list_service_records(
    conn: &mut AnyConnection,
    filter: &ServiceRecordFilter,
    after: Option<PageToken>,
    limit: i64,
) -> Result<Vec<ServiceRecord>, Error> {
    let mut where_ = Filter::new();
    where_.within("jurisdiction_code", filter.jurisdictions.as_deref());
    if let Some(v) = &filter.department_id {
        where_.eq("department_id", v.clone().into());
    }
    if let Some(v) = &filter.window_id {
        where_.eq("window_id", v.clone().into());
    }
    if let Some(v) = &filter.uscc {
        where_.eq("uscc", v.clone().into());
    }
    if filter.unrated_only {
        where_.eq("review_id", "".into());
    }
    Keyset {
        from: "service_records",
        columns: SERVICE_RECORD_COLUMNS,
        sort: "serve_time",
        tie: "id",
        descending: true,
    }
    .page(conn, where_, after, limit, service_record_of)
    .await
}

// ---- rectifications ----

const RECTIFICATION_COLUMNS: &str = "id, review_id, case_id, jurisdiction_code, department_id, \
    uscc, state, rating, review_comment, due_time, valid, verification_note, verified_by, \
    verify_time, rectification_text, rectified_by, rectify_time, return_visit_satisfied, \
    return_visit_note, visited_by, visit_time, return_visit_count, case_reopen, \
    case_reopen_note, version, create_time, update_time, due_provisional, due_working_days";

fn rectification_of(row: &AnyRow) -> Result<Rectification, Error> {
    Ok(Rectification {
        id: row.try_get("id")?,
        review_id: row.try_get("review_id")?,
        case_id: row.try_get("case_id")?,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        department_id: row.try_get("department_id")?,
        uscc: row.try_get("uscc")?,
        state: stored(
            "rectification state",
            &row.try_get::<String, _>("state")?,
            RectificationState::parse,
        )?,
        rating: stored(
            "rating",
            &row.try_get::<String, _>("rating")?,
            Rating::parse,
        )?,
        review_comment: row.try_get("review_comment")?,
        due_time: row.try_get("due_time")?,
        due_provisional: row.try_get::<i64, _>("due_provisional")? != 0,
        due_working_days: row.try_get::<i64, _>("due_working_days")? as u32,
        valid: row.try_get::<i64, _>("valid")? != 0,
        verification_note: row.try_get("verification_note")?,
        verified_by: row.try_get("verified_by")?,
        verify_time: row.try_get("verify_time")?,
        rectification_text: row.try_get("rectification_text")?,
        rectified_by: row.try_get("rectified_by")?,
        rectify_time: row.try_get("rectify_time")?,
        return_visit_satisfied: row.try_get::<i64, _>("return_visit_satisfied")? != 0,
        return_visit_note: row.try_get("return_visit_note")?,
        visited_by: row.try_get("visited_by")?,
        visit_time: row.try_get("visit_time")?,
        return_visit_count: row.try_get("return_visit_count")?,
        case_reopen: match row.try_get::<String, _>("case_reopen")?.as_str() {
            "" => None,
            text => Some(stored("case reopening", text, CaseReopen::parse)?),
        },
        case_reopen_note: row.try_get("case_reopen_note")?,
        version: row.try_get("version")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
    })
}

pub async fn get_rectification(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Rectification>, Error> {
    let sql = format!("SELECT {RECTIFICATION_COLUMNS} FROM rectifications WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(rectification_of)
        .transpose()
}

pub async fn insert_rectification(
    conn: &mut AnyConnection,
    r: &Rectification,
) -> Result<(), Error> {
    let sql = format!(
        "INSERT INTO rectifications ({RECTIFICATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, \
         $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, \
         $26, $27, $28, $29)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&r.id)
        .bind(&r.review_id)
        .bind(&r.case_id)
        .bind(&r.jurisdiction_code)
        .bind(&r.department_id)
        .bind(&r.uscc)
        .bind(r.state.as_str())
        .bind(r.rating.as_str())
        .bind(&r.review_comment)
        .bind(r.due_time)
        .bind(flag(r.valid))
        .bind(&r.verification_note)
        .bind(&r.verified_by)
        .bind(r.verify_time)
        .bind(&r.rectification_text)
        .bind(&r.rectified_by)
        .bind(r.rectify_time)
        .bind(flag(r.return_visit_satisfied))
        .bind(&r.return_visit_note)
        .bind(&r.visited_by)
        .bind(r.visit_time)
        .bind(r.return_visit_count)
        .bind(r.case_reopen.map_or("", |c| c.as_str()))
        .bind(&r.case_reopen_note)
        .bind(r.version)
        .bind(r.create_time)
        .bind(r.update_time)
        .bind(flag(r.due_provisional))
        .bind(i64::from(r.due_working_days))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The open rectifications whose due time is provisional.
pub async fn provisional_rectifications(
    conn: &mut AnyConnection,
) -> Result<Vec<Rectification>, Error> {
    let sql = format!(
        "SELECT {RECTIFICATION_COLUMNS} FROM rectifications WHERE due_provisional = 1 ORDER BY id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(rectification_of)
        .collect()
}

/// Writes a recounted due time of a rectification whose version was `expected`.
pub async fn update_due(
    conn: &mut AnyConnection,
    r: &Rectification,
    expected: i64,
) -> Result<(), Error> {
    let updated = sqlx::query(
        "UPDATE rectifications SET due_time = $1, due_provisional = $2, version = $3, \
         update_time = $4 WHERE id = $5 AND version = $6",
    )
    .bind(r.due_time)
    .bind(flag(r.due_provisional))
    .bind(r.version)
    .bind(r.update_time)
    .bind(&r.id)
    .bind(expected)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated != 1 {
        return Err(Error::Aborted(format!(
            "rectification {} changed meanwhile",
            r.id
        )));
    }
    Ok(())
}

/// Writes a changed rectification whose version was `expected`; ABORTED when
/// another change came first.
pub async fn update_rectification(
    conn: &mut AnyConnection,
    r: &Rectification,
    expected: i64,
) -> Result<(), Error> {
    let updated = sqlx::query(
        "UPDATE rectifications SET state = $1, valid = $2, verification_note = $3, verified_by = $4, \
         verify_time = $5, rectification_text = $6, rectified_by = $7, rectify_time = $8, \
         return_visit_satisfied = $9, return_visit_note = $10, visited_by = $11, visit_time = $12, \
         return_visit_count = $13, version = $14, update_time = $15, case_reopen = $16, \
         case_reopen_note = $17 WHERE id = $18 AND version = $19",
    )
    .bind(r.state.as_str())
    .bind(flag(r.valid))
    .bind(&r.verification_note)
    .bind(&r.verified_by)
    .bind(r.verify_time)
    .bind(&r.rectification_text)
    .bind(&r.rectified_by)
    .bind(r.rectify_time)
    .bind(flag(r.return_visit_satisfied))
    .bind(&r.return_visit_note)
    .bind(&r.visited_by)
    .bind(r.visit_time)
    .bind(r.return_visit_count)
    .bind(r.version)
    .bind(r.update_time)
    .bind(r.case_reopen.map_or("", |c| c.as_str()))
    .bind(&r.case_reopen_note)
    .bind(&r.id)
    .bind(expected)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated != 1 {
        return Err(Error::Aborted(format!(
            "rectification {} changed meanwhile; read it again",
            r.id
        ))
        .zh("该差评整改已被他人修改，请刷新后重试"));
    }
    Ok(())
}

/// Rectifications whose case routing has yet to reopen: `(id, case id, review id)`.
pub async fn pending_reopens(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<(String, String, String)>, Error> {
    sqlx::query(
        "SELECT id, case_id, review_id FROM rectifications WHERE case_reopen = $1 \
         ORDER BY update_time, id LIMIT $2",
    )
    .bind(CaseReopen::Pending.as_str())
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
    .collect()
}

/// Records routing's answer to the reopening of a rectification's case.
pub async fn finish_reopen(
    conn: &mut AnyConnection,
    id: &str,
    outcome: CaseReopen,
    note: &str,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE rectifications SET case_reopen = $1, case_reopen_note = $2 WHERE id = $3 AND case_reopen = $4",
    )
    .bind(outcome.as_str())
    .bind(note)
    .bind(id)
    .bind(CaseReopen::Pending.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct RectificationFilter {
    pub jurisdictions: Option<Vec<String>>,
    pub uscc: Option<String>,
    pub department_id: Option<String>,
    pub state: Option<RectificationState>,
    /// Open ones due before this time.
    pub overdue_at: Option<i64>,
}

/// Sorts rectifications without a due time last.
const DUE_SORT: &str = "COALESCE(due_time, 9223372036854775807)";

pub async fn list_rectifications(
    conn: &mut AnyConnection,
    filter: &RectificationFilter,
    after: Option<PageToken>,
    limit: i64,
) -> Result<Vec<(i64, Rectification)>, Error> {
    let mut where_ = Filter::new();
    where_.within("jurisdiction_code", filter.jurisdictions.as_deref());
    if let Some(v) = &filter.uscc {
        where_.eq("uscc", v.clone().into());
    }
    if let Some(v) = &filter.department_id {
        where_.eq("department_id", v.clone().into());
    }
    if let Some(v) = filter.state {
        where_.eq("state", v.as_str().into());
    }
    if let Some(now) = filter.overdue_at {
        where_.any_of(
            "state",
            RectificationState::ALL
                .iter()
                .filter(|s| s.is_open())
                .map(|s| SqlValue::from(s.as_str())),
        );
        where_.and(|p| format!("due_time < {}", p(SqlValue::Int(now))));
    }
    Keyset {
        from: "rectifications",
        columns: RECTIFICATION_COLUMNS,
        sort: DUE_SORT,
        tie: "id",
        descending: false,
    }
    .page(conn, where_, after, limit, |row| {
        let r = rectification_of(row)?;
        Ok((r.due_time.unwrap_or(i64::MAX), r))
    })
    .await
}

// ---- campaigns ----

const CAMPAIGN_COLUMNS: &str = "id, jurisdiction_code, kind, title, description, items, \
    start_time, end_time, invite_all, response_count, created_by, create_time, version";

fn campaign_of(row: &AnyRow, invited_usccs: Vec<String>) -> Result<Campaign, Error> {
    let items: String = row.try_get("items")?;
    let items: Vec<CampaignItem> = serde_json::from_str(&items)
        .map_err(|e| Error::internal(format!("stored campaign items do not parse: {e}")))?;
    Ok(Campaign {
        id: row.try_get("id")?,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        kind: stored(
            "campaign kind",
            &row.try_get::<String, _>("kind")?,
            CampaignKind::parse,
        )?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        items,
        start_time: row.try_get("start_time")?,
        end_time: row.try_get("end_time")?,
        invited_usccs,
        response_count: row.try_get("response_count")?,
        created_by: row.try_get("created_by")?,
        create_time: row.try_get("create_time")?,
        version: row.try_get("version")?,
    })
}

/// The campaigns of `rows` with the enterprises each invites by name, read in
/// one query for the whole page.
async fn campaigns_of(conn: &mut AnyConnection, rows: &[AnyRow]) -> Result<Vec<Campaign>, Error> {
    let ids = rows
        .iter()
        .map(|row| row.try_get::<String, _>("id"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut invitees: HashMap<String, Vec<String>> = HashMap::new();
    if !ids.is_empty() {
        let mut where_ = Filter::new();
        where_.any_of(
            "campaign_id",
            padded_in_list(&ids).into_iter().map(SqlValue::Text),
        );
        let sql = format!(
            "SELECT campaign_id, uscc FROM campaign_invitees{} ORDER BY campaign_id, position",
            where_.where_clause()
        );
        for row in where_.query(sql).fetch_all(&mut *conn).await? {
            invitees
                .entry(row.try_get(0)?)
                .or_default()
                .push(row.try_get(1)?);
        }
    }
    rows.iter()
        .zip(ids)
        .map(|(row, id)| campaign_of(row, invitees.remove(&id).unwrap_or_default()))
        .collect()
}

pub async fn get_campaign(conn: &mut AnyConnection, id: &str) -> Result<Option<Campaign>, Error> {
    let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(campaigns_of(conn, &[row]).await?.pop())
}

pub async fn insert_campaign(conn: &mut AnyConnection, c: &Campaign) -> Result<(), Error> {
    let items = serde_json::to_string(&c.items).map_err(Error::internal)?;
    let sql = format!(
        "INSERT INTO campaigns ({CAMPAIGN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&c.id)
        .bind(&c.jurisdiction_code)
        .bind(c.kind.as_str())
        .bind(&c.title)
        .bind(&c.description)
        .bind(items)
        .bind(c.start_time)
        .bind(c.end_time)
        .bind(flag(c.invited_usccs.is_empty()))
        .bind(c.response_count)
        .bind(&c.created_by)
        .bind(c.create_time)
        .bind(c.version)
        .execute(&mut *conn)
        .await?;
    let invitees: Vec<(i64, &String)> = (0..).zip(&c.invited_usccs).collect();
    for chunk in statement_chunks(&invitees) {
        let sql = format!(
            "INSERT INTO campaign_invitees (campaign_id, uscc, position) VALUES {} \
             ON CONFLICT DO NOTHING",
            value_rows(1, chunk.len(), 3)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (position, uscc) in chunk {
            query = query.bind(&c.id).bind(*uscc).bind(*position);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct CampaignFilter {
    /// The campaign's jurisdiction among these.
    pub jurisdictions: Option<Vec<String>>,
    /// For an enterprise: campaigns inviting it by name, or inviting every
    /// enterprise of one of these jurisdictions.
    pub invited: Option<(String, Vec<String>)>,
    pub kind: Option<CampaignKind>,
    /// Accepting responses at this time.
    pub open_at: Option<i64>,
}

pub async fn list_campaigns(
    conn: &mut AnyConnection,
    filter: &CampaignFilter,
    after: Option<PageToken>,
    limit: i64,
) -> Result<Vec<Campaign>, Error> {
    let mut where_ = Filter::new();
    where_.within("jurisdiction_code", filter.jurisdictions.as_deref());
    if let Some((uscc, home)) = &filter.invited {
        where_.and(|p| {
            let named = p(SqlValue::Text(uscc.clone()));
            let all = if home.is_empty() {
                "1 = 0".to_owned()
            } else {
                let codes: Vec<String> =
                    home.iter().map(|c| p(SqlValue::Text(c.clone()))).collect();
                format!(
                    "(invite_all = 1 AND jurisdiction_code IN ({}))",
                    codes.join(", ")
                )
            };
            format!(
                "({all} OR id IN (SELECT campaign_id FROM campaign_invitees WHERE uscc = {named}))"
            )
        });
    }
    if let Some(kind) = filter.kind {
        where_.eq("kind", kind.as_str().into());
    }
    if let Some(now) = filter.open_at {
        where_.and(|p| {
            let a = p(SqlValue::Int(now));
            let b = p(SqlValue::Int(now));
            format!("start_time <= {a} AND end_time >= {b}")
        });
    }
    let rows = Keyset {
        from: "campaigns",
        columns: CAMPAIGN_COLUMNS,
        sort: "create_time",
        tie: "id",
        descending: true,
    }
    .rows(conn, where_, after, limit)
    .await?;
    campaigns_of(conn, &rows).await
}

/// Whether the enterprise `uscc` is invited by name to the campaign.
pub async fn is_invited(
    conn: &mut AnyConnection,
    campaign_id: &str,
    uscc: &str,
) -> Result<bool, Error> {
    Ok(
        sqlx::query("SELECT 1 FROM campaign_invitees WHERE campaign_id = $1 AND uscc = $2")
            .bind(campaign_id)
            .bind(uscc)
            .fetch_optional(&mut *conn)
            .await?
            .is_some(),
    )
}

/// Inserts a response and its answers and counts it on the campaign; false
/// when the enterprise answered this campaign before.
pub async fn insert_response(
    conn: &mut AnyConnection,
    response: &CampaignResponse,
) -> Result<bool, Error> {
    let inserted = sqlx::query(
        "INSERT INTO campaign_responses (id, campaign_id, uscc, enterprise_name, comment, create_time) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (campaign_id, uscc) DO NOTHING",
    )
    .bind(&response.id)
    .bind(&response.campaign_id)
    .bind(&response.uscc)
    .bind(&response.enterprise_name)
    .bind(&response.comment)
    .bind(response.create_time)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted != 1 {
        return Ok(false);
    }
    for (position, answer) in response.answers.iter().enumerate() {
        sqlx::query(
            "INSERT INTO campaign_answers (response_id, campaign_id, item_key, rating, comment, position) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&response.id)
        .bind(&response.campaign_id)
        .bind(&answer.item_key)
        .bind(answer.rating.as_str())
        .bind(&answer.comment)
        .bind(position as i64)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "UPDATE campaigns SET response_count = response_count + 1, version = version + 1 WHERE id = $1",
    )
    .bind(&response.campaign_id)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

pub async fn get_response(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<CampaignResponse>, Error> {
    let Some(row) = sqlx::query(
        "SELECT id, campaign_id, uscc, enterprise_name, comment, create_time \
         FROM campaign_responses WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let answers = sqlx::query(
        "SELECT item_key, rating, comment FROM campaign_answers WHERE response_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(CampaignAnswer {
            item_key: r.try_get(0)?,
            rating: stored("rating", &r.try_get::<String, _>(1)?, Rating::parse)?,
            comment: r.try_get(2)?,
        })
    })
    .collect::<Result<Vec<_>, Error>>()?;
    Ok(Some(CampaignResponse {
        id: row.try_get("id")?,
        campaign_id: row.try_get("campaign_id")?,
        uscc: row.try_get("uscc")?,
        enterprise_name: row.try_get("enterprise_name")?,
        answers,
        comment: row.try_get("comment")?,
        create_time: row.try_get("create_time")?,
    }))
}

/// `(item key, rating, answers)` of a campaign.
pub async fn answer_counts(
    conn: &mut AnyConnection,
    campaign_id: &str,
) -> Result<Vec<(String, Rating, i64)>, Error> {
    sqlx::query(
        "SELECT item_key, rating, COUNT(*) FROM campaign_answers WHERE campaign_id = $1 \
         GROUP BY item_key, rating",
    )
    .bind(campaign_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get(0)?,
            stored("rating", &r.try_get::<String, _>(1)?, Rating::parse)?,
            r.try_get(2)?,
        ))
    })
    .collect()
}

// ---- assessments ----

pub async fn insert_assessment(conn: &mut AnyConnection, a: &Assessment) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO assessments (id, evaluator, evaluator_name, jurisdiction_code, department_id, \
         period, score, summary, create_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&a.id)
    .bind(&a.evaluator)
    .bind(&a.evaluator_name)
    .bind(&a.jurisdiction_code)
    .bind(&a.department_id)
    .bind(&a.period)
    .bind(a.score)
    .bind(&a.summary)
    .bind(a.create_time)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn get_assessment(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Assessment>, Error> {
    let Some(row) = sqlx::query(
        "SELECT id, evaluator, evaluator_name, jurisdiction_code, department_id, period, score, \
         summary, create_time FROM assessments WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    Ok(Some(Assessment {
        id: row.try_get("id")?,
        evaluator: row.try_get("evaluator")?,
        evaluator_name: row.try_get("evaluator_name")?,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        department_id: row.try_get("department_id")?,
        period: row.try_get("period")?,
        score: row.try_get("score")?,
        summary: row.try_get("summary")?,
        create_time: row.try_get("create_time")?,
    }))
}

// ---- violations ----

const VIOLATION_COLUMNS: &str = "id, uscc, enterprise_name, jurisdiction_code, department_id, \
    severity, description, promptly_corrected, decision, decision_reason, prior_violation_count, \
    occur_time, recorded_by, create_time";

fn violation_of(row: &AnyRow) -> Result<Violation, Error> {
    Ok(Violation {
        id: row.try_get("id")?,
        uscc: row.try_get("uscc")?,
        enterprise_name: row.try_get("enterprise_name")?,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        department_id: row.try_get("department_id")?,
        severity: stored(
            "severity",
            &row.try_get::<String, _>("severity")?,
            Severity::parse,
        )?,
        description: row.try_get("description")?,
        promptly_corrected: row.try_get::<i64, _>("promptly_corrected")? != 0,
        decision: stored(
            "decision",
            &row.try_get::<String, _>("decision")?,
            PenaltyDecision::parse,
        )?,
        decision_reason: row.try_get("decision_reason")?,
        prior_violation_count: row.try_get("prior_violation_count")?,
        occur_time: row.try_get("occur_time")?,
        recorded_by: row.try_get("recorded_by")?,
        create_time: row.try_get("create_time")?,
    })
}

/// Violations of `uscc` recorded so far that happened from `from` to `until`.
pub async fn count_violations(
    conn: &mut AnyConnection,
    uscc: &str,
    from: i64,
    until: i64,
) -> Result<i64, Error> {
    Ok(sqlx::query(
        "SELECT COUNT(*) FROM violations WHERE uscc = $1 AND occur_time >= $2 AND occur_time <= $3",
    )
    .bind(uscc)
    .bind(from)
    .bind(until)
    .fetch_one(&mut *conn)
    .await?
    .try_get(0)?)
}

pub async fn insert_violation(conn: &mut AnyConnection, v: &Violation) -> Result<(), Error> {
    let sql = format!(
        "INSERT INTO violations ({VIOLATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&v.id)
        .bind(&v.uscc)
        .bind(&v.enterprise_name)
        .bind(&v.jurisdiction_code)
        .bind(&v.department_id)
        .bind(v.severity.as_str())
        .bind(&v.description)
        .bind(flag(v.promptly_corrected))
        .bind(v.decision.as_str())
        .bind(&v.decision_reason)
        .bind(v.prior_violation_count)
        .bind(v.occur_time)
        .bind(&v.recorded_by)
        .bind(v.create_time)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn get_violation(conn: &mut AnyConnection, id: &str) -> Result<Option<Violation>, Error> {
    let sql = format!("SELECT {VIOLATION_COLUMNS} FROM violations WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(violation_of)
        .transpose()
}

pub async fn violations_of(conn: &mut AnyConnection, uscc: &str) -> Result<Vec<Violation>, Error> {
    let sql = format!(
        "SELECT {VIOLATION_COLUMNS} FROM violations WHERE uscc = $1 ORDER BY occur_time DESC, id DESC"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(uscc)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(violation_of)
        .collect()
}

// ---- suspensions ----

const SUSPENSION_COLUMNS: &str = "id, uscc, enterprise_name, jurisdiction_code, department_id, \
    violation_id, reason, proposed_start, proposed_end, start_time, end_time, state, proposed_by, \
    propose_time, decided_by, decide_time, decision_note, version";

fn suspension_of(row: &AnyRow) -> Result<Suspension, Error> {
    Ok(Suspension {
        id: row.try_get("id")?,
        uscc: row.try_get("uscc")?,
        enterprise_name: row.try_get("enterprise_name")?,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        department_id: row.try_get("department_id")?,
        violation_id: row.try_get("violation_id")?,
        reason: row.try_get("reason")?,
        proposed_start: row.try_get("proposed_start")?,
        proposed_end: row.try_get("proposed_end")?,
        start_time: row.try_get("start_time")?,
        end_time: row.try_get("end_time")?,
        state: stored(
            "suspension state",
            &row.try_get::<String, _>("state")?,
            SuspensionState::parse,
        )?,
        proposed_by: row.try_get("proposed_by")?,
        propose_time: row.try_get("propose_time")?,
        decided_by: row.try_get("decided_by")?,
        decide_time: row.try_get("decide_time")?,
        decision_note: row.try_get("decision_note")?,
        version: row.try_get("version")?,
    })
}

pub async fn insert_suspension(conn: &mut AnyConnection, s: &Suspension) -> Result<(), Error> {
    let sql = format!(
        "INSERT INTO suspensions ({SUSPENSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
         $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&s.id)
        .bind(&s.uscc)
        .bind(&s.enterprise_name)
        .bind(&s.jurisdiction_code)
        .bind(&s.department_id)
        .bind(&s.violation_id)
        .bind(&s.reason)
        .bind(s.proposed_start)
        .bind(s.proposed_end)
        .bind(s.start_time)
        .bind(s.end_time)
        .bind(s.state.as_str())
        .bind(&s.proposed_by)
        .bind(s.propose_time)
        .bind(&s.decided_by)
        .bind(s.decide_time)
        .bind(&s.decision_note)
        .bind(s.version)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn update_suspension(
    conn: &mut AnyConnection,
    s: &Suspension,
    expected: i64,
) -> Result<(), Error> {
    let updated = sqlx::query(
        "UPDATE suspensions SET start_time = $1, end_time = $2, state = $3, decided_by = $4, \
         decide_time = $5, decision_note = $6, version = $7 WHERE id = $8 AND version = $9",
    )
    .bind(s.start_time)
    .bind(s.end_time)
    .bind(s.state.as_str())
    .bind(&s.decided_by)
    .bind(s.decide_time)
    .bind(&s.decision_note)
    .bind(s.version)
    .bind(&s.id)
    .bind(expected)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated != 1 {
        return Err(Error::Aborted(format!(
            "suspension {} changed meanwhile; read it again",
            s.id
        ))
        .zh("该停产停业提请已被他人修改，请刷新后重试"));
    }
    Ok(())
}

pub async fn get_suspension(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Suspension>, Error> {
    let sql = format!("SELECT {SUSPENSION_COLUMNS} FROM suspensions WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(suspension_of)
        .transpose()
}

pub async fn suspensions_of(
    conn: &mut AnyConnection,
    uscc: &str,
) -> Result<Vec<Suspension>, Error> {
    let sql = format!(
        "SELECT {SUSPENSION_COLUMNS} FROM suspensions WHERE uscc = $1 ORDER BY propose_time DESC, id DESC"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(uscc)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(suspension_of)
        .collect()
}

// ---- credit listings ----

const LISTING_COLUMNS: &str = "id, uscc, enterprise_name, list, reason, expire_time, \
    jurisdiction_code, listed_by, create_time, update_time, version";

fn listing_of(row: &AnyRow) -> Result<CreditListing, Error> {
    Ok(CreditListing {
        id: row.try_get("id")?,
        uscc: row.try_get("uscc")?,
        enterprise_name: row.try_get("enterprise_name")?,
        list: stored(
            "credit list",
            &row.try_get::<String, _>("list")?,
            CreditList::parse,
        )?,
        reason: row.try_get("reason")?,
        expire_time: row.try_get("expire_time")?,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        listed_by: row.try_get("listed_by")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
        version: row.try_get("version")?,
    })
}

pub async fn listing_on(
    conn: &mut AnyConnection,
    uscc: &str,
    list: CreditList,
) -> Result<Option<CreditListing>, Error> {
    let sql =
        format!("SELECT {LISTING_COLUMNS} FROM credit_listings WHERE uscc = $1 AND list = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(uscc)
        .bind(list.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(listing_of)
        .transpose()
}

pub async fn get_listing(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<CreditListing>, Error> {
    let sql = format!("SELECT {LISTING_COLUMNS} FROM credit_listings WHERE id = $1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(listing_of)
        .transpose()
}

/// Writes a listing: inserted when `expected` is `None`, else updated from that version.
pub async fn write_listing(
    conn: &mut AnyConnection,
    l: &CreditListing,
    expected: Option<i64>,
) -> Result<(), Error> {
    let changed = match expected {
        None => {
            let sql = format!(
                "INSERT INTO credit_listings ({LISTING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (uscc, list) DO NOTHING"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&l.id)
                .bind(&l.uscc)
                .bind(&l.enterprise_name)
                .bind(l.list.as_str())
                .bind(&l.reason)
                .bind(l.expire_time)
                .bind(&l.jurisdiction_code)
                .bind(&l.listed_by)
                .bind(l.create_time)
                .bind(l.update_time)
                .bind(l.version)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        }
        Some(expected) => sqlx::query(
            "UPDATE credit_listings SET reason = $1, expire_time = $2, jurisdiction_code = $3, \
             listed_by = $4, update_time = $5, version = $6, enterprise_name = $7 \
             WHERE id = $8 AND version = $9",
        )
        .bind(&l.reason)
        .bind(l.expire_time)
        .bind(&l.jurisdiction_code)
        .bind(&l.listed_by)
        .bind(l.update_time)
        .bind(l.version)
        .bind(&l.enterprise_name)
        .bind(&l.id)
        .bind(expected)
        .execute(&mut *conn)
        .await?
        .rows_affected(),
    };
    if changed != 1 {
        return Err(Error::Aborted(format!(
            "the {} listing of {} changed meanwhile; read it again",
            l.list, l.uscc
        ))
        .zh(format!(
            "该企业的{}记录已被他人修改，请刷新后重试",
            l.list.zh()
        )));
    }
    Ok(())
}

pub async fn listings_of(
    conn: &mut AnyConnection,
    uscc: &str,
) -> Result<Vec<CreditListing>, Error> {
    let sql = format!(
        "SELECT {LISTING_COLUMNS} FROM credit_listings WHERE uscc = $1 ORDER BY update_time DESC, id DESC"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(uscc)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(listing_of)
        .collect()
}
