//! The tonic implementation of `zhengqi.evaluation.v1.EvaluationService`:
//! proto in, proto out; the rules are in `domain`, the data in `store`.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
use zhengqi_proto::zhengqi::evaluation::v1 as pb;
use zhengqi_proto::zhengqi::evaluation::v1::evaluation_service_server::EvaluationService;
use zhengqi_shared::access::{self, Scope};
use zhengqi_shared::auth::{Principal, Role};
use zhengqi_shared::events::{self, EventStream};
use zhengqi_shared::ids::{self, PageToken};
use zhengqi_shared::reference::Uscc;
use zhengqi_shared::{Error, Violations};

use crate::Core;
use crate::convert;
use crate::domain::rectification::{self, Step};
use crate::domain::review::{self, Reviewer};
use crate::domain::{
    Assessment, Campaign, CampaignAnswer, CampaignResponse, CaseReopen, CreditListing, Direction,
    Rating, Rectification, RectificationState, Review, ReviewState, ServiceRecord, Suspension,
    SuspensionState, TEXT_MAX_CHARS, TITLE_MAX_CHARS, TargetKind, Violation, campaign, check_text,
    credit, period,
};
use crate::store::{self, CampaignFilter, RectificationFilter, ReviewFilter, ServiceRecordFilter};

/// Longest idempotency key.
const REQUEST_ID_MAX: usize = 128;
/// Longest id of a record (longer cannot be one of ours).
const ID_MAX: usize = 200;
/// Most items of a campaign and most enterprises invited by name.
const CAMPAIGN_ITEMS_MAX: usize = 100;
const CAMPAIGN_INVITEES_MAX: usize = 5_000;
/// Most aspects rated in one review.
const DIMENSIONS_MAX: usize = 20;
/// How far ahead of the clock an occurrence time may be (clock skew).
const FUTURE_TOLERANCE_MICROS: i64 = 5 * 60 * 1_000_000;

pub struct EvaluationApi {
    core: Arc<Core>,
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn check_request_id(violations: &mut Violations, request_id: &str) {
    if request_id.chars().count() > REQUEST_ID_MAX {
        violations.add(
            "request_id",
            format!("must be at most {REQUEST_ID_MAX} characters"),
        );
    }
}

fn text(violations: &mut Violations, field: &str, value: &str, required: bool, max: usize) {
    if let Err(why) = check_text(value, required, max) {
        violations.add(field, why);
    }
}

fn required_id(violations: &mut Violations, field: &str, value: &str) {
    if value.trim().is_empty() {
        violations.add(field, "must not be empty");
    } else if value.len() > ID_MAX {
        violations.add(field, "is not an id of this service");
    }
}

/// A time of a request, in range.
fn time(
    violations: &mut Violations,
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> Option<i64> {
    value.and_then(|t| violations.check(field, convert::micros(t)))
}

/// An enum filter: unspecified means none; an unknown number is refused.
fn enum_filter<T>(
    violations: &mut Violations,
    field: &str,
    value: i32,
    parse: impl Fn(i32) -> Option<T>,
) -> Option<T> {
    if value == 0 {
        return None;
    }
    let parsed = parse(value);
    if parsed.is_none() {
        violations.add(field, format!("{value} is not a known value"));
    }
    parsed
}

fn uscc(violations: &mut Violations, field: &str, value: &str) -> Option<String> {
    violations
        .check(field, Uscc::parse(value))
        .map(|u| u.as_str().to_owned())
}

/// Reviewers are protected (评价人信息严格保密): only the business-environment
/// office, administrators, systems and the enterprise itself see who reviewed
/// and the case that leads to them; the rated department sees the rating and
/// the words, and a bad review as the rectification its coordinator assigns.
fn protects_reviewers(principal: &Principal, scope: &Scope) -> bool {
    !matches!(scope, Scope::Enterprise(_))
        && !principal.has_any(&[Role::Coordinator, Role::Admin, Role::Service])
}

impl EvaluationApi {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    fn scope(&self, principal: &Principal) -> Scope {
        Scope::of(principal, &self.core.directory)
    }

    fn known_jurisdiction(&self, text: &str) -> Result<String, String> {
        self.core
            .directory
            .parse_known(text.trim())
            .map(|code| code.as_str().to_owned())
            .map_err(|e| e.to_string())
    }

    /// A department of the directory: a jurisdiction it knows and a department
    /// every jurisdiction has (`departments.toml`); its jurisdiction. A made-up
    /// department never becomes a unit that is rated or scored.
    fn department(&self, id: &str) -> Result<String, String> {
        let jurisdiction = review::department_jurisdiction(id)
            .ok_or_else(|| format!("{id:?} is not a department id like 510821-jrj"))?;
        let key = &id[jurisdiction.len() + 1..];
        if !self.core.department_keys.iter().any(|k| k == key) {
            return Err(format!(
                "{id:?}: 目录中没有部门 {key:?}（no department {key:?} in the directory）"
            ));
        }
        self.known_jurisdiction(jurisdiction)
            .map_err(|e| format!("{id:?}: {e}"))
    }

    /// The caller's own jurisdiction, known to the directory; the city for a
    /// service caller without one.
    fn home_jurisdiction(&self, principal: &Principal, scope: &Scope) -> Result<String, Error> {
        match principal
            .jurisdiction
            .as_deref()
            .and_then(|j| self.known_jurisdiction(j).ok())
        {
            Some(code) => Ok(code),
            None if *scope == Scope::Everything => Ok(self.core.city.clone()),
            None => Err(Error::PermissionDenied(
                "your token names no known jurisdiction".into(),
            )),
        }
    }

    /// The enforcing department of a request: the one given, else the
    /// caller's; a handler acts for its own department only, an office for
    /// departments of its jurisdictions (`access::acting_department`).
    fn enforcing_department(
        &self,
        violations: &mut Violations,
        principal: &Principal,
        scope: &Scope,
        given: &str,
    ) -> Result<Option<(String, String)>, Error> {
        Ok(match access::acting_department(principal, scope, given)? {
            None => {
                violations.add(
                    "department_id",
                    "must name the enforcing department (your token names none)",
                );
                None
            }
            Some(department) => violations
                .check("department_id", self.department(&department))
                .map(|jurisdiction| (department, jurisdiction)),
        })
    }

    /// Opens and stores the rectification a review needs (a bad review of a
    /// department or window), due in working days, and links the review to it.
    async fn open_rectification(
        &self,
        conn: &mut sqlx::AnyConnection,
        review: &mut Review,
        direction: Direction,
        rating: Rating,
        now: i64,
    ) -> Result<Option<Rectification>, Error> {
        if !review::opens_rectification(direction, rating) {
            return Ok(None);
        }
        let (due, due_provisional) = review::rectification_due_provisional(
            &self.core.calendar.current(),
            now,
            self.core.rectification_working_days,
        );
        let rectification = Rectification {
            id: ids::new_id(&review.jurisdiction_code),
            review_id: review.id.clone(),
            case_id: review.case_id.clone(),
            jurisdiction_code: review.jurisdiction_code.clone(),
            department_id: review.department_id.clone(),
            uscc: review.uscc.clone(),
            state: RectificationState::Verifying,
            rating,
            review_comment: review.comment.clone(),
            due_time: Some(due),
            due_provisional,
            due_working_days: self.core.rectification_working_days,
            valid: false,
            verification_note: String::new(),
            verified_by: String::new(),
            verify_time: None,
            rectification_text: String::new(),
            rectified_by: String::new(),
            rectify_time: None,
            return_visit_satisfied: false,
            return_visit_note: String::new(),
            visited_by: String::new(),
            visit_time: None,
            return_visit_count: 0,
            case_reopen: None,
            case_reopen_note: String::new(),
            version: 1,
            create_time: now,
            update_time: now,
        };
        review.rectification_id = rectification.id.clone();
        store::insert_rectification(conn, &rectification).await?;
        Ok(Some(rectification))
    }

    /// Commits a submitted review with its event, and with the opening of its
    /// rectification when it has one.
    /// An enterprise's review of a service window, for a visit or transaction
    /// the window registered for it (`service_record_id`): the record names
    /// the window, its department and the enterprise, so no review rates a
    /// unit the enterprise had no business with, a window never registered or
    /// a department not in the directory, and one record is rated once.
    async fn review_window(
        &self,
        principal: &Principal,
        scope: &Scope,
        request_id: &str,
        target_id: &str,
        service_record_id: &str,
        rated: Rated,
    ) -> Result<Review, Error> {
        let own = enterprise_uscc(scope)?;
        let now = self.core.clock.now();
        let mut tx = self.core.store.begin().await?;
        let Some(record) = store::get_service_record(&mut tx, service_record_id).await? else {
            return Err(Error::NotFound(format!(
                "服务记录 {service_record_id}（service record {service_record_id}）"
            )));
        };
        scope.check_write(
            &record.jurisdiction_code,
            &record.uscc,
            &format!("service record {service_record_id}"),
        )?;
        if record.uscc != own {
            return Err(Error::PermissionDenied(
                "该服务记录属于其他企业（the service record is another enterprise's）".into(),
            ));
        }
        // The window's own number for the matter, as the enterprise knows it.
        let (window, number) = (&record.window_id, &record.transaction_number);
        if !target_id.is_empty() && target_id != window {
            return Err(Error::invalid(
                "target_id",
                format!(
                    "办件 {number} 由窗口 {window} 办理，而非 {target_id}（transaction {number} was served by window {window}, not {target_id}）"
                ),
            ));
        }
        let id = ids::new_id(&record.jurisdiction_code);
        if let Some(first) = store::REQUESTS
            .claim(
                &mut tx,
                &principal.sub,
                request_id,
                "SubmitReview",
                &id,
                now,
            )
            .await?
        {
            return store::get_review(&mut tx, &first)
                .await?
                .ok_or_else(|| Error::NotFound(format!("review {first}")));
        }
        let already = || {
            Error::AlreadyExists(format!(
                "窗口 {window} 的办件 {number} 已评价，每次办件评价一次（transaction {number} of window {window} was rated already; one rating per matter）"
            ))
        };
        if !record.review_id.is_empty() {
            return Err(already());
        }
        let mut review = Review {
            id,
            direction: Direction::EnterpriseToWindow,
            target_kind: TargetKind::ServiceWindow,
            target_id: record.window_id.clone(),
            case_id: String::new(),
            rating: Some(rated.rating),
            comment: rated.comment,
            dimensions: rated.dimensions,
            state: ReviewState::Submitted,
            jurisdiction_code: record.jurisdiction_code.clone(),
            department_id: record.department_id.clone(),
            uscc: record.uscc.clone(),
            enterprise_name: record.enterprise_name.clone(),
            reviewer: principal.sub.clone(),
            rectification_id: String::new(),
            invite_time: None,
            submit_time: Some(now),
            create_time: now,
            service_record_id: record.id.clone(),
        };
        let rectification = self
            .open_rectification(
                &mut tx,
                &mut review,
                Direction::EnterpriseToWindow,
                rated.rating,
                now,
            )
            .await?;
        if !store::rate_service_record(&mut tx, &record.id, &review.id).await?
            || !store::insert_review(&mut tx, &review).await?
        {
            return Err(already());
        }
        self.commit_review(tx, &review, rectification.as_ref())
            .await?;
        Ok(review)
    }

    async fn commit_review(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
        review: &Review,
        rectification: Option<&Rectification>,
    ) -> Result<(), Error> {
        let events = self.core.store.events();
        let mut sequence = events
            .append(
                &mut tx,
                &review.id,
                &review.jurisdiction_code,
                &pb::ReviewSubmitted {
                    review: Some(convert::review_to_proto(review, false)),
                },
            )
            .await?;
        if let Some(r) = rectification {
            sequence = events
                .append(
                    &mut tx,
                    &r.id,
                    &r.jurisdiction_code,
                    &pb::RectificationOpened {
                        rectification: Some(convert::rectification_to_proto(r, false)),
                    },
                )
                .await?;
        }
        events.commit(tx, sequence).await
    }

    /// One step of a rectification by `principal`: scope, department, etag,
    /// idempotency, state, then the change and its `event` in one transaction.
    async fn rectification_step<E: zhengqi_proto::events::Logged>(
        &self,
        principal: &Principal,
        id: &str,
        etag: &str,
        request_id: &str,
        step: Step,
        event: impl FnOnce(Option<pb::Rectification>) -> E,
    ) -> Result<Rectification, Error> {
        let scope = self.scope(principal);
        let now = self.core.clock.now();
        let mut tx = self.core.store.begin().await?;
        let mut r = store::get_rectification(&mut tx, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("rectification {id}")))?;
        if !scope.covers_jurisdiction(&r.jurisdiction_code) {
            return Err(Error::PermissionDenied(format!(
                "rectification {id} is outside your jurisdiction"
            )));
        }
        let coordinator = principal.has_role(Role::Coordinator);
        if let Step::Rectify { .. } = step
            && !coordinator
            && principal.department.as_deref() != Some(r.department_id.as_str())
        {
            return Err(Error::PermissionDenied(format!(
                "only department {} or a coordinator records its rectification",
                r.department_id
            )));
        }
        let method = match step {
            Step::Verify { .. } => "VerifyBadReview",
            Step::Rectify { .. } => "SubmitRectification",
            Step::ReturnVisit { .. } => "RecordReturnVisit",
        };
        let actor = principal.sub.clone();
        if store::REQUESTS
            .claim(&mut tx, &actor, request_id, method, id, now)
            .await?
            .is_some()
        {
            return Ok(r);
        }
        if !etag.is_empty() && etag != r.etag() {
            return Err(Error::Aborted(format!(
                "rectification {id} changed since it was read (etag {etag} is now {}); read it again",
                r.etag()
            )));
        }
        let expected = r.version;
        rectification::apply(&mut r, step, &actor, now).map_err(Error::FailedPrecondition)?;
        store::update_rectification(&mut tx, &r, expected).await?;
        self.core
            .store
            .events()
            .append_and_commit(
                tx,
                &r.id,
                &r.jurisdiction_code,
                &event(Some(convert::rectification_to_proto(&r, false))),
            )
            .await?;
        if r.case_reopen == Some(CaseReopen::Pending) {
            self.core.reopen_wake.notify_one();
        }
        Ok(r)
    }

    /// Whether an enterprise may see a campaign: invited by name, or the
    /// campaign invites every enterprise of its jurisdiction and the
    /// enterprise's jurisdiction lies within it.
    async fn enterprise_invited(
        &self,
        conn: &mut sqlx::AnyConnection,
        principal: &Principal,
        campaign: &Campaign,
        uscc: &str,
    ) -> Result<bool, Error> {
        if campaign.invited_usccs.is_empty() {
            let home = principal.jurisdiction.as_deref().unwrap_or_default();
            return Ok(self
                .core
                .ancestry(home)
                .contains(&campaign.jurisdiction_code));
        }
        store::is_invited(conn, &campaign.id, uscc).await
    }
}

/// What a review names besides its target: a department's review the case
/// it rates, a window's the service record, the others neither.
fn check_subject(
    direction: Direction,
    case_id: &str,
    service_record_id: &str,
) -> Result<(), Error> {
    let mut v = Violations::new();
    let mut named = |field: &str, value: &str, needed: bool, of: [&str; 2], needed_why: &str| match (
        needed,
        value.is_empty(),
    ) {
        (true, true) => v.add(field, needed_why.to_owned()),
        (false, false) => v.add(
            field,
            format!(
                "只有对{}的评价才指明此项（only a review of {} names it）",
                of[0], of[1]
            ),
        ),
        (true, false) if value.len() > ID_MAX => v.add(field, "编号过长（is not an id）"),
        _ => {}
    };
    named(
        "case_id",
        case_id,
        review::needs_case(direction),
        ["案件承办部门", "a case's department"],
        "须指明被评价部门办结的案件（must name the resolved case whose department is rated）",
    );
    named(
        "service_record_id",
        service_record_id,
        direction == Direction::EnterpriseToWindow,
        ["服务窗口", "a service window"],
        "须指明窗口为贵企业登记的服务记录（办件）（must name the service record the window registered for your enterprise）",
    );
    v.finish()
}

/// A review's rating and words, checked.
struct Rated {
    rating: Rating,
    comment: String,
    dimensions: Vec<(String, Rating)>,
}

fn enterprise_uscc(scope: &Scope) -> Result<String, Error> {
    match scope {
        Scope::Enterprise(uscc) => Ok(Uscc::parse(uscc)
            .map(|u| u.as_str().to_owned())
            .unwrap_or_else(|_| uscc.clone())),
        _ => Err(Error::PermissionDenied(
            "your token names no enterprise (uscc)".into(),
        )),
    }
}

#[tonic::async_trait]
impl EvaluationService for EvaluationApi {
    async fn submit_review(
        &self,
        request: Request<pb::SubmitReviewRequest>,
    ) -> Result<Response<pb::Review>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        check_request_id(&mut v, &req.request_id);
        let target_kind = convert::target_kind(req.target_kind);
        if target_kind.is_none() {
            v.add(
                "target_kind",
                "must be DEPARTMENT, SERVICE_WINDOW, JURISDICTION or ENTERPRISE",
            );
        }
        let rating = convert::rating(req.rating);
        if rating.is_none() {
            v.add(
                "rating",
                "must be one of the five levels, VERY_DISSATISFIED to VERY_SATISFIED",
            );
        }
        let bad = rating.is_some_and(Rating::is_bad);
        if bad && req.comment.trim().is_empty() {
            v.add("comment", "a bad review must say what went wrong");
        } else {
            text(&mut v, "comment", &req.comment, false, TEXT_MAX_CHARS);
        }
        if req.dimensions.len() > DIMENSIONS_MAX {
            v.add("dimensions", format!("at most {DIMENSIONS_MAX} aspects"));
        }
        let mut dimensions = Vec::new();
        for (i, d) in req.dimensions.iter().enumerate().take(DIMENSIONS_MAX) {
            let key = d.dimension.trim();
            let key_ok = !key.is_empty()
                && key.len() <= 64
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !key_ok {
                v.add(
                    format!("dimensions[{i}].dimension"),
                    "must be 1 to 64 letters, digits, '_' or '-'",
                );
            } else if dimensions.iter().any(|(k, _): &(String, Rating)| k == key) {
                v.add(
                    format!("dimensions[{i}].dimension"),
                    format!("{key:?} is rated twice"),
                );
            }
            match convert::rating(d.rating) {
                Some(r) if key_ok => dimensions.push((key.to_owned(), r)),
                Some(_) => {}
                None => v.add(
                    format!("dimensions[{i}].rating"),
                    "must be one of the five levels",
                ),
            }
        }
        v.finish()?;
        let (Some(target_kind), Some(rating)) = (target_kind, rating) else {
            return Err(Error::internal("validated fields are missing").into());
        };
        let reviewer = Reviewer {
            is_enterprise: principal.has_role(Role::Enterprise),
            is_evaluator: principal.has_role(Role::Evaluator),
            is_official: principal.has_any(&[Role::Handler, Role::Coordinator]),
        };
        let direction =
            review::direction(reviewer, target_kind).map_err(Error::PermissionDenied)?;
        let now = self.core.clock.now();
        let target_id = req.target_id.trim().to_owned();
        let case_id = req.case_id.trim().to_owned();
        let service_record_id = req.service_record_id.trim().to_owned();
        check_subject(direction, &case_id, &service_record_id)?;
        let core = &self.core;

        if review::needs_case(direction) {
            let own = enterprise_uscc(&scope)?;
            let mut tx = core.store.begin().await?;
            let Some(mut review) = store::review_of_case(&mut tx, &case_id).await? else {
                return Err(Error::FailedPrecondition(format!(
                    "case {case_id} is not known as resolved yet; it can be rated once resolved"
                ))
                .into());
            };
            scope.check_write(
                &review.jurisdiction_code,
                &review.uscc,
                &format!("case {case_id}"),
            )?;
            if review.uscc != own {
                return Err(Error::PermissionDenied(format!(
                    "case {case_id} is another enterprise's"
                ))
                .into());
            }
            if store::REQUESTS
                .claim(
                    &mut tx,
                    &principal.sub,
                    &req.request_id,
                    "SubmitReview",
                    &review.id,
                    now,
                )
                .await?
                .is_some()
            {
                return Ok(Response::new(convert::review_to_proto(&review, false)));
            }
            if review.state == ReviewState::Submitted {
                return Err(Error::AlreadyExists(format!(
                    "case {case_id} was rated already (review {}); one rating per matter",
                    review.id
                ))
                .into());
            }
            if !target_id.is_empty() && target_id != review.department_id {
                return Err(Error::invalid(
                    "target_id",
                    format!(
                        "case {case_id} was handled by {}, not {target_id}",
                        review.department_id
                    ),
                )
                .into());
            }
            review.rating = Some(rating);
            review.comment = req.comment.trim().to_owned();
            review.dimensions = dimensions;
            review.state = ReviewState::Submitted;
            review.reviewer = principal.sub.clone();
            review.submit_time = Some(now);
            let rectification = self
                .open_rectification(&mut tx, &mut review, direction, rating, now)
                .await?;
            if !store::rate_invitation(&mut tx, &review).await? {
                return Err(
                    Error::AlreadyExists(format!("case {case_id} was rated already")).into(),
                );
            }
            self.commit_review(tx, &review, rectification.as_ref())
                .await?;
            return Ok(Response::new(convert::review_to_proto(&review, false)));
        }

        if direction == Direction::EnterpriseToWindow {
            let rated = Rated {
                rating,
                comment: req.comment.trim().to_owned(),
                dimensions,
            };
            let review = self
                .review_window(
                    &principal,
                    &scope,
                    &req.request_id,
                    &target_id,
                    &service_record_id,
                    rated,
                )
                .await?;
            return Ok(Response::new(convert::review_to_proto(&review, false)));
        }

        // Reviews of a jurisdiction's communication and of enterprises.
        let mut v = Violations::new();
        let (jurisdiction_code, department_id, uscc) = match direction {
            Direction::ThirdPartyToCommunication => {
                match v.check("target_id", self.known_jurisdiction(&target_id)) {
                    Some(code) => {
                        if !scope.covers_jurisdiction(&code) {
                            return Err(Error::PermissionDenied(format!(
                                "jurisdiction {code} is outside your jurisdiction"
                            ))
                            .into());
                        }
                        (code, String::new(), String::new())
                    }
                    None => (String::new(), String::new(), String::new()),
                }
            }
            Direction::GovernmentToEnterprise => {
                let rated = uscc(&mut v, "target_id", &target_id).unwrap_or_default();
                let home = self.home_jurisdiction(&principal, &scope)?;
                let department = principal.department.clone().unwrap_or_default();
                (home, department, rated)
            }
            Direction::EnterpriseToDepartment | Direction::EnterpriseToWindow => {
                return Err(Error::internal("a unit review without its case or record").into());
            }
        };
        v.finish()?;
        let target_id = if direction == Direction::GovernmentToEnterprise {
            uscc.clone()
        } else {
            target_id
        };
        let mut tx = core.store.begin().await?;
        let id = ids::new_id(&jurisdiction_code);
        if let Some(first) = store::REQUESTS
            .claim(
                &mut tx,
                &principal.sub,
                &req.request_id,
                "SubmitReview",
                &id,
                now,
            )
            .await?
        {
            let existing = store::get_review(&mut tx, &first)
                .await?
                .ok_or_else(|| Error::NotFound(format!("review {first}")))?;
            return Ok(Response::new(convert::review_to_proto(&existing, false)));
        }
        let enterprise_name = if uscc.is_empty() {
            String::new()
        } else {
            store::enterprise_name(&mut tx, &uscc).await?
        };
        let mut review = Review {
            id,
            direction,
            target_kind,
            target_id,
            case_id: String::new(),
            rating: Some(rating),
            comment: req.comment.trim().to_owned(),
            dimensions,
            state: ReviewState::Submitted,
            jurisdiction_code,
            department_id,
            uscc,
            enterprise_name,
            reviewer: principal.sub.clone(),
            rectification_id: String::new(),
            invite_time: None,
            submit_time: Some(now),
            create_time: now,
            service_record_id: String::new(),
        };
        let rectification = self
            .open_rectification(&mut tx, &mut review, direction, rating, now)
            .await?;
        store::insert_review(&mut tx, &review).await?;
        self.commit_review(tx, &review, rectification.as_ref())
            .await?;
        Ok(Response::new(convert::review_to_proto(&review, false)))
    }

    async fn register_service_record(
        &self,
        request: Request<pb::RegisterServiceRecordRequest>,
    ) -> Result<Response<pb::ServiceRecord>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let now = self.core.clock.now();
        let mut v = Violations::new();
        check_request_id(&mut v, &req.request_id);
        let window_id = req.window_id.trim().to_owned();
        let department = if window_id.is_empty() {
            v.add(
                "window_id",
                "须指明服务窗口（must name the service window, like 510821-xzsp-03）",
            );
            None
        } else {
            let department = review::window_department(&window_id)
                .filter(|_| window_id.len() <= 64)
                .ok_or_else(|| {
                    "不是服务窗口编号，如 510821-xzsp-03（must be a service window id like 510821-xzsp-03）"
                        .to_owned()
                })
                .and_then(|d| self.department(&d).map(|j| (d, j)));
            v.check("window_id", department)
        };
        let uscc = uscc(&mut v, "uscc", &req.uscc);
        text(&mut v, "matter", &req.matter, true, TITLE_MAX_CHARS);
        let transaction_number = req.transaction_number.trim().to_owned();
        let number_ok = !transaction_number.is_empty()
            && transaction_number.len() <= 64
            && transaction_number
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_/.".contains(&b));
        if !number_ok {
            v.add(
                "transaction_number",
                "须为 1 至 64 个字母、数字或 - _ / .（must be 1 to 64 letters, digits, '-', '_', '/' or '.'）",
            );
        }
        let serve_time = match req.serve_time.as_ref() {
            None => Some(now),
            Some(t) => v.check("serve_time", convert::micros(t)),
        };
        if serve_time.is_some_and(|t| t > now.saturating_add(FUTURE_TOLERANCE_MICROS)) {
            v.add(
                "serve_time",
                "不能是将来的时间（must not be in the future）",
            );
        }
        v.finish()?;
        let (Some((department_id, jurisdiction_code)), Some(uscc), Some(serve_time)) =
            (department, uscc, serve_time)
        else {
            return Err(Error::internal("validated fields are missing").into());
        };
        // The window's department registers its own visits; its office, or the
        // platform's service token, those of its jurisdictions.
        access::acting_department(&principal, &scope, &department_id)?;
        scope.check_write(&jurisdiction_code, "", &format!("window {window_id}"))?;
        let mut tx = self.core.store.begin().await?;
        let id = ids::new_id(&jurisdiction_code);
        if let Some(first) = store::REQUESTS
            .claim(
                &mut tx,
                &principal.sub,
                &req.request_id,
                "RegisterServiceRecord",
                &id,
                now,
            )
            .await?
        {
            let existing = store::get_service_record(&mut tx, &first)
                .await?
                .ok_or_else(|| Error::NotFound(format!("service record {first}")))?;
            return Ok(Response::new(convert::service_record_to_proto(
                &existing, false,
            )));
        }
        let record = ServiceRecord {
            id,
            enterprise_name: store::enterprise_name(&mut tx, &uscc).await?,
            window_id,
            department_id,
            jurisdiction_code,
            uscc,
            matter: req.matter.trim().to_owned(),
            transaction_number,
            serve_time,
            registered_by: principal.sub.clone(),
            review_id: String::new(),
            create_time: now,
        };
        if !store::insert_service_record(&mut tx, &record).await? {
            // The platform sending one transaction again gets the record it
            // made; a number taken by another enterprise's is a conflict.
            let existing = store::service_record_of_transaction(
                &mut tx,
                &record.window_id,
                &record.transaction_number,
            )
            .await?
            .ok_or_else(|| Error::internal("a taken transaction number has no record"))?;
            if existing.uscc == record.uscc {
                return Ok(Response::new(convert::service_record_to_proto(
                    &existing, false,
                )));
            }
            return Err(Error::AlreadyExists(format!(
                "窗口 {} 的办件编号 {} 已登记给其他企业（transaction number {} of window {} is registered for another enterprise）",
                record.window_id, record.transaction_number, record.transaction_number, record.window_id
            ))
            .into());
        }
        self.core
            .store
            .events()
            .append_and_commit(
                tx,
                &record.id,
                &record.jurisdiction_code,
                &pb::ServiceRecordRegistered {
                    service_record: Some(convert::service_record_to_proto(&record, false)),
                },
            )
            .await?;
        Ok(Response::new(convert::service_record_to_proto(
            &record, false,
        )))
    }

    async fn list_service_records(
        &self,
        request: Request<pb::ListServiceRecordsRequest>,
    ) -> Result<Response<pb::ListServiceRecordsResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let limit = ids::page_size(req.page_size)?;
        let mut v = Violations::new();
        let uscc_filter = match non_empty(&req.uscc) {
            Some(u) => uscc(&mut v, "uscc", &u),
            None => None,
        };
        v.finish()?;
        let jurisdictions =
            scope.list_jurisdictions(&self.core.directory, &req.jurisdiction_code)?;
        let mut filter = ServiceRecordFilter {
            jurisdictions,
            department_id: non_empty(&req.department_id),
            window_id: non_empty(&req.window_id),
            uscc: uscc_filter,
            unrated_only: req.unrated_only,
        };
        // Whom a window served: the enterprise its own, the offices of the
        // jurisdictions theirs, a department's staff their own windows'; not
        // third-party evaluators or supervisors (aggregates only).
        let office =
            principal.has_any(&[Role::Coordinator, Role::Leader, Role::Admin, Role::Service]);
        let none = || Ok(Response::new(pb::ListServiceRecordsResponse::default()));
        if let Scope::Enterprise(_) = scope {
            let own = enterprise_uscc(&scope)?;
            if filter.uscc.as_ref().is_some_and(|u| *u != own) {
                return none();
            }
            filter.uscc = Some(own);
        } else if !office {
            let Some(own) = principal.department.as_deref().filter(|d| !d.is_empty()) else {
                return none();
            };
            if !principal.has_role(Role::Handler)
                || filter.department_id.as_ref().is_some_and(|d| d != own)
            {
                return none();
            }
            filter.department_id = Some(own.to_owned());
        }
        let protect = protects_reviewers(&principal, &scope);
        let fingerprint = format!("{filter:?}|{protect}");
        let after = PageToken::decode(&req.page_token, &fingerprint)?;
        let mut conn = self.core.store.read().await?;
        let rows = store::list_service_records(&mut conn, &filter, after, limit).await?;
        let (page, next_page_token) =
            ids::paginate(rows, limit, &fingerprint, |record| PageToken {
                sort_key: record.serve_time,
                id: record.id.clone(),
            });
        Ok(Response::new(pb::ListServiceRecordsResponse {
            service_records: page
                .iter()
                .map(|record| convert::service_record_to_proto(record, protect))
                .collect(),
            next_page_token,
        }))
    }

    async fn list_reviews(
        &self,
        request: Request<pb::ListReviewsRequest>,
    ) -> Result<Response<pb::ListReviewsResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let limit = ids::page_size(req.page_size)?;
        let mut v = Violations::new();
        let direction = enum_filter(&mut v, "direction", req.direction, convert::direction);
        let target_kind = enum_filter(&mut v, "target_kind", req.target_kind, convert::target_kind);
        let state = enum_filter(&mut v, "state", req.state, convert::review_state);
        let uscc_filter = match non_empty(&req.uscc) {
            Some(u) => uscc(&mut v, "uscc", &u),
            None => None,
        };
        v.finish()?;
        let jurisdictions =
            scope.list_jurisdictions(&self.core.directory, &req.jurisdiction_code)?;
        let protect = protects_reviewers(&principal, &scope);
        let mut filter = ReviewFilter {
            jurisdictions,
            department_id: non_empty(&req.department_id),
            direction,
            target_kind,
            target_id: non_empty(&req.target_id),
            case_id: non_empty(&req.case_id),
            uscc: uscc_filter,
            state,
            bad_only: req.bad_only,
        };
        if let Scope::Enterprise(_) = scope {
            let own = enterprise_uscc(&scope)?;
            if filter.uscc.as_ref().is_some_and(|u| *u != own) {
                return Ok(Response::new(pb::ListReviewsResponse::default()));
            }
            filter.uscc = Some(own);
        } else if protect && (filter.uscc.is_some() || filter.case_id.is_some()) {
            // Filtering by enterprise or case would name the reviewers: only
            // the reviews an enterprise received are listed by them.
            filter.direction = match filter.direction {
                None | Some(Direction::GovernmentToEnterprise) => {
                    Some(Direction::GovernmentToEnterprise)
                }
                Some(_) => return Ok(Response::new(pb::ListReviewsResponse::default())),
            };
        }
        let fingerprint = format!("{filter:?}|{protect}");
        let after = PageToken::decode(&req.page_token, &fingerprint)?;
        let mut conn = self.core.store.read().await?;
        let rows = store::list_reviews(&mut conn, &filter, after, limit).await?;
        let (page, next_page_token) =
            ids::paginate(rows, limit, &fingerprint, |(time, review)| PageToken {
                sort_key: *time,
                id: review.id.clone(),
            });
        Ok(Response::new(pb::ListReviewsResponse {
            reviews: page
                .iter()
                .map(|(_, review)| convert::review_to_proto(review, protect))
                .collect(),
            next_page_token,
        }))
    }

    async fn verify_bad_review(
        &self,
        request: Request<pb::VerifyBadReviewRequest>,
    ) -> Result<Response<pb::Rectification>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let mut v = Violations::new();
        required_id(&mut v, "id", &req.id);
        check_request_id(&mut v, &req.request_id);
        text(&mut v, "note", &req.note, false, TEXT_MAX_CHARS);
        v.finish()?;
        let step = Step::Verify {
            valid: req.valid,
            note: req.note.trim().to_owned(),
        };
        let r = self
            .rectification_step(
                &principal,
                req.id.trim(),
                &req.etag,
                &req.request_id,
                step,
                |rectification| pb::BadReviewVerified { rectification },
            )
            .await?;
        Ok(Response::new(convert::rectification_to_proto(
            &r,
            protects_reviewers(&principal, &self.scope(&principal)),
        )))
    }

    async fn submit_rectification(
        &self,
        request: Request<pb::SubmitRectificationRequest>,
    ) -> Result<Response<pb::Rectification>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let mut v = Violations::new();
        required_id(&mut v, "id", &req.id);
        check_request_id(&mut v, &req.request_id);
        text(&mut v, "text", &req.text, true, TEXT_MAX_CHARS);
        v.finish()?;
        let step = Step::Rectify {
            text: req.text.trim().to_owned(),
        };
        let r = self
            .rectification_step(
                &principal,
                req.id.trim(),
                &req.etag,
                &req.request_id,
                step,
                |rectification| pb::RectificationSubmitted { rectification },
            )
            .await?;
        Ok(Response::new(convert::rectification_to_proto(
            &r,
            protects_reviewers(&principal, &self.scope(&principal)),
        )))
    }

    async fn record_return_visit(
        &self,
        request: Request<pb::RecordReturnVisitRequest>,
    ) -> Result<Response<pb::Rectification>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let mut v = Violations::new();
        required_id(&mut v, "id", &req.id);
        check_request_id(&mut v, &req.request_id);
        text(&mut v, "note", &req.note, false, TEXT_MAX_CHARS);
        v.finish()?;
        let step = Step::ReturnVisit {
            satisfied: req.satisfied,
            note: req.note.trim().to_owned(),
        };
        let r = self
            .rectification_step(
                &principal,
                req.id.trim(),
                &req.etag,
                &req.request_id,
                step,
                |rectification| pb::ReturnVisitRecorded { rectification },
            )
            .await?;
        Ok(Response::new(convert::rectification_to_proto(
            &r,
            protects_reviewers(&principal, &self.scope(&principal)),
        )))
    }

    async fn list_rectifications(
        &self,
        request: Request<pb::ListRectificationsRequest>,
    ) -> Result<Response<pb::ListRectificationsResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let limit = ids::page_size(req.page_size)?;
        let mut v = Violations::new();
        let state = enum_filter(&mut v, "state", req.state, convert::rectification_state);
        v.finish()?;
        let jurisdictions =
            scope.list_jurisdictions(&self.core.directory, &req.jurisdiction_code)?;
        let uscc = match scope {
            Scope::Enterprise(_) => Some(enterprise_uscc(&scope)?),
            _ => None,
        };
        let protect = protects_reviewers(&principal, &scope);
        let now = self.core.clock.now();
        let filter = RectificationFilter {
            jurisdictions,
            uscc,
            department_id: non_empty(&req.department_id),
            state,
            overdue_at: req.overdue_only.then_some(now),
        };
        // The overdue filter moves with the clock; the token is bound to the rest.
        let fingerprint = format!(
            "{:?}|{:?}|{:?}|{:?}|{}",
            filter.jurisdictions, filter.uscc, filter.department_id, filter.state, req.overdue_only
        );
        let after = PageToken::decode(&req.page_token, &fingerprint)?;
        let mut conn = self.core.store.read().await?;
        let rows = store::list_rectifications(&mut conn, &filter, after, limit).await?;
        let (page, next_page_token) =
            ids::paginate(rows, limit, &fingerprint, |(due, r)| PageToken {
                sort_key: *due,
                id: r.id.clone(),
            });
        Ok(Response::new(pb::ListRectificationsResponse {
            rectifications: page
                .iter()
                .map(|(_, r)| convert::rectification_to_proto(r, protect))
                .collect(),
            next_page_token,
        }))
    }

    async fn create_campaign(
        &self,
        request: Request<pb::CreateCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let now = self.core.clock.now();
        let mut v = Violations::new();
        check_request_id(&mut v, &req.request_id);
        let Some(c) = req.campaign else {
            v.add("campaign", "must be given");
            v.finish()?;
            return Err(Error::internal("unreachable: a missing campaign was refused").into());
        };
        let jurisdiction_code = match non_empty(&c.jurisdiction_code) {
            Some(code) => v
                .check("campaign.jurisdiction_code", self.known_jurisdiction(&code))
                .unwrap_or_default(),
            None => self.home_jurisdiction(&principal, &scope)?,
        };
        let kind = convert::campaign_kind(c.kind);
        if kind.is_none() {
            v.add(
                "campaign.kind",
                "must be LAW_ENFORCEMENT, BUSINESS_ENVIRONMENT or OTHER",
            );
        }
        text(&mut v, "campaign.title", &c.title, true, TITLE_MAX_CHARS);
        text(
            &mut v,
            "campaign.description",
            &c.description,
            false,
            TEXT_MAX_CHARS,
        );
        let items: Vec<_> = c.items.iter().map(convert::item_from_proto).collect();
        if items.is_empty() {
            v.add("campaign.items", "a campaign needs at least one item");
        } else if items.len() > CAMPAIGN_ITEMS_MAX {
            v.add(
                "campaign.items",
                format!("at most {CAMPAIGN_ITEMS_MAX} items"),
            );
        }
        for (i, field, why) in campaign::check_items(&items) {
            v.add(format!("campaign.items[{i}].{field}"), why);
        }
        for (i, item) in items.iter().enumerate() {
            text(
                &mut v,
                &format!("campaign.items[{i}].text"),
                &item.text,
                true,
                TEXT_MAX_CHARS,
            );
            if !item.department_id.is_empty() {
                match self.department(&item.department_id) {
                    Ok(department_jurisdiction) => {
                        let covered = !jurisdiction_code.is_empty()
                            && self
                                .core
                                .ancestry(&department_jurisdiction)
                                .contains(&jurisdiction_code);
                        if !covered {
                            v.add(
                                format!("campaign.items[{i}].department_id"),
                                format!(
                                    "{} is not a department within the campaign's jurisdiction",
                                    item.department_id
                                ),
                            );
                        }
                    }
                    Err(why) => v.add(format!("campaign.items[{i}].department_id"), why),
                }
            }
        }
        let start_time = time(&mut v, "campaign.start_time", c.start_time.as_ref()).unwrap_or(now);
        match time(&mut v, "campaign.end_time", c.end_time.as_ref()) {
            None if c.end_time.is_none() => v.add("campaign.end_time", "must be given"),
            Some(end) if end <= start_time => {
                v.add("campaign.end_time", "must be after start_time")
            }
            _ => {}
        }
        let end_time = c
            .end_time
            .as_ref()
            .and_then(|t| convert::micros(t).ok())
            .unwrap_or(start_time);
        if c.invited_usccs.len() > CAMPAIGN_INVITEES_MAX {
            v.add(
                "campaign.invited_usccs",
                format!("at most {CAMPAIGN_INVITEES_MAX} enterprises"),
            );
        }
        let mut invited: Vec<String> = Vec::new();
        for (i, code) in c
            .invited_usccs
            .iter()
            .enumerate()
            .take(CAMPAIGN_INVITEES_MAX)
        {
            if let Some(code) = uscc(&mut v, &format!("campaign.invited_usccs[{i}]"), code)
                && !invited.contains(&code)
            {
                invited.push(code);
            }
        }
        v.finish()?;
        let Some(kind) = kind else {
            return Err(Error::internal("validated kind is missing").into());
        };
        if !scope.covers_jurisdiction(&jurisdiction_code) {
            return Err(Error::PermissionDenied(format!(
                "jurisdiction {jurisdiction_code} is outside your jurisdiction"
            ))
            .into());
        }
        let campaign = Campaign {
            id: ids::new_id(&jurisdiction_code),
            jurisdiction_code,
            kind,
            title: c.title.trim().to_owned(),
            description: c.description.trim().to_owned(),
            items,
            start_time,
            end_time,
            invited_usccs: invited,
            response_count: 0,
            created_by: principal.sub.clone(),
            create_time: now,
            version: 1,
        };
        let mut tx = self.core.store.begin().await?;
        if let Some(first) = store::REQUESTS
            .claim(
                &mut tx,
                &principal.sub,
                &req.request_id,
                "CreateCampaign",
                &campaign.id,
                now,
            )
            .await?
        {
            let existing = store::get_campaign(&mut tx, &first)
                .await?
                .ok_or_else(|| Error::NotFound(format!("campaign {first}")))?;
            return Ok(Response::new(convert::campaign_to_proto(&existing)));
        }
        store::insert_campaign(&mut tx, &campaign).await?;
        let events = self.core.store.events();
        events
            .append_and_commit(
                tx,
                &campaign.id,
                &campaign.jurisdiction_code,
                &pb::CampaignCreated {
                    campaign: Some(convert::campaign_to_proto(&campaign)),
                },
            )
            .await?;
        Ok(Response::new(convert::campaign_to_proto(&campaign)))
    }

    async fn list_campaigns(
        &self,
        request: Request<pb::ListCampaignsRequest>,
    ) -> Result<Response<pb::ListCampaignsResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let limit = ids::page_size(req.page_size)?;
        let mut v = Violations::new();
        let kind = enum_filter(&mut v, "kind", req.kind, convert::campaign_kind);
        v.finish()?;
        let jurisdictions =
            scope.list_jurisdictions(&self.core.directory, &req.jurisdiction_code)?;
        let invited = match scope {
            Scope::Enterprise(_) => Some((
                enterprise_uscc(&scope)?,
                self.core
                    .ancestry(principal.jurisdiction.as_deref().unwrap_or_default()),
            )),
            _ => None,
        };
        let now = self.core.clock.now();
        let filter = CampaignFilter {
            jurisdictions,
            invited,
            kind,
            open_at: req.open_only.then_some(now),
        };
        let fingerprint = format!(
            "{:?}|{:?}|{:?}|{}",
            filter.jurisdictions, filter.invited, filter.kind, req.open_only
        );
        let after = PageToken::decode(&req.page_token, &fingerprint)?;
        let mut conn = self.core.store.read().await?;
        let rows = store::list_campaigns(&mut conn, &filter, after, limit).await?;
        let (page, next_page_token) = ids::paginate(rows, limit, &fingerprint, |c| PageToken {
            sort_key: c.create_time,
            id: c.id.clone(),
        });
        Ok(Response::new(pb::ListCampaignsResponse {
            campaigns: page.iter().map(convert::campaign_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn submit_campaign_response(
        &self,
        request: Request<pb::SubmitCampaignResponseRequest>,
    ) -> Result<Response<pb::CampaignResponse>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        check_request_id(&mut v, &req.request_id);
        required_id(&mut v, "campaign_id", &req.campaign_id);
        text(&mut v, "comment", &req.comment, false, TEXT_MAX_CHARS);
        if req.answers.is_empty() {
            v.add("answers", "must answer at least one item");
        } else if req.answers.len() > CAMPAIGN_ITEMS_MAX {
            v.add("answers", format!("at most {CAMPAIGN_ITEMS_MAX} answers"));
        }
        let mut answers = Vec::new();
        for (i, a) in req.answers.iter().enumerate().take(CAMPAIGN_ITEMS_MAX) {
            if a.item_key.trim().is_empty() {
                v.add(
                    format!("answers[{i}].item_key"),
                    "must name an item of the campaign",
                );
            }
            text(
                &mut v,
                &format!("answers[{i}].comment"),
                &a.comment,
                false,
                TEXT_MAX_CHARS,
            );
            match convert::rating(a.rating) {
                Some(rating) => answers.push(CampaignAnswer {
                    item_key: a.item_key.trim().to_owned(),
                    rating,
                    comment: a.comment.trim().to_owned(),
                }),
                None => v.add(
                    format!("answers[{i}].rating"),
                    "must be one of the five levels",
                ),
            }
        }
        v.finish()?;
        let own = enterprise_uscc(&scope)?;
        let campaign_id = req.campaign_id.trim().to_owned();
        let now = self.core.clock.now();
        let mut tx = self.core.store.begin().await?;
        let not_found = || Error::NotFound(format!("campaign {campaign_id}"));
        let campaign = store::get_campaign(&mut tx, &campaign_id)
            .await?
            .ok_or_else(not_found)?;
        if !self
            .enterprise_invited(&mut tx, &principal, &campaign, &own)
            .await?
        {
            return Err(not_found().into());
        }
        let id = ids::new_id(&campaign.jurisdiction_code);
        if let Some(first) = store::REQUESTS
            .claim(
                &mut tx,
                &principal.sub,
                &req.request_id,
                "SubmitCampaignResponse",
                &id,
                now,
            )
            .await?
        {
            let existing = store::get_response(&mut tx, &first)
                .await?
                .ok_or_else(|| Error::NotFound(format!("response {first}")))?;
            return Ok(Response::new(convert::response_to_proto(&existing)));
        }
        if !campaign.is_open(now) {
            return Err(Error::FailedPrecondition(format!(
                "campaign {campaign_id} accepts responses only from its start_time to its end_time"
            ))
            .into());
        }
        let mut v = Violations::new();
        for (i, why) in campaign::check_answers(&campaign, &answers) {
            v.add(format!("answers[{i}].item_key"), why);
        }
        v.finish()?;
        let response = CampaignResponse {
            id,
            campaign_id: campaign.id.clone(),
            enterprise_name: store::enterprise_name(&mut tx, &own).await?,
            uscc: own,
            answers,
            comment: req.comment.trim().to_owned(),
            create_time: now,
        };
        if !store::insert_response(&mut tx, &response).await? {
            return Err(Error::AlreadyExists(format!(
                "your enterprise answered campaign {campaign_id} already; one response per campaign"
            ))
            .into());
        }
        self.core
            .store
            .events()
            .append_and_commit(
                tx,
                &response.id,
                &campaign.jurisdiction_code,
                &pb::CampaignResponseSubmitted {
                    response: Some(convert::response_to_proto(&response)),
                    jurisdiction_code: campaign.jurisdiction_code.clone(),
                    kind: convert::campaign_kind_to_proto(campaign.kind),
                    items: convert::campaign_to_proto(&campaign).items,
                },
            )
            .await?;
        Ok(Response::new(convert::response_to_proto(&response)))
    }

    async fn get_campaign_results(
        &self,
        request: Request<pb::GetCampaignResultsRequest>,
    ) -> Result<Response<pb::CampaignResults>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let mut v = Violations::new();
        required_id(&mut v, "campaign_id", &req.campaign_id);
        v.finish()?;
        let id = req.campaign_id.trim();
        let scope = self.scope(&principal);
        let mut conn = self.core.store.read().await?;
        let campaign = store::get_campaign(&mut conn, id)
            .await?
            .filter(|c| scope.covers_jurisdiction(&c.jurisdiction_code))
            .ok_or_else(|| Error::NotFound(format!("campaign {id}")))?;
        let counts = store::answer_counts(&mut conn, &campaign.id).await?;
        let results = campaign::results(&campaign, &counts);
        Ok(Response::new(convert::results_to_proto(
            &campaign, &results,
        )))
    }

    async fn submit_assessment(
        &self,
        request: Request<pb::SubmitAssessmentRequest>,
    ) -> Result<Response<pb::Assessment>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        check_request_id(&mut v, &req.request_id);
        let jurisdiction_code = if req.jurisdiction_code.trim().is_empty() {
            v.add("jurisdiction_code", "must name the jurisdiction assessed");
            None
        } else {
            v.check(
                "jurisdiction_code",
                self.known_jurisdiction(&req.jurisdiction_code),
            )
        };
        let department_id = req.department_id.trim().to_owned();
        if !department_id.is_empty() {
            match self.department(&department_id) {
                Ok(of) if jurisdiction_code.as_deref().is_none_or(|j| j == of) => {}
                Ok(of) => v.add(
                    "department_id",
                    format!("is a department of {of}, not of jurisdiction_code"),
                ),
                Err(why) => v.add("department_id", why),
            }
        }
        let period = req.period.trim().to_owned();
        v.check("period", period::parse_period(&period));
        if !req.score.is_finite() || !(0.0..=100.0).contains(&req.score) {
            v.add("score", "must be from 0 to 100");
        }
        text(&mut v, "summary", &req.summary, false, TEXT_MAX_CHARS);
        v.finish()?;
        let Some(jurisdiction_code) = jurisdiction_code else {
            return Err(Error::internal("validated jurisdiction is missing").into());
        };
        if !scope.covers_jurisdiction(&jurisdiction_code) {
            return Err(Error::PermissionDenied(format!(
                "jurisdiction {jurisdiction_code} is outside your jurisdiction"
            ))
            .into());
        }
        let now = self.core.clock.now();
        let assessment = Assessment {
            id: ids::new_id(&jurisdiction_code),
            evaluator: principal.sub.clone(),
            evaluator_name: principal
                .name
                .clone()
                .unwrap_or_else(|| principal.sub.clone()),
            jurisdiction_code,
            department_id,
            period,
            score: req.score,
            summary: req.summary.trim().to_owned(),
            create_time: now,
        };
        let mut tx = self.core.store.begin().await?;
        if let Some(first) = store::REQUESTS
            .claim(
                &mut tx,
                &principal.sub,
                &req.request_id,
                "SubmitAssessment",
                &assessment.id,
                now,
            )
            .await?
        {
            let existing = store::get_assessment(&mut tx, &first)
                .await?
                .ok_or_else(|| Error::NotFound(format!("assessment {first}")))?;
            return Ok(Response::new(convert::assessment_to_proto(&existing)));
        }
        store::insert_assessment(&mut tx, &assessment).await?;
        self.core
            .store
            .events()
            .append_and_commit(
                tx,
                &assessment.id,
                &assessment.jurisdiction_code,
                &pb::AssessmentSubmitted {
                    assessment: Some(convert::assessment_to_proto(&assessment)),
                },
            )
            .await?;
        Ok(Response::new(convert::assessment_to_proto(&assessment)))
    }

    async fn record_violation(
        &self,
        request: Request<pb::RecordViolationRequest>,
    ) -> Result<Response<pb::Violation>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let now = self.core.clock.now();
        let mut v = Violations::new();
        let uscc = uscc(&mut v, "uscc", &req.uscc);
        check_request_id(&mut v, &req.request_id);
        let severity = convert::severity(req.severity);
        if severity.is_none() {
            v.add("severity", "must be MINOR, GENERAL or SERIOUS");
        }
        text(
            &mut v,
            "description",
            &req.description,
            true,
            TEXT_MAX_CHARS,
        );
        let occur_time = match req.occur_time.as_ref() {
            None => Some(now),
            Some(t) => v.check("occur_time", convert::micros(t)),
        };
        if occur_time.is_some_and(|t| t > now.saturating_add(FUTURE_TOLERANCE_MICROS)) {
            v.add("occur_time", "must not be in the future");
        }
        let department =
            self.enforcing_department(&mut v, &principal, &scope, &req.department_id)?;
        v.finish()?;
        let (
            Some(uscc),
            Some(severity),
            Some(occur_time),
            Some((department_id, jurisdiction_code)),
        ) = (uscc, severity, occur_time, department)
        else {
            return Err(Error::internal("validated fields are missing").into());
        };
        scope.check_write(
            &jurisdiction_code,
            "",
            &format!("department {department_id}"),
        )?;
        let mut tx = self.core.store.begin().await?;
        let id = ids::new_id(&jurisdiction_code);
        if let Some(first) = store::REQUESTS
            .claim(
                &mut tx,
                &principal.sub,
                &req.request_id,
                "RecordViolation",
                &id,
                now,
            )
            .await?
        {
            let existing = store::get_violation(&mut tx, &first)
                .await?
                .ok_or_else(|| Error::NotFound(format!("violation {first}")))?;
            return Ok(Response::new(convert::violation_to_proto(&existing)));
        }
        self.core.store.lock_enterprise(&mut tx, &uscc).await?;
        let window = self.core.repeat_window_years;
        let prior = store::count_violations(
            &mut tx,
            &uscc,
            credit::repeat_window_start(occur_time, window),
            occur_time,
        )
        .await?;
        let (decision, decision_reason) =
            credit::decide_penalty(severity, req.promptly_corrected, prior, window);
        let violation = Violation {
            id,
            enterprise_name: store::enterprise_name(&mut tx, &uscc).await?,
            uscc,
            jurisdiction_code,
            department_id,
            severity,
            description: req.description.trim().to_owned(),
            promptly_corrected: req.promptly_corrected,
            decision,
            decision_reason,
            prior_violation_count: prior,
            occur_time,
            recorded_by: principal.sub.clone(),
            create_time: now,
        };
        store::insert_violation(&mut tx, &violation).await?;
        self.core
            .store
            .events()
            .append_and_commit(
                tx,
                &violation.id,
                &violation.jurisdiction_code,
                &pb::ViolationRecorded {
                    violation: Some(convert::violation_to_proto(&violation)),
                },
            )
            .await?;
        Ok(Response::new(convert::violation_to_proto(&violation)))
    }

    async fn propose_suspension(
        &self,
        request: Request<pb::ProposeSuspensionRequest>,
    ) -> Result<Response<pb::Suspension>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let now = self.core.clock.now();
        let mut v = Violations::new();
        let uscc = uscc(&mut v, "uscc", &req.uscc);
        check_request_id(&mut v, &req.request_id);
        text(&mut v, "reason", &req.reason, true, TEXT_MAX_CHARS);
        let violation_id = req.violation_id.trim().to_owned();
        if violation_id.len() > ID_MAX {
            v.add("violation_id", "is not a violation id");
        }
        let start = time(&mut v, "start_time", req.start_time.as_ref());
        let end = time(&mut v, "end_time", req.end_time.as_ref());
        if let (Some(start), Some(end)) = (start, end)
            && end <= start
        {
            v.add("end_time", "must be after start_time");
        }
        let department =
            self.enforcing_department(&mut v, &principal, &scope, &req.department_id)?;
        v.finish()?;
        let (Some(uscc), Some((department_id, jurisdiction_code))) = (uscc, department) else {
            return Err(Error::internal("validated fields are missing").into());
        };
        scope.check_write(
            &jurisdiction_code,
            "",
            &format!("department {department_id}"),
        )?;
        let mut tx = self.core.store.begin().await?;
        let id = ids::new_id(&jurisdiction_code);
        if let Some(first) = store::REQUESTS
            .claim(
                &mut tx,
                &principal.sub,
                &req.request_id,
                "ProposeSuspension",
                &id,
                now,
            )
            .await?
        {
            let existing = store::get_suspension(&mut tx, &first)
                .await?
                .ok_or_else(|| Error::NotFound(format!("suspension {first}")))?;
            return Ok(Response::new(convert::suspension_to_proto(&existing)));
        }
        if !violation_id.is_empty() {
            let known = store::get_violation(&mut tx, &violation_id)
                .await?
                .filter(|violation| {
                    violation.uscc == uscc
                        && scope.covers_jurisdiction(&violation.jurisdiction_code)
                });
            if known.is_none() {
                return Err(Error::NotFound(format!("violation {violation_id} of {uscc}")).into());
            }
        }
        let suspension = Suspension {
            id,
            enterprise_name: store::enterprise_name(&mut tx, &uscc).await?,
            uscc,
            jurisdiction_code,
            department_id,
            violation_id,
            reason: req.reason.trim().to_owned(),
            proposed_start: start,
            proposed_end: end,
            start_time: None,
            end_time: None,
            state: SuspensionState::Proposed,
            proposed_by: principal.sub.clone(),
            propose_time: now,
            decided_by: String::new(),
            decide_time: None,
            decision_note: String::new(),
            version: 1,
        };
        store::insert_suspension(&mut tx, &suspension).await?;
        self.core
            .store
            .events()
            .append_and_commit(
                tx,
                &suspension.id,
                &suspension.jurisdiction_code,
                &pb::SuspensionProposed {
                    suspension: Some(convert::suspension_to_proto(&suspension)),
                },
            )
            .await?;
        Ok(Response::new(convert::suspension_to_proto(&suspension)))
    }

    async fn decide_suspension(
        &self,
        request: Request<pb::DecideSuspensionRequest>,
    ) -> Result<Response<pb::Suspension>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let mut v = Violations::new();
        let uscc = uscc(&mut v, "uscc", &req.uscc);
        required_id(&mut v, "id", &req.id);
        check_request_id(&mut v, &req.request_id);
        text(&mut v, "note", &req.note, false, TEXT_MAX_CHARS);
        v.finish()?;
        let city = &self.core.city;
        // A penalty that halts work or business needs the city government's approval.
        if !credit::may_decide_suspension(
            principal.has_role(Role::Leader),
            principal.jurisdiction.as_deref(),
            city,
        ) {
            return Err(Error::PermissionDenied(format!(
                "only a city leader (leader of {city}) decides a suspension"
            ))
            .into());
        }
        let id = req.id.trim();
        let now = self.core.clock.now();
        let mut tx = self.core.store.begin().await?;
        let mut s = store::get_suspension(&mut tx, id)
            .await?
            .filter(|s| Some(&s.uscc) == uscc.as_ref())
            .ok_or_else(|| Error::NotFound(format!("suspension {id}")))?;
        if store::REQUESTS
            .claim(
                &mut tx,
                &principal.sub,
                &req.request_id,
                "DecideSuspension",
                id,
                now,
            )
            .await?
            .is_some()
        {
            return Ok(Response::new(convert::suspension_to_proto(&s)));
        }
        if !req.etag.is_empty() && req.etag != s.etag() {
            return Err(Error::Aborted(format!(
                "suspension {id} changed since it was read (etag {} is now {}); read it again",
                req.etag,
                s.etag()
            ))
            .into());
        }
        if s.state != SuspensionState::Proposed {
            return Err(Error::FailedPrecondition(format!(
                "suspension {id} was decided already ({})",
                s.state
            ))
            .into());
        }
        let expected = s.version;
        if req.approve {
            let start = s.proposed_start.map_or(now, |start| start.max(now));
            s.start_time = Some(start);
            s.end_time = s.proposed_end.filter(|end| *end > start);
            s.state = SuspensionState::Approved;
        } else {
            s.state = SuspensionState::Rejected;
        }
        s.decided_by = principal.sub.clone();
        s.decide_time = Some(now);
        s.decision_note = req.note.trim().to_owned();
        s.version += 1;
        store::update_suspension(&mut tx, &s, expected).await?;
        self.core
            .store
            .events()
            .append_and_commit(
                tx,
                &s.id,
                &s.jurisdiction_code,
                &pb::SuspensionDecided {
                    suspension: Some(convert::suspension_to_proto(&s)),
                },
            )
            .await?;
        Ok(Response::new(convert::suspension_to_proto(&s)))
    }

    async fn put_credit_listing(
        &self,
        request: Request<pb::PutCreditListingRequest>,
    ) -> Result<Response<pb::CreditListing>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        let uscc = uscc(&mut v, "uscc", &req.uscc);
        check_request_id(&mut v, &req.request_id);
        let list = convert::credit_list(req.list);
        if list.is_none() {
            v.add("list", "must be RED or BLACK");
        }
        text(&mut v, "reason", &req.reason, true, TEXT_MAX_CHARS);
        let expire_time = time(&mut v, "expire_time", req.expire_time.as_ref());
        v.finish()?;
        let (Some(uscc), Some(list)) = (uscc, list) else {
            return Err(Error::internal("validated fields are missing").into());
        };
        let jurisdiction_code = self.home_jurisdiction(&principal, &scope)?;
        let now = self.core.clock.now();
        let mut tx = self.core.store.begin().await?;
        let existing = store::listing_on(&mut tx, &uscc, list).await?;
        let id = existing
            .as_ref()
            .map_or_else(|| ids::new_id(&jurisdiction_code), |l| l.id.clone());
        if let Some(first) = store::REQUESTS
            .claim(
                &mut tx,
                &principal.sub,
                &req.request_id,
                "PutCreditListing",
                &id,
                now,
            )
            .await?
        {
            let listing = store::get_listing(&mut tx, &first)
                .await?
                .ok_or_else(|| Error::NotFound(format!("listing {first}")))?;
            return Ok(Response::new(convert::listing_to_proto(&listing)));
        }
        let (listing, expected) = match existing {
            Some(mut listing) => {
                if !scope.covers_jurisdiction(&listing.jurisdiction_code) {
                    return Err(Error::PermissionDenied(format!(
                        "the {list} listing of {uscc} was made by {}, outside your jurisdiction",
                        listing.jurisdiction_code
                    ))
                    .into());
                }
                if req.etag != listing.etag() {
                    return Err(Error::Aborted(format!(
                        "{uscc} is on the {list} list already (etag {}); send that etag to change the listing",
                        listing.etag()
                    ))
                    .into());
                }
                let expected = listing.version;
                listing.reason = req.reason.trim().to_owned();
                listing.expire_time = expire_time;
                listing.jurisdiction_code = jurisdiction_code;
                listing.listed_by = principal.sub.clone();
                listing.update_time = now;
                listing.version += 1;
                (listing, Some(expected))
            }
            None => {
                if !req.etag.is_empty() {
                    return Err(Error::Aborted(format!(
                        "{uscc} is not on the {list} list; send no etag to list it"
                    ))
                    .into());
                }
                let listing = CreditListing {
                    id,
                    enterprise_name: store::enterprise_name(&mut tx, &uscc).await?,
                    uscc,
                    list,
                    reason: req.reason.trim().to_owned(),
                    expire_time,
                    jurisdiction_code,
                    listed_by: principal.sub.clone(),
                    create_time: now,
                    update_time: now,
                    version: 1,
                };
                (listing, None)
            }
        };
        store::write_listing(&mut tx, &listing, expected).await?;
        self.core
            .store
            .events()
            .append_and_commit(
                tx,
                &listing.id,
                &listing.jurisdiction_code,
                &pb::CreditListingPut {
                    listing: Some(convert::listing_to_proto(&listing)),
                },
            )
            .await?;
        Ok(Response::new(convert::listing_to_proto(&listing)))
    }

    async fn get_enterprise_credit(
        &self,
        request: Request<pb::GetEnterpriseCreditRequest>,
    ) -> Result<Response<pb::EnterpriseCredit>, Status> {
        let principal = access::principal(&request)?.clone();
        let req = request.into_inner();
        let scope = self.scope(&principal);
        let mut v = Violations::new();
        let uscc = uscc(&mut v, "uscc", &req.uscc);
        v.finish()?;
        let Some(uscc) = uscc else {
            return Err(Error::internal("validated uscc is missing").into());
        };
        match &scope {
            Scope::Nothing => {
                return Err(Error::NotFound(format!("credit record of {uscc}")).into());
            }
            Scope::Enterprise(_) if enterprise_uscc(&scope)? != uscc => {
                return Err(Error::NotFound(format!("credit record of {uscc}")).into());
            }
            _ => {}
        }
        let in_scope = |jurisdiction: &str| match &scope {
            Scope::Jurisdictions(_) => scope.covers_jurisdiction(jurisdiction),
            _ => true,
        };
        let now = self.core.clock.now();
        let mut conn = self.core.store.read().await?;
        let violations: Vec<Violation> = store::violations_of(&mut conn, &uscc)
            .await?
            .into_iter()
            .filter(|x| in_scope(&x.jurisdiction_code))
            .collect();
        let suspensions: Vec<Suspension> = store::suspensions_of(&mut conn, &uscc)
            .await?
            .into_iter()
            .filter(|x| in_scope(&x.jurisdiction_code))
            .collect();
        // Red and black lists are public records: every listing counts.
        let listings = store::listings_of(&mut conn, &uscc).await?;
        let name = store::enterprise_name(&mut conn, &uscc).await?;
        Ok(Response::new(pb::EnterpriseCredit {
            enterprise: Some(zhengqi_proto::zhengqi::common::v1::EnterpriseRef {
                uscc: uscc.clone(),
                name,
            }),
            uscc,
            violations: violations.iter().map(convert::violation_to_proto).collect(),
            suspensions: suspensions
                .iter()
                .map(convert::suspension_to_proto)
                .collect(),
            current_list: credit::current_list(&listings, now)
                .map_or(0, convert::credit_list_to_proto),
            listings: listings.iter().map(convert::listing_to_proto).collect(),
        }))
    }

    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        events::serve_watch(self.core.store.events(), request, &self.core.directory)
    }
}
