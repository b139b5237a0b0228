//! `zhengqi-bench --scoring`: a city's year of scoring on SQLite — `Recompute`
//! of the year and the latency of ranking pages at that size.
//!
//! The benchmark loads the data itself into a fresh scoring store: a year
//! (2026) of `--cases` cases and `--reviews` reviews spread over the
//! directory's jurisdictions and departments, as the facts routing's and
//! evaluation's events become (each case opened, falling due on time or not,
//! resolved, some gone overdue, inviting a review; each review given and its
//! invitation answered). The facts are generated inside SQLite in one
//! statement per kind, which is how a year is loaded in minutes rather than
//! hours; the counters come from the first `Recompute`, as after restoring a
//! store from its facts. A day's live traffic is then recorded incrementally,
//! as the event consumers do, and the second `Recompute` must find the
//! incremental counters equal to the rebuilt ones. Ranking pages are read
//! through the scoring API's own code (scope, model, trend), in process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use zhengqi_proto::zhengqi::scoring::v1 as pb;
use zhengqi_scoring::Core;
use zhengqi_scoring::domain::facts::{Fact, FactKind};
use zhengqi_scoring::domain::period::{Period, PeriodSet};
use zhengqi_scoring::engine::{Dirty, Recorded};
use zhengqi_shared::Error;
use zhengqi_shared::auth::{Principal, Role};
use zhengqi_shared::clock::Clock;
use zhengqi_shared::events::EventLog;
use zhengqi_shared::reference::Reference;
use zhengqi_shared::storage::Store;

/// The targets: a year's `Recompute` and a ranking page's p99.
const TARGET_RECOMPUTE: Duration = Duration::from_secs(10);
const TARGET_RANKING_P99_MICROS: u64 = 50_000;

/// Ranking pages read per ranking measured.
const RANKING_READS: usize = 1_000;
/// Facts of the live day recorded incrementally between the two recomputes.
const LIVE_FACTS: u64 = 5_000;

pub async fn run(cases: u64, reviews: u64) -> Result<(), Error> {
    if cases == 0 {
        return Err(Error::invalid("cases", "--cases must be at least 1"));
    }
    let reviews = reviews.min(cases);
    let folder = tempfile::tempdir().map_err(Error::internal)?;
    let store = Store::open_sqlite(&folder.path().join("scoring.db")).await?;
    store.migrate(&zhengqi_scoring::MIGRATIONS).await?;
    let events = EventLog::new(store.clone());
    let reference = Reference::embedded();
    let core = Arc::new(Core::new(
        store.clone(),
        events,
        &reference,
        Arc::new(Clock::default()),
    )?);
    let departments: Vec<String> = reference
        .departments
        .iter()
        .map(|d| d.key.clone())
        .collect();
    let counties: Vec<String> = reference
        .directory
        .descendants(reference.city())
        .into_iter()
        .map(|code| code.as_str().to_owned())
        .filter(|code| code != reference.city().as_str())
        .collect();
    println!(
        "scoring at city-year scale: {cases} cases and {reviews} reviews of 2026, over {} jurisdictions × {} departments, SQLite",
        counties.len(),
        departments.len()
    );

    let started = Instant::now();
    let facts = load_year(&store, cases, reviews, &counties, &departments).await?;
    println!(
        "  loaded {facts} facts in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The counters of every period, from the facts alone, as after restoring
    // a store: the year, its quarters and its months.
    let year = Period::Year(2026);
    let started = Instant::now();
    let mut periods = vec![year];
    periods.extend(year.contained());
    for period in periods {
        recompute(&core, period).await?;
    }
    println!(
        "  counters of 2026, its quarters and months rebuilt from the facts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    record_live_day(&core, &counties, &departments).await?;
    println!(
        "  recorded a live day of {LIVE_FACTS} facts incrementally in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let (took, scorecards, mismatched) = recompute(&core, year).await?;
    println!(
        "  Recompute 2026: {:.2} s ({scorecards} scorecards; {} units differed from the incremental figures)  target < {:.0} s: {}",
        took.as_secs_f64(),
        mismatched,
        TARGET_RECOMPUTE.as_secs_f64(),
        verdict(took <= TARGET_RECOMPUTE && mismatched == 0)
    );
    if mismatched != 0 {
        return Err(Error::internal(format!(
            "{mismatched} units' incremental counters differ from the rebuilt ones"
        )));
    }

    let coordinator = Principal {
        sub: "coordinator@city".into(),
        roles: vec![Role::Coordinator],
        jurisdiction: Some(reference.city().as_str().to_owned()),
        department: None,
        uscc: None,
        name: None,
        expires_at: i64::MAX,
    };
    let api = zhengqi_scoring::api::ScoringApi::new(Arc::clone(&core));
    for (period, kind, code, what) in [
        (
            "2026",
            pb::UnitKind::Department,
            counties[0].as_str(),
            "departments of a county, year",
        ),
        (
            "2026-11",
            pb::UnitKind::Department,
            counties[0].as_str(),
            "departments of a county, month (with a six-month trend)",
        ),
        (
            "2026",
            pb::UnitKind::Jurisdiction,
            reference.city().as_str(),
            "the city's jurisdictions, year",
        ),
    ] {
        let mut latencies =
            Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(Error::internal)?;
        for _ in 0..RANKING_READS {
            let started = Instant::now();
            let page = api
                .rankings(
                    &coordinator,
                    pb::ListRankingsRequest {
                        period: period.into(),
                        unit_kind: kind as i32,
                        jurisdiction_code: code.into(),
                        page_size: 50,
                        page_token: String::new(),
                    },
                )
                .await?;
            latencies
                .record(
                    u64::try_from(started.elapsed().as_micros())
                        .unwrap_or(u64::MAX)
                        .max(1),
                )
                .map_err(Error::internal)?;
            if page.rankings.is_empty() {
                return Err(Error::internal(format!("the ranking of {what} is empty")));
            }
        }
        let p99 = latencies.value_at_quantile(0.99);
        println!(
            "  ranking page ({what}): p50 {:.2} ms, p99 {:.2} ms over {RANKING_READS} reads  target p99 < {} ms: {}",
            latencies.value_at_quantile(0.5) as f64 / 1000.0,
            p99 as f64 / 1000.0,
            TARGET_RANKING_P99_MICROS / 1000,
            verdict(p99 <= TARGET_RANKING_P99_MICROS)
        );
    }
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// Rebuilds `period` as `Recompute` does: (time, scorecards, units that differed).
async fn recompute(core: &Core, period: Period) -> Result<(Duration, i32, usize), Error> {
    let started = Instant::now();
    let mut tx = core.store.begin_write().await?;
    let rebuilt = core.rebuild(&mut tx, period).await?;
    tx.commit().await?;
    Ok((
        started.elapsed(),
        rebuilt.scorecard_count,
        rebuilt.mismatched_unit_ids.len(),
    ))
}

/// Generates the year's facts in the store; returns how many.
///
/// Case `i` belongs to jurisdiction `i mod J` and department `i mod D` of it,
/// opens in month `1 + i mod 12`, and is resolved; one in ten goes overdue
/// (not on time), one in seven is not solved. Review `i` rates case `i`: one
/// in twelve is bad.
async fn load_year(
    store: &Store,
    cases: u64,
    reviews: u64,
    counties: &[String],
    departments: &[String],
) -> Result<u64, Error> {
    let pool = store.pool();
    let mut conn = pool.acquire().await?;
    // The lookup tables the generator joins, jurisdictions and departments by
    // number (tables of the store: every connection of the pool sees them).
    sqlx::query("CREATE TABLE bench_j (n INTEGER PRIMARY KEY, code TEXT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    sqlx::query("CREATE TABLE bench_d (n INTEGER PRIMARY KEY, key TEXT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    for (n, code) in counties.iter().enumerate() {
        sqlx::query("INSERT INTO bench_j (n, code) VALUES ($1, $2)")
            .bind(n as i64)
            .bind(code)
            .execute(&mut *conn)
            .await?;
    }
    for (n, key) in departments.iter().enumerate() {
        sqlx::query("INSERT INTO bench_d (n, key) VALUES ($1, $2)")
            .bind(n as i64)
            .bind(key)
            .execute(&mut *conn)
            .await?;
    }
    let (j, d) = (counties.len(), departments.len());
    // One row per case (or review), with its unit and periods; each fact kind
    // is one INSERT … SELECT over it.
    let base = format!(
        "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < $1), \
         rows AS (SELECT i, bench_j.code AS jc, bench_j.code || '-' || bench_d.key AS dep, \
           1 + i % 12 AS m, \
           1767196800000000 + (i % 12) * 2629746000000 + (i % 2419200) * 1000000 AS t \
           FROM seq JOIN bench_j ON bench_j.n = i % {j} JOIN bench_d ON bench_d.n = (i / {j}) % {d}) \
         INSERT INTO sc_facts (id, kind, jurisdiction_code, department_id, subject_id, label, label2, \
           flag, amount, occur_time, p_year, p_quarter, p_month) \
         SELECT "
    );
    let periods = "'2026', '2026-Q' || ((m - 1) / 3 + 1), printf('2026-%02d', m)";
    let kinds: [(u64, String); 7] = [
        (
            cases,
            format!(
                "'opened:' || i, 'CASE_OPENED', jc, dep, 'c' || i, \
                 CASE i % 3 WHEN 0 THEN 'HOTLINE_12345' WHEN 1 THEN 'ONLINE_PORTAL' ELSE 'SUPERVISOR' END, \
                 CASE i % 4 WHEN 0 THEN 'FINANCING' WHEN 1 THEN 'APPROVAL' WHEN 2 THEN 'LAND' ELSE 'OTHER' END, \
                 0, 0, t, {periods} FROM rows"
            ),
        ),
        (
            cases,
            format!(
                "'due:' || i, 'CASE_DUE', jc, dep, 'c' || i, '', '', i % 10 <> 0, 0, t, {periods} FROM rows"
            ),
        ),
        (
            cases,
            format!(
                "'resolved:' || i, 'CASE_RESOLVED', jc, dep, 'c' || i, '', '', i % 7 <> 0, 0, t, {periods} FROM rows"
            ),
        ),
        (
            cases,
            format!(
                "'overdue:' || i, 'CASE_OVERDUE', jc, dep, 'c' || i, '', '', 0, 0, t, {periods} FROM rows WHERE i % 10 = 0"
            ),
        ),
        (
            cases,
            format!(
                "'invited:' || i, 'REVIEW_INVITED', jc, dep, 'c' || i, '', '', 0, 0, t, {periods} FROM rows"
            ),
        ),
        (
            reviews,
            format!(
                "'review:' || i, 'REVIEW_SUBMITTED', jc, dep, 'r' || i, \
                 CASE WHEN i % 12 = 0 THEN 'DISSATISFIED' WHEN i % 3 = 0 THEN 'BASIC_SATISFIED' ELSE 'SATISFIED' END, \
                 '', 0, 0, t, {periods} FROM rows"
            ),
        ),
        (
            reviews,
            format!(
                "'rated:' || i, 'INVITATION_RATED', jc, dep, 'r' || i, '', '', 0, 0, t, {periods} FROM rows"
            ),
        ),
    ];
    let mut total = 0;
    for (count, select) in kinds {
        let mut tx = pool.begin().await?;
        total += sqlx::query(sqlx::AssertSqlSafe(format!("{base}{select}")))
            .bind(count as i64)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
    }
    sqlx::query("DROP TABLE bench_j").execute(pool).await?;
    sqlx::query("DROP TABLE bench_d").execute(pool).await?;
    Ok(total)
}

/// A day of live facts (2026-12-01), recorded as the event consumers record
/// them: counters added in the transaction, rankings touched ranked again.
async fn record_live_day(
    core: &Core,
    counties: &[String],
    departments: &[String],
) -> Result<(), Error> {
    // 2026-12-01 10:00 China time.
    const DAY: i64 = 1_796_090_400_000_000;
    let periods =
        PeriodSet::at(DAY).ok_or_else(|| Error::internal("the live day has no period"))?;
    for chunk in 0..LIVE_FACTS / 1_000 {
        let mut tx = core.store.begin_write().await?;
        zhengqi_scoring::store::lock_scores(&mut tx, core.store.backend()).await?;
        let mut dirty = Dirty::new();
        let recorded: Vec<Recorded> = (chunk * 1_000..(chunk + 1) * 1_000)
            .map(|i| {
                let county = &counties[i as usize % counties.len()];
                let department = &departments[(i as usize / counties.len()) % departments.len()];
                Recorded::from(Fact {
                    id: format!("live-due:{i}"),
                    kind: FactKind::CaseDue,
                    jurisdiction_code: county.clone(),
                    department_id: format!("{county}-{department}"),
                    subject_id: format!("live-{i}"),
                    label: String::new(),
                    label2: String::new(),
                    flag: i % 5 != 0,
                    amount: 0,
                    occur_time: DAY,
                    periods: periods.clone(),
                })
            })
            .collect();
        core.record_facts(&mut tx, recorded, &mut dirty).await?;
        core.rerank_dirty(&mut tx, dirty).await?;
        tx.commit().await?;
    }
    Ok(())
}
