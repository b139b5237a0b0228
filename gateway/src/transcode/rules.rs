//! The HTTP bindings of the contracts: every method's `google.api.http` rule
//! and its `additional_bindings`, read from the descriptor set and checked
//! against the request and response messages at start, so a rule that names a
//! field that does not exist stops the gateway instead of failing a caller.

use http::Method;
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};
use zhengqi_proto::google::api::HttpRule;
use zhengqi_proto::google::api::http_rule::Pattern;

use super::template::PathTemplate;

/// Where the request message's fields come from besides the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRule {
    /// No body: every field not bound by the path comes from the query string.
    None,
    /// `body: "*"`: the body is the request message; no query parameters.
    Whole,
    /// `body: "<field>"`: the body is that top-level field; the rest from the query.
    Field(FieldDescriptor),
}

/// One HTTP binding of one method.
#[derive(Debug, Clone)]
pub struct Binding {
    pub method: MethodDescriptor,
    /// `/zhengqi.intake.v1.IntakeService/SubmitAppeal`.
    pub grpc_path: String,
    pub http_method: Method,
    pub template: PathTemplate,
    /// The fields each path variable binds, outermost first.
    pub path_fields: Vec<Vec<FieldDescriptor>>,
    pub body: BodyRule,
    /// `response_body`: the response field sent as the HTTP body, when set.
    pub response_body: Option<FieldDescriptor>,
    /// 0 for the main rule, then 1, 2, … for `additional_bindings`.
    pub index: usize,
}

impl Binding {
    pub fn is_http_body_response(&self) -> bool {
        self.method.output().full_name() == HTTP_BODY
    }
}

pub const HTTP_BODY: &str = "google.api.HttpBody";

/// Every binding of every method in `pool` that carries a `google.api.http` rule.
pub fn bindings(pool: &DescriptorPool) -> Result<Vec<Binding>, String> {
    let Some(extension) = pool.get_extension_by_name("google.api.http") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&extension) {
                continue;
            }
            let value = options.get_extension(&extension);
            let Some(rule) = value.as_message() else {
                continue;
            };
            let rule: HttpRule = rule
                .transcode_to()
                .map_err(|e| format!("{}: google.api.http: {e}", method.full_name()))?;
            if method.is_client_streaming() {
                return Err(format!(
                    "{}: a client-streaming method cannot have an HTTP binding",
                    method.full_name()
                ));
            }
            let grpc_path = format!("/{}/{}", service.full_name(), method.name());
            out.push(binding(&method, &grpc_path, &rule, 0)?);
            for (i, additional) in rule.additional_bindings.iter().enumerate() {
                if !additional.additional_bindings.is_empty() {
                    return Err(format!(
                        "{}: additional_bindings may not nest",
                        method.full_name()
                    ));
                }
                out.push(binding(&method, &grpc_path, additional, i + 1)?);
            }
        }
    }
    Ok(out)
}

fn binding(
    method: &MethodDescriptor,
    grpc_path: &str,
    rule: &HttpRule,
    index: usize,
) -> Result<Binding, String> {
    let name = method.full_name();
    let (http_method, pattern) = match &rule.pattern {
        Some(Pattern::Get(p)) => (Method::GET, p.as_str()),
        Some(Pattern::Put(p)) => (Method::PUT, p.as_str()),
        Some(Pattern::Post(p)) => (Method::POST, p.as_str()),
        Some(Pattern::Delete(p)) => (Method::DELETE, p.as_str()),
        Some(Pattern::Patch(p)) => (Method::PATCH, p.as_str()),
        Some(Pattern::Custom(custom)) => (
            Method::from_bytes(custom.kind.as_bytes())
                .map_err(|e| format!("{name}: custom method {:?}: {e}", custom.kind))?,
            custom.path.as_str(),
        ),
        None => return Err(format!("{name}: google.api.http has no pattern")),
    };
    let template = PathTemplate::parse(pattern).map_err(|e| format!("{name}: {e}"))?;
    let input = method.input();
    let mut path_fields = Vec::new();
    for variable in &template.variables {
        let fields = resolve(&input, &variable.field_path)
            .map_err(|e| format!("{name}: path variable {{{}}}: {e}", variable.field_path))?;
        let leaf = fields.last().expect("a field path has a field");
        if leaf.is_list() || leaf.is_map() || !is_scalar_like(&leaf.kind()) {
            return Err(format!(
                "{name}: path variable {{{}}} must bind a singular scalar field",
                variable.field_path
            ));
        }
        path_fields.push(fields);
    }
    let body = match rule.body.as_str() {
        "" => BodyRule::None,
        "*" => BodyRule::Whole,
        field => BodyRule::Field(
            input
                .get_field_by_name(field)
                .ok_or_else(|| format!("{name}: body names no field {field:?}"))?,
        ),
    };
    let response_body = match rule.response_body.as_str() {
        "" => None,
        field => Some(
            method
                .output()
                .get_field_by_name(field)
                .ok_or_else(|| format!("{name}: response_body names no field {field:?}"))?,
        ),
    };
    Ok(Binding {
        method: method.clone(),
        grpc_path: grpc_path.to_owned(),
        http_method,
        template,
        path_fields,
        body,
        response_body,
        index,
    })
}

/// The fields a dotted path names, each segment by its proto or JSON name.
pub fn resolve(message: &MessageDescriptor, path: &str) -> Result<Vec<FieldDescriptor>, String> {
    let mut fields = Vec::new();
    let mut current = message.clone();
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        let field = find_field(&current, segment)
            .ok_or_else(|| format!("{} has no field {segment:?}", current.full_name()))?;
        if segments.peek().is_some() {
            match field.kind() {
                Kind::Message(next) if !field.is_list() && !field.is_map() => current = next,
                _ => return Err(format!("{} is not a message field", field.name())),
            }
        }
        fields.push(field);
    }
    Ok(fields)
}

/// A field of `message` by its JSON name or its proto name.
pub fn find_field(message: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    message
        .get_field_by_json_name(name)
        .or_else(|| message.get_field_by_name(name))
}

/// Well-known types whose JSON is a string, number or bool, so a path or a
/// query parameter can carry them.
pub fn is_scalar_like(kind: &Kind) -> bool {
    match kind {
        Kind::Message(message) => matches!(
            message.full_name(),
            "google.protobuf.Timestamp"
                | "google.protobuf.Duration"
                | "google.protobuf.FieldMask"
                | "google.protobuf.DoubleValue"
                | "google.protobuf.FloatValue"
                | "google.protobuf.Int64Value"
                | "google.protobuf.UInt64Value"
                | "google.protobuf.Int32Value"
                | "google.protobuf.UInt32Value"
                | "google.protobuf.BoolValue"
                | "google.protobuf.StringValue"
                | "google.protobuf.BytesValue"
        ),
        _ => true,
    }
}

/// Well-known types with a JSON form of their own (not an object of fields).
pub fn is_well_known(message: &MessageDescriptor) -> bool {
    message.full_name().starts_with("google.protobuf.")
        && message.full_name() != "google.protobuf.Empty"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(zhengqi_proto::FILE_DESCRIPTOR_SET).unwrap()
    }

    fn find<'a>(bindings: &'a [Binding], grpc_path: &str) -> &'a Binding {
        bindings
            .iter()
            .find(|b| b.grpc_path == grpc_path)
            .unwrap_or_else(|| panic!("no binding for {grpc_path}"))
    }

    #[test]
    fn every_annotated_method_has_a_binding() {
        let bindings = bindings(&pool()).unwrap();
        let submit = find(&bindings, "/zhengqi.intake.v1.IntakeService/SubmitAppeal");
        assert_eq!(submit.http_method, Method::POST);
        assert_eq!(submit.body, BodyRule::Whole);
        let register = find(
            &bindings,
            "/zhengqi.intake.v1.IntakeService/RegisterEnterprise",
        );
        assert!(matches!(&register.body, BodyRule::Field(f) if f.name() == "enterprise"));
        let update = find(&bindings, "/zhengqi.policy.v1.PolicyService/UpdatePolicy");
        assert_eq!(update.http_method, Method::PATCH);
        let names: Vec<_> = update.path_fields[0].iter().map(|f| f.name()).collect();
        assert_eq!(names, ["policy", "id"]);
        let export = find(&bindings, "/zhengqi.routing.v1.CaseService/ExportLedger");
        assert!(export.is_http_body_response());
        assert!(
            bindings
                .iter()
                .all(|b| !b.grpc_path.ends_with("/WatchEvents")
                    && !b.grpc_path.ends_with("/ImportAppeals"))
        );
    }
}
