//! The tonic implementation of `zhengqi.routing.v1.CaseService`: proto in,
//! proto out; the rules are in `domain`, the data in `store`. Methods not
//! built yet keep the generated `UNIMPLEMENTED` answer.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
use zhengqi_proto::zhengqi::routing::v1 as pb;
use zhengqi_proto::zhengqi::routing::v1::case_service_server::CaseService;
use zhengqi_shared::access::{self, GOVERNMENT, Scope};
use zhengqi_shared::auth::{Principal, Role};
use zhengqi_shared::events::{self, EventStream};
use zhengqi_shared::fields::{self, Problem};
use zhengqi_shared::ids::{self, PageToken};
use zhengqi_shared::reference::{Calendar, WARN_DAYS_LEFT};
use zhengqi_shared::{Error, Violations, Why};

use zhengqi_proto::google::api::HttpBody;
use zhengqi_shared::storage::micros_of;

use crate::Core;
use crate::convert::{self, Mutation};
use crate::domain::ledger_sheet;
use crate::domain::machine::{self, Refusal};
use crate::domain::meeting::{self, Meeting};
use crate::domain::{Butler, LoadedYear, MeetingType};
use crate::export;
use crate::store::{Actor, CaseFilter, MeetingFilter};

mod butlers;
mod calendar_years;
mod cases;
mod ledger;
mod meetings;
mod routing_rules;

pub struct RoutingApi {
    core: Arc<Core>,
}

impl RoutingApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    fn scope(&self, principal: &Principal) -> Scope {
        Scope::of(principal, &self.core.directory)
    }

    /// Checks and applies one mutation of a case. Out-of-scope writes are
    /// `PERMISSION_DENIED` (API.md), a stale `etag` `ABORTED`, a step the state
    /// does not allow `FAILED_PRECONDITION`.
    async fn mutate<T>(
        &self,
        request: Request<T>,
        method: &str,
        parse: fn(T) -> Result<Mutation, Error>,
    ) -> Result<Response<pb::Case>, Status> {
        let principal = access::principal(&request)?.clone();
        let mutation = parse(request.into_inner())?;
        let scope = self.scope(&principal);
        let now = self.core.clock.now();
        let core = &self.core;
        let case = core
            .store
            .mutate(
                &mutation.id,
                &Actor {
                    sub: principal.sub.clone(),
                },
                method,
                &mutation.request_id,
                now,
                |case| {
                    let calendar = core.calendar.current();
                    let context = core.context(now, &calendar);
                    let acting =
                        machine::authorize(case, &principal, &scope, &mutation.command, &context)
                            .map_err(refused)?;
                    if !mutation.etag.is_empty() && mutation.etag != case.etag() {
                        return Err(Error::Aborted(format!(
                            "case {} changed since it was read (etag {} is now {}); read it again",
                            case.id,
                            mutation.etag,
                            case.etag()
                        ))
                        .zh(format!("{}已被他人修改，请刷新后重试", case.zh_name())));
                    }
                    machine::apply(case, &principal.sub, acting, &mutation.command, &context)
                        .map_err(refused)
                },
            )
            .await?;
        Ok(Response::new(convert::case_to_proto(&case)))
    }

    /// The jurisdictions a list may show, given the caller's scope and the
    /// optional `jurisdiction_code` filter; `None` means no restriction.
    fn visible_jurisdictions(
        &self,
        scope: &Scope,
        requested: &str,
    ) -> Result<Option<Vec<String>>, Error> {
        scope.list_jurisdictions(&self.core.directory, requested)
    }

    /// A jurisdiction for people: its current name, else its code.
    fn jurisdiction_name(&self, code: &str) -> String {
        zhengqi_shared::reference::JurisdictionCode::parse(code)
            .ok()
            .and_then(|code| self.core.directory.current_name(&code).map(str::to_owned))
            .unwrap_or_else(|| code.to_owned())
    }

    /// A department id for people: `旺苍县地方金融监督管理局`.
    fn department_name(&self, id: &str) -> String {
        match self.core.departments.parse_id(id) {
            Some((jurisdiction, kind)) => {
                format!("{}{}", self.jurisdiction_name(jurisdiction), kind.name)
            }
            None => id.to_owned(),
        }
    }
}

/// Refuses a meeting kind the city does not hold (its `meeting_kinds.toml`).
fn held(core: &Core, field: &str, meeting_type: Option<MeetingType>) -> Result<(), Error> {
    match meeting_type {
        Some(kind) if !core.meetings.holds(kind) => Err(Error::invalid(
            field,
            Why::new(
                format!("{kind} is not one of the consultation meetings this city holds"),
                format!("本市未设立{}", kind.chinese()),
            ),
        )),
        _ => Ok(()),
    }
}

/// A domain refusal as the error of the boundary, with its Chinese.
fn refused(refusal: Refusal) -> Error {
    let zh = refusal.chinese();
    match refusal {
        Refusal::NotAllowed(why) => Error::PermissionDenied(why.en).zh(zh),
        Refusal::WrongState(why) => Error::FailedPrecondition(why.en).zh(zh),
        Refusal::Invalid { field, problem } => Error::invalid(field, problem),
        Refusal::Calendar(error) => Error::FailedPrecondition(error.to_string()).zh(zh),
    }
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

#[tonic::async_trait]
impl CaseService for RoutingApi {
    async fn get_case(
        &self,
        request: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        cases::get_case(self, request).await
    }

    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        cases::list_cases(self, request).await
    }

    async fn accept_case(
        &self,
        request: Request<pb::AcceptCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        self.mutate(request, "AcceptCase", convert::accept).await
    }

    async fn reject_case(
        &self,
        request: Request<pb::RejectCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        self.mutate(request, "RejectCase", convert::reject).await
    }

    async fn assign_case(
        &self,
        request: Request<pb::AssignCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        self.mutate(request, "AssignCase", convert::assign).await
    }

    async fn claim_case(
        &self,
        request: Request<pb::ClaimCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        self.mutate(request, "ClaimCase", convert::claim).await
    }

    async fn add_progress(
        &self,
        request: Request<pb::AddProgressRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        self.mutate(request, "AddProgress", convert::add_progress)
            .await
    }

    async fn resolve_case(
        &self,
        request: Request<pb::ResolveCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        self.mutate(request, "ResolveCase", convert::resolve).await
    }

    async fn reopen_case(
        &self,
        request: Request<pb::ReopenCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        self.mutate(request, "ReopenCase", convert::reopen).await
    }

    async fn close_case(
        &self,
        request: Request<pb::CloseCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        self.mutate(request, "CloseCase", convert::close).await
    }

    async fn escalate_case(
        &self,
        request: Request<pb::EscalateCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        held(
            &self.core,
            "meeting_type",
            convert::meeting_type(request.get_ref().meeting_type),
        )?;
        self.mutate(request, "EscalateCase", convert::escalate)
            .await
    }

    async fn request_extension(
        &self,
        request: Request<pb::RequestExtensionRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        self.mutate(request, "RequestExtension", convert::request_extension)
            .await
    }

    async fn decide_extension(
        &self,
        request: Request<pb::DecideExtensionRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        self.mutate(request, "DecideExtension", convert::decide_extension)
            .await
    }

    async fn request_info(
        &self,
        request: Request<pb::RequestInfoRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        self.mutate(request, "RequestInfo", convert::request_info)
            .await
    }

    async fn provide_info(
        &self,
        request: Request<pb::ProvideInfoRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        self.mutate(request, "ProvideInfo", convert::provide_info)
            .await
    }

    async fn return_case(
        &self,
        request: Request<pb::ReturnCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        self.mutate(request, "ReturnCase", convert::return_case)
            .await
    }

    async fn get_case_history(
        &self,
        request: Request<pb::GetCaseHistoryRequest>,
    ) -> Result<Response<pb::CaseHistory>, Status> {
        cases::get_case_history(self, request).await
    }

    async fn verify_ledger(
        &self,
        request: Request<pb::VerifyLedgerRequest>,
    ) -> Result<Response<pb::VerifyLedgerResponse>, Status> {
        ledger::verify_ledger(self, request).await
    }

    async fn export_ledger(
        &self,
        request: Request<pb::ExportLedgerRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        ledger::export_ledger(self, request).await
    }

    async fn schedule_meeting(
        &self,
        request: Request<pb::ScheduleMeetingRequest>,
    ) -> Result<Response<pb::Meeting>, Status> {
        meetings::schedule_meeting(self, request).await
    }

    async fn add_to_agenda(
        &self,
        request: Request<pb::AddToAgendaRequest>,
    ) -> Result<Response<pb::Meeting>, Status> {
        meetings::add_to_agenda(self, request).await
    }

    async fn record_decision(
        &self,
        request: Request<pb::RecordDecisionRequest>,
    ) -> Result<Response<pb::Meeting>, Status> {
        meetings::record_decision(self, request).await
    }

    async fn get_meeting(
        &self,
        request: Request<pb::GetMeetingRequest>,
    ) -> Result<Response<pb::Meeting>, Status> {
        meetings::get_meeting(self, request).await
    }

    async fn list_meetings(
        &self,
        request: Request<pb::ListMeetingsRequest>,
    ) -> Result<Response<pb::ListMeetingsResponse>, Status> {
        meetings::list_meetings(self, request).await
    }

    async fn assign_butler(
        &self,
        request: Request<pb::AssignButlerRequest>,
    ) -> Result<Response<pb::Butler>, Status> {
        butlers::assign_butler(self, request).await
    }

    async fn list_butlers(
        &self,
        request: Request<pb::ListButlersRequest>,
    ) -> Result<Response<pb::ListButlersResponse>, Status> {
        butlers::list_butlers(self, request).await
    }

    async fn list_routing_rules(
        &self,
        request: Request<pb::ListRoutingRulesRequest>,
    ) -> Result<Response<pb::ListRoutingRulesResponse>, Status> {
        routing_rules::list_routing_rules(self, request).await
    }

    async fn put_routing_rule(
        &self,
        request: Request<pb::PutRoutingRuleRequest>,
    ) -> Result<Response<pb::RoutingRule>, Status> {
        routing_rules::put_routing_rule(self, request).await
    }

    async fn put_calendar_year(
        &self,
        request: Request<pb::PutCalendarYearRequest>,
    ) -> Result<Response<pb::PutCalendarYearResponse>, Status> {
        calendar_years::put_calendar_year(self, request).await
    }

    async fn get_calendar(
        &self,
        request: Request<pb::GetCalendarRequest>,
    ) -> Result<Response<pb::WorkingCalendar>, Status> {
        calendar_years::get_calendar(self, request).await
    }

    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        events::serve_watch(self.core.store.events(), request, &self.core.directory)
    }
}
