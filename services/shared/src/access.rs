//! Who may touch what: the role checks and data scope of API.md, in one place.
//!
//! A principal sees its own jurisdiction and every jurisdiction below it (the
//! city sees all its counties; a county sees itself); an `enterprise` sees only
//! what carries its own credit code; a `service` caller sees everything. Data
//! out of scope is answered `NOT_FOUND` for single reads (no existence leak) and
//! `PERMISSION_DENIED` for writes.

use crate::auth::{Principal, Role};
use crate::error::Error;
use crate::reference::{Directory, JurisdictionCode};

/// Every role except `enterprise`: people and systems of government.
pub const GOVERNMENT: &[Role] = &[
    Role::Handler,
    Role::Coordinator,
    Role::Leader,
    Role::Supervisor,
    Role::Evaluator,
    Role::Admin,
    Role::Service,
];

/// The principal the auth layer put on a call.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<&Principal, Error> {
    request
        .extensions()
        .get::<Principal>()
        .ok_or_else(|| Error::internal("a call reached a service without a verified principal"))
}

/// Refuses a principal that holds none of `roles`.
pub fn require_any(principal: &Principal, roles: &[Role], action: &str) -> Result<(), Error> {
    if principal.has_any(roles) {
        Ok(())
    } else {
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let chinese: Vec<&str> = roles.iter().map(|r| r.chinese()).collect();
        Err(Error::PermissionDenied(format!(
            "{action} needs one of the roles {}",
            names.join(", ")
        ))
        .zh(format!("此操作仅限{}办理", chinese.join("、"))))
    }
}

/// What a principal may see, resolved once per call against the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Service-to-service calls and county systems' service tokens of the city.
    Everything,
    /// The listed jurisdictions (the principal's own and those below it).
    Jurisdictions(Vec<JurisdictionCode>),
    /// One enterprise's own data.
    Enterprise(String),
    /// Nothing: a token with neither a known jurisdiction nor a credit code.
    Nothing,
}

impl Scope {
    pub fn of(principal: &Principal, directory: &Directory) -> Scope {
        if principal.has_role(Role::Service) && principal.jurisdiction.is_none() {
            return Scope::Everything;
        }
        if principal.has_any(GOVERNMENT)
            && let Some(code) = principal
                .jurisdiction
                .as_deref()
                .and_then(|j| JurisdictionCode::parse(j).ok())
                .filter(|code| directory.contains(code))
        {
            return Scope::Jurisdictions(
                directory.descendants(&code).into_iter().cloned().collect(),
            );
        }
        if principal.has_role(Role::Enterprise)
            && let Some(uscc) = &principal.uscc
        {
            return Scope::Enterprise(uscc.clone());
        }
        Scope::Nothing
    }

    /// Whether an item of `jurisdiction_code` concerning enterprise `uscc` is in scope.
    pub fn covers(&self, jurisdiction_code: &str, uscc: &str) -> bool {
        match self {
            Scope::Everything => true,
            Scope::Jurisdictions(codes) => codes.iter().any(|c| c.as_str() == jurisdiction_code),
            Scope::Enterprise(own) => own == uscc,
            Scope::Nothing => false,
        }
    }

    /// Whether a whole jurisdiction's data is in scope (never for an enterprise).
    pub fn covers_jurisdiction(&self, jurisdiction_code: &str) -> bool {
        match self {
            Scope::Everything => true,
            Scope::Jurisdictions(codes) => codes.iter().any(|c| c.as_str() == jurisdiction_code),
            Scope::Enterprise(_) | Scope::Nothing => false,
        }
    }

    /// `NOT_FOUND` for an item out of scope, so a read never reveals that it exists.
    pub fn check_read(&self, jurisdiction_code: &str, uscc: &str, what: &str) -> Result<(), Error> {
        if self.covers(jurisdiction_code, uscc) {
            Ok(())
        } else {
            Err(Error::NotFound(what.to_owned()))
        }
    }

    /// The jurisdictions a list may show: `requested` (a GB/T 2260 code, or
    /// empty) and those below it, which the scope must cover; with nothing
    /// requested, the whole scope. `None` for no restriction by jurisdiction
    /// (the whole city, or an enterprise's own data, which the caller narrows
    /// by its credit code). A requested code out of scope is `PERMISSION_DENIED`,
    /// an unknown one `INVALID_ARGUMENT` naming `jurisdiction_code`.
    pub fn list_jurisdictions(
        &self,
        directory: &Directory,
        requested: &str,
    ) -> Result<Option<Vec<String>>, Error> {
        let requested = match requested.trim() {
            "" => None,
            code => Some(
                directory
                    .parse_known(code)
                    .map_err(|e| Error::invalid("jurisdiction_code", e))?,
            ),
        };
        let below = |code: &JurisdictionCode| {
            directory
                .descendants(code)
                .into_iter()
                .map(|c| c.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        match (self, requested) {
            (Scope::Nothing, _) => Err(Error::PermissionDenied(
                "your token names no known jurisdiction or enterprise".into(),
            )
            .zh("您的登录凭证未指明所属辖区或企业，无法查看")),
            (Scope::Everything | Scope::Enterprise(_), None) => Ok(None),
            (Scope::Everything | Scope::Enterprise(_), Some(code)) => Ok(Some(below(&code))),
            (Scope::Jurisdictions(codes), None) => {
                Ok(Some(codes.iter().map(|c| c.as_str().to_owned()).collect()))
            }
            (Scope::Jurisdictions(_), Some(code)) => {
                if self.covers_jurisdiction(code.as_str()) {
                    Ok(Some(below(&code)))
                } else {
                    Err(Error::PermissionDenied(format!(
                        "jurisdiction {code} is outside your jurisdiction"
                    ))
                    .zh(format!("行政区划 {code} 不在您的辖区内")))
                }
            }
        }
    }

    /// `PERMISSION_DENIED` for a write out of scope.
    pub fn check_write(
        &self,
        jurisdiction_code: &str,
        uscc: &str,
        what: &str,
    ) -> Result<(), Error> {
        if self.covers(jurisdiction_code, uscc) {
            Ok(())
        } else {
            Err(
                Error::PermissionDenied(format!("{what} is outside your jurisdiction"))
                    .zh("该事项不在您的辖区内，不能办理"),
            )
        }
    }
}

/// The department a write is recorded for, where the method declares
/// `ATTRIBUTION_DEPARTMENT`: a handler acts for its token's department only
/// (and needs one); a coordinator, leader, admin or system acts for any
/// department within its jurisdictions. `given` is the request's
/// `department_id`; empty means the caller's own (none for an office).
pub fn acting_department(
    principal: &Principal,
    scope: &Scope,
    given: &str,
) -> Result<Option<String>, Error> {
    let given = given.trim();
    let own = principal
        .department
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    let for_jurisdiction =
        principal.has_any(&[Role::Coordinator, Role::Leader, Role::Admin, Role::Service]);
    if given.is_empty() {
        return match (own, for_jurisdiction) {
            (Some(own), _) => Ok(Some(own.to_owned())),
            (None, true) => Ok(None),
            (None, false) => Err(Error::PermissionDenied(
                "令牌未指明所属部门，不能以部门名义办理（department_id: your token names no department）"
                    .into(),
            )),
        };
    }
    if for_jurisdiction {
        let covered =
            crate::ids::jurisdiction_of(given).is_some_and(|code| scope.covers_jurisdiction(code));
        return if covered {
            Ok(Some(given.to_owned()))
        } else {
            Err(Error::PermissionDenied(format!(
                "部门 {given} 不在您的辖区（department_id: {given} is outside your jurisdiction）"
            )))
        };
    }
    match own {
        Some(own) if own == given => Ok(Some(own.to_owned())),
        Some(own) => Err(Error::PermissionDenied(format!(
            "您只能以本部门 {own} 的名义办理，不能代表 {given}（department_id: a handler acts for its own department only）"
        ))),
        None => Err(Error::PermissionDenied(
            "令牌未指明所属部门，不能以部门名义办理（department_id: your token names no department）"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[Role], jurisdiction: Option<&str>, uscc: Option<&str>) -> Principal {
        Principal {
            sub: "someone".into(),
            roles: roles.to_vec(),
            jurisdiction: jurisdiction.map(Into::into),
            department: None,
            uscc: uscc.map(Into::into),
            name: None,
            expires_at: i64::MAX,
        }
    }

    #[test]
    fn a_county_sees_itself_and_the_city_sees_every_county() {
        let directory = Directory::guangyuan();
        let county = Scope::of(
            &principal(&[Role::Coordinator], Some("510821"), None),
            &directory,
        );
        assert!(county.covers("510821", "x"));
        assert!(!county.covers("510822", "x"));
        let city = Scope::of(
            &principal(&[Role::Coordinator], Some("510800"), None),
            &directory,
        );
        for code in [
            "510800", "510802", "510811", "510812", "510821", "510822", "510823", "510824",
        ] {
            assert!(city.covers(code, "x"), "{code}");
        }
    }

    #[test]
    fn an_enterprise_sees_only_its_own_credit_code() {
        let directory = Directory::guangyuan();
        let scope = Scope::of(
            &principal(
                &[Role::Enterprise],
                Some("510821"),
                Some("91350200776049653A"),
            ),
            &directory,
        );
        assert!(scope.covers("510821", "91350200776049653A"));
        assert!(!scope.covers("510821", "91440101MA5CJQ4N59"));
        assert!(!scope.covers_jurisdiction("510821"));
    }

    #[test]
    fn an_unknown_jurisdiction_sees_nothing() {
        let scope = Scope::of(
            &principal(&[Role::Coordinator], Some("999999"), None),
            &Directory::guangyuan(),
        );
        assert_eq!(scope, Scope::Nothing);
        assert!(scope.check_read("510821", "x", "appeal").is_err());
    }
}
