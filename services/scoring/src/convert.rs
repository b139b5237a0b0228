//! The one place where scoring's protobuf messages and domain types meet.
//! Requests are parsed here, at the edge, and every bad field is named.

use zhengqi_proto::zhengqi::scoring::v1 as pb;
use zhengqi_shared::error::Why;
use zhengqi_shared::fields::Problem;
use zhengqi_shared::storage::timestamp;
use zhengqi_shared::{Error, Violations, proto_enum_conversions};

use crate::domain::model::{self, Direction, Indicator, IndicatorScore, Model};
use crate::domain::period::Period;
use crate::domain::{Alert, AlertKind, Board, UnitKind};

/// A review's rating (the five levels of 好差评 are shared with evaluation).
pub use zhengqi_shared::rating::rating;
proto_enum_conversions!(
    UnitKind,
    pb::UnitKind,
    "UNIT_KIND_",
    unit_kind,
    unit_kind_to_proto
);
proto_enum_conversions!(Board, pb::Board, "BOARD_", board, board_to_proto);
proto_enum_conversions!(
    AlertKind,
    pb::AlertKind,
    "ALERT_KIND_",
    alert_kind,
    alert_kind_to_proto
);
proto_enum_conversions!(
    Direction,
    pb::Direction,
    "DIRECTION_",
    direction,
    direction_to_proto
);

/// A period field: `2026`, `2026-Q3` or `2026-11`.
pub fn period(field: &str, text: &str) -> Result<Period, Error> {
    Period::parse(text).map_err(|e| Error::invalid(field, e))
}

/// Most characters of a request id (an idempotency key) of scoring's writes.
pub const REQUEST_ID_MAX: usize = 200;

/// A request id of scoring's writes: at most [`REQUEST_ID_MAX`] characters.
pub fn request_id(violations: &mut Violations, value: &str) {
    let found = value.chars().count();
    if found > REQUEST_ID_MAX {
        violations.add(
            "request_id",
            Problem::TooLong {
                max: REQUEST_ID_MAX,
                found,
            },
        );
    }
}

/// Why a unit kind is refused: neither of the two.
pub fn unit_kind_unknown() -> Why {
    Why::new("must be DEPARTMENT or JURISDICTION", "请选择部门或行政区")
}

/// The etag of a model: its version; empty for the shipped default.
pub fn model_etag(model: &Model) -> String {
    if model.version > 0 {
        model.version.to_string()
    } else {
        String::new()
    }
}

pub fn model_to_proto(model: &Model, period: &str) -> pb::IndicatorModel {
    pb::IndicatorModel {
        period: if model.period.is_empty() {
            period.to_owned()
        } else {
            model.period.clone()
        },
        indicators: model
            .indicators
            .iter()
            .map(|i| pb::Indicator {
                key: i.key.clone(),
                name: i.name.clone(),
                weight: i.weight,
                direction: direction_to_proto(i.direction),
                target: i.target,
                description: i.description.clone(),
                unit_kinds: i
                    .unit_kinds
                    .iter()
                    .map(|k| unit_kind_to_proto(*k))
                    .collect(),
            })
            .collect(),
        red_board_size: model.red_board_size,
        black_board_size: model.black_board_size,
        interview_after_periods: model.interview_after_periods,
        min_cases_to_rank: model.min_cases_to_rank,
        red_board_min_total: model.red_board_min_total,
        black_board_below_total: model.black_board_below_total,
        etag: model_etag(model),
        updated_by: model.updated_by.clone(),
        update_time: (model.update_time > 0).then(|| timestamp(model.update_time)),
    }
}

/// A put model, checked: every bad field is named.
pub fn model_from_request(
    request: &pb::PutIndicatorModelRequest,
) -> Result<(Period, Model), Error> {
    let mut violations = Violations::new();
    let period = violations.check("period", Period::parse(&request.period));
    request_id(&mut violations, &request.request_id);
    if request.indicators.len() > model::CATALOGUE.len() * 4 {
        violations.add(
            "indicators",
            Why::new(
                format!("must hold at most {} indicators", model::CATALOGUE.len()),
                format!("最多设置{}项指标", model::CATALOGUE.len()),
            ),
        );
    }
    let mut indicators = Vec::new();
    for (n, i) in request.indicators.iter().enumerate() {
        let field = |name: &str| format!("indicators[{n}].{name}");
        let direction = match direction(i.direction) {
            Some(d) => d,
            None => {
                violations.add(
                    field("direction"),
                    Why::new(
                        "must be HIGHER_IS_BETTER or LOWER_IS_BETTER",
                        "请选择越高越好或越低越好",
                    ),
                );
                Direction::HigherIsBetter
            }
        };
        let mut unit_kinds = Vec::new();
        for (k, kind) in i.unit_kinds.iter().enumerate() {
            match unit_kind(*kind) {
                Some(kind) if !unit_kinds.contains(&kind) => unit_kinds.push(kind),
                Some(_) => violations.add(
                    format!("indicators[{n}].unit_kinds[{k}]"),
                    Why::new("appears twice", "重复选择"),
                ),
                None => violations.add(
                    format!("indicators[{n}].unit_kinds[{k}]"),
                    unit_kind_unknown(),
                ),
            }
        }
        let name = if i.name.trim().is_empty() {
            model::known(&i.key)
                .map(|k| k.name.to_owned())
                .unwrap_or_default()
        } else {
            i.name.trim().to_owned()
        };
        indicators.push(Indicator {
            key: i.key.trim().to_owned(),
            name,
            weight: i.weight,
            direction,
            target: i.target,
            description: i.description.trim().to_owned(),
            unit_kinds,
        });
    }
    let model = Model {
        period: period.map(|p| p.to_string()).unwrap_or_default(),
        indicators,
        red_board_size: request.red_board_size,
        black_board_size: request.black_board_size,
        interview_after_periods: match request.interview_after_periods {
            0 => model::DEFAULT_INTERVIEW_AFTER,
            n => n,
        },
        min_cases_to_rank: request.min_cases_to_rank,
        red_board_min_total: request.red_board_min_total,
        black_board_below_total: request.black_board_below_total,
        version: 0,
        updated_by: String::new(),
        update_time: 0,
    };
    for (field, problem) in model.problems() {
        if !violations.fields().any(|f| f == field) {
            violations.add(field, problem);
        }
    }
    violations.finish()?;
    Ok((
        period.unwrap_or(Period::Year(crate::domain::period::FIRST_YEAR)),
        model,
    ))
}

pub fn indicator_score_to_proto(score: &IndicatorScore) -> pb::IndicatorScore {
    pb::IndicatorScore {
        key: score.key.clone(),
        name: score.name.clone(),
        raw_value: score.raw_value,
        numerator: score.numerator,
        denominator: score.denominator,
        normalized_value: score.normalized_value,
        weight: score.weight,
        contribution: score.contribution,
        target: score.target,
        direction: direction_to_proto(score.direction),
        applicable: score.applicable,
    }
}

pub fn alert_to_proto(alert: &Alert) -> pb::Alert {
    pb::Alert {
        id: alert.id.clone(),
        kind: alert_kind_to_proto(alert.kind),
        period: alert.period.clone(),
        unit_id: alert.unit_id.clone(),
        unit_kind: unit_kind_to_proto(alert.unit_kind),
        unit_name: alert.unit_name.clone(),
        jurisdiction_code: alert.jurisdiction_code.clone(),
        reason: alert.reason.clone(),
        fact_ids: alert.fact_ids.clone(),
        create_time: Some(timestamp(alert.create_time)),
        // Filled where alerts are listed, from the cases scoring knows.
        case_numbers: Default::default(),
    }
}
