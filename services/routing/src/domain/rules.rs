//! Where a new case goes (分级): routing rules as data — category × channel ×
//! enterprise tag × kind → level, department and time limit — and the
//! departments of each jurisdiction.

use serde::Deserialize;
use zhengqi_shared::reference::{Directory, ReferenceError, ReferenceFile};

use super::deadline::default_time_limit;
use super::meeting::MeetingKinds;
use super::{AppealKind, Category, Channel, EnterpriseTag, Level, MeetingType};

pub use zhengqi_shared::reference::DepartmentKind;

/// A routing rule. Keys that are `None` match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub jurisdiction_code: String,
    pub category: Option<Category>,
    pub channel: Option<Channel>,
    pub enterprise_tag: Option<EnterpriseTag>,
    pub kind: Option<AppealKind>,
    pub level: Level,
    pub department_id: String,
    /// 0: the appeal kind's time limit.
    pub time_limit_days: u32,
    pub priority: i32,
    pub description: String,
    pub disabled: bool,
    pub meeting_type: Option<MeetingType>,
    pub version: i64,
    pub update_time: i64,
    pub updated_by: String,
}

impl Rule {
    /// How many keys the rule names.
    pub fn specificity(&self) -> usize {
        usize::from(self.category.is_some())
            + usize::from(self.channel.is_some())
            + usize::from(self.enterprise_tag.is_some())
            + usize::from(self.kind.is_some())
    }

    fn matches(&self, facts: &Facts<'_>) -> bool {
        !self.disabled
            && facts
                .jurisdictions
                .contains(&self.jurisdiction_code.as_str())
            && self.category.is_none_or(|c| c == facts.category)
            && self.channel.is_none_or(|c| c == facts.channel)
            && self.kind.is_none_or(|k| k == facts.kind)
            && self
                .enterprise_tag
                .is_none_or(|t| facts.enterprise_tags.contains(&t))
    }
}

/// What routing knows of a new appeal.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The appeal's jurisdiction first, then each one above it up to the city.
    pub jurisdictions: Vec<&'a str>,
    pub category: Category,
    pub channel: Channel,
    pub kind: AppealKind,
    pub enterprise_tags: &'a [EnterpriseTag],
}

/// Where a new case starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub level: Level,
    /// The department proposed to the coordinator; empty when none.
    pub department_id: String,
    pub time_limit_days: u32,
    pub meeting_type: Option<MeetingType>,
    /// The rule that decided, if any.
    pub rule_id: Option<String>,
}

/// Places a new case: the most specific matching rule wins, then the rule of
/// the nearer jurisdiction, then the higher priority. Without a rule the case
/// starts at the appeal's own jurisdiction (the enterprise's county).
pub fn route(rules: &[Rule], facts: &Facts<'_>, departments: &Departments) -> Placement {
    let nearness = |rule: &Rule| {
        let position = facts
            .jurisdictions
            .iter()
            .position(|j| *j == rule.jurisdiction_code)
            .unwrap_or(usize::MAX);
        usize::MAX - position
    };
    let winner = rules.iter().filter(|r| r.matches(facts)).max_by(|a, b| {
        (a.specificity(), nearness(a), a.priority)
            .cmp(&(b.specificity(), nearness(b), b.priority))
            // Ties broken by id, so the same rules always place a case alike.
            .then_with(|| b.id.cmp(&a.id))
    });
    let own = facts.jurisdictions.first().copied().unwrap_or_default();
    let city = facts.jurisdictions.last().copied().unwrap_or_default();
    let level = winner.map_or(
        if own == city {
            Level::City
        } else {
            Level::County
        },
        |r| r.level,
    );
    let handling = if level == Level::County { own } else { city };
    let department_id = match winner {
        Some(rule) if !rule.department_id.is_empty() => rule.department_id.clone(),
        // A meeting decides its cases' departments.
        _ if level == Level::Meeting => String::new(),
        _ => departments
            .for_category(handling, facts.category)
            .unwrap_or_default(),
    };
    let time_limit_days = match winner {
        Some(rule) if rule.time_limit_days > 0 => rule.time_limit_days,
        _ => default_time_limit(facts.kind),
    };
    Placement {
        level,
        department_id,
        time_limit_days,
        meeting_type: winner.and_then(|r| r.meeting_type),
        rule_id: winner.map(|r| r.id.clone()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<RuleEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    id: String,
    jurisdiction_code: String,
    category: Option<String>,
    channel: Option<String>,
    enterprise_tag: Option<String>,
    kind: Option<String>,
    level: String,
    #[serde(default)]
    department_id: String,
    #[serde(default)]
    time_limit_days: u32,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    description: String,
    meeting_type: Option<String>,
}

/// The longest time limit a rule may set, in working days (as `PutRoutingRule`).
const TIME_LIMIT_MAX: u32 = 365;

/// Parses a rules file (the reference folder's `routing_rules.toml`), the rules to
/// seed: every key must be known, and, where `known` gives the directory and the
/// departments, every jurisdiction in the directory and every department one of
/// the departments in a known jurisdiction; a meeting must be one the city holds
/// (`meetings`). What is `None` is not checked against (a folder whose directory or
/// departments were refused still has its rules checked for what they alone say).
/// Every refusal is returned, each naming its line and field.
pub fn parse_rules(
    file: &ReferenceFile,
    known: Option<(&Directory, &Departments)>,
    meetings: Option<&MeetingKinds>,
) -> Result<Vec<Rule>, Vec<ReferenceError>> {
    let entries = file.deserialize::<RulesFile>().map_err(|e| vec![e])?.rule;
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    for (n, entry) in entries.into_iter().enumerate() {
        let field = |name: &str| format!("rule[{n}].{name}");
        let mut named = |name: &str, value: Option<&str>, known: Vec<String>| {
            let value = value?;
            if known.iter().any(|k| k == value) {
                return Some(());
            }
            errors.push(file.error(
                field(name),
                format!("unknown {name} {value:?}; known: {}", known.join(", ")),
            ));
            None
        };
        let category = named("category", entry.category.as_deref(), all(Category::ALL))
            .and_then(|()| entry.category.as_deref().and_then(Category::parse));
        let channel = named("channel", entry.channel.as_deref(), all(Channel::ALL))
            .and_then(|()| entry.channel.as_deref().and_then(Channel::parse));
        let enterprise_tag = named(
            "enterprise_tag",
            entry.enterprise_tag.as_deref(),
            all(EnterpriseTag::ALL),
        )
        .and_then(|()| {
            entry
                .enterprise_tag
                .as_deref()
                .and_then(EnterpriseTag::parse)
        });
        let kind = named("kind", entry.kind.as_deref(), all(AppealKind::ALL))
            .and_then(|()| entry.kind.as_deref().and_then(AppealKind::parse));
        let level = named("level", Some(&entry.level), all(Level::ALL))
            .and_then(|()| Level::parse(&entry.level));
        let meeting_type = named(
            "meeting_type",
            entry.meeting_type.as_deref(),
            all(MeetingType::ALL),
        )
        .and_then(|()| entry.meeting_type.as_deref().and_then(MeetingType::parse));

        if entry.id.trim().is_empty() {
            errors.push(file.error(field("id"), "must not be empty"));
        } else if rules.iter().any(|r: &Rule| r.id == entry.id) {
            errors.push(file.error(field("id"), format!("{:?} is listed twice", entry.id)));
        }
        if let Some((directory, _)) = known
            && let Err(problem) = directory.parse_known(&entry.jurisdiction_code)
        {
            errors.push(file.error(field("jurisdiction_code"), problem));
        }
        if let Some((directory, departments)) = known
            && !entry.department_id.is_empty()
        {
            match departments.parse_id(&entry.department_id) {
                Some((jurisdiction, _)) if directory.parse_known(jurisdiction).is_ok() => {}
                Some((jurisdiction, _)) => errors.push(file.error(
                    field("department_id"),
                    format!(
                        "{}: {jurisdiction} is not a jurisdiction of jurisdictions.toml",
                        entry.department_id
                    ),
                )),
                None => errors.push(file.error(
                    field("department_id"),
                    format!(
                        "{:?} is not `<jurisdiction code>-<key>` with a key of departments.toml",
                        entry.department_id
                    ),
                )),
            }
        }
        if level == Some(Level::Meeting) && entry.meeting_type.is_none() {
            errors.push(file.error(field("meeting_type"), "must be set when level is MEETING"));
        }
        if let (Some(meeting_type), Some(meetings)) = (meeting_type, meetings)
            && !meetings.holds(meeting_type)
        {
            errors.push(file.error(
                field("meeting_type"),
                format!("{meeting_type} is not a meeting of meeting_kinds.toml"),
            ));
        }
        if entry.time_limit_days > TIME_LIMIT_MAX {
            errors.push(file.error(
                field("time_limit_days"),
                format!("must be 0 to {TIME_LIMIT_MAX}"),
            ));
        }
        let Some(level) = level else { continue };
        rules.push(Rule {
            category,
            channel,
            enterprise_tag,
            kind,
            level,
            meeting_type,
            id: entry.id,
            jurisdiction_code: entry.jurisdiction_code,
            department_id: entry.department_id,
            time_limit_days: entry.time_limit_days,
            priority: entry.priority,
            description: entry.description,
            disabled: false,
            version: 1,
            update_time: 0,
            updated_by: "seed".to_owned(),
        });
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

/// Every value of a named enum, as written in the files.
fn all<T: std::fmt::Display>(values: &[T]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

/// The departments of each jurisdiction: `<jurisdiction code>-<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departments {
    kinds: Vec<DepartmentKind>,
}

impl Departments {
    /// The departments of the reference data (checked by the shared crate: keys,
    /// names, known categories each handled by one department).
    pub fn new(kinds: Vec<DepartmentKind>) -> Departments {
        Departments { kinds }
    }

    /// The embedded default's departments (Guangyuan's), for tests.
    #[cfg(test)]
    pub fn guangyuan() -> Departments {
        Departments::new(zhengqi_shared::reference::Reference::embedded().departments)
    }

    /// The department of `jurisdiction` that handles `category`, if one does.
    pub fn for_category(&self, jurisdiction: &str, category: Category) -> Option<String> {
        self.kinds
            .iter()
            .find(|k| k.categories.iter().any(|c| c == category.as_str()))
            .map(|k| format!("{jurisdiction}-{}", k.key))
    }

    /// The jurisdiction and kind of a department id, when it names a known kind.
    pub fn parse_id<'a>(&self, id: &'a str) -> Option<(&'a str, &DepartmentKind)> {
        let (jurisdiction, key) = id.split_once('-')?;
        let kind = self.kinds.iter().find(|k| k.key == key)?;
        Some((jurisdiction, kind))
    }

    /// The department's name, e.g. `地方金融监督管理局`.
    pub fn name(&self, id: &str) -> Option<&str> {
        self.parse_id(id).map(|(_, kind)| kind.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhengqi_shared::reference::Reference;

    /// The embedded default's rules (Guangyuan's).
    fn guangyuan_rules() -> Vec<Rule> {
        crate::domain::reference::load(&Reference::embedded())
            .unwrap()
            .rules
    }

    fn facts<'a>(channel: Channel, tags: &'a [EnterpriseTag]) -> Facts<'a> {
        Facts {
            jurisdictions: vec!["510821", "510800"],
            category: Category::Financing,
            channel,
            kind: AppealKind::HelpRequest,
            enterprise_tags: tags,
        }
    }

    #[test]
    fn an_ordinary_appeal_starts_at_the_enterprises_county() {
        let rules = guangyuan_rules();
        let placement = route(
            &rules,
            &facts(Channel::OnlinePortal, &[]),
            &Departments::guangyuan(),
        );
        assert_eq!(placement.level, Level::County);
        assert_eq!(placement.department_id, "510821-jrj");
        assert_eq!(placement.time_limit_days, 7);
        assert_eq!(placement.rule_id, None);
    }

    #[test]
    fn the_mayors_line_and_key_projects_start_at_the_city() {
        let rules = guangyuan_rules();
        let departments = Departments::guangyuan();
        let mayor = route(&rules, &facts(Channel::MayorDirectLine, &[]), &departments);
        assert_eq!(mayor.level, Level::City);
        assert_eq!(mayor.department_id, "510800-jrj");
        assert_eq!(mayor.rule_id.as_deref(), Some("510800-mayor-direct-line"));
        let key = route(
            &rules,
            &facts(Channel::OnlinePortal, &[EnterpriseTag::KeyProject]),
            &departments,
        );
        assert_eq!(key.level, Level::City);
        assert_eq!(key.rule_id.as_deref(), Some("510800-key-project"));
    }

    #[test]
    fn the_most_specific_rule_wins_then_the_nearer_then_priority() {
        let mut rules = guangyuan_rules();
        let base = rules[0].clone();
        rules.push(Rule {
            id: "510821-financing-complaints".into(),
            jurisdiction_code: "510821".into(),
            channel: Some(Channel::MayorDirectLine),
            category: Some(Category::Financing),
            level: Level::County,
            department_id: "510821-czj".into(),
            time_limit_days: 5,
            priority: 0,
            ..base.clone()
        });
        let placement = route(
            &rules,
            &facts(Channel::MayorDirectLine, &[]),
            &Departments::guangyuan(),
        );
        assert_eq!(
            placement.rule_id.as_deref(),
            Some("510821-financing-complaints")
        );
        assert_eq!(placement.department_id, "510821-czj");
        assert_eq!(placement.time_limit_days, 5);
        // Disabled rules match nothing.
        rules.last_mut().unwrap().disabled = true;
        let placement = route(
            &rules,
            &facts(Channel::MayorDirectLine, &[]),
            &Departments::guangyuan(),
        );
        assert_eq!(
            placement.rule_id.as_deref(),
            Some("510800-mayor-direct-line")
        );
    }

    #[test]
    fn department_ids_name_their_jurisdiction_and_kind() {
        let departments = Departments::guangyuan();
        let (jurisdiction, kind) = departments.parse_id("510821-jrj").unwrap();
        assert_eq!(jurisdiction, "510821");
        assert_eq!(kind.name, "地方金融监督管理局");
        assert!(departments.parse_id("510821-nothing").is_none());
        for category in Category::ALL {
            assert!(
                departments.for_category("510800", *category).is_some(),
                "{category} has a department"
            );
        }
    }
}
