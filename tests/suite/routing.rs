//! Routing through the gateway: appeals become cases at the right level,
//! department and deadline; the state machine with each actor's own token;
//! scope; idempotency; routing rules; restarts with intake's events replayed.

use std::time::Duration;

use crate::common::cases::*;
use crate::common::*;
use tonic::Code;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::routing::v1 as routing;
use zhengqi_routing::domain::deadline;
use zhengqi_shared::auth::{Role, TokenRequest};
use zhengqi_shared::reference::Calendar;
use zhengqi_shared::storage::micros_of;

/// The deadline a time limit of `days` gives an appeal accepted at `appeal`'s create time.
fn expected_deadline(appeal: &intake::Appeal, days: u32) -> prost_types::Timestamp {
    let start = micros_of(appeal.create_time.as_ref().unwrap());
    let micros = deadline::deadline_from(&Calendar::official(), start, days).unwrap();
    zhengqi_shared::storage::timestamp(micros)
}

#[tokio::test]
async fn an_appeal_becomes_a_pending_case_at_its_county_with_department_and_deadline() {
    let suite = TestSuite::start().await;
    let appeal = submit(
        &suite,
        appeal("r-1", USCC_A, "510821", "流动资金贷款审批慢"),
    )
    .await;
    let case = case_of(&suite, &appeal.id).await;
    assert!(case.id.starts_with("510821-"), "{}", case.id);
    assert_eq!(case.number, appeal.number);
    assert_eq!(case.state, routing::CaseState::Pending as i32);
    assert_eq!(case.level, routing::Level::County as i32);
    assert_eq!(case.department_id, "510821-jrj");
    assert_eq!(case.time_limit_working_days, 7);
    assert_eq!(case.deadline, Some(expected_deadline(&appeal, 7)));
    assert_eq!(case.supervision, routing::Supervision::None as i32);
    assert_eq!(case.enterprise.as_ref().unwrap().uscc, USCC_A);
    assert!(!case.etag.is_empty());

    let history = history_of(&suite, &case.id).await;
    assert_eq!(history.entries.len(), 1);
    assert_eq!(history.entries[0].action, routing::CaseAction::Open as i32);
    assert_eq!(history.entries[0].entry_hash.len(), 64);

    // The enterprise reads its own case.
    let own = cases(&suite)
        .await
        .get_case(authed(
            routing::GetCaseRequest {
                id: case.id.clone(),
            },
            &suite.enterprise_token(USCC_A, "510821"),
        ))
        .await
        .expect("the enterprise reads its case")
        .into_inner();
    assert_eq!(own.id, case.id);
    suite.stop().await;
}

#[tokio::test]
async fn time_limits_follow_the_appeal_kind() {
    let suite = TestSuite::start().await;
    let mut enquiry = appeal("enquiry", USCC_A, "510822", "社保缴纳政策咨询");
    enquiry.kind = intake::AppealKind::Enquiry as i32;
    enquiry.category = intake::Category::Employment as i32;
    let mut complaint = appeal("complaint", USCC_B, "510822", "执法检查过于频繁");
    complaint.kind = intake::AppealKind::Complaint as i32;
    complaint.category = intake::Category::LawEnforcement as i32;
    let enquiry = submit(&suite, enquiry).await;
    let complaint = submit(&suite, complaint).await;
    let enquiry_case = case_of(&suite, &enquiry.id).await;
    let complaint_case = case_of(&suite, &complaint.id).await;
    assert_eq!(enquiry_case.time_limit_working_days, 3);
    assert_eq!(enquiry_case.deadline, Some(expected_deadline(&enquiry, 3)));
    assert_eq!(enquiry_case.department_id, "510822-rsj");
    assert_eq!(complaint_case.time_limit_working_days, 15);
    assert_eq!(
        complaint_case.deadline,
        Some(expected_deadline(&complaint, 15))
    );
    assert_eq!(complaint_case.department_id, "510822-sfj");
    suite.stop().await;
}

#[tokio::test]
async fn mayor_direct_line_and_key_project_appeals_start_at_the_city() {
    let suite = TestSuite::start().await;
    let mut mayor = appeal("mayor", USCC_A, "510821", "用地审批");
    mayor.channel = intake::Channel::MayorDirectLine as i32;
    mayor.category = intake::Category::LandAndPlanning as i32;
    let mayor = submit(&suite, mayor).await;
    let case = case_of(&suite, &mayor.id).await;
    assert_eq!(case.level, routing::Level::City as i32);
    assert_eq!(case.department_id, "510800-zrzy");
    assert_eq!(case.jurisdiction_code, "510821");

    let coordinator = suite.official_token(Role::Coordinator, "510823");
    suite
        .register_enterprise(
            intake::Enterprise {
                uscc: USCC_B.into(),
                name: "剑阁县重点项目公司".into(),
                jurisdiction_code: "510823".into(),
                tags: vec![intake::EnterpriseTag::KeyProject as i32],
                ..Default::default()
            },
            &coordinator,
        )
        .await;
    let key = submit(&suite, appeal("key", USCC_B, "510823", "项目融资")).await;
    let case = case_of(&suite, &key.id).await;
    assert_eq!(case.level, routing::Level::City as i32);
    assert_eq!(case.department_id, "510800-jrj");
    assert_eq!(
        case.enterprise_tags,
        [intake::EnterpriseTag::KeyProject as i32]
    );
    suite.stop().await;
}

#[tokio::test]
async fn a_duplicate_joins_the_original_case_instead_of_opening_one() {
    let suite = TestSuite::start().await;
    let original = submit(
        &suite,
        appeal("a", USCC_A, "510821", "厂房用地审批迟迟未办"),
    )
    .await;
    let duplicate = submit(
        &suite,
        appeal("b", USCC_A, "510821", "厂房用地审批迟迟未办理！"),
    )
    .await;
    assert_eq!(duplicate.duplicate_of, original.id);
    let linked = poll_until(
        200,
        "the duplicate never joined the case",
        async || case_of(&suite, &original.id).await,
        |case| !case.duplicate_appeal_ids.is_empty(),
    )
    .await;
    assert_eq!(
        linked.duplicate_appeal_ids,
        std::slice::from_ref(&duplicate.id)
    );
    assert!(cases_of(&suite, &duplicate.id).await.is_empty());
    let all = cases(&suite)
        .await
        .list_cases(authed(
            routing::ListCasesRequest::default(),
            &suite.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.cases.len(), 1);
    suite.stop().await;
}

#[tokio::test]
async fn no_second_case_after_a_restart_and_a_full_replay_of_intakes_events() {
    let test = TestSuite::start().await;
    let mut appeals = Vec::new();
    for (i, title) in DISTINCT_TITLES.iter().take(5).enumerate() {
        appeals.push(submit(&test, appeal(&format!("r{i}"), USCC_A, "510821", title)).await);
    }
    for appeal in &appeals {
        case_of(&test, &appeal.id).await;
    }
    // Forget routing's cursor: intake's whole log is applied again.
    let test = test.restart_forgetting_cursors("routing").await;
    let late = submit(&test, appeal("late", USCC_B, "510821", DISTINCT_TITLES[5])).await;
    case_of(&test, &late.id).await;
    for appeal in &appeals {
        assert_eq!(cases_of(&test, &appeal.id).await.len(), 1, "{}", appeal.id);
    }
    let all = cases(&test)
        .await
        .list_cases(authed(
            routing::ListCasesRequest::default(),
            &test.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.cases.len(), 6);
    test.stop().await;
}

/// Appeal `i` of a run: three enterprises × twelve categories, so no two are the
/// same matter.
fn distinct_appeal(i: usize) -> intake::SubmitAppealRequest {
    let uscc = [USCC_A, USCC_B, USCC_C][i % 3];
    let mut request = appeal(
        &format!("mid-{i}"),
        uscc,
        "510821",
        DISTINCT_TITLES[i % DISTINCT_TITLES.len()],
    );
    request.category = (i / 3 % 12 + 1) as i32;
    request
}

#[tokio::test]
async fn one_case_per_appeal_when_the_suite_is_stopped_mid_stream_and_started_again() {
    let test = TestSuite::start().await;
    // Appeals arrive concurrently; the suite stops while routing is still
    // turning them into cases.
    let mut calls = Vec::new();
    for i in 0..18 {
        let request = distinct_appeal(i);
        let uscc = request.enterprise.as_ref().unwrap().uscc.clone();
        let token = test.enterprise_token(&uscc, "510821");
        let mut client = test.intake().await;
        calls.push(tokio::spawn(async move {
            client
                .submit_appeal(authed(request, &token))
                .await
                .unwrap()
                .into_inner()
        }));
    }
    let mut appeals = Vec::new();
    for call in calls {
        appeals.push(call.await.unwrap());
    }
    let test = test.restart().await;
    for i in 18..36 {
        appeals.push(submit(&test, distinct_appeal(i)).await);
    }
    for appeal in &appeals {
        assert_eq!(
            appeal.status,
            intake::AppealStatus::Received as i32,
            "{}",
            appeal.title
        );
        case_of(&test, &appeal.id).await;
    }
    for appeal in &appeals {
        assert_eq!(cases_of(&test, &appeal.id).await.len(), 1, "{}", appeal.id);
    }
    let all = cases(&test)
        .await
        .list_cases(authed(
            routing::ListCasesRequest {
                page_size: 100,
                ..Default::default()
            },
            &test.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.cases.len(), 36);
    test.stop().await;
}

/// Titles different enough that intake does not take them for the same matter.
const DISTINCT_TITLES: [&str; 6] = [
    "流动资金贷款审批慢",
    "厂房用地手续迟迟未办",
    "员工社保缴纳政策咨询",
    "道路施工影响货车通行",
    "消防验收标准不一致",
    "出口退税到账时间长",
];

#[tokio::test]
async fn a_case_walks_from_acceptance_to_closing_with_each_actors_own_token() {
    let suite = TestSuite::start().await;
    let appeal = submit(&suite, appeal("walk", USCC_A, "510821", "贷款审批慢")).await;
    let case = case_of(&suite, &appeal.id).await;
    let mut client = cases(&suite).await;
    let coordinator = suite.official_token(Role::Coordinator, "510821");
    let jrj = suite.handler_token("510821-jrj");
    let czj = suite.handler_token("510821-czj");
    let firm = suite.enterprise_token(USCC_A, "510821");
    let id = case.id.clone();

    // Wrong actor: a handler cannot accept; wrong state: nothing to close yet.
    let status = client
        .accept_case(authed(
            routing::AcceptCaseRequest {
                id: id.clone(),
                etag: case.etag.clone(),
                ..Default::default()
            },
            &jrj,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = client
        .close_case(authed(
            routing::CloseCaseRequest {
                id: id.clone(),
                etag: case.etag.clone(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

    let accepted = client
        .accept_case(authed(
            routing::AcceptCaseRequest {
                id: id.clone(),
                etag: case.etag.clone(),
                note: "受理".into(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .expect("the coordinator accepts")
        .into_inner();
    assert_eq!(accepted.state, routing::CaseState::Accepted as i32);
    assert_ne!(accepted.etag, case.etag);

    // Stale etag: the one read before the acceptance.
    let status = client
        .assign_case(authed(
            routing::AssignCaseRequest {
                id: id.clone(),
                etag: case.etag.clone(),
                department_id: "510821-jrj".into(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    // An unknown department is named.
    let status = client
        .assign_case(authed(
            routing::AssignCaseRequest {
                id: id.clone(),
                etag: accepted.etag.clone(),
                department_id: "510822-jrj".into(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(bad_fields(&status), ["department_id"]);

    let assigned = client
        .assign_case(authed(
            routing::AssignCaseRequest {
                id: id.clone(),
                etag: accepted.etag.clone(),
                department_id: "510821-jrj".into(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .expect("the coordinator assigns")
        .into_inner();
    assert_eq!(assigned.state, routing::CaseState::Assigned as i32);

    // Another department's handler cannot claim it.
    let status = client
        .claim_case(authed(
            routing::ClaimCaseRequest {
                id: id.clone(),
                etag: assigned.etag.clone(),
                ..Default::default()
            },
            &czj,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let claimed = client
        .claim_case(authed(
            routing::ClaimCaseRequest {
                id: id.clone(),
                etag: assigned.etag.clone(),
                ..Default::default()
            },
            &jrj,
        ))
        .await
        .expect("the department claims")
        .into_inner();
    assert_eq!(claimed.state, routing::CaseState::InProgress as i32);
    assert_eq!(claimed.claimed_by, "handler@510821-jrj");

    let asked = client
        .request_info(authed(
            routing::RequestInfoRequest {
                id: id.clone(),
                etag: claimed.etag.clone(),
                question: "请提供贷款申请材料".into(),
                ..Default::default()
            },
            &jrj,
        ))
        .await
        .expect("the department asks")
        .into_inner();
    assert_eq!(asked.state, routing::CaseState::AwaitingEnterprise as i32);
    assert!(asked.pause_time.is_some());
    assert_eq!(asked.paused_state, routing::CaseState::InProgress as i32);

    // Only the enterprise answers.
    let status = client
        .provide_info(authed(
            routing::ProvideInfoRequest {
                id: id.clone(),
                etag: asked.etag.clone(),
                answer: "x".into(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let answered = client
        .provide_info(authed(
            routing::ProvideInfoRequest {
                id: id.clone(),
                etag: asked.etag.clone(),
                answer: "材料已上传".into(),
                ..Default::default()
            },
            &firm,
        ))
        .await
        .expect("the enterprise answers")
        .into_inner();
    assert_eq!(answered.state, routing::CaseState::InProgress as i32);
    assert_eq!(answered.info_answer, "材料已上传");
    assert!(answered.pause_time.is_none());
    // Answered the same day: the clock lost no working day.
    assert_eq!(answered.deadline, case.deadline);

    let resolved = client
        .resolve_case(authed(
            routing::ResolveCaseRequest {
                id: id.clone(),
                etag: answered.etag.clone(),
                outcome: routing::Outcome::Solved as i32,
                resolution: "已协调银行放款".into(),
                ..Default::default()
            },
            &jrj,
        ))
        .await
        .expect("the department resolves")
        .into_inner();
    assert_eq!(resolved.state, routing::CaseState::Resolved as i32);
    assert_eq!(resolved.outcome, routing::Outcome::Solved as i32);

    let reopened = client
        .reopen_case(authed(
            routing::ReopenCaseRequest {
                id: id.clone(),
                etag: resolved.etag.clone(),
                reason: "只放了一半".into(),
                ..Default::default()
            },
            &firm,
        ))
        .await
        .expect("the enterprise reopens")
        .into_inner();
    assert_eq!(reopened.state, routing::CaseState::InProgress as i32);
    assert_eq!(reopened.reopen_count, 1);

    let resolved_again = client
        .resolve_case(authed(
            routing::ResolveCaseRequest {
                id: id.clone(),
                etag: reopened.etag.clone(),
                outcome: routing::Outcome::Solved as i32,
                resolution: "已全部放款".into(),
                ..Default::default()
            },
            &jrj,
        ))
        .await
        .expect("the department resolves again")
        .into_inner();
    // The enterprise may reopen once only.
    let status = client
        .reopen_case(authed(
            routing::ReopenCaseRequest {
                id: id.clone(),
                etag: resolved_again.etag.clone(),
                reason: "again".into(),
                ..Default::default()
            },
            &firm,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    // The department does not close.
    let status = client
        .close_case(authed(
            routing::CloseCaseRequest {
                id: id.clone(),
                etag: resolved_again.etag.clone(),
                ..Default::default()
            },
            &jrj,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let closed = client
        .close_case(authed(
            routing::CloseCaseRequest {
                id: id.clone(),
                etag: resolved_again.etag.clone(),
                note: "结案".into(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .expect("the coordinator closes")
        .into_inner();
    assert_eq!(closed.state, routing::CaseState::Closed as i32);
    assert!(closed.close_time.is_some());

    let history = client
        .get_case_history(authed(
            routing::GetCaseHistoryRequest { id: id.clone() },
            &firm,
        ))
        .await
        .expect("the enterprise reads the history")
        .into_inner();
    let actions: Vec<_> = history
        .entries
        .iter()
        .map(|e| routing::CaseAction::try_from(e.action).unwrap())
        .collect();
    use routing::CaseAction as A;
    assert_eq!(
        actions,
        [
            A::Open,
            A::Accept,
            A::Assign,
            A::Claim,
            A::RequestInfo,
            A::ProvideInfo,
            A::Resolve,
            A::Reopen,
            A::Resolve,
            A::Close
        ]
    );
    let actors: Vec<_> = history.entries.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors[1], "coordinator@510821");
    assert_eq!(actors[3], "handler@510821-jrj");
    assert_eq!(actors[5], format!("staff@{USCC_A}"));
    for pair in history.entries.windows(2) {
        assert_eq!(pair[1].previous_hash, pair[0].entry_hash);
    }
    suite.stop().await;
}

#[tokio::test]
async fn a_county_coordinator_never_sees_or_touches_another_countys_cases() {
    let suite = TestSuite::start().await;
    let wangcang = submit(&suite, appeal("w", USCC_A, "510821", "旺苍的诉求")).await;
    let qingchuan = submit(&suite, appeal("q", USCC_B, "510822", "青川的诉求")).await;
    let wangcang_case = case_of(&suite, &wangcang.id).await;
    case_of(&suite, &qingchuan.id).await;
    let mut client = cases(&suite).await;
    let other = suite.official_token(Role::Coordinator, "510822");

    let status = client
        .get_case(authed(
            routing::GetCaseRequest {
                id: wangcang_case.id.clone(),
            },
            &other,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = client
        .get_case_history(authed(
            routing::GetCaseHistoryRequest {
                id: wangcang_case.id.clone(),
            },
            &other,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = client
        .accept_case(authed(
            routing::AcceptCaseRequest {
                id: wangcang_case.id.clone(),
                etag: wangcang_case.etag.clone(),
                ..Default::default()
            },
            &other,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let listed = client
        .list_cases(authed(routing::ListCasesRequest::default(), &other))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.cases.len(), 1);
    assert_eq!(listed.cases[0].jurisdiction_code, "510822");
    let status = client
        .list_cases(authed(
            routing::ListCasesRequest {
                jurisdiction_code: "510821".into(),
                ..Default::default()
            },
            &other,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    // Another enterprise sees nothing of it either.
    let status = client
        .get_case(authed(
            routing::GetCaseRequest {
                id: wangcang_case.id.clone(),
            },
            &suite.enterprise_token(USCC_B, "510822"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    let city = client
        .list_cases(authed(
            routing::ListCasesRequest::default(),
            &suite.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(city.cases.len(), 2);
    let only_wangcang = client
        .list_cases(authed(
            routing::ListCasesRequest {
                jurisdiction_code: "510821".into(),
                department_id: "510821-jrj".into(),
                state: routing::CaseState::Pending as i32,
                level: routing::Level::County as i32,
                uscc: USCC_A.into(),
                ..Default::default()
            },
            &suite.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(only_wangcang.cases.len(), 1);
    suite.stop().await;
}

#[tokio::test]
async fn cases_page_newest_first() {
    let suite = TestSuite::start().await;
    let mut ids = Vec::new();
    for (i, title) in DISTINCT_TITLES.iter().take(5).enumerate() {
        let appeal = submit(&suite, appeal(&format!("p{i}"), USCC_A, "510821", title)).await;
        ids.push(case_of(&suite, &appeal.id).await.id);
    }
    let mut client = cases(&suite).await;
    let token = suite.city_coordinator_token();
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_cases(authed(
                routing::ListCasesRequest {
                    page_size: 2,
                    page_token: page_token.clone(),
                    ..Default::default()
                },
                &token,
            ))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.cases.into_iter().map(|c| c.id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    ids.reverse();
    assert_eq!(seen, ids);
    suite.stop().await;
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_changes_nothing_again() {
    let suite = TestSuite::start().await;
    let appeal = submit(&suite, appeal("idem", USCC_A, "510821", "重复提交")).await;
    let case = case_of(&suite, &appeal.id).await;
    let mut client = cases(&suite).await;
    let coordinator = suite.official_token(Role::Coordinator, "510821");
    let request = routing::AddProgressRequest {
        id: case.id.clone(),
        etag: case.etag.clone(),
        request_id: "note-1".into(),
        note: "已电话联系企业".into(),
    };
    let first = client
        .add_progress(authed(request.clone(), &coordinator))
        .await
        .unwrap()
        .into_inner();
    let second = client
        .add_progress(authed(request, &coordinator))
        .await
        .expect("the retry is answered, not refused as stale")
        .into_inner();
    assert_eq!(first.etag, second.etag);
    let history = client
        .get_case_history(authed(
            routing::GetCaseHistoryRequest {
                id: case.id.clone(),
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.entries.len(), 2);
    suite.stop().await;
}

#[tokio::test]
async fn a_department_returns_a_case_that_is_not_its_own_and_it_is_counted() {
    let suite = TestSuite::start().await;
    let appeal = submit(&suite, appeal("ret", USCC_A, "510821", "退单测试")).await;
    let case = case_of(&suite, &appeal.id).await;
    let mut client = cases(&suite).await;
    let coordinator = suite.official_token(Role::Coordinator, "510821");
    let accepted = client
        .accept_case(authed(
            routing::AcceptCaseRequest {
                id: case.id.clone(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    let assigned = client
        .assign_case(authed(
            routing::AssignCaseRequest {
                id: case.id.clone(),
                etag: accepted.etag,
                department_id: "510821-czj".into(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    let status = client
        .return_case(authed(
            routing::ReturnCaseRequest {
                id: case.id.clone(),
                etag: assigned.etag.clone(),
                ..Default::default()
            },
            &suite.handler_token("510821-czj"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), ["reason"]);
    let returned = client
        .return_case(authed(
            routing::ReturnCaseRequest {
                id: case.id.clone(),
                etag: assigned.etag,
                reason: "融资问题不属于财政局职责".into(),
                ..Default::default()
            },
            &suite.handler_token("510821-czj"),
        ))
        .await
        .expect("the department returns the case")
        .into_inner();
    assert_eq!(returned.state, routing::CaseState::Accepted as i32);
    assert_eq!(returned.department_id, "");
    assert_eq!(returned.returns_count, 1);
    assert_eq!(returned.return_reason, "融资问题不属于财政局职责");
    suite.stop().await;
}

#[tokio::test]
async fn withdrawing_the_appeal_closes_its_case() {
    let suite = TestSuite::start().await;
    let appeal = submit(&suite, appeal("wd", USCC_A, "510821", "撤回测试")).await;
    let case = case_of(&suite, &appeal.id).await;
    suite
        .intake()
        .await
        .withdraw_appeal(authed(
            intake::WithdrawAppealRequest {
                id: appeal.id.clone(),
                reason: "问题已自行解决".into(),
            },
            &suite.enterprise_token(USCC_A, "510821"),
        ))
        .await
        .unwrap();
    let closed = case_until(&suite, &case.id, "the case was never closed", |c| {
        c.state == routing::CaseState::Closed as i32
    })
    .await;
    assert_eq!(closed.state, routing::CaseState::Closed as i32);
    assert_eq!(closed.outcome, routing::Outcome::Withdrawn as i32);
    suite.stop().await;
}

#[tokio::test]
async fn routing_rules_are_listed_and_a_new_rule_places_the_next_case() {
    let suite = TestSuite::start().await;
    let mut client = cases(&suite).await;
    let coordinator = suite.official_token(Role::Coordinator, "510821");
    let seeded = poll_until(
        200,
        "no routing rule was ever seeded",
        async || {
            client
                .list_routing_rules(authed(
                    routing::ListRoutingRulesRequest::default(),
                    &coordinator,
                ))
                .await
                .unwrap()
                .into_inner()
                .routing_rules
        },
        |rules| !rules.is_empty(),
    )
    .await;
    let ids: Vec<_> = seeded.iter().map(|r| r.id.as_str()).collect();
    assert!(ids.contains(&"510800-mayor-direct-line"), "{ids:?}");
    assert!(ids.contains(&"510800-key-project"), "{ids:?}");

    let rule = routing::RoutingRule {
        jurisdiction_code: "510821".into(),
        category: intake::Category::TaxAndFees as i32,
        level: routing::Level::County as i32,
        department_id: "510821-czj".into(),
        time_limit_working_days: 5,
        description: "涉企收费由财政局办理".into(),
        ..Default::default()
    };
    let status = client
        .put_routing_rule(authed(
            routing::PutRoutingRuleRequest {
                routing_rule: Some(routing::RoutingRule {
                    jurisdiction_code: "510822".into(),
                    ..rule.clone()
                }),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = client
        .put_routing_rule(authed(
            routing::PutRoutingRuleRequest {
                routing_rule: Some(routing::RoutingRule {
                    level: 0,
                    ..rule.clone()
                }),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["routing_rule.level"]);
    let created = client
        .put_routing_rule(authed(
            routing::PutRoutingRuleRequest {
                routing_rule: Some(rule),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .expect("the county adds a rule")
        .into_inner();
    assert!(created.id.starts_with("510821-"), "{}", created.id);
    assert_eq!(created.updated_by, "coordinator@510821");

    let mut tax = appeal("tax", USCC_A, "510821", "收费不合理");
    tax.category = intake::Category::TaxAndFees as i32;
    let tax = submit(&suite, tax).await;
    let case = case_of(&suite, &tax.id).await;
    assert_eq!(case.department_id, "510821-czj");
    assert_eq!(case.time_limit_working_days, 5);
    assert_eq!(case.deadline, Some(expected_deadline(&tax, 5)));

    // A stale etag does not replace the rule; the current one does.
    let status = client
        .put_routing_rule(authed(
            routing::PutRoutingRuleRequest {
                routing_rule: Some(routing::RoutingRule {
                    disabled: true,
                    ..created.clone()
                }),
                etag: "\"0\"".into(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    let disabled = client
        .put_routing_rule(authed(
            routing::PutRoutingRuleRequest {
                routing_rule: Some(routing::RoutingRule {
                    disabled: true,
                    ..created.clone()
                }),
                etag: created.etag.clone(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(disabled.disabled);
    assert_ne!(disabled.etag, created.etag);
    suite.stop().await;
}

#[tokio::test]
async fn changing_one_stored_history_row_makes_verify_ledger_name_it() {
    let suite = TestSuite::start().await;
    let mut client = cases(&suite).await;
    let coordinator = suite.official_token(Role::Coordinator, "510821");
    for (i, title) in DISTINCT_TITLES.iter().take(3).enumerate() {
        let appeal = submit(&suite, appeal(&format!("v{i}"), USCC_A, "510821", title)).await;
        let case = case_of(&suite, &appeal.id).await;
        client
            .accept_case(authed(
                routing::AcceptCaseRequest {
                    id: case.id.clone(),
                    etag: case.etag.clone(),
                    note: format!("受理第{i}件"),
                    ..Default::default()
                },
                &coordinator,
            ))
            .await
            .unwrap();
    }
    let verify = |token: String, jurisdiction: &str| {
        let mut client = client.clone();
        let request = routing::VerifyLedgerRequest {
            jurisdiction_code: jurisdiction.to_owned(),
        };
        async move { client.verify_ledger(authed(request, &token)).await }
    };
    let intact = verify(coordinator.clone(), "").await.unwrap().into_inner();
    assert!(intact.ok, "{intact:?}");
    assert_eq!(intact.checked_entries, 6);
    assert_eq!(intact.head_hash.len(), 64);
    // The city's check of its own jurisdiction covers the counties' ledgers
    // and names each it checked.
    let city = verify_ledger(&suite, "510800").await;
    assert!(city.ok, "{city:?}");
    assert_eq!(city.checked_entries, 6);
    let covered: Vec<_> = city
        .ledgers
        .iter()
        .map(|l| (l.jurisdiction_code.as_str(), l.checked_entries))
        .collect();
    assert_eq!(covered, [("510800", 0), ("510821", 6)]);

    // Out of scope or not government: refused.
    let status = verify(suite.official_token(Role::Coordinator, "510822"), "510821")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = verify(suite.enterprise_token(USCC_A, "510821"), "510821")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    let changed = suite
        .execute_in_store(
            "routing",
            "UPDATE ledger_entries SET note = '受理（改过）' WHERE jurisdiction_code = '510821' AND sequence = 4",
        )
        .await;
    assert_eq!(changed, 1);
    let broken = verify(suite.city_coordinator_token(), "510821")
        .await
        .unwrap()
        .into_inner();
    assert!(!broken.ok);
    let entry = broken
        .first_broken_entry
        .expect("the broken entry is named");
    assert_eq!(entry.sequence, 4);
    assert_eq!(entry.note, "受理（改过）");
    assert!(broken.problem.contains("changed"), "{}", broken.problem);
    let city = verify_ledger(&suite, "510800").await;
    assert!(!city.ok);
    assert!(city.problem.starts_with("510821："), "{}", city.problem);
    assert_eq!(city.first_broken_entry.unwrap().sequence, 4);
    suite.stop().await;
}

#[tokio::test]
async fn the_ledger_exports_one_row_per_case_as_xlsx_and_csv() {
    use calamine::Reader;
    let suite = TestSuite::start().await;
    let mut numbers = Vec::new();
    for (i, title) in DISTINCT_TITLES.iter().take(3).enumerate() {
        let appeal = submit(&suite, appeal(&format!("x{i}"), USCC_A, "510821", title)).await;
        case_of(&suite, &appeal.id).await;
        numbers.push(appeal.number);
    }
    let other = submit(&suite, appeal("other", USCC_B, "510822", "青川的诉求")).await;
    case_of(&suite, &other.id).await;
    let mut client = cases(&suite).await;
    let coordinator = suite.official_token(Role::Coordinator, "510821");

    let xlsx = client
        .export_ledger(authed(
            routing::ExportLedgerRequest::default(),
            &coordinator,
        ))
        .await
        .expect("the county exports its ledger")
        .into_inner();
    assert_eq!(
        xlsx.content_type,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.data)).expect("the xlsx opens");
    let sheet = workbook.worksheet_range("台账").expect("the sheet 台账");
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|row| row.iter().map(|cell| cell.to_string()).collect())
        .collect();
    assert_eq!(rows.len(), 4, "a header and one row per case: {rows:?}");
    assert_eq!(rows[0][0], "受理编号");
    assert_eq!(rows[0].len(), 13);
    let exported: Vec<_> = rows[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(exported, numbers);
    assert_eq!(rows[1][2], USCC_A);
    assert_eq!(rows[1][3], "融资");
    assert_eq!(rows[1][5], "旺苍县地方金融监督管理局");
    assert_eq!(rows[1][6], "县级");
    assert_eq!(rows[1][9], "待受理");

    let csv = client
        .export_ledger(authed(
            routing::ExportLedgerRequest {
                format: routing::ExportFormat::Csv as i32,
                jurisdiction_code: "510800".into(),
                ..Default::default()
            },
            &suite.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(csv.content_type, "text/csv; charset=utf-8");
    let text = String::from_utf8(csv.data).unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a byte-order mark");
    let lines: Vec<_> = text.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(lines[0].starts_with("受理编号,企业名称,统一社会信用代码"));
    suite.stop().await;
}

#[tokio::test]
async fn the_sweep_turns_a_case_yellow_then_red_and_raises_it_to_the_city() {
    use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
    let clock = std::sync::Arc::new(zhengqi_routing::Clock::default());
    let suite = TestSuite::start_with(|options| {
        options.routing.clock = std::sync::Arc::clone(&clock);
        options.routing.supervision.sweep_interval = Duration::from_millis(50);
    })
    .await;
    let mut enquiry = appeal("sweep", USCC_A, "510821", "社保缴纳政策咨询");
    enquiry.kind = intake::AppealKind::Enquiry as i32;
    let enquiry = submit(&suite, enquiry).await;
    let case = case_of(&suite, &enquiry.id).await;
    let due = deadline::beijing_date(micros_of(case.deadline.as_ref().unwrap()));
    let calendar = Calendar::official();
    let noon = |date| deadline::end_of_day(date) - 12 * 3_600_000_000;
    let overdue_ids = || async {
        cases(&suite)
            .await
            .list_cases(authed(
                routing::ListCasesRequest {
                    overdue_only: true,
                    ..Default::default()
                },
                &suite.city_coordinator_token(),
            ))
            .await
            .unwrap()
            .into_inner()
            .cases
            .into_iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
    };
    let until = |wanted: fn(&routing::Case) -> bool| {
        case_until(&suite, &case.id, "the sweep never got there", wanted)
    };

    // The due date itself: all of the time is used.
    clock.set(noon(due));
    let yellow = until(|c| c.supervision == routing::Supervision::Yellow as i32).await;
    assert_eq!(yellow.level, routing::Level::County as i32);
    assert!(overdue_ids().await.is_empty());

    clock.set(noon(calendar.add_working_days(due, 1).unwrap()));
    let red = until(|c| c.supervision == routing::Supervision::Red as i32).await;
    assert_eq!(red.level, routing::Level::County as i32);
    assert_eq!(overdue_ids().await, std::slice::from_ref(&case.id));

    clock.set(noon(calendar.add_working_days(due, 2).unwrap()));
    let raised = until(|c| c.level == routing::Level::City as i32).await;
    assert_eq!(raised.department_id, "510800-jrj");
    assert!(
        raised.escalation_reason.contains("overdue"),
        "{}",
        raised.escalation_reason
    );
    // The city department gets the case's full time limit from today: not
    // overdue, nor red, the moment it receives it.
    assert_eq!(raised.supervision, routing::Supervision::None as i32);
    assert!(
        micros_of(raised.deadline.as_ref().unwrap()) > micros_of(red.deadline.as_ref().unwrap())
    );
    assert!(overdue_ids().await.is_empty());

    let history = history_of(&suite, &case.id).await;
    let system: Vec<_> = history
        .entries
        .iter()
        .filter(|e| e.actor == "system" && e.action != routing::CaseAction::Open as i32)
        .map(|e| routing::CaseAction::try_from(e.action).unwrap())
        .collect();
    assert_eq!(
        system,
        [
            routing::CaseAction::Supervise,
            routing::CaseAction::Supervise,
            routing::CaseAction::Escalate
        ]
    );

    // Each step is an event of routing's log.
    let mut stream = cases(&suite)
        .await
        .watch_events(authed(
            WatchEventsRequest {
                after_sequence: 0,
                types: Vec::new(),
            },
            &suite.service_token(),
        ))
        .await
        .expect("a service follows routing's events")
        .into_inner();
    let seen: Vec<_> = next_events(&mut stream, 7, Duration::from_secs(5))
        .await
        .into_iter()
        .map(|event| event.r#type)
        .collect();
    assert_eq!(
        seen,
        [
            "zhengqi.routing.v1.CaseOpened",
            "zhengqi.routing.v1.CaseTransitioned",
            "zhengqi.routing.v1.SupervisionChanged",
            "zhengqi.routing.v1.CaseTransitioned",
            "zhengqi.routing.v1.SupervisionChanged",
            "zhengqi.routing.v1.CaseTransitioned",
            "zhengqi.routing.v1.CaseEscalated",
        ]
    );
    suite.stop().await;
}

#[tokio::test]
async fn escalation_to_the_city_and_a_meeting_decision_assigns_the_case_with_its_deadline() {
    let suite = TestSuite::start().await;
    let appeal = submit(
        &suite,
        appeal("meet", USCC_A, "510821", "多部门协调的融资难题"),
    )
    .await;
    let case = case_of(&suite, &appeal.id).await;
    let mut client = cases(&suite).await;
    let county = suite.official_token(Role::Coordinator, "510821");
    let city = suite.city_coordinator_token();

    let status = client
        .escalate_case(authed(
            routing::EscalateCaseRequest {
                id: case.id.clone(),
                target: routing::Level::County as i32,
                ..Default::default()
            },
            &county,
        ))
        .await
        .unwrap_err();
    let mut fields = bad_fields(&status);
    fields.sort();
    assert_eq!(fields, ["reason", "target"]);
    let at_city = client
        .escalate_case(authed(
            routing::EscalateCaseRequest {
                id: case.id.clone(),
                etag: case.etag.clone(),
                target: routing::Level::City as i32,
                reason: "涉及多个市级部门".into(),
                ..Default::default()
            },
            &county,
        ))
        .await
        .expect("the county raises the case to the city")
        .into_inner();
    assert_eq!(at_city.level, routing::Level::City as i32);
    assert_eq!(at_city.state, routing::CaseState::Accepted as i32);
    assert_eq!(at_city.department_id, "510800-jrj");
    // The county no longer handles it.
    let status = client
        .assign_case(authed(
            routing::AssignCaseRequest {
                id: case.id.clone(),
                department_id: "510821-jrj".into(),
                ..Default::default()
            },
            &county,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = client
        .escalate_case(authed(
            routing::EscalateCaseRequest {
                id: case.id.clone(),
                target: routing::Level::Meeting as i32,
                reason: "需要会商".into(),
                ..Default::default()
            },
            &city,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["meeting_type"]);
    let at_meeting = client
        .escalate_case(authed(
            routing::EscalateCaseRequest {
                id: case.id.clone(),
                etag: at_city.etag.clone(),
                target: routing::Level::Meeting as i32,
                meeting_type: routing::MeetingType::PrivateEnterprise as i32,
                reason: "需要民营企业会商会协调".into(),
                ..Default::default()
            },
            &city,
        ))
        .await
        .expect("the city raises the case to a meeting")
        .into_inner();
    assert_eq!(at_meeting.level, routing::Level::Meeting as i32);
    assert_eq!(
        at_meeting.meeting_type,
        routing::MeetingType::PrivateEnterprise as i32
    );

    let tomorrow = prost_types::Timestamp {
        seconds: now_seconds() + 86_400,
        nanos: 0,
    };
    let schedule = |token: String, request_id: &str| {
        let mut client = client.clone();
        let request = routing::ScheduleMeetingRequest {
            request_id: request_id.to_owned(),
            r#type: routing::MeetingType::PrivateEnterprise as i32,
            jurisdiction_code: "510800".into(),
            start_time: Some(tomorrow),
            chair: "分管副市长".into(),
            location: "市政府3楼会议室".into(),
            ..Default::default()
        };
        async move { client.schedule_meeting(authed(request, &token)).await }
    };
    let status = schedule(county.clone(), "m-county").await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let meeting = schedule(city.clone(), "m-1")
        .await
        .expect("the city schedules a meeting")
        .into_inner();
    assert_eq!(meeting.title, "民营企业会商会");
    let again = schedule(city.clone(), "m-1").await.unwrap().into_inner();
    assert_eq!(
        again.id, meeting.id,
        "the same request_id gives the same meeting"
    );

    let on_agenda = client
        .add_to_agenda(authed(
            routing::AddToAgendaRequest {
                meeting_id: meeting.id.clone(),
                etag: meeting.etag.clone(),
                case_id: case.id.clone(),
                ..Default::default()
            },
            &city,
        ))
        .await
        .expect("the case goes on the agenda")
        .into_inner();
    assert_eq!(on_agenda.agenda.len(), 1);
    assert_eq!(on_agenda.agenda[0].case_number, case.number);
    let listed = client
        .list_cases(authed(
            routing::ListCasesRequest {
                meeting_id: meeting.id.clone(),
                ..Default::default()
            },
            &city,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.cases.len(), 1);

    let decided_deadline = prost_types::Timestamp {
        seconds: tomorrow.seconds + 10 * 86_400,
        nanos: 0,
    };
    let decide = |etag: String| {
        let mut client = client.clone();
        let request = routing::RecordDecisionRequest {
            meeting_id: meeting.id.clone(),
            etag,
            case_id: case.id.clone(),
            department_id: "510821-jrj".into(),
            deadline: Some(decided_deadline),
            decision: "由旺苍县金融局牵头, 市金融局配合, 十日内办结".into(),
            ..Default::default()
        };
        let token = city.clone();
        async move { client.record_decision(authed(request, &token)).await }
    };
    let status = decide(meeting.etag.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    let decided = decide(on_agenda.etag.clone())
        .await
        .expect("the meeting decides")
        .into_inner();
    let decision = decided.agenda[0].decision.as_ref().expect("a decision");
    assert_eq!(decision.department_id, "510821-jrj");
    let status = decide(decided.etag.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");

    let assigned = read_case(&suite, &case.id).await;
    assert_eq!(assigned.state, routing::CaseState::Assigned as i32);
    assert_eq!(assigned.department_id, "510821-jrj");
    assert_eq!(assigned.deadline, Some(decided_deadline));
    assert_eq!(assigned.meeting_id, meeting.id);
    client
        .claim_case(authed(
            routing::ClaimCaseRequest {
                id: case.id.clone(),
                etag: assigned.etag.clone(),
                ..Default::default()
            },
            &suite.handler_token("510821-jrj"),
        ))
        .await
        .expect("the decided department claims the case");

    let minutes = client
        .get_meeting(authed(
            routing::GetMeetingRequest {
                id: meeting.id.clone(),
            },
            &county,
        ))
        .await
        .expect("officials read the minutes")
        .into_inner();
    assert_eq!(
        minutes.agenda[0].decision.as_ref().unwrap().decision,
        decision.decision
    );
    let meetings = client
        .list_meetings(authed(routing::ListMeetingsRequest::default(), &city))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(meetings.meetings.len(), 1);
    suite.stop().await;
}

#[tokio::test]
async fn a_butler_sees_every_case_of_their_enterprises() {
    let suite = TestSuite::start().await;
    let first = submit(&suite, appeal("b1", USCC_B, "510822", DISTINCT_TITLES[0])).await;
    let case = case_of(&suite, &first.id).await;
    assert_eq!(case.butler, "");
    let mut client = cases(&suite).await;
    let qingchuan = suite.official_token(Role::Coordinator, "510822");
    let assign = |token: String, etag: String, official: &str| {
        let mut client = client.clone();
        let request = routing::AssignButlerRequest {
            uscc: USCC_B.into(),
            official: official.to_owned(),
            etag,
            official_name: "李管家".into(),
            official_phone: "0839-3300000".into(),
            kind: routing::ButlerKind::ProjectButler as i32,
            ..Default::default()
        };
        async move { client.assign_butler(authed(request, &token)).await }
    };
    let status = assign(
        suite.official_token(Role::Coordinator, "510821"),
        String::new(),
        "li.butler",
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let butler = assign(qingchuan.clone(), String::new(), "li.butler")
        .await
        .expect("the county names a butler")
        .into_inner();
    assert_eq!(butler.jurisdiction_code, "510822");
    assert_eq!(butler.enterprise_name, "广元市测试建材有限公司");
    let status = assign(qingchuan.clone(), "\"0\"".into(), "wang.butler")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");

    // The enterprise's open case carries its butler; later cases do from the start.
    assert_eq!(read_case(&suite, &case.id).await.butler, "li.butler");
    let second = submit(&suite, appeal("b2", USCC_B, "510822", DISTINCT_TITLES[1])).await;
    assert_eq!(case_of(&suite, &second.id).await.butler, "li.butler");

    // The butler serves in another county, and still sees both cases.
    let butler_token = suite.token(TokenRequest {
        jurisdiction: Some("510821".into()),
        ..TokenRequest::new("li.butler", vec![Role::Handler])
    });
    client
        .get_case(authed(
            routing::GetCaseRequest {
                id: case.id.clone(),
            },
            &butler_token,
        ))
        .await
        .expect("the butler reads the case");
    let own = client
        .list_cases(authed(
            routing::ListCasesRequest {
                butler: "li.butler".into(),
                ..Default::default()
            },
            &butler_token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.cases.len(), 2);
    let colleague = suite.official_token(Role::Handler, "510821");
    let status = client
        .get_case(authed(
            routing::GetCaseRequest {
                id: case.id.clone(),
            },
            &colleague,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let listed = client
        .list_butlers(authed(
            routing::ListButlersRequest::default(),
            &suite.city_coordinator_token(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.butlers.len(), 1);
    assert_eq!(listed.butlers[0].official, "li.butler");
    suite.stop().await;
}

/// Every event of a log's history, as a service reads it.
async fn history(
    stream: tonic::Response<tonic::Streaming<zhengqi_proto::zhengqi::common::v1::Event>>,
) -> Vec<zhengqi_proto::zhengqi::common::v1::Event> {
    let mut stream = stream.into_inner();
    let mut events = Vec::new();
    while let Ok(Ok(Some(event))) =
        tokio::time::timeout(Duration::from_millis(500), stream.message()).await
    {
        events.push(event);
    }
    events
}

fn holds_contact(event: &zhengqi_proto::zhengqi::common::v1::Event) -> bool {
    let payload = &event.payload.as_ref().expect("a payload").value;
    ["张三", "0839-3266666"]
        .iter()
        .any(|text| payload.windows(text.len()).any(|w| w == text.as_bytes()))
}

#[tokio::test]
async fn contacts_are_erased_once_their_retention_period_is_over_and_the_ledger_still_verifies() {
    use std::sync::Arc;
    use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
    use zhengqi_shared::personal::Retention;
    let (routing_clock, intake_clock) = (
        Arc::new(zhengqi_routing::Clock::default()),
        Arc::new(zhengqi_routing::Clock::default()),
    );
    let suite = TestSuite::start_with(|options| {
        options.routing.clock = Arc::clone(&routing_clock);
        options.intake_clock = Arc::clone(&intake_clock);
        options.personal_data = Retention {
            years: 3,
            every: Duration::from_millis(100),
        };
    })
    .await;
    // One case closed (its appeal withdrawn), one still open.
    let withdrawn = submit(
        &suite,
        appeal("kept-1", USCC_A, "510821", DISTINCT_TITLES[0]),
    )
    .await;
    let closed = case_of(&suite, &withdrawn.id).await;
    suite
        .intake()
        .await
        .withdraw_appeal(authed(
            intake::WithdrawAppealRequest {
                id: withdrawn.id.clone(),
                reason: "问题已自行解决".into(),
            },
            &suite.enterprise_token(USCC_A, "510821"),
        ))
        .await
        .unwrap();
    case_until(&suite, &closed.id, "the case was never closed", |c| {
        c.state == routing::CaseState::Closed as i32
    })
    .await;
    let pending = submit(
        &suite,
        appeal("kept-2", USCC_A, "510821", DISTINCT_TITLES[1]),
    )
    .await;
    let open = case_of(&suite, &pending.id).await;
    let advance = |by: Duration| {
        routing_clock.advance(by);
        intake_clock.advance(by);
    };
    let day = Duration::from_secs(24 * 3600);

    // A day short of three years: every contact is kept.
    advance(day * (3 * 365 - 1));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let case = read_case(&suite, &closed.id).await;
    assert_eq!(case.contact_phone, "0839-3266666");
    assert!(case.personal_data_erase_time.is_none());

    // Three years after: the closed case's contact goes, from the case and
    // every event about it; the open case keeps its own.
    advance(day * 2);
    let erased = case_until(&suite, &closed.id, "the contact was never erased", |c| {
        c.personal_data_erase_time.is_some()
    })
    .await;
    assert_eq!(
        (erased.contact_name.as_str(), erased.contact_phone.as_str()),
        ("", "")
    );
    assert_eq!(
        erased.title, DISTINCT_TITLES[0],
        "the rest of the case stays"
    );
    let open = read_case(&suite, &open.id).await;
    assert_eq!(open.contact_name, "张三");
    assert!(open.personal_data_erase_time.is_none());

    let service = suite.service_token();
    let watch = WatchEventsRequest::default();
    let events = history(
        cases(&suite)
            .await
            .watch_events(authed(watch.clone(), &service))
            .await
            .unwrap(),
    )
    .await;
    let of = |id: &str| {
        events
            .iter()
            .filter(|e| e.subject_id == id)
            .collect::<Vec<_>>()
    };
    assert!(of(&closed.id).len() >= 2, "opened and closed");
    assert!(of(&closed.id).iter().all(|e| !holds_contact(e)));
    assert!(of(&open.id).iter().all(|e| holds_contact(e)));

    // Intake counts from receipt: both appeals were received over three years ago.
    let appeals_erased = poll_until(
        200,
        "intake never erased the appeals' contacts",
        async || {
            let mut intake = suite.intake().await;
            let mut erased = Vec::new();
            for id in [&withdrawn.id, &pending.id] {
                let appeal = intake
                    .get_appeal(authed(
                        intake::GetAppealRequest { id: id.clone() },
                        &suite.enterprise_token(USCC_A, "510821"),
                    ))
                    .await
                    .unwrap()
                    .into_inner();
                erased.push(appeal);
            }
            erased
        },
        |appeals| appeals.iter().all(|a| a.personal_data_erase_time.is_some()),
    )
    .await;
    assert!(
        appeals_erased
            .iter()
            .all(|a| a.contact_name.is_empty() && a.contact_phone.is_empty())
    );
    let intake_events = history(
        suite
            .intake()
            .await
            .watch_events(authed(watch, &service))
            .await
            .unwrap(),
    )
    .await;
    assert!(!intake_events.is_empty());
    assert!(intake_events.iter().all(|e| !holds_contact(e)));

    // The ledger holds no contact: every entry still verifies.
    let verified = verify_ledger(&suite, "510821").await;
    assert!(verified.ok, "{verified:?}");
    assert!(verified.checked_entries >= 3);

    // Erased once: later passes leave the case as it is.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let again = read_case(&suite, &closed.id).await;
    assert_eq!(
        again.personal_data_erase_time,
        erased.personal_data_erase_time
    );
    assert_eq!(again.etag, erased.etag);
    suite.stop().await;
}

#[tokio::test]
async fn the_ledger_verifies_while_cases_are_being_opened() {
    let suite = TestSuite::start().await;
    let coordinator = suite.official_token(Role::Coordinator, "510821");
    // Appeals keep opening cases, each a ledger entry, while the ledger is checked.
    let submitting = {
        let mut intake = suite.intake().await;
        let token = suite.enterprise_token(USCC_A, "510821");
        async move {
            for i in 0..40 {
                let mut request = appeal(&format!("busy-{i}"), USCC_A, "510821", "用地审批");
                request.title = format!("第{i}号厂房用地审批进度");
                request.category = 1 + i % 8;
                intake.submit_appeal(authed(request, &token)).await.unwrap();
            }
        }
    };
    let checking = async {
        let mut client = cases(&suite).await;
        let mut checks = Vec::new();
        for _ in 0..60 {
            let verified = client
                .verify_ledger(authed(
                    routing::VerifyLedgerRequest {
                        jurisdiction_code: "510821".into(),
                    },
                    &coordinator,
                ))
                .await
                .unwrap()
                .into_inner();
            checks.push((verified.ok, verified.checked_entries, verified.problem));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        checks
    };
    let ((), checks) = tokio::join!(submitting, checking);
    assert!(
        checks.iter().all(|(ok, _, _)| *ok),
        "a check while entries were appended: {checks:?}"
    );
    assert!(
        checks.last().unwrap().1 > checks.first().unwrap().1,
        "{checks:?}"
    );
    suite.stop().await;
}
