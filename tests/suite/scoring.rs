//! Scoring through the gateway: appeals submitted through intake and cases
//! walked through routing become each department's scorecard, the rankings
//! with their boards, notices and the overview; a rebuild from the facts
//! equals the incremental figures; models are validated; scope holds.

use std::sync::Arc;
use std::time::Duration;

use crate::common::cases::*;
use crate::common::*;
use tonic::Code;
use tonic::transport::Channel;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::scoring::v1 as scoring;
use zhengqi_proto::zhengqi::scoring::v1::scoring_service_client::ScoringServiceClient;
use zhengqi_shared::auth::Role;
use zhengqi_shared::clock::{self, Clock};
use zhengqi_shared::reference::Calendar;
use zhengqi_shared::storage::micros_of;

async fn scores(suite: &TestSuite) -> ScoringServiceClient<Channel> {
    ScoringServiceClient::new(suite.channel().await)
}

async fn scorecard(suite: &TestSuite, unit_id: &str, period: &str) -> scoring::Scorecard {
    scores(suite)
        .await
        .get_scorecard(authed(
            scoring::GetScorecardRequest {
                unit_id: unit_id.into(),
                period: period.into(),
            },
            &suite.city_coordinator_token(),
        ))
        .await
        .expect("the city reads the scorecard")
        .into_inner()
}

fn indicator<'a>(card: &'a scoring::Scorecard, key: &str) -> &'a scoring::IndicatorScore {
    card.indicators
        .iter()
        .find(|i| i.key == key)
        .unwrap_or_else(|| panic!("no {key} on {card:?}"))
}

/// Polls (up to fifteen seconds) until the scorecard satisfies `wanted`.
async fn scorecard_until(
    suite: &TestSuite,
    unit_id: &str,
    period: &str,
    wanted: impl Fn(&scoring::Scorecard) -> bool,
) -> scoring::Scorecard {
    poll_until(
        300,
        "scoring never caught up",
        async || scorecard(suite, unit_id, period).await,
        wanted,
    )
    .await
}

/// The ranking of 510821's departments in `period`, first page.
fn department_ranking(period: &str) -> scoring::ListRankingsRequest {
    scoring::ListRankingsRequest {
        period: period.into(),
        unit_kind: scoring::UnitKind::Department as i32,
        jurisdiction_code: "510821".into(),
        ..Default::default()
    }
}

/// The year of an instant in China time, as a period.
fn year_of(micros: i64) -> String {
    clock::beijing_date(micros).format("%Y").to_string()
}

#[tokio::test]
async fn cases_walked_through_routing_become_scorecards_rankings_notices_and_the_overview() {
    let clock = Arc::new(Clock::default());
    let suite = TestSuite::start_with(|options| {
        options.routing.clock = Arc::clone(&clock);
        options.routing.supervision.sweep_interval = Duration::from_millis(50);
        options.scoring.clock = Arc::clone(&clock);
    })
    .await;
    let mut portal = appeal("s-1", USCC_A, "510821", "流动资金贷款审批慢");
    portal.channel = intake::Channel::OnlinePortal as i32;
    let mut hotline = appeal("s-2", USCC_B, "510821", "出口退税到账时间长");
    hotline.channel = intake::Channel::Hotline12345 as i32;
    let mut employment = appeal("s-3", USCC_C, "510821", "员工社保缴纳政策咨询");
    employment.channel = intake::Channel::Hotline12345 as i32;
    employment.category = intake::Category::Employment as i32;
    let portal = submit(&suite, portal).await;
    let hotline = submit(&suite, hotline).await;
    let employment = submit(&suite, employment).await;
    let on_time = case_of(&suite, &portal.id).await;
    let late = case_of(&suite, &hotline.id).await;
    let other = case_of(&suite, &employment.id).await;
    assert_eq!(on_time.department_id, "510821-jrj");
    assert_eq!(other.department_id, "510821-rsj");

    // Two cases resolved in time; the third is signed for and left to run late.
    walk_to_resolved(&suite, &on_time, "510821-jrj").await;
    walk_to_resolved(&suite, &other, "510821-rsj").await;
    let open = walk_to_in_progress(&suite, &late, "510821-jrj").await;
    let due = micros_of(open.deadline.as_ref().expect("a deadline"));
    let period = year_of(due);
    let calendar = Calendar::official();
    let next_working_day = calendar
        .add_working_days(clock::beijing_date(due), 1)
        .unwrap();
    clock.set(clock::end_of_day(next_working_day) - 12 * 3_600_000_000);

    // Scoring follows routing: the overdue case counts against the department.
    let jrj = scorecard_until(&suite, "510821-jrj", &period, |card| {
        let on_time = indicator(card, "on_time_rate");
        on_time.denominator == 2.0 && indicator(card, "overdue_count").raw_value == 1.0
    })
    .await;
    let on_time_rate = indicator(&jrj, "on_time_rate");
    assert_eq!(on_time_rate.numerator, 1.0);
    assert_eq!(on_time_rate.raw_value, 0.5);
    assert!((on_time_rate.contribution - on_time_rate.weight * 0.5).abs() < 1e-9);
    assert_eq!(jrj.unit_kind, scoring::UnitKind::Department as i32);
    assert_eq!(jrj.jurisdiction_code, "510821");
    assert_eq!(jrj.unit_name, "旺苍县地方金融监督管理局");
    // The total is re-based on the indicators that had something to measure:
    // with no review yet, the review indicators neither earn nor cost.
    let applicable = jrj.indicators.iter().filter(|i| i.applicable);
    let earned: f64 = applicable.clone().map(|i| i.contribution).sum();
    let weights: f64 = applicable.map(|i| i.weight).sum();
    assert!((jrj.total - 100.0 * earned / weights).abs() < 1e-9);
    let satisfaction = indicator(&jrj, "satisfaction_rate");
    assert!(!satisfaction.applicable && satisfaction.contribution == 0.0);
    assert!(indicator(&jrj, "overdue_count").applicable);
    let rsj = scorecard_until(&suite, "510821-rsj", &period, |card| {
        indicator(card, "on_time_rate").denominator == 1.0
    })
    .await;
    assert_eq!(indicator(&rsj, "on_time_rate").raw_value, 1.0);
    assert!(rsj.total > jrj.total, "{} vs {}", rsj.total, jrj.total);
    assert_eq!((rsj.rank, jrj.rank), (1, 2));
    assert_eq!(jrj.ranked_units, 2);
    assert_eq!(rsj.board, scoring::Board::Red as i32);
    assert_eq!(jrj.board, scoring::Board::Black as i32);

    let mut client = scores(&suite).await;
    let rankings = client
        .list_rankings(authed(
            department_ranking(&period),
            &suite.official_token(Role::Leader, "510821"),
        ))
        .await
        .expect("the county's leader reads its ranking")
        .into_inner();
    let order: Vec<_> = rankings
        .rankings
        .iter()
        .map(|r| {
            (
                r.unit_id.as_str(),
                r.rank,
                r.board,
                r.black_board_streak,
                r.previous_rank,
            )
        })
        .collect();
    // The first ranked year: one period on the black board, no previous rank.
    assert_eq!(
        order,
        [
            ("510821-rsj", 1, scoring::Board::Red as i32, 0, 0),
            ("510821-jrj", 2, scoring::Board::Black as i32, 1, 0)
        ]
    );
    // One per page: the token leads to the second.
    let first = client
        .list_rankings(authed(
            scoring::ListRankingsRequest {
                page_size: 1,
                ..department_ranking(&period)
            },
            &suite.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.rankings.len(), 1, "{first:?}");
    assert_eq!(first.rankings[0].unit_id, "510821-rsj");
    let second = client
        .list_rankings(authed(
            scoring::ListRankingsRequest {
                page_size: 1,
                page_token: first.next_page_token.clone(),
                ..department_ranking(&period)
            },
            &suite.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.rankings.len(), 1, "{second:?}");
    assert_eq!(second.rankings[0].unit_id, "510821-jrj");
    assert!(second.next_page_token.is_empty());
    let counties = client
        .list_rankings(authed(
            scoring::ListRankingsRequest {
                period: period.clone(),
                unit_kind: scoring::UnitKind::Jurisdiction as i32,
                ..Default::default()
            },
            &suite.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(counties.rankings.len(), 1);
    assert_eq!(counties.rankings[0].unit_id, "510821");

    // The overdue case is an inaction notice against the department.
    let alerts = client
        .list_alerts(authed(
            scoring::ListAlertsRequest {
                period: period.clone(),
                kind: scoring::AlertKind::InactionNotice as i32,
                ..Default::default()
            },
            &suite.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner()
        .alerts;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].unit_id, "510821-jrj");
    assert_eq!(alerts[0].fact_ids, std::slice::from_ref(&late.id));
    // The case behind the notice, by its acceptance number.
    assert_eq!(alerts[0].case_numbers.get(&late.id), Some(&late.number));

    // Every number traceable: the on-time rate's 1 / 2 are these two cases,
    // newest first, by acceptance number, one page at a time.
    let facts = |page_token: String| scoring::ListIndicatorFactsRequest {
        unit_id: "510821-jrj".into(),
        period: period.clone(),
        indicator_key: "on_time_rate".into(),
        page_size: 1,
        page_token,
    };
    let leader = suite.official_token(Role::Leader, "510821");
    let first = client
        .list_indicator_facts(authed(facts(String::new()), &leader))
        .await
        .expect("the county's leader traces its department's figure")
        .into_inner();
    let second = client
        .list_indicator_facts(authed(facts(first.next_page_token.clone()), &leader))
        .await
        .unwrap()
        .into_inner();
    assert!(second.next_page_token.is_empty());
    let mut traced: Vec<_> = first
        .facts
        .iter()
        .chain(&second.facts)
        .map(|f| {
            (
                f.case_number.as_str(),
                f.kind.as_str(),
                f.in_numerator,
                f.in_denominator,
            )
        })
        .collect();
    traced.sort();
    let mut expected = vec![
        (on_time.number.as_str(), "CASE_DUE", true, true),
        (late.number.as_str(), "CASE_DUE", false, true),
    ];
    expected.sort();
    assert_eq!(traced, expected);
    // Another county's leader may not (nor learn that the unit exists); an
    // unknown indicator is named.
    let status = client
        .list_indicator_facts(authed(
            facts(String::new()),
            &suite.official_token(Role::Leader, "510822"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = client
        .list_indicator_facts(authed(
            scoring::ListIndicatorFactsRequest {
                indicator_key: "made_up".into(),
                ..facts(String::new())
            },
            &leader,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["indicator_key"]);
    // Over HTTP/JSON, as the portal reads it.
    let body = reqwest::Client::new()
        .get(format!(
            "{}/v1/scorecards/510821-jrj/indicators/overdue_count/facts?period={period}",
            suite.gateway()
        ))
        .header("authorization", format!("Bearer {leader}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        answer["facts"][0]["caseNumber"],
        late.number.as_str(),
        "{answer}"
    );
    assert_eq!(answer["facts"][0]["kind"], "CASE_OVERDUE", "{answer}");

    // The county's overview counts the appeals by channel and category.
    let created = year_of(micros_of(portal.create_time.as_ref().unwrap()));
    let overview = client
        .get_overview(authed(
            scoring::GetOverviewRequest {
                jurisdiction_code: "510821".into(),
                period: created.clone(),
            },
            &suite.official_token(Role::Leader, "510821"),
        ))
        .await
        .expect("the county's leader reads its overview")
        .into_inner();
    assert_eq!(overview.appeal_count, 3);
    let by_channel: Vec<_> = overview
        .appeals_by_channel
        .iter()
        .map(|c| (c.channel, c.count))
        .collect();
    assert_eq!(
        by_channel,
        [
            (intake::Channel::Hotline12345 as i32, 2),
            (intake::Channel::OnlinePortal as i32, 1)
        ]
    );
    let by_category: Vec<_> = overview
        .appeals_by_category
        .iter()
        .map(|c| (c.category, c.count))
        .collect();
    assert_eq!(
        by_category,
        [
            (intake::Category::Financing as i32, 2),
            (intake::Category::Employment as i32, 1)
        ]
    );
    if created == period {
        assert_eq!(overview.resolved_count, 2);
        assert_eq!(overview.solved_count, 2);
        assert!((overview.on_time_rate - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(overview.overdue_count, 1);
    }
    // The city's overview holds the county's.
    let city = client
        .get_overview(authed(
            scoring::GetOverviewRequest {
                jurisdiction_code: String::new(),
                period: created.clone(),
            },
            &suite.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(city.jurisdiction_code, "510800");
    assert_eq!(city.appeal_count, 3);

    // A rebuild from the facts alone equals the incremental figures.
    let rebuilt = client
        .recompute(authed(
            scoring::RecomputeRequest {
                period: period.clone(),
                request_id: "rebuild-1".into(),
            },
            &suite.city_coordinator_token(),
        ))
        .await
        .expect("the city rebuilds the period")
        .into_inner();
    assert!(rebuilt.matched, "{rebuilt:?}");
    assert!(rebuilt.mismatched_unit_ids.is_empty());
    // 510821-jrj, 510821-rsj and 510821 at least.
    assert!(rebuilt.scorecard_count >= 3, "{rebuilt:?}");
    let again = scorecard(&suite, "510821-jrj", &period).await;
    assert_eq!(again.total, jrj.total);
    assert_eq!(again.indicators, jrj.indicators);
    assert_eq!(again.rank, jrj.rank);
    // The same key answers the first rebuild again.
    let retried = client
        .recompute(authed(
            scoring::RecomputeRequest {
                period: period.clone(),
                request_id: "rebuild-1".into(),
            },
            &suite.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, rebuilt);
    // A county's coordinator does not rebuild.
    let status = client
        .recompute(authed(
            scoring::RecomputeRequest {
                period: period.clone(),
                request_id: String::new(),
            },
            &suite.official_token(Role::Coordinator, "510821"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    suite.stop().await;
}

fn model_request(period: &str) -> scoring::PutIndicatorModelRequest {
    let indicator =
        |key: &str, weight: f64, direction: scoring::Direction, target: f64| scoring::Indicator {
            key: key.into(),
            weight,
            direction: direction as i32,
            target,
            ..Default::default()
        };
    scoring::PutIndicatorModelRequest {
        period: period.into(),
        indicators: vec![
            indicator(
                "on_time_rate",
                60.0,
                scoring::Direction::HigherIsBetter,
                1.0,
            ),
            indicator(
                "overdue_count",
                40.0,
                scoring::Direction::LowerIsBetter,
                0.0,
            ),
        ],
        ..Default::default()
    }
}

#[tokio::test]
async fn put_indicator_model_names_every_bad_field_and_wants_the_current_etag() {
    let suite = TestSuite::start().await;
    let mut client = scores(&suite).await;
    let city = suite.city_coordinator_token();

    let mut bad = model_request("2026-13");
    bad.indicators[0].key = "made_up".into();
    bad.indicators[1].weight = -5.0;
    bad.indicators[1].direction = 0;
    bad.red_board_size = -1;
    let status = client
        .put_indicator_model(authed(bad, &city))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let fields = bad_fields(&status);
    for field in [
        "period",
        "indicators[0].key",
        "indicators[1].weight",
        "indicators[1].direction",
        "red_board_size",
    ] {
        assert!(fields.iter().any(|f| f == field), "{field} in {fields:?}");
    }
    let mut unbalanced = model_request("2026-Q4");
    unbalanced.indicators[1].weight = 10.0;
    unbalanced.indicators.push(unbalanced.indicators[0].clone());
    let status = client
        .put_indicator_model(authed(unbalanced, &city))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let fields = bad_fields(&status);
    assert!(fields.contains(&"indicators".to_owned()), "{fields:?}");
    assert!(
        fields.contains(&"indicators[2].key".to_owned()),
        "{fields:?}"
    );

    // Nothing was stored: the quarter still reads the shipped default.
    let default = client
        .get_indicator_model(authed(
            scoring::GetIndicatorModelRequest {
                period: "2026-11".into(),
            },
            &city,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(default.etag.is_empty());
    assert!(default.indicators.len() > 2);

    // Only the city's coordinators (and admins) set models.
    let status = client
        .put_indicator_model(authed(
            model_request("2026-Q4"),
            &suite.official_token(Role::Coordinator, "510821"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = client
        .put_indicator_model(authed(
            model_request("2026-Q4"),
            &suite.enterprise_token(USCC_A, "510821"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    let mut request = model_request("2026-Q4");
    request.request_id = "model-1".into();
    let put = client
        .put_indicator_model(authed(request.clone(), &city))
        .await
        .expect("the city sets the quarter's model")
        .into_inner();
    assert_eq!(put.period, "2026-Q4");
    assert!(!put.etag.is_empty());
    assert_eq!(put.interview_after_periods, 2);
    assert_eq!(put.indicators[0].name, "按期办结率");
    let retried = client
        .put_indicator_model(authed(request, &city))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, put);
    // Without the current etag the put is refused.
    let status = client
        .put_indicator_model(authed(model_request("2026-Q4"), &city))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    // A month without a model of its own reads its quarter's.
    let month = client
        .get_indicator_model(authed(
            scoring::GetIndicatorModelRequest {
                period: "2026-11".into(),
            },
            &suite.official_token(Role::Leader, "510822"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(month.period, "2026-Q4");
    assert_eq!(month.etag, put.etag);
    let mut second = model_request("2026-Q4");
    second.etag = put.etag.clone();
    second.indicators[0].weight = 50.0;
    second.indicators[1].weight = 50.0;
    let replaced = client
        .put_indicator_model(authed(second, &city))
        .await
        .expect("the current etag replaces the model")
        .into_inner();
    assert_ne!(replaced.etag, put.etag);
    assert_eq!(replaced.indicators[0].weight, 50.0);
    suite.stop().await;
}

#[tokio::test]
async fn a_county_official_cannot_read_another_countys_scorecard() {
    let suite = TestSuite::start().await;
    let mut client = scores(&suite).await;
    let other_county = suite.official_token(Role::Coordinator, "510822");
    let read = |unit: &str, period: &str| scoring::GetScorecardRequest {
        unit_id: unit.into(),
        period: period.into(),
    };
    let status = client
        .get_scorecard(authed(read("510821-jrj", "2026"), &other_county))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = client
        .get_scorecard(authed(read("510821", "2026"), &other_county))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    // Its own department's scorecard: nothing measured yet, unranked.
    let own = client
        .get_scorecard(authed(read("510822-jrj", "2026"), &other_county))
        .await
        .expect("a county reads its own department")
        .into_inner();
    assert_eq!(own.rank, 0);
    assert_eq!(own.jurisdiction_code, "510822");
    assert!(
        own.indicators
            .iter()
            .all(|i| i.denominator == 0.0 || i.numerator == 0.0)
    );
    // The city reads every county's.
    client
        .get_scorecard(authed(
            read("510821-jrj", "2026"),
            &suite.official_token(Role::Leader, "510800"),
        ))
        .await
        .expect("the city reads a county's department");
    let status = client
        .list_rankings(authed(department_ranking("2026"), &other_county))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // Enterprises read no scorecards.
    let status = client
        .get_scorecard(authed(
            read("510821-jrj", "2026"),
            &suite.enterprise_token(USCC_A, "510821"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // Unknown units and bad periods are named.
    let status = client
        .get_scorecard(authed(
            read("510821-nope", "2026"),
            &suite.city_coordinator_token(),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = client
        .get_scorecard(authed(read("", "2026-Q9"), &suite.city_coordinator_token()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(bad_fields(&status), ["unit_id", "period"]);
    suite.stop().await;
}

/// Polls (up to fifteen seconds) until the overview satisfies `wanted`.
async fn overview_until(
    suite: &TestSuite,
    jurisdiction: &str,
    period: &str,
    wanted: impl Fn(&scoring::Overview) -> bool,
) -> scoring::Overview {
    let read = || async {
        scores(suite)
            .await
            .get_overview(authed(
                scoring::GetOverviewRequest {
                    jurisdiction_code: jurisdiction.into(),
                    period: period.into(),
                },
                &suite.city_coordinator_token(),
            ))
            .await
            .expect("the city reads the overview")
            .into_inner()
    };
    poll_until(300, "scoring never caught up", read, wanted).await
}

async fn rebuild_matches(suite: &TestSuite, period: &str) {
    let rebuilt = scores(suite)
        .await
        .recompute(authed(
            scoring::RecomputeRequest {
                period: period.into(),
                request_id: String::new(),
            },
            &suite.official_token(Role::Admin, "510800"),
        ))
        .await
        .expect("an admin rebuilds the period")
        .into_inner();
    assert!(rebuilt.matched, "{rebuilt:?}");
}

#[tokio::test]
async fn reviews_comments_and_fulfilments_from_evaluation_and_policy_reach_the_scores() {
    use zhengqi_proto::zhengqi::evaluation::v1 as eval;
    use zhengqi_proto::zhengqi::policy::v1 as policy;
    use zhengqi_proto::zhengqi::policy::v1::policy_service_client::PolicyServiceClient;

    // Policy runs on a clock of its own from Monday 2026-03-02 10:00 in Beijing,
    // so consultation can close without waiting.
    let policy_clock = Arc::new(Clock::default());
    policy_clock.set(1_772_416_800 * 1_000_000);
    let for_suite = Arc::clone(&policy_clock);
    let suite = TestSuite::start_with(move |options| options.policy.clock = for_suite).await;

    // A bad review of a resolved case.
    let submitted = submit(
        &suite,
        appeal("e-1", USCC_A, "510821", "流动资金贷款审批慢"),
    )
    .await;
    let case = case_of(&suite, &submitted.id).await;
    let resolved = walk_to_resolved(&suite, &case, "510821-jrj").await;
    let period = year_of(micros_of(resolved.resolve_time.as_ref().unwrap()));
    let review = rate_once_invited(
        &suite,
        &resolved,
        eval::Rating::Dissatisfied,
        "拖了很久才答复",
        "bad-1",
    )
    .await;
    let firm = suite.enterprise_token(USCC_A, "510821");
    let card = scorecard_until(&suite, "510821-jrj", &period, |card| {
        indicator(card, "bad_review_rate").denominator == 1.0
    })
    .await;
    assert_eq!(indicator(&card, "bad_review_rate").raw_value, 1.0);
    assert_eq!(indicator(&card, "satisfaction_rate").raw_value, 0.0);
    let notices = scores(&suite)
        .await
        .list_alerts(authed(
            scoring::ListAlertsRequest {
                period: period.clone(),
                kind: scoring::AlertKind::BadReviewNotice as i32,
                jurisdiction_code: "510821".into(),
                ..Default::default()
            },
            &suite.official_token(Role::Supervisor, "510821"),
        ))
        .await
        .expect("the county's supervisor reads the notices")
        .into_inner()
        .alerts;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].unit_id, "510821-jrj");
    assert!(notices[0].fact_ids.contains(&review.id), "{notices:?}");
    let overview = overview_until(&suite, "510821", &period, |o| o.review_count == 1).await;
    assert_eq!(overview.bad_review_count, 1);
    assert_eq!(overview.satisfaction_rate, 0.0);
    assert_eq!(overview.unrated_rate, 0.0);

    // A comment adopted in part, the policy published and fulfilled.
    let city = suite.city_coordinator_token();
    let mut policies = PolicyServiceClient::new(suite.channel().await);
    let draft = policies
        .create_policy(authed(
            policy::CreatePolicyRequest {
                request_id: String::new(),
                policy: Some(policy::Policy {
                    kind: policy::PolicyKind::Policy as i32,
                    title: "中小企业贷款贴息办法".into(),
                    summary: "支持中小企业融资。".into(),
                    articles: vec![policy::Article {
                        number: "1".into(),
                        title: String::new(),
                        text: "贷款贴息按年利率的50%给予补助。".into(),
                    }],
                    ..Default::default()
                }),
            },
            &city,
        ))
        .await
        .expect("the draft is created")
        .into_inner();
    let open = policies
        .open_consultation(authed(
            policy::OpenConsultationRequest {
                id: draft.id.clone(),
                etag: draft.etag.clone(),
                close_time: Some(zhengqi_shared::storage::timestamp(
                    policy_clock.now() + 14 * 86_400_000_000,
                )),
                ..Default::default()
            },
            &city,
        ))
        .await
        .expect("consultation opens")
        .into_inner();
    let comment = policies
        .submit_comment(authed(
            policy::SubmitCommentRequest {
                request_id: String::new(),
                policy_id: open.id.clone(),
                article: "1".into(),
                text: "建议将贴息比例提高到60%。".into(),
            },
            &firm,
        ))
        .await
        .expect("the comment is taken")
        .into_inner();
    policy_clock.advance(Duration::from_secs(15 * 86_400));
    policies
        .respond_to_comment(authed(
            policy::RespondToCommentRequest {
                comment_id: comment.id.clone(),
                etag: comment.etag.clone(),
                disposition: policy::Disposition::PartlyAdopted as i32,
                reply: "贴息比例调整为55%。".into(),
                ..Default::default()
            },
            &city,
        ))
        .await
        .expect("the comment is answered");
    policies
        .publish_policy(authed(
            policy::PublishPolicyRequest {
                id: open.id.clone(),
                ..Default::default()
            },
            &city,
        ))
        .await
        .expect("the policy is published");
    policies
        .record_fulfillment(authed(
            policy::RecordFulfillmentRequest {
                policy_id: open.id.clone(),
                uscc: USCC_A.into(),
                kind: policy::FulfillmentKind::Subsidy as i32,
                amount_fen: 5_000_000,
                ..Default::default()
            },
            &suite.official_token(Role::Coordinator, "510821"),
        ))
        .await
        .expect("the county records a fulfilment");
    // 2026-03-17 in policy's clock: the first quarter of 2026.
    let overview = overview_until(&suite, "510800", "2026-Q1", |o| o.fulfillment_count == 1).await;
    assert_eq!(overview.fulfillment_amount_fen, 5_000_000);
    assert_eq!(overview.adopted_comment_count, 1);
    assert_eq!(overview.published_policy_count, 1);
    let county = overview_until(&suite, "510821", "2026-Q1", |o| o.fulfillment_count == 1).await;
    assert_eq!(
        county.adopted_comment_count, 0,
        "the comment was on the city's policy"
    );

    rebuild_matches(&suite, &period).await;
    rebuild_matches(&suite, "2026-Q1").await;
    rebuild_matches(&suite, "2026-03").await;
    suite.stop().await;
}

#[tokio::test]
async fn a_department_on_the_black_board_two_months_running_has_its_leader_called_in() {
    let monday = |date: &str| {
        chrono::DateTime::parse_from_rfc3339(&format!("{date}T10:00:00+08:00"))
            .unwrap()
            .timestamp_micros()
    };
    let clock = Arc::new(Clock::default());
    clock.set(monday("2026-12-07"));
    let suite = TestSuite::start_with(|options| {
        options.intake_clock = Arc::clone(&clock);
        options.routing.clock = Arc::clone(&clock);
        options.routing.supervision.sweep_interval = Duration::from_millis(50);
        options.scoring.clock = Arc::clone(&clock);
    })
    .await;
    let calendar = Calendar::official();
    // Two months: each Monday, a financing case left to run late at 510821-jrj
    // and an employment case resolved in time at 510821-rsj.
    // The clocks run ahead of the wall clock (service tokens are checked on
    // it): December, then January, whose working days count provisionally.
    for (month, first_day) in [("2026-12", "2026-12-07"), ("2027-01", "2027-01-11")] {
        clock.set(monday(first_day));
        let late = submit(
            &suite,
            appeal(
                &format!("i-{month}-a"),
                USCC_A,
                "510821",
                "贷款审批久拖不办",
            ),
        )
        .await;
        let mut employment = appeal(
            &format!("i-{month}-b"),
            USCC_B,
            "510821",
            "社保补缴政策咨询",
        );
        employment.category = intake::Category::Employment as i32;
        let in_time = submit(&suite, employment).await;
        let late = case_of(&suite, &late.id).await;
        let in_time = case_of(&suite, &in_time.id).await;
        walk_to_resolved(&suite, &in_time, "510821-rsj").await;
        let open = walk_to_in_progress(&suite, &late, "510821-jrj").await;
        let due = micros_of(open.deadline.as_ref().expect("a deadline"));
        let after = calendar
            .add_working_days_provisional(clock::beijing_date(due), 1)
            .value;
        clock.set(clock::end_of_day(after) - 12 * 3_600_000_000);
        let jrj = scorecard_until(&suite, "510821-jrj", month, |card| {
            indicator(card, "overdue_count").raw_value == 1.0 && card.ranked_units == 2
        })
        .await;
        assert_eq!(jrj.board, scoring::Board::Black as i32, "{month}: {jrj:?}");
    }
    // The interview is a listed record of January, resting on both months'
    // black-board entries.
    let interviews = poll_until(
        300,
        "no leader interview was raised",
        async || {
            scores(&suite)
                .await
                .list_alerts(authed(
                    scoring::ListAlertsRequest {
                        kind: scoring::AlertKind::LeaderInterview as i32,
                        jurisdiction_code: "510821".into(),
                        ..Default::default()
                    },
                    &suite.official_token(Role::Leader, "510821"),
                ))
                .await
                .unwrap()
                .into_inner()
                .alerts
        },
        |alerts| alerts.len() >= 3,
    )
    .await;
    // Across a year's end, the month, the quarter and the year each make two
    // periods running: one interview of each.
    let mut periods: Vec<_> = interviews.iter().map(|a| a.period.as_str()).collect();
    periods.sort_unstable();
    assert_eq!(periods, ["2027", "2027-01", "2027-Q1"], "{interviews:?}");
    let interview = interviews.iter().find(|a| a.period == "2027-01").unwrap();
    assert_eq!(interview.unit_id, "510821-jrj");
    assert_eq!(interview.period, "2027-01");
    assert_eq!(
        interview.fact_ids,
        ["2026-12/510821-jrj", "2027-01/510821-jrj"]
    );
    assert!(interview.reason.contains("约谈"), "{}", interview.reason);
    // The ranking shows the streak and the trend behind it.
    let january = scores(&suite)
        .await
        .list_rankings(authed(
            department_ranking("2027-01"),
            &suite.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner();
    let jrj = january
        .rankings
        .iter()
        .find(|r| r.unit_id == "510821-jrj")
        .unwrap();
    assert_eq!(jrj.black_board_streak, 2);
    let trend: Vec<_> = jrj
        .trend
        .iter()
        .map(|t| (t.period.as_str(), t.board))
        .collect();
    assert_eq!(
        trend,
        [
            ("2026-12", scoring::Board::Black as i32),
            ("2027-01", scoring::Board::Black as i32)
        ]
    );
    suite.stop().await;
}
