//! The one place where routing's protobuf messages and domain types meet.
//! Requests are parsed here, at the edge, and every bad field is named.

use zhengqi_proto::zhengqi::common::v1 as common;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::routing::v1 as pb;
pub use zhengqi_shared::appeal::{
    category, category_to_proto, channel, channel_to_proto, kind, kind_to_proto, tag, tag_to_proto,
};
use zhengqi_shared::auth::Principal;
use zhengqi_shared::fields::{self, Problem};
use zhengqi_shared::personal;
use zhengqi_shared::storage::{micros_of, timestamp};
use zhengqi_shared::{Error, Violations, Why, proto_enum_conversions};

use crate::domain::ledger::Entry;
use crate::domain::machine::{Command, NewCase, Transition};
use crate::domain::meeting::{AgendaItem, Decision, Meeting};
use crate::domain::rules::Rule;
use crate::domain::{
    self, AppealKind, Butler, ButlerKind, Case, CaseAction, CaseState, Category, Channel,
    Extension, ExtensionState, Level, LoadedYear, MeetingType, Outcome, Supervision,
};

proto_enum_conversions!(
    CaseState,
    pb::CaseState,
    "CASE_STATE_",
    state,
    state_to_proto
);
proto_enum_conversions!(Level, pb::Level, "LEVEL_", level, level_to_proto);
proto_enum_conversions!(Outcome, pb::Outcome, "OUTCOME_", outcome, outcome_to_proto);
proto_enum_conversions!(
    Supervision,
    pb::Supervision,
    "SUPERVISION_",
    supervision,
    supervision_to_proto
);
proto_enum_conversions!(
    MeetingType,
    pb::MeetingType,
    "MEETING_TYPE_",
    meeting_type,
    meeting_type_to_proto
);
proto_enum_conversions!(
    ExtensionState,
    pb::ExtensionState,
    "EXTENSION_STATE_",
    extension_state,
    extension_state_to_proto
);
proto_enum_conversions!(
    CaseAction,
    pb::CaseAction,
    "CASE_ACTION_",
    action,
    action_to_proto
);
proto_enum_conversions!(
    ButlerKind,
    pb::ButlerKind,
    "BUTLER_KIND_",
    butler_kind,
    butler_kind_to_proto
);

fn optional_time(micros: Option<i64>) -> Option<prost_types::Timestamp> {
    micros.map(timestamp)
}

/// A case as `principal` may read it: the contact in full only to those
/// handling it (`zhengqi_shared::personal`).
pub fn case_for(principal: &Principal, case: &Case) -> pb::Case {
    let mut shown = case_to_proto(case);
    let sight = personal::sight(principal, &case.uscc, &case.department_id);
    (shown.contact_name, shown.contact_phone) =
        personal::contact(&case.contact_name, &case.contact_phone, sight);
    shown
}

pub fn case_to_proto(case: &Case) -> pb::Case {
    pb::Case {
        id: case.id.clone(),
        number: case.number.clone(),
        appeal_id: case.appeal_id.clone(),
        enterprise: Some(common::EnterpriseRef {
            uscc: case.uscc.clone(),
            name: case.enterprise_name.clone(),
        }),
        jurisdiction_code: case.jurisdiction_code.clone(),
        level: level_to_proto(case.level),
        department_id: case.department_id.clone(),
        state: state_to_proto(case.state),
        category: category_to_proto(case.category),
        title: case.title.clone(),
        deadline: optional_time(case.deadline),
        supervision: supervision_to_proto(case.supervision),
        outcome: case.outcome.map_or(0, outcome_to_proto),
        resolution: case.resolution.clone(),
        meeting_id: case.meeting_id.clone(),
        etag: case.etag(),
        create_time: Some(timestamp(case.create_time)),
        update_time: Some(timestamp(case.update_time)),
        kind: kind_to_proto(case.kind),
        channel: channel_to_proto(case.channel),
        description: case.description.clone(),
        enterprise_tags: case
            .enterprise_tags
            .iter()
            .map(|t| tag_to_proto(*t))
            .collect(),
        contact_name: case.contact_name.clone(),
        contact_phone: case.contact_phone.clone(),
        time_limit_working_days: case.time_limit_days as i32,
        reject_reason: case.reject_reason.clone(),
        returns_count: case.returns_count as i32,
        return_reason: case.return_reason.clone(),
        reopen_count: case.reopen_count as i32,
        escalation_reason: case.escalation_reason.clone(),
        meeting_type: case.meeting_type.map_or(0, meeting_type_to_proto),
        extension: case.extension.as_ref().map(extension_to_proto),
        info_question: case.info_question.clone(),
        info_answer: case.info_answer.clone(),
        pause_time: optional_time(case.pause_time),
        paused_state: case.paused_state.map_or(0, state_to_proto),
        butler: case.butler.clone(),
        claimed_by: case.claimed_by.clone(),
        resolve_time: optional_time(case.resolve_time),
        close_time: optional_time(case.close_time),
        personal_data_erase_time: optional_time(case.personal_data_erase_time),
        duplicate_appeal_ids: case.duplicate_appeal_ids.clone(),
        deadline_provisional: case.deadline_provisional,
    }
}

/// A loaded calendar year as the API shows it; `with_content` includes the file.
pub fn calendar_year_to_proto(year: &LoadedYear, with_content: bool) -> pb::CalendarYear {
    pb::CalendarYear {
        year: year.year,
        source: year.source.clone(),
        content: if with_content {
            year.content.clone()
        } else {
            String::new()
        },
        embedded: year.loaded_by.is_empty(),
        loaded_by: year.loaded_by.clone(),
        load_time: (year.load_time != 0).then(|| timestamp(year.load_time)),
    }
}

/// The event of a loaded calendar year, with the file, so followers load it too.
pub fn calendar_year_loaded(year: &LoadedYear) -> pb::CalendarYearLoaded {
    pb::CalendarYearLoaded {
        calendar_year: Some(calendar_year_to_proto(year, true)),
    }
}

fn extension_to_proto(extension: &Extension) -> pb::Extension {
    pb::Extension {
        state: extension_state_to_proto(extension.state),
        working_days: extension.working_days as i32,
        reason: extension.reason.clone(),
        requested_by: extension.requested_by.clone(),
        request_time: Some(timestamp(extension.request_time)),
        decided_by: extension.decided_by.clone(),
        decide_time: optional_time(extension.decide_time),
        decision_note: extension.decision_note.clone(),
    }
}

pub fn entry_to_proto(entry: &Entry) -> pb::CaseHistoryEntry {
    pb::CaseHistoryEntry {
        sequence: entry.sequence,
        case_id: entry.case_id.clone(),
        action: action_to_proto(entry.action),
        from_state: state_to_proto(entry.from_state),
        to_state: state_to_proto(entry.to_state),
        actor: entry.actor.clone(),
        actor_role: entry.actor_role.clone(),
        create_time: Some(timestamp(entry.create_time)),
        note: entry.note.clone(),
        level: level_to_proto(entry.level),
        department_id: entry.department_id.clone(),
        previous_hash: entry.previous_hash.clone(),
        entry_hash: entry.entry_hash.clone(),
    }
}

pub fn case_opened(case: &Case) -> pb::CaseOpened {
    pb::CaseOpened {
        case: Some(case_to_proto(case)),
        routing_rule_id: case.routing_rule_id.clone(),
    }
}

pub fn case_transitioned(
    case: &Case,
    transition: &Transition,
    actor: &str,
    entry: &Entry,
) -> pb::CaseTransitioned {
    pb::CaseTransitioned {
        case: Some(case_to_proto(case)),
        from_state: state_to_proto(transition.from),
        to_state: state_to_proto(transition.to),
        action: action_to_proto(transition.action),
        actor: actor.to_owned(),
        note: transition.note.clone(),
        entry_hash: entry.entry_hash.clone(),
        department_id: transition.acting_department.clone(),
        actor_role: transition.actor_role.clone(),
        ledger_sequence: entry.sequence,
    }
}

pub fn case_escalated(case: &Case, from: Level, actor: &str) -> pb::CaseEscalated {
    pb::CaseEscalated {
        case: Some(case_to_proto(case)),
        from_level: level_to_proto(from),
        to_level: level_to_proto(case.level),
        meeting_type: case.meeting_type.map_or(0, meeting_type_to_proto),
        reason: case.escalation_reason.clone(),
        actor: actor.to_owned(),
    }
}

pub fn supervision_changed(case: &Case, from: Supervision) -> pb::SupervisionChanged {
    pb::SupervisionChanged {
        case: Some(case_to_proto(case)),
        from_supervision: supervision_to_proto(from),
        to_supervision: supervision_to_proto(case.supervision),
    }
}

pub fn rule_to_proto(rule: &Rule) -> pb::RoutingRule {
    pb::RoutingRule {
        id: rule.id.clone(),
        jurisdiction_code: rule.jurisdiction_code.clone(),
        category: rule.category.map_or(0, category_to_proto),
        channel: rule.channel.map_or(0, channel_to_proto),
        enterprise_tag: rule.enterprise_tag.map_or(0, tag_to_proto),
        kind: rule.kind.map_or(0, kind_to_proto),
        level: level_to_proto(rule.level),
        department_id: rule.department_id.clone(),
        time_limit_working_days: rule.time_limit_days as i32,
        priority: rule.priority,
        description: rule.description.clone(),
        disabled: rule.disabled,
        etag: domain::etag(rule.version),
        update_time: Some(timestamp(rule.update_time)),
        updated_by: rule.updated_by.clone(),
        meeting_type: rule.meeting_type.map_or(0, meeting_type_to_proto),
    }
}

pub fn rule_changed(rule: &Rule) -> pb::RoutingRuleChanged {
    pb::RoutingRuleChanged {
        routing_rule: Some(rule_to_proto(rule)),
    }
}

pub fn decision_to_proto(case_id: &str, decision: &Decision) -> pb::MeetingDecision {
    pb::MeetingDecision {
        case_id: case_id.to_owned(),
        department_id: decision.department_id.clone(),
        deadline: Some(timestamp(decision.deadline)),
        decision: decision.text.clone(),
        recorded_by: decision.recorded_by.clone(),
        record_time: Some(timestamp(decision.record_time)),
    }
}

fn agenda_item_to_proto(item: &AgendaItem) -> pb::AgendaItem {
    pb::AgendaItem {
        case_id: item.case_id.clone(),
        case_number: item.case_number.clone(),
        title: item.title.clone(),
        enterprise: Some(common::EnterpriseRef {
            uscc: item.uscc.clone(),
            name: item.enterprise_name.clone(),
        }),
        add_time: Some(timestamp(item.add_time)),
        added_by: item.added_by.clone(),
        decision: item
            .decision
            .as_ref()
            .map(|d| decision_to_proto(&item.case_id, d)),
    }
}

pub fn meeting_to_proto(meeting: &Meeting) -> pb::Meeting {
    pb::Meeting {
        id: meeting.id.clone(),
        r#type: meeting_type_to_proto(meeting.meeting_type),
        jurisdiction_code: meeting.jurisdiction_code.clone(),
        start_time: Some(timestamp(meeting.start_time)),
        chair: meeting.chair.clone(),
        title: meeting.title.clone(),
        location: meeting.location.clone(),
        agenda: meeting.agenda.iter().map(agenda_item_to_proto).collect(),
        etag: domain::etag(meeting.version),
        create_time: Some(timestamp(meeting.create_time)),
        update_time: Some(timestamp(meeting.update_time)),
        organizer: meeting.organizer.clone(),
    }
}

pub fn meeting_scheduled(meeting: &Meeting) -> pb::MeetingScheduled {
    pb::MeetingScheduled {
        meeting: Some(meeting_to_proto(meeting)),
    }
}

pub fn added_to_agenda(meeting: &Meeting, case_id: &str) -> pb::CaseAddedToAgenda {
    pb::CaseAddedToAgenda {
        meeting: Some(meeting_to_proto(meeting)),
        case_id: case_id.to_owned(),
    }
}

pub fn decision_recorded(
    meeting: &Meeting,
    case_id: &str,
    decision: &Decision,
) -> pb::MeetingDecisionRecorded {
    pb::MeetingDecisionRecorded {
        meeting: Some(meeting_to_proto(meeting)),
        decision: Some(decision_to_proto(case_id, decision)),
    }
}

/// A meeting to schedule, parsed; `jurisdiction_known` checks the code.
pub struct NewMeeting {
    pub request_id: String,
    pub meeting_type: MeetingType,
    pub jurisdiction_code: String,
    pub start_time: i64,
    pub chair: String,
    pub title: String,
    pub location: String,
}

pub fn new_meeting(
    r: pb::ScheduleMeetingRequest,
    default_jurisdiction: &str,
    jurisdiction_known: impl Fn(&str) -> Result<(), Why>,
) -> Result<NewMeeting, Error> {
    let mut v = Violations::new();
    let request_id = fields::request_id(&mut v, &r.request_id);
    let meeting_type = meeting_type(r.r#type);
    if meeting_type.is_none() {
        v.add(
            "type",
            Why::new("must name one of the six meetings", "须选择六类会商会之一"),
        );
    }
    let jurisdiction_code = match r.jurisdiction_code.trim() {
        "" => default_jurisdiction.to_owned(),
        code => code.to_owned(),
    };
    if let Err(problem) = jurisdiction_known(&jurisdiction_code) {
        v.add("jurisdiction_code", problem);
    }
    let start_time = r.start_time.as_ref().map(micros_of);
    if start_time.is_none() {
        v.add("start_time", Why::new("must be set", "须填写会议时间"));
    }
    let chair = text(&mut v, "chair", &r.chair, true);
    let title = text(&mut v, "title", &r.title, false);
    let location = text(&mut v, "location", &r.location, false);
    v.finish()?;
    match (meeting_type, start_time) {
        (Some(meeting_type), Some(start_time)) => Ok(NewMeeting {
            request_id,
            meeting_type,
            jurisdiction_code,
            start_time,
            chair,
            title,
            location,
        }),
        _ => Err(Error::internal("a field failed without a violation")),
    }
}

/// The parts of `RecordDecision` that are the request's own.
pub struct DecisionRequest {
    pub meeting_id: String,
    pub case_id: String,
    pub etag: String,
    pub request_id: String,
    pub department_id: String,
    pub deadline: i64,
    pub text: String,
}

pub fn decision_request(r: pb::RecordDecisionRequest) -> Result<DecisionRequest, Error> {
    let mut v = Violations::new();
    let meeting_id = fields::id(&mut v, "meeting_id", &r.meeting_id);
    let case_id = fields::id(&mut v, "case_id", &r.case_id);
    let request_id = fields::request_id(&mut v, &r.request_id);
    let department_id = fields::id(&mut v, "department_id", &r.department_id);
    let deadline = r.deadline.as_ref().map(micros_of);
    if deadline.is_none() {
        v.add("deadline", Why::new("must be set", "须填写办理期限"));
    }
    let text = text(&mut v, "decision", &r.decision, true);
    v.finish()?;
    Ok(DecisionRequest {
        meeting_id,
        case_id,
        etag: r.etag.trim().to_owned(),
        request_id,
        department_id,
        deadline: deadline.unwrap_or_default(),
        text,
    })
}

/// `AddToAgenda`'s ids, checked.
pub fn agenda_request(r: &pb::AddToAgendaRequest) -> Result<(String, String, String), Error> {
    let mut v = Violations::new();
    let meeting_id = fields::id(&mut v, "meeting_id", &r.meeting_id);
    let case_id = fields::id(&mut v, "case_id", &r.case_id);
    let request_id = fields::request_id(&mut v, &r.request_id);
    v.finish()?;
    Ok((meeting_id, case_id, request_id))
}

pub fn butler_to_proto(butler: &Butler) -> pb::Butler {
    pb::Butler {
        uscc: butler.uscc.clone(),
        enterprise_name: butler.enterprise_name.clone(),
        jurisdiction_code: butler.jurisdiction_code.clone(),
        official: butler.official.clone(),
        official_name: butler.official_name.clone(),
        official_phone: butler.official_phone.clone(),
        kind: butler_kind_to_proto(butler.kind),
        etag: domain::etag(butler.version),
        create_time: Some(timestamp(butler.create_time)),
        update_time: Some(timestamp(butler.update_time)),
    }
}

pub fn butler_assigned(butler: &Butler, previous: &str) -> pb::ButlerAssigned {
    pb::ButlerAssigned {
        butler: Some(butler_to_proto(butler)),
        previous_official: previous.to_owned(),
    }
}

/// An `AssignButlerRequest`, parsed.
pub struct ButlerRequest {
    pub uscc: String,
    pub official: String,
    pub etag: String,
    pub request_id: String,
    pub official_name: String,
    pub official_phone: String,
    pub kind: ButlerKind,
    pub jurisdiction_code: String,
}

pub fn butler_request(r: pb::AssignButlerRequest) -> Result<ButlerRequest, Error> {
    let mut v = Violations::new();
    let uscc = if r.uscc.trim().is_empty() {
        v.add("uscc", Problem::Missing);
        String::new()
    } else {
        v.check("uscc", zhengqi_shared::reference::Uscc::parse(&r.uscc))
            .map(|u| u.as_str().to_owned())
            .unwrap_or_default()
    };
    let official = fields::id(&mut v, "official", &r.official);
    let request_id = fields::request_id(&mut v, &r.request_id);
    let official_name = text(&mut v, "official_name", &r.official_name, false);
    let official_phone = text(&mut v, "official_phone", &r.official_phone, false);
    let kind = fields::optional_enum(&mut v, "kind", r.kind, butler_kind)
        .unwrap_or(ButlerKind::ShopAssistant);
    v.finish()?;
    Ok(ButlerRequest {
        uscc,
        official,
        etag: r.etag.trim().to_owned(),
        request_id,
        official_name,
        official_phone,
        kind,
        jurisdiction_code: r.jurisdiction_code.trim().to_owned(),
    })
}

/// What a case needs of intake's `AppealRegistered`.
pub fn new_case(appeal: &intake::Appeal, enterprise: Option<&intake::Enterprise>) -> NewCase {
    let tags = enterprise
        .map(|e| e.tags.iter().filter_map(|t| tag(*t)).collect())
        .unwrap_or_default();
    let (uscc, name) = appeal
        .enterprise
        .as_ref()
        .map(|e| (e.uscc.clone(), e.name.clone()))
        .unwrap_or_default();
    NewCase {
        appeal_id: appeal.id.clone(),
        number: appeal.number.clone(),
        uscc,
        enterprise_name: name,
        jurisdiction_code: appeal.jurisdiction_code.clone(),
        // Intake refuses appeals without these; OTHER and the like only guard
        // against an event written by a newer intake with values unknown here.
        category: category(appeal.category).unwrap_or(Category::Other),
        kind: kind(appeal.kind).unwrap_or(AppealKind::HelpRequest),
        channel: channel(appeal.channel).unwrap_or(Channel::OnlinePortal),
        title: appeal.title.clone(),
        description: appeal.description.clone(),
        enterprise_tags: tags,
        contact_name: appeal.contact_name.clone(),
        contact_phone: appeal.contact_phone.clone(),
        accept_time: appeal.create_time.as_ref().map_or(0, micros_of),
    }
}

/// The parts every mutation of a case shares.
#[derive(Debug, Clone)]
pub struct Mutation {
    pub id: String,
    pub etag: String,
    pub request_id: String,
    pub command: Command,
}

/// A reason, note, question, answer or resolution: at most
/// [`domain::TEXT_MAX_CHARS`] characters, required or not.
fn text(v: &mut Violations, field: &str, value: &str, required: bool) -> String {
    fields::text_if(v, field, value, domain::TEXT_MAX_CHARS, required)
}

fn mutation(
    mut v: Violations,
    case_id: &str,
    etag: &str,
    request: &str,
    command: impl FnOnce(&mut Violations) -> Option<Command>,
) -> Result<Mutation, Error> {
    let id = fields::id(&mut v, "id", case_id);
    let request_id = fields::request_id(&mut v, request);
    let command = command(&mut v);
    v.finish()?;
    let command = command.ok_or_else(|| Error::internal("a field failed without a violation"))?;
    Ok(Mutation {
        id,
        etag: etag.trim().to_owned(),
        request_id,
        command,
    })
}

pub fn accept(r: pb::AcceptCaseRequest) -> Result<Mutation, Error> {
    mutation(Violations::new(), &r.id, &r.etag, &r.request_id, |v| {
        Some(Command::Accept {
            note: text(v, "note", &r.note, false),
        })
    })
}

pub fn reject(r: pb::RejectCaseRequest) -> Result<Mutation, Error> {
    mutation(Violations::new(), &r.id, &r.etag, &r.request_id, |v| {
        Some(Command::Reject {
            reason: text(v, "reason", &r.reason, true),
        })
    })
}

pub fn assign(r: pb::AssignCaseRequest) -> Result<Mutation, Error> {
    mutation(Violations::new(), &r.id, &r.etag, &r.request_id, |v| {
        Some(Command::Assign {
            department_id: fields::id(v, "department_id", &r.department_id),
            note: text(v, "note", &r.note, false),
        })
    })
}

pub fn claim(r: pb::ClaimCaseRequest) -> Result<Mutation, Error> {
    mutation(Violations::new(), &r.id, &r.etag, &r.request_id, |v| {
        Some(Command::Claim {
            note: text(v, "note", &r.note, false),
        })
    })
}

pub fn add_progress(r: pb::AddProgressRequest) -> Result<Mutation, Error> {
    mutation(Violations::new(), &r.id, &r.etag, &r.request_id, |v| {
        Some(Command::AddProgress {
            note: text(v, "note", &r.note, true),
        })
    })
}

pub fn resolve(r: pb::ResolveCaseRequest) -> Result<Mutation, Error> {
    mutation(Violations::new(), &r.id, &r.etag, &r.request_id, |v| {
        let outcome = fields::required_enum(v, "outcome", r.outcome, outcome);
        let resolution = text(v, "resolution", &r.resolution, true);
        outcome.map(|outcome| Command::Resolve {
            outcome,
            resolution,
        })
    })
}

pub fn reopen(r: pb::ReopenCaseRequest) -> Result<Mutation, Error> {
    mutation(Violations::new(), &r.id, &r.etag, &r.request_id, |v| {
        Some(Command::Reopen {
            reason: text(v, "reason", &r.reason, true),
        })
    })
}

pub fn close(r: pb::CloseCaseRequest) -> Result<Mutation, Error> {
    mutation(Violations::new(), &r.id, &r.etag, &r.request_id, |v| {
        Some(Command::Close {
            note: text(v, "note", &r.note, false),
        })
    })
}

pub fn escalate(r: pb::EscalateCaseRequest) -> Result<Mutation, Error> {
    mutation(Violations::new(), &r.id, &r.etag, &r.request_id, |v| {
        let target = level(r.target);
        match target {
            Some(Level::City | Level::Meeting) => {}
            _ => v.add(
                "target",
                Why::new("must be CITY or MEETING", "只能升级到市级或会商"),
            ),
        }
        let meeting_type = meeting_type(r.meeting_type);
        if target == Some(Level::Meeting) && meeting_type.is_none() {
            v.add(
                "meeting_type",
                Why::new(
                    "must name one of the six meetings when target is MEETING",
                    "升级到会商时须选择六类会商会之一",
                ),
            );
        }
        let reason = text(v, "reason", &r.reason, true);
        target.map(|target| Command::Escalate {
            target,
            meeting_type,
            reason,
            department_id: r.department_id.trim().to_owned(),
        })
    })
}

pub fn request_extension(r: pb::RequestExtensionRequest) -> Result<Mutation, Error> {
    mutation(Violations::new(), &r.id, &r.etag, &r.request_id, |v| {
        if r.working_days < 1 || r.working_days as u32 > domain::EXTENSION_MAX_DAYS {
            v.add(
                "working_days",
                Why::new(
                    format!("must be 1 to {}", domain::EXTENSION_MAX_DAYS),
                    format!("延期天数须为1至{}个工作日", domain::EXTENSION_MAX_DAYS),
                ),
            );
        }
        Some(Command::RequestExtension {
            working_days: r.working_days.max(0) as u32,
            reason: text(v, "reason", &r.reason, true),
        })
    })
}

pub fn decide_extension(r: pb::DecideExtensionRequest) -> Result<Mutation, Error> {
    mutation(Violations::new(), &r.id, &r.etag, &r.request_id, |v| {
        Some(Command::DecideExtension {
            approve: r.approve,
            note: text(v, "note", &r.note, false),
        })
    })
}

pub fn request_info(r: pb::RequestInfoRequest) -> Result<Mutation, Error> {
    mutation(Violations::new(), &r.id, &r.etag, &r.request_id, |v| {
        Some(Command::RequestInfo {
            question: text(v, "question", &r.question, true),
        })
    })
}

pub fn provide_info(r: pb::ProvideInfoRequest) -> Result<Mutation, Error> {
    mutation(Violations::new(), &r.id, &r.etag, &r.request_id, |v| {
        Some(Command::ProvideInfo {
            answer: text(v, "answer", &r.answer, true),
        })
    })
}

pub fn return_case(r: pb::ReturnCaseRequest) -> Result<Mutation, Error> {
    mutation(Violations::new(), &r.id, &r.etag, &r.request_id, |v| {
        Some(Command::Return {
            reason: text(v, "reason", &r.reason, true),
        })
    })
}

/// Parses the rule of a `PutRoutingRuleRequest`; `jurisdiction_known` checks the code.
pub fn rule(
    rule: Option<pb::RoutingRule>,
    jurisdiction_known: impl Fn(&str) -> Result<(), Why>,
) -> Result<Rule, Error> {
    let mut v = Violations::new();
    let Some(r) = rule else {
        return Err(Error::invalid(
            "routing_rule",
            Why::new("must be set", "缺少分办规则内容"),
        ));
    };
    let jurisdiction_code = r.jurisdiction_code.trim().to_owned();
    if let Err(problem) = jurisdiction_known(&jurisdiction_code) {
        v.add("routing_rule.jurisdiction_code", problem);
    }
    let category = fields::optional_enum(&mut v, "routing_rule.category", r.category, category);
    let channel = fields::optional_enum(&mut v, "routing_rule.channel", r.channel, channel);
    let enterprise_tag =
        fields::optional_enum(&mut v, "routing_rule.enterprise_tag", r.enterprise_tag, tag);
    let kind = fields::optional_enum(&mut v, "routing_rule.kind", r.kind, kind);
    let level = level(r.level);
    if level.is_none() {
        v.add(
            "routing_rule.level",
            Why::new(
                "must be COUNTY, CITY or MEETING",
                "办理层级须为县级、市级或会商",
            ),
        );
    }
    let meeting_type = fields::optional_enum(
        &mut v,
        "routing_rule.meeting_type",
        r.meeting_type,
        meeting_type,
    );
    if level == Some(Level::Meeting) && meeting_type.is_none() {
        v.add(
            "routing_rule.meeting_type",
            Why::new(
                "must be set when level is MEETING",
                "办理层级为会商时须选择会商会类型",
            ),
        );
    }
    if !(0..=365).contains(&r.time_limit_working_days) {
        v.add(
            "routing_rule.time_limit_working_days",
            Why::new("must be 0 to 365", "办理时限须为0至365个工作日"),
        );
    }
    let description = text(&mut v, "routing_rule.description", &r.description, false);
    v.finish()?;
    Ok(Rule {
        id: r.id.trim().to_owned(),
        jurisdiction_code,
        category,
        channel,
        enterprise_tag,
        kind,
        level: level.ok_or_else(|| Error::internal("level failed without a violation"))?,
        department_id: r.department_id.trim().to_owned(),
        time_limit_days: r.time_limit_working_days as u32,
        priority: r.priority,
        description,
        disabled: r.disabled,
        meeting_type,
        version: 0,
        update_time: 0,
        updated_by: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EnterpriseTag;

    #[test]
    fn enums_convert_both_ways() {
        for value in CaseState::ALL {
            assert_eq!(state(state_to_proto(*value)), Some(*value));
        }
        for value in CaseAction::ALL {
            assert_eq!(action(action_to_proto(*value)), Some(*value), "{value}");
        }
        for value in Outcome::ALL {
            assert_eq!(outcome(outcome_to_proto(*value)), Some(*value));
        }
        for value in MeetingType::ALL {
            assert_eq!(meeting_type(meeting_type_to_proto(*value)), Some(*value));
        }
        for value in Category::ALL {
            assert_eq!(category(category_to_proto(*value)), Some(*value));
        }
        for value in EnterpriseTag::ALL {
            assert_eq!(tag(tag_to_proto(*value)), Some(*value));
        }
        assert_eq!(level(0), None);
    }

    #[test]
    fn a_resolution_without_outcome_or_text_names_both_fields() {
        let error = resolve(pb::ResolveCaseRequest {
            id: "510821-x".into(),
            ..Default::default()
        })
        .unwrap_err();
        let Error::InvalidArgument(violations) = error else {
            panic!("expected INVALID_ARGUMENT");
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["outcome", "resolution"]);
    }
}
