//! Policy's rules as plain types and functions, with no I/O and no protobuf:
//! the states of a policy version and what each allows (决策参与), the
//! consultation period (征求意见), who may act, and which enterprises a policy
//! applies to (政策推送).

pub mod rules;

use serde::{Deserialize, Serialize};
use zhengqi_shared::named_enum;

named_enum! {
    /// Where a policy version stands.
    pub enum PolicyState {
        /// 草案.
        Draft = "DRAFT",
        /// 征求意见.
        Consultation = "CONSULTATION",
        /// 已发布.
        Published = "PUBLISHED",
        /// 已废止.
        Repealed = "REPEALED",
        /// 已修订: replaced by a newer published version.
        Superseded = "SUPERSEDED",
    }
}

impl PolicyState {
    /// The state as the portal names it.
    pub fn zh(self) -> &'static str {
        match self {
            PolicyState::Draft => "草案",
            PolicyState::Consultation => "征求意见",
            PolicyState::Published => "已发布",
            PolicyState::Repealed => "已废止",
            PolicyState::Superseded => "已修订",
        }
    }
}

named_enum! {
    /// What kind of document a policy is.
    pub enum PolicyKind {
        /// 涉企政策.
        Policy = "POLICY",
        /// 亲清清单.
        ConductList = "CONDUCT_LIST",
    }
}

named_enum! {
    /// How a comment was taken up.
    pub enum Disposition {
        /// 采纳.
        Adopted = "ADOPTED",
        /// 部分采纳.
        PartlyAdopted = "PARTLY_ADOPTED",
        /// 不予采纳.
        NotAdopted = "NOT_ADOPTED",
    }
}

named_enum! {
    /// What an enterprise received when a policy was fulfilled (兑现).
    pub enum FulfillmentKind {
        Subsidy = "SUBSIDY",
        Reward = "REWARD",
        TaxAndFeeRelief = "TAX_AND_FEE_RELIEF",
        InterestSubsidy = "INTEREST_SUBSIDY",
        NonMonetary = "NON_MONETARY",
        Other = "OTHER",
    }
}

pub use zhengqi_shared::rating::Rating;

/// One article (条) of a policy document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    pub number: String,
    pub title: String,
    pub text: String,
}

/// Which enterprises a policy applies to; an empty list matches every value,
/// except that an empty jurisdiction list means the issuing jurisdiction and
/// those below it (a county's policy never reaches another county).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applicability {
    pub jurisdiction_codes: Vec<String>,
    pub industries: Vec<String>,
    /// `EnterpriseSize` names without prefix, e.g. `SMALL`.
    pub sizes: Vec<String>,
    /// `EnterpriseTag` names without prefix, e.g. `INDUSTRIAL`.
    pub tags: Vec<String>,
}

/// What a drafter may set on a policy version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub kind: PolicyKind,
    pub title: String,
    pub document_number: String,
    pub department_id: String,
    pub summary: String,
    pub articles: Vec<Article>,
    pub applicability: Applicability,
    pub effective_time: Option<i64>,
    pub expire_time: Option<i64>,
    pub closely_concerns_enterprises: bool,
}

/// One version of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub id: String,
    pub version: i32,
    pub jurisdiction_code: String,
    pub state: PolicyState,
    pub draft: Draft,
    pub consultation_open_time: Option<i64>,
    pub consultation_close_time: Option<i64>,
    pub publish_time: Option<i64>,
    pub repeal_time: Option<i64>,
    pub repeal_reason: String,
    pub amendment_reason: String,
    pub comment_count: i64,
    pub unanswered_comment_count: i64,
    /// Counts the changes of this version; the etag is made of it.
    pub revision: i64,
    pub create_time: i64,
    pub update_time: i64,
    pub created_by: String,
}

impl Policy {
    /// A new version in DRAFT: the first of a policy, or an amendment
    /// (`amendment_reason` set) of the published one.
    pub fn new_draft(
        id: String,
        version: i32,
        jurisdiction_code: String,
        draft: Draft,
        amendment_reason: String,
        created_by: String,
        now: i64,
    ) -> Self {
        Self {
            id,
            version,
            jurisdiction_code,
            state: PolicyState::Draft,
            draft,
            consultation_open_time: None,
            consultation_close_time: None,
            publish_time: None,
            repeal_time: None,
            repeal_reason: String::new(),
            amendment_reason,
            comment_count: 0,
            unanswered_comment_count: 0,
            revision: 1,
            create_time: now,
            update_time: now,
            created_by,
        }
    }

    pub fn etag(&self) -> String {
        format!("{}.{}", self.version, self.revision)
    }

    /// Whether everyone who is authenticated may read this version: once
    /// published it is public record, and a consultation is public so that
    /// enterprises can comment.
    pub fn is_public(&self) -> bool {
        !matches!(self.state, PolicyState::Draft)
    }

    /// The policy as people name it in Chinese: its title in 《》.
    pub fn named(&self) -> String {
        format!("《{}》", self.draft.title)
    }
}

/// A comment on a policy version under consultation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: String,
    pub policy_id: String,
    pub policy_version: i32,
    pub jurisdiction_code: String,
    pub article: String,
    pub text: String,
    pub uscc: String,
    pub enterprise_name: String,
    pub author: String,
    pub disposition: Option<Disposition>,
    pub reply: String,
    pub replied_by: String,
    pub reply_time: Option<i64>,
    pub create_time: i64,
    pub revision: i64,
}

impl Comment {
    pub fn etag(&self) -> String {
        self.revision.to_string()
    }
}

/// A question about a policy (政策问答).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub id: String,
    pub policy_id: String,
    pub jurisdiction_code: String,
    pub text: String,
    pub uscc: String,
    pub enterprise_name: String,
    pub asker: String,
    pub answer: String,
    pub answered_by: String,
    pub answer_time: Option<i64>,
    pub public: bool,
    pub create_time: i64,
    pub revision: i64,
}

impl Question {
    pub fn etag(&self) -> String {
        self.revision.to_string()
    }
}

/// A fulfilment record (兑现).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulfillment {
    pub id: String,
    pub policy_id: String,
    pub policy_version: i32,
    pub uscc: String,
    pub enterprise_name: String,
    pub jurisdiction_code: String,
    pub department_id: String,
    pub kind: FulfillmentKind,
    pub amount_fen: i64,
    pub note: String,
    pub fulfill_time: i64,
    pub recorded_by: String,
    pub create_time: i64,
}

/// An enterprise's review of a policy's implementation (实施评价): one per
/// enterprise and policy version; a second replaces the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRating {
    pub id: String,
    pub policy_id: String,
    pub policy_version: i32,
    pub uscc: String,
    pub enterprise_name: String,
    pub jurisdiction_code: String,
    pub rating: Rating,
    pub comment: String,
    pub create_time: i64,
    pub update_time: i64,
}

/// A policy pushed to an enterprise's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub id: String,
    pub uscc: String,
    /// The enterprise's jurisdiction, for the scope of government readers.
    pub jurisdiction_code: String,
    pub policy_id: String,
    pub policy_version: i32,
    pub kind: PolicyKind,
    pub title: String,
    pub summary: String,
    pub document_number: String,
    pub push_time: i64,
    pub read_time: Option<i64>,
}

/// An enterprise's registration as intake last reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enterprise {
    pub uscc: String,
    pub name: String,
    pub jurisdiction_code: String,
    pub industry: String,
    /// `EnterpriseSize` name without prefix; empty when unknown.
    pub size: String,
    pub tags: Vec<String>,
}
