//! Personal data in messages: the fields the contracts mark
//! `(zhengqi.common.v1.personal)` (a contact's name and phone), found by the
//! descriptors, so erasing them from a stored message or event needs no list
//! of its own.

use std::collections::HashSet;
use std::sync::OnceLock;

use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage, Value};

/// The full names of every personal field of the contracts.
fn personal_fields() -> &'static HashSet<String> {
    static FIELDS: OnceLock<HashSet<String>> = OnceLock::new();
    FIELDS.get_or_init(|| crate::fields_marked("zhengqi.common.v1.personal"))
}

/// Whether the field `full_name` (`zhengqi.routing.v1.Case.contact_phone`)
/// holds personal data.
pub fn is_personal(full_name: &str) -> bool {
    personal_fields().contains(full_name)
}

/// `bytes`, a `full_name` message, with every personal field in it (also in
/// the messages it holds) cleared; `None` when there was none to clear, or
/// the message is no type of the contracts.
pub fn erase(full_name: &str, bytes: &[u8]) -> Result<Option<Vec<u8>>, prost::DecodeError> {
    let Some(descriptor) = crate::descriptor_pool().get_message_by_name(full_name) else {
        return Ok(None);
    };
    let mut message = DynamicMessage::decode(descriptor, bytes)?;
    Ok(clear(&mut message).then(|| message.encode_to_vec()))
}

/// Clears the personal fields of `message` and of the messages it holds;
/// whether any was set.
fn clear(message: &mut DynamicMessage) -> bool {
    let descriptor: MessageDescriptor = message.descriptor();
    let mut cleared = false;
    for field in descriptor.fields() {
        if !message.has_field(&field) {
            continue;
        }
        if is_personal(field.full_name()) {
            message.clear_field(&field);
            cleared = true;
            continue;
        }
        if field.kind().as_message().is_none() {
            continue;
        }
        match message.get_field_mut(&field) {
            Value::Message(inner) => cleared |= clear(inner),
            Value::List(items) => {
                for item in items {
                    if let Value::Message(inner) = item {
                        cleared |= clear(inner);
                    }
                }
            }
            Value::Map(entries) => {
                for value in entries.values_mut() {
                    if let Value::Message(inner) = value {
                        cleared |= clear(inner);
                    }
                }
            }
            _ => {}
        }
    }
    cleared
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zhengqi::intake::v1 as intake;
    use crate::zhengqi::routing::v1 as routing;

    #[test]
    fn the_contacts_are_the_personal_fields() {
        for field in [
            "zhengqi.intake.v1.Appeal.contact_name",
            "zhengqi.intake.v1.Appeal.contact_phone",
            "zhengqi.intake.v1.SubmitAppealRequest.contact_phone",
            "zhengqi.routing.v1.Case.contact_name",
            "zhengqi.routing.v1.Case.contact_phone",
        ] {
            assert!(is_personal(field), "{field}");
        }
        assert!(!is_personal("zhengqi.routing.v1.Case.title"));
    }

    #[test]
    fn erasing_clears_the_contact_inside_an_event_and_keeps_the_rest() {
        let event = routing::CaseTransitioned {
            case: Some(routing::Case {
                id: "510821-01JD".into(),
                title: "用电报装".into(),
                contact_name: "张三".into(),
                contact_phone: "13912345678".into(),
                ..Default::default()
            }),
            note: "已办结".into(),
            ..Default::default()
        };
        let erased = erase(
            "zhengqi.routing.v1.CaseTransitioned",
            &event.encode_to_vec(),
        )
        .unwrap()
        .expect("a contact to erase");
        let erased = routing::CaseTransitioned::decode(erased.as_slice()).unwrap();
        let case = erased.case.as_ref().unwrap();
        assert_eq!(
            (case.contact_name.as_str(), case.contact_phone.as_str()),
            ("", "")
        );
        assert_eq!(case.title, "用电报装");
        assert_eq!(erased.note, "已办结");

        // Nothing left to erase: nothing to write.
        let again = erase(
            "zhengqi.routing.v1.CaseTransitioned",
            &erased.encode_to_vec(),
        )
        .unwrap();
        assert_eq!(again, None);
        let withdrawn = intake::AppealWithdrawn {
            appeal: Some(intake::Appeal {
                contact_phone: "13912345678".into(),
                ..Default::default()
            }),
        };
        assert!(
            erase(
                "zhengqi.intake.v1.AppealWithdrawn",
                &withdrawn.encode_to_vec()
            )
            .unwrap()
            .is_some()
        );
        assert_eq!(erase("no.such.Type", b"").unwrap(), None);
    }
}
