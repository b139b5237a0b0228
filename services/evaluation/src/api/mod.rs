//! The tonic implementation of `zhengqi.evaluation.v1.EvaluationService`:
//! proto in, proto out; the rules are in `domain`, the data in `store`.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
use zhengqi_proto::zhengqi::evaluation::v1 as pb;
use zhengqi_proto::zhengqi::evaluation::v1::evaluation_service_server::EvaluationService;
use zhengqi_shared::access::{self, Scope};
use zhengqi_shared::auth::{Principal, Role};
use zhengqi_shared::error::Why;
use zhengqi_shared::events::{self, EventStream};
use zhengqi_shared::fields::{self, ID_MAX};
use zhengqi_shared::ids::{self, PageToken};
use zhengqi_shared::reference::{JurisdictionCode, Uscc};
use zhengqi_shared::unit::UnitOfWork;
use zhengqi_shared::{Error, Violations};

use crate::Core;
use crate::convert;
use crate::domain::rectification::{self, Step};
use crate::domain::review::{self, Reviewer};
use crate::domain::{
    Assessment, Campaign, CampaignAnswer, CampaignResponse, CaseReopen, CreditListing, Direction,
    Rating, Rectification, RectificationState, Review, ReviewState, ServiceRecord, Suspension,
    SuspensionState, TEXT_MAX_CHARS, TITLE_MAX_CHARS, TargetKind, Violation, campaign, credit,
    period,
};
use crate::store::{self, CampaignFilter, RectificationFilter, ReviewFilter, ServiceRecordFilter};

mod campaigns;
mod credits;
mod rectifications;
mod reviews;
mod service_records;

/// Most items of a campaign and most enterprises invited by name.
const CAMPAIGN_ITEMS_MAX: usize = 100;
const CAMPAIGN_INVITEES_MAX: usize = 5_000;
/// Most aspects rated in one review.
const DIMENSIONS_MAX: usize = 20;
/// How far ahead of the clock an occurrence time may be (clock skew).
const FUTURE_TOLERANCE_MICROS: i64 = 5 * 60 * 1_000_000;

pub struct EvaluationApi {
    core: Arc<Core>,
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn uscc(violations: &mut Violations, field: &str, value: &str) -> Option<String> {
    violations
        .check(field, Uscc::parse(value))
        .map(|u| u.as_str().to_owned())
}

/// An enterprise as people know it: its name, else its code.
fn enterprise_label(name: &str, uscc: &str) -> String {
    if name.is_empty() {
        format!("企业 {uscc}")
    } else {
        name.to_owned()
    }
}

/// Reviewers are protected (评价人信息严格保密): only the business-environment
/// office, administrators, systems and the enterprise itself see who reviewed
/// and the case that leads to them; the rated department sees the rating and
/// the words, and a bad review as the rectification its coordinator assigns.
fn protects_reviewers(principal: &Principal, scope: &Scope) -> bool {
    !matches!(scope, Scope::Enterprise(_))
        && !principal.has_any(&[Role::Coordinator, Role::Admin, Role::Service])
}

impl EvaluationApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    fn scope(&self, principal: &Principal) -> Scope {
        Scope::of(principal, &self.core.directory)
    }

    fn known_jurisdiction(&self, text: &str) -> Result<String, Why> {
        self.core
            .directory
            .parse_known(text.trim())
            .map(|code| code.as_str().to_owned())
            .map_err(Why::from)
    }

    /// A jurisdiction as people know it: its name, else its code.
    fn jurisdiction_name(&self, code: &str) -> String {
        JurisdictionCode::parse(code)
            .ok()
            .and_then(|c| self.core.directory.current_name(&c).map(str::to_owned))
            .unwrap_or_else(|| code.to_owned())
    }

    /// The refusal of an act in a jurisdiction the caller does not cover.
    fn outside(&self, code: &str) -> Error {
        Error::PermissionDenied(format!("jurisdiction {code} is outside your jurisdiction"))
            .zh(format!("{}不在您的辖区", self.jurisdiction_name(code)))
    }

    /// A department of the directory: a jurisdiction it knows and a department
    /// every jurisdiction has (`departments.toml`); its jurisdiction. A made-up
    /// department never becomes a unit that is rated or scored.
    fn department(&self, id: &str) -> Result<String, Why> {
        let jurisdiction = review::department_jurisdiction(id).ok_or_else(|| {
            Why::new(
                format!("{id:?} is not a department id like 510821-jrj"),
                format!("“{id}”不是部门编号，部门编号形如 510821-jrj"),
            )
        })?;
        let key = &id[jurisdiction.len() + 1..];
        if !self.core.department_keys.iter().any(|k| k == key) {
            return Err(Why::new(
                format!("{id:?}: 目录中没有部门 {key:?}（no department {key:?} in the directory）"),
                format!("“{id}”：部门目录中没有“{key}”"),
            ));
        }
        self.known_jurisdiction(jurisdiction)
            .map_err(|why| Why::new(format!("{id:?}: {}", why.en), format!("“{id}”：{}", why.zh)))
    }

    /// The caller's own jurisdiction, known to the directory; the city for a
    /// service caller without one.
    fn home_jurisdiction(&self, principal: &Principal, scope: &Scope) -> Result<String, Error> {
        match principal
            .jurisdiction
            .as_deref()
            .and_then(|j| self.known_jurisdiction(j).ok())
        {
            Some(code) => Ok(code),
            None if *scope == Scope::Everything => Ok(self.core.city.clone()),
            None => Err(
                Error::PermissionDenied("your token names no known jurisdiction".into())
                    .zh("您的登录凭证未指明本系统已知的所属区划，不能办理此事项"),
            ),
        }
    }
}

/// Why a rating is refused.
fn five_levels() -> Why {
    Why::new(
        "must be one of the five levels",
        "须为五个评价等级之一（非常不满意至非常满意）",
    )
}

/// Why an end time is refused.
fn after_start() -> Why {
    Why::new("must be after start_time", "须晚于开始时间")
}

fn enterprise_uscc(scope: &Scope) -> Result<String, Error> {
    match scope {
        Scope::Enterprise(uscc) => Ok(Uscc::parse(uscc)
            .map(|u| u.as_str().to_owned())
            .unwrap_or_else(|_| uscc.clone())),
        _ => Err(
            Error::PermissionDenied("your token names no enterprise (uscc)".into())
                .zh("您的登录凭证未指明所属企业，只有企业可以办理此事项"),
        ),
    }
}

#[tonic::async_trait]
impl EvaluationService for EvaluationApi {
    async fn submit_review(
        &self,
        request: Request<pb::SubmitReviewRequest>,
    ) -> Result<Response<pb::Review>, Status> {
        reviews::submit_review(self, request).await
    }

    async fn register_service_record(
        &self,
        request: Request<pb::RegisterServiceRecordRequest>,
    ) -> Result<Response<pb::ServiceRecord>, Status> {
        service_records::register_service_record(self, request).await
    }

    async fn list_service_records(
        &self,
        request: Request<pb::ListServiceRecordsRequest>,
    ) -> Result<Response<pb::ListServiceRecordsResponse>, Status> {
        service_records::list_service_records(self, request).await
    }

    async fn list_reviews(
        &self,
        request: Request<pb::ListReviewsRequest>,
    ) -> Result<Response<pb::ListReviewsResponse>, Status> {
        reviews::list_reviews(self, request).await
    }

    async fn verify_bad_review(
        &self,
        request: Request<pb::VerifyBadReviewRequest>,
    ) -> Result<Response<pb::Rectification>, Status> {
        rectifications::verify_bad_review(self, request).await
    }

    async fn submit_rectification(
        &self,
        request: Request<pb::SubmitRectificationRequest>,
    ) -> Result<Response<pb::Rectification>, Status> {
        rectifications::submit_rectification(self, request).await
    }

    async fn record_return_visit(
        &self,
        request: Request<pb::RecordReturnVisitRequest>,
    ) -> Result<Response<pb::Rectification>, Status> {
        rectifications::record_return_visit(self, request).await
    }

    async fn list_rectifications(
        &self,
        request: Request<pb::ListRectificationsRequest>,
    ) -> Result<Response<pb::ListRectificationsResponse>, Status> {
        rectifications::list_rectifications(self, request).await
    }

    async fn create_campaign(
        &self,
        request: Request<pb::CreateCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        campaigns::create_campaign(self, request).await
    }

    async fn list_campaigns(
        &self,
        request: Request<pb::ListCampaignsRequest>,
    ) -> Result<Response<pb::ListCampaignsResponse>, Status> {
        campaigns::list_campaigns(self, request).await
    }

    async fn submit_campaign_response(
        &self,
        request: Request<pb::SubmitCampaignResponseRequest>,
    ) -> Result<Response<pb::CampaignResponse>, Status> {
        campaigns::submit_campaign_response(self, request).await
    }

    async fn get_campaign_results(
        &self,
        request: Request<pb::GetCampaignResultsRequest>,
    ) -> Result<Response<pb::CampaignResults>, Status> {
        campaigns::get_campaign_results(self, request).await
    }

    async fn submit_assessment(
        &self,
        request: Request<pb::SubmitAssessmentRequest>,
    ) -> Result<Response<pb::Assessment>, Status> {
        campaigns::submit_assessment(self, request).await
    }

    async fn record_violation(
        &self,
        request: Request<pb::RecordViolationRequest>,
    ) -> Result<Response<pb::Violation>, Status> {
        credits::record_violation(self, request).await
    }

    async fn propose_suspension(
        &self,
        request: Request<pb::ProposeSuspensionRequest>,
    ) -> Result<Response<pb::Suspension>, Status> {
        credits::propose_suspension(self, request).await
    }

    async fn decide_suspension(
        &self,
        request: Request<pb::DecideSuspensionRequest>,
    ) -> Result<Response<pb::Suspension>, Status> {
        credits::decide_suspension(self, request).await
    }

    async fn put_credit_listing(
        &self,
        request: Request<pb::PutCreditListingRequest>,
    ) -> Result<Response<pb::CreditListing>, Status> {
        credits::put_credit_listing(self, request).await
    }

    async fn get_enterprise_credit(
        &self,
        request: Request<pb::GetEnterpriseCreditRequest>,
    ) -> Result<Response<pb::EnterpriseCredit>, Status> {
        credits::get_enterprise_credit(self, request).await
    }

    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        events::serve_watch(self.core.store.events(), request, &self.core.directory)
    }
}
