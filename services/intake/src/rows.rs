//! How intake's appeals and enterprises are read back from their rows: the
//! columns to select and the decoding, shared by the store's reads and the
//! group-commit writer's.

use zhengqi_shared::Error;
use zhengqi_shared::reference::{JurisdictionCode, Uscc};
use zhengqi_shared::storage::{Columns, stored};

use crate::domain::{
    Appeal, AppealKind, AppealStatus, Category, Channel, Enterprise, EnterpriseSize, EnterpriseTag,
    Ownership,
};

pub const APPEAL_COLUMNS: &str = "id, number, request_id, submitter, channel, jurisdiction_code, uscc, enterprise_name, \
     kind, category, title, description, contact_name, contact_phone, status, duplicate_of, withdraw_reason, \
     create_time, update_time, personal_data_erase_time";

pub const ENTERPRISE_COLUMNS: &str =
    "uscc, name, jurisdiction_code, industry, size, ownership, tags, create_time, update_time";

pub fn appeal_from_row(row: &impl Columns) -> Result<Appeal, Error> {
    Ok(Appeal {
        id: row.text("id")?,
        number: row.text("number")?,
        request_id: row.optional_text("request_id")?.unwrap_or_default(),
        submitter: row.text("submitter")?,
        channel: stored("channel", &row.text("channel")?, Channel::parse)?,
        jurisdiction_code: row.text("jurisdiction_code")?,
        uscc: row.text("uscc")?,
        enterprise_name: row.text("enterprise_name")?,
        kind: stored("kind", &row.text("kind")?, AppealKind::parse)?,
        category: stored("category", &row.text("category")?, Category::parse)?,
        title: row.text("title")?,
        description: row.text("description")?,
        contact_name: row.text("contact_name")?,
        contact_phone: row.text("contact_phone")?,
        status: stored("status", &row.text("status")?, AppealStatus::parse)?,
        duplicate_of: row.optional_text("duplicate_of")?,
        withdraw_reason: row.text("withdraw_reason")?,
        create_time: row.int("create_time")?,
        update_time: row.int("update_time")?,
        personal_data_erase_time: row.optional_int("personal_data_erase_time")?,
    })
}

pub fn enterprise_from_row(row: &impl Columns) -> Result<Enterprise, Error> {
    let tags = row.text("tags")?;
    Ok(Enterprise {
        uscc: Uscc::parse(&row.text("uscc")?).map_err(Error::internal)?,
        name: row.text("name")?,
        jurisdiction: JurisdictionCode::parse(&row.text("jurisdiction_code")?)
            .map_err(Error::internal)?,
        industry: row.text("industry")?,
        size: row
            .optional_text("size")?
            .map(|s| stored("size", &s, EnterpriseSize::parse))
            .transpose()?,
        ownership: row
            .optional_text("ownership")?
            .map(|o| stored("ownership", &o, Ownership::parse))
            .transpose()?,
        tags: tags
            .split(',')
            .filter(|t| !t.is_empty())
            .map(|t| stored("tag", t, EnterpriseTag::parse))
            .collect::<Result<_, _>>()?,
        create_time: row.int("create_time")?,
        update_time: row.int("update_time")?,
    })
}
