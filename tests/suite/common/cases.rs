//! Appeals and their cases: submitting an appeal through intake, waiting for
//! the case routing opens for it, and walking a case through routing's states
//! with each actor's own token.

use tonic::transport::Channel;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::routing::v1 as routing;
use zhengqi_proto::zhengqi::routing::v1::case_service_client::CaseServiceClient;
use zhengqi_shared::auth::Role;

use super::{TestSuite, authed, poll_until};

/// A client of routing's case service, through the gateway.
pub async fn cases(suite: &TestSuite) -> CaseServiceClient<Channel> {
    CaseServiceClient::new(suite.channel().await)
}

/// Submits `request` through intake as who files on its channel: the
/// enterprise itself on the online portal, its jurisdiction's office relaying
/// any other channel (the 12345 hotline, the mayor's direct line…).
pub async fn submit(suite: &TestSuite, request: intake::SubmitAppealRequest) -> intake::Appeal {
    let uscc = request.enterprise.as_ref().unwrap().uscc.clone();
    let token = if request.channel == intake::Channel::OnlinePortal as i32 {
        suite.enterprise_token(&uscc, &request.jurisdiction_code)
    } else {
        suite.official_token(Role::Coordinator, &request.jurisdiction_code)
    };
    suite
        .intake()
        .await
        .submit_appeal(authed(request, &token))
        .await
        .expect("the appeal is registered")
        .into_inner()
}

/// The cases opened for `appeal_id`, as the city sees them.
pub async fn cases_of(suite: &TestSuite, appeal_id: &str) -> Vec<routing::Case> {
    cases_of_as(suite, appeal_id, &suite.city_coordinator_token()).await
}

/// The cases opened for `appeal_id`, as the holder of `token` sees them.
pub async fn cases_of_as(suite: &TestSuite, appeal_id: &str, token: &str) -> Vec<routing::Case> {
    cases(suite)
        .await
        .list_cases(authed(
            routing::ListCasesRequest {
                appeal_id: appeal_id.to_owned(),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("the cases are listed")
        .into_inner()
        .cases
}

/// Waits (up to ten seconds) for the case of `appeal_id`.
pub async fn case_of(suite: &TestSuite, appeal_id: &str) -> routing::Case {
    case_of_as(suite, appeal_id, &suite.city_coordinator_token()).await
}

/// Waits (up to ten seconds) for the case of `appeal_id`, as the holder of
/// `token` lists it.
pub async fn case_of_as(suite: &TestSuite, appeal_id: &str, token: &str) -> routing::Case {
    poll_until(
        200,
        &format!("no case was opened for appeal {appeal_id}"),
        async || cases_of_as(suite, appeal_id, token).await,
        |found| !found.is_empty(),
    )
    .await
    .pop()
    .unwrap()
}

/// The city's check of `jurisdiction`'s ledger.
pub async fn verify_ledger(suite: &TestSuite, jurisdiction: &str) -> routing::VerifyLedgerResponse {
    cases(suite)
        .await
        .verify_ledger(authed(
            routing::VerifyLedgerRequest {
                jurisdiction_code: jurisdiction.to_owned(),
            },
            &suite.city_coordinator_token(),
        ))
        .await
        .expect("the city checks the ledger")
        .into_inner()
}

/// Reads the case `id` as the city.
pub async fn read_case(suite: &TestSuite, id: &str) -> routing::Case {
    cases(suite)
        .await
        .get_case(authed(
            routing::GetCaseRequest { id: id.to_owned() },
            &suite.city_coordinator_token(),
        ))
        .await
        .expect("the city reads the case")
        .into_inner()
}

/// Waits (up to ten seconds) until the case `id`, as the city reads it,
/// satisfies `wanted`; panics with `what` otherwise.
pub async fn case_until(
    suite: &TestSuite,
    id: &str,
    what: &str,
    wanted: impl Fn(&routing::Case) -> bool,
) -> routing::Case {
    poll_until(200, what, async || read_case(suite, id).await, wanted).await
}

/// Walks `case` (pending) until `department` works on it: its jurisdiction's
/// coordinator accepts it and assigns it to `department`, whose handler claims
/// it. Returns the case in progress.
pub async fn walk_to_in_progress(
    suite: &TestSuite,
    case: &routing::Case,
    department: &str,
) -> routing::Case {
    let mut client = cases(suite).await;
    let coordinator = suite.official_token(Role::Coordinator, &case.jurisdiction_code);
    let accepted = client
        .accept_case(authed(
            routing::AcceptCaseRequest {
                id: case.id.clone(),
                etag: case.etag.clone(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .expect("the coordinator accepts")
        .into_inner();
    let assigned = client
        .assign_case(authed(
            routing::AssignCaseRequest {
                id: case.id.clone(),
                etag: accepted.etag,
                department_id: department.to_owned(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .expect("the coordinator assigns")
        .into_inner();
    client
        .claim_case(authed(
            routing::ClaimCaseRequest {
                id: case.id.clone(),
                etag: assigned.etag,
                ..Default::default()
            },
            &suite.handler_token(department),
        ))
        .await
        .expect("the department claims")
        .into_inner()
}

/// Resolves `case` (in progress) as solved, by a handler of its department.
pub async fn resolve(suite: &TestSuite, case: &routing::Case) -> routing::Case {
    cases(suite)
        .await
        .resolve_case(authed(
            routing::ResolveCaseRequest {
                id: case.id.clone(),
                etag: case.etag.clone(),
                outcome: routing::Outcome::Solved as i32,
                resolution: "已协调解决".into(),
                ..Default::default()
            },
            &suite.handler_token(&case.department_id),
        ))
        .await
        .expect("the department resolves")
        .into_inner()
}

/// Walks `case` (pending) to resolved: accepted, assigned to `department`,
/// claimed and resolved as solved.
pub async fn walk_to_resolved(
    suite: &TestSuite,
    case: &routing::Case,
    department: &str,
) -> routing::Case {
    let in_progress = walk_to_in_progress(suite, case, department).await;
    resolve(suite, &in_progress).await
}

/// Rates the department of `case` (resolved) as its enterprise, once
/// evaluation has seen the resolution and invited the review: retried while
/// evaluation answers FAILED_PRECONDITION (not yet invited).
pub async fn rate_once_invited(
    suite: &TestSuite,
    case: &routing::Case,
    rating: zhengqi_proto::zhengqi::evaluation::v1::Rating,
    comment: &str,
    request_id: &str,
) -> zhengqi_proto::zhengqi::evaluation::v1::Review {
    use zhengqi_proto::zhengqi::evaluation::v1 as eval;
    use zhengqi_proto::zhengqi::evaluation::v1::evaluation_service_client::EvaluationServiceClient;
    let uscc = &case
        .enterprise
        .as_ref()
        .expect("the case names its enterprise")
        .uscc;
    let firm = suite.enterprise_token(uscc, &case.jurisdiction_code);
    let mut reviews = EvaluationServiceClient::new(suite.channel().await);
    let given = poll_until(
        300,
        "evaluation never invited the enterprise to rate",
        async || {
            reviews
                .submit_review(authed(
                    eval::SubmitReviewRequest {
                        request_id: request_id.to_owned(),
                        target_kind: eval::TargetKind::Department as i32,
                        case_id: case.id.clone(),
                        rating: rating as i32,
                        comment: comment.to_owned(),
                        ..Default::default()
                    },
                    &firm,
                ))
                .await
        },
        // Until evaluation has seen the resolution.
        |given| !matches!(given, Err(status) if status.code() == tonic::Code::FailedPrecondition),
    )
    .await;
    match given {
        Ok(given) => given.into_inner(),
        Err(status) => panic!("the review is refused: {status:?}"),
    }
}

/// The ledger entries of case `id`, as the city's coordinator reads them.
pub async fn history_of(suite: &TestSuite, id: &str) -> routing::CaseHistory {
    cases(suite)
        .await
        .get_case_history(authed(
            routing::GetCaseHistoryRequest { id: id.to_owned() },
            &suite.city_coordinator_token(),
        ))
        .await
        .expect("the city reads the case's history")
        .into_inner()
}
