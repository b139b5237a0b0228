//! Personal data by role (个人信息): a contact's name and phone are shown in
//! full only to those handling the matter — the enterprise itself, the
//! business-environment office (coordinators) of its jurisdictions, the
//! handlers of the department it is assigned to, and systems; masked
//! (张**, 139****5678) for leaders, supervisors, administrators and other
//! departments; never given to third-party evaluators. One rule, applied
//! wherever an appeal or a case leaves a service.

use crate::auth::{Principal, Role};

/// How much of a contact a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sight {
    /// Nothing (third parties).
    None,
    /// Masked: enough to recognise, not to reach.
    Masked,
    /// In full: those handling the matter.
    Full,
}

/// What `principal` may see of the contact of a matter of enterprise `uscc`,
/// assigned to `department_id` (empty when none yet).
pub fn sight(principal: &Principal, uscc: &str, department_id: &str) -> Sight {
    principal
        .roles
        .iter()
        .map(|role| match role {
            Role::Service | Role::Coordinator => Sight::Full,
            Role::Enterprise if principal.uscc.as_deref() == Some(uscc) => Sight::Full,
            Role::Handler
                if !department_id.is_empty()
                    && principal.department.as_deref() == Some(department_id) =>
            {
                Sight::Full
            }
            Role::Evaluator | Role::Enterprise => Sight::None,
            Role::Handler | Role::Leader | Role::Supervisor | Role::Admin => Sight::Masked,
        })
        .max()
        .unwrap_or(Sight::None)
}

/// `(name, phone)` as `sight` allows.
pub fn contact(name: &str, phone: &str, sight: Sight) -> (String, String) {
    match sight {
        Sight::Full => (name.to_owned(), phone.to_owned()),
        Sight::Masked => (mask_name(name), mask_phone(phone)),
        Sight::None => (String::new(), String::new()),
    }
}

/// The first character, then `*` for each of the others: 张三 → 张*.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// The first three and last four characters, `*` between: 13912345678 →
/// 139****5678; a number too short to keep both is masked whole.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.trim().chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let hidden = chars.len() - 7;
    chars[..3]
        .iter()
        .copied()
        .chain(std::iter::repeat_n('*', hidden))
        .chain(chars[chars.len() - 4..].iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[Role], department: Option<&str>, uscc: Option<&str>) -> Principal {
        Principal {
            sub: "someone".into(),
            roles: roles.to_vec(),
            jurisdiction: Some("510821".into()),
            department: department.map(str::to_owned),
            uscc: uscc.map(str::to_owned),
            name: None,
            expires_at: 0,
        }
    }

    #[test]
    fn phones_and_names_are_masked_as_people_expect() {
        assert_eq!(mask_phone("13912345678"), "139****5678");
        assert_eq!(mask_phone("0839-3266666"), "083*****6666");
        assert_eq!(mask_phone("12345"), "*****");
        assert_eq!(mask_name("甄矩阵"), "甄**");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name(""), "");
    }

    #[test]
    fn only_those_handling_the_matter_see_the_contact_in_full() {
        let uscc = "91350200776049653A";
        let sees = |p: &Principal| sight(p, uscc, "510821-jrj");
        assert_eq!(
            sees(&principal(&[Role::Coordinator], None, None)),
            Sight::Full
        );
        assert_eq!(sees(&principal(&[Role::Service], None, None)), Sight::Full);
        assert_eq!(
            sees(&principal(&[Role::Enterprise], None, Some(uscc))),
            Sight::Full
        );
        assert_eq!(
            sees(&principal(&[Role::Handler], Some("510821-jrj"), None)),
            Sight::Full
        );
        assert_eq!(
            sees(&principal(&[Role::Handler], Some("510821-scjg"), None)),
            Sight::Masked
        );
        assert_eq!(sees(&principal(&[Role::Leader], None, None)), Sight::Masked);
        assert_eq!(sees(&principal(&[Role::Admin], None, None)), Sight::Masked);
        assert_eq!(
            sees(&principal(&[Role::Evaluator], None, None)),
            Sight::None
        );
        assert_eq!(
            sees(&principal(&[Role::Evaluator, Role::Leader], None, None)),
            Sight::Masked
        );
        assert_eq!(
            sight(
                &principal(&[Role::Handler], Some("510821-jrj"), None),
                uscc,
                ""
            ),
            Sight::Masked
        );
    }
}
