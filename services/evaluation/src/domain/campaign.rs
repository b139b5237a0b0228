//! Campaigns (百企评执法, 百企评营商环境): what a response may answer and how
//! the answers add up per item and per department.

use std::collections::{BTreeMap, HashSet};

use zhengqi_shared::error::Why;

use super::{Campaign, CampaignAnswer, CampaignItem, Rating};

/// Checks a campaign's items: at least one, keys unique and non-empty. Errors
/// carry the index of the bad item and the field.
pub fn check_items(items: &[CampaignItem]) -> Vec<(usize, &'static str, Why)> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (index, item) in items.iter().enumerate() {
        let key_ok = !item.key.is_empty()
            && item.key.len() <= 64
            && item
                .key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !key_ok {
            errors.push((
                index,
                "key",
                Why::new(
                    "must be 1 to 64 letters, digits, '_' or '-'",
                    "须为1至64个字母、数字、“_”或“-”",
                ),
            ));
        } else if !seen.insert(item.key.as_str()) {
            errors.push((
                index,
                "key",
                Why::new(
                    format!("{:?} appears twice", item.key),
                    format!("评议项“{}”重复", item.key),
                ),
            ));
        }
    }
    errors
}

/// Checks a response's answers against the campaign: known item keys, each
/// answered once. Errors carry the answer's index and why.
pub fn check_answers(campaign: &Campaign, answers: &[CampaignAnswer]) -> Vec<(usize, Why)> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (index, answer) in answers.iter().enumerate() {
        if !campaign.items.iter().any(|i| i.key == answer.item_key) {
            errors.push((
                index,
                Why::new(
                    format!("{:?} is not an item of this campaign", answer.item_key),
                    format!("“{}”不是本次评议活动的评议项", answer.item_key),
                ),
            ));
        } else if !seen.insert(answer.item_key.as_str()) {
            errors.push((
                index,
                Why::new(
                    format!("{:?} is answered twice", answer.item_key),
                    format!("评议项“{}”重复作答", answer.item_key),
                ),
            ));
        }
    }
    errors
}

/// How the answers of one item, or of one department, add up.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    /// Answers per rating, worst first, every rating present.
    pub counts: Vec<(Rating, i64)>,
    pub answer_count: i64,
    /// 好评率: share of answers BASIC_SATISFIED or better, 0–1.
    pub good_rate: f64,
    /// Mean rating, 1–5; 0 without answers.
    pub average_rating: f64,
}

impl Tally {
    pub fn of(counts: &BTreeMap<Rating, i64>) -> Tally {
        let answer_count: i64 = counts.values().sum();
        let good: i64 = counts
            .iter()
            .filter(|(rating, _)| rating.is_good())
            .map(|(_, n)| n)
            .sum();
        let total_score: i64 = counts.iter().map(|(rating, n)| rating.score() * n).sum();
        let (good_rate, average_rating) = if answer_count == 0 {
            (0.0, 0.0)
        } else {
            (
                good as f64 / answer_count as f64,
                total_score as f64 / answer_count as f64,
            )
        };
        Tally {
            counts: Rating::ALL
                .iter()
                .map(|rating| (*rating, counts.get(rating).copied().unwrap_or(0)))
                .collect(),
            answer_count,
            good_rate,
            average_rating,
        }
    }
}

/// A campaign's results: per item (in the campaign's order) and per department.
pub struct Results {
    pub items: Vec<(CampaignItem, Tally)>,
    pub departments: Vec<(String, Tally)>,
}

/// The results of a campaign from its answer counts `(item key, rating, count)`:
/// per item in the campaign's order, and per department over its items.
pub fn results(campaign: &Campaign, counts: &[(String, Rating, i64)]) -> Results {
    let mut per_item: BTreeMap<&str, BTreeMap<Rating, i64>> = BTreeMap::new();
    for (key, rating, n) in counts {
        *per_item
            .entry(key.as_str())
            .or_default()
            .entry(*rating)
            .or_default() += n;
    }
    let mut per_department: BTreeMap<String, BTreeMap<Rating, i64>> = BTreeMap::new();
    let items = campaign
        .items
        .iter()
        .map(|item| {
            let item_counts = per_item.remove(item.key.as_str()).unwrap_or_default();
            if !item.department_id.is_empty() {
                let department = per_department
                    .entry(item.department_id.clone())
                    .or_default();
                for (rating, n) in &item_counts {
                    *department.entry(*rating).or_default() += n;
                }
            }
            (item.clone(), Tally::of(&item_counts))
        })
        .collect();
    let departments = per_department
        .into_iter()
        .map(|(department, counts)| (department, Tally::of(&counts)))
        .collect();
    Results { items, departments }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CampaignKind;

    fn campaign() -> Campaign {
        let item = |key: &str, department: &str| CampaignItem {
            key: key.into(),
            text: format!("{key}?"),
            department_id: department.into(),
        };
        Campaign {
            id: "510800-C".into(),
            jurisdiction_code: "510800".into(),
            kind: CampaignKind::LawEnforcement,
            title: "百企评执法".into(),
            description: String::new(),
            items: vec![
                item("fair", "510800-scjg"),
                item("polite", "510800-scjg"),
                item("overall", ""),
            ],
            start_time: 0,
            end_time: 10,
            invited_usccs: vec![],
            response_count: 0,
            created_by: "c".into(),
            create_time: 0,
            version: 1,
        }
    }

    #[test]
    fn results_add_up_per_item_and_per_department() {
        let counts = vec![
            ("fair".to_owned(), Rating::VerySatisfied, 2),
            ("fair".to_owned(), Rating::Dissatisfied, 1),
            ("polite".to_owned(), Rating::Satisfied, 1),
        ];
        let Results { items, departments } = results(&campaign(), &counts);
        assert_eq!(items.len(), 3);
        let fair = &items[0].1;
        assert_eq!(fair.answer_count, 3);
        assert!((fair.good_rate - 2.0 / 3.0).abs() < 1e-9);
        assert!((fair.average_rating - 4.0).abs() < 1e-9);
        assert_eq!(fair.counts.len(), 5);
        assert_eq!(items[2].1.answer_count, 0);
        assert_eq!(departments.len(), 1);
        assert_eq!(departments[0].0, "510800-scjg");
        assert_eq!(departments[0].1.answer_count, 4);
        assert!((departments[0].1.average_rating - 16.0 / 4.0).abs() < 1e-9);
    }

    #[test]
    fn answers_must_name_items_once() {
        let answer = |key: &str| CampaignAnswer {
            item_key: key.into(),
            rating: Rating::Satisfied,
            comment: String::new(),
        };
        let errors = check_answers(&campaign(), &[answer("fair"), answer("fair"), answer("x")]);
        assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2]);
        let items = campaign().items;
        assert!(check_items(&items).is_empty());
        let twice = vec![items[0].clone(), items[0].clone()];
        assert_eq!(check_items(&twice).len(), 1);
    }
}
