//! The state machine of a case and who may move it (API.md, CaseService):
//!
//! ```text
//! PENDING ─accept→ ACCEPTED ─assign→ ASSIGNED ─claim→ IN_PROGRESS ─resolve→ RESOLVED ─close→ CLOSED
//!    └reject→ REJECTED         ↑   return (退单) ┘          ↑   └reopen┘
//!                              └──────────── ASSIGNED / IN_PROGRESS
//! PENDING, ACCEPTED, IN_PROGRESS ─request info→ AWAITING_ENTERPRISE ─provide info→ (back)
//! ```
//!
//! Coordinators (营商办) of the jurisdiction that handles the case accept,
//! reject, assign, escalate, decide extensions and close; the handlers of the
//! assigned department claim, record progress, ask for information or more
//! time, return and resolve; the enterprise answers questions and may reopen a
//! resolved case once.

use zhengqi_shared::Why;
use zhengqi_shared::access::Scope;
use zhengqi_shared::auth::{Principal, Role};
use zhengqi_shared::reference::{Calendar, CalendarError};

use super::deadline;
use super::ledger_sheet::{level_label, state_label};
use super::rules::{Departments, Placement};
use super::{
    AppealKind, Case, CaseAction, CaseState, Category, Channel, EnterpriseTag, Extension,
    ExtensionState, Level, MeetingType, Outcome, Supervision,
};

/// What a caller asks of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Accept {
        note: String,
    },
    Reject {
        reason: String,
    },
    Assign {
        department_id: String,
        note: String,
    },
    Claim {
        note: String,
    },
    AddProgress {
        note: String,
    },
    Resolve {
        outcome: Outcome,
        resolution: String,
    },
    Reopen {
        reason: String,
    },
    Close {
        note: String,
    },
    RequestExtension {
        working_days: u32,
        reason: String,
    },
    DecideExtension {
        approve: bool,
        note: String,
    },
    RequestInfo {
        question: String,
    },
    ProvideInfo {
        answer: String,
    },
    Return {
        reason: String,
    },
    Escalate {
        target: Level,
        meeting_type: Option<MeetingType>,
        reason: String,
        department_id: String,
    },
}

impl Command {
    pub fn action(&self) -> CaseAction {
        match self {
            Command::Accept { .. } => CaseAction::Accept,
            Command::Reject { .. } => CaseAction::Reject,
            Command::Assign { .. } => CaseAction::Assign,
            Command::Claim { .. } => CaseAction::Claim,
            Command::AddProgress { .. } => CaseAction::AddProgress,
            Command::Resolve { .. } => CaseAction::Resolve,
            Command::Reopen { .. } => CaseAction::Reopen,
            Command::Close { .. } => CaseAction::Close,
            Command::RequestExtension { .. } => CaseAction::RequestExtension,
            Command::DecideExtension { .. } => CaseAction::DecideExtension,
            Command::RequestInfo { .. } => CaseAction::RequestInfo,
            Command::ProvideInfo { .. } => CaseAction::ProvideInfo,
            Command::Return { .. } => CaseAction::Return,
            Command::Escalate { .. } => CaseAction::Escalate,
        }
    }

    /// Who may give the command.
    fn actors(&self) -> &'static [ActingAs] {
        use ActingAs::*;
        match self {
            Command::Accept { .. }
            | Command::Reject { .. }
            | Command::Assign { .. }
            | Command::Close { .. }
            | Command::DecideExtension { .. }
            | Command::Escalate { .. } => &[Coordinator],
            Command::Claim { .. }
            | Command::Resolve { .. }
            | Command::Return { .. }
            | Command::RequestExtension { .. } => &[Department],
            Command::AddProgress { .. } | Command::RequestInfo { .. } => &[Department, Coordinator],
            Command::ProvideInfo { .. } => &[Enterprise],
            Command::Reopen { .. } => &[Enterprise, Coordinator],
        }
    }
}

/// The capacity in which someone acts on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActingAs {
    /// A coordinator (营商办) — or a service — of the jurisdiction handling the case.
    Coordinator,
    /// A handler of the department the case is with.
    Department,
    /// The enterprise the case is about.
    Enterprise,
}

impl ActingAs {
    pub fn as_str(self) -> &'static str {
        match self {
            ActingAs::Coordinator => "coordinator",
            ActingAs::Department => "handler",
            ActingAs::Enterprise => "enterprise",
        }
    }
}

/// Why a command is refused, in English and in Chinese.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The caller may not do this to this case (PERMISSION_DENIED).
    NotAllowed(Why),
    /// The case's state does not allow it (FAILED_PRECONDITION).
    WrongState(Why),
    /// A field of the command is wrong for this case (INVALID_ARGUMENT).
    Invalid { field: &'static str, problem: Why },
    /// The calendar of a year the deadline falls in is not loaded.
    Calendar(CalendarError),
}

impl Refusal {
    /// What a person reads of a refusal that is not about one field.
    pub fn chinese(&self) -> String {
        match self {
            Refusal::NotAllowed(why) | Refusal::WrongState(why) => why.zh.clone(),
            Refusal::Invalid { problem, .. } => problem.zh.clone(),
            Refusal::Calendar(CalendarError::YearNotLoaded(year)) => {
                format!("工作日历尚未载入{year}年：请先载入该年国务院节假日安排，才能按工作日计算")
            }
        }
    }
}

/// What an action does, as a verb people read: `案件 … 不能退单`.
pub fn action_zh(action: CaseAction) -> &'static str {
    match action {
        CaseAction::Open => "立案",
        CaseAction::Accept => "受理",
        CaseAction::Reject => "作出不予受理决定",
        CaseAction::Assign => "交办",
        CaseAction::Claim => "签收",
        CaseAction::AddProgress => "填报办理进展",
        CaseAction::Resolve => "办结",
        CaseAction::Reopen => "重新办理",
        CaseAction::Close => "结案",
        CaseAction::Escalate => "升级",
        CaseAction::RequestExtension => "申请延期",
        CaseAction::DecideExtension => "审批延期申请",
        CaseAction::RequestInfo => "要求企业补充材料",
        CaseAction::ProvideInfo => "补充材料",
        CaseAction::Return => "退单",
        CaseAction::AddToAgenda => "列入会商议程",
        CaseAction::RecordDecision => "记录会商意见",
        CaseAction::LinkDuplicate => "合并重复诉求",
        CaseAction::Withdraw => "撤回",
        CaseAction::Supervise => "督办",
        CaseAction::RecountDeadline => "重新计算办理时限",
    }
}

impl From<CalendarError> for Refusal {
    fn from(error: CalendarError) -> Self {
        Refusal::Calendar(error)
    }
}

/// What the rules need beyond the case and the caller.
pub struct Context<'a> {
    pub now: i64,
    pub calendar: &'a Calendar,
    pub departments: &'a Departments,
    /// The city's code: CITY and MEETING cases are handled there.
    pub city: &'a str,
}

impl Context<'_> {
    /// The jurisdiction that handles `case` at its level.
    pub fn handling_jurisdiction<'c>(&'c self, case: &'c Case) -> &'c str {
        match case.level {
            Level::County => &case.jurisdiction_code,
            Level::City | Level::Meeting => self.city,
        }
    }
}

/// What an action did, for the ledger and the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub action: CaseAction,
    pub from: CaseState,
    pub to: CaseState,
    pub note: String,
    /// The capacity the actor acted in (`coordinator`, `handler`, `enterprise`, `system`).
    pub actor_role: String,
    /// The department that acted, for a department's actions (e.g. the one that returned the case).
    pub acting_department: String,
    /// Set by an escalation: the level before.
    pub escalated_from: Option<Level>,
    /// Set by a change of supervision: the supervision before.
    pub supervised_from: Option<Supervision>,
}

/// Decides in which capacity `principal` may give `command` on `case`, or refuses.
pub fn authorize(
    case: &Case,
    principal: &Principal,
    scope: &Scope,
    command: &Command,
    context: &Context<'_>,
) -> Result<ActingAs, Refusal> {
    let handling = context.handling_jurisdiction(case);
    let allowed = command.actors();
    for acting in allowed {
        let fits = match acting {
            ActingAs::Coordinator => {
                principal.has_any(&[Role::Coordinator, Role::Service])
                    && scope.covers_jurisdiction(handling)
            }
            ActingAs::Department => {
                principal.has_role(Role::Handler)
                    && !case.department_id.is_empty()
                    && principal.department.as_deref() == Some(case.department_id.as_str())
            }
            ActingAs::Enterprise => {
                principal.has_role(Role::Enterprise)
                    && principal.uscc.as_deref() == Some(case.uscc.as_str())
            }
        };
        if fits {
            return Ok(*acting);
        }
    }
    let who: Vec<String> = allowed
        .iter()
        .map(|a| match a {
            ActingAs::Coordinator => format!("a coordinator of {handling}"),
            ActingAs::Department => match case.department_id.as_str() {
                "" => "the handlers of the assigned department (none yet)".to_owned(),
                department => format!("a handler of {department}"),
            },
            ActingAs::Enterprise => "the enterprise".to_owned(),
        })
        .collect();
    let who_zh: Vec<String> = allowed
        .iter()
        .map(|a| match a {
            ActingAs::Coordinator => "承办辖区的营商办".to_owned(),
            ActingAs::Department => match case.department_id.as_str() {
                "" => "交办部门的经办人（该案件尚未交办）".to_owned(),
                department => format!(
                    "承办部门（{}）的经办人",
                    context.departments.name(department).unwrap_or(department)
                ),
            },
            ActingAs::Enterprise => "提出诉求的企业".to_owned(),
        })
        .collect();
    Err(Refusal::NotAllowed(Why::new(
        format!(
            "{} of case {} is for {}",
            command.action().as_str().to_lowercase().replace('_', " "),
            case.id,
            who.join(" or ")
        ),
        // Not the acceptance number: the caller may be outside the case's
        // scope, and a refusal must not tell it what the case is.
        format!(
            "该案件须由{}{}，您无权办理",
            who_zh.join("或"),
            action_zh(command.action())
        ),
    )))
}

fn wrong_state(case: &Case, action: CaseAction, allowed: &[CaseState]) -> Refusal {
    let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    Refusal::WrongState(Why::new(
        format!(
            "case {} is {}; {} needs it {}",
            case.id,
            case.state,
            action.as_str().to_lowercase().replace('_', " "),
            names.join(" or ")
        ),
        format!(
            "{}当前为“{}”，不能{}",
            case.zh_name(),
            state_label(case.state),
            action_zh(action)
        ),
    ))
}

fn require_state(case: &Case, action: CaseAction, allowed: &[CaseState]) -> Result<(), Refusal> {
    if allowed.contains(&case.state) {
        Ok(())
    } else {
        Err(wrong_state(case, action, allowed))
    }
}

/// Whether `department_id` may handle `case`: a known department of the
/// jurisdiction handling it or of the city.
fn check_department(
    case: &Case,
    department_id: &str,
    field: &'static str,
    context: &Context<'_>,
) -> Result<(), Refusal> {
    let handling = context.handling_jurisdiction(case);
    match context.departments.parse_id(department_id) {
        Some((jurisdiction, _)) if jurisdiction == handling || jurisdiction == context.city => {
            Ok(())
        }
        Some((_, kind)) => Err(Refusal::Invalid {
            field,
            problem: Why::new(
                format!(
                    "{department_id} is not a department of {handling} or of the city {}",
                    context.city
                ),
                format!(
                    "所选部门（{}，{department_id}）不属于承办辖区或本市，不能承办该案件",
                    kind.name
                ),
            ),
        }),
        None => Err(Refusal::Invalid {
            field,
            problem: Why::new(
                format!("{department_id} is not a known department"),
                format!("部门 {department_id} 不存在"),
            ),
        }),
    }
}

fn level_rank(level: Level) -> u8 {
    match level {
        Level::County => 0,
        Level::City => 1,
        Level::Meeting => 2,
    }
}

/// Moves the deadline by `days` working days (an approved extension, a pause),
/// or leaves a missing one missing. `counted_provisionally` says `days` itself
/// was counted on weekends only (a pause in a year not loaded).
fn move_deadline(case: &mut Case, days: u32, calendar: &Calendar, counted_provisionally: bool) {
    if days == 0 {
        return;
    }
    let Some(deadline) = case.deadline else {
        return;
    };
    // An exact deadline is the new base; a provisional one keeps counting from
    // its base, so that loading its year counts the whole again.
    if !case.deadline_provisional {
        case.deadline_base = deadline;
        case.deadline_working_days = 0;
    }
    case.deadline_working_days += days;
    let reckoned = deadline::reckon(calendar, case.deadline_base, case.deadline_working_days);
    case.deadline = Some(reckoned.deadline);
    case.deadline_provisional = reckoned.provisional || counted_provisionally;
    case.supervision = Supervision::None;
}

/// Gives `case` a fresh time limit of its kind from `now` at its new tier or
/// after reopening: a new start, a new deadline, and no supervision.
fn restart_clock(case: &mut Case, context: &Context<'_>) {
    let now = context.now;
    case.start_time = now;
    let reckoned = deadline::reckon(context.calendar, now, case.time_limit_days);
    case.deadline = Some(reckoned.deadline);
    case.deadline_provisional = reckoned.provisional;
    case.deadline_base = now;
    case.deadline_working_days = case.time_limit_days;
    case.supervision = Supervision::None;
}

/// Applies `command`, given in capacity `acting` by `actor`, to `case`.
pub fn apply(
    case: &mut Case,
    actor: &str,
    acting: ActingAs,
    command: &Command,
    context: &Context<'_>,
) -> Result<Transition, Refusal> {
    use CaseState::*;
    let action = command.action();
    let from = case.state;
    let now = context.now;
    let mut acting_department = String::new();
    let mut escalated_from = None;
    let note = match command {
        Command::Accept { note } => {
            require_state(case, action, &[Pending])?;
            case.state = Accepted;
            note.clone()
        }
        Command::Reject { reason } => {
            require_state(case, action, &[Pending])?;
            case.state = Rejected;
            case.reject_reason = reason.clone();
            case.close_time = Some(now);
            case.supervision = Supervision::None;
            reason.clone()
        }
        Command::Assign {
            department_id,
            note,
        } => {
            require_state(case, action, &[Accepted, Assigned])?;
            check_department(case, department_id, "department_id", context)?;
            case.department_id = department_id.clone();
            case.claimed_by.clear();
            case.state = Assigned;
            note.clone()
        }
        Command::Claim { note } => {
            require_state(case, action, &[Assigned])?;
            case.claimed_by = actor.to_owned();
            case.state = InProgress;
            acting_department = case.department_id.clone();
            note.clone()
        }
        Command::AddProgress { note } => {
            if case.state.is_final() {
                return Err(wrong_state(
                    case,
                    action,
                    &[
                        Pending,
                        Accepted,
                        Assigned,
                        InProgress,
                        AwaitingEnterprise,
                        Resolved,
                    ],
                ));
            }
            if acting == ActingAs::Department {
                acting_department = case.department_id.clone();
            }
            note.clone()
        }
        Command::Resolve {
            outcome,
            resolution,
        } => {
            require_state(case, action, &[InProgress])?;
            if *outcome == Outcome::Withdrawn {
                return Err(Refusal::Invalid {
                    field: "outcome",
                    problem: Why::new(
                        "WITHDRAWN is set by the enterprise's withdrawal, not by a department",
                        "“企业撤回”只在企业撤回诉求时记录，办理部门不能选择",
                    ),
                });
            }
            case.outcome = Some(*outcome);
            case.resolution = resolution.clone();
            case.resolve_time = Some(now);
            case.state = Resolved;
            // Finished: nothing left to supervise.
            case.supervision = Supervision::None;
            acting_department = case.department_id.clone();
            resolution.clone()
        }
        Command::Reopen { reason } => {
            require_state(case, action, &[Resolved])?;
            if acting == ActingAs::Enterprise && case.reopen_count >= 1 {
                return Err(Refusal::WrongState(Why::new(
                    format!(
                        "case {} was reopened before; an enterprise may reopen a case once",
                        case.id
                    ),
                    format!(
                        "{}已重新办理过一次，企业只能申请重新办理一次",
                        case.zh_name()
                    ),
                )));
            }
            case.reopen_count += 1;
            case.outcome = None;
            case.resolution.clear();
            case.resolve_time = None;
            // The department gets a fresh time limit from the day it is reopened.
            restart_clock(case, context);
            case.state = InProgress;
            reason.clone()
        }
        Command::Close { note } => {
            require_state(case, action, &[Resolved])?;
            case.close_time = Some(now);
            case.state = Closed;
            case.supervision = Supervision::None;
            note.clone()
        }
        Command::RequestExtension {
            working_days,
            reason,
        } => {
            require_state(case, action, &[Assigned, InProgress])?;
            if case
                .extension
                .as_ref()
                .is_some_and(|e| e.state == ExtensionState::Requested)
            {
                return Err(Refusal::WrongState(Why::new(
                    format!(
                        "case {} already has an extension request waiting for a decision",
                        case.id
                    ),
                    format!("{}已有待审批的延期申请", case.zh_name()),
                )));
            }
            case.extension = Some(Extension {
                state: ExtensionState::Requested,
                working_days: *working_days,
                reason: reason.clone(),
                requested_by: actor.to_owned(),
                request_time: now,
                decided_by: String::new(),
                decide_time: None,
                decision_note: String::new(),
            });
            acting_department = case.department_id.clone();
            format!("{working_days} working days: {reason}")
        }
        Command::DecideExtension { approve, note } => {
            let Some(extension) = case
                .extension
                .as_mut()
                .filter(|e| e.state == ExtensionState::Requested)
            else {
                return Err(Refusal::WrongState(Why::new(
                    format!(
                        "case {} has no extension request waiting for a decision",
                        case.id
                    ),
                    format!("{}没有待审批的延期申请", case.zh_name()),
                )));
            };
            if case.state.is_final() || case.state == Resolved {
                return Err(wrong_state(case, action, &[Assigned, InProgress]));
            }
            extension.state = if *approve {
                ExtensionState::Approved
            } else {
                ExtensionState::Denied
            };
            extension.decided_by = actor.to_owned();
            extension.decide_time = Some(now);
            extension.decision_note = note.clone();
            let days = extension.working_days;
            if *approve {
                move_deadline(case, days, context.calendar, false);
            }
            format!(
                "{} {days} working days{}",
                if *approve { "approved" } else { "denied" },
                if note.is_empty() {
                    String::new()
                } else {
                    format!(": {note}")
                }
            )
        }
        Command::RequestInfo { question } => {
            let allowed: &[CaseState] = match acting {
                ActingAs::Department => &[InProgress],
                _ => &[Pending, Accepted, InProgress],
            };
            require_state(case, action, allowed)?;
            case.paused_state = Some(case.state);
            case.pause_time = Some(now);
            case.info_question = question.clone();
            case.state = AwaitingEnterprise;
            if acting == ActingAs::Department {
                acting_department = case.department_id.clone();
            }
            question.clone()
        }
        Command::ProvideInfo { answer } => {
            require_state(case, action, &[AwaitingEnterprise])?;
            let (paused, provisional) = match case.pause_time {
                Some(paused) => deadline::paused_working_days(context.calendar, paused, now),
                None => (0, false),
            };
            move_deadline(case, paused, context.calendar, provisional);
            case.state = case.paused_state.take().unwrap_or(InProgress);
            case.pause_time = None;
            case.info_answer = answer.clone();
            case.info_question.clear();
            answer.clone()
        }
        Command::Return { reason } => {
            require_state(case, action, &[Assigned, InProgress])?;
            acting_department = std::mem::take(&mut case.department_id);
            case.returns_count += 1;
            case.return_reason = reason.clone();
            case.claimed_by.clear();
            case.state = Accepted;
            reason.clone()
        }
        Command::Escalate {
            target,
            meeting_type,
            reason,
            department_id,
        } => {
            require_state(case, action, &[Pending, Accepted, Assigned, InProgress])?;
            if level_rank(*target) <= level_rank(case.level) || *target == Level::County {
                return Err(Refusal::Invalid {
                    field: "target",
                    problem: Why::new(
                        format!(
                            "must be above the case's level {}: CITY or MEETING",
                            case.level
                        ),
                        format!(
                            "案件当前为{}办理，只能升级到更高层级（市级或会商）",
                            level_label(case.level)
                        ),
                    ),
                });
            }
            escalated_from = Some(case.level);
            case.level = *target;
            case.escalation_reason = reason.clone();
            case.claimed_by.clear();
            match target {
                Level::Meeting => {
                    case.meeting_type = *meeting_type;
                    case.department_id.clear();
                    case.state = Accepted;
                }
                _ if !department_id.is_empty() => {
                    check_department(case, department_id, "department_id", context)?;
                    case.department_id = department_id.clone();
                    case.state = Assigned;
                }
                _ => {
                    case.department_id = context
                        .departments
                        .for_category(context.city, case.category)
                        .unwrap_or_default();
                    case.state = Accepted;
                }
            }
            // The new tier gets the full time limit of the case's kind.
            restart_clock(case, context);
            reason.clone()
        }
    };
    Ok(Transition {
        action,
        from,
        to: case.state,
        note,
        actor_role: acting.as_str().to_owned(),
        acting_department,
        escalated_from,
        supervised_from: None,
    })
}

/// What routing knows of a registered appeal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCase {
    pub appeal_id: String,
    pub number: String,
    pub uscc: String,
    pub enterprise_name: String,
    pub jurisdiction_code: String,
    pub category: Category,
    pub kind: AppealKind,
    pub channel: Channel,
    pub title: String,
    pub description: String,
    pub enterprise_tags: Vec<EnterpriseTag>,
    pub contact_name: String,
    pub contact_phone: String,
    /// When intake accepted the appeal: the clock starts on its Beijing date.
    pub accept_time: i64,
}

/// Opens a PENDING case where `placement` puts it, always with a deadline:
/// provisional (weekends only, 暂定) when the calendar of a year it runs into
/// is not loaded yet.
pub fn open(
    id: String,
    new: NewCase,
    placement: &Placement,
    butler: String,
    calendar: &Calendar,
    now: i64,
) -> Case {
    let reckoned = deadline::reckon(calendar, new.accept_time, placement.time_limit_days);
    Case {
        id,
        number: new.number,
        appeal_id: new.appeal_id,
        uscc: new.uscc,
        enterprise_name: new.enterprise_name,
        jurisdiction_code: new.jurisdiction_code,
        level: placement.level,
        department_id: placement.department_id.clone(),
        state: CaseState::Pending,
        category: new.category,
        kind: new.kind,
        channel: new.channel,
        title: new.title,
        description: new.description,
        enterprise_tags: new.enterprise_tags,
        contact_name: new.contact_name,
        contact_phone: new.contact_phone,
        time_limit_days: placement.time_limit_days,
        start_time: new.accept_time,
        deadline: Some(reckoned.deadline),
        deadline_provisional: reckoned.provisional,
        deadline_base: new.accept_time,
        deadline_working_days: placement.time_limit_days,
        supervision: Supervision::None,
        outcome: None,
        resolution: String::new(),
        meeting_id: String::new(),
        meeting_type: placement.meeting_type,
        reject_reason: String::new(),
        returns_count: 0,
        return_reason: String::new(),
        reopen_count: 0,
        escalation_reason: String::new(),
        extension: None,
        info_question: String::new(),
        info_answer: String::new(),
        pause_time: None,
        paused_state: None,
        butler,
        claimed_by: String::new(),
        resolve_time: None,
        close_time: None,
        personal_data_erase_time: None,
        duplicate_appeal_ids: Vec::new(),
        routing_rule_id: placement.rule_id.clone().unwrap_or_default(),
        version: 1,
        create_time: now,
        update_time: now,
    }
}

/// A later appeal on the same matter joins the case.
pub fn link_duplicate(case: &mut Case, appeal_id: &str, number: &str) -> Transition {
    if !case.duplicate_appeal_ids.iter().any(|a| a == appeal_id) {
        case.duplicate_appeal_ids.push(appeal_id.to_owned());
    }
    system_transition(
        case,
        CaseAction::LinkDuplicate,
        case.state,
        format!("appeal {number} ({appeal_id}) is the same matter"),
    )
}

/// The enterprise withdrew the appeal at intake: an unfinished case closes
/// with the outcome WITHDRAWN; a finished one only records it.
pub fn withdraw(case: &mut Case, reason: &str, now: i64) -> Transition {
    let from = case.state;
    let note = if reason.is_empty() {
        "the enterprise withdrew the appeal".to_owned()
    } else {
        format!("the enterprise withdrew the appeal: {reason}")
    };
    if !case.state.is_final() {
        if case.state != CaseState::Resolved {
            case.outcome = Some(Outcome::Withdrawn);
            case.resolution = note.clone();
        }
        case.state = CaseState::Closed;
        case.close_time = Some(now);
        case.pause_time = None;
        case.paused_state = None;
        case.supervision = Supervision::None;
    }
    let mut transition = system_transition(case, CaseAction::Withdraw, from, note);
    transition.actor_role = "enterprise".to_owned();
    transition
}

/// Counts a provisional (or missing) deadline of an unfinished case again on
/// `calendar`, into which `year` was just loaded (`None`: the calendar as the
/// part started with it). The change is the ledger entry's note, in China
/// time; `None` when nothing changes.
pub fn recount_deadline(
    case: &mut Case,
    calendar: &Calendar,
    year: Option<i32>,
) -> Option<Transition> {
    if case.state.is_final() || (case.deadline.is_some() && !case.deadline_provisional) {
        return None;
    }
    let reckoned = deadline::reckon(calendar, case.deadline_base, case.deadline_working_days);
    if case.deadline == Some(reckoned.deadline) && case.deadline_provisional == reckoned.provisional
    {
        return None;
    }
    let before = case.deadline;
    case.deadline = Some(reckoned.deadline);
    case.deadline_provisional = reckoned.provisional;
    let day = |micros: i64| {
        deadline::beijing_date(micros)
            .format("%Y-%m-%d")
            .to_string()
    };
    let basis = match (year, before) {
        (Some(year), _) => format!("按{year}年工作日历重算办理时限"),
        (None, Some(_)) => "按已载入的工作日历重算办理时限".to_owned(),
        (None, None) => "按已载入的工作日历补定办理时限".to_owned(),
    };
    let change = match before {
        Some(before) => format!("{} → {}", day(before), day(reckoned.deadline)),
        None => day(reckoned.deadline),
    };
    let provisional = if reckoned.provisional {
        "（暂定：所跨年份的工作日历尚未载入，暂按周六、周日休息计算）"
    } else {
        ""
    };
    Some(system_transition(
        case,
        CaseAction::RecountDeadline,
        case.state,
        format!("{basis}：{change}{provisional}"),
    ))
}

fn system_transition(case: &Case, action: CaseAction, from: CaseState, note: String) -> Transition {
    Transition {
        action,
        from,
        to: case.state,
        note,
        actor_role: "system".to_owned(),
        acting_department: String::new(),
        escalated_from: None,
        supervised_from: None,
    }
}

/// 督办: the deadline clock's view of an open case at `context.now`. The
/// supervision turns YELLOW once `yellow_ratio` of the time is used and RED
/// once the deadline has passed; a COUNTY case overdue by
/// `escalate_after_working_days` goes to the city. A paused clock
/// (AWAITING_ENTERPRISE) and a case without a deadline change nothing.
pub fn supervise(
    case: &mut Case,
    context: &Context<'_>,
    yellow_ratio: f64,
    escalate_after_working_days: u32,
) -> Result<Vec<Transition>, CalendarError> {
    use CaseState::*;
    let mut transitions = Vec::new();
    let Some(deadline) = case.deadline else {
        return Ok(transitions);
    };
    if !matches!(case.state, Pending | Accepted | Assigned | InProgress) {
        return Ok(transitions);
    }
    let now = context.now;
    let wanted = deadline::supervision(
        context.calendar,
        case.start_time,
        deadline,
        now,
        yellow_ratio,
    )?;
    if wanted != case.supervision {
        let before = case.supervision;
        case.supervision = wanted;
        let due = deadline::beijing_date(deadline);
        let note = match wanted {
            Supervision::Red => {
                format!("红灯督办：已超过办理时限 {due}（past the deadline {due}）")
            }
            Supervision::Yellow => format!(
                "黄灯预警：{0} 个工作日的时限已用 {1:.0}%，{due} 到期（{1:.0}% of {0} working days used; due {due}）",
                case.time_limit_days,
                yellow_ratio * 100.0,
            ),
            Supervision::None => format!("回到时限之内，{due} 到期（back within time; due {due}）"),
        };
        let mut transition = system_transition(case, CaseAction::Supervise, case.state, note);
        transition.supervised_from = Some(before);
        transitions.push(transition);
    }
    // A case goes red before it goes up: the red is recorded against the
    // unit that held it, the escalation in a later pass.
    let turned_red = transitions
        .iter()
        .any(|t| t.supervised_from.is_some() && case.supervision == Supervision::Red);
    if case.level == Level::County && !turned_red {
        let overdue = deadline::working_days_overdue(context.calendar, deadline, now)?;
        if overdue >= escalate_after_working_days.max(1) {
            let from = case.state;
            case.level = Level::City;
            case.escalation_reason = format!(
                "超期 {overdue} 个工作日，自动提级至市级督办（overdue by {overdue} working days: raised to the city automatically）"
            );
            case.department_id = context
                .departments
                .for_category(context.city, case.category)
                .unwrap_or_default();
            case.claimed_by.clear();
            if from != Pending {
                case.state = Accepted;
            }
            // The city gets the full time limit from today, not the county's
            // passed deadline.
            restart_clock(case, context);
            let mut transition = system_transition(
                case,
                CaseAction::Escalate,
                from,
                case.escalation_reason.clone(),
            );
            transition.escalated_from = Some(Level::County);
            transitions.push(transition);
        }
    }
    Ok(transitions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rules::Departments;
    use zhengqi_shared::reference::Directory;

    fn principal(roles: &[Role], jurisdiction: &str) -> Principal {
        Principal {
            sub: format!("{}@{jurisdiction}", roles[0].as_str()),
            roles: roles.to_vec(),
            jurisdiction: Some(jurisdiction.to_owned()),
            department: None,
            uscc: None,
            name: None,
            expires_at: i64::MAX,
        }
    }

    fn handler(department: &str) -> Principal {
        Principal {
            department: Some(department.to_owned()),
            ..principal(&[Role::Handler], &department[..6])
        }
    }

    fn enterprise(uscc: &str) -> Principal {
        Principal {
            uscc: Some(uscc.to_owned()),
            jurisdiction: None,
            ..principal(&[Role::Enterprise], "510821")
        }
    }

    fn case() -> Case {
        let calendar = Calendar::official();
        let placement = Placement {
            level: Level::County,
            department_id: "510821-jrj".into(),
            time_limit_days: 7,
            meeting_type: None,
            rule_id: None,
        };
        let start = deadline::end_of_day(chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap())
            - 12 * 3_600_000_000;
        open(
            "510821-01TEST".into(),
            NewCase {
                number: "510821-20260302-0001".into(),
                accept_time: start,
                ..match_new_case()
            },
            &placement,
            String::new(),
            &calendar,
            start,
        )
    }

    struct World {
        calendar: Calendar,
        departments: Departments,
        directory: Directory,
    }

    impl World {
        fn new() -> World {
            World {
                calendar: Calendar::official(),
                departments: Departments::guangyuan(),
                directory: Directory::guangyuan(),
            }
        }

        fn context(&self, now: i64) -> Context<'_> {
            Context {
                now,
                calendar: &self.calendar,
                departments: &self.departments,
                city: "510800",
            }
        }

        fn act(
            &self,
            case: &mut Case,
            who: &Principal,
            command: Command,
            now: i64,
        ) -> Result<Transition, Refusal> {
            let scope = Scope::of(who, &self.directory);
            let context = self.context(now);
            let acting = authorize(case, who, &scope, &command, &context)?;
            apply(case, &who.sub, acting, &command, &context)
        }
    }

    fn day(m: u32, d: u32) -> i64 {
        deadline::end_of_day(chrono::NaiveDate::from_ymd_opt(2026, m, d).unwrap())
            - 12 * 3_600_000_000
    }

    #[test]
    fn a_case_walks_from_pending_to_closed() {
        let world = World::new();
        let mut case = case();
        let coordinator = principal(&[Role::Coordinator], "510821");
        let jrj = handler("510821-jrj");
        let firm = enterprise("91350200776049653A");
        let note = String::new;
        let steps = [
            (
                &coordinator,
                Command::Accept { note: note() },
                CaseState::Accepted,
            ),
            (
                &coordinator,
                Command::Assign {
                    department_id: "510821-jrj".into(),
                    note: note(),
                },
                CaseState::Assigned,
            ),
            (&jrj, Command::Claim { note: note() }, CaseState::InProgress),
            (
                &jrj,
                Command::RequestInfo {
                    question: "请提供贷款申请材料".into(),
                },
                CaseState::AwaitingEnterprise,
            ),
            (
                &firm,
                Command::ProvideInfo {
                    answer: "已上传".into(),
                },
                CaseState::InProgress,
            ),
            (
                &jrj,
                Command::Resolve {
                    outcome: Outcome::Solved,
                    resolution: "已放款".into(),
                },
                CaseState::Resolved,
            ),
            (
                &firm,
                Command::Reopen {
                    reason: "only half was lent".into(),
                },
                CaseState::InProgress,
            ),
            (
                &jrj,
                Command::Resolve {
                    outcome: Outcome::Solved,
                    resolution: "全部放款".into(),
                },
                CaseState::Resolved,
            ),
            (
                &coordinator,
                Command::Close { note: note() },
                CaseState::Closed,
            ),
        ];
        for (who, command, expected) in steps {
            let transition = world
                .act(&mut case, who, command.clone(), day(3, 3))
                .unwrap_or_else(|r| panic!("{command:?}: {r:?}"));
            assert_eq!(transition.to, expected, "{command:?}");
            assert_eq!(case.state, expected);
        }
        assert_eq!(case.reopen_count, 1);
        assert_eq!(case.claimed_by, "handler@510821");
    }

    #[test]
    fn the_wrong_actor_is_not_allowed() {
        let world = World::new();
        let mut case = case();
        let other_county = principal(&[Role::Coordinator], "510822");
        let refusal = world
            .act(
                &mut case,
                &other_county,
                Command::Accept {
                    note: String::new(),
                },
                day(3, 3),
            )
            .unwrap_err();
        assert!(matches!(refusal, Refusal::NotAllowed(_)), "{refusal:?}");
        let wrong_department = handler("510821-czj");
        case.state = CaseState::Assigned;
        let refusal = world
            .act(
                &mut case,
                &wrong_department,
                Command::Claim {
                    note: String::new(),
                },
                day(3, 3),
            )
            .unwrap_err();
        assert!(matches!(refusal, Refusal::NotAllowed(_)), "{refusal:?}");
        let other_firm = enterprise("91440101MA5CJQ4N59");
        case.state = CaseState::AwaitingEnterprise;
        let refusal = world
            .act(
                &mut case,
                &other_firm,
                Command::ProvideInfo { answer: "x".into() },
                day(3, 3),
            )
            .unwrap_err();
        assert!(matches!(refusal, Refusal::NotAllowed(_)), "{refusal:?}");
        // The city's coordinators may act on every county's cases.
        case.state = CaseState::Pending;
        let city = principal(&[Role::Coordinator], "510800");
        world
            .act(
                &mut case,
                &city,
                Command::Accept {
                    note: String::new(),
                },
                day(3, 3),
            )
            .unwrap();
    }

    #[test]
    fn a_step_the_state_does_not_allow_is_refused() {
        let world = World::new();
        let mut case = case();
        let coordinator = principal(&[Role::Coordinator], "510821");
        let refusal = world
            .act(
                &mut case,
                &coordinator,
                Command::Close {
                    note: String::new(),
                },
                day(3, 3),
            )
            .unwrap_err();
        assert!(matches!(refusal, Refusal::WrongState(_)), "{refusal:?}");
        assert_eq!(case.state, CaseState::Pending);
    }

    #[test]
    fn an_enterprise_reopens_once() {
        let world = World::new();
        let mut case = case();
        case.state = CaseState::Resolved;
        case.reopen_count = 1;
        let refusal = world
            .act(
                &mut case,
                &enterprise("91350200776049653A"),
                Command::Reopen {
                    reason: "again".into(),
                },
                day(3, 3),
            )
            .unwrap_err();
        assert!(matches!(refusal, Refusal::WrongState(_)), "{refusal:?}");
    }

    #[test]
    fn waiting_for_the_enterprise_moves_the_deadline_by_the_paused_working_days() {
        let world = World::new();
        let mut case = case();
        // Opened Monday 03-02 with 7 working days: due Wednesday 03-11.
        assert_eq!(
            deadline::beijing_date(case.deadline.unwrap()),
            chrono::NaiveDate::from_ymd_opt(2026, 3, 11).unwrap()
        );
        let coordinator = principal(&[Role::Coordinator], "510821");
        world
            .act(
                &mut case,
                &coordinator,
                Command::RequestInfo {
                    question: "营业执照?".into(),
                },
                day(3, 3),
            )
            .unwrap();
        assert_eq!(case.state, CaseState::AwaitingEnterprise);
        // Answered on Friday 03-06: 03-04, 03-05 and 03-06 did not count.
        world
            .act(
                &mut case,
                &enterprise("91350200776049653A"),
                Command::ProvideInfo {
                    answer: "附件".into(),
                },
                day(3, 6),
            )
            .unwrap();
        assert_eq!(case.state, CaseState::Pending);
        assert_eq!(
            deadline::beijing_date(case.deadline.unwrap()),
            chrono::NaiveDate::from_ymd_opt(2026, 3, 16).unwrap()
        );
    }

    #[test]
    fn an_approved_extension_moves_the_deadline_and_a_denied_one_does_not() {
        let world = World::new();
        let mut case = case();
        case.state = CaseState::InProgress;
        let before = case.deadline.unwrap();
        let jrj = handler("510821-jrj");
        let coordinator = principal(&[Role::Coordinator], "510821");
        let ask = Command::RequestExtension {
            working_days: 3,
            reason: "需要银行评估".into(),
        };
        world.act(&mut case, &jrj, ask.clone(), day(3, 3)).unwrap();
        assert!(matches!(
            world.act(&mut case, &jrj, ask.clone(), day(3, 3)),
            Err(Refusal::WrongState(_))
        ));
        world
            .act(
                &mut case,
                &coordinator,
                Command::DecideExtension {
                    approve: false,
                    note: String::new(),
                },
                day(3, 4),
            )
            .unwrap();
        assert_eq!(case.deadline, Some(before));
        world.act(&mut case, &jrj, ask, day(3, 4)).unwrap();
        world
            .act(
                &mut case,
                &coordinator,
                Command::DecideExtension {
                    approve: true,
                    note: "同意".into(),
                },
                day(3, 5),
            )
            .unwrap();
        assert_eq!(
            deadline::beijing_date(case.deadline.unwrap()),
            chrono::NaiveDate::from_ymd_opt(2026, 3, 16).unwrap()
        );
    }

    #[test]
    fn a_returned_case_goes_back_to_the_coordinator_and_is_counted() {
        let world = World::new();
        let mut case = case();
        case.state = CaseState::Assigned;
        let transition = world
            .act(
                &mut case,
                &handler("510821-jrj"),
                Command::Return {
                    reason: "不属于本部门职责".into(),
                },
                day(3, 3),
            )
            .unwrap();
        assert_eq!(case.state, CaseState::Accepted);
        assert_eq!(case.department_id, "");
        assert_eq!(case.returns_count, 1);
        assert_eq!(transition.acting_department, "510821-jrj");
    }

    #[test]
    fn escalation_goes_up_only_and_a_county_cannot_act_on_a_city_case() {
        let world = World::new();
        let mut case = case();
        let county = principal(&[Role::Coordinator], "510821");
        world
            .act(
                &mut case,
                &county,
                Command::Escalate {
                    target: Level::City,
                    meeting_type: None,
                    reason: "跨部门".into(),
                    department_id: String::new(),
                },
                day(3, 3),
            )
            .unwrap();
        assert_eq!(case.level, Level::City);
        assert_eq!(case.department_id, "510800-jrj");
        let refusal = world
            .act(
                &mut case,
                &county,
                Command::Assign {
                    department_id: "510800-jrj".into(),
                    note: String::new(),
                },
                day(3, 3),
            )
            .unwrap_err();
        assert!(matches!(refusal, Refusal::NotAllowed(_)), "{refusal:?}");
        let city = principal(&[Role::Coordinator], "510800");
        let refusal = world
            .act(
                &mut case,
                &city,
                Command::Escalate {
                    target: Level::City,
                    meeting_type: None,
                    reason: "again".into(),
                    department_id: String::new(),
                },
                day(3, 3),
            )
            .unwrap_err();
        assert!(matches!(refusal, Refusal::Invalid { .. }), "{refusal:?}");
    }

    #[test]
    fn the_clock_turns_a_case_yellow_then_red_then_sends_it_to_the_city() {
        let world = World::new();
        let mut case = case();
        case.state = CaseState::InProgress;
        // Opened Monday 03-02 with 7 working days: due Wednesday 03-11.
        let at =
            |case: &mut Case, m, d| supervise(case, &world.context(day(m, d)), 0.8, 2).unwrap();
        assert!(at(&mut case, 3, 5).is_empty());
        let yellow = at(&mut case, 3, 10);
        assert_eq!(yellow.len(), 1);
        assert_eq!(case.supervision, Supervision::Yellow);
        assert_eq!(yellow[0].supervised_from, Some(Supervision::None));
        assert!(
            at(&mut case, 3, 11).is_empty(),
            "still yellow on the due date"
        );
        let red = at(&mut case, 3, 12);
        assert_eq!(case.supervision, Supervision::Red);
        assert_eq!(red[0].action, CaseAction::Supervise);
        assert_eq!(
            case.level,
            Level::County,
            "one working day overdue stays in the county"
        );
        let escalated = at(&mut case, 3, 13);
        assert_eq!(escalated.len(), 1);
        assert_eq!(escalated[0].action, CaseAction::Escalate);
        assert_eq!(case.level, Level::City);
        assert_eq!(case.state, CaseState::Accepted);
        assert_eq!(case.department_id, "510800-jrj");
        // The city gets the full seven working days from the escalation
        // (Friday 03-13): due Tuesday 03-24, not the county's passed 03-11.
        assert_eq!(case.supervision, Supervision::None);
        assert_eq!(case.start_time, day(3, 13));
        assert_eq!(
            deadline::beijing_date(case.deadline.unwrap()),
            chrono::NaiveDate::from_ymd_opt(2026, 3, 24).unwrap()
        );
        assert!(
            at(&mut case, 3, 20).is_empty(),
            "a city case is not raised again, and not yet late"
        );
    }

    #[test]
    fn a_case_goes_red_against_its_county_before_it_goes_up() {
        let world = World::new();
        let mut case = case();
        case.state = CaseState::InProgress;
        case.department_id = "510821-jrj".into();
        // Long past due when the sweep first looks: red, still the county's.
        let first = supervise(&mut case, &world.context(day(3, 20)), 0.8, 2).unwrap();
        assert_eq!(first.len(), 1, "{first:?}");
        assert_eq!(case.supervision, Supervision::Red);
        assert_eq!(
            (case.level, case.department_id.as_str()),
            (Level::County, "510821-jrj")
        );
        // The next pass raises it, with a fresh time limit.
        let second = supervise(&mut case, &world.context(day(3, 20)), 0.8, 2).unwrap();
        assert_eq!(second[0].action, CaseAction::Escalate);
        assert_eq!(case.level, Level::City);
        assert_eq!(case.supervision, Supervision::None);
        assert!(case.deadline.unwrap() > day(3, 20));
    }

    #[test]
    fn resolving_rejecting_closing_and_withdrawing_clear_the_supervision() {
        let world = World::new();
        let mut yellow = case();
        yellow.state = CaseState::InProgress;
        yellow.supervision = Supervision::Yellow;
        let handler = Principal {
            department: Some(yellow.department_id.clone()),
            ..principal(&[Role::Handler], "510821")
        };
        world
            .act(
                &mut yellow,
                &handler,
                Command::Resolve {
                    outcome: Outcome::Solved,
                    resolution: "已解决".into(),
                },
                day(3, 10),
            )
            .unwrap();
        assert_eq!(yellow.supervision, Supervision::None);

        let mut red = case();
        red.supervision = Supervision::Red;
        let county = principal(&[Role::Coordinator], "510821");
        world
            .act(
                &mut red,
                &county,
                Command::Reject {
                    reason: "不属于受理范围".into(),
                },
                day(3, 12),
            )
            .unwrap();
        assert_eq!(red.supervision, Supervision::None);

        let mut withdrawn = case();
        withdrawn.supervision = Supervision::Red;
        withdraw(&mut withdrawn, "已自行解决", day(3, 12));
        assert_eq!(withdrawn.supervision, Supervision::None);
    }

    #[test]
    fn a_paused_clock_is_not_supervised() {
        let world = World::new();
        let mut case = case();
        case.state = CaseState::AwaitingEnterprise;
        assert!(
            supervise(&mut case, &world.context(day(3, 20)), 0.8, 2)
                .unwrap()
                .is_empty()
        );
        assert_eq!(case.supervision, Supervision::None);
    }

    #[test]
    fn a_withdrawn_appeal_closes_its_open_case() {
        let mut case = case();
        let transition = withdraw(&mut case, "已自行解决", day(3, 3));
        assert_eq!(transition.to, CaseState::Closed);
        assert_eq!(case.outcome, Some(Outcome::Withdrawn));
    }

    /// A complaint (15 working days) accepted at noon on `date`, opened on `calendar`.
    fn complaint_on(calendar: &Calendar, date: chrono::NaiveDate) -> Case {
        let mut case = case();
        let start = deadline::end_of_day(date) - 12 * 3_600_000_000;
        let reckoned = deadline::reckon(calendar, start, 15);
        case.kind = AppealKind::Complaint;
        case.time_limit_days = 15;
        case.start_time = start;
        case.deadline = Some(reckoned.deadline);
        case.deadline_provisional = reckoned.provisional;
        case.deadline_base = start;
        case.deadline_working_days = 15;
        case
    }

    fn ymd(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A made-up 2027 for the tests (not the State Council's).
    const TEST_2027: &str = "year = 2027\nsource = \"test calendar\"\n\
        [[holiday]]\nname = \"元旦\"\nfirst = 2027-01-01\nlast = 2027-01-03\n";

    #[test]
    fn a_case_running_into_a_year_not_loaded_opens_with_a_provisional_deadline() {
        let calendar = Calendar::official();
        let placement = Placement {
            level: Level::County,
            department_id: "510821-jrj".into(),
            time_limit_days: 15,
            meeting_type: None,
            rule_id: None,
        };
        let start = deadline::end_of_day(ymd(2026, 12, 28)) - 12 * 3_600_000_000;
        let mut new = NewCase {
            accept_time: start,
            ..match_new_case()
        };
        new.kind = AppealKind::Complaint;
        let case = open(
            "510821-01P".into(),
            new,
            &placement,
            String::new(),
            &calendar,
            start,
        );
        assert!(case.deadline_provisional);
        assert_eq!(case.deadline, Some(deadline::end_of_day(ymd(2027, 1, 18))));
        assert_eq!(
            (case.deadline_base, case.deadline_working_days),
            (start, 15)
        );
        // Within the loaded years the deadline is exact.
        assert!(!complaint_on(&calendar, ymd(2026, 3, 2)).deadline_provisional);
    }

    /// A help request of 旺苍县 about financing; tests change what they need.
    fn match_new_case() -> NewCase {
        NewCase {
            appeal_id: "510821-01APPEAL".into(),
            number: "510821-20261228-0001".into(),
            uscc: "91350200776049653A".into(),
            enterprise_name: "旺苍县某建材有限公司".into(),
            jurisdiction_code: "510821".into(),
            category: Category::Financing,
            kind: AppealKind::HelpRequest,
            channel: Channel::OnlinePortal,
            title: "贷款".into(),
            description: "贷款审批慢".into(),
            enterprise_tags: vec![],
            contact_name: String::new(),
            contact_phone: String::new(),
            accept_time: 0,
        }
    }

    #[test]
    fn loading_the_year_recounts_a_provisional_deadline_with_a_note_in_china_time() {
        let official = Calendar::official();
        let mut case = complaint_on(&official, ymd(2026, 12, 28));
        let loaded = official.with_year_toml(TEST_2027).unwrap();
        let transition = recount_deadline(&mut case, &loaded, Some(2027)).expect("a change");
        // 2027-01-01 is off: the 15th working day is Tue 2027-01-19.
        assert_eq!(case.deadline, Some(deadline::end_of_day(ymd(2027, 1, 19))));
        assert!(!case.deadline_provisional);
        assert_eq!(transition.action, CaseAction::RecountDeadline);
        assert_eq!(transition.actor_role, "system");
        assert_eq!(
            transition.note,
            "按2027年工作日历重算办理时限：2027-01-18 → 2027-01-19"
        );
        // Counted again, nothing changes: no second entry.
        assert_eq!(recount_deadline(&mut case, &loaded, Some(2027)), None);
        // An exact deadline is never recounted, nor a closed case's.
        let mut exact = complaint_on(&official, ymd(2026, 3, 2));
        assert_eq!(recount_deadline(&mut exact, &loaded, Some(2027)), None);
        let mut closed = complaint_on(&official, ymd(2026, 12, 28));
        closed.state = CaseState::Closed;
        assert_eq!(recount_deadline(&mut closed, &loaded, Some(2027)), None);
    }

    #[test]
    fn a_case_without_a_deadline_gets_one() {
        let official = Calendar::official();
        let mut case = complaint_on(&official, ymd(2026, 12, 28));
        case.deadline = None;
        case.deadline_provisional = false;
        let transition = recount_deadline(&mut case, &official, None).expect("a change");
        assert_eq!(case.deadline, Some(deadline::end_of_day(ymd(2027, 1, 18))));
        assert!(case.deadline_provisional);
        assert!(
            transition
                .note
                .starts_with("按已载入的工作日历补定办理时限：2027-01-18（暂定"),
            "{}",
            transition.note
        );
    }

    #[test]
    fn an_extension_into_a_year_not_loaded_is_provisional_and_recounted_whole() {
        let world = World::new();
        let official = Calendar::official();
        // Due Fri 2026-12-18, exact; 10 more working days run into 2027.
        let mut case = complaint_on(&official, ymd(2026, 11, 27));
        assert!(!case.deadline_provisional);
        assert_eq!(case.deadline, Some(deadline::end_of_day(ymd(2026, 12, 18))));
        case.state = CaseState::InProgress;
        let jrj = handler("510821-jrj");
        let coordinator = principal(&[Role::Coordinator], "510821");
        let now = deadline::end_of_day(ymd(2026, 12, 15)) - 12 * 3_600_000_000;
        world
            .act(
                &mut case,
                &jrj,
                Command::RequestExtension {
                    working_days: 10,
                    reason: "需要现场核查".into(),
                },
                now,
            )
            .unwrap();
        world
            .act(
                &mut case,
                &coordinator,
                Command::DecideExtension {
                    approve: true,
                    note: String::new(),
                },
                now,
            )
            .expect("an extension into 2027 is approved, provisionally");
        // 12-21..12-25, 12-28..12-31 (9), then Fri 2027-01-01 on weekends only.
        assert_eq!(case.deadline, Some(deadline::end_of_day(ymd(2027, 1, 1))));
        assert!(case.deadline_provisional);
        let loaded = official.with_year_toml(TEST_2027).unwrap();
        recount_deadline(&mut case, &loaded, Some(2027)).expect("a change");
        // 2027-01-01..03 off: Mon 2027-01-04.
        assert_eq!(case.deadline, Some(deadline::end_of_day(ymd(2027, 1, 4))));
        assert!(!case.deadline_provisional);
    }
}
