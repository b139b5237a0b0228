//! Jurisdictions (行政区划): GB/T 2260 codes and the city's directory of them.
//!
//! Codes stay while names change (FACTS.md, "Jurisdictions"), so a jurisdiction keeps
//! every name it has had, each with the period it was in use: an appeal filed in 2010
//! about 元坝区 and one filed today about 昭化区 concern the same code, 510811.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::toml_date::TomlDate;

const LEN: usize = 6;

/// A GB/T 2260 administrative division code (行政区划代码): six ASCII digits.
///
/// Well-formed is not the same as known: use [`Directory::parse_known`] where the code
/// must be one of the city's jurisdictions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JurisdictionCode(String);

/// Why a string is not a usable jurisdiction code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JurisdictionError {
    #[error("a jurisdiction code has 6 digits (GB/T 2260), but {found} characters were given")]
    WrongLength { found: usize },

    #[error(
        "character {position} of the jurisdiction code is '{found}'; a jurisdiction code \
         is 6 digits"
    )]
    NotADigit { position: usize, found: char },

    #[error("unknown jurisdiction {0}: it is not in the jurisdiction directory")]
    Unknown(JurisdictionCode),
}

impl From<JurisdictionError> for crate::error::Why {
    fn from(error: JurisdictionError) -> Self {
        let zh = match &error {
            JurisdictionError::WrongLength { found } => {
                format!("行政区划代码应为6位数字（GB/T 2260），现为{found}个字符")
            }
            JurisdictionError::NotADigit { position, found } => {
                format!("行政区划代码第{position}位是“{found}”，应为数字")
            }
            JurisdictionError::Unknown(code) => format!("行政区划 {code} 不在本系统的区划目录中"),
        };
        crate::error::Why::new(error.to_string(), zh)
    }
}

impl JurisdictionCode {
    /// Parses six ASCII digits, trimming surrounding whitespace.
    pub fn parse(input: &str) -> Result<JurisdictionCode, JurisdictionError> {
        let trimmed = input.trim();
        let found = trimmed.chars().count();
        if found != LEN {
            return Err(JurisdictionError::WrongLength { found });
        }
        if let Some((index, found)) = trimmed
            .chars()
            .enumerate()
            .find(|(_, c)| !c.is_ascii_digit())
        {
            return Err(JurisdictionError::NotADigit {
                position: index + 1,
                found,
            });
        }
        Ok(JurisdictionCode(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JurisdictionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for JurisdictionCode {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for JurisdictionCode {
    type Err = JurisdictionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JurisdictionCode::parse(s)
    }
}

impl TryFrom<String> for JurisdictionCode {
    type Error = JurisdictionError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        JurisdictionCode::parse(&value)
    }
}

impl From<JurisdictionCode> for String {
    fn from(value: JurisdictionCode) -> Self {
        value.0
    }
}

/// Where a jurisdiction sits in the administrative hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 地级市, a prefecture-level city such as 广元市.
    City,
    /// 市辖区, a district of a city.
    District,
    /// 县, a county.
    County,
    /// 县级市, a county-level city; Guangyuan has none, but other deploying cities do.
    CountyLevelCity,
}

/// One name of a jurisdiction and the dates it was in use: from `from` (inclusive) to
/// `until` (exclusive). An open `from` means as far back as the directory knows; an
/// open `until` means the name is current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePeriod {
    name: String,
    from: Option<NaiveDate>,
    until: Option<NaiveDate>,
}

impl NamePeriod {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn from(&self) -> Option<NaiveDate> {
        self.from
    }

    pub fn until(&self) -> Option<NaiveDate> {
        self.until
    }

    fn in_use_on(&self, date: NaiveDate) -> bool {
        self.from.is_none_or(|from| from <= date) && self.until.is_none_or(|until| date < until)
    }
}

/// A jurisdiction in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jurisdiction {
    code: JurisdictionCode,
    level: Level,
    parent: Option<JurisdictionCode>,
    names: Vec<NamePeriod>,
}

impl Jurisdiction {
    pub fn code(&self) -> &JurisdictionCode {
        &self.code
    }

    pub fn level(&self) -> Level {
        self.level
    }

    /// The jurisdiction directly above, or `None` at the top of the directory.
    pub fn parent(&self) -> Option<&JurisdictionCode> {
        self.parent.as_ref()
    }

    /// Every name, oldest first.
    pub fn names(&self) -> &[NamePeriod] {
        &self.names
    }

    /// The name in use now (the one with no end date), or `None` if the jurisdiction
    /// has been abolished.
    pub fn current_name(&self) -> Option<&str> {
        self.names
            .iter()
            .find(|period| period.until.is_none())
            .map(NamePeriod::name)
    }

    /// The name in use on `date`, or `None` outside every period.
    pub fn name_on(&self, date: NaiveDate) -> Option<&str> {
        self.names
            .iter()
            .find(|period| period.in_use_on(date))
            .map(NamePeriod::name)
    }
}

/// Why a jurisdiction directory was refused. Any bad entry refuses the whole directory,
/// so a mistake shows when the service starts, not when a case is routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("the jurisdiction directory is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),

    #[error("the jurisdiction directory lists no jurisdictions")]
    Empty,

    #[error("jurisdiction entry \"{code}\": {source}")]
    BadCode {
        code: String,
        #[source]
        source: JurisdictionError,
    },

    #[error("jurisdiction {code} has parent \"{parent}\": {source}")]
    BadParent {
        code: JurisdictionCode,
        parent: String,
        #[source]
        source: JurisdictionError,
    },

    #[error("jurisdiction {0} is listed twice")]
    Duplicate(JurisdictionCode),

    #[error("jurisdiction {code} has parent {parent}, which is not in the directory")]
    UnknownParent {
        code: JurisdictionCode,
        parent: JurisdictionCode,
    },

    #[error("jurisdiction {0} is its own ancestor; parent links must form a tree")]
    ParentCycle(JurisdictionCode),

    #[error("jurisdiction {0} has no names")]
    NoNames(JurisdictionCode),

    #[error("jurisdiction {0} has an empty name")]
    EmptyName(JurisdictionCode),

    #[error("jurisdiction {code}: the name \"{name}\" ends on or before the day it starts")]
    PeriodReversed {
        code: JurisdictionCode,
        name: String,
    },

    #[error(
        "jurisdiction {code}: the name \"{later}\" must start (`from`) on the day the \
         name before it, \"{earlier}\", ends (`until`)"
    )]
    NamesNotContiguous {
        code: JurisdictionCode,
        earlier: String,
        later: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default)]
    jurisdiction: Vec<JurisdictionEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JurisdictionEntry {
    code: String,
    level: Level,
    parent: Option<String>,
    names: Vec<NameEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameEntry {
    name: String,
    from: Option<TomlDate>,
    until: Option<TomlDate>,
}

/// The city's jurisdictions as a tree of parent links (see `data/jurisdictions.toml`
/// for the format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    by_code: BTreeMap<JurisdictionCode, Jurisdiction>,
}

impl Directory {
    /// Guangyuan's directory, the embedded default's ([`super::Reference::embedded`]):
    /// 510800 广元市 with its three districts and four counties (FACTS.md).
    pub fn guangyuan() -> Directory {
        Directory::clone(&super::Reference::embedded().directory)
    }

    /// Loads a directory a deploying city supplies.
    pub fn from_toml_str(text: &str) -> Result<Directory, DirectoryError> {
        let file: DirectoryFile = toml::from_str(text)?;
        if file.jurisdiction.is_empty() {
            return Err(DirectoryError::Empty);
        }
        let mut by_code = BTreeMap::new();
        for entry in file.jurisdiction {
            let jurisdiction = Jurisdiction::from_entry(entry)?;
            if by_code.contains_key(&jurisdiction.code) {
                return Err(DirectoryError::Duplicate(jurisdiction.code));
            }
            by_code.insert(jurisdiction.code.clone(), jurisdiction);
        }
        let directory = Directory { by_code };
        directory.check_parents()?;
        Ok(directory)
    }

    /// Every parent is listed, and following parents always reaches the top.
    fn check_parents(&self) -> Result<(), DirectoryError> {
        for jurisdiction in self.by_code.values() {
            if let Some(parent) = &jurisdiction.parent
                && !self.by_code.contains_key(parent)
            {
                return Err(DirectoryError::UnknownParent {
                    code: jurisdiction.code.clone(),
                    parent: parent.clone(),
                });
            }
        }
        for code in self.by_code.keys() {
            // A chain longer than the directory must revisit a code.
            let mut steps = 0;
            let mut current = self.by_code.get(code).and_then(Jurisdiction::parent);
            while let Some(ancestor) = current {
                steps += 1;
                if ancestor == code || steps > self.by_code.len() {
                    return Err(DirectoryError::ParentCycle(code.clone()));
                }
                current = self.by_code.get(ancestor).and_then(Jurisdiction::parent);
            }
        }
        Ok(())
    }

    pub fn get(&self, code: &JurisdictionCode) -> Option<&Jurisdiction> {
        self.by_code.get(code)
    }

    pub fn contains(&self, code: &JurisdictionCode) -> bool {
        self.by_code.contains_key(code)
    }

    /// The current name of a known, not abolished jurisdiction.
    pub fn current_name(&self, code: &JurisdictionCode) -> Option<&str> {
        self.get(code).and_then(Jurisdiction::current_name)
    }

    /// The name a known jurisdiction had on `date`.
    pub fn name_on(&self, code: &JurisdictionCode, date: NaiveDate) -> Option<&str> {
        self.get(code).and_then(|j| j.name_on(date))
    }

    /// Whether `ancestor` is `descendant` or lies above it through parent links: a city
    /// covers itself and its districts and counties; a county covers only itself.
    /// A code not in the directory covers nothing and is covered by nothing, so an
    /// unknown code never grants authority.
    pub fn covers(&self, ancestor: &JurisdictionCode, descendant: &JurisdictionCode) -> bool {
        if !self.contains(ancestor) {
            return false;
        }
        let mut current = self.get(descendant);
        while let Some(jurisdiction) = current {
            if &jurisdiction.code == ancestor {
                return true;
            }
            // Parents are checked to form a tree when the directory is loaded.
            current = jurisdiction.parent().and_then(|parent| self.get(parent));
        }
        false
    }

    /// `code` and every code below it, in code order; empty for an unknown code.
    pub fn descendants(&self, code: &JurisdictionCode) -> Vec<&JurisdictionCode> {
        self.by_code
            .keys()
            .filter(|candidate| self.covers(code, candidate))
            .collect()
    }

    /// The jurisdiction at the top (the city): the first in code order with no
    /// parent. A loaded directory is never empty and its parent links never
    /// loop, so it always has one.
    pub fn root(&self) -> &JurisdictionCode {
        self.by_code
            .values()
            .find(|j| j.parent().is_none())
            .map(|j| &j.code)
            .expect("a loaded directory has a jurisdiction without a parent")
    }

    /// `code` and every code above it, nearest first (a county, then its city);
    /// empty for an unknown code.
    pub fn ancestors(&self, code: &JurisdictionCode) -> Vec<&JurisdictionCode> {
        let mut chain = Vec::new();
        let mut current = self.get(code);
        while let Some(jurisdiction) = current {
            chain.push(&jurisdiction.code);
            current = jurisdiction.parent().and_then(|parent| self.get(parent));
        }
        chain
    }

    /// Parses a code and requires it to be in the directory.
    pub fn parse_known(&self, input: &str) -> Result<JurisdictionCode, JurisdictionError> {
        let code = JurisdictionCode::parse(input)?;
        if self.contains(&code) {
            Ok(code)
        } else {
            Err(JurisdictionError::Unknown(code))
        }
    }

    /// Every jurisdiction, in code order.
    pub fn iter(&self) -> impl Iterator<Item = &Jurisdiction> {
        self.by_code.values()
    }

    pub fn len(&self) -> usize {
        self.by_code.len()
    }

    /// Always false for a loaded directory, which must list at least one jurisdiction.
    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }
}

impl Jurisdiction {
    fn from_entry(entry: JurisdictionEntry) -> Result<Jurisdiction, DirectoryError> {
        let code =
            JurisdictionCode::parse(&entry.code).map_err(|source| DirectoryError::BadCode {
                code: entry.code.clone(),
                source,
            })?;
        let parent = entry
            .parent
            .map(|parent| {
                JurisdictionCode::parse(&parent).map_err(|source| DirectoryError::BadParent {
                    code: code.clone(),
                    parent: parent.clone(),
                    source,
                })
            })
            .transpose()?;
        let names = check_names(&code, entry.names)?;
        Ok(Jurisdiction {
            code,
            level: entry.level,
            parent,
            names,
        })
    }
}

/// Names must be non-empty and follow one another without gap or overlap, so that a
/// date maps to at most one name and a rename leaves no day unnamed.
fn check_names(
    code: &JurisdictionCode,
    entries: Vec<NameEntry>,
) -> Result<Vec<NamePeriod>, DirectoryError> {
    if entries.is_empty() {
        return Err(DirectoryError::NoNames(code.clone()));
    }
    let names: Vec<NamePeriod> = entries
        .into_iter()
        .map(|entry| NamePeriod {
            name: entry.name.trim().to_owned(),
            from: entry.from.map(|date| date.0),
            until: entry.until.map(|date| date.0),
        })
        .collect();
    for period in &names {
        if period.name.is_empty() {
            return Err(DirectoryError::EmptyName(code.clone()));
        }
        if let (Some(from), Some(until)) = (period.from, period.until)
            && until <= from
        {
            return Err(DirectoryError::PeriodReversed {
                code: code.clone(),
                name: period.name.clone(),
            });
        }
    }
    for pair in names.windows(2) {
        let [earlier, later] = pair else {
            unreachable!("windows(2) yields pairs")
        };
        if earlier.until.is_none() || earlier.until != later.from {
            return Err(DirectoryError::NamesNotContiguous {
                code: code.clone(),
                earlier: earlier.name.clone(),
                later: later.name.clone(),
            });
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_SEVEN: [&str; 7] = [
        "510802", "510811", "510812", "510821", "510822", "510823", "510824",
    ];

    fn code(text: &str) -> JurisdictionCode {
        JurisdictionCode::parse(text).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_six_digit_code_parses_and_trims() {
        let parsed = JurisdictionCode::parse(" 510802 ").unwrap();
        assert_eq!(parsed.as_str(), "510802");
        assert_eq!(parsed.to_string(), "510802");
    }

    #[test]
    fn a_short_code_reports_the_length_found() {
        let error = JurisdictionCode::parse("51080").unwrap_err();
        assert_eq!(error, JurisdictionError::WrongLength { found: 5 });
        assert!(error.to_string().contains("5 characters"), "{error}");
    }

    #[test]
    fn a_non_digit_reports_its_position() {
        let error = JurisdictionCode::parse("5108O2").unwrap_err();
        assert_eq!(
            error,
            JurisdictionError::NotADigit {
                position: 5,
                found: 'O'
            }
        );
    }

    #[test]
    fn the_guangyuan_directory_has_the_city_and_its_seven_jurisdictions() {
        let directory = Directory::guangyuan();
        assert_eq!(directory.len(), 8);
        let city = directory.get(&code("510800")).unwrap();
        assert_eq!(city.level(), Level::City);
        assert_eq!(city.parent(), None);
        assert_eq!(city.current_name(), Some("广元市"));
        for child in ALL_SEVEN {
            let jurisdiction = directory.get(&code(child)).unwrap();
            assert_eq!(jurisdiction.parent(), Some(&code("510800")), "{child}");
        }
        assert_eq!(
            directory.get(&code("510802")).unwrap().level(),
            Level::District
        );
        assert_eq!(
            directory.get(&code("510824")).unwrap().level(),
            Level::County
        );
    }

    #[test]
    fn current_names_follow_facts() {
        let directory = Directory::guangyuan();
        let expected = [
            ("510802", "利州区"),
            ("510811", "昭化区"),
            ("510812", "朝天区"),
            ("510821", "旺苍县"),
            ("510822", "青川县"),
            ("510823", "剑阁县"),
            ("510824", "苍溪县"),
        ];
        for (c, name) in expected {
            assert_eq!(directory.current_name(&code(c)), Some(name), "{c}");
        }
        assert_eq!(directory.current_name(&code("510899")), None);
    }

    #[test]
    fn renamed_districts_keep_their_former_names_by_date() {
        let directory = Directory::guangyuan();
        let lizhou = code("510802");
        assert_eq!(
            directory.name_on(&lizhou, date(2006, 12, 31)),
            Some("市中区")
        );
        assert_eq!(directory.name_on(&lizhou, date(2008, 1, 1)), Some("利州区"));
        let zhaohua = code("510811");
        assert_eq!(
            directory.name_on(&zhaohua, date(2010, 6, 1)),
            Some("元坝区")
        );
        assert_eq!(
            directory.name_on(&zhaohua, date(2014, 1, 1)),
            Some("昭化区")
        );
        // An unchanged name holds at any date.
        assert_eq!(
            directory.name_on(&code("510812"), date(1995, 1, 1)),
            Some("朝天区")
        );
    }

    #[test]
    fn the_city_covers_itself_and_all_seven() {
        let directory = Directory::guangyuan();
        let city = code("510800");
        assert!(directory.covers(&city, &city));
        for child in ALL_SEVEN {
            assert!(directory.covers(&city, &code(child)), "{child}");
        }
    }

    #[test]
    fn a_county_covers_only_itself() {
        let directory = Directory::guangyuan();
        let cangxi = code("510824");
        assert!(directory.covers(&cangxi, &cangxi));
        assert!(!directory.covers(&cangxi, &code("510800")));
        assert!(!directory.covers(&cangxi, &code("510823")));
        assert_eq!(directory.descendants(&cangxi), vec![&cangxi]);
    }

    #[test]
    fn unknown_codes_cover_nothing_and_are_covered_by_nothing() {
        let directory = Directory::guangyuan();
        let unknown = code("510899");
        assert!(!directory.covers(&unknown, &unknown));
        assert!(!directory.covers(&code("510800"), &unknown));
        assert!(directory.descendants(&unknown).is_empty());
    }

    #[test]
    fn the_city_descendants_are_all_eight_codes() {
        let directory = Directory::guangyuan();
        let descendants: Vec<&str> = directory
            .descendants(&code("510800"))
            .into_iter()
            .map(JurisdictionCode::as_str)
            .collect();
        let mut expected = vec!["510800"];
        expected.extend(ALL_SEVEN);
        assert_eq!(descendants, expected);
    }

    #[test]
    fn ancestors_run_from_a_county_up_to_the_city() {
        let directory = Directory::guangyuan();
        assert_eq!(directory.root().as_str(), "510800");
        let code = |c: &str| JurisdictionCode::parse(c).unwrap();
        let names = |chain: Vec<&JurisdictionCode>| {
            chain
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(directory.ancestors(&code("510821"))),
            ["510821", "510800"]
        );
        assert_eq!(names(directory.ancestors(&code("510800"))), ["510800"]);
        assert!(directory.ancestors(&code("110101")).is_empty());
    }

    #[test]
    fn parse_known_rejects_a_well_formed_code_not_in_the_directory() {
        let directory = Directory::guangyuan();
        assert_eq!(directory.parse_known("510811").unwrap(), code("510811"));
        let error = directory.parse_known("510899").unwrap_err();
        assert_eq!(error, JurisdictionError::Unknown(code("510899")));
        assert!(
            error.to_string().starts_with("unknown jurisdiction 510899"),
            "{error}"
        );
        assert!(matches!(
            directory.parse_known("51089").unwrap_err(),
            JurisdictionError::WrongLength { found: 5 }
        ));
    }

    #[test]
    fn a_deploying_city_can_supply_its_own_directory() {
        let directory = Directory::from_toml_str(
            r#"
            [[jurisdiction]]
            code = "510700"
            level = "city"
            names = [{ name = "绵阳市" }]

            [[jurisdiction]]
            code = "510781"
            level = "county_level_city"
            parent = "510700"
            names = [{ name = "江油市" }]
            "#,
        )
        .unwrap();
        assert!(directory.covers(&code("510700"), &code("510781")));
        assert_eq!(
            directory.get(&code("510781")).unwrap().level(),
            Level::CountyLevelCity
        );
        assert!(!directory.contains(&code("510800")));
    }

    #[test]
    fn a_directory_with_an_unlisted_parent_is_refused() {
        let error = Directory::from_toml_str(
            r#"
            [[jurisdiction]]
            code = "510802"
            level = "district"
            parent = "510800"
            names = [{ name = "利州区" }]
            "#,
        )
        .unwrap_err();
        assert_eq!(
            error,
            DirectoryError::UnknownParent {
                code: code("510802"),
                parent: code("510800")
            }
        );
    }

    #[test]
    fn a_directory_with_a_parent_cycle_is_refused() {
        let error = Directory::from_toml_str(
            r#"
            [[jurisdiction]]
            code = "510800"
            level = "city"
            parent = "510802"
            names = [{ name = "广元市" }]

            [[jurisdiction]]
            code = "510802"
            level = "district"
            parent = "510800"
            names = [{ name = "利州区" }]
            "#,
        )
        .unwrap_err();
        assert!(matches!(error, DirectoryError::ParentCycle(_)), "{error}");
    }

    #[test]
    fn a_duplicate_or_malformed_code_is_refused() {
        let duplicate = Directory::from_toml_str(
            r#"
            [[jurisdiction]]
            code = "510800"
            level = "city"
            names = [{ name = "广元市" }]

            [[jurisdiction]]
            code = "510800"
            level = "city"
            names = [{ name = "广元市" }]
            "#,
        )
        .unwrap_err();
        assert_eq!(duplicate, DirectoryError::Duplicate(code("510800")));

        let malformed = Directory::from_toml_str(
            r#"
            [[jurisdiction]]
            code = "51080"
            level = "city"
            names = [{ name = "广元市" }]
            "#,
        )
        .unwrap_err();
        assert!(
            matches!(malformed, DirectoryError::BadCode { ref code, .. } if code == "51080"),
            "{malformed}"
        );
    }

    #[test]
    fn names_with_a_gap_between_periods_are_refused() {
        let error = Directory::from_toml_str(
            r#"
            [[jurisdiction]]
            code = "510811"
            level = "district"
            names = [
                { name = "元坝区", until = 2013-04-17 },
                { name = "昭化区", from = 2013-05-01 },
            ]
            "#,
        )
        .unwrap_err();
        assert!(
            matches!(error, DirectoryError::NamesNotContiguous { .. }),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_level_is_refused() {
        let error = Directory::from_toml_str(
            r#"
            [[jurisdiction]]
            code = "510800"
            level = "prefecture"
            names = [{ name = "广元市" }]
            "#,
        )
        .unwrap_err();
        assert!(matches!(error, DirectoryError::Toml(_)), "{error}");
    }

    #[test]
    fn an_empty_directory_is_refused() {
        assert_eq!(
            Directory::from_toml_str("").unwrap_err(),
            DirectoryError::Empty
        );
    }

    #[test]
    fn codes_deserialize_through_parse() {
        #[derive(Debug, Deserialize)]
        struct Row {
            code: JurisdictionCode,
        }
        let row: Row = toml::from_str(r#"code = "510812""#).unwrap();
        assert_eq!(row.code, code("510812"));
        assert!(toml::from_str::<Row>(r#"code = "51O812""#).is_err());
    }
}
