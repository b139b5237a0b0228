//! What a published policy delivered to enterprises (兑现) and how they rate
//! its implementation.

use super::*;
pub(super) async fn record_fulfillment(
    api: &PolicyApi,
    request: Request<pb::RecordFulfillmentRequest>,
) -> Result<Response<pb::Fulfillment>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let now = api.now();
    let mut v = Violations::new();
    fields::request_id(&mut v, &req.request_id);
    fields::id(&mut v, "policy_id", &req.policy_id);
    let uscc = v.check("uscc", Uscc::parse(&req.uscc));
    let kind = fields::required_enum(&mut v, "kind", req.kind, convert::fulfillment_kind_from);
    if req.amount_fen < 0 {
        v.add("amount_fen", Problem::Negative);
    } else if kind == Some(FulfillmentKind::NonMonetary) && req.amount_fen != 0 {
        v.add(
            "amount_fen",
            Why::new(
                "must be 0 for support without money",
                "非资金类支持的金额应为0",
            ),
        );
    }
    text(&mut v, "note", &req.note, MAX_MESSAGE, false);
    fields::optional_id(&mut v, "department_id", &req.department_id);
    let fulfill_time = match &req.fulfill_time {
        Some(t) => fields::time(&mut v, "fulfill_time", Some(t)),
        None => Some(now),
    };
    if let Some(t) = fulfill_time
        && t > now.saturating_add(86_400_000_000)
    {
        v.add(
            "fulfill_time",
            Why::new("must not be in the future", "兑现时间不能晚于当前时间"),
        );
    }
    v.finish()?;
    let (Some(uscc), Some(kind), Some(fulfill_time)) = (uscc, kind, fulfill_time) else {
        return Err(Error::internal("validated fields missing").into());
    };
    let department_id =
        access::acting_department(&principal, &api.scope(&principal), &req.department_id)?
            .unwrap_or_default();
    let mut work = api
        .work(&principal, &req.request_id, "RecordFulfillment", now)
        .await?;
    if let Some(subject) = work.recall().await? {
        let fulfillment = store::select_fulfillment(work.conn(), &subject)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("fulfilment {subject}")).zh("未找到该兑现记录")
            })?;
        return Ok(Response::new(convert::fulfillment_to_proto(&fulfillment)));
    }
    let versions = api
        .versions(work.conn(), &scope, "policy_id", &req.policy_id)
        .await?;
    let policy = in_force(
        &versions,
        &req.policy_id,
        "fulfilment is recorded under a PUBLISHED policy",
        "只能对已发布的政策登记兑现",
    )?;
    // The paying jurisdiction: the caller's own where the policy applies,
    // else the issuing one, which the caller must cover.
    let area = api.core.area(policy);
    let jurisdiction_code = match principal.jurisdiction.as_deref() {
        Some(own) if area.iter().any(|c| c == own) && scope.covers_jurisdiction(own) => {
            own.to_owned()
        }
        _ if scope.covers_jurisdiction(&policy.jurisdiction_code) => {
            policy.jurisdiction_code.clone()
        }
        _ => {
            return Err(Error::PermissionDenied(format!(
                "policy {} does not apply in your jurisdiction",
                policy.id
            ))
            .zh(format!("{}不适用于您所辖地区", policy.named()))
            .into());
        }
    };
    let name = store::select_enterprise(work.conn(), uscc.as_str())
        .await?
        .map(|e| e.name)
        .unwrap_or_default();
    let fulfillment = Fulfillment {
        id: ids::new_id(&jurisdiction_code),
        policy_id: policy.id.clone(),
        policy_version: policy.version,
        uscc: uscc.as_str().to_owned(),
        enterprise_name: name,
        jurisdiction_code,
        department_id,
        kind,
        amount_fen: req.amount_fen,
        note: req.note.clone(),
        fulfill_time,
        recorded_by: principal.sub.clone(),
        create_time: now,
    };
    store::insert_fulfillment(work.conn(), &fulfillment).await?;
    let proto = convert::fulfillment_to_proto(&fulfillment);
    let event = NewEvent::new(
        &fulfillment.id,
        &fulfillment.jurisdiction_code,
        &pb::FulfillmentRecorded {
            fulfillment: Some(proto.clone()),
        },
    );
    api.finish_keyed(work, &fulfillment.id, vec![event]).await?;
    Ok(Response::new(proto))
}

pub(super) async fn list_fulfillments(
    api: &PolicyApi,
    request: Request<pb::ListFulfillmentsRequest>,
) -> Result<Response<pb::ListFulfillmentsResponse>, Status> {
    let principal = access::principal(&request)?.clone();
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    let limit = v.check("page_size", ids::page_size(req.page_size));
    fields::id(&mut v, "policy_id", &req.policy_id);
    fields::optional_id(&mut v, "uscc", &req.uscc);
    let jurisdiction = if req.jurisdiction_code.is_empty() {
        None
    } else {
        v.check(
            "jurisdiction_code",
            api.core.directory.parse_known(&req.jurisdiction_code),
        )
    };
    let filters = format!("{}|{}|{}", req.policy_id, req.uscc, req.jurisdiction_code);
    let after = v.check("page_token", PageToken::decode(&req.page_token, &filters));
    v.finish()?;
    let limit = limit.unwrap_or(ids::DEFAULT_PAGE_SIZE);
    let mut conn = api.conn().await?;
    let mut filter = Filter::new();
    if req.policy_id != "-" {
        api.versions(&mut conn, &scope, "policy_id", &req.policy_id)
            .await?;
        filter.eq("policy_id", req.policy_id.clone().into());
    }
    if !req.uscc.is_empty() {
        filter.eq("uscc", req.uscc.clone().into());
    }
    if let Some(code) = &jurisdiction {
        filter.within("jurisdiction_code", Some(&api.core.below(code.as_str())));
    }
    let items = store::list_fulfillments(&mut conn, filter, after.flatten(), limit).await?;
    let (items, next_page_token) = ids::paginate(items, limit, &filters, |f| PageToken {
        sort_key: f.create_time,
        id: f.id.clone(),
    });
    Ok(Response::new(pb::ListFulfillmentsResponse {
        fulfillments: items.iter().map(convert::fulfillment_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn rate_policy(
    api: &PolicyApi,
    request: Request<pb::RatePolicyRequest>,
) -> Result<Response<pb::PolicyRating>, Status> {
    let principal = access::principal(&request)?.clone();
    let uscc = own_uscc(&principal)?;
    let req = request.into_inner();
    let scope = api.scope(&principal);
    let mut v = Violations::new();
    fields::request_id(&mut v, &req.request_id);
    fields::id(&mut v, "policy_id", &req.policy_id);
    let rating =
        fields::required_enum(&mut v, "rating", req.rating, zhengqi_shared::rating::rating);
    text(&mut v, "comment", &req.comment, MAX_MESSAGE, false);
    v.finish()?;
    let rating = rating.ok_or_else(|| Error::internal("validated rating missing"))?;
    let now = api.now();
    let mut work = api
        .work(&principal, &req.request_id, "RatePolicy", now)
        .await?;
    if let Some(subject) = work.recall().await? {
        let rating = store::select_rating_by_id(work.conn(), &subject)
            .await?
            .ok_or_else(|| Error::NotFound(format!("rating {subject}")).zh("未找到该评价"))?;
        return Ok(Response::new(convert::rating_to_proto(&rating)));
    }
    let versions = api
        .versions(work.conn(), &scope, "policy_id", &req.policy_id)
        .await?;
    let policy = in_force(
        &versions,
        &req.policy_id,
        "only a PUBLISHED policy is reviewed",
        "只能评价已发布的政策",
    )?;
    let name = enterprise_name(work.conn(), &uscc, &principal).await?;
    let existing = store::select_rating(work.conn(), &policy.id, policy.version, &uscc).await?;
    let replace = existing.is_some();
    let record = match existing {
        Some(earlier) => PolicyRating {
            rating,
            comment: req.comment.clone(),
            update_time: now,
            enterprise_name: name,
            ..earlier
        },
        None => PolicyRating {
            id: ids::new_id(&policy.jurisdiction_code),
            policy_id: policy.id.clone(),
            policy_version: policy.version,
            uscc,
            enterprise_name: name,
            jurisdiction_code: policy.jurisdiction_code.clone(),
            rating,
            comment: req.comment.clone(),
            create_time: now,
            update_time: now,
        },
    };
    store::put_rating(work.conn(), &record, replace).await?;
    let proto = convert::rating_to_proto(&record);
    let event = NewEvent::new(
        &record.policy_id,
        &record.jurisdiction_code,
        &pb::PolicyRated {
            rating: Some(proto.clone()),
        },
    );
    api.finish_keyed(work, &record.id, vec![event]).await?;
    Ok(Response::new(proto))
}
