//! The authorization model: for every method, the roles that may call it, the
//! stored object its scope is checked against and on whose behalf a write is
//! recorded. Declared once, as the `(zhengqi.common.v1.access)` option on each
//! method of the contracts (`proto/zhengqi/common/v1/access.proto`), and read
//! from the compiled descriptor set here: by the gateway before it forwards a
//! call, by every service's auth layer before a handler runs, and by the portal
//! through `/openapi.json`. Scope itself is checked by the service that owns the
//! object, against the stored object (`access::Scope`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, Value};
use zhengqi_proto::zhengqi::common::v1 as pb;

pub use pb::{Attribution, ScopeObject};

use crate::auth::{Principal, Role};
use crate::error::Error;

/// Who may call one method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// Every authenticated caller (published material, reference data).
    AnyAuthenticated,
    /// A caller holding one of these roles.
    Roles(Vec<Role>),
}

impl Allowed {
    pub fn admits(&self, principal: &Principal) -> bool {
        match self {
            Allowed::AnyAuthenticated => true,
            Allowed::Roles(roles) => principal.has_any(roles),
        }
    }

    /// Whether a caller holding only `role` is admitted.
    pub fn admits_role(&self, role: Role) -> bool {
        match self {
            Allowed::AnyAuthenticated => true,
            Allowed::Roles(roles) => roles.contains(&role),
        }
    }
}

/// The access rule of one method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodAccess {
    /// `/<package>.<Service>/<Method>`.
    pub path: String,
    pub allowed: Allowed,
    /// What the caller's scope is checked against.
    pub object: ScopeObject,
    /// The request field naming the object (`id`, `case_id`), or empty.
    pub field: String,
    pub attribution: Attribution,
}

impl MethodAccess {
    /// Refuses a caller holding none of the method's roles.
    pub fn admit(&self, principal: &Principal) -> Result<(), Error> {
        if self.allowed.admits(principal) {
            return Ok(());
        }
        let Allowed::Roles(roles) = &self.allowed else {
            return Ok(());
        };
        let method = self.path.rsplit('/').next().unwrap_or(&self.path);
        let chinese: Vec<&str> = roles.iter().map(|r| r.chinese()).collect();
        let english: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(Error::PermissionDenied(format!(
            "{method} 仅限{}调用（{method} needs one of the roles {}）",
            chinese.join("、"),
            english.join(", ")
        )))
    }
}

/// Why the declarations could not be read: a defect of the contracts, found by
/// the unit tests below before any build ships.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("the descriptor set does not decode: {0}")]
    Descriptors(#[from] prost_reflect::DescriptorError),
    #[error("the contracts declare no `zhengqi.common.v1.access` option")]
    NoExtension,
    #[error("{0} declares no access rule")]
    Undeclared(String),
    #[error("{0}: {1}")]
    Invalid(String, String),
}

/// Every method's rule, keyed by gRPC path.
#[derive(Debug, Clone)]
pub struct Model {
    methods: BTreeMap<String, MethodAccess>,
}

impl Model {
    /// Reads the rules of every method of every `zhengqi.*` service in
    /// `descriptor_set`; a method without one is an error.
    pub fn from_descriptor_set(descriptor_set: &[u8]) -> Result<Model, ModelError> {
        let pool = DescriptorPool::decode(descriptor_set)?;
        let extension = pool
            .get_extension_by_name("zhengqi.common.v1.access")
            .ok_or(ModelError::NoExtension)?;
        let mut methods = BTreeMap::new();
        for service in pool.services() {
            if !service.full_name().starts_with("zhengqi.") {
                continue;
            }
            for method in service.methods() {
                let path = format!("/{}/{}", service.full_name(), method.name());
                let options = method.options();
                if !options.has_extension(&extension) {
                    return Err(ModelError::Undeclared(path));
                }
                let Value::Message(value) = options.get_extension(&extension).into_owned() else {
                    return Err(ModelError::Invalid(path, "not a message".into()));
                };
                let declared: pb::Access = value
                    .transcode_to()
                    .map_err(|e| ModelError::Invalid(path.clone(), e.to_string()))?;
                let access = method_access(&path, declared)?;
                methods.insert(path, access);
            }
        }
        Ok(Model { methods })
    }

    /// The rule of a gRPC path; `None` for a path that is no zhengqi method.
    pub fn method(&self, path: &str) -> Option<&MethodAccess> {
        self.methods.get(path)
    }

    /// Every method's rule, in path order.
    pub fn methods(&self) -> impl Iterator<Item = &MethodAccess> {
        self.methods.values()
    }

    /// Admits `principal` to the method at `path`, or refuses: a path that is
    /// no declared method is refused too, so nothing is open by omission.
    pub fn admit(&self, path: &str, principal: &Principal) -> Result<(), Error> {
        match self.method(path) {
            Some(access) => access.admit(principal),
            None => Err(Error::PermissionDenied(format!(
                "{path} 不是可调用的方法（{path} is not a method of zhengqi）"
            ))),
        }
    }
}

fn method_access(path: &str, declared: pb::Access) -> Result<MethodAccess, ModelError> {
    let invalid = |why: &str| ModelError::Invalid(path.to_owned(), why.to_owned());
    let roles = declared
        .roles()
        .map(|role| role_of(role).ok_or_else(|| invalid("names ROLE_UNSPECIFIED")))
        .collect::<Result<Vec<_>, _>>()?;
    let allowed = match (declared.any_authenticated, roles.is_empty()) {
        (true, true) => Allowed::AnyAuthenticated,
        (false, false) => Allowed::Roles(roles),
        (true, false) => return Err(invalid("names roles and any_authenticated both")),
        (false, true) => return Err(invalid("names no role")),
    };
    let attribution = declared.attribution();
    let scope = declared.scope.unwrap_or_default();
    let object = scope.object();
    if object == ScopeObject::Unspecified {
        return Err(invalid("declares no scope object"));
    }
    Ok(MethodAccess {
        path: path.to_owned(),
        allowed,
        object,
        field: scope.field,
        attribution,
    })
}

fn role_of(role: pb::Role) -> Option<Role> {
    Some(match role {
        pb::Role::Unspecified => return None,
        pb::Role::Enterprise => Role::Enterprise,
        pb::Role::Handler => Role::Handler,
        pb::Role::Coordinator => Role::Coordinator,
        pb::Role::Leader => Role::Leader,
        pb::Role::Supervisor => Role::Supervisor,
        pb::Role::Evaluator => Role::Evaluator,
        pb::Role::Admin => Role::Admin,
        pb::Role::Service => Role::Service,
    })
}

/// The model of the contracts compiled into this binary.
pub fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        // The contracts are compiled in; the tests below read them, so a
        // missing or malformed declaration never reaches a running binary.
        Model::from_descriptor_set(zhengqi_proto::FILE_DESCRIPTOR_SET)
            .unwrap_or_else(|e| panic!("the authorization model of the contracts: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[Role]) -> Principal {
        Principal {
            sub: "someone".into(),
            roles: roles.to_vec(),
            jurisdiction: Some("510821".into()),
            department: None,
            uscc: None,
            name: None,
            expires_at: 0,
        }
    }

    #[test]
    fn every_method_of_every_service_declares_its_access() {
        let model = Model::from_descriptor_set(zhengqi_proto::FILE_DESCRIPTOR_SET).unwrap();
        let pool = DescriptorPool::decode(zhengqi_proto::FILE_DESCRIPTOR_SET).unwrap();
        let count: usize = pool
            .services()
            .filter(|s| s.full_name().starts_with("zhengqi."))
            .map(|s| s.methods().len())
            .sum();
        assert_eq!(model.methods().count(), count);
        assert!(count >= 85, "{count}");
    }

    #[test]
    fn a_role_the_model_does_not_name_is_refused_in_chinese() {
        let error = model()
            .admit(
                "/zhengqi.routing.v1.CaseService/PutCalendarYear",
                &principal(&[Role::Coordinator]),
            )
            .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("仅限管理员调用"), "{message}");
        assert!(matches!(error, Error::PermissionDenied(_)));
        model()
            .admit(
                "/zhengqi.routing.v1.CaseService/PutCalendarYear",
                &principal(&[Role::Admin]),
            )
            .unwrap();
    }

    #[test]
    fn an_undeclared_path_is_refused() {
        let error = model()
            .admit(
                "/zhengqi.intake.v1.IntakeService/Nothing",
                &principal(&Role::ALL),
            )
            .unwrap_err();
        assert!(matches!(error, Error::PermissionDenied(_)));
    }

    #[test]
    fn third_party_evaluators_read_no_appeal_case_or_meeting() {
        for method in [
            "/zhengqi.intake.v1.IntakeService/GetAppeal",
            "/zhengqi.intake.v1.IntakeService/ListAppeals",
            "/zhengqi.routing.v1.CaseService/GetCase",
            "/zhengqi.routing.v1.CaseService/ListCases",
            "/zhengqi.routing.v1.CaseService/GetCaseHistory",
            "/zhengqi.routing.v1.CaseService/ExportLedger",
            "/zhengqi.routing.v1.CaseService/GetMeeting",
            "/zhengqi.routing.v1.CaseService/ListMeetings",
        ] {
            let access = model().method(method).unwrap();
            assert!(!access.allowed.admits_role(Role::Evaluator), "{method}");
        }
    }
}
