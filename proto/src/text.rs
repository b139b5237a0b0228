//! No control characters in what callers send: every text field of every
//! request holds none, except line breaks and tabs in the long texts the
//! contracts mark `(zhengqi.common.v1.multiline)`. Checked on the wire, before
//! a request is decoded, for every method of every service at once (the codec
//! of the generated servers calls [`check_request`]); a NUL byte in a title or
//! an escape sequence in a name never reaches a store, a ledger or a screen.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use prost_reflect::{Kind, MessageDescriptor};
use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt};

/// The input messages of every zhengqi method, and the long-text fields.
struct Rules {
    inputs: HashMap<String, MessageDescriptor>,
    multiline: HashSet<String>,
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        let pool = crate::descriptor_pool();
        let inputs = pool
            .services()
            .filter(|s| s.full_name().starts_with("zhengqi."))
            .flat_map(|s| s.methods().map(|m| m.input()).collect::<Vec<_>>())
            .map(|m| (m.full_name().to_owned(), m))
            .collect();
        let multiline = crate::fields_marked("zhengqi.common.v1.multiline");
        Rules { inputs, multiline }
    })
}

/// Refuses a request message (`full_name`, as encoded in `bytes`) whose text
/// holds a control character, naming the field (`enterprise.name`,
/// `articles[1].text`). Messages that are no method's input, and bytes that
/// are no valid protobuf (the decoder refuses those), pass.
pub fn check_request(full_name: &str, bytes: &[u8]) -> Result<(), Status> {
    let rules = rules();
    let Some(message) = rules.inputs.get(full_name) else {
        return Ok(());
    };
    match first_control(rules, message, bytes, "") {
        Some((field, character)) => {
            let description = format!(
                "不得含有控制字符（U+{:04X}）（must hold no control character, found U+{:04X}）",
                character as u32, character as u32
            );
            let mut details = ErrorDetails::new();
            details.add_bad_request_violation(field.clone(), description.clone());
            Err(Status::with_error_details(
                tonic::Code::InvalidArgument,
                format!("invalid argument: {field}: {description}"),
                details,
            ))
        }
        None => Ok(()),
    }
}

/// The first text field of `bytes` (a `message`) that holds a control
/// character, with the character.
fn first_control(
    rules: &Rules,
    message: &MessageDescriptor,
    mut bytes: &[u8],
    prefix: &str,
) -> Option<(String, char)> {
    let mut counts: HashMap<u32, usize> = HashMap::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let number = (key >> 3) as u32;
        match key & 7 {
            0 => {
                varint(&mut bytes)?;
            }
            1 => bytes = bytes.get(8..)?,
            5 => bytes = bytes.get(4..)?,
            2 => {
                let length = usize::try_from(varint(&mut bytes)?).ok()?;
                let data = bytes.get(..length)?;
                bytes = &bytes[length..];
                let Some(field) = message.get_field(number) else {
                    continue;
                };
                let index = counts.entry(number).or_default();
                let name = if field.is_list() {
                    format!("{prefix}{}[{index}]", field.name())
                } else {
                    format!("{prefix}{}", field.name())
                };
                *index += 1;
                match field.kind() {
                    Kind::String => {
                        let text = std::str::from_utf8(data).ok()?;
                        let long = rules.multiline.contains(field.full_name());
                        if let Some(c) = text
                            .chars()
                            .find(|c| c.is_control() && !(long && matches!(c, '\n' | '\r' | '\t')))
                        {
                            return Some((name, c));
                        }
                    }
                    Kind::Message(inner) => {
                        if let Some(found) = first_control(rules, &inner, data, &format!("{name}."))
                        {
                            return Some(found);
                        }
                    }
                    _ => {}
                }
            }
            // Groups are not used by the contracts; the decoder judges them.
            _ => return None,
        }
    }
    None
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::zhengqi::common::v1::EnterpriseRef;
    use crate::zhengqi::intake::v1::SubmitAppealRequest;
    use crate::zhengqi::policy::v1::{Article, CreatePolicyRequest, Policy};

    fn field_of(status: &Status) -> String {
        status.get_details_bad_request().unwrap().field_violations[0]
            .field
            .clone()
    }

    #[test]
    fn a_nul_byte_in_a_title_is_refused_naming_the_field() {
        let request = SubmitAppealRequest {
            title: "贷款\0难".into(),
            ..Default::default()
        };
        let status = check_request(
            "zhengqi.intake.v1.SubmitAppealRequest",
            &request.encode_to_vec(),
        )
        .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(field_of(&status), "title");
        assert!(status.message().contains("U+0000"), "{}", status.message());
    }

    #[test]
    fn line_breaks_pass_in_long_texts_only() {
        let request = SubmitAppealRequest {
            title: "贷款难".into(),
            description: "第一行\n第二行\t完".into(),
            enterprise: Some(EnterpriseRef {
                uscc: String::new(),
                name: "某某\n公司".into(),
            }),
            ..Default::default()
        };
        let status = check_request(
            "zhengqi.intake.v1.SubmitAppealRequest",
            &request.encode_to_vec(),
        )
        .unwrap_err();
        assert_eq!(field_of(&status), "enterprise.name");

        let fine = SubmitAppealRequest {
            description: "第一行\r\n第二行\t完".into(),
            ..Default::default()
        };
        check_request(
            "zhengqi.intake.v1.SubmitAppealRequest",
            &fine.encode_to_vec(),
        )
        .unwrap();
    }

    #[test]
    fn repeated_messages_are_named_by_their_index() {
        let request = CreatePolicyRequest {
            request_id: "r".into(),
            policy: Some(Policy {
                articles: vec![
                    Article {
                        number: "1".into(),
                        title: String::new(),
                        text: "正文\n第二段".into(),
                    },
                    Article {
                        number: "2\u{1b}[31m".into(),
                        title: String::new(),
                        text: String::new(),
                    },
                ],
                ..Default::default()
            }),
        };
        let status = check_request(
            "zhengqi.policy.v1.CreatePolicyRequest",
            &request.encode_to_vec(),
        )
        .unwrap_err();
        assert_eq!(field_of(&status), "policy.articles[1].number");
    }

    #[test]
    fn answers_and_malformed_bytes_are_left_to_others() {
        check_request("zhengqi.intake.v1.Appeal", b"\x0a\x01\x00").unwrap();
        check_request("zhengqi.intake.v1.SubmitAppealRequest", b"\xff\xff").unwrap();
    }
}
