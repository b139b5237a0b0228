//! Reference data the domain runs on: who an enterprise is, where it is, and which days
//! count.
//!
//! - [`Uscc`]: the unified social credit code (统一社会信用代码, GB 32100-2015) that
//!   names an enterprise, with an audited [`UsccOverrides`] list for the few real
//!   registry codes whose check character is wrong.
//! - [`JurisdictionCode`] and [`Directory`]: administrative division codes (行政区划代码,
//!   GB/T 2260) and the city's tree of jurisdictions, with names kept by validity period
//!   because names change while codes stay.
//! - [`Calendar`]: the official working-day calendar (工作日), weekends off and weekdays
//!   on except the days listed in each year's State Council holiday notice.
//! - [`GUANGYUAN_DEPARTMENTS`]: the departments (职能部门) every jurisdiction has, by
//!   the key that ends a department id (`510821-jrj`), with their names and the
//!   appeal categories each handles; routing places cases with it, scoring names
//!   units with it.
//!
//! Every table is data, not code (FACTS.md: "each is data the code must load, not
//! hard-code, so a deploying city can correct or extend it"). Guangyuan's tables are
//! embedded from `data/` as the defaults; each type also loads a TOML string that an
//! operator supplies.

mod calendar;
mod jurisdiction;
mod toml_date;
mod uscc;

pub use calendar::{
    Calendar, CalendarDataError, CalendarError, Counted, SharedCalendar, WARN_DAYS_LEFT,
};
pub use jurisdiction::{
    Directory, DirectoryError, Jurisdiction, JurisdictionCode, JurisdictionError, Level, NamePeriod,
};
/// Guangyuan's departments (`data/departments.toml`): `[[department]]` tables of
/// `key`, `name` and the appeal `categories` the department handles.
pub const GUANGYUAN_DEPARTMENTS: &str = include_str!("../../data/departments.toml");

/// A department every jurisdiction has: its id in a jurisdiction is
/// `<jurisdiction code>-<key>`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentKind {
    pub key: String,
    pub name: String,
    /// The appeal categories it handles when no routing rule names a department.
    #[serde(default)]
    pub categories: Vec<String>,
}

/// The `[[department]]` tables of a departments file (as [`GUANGYUAN_DEPARTMENTS`]).
pub fn department_kinds(text: &str) -> Result<Vec<DepartmentKind>, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct DepartmentsFile {
        department: Vec<DepartmentKind>,
    }
    let file: DepartmentsFile = toml::from_str(text).map_err(|e| e.to_string())?;
    Ok(file.department)
}

pub use uscc::{Uscc, UsccError, UsccOverride, UsccOverrides, UsccOverridesError};
