//! The one vocabulary every service refuses a request's fields in: the
//! problems a field can have ([`Problem`]), each in English and Chinese, and
//! the readers of the field kinds requests share (bounded text, ids, request
//! ids, enums, times). Each reader records what is wrong in the request's
//! [`Violations`], so one `INVALID_ARGUMENT` names every bad field, and hands
//! back the value it read.

use crate::error::{Violations, Why};

/// Most characters of a request id (an idempotency key).
pub const REQUEST_ID_MAX: usize = 128;
/// Most bytes of an id of this system (a jurisdiction code, a dash and a ULID,
/// or a department id); longer is no id of ours.
pub const ID_MAX: usize = 200;

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Empty or only whitespace where a value is needed.
    Missing,
    /// An enum left unset where a value is needed.
    Unset,
    /// An enum number the contract does not know.
    UnknownValue(i32),
    /// Longer than `max` characters.
    TooLong { max: usize, found: usize },
    /// A control character (other than line breaks and tabs, where text allows them).
    ControlCharacter,
    /// Longer than an id of this system can be.
    NotAnId,
    /// A negative count.
    Negative,
    /// A time outside what the system can hold.
    TimeOutOfRange,
}

impl From<Problem> for Why {
    fn from(problem: Problem) -> Self {
        match problem {
            Problem::Missing => Why::new("must not be empty", "不能为空"),
            Problem::Unset => Why::new("must be set", "必须选择"),
            Problem::UnknownValue(value) => Why::new(
                format!("{value} is not a known value"),
                format!("{value} 不是可选的取值"),
            ),
            Problem::TooLong { max, found } => Why::new(
                format!("must be at most {max} characters, got {found}"),
                format!("最多{max}个字符，现有{found}个"),
            ),
            Problem::ControlCharacter => {
                Why::new("must not contain control characters", "不能包含控制字符")
            }
            Problem::NotAnId => Why::new("is not an id of this service", "不是本系统的编号"),
            Problem::Negative => Why::new("must not be negative", "不能为负数"),
            Problem::TimeOutOfRange => Why::new(
                "is outside the times this service can hold",
                "时间超出了系统可记录的范围",
            ),
        }
    }
}

/// `value` trimmed, required and at most `max` characters.
pub fn text(v: &mut Violations, field: &str, value: &str, max: usize) -> String {
    let value = value.trim();
    if value.is_empty() {
        v.add(field, Problem::Missing);
    } else {
        length(v, field, value, max);
    }
    value.to_owned()
}

/// `value` trimmed, at most `max` characters, empty when not given.
pub fn optional_text(v: &mut Violations, field: &str, value: &str, max: usize) -> String {
    let value = value.trim();
    length(v, field, value, max);
    value.to_owned()
}

/// Text required or not, as `required` says.
pub fn text_if(v: &mut Violations, field: &str, value: &str, max: usize, required: bool) -> String {
    if required {
        text(v, field, value, max)
    } else {
        optional_text(v, field, value, max)
    }
}

fn length(v: &mut Violations, field: &str, value: &str, max: usize) {
    let found = value.chars().count();
    if found > max {
        v.add(field, Problem::TooLong { max, found });
    }
}

/// The id of something the request names: present, and no longer than ids are.
pub fn id(v: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        v.add(field, Problem::Missing);
    } else {
        id_shape(v, field, value);
    }
    value.to_owned()
}

/// An id that may be left empty.
pub fn optional_id(v: &mut Violations, field: &str, value: &str) -> String {
    let value = value.trim();
    id_shape(v, field, value);
    value.to_owned()
}

fn id_shape(v: &mut Violations, field: &str, value: &str) {
    if value.len() > ID_MAX {
        v.add(field, Problem::NotAnId);
    } else if value.chars().any(char::is_control) {
        v.add(field, Problem::ControlCharacter);
    }
}

/// A request id (idempotency key): optional, at most [`REQUEST_ID_MAX`]
/// characters, no control characters.
pub fn request_id(v: &mut Violations, value: &str) -> String {
    let value = value.trim();
    let found = value.chars().count();
    if found > REQUEST_ID_MAX {
        v.add(
            "request_id",
            Problem::TooLong {
                max: REQUEST_ID_MAX,
                found,
            },
        );
    } else if value.chars().any(char::is_control) {
        v.add("request_id", Problem::ControlCharacter);
    }
    value.to_owned()
}

/// An enum that must be set to a value the contract knows.
pub fn required_enum<T>(
    v: &mut Violations,
    field: &str,
    value: i32,
    parse: impl Fn(i32) -> Option<T>,
) -> Option<T> {
    let parsed = parse(value);
    if parsed.is_none() {
        v.add(
            field,
            if value == 0 {
                Problem::Unset
            } else {
                Problem::UnknownValue(value)
            },
        );
    }
    parsed
}

/// An enum that may be left unset (a filter, an optional choice): `None` when
/// unset; a number the contract does not know is refused.
pub fn optional_enum<T>(
    v: &mut Violations,
    field: &str,
    value: i32,
    parse: impl Fn(i32) -> Option<T>,
) -> Option<T> {
    if value == 0 {
        return None;
    }
    let parsed = parse(value);
    if parsed.is_none() {
        v.add(field, Problem::UnknownValue(value));
    }
    parsed
}

/// A time of a request in microseconds, when given and in range.
pub fn time(
    v: &mut Violations,
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> Option<i64> {
    let value = value?;
    match crate::storage::checked_micros(value) {
        Ok(micros) => Some(micros),
        Err(_) => {
            v.add(field, Problem::TimeOutOfRange);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn violations(check: impl FnOnce(&mut Violations)) -> Vec<(String, String, String)> {
        let mut v = Violations::new();
        check(&mut v);
        match v.finish() {
            Ok(()) => Vec::new(),
            Err(Error::InvalidArgument(list)) => list
                .into_iter()
                .map(|f| (f.field, f.description, f.zh))
                .collect(),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_problem_is_named_in_both_languages() {
        let found = violations(|v| {
            assert_eq!(text(v, "title", "  ", 10), "");
            assert_eq!(text(v, "detail", "一二三四", 3), "一二三四");
            id(v, "case_id", &"x".repeat(ID_MAX + 1));
            request_id(v, "a\u{7}b");
            assert_eq!(required_enum(v, "channel", 0, |_| None::<()>), None);
            assert_eq!(optional_enum(v, "state", 99, |_| None::<()>), None);
        });
        let fields: Vec<_> = found.iter().map(|(f, _, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "title",
                "detail",
                "case_id",
                "request_id",
                "channel",
                "state"
            ]
        );
        assert_eq!(found[1].1, "must be at most 3 characters, got 4");
        assert_eq!(found[1].2, "最多3个字符，现有4个");
        for (field, en, zh) in &found {
            assert!(!en.is_empty(), "{field}");
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{field}: {zh}"
            );
        }
    }

    #[test]
    fn good_values_pass_trimmed_and_unset_options_are_none() {
        let found = violations(|v| {
            assert_eq!(text(v, "title", "  标题 ", 10), "标题");
            assert_eq!(optional_text(v, "note", "", 10), "");
            assert_eq!(optional_id(v, "department_id", ""), "");
            assert_eq!(request_id(v, " r-1 "), "r-1");
            assert_eq!(optional_enum(v, "state", 0, |_| Some(())), None);
            assert_eq!(required_enum(v, "channel", 2, Some), Some(2));
        });
        assert!(found.is_empty(), "{found:?}");
    }
}
