//! Reviews (好差评): an enterprise rates a department for a case or a window
//! for a visit, once; the government rates an enterprise; a bad review opens
//! its rectification.

use super::*;
/// What a review names besides its target: a department's review the case
/// it rates, a window's the service record, the others neither.
pub(super) fn check_subject(
    direction: Direction,
    case_id: &str,
    service_record_id: &str,
) -> Result<(), Error> {
    let mut v = Violations::new();
    let mut named = |field: &str,
                     value: &str,
                     needed: bool,
                     of: [&str; 2],
                     needed_why: [&str; 2]| match (needed, value.is_empty()) {
        (true, true) => v.add(
            field,
            Why::new(
                format!("{}（{}）", needed_why[0], needed_why[1]),
                needed_why[0],
            ),
        ),
        (false, false) => v.add(
            field,
            Why::new(
                format!(
                    "只有对{}的评价才指明此项（only a review of {} names it）",
                    of[0], of[1]
                ),
                format!("只有对{}的评价才指明此项", of[0]),
            ),
        ),
        (true, false) if value.len() > ID_MAX => {
            v.add(field, Why::new("编号过长（is not an id）", "编号过长"))
        }
        _ => {}
    };
    named(
        "case_id",
        case_id,
        review::needs_case(direction),
        ["案件承办部门", "a case's department"],
        [
            "须指明被评价部门办结的案件",
            "must name the resolved case whose department is rated",
        ],
    );
    named(
        "service_record_id",
        service_record_id,
        direction == Direction::EnterpriseToWindow,
        ["服务窗口", "a service window"],
        [
            "须指明窗口为贵企业登记的服务记录（办件）",
            "must name the service record the window registered for your enterprise",
        ],
    );
    v.finish()
}

/// A review's rating and words, checked.
pub(super) struct Rated {
    rating: Rating,
    comment: String,
    dimensions: Vec<(String, Rating)>,
}

impl EvaluationApi {
    /// Opens and stores the rectification a review needs (a bad review of a
    /// department or window), due in working days, and links the review to it.
    pub(super) async fn open_rectification(
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
    pub(super) async fn review_window(
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
        let mut work = self
            .core
            .store
            .work(&principal.sub, request_id, "SubmitReview", now)
            .await?;
        let Some(record) = store::get_service_record(work.conn(), service_record_id).await? else {
            return Err(Error::NotFound(format!(
                "服务记录 {service_record_id}（service record {service_record_id}）"
            ))
            .zh("未找到该服务记录"));
        };
        scope.check_write(
            &record.jurisdiction_code,
            &record.uscc,
            &format!("service record {service_record_id}"),
        )?;
        if record.uscc != own {
            return Err(Error::PermissionDenied(
                "该服务记录属于其他企业（the service record is another enterprise's）".into(),
            )
            .zh("该服务记录属于其他企业"));
        }
        // The window's own number for the matter, as the enterprise knows it.
        let (window, number) = (&record.window_id, &record.transaction_number);
        if !target_id.is_empty() && target_id != window {
            return Err(Error::invalid(
                "target_id",
                Why::new(
                    format!(
                        "办件 {number} 由窗口 {window} 办理，而非 {target_id}（transaction {number} was served by window {window}, not {target_id}）"
                    ),
                    format!("办件 {number} 由窗口 {window} 办理，而非 {target_id}"),
                ),
            ));
        }
        let id = ids::new_id(&record.jurisdiction_code);
        if let Some(first) = work.claim(&id).await? {
            return store::get_review(work.conn(), &first)
                .await?
                .ok_or_else(|| Error::NotFound(format!("review {first}")).zh("未找到该评价"));
        }
        let already = || {
            Error::AlreadyExists(format!(
                "窗口 {window} 的办件 {number} 已评价，每次办件评价一次（transaction {number} of window {window} was rated already; one rating per matter）"
            ))
            .zh(format!(
                "窗口 {window} 的办件 {number} 已评价，每次办件评价一次"
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
                work.conn(),
                &mut review,
                Direction::EnterpriseToWindow,
                rated.rating,
                now,
            )
            .await?;
        if !store::rate_service_record(work.conn(), &record.id, &review.id).await?
            || !store::insert_review(work.conn(), &review).await?
        {
            return Err(already());
        }
        self.commit_review(work, &review, rectification.as_ref())
            .await?;
        Ok(review)
    }

    /// Records the review (and the rectification a bad one opens) and commits.
    pub(super) async fn commit_review(
        &self,
        mut work: UnitOfWork,
        review: &Review,
        rectification: Option<&Rectification>,
    ) -> Result<(), Error> {
        work.record(
            &review.id,
            &review.jurisdiction_code,
            &pb::ReviewSubmitted {
                review: Some(convert::review_to_proto(review, false)),
            },
        );
        if let Some(r) = rectification {
            work.record(
                &r.id,
                &r.jurisdiction_code,
                &pb::RectificationOpened {
                    rectification: Some(convert::rectification_to_proto(r, false)),
                },
            );
        }
        work.commit(&review.id).await
    }
}

pub(super) async fn submit_review(
    api: &EvaluationApi,
    request: Request<pb::SubmitReviewRequest>,
) -> Result<Response<pb::Review>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    fields::request_id(&mut v, &req.request_id);
    let target_kind = convert::target_kind(req.target_kind);
    if target_kind.is_none() {
        v.add(
            "target_kind",
            Why::new(
                "must be DEPARTMENT, SERVICE_WINDOW, JURISDICTION or ENTERPRISE",
                "须选择评价对象：部门、服务窗口、县区或企业",
            ),
        );
    }
    let rating = convert::rating(req.rating);
    if rating.is_none() {
        v.add(
            "rating",
            Why::new(
                "must be one of the five levels, VERY_DISSATISFIED to VERY_SATISFIED",
                "须选择五个评价等级之一（非常不满意至非常满意）",
            ),
        );
    }
    let bad = rating.is_some_and(Rating::is_bad);
    if bad && req.comment.trim().is_empty() {
        v.add(
            "comment",
            Why::new(
                "a bad review must say what went wrong",
                "差评须说明不满意的原因",
            ),
        );
    } else {
        fields::optional_text(&mut v, "comment", &req.comment, TEXT_MAX_CHARS);
    }
    if req.dimensions.len() > DIMENSIONS_MAX {
        v.add(
            "dimensions",
            Why::new(
                format!("at most {DIMENSIONS_MAX} aspects"),
                format!("最多评价{DIMENSIONS_MAX}个方面"),
            ),
        );
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
                Why::new(
                    "must be 1 to 64 letters, digits, '_' or '-'",
                    "须为1至64个字母、数字、“_”或“-”",
                ),
            );
        } else if dimensions.iter().any(|(k, _): &(String, Rating)| k == key) {
            v.add(
                format!("dimensions[{i}].dimension"),
                Why::new(
                    format!("{key:?} is rated twice"),
                    format!("评价方面“{key}”重复"),
                ),
            );
        }
        match convert::rating(d.rating) {
            Some(r) if key_ok => dimensions.push((key.to_owned(), r)),
            Some(_) => {}
            None => v.add(format!("dimensions[{i}].rating"), five_levels()),
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
    let direction = review::direction(reviewer, target_kind)
        .map_err(|why| Error::PermissionDenied(why.en).zh(why.zh))?;
    let now = api.core.clock.now();
    let target_id = req.target_id.trim().to_owned();
    let case_id = req.case_id.trim().to_owned();
    let service_record_id = req.service_record_id.trim().to_owned();
    check_subject(direction, &case_id, &service_record_id)?;
    let core = &api.core;

    if review::needs_case(direction) {
        let own = enterprise_uscc(&scope)?;
        let mut work = core
            .store
            .work(&principal.sub, &req.request_id, "SubmitReview", now)
            .await?;
        let Some(mut review) = store::review_of_case(work.conn(), &case_id).await? else {
            return Err(Error::FailedPrecondition(format!(
                "case {case_id} is not known as resolved yet; it can be rated once resolved"
            ))
            .zh("该案件尚未办结，办结后方可评价")
            .into());
        };
        scope.check_write(
            &review.jurisdiction_code,
            &review.uscc,
            &format!("case {case_id}"),
        )?;
        if review.uscc != own {
            return Err(
                Error::PermissionDenied(format!("case {case_id} is another enterprise's"))
                    .zh("该案件属于其他企业，您无权评价")
                    .into(),
            );
        }
        if work.claim(&review.id).await?.is_some() {
            return Ok(Response::new(convert::review_to_proto(&review, false)));
        }
        if review.state == ReviewState::Submitted {
            return Err(Error::AlreadyExists(format!(
                "case {case_id} was rated already (review {}); one rating per matter",
                review.id
            ))
            .zh("该案件已评价，每件事项只能评价一次")
            .into());
        }
        if !target_id.is_empty() && target_id != review.department_id {
            return Err(Error::invalid(
                "target_id",
                Why::new(
                    format!(
                        "case {case_id} was handled by {}, not {target_id}",
                        review.department_id
                    ),
                    format!("该案件由 {} 办理，而非 {target_id}", review.department_id),
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
        let rectification = api
            .open_rectification(work.conn(), &mut review, direction, rating, now)
            .await?;
        if !store::rate_invitation(work.conn(), &review).await? {
            return Err(
                Error::AlreadyExists(format!("case {case_id} was rated already"))
                    .zh("该案件已评价，每件事项只能评价一次")
                    .into(),
            );
        }
        api.commit_review(work, &review, rectification.as_ref())
            .await?;
        return Ok(Response::new(convert::review_to_proto(&review, false)));
    }

    if direction == Direction::EnterpriseToWindow {
        let rated = Rated {
            rating,
            comment: req.comment.trim().to_owned(),
            dimensions,
        };
        let review = api
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
            match v.check("target_id", api.known_jurisdiction(&target_id)) {
                Some(code) => {
                    if !scope.covers_jurisdiction(&code) {
                        return Err(api.outside(&code).into());
                    }
                    (code, String::new(), String::new())
                }
                None => (String::new(), String::new(), String::new()),
            }
        }
        Direction::GovernmentToEnterprise => {
            let rated = uscc(&mut v, "target_id", &target_id).unwrap_or_default();
            let home = api.home_jurisdiction(&principal, &scope)?;
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
    let mut work = core
        .store
        .work(&principal.sub, &req.request_id, "SubmitReview", now)
        .await?;
    let id = ids::new_id(&jurisdiction_code);
    if let Some(first) = work.claim(&id).await? {
        let existing = store::get_review(work.conn(), &first)
            .await?
            .ok_or_else(|| Error::NotFound(format!("review {first}")).zh("未找到该评价"))?;
        return Ok(Response::new(convert::review_to_proto(&existing, false)));
    }
    let enterprise_name = if uscc.is_empty() {
        String::new()
    } else {
        store::enterprise_name(work.conn(), &uscc).await?
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
    let rectification = api
        .open_rectification(work.conn(), &mut review, direction, rating, now)
        .await?;
    store::insert_review(work.conn(), &review).await?;
    api.commit_review(work, &review, rectification.as_ref())
        .await?;
    Ok(Response::new(convert::review_to_proto(&review, false)))
}

pub(super) async fn list_reviews(
    api: &EvaluationApi,
    request: Request<pb::ListReviewsRequest>,
) -> Result<Response<pb::ListReviewsResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let limit = ids::page_size(req.page_size)?;
    let mut v = Violations::new();
    let direction = fields::optional_enum(&mut v, "direction", req.direction, convert::direction);
    let target_kind =
        fields::optional_enum(&mut v, "target_kind", req.target_kind, convert::target_kind);
    let state = fields::optional_enum(&mut v, "state", req.state, convert::review_state);
    let uscc_filter = match non_empty(&req.uscc) {
        Some(u) => uscc(&mut v, "uscc", &u),
        None => None,
    };
    v.finish()?;
    let jurisdictions = scope.list_jurisdictions(&api.core.directory, &req.jurisdiction_code)?;
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
    let mut conn = api.core.store.read().await?;
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
