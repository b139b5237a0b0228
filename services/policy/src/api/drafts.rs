//! Policies from draft to repeal: drafting and editing, the consultation
//! (征求意见), publication, amendment and repeal, and reading them.

use super::*;

/// The fields of a draft an update may name.
pub(super) const UPDATABLE: &[&str] = &[
    "kind",
    "title",
    "document_number",
    "department_id",
    "summary",
    "articles",
    "applicability",
    "effective_time",
    "expire_time",
    "closely_concerns_enterprises",
];

pub(super) fn apply_path(target: &mut pb::Policy, source: &pb::Policy, path: &str) {
    match path {
        "kind" => target.kind = source.kind,
        "title" => target.title = source.title.clone(),
        "document_number" => target.document_number = source.document_number.clone(),
        "department_id" => target.department_id = source.department_id.clone(),
        "summary" => target.summary = source.summary.clone(),
        "articles" => target.articles = source.articles.clone(),
        "applicability" => target.applicability = source.applicability.clone(),
        "effective_time" => target.effective_time = source.effective_time,
        "expire_time" => target.expire_time = source.expire_time,
        "closely_concerns_enterprises" => {
            target.closely_concerns_enterprises = source.closely_concerns_enterprises
        }
        _ => {}
    }
}

pub(super) async fn create_policy(
    api: &PolicyApi,
    request: Request<pb::CreatePolicyRequest>,
) -> Result<Response<pb::Policy>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    fields::request_id(&mut v, &req.request_id);
    let Some(input) = req.policy.as_ref() else {
        v.add("policy", Problem::Missing);
        return Err(v.finish().unwrap_err().into());
    };
    let draft = convert::draft_from_proto(input, "policy.", &mut v);
    let issuing = if input.jurisdiction_code.is_empty() {
        principal.jurisdiction.clone().unwrap_or_default()
    } else {
        input.jurisdiction_code.clone()
    };
    if let Err(e) = api.core.directory.parse_known(&issuing) {
        v.add("policy.jurisdiction_code", e);
    }
    let now = api.now();
    let Some(mut draft) = draft else {
        return Err(v.finish().unwrap_err().into());
    };
    // A handler drafts for its own department, an office for one of its
    // jurisdictions' departments.
    draft.department_id =
        access::acting_department(&principal, &scope, &draft.department_id)?.unwrap_or_default();
    let policy = Policy::new_draft(
        ids::new_id(&issuing),
        1,
        issuing.clone(),
        draft,
        String::new(),
        principal.sub.clone(),
        now,
    );
    api.check_area(&issuing, &policy, &mut v);
    v.finish()?;
    if !scope.covers_jurisdiction(&issuing) {
        return Err(Error::PermissionDenied(format!(
            "jurisdiction {issuing} is outside your jurisdiction"
        ))
        .zh(format!("{}不在您的管辖范围内", api.place(&issuing)))
        .into());
    }
    check_department(&principal, &policy.draft.department_id)?;
    let mut work = api
        .work(&principal, &req.request_id, "CreatePolicy", now)
        .await?;
    if let Some(subject) = work.recall().await? {
        drop(work);
        return Ok(Response::new(api.replay_policy(&subject).await?));
    }
    let area = api.core.area(&policy);
    store::write_policy(work.conn(), &policy, &area, None).await?;
    api.finish_policy(work, &policy, |policy| pb::PolicyCreated { policy })
        .await
}

pub(super) async fn update_policy(
    api: &PolicyApi,
    request: Request<pb::UpdatePolicyRequest>,
) -> Result<Response<pb::Policy>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    fields::request_id(&mut v, &req.request_id);
    let Some(input) = req.policy.as_ref() else {
        v.add("policy", Problem::Missing);
        return Err(v.finish().unwrap_err().into());
    };
    fields::id(&mut v, "policy.id", &input.id);
    let mut paths = Vec::new();
    for (i, path) in req
        .update_mask
        .as_ref()
        .map(|m| m.paths.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let name = path.strip_prefix("policy.").unwrap_or(path);
        if UPDATABLE.contains(&name) {
            paths.push(name.to_owned());
        } else {
            v.add(
                format!("update_mask.paths[{i}]"),
                Why::new(
                    format!(
                        "{path:?} is not a field a draft may change; use one of {}",
                        UPDATABLE.join(", ")
                    ),
                    format!(
                        "“{path}”不是草案可修改的字段，可修改的字段为：{}",
                        UPDATABLE.join("、")
                    ),
                ),
            );
        }
    }
    v.finish()?;
    if paths.is_empty() {
        paths = UPDATABLE.iter().map(|p| (*p).to_owned()).collect();
    }
    let now = api.now();
    let mut work = api
        .work(&principal, &req.request_id, "UpdatePolicy", now)
        .await?;
    if let Some(subject) = work.recall().await? {
        drop(work);
        return Ok(Response::new(api.replay_policy(&subject).await?));
    }
    let mut policy = api
        .latest_for_write(work.conn(), &scope, "policy.id", &input.id)
        .await?;
    api.check_write(&principal, &scope, &policy)?;
    rules::check_update(&policy)?;
    check_etag(
        &req.etag,
        &policy.etag(),
        &format!("policy {}", policy.id),
        &policy.named(),
    )?;
    let mut merged = convert::policy_to_proto(&policy);
    merged.effective_time = policy
        .draft
        .effective_time
        .map(zhengqi_shared::storage::timestamp);
    for path in &paths {
        apply_path(&mut merged, input, path);
    }
    let mut v = Violations::new();
    let draft = convert::draft_from_proto(&merged, "policy.", &mut v);
    if let Some(draft) = draft {
        policy.draft = draft;
    }
    let issuing = policy.jurisdiction_code.clone();
    api.check_area(&issuing, &policy, &mut v);
    v.finish()?;
    check_department(&principal, &policy.draft.department_id)?;
    api.save(work.conn(), &mut policy, now).await?;
    api.finish_policy(work, &policy, |policy| pb::PolicyUpdated { policy })
        .await
}

pub(super) async fn open_consultation(
    api: &PolicyApi,
    request: Request<pb::OpenConsultationRequest>,
) -> Result<Response<pb::Policy>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    fields::id(&mut v, "id", &req.id);
    fields::request_id(&mut v, &req.request_id);
    let close_time = match &req.close_time {
        Some(t) => fields::time(&mut v, "close_time", Some(t)),
        None => {
            v.add("close_time", Problem::Missing);
            None
        }
    };
    v.finish()?;
    let close_time = close_time.unwrap_or_default();
    let now = api.now();
    let mut work = api
        .work(&principal, &req.request_id, "OpenConsultation", now)
        .await?;
    if let Some(subject) = work.recall().await? {
        drop(work);
        return Ok(Response::new(api.replay_policy(&subject).await?));
    }
    let mut policy = api
        .latest_for_write(work.conn(), &scope, "id", &req.id)
        .await?;
    api.check_write(&principal, &scope, &policy)?;
    check_etag(
        &req.etag,
        &policy.etag(),
        &format!("policy {}", policy.id),
        &policy.named(),
    )?;
    rules::open_consultation(&mut policy, close_time, now, &api.core.calendar.current())?;
    api.save(work.conn(), &mut policy, now).await?;
    api.finish_policy(work, &policy, |policy| pb::ConsultationOpened { policy })
        .await
}

pub(super) async fn publish_policy(
    api: &PolicyApi,
    request: Request<pb::PublishPolicyRequest>,
) -> Result<Response<pb::Policy>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    fields::id(&mut v, "id", &req.id);
    fields::request_id(&mut v, &req.request_id);
    v.finish()?;
    let now = api.now();
    let mut work = api
        .work(&principal, &req.request_id, "PublishPolicy", now)
        .await?;
    if let Some(subject) = work.recall().await? {
        drop(work);
        return Ok(Response::new(api.replay_policy(&subject).await?));
    }
    let mut versions = api.versions(work.conn(), &scope, "id", &req.id).await?;
    let mut policy = versions.pop().ok_or_else(|| not_found(&req.id))?;
    api.check_write(&principal, &scope, &policy)?;
    check_etag(
        &req.etag,
        &policy.etag(),
        &format!("policy {}", policy.id),
        &policy.named(),
    )?;
    rules::publish(&mut policy, now)?;
    let mut events = Vec::new();
    let mut superseded_version = 0;
    for earlier in versions
        .iter_mut()
        .filter(|p| p.state == PolicyState::Published)
    {
        earlier.state = PolicyState::Superseded;
        superseded_version = earlier.version;
        api.save(work.conn(), earlier, now).await?;
    }
    api.save(work.conn(), &mut policy, now).await?;
    let proto = convert::policy_to_proto(&policy);
    events.push(policy_event(
        &policy,
        &pb::PolicyPublished {
            policy: Some(proto.clone()),
            superseded_version,
        },
    ));
    events.extend(api.core.push_policy(work.conn(), &policy, now).await?);
    api.finish_keyed(work, &subject_of(&policy), events).await?;
    Ok(Response::new(proto))
}

pub(super) async fn amend_policy(
    api: &PolicyApi,
    request: Request<pb::AmendPolicyRequest>,
) -> Result<Response<pb::Policy>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    fields::id(&mut v, "id", &req.id);
    fields::request_id(&mut v, &req.request_id);
    text(&mut v, "reason", &req.reason, MAX_MESSAGE, true);
    v.finish()?;
    let now = api.now();
    let mut work = api
        .work(&principal, &req.request_id, "AmendPolicy", now)
        .await?;
    if let Some(subject) = work.recall().await? {
        drop(work);
        return Ok(Response::new(api.replay_policy(&subject).await?));
    }
    let published = api
        .latest_for_write(work.conn(), &scope, "id", &req.id)
        .await?;
    api.check_write(&principal, &scope, &published)?;
    if matches!(
        published.state,
        PolicyState::Draft | PolicyState::Consultation
    ) && published.version > 1
    {
        return Err(Error::FailedPrecondition(format!(
            "an amendment of policy {} (version {}) is already in progress",
            published.id, published.version
        ))
        .zh(format!(
            "{}正在修订中（第{}版），请办结后再发起修订",
            published.named(),
            published.version
        ))
        .into());
    }
    check_etag(
        &req.etag,
        &published.etag(),
        &format!("policy {}", published.id),
        &published.named(),
    )?;
    let amendment = rules::amend(&published, req.reason.trim(), &principal.sub, now)?;
    let area = api.core.area(&amendment);
    store::write_policy(work.conn(), &amendment, &area, None).await?;
    api.finish_policy(work, &amendment, |policy| pb::PolicyAmended { policy })
        .await
}

pub(super) async fn repeal_policy(
    api: &PolicyApi,
    request: Request<pb::RepealPolicyRequest>,
) -> Result<Response<pb::Policy>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    fields::id(&mut v, "id", &req.id);
    fields::request_id(&mut v, &req.request_id);
    text(&mut v, "reason", &req.reason, MAX_MESSAGE, true);
    v.finish()?;
    let now = api.now();
    let mut work = api
        .work(&principal, &req.request_id, "RepealPolicy", now)
        .await?;
    if let Some(subject) = work.recall().await? {
        drop(work);
        return Ok(Response::new(api.replay_policy(&subject).await?));
    }
    let mut versions = api.versions(work.conn(), &scope, "id", &req.id).await?;
    let latest = versions.last().cloned().ok_or_else(|| not_found(&req.id))?;
    api.check_write(&principal, &scope, &latest)?;
    let Some(index) = versions
        .iter()
        .rposition(|p| p.state == PolicyState::Published)
    else {
        return Err(Error::FailedPrecondition(format!(
            "policy {} is {}; only a PUBLISHED policy can be repealed",
            latest.id, latest.state
        ))
        .zh(format!(
            "{}当前状态为“{}”，只有已发布的政策可以废止",
            latest.named(),
            latest.state.zh()
        ))
        .into());
    };
    let mut policy = versions[index].clone();
    check_etag(
        &req.etag,
        &policy.etag(),
        &format!("policy {}", policy.id),
        &policy.named(),
    )?;
    let reason = req.reason.trim();
    rules::repeal(&mut policy, reason, now)?;
    api.save(work.conn(), &mut policy, now).await?;
    // An amendment in progress ends with the policy it amends.
    for pending in versions.iter_mut().skip(index + 1) {
        pending.state = PolicyState::Repealed;
        pending.repeal_time = Some(now);
        pending.repeal_reason = reason.to_owned();
        api.save(work.conn(), pending, now).await?;
    }
    api.finish_policy(work, &policy, |policy| pb::PolicyRepealed { policy })
        .await
}

pub(super) async fn get_policy(
    api: &PolicyApi,
    request: Request<pb::GetPolicyRequest>,
) -> Result<Response<pb::Policy>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    if req.version < 0 {
        return Err(Error::invalid("version", Problem::Negative).into());
    }
    let mut conn = api.conn().await?;
    let versions = api.versions(&mut conn, &scope, "id", &req.id).await?;
    let found = if req.version == 0 {
        versions.iter().rev().find(|p| api.can_read(&scope, p))
    } else {
        versions
            .iter()
            .find(|p| p.version == req.version && api.can_read(&scope, p))
    };
    let policy = found.ok_or_else(|| {
        Error::NotFound(format!("policy {} version {}", req.id, req.version))
            .zh(format!("未找到该政策的第{}版，或您无权查看", req.version))
    })?;
    Ok(Response::new(convert::policy_to_proto(policy)))
}

pub(super) async fn list_policies(
    api: &PolicyApi,
    request: Request<pb::ListPoliciesRequest>,
) -> Result<Response<pb::ListPoliciesResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    let limit = v.check("page_size", ids::page_size(req.page_size));
    let jurisdiction = if req.jurisdiction_code.is_empty() {
        None
    } else {
        v.check(
            "jurisdiction_code",
            api.core.directory.parse_known(&req.jurisdiction_code),
        )
    };
    text(&mut v, "industry", &req.industry, convert::MAX_NAME, false);
    let tag = fields::optional_enum(&mut v, "tag", req.tag, convert::tag_name);
    let kind = fields::optional_enum(&mut v, "kind", req.kind, convert::kind_from);
    let state = fields::optional_enum(&mut v, "state", req.state, convert::state_from);
    let filters = format!(
        "{}|{}|{:?}|{:?}|{:?}",
        req.jurisdiction_code, req.industry, tag, kind, state
    );
    let after = v.check("page_token", PageToken::decode(&req.page_token, &filters));
    v.finish()?;
    let limit = limit.unwrap_or(ids::DEFAULT_PAGE_SIZE);
    let mut filter = Filter::new();
    match &scope {
        Scope::Everything => {}
        Scope::Jurisdictions(codes) => public_or_within(
            &mut filter,
            "p.state <> 'DRAFT'",
            "p.jurisdiction_code",
            codes,
        ),
        Scope::Enterprise(_) | Scope::Nothing => {
            filter.and(|_| "p.state <> 'DRAFT'".to_owned());
        }
    }
    match state {
        Some(state) => filter.eq("p.state", state.as_str().into()),
        None if principal.has_role(Role::Enterprise) && !principal.has_any(access::GOVERNMENT) => {
            filter.eq("p.state", PolicyState::Published.as_str().into())
        }
        None => filter.and(|_| "p.state <> 'SUPERSEDED'".to_owned()),
    }
    if let Some(code) = &jurisdiction {
        let pattern = store::like_bar(code.as_str());
        filter.and(|p| format!("p.area LIKE {} ESCAPE '\\'", p(SqlValue::Text(pattern))));
    }
    if !req.industry.trim().is_empty() {
        let pattern = store::like_bar(req.industry.trim());
        filter.and(|p| {
            format!(
                "(p.industries = '' OR p.industries LIKE {} ESCAPE '\\')",
                p(SqlValue::Text(pattern))
            )
        });
    }
    if let Some(tag) = &tag {
        let pattern = store::like_bar(tag);
        filter.and(|p| {
            format!(
                "(p.tags = '' OR p.tags LIKE {} ESCAPE '\\')",
                p(SqlValue::Text(pattern))
            )
        });
    }
    if let Some(kind) = kind {
        filter.eq("p.kind", kind.as_str().into());
    }
    let mut conn = api.conn().await?;
    let rows = store::list_policies(&mut conn, filter, after.flatten(), limit).await?;
    let (rows, next_page_token) = ids::paginate(rows, limit, &filters, |r| PageToken {
        sort_key: r.policy.create_time,
        id: r.row_id.clone(),
    });
    Ok(Response::new(pb::ListPoliciesResponse {
        policies: rows
            .iter()
            .map(|r| convert::policy_to_proto(&r.policy))
            .collect(),
        next_page_token,
    }))
}
