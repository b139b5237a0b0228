//! The one place where intake's protobuf messages and domain types meet.
//! Requests are parsed here, at the edge, and every bad field is named.

use zhengqi_proto::zhengqi::common::v1 as common;
use zhengqi_proto::zhengqi::intake::v1 as pb;
pub use zhengqi_shared::appeal::{
    category, category_to_proto, channel, channel_to_proto, kind, kind_to_proto, tag, tag_to_proto,
};
use zhengqi_shared::auth::Principal;
use zhengqi_shared::error::Why;
use zhengqi_shared::fields::{self, Problem};
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

fn known_jurisdiction(
    violations: &mut Violations,
    field: &str,
    value: &str,
    directory: &Directory,
) -> Option<JurisdictionCode> {
    if value.trim().is_empty() {
        violations.add(field, Problem::Missing);
        return None;
    }
    violations.check(field, directory.parse_known(value))
}

/// Why a request without its enterprise is refused.
fn enterprise_unset() -> Why {
    Why::new("must be set", "请填写企业信息")
}

/// The enterprise's unified social credit code: present and well formed.
fn credit_code(violations: &mut Violations, value: &str) -> Option<Uscc> {
    if value.trim().is_empty() {
        violations.add("enterprise.uscc", Problem::Missing);
        None
    } else {
        violations.check("enterprise.uscc", Uscc::parse(value))
    }
}

/// Parses a `SubmitAppealRequest`, naming every bad field.
pub fn new_appeal(
    request: pb::SubmitAppealRequest,
    directory: &Directory,
) -> Result<NewAppeal, zhengqi_shared::Error> {
    let mut v = Violations::new();
    let request_id = fields::request_id(&mut v, &request.request_id);
    let channel = fields::required_enum(&mut v, "channel", request.channel, channel);
    let jurisdiction = known_jurisdiction(
        &mut v,
        "jurisdiction_code",
        &request.jurisdiction_code,
        directory,
    );
    let enterprise = match request.enterprise {
        None => {
            v.add("enterprise", enterprise_unset());
            None
        }
        Some(enterprise) => {
            let uscc = credit_code(&mut v, &enterprise.uscc);
            let name = fields::text(
                &mut v,
                "enterprise.name",
                &enterprise.name,
                domain::NAME_MAX_CHARS,
            );
            uscc.map(|uscc| EnterpriseRef { uscc, name })
        }
    };
    let kind = fields::required_enum(&mut v, "kind", request.kind, kind);
    let category = fields::required_enum(&mut v, "category", request.category, category);
    let title = fields::text(&mut v, "title", &request.title, domain::TITLE_MAX_CHARS);
    let description = fields::text(
        &mut v,
        "description",
        &request.description,
        domain::DESCRIPTION_MAX_CHARS,
    );
    let contact_name = fields::optional_text(
        &mut v,
        "contact_name",
        &request.contact_name,
        domain::NAME_MAX_CHARS,
    );
    let contact_phone = request.contact_phone.trim().to_owned();
    if !contact_phone.is_empty() && !domain::valid_phone(&contact_phone) {
        v.add(
            "contact_phone",
            Why::new(
                "must be a phone number: 5 to 20 digits, optionally with +, - and spaces",
                "请填写正确的电话号码：5至20位数字，可含“+”“-”和空格",
            ),
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
        return Err(zhengqi_shared::Error::invalid(
            "enterprise",
            enterprise_unset(),
        ));
    };
    let uscc = credit_code(&mut v, &e.uscc);
    let name = fields::text(&mut v, "enterprise.name", &e.name, domain::NAME_MAX_CHARS);
    let jurisdiction = known_jurisdiction(
        &mut v,
        "enterprise.jurisdiction_code",
        &e.jurisdiction_code,
        directory,
    );
    let industry = fields::optional_text(
        &mut v,
        "enterprise.industry",
        &e.industry,
        domain::NAME_MAX_CHARS,
    );
    let size = fields::optional_enum(&mut v, "enterprise.size", e.size, size);
    let ownership = fields::optional_enum(&mut v, "enterprise.ownership", e.ownership, ownership);
    let mut tags = Vec::new();
    for (i, value) in e.tags.iter().enumerate() {
        match tag(*value) {
            Some(t) if !tags.contains(&t) => tags.push(t),
            Some(_) => {}
            None => v.add(
                format!("enterprise.tags[{i}]"),
                Why::new(
                    format!("{value} is not a known tag"),
                    format!("{value} 不是可选的企业标签"),
                ),
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
            size,
            ownership,
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
