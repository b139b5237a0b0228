//! Routing's rules as plain types and functions: what a case is, who may move
//! it where (`machine`), how its deadline runs on the working-day calendar
//! (`deadline`), how the ledger chains its entries (`ledger`), and where a new
//! case goes (`rules`), and routing's part of the city's reference data
//! (`reference`). No I/O, no protobuf.

pub mod deadline;
pub mod ledger;
pub mod ledger_sheet;
pub mod machine;
pub mod meeting;
pub mod reference;
pub mod rules;

pub use zhengqi_shared::appeal::{AppealKind, Category, Channel, EnterpriseTag};
use zhengqi_shared::named_enum;

named_enum! {
    /// Where a case stands.
    pub enum CaseState {
        /// 待受理.
        Pending = "PENDING",
        /// 已受理 (also after a return, 退单).
        Accepted = "ACCEPTED",
        /// 不予受理; final.
        Rejected = "REJECTED",
        /// 已交办.
        Assigned = "ASSIGNED",
        /// 办理中.
        InProgress = "IN_PROGRESS",
        /// 待企业补充: the clock is paused.
        AwaitingEnterprise = "AWAITING_ENTERPRISE",
        /// 已办结.
        Resolved = "RESOLVED",
        /// 已结案; final.
        Closed = "CLOSED",
    }
}

impl CaseState {
    /// REJECTED and CLOSED: nothing moves a case out of them.
    pub fn is_final(self) -> bool {
        matches!(self, CaseState::Rejected | CaseState::Closed)
    }

    /// Open cases are on the supervisor's clock: not final and not yet resolved.
    pub fn is_open(self) -> bool {
        !self.is_final() && self != CaseState::Resolved
    }
}

named_enum! {
    /// Which tier handles a case.
    pub enum Level {
        /// 县级.
        County = "COUNTY",
        /// 市级.
        City = "CITY",
        /// 会商.
        Meeting = "MEETING",
    }
}

named_enum! {
    /// How a resolved case ended.
    pub enum Outcome {
        /// 已解决.
        Solved = "SOLVED",
        /// 已解释说明.
        Explained = "EXPLAINED",
        /// 暂无法解决.
        Unsolvable = "UNSOLVABLE",
        /// 撤回: the enterprise withdrew its appeal.
        Withdrawn = "WITHDRAWN",
    }
}

named_enum! {
    /// Deadline supervision (督办).
    pub enum Supervision {
        None = "NONE",
        /// 黄灯预警.
        Yellow = "YELLOW",
        /// 红灯督办.
        Red = "RED",
    }
}

named_enum! {
    /// The six consultation meetings (六大会商).
    pub enum MeetingType {
        /// 重点项目.
        KeyProject = "KEY_PROJECT",
        /// 工业.
        Industrial = "INDUSTRIAL",
        /// 民营企业.
        PrivateEnterprise = "PRIVATE_ENTERPRISE",
        /// 返乡创业.
        ReturningEntrepreneur = "RETURNING_ENTREPRENEUR",
        /// 外贸.
        ForeignTrade = "FOREIGN_TRADE",
        /// 服务业.
        ServiceIndustry = "SERVICE_INDUSTRY",
    }
}

impl MeetingType {
    /// What people call a meeting of this kind, e.g. `民营企业会商会` (a city
    /// may name its own; see `MeetingKinds::name`).
    pub fn chinese(self) -> &'static str {
        match self {
            MeetingType::KeyProject => "重点项目会商会",
            MeetingType::Industrial => "工业会商会",
            MeetingType::PrivateEnterprise => "民营企业会商会",
            MeetingType::ReturningEntrepreneur => "返乡创业会商会",
            MeetingType::ForeignTrade => "外贸会商会",
            MeetingType::ServiceIndustry => "服务业会商会",
        }
    }
}

named_enum! {
    /// Where a request for more working days stands.
    pub enum ExtensionState {
        Requested = "REQUESTED",
        Approved = "APPROVED",
        Denied = "DENIED",
    }
}

named_enum! {
    /// What a ledger entry records.
    pub enum CaseAction {
        Open = "OPEN",
        Accept = "ACCEPT",
        Reject = "REJECT",
        Assign = "ASSIGN",
        Claim = "CLAIM",
        AddProgress = "ADD_PROGRESS",
        Resolve = "RESOLVE",
        Reopen = "REOPEN",
        Close = "CLOSE",
        Escalate = "ESCALATE",
        RequestExtension = "REQUEST_EXTENSION",
        DecideExtension = "DECIDE_EXTENSION",
        RequestInfo = "REQUEST_INFO",
        ProvideInfo = "PROVIDE_INFO",
        Return = "RETURN",
        AddToAgenda = "ADD_TO_AGENDA",
        RecordDecision = "RECORD_DECISION",
        LinkDuplicate = "LINK_DUPLICATE",
        /// The enterprise withdrew the appeal at intake.
        Withdraw = "WITHDRAW",
        /// The deadline clock changed the supervision (黄灯 / 红灯).
        Supervise = "SUPERVISE",
        /// A provisional deadline was counted again on a newly loaded year.
        RecountDeadline = "RECOUNT_DEADLINE",
    }
}

/// A request for more working days (延期申请) and its decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub state: ExtensionState,
    pub working_days: u32,
    pub reason: String,
    pub requested_by: String,
    pub request_time: i64,
    pub decided_by: String,
    pub decide_time: Option<i64>,
    pub decision_note: String,
}

/// A case: the handling of one appeal, item by item in the ledger (台账).
/// Times are microseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub id: String,
    /// The appeal's acceptance number (受理编号).
    pub number: String,
    pub appeal_id: String,
    pub uscc: String,
    pub enterprise_name: String,
    /// The jurisdiction that owns the case and whose ledger records it.
    pub jurisdiction_code: String,
    pub level: Level,
    /// The department handling it (or proposed by the rules while PENDING); empty when none.
    pub department_id: String,
    pub state: CaseState,
    pub category: Category,
    pub kind: AppealKind,
    pub channel: Channel,
    pub title: String,
    pub description: String,
    pub enterprise_tags: Vec<EnterpriseTag>,
    pub contact_name: String,
    pub contact_phone: String,
    pub time_limit_days: u32,
    /// When the clock started: the appeal's acceptance at intake, or a reopening.
    pub start_time: i64,
    /// End of the last working day of the time limit, Beijing time. Always set
    /// for cases opened now; `None` only on cases stored before provisional
    /// deadlines existed, until the calendar is loaded or routing restarts.
    pub deadline: Option<i64>,
    /// The deadline runs into a year whose calendar is not loaded: it is
    /// counted on weekends only (暂定) and counted again when the year arrives.
    pub deadline_provisional: bool,
    /// What the deadline is counted from: the clock's start, or the deadline
    /// it moved from (an extension, a pause) or a meeting decided.
    pub deadline_base: i64,
    /// Working days from `deadline_base` to `deadline` (0: the deadline is
    /// `deadline_base` itself, as a meeting decided it).
    pub deadline_working_days: u32,
    pub supervision: Supervision,
    pub outcome: Option<Outcome>,
    pub resolution: String,
    pub meeting_id: String,
    pub meeting_type: Option<MeetingType>,
    pub reject_reason: String,
    pub returns_count: u32,
    pub return_reason: String,
    pub reopen_count: u32,
    pub escalation_reason: String,
    pub extension: Option<Extension>,
    pub info_question: String,
    pub info_answer: String,
    pub pause_time: Option<i64>,
    pub paused_state: Option<CaseState>,
    pub butler: String,
    pub claimed_by: String,
    pub resolve_time: Option<i64>,
    pub close_time: Option<i64>,
    /// When the contact was erased, the case closed longer ago than the
    /// retention period; `None` while kept.
    pub personal_data_erase_time: Option<i64>,
    pub duplicate_appeal_ids: Vec<String>,
    /// The routing rule that placed the case, if any.
    pub routing_rule_id: String,
    /// Bumped on every change; the `etag` is made from it.
    pub version: i64,
    pub create_time: i64,
    pub update_time: i64,
}

impl Case {
    /// The opaque `etag` of this version of the case.
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    /// The case as people name it in Chinese: `案件 <受理编号>`.
    pub fn zh_name(&self) -> String {
        if self.number.is_empty() {
            "该案件".to_owned()
        } else {
            format!("案件 {}", self.number)
        }
    }
}

/// A year of the working-day calendar an operator loaded (or, with no
/// `loaded_by`, one built in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedYear {
    pub year: i32,
    /// The notice it was taken from.
    pub source: String,
    /// The calendar file as loaded (TOML).
    pub content: String,
    pub loaded_by: String,
    pub load_time: i64,
}

/// The `etag` of a version of any resource.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Longest reason, note, question, answer or resolution, in characters.
pub const TEXT_MAX_CHARS: usize = 5_000;
/// The most working days one extension may ask for.
pub const EXTENSION_MAX_DAYS: u32 = 60;

named_enum! {
    /// What kind of official a butler is.
    pub enum ButlerKind {
        /// 项目管家: for a key project.
        ProjectButler = "PROJECT_BUTLER",
        /// 店小二: for any other enterprise.
        ShopAssistant = "SHOP_ASSISTANT",
    }
}

/// The official who looks after an enterprise (项目管家 / 店小二), is told of
/// every transition of its cases and sees them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Butler {
    pub uscc: String,
    pub enterprise_name: String,
    pub jurisdiction_code: String,
    pub official: String,
    pub official_name: String,
    pub official_phone: String,
    pub kind: ButlerKind,
    pub version: i64,
    pub create_time: i64,
    pub update_time: i64,
}
