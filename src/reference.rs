//! The city's reference data for the commands: read from a folder (or the embedded
//! set), checked by the parsers the parts run at start, described for
//! `zhengqi reference check`, and exported for `zhengqi reference export`.

use std::path::Path;

use zhengqi_shared::Error;
use zhengqi_shared::reference::{
    INDICATOR_MODEL, MEETING_KINDS, ROUTING_RULES, Reference, ReferenceErrors, ReferenceFile,
};

/// What the parts parse of a reference folder, besides what the shared crate checks.
pub struct Checked {
    pub reference: Reference,
    pub routing: zhengqi_routing::domain::reference::RoutingReference,
    pub indicator_model: zhengqi_scoring::domain::model::Model,
}

/// Reads `folder` (the embedded set when `None`) and runs every part's parser on
/// it: the shared crate's (directory, departments, calendar), routing's (rules,
/// meeting kinds) and scoring's (indicator model). Every refusal is returned.
pub fn check(folder: Option<&Path>) -> Result<Checked, ReferenceErrors> {
    let reference = match folder {
        Some(folder) => {
            Reference::load_dir(folder).map_err(|refused| with_parts_alone(folder, refused))?
        }
        None => Reference::embedded(),
    };
    let routing = zhengqi_routing::domain::reference::load(&reference);
    let scoring = zhengqi_scoring::domain::from_reference(&reference);
    match (routing, scoring) {
        (Ok(routing), Ok((_, indicator_model))) => Ok(Checked {
            reference,
            routing,
            indicator_model,
        }),
        (routing, scoring) => Err(ReferenceErrors(
            routing
                .err()
                .into_iter()
                .flatten()
                .chain(scoring.err().into_iter().flatten())
                .collect(),
        )),
    }
}

/// The refusals of a folder whose directory, departments or calendar were refused,
/// with those of the parts' own files checked for what they say alone, so that
/// every problem shows at once.
fn with_parts_alone(folder: &Path, mut refused: ReferenceErrors) -> ReferenceErrors {
    let read = |name: &str| {
        let path = folder.join(name);
        let text = std::fs::read_to_string(&path).ok()?;
        Some(ReferenceFile::new(path.display().to_string(), text))
    };
    refused
        .0
        .extend(zhengqi_routing::domain::reference::check_alone(
            read(MEETING_KINDS).as_ref(),
            read(ROUTING_RULES).as_ref(),
        ));
    if let Some(Err(errors)) = read(INDICATOR_MODEL)
        .map(|model| zhengqi_scoring::domain::model::Model::from_file(&model).map(|_| ()))
    {
        refused.0.extend(errors);
    }
    refused
}

/// As [`check`], for starting parts: a refusal is the error they stop with.
pub fn load(folder: Option<&Path>) -> Result<Reference, Error> {
    check(folder)
        .map(|checked| checked.reference)
        .map_err(|errors| {
            let origin = folder.map_or("the embedded set".to_owned(), |f| f.display().to_string());
            Error::FailedPrecondition(format!(
                "the reference data of {origin} is refused:\n{errors}"
            ))
        })
}

/// What a checked folder holds, a line each, for `zhengqi reference check`.
pub fn describe(checked: &Checked) -> Vec<String> {
    let reference = &checked.reference;
    let directory = &reference.directory;
    let city = reference.city();
    let name = |code| directory.current_name(code).unwrap_or("?");
    let below: Vec<String> = directory
        .descendants(city)
        .into_iter()
        .filter(|code| *code != city)
        .map(|code| format!("{code} {}", name(code)))
        .collect();
    let departments: Vec<String> = reference
        .departments
        .iter()
        .map(|d| format!("{} {}", d.key, d.name))
        .collect();
    let meetings: Vec<String> = checked
        .routing
        .meetings
        .kinds()
        .map(|kind| {
            format!(
                "{kind} {}",
                checked.routing.meetings.name(kind).unwrap_or_default()
            )
        })
        .collect();
    let indicators: Vec<String> = checked
        .indicator_model
        .indicators
        .iter()
        .map(|i| format!("{} {} ({})", i.key, i.name, i.weight))
        .collect();
    let years: Vec<String> = reference
        .calendar
        .loaded_years()
        .iter()
        .map(ToString::to_string)
        .collect();
    vec![
        format!("reference data of {}", reference.origin()),
        format!("city: {city} {}", name(city)),
        format!(
            "jurisdictions below it ({}): {}",
            below.len(),
            below.join(", ")
        ),
        format!(
            "departments of every jurisdiction ({}): {}",
            departments.len(),
            departments.join(", ")
        ),
        format!(
            "routing rules: {} ({})",
            checked.routing.rules.len(),
            checked
                .routing
                .rules
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!(
            "consultation meetings ({}): {}",
            meetings.len(),
            meetings.join(", ")
        ),
        format!(
            "indicator model ({} indicators): {}",
            indicators.len(),
            indicators.join(", ")
        ),
        format!("calendar years: {}", years.join(", ")),
    ]
}

/// Writes the embedded set into `folder` as a starting point.
pub fn export(folder: &Path) -> Result<Vec<std::path::PathBuf>, Error> {
    Reference::export_embedded(folder).map_err(|e| {
        Error::FailedPrecondition(format!("cannot export into {}: {e}", folder.display()))
    })
}
