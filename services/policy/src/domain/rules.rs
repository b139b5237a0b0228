//! What each state of a policy version allows, the consultation period, and
//! which enterprises a published policy applies to.

use chrono::{DateTime, NaiveDate, TimeZone};
use zhengqi_shared::clock::beijing;
use zhengqi_shared::reference::Calendar;
use zhengqi_shared::{Error, Why};

use super::{Applicability, Draft, Enterprise, Policy, PolicyKind, PolicyState};

/// Working days a consultation lasts at the least (normative documents).
pub const MIN_CONSULTATION_WORKING_DAYS: u32 = 7;
/// Days a consultation lasts at the least when the draft closely concerns
/// enterprises (与企业切身利益密切相关).
pub const MIN_CONSULTATION_DAYS_CLOSE_CONCERN: u64 = 30;
/// Days a consultation may last at the most: a draft is not left open for years.
pub const MAX_CONSULTATION_DAYS: i64 = 366;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The Beijing date of an instant (microseconds since the epoch).
pub fn local_date(micros: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp_micros(micros).map(|t| t.with_timezone(&beijing()).date_naive())
}

/// The first instant of a Beijing date.
fn start_of(date: NaiveDate) -> Option<i64> {
    beijing()
        .from_local_datetime(&date.and_hms_opt(0, 0, 0)?)
        .single()
        .map(|t| t.timestamp_micros())
}

/// The earliest close time of a consultation opened at `now`: the start of
/// the 7th working day after the opening day, or of the 30th day when the draft closely
/// concerns enterprises (征求意见期限). Working days in a year whose calendar
/// is not loaded count on weekends only (暂定) rather than refuse the draft.
pub fn earliest_close(now: i64, closely_concerns: bool, calendar: &Calendar) -> Result<i64, Error> {
    let today = local_date(now).ok_or_else(|| Error::internal("the clock is out of range"))?;
    if closely_concerns {
        // Counted in whole days, as the working days are.
        let last = today
            .checked_add_days(chrono::Days::new(MIN_CONSULTATION_DAYS_CLOSE_CONCERN))
            .ok_or_else(|| Error::internal("the clock is out of range"))?;
        return start_of(last).ok_or_else(|| Error::internal("a date out of range"));
    }
    let last = calendar
        .add_working_days_provisional(today, MIN_CONSULTATION_WORKING_DAYS)
        .value;
    start_of(last).ok_or_else(|| Error::internal("a calendar date out of range"))
}

fn format_time(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .map(|t| {
            t.with_timezone(&beijing())
                .format("%Y-%m-%d %H:%M %:z")
                .to_string()
        })
        .unwrap_or_else(|| micros.to_string())
}

/// A time as a Chinese page writes it, in Beijing time.
fn format_time_zh(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .map(|t| {
            t.with_timezone(&beijing())
                .format("%Y年%-m月%-d日 %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| micros.to_string())
}

/// The version's state does not allow `action` (in English and Chinese).
fn wrong_state(policy: &Policy, action: &str, action_zh: &str) -> Error {
    Error::FailedPrecondition(format!(
        "policy {} version {} is {}; {action}",
        policy.id, policy.version, policy.state
    ))
    .zh(format!(
        "{}第{}版当前状态为“{}”，{action_zh}",
        policy.named(),
        policy.version,
        policy.state.zh()
    ))
}

/// A version may be changed only while it is a draft.
pub fn check_update(policy: &Policy) -> Result<(), Error> {
    match policy.state {
        PolicyState::Draft => Ok(()),
        _ => Err(wrong_state(
            policy,
            "only a DRAFT can be changed",
            "只有草案可以修改",
        )),
    }
}

/// Opens consultation on a draft until `close_time`, which must leave the
/// legal minimum period (a `close_time` field violation otherwise).
pub fn open_consultation(
    policy: &mut Policy,
    close_time: i64,
    now: i64,
    calendar: &Calendar,
) -> Result<(), Error> {
    if policy.state != PolicyState::Draft {
        return Err(wrong_state(
            policy,
            "only a DRAFT can be opened for consultation",
            "只有草案可以公开征求意见",
        ));
    }
    let closely = policy.draft.closely_concerns_enterprises;
    let earliest = earliest_close(now, closely, calendar)?;
    if close_time < earliest {
        let (rule, rule_zh) = if closely {
            (
                format!(
                    "a draft that closely concerns enterprises is open for at least {MIN_CONSULTATION_DAYS_CLOSE_CONCERN} days"
                ),
                format!(
                    "与企业切身利益密切相关的草案，征求意见期不少于{MIN_CONSULTATION_DAYS_CLOSE_CONCERN}日"
                ),
            )
        } else {
            (
                format!(
                    "consultation lasts at least {MIN_CONSULTATION_WORKING_DAYS} working days on the official calendar"
                ),
                format!(
                    "征求意见期不少于{MIN_CONSULTATION_WORKING_DAYS}个工作日（以法定工作日历为准）"
                ),
            )
        };
        return Err(Error::invalid(
            "close_time",
            Why::new(
                format!("{rule}: close no earlier than {}", format_time(earliest)),
                format!("{rule_zh}，截止时间不得早于{}", format_time_zh(earliest)),
            ),
        ));
    }
    if close_time > now.saturating_add(MAX_CONSULTATION_DAYS * MICROS_PER_DAY) {
        return Err(Error::invalid(
            "close_time",
            Why::new(
                format!("a consultation closes within {MAX_CONSULTATION_DAYS} days"),
                format!("征求意见期不得超过{MAX_CONSULTATION_DAYS}日"),
            ),
        ));
    }
    policy.state = PolicyState::Consultation;
    policy.consultation_open_time = Some(now);
    policy.consultation_close_time = Some(close_time);
    Ok(())
}

/// Comments are taken while consultation is open, before its close time.
pub fn check_comment(policy: &Policy, article: &str, now: i64) -> Result<(), Error> {
    if policy.state != PolicyState::Consultation {
        return Err(wrong_state(
            policy,
            "comments are taken only during consultation",
            "仅在征求意见期间接受意见",
        ));
    }
    if let Some(close) = policy.consultation_close_time
        && now >= close
    {
        return Err(Error::FailedPrecondition(format!(
            "consultation on policy {} closed at {}",
            policy.id,
            format_time(close)
        ))
        .zh(format!(
            "{}的意见征集已于{}截止",
            policy.named(),
            format_time_zh(close)
        )));
    }
    if !article.is_empty() && !policy.draft.articles.iter().any(|a| a.number == article) {
        return Err(Error::invalid(
            "article",
            Why::new(
                format!("policy {} has no article {article:?}", policy.id),
                format!("{}中没有编号为“{article}”的条款", policy.named()),
            ),
        ));
    }
    Ok(())
}

/// Comments are answered while their version is under consultation (before
/// publication, also after the close time).
pub fn check_respond(policy: &Policy) -> Result<(), Error> {
    match policy.state {
        PolicyState::Consultation => Ok(()),
        _ => Err(wrong_state(
            policy,
            "comments are answered while the version is under consultation",
            "仅在征求意见阶段答复意见",
        )),
    }
}

/// Publishes a version: after its consultation has closed with every comment
/// answered; a conduct list (亲清清单) may also be published from DRAFT.
pub fn publish(policy: &mut Policy, now: i64) -> Result<(), Error> {
    match policy.state {
        PolicyState::Consultation => {
            if let Some(close) = policy.consultation_close_time
                && now < close
            {
                return Err(Error::FailedPrecondition(format!(
                    "consultation on policy {} is open until {}; publish after it closes",
                    policy.id,
                    format_time(close)
                ))
                .zh(format!(
                    "{}的意见征集至{}截止，请截止后再发布",
                    policy.named(),
                    format_time_zh(close)
                )));
            }
            if policy.unanswered_comment_count > 0 {
                return Err(Error::FailedPrecondition(format!(
                    "{} comment(s) on policy {} version {} have no response; answer every comment before publishing",
                    policy.unanswered_comment_count, policy.id, policy.version
                ))
                .zh(format!(
                    "{}第{}版尚有{}条意见未答复，请全部答复后再发布",
                    policy.named(),
                    policy.version,
                    policy.unanswered_comment_count
                )));
            }
        }
        PolicyState::Draft if policy.draft.kind == PolicyKind::ConductList => {}
        PolicyState::Draft => {
            return Err(wrong_state(
                policy,
                "an enterprise-related policy is published after public consultation",
                "涉企政策须经公开征求意见后方可发布",
            ));
        }
        _ => {
            return Err(wrong_state(policy, "it cannot be published", "不能发布"));
        }
    }
    policy.state = PolicyState::Published;
    policy.publish_time = Some(now);
    Ok(())
}

/// The new DRAFT version of an amendment, copied from the published one,
/// which stays in force until the new version is published.
pub fn amend(published: &Policy, reason: &str, actor: &str, now: i64) -> Result<Policy, Error> {
    if published.state != PolicyState::Published {
        return Err(wrong_state(
            published,
            "only a PUBLISHED version can be amended",
            "只有已发布的版本可以修订",
        ));
    }
    let version = published.version.checked_add(1).ok_or_else(|| {
        Error::FailedPrecondition("the policy has too many versions".into())
            .zh(format!("{}的版本数已达上限，不能再修订", published.named()))
    })?;
    Ok(Policy::new_draft(
        published.id.clone(),
        version,
        published.jurisdiction_code.clone(),
        Draft {
            effective_time: None,
            ..published.draft.clone()
        },
        reason.to_owned(),
        actor.to_owned(),
        now,
    ))
}

/// Repeals the published version (废止).
pub fn repeal(policy: &mut Policy, reason: &str, now: i64) -> Result<(), Error> {
    if policy.state != PolicyState::Published {
        return Err(wrong_state(
            policy,
            "only a PUBLISHED version can be repealed",
            "只有已发布的版本可以废止",
        ));
    }
    policy.state = PolicyState::Repealed;
    policy.repeal_time = Some(now);
    policy.repeal_reason = reason.to_owned();
    Ok(())
}

/// Whether the applicability lists (apart from jurisdictions, which the
/// caller resolves against the directory) match an enterprise.
pub fn matches(applicability: &Applicability, area: &[String], enterprise: &Enterprise) -> bool {
    let in_area = area.contains(&enterprise.jurisdiction_code);
    let industry = applicability.industries.is_empty()
        || applicability
            .industries
            .iter()
            .any(|i| i.trim().eq_ignore_ascii_case(enterprise.industry.trim()));
    let size = applicability.sizes.is_empty() || applicability.sizes.contains(&enterprise.size);
    let tag = applicability.tags.is_empty()
        || applicability
            .tags
            .iter()
            .any(|t| enterprise.tags.contains(t));
    in_area && industry && size && tag
}

/// The jurisdictions a policy applies in: its listed jurisdictions, or the
/// issuing one, each with every jurisdiction below it (`below`).
pub fn area(
    issuing: &str,
    applicability: &Applicability,
    below: impl Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let roots: Vec<&str> = if applicability.jurisdiction_codes.is_empty() {
        vec![issuing]
    } else {
        applicability
            .jurisdiction_codes
            .iter()
            .map(String::as_str)
            .collect()
    };
    let mut codes: Vec<String> = roots.into_iter().flat_map(below).collect();
    codes.sort();
    codes.dedup();
    codes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(kind: PolicyKind, state: PolicyState) -> Policy {
        let draft = Draft {
            kind,
            title: "t".into(),
            document_number: String::new(),
            department_id: String::new(),
            summary: String::new(),
            articles: vec![super::super::Article {
                number: "3".into(),
                title: String::new(),
                text: "x".into(),
            }],
            applicability: Applicability::default(),
            effective_time: None,
            expire_time: None,
            closely_concerns_enterprises: false,
        };
        Policy {
            state,
            ..Policy::new_draft(
                "510800-X".into(),
                1,
                "510800".into(),
                draft,
                String::new(),
                "a".into(),
                0,
            )
        }
    }

    fn at(y: i32, m: u32, d: u32, h: u32) -> i64 {
        beijing()
            .with_ymd_and_hms(y, m, d, h, 0, 0)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn consultation_needs_seven_working_days_on_the_official_calendar() {
        let calendar = Calendar::official();
        // Friday 2026-09-18: the 7 working days skip the weekend, count the
        // make-up Sunday 2026-09-20 and skip the Mid-Autumn holiday 09-25…27.
        let now = at(2026, 9, 18, 10);
        let earliest = earliest_close(now, false, &calendar).unwrap();
        assert_eq!(local_date(earliest), NaiveDate::from_ymd_opt(2026, 9, 29));
        let mut draft = policy(PolicyKind::Policy, PolicyState::Draft);
        let error = open_consultation(&mut draft, at(2026, 9, 28, 18), now, &calendar).unwrap_err();
        assert!(matches!(&error, Error::InvalidArgument(v) if v[0].field == "close_time"));
        open_consultation(&mut draft, at(2026, 9, 29, 9), now, &calendar).unwrap();
        assert_eq!(draft.state, PolicyState::Consultation);
    }

    #[test]
    fn a_consultation_running_into_a_year_not_loaded_is_counted_on_weekends_only() {
        let calendar = Calendar::official();
        // Monday 2026-12-28: 12-29..12-31, then 2027 (not loaded) on weekends
        // only: 01-01, 01-04, 01-05, 01-06.
        let now = at(2026, 12, 28, 10);
        let earliest = earliest_close(now, false, &calendar).expect("no refusal");
        assert_eq!(local_date(earliest), NaiveDate::from_ymd_opt(2027, 1, 6));
        let mut draft = policy(PolicyKind::Policy, PolicyState::Draft);
        open_consultation(&mut draft, at(2027, 1, 6, 9), now, &calendar).unwrap();
        // Once a 2027 with 01-01 off is loaded, it is one working day later.
        let loaded = calendar
            .with_year_toml("year = 2027\n[[holiday]]\nname = \"元旦\"\nfirst = 2027-01-01\nlast = 2027-01-01\n")
            .unwrap();
        let earliest = earliest_close(now, false, &loaded).unwrap();
        assert_eq!(local_date(earliest), NaiveDate::from_ymd_opt(2027, 1, 7));
    }

    #[test]
    fn a_draft_closely_concerning_enterprises_needs_thirty_days() {
        let calendar = Calendar::official();
        let now = at(2026, 3, 2, 10);
        let mut draft = policy(PolicyKind::Policy, PolicyState::Draft);
        draft.draft.closely_concerns_enterprises = true;
        assert!(open_consultation(&mut draft, at(2026, 3, 20, 10), now, &calendar).is_err());
        assert!(open_consultation(&mut draft, at(2027, 4, 1, 10), now, &calendar).is_err());
        open_consultation(&mut draft, at(2026, 4, 1, 10), now, &calendar).unwrap();
    }

    #[test]
    fn comments_close_with_the_consultation_and_name_real_articles() {
        let mut p = policy(PolicyKind::Policy, PolicyState::Consultation);
        p.consultation_close_time = Some(100);
        assert!(check_comment(&p, "3", 50).is_ok());
        assert!(matches!(
            check_comment(&p, "9", 50),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            check_comment(&p, "", 100)
                .as_ref()
                .map_err(Error::unlocalized),
            Err(Error::FailedPrecondition(_))
        ));
    }

    #[test]
    fn publication_waits_for_the_close_and_every_answer() {
        let mut p = policy(PolicyKind::Policy, PolicyState::Consultation);
        p.consultation_close_time = Some(100);
        assert!(publish(&mut p, 50).is_err());
        p.unanswered_comment_count = 1;
        assert!(publish(&mut p, 150).is_err());
        p.unanswered_comment_count = 0;
        publish(&mut p, 150).unwrap();
        assert_eq!(p.state, PolicyState::Published);
        let mut draft = policy(PolicyKind::Policy, PolicyState::Draft);
        assert!(publish(&mut draft, 1).is_err());
        let mut list = policy(PolicyKind::ConductList, PolicyState::Draft);
        publish(&mut list, 1).unwrap();
    }

    #[test]
    fn an_amendment_is_the_next_version_as_a_draft() {
        let published = policy(PolicyKind::Policy, PolicyState::Published);
        let next = amend(&published, "why", "me", 5).unwrap();
        assert_eq!((next.version, next.state), (2, PolicyState::Draft));
        assert!(amend(&next, "why", "me", 5).is_err());
    }

    #[test]
    fn applicability_matches_area_industry_size_and_tags() {
        let enterprise = Enterprise {
            uscc: "u".into(),
            name: "n".into(),
            jurisdiction_code: "510821".into(),
            industry: "制造业".into(),
            size: "SMALL".into(),
            tags: vec!["INDUSTRIAL".into()],
        };
        let area = vec!["510821".to_owned()];
        assert!(matches(&Applicability::default(), &area, &enterprise));
        let only = Applicability {
            industries: vec!["制造业".into()],
            tags: vec!["PRIVATE".into(), "INDUSTRIAL".into()],
            sizes: vec!["SMALL".into()],
            ..Default::default()
        };
        assert!(matches(&only, &area, &enterprise));
        let other = Applicability {
            industries: vec!["餐饮业".into()],
            ..Default::default()
        };
        assert!(!matches(&other, &area, &enterprise));
        assert!(!matches(&only, &["510822".to_owned()], &enterprise));
    }
}
