//! Campaigns (百企评执法, 百企评营商环境) with their answers and results, and
//! third-party assessments.

use super::*;
impl EvaluationApi {
    /// Whether an enterprise may see a campaign: invited by name, or the
    /// campaign invites every enterprise of its jurisdiction and the
    /// enterprise's jurisdiction lies within it.
    pub(super) async fn enterprise_invited(
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

pub(super) async fn create_campaign(
    api: &EvaluationApi,
    request: Request<pb::CreateCampaignRequest>,
) -> Result<Response<pb::Campaign>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let now = api.core.clock.now();
    let mut v = Violations::new();
    fields::request_id(&mut v, &req.request_id);
    let Some(c) = req.campaign else {
        v.add("campaign", Why::new("must be given", "须填写评议活动"));
        v.finish()?;
        return Err(Error::internal("unreachable: a missing campaign was refused").into());
    };
    let jurisdiction_code = match non_empty(&c.jurisdiction_code) {
        Some(code) => v
            .check("campaign.jurisdiction_code", api.known_jurisdiction(&code))
            .unwrap_or_default(),
        None => api.home_jurisdiction(&principal, &scope)?,
    };
    let kind = convert::campaign_kind(c.kind);
    if kind.is_none() {
        v.add(
            "campaign.kind",
            Why::new(
                "must be LAW_ENFORCEMENT, BUSINESS_ENVIRONMENT or OTHER",
                "须选择活动类型：百企评执法、百企评营商环境或其他",
            ),
        );
    }
    fields::text(&mut v, "campaign.title", &c.title, TITLE_MAX_CHARS);
    fields::optional_text(
        &mut v,
        "campaign.description",
        &c.description,
        TEXT_MAX_CHARS,
    );
    let items: Vec<_> = c.items.iter().map(convert::item_from_proto).collect();
    if items.is_empty() {
        v.add(
            "campaign.items",
            Why::new(
                "a campaign needs at least one item",
                "评议活动至少须有一个评议项",
            ),
        );
    } else if items.len() > CAMPAIGN_ITEMS_MAX {
        v.add(
            "campaign.items",
            Why::new(
                format!("at most {CAMPAIGN_ITEMS_MAX} items"),
                format!("最多{CAMPAIGN_ITEMS_MAX}个评议项"),
            ),
        );
    }
    for (i, field, why) in campaign::check_items(&items) {
        v.add(format!("campaign.items[{i}].{field}"), why);
    }
    for (i, item) in items.iter().enumerate() {
        fields::text(
            &mut v,
            &format!("campaign.items[{i}].text"),
            &item.text,
            TEXT_MAX_CHARS,
        );
        if !item.department_id.is_empty() {
            match api.department(&item.department_id) {
                Ok(department_jurisdiction) => {
                    let covered = !jurisdiction_code.is_empty()
                        && api
                            .core
                            .ancestry(&department_jurisdiction)
                            .contains(&jurisdiction_code);
                    if !covered {
                        v.add(
                            format!("campaign.items[{i}].department_id"),
                            Why::new(
                                format!(
                                    "{} is not a department within the campaign's jurisdiction",
                                    item.department_id
                                ),
                                format!("{} 不是本次评议活动所在区划内的部门", item.department_id),
                            ),
                        );
                    }
                }
                Err(why) => v.add(format!("campaign.items[{i}].department_id"), why),
            }
        }
    }
    let start_time =
        fields::time(&mut v, "campaign.start_time", c.start_time.as_ref()).unwrap_or(now);
    match fields::time(&mut v, "campaign.end_time", c.end_time.as_ref()) {
        None if c.end_time.is_none() => v.add(
            "campaign.end_time",
            Why::new("must be given", "须填写结束时间"),
        ),
        Some(end) if end <= start_time => v.add("campaign.end_time", after_start()),
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
            Why::new(
                format!("at most {CAMPAIGN_INVITEES_MAX} enterprises"),
                format!("最多邀请{CAMPAIGN_INVITEES_MAX}家企业"),
            ),
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
        return Err(api.outside(&jurisdiction_code).into());
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
    let mut work = api
        .core
        .store
        .work(&principal.sub, &req.request_id, "CreateCampaign", now)
        .await?;
    if let Some(first) = work.claim(&campaign.id).await? {
        let existing = store::get_campaign(work.conn(), &first)
            .await?
            .ok_or_else(|| Error::NotFound(format!("campaign {first}")).zh("未找到该评议活动"))?;
        return Ok(Response::new(convert::campaign_to_proto(&existing)));
    }
    store::insert_campaign(work.conn(), &campaign).await?;
    work.record(
        &campaign.id,
        &campaign.jurisdiction_code,
        &pb::CampaignCreated {
            campaign: Some(convert::campaign_to_proto(&campaign)),
        },
    );
    work.commit(&campaign.id).await?;
    Ok(Response::new(convert::campaign_to_proto(&campaign)))
}

pub(super) async fn list_campaigns(
    api: &EvaluationApi,
    request: Request<pb::ListCampaignsRequest>,
) -> Result<Response<pb::ListCampaignsResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let limit = ids::page_size(req.page_size)?;
    let mut v = Violations::new();
    let kind = fields::optional_enum(&mut v, "kind", req.kind, convert::campaign_kind);
    v.finish()?;
    let jurisdictions = scope.list_jurisdictions(&api.core.directory, &req.jurisdiction_code)?;
    let invited = match scope {
        Scope::Enterprise(_) => Some((
            enterprise_uscc(&scope)?,
            api.core
                .ancestry(principal.jurisdiction.as_deref().unwrap_or_default()),
        )),
        _ => None,
    };
    let now = api.core.clock.now();
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
    let mut conn = api.core.store.read().await?;
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

pub(super) async fn submit_campaign_response(
    api: &EvaluationApi,
    request: Request<pb::SubmitCampaignResponseRequest>,
) -> Result<Response<pb::CampaignResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    fields::request_id(&mut v, &req.request_id);
    fields::id(&mut v, "campaign_id", &req.campaign_id);
    fields::optional_text(&mut v, "comment", &req.comment, TEXT_MAX_CHARS);
    if req.answers.is_empty() {
        v.add(
            "answers",
            Why::new("must answer at least one item", "须至少回答一个评议项"),
        );
    } else if req.answers.len() > CAMPAIGN_ITEMS_MAX {
        v.add(
            "answers",
            Why::new(
                format!("at most {CAMPAIGN_ITEMS_MAX} answers"),
                format!("最多回答{CAMPAIGN_ITEMS_MAX}个评议项"),
            ),
        );
    }
    let mut answers = Vec::new();
    for (i, a) in req.answers.iter().enumerate().take(CAMPAIGN_ITEMS_MAX) {
        if a.item_key.trim().is_empty() {
            v.add(
                format!("answers[{i}].item_key"),
                Why::new("must name an item of the campaign", "须指明所回答的评议项"),
            );
        }
        fields::optional_text(
            &mut v,
            &format!("answers[{i}].comment"),
            &a.comment,
            TEXT_MAX_CHARS,
        );
        match convert::rating(a.rating) {
            Some(rating) => answers.push(CampaignAnswer {
                item_key: a.item_key.trim().to_owned(),
                rating,
                comment: a.comment.trim().to_owned(),
            }),
            None => v.add(format!("answers[{i}].rating"), five_levels()),
        }
    }
    v.finish()?;
    let own = enterprise_uscc(&scope)?;
    let campaign_id = req.campaign_id.trim().to_owned();
    let now = api.core.clock.now();
    let mut work = api
        .core
        .store
        .work(
            &principal.sub,
            &req.request_id,
            "SubmitCampaignResponse",
            now,
        )
        .await?;
    let not_found = || {
        Error::NotFound(format!("campaign {campaign_id}"))
            .zh("未找到该评议活动，或贵企业不在邀请之列")
    };
    let campaign = store::get_campaign(work.conn(), &campaign_id)
        .await?
        .ok_or_else(not_found)?;
    if !api
        .enterprise_invited(work.conn(), &principal, &campaign, &own)
        .await?
    {
        return Err(not_found().into());
    }
    let id = ids::new_id(&campaign.jurisdiction_code);
    if let Some(first) = work.claim(&id).await? {
        let existing = store::get_response(work.conn(), &first)
            .await?
            .ok_or_else(|| Error::NotFound(format!("response {first}")).zh("未找到该答卷"))?;
        return Ok(Response::new(convert::response_to_proto(&existing)));
    }
    if !campaign.is_open(now) {
        return Err(Error::FailedPrecondition(format!(
            "campaign {campaign_id} accepts responses only from its start_time to its end_time"
        ))
        .zh(format!(
            "评议活动“{}”只在活动开始至结束期间接受答卷",
            campaign.title
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
        enterprise_name: store::enterprise_name(work.conn(), &own).await?,
        uscc: own,
        answers,
        comment: req.comment.trim().to_owned(),
        create_time: now,
    };
    if !store::insert_response(work.conn(), &response).await? {
        return Err(Error::AlreadyExists(format!(
            "your enterprise answered campaign {campaign_id} already; one response per campaign"
        ))
        .zh(format!(
            "贵企业已参加评议活动“{}”，每项活动只能答卷一次",
            campaign.title
        ))
        .into());
    }
    work.record(
        &response.id,
        &campaign.jurisdiction_code,
        &pb::CampaignResponseSubmitted {
            response: Some(convert::response_to_proto(&response)),
            jurisdiction_code: campaign.jurisdiction_code.clone(),
            kind: convert::campaign_kind_to_proto(campaign.kind),
            items: convert::campaign_to_proto(&campaign).items,
        },
    );
    work.commit(&response.id).await?;
    Ok(Response::new(convert::response_to_proto(&response)))
}

pub(super) async fn get_campaign_results(
    api: &EvaluationApi,
    request: Request<pb::GetCampaignResultsRequest>,
) -> Result<Response<pb::CampaignResults>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let mut v = Violations::new();
    fields::id(&mut v, "campaign_id", &req.campaign_id);
    v.finish()?;
    let id = req.campaign_id.trim();
    let scope = api.scope(&principal);
    let mut conn = api.core.store.read().await?;
    let campaign = store::get_campaign(&mut conn, id)
        .await?
        .filter(|c| scope.covers_jurisdiction(&c.jurisdiction_code))
        .ok_or_else(|| Error::NotFound(format!("campaign {id}")).zh("未找到该评议活动"))?;
    let counts = store::answer_counts(&mut conn, &campaign.id).await?;
    let results = campaign::results(&campaign, &counts);
    Ok(Response::new(convert::results_to_proto(
        &campaign, &results,
    )))
}

pub(super) async fn submit_assessment(
    api: &EvaluationApi,
    request: Request<pb::SubmitAssessmentRequest>,
) -> Result<Response<pb::Assessment>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    fields::request_id(&mut v, &req.request_id);
    let jurisdiction_code = if req.jurisdiction_code.trim().is_empty() {
        v.add(
            "jurisdiction_code",
            Why::new("must name the jurisdiction assessed", "须指明被评估的县区"),
        );
        None
    } else {
        v.check(
            "jurisdiction_code",
            api.known_jurisdiction(&req.jurisdiction_code),
        )
    };
    let department_id = req.department_id.trim().to_owned();
    if !department_id.is_empty() {
        match api.department(&department_id) {
            Ok(of) if jurisdiction_code.as_deref().is_none_or(|j| j == of) => {}
            Ok(of) => v.add(
                "department_id",
                Why::new(
                    format!("is a department of {of}, not of jurisdiction_code"),
                    format!("是{}的部门，不属于被评估的县区", api.jurisdiction_name(&of)),
                ),
            ),
            Err(why) => v.add("department_id", why),
        }
    }
    let period = req.period.trim().to_owned();
    v.check("period", period::parse_period(&period));
    if !req.score.is_finite() || !(0.0..=100.0).contains(&req.score) {
        v.add("score", Why::new("must be from 0 to 100", "须在0至100之间"));
    }
    fields::optional_text(&mut v, "summary", &req.summary, TEXT_MAX_CHARS);
    v.finish()?;
    let Some(jurisdiction_code) = jurisdiction_code else {
        return Err(Error::internal("validated jurisdiction is missing").into());
    };
    if !scope.covers_jurisdiction(&jurisdiction_code) {
        return Err(api.outside(&jurisdiction_code).into());
    }
    let now = api.core.clock.now();
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
    let mut work = api
        .core
        .store
        .work(&principal.sub, &req.request_id, "SubmitAssessment", now)
        .await?;
    if let Some(first) = work.claim(&assessment.id).await? {
        let existing = store::get_assessment(work.conn(), &first)
            .await?
            .ok_or_else(|| Error::NotFound(format!("assessment {first}")).zh("未找到该评估"))?;
        return Ok(Response::new(convert::assessment_to_proto(&existing)));
    }
    store::insert_assessment(work.conn(), &assessment).await?;
    work.record(
        &assessment.id,
        &assessment.jurisdiction_code,
        &pb::AssessmentSubmitted {
            assessment: Some(convert::assessment_to_proto(&assessment)),
        },
    );
    work.commit(&assessment.id).await?;
    Ok(Response::new(convert::assessment_to_proto(&assessment)))
}
