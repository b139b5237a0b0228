//! An HTTP request as the method's request message: the fields bound by the
//! path, the body (`*` or one field), and the rest from the query string, read
//! as proto3 JSON. Unknown fields are refused by name, every one of them; enum
//! values are taken by name, with or without their type prefix.

use prost_reflect::{DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};
use zhengqi_shared::{Error, Violations};

use super::rules::{Binding, BodyRule, find_field, is_scalar_like, is_well_known};

/// Builds the request message of `binding` from the bound path variables,
/// the raw query string and the body.
pub fn build(
    binding: &Binding,
    path_values: Vec<(String, String)>,
    query: Option<&str>,
    body: &[u8],
) -> Result<DynamicMessage, Error> {
    let input = binding.method.input();
    let mut violations = Violations::new();
    let mut root = Map::new();

    if let Some(query) = query.filter(|q| !q.is_empty()) {
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if binding.body == BodyRule::Whole {
                violations.add(
                    key.as_ref(),
                    "query parameters are not accepted here: the body carries every field",
                );
                continue;
            }
            match query_field(&input, &key) {
                Ok(fields) => match scalar_from_text(fields.last().expect("a field"), &value) {
                    Ok(value) => insert(&mut root, &fields, value, true),
                    Err(why) => violations.add(proto_path(&fields), why),
                },
                Err(why) => violations.add(key.as_ref(), why),
            }
        }
    }

    let body = body.trim_ascii();
    match &binding.body {
        BodyRule::None => {}
        BodyRule::Whole => {
            if !body.is_empty() {
                match json(body) {
                    Ok(Value::Object(object)) => root = object,
                    Ok(_) => violations.add("body", "must be a JSON object"),
                    Err(BodyError::Repeated(path)) => violations.add(path, REPEATED),
                    Err(BodyError::NotJson(e)) => {
                        violations.add("body", format!("is not JSON: {e}"))
                    }
                }
            }
        }
        BodyRule::Field(field) => {
            if !body.is_empty() {
                match json(body) {
                    Ok(value) => {
                        root.insert(field.json_name().to_owned(), value);
                    }
                    Err(BodyError::Repeated(path)) => {
                        violations.add(join(field.name(), &path), REPEATED)
                    }
                    Err(BodyError::NotJson(e)) => {
                        violations.add(field.name(), format!("is not JSON: {e}"))
                    }
                }
            }
        }
    }

    for ((_, text), fields) in path_values.iter().zip(&binding.path_fields) {
        match scalar_from_text(fields.last().expect("a field"), text) {
            Ok(value) => insert(&mut root, fields, value, false),
            Err(why) => violations.add(proto_path(fields), why),
        }
    }

    check_message(&mut root, &input, "", &mut violations);
    violations.finish()?;
    DynamicMessage::deserialize(input, Value::Object(root))
        .map_err(|e| Error::invalid("body", e.to_string()))
}

/// Why a body is refused before its fields are read.
enum BodyError {
    /// An object names the key at this path twice (`enterprise.uscc`): which of
    /// the two values was meant cannot be known, so neither is taken.
    Repeated(String),
    NotJson(serde_json::Error),
}

const REPEATED: &str = "appears twice in one JSON object; give it once";

/// `body` as JSON, refusing an object that repeats a key (serde_json keeps
/// the last silently).
fn json(body: &[u8]) -> Result<Value, BodyError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let repeated = std::cell::RefCell::new(None);
    let value = serde::de::DeserializeSeed::deserialize(
        Strict {
            path: String::new(),
            repeated: &repeated,
        },
        &mut deserializer,
    )
    .and_then(|value| deserializer.end().map(|()| value));
    match (value, repeated.into_inner()) {
        (_, Some(path)) => Err(BodyError::Repeated(path)),
        (Ok(value), None) => Ok(value),
        (Err(e), None) => Err(BodyError::NotJson(e)),
    }
}

/// Reads one JSON value as [`Value`], noting the path of a repeated key.
struct Strict<'a> {
    path: String,
    repeated: &'a std::cell::RefCell<Option<String>>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict {
            path: format!("{}[{}]", self.path, items.len()),
            repeated: self.repeated,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = join(&self.path, &key);
            let value = map.next_value_seed(Strict {
                path: path.clone(),
                repeated: self.repeated,
            })?;
            if object.insert(key, value).is_some() {
                self.repeated.borrow_mut().get_or_insert(path);
                return Err(serde::de::Error::custom("a repeated key"));
            }
        }
        Ok(Value::Object(object))
    }
}

/// The fields a query parameter names (`pageSize`, `page_size`, `filter.uscc`),
/// which must end in a scalar, an enum, a repeated one of those, or a
/// well-known type written as a string.
fn query_field(input: &MessageDescriptor, key: &str) -> Result<Vec<FieldDescriptor>, String> {
    let mut fields = Vec::new();
    let mut current = input.clone();
    let mut segments = key.split('.').peekable();
    while let Some(segment) = segments.next() {
        let field = find_field(&current, segment).ok_or_else(|| {
            format!(
                "unknown field: {} has no field {segment:?}",
                current.full_name()
            )
        })?;
        let last = segments.peek().is_none();
        match field.kind() {
            Kind::Message(next) if !last => {
                if field.is_list() || field.is_map() {
                    return Err("a repeated message cannot be set from the query string".into());
                }
                current = next;
            }
            _ if !last => return Err(format!("{} is not a message field", field.name())),
            kind if field.is_map() || !is_scalar_like(&kind) => {
                return Err(format!(
                    "{} cannot be set from the query string; use its fields",
                    field.name()
                ));
            }
            _ => {}
        }
        fields.push(field);
    }
    Ok(fields)
}

/// The JSON value of a path or query text for `field`.
fn scalar_from_text(field: &FieldDescriptor, text: &str) -> Result<Value, String> {
    let boolean = |text: &str| match text {
        "true" | "1" => Ok(Value::Bool(true)),
        "false" | "0" => Ok(Value::Bool(false)),
        _ => Err(format!("{text:?} is not true or false")),
    };
    match field.kind() {
        Kind::Bool => boolean(text),
        Kind::Message(m) if m.full_name() == "google.protobuf.BoolValue" => boolean(text),
        Kind::Enum(_) => Ok(text
            .parse::<i32>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(text.to_owned()))),
        // Numbers, strings, bytes (base64) and the string-valued well-known
        // types are all valid proto3 JSON as strings.
        _ => Ok(Value::String(text.to_owned())),
    }
}

/// Sets `value` at the JSON path of `fields`; a repeated leaf collects values.
fn insert(root: &mut Map<String, Value>, fields: &[FieldDescriptor], value: Value, append: bool) {
    let (leaf, parents) = fields.split_last().expect("a field");
    let mut object = root;
    for field in parents {
        let entry = object
            .entry(field.json_name().to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        object = entry.as_object_mut().expect("an object");
    }
    if leaf.is_list() && append {
        let entry = object
            .entry(leaf.json_name().to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        match entry {
            Value::Array(values) => values.push(value),
            other => *other = Value::Array(vec![value]),
        }
    } else if leaf.is_list() {
        object.insert(leaf.json_name().to_owned(), Value::Array(vec![value]));
    } else {
        object.insert(leaf.json_name().to_owned(), value);
    }
}

fn proto_path(fields: &[FieldDescriptor]) -> String {
    fields
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(".")
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Walks a JSON object against `message`: names every unknown field, rewrites
/// enum values given without their prefix, and checks each leaf on its own so
/// every bad field is reported under its path, not only the first.
fn check_message(
    object: &mut Map<String, Value>,
    message: &MessageDescriptor,
    prefix: &str,
    violations: &mut Violations,
) {
    let keys: Vec<String> = object.keys().cloned().collect();
    for key in keys {
        let Some(field) = find_field(message, &key) else {
            violations.add(
                join(prefix, &key),
                format!(
                    "unknown field: {} has no field {key:?}",
                    message.full_name()
                ),
            );
            continue;
        };
        let path = join(prefix, field.name());
        let value = object.get_mut(&key).expect("a key of the object");
        if value.is_null() {
            continue;
        }
        if check_value(value, &field, &path, violations) {
            let mut single = Map::new();
            single.insert(key.clone(), value.clone());
            if let Err(e) = DynamicMessage::deserialize(message.clone(), Value::Object(single)) {
                violations.add(path, e.to_string());
            }
        }
    }
}

/// Recurses into message values; returns whether the value is a leaf that
/// still needs checking as a whole.
fn check_value(
    value: &mut Value,
    field: &FieldDescriptor,
    path: &str,
    violations: &mut Violations,
) -> bool {
    let kind = if field.is_map() {
        match field.kind() {
            Kind::Message(entry) => entry.map_entry_value_field().kind(),
            other => other,
        }
    } else {
        field.kind()
    };
    match kind {
        Kind::Message(message) if !is_well_known(&message) => {
            let mut each = |value: &mut Value, path: String| match value {
                Value::Object(object) => check_message(object, &message, &path, violations),
                Value::Null => {}
                _ => violations.add(path, "must be a JSON object"),
            };
            if field.is_map() {
                match value {
                    Value::Object(entries) => {
                        for (key, value) in entries.iter_mut() {
                            each(value, format!("{path}[{key:?}]"));
                        }
                    }
                    _ => violations.add(path, "must be a JSON object"),
                }
            } else if field.is_list() {
                match value {
                    Value::Array(items) => {
                        for (i, value) in items.iter_mut().enumerate() {
                            each(value, format!("{path}[{i}]"));
                        }
                    }
                    _ => violations.add(path, "must be a JSON array"),
                }
            } else {
                each(value, path.to_owned());
            }
            false
        }
        Kind::Enum(values) => {
            match value {
                Value::Array(items) => items.iter_mut().for_each(|v| unprefixed(v, &values)),
                Value::Object(entries) if field.is_map() => {
                    entries.values_mut().for_each(|v| unprefixed(v, &values))
                }
                other => unprefixed(other, &values),
            }
            true
        }
        _ => true,
    }
}

/// `HOTLINE_12345` for `Channel` becomes `CHANNEL_HOTLINE_12345`: the names
/// the API documents without the prefix the .proto carries.
fn unprefixed(value: &mut Value, enumeration: &EnumDescriptor) {
    let Value::String(name) = value else {
        return;
    };
    if enumeration.get_value_by_name(name).is_some() {
        return;
    }
    let prefixed = format!("{}_{name}", upper_snake(enumeration.name()));
    if enumeration.get_value_by_name(&prefixed).is_some() {
        *name = prefixed;
    }
}

/// `AppealKind` → `APPEAL_KIND`.
pub fn upper_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            out.push('_');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use prost_reflect::{DescriptorPool, Value as ProtoValue};

    use super::super::rules::bindings;
    use super::*;

    fn binding(grpc_path: &str) -> Binding {
        let pool = DescriptorPool::decode(zhengqi_proto::FILE_DESCRIPTOR_SET).unwrap();
        bindings(&pool)
            .unwrap()
            .into_iter()
            .find(|b| b.grpc_path == grpc_path)
            .unwrap()
    }

    fn fields_of(error: Error) -> Vec<String> {
        match error {
            Error::InvalidArgument(violations) => {
                let mut fields: Vec<_> = violations.into_iter().map(|v| v.field).collect();
                fields.sort();
                fields
            }
            other => panic!("not INVALID_ARGUMENT: {other}"),
        }
    }

    #[test]
    fn a_body_reads_both_spellings_and_enums_with_or_without_prefix() {
        let submit = binding("/zhengqi.intake.v1.IntakeService/SubmitAppeal");
        let body = br#"{"requestId": "r1", "jurisdiction_code": "510821",
            "channel": "ONLINE_PORTAL", "kind": "APPEAL_KIND_ENQUIRY",
            "enterprise": {"uscc": "U", "name": "N"}}"#;
        let message = build(&submit, vec![], None, body).unwrap();
        let get = |name: &str| message.get_field_by_name(name).unwrap().into_owned();
        assert_eq!(get("request_id"), ProtoValue::String("r1".into()));
        assert_eq!(
            get("jurisdiction_code"),
            ProtoValue::String("510821".into())
        );
        assert_eq!(get("channel"), ProtoValue::EnumNumber(3));
        assert_eq!(get("kind"), ProtoValue::EnumNumber(1));
    }

    #[test]
    fn every_unknown_or_bad_field_is_named() {
        let submit = binding("/zhengqi.intake.v1.IntakeService/SubmitAppeal");
        let body = br#"{"title": 5, "colour": "red", "kind": "NOPE",
            "enterprise": {"uscc": "U", "nmae": "N"}}"#;
        let error = build(&submit, vec![], None, body).unwrap_err();
        assert_eq!(
            fields_of(error),
            ["colour", "enterprise.nmae", "kind", "title"]
        );
    }

    #[test]
    fn path_and_query_fill_the_remaining_fields() {
        let list = binding("/zhengqi.intake.v1.IntakeService/ListAppeals");
        let message = build(
            &list,
            vec![],
            Some("pageSize=2&page_token=abc&status=RECEIVED&channel=3"),
            b"",
        )
        .unwrap();
        let get = |name: &str| message.get_field_by_name(name).unwrap().into_owned();
        assert_eq!(get("page_size"), ProtoValue::I32(2));
        assert_eq!(get("page_token"), ProtoValue::String("abc".into()));
        assert_eq!(get("status"), ProtoValue::EnumNumber(1));
        assert_eq!(get("channel"), ProtoValue::EnumNumber(3));

        let error = build(&list, vec![], Some("pageSize=x&colour=red"), b"").unwrap_err();
        assert_eq!(fields_of(error), ["colour", "page_size"]);

        let update = binding("/zhengqi.policy.v1.PolicyService/UpdatePolicy");
        let message = build(
            &update,
            vec![("policy.id".into(), "p-1".into())],
            None,
            br#"{"policy": {"id": "ignored"}}"#,
        )
        .unwrap();
        let policy = message.get_field_by_name("policy").unwrap().into_owned();
        let id = policy
            .as_message()
            .unwrap()
            .get_field_by_name("id")
            .unwrap()
            .into_owned();
        assert_eq!(id, ProtoValue::String("p-1".into()), "the path wins");
    }

    #[test]
    fn a_body_field_rule_takes_the_body_as_that_field() {
        let register = binding("/zhengqi.intake.v1.IntakeService/RegisterEnterprise");
        let message = build(
            &register,
            vec![],
            None,
            br#"{"uscc": "U", "size": "SMALL", "tags": ["KEY_PROJECT", "ENTERPRISE_TAG_PRIVATE"]}"#,
        )
        .unwrap();
        let enterprise = message
            .get_field_by_name("enterprise")
            .unwrap()
            .into_owned();
        let enterprise = enterprise.as_message().unwrap();
        assert_eq!(
            enterprise.get_field_by_name("tags").unwrap().into_owned(),
            ProtoValue::List(vec![ProtoValue::EnumNumber(1), ProtoValue::EnumNumber(3)])
        );
    }

    #[test]
    fn query_parameters_are_refused_where_the_body_carries_everything() {
        let submit = binding("/zhengqi.intake.v1.IntakeService/SubmitAppeal");
        let error = build(&submit, vec![], Some("title=x"), b"{}").unwrap_err();
        assert_eq!(fields_of(error), ["title"]);
    }

    #[test]
    fn enum_type_names_become_prefixes() {
        assert_eq!(upper_snake("AppealKind"), "APPEAL_KIND");
        assert_eq!(upper_snake("Channel"), "CHANNEL");
        assert_eq!(upper_snake("EnterpriseTag"), "ENTERPRISE_TAG");
    }
}
