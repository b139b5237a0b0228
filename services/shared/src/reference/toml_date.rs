//! Reading TOML local dates (`2026-02-14`, unquoted) into [`NaiveDate`].
//!
//! chrono's own `Deserialize` wants a string, but the data files use TOML's native date
//! type so that the TOML parser itself rejects `2026-02-30`. `toml::value::Date` accepts
//! a bare local date only: a time or an offset is refused by the parser's serde layer.

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

/// A TOML local date, converted to a [`NaiveDate`] while deserializing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TomlDate(pub(crate) NaiveDate);

impl<'de> Deserialize<'de> for TomlDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let date = toml::value::Date::deserialize(deserializer)?;
        NaiveDate::from_ymd_opt(i32::from(date.year), date.month.into(), date.day.into())
            .map(TomlDate)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{:04}-{:02}-{:02} is not a date on the calendar",
                    date.year, date.month, date.day
                ))
            })
    }
}
