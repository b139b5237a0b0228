//! Intake's rules as plain types and functions: what an appeal is, how it is
//! numbered, and when two appeals are the same matter. No I/O, no protobuf.

use chrono::NaiveDate;
pub use zhengqi_shared::appeal::{AppealKind, Category, Channel, EnterpriseTag};
use zhengqi_shared::auth::Role;
use zhengqi_shared::named_enum;
use zhengqi_shared::reference::{JurisdictionCode, Uscc};

/// Who files on which channel (受理渠道): an enterprise on the online portal
/// itself; a business-environment supervisor as a supervisor; the
/// business-environment office (营商办) and systems relay every channel — the
/// 12345 hotline, the mayor's direct line, industry departments, chambers of
/// commerce, third parties and county systems. The channel decides where a
/// case starts (the mayor's line goes straight to the city), so it is never
/// whatever a caller says.
pub fn may_file_on(role: Role, channel: Channel) -> bool {
    match role {
        Role::Enterprise => channel == Channel::OnlinePortal,
        Role::Supervisor => channel == Channel::Supervisor,
        Role::Coordinator | Role::Service => true,
        Role::Handler | Role::Leader | Role::Evaluator | Role::Admin => false,
    }
}

/// The channels a caller holding `roles` may file on, for the message that
/// refuses another.
pub fn channels_for(roles: &[Role]) -> Vec<Channel> {
    Channel::ALL
        .iter()
        .copied()
        .filter(|channel| roles.iter().any(|role| may_file_on(*role, *channel)))
        .collect()
}

/// A channel as people call it, for the words that refuse it.
pub fn channel_zh(channel: Channel) -> &'static str {
    match channel {
        Channel::Hotline12345 => "12345政务服务便民热线",
        Channel::MayorDirectLine => "市长直通车",
        Channel::OnlinePortal => "网上平台",
        Channel::IndustryDepartment => "行业部门",
        Channel::ChamberOfCommerce => "商会",
        Channel::Supervisor => "营商环境监督员",
        Channel::ThirdParty => "第三方评估",
        Channel::CountySystem => "县区系统",
    }
}

named_enum! {
    /// Where an appeal stands at intake.
    pub enum AppealStatus {
        Received = "RECEIVED",
        /// The same matter as an earlier appeal: linked, never dropped.
        Duplicate = "DUPLICATE",
        Withdrawn = "WITHDRAWN",
    }
}

named_enum! {
    pub enum EnterpriseSize {
        Micro = "MICRO",
        Small = "SMALL",
        Medium = "MEDIUM",
        Large = "LARGE",
    }
}

named_enum! {
    pub enum Ownership {
        /// 民营.
        Private = "PRIVATE",
        /// 国有.
        State = "STATE",
        /// 外资.
        Foreign = "FOREIGN",
        Other = "OTHER",
    }
}

/// Longest title, in characters.
pub const TITLE_MAX_CHARS: usize = 200;
/// Longest description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 10_000;
/// Longest enterprise name, contact name and reason, in characters.
pub const NAME_MAX_CHARS: usize = 200;
pub const REASON_MAX_CHARS: usize = 2_000;
/// An appeal from the same enterprise in the same category with a similar title
/// within this many days is the same matter.
pub const DUPLICATE_WINDOW_DAYS: i64 = 30;
/// How alike two titles must be (Dice coefficient of character bigrams).
pub const SIMILAR_TITLE_THRESHOLD: f64 = 0.6;

/// The enterprise an appeal concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnterpriseRef {
    pub uscc: Uscc,
    pub name: String,
}

/// A validated appeal, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAppeal {
    /// The caller's idempotency key; `None` when the caller sent none.
    pub request_id: Option<String>,
    pub channel: Channel,
    pub jurisdiction: JurisdictionCode,
    pub enterprise: EnterpriseRef,
    pub kind: AppealKind,
    pub category: Category,
    pub title: String,
    pub description: String,
    pub contact_name: String,
    pub contact_phone: String,
}

/// A stored appeal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appeal {
    pub id: String,
    pub number: String,
    pub request_id: String,
    pub submitter: String,
    pub channel: Channel,
    pub jurisdiction_code: String,
    pub uscc: String,
    pub enterprise_name: String,
    pub kind: AppealKind,
    pub category: Category,
    pub title: String,
    pub description: String,
    pub contact_name: String,
    pub contact_phone: String,
    pub status: AppealStatus,
    pub duplicate_of: Option<String>,
    pub withdraw_reason: String,
    /// Microseconds since the Unix epoch.
    pub create_time: i64,
    pub update_time: i64,
    /// When the contact was erased, its retention period over.
    pub personal_data_erase_time: Option<i64>,
}

/// A registered enterprise (市场主体).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enterprise {
    pub uscc: Uscc,
    pub name: String,
    pub jurisdiction: JurisdictionCode,
    pub industry: String,
    pub size: Option<EnterpriseSize>,
    pub ownership: Option<Ownership>,
    pub tags: Vec<EnterpriseTag>,
    pub create_time: i64,
    pub update_time: i64,
}

/// China Standard Time: acceptance numbers carry the Beijing date.
pub use zhengqi_shared::clock::beijing_date;

/// Acceptance number (受理编号) `<jurisdiction>-<yyyymmdd>-<daily sequence>`, e.g.
/// `510821-20261127-0007`.
pub fn acceptance_number(jurisdiction: &str, date: NaiveDate, sequence: i64) -> String {
    format!("{jurisdiction}-{}-{sequence:04}", date.format("%Y%m%d"))
}

/// A title reduced to what matters for comparing matters: letters, digits and
/// CJK characters, lower-cased; punctuation and spaces dropped.
pub fn title_key(title: &str) -> String {
    title
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether two title keys describe the same matter: equal, or alike by the Dice
/// coefficient of their character bigrams (which suits Chinese text, where
/// words are not separated by spaces).
pub fn similar_titles(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let bigrams = |s: &str| -> Vec<(char, char)> {
        let chars: Vec<char> = s.chars().collect();
        let mut pairs: Vec<(char, char)> = chars.windows(2).map(|w| (w[0], w[1])).collect();
        pairs.sort_unstable();
        pairs
    };
    let (x, y) = (bigrams(a), bigrams(b));
    if x.is_empty() || y.is_empty() {
        return false;
    }
    // Multiset intersection of two sorted lists.
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    (2 * shared) as f64 / (x.len() + y.len()) as f64 >= SIMILAR_TITLE_THRESHOLD
}

/// Why an appeal cannot be withdrawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WithdrawRefusal {
    AlreadyWithdrawn,
}

/// An appeal may be withdrawn once, by its enterprise, whatever its handling.
pub fn check_withdraw(appeal: &Appeal) -> Result<(), WithdrawRefusal> {
    match appeal.status {
        AppealStatus::Withdrawn => Err(WithdrawRefusal::AlreadyWithdrawn),
        AppealStatus::Received | AppealStatus::Duplicate => Ok(()),
    }
}

/// A contact phone: digits with an optional leading `+` and `-` or spaces
/// between groups, 5 to 20 digits (hotlines, landlines with area codes, mobiles).
pub fn valid_phone(phone: &str) -> bool {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let rest_ok = phone
        .char_indices()
        .all(|(i, c)| c.is_ascii_digit() || c == '-' || c == ' ' || (c == '+' && i == 0));
    rest_ok && (5..=20).contains(&digits)
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    #[test]
    fn acceptance_numbers_carry_jurisdiction_beijing_date_and_sequence() {
        // 2026-11-26 20:00 UTC is already 2026-11-27 in Beijing.
        let micros = DateTime::parse_from_rfc3339("2026-11-26T20:00:00Z")
            .unwrap()
            .timestamp_micros();
        let date = beijing_date(micros);
        assert_eq!(acceptance_number("510821", date, 7), "510821-20261127-0007");
        assert_eq!(
            acceptance_number("510821", date, 12345),
            "510821-20261127-12345"
        );
    }

    #[test]
    fn similar_titles_are_the_same_matter() {
        let a = title_key("厂房用地审批迟迟未办");
        let b = title_key("厂房用地审批迟迟未办理！");
        let c = title_key("员工社保缴纳咨询");
        assert!(similar_titles(&a, &b));
        assert!(!similar_titles(&a, &c));
        assert!(similar_titles(
            &title_key("Loan  delayed"),
            &title_key("loan delayed.")
        ));
    }

    #[test]
    fn phones_are_checked_loosely_but_not_blindly() {
        assert!(valid_phone("0839-3266666"));
        assert!(valid_phone("+86 138 0000 0000"));
        assert!(valid_phone("12345"));
        assert!(!valid_phone("call me"));
        assert!(!valid_phone("12"));
    }
}
