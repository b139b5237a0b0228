//! Personal data by role (个人信息): a contact's name and phone are shown in
//! full only to those handling the matter — the enterprise itself, the
//! business-environment office (coordinators) of its jurisdictions, the
//! handlers of the department it is assigned to, and systems; masked
//! (张**, 139****5678) for leaders, supervisors, administrators and other
//! departments; never given to third-party evaluators. One rule, applied
//! wherever an appeal or a case leaves a service.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Months};
use sqlx::Row;

use crate::auth::{Principal, Role};
use crate::clock::beijing;
use crate::error::Error;
use crate::shutdown::Shutdown;
use crate::storage::{Statement, Store};

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

/// How long personal data is kept (个人信息保存期限, 个人信息保护法 art. 19:
/// no longer than its purpose needs), and how often the services look for
/// what has outlived it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Years from the moment a service counts from; 0 keeps it.
    pub years: u32,
    /// How often a service erases what is due.
    pub every: Duration,
}

impl Retention {
    pub const DEFAULT_YEARS: u32 = 3;

    /// `years` as configured (`personal_data_years`), the default when unset.
    pub fn configured(years: Option<u32>) -> Retention {
        Retention {
            years: years.unwrap_or(Retention::DEFAULT_YEARS),
            ..Retention::default()
        }
    }

    /// The moment (microseconds since the epoch) before which what a service
    /// counts from is due at `now`: the same date and time `years` years
    /// earlier in China time (29 February falls back to the 28th); `None`
    /// when nothing is ever due.
    pub fn cutoff(&self, now: i64) -> Option<i64> {
        if self.years == 0 {
            return None;
        }
        let now = DateTime::from_timestamp_micros(now)?.with_timezone(&beijing());
        let cutoff = now.checked_sub_months(Months::new(self.years.checked_mul(12)?))?;
        Some(cutoff.timestamp_micros())
    }
}

/// Runs `pass` (one erasure of what is due, returning how many records it
/// erased) at once and then every `retention.every`, until `shutdown`; a
/// failed pass is logged and tried again at the next. Nothing runs when the
/// data is kept for good.
pub async fn keep_erasing<F, Fut>(part: &str, retention: Retention, shutdown: Shutdown, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, Error>>,
{
    if retention.years == 0 {
        return;
    }
    let mut interval = tokio::time::interval(retention.every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            _ = interval.tick() => {}
        }
        match pass().await {
            Ok(0) => {}
            Ok(erased) => tracing::info!(
                part,
                erased,
                years = retention.years,
                "已按保存期限删除联系人信息（contacts past their retention period erased）"
            ),
            Err(error) => tracing::warn!(
                part,
                %error,
                "删除到期联系人信息失败，下次再试（erasing contacts past their retention period failed; trying again at the next interval）"
            ),
        }
    }
}

/// Erases the personal data of the records `due` selects (a page of their
/// ids, oldest first, each an event log subject), a page per transaction
/// until none is left: `erase` (an `UPDATE` taking the time as `$1` and the
/// id as `$2`) on each record, and the personal fields of every event about
/// it. How many records.
pub async fn erase_due(
    store: &Store,
    due: &Statement,
    erase: &str,
    now: i64,
) -> Result<u64, Error> {
    let mut erased = 0;
    loop {
        let mut tx = store.begin_write().await?;
        let ids: Vec<String> = due
            .query()
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(erased);
        }
        for id in &ids {
            sqlx::query(sqlx::AssertSqlSafe(erase.to_owned()))
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            crate::events::erase_personal_data(&mut tx, id).await?;
        }
        tx.commit().await?;
        erased += ids.len() as u64;
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            years: Retention::DEFAULT_YEARS,
            every: Duration::from_secs(3600),
        }
    }
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

    #[test]
    fn retention_counts_calendar_years_in_china_time() {
        use chrono::TimeZone;
        let at = |y, m, d| {
            beijing()
                .with_ymd_and_hms(y, m, d, 9, 30, 0)
                .unwrap()
                .timestamp_micros()
        };
        let three = Retention::configured(None);
        assert_eq!(three.years, 3);
        assert_eq!(three.cutoff(at(2026, 12, 5)), Some(at(2023, 12, 5)));
        assert_eq!(three.cutoff(at(2028, 2, 29)), Some(at(2025, 2, 28)));
        assert_eq!(Retention::configured(Some(0)).cutoff(at(2026, 12, 5)), None);
    }
}
