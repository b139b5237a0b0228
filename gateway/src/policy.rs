//! The method policy: which roles may call which method, kept as data
//! (`method-policy.toml`) and checked against the contracts at start.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use serde::Deserialize;
use zhengqi_shared::auth::{Principal, Role};

/// The policy shipped with zhengqi.
pub const DEFAULT_POLICY: &str = include_str!("../method-policy.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    methods: BTreeMap<String, Vec<String>>,
}

/// Who may call a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    AnyAuthenticated,
    Roles(Vec<Role>),
}

impl Allowed {
    pub fn admits(&self, principal: &Principal) -> bool {
        match self {
            Allowed::AnyAuthenticated => true,
            Allowed::Roles(roles) => principal.has_any(roles),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("method policy: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("method policy: {key:?} names no method or service of the contracts")]
    UnknownMethod { key: String },
    #[error("method policy: {key:?} allows the unknown role {role:?}")]
    UnknownRole { key: String, role: String },
    #[error("method policy: the descriptor set does not decode: {0}")]
    Descriptors(#[from] prost::DecodeError),
}

/// The parsed policy, keyed by `/<package>.<Service>/<Method>` gRPC path.
#[derive(Debug, Clone)]
pub struct MethodPolicy {
    methods: BTreeMap<String, Allowed>,
    services: BTreeMap<String, Allowed>,
}

impl MethodPolicy {
    /// Parses `text`, refusing keys that name nothing in `descriptor_set` and
    /// role names that do not exist, so a typo cannot open or close a method silently.
    pub fn parse(text: &str, descriptor_set: &[u8]) -> Result<MethodPolicy, PolicyError> {
        let file: PolicyFile = toml::from_str(text)?;
        let known = known_methods(descriptor_set)?;
        let known_services: BTreeSet<&str> = known
            .iter()
            .filter_map(|m| m.split_once('/').map(|(s, _)| s))
            .collect();
        let mut policy = MethodPolicy {
            methods: BTreeMap::new(),
            services: BTreeMap::new(),
        };
        for (key, roles) in file.methods {
            let allowed = if roles.iter().any(|r| r == "*") {
                Allowed::AnyAuthenticated
            } else {
                let mut parsed = Vec::new();
                for role in &roles {
                    parsed.push(role.parse::<Role>().map_err(|_| PolicyError::UnknownRole {
                        key: key.clone(),
                        role: role.clone(),
                    })?);
                }
                Allowed::Roles(parsed)
            };
            match key.split_once('/') {
                Some((service, "*")) if known_services.contains(service) => {
                    policy.services.insert(service.to_owned(), allowed);
                }
                Some(_) if known.contains(&key) => {
                    policy.methods.insert(format!("/{key}"), allowed);
                }
                _ => return Err(PolicyError::UnknownMethod { key }),
            }
        }
        Ok(policy)
    }

    /// The rule for a gRPC path (`/zhengqi.intake.v1.IntakeService/SubmitAppeal`);
    /// `None` when the policy has none, which refuses the call.
    pub fn lookup(&self, path: &str) -> Option<&Allowed> {
        self.methods.get(path).or_else(|| {
            let service = path.strip_prefix('/')?.split_once('/')?.0;
            self.services.get(service)
        })
    }
}

/// `<package>.<Service>/<Method>` of every method in the descriptor set.
fn known_methods(descriptor_set: &[u8]) -> Result<BTreeSet<String>, prost::DecodeError> {
    let set = prost_types::FileDescriptorSet::decode(descriptor_set)?;
    let mut methods = BTreeSet::new();
    for file in set.file {
        let package = file.package.unwrap_or_default();
        for service in file.service {
            let name = service.name.unwrap_or_default();
            for method in service.method {
                methods.insert(format!(
                    "{package}.{name}/{}",
                    method.name.unwrap_or_default()
                ));
            }
        }
    }
    Ok(methods)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> MethodPolicy {
        MethodPolicy::parse(DEFAULT_POLICY, zhengqi_proto::FILE_DESCRIPTOR_SET).unwrap()
    }

    #[test]
    fn the_shipped_policy_names_only_real_methods() {
        let policy = policy();
        assert_eq!(
            policy.lookup("/zhengqi.intake.v1.IntakeService/WatchEvents"),
            Some(&Allowed::Roles(vec![Role::Service, Role::Admin]))
        );
        assert_eq!(
            policy.lookup("/zhengqi.routing.v1.CaseService/GetCase"),
            Some(&Allowed::AnyAuthenticated)
        );
        assert_eq!(policy.lookup("/zhengqi.nothing.v1.Nothing/Call"), None);
    }

    #[test]
    fn a_typo_in_the_policy_is_refused() {
        let error = MethodPolicy::parse(
            "[methods]\n\"zhengqi.intake.v1.IntakeService/SubmitApeal\" = [\"*\"]\n",
            zhengqi_proto::FILE_DESCRIPTOR_SET,
        )
        .unwrap_err();
        assert!(
            matches!(error, PolicyError::UnknownMethod { .. }),
            "{error}"
        );
        let error = MethodPolicy::parse(
            "[methods]\n\"zhengqi.intake.v1.IntakeService/GetAppeal\" = [\"mayor\"]\n",
            zhengqi_proto::FILE_DESCRIPTOR_SET,
        )
        .unwrap_err();
        assert!(matches!(error, PolicyError::UnknownRole { .. }), "{error}");
    }
}
