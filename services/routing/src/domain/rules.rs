//! Where a new case goes (分级): routing rules as data — category × channel ×
//! enterprise tag × kind → level, department and time limit — and the
//! departments of each jurisdiction.

use serde::Deserialize;

use super::deadline::default_time_limit;
use super::{AppealKind, Category, Channel, EnterpriseTag, Level, MeetingType};

/// Guangyuan's seeded rules.
pub const GUANGYUAN_RULES: &str = include_str!("../../data/routing_rules.toml");
use zhengqi_shared::reference::department_kinds;
pub use zhengqi_shared::reference::{DepartmentKind, GUANGYUAN_DEPARTMENTS};

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

/// Parses a rules file (the format of `data/routing_rules.toml`).
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, String> {
    let file: RulesFile = toml::from_str(text).map_err(|e| e.to_string())?;
    fn named<T>(
        id: &str,
        field: &str,
        value: Option<String>,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Option<T>, String> {
        value
            .map(|v| parse(&v).ok_or_else(|| format!("rule {id}: unknown {field} {v:?}")))
            .transpose()
    }
    file.rule
        .into_iter()
        .map(|entry| {
            let id = entry.id.clone();
            Ok(Rule {
                category: named(&id, "category", entry.category, Category::parse)?,
                channel: named(&id, "channel", entry.channel, Channel::parse)?,
                enterprise_tag: named(
                    &id,
                    "enterprise_tag",
                    entry.enterprise_tag,
                    EnterpriseTag::parse,
                )?,
                kind: named(&id, "kind", entry.kind, AppealKind::parse)?,
                level: named(&id, "level", Some(entry.level), Level::parse)?
                    .ok_or_else(|| format!("rule {id}: no level"))?,
                meeting_type: named(&id, "meeting_type", entry.meeting_type, MeetingType::parse)?,
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
            })
        })
        .collect()
}

/// The departments of each jurisdiction: `<jurisdiction code>-<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departments {
    kinds: Vec<DepartmentKind>,
}

impl Departments {
    /// Guangyuan's list, shipped with the reference data of the shared crate.
    pub fn guangyuan() -> Departments {
        Departments::from_toml_str(GUANGYUAN_DEPARTMENTS)
            .expect("the shipped departments are valid")
    }

    pub fn from_toml_str(text: &str) -> Result<Departments, String> {
        let kinds = department_kinds(text)?;
        for kind in &kinds {
            for category in &kind.categories {
                if Category::parse(category).is_none() {
                    return Err(format!(
                        "department {}: unknown category {category:?}",
                        kind.key
                    ));
                }
            }
        }
        Ok(Departments { kinds })
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
        let rules = parse_rules(GUANGYUAN_RULES).unwrap();
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
        let rules = parse_rules(GUANGYUAN_RULES).unwrap();
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
        let mut rules = parse_rules(GUANGYUAN_RULES).unwrap();
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
