//! Scoring's tables through sqlx (portable SQL, `$n` parameters): facts,
//! counters per unit and period, ranked scores, indicator models, alerts, the
//! cases and policies the overview needs, and idempotency keys.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use zhengqi_shared::Error;
use zhengqi_shared::ids::PageToken;
use zhengqi_shared::storage::{Backend, Filter, Keyset, SqlValue, stored};

use crate::domain::facts::{self, Fact, FactKind, Metrics, UnitKey};
use crate::domain::model::{Direction, Indicator, Model};
use crate::domain::period::{Period, PeriodSet};
use crate::domain::{Alert, AlertKind, Board, UnitKind};

/// Serialises every writer of scoring's tables on PostgreSQL (the three
/// consumers, model puts and rebuilds), so counters and rankings never
/// interleave; SQLite's `BEGIN IMMEDIATE` does the same.
pub async fn lock_scores(conn: &mut AnyConnection, backend: Backend) -> Result<(), Error> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(7403)")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Inserts a fact; false when it was recorded before.
pub async fn insert_fact(conn: &mut AnyConnection, fact: &Fact) -> Result<bool, Error> {
    let inserted = sqlx::query(
        "INSERT INTO sc_facts (id, kind, jurisdiction_code, department_id, subject_id, label, label2, \
         flag, amount, occur_time, p_year, p_quarter, p_month) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&fact.id)
    .bind(fact.kind.as_str())
    .bind(&fact.jurisdiction_code)
    .bind(&fact.department_id)
    .bind(&fact.subject_id)
    .bind(&fact.label)
    .bind(&fact.label2)
    .bind(i64::from(fact.flag))
    .bind(fact.amount)
    .bind(fact.occur_time)
    .bind(&fact.periods.year)
    .bind(&fact.periods.quarter)
    .bind(&fact.periods.month)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

fn fact_from_row(row: &AnyRow) -> Result<Fact, Error> {
    let kind: String = row.try_get("kind")?;
    Ok(Fact {
        id: row.try_get("id")?,
        kind: stored("fact kind", &kind, FactKind::parse)?,
        jurisdiction_code: row.try_get("jurisdiction_code")?,
        department_id: row.try_get("department_id")?,
        subject_id: row.try_get("subject_id")?,
        label: row.try_get("label")?,
        label2: row.try_get("label2")?,
        flag: row.try_get::<i64, _>("flag")? != 0,
        amount: row.try_get("amount")?,
        occur_time: row.try_get("occur_time")?,
        periods: PeriodSet {
            year: row.try_get("p_year")?,
            quarter: row.try_get("p_quarter")?,
            month: row.try_get("p_month")?,
        },
    })
}

/// The fact stored under `id`.
pub async fn get_fact(conn: &mut AnyConnection, id: &str) -> Result<Option<Fact>, Error> {
    sqlx::query(
        "SELECT id, kind, jurisdiction_code, department_id, subject_id, label, label2, flag, amount, \
         occur_time, p_year, p_quarter, p_month FROM sc_facts WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(fact_from_row)
    .transpose()
}

/// Removes the fact stored under `id`, to store the one that replaces it.
pub async fn delete_fact(conn: &mut AnyConnection, id: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM sc_facts WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The acceptance numbers of those of `ids` that are cases, by case id.
pub async fn case_numbers(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<BTreeMap<String, String>, Error> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut filter = Filter::new();
    filter.within("id", Some(ids));
    filter.and(|_| "number <> ''".to_owned());
    let rows = filter
        .query(format!(
            "SELECT id, number FROM sc_cases{}",
            filter.where_clause()
        ))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("number")?)))
        .collect()
}

/// The counters of every unit in `period`, summed from its facts from scratch:
/// the store groups the facts that count alike (kind, units, labels, flag)
/// and sums their amounts, and [`facts::add_alike`] turns each group into
/// counters — one pass over a year of facts, not a row each in memory.
pub async fn rebuilt_metrics(
    conn: &mut AnyConnection,
    period: Period,
) -> Result<BTreeMap<UnitKey, Metrics>, Error> {
    let column = match period {
        Period::Year(_) => "p_year",
        Period::Quarter(..) => "p_quarter",
        Period::Month(..) => "p_month",
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT kind, jurisdiction_code, department_id, label, label2, flag, \
         COUNT(*) AS facts, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS amount FROM sc_facts \
         WHERE {column} = $1 \
         GROUP BY kind, jurisdiction_code, department_id, label, label2, flag"
    )))
    .bind(period.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut units = BTreeMap::new();
    for row in &rows {
        let kind: String = row.try_get("kind")?;
        let alike = Fact {
            id: String::new(),
            kind: stored("fact kind", &kind, FactKind::parse)?,
            jurisdiction_code: row.try_get("jurisdiction_code")?,
            department_id: row.try_get("department_id")?,
            subject_id: String::new(),
            label: row.try_get("label")?,
            label2: row.try_get("label2")?,
            flag: row.try_get::<i64, _>("flag")? != 0,
            amount: 0,
            occur_time: 0,
            periods: PeriodSet::default(),
        };
        let count: i64 = row.try_get("facts")?;
        let amount: i64 = row.try_get("amount")?;
        facts::add_alike(&mut units, &alike, count, amount);
    }
    Ok(units)
}

/// A page of the facts of `kinds` that count for `unit` in `period`, newest
/// first, after the cursor `(occur_time, id)`; each with its case's
/// acceptance number when its subject is a case.
pub async fn facts_of_unit(
    conn: &mut AnyConnection,
    period: &str,
    unit: &UnitKey,
    kinds: &[FactKind],
    after: Option<PageToken>,
    limit: i64,
) -> Result<Vec<(Fact, String)>, Error> {
    if kinds.is_empty() {
        return Ok(Vec::new());
    }
    let mut filter = Filter::new();
    filter.and(|p| {
        let period = p(SqlValue::Text(period.to_owned()));
        format!("(f.p_year = {period} OR f.p_quarter = {period} OR f.p_month = {period})")
    });
    let owner = match unit.kind {
        UnitKind::Department => "f.department_id",
        UnitKind::Jurisdiction => "f.jurisdiction_code",
    };
    filter.eq(owner, SqlValue::Text(unit.id.clone()));
    filter.and(|p| {
        let kinds: Vec<String> = kinds
            .iter()
            .map(|k| p(SqlValue::Text(k.as_str().to_owned())))
            .collect();
        format!("f.kind IN ({})", kinds.join(", "))
    });
    Keyset {
        from: "sc_facts f LEFT JOIN sc_cases c ON c.id = f.subject_id",
        columns: "f.id, f.kind, f.jurisdiction_code, f.department_id, f.subject_id, f.label, \
                  f.label2, f.flag, f.amount, f.occur_time, f.p_year, f.p_quarter, f.p_month, \
                  COALESCE(c.number, '') AS case_number",
        sort: "f.occur_time",
        tie: "f.id",
        descending: true,
    }
    .page(conn, filter, after, limit, |row| {
        Ok((fact_from_row(row)?, row.try_get("case_number")?))
    })
    .await
}

/// Adds `delta` to one counter of a unit.
pub async fn add_metric(
    conn: &mut AnyConnection,
    period: &str,
    unit: &UnitKey,
    group: &str,
    metric: &str,
    delta: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO sc_aggregates (period, unit_kind, unit_id, metric, group_code, value) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (period, unit_kind, unit_id, metric) DO UPDATE SET value = sc_aggregates.value + excluded.value",
    )
    .bind(period)
    .bind(unit.kind.as_str())
    .bind(&unit.id)
    .bind(metric)
    .bind(group)
    .bind(delta)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn collect_metrics(rows: &[AnyRow]) -> Result<BTreeMap<UnitKey, Metrics>, Error> {
    let mut units: BTreeMap<UnitKey, Metrics> = BTreeMap::new();
    for row in rows {
        let kind: String = row.try_get("unit_kind")?;
        let unit = UnitKey {
            kind: stored("unit kind", &kind, UnitKind::parse)?,
            id: row.try_get("unit_id")?,
        };
        units
            .entry(unit)
            .or_default()
            .insert(row.try_get("metric")?, row.try_get("value")?);
    }
    Ok(units)
}

/// The counters of the units of one ranking.
pub async fn metrics_of_group(
    conn: &mut AnyConnection,
    period: &str,
    kind: UnitKind,
    group: &str,
) -> Result<BTreeMap<UnitKey, Metrics>, Error> {
    let rows = sqlx::query(
        "SELECT unit_kind, unit_id, metric, value FROM sc_aggregates \
         WHERE period = $1 AND unit_kind = $2 AND group_code = $3",
    )
    .bind(period)
    .bind(kind.as_str())
    .bind(group)
    .fetch_all(&mut *conn)
    .await?;
    collect_metrics(&rows)
}

/// The counters of one unit.
pub async fn metrics_of_unit(
    conn: &mut AnyConnection,
    period: &str,
    unit: &UnitKey,
) -> Result<Metrics, Error> {
    let rows = sqlx::query(
        "SELECT unit_kind, unit_id, metric, value FROM sc_aggregates \
         WHERE period = $1 AND unit_kind = $2 AND unit_id = $3",
    )
    .bind(period)
    .bind(unit.kind.as_str())
    .bind(&unit.id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(collect_metrics(&rows)?.remove(unit).unwrap_or_default())
}

/// The counters of every unit in `period`.
pub async fn metrics_of_period(
    conn: &mut AnyConnection,
    period: &str,
) -> Result<BTreeMap<UnitKey, Metrics>, Error> {
    let rows = sqlx::query(
        "SELECT unit_kind, unit_id, metric, value FROM sc_aggregates WHERE period = $1",
    )
    .bind(period)
    .fetch_all(&mut *conn)
    .await?;
    collect_metrics(&rows)
}

/// The jurisdiction counters of `period` summed over `jurisdictions`.
pub async fn summed_jurisdiction_metrics(
    conn: &mut AnyConnection,
    period: &str,
    jurisdictions: &[String],
) -> Result<Metrics, Error> {
    let mut filter = Filter::new();
    filter.eq("period", SqlValue::from(period));
    filter.eq("unit_kind", SqlValue::from(UnitKind::Jurisdiction.as_str()));
    filter.within("unit_id", Some(jurisdictions));
    let rows = filter
        .query(format!(
            "SELECT metric, CAST(SUM(value) AS BIGINT) AS total FROM sc_aggregates{} GROUP BY metric",
            filter.where_clause()
        ))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("metric")?, row.try_get::<i64, _>("total")?)))
        .collect()
}

/// Replaces every counter of `period` by `units` (with each unit's ranking).
pub async fn replace_period_metrics(
    conn: &mut AnyConnection,
    period: &str,
    units: &BTreeMap<UnitKey, Metrics>,
    group_of: impl Fn(&UnitKey) -> String,
) -> Result<(), Error> {
    sqlx::query("DELETE FROM sc_aggregates WHERE period = $1")
        .bind(period)
        .execute(&mut *conn)
        .await?;
    for (unit, metrics) in units {
        let group = group_of(unit);
        for (metric, value) in metrics {
            add_metric(conn, period, unit, &group, metric, *value).await?;
        }
    }
    Ok(())
}

/// The (unit kind, ranking) pairs that hold counters or scores in `period`.
pub async fn groups_of_period(
    conn: &mut AnyConnection,
    period: &str,
) -> Result<Vec<(UnitKind, String)>, Error> {
    let rows = sqlx::query(
        "SELECT unit_kind, group_code FROM sc_aggregates WHERE period = $1 \
         UNION SELECT unit_kind, group_code FROM sc_scores WHERE period = $1",
    )
    .bind(period)
    .fetch_all(&mut *conn)
    .await?;
    // UNION leaves each pair once.
    let mut groups = rows
        .iter()
        .map(|row| {
            let kind: String = row.try_get("unit_kind")?;
            Ok((
                stored("unit kind", &kind, UnitKind::parse)?,
                row.try_get("group_code")?,
            ))
        })
        .collect::<Result<Vec<(UnitKind, String)>, Error>>()?;
    groups.sort();
    Ok(groups)
}

/// A unit's stored place in its ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredScore {
    pub unit_kind: UnitKind,
    pub unit_id: String,
    pub group_code: String,
    pub total: f64,
    /// The unit's unique place in the list, from 1 (the ranked best first,
    /// then those not ranked).
    pub position: i32,
    /// Shared by equal totals; 0 when not ranked.
    pub rank: i32,
    /// The units ranked (not those only listed).
    pub ranked_units: i32,
    pub board: Board,
    pub black_streak: i32,
    pub not_ranked_reason: String,
    pub compute_time: i64,
}

fn score_from_row(row: &AnyRow) -> Result<StoredScore, Error> {
    let kind: String = row.try_get("unit_kind")?;
    let board: String = row.try_get("board")?;
    Ok(StoredScore {
        unit_kind: stored("unit kind", &kind, UnitKind::parse)?,
        unit_id: row.try_get("unit_id")?,
        group_code: row.try_get("group_code")?,
        total: row.try_get("total")?,
        position: i32::try_from(row.try_get::<i64, _>("rank_position")?).unwrap_or(i32::MAX),
        rank: i32::try_from(row.try_get::<i64, _>("shared_rank")?).unwrap_or(i32::MAX),
        ranked_units: i32::try_from(row.try_get::<i64, _>("ranked_units")?).unwrap_or(i32::MAX),
        board: stored("board", &board, Board::parse)?,
        black_streak: i32::try_from(row.try_get::<i64, _>("black_streak")?).unwrap_or(i32::MAX),
        not_ranked_reason: row.try_get("not_ranked_reason")?,
        compute_time: row.try_get("compute_time")?,
    })
}

const SCORE_COLUMNS: &str = "unit_kind, unit_id, group_code, total, rank_position, shared_rank, ranked_units, board, \
     black_streak, not_ranked_reason, compute_time";

/// The stored scores of one ranking, best first.
pub async fn scores_of_group(
    conn: &mut AnyConnection,
    period: &str,
    kind: UnitKind,
    group: &str,
) -> Result<Vec<StoredScore>, Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SCORE_COLUMNS} FROM sc_scores WHERE period = $1 AND unit_kind = $2 AND group_code = $3 \
         ORDER BY rank_position, unit_id"
    )))
    .bind(period)
    .bind(kind.as_str())
    .bind(group)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(score_from_row).collect()
}

/// A page of one ranking after position `after`.
pub async fn ranking_page(
    conn: &mut AnyConnection,
    period: &str,
    kind: UnitKind,
    group: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredScore>, Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SCORE_COLUMNS} FROM sc_scores WHERE period = $1 AND unit_kind = $2 AND group_code = $3 \
         AND rank_position > $4 ORDER BY rank_position, unit_id LIMIT $5"
    )))
    .bind(period)
    .bind(kind.as_str())
    .bind(group)
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(score_from_row).collect()
}

/// One unit's stored score.
pub async fn score_of(
    conn: &mut AnyConnection,
    period: &str,
    unit: &UnitKey,
) -> Result<Option<StoredScore>, Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SCORE_COLUMNS} FROM sc_scores WHERE period = $1 AND unit_kind = $2 AND unit_id = $3"
    )))
    .bind(period)
    .bind(unit.kind.as_str())
    .bind(&unit.id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(score_from_row).transpose()
}

/// How many units a ranking lists, and how many of them it ranks.
pub async fn units_in_ranking(
    conn: &mut AnyConnection,
    period: &str,
    kind: UnitKind,
    group: &str,
) -> Result<(i64, i64), Error> {
    let row = sqlx::query(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN shared_rank > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM sc_scores WHERE period = $1 AND unit_kind = $2 AND group_code = $3",
    )
    .bind(period)
    .bind(kind.as_str())
    .bind(group)
    .fetch_one(&mut *conn)
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Writes the changed scores of one ranking and removes the units that left it.
pub async fn write_group_scores(
    conn: &mut AnyConnection,
    period: &str,
    changed: &[StoredScore],
    removed: &[(UnitKind, String)],
) -> Result<(), Error> {
    for (kind, unit_id) in removed {
        sqlx::query("DELETE FROM sc_scores WHERE period = $1 AND unit_kind = $2 AND unit_id = $3")
            .bind(period)
            .bind(kind.as_str())
            .bind(unit_id)
            .execute(&mut *conn)
            .await?;
    }
    for score in changed {
        sqlx::query(
            "INSERT INTO sc_scores (period, unit_kind, unit_id, group_code, total, rank_position, \
             ranked_units, board, black_streak, compute_time, shared_rank, not_ranked_reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (period, unit_kind, unit_id) DO UPDATE SET group_code = excluded.group_code, \
             total = excluded.total, rank_position = excluded.rank_position, ranked_units = excluded.ranked_units, \
             board = excluded.board, black_streak = excluded.black_streak, compute_time = excluded.compute_time, \
             shared_rank = excluded.shared_rank, not_ranked_reason = excluded.not_ranked_reason",
        )
        .bind(period)
        .bind(score.unit_kind.as_str())
        .bind(&score.unit_id)
        .bind(&score.group_code)
        .bind(score.total)
        .bind(i64::from(score.position))
        .bind(i64::from(score.ranked_units))
        .bind(score.board.as_str())
        .bind(i64::from(score.black_streak))
        .bind(score.compute_time)
        .bind(i64::from(score.rank))
        .bind(&score.not_ranked_reason)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The model put for exactly `period`, if any.
pub async fn model_of(conn: &mut AnyConnection, period: &str) -> Result<Option<Model>, Error> {
    let Some(row) = sqlx::query(
        "SELECT red_board_size, black_board_size, interview_after_periods, min_cases_to_rank, \
         red_board_min_total, black_board_below_total, version, updated_by, update_time \
         FROM sc_models WHERE period = $1",
    )
    .bind(period)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let small = |column: &str| -> Result<i32, Error> {
        Ok(i32::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
    };
    let mut model = Model {
        period: period.to_owned(),
        indicators: Vec::new(),
        red_board_size: small("red_board_size")?,
        black_board_size: small("black_board_size")?,
        interview_after_periods: small("interview_after_periods")?,
        min_cases_to_rank: small("min_cases_to_rank")?,
        red_board_min_total: row.try_get("red_board_min_total")?,
        black_board_below_total: row.try_get("black_board_below_total")?,
        version: row.try_get("version")?,
        updated_by: row.try_get("updated_by")?,
        update_time: row.try_get("update_time")?,
    };
    let rows = sqlx::query(
        "SELECT indicator_key, name, weight, direction, target, description, unit_kinds \
         FROM sc_model_indicators WHERE period = $1 ORDER BY ordinal",
    )
    .bind(period)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let direction: String = row.try_get("direction")?;
        let kinds: String = row.try_get("unit_kinds")?;
        model.indicators.push(Indicator {
            key: row.try_get("indicator_key")?,
            name: row.try_get("name")?,
            weight: row.try_get("weight")?,
            direction: stored("direction", &direction, Direction::parse)?,
            target: row.try_get("target")?,
            description: row.try_get("description")?,
            unit_kinds: kinds
                .split(',')
                .filter(|k| !k.is_empty())
                .map(|k| stored("unit kind", k, UnitKind::parse))
                .collect::<Result<_, _>>()?,
        });
    }
    Ok(Some(model))
}

/// Writes a period's model, replacing the one before.
pub async fn write_model(conn: &mut AnyConnection, model: &Model) -> Result<(), Error> {
    sqlx::query("DELETE FROM sc_model_indicators WHERE period = $1")
        .bind(&model.period)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM sc_models WHERE period = $1")
        .bind(&model.period)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO sc_models (period, red_board_size, black_board_size, interview_after_periods, \
         version, updated_by, update_time, min_cases_to_rank, red_board_min_total, black_board_below_total) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&model.period)
    .bind(i64::from(model.red_board_size))
    .bind(i64::from(model.black_board_size))
    .bind(i64::from(model.interview_after_periods))
    .bind(model.version)
    .bind(&model.updated_by)
    .bind(model.update_time)
    .bind(i64::from(model.min_cases_to_rank))
    .bind(model.red_board_min_total)
    .bind(model.black_board_below_total)
    .execute(&mut *conn)
    .await?;
    for (ordinal, indicator) in model.indicators.iter().enumerate() {
        let kinds: Vec<&str> = indicator.unit_kinds.iter().map(|k| k.as_str()).collect();
        sqlx::query(
            "INSERT INTO sc_model_indicators (period, ordinal, indicator_key, name, weight, direction, \
             target, description, unit_kinds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&model.period)
        .bind(ordinal as i64)
        .bind(&indicator.key)
        .bind(&indicator.name)
        .bind(indicator.weight)
        .bind(indicator.direction.as_str())
        .bind(indicator.target)
        .bind(&indicator.description)
        .bind(kinds.join(","))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Inserts an alert; false when one with its key was raised before.
pub async fn insert_alert(conn: &mut AnyConnection, alert: &Alert) -> Result<bool, Error> {
    let periods = crate::domain::period::Period::parse(&alert.period)
        .map(PeriodSet::of)
        .unwrap_or_default();
    let inserted = sqlx::query(
        "INSERT INTO sc_alerts (id, dedup_key, kind, period, p_year, p_quarter, p_month, unit_kind, \
         unit_id, unit_name, jurisdiction_code, reason, fact_ids, create_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (dedup_key) DO NOTHING",
    )
    .bind(&alert.id)
    .bind(&alert.dedup_key)
    .bind(alert.kind.as_str())
    .bind(&alert.period)
    .bind(&periods.year)
    .bind(&periods.quarter)
    .bind(&periods.month)
    .bind(alert.unit_kind.as_str())
    .bind(&alert.unit_id)
    .bind(&alert.unit_name)
    .bind(&alert.jurisdiction_code)
    .bind(&alert.reason)
    .bind(alert.fact_ids.join(","))
    .bind(alert.create_time)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// What a list of alerts is narrowed to.
#[derive(Debug, Default, Clone)]
pub struct AlertFilter {
    /// Alerts of this period or of a period inside it.
    pub period: Option<String>,
    pub kind: Option<AlertKind>,
    /// `None`: every jurisdiction.
    pub jurisdictions: Option<Vec<String>>,
    pub unit_id: Option<String>,
    /// Keyset position: (create_time, id) of the last alert shown.
    pub after: Option<(i64, String)>,
}

/// A page of alerts, newest first.
pub async fn list_alerts(
    conn: &mut AnyConnection,
    filter: &AlertFilter,
    limit: i64,
) -> Result<Vec<Alert>, Error> {
    let mut sql = Filter::new();
    if let Some(period) = &filter.period {
        sql.and(|p| {
            let value = p(SqlValue::from(period.as_str()));
            format!("(p_year = {value} OR p_quarter = {value} OR p_month = {value})")
        });
    }
    if let Some(kind) = filter.kind {
        sql.eq("kind", SqlValue::from(kind.as_str()));
    }
    sql.within("jurisdiction_code", filter.jurisdictions.as_deref());
    if let Some(unit) = &filter.unit_id {
        sql.eq("unit_id", SqlValue::from(unit.as_str()));
    }
    let after = filter
        .after
        .clone()
        .map(|(sort_key, id)| PageToken { sort_key, id });
    let rows = Keyset {
        from: "sc_alerts",
        columns: "id, dedup_key, kind, period, unit_kind, unit_id, unit_name, jurisdiction_code, \
                  reason, fact_ids, create_time",
        sort: "create_time",
        tie: "id",
        descending: true,
    }
    .rows(conn, sql, after, limit)
    .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.try_get("kind")?;
            let unit_kind: String = row.try_get("unit_kind")?;
            let fact_ids: String = row.try_get("fact_ids")?;
            Ok(Alert {
                id: row.try_get("id")?,
                dedup_key: row.try_get("dedup_key")?,
                kind: stored("alert kind", &kind, AlertKind::parse)?,
                period: row.try_get("period")?,
                unit_kind: stored("unit kind", &unit_kind, UnitKind::parse)?,
                unit_id: row.try_get("unit_id")?,
                unit_name: row.try_get("unit_name")?,
                jurisdiction_code: row.try_get("jurisdiction_code")?,
                reason: row.try_get("reason")?,
                fact_ids: fact_ids
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect(),
                create_time: row.try_get("create_time")?,
            })
        })
        .collect()
}

/// A case as routing last told it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRow {
    pub id: String,
    pub jurisdiction_code: String,
    pub department_id: String,
    pub deadline: Option<i64>,
    pub create_time: i64,
    /// When it stopped being open (resolved, rejected or closed); `None` while open.
    pub end_time: Option<i64>,
    /// Its acceptance number.
    pub number: String,
}

pub async fn upsert_case(conn: &mut AnyConnection, case: &CaseRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO sc_cases (id, jurisdiction_code, department_id, deadline, create_time, end_time, number) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET \
         jurisdiction_code = excluded.jurisdiction_code, department_id = excluded.department_id, \
         deadline = excluded.deadline, end_time = excluded.end_time, number = excluded.number",
    )
    .bind(&case.id)
    .bind(&case.jurisdiction_code)
    .bind(&case.department_id)
    .bind(case.deadline)
    .bind(case.create_time)
    .bind(case.end_time)
    .bind(&case.number)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Cases of `jurisdictions` open and past their deadline at `at`.
pub async fn overdue_at(
    conn: &mut AnyConnection,
    jurisdictions: &[String],
    at: i64,
) -> Result<i64, Error> {
    let mut filter = Filter::new();
    filter.within("jurisdiction_code", Some(jurisdictions));
    filter.and(|p| {
        let a = p(SqlValue::Int(at));
        let b = p(SqlValue::Int(at));
        let c = p(SqlValue::Int(at));
        format!(
            "deadline IS NOT NULL AND deadline < {a} AND create_time <= {b} AND (end_time IS NULL OR end_time > {c})"
        )
    });
    Ok(filter
        .query(format!(
            "SELECT COUNT(*) FROM sc_cases{}",
            filter.where_clause()
        ))
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?)
}

pub async fn upsert_policy(
    conn: &mut AnyConnection,
    id: &str,
    jurisdiction_code: &str,
    department_id: &str,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO sc_policies (id, jurisdiction_code, department_id) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET jurisdiction_code = excluded.jurisdiction_code, \
         department_id = excluded.department_id",
    )
    .bind(id)
    .bind(jurisdiction_code)
    .bind(department_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A policy's jurisdiction and department, when policy told of it.
pub async fn policy_of(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<(String, String)>, Error> {
    let row = sqlx::query("SELECT jurisdiction_code, department_id FROM sc_policies WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .transpose()
}

/// The answer remembered for `(actor, request_id)`: its method and encoded response.
pub async fn remembered(
    conn: &mut AnyConnection,
    actor: &str,
    request_id: &str,
) -> Result<Option<(String, Vec<u8>)>, Error> {
    let row = sqlx::query(
        "SELECT method, response FROM sc_requests WHERE actor = $1 AND request_id = $2",
    )
    .bind(actor)
    .bind(request_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .transpose()
}

pub async fn remember(
    conn: &mut AnyConnection,
    actor: &str,
    request_id: &str,
    method: &str,
    response: &[u8],
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO sc_requests (actor, request_id, method, response, create_time) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(actor)
    .bind(request_id)
    .bind(method)
    .bind(response.to_vec())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
