//! Evaluation's rules as plain types and functions: reviews and who may give
//! them (`review`), the handling of a bad review (`rectification`), campaign
//! results (`campaign`), periods of assessments (`period`) and the record of an
//! enterprise: penalty tiers, suspensions, credit lists (`credit`). No I/O, no
//! protobuf.

pub mod campaign;
pub mod credit;
pub mod period;
pub mod rectification;
pub mod review;

use zhengqi_shared::named_enum;

pub use zhengqi_shared::rating::Rating;

named_enum! {
    /// Who evaluates whom.
    pub enum Direction {
        /// 企业评部门.
        EnterpriseToDepartment = "ENTERPRISE_TO_DEPARTMENT",
        /// 市场主体评窗口.
        EnterpriseToWindow = "ENTERPRISE_TO_WINDOW",
        /// 第三方评政企沟通.
        ThirdPartyToCommunication = "THIRD_PARTY_TO_COMMUNICATION",
        /// 部门评市场主体.
        GovernmentToEnterprise = "GOVERNMENT_TO_ENTERPRISE",
    }
}

named_enum! {
    /// What a review rates.
    pub enum TargetKind {
        Department = "DEPARTMENT",
        /// 服务窗口.
        ServiceWindow = "SERVICE_WINDOW",
        Jurisdiction = "JURISDICTION",
        Enterprise = "ENTERPRISE",
    }
}

named_enum! {
    /// Whether a review has been given.
    pub enum ReviewState {
        /// 待评价.
        Invited = "INVITED",
        /// 已评价.
        Submitted = "SUBMITTED",
    }
}

named_enum! {
    /// Where the handling of a bad review stands (核实 → 整改 → 回访).
    pub enum RectificationState {
        /// 待核实.
        Verifying = "VERIFYING",
        /// 核实不属实; closed.
        Unfounded = "UNFOUNDED",
        /// 整改中.
        Rectifying = "RECTIFYING",
        /// 待回访.
        AwaitingReturnVisit = "AWAITING_RETURN_VISIT",
        /// 已办结.
        Closed = "CLOSED",
    }
}

impl RectificationState {
    /// The state as people know it.
    pub fn zh(self) -> &'static str {
        match self {
            RectificationState::Verifying => "待核实",
            RectificationState::Unfounded => "核实不属实",
            RectificationState::Rectifying => "整改中",
            RectificationState::AwaitingReturnVisit => "待回访",
            RectificationState::Closed => "已办结",
        }
    }

    /// Still on the clock: not unfounded and not closed.
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            RectificationState::Unfounded | RectificationState::Closed
        )
    }
}

named_enum! {
    /// Where the reopening of a case after a valid bad review stands: routing
    /// is asked by a direct call, retried until it answers.
    pub enum CaseReopen {
        /// To be asked.
        Pending = "PENDING",
        /// Routing reopened the case.
        Done = "DONE",
        /// Routing refused (e.g. the case was closed meanwhile).
        Failed = "FAILED",
    }
}

named_enum! {
    /// Which rating campaign.
    pub enum CampaignKind {
        /// 百企评执法.
        LawEnforcement = "LAW_ENFORCEMENT",
        /// 百企评营商环境.
        BusinessEnvironment = "BUSINESS_ENVIRONMENT",
        /// 其他.
        Other = "OTHER",
    }
}

named_enum! {
    /// How serious a violation is.
    pub enum Severity {
        /// 轻微.
        Minor = "MINOR",
        /// 一般.
        General = "GENERAL",
        /// 严重.
        Serious = "SERIOUS",
    }
}

named_enum! {
    /// The penalty tier decided for a violation.
    pub enum PenaltyDecision {
        /// 首违不罚.
        NoPenaltyFirstMinor = "NO_PENALTY_FIRST_MINOR",
        Standard = "STANDARD",
        /// 再犯重罚.
        HeavyRepeat = "HEAVY_REPEAT",
    }
}

named_enum! {
    /// Where a proposed suspension (责令停产停业) stands.
    pub enum SuspensionState {
        /// 待审批.
        Proposed = "PROPOSED",
        /// 已批准.
        Approved = "APPROVED",
        /// 不予批准.
        Rejected = "REJECTED",
    }
}

named_enum! {
    /// Which credit list.
    pub enum CreditList {
        /// 红名单.
        Red = "RED",
        /// 黑名单.
        Black = "BLACK",
    }
}

impl SuspensionState {
    /// The state as people know it.
    pub fn zh(self) -> &'static str {
        match self {
            SuspensionState::Proposed => "待审批",
            SuspensionState::Approved => "已批准",
            SuspensionState::Rejected => "不予批准",
        }
    }
}

impl CreditList {
    /// The list as people know it.
    pub fn zh(self) -> &'static str {
        match self {
            CreditList::Red => "红名单",
            CreditList::Black => "黑名单",
        }
    }
}

/// Longest comment, note, reason or text, in characters.
pub const TEXT_MAX_CHARS: usize = 5_000;
/// Longest title or short name, in characters.
pub const TITLE_MAX_CHARS: usize = 200;

/// The `etag` of a version of any resource.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// A rating of one aspect (e.g. `efficiency`, 办事效率).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DimensionRating {
    pub dimension: String,
    pub rating: String,
}

/// A review, or the invitation to give one.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub id: String,
    pub direction: Direction,
    pub target_kind: TargetKind,
    pub target_id: String,
    pub case_id: String,
    pub rating: Option<Rating>,
    pub comment: String,
    pub dimensions: Vec<(String, Rating)>,
    pub state: ReviewState,
    pub jurisdiction_code: String,
    pub department_id: String,
    pub uscc: String,
    pub enterprise_name: String,
    pub reviewer: String,
    pub rectification_id: String,
    pub invite_time: Option<i64>,
    pub submit_time: Option<i64>,
    pub create_time: i64,
    /// The service record a window review rated; empty for other reviews.
    pub service_record_id: String,
}

/// A visit or transaction a service window served an enterprise with (办件):
/// what lets the enterprise rate the window, once.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRecord {
    pub id: String,
    /// `<department id>-<window>`.
    pub window_id: String,
    pub department_id: String,
    pub jurisdiction_code: String,
    pub uscc: String,
    pub enterprise_name: String,
    pub matter: String,
    pub transaction_number: String,
    pub serve_time: i64,
    pub registered_by: String,
    /// The review given for it; empty until rated.
    pub review_id: String,
    pub create_time: i64,
}

/// The handling of one bad review.
#[derive(Debug, Clone, PartialEq)]
pub struct Rectification {
    pub id: String,
    pub review_id: String,
    pub case_id: String,
    pub jurisdiction_code: String,
    pub department_id: String,
    /// The reviewing enterprise, for its own view; never shown to the department.
    pub uscc: String,
    pub state: RectificationState,
    pub rating: Rating,
    pub review_comment: String,
    pub due_time: Option<i64>,
    /// The due time runs into a year whose calendar is not loaded: counted on
    /// weekends only (暂定) and counted again when the year arrives.
    pub due_provisional: bool,
    /// Working days from the review (`create_time`) to `due_time`.
    pub due_working_days: u32,
    pub valid: bool,
    pub verification_note: String,
    pub verified_by: String,
    pub verify_time: Option<i64>,
    pub rectification_text: String,
    pub rectified_by: String,
    pub rectify_time: Option<i64>,
    pub return_visit_satisfied: bool,
    pub return_visit_note: String,
    pub visited_by: String,
    pub visit_time: Option<i64>,
    pub return_visit_count: i64,
    /// A valid bad review about a case reopens the case in routing.
    pub case_reopen: Option<CaseReopen>,
    pub case_reopen_note: String,
    pub version: i64,
    pub create_time: i64,
    pub update_time: i64,
}

impl Rectification {
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    /// Open and past its due time.
    pub fn is_overdue(&self, now: i64) -> bool {
        self.state.is_open() && self.due_time.is_some_and(|due| due < now)
    }
}

/// One question of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CampaignItem {
    pub key: String,
    pub text: String,
    pub department_id: String,
}

/// A rating campaign (百企评).
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub id: String,
    pub jurisdiction_code: String,
    pub kind: CampaignKind,
    pub title: String,
    pub description: String,
    pub items: Vec<CampaignItem>,
    pub start_time: i64,
    pub end_time: i64,
    pub invited_usccs: Vec<String>,
    pub response_count: i64,
    pub created_by: String,
    pub create_time: i64,
    pub version: i64,
}

impl Campaign {
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    /// Accepting responses at `now`.
    pub fn is_open(&self, now: i64) -> bool {
        self.start_time <= now && now <= self.end_time
    }
}

/// The answer to one campaign item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignAnswer {
    pub item_key: String,
    pub rating: Rating,
    pub comment: String,
}

/// An enterprise's answers to a campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignResponse {
    pub id: String,
    pub campaign_id: String,
    pub uscc: String,
    pub enterprise_name: String,
    pub answers: Vec<CampaignAnswer>,
    pub comment: String,
    pub create_time: i64,
}

/// A third-party assessment (第三方评估).
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub id: String,
    pub evaluator: String,
    pub evaluator_name: String,
    pub jurisdiction_code: String,
    pub department_id: String,
    pub period: String,
    pub score: f64,
    pub summary: String,
    pub create_time: i64,
}

/// An enterprise's violation and its penalty tier.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub id: String,
    pub uscc: String,
    pub enterprise_name: String,
    pub jurisdiction_code: String,
    pub department_id: String,
    pub severity: Severity,
    pub description: String,
    pub promptly_corrected: bool,
    pub decision: PenaltyDecision,
    pub decision_reason: String,
    pub prior_violation_count: i64,
    pub occur_time: i64,
    pub recorded_by: String,
    pub create_time: i64,
}

/// A proposal to halt an enterprise's work or business and the city's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Suspension {
    pub id: String,
    pub uscc: String,
    pub enterprise_name: String,
    pub jurisdiction_code: String,
    pub department_id: String,
    pub violation_id: String,
    pub reason: String,
    /// The period asked for; it takes effect only once approved.
    pub proposed_start: Option<i64>,
    pub proposed_end: Option<i64>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub state: SuspensionState,
    pub proposed_by: String,
    pub propose_time: i64,
    pub decided_by: String,
    pub decide_time: Option<i64>,
    pub decision_note: String,
    pub version: i64,
}

impl Suspension {
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    /// Approved and its period covers `now`.
    pub fn in_force(&self, now: i64) -> bool {
        self.state == SuspensionState::Approved
            && self.start_time.is_some_and(|start| start <= now)
            && self.end_time.is_none_or(|end| now < end)
    }
}

/// An enterprise's place on the red or black list.
#[derive(Debug, Clone, PartialEq)]
pub struct CreditListing {
    pub id: String,
    pub uscc: String,
    pub enterprise_name: String,
    pub list: CreditList,
    pub reason: String,
    pub expire_time: Option<i64>,
    pub jurisdiction_code: String,
    pub listed_by: String,
    pub create_time: i64,
    pub update_time: i64,
    pub version: i64,
}

impl CreditListing {
    pub fn etag(&self) -> String {
        etag(self.version)
    }

    /// Listed at `now`: no expiry, or an expiry still ahead.
    pub fn in_force(&self, now: i64) -> bool {
        self.expire_time.is_none_or(|expire| now < expire)
    }
}

pub use zhengqi_shared::clock::{beijing_date, end_of_day};
