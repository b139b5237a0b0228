//! Scoring's writes: facts recorded with their counters and alerts, rankings
//! brought up to date (boards, streaks, interviews), models put and periods
//! rebuilt. Every write runs inside the caller's transaction, together with
//! the events of scoring's own log it causes.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use sqlx::AnyConnection;
use zhengqi_proto::zhengqi::scoring::v1 as pb;
use zhengqi_shared::Error;
use zhengqi_shared::ids;

use crate::Core;
use crate::convert;
use crate::domain::facts::{Fact, Metrics, UnitKey};
use crate::domain::model::{self, Model};
use crate::domain::period::Period;
use crate::domain::ranking;
use crate::domain::{Alert, AlertKind, Board, UnitKind};
use crate::store::{self, StoredScore};

/// The rankings (period, unit kind, ranking) a change touched.
pub type Dirty = BTreeSet<(String, UnitKind, String)>;

/// The models of the periods one pass of ranking has met, each read once:
/// a pass ranks many rankings of the same few periods.
type Models = BTreeMap<Period, Model>;

/// The black-board streak of each unit of a ranking, by unit id.
type Streaks = BTreeMap<String, i32>;

/// A fact and the alerts it raises when it is new.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub fact: Fact,
    pub alerts: Vec<Alert>,
    /// Whether the fact takes the place of one stored under its id (a rating
    /// given again): the stored one's counts are taken back first.
    pub replaces: bool,
}

impl From<Fact> for Recorded {
    /// A fact that raises no alert of its own.
    fn from(fact: Fact) -> Self {
        Recorded {
            fact,
            alerts: Vec::new(),
            replaces: false,
        }
    }
}

/// What a rebuild found.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuild {
    pub period: String,
    pub scorecard_count: i32,
    pub mismatched_unit_ids: Vec<String>,
}

fn without_zeros(metrics: Option<&Metrics>) -> Metrics {
    metrics
        .map(|m| {
            m.iter()
                .filter(|(_, v)| **v != 0)
                .map(|(k, v)| (k.clone(), *v))
                .collect()
        })
        .unwrap_or_default()
}

/// The units whose counters differ between `a` and `b` (zero counters ignored).
pub fn mismatched(a: &BTreeMap<UnitKey, Metrics>, b: &BTreeMap<UnitKey, Metrics>) -> Vec<String> {
    let units: BTreeSet<&UnitKey> = a.keys().chain(b.keys()).collect();
    units
        .into_iter()
        .filter(|unit| without_zeros(a.get(unit)) != without_zeros(b.get(unit)))
        .map(|unit| unit.id.clone())
        .collect()
}

impl Core {
    /// The model `period` is scored with: its own, else the nearest enclosing
    /// period's, else the shipped default.
    pub async fn effective_model(
        &self,
        conn: &mut AnyConnection,
        period: Period,
    ) -> Result<Model, Error> {
        for p in period.with_enclosing() {
            if let Some(model) = store::model_of(conn, &p.to_string()).await? {
                return Ok(model);
            }
        }
        Ok(self.default_model.clone())
    }

    /// [`Core::effective_model`], read once per pass.
    async fn cached_model<'m>(
        &self,
        conn: &mut AnyConnection,
        models: &'m mut Models,
        period: Period,
    ) -> Result<&'m Model, Error> {
        Ok(match models.entry(period) {
            Entry::Occupied(read) => read.into_mut(),
            Entry::Vacant(unread) => unread.insert(self.effective_model(conn, period).await?),
        })
    }

    /// Records the facts that are new and adds to their units' counters; the
    /// rankings they touch are added to `dirty`, for [`Core::rerank_dirty`].
    /// The caller holds [`store::lock_scores`] (it took it before writing the
    /// event's side tables).
    pub async fn record_facts(
        &self,
        conn: &mut AnyConnection,
        recorded: Vec<Recorded>,
        dirty: &mut Dirty,
    ) -> Result<(), Error> {
        let units = self.units();
        for Recorded {
            mut fact,
            alerts,
            replaces,
        } in recorded
        {
            // A department the directory does not know is no unit: what the
            // fact says counts for its jurisdiction alone, never for a
            // phantom department.
            if !fact.department_id.is_empty()
                && units
                    .jurisdiction_of(UnitKind::Department, &fact.department_id)
                    .is_none()
            {
                tracing::warn!(
                    fact = %fact.id,
                    department = %fact.department_id,
                    "a fact names a department not in the directory; counted for its jurisdiction only"
                );
                fact.department_id.clear();
            }
            if replaces && let Some(stored) = store::get_fact(conn, &fact.id).await? {
                if stored == fact {
                    continue;
                }
                self.count(conn, &stored, -1, dirty).await?;
                store::delete_fact(conn, &fact.id).await?;
            }
            if !store::insert_fact(conn, &fact).await? {
                continue;
            }
            self.count(conn, &fact, 1, dirty).await?;
            for alert in alerts {
                self.raise(conn, &alert).await?;
            }
        }
        Ok(())
    }

    /// Adds (`sign` 1) or takes back (−1) what `fact` counts, for each of its
    /// units and periods.
    async fn count(
        &self,
        conn: &mut AnyConnection,
        fact: &Fact,
        sign: i64,
        dirty: &mut Dirty,
    ) -> Result<(), Error> {
        let units = self.units();
        let metrics = fact.metrics();
        for unit in fact.units() {
            let group = units.group_of(unit.kind, &unit.id);
            for period in fact.periods.iter() {
                for (metric, delta) in &metrics {
                    store::add_metric(conn, period, &unit, &group, metric, sign * delta).await?;
                }
                dirty.insert((period.to_owned(), unit.kind, group.clone()));
            }
        }
        Ok(())
    }

    /// Ranks the `dirty` rankings again, each once.
    pub async fn rerank_dirty(&self, conn: &mut AnyConnection, dirty: Dirty) -> Result<(), Error> {
        if dirty.is_empty() {
            return Ok(());
        }
        store::lock_scores(conn, self.store.backend()).await?;
        let mut models = Models::new();
        for (period, kind, group) in dirty {
            self.rerank_onwards(conn, &mut models, &period, kind, &group)
                .await?;
        }
        Ok(())
    }

    /// Stores an alert once and appends `AlertRaised`.
    pub async fn raise(&self, conn: &mut AnyConnection, alert: &Alert) -> Result<(), Error> {
        if store::insert_alert(conn, alert).await? {
            self.events
                .append(
                    conn,
                    &alert.id,
                    &alert.jurisdiction_code,
                    &pb::AlertRaised {
                        alert: Some(convert::alert_to_proto(alert)),
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// Ranks one ranking of a period again, then the same ranking of the
    /// following periods that were ranked already: their black-board streaks
    /// count this one's.
    async fn rerank_onwards(
        &self,
        conn: &mut AnyConnection,
        models: &mut Models,
        period_text: &str,
        kind: UnitKind,
        group: &str,
    ) -> Result<(), Error> {
        // Every stored period is a canonical `Period` text.
        let Ok(period) = Period::parse(period_text) else {
            return Ok(());
        };
        let previous = match period.previous() {
            Some(previous) => {
                streaks(store::scores_of_group(conn, &previous.to_string(), kind, group).await?)
            }
            None => Streaks::new(),
        };
        // Each period's streaks are the next one's previous streaks.
        let mut streaks = self
            .rerank(conn, models, period, kind, group, &previous)
            .await?;
        let mut next = period.next();
        while let Some(period) = next {
            if store::units_in_ranking(conn, &period.to_string(), kind, group)
                .await?
                .0
                == 0
            {
                break;
            }
            streaks = self
                .rerank(conn, models, period, kind, group, &streaks)
                .await?;
            next = period.next();
        }
        Ok(())
    }

    /// Ranks one ranking of a period again from its counters: totals by the
    /// period's model, boards, black-board streaks; board changes are events,
    /// and a streak long enough calls the leader in (约谈). `previous` are the
    /// streaks of the period before; the new streaks are returned.
    async fn rerank(
        &self,
        conn: &mut AnyConnection,
        models: &mut Models,
        period: Period,
        kind: UnitKind,
        group: &str,
        previous: &Streaks,
    ) -> Result<Streaks, Error> {
        let period_text = &period.to_string();
        let now = self.clock.now();
        let model = self.cached_model(conn, models, period).await?;
        let metrics = store::metrics_of_group(conn, period_text, kind, group).await?;
        let candidates: Vec<ranking::Candidate> = metrics
            .iter()
            .map(|(unit, m)| ranking::Candidate::of(unit.id.clone(), &model::score(model, kind, m)))
            .collect();
        let ranked = ranking::rank(model, candidates, |id| {
            previous.get(id).copied().unwrap_or(0)
        });
        let old: BTreeMap<String, StoredScore> =
            store::scores_of_group(conn, period_text, kind, group)
                .await?
                .into_iter()
                .map(|s| (s.unit_id.clone(), s))
                .collect();
        let count = i32::try_from(ranked.iter().filter(|r| r.rank > 0).count()).unwrap_or(i32::MAX);
        // Only what changed is written; an unchanged score keeps its compute time.
        let changed: Vec<StoredScore> = ranked
            .iter()
            .map(|r| StoredScore {
                unit_kind: kind,
                unit_id: r.unit_id.clone(),
                group_code: group.to_owned(),
                total: r.total,
                position: r.position,
                rank: r.rank,
                ranked_units: count,
                board: r.board,
                black_streak: r.black_board_streak,
                not_ranked_reason: r.not_ranked_reason.clone(),
                compute_time: now,
            })
            .filter(|score| {
                old.get(&score.unit_id).is_none_or(|before| {
                    *before
                        != StoredScore {
                            compute_time: before.compute_time,
                            ..score.clone()
                        }
                })
            })
            .collect();
        let removed: Vec<(UnitKind, String)> = old
            .keys()
            .filter(|id| !ranked.iter().any(|r| &r.unit_id == *id))
            .map(|id| (kind, id.clone()))
            .collect();
        store::write_group_scores(conn, period_text, &changed, &removed).await?;
        let units = self.units();
        for r in &ranked {
            let jurisdiction = units
                .jurisdiction_of(kind, &r.unit_id)
                .unwrap_or_else(|| group.to_owned());
            let before = old.get(&r.unit_id).map_or(Board::None, |s| s.board);
            if before != r.board {
                self.events
                    .append(
                        conn,
                        &r.unit_id,
                        &jurisdiction,
                        &pb::BoardChanged {
                            period: period_text.to_owned(),
                            unit_id: r.unit_id.clone(),
                            unit_kind: convert::unit_kind_to_proto(kind),
                            jurisdiction_code: jurisdiction.clone(),
                            from_board: convert::board_to_proto(before),
                            to_board: convert::board_to_proto(r.board),
                        },
                    )
                    .await?;
            }
            if ranking::calls_for_interview(model, r) {
                let alert = Alert {
                    id: ids::new_id(&jurisdiction),
                    dedup_key: format!("interview:{period_text}:{}:{}", kind.as_str(), r.unit_id),
                    kind: AlertKind::LeaderInterview,
                    period: period_text.to_owned(),
                    unit_kind: kind,
                    unit_id: r.unit_id.clone(),
                    unit_name: units.name_of(kind, &r.unit_id),
                    jurisdiction_code: jurisdiction.clone(),
                    reason: format!(
                        "截至 {period_text} 连续 {0} 期列入黑榜（第 {1} 名，共 {count} 个单位），约谈主要负责人（on the black board for {0} consecutive periods up to {period_text}, rank {1} of {count}: the principal leader is called in）",
                        r.black_board_streak, r.rank
                    ),
                    fact_ids: black_board_entries(period, r.black_board_streak, &r.unit_id),
                    create_time: now,
                };
                self.raise(conn, &alert).await?;
            }
        }
        Ok(ranked
            .into_iter()
            .map(|r| (r.unit_id, r.black_board_streak))
            .collect())
    }

    /// Ranks every ranking of `period` and of the periods inside it again (after
    /// a model change).
    pub async fn rerank_period_and_inside(
        &self,
        conn: &mut AnyConnection,
        period: Period,
    ) -> Result<(), Error> {
        let mut periods = vec![period];
        periods.extend(period.contained());
        // Earlier periods first, so black-board streaks carry forward.
        periods.sort_by_key(|p| (p.start_micros(), std::cmp::Reverse(p.end_micros())));
        let mut models = Models::new();
        for p in periods {
            let text = p.to_string();
            for (kind, group) in store::groups_of_period(conn, &text).await? {
                self.rerank_onwards(conn, &mut models, &text, kind, &group)
                    .await?;
            }
        }
        Ok(())
    }

    /// Rebuilds `period`'s counters from the facts alone, keeps the rebuilt
    /// ones, ranks the period again and tells which units differed from the
    /// incremental counters.
    pub async fn rebuild(
        &self,
        conn: &mut AnyConnection,
        period: Period,
    ) -> Result<Rebuild, Error> {
        store::lock_scores(conn, self.store.backend()).await?;
        let text = period.to_string();
        let rebuilt = store::rebuilt_metrics(conn, period).await?;
        let incremental = store::metrics_of_period(conn, &text).await?;
        let mismatched_unit_ids = mismatched(&rebuilt, &incremental);
        let units = self.units();
        store::replace_period_metrics(conn, &text, &rebuilt, |unit| {
            units.group_of(unit.kind, &unit.id)
        })
        .await?;
        let mut models = Models::new();
        for (kind, group) in store::groups_of_period(conn, &text).await? {
            self.rerank_onwards(conn, &mut models, &text, kind, &group)
                .await?;
        }
        Ok(Rebuild {
            period: text,
            scorecard_count: i32::try_from(rebuilt.len()).unwrap_or(i32::MAX),
            mismatched_unit_ids,
        })
    }
}

/// The black-board entries an interview rests on: `<period>/<unit id>` of
/// the `streak` periods of the same length ending with `period`, oldest first.
fn black_board_entries(period: Period, streak: i32, unit_id: &str) -> Vec<String> {
    let mut periods = vec![period];
    while periods.len() < usize::try_from(streak).unwrap_or(0) {
        match periods.last().and_then(|p| p.previous()) {
            Some(previous) => periods.push(previous),
            None => break,
        }
    }
    periods
        .iter()
        .rev()
        .map(|p| format!("{p}/{unit_id}"))
        .collect()
}

/// The black-board streaks of stored scores.
fn streaks(scores: Vec<StoredScore>) -> Streaks {
    scores
        .into_iter()
        .map(|s| (s.unit_id, s.black_streak))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_counters_do_not_make_a_mismatch() {
        let unit = UnitKey {
            kind: UnitKind::Department,
            id: "510821-jrj".into(),
        };
        let a = BTreeMap::from([(
            unit.clone(),
            Metrics::from([("due".to_owned(), 1), ("on_time".to_owned(), 0)]),
        )]);
        let b = BTreeMap::from([(unit.clone(), Metrics::from([("due".to_owned(), 1)]))]);
        assert!(mismatched(&a, &b).is_empty());
        let c = BTreeMap::from([(unit, Metrics::from([("due".to_owned(), 2)]))]);
        assert_eq!(mismatched(&a, &c), ["510821-jrj"]);
    }
}
