//! The three logs scoring follows, and how their events become facts.
//!
//! - routing: a case opened (appeals by channel and category), resolved (first
//!   resolution; due on time or not), gone overdue (红灯督办: due and not on
//!   time, an inaction notice), handed back (退单; a case handed back
//!   [`INACTION_RETURNS`] times is an inaction notice of its jurisdiction);
//!   meetings scheduled and their decisions;
//! - evaluation: invitations, reviews of units the enterprise had business
//!   with (a bad one is a bad-review notice), verified bad reviews and
//!   rectifications closed, third-party assessments, answers to campaigns
//!   (百企评执法, 百企评营商环境);
//! - policy: comments answered, policies published, fulfilments, enterprises'
//!   ratings of a policy's implementation (a rating given again replaces the
//!   first).
//!
//! The shared consumer calls [`SourceEvents`] inside the transaction that
//! advances its cursor; fact ids make a replayed event a no-op as well.
//!
//! The city's scoring follows these logs of every deployment (a county that
//! runs its own), one cursor per log and deployment, so facts of several
//! deployments meet in one table. A fact's id is made of the ids of what it
//! counts (cases, reviews, rectifications, meetings, policies, comments,
//! fulfilments), and those ids carry their jurisdiction and a ULID, so they
//! are unique across deployments: the same event delivered again by one
//! deployment makes the same fact, and two deployments never make the same
//! one. A number unique only within one deployment never keys a fact alone:
//! a return's ledger position (numbered per jurisdiction's ledger) is keyed
//! with its case id, and an event's sequence only advances the cursor of the
//! log it came from. Such keys stay the same if a deployment is renamed and
//! its log read again under the new cursor.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sqlx::AnyConnection;
use zhengqi_proto::zhengqi::common::v1::Event;
use zhengqi_proto::zhengqi::evaluation::v1 as evaluation;
use zhengqi_proto::zhengqi::evaluation::v1::evaluation_event::Event as EvaluationEvent;
use zhengqi_proto::zhengqi::policy::v1 as policy;
use zhengqi_proto::zhengqi::policy::v1::policy_event::Event as PolicyEvent;
use zhengqi_proto::zhengqi::routing::v1 as routing;
use zhengqi_proto::zhengqi::routing::v1::routing_event::Event as RoutingEvent;
use zhengqi_shared::Error;
use zhengqi_shared::appeal;
use zhengqi_shared::events::{EventHandler, decode};
use zhengqi_shared::ids;

use crate::Core;
use crate::convert;
use crate::domain::facts::{Fact, FactKind, department_jurisdiction};
use crate::domain::period::{Period, PeriodSet};
use crate::domain::{Alert, AlertKind, INACTION_RETURNS, UnitKind};
use crate::engine::{Dirty, Recorded};
use crate::store::{self, CaseRow};

/// A log scoring follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Routing,
    Evaluation,
    Policy,
}

impl Source {
    /// The log's name, and the cursor name of this deployment's own log.
    pub fn name(self) -> &'static str {
        match self {
            Source::Routing => "routing",
            Source::Evaluation => "evaluation",
            Source::Policy => "policy",
        }
    }

    /// The cursor of this log of `deployment` (`routing@wangcang`), or of
    /// this deployment's own (`routing`) when `None`.
    pub fn cursor(self, deployment: Option<&str>) -> String {
        match deployment {
            None => self.name().to_owned(),
            Some(deployment) => format!("{}@{deployment}", self.name()),
        }
    }

    pub fn method(self) -> &'static str {
        match self {
            Source::Routing => "/zhengqi.routing.v1.CaseService/WatchEvents",
            Source::Evaluation => "/zhengqi.evaluation.v1.EvaluationService/WatchEvents",
            Source::Policy => "/zhengqi.policy.v1.PolicyService/WatchEvents",
        }
    }
}

/// The `EventHandler` of one of scoring's consumers.
pub struct SourceEvents {
    source: Source,
    core: Arc<Core>,
    /// The rankings the batch being applied has touched: ranked again once,
    /// when the batch is finished, not after every event.
    dirty: std::sync::Mutex<Dirty>,
}

impl SourceEvents {
    pub fn new(source: Source, core: Arc<Core>) -> Self {
        Self {
            source,
            core,
            dirty: std::sync::Mutex::new(Dirty::new()),
        }
    }

    fn dirty(&self) -> std::sync::MutexGuard<'_, Dirty> {
        self.dirty.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Microseconds of a timestamp; `None` when unset or beyond what a period can hold.
fn micros(ts: Option<&prost_types::Timestamp>) -> Option<i64> {
    let ts = ts?;
    let micros = ts
        .seconds
        .checked_mul(1_000_000)?
        .checked_add(i64::from(ts.nanos.clamp(0, 999_999_999)) / 1_000)?;
    Period::month_of(micros).map(|_| micros)
}

/// A new fact counted at `time` in its year, quarter and month.
fn fact(
    id: String,
    kind: FactKind,
    jurisdiction_code: &str,
    department_id: &str,
    subject_id: &str,
    time: i64,
) -> Option<Fact> {
    Some(Fact {
        id,
        kind,
        jurisdiction_code: jurisdiction_code.to_owned(),
        department_id: department_id.to_owned(),
        subject_id: subject_id.to_owned(),
        label: String::new(),
        label2: String::new(),
        flag: false,
        amount: 0,
        occur_time: time,
        periods: PeriodSet::at(time)?,
    })
}

/// A fact about a case, of the case's jurisdiction and department; its id is
/// `{prefix}:{case id}`.
fn case_fact(prefix: &str, kind: FactKind, case: &routing::Case, time: i64) -> Option<Fact> {
    fact(
        format!("{prefix}:{}", case.id),
        kind,
        &case.jurisdiction_code,
        &case.department_id,
        &case.id,
        time,
    )
}

/// A fact about a review, of the review's jurisdiction and department; its id
/// is `{prefix}:{review id}`.
fn review_fact(
    prefix: &str,
    kind: FactKind,
    review: &evaluation::Review,
    time: i64,
) -> Option<Fact> {
    fact(
        format!("{prefix}:{}", review.id),
        kind,
        &review.jurisdiction_code,
        &review.department_id,
        &review.id,
        time,
    )
}

/// A fact about a bad review's rectification, whose subject is the review; its
/// id is `{prefix}:{rectification id}`.
fn rectification_fact(
    prefix: &str,
    kind: FactKind,
    rectification: &evaluation::Rectification,
    time: i64,
) -> Option<Fact> {
    fact(
        format!("{prefix}:{}", rectification.id),
        kind,
        &rectification.jurisdiction_code,
        &rectification.department_id,
        &rectification.review_id,
        time,
    )
}

/// The unit an alert about a department (or, without one, a jurisdiction) concerns.
/// The department that holds `case`: the one it is assigned to, once it is
/// (ASSIGNED onwards); none while it is PENDING or ACCEPTED, when the
/// jurisdiction's business-environment office holds it, even if a department
/// is proposed for it.
fn held_by(case: &routing::Case) -> &str {
    use routing::CaseState;
    match CaseState::try_from(case.state) {
        Ok(CaseState::Pending | CaseState::Accepted | CaseState::Unspecified) | Err(_) => "",
        Ok(_) => &case.department_id,
    }
}

fn alert_unit(department_id: &str, jurisdiction_code: &str) -> (UnitKind, String, String) {
    match department_jurisdiction(department_id) {
        Some(jurisdiction) => (
            UnitKind::Department,
            department_id.to_owned(),
            jurisdiction.to_owned(),
        ),
        None => (
            UnitKind::Jurisdiction,
            jurisdiction_code.to_owned(),
            jurisdiction_code.to_owned(),
        ),
    }
}

impl SourceEvents {
    fn alert(
        &self,
        dedup_key: String,
        kind: AlertKind,
        (unit_kind, unit_id, jurisdiction_code): (UnitKind, String, String),
        time: i64,
        reason: String,
        fact_ids: Vec<String>,
    ) -> Alert {
        let period = Period::month_of(time)
            .map(|p| p.to_string())
            .unwrap_or_default();
        Alert {
            id: ids::new_id(&jurisdiction_code),
            dedup_key,
            kind,
            period,
            unit_name: self.core.units().name_of(unit_kind, &unit_id),
            unit_kind,
            unit_id,
            jurisdiction_code,
            reason,
            fact_ids,
            create_time: self.core.clock.now(),
        }
    }

    /// The facts of one event (and the side tables it updates).
    pub async fn facts(
        &self,
        conn: &mut AnyConnection,
        event: &Event,
    ) -> Result<Vec<Recorded>, Error> {
        let fallback = micros(event.create_time.as_ref()).unwrap_or_else(|| self.core.clock.now());
        match self.source {
            Source::Routing => self.routing(conn, event, fallback).await,
            Source::Evaluation => self.evaluation(event, fallback),
            Source::Policy => self.policy(conn, event, fallback).await,
        }
    }

    async fn routing(
        &self,
        conn: &mut AnyConnection,
        event: &Event,
        fallback: i64,
    ) -> Result<Vec<Recorded>, Error> {
        let mut out = Vec::new();
        let Some(event) = decode::<RoutingEvent>(event)? else {
            return Ok(out);
        };
        match event {
            RoutingEvent::CaseOpened(opened) => {
                let Some(case) = opened.case else {
                    return Ok(out);
                };
                remember_case(conn, &case, fallback).await?;
                let time = micros(case.create_time.as_ref()).unwrap_or(fallback);
                if let Some(mut opened) = case_fact("opened", FactKind::CaseOpened, &case, time) {
                    opened.label = appeal::channel(case.channel)
                        .map_or("UNSPECIFIED", |c| c.as_str())
                        .to_owned();
                    opened.label2 = appeal::category(case.category)
                        .map_or("UNSPECIFIED", |c| c.as_str())
                        .to_owned();
                    out.push(Recorded::from(opened));
                }
            }
            RoutingEvent::CaseTransitioned(transitioned) => {
                let Some(case) = transitioned.case else {
                    return Ok(out);
                };
                remember_case(conn, &case, fallback).await?;
                match routing::CaseAction::try_from(transitioned.action) {
                    Ok(routing::CaseAction::Resolve) => {
                        let resolved = micros(case.resolve_time.as_ref()).unwrap_or(fallback);
                        let deadline = micros(case.deadline.as_ref());
                        if let Some(mut fact) =
                            case_fact("resolved", FactKind::CaseResolved, &case, resolved)
                        {
                            fact.flag = case.outcome == routing::Outcome::Solved as i32;
                            out.push(Recorded::from(fact));
                        }
                        // Due in the period of its deadline; on time when resolved by it.
                        if let Some(mut fact) = case_fact(
                            "due",
                            FactKind::CaseDue,
                            &case,
                            deadline.unwrap_or(resolved),
                        ) {
                            fact.flag = deadline.is_none_or(|d| resolved <= d);
                            out.push(Recorded::from(fact));
                        }
                    }
                    Ok(routing::CaseAction::Return) => {
                        let time = micros(case.update_time.as_ref()).unwrap_or(fallback);
                        let department = if transitioned.department_id.is_empty() {
                            &case.department_id
                        } else {
                            &transitioned.department_id
                        };
                        let mut alerts = Vec::new();
                        if case.returns_count >= INACTION_RETURNS {
                            alerts.push(self.alert(
                                format!("returns:{}", case.id),
                                AlertKind::InactionNotice,
                                (
                                    UnitKind::Jurisdiction,
                                    case.jurisdiction_code.clone(),
                                    case.jurisdiction_code.clone(),
                                ),
                                time,
                                format!(
                                    "案件 {0} 已被退单 {1} 次，仍无部门承办（case {0} was handed back {1} times and no department has taken it）",
                                    case.number, case.returns_count
                                ),
                                vec![case.id.clone()],
                            ));
                        }
                        // The ledger position is numbered per deployment's
                        // ledger of a jurisdiction: unique only with the case id.
                        if let Some(fact) = fact(
                            format!("returned:{}:{}", case.id, transitioned.ledger_sequence),
                            FactKind::CaseReturned,
                            &case.jurisdiction_code,
                            department,
                            &case.id,
                            time,
                        ) {
                            out.push(Recorded {
                                fact,
                                alerts,
                                replaces: false,
                            });
                        }
                    }
                    _ => {}
                }
            }
            RoutingEvent::SupervisionChanged(changed) => {
                let Some(case) = changed.case else {
                    return Ok(out);
                };
                remember_case(conn, &case, fallback).await?;
                if changed.to_supervision == routing::Supervision::Red as i32 {
                    let deadline = micros(case.deadline.as_ref()).unwrap_or(fallback);
                    // Against whoever held the case when its deadline passed.
                    let holder = held_by(&case);
                    let alert = self.alert(
                        format!("overdue:{}", case.id),
                        AlertKind::InactionNotice,
                        alert_unit(holder, &case.jurisdiction_code),
                        deadline,
                        format!(
                            "案件 {0}（{1}）已超过办理时限，红灯督办（case {0} is past its deadline）",
                            case.number, case.title
                        ),
                        vec![case.id.clone()],
                    );
                    let held = |prefix: &str, kind| {
                        fact(
                            format!("{prefix}:{}", case.id),
                            kind,
                            &case.jurisdiction_code,
                            holder,
                            &case.id,
                            deadline,
                        )
                    };
                    if let Some(fact) = held("overdue", FactKind::CaseOverdue) {
                        out.push(Recorded {
                            fact,
                            alerts: vec![alert],
                            replaces: false,
                        });
                    }
                    // Due and not on time, unless its resolution came first.
                    if let Some(fact) = held("due", FactKind::CaseDue) {
                        out.push(Recorded::from(fact));
                    }
                }
            }
            RoutingEvent::CaseEscalated(escalated) => {
                if let Some(case) = escalated.case {
                    remember_case(conn, &case, fallback).await?;
                }
            }
            RoutingEvent::MeetingScheduled(scheduled) => {
                if let Some(meeting) = scheduled.meeting {
                    let time = micros(meeting.start_time.as_ref()).unwrap_or(fallback);
                    out.extend(
                        fact(
                            format!("meeting:{}", meeting.id),
                            FactKind::MeetingScheduled,
                            &meeting.jurisdiction_code,
                            "",
                            &meeting.id,
                            time,
                        )
                        .map(Recorded::from),
                    );
                }
            }
            RoutingEvent::MeetingDecisionRecorded(recorded) => {
                if let (Some(meeting), Some(decision)) = (recorded.meeting, recorded.decision) {
                    let time = micros(decision.record_time.as_ref()).unwrap_or(fallback);
                    out.extend(
                        fact(
                            format!("decision:{}:{}", meeting.id, decision.case_id),
                            FactKind::MeetingDecision,
                            &meeting.jurisdiction_code,
                            &decision.department_id,
                            &decision.case_id,
                            time,
                        )
                        .map(Recorded::from),
                    );
                }
            }
            // Counted elsewhere or not at all: an agenda item becomes a
            // decision, butlers and rules are no unit's performance, the
            // calendar is routing's.
            RoutingEvent::CaseAddedToAgenda(_)
            | RoutingEvent::ButlerAssigned(_)
            | RoutingEvent::RoutingRuleChanged(_)
            | RoutingEvent::CalendarYearLoaded(_) => {}
        }
        Ok(out)
    }

    fn evaluation(&self, event: &Event, fallback: i64) -> Result<Vec<Recorded>, Error> {
        let mut out = Vec::new();
        let of_government = |review: &evaluation::Review| {
            review.target_kind != evaluation::TargetKind::Enterprise as i32
                && review.direction != evaluation::Direction::GovernmentToEnterprise as i32
        };
        let Some(event) = decode::<EvaluationEvent>(event)? else {
            return Ok(out);
        };
        match event {
            EvaluationEvent::ReviewInvited(invited) => {
                if let Some(review) = invited.review
                    && of_government(&review)
                {
                    let time = micros(review.invite_time.as_ref()).unwrap_or(fallback);
                    out.extend(
                        review_fact("invited", FactKind::ReviewInvited, &review, time)
                            .map(Recorded::from),
                    );
                }
            }
            EvaluationEvent::ReviewSubmitted(submitted) => {
                let Some(review) = submitted.review else {
                    return Ok(out);
                };
                let Some(rating) = convert::rating(review.rating) else {
                    return Ok(out);
                };
                // Only an enterprise that had business with the unit rates it:
                // a department for a case it handled, a window for a visit or
                // transaction it registered. Reviews without either (given
                // before records were required) count for nothing.
                let had_business = match evaluation::TargetKind::try_from(review.target_kind) {
                    Ok(evaluation::TargetKind::Department) => !review.case_id.is_empty(),
                    Ok(evaluation::TargetKind::ServiceWindow) => {
                        !review.service_record_id.is_empty()
                    }
                    _ => true,
                };
                if !of_government(&review) || !had_business {
                    return Ok(out);
                }
                let time = micros(review.submit_time.as_ref()).unwrap_or(fallback);
                let mut alerts = Vec::new();
                if rating.is_bad() {
                    let unit = alert_unit(&review.department_id, &review.jurisdiction_code);
                    let mut fact_ids = vec![review.id.clone()];
                    if !review.case_id.is_empty() {
                        fact_ids.push(review.case_id.clone());
                    }
                    alerts.push(self.alert(
                        format!("bad_review:{}", review.id),
                        AlertKind::BadReviewNotice,
                        unit,
                        time,
                        format!(
                            "a bad review ({}) was given{}",
                            rating.as_str(),
                            if review.case_id.is_empty() {
                                String::new()
                            } else {
                                format!(" on case {}", review.case_id)
                            }
                        ),
                        fact_ids,
                    ));
                }
                if let Some(mut fact) =
                    review_fact("review", FactKind::ReviewSubmitted, &review, time)
                {
                    fact.label = rating.as_str().to_owned();
                    out.push(Recorded {
                        fact,
                        alerts,
                        replaces: false,
                    });
                }
                // The invitation was answered: counted at the invitation's time.
                if let Some(invited) = micros(review.invite_time.as_ref()) {
                    out.extend(
                        review_fact("rated", FactKind::InvitationRated, &review, invited)
                            .map(Recorded::from),
                    );
                }
            }
            EvaluationEvent::BadReviewVerified(verified) => {
                if let Some(r) = verified.rectification
                    && r.valid
                {
                    let time = micros(r.create_time.as_ref()).unwrap_or(fallback);
                    out.extend(
                        rectification_fact("valid", FactKind::BadReviewValid, &r, time)
                            .map(Recorded::from),
                    );
                }
            }
            EvaluationEvent::ReturnVisitRecorded(visited) => {
                if let Some(r) = visited.rectification
                    && r.state == evaluation::RectificationState::Closed as i32
                {
                    let time = micros(r.create_time.as_ref()).unwrap_or(fallback);
                    out.extend(
                        rectification_fact("rectified", FactKind::RectificationClosed, &r, time)
                            .map(Recorded::from),
                    );
                }
            }
            EvaluationEvent::CampaignResponseSubmitted(submitted) => {
                let Some(response) = submitted.response else {
                    return Ok(out);
                };
                let kind = match evaluation::CampaignKind::try_from(submitted.kind) {
                    Ok(evaluation::CampaignKind::LawEnforcement) => FactKind::EnforcementAnswer,
                    Ok(evaluation::CampaignKind::BusinessEnvironment) => {
                        FactKind::EnvironmentAnswer
                    }
                    _ => return Ok(out),
                };
                let time = micros(response.create_time.as_ref()).unwrap_or(fallback);
                for answer in &response.answers {
                    let Some(rating) = convert::rating(answer.rating) else {
                        continue;
                    };
                    // An item rates its department, or the jurisdiction as a whole.
                    let department = submitted
                        .items
                        .iter()
                        .find(|item| item.key == answer.item_key)
                        .map_or("", |item| item.department_id.as_str());
                    if let Some(mut fact) = fact(
                        format!("campaign:{}:{}", response.id, answer.item_key),
                        kind,
                        &submitted.jurisdiction_code,
                        department,
                        &response.id,
                        time,
                    ) {
                        fact.label = rating.as_str().to_owned();
                        out.push(Recorded::from(fact));
                    }
                }
            }
            EvaluationEvent::AssessmentSubmitted(submitted) => {
                if let Some(a) = submitted.assessment {
                    let time = micros(a.create_time.as_ref()).unwrap_or(fallback);
                    // It counts in the period it assesses and the periods holding it.
                    let periods = match Period::parse(&a.period) {
                        Ok(period) => Some(PeriodSet::of(period)),
                        Err(_) => PeriodSet::at(time),
                    };
                    if let Some(periods) = periods {
                        let score = if a.score.is_finite() {
                            a.score.clamp(0.0, 100.0)
                        } else {
                            0.0
                        };
                        out.push(Recorded {
                            fact: Fact {
                                id: format!("assessment:{}", a.id),
                                kind: FactKind::Assessment,
                                jurisdiction_code: a.jurisdiction_code.clone(),
                                department_id: a.department_id.clone(),
                                subject_id: a.id.clone(),
                                label: String::new(),
                                label2: String::new(),
                                flag: false,
                                amount: (score * 1000.0).round() as i64,
                                occur_time: time,
                                periods,
                            },
                            alerts: Vec::new(),
                            replaces: false,
                        });
                    }
                }
            }
            // A unit's performance is what enterprises said of it and how
            // rectifications ended; these steps count through those events.
            EvaluationEvent::ServiceRecordRegistered(_)
            | EvaluationEvent::RectificationOpened(_)
            | EvaluationEvent::RectificationSubmitted(_)
            | EvaluationEvent::RectificationDueRecounted(_)
            | EvaluationEvent::CampaignCreated(_)
            | EvaluationEvent::ViolationRecorded(_)
            | EvaluationEvent::SuspensionProposed(_)
            | EvaluationEvent::SuspensionDecided(_)
            | EvaluationEvent::CreditListingPut(_) => {}
        }
        Ok(out)
    }

    async fn policy(
        &self,
        conn: &mut AnyConnection,
        event: &Event,
        fallback: i64,
    ) -> Result<Vec<Recorded>, Error> {
        let mut out = Vec::new();
        let Some(event) = decode::<PolicyEvent>(event)? else {
            return Ok(out);
        };
        // Where a policy is and whose it is, kept for the events about it.
        let (policy, published) = match &event {
            PolicyEvent::PolicyCreated(e) => (e.policy.as_ref(), false),
            PolicyEvent::PolicyUpdated(e) => (e.policy.as_ref(), false),
            PolicyEvent::ConsultationOpened(e) => (e.policy.as_ref(), false),
            PolicyEvent::PolicyAmended(e) => (e.policy.as_ref(), false),
            PolicyEvent::PolicyRepealed(e) => (e.policy.as_ref(), false),
            PolicyEvent::PolicyPublished(e) => (e.policy.as_ref(), true),
            _ => (None, false),
        };
        if let Some(p) = policy {
            store::upsert_policy(conn, &p.id, &p.jurisdiction_code, &p.department_id).await?;
            if published {
                let time = micros(p.publish_time.as_ref()).unwrap_or(fallback);
                out.extend(
                    fact(
                        format!("published:{}:{}", p.id, p.version),
                        FactKind::PolicyPublished,
                        &p.jurisdiction_code,
                        &p.department_id,
                        &p.id,
                        time,
                    )
                    .map(Recorded::from),
                );
            }
            return Ok(out);
        }
        match event {
            PolicyEvent::CommentResponded(responded) => {
                let Some(comment) = responded.comment else {
                    return Ok(out);
                };
                let adopted = match policy::Disposition::try_from(comment.disposition) {
                    Ok(policy::Disposition::Adopted | policy::Disposition::PartlyAdopted) => true,
                    Ok(policy::Disposition::NotAdopted) => false,
                    _ => return Ok(out),
                };
                let (jurisdiction, department) =
                    match store::policy_of(conn, &comment.policy_id).await? {
                        Some(found) => found,
                        None => (
                            ids::jurisdiction_of(&comment.policy_id)
                                .unwrap_or_default()
                                .to_owned(),
                            String::new(),
                        ),
                    };
                let time = micros(comment.reply_time.as_ref()).unwrap_or(fallback);
                if let Some(mut fact) = fact(
                    format!("comment:{}", comment.id),
                    FactKind::CommentResponded,
                    &jurisdiction,
                    &department,
                    &comment.id,
                    time,
                ) {
                    fact.flag = adopted;
                    out.push(Recorded::from(fact));
                }
            }
            PolicyEvent::PolicyRated(rated) => {
                let Some(r) = rated.rating else {
                    return Ok(out);
                };
                let Some(rating) = convert::rating(r.rating) else {
                    return Ok(out);
                };
                let Some((jurisdiction, department)) = store::policy_of(conn, &r.policy_id).await?
                else {
                    return Ok(out);
                };
                // Counted when first given; a rating given again changes the
                // figure, not the period.
                let time = micros(r.create_time.as_ref()).unwrap_or(fallback);
                if let Some(mut fact) = fact(
                    format!("policy_rating:{}", r.id),
                    FactKind::PolicyRated,
                    &jurisdiction,
                    &department,
                    &r.policy_id,
                    time,
                ) {
                    fact.label = rating.as_str().to_owned();
                    out.push(Recorded {
                        replaces: true,
                        ..Recorded::from(fact)
                    });
                }
            }
            PolicyEvent::FulfillmentRecorded(recorded) => {
                if let Some(f) = recorded.fulfillment {
                    let time = micros(f.fulfill_time.as_ref())
                        .or_else(|| micros(f.create_time.as_ref()))
                        .unwrap_or(fallback);
                    if let Some(mut fact) = fact(
                        format!("fulfillment:{}", f.id),
                        FactKind::Fulfillment,
                        &f.jurisdiction_code,
                        &f.department_id,
                        &f.id,
                        time,
                    ) {
                        fact.amount = f.amount_fen.max(0);
                        out.push(Recorded::from(fact));
                    }
                }
            }
            // The policy's own changes were kept above; comments count when
            // answered, questions, pushes and inbox reads are no unit's score.
            PolicyEvent::PolicyCreated(_)
            | PolicyEvent::PolicyUpdated(_)
            | PolicyEvent::ConsultationOpened(_)
            | PolicyEvent::PolicyPublished(_)
            | PolicyEvent::PolicyAmended(_)
            | PolicyEvent::PolicyRepealed(_)
            | PolicyEvent::CommentSubmitted(_)
            | PolicyEvent::PolicyPushed(_)
            | PolicyEvent::InboxItemsRead(_)
            | PolicyEvent::QuestionAsked(_)
            | PolicyEvent::QuestionAnswered(_) => {}
        }
        Ok(out)
    }
}

/// Keeps the case as routing last told it, for the overview's overdue count.
async fn remember_case(
    conn: &mut AnyConnection,
    case: &routing::Case,
    fallback: i64,
) -> Result<(), Error> {
    let state = routing::CaseState::try_from(case.state).unwrap_or(routing::CaseState::Unspecified);
    let end_time = match state {
        routing::CaseState::Resolved => {
            Some(micros(case.resolve_time.as_ref()).unwrap_or(fallback))
        }
        routing::CaseState::Closed => Some(
            micros(case.resolve_time.as_ref())
                .or_else(|| micros(case.close_time.as_ref()))
                .unwrap_or(fallback),
        ),
        routing::CaseState::Rejected => Some(micros(case.update_time.as_ref()).unwrap_or(fallback)),
        _ => None,
    };
    store::upsert_case(
        conn,
        &CaseRow {
            id: case.id.clone(),
            jurisdiction_code: case.jurisdiction_code.clone(),
            department_id: case.department_id.clone(),
            deadline: micros(case.deadline.as_ref()),
            create_time: micros(case.create_time.as_ref()).unwrap_or(fallback),
            end_time,
            number: case.number.clone(),
        },
    )
    .await
}

impl EventHandler for SourceEvents {
    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            // Taken once, before the side tables; `record_facts` relies on it.
            store::lock_scores(conn, self.core.store.backend()).await?;
            let recorded = self.facts(conn, event).await?;
            let mut dirty = Dirty::new();
            self.core.record_facts(conn, recorded, &mut dirty).await?;
            self.dirty().extend(dirty);
            Ok(())
        })
    }

    fn finish<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            // Taken whole: a batch that failed before it finished left rankings
            // here that are ranked again now, which changes nothing.
            let dirty = std::mem::take(&mut *self.dirty());
            self.core.rerank_dirty(conn, dirty).await
        })
    }

    fn committed(&self) {
        // Alerts and board changes are events of scoring's own log.
        self.core.events.wake();
    }
}
