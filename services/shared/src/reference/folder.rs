//! The reference folder: all the data a city runs on, in one folder an operator owns.
//!
//! ```text
//! jurisdictions.toml    the directory: codes, names by period, parents (one root, the city)
//! departments.toml      the departments every jurisdiction has, and their categories
//! routing_rules.toml    where new cases go (parsed by routing)
//! meeting_kinds.toml    the consultation meetings the city holds (parsed by routing)
//! indicator_model.toml  the default indicator model (parsed by scoring)
//! calendar/<year>.toml  the working-day calendar, one State Council notice a file
//! ```
//!
//! A folder holds every file: nothing falls back to the embedded set one file at a
//! time, so what runs is exactly what the folder says (`zhengqi reference export`
//! writes the embedded set as a starting point). Guangyuan's set is embedded and is
//! the default when no folder is given.
//!
//! The shared crate checks what it owns (directory, departments, calendar) and keeps
//! the text of the files services own; each service parses its own files with its own
//! parser, and the `zhengqi` command runs all of them before anything starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::calendar::OFFICIAL_YEARS;
use super::located::{ReferenceError, ReferenceErrors, ReferenceFile};
use super::{Calendar, CalendarDataError, Directory, DirectoryError, JurisdictionCode, Level};
use crate::appeal::Category;

pub const JURISDICTIONS: &str = "jurisdictions.toml";
pub const DEPARTMENTS: &str = "departments.toml";
pub const ROUTING_RULES: &str = "routing_rules.toml";
pub const MEETING_KINDS: &str = "meeting_kinds.toml";
pub const INDICATOR_MODEL: &str = "indicator_model.toml";
/// The folder of the calendar years, `<year>.toml` each.
pub const CALENDAR: &str = "calendar";

/// The files of a folder besides the calendar years, every one required.
pub const FILES: [&str; 5] = [
    JURISDICTIONS,
    DEPARTMENTS,
    ROUTING_RULES,
    MEETING_KINDS,
    INDICATOR_MODEL,
];

/// Guangyuan's files, embedded; the calendar years are the official ones.
const EMBEDDED: [(&str, &str); 5] = [
    (JURISDICTIONS, include_str!("../../data/jurisdictions.toml")),
    (DEPARTMENTS, include_str!("../../data/departments.toml")),
    (ROUTING_RULES, include_str!("../../data/routing_rules.toml")),
    (MEETING_KINDS, include_str!("../../data/meeting_kinds.toml")),
    (
        INDICATOR_MODEL,
        include_str!("../../data/indicator_model.toml"),
    ),
];

/// What files of the embedded set are shown as in messages.
const EMBEDDED_ORIGIN: &str = "(embedded)";

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

/// The reference data a deployment runs on, checked: every part is built from one.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The folder it was read from; `None` for the embedded set.
    pub folder: Option<PathBuf>,
    pub directory: Arc<Directory>,
    pub departments: Vec<DepartmentKind>,
    /// The calendar years of the folder, as services start with.
    pub calendar: Calendar,
    /// Routing's rules, seeded into its store at start; routing parses them.
    pub routing_rules: ReferenceFile,
    /// The consultation meetings held; routing parses them.
    pub meeting_kinds: ReferenceFile,
    /// The default indicator model; scoring parses it.
    pub indicator_model: ReferenceFile,
}

impl Reference {
    /// Guangyuan's set, embedded in the binary.
    pub fn embedded() -> Reference {
        let files = EMBEDDED.map(|(name, text)| ReferenceFile::new(embedded_path(name), text));
        let years = OFFICIAL_YEARS
            .iter()
            .map(|text| ReferenceFile::new(embedded_path(&embedded_year_name(text)), *text))
            .collect();
        // The embedded files are checked by the tests; failing here is a build defect.
        Reference::from_files(None, files, years).expect("the embedded reference data is valid")
    }

    /// Reads and checks a reference folder; every problem found is returned, each
    /// naming its file, line and field.
    pub fn load_dir(folder: &Path) -> Result<Reference, ReferenceErrors> {
        let shown_folder = folder.display().to_string();
        if !folder.is_dir() {
            return Err(ReferenceError {
                file: shown_folder,
                line: None,
                field: String::new(),
                message: "is not a folder; a reference folder holds jurisdictions.toml, \
                          departments.toml, routing_rules.toml, meeting_kinds.toml, \
                          indicator_model.toml and calendar/<year>.toml"
                    .to_owned(),
            }
            .into());
        }
        let mut errors = Vec::new();
        let whole = |path: String, message: String| ReferenceError {
            file: path,
            line: None,
            field: String::new(),
            message,
        };
        let read = |name: &str, errors: &mut Vec<ReferenceError>| {
            let path = folder.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => Some(ReferenceFile::new(path.display().to_string(), text)),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    errors.push(whole(
                        path.display().to_string(),
                        "missing: a reference folder holds every file (`zhengqi reference \
                         export DIR` writes a complete one to start from)"
                            .to_owned(),
                    ));
                    None
                }
                Err(error) => {
                    errors.push(whole(
                        path.display().to_string(),
                        format!("cannot be read: {error}"),
                    ));
                    None
                }
            }
        };
        let files: [Option<ReferenceFile>; 5] = FILES.map(|name| read(name, &mut errors));

        // A misspelt file name would otherwise go unnoticed beside the missing one.
        if let Ok(entries) = std::fs::read_dir(folder) {
            let mut unknown: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".toml") && !FILES.contains(&name.as_str()))
                .collect();
            unknown.sort();
            for name in unknown {
                errors.push(whole(
                    folder.join(&name).display().to_string(),
                    format!("is not a file of a reference folder ({})", FILES.join(", ")),
                ));
            }
        }

        let calendar_folder = folder.join(CALENDAR);
        let mut years = Vec::new();
        match std::fs::read_dir(&calendar_folder) {
            Ok(entries) => {
                let mut paths: Vec<PathBuf> = entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .filter(|path| path.extension().is_some_and(|e| e == "toml"))
                    .collect();
                paths.sort();
                for path in paths {
                    match std::fs::read_to_string(&path) {
                        Ok(text) => {
                            years.push(ReferenceFile::new(path.display().to_string(), text))
                        }
                        Err(error) => errors.push(whole(
                            path.display().to_string(),
                            format!("cannot be read: {error}"),
                        )),
                    }
                }
                if years.is_empty() {
                    errors.push(whole(
                        calendar_folder.display().to_string(),
                        "holds no year: add the State Council's notice as <year>.toml".to_owned(),
                    ));
                }
            }
            Err(error) => errors.push(whole(
                calendar_folder.display().to_string(),
                format!("cannot be read ({error}): the calendar years are <year>.toml files in it"),
            )),
        }

        if !errors.is_empty() {
            return Err(errors.into());
        }
        let [
            Some(jurisdictions),
            Some(departments),
            Some(rules),
            Some(meetings),
            Some(model),
        ] = files
        else {
            unreachable!("a file that could not be read is one of the errors above");
        };
        Reference::from_files(
            Some(folder.to_owned()),
            [jurisdictions, departments, rules, meetings, model],
            years,
        )
        .map_err(ReferenceErrors)
    }

    /// Writes the embedded set into `folder` (created if missing), byte for byte, as
    /// a starting point; refuses to overwrite a file. Returns the files written.
    pub fn export_embedded(folder: &Path) -> std::io::Result<Vec<PathBuf>> {
        let mut files: Vec<(PathBuf, &str)> = EMBEDDED
            .iter()
            .map(|(name, text)| (folder.join(name), *text))
            .collect();
        files.extend(
            OFFICIAL_YEARS
                .iter()
                .map(|text| (folder.join(embedded_year_name(text)), *text)),
        );
        if let Some((path, _)) = files.iter().find(|(path, _)| path.exists()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists; export writes into a new or empty folder",
                    path.display()
                ),
            ));
        }
        std::fs::create_dir_all(folder.join(CALENDAR))?;
        for (path, text) in &files {
            std::fs::write(path, text)?;
        }
        Ok(files.into_iter().map(|(path, _)| path).collect())
    }

    /// Checks the files the shared crate owns and keeps the others' text.
    fn from_files(
        folder: Option<PathBuf>,
        files: [ReferenceFile; 5],
        years: Vec<ReferenceFile>,
    ) -> Result<Reference, Vec<ReferenceError>> {
        let [
            jurisdictions,
            departments,
            routing_rules,
            meeting_kinds,
            indicator_model,
        ] = files;
        let mut errors = Vec::new();
        let directory = directory(&jurisdictions).map_err(|e| errors.push(e)).ok();
        let departments = department_kinds(&departments)
            .map_err(|e| errors.extend(e))
            .ok();
        let calendar = calendar(&years).map_err(|e| errors.extend(e)).ok();
        match (directory, departments, calendar) {
            (Some(directory), Some(departments), Some(calendar)) if errors.is_empty() => {
                Ok(Reference {
                    folder,
                    directory: Arc::new(directory),
                    departments,
                    calendar,
                    routing_rules,
                    meeting_kinds,
                    indicator_model,
                })
            }
            _ => Err(errors),
        }
    }

    /// Where it came from, for logs: the folder, or the embedded set.
    pub fn origin(&self) -> String {
        match &self.folder {
            Some(folder) => folder.display().to_string(),
            None => "the embedded set (Guangyuan)".to_owned(),
        }
    }

    /// The city: the root of the directory.
    pub fn city(&self) -> &JurisdictionCode {
        self.directory.root()
    }
}

/// How an embedded file is named in messages: `(embedded)/<name>`.
fn embedded_path(name: &str) -> String {
    format!("{EMBEDDED_ORIGIN}/{name}")
}

/// `calendar/<year>.toml` for an embedded year's text.
fn embedded_year_name(text: &str) -> String {
    #[derive(Deserialize)]
    struct YearOnly {
        year: i32,
    }
    let year = toml::from_str::<YearOnly>(text).map_or(0, |y| y.year);
    format!("{CALENDAR}/{year}.toml")
}

/// The directory, with one root that is a city.
fn directory(file: &ReferenceFile) -> Result<Directory, ReferenceError> {
    let at = |code: &str, nth: usize, field: &str| match file
        .index_where("jurisdiction", "code", code)
        .get(nth)
    {
        Some(index) => format!("jurisdiction[{index}].{field}"),
        None => "jurisdiction".to_owned(),
    };
    let directory = Directory::from_toml_str(file.text()).map_err(|error| {
        let field = match &error {
            DirectoryError::Toml(toml) => return file.toml_error(toml),
            DirectoryError::Empty => "jurisdiction".to_owned(),
            DirectoryError::BadCode { code, .. } => at(code, 0, "code"),
            DirectoryError::Duplicate(code) => at(code.as_str(), 1, "code"),
            DirectoryError::BadParent { code, .. }
            | DirectoryError::UnknownParent { code, .. }
            | DirectoryError::ParentCycle(code) => at(code.as_str(), 0, "parent"),
            DirectoryError::NoNames(code)
            | DirectoryError::EmptyName(code)
            | DirectoryError::PeriodReversed { code, .. }
            | DirectoryError::NamesNotContiguous { code, .. } => at(code.as_str(), 0, "names"),
        };
        file.error(field, error)
    })?;
    let roots: Vec<_> = directory.iter().filter(|j| j.parent().is_none()).collect();
    if let [first, second, ..] = roots.as_slice() {
        return Err(file.error(
            at(second.code().as_str(), 0, "parent"),
            format!(
                "{} has no parent, nor has {}: the directory has one root, the city",
                second.code(),
                first.code()
            ),
        ));
    }
    let root = directory.root();
    if directory.get(root).map(|j| j.level()) != Some(Level::City) {
        return Err(file.error(
            at(root.as_str(), 0, "level"),
            format!(
                "{root} is the root of the directory, so it must be the city (level = \"city\")"
            ),
        ));
    }
    Ok(directory)
}

/// The `[[department]]` tables of a departments file, checked: keys that can end
/// a department id, names, and categories each handled by one department.
pub fn department_kinds(file: &ReferenceFile) -> Result<Vec<DepartmentKind>, Vec<ReferenceError>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct DepartmentsFile {
        #[serde(default)]
        department: Vec<DepartmentKind>,
    }
    let kinds = file
        .deserialize::<DepartmentsFile>()
        .map_err(|e| vec![e])?
        .department;
    let mut errors = Vec::new();
    if kinds.is_empty() {
        errors.push(file.error("department", "lists no departments"));
    }
    let mut handled: BTreeMap<&str, usize> = BTreeMap::new();
    for (n, kind) in kinds.iter().enumerate() {
        let field = |name: &str| format!("department[{n}].{name}");
        let earlier = &kinds[..n];
        if kind.key.is_empty()
            || !kind
                .key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            errors.push(file.error(
                field("key"),
                format!(
                    "{:?}: a key is lowercase letters, digits or _ (it ends a department id, \
                     `<jurisdiction code>-<key>`)",
                    kind.key
                ),
            ));
        } else if earlier.iter().any(|k| k.key == kind.key) {
            errors.push(file.error(field("key"), format!("{:?} is listed twice", kind.key)));
        }
        if kind.name.trim().is_empty() {
            errors.push(file.error(field("name"), "must not be empty"));
        } else if earlier.iter().any(|k| k.name == kind.name) {
            errors.push(file.error(field("name"), format!("{:?} is listed twice", kind.name)));
        }
        for (c, category) in kind.categories.iter().enumerate() {
            let field = format!("department[{n}].categories[{c}]");
            if Category::parse(category).is_none() {
                let known: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                errors.push(file.error(
                    field,
                    format!("unknown category {category:?}; known: {}", known.join(", ")),
                ));
            } else if let Some(other) = handled.get(category.as_str()) {
                errors.push(file.error(
                    field,
                    format!(
                        "{category} is handled by department[{other}] ({}) already; a category \
                         goes to one department",
                        kinds[*other].key
                    ),
                ));
            } else {
                handled.insert(category, n);
            }
        }
    }
    if errors.is_empty() {
        Ok(kinds)
    } else {
        Err(errors)
    }
}

/// The calendar years, each file named for its year.
fn calendar(years: &[ReferenceFile]) -> Result<Calendar, Vec<ReferenceError>> {
    let mut calendar = Calendar::empty();
    let mut errors = Vec::new();
    for file in years {
        let refused = |error: CalendarDataError| {
            let date_field = |date: chrono::NaiveDate, fallback: &str| {
                file.path_of_value(&date.to_string())
                    .unwrap_or_else(|| fallback.to_owned())
            };
            // The calendar names the line; the field is named here to the element.
            let field = match &error {
                CalendarDataError::Toml { .. } | CalendarDataError::YearOutOfRange { .. } => {
                    error.field().to_owned()
                }
                CalendarDataError::OutsideYear { date, field, .. } => date_field(*date, field),
                CalendarDataError::NotAWeekend { date, .. }
                | CalendarDataError::BothOffAndOn { date, .. } => {
                    date_field(*date, "working_weekends")
                }
                CalendarDataError::HolidayReversed { name, .. } => {
                    match file.index_where("holiday", "name", name).first() {
                        Some(index) => format!("holiday[{index}].last"),
                        None => "holiday".to_owned(),
                    }
                }
            };
            ReferenceError {
                file: file.path().to_owned(),
                line: Some(error.line()),
                field,
                message: error.reason(),
            }
        };
        match calendar.load_year_toml(file.text()) {
            Ok(year) => {
                let stem = Path::new(file.path())
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if stem != year.to_string() {
                    errors.push(file.error(
                        "year",
                        format!("the file of {year} is named {year}.toml, not {stem}.toml"),
                    ));
                }
            }
            Err(error) => errors.push(refused(error)),
        }
    }
    if errors.is_empty() {
        Ok(calendar)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder with the embedded set, then `change` applied to its files.
    fn folder(change: impl FnOnce(&Path)) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        Reference::export_embedded(dir.path()).unwrap();
        change(dir.path());
        dir
    }

    fn edit(path: &Path, from: &str, to: &str) {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains(from), "{} holds {from:?}", path.display());
        std::fs::write(path, text.replacen(from, to, 1)).unwrap();
    }

    fn refusals(dir: &Path) -> Vec<ReferenceError> {
        Reference::load_dir(dir).unwrap_err().0
    }

    /// The refusals of the embedded set with `from` replaced by `to` in `file`.
    fn refused_after(file: &str, from: &str, to: &str) -> (tempfile::TempDir, Vec<ReferenceError>) {
        let dir = folder(|dir| edit(&dir.join(file), from, to));
        let errors = refusals(dir.path());
        (dir, errors)
    }

    #[test]
    fn the_embedded_set_is_guangyuan() {
        let reference = Reference::embedded();
        assert_eq!(reference.city().as_str(), "510800");
        assert_eq!(reference.directory.len(), 8);
        assert!(reference.departments.iter().any(|d| d.key == "jrj"));
        assert_eq!(reference.calendar, Calendar::official());
        assert_eq!(reference.folder, None);
        assert_eq!(
            reference.routing_rules.path(),
            "(embedded)/routing_rules.toml"
        );
    }

    #[test]
    fn an_exported_folder_loads_as_the_embedded_set_byte_for_byte() {
        let dir = folder(|_| {});
        for (name, text) in EMBEDDED {
            assert_eq!(
                std::fs::read_to_string(dir.path().join(name)).unwrap(),
                text
            );
        }
        for year in ["2025", "2026"] {
            assert!(
                dir.path()
                    .join(CALENDAR)
                    .join(format!("{year}.toml"))
                    .is_file()
            );
        }
        let loaded = Reference::load_dir(dir.path()).unwrap();
        let embedded = Reference::embedded();
        assert_eq!(loaded.directory, embedded.directory);
        assert_eq!(loaded.departments, embedded.departments);
        assert_eq!(loaded.calendar, embedded.calendar);
        assert_eq!(loaded.routing_rules.text(), embedded.routing_rules.text());
        assert_eq!(loaded.folder.as_deref(), Some(dir.path()));
        // Export refuses to write over an operator's files.
        assert!(Reference::export_embedded(dir.path()).is_err());
    }

    #[test]
    fn every_missing_or_unknown_file_is_named() {
        let dir = folder(|dir| {
            std::fs::remove_file(dir.join(DEPARTMENTS)).unwrap();
            std::fs::remove_file(dir.join(MEETING_KINDS)).unwrap();
            std::fs::write(dir.join("meeting_kind.toml"), "").unwrap();
        });
        let errors = refusals(dir.path());
        let files: Vec<String> = errors.iter().map(|e| e.file.clone()).collect();
        let expected = |name: &str| dir.path().join(name).display().to_string();
        assert_eq!(
            files,
            [
                expected(DEPARTMENTS),
                expected(MEETING_KINDS),
                expected("meeting_kind.toml")
            ]
        );
        assert!(errors[0].message.starts_with("missing"), "{}", errors[0]);
    }

    #[test]
    fn an_unknown_category_names_file_line_and_field() {
        let (dir, errors) = refused_after(
            DEPARTMENTS,
            "categories = [\"MARKET\"]",
            "categories = [\"FOO\"]",
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        let file = dir.path().join(DEPARTMENTS).display().to_string();
        let shown = errors[0].to_string();
        assert!(
            shown.starts_with(&format!(
                "{file}:57: department[9].categories[0]: unknown category \"FOO\""
            )),
            "{shown}"
        );
    }

    #[test]
    fn department_keys_names_and_categories_are_checked() {
        let dir = folder(|dir| {
            let path = dir.join(DEPARTMENTS);
            edit(&path, "key = \"fgw\"", "key = \"ysb\"");
            edit(&path, "key = \"jxj\"", "key = \"jx-j\"");
            edit(&path, "name = \"财政局\"", "name = \"\"");
            edit(
                &path,
                "categories = [\"TRANSPORT\"]",
                "categories = [\"FINANCING\"]",
            );
        });
        let fields: Vec<String> = refusals(dir.path()).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "department[1].key",
                "department[2].key",
                "department[3].name",
                // TRANSPORT's department (jtj) now lists FINANCING before jrj does.
                "department[10].categories[0]",
            ]
        );
    }

    #[test]
    fn a_misspelt_field_is_refused_at_its_line() {
        let (_dir, errors) = refused_after(DEPARTMENTS, "name = \"财政局\"", "nmae = \"财政局\"");
        assert_eq!(errors[0].field, "department[3].nmae", "{}", errors[0]);
        assert_eq!(errors[0].line, Some(26), "{}", errors[0]);
    }

    #[test]
    fn a_parent_outside_the_directory_is_refused() {
        let (_dir, errors) = refused_after(
            JURISDICTIONS,
            "code = \"510821\"\nlevel = \"county\"\nparent = \"510800\"",
            "code = \"510821\"\nlevel = \"county\"\nparent = \"510900\"",
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "jurisdiction[4].parent");
        assert_eq!(errors[0].line, Some(50), "{}", errors[0]);
        assert!(errors[0].message.contains("510900"), "{}", errors[0]);
    }

    #[test]
    fn the_root_is_one_city() {
        let (_dir, errors) = refused_after(
            JURISDICTIONS,
            "level = \"county\"\nparent = \"510800\"\nnames = [{ name = \"青川县\" }]",
            "level = \"county\"\nnames = [{ name = \"青川县\" }]",
        );
        assert_eq!(errors[0].field, "jurisdiction[5].parent", "{}", errors[0]);
        assert!(errors[0].message.contains("one root"), "{}", errors[0]);

        let (_dir, errors) =
            refused_after(JURISDICTIONS, "level = \"city\"", "level = \"district\"");
        assert_eq!(errors[0].field, "jurisdiction[0].level", "{}", errors[0]);
    }

    #[test]
    fn a_calendar_year_is_checked_and_named_for_its_year() {
        let dir = folder(|dir| {
            edit(
                &dir.join(CALENDAR).join("2025.toml"),
                "working_weekends = [2025-01-26,",
                "working_weekends = [2025-01-27,",
            );
            std::fs::rename(
                dir.join(CALENDAR).join("2026.toml"),
                dir.join(CALENDAR).join("2027.toml"),
            )
            .unwrap();
        });
        let errors = refusals(dir.path());
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].field, "working_weekends[0]");
        assert!(errors[0].message.contains("周一"), "{}", errors[0]);
        assert_eq!(errors[1].field, "year");
        assert!(errors[1].file.ends_with("2027.toml"), "{}", errors[1]);
    }
}
