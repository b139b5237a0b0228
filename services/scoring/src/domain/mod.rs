//! Scoring's rules as plain types and functions: periods, facts and their
//! counters, the indicator model and its formulas, rankings with red and
//! black boards (红黑榜), and the alerts they raise. No I/O, no protobuf.

pub mod facts;
pub mod model;
pub mod period;
pub mod ranking;

#[cfg(test)]
mod properties;

use zhengqi_shared::reference::{
    DepartmentKind, Directory, JurisdictionCode, Reference, ReferenceError,
};

zhengqi_shared::named_enum! {
    /// What kind of unit is scored.
    pub enum UnitKind {
        /// A department (职能部门); its id is `<jurisdiction>-<key>`.
        Department = "DEPARTMENT",
        /// A county, district or the city, by GB/T 2260 code.
        Jurisdiction = "JURISDICTION",
    }
}

zhengqi_shared::named_enum! {
    /// A unit's mark on the boards (红黑榜).
    pub enum Board {
        None = "NONE",
        /// 红榜: ranked at the top.
        Red = "RED",
        /// 黑榜: ranked at the bottom.
        Black = "BLACK",
    }
}

zhengqi_shared::named_enum! {
    /// What an alert is.
    pub enum AlertKind {
        /// 差评通报: one per bad review counted against a unit.
        BadReviewNotice = "BAD_REVIEW_NOTICE",
        /// 不作为通报: a case gone overdue, or handed back too often.
        InactionNotice = "INACTION_NOTICE",
        /// 约谈: on the black board for consecutive periods.
        LeaderInterview = "LEADER_INTERVIEW",
    }
}

/// A notice or interview raised by the facts or the rankings.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: String,
    /// One alert per key: a replayed fact or a recomputed ranking raises nothing twice.
    pub dedup_key: String,
    pub kind: AlertKind,
    pub period: String,
    pub unit_kind: UnitKind,
    pub unit_id: String,
    pub unit_name: String,
    pub jurisdiction_code: String,
    pub reason: String,
    pub fact_ids: Vec<String>,
    pub create_time: i64,
}

/// A case handed back this many times raises an inaction notice (不作为通报)
/// against its jurisdiction: no department takes it.
pub const INACTION_RETURNS: i32 = 2;

/// The departments every jurisdiction has, by key and name (the reference
/// folder's `departments.toml`; their categories are routing's concern).
#[derive(Debug, Clone)]
pub struct Departments {
    kinds: Vec<(String, String)>,
}

impl Departments {
    pub fn new(kinds: &[DepartmentKind]) -> Departments {
        Departments {
            kinds: kinds
                .iter()
                .map(|d| (d.key.clone(), d.name.clone()))
                .collect(),
        }
    }

    /// The embedded default's departments (Guangyuan's), for tests.
    #[cfg(test)]
    pub fn guangyuan() -> Departments {
        Departments::new(&Reference::embedded().departments)
    }

    fn name_of_key(&self, key: &str) -> Option<&str> {
        self.kinds
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, name)| name.as_str())
    }
}

/// Scoring's part of the reference data: the departments it names units with and
/// the default indicator model, for periods without a model of their own. Every
/// refusal names its file, line and field; `zhengqi reference check` and scoring's
/// start run this.
pub fn from_reference(
    reference: &Reference,
) -> Result<(Departments, model::Model), Vec<ReferenceError>> {
    let model = model::Model::from_file(&reference.indicator_model)?;
    Ok((Departments::new(&reference.departments), model))
}

/// Who the units are: names and the ranking each belongs to.
#[derive(Debug, Clone)]
pub struct Units<'a> {
    pub directory: &'a Directory,
    pub departments: &'a Departments,
}

impl Units<'_> {
    /// The jurisdiction a unit belongs to (its own for a jurisdiction); `None`
    /// for an id that names no known unit.
    pub fn jurisdiction_of(&self, kind: UnitKind, id: &str) -> Option<String> {
        match kind {
            UnitKind::Jurisdiction => {
                let code = JurisdictionCode::parse(id).ok()?;
                self.directory.contains(&code).then(|| id.to_owned())
            }
            UnitKind::Department => {
                let (jurisdiction, key) = id.split_once('-')?;
                let code = JurisdictionCode::parse(jurisdiction).ok()?;
                (self.directory.contains(&code) && self.departments.name_of_key(key).is_some())
                    .then(|| jurisdiction.to_owned())
            }
        }
    }

    /// The ranking a unit is placed in: the departments of one jurisdiction, or
    /// the jurisdictions below one jurisdiction (the city's own unit stands alone).
    pub fn group_of(&self, kind: UnitKind, id: &str) -> String {
        match kind {
            UnitKind::Department => facts::department_jurisdiction(id)
                .unwrap_or_default()
                .to_owned(),
            UnitKind::Jurisdiction => JurisdictionCode::parse(id)
                .ok()
                .and_then(|code| self.directory.get(&code))
                .and_then(|j| j.parent())
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
        }
    }

    /// A unit's display name, e.g. `旺苍县地方金融监督管理局`; its id when unknown.
    pub fn name_of(&self, kind: UnitKind, id: &str) -> String {
        let jurisdiction_name = |code: &str| {
            JurisdictionCode::parse(code)
                .ok()
                .and_then(|c| self.directory.current_name(&c).map(str::to_owned))
        };
        match kind {
            UnitKind::Jurisdiction => jurisdiction_name(id).unwrap_or_else(|| id.to_owned()),
            UnitKind::Department => id
                .split_once('-')
                .and_then(|(code, key)| {
                    Some(format!(
                        "{}{}",
                        jurisdiction_name(code)?,
                        self.departments.name_of_key(key)?
                    ))
                })
                .unwrap_or_else(|| id.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_have_names_jurisdictions_and_rankings() {
        let directory = Directory::guangyuan();
        let departments = Departments::guangyuan();
        let units = Units {
            directory: &directory,
            departments: &departments,
        };
        assert_eq!(
            units.name_of(UnitKind::Department, "510821-jrj"),
            "旺苍县地方金融监督管理局"
        );
        assert_eq!(units.name_of(UnitKind::Jurisdiction, "510821"), "旺苍县");
        assert_eq!(
            units
                .jurisdiction_of(UnitKind::Department, "510821-jrj")
                .as_deref(),
            Some("510821")
        );
        assert_eq!(
            units.jurisdiction_of(UnitKind::Department, "510821-nope"),
            None
        );
        assert_eq!(
            units.jurisdiction_of(UnitKind::Jurisdiction, "999999"),
            None
        );
        assert_eq!(units.group_of(UnitKind::Department, "510821-jrj"), "510821");
        assert_eq!(units.group_of(UnitKind::Jurisdiction, "510821"), "510800");
        assert_eq!(units.group_of(UnitKind::Jurisdiction, "510800"), "");
    }
}
