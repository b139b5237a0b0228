//! End to end: calendar years without a restart, and no case without a deadline.
//! With every part's clock at Monday 2026-12-28 (China time), a complaint's 15
//! working days run into 2027, which is not loaded: the case opens with a
//! provisional deadline (weekends only), as do a rectification's due time and a
//! consultation's earliest close. Loading 2027 through `PutCalendarYear` (a
//! test calendar from tests/data, not the State Council's notice) makes each
//! exact, with a ledger entry for the case; routing keeps the year across a
//! restart. `zhengqi calendar load FILE` does the same through the gateway.

use std::sync::Arc;

use crate::common::cases::*;
use crate::common::*;
use chrono::NaiveDate;
use tonic::Code;
use zhengqi_proto::zhengqi::evaluation::v1 as eval;
use zhengqi_proto::zhengqi::evaluation::v1::evaluation_service_client::EvaluationServiceClient;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::policy::v1 as policy;
use zhengqi_proto::zhengqi::policy::v1::policy_service_client::PolicyServiceClient;
use zhengqi_proto::zhengqi::routing::v1 as routing;
use zhengqi_shared::auth::{Role, TokenRequest};
use zhengqi_shared::clock::{Clock, beijing_date, end_of_day};
use zhengqi_shared::storage::{micros_of, timestamp};

/// The made-up 2027 of the tests: 01-01…01-03 off.
const TEST_2027: &str = include_str!("data/calendar-2027-test.toml");

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Noon of `day` in China.
fn noon(day: NaiveDate) -> i64 {
    end_of_day(day) - 12 * 3_600_000_000 + 1
}

fn admin_token(suite: &TestSuite) -> String {
    suite.token(TokenRequest {
        jurisdiction: Some("510800".to_owned()),
        ..TokenRequest::new("admin@510800", vec![Role::Admin])
    })
}

async fn working_calendar(suite: &TestSuite) -> routing::WorkingCalendar {
    cases(suite)
        .await
        .get_calendar(authed(
            routing::GetCalendarRequest {},
            &suite.city_coordinator_token(),
        ))
        .await
        .expect("anyone signed in reads the calendar")
        .into_inner()
}

async fn put_year(
    suite: &TestSuite,
    token: &str,
    content: &str,
) -> Result<routing::PutCalendarYearResponse, tonic::Status> {
    cases(suite)
        .await
        .put_calendar_year(authed(
            routing::PutCalendarYearRequest {
                content: content.to_owned(),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

async fn rectifications(suite: &TestSuite) -> Vec<eval::Rectification> {
    EvaluationServiceClient::new(suite.channel().await)
        .list_rectifications(authed(
            eval::ListRectificationsRequest::default(),
            &suite.city_coordinator_token(),
        ))
        .await
        .expect("the city lists rectifications")
        .into_inner()
        .rectifications
}

/// Resolves a new case of `uscc` and rates it badly; returns the id of the
/// rectification that opens.
async fn bad_review(suite: &TestSuite, key: &str, uscc: &str) -> String {
    let appeal = submit(suite, appeal(key, uscc, "510821", "贷款审批慢")).await;
    let case = case_of(suite, &appeal.id).await;
    let resolved = walk_to_resolved(suite, &case, "510821-jrj").await;
    let firm = suite.enterprise_token(uscc, "510821");
    let mut evaluation = EvaluationServiceClient::new(suite.channel().await);
    poll_until(
        200,
        "the resolved case invites a review",
        async || {
            evaluation
                .submit_review(authed(
                    eval::SubmitReviewRequest {
                        request_id: key.to_owned(),
                        target_kind: eval::TargetKind::Department as i32,
                        case_id: resolved.id.clone(),
                        rating: eval::Rating::Dissatisfied as i32,
                        comment: "只放了一半的贷款".to_owned(),
                        ..Default::default()
                    },
                    &firm,
                ))
                .await
                .map(|r| r.into_inner().rectification_id)
                .map_err(|s| s.code())
        },
        |answer| answer.as_ref().is_ok_and(|id| !id.is_empty()),
    )
    .await
    .unwrap()
}

/// Creates a draft as the city and opens it for consultation until `close`.
async fn consult_until(
    suite: &TestSuite,
    title: &str,
    close: i64,
) -> Result<policy::Policy, tonic::Status> {
    let mut client = PolicyServiceClient::new(suite.channel().await);
    let token = suite.city_coordinator_token();
    let draft = client
        .create_policy(authed(
            policy::CreatePolicyRequest {
                request_id: String::new(),
                policy: Some(policy::Policy {
                    kind: policy::PolicyKind::Policy as i32,
                    title: title.to_owned(),
                    summary: "支持中小企业融资。".to_owned(),
                    articles: vec![policy::Article {
                        number: "1".to_owned(),
                        title: String::new(),
                        text: "适用于本市登记的中小企业。".to_owned(),
                    }],
                    ..Default::default()
                }),
            },
            &token,
        ))
        .await
        .expect("the draft is created")
        .into_inner();
    client
        .open_consultation(authed(
            policy::OpenConsultationRequest {
                id: draft.id.clone(),
                etag: draft.etag.clone(),
                close_time: Some(timestamp(close)),
                ..Default::default()
            },
            &token,
        ))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn a_complaint_past_the_loaded_calendar_is_provisional_until_its_year_is_loaded() {
    let clock = Arc::new(Clock::default());
    clock.set(noon(date(2026, 12, 28)));
    let suite = TestSuite::start_with(|options| {
        options.intake_clock = Arc::clone(&clock);
        options.routing.clock = Arc::clone(&clock);
        options.policy.clock = Arc::clone(&clock);
        options.evaluation.clock = Arc::clone(&clock);
    })
    .await;

    // The calendar ends on 2026-12-31: three days left, time to load 2027.
    let before = working_calendar(&suite).await;
    let years: Vec<i32> = before.years.iter().map(|y| y.year).collect();
    assert_eq!(years, [2025, 2026]);
    assert!(before.years.iter().all(|y| y.embedded));
    assert_eq!(before.last_loaded_day, "2026-12-31");
    assert_eq!(before.days_left, 3);
    assert!(before.next_year_due);

    // A complaint (投诉, 15 working days) on Monday 2026-12-28: 12-29…12-31,
    // then 2027 on weekends only up to Monday 2027-01-18, provisionally.
    let mut complaint = appeal("complaint", USCC_A, "510821", "执法检查过于频繁");
    complaint.kind = intake::AppealKind::Complaint as i32;
    complaint.category = intake::Category::LawEnforcement as i32;
    let complaint = submit(&suite, complaint).await;
    let case = case_of(&suite, &complaint.id).await;
    assert_eq!(case.time_limit_working_days, 15);
    assert!(case.deadline_provisional, "{case:?}");
    let deadline = micros_of(case.deadline.as_ref().expect("a deadline, always"));
    assert_eq!(deadline, end_of_day(date(2027, 1, 18)));

    // The ledger export says so.
    let csv = cases(&suite)
        .await
        .export_ledger(authed(
            routing::ExportLedgerRequest {
                format: routing::ExportFormat::Csv as i32,
                jurisdiction_code: "510821".into(),
                ..Default::default()
            },
            &suite.official_token(Role::Coordinator, "510821"),
        ))
        .await
        .expect("the county exports its ledger")
        .into_inner();
    let text = String::from_utf8(csv.data).unwrap();
    assert!(text.contains("2027-01-18（暂定）"), "{text}");

    // A bad review of another case opens a rectification, due provisionally too.
    bad_review(&suite, "loan", USCC_B).await;
    let opened = rectifications(&suite).await;
    assert_eq!(opened.len(), 1);
    assert!(opened[0].due_time_provisional, "{:?}", opened[0]);
    assert_eq!(
        micros_of(opened[0].due_time.as_ref().unwrap()),
        end_of_day(date(2027, 1, 18))
    );

    // A consultation into 2027 is counted provisionally rather than refused:
    // 7 working days end on Wednesday 2027-01-06.
    consult_until(&suite, "融资支持办法（一）", noon(date(2027, 1, 6)))
        .await
        .expect("a consultation into 2027 opens");

    // Loading a year is for admins, and a bad file names its line and field.
    let denied = put_year(&suite, &suite.city_coordinator_token(), TEST_2027)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    // A county's admin may not change the city's calendar.
    let county_admin = suite.official_token(Role::Admin, "510821");
    let denied = put_year(&suite, &county_admin, TEST_2027)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let admin = admin_token(&suite);
    let bad = put_year(
        &suite,
        &admin,
        "year = 2027\nworking_weekends = [2027-01-04]\n",
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    assert_eq!(bad_fields(&bad), ["content"]);
    assert!(
        bad.message().contains("第2行 working_weekends"),
        "{}",
        bad.message()
    );
    assert!(
        cases(&suite)
            .await
            .get_case(authed(
                routing::GetCaseRequest {
                    id: case.id.clone()
                },
                &suite.city_coordinator_token()
            ))
            .await
            .unwrap()
            .into_inner()
            .deadline_provisional,
        "a refused file changes nothing"
    );

    // Loading 2027 makes the deadline exact: 01-01 is off, so Tuesday 01-19.
    let loaded = put_year(&suite, &admin, TEST_2027)
        .await
        .expect("an admin loads 2027");
    let year = loaded.calendar_year.unwrap();
    assert_eq!(year.year, 2027);
    assert_eq!(year.loaded_by, "admin@510800");
    assert!(!year.embedded);
    assert!(loaded.recounted_cases >= 2, "{}", loaded.recounted_cases);
    let exact = read_case(&suite, &case.id).await;
    assert!(!exact.deadline_provisional);
    assert_eq!(
        micros_of(exact.deadline.as_ref().unwrap()),
        end_of_day(date(2027, 1, 19))
    );
    let history = history_of(&suite, &case.id).await;
    let recount: Vec<_> = history
        .entries
        .iter()
        .filter(|e| e.action == routing::CaseAction::RecountDeadline as i32)
        .collect();
    assert_eq!(recount.len(), 1, "{history:?}");
    assert_eq!(
        recount[0].note,
        "按2027年工作日历重算办理时限：2027-01-18 → 2027-01-19"
    );
    assert_eq!(recount[0].actor, "system");
    let verified = verify_ledger(&suite, "510821").await;
    assert!(verified.ok, "{verified:?}");

    let after = working_calendar(&suite).await;
    let years: Vec<i32> = after.years.iter().map(|y| y.year).collect();
    assert_eq!(years, [2025, 2026, 2027]);
    assert_eq!(after.last_loaded_day, "2027-12-31");
    assert_eq!(after.days_left, 368);
    assert!(!after.next_year_due);

    // Evaluation follows: the rectification is due on the exact day.
    let recounted = poll_until(
        200,
        "the rectification's due time is counted again",
        async || rectifications(&suite).await,
        |listed| listed.iter().all(|r| !r.due_time_provisional),
    )
    .await;
    assert_eq!(
        micros_of(recounted[0].due_time.as_ref().unwrap()),
        end_of_day(date(2027, 1, 19))
    );

    // Policy follows: with 01-01 off, the 7th working day is 01-07.
    let refused = poll_until(
        200,
        "policy counts on the loaded 2027",
        async || {
            consult_until(&suite, "融资支持办法（二）", noon(date(2027, 1, 6)))
                .await
                .err()
        },
        |refused| refused.is_some(),
    )
    .await
    .unwrap();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("2027-01-07"), "{refused:?}");

    // No case anywhere lacks a deadline.
    let all = cases(&suite)
        .await
        .list_cases(authed(
            routing::ListCasesRequest {
                page_size: 500,
                ..Default::default()
            },
            &suite.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert!(all.len() >= 2);
    assert!(all.iter().all(|c| c.deadline.is_some()), "{all:?}");

    // Every part keeps the year across a restart: routing's calendar, policy's
    // consultation periods and evaluation's due times count on it.
    let suite = suite
        .restart_with(|options| {
            options.intake_clock = Arc::clone(&clock);
            options.routing.clock = Arc::clone(&clock);
            options.policy.clock = Arc::clone(&clock);
            options.evaluation.clock = Arc::clone(&clock);
        })
        .await;
    let restarted = working_calendar(&suite).await;
    let years: Vec<i32> = restarted.years.iter().map(|y| y.year).collect();
    assert_eq!(years, [2025, 2026, 2027]);
    assert_eq!(
        beijing_date(micros_of(
            read_case(&suite, &case.id).await.deadline.as_ref().unwrap()
        )),
        date(2027, 1, 19)
    );
    let refused = poll_until(
        200,
        "policy counts on the kept 2027 after a restart",
        async || {
            consult_until(&suite, "融资支持办法（三）", noon(date(2027, 1, 6)))
                .await
                .err()
        },
        |refused| refused.is_some(),
    )
    .await
    .unwrap();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    let id = bad_review(&suite, "after-restart", USCC_C).await;
    let opened = rectifications(&suite).await;
    let after_restart = opened.iter().find(|r| r.id == id).unwrap();
    assert!(!after_restart.due_time_provisional, "{after_restart:?}");
    assert_eq!(
        micros_of(after_restart.due_time.as_ref().unwrap()),
        end_of_day(date(2027, 1, 19))
    );
    suite.stop().await;
}

#[tokio::test]
async fn zhengqi_calendar_load_puts_a_year_through_the_gateway_and_names_a_bad_line() {
    let suite = TestSuite::start().await;
    let folder = tempfile::tempdir().unwrap();
    // The command runs off the test's runtime, which serves the suite meanwhile.
    let run = async |file: &std::path::Path| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_zhengqi"));
        command
            .arg("calendar")
            .arg("load")
            .arg(file)
            .arg("--address")
            .arg(suite.gateway())
            .arg("--data")
            .arg(suite.data.path())
            .env_remove("ZHENGQI_TOKEN");
        tokio::task::spawn_blocking(move || command.output().expect("zhengqi runs"))
            .await
            .unwrap()
    };

    let bad = folder.path().join("2027.toml");
    std::fs::write(
        &bad,
        "year = 2027\n\n[[holiday]]\nname = \"春节\"\nfirst = 2027-02-10\nlast = 2027-02-05\n",
    )
    .unwrap();
    let output = run(&bad).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("第6行 holiday.last"), "{stderr}");
    assert_eq!(working_calendar(&suite).await.years.len(), 2);

    let good = folder.path().join("2027-test.toml");
    std::fs::write(&good, TEST_2027).unwrap();
    let output = run(&good).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("已载入2027年工作日历"), "{stdout}");
    let calendar = working_calendar(&suite).await;
    assert_eq!(calendar.last_loaded_day, "2027-12-31");
    assert_eq!(calendar.years.last().unwrap().loaded_by, "admin@510800");
    suite.stop().await;
}
