//! Protobuf ↔ domain, the one place: enum names, times, and the resources.

use zhengqi_proto::zhengqi::common::v1::EnterpriseRef;
use zhengqi_proto::zhengqi::evaluation::v1 as pb;
use zhengqi_shared::proto_enum_conversions;
use zhengqi_shared::storage::timestamp;

use crate::domain::campaign::{Results, Tally};
use crate::domain::{
    Assessment, Campaign, CampaignAnswer, CampaignItem, CampaignKind, CampaignResponse, CreditList,
    CreditListing, Direction, PenaltyDecision, Rectification, RectificationState, Review,
    ReviewState, ServiceRecord, Severity, Suspension, SuspensionState, TargetKind, Violation,
};

pub use zhengqi_shared::rating::{rating, rating_to_proto};
proto_enum_conversions!(
    Direction,
    pb::Direction,
    "DIRECTION_",
    direction,
    direction_to_proto
);
proto_enum_conversions!(
    TargetKind,
    pb::TargetKind,
    "TARGET_KIND_",
    target_kind,
    target_kind_to_proto
);
proto_enum_conversions!(
    ReviewState,
    pb::ReviewState,
    "REVIEW_STATE_",
    review_state,
    review_state_to_proto
);
proto_enum_conversions!(
    RectificationState,
    pb::RectificationState,
    "RECTIFICATION_STATE_",
    rectification_state,
    rectification_state_to_proto
);
proto_enum_conversions!(
    CampaignKind,
    pb::CampaignKind,
    "CAMPAIGN_KIND_",
    campaign_kind,
    campaign_kind_to_proto
);
proto_enum_conversions!(
    Severity,
    pb::Severity,
    "SEVERITY_",
    severity,
    severity_to_proto
);
proto_enum_conversions!(
    PenaltyDecision,
    pb::PenaltyDecision,
    "PENALTY_DECISION_",
    penalty_decision,
    penalty_decision_to_proto
);
proto_enum_conversions!(
    SuspensionState,
    pb::SuspensionState,
    "SUSPENSION_STATE_",
    suspension_state,
    suspension_state_to_proto
);
proto_enum_conversions!(
    CreditList,
    pb::CreditList,
    "CREDIT_LIST_",
    credit_list,
    credit_list_to_proto
);

/// Microseconds of a timestamp in the range a Timestamp may hold.
pub fn micros(value: &prost_types::Timestamp) -> Result<i64, String> {
    zhengqi_shared::storage::checked_micros(value).map_err(str::to_owned)
}

fn time(value: Option<i64>) -> Option<prost_types::Timestamp> {
    value.map(timestamp)
}

fn enterprise(uscc: &str, name: &str) -> Option<EnterpriseRef> {
    (!uscc.is_empty()).then(|| EnterpriseRef {
        uscc: uscc.to_owned(),
        name: name.to_owned(),
    })
}

/// A review; with `protect`, who gave it is left out (reviewers are protected:
/// 评价人信息严格保密).
pub fn review_to_proto(review: &Review, protect: bool) -> pb::Review {
    let hide = protect && review.direction != Direction::GovernmentToEnterprise;
    pb::Review {
        id: review.id.clone(),
        direction: direction_to_proto(review.direction),
        target_kind: target_kind_to_proto(review.target_kind),
        target_id: review.target_id.clone(),
        // The case leads back to its enterprise: hidden with the reviewer.
        case_id: if hide {
            String::new()
        } else {
            review.case_id.clone()
        },
        rating: review.rating.map_or(0, rating_to_proto),
        comment: review.comment.clone(),
        dimensions: review
            .dimensions
            .iter()
            .map(|(dimension, rating)| pb::DimensionRating {
                dimension: dimension.clone(),
                rating: rating_to_proto(*rating),
            })
            .collect(),
        state: review_state_to_proto(review.state),
        jurisdiction_code: review.jurisdiction_code.clone(),
        department_id: review.department_id.clone(),
        enterprise: if hide {
            None
        } else {
            enterprise(&review.uscc, &review.enterprise_name)
        },
        reviewer: if protect {
            String::new()
        } else {
            review.reviewer.clone()
        },
        rectification_id: review.rectification_id.clone(),
        invite_time: time(review.invite_time),
        submit_time: time(review.submit_time),
        // Like the case, the record leads back to the enterprise.
        service_record_id: if hide {
            String::new()
        } else {
            review.service_record_id.clone()
        },
    }
}

/// A service record as shown; `protect` hides which review rated it, which
/// would name the reviewer to the department rated.
pub fn service_record_to_proto(record: &ServiceRecord, protect: bool) -> pb::ServiceRecord {
    pb::ServiceRecord {
        id: record.id.clone(),
        window_id: record.window_id.clone(),
        department_id: record.department_id.clone(),
        jurisdiction_code: record.jurisdiction_code.clone(),
        enterprise: enterprise(&record.uscc, &record.enterprise_name),
        matter: record.matter.clone(),
        transaction_number: record.transaction_number.clone(),
        serve_time: time(Some(record.serve_time)),
        registered_by: record.registered_by.clone(),
        review_id: if protect {
            String::new()
        } else {
            record.review_id.clone()
        },
        create_time: time(Some(record.create_time)),
    }
}

/// A rectification; with `protect`, as the rated department reads it: the
/// review's level and words, never the review or case that lead to the reviewer.
pub fn rectification_to_proto(r: &Rectification, protect: bool) -> pb::Rectification {
    let shown = |value: &String| {
        if protect {
            String::new()
        } else {
            value.clone()
        }
    };
    pb::Rectification {
        id: r.id.clone(),
        review_id: shown(&r.review_id),
        case_id: shown(&r.case_id),
        jurisdiction_code: r.jurisdiction_code.clone(),
        department_id: r.department_id.clone(),
        state: rectification_state_to_proto(r.state),
        rating: rating_to_proto(r.rating),
        review_comment: r.review_comment.clone(),
        due_time: time(r.due_time),
        due_time_provisional: r.due_provisional,
        valid: r.valid,
        verification_note: r.verification_note.clone(),
        verified_by: r.verified_by.clone(),
        verify_time: time(r.verify_time),
        rectification_text: r.rectification_text.clone(),
        rectified_by: r.rectified_by.clone(),
        rectify_time: time(r.rectify_time),
        return_visit_satisfied: r.return_visit_satisfied,
        return_visit_note: r.return_visit_note.clone(),
        visited_by: r.visited_by.clone(),
        visit_time: time(r.visit_time),
        return_visit_count: clamp(r.return_visit_count),
        etag: r.etag(),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
    }
}

fn clamp(value: i64) -> i32 {
    value.clamp(0, i64::from(i32::MAX)) as i32
}

pub fn item_from_proto(item: &pb::CampaignItem) -> CampaignItem {
    CampaignItem {
        key: item.key.trim().to_owned(),
        text: item.text.trim().to_owned(),
        department_id: item.department_id.trim().to_owned(),
    }
}

pub fn campaign_to_proto(c: &Campaign) -> pb::Campaign {
    pb::Campaign {
        id: c.id.clone(),
        jurisdiction_code: c.jurisdiction_code.clone(),
        kind: campaign_kind_to_proto(c.kind),
        title: c.title.clone(),
        description: c.description.clone(),
        items: c
            .items
            .iter()
            .map(|i| pb::CampaignItem {
                key: i.key.clone(),
                text: i.text.clone(),
                department_id: i.department_id.clone(),
            })
            .collect(),
        start_time: Some(timestamp(c.start_time)),
        end_time: Some(timestamp(c.end_time)),
        invited_usccs: c.invited_usccs.clone(),
        response_count: clamp(c.response_count),
        created_by: c.created_by.clone(),
        create_time: Some(timestamp(c.create_time)),
        etag: c.etag(),
    }
}

pub fn response_to_proto(r: &CampaignResponse) -> pb::CampaignResponse {
    pb::CampaignResponse {
        id: r.id.clone(),
        campaign_id: r.campaign_id.clone(),
        enterprise: enterprise(&r.uscc, &r.enterprise_name),
        answers: r.answers.iter().map(answer_to_proto).collect(),
        comment: r.comment.clone(),
        create_time: Some(timestamp(r.create_time)),
    }
}

fn answer_to_proto(a: &CampaignAnswer) -> pb::CampaignAnswer {
    pb::CampaignAnswer {
        item_key: a.item_key.clone(),
        rating: rating_to_proto(a.rating),
        comment: a.comment.clone(),
    }
}

pub fn results_to_proto(campaign: &Campaign, results: &Results) -> pb::CampaignResults {
    let counts = |tally: &Tally| {
        tally
            .counts
            .iter()
            .map(|(rating, n)| pb::RatingCount {
                rating: rating_to_proto(*rating),
                count: clamp(*n),
            })
            .collect()
    };
    pb::CampaignResults {
        campaign: Some(campaign_to_proto(campaign)),
        response_count: clamp(campaign.response_count),
        items: results
            .items
            .iter()
            .map(|(item, tally)| pb::CampaignItemResult {
                item_key: item.key.clone(),
                text: item.text.clone(),
                department_id: item.department_id.clone(),
                answer_count: clamp(tally.answer_count),
                rating_counts: counts(tally),
                good_rate: tally.good_rate,
                average_rating: tally.average_rating,
            })
            .collect(),
        departments: results
            .departments
            .iter()
            .map(|(department, tally)| pb::CampaignDepartmentResult {
                department_id: department.clone(),
                answer_count: clamp(tally.answer_count),
                good_rate: tally.good_rate,
                average_rating: tally.average_rating,
            })
            .collect(),
    }
}

pub fn assessment_to_proto(a: &Assessment) -> pb::Assessment {
    pb::Assessment {
        id: a.id.clone(),
        evaluator: a.evaluator.clone(),
        evaluator_name: a.evaluator_name.clone(),
        jurisdiction_code: a.jurisdiction_code.clone(),
        department_id: a.department_id.clone(),
        period: a.period.clone(),
        score: a.score,
        summary: a.summary.clone(),
        create_time: Some(timestamp(a.create_time)),
    }
}

pub fn violation_to_proto(v: &Violation) -> pb::Violation {
    pb::Violation {
        id: v.id.clone(),
        uscc: v.uscc.clone(),
        enterprise: enterprise(&v.uscc, &v.enterprise_name),
        jurisdiction_code: v.jurisdiction_code.clone(),
        department_id: v.department_id.clone(),
        severity: severity_to_proto(v.severity),
        description: v.description.clone(),
        promptly_corrected: v.promptly_corrected,
        decision: penalty_decision_to_proto(v.decision),
        decision_reason: v.decision_reason.clone(),
        prior_violation_count: clamp(v.prior_violation_count),
        occur_time: Some(timestamp(v.occur_time)),
        recorded_by: v.recorded_by.clone(),
        create_time: Some(timestamp(v.create_time)),
    }
}

pub fn suspension_to_proto(s: &Suspension) -> pb::Suspension {
    pb::Suspension {
        id: s.id.clone(),
        uscc: s.uscc.clone(),
        enterprise: enterprise(&s.uscc, &s.enterprise_name),
        jurisdiction_code: s.jurisdiction_code.clone(),
        department_id: s.department_id.clone(),
        violation_id: s.violation_id.clone(),
        reason: s.reason.clone(),
        start_time: time(s.start_time),
        end_time: time(s.end_time),
        state: suspension_state_to_proto(s.state),
        proposed_by: s.proposed_by.clone(),
        propose_time: Some(timestamp(s.propose_time)),
        decided_by: s.decided_by.clone(),
        decide_time: time(s.decide_time),
        decision_note: s.decision_note.clone(),
        etag: s.etag(),
    }
}

pub fn listing_to_proto(l: &CreditListing) -> pb::CreditListing {
    pb::CreditListing {
        id: l.id.clone(),
        uscc: l.uscc.clone(),
        enterprise: enterprise(&l.uscc, &l.enterprise_name),
        list: credit_list_to_proto(l.list),
        reason: l.reason.clone(),
        expire_time: time(l.expire_time),
        jurisdiction_code: l.jurisdiction_code.clone(),
        listed_by: l.listed_by.clone(),
        create_time: Some(timestamp(l.create_time)),
        update_time: Some(timestamp(l.update_time)),
        etag: l.etag(),
    }
}
