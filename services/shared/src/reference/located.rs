//! Reference files and their refusals, each naming the file, the line and the field.
//!
//! A city's operator edits these files by hand, so a refusal must point at the line to
//! fix: `deploy/reference/bazhong/departments.toml:12: department[3].categories[0]:
//! unknown category "FOO"`. Parsers name the field by its path in the file (tables by
//! key, arrays by index from 0); the line is found from the path in the parsed document,
//! so every parser gets lines without tracking positions itself.

use std::fmt;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One file of a reference folder: the path it is shown by and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceFile {
    path: String,
    text: String,
}

/// Why a reference file was refused: where, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceError {
    /// The file as shown to the operator, e.g. `deploy/reference/bazhong/departments.toml`.
    pub file: String,
    /// From 1; `None` when the problem is the file as a whole (missing, unreadable).
    pub line: Option<usize>,
    /// The path of the field in the file, e.g. `department[3].categories[0]`; empty
    /// for the file as a whole.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ReferenceError {}

/// Every refusal of a reference folder, one a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceErrors(pub Vec<ReferenceError>);

impl fmt::Display for ReferenceErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, error) in self.0.iter().enumerate() {
            if n > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ReferenceErrors {}

impl From<Vec<ReferenceError>> for ReferenceErrors {
    fn from(errors: Vec<ReferenceError>) -> Self {
        ReferenceErrors(errors)
    }
}

impl From<ReferenceError> for ReferenceErrors {
    fn from(error: ReferenceError) -> Self {
        ReferenceErrors(vec![error])
    }
}

impl ReferenceFile {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> ReferenceFile {
        ReferenceFile {
            path: path.into(),
            text: text.into(),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Deserializes the whole file; a refusal names the line and the field the TOML
    /// parser or serde stopped at.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, ReferenceError> {
        toml::from_str(&self.text).map_err(|error| self.toml_error(&error))
    }

    /// A refusal of `field` (a path such as `rule[2].department_id`), at the line
    /// that field is on, or the nearest enclosing one that exists.
    pub fn error(&self, field: impl Into<String>, message: impl fmt::Display) -> ReferenceError {
        let field = field.into();
        ReferenceError {
            file: self.path.clone(),
            line: self.line_of(&field),
            field,
            message: message.to_string(),
        }
    }

    /// A refusal of the file as a whole.
    pub fn file_error(&self, message: impl fmt::Display) -> ReferenceError {
        ReferenceError {
            file: self.path.clone(),
            line: None,
            field: String::new(),
            message: message.to_string(),
        }
    }

    /// A refusal by the TOML parser or by serde, at the span it reports.
    pub fn toml_error(&self, error: &toml::de::Error) -> ReferenceError {
        let offset = error.span().map(|span| span.start);
        let field = offset
            .and_then(|offset| {
                let document = DeTable::parse(&self.text).ok()?;
                let mut path = String::new();
                path_at_table(document.get_ref(), offset, &mut path);
                Some(path)
            })
            .unwrap_or_default();
        ReferenceError {
            file: self.path.clone(),
            line: offset.map(|offset| line_at(&self.text, offset)),
            field,
            message: error.message().trim().to_owned(),
        }
    }

    /// The line (from 1) of the field at `path`, or of the nearest enclosing field
    /// found; `None` when the text does not parse or the path names nothing in it.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let document = DeTable::parse(&self.text).ok()?;
        let mut found: Option<usize> = None;
        let mut table: Option<&DeTable<'_>> = Some(document.get_ref());
        for segment in path.split('.').filter(|s| !s.is_empty()) {
            let (key, indexes) = split_indexes(segment);
            let Some(current) = table else { break };
            let Some((key_span, entry)) = current
                .iter()
                .find(|(k, _)| k.get_ref() == key)
                .map(|(k, v)| (k.span(), v))
            else {
                break;
            };
            found = Some(key_span.start);
            let mut value = Some(entry);
            for index in indexes {
                let Some(DeValue::Array(items)) = value.map(Spanned::get_ref) else {
                    value = None;
                    break;
                };
                value = items.get(index);
                if let Some(item) = value {
                    found = Some(item.span().start);
                }
            }
            table = match value.map(Spanned::get_ref) {
                Some(DeValue::Table(inner)) => Some(inner),
                _ => None,
            };
        }
        found.map(|offset| line_at(&self.text, offset))
    }

    /// The indexes (from 0) of the tables of the array `array` whose `key` holds the
    /// string `value`: `index_where("jurisdiction", "code", "511902")`.
    pub fn index_where(&self, array: &str, key: &str, value: &str) -> Vec<usize> {
        let Ok(document) = DeTable::parse(&self.text) else {
            return Vec::new();
        };
        let Some(DeValue::Array(items)) = document
            .get_ref()
            .iter()
            .find(|(k, _)| k.get_ref() == array)
            .map(|(_, v)| v.get_ref())
        else {
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter(|(_, item)| match item.get_ref() {
                DeValue::Table(table) => table.iter().any(|(k, v)| {
                    k.get_ref() == key && scalar(v.get_ref()).as_deref() == Some(value)
                }),
                _ => false,
            })
            .map(|(index, _)| index)
            .collect()
    }

    /// The path of the first scalar (string, number, date) written as `value`, in
    /// document order: where a date a parser refused stands.
    pub fn path_of_value(&self, value: &str) -> Option<String> {
        let document = DeTable::parse(&self.text).ok()?;
        let mut best: Option<(usize, String)> = None;
        find_value_in_table(document.get_ref(), value, "", &mut best);
        best.map(|(_, path)| path)
    }
}

/// `department[3][1]` → (`department`, [3, 1]).
fn split_indexes(segment: &str) -> (&str, Vec<usize>) {
    let key_end = segment.find('[').unwrap_or(segment.len());
    let indexes = segment[key_end..]
        .split(['[', ']'])
        .filter_map(|part| part.parse().ok())
        .collect();
    (&segment[..key_end], indexes)
}

fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// A string, number, boolean or date as written, for comparison.
fn scalar<'a>(value: &'a DeValue<'_>) -> Option<std::borrow::Cow<'a, str>> {
    match value {
        DeValue::String(text) => Some(std::borrow::Cow::Borrowed(text.as_ref())),
        DeValue::Integer(integer) => Some(std::borrow::Cow::Borrowed(integer.as_str())),
        DeValue::Float(float) => Some(std::borrow::Cow::Borrowed(float.as_str())),
        DeValue::Boolean(flag) => Some(std::borrow::Cow::Owned(flag.to_string())),
        DeValue::Datetime(datetime) => Some(std::borrow::Cow::Owned(datetime.to_string())),
        DeValue::Array(_) | DeValue::Table(_) => None,
    }
}

fn joined(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn find_value_in_table(
    table: &DeTable<'_>,
    wanted: &str,
    prefix: &str,
    best: &mut Option<(usize, String)>,
) {
    for (key, value) in table.iter() {
        find_value(value, wanted, joined(prefix, key.get_ref()), best);
    }
}

fn find_value(
    value: &Spanned<DeValue<'_>>,
    wanted: &str,
    path: String,
    best: &mut Option<(usize, String)>,
) {
    match value.get_ref() {
        DeValue::Table(table) => find_value_in_table(table, wanted, &path, best),
        DeValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                find_value(item, wanted, format!("{path}[{index}]"), best);
            }
        }
        other => {
            let start = value.span().start;
            if scalar(other).as_deref() == Some(wanted)
                && best.as_ref().is_none_or(|(at, _)| start < *at)
            {
                *best = Some((start, path));
            }
        }
    }
}

/// Appends to `path` the keys and indexes leading to the innermost key or value
/// whose span holds `offset`.
fn path_at_table(table: &DeTable<'_>, offset: usize, path: &mut String) {
    for (key, value) in table.iter() {
        let in_key = key.span().contains(&offset);
        let in_value = value.span().contains(&offset);
        if in_key || in_value || holds(value.get_ref(), offset) {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key.get_ref());
            if !in_key {
                path_at_value(value.get_ref(), offset, path);
            }
            return;
        }
    }
}

fn path_at_value(value: &DeValue<'_>, offset: usize, path: &mut String) {
    match value {
        DeValue::Table(table) => path_at_table(table, offset, path),
        DeValue::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                if item.span().contains(&offset) || holds(item.get_ref(), offset) {
                    path.push_str(&format!("[{index}]"));
                    path_at_value(item.get_ref(), offset, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

/// Whether a table or array holds `offset` in one of its keys or values: the
/// span of a table of an array of tables (`[[department]]`) need not cover its
/// body.
fn holds(value: &DeValue<'_>, offset: usize) -> bool {
    match value {
        DeValue::Table(table) => table.iter().any(|(key, value)| {
            key.span().contains(&offset)
                || value.span().contains(&offset)
                || holds(value.get_ref(), offset)
        }),
        DeValue::Array(items) => items
            .iter()
            .any(|item| item.span().contains(&offset) || holds(item.get_ref(), offset)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPARTMENTS: &str = r#"# departments
[[department]]
key = "ysb"
name = "营商环境建设办公室"
categories = ["OTHER"]

[[department]]
key = "jrj"
name = "金融工作局"
categories = ["FINANCING", "TAX"]
"#;

    fn file() -> ReferenceFile {
        ReferenceFile::new("city/departments.toml", DEPARTMENTS)
    }

    #[test]
    fn a_field_path_finds_its_line() {
        let file = file();
        assert_eq!(file.line_of("department[0].key"), Some(3));
        assert_eq!(file.line_of("department[1].name"), Some(9));
        assert_eq!(file.line_of("department[1].categories[1]"), Some(10));
        // A field that is not there: the nearest enclosing one.
        assert_eq!(
            file.line_of("department[1].nothing"),
            file.line_of("department[1]")
        );
        assert_eq!(file.line_of("nothing"), None);
    }

    #[test]
    fn an_error_names_file_line_and_field() {
        let error = file().error("department[1].categories[1]", "unknown category \"TAX\"");
        assert_eq!(
            error.to_string(),
            "city/departments.toml:10: department[1].categories[1]: unknown category \"TAX\""
        );
    }

    #[test]
    fn a_serde_refusal_names_the_field_it_stopped_at() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Department {
            key: String,
            name: String,
            categories: Vec<String>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct File {
            department: Vec<Department>,
        }
        let text = DEPARTMENTS.replace("name = \"金融工作局\"", "nmae = \"金融工作局\"");
        let error = ReferenceFile::new("d.toml", text)
            .deserialize::<File>()
            .unwrap_err();
        assert_eq!(error.line, Some(9), "{error}");
        assert_eq!(error.field, "department[1].nmae", "{error}");
        assert!(error.message.contains("unknown field"), "{error}");

        let text = DEPARTMENTS.replace("key = \"ysb\"", "key = 7");
        let error = ReferenceFile::new("d.toml", text)
            .deserialize::<File>()
            .unwrap_err();
        assert_eq!(
            (error.line, error.field.as_str()),
            (Some(3), "department[0].key")
        );
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let text = DEPARTMENTS.replace("key = \"jrj\"", "key = \"jrj");
        let error = ReferenceFile::new("d.toml", text)
            .deserialize::<toml::Table>()
            .unwrap_err();
        assert_eq!(error.line, Some(8), "{error}");
    }

    #[test]
    fn tables_are_found_by_a_key_and_values_by_what_is_written() {
        let file = file();
        assert_eq!(file.index_where("department", "key", "jrj"), vec![1]);
        assert!(file.index_where("department", "key", "nope").is_empty());
        assert_eq!(
            file.path_of_value("FINANCING").as_deref(),
            Some("department[1].categories[0]")
        );
        let dates = ReferenceFile::new("y.toml", "year = 2025\nworking_weekends = [2025-01-26]\n");
        assert_eq!(
            dates.path_of_value("2025-01-26").as_deref(),
            Some("working_weekends[0]")
        );
    }
}
