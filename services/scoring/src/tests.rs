//! Facts applied from decoded event messages of routing, evaluation and
//! policy (no network): counters, scorecards, rankings, alerts, replays and
//! the rebuild's equality with the incremental figures.

use std::sync::Arc;

use prost::Name;
use zhengqi_proto::zhengqi::common::v1::{EnterpriseRef, Event};
use zhengqi_proto::zhengqi::evaluation::v1 as evaluation;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::policy::v1 as policy;
use zhengqi_proto::zhengqi::routing::v1 as routing;
use zhengqi_shared::clock::Clock;
use zhengqi_shared::events::{EventHandler, EventLog};

use zhengqi_shared::storage::{Store, timestamp};

use crate::Core;
use crate::domain::facts::{UnitKey, metric};
use crate::domain::model;
use crate::domain::period::Period;
use crate::domain::{AlertKind, Board, UnitKind};
use crate::sources::{Source, SourceEvents};
use crate::store::{self, AlertFilter};
use crate::{FollowedDeployment, FollowedLog, Settings, followed_logs};

struct Fixture {
    core: Arc<Core>,
    _dir: tempfile::TempDir,
    sequence: u64,
}

/// 2026-11-`day` 10:00 in Beijing.
fn november(day: u32) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&format!("2026-11-{day:02}T10:00:00+08:00"))
        .unwrap()
        .timestamp_micros()
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("scoring.db"))
            .await
            .unwrap();
        store.migrate(&crate::MIGRATIONS).await.unwrap();
        let events = EventLog::new(store.clone());
        let core = Core::new(
            store,
            events,
            &zhengqi_shared::reference::Reference::embedded(),
            Arc::new(Clock::default()),
        )
        .unwrap();
        Fixture {
            core: Arc::new(core),
            _dir: dir,
            sequence: 0,
        }
    }

    async fn apply<M: Name>(&mut self, source: Source, message: &M) {
        self.sequence += 1;
        self.apply_at(source, self.sequence, message).await;
    }

    /// Applies `message` as the event `sequence` of a `source` log, as the
    /// consumer of one deployment's log does.
    async fn apply_at<M: Name>(&self, source: Source, sequence: u64, message: &M) {
        let event = Event {
            sequence,
            r#type: M::full_name(),
            subject_id: String::new(),
            jurisdiction_code: String::new(),
            payload: Some(prost_types::Any {
                type_url: M::type_url(),
                value: message.encode_to_vec(),
            }),
            create_time: Some(timestamp(november(20))),
        };
        let handler = SourceEvents::new(source, Arc::clone(&self.core));
        let mut tx = self.core.store.begin_write().await.unwrap();
        handler.apply(&mut tx, &event).await.unwrap();
        handler.finish(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
    }

    async fn metrics(
        &self,
        period: &str,
        kind: UnitKind,
        id: &str,
    ) -> crate::domain::facts::Metrics {
        let mut conn = self.core.store.pool().acquire().await.unwrap();
        store::metrics_of_unit(
            &mut conn,
            period,
            &UnitKey {
                kind,
                id: id.into(),
            },
        )
        .await
        .unwrap()
    }
}

fn case(id: &str, department: &str, opened: u32, deadline: u32) -> routing::Case {
    routing::Case {
        id: id.into(),
        number: format!("510821-202611{opened:02}-0001"),
        jurisdiction_code: "510821".into(),
        department_id: department.into(),
        state: routing::CaseState::Pending as i32,
        channel: intake::Channel::Hotline12345 as i32,
        category: intake::Category::Financing as i32,
        title: "融资".into(),
        deadline: Some(timestamp(november(deadline))),
        create_time: Some(timestamp(november(opened))),
        update_time: Some(timestamp(november(opened))),
        enterprise: Some(EnterpriseRef {
            uscc: "91350200776049653A".into(),
            name: "测试".into(),
        }),
        ..Default::default()
    }
}

/// `case` went from yellow to red (红灯督办).
fn went_red(mut case: routing::Case) -> routing::SupervisionChanged {
    case.supervision = routing::Supervision::Red as i32;
    routing::SupervisionChanged {
        case: Some(case),
        from_supervision: routing::Supervision::Yellow as i32,
        to_supervision: routing::Supervision::Red as i32,
    }
}

fn resolved(mut case: routing::Case, day: u32) -> routing::CaseTransitioned {
    case.state = routing::CaseState::Resolved as i32;
    case.outcome = routing::Outcome::Solved as i32;
    case.resolve_time = Some(timestamp(november(day)));
    case.update_time = case.resolve_time;
    routing::CaseTransitioned {
        case: Some(case),
        from_state: routing::CaseState::InProgress as i32,
        to_state: routing::CaseState::Resolved as i32,
        action: routing::CaseAction::Resolve as i32,
        ..Default::default()
    }
}

fn review(id: &str, department: &str, rating: evaluation::Rating, day: u32) -> evaluation::Review {
    evaluation::Review {
        id: id.into(),
        direction: evaluation::Direction::EnterpriseToDepartment as i32,
        target_kind: evaluation::TargetKind::Department as i32,
        target_id: department.into(),
        case_id: format!("case-of-{id}"),
        rating: rating as i32,
        state: evaluation::ReviewState::Submitted as i32,
        jurisdiction_code: "510821".into(),
        department_id: department.into(),
        invite_time: Some(timestamp(november(day))),
        submit_time: Some(timestamp(november(day + 1))),
        ..Default::default()
    }
}

/// Every source's events, as the three logs would deliver them.
async fn feed(fixture: &mut Fixture) {
    let a = case("510821-A", "510821-jrj", 2, 10);
    let b = case("510821-B", "510821-jrj", 3, 11);
    let c = case("510821-C", "510821-rsj", 4, 12);
    for opened in [&a, &b, &c] {
        fixture
            .apply(
                Source::Routing,
                &routing::CaseOpened {
                    case: Some(opened.clone()),
                    routing_rule_id: String::new(),
                },
            )
            .await;
    }
    fixture
        .apply(Source::Routing, &resolved(a.clone(), 9))
        .await;
    let mut red = b.clone();
    // With the department when its deadline passed.
    red.state = routing::CaseState::InProgress as i32;
    fixture.apply(Source::Routing, &went_red(red)).await;
    // Resolved late after going overdue: still due once, not on time.
    fixture
        .apply(Source::Routing, &resolved(b.clone(), 16))
        .await;
    fixture
        .apply(Source::Routing, &resolved(c.clone(), 5))
        .await;
    let mut returned = c.clone();
    returned.returns_count = 2;
    fixture
        .apply(
            Source::Routing,
            &routing::CaseTransitioned {
                case: Some(returned),
                action: routing::CaseAction::Return as i32,
                department_id: "510821-sfj".into(),
                ledger_sequence: 7,
                ..Default::default()
            },
        )
        .await;
    fixture
        .apply(
            Source::Routing,
            &routing::MeetingScheduled {
                meeting: Some(routing::Meeting {
                    id: "510800-M".into(),
                    jurisdiction_code: "510800".into(),
                    start_time: Some(timestamp(november(18))),
                    ..Default::default()
                }),
            },
        )
        .await;

    let bad = review(
        "510821-R1",
        "510821-jrj",
        evaluation::Rating::Dissatisfied,
        10,
    );
    let good = review(
        "510821-R2",
        "510821-rsj",
        evaluation::Rating::VerySatisfied,
        6,
    );
    for r in [&bad, &good] {
        let mut invited = r.clone();
        invited.state = evaluation::ReviewState::Invited as i32;
        invited.rating = 0;
        fixture
            .apply(
                Source::Evaluation,
                &evaluation::ReviewInvited {
                    review: Some(invited),
                },
            )
            .await;
        fixture
            .apply(
                Source::Evaluation,
                &evaluation::ReviewSubmitted {
                    review: Some(r.clone()),
                },
            )
            .await;
    }
    let rectification = evaluation::Rectification {
        id: "510821-X".into(),
        review_id: bad.id.clone(),
        jurisdiction_code: "510821".into(),
        department_id: "510821-jrj".into(),
        valid: true,
        state: evaluation::RectificationState::Rectifying as i32,
        create_time: Some(timestamp(november(11))),
        ..Default::default()
    };
    fixture
        .apply(
            Source::Evaluation,
            &evaluation::BadReviewVerified {
                rectification: Some(rectification.clone()),
            },
        )
        .await;
    fixture
        .apply(
            Source::Evaluation,
            &evaluation::ReturnVisitRecorded {
                rectification: Some(evaluation::Rectification {
                    state: evaluation::RectificationState::Closed as i32,
                    ..rectification
                }),
            },
        )
        .await;
    fixture
        .apply(
            Source::Evaluation,
            &evaluation::AssessmentSubmitted {
                assessment: Some(evaluation::Assessment {
                    id: "510821-S".into(),
                    jurisdiction_code: "510821".into(),
                    department_id: "510821-rsj".into(),
                    period: "2026-Q4".into(),
                    score: 86.5,
                    create_time: Some(timestamp(november(20))),
                    ..Default::default()
                }),
            },
        )
        .await;

    fixture
        .apply(
            Source::Policy,
            &policy::PolicyCreated {
                policy: Some(policy::Policy {
                    id: "510821-P".into(),
                    version: 1,
                    jurisdiction_code: "510821".into(),
                    department_id: "510821-fgw".into(),
                    ..Default::default()
                }),
            },
        )
        .await;
    fixture
        .apply(
            Source::Policy,
            &policy::CommentResponded {
                comment: Some(policy::Comment {
                    id: "510821-K".into(),
                    policy_id: "510821-P".into(),
                    disposition: policy::Disposition::PartlyAdopted as i32,
                    reply_time: Some(timestamp(november(12))),
                    ..Default::default()
                }),
            },
        )
        .await;
    fixture
        .apply(
            Source::Policy,
            &policy::FulfillmentRecorded {
                fulfillment: Some(policy::Fulfillment {
                    id: "510821-F".into(),
                    policy_id: "510821-P".into(),
                    jurisdiction_code: "510821".into(),
                    department_id: "510821-fgw".into(),
                    amount_fen: 1_000_000,
                    fulfill_time: Some(timestamp(november(13))),
                    ..Default::default()
                }),
            },
        )
        .await;
}

#[tokio::test]
async fn events_of_every_source_become_counters_of_departments_and_jurisdictions() {
    let mut fixture = Fixture::new().await;
    feed(&mut fixture).await;
    for period in ["2026", "2026-Q4", "2026-11"] {
        let jrj = fixture
            .metrics(period, UnitKind::Department, "510821-jrj")
            .await;
        assert_eq!(jrj[metric::DUE], 2, "{period}");
        assert_eq!(jrj[metric::ON_TIME], 1);
        assert_eq!(jrj[metric::OVERDUE], 1);
        assert_eq!(jrj[metric::RESOLVED], 2);
        assert_eq!(jrj[metric::REVIEWS], 1);
        assert_eq!(jrj[metric::BAD_REVIEWS], 1);
        assert_eq!(jrj[metric::VALID_BAD_REVIEWS], 1);
        assert_eq!(jrj[metric::RECTIFIED], 1);
        let county = fixture
            .metrics(period, UnitKind::Jurisdiction, "510821")
            .await;
        assert_eq!(county[metric::APPEALS], 3);
        assert_eq!(county["channel:HOTLINE_12345"], 3);
        assert_eq!(county[metric::DUE], 3);
        assert_eq!(county[metric::ON_TIME], 2);
        assert_eq!(county[metric::INVITED], 2);
        assert_eq!(county[metric::RATED_INVITATIONS], 2);
        assert_eq!(county[metric::COMMENTS_ADOPTED], 1);
        assert_eq!(county[metric::FULFILLMENT_FEN], 1_000_000);
        let sfj = fixture
            .metrics(period, UnitKind::Department, "510821-sfj")
            .await;
        assert_eq!(sfj[metric::RETURNS], 1);
        let fgw = fixture
            .metrics(period, UnitKind::Department, "510821-fgw")
            .await;
        assert_eq!(fgw[metric::COMMENTS_RESPONDED], 1);
        let city = fixture
            .metrics(period, UnitKind::Jurisdiction, "510800")
            .await;
        assert_eq!(city[metric::MEETINGS], 1);
    }
    // A quarter's assessment counts in the quarter and the year, not in a month.
    let rsj = fixture
        .metrics("2026-Q4", UnitKind::Department, "510821-rsj")
        .await;
    assert_eq!(rsj[metric::ASSESSMENT_MILLIPOINTS], 86_500);
    let rsj = fixture
        .metrics("2026-11", UnitKind::Department, "510821-rsj")
        .await;
    assert!(!rsj.contains_key(metric::ASSESSMENTS));
    assert!(
        fixture
            .metrics("2026-10", UnitKind::Department, "510821-jrj")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_replayed_log_adds_nothing_and_the_rebuild_equals_the_incremental_figures() {
    let mut fixture = Fixture::new().await;
    feed(&mut fixture).await;
    let before = fixture
        .metrics("2026", UnitKind::Jurisdiction, "510821")
        .await;
    feed(&mut fixture).await;
    assert_eq!(
        fixture
            .metrics("2026", UnitKind::Jurisdiction, "510821")
            .await,
        before
    );

    for period in ["2026", "2026-Q4", "2026-11", "2026-10"] {
        let mut tx = fixture.core.store.begin_write().await.unwrap();
        let rebuilt = fixture
            .core
            .rebuild(&mut tx, Period::parse(period).unwrap())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(
            rebuilt.mismatched_unit_ids.is_empty(),
            "{period}: {rebuilt:?}"
        );
    }

    // A counter changed behind the facts' back is found and repaired.
    sqlx::query("UPDATE sc_aggregates SET value = value + 5 WHERE period = '2026' AND unit_id = '510821-rsj' AND metric = 'due'")
        .execute(fixture.core.store.pool())
        .await
        .unwrap();
    let mut tx = fixture.core.store.begin_write().await.unwrap();
    let rebuilt = fixture
        .core
        .rebuild(&mut tx, Period::Year(2026))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rebuilt.mismatched_unit_ids, ["510821-rsj"]);
    assert_eq!(
        fixture
            .metrics("2026", UnitKind::Department, "510821-rsj")
            .await[metric::DUE],
        1
    );
}

#[tokio::test]
async fn rankings_put_the_punctual_department_first_leave_the_idle_unranked_and_raise_notices() {
    let mut fixture = Fixture::new().await;
    feed(&mut fixture).await;
    let mut conn = fixture.core.store.pool().acquire().await.unwrap();
    let ranking = store::scores_of_group(&mut conn, "2026-11", UnitKind::Department, "510821")
        .await
        .unwrap();
    let order: Vec<_> = ranking
        .iter()
        .map(|s| (s.unit_id.as_str(), s.rank, s.board))
        .collect();
    // Departments with nothing to measure (no case due) are listed after the
    // ranked ones, not ranked, rather than at the top with full marks.
    assert_eq!(
        order,
        [
            ("510821-rsj", 1, Board::Red),
            ("510821-jrj", 2, Board::Black),
            ("510821-fgw", 0, Board::None),
            ("510821-sfj", 0, Board::None),
        ],
    );
    for idle in &ranking[2..] {
        let reason = &idle.not_ranked_reason;
        assert!(
            reason.contains("nothing to measure") || reason.contains("too few cases: 0"),
            "{reason}"
        );
    }
    assert_eq!(ranking[0].ranked_units, 2);
    let jrj = ranking.iter().find(|s| s.unit_id == "510821-jrj").unwrap();
    let rsj = ranking.iter().find(|s| s.unit_id == "510821-rsj").unwrap();
    assert!(rsj.total > jrj.total);

    let model = model::Model::default_model();
    let metrics = fixture
        .metrics("2026-11", UnitKind::Department, "510821-jrj")
        .await;
    let score = model::score(&model, UnitKind::Department, &metrics);
    assert!((score.total - jrj.total).abs() < 1e-9);
    let on_time = score
        .indicators
        .iter()
        .find(|i| i.key == "on_time_rate")
        .unwrap();
    assert_eq!((on_time.numerator, on_time.denominator), (1.0, 2.0));

    let alerts = store::list_alerts(&mut conn, &AlertFilter::default(), 100)
        .await
        .unwrap();
    let kinds = |kind: AlertKind| alerts.iter().filter(|a| a.kind == kind).collect::<Vec<_>>();
    let bad = kinds(AlertKind::BadReviewNotice);
    assert_eq!(bad.len(), 1, "{alerts:?}");
    assert_eq!(bad[0].unit_id, "510821-jrj");
    assert_eq!(bad[0].period, "2026-11");
    let inaction: Vec<_> = kinds(AlertKind::InactionNotice)
        .into_iter()
        .map(|a| a.unit_id.clone())
        .collect();
    assert_eq!(inaction.len(), 2, "{inaction:?}");
    assert!(inaction.contains(&"510821-jrj".to_owned()));
    assert!(inaction.contains(&"510821".to_owned()));
    let events = fixture.core.events.read_after(0, 1000).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.r#type == "zhengqi.scoring.v1.BoardChanged")
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.r#type == "zhengqi.scoring.v1.AlertRaised")
            .count(),
        3
    );
}

#[tokio::test]
async fn the_bottom_unit_two_periods_running_has_its_leader_called_in() {
    let mut fixture = Fixture::new().await;
    // November, then October's late facts: jrj late both months, rsj on time;
    // November's streak counts October's once it arrives.
    for (month, day) in [(11, 8), (10, 8)] {
        let at = |d: u32| {
            chrono::DateTime::parse_from_rfc3339(&format!("2026-{month:02}-{d:02}T10:00:00+08:00"))
                .unwrap()
                .timestamp_micros()
        };
        for (id, department, resolve) in
            [("L", "510821-jrj", day + 5), ("P", "510821-rsj", day - 1)]
        {
            let mut c = case(&format!("510821-{id}{month}"), department, 1, 1);
            c.create_time = Some(timestamp(at(2)));
            c.deadline = Some(timestamp(at(day)));
            let mut t = resolved(c, 1);
            let resolved_case = t.case.as_mut().unwrap();
            resolved_case.resolve_time = Some(timestamp(at(resolve)));
            fixture.apply(Source::Routing, &t).await;
        }
    }
    let mut conn = fixture.core.store.pool().acquire().await.unwrap();
    let november = store::scores_of_group(&mut conn, "2026-11", UnitKind::Department, "510821")
        .await
        .unwrap();
    let jrj = november.iter().find(|s| s.unit_id == "510821-jrj").unwrap();
    assert_eq!((jrj.board, jrj.black_streak), (Board::Black, 2));
    let interviews = store::list_alerts(
        &mut conn,
        &AlertFilter {
            kind: Some(AlertKind::LeaderInterview),
            ..Default::default()
        },
        10,
    )
    .await
    .unwrap();
    assert_eq!(interviews.len(), 1, "{interviews:?}");
    assert_eq!(interviews[0].unit_id, "510821-jrj");
    assert_eq!(interviews[0].period, "2026-11");
    // The interview rests on its black-board entries, listed with their periods.
    assert_eq!(
        interviews[0].fact_ids,
        ["2026-10/510821-jrj", "2026-11/510821-jrj"]
    );
    let listed = crate::api::ScoringApi::new(Arc::clone(&fixture.core))
        .rankings(
            &zhengqi_shared::auth::Principal {
                sub: "coordinator@510821".into(),
                roles: vec![zhengqi_shared::auth::Role::Coordinator],
                jurisdiction: Some("510821".into()),
                department: None,
                uscc: None,
                name: None,
                expires_at: i64::MAX,
            },
            zhengqi_proto::zhengqi::scoring::v1::ListRankingsRequest {
                period: "2026-11".into(),
                unit_kind: zhengqi_proto::zhengqi::scoring::v1::UnitKind::Department as i32,
                jurisdiction_code: "510821".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // Each unit's trend: the last periods it was scored in, oldest first.
    let jrj = listed
        .rankings
        .iter()
        .find(|r| r.unit_id == "510821-jrj")
        .unwrap();
    let trend: Vec<_> = jrj
        .trend
        .iter()
        .map(|t| (t.period.as_str(), t.rank))
        .collect();
    assert_eq!(trend, [("2026-10", 2), ("2026-11", 2)]);
    assert_eq!(jrj.previous_rank, 2);
}

#[test]
fn each_deployments_logs_have_cursors_of_their_own_and_the_own_keep_their_names() {
    let settings = Settings {
        routing_url: Some("http://routing".into()),
        evaluation_url: Some("http://evaluation".into()),
        policy_url: Some("http://policy".into()),
        deployments: vec![FollowedDeployment {
            name: "wangcang".into(),
            routing_url: Some("http://routing.wangcang".into()),
            evaluation_url: None,
            policy_url: Some("http://policy.wangcang".into()),
        }],
        ..Settings::default()
    };
    let followed: Vec<_> = followed_logs(&settings)
        .into_iter()
        .map(
            |FollowedLog {
                 cursor, endpoint, ..
             }| (cursor, endpoint),
        )
        .collect();
    let pair = |cursor: &str, endpoint: &str| (cursor.to_owned(), endpoint.to_owned());
    // The county without an evaluation address: its reviews are not followed.
    assert_eq!(
        followed,
        [
            pair("routing", "http://routing"),
            pair("evaluation", "http://evaluation"),
            pair("policy", "http://policy"),
            pair("routing@wangcang", "http://routing.wangcang"),
            pair("policy@wangcang", "http://policy.wangcang"),
        ]
    );
}

#[tokio::test]
async fn the_same_numbers_from_two_deployments_make_two_facts_and_a_redelivered_event_one() {
    let fixture = Fixture::new().await;
    // The city's deployment and 旺苍县's each number their events and their
    // jurisdictions' ledgers from 1: both logs deliver event 1, a return at
    // ledger position 3.
    let county_case = case("510821-01JDWANGCANG", "510821-jrj", 2, 10);
    let city_case = routing::Case {
        jurisdiction_code: "510822".into(),
        ..case("510822-01JDQINGCHUAN", "510822-jrj", 2, 10)
    };
    let returned = |case: &routing::Case| {
        let mut case = case.clone();
        case.returns_count = 1;
        routing::CaseTransitioned {
            department_id: case.department_id.clone(),
            case: Some(case),
            action: routing::CaseAction::Return as i32,
            ledger_sequence: 3,
            ..Default::default()
        }
    };
    for case in [&county_case, &city_case] {
        let opened = routing::CaseOpened {
            case: Some(case.clone()),
            routing_rule_id: String::new(),
        };
        fixture.apply_at(Source::Routing, 1, &opened).await;
        fixture.apply_at(Source::Routing, 2, &returned(case)).await;
    }
    // The county's log delivered again from the start (a cursor lost).
    fixture
        .apply_at(
            Source::Routing,
            1,
            &routing::CaseOpened {
                case: Some(county_case.clone()),
                routing_rule_id: String::new(),
            },
        )
        .await;
    fixture
        .apply_at(Source::Routing, 2, &returned(&county_case))
        .await;

    let returns: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sc_facts WHERE id LIKE 'returned:%'")
            .fetch_one(fixture.core.store.pool())
            .await
            .unwrap();
    assert_eq!(returns, 2);
    for (jurisdiction, department) in [("510821", "510821-jrj"), ("510822", "510822-jrj")] {
        let unit = fixture
            .metrics("2026-11", UnitKind::Jurisdiction, jurisdiction)
            .await;
        assert_eq!(unit[metric::APPEALS], 1, "{jurisdiction}");
        let department = fixture
            .metrics("2026-11", UnitKind::Department, department)
            .await;
        assert_eq!(department[metric::RETURNS], 1, "{jurisdiction}");
    }
}

#[tokio::test]
async fn lateness_counts_against_whoever_held_the_case_when_its_deadline_passed() {
    let mut fixture = Fixture::new().await;
    // Still PENDING at the county's office when it went red: a department is
    // proposed for it but never had it.
    let pending = case("510821-P", "510821-jrj", 2, 10);
    fixture.apply(Source::Routing, &went_red(pending)).await;
    assert!(
        fixture
            .metrics("2026-11", UnitKind::Department, "510821-jrj")
            .await
            .is_empty(),
        "nothing against the department it was never assigned to"
    );
    assert_eq!(
        fixture
            .metrics("2026-11", UnitKind::Jurisdiction, "510821")
            .await[metric::OVERDUE],
        1
    );
    let mut conn = fixture.core.store.pool().acquire().await.unwrap();
    let alerts = store::list_alerts(&mut conn, &AlertFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        (alerts[0].kind, alerts[0].unit_id.as_str()),
        (AlertKind::InactionNotice, "510821")
    );
}

/// A review of a service window of `department`, for the visit `record` (none
/// when empty), given on 2026-11-`day`.
fn window_review(
    id: &str,
    department: &str,
    record: &str,
    rating: evaluation::Rating,
    day: u32,
) -> evaluation::ReviewSubmitted {
    evaluation::ReviewSubmitted {
        review: Some(evaluation::Review {
            direction: evaluation::Direction::EnterpriseToWindow as i32,
            target_kind: evaluation::TargetKind::ServiceWindow as i32,
            target_id: format!("{department}-01"),
            case_id: String::new(),
            service_record_id: record.into(),
            invite_time: None,
            ..review(id, department, rating, day)
        }),
    }
}

#[tokio::test]
async fn reviews_count_only_from_enterprises_that_had_business_and_make_no_phantom_unit() {
    let mut fixture = Fixture::new().await;
    // Three self-posted reviews of a window, naming no visit: nothing counts.
    for n in 1..=3 {
        let bought = window_review(
            &format!("510821-W{n}"),
            "510821-jrj",
            "",
            evaluation::Rating::VerySatisfied,
            5,
        );
        fixture.apply(Source::Evaluation, &bought).await;
    }
    // A department review without its case counts for nothing either.
    let caseless = evaluation::ReviewSubmitted {
        review: Some(evaluation::Review {
            case_id: String::new(),
            ..review(
                "510821-D1",
                "510821-jrj",
                evaluation::Rating::VerySatisfied,
                5,
            )
        }),
    };
    fixture.apply(Source::Evaluation, &caseless).await;
    assert!(
        fixture
            .metrics("2026-11", UnitKind::Department, "510821-jrj")
            .await
            .is_empty()
    );
    // A review for a registered visit counts, once.
    let visited = window_review(
        "510821-W4",
        "510821-xzsp",
        "510821-S1",
        evaluation::Rating::Satisfied,
        5,
    );
    fixture.apply(Source::Evaluation, &visited).await;
    fixture.apply(Source::Evaluation, &visited).await;
    let xzsp = fixture
        .metrics("2026-11", UnitKind::Department, "510821-xzsp")
        .await;
    assert_eq!(xzsp[metric::REVIEWS], 1);
    assert_eq!(xzsp[metric::SATISFIED], 1);
    // A department the directory does not know never becomes a unit: the
    // review counts for its county alone.
    let phantom = window_review(
        "510821-W5",
        "510821-window",
        "510821-S2",
        evaluation::Rating::VerySatisfied,
        5,
    );
    fixture.apply(Source::Evaluation, &phantom).await;
    assert!(
        fixture
            .metrics("2026-11", UnitKind::Department, "510821-window")
            .await
            .is_empty()
    );
    assert_eq!(
        fixture
            .metrics("2026-11", UnitKind::Jurisdiction, "510821")
            .await[metric::REVIEWS],
        2
    );
    let mut conn = fixture.core.store.pool().acquire().await.unwrap();
    let ranking = store::scores_of_group(&mut conn, "2026-11", UnitKind::Department, "510821")
        .await
        .unwrap();
    assert!(
        ranking.iter().all(|s| s.unit_id != "510821-window"),
        "{ranking:?}"
    );
}

#[tokio::test]
async fn campaign_answers_and_policy_ratings_feed_their_indicators() {
    let mut fixture = Fixture::new().await;
    let answer = |key: &str, rating: evaluation::Rating| evaluation::CampaignAnswer {
        item_key: key.into(),
        rating: rating as i32,
        comment: String::new(),
    };
    let response =
        |id: &str, ratings: [evaluation::Rating; 2]| evaluation::CampaignResponseSubmitted {
            response: Some(evaluation::CampaignResponse {
                id: id.into(),
                campaign_id: "510821-C".into(),
                answers: vec![answer("scjg", ratings[0]), answer("overall", ratings[1])],
                create_time: Some(timestamp(november(6))),
                ..Default::default()
            }),
            jurisdiction_code: "510821".into(),
            kind: evaluation::CampaignKind::LawEnforcement as i32,
            items: vec![
                evaluation::CampaignItem {
                    key: "scjg".into(),
                    text: "市场监管执法".into(),
                    department_id: "510821-scjg".into(),
                },
                evaluation::CampaignItem {
                    key: "overall".into(),
                    text: "总体".into(),
                    department_id: String::new(),
                },
            ],
        };
    use evaluation::Rating::{Dissatisfied, Satisfied, VerySatisfied};
    fixture
        .apply(
            Source::Evaluation,
            &response("510821-R1", [Satisfied, VerySatisfied]),
        )
        .await;
    fixture
        .apply(
            Source::Evaluation,
            &response("510821-R2", [Dissatisfied, Satisfied]),
        )
        .await;
    let scjg = fixture
        .metrics("2026-11", UnitKind::Department, "510821-scjg")
        .await;
    assert_eq!(scjg[metric::ENFORCEMENT_ANSWERS], 2);
    assert_eq!(scjg[metric::ENFORCEMENT_SATISFIED], 1);
    let county = fixture
        .metrics("2026-11", UnitKind::Jurisdiction, "510821")
        .await;
    assert_eq!(county[metric::ENFORCEMENT_ANSWERS], 4);
    assert_eq!(county[metric::ENFORCEMENT_SATISFIED], 3);

    // A policy rating counts for the department that answers for the
    // policy; rated again, the second takes the first one's place.
    let published = policy::PolicyPublished {
        policy: Some(policy::Policy {
            id: "510821-P".into(),
            version: 1,
            jurisdiction_code: "510821".into(),
            department_id: "510821-fgw".into(),
            publish_time: Some(timestamp(november(1))),
            ..Default::default()
        }),
        ..Default::default()
    };
    fixture.apply(Source::Policy, &published).await;
    let rated = |rating: evaluation::Rating, day: u32| policy::PolicyRated {
        rating: Some(policy::PolicyRating {
            id: "510821-PR1".into(),
            policy_id: "510821-P".into(),
            policy_version: 1,
            rating: rating as i32,
            create_time: Some(timestamp(november(7))),
            update_time: Some(timestamp(november(day))),
            ..Default::default()
        }),
    };
    fixture.apply(Source::Policy, &rated(Dissatisfied, 7)).await;
    let fgw = fixture
        .metrics("2026-11", UnitKind::Department, "510821-fgw")
        .await;
    assert_eq!(fgw[metric::POLICY_RATINGS], 1);
    assert_eq!(fgw[metric::POLICY_SATISFIED], 0);
    fixture.apply(Source::Policy, &rated(Satisfied, 9)).await;
    fixture.apply(Source::Policy, &rated(Satisfied, 9)).await;
    let fgw = fixture
        .metrics("2026-11", UnitKind::Department, "510821-fgw")
        .await;
    assert_eq!(fgw[metric::POLICY_RATINGS], 1);
    assert_eq!(fgw[metric::POLICY_SATISFIED], 1);

    // The shipped model weighs them; the scorecards show them applicable.
    let model = model::Model::default_model();
    let indicator = |metrics: &crate::domain::facts::Metrics, key: &str| {
        model::score(&model, UnitKind::Department, metrics)
            .indicators
            .into_iter()
            .find(|i| i.key == key)
            .unwrap()
    };
    let enforcement = indicator(&scjg, "enforcement_satisfaction_rate");
    assert!(enforcement.applicable && enforcement.weight > 0.0);
    assert_eq!((enforcement.numerator, enforcement.denominator), (1.0, 2.0));
    let policy_rating = indicator(&fgw, "policy_satisfaction_rate");
    assert!(policy_rating.applicable && policy_rating.weight > 0.0);
    assert_eq!(
        (policy_rating.numerator, policy_rating.denominator),
        (1.0, 1.0)
    );

    // The rebuilt figures are the incremental ones.
    for period in ["2026", "2026-11"] {
        let mut tx = fixture.core.store.begin_write().await.unwrap();
        let rebuilt = fixture
            .core
            .rebuild(&mut tx, Period::parse(period).unwrap())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(
            rebuilt.mismatched_unit_ids.is_empty(),
            "{period}: {rebuilt:?}"
        );
    }
}

mod recompute_property {
    //! `Recompute` (the store's grouped rebuild) equals the incremental
    //! figures over random fact histories: replays, ratings given again,
    //! departments unknown to the directory, every kind of fact.

    use proptest::prelude::*;

    use super::*;
    use crate::domain::facts::{Fact, FactKind};
    use crate::domain::period::PeriodSet;
    use crate::engine::{Dirty, Recorded};

    const DEPARTMENTS: [&str; 5] = [
        "510821-jrj",
        "510821-rsj",
        "510822-jrj",
        "510821-window",
        "",
    ];
    const LABELS: [&str; 6] = [
        "SATISFIED",
        "VERY_DISSATISFIED",
        "BASIC_SATISFIED",
        "HOTLINE_12345",
        "FINANCING",
        "",
    ];

    fn any_fact() -> impl Strategy<Value = (Fact, bool)> {
        (
            0..FactKind::ALL.len(),
            0..DEPARTMENTS.len(),
            0..LABELS.len(),
            0..LABELS.len(),
            any::<bool>(),
            0i64..1_000_000,
            // Any time of 2026 (China time), and a few ids so some repeat.
            1_767_196_800_000_000i64..1_798_732_800_000_000,
            0u32..40,
            any::<bool>(),
        )
            .prop_map(
                |(kind, department, label, label2, flag, amount, time, id, replaces)| {
                    let kind = FactKind::ALL[kind];
                    let department = DEPARTMENTS[department];
                    let jurisdiction = if department.is_empty() {
                        "510800"
                    } else {
                        &department[..6]
                    };
                    let fact = Fact {
                        id: format!("{}:{id}", kind.as_str()),
                        kind,
                        jurisdiction_code: jurisdiction.to_owned(),
                        department_id: department.to_owned(),
                        subject_id: format!("s{id}"),
                        label: LABELS[label].to_owned(),
                        label2: LABELS[label2].to_owned(),
                        flag,
                        amount,
                        occur_time: time,
                        periods: PeriodSet::at(time).expect("a time of 2026"),
                    };
                    (fact, replaces && kind == FactKind::PolicyRated)
                },
            )
    }

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64u32)
            .min(100)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases()))]

        #[test]
        fn recompute_equals_the_incremental_figures(
            batches in prop::collection::vec(prop::collection::vec(any_fact(), 1..12), 1..6),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let mismatched = runtime.block_on(async {
                let fixture = Fixture::new().await;
                for batch in batches {
                    let mut tx = fixture.core.store.begin_write().await.unwrap();
                    store::lock_scores(&mut tx, fixture.core.store.backend()).await.unwrap();
                    let mut dirty = Dirty::new();
                    let recorded = batch
                        .into_iter()
                        .map(|(fact, replaces)| Recorded { replaces, ..Recorded::from(fact) })
                        .collect();
                    fixture.core.record_facts(&mut tx, recorded, &mut dirty).await.unwrap();
                    fixture.core.rerank_dirty(&mut tx, dirty).await.unwrap();
                    tx.commit().await.unwrap();
                }
                let mut mismatched = Vec::new();
                for period in ["2026", "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4", "2026-01", "2026-06", "2026-12"] {
                    let mut tx = fixture.core.store.begin_write().await.unwrap();
                    let rebuilt = fixture.core.rebuild(&mut tx, Period::parse(period).unwrap()).await.unwrap();
                    tx.commit().await.unwrap();
                    mismatched.extend(rebuilt.mismatched_unit_ids.into_iter().map(|u| format!("{period}: {u}")));
                }
                mismatched
            });
            prop_assert!(mismatched.is_empty(), "{mismatched:?}");
        }
    }
}
