//! Routing's tables: cases, the appeals linked to them, the hash-chained
//! ledger, routing rules, idempotency keys. Every change of a case is written
//! with its ledger entry and its event in one transaction.

use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use zhengqi_shared::Error;
use zhengqi_shared::events::EventLog;
use zhengqi_shared::ids::PageToken;
use zhengqi_shared::personal;
use zhengqi_shared::reference::Calendar;
use zhengqi_shared::storage::is_unique_violation;
use zhengqi_shared::storage::{Filter, Keyset, RequestKeys, SqlValue, Statement, Store, stored};

use crate::convert;
use crate::domain::ledger::{self, Entry};
use crate::domain::machine::{self, Transition};
use crate::domain::meeting::{AgendaItem, Decision, Meeting};
use crate::domain::rules::Rule;
use crate::domain::{
    AppealKind, Butler, ButlerKind, Case, CaseAction, CaseState, Category, Channel, EnterpriseTag,
    Extension, ExtensionState, Level, LoadedYear, MeetingType, Outcome, Supervision,
};

/// Routing's idempotency keys.
const REQUESTS: RequestKeys = RequestKeys::new("case_requests");

const CASE_COLUMNS: &str = "id, number, appeal_id, uscc, enterprise_name, jurisdiction_code, level, \
     department_id, state, category, kind, channel, title, description, enterprise_tags, contact_name, \
     contact_phone, time_limit_days, start_time, deadline, supervision, outcome, resolution, meeting_id, \
     meeting_type, reject_reason, returns_count, return_reason, reopen_count, escalation_reason, ext_state, \
     ext_working_days, ext_reason, ext_requested_by, ext_request_time, ext_decided_by, ext_decide_time, \
     ext_decision_note, info_question, info_answer, pause_time, paused_state, butler, claimed_by, \
     resolve_time, close_time, duplicate_appeal_ids, routing_rule_id, version, create_time, update_time, \
     deadline_provisional, deadline_base, deadline_working_days, personal_data_erase_time";
const CASE_COLUMN_COUNT: usize = 55;

const ENTRY_COLUMNS: &str = "jurisdiction_code, sequence, case_id, action, from_state, to_state, actor, \
     actor_role, create_time, note, level, department_id, previous_hash, entry_hash";

const RULE_COLUMNS: &str = "id, jurisdiction_code, category, channel, enterprise_tag, kind, level, \
     department_id, time_limit_days, priority, description, disabled, meeting_type, version, update_time, \
     updated_by";

/// The states in which a case is on the deadline clock.
pub const OPEN_STATES: [CaseState; 5] = [
    CaseState::Pending,
    CaseState::Accepted,
    CaseState::Assigned,
    CaseState::InProgress,
    CaseState::AwaitingEnterprise,
];

/// Filters of `ListCases`, already checked against the caller's scope.
#[derive(Debug, Default, Clone)]
pub struct CaseFilter {
    /// Only these jurisdictions; `None` for all.
    pub jurisdictions: Option<Vec<String>>,
    pub uscc: Option<String>,
    pub state: Option<CaseState>,
    pub level: Option<Level>,
    pub department_id: Option<String>,
    /// Open cases whose deadline is before this time.
    pub overdue_at: Option<i64>,
    pub meeting_id: Option<String>,
    pub supervision: Option<Supervision>,
    pub category: Option<Category>,
    pub appeal_id: Option<String>,
    /// Only the cases of the enterprises this official is the butler of.
    pub butler: Option<String>,
    /// Only cases opened in [start, end).
    pub created_from: Option<i64>,
    pub created_before: Option<i64>,
}

/// Filters of `ListMeetings`.
#[derive(Debug, Default, Clone)]
pub struct MeetingFilter {
    pub jurisdictions: Option<Vec<String>>,
    pub meeting_type: Option<MeetingType>,
    pub start_from: Option<i64>,
    pub start_before: Option<i64>,
}

/// What a check of a ledger's hash chain found.
#[derive(Debug, Clone)]
pub struct Verification {
    pub checked: u64,
    /// The hash of the last entry that checked out.
    pub head_hash: String,
    /// The first entry that does not fit, and why.
    pub broken: Option<(Entry, String)>,
    /// Entries missing after the last one stored.
    pub missing_tail: Option<String>,
}

/// Who acted, as the ledger records it.
#[derive(Debug, Clone)]
pub struct Actor {
    pub sub: String,
}

/// What one committed change produced, so the caller can wake watchers.
#[derive(Clone)]
pub struct RoutingStore {
    store: Store,
    events: Arc<EventLog>,
}

impl RoutingStore {
    pub fn new(store: Store, events: Arc<EventLog>) -> Self {
        Self { store, events }
    }

    pub fn events(&self) -> &Arc<EventLog> {
        &self.events
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Writes the seeded rules that are not there yet; a rule an operator
    /// changed keeps its change.
    pub async fn seed_rules(&self, rules: &[Rule], now: i64) -> Result<(), Error> {
        let mut tx = self.store.begin_write().await?;
        for rule in rules {
            let mut rule = rule.clone();
            rule.update_time = now;
            insert_rule(&mut tx, &rule, true).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every enabled rule (a small table; read per new case so edits apply at once).
    pub async fn enabled_rules(conn: &mut AnyConnection) -> Result<Vec<Rule>, Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM routing_rules WHERE disabled = 0 ORDER BY id"
        )))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(rule_from_row).collect()
    }

    pub async fn list_rules(
        &self,
        jurisdictions: &[String],
        category: Option<Category>,
        show_disabled: bool,
        limit: i64,
        after: Option<&PageToken>,
    ) -> Result<Vec<Rule>, Error> {
        let mut query = Filter::new();
        query.any_of(
            "jurisdiction_code",
            jurisdictions.iter().cloned().map(SqlValue::Text),
        );
        if let Some(category) = category {
            query.eq("category", SqlValue::Text(category.as_str().into()));
        }
        if !show_disabled {
            query.eq("disabled", SqlValue::Int(0));
        }
        if let Some(token) = after {
            query.and(|bind| format!("id > {}", bind(SqlValue::Text(token.id.clone()))));
        }
        let limit_param = query.param(SqlValue::Int(limit));
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM routing_rules{} ORDER BY id LIMIT {limit_param}",
            query.where_clause()
        );
        let rows = query.query(sql).fetch_all(self.store.pool()).await?;
        rows.iter().map(rule_from_row).collect()
    }

    pub async fn get_rule(&self, id: &str) -> Result<Option<Rule>, Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM routing_rules WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.store.pool())
        .await?;
        row.as_ref().map(rule_from_row).transpose()
    }

    /// Creates a rule (`existing` none) or replaces one whose version is `expected`.
    pub async fn put_rule(&self, rule: &Rule, expected: Option<i64>) -> Result<Rule, Error> {
        let mut tx = self.store.begin_write().await?;
        match expected {
            None => insert_rule(&mut tx, rule, false)
                .await
                .map_err(|e| match e {
                    Error::Database(db) if is_unique_violation(&db) => {
                        Error::on_unique_violation(db, format!("routing rule {} exists", rule.id))
                            .zh(format!("分办规则 {} 已存在", rule.id))
                    }
                    other => other,
                })?,
            Some(version) => {
                let updated = sqlx::query(
                    "UPDATE routing_rules SET jurisdiction_code = $1, category = $2, channel = $3, \
                     enterprise_tag = $4, kind = $5, level = $6, department_id = $7, time_limit_days = $8, \
                     priority = $9, description = $10, disabled = $11, meeting_type = $12, version = $13, \
                     update_time = $14, updated_by = $15 WHERE id = $16 AND version = $17",
                )
                .bind(&rule.jurisdiction_code)
                .bind(rule.category.map(|c| c.as_str()))
                .bind(rule.channel.map(|c| c.as_str()))
                .bind(rule.enterprise_tag.map(|t| t.as_str()))
                .bind(rule.kind.map(|k| k.as_str()))
                .bind(rule.level.as_str())
                .bind(&rule.department_id)
                .bind(i64::from(rule.time_limit_days))
                .bind(i64::from(rule.priority))
                .bind(&rule.description)
                .bind(i64::from(rule.disabled))
                .bind(rule.meeting_type.map(|m| m.as_str()))
                .bind(rule.version)
                .bind(rule.update_time)
                .bind(&rule.updated_by)
                .bind(&rule.id)
                .bind(version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated != 1 {
                    return Err(Error::Aborted(format!(
                        "routing rule {} changed since it was read; read it again",
                        rule.id
                    ))
                    .zh("该分办规则已被他人修改，请刷新后重试"));
                }
            }
        }
        self.events
            .append_and_commit(
                tx,
                &rule.id,
                &rule.jurisdiction_code,
                &convert::rule_changed(rule),
            )
            .await?;
        Ok(rule.clone())
    }

    pub async fn get_case(&self, id: &str) -> Result<Option<Case>, Error> {
        let mut conn = self.store.pool().acquire().await?;
        select_case(&mut conn, id).await
    }

    /// A page of `limit` cases (and one more, when there are more), newest
    /// first, after `after`.
    pub async fn list_cases(
        &self,
        filter: &CaseFilter,
        limit: i64,
        after: Option<&PageToken>,
    ) -> Result<Vec<Case>, Error> {
        let mut conn = self.store.pool().acquire().await?;
        Keyset {
            from: "cases",
            columns: CASE_COLUMNS,
            sort: "create_time",
            tie: "id",
            descending: true,
        }
        .page(
            &mut conn,
            case_filter(filter),
            after.cloned(),
            limit,
            case_from_row,
        )
        .await
    }

    /// Every entry of one case's ledger, oldest first.
    pub async fn history(&self, case: &Case) -> Result<Vec<Entry>, Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE case_id = $1 AND jurisdiction_code = $2 \
             ORDER BY sequence"
        )))
        .bind(&case.id)
        .bind(&case.jurisdiction_code)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Up to `limit` entries of a jurisdiction's ledger after `after`, in order.
    pub async fn ledger_page(
        conn: &mut AnyConnection,
        jurisdiction: &str,
        after: u64,
        limit: i64,
    ) -> Result<Vec<Entry>, Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger_entries WHERE jurisdiction_code = $1 AND sequence > $2 \
             ORDER BY sequence LIMIT $3"
        )))
        .bind(jurisdiction)
        .bind(after as i64)
        .bind(limit)
        .fetch_all(conn)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// The head of a jurisdiction's ledger: its last sequence and hash.
    pub async fn ledger_head(
        conn: &mut AnyConnection,
        jurisdiction: &str,
    ) -> Result<Option<(u64, String)>, Error> {
        let row = sqlx::query(
            "SELECT last_sequence, head_hash FROM ledger_heads WHERE jurisdiction_code = $1",
        )
        .bind(jurisdiction)
        .fetch_optional(conn)
        .await?;
        row.map(|row| -> Result<(u64, String), Error> {
            Ok((row.try_get::<i64, _>(0)? as u64, row.try_get(1)?))
        })
        .transpose()
    }

    /// Recomputes a jurisdiction's hash chain page by page, in one snapshot
    /// of the store: entries appended meanwhile are the next check's, and
    /// the head read at the end is the one those entries had.
    pub async fn verify_ledger(&self, jurisdiction: &str) -> Result<Verification, Error> {
        const PAGE: i64 = 1_000;
        let mut snapshot = self.store.begin_snapshot().await?;
        let mut verifier = ledger::Verifier::default();
        loop {
            let page = Self::ledger_page(&mut snapshot, jurisdiction, verifier.head_sequence, PAGE)
                .await?;
            if let Err(broken) = verifier.check(&page) {
                return Ok(Verification {
                    checked: verifier.checked + 1,
                    head_hash: verifier.head_hash,
                    broken: Some((page[broken.index].clone(), broken.problem)),
                    missing_tail: None,
                });
            }
            if (page.len() as i64) < PAGE {
                break;
            }
        }
        // Entries removed from the end leave the head ahead of the last entry.
        let missing_tail = match Self::ledger_head(&mut snapshot, jurisdiction).await? {
            Some((last, hash)) if last != verifier.head_sequence || hash != verifier.head_hash => {
                Some(format!(
                    "台账末条应为第 {last} 条，现存条目止于第 {0} 条：末尾条目被删除或另有添加（the ledger's head is entry {last}, but the entries end at {0}: entries were removed or added）",
                    verifier.head_sequence
                ))
            }
            None if verifier.checked > 0 => Some(format!(
                "台账有 {0} 条但缺少末条记录：末条记录被删除（the ledger has {0} entries but no head: its head was removed）",
                verifier.checked
            )),
            _ => None,
        };
        snapshot.rollback().await?;
        Ok(Verification {
            checked: verifier.checked,
            head_hash: verifier.head_hash,
            broken: None,
            missing_tail,
        })
    }

    /// Every case the filter selects, oldest first; refuses more than `max`.
    pub async fn all_cases(&self, filter: &CaseFilter, max: usize) -> Result<Vec<Case>, Error> {
        let mut cases = Vec::new();
        let mut after: Option<PageToken> = None;
        loop {
            let mut page = self.list_cases(filter, 500, after.as_ref()).await?;
            let done = page.len() <= 500;
            page.truncate(500);
            after = page.last().map(|c| PageToken {
                sort_key: c.create_time,
                id: c.id.clone(),
            });
            cases.extend(page);
            if cases.len() > max {
                return Err(Error::ResourceExhausted(format!(
                    "more than {max} cases match; narrow the export by time, state or department"
                ))
                .zh(format!(
                    "符合条件的案件超过{max}件，请按时间、状态或部门缩小导出范围"
                )));
            }
            if done {
                break;
            }
        }
        cases.reverse();
        Ok(cases)
    }

    /// Open cases whose deadline clock runs (not paused, with a deadline).
    pub async fn clock_running_cases(&self) -> Result<Vec<Case>, Error> {
        let mut query = Filter::new();
        query.any_of(
            "state",
            [
                CaseState::Pending,
                CaseState::Accepted,
                CaseState::Assigned,
                CaseState::InProgress,
            ]
            .iter()
            .map(|s| SqlValue::Text(s.as_str().into())),
        );
        query.and(|_| "deadline IS NOT NULL".to_owned());
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases{} ORDER BY deadline, id",
            query.where_clause()
        );
        let rows = query.query(sql).fetch_all(self.store.pool()).await?;
        rows.iter().map(case_from_row).collect()
    }

    /// Erases the contact of every case closed (or not accepted) before
    /// `cutoff` whose contact is still kept, from the case and from the
    /// events about it; how many cases. The ledger holds no contact, so every
    /// entry still verifies.
    pub async fn erase_personal_data(&self, cutoff: i64, now: i64) -> Result<u64, Error> {
        let due = Statement {
            sql: "SELECT id FROM cases WHERE personal_data_erase_time IS NULL \
                  AND close_time IS NOT NULL AND close_time < $1 AND state IN ($2, $3) \
                  ORDER BY close_time LIMIT 200"
                .to_owned(),
            params: vec![
                SqlValue::Int(cutoff),
                SqlValue::Text(CaseState::Closed.as_str().to_owned()),
                SqlValue::Text(CaseState::Rejected.as_str().to_owned()),
            ],
        };
        personal::erase_due(
            &self.store,
            &due,
            "UPDATE cases SET contact_name = '', contact_phone = '', \
             personal_data_erase_time = $1, update_time = $1, version = version + 1 WHERE id = $2",
            now,
        )
        .await
    }

    /// Writes what the deadline clock did to `case` (already changed from the
    /// stored version `case.version`): its ledger entries and events.
    pub async fn record_system(
        &self,
        case: &Case,
        transitions: &[Transition],
        now: i64,
    ) -> Result<(), Error> {
        let mut case = case.clone();
        let expected = case.version;
        case.version += 1;
        case.update_time = now;
        let mut tx = self.store.begin_write().await?;
        write_case(&mut tx, &case, Some(expected)).await?;
        let mut last = 0;
        for transition in transitions {
            last = record(&mut tx, &self.events, &case, transition, "system", now).await?;
            if let Some(from) = transition.supervised_from {
                last = self
                    .events
                    .append(
                        &mut tx,
                        &case.id,
                        &case.jurisdiction_code,
                        &convert::supervision_changed(&case, from),
                    )
                    .await?;
            }
            if let Some(from) = transition.escalated_from {
                last = self
                    .events
                    .append(
                        &mut tx,
                        &case.id,
                        &case.jurisdiction_code,
                        &convert::case_escalated(&case, from, "system"),
                    )
                    .await?;
            }
        }
        self.events.commit(tx, last).await?;
        Ok(())
    }

    /// Schedules a meeting; the same `(organizer, request_id)` returns the
    /// meeting scheduled first.
    pub async fn schedule_meeting(
        &self,
        meeting: &Meeting,
        request_id: &str,
    ) -> Result<Meeting, Error> {
        let mut tx = self.store.begin_write().await?;
        if let Some(subject) = REQUESTS
            .recall(
                &mut tx,
                &meeting.organizer,
                request_id,
                "ScheduleMeeting",
                None,
            )
            .await?
        {
            return select_meeting(&mut tx, &subject)
                .await?
                .ok_or_else(|| Error::NotFound(format!("meeting {subject}")).zh("未找到该会商会"));
        }
        sqlx::query(
            "INSERT INTO meetings (id, meeting_type, jurisdiction_code, start_time, chair, title, location, \
             organizer, version, create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&meeting.id)
        .bind(meeting.meeting_type.as_str())
        .bind(&meeting.jurisdiction_code)
        .bind(meeting.start_time)
        .bind(&meeting.chair)
        .bind(&meeting.title)
        .bind(&meeting.location)
        .bind(&meeting.organizer)
        .bind(meeting.version)
        .bind(meeting.create_time)
        .bind(meeting.update_time)
        .execute(&mut *tx)
        .await?;
        REQUESTS
            .remember(
                &mut tx,
                &meeting.organizer,
                request_id,
                "ScheduleMeeting",
                &meeting.id,
                meeting.create_time,
            )
            .await?;
        self.events
            .append_and_commit(
                tx,
                &meeting.id,
                &meeting.jurisdiction_code,
                &convert::meeting_scheduled(meeting),
            )
            .await?;
        Ok(meeting.clone())
    }

    pub async fn get_meeting(&self, id: &str) -> Result<Option<Meeting>, Error> {
        let mut conn = self.store.pool().acquire().await?;
        select_meeting(&mut conn, id).await
    }

    /// A page of `limit` meetings (and one more, when there are more), soonest
    /// start first, after `after`.
    pub async fn list_meetings(
        &self,
        filter: &MeetingFilter,
        limit: i64,
        after: Option<&PageToken>,
    ) -> Result<Vec<Meeting>, Error> {
        let mut query = Filter::new();
        query.within("jurisdiction_code", filter.jurisdictions.as_deref());
        if let Some(meeting_type) = filter.meeting_type {
            query.eq("meeting_type", SqlValue::Text(meeting_type.as_str().into()));
        }
        if let Some(from) = filter.start_from {
            query.and(|bind| format!("start_time >= {}", bind(SqlValue::Int(from))));
        }
        if let Some(before) = filter.start_before {
            query.and(|bind| format!("start_time < {}", bind(SqlValue::Int(before))));
        }
        let mut conn = self.store.pool().acquire().await?;
        let rows = Keyset {
            from: "meetings",
            columns: "id",
            sort: "start_time",
            tie: "id",
            descending: false,
        }
        .rows(&mut conn, query, after.cloned(), limit)
        .await?;
        let mut meetings = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get(0)?;
            if let Some(meeting) = select_meeting(&mut conn, &id).await? {
                meetings.push(meeting);
            }
        }
        Ok(meetings)
    }

    /// Changes a meeting and one case of it together (agenda, decision): the
    /// meeting's etag and the case's version are checked, the case's ledger
    /// entry and both events written in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn mutate_meeting(
        &self,
        meeting_id: &str,
        case_id: &str,
        actor: &Actor,
        method: &str,
        request_id: &str,
        now: i64,
        decide: impl FnOnce(&mut Meeting, &mut Case) -> Result<Transition, Error>,
    ) -> Result<Meeting, Error> {
        let mut tx = self.store.begin_write().await?;
        if REQUESTS
            .recall(&mut tx, &actor.sub, request_id, method, Some(meeting_id))
            .await?
            .is_some()
        {
            return select_meeting(&mut tx, meeting_id).await?.ok_or_else(|| {
                Error::NotFound(format!("meeting {meeting_id}")).zh("未找到该会商会")
            });
        }
        let mut meeting = select_meeting(&mut tx, meeting_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("meeting {meeting_id}")).zh("未找到该会商会"))?;
        let mut case = select_case(&mut tx, case_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("case {case_id}")).zh("未找到该案件"))?;
        let meeting_version = meeting.version;
        let case_version = case.version;
        let transition = decide(&mut meeting, &mut case)?;
        meeting.version += 1;
        meeting.update_time = now;
        case.version += 1;
        case.update_time = now;
        let updated = sqlx::query(
            "UPDATE meetings SET version = $1, update_time = $2 WHERE id = $3 AND version = $4",
        )
        .bind(meeting.version)
        .bind(now)
        .bind(&meeting.id)
        .bind(meeting_version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Err(Error::Aborted(format!(
                "meeting {meeting_id} changed meanwhile; read it again"
            ))
            .zh(format!("“{}”已被他人修改，请刷新后重试", meeting.title)));
        }
        write_agenda(&mut tx, &meeting).await?;
        write_case(&mut tx, &case, Some(case_version)).await?;
        record(&mut tx, &self.events, &case, &transition, &actor.sub, now).await?;
        let event_sequence = match transition.action {
            CaseAction::RecordDecision => {
                let decision = meeting
                    .agenda
                    .iter()
                    .find(|i| i.case_id == case.id)
                    .and_then(|i| i.decision.as_ref())
                    .ok_or_else(|| Error::internal("a decision was recorded without one"))?;
                self.events
                    .append(
                        &mut tx,
                        &meeting.id,
                        &meeting.jurisdiction_code,
                        &convert::decision_recorded(&meeting, &case.id, decision),
                    )
                    .await?
            }
            _ => {
                self.events
                    .append(
                        &mut tx,
                        &meeting.id,
                        &meeting.jurisdiction_code,
                        &convert::added_to_agenda(&meeting, &case.id),
                    )
                    .await?
            }
        };
        REQUESTS
            .remember(&mut tx, &actor.sub, request_id, method, meeting_id, now)
            .await?;
        self.events.commit(tx, event_sequence).await?;
        Ok(meeting)
    }

    pub async fn get_butler(&self, uscc: &str) -> Result<Option<Butler>, Error> {
        let mut conn = self.store.pool().acquire().await?;
        select_butler(&mut conn, uscc).await
    }

    /// The newest case of an enterprise, if it has any.
    pub async fn latest_case_of(&self, uscc: &str) -> Result<Option<Case>, Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE uscc = $1 ORDER BY create_time DESC, id DESC LIMIT 1"
        )))
        .bind(uscc)
        .fetch_optional(self.store.pool())
        .await?;
        row.as_ref().map(case_from_row).transpose()
    }

    /// The jurisdiction an enterprise is registered in, as intake's log said.
    pub async fn enterprise_jurisdiction(&self, uscc: &str) -> Result<Option<String>, Error> {
        let row = sqlx::query("SELECT jurisdiction_code FROM enterprises WHERE uscc = $1")
            .bind(uscc)
            .fetch_optional(self.store.pool())
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Names (or replaces) an enterprise's butler; `expected` is the version
    /// of the assignment replaced. The enterprise's unfinished cases carry the
    /// new butler from now on.
    pub async fn assign_butler(
        &self,
        butler: &Butler,
        expected: Option<i64>,
        previous_official: &str,
        actor: &Actor,
        request_id: &str,
    ) -> Result<Butler, Error> {
        let mut tx = self.store.begin_write().await?;
        if REQUESTS
            .recall(
                &mut tx,
                &actor.sub,
                request_id,
                "AssignButler",
                Some(&butler.uscc),
            )
            .await?
            .is_some()
        {
            return select_butler(&mut tx, &butler.uscc).await?.ok_or_else(|| {
                Error::NotFound(format!("butler of {}", butler.uscc))
                    .zh(format!("未找到企业 {} 的管家", butler.uscc))
            });
        }
        let written = match expected {
            None => sqlx::query(
                "INSERT INTO butlers (uscc, enterprise_name, jurisdiction_code, official, official_name, \
                 official_phone, kind, version, create_time, update_time) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (uscc) DO NOTHING",
            )
            .bind(&butler.uscc)
            .bind(&butler.enterprise_name)
            .bind(&butler.jurisdiction_code)
            .bind(&butler.official)
            .bind(&butler.official_name)
            .bind(&butler.official_phone)
            .bind(butler.kind.as_str())
            .bind(butler.version)
            .bind(butler.create_time)
            .bind(butler.update_time)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            Some(version) => sqlx::query(
                "UPDATE butlers SET enterprise_name = $1, jurisdiction_code = $2, official = $3, \
                 official_name = $4, official_phone = $5, kind = $6, version = $7, update_time = $8 \
                 WHERE uscc = $9 AND version = $10",
            )
            .bind(&butler.enterprise_name)
            .bind(&butler.jurisdiction_code)
            .bind(&butler.official)
            .bind(&butler.official_name)
            .bind(&butler.official_phone)
            .bind(butler.kind.as_str())
            .bind(butler.version)
            .bind(butler.update_time)
            .bind(&butler.uscc)
            .bind(version)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        };
        if written != 1 {
            return Err(Error::Aborted(format!(
                "the butler of {} changed meanwhile; read it again",
                butler.uscc
            ))
            .zh(format!(
                "企业 {} 的管家已被他人修改，请刷新后重试",
                butler.uscc
            )));
        }
        sqlx::query(
            "UPDATE cases SET butler = $1, version = version + 1, update_time = $2 \
             WHERE uscc = $3 AND state <> 'REJECTED' AND state <> 'CLOSED' AND butler <> $4",
        )
        .bind(&butler.official)
        .bind(butler.update_time)
        .bind(&butler.uscc)
        .bind(&butler.official)
        .execute(&mut *tx)
        .await?;
        REQUESTS
            .remember(
                &mut tx,
                &actor.sub,
                request_id,
                "AssignButler",
                &butler.uscc,
                butler.update_time,
            )
            .await?;
        self.events
            .append_and_commit(
                tx,
                &butler.uscc,
                &butler.jurisdiction_code,
                &convert::butler_assigned(butler, previous_official),
            )
            .await?;
        Ok(butler.clone())
    }

    /// A page of butler assignments in credit-code order.
    pub async fn list_butlers(
        &self,
        jurisdictions: Option<&[String]>,
        official: Option<&str>,
        uscc: Option<&str>,
        limit: i64,
        after: Option<&PageToken>,
    ) -> Result<Vec<Butler>, Error> {
        let mut query = Filter::new();
        query.within("jurisdiction_code", jurisdictions);
        if let Some(official) = official {
            query.eq("official", SqlValue::Text(official.to_owned()));
        }
        if let Some(uscc) = uscc {
            query.eq("uscc", SqlValue::Text(uscc.to_owned()));
        }
        if let Some(token) = after {
            query.and(|bind| format!("uscc > {}", bind(SqlValue::Text(token.id.clone()))));
        }
        let limit_param = query.param(SqlValue::Int(limit));
        let sql = format!(
            "SELECT {BUTLER_COLUMNS} FROM butlers{} ORDER BY uscc LIMIT {limit_param}",
            query.where_clause()
        );
        let rows = query.query(sql).fetch_all(self.store.pool()).await?;
        rows.iter().map(butler_from_row).collect()
    }

    /// Changes one case: `decide` checks and applies the action to the stored
    /// case (scope, role, etag and state are its business); the change, its
    /// ledger entry and its events commit together. A retry with the same
    /// `(actor, request_id)` changes nothing again and returns the case.
    pub async fn mutate(
        &self,
        id: &str,
        actor: &Actor,
        method: &str,
        request_id: &str,
        now: i64,
        decide: impl FnOnce(&mut Case) -> Result<Transition, Error>,
    ) -> Result<Case, Error> {
        let result = self
            .try_mutate(id, actor, method, request_id, now, decide)
            .await;
        match result {
            // A concurrent retry with the same key committed first.
            Err(Error::Database(error))
                if is_unique_violation(&error) && !request_id.is_empty() =>
            {
                self.get_case(id)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("case {id}")).zh("未找到该案件"))
            }
            other => other,
        }
    }

    async fn try_mutate(
        &self,
        id: &str,
        actor: &Actor,
        method: &str,
        request_id: &str,
        now: i64,
        decide: impl FnOnce(&mut Case) -> Result<Transition, Error>,
    ) -> Result<Case, Error> {
        let mut tx = self.store.begin_write().await?;
        if REQUESTS
            .recall(&mut tx, &actor.sub, request_id, method, Some(id))
            .await?
            .is_some()
        {
            let case = select_case(&mut tx, id).await?;
            return case.ok_or_else(|| Error::NotFound(format!("case {id}")).zh("未找到该案件"));
        }
        let mut case = select_case(&mut tx, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("case {id}")).zh("未找到该案件"))?;
        let expected = case.version;
        let transition = decide(&mut case)?;
        case.version = expected + 1;
        case.update_time = now;
        write_case(&mut tx, &case, Some(expected)).await?;
        let mut last = record(&mut tx, &self.events, &case, &transition, &actor.sub, now).await?;
        if let Some(from) = transition.escalated_from {
            last = self
                .events
                .append(
                    &mut tx,
                    &case.id,
                    &case.jurisdiction_code,
                    &convert::case_escalated(&case, from, &actor.sub),
                )
                .await?;
        }
        REQUESTS
            .remember(&mut tx, &actor.sub, request_id, method, id, now)
            .await?;
        self.events.commit(tx, last).await?;
        Ok(case)
    }
}

impl RoutingStore {
    /// The years operators loaded, oldest first.
    pub async fn calendar_years(&self) -> Result<Vec<LoadedYear>, Error> {
        let rows = sqlx::query(
            "SELECT year, source, content, loaded_by, load_time FROM calendar_years ORDER BY year",
        )
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LoadedYear {
                    year: row.try_get::<i64, _>(0)? as i32,
                    source: row.try_get(1)?,
                    content: row.try_get(2)?,
                    loaded_by: row.try_get(3)?,
                    load_time: row.try_get(4)?,
                })
            })
            .collect()
    }

    /// Stores a loaded year with its `CalendarYearLoaded` event (about the
    /// city, `jurisdiction_code`) and counts the provisional deadlines again on
    /// `calendar` (the calendar with the year), each change a ledger entry, all
    /// in one transaction. A retry with the same `(actor, request_id)` changes
    /// nothing again. Returns how many deadlines changed.
    pub async fn put_calendar_year(
        &self,
        year: &LoadedYear,
        calendar: &Calendar,
        jurisdiction_code: &str,
        request_id: &str,
    ) -> Result<usize, Error> {
        const METHOD: &str = "PutCalendarYear";
        let mut tx = self.store.begin_write().await?;
        let subject = year.year.to_string();
        if REQUESTS
            .recall(&mut tx, &year.loaded_by, request_id, METHOD, Some(&subject))
            .await?
            .is_some()
        {
            return Ok(0);
        }
        sqlx::query(
            "INSERT INTO calendar_years (year, source, content, loaded_by, load_time) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (year) DO UPDATE SET source = $6, \
             content = $7, loaded_by = $8, load_time = $9",
        )
        .bind(i64::from(year.year))
        .bind(&year.source)
        .bind(&year.content)
        .bind(&year.loaded_by)
        .bind(year.load_time)
        .bind(&year.source)
        .bind(&year.content)
        .bind(&year.loaded_by)
        .bind(year.load_time)
        .execute(&mut *tx)
        .await?;
        let mut last = self
            .events
            .append(
                &mut tx,
                &subject,
                jurisdiction_code,
                &convert::calendar_year_loaded(year),
            )
            .await?;
        let (changed, recorded) = recount_in(
            &mut tx,
            &self.events,
            calendar,
            Some(year.year),
            year.load_time,
        )
        .await?;
        last = recorded.unwrap_or(last);
        REQUESTS
            .remember(
                &mut tx,
                &year.loaded_by,
                request_id,
                METHOD,
                &subject,
                year.load_time,
            )
            .await?;
        self.events.commit(tx, last).await?;
        Ok(changed)
    }

    /// Counts every provisional or missing deadline of an unfinished case again
    /// on `calendar`, into which `year` was loaded (`None` at start), each
    /// change a ledger entry and an event. Returns how many changed.
    pub async fn recount_deadlines(
        &self,
        calendar: &Calendar,
        year: Option<i32>,
        now: i64,
    ) -> Result<usize, Error> {
        let mut tx = self.store.begin_write().await?;
        let (changed, last) = recount_in(&mut tx, &self.events, calendar, year, now).await?;
        match last {
            Some(last) => self.events.commit(tx, last).await?,
            None => tx.commit().await?,
        }
        Ok(changed)
    }
}

/// [`RoutingStore::recount_deadlines`] inside the caller's transaction;
/// returns how many changed and the sequence of the last event appended.
async fn recount_in(
    conn: &mut AnyConnection,
    events: &EventLog,
    calendar: &Calendar,
    year: Option<i32>,
    now: i64,
) -> Result<(usize, Option<u64>), Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE (deadline_provisional = 1 OR deadline IS NULL) \
         AND state <> 'REJECTED' AND state <> 'CLOSED' ORDER BY create_time, id"
    )))
    .fetch_all(&mut *conn)
    .await?;
    let mut changed = 0;
    let mut last = None;
    for row in &rows {
        let mut case = case_from_row(row)?;
        let expected = case.version;
        let Some(transition) = machine::recount_deadline(&mut case, calendar, year) else {
            continue;
        };
        case.version += 1;
        case.update_time = now;
        write_case(conn, &case, Some(expected)).await?;
        last = Some(record(conn, events, &case, &transition, "system", now).await?);
        changed += 1;
    }
    Ok((changed, last))
}

const BUTLER_COLUMNS: &str = "uscc, enterprise_name, jurisdiction_code, official, official_name, \
     official_phone, kind, version, create_time, update_time";

async fn select_butler(conn: &mut AnyConnection, uscc: &str) -> Result<Option<Butler>, Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BUTLER_COLUMNS} FROM butlers WHERE uscc = $1"
    )))
    .bind(uscc)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(butler_from_row).transpose()
}

fn butler_from_row(row: &AnyRow) -> Result<Butler, Error> {
    let text = |name: &str| -> Result<String, Error> { Ok(row.try_get::<String, _>(name)?) };
    Ok(Butler {
        uscc: text("uscc")?,
        enterprise_name: text("enterprise_name")?,
        jurisdiction_code: text("jurisdiction_code")?,
        official: text("official")?,
        official_name: text("official_name")?,
        official_phone: text("official_phone")?,
        kind: stored("kind", &text("kind")?, ButlerKind::parse)?,
        version: row.try_get("version")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
    })
}

const MEETING_COLUMNS: &str = "id, meeting_type, jurisdiction_code, start_time, chair, title, location, \
     organizer, version, create_time, update_time";

async fn select_meeting(conn: &mut AnyConnection, id: &str) -> Result<Option<Meeting>, Error> {
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {MEETING_COLUMNS} FROM meetings WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let text = |name: &str| -> Result<String, Error> { Ok(row.try_get::<String, _>(name)?) };
    let mut meeting = Meeting {
        id: text("id")?,
        meeting_type: stored("meeting_type", &text("meeting_type")?, MeetingType::parse)?,
        jurisdiction_code: text("jurisdiction_code")?,
        start_time: row.try_get("start_time")?,
        chair: text("chair")?,
        title: text("title")?,
        location: text("location")?,
        organizer: text("organizer")?,
        agenda: Vec::new(),
        version: row.try_get("version")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
    };
    let items = sqlx::query(
        "SELECT case_id, case_number, title, uscc, enterprise_name, add_time, added_by, \
         decision_department_id, decision_deadline, decision_text, decision_recorded_by, decision_time \
         FROM agenda_items WHERE meeting_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    for item in items {
        let text = |name: &str| -> Result<String, Error> { Ok(item.try_get::<String, _>(name)?) };
        let decision = match item.try_get::<Option<String>, _>("decision_department_id")? {
            None => None,
            Some(department_id) => Some(Decision {
                department_id,
                deadline: item
                    .try_get::<Option<i64>, _>("decision_deadline")?
                    .unwrap_or_default(),
                text: item
                    .try_get::<Option<String>, _>("decision_text")?
                    .unwrap_or_default(),
                recorded_by: item
                    .try_get::<Option<String>, _>("decision_recorded_by")?
                    .unwrap_or_default(),
                record_time: item
                    .try_get::<Option<i64>, _>("decision_time")?
                    .unwrap_or_default(),
            }),
        };
        meeting.agenda.push(AgendaItem {
            case_id: text("case_id")?,
            case_number: text("case_number")?,
            title: text("title")?,
            uscc: text("uscc")?,
            enterprise_name: text("enterprise_name")?,
            add_time: item.try_get("add_time")?,
            added_by: text("added_by")?,
            decision,
        });
    }
    Ok(Some(meeting))
}

/// Rewrites a meeting's agenda (a handful of rows).
async fn write_agenda(conn: &mut AnyConnection, meeting: &Meeting) -> Result<(), Error> {
    sqlx::query("DELETE FROM agenda_items WHERE meeting_id = $1")
        .bind(&meeting.id)
        .execute(&mut *conn)
        .await?;
    for (position, item) in meeting.agenda.iter().enumerate() {
        let decision = item.decision.as_ref();
        sqlx::query(
            "INSERT INTO agenda_items (meeting_id, position, case_id, case_number, title, uscc, \
             enterprise_name, add_time, added_by, decision_department_id, decision_deadline, decision_text, \
             decision_recorded_by, decision_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&meeting.id)
        .bind(position as i64)
        .bind(&item.case_id)
        .bind(&item.case_number)
        .bind(&item.title)
        .bind(&item.uscc)
        .bind(&item.enterprise_name)
        .bind(item.add_time)
        .bind(&item.added_by)
        .bind(decision.map(|d| d.department_id.clone()))
        .bind(decision.map(|d| d.deadline))
        .bind(decision.map(|d| d.text.clone()))
        .bind(decision.map(|d| d.recorded_by.clone()))
        .bind(decision.map(|d| d.record_time))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Records a transition of `case` (already written): its ledger entry, its
/// `CaseTransitioned` event and, for a return, the department's count.
/// Returns the event's sequence.
pub async fn record(
    conn: &mut AnyConnection,
    events: &EventLog,
    case: &Case,
    transition: &Transition,
    actor: &str,
    now: i64,
) -> Result<u64, Error> {
    let entry = append_entry(
        conn,
        Entry {
            jurisdiction_code: case.jurisdiction_code.clone(),
            sequence: 0,
            case_id: case.id.clone(),
            action: transition.action,
            from_state: transition.from,
            to_state: transition.to,
            actor: actor.to_owned(),
            actor_role: transition.actor_role.clone(),
            create_time: now,
            note: transition.note.clone(),
            level: case.level,
            department_id: case.department_id.clone(),
            previous_hash: String::new(),
            entry_hash: String::new(),
        },
    )
    .await?;
    if transition.action == CaseAction::Return && !transition.acting_department.is_empty() {
        sqlx::query(
            "INSERT INTO department_returns (department_id, returns) VALUES ($1, 1) \
             ON CONFLICT (department_id) DO UPDATE SET returns = department_returns.returns + 1",
        )
        .bind(&transition.acting_department)
        .execute(&mut *conn)
        .await?;
    }
    events
        .append(
            conn,
            &case.id,
            &case.jurisdiction_code,
            &convert::case_transitioned(case, transition, actor, &entry),
        )
        .await
}

/// Chains `entry` to the head of its jurisdiction's ledger and writes it. The
/// head row's lock orders concurrent writers on PostgreSQL; SQLite has one writer.
pub async fn append_entry(conn: &mut AnyConnection, mut entry: Entry) -> Result<Entry, Error> {
    let row = sqlx::query(
        "INSERT INTO ledger_heads (jurisdiction_code, last_sequence, head_hash) VALUES ($1, 1, '') \
         ON CONFLICT (jurisdiction_code) DO UPDATE SET last_sequence = ledger_heads.last_sequence + 1 \
         RETURNING last_sequence, head_hash",
    )
    .bind(&entry.jurisdiction_code)
    .fetch_one(&mut *conn)
    .await?;
    let sequence: i64 = row.try_get(0)?;
    let head_hash: String = row.try_get(1)?;
    ledger::chain(&mut entry, sequence as u64 - 1, &head_hash);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO ledger_entries ({ENTRY_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    )))
    .bind(&entry.jurisdiction_code)
    .bind(entry.sequence as i64)
    .bind(&entry.case_id)
    .bind(entry.action.as_str())
    .bind(entry.from_state.as_str())
    .bind(entry.to_state.as_str())
    .bind(&entry.actor)
    .bind(&entry.actor_role)
    .bind(entry.create_time)
    .bind(&entry.note)
    .bind(entry.level.as_str())
    .bind(&entry.department_id)
    .bind(&entry.previous_hash)
    .bind(&entry.entry_hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE ledger_heads SET head_hash = $1 WHERE jurisdiction_code = $2")
        .bind(&entry.entry_hash)
        .bind(&entry.jurisdiction_code)
        .execute(&mut *conn)
        .await?;
    Ok(entry)
}

fn case_filter(filter: &CaseFilter) -> Filter {
    let mut query = Filter::new();
    query.within("jurisdiction_code", filter.jurisdictions.as_deref());
    if let Some(uscc) = &filter.uscc {
        query.eq("uscc", SqlValue::Text(uscc.clone()));
    }
    if let Some(state) = filter.state {
        query.eq("state", SqlValue::Text(state.as_str().into()));
    }
    if let Some(level) = filter.level {
        query.eq("level", SqlValue::Text(level.as_str().into()));
    }
    if let Some(department) = &filter.department_id {
        query.eq("department_id", SqlValue::Text(department.clone()));
    }
    if let Some(now) = filter.overdue_at {
        query.any_of(
            "state",
            OPEN_STATES
                .iter()
                .map(|s| SqlValue::Text(s.as_str().into())),
        );
        query.and(|bind| {
            format!(
                "(deadline IS NOT NULL AND deadline < {})",
                bind(SqlValue::Int(now))
            )
        });
    }
    if let Some(meeting) = &filter.meeting_id {
        query.eq("meeting_id", SqlValue::Text(meeting.clone()));
    }
    if let Some(supervision) = filter.supervision {
        query.eq("supervision", SqlValue::Text(supervision.as_str().into()));
    }
    if let Some(category) = filter.category {
        query.eq("category", SqlValue::Text(category.as_str().into()));
    }
    if let Some(appeal) = &filter.appeal_id {
        query.eq("appeal_id", SqlValue::Text(appeal.clone()));
    }
    if let Some(official) = &filter.butler {
        query.and(|bind| {
            format!(
                "uscc IN (SELECT uscc FROM butlers WHERE official = {})",
                bind(SqlValue::Text(official.clone()))
            )
        });
    }
    if let Some(from) = filter.created_from {
        query.and(|bind| format!("create_time >= {}", bind(SqlValue::Int(from))));
    }
    if let Some(before) = filter.created_before {
        query.and(|bind| format!("create_time < {}", bind(SqlValue::Int(before))));
    }
    query
}

pub async fn select_case(conn: &mut AnyConnection, id: &str) -> Result<Option<Case>, Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(case_from_row).transpose()
}

pub async fn select_case_by_appeal(
    conn: &mut AnyConnection,
    appeal_id: &str,
) -> Result<Option<Case>, Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE appeal_id = $1 \
         OR id = (SELECT case_id FROM case_appeals WHERE appeal_id = $2) LIMIT 1"
    )))
    .bind(appeal_id)
    .bind(appeal_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(case_from_row).transpose()
}

/// Inserts `case` (`expected` none) or replaces the stored row whose version is
/// `expected`; a row changed meanwhile is `ABORTED`. An insert answers false,
/// changing nothing, when the case's appeal has a case already.
pub async fn write_case(
    conn: &mut AnyConnection,
    case: &Case,
    expected: Option<i64>,
) -> Result<bool, Error> {
    let placeholders: Vec<String> = (1..=CASE_COLUMN_COUNT).map(|n| format!("${n}")).collect();
    let sql = match expected {
        None => format!(
            "INSERT INTO cases ({CASE_COLUMNS}) VALUES ({}) ON CONFLICT (appeal_id) DO NOTHING",
            placeholders.join(", ")
        ),
        Some(_) => format!(
            "UPDATE cases SET ({CASE_COLUMNS}) = ({}) WHERE id = ${} AND version = ${}",
            placeholders.join(", "),
            CASE_COLUMN_COUNT + 1,
            CASE_COLUMN_COUNT + 2
        ),
    };
    let extension = case.extension.as_ref();
    let join = |items: &mut dyn Iterator<Item = &str>| items.collect::<Vec<_>>().join(",");
    let query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&case.id)
        .bind(&case.number)
        .bind(&case.appeal_id)
        .bind(&case.uscc)
        .bind(&case.enterprise_name)
        .bind(&case.jurisdiction_code)
        .bind(case.level.as_str())
        .bind(&case.department_id)
        .bind(case.state.as_str())
        .bind(case.category.as_str())
        .bind(case.kind.as_str())
        .bind(case.channel.as_str())
        .bind(&case.title)
        .bind(&case.description)
        .bind(join(&mut case.enterprise_tags.iter().map(|t| t.as_str())))
        .bind(&case.contact_name)
        .bind(&case.contact_phone)
        .bind(i64::from(case.time_limit_days))
        .bind(case.start_time)
        .bind(case.deadline)
        .bind(case.supervision.as_str())
        .bind(case.outcome.map(|o| o.as_str()))
        .bind(&case.resolution)
        .bind(&case.meeting_id)
        .bind(case.meeting_type.map(|m| m.as_str()))
        .bind(&case.reject_reason)
        .bind(i64::from(case.returns_count))
        .bind(&case.return_reason)
        .bind(i64::from(case.reopen_count))
        .bind(&case.escalation_reason)
        .bind(extension.map(|e| e.state.as_str()))
        .bind(extension.map_or(0, |e| i64::from(e.working_days)))
        .bind(extension.map_or(String::new(), |e| e.reason.clone()))
        .bind(extension.map_or(String::new(), |e| e.requested_by.clone()))
        .bind(extension.map(|e| e.request_time))
        .bind(extension.map_or(String::new(), |e| e.decided_by.clone()))
        .bind(extension.and_then(|e| e.decide_time))
        .bind(extension.map_or(String::new(), |e| e.decision_note.clone()))
        .bind(&case.info_question)
        .bind(&case.info_answer)
        .bind(case.pause_time)
        .bind(case.paused_state.map(|s| s.as_str()))
        .bind(&case.butler)
        .bind(&case.claimed_by)
        .bind(case.resolve_time)
        .bind(case.close_time)
        .bind(case.duplicate_appeal_ids.join(","))
        .bind(&case.routing_rule_id)
        .bind(case.version)
        .bind(case.create_time)
        .bind(case.update_time)
        .bind(i64::from(case.deadline_provisional))
        .bind(case.deadline_base)
        .bind(i64::from(case.deadline_working_days))
        .bind(case.personal_data_erase_time);
    let query = match expected {
        None => query,
        Some(version) => query.bind(&case.id).bind(version),
    };
    let written = query.execute(&mut *conn).await?.rows_affected();
    if expected.is_none() {
        return Ok(written == 1);
    }
    if written != 1 {
        return Err(
            Error::Aborted(format!("case {} changed meanwhile; read it again", case.id))
                .zh(format!("{}已被他人修改，请刷新后重试", case.zh_name())),
        );
    }
    Ok(true)
}

async fn insert_rule(conn: &mut AnyConnection, rule: &Rule, if_missing: bool) -> Result<(), Error> {
    let conflict = if if_missing {
        " ON CONFLICT (id) DO NOTHING"
    } else {
        ""
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO routing_rules ({RULE_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16){conflict}"
    )))
    .bind(&rule.id)
    .bind(&rule.jurisdiction_code)
    .bind(rule.category.map(|c| c.as_str()))
    .bind(rule.channel.map(|c| c.as_str()))
    .bind(rule.enterprise_tag.map(|t| t.as_str()))
    .bind(rule.kind.map(|k| k.as_str()))
    .bind(rule.level.as_str())
    .bind(&rule.department_id)
    .bind(i64::from(rule.time_limit_days))
    .bind(i64::from(rule.priority))
    .bind(&rule.description)
    .bind(i64::from(rule.disabled))
    .bind(rule.meeting_type.map(|m| m.as_str()))
    .bind(rule.version)
    .bind(rule.update_time)
    .bind(&rule.updated_by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn optional_stored<T>(
    row: &AnyRow,
    column: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, Error> {
    row.try_get::<Option<String>, _>(column)?
        .map(|v| stored(column, &v, parse))
        .transpose()
}

fn list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').filter(|t| !t.is_empty())
}

fn case_from_row(row: &AnyRow) -> Result<Case, Error> {
    let text = |name: &str| -> Result<String, Error> { Ok(row.try_get::<String, _>(name)?) };
    let int = |name: &str| -> Result<i64, Error> { Ok(row.try_get::<i64, _>(name)?) };
    let optional_int =
        |name: &str| -> Result<Option<i64>, Error> { Ok(row.try_get::<Option<i64>, _>(name)?) };
    let extension = match optional_stored(row, "ext_state", ExtensionState::parse)? {
        None => None,
        Some(state) => Some(Extension {
            state,
            working_days: int("ext_working_days")? as u32,
            reason: text("ext_reason")?,
            requested_by: text("ext_requested_by")?,
            request_time: optional_int("ext_request_time")?.unwrap_or_default(),
            decided_by: text("ext_decided_by")?,
            decide_time: optional_int("ext_decide_time")?,
            decision_note: text("ext_decision_note")?,
        }),
    };
    Ok(Case {
        id: text("id")?,
        number: text("number")?,
        appeal_id: text("appeal_id")?,
        uscc: text("uscc")?,
        enterprise_name: text("enterprise_name")?,
        jurisdiction_code: text("jurisdiction_code")?,
        level: stored("level", &text("level")?, Level::parse)?,
        department_id: text("department_id")?,
        state: stored("state", &text("state")?, CaseState::parse)?,
        category: stored("category", &text("category")?, Category::parse)?,
        kind: stored("kind", &text("kind")?, AppealKind::parse)?,
        channel: stored("channel", &text("channel")?, Channel::parse)?,
        title: text("title")?,
        description: text("description")?,
        enterprise_tags: list(&text("enterprise_tags")?)
            .map(|t| stored("enterprise_tags", t, EnterpriseTag::parse))
            .collect::<Result<_, _>>()?,
        contact_name: text("contact_name")?,
        contact_phone: text("contact_phone")?,
        time_limit_days: int("time_limit_days")? as u32,
        start_time: int("start_time")?,
        deadline: optional_int("deadline")?,
        deadline_provisional: int("deadline_provisional")? != 0,
        deadline_base: int("deadline_base")?,
        deadline_working_days: int("deadline_working_days")? as u32,
        supervision: stored("supervision", &text("supervision")?, Supervision::parse)?,
        outcome: optional_stored(row, "outcome", Outcome::parse)?,
        resolution: text("resolution")?,
        meeting_id: text("meeting_id")?,
        meeting_type: optional_stored(row, "meeting_type", MeetingType::parse)?,
        reject_reason: text("reject_reason")?,
        returns_count: int("returns_count")? as u32,
        return_reason: text("return_reason")?,
        reopen_count: int("reopen_count")? as u32,
        escalation_reason: text("escalation_reason")?,
        extension,
        info_question: text("info_question")?,
        info_answer: text("info_answer")?,
        pause_time: optional_int("pause_time")?,
        paused_state: optional_stored(row, "paused_state", CaseState::parse)?,
        butler: text("butler")?,
        claimed_by: text("claimed_by")?,
        resolve_time: optional_int("resolve_time")?,
        close_time: optional_int("close_time")?,
        personal_data_erase_time: optional_int("personal_data_erase_time")?,
        duplicate_appeal_ids: list(&text("duplicate_appeal_ids")?)
            .map(str::to_owned)
            .collect(),
        routing_rule_id: text("routing_rule_id")?,
        version: int("version")?,
        create_time: int("create_time")?,
        update_time: int("update_time")?,
    })
}

fn entry_from_row(row: &AnyRow) -> Result<Entry, Error> {
    let text = |name: &str| -> Result<String, Error> { Ok(row.try_get::<String, _>(name)?) };
    Ok(Entry {
        jurisdiction_code: text("jurisdiction_code")?,
        sequence: row.try_get::<i64, _>("sequence")? as u64,
        case_id: text("case_id")?,
        action: stored("action", &text("action")?, CaseAction::parse)?,
        from_state: stored("from_state", &text("from_state")?, CaseState::parse)?,
        to_state: stored("to_state", &text("to_state")?, CaseState::parse)?,
        actor: text("actor")?,
        actor_role: text("actor_role")?,
        create_time: row.try_get("create_time")?,
        note: text("note")?,
        level: stored("level", &text("level")?, Level::parse)?,
        department_id: text("department_id")?,
        previous_hash: text("previous_hash")?,
        entry_hash: text("entry_hash")?,
    })
}

fn rule_from_row(row: &AnyRow) -> Result<Rule, Error> {
    let text = |name: &str| -> Result<String, Error> { Ok(row.try_get::<String, _>(name)?) };
    let int = |name: &str| -> Result<i64, Error> { Ok(row.try_get::<i64, _>(name)?) };
    Ok(Rule {
        id: text("id")?,
        jurisdiction_code: text("jurisdiction_code")?,
        category: optional_stored(row, "category", Category::parse)?,
        channel: optional_stored(row, "channel", Channel::parse)?,
        enterprise_tag: optional_stored(row, "enterprise_tag", EnterpriseTag::parse)?,
        kind: optional_stored(row, "kind", AppealKind::parse)?,
        level: stored("level", &text("level")?, Level::parse)?,
        department_id: text("department_id")?,
        time_limit_days: int("time_limit_days")? as u32,
        priority: int("priority")? as i32,
        description: text("description")?,
        disabled: int("disabled")? != 0,
        meeting_type: optional_stored(row, "meeting_type", MeetingType::parse)?,
        version: int("version")?,
        update_time: int("update_time")?,
        updated_by: text("updated_by")?,
    })
}

/// Keeps where an enterprise is registered (intake's registration events).
pub async fn record_enterprise(
    conn: &mut AnyConnection,
    uscc: &str,
    name: &str,
    jurisdiction_code: &str,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO enterprises (uscc, name, jurisdiction_code, update_time) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (uscc) DO UPDATE SET name = excluded.name, \
         jurisdiction_code = excluded.jurisdiction_code, update_time = excluded.update_time",
    )
    .bind(uscc)
    .bind(name)
    .bind(jurisdiction_code)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
