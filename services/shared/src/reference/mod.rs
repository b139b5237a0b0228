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
//! - [`DepartmentKind`]: the departments (职能部门) every jurisdiction has, by the
//!   key that ends a department id (`510821-jrj`), with their names and the appeal
//!   categories each handles; routing places cases with them, scoring names units
//!   with them.
//! - [`Reference`]: all of it, read from a city's reference folder and checked, each
//!   refusal naming its file, line and field ([`ReferenceError`]); it also carries
//!   the text of the files services parse themselves (routing rules, meeting kinds,
//!   the indicator model).
//!
//! Every table is data, not code (FACTS.md: "each is data the code must load, not
//! hard-code, so a deploying city can correct or extend it"). Guangyuan's set is
//! embedded from `data/` as the default ([`Reference::embedded`]).

mod calendar;
mod folder;
mod jurisdiction;
mod located;
mod toml_date;
mod uscc;

pub use calendar::{
    Calendar, CalendarDataError, CalendarError, Counted, SharedCalendar, WARN_DAYS_LEFT,
};
pub use folder::{
    CALENDAR, DEPARTMENTS, DepartmentKind, FILES, INDICATOR_MODEL, JURISDICTIONS, MEETING_KINDS,
    ROUTING_RULES, Reference, department_kinds,
};
pub use jurisdiction::{
    Directory, DirectoryError, Jurisdiction, JurisdictionCode, JurisdictionError, Level, NamePeriod,
};
pub use located::{ReferenceError, ReferenceErrors, ReferenceFile};
pub use uscc::{Uscc, UsccError, UsccOverride, UsccOverrides, UsccOverridesError};
