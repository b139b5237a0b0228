//! The indicator model (考核指标体系): which indicators score a unit, how each
//! is measured from the counters of [`super::facts`], and how a measured value
//! becomes points.
//!
//! Every indicator key, with its numerator and denominator:
//!
//! | key | numerator | denominator | raw value |
//! |---|---|---|---|
//! | `on_time_rate` (按期办结率) | cases due in the period resolved by their deadline | cases due in the period (resolved, or gone overdue) | ratio |
//! | `solved_rate` (解决率) | cases resolved with outcome SOLVED | cases resolved in the period | ratio |
//! | `satisfaction_rate` (满意率) | reviews BASIC_SATISFIED or better | reviews given in the period | ratio |
//! | `bad_review_rate` (差评率) | reviews DISSATISFIED or worse | reviews given in the period | ratio |
//! | `unrated_rate` (未评价率) | invitations of the period never rated | invitations made in the period | ratio |
//! | `rectification_rate` (整改率) | valid bad reviews rectified and closed on the return visit | bad reviews verified valid (by the time of the bad review) | ratio |
//! | `return_count` (退单数) | cases the department handed back (退单) | 1 | count |
//! | `overdue_count` (超期数) | cases that went overdue (红灯督办) | 1 | count |
//! | `assessment_score` (第三方评估) | sum of third-party scores (0–100) | assessments | average |
//! | `comment_adoption_rate` (意见采纳率) | comments adopted in full or in part | comments answered | ratio |
//! | `fulfillment_count` (政策兑现数) | fulfilment records (兑现) | 1 | count |
//!
//! Points: the normalised value (0–1) times the weight; a unit's total is the
//! sum, out of 100 (the weights of the indicators that score a unit kind sum to
//! 100). Normalising, with `target` the raw value that earns full points:
//! higher-is-better earns `raw / target` (capped at 1; full points when the
//! target is 0); lower-is-better earns full points up to the target, then
//! `(bound − raw) / (bound − target)` for a ratio (bound 1) or an average
//! (bound 100), and `(1 + target) / (1 + raw)` for a count.
//!
//! An indicator with nothing to measure is *not applicable*: a rate or an
//! average with denominator 0, and every count (returns, overdue cases,
//! fulfilments) of a unit with nothing at all to measure. It earns nothing
//! and costs nothing: the total is re-based on the weights measured,
//! `100 × Σ contributions / Σ weights of the applicable indicators`. Once a
//! unit is measured at all, its counts apply, so a bad fact only ever makes
//! a rate apply at its worst (an overdue case: on-time rate 0; a bad review:
//! satisfaction 0) and a good one at its best, and no fact moves a score the
//! wrong way (the property tests of `properties.rs` check it over random
//! histories and models).
//! Worked example: on_time_rate (weight 40) at 0.5 gives 20, solved_rate
//! (30) at 1.0 gives 30, and satisfaction_rate (30) had no review; the total
//! is 100 × (20 + 30) / (40 + 30) = 71.43, not 20 + 30 + 30 = 80. A unit with
//! no applicable indicator has no total and is not ranked.

use serde::Deserialize;
use zhengqi_shared::error::Why;
use zhengqi_shared::reference::{ReferenceError, ReferenceFile};

use super::UnitKind;
use super::facts::{Metrics, metric};

zhengqi_shared::named_enum! {
    /// Which way an indicator is better.
    pub enum Direction {
        HigherIsBetter = "HIGHER_IS_BETTER",
        LowerIsBetter = "LOWER_IS_BETTER",
    }
}

/// How an indicator is measured from the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// `numerator / denominator`, 0–1.
    Rate(&'static str, &'static str),
    /// `(denominator − numerator) / denominator`, 0–1: the share not done.
    Complement(&'static str, &'static str),
    /// A count: the raw value is the numerator, the denominator 1.
    Count(&'static str),
    /// The mean of values summed in thousandths (`sum`) over `count`, 0–100.
    Average(&'static str, &'static str),
}

/// One known indicator: its key, display name and measure.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    pub key: &'static str,
    pub name: &'static str,
    pub measure: Measure,
}

/// Every indicator key a model may use.
pub const CATALOGUE: &[Known] = &[
    Known {
        key: "on_time_rate",
        name: "按期办结率",
        measure: Measure::Rate(metric::ON_TIME, metric::DUE),
    },
    Known {
        key: "solved_rate",
        name: "问题解决率",
        measure: Measure::Rate(metric::SOLVED, metric::RESOLVED),
    },
    Known {
        key: "satisfaction_rate",
        name: "满意率",
        measure: Measure::Rate(metric::SATISFIED, metric::REVIEWS),
    },
    Known {
        key: "bad_review_rate",
        name: "差评率",
        measure: Measure::Rate(metric::BAD_REVIEWS, metric::REVIEWS),
    },
    Known {
        key: "unrated_rate",
        name: "未评价率",
        measure: Measure::Complement(metric::RATED_INVITATIONS, metric::INVITED),
    },
    Known {
        key: "rectification_rate",
        name: "差评整改率",
        measure: Measure::Rate(metric::RECTIFIED, metric::VALID_BAD_REVIEWS),
    },
    Known {
        key: "return_count",
        name: "退单数",
        measure: Measure::Count(metric::RETURNS),
    },
    Known {
        key: "overdue_count",
        name: "超期件数",
        measure: Measure::Count(metric::OVERDUE),
    },
    Known {
        key: "assessment_score",
        name: "第三方评估得分",
        measure: Measure::Average(metric::ASSESSMENT_MILLIPOINTS, metric::ASSESSMENTS),
    },
    Known {
        key: "comment_adoption_rate",
        name: "意见采纳率",
        measure: Measure::Rate(metric::COMMENTS_ADOPTED, metric::COMMENTS_RESPONDED),
    },
    Known {
        key: "fulfillment_count",
        name: "政策兑现数",
        measure: Measure::Count(metric::FULFILLMENTS),
    },
    Known {
        key: "enforcement_satisfaction_rate",
        name: "百企评执法满意率",
        measure: Measure::Rate(metric::ENFORCEMENT_SATISFIED, metric::ENFORCEMENT_ANSWERS),
    },
    Known {
        key: "environment_satisfaction_rate",
        name: "百企评营商环境满意率",
        measure: Measure::Rate(metric::ENVIRONMENT_SATISFIED, metric::ENVIRONMENT_ANSWERS),
    },
    Known {
        key: "policy_satisfaction_rate",
        name: "政策落实满意率",
        measure: Measure::Rate(metric::POLICY_SATISFIED, metric::POLICY_RATINGS),
    },
];

pub fn known(key: &str) -> Option<&'static Known> {
    CATALOGUE.iter().find(|k| k.key == key)
}

/// The points a model is out of.
pub const TOTAL_POINTS: f64 = 100.0;
/// The most cases a model may ask of a unit before ranking it.
pub const MAX_MIN_CASES: i32 = 10_000;
/// The largest board size a model may set.
pub const MAX_BOARD_SIZE: i32 = 1000;
/// The most consecutive periods a model may wait before an interview.
pub const MAX_INTERVIEW_AFTER: i32 = 12;
/// 约谈 after this many consecutive periods on the black board, by default.
pub const DEFAULT_INTERVIEW_AFTER: i32 = 2;
/// The largest target a model may set.
pub const MAX_TARGET: f64 = 1e9;

/// One indicator of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Indicator {
    pub key: String,
    pub name: String,
    pub weight: f64,
    pub direction: Direction,
    pub target: f64,
    pub description: String,
    /// The unit kinds it scores; all when empty.
    pub unit_kinds: Vec<UnitKind>,
}

impl Indicator {
    pub fn scores(&self, kind: UnitKind) -> bool {
        self.unit_kinds.is_empty() || self.unit_kinds.contains(&kind)
    }
}

/// The indicators and weights of a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The period it was put for; empty for the shipped default.
    pub period: String,
    pub indicators: Vec<Indicator>,
    /// 0: a tenth of the ranked units, at least one.
    pub red_board_size: i32,
    /// 0: a tenth of the ranked units, at least one.
    pub black_board_size: i32,
    pub interview_after_periods: i32,
    /// Cases due in the period a unit needs to be ranked; fewer, and it is
    /// listed as not ranked (too few cases). 0: every unit with something measured.
    pub min_cases_to_rank: i32,
    /// The least total that may stand on the red board; 0 for none.
    pub red_board_min_total: f64,
    /// Only totals below this stand on the black board; 0 for full marks
    /// (a unit at full marks is never on it, whatever is set).
    pub black_board_below_total: f64,
    /// 0 for the shipped default.
    pub version: i64,
    pub updated_by: String,
    pub update_time: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    red_board_size: i32,
    black_board_size: i32,
    interview_after_periods: i32,
    #[serde(default)]
    min_cases_to_rank: i32,
    #[serde(default)]
    red_board_min_total: f64,
    #[serde(default)]
    black_board_below_total: f64,
    indicator: Vec<IndicatorFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IndicatorFile {
    key: String,
    name: String,
    weight: f64,
    direction: String,
    target: f64,
    #[serde(default)]
    description: String,
    #[serde(default)]
    unit_kinds: Vec<String>,
}

impl Model {
    /// Reads a model file (the reference folder's `indicator_model.toml`) and checks
    /// it; every refusal names its line and field.
    pub fn from_file(file: &ReferenceFile) -> Result<Model, Vec<ReferenceError>> {
        let model: ModelFile = file.deserialize().map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        let mut indicators = Vec::new();
        // Indicators whose direction is unknown: their target is not judged.
        let mut undirected = Vec::new();
        for (n, i) in model.indicator.into_iter().enumerate() {
            let direction = Direction::parse(&i.direction);
            if direction.is_none() {
                undirected.push(format!("indicators[{n}].target"));
                errors.push(file.error(
                    format!("indicator[{n}].direction"),
                    format!(
                        "unknown direction {:?}; known: HIGHER_IS_BETTER, LOWER_IS_BETTER",
                        i.direction
                    ),
                ));
            }
            let mut unit_kinds = Vec::new();
            for (k, kind) in i.unit_kinds.iter().enumerate() {
                match UnitKind::parse(kind) {
                    Some(kind) => unit_kinds.push(kind),
                    None => errors.push(file.error(
                        format!("indicator[{n}].unit_kinds[{k}]"),
                        format!("unknown unit kind {kind:?}; known: DEPARTMENT, JURISDICTION"),
                    )),
                }
            }
            indicators.push(Indicator {
                key: i.key,
                name: i.name,
                weight: i.weight,
                direction: direction.unwrap_or(Direction::HigherIsBetter),
                target: i.target,
                description: i.description,
                unit_kinds,
            });
        }
        let model = Model {
            period: String::new(),
            indicators,
            red_board_size: model.red_board_size,
            black_board_size: model.black_board_size,
            interview_after_periods: model.interview_after_periods,
            min_cases_to_rank: model.min_cases_to_rank,
            red_board_min_total: model.red_board_min_total,
            black_board_below_total: model.black_board_below_total,
            version: 0,
            updated_by: String::new(),
            update_time: 0,
        };
        // The problems name fields as the API does (`indicators[1].weight`); the
        // file's tables are `[[indicator]]`.
        for (field, problem) in model.problems() {
            if undirected.contains(&field) {
                continue;
            }
            let field = match field.strip_prefix("indicators") {
                Some(rest) => format!("indicator{rest}"),
                None => field,
            };
            errors.push(file.error(field, problem.en));
        }
        if errors.is_empty() {
            Ok(model)
        } else {
            Err(errors)
        }
    }

    /// The embedded default's model (Guangyuan's), for tests.
    #[cfg(test)]
    pub fn default_model() -> Model {
        Model::from_file(&zhengqi_shared::reference::Reference::embedded().indicator_model)
            .expect("the embedded indicator model is valid")
    }

    /// Every rule the model breaks, as (field path, why).
    pub fn problems(&self) -> Vec<(String, Why)> {
        let mut problems = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        if self.indicators.is_empty() {
            problems.push((
                "indicators".into(),
                Why::new("must hold at least one indicator", "至少须设置一项指标"),
            ));
        }
        for (n, indicator) in self.indicators.iter().enumerate() {
            let field = |name: &str| format!("indicators[{n}].{name}");
            if known(&indicator.key).is_none() {
                let keys: Vec<_> = CATALOGUE.iter().map(|k| k.key).collect();
                problems.push((
                    field("key"),
                    Why::new(
                        format!(
                            "unknown indicator {:?}; known: {}",
                            indicator.key,
                            keys.join(", ")
                        ),
                        format!(
                            "没有指标“{}”，可选指标：{}",
                            indicator.key,
                            CATALOGUE
                                .iter()
                                .map(|k| format!("{}（{}）", k.name, k.key))
                                .collect::<Vec<_>>()
                                .join("、")
                        ),
                    ),
                ));
            } else if let Some(known) = known(&indicator.key)
                && seen.contains(&indicator.key.as_str())
            {
                problems.push((
                    field("key"),
                    Why::new(
                        format!("{} appears twice", indicator.key),
                        format!("指标“{}”重复设置", known.name),
                    ),
                ));
            }
            seen.push(&indicator.key);
            if !indicator.weight.is_finite() || indicator.weight < 0.0 {
                problems.push((
                    field("weight"),
                    Why::new(
                        "must be a number of points, 0 or more",
                        "权重应为不小于0的分值",
                    ),
                ));
            } else if indicator.weight > TOTAL_POINTS {
                problems.push((
                    field("weight"),
                    Why::new(
                        format!("must be at most {TOTAL_POINTS}"),
                        format!("权重不能超过{TOTAL_POINTS}分"),
                    ),
                ));
            }
            if !indicator.target.is_finite()
                || indicator.target < 0.0
                || indicator.target > MAX_TARGET
            {
                problems.push((
                    field("target"),
                    Why::new(
                        format!("must be from 0 to {MAX_TARGET}"),
                        format!("目标值应在0至{MAX_TARGET}之间"),
                    ),
                ));
            } else if let Some(known) = known(&indicator.key) {
                let bound = match known.measure {
                    Measure::Rate(..) | Measure::Complement(..) => Some(1.0),
                    Measure::Average(..) => Some(100.0),
                    Measure::Count(_) => None,
                };
                if indicator.direction == Direction::HigherIsBetter && indicator.target <= 0.0 {
                    // Full points whatever the value: it would measure nothing.
                    problems.push((
                        field("target"),
                        Why::new(
                            format!(
                                "越高越好的指标，目标须大于 0（must be above 0 for {}, which is higher-is-better）",
                                known.key
                            ),
                            "越高越好的指标，目标须大于 0",
                        ),
                    ));
                } else if let Some(bound) = bound
                    && indicator.direction == Direction::LowerIsBetter
                    && indicator.target >= bound
                {
                    // Full points whatever the value, once measured: the first
                    // bad review would bring its points and raise a score.
                    problems.push((
                        field("target"),
                        Why::new(
                            format!(
                                "越低越好的指标，目标须小于 {bound}（must be below {bound} for {}, which is lower-is-better）",
                                known.key
                            ),
                            format!("越低越好的指标，目标须小于 {bound}"),
                        ),
                    ));
                } else if let Some(bound) = bound
                    && indicator.target > bound
                {
                    problems.push((
                        field("target"),
                        Why::new(
                            format!("must be at most {bound} for {}", known.key),
                            format!("指标“{}”的目标值不能超过{bound}", known.name),
                        ),
                    ));
                }
            }
            if indicator.name.chars().count() > 100 {
                problems.push((
                    field("name"),
                    Why::new("must be at most 100 characters", "指标名称最多100个字符"),
                ));
            }
            if indicator.description.chars().count() > 2000 {
                problems.push((
                    field("description"),
                    Why::new("must be at most 2000 characters", "指标说明最多2000个字符"),
                ));
            }
        }
        let weights_ok = self
            .indicators
            .iter()
            .all(|i| i.weight.is_finite() && (0.0..=TOTAL_POINTS).contains(&i.weight));
        if weights_ok && !self.indicators.is_empty() {
            for kind in UnitKind::ALL {
                let sum: f64 = self
                    .indicators
                    .iter()
                    .filter(|i| i.scores(*kind))
                    .map(|i| i.weight)
                    .sum();
                if (sum - TOTAL_POINTS).abs() > 1e-6 {
                    let unit = match kind {
                        UnitKind::Department => "部门",
                        UnitKind::Jurisdiction => "行政区",
                    };
                    problems.push((
                        "indicators".into(),
                        Why::new(
                            format!(
                                "the weights of the indicators scoring a {} must sum to {TOTAL_POINTS}, not {sum}",
                                kind.as_str().to_lowercase()
                            ),
                            format!("考核{unit}的各项指标权重之和应为{TOTAL_POINTS}，现为{sum}"),
                        ),
                    ));
                }
            }
        }
        if !(0..=MAX_BOARD_SIZE).contains(&self.red_board_size) {
            problems.push((
                "red_board_size".into(),
                Why::new(
                    format!("must be from 0 to {MAX_BOARD_SIZE}"),
                    format!("红榜名额应在0至{MAX_BOARD_SIZE}之间"),
                ),
            ));
        }
        if !(0..=MAX_BOARD_SIZE).contains(&self.black_board_size) {
            problems.push((
                "black_board_size".into(),
                Why::new(
                    format!("must be from 0 to {MAX_BOARD_SIZE}"),
                    format!("黑榜名额应在0至{MAX_BOARD_SIZE}之间"),
                ),
            ));
        }
        if !(0..=MAX_MIN_CASES).contains(&self.min_cases_to_rank) {
            problems.push((
                "min_cases_to_rank".into(),
                Why::new(
                    format!("须为 0 至 {MAX_MIN_CASES}（must be from 0 to {MAX_MIN_CASES}）"),
                    format!("须为 0 至 {MAX_MIN_CASES}"),
                ),
            ));
        }
        for (field, total) in [
            ("red_board_min_total", self.red_board_min_total),
            ("black_board_below_total", self.black_board_below_total),
        ] {
            if !(total.is_finite() && (0.0..=TOTAL_POINTS).contains(&total)) {
                problems.push((
                    field.into(),
                    Why::new(
                        format!("须为 0 至 {TOTAL_POINTS}（must be from 0 to {TOTAL_POINTS}）"),
                        format!("须为 0 至 {TOTAL_POINTS}"),
                    ),
                ));
            }
        }
        if !(1..=MAX_INTERVIEW_AFTER).contains(&self.interview_after_periods) {
            problems.push((
                "interview_after_periods".into(),
                Why::new(
                    format!("must be from 1 to {MAX_INTERVIEW_AFTER} (0 for the default, {DEFAULT_INTERVIEW_AFTER})"),
                    format!(
                        "连续上黑榜期数应在1至{MAX_INTERVIEW_AFTER}之间（填0则取默认值{DEFAULT_INTERVIEW_AFTER}）"
                    ),
                ),
            ));
        }
        problems
    }

    /// How many units go on the red and the black board of a ranking of `n`:
    /// the model's sizes, or a tenth of `n` (at least one) when a size is 0. A
    /// ranking of one unit has no boards; the red board wins where they meet.
    pub fn board_sizes(&self, n: usize) -> (usize, usize) {
        if n < 2 {
            return (0, 0);
        }
        let size = |set: i32| match set {
            0 => n.div_ceil(10).max(1),
            set => set.max(0) as usize,
        };
        let red = size(self.red_board_size).min(n);
        let black = size(self.black_board_size).min(n - red);
        (red, black)
    }
}

/// One indicator measured for a unit.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorScore {
    pub key: String,
    pub name: String,
    pub raw_value: f64,
    pub numerator: f64,
    pub denominator: f64,
    pub normalized_value: f64,
    pub weight: f64,
    pub contribution: f64,
    pub target: f64,
    pub direction: Direction,
    /// Whether it had something to measure; when not, it earns and costs
    /// nothing and the total is re-based without it.
    pub applicable: bool,
}

/// A unit's score by a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Out of 100, on the weights of the applicable indicators; 0 when none applied.
    pub total: f64,
    pub indicators: Vec<IndicatorScore>,
    /// Cases due in the period: what ranking a unit asks for.
    pub cases: i64,
}

impl Score {
    /// Whether any indicator had something to measure.
    pub fn measured(&self) -> bool {
        self.indicators.iter().any(|i| i.applicable)
    }
}

/// The counters `measure` reads as its numerator and its denominator (none
/// for a count's denominator, 1; none for a share not done's numerator, which
/// is what its denominator's facts lack).
pub fn counters(measure: Measure) -> (Option<&'static str>, Option<&'static str>) {
    match measure {
        Measure::Rate(numerator, denominator) | Measure::Average(numerator, denominator) => {
            (Some(numerator), Some(denominator))
        }
        Measure::Complement(_, total) => (None, Some(total)),
        Measure::Count(count) => (Some(count), None),
    }
}

/// The numerator, denominator and raw value of `measure` from `metrics`.
pub fn measure(measure: Measure, metrics: &Metrics) -> (f64, f64, f64) {
    let get = |name: &str| metrics.get(name).copied().unwrap_or(0).max(0) as f64;
    match measure {
        Measure::Rate(numerator, denominator) => {
            let (n, d) = (get(numerator), get(denominator));
            (n, d, if d > 0.0 { (n / d).min(1.0) } else { 0.0 })
        }
        Measure::Complement(done, total) => {
            let d = get(total);
            let n = (d - get(done)).max(0.0);
            (n, d, if d > 0.0 { n / d } else { 0.0 })
        }
        Measure::Count(count) => {
            let n = get(count);
            (n, 1.0, n)
        }
        Measure::Average(sum, count) => {
            let (s, d) = (get(sum) / 1000.0, get(count));
            (s, d, if d > 0.0 { s / d } else { 0.0 })
        }
    }
}

/// The raw value against the target and direction, 0–1 (see the module docs).
pub fn normalize(
    measure: Measure,
    raw: f64,
    denominator: f64,
    direction: Direction,
    target: f64,
) -> f64 {
    if denominator <= 0.0 {
        return 1.0;
    }
    let value = match direction {
        Direction::HigherIsBetter => {
            if target <= 0.0 {
                1.0
            } else {
                raw / target
            }
        }
        Direction::LowerIsBetter => {
            if raw <= target {
                1.0
            } else {
                let bound = match measure {
                    Measure::Rate(..) | Measure::Complement(..) => Some(1.0),
                    Measure::Average(..) => Some(100.0),
                    Measure::Count(_) => None,
                };
                match bound {
                    Some(bound) if bound > target => (bound - raw) / (bound - target),
                    Some(_) => 1.0,
                    None => (1.0 + target) / (1.0 + raw),
                }
            }
        }
    };
    value.clamp(0.0, 1.0)
}

/// Scores a unit of `kind` with `metrics` by `model`.
pub fn score(model: &Model, kind: UnitKind, metrics: &Metrics) -> Score {
    // Whether the unit has anything to be measured on: a rate or average
    // with a denominator, or a count above 0. Its counts all apply then.
    let measured = model.indicators.iter().filter(|i| i.scores(kind)).any(|i| {
        known(&i.key).is_some_and(|k| {
            let (numerator, denominator, _) = measure(k.measure, metrics);
            match k.measure {
                Measure::Count(_) => numerator > 0.0,
                _ => denominator > 0.0,
            }
        })
    });
    let indicators: Vec<IndicatorScore> = model
        .indicators
        .iter()
        .filter(|i| i.scores(kind))
        .filter_map(|indicator| {
            let known = known(&indicator.key)?;
            let (numerator, denominator, raw_value) = measure(known.measure, metrics);
            let applicable = match known.measure {
                Measure::Count(_) => measured,
                _ => denominator > 0.0,
            };
            let normalized_value = if applicable {
                normalize(
                    known.measure,
                    raw_value,
                    denominator,
                    indicator.direction,
                    indicator.target,
                )
            } else {
                0.0
            };
            Some(IndicatorScore {
                key: indicator.key.clone(),
                name: if indicator.name.is_empty() {
                    known.name.to_owned()
                } else {
                    indicator.name.clone()
                },
                raw_value,
                numerator,
                denominator,
                normalized_value,
                weight: indicator.weight,
                contribution: normalized_value * indicator.weight,
                target: indicator.target,
                direction: indicator.direction,
                applicable,
            })
        })
        .collect();
    let applicable = indicators.iter().filter(|i| i.applicable);
    let weights: f64 = applicable.clone().map(|i| i.weight).sum();
    let earned: f64 = applicable.map(|i| i.contribution).sum();
    Score {
        total: if weights > 0.0 {
            (TOTAL_POINTS * earned / weights).min(TOTAL_POINTS)
        } else {
            0.0
        },
        indicators,
        cases: metrics.get(metric::DUE).copied().unwrap_or(0).max(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(pairs: &[(&str, i64)]) -> Metrics {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn the_shipped_model_is_valid_and_sums_to_a_hundred() {
        let model = Model::default_model();
        assert!(model.problems().is_empty());
        let sum: f64 = model.indicators.iter().map(|i| i.weight).sum();
        assert!((sum - 100.0).abs() < 1e-9);
        assert_eq!(model.interview_after_periods, 2);
    }

    #[test]
    fn a_lower_is_better_rate_may_not_aim_at_its_bound() {
        // At the bound it would give full points whatever the value, so the
        // first bad review would bring its points and raise a unit's score.
        let mut model = Model::default_model();
        let at = model
            .indicators
            .iter()
            .position(|i| i.key == "bad_review_rate")
            .unwrap();
        model.indicators[at].target = 1.0;
        let problems = model.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, format!("indicators[{at}].target"));
        assert!(problems[0].1.zh.contains("越低越好"), "{problems:?}");
        model.indicators[at].target = 0.99;
        assert!(model.problems().is_empty());
    }

    #[test]
    fn a_model_names_every_bad_field() {
        let mut model = Model::default_model();
        model.indicators[0].key = "made_up".into();
        model.indicators[1].weight = -1.0;
        model.indicators[2].key = model.indicators[3].key.clone();
        model.indicators[3].target = f64::NAN;
        model.red_board_size = -1;
        model.interview_after_periods = 99;
        let fields: Vec<_> = model.problems().into_iter().map(|(f, _)| f).collect();
        for expected in [
            "indicators[0].key",
            "indicators[1].weight",
            "indicators[3].key",
            "indicators[3].target",
            "red_board_size",
            "interview_after_periods",
        ] {
            assert!(
                fields.iter().any(|f| f == expected),
                "{expected} in {fields:?}"
            );
        }
    }

    #[test]
    fn weights_must_sum_to_a_hundred_per_unit_kind() {
        let mut model = Model::default_model();
        model.indicators[0].weight += 1.0;
        let problems = model.problems();
        assert!(
            problems.iter().any(|(f, _)| f == "indicators"),
            "{problems:?}"
        );
    }

    #[test]
    fn rates_counts_and_averages_are_normalised_against_their_targets() {
        let on_time = Measure::Rate(metric::ON_TIME, metric::DUE);
        let (n, d, raw) = measure(on_time, &metrics(&[(metric::ON_TIME, 3), (metric::DUE, 4)]));
        assert_eq!((n, d, raw), (3.0, 4.0, 0.75));
        assert_eq!(
            normalize(on_time, raw, d, Direction::HigherIsBetter, 1.0),
            0.75
        );
        assert_eq!(
            normalize(on_time, 0.0, 0.0, Direction::HigherIsBetter, 1.0),
            1.0
        );
        let bad = Measure::Rate(metric::BAD_REVIEWS, metric::REVIEWS);
        assert_eq!(normalize(bad, 0.5, 2.0, Direction::LowerIsBetter, 0.0), 0.5);
        assert_eq!(
            normalize(bad, 0.01, 2.0, Direction::LowerIsBetter, 0.05),
            1.0
        );
        let overdue = Measure::Count(metric::OVERDUE);
        let (_, d, raw) = measure(overdue, &metrics(&[(metric::OVERDUE, 3)]));
        assert_eq!(
            normalize(overdue, raw, d, Direction::LowerIsBetter, 0.0),
            0.25
        );
        let assessment = Measure::Average(metric::ASSESSMENT_MILLIPOINTS, metric::ASSESSMENTS);
        let (_, d, raw) = measure(
            assessment,
            &metrics(&[
                (metric::ASSESSMENT_MILLIPOINTS, 170_000),
                (metric::ASSESSMENTS, 2),
            ]),
        );
        assert_eq!(raw, 85.0);
        assert!(
            (normalize(assessment, raw, d, Direction::HigherIsBetter, 90.0) - 85.0 / 90.0).abs()
                < 1e-12
        );
    }

    #[test]
    fn a_late_unit_scores_below_a_punctual_one() {
        let model = Model::default_model();
        let punctual = score(
            &model,
            UnitKind::Department,
            &metrics(&[(metric::DUE, 2), (metric::ON_TIME, 2)]),
        );
        let late = score(
            &model,
            UnitKind::Department,
            &metrics(&[(metric::DUE, 2), (metric::ON_TIME, 1), (metric::OVERDUE, 1)]),
        );
        assert!((punctual.total - 100.0).abs() < 1e-9, "{}", punctual.total);
        assert!(late.total < punctual.total);
        let on_time = late
            .indicators
            .iter()
            .find(|i| i.key == "on_time_rate")
            .unwrap();
        assert_eq!(
            (on_time.numerator, on_time.denominator, on_time.raw_value),
            (1.0, 2.0, 0.5)
        );
        assert!((on_time.contribution - on_time.weight * 0.5).abs() < 1e-12);
    }

    #[test]
    fn indicators_with_nothing_to_measure_are_left_out_and_the_total_re_based() {
        // The worked example of the module docs.
        let indicator = |key: &str, weight: f64| Indicator {
            key: key.into(),
            name: String::new(),
            weight,
            direction: Direction::HigherIsBetter,
            target: 1.0,
            description: String::new(),
            unit_kinds: Vec::new(),
        };
        let model = Model {
            indicators: vec![
                indicator("on_time_rate", 40.0),
                indicator("solved_rate", 30.0),
                indicator("satisfaction_rate", 30.0),
            ],
            ..Model::default_model()
        };
        let worked = score(
            &model,
            UnitKind::Department,
            &metrics(&[
                (metric::DUE, 2),
                (metric::ON_TIME, 1),
                (metric::RESOLVED, 1),
                (metric::SOLVED, 1),
            ]),
        );
        assert!(
            (worked.total - 100.0 * 50.0 / 70.0).abs() < 1e-9,
            "{}",
            worked.total
        );
        let applicable: Vec<bool> = worked.indicators.iter().map(|i| i.applicable).collect();
        assert_eq!(applicable, [true, true, false]);
        assert_eq!(worked.indicators[2].contribution, 0.0);

        // Doing nothing earns nothing: no total and nothing measured.
        let idle = score(&Model::default_model(), UnitKind::Department, &metrics(&[]));
        assert_eq!(idle.total, 0.0);
        assert!(!idle.measured());
        // Counts apply once the unit is measured at all: a unit rated on its
        // reviews is measured on its overdue cases too (none so far).
        let reviewed = score(
            &Model::default_model(),
            UnitKind::Department,
            &metrics(&[(metric::REVIEWS, 2), (metric::SATISFIED, 2)]),
        );
        let overdue = reviewed
            .indicators
            .iter()
            .find(|i| i.key == "overdue_count")
            .unwrap();
        assert!(overdue.applicable);
        assert!(reviewed.measured());
        assert_eq!(reviewed.cases, 0);
        let returned = score(
            &Model::default_model(),
            UnitKind::Department,
            &metrics(&[(metric::RETURNS, 1)]),
        );
        let applicable: Vec<&str> = returned
            .indicators
            .iter()
            .filter(|i| i.applicable)
            .map(|i| i.key.as_str())
            .collect();
        assert_eq!(applicable, ["overdue_count", "return_count"]);
    }

    #[test]
    fn boards_take_a_tenth_at_least_one_and_never_overlap() {
        let model = Model::default_model();
        assert_eq!(model.board_sizes(1), (0, 0));
        assert_eq!(model.board_sizes(2), (1, 1));
        assert_eq!(model.board_sizes(19), (2, 2));
        let sized = Model {
            red_board_size: 3,
            black_board_size: 3,
            ..model
        };
        assert_eq!(sized.board_sizes(4), (3, 1));
    }

    #[test]
    fn a_model_file_is_refused_at_the_line_and_field_at_fault() {
        let text = zhengqi_shared::reference::Reference::embedded()
            .indicator_model
            .text()
            .replacen("weight = 25", "weight = 26", 1)
            .replacen("direction = \"LOWER_IS_BETTER\"", "direction = \"DOWN\"", 1);
        let errors: Vec<String> =
            Model::from_file(&ReferenceFile::new("city/indicator_model.toml", text))
                .unwrap_err()
                .iter()
                .map(ToString::to_string)
                .collect();
        assert!(
            errors[0].starts_with(
                "city/indicator_model.toml:73: indicator[2].direction: unknown direction \"DOWN\""
            ),
            "{errors:#?}"
        );
        assert!(
            errors[1].starts_with("city/indicator_model.toml:53: indicator: the weights of the indicators scoring a department must sum to 100, not 101"),
            "{errors:#?}"
        );
    }
}
