//! Routing's part of the reference data: the departments cases are placed with,
//! the consultation meetings the city holds, and the routing rules seeded into the
//! store at start, all parsed and checked against the directory and one another.

use zhengqi_shared::reference::{Reference, ReferenceError, ReferenceFile};

use super::meeting::MeetingKinds;
use super::rules::{self, Departments, Rule};

/// What routing takes from a [`Reference`].
#[derive(Debug, Clone)]
pub struct RoutingReference {
    pub departments: Departments,
    pub meetings: MeetingKinds,
    /// The rules to seed (each inserted where its id is new, so rules edited
    /// through the API keep their edits).
    pub rules: Vec<Rule>,
}

/// Parses routing's files of `reference`; every refusal is returned, each naming
/// its file, line and field. `zhengqi reference check` and routing's start run this.
pub fn load(reference: &Reference) -> Result<RoutingReference, Vec<ReferenceError>> {
    let departments = Departments::new(reference.departments.clone());
    let meetings = MeetingKinds::parse(&reference.meeting_kinds);
    let rules = rules::parse_rules(
        &reference.routing_rules,
        Some((&reference.directory, &departments)),
        meetings.as_ref().ok(),
    );
    match (meetings, rules) {
        (Ok(meetings), Ok(rules)) => Ok(RoutingReference {
            departments,
            meetings,
            rules,
        }),
        (meetings, rules) => Err(meetings
            .err()
            .into_iter()
            .flatten()
            .chain(rules.err().into_iter().flatten())
            .collect()),
    }
}

/// What routing's files say alone, for a folder whose directory, departments or
/// calendar were refused: the refusals of the meeting kinds, and of the rules
/// but for their jurisdictions and departments. A file that is `None` (missing)
/// is not checked.
pub fn check_alone(
    meeting_kinds: Option<&ReferenceFile>,
    routing_rules: Option<&ReferenceFile>,
) -> Vec<ReferenceError> {
    let meetings = meeting_kinds.map(MeetingKinds::parse);
    let held = meetings.as_ref().and_then(|m| m.as_ref().ok());
    let rules = routing_rules.map(|file| rules::parse_rules(file, None, held));
    meetings
        .and_then(Result::err)
        .into_iter()
        .flatten()
        .chain(rules.and_then(Result::err).into_iter().flatten())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhengqi_shared::reference::ReferenceFile;

    fn with_rules(text: &str) -> Vec<String> {
        let mut reference = Reference::embedded();
        reference.routing_rules = ReferenceFile::new("city/routing_rules.toml", text);
        load(&reference)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn the_embedded_rules_load() {
        let routing = load(&Reference::embedded()).unwrap();
        assert_eq!(routing.rules.len(), 2);
        assert_eq!(routing.rules[0].id, "510800-mayor-direct-line");
    }

    #[test]
    fn a_rule_naming_an_unknown_department_jurisdiction_or_value_is_refused_at_its_line() {
        let errors = with_rules(
            r#"[[rule]]
id = "510800-a"
jurisdiction_code = "510800"
level = "CITY"
department_id = "510800-nothing"

[[rule]]
id = "510800-a"
jurisdiction_code = "511900"
channel = "FAX"
level = "MEETING"
meeting_type = "TOURISM"
"#,
        );
        let expected = [
            "city/routing_rules.toml:5: rule[0].department_id: \"510800-nothing\" is not \
             `<jurisdiction code>-<key>` with a key of departments.toml",
            "city/routing_rules.toml:10: rule[1].channel: unknown channel \"FAX\"; known: \
             HOTLINE_12345, MAYOR_DIRECT_LINE,",
            "city/routing_rules.toml:12: rule[1].meeting_type: unknown meeting_type \"TOURISM\"",
            "city/routing_rules.toml:8: rule[1].id: \"510800-a\" is listed twice",
            "city/routing_rules.toml:9: rule[1].jurisdiction_code: unknown jurisdiction 511900",
        ];
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
        for (error, expected) in errors.iter().zip(expected) {
            assert!(error.starts_with(expected), "{error}\nwanted {expected}");
        }
    }

    #[test]
    fn a_rule_naming_a_meeting_the_city_does_not_hold_is_refused() {
        let mut reference = Reference::embedded();
        reference.meeting_kinds = ReferenceFile::new(
            "city/meeting_kinds.toml",
            "[[meeting]]\ntype = \"KEY_PROJECT\"\nname = \"重点项目会商会\"\n",
        );
        reference.routing_rules = ReferenceFile::new(
            "city/routing_rules.toml",
            "[[rule]]\nid = \"a\"\njurisdiction_code = \"510800\"\nlevel = \"MEETING\"\nmeeting_type = \"FOREIGN_TRADE\"\n",
        );
        let errors: Vec<String> = load(&reference)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            [
                "city/routing_rules.toml:5: rule[0].meeting_type: FOREIGN_TRADE is not a meeting of meeting_kinds.toml"
            ]
        );
    }

    #[test]
    fn rules_alone_are_checked_for_what_they_say_but_not_against_the_directory() {
        let rules = ReferenceFile::new(
            "city/routing_rules.toml",
            "[[rule]]\nid = \"a\"\njurisdiction_code = \"999999\"\nlevel = \"STATE\"\n\
             department_id = \"999999-x\"\n",
        );
        let errors: Vec<String> = check_alone(None, Some(&rules))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0]
                .starts_with("city/routing_rules.toml:4: rule[0].level: unknown level \"STATE\""),
            "{errors:?}"
        );
    }
}
