//! The ledger (台账) as a 营商办 keeps it: one row per case, with the columns
//! number, enterprise, credit code, category, problem, responsible department,
//! level, accepted, deadline, state, supervision, outcome and resolution, in
//! the words the office uses.

use super::deadline::beijing_date;
use super::{Case, CaseState, Category, Level, Outcome, Supervision};

/// The header row: Chinese names of the columns, in order.
pub const HEADERS: [&str; 13] = [
    "受理编号",         // number
    "企业名称",         // enterprise
    "统一社会信用代码", // USCC
    "诉求类别",         // category
    "问题描述",         // problem
    "责任单位",         // responsible department
    "办理层级",         // level
    "受理日期",         // accepted
    "办结时限",         // deadline
    "办理状态",         // state
    "督办",             // supervision
    "办理结果",         // outcome
    "办理情况",         // resolution
];

pub fn category_label(category: Category) -> &'static str {
    match category {
        Category::Financing => "融资",
        Category::Employment => "用工",
        Category::Market => "市场",
        Category::Transport => "交通物流",
        Category::PublicHealth => "卫生健康",
        Category::LandAndPlanning => "用地规划",
        Category::Approval => "审批服务",
        Category::LawEnforcement => "执法监管",
        Category::PolicyFulfillment => "政策兑现",
        Category::Talent => "人才",
        Category::TaxAndFees => "税费",
        Category::Other => "其他",
    }
}

pub fn level_label(level: Level) -> &'static str {
    match level {
        Level::County => "县级",
        Level::City => "市级",
        Level::Meeting => "会商",
    }
}

pub fn state_label(state: CaseState) -> &'static str {
    match state {
        CaseState::Pending => "待受理",
        CaseState::Accepted => "已受理",
        CaseState::Rejected => "不予受理",
        CaseState::Assigned => "已交办",
        CaseState::InProgress => "办理中",
        CaseState::AwaitingEnterprise => "待企业补充",
        CaseState::Resolved => "已办结",
        CaseState::Closed => "已结案",
    }
}

pub fn supervision_label(supervision: Supervision) -> &'static str {
    match supervision {
        Supervision::None => "正常",
        Supervision::Yellow => "黄灯预警",
        Supervision::Red => "红灯督办",
    }
}

pub fn outcome_label(outcome: Option<Outcome>) -> &'static str {
    match outcome {
        None => "",
        Some(Outcome::Solved) => "已解决",
        Some(Outcome::Explained) => "已解释说明",
        Some(Outcome::Unsolvable) => "暂无法解决",
        Some(Outcome::Withdrawn) => "企业撤回",
    }
}

/// One row of the sheet; `department` names a department id for people
/// (e.g. `旺苍县地方金融监督管理局`).
pub fn row(case: &Case, department: impl Fn(&str) -> String) -> [String; 13] {
    let day = |micros: i64| beijing_date(micros).format("%Y-%m-%d").to_string();
    let problem = if case.description.is_empty() {
        case.title.clone()
    } else {
        format!("{}：{}", case.title, case.description)
    };
    let resolution = match case.state {
        CaseState::Rejected => case.reject_reason.clone(),
        _ => case.resolution.clone(),
    };
    [
        case.number.clone(),
        case.enterprise_name.clone(),
        case.uscc.clone(),
        category_label(case.category).to_owned(),
        problem,
        if case.department_id.is_empty() {
            String::new()
        } else {
            department(&case.department_id)
        },
        level_label(case.level).to_owned(),
        day(case.create_time),
        match case.deadline {
            // 暂定: counted on weekends only until its year's calendar is loaded.
            Some(deadline) if case.deadline_provisional => format!("{}（暂定）", day(deadline)),
            Some(deadline) => day(deadline),
            None => String::new(),
        },
        state_label(case.state).to_owned(),
        if case.state.is_open() {
            supervision_label(case.supervision).to_owned()
        } else {
            String::new()
        },
        outcome_label(case.outcome).to_owned(),
        resolution,
    ]
}

/// RFC 4180 CSV of `rows` under the header row, CRLF line ends.
pub fn csv(rows: &[[String; 13]]) -> String {
    fn field(text: &str) -> String {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    }
    let mut out = String::new();
    out.push_str(&HEADERS.join(","));
    out.push_str("\r\n");
    for row in rows {
        let fields: Vec<String> = row.iter().map(|f| field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_enum_value_has_a_label() {
        for category in Category::ALL {
            assert!(!category_label(*category).is_empty());
        }
        for state in CaseState::ALL {
            assert!(!state_label(*state).is_empty());
        }
        for outcome in Outcome::ALL {
            assert!(!outcome_label(Some(*outcome)).is_empty());
        }
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut row: [String; 13] = Default::default();
        row[0] = "510821-20261127-0001".into();
        row[4] = "贷款，\"急\"\n第二行".into();
        row[1] = "a,b".into();
        let text = csv(&[row]);
        let mut lines = text.split("\r\n");
        assert_eq!(lines.next().unwrap().split(',').count(), 13);
        let body = lines.next().unwrap();
        assert!(
            body.starts_with("510821-20261127-0001,\"a,b\",,,\"贷款，\"\"急\"\"\n第二行\""),
            "{body}"
        );
    }
}
