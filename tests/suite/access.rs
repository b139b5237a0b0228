//! The authorization model tried as an attacker would, generated from its one
//! declaration (`(zhengqi.common.v1.access)` on every method): every method of
//! every service, called through the gateway over gRPC and over HTTP/JSON, by
//! every role of the jurisdiction that owns the data (旺苍县 510821) and of
//! another (青川县 510822), as the enterprise the data concerns and as
//! another enterprise of the same county, and as a handler of another
//! department. A leak is any of:
//! - a role the model does not name getting anything but PERMISSION_DENIED;
//! - a caller outside the owner's scope reading a stored object, changing
//!   one, creating one inside the owner's jurisdiction, or finding the owner's
//!   records in a list or an event stream;
//! - personal data (a contact's name and phone) in full to anyone but those
//!   handling the case, or a reviewer named to the department it rated.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::cases::{case_of, cases, resolve, walk_to_in_progress};
use crate::common::{TestSuite, USCC_A, USCC_B, authed, now_seconds};
use bytes::{Buf, BufMut, Bytes};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value as Reflected};
use serde_json::{Value, json};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};
use zhengqi_proto::zhengqi::common::v1::EnterpriseRef;
use zhengqi_proto::zhengqi::evaluation::v1 as eval;
use zhengqi_proto::zhengqi::evaluation::v1::evaluation_service_client::EvaluationServiceClient;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::policy::v1 as policy;
use zhengqi_proto::zhengqi::policy::v1::policy_service_client::PolicyServiceClient;
use zhengqi_proto::zhengqi::routing::v1 as routing;
use zhengqi_shared::auth::{Role, TokenRequest};
use zhengqi_shared::authorization::{self, Allowed, Attribution, MethodAccess, ScopeObject};

/// The county that owns every fixture, and another.
const OWN: &str = "510821";
const OTHER: &str = "510822";
/// The department the fixture cases are with, another of the same county,
/// and one of the other county.
const DEPARTMENT: &str = "510821-jrj";
const OTHER_DEPARTMENT: &str = "510821-scjg";
const FOREIGN_DEPARTMENT: &str = "510822-jrj";
/// The enterprise the fixtures concern, as it is named, and its contact.
const NAME_A: &str = "旺苍矩阵甲建材有限公司";
const CONTACT_NAME: &str = "甄矩阵";
const CONTACT_PHONE: &str = "13912345678";

/// How a caller stands to the fixtures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    /// Of the owning jurisdiction (a handler of the case's department; the
    /// enterprise the fixtures concern).
    Own,
    /// A handler of another department of the owning county.
    OtherDepartment,
    /// Of another county.
    OtherJurisdiction,
    /// Another enterprise of the owning county.
    OtherEnterprise,
}

struct Caller {
    label: String,
    role: Role,
    relation: Relation,
    token: String,
}

/// The values the templates name (`$CASE`), and which of them are records of
/// the owner or personal data.
struct Fixtures {
    values: BTreeMap<&'static str, String>,
    records: Vec<String>,
    personal: Vec<String>,
}

#[tokio::test]
async fn no_role_and_no_caller_outside_the_owners_scope_gets_past_the_declared_model() {
    let suite = TestSuite::start_trusting_county_systems().await;
    let fixtures = fixtures(&suite).await;
    let callers = callers(&suite);
    let pool = DescriptorPool::decode(zhengqi_proto::FILE_DESCRIPTOR_SET).unwrap();
    let model = authorization::model();
    let http = reqwest::Client::new();
    let channel = suite.channel().await;

    let mut leaks = Vec::new();
    let mut calls = 0usize;
    // Everyone outside first, so that the owner's own calls change nothing
    // they probe; then the owner's, for the role checks.
    // Reads before writes, so that what a probe legitimately makes (another
    // county's own listing of the enterprise) is not read back as a leak.
    let mut methods: Vec<&MethodAccess> = model.methods().collect();
    methods.sort_by_key(|access| !is_read(access));
    for outside in [true, false] {
        for access in methods.iter().copied() {
            let method = method_of(&pool, &access.path);
            let template = template(&access.path).unwrap_or_else(|| {
                panic!(
                    "{} has no request in tests/access.rs: add one to `template`",
                    access.path
                )
            });
            for caller in &callers {
                if (caller.relation != Relation::Own) != outside {
                    continue;
                }
                let request = fill(&template, &fixtures, caller, calls);
                for protocol in [Protocol::Grpc, Protocol::Http] {
                    let answer = match protocol {
                        Protocol::Grpc => grpc(&channel, &method, &request, &caller.token).await,
                        Protocol::Http => {
                            match http_call(&http, &suite.gateway(), &method, &request, caller)
                                .await
                            {
                                Some(answer) => answer,
                                None => continue,
                            }
                        }
                    };
                    calls += 1;
                    if let Some(leak) = judge(access, caller, &request, &answer, &fixtures) {
                        leaks.push(format!(
                            "{:?} {} as {}: {leak} (answer: {})",
                            protocol,
                            access.path,
                            caller.label,
                            answer.summary()
                        ));
                    }
                }
            }
        }
    }
    assert!(calls > 2_000, "only {calls} calls were made");
    assert!(
        leaks.is_empty(),
        "{} leaks in {calls} calls:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    suite.stop().await;
}

#[derive(Debug, Clone, Copy)]
enum Protocol {
    Grpc,
    Http,
}

/// What a call answered: a code (gRPC's; HTTP's mapped back) and the bytes
/// of the answer or the error's message.
struct Answer {
    code: Code,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn summary(&self) -> String {
        let text = self.text();
        let short: String = text.chars().take(160).collect();
        format!("{:?} {short}", self.code)
    }
}

/// Decides whether `answer` leaks; `None` when it does not.
fn judge(
    access: &MethodAccess,
    caller: &Caller,
    request: &Value,
    answer: &Answer,
    fixtures: &Fixtures,
) -> Option<String> {
    if matches!(answer.code, Code::Internal | Code::Unknown) {
        return Some("a server error".into());
    }
    let admitted = match &access.allowed {
        Allowed::AnyAuthenticated => true,
        Allowed::Roles(roles) => roles.contains(&caller.role),
    };
    if !admitted {
        return (answer.code != Code::PermissionDenied)
            .then(|| "a role the model does not name is not refused".into());
    }
    let mut sent = request.to_string();
    // An enterprise's registered name is public with its credit code.
    if sent.contains(USCC_A) {
        sent.push_str(NAME_A);
    }
    let text = answer.text();
    let found = |values: &[String], even_if_sent: bool| -> Vec<String> {
        values
            .iter()
            .filter(|v| text.contains(v.as_str()) && (even_if_sent || !sent.contains(v.as_str())))
            .cloned()
            .collect()
    };
    let method = access.path.rsplit('/').next().unwrap_or_default();
    let read = is_read(access);

    // Personal data: in full only to those handling the case.
    let handles = match caller.relation {
        Relation::Own => matches!(
            caller.role,
            Role::Enterprise | Role::Coordinator | Role::Handler | Role::Service
        ),
        _ => false,
    };
    if !handles {
        let personal = found(&fixtures.personal, false);
        if !personal.is_empty() {
            return Some(format!("personal data in full: {personal:?}"));
        }
    }
    // A rated department never learns who rated it.
    if caller.role == Role::Handler
        && matches!(method, "ListReviews" | "ListRectifications")
        && answer.code == Code::Ok
    {
        let reviewer = found(
            &[
                USCC_A.to_owned(),
                NAME_A.to_owned(),
                fixtures.values["$RCASE"].clone(),
            ],
            false,
        );
        if !reviewer.is_empty() {
            return Some(format!("the reviewer is named to the rated: {reviewer:?}"));
        }
    }
    // A handler acts for its own department only.
    if caller.relation == Relation::OtherDepartment
        && access.attribution == Attribution::Department
        && answer.code == Code::Ok
        && !read
    {
        let acted = found(&[DEPARTMENT.to_owned()], true);
        if !acted.is_empty() {
            return Some(format!("acted for another department: {acted:?}"));
        }
    }
    if caller.relation == Relation::Own || caller.relation == Relation::OtherDepartment {
        return None;
    }
    // Callers outside the owner's scope.
    if caller.relation == Relation::OtherEnterprise
        && matches!(access.object, ScopeObject::Campaign | ScopeObject::Unit)
    {
        // Every enterprise of the county is invited to its campaigns; units
        // are departments, not enterprises.
        return None;
    }
    let ok = answer.code == Code::Ok;
    match access.object {
        ScopeObject::Public => {
            let records = found(&fixtures.records, false);
            (ok && !records.is_empty() && !read)
                .then(|| format!("a public method changed the owner's records: {records:?}"))
        }
        ScopeObject::Caller => {
            let records = found(&fixtures.records, false);
            (!records.is_empty()).then(|| format!("the owner's records: {records:?}"))
        }
        ScopeObject::New => {
            // Made in the owner's jurisdiction (its code is in every id and
            // attribution there), or for the owner enterprise by another.
            let owner = match caller.relation {
                Relation::OtherJurisdiction => vec![OWN.to_owned()],
                _ => vec![USCC_A.to_owned()],
            };
            let records = found(&owner, true);
            (ok && !records.is_empty())
                .then(|| format!("created inside the owner's scope: {records:?}"))
        }
        ScopeObject::Deployment => {
            (ok && !read).then(|| "changed the deployment from outside the city".into())
        }
        _ => {
            if ok {
                Some(if read {
                    "read a stored object outside its scope".into()
                } else {
                    "changed a stored object outside its scope".into()
                })
            } else {
                let records = found(&fixtures.records, false);
                (!records.is_empty())
                    .then(|| format!("the refusal names the owner's records: {records:?}"))
            }
        }
    }
}

fn is_read(access: &MethodAccess) -> bool {
    let method = access.path.rsplit('/').next().unwrap_or_default();
    ["Get", "List", "Verify", "Export", "Watch"]
        .iter()
        .any(|p| method.starts_with(p))
}

/// Every role of the owning county and of another; the enterprise the
/// fixtures concern and another; a handler of another department.
fn callers(suite: &TestSuite) -> Vec<Caller> {
    let mut callers = vec![
        Caller {
            label: format!("enterprise {USCC_A}"),
            role: Role::Enterprise,
            relation: Relation::Own,
            token: suite.enterprise_token(USCC_A, OWN),
        },
        Caller {
            label: format!("enterprise {USCC_B}"),
            role: Role::Enterprise,
            relation: Relation::OtherEnterprise,
            token: suite.enterprise_token(USCC_B, OWN),
        },
        Caller {
            label: format!("handler of {OTHER_DEPARTMENT}"),
            role: Role::Handler,
            relation: Relation::OtherDepartment,
            token: suite.handler_token(OTHER_DEPARTMENT),
        },
    ];
    for role in Role::ALL {
        if role == Role::Enterprise {
            continue;
        }
        for (jurisdiction, relation) in [(OWN, Relation::Own), (OTHER, Relation::OtherJurisdiction)]
        {
            let token = if role == Role::Handler {
                suite.handler_token(if jurisdiction == OWN {
                    DEPARTMENT
                } else {
                    FOREIGN_DEPARTMENT
                })
            } else {
                suite.token(TokenRequest {
                    jurisdiction: Some(jurisdiction.to_owned()),
                    ..TokenRequest::new(format!("{role}@{jurisdiction}"), vec![role])
                })
            };
            callers.push(Caller {
                label: format!("{role} of {jurisdiction}"),
                role,
                relation,
                token,
            });
        }
    }
    callers
}

/// The owner's records, made the way people make them.
async fn fixtures(suite: &TestSuite) -> Fixtures {
    let coordinator = suite.official_token(Role::Coordinator, OWN);
    let firm = suite.enterprise_token(USCC_A, OWN);
    for (uscc, name) in [(USCC_A, NAME_A), (USCC_B, "旺苍矩阵乙商贸有限公司")] {
        suite
            .register_enterprise(
                intake::Enterprise {
                    uscc: uscc.into(),
                    name: name.into(),
                    jurisdiction_code: OWN.into(),
                    industry: "建材".into(),
                    ..Default::default()
                },
                &suite.enterprise_token(uscc, OWN),
            )
            .await;
    }
    let submit = |key: &str| intake::SubmitAppealRequest {
        request_id: format!("matrix-{key}"),
        channel: intake::Channel::OnlinePortal as i32,
        jurisdiction_code: OWN.into(),
        enterprise: Some(EnterpriseRef {
            uscc: USCC_A.into(),
            name: NAME_A.into(),
        }),
        kind: intake::AppealKind::HelpRequest as i32,
        category: intake::Category::Financing as i32,
        title: format!("矩阵诉求{key}"),
        description: "流动资金贷款申请已两个月未获答复。".into(),
        contact_name: CONTACT_NAME.into(),
        contact_phone: CONTACT_PHONE.into(),
    };
    let mut intake_client = suite.intake().await;
    let open = intake_client
        .submit_appeal(authed(submit("open"), &firm))
        .await
        .expect("the appeal is registered")
        .into_inner();
    let rated = intake_client
        .submit_appeal(authed(submit("rated"), &firm))
        .await
        .expect("the appeal is registered")
        .into_inner();

    // One case in progress at the department, one resolved and badly rated.
    let case = walk_to_in_progress(suite, &case_of(suite, &open.id).await, DEPARTMENT).await;
    let resolved = walk_to_in_progress(suite, &case_of(suite, &rated.id).await, DEPARTMENT).await;
    let resolved = resolve(suite, &resolved).await;
    let review = crate::common::cases::rate_once_invited(
        suite,
        &resolved,
        eval::Rating::Dissatisfied,
        "只放了一半的贷款",
        "matrix-review",
    )
    .await;
    assert!(!review.rectification_id.is_empty(), "{review:?}");

    let tomorrow = prost_types::Timestamp {
        seconds: now_seconds() + 86_400,
        nanos: 0,
    };
    let meeting = cases(suite)
        .await
        .schedule_meeting(authed(
            routing::ScheduleMeetingRequest {
                request_id: "matrix-meeting".into(),
                r#type: routing::MeetingType::PrivateEnterprise as i32,
                jurisdiction_code: OWN.into(),
                start_time: Some(tomorrow),
                chair: "分管副县长".into(),
                title: "矩阵会商会".into(),
                location: "县政府会议室".into(),
            },
            &coordinator,
        ))
        .await
        .expect("the county schedules a meeting")
        .into_inner();

    let draft = PolicyServiceClient::new(suite.channel().await)
        .create_policy(authed(
            policy::CreatePolicyRequest {
                request_id: "matrix-policy".into(),
                policy: Some(policy::Policy {
                    kind: policy::PolicyKind::Policy as i32,
                    jurisdiction_code: OWN.into(),
                    title: "矩阵政策草案".into(),
                    summary: "支持中小企业融资。".into(),
                    articles: vec![policy::Article {
                        number: "1".into(),
                        title: String::new(),
                        text: "适用于本县登记的中小企业。".into(),
                    }],
                    ..Default::default()
                }),
            },
            &coordinator,
        ))
        .await
        .expect("the county drafts a policy")
        .into_inner();

    let mut evaluation = EvaluationServiceClient::new(suite.channel().await);
    let now = now_seconds();
    let campaign = evaluation
        .create_campaign(authed(
            eval::CreateCampaignRequest {
                request_id: "matrix-campaign".into(),
                campaign: Some(eval::Campaign {
                    kind: eval::CampaignKind::LawEnforcement as i32,
                    title: "矩阵百企评执法".into(),
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
                    ..Default::default()
                }),
            },
            &coordinator,
        ))
        .await
        .expect("the county opens a campaign")
        .into_inner();
    let suspension = evaluation
        .propose_suspension(authed(
            eval::ProposeSuspensionRequest {
                uscc: USCC_A.into(),
                request_id: "matrix-suspension".into(),
                reason: "重大安全隐患拒不整改".into(),
                department_id: DEPARTMENT.into(),
                ..Default::default()
            },
            &suite.handler_token(DEPARTMENT),
        ))
        .await
        .expect("the department proposes a suspension")
        .into_inner();

    let visit = evaluation
        .register_service_record(authed(
            eval::RegisterServiceRecordRequest {
                request_id: "matrix-visit".into(),
                window_id: format!("{DEPARTMENT}-01"),
                uscc: USCC_A.into(),
                matter: "矩阵办件".into(),
                transaction_number: "MATRIX-1".into(),
                serve_time: None,
            },
            &suite.handler_token(DEPARTMENT),
        ))
        .await
        .expect("the department's window registers a visit")
        .into_inner();

    let values: BTreeMap<&'static str, String> = [
        ("$A", USCC_A.to_owned()),
        ("$NAME_A", NAME_A.to_owned()),
        ("$APPEAL", open.id.clone()),
        ("$NUMBER", open.number.clone()),
        ("$CASE", case.id.clone()),
        ("$RCASE", resolved.id.clone()),
        ("$MEETING", meeting.id.clone()),
        ("$POLICY", draft.id.clone()),
        ("$CAMPAIGN", campaign.id.clone()),
        ("$SUSPENSION", suspension.id.clone()),
        ("$REVIEW", review.id.clone()),
        ("$RECT", review.rectification_id.clone()),
        ("$VISIT", visit.id.clone()),
        ("$DEPT", DEPARTMENT.to_owned()),
        ("$J", OWN.to_owned()),
    ]
    .into_iter()
    .collect();
    let records = [
        "$A",
        "$NAME_A",
        "$APPEAL",
        "$NUMBER",
        "$CASE",
        "$RCASE",
        "$MEETING",
        "$POLICY",
        "$SUSPENSION",
        "$REVIEW",
        "$RECT",
        "$VISIT",
    ]
    .iter()
    .map(|k| values[k].clone())
    .chain(["矩阵诉求".to_owned(), "矩阵政策草案".to_owned()])
    .collect();
    Fixtures {
        values,
        records,
        personal: vec![CONTACT_NAME.to_owned(), CONTACT_PHONE.to_owned()],
    }
}

/// A request of each method, in proto3 JSON, naming the owner's records by
/// `$NAME`: `$REQ` is a fresh idempotency key, `$CALLER_J` the caller's own
/// jurisdiction. Every method of the contracts needs one.
fn template(path: &str) -> Option<Value> {
    let method = path.strip_prefix("/zhengqi.")?;
    let appeal = json!({
        "requestId": "$REQ", "channel": "CHANNEL_ONLINE_PORTAL", "jurisdictionCode": "$J",
        "enterprise": {"uscc": "$A", "name": "$NAME_A"}, "kind": "APPEAL_KIND_HELP_REQUEST",
        "category": "CATEGORY_FINANCING", "title": "探测诉求", "description": "探测。",
        "contactName": "探测人", "contactPhone": "13800000000"
    });
    let calendar = include_str!("data/calendar-2027-test.toml");
    Some(match method {
        "intake.v1.IntakeService/SubmitAppeal" | "intake.v1.IntakeService/ImportAppeals" => appeal,
        "intake.v1.IntakeService/GetAppeal" => json!({"id": "$APPEAL"}),
        "intake.v1.IntakeService/ListAppeals" => json!({}),
        "intake.v1.IntakeService/WithdrawAppeal" => json!({"id": "$APPEAL", "reason": "探测"}),
        "intake.v1.IntakeService/RegisterEnterprise" => json!({"enterprise": {
            "uscc": "$A", "name": "$NAME_A", "jurisdictionCode": "$CALLER_J"}}),
        "intake.v1.IntakeService/GetEnterprise" => json!({"uscc": "$A"}),
        "intake.v1.IntakeService/ListEnterprises" => json!({}),
        "routing.v1.CaseService/GetCase"
        | "routing.v1.CaseService/GetCaseHistory"
        | "routing.v1.CaseService/AcceptCase"
        | "routing.v1.CaseService/ClaimCase" => json!({"id": "$CASE"}),
        "routing.v1.CaseService/ListCases" => json!({}),
        "routing.v1.CaseService/RejectCase" | "routing.v1.CaseService/ReturnCase" => {
            json!({"id": "$CASE", "reason": "探测"})
        }
        "routing.v1.CaseService/AssignCase" => json!({"id": "$CASE", "departmentId": "$DEPT"}),
        "routing.v1.CaseService/AddProgress" | "routing.v1.CaseService/CloseCase" => {
            json!({"id": "$CASE", "note": "探测"})
        }
        "routing.v1.CaseService/ResolveCase" => {
            json!({"id": "$CASE", "outcome": "OUTCOME_SOLVED", "resolution": "探测"})
        }
        "routing.v1.CaseService/ReopenCase" => json!({"id": "$RCASE", "reason": "探测"}),
        "routing.v1.CaseService/EscalateCase" => {
            json!({"id": "$CASE", "target": "LEVEL_CITY", "reason": "探测"})
        }
        "routing.v1.CaseService/RequestExtension" => {
            json!({"id": "$CASE", "workingDays": 5, "reason": "探测"})
        }
        "routing.v1.CaseService/DecideExtension" => {
            json!({"id": "$CASE", "approve": true, "note": "探测"})
        }
        "routing.v1.CaseService/RequestInfo" => json!({"id": "$CASE", "question": "探测"}),
        "routing.v1.CaseService/ProvideInfo" => json!({"id": "$CASE", "answer": "探测"}),
        "routing.v1.CaseService/VerifyLedger" => json!({"jurisdictionCode": "$J"}),
        "routing.v1.CaseService/ExportLedger" => {
            json!({"jurisdictionCode": "$J", "format": "EXPORT_FORMAT_CSV"})
        }
        "routing.v1.CaseService/ScheduleMeeting" => json!({
            "requestId": "$REQ", "type": "MEETING_TYPE_PRIVATE_ENTERPRISE", "jurisdictionCode": "$J",
            "startTime": "2030-01-07T02:00:00Z", "chair": "探测", "title": "探测会", "location": "探测"}),
        "routing.v1.CaseService/AddToAgenda" => json!({"meetingId": "$MEETING", "caseId": "$CASE"}),
        "routing.v1.CaseService/RecordDecision" => json!({
            "meetingId": "$MEETING", "caseId": "$CASE", "departmentId": "$DEPT", "decision": "探测"}),
        "routing.v1.CaseService/GetMeeting" => json!({"id": "$MEETING"}),
        "routing.v1.CaseService/ListMeetings"
        | "routing.v1.CaseService/ListButlers"
        | "routing.v1.CaseService/ListRoutingRules"
        | "routing.v1.CaseService/GetCalendar" => json!({}),
        "routing.v1.CaseService/AssignButler" => json!({
            "uscc": "$A", "official": "butler@$CALLER_J", "officialName": "探测",
            "kind": "BUTLER_KIND_PROJECT_BUTLER", "jurisdictionCode": "$CALLER_J"}),
        "routing.v1.CaseService/PutRoutingRule" => json!({"routingRule": {
            "jurisdictionCode": "$J", "category": "CATEGORY_FINANCING", "level": "LEVEL_COUNTY",
            "departmentId": "$DEPT", "timeLimitWorkingDays": 1, "priority": 999,
            "description": "探测"}}),
        "routing.v1.CaseService/PutCalendarYear" => {
            json!({"content": calendar, "requestId": "$REQ"})
        }
        "policy.v1.PolicyService/CreatePolicy" => json!({"requestId": "$REQ", "policy": {
            "kind": "POLICY_KIND_POLICY", "jurisdictionCode": "$J", "title": "探测",
            "summary": "探测", "articles": [{"number": "1", "text": "探测"}]}}),
        "policy.v1.PolicyService/UpdatePolicy" => {
            json!({"policy": {"id": "$POLICY", "title": "改"}, "updateMask": "title"})
        }
        "policy.v1.PolicyService/OpenConsultation" => {
            json!({"id": "$POLICY", "closeTime": "2030-01-31T00:00:00Z"})
        }
        "policy.v1.PolicyService/SubmitComment" | "policy.v1.PolicyService/AskQuestion" => {
            json!({"requestId": "$REQ", "policyId": "$POLICY", "text": "探测"})
        }
        "policy.v1.PolicyService/RespondToComment" => json!({
            "commentId": "$POLICY", "disposition": "DISPOSITION_ADOPTED", "reply": "探测"}),
        "policy.v1.PolicyService/PublishPolicy" | "policy.v1.PolicyService/GetPolicy" => {
            json!({"id": "$POLICY"})
        }
        "policy.v1.PolicyService/AmendPolicy" | "policy.v1.PolicyService/RepealPolicy" => {
            json!({"id": "$POLICY", "reason": "探测"})
        }
        "policy.v1.PolicyService/ListPolicies" | "policy.v1.PolicyService/ListInbox" => json!({}),
        "policy.v1.PolicyService/ListComments"
        | "policy.v1.PolicyService/ListQuestions"
        | "policy.v1.PolicyService/ListFulfillments" => json!({"policyId": "$POLICY"}),
        "policy.v1.PolicyService/AnswerQuestion" => {
            json!({"questionId": "$POLICY", "answer": "探测"})
        }
        "policy.v1.PolicyService/RecordFulfillment" => json!({
            "requestId": "$REQ", "policyId": "$POLICY", "uscc": "$A",
            "kind": "FULFILLMENT_KIND_SUBSIDY", "amountFen": "100", "departmentId": "$DEPT"}),
        "policy.v1.PolicyService/RatePolicy" => json!({
            "requestId": "$REQ", "policyId": "$POLICY", "rating": "RATING_SATISFIED",
            "comment": "探测"}),
        "policy.v1.PolicyService/MarkRead" => json!({"itemIds": ["$POLICY"]}),
        "evaluation.v1.EvaluationService/SubmitReview" => json!({
            "requestId": "$REQ", "targetKind": "TARGET_KIND_DEPARTMENT", "caseId": "$RCASE",
            "rating": "RATING_SATISFIED", "comment": "探测"}),
        "evaluation.v1.EvaluationService/RegisterServiceRecord" => json!({
            "requestId": "$REQ", "windowId": "$DEPT-01", "uscc": "$A", "matter": "探测",
            "transactionNumber": "$REQ"}),
        "evaluation.v1.EvaluationService/ListReviews"
        | "evaluation.v1.EvaluationService/ListServiceRecords"
        | "evaluation.v1.EvaluationService/ListRectifications"
        | "evaluation.v1.EvaluationService/ListCampaigns" => json!({}),
        "evaluation.v1.EvaluationService/VerifyBadReview" => {
            json!({"id": "$RECT", "valid": true, "note": "探测"})
        }
        "evaluation.v1.EvaluationService/SubmitRectification" => {
            json!({"id": "$RECT", "text": "探测"})
        }
        "evaluation.v1.EvaluationService/RecordReturnVisit" => {
            json!({"id": "$RECT", "satisfied": true, "note": "探测"})
        }
        "evaluation.v1.EvaluationService/CreateCampaign" => json!({"requestId": "$REQ",
            "campaign": {"kind": "CAMPAIGN_KIND_LAW_ENFORCEMENT", "jurisdictionCode": "$J",
            "title": "探测", "items": [{"key": "overall", "text": "总体评价"}],
            "startTime": "2026-01-01T00:00:00Z", "endTime": "2030-01-01T00:00:00Z"}}),
        "evaluation.v1.EvaluationService/SubmitCampaignResponse" => json!({
            "requestId": "$REQ", "campaignId": "$CAMPAIGN",
            "answers": [{"itemKey": "overall", "rating": "RATING_SATISFIED"}]}),
        "evaluation.v1.EvaluationService/GetCampaignResults" => json!({"campaignId": "$CAMPAIGN"}),
        "evaluation.v1.EvaluationService/SubmitAssessment" => json!({
            "requestId": "$REQ", "jurisdictionCode": "$J", "departmentId": "$DEPT",
            "period": "2026", "score": 80, "summary": "探测"}),
        "evaluation.v1.EvaluationService/RecordViolation" => json!({
            "uscc": "$A", "requestId": "$REQ", "severity": "SEVERITY_MINOR",
            "description": "探测", "departmentId": "$DEPT"}),
        "evaluation.v1.EvaluationService/ProposeSuspension" => json!({
            "uscc": "$A", "requestId": "$REQ", "reason": "探测", "departmentId": "$DEPT"}),
        "evaluation.v1.EvaluationService/DecideSuspension" => json!({
            "uscc": "$A", "id": "$SUSPENSION", "approve": false, "note": "探测"}),
        "evaluation.v1.EvaluationService/PutCreditListing" => json!({
            "uscc": "$A", "list": "CREDIT_LIST_RED", "reason": "探测"}),
        "evaluation.v1.EvaluationService/GetEnterpriseCredit" => json!({"uscc": "$A"}),
        "scoring.v1.ScoringService/PutIndicatorModel" => json!({"period": "2026"}),
        "scoring.v1.ScoringService/GetIndicatorModel"
        | "scoring.v1.ScoringService/ListRankings"
        | "scoring.v1.ScoringService/ListAlerts"
        | "scoring.v1.ScoringService/GetOverview" => json!({"period": "2026"}),
        "scoring.v1.ScoringService/GetScorecard" => json!({"unitId": "$DEPT", "period": "2026"}),
        "scoring.v1.ScoringService/ListIndicatorFacts" => {
            json!({"unitId": "$DEPT", "period": "2026", "indicatorKey": "on_time_rate"})
        }
        "scoring.v1.ScoringService/Recompute" => json!({"period": "2026", "requestId": "$REQ"}),
        m if m.ends_with("/WatchEvents") => json!({}),
        _ => return None,
    })
}

/// `template` with the fixtures' values put in.
fn fill(template: &Value, fixtures: &Fixtures, caller: &Caller, call: usize) -> Value {
    match template {
        Value::String(text) if text.contains('$') => {
            let mut text = text.replace("$REQ", &format!("probe-{call}"));
            let own = match caller.relation {
                Relation::OtherJurisdiction => OTHER,
                _ => OWN,
            };
            text = text.replace("$CALLER_J", own);
            // Longest names first, so `$RCASE` is not read as `$R` + `CASE`.
            let mut names: Vec<&&str> = fixtures.values.keys().collect();
            names.sort_by_key(|n| std::cmp::Reverse(n.len()));
            for name in names {
                text = text.replace(*name, &fixtures.values[*name]);
            }
            Value::String(text)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| fill(v, fixtures, caller, call))
                .collect(),
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), fill(v, fixtures, caller, call)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn method_of(pool: &DescriptorPool, path: &str) -> MethodDescriptor {
    let (service, method) = path.trim_start_matches('/').split_once('/').unwrap();
    pool.get_service_by_name(service)
        .and_then(|s| s.methods().find(|m| m.name() == method))
        .unwrap_or_else(|| panic!("{path} is not in the contracts"))
}

/// Calls `method` through the gateway over gRPC with `request` (proto3 JSON).
async fn grpc(
    channel: &tonic::transport::Channel,
    method: &MethodDescriptor,
    request: &Value,
    token: &str,
) -> Answer {
    let message = DynamicMessage::deserialize(method.input(), request)
        .unwrap_or_else(|e| panic!("the request of {} is not valid: {e}", method.full_name()));
    let bytes = Bytes::from(message.encode_to_vec());
    let path: http::uri::PathAndQuery =
        format!("/{}/{}", method.parent_service().full_name(), method.name())
            .parse()
            .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("the gateway is ready");
    let answered = match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => grpc
            .unary(authed(bytes, token), path, RawCodec)
            .await
            .map(|r| r.into_inner().to_vec()),
        (true, false) => {
            let stream = tokio_stream::iter(vec![bytes]);
            grpc.client_streaming(authed(stream, token), path, RawCodec)
                .await
                .map(|r| r.into_inner().to_vec())
        }
        (false, true) => match grpc
            .server_streaming(authed(bytes, token), path, RawCodec)
            .await
        {
            // The history the caller may see arrives at once; a short wait
            // is enough to read it.
            Ok(response) => {
                let mut stream = response.into_inner();
                let mut seen = Vec::new();
                while let Ok(Ok(Some(event))) =
                    tokio::time::timeout(Duration::from_millis(300), stream.message()).await
                {
                    seen.extend_from_slice(&event);
                }
                Ok(seen)
            }
            Err(status) => Err(status),
        },
        (true, true) => unreachable!("no method of the contracts streams both ways"),
    };
    match answered {
        Ok(body) => Answer {
            code: Code::Ok,
            body,
        },
        Err(status) => Answer {
            code: status.code(),
            body: status.message().as_bytes().to_vec(),
        },
    }
}

/// Calls `method` through the gateway over HTTP/JSON per its `google.api.http`
/// rule; `None` for a method without one.
async fn http_call(
    client: &reqwest::Client,
    gateway: &str,
    method: &MethodDescriptor,
    request: &Value,
    caller: &Caller,
) -> Option<Answer> {
    let pool = method.parent_pool();
    let extension = pool.get_extension_by_name("google.api.http")?;
    let options = method.options();
    if !options.has_extension(&extension) {
        return None;
    }
    let Reflected::Message(rule) = options.get_extension(&extension).into_owned() else {
        return None;
    };
    let (verb, template) = ["get", "post", "put", "patch", "delete"]
        .into_iter()
        .find_map(|verb| {
            let value = rule.get_field_by_name(verb)?;
            let text = value.as_str()?.to_owned();
            (!text.is_empty()).then_some((verb, text))
        })?;
    let body_rule = rule
        .get_field_by_name("body")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();

    let mut rest = request.as_object().cloned().unwrap_or_default();
    let mut path = String::new();
    let mut remaining = template.as_str();
    while let Some(start) = remaining.find('{') {
        let end = remaining[start..].find('}').unwrap() + start;
        path.push_str(&remaining[..start]);
        let variable = remaining[start + 1..end].split('=').next().unwrap();
        let value = take_field(&mut rest, variable).unwrap_or_default();
        path.push_str(&urlencode(&value));
        remaining = &remaining[end + 1..];
    }
    path.push_str(remaining);

    let mut url = format!("{gateway}{path}");
    let body = match body_rule.as_str() {
        "*" => Some(Value::Object(rest)),
        "" => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            for (key, value) in rest {
                match value {
                    Value::String(s) => query.append_pair(&key, &s),
                    Value::Number(n) => query.append_pair(&key, &n.to_string()),
                    Value::Bool(b) => query.append_pair(&key, &b.to_string()),
                    _ => &mut query,
                };
            }
            let query = query.finish();
            if !query.is_empty() {
                url = format!("{url}?{query}");
            }
            None
        }
        field => Some(rest.remove(&camel(field)).unwrap_or(json!({}))),
    };
    let mut call = match verb {
        "get" => client.get(&url),
        "delete" => client.delete(&url),
        "patch" => client.patch(&url),
        "put" => client.put(&url),
        _ => client.post(&url),
    };
    call = call.bearer_auth(&caller.token);
    if let Some(body) = body {
        call = call
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap());
    }
    let response = call.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default().to_vec();
    Some(Answer {
        code: code_of_http(status, &body),
        body,
    })
}

/// The gRPC code of an HTTP answer: the body's `code` when it has one.
fn code_of_http(status: u16, body: &[u8]) -> Code {
    if (200..300).contains(&status) {
        return Code::Ok;
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["code"].as_i64())
        .map(|c| Code::from_i32(c as i32))
        .unwrap_or(match status {
            400 => Code::InvalidArgument,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::NotFound,
            409 => Code::Aborted,
            429 => Code::ResourceExhausted,
            _ => Code::Unknown,
        })
}

/// Takes the field at `path` (`policy.id`) out of `object`, as text.
fn take_field(object: &mut serde_json::Map<String, Value>, path: &str) -> Option<String> {
    let mut parts = path.split('.').map(camel).collect::<Vec<_>>();
    let last = parts.pop()?;
    let mut current = object;
    for part in parts {
        current = current.get_mut(&part)?.as_object_mut()?;
    }
    match current.remove(&last)? {
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Messages as the bytes they are: the probes build them from JSON with the
/// contracts' descriptors and read answers as bytes.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[tokio::test]
async fn a_control_character_in_a_text_field_is_refused_over_grpc_and_http_and_nothing_is_stored() {
    let suite = TestSuite::start().await;
    let firm = suite.enterprise_token(USCC_A, OWN);
    let mut request = crate::common::appeal("nul-1", USCC_A, OWN, "贷款难");
    request.title = "贷款\0难".into();
    let status = suite
        .intake()
        .await
        .submit_appeal(authed(request, &firm))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(crate::common::bad_fields(&status), ["title"]);

    let response = reqwest::Client::new()
        .post(format!("{}/v1/appeals", suite.gateway()))
        .bearer_auth(&firm)
        .header("content-type", "application/json")
        .body(
            json!({
                "requestId": "nul-2", "channel": "CHANNEL_ONLINE_PORTAL", "jurisdictionCode": OWN,
                "enterprise": {"uscc": USCC_A, "name": "某\u{1b}[2J公司"},
                "kind": "APPEAL_KIND_HELP_REQUEST", "category": "CATEGORY_FINANCING",
                "title": "贷款难", "description": "第一行\n第二行",
                "contactName": "张三", "contactPhone": "0839-3266666"
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(
        body["details"][0]["fieldViolations"][0]["field"], "enterprise.name",
        "{body}"
    );

    // A line break in a long text is fine, and only that appeal is stored.
    let mut fine = crate::common::appeal("nul-3", USCC_A, OWN, "贷款难");
    fine.description = "第一行\n第二行\t完".into();
    suite
        .intake()
        .await
        .submit_appeal(authed(fine, &firm))
        .await
        .expect("line breaks and tabs pass in a description");
    let listed = suite
        .intake()
        .await
        .list_appeals(authed(intake::ListAppealsRequest::default(), &firm))
        .await
        .unwrap()
        .into_inner()
        .appeals;
    assert_eq!(listed.len(), 1);
    suite.stop().await;
}

#[tokio::test]
async fn an_enterprise_files_on_the_portal_only_and_the_mayors_line_is_relayed_by_staff() {
    let suite = TestSuite::start().await;
    let firm = suite.enterprise_token(USCC_A, OWN);
    let mut mayor = crate::common::appeal("mayor-1", USCC_A, OWN, "土地手续办理慢");
    mayor.channel = intake::Channel::MayorDirectLine as i32;
    let status = suite
        .intake()
        .await
        .submit_appeal(authed(mayor.clone(), &firm))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(crate::common::bad_fields(&status), ["channel"]);
    let supervisor = suite.official_token(Role::Supervisor, OWN);
    let status = suite
        .intake()
        .await
        .submit_appeal(authed(mayor.clone(), &supervisor))
        .await
        .unwrap_err();
    assert_eq!(crate::common::bad_fields(&status), ["channel"]);
    let listed = suite
        .intake()
        .await
        .list_appeals(authed(intake::ListAppealsRequest::default(), &firm))
        .await
        .unwrap()
        .into_inner()
        .appeals;
    assert!(listed.is_empty(), "nothing is stored: {listed:?}");

    // The county's office relays the mayor's line, which starts at the city.
    let relayed = suite
        .intake()
        .await
        .submit_appeal(authed(mayor, &suite.official_token(Role::Coordinator, OWN)))
        .await
        .expect("the office relays the mayor's line")
        .into_inner();
    assert_eq!(
        case_of(&suite, &relayed.id).await.level,
        routing::Level::City as i32
    );
    let mut own = crate::common::appeal("portal-1", USCC_A, OWN, "融资难");
    own.channel = intake::Channel::OnlinePortal as i32;
    suite
        .intake()
        .await
        .submit_appeal(authed(own, &firm))
        .await
        .expect("an enterprise files on the portal");
    suite.stop().await;
}
