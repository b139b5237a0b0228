//! Protobuf ↔ domain, the one place: every field a client sends is checked
//! here, each failure named by its field path.

use prost_types::Timestamp;
use zhengqi_proto::zhengqi::common::v1::EnterpriseRef;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::policy::v1 as pb;
use zhengqi_shared::fields::{self, Problem};
use zhengqi_shared::storage::timestamp;
use zhengqi_shared::{Violations, Why, proto_enum_conversions};

use crate::domain::{
    Applicability, Article, Comment, Disposition, Draft, Enterprise, Fulfillment, FulfillmentKind,
    InboxItem, Policy, PolicyKind, PolicyRating, PolicyState, Question,
};

proto_enum_conversions!(
    PolicyState,
    pb::PolicyState,
    "POLICY_STATE_",
    state_from,
    state_to
);
proto_enum_conversions!(
    PolicyKind,
    pb::PolicyKind,
    "POLICY_KIND_",
    kind_from,
    kind_to
);
proto_enum_conversions!(
    Disposition,
    pb::Disposition,
    "DISPOSITION_",
    disposition_from,
    disposition_to
);
proto_enum_conversions!(
    FulfillmentKind,
    pb::FulfillmentKind,
    "FULFILLMENT_KIND_",
    fulfillment_kind_from,
    fulfillment_kind_to
);

/// The most characters of a short name, a title, a long text.
pub const MAX_NAME: usize = 100;
pub const MAX_TITLE: usize = 200;
pub const MAX_SUMMARY: usize = 4_000;
pub const MAX_TEXT: usize = 20_000;
pub const MAX_ARTICLES: usize = 500;
pub const MAX_LIST: usize = 100;

/// A text field as [`fields::text_if`] reads it (not blank when `required`,
/// at most `max` characters), and without control characters but line breaks
/// and tabs; the value trimmed.
pub fn text(v: &mut Violations, field: &str, value: &str, max: usize, required: bool) -> String {
    let before = v.fields().count();
    let trimmed = fields::text_if(v, field, value, max, required);
    if v.fields().count() == before
        && value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        v.add(field, Problem::ControlCharacter);
    }
    trimmed
}

fn ts(micros: Option<i64>) -> Option<Timestamp> {
    micros.map(timestamp)
}

/// An `EnterpriseSize` as stored (`SMALL`); `None` when unspecified or unknown.
pub fn size_name(value: i32) -> Option<String> {
    intake::EnterpriseSize::try_from(value)
        .ok()
        .filter(|s| *s != intake::EnterpriseSize::Unspecified)
        .and_then(|s| {
            s.as_str_name()
                .strip_prefix("ENTERPRISE_SIZE_")
                .map(str::to_owned)
        })
}

/// An `EnterpriseTag` as stored (`INDUSTRIAL`); `None` when unspecified or unknown.
pub fn tag_name(value: i32) -> Option<String> {
    intake::EnterpriseTag::try_from(value)
        .ok()
        .filter(|t| *t != intake::EnterpriseTag::Unspecified)
        .and_then(|t| {
            t.as_str_name()
                .strip_prefix("ENTERPRISE_TAG_")
                .map(str::to_owned)
        })
}

fn size_number(name: &str) -> i32 {
    intake::EnterpriseSize::from_str_name(&format!("ENTERPRISE_SIZE_{name}"))
        .map_or(0, |s| s as i32)
}

fn tag_number(name: &str) -> i32 {
    intake::EnterpriseTag::from_str_name(&format!("ENTERPRISE_TAG_{name}")).map_or(0, |t| t as i32)
}

/// The drafter's part of a policy from the request (`prefix` is `policy.`);
/// jurisdictions are checked against the directory by the caller.
pub fn draft_from_proto(policy: &pb::Policy, prefix: &str, v: &mut Violations) -> Option<Draft> {
    let f = |name: &str| format!("{prefix}{name}");
    let kind = fields::required_enum(v, &f("kind"), policy.kind, kind_from);
    let title = text(v, &f("title"), &policy.title, MAX_TITLE, true);
    let document_number = text(
        v,
        &f("document_number"),
        &policy.document_number,
        MAX_NAME,
        false,
    );
    fields::optional_id(v, &f("department_id"), &policy.department_id);
    text(v, &f("summary"), &policy.summary, MAX_SUMMARY, false);
    if policy.articles.len() > MAX_ARTICLES {
        v.add(
            f("articles"),
            Why::new(
                format!("has more than {MAX_ARTICLES} articles"),
                format!("条款不能超过{MAX_ARTICLES}条"),
            ),
        );
    }
    let mut articles = Vec::new();
    for (i, a) in policy.articles.iter().enumerate().take(MAX_ARTICLES) {
        let field = |name: &str| format!("{prefix}articles[{i}].{name}");
        let number = a.number.trim();
        if number.is_empty() {
            v.add(field("number"), Problem::Missing);
        } else if number.chars().count() > 20 || number.chars().any(|c| c.is_control()) {
            v.add(
                field("number"),
                Why::new(
                    "is not an article number",
                    "不是有效的条款编号（最多20个字符，不能含控制字符）",
                ),
            );
        } else if articles.iter().any(|x: &Article| x.number == number) {
            v.add(
                field("number"),
                Why::new(
                    format!("article {number} appears twice"),
                    format!("条款编号“{number}”重复"),
                ),
            );
        }
        let title = text(v, &field("title"), &a.title, MAX_TITLE, false);
        text(v, &field("text"), &a.text, MAX_TEXT, true);
        articles.push(Article {
            number: number.to_owned(),
            title,
            text: a.text.clone(),
        });
    }
    let applicability = applicability_from_proto(policy.applicability.as_ref(), prefix, v);
    let effective_time = fields::time(v, &f("effective_time"), policy.effective_time.as_ref());
    let expire_time = fields::time(v, &f("expire_time"), policy.expire_time.as_ref());
    if let (Some(from), Some(until)) = (effective_time, expire_time)
        && until <= from
    {
        v.add(
            f("expire_time"),
            Why::new("must be after effective_time", "失效时间应晚于生效时间"),
        );
    }
    Some(Draft {
        kind: kind?,
        title,
        document_number,
        department_id: policy.department_id.clone(),
        summary: policy.summary.clone(),
        articles,
        applicability,
        effective_time,
        expire_time,
        closely_concerns_enterprises: policy.closely_concerns_enterprises,
    })
}

fn applicability_from_proto(
    a: Option<&pb::Applicability>,
    prefix: &str,
    v: &mut Violations,
) -> Applicability {
    let Some(a) = a else {
        return Applicability::default();
    };
    let f = |name: &str| format!("{prefix}applicability.{name}");
    let mut out = Applicability::default();
    for (name, len) in [
        ("jurisdiction_codes", a.jurisdiction_codes.len()),
        ("industries", a.industries.len()),
        ("sizes", a.sizes.len()),
        ("tags", a.tags.len()),
    ] {
        if len > MAX_LIST {
            v.add(
                f(name),
                Why::new(
                    format!("has more than {MAX_LIST} values"),
                    format!("最多填写{MAX_LIST}项"),
                ),
            );
        }
    }
    for (i, code) in a.jurisdiction_codes.iter().enumerate().take(MAX_LIST) {
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            v.add(
                format!("{}[{i}]", f("jurisdiction_codes")),
                Why::new(
                    "is not a GB/T 2260 code",
                    "不是有效的行政区划代码（GB/T 2260，6位数字）",
                ),
            );
        } else if !out.jurisdiction_codes.contains(code) {
            out.jurisdiction_codes.push(code.clone());
        }
    }
    for (i, industry) in a.industries.iter().enumerate().take(MAX_LIST) {
        let field = format!("{}[{i}]", f("industries"));
        text(v, &field, industry, MAX_NAME, true);
        if industry.contains('|') {
            v.add(field, Why::new("must not contain |", "不能包含字符“|”"));
        } else if !out.industries.contains(&industry.trim().to_owned()) {
            out.industries.push(industry.trim().to_owned());
        }
    }
    for (i, size) in a.sizes.iter().enumerate().take(MAX_LIST) {
        let field = format!("{}[{i}]", f("sizes"));
        if let Some(name) = fields::required_enum(v, &field, *size, size_name)
            && !out.sizes.contains(&name)
        {
            out.sizes.push(name);
        }
    }
    for (i, tag) in a.tags.iter().enumerate().take(MAX_LIST) {
        let field = format!("{}[{i}]", f("tags"));
        if let Some(name) = fields::required_enum(v, &field, *tag, tag_name)
            && !out.tags.contains(&name)
        {
            out.tags.push(name);
        }
    }
    out
}

pub fn policy_to_proto(p: &Policy) -> pb::Policy {
    let d = &p.draft;
    pb::Policy {
        id: p.id.clone(),
        version: p.version,
        jurisdiction_code: p.jurisdiction_code.clone(),
        kind: kind_to(d.kind),
        state: state_to(p.state),
        title: d.title.clone(),
        document_number: d.document_number.clone(),
        department_id: d.department_id.clone(),
        summary: d.summary.clone(),
        articles: d
            .articles
            .iter()
            .map(|a| pb::Article {
                number: a.number.clone(),
                title: a.title.clone(),
                text: a.text.clone(),
            })
            .collect(),
        applicability: Some(pb::Applicability {
            jurisdiction_codes: d.applicability.jurisdiction_codes.clone(),
            industries: d.applicability.industries.clone(),
            sizes: d
                .applicability
                .sizes
                .iter()
                .map(|s| size_number(s))
                .collect(),
            tags: d.applicability.tags.iter().map(|t| tag_number(t)).collect(),
        }),
        consultation_open_time: ts(p.consultation_open_time),
        consultation_close_time: ts(p.consultation_close_time),
        publish_time: ts(p.publish_time),
        effective_time: ts(d.effective_time.or(p.publish_time)),
        expire_time: ts(d.expire_time),
        repeal_time: ts(p.repeal_time),
        repeal_reason: p.repeal_reason.clone(),
        amendment_reason: p.amendment_reason.clone(),
        comment_count: clamp(p.comment_count),
        unanswered_comment_count: clamp(p.unanswered_comment_count),
        etag: p.etag(),
        create_time: Some(timestamp(p.create_time)),
        update_time: Some(timestamp(p.update_time)),
        created_by: p.created_by.clone(),
        closely_concerns_enterprises: d.closely_concerns_enterprises,
    }
}

fn clamp(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn enterprise_ref(uscc: &str, name: &str, shown: bool) -> Option<EnterpriseRef> {
    shown.then(|| EnterpriseRef {
        uscc: uscc.to_owned(),
        name: name.to_owned(),
    })
}

/// A comment; the enterprise and author only for government roles in scope
/// and the enterprise itself.
pub fn comment_to_proto(c: &Comment, shown: bool) -> pb::Comment {
    pb::Comment {
        id: c.id.clone(),
        policy_id: c.policy_id.clone(),
        policy_version: c.policy_version,
        article: c.article.clone(),
        text: c.text.clone(),
        enterprise: enterprise_ref(&c.uscc, &c.enterprise_name, shown),
        author: if shown {
            c.author.clone()
        } else {
            String::new()
        },
        disposition: c.disposition.map_or(0, disposition_to),
        reply: c.reply.clone(),
        replied_by: c.replied_by.clone(),
        reply_time: ts(c.reply_time),
        create_time: Some(timestamp(c.create_time)),
        etag: c.etag(),
    }
}

pub fn question_to_proto(q: &Question, shown: bool) -> pb::Question {
    pb::Question {
        id: q.id.clone(),
        policy_id: q.policy_id.clone(),
        jurisdiction_code: q.jurisdiction_code.clone(),
        text: q.text.clone(),
        enterprise: enterprise_ref(&q.uscc, &q.enterprise_name, shown),
        asker: if shown {
            q.asker.clone()
        } else {
            String::new()
        },
        answer: q.answer.clone(),
        answered_by: q.answered_by.clone(),
        answer_time: ts(q.answer_time),
        public: q.public,
        create_time: Some(timestamp(q.create_time)),
        etag: q.etag(),
    }
}

pub fn fulfillment_to_proto(f: &Fulfillment) -> pb::Fulfillment {
    pb::Fulfillment {
        id: f.id.clone(),
        policy_id: f.policy_id.clone(),
        policy_version: f.policy_version,
        enterprise: enterprise_ref(&f.uscc, &f.enterprise_name, true),
        jurisdiction_code: f.jurisdiction_code.clone(),
        department_id: f.department_id.clone(),
        kind: fulfillment_kind_to(f.kind),
        amount_fen: f.amount_fen,
        note: f.note.clone(),
        fulfill_time: Some(timestamp(f.fulfill_time)),
        recorded_by: f.recorded_by.clone(),
        create_time: Some(timestamp(f.create_time)),
    }
}

pub fn rating_to_proto(r: &PolicyRating) -> pb::PolicyRating {
    pb::PolicyRating {
        id: r.id.clone(),
        policy_id: r.policy_id.clone(),
        policy_version: r.policy_version,
        enterprise: enterprise_ref(&r.uscc, &r.enterprise_name, true),
        rating: zhengqi_shared::rating::rating_to_proto(r.rating),
        comment: r.comment.clone(),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
    }
}

pub fn item_to_proto(i: &InboxItem) -> pb::InboxItem {
    pb::InboxItem {
        id: i.id.clone(),
        uscc: i.uscc.clone(),
        policy_id: i.policy_id.clone(),
        policy_version: i.policy_version,
        kind: kind_to(i.kind),
        title: i.title.clone(),
        summary: i.summary.clone(),
        document_number: i.document_number.clone(),
        push_time: Some(timestamp(i.push_time)),
        read_time: ts(i.read_time),
    }
}

/// An enterprise as intake's event describes it.
pub fn enterprise_from_intake(e: &intake::Enterprise) -> Enterprise {
    let mut tags: Vec<String> = e.tags.iter().filter_map(|t| tag_name(*t)).collect();
    tags.sort();
    tags.dedup();
    Enterprise {
        uscc: e.uscc.clone(),
        name: e.name.clone(),
        jurisdiction_code: e.jurisdiction_code.clone(),
        industry: e.industry.trim().to_owned(),
        size: size_name(e.size).unwrap_or_default(),
        tags,
    }
}
