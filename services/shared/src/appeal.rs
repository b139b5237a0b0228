//! What an appeal is, in the names of intake's contract: where it came from,
//! its kind, its subject matter, and the tags of the enterprise behind it.
//! Intake registers appeals with them; routing routes them by them.

use zhengqi_proto::zhengqi::intake::v1 as pb;

use crate::{named_enum, proto_enum_conversions};

named_enum! {
    /// Where an appeal came from.
    pub enum Channel {
        /// 12345 政务服务便民热线.
        Hotline12345 = "HOTLINE_12345",
        /// 市长直通车.
        MayorDirectLine = "MAYOR_DIRECT_LINE",
        /// 网上平台.
        OnlinePortal = "ONLINE_PORTAL",
        /// 行业部门.
        IndustryDepartment = "INDUSTRY_DEPARTMENT",
        /// 商会.
        ChamberOfCommerce = "CHAMBER_OF_COMMERCE",
        /// 营商环境监督员.
        Supervisor = "SUPERVISOR",
        /// 第三方评估.
        ThirdParty = "THIRD_PARTY",
        CountySystem = "COUNTY_SYSTEM",
    }
}

named_enum! {
    /// What an appeal is; routing sets the time limit from it.
    pub enum AppealKind {
        /// 咨询.
        Enquiry = "ENQUIRY",
        /// 求助.
        HelpRequest = "HELP_REQUEST",
        /// 建议.
        Suggestion = "SUGGESTION",
        /// 投诉.
        Complaint = "COMPLAINT",
        /// 举报.
        Report = "REPORT",
    }
}

named_enum! {
    /// The subject matter of an appeal.
    pub enum Category {
        Financing = "FINANCING",
        Employment = "EMPLOYMENT",
        Market = "MARKET",
        Transport = "TRANSPORT",
        PublicHealth = "PUBLIC_HEALTH",
        LandAndPlanning = "LAND_AND_PLANNING",
        Approval = "APPROVAL",
        LawEnforcement = "LAW_ENFORCEMENT",
        PolicyFulfillment = "POLICY_FULFILLMENT",
        Talent = "TALENT",
        TaxAndFees = "TAX_AND_FEES",
        Other = "OTHER",
    }
}

named_enum! {
    /// Tags that route an enterprise's appeals.
    pub enum EnterpriseTag {
        /// 重点项目.
        KeyProject = "KEY_PROJECT",
        Industrial = "INDUSTRIAL",
        Private = "PRIVATE",
        /// 返乡创业.
        ReturningEntrepreneur = "RETURNING_ENTREPRENEUR",
        ForeignTrade = "FOREIGN_TRADE",
        ServiceIndustry = "SERVICE_INDUSTRY",
    }
}

proto_enum_conversions!(Channel, pb::Channel, "CHANNEL_", channel, channel_to_proto);
proto_enum_conversions!(
    AppealKind,
    pb::AppealKind,
    "APPEAL_KIND_",
    kind,
    kind_to_proto
);
proto_enum_conversions!(
    Category,
    pb::Category,
    "CATEGORY_",
    category,
    category_to_proto
);
proto_enum_conversions!(
    EnterpriseTag,
    pb::EnterpriseTag,
    "ENTERPRISE_TAG_",
    tag,
    tag_to_proto
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_converts_to_the_contract_and_back() {
        for &channel in Channel::ALL {
            assert_eq!(super::channel(channel_to_proto(channel)), Some(channel));
        }
        for &value in AppealKind::ALL {
            assert_eq!(kind(kind_to_proto(value)), Some(value));
        }
        for &value in Category::ALL {
            assert_eq!(category(category_to_proto(value)), Some(value));
        }
        for &value in EnterpriseTag::ALL {
            assert_eq!(tag(tag_to_proto(value)), Some(value));
        }
        assert_eq!(super::channel(0), None);
        assert_eq!(category(9_999), None);
    }
}
