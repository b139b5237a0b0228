//! The tonic implementation of `zhengqi.routing.v1.CaseService`: proto in,
//! proto out; the rules are in `domain`, the data in `store`. Methods not
//! built yet keep the generated `UNIMPLEMENTED` answer.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
use zhengqi_proto::zhengqi::routing::v1 as pb;
use zhengqi_proto::zhengqi::routing::v1::case_service_server::CaseService;
use zhengqi_shared::Error;
use zhengqi_shared::access::{self, GOVERNMENT, Scope};
use zhengqi_shared::auth::{Principal, Role};
use zhengqi_shared::events::{self, EventStream};
use zhengqi_shared::ids::{self, PageToken};
use zhengqi_shared::reference::{Calendar, WARN_DAYS_LEFT};

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
                        )));
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

    /// The jurisdiction a whole-ledger call is about: the requested one or the
    /// caller's own, which the caller's scope must cover.
    fn ledger_jurisdiction(&self, principal: &Principal, requested: &str) -> Result<String, Error> {
        let requested = non_empty(requested)
            .or_else(|| principal.jurisdiction.clone())
            .unwrap_or_else(|| self.core.city.clone());
        let code = self
            .core
            .directory
            .parse_known(&requested)
            .map_err(|e| Error::invalid("jurisdiction_code", e))?;
        if !self.scope(principal).covers_jurisdiction(code.as_str()) {
            return Err(Error::PermissionDenied(format!(
                "the ledger of {code} is outside your jurisdiction"
            )));
        }
        Ok(code.as_str().to_owned())
    }

    /// A department id for people: `旺苍县地方金融监督管理局`.
    fn department_name(&self, id: &str) -> String {
        match self.core.departments.parse_id(id) {
            Some((jurisdiction, kind)) => {
                let place = zhengqi_shared::reference::JurisdictionCode::parse(jurisdiction)
                    .ok()
                    .and_then(|code| self.core.directory.current_name(&code).map(str::to_owned))
                    .unwrap_or_else(|| jurisdiction.to_owned());
                format!("{place}{}", kind.name)
            }
            None => id.to_owned(),
        }
    }

    async fn readable_case(
        &self,
        principal: &Principal,
        id: &str,
    ) -> Result<crate::domain::Case, Error> {
        required("id", id)?;
        let not_found = || Error::NotFound(format!("case {id}"));
        let case = self.core.store.get_case(id).await?.ok_or_else(not_found)?;
        if self
            .scope(principal)
            .covers(&case.jurisdiction_code, &case.uscc)
        {
            return Ok(case);
        }
        // A butler sees every case of their enterprises, wherever it is handled.
        if principal.has_any(GOVERNMENT)
            && let Some(butler) = self.core.store.get_butler(&case.uscc).await?
            && butler.official == principal.sub
        {
            return Ok(case);
        }
        Err(not_found())
    }
}

/// A meeting as a caller of `scope` may read it: whole within its
/// jurisdiction's scope (the city's officials read every county's); a meeting
/// above the caller's jurisdiction (the city's) shows only the agenda items of
/// the caller's own cases; any other, nothing.
fn visible_meeting(scope: &Scope, mut meeting: Meeting) -> Option<Meeting> {
    if scope.covers_jurisdiction(&meeting.jurisdiction_code) {
        return Some(meeting);
    }
    meeting.agenda.retain(|item| {
        ids::jurisdiction_of(&item.case_id).is_some_and(|code| scope.covers_jurisdiction(code))
    });
    (!meeting.agenda.is_empty()).then_some(meeting)
}

/// The caller may change the meeting, and read it as it is now.
fn check_meeting(scope: &Scope, meeting: &Meeting, etag: &str) -> Result<(), Error> {
    if !scope.covers_jurisdiction(&meeting.jurisdiction_code) {
        return Err(Error::PermissionDenied(format!(
            "meeting {} of {} is outside your jurisdiction",
            meeting.id, meeting.jurisdiction_code
        )));
    }
    if !etag.is_empty() && etag != crate::domain::etag(meeting.version) {
        return Err(Error::Aborted(format!(
            "meeting {} changed since it was read; read it again",
            meeting.id
        )));
    }
    Ok(())
}

/// Refuses a meeting kind the city does not hold (its `meeting_kinds.toml`).
fn held(core: &Core, field: &str, meeting_type: Option<MeetingType>) -> Result<(), Error> {
    match meeting_type {
        Some(kind) if !core.meetings.holds(kind) => Err(Error::invalid(
            field,
            format!("{kind} is not one of the consultation meetings this city holds"),
        )),
        _ => Ok(()),
    }
}

/// A domain refusal as the error of the boundary.
fn refused(refusal: Refusal) -> Error {
    match refusal {
        Refusal::NotAllowed(message) => Error::PermissionDenied(message),
        Refusal::WrongState(message) => Error::FailedPrecondition(message),
        Refusal::Invalid { field, problem } => Error::invalid(field, problem),
        Refusal::Calendar(error) => Error::FailedPrecondition(error.to_string()),
    }
}

fn required(field: &str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        Err(Error::invalid(field, "must not be empty"))
    } else {
        Ok(())
    }
}

fn optional_enum<T>(
    field: &str,
    value: i32,
    convert: fn(i32) -> Option<T>,
) -> Result<Option<T>, Error> {
    if value == 0 {
        return Ok(None);
    }
    convert(value)
        .map(Some)
        .ok_or_else(|| Error::invalid(field, format!("{value} is not a known value")))
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
        let principal = access::principal(&request)?.clone();
        let case = self
            .readable_case(&principal, request.get_ref().id.trim())
            .await?;
        Ok(Response::new(convert::case_for(&principal, &case)))
    }

    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let request = request.into_inner();
        let scope = self.scope(&principal);
        let limit = ids::page_size(request.page_size)?;
        let butler = non_empty(&request.butler);
        // A butler lists their own enterprises' cases whatever the jurisdiction.
        let own_enterprises =
            butler.as_deref() == Some(principal.sub.as_str()) && principal.has_any(GOVERNMENT);
        let jurisdictions = if own_enterprises && request.jurisdiction_code.trim().is_empty() {
            None
        } else {
            self.visible_jurisdictions(&scope, &request.jurisdiction_code)?
        };
        let mut filter = CaseFilter {
            jurisdictions,
            butler,
            uscc: non_empty(&request.uscc),
            state: optional_enum("state", request.state, convert::state)?,
            level: optional_enum("level", request.level, convert::level)?,
            department_id: non_empty(&request.department_id),
            meeting_id: non_empty(&request.meeting_id),
            supervision: optional_enum("supervision", request.supervision, convert::supervision)?,
            category: optional_enum("category", request.category, convert::category)?,
            appeal_id: non_empty(&request.appeal_id),
            ..CaseFilter::default()
        };
        if let Scope::Enterprise(own) = &scope {
            match &filter.uscc {
                Some(uscc) if uscc != own => {
                    return Err(Error::PermissionDenied(
                        "an enterprise may list only its own cases".into(),
                    )
                    .into());
                }
                _ => filter.uscc = Some(own.clone()),
            }
        }
        let fingerprint = format!("{}|{filter:?}|{}", principal.sub, request.overdue_only);
        // The overdue cut-off moves with the clock, so it is not part of the fingerprint.
        filter.overdue_at = request.overdue_only.then(|| self.core.clock.now());
        let after = PageToken::decode(&request.page_token, &fingerprint)?;
        let cases = self
            .core
            .store
            .list_cases(&filter, limit, after.as_ref())
            .await?;
        let (page, next_page_token) = ids::paginate(cases, limit, &fingerprint, |last| PageToken {
            sort_key: last.create_time,
            id: last.id.clone(),
        });
        Ok(Response::new(pb::ListCasesResponse {
            cases: page
                .iter()
                .map(|case| convert::case_for(&principal, case))
                .collect(),
            next_page_token,
        }))
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
        let principal = access::principal(&request)?.clone();
        let case = self
            .readable_case(&principal, request.get_ref().id.trim())
            .await?;
        let entries = self.core.store.history(&case).await?;
        Ok(Response::new(pb::CaseHistory {
            id: case.id,
            entries: entries.iter().map(convert::entry_to_proto).collect(),
        }))
    }

    async fn verify_ledger(
        &self,
        request: Request<pb::VerifyLedgerRequest>,
    ) -> Result<Response<pb::VerifyLedgerResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let jurisdiction =
            self.ledger_jurisdiction(&principal, &request.get_ref().jurisdiction_code)?;
        let code = zhengqi_shared::reference::JurisdictionCode::parse(&jurisdiction)
            .map_err(Error::internal)?;
        let mut response = pb::VerifyLedgerResponse {
            ok: true,
            ..Default::default()
        };
        // The requested jurisdiction's own ledger first, then those below it.
        let mut codes: Vec<String> = self
            .core
            .directory
            .descendants(&code)
            .into_iter()
            .map(|c| c.as_str().to_owned())
            .filter(|c| *c != jurisdiction)
            .collect();
        codes.insert(0, jurisdiction.clone());
        for code in codes {
            let verification = self.core.store.verify_ledger(&code).await?;
            let (broken, problem) = match (&verification.broken, &verification.missing_tail) {
                (Some((entry, problem)), _) => (Some(entry), problem.clone()),
                (None, Some(problem)) => (None, problem.clone()),
                (None, None) => (None, String::new()),
            };
            let ok = problem.is_empty();
            if code == jurisdiction {
                response.head_hash = verification.head_hash.clone();
            } else if ok && verification.checked == 0 {
                continue;
            }
            if !ok && response.ok {
                response.ok = false;
                response.first_broken_entry = broken.map(convert::entry_to_proto);
                response.problem = format!("{code}：{problem}");
            }
            response.checked_entries += verification.checked;
            response.ledgers.push(pb::LedgerCheck {
                jurisdiction_code: code,
                ok,
                checked_entries: verification.checked,
                head_hash: verification.head_hash,
                problem,
            });
        }
        Ok(Response::new(response))
    }

    async fn export_ledger(
        &self,
        request: Request<pb::ExportLedgerRequest>,
    ) -> Result<Response<HttpBody>, Status> {
        /// The most rows one export carries.
        const MAX_ROWS: usize = 100_000;
        let principal = access::principal(&request)?.clone();
        let request = request.into_inner();
        let jurisdiction = self.ledger_jurisdiction(&principal, &request.jurisdiction_code)?;
        let format = match request.format {
            0 | 1 => pb::ExportFormat::Xlsx,
            2 => pb::ExportFormat::Csv,
            other => {
                return Err(
                    Error::invalid("format", format!("{other} is not a known value")).into(),
                );
            }
        };
        let code = zhengqi_shared::reference::JurisdictionCode::parse(&jurisdiction)
            .map_err(Error::internal)?;
        let filter = CaseFilter {
            jurisdictions: Some(
                self.core
                    .directory
                    .descendants(&code)
                    .into_iter()
                    .map(|c| c.as_str().to_owned())
                    .collect(),
            ),
            state: optional_enum("state", request.state, convert::state)?,
            level: optional_enum("level", request.level, convert::level)?,
            department_id: non_empty(&request.department_id),
            meeting_id: non_empty(&request.meeting_id),
            created_from: request.start_time.as_ref().map(micros_of),
            created_before: request.end_time.as_ref().map(micros_of),
            ..CaseFilter::default()
        };
        let cases = self.core.store.all_cases(&filter, MAX_ROWS).await?;
        let rows: Vec<_> = cases
            .iter()
            .map(|case| ledger_sheet::row(case, |id| self.department_name(id)))
            .collect();
        let (content_type, data) = match format {
            pb::ExportFormat::Csv => (export::CSV_CONTENT_TYPE, export::csv(&rows)),
            _ => (export::XLSX_CONTENT_TYPE, export::xlsx(&rows)?),
        };
        Ok(Response::new(HttpBody {
            content_type: content_type.to_owned(),
            data,
            extensions: Vec::new(),
        }))
    }

    async fn schedule_meeting(
        &self,
        request: Request<pb::ScheduleMeetingRequest>,
    ) -> Result<Response<pb::Meeting>, Status> {
        let principal = access::principal(&request)?.clone();
        let own = principal
            .jurisdiction
            .clone()
            .unwrap_or_else(|| self.core.city.clone());
        let directory = &self.core.directory;
        let new = convert::new_meeting(request.into_inner(), &own, |code| {
            directory
                .parse_known(code)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })?;
        if !self
            .scope(&principal)
            .covers_jurisdiction(&new.jurisdiction_code)
        {
            return Err(Error::PermissionDenied(format!(
                "meetings of {} are outside your jurisdiction",
                new.jurisdiction_code
            ))
            .into());
        }
        held(&self.core, "type", Some(new.meeting_type))?;
        let now = self.core.clock.now();
        let title = match (
            new.title.is_empty(),
            self.core.meetings.name(new.meeting_type),
        ) {
            (true, Some(name)) => name.to_owned(),
            _ => new.title,
        };
        let meeting = Meeting {
            id: ids::new_id(&new.jurisdiction_code),
            meeting_type: new.meeting_type,
            jurisdiction_code: new.jurisdiction_code,
            start_time: new.start_time,
            chair: new.chair,
            title,
            location: new.location,
            organizer: principal.sub.clone(),
            agenda: Vec::new(),
            version: 1,
            create_time: now,
            update_time: now,
        };
        let meeting = self
            .core
            .store
            .schedule_meeting(&meeting, &new.request_id)
            .await?;
        Ok(Response::new(convert::meeting_to_proto(&meeting)))
    }

    async fn add_to_agenda(
        &self,
        request: Request<pb::AddToAgendaRequest>,
    ) -> Result<Response<pb::Meeting>, Status> {
        let principal = access::principal(&request)?.clone();
        let request = request.into_inner();
        let (meeting_id, case_id, request_id) = convert::agenda_request(&request)?;
        let etag = request.etag.trim().to_owned();
        let scope = self.scope(&principal);
        let now = self.core.clock.now();
        let meeting = self
            .core
            .store
            .mutate_meeting(
                &meeting_id,
                &case_id,
                &Actor {
                    sub: principal.sub.clone(),
                },
                "AddToAgenda",
                &request_id,
                now,
                |meeting, case| {
                    check_meeting(&scope, meeting, &etag)?;
                    meeting::add_to_agenda(meeting, case, &principal.sub, now).map_err(refused)
                },
            )
            .await?;
        Ok(Response::new(convert::meeting_to_proto(&meeting)))
    }

    async fn record_decision(
        &self,
        request: Request<pb::RecordDecisionRequest>,
    ) -> Result<Response<pb::Meeting>, Status> {
        let principal = access::principal(&request)?.clone();
        let decision = convert::decision_request(request.into_inner())?;
        let scope = self.scope(&principal);
        let now = self.core.clock.now();
        let core = &self.core;
        let meeting = core
            .store
            .mutate_meeting(
                &decision.meeting_id,
                &decision.case_id,
                &Actor {
                    sub: principal.sub.clone(),
                },
                "RecordDecision",
                &decision.request_id,
                now,
                |meeting, case| {
                    check_meeting(&scope, meeting, &decision.etag)?;
                    meeting::record_decision(
                        meeting,
                        case,
                        &decision.department_id,
                        decision.deadline,
                        &decision.text,
                        &principal.sub,
                        &core.context(now, &core.calendar.current()),
                    )
                    .map_err(refused)
                },
            )
            .await?;
        Ok(Response::new(convert::meeting_to_proto(&meeting)))
    }

    async fn get_meeting(
        &self,
        request: Request<pb::GetMeetingRequest>,
    ) -> Result<Response<pb::Meeting>, Status> {
        let principal = access::principal(&request)?.clone();
        let id = request.get_ref().id.trim().to_owned();
        required("id", &id)?;
        let not_found = || Error::NotFound(format!("meeting {id}"));
        let meeting = self
            .core
            .store
            .get_meeting(&id)
            .await?
            .and_then(|m| visible_meeting(&self.scope(&principal), m))
            .ok_or_else(not_found)?;
        Ok(Response::new(convert::meeting_to_proto(&meeting)))
    }

    async fn list_meetings(
        &self,
        request: Request<pb::ListMeetingsRequest>,
    ) -> Result<Response<pb::ListMeetingsResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let request = request.into_inner();
        let limit = ids::page_size(request.page_size)?;
        let scope = self.scope(&principal);
        let jurisdictions = self.visible_jurisdictions(&scope, &request.jurisdiction_code)?;
        let filter = MeetingFilter {
            jurisdictions,
            meeting_type: optional_enum("type", request.r#type, convert::meeting_type)?,
            start_from: request.start_time_after.as_ref().map(micros_of),
            start_before: request.start_time_before.as_ref().map(micros_of),
        };
        let fingerprint = format!("{}|{filter:?}", principal.sub);
        let after = PageToken::decode(&request.page_token, &fingerprint)?;
        let meetings = self
            .core
            .store
            .list_meetings(&filter, limit, after.as_ref())
            .await?;
        let (page, next_page_token) =
            ids::paginate(meetings, limit, &fingerprint, |last| PageToken {
                sort_key: last.start_time,
                id: last.id.clone(),
            });
        Ok(Response::new(pb::ListMeetingsResponse {
            meetings: page.iter().map(convert::meeting_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn assign_butler(
        &self,
        request: Request<pb::AssignButlerRequest>,
    ) -> Result<Response<pb::Butler>, Status> {
        let principal = access::principal(&request)?.clone();
        let request = convert::butler_request(request.into_inner())?;
        let store = &self.core.store;
        let existing = store.get_butler(&request.uscc).await?;
        let latest = store.latest_case_of(&request.uscc).await?;
        // The enterprise belongs where it is registered (else where its
        // appeals go): the stored owner, never a jurisdiction the request names.
        let owner = match store.enterprise_jurisdiction(&request.uscc).await? {
            Some(code) => code,
            None => latest
                .as_ref()
                .map(|c| c.jurisdiction_code.clone())
                .ok_or_else(|| {
                    Error::NotFound(format!(
                        "企业 {}（enterprise {0}, neither registered nor with an appeal）",
                        request.uscc
                    ))
                })?,
        };
        let directory = &self.core.directory;
        let owner = directory
            .parse_known(&owner)
            .map_err(|e| Error::internal(format!("stored jurisdiction {owner}: {e}")))?;
        let scope = self.scope(&principal);
        if !scope.covers_jurisdiction(owner.as_str()) {
            return Err(Error::PermissionDenied(format!(
                "企业 {} 属于 {owner}，不在您的辖区（the enterprise is outside your jurisdiction）",
                request.uscc
            ))
            .into());
        }
        // The official serves where asked — the enterprise's own jurisdiction
        // or one above it (a city butler of a county's key project) — else
        // where the butler served before, else where the enterprise is.
        let serving = non_empty(&request.jurisdiction_code)
            .or_else(|| existing.as_ref().map(|b| b.jurisdiction_code.clone()))
            .unwrap_or_else(|| owner.as_str().to_owned());
        let code = directory
            .parse_known(&serving)
            .map_err(|e| Error::invalid("jurisdiction_code", e))?;
        if !directory.covers(&code, &owner) || !scope.covers_jurisdiction(code.as_str()) {
            return Err(Error::invalid(
                "jurisdiction_code",
                format!(
                    "管家须在企业所在辖区 {owner} 或其上级、且在您的辖区内任职（the butler serves in {owner} or above it, within your jurisdiction）"
                ),
            )
            .into());
        }
        if let Some(current) = &existing
            && !request.etag.is_empty()
            && request.etag != crate::domain::etag(current.version)
        {
            return Err(Error::Aborted(format!(
                "the butler of {} changed since it was read; read it again",
                request.uscc
            ))
            .into());
        }
        let now = self.core.clock.now();
        let enterprise_name = latest
            .as_ref()
            .map(|c| c.enterprise_name.clone())
            .or_else(|| existing.as_ref().map(|b| b.enterprise_name.clone()))
            .unwrap_or_default();
        let butler = Butler {
            uscc: request.uscc.clone(),
            enterprise_name,
            jurisdiction_code: code.as_str().to_owned(),
            official: request.official.clone(),
            official_name: request.official_name.clone(),
            official_phone: request.official_phone.clone(),
            kind: request.kind,
            version: existing.as_ref().map_or(1, |b| b.version + 1),
            create_time: existing.as_ref().map_or(now, |b| b.create_time),
            update_time: now,
        };
        let previous = existing
            .as_ref()
            .map(|b| b.official.clone())
            .unwrap_or_default();
        let butler = store
            .assign_butler(
                &butler,
                existing.as_ref().map(|b| b.version),
                &previous,
                &Actor {
                    sub: principal.sub.clone(),
                },
                &request.request_id,
            )
            .await?;
        Ok(Response::new(convert::butler_to_proto(&butler)))
    }

    async fn list_butlers(
        &self,
        request: Request<pb::ListButlersRequest>,
    ) -> Result<Response<pb::ListButlersResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let request = request.into_inner();
        let scope = self.scope(&principal);
        let official = non_empty(&request.official);
        // An official may always list their own enterprises.
        let jurisdictions = if official.as_deref() == Some(principal.sub.as_str())
            && request.jurisdiction_code.trim().is_empty()
        {
            None
        } else {
            self.visible_jurisdictions(&scope, &request.jurisdiction_code)?
        };
        let uscc = non_empty(&request.uscc);
        let limit = ids::page_size(request.page_size)?;
        let fingerprint = format!("{}|{jurisdictions:?}|{official:?}|{uscc:?}", principal.sub);
        let after = PageToken::decode(&request.page_token, &fingerprint)?;
        let butlers = self
            .core
            .store
            .list_butlers(
                jurisdictions.as_deref(),
                official.as_deref(),
                uscc.as_deref(),
                limit + 1,
                after.as_ref(),
            )
            .await?;
        let (page, next_page_token) =
            ids::paginate(butlers, limit, &fingerprint, |last| PageToken {
                sort_key: 0,
                id: last.uscc.clone(),
            });
        Ok(Response::new(pb::ListButlersResponse {
            butlers: page.iter().map(convert::butler_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn list_routing_rules(
        &self,
        request: Request<pb::ListRoutingRulesRequest>,
    ) -> Result<Response<pb::ListRoutingRulesResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let request = request.into_inner();
        let requested = non_empty(&request.jurisdiction_code)
            .or_else(|| principal.jurisdiction.clone())
            .unwrap_or_else(|| self.core.city.clone());
        let code = self
            .core
            .directory
            .parse_known(&requested)
            .map_err(|e| Error::invalid("jurisdiction_code", e))?;
        // The rules that route the jurisdiction's cases: its own and those above it.
        let jurisdictions = self.core.ancestry(code.as_str());
        let limit = ids::page_size(request.page_size)?;
        let category = optional_enum("category", request.category, convert::category)?;
        let fingerprint = format!(
            "{}|{}|{}|{}",
            principal.sub, code, request.category, request.show_disabled
        );
        let after = PageToken::decode(&request.page_token, &fingerprint)?;
        let rules = self
            .core
            .store
            .list_rules(
                &jurisdictions,
                category,
                request.show_disabled,
                limit + 1,
                after.as_ref(),
            )
            .await?;
        let (page, next_page_token) = ids::paginate(rules, limit, &fingerprint, |last| PageToken {
            sort_key: 0,
            id: last.id.clone(),
        });
        Ok(Response::new(pb::ListRoutingRulesResponse {
            routing_rules: page.iter().map(convert::rule_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn put_routing_rule(
        &self,
        request: Request<pb::PutRoutingRuleRequest>,
    ) -> Result<Response<pb::RoutingRule>, Status> {
        let principal = access::principal(&request)?.clone();
        let request = request.into_inner();
        let directory = &self.core.directory;
        let mut rule = convert::rule(request.routing_rule, |code| {
            directory
                .parse_known(code)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })?;
        held(&self.core, "routing_rule.meeting_type", rule.meeting_type)?;
        if !rule.department_id.is_empty()
            && self
                .core
                .departments
                .parse_id(&rule.department_id)
                .is_none()
        {
            return Err(Error::invalid(
                "routing_rule.department_id",
                format!("{} is not a known department", rule.department_id),
            )
            .into());
        }
        if !self
            .scope(&principal)
            .covers_jurisdiction(&rule.jurisdiction_code)
        {
            return Err(Error::PermissionDenied(format!(
                "the routing rules of {} are outside your jurisdiction",
                rule.jurisdiction_code
            ))
            .into());
        }
        let now = self.core.clock.now();
        let existing = match rule.id.as_str() {
            "" => None,
            id => self.core.store.get_rule(id).await?,
        };
        let etag = request.etag.trim();
        let expected = match &existing {
            Some(current) => {
                if current.jurisdiction_code != rule.jurisdiction_code {
                    return Err(Error::invalid(
                        "routing_rule.jurisdiction_code",
                        format!(
                            "rule {} belongs to {}; a rule does not move",
                            current.id, current.jurisdiction_code
                        ),
                    )
                    .into());
                }
                if !etag.is_empty() && etag != crate::domain::etag(current.version) {
                    return Err(Error::Aborted(format!(
                        "routing rule {} changed since it was read; read it again",
                        current.id
                    ))
                    .into());
                }
                rule.version = current.version + 1;
                Some(current.version)
            }
            None => {
                if rule.id.is_empty() {
                    rule.id = ids::new_id(&rule.jurisdiction_code);
                } else if ids::jurisdiction_of(&rule.id) != Some(rule.jurisdiction_code.as_str()) {
                    return Err(Error::invalid(
                        "routing_rule.id",
                        format!(
                            "must start with the rule's jurisdiction {}- or be empty",
                            rule.jurisdiction_code
                        ),
                    )
                    .into());
                }
                rule.version = 1;
                None
            }
        };
        rule.update_time = now;
        rule.updated_by = principal.sub.clone();
        let rule = self.core.store.put_rule(&rule, expected).await?;
        self.core.rules_changed();
        Ok(Response::new(convert::rule_to_proto(&rule)))
    }

    async fn put_calendar_year(
        &self,
        request: Request<pb::PutCalendarYearRequest>,
    ) -> Result<Response<pb::PutCalendarYearResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        // The calendar is the whole deployment's: its city's admin loads it.
        if !principal.has_role(Role::Admin)
            || principal.jurisdiction.as_deref() != Some(self.core.city.as_str())
        {
            return Err(Error::PermissionDenied(format!(
                "载入工作日历须由本市（{}）的管理员（admin）操作",
                self.core.city
            ))
            .into());
        }
        let request = request.into_inner();
        if request.content.trim().is_empty() {
            return Err(Error::invalid(
                "content",
                "日历文件为空：请提供该年国务院节假日安排的TOML文件内容",
            )
            .into());
        }
        let calendar = self.core.calendar.current();
        let next = calendar
            .with_year_toml(&request.content)
            .map_err(|e| Error::invalid("content", e))?;
        let (year, source) = Calendar::check_year_toml(&request.content)
            .map_err(|e| Error::invalid("content", e))?;
        let now = self.core.clock.now();
        let loaded = LoadedYear {
            year,
            source: source.unwrap_or_default(),
            content: request.content,
            loaded_by: principal.sub.clone(),
            load_time: now,
        };
        let recounted = self
            .core
            .store
            .put_calendar_year(&loaded, &next, &self.core.city, request.request_id.trim())
            .await?;
        // Every task of this part sees the year from now on; cases opened
        // meanwhile on the calendar before are counted again.
        self.core
            .calendar
            .load_year_toml(&loaded.content)
            .map_err(|e| Error::invalid("content", e))?;
        let late = self
            .core
            .store
            .recount_deadlines(&self.core.calendar.current(), Some(year), now)
            .await?;
        self.core.calendar.report_days_left("routing", now);
        tracing::info!(
            year,
            by = %principal.sub,
            recounted = recounted + late,
            "a working-day calendar year was loaded"
        );
        Ok(Response::new(pb::PutCalendarYearResponse {
            calendar_year: Some(convert::calendar_year_to_proto(&loaded, true)),
            recounted_cases: (recounted + late) as i32,
        }))
    }

    async fn get_calendar(
        &self,
        request: Request<pb::GetCalendarRequest>,
    ) -> Result<Response<pb::WorkingCalendar>, Status> {
        access::principal(&request)?;
        let calendar = self.core.calendar.current();
        let loaded = self.core.store.calendar_years().await?;
        let years = calendar
            .loaded_years()
            .into_iter()
            .map(|year| {
                let stored = loaded.iter().find(|y| y.year == year);
                let shown = stored.cloned().unwrap_or_else(|| LoadedYear {
                    year,
                    source: calendar.source(year).unwrap_or_default().to_owned(),
                    content: String::new(),
                    loaded_by: String::new(),
                    load_time: 0,
                });
                convert::calendar_year_to_proto(&shown, false)
            })
            .collect();
        let today = zhengqi_shared::clock::beijing_date(self.core.clock.now());
        let days_left = calendar.days_left(today).unwrap_or_default();
        Ok(Response::new(pb::WorkingCalendar {
            years,
            last_loaded_day: calendar
                .last_loaded_day()
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            days_left: days_left.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            next_year_due: days_left <= WARN_DAYS_LEFT,
        }))
    }

    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        events::serve_watch(self.core.store.events(), request, &self.core.directory)
    }
}
