//! Enterprises' credit under the enforcement rules: violations, proposed and
//! decided suspensions, the lists (白名单, 观察名单) and an enterprise's record.

use super::*;
impl EvaluationApi {
    /// The enforcing department of a request: the one given, else the
    /// caller's; a handler acts for its own department only, an office for
    /// departments of its jurisdictions (`access::acting_department`).
    pub(super) fn enforcing_department(
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
                    Why::new(
                        "must name the enforcing department (your token names none)",
                        "请指明执法部门（您的登录凭证未指明所属部门）",
                    ),
                );
                None
            }
            Some(department) => violations
                .check("department_id", self.department(&department))
                .map(|jurisdiction| (department, jurisdiction)),
        })
    }
}

pub(super) async fn record_violation(
    api: &EvaluationApi,
    request: Request<pb::RecordViolationRequest>,
) -> Result<Response<pb::Violation>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let now = api.core.clock.now();
    let mut v = Violations::new();
    let uscc = uscc(&mut v, "uscc", &req.uscc);
    fields::request_id(&mut v, &req.request_id);
    let severity = convert::severity(req.severity);
    if severity.is_none() {
        v.add(
            "severity",
            Why::new(
                "must be MINOR, GENERAL or SERIOUS",
                "须选择轻微、一般或严重",
            ),
        );
    }
    fields::text(&mut v, "description", &req.description, TEXT_MAX_CHARS);
    let occur_time = match req.occur_time.as_ref() {
        None => Some(now),
        Some(t) => fields::time(&mut v, "occur_time", Some(t)),
    };
    if occur_time.is_some_and(|t| t > now.saturating_add(FUTURE_TOLERANCE_MICROS)) {
        v.add(
            "occur_time",
            Why::new("must not be in the future", "不能是将来的时间"),
        );
    }
    let department = api.enforcing_department(&mut v, &principal, &scope, &req.department_id)?;
    v.finish()?;
    let (Some(uscc), Some(severity), Some(occur_time), Some((department_id, jurisdiction_code))) =
        (uscc, severity, occur_time, department)
    else {
        return Err(Error::internal("validated fields are missing").into());
    };
    scope.check_write(
        &jurisdiction_code,
        "",
        &format!("department {department_id}"),
    )?;
    let mut work = api
        .core
        .store
        .work(&principal.sub, &req.request_id, "RecordViolation", now)
        .await?;
    let id = ids::new_id(&jurisdiction_code);
    if let Some(first) = work.claim(&id).await? {
        let existing = store::get_violation(work.conn(), &first)
            .await?
            .ok_or_else(|| Error::NotFound(format!("violation {first}")).zh("未找到该违法记录"))?;
        return Ok(Response::new(convert::violation_to_proto(&existing)));
    }
    api.core.store.lock_enterprise(work.conn(), &uscc).await?;
    let window = api.core.repeat_window_years;
    let prior = store::count_violations(
        work.conn(),
        &uscc,
        credit::repeat_window_start(occur_time, window),
        occur_time,
    )
    .await?;
    let (decision, decision_reason) =
        credit::decide_penalty(severity, req.promptly_corrected, prior, window);
    let violation = Violation {
        id,
        enterprise_name: store::enterprise_name(work.conn(), &uscc).await?,
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
    store::insert_violation(work.conn(), &violation).await?;
    work.record(
        &violation.id,
        &violation.jurisdiction_code,
        &pb::ViolationRecorded {
            violation: Some(convert::violation_to_proto(&violation)),
        },
    );
    work.commit(&violation.id).await?;
    Ok(Response::new(convert::violation_to_proto(&violation)))
}

pub(super) async fn propose_suspension(
    api: &EvaluationApi,
    request: Request<pb::ProposeSuspensionRequest>,
) -> Result<Response<pb::Suspension>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let now = api.core.clock.now();
    let mut v = Violations::new();
    let uscc = uscc(&mut v, "uscc", &req.uscc);
    fields::request_id(&mut v, &req.request_id);
    fields::text(&mut v, "reason", &req.reason, TEXT_MAX_CHARS);
    let violation_id = req.violation_id.trim().to_owned();
    if violation_id.len() > ID_MAX {
        v.add(
            "violation_id",
            Why::new("is not a violation id", "不是违法记录编号"),
        );
    }
    let start = fields::time(&mut v, "start_time", req.start_time.as_ref());
    let end = fields::time(&mut v, "end_time", req.end_time.as_ref());
    if let (Some(start), Some(end)) = (start, end)
        && end <= start
    {
        v.add("end_time", after_start());
    }
    let department = api.enforcing_department(&mut v, &principal, &scope, &req.department_id)?;
    v.finish()?;
    let (Some(uscc), Some((department_id, jurisdiction_code))) = (uscc, department) else {
        return Err(Error::internal("validated fields are missing").into());
    };
    scope.check_write(
        &jurisdiction_code,
        "",
        &format!("department {department_id}"),
    )?;
    let mut work = api
        .core
        .store
        .work(&principal.sub, &req.request_id, "ProposeSuspension", now)
        .await?;
    let id = ids::new_id(&jurisdiction_code);
    if let Some(first) = work.claim(&id).await? {
        let existing = store::get_suspension(work.conn(), &first)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("suspension {first}")).zh("未找到该停产停业提请")
            })?;
        return Ok(Response::new(convert::suspension_to_proto(&existing)));
    }
    if !violation_id.is_empty() {
        let known = store::get_violation(work.conn(), &violation_id)
            .await?
            .filter(|violation| {
                violation.uscc == uscc && scope.covers_jurisdiction(&violation.jurisdiction_code)
            });
        if known.is_none() {
            return Err(
                Error::NotFound(format!("violation {violation_id} of {uscc}"))
                    .zh(format!("未找到企业 {uscc} 的该违法记录"))
                    .into(),
            );
        }
    }
    let suspension = Suspension {
        id,
        enterprise_name: store::enterprise_name(work.conn(), &uscc).await?,
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
    store::insert_suspension(work.conn(), &suspension).await?;
    work.record(
        &suspension.id,
        &suspension.jurisdiction_code,
        &pb::SuspensionProposed {
            suspension: Some(convert::suspension_to_proto(&suspension)),
        },
    );
    work.commit(&suspension.id).await?;
    Ok(Response::new(convert::suspension_to_proto(&suspension)))
}

pub(super) async fn decide_suspension(
    api: &EvaluationApi,
    request: Request<pb::DecideSuspensionRequest>,
) -> Result<Response<pb::Suspension>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let mut v = Violations::new();
    let uscc = uscc(&mut v, "uscc", &req.uscc);
    fields::id(&mut v, "id", &req.id);
    fields::request_id(&mut v, &req.request_id);
    fields::optional_text(&mut v, "note", &req.note, TEXT_MAX_CHARS);
    v.finish()?;
    let city = &api.core.city;
    // A penalty that halts work or business needs the city government's approval.
    if !credit::may_decide_suspension(
        principal.has_role(Role::Leader),
        principal.jurisdiction.as_deref(),
        city,
    ) {
        return Err(Error::PermissionDenied(format!(
            "only a city leader (leader of {city}) decides a suspension"
        ))
        .zh(format!(
            "责令停产停业须由{}领导审批",
            api.jurisdiction_name(city)
        ))
        .into());
    }
    let id = req.id.trim();
    let now = api.core.clock.now();
    let mut work = api
        .core
        .store
        .work(&principal.sub, &req.request_id, "DecideSuspension", now)
        .await?;
    let mut s = store::get_suspension(work.conn(), id)
        .await?
        .filter(|s| Some(&s.uscc) == uscc.as_ref())
        .ok_or_else(|| Error::NotFound(format!("suspension {id}")).zh("未找到该停产停业提请"))?;
    if work.claim(id).await?.is_some() {
        return Ok(Response::new(convert::suspension_to_proto(&s)));
    }
    if !req.etag.is_empty() && req.etag != s.etag() {
        return Err(Error::Aborted(format!(
            "suspension {id} changed since it was read (etag {} is now {}); read it again",
            req.etag,
            s.etag()
        ))
        .zh("该停产停业提请已被他人修改，请刷新后重试")
        .into());
    }
    if s.state != SuspensionState::Proposed {
        return Err(Error::FailedPrecondition(format!(
            "suspension {id} was decided already ({})",
            s.state
        ))
        .zh(format!(
            "对{}的停产停业提请已审批（{}），不能再次审批",
            enterprise_label(&s.enterprise_name, &s.uscc),
            s.state.zh()
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
    store::update_suspension(work.conn(), &s, expected).await?;
    work.record(
        &s.id,
        &s.jurisdiction_code,
        &pb::SuspensionDecided {
            suspension: Some(convert::suspension_to_proto(&s)),
        },
    );
    work.commit(&s.id).await?;
    Ok(Response::new(convert::suspension_to_proto(&s)))
}

pub(super) async fn put_credit_listing(
    api: &EvaluationApi,
    request: Request<pb::PutCreditListingRequest>,
) -> Result<Response<pb::CreditListing>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    let uscc = uscc(&mut v, "uscc", &req.uscc);
    fields::request_id(&mut v, &req.request_id);
    let list = convert::credit_list(req.list);
    if list.is_none() {
        v.add(
            "list",
            Why::new("must be RED or BLACK", "须选择红名单或黑名单"),
        );
    }
    fields::text(&mut v, "reason", &req.reason, TEXT_MAX_CHARS);
    let expire_time = fields::time(&mut v, "expire_time", req.expire_time.as_ref());
    v.finish()?;
    let (Some(uscc), Some(list)) = (uscc, list) else {
        return Err(Error::internal("validated fields are missing").into());
    };
    let jurisdiction_code = api.home_jurisdiction(&principal, &scope)?;
    let now = api.core.clock.now();
    let mut work = api
        .core
        .store
        .work(&principal.sub, &req.request_id, "PutCreditListing", now)
        .await?;
    let existing = store::listing_on(work.conn(), &uscc, list).await?;
    let id = existing
        .as_ref()
        .map_or_else(|| ids::new_id(&jurisdiction_code), |l| l.id.clone());
    if let Some(first) = work.claim(&id).await? {
        let listing = store::get_listing(work.conn(), &first)
            .await?
            .ok_or_else(|| Error::NotFound(format!("listing {first}")).zh("未找到该名单记录"))?;
        return Ok(Response::new(convert::listing_to_proto(&listing)));
    }
    let (listing, expected) = match existing {
        Some(mut listing) => {
            if !scope.covers_jurisdiction(&listing.jurisdiction_code) {
                return Err(Error::PermissionDenied(format!(
                    "the {list} listing of {uscc} was made by {}, outside your jurisdiction",
                    listing.jurisdiction_code
                ))
                .zh(format!(
                    "{}的{}记录由{}列入，不在您的辖区",
                    enterprise_label(&listing.enterprise_name, &uscc),
                    list.zh(),
                    api.jurisdiction_name(&listing.jurisdiction_code)
                ))
                .into());
            }
            if req.etag != listing.etag() {
                return Err(Error::Aborted(format!(
                    "{uscc} is on the {list} list already (etag {}); send that etag to change the listing",
                    listing.etag()
                ))
                .zh(format!(
                    "{}已列入{}，记录可能已被他人修改，请刷新后重试",
                    enterprise_label(&listing.enterprise_name, &uscc),
                    list.zh()
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
                .zh(format!(
                    "企业 {uscc} 不在{}中，记录可能已被他人修改，请刷新后重试",
                    list.zh()
                ))
                .into());
            }
            let listing = CreditListing {
                id,
                enterprise_name: store::enterprise_name(work.conn(), &uscc).await?,
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
    store::write_listing(work.conn(), &listing, expected).await?;
    work.record(
        &listing.id,
        &listing.jurisdiction_code,
        &pb::CreditListingPut {
            listing: Some(convert::listing_to_proto(&listing)),
        },
    );
    work.commit(&listing.id).await?;
    Ok(Response::new(convert::listing_to_proto(&listing)))
}

pub(super) async fn get_enterprise_credit(
    api: &EvaluationApi,
    request: Request<pb::GetEnterpriseCreditRequest>,
) -> Result<Response<pb::EnterpriseCredit>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    let uscc = uscc(&mut v, "uscc", &req.uscc);
    v.finish()?;
    let Some(uscc) = uscc else {
        return Err(Error::internal("validated uscc is missing").into());
    };
    match &scope {
        Scope::Nothing => {
            return Err(Error::NotFound(format!("credit record of {uscc}"))
                .zh(format!("未找到企业 {uscc} 的信用记录，或您无权查看"))
                .into());
        }
        Scope::Enterprise(_) if enterprise_uscc(&scope)? != uscc => {
            return Err(Error::NotFound(format!("credit record of {uscc}"))
                .zh(format!("未找到企业 {uscc} 的信用记录，或您无权查看"))
                .into());
        }
        _ => {}
    }
    let in_scope = |jurisdiction: &str| match &scope {
        Scope::Jurisdictions(_) => scope.covers_jurisdiction(jurisdiction),
        _ => true,
    };
    let now = api.core.clock.now();
    let mut conn = api.core.store.read().await?;
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
        current_list: credit::current_list(&listings, now).map_or(0, convert::credit_list_to_proto),
        listings: listings.iter().map(convert::listing_to_proto).collect(),
    }))
}
