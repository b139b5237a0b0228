//! Which jurisdiction a call is about, read from the request message without
//! decoding it: the top-level `jurisdiction_code`, else the jurisdiction prefix
//! of an id (`510821-01JD…`) or number (`510821-20261127-0007`). The field
//! numbers are found once per method from the descriptor set; a call only
//! walks the top level of its message's wire format.

use std::collections::HashMap;

use prost_reflect::{DescriptorPool, Kind};

/// What the gateway knows of one method.
#[derive(Debug, Clone, Default)]
pub struct MethodShape {
    /// Streams requests: the first message is not waited for.
    pub client_streaming: bool,
    /// Field number of a top-level string `jurisdiction_code`.
    jurisdiction_field: Option<u32>,
    /// Field numbers of top-level strings that hold an id or number:
    /// `id`, `number`, and `…_id`, in declaration order.
    id_fields: Vec<u32>,
}

/// Every method of `pool` by gRPC path (`/zhengqi.intake.v1.IntakeService/GetAppeal`).
pub fn method_shapes(pool: &DescriptorPool) -> HashMap<String, MethodShape> {
    let mut shapes = HashMap::new();
    for service in pool.services() {
        for method in service.methods() {
            let input = method.input();
            let mut shape = MethodShape {
                client_streaming: method.is_client_streaming(),
                ..MethodShape::default()
            };
            for field in input.fields() {
                if field.is_list() || field.is_map() || field.kind() != Kind::String {
                    continue;
                }
                let name = field.name();
                if name == "jurisdiction_code" {
                    shape.jurisdiction_field = Some(field.number());
                } else if name == "id" || name == "number" || name.ends_with("_id") {
                    shape.id_fields.push(field.number());
                }
            }
            shapes.insert(format!("/{}/{}", service.full_name(), method.name()), shape);
        }
    }
    shapes
}

/// A GB/T 2260 code: six digits.
pub fn is_jurisdiction_code(text: &str) -> bool {
    text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `510821` of `510821-01JD…`.
pub fn jurisdiction_prefix(id: &str) -> Option<&str> {
    let (prefix, _) = id.split_once('-')?;
    is_jurisdiction_code(prefix).then_some(prefix)
}

impl MethodShape {
    /// The jurisdiction `message` (one encoded request, no gRPC prefix) is about.
    pub fn target(&self, message: &[u8]) -> Option<String> {
        if self.jurisdiction_field.is_none() && self.id_fields.is_empty() {
            return None;
        }
        let mut from_id: Option<(usize, &str)> = None;
        let mut rest = message;
        while !rest.is_empty() {
            let key = read_varint(&mut rest)?;
            let number = u32::try_from(key >> 3).ok()?;
            match key & 7 {
                0 => {
                    read_varint(&mut rest)?;
                }
                1 => rest = rest.get(8..)?,
                5 => rest = rest.get(4..)?,
                2 => {
                    let length = usize::try_from(read_varint(&mut rest)?).ok()?;
                    let value = rest.get(..length)?;
                    rest = &rest[length..];
                    if Some(number) == self.jurisdiction_field {
                        let code = std::str::from_utf8(value).ok()?;
                        if !code.is_empty() {
                            return Some(code.to_owned());
                        }
                    } else if let Some(rank) = self.id_fields.iter().position(|n| *n == number)
                        && let Some(prefix) = std::str::from_utf8(value)
                            .ok()
                            .and_then(jurisdiction_prefix)
                        && from_id.is_none_or(|(best, _)| rank < best)
                    {
                        from_id = Some((rank, prefix));
                    }
                }
                // Groups are not used by proto3 messages.
                _ => return None,
            }
        }
        from_id.map(|(_, prefix)| prefix.to_owned())
    }
}

fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
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
    use zhengqi_proto::zhengqi::intake::v1 as intake;

    use super::*;

    fn shapes() -> HashMap<String, MethodShape> {
        method_shapes(&DescriptorPool::decode(zhengqi_proto::FILE_DESCRIPTOR_SET).unwrap())
    }

    #[test]
    fn the_jurisdiction_comes_from_the_code_else_from_an_id() {
        let shapes = shapes();
        let submit = &shapes["/zhengqi.intake.v1.IntakeService/SubmitAppeal"];
        let request = intake::SubmitAppealRequest {
            request_id: "r-1".into(),
            jurisdiction_code: "510821".into(),
            title: "贷款".into(),
            ..Default::default()
        };
        assert_eq!(
            submit.target(&request.encode_to_vec()).as_deref(),
            Some("510821")
        );
        let get = &shapes["/zhengqi.intake.v1.IntakeService/GetAppeal"];
        let request = intake::GetAppealRequest {
            id: "510822-01JDZZZZ".into(),
        };
        assert_eq!(
            get.target(&request.encode_to_vec()).as_deref(),
            Some("510822")
        );
        let request = intake::GetAppealRequest { id: "x".into() };
        assert_eq!(get.target(&request.encode_to_vec()), None);
        assert!(shapes["/zhengqi.intake.v1.IntakeService/ImportAppeals"].client_streaming);
    }
}
