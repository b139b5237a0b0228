//! Evaluation through the gateway: a resolved case invites its enterprise to
//! rate the department, once; bad reviews are verified, rectified and visited
//! again within fifteen working days; campaigns; assessments; violations
//! (首违不罚, 再犯重罚), suspensions a city leader decides, credit lists;
//! idempotent retries and bad input naming its fields.

use std::sync::Arc;
use std::time::Duration;

use crate::common::cases::*;
use crate::common::*;
use tonic::Code;
use tonic::transport::Channel;
use zhengqi_proto::zhengqi::evaluation::v1 as eval;
use zhengqi_proto::zhengqi::evaluation::v1::evaluation_service_client::EvaluationServiceClient;
use zhengqi_proto::zhengqi::routing::v1 as routing;
use zhengqi_shared::auth::{Role, TokenRequest};
use zhengqi_shared::clock::Clock;
use zhengqi_shared::reference::Calendar;
use zhengqi_shared::storage::{micros_of, timestamp};

async fn evaluation(suite: &TestSuite) -> EvaluationServiceClient<Channel> {
    EvaluationServiceClient::new(suite.channel().await)
}

fn evaluator_token(suite: &TestSuite, jurisdiction: &str) -> String {
    suite.token(TokenRequest {
        jurisdiction: Some(jurisdiction.to_owned()),
        name: Some("第三方评估机构".to_owned()),
        ..TokenRequest::new("evaluator@third-party", vec![Role::Evaluator])
    })
}

/// An appeal of `uscc` to 旺苍县 walked through routing up to (not including)
/// its resolution: accepted, assigned to 510821-jrj and claimed.
async fn case_in_progress(suite: &TestSuite, key: &str, uscc: &str) -> routing::Case {
    let appeal = submit(suite, appeal(key, uscc, "510821", "贷款审批慢")).await;
    let case = case_of(suite, &appeal.id).await;
    walk_to_in_progress(suite, &case, "510821-jrj").await
}

/// Waits (up to ten seconds) for routing to reopen `case_id`.
async fn reopened_case(suite: &TestSuite, case_id: &str) -> routing::Case {
    case_until(
        suite,
        case_id,
        &format!("case {case_id} was not reopened"),
        |case| case.state == routing::CaseState::InProgress as i32,
    )
    .await
}

/// The reviews of `case_id` (of every case when it is empty) that the caller
/// of `token` sees.
async fn reviews(suite: &TestSuite, case_id: &str, token: &str) -> Vec<eval::Review> {
    evaluation(suite)
        .await
        .list_reviews(authed(
            eval::ListReviewsRequest {
                case_id: case_id.to_owned(),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("the reviews are listed")
        .into_inner()
        .reviews
}

/// The credit record of `uscc`, as the caller of `token` reads it.
async fn credit(
    suite: &TestSuite,
    uscc: &str,
    token: &str,
) -> Result<eval::EnterpriseCredit, tonic::Status> {
    evaluation(suite)
        .await
        .get_enterprise_credit(authed(
            eval::GetEnterpriseCreditRequest {
                uscc: uscc.to_owned(),
            },
            token,
        ))
        .await
        .map(|r| r.into_inner())
}

/// Waits (up to ten seconds) for the invitation to rate `case_id`.
async fn invitation(suite: &TestSuite, uscc: &str, case_id: &str) -> eval::Review {
    let firm = suite.enterprise_token(uscc, "510821");
    poll_until(
        200,
        &format!("no invitation to rate case {case_id} arrived"),
        async || reviews(suite, case_id, &firm).await,
        |reviews| !reviews.is_empty(),
    )
    .await
    .pop()
    .unwrap()
}

/// A resolved case of `uscc` and the invitation it gave.
async fn resolved_case(suite: &TestSuite, key: &str, uscc: &str) -> (routing::Case, eval::Review) {
    let case = case_in_progress(suite, key, uscc).await;
    let resolved = resolve(suite, &case).await;
    let invited = invitation(suite, uscc, &case.id).await;
    (resolved, invited)
}

fn review_of_case(
    request_id: &str,
    case_id: &str,
    rating: eval::Rating,
    comment: &str,
) -> eval::SubmitReviewRequest {
    eval::SubmitReviewRequest {
        request_id: request_id.to_owned(),
        target_kind: eval::TargetKind::Department as i32,
        target_id: String::new(),
        case_id: case_id.to_owned(),
        rating: rating as i32,
        comment: comment.to_owned(),
        dimensions: vec![eval::DimensionRating {
            dimension: "efficiency".into(),
            rating: rating as i32,
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_resolved_case_invites_its_enterprise_to_rate_the_department_once() {
    let suite = TestSuite::start().await;
    let mut client = evaluation(&suite).await;
    let firm = suite.enterprise_token(USCC_A, "510821");
    let case = case_in_progress(&suite, "once", USCC_A).await;

    // Not resolved yet: nothing to rate.
    let status = client
        .submit_review(authed(
            review_of_case("early", &case.id, eval::Rating::Satisfied, ""),
            &firm,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

    resolve(&suite, &case).await;
    let invited = invitation(&suite, USCC_A, &case.id).await;
    assert_eq!(invited.state, eval::ReviewState::Invited as i32);
    assert_eq!(
        invited.direction,
        eval::Direction::EnterpriseToDepartment as i32
    );
    assert_eq!(invited.department_id, "510821-jrj");
    assert_eq!(invited.target_id, "510821-jrj");
    assert_eq!(invited.jurisdiction_code, "510821");
    assert_eq!(invited.rating, 0);
    assert!(invited.invite_time.is_some());

    // Another enterprise may not rate it.
    let status = client
        .submit_review(authed(
            review_of_case("other", &case.id, eval::Rating::Satisfied, ""),
            &suite.enterprise_token(USCC_B, "510821"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    let review = client
        .submit_review(authed(
            review_of_case("rate-1", &case.id, eval::Rating::Satisfied, "办事快"),
            &firm,
        ))
        .await
        .expect("the enterprise rates the department")
        .into_inner();
    assert_eq!(review.id, invited.id);
    assert_eq!(review.state, eval::ReviewState::Submitted as i32);
    assert_eq!(review.rating, eval::Rating::Satisfied as i32);
    assert!(review.rectification_id.is_empty());
    assert_eq!(review.dimensions.len(), 1);

    // A retry with the same key returns the review given first.
    let retry = client
        .submit_review(authed(
            review_of_case("rate-1", &case.id, eval::Rating::Satisfied, "办事快"),
            &firm,
        ))
        .await
        .expect("a retry succeeds")
        .into_inner();
    assert_eq!(retry, review);
    // A second review of the same case is refused: one rating per matter.
    let status = client
        .submit_review(authed(
            review_of_case("rate-2", &case.id, eval::Rating::VerySatisfied, ""),
            &firm,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");

    // Reviewers are protected: the department rated sees the rating and the
    // words, not who reviewed nor the case that leads to them, and cannot
    // find a case's review by the case; the business-environment office does.
    let department = suite.handler_token("510821-jrj");
    let seen_by_department = reviews(&suite, "", &department).await;
    assert_eq!(seen_by_department.len(), 1);
    assert!(seen_by_department[0].enterprise.is_none());
    assert!(seen_by_department[0].reviewer.is_empty());
    assert!(seen_by_department[0].case_id.is_empty());
    assert_eq!(seen_by_department[0].rating, eval::Rating::Satisfied as i32);
    assert_eq!(seen_by_department[0].comment, "办事快");
    assert!(reviews(&suite, &case.id, &department).await.is_empty());
    let seen_by_office = reviews(
        &suite,
        &case.id,
        &suite.official_token(Role::Coordinator, "510821"),
    )
    .await;
    assert_eq!(seen_by_office[0].enterprise.as_ref().unwrap().uscc, USCC_A);
    assert_eq!(seen_by_office[0].reviewer, format!("staff@{USCC_A}"));
    // Another enterprise sees none of it.
    let others = reviews(&suite, "", &suite.enterprise_token(USCC_B, "510821")).await;
    assert!(others.is_empty(), "{others:?}");
    suite.stop().await;
}

#[tokio::test]
async fn a_bad_review_is_verified_rectified_and_visited_again_within_fifteen_working_days() {
    let suite = TestSuite::start().await;
    let mut client = evaluation(&suite).await;
    let firm = suite.enterprise_token(USCC_A, "510821");
    let (case, _) = resolved_case(&suite, "bad", USCC_A).await;

    // A bad review must say what went wrong.
    let status = client
        .submit_review(authed(
            review_of_case("bad-0", &case.id, eval::Rating::Dissatisfied, " "),
            &firm,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(bad_fields(&status), ["comment"]);

    let review = client
        .submit_review(authed(
            review_of_case(
                "bad-1",
                &case.id,
                eval::Rating::Dissatisfied,
                "只放了一半的贷款",
            ),
            &firm,
        ))
        .await
        .expect("the bad review is taken")
        .into_inner();
    assert!(!review.rectification_id.is_empty());

    let coordinator = suite.official_token(Role::Coordinator, "510821");
    let listed = client
        .list_rectifications(authed(
            eval::ListRectificationsRequest {
                department_id: "510821-jrj".into(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner()
        .rectifications;
    assert_eq!(listed.len(), 1);
    let opened = listed[0].clone();
    assert_eq!(opened.id, review.rectification_id);
    assert_eq!(opened.review_id, review.id);
    assert_eq!(opened.case_id, case.id);
    assert_eq!(opened.state, eval::RectificationState::Verifying as i32);
    assert_eq!(opened.rating, eval::Rating::Dissatisfied as i32);
    assert_eq!(opened.review_comment, "只放了一半的贷款");
    let submitted = micros_of(review.submit_time.as_ref().unwrap());
    let due =
        zhengqi_evaluation::domain::review::rectification_due(&Calendar::official(), submitted, 15)
            .unwrap();
    assert_eq!(opened.due_time, Some(timestamp(due)));
    let working_days = Calendar::official()
        .working_days_between(
            zhengqi_evaluation::domain::beijing_date(submitted),
            zhengqi_evaluation::domain::beijing_date(due),
        )
        .unwrap();
    assert_eq!(working_days, 15);

    // Each step on the rectification, with the etag it names and the caller's token.
    let reader = client.clone();
    let verify = |etag: &str, request_id: &str, valid: bool, note: &str, token: String| {
        let mut client = reader.clone();
        let request = eval::VerifyBadReviewRequest {
            id: opened.id.clone(),
            etag: etag.to_owned(),
            request_id: request_id.to_owned(),
            valid,
            note: note.to_owned(),
        };
        async move {
            client
                .verify_bad_review(authed(request, &token))
                .await
                .map(|r| r.into_inner())
        }
    };
    let rectify = |etag: &str, text: &str, token: String| {
        let mut client = reader.clone();
        let request = eval::SubmitRectificationRequest {
            id: opened.id.clone(),
            etag: etag.to_owned(),
            text: text.to_owned(),
            ..Default::default()
        };
        async move {
            client
                .submit_rectification(authed(request, &token))
                .await
                .map(|r| r.into_inner())
        }
    };
    let visit = |etag: &str, satisfied: bool, note: &str| {
        let mut client = reader.clone();
        let request = eval::RecordReturnVisitRequest {
            id: opened.id.clone(),
            etag: etag.to_owned(),
            satisfied,
            note: note.to_owned(),
            ..Default::default()
        };
        let token = coordinator.clone();
        async move {
            client
                .record_return_visit(authed(request, &token))
                .await
                .map(|r| r.into_inner())
        }
    };

    // The department rated does not verify its own bad review.
    let status = verify(
        &opened.etag,
        "",
        false,
        "",
        suite.handler_token("510821-jrj"),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // Nor does another county's office.
    let status = verify(
        &opened.etag,
        "",
        false,
        "",
        suite.official_token(Role::Coordinator, "510822"),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // Rectifying before verification is the wrong state.
    let status = rectify("", "已整改", suite.handler_token("510821-jrj"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

    let verified = verify(
        &opened.etag,
        "verify-1",
        true,
        "经核实属实",
        coordinator.clone(),
    )
    .await
    .expect("the office verifies");
    assert_eq!(verified.state, eval::RectificationState::Rectifying as i32);
    assert!(verified.valid);
    assert_eq!(verified.verified_by, "coordinator@510821");
    assert_ne!(verified.etag, opened.etag);
    // A valid bad review about a case reopens the case in routing.
    let reopened = reopened_case(&suite, &case.id).await;
    assert_eq!(reopened.reopen_count, 1);
    // Resolved again, the case invites no second review: one rating per matter.
    resolve(&suite, &reopened).await;
    let (_, other) = resolved_case(&suite, "bad-later", USCC_B).await;
    assert_eq!(other.state, eval::ReviewState::Invited as i32);
    let of_case = reviews(&suite, &case.id, &coordinator).await;
    assert_eq!(of_case.len(), 1);
    assert_eq!(of_case[0].id, review.id);
    assert_eq!(of_case[0].state, eval::ReviewState::Submitted as i32);
    // A retry changes nothing; a stale etag is refused.
    let retry = verify(
        &opened.etag,
        "verify-1",
        true,
        "经核实属实",
        coordinator.clone(),
    )
    .await
    .expect("a retry succeeds");
    assert_eq!(retry, verified);
    let status = rectify(&opened.etag, "已整改", suite.handler_token("510821-jrj"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    // Another department's handler does not rectify it.
    let status = rectify(&verified.etag, "已整改", suite.handler_token("510821-czj"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    let rectified = rectify(
        &verified.etag,
        "已补足放款并约谈经办人",
        suite.handler_token("510821-jrj"),
    )
    .await
    .expect("the department rectifies");
    assert_eq!(
        rectified.state,
        eval::RectificationState::AwaitingReturnVisit as i32
    );
    assert_eq!(rectified.rectified_by, "handler@510821-jrj");

    let unsatisfied = visit(&rectified.etag, false, "仍有手续未办")
        .await
        .expect("the office visits again");
    assert_eq!(
        unsatisfied.state,
        eval::RectificationState::Rectifying as i32
    );
    assert_eq!(unsatisfied.return_visit_count, 1);
    let rectified_again = rectify(&unsatisfied.etag, "手续已全部办结", coordinator.clone())
        .await
        .expect("the office records the rectification");
    let closed = visit(&rectified_again.etag, true, "满意")
        .await
        .expect("the office visits again");
    assert_eq!(closed.state, eval::RectificationState::Closed as i32);
    assert_eq!(closed.return_visit_count, 2);
    assert!(closed.return_visit_satisfied);
    suite.stop().await;
}

#[tokio::test]
async fn an_unfounded_bad_review_closes_and_open_ones_show_as_overdue() {
    let clock = Arc::new(Clock::default());
    let suite = TestSuite::start_with(|options| {
        options.evaluation.clock = Arc::clone(&clock);
    })
    .await;
    let mut client = evaluation(&suite).await;
    let firm = suite.enterprise_token(USCC_B, "510822");
    let window = suite.handler_token("510822-xzsp");
    let visits = [
        service_record(&mut client, &window, "510822-xzsp-03", USCC_B, "BJ-1").await,
        service_record(&mut client, &window, "510822-xzsp-03", USCC_B, "BJ-2").await,
    ];
    let window_review = |request_id: &str, visit: usize| eval::SubmitReviewRequest {
        request_id: request_id.to_owned(),
        target_kind: eval::TargetKind::ServiceWindow as i32,
        target_id: "510822-xzsp-03".into(),
        service_record_id: visits[visit].id.clone(),
        rating: eval::Rating::VeryDissatisfied as i32,
        comment: "窗口人员态度差".into(),
        ..Default::default()
    };
    let first = client
        .submit_review(authed(window_review("w-1", 0), &firm))
        .await
        .expect("a window is rated")
        .into_inner();
    assert_eq!(first.direction, eval::Direction::EnterpriseToWindow as i32);
    assert_eq!(first.department_id, "510822-xzsp");
    assert_eq!(first.jurisdiction_code, "510822");
    // A retry returns the first review and opens no second rectification.
    let retry = client
        .submit_review(authed(window_review("w-1", 0), &firm))
        .await
        .expect("a retry succeeds")
        .into_inner();
    assert_eq!(retry, first);
    let second = client
        .submit_review(authed(window_review("w-2", 1), &firm))
        .await
        .unwrap()
        .into_inner();
    let coordinator = suite.official_token(Role::Coordinator, "510822");
    let unfounded = client
        .verify_bad_review(authed(
            eval::VerifyBadReviewRequest {
                id: first.rectification_id.clone(),
                valid: false,
                note: "监控显示态度正常".into(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unfounded.state, eval::RectificationState::Unfounded as i32);

    let reader = client.clone();
    let overdue = |token: String| {
        let mut client = reader.clone();
        async move {
            client
                .list_rectifications(authed(
                    eval::ListRectificationsRequest {
                        overdue_only: true,
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .unwrap()
                .into_inner()
                .rectifications
        }
    };
    assert!(overdue(coordinator.clone()).await.is_empty());
    // A month on, the open one is overdue; the unfounded one is not.
    clock.advance(Duration::from_secs(31 * 24 * 3600));
    let late = overdue(coordinator.clone()).await;
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0].id, second.rectification_id);
    // The city sees the county's; another county does not.
    assert_eq!(
        overdue(suite.official_token(Role::Coordinator, "510800"))
            .await
            .len(),
        1
    );
    assert!(
        overdue(suite.official_token(Role::Coordinator, "510821"))
            .await
            .is_empty()
    );
    suite.stop().await;
}

/// A visit of `uscc` that `window` registers, under transaction `number`.
async fn service_record(
    client: &mut EvaluationServiceClient<Channel>,
    token: &str,
    window: &str,
    uscc: &str,
    number: &str,
) -> eval::ServiceRecord {
    client
        .register_service_record(authed(
            eval::RegisterServiceRecordRequest {
                request_id: format!("visit-{window}-{number}"),
                window_id: window.to_owned(),
                uscc: uscc.to_owned(),
                matter: "企业开办".into(),
                transaction_number: number.to_owned(),
                serve_time: None,
            },
            token,
        ))
        .await
        .expect("the window registers the visit")
        .into_inner()
}

#[tokio::test]
async fn a_window_is_rated_once_per_visit_it_registered_by_the_enterprise_it_served() {
    let suite = TestSuite::start().await;
    let mut client = evaluation(&suite).await;
    let window = suite.handler_token("510821-xzsp");
    let firm = suite.enterprise_token(USCC_A, "510821");
    let other_firm = suite.enterprise_token(USCC_B, "510821");
    let visit = service_record(&mut client, &window, "510821-xzsp-01", USCC_A, "2026-0001").await;
    assert_eq!(visit.department_id, "510821-xzsp");
    assert_eq!(visit.jurisdiction_code, "510821");
    assert_eq!(visit.enterprise.as_ref().unwrap().uscc, USCC_A);
    assert!(visit.review_id.is_empty());
    // The platform pushing the same transaction again, or a retry, gets the
    // same record.
    let again = service_record(&mut client, &window, "510821-xzsp-01", USCC_A, "2026-0001").await;
    assert_eq!(again.id, visit.id);
    let mut pushed = eval::RegisterServiceRecordRequest {
        request_id: "platform-push".into(),
        window_id: "510821-xzsp-01".into(),
        uscc: USCC_A.into(),
        matter: "企业开办".into(),
        transaction_number: "2026-0001".into(),
        serve_time: None,
    };
    let repushed = client
        .register_service_record(authed(pushed.clone(), &suite.service_token()))
        .await
        .expect("the platform pushes the transaction again")
        .into_inner();
    assert_eq!(repushed.id, visit.id);
    // The number is the window's: another enterprise under it is a conflict.
    pushed.request_id = "platform-other".into();
    pushed.uscc = USCC_B.into();
    let status = client
        .register_service_record(authed(pushed.clone(), &suite.service_token()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    // A window of a department not in the directory, of another department,
    // or of another county is not registered.
    for (window_id, token, code) in [
        (
            "510821-window-01",
            suite.service_token(),
            Code::InvalidArgument,
        ),
        ("510821-jrj-01", window.clone(), Code::PermissionDenied),
        ("510822-xzsp-01", window.clone(), Code::PermissionDenied),
        (
            "510822-xzsp-01",
            suite.official_token(Role::Coordinator, "510821"),
            Code::PermissionDenied,
        ),
    ] {
        let status = client
            .register_service_record(authed(
                eval::RegisterServiceRecordRequest {
                    request_id: format!("probe-{window_id}"),
                    window_id: window_id.into(),
                    transaction_number: "X-1".into(),
                    ..pushed.clone()
                },
                &token,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{window_id}: {status:?}");
        if code == Code::InvalidArgument {
            assert!(status.message().contains("window_id"), "{status:?}");
        }
    }

    let review = |request_id: &str, record: &str| eval::SubmitReviewRequest {
        request_id: request_id.to_owned(),
        target_kind: eval::TargetKind::ServiceWindow as i32,
        target_id: "510821-xzsp-01".into(),
        service_record_id: record.to_owned(),
        rating: eval::Rating::VerySatisfied as i32,
        ..Default::default()
    };
    // No record: the field is named. Another enterprise's: refused. A record
    // that does not exist: not found.
    let status = client
        .submit_review(authed(review("r-0", ""), &firm))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("service_record_id"), "{status:?}");
    let status = client
        .submit_review(authed(review("r-1", &visit.id), &other_firm))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = client
        .submit_review(authed(
            review("r-2", "510821-01JZZZZZZZZZZZZZZZZZZZZZZZ"),
            &firm,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    // Named with another window: refused, naming target_id.
    let status = client
        .submit_review(authed(
            eval::SubmitReviewRequest {
                target_id: "510821-xzsp-02".into(),
                ..review("r-3", &visit.id)
            },
            &firm,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("target_id"), "{status:?}");

    let rated = client
        .submit_review(authed(review("r-4", &visit.id), &firm))
        .await
        .expect("the enterprise served rates the window")
        .into_inner();
    assert_eq!(rated.service_record_id, visit.id);
    assert_eq!(rated.department_id, "510821-xzsp");
    assert_eq!(rated.target_id, "510821-xzsp-01");
    // A retry is the same review; a second rating of the visit is refused.
    let retry = client
        .submit_review(authed(review("r-4", &visit.id), &firm))
        .await
        .expect("a retry succeeds")
        .into_inner();
    assert_eq!(retry, rated);
    let status = client
        .submit_review(authed(review("r-5", &visit.id), &firm))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(
        reviews(&suite, "", &suite.official_token(Role::Admin, "510800"))
            .await
            .len(),
        1
    );

    // The enterprise lists the visits it may still rate; the department sees
    // whom its windows served, never which of them reviewed.
    let list = |token: String, unrated_only: bool| {
        let mut client = client.clone();
        async move {
            client
                .list_service_records(authed(
                    eval::ListServiceRecordsRequest {
                        unrated_only,
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .unwrap()
                .into_inner()
                .service_records
        }
    };
    let mine = list(firm.clone(), false).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].review_id, rated.id);
    assert!(list(firm.clone(), true).await.is_empty());
    assert!(list(other_firm.clone(), false).await.is_empty());
    let seen = list(window.clone(), false).await;
    assert_eq!(seen.len(), 1);
    assert!(seen[0].review_id.is_empty(), "{seen:?}");
    assert!(
        list(suite.handler_token("510821-jrj"), false)
            .await
            .is_empty()
    );
    assert!(
        list(evaluator_token(&suite, "510821"), false)
            .await
            .is_empty()
    );
    assert!(
        list(suite.official_token(Role::Coordinator, "510822"), false)
            .await
            .is_empty()
    );
    assert_eq!(
        list(suite.official_token(Role::Coordinator, "510800"), false)
            .await
            .len(),
        1
    );
    suite.stop().await;
}

fn violation(
    request_id: &str,
    severity: eval::Severity,
    corrected: bool,
) -> eval::RecordViolationRequest {
    eval::RecordViolationRequest {
        uscc: USCC_C.into(),
        request_id: request_id.to_owned(),
        severity: severity as i32,
        description: "未按规定公示营业执照".into(),
        promptly_corrected: corrected,
        occur_time: None,
        department_id: String::new(),
    }
}

#[tokio::test]
async fn a_first_minor_violation_goes_unpunished_and_a_repeat_is_punished_heavily() {
    let suite = TestSuite::start().await;
    let mut client = evaluation(&suite).await;
    let scjg = suite.handler_token("510821-scjg");
    let first = client
        .record_violation(authed(violation("v-1", eval::Severity::Minor, true), &scjg))
        .await
        .expect("the violation is recorded")
        .into_inner();
    assert_eq!(
        first.decision,
        eval::PenaltyDecision::NoPenaltyFirstMinor as i32
    );
    assert_eq!(first.prior_violation_count, 0);
    assert_eq!(first.department_id, "510821-scjg");
    assert_eq!(first.jurisdiction_code, "510821");
    assert!(!first.decision_reason.is_empty());

    // A retry records nothing new.
    let retry = client
        .record_violation(authed(violation("v-1", eval::Severity::Minor, true), &scjg))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry, first);

    let second = client
        .record_violation(authed(violation("v-2", eval::Severity::Minor, true), &scjg))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.decision, eval::PenaltyDecision::HeavyRepeat as i32);
    assert_eq!(second.prior_violation_count, 1);

    // Another enterprise's first general violation is punished as the law provides.
    let mut general = violation("v-3", eval::Severity::General, true);
    general.uscc = USCC_A.into();
    let general = client
        .record_violation(authed(general, &scjg))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(general.decision, eval::PenaltyDecision::Standard as i32);

    let own = credit(&suite, USCC_C, &suite.enterprise_token(USCC_C, "510821"))
        .await
        .expect("the enterprise reads its own record");
    assert_eq!(own.violations.len(), 2);
    assert_eq!(own.violations[0].id, second.id);
    // Another enterprise's record is not found for it.
    let status = credit(&suite, USCC_A, &suite.enterprise_token(USCC_C, "510821"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    suite.stop().await;
}

#[tokio::test]
async fn a_suspension_takes_effect_only_when_a_city_leader_approves_it() {
    let suite = TestSuite::start().await;
    let mut client = evaluation(&suite).await;
    let scjg = suite.handler_token("510821-scjg");
    let proposed = client
        .propose_suspension(authed(
            eval::ProposeSuspensionRequest {
                uscc: USCC_C.into(),
                request_id: "s-1".into(),
                reason: "重大安全隐患拒不整改".into(),
                ..Default::default()
            },
            &scjg,
        ))
        .await
        .expect("the department proposes")
        .into_inner();
    assert_eq!(proposed.state, eval::SuspensionState::Proposed as i32);
    assert!(proposed.start_time.is_none());

    let city = suite.official_token(Role::Coordinator, "510800");
    let before = credit(&suite, USCC_C, &city).await.unwrap();
    assert_eq!(before.suspensions.len(), 1);
    assert_eq!(
        before.suspensions[0].state,
        eval::SuspensionState::Proposed as i32
    );
    assert!(before.suspensions[0].start_time.is_none());

    // A county leader may not decide; nor may the city's office.
    let decide = |approve: bool, etag: &str| eval::DecideSuspensionRequest {
        uscc: USCC_C.into(),
        id: proposed.id.clone(),
        etag: etag.to_owned(),
        approve,
        note: "同意".into(),
        ..Default::default()
    };
    let status = client
        .decide_suspension(authed(
            decide(true, &proposed.etag),
            &suite.official_token(Role::Leader, "510821"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = client
        .decide_suspension(authed(
            decide(true, &proposed.etag),
            &suite.official_token(Role::Coordinator, "510800"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let still = credit(&suite, USCC_C, &city).await.unwrap();
    assert_eq!(
        still.suspensions[0].state,
        eval::SuspensionState::Proposed as i32
    );

    let city_leader = suite.official_token(Role::Leader, "510800");
    let status = client
        .decide_suspension(authed(decide(true, "\"9\""), &city_leader))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    let approved = client
        .decide_suspension(authed(decide(true, &proposed.etag), &city_leader))
        .await
        .expect("the city leader approves")
        .into_inner();
    assert_eq!(approved.state, eval::SuspensionState::Approved as i32);
    assert!(approved.start_time.is_some());
    assert_eq!(approved.decided_by, "leader@510800");
    let status = client
        .decide_suspension(authed(decide(false, &approved.etag), &city_leader))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    suite.stop().await;
}

#[tokio::test]
async fn credit_listings_change_only_with_the_current_etag() {
    let suite = TestSuite::start().await;
    let mut client = evaluation(&suite).await;
    let coordinator = suite.official_token(Role::Coordinator, "510821");
    let put = |etag: &str, reason: &str| eval::PutCreditListingRequest {
        uscc: USCC_A.into(),
        list: eval::CreditList::Black as i32,
        reason: reason.to_owned(),
        expire_time: None,
        etag: etag.to_owned(),
        request_id: String::new(),
    };
    let listed = client
        .put_credit_listing(authed(put("", "拖欠农民工工资"), &coordinator))
        .await
        .expect("the office lists the enterprise")
        .into_inner();
    assert_eq!(listed.list, eval::CreditList::Black as i32);
    let status = client
        .put_credit_listing(authed(put("", "again"), &coordinator))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    let listed_credit = credit(&suite, USCC_A, &coordinator).await.unwrap();
    assert_eq!(listed_credit.current_list, eval::CreditList::Black as i32);
    // An expiry of now lifts the listing.
    let mut lift = put(&listed.etag, "已结清欠薪");
    lift.expire_time = Some(prost_types::Timestamp {
        seconds: now_seconds() - 1,
        nanos: 0,
    });
    let lifted = client
        .put_credit_listing(authed(lift, &coordinator))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lifted.id, listed.id);
    let lifted_credit = credit(&suite, USCC_A, &coordinator).await.unwrap();
    assert_eq!(
        lifted_credit.current_list,
        eval::CreditList::Unspecified as i32
    );
    assert_eq!(lifted_credit.listings.len(), 1);
    suite.stop().await;
}

#[tokio::test]
async fn campaign_responses_count_once_per_enterprise_and_add_up() {
    let suite = TestSuite::start().await;
    let mut client = evaluation(&suite).await;
    let coordinator = suite.official_token(Role::Coordinator, "510800");
    let now = now_seconds();
    let campaign = eval::Campaign {
        kind: eval::CampaignKind::LawEnforcement as i32,
        title: "2026年百企评执法".into(),
        items: vec![
            eval::CampaignItem {
                key: "fair".into(),
                text: "执法是否公正".into(),
                department_id: "510800-scjg".into(),
            },
            eval::CampaignItem {
                key: "overall".into(),
                text: "总体评价".into(),
                department_id: String::new(),
            },
        ],
        start_time: Some(prost_types::Timestamp {
            seconds: now - 60,
            nanos: 0,
        }),
        end_time: Some(prost_types::Timestamp {
            seconds: now + 86_400,
            nanos: 0,
        }),
        ..Default::default()
    };
    let create = eval::CreateCampaignRequest {
        request_id: "c-1".into(),
        campaign: Some(campaign),
    };
    let created = client
        .create_campaign(authed(create.clone(), &coordinator))
        .await
        .expect("the city creates a campaign")
        .into_inner();
    assert_eq!(created.jurisdiction_code, "510800");
    let retry = client
        .create_campaign(authed(create, &coordinator))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry.id, created.id);

    // A county enterprise is invited to the city's campaign.
    let firm_a = suite.enterprise_token(USCC_A, "510821");
    let open = client
        .list_campaigns(authed(
            eval::ListCampaignsRequest {
                open_only: true,
                ..Default::default()
            },
            &firm_a,
        ))
        .await
        .unwrap()
        .into_inner()
        .campaigns;
    assert_eq!(
        open.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [created.id.as_str()]
    );

    let answer = |key: &str, rating: eval::Rating| eval::CampaignAnswer {
        item_key: key.into(),
        rating: rating as i32,
        comment: String::new(),
    };
    let respond = |request_id: &str, answers: Vec<eval::CampaignAnswer>| {
        eval::SubmitCampaignResponseRequest {
            request_id: request_id.to_owned(),
            campaign_id: created.id.clone(),
            answers,
            comment: String::new(),
        }
    };
    let both = respond(
        "a-1",
        vec![
            answer("fair", eval::Rating::VerySatisfied),
            answer("overall", eval::Rating::Satisfied),
        ],
    );
    let first = client
        .submit_campaign_response(authed(both.clone(), &firm_a))
        .await
        .expect("the enterprise answers")
        .into_inner();
    let retry = client
        .submit_campaign_response(authed(both, &firm_a))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry.id, first.id);
    let status = client
        .submit_campaign_response(authed(
            respond("a-2", vec![answer("fair", eval::Rating::Dissatisfied)]),
            &firm_a,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");

    let firm_b = suite.enterprise_token(USCC_B, "510822");
    let status = client
        .submit_campaign_response(authed(
            respond(
                "b-0",
                vec![
                    answer("fair", eval::Rating::Dissatisfied),
                    answer("nope", eval::Rating::Satisfied),
                ],
            ),
            &firm_b,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(bad_fields(&status), ["answers[1].item_key"]);
    client
        .submit_campaign_response(authed(
            respond("b-1", vec![answer("fair", eval::Rating::Dissatisfied)]),
            &firm_b,
        ))
        .await
        .expect("another enterprise answers");

    let results = client
        .get_campaign_results(authed(
            eval::GetCampaignResultsRequest {
                campaign_id: created.id.clone(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(results.response_count, 2);
    let fair = &results.items[0];
    assert_eq!(fair.item_key, "fair");
    assert_eq!(fair.answer_count, 2);
    assert!((fair.good_rate - 0.5).abs() < 1e-9);
    assert!((fair.average_rating - 3.5).abs() < 1e-9);
    let count = |rating: eval::Rating| {
        fair.rating_counts
            .iter()
            .find(|c| c.rating == rating as i32)
            .map(|c| c.count)
    };
    assert_eq!(count(eval::Rating::VerySatisfied), Some(1));
    assert_eq!(count(eval::Rating::Dissatisfied), Some(1));
    assert_eq!(results.items[1].answer_count, 1);
    assert_eq!(results.departments.len(), 1);
    assert_eq!(results.departments[0].department_id, "510800-scjg");
    assert_eq!(results.departments[0].answer_count, 2);

    // A county office does not see the city's campaign results.
    let status = client
        .get_campaign_results(authed(
            eval::GetCampaignResultsRequest {
                campaign_id: created.id.clone(),
            },
            &suite.official_token(Role::Coordinator, "510821"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    suite.stop().await;
}

#[tokio::test]
async fn a_campaign_inviting_by_name_is_listed_and_answered_by_its_invitees_only() {
    let suite = TestSuite::start().await;
    let mut client = evaluation(&suite).await;
    let coordinator = suite.official_token(Role::Coordinator, "510800");
    let now = now_seconds();
    let create = |request_id: &str, invited: &[&str]| eval::CreateCampaignRequest {
        request_id: request_id.to_owned(),
        campaign: Some(eval::Campaign {
            kind: eval::CampaignKind::BusinessEnvironment as i32,
            title: format!("营商环境评议 {request_id}"),
            items: vec![eval::CampaignItem {
                key: "overall".into(),
                text: "总体评价".into(),
                department_id: String::new(),
            }],
            start_time: Some(prost_types::Timestamp {
                seconds: now - 60,
                nanos: 0,
            }),
            end_time: Some(prost_types::Timestamp {
                seconds: now + 86_400,
                nanos: 0,
            }),
            invited_usccs: invited.iter().map(|u| (*u).to_owned()).collect(),
            ..Default::default()
        }),
    };
    // A name given twice is invited once; the order given is kept.
    let named = client
        .create_campaign(authed(
            create("named", &[USCC_B, USCC_A, USCC_B]),
            &coordinator,
        ))
        .await
        .expect("the city invites two enterprises by name")
        .into_inner();
    assert_eq!(named.invited_usccs, [USCC_B, USCC_A]);
    let other = client
        .create_campaign(authed(create("other", &[USCC_C]), &coordinator))
        .await
        .expect("the city invites a third enterprise by name")
        .into_inner();

    let listed = |token: String| {
        let mut client = client.clone();
        async move {
            let mut campaigns = client
                .list_campaigns(authed(eval::ListCampaignsRequest::default(), &token))
                .await
                .expect("the campaigns are listed")
                .into_inner()
                .campaigns;
            campaigns.sort_by(|a, b| a.id.cmp(&b.id));
            campaigns
        }
    };
    let mut both = vec![named.clone(), other.clone()];
    both.sort_by(|a, b| a.id.cmp(&b.id));
    // Each campaign of a page comes with its own invitees.
    assert_eq!(listed(coordinator.clone()).await, both);
    assert_eq!(
        listed(suite.enterprise_token(USCC_A, "510821")).await,
        std::slice::from_ref(&named)
    );
    assert_eq!(
        listed(suite.enterprise_token(USCC_C, "510822")).await,
        std::slice::from_ref(&other)
    );

    let respond = |campaign: &eval::Campaign| eval::SubmitCampaignResponseRequest {
        request_id: format!("answer-{}", campaign.id),
        campaign_id: campaign.id.clone(),
        answers: vec![eval::CampaignAnswer {
            item_key: "overall".into(),
            rating: eval::Rating::Satisfied as i32,
            comment: String::new(),
        }],
        comment: String::new(),
    };
    let firm_a = suite.enterprise_token(USCC_A, "510821");
    let status = client
        .submit_campaign_response(authed(respond(&other), &firm_a))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let answer = client
        .submit_campaign_response(authed(respond(&named), &firm_a))
        .await
        .expect("an invitee answers")
        .into_inner();
    assert_eq!(answer.campaign_id, named.id);
    suite.stop().await;
}

#[tokio::test]
async fn assessments_and_government_reviews_are_taken_from_their_roles() {
    let suite = TestSuite::start().await;
    let mut client = evaluation(&suite).await;
    let evaluator = evaluator_token(&suite, "510800");
    let assess = eval::SubmitAssessmentRequest {
        request_id: "as-1".into(),
        jurisdiction_code: "510821".into(),
        department_id: "510821-jrj".into(),
        period: "2026-Q3".into(),
        score: 86.5,
        summary: "沟通及时".into(),
    };
    let assessment = client
        .submit_assessment(authed(assess.clone(), &evaluator))
        .await
        .expect("the evaluator assesses")
        .into_inner();
    assert_eq!(assessment.evaluator, "evaluator@third-party");
    assert_eq!(assessment.evaluator_name, "第三方评估机构");
    assert_eq!(assessment.period, "2026-Q3");
    let retry = client
        .submit_assessment(authed(assess, &evaluator))
        .await
        .expect("a retry succeeds")
        .into_inner();
    assert_eq!(retry, assessment);
    let status = client
        .submit_assessment(authed(
            eval::SubmitAssessmentRequest {
                jurisdiction_code: "510821".into(),
                period: "2026-Q5".into(),
                score: 101.0,
                ..Default::default()
            },
            &evaluator,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(bad_fields(&status), ["period", "score"]);
    // A coordinator is no third party.
    let status = client
        .submit_assessment(authed(
            eval::SubmitAssessmentRequest {
                jurisdiction_code: "510821".into(),
                period: "2026".into(),
                score: 80.0,
                ..Default::default()
            },
            &suite.official_token(Role::Coordinator, "510821"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // A third party rates a jurisdiction's communication; a department rates an enterprise.
    let communication = client
        .submit_review(authed(
            eval::SubmitReviewRequest {
                target_kind: eval::TargetKind::Jurisdiction as i32,
                target_id: "510821".into(),
                rating: eval::Rating::BasicSatisfied as i32,
                ..Default::default()
            },
            &evaluator,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        communication.direction,
        eval::Direction::ThirdPartyToCommunication as i32
    );
    let rated = client
        .submit_review(authed(
            eval::SubmitReviewRequest {
                target_kind: eval::TargetKind::Enterprise as i32,
                target_id: USCC_A.into(),
                rating: eval::Rating::VeryDissatisfied as i32,
                comment: "多次拖延提交材料".into(),
                ..Default::default()
            },
            &suite.handler_token("510821-zjj"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        rated.direction,
        eval::Direction::GovernmentToEnterprise as i32
    );
    assert_eq!(rated.department_id, "510821-zjj");
    assert_eq!(rated.enterprise.as_ref().unwrap().uscc, USCC_A);
    // A government review of an enterprise opens no rectification.
    assert!(rated.rectification_id.is_empty());
    // An enterprise may not rate an enterprise.
    let status = client
        .submit_review(authed(
            eval::SubmitReviewRequest {
                target_kind: eval::TargetKind::Enterprise as i32,
                target_id: USCC_B.into(),
                rating: eval::Rating::Satisfied as i32,
                ..Default::default()
            },
            &suite.enterprise_token(USCC_A, "510821"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    suite.stop().await;
}

#[tokio::test]
async fn bad_input_names_every_field_and_stores_nothing() {
    let suite = TestSuite::start().await;
    let mut client = evaluation(&suite).await;
    let firm = suite.enterprise_token(USCC_A, "510821");
    let status = client
        .submit_review(authed(
            eval::SubmitReviewRequest {
                target_kind: 42,
                rating: 0,
                dimensions: vec![eval::DimensionRating {
                    dimension: String::new(),
                    rating: 9,
                }],
                ..Default::default()
            },
            &firm,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(
        bad_fields(&status),
        [
            "target_kind",
            "rating",
            "dimensions[0].dimension",
            "dimensions[0].rating"
        ]
    );

    let scjg = suite.handler_token("510821-scjg");
    let status = client
        .record_violation(authed(
            eval::RecordViolationRequest {
                uscc: "91350200776049653B".into(),
                severity: 7,
                description: String::new(),
                occur_time: Some(prost_types::Timestamp {
                    seconds: i64::MAX,
                    nanos: 0,
                }),
                ..Default::default()
            },
            &scjg,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(
        bad_fields(&status),
        ["uscc", "severity", "description", "occur_time"]
    );

    let coordinator = suite.official_token(Role::Coordinator, "510821");
    let status = client
        .create_campaign(authed(
            eval::CreateCampaignRequest {
                request_id: String::new(),
                campaign: Some(eval::Campaign {
                    jurisdiction_code: "999999".into(),
                    items: vec![eval::CampaignItem {
                        key: "a b".into(),
                        text: String::new(),
                        department_id: String::new(),
                    }],
                    invited_usccs: vec!["nope".into()],
                    ..Default::default()
                }),
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(
        bad_fields(&status),
        [
            "campaign.jurisdiction_code",
            "campaign.kind",
            "campaign.title",
            "campaign.items[0].key",
            "campaign.items[0].text",
            "campaign.end_time",
            "campaign.invited_usccs[0]",
        ]
    );
    let status = client
        .list_reviews(authed(
            eval::ListReviewsRequest {
                page_token: "garbage".into(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["page_token"]);

    assert!(reviews(&suite, "", &coordinator).await.is_empty());
    let record = credit(&suite, USCC_A, &coordinator).await.unwrap();
    assert!(record.violations.is_empty());
    let campaigns = client
        .list_campaigns(authed(eval::ListCampaignsRequest::default(), &coordinator))
        .await
        .unwrap()
        .into_inner()
        .campaigns;
    assert!(campaigns.is_empty());
    suite.stop().await;
}

/// Evaluation's events from the start, until `count` have arrived.
async fn events(suite: &TestSuite, count: usize) -> Vec<zhengqi_proto::zhengqi::common::v1::Event> {
    let mut stream = evaluation(suite)
        .await
        .watch_events(authed(
            zhengqi_proto::zhengqi::common::v1::WatchEventsRequest::default(),
            &suite.service_token(),
        ))
        .await
        .expect("a service follows evaluation's log")
        .into_inner();
    next_events(&mut stream, count, Duration::from_secs(10)).await
}

fn decode<M: prost::Message + Default>(event: &zhengqi_proto::zhengqi::common::v1::Event) -> M {
    M::decode(event.payload.as_ref().unwrap().value.as_slice()).unwrap()
}

#[tokio::test]
async fn every_change_is_an_event_carrying_the_whole_resource() {
    let suite = TestSuite::start().await;
    let mut client = evaluation(&suite).await;
    let (case, invited) = resolved_case(&suite, "events", USCC_A).await;
    let review = client
        .submit_review(authed(
            review_of_case("ev-1", &case.id, eval::Rating::VeryDissatisfied, "推诿"),
            &suite.enterprise_token(USCC_A, "510821"),
        ))
        .await
        .unwrap()
        .into_inner();
    let violation = client
        .record_violation(authed(
            violation("ev-v", eval::Severity::Minor, true),
            &suite.handler_token("510821-scjg"),
        ))
        .await
        .unwrap()
        .into_inner();
    let seen = events(&suite, 4).await;
    let types: Vec<&str> = seen.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(
        types,
        [
            "zhengqi.evaluation.v1.ReviewInvited",
            "zhengqi.evaluation.v1.ReviewSubmitted",
            "zhengqi.evaluation.v1.RectificationOpened",
            "zhengqi.evaluation.v1.ViolationRecorded",
        ]
    );
    let invited_event: eval::ReviewInvited = decode(&seen[0]);
    assert_eq!(invited_event.review.unwrap().id, invited.id);
    let submitted: eval::ReviewSubmitted = decode(&seen[1]);
    let submitted = submitted.review.unwrap();
    assert_eq!(submitted.id, review.id);
    assert_eq!(submitted.rating, eval::Rating::VeryDissatisfied as i32);
    assert_eq!(submitted.department_id, "510821-jrj");
    assert_eq!(submitted.enterprise.unwrap().uscc, USCC_A);
    assert_eq!(seen[1].jurisdiction_code, "510821");
    let opened: eval::RectificationOpened = decode(&seen[2]);
    let opened = opened.rectification.unwrap();
    assert_eq!(opened.id, review.rectification_id);
    assert!(opened.due_time.is_some());
    let recorded: eval::ViolationRecorded = decode(&seen[3]);
    assert_eq!(recorded.violation.unwrap(), violation);
    suite.stop().await;
}

#[tokio::test]
async fn a_full_replay_of_routings_log_invites_nothing_twice() {
    let test = TestSuite::start().await;
    let (case, invited) = resolved_case(&test, "replay", USCC_A).await;
    // Forget evaluation's cursor: routing's whole log is applied again.
    let test = test.restart_forgetting_cursors("evaluation").await;
    // A later case's invitation arrives after the replayed ones were applied.
    let (_, later) = resolved_case(&test, "replay-later", USCC_B).await;
    let all = reviews(&test, "", &test.official_token(Role::Coordinator, "510800")).await;
    let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [later.id.as_str(), invited.id.as_str()]);
    assert_eq!(all[1].case_id, case.id);
    // And the log holds one invitation per case.
    let seen = events(&test, 2).await;
    assert!(
        seen.iter()
            .all(|e| e.r#type == "zhengqi.evaluation.v1.ReviewInvited")
    );
    assert_ne!(seen[0].subject_id, seen[1].subject_id);
    test.stop().await;
}
