//! Consultation meetings (会商会): the six meetings chaired by city leaders
//! take the cases escalated to them onto their agenda and decide, case by
//! case, which department handles it and by when (会商意见). The decision
//! assigns the case.

use serde::Deserialize;
use zhengqi_shared::Why;
use zhengqi_shared::reference::{ReferenceError, ReferenceFile};

use super::ledger_sheet::{level_label, state_label};
use super::machine::{Context, Refusal, Transition};
use super::{Case, CaseAction, CaseState, Level, MeetingType, Supervision};

/// The consultation meetings a city holds (the reference folder's
/// `meeting_kinds.toml`): which of the six kinds of the API, by the city's own
/// names. A kind the city does not hold is refused where a case, a rule or a
/// meeting names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingKinds {
    held: Vec<(MeetingType, String)>,
}

impl MeetingKinds {
    /// Parses a meeting kinds file; every refusal names its line and field.
    pub fn parse(file: &ReferenceFile) -> Result<MeetingKinds, Vec<ReferenceError>> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct KindsFile {
            #[serde(default)]
            meeting: Vec<KindEntry>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct KindEntry {
            #[serde(rename = "type")]
            kind: String,
            name: String,
        }
        let entries = file
            .deserialize::<KindsFile>()
            .map_err(|e| vec![e])?
            .meeting;
        let mut errors = Vec::new();
        let mut held = Vec::new();
        for (n, entry) in entries.into_iter().enumerate() {
            let field = |name: &str| format!("meeting[{n}].{name}");
            match MeetingType::parse(&entry.kind) {
                None => {
                    let known: Vec<&str> = MeetingType::ALL.iter().map(|t| t.as_str()).collect();
                    errors.push(file.error(
                        field("type"),
                        format!(
                            "unknown meeting type {:?}; known: {}",
                            entry.kind,
                            known.join(", ")
                        ),
                    ));
                }
                Some(kind) if held.iter().any(|(k, _)| *k == kind) => {
                    errors.push(file.error(field("type"), format!("{kind} is listed twice")));
                }
                Some(kind) => {
                    if entry.name.trim().is_empty() {
                        errors.push(file.error(field("name"), "must not be empty"));
                    }
                    held.push((kind, entry.name.trim().to_owned()));
                }
            }
        }
        if errors.is_empty() {
            Ok(MeetingKinds { held })
        } else {
            Err(errors)
        }
    }

    pub fn holds(&self, kind: MeetingType) -> bool {
        self.held.iter().any(|(k, _)| *k == kind)
    }

    /// The city's name of a meeting it holds, e.g. `民营企业会商会`.
    pub fn name(&self, kind: MeetingType) -> Option<&str> {
        self.held
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, name)| name.as_str())
    }

    /// The kinds held, in the file's order.
    pub fn kinds(&self) -> impl Iterator<Item = MeetingType> + '_ {
        self.held.iter().map(|(kind, _)| *kind)
    }
}

/// A meeting's decision on one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub department_id: String,
    pub deadline: i64,
    pub text: String,
    pub recorded_by: String,
    pub record_time: i64,
}

/// One case on a meeting's agenda, as it was when added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgendaItem {
    pub case_id: String,
    pub case_number: String,
    pub title: String,
    pub uscc: String,
    pub enterprise_name: String,
    pub add_time: i64,
    pub added_by: String,
    pub decision: Option<Decision>,
}

/// A consultation meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meeting {
    pub id: String,
    pub meeting_type: MeetingType,
    pub jurisdiction_code: String,
    pub start_time: i64,
    pub chair: String,
    pub title: String,
    pub location: String,
    pub organizer: String,
    pub agenda: Vec<AgendaItem>,
    pub version: i64,
    pub create_time: i64,
    pub update_time: i64,
}

fn transition(case: &Case, action: CaseAction, from: CaseState, note: String) -> Transition {
    Transition {
        action,
        from,
        to: case.state,
        note,
        actor_role: "coordinator".to_owned(),
        acting_department: String::new(),
        escalated_from: None,
        supervised_from: None,
    }
}

/// Puts `case`, escalated to a meeting of this meeting's type, on the agenda.
pub fn add_to_agenda(
    meeting: &mut Meeting,
    case: &mut Case,
    actor: &str,
    now: i64,
) -> Result<Transition, Refusal> {
    if case.level != Level::Meeting {
        return Err(Refusal::WrongState(Why::new(
            format!(
                "case {} is at {} level; escalate it to MEETING first",
                case.id, case.level
            ),
            format!(
                "{}当前为{}办理，须先升级到会商，才能列入会商议程",
                case.zh_name(),
                level_label(case.level)
            ),
        )));
    }
    if case.meeting_type != Some(meeting.meeting_type) {
        return Err(Refusal::Invalid {
            field: "case_id",
            problem: Why::new(
                format!(
                    "case {} is for the {} meeting, not {}",
                    case.id,
                    case.meeting_type.map_or("unspecified", |t| t.as_str()),
                    meeting.meeting_type
                ),
                match case.meeting_type {
                    Some(kind) => format!(
                        "{}应提交{}，不能列入“{}”的议程",
                        case.zh_name(),
                        kind.chinese(),
                        meeting.title
                    ),
                    None => format!(
                        "{}未指定会商会类型，不能列入“{}”的议程",
                        case.zh_name(),
                        meeting.title
                    ),
                },
            ),
        });
    }
    if !matches!(case.state, CaseState::Pending | CaseState::Accepted) {
        return Err(Refusal::WrongState(Why::new(
            format!(
                "case {} is {}; only a case waiting for the meeting goes on its agenda",
                case.id, case.state
            ),
            format!(
                "{}当前为“{}”，只有等待会商的案件才能列入议程",
                case.zh_name(),
                state_label(case.state)
            ),
        )));
    }
    if meeting.agenda.iter().any(|item| item.case_id == case.id) {
        return Err(Refusal::WrongState(Why::new(
            format!(
                "case {} is already on the agenda of meeting {}",
                case.id, meeting.id
            ),
            format!("{}已在“{}”的议程中", case.zh_name(), meeting.title),
        )));
    }
    meeting.agenda.push(AgendaItem {
        case_id: case.id.clone(),
        case_number: case.number.clone(),
        title: case.title.clone(),
        uscc: case.uscc.clone(),
        enterprise_name: case.enterprise_name.clone(),
        add_time: now,
        added_by: actor.to_owned(),
        decision: None,
    });
    case.meeting_id = meeting.id.clone();
    let note = format!(
        "on the agenda of meeting {} ({})",
        meeting.id, meeting.title
    );
    Ok(transition(case, CaseAction::AddToAgenda, case.state, note))
}

/// Records the meeting's decision on an agenda case and assigns the case to
/// the decided department with the decided deadline.
pub fn record_decision(
    meeting: &mut Meeting,
    case: &mut Case,
    department_id: &str,
    deadline: i64,
    text: &str,
    actor: &str,
    context: &Context<'_>,
) -> Result<Transition, Refusal> {
    let Some(item) = meeting.agenda.iter_mut().find(|i| i.case_id == case.id) else {
        return Err(Refusal::Invalid {
            field: "case_id",
            problem: Why::new(
                format!(
                    "case {} is not on the agenda of meeting {}",
                    case.id, meeting.id
                ),
                format!("{}不在“{}”的议程中", case.zh_name(), meeting.title),
            ),
        });
    };
    if item.decision.is_some() {
        return Err(Refusal::WrongState(Why::new(
            format!("the meeting has decided on case {} already", case.id),
            format!("会商会已对{}作出会商意见", case.zh_name()),
        )));
    }
    if case.state.is_final() || case.state == CaseState::Resolved {
        return Err(Refusal::WrongState(Why::new(
            format!(
                "case {} is {}; there is nothing left to decide",
                case.id, case.state
            ),
            format!(
                "{}当前为“{}”，无需再作会商意见",
                case.zh_name(),
                state_label(case.state)
            ),
        )));
    }
    match context.departments.parse_id(department_id) {
        Some((jurisdiction, _))
            if jurisdiction == case.jurisdiction_code || jurisdiction == context.city => {}
        Some((_, kind)) => {
            return Err(Refusal::Invalid {
                field: "department_id",
                problem: Why::new(
                    format!(
                        "{department_id} is not a department of {} or of the city",
                        case.jurisdiction_code
                    ),
                    format!(
                        "所选部门（{}，{department_id}）不属于案件所在辖区或本市",
                        kind.name
                    ),
                ),
            });
        }
        None => {
            return Err(Refusal::Invalid {
                field: "department_id",
                problem: Why::new(
                    format!("{department_id} is not a known department"),
                    format!("部门 {department_id} 不存在"),
                ),
            });
        }
    }
    if deadline <= context.now {
        return Err(Refusal::Invalid {
            field: "deadline",
            problem: Why::new("must be in the future", "办理期限须晚于当前时间"),
        });
    }
    item.decision = Some(Decision {
        department_id: department_id.to_owned(),
        deadline,
        text: text.to_owned(),
        recorded_by: actor.to_owned(),
        record_time: context.now,
    });
    let from = case.state;
    case.department_id = department_id.to_owned();
    case.deadline = Some(deadline);
    case.deadline_provisional = false;
    case.deadline_base = deadline;
    case.deadline_working_days = 0;
    case.start_time = context.now;
    case.supervision = Supervision::None;
    case.claimed_by.clear();
    case.state = CaseState::Assigned;
    Ok(transition(
        case,
        CaseAction::RecordDecision,
        from,
        text.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rules::{Departments, Placement};
    use crate::domain::{AppealKind, Category, Channel, deadline, machine};
    use zhengqi_shared::reference::Calendar;

    fn noon(m: u32, d: u32) -> i64 {
        deadline::end_of_day(chrono::NaiveDate::from_ymd_opt(2026, m, d).unwrap())
            - 12 * 3_600_000_000
    }

    fn case_at_meeting() -> Case {
        let mut case = machine::open(
            "510821-01CASE".into(),
            machine::NewCase {
                appeal_id: "510821-01APPEAL".into(),
                number: "510821-20260302-0001".into(),
                uscc: "91350200776049653A".into(),
                enterprise_name: "某公司".into(),
                jurisdiction_code: "510821".into(),
                category: Category::Financing,
                kind: AppealKind::HelpRequest,
                channel: Channel::OnlinePortal,
                title: "融资难".into(),
                description: String::new(),
                enterprise_tags: Vec::new(),
                contact_name: String::new(),
                contact_phone: String::new(),
                accept_time: noon(3, 2),
            },
            &Placement {
                level: Level::County,
                department_id: "510821-jrj".into(),
                time_limit_days: 7,
                meeting_type: None,
                rule_id: None,
            },
            String::new(),
            &Calendar::official(),
            noon(3, 2),
        );
        case.level = Level::Meeting;
        case.meeting_type = Some(MeetingType::PrivateEnterprise);
        case.state = CaseState::Accepted;
        case.department_id.clear();
        case
    }

    fn meeting(meeting_type: MeetingType) -> Meeting {
        Meeting {
            id: "510800-01MEETING".into(),
            meeting_type,
            jurisdiction_code: "510800".into(),
            start_time: noon(3, 5),
            chair: "副市长".into(),
            title: "民营企业会商会".into(),
            location: String::new(),
            organizer: "coordinator@510800".into(),
            agenda: Vec::new(),
            version: 1,
            create_time: noon(3, 3),
            update_time: noon(3, 3),
        }
    }

    #[test]
    fn a_decision_assigns_the_case_with_the_decided_deadline() {
        let calendar = Calendar::official();
        let departments = Departments::guangyuan();
        let context = Context {
            now: noon(3, 5),
            calendar: &calendar,
            departments: &departments,
            city: "510800",
        };
        let mut case = case_at_meeting();
        let mut meeting = meeting(MeetingType::PrivateEnterprise);
        add_to_agenda(&mut meeting, &mut case, "coordinator@510800", noon(3, 4)).unwrap();
        assert_eq!(case.meeting_id, meeting.id);
        assert!(matches!(
            add_to_agenda(&mut meeting, &mut case, "x", noon(3, 4)),
            Err(Refusal::WrongState(_))
        ));
        let due = noon(3, 20);
        let transition = record_decision(
            &mut meeting,
            &mut case,
            "510821-jrj",
            due,
            "旺苍县金融局牵头",
            "coordinator@510800",
            &context,
        )
        .unwrap();
        assert_eq!(transition.to, CaseState::Assigned);
        assert_eq!(case.department_id, "510821-jrj");
        assert_eq!(case.deadline, Some(due));
        assert!(meeting.agenda[0].decision.is_some());
        assert!(matches!(
            record_decision(
                &mut meeting,
                &mut case,
                "510821-jrj",
                due,
                "again",
                "x",
                &context
            ),
            Err(Refusal::WrongState(_))
        ));
    }

    #[test]
    fn a_meeting_takes_only_cases_escalated_to_its_type() {
        let mut case = case_at_meeting();
        let mut other = meeting(MeetingType::ForeignTrade);
        assert!(matches!(
            add_to_agenda(&mut other, &mut case, "x", noon(3, 4)),
            Err(Refusal::Invalid {
                field: "case_id",
                ..
            })
        ));
        case.level = Level::City;
        let mut right = meeting(MeetingType::PrivateEnterprise);
        assert!(matches!(
            add_to_agenda(&mut right, &mut case, "x", noon(3, 4)),
            Err(Refusal::WrongState(_))
        ));
    }

    #[test]
    fn the_embedded_meeting_kinds_are_the_six_with_their_names() {
        let reference = zhengqi_shared::reference::Reference::embedded();
        let kinds = MeetingKinds::parse(&reference.meeting_kinds).unwrap();
        assert_eq!(kinds.kinds().collect::<Vec<_>>(), MeetingType::ALL);
        assert_eq!(
            kinds.name(MeetingType::PrivateEnterprise),
            Some("民营企业会商会")
        );
    }

    #[test]
    fn an_unknown_or_repeated_meeting_kind_is_refused_at_its_line() {
        let file = ReferenceFile::new(
            "city/meeting_kinds.toml",
            "[[meeting]]\ntype = \"KEY_PROJECT\"\nname = \"重点项目会商会\"\n\n\
             [[meeting]]\ntype = \"TOURISM\"\nname = \"文旅会商会\"\n\n\
             [[meeting]]\ntype = \"KEY_PROJECT\"\nname = \"又一个\"\n",
        );
        let errors: Vec<String> = MeetingKinds::parse(&file)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with(
                "city/meeting_kinds.toml:6: meeting[1].type: unknown meeting type \"TOURISM\""
            ),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with(
                "city/meeting_kinds.toml:10: meeting[2].type: KEY_PROJECT is listed twice"
            ),
            "{errors:?}"
        );
    }

    #[test]
    fn a_decision_needs_a_known_department_and_a_future_deadline() {
        let calendar = Calendar::official();
        let departments = Departments::guangyuan();
        let context = Context {
            now: noon(3, 5),
            calendar: &calendar,
            departments: &departments,
            city: "510800",
        };
        let mut case = case_at_meeting();
        let mut meeting = meeting(MeetingType::PrivateEnterprise);
        add_to_agenda(&mut meeting, &mut case, "x", noon(3, 4)).unwrap();
        let refuse = |meeting: &mut Meeting, case: &mut Case, department: &str, due: i64| {
            match record_decision(meeting, case, department, due, "d", "x", &context) {
                Err(Refusal::Invalid { field, .. }) => field,
                other => panic!("expected a refusal, got {other:?}"),
            }
        };
        assert_eq!(
            refuse(&mut meeting, &mut case, "510822-jrj", noon(3, 20)),
            "department_id"
        );
        assert_eq!(
            refuse(&mut meeting, &mut case, "510821-jrj", noon(3, 1)),
            "deadline"
        );
    }
}
