//! The verified caller and the roles of API.md.

use std::fmt;
use std::str::FromStr;

/// A role a token may grant (API.md, "Identity: the JWT").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// An enterprise user (企业用户); sees only data of its own `uscc`.
    Enterprise,
    /// Department staff who handle appeals (承办部门).
    Handler,
    /// The business-environment office of a jurisdiction (营商环境办).
    Coordinator,
    /// A city or county leader (领导).
    Leader,
    /// A business-environment supervisor (营商环境监督员).
    Supervisor,
    /// A third-party evaluator (第三方评估).
    Evaluator,
    /// An administrator of the suite.
    Admin,
    /// A county system or another zhengqi service.
    Service,
}

impl Role {
    /// Every role, in the order of API.md.
    pub const ALL: [Role; 8] = [
        Role::Enterprise,
        Role::Handler,
        Role::Coordinator,
        Role::Leader,
        Role::Supervisor,
        Role::Evaluator,
        Role::Admin,
        Role::Service,
    ];

    /// The role's name as officials call it, for messages people read.
    pub const fn chinese(self) -> &'static str {
        match self {
            Role::Enterprise => "企业",
            Role::Handler => "承办部门人员",
            Role::Coordinator => "营商环境办",
            Role::Leader => "领导",
            Role::Supervisor => "营商环境监督员",
            Role::Evaluator => "第三方评估机构",
            Role::Admin => "管理员",
            Role::Service => "系统服务",
        }
    }

    /// The name used in the token's `roles` claim.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Enterprise => "enterprise",
            Role::Handler => "handler",
            Role::Coordinator => "coordinator",
            Role::Leader => "leader",
            Role::Supervisor => "supervisor",
            Role::Evaluator => "evaluator",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that API.md does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role {0:?}; expected one of enterprise, handler, coordinator, leader, supervisor, evaluator, admin, service"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    /// Parses the exact lowercase name of API.md.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == name)
            .ok_or_else(|| UnknownRole(name.to_owned()))
    }
}

/// The caller of a request, as its verified token describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The person or system (`sub`).
    pub sub: String,
    /// Known roles from the `roles` claim, without duplicates; unknown names are dropped.
    pub roles: Vec<Role>,
    /// GB/T 2260 code of the caller's home jurisdiction, e.g. `510821`.
    pub jurisdiction: Option<String>,
    /// Department id, for department staff.
    pub department: Option<String>,
    /// Unified social credit code (统一社会信用代码), for enterprise users.
    pub uscc: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// The token's `exp`, in seconds since the Unix epoch.
    pub expires_at: i64,
}

impl Principal {
    /// Whether the token grants `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the token grants at least one of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|role| self.has_role(*role))
    }
}
