//! The one place where intake's protobuf messages and domain types meet.
//! Requests are parsed here, at the edge, and every bad field is named.

use zhengqi_proto::zhengqi::common::v1 as common;
use zhengqi_proto::zhengqi::intake::v1 as pb;
pub use zhengqi_shared::appeal::{
    category, category_to_proto, channel, channel_to_proto, kind, kind_to_proto, tag, tag_to_proto,
};
use zhengqi_shared::auth::Principal;
use zhengqi_shared::personal;
use zhengqi_shared::reference::{Directory, JurisdictionCode, Uscc};
use zhengqi_shared::storage::timestamp;
use zhengqi_shared::{Violations, proto_enum_conversions};

use crate::domain::{
    self, Appeal, AppealStatus, Enterprise, EnterpriseRef, EnterpriseSize, NewAppeal, Ownership,
};

proto_enum_conversions!(
    AppealStatus,
    pb::AppealStatus,
    "APPEAL_STATUS_",
    status,
    status_to_proto
);
proto_enum_conversions!(
    EnterpriseSize,
    pb::EnterpriseSize,
    "ENTERPRISE_SIZE_",
    size,
    size_to_proto
);
proto_enum_conversions!(
    Ownership,
    pb::Ownership,
    "OWNERSHIP_",
    ownership,
    ownership_to_proto
);

/// Text that must be present and at most `max` characters.
fn required_text(violations: &mut Violations, field: &str, value: &str, max: usize) -> String {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        violations.add(field, "must not be empty");
    } else {
        check_length(violations, field, trimmed, max);
    }
    trimmed.to_owned()
}

fn check_length(violations: &mut Violations, field: &str, value: &str, max: usize) {
    let length = value.chars().count();
    if length > max {
        violations.add(
            field,
            format!("must be at most {max} characters, got {length}"),
        );
    }
}

fn required_enum<T>(
    violations: &mut Violations,
    field: &str,
    value: i32,
    convert: fn(i32) -> Option<T>,
) -> Option<T> {
    let converted = convert(value);
    if converted.is_none() {
        if value == 0 {
            violations.add(field, "must be set");
        } else {
            violations.add(field, format!("{value} is not a known value"));
        }
    }
    converted
}

fn known_jurisdiction(
    violations: &mut Violations,
    field: &str,
    value: &str,
    directory: &Directory,
) -> Option<JurisdictionCode> {
    if value.trim().is_empty() {
        violations.add(field, "must not be empty");
        return None;
    }
    violations.check(field, directory.parse_known(value))
}

/// Parses a `SubmitAppealRequest`, naming every bad field.
pub fn new_appeal(
    request: pb::SubmitAppealRequest,
    directory: &Directory,
) -> Result<NewAppeal, zhengqi_shared::Error> {
    let mut v = Violations::new();
    let request_id = request.request_id.trim().to_owned();
    if request_id.len() > domain::REQUEST_ID_MAX {
        v.add(
            "request_id",
            format!("must be at most {} bytes", domain::REQUEST_ID_MAX),
        );
    } else if request_id.chars().any(|c| c.is_control()) {
        v.add("request_id", "must not contain control characters");
    }
    let channel = required_enum(&mut v, "channel", request.channel, channel);
    let jurisdiction = known_jurisdiction(
        &mut v,
        "jurisdiction_code",
        &request.jurisdiction_code,
        directory,
    );
    let enterprise = match request.enterprise {
        None => {
            v.add("enterprise", "must be set");
            None
        }
        Some(enterprise) => {
            let uscc = if enterprise.uscc.trim().is_empty() {
                v.add("enterprise.uscc", "must not be empty");
                None
            } else {
                v.check("enterprise.uscc", Uscc::parse(&enterprise.uscc))
            };
            let name = required_text(
                &mut v,
                "enterprise.name",
                &enterprise.name,
                domain::NAME_MAX_CHARS,
            );
            uscc.map(|uscc| EnterpriseRef { uscc, name })
        }
    };
    let kind = required_enum(&mut v, "kind", request.kind, kind);
    let category = required_enum(&mut v, "category", request.category, category);
    let title = required_text(&mut v, "title", &request.title, domain::TITLE_MAX_CHARS);
    let description = required_text(
        &mut v,
        "description",
        &request.description,
        domain::DESCRIPTION_MAX_CHARS,
    );
    let contact_name = request.contact_name.trim().to_owned();
    check_length(
        &mut v,
        "contact_name",
        &contact_name,
        domain::NAME_MAX_CHARS,
    );
    let contact_phone = request.contact_phone.trim().to_owned();
    if !contact_phone.is_empty() && !domain::valid_phone(&contact_phone) {
        v.add(
            "contact_phone",
            "must be a phone number: 5 to 20 digits, optionally with +, - and spaces",
        );
    }
    v.finish()?;
    match (channel, jurisdiction, enterprise, kind, category) {
        (Some(channel), Some(jurisdiction), Some(enterprise), Some(kind), Some(category)) => {
            Ok(NewAppeal {
                request_id: (!request_id.is_empty()).then_some(request_id),
                channel,
                jurisdiction,
                enterprise,
                kind,
                category,
                title,
                description,
                contact_name,
                contact_phone,
            })
        }
        _ => Err(zhengqi_shared::Error::internal(
            "a field failed without a violation",
        )),
    }
}

/// Parses the enterprise of a `RegisterEnterpriseRequest`.
pub fn enterprise(
    request: Option<pb::Enterprise>,
    directory: &Directory,
) -> Result<Enterprise, zhengqi_shared::Error> {
    let mut v = Violations::new();
    let Some(e) = request else {
        v.add("enterprise", "must be set");
        v.finish()?;
        unreachable!("finish fails when a violation was added");
    };
    let uscc = if e.uscc.trim().is_empty() {
        v.add("enterprise.uscc", "must not be empty");
        None
    } else {
        v.check("enterprise.uscc", Uscc::parse(&e.uscc))
    };
    let name = required_text(&mut v, "enterprise.name", &e.name, domain::NAME_MAX_CHARS);
    let jurisdiction = known_jurisdiction(
        &mut v,
        "enterprise.jurisdiction_code",
        &e.jurisdiction_code,
        directory,
    );
    let industry = e.industry.trim().to_owned();
    check_length(
        &mut v,
        "enterprise.industry",
        &industry,
        domain::NAME_MAX_CHARS,
    );
    let size_value = (e.size != 0).then(|| size(e.size));
    if size_value == Some(None) {
        v.add(
            "enterprise.size",
            format!("{} is not a known value", e.size),
        );
    }
    let ownership_value = (e.ownership != 0).then(|| ownership(e.ownership));
    if ownership_value == Some(None) {
        v.add(
            "enterprise.ownership",
            format!("{} is not a known value", e.ownership),
        );
    }
    let mut tags = Vec::new();
    for (i, value) in e.tags.iter().enumerate() {
        match tag(*value) {
            Some(t) if !tags.contains(&t) => tags.push(t),
            Some(_) => {}
            None => v.add(
                format!("enterprise.tags[{i}]"),
                format!("{value} is not a known tag"),
            ),
        }
    }
    v.finish()?;
    match (uscc, jurisdiction) {
        (Some(uscc), Some(jurisdiction)) => Ok(Enterprise {
            uscc,
            name,
            jurisdiction,
            industry,
            size: size_value.flatten(),
            ownership: ownership_value.flatten(),
            tags,
            create_time: 0,
            update_time: 0,
        }),
        _ => Err(zhengqi_shared::Error::internal(
            "a field failed without a violation",
        )),
    }
}

/// An appeal as `principal` may read it: the contact in full only to those
/// handling it (`zhengqi_shared::personal`); intake knows no assignment, so a
/// department reads it in full on its case.
pub fn appeal_for(principal: &Principal, appeal: &Appeal) -> pb::Appeal {
    let mut shown = appeal_to_proto(appeal);
    let sight = personal::sight(principal, &appeal.uscc, "");
    (shown.contact_name, shown.contact_phone) =
        personal::contact(&appeal.contact_name, &appeal.contact_phone, sight);
    shown
}

pub fn appeal_to_proto(appeal: &Appeal) -> pb::Appeal {
    pb::Appeal {
        id: appeal.id.clone(),
        number: appeal.number.clone(),
        request_id: appeal.request_id.clone(),
        channel: channel_to_proto(appeal.channel),
        jurisdiction_code: appeal.jurisdiction_code.clone(),
        enterprise: Some(common::EnterpriseRef {
            uscc: appeal.uscc.clone(),
            name: appeal.enterprise_name.clone(),
        }),
        kind: kind_to_proto(appeal.kind),
        category: category_to_proto(appeal.category),
        title: appeal.title.clone(),
        description: appeal.description.clone(),
        status: status_to_proto(appeal.status),
        duplicate_of: appeal.duplicate_of.clone().unwrap_or_default(),
        create_time: Some(timestamp(appeal.create_time)),
        contact_name: appeal.contact_name.clone(),
        contact_phone: appeal.contact_phone.clone(),
        submitter: appeal.submitter.clone(),
        withdraw_reason: appeal.withdraw_reason.clone(),
        update_time: Some(timestamp(appeal.update_time)),
        personal_data_erase_time: appeal.personal_data_erase_time.map(timestamp),
    }
}

pub fn enterprise_to_proto(enterprise: &Enterprise) -> pb::Enterprise {
    pb::Enterprise {
        uscc: enterprise.uscc.as_str().to_owned(),
        name: enterprise.name.clone(),
        jurisdiction_code: enterprise.jurisdiction.as_str().to_owned(),
        industry: enterprise.industry.clone(),
        size: enterprise.size.map_or(0, size_to_proto),
        ownership: enterprise.ownership.map_or(0, ownership_to_proto),
        tags: enterprise.tags.iter().map(|t| tag_to_proto(*t)).collect(),
        create_time: Some(timestamp(enterprise.create_time)),
        update_time: Some(timestamp(enterprise.update_time)),
    }
}

pub fn appeal_registered(appeal: &Appeal, enterprise: Option<&Enterprise>) -> pb::AppealRegistered {
    pb::AppealRegistered {
        appeal: Some(appeal_to_proto(appeal)),
        enterprise: enterprise.map(enterprise_to_proto),
    }
}

pub fn appeal_withdrawn(appeal: &Appeal) -> pb::AppealWithdrawn {
    pb::AppealWithdrawn {
        appeal: Some(appeal_to_proto(appeal)),
    }
}

pub fn enterprise_registered(enterprise: &Enterprise) -> pb::EnterpriseRegistered {
    pb::EnterpriseRegistered {
        enterprise: Some(enterprise_to_proto(enterprise)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Category, Channel};

    fn valid() -> pb::SubmitAppealRequest {
        pb::SubmitAppealRequest {
            request_id: "r-1".into(),
            channel: pb::Channel::OnlinePortal as i32,
            jurisdiction_code: "510821".into(),
            enterprise: Some(common::EnterpriseRef {
                uscc: "91350200776049653A".into(),
                name: "旺苍县某某建材有限公司".into(),
            }),
            kind: pb::AppealKind::HelpRequest as i32,
            category: pb::Category::Financing as i32,
            title: "流动资金贷款审批慢".into(),
            description: "申请的流动资金贷款两个月未获审批。".into(),
            contact_name: "张三".into(),
            contact_phone: "0839-1234567".into(),
        }
    }

    #[test]
    fn a_valid_request_parses() {
        let appeal = new_appeal(valid(), &Directory::guangyuan()).unwrap();
        assert_eq!(appeal.channel, Channel::OnlinePortal);
        assert_eq!(appeal.jurisdiction.as_str(), "510821");
        assert_eq!(appeal.request_id.as_deref(), Some("r-1"));
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut request = valid();
        request.enterprise.as_mut().unwrap().uscc = "91350200776049653B".into();
        request.jurisdiction_code = "510899".into();
        request.title = "  ".into();
        request.description = "字".repeat(10_001);
        request.kind = 0;
        request.category = 99;
        let error = new_appeal(request, &Directory::guangyuan()).unwrap_err();
        let zhengqi_shared::Error::InvalidArgument(violations) = error else {
            panic!("expected INVALID_ARGUMENT, got {error:?}");
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "jurisdiction_code",
                "enterprise.uscc",
                "kind",
                "category",
                "title",
                "description"
            ]
        );
    }

    #[test]
    fn enums_convert_both_ways() {
        for value in Channel::ALL {
            assert_eq!(channel(channel_to_proto(*value)), Some(*value));
        }
        for value in Category::ALL {
            assert_eq!(category(category_to_proto(*value)), Some(*value));
        }
        assert_eq!(channel(0), None);
    }
}
