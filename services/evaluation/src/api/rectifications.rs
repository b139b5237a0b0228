//! Rectifications of bad reviews (差评整改): verified, rectified, visited again.

use super::*;
impl EvaluationApi {
    /// One step of a rectification by `principal`: scope, department, etag,
    /// idempotency, state, then the change and its `event` in one transaction.
    pub(super) async fn rectification_step<E: zhengqi_proto::events::Logged>(
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
        let method = match step {
            Step::Verify { .. } => "VerifyBadReview",
            Step::Rectify { .. } => "SubmitRectification",
            Step::ReturnVisit { .. } => "RecordReturnVisit",
        };
        let actor = principal.sub.clone();
        let mut work = self
            .core
            .store
            .work(&actor, request_id, method, now)
            .await?;
        let mut r = store::get_rectification(work.conn(), id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("rectification {id}")).zh("未找到该差评整改"))?;
        if !scope.covers_jurisdiction(&r.jurisdiction_code) {
            return Err(Error::PermissionDenied(format!(
                "rectification {id} is outside your jurisdiction"
            ))
            .zh("该差评整改不在您的辖区"));
        }
        let coordinator = principal.has_role(Role::Coordinator);
        if let Step::Rectify { .. } = step
            && !coordinator
            && principal.department.as_deref() != Some(r.department_id.as_str())
        {
            return Err(Error::PermissionDenied(format!(
                "only department {} or a coordinator records its rectification",
                r.department_id
            ))
            .zh(format!(
                "只有被评价部门 {} 或营商办协调员可以填报整改情况",
                r.department_id
            )));
        }
        if work.claim(id).await?.is_some() {
            return Ok(r);
        }
        if !etag.is_empty() && etag != r.etag() {
            return Err(Error::Aborted(format!(
                "rectification {id} changed since it was read (etag {etag} is now {}); read it again",
                r.etag()
            ))
            .zh("该差评整改已被他人修改，请刷新后重试"));
        }
        let expected = r.version;
        rectification::apply(&mut r, step, &actor, now)
            .map_err(|why| Error::FailedPrecondition(why.en).zh(why.zh))?;
        store::update_rectification(work.conn(), &r, expected).await?;
        work.record(
            &r.id,
            &r.jurisdiction_code,
            &event(Some(convert::rectification_to_proto(&r, false))),
        );
        work.commit(&r.id).await?;
        if r.case_reopen == Some(CaseReopen::Pending) {
            self.core.reopen_wake.notify_one();
        }
        Ok(r)
    }
}

pub(super) async fn verify_bad_review(
    api: &EvaluationApi,
    request: Request<pb::VerifyBadReviewRequest>,
) -> Result<Response<pb::Rectification>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let mut v = Violations::new();
    fields::id(&mut v, "id", &req.id);
    fields::request_id(&mut v, &req.request_id);
    fields::optional_text(&mut v, "note", &req.note, TEXT_MAX_CHARS);
    v.finish()?;
    let step = Step::Verify {
        valid: req.valid,
        note: req.note.trim().to_owned(),
    };
    let r = api
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
        protects_reviewers(&principal, &api.scope(&principal)),
    )))
}

pub(super) async fn submit_rectification(
    api: &EvaluationApi,
    request: Request<pb::SubmitRectificationRequest>,
) -> Result<Response<pb::Rectification>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let mut v = Violations::new();
    fields::id(&mut v, "id", &req.id);
    fields::request_id(&mut v, &req.request_id);
    fields::text(&mut v, "text", &req.text, TEXT_MAX_CHARS);
    v.finish()?;
    let step = Step::Rectify {
        text: req.text.trim().to_owned(),
    };
    let r = api
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
        protects_reviewers(&principal, &api.scope(&principal)),
    )))
}

pub(super) async fn record_return_visit(
    api: &EvaluationApi,
    request: Request<pb::RecordReturnVisitRequest>,
) -> Result<Response<pb::Rectification>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let mut v = Violations::new();
    fields::id(&mut v, "id", &req.id);
    fields::request_id(&mut v, &req.request_id);
    fields::optional_text(&mut v, "note", &req.note, TEXT_MAX_CHARS);
    v.finish()?;
    let step = Step::ReturnVisit {
        satisfied: req.satisfied,
        note: req.note.trim().to_owned(),
    };
    let r = api
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
        protects_reviewers(&principal, &api.scope(&principal)),
    )))
}

pub(super) async fn list_rectifications(
    api: &EvaluationApi,
    request: Request<pb::ListRectificationsRequest>,
) -> Result<Response<pb::ListRectificationsResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let limit = ids::page_size(req.page_size)?;
    let mut v = Violations::new();
    let state = fields::optional_enum(&mut v, "state", req.state, convert::rectification_state);
    v.finish()?;
    let jurisdictions = scope.list_jurisdictions(&api.core.directory, &req.jurisdiction_code)?;
    let uscc = match scope {
        Scope::Enterprise(_) => Some(enterprise_uscc(&scope)?),
        _ => None,
    };
    let protect = protects_reviewers(&principal, &scope);
    let now = api.core.clock.now();
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
    let mut conn = api.core.store.read().await?;
    let rows = store::list_rectifications(&mut conn, &filter, after, limit).await?;
    let (page, next_page_token) = ids::paginate(rows, limit, &fingerprint, |(due, r)| PageToken {
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
