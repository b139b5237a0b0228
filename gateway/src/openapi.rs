//! `GET /openapi.json`: an OpenAPI 3.1 document generated at start from the
//! same descriptors and `google.api.http` bindings the transcoder serves, so
//! it cannot drift from the gRPC contract. The comments of the .proto files
//! are the descriptions.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost_reflect::{
    DescriptorPool, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor,
};
use serde_json::{Map, Value, json};
use zhengqi_shared::authorization::{self, Allowed, Attribution, MethodAccess};

use crate::transcode::rules::{self, Binding, BodyRule, is_scalar_like, is_well_known};

const SCHEMAS: &str = "#/components/schemas/";
const ERROR_SCHEMA: &str = "google.rpc.Status";
/// How deep the query parameters of nested messages are spelled out.
const MAX_QUERY_DEPTH: usize = 3;

/// The OpenAPI document of every HTTP binding in `pool`.
pub fn document(pool: &DescriptorPool) -> Result<Value, String> {
    let bindings = rules::bindings(pool)?;
    let mut generator = Generator {
        comments: Comments::default(),
        wanted: Vec::new(),
        seen: BTreeSet::new(),
    };

    // OpenAPI forbids two paths that differ only in their variables' names
    // (`/v1/policies/{id}` and `/v1/policies/{policy.id}`): each shape is
    // written once, with the plainest names among its bindings.
    let mut names_by_shape: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for binding in &bindings {
        let names: Vec<String> = binding
            .template
            .variables
            .iter()
            .map(|v| v.field_path.clone())
            .collect();
        let plainness = |names: &[String]| {
            let dots: usize = names.iter().map(|n| n.matches('.').count()).sum();
            let length: usize = names.iter().map(String::len).sum();
            (dots, length)
        };
        names_by_shape
            .entry(binding.template.shape())
            .and_modify(|chosen| {
                if plainness(&names) < plainness(chosen) {
                    chosen.clone_from(&names);
                }
            })
            .or_insert(names);
    }

    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut tags = BTreeMap::new();
    for binding in &bindings {
        let service = binding.method.parent_service();
        tags.entry(service.name().to_owned()).or_insert_with(|| {
            let mut tag = json!({"name": service.name()});
            if let Some(text) = generator
                .comments
                .of(&service.parent_file(), service.path())
            {
                tag["description"] = json!(text);
            }
            tag
        });
        let names = &names_by_shape[&binding.template.shape()];
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let operation = generator.operation(binding, &names);
        paths
            .entry(binding.template.openapi_path_named(&names))
            .or_default()
            .insert(binding.http_method.as_str().to_ascii_lowercase(), operation);
    }

    let mut schemas = Map::new();
    while let Some(name) = generator.wanted.pop() {
        let schema = if let Some(message) = pool.get_message_by_name(&name) {
            generator.message_schema(&message)
        } else if let Some(enumeration) = pool.get_enum_by_name(&name) {
            generator.enum_schema(&enumeration)
        } else {
            return Err(format!("openapi: no type {name}"));
        };
        schemas.insert(name, schema);
    }
    schemas.insert(ERROR_SCHEMA.to_owned(), error_schema());
    let schemas: BTreeMap<_, _> = schemas.into_iter().collect();

    Ok(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "zhengqi",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "One network for business-environment appeals and tiered \
                handling (营商环境诉求受理和分级办理一张网): the HTTP/JSON face of the \
                gRPC contracts, generated from their google.api.http annotations.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": tags.into_values().collect::<Vec<_>>(),
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A JWT of the configured issuer, `authorization: Bearer <jwt>`.",
                },
            },
        },
    }))
}

/// Adds the gateway's own `GET /v1/audit` (served when the audit is kept) to
/// `document`: it is not a gRPC method, so no annotation describes it.
pub fn add_audit(document: &mut Value) {
    let error = json!({
        "description": "An error: the gRPC code, a message, and details.",
        "content": {"application/json": {"schema": {"$ref": format!("{SCHEMAS}{ERROR_SCHEMA}")}}},
    });
    let text = |name: &str, description: &str| {
        json!({"name": name, "in": "query", "required": false,
               "description": description, "schema": {"type": "string"}})
    };
    document["paths"]["/v1/audit"] = json!({
        "get": {
            "operationId": "Gateway_ListAudit",
            "tags": ["Gateway"],
            "x-zhengqi-access": {"roles": ["admin"], "scope": "CALLER"},
            "summary": "The gateway's audit of authenticated calls, newest first",
            "description": "Every authenticated call through the gateway: when, who (subject, \
                roles, jurisdiction), which method, the jurisdiction it was about, its status and \
                latency. Admins only, each the calls of its own jurisdictions (the city's admin all of them).",
            "parameters": [
                text("sub", "Only the calls of this subject."),
                text("method", "Only calls of this method (a gRPC path, or `GET /v1/audit`)."),
                text("jurisdictionCode", "Only calls by callers of this jurisdiction (and those below it) or about it; \
                    within the admin's own jurisdictions, which are all an admin reads."),
                text("since", "Only calls at or after this time (RFC 3339)."),
                text("until", "Only calls before this time (RFC 3339)."),
                {"name": "pageSize", "in": "query", "required": false,
                 "description": "At most this many entries (default 100, at most 1000).",
                 "schema": {"type": "integer", "format": "int32", "minimum": 0}},
                text("pageToken", "The `nextPageToken` of the page before."),
            ],
            "responses": {
                "200": {
                    "description": "A page of the audit.",
                    "content": {"application/json": {"schema": {"$ref": format!("{SCHEMAS}zhengqi.gateway.AuditPage")}}},
                },
                "default": error,
            },
        },
    });
    let schemas = &mut document["components"]["schemas"];
    schemas["zhengqi.gateway.AuditPage"] = json!({
        "type": "object",
        "properties": {
            "entries": {"type": "array", "items": {"$ref": format!("{SCHEMAS}zhengqi.gateway.AuditEntry")}},
            "nextPageToken": {"type": "string", "description": "Empty on the last page."},
        },
    });
    schemas["zhengqi.gateway.AuditEntry"] = json!({
        "type": "object",
        "properties": {
            "time": {"type": "string", "format": "date-time"},
            "sub": {"type": "string"},
            "roles": {"type": "array", "items": {"type": "string"}},
            "jurisdiction": {"type": "string"},
            "method": {"type": "string"},
            "targetJurisdiction": {"type": "string"},
            "code": {"type": "integer", "format": "int32"},
            "status": {"type": "string", "description": "The gRPC code by name."},
            "latencyMs": {"type": "number"},
        },
    });
    if let Some(tags) = document["tags"].as_array_mut() {
        tags.push(json!({"name": "Gateway", "description": "The gateway's own endpoints."}));
    }
}

/// Leading comments of the .proto files by descriptor path.
#[derive(Default)]
struct Comments {
    by_file: HashMap<String, HashMap<Vec<i32>, String>>,
}

impl Comments {
    fn of(&mut self, file: &FileDescriptor, path: &[i32]) -> Option<String> {
        let locations = self
            .by_file
            .entry(file.name().to_owned())
            .or_insert_with(|| {
                let mut map = HashMap::new();
                if let Some(info) = &file.file_descriptor_proto().source_code_info {
                    for location in &info.location {
                        if let Some(text) = location.leading_comments.as_deref() {
                            let text = text
                                .lines()
                                .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
                                .collect::<Vec<_>>()
                                .join("\n");
                            let text = text.trim();
                            if !text.is_empty() {
                                map.insert(location.path.clone(), text.to_owned());
                            }
                        }
                    }
                }
                map
            });
        locations.get(path).cloned()
    }
}

struct Generator {
    comments: Comments,
    /// Component schemas still to write.
    wanted: Vec<String>,
    seen: BTreeSet<String>,
}

/// A method's declared access rule, for the portal and other clients: the
/// roles that may call it (`anyAuthenticated` when every caller may), what its
/// scope is checked against and on whose behalf a write is recorded.
fn access_json(access: &MethodAccess) -> Value {
    let mut rule = Map::new();
    match &access.allowed {
        Allowed::AnyAuthenticated => {
            rule.insert("anyAuthenticated".into(), json!(true));
        }
        Allowed::Roles(roles) => {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            rule.insert("roles".into(), json!(names));
        }
    }
    rule.insert(
        "scope".into(),
        json!(
            access
                .object
                .as_str_name()
                .trim_start_matches("SCOPE_OBJECT_")
        ),
    );
    if !access.field.is_empty() {
        rule.insert("scopeField".into(), json!(access.field));
    }
    if access.attribution != Attribution::Unspecified {
        rule.insert(
            "attribution".into(),
            json!(
                access
                    .attribution
                    .as_str_name()
                    .trim_start_matches("ATTRIBUTION_")
            ),
        );
    }
    Value::Object(rule)
}

impl Generator {
    fn reference(&mut self, full_name: &str) -> Value {
        if self.seen.insert(full_name.to_owned()) {
            self.wanted.push(full_name.to_owned());
        }
        json!({"$ref": format!("{SCHEMAS}{full_name}")})
    }

    /// The operation of one binding, its path variables named `names`.
    fn operation(&mut self, binding: &Binding, names: &[&str]) -> Value {
        let method = &binding.method;
        let service = method.parent_service();
        let mut operation = Map::new();
        let suffix = if binding.index == 0 {
            String::new()
        } else {
            format!("_{}", binding.index)
        };
        operation.insert(
            "operationId".into(),
            json!(format!("{}_{}{suffix}", service.name(), method.name())),
        );
        operation.insert("tags".into(), json!([service.name()]));
        let path = format!("/{}/{}", service.full_name(), method.name());
        if let Some(access) = authorization::model().method(&path) {
            operation.insert("x-zhengqi-access".into(), access_json(access));
        }
        if let Some(text) = self.comments.of(&method.parent_file(), method.path()) {
            // The first sentence: up to ". " or the end of the first line.
            let line = text.lines().next().unwrap_or_default();
            let summary = line.split(". ").next().unwrap_or_default();
            let summary = summary.trim().trim_end_matches('.');
            if !summary.is_empty() {
                operation.insert("summary".into(), json!(summary));
            }
            operation.insert("description".into(), json!(text));
        }

        let mut parameters = Vec::new();
        let mut bound_top: BTreeSet<String> = BTreeSet::new();
        let mut bound_paths: BTreeSet<String> = BTreeSet::new();
        for ((variable, fields), name) in binding
            .template
            .variables
            .iter()
            .zip(&binding.path_fields)
            .zip(names)
        {
            let leaf = fields.last().expect("a field");
            let mut parameter = json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": self.field_type(leaf),
            });
            let mut description = self
                .comments
                .of(&leaf.parent_file(), leaf.path())
                .unwrap_or_default();
            if variable.field_path != *name {
                description = format!("The field `{}`. {description}", variable.field_path);
            }
            if !description.is_empty() {
                parameter["description"] = json!(description.trim_end());
            }
            parameters.push(parameter);
            if fields.len() == 1 {
                bound_top.insert(fields[0].name().to_owned());
            }
            bound_paths.insert(
                fields
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join("."),
            );
        }
        let input = method.input();
        match &binding.body {
            BodyRule::Whole => {
                let schema = if bound_top.is_empty() {
                    self.reference(input.full_name())
                } else {
                    // The body is the message less what the path carries.
                    let mut schema = self.message_schema(&input);
                    if let Some(properties) = schema["properties"].as_object_mut() {
                        for field in input.fields() {
                            if bound_top.contains(field.name()) {
                                properties.remove(field.json_name());
                            }
                        }
                    }
                    schema
                };
                operation.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"application/json": {"schema": schema}}}),
                );
            }
            BodyRule::Field(field) => {
                let mut schema = self.field_schema(field);
                if let Some(text) = self.comments.of(&field.parent_file(), field.path()) {
                    schema["description"] = json!(text);
                }
                operation.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"application/json": {"schema": schema}}}),
                );
                bound_paths.insert(field.name().to_owned());
                self.query_parameters(&input, "", "", 0, &bound_paths, &mut parameters);
            }
            BodyRule::None => {
                self.query_parameters(&input, "", "", 0, &bound_paths, &mut parameters);
            }
        }
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }

        let output = method.output();
        let success = if binding.is_http_body_response() {
            json!({
                "description": "The content, with its own content type.",
                "content": {"*/*": {"schema": {}}},
            })
        } else {
            let schema = match &binding.response_body {
                Some(field) => self.field_schema(field),
                None => self.reference(output.full_name()),
            };
            let media = if method.is_server_streaming() {
                "application/x-ndjson"
            } else {
                "application/json"
            };
            let description = self
                .comments
                .of(&output.parent_file(), output.path())
                .unwrap_or_else(|| output.name().to_owned());
            let mut description = description.lines().next().unwrap_or_default().to_owned();
            if method.is_server_streaming() {
                description.push_str(" (one JSON message a line)");
            }
            json!({"description": description, "content": {media: {"schema": schema}}})
        };
        operation.insert(
            "responses".into(),
            json!({
                "200": success,
                "default": {
                    "description": "An error: the gRPC code, a message, and details such as \
                        the field violations of a bad request.",
                    "content": {"application/json": {"schema": {"$ref": format!("{SCHEMAS}{ERROR_SCHEMA}")}}},
                },
            }),
        );
        Value::Object(operation)
    }

    /// Query parameters for the fields of `message` not bound by path or body,
    /// nested messages spelled out as `parent.child`.
    fn query_parameters(
        &mut self,
        message: &MessageDescriptor,
        json_prefix: &str,
        proto_prefix: &str,
        depth: usize,
        bound: &BTreeSet<String>,
        out: &mut Vec<Value>,
    ) {
        for field in message.fields() {
            let proto_path = format!("{proto_prefix}{}", field.name());
            let json_path = format!("{json_prefix}{}", field.json_name());
            if bound.contains(&proto_path) || field.is_map() {
                continue;
            }
            let kind = field.kind();
            match &kind {
                Kind::Message(nested) if !is_scalar_like(&kind) => {
                    if !field.is_list() && depth < MAX_QUERY_DEPTH && !is_well_known(nested) {
                        self.query_parameters(
                            nested,
                            &format!("{json_path}."),
                            &format!("{proto_path}."),
                            depth + 1,
                            bound,
                            out,
                        );
                    }
                }
                _ => {
                    let mut parameter = json!({
                        "name": json_path,
                        "in": "query",
                        "schema": self.field_schema(&field),
                    });
                    if field.is_list() {
                        parameter["style"] = json!("form");
                        parameter["explode"] = json!(true);
                    }
                    if let Some(text) = self.comments.of(&field.parent_file(), field.path()) {
                        parameter["description"] = json!(text);
                    }
                    out.push(parameter);
                }
            }
        }
    }

    fn message_schema(&mut self, message: &MessageDescriptor) -> Value {
        let mut properties = Map::new();
        for field in message.fields() {
            let mut schema = self.field_schema(&field);
            if let Some(text) = self.comments.of(&field.parent_file(), field.path()) {
                schema["description"] = json!(text);
            }
            properties.insert(field.json_name().to_owned(), schema);
        }
        let mut schema = json!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        });
        if let Some(text) = self.comments.of(&message.parent_file(), message.path()) {
            schema["description"] = json!(text);
        }
        schema
    }

    fn enum_schema(&mut self, enumeration: &EnumDescriptor) -> Value {
        let names: Vec<String> = enumeration.values().map(|v| v.name().to_owned()).collect();
        let mut parts: Vec<String> = self
            .comments
            .of(&enumeration.parent_file(), enumeration.path())
            .into_iter()
            .collect();
        let values: Vec<String> = enumeration
            .values()
            .filter_map(|value| {
                let text = self.comments.of(&value.parent_file(), value.path())?;
                Some(format!("- `{}`: {}", value.name(), text.replace('\n', " ")))
            })
            .collect();
        if !values.is_empty() {
            parts.push(values.join("\n"));
        }
        let description = parts.join("\n\n");
        let mut schema = json!({"type": "string", "enum": names});
        if !description.is_empty() {
            schema["description"] = json!(description);
        }
        schema
    }

    /// A field's schema, repeated and map fields included.
    fn field_schema(&mut self, field: &FieldDescriptor) -> Value {
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                unreachable!("a map field is a message of entries")
            };
            let value = self.field_type(&entry.map_entry_value_field());
            return json!({"type": "object", "additionalProperties": value});
        }
        let item = self.field_type(field);
        if field.is_list() {
            json!({"type": "array", "items": item})
        } else {
            item
        }
    }

    /// The schema of one value of a field, as proto3 JSON writes it.
    fn field_type(&mut self, field: &FieldDescriptor) -> Value {
        match field.kind() {
            Kind::Double | Kind::Float => json!({"type": "number"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32"})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": u32::MAX})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"})
            }
            Kind::Uint64 | Kind::Fixed64 => {
                json!({"type": "string", "format": "uint64", "pattern": "^[0-9]+$"})
            }
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
            Kind::Enum(enumeration) => self.reference(enumeration.full_name()),
            Kind::Message(message) => match well_known_schema(&message) {
                Some(schema) => schema,
                None => self.reference(message.full_name()),
            },
        }
    }
}

/// The JSON form of the well-known types.
fn well_known_schema(message: &MessageDescriptor) -> Option<Value> {
    Some(match message.full_name() {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"})
        }
        "google.protobuf.FieldMask" => json!({"type": "string"}),
        "google.protobuf.Struct" => json!({"type": "object"}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({"type": "array"}),
        "google.protobuf.Empty" => json!({"type": "object", "additionalProperties": false}),
        "google.protobuf.Any" => json!({
            "type": "object",
            "properties": {"@type": {"type": "string"}},
            "required": ["@type"],
        }),
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => {
            json!({"type": ["number", "null"]})
        }
        "google.protobuf.Int32Value" | "google.protobuf.UInt32Value" => {
            json!({"type": ["integer", "null"]})
        }
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => {
            json!({"type": ["string", "null"], "pattern": "^-?[0-9]+$"})
        }
        "google.protobuf.BoolValue" => json!({"type": ["boolean", "null"]}),
        "google.protobuf.StringValue" => json!({"type": ["string", "null"]}),
        "google.protobuf.BytesValue" => {
            json!({"type": ["string", "null"], "contentEncoding": "base64"})
        }
        _ => return None,
    })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "google.rpc.Status: the gRPC code (google/rpc/code.proto), a message for \
            developers, and details such as google.rpc.BadRequest with every bad field.",
        "properties": {
            "code": {"type": "integer", "format": "int32"},
            "message": {"type": "string"},
            "details": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"@type": {"type": "string"}},
                    "required": ["@type"],
                },
            },
        },
        "required": ["code", "message"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        let pool = DescriptorPool::decode(zhengqi_proto::FILE_DESCRIPTOR_SET).unwrap();
        super::document(&pool).unwrap()
    }

    #[test]
    fn the_audit_is_described_with_its_schemas() {
        let mut document = document();
        add_audit(&mut document);
        let audit = &document["paths"]["/v1/audit"]["get"];
        assert_eq!(audit["operationId"], "Gateway_ListAudit");
        let schemas = &document["components"]["schemas"];
        assert!(schemas["zhengqi.gateway.AuditPage"].is_object());
        assert!(schemas["zhengqi.gateway.AuditEntry"]["properties"]["latencyMs"].is_object());
    }

    #[test]
    fn every_reference_names_a_component() {
        let mut document = document();
        add_audit(&mut document);
        let text = document.to_string();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for (at, _) in text.match_indices(SCHEMAS) {
            let rest = &text[at + SCHEMAS.len()..];
            let name = &rest[..rest.find('"').unwrap()];
            assert!(
                schemas.contains_key(name),
                "{name} is referenced but missing"
            );
        }
    }

    #[test]
    fn every_operation_carries_its_declared_access_rule() {
        let document = document();
        let accept = &document["paths"]["/v1/cases/{id}:accept"]["post"]["x-zhengqi-access"];
        assert_eq!(accept["roles"], json!(["coordinator", "service"]));
        assert_eq!(accept["scope"], "CASE");
        assert_eq!(accept["scopeField"], "id");
        assert_eq!(accept["attribution"], "JURISDICTION");
        let calendar = &document["paths"]["/v1/calendar"]["get"]["x-zhengqi-access"];
        assert_eq!(calendar["anyAuthenticated"], true);
        for (path, item) in document["paths"].as_object().unwrap() {
            for (verb, operation) in item.as_object().unwrap() {
                if verb == "parameters" {
                    continue;
                }
                assert!(
                    operation.get("x-zhengqi-access").is_some(),
                    "{verb} {path} has no access rule"
                );
            }
        }
    }

    #[test]
    fn operations_carry_parameters_bodies_and_descriptions() {
        let document = document();
        let appeals = &document["paths"]["/v1/appeals"];
        assert_eq!(appeals["post"]["operationId"], "IntakeService_SubmitAppeal");
        assert_eq!(
            appeals["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/zhengqi.intake.v1.SubmitAppealRequest"
        );
        let list: Vec<&str> = appeals["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(
            list.contains(&"pageSize") && list.contains(&"pageToken"),
            "{list:?}"
        );
        let accept = &document["paths"]["/v1/cases/{id}:accept"]["post"];
        assert_eq!(accept["parameters"][0]["in"], "path");
        let body = &accept["requestBody"]["content"]["application/json"]["schema"];
        assert!(body["properties"].get("id").is_none(), "{body}");
        let channel = &document["components"]["schemas"]["zhengqi.intake.v1.Channel"];
        assert!(
            channel["enum"]
                .as_array()
                .unwrap()
                .contains(&json!("CHANNEL_HOTLINE_12345"))
        );
        let submit = &document["components"]["schemas"]["zhengqi.intake.v1.SubmitAppealRequest"];
        assert!(
            submit["properties"]["requestId"]["description"]
                .as_str()
                .unwrap()
                .contains("Idempotency key")
        );
        let policies = &document["paths"]["/v1/policies/{id}"];
        assert!(
            policies["patch"].is_object() && policies["get"].is_object(),
            "one path for one shape: {policies}"
        );
        assert!(document["paths"].get("/v1/policies/{policy.id}").is_none());
    }
}
