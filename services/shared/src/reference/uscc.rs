//! Unified social credit code (统一社会信用代码), GB 32100-2015.
//!
//! 18 characters: position 1 the registering authority, 2 the entity type, 3–8 the
//! registering division's GB/T 2260 code, 9–17 the organisation code, 18 a check
//! character computed from the first 17 (FACTS.md, "Unified social credit code").

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The 31 characters a code may use, in value order (0..=30): GB 32100-2015 leaves out
/// I, O, S, V and Z so they cannot be confused with 1, 0, 5, U and 2.
const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// GB 32100-2015 weights for positions 1–17 (3^(i-1) mod 31).
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

const LEN: usize = 18;

/// A unified social credit code (统一社会信用代码) that has passed the GB 32100-2015
/// format and check-character rules, or that an audited [`UsccOverrides`] entry admits.
///
/// Always 18 characters from the GB 32100-2015 set, uppercase.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uscc(String);

/// Why a string is not a unified social credit code. Messages are written for the clerk
/// who typed the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsccError {
    #[error(
        "a unified social credit code has 18 characters, but {found} were given; \
         check for a missing or extra character"
    )]
    WrongLength { found: usize },

    #[error(
        "character {position} of the unified social credit code is '{found}', which codes \
         never contain; only the digits 0-9 and the letters A-H, J-N, P-R, T, U and W-Y \
         are used (never I, O, S, V or Z)"
    )]
    InvalidCharacter { position: usize, found: char },

    #[error(
        "the unified social credit code ends in '{found}', but its first 17 characters \
         require the check character '{expected}'; a character was probably mistyped, so \
         compare the code with the business licence"
    )]
    WrongCheckCharacter { expected: char, found: char },
}

impl From<UsccError> for crate::error::Why {
    fn from(error: UsccError) -> Self {
        let zh = match &error {
            UsccError::WrongLength { found } => {
                format!("统一社会信用代码应为18位，现为{found}位，请检查是否多输或漏输")
            }
            UsccError::InvalidCharacter { position, found } => format!(
                "统一社会信用代码第{position}位是“{found}”，代码中不会出现该字符（只用数字和除I、O、S、V、Z以外的大写字母）"
            ),
            UsccError::WrongCheckCharacter { expected, found } => format!(
                "统一社会信用代码末位校验码应为“{expected}”，现为“{found}”，请对照营业执照检查是否输错"
            ),
        };
        crate::error::Why::new(error.to_string(), zh)
    }
}

impl Uscc {
    /// Parses a code, trimming surrounding whitespace.
    ///
    /// Lowercase letters are accepted and uppercased: codes are printed in capitals, but
    /// a clerk typing `91440101ma5cjq4n59` means the same code, and refusing it would only
    /// make them retype it. Letters outside the set (such as `o` for `0`) are still refused.
    pub fn parse(input: &str) -> Result<Uscc, UsccError> {
        let normalized = normalize(input)?;
        let expected = check_character(&normalized);
        let found = char::from(normalized.as_bytes()[LEN - 1]);
        if expected != found {
            return Err(UsccError::WrongCheckCharacter { expected, found });
        }
        Ok(Uscc(normalized))
    }

    /// Parses like [`Uscc::parse`], but also admits a code on the audited override list
    /// when its only fault is the check character. Length and character set are still
    /// required. Callers that store such a code should record
    /// [`UsccOverrides::reason_for`] beside it, so the exception stays visible.
    pub fn parse_with(input: &str, overrides: &UsccOverrides) -> Result<Uscc, UsccError> {
        match Uscc::parse(input) {
            Err(error @ UsccError::WrongCheckCharacter { .. }) => {
                // `parse` only reaches the check character once `normalize` succeeded.
                let normalized = normalize(input)?;
                if overrides.by_code.contains_key(&normalized) {
                    Ok(Uscc(normalized))
                } else {
                    Err(error)
                }
            }
            other => other,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Positions 3–8: the GB/T 2260 code of the division where the entity registered.
    /// Returned as text, not a [`super::JurisdictionCode`]: the standard reserves these
    /// positions for a division code, but the check character does not enforce digits.
    pub fn division_code(&self) -> &str {
        &self.0[2..8]
    }
}

/// Trims, uppercases ASCII letters, and checks length and character set.
fn normalize(input: &str) -> Result<String, UsccError> {
    let trimmed = input.trim();
    // Count characters, not bytes: a full-width digit is one wrong character, not three.
    let found = trimmed.chars().count();
    if found != LEN {
        return Err(UsccError::WrongLength { found });
    }
    if let Some((index, found)) = trimmed
        .chars()
        .enumerate()
        .find(|&(_, c)| value_of(c.to_ascii_uppercase()).is_none())
    {
        return Err(UsccError::InvalidCharacter {
            position: index + 1,
            found,
        });
    }
    Ok(trimmed.to_ascii_uppercase())
}

fn value_of(c: char) -> Option<u32> {
    let byte = u8::try_from(c).ok()?;
    CHARSET
        .iter()
        .position(|&allowed| allowed == byte)
        .and_then(|index| u32::try_from(index).ok())
}

/// GB 32100-2015: check = 31 − (Σ value × weight mod 31), with 31 written as 0.
/// `code` must already be normalized (18 characters from the set).
fn check_character(code: &str) -> char {
    let sum: u32 = code
        .chars()
        .zip(WEIGHTS)
        .map(|(c, weight)| value_of(c).unwrap_or(0) * weight)
        .sum();
    let check = (31 - sum % 31) % 31;
    char::from(CHARSET[check as usize])
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Uscc {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Uscc {
    type Err = UsccError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uscc::parse(s)
    }
}

impl TryFrom<String> for Uscc {
    type Error = UsccError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Uscc::parse(&value)
    }
}

impl From<Uscc> for String {
    fn from(value: Uscc) -> Self {
        value.0
    }
}

/// One audited exception: a code the registry really issued whose check character does
/// not conform to GB 32100-2015, with the reason it is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsccOverride {
    code: String,
    reason: String,
}

impl UsccOverride {
    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The audited list of non-conforming codes (FACTS.md: "an audited override list, never
/// a silent bypass"). Each entry names one exact code and says why it is accepted; only
/// the check character may be wrong.
///
/// TOML format (see `data/uscc_overrides.toml`):
///
/// ```toml
/// [[override]]
/// code = "91350200776049653B"
/// reason = "Issued this way by the registry; confirmed by the market regulation bureau."
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsccOverrides {
    by_code: BTreeMap<String, UsccOverride>,
}

/// Why an override list was refused. Any bad entry refuses the whole list, so a
/// mistake is found when the list is loaded rather than when a code is typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsccOverridesError {
    #[error("the USCC override list is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),

    #[error("USCC override entry \"{code}\" is not a well-formed code: {source}")]
    Malformed {
        code: String,
        #[source]
        source: UsccError,
    },

    #[error(
        "USCC override entry {code} already has a correct check character and needs no \
         override; remove the entry or correct the code"
    )]
    AlreadyValid { code: String },

    #[error(
        "USCC override entry {code} gives no reason; every override must say why the \
         registry's code is accepted"
    )]
    MissingReason { code: String },

    #[error("USCC override entry {code} is listed twice")]
    Duplicate { code: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverridesFile {
    #[serde(default, rename = "override")]
    overrides: Vec<OverrideEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideEntry {
    code: String,
    reason: String,
}

impl UsccOverrides {
    /// No exceptions: every code must conform.
    pub fn empty() -> UsccOverrides {
        UsccOverrides::default()
    }

    pub fn from_toml_str(text: &str) -> Result<UsccOverrides, UsccOverridesError> {
        let file: OverridesFile = toml::from_str(text)?;
        let mut by_code = BTreeMap::new();
        for entry in file.overrides {
            let code = normalize(&entry.code).map_err(|source| UsccOverridesError::Malformed {
                code: entry.code.clone(),
                source,
            })?;
            if Uscc::parse(&code).is_ok() {
                // A conforming code in the list is most likely a typo for the code meant.
                return Err(UsccOverridesError::AlreadyValid { code });
            }
            let reason = entry.reason.trim().to_owned();
            if reason.is_empty() {
                return Err(UsccOverridesError::MissingReason { code });
            }
            if by_code.contains_key(&code) {
                return Err(UsccOverridesError::Duplicate { code });
            }
            by_code.insert(code.clone(), UsccOverride { code, reason });
        }
        Ok(UsccOverrides { by_code })
    }

    /// The entry for a code (any case, surrounding whitespace ignored).
    pub fn get(&self, code: &str) -> Option<&UsccOverride> {
        let normalized = normalize(code).ok()?;
        self.by_code.get(&normalized)
    }

    /// Why this code was admitted, if it was admitted by override rather than by its
    /// check character.
    pub fn reason_for(&self, code: &Uscc) -> Option<&str> {
        self.by_code.get(code.as_str()).map(UsccOverride::reason)
    }

    pub fn iter(&self) -> impl Iterator<Item = &UsccOverride> {
        self.by_code.values()
    }

    pub fn len(&self) -> usize {
        self.by_code.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: [&str; 3] = [
        "91350200776049653A",
        "91440101MA5CJQ4N59",
        "9135021359498494XQ",
    ];

    #[test]
    fn published_sample_codes_parse() {
        for sample in SAMPLES {
            let code = Uscc::parse(sample).expect(sample);
            assert_eq!(code.as_str(), sample);
            assert_eq!(code.to_string(), sample);
        }
    }

    #[test]
    fn a_code_with_surrounding_whitespace_is_trimmed() {
        let code = Uscc::parse("  91350200776049653A\t\n").unwrap();
        assert_eq!(code.as_str(), "91350200776049653A");
    }

    #[test]
    fn a_lowercase_code_is_uppercased() {
        let code = Uscc::parse("91440101ma5cjq4n59").unwrap();
        assert_eq!(code.as_str(), "91440101MA5CJQ4N59");
    }

    #[test]
    fn division_code_is_positions_three_to_eight() {
        assert_eq!(
            Uscc::parse("91350200776049653A").unwrap().division_code(),
            "350200"
        );
        assert_eq!(
            Uscc::parse("91440101MA5CJQ4N59").unwrap().division_code(),
            "440101"
        );
    }

    #[test]
    fn a_short_code_reports_the_length_found() {
        let error = Uscc::parse("91350200776049653").unwrap_err();
        assert_eq!(error, UsccError::WrongLength { found: 17 });
        assert!(error.to_string().contains("17 were given"), "{error}");
    }

    #[test]
    fn an_empty_code_is_a_wrong_length() {
        assert_eq!(
            Uscc::parse("   ").unwrap_err(),
            UsccError::WrongLength { found: 0 }
        );
    }

    #[test]
    fn a_full_width_character_counts_as_one_character() {
        // Full-width '９' typed by an IME: 18 characters, the first one wrong.
        let error = Uscc::parse("９1350200776049653A").unwrap_err();
        assert_eq!(
            error,
            UsccError::InvalidCharacter {
                position: 1,
                found: '９'
            }
        );
    }

    #[test]
    fn a_letter_outside_the_set_reports_its_position() {
        // 'O' typed for '0' at position 4.
        let error = Uscc::parse("913O0200776049653A").unwrap_err();
        assert_eq!(
            error,
            UsccError::InvalidCharacter {
                position: 4,
                found: 'O'
            }
        );
        let message = error.to_string();
        assert!(message.contains("character 4"), "{message}");
        assert!(message.contains("'O'"), "{message}");
    }

    #[test]
    fn a_lowercase_letter_outside_the_set_is_reported_as_typed() {
        let error = Uscc::parse("91350200776049653i").unwrap_err();
        assert_eq!(
            error,
            UsccError::InvalidCharacter {
                position: 18,
                found: 'i'
            }
        );
    }

    #[test]
    fn a_wrong_check_character_names_expected_and_found() {
        let error = Uscc::parse("91350200776049653B").unwrap_err();
        assert_eq!(
            error,
            UsccError::WrongCheckCharacter {
                expected: 'A',
                found: 'B'
            }
        );
        let message = error.to_string();
        assert!(
            message.contains("'A'") && message.contains("'B'"),
            "{message}"
        );
    }

    #[test]
    fn a_check_value_of_zero_is_written_as_zero() {
        // Find a 17-character body whose check is 0 (sum ≡ 0 mod 31), then confirm
        // that parse accepts '0' there: the "31 → 0" rule.
        let body = (0..31)
            .map(|c| format!("9151080000000000{}", char::from(CHARSET[c])))
            .find(|body| check_character(&format!("{body}0")) == '0')
            .expect("some last body character gives check 0");
        assert!(Uscc::parse(&format!("{body}0")).is_ok());
    }

    #[test]
    fn a_listed_override_admits_a_code_with_a_bad_check_character() {
        let overrides = UsccOverrides::from_toml_str(
            r#"
            [[override]]
            code = "91350200776049653b"
            reason = "Issued this way by the registry; confirmed in writing."
            "#,
        )
        .unwrap();
        assert_eq!(overrides.len(), 1);

        let code = Uscc::parse_with(" 91350200776049653B ", &overrides).unwrap();
        assert_eq!(code.as_str(), "91350200776049653B");
        assert_eq!(
            overrides.reason_for(&code),
            Some("Issued this way by the registry; confirmed in writing.")
        );
        // Plain parse still refuses it: the override is never a silent bypass.
        assert!(Uscc::parse("91350200776049653B").is_err());
    }

    #[test]
    fn an_override_does_not_admit_other_codes_or_fix_the_format() {
        let overrides = UsccOverrides::from_toml_str(
            r#"
            [[override]]
            code = "91350200776049653B"
            reason = "Registry code."
            "#,
        )
        .unwrap();
        assert_eq!(
            Uscc::parse_with("91350200776049653C", &overrides).unwrap_err(),
            UsccError::WrongCheckCharacter {
                expected: 'A',
                found: 'C'
            }
        );
        assert_eq!(
            Uscc::parse_with("91350200776049653", &overrides).unwrap_err(),
            UsccError::WrongLength { found: 17 }
        );
        // A conforming code needs no override and is not reported as overridden.
        let good = Uscc::parse_with("91350200776049653A", &overrides).unwrap();
        assert_eq!(overrides.reason_for(&good), None);
    }

    #[test]
    fn an_override_without_a_reason_is_refused() {
        let error = UsccOverrides::from_toml_str(
            r#"
            [[override]]
            code = "91350200776049653B"
            reason = "  "
            "#,
        )
        .unwrap_err();
        assert_eq!(
            error,
            UsccOverridesError::MissingReason {
                code: "91350200776049653B".into()
            }
        );
    }

    #[test]
    fn an_override_for_a_conforming_code_is_refused() {
        let error = UsccOverrides::from_toml_str(
            r#"
            [[override]]
            code = "91350200776049653A"
            reason = "Typo for another code."
            "#,
        )
        .unwrap_err();
        assert!(matches!(error, UsccOverridesError::AlreadyValid { .. }));
    }

    #[test]
    fn an_override_with_a_malformed_code_is_refused() {
        let error = UsccOverrides::from_toml_str(
            r#"
            [[override]]
            code = "9135020077604965"
            reason = "Short."
            "#,
        )
        .unwrap_err();
        assert_eq!(
            error,
            UsccOverridesError::Malformed {
                code: "9135020077604965".into(),
                source: UsccError::WrongLength { found: 16 }
            }
        );
    }

    #[test]
    fn a_duplicate_override_is_refused() {
        let error = UsccOverrides::from_toml_str(
            r#"
            [[override]]
            code = "91350200776049653B"
            reason = "First."
            [[override]]
            code = "91350200776049653b"
            reason = "Second."
            "#,
        )
        .unwrap_err();
        assert!(matches!(error, UsccOverridesError::Duplicate { .. }));
    }

    #[test]
    fn an_override_entry_with_an_unknown_field_is_refused() {
        let error = UsccOverrides::from_toml_str(
            r#"
            [[override]]
            code = "91350200776049653B"
            reson = "Misspelt key."
            "#,
        )
        .unwrap_err();
        assert!(matches!(error, UsccOverridesError::Toml(_)));
    }

    #[test]
    fn the_shipped_override_template_loads_empty() {
        let overrides =
            UsccOverrides::from_toml_str(include_str!("../../data/uscc_overrides.toml")).unwrap();
        assert!(overrides.is_empty());
    }

    #[test]
    fn deserializing_goes_through_parse() {
        #[derive(Debug, Deserialize)]
        struct Enterprise {
            uscc: Uscc,
        }
        let ok: Enterprise = toml::from_str(r#"uscc = "91440101ma5cjq4n59""#).unwrap();
        assert_eq!(ok.uscc.as_str(), "91440101MA5CJQ4N59");

        let bad = toml::from_str::<Enterprise>(r#"uscc = "91440101MA5CJQ4N58""#).unwrap_err();
        assert!(bad.to_string().contains("check character"), "{bad}");
    }

    #[test]
    fn serializing_writes_the_code_as_a_string() {
        let code = Uscc::parse("9135021359498494XQ").unwrap();
        assert_eq!(
            toml::Value::try_from(&code).unwrap(),
            toml::Value::String("9135021359498494XQ".into())
        );
    }
}
