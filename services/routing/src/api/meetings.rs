//! Consultation meetings (会商会): scheduled, their agenda, their decisions.

use super::*;
/// A meeting as a caller of `scope` may read it: whole within its
/// jurisdiction's scope (the city's officials read every county's); a meeting
/// above the caller's jurisdiction (the city's) shows only the agenda items of
/// the caller's own cases; any other, nothing.
pub(super) fn visible_meeting(scope: &Scope, mut meeting: Meeting) -> Option<Meeting> {
    if scope.covers_jurisdiction(&meeting.jurisdiction_code) {
        return Some(meeting);
    }
    meeting.agenda.retain(|item| {
        ids::jurisdiction_of(&item.case_id).is_some_and(|code| scope.covers_jurisdiction(code))
    });
    (!meeting.agenda.is_empty()).then_some(meeting)
}

/// The caller may change the meeting, and read it as it is now.
pub(super) fn check_meeting(scope: &Scope, meeting: &Meeting, etag: &str) -> Result<(), Error> {
    if !scope.covers_jurisdiction(&meeting.jurisdiction_code) {
        return Err(Error::PermissionDenied(format!(
            "meeting {} of {} is outside your jurisdiction",
            meeting.id, meeting.jurisdiction_code
        ))
        .zh(format!("“{}”不在您的辖区内，您无权办理", meeting.title)));
    }
    if !etag.is_empty() && etag != crate::domain::etag(meeting.version) {
        return Err(Error::Aborted(format!(
            "meeting {} changed since it was read; read it again",
            meeting.id
        ))
        .zh(format!("“{}”已被他人修改，请刷新后重试", meeting.title)));
    }
    Ok(())
}

pub(super) async fn schedule_meeting(
    api: &RoutingApi,
    request: Request<pb::ScheduleMeetingRequest>,
) -> Result<Response<pb::Meeting>, Status> {
    let principal = access::principal(&request)?.clone();
    let own = principal
        .jurisdiction
        .clone()
        .unwrap_or_else(|| api.core.city.clone());
    let directory = &api.core.directory;
    let new = convert::new_meeting(request.into_inner(), &own, |code| {
        directory.parse_known(code).map(|_| ()).map_err(Why::from)
    })?;
    if !api
        .scope(&principal)
        .covers_jurisdiction(&new.jurisdiction_code)
    {
        return Err(Error::PermissionDenied(format!(
            "meetings of {} are outside your jurisdiction",
            new.jurisdiction_code
        ))
        .zh(format!(
            "{}不在您的辖区内，您无权安排其会商会",
            api.jurisdiction_name(&new.jurisdiction_code)
        ))
        .into());
    }
    held(&api.core, "type", Some(new.meeting_type))?;
    let now = api.core.clock.now();
    let title = match (
        new.title.is_empty(),
        api.core.meetings.name(new.meeting_type),
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
    let meeting = api
        .core
        .store
        .schedule_meeting(&meeting, &new.request_id)
        .await?;
    Ok(Response::new(convert::meeting_to_proto(&meeting)))
}

pub(super) async fn add_to_agenda(
    api: &RoutingApi,
    request: Request<pb::AddToAgendaRequest>,
) -> Result<Response<pb::Meeting>, Status> {
    let principal = access::principal(&request)?.clone();
    let request = request.into_inner();
    let (meeting_id, case_id, request_id) = convert::agenda_request(&request)?;
    let etag = request.etag.trim().to_owned();
    let scope = api.scope(&principal);
    let now = api.core.clock.now();
    let meeting = api
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

pub(super) async fn record_decision(
    api: &RoutingApi,
    request: Request<pb::RecordDecisionRequest>,
) -> Result<Response<pb::Meeting>, Status> {
    let principal = access::principal(&request)?.clone();
    let decision = convert::decision_request(request.into_inner())?;
    let scope = api.scope(&principal);
    let now = api.core.clock.now();
    let core = &api.core;
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

pub(super) async fn get_meeting(
    api: &RoutingApi,
    request: Request<pb::GetMeetingRequest>,
) -> Result<Response<pb::Meeting>, Status> {
    let principal = access::principal(&request)?.clone();
    let mut v = Violations::new();
    let id = fields::id(&mut v, "id", &request.get_ref().id);
    v.finish()?;
    let not_found = || Error::NotFound(format!("meeting {id}")).zh("未找到该会商会，或您无权查看");
    let meeting = api
        .core
        .store
        .get_meeting(&id)
        .await?
        .and_then(|m| visible_meeting(&api.scope(&principal), m))
        .ok_or_else(not_found)?;
    Ok(Response::new(convert::meeting_to_proto(&meeting)))
}

pub(super) async fn list_meetings(
    api: &RoutingApi,
    request: Request<pb::ListMeetingsRequest>,
) -> Result<Response<pb::ListMeetingsResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let request = request.into_inner();
    let limit = ids::page_size(request.page_size)?;
    let scope = api.scope(&principal);
    let jurisdictions = api.visible_jurisdictions(&scope, &request.jurisdiction_code)?;
    let mut v = Violations::new();
    let filter = MeetingFilter {
        jurisdictions,
        meeting_type: fields::optional_enum(&mut v, "type", request.r#type, convert::meeting_type),
        start_from: request.start_time_after.as_ref().map(micros_of),
        start_before: request.start_time_before.as_ref().map(micros_of),
    };
    v.finish()?;
    let fingerprint = format!("{}|{filter:?}", principal.sub);
    let after = PageToken::decode(&request.page_token, &fingerprint)?;
    let meetings = api
        .core
        .store
        .list_meetings(&filter, limit, after.as_ref())
        .await?;
    let (page, next_page_token) = ids::paginate(meetings, limit, &fingerprint, |last| PageToken {
        sort_key: last.start_time,
        id: last.id.clone(),
    });
    Ok(Response::new(pb::ListMeetingsResponse {
        meetings: page.iter().map(convert::meeting_to_proto).collect(),
        next_page_token,
    }))
}
